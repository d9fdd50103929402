"""Ctrl-C once, however many times the signal comes."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

REPEATED_WITHIN_SECONDS = 0.5
"""A SIGINT this soon after the one that interrupted is the same one sent
again: ``timeout -s INT`` signals the command and then its process group,
which holds the command too."""


class Interrupt(KeyboardInterrupt):
    """Ctrl-C, as ``one_interrupt_per_press`` raises it."""


class RaisedByModel(Exception):
    """A ``KeyboardInterrupt`` a model raised itself, where no Ctrl-C came."""


class _Signals:
    watching = 0


def by_signal(error: KeyboardInterrupt) -> bool:
    """Whether ``error`` may have come from Ctrl-C: one our handler raised,
    or any while no handler of ours was there to tell, unless SIGINT is
    ignored (a model's own ``raise KeyboardInterrupt`` is no interrupt)."""
    if isinstance(error, Interrupt):
        return True
    return not _Signals.watching and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN


@contextlib.contextmanager
def one_interrupt_per_press(interruptible: bool = True) -> Iterator[None]:
    """Within it, SIGINT raises ``KeyboardInterrupt`` as Python's own
    handler does, but one that comes within ``REPEATED_WITHIN_SECONDS`` of
    the last that did is dropped: a search ending on Ctrl-C (which waits
    for its workers' level, and gathers its figures) is not ended before
    it reports by the same interrupt delivered twice.  A later Ctrl-C ends
    it.  Nothing changes where SIGINT is not Python's own handler (a
    process started with it ignored), off the main thread, or when not
    ``interruptible``."""
    if (
        not interruptible
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    last: list[float] = []

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if last and now - last[0] < REPEATED_WITHIN_SECONDS:
            return
        last[:] = [now]
        raise Interrupt

    signal.signal(signal.SIGINT, interrupt)
    _Signals.watching += 1
    try:
        yield
    finally:
        _Signals.watching -= 1
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def telling_models_apart(interruptible: bool = True) -> Iterator[None]:
    """``one_interrupt_per_press``, where a ``KeyboardInterrupt`` no Ctrl-C
    raised (a model's own) becomes ``RaisedByModel``, with its traceback,
    so that it is reported as the model's error and not as an interrupt."""
    with one_interrupt_per_press(interruptible):
        try:
            yield
        except KeyboardInterrupt as error:
            if by_signal(error):
                raise
            raise RaisedByModel("KeyboardInterrupt raised by the model").with_traceback(
                error.__traceback__
            ) from None
