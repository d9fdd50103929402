"""What a search returns: a verdict, statistics and, on failure, a trace."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import attrs

from mc.text import counted

S = TypeVar("S")
A = TypeVar("A")


class Verdict(enum.Enum):
    """The outcome of a search."""

    OK = "OK"
    """The state space was exhausted and no property was violated."""
    VIOLATED = "VIOLATED"
    """A property was violated; the result carries the trace."""
    INCOMPLETE = "INCOMPLETE"
    """A bound stopped the search before it was exhaustive."""

    @property
    def exit_code(self) -> int:
        """The process exit code conventionally used for this verdict."""
        return {Verdict.OK: 0, Verdict.VIOLATED: 1, Verdict.INCOMPLETE: 3}[self]


class Strategy(enum.Enum):
    """Search order."""

    BFS = "bfs"
    DFS = "dfs"


@attrs.frozen
class Path(Generic[S, A]):
    """A path through a model: ``states[0]`` is initial and
    ``states[i + 1]`` is reached from ``states[i]`` by ``actions[i]``.
    ``moves[i]`` is the index of that action among the enabled ones and
    ``init`` the position of ``states[0]`` among the initial states."""

    init: int
    states: tuple[S, ...]
    actions: tuple[A, ...]
    moves: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.actions)


@attrs.frozen
class Violation(Generic[S, A]):
    """A violated property and the shortest path the search found to it
    (None for a ``sometimes`` property that was never reached)."""

    property: str
    message: str
    path: Path[S, A] | None


@attrs.frozen
class Stats:
    """Search statistics."""

    states: int
    transitions: int
    max_depth: int
    seconds: float
    peak_memory_bytes: int
    bytes_per_state: float
    extra: dict[str, int] = attrs.field(factory=dict)
    omission_probability: float | None = None
    """With fingerprints: the probability that a state was missed."""
    store_bytes_per_state: float | None = None
    """With fingerprints: the bytes the search holds per stored state to
    know it has seen it and to rebuild a trace to it (the fingerprint
    table, the numbers of the last levels, each state's parent and move),
    as SPIN's memory for states; ``bytes_per_state`` is what the whole
    process grew by, fixed costs (the compiled model, memo tables)
    included."""

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else float(self.states)

    def as_dict(self) -> dict[str, Any]:
        return {
            "states": self.states,
            "transitions": self.transitions,
            "max_depth": self.max_depth,
            "seconds": round(self.seconds, 4),
            "states_per_second": round(self.states_per_second),
            "peak_memory_bytes": self.peak_memory_bytes,
            "bytes_per_state": round(self.bytes_per_state, 1),
            **(
                {}
                if self.store_bytes_per_state is None
                else {"store_bytes_per_state": round(self.store_bytes_per_state, 1)}
            ),
            **self.extra,
            **(
                {}
                if self.omission_probability is None
                else {"omission_probability": self.omission_probability}
            ),
        }

    def summary(self) -> str:
        extra = "".join(f", {_phrase(name, value)}" for name, value in self.extra.items())
        store = (
            ""
            if self.store_bytes_per_state is None
            else f" ({self.store_bytes_per_state:.0f} in the store)"
        )
        return (
            f"{counted(self.states, 'state')}, {counted(self.transitions, 'transition')}, "
            f"depth {self.max_depth}, "
            f"{self.seconds:.3f} s, {self.states_per_second:,.0f} states/s, "
            f"peak {self.peak_memory_bytes / 2**20:.1f} MiB, "
            f"{self.bytes_per_state:.0f} B/state{store}{extra}"
            + (
                ""
                if self.omission_probability is None
                else f"; probability of a missed state {self.omission_probability:.1e}"
            )
        )


def _phrase(name: str, value: object) -> str:
    """One figure of ``Stats.extra`` in words."""
    if name == "reduction_stopped_after" and isinstance(value, int):
        return f"reduction given up after {counted(value, 'state')} without an ample set"
    if name == "workers" and isinstance(value, int):
        return counted(value, "worker")
    words = name.replace("_", " ")
    if value == 1 and words.endswith("s") and not words.endswith(" ms"):
        words = words[:-1]
    shown = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{shown} {words}"


@attrs.frozen
class Result(Generic[S, A]):
    """The verdict of a search with its statistics."""

    verdict: Verdict
    stats: Stats
    violation: Violation[S, A] | None = None
    incomplete_reason: str | None = None
    properties: Sequence[str] = ()
    unvaried: tuple[str, ...] = ()
    """Of an exhaustive search that found nothing: the invariants whose
    declared reads were the same in every state (nothing the scenario did
    changed what they check, so they passed on one configuration)."""
