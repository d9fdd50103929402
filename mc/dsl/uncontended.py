"""Read sides no thread can contend: the acquisitions and releases of an
rw_semaphore (percpu or not) that no step of the scenario takes for
writing.

``percpu_down_read()`` with no writer is an increment of a per-CPU
counter, and ``down_read()`` with no writer holding or waiting adds a
reader to the count (kernel/locking/rwsem.c, Linux 6.6:
``rwsem_read_trylock()`` succeeds without a writer bit or a handoff):
neither blocks, and other readers cannot observe it.  In the models such
a step changes only the lock's set of readers, never blocks and has one
outcome, and readers' insertions and removals commute, so it commutes with
every other thread's steps and may run together with the step before it,
as a local step does (``Step.local``).  Once any step of the scenario
takes the lock exclusive, hands it off or takes it in a section or by
trylock (a freeze), none of its steps is treated so; nor when a property
checked on every state reads the lock (it would miss the states between),
or when the scenario starts with it held.

A lock only one thread of the scenario names (its steps' footprints, an
effect's ``touches``) is private in the same way: no other thread can
wait for it, take it or read it, so that thread's plain acquisitions and
releases of it commute with every other thread's steps (``private_locks``,
``on_private_lock``).  Not so for a thread an interrupt handler may land
on or one that is a handler, for an acquisition that turns interrupts
off where they are counted, or when a property checked on every state
reads the lock, or for a lock whose acquisitions a model guards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mc.dsl.steps import LockStep, Step, UnlockStep, disables_irqs
from mc.dsl.wait_steps import CheckedUnlockStep
from mc.kernel.locks import Kind, Mode
from mc.kernel.world import World


def _is_plain_read_side(step: Step) -> bool:
    if isinstance(step, LockStep):
        return step.mode is Mode.SHARED
    return isinstance(step, UnlockStep) and not isinstance(step, CheckedUnlockStep)


def read_only_families(
    world: World, programs: Iterable[Iterable[Step]], watched: int | None = 0
) -> frozenset[str]:
    """The families of rw_semaphores (percpu or not) every step of
    ``programs`` touches only by a shared acquisition or a plain release,
    none of whose slots a property checked on every state reads
    (``watched``: those slots, or None when such a property may read any),
    and none of which the scenario starts with held."""
    families = {lock.family for lock in world.locks if lock.kind.shared_mode}
    contended = set()
    for known in world.locks:
        if known.family in families and (
            watched is None
            or watched >> known.slot & 1
            or world.initial[known.slot] is not None
            or known.name in world.acquire_guards
        ):
            contended.add(known.family)
    for steps in programs:
        for step in steps:
            family = getattr(getattr(step, "lock", None), "family", None)
            if family in families and not _is_plain_read_side(step):
                contended.add(family)
    return frozenset(families - contended)


def uncontended(step: Step, families: frozenset[str]) -> bool:
    """Whether ``step`` is a read side of one of ``families``."""
    if not families or not _is_plain_read_side(step):
        return False
    lock = getattr(step, "lock", None)
    return getattr(lock, "family", None) in families


PRIVATE_KINDS = frozenset({Kind.MUTEX, Kind.RWSEM, Kind.SPINLOCK})
"""The kinds of lock ``private_locks`` may find: not a bit lock (handed
to I/O completion, read by the page cache's own functions), a seqlock
(read by its readers' retries), RCU or a percpu rw_semaphore."""


def private_locks(world: World, touched: Sequence[int], excluded: int) -> dict[int, int]:
    """The slots of the locks of ``world`` that one thread alone names,
    each with that thread: ``touched[tid]`` is the mask of the lock slots
    thread ``tid``'s steps may touch; none of ``excluded`` (lock slots a
    property, or a step other than a lock step, reads) and none held when
    the scenario starts."""
    owners: dict[int, set[int]] = {}
    for tid, mask in enumerate(touched):
        for lock in world.locks:
            if lock.kind in PRIVATE_KINDS and mask >> lock.slot & 1:
                owners.setdefault(lock.slot, set()).add(tid)
    return {
        slot: next(iter(tids))
        for slot, tids in owners.items()
        if len(tids) == 1
        and not excluded >> slot & 1
        and world.initial[slot] is None
        and world.slots[slot].name not in world.acquire_guards
    }


def on_private_lock(step: Step, tid: int, private: Mapping[int, int], irqs_counted: bool) -> bool:
    """Whether ``step`` of thread ``tid`` is a plain acquisition or release
    of a lock only that thread names (``private``, from ``private_locks``),
    known without reading the state, that leaves interrupts as they are
    where the thread counts them (``irqs_counted``)."""
    if type(step) is not LockStep and type(step) is not UnlockStep:
        return False
    fixed = step.lock.fixed
    if fixed is None or not step.lock.local or private.get(fixed.slot) != tid:
        return False
    return not (irqs_counted and disables_irqs(step.irq, fixed))
