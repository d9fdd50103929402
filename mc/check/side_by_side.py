"""Independent checks run side by side, each in a process forked from this
one: the children share the model files loaded here (their properties are
closures, which cannot be pickled), get only an index, and send back their
results pickled, in the order asked.  ``meanwhile`` runs one such piece of
work while this process goes on with its own."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_work: Callable[[int], Any] | None = None
"""The work of the pool being run, inherited by the forked children."""


class ChildDied(RuntimeError):
    """A child process ended without an answer (killed, say, by the
    kernel's out-of-memory killer)."""


def each(
    count: int,
    work: Callable[[int], T],
    processes: int = 1,
    done: Callable[[int, T], None] | None = None,
) -> list[T]:
    """``work(0)`` ... ``work(count - 1)``, in that order, over at most
    ``processes`` forked processes (in this one when 1); ``done(index,
    result)`` is told of each result as it arrives (in any order over
    processes).  An exception a child raises is raised here; Ctrl-C kills
    the children (SIGTERM is theirs to catch, as the search does, and a
    child that caught it would keep the exit waiting for it)."""
    if processes <= 1 or count <= 1:
        results = []
        for index in range(count):
            results.append(work(index))
            if done is not None:
                done(index, results[-1])
        return results
    global _work
    _work = work
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        min(processes, count),
        mp_context=multiprocessing.get_context("fork"),
        initializer=_leave_ctrl_c_to_the_parent,
    )
    try:
        futures: list[Future[T]] = [pool.submit(_run, index) for index in range(count)]
        position = {future: index for index, future in enumerate(futures)}
        for future in as_completed(futures):
            if done is not None:
                done(position[future], future.result())
        return [future.result() for future in futures]
    except BrokenProcessPool as error:
        raise ChildDied(
            f"a process checking side by side ended without an answer ({error})"
        ) from None
    except BaseException:
        started = {*getattr(pool, "_processes", {}).values(), *multiprocessing.active_children()}
        for process in started - before:
            process.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _work = None


class Meanwhile(Generic[T]):
    """Work running in a process forked from this one (``meanwhile``)."""

    def __init__(self, process: BaseProcess, answers: Connection) -> None:
        self._process = process
        self._answers = answers

    def result(self) -> T:
        """Wait for the work's answer: what it returned, or the exception
        it raised, raised here (``ChildDied`` when it ended without one)."""
        try:
            kind, value = self._answers.recv()
        except EOFError:
            self._process.join()
            raise ChildDied("the process working meanwhile ended without an answer") from None
        except BaseException:
            self.cancel()
            raise
        self._process.join()
        if kind == RAISED:
            raise value
        return value  # type: ignore[no-any-return]

    @property
    def running(self) -> bool:
        """Whether the work's process is still running."""
        return self._process.is_alive()

    def cancel(self) -> None:
        """End the work, done or not."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()


RAISED = "raised"


def meanwhile(work: Callable[[], T]) -> Meanwhile[T]:
    """``work()`` in a process forked now, while this one goes on; Ctrl-C is
    this process's to handle (it cancels the work)."""
    sys.stdout.flush()
    sys.stderr.flush()
    context = multiprocessing.get_context("fork")
    answers, sending = context.Pipe(duplex=False)
    process = context.Process(target=_answer, args=(work, sending), daemon=True)
    process.start()
    sending.close()
    return Meanwhile(process, answers)


def _answer(work: Callable[[], Any], sending: Connection) -> None:
    _leave_ctrl_c_to_the_parent()
    try:
        answer = ("returned", work())
    except BaseException as error:  # sent to the parent, which raises it
        answer = (RAISED, error)
    sending.send(answer)


def _run(index: int) -> Any:
    assert _work is not None
    return _work(index)


PR_SET_PDEATHSIG = 1
"""prctl(2): the signal a process gets when its parent ends."""


def _leave_ctrl_c_to_the_parent() -> None:
    """Ctrl-C is the parent's to handle; a child the parent could not end
    (one forked as the interrupt came) ends with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
