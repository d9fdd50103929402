"""Partial-order reduction: which of a state's enabled actions to explore.

The reduction is the persistent-set (ample-set) method with the actions of
a set of actors closed under conflicts as the candidate set, after
Godefroid (*Partial-Order Methods for the Verification of Concurrent
Systems*, LNCS 1032, 1996, chapter 4: persistent sets computed from
conflicting transitions, a disabled transition bringing in the actors that
may enable it) and Clarke, Grumberg and Peled (*Model Checking*, 1999,
chapter 10: conditions C0-C3).  From a state ``s`` the search may explore
only the enabled actions ``A`` of a set ``P`` of actors when:

- C0: ``A`` is not empty (some actor of ``P`` has an enabled action), so a
  state without enabled actions is never reduced and every deadlock and
  every terminal state of the full graph where no actor erred is reached
  (Godefroid, theorem on persistent sets and deadlocks; an erring step
  halts every actor, so it depends on every action, and the states where
  one erred are reached as the last paragraph says).
- C1 (persistence): ``A`` is every action the actors of ``P`` have enabled
  in ``s``, and ``P`` is closed: for every ``p`` in ``P`` and every ``q``
  outside it, ``next(p)`` writes nothing in ``rest(q)`` and reads nothing
  ``rest(q)`` writes.  Along a path from ``s`` that takes no action of
  ``A``, the actors of ``P`` do not move (their only ways on are in ``A``),
  so every action taken is a step of some ``q`` outside ``P``, from
  ``rest(q)``, independent of every action of ``A`` (disjoint footprints
  commute and cannot enable or disable each other).  ``next(p)`` of an
  actor whose step is disabled counts too: the actors that may enable it
  write what it reads, so they are in ``P`` (Godefroid's necessary
  enabling transitions).  ``rest(q)`` covers ``q``'s disabled steps.  The
  least closed set holding each actor is tried, smallest first; one actor
  whose next step conflicts with nobody's future is the singleton case.
- C2 (visibility, for state properties): a checked property reads some
  locations (``Property.reads``); an action is visible when it may write
  one of them.  ``A`` must hold an enabled invisible action.  Clarke,
  Grumberg and Peled ask more (every action of a reduced ``A``
  invisible) because they preserve LTL-X, where the order of visible
  actions matters; the properties here are predicates of one state (an
  invariant violated, a goal reached), for which one is enough.  Let a
  path ``pi`` lead from ``s`` to a state ``t`` where the predicate holds.
  If ``pi`` takes an action of ``A``, the first such commutes with every
  action before it (C1), so it and a shorter path reach ``t`` from ``s``.
  If it takes none, let ``a`` be an invisible action of ``A``: ``pi``
  stays enabled after it (C1) and leads from ``s --a-->`` to the state
  ``t`` with ``a``'s writes, where the predicate holds too, since ``a``
  wrote none of what it reads (when ``pi`` ends at an error, the same
  step records the same error: what it reads, ``a`` did not write).
  Going on so, from state to state of the reduced graph with a path that
  is never longer, a cycle would be met unless the path shortens; every
  cycle holds a fully expanded state (C3), where ``pi``'s first action is
  in ``A``, so the path does shorten, and the reduced graph reaches a
  state where the predicate holds.  (The first case is Godefroid's
  argument for local states, the second the usual one for an invisible
  action, which needs that action only.)  Valmari's alternative, a set
  holding every actor that may still act visibly (condition V of
  *On-the-fly verification with stubborn sets*, CAV 1993), is not used:
  an error's step writes no location of its footprint, so a property
  that reads the error and some data (an error while ``v0`` is 0) would
  see the data changed before the error's step by actions V lets through.
  Properties evaluated only at dead ends (deadlock; ``terminal``
  invariants and goals) need no visibility, since C0 and C1 preserve
  the dead ends where no actor erred; a dead end where one did (a halted
  state) is reached for each erring step, but not in every state of the
  other actors, so ``terminal`` invariants and goals are not evaluated
  there, and a deadlock check there should read the error alone (as the
  kernel's does).  A property without ``reads`` makes every action
  visible, so nothing is reduced (Peled, *All from one, one for all: on
  model checking using representatives*, CAV 1993: the visible actions
  are those that may change a proposition the specification mentions,
  and over-approximating them is always sound).
- C3 (cycle proviso): every cycle of the reduced graph holds a fully
  expanded state.  The model marks actions that may lie on a cycle of the
  state graph (``Model.may_close_cycle``), at least one on every cycle, and
  the search reduces ``s`` only when no action of ``A`` is marked: the
  state a marked action of a cycle leaves is then fully expanded.  This
  is the static form of the proviso (Kurshan, Levin, Minea, Peled and
  Yenigun, *Static partial order reduction*, TACAS 1998: a transition of
  every cycle of each process's control flow is marked); it asks nothing
  of what the search has stored, so the reduced graph is a function of
  the state alone, and breadth-first, depth-first and parallel searches
  explore the same one.  A kernel model marks a step that may go back in
  its thread's program and a step that leaves its thread where it was
  other than to join a lock's queue (``KernelModel.may_close_cycle``).

An action that leads to a state where the model halts every actor (an
error it records) disables every other actor: a candidate with such an
action is never taken, so an erring step is explored only with all its
alternatives, while the errors of the other actors' steps, which commute
with the candidate's, are still reached after it.

The choice needs no action to be computed but those of the actors it
looks at: which closed sets exist, and which of their actors are
visible, follows from the footprints alone; whether an actor has an action
enabled is asked of the model actor by actor (``Model.successors_of``), in
the order of ``plans``: the actors of a set whose next step is not
visible (until one is enabled), its other actors, the cycle proviso on
their successors, then the actors outside it until one is enabled.  The
set chosen is the one ``candidates`` would choose from every actor's
actions, so the reduced graph is the same; the actions of the actors
outside it are never computed (``Search.expand``).

C1 asks less of an outsider ``q`` whose steps wait for a token that an
actor ``p`` of ``P`` keeps (``Pending.blocks``: a lock ``p`` holds, which
no other actor can take until ``p`` lets it go; ``mc.dsl.guards``): along
a path that takes no action of ``A``, ``p`` does not move and keeps the
token, so none of the steps ``q`` takes only while holding it
(``Pending.guarded``) is taken, and ``next(p)`` need not be independent
of them (``Pending.reached_by``).  This is the locking discipline's
reduction (Stoller, *Model-checking multi-threaded distributed Java
programs*, STTT 4(1), 2002: the accesses a held lock protects are no
interleaving points) put as a condition on the persistent set; the lock
steps themselves, which take and give back the tokens, still conflict
as before.

The footprints are the model's (``Model.pending``), and the finer they
are, the more actors pass C1.  A thread-local step (a register computation,
a branch on the thread's own registers) reads and writes only the thread's
own locations: it is invisible and independent of every other actor's
steps, and a kernel model runs it together with the step before it, so it
is never an interleaving point at all.  A lock step touches its own lock
(per lock object, not a global lock table) when the lock is known when the
program is built, and every lock of its family when it is found through a
register; two steps on one lock are dependent (one may disable the other),
as in Godefroid's treatment of semaphores (chapter 3).

With C0-C3 an invariant is violated in the reduced graph exactly when it
is violated in the full graph (C2's argument), a goal is reached in one
exactly when in the other, and every terminal state (deadlock or normal
end) of the full graph where no actor erred is reached.  A model's own
error states (a step that detects a protocol error and stops the run) are
local assertions of the actor that takes that step: each erring step is
reached, since it commutes with every step of the other actors (Godefroid:
with the cycle proviso, persistent-set search reaches every local state
the full search reaches), though not in every state of the other actors.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from mc.engine.model import Model, Pending, Property

Closure = tuple[int, int]
"""A set of actors closed under conflicts, and those of its actors whose
next step is visible, as masks of the actors' bits (``Reduction.bits``):
the set may be explored alone when one of its enabled actors is not
visible (C2)."""


Plan = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
"""A closed set as positions among the actors that may still act: its
actors whose next step is not visible (C2), its actors, and the actors
outside it."""


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Answers remembered for two turns: those given since the last
    ``turn`` and those given in the turn before, which a new question
    brings forward."""

    def __init__(self) -> None:
        self.now: dict[K, V] = {}
        self.before: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self.now) + len(self.before)

    def get(self, key: K) -> V | None:
        """The answer remembered for ``key``, if any."""
        found = self.now.get(key)
        if found is None:
            found = self.before.get(key)
            if found is not None:
                self.now[key] = found
        return found

    def put(self, key: K, answer: V) -> None:
        """Remember ``answer`` for ``key``."""
        self.now[key] = answer

    def turn(self) -> None:
        """Forget the answers of the turn before, start a new one."""
        self.before, self.now = self.now, {}


def turned_off_by(properties: Sequence[Property[Any]]) -> list[str]:
    """The properties that turn the reduction off: those evaluated on
    every state that do not say what they read (every action is visible
    to them)."""
    return [prop.name for prop in properties if prop.on_every_state and prop.reads is None]


class Reduction:
    """The ample-set choice for one model and its checked properties."""

    def __init__(self, model: Model[Any, Any], properties: Sequence[Property[Any]]) -> None:
        self.model = model
        visible = 0
        for prop in properties:
            if prop.on_every_state and prop.reads is not None:
                visible |= prop.reads
        self.visible = visible
        self.active = not turned_off_by(properties)
        """False when some property does not say what it reads: then every
        action is visible and nothing is reduced."""
        self.closures: Memo[Hashable, tuple[Closure, ...]] = Memo()
        """The closed sets of actors (C1), by what every actor may still do
        (``_key``: a byte an actor), of the last two turns (see ``turn``);
        equal answers are one object (``interned``), so the table costs a
        few dozen bytes per distinct combination of what the actors do next."""
        self.interned: dict[tuple[Closure, ...], tuple[Closure, ...]] = {}
        self.planned: Memo[Hashable, tuple[Plan, ...]] = Memo()
        self.interned_plans: dict[tuple[Plan, ...], tuple[Plan, ...]] = {}
        self.interned_plan: dict[Plan, Plan] = {}
        """Each plan once, shared by the answers of ``plans`` that hold it."""
        self.numbers: dict[Pending, int] = {}
        """Each ``Pending`` seen so far, numbered in the order seen."""
        self.known: list[Pending] = []
        self.conflicting: list[int] = []
        """For each numbered ``Pending``, the mask of the numbered ones whose
        ``rest`` its ``next`` conflicts with (``Footprint.conflicts``)."""
        self.actor_bits: list[int] = []
        self.visible_bits: list[int] = []
        """For each numbered ``Pending``, the bit of its actor (``bits``), and
        that bit again when its ``next`` writes what a property reads."""
        self.bits: dict[Hashable, int] = {}
        """Each actor seen so far, with a bit of its own."""
        self.positions: dict[tuple[int, ...], dict[int, tuple[int, ...]]] = {}
        """For the bits of the actors of a ``pending`` in order, the
        positions among them of the actors of each set asked about."""

    def candidates(self, state: Any, actors: Sequence[Hashable]) -> Iterator[list[int]]:
        """Ample sets for ``state`` whose enabled actions are performed by
        ``actors`` (in order), as positions among them, smallest first; none
        when the state must be fully expanded.  The cycle proviso is the
        caller's."""
        if not self.active or len(actors) < 2:
            return
        pending: Sequence[Pending] | None = self.model.pending(state)
        if pending is None:
            return
        closures = self.closures_of(pending)
        bits = self.bits
        enabled = 0
        for who in actors:
            enabled |= bits.get(who) or self._bit(who)
        for members, visible in closures:
            inside = members & enabled
            if not inside & ~visible or inside == enabled:
                continue
            yield [move for move, who in enumerate(actors) if bits[who] & members]

    def closures_of(self, pending: Sequence[Pending]) -> tuple[Closure, ...]:
        """The closed sets of actors (C1) for what each actor may still do,
        with their visible actors (C2), smallest first."""
        key = self._key(pending)
        closures = self.closures.get(key)
        if closures is None:
            made = self._closures(key)
            closures = self.interned.setdefault(made, made)
            self.closures.put(key, closures)
        return closures

    def plans(self, pending: Sequence[Pending]) -> tuple[Plan, ...]:
        """The closed sets ``candidates`` tries, smallest first, as positions
        in ``pending``: the ample set a set gives is the enabled actions of
        its actors, when at least one of its actors whose next step is not
        visible and one actor outside it have an action enabled (a set that
        holds every enabled actor reduces nothing and is passed over, as in
        ``candidates``).
        The sets are decided by the footprints alone, so a search can
        compute the actions of the actors a choice needs and no others."""
        key = self._key(pending)
        plans = self.planned.get(key)
        if plans is None:
            masks = tuple(map(self.actor_bits.__getitem__, key))
            table = self.positions.get(masks)
            if table is None:
                table = self.positions[masks] = {}

            def at(chosen: int) -> tuple[int, ...]:
                found = table.get(chosen)
                if found is None:
                    found = table[chosen] = tuple(
                        at for at, mask in enumerate(masks) if mask & chosen
                    )
                return found

            one = self.interned_plan.setdefault
            made = tuple(
                one(plan, plan)
                for plan in (
                    (at(members & ~visible), at(members), at(~members))
                    for members, visible in self._closures(key)
                )
            )
            plans = self.interned_plans.setdefault(made, made)
            self.planned.put(key, plans)
        return plans

    def turn(self) -> None:
        """The search has moved on (breadth-first: to the next level): the
        combinations of what the actors do next asked about before the
        last turn are forgotten.  Every step moves some actor on, so a
        level seldom meets the combinations of the level before it, and
        the memory holds about two levels' worth."""
        self.closures.turn()
        self.planned.turn()

    def _key(self, pending: Sequence[Pending]) -> bytes | tuple[int, ...]:
        """``pending`` for the memos: the numbers of its entries (see
        ``_number``), a byte each while they fit."""
        numbered = self.numbers.__getitem__
        try:
            return bytes(map(numbered, pending))
        except KeyError:
            for entry in pending:
                self._number(entry)
            return self._key(pending)
        except ValueError:
            return tuple(map(numbered, pending))

    def _bit(self, actor: Hashable) -> int:
        """The bit of ``actor``, given it on first sight."""
        bit = self.bits[actor] = 1 << len(self.bits)
        return bit

    def _number(self, pending: Pending) -> int:
        """The number of ``pending``, extending the conflict table with it."""
        number = self.numbers.get(pending)
        if number is not None:
            return number
        number = len(self.known)
        row = 0
        for other, known in enumerate(self.known):
            if known.reached_by(pending):
                row |= 1 << other
            if pending.reached_by(known):
                self.conflicting[other] |= 1 << number
        if pending.next.conflicts(pending.rest):
            row |= 1 << number
        self.numbers[pending] = number
        self.known.append(pending)
        self.conflicting.append(row)
        bit = self.bits.get(pending.actor) or self._bit(pending.actor)
        self.actor_bits.append(bit)
        self.visible_bits.append(bit if pending.next.writes & self.visible else 0)
        return number

    def _closures(self, numbers: Sequence[int]) -> tuple[Closure, ...]:
        """For each actor, the least set holding it and every actor whose
        future conflicts with the next step of an actor in the set (C1),
        with the actors of the set whose next step is visible (C2); sets
        of every actor left out, smallest first.  ``numbers``: the numbers
        of what the actors may do (``_key``)."""
        present = 0
        for number in numbers:
            present |= 1 << number
        conflicting, actor_bits, visible_bits = self.conflicting, self.actor_bits, self.visible_bits
        found: dict[int, Closure] = {}
        for start in numbers:
            members = 1 << start
            frontier = members
            while frontier:
                reached = 0
                rest = frontier
                while rest:
                    low = rest & -rest
                    reached |= conflicting[low.bit_length() - 1]
                    rest ^= low
                frontier = reached & present & ~members
                members |= frontier
            if members == present or members in found:
                continue
            actors = 0
            seen = 0
            for number in numbers:
                if members >> number & 1:
                    actors |= actor_bits[number]
                    seen |= visible_bits[number]
            found[members] = (actors, seen)
        return tuple(sorted(found.values(), key=lambda closure: closure[0].bit_count()))
