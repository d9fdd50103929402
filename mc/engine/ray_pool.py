"""The partitioned breadth-first search of ``mc.engine.parallel`` on a Ray
cluster (https://docs.ray.io): each worker is a Ray actor that builds the
model itself from a picklable ``factory`` (closures over a model need not
travel), and states are partitioned by a fingerprint every process computes
alike (``stable_fingerprint``).  Ray is optional: ``pip install ray``."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

from mc.engine import reaper
from mc.engine.model import Model
from mc.engine.parallel import (
    Explain,
    WorkerFailed,
    _as_it_is,
    _Worker,
    answer,
    failure,
    raise_failed,
    silent_obituary,
    stable_fingerprint,
)

_REAPER: dict[str, Any] = {}
"""The reaper of the local Ray instance's processes (``mc.engine.reaper``),
kept for as long as the command runs: its end closes the reaper's pipe."""


class RayUnavailable(ValueError):
    """Ray is not installed, or no cluster answers at the address given."""


CONNECT_SECONDS = 5.0
"""How long a cluster's address is given to answer before Ray is asked to
join it (Ray itself keeps trying for minutes)."""


TOKEN_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"
"""The logger through which Ray announces the token authentication of a
local instance it starts."""


@contextlib.contextmanager
def _as_the_command_was(address: str | None) -> Iterator[None]:
    """Without ``address`` the search starts a local Ray instance of its
    own, for this one check, and Ray's notice that the instance uses token
    authentication says nothing the user can act on: it is left out.
    Joining a cluster, every notice stays.  Either way the command's own
    handling of SIGTERM and Ctrl-C, which Ray replaces as it starts, is
    put back."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    logger = logging.getLogger(TOKEN_SETUP_LOGGER)
    level = logger.level
    if address is None:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        if threading.current_thread() is threading.main_thread():
            for signum, handler in handlers.items():
                if handler is not None:
                    signal.signal(signum, handler)


def _reachable(address: str) -> None:
    """``RayUnavailable`` unless ``address`` is ``auto`` or a ``HOST:PORT``
    (``ray://`` too) that accepts a connection and answers as gRPC does
    (``_first_frame``), each within ``CONNECT_SECONDS``."""
    if address == "auto":
        return
    where = address.removeprefix("ray://")
    host, colon, port = where.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayUnavailable(
            f"cannot reach a Ray cluster at {address}: give auto or HOST:PORT (ray start "
            "--head prints it)"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS) as connection:
            answer = _first_frame(connection)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RayUnavailable(f"cannot reach a Ray cluster at {address}: {reason}") from None
    if len(answer) < HTTP2_FRAME_HEADER or answer[3] != HTTP2_SETTINGS:
        raise RayUnavailable(
            f"cannot reach a Ray cluster at {address}: it answers, but not as a Ray cluster "
            "does (gRPC over HTTP/2)"
        )


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
"""What an HTTP/2 client sends first: the connection preface and an empty
SETTINGS frame (RFC 9113, section 3.4)."""
HTTP2_FRAME_HEADER = 9
HTTP2_SETTINGS = 4


def _first_frame(connection: socket.socket) -> bytes:
    """The first bytes a server sends back to the HTTP/2 preface (within
    ``CONNECT_SECONDS``): a Ray cluster's GCS, or its client server
    (``ray://``), speaks gRPC, and answers with a SETTINGS frame; a server
    of another protocol answers otherwise, or not at all, and Ray would
    wait for it for minutes."""
    connection.sendall(HTTP2_PREFACE)
    answer = b""
    with contextlib.suppress(TimeoutError):
        while len(answer) < HTTP2_FRAME_HEADER:
            chunk = connection.recv(HTTP2_FRAME_HEADER - len(answer))
            if not chunk:
                break
            answer += chunk
    return answer


class _Actor:
    """A worker of the search inside a Ray actor."""

    def __init__(
        self,
        factory: Callable[[], Model[Any, Any]],
        index: int,
        workers: int,
        exact: bool,
        explain: Explain,
    ) -> None:
        self.explain = explain
        self.worker: _Worker[Any, Any] | None = None
        self.failed: WorkerFailed | None = None
        """What building the model raised (a model file that does not load
        on this node), given as the answer to every request."""
        try:
            self.worker = _Worker(factory(), index, workers, exact, stable_fingerprint)
        except Exception as error:
            self.failed = failure(error, explain)

    def handle(self, request: tuple[Any, ...]) -> Any:
        if self.worker is None:
            return self.failed
        return answer(self.worker, request, self.explain)


class RayPool:
    """``workers`` actors on the Ray cluster at ``address`` (None: start a
    local Ray instance with a CPU for each worker at least, since each
    actor asks for one; ``"auto"``: the cluster this machine belongs to)."""

    hashes_alike = False

    def __init__(
        self,
        factory: Callable[[], Model[Any, Any]],
        workers: int,
        exact: bool,
        address: str | None = None,
        explain: Explain = _as_it_is,
    ) -> None:
        if address is not None:
            _reachable(address)
        try:
            import ray
        except ImportError:
            raise RayUnavailable("the ray backend needs Ray: pip install ray") from None
        self.ray: Any = ray
        if not ray.is_initialized():
            if address is None and _REAPER.get("local") is None:
                _REAPER["local"] = reaper.watch()
            try:
                with _as_the_command_was(address):
                    ray.init(
                        address=address,
                        num_cpus=None if address is not None else max(workers, os.cpu_count() or 1),
                        include_dashboard=False,
                        log_to_driver=False,
                        configure_logging=False,
                    )
            except (ConnectionError, RuntimeError, ValueError) as error:
                first = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise RayUnavailable(f"cannot reach a Ray cluster at {address}: {first}") from None
        cpus = self.ray.cluster_resources().get("CPU", 0)
        if workers > cpus:
            where = "the local Ray instance" if address is None else f"the Ray cluster at {address}"
            raise RayUnavailable(f"{workers} workers need as many CPUs, and {where} has {cpus:g}")
        self.calls: list[Any] = []
        """The answers to the last request, while they are awaited."""
        self.dead: set[int] = set()
        """The actors that ended without being told to."""
        self.silent: set[int] = set()
        """The actors killed for not answering in time."""
        remote: Any = ray.remote(num_cpus=1)(_Actor)
        self.actors: list[Any] = [
            remote.remote(factory, i, workers, exact, explain) for i in range(workers)
        ]

    def partition(self, state: Hashable) -> int:
        return stable_fingerprint(state)

    def ask(self, requests: Sequence[tuple[Any, ...]], patience: float | None = None) -> list[Any]:
        """The actors' answers; ``WorkerDied`` when one ended (the others'
        answers are received first), or did not answer within ``patience``
        seconds (it is killed); an actor that ended before answers None."""
        self.calls = [
            None if index in self.dead else actor.handle.remote(request)
            for index, (actor, request) in enumerate(zip(self.actors, requests, strict=True))
        ]
        died: set[int] = set()
        give_up = None if patience is None else time.monotonic() + patience
        replies = [
            None if call is None else self._get(index, call, died, give_up)
            for index, call in enumerate(self.calls)
        ]
        self.calls = []
        self.dead |= died
        return raise_failed(replies, died, self._obituary)

    def _obituary(self, index: int) -> str:
        if index in self.silent:
            return silent_obituary(index, len(self.actors))
        return f"worker {index + 1} of {len(self.actors)} (a Ray actor) ended; its states are lost"

    def _get(self, index: int, call: Any, died: set[int], give_up: float | None = None) -> Any:
        timeout = None if give_up is None else max(0.0, give_up - time.monotonic())
        try:
            return self.ray.get(call, timeout=timeout)
        except self.ray.exceptions.GetTimeoutError:
            self.ray.kill(self.actors[index])
            self.silent.add(index)
        except self.ray.exceptions.RayActorError:
            pass
        died.add(index)
        return None

    def settle(self, patience: float | None = None) -> None:
        died: set[int] = set()
        give_up = None if patience is None else time.monotonic() + patience
        for index, call in enumerate(self.calls):
            if call is not None:
                self._get(index, call, died, give_up)
        self.dead |= died
        self.calls = []

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
