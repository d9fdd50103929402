"""The invariants checked on every stored state, with their answers
remembered by the part of the state they declare they read.

An invariant that declares what it reads (``Property.reads``) answers alike
on two states that agree on those locations: the declaration says so, and
``--audit-reads`` checks it state by state.  Only the declarations of
``Property.remembered`` invariants (vfsmc's own, audited by its tests) are
trusted so.  Kernel scenarios meet the same page cache, device and inode
sizes in many states that differ only in where the threads are and which
locks they hold, so the answer is looked up by that part
(``Model.part_read``) instead of worked out again.  Invariants with one
mask share one lookup; one that declares nothing or is not
``remembered``, or a model that cannot pick the part, is asked on every
state.  A lookup that rarely finds its answer is given up, and the
answers kept are bounded.  Whether every state had the same part
(``Invariants.unvaried``) is kept as well: such an invariant was checked
on one configuration of what it reads, which no step of the scenario
changed (a vacuous pass, as a property of a page cache nothing writes).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from mc.engine.model import Model, Property

S = TypeVar("S", bound=Hashable)

KEPT_ANSWERS = 1 << 15
"""The most answers one group of invariants keeps; it starts over past it."""
TRIAL_LOOKUPS = 4096
"""How many lookups a group makes before it judges whether remembering pays
(at its first miss from then on)."""
LEAST_FOUND = 0.5
"""The share of those lookups that must find their answer for the group to
go on remembering."""

Answers = tuple[str | None, ...]
UNSEEN = object()
VARIED = object()


class _Group(Generic[S]):
    """Invariants that read the same locations: their answers by the part
    of the state they read (``part``), or worked out each time."""

    def __init__(
        self,
        checks: Sequence[Callable[[S], str | None]],
        part: Callable[[S], Any] | None,
        watched: bool = True,
    ) -> None:
        self.checks = tuple(checks)
        self.part = part
        self.watched = watched
        """Whether to keep ``only``: not for invariants that read no
        location (the protocol errors steps record alone)."""
        self.known: dict[Any, Answers] = {}
        self.lookups = 0
        self.found = 0
        self.judged = False
        self.fine: Answers = (None,) * len(self.checks)
        """The answers of a state that breaks none of the invariants."""
        self.only: Any = UNSEEN
        """The one part of the state the invariants read, while every state
        asked about has had the same (``VARIED`` once two differed)."""
        self.last_key: Any = UNSEEN
        self.last_answers: Answers = self.fine
        """The part of the state asked about last and its answers: the
        successors of a state often agree on what the invariants read,
        and comparing their parts is cheaper than hashing one."""

    def answers(self, state: S) -> Answers:
        """Each invariant's answer on ``state``, in order."""
        part = self.part
        if part is None:
            return tuple([check(state) for check in self.checks])
        key = part(state)
        self.lookups += 1
        if key == self.last_key:
            self.found += 1
            return self.last_answers
        known = self.known.get(key)
        if known is not None:
            self.found += 1
            self.last_key, self.last_answers = key, known
            return known
        known = tuple([check(state) for check in self.checks])
        self.last_key, self.last_answers = key, known
        if self.watched and self.only is not VARIED:
            self.only = key if self.only is UNSEEN else VARIED
        if len(self.known) >= KEPT_ANSWERS:
            self.known.clear()
        self.known[key] = known
        if not self.judged and self.lookups >= TRIAL_LOOKUPS:
            self.judged = True
            if self.found < LEAST_FOUND * self.lookups:
                self.part = None
                self.known.clear()
        return known


class Invariants(Generic[S]):
    """The invariants a search checks on every stored state, in order."""

    def __init__(self, model: Model[S, Any], invariants: Sequence[Property[S]]) -> None:
        self.properties = tuple(invariants)
        by_reads: dict[int | None, list[int]] = {}
        for index, prop in enumerate(self.properties):
            by_reads.setdefault(prop.reads if prop.remembered else None, []).append(index)
        self._groups: list[_Group[S]] = []
        self._places: list[tuple[int, int]] = [(0, 0)] * len(self.properties)
        for reads, members in by_reads.items():
            part = None if reads is None else model.part_read(reads)
            for place, index in enumerate(members):
                self._places[index] = (len(self._groups), place)
            checks = [self.properties[i].check for i in members]
            self._groups.append(_Group(checks, part, watched=bool(reads)))

    def unvaried(self) -> dict[str, Hashable]:
        """The invariants that read the same part of every state they were
        asked about (a remembered declaration of what they read), each
        with that part: nothing the search did changed what they check."""
        found: dict[str, Hashable] = {}
        for prop, (group, _place) in zip(self.properties, self._places, strict=True):
            only = self._groups[group].only
            if only is not UNSEEN and only is not VARIED:
                found[prop.name] = only
        return found

    def varied(self) -> list[str]:
        """The invariants that read different parts of two states."""
        return [
            prop.name
            for prop, (group, _place) in zip(self.properties, self._places, strict=True)
            if self._groups[group].only is VARIED
        ]

    def violated(self, state: S) -> tuple[str, str] | None:
        """The first invariant ``state`` violates, as its name and message,
        or None."""
        groups = self._groups
        for at, asked in enumerate(groups):
            found = asked.answers(state)
            if found != asked.fine:
                answers = [before.fine for before in groups[:at]]
                answers.append(found)
                answers.extend(after.answers(state) for after in groups[at + 1 :])
                break
        else:
            return None
        for prop, (group, place) in zip(self.properties, self._places, strict=True):
            message = answers[group][place]
            if message is not None:
                return prop.name, message
        return None
