"""The atomic steps programs are made of, and how each is compiled.

A step is data (a label in kernel terms, the model's source line, tags for
variants to select it by) that compiles, for one thread of one world, into
a ``fire`` function: the states the step can lead to, or none while it is
blocked.  Protocol errors (unlock of a lock not held, sleeping in atomic
context...) lead to an error state that ends the thread.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, ClassVar, TypeVar, cast

import attrs

from mc.engine.model import Footprint
from mc.kernel import errno as errnos
from mc.kernel import locks
from mc.kernel.expr import OTHERS_RETURNED, Eval, Expr, LockExpr, State, possible_values
from mc.kernel.locks import Lock, Mode, Outcome
from mc.kernel.world import DONE, ERROR_SLOT, LOCK_PROTOCOL, ModelError, Scratch, Touches, World
from mc.trace.events import Event

Fire = Callable[[State], tuple[State, ...]]
Compile = TypeVar("Compile", bound=Callable[..., Fire])

_NEVER_BLOCKED: set[Callable[..., Fire]] = set()

WAIT_AS_LOCK = "wait-as-lock"
"""The tag of a lock step that stands for a wait, not for a lock the kernel
code takes (a jbd2 handle waiting for the commit to lock its transaction,
made a write acquisition of the journal): mutation analysis leaves it as
it is, since it is no lock a change could drop."""


def never_blocks(compile: Compile) -> Compile:
    """Mark a step class's ``compile`` as making a ``fire`` that gives at
    least one state in every state it is given (the step is never
    blocked): a thread at such a step can act wherever it runs, which
    partial-order reduction then knows without running the step
    (``Step.never_blocked``).  A subclass that overrides ``compile``
    promises nothing unless it marks its own."""
    _NEVER_BLOCKED.add(compile)
    return compile


Resolver = Callable[[State], Footprint | None]
"""A step's footprint in the state it runs in (``Step.resolver``)."""


def of_nothing(thread: str, verb: str, lock: LockExpr) -> str:
    """The error of a lock step whose lock names no object yet: a register
    the step reads is not set, because the step that sets it comes later in
    the program (steps run in the order the operation emitted them)."""
    return (
        f"{thread} {verb} {lock} of nothing: {lock} names no object yet (steps run in "
        "program order, so the step that sets it, such as the op.lookup under the parent's "
        "lock, has not run; did a variant move this lock above it?)"
    )


@attrs.frozen
class Source:
    """Where in a model a step was written."""

    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@attrs.frozen
class Wait:
    """What a blocked thread waits for and who holds it."""

    resource: str
    holders: tuple[int, ...]
    lost: bool = False
    """No thread holds ``resource`` any more, and only a holder's wake-up
    ends the wait: a wake-up that never comes (a lost wake-up)."""
    unheld: str = ""
    """Why no thread could end the wait when none could (what the scenario
    lacks), or empty."""
    queued: tuple[int, ...] = ()
    """Those of ``holders`` that do not hold the lock but are queued for it
    ahead (writers an rw_semaphore lets go first)."""
    held: bool = True
    """``holders`` hold ``resource`` (a lock, a CPU); False: they are the
    threads whose steps could end the wait (a condition, a choice)."""


@attrs.frozen
class ThreadSlots:
    """The slots one thread owns."""

    tid: int
    name: str
    pc: int
    ret: int


@attrs.frozen
class Regions:
    """The slots of a world as partial-order reduction sees them, for one
    thread, as bit masks: ``own`` the thread's private slots (its program
    counter, return value and registers), which no other step reads or
    writes; ``shared`` every slot another thread's steps may touch (all but
    the error slot and the threads' private slots); ``data`` the shared
    slots an effect, a call or an expression may write: all but the lock
    slots only lock steps change (a mutex, rw_semaphore, spinlock, seqlock
    or RCU slot; bit locks are data, since I/O completion clears them);
    ``families`` the slots of each lock family; ``bit_locks`` the bit
    locks' slots; ``names`` the dentry slots.

    The error slot is in no region: a step that records an error ends the
    run (the model's assertions, see ``KernelModel.pending``).  Lock steps
    read the other lock slots only to ask what their own thread holds,
    which no other thread's step changes; an effect or an expression that
    does not say what it reads may read any shared slot, a lock's too (a
    seqlock's sequence, whether a spinlock is held)."""

    own: int
    shared: int
    data: int
    families: dict[str, int]
    bit_locks: int
    names: int = 0
    """The dentry slots."""
    addresses: int = 0
    """The slot of the address order observed so far (``mc.dsl.addresses``)."""
    interrupts: int = 0
    """The slots saying where each interrupt handler runs (``mc.dsl.interrupts``)."""
    irqs_off: int = 0
    """The thread's count of locks held with interrupts off (when it can be
    interrupted)."""
    registers: int = 0
    """The thread's registers (among ``own``)."""
    returned: int = 0
    """The locations saying whether each thread has returned (among
    ``shared``), which an expression reading ``OTHERS_RETURNED`` reads."""
    world: World | None = attrs.field(default=None, eq=False)
    """The world, for footprints declared in terms of its objects
    (``EffectStep.touches``)."""

    @property
    def control(self) -> int:
        """The thread's program counter and return value: what every step
        of it may write besides what it says."""
        return self.own & ~self.registers

    def lock(self, lock: LockExpr) -> Footprint:
        """Taking or releasing ``lock``: its slot, or every slot of its
        family when it is found through the state, and what finding it reads."""
        if lock.fixed is not None:
            slots = 1 << lock.fixed.slot
        else:
            slots = self.families.get(lock.family, self.shared)
        return Footprint(slots | (0 if lock.local else self.data), slots | self.control)

    def one_lock(self, lock: Lock) -> Footprint:
        """Taking or releasing ``lock``, known."""
        return Footprint(1 << lock.slot, 1 << lock.slot | self.control)

    def read(self, expr: Expr) -> int:
        """What evaluating ``expr`` reads of the shared slots: the slots it
        names when it says, else every shared slot (and, where an
        expression of a user's file does not say, ``World.opaque_reads``,
        every other thread's register)."""
        if expr.local:
            return 0
        if expr.reads is None:
            if self.world is not None and self.world.opaque_reads:
                return self.shared | (slot_mask(self.world.register_slots) & ~self.registers)
            return self.shared
        mask = 0
        for slot in expr.reads:
            mask |= self.returned if slot == OTHERS_RETURNED else 1 << slot
        return mask


HeldTests = list[tuple[Lock, Callable[[Any], bool]]]


def _held_tests(world: World, tid: int) -> tuple[HeldTests, HeldTests]:
    """For each lock of ``world`` (and each atomic one), whether ``tid``
    holds it, as a test of the lock's value; made once per thread."""
    key = ("held", tid, len(world.locks))
    made: tuple[HeldTests, HeldTests] | None = world.compiled.get(key)
    if made is None:
        every = [(lock, locks.holds_test(lock.kind, tid)) for lock in world.locks]
        made = world.compiled[key] = (every, [(lock, h) for lock, h in every if lock.kind.atomic])
    return made


def lock_mode(mode: object) -> Mode:
    """``mode`` itself when it is a lock mode, else a model error (a string
    such as ``"shared"`` would otherwise mean an exclusive lock)."""
    if isinstance(mode, Mode):
        return mode
    raise ModelError(f"{mode!r} is not a lock mode: use EXCL or SHARED (from mc.dsl)")


def _checked_mode(_step: object, _attribute: object, mode: object) -> None:
    lock_mode(mode)


def _checked_condition(_step: Any, _attribute: Any, cond: Any) -> None:
    if not isinstance(cond, Expr):
        raise ModelError(
            f"the condition {cond!r} is no expression of the state: use const({cond!r}), "
            "is_error(...), state_expr(...) (from mc.dsl)"
        )


def _values_at(slots: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The values of a state at ``slots``, as a tuple."""
    if len(slots) > 1:
        return itemgetter(*slots)
    if slots:
        [slot] = slots
        return lambda state: (state[slot],)
    return lambda _state: ()


def _holding(
    world: World, tid: int
) -> tuple[Callable[[Sequence[Any]], bool], Callable[[Sequence[Any]], bool]]:
    """Whether ``tid`` holds some lock of ``world``, and some atomic one
    (``_holds_some``); made once per thread."""
    key = ("holding", tid, len(world.locks))
    made: tuple[Callable[[Sequence[Any]], bool], Callable[[Sequence[Any]], bool]] | None = (
        world.compiled.get(key)
    )
    if made is None:
        every, atomic = _held_tests(world, tid)
        made = world.compiled[key] = (_holds_some(every, tid), _holds_some(atomic, tid))
    return made


def _holds_some(tests: HeldTests, tid: int) -> Callable[[Sequence[Any]], bool]:
    """Whether ``tid`` holds one of the locks of ``tests`` in a state: a
    lock held by number (``locks.held_by_number``) is looked for among the
    values of all such locks at once."""
    numbered = [lock.slot for lock, _held in tests if locks.held_by_number(lock.kind)]
    others = [(lock.slot, held) for lock, held in tests if not locks.held_by_number(lock.kind)]
    values_of = _values_at(numbered)

    def holds_some(state: Sequence[Any]) -> bool:
        if tid in values_of(state):
            return True
        for slot, held in others:
            value = state[slot]
            if value is not None and held(value):
                return True
        return False

    return holds_some


Acquirers = dict[int, tuple[bool, locks.Acquire]]


def _acquirers(world: World, tid: int, mode: Mode) -> Acquirers:
    """For each lock slot of ``world``: whether waiting for it sleeps, and
    how ``tid`` takes it in ``mode``; made once per thread and mode."""
    key = ("acquire", tid, mode, len(world.locks))
    made: Acquirers | None = world.compiled.get(key)
    if made is None:
        made = world.compiled[key] = {
            lock.slot: (lock.kind.sleeps, locks.acquire_for(lock.kind, tid, mode))
            for lock in world.locks
        }
    return made


class Context:
    """What a step needs to compile: the world, its thread and where
    control goes next."""

    def __init__(
        self,
        world: World,
        thread: ThreadSlots,
        next_pc: int,
        target: int | None,
        source: Source | None = None,
        regions: Regions | None = None,
    ) -> None:
        self.world = world
        self.regions = regions
        """The slot regions, for footprints (None when not computed)."""
        self.thread = thread
        self.source = source
        """The model line of the step being compiled (errors name it)."""
        self.tid = thread.tid
        self.next_pc = next_pc
        self.target = target
        self._locks, self._atomic = _held_tests(world, self.tid)
        self._holds_some, self._holds_atomic = _holding(world, self.tid)
        self._pc = thread.pc
        part = world.parts.get("interrupts")
        self.irqs_off: int | None = None if part is None else part.irqs_off.get(self.tid)
        """The slot counting the locks the thread holds with interrupts off
        (None when no handler can interrupt it; ``mc.dsl.interrupts``)."""
        self.landing: int | None = None if part is None else part.landing.get(self.tid)
        """The slot saying where the thread runs as an interrupt handler
        (None when it is no handler)."""

    def advance(self, values: list[Any], pc: int) -> State:
        """The state ``values`` with the thread moved to ``pc``; a thread that
        ends holding a lock is an error."""
        values[self._pc] = pc
        if pc == DONE:
            held = self.held(values)
            if held:
                names = ", ".join(lock.name for lock in held)
                return self.error(
                    values, LOCK_PROTOCOL, f"{self.thread.name} returns holding {names}"
                )
        return tuple(values)

    def error(
        self, state: Sequence[Any], prop: str, message: str, waits_for: str | None = None
    ) -> State:
        """An error state: ``prop`` is violated, the thread stops.
        ``waits_for`` names a lock the thread would wait for forever (it
        holds it itself): the state is a one-thread deadlock too."""
        values = list(state)
        values[ERROR_SLOT] = (
            (prop, message) if waits_for is None else (prop, message, self.thread.name, waits_for)
        )
        values[self.thread.pc] = DONE
        return tuple(values)

    def held(self, state: Sequence[Any]) -> list[Lock]:
        """The locks this thread holds in ``state``."""
        if not self._holds_some(state):
            return []
        return [
            lock
            for lock, held in self._locks
            if (value := state[lock.slot]) is not None and held(value)
        ]

    def atomic_lock_held(self, state: State) -> Lock | None:
        """A spinlock (or seqlock write side) this thread holds, if any."""
        if not self._holds_atomic(state):
            return None
        for lock, held in self._atomic:
            value = state[lock.slot]
            if value is not None and held(value):
                return lock
        return None

    def sleep_check(self, state: State, what: str) -> State | None:
        """The error state if sleeping here is forbidden, else None."""
        atomic = self.atomic_lock_held(state)
        if atomic is None:
            if self.landing is not None and state[self.landing] is not None:
                message = f"{self.thread.name} may sleep ({what}) in interrupt context"
                return self.error(state, LOCK_PROTOCOL, message)
            return None
        return self.error(
            state, LOCK_PROTOCOL, f"{self.thread.name} may sleep ({what}) holding {atomic.name}"
        )


def _checked_label(_step: Any, _attribute: Any, label: Any) -> None:
    """A step's label is text (what traces print): a ``ModelError`` else."""
    if not isinstance(label, str):
        raise ModelError(f"a step's label is text, not {type(label).__name__} {label!r}")


@attrs.frozen(kw_only=True)
class Step(ABC):
    """One atomic step of a program."""

    label: str = attrs.field(validator=_checked_label)
    source: Source
    tags: frozenset[str] = frozenset()

    @abstractmethod
    def compile(self, context: Context) -> Fire:
        """The step's ``fire`` function for this thread and world."""

    def event(self, context: Context, before: State, after: State) -> Event:
        """What the step did between ``before`` and ``after``."""
        return Event("effect", self.label)

    def footprint(self, regions: Regions) -> Footprint:
        """The slots the step may read and write when it runs (the error
        slot aside), for partial-order reduction; a step class that does
        not say may touch every shared slot."""
        everything = regions.shared | regions.own
        return Footprint(everything, everything)

    def resolver(self, context: Context, regions: Regions) -> Resolver | None:
        """How the step's footprint follows from the state it runs in, when
        that is finer than ``footprint``: a function of the state giving
        the slots the step reads and writes when it runs there (None when
        it cannot tell).  The model asks it only while the thread's
        registers it reads keep their values until the step runs, and
        reuses the answer for every state where they have them, so the
        function must read nothing else that decides its answer; a
        function that reads other slots is not used.  None: the step has
        no finer footprint (also for a subclass that changes
        ``footprint`` and says nothing of its resolver)."""
        return None

    def waiting(self, context: Context, state: State) -> Wait | None:
        """When the step is blocked in ``state``: what it waits for."""
        return None

    def spinning(self, context: Context, state: State) -> Wait | None:
        """When the step, enabled in ``state``, only goes back to retry
        what another thread keeps from succeeding (a trylock in a loop):
        what it spins on."""
        return None

    @property
    def local(self) -> bool:
        """Whether the step reads and writes only its thread's own slots and
        has exactly one outcome; such steps run together with the step
        before them, since they commute with every other thread's steps."""
        return False

    def local_in(self, world: World) -> bool:
        """Whether the step is local in ``world`` (``local``, or so for what
        the world's scenario holds)."""
        return self.local

    @property
    def jump_label(self) -> str | None:
        """The label the step may jump to, if any."""
        return None

    @property
    def never_blocked(self) -> bool:
        """Whether the step has an outcome in every state (its class's
        ``compile`` is marked ``never_blocks``)."""
        return type(self).compile in _NEVER_BLOCKED


@attrs.frozen(kw_only=True)
class OneLockStep(Step):
    """A step taking or releasing ``lock``: it touches that lock (every lock
    of its family while the lock is found through the state, and then,
    state by state, the one it finds there: ``lock_resolver``) and the
    thread's count of locks held with interrupts off."""

    lock: LockExpr
    acquires: ClassVar[bool] = False
    """The step takes the lock: its acquisition guards read what they
    read (``World.guard_acquisitions``)."""

    def footprint(self, regions: Regions) -> Footprint:
        guarded = acquisition_guard_reads(regions, self.lock) if self.acquires else 0
        return regions.lock(self.lock) | Footprint(guarded, regions.irqs_off)

    def resolver(self, context: Context, regions: Regions) -> Resolver | None:
        if type(self).footprint is not OneLockStep.footprint:
            return None
        return lock_resolver(self.lock, context, regions, self.acquires)


@attrs.frozen(kw_only=True)
class LockStep(OneLockStep):
    """Take ``lock`` in ``mode``, blocking while it cannot be taken;
    ``irq``: with interrupts disabled until the release (``spin_lock_irq``,
    ``spin_lock_irqsave``), or not (``spin_lock``); None: as the lock is
    declared (``Lock.irqs_off``)."""

    mode: Mode = attrs.field(default=Mode.EXCL, validator=_checked_mode)
    irq: bool | None = None
    acquires: ClassVar[bool] = True

    def compile(self, context: Context) -> Fire:
        return guarded_acquisition(context, self.lock, self._compile(context), "takes", self.label)

    def _compile(self, context: Context) -> Fire:
        lock_of = self.lock.compile(context.world)
        tid, mode, next_pc, pc_slot = context.tid, self.mode, context.next_pc, context.thread.pc
        irqs_off, irq = context.irqs_off, self.irq
        name = context.thread.name
        take = _acquirers(context.world, tid, mode)
        blocked, queued, already = Outcome.BLOCKED, Outcome.QUEUED, Outcome.ALREADY_HELD

        def fire(state: State) -> tuple[State, ...]:
            lock = lock_of(state)
            if lock is None:
                return (context.error(state, LOCK_PROTOCOL, of_nothing(name, "locks", self.lock)),)
            slot = lock.slot
            sleeps, acquire = take.get(slot) or (
                lock.kind.sleeps,
                locks.acquire_for(lock.kind, tid, mode),
            )
            if sleeps:
                forbidden = context.sleep_check(state, f"taking {lock.name}")
                if forbidden is not None:
                    return (forbidden,)
            outcome, value = acquire(state[slot])
            if outcome is blocked:
                return ()
            if outcome is already:
                return (self_deadlock(context, state, lock, mode),)
            values = list(state)
            values[slot] = value
            if outcome is queued:
                return (tuple(values),)
            if irqs_off is not None and disables_irqs(irq, lock):
                values[irqs_off] += 1
            if next_pc == DONE:
                return (context.advance(values, next_pc),)
            values[pc_slot] = next_pc
            return (tuple(values),)

        return fire

    def _mode_text(self, lock: Lock) -> str:
        if lock.kind.shared_mode:
            return "excl" if self.mode is Mode.EXCL else "shared"
        return ""

    def event(self, context: Context, before: State, after: State) -> Event:
        lock = self.lock.compile(context.world)(before)
        if lock is not None and after[ERROR_SLOT] is not None:
            held = locks.holds(lock.kind, before[lock.slot], context.tid)
            return Event("error", self.label, lock.name if held else None)
        if lock is None or after[ERROR_SLOT] is not None:
            return Event("error", self.label)
        mode = self._mode_text(lock)
        if after[context.thread.pc] == before[context.thread.pc]:
            holders = locks.holders(lock.kind, before[lock.slot])
            names = context.world.thread_names
            held_by = ", ".join(
                "a hand-off no thread took over" if t == locks.HANDED_OFF else names[t]
                for t in holders
            )
            return Event(
                "wait", f"waits for {lock.name} {mode}, held by {held_by}", lock.name, mode
            )
        text = f"lock {lock.name} {mode}".rstrip()
        if context.irqs_off is not None and disables_irqs(self.irq, lock):
            text += ", interrupts off"
        return Event("acquire", text, lock.name, mode)

    def waiting(self, context: Context, state: State) -> Wait | None:
        lock = self.lock.compile(context.world)(state)
        if lock is None:
            return None
        value = state[lock.slot]
        blockers = locks.blockers(lock.kind, value, context.tid, self.mode)
        holding = locks.holders(lock.kind, value)
        queued = tuple(t for t in blockers if t not in holding)
        return Wait(lock.name, blockers, queued=queued)


def self_deadlock(context: Context, state: State, lock: Lock, mode: Mode) -> State:
    """Taking ``lock`` that the thread already holds: a lock-protocol error
    and, for a sleeping lock it would have to wait for (all but a second
    shared hold of an rw_semaphore), a deadlock of one thread."""
    name = context.thread.name
    shared_again = (
        lock.kind.shared_mode and mode is Mode.SHARED and state[lock.slot][0] != context.tid
    )
    if not lock.kind.sleeps or shared_again:
        message = f"{name} takes {lock.name}, which it already holds"
        return context.error(state, LOCK_PROTOCOL, message)
    message = (
        f"{name} takes {lock.name}, which it already holds: it waits for itself forever "
        "(a deadlock)"
    )
    return context.error(state, LOCK_PROTOCOL, message, waits_for=lock.name)


@attrs.frozen(kw_only=True)
class AssertHeldStep(OneLockStep):
    """``lockdep_assert_held(lock)``, ``VM_BUG_ON_FOLIO(!folio_test_locked())``:
    a thread that does not hold ``lock`` here is a lock-protocol error;
    one that does moves on.  ``mode`` EXCL: ``lockdep_assert_held_write()``,
    held for reading is an error too.  It reads whether its own thread holds the
    lock, which no other thread's step changes (one that changes a bit
    lock another thread holds is a lock-protocol error where it runs,
    ``Scratch``): a local step, unless the lock is found through the
    state, which another thread may change (it then reads what finding
    the lock reads, and the lock's slot)."""

    mode: Mode | None = None

    @property
    def local(self) -> bool:
        return self.lock.fixed is not None

    def footprint(self, regions: Regions) -> Footprint:
        if self.local:
            return Footprint(0, regions.control)
        return Footprint(regions.lock(self.lock).reads, regions.control)

    @never_blocks
    def compile(self, context: Context) -> Fire:
        lock_of = self.lock.compile(context.world)
        tid, next_pc, name = context.tid, context.next_pc, context.thread.name
        for_writing = self.mode is Mode.EXCL

        def fire(state: State) -> tuple[State, ...]:
            lock = lock_of(state)
            if lock is None or not locks.holds(lock.kind, state[lock.slot], tid):
                held = "a lock it finds nowhere" if lock is None else lock.name
                message = f"{name} reaches '{self.label}' without holding {held}"
                return (context.error(state, LOCK_PROTOCOL, message),)
            if for_writing and not locks.holds_exclusively(lock.kind, state[lock.slot], tid):
                message = (
                    f"{name} reaches '{self.label}' holding {lock.name} for reading, "
                    "not for writing"
                )
                return (context.error(state, LOCK_PROTOCOL, message),)
            return (context.advance(list(state), next_pc),)

        return fire

    def event(self, context: Context, before: State, after: State) -> Event:
        if after[ERROR_SLOT] is not None:
            return Event("error", self.label)
        return Event("effect", self.label)


@attrs.frozen(kw_only=True)
class UnlockStep(OneLockStep):
    """Release ``lock``; when ``if_held``, a thread that does not hold it
    just moves on (what is left of a release whose acquisition a mutation
    dropped on some path).  ``irq`` as the acquisition's: a release of a
    lock taken with interrupts off enables them again once the thread
    holds no other such lock."""

    if_held: bool = False
    irq: bool | None = None
    mode: Mode | None = None
    """The mode the release is of (``up_read()``, ``up_write()``), where
    the program as built holds the lock in one mode wherever the release
    is reached (``Program.with_release_modes``); None releases what is
    held."""

    @never_blocks
    def compile(self, context: Context) -> Fire:
        lock_of = self.lock.compile(context.world)
        tid, next_pc, name = context.tid, context.next_pc, context.thread.name
        if_held, mode = self.if_held, self.mode
        irqs_off, irq = context.irqs_off, self.irq
        pc_slot, returns = context.thread.pc, next_pc == DONE

        def fire(state: State) -> tuple[State, ...]:
            lock = lock_of(state)
            if lock is None:
                return (
                    context.error(state, LOCK_PROTOCOL, of_nothing(name, "unlocks", self.lock)),
                )
            held, value = locks.release(lock.kind, state[lock.slot], tid)
            if not held and if_held:
                return (context.advance(list(state), next_pc),)
            if not held:
                message = f"{name} unlocks {lock.name}, which it does not hold"
                return (context.error(state, LOCK_PROTOCOL, message),)
            if mode is not None and lock.kind.shared_mode:
                holds_for = Mode.EXCL if state[lock.slot][0] == tid else Mode.SHARED
                if holds_for is not mode:
                    return (
                        context.error(
                            state, LOCK_PROTOCOL, _wrong_release(name, lock.name, self.label, mode)
                        ),
                    )
            values = list(state)
            values[lock.slot] = value
            if irqs_off is not None and disables_irqs(irq, lock):
                values[irqs_off] = max(0, values[irqs_off] - 1)
            if returns:
                return (context.advance(values, next_pc),)
            values[pc_slot] = next_pc
            return (tuple(values),)

        return fire

    def event(self, context: Context, before: State, after: State) -> Event:
        lock = self.lock.compile(context.world)(before)
        if lock is None or after[ERROR_SLOT] is not None:
            return Event("error", self.label)
        if before[lock.slot] == after[lock.slot]:
            return Event("effect", f"{lock.name} not held: nothing to release")
        text = f"unlock {lock.name}"
        slot = context.irqs_off
        if slot is not None and disables_irqs(self.irq, lock) and after[slot] == 0:
            text += ", interrupts on"
        return Event("release", text, lock.name)


def _wrong_release(thread: str, lock: str, label: str, mode: Mode) -> str:
    if mode is Mode.SHARED:
        done, held = "for reading (up_read)", "for writing"
    else:
        done, held = "for writing (up_write)", "for reading"
    return (
        f"{thread} releases {lock} {done} at '{label}', but holds it {held}: the lock's count "
        "goes wrong (DEBUG_RWSEMS warns); a change of an acquisition's mode changes its "
        "releases too (Program.weaken, Program.strengthen)"
    )


@attrs.frozen(kw_only=True)
class DowngradeStep(UnlockStep):
    """``downgrade_write(lock)``: the thread that holds ``lock`` for
    writing holds it for reading from this step on (``mmap_write_downgrade()``);
    a protocol error when it does not hold it for writing."""

    @never_blocks
    def compile(self, context: Context) -> Fire:
        return moving_fire(
            context, self.lock, locks.downgrade, "downgrades", "which it does not hold for writing"
        )

    def event(self, context: Context, before: State, after: State) -> Event:
        lock = self.lock.compile(context.world)(before)
        if lock is None or after[ERROR_SLOT] is not None:
            return Event("error", self.label)
        return Event("effect", f"downgrade {lock.name}: held shared")


def moving_fire(
    context: Context,
    lock_expr: LockExpr,
    move: Callable[[locks.Kind, Any, int], tuple[bool, Any]],
    verb: str,
    complaint: str,
    skip_unheld: bool = False,
) -> Fire:
    """The ``fire`` of a step that changes how its thread holds a lock in
    one move (``move(kind, value, tid)``: whether it could, and the lock's
    new value): a lock-protocol error ``{thread} {verb} {lock}, {complaint}``
    where it cannot, or, ``skip_unheld``, a step on."""
    lock_of = lock_expr.compile(context.world)
    tid, next_pc, name = context.tid, context.next_pc, context.thread.name

    def fire(state: State) -> tuple[State, ...]:
        lock = lock_of(state)
        if lock is None:
            return (context.error(state, LOCK_PROTOCOL, of_nothing(name, verb, lock_expr)),)
        done, value = move(lock.kind, state[lock.slot], tid)
        if not done and skip_unheld:
            return (context.advance(list(state), next_pc),)
        if not done:
            message = f"{name} {verb} {lock.name}, {complaint}"
            return (context.error(state, LOCK_PROTOCOL, message),)
        values = list(state)
        values[lock.slot] = value
        return (context.advance(values, next_pc),)

    return fire


def lock_resolver(
    lock: LockExpr, context: Context, regions: Regions, acquires: bool = False
) -> Resolver | None:
    """The footprint of a step taking or releasing ``lock`` found through
    the state: the lock it finds there (with what its acquisition guards
    read, for a step that ``acquires`` it), or where it finds none, the
    protocol error that ends its thread (None for a fixed lock, whose
    footprint says it already)."""
    if lock.fixed is not None:
        return None
    lock_of = lock.compile(context.world)
    irqs_off = Footprint(0, regions.irqs_off)
    guards = context.world.acquire_guards if acquires else {}

    def resolve(state: State) -> Footprint | None:
        found = lock_of(state)
        if found is None:
            return Footprint(0, regions.control)
        guarded = 0
        for guard in guards.get(found.name, {}).values():
            guarded |= slot_mask(guard.reads)
        return regions.one_lock(found) | irqs_off | Footprint(guarded, 0)

    return resolve


def disables_irqs(irq: bool | None, lock: Lock) -> bool:
    """Whether taking ``lock`` by a step that says ``irq`` disables
    interrupts: the step's word, else the lock's declaration."""
    return lock.irqs_off if irq is None else irq


def acquisition_guard_reads(regions: Regions, lock: LockExpr) -> int:
    """What the checks of an acquisition of ``lock`` read
    (``World.guard_acquisitions``): those of the lock, or of every lock of
    its family while the lock is found through the state."""
    world = regions.world
    if world is None or not world.acquire_guards:
        return 0
    if lock.fixed is not None:
        names: Iterable[str] = (lock.fixed.name,)
    else:
        names = (known.name for known in world.locks if known.family == lock.family)
    reads = 0
    for name in names:
        for guard in world.acquire_guards.get(name, {}).values():
            reads |= slot_mask(guard.reads)
    return reads


def guarded_acquisition(
    context: Context, lock_expr: LockExpr, fire: Fire, verb: str, label: str
) -> Fire:
    """``fire`` of a step that takes ``lock_expr`` (or tries to), checked
    first by the lock's acquisition guards (``World.guard_acquisitions``):
    where one answers, the step records its violation, ``T2 takes
    d_lock(/a/x) at 'LABEL': ...``, whether or not the lock is free (the
    lock's memory is read either way).  ``fire`` itself where no lock the
    step may take is guarded."""
    world = context.world
    guards = world.acquire_guards
    if not guards:
        return fire
    fixed = lock_expr.fixed
    if fixed is not None and fixed.name not in guards:
        return fire
    if fixed is None and not any(
        known.name in guards for known in world.locks if known.family == lock_expr.family
    ):
        return fire
    lock_of = lock_expr.compile(world)
    tid, name = context.tid, context.thread.name

    def guarded(state: State) -> tuple[State, ...]:
        lock = lock_of(state)
        if lock is not None:
            for guard in guards.get(lock.name, {}).values():
                wrong = guard.check(state, tid)
                if wrong is not None:
                    message = f"{name} {verb} {lock.name} at '{label}': {wrong}"
                    return (context.error(state, guard.prop, message),)
        return fire(state)

    return guarded


@attrs.frozen(kw_only=True)
class ConditionalStep(Step):
    """A step that tests ``cond`` and may jump to label ``target``."""

    cond: Expr = attrs.field(validator=_checked_condition)
    target: str

    @property
    def local(self) -> bool:
        return self.cond.local

    @property
    def jump_label(self) -> str | None:
        return self.target

    def footprint(self, regions: Regions) -> Footprint:
        return Footprint(regions.read(self.cond), regions.control)


@attrs.frozen(kw_only=True)
class BranchStep(ConditionalStep):
    """Evaluate ``cond``; fall through when true, jump to ``target`` when
    false (an ``if`` whose else part starts at ``target``).  When
    ``label_negates``, the condition the label shows is ``!cond``; traces
    print whether the label's condition holds ("yes") or not ("no")."""

    label_negates: bool = False

    @never_blocks
    def compile(self, context: Context) -> Fire:
        cond = self.cond.compile(context.world)
        then_pc, else_pc = context.next_pc, context.target
        assert else_pc is not None
        if DONE in (then_pc, else_pc):
            return lambda state: (
                context.advance(list(state), then_pc if cond(state) else else_pc),
            )
        pc_slot = context.thread.pc

        def fire(state: State) -> tuple[State, ...]:
            values = list(state)
            values[pc_slot] = then_pc if cond(state) else else_pc
            return (tuple(values),)

        return fire

    def event(self, context: Context, before: State, after: State) -> Event:
        taken = after[context.thread.pc] == context.next_pc
        return Event("branch", "yes" if taken != self.label_negates else "no")


@attrs.frozen(kw_only=True)
class JumpStep(ConditionalStep):
    """``if (cond) goto target``: jump when ``cond`` holds, else fall through.
    When ``label_negates``, the condition the label shows is ``!cond`` (the
    kernel's ``if (likely(!count)) return true`` in front of the code the
    jump skips); traces then print whether the label's condition holds
    ("yes": no jump) or not ("no")."""

    label_negates: bool = False

    @never_blocks
    def compile(self, context: Context) -> Fire:
        cond = self.cond.compile(context.world)
        next_pc, jump_pc = context.next_pc, context.target
        assert jump_pc is not None
        if DONE in (next_pc, jump_pc):
            return lambda state: (
                context.advance(list(state), jump_pc if cond(state) else next_pc),
            )
        pc_slot = context.thread.pc

        def fire(state: State) -> tuple[State, ...]:
            values = list(state)
            values[pc_slot] = jump_pc if cond(state) else next_pc
            return (tuple(values),)

        return fire

    def event(self, context: Context, before: State, after: State) -> Event:
        taken = after[context.thread.pc] != context.next_pc
        if self.label_negates:
            return Event("branch", "no" if taken else "yes")
        return Event("branch", "taken" if taken else "not taken")


@attrs.frozen(kw_only=True)
class FailStep(ConditionalStep):
    """``if (cond) { error = errno; goto target; }``"""

    errno: int

    @never_blocks
    def compile(self, context: Context) -> Fire:
        cond = self.cond.compile(context.world)
        next_pc, fail_pc, ret, errno = (
            context.next_pc,
            context.target,
            context.thread.ret,
            self.errno,
        )
        assert fail_pc is not None

        def fire(state: State) -> tuple[State, ...]:
            values = list(state)
            if cond(state):
                values[ret] = errno
                return (context.advance(values, fail_pc),)
            return (context.advance(values, next_pc),)

        return fire

    def event(self, context: Context, before: State, after: State) -> Event:
        if context.target == context.next_pc:
            failed = bool(self.cond.compile(context.world)(before))
        else:
            failed = after[context.thread.pc] != context.next_pc
        return Event("branch", f"yes: return {errnos.render(self.errno)}" if failed else "no")


Effect = Callable[["Scratch", Sequence[Any]], Any]
MAX_DECLARED_COMBINATIONS = 4096
"""The most combinations of argument values an effect's declared footprint
is taken over before the program runs (``EffectStep.footprint``)."""


def assigned(_scratch: Scratch, args: Sequence[Any]) -> Any:
    """The effect of an assignment (``op.let``): the value of its one
    argument."""
    return args[0]


def slot_mask(slots: Iterable[int]) -> int:
    """The bit mask of ``slots``."""
    mask = 0
    for slot in slots:
        mask |= 1 << slot
    return mask


SPREAD_FROM = "_spread_from"
"""The attribute naming the function a ``spread`` effect calls."""


def spread(function: Callable[..., Any]) -> Callable[[Scratch, Sequence[Any]], Any]:
    """``function(scratch, *values)`` as an effect, which is given the
    values as one list; its ``__wrapped__`` is ``function`` (what
    ``inspect.unwrap`` finds, to tell two builds' effects apart)."""

    def effect(scratch: Scratch, values: Sequence[Any]) -> Any:
        return function(scratch, *values)

    effect.__wrapped__ = function  # type: ignore[attr-defined]
    setattr(effect, SPREAD_FROM, function)
    return effect


def _runner(effect: Effect, args: Sequence[Eval]) -> Callable[[Scratch, State], Any]:
    """``effect`` run on the values of ``args`` in a state: a ``spread``
    effect's function is called with them directly."""
    function: Callable[..., Any] | None = getattr(effect, SPREAD_FROM, None)
    if function is None:
        return lambda scratch, state: effect(scratch, [a(state) for a in args])
    if not args:
        return lambda scratch, _state: function(scratch)
    if len(args) == 1:
        [first] = args
        return lambda scratch, state: function(scratch, first(state))
    if len(args) == 2:
        first, second = args
        return lambda scratch, state: function(scratch, first(state), second(state))
    if len(args) == 3:
        first, second, third = args
        return lambda scratch, state: function(scratch, first(state), second(state), third(state))
    return lambda scratch, state: function(scratch, *[a(state) for a in args])


@attrs.frozen(kw_only=True)
class EffectStep(Step):
    """Run ``effect`` on the evaluated ``args`` and store what it returns in
    ``result`` (a slot, or None to drop it).  ``kind`` tells traces whether
    this is a call into a filesystem method (``call``) or a plain change
    (``effect``); ``sleeps`` whether it may block."""

    effect: Effect = attrs.field(eq=False)
    args: tuple[Expr, ...] = ()
    result: int | None = None
    kind: str = "effect"
    sleeps: bool = False
    names: frozenset[int] | None = None
    """The only dentry slots the effect writes (None: it may write any);
    see ``given_names_only``."""
    touches: Touches | None = attrs.field(default=None, eq=False)
    """What the effect reads and writes given its arguments, as its
    implementation declared it (``mc.kernel.world.touches``)."""

    @property
    def local(self) -> bool:
        return self.kind == "assign" and all(arg.local for arg in self.args)

    def guard_reads(self, regions: Regions) -> int:
        """What the checks made at the step read of the shared slots, besides
        the effect (a call's guards: ``World.call_guard_reads``)."""
        return 0

    def footprint(self, regions: Regions) -> Footprint:
        result = 0 if self.result is None else 1 << self.result
        reads = self.guard_reads(regions)
        for arg in self.args:
            reads |= regions.read(arg)
        if self.kind == "assign":
            return Footprint(reads, regions.control | result)
        declared = self.declared(regions)
        if declared is not None:
            return Footprint(declared.reads | reads, declared.writes | regions.control | result)
        writes = regions.data
        if self.names is not None:
            writes &= ~regions.names
            for slot in self.names:
                writes |= 1 << slot
        return Footprint(regions.shared, writes | regions.own | result)

    def declared(self, regions: Regions) -> Footprint | None:
        """What ``touches`` declares over every value the arguments may
        take (None without a declaration, or when an argument's values
        are not known before the program runs or are too many)."""
        world = regions.world
        if self.touches is None or world is None:
            return None
        domains = [possible_values(arg, world) for arg in self.args]
        combinations = 1
        for domain in domains:
            if domain is None:
                return None
            combinations *= len(domain)
        if combinations > MAX_DECLARED_COMBINATIONS:
            return None
        reads = writes = 0
        for values in itertools.product(*cast(list[tuple[Any, ...]], domains)):
            read, written = self.touches(world, *values)
            reads |= slot_mask(read)
            writes |= slot_mask(written)
        return Footprint(reads, writes)

    def resolver(self, context: Context, regions: Regions) -> Resolver | None:
        declared = self.touches
        if declared is None or self.kind == "assign":
            return None
        if type(self).footprint is not EffectStep.footprint:
            return None
        args: list[Eval] = [a.compile(context.world) for a in self.args]
        world = context.world
        control = regions.control | (0 if self.result is None else 1 << self.result)
        guarded = self.guard_reads(regions)

        def resolve(state: State) -> Footprint | None:
            reads, writes = declared(world, *[a(state) for a in args])
            return Footprint(slot_mask(reads) | guarded, slot_mask(writes) | control)

        return resolve

    def sleeping(self) -> str:
        """What the step does that may sleep, as a lock-protocol error
        names it."""
        return self.label

    @never_blocks
    def compile(self, context: Context) -> Fire:
        run = _runner(self.effect, [a.compile(context.world) for a in self.args])
        result, next_pc, world = self.result, context.next_pc, context.world
        sleeps, tid, sleeping = self.sleeps, context.tid, self.sleeping()

        def fire(state: State) -> tuple[State, ...]:
            if sleeps:
                forbidden = context.sleep_check(state, sleeping)
                if forbidden is not None:
                    return (forbidden,)
            scratch = Scratch(world, state, tid)
            value = run(scratch, state)
            if result is not None:
                scratch[result] = value
            return (context.advance(scratch.values, next_pc),)

        return fire

    def event(self, context: Context, before: State, after: State) -> Event:
        if after[ERROR_SLOT] is not None and before[ERROR_SLOT] is None:
            return Event("error", self.label)
        return Event(self.kind, self.label)


@attrs.frozen(kw_only=True)
class CallStep(EffectStep):
    """A call from the VFS into filesystem method ``method``
    (``inode_operations.rename``): the one dispatch point for every such
    call.  ``roles`` names the objects the call is about (``dir``,
    ``victim``, ``folio``...), which the locking rules refer to."""

    method: str
    roles: tuple[tuple[str, Expr], ...] = ()
    kind: str = "call"
    sleeps: bool = True

    def sleeping(self) -> str:
        """A method may sleep in some filesystem's implementation, whatever
        the one modelled does."""
        return f"a filesystem's {self.method} may: {self.label}"

    def guard_reads(self, regions: Regions) -> int:
        world = regions.world
        if world is None:
            return 0
        reads = 0
        for exprs_read in world.call_guard_reads:
            for expr in exprs_read(self, world):
                reads |= regions.read(expr)
        return reads

    def local_in(self, world: World) -> bool:
        """Local, and no guard of the world's calls reads shared state at it."""
        return self.local and all(
            expr.local for exprs_read in world.call_guard_reads for expr in exprs_read(self, world)
        )

    @never_blocks
    def compile(self, context: Context) -> Fire:
        fire = super().compile(context)
        guards = [
            guard
            for make in context.world.call_guards
            if (guard := make(self, context)) is not None
        ]
        if not guards:
            return fire

        def guarded(state: State) -> tuple[State, ...]:
            for guard in guards:
                breach = guard(state)
                if breach is not None:
                    return (breach,)
            return fire(state)

        return guarded
