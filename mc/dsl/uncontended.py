"""Read sides no thread can contend: the acquisitions and releases of a
percpu rw_semaphore that no step of the scenario takes for writing.

``percpu_down_read()`` with no writer is an increment of a per-CPU
counter: it never blocks and other readers cannot observe it.  In the
models such a step changes only the lock's set of readers, never blocks
and has one outcome, and readers' insertions and removals commute, so it
commutes with every other thread's steps and may run together with the
step before it, as a local step does (``Step.local``).  Once any step of
the scenario takes the lock exclusive, hands it off or takes it in a
section or by trylock (a freeze), none of its steps is treated so.
"""

from __future__ import annotations

from collections.abc import Iterable

from mc.dsl.steps import LockStep, Step, UnlockStep
from mc.dsl.wait_steps import CheckedUnlockStep
from mc.kernel.locks import Kind, Mode
from mc.kernel.world import World


def _is_plain_read_side(step: Step) -> bool:
    if isinstance(step, LockStep):
        return step.mode is Mode.SHARED
    return isinstance(step, UnlockStep) and not isinstance(step, CheckedUnlockStep)


def read_only_families(world: World, programs: Iterable[Iterable[Step]]) -> frozenset[str]:
    """The families of percpu rw_semaphores every step of ``programs``
    touches only by a shared acquisition or a plain release."""
    families = {lock.family for lock in world.locks if lock.kind is Kind.PERCPU_RWSEM}
    contended = set()
    for steps in programs:
        for step in steps:
            lock = getattr(step, "lock", None)
            family = getattr(lock, "family", None)
            if family in families and not _is_plain_read_side(step):
                contended.add(family)
    return frozenset(families - contended)


def uncontended(step: Step, families: frozenset[str]) -> bool:
    """Whether ``step`` is a read side of one of ``families``."""
    if not families or not _is_plain_read_side(step):
        return False
    lock = getattr(step, "lock", None)
    return getattr(lock, "family", None) in families
