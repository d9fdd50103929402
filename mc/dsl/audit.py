"""What steps actually read and write, against what their footprints say.

Partial-order reduction trusts the footprints (``Step.footprint``, the
resolvers of ``Step.resolver`` and the ``touches`` declarations of
effects): a footprint that leaves out a slot the step reads or writes
can make the reduction drop an interleaving that matters.  ``record``
runs a scenario's whole state graph without reduction with every step
watched: the slots it reads (by index from the state, or from the
values an effect changes through ``Scratch``) and those it changes.
``audit_footprints`` compares each run of each step with the footprint
the model gives that step in that state, before the program runs and
state by state, and lists every slot a footprint left out.

Two kinds of read are not counted, as the footprints do not count them:
of the error slot (a step that records an error ends the run), and of the
lock slots (steps read the locks to ask what their own thread holds,
which no other thread changes; a lock step writes the lock it takes or
releases, which its footprint must hold).  Reads of the thread's own
slots are not counted either (no other thread touches them); writes of
them are, since whether a register keeps its value decides how long a
resolved footprint stands.
"""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from mc.dsl.kernel_model import KernelModel, Reading
from mc.dsl.steps import Context, Source, slot_mask
from mc.engine.explore import Options, Search
from mc.engine.model import Footprint
from mc.kernel.locks import Kind
from mc.kernel.world import ERROR_SLOT, Scratch, asked_by_the_models
from mc.project import ROOT

Site = tuple[int, int]
"""A step of a thread: (thread, program counter)."""


class _WatchedValues(list):  # type: ignore[type-arg]
    """The values an effect changes (``Scratch.values``), noting the slots
    read from them: by index, or every one when something other than
    ``Context.advance`` (which makes the next state of them) goes through
    them all."""

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int):
            Reading.read |= 1 << index
        return list.__getitem__(self, index)

    def __iter__(self) -> Iterator[Any]:
        if sys._getframe(1).f_code is not Context.advance.__code__:
            Reading.read |= (1 << len(self)) - 1
        return list.__iter__(self)


def _watched_scratch(
    self: Scratch, world: Any, state: tuple[Any, ...], tid: int | None = None
) -> None:
    self.world = world
    self.values = _WatchedValues(tuple.__iter__(state))
    self.tid = tid


@contextmanager
def _watching_effects() -> Iterator[None]:
    plain = Scratch.__init__
    Scratch.__init__ = _watched_scratch  # type: ignore[method-assign]
    try:
        yield
    finally:
        Scratch.__init__ = plain  # type: ignore[method-assign]


@attrs.frozen
class Run:
    """One run of a step: the slots it read and those it changed, as masks."""

    site: Site
    reads: int
    writes: int


def record(
    model: KernelModel,
    each: Callable[[tuple[Any, ...], Run], None],
    max_states: int | None = None,
) -> None:
    """Explore ``model`` without reduction (at most ``max_states`` states),
    calling ``each(state, run)`` for every run of every step from every
    state."""
    fires = model._fires
    for tid, steps in enumerate(fires):
        for pc, fire in enumerate(steps):

            def watched(state: Any, fire: Any = fire, site: Site = (tid, pc)) -> Any:
                Reading.read = 0
                after = fire(Reading(state))
                reads = Reading.read
                for successor in after:
                    writes = 0
                    for slot, (old, new) in enumerate(zip(state, successor, strict=True)):
                        if old is not new and old != new:
                            writes |= 1 << slot
                    each(tuple(state), Run(site, reads, writes))
                return after

            steps[pc] = watched
    try:
        with _watching_effects():
            Search(model, Options(reduce=False, exact=True, max_states=max_states)).run()
    finally:
        for tid, thread in enumerate(model.threads):
            fires[tid][:] = [step.fire for step in thread.steps]


def record_footprints(model: KernelModel) -> tuple[dict[Site, int], dict[Site, int]]:
    """What each step read and wrote over the whole graph, by site."""
    reads: dict[Site, int] = defaultdict(int)
    writes: dict[Site, int] = defaultdict(int)

    def note(_state: tuple[Any, ...], run: Run) -> None:
        reads[run.site] |= run.reads
        writes[run.site] |= run.writes

    record(model, note)
    return reads, writes


def lock_slots(model: KernelModel) -> int:
    """Every lock slot but the bit locks', which steps read only to ask
    what their own thread holds."""
    return slot_mask(lock.slot for lock in model.world.locks if lock.kind is not Kind.BIT_LOCK)


def uncounted_reads(model: KernelModel, tid: int) -> int:
    """The reads the footprints leave out for thread ``tid``: the error
    slot, the thread's own slots and the lock slots (``lock_slots``; a
    lock step's own lock is in its footprint, and it writes it)."""
    return 1 << ERROR_SLOT | model.regions(tid).own | lock_slots(model)


def returned_read(model: KernelModel, tid: int, reads: int) -> int:
    """``reads`` of thread ``tid``'s step with each read of another thread's
    program counter taken as a read of that thread's returned location
    (what ``OTHERS_RETURNED`` names: the test ``pc == DONE``)."""
    base = len(model.world.slots)
    for other, thread in enumerate(model.threads):
        if other != tid and reads >> thread.slots.pc & 1:
            reads = reads & ~(1 << thread.slots.pc) | 1 << (base + other)
    return reads


def _slot_names(model: KernelModel) -> list[str]:
    """The slots' names, a name two slots share followed by the slot's
    number (``nlink(/d/b)#37``: a create's new inode at an existing path)."""
    names = [slot.name for slot in model.world.slots]
    counts = Counter(names)
    named = [f"{name}#{i}" if counts[name] > 1 else name for i, name in enumerate(names)]
    return [*named, *(f"returned({thread.name})" for thread in model.threads)]


def audit_footprints(
    model: KernelModel, limit: int = 20, max_states: int | None = None
) -> list[str]:
    """The slots footprints of ``model`` left out over its whole graph, at
    most ``limit`` of them, one line each: for each run of a step whose
    footprint is declared in terms of what it touches
    (``mc.kernel.world.touches``) or resolved from the state
    (``Step.resolver``), what it read or wrote beyond that footprint
    before the program runs and beyond the one the model gives it in the
    state it ran from (``KernelModel.pending``); for every step, a
    register of its thread it wrote that its footprint does not say
    (the model would take a resolved footprint to stand too long).  A run
    that records an error (the thread returning holding a lock, say) is
    not looked at: it halts every thread, and the reduction takes it as
    dependent on every step (``mc.engine.reduction``)."""
    static = model._footprints()
    uncounted = [uncounted_reads(model, tid) for tid in range(len(model.threads))]
    registers = [model.regions(tid).registers for tid in range(len(model.threads))]
    declared = {
        (tid, pc): bool(getattr(c.step, "touches", None))
        or c.step.resolver(c.context, model.regions(tid)) is not None
        for tid, thread in enumerate(model.threads)
        for pc, c in enumerate(thread.steps)
    }
    names = _slot_names(model)
    found: list[str] = []
    seen: set[tuple[Site, str, int]] = set()

    def report(site: Site, verb: str, left: int, what: str) -> None:
        key = (site, verb + what, left)
        if not left or key in seen or len(found) >= limit:
            return
        seen.add(key)
        tid, pc = site
        step = model.threads[tid].steps[pc].step
        slots = ", ".join(names[i] for i in range(len(names)) if left >> i & 1)
        found.append(
            f"{model.threads[tid].name} step {step.label!r} ({step.source}) {verb} "
            f"{slots}, which its {what} leaves out"
        )

    def outside(run: Run, footprint: Footprint, what: str) -> None:
        reads = returned_read(model, run.site[0], run.reads)
        report(run.site, "reads", reads & ~footprint.reads & ~uncounted[run.site[0]], what)
        report(run.site, "writes", run.writes & ~footprint.writes & ~(1 << ERROR_SLOT), what)

    def check(state: tuple[Any, ...], run: Run) -> None:
        if run.writes >> ERROR_SLOT & 1:
            return  # an erring step halts every thread: no footprint commutes with it
        tid, pc = run.site
        before = static[tid][pc].next
        if not declared[run.site]:
            report(run.site, "writes", run.writes & registers[tid] & ~before.writes, "footprint")
            return
        outside(run, before, "footprint")
        for pending in model.pending(state):
            if pending.actor == tid:
                outside(run, pending.next, "footprint in that state")

    record(model, check, max_states)
    return found


def _users(declared: Any, source: Source | None) -> bool:
    """Whether a step written at ``source`` with the ``touches``
    declaration ``declared`` is a user's: written in a user's file, or
    declared by anything but a function of the shipped models (a
    ``functools.partial``, a callable object)."""
    code = getattr(declared, "__code__", None)
    if code is None or not asked_by_the_models(code.co_filename) or source is None:
        return True
    written = Path(source.file) if os.path.isabs(source.file) else ROOT / source.file
    return not (written.exists() and asked_by_the_models(str(written)))


USERS_AUDIT_STATES = 20_000
"""How many states ``users_footprint_error`` explores at most."""


def users_footprint_error(model: KernelModel) -> str | None:
    """What a ``touches`` declaration of a user's file leaves out, as
    ``audit_footprints`` finds it over the first ``USERS_AUDIT_STATES``
    states, if the scenario has one: partial-order reduction trusts the
    declaration, so one that leaves out a read or a write would let it
    miss interleavings (the shipped models' declarations are audited by
    their tests)."""
    if not any(
        (declared := getattr(c.step, "touches", None)) is not None
        and _users(declared, c.step.source)
        for thread in model.threads
        for c in thread.steps
    ):
        return None
    found = audit_footprints(model, limit=1, max_states=USERS_AUDIT_STATES)
    return found[0] if found else None
