"""The mutants of mutation analysis (``mc.check.mutate``): one-step
changes of an operation's lock acquisitions, each a variant named
``mutant:KIND@OPERATION:FUNCTION:KERNEL-CODE`` (a swap names two sites
joined by `` + ``), so ``vfsmc check --variant`` and ``vfsmc replay``
accept it like any declared variant.  The name is made of the function
that takes the lock and its kernel code, never of a line number, so it
survives edits that move lines."""

from __future__ import annotations

import difflib
import enum

import attrs

from mc.dsl.kernel_model import KernelModel
from mc.dsl.operation import Invocation
from mc.dsl.program import Program
from mc.dsl.scenario import Registry, Variant
from mc.dsl.steps import WAIT_AS_LOCK, LockStep, Step
from mc.dsl.wait_steps import SectionStep, TryLockStep
from mc.kernel.locks import Mode
from mc.project import shown_source

PREFIX = "mutant:"
SWAPPED = " + "
"""Joins the two sites of a swap."""


class Kind(enum.Enum):
    """A kind of single-step protocol mutation."""

    DROP = "drop"
    WEAKEN = "weaken"
    SWAP = "swap"
    SPIN = "spin"


@attrs.frozen
class Mutation:
    """One mutation of ``operation``: ``sites`` name the step(s) it changes
    as ``site_names`` does, so the name survives edits that move lines."""

    kind: Kind
    operation: str
    sites: tuple[str, ...]
    label: str = attrs.field(default="", eq=False)
    """The kernel code of the step(s), for people."""
    lock: str = attrs.field(default="", eq=False)
    """The lock(s) as the scenario spells them."""

    @property
    def name(self) -> str:
        """The variant name of this mutation."""
        return f"{PREFIX}{self.kind.value}@{self.operation}:{SWAPPED.join(self.sites)}"

    source: str = attrs.field(default="", eq=False)
    """The model line(s) today, ``file:line`` or ``file:line+line``, for people."""
    families: tuple[str, ...] = attrs.field(default=(), eq=False)
    """The lock classes of a swap's two acquisitions, in the program's
    order (empty for other kinds, and for a mutation parsed from its name)."""

    def describe(self) -> str:
        """``drop rename 'mutex_lock(...)' (models/dirops.py:318)``; a
        mutation parsed from its name alone is described by its sites."""
        where = f" ({shown_source(self.source)})" if self.source else ""
        return (
            f"{self.kind.value} {self.operation} '{self.label or SWAPPED.join(self.sites)}'{where}"
        )

    def apply(self, program: Program) -> Program:
        """The mutated program."""
        names = site_names(program)

        tries = site_names(program, TryLockStep)

        def at(step: Step, site: str) -> bool:
            return isinstance(step, LockStep) and names.get(site_of(step)) == site

        def tried_at(step: Step, site: str) -> bool:
            return isinstance(step, TryLockStep) and tries.get(site_of(step)) == site

        if self.kind is Kind.SPIN:
            return program.spin(lambda step: tried_at(step, self.sites[0]))
        if self.kind is Kind.DROP:
            site = self.sites[0]
            return program.drop_acquisitions(lambda step: at(step, site) or tried_at(step, site))
        if self.kind is Kind.WEAKEN:
            return program.weaken(lambda step: at(step, self.sites[0]))
        for first, second in program.acquisitions_in_turn():
            if (names.get(site_of(first)), names.get(site_of(second))) == self.sites:
                program = program.move_before(second, first)
        return program

    def transform(self, program: Program, invocation: Invocation) -> Program:
        """The variant transform: mutate the programs of this operation.
        A dropped acquisition's hand-off becomes a hand-off-if-held, so in
        the other operations a take-over of a lock they never acquire (and
        its release) is made if-handed-off (if-held) too."""
        if invocation.operation.name != self.operation:
            if self.kind is Kind.DROP:
                return program.take_overs_if_handed_off()
            return program
        return self.apply(program)

    def variant(self) -> Variant:
        """This mutation as a variant."""
        return Variant(self.name, f"{self.describe()}", self.transform)


Site = tuple[str, str]
"""A lock acquisition's model line (``file:line``) and kernel code: the
steps one mutation changes together.  A helper that several call sites
give their own kernel code (``start_handle(op, label)``) makes a site of
each; one line run more than once with the same code (a body unrolled for
its pages) is one site."""


def site_of(step: Step) -> Site:
    """The site of ``step``."""
    return (str(step.source), step.label)


def site_names(
    program: Program, of: type[LockStep] | type[TryLockStep] = LockStep
) -> dict[Site, str]:
    """The name of each lock acquisition's site in ``program`` (of each
    trylock's, with ``of=TryLockStep``): the function that takes the lock
    and its kernel code
    (``lock_rename:inode_lock_nested(p1->d_inode, I_MUTEX_PARENT)``),
    numbered ``#2``, ``#3``... when two lines share both."""
    names: dict[Site, str] = {}
    seen: dict[str, int] = {}
    for item in program.items:
        if not isinstance(item, of) or site_of(item) in names:
            continue
        base = f"{item.source.function}:{item.label}"
        seen[base] = seen.get(base, 0) + 1
        names[site_of(item)] = base if seen[base] == 1 else f"{base}#{seen[base]}"
    return names


def parse(name: str) -> Mutation | None:
    """The mutation a variant name spells, or None."""
    if not name.startswith(PREFIX):
        return None
    kind_text, _, rest = name[len(PREFIX) :].partition("@")
    operation, _, where = rest.partition(":")
    try:
        kind = Kind(kind_text)
    except ValueError:
        return None
    sites = tuple(where.split(SWAPPED)) if kind is Kind.SWAP else (where,)
    if not operation or not all(sites) or len(sites) != (2 if kind is Kind.SWAP else 1):
        return None
    return Mutation(kind, operation, sites)


def resolve(_registry: Registry, name: str) -> Variant | None:
    """The variant a ``mutant:...`` name stands for (None for other names)."""
    mutation = parse(name)
    return None if mutation is None else mutation.variant()


def mutations(model: KernelModel) -> list[Mutation]:
    """Every single-step mutation of the programs of ``model``'s threads,
    in program order, one per operation and site (``Site``): each acquisition
    and trylock dropped (a trylock dropped always succeeds), an exclusive
    acquisition of a reader-writer lock weakened, two acquisitions in turn
    swapped, a trylock spun.  A trylock that already retries in place when
    its lock is busy is not spun.  Spinlock sections (``op.section``) are
    not mutated: a section is one step, so without its lock it would still
    run as one (``sections`` lists them)."""
    kinds = {lock.family: lock.kind for lock in model.world.locks}
    found: dict[Mutation, Mutation] = {}
    for thread in model.threads:
        operation = thread.invocation.operation.name
        items = thread.program.items
        names = site_names(thread.program)
        tries = site_names(thread.program, TryLockStep)
        spinning = {id(step) for step, index, fail in _indexed(thread.program) if fail == index}
        in_turn = {id(first): second for first, second in thread.program.acquisitions_in_turn()}
        for item in items:
            if isinstance(item, Step) and WAIT_AS_LOCK in item.tags:
                continue
            if isinstance(item, TryLockStep):
                site, lock, line = tries[site_of(item)], item.lock.text, str(item.source)
                kinds_here = (Kind.DROP,) if id(item) in spinning else (Kind.DROP, Kind.SPIN)
                for kind_here in kinds_here:
                    tried = Mutation(kind_here, operation, (site,), item.label, lock, line)
                    found.setdefault(tried, tried)
            if not isinstance(item, LockStep):
                continue
            site, lock, line = names[site_of(item)], item.lock.text, str(item.source)
            candidates = [Mutation(Kind.DROP, operation, (site,), item.label, lock, line)]
            kind = kinds.get(item.lock.family)
            if item.mode is Mode.EXCL and kind is not None and kind.shared_mode:
                candidates.append(Mutation(Kind.WEAKEN, operation, (site,), item.label, lock, line))
            after = in_turn.get(id(item))
            if after is not None:
                candidates.append(
                    Mutation(
                        Kind.SWAP,
                        operation,
                        (site, names[site_of(after)]),
                        f"{item.label}; {after.label}",
                        f"{lock}, {after.lock.text}",
                        f"{line}+{after.source.line}"
                        if after.source.file == item.source.file
                        else f"{line}+{after.source}",
                        (item.lock.family, after.lock.family),
                    )
                )
            for mutation in candidates:
                found.setdefault(mutation, mutation)
    return list(found.values())


def _indexed(program: Program) -> list[tuple[Step, int, int | None]]:
    """Each step of ``program`` with its index and its jump target's."""
    return [(step, index, fail) for index, (step, _next, fail) in enumerate(program.link())]


def closest(model: KernelModel, name: str) -> str | None:
    """The mutant of ``model``'s programs whose name is closest to ``name``
    (a ``mutant:`` name that changes nothing in it), if one is close."""
    found = difflib.get_close_matches(name, [m.name for m in mutations(model)], n=1, cutoff=0.6)
    return found[0] if found else None


def sections(model: KernelModel) -> list[str]:
    """The spinlock sections (``op.section``) of ``model``'s programs and
    the lock steps that stand for waits (tagged ``WAIT_AS_LOCK``), one per
    operation and model line, as ``operation 'label' [lock] (line)``:
    mutation analysis leaves them as they are (``mutations``)."""
    found: dict[tuple[str, str], str] = {}
    for thread in model.threads:
        operation = thread.invocation.operation.name
        for step in thread.program.steps:
            if isinstance(step, SectionStep) or (
                isinstance(step, LockStep) and WAIT_AS_LOCK in step.tags
            ):
                key = (operation, str(step.source))
                found.setdefault(
                    key, f"{operation} '{step.label}' [{step.lock.text}] ({step.source})"
                )
    return list(found.values())
