"""Whether every reachable state can still end: the graph a search explored,
kept as edges between state numbers, and the states from which no state
without enabled actions is reachable (``PropertyKind.CAN_END``).

Such a state is caught in a part of the graph its actors can only go round:
a livelock, or a deadlock some actor spins in (a trylock retried forever
against a holder that waits for what the spinner holds), which a check of
the states without enabled actions never sees, since the spinner always
has a step.  No fairness is assumed and none is needed: a retry loop that
another actor can still break leaves a way out, and is no violation.

The reduced graph of ``mc.engine.reduction`` answers as the full one does.
From a state ``s`` of the reduced graph, let a path ``pi`` of the full graph
lead to a state ``u`` without enabled actions.  If ``pi`` takes an action of
the ample set ``A`` of ``s``, the first such commutes to the front (C1),
leaving a shorter path from a successor of ``s`` in the reduced graph.  If
it takes none, an action ``a`` of ``A`` is still enabled after ``pi`` (C1),
so ``pi`` ends at a state with no enabled action only when it ends at an
error that halts every actor, and the erring step, which reads nothing
``a`` writes, reaches an error from ``s --a-->`` too, by a path as long;
along ample sets the length does not grow, and every cycle of the reduced
graph holds a fully expanded state (C3), where the path's first action is
in the set, so it shortens: the reduced graph reaches a state without
enabled actions from ``s``.  Conversely, let ``u`` be a state of the full
graph from which none is reachable, reached from ``s`` by ``pi``.  If
``pi`` takes no action of ``A``, let ``a`` be one: ``u --a--> u'`` with
``u'`` reached from ``s --a-->`` by a path as long, and no end is
reachable from ``u'`` either (one would be from ``u``); else the first
action of ``A`` in ``pi`` commutes to the front as before.  By the same
induction the reduced graph reaches a state from which no end is
reachable.  So the reduction keeps the answer, and the state it reports is
one of the full graph (Godefroid, *Partial-Order Methods for the
Verification of Concurrent Systems*, LNCS 1032, 1996, the persistent-set
argument for deadlocks, applied to the set of states that cannot end).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import accumulate, chain, repeat
from typing import Any, TypeVar

from mc.engine.model import Model, Property, PropertyKind
from mc.engine.result import Path
from mc.engine.store import array_bytes

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")


NEAR = 1 << 15
"""An edge kept in order is its target's distance from its source, in two
bytes: less than this either way."""
FAR = 0
"""The distance an edge kept in order holds when its target is further
away or is its source: the target is kept in full beside (``Edges.far``)."""
MANY = 255
"""A state with this many edges or more keeps its count apart."""
BOUNDS_EVERY = 1 << 16
"""How many states ``Edges.cannot_end`` walks back between two looks at
the search's bounds."""


class Edges:
    """The edges of an explored graph by state number, and its states
    without enabled actions.  ``in_order``: the states are expanded in the
    order of their numbers (a breadth-first search), and each gives its
    edges at once (``leaving``): a byte counts them, and each is kept as
    its target's distance from its source in two bytes (a breadth-first
    search's edges lead to the level after their source's or to states
    near it), a target further away or the source itself in full
    (``far``); else each edge is kept with its source (``edge``)."""

    def __init__(self, in_order: bool = False, typecode: str = "i") -> None:
        self.in_order = in_order
        self.counts = bytearray()
        self.many: dict[int, int] = {}
        """The count of the edges of each state with ``MANY`` or more."""
        self.near = array("h")
        self.far = array(typecode)
        self.sources = array(typecode)
        self.targets = array(typecode)
        self.ends = array(typecode)

    def leaving(self, source: int, targets: Sequence[int]) -> None:
        """State ``source`` leads to ``targets`` (``in_order``: no state
        numbered below it gives its edges later)."""
        counts = self.counts
        if len(counts) < source:
            counts.extend(bytes(source - len(counts)))
        count = len(targets)
        if count >= MANY:
            self.many[source] = count
            count = MANY
        counts.append(count)
        distances = [target - source for target in targets]
        near = self.near
        if FAR not in distances:
            kept = len(near)
            try:
                near.extend(distances)
                return
            except OverflowError:
                del near[kept:]
        for target, distance in zip(targets, distances, strict=True):
            if distance != FAR and -NEAR <= distance < NEAR:
                near.append(distance)
            else:
                near.append(FAR)
                self.far.append(target)

    def edge(self, source: int, target: int) -> None:
        """State ``source`` leads to ``target`` (not ``in_order``)."""
        self.sources.append(source)
        self.targets.append(target)

    def dead_end(self, state: int) -> None:
        """State ``state`` has no enabled action."""
        self.ends.append(state)

    def extend(self, other: Edges) -> None:
        """Take ``other``'s edges and ends too (neither in order)."""
        assert not self.in_order and not other.in_order
        self.sources.extend(other.sources)
        self.targets.extend(other.targets)
        self.ends.extend(other.ends)

    def memory_bytes(self) -> int:
        counted = len(self.counts) + 16 * len(self.many)
        return counted + array_bytes(self.near, self.far, self.sources, self.targets, self.ends)

    def _sources(self) -> Iterable[int]:
        """The source of every edge, in the order of ``_targets``."""
        if not self.in_order:
            return self.sources
        many = self.many
        return chain.from_iterable(
            repeat(source, many[source] if count == MANY else count)
            for source, count in enumerate(self.counts)
        )

    def _targets(self) -> array[int]:
        """The target of every edge."""
        if not self.in_order:
            return self.targets
        near = self.near
        targets = array(
            self.far.typecode, [s + d for s, d in zip(self._sources(), near, strict=True)]
        )
        at = -1
        for target in self.far:
            at = near.index(FAR, at + 1)
            targets[at] = target
        return targets

    def edge_count(self) -> int:
        """How many edges are kept."""
        return len(self.near) if self.in_order else len(self.targets)

    def pass_bytes(self, states: int) -> int:
        """What ``cannot_end`` allocates over ``states`` states, at most:
        the offsets twice, the edges grouped and, kept in order, their
        targets, a byte and a frontier entry a state."""
        edges = self.edge_count()
        offsets = 4 if edges < 1 << 31 else 8
        targets = (4 if self.in_order else 0) * edges
        return 2 * offsets * (states + 2) + 4 * edges + targets + 9 * states

    def cannot_end(
        self, states: Iterable[int], bounds: Callable[[], None] = lambda: None
    ) -> list[int]:
        """Of ``states``, those from which no state without enabled actions
        is reachable, in the order given: the states the ends are reached
        from are found backwards, over the edges grouped by target (a
        counting sort into arrays: besides the edges kept, 8 bytes a state
        and 4 an edge grouped, 4 more an edge kept in order while its
        targets are grouped; twice the 8 past 2^31 edges; ``pass_bytes``).
        ``bounds`` is called between the phases and every ``BOUNDS_EVERY``
        states walked back (it raises to stop the pass)."""
        bounds()
        targets = self._targets()
        sources = len(self.counts) - 1 if self.in_order else max(self.sources, default=-1)
        size = max(max(targets, default=-1), max(self.ends, default=-1), sources) + 2
        offsets = "i" if len(targets) < 1 << 31 else "q"
        first = array(offsets, bytes(array(offsets).itemsize * (size + 1)))
        for target, count in Counter(targets).items():
            first[target + 1] = count
        first = array(offsets, accumulate(first))
        filled = array(offsets, first)
        backwards = array(targets.typecode, bytes(targets.itemsize * len(targets)))
        for source, target in zip(self._sources(), targets, strict=True):
            backwards[filled[target]] = source
            filled[target] += 1
        del targets, filled
        bounds()
        ending = bytearray(size)
        frontier = array("q", self.ends)
        for state in frontier:
            ending[state] = 1
        walked = 0
        while frontier:
            walked += 1
            if not walked % BOUNDS_EVERY:
                bounds()
            state = frontier.pop()
            for source in backwards[first[state] : first[state + 1]]:
                if not ending[source]:
                    ending[source] = 1
                    frontier.append(source)
        return [state for state in states if state >= size or not ending[state]]


def cannot_end(prop: Property[S], state: S) -> str:
    """What ``prop``, a ``CAN_END`` property, says of ``state``, from which
    no state without enabled actions is reachable."""
    return prop.check(state) or "no state without enabled actions is reachable from here"


MISMATCH = (
    "a state the search found no end reachable from leads to one: two states shared a "
    "fingerprint, or the model is not a function of the state (--exact keeps every state in "
    "full and tells)"
)


class GraphMismatch(Exception):
    """The graph a search stored (by fingerprint) and the model's steps
    disagree about a state: no end was reachable from it, yet one is."""


def going_round(model: Model[S, A], path: Path[S, A]) -> tuple[Path[S, A], int]:
    """``path``, which ends at a state no end is reachable from, taken on
    until it comes back to a state it passed through (preferring at each
    state the first action that leads to a state not passed through yet),
    and the position of that state in the path: the steps from there on
    go round.  Every state on the way is one no end is reachable from."""
    states, actions, moves = list(path.states), list(path.actions), list(path.moves)
    position = {state: at for at, state in enumerate(states)}
    while True:
        successors = model.successors(states[-1])
        if not successors:
            raise GraphMismatch(MISMATCH)
        move = next((at for at, (_a, nxt) in enumerate(successors) if nxt not in position), 0)
        action, after = successors[move]
        states.append(after)
        actions.append(action)
        moves.append(move)
        if after in position:
            went = Path(path.init, tuple(states), tuple(actions), tuple(moves))
            return went, position[after]
        position[after] = len(states) - 1


def cannot_end_violation(
    model: Model[S, A], prop: Property[S], path: Path[S, A]
) -> tuple[str, Path[S, A]]:
    """The message and the path of a violation of ``prop``, a ``CAN_END``
    property, at the last state of ``path``: the path goes on round a
    loop (``going_round``), and the message says where the loop starts.
    ``GraphMismatch`` when an end is reachable from that state after all
    (``can_end_from``): the stored graph merged it with another state, or
    the model is not a function of the state, whether the walk round
    reached a dead end or closed a loop while an end lay on another way."""
    went, start = going_round(model, path)
    if can_end_from(model, went.states[-1]):
        raise GraphMismatch(MISMATCH)
    back = len(went) - start
    moves = "move leads" if back == 1 else f"{back} moves lead"
    looped = f"the trace ends going round: its last {moves} back to a state it passed through"
    return f"{cannot_end(prop, went.states[-1])} ({looped})", went


def keeps_edges(model: Model[Any, Any]) -> bool:
    """Whether a search of ``model`` keeps the edges of its graph: some
    property it checks is a ``CAN_END`` one and its graph may hold a
    cycle (without one, every state can end)."""
    return model.may_cycle() and any(p.kind is PropertyKind.CAN_END for p in model.properties())


def can_end_from(model: Model[S, Any], state: S) -> bool:
    """Whether some state without enabled actions is reachable from
    ``state`` in ``model``'s full graph (a replay's check of a ``CAN_END``
    violation: the states reachable from one that cannot end are all it
    searches)."""
    seen = {state}
    frontier = [state]
    while frontier:
        successors = model.successors(frontier.pop())
        if not successors:
            return True
        for _action, after in successors:
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    return False
