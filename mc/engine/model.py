"""The interface between the explorer and whatever it explores.

A model is a transition system: initial states, the actions enabled in a
state (in a deterministic order) and the state each action leads to, plus
named properties.  The explorer knows nothing else about it; Peterson's
algorithm and the VFS locking protocol are models alike.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from mc.project import defined_at, shipped_code

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")
M = TypeVar("M", contravariant=True)
N = TypeVar("N")


class PropertyKind(enum.Enum):
    """How the explorer evaluates a property."""

    ALWAYS = "always"
    """An invariant, checked on every reachable state."""
    DEADLOCK_FREE = "deadlock-free"
    """Checked on every state with no enabled action; the check tells an
    ordinary end from a deadlock."""
    SOMETIMES = "sometimes"
    """Must hold on at least one reachable state; checked once the search is
    exhaustive, so a vacuous scenario cannot pass silently."""
    CAN_END = "can-end"
    """From every reachable state some state without enabled actions is
    reachable: decided once the search is exhaustive, from the graph it
    explored (``mc.engine.endings``); the check is called on a state from
    which none is, and says what its actors do there (None: the explorer
    says it)."""


Check = Callable[[S], "str | None"]


@attrs.frozen(cache_hash=True)
class Footprint:
    """The locations a step may read and write, as bit masks over location
    numbers of the model's choosing (a model numbers, say, the fields of its
    state vector).  Two steps whose footprints do not conflict commute and
    neither enables nor disables the other."""

    reads: int = 0
    writes: int = 0

    def conflicts(self, other: Footprint) -> bool:
        """Whether one writes what the other reads or writes."""
        return bool(self.writes & (other.reads | other.writes) or other.writes & self.reads)

    def __or__(self, other: Footprint) -> Footprint:
        return Footprint(self.reads | other.reads, self.writes | other.writes)


@attrs.frozen(cache_hash=True)
class Pending:
    """What one actor may still do from a state, for partial-order
    reduction: ``next`` covers every action it has enabled now, ``rest``
    everything it may do from now on (``next`` included), enabled or not."""

    actor: Hashable
    next: Footprint
    rest: Footprint
    blocks: int = 0
    """Tokens no other actor can hold while this one stays where it is (a
    lock it holds, ``mc.dsl.guards``)."""
    guarded: tuple[tuple[int, Footprint], ...] = ()
    """Parts of ``rest``: the footprint of the steps the actor takes only
    while it holds every token of a mask, by mask."""
    unguarded: Footprint | None = None
    """``rest`` less the ``guarded`` parts (None: all of ``rest``)."""

    def reached_by(self, other: Pending) -> bool:
        """Whether ``other``'s next step conflicts with what this actor may
        do while ``other`` stays where it is: with ``rest``, less the
        guarded steps of a token ``other`` blocks, which this actor cannot
        take before ``other`` moves."""
        if not (other.blocks and self.guarded):
            return other.next.conflicts(self.rest)
        assert self.unguarded is not None
        if other.next.conflicts(self.unguarded):
            return True
        return any(
            other.next.conflicts(part) for guard, part in self.guarded if not guard & other.blocks
        )


@attrs.frozen
class Property(Generic[S]):
    """A named property: ``check(state)`` returns None when the state is
    fine, else a one-line description of what is wrong (for ``ALWAYS`` and
    ``DEADLOCK_FREE``) or of what was reached (for ``SOMETIMES``, where a
    non-None answer means the goal is reached).

    ``reads`` is the mask of the locations ``check`` depends on (None when
    not declared: then every action is visible to it and partial-order
    reduction keeps every interleaving).  ``terminal`` says the check is
    evaluated only on states without enabled actions (an end or a
    deadlock), and only where the model has not halted, but for a deadlock
    check that reads no location (``evaluated_at_dead_end``): the
    explorers call it nowhere else, and the reduction reaches every such
    state, so it makes no action visible."""

    name: str
    kind: PropertyKind
    check: Check[S] = attrs.field(eq=False)
    description: str = ""
    reads: int | None = None
    terminal: bool = False
    remembered: bool = False
    """Whether the search may answer the check from memory by what it
    reads (``mc.engine.invariants``): for the properties shipped with
    vfsmc, whose ``reads`` its tests audit; a property of a user's file
    is asked on every state, so a declaration that leaves a location out
    misleads the reduction only (``--audit-reads`` finds it)."""

    @property
    def on_every_state(self) -> bool:
        """Whether the check is evaluated on every state (not only at dead
        ends), so what it reads makes actions visible to it."""
        return not self.terminal and self.kind in (PropertyKind.ALWAYS, PropertyKind.SOMETIMES)

    def evaluated_at_dead_end(self, halted: bool) -> bool:
        """Whether the check is evaluated on a state without enabled
        actions, ``halted`` or not: where no actor erred (``Model.halted``)
        a deadlock check and a ``terminal`` invariant or goal; where one
        erred, only a deadlock check that reads no location (``reads``
        0: the error alone, as a kernel model's ``deadlock`` reads it to
        report a thread that took a sleeping lock it holds).  Partial-order
        reduction reaches each erring step, but not in every state of the
        other actors."""
        if halted:
            return self.kind is PropertyKind.DEADLOCK_FREE and self.reads == 0
        return self.terminal or self.kind is PropertyKind.DEADLOCK_FREE

    @property
    def failed_at_dead_ends(self) -> bool:
        """Whether a message of the check on a state without enabled actions
        is a violation, and the check is evaluated nowhere else."""
        return self.kind is PropertyKind.DEADLOCK_FREE or (
            self.kind is PropertyKind.ALWAYS and self.terminal
        )


def always(
    name: str,
    check: Check[S],
    description: str = "",
    reads: int | None = None,
    remembered: bool = False,
) -> Property[S]:
    """An invariant: ``check`` returns a message on a state that breaks it."""
    return Property(name, PropertyKind.ALWAYS, check, description, reads, remembered=remembered)


def deadlock_free(
    name: str, explain: Check[S], description: str = "", reads: int | None = None
) -> Property[S]:
    """No reachable state without enabled actions is a deadlock: ``explain``
    is called on such states and returns a message when it is one.
    ``reads`` None (the default, or the mask of what it reads): it is
    called only where the model did not halt; 0: on a state where the
    model halted, ``explain`` reads only what halted it, and is called
    there too (see ``Property.evaluated_at_dead_end``: partial-order
    reduction reaches a halted state once for each step that halts, not
    with the other actors wherever they may be, so a check that reads more
    there would answer differently with and without it)."""
    return Property(name, PropertyKind.DEADLOCK_FREE, explain, description, reads, True)


def sometimes(
    name: str,
    reached: Check[S],
    description: str = "",
    reads: int | None = None,
    terminal: bool = False,
) -> Property[S]:
    """Some reachable state satisfies ``reached`` (which returns a message
    naming what was reached, or None)."""
    return Property(name, PropertyKind.SOMETIMES, reached, description, reads, terminal)


def can_end(name: str, explain: Check[S], description: str = "") -> Property[S]:
    """From every reachable state some state without enabled actions (an
    end, a deadlock, a halt) is reachable: ``explain`` is called on a
    state from which none is and says what its actors do there."""
    return Property(name, PropertyKind.CAN_END, explain, description, 0)


Locate = Callable[[Sequence[str]], int]
"""How a model turns the names of what a property reads into a mask of its
locations (a name it does not know reads nothing)."""
Misnamed = Callable[[str], str | None]
"""Why a name that locates nothing cannot be meant (a typo of one that
does, a slot of a family the model has but no slot of it), or None when
it may name what this model lacks."""

Reads = tuple[str, ...] | Callable[[Any], Sequence[str]]
"""What a property declares it reads: names, or a function of the built
model giving them (for a check that reads some objects of a family and
not others, which only the model's objects tell apart)."""


def declared_reads(
    name: str,
    reads: Sequence[str] | Callable[[Any], Sequence[str]] | None,
    checker: Callable[..., object],
) -> Reads | None:
    """A ``reads=`` argument of the property ``name`` made by ``checker``
    as ``PropertyDef`` keeps it (``DeclarationError``, naming where
    ``checker`` is defined, when it is neither a list of names nor a
    function)."""
    if reads is None or callable(reads):
        return reads
    return names_of(reads, f"{defined_at(checker)}: property {name}: reads=")


class DeclarationError(ValueError):
    """A property's declaration that cannot be right (its message names
    the property and what is wrong)."""


def names_of(names: object, what: str) -> tuple[str, ...]:
    """``names`` as a tuple of names, when it is a list or tuple of
    strings; else ``DeclarationError`` saying what ``what`` gave."""
    if isinstance(names, (list, tuple)) and all(isinstance(name, str) for name in names):
        return tuple(names)
    raise DeclarationError(
        f"{what} gave {names!r}: it must give a list of slot names, such as ['dentry']"
    )


@attrs.frozen
class PropertyDef(Generic[S, M]):
    """A property as scenarios name it: its name, what it checks and how it
    is evaluated, with ``checker``, which makes the check of one built model
    (``checker(model)`` returns a ``Check``).

    ``reads`` names what the check reads, in the terms of the models it is
    made for (a kernel model names slot families: ``("dentry", "nlink")``),
    or is a function of the built model that names it (only the model
    tells which slots a check of some of a family's objects reads; each
    name it gives must be some location of the model, where a fixed name
    may be of a family a model lacks); None when not declared, which
    turns partial-order reduction off for every run that checks the
    property.  ``terminal``: the check is evaluated only on states without
    enabled actions (see ``Property``).  ``needs`` says what a model must
    have for the check to see anything: the name of a part of the model and
    the same in words (``("device", "a block device")``); None when any
    model will do."""

    name: str
    description: str
    kind: PropertyKind
    checker: Callable[[M], Check[S]] = attrs.field(eq=False)
    reads: Reads | None = None
    terminal: bool = False
    needs: tuple[str, str] | None = None

    def make(
        self, model: M, locate: Locate | None = None, misnamed: Misnamed | None = None
    ) -> Property[S]:
        """The property of ``model``; ``locate`` resolves ``reads`` (without
        it the reads are undeclared), and ``misnamed`` says why a fixed
        name that locates nothing cannot be meant (``DeclarationError``)."""
        reads = None
        if callable(self.reads):
            names = names_of(self.reads(model), f"{self._declared_at}: its reads= function")
            if locate is not None:
                reads = locate(names)
                self._located(names, locate, misnamed, "its reads= function names", True)
        elif self.reads is not None and locate is not None:
            reads = locate(self.reads)
            if not shipped_code(self.checker):
                self._located(self.reads, locate, misnamed, "reads= names", False)
        terminal = self.terminal or self.kind is PropertyKind.DEADLOCK_FREE
        check = self.checker(model)
        remembered = shipped_code(self.checker)
        return Property(self.name, self.kind, check, self.description, reads, terminal, remembered)

    def _located(
        self,
        names: Sequence[str],
        locate: Locate,
        misnamed: Misnamed | None,
        what: str,
        every: bool,
    ) -> None:
        """``DeclarationError`` for a name that locates nothing and cannot
        be meant (``misnamed``), or, when ``every`` name must locate
        something, for any that locates nothing (``error`` aside, which
        names no location)."""
        for name in names:
            if name == "error" or locate([name]):
                continue
            problem = None if misnamed is None else misnamed(name)
            if problem is None and every:
                problem = "which is no slot of this scenario"
            if problem is not None:
                raise DeclarationError(f"{self._declared_at}: {what} {name!r}, {problem}")

    @property
    def _declared_at(self) -> str:
        """The property, where its checker is defined, for messages."""
        return f"{defined_at(self.checker)}: property {self.name}"


def declare(
    name: str,
    description: str,
    kind: PropertyKind = PropertyKind.ALWAYS,
    *,
    reads: Sequence[str] | Callable[[Any], Sequence[str]] | None = None,
    terminal: bool = False,
    needs: tuple[str, str] | None = None,
) -> Callable[[Callable[[N], Check[S]]], PropertyDef[S, N]]:
    """Declare a property on the function that makes its check for a
    model: ``@declare("mutex", "at most one thread in the section",
    reads=["section"])``.  ``reads`` names what the check reads, or is a
    function of the model naming it (see ``PropertyDef``); ``terminal``
    evaluates it only where no action is enabled; ``needs`` is what a model
    must have for it (see ``PropertyDef``)."""

    def wrap(checker: Callable[[N], Check[S]]) -> PropertyDef[S, N]:
        return PropertyDef(
            name, description, kind, checker, declared_reads(name, reads, checker), terminal, needs
        )

    return wrap


class Model(ABC, Generic[S, A]):
    """A finite transition system the explorer can search.

    Subclasses give ``init_states`` and ``successors``, what the explorer
    calls; they may override ``actor`` to let breadth-first search prefer
    traces with fewer context switches among those of equal length.
    """

    @abstractmethod
    def init_states(self) -> Sequence[S]:
        """The initial states, in a deterministic order."""

    @abstractmethod
    def successors(self, state: S) -> Sequence[tuple[A, S]]:
        """Each action enabled in ``state`` with the state it leads to, in a
        deterministic order."""

    def properties(self) -> Sequence[Property[S]]:
        """The properties to check."""
        return ()

    def actor(self, action: A) -> Hashable | None:
        """Who performs ``action`` (a thread, a process), or None when the
        model does not say."""
        return None

    def describe_action(self, action: A) -> str:
        """A short human-readable name for ``action``."""
        return str(action)

    def pending(self, state: S) -> Sequence[Pending] | None:
        """For partial-order reduction: the footprints of every actor that
        may still act from ``state`` (``actor`` naming it as ``actor()``
        names the actions), or None when the model declares none (then
        every interleaving is explored).  Footprints must over-approximate:
        an action may touch only what its actor's ``next`` lists, and no
        actor missing from the list may act again."""
        return None

    def may_close_cycle(self, state: S, actor: Hashable, after: S) -> bool:
        """Whether ``actor``'s action from ``state`` to ``after`` may lie on a
        cycle of the state graph.  Partial-order reduction explores a state
        through an ample set only when none of its actions may (its cycle
        proviso), so the model must answer True for at least one action of
        every cycle; a model whose actors move through programs can answer
        False for an action that moves its actor forward where no path of
        its program leads back.  The default, True for every action, leaves
        no state reduced."""
        return True

    def may_cycle(self) -> bool:
        """Whether the state graph may hold a cycle.  False only where every
        path is finite (a model whose actors only move forward through
        acyclic programs), so every state can end and a ``CAN_END``
        property holds without the search keeping the graph's edges.  The
        default, True, keeps them."""
        return True

    def successors_of(self, state: S, actor: Hashable) -> Sequence[tuple[A, S]]:
        """The actions ``actor`` (as ``pending(state)`` names it) has enabled
        in ``state`` with the states they lead to, in the order
        ``successors`` lists them; ``successors(state)`` is these lists
        over the actors of ``pending(state)``, in that order.  A model that
        gives them (and ``pending`` for every state) lets partial-order
        reduction compute only the actions of the actors it explores."""
        raise NotImplementedError

    def surely_enabled(self, state: S, actor: Hashable) -> bool:
        """Whether ``actor`` (as ``pending(state)`` names it) certainly has
        an action enabled in ``state``, known without computing its
        actions: True only where ``successors_of(state, actor)`` is not
        empty; False where the model cannot tell so cheaply.  Partial-order
        reduction asks it of the actors outside a set it would explore
        alone (such a set reduces something only when one of them can act)."""
        return False

    def affinity(self) -> Callable[[S], Hashable] | None:
        """The part of a state that decides which worker of a parallel
        search owns it, or None for the whole state.  States alike in it
        go to one worker, which then works out once what depends on it
        alone (a kernel model's program counters decide the footprints,
        hence the candidate ample sets, whose memory each worker keeps);
        it should still spread the states of a level evenly."""
        return None

    def project(self, state: S, initial: S, reads: int) -> S | None:
        """``state`` with every location outside the mask ``reads`` set to
        its value in ``initial`` (to audit what properties declare they
        read), or None when the model has no locations."""
        return None

    def part_read(self, reads: int) -> Callable[[S], Hashable] | None:
        """A function giving the part of a state the locations in the mask
        ``reads`` (those of ``project``) decide: two states it gives equal
        parts of agree on each of those locations, and on whatever every
        property reads besides what it declares (an error the model
        records).  None (the default): the model cannot tell, and
        properties are asked on every state."""
        return None

    def location_name(self, index: int) -> str:
        """What the location ``index`` of ``project`` is called."""
        return f"location {index}"

    def stored_by_fingerprint(self, fingerprinted: bool) -> None:
        """A search is about to keep this model's states as 64-bit
        fingerprints (or, not ``fingerprinted``, in full): a model whose
        states may hold what Python's hash does not tell apart refuses so
        (a ``ModelError``) rather than have two states taken as one."""

    def halted(self, state: S) -> bool:
        """Whether ``state`` stops every actor at once (a model that ends
        the run on an error it records); an action that leads to such a
        state disables every other actor, so the reduction never explores
        it alone."""
        return False

    def statistics(self, states: Sequence[S]) -> dict[str, int]:
        """Figures of the model's own about a finished search over the
        stored ``states`` (reported next to the explorer's)."""
        return {}

    def combine_statistics(self, parts: Sequence[dict[str, int]]) -> dict[str, int]:
        """The figures of a search whose states were split among workers,
        from each worker's ``statistics`` of its own: those that add up
        (counts of states, of calls each worker made), and none that do not
        (a count of distinct values two workers may both have met).  The
        default adds up every figure."""
        combined: dict[str, int] = {}
        for part in parts:
            for name, value in part.items():
                combined[name] = combined.get(name, 0) + value
        return combined
