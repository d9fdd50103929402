"""Partial-order reduction: which of a state's enabled actions to explore.

The reduction is the persistent-set (ample-set) method with one actor's
actions as the candidate set, after Godefroid (*Partial-Order Methods for
the Verification of Concurrent Systems*, LNCS 1032, 1996) and Clarke,
Grumberg and Peled (*Model Checking*, 1999, chapter 10: conditions C0-C3).
From a state ``s`` the search may explore only the actions ``A`` of one
actor ``p`` when:

- C0: ``A`` is not empty (``p`` has an enabled action), so a state without
  enabled actions is never reduced and every deadlock and every terminal
  state of the full graph is reached (Godefroid, theorem on persistent sets
  and deadlocks).
- C1 (persistence): ``A`` is every action ``p`` has enabled in ``s``, and
  ``p``'s next step conflicts with nothing any other actor may still do:
  ``next(p)`` writes nothing in ``rest(q)`` and reads nothing ``rest(q)``
  writes, for every other ``q``.  Then no action of another actor, on any
  path from ``s``, is dependent on ``A`` (disjoint footprints commute and
  cannot enable or disable each other), and ``p`` itself can only move by
  one of ``A``.  ``rest(q)`` covers ``q``'s disabled steps too.
- C2 (invisibility): ``next(p)`` writes nothing a checked property reads,
  so properties see the same sequence of values on the reduced paths;
  properties that only hold on terminal states (deadlock, completion)
  need no visibility, since C0 and C1 preserve terminal states.  What a
  property reads is its own declaration (``Property.reads``, from
  ``declare(..., reads=...)``); a property without one makes every action
  visible, so nothing is reduced (Peled, *All from one, one for all: on
  model checking using representatives*, CAV 1993: the visible actions are
  those that may change a proposition the specification mentions, and
  over-approximating them is always sound).  A property declared
  ``terminal`` is evaluated by the explorers only on states without
  enabled actions, so the declaration cannot be wrong in a way that
  matters here.
- C3 (cycle proviso): no cycle of the reduced graph is closed by reduced
  states only.  The search reduces ``s`` only when every state ``A`` leads
  to is new, or (breadth-first) stored after ``s``: states are expanded in
  storage order there, so along a cycle of reduced states the storage
  order would increase all the way round, which it cannot.  Otherwise
  ``s`` is fully expanded.

An action that leads to a state where the model halts every actor (an
error it records) disables every other actor: a candidate with such an
action is never taken, so an erring step is explored only with all its
alternatives, while the errors of the other actors' steps, which commute
with the candidate's, are still reached after it.

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

With C0-C3 the reduced graph is stuttering-equivalent to the full one for
the visible properties (Clarke, Grumberg and Peled, chapter 10), so an
invariant is violated in the reduced graph exactly when it is violated in
the full graph, and every terminal state (deadlock or normal end) of the
full graph is reached.  A model's own error states (a step that detects a
protocol error and stops the run) are local assertions of the actor that
takes that step: their reachability is preserved by persistent sets with
the cycle proviso, since the erring step commutes with every step of the
other actors (Godefroid: with the cycle proviso, persistent-set search
reaches every local state the full search reaches).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from mc.engine.model import Model, Pending, Property, PropertyKind


class Reduction:
    """The ample-set choice for one model and its checked properties."""

    def __init__(self, model: Model[Any, Any], properties: Sequence[Property[Any]]) -> None:
        self.model = model
        visible = 0
        everything = False
        for prop in properties:
            if prop.terminal or prop.kind is PropertyKind.DEADLOCK_FREE:
                continue
            if prop.reads is None:
                everything = True
            else:
                visible |= prop.reads
        self.visible = visible
        self.active = not everything
        """False when some property does not say what it reads: then every
        action is visible and nothing is reduced."""
        self.independent: dict[tuple[Pending, ...], list[Hashable]] = {}
        """The actors passing C1 and C2, by what every actor may still do."""

    def candidates(self, state: Any, actors: Sequence[Hashable]) -> Iterator[list[int]]:
        """Ample sets for ``state`` whose enabled actions are performed by
        ``actors`` (in order), as positions among them, best first; none
        when the state must be fully expanded.  The cycle proviso is the
        caller's."""
        if not self.active or len(actors) < 2:
            return
        pending: Sequence[Pending] | None = self.model.pending(state)
        if pending is None:
            return
        key = tuple(pending)
        independent = self.independent.get(key)
        if independent is None:
            independent = self.independent[key] = self._independent(pending)
        if not independent:
            return
        groups: dict[Hashable, list[int]] = {}
        for move, who in enumerate(actors):
            groups.setdefault(who, []).append(move)
        if len(groups) < 2:
            return
        for actor in independent:
            moves = groups.get(actor)
            if moves:
                yield moves

    def _independent(self, pending: Sequence[Pending]) -> list[Hashable]:
        """The actors whose next step is invisible and conflicts with
        nothing the others may still do (C1 and C2), in order."""
        visible = self.visible
        return [
            p.actor
            for p in pending
            if not p.next.writes & visible
            and not any(p.next.conflicts(q.rest) for q in pending if q is not p)
        ]
