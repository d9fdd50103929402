"""The locks a thread surely holds (``mc.dsl.guards``), which let the
partial-order reduction pass over another thread's steps taken under a
lock the first one holds: on the states the models reach, a thread holds
every lock its tokens say it keeps from the others, and no thread that can
move is one whose step those tokens say cannot."""

from __future__ import annotations

import pytest
from conftest import first_reachable

from mc.dsl.scenario import Registry
from mc.engine.model import Footprint, Pending
from mc.engine.reduction import Reduction
from mc.kernel import locks

GUARD_SCENARIOS = [
    ("dirops/rename-rmdir-link", ()),
    ("dirops/rmdir-vs-create", ("rmdir-no-victim-lock",)),
    ("super/mount-remount-sync", ()),
    ("super/freeze-vs-remount", ("remount-ignores-frozen",)),
    ("file/opposite-remaps", ("remap-argument-order",)),
    ("file/readdir-vs-create-unlink", ()),
    ("filelock/unlink-vs-delegation-frozen", ()),
]


def _covers(outer: Footprint, inner: Footprint) -> bool:
    return not (inner.reads & ~outer.reads or inner.writes & ~outer.writes)


@pytest.mark.parametrize(("scenario", "variants"), GUARD_SCENARIOS)
def test_a_thread_holds_the_locks_its_tokens_keep_from_the_others(
    shipped: Registry, scenario: str, variants: tuple[str, ...]
) -> None:
    model = shipped.build(shipped.scenario(scenario), variants)
    by_slot = {lock.slot: lock for lock in model.world.locks}
    kept = 0
    for state in first_reachable(model, 1500):
        for pending in model.pending(state):
            tid = pending.actor
            assert isinstance(tid, int)
            blocks = pending.blocks
            for slot, lock in by_slot.items():
                anyone, writer = blocks >> 2 * slot & 1, blocks >> 2 * slot + 1 & 1
                if anyone:
                    assert locks.holds_exclusively(lock.kind, state[slot], tid), (lock.name, tid)
                elif writer:
                    assert locks.holds(lock.kind, state[slot], tid), (lock.name, tid)
                kept += anyone | writer
    assert kept > 0


@pytest.mark.parametrize(("scenario", "variants"), GUARD_SCENARIOS)
def test_no_thread_that_can_move_is_kept_out_by_another_s_locks(
    shipped: Registry, scenario: str, variants: tuple[str, ...]
) -> None:
    model = shipped.build(shipped.scenario(scenario), variants)
    passed_over = 0
    for state in first_reachable(model, 1500):
        pending = {p.actor: p for p in model.pending(state)}
        movers = {tid for (tid, _branch), _after in model.successors(state)}
        for tid in movers:
            mine = pending[tid]
            for other in pending.values():
                if other.actor == tid or not (other.blocks and mine.guarded):
                    continue
                assert mine.unguarded is not None
                allowed = mine.unguarded
                for guard, part in mine.guarded:
                    if guard & other.blocks:
                        passed_over += 1
                    else:
                        allowed = allowed | part
                assert _covers(allowed, mine.next), (scenario, tid, other.actor)
    assert passed_over > 0


def _pending(actor: int, next_step: Footprint, *, blocks: int = 0, guarded: int = 0) -> Pending:
    """An actor whose next step is ``next_step`` and that may later write
    location 0 holding token ``guarded`` (none: holding nothing)."""
    later = Footprint(0, 1)
    parts = ((guarded, later),) if guarded else ()
    return Pending(actor, next_step, next_step | later, blocks, parts, next_step if parts else None)


class _Nothing:
    def pending(self, _state: object) -> None:
        return None


def test_a_step_under_a_lock_the_other_actor_holds_is_no_conflict() -> None:
    reduction = Reduction(_Nothing(), [])  # type: ignore[arg-type]
    holder = _pending(0, Footprint(1, 0), blocks=0b1)
    waiter = _pending(1, Footprint(0, 0b10), guarded=0b1)
    unguarded = _pending(2, Footprint(0, 0b100))
    assert reduction.closures_of([holder, waiter])[0] == (0b1, 0)
    assert all(members != 0b1 for members, _ in reduction.closures_of([holder, unguarded]))
    free = _pending(0, Footprint(1, 0))
    assert all(members != 0b1 for members, _ in reduction.closures_of([free, waiter]))
    other_token = _pending(0, Footprint(1, 0), blocks=0b10)
    assert all(members != 0b1 for members, _ in reduction.closures_of([other_token, waiter]))
