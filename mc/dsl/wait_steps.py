"""Steps that wait on conditions rather than locks: waiting for a bit to
clear (``folio_wait_writeback``), picking one of several things that may
happen next (which bio the device completes), short spinlock sections,
``trylock``, a checked release, and the entry into a filesystem method
whose body follows as the callee's own steps.  ``Op`` emits them
(``op.wait_until``, ``op.choose``, ``op.section``, ``op.trylock``,
``op.unlock_checked``, ``op.enter``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from mc.dsl.steps import (
    CallStep,
    Context,
    EffectStep,
    Fire,
    Regions,
    Resolver,
    Step,
    UnlockStep,
    Wait,
    _checked_condition,
    _checked_mode,
    acquisition_guard_reads,
    disables_irqs,
    guarded_acquisition,
    lock_resolver,
    moving_fire,
    never_blocks,
    of_nothing,
)
from mc.engine.model import Footprint
from mc.kernel import locks
from mc.kernel.expr import Expr, LockExpr, State
from mc.kernel.locks import Lock, Mode, Outcome
from mc.kernel.world import DONE, LOCK_PROTOCOL, World, is_wide, wide_refused
from mc.trace.events import Event

Holders = Callable[[State], tuple[int, ...]]


@attrs.frozen(kw_only=True)
class WaitStep(Step):
    """Sleep until ``cond`` holds (``wait_on_bit``, ``wait_event``): disabled
    while it does not.  Waiting may sleep, so it is an error in atomic
    context even when the condition already holds (``might_sleep()``)."""

    cond: Expr = attrs.field(validator=_checked_condition)
    resource: str
    holders: Holders | None = attrs.field(default=None, eq=False)
    """Who must act before the condition can hold (for waits-for graphs)."""
    woken_by_holders: bool = False
    """The holders are the wakers, so a wait whose holders are all gone is a
    lost wake-up (reported so, not as a wait for them).  The wait itself
    ends wherever ``cond`` holds (``op.wait_until``)."""
    unheld: Callable[[World], str] | None = attrs.field(default=None, eq=False)
    """What the scenario lacks when no thread could end the wait (the
    thread that completes bios), if the world says so."""

    def compile(self, context: Context) -> Fire:
        cond = self.cond.compile(context.world)
        next_pc = context.next_pc

        def fire(state: State) -> tuple[State, ...]:
            forbidden = context.sleep_check(state, self.label)
            if forbidden is not None:
                return (forbidden,)
            if not cond(state):
                return ()
            return (context.advance(list(state), next_pc),)

        return fire

    def event(self, context: Context, before: State, after: State) -> Event:
        if after[0] is not None and before[0] is None:
            return Event("error", self.label)
        return Event("effect", self.label)

    def footprint(self, regions: Regions) -> Footprint:
        return Footprint(regions.read(self.cond), regions.own)

    def waiting(self, context: Context, state: State) -> Wait | None:
        holders = self.holders(state) if self.holders is not None else ()
        others = tuple(t for t in holders if t != context.tid)
        unheld = "" if others or self.unheld is None else self.unheld(context.world)
        return Wait(self.resource, others, self.woken_by_holders and not others, unheld)


@attrs.frozen(kw_only=True)
class ChooseStep(Step):
    """Store one of the values ``values`` yields into register ``result``:
    one outcome per value, in order; disabled while there is none."""

    values: Expr
    result: int
    resource: str = "something to happen"

    def compile(self, context: Context) -> Fire:
        world = context.world
        values = self.values.compile(world)
        result, next_pc = self.result, context.next_pc

        def fire(state: State) -> tuple[State, ...]:
            outcomes = []
            for value in values(state):
                changed = list(state)
                if world.fingerprinted and is_wide(value):
                    raise wide_refused(value, world.slots[result].name)
                changed[result] = value
                outcomes.append(context.advance(changed, next_pc))
            return tuple(outcomes)

        return fire

    def footprint(self, regions: Regions) -> Footprint:
        return Footprint(regions.read(self.values), regions.own | 1 << self.result)

    def event(self, context: Context, before: State, after: State) -> Event:
        slot = context.world.slots[self.result]
        return Event("assign", f"{slot.name} = {slot.render(after[self.result])}")

    def waiting(self, context: Context, state: State) -> Wait | None:
        """Any thread still running could make something happen."""
        running = tuple(
            tid
            for tid, pc in enumerate(context.world.pc_slots)
            if tid != context.tid and state[pc] != DONE
        )
        return Wait(self.resource, running, held=False)


@attrs.frozen(kw_only=True)
class SectionStep(EffectStep):
    """``spin_lock(lock); <effect>; spin_unlock(lock)`` as one step: a
    spinlock section whose body neither sleeps nor blocks can be observed
    midway only by lockless readers, which see its result either way.
    Disabled while another thread holds ``lock``; taking it while holding
    it is the self-deadlock lockdep reports.  ``irq``: the section runs
    with interrupts off (``spin_lock_irq``), or not; None: as the lock is
    declared.  Nothing lands inside one step; in a scenario whose interrupt
    handler takes a lock of the family, a section with interrupts on runs
    as three steps (``mc.dsl.interrupts.split_unsafe_sections``)."""

    lock: LockExpr
    irq: bool | None = None

    def footprint(self, regions: Regions) -> Footprint:
        guarded = Footprint(acquisition_guard_reads(regions, self.lock), 0)
        return super().footprint(regions) | regions.lock(self.lock) | guarded

    def compile(self, context: Context) -> Fire:
        return guarded_acquisition(context, self.lock, self._compile(context), "takes", self.label)

    def _compile(self, context: Context) -> Fire:
        run = super().compile(context)
        lock_of = self.lock.compile(context.world)
        tid, name = context.tid, context.thread.name

        def fire(state: State) -> tuple[State, ...]:
            lock = lock_of(state)
            if lock is None:
                return (context.error(state, LOCK_PROTOCOL, of_nothing(name, "locks", self.lock)),)
            value = state[lock.slot]
            if locks.holds(lock.kind, value, tid):
                message = f"{name} takes {lock.name}, which it already holds"
                return (context.error(state, LOCK_PROTOCOL, message),)
            if locks.holders(lock.kind, value):
                return ()
            return run(state)

        return fire

    def waiting(self, context: Context, state: State) -> Wait | None:
        lock = self.lock.compile(context.world)(state)
        if lock is None:
            return None
        return Wait(lock.name, locks.holders(lock.kind, state[lock.slot]))


@attrs.frozen(kw_only=True)
class TryLockStep(Step):
    """``if (!trylock(lock)) goto target``: take ``lock`` when it is free,
    else jump without waiting.  ``irq`` as ``LockStep``'s: a lock taken
    with interrupts off (``spin_trylock_irq``, or one declared
    ``irqs_off``, as ``xa_trylock``) counts as held with them off until
    its release."""

    lock: LockExpr
    target: str
    mode: Mode = attrs.field(default=Mode.EXCL, validator=_checked_mode)
    irq: bool | None = None

    @property
    def branches(self) -> bool:
        return True

    @property
    def jump_label(self) -> str | None:
        return self.target

    def footprint(self, regions: Regions) -> Footprint:
        guarded = acquisition_guard_reads(regions, self.lock)
        return regions.lock(self.lock) | Footprint(guarded, regions.irqs_off)

    @never_blocks
    def compile(self, context: Context) -> Fire:
        return guarded_acquisition(
            context, self.lock, self._compile(context), "tries to take", self.label
        )

    def _compile(self, context: Context) -> Fire:
        lock_of = self.lock.compile(context.world)
        tid, mode, next_pc, fail_pc = context.tid, self.mode, context.next_pc, context.target
        irqs_off, irq = context.irqs_off, self.irq
        name = context.thread.name
        assert fail_pc is not None

        def fire(state: State) -> tuple[State, ...]:
            lock = lock_of(state)
            if lock is None:
                return (context.error(state, LOCK_PROTOCOL, of_nothing(name, "locks", self.lock)),)
            outcome, value = locks.acquire(lock.kind, state[lock.slot], tid, mode)
            if outcome is Outcome.ALREADY_HELD:
                if fails_on_its_holder(lock, state[lock.slot], tid, mode):
                    return (context.advance(list(state), fail_pc),)
                message = (
                    f"{name} tries to take {lock.name} for reading, which it already holds for "
                    "reading: the kernel's down_read_trylock() takes it again unless a waiter "
                    "is queued (RWSEM_FLAG_WAITERS), and a thread holds a lock once here"
                )
                return (context.error(state, LOCK_PROTOCOL, message),)
            values = list(state)
            if outcome is Outcome.TAKEN:
                values[lock.slot] = value
                if irqs_off is not None and disables_irqs(irq, lock):
                    values[irqs_off] += 1
                return (context.advance(values, next_pc),)
            return (context.advance(values, fail_pc),)

        return fire

    def spinning(self, context: Context, state: State) -> Wait | None:
        """The lock, when the trylock fails in ``state`` and its failure
        jumps back to it or before it (a retry loop); held by the spinning
        thread itself, the wait is for itself (an AA recursion)."""
        lock = self.lock.compile(context.world)(state)
        if lock is None or context.target is None or context.target >= context.next_pc:
            return None
        value, tid = state[lock.slot], context.tid
        if locks.holds(lock.kind, value, tid) and fails_on_its_holder(lock, value, tid, self.mode):
            return Wait(lock.name, (tid,))
        blockers = locks.blockers(lock.kind, value, tid, self.mode)
        return Wait(lock.name, blockers) if blockers else None

    def event(self, context: Context, before: State, after: State) -> Event:
        lock = self.lock.compile(context.world)(before)
        if lock is None or after[0] is not None:
            return Event("error", self.label)
        if before[lock.slot] == after[lock.slot]:
            return Event("branch", f"{lock.name} is held: the trylock fails")
        return Event("acquire", f"trylock {lock.name}", lock.name, "")


def fails_on_its_holder(lock: Lock, value: Any, tid: int, mode: Mode) -> bool:
    """Whether a trylock of ``lock`` by ``tid``, which holds it, fails as the
    kernel's does: ``spin_trylock()``, ``mutex_trylock()``,
    ``folio_trylock()`` and ``down_write_trylock()`` find it taken, and
    ``down_read_trylock()`` finds it held for writing; a trylock that
    fails never reaches lockdep (``lock_acquire()`` runs on success, and
    ``validate_chain()`` skips ``check_deadlock()`` for a trylock anyway),
    so ``super_trylock_shared()`` under the s_umount a remount holds just
    fails.  A read trylock of a lock the thread holds for reading would
    succeed unless a waiter is queued, which the model cannot hold."""
    return mode is Mode.EXCL or locks.holds_exclusively(lock.kind, value, tid)


@attrs.frozen(kw_only=True)
class CheckedUnlockStep(UnlockStep):
    """Release ``lock`` in a state ``check`` accepts; where it returns a
    message instead, property ``prop`` is violated."""

    check: Callable[[State], str | None] = attrs.field(eq=False)
    prop: str

    def footprint(self, regions: Regions) -> Footprint:
        return super().footprint(regions) | Footprint(regions.shared, 0)

    @never_blocks
    def compile(self, context: Context) -> Fire:
        release = super().compile(context)
        check, prop = self.check, self.prop

        def fire(state: State) -> tuple[State, ...]:
            message = check(state)
            if message is not None:
                return (context.error(state, prop, message),)
            return release(state)

        return fire


@attrs.frozen(kw_only=True)
class EntryCallStep(CallStep):
    """The entry into a filesystem method whose body follows as steps of
    its own: the dispatch point, changing nothing but the caller's return
    register, so it runs together with the step before it, unless an
    argument or role the locking rules' checks evaluate is found through
    the shared state, which another thread may change.  The locks the
    checks ask about are the caller's own: no other thread's step changes
    whether it holds one (one that changes a bit lock another thread holds
    is a lock-protocol error where it runs, ``Scratch``)."""

    @property
    def local(self) -> bool:
        return all(expr.local for expr in (*self.args, *(role for _name, role in self.roles)))

    def footprint(self, regions: Regions) -> Footprint:
        """Its arguments and the objects of its roles, which the locking
        rules' checks evaluate, and the bit locks, whose holder another
        thread may change (an I/O completion unlocking a folio): the checks
        read the other locks only to ask what this thread holds."""
        result = 0 if self.result is None else 1 << self.result
        reads = regions.bit_locks | self.guard_reads(regions)
        for expr in (*self.args, *(role for _name, role in self.roles)):
            reads |= regions.read(expr)
        return Footprint(reads, regions.own | result)


@attrs.frozen(kw_only=True)
class HandOffStep(Step):
    """Keep ``lock`` held after this thread lets go of it (``take_over``
    makes another thread its holder), or give a handed-off lock to this
    thread: ``freeze_super()`` returns with ``sb_writers`` held, and
    ``thaw_super()`` releases it, as lockdep is told with
    ``percpu_rwsem_release()`` and ``percpu_rwsem_acquire()``.  When
    ``if_held``, a thread that does not hold the lock it would hand off
    just moves on (what is left of a hand-off whose acquisition a mutation
    dropped, as ``UnlockStep.if_held``), and one taking over a lock
    nobody handed off moves on too."""

    lock: LockExpr
    take: bool = False
    """Take the handed-off lock over instead of handing it off."""
    if_held: bool = False
    """Hand off only a lock the thread holds; with ``take``, take over only
    a lock somebody handed off (else move on)."""

    def footprint(self, regions: Regions) -> Footprint:
        return regions.lock(self.lock)

    def resolver(self, context: Context, regions: Regions) -> Resolver | None:
        return lock_resolver(self.lock, context, regions)

    @never_blocks
    def compile(self, context: Context) -> Fire:
        if self.take:
            return moving_fire(
                context,
                self.lock,
                locks.take_over,
                "takes over",
                "which nobody handed off",
                self.if_held,
            )
        return moving_fire(
            context, self.lock, locks.hand_off, "hands off", "which it does not hold", self.if_held
        )

    def event(self, context: Context, before: State, after: State) -> Event:
        lock = self.lock.compile(context.world)(before)
        if lock is None or after[0] is not None:
            return Event("error", self.label)
        if before[lock.slot] == after[lock.slot]:
            what = (
                "not handed off: nothing to take over"
                if self.take
                else "not held: nothing to hand off"
            )
            return Event("effect", f"{lock.name} {what}")
        if self.take:
            return Event("acquire", f"take over {lock.name}", lock.name, "")
        return Event("release", f"hand off {lock.name} (held on)", lock.name)
