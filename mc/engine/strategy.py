"""What a search strategy (``mc.engine.bfs``, ``mc.engine.dfs``) sees of the
search it drives: the stored states, the bounds and the checks, which
``mc.engine.explore.Search`` keeps."""

from __future__ import annotations

from array import array
from collections.abc import Hashable
from typing import Any, Protocol, TypeVar

from mc.engine.endings import Edges
from mc.engine.model import Model
from mc.engine.reduction import Reduction
from mc.engine.store import Store

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")


class Expansion(Protocol[S, A]):
    """A search in progress, as a strategy drives it."""

    model: Model[S, A]
    store: Store[S]

    @property
    def reduction(self) -> Reduction | None:
        """The reduction the search applies, while it does."""

    stored: int
    capacity: int
    """The most states the search may store (``--max-states``)."""
    dropped: bool
    """Whether a new state was left unstored, the search being full."""
    transitions: int
    max_depth: int
    depth_cut: bool
    next_tick: float
    parent: array[int]
    move: array[int]
    edges: Edges | None
    """The graph explored, when kept (``mc.engine.endings``)."""

    @property
    def options(self) -> Any:
        """The search's options (``mc.engine.explore.Options``)."""

    def add(self, state: S, parent: int, move: int) -> int:
        """Store a new state and check it; its number."""

    def tick(self, depth: int) -> None:
        """Look at the bounds and report progress."""

    def dead_end(self, state: S, sid: int) -> None:
        """Check a state without enabled actions."""

    def keep_reducing(self) -> bool:
        """Whether to go on looking for ample sets (the search stops
        looking when it found none in its first states)."""

    def moves(self, state: S, cut: bool) -> list[tuple[int, A, S]]:
        """The moves to explore from ``state``, with their actions and the
        states they lead to: an ample set's or every enabled one."""
