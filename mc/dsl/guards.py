"""The locks a thread surely holds at each step of its program, as the
tokens of partial-order reduction (``Pending.blocks``, ``Pending.guarded``).

While a thread holds a mutex, a spinlock or a reader-writer lock for
writing, no other thread can take it, so no other thread can take a step
it takes only while holding that lock, until the holder releases it; a
lock held for reading keeps out the steps taken holding it for writing.
A lock counts when it is known before the program runs (``LockExpr.fixed``),
only lock steps write its slot (no effect clears it behind its holder's
back), and only its holder can release it: a bit lock (PG_locked, which
I/O completion clears), a seqlock and RCU never count.

Each lock ``L`` gives two tokens: ``any(L)`` (the thread holds ``L``) and
``excl(L)`` (it holds it for writing).  A step's guard is the tokens its
thread holds on every path to it (a must analysis over the program, as
``mc.dsl.program._held_modes`` is the may analysis), less those of the
locks the step itself writes (a release, or a wait that lets the lock go
while it sleeps, is not guarded by the lock).  What a thread at a step
keeps other threads from holding: ``any(L)`` and ``excl(L)`` for a lock
held for writing, ``excl(L)`` for one held for reading."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mc.dsl.steps import DowngradeStep, LockStep, Step, UnlockStep
from mc.dsl.wait_steps import HandOffStep, SectionStep, TryLockStep
from mc.engine.model import Footprint
from mc.kernel.locks import Kind, Lock, Mode
from mc.kernel.world import DONE

GUARDING_KINDS = frozenset((Kind.MUTEX, Kind.RWSEM, Kind.PERCPU_RWSEM, Kind.SPINLOCK))
"""The kinds of lock only their holder releases and only one thread holds
for writing."""

ACQUIRING = (LockStep, TryLockStep, SectionStep)
"""The steps that take a lock and release none the thread held before."""
LOCK_STEPS = (LockStep, TryLockStep, UnlockStep, HandOffStep, SectionStep)

Facts = dict[int, Mode]
"""The locks a thread surely holds, by slot, with the mode surely held
(``Mode.SHARED`` where it may be held either way)."""


def guarding_locks(
    locks: Sequence[Lock], programs: Sequence[Sequence[Step]], owns: Sequence[Sequence[Footprint]]
) -> dict[int, Lock]:
    """The locks that give tokens, by slot: of a guarding kind, and whose
    slot no step but a lock step writes (``owns``: each thread's steps'
    footprints)."""
    eligible = {lock.slot: lock for lock in locks if lock.kind in GUARDING_KINDS}
    for steps, own in zip(programs, owns, strict=True):
        for step, footprint in zip(steps, own, strict=True):
            if isinstance(step, LOCK_STEPS):
                continue
            for slot in [slot for slot in eligible if footprint.writes >> slot & 1]:
                del eligible[slot]
    return eligible


def surely_held(
    entry: int,
    steps: Sequence[Step],
    following: Sequence[tuple[int | None, int | None]],
    own: Sequence[Footprint],
    eligible: dict[int, Lock],
) -> list[Facts | None]:
    """For each step, the eligible locks the thread holds on every path
    from the step at ``entry`` to it, None for a step no path reaches.
    ``following``: each step's next step and jump target (``DONE`` or None
    where there is none)."""
    facts: list[Facts | None] = [None] * len(steps)
    if entry == DONE:
        return facts
    facts[entry] = {}
    work = [entry]
    while work:
        at = work.pop()
        before = facts[at]
        assert before is not None
        for target, out in zip(
            following[at], _after(steps[at], before, own[at], eligible), strict=True
        ):
            if target is None or target == DONE:
                continue
            known = facts[target]
            merged = out if known is None else _meet(known, out)
            if merged != known:
                facts[target] = merged
                work.append(target)
    return facts


def _meet(one: Facts, other: Facts) -> Facts:
    return {
        slot: mode if mode is other[slot] else Mode.SHARED
        for slot, mode in one.items()
        if slot in other
    }


def _after(
    step: Step, before: Facts, footprint: Footprint, eligible: dict[int, Lock]
) -> tuple[Facts, Facts]:
    """What ``step`` leaves surely held on the way to its next step and on
    the way to its jump target."""
    acquires = isinstance(step, ACQUIRING)
    lock = getattr(step, "lock", None)
    fixed = None if lock is None else lock.fixed
    if acquires and fixed is None:
        return before, before
    kept = {slot: mode for slot, mode in before.items() if not footprint.writes >> slot & 1}
    if fixed is None or fixed.slot not in eligible:
        return kept, kept
    if isinstance(step, LockStep | TryLockStep):
        return {**kept, fixed.slot: step.mode}, kept
    if isinstance(step, DowngradeStep):
        return {**kept, fixed.slot: Mode.SHARED}, kept
    return kept, kept


def tokens(
    step: Step, facts: Facts | None, footprint: Footprint, eligible: dict[int, Lock]
) -> tuple[int, int]:
    """A step's guard and what its thread keeps others from holding while
    it is at the step, as masks of tokens (``any(L)`` is bit ``2 * slot``,
    ``excl(L)`` bit ``2 * slot + 1``): the locks of ``facts`` the step
    does not write or takes (a step that takes a lock lets go of none);
    a spinlock section (``SectionStep``), disabled while
    another thread holds its lock, is guarded by that lock too."""
    guard = blocks = 0
    lock = step.lock.fixed if isinstance(step, SectionStep) else None
    if lock is not None and lock.slot in eligible:
        guard = 3 << 2 * lock.slot
    acquires = isinstance(step, ACQUIRING)
    for slot, mode in (facts or {}).items():
        if footprint.writes >> slot & 1 and not acquires:
            continue
        anyone, writer = 1 << 2 * slot, 1 << 2 * slot + 1
        if mode is Mode.EXCL:
            guard |= anyone | writer
            blocks |= anyone | writer
        else:
            guard |= anyone
            blocks |= writer
    return guard, blocks


def thread_tokens(
    entry: int,
    steps: Sequence[Step],
    following: Sequence[tuple[int | None, int | None]],
    own: Sequence[Footprint],
    eligible: dict[int, Lock],
) -> tuple[list[int], list[int]]:
    """For each step of one thread's program, its guard and what its
    thread keeps others from holding there (``tokens``), from the locks
    it surely holds (``surely_held``)."""
    facts = surely_held(entry, steps, following, own, eligible)
    pairs = [
        tokens(step, known, mine, eligible)
        for step, known, mine in zip(steps, facts, own, strict=True)
    ]
    return [guard for guard, _ in pairs], [blocks for _, blocks in pairs]


def guarded_parts(
    own: Sequence[Footprint],
    guards: Sequence[int],
    reach: Callable[[Sequence[Footprint]], list[Footprint]],
) -> tuple[list[Footprint], list[tuple[tuple[int, Footprint], ...]]]:
    """For each step, the footprint of the unguarded steps it leads to, and
    that of the guarded ones by guard; ``reach`` sums footprints, one a
    step, over the steps each step leads to (``Reach.footprints``)."""
    empty = Footprint()
    free = reach(
        [footprint if not guard else empty for footprint, guard in zip(own, guards, strict=True)]
    )
    by_guard = [
        (
            guard,
            reach(
                [
                    footprint if mine == guard else empty
                    for footprint, mine in zip(own, guards, strict=True)
                ]
            ),
        )
        for guard in sorted(set(guards) - {0})
    ]
    parts = [
        tuple((guard, found[at]) for guard, found in by_guard if found[at] != empty)
        for at in range(len(own))
    ]
    return free, parts
