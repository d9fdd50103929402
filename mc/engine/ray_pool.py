"""The partitioned breadth-first search of ``mc.engine.parallel`` on a Ray
cluster (https://docs.ray.io): each worker is a Ray actor that builds the
model itself from a picklable ``factory`` (closures over a model need not
travel), and states are partitioned by a fingerprint every process computes
alike (``stable_fingerprint``).  Ray is optional: ``pip install ray``."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from mc.engine.model import Model
from mc.engine.parallel import _Worker, stable_fingerprint


class RayUnavailable(ValueError):
    """Ray is not installed, or no cluster answers at the address given."""


class _Actor:
    """A worker of the search inside a Ray actor."""

    def __init__(
        self, factory: Callable[[], Model[Any, Any]], index: int, workers: int, exact: bool
    ) -> None:
        self.worker = _Worker(factory(), index, workers, exact, stable_fingerprint)

    def handle(self, request: tuple[Any, ...]) -> Any:
        return self.worker.handle(request)


class RayPool:
    """``workers`` actors on the Ray cluster at ``address`` (None: start a
    local Ray instance with a CPU for each worker at least, since each
    actor asks for one; ``"auto"``: the cluster this machine belongs to)."""

    def __init__(
        self,
        factory: Callable[[], Model[Any, Any]],
        workers: int,
        exact: bool,
        address: str | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise RayUnavailable("the ray backend needs Ray: pip install ray") from None
        self.ray: Any = ray
        if not ray.is_initialized():
            try:
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
        remote: Any = ray.remote(num_cpus=1)(_Actor)
        self.actors: list[Any] = [remote.remote(factory, i, workers, exact) for i in range(workers)]

    def partition(self, state: Hashable) -> int:
        return stable_fingerprint(state)

    def ask(self, requests: Sequence[tuple[Any, ...]]) -> list[Any]:
        calls = [actor.handle.remote(r) for actor, r in zip(self.actors, requests, strict=True)]
        return list(self.ray.get(calls))

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
