"""Interrupt context: a thread whose steps between ``op.interrupt`` and
``op.interrupt_return`` run as an interrupt handler, and the locks a thread
holds with interrupts disabled.

How CPUs are modelled.  Every thread runs on a CPU of its own, and there are
as many idle CPUs as a run needs.  When a handler starts it lands on one
CPU, one outcome each:

- an idle CPU: the handler runs alongside every thread (a device interrupt
  routed to another CPU), which gives every interleaving a model without
  interrupt context had;
- the CPU of a thread that has not returned, has interrupts enabled, is
  not already interrupted and holds a spinning lock (a spinlock, or a
  seqlock's write side).  That thread makes no progress until the handler
  returns: it waits for the handler (an edge of the waits-for graph), so a
  handler spinning on a lock the interrupted thread holds is a deadlock
  whose cycle is the two of them, lockdep's "inconsistent {IN-HARDIRQ-W}
  -> {HARDIRQ-ON-W} usage".

This is sound: the hardware may deliver the interrupt to a CPU whenever the
thread running there has interrupts enabled.  A thread that waits for a
sleeping lock is interrupted as it resumes, before its next step (the same
state); one spinning in ``spin_lock_irq()`` disabled interrupts first, but
the state is the one just before its attempt, when they were still on.
Landing on a thread only takes its steps away for a while, so the states it
reaches differ from those of an idle landing only by deadlocks: cycles
through the interrupted thread.  A handler may not sleep (its sleeping
waits are lock-protocol errors), so it waits only by spinning on a lock,
and a spinning holder holds a spinlock itself (sleeping there is an error
too): every such cycle ends at a thread that held a spinning lock when the
handler landed, which is why the other threads are not offered.  A thread
that never holds a spinning lock between two of its steps
(``Interrupts.landable``) is never offered, and when no thread may be,
``irq_enter()`` has one outcome and runs together with the handler's step
before it, as ``irq_exit()`` does.  It over-approximates: the CPUs are
unbounded (a machine with fewer CPUs than threads has fewer interleavings,
never more) and interrupt affinity is ignored.  A handler should choose
what to handle (``op.choose``) before ``op.interrupt``, as
``io_completion()`` does: a choice that waits is no sleeping wait, and
inside a handler it would hold its CPU while it waits.  Left out: nested
interrupts (handlers run with interrupts off, as Linux runs hard interrupt
handlers), softirq as a context of its own (a completion run from the block
softirq interrupts process context the same way), and
``local_irq_disable()`` without a lock.

A thread's interrupts are off while it holds a lock it took with them off
(``irq=True`` on the step, or a lock declared ``irqs_off``); the count lives
in a hidden slot per thread, made only when the scenario has a handler.  A
spinlock section (``op.section``) is one step, so nothing lands inside it;
in a scenario whose handler takes a lock of the same family, a section
taken with interrupts on becomes ``spin_lock``, the effect and
``spin_unlock`` (``split_unsafe_sections``), so the handler can land in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from mc.dsl.steps import (
    AssertHeldStep,
    Context,
    EffectStep,
    Fire,
    LockStep,
    Regions,
    Step,
    UnlockStep,
    disables_irqs,
)
from mc.dsl.wait_steps import SectionStep, TryLockStep
from mc.engine.model import Footprint
from mc.kernel.expr import LockExpr, State
from mc.kernel.locks import Kind, holds_test
from mc.kernel.world import DONE, ModelError, World
from mc.trace.events import Event

SPINNING = (Kind.SPINLOCK, Kind.SEQLOCK)
"""The kinds of lock a waiter spins on (a seqlock's writers do)."""

IDLE_CPU = -1
"""Where a handler runs when it interrupts no thread of the scenario."""

_RELEASING = (SectionStep, UnlockStep, AssertHeldStep)
"""Steps on a lock that leave their thread holding no lock it did not
hold before."""


class Interrupts:
    """The interrupt handlers of a world (the part ``interrupts``): for each
    handler thread the slot saying where it runs (None between handlers,
    ``IDLE_CPU``, or the thread it interrupted), and for every other thread
    the slot counting the locks it holds with interrupts off."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.landing: dict[int, int] = {}
        self.irqs_off: dict[int, int] = {}
        self.landable: frozenset[int] | None = None
        """The threads a handler may land on: those that may hold a
        spinning lock between two of their steps (``note_landable``);
        None until the programs are known (every thread may)."""

    def may_land_on(self, tid: int) -> bool:
        """Whether a handler may land on thread ``tid``'s CPU."""
        return tid in self.irqs_off and (self.landable is None or tid in self.landable)

    def idle_only(self) -> bool:
        """Whether every handler lands on an idle CPU: no thread ever holds
        a spinning lock between two of its steps."""
        return self.landable is not None and not self.landable

    def refuse_unpaired_irqs(self, programs: Mapping[int, Iterable[Step]]) -> None:
        """A ``ModelError`` when a thread releases a lock it takes itself as
        taken with interrupts off (``irq``, or as the lock is declared) and
        takes it only with them on, or the other way round: the count of
        locks held with interrupts off would enable them while another
        such lock is still held, or never."""
        names = self.world.thread_names
        for tid, steps in programs.items():
            taken: dict[str, set[bool]] = {}
            released: dict[str, list[tuple[bool, str]]] = {}
            for step in steps:
                lock = getattr(step, "lock", None)
                if not isinstance(lock, LockExpr) or lock.fixed is None:
                    continue
                off = disables_irqs(getattr(step, "irq", None), lock.fixed)
                if isinstance(step, LockStep | TryLockStep):
                    taken.setdefault(lock.fixed.name, set()).add(off)
                elif isinstance(step, UnlockStep):
                    released.setdefault(lock.fixed.name, []).append((off, step.label))
            for name, releases in released.items():
                for off, label in releases:
                    if name in taken and off not in taken[name]:
                        said, taken_so = ("off", "on") if off else ("on", "off")
                        raise ModelError(
                            f"{names[tid]} releases {name} at {label!r} as a lock taken with "
                            f"interrupts {said}, and takes it only with them {taken_so}: give "
                            "the release the irq= of the acquisition"
                        )

    def note_landable(self, programs: Mapping[int, Iterable[Step]]) -> None:
        """Record which threads of ``programs`` (by thread) may hold a
        spinning lock between two steps: one that holds one in the initial
        state, or has a step that takes a lock (not a section, which takes
        and releases it in one step) of a kind or family that may spin."""
        spinning = {lock.family for lock in self.world.locks if lock.kind in SPINNING}
        known = {lock.family for lock in self.world.locks}
        initial = self.world.initial
        holding = {
            tid
            for lock in self.world.locks
            if lock.kind in SPINNING
            for tid in programs
            if initial[lock.slot] is not None and holds_test(lock.kind, tid)(initial[lock.slot])
        }

        def may_spin(step: Step) -> bool:
            lock = getattr(step, "lock", None)
            if not isinstance(lock, LockExpr) or isinstance(step, _RELEASING):
                return False
            if lock.fixed is not None:
                return lock.fixed.kind in SPINNING
            return lock.family in spinning or lock.family not in known

        self.landable = frozenset(
            tid for tid, steps in programs.items() if tid in holding or any(map(may_spin, steps))
        )

    def add_handler(self, tid: int) -> int:
        """Make thread ``tid`` a handler; the slot of where it runs."""
        slot = self.landing.get(tid)
        if slot is None:
            names = self.world.thread_names
            slot = self.landing[tid] = self.world.add_slot(
                f"{names[tid]}.cpu", None, lambda cpu: render_cpu(names, cpu)
            )
        return slot

    def add_threads(self, tids: Iterable[int]) -> None:
        """The interrupts-off count of each thread ``tids`` names."""
        names = self.world.thread_names
        for tid in tids:
            if tid not in self.landing and tid not in self.irqs_off:
                self.irqs_off[tid] = self.world.add_slot(f"{names[tid]}.irqs_off", 0, hidden=True)

    def landing_mask(self) -> int:
        """The mask of the handlers' landing slots."""
        mask = 0
        for slot in self.landing.values():
            mask |= 1 << slot
        return mask


def render_cpu(names: Sequence[str], cpu: int | None) -> str:
    """Where a handler runs, as people read it."""
    if cpu is None:
        return "no handler running"
    if cpu == IDLE_CPU:
        return "an idle CPU"
    return f"{names[cpu]}'s CPU ({names[cpu]} interrupted)"


def interrupts(world: World) -> Interrupts:
    """The world's interrupt part, made on first use."""
    part = world.parts.get("interrupts")
    if part is None:
        part = world.parts["interrupts"] = Interrupts(world)
    assert isinstance(part, Interrupts)
    return part


def interrupts_of(world: World) -> Interrupts | None:
    """The world's interrupt part, or None when it has no handler."""
    part = world.parts.get("interrupts")
    return part if isinstance(part, Interrupts) and part.landing else None


@attrs.frozen(kw_only=True)
class InterruptStep(Step):
    """``irq_enter()``: the handler starts, on an idle CPU or on the CPU of
    a thread with interrupts enabled (one outcome each; see the module
    docstring)."""

    def compile(self, context: Context) -> Fire:
        part = interrupts(context.world)
        landing = part.landing[context.tid]
        next_pc = context.next_pc
        pcs = context.world.pc_slots
        spinning = [lock for lock in context.world.locks if lock.kind in SPINNING]
        targets = [
            (tid, pcs[tid], slot, [(lock.slot, holds_test(lock.kind, tid)) for lock in spinning])
            for tid, slot in sorted(part.irqs_off.items())
            if part.may_land_on(tid)
        ]
        others = [slot for tid, slot in part.landing.items() if tid != context.tid]

        def fire(state: State) -> tuple[State, ...]:
            busy = {state[slot] for slot in others}
            found = []
            for cpu in (IDLE_CPU, *(t[0] for t in targets if _open(state, *t, busy))):
                values = list(state)
                values[landing] = cpu
                found.append(context.advance(values, next_pc))
            return tuple(found)

        return fire

    def footprint(self, regions: Regions) -> Footprint:
        if regions.world is not None and interrupts(regions.world).idle_only():
            return Footprint(regions.own, regions.own | regions.interrupts)
        return Footprint(regions.shared | regions.own, regions.own | regions.interrupts)

    def local_in(self, world: World) -> bool:
        """Whether the step is local in ``world``: with no thread a handler
        may land on (``Interrupts.idle_only``) it has one outcome, an idle
        CPU, and marks where its own handler runs, which only its own steps
        read; like ``InterruptReturnStep`` it then runs together with the
        step before it (the handler's choice of what to handle)."""
        return self.local or interrupts(world).idle_only()

    def event(self, context: Context, before: State, after: State) -> Event:
        part = interrupts(context.world)
        cpu = after[part.landing[context.tid]]
        names = context.world.thread_names
        if cpu == IDLE_CPU:
            return Event("effect", "the interrupt lands on an idle CPU")
        return Event(
            "effect",
            f"the interrupt lands on {names[cpu]}'s CPU ({names[cpu]} has interrupts on): "
            f"{names[cpu]} stops until the handler returns",
        )


def _open(
    state: State,
    tid: int,
    pc: int,
    irqs_off: int,
    held: list[tuple[int, Callable[[Any], bool]]],
    busy: set[Any],
) -> bool:
    """Whether a handler may land on thread ``tid`` (see the module docstring)."""
    return (
        state[pc] != DONE
        and state[irqs_off] == 0
        and tid not in busy
        and any(holds(state[slot]) for slot, holds in held)
    )


@attrs.frozen(kw_only=True)
class InterruptReturnStep(Step):
    """``irq_exit()``: the handler returns; the thread it interrupted runs on.

    It runs together with the handler's step before it (``local``): between
    the two the interrupted thread is only not scheduled yet, which any
    interleaving after the return also allows, and the state between them
    has a step enabled, so it is no dead end either."""

    @property
    def local(self) -> bool:
        return True

    def compile(self, context: Context) -> Fire:
        landing = interrupts(context.world).landing[context.tid]
        next_pc = context.next_pc

        def fire(state: State) -> tuple[State, ...]:
            values = list(state)
            values[landing] = None
            return (context.advance(values, next_pc),)

        return fire

    def footprint(self, regions: Regions) -> Footprint:
        return Footprint(regions.own, regions.own | regions.interrupts)

    def event(self, context: Context, before: State, after: State) -> Event:
        cpu = before[interrupts(context.world).landing[context.tid]]
        if cpu is None or cpu == IDLE_CPU:
            return Event("effect", "the handler returns")
        name = context.world.thread_names[cpu]
        return Event("effect", f"the handler returns: {name} runs again")


def handler_families(steps: Iterable[Step]) -> set[str]:
    """The lock families the steps of a handler take."""
    families = set()
    for step in steps:
        lock = getattr(step, "lock", None)
        if isinstance(lock, LockExpr):
            families.add(lock.family)
    return families


def section_disables_irqs(step: SectionStep, world: World) -> bool:
    """Whether a section runs with interrupts off: its word, else every
    lock of its family is declared ``irqs_off``."""
    if step.irq is not None:
        return step.irq
    if step.lock.fixed is not None:
        return step.lock.fixed.irqs_off
    family = [lock for lock in world.locks if lock.family == step.lock.family]
    return bool(family) and all(lock.irqs_off for lock in family)


def split_unsafe_sections(step: Step, families: set[str], world: World) -> Sequence[Step]:
    """A section on a lock of ``families`` taken with interrupts on, as its
    three steps (an interrupt may land between them); any other step as is."""
    if (
        not isinstance(step, SectionStep)
        or step.lock.family not in families
        or section_disables_irqs(step, world)
    ):
        return (step,)
    common: dict[str, Any] = {"source": step.source, "tags": step.tags}
    return (
        LockStep(
            label=f"spin_lock({step.lock}) /* interrupts stay on */",
            lock=step.lock,
            irq=False,
            **common,
        ),
        EffectStep(
            label=step.label,
            effect=step.effect,
            args=step.args,
            result=step.result,
            kind=step.kind,
            sleeps=step.sleeps,
            names=step.names,
            touches=step.touches,
            **common,
        ),
        UnlockStep(label=f"spin_unlock({step.lock})", lock=step.lock, irq=False, **common),
    )
