"""Lock kinds with the kernel's semantics, as pure functions on lock values.

A lock's value lives in one slot of the state:

- mutex and spinlock: ``None`` when free, else the holder's thread id;
- rw_semaphore and percpu_rw_semaphore: ``None`` when free and nobody
  waits, else ``(writer, readers, waiting_writers)``: a writer that cannot
  take the lock at once queues, and a queued writer blocks new readers (so
  recursive read-locking can deadlock, as lockdep warns).  A percpu
  rw_semaphore (``sb_writers``) behaves the same: ``percpu_down_write()``
  makes new readers wait (``rcu_sync_enter``) and then waits for the
  readers inside to leave;
- seqlock: ``(sequence, writer)``; writers serialise like a spinlock and
  bump the sequence, readers never block and retry when it moved;
- rcu (``rcu_read_lock``): ``None`` or the sorted tuple of the threads in a
  read-side critical section; never blocks, and its holders may not sleep.

A lock may be handed off: the thread that holds it gives it up to no
thread (``HANDED_OFF`` holds it, as ``freeze_super()`` keeps
``sb_writers`` held after it returns) until a thread takes it over
(``thaw_super()``) and releases it.

``acquire`` returns the new value, ``BLOCKED`` when the caller must wait
without changing anything, or ``QUEUED`` alongside the value when the wait
itself changes the lock (a writer joining the queue).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Any

import attrs

from mc.trace.events import HANDED_OFF as HANDED_OFF_NAME


class Mode(enum.Enum):
    """How a lock is taken."""

    EXCL = "exclusive"
    SHARED = "shared"


EXCL = Mode.EXCL
SHARED = Mode.SHARED


class Kind(enum.Enum):
    """A kind of kernel lock."""

    MUTEX = "mutex"
    RWSEM = "rw_semaphore"
    PERCPU_RWSEM = "percpu_rw_semaphore"
    SPINLOCK = "spinlock"
    SEQLOCK = "seqlock"
    RCU = "rcu"
    BIT_LOCK = "bit lock"
    """A sleeping lock bit in an object's flags (PG_locked): taken like a
    mutex, but the context it is handed to (I/O completion) may clear it."""

    @functools.cached_property
    def sleeps(self) -> bool:
        """Whether waiting for this lock sleeps (forbidden in atomic context)."""
        return (
            self is Kind.MUTEX
            or self is Kind.RWSEM
            or self is Kind.PERCPU_RWSEM
            or self is Kind.BIT_LOCK
        )

    @functools.cached_property
    def shared_mode(self) -> bool:
        """Whether the lock can be taken shared (a reader-writer lock)."""
        return self is Kind.RWSEM or self is Kind.PERCPU_RWSEM

    @functools.cached_property
    def never_waits(self) -> bool:
        """Whether taking this lock can never wait: an RCU read-side section
        (``rcu_read_lock()`` only marks the reader, and lockdep takes it as
        a recursive read of ``rcu_lock_map`` that orders nothing,
        ``rcu_lock_acquire()`` in include/linux/rcupdate.h).  No wait cycle
        runs through an acquisition of such a lock."""
        return self is Kind.RCU

    @functools.cached_property
    def atomic(self) -> bool:
        """Whether holding this lock puts the holder in atomic context."""
        return self is Kind.SPINLOCK or self is Kind.SEQLOCK or self is Kind.RCU


@attrs.frozen
class Lock:
    """One lock object of the world, stored in state slot ``slot``."""

    name: str
    kind: Kind
    slot: int
    family: str
    irqs_off: bool = False
    """Process context takes this lock with interrupts disabled wherever
    the kernel takes it (``spin_lock_irq``/``spin_lock_irqsave``, as every
    taker of a mapping's ``i_pages`` lock does); a lock step may say
    otherwise (``irq=False``).  Matters only in a scenario with an
    interrupt handler (``mc.dsl.interrupts``)."""

    def __str__(self) -> str:
        return self.name


class Outcome(enum.Enum):
    BLOCKED = "blocked"
    QUEUED = "queued"
    TAKEN = "taken"
    ALREADY_HELD = "already held"


Value = Any
HANDED_OFF = -2
"""The holder of a lock its thread handed off: held, by no thread."""
RWSEM_UNLOCKED: tuple[int | None, tuple[int, ...], tuple[int, ...]] = (None, (), ())


def holds(kind: Kind, value: Value, tid: int) -> bool:
    """Whether thread ``tid`` holds the lock (in any mode)."""
    if value is None:
        return False
    if kind.shared_mode:
        writer, readers, _ = value
        return bool(writer == tid or tid in readers)
    if kind is Kind.SEQLOCK:
        return bool(value[1] == tid)
    if kind is Kind.RCU:
        return tid in value
    return bool(value == tid)


def holds_exclusively(kind: Kind, value: Value, tid: int) -> bool:
    """Whether thread ``tid`` holds the lock and no other thread may hold
    it beside (a reader-writer lock held for writing)."""
    if kind.shared_mode:
        return value is not None and value[0] == tid
    return holds(kind, value, tid)


def held_by_number(kind: Kind) -> bool:
    """Whether a lock of ``kind`` is held by thread ``tid`` exactly when its
    value is ``tid`` (``holds``)."""
    return not kind.shared_mode and kind is not Kind.SEQLOCK and kind is not Kind.RCU


def holds_test(kind: Kind, tid: int) -> Callable[[Value], bool]:
    """``holds(kind, value, tid)`` as a function of the value alone, for
    steps compiled for thread ``tid``."""
    if kind.shared_mode:
        return lambda value: value is not None and (value[0] == tid or tid in value[1])
    if kind is Kind.SEQLOCK:
        return lambda value: value[1] == tid
    if kind is Kind.RCU:
        return lambda value: value is not None and tid in value
    return lambda value: value == tid


def holders(kind: Kind, value: Value) -> tuple[int, ...]:
    """The threads that hold the lock."""
    if value is None:
        return ()
    if kind.shared_mode:
        writer, readers, _ = value
        return readers if writer is None else (writer, *readers)
    if kind is Kind.SEQLOCK:
        return () if value[1] is None else (value[1],)
    if kind is Kind.RCU:
        return tuple(value)
    return (value,)


def queued(kind: Kind, value: Value) -> tuple[int, ...]:
    """The threads queued on the lock (writers waiting on an rw_semaphore)."""
    if kind.shared_mode and value is not None:
        return tuple(value[2])
    return ()


def blockers(kind: Kind, value: Value, tid: int, mode: Mode) -> tuple[int, ...]:
    """The threads that must release or go first before ``tid`` can take
    the lock in ``mode``: its holders and the writers queued ahead, but for
    a reader only the writer holding it or queued writers (readers share)."""
    holding = holders(kind, value)
    queue = queued(kind, value)
    if kind.shared_mode and mode is Mode.SHARED:
        writer = value[0] if value is not None else None
        waiting = (writer,) if writer is not None else queue
    else:
        ahead = queue[: queue.index(tid)] if tid in queue else queue
        waiting = (*holding, *ahead)
    return tuple(t for t in waiting if t != tid)


def acquire(kind: Kind, value: Value, tid: int, mode: Mode) -> tuple[Outcome, Value]:
    """Try to take the lock for ``tid``; see the module docstring."""
    if holds(kind, value, tid):
        return Outcome.ALREADY_HELD, value
    if kind.shared_mode:
        return _rwsem_acquire(value, tid, mode)
    if kind is Kind.SEQLOCK:
        sequence, writer = value
        if writer is not None:
            return Outcome.BLOCKED, value
        return Outcome.TAKEN, (sequence + 1, tid)
    if kind is Kind.RCU:
        return Outcome.TAKEN, tuple(sorted((*(value or ()), tid)))
    if value is not None:
        return Outcome.BLOCKED, value
    return Outcome.TAKEN, tid


Acquire = Callable[[Value], tuple[Outcome, Value]]


def acquire_for(kind: Kind, tid: int, mode: Mode) -> Acquire:
    """``acquire(kind, value, tid, mode)`` as a function of the value alone."""
    held = holds_test(kind, tid)
    if kind.shared_mode:

        def take_rwsem(value: Value) -> tuple[Outcome, Value]:
            if held(value):
                return Outcome.ALREADY_HELD, value
            return _rwsem_acquire(value, tid, mode)

        return take_rwsem
    if kind is Kind.SEQLOCK or kind is Kind.RCU:
        return lambda value: acquire(kind, value, tid, mode)

    def take(value: Value) -> tuple[Outcome, Value]:
        if value is None:
            return Outcome.TAKEN, tid
        if value == tid:
            return Outcome.ALREADY_HELD, value
        return Outcome.BLOCKED, value

    return take


def _rwsem_acquire(value: Value, tid: int, mode: Mode) -> tuple[Outcome, Value]:
    writer, readers, waiting = value if value is not None else RWSEM_UNLOCKED
    if mode is Mode.SHARED:
        if writer is not None or waiting:
            return Outcome.BLOCKED, value
        return Outcome.TAKEN, (None, tuple(sorted((*readers, tid))), ())
    free = writer is None and not readers
    if tid in waiting:
        if free and waiting[0] == tid:
            return Outcome.TAKEN, (tid, (), waiting[1:])
        return Outcome.BLOCKED, value
    if free and not waiting:
        return Outcome.TAKEN, (tid, (), ())
    return Outcome.QUEUED, (writer, readers, (*waiting, tid))


def release(kind: Kind, value: Value, tid: int) -> tuple[bool, Value]:
    """``(True, new value)`` once ``tid`` releases the lock, or
    ``(False, value)`` when ``tid`` does not hold it (a protocol error)."""
    if not holds(kind, value, tid):
        return False, value
    if kind.shared_mode:
        writer, readers, waiting = value
        if writer == tid:
            writer = None
        else:
            readers = tuple(r for r in readers if r != tid)
        if writer is None and not readers and not waiting:
            return True, None
        return True, (writer, readers, waiting)
    if kind is Kind.SEQLOCK:
        return True, (value[0] + 1, None)
    if kind is Kind.RCU:
        readers = tuple(t for t in value if t != tid)
        return True, readers or None
    return True, None


def downgrade(kind: Kind, value: Value, tid: int) -> tuple[bool, Value]:
    """``downgrade_write()``: ``(True, new value)`` once ``tid``, the
    writer of a reader-writer lock, holds it as a reader instead, in one
    step (no other writer can take it between), or ``(False, value)``
    when ``tid`` does not hold it for writing.  Writers waiting stay
    queued, and still keep new readers out."""
    if not kind.shared_mode or value is None or value[0] != tid:
        return False, value
    _writer, readers, waiting = value
    return True, (None, tuple(sorted((*readers, tid))), waiting)


def _replace_holder(kind: Kind, value: Value, old: int, new: int) -> Value:
    """``value`` with one hold of ``old`` made ``new``'s (of a read lock's
    readers, one: two AIO writes each hand off a hold of their own, and
    each completion takes over one)."""
    if kind.shared_mode:
        writer, readers, waiting = value
        if writer == old:
            return (new, readers, waiting)
        at = readers.index(old)
        return (writer, tuple(sorted((*readers[:at], new, *readers[at + 1 :]))), waiting)
    if kind is Kind.SEQLOCK:
        return (value[0], new)
    return new


def hand_off(kind: Kind, value: Value, tid: int) -> tuple[bool, Value]:
    """``(True, new value)`` once ``tid`` hands its hold of the lock off to
    no thread, or ``(False, value)`` when it does not hold it."""
    if kind is Kind.RCU or not holds(kind, value, tid):
        return False, value
    return True, _replace_holder(kind, value, tid, HANDED_OFF)


def take_over(kind: Kind, value: Value, tid: int) -> tuple[bool, Value]:
    """``(True, new value)`` once ``tid`` holds a handed-off lock, or
    ``(False, value)`` when nobody handed it off."""
    if kind is Kind.RCU or not holds(kind, value, HANDED_OFF):
        return False, value
    return True, _replace_holder(kind, value, HANDED_OFF, tid)


def initial(kind: Kind) -> Value:
    """The value of a free lock."""
    return (0, None) if kind is Kind.SEQLOCK else None


def thread_name(thread_names: tuple[str, ...], tid: int) -> str:
    """The name of holder ``tid``: a thread's, or that of a handed-off hold."""
    return HANDED_OFF_NAME if tid == HANDED_OFF else thread_names[tid]


def render(kind: Kind, value: Value, thread_names: tuple[str, ...]) -> str:
    """A lock value as people read it: ``T1 excl``, ``T1,T3 shared``..."""

    def names(tids: tuple[int, ...]) -> str:
        return ",".join(thread_name(thread_names, t) for t in tids)

    if kind.shared_mode:
        if value is None:
            return "free"
        writer, readers, waiting = value
        held = f"{thread_name(thread_names, writer)} excl" if writer is not None else ""
        if readers:
            held = f"{names(readers)} shared"
        held = held or "free"
        return f"{held}, {names(waiting)} waiting" if waiting else held
    if kind is Kind.SEQLOCK:
        sequence, writer = value
        return f"seq {sequence}" + (
            f", {thread_names[writer]} writing" if writer is not None else ""
        )
    if kind is Kind.RCU:
        return "free" if value is None else names(value)
    return "free" if value is None else thread_name(thread_names, value)
