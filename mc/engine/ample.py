"""The moves a search explores from a state: an ample set of partial-order
reduction (``mc.engine.reduction``) when one meets the cycle proviso and
halts nothing, else every enabled action.  The choice depends on the state
alone, so a breadth-first, a depth-first and a parallel search explore the
same reduced graph.

A search looks for ample sets of its first ``REDUCTION_TRIAL`` states and
on once it found one; when it stops (``stop``), it is the search without
reduction from then on, which is always sound."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

from mc.engine.model import Model, Pending
from mc.engine.reduction import Reduction

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")

Moves = list[tuple[int, A, S]]
"""Moves from a state: each with its number (see ``AmpleSets.lazy``), its
action and the state it leads to."""

REDUCTION_TRIAL = 2_000
"""How many states a search looks for ample sets of before it gives up
when it found none (the scenario's threads conflict everywhere)."""
ACTOR_MOVE_BITS = 8
"""A lazy move is ``position << ACTOR_MOVE_BITS | index`` (see
``AmpleSets.lazy``)."""
ACTOR_MOVE_LIMIT = 1 << ACTOR_MOVE_BITS


class AmpleSets(Generic[S, A]):
    """The choice of moves of one search of ``model``, with ``reduction``
    (None: every enabled action)."""

    def __init__(self, model: Model[S, A], reduction: Reduction | None) -> None:
        self.model = model
        self.reduction = reduction
        self.applies = reduction is not None and reduction.active
        """Whether the search reduces at all (asked to, and every checked
        property says what it reads)."""
        self.lazy = self.applies and type(model).successors_of is not Model.successors_of
        """Whether only the actions of the actors an ample set holds are
        computed (``expand``); the moves are then numbered ``position <<
        ACTOR_MOVE_BITS | index``: the actor's position in ``pending`` and
        the action's among that actor's (``enabled_indices`` turns them
        into indices among every enabled action)."""
        self.reduced = 0
        """How many states an ample set was explored of."""
        self.tried = 0
        """How many states an ample set was looked for."""
        self.lazy_before: int | None = None
        """The number of states stored when the search stopped computing
        the actions of some actors only (``stop``): the moves of states
        numbered below it are ``lazy`` ones."""

    @property
    def reducing(self) -> bool:
        """Whether ample sets are looked for."""
        return self.reduction is not None and self.reduction.active

    def keep_reducing(self, stored: int) -> bool:
        """Whether to go on looking for ample sets: for the first
        ``REDUCTION_TRIAL`` states, and on once one was found; when not,
        the search stops looking (``stop``) with ``stored`` states."""
        if not self.reducing:
            return False
        if self.reduced or self.tried < REDUCTION_TRIAL:
            return True
        self.stop(stored)
        return False

    def stop(self, stored: int) -> None:
        """Stop looking for ample sets, with ``stored`` states stored."""
        self.reduction = None
        if self.lazy:
            self.lazy = False
            self.lazy_before = stored

    def statistics(self) -> dict[str, int]:
        """What the reduction did, for ``Stats.extra``: the states explored
        through an ample set, and after how many the search stopped
        looking; nothing when the search does not reduce at all."""
        if not self.applies:
            return {}
        found = {"reduced_states": self.reduced}
        if self.reduction is None:
            found["reduction_stopped_after"] = self.tried
        return found

    def moves(self, state: S, cut: bool) -> Moves[A, S]:
        """The moves to explore from ``state``: an ample set's or every
        enabled one (all of them when ``cut`` by a depth bound, which only
        looks for dead ends); none at a dead end."""
        if self.lazy:
            return self.expand(state, cut)
        enabled = self.model.successors(state)
        chosen = self.ample(state, enabled) if self.reducing and enabled and not cut else None
        if chosen is None:
            return [(move, action, nxt) for move, (action, nxt) in enumerate(enabled)]
        return [(move, *enabled[move]) for move in chosen]

    def ample(self, state: S, enabled: Sequence[tuple[A, S]]) -> list[int] | None:
        """The moves of an ample set of ``state`` that meets the cycle
        proviso (none of its actions may close a cycle,
        ``Model.may_close_cycle``) and halts nothing, or None to expand it
        fully."""
        assert self.reduction is not None
        self.tried += 1
        actor = self.model.actor
        for moves in self.reduction.candidates(state, [actor(a) for a, _ in enabled]):
            if self._proviso(state, [(move, *enabled[move]) for move in moves]):
                self.reduced += 1
                return moves
        return None

    def expand(self, state: S, full: bool = False) -> Moves[A, S]:
        """The moves to explore from ``state`` (see ``lazy``): those of an
        ample set that meets the cycle proviso and halts nothing (as
        ``ample``), else every enabled one; ``full`` asks for every one.
        Each actor's actions are computed once, and only where the choice
        of the ample set needs them (``Reduction.plans``)."""
        model = self.model
        pending = model.pending(state)
        if pending is None:
            raise ValueError("a model that gives successors_of must give pending for every state")
        count = len(pending)
        if count > ACTOR_MOVE_LIMIT:
            raise ValueError(
                f"{count} actors: partial-order reduction tells at most {ACTOR_MOVE_LIMIT} apart"
            )
        successors_of = model.successors_of
        fired: list[Sequence[tuple[A, S]] | None] = [None] * count

        def actions(at: int) -> Sequence[tuple[A, S]]:
            found = fired[at]
            if found is None:
                found = fired[at] = successors_of(state, pending[at].actor)
            return found

        reduction = None if full or count < 2 else self.reduction
        if reduction is not None:
            self.tried += 1
            for invisible, members, outside in reduction.plans(pending):
                for at in invisible:
                    if actions(at):
                        break
                else:
                    continue
                chosen = _numbered(members, actions)
                if self._proviso(state, chosen) and self._some_enabled(
                    state, pending, outside, fired, actions
                ):
                    self.reduced += 1
                    return chosen
        return _numbered(range(count), actions)

    def _some_enabled(
        self,
        state: S,
        pending: Sequence[Pending],
        positions: Sequence[int],
        fired: Sequence[Sequence[tuple[A, S]] | None],
        actions: Callable[[int], Sequence[tuple[A, S]]],
    ) -> bool:
        """Whether an actor at ``positions`` in ``pending`` has an action
        enabled: one whose actions were computed (``fired``), one the
        model says is surely enabled, else one whose actions, computed
        now, are some."""
        if any(fired[at] for at in positions):
            return True
        surely = self.model.surely_enabled
        return any(
            fired[at] is None and surely(state, pending[at].actor) for at in positions
        ) or any(actions(at) for at in positions)

    def _proviso(self, state: S, chosen: Sequence[tuple[int, A, S]]) -> bool:
        """Whether the moves ``chosen`` from ``state`` may form its ample
        set: none may close a cycle (C3) or halts the model."""
        model = self.model
        closes, halted, actor = model.may_close_cycle, model.halted, model.actor
        for _move, action, nxt in chosen:
            if closes(state, actor(action), nxt) or halted(nxt):
                return False
        return True


def enabled_indices(
    model: Model[S, A], init: int, moves: Sequence[int], lazy: Sequence[bool]
) -> list[int]:
    """The moves of a path from the initial state at ``init`` as indices
    among every enabled action: those ``lazy`` marks are lazy ones (see
    ``AmpleSets.lazy``), the others are such indices already."""
    state = model.init_states()[init]
    found = []
    for move, encoded in zip(moves, lazy, strict=True):
        if not encoded:
            found.append(move)
            state = model.successors(state)[move][1]
            continue
        position, index = move >> ACTOR_MOVE_BITS, move & ACTOR_MOVE_LIMIT - 1
        pending = model.pending(state)
        assert pending is not None
        before = sum(len(model.successors_of(state, p.actor)) for p in pending[:position])
        found.append(before + index)
        state = model.successors_of(state, pending[position].actor)[index][1]
    return found


def _numbered(
    positions: Iterable[int], actions: Callable[[int], Sequence[tuple[A, S]]]
) -> Moves[A, S]:
    """The actions of the actors at ``positions``, each with its lazy move
    number and the state it leads to."""
    found = []
    for at in positions:
        base = at << ACTOR_MOVE_BITS
        enabled = actions(at)
        if len(enabled) > ACTOR_MOVE_LIMIT:
            raise ValueError(f"an actor has more than {ACTOR_MOVE_LIMIT} actions enabled")
        for index, (action, nxt) in enumerate(enabled):
            found.append((base | index, action, nxt))
    return found
