"""Steps of the data path, for programs that wait on conditions rather than locks:
waiting for a bit to clear (``folio_wait_writeback``), picking one of
several things that may happen next (which bio the device completes),
short spinlock sections, ``trylock`` and the entry into a filesystem
method whose body follows as the callee's own steps.

Each comes as a step class and a function that emits it into an ``Op``,
like the methods of ``mc.dsl.operation.Op``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from mc.dsl.operation import LockLike, Op, as_expr, as_lock, caller_source
from mc.dsl.steps import (
    LOCK_PROTOCOL,
    CallStep,
    Context,
    EffectStep,
    Fire,
    Regions,
    Step,
    UnlockStep,
    Wait,
)
from mc.engine.model import Footprint
from mc.kernel import locks
from mc.kernel.expr import Eval, Expr, LockExpr, State, slot_value
from mc.kernel.locks import Mode, Outcome
from mc.trace.format import Event

Holders = Callable[[State], tuple[int, ...]]


@attrs.frozen(kw_only=True)
class WaitStep(Step):
    """Sleep until ``cond`` holds (``wait_on_bit``, ``wait_event``): disabled
    while it does not.  Waiting may sleep, so it is an error in atomic
    context even when the condition already holds (``might_sleep()``)."""

    cond: Expr
    resource: str
    holders: Holders | None = attrs.field(default=None, eq=False)
    """Who must act before the condition can hold (for waits-for graphs)."""

    @property
    def may_sleep(self) -> bool:
        return True

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
        return Wait(self.resource, tuple(t for t in holders if t != context.tid))


@attrs.frozen(kw_only=True)
class ChooseStep(Step):
    """Store one of the values ``values`` yields into register ``result``:
    one outcome per value, in order; disabled while there is none."""

    values: Expr
    result: int
    resource: str = "something to happen"

    def compile(self, context: Context) -> Fire:
        values = self.values.compile(context.world)
        result, next_pc = self.result, context.next_pc

        def fire(state: State) -> tuple[State, ...]:
            outcomes = []
            for value in values(state):
                changed = list(state)
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
        return Wait(self.resource, ())


@attrs.frozen(kw_only=True)
class SectionStep(EffectStep):
    """``spin_lock(lock); <effect>; spin_unlock(lock)`` as one step: a
    spinlock section whose body neither sleeps nor blocks can be observed
    midway only by lockless readers, which see its result either way.
    Disabled while another thread holds ``lock``; taking it while holding
    it is the self-deadlock lockdep reports."""

    lock: LockExpr

    def footprint(self, regions: Regions) -> Footprint:
        return super().footprint(regions) | regions.lock(self.lock)

    def compile(self, context: Context) -> Fire:
        run = super().compile(context)
        lock_of = self.lock.compile(context.world)
        tid, name = context.tid, context.thread.name

        def fire(state: State) -> tuple[State, ...]:
            lock = lock_of(state)
            if lock is None:
                return (
                    context.error(state, LOCK_PROTOCOL, f"{name} locks {self.lock} of nothing"),
                )
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
    else jump without waiting."""

    lock: LockExpr
    target: str
    mode: Mode = Mode.EXCL

    @property
    def branches(self) -> bool:
        return True

    @property
    def jump_label(self) -> str | None:
        return self.target

    def retarget(self, target: str) -> Step:
        return attrs.evolve(self, target=target)

    def footprint(self, regions: Regions) -> Footprint:
        return regions.lock(self.lock)

    def compile(self, context: Context) -> Fire:
        lock_of = self.lock.compile(context.world)
        tid, mode, next_pc, fail_pc = context.tid, self.mode, context.next_pc, context.target
        name = context.thread.name
        assert fail_pc is not None

        def fire(state: State) -> tuple[State, ...]:
            lock = lock_of(state)
            if lock is None:
                return (
                    context.error(state, LOCK_PROTOCOL, f"{name} locks {self.lock} of nothing"),
                )
            outcome, value = locks.acquire(lock.kind, state[lock.slot], tid, mode)
            if outcome is Outcome.ALREADY_HELD:
                message = f"{name} takes {lock.name}, which it already holds"
                return (context.error(state, LOCK_PROTOCOL, message),)
            values = list(state)
            if outcome is Outcome.TAKEN:
                values[lock.slot] = value
                return (context.advance(values, next_pc),)
            return (context.advance(values, fail_pc),)

        return fire

    def event(self, context: Context, before: State, after: State) -> Event:
        lock = self.lock.compile(context.world)(before)
        if lock is None or after[0] is not None:
            return Event("error", self.label)
        if before[lock.slot] == after[lock.slot]:
            return Event("branch", f"{lock.name} is busy: no")
        return Event("acquire", f"trylock {lock.name}", lock.name, "")


@attrs.frozen(kw_only=True)
class CheckedUnlockStep(UnlockStep):
    """Release ``lock`` in a state ``check`` accepts; where it returns a
    message instead, property ``prop`` is violated."""

    check: Callable[[State], str | None] = attrs.field(eq=False)
    prop: str

    def footprint(self, regions: Regions) -> Footprint:
        return super().footprint(regions) | Footprint(regions.shared, 0)

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
    register, so it runs together with the step before it."""

    @property
    def local(self) -> bool:
        return True

    def footprint(self, regions: Regions) -> Footprint:
        result = 0 if self.result is None else 1 << self.result
        return Footprint(regions.data, regions.own | result)


def wait_until(
    op: Op,
    cond: Expr,
    label: str,
    resource: str,
    holders: Holders | None = None,
    tag: str | Sequence[str] | None = None,
) -> Step:
    """Sleep until ``cond`` holds; ``resource`` names what is awaited."""
    return op.emit(
        WaitStep(
            label=label,
            source=caller_source(),
            tags=_tags(tag),
            cond=cond,
            resource=resource,
            holders=holders,
        )
    )


def choose(
    op: Op,
    name: str,
    values: Expr,
    label: str,
    render: Callable[[Any], str] = str,
    resource: str = "something to happen",
) -> Expr:
    """Register ``name`` takes each of the values ``values`` yields, one
    outcome each; the step waits while there is none."""
    slot = op.register(name, render)
    op.emit(
        ChooseStep(
            label=label, source=caller_source(), values=values, result=slot, resource=resource
        )
    )
    return slot_value(slot, name, local=True)


def section(
    op: Op,
    lock: LockLike,
    label: str,
    effect: Callable[..., Any],
    *args: Any,
    result: int | None = None,
    tag: str | Sequence[str] | None = None,
) -> Step:
    """A spinlock section: ``effect(scratch, *values)`` under ``lock``, as
    one step; its value goes to register slot ``result`` if given."""
    return op.emit(
        SectionStep(
            label=label,
            source=caller_source(),
            tags=_tags(tag),
            effect=lambda scratch, values: effect(scratch, *values),
            args=tuple(as_expr(a) for a in args),
            result=result,
            lock=as_lock(lock),
        )
    )


def trylock(
    op: Op,
    lock: LockLike,
    fail: str,
    label: str,
    mode: Mode = Mode.EXCL,
    tag: str | Sequence[str] | None = None,
) -> Step:
    """``if (!trylock(lock)) goto fail``."""
    return op.emit(
        TryLockStep(
            label=label,
            source=caller_source(),
            tags=_tags(tag),
            lock=as_lock(lock),
            target=fail,
            mode=mode,
        )
    )


def enter(
    op: Op,
    method: str,
    *args: Any,
    label: str,
    roles: dict[str, Any],
    sleeps: bool = True,
    tag: str | Sequence[str] | None = None,
) -> Step:
    """Call filesystem method ``method`` whose body the caller emits next
    (the callee's steps); the call itself is ``op.call``'s dispatch point."""
    op.call(method, _entered, *args, label=label, roles=roles, sleeps=sleeps, tag=tag)
    called = op.items.pop()
    assert isinstance(called, CallStep)
    fields = {field.name: getattr(called, field.name) for field in attrs.fields(CallStep)}
    return op.emit(EntryCallStep(**fields))


def unlock_checked(
    op: Op, lock: LockLike, label: str, check: Callable[[State], str | None], prop: str
) -> Step:
    """Release ``lock``; ``check`` names what is wrong with releasing it
    now (a violation of ``prop``), or returns None."""
    return op.emit(
        CheckedUnlockStep(
            label=label, source=caller_source(), lock=as_lock(lock), check=check, prop=prop
        )
    )


def compute(
    op: Op,
    name: str,
    label: str,
    effect: Callable[..., Any],
    *args: Any,
    render: Callable[[Any], str] = str,
) -> Expr:
    """Register ``name`` = ``effect(scratch, *values)``, a read of shared
    state (a lockless lookup)."""
    slot = op.register(name, render)
    op.emit(
        EffectStep(
            label=label,
            source=caller_source(),
            effect=lambda scratch, values: effect(scratch, *values),
            args=tuple(as_expr(a) for a in args),
            result=slot,
        )
    )
    return slot_value(slot, name, local=True)


def state_expr(text: str, function: Callable[[State], Any], local: bool = False) -> Expr:
    """An expression computed by ``function`` from the state."""

    def build(_world: object) -> Eval:
        return function

    return Expr(text, build, local)


def _entered(_scratch: object, *_args: object) -> int:
    return 0


def _tags(tag: str | Sequence[str] | None) -> frozenset[str]:
    if tag is None:
        return frozenset()
    return frozenset((tag,) if isinstance(tag, str) else tag)
