"""Symmetry reduction: a search over one representative of each class of
states that differ only by a permutation of interchangeable actors.

After Ip and Dill (*Better verification through symmetry*, Formal Methods
in System Design 9, 1996) and Emerson and Sistla (*Symmetry and model
checking*, same volume): when a group of permutations of the actors maps
the transition relation and the initial states onto themselves and leaves
every checked property's answer unchanged, the quotient graph (each state
replaced by a representative of its orbit) reaches a violating state
exactly when the full graph does, and every terminal state of the full
graph has a terminal representative.  Any function that maps a state into
its own orbit is sound (Ip and Dill's normalisation need not be canonical);
a canonical one reduces most.

The model gives the representative (``Canonical``: the state and the
permutation that makes it, ``perm[t]`` the actor whose part of the state
the representative's actor ``t`` holds) and how an action of the
representative renames to the actor that performs it in the state it
stands for (``Rename``).  ``Symmetric`` is the quotient model the explorers
search; ``unfold`` turns one of its paths back into a path of the model
itself (the actual actors' actions, re-executed from the initial state), so
a counterexample found on the quotient replays on the unreduced model.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from mc.engine.model import Model, Pending, Property
from mc.engine.result import Path

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")

Canonical = Callable[[S], tuple[S, tuple[int, ...]]]
"""A state's representative and the permutation of actors that makes it."""
Rename = Callable[[A, tuple[int, ...]], A]
"""An action of a representative as the action of the state it stands for."""


class Symmetric(Model[S, A]):
    """``inner`` with every state replaced by its representative."""

    def __init__(self, inner: Model[S, A], canonical: Canonical[S], rename: Rename[A]) -> None:
        self.inner = inner
        self.canonical = canonical
        self.rename = rename

    def init_states(self) -> Sequence[S]:
        return tuple(self.canonical(state)[0] for state in self.inner.init_states())

    def successors(self, state: S) -> Sequence[tuple[A, S]]:
        canonical = self.canonical
        return [(action, canonical(after)[0]) for action, after in self.inner.successors(state)]

    def properties(self) -> Sequence[Property[S]]:
        return self.inner.properties()

    def actor(self, action: A) -> Hashable | None:
        return self.inner.actor(action)

    def describe_action(self, action: A) -> str:
        return self.inner.describe_action(action)

    def pending(self, state: S) -> Sequence[Pending] | None:
        return None

    def halted(self, state: S) -> bool:
        return self.inner.halted(state)

    def stored_by_fingerprint(self, fingerprinted: bool) -> None:
        self.inner.stored_by_fingerprint(fingerprinted)

    def statistics(self, states: Sequence[S]) -> dict[str, int]:
        return dict(self.inner.statistics(states))

    def part_read(self, reads: int) -> Callable[[S], Hashable] | None:
        """The inner model's: a representative differs from the states it
        stands for only in which interchangeable actor holds which part,
        which the properties checked under symmetry look at alike."""
        return self.inner.part_read(reads)


class NotSymmetric(ValueError):
    """A path of the quotient that does not unfold onto the model: the
    actors taken as interchangeable were not (the representative of some
    state is not in its orbit)."""

    def __init__(self, position: int) -> None:
        super().__init__(f"step {position + 1} of the reduced path is no step of the model")
        self.position = position


def unfold(symmetric: Symmetric[S, A], path: Path[S, A]) -> Path[S, A]:
    """The path of the model itself that ``path`` (a path of the quotient)
    stands for: each action renamed to the actor that performs it in the
    actual state, re-executed from the initial state.

    Along the way the representative ``path.states[k]`` is the actual state
    with its actors permuted by ``perm`` (``representative[t]`` is actual
    ``perm[t]``): an action of ``t`` there is one of ``perm[t]`` here, and
    the permutation that makes the next representative is composed on.
    ``NotSymmetric`` when an action has no counterpart in the actual state.
    """
    inner = symmetric.inner
    state = inner.init_states()[path.init]
    perm = symmetric.canonical(state)[1]
    states, actions, moves = [state], list[A](), list[int]()
    for representative, action in zip(path.states, path.actions, strict=False):
        after = next(nxt for taken, nxt in inner.successors(representative) if taken == action)
        actual = symmetric.rename(action, perm)
        enabled = inner.successors(state)
        move = next((i for i, (taken, _) in enumerate(enabled) if taken == actual), None)
        if move is None:
            raise NotSymmetric(len(actions))
        state = enabled[move][1]
        states.append(state)
        actions.append(actual)
        moves.append(move)
        step = symmetric.canonical(after)[1]
        perm = tuple(perm[t] for t in step)
    return Path(path.init, tuple(states), tuple(actions), tuple(moves))
