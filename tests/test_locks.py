"""Lock semantics and every protocol error the kernel world detects."""

from __future__ import annotations

import json
import re

import attrs
import pytest
from conftest import registry_with

from mc.check.checker import check_scenario
from mc.check.registry import base, shipped
from mc.dsl.kernel_model import Thread
from mc.dsl.operation import Invocation, Op, operation
from mc.dsl.program import Program
from mc.dsl.scenario import Registry, Scenario, Variant
from mc.dsl.steps import DowngradeStep, LockStep, UnlockStep
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.kernel import locks
from mc.kernel.expr import const
from mc.kernel.locks import EXCL, SHARED, Kind, Outcome
from mc.kernel.pagecache import File
from mc.kernel.world import ModelError
from mc.models.writeback import fsync, write
from mc.trace import format as cx_format
from mc.trace import text

TREE = ("/a/", "/b/")


def test_mutex_is_taken_once_and_released_by_its_holder() -> None:
    outcome, value = locks.acquire(Kind.MUTEX, None, 0, EXCL)
    assert (outcome, value) == (Outcome.TAKEN, 0)
    assert locks.acquire(Kind.MUTEX, value, 1, EXCL)[0] is Outcome.BLOCKED
    assert locks.acquire(Kind.MUTEX, value, 0, EXCL)[0] is Outcome.ALREADY_HELD
    assert locks.release(Kind.MUTEX, value, 1) == (False, value)
    assert locks.release(Kind.MUTEX, value, 0) == (True, None)


def test_rwsem_readers_share_and_a_queued_writer_blocks_new_readers() -> None:
    _, value = locks.acquire(Kind.RWSEM, None, 0, SHARED)
    outcome, value = locks.acquire(Kind.RWSEM, value, 1, SHARED)
    assert outcome is Outcome.TAKEN and value == (None, (0, 1), ())
    outcome, value = locks.acquire(Kind.RWSEM, value, 2, EXCL)
    assert outcome is Outcome.QUEUED and value == (None, (0, 1), (2,))
    assert locks.acquire(Kind.RWSEM, value, 3, SHARED)[0] is Outcome.BLOCKED
    assert locks.holders(Kind.RWSEM, value) == (0, 1)
    assert locks.queued(Kind.RWSEM, value) == (2,)
    _, value = locks.release(Kind.RWSEM, value, 0)
    assert locks.acquire(Kind.RWSEM, value, 2, EXCL)[0] is Outcome.BLOCKED
    _, value = locks.release(Kind.RWSEM, value, 1)
    outcome, value = locks.acquire(Kind.RWSEM, value, 2, EXCL)
    assert outcome is Outcome.TAKEN and value == (2, (), ())
    assert locks.release(Kind.RWSEM, value, 2) == (True, None)


def test_rwsem_queued_writers_go_in_order() -> None:
    _, value = locks.acquire(Kind.RWSEM, None, 0, EXCL)
    _, value = locks.acquire(Kind.RWSEM, value, 1, EXCL)
    _, value = locks.acquire(Kind.RWSEM, value, 2, EXCL)
    assert value == (0, (), (1, 2))
    _, value = locks.release(Kind.RWSEM, value, 0)
    assert locks.acquire(Kind.RWSEM, value, 2, EXCL)[0] is Outcome.BLOCKED
    assert locks.acquire(Kind.RWSEM, value, 1, EXCL) == (Outcome.TAKEN, (1, (), (2,)))


def test_seqlock_writers_bump_the_sequence() -> None:
    outcome, value = locks.acquire(Kind.SEQLOCK, (0, None), 0, EXCL)
    assert (outcome, value) == (Outcome.TAKEN, (1, 0))
    assert locks.acquire(Kind.SEQLOCK, value, 1, EXCL)[0] is Outcome.BLOCKED
    assert locks.release(Kind.SEQLOCK, value, 0) == (True, (2, None))
    assert Kind.SEQLOCK.atomic and Kind.SPINLOCK.atomic and not Kind.MUTEX.atomic
    assert Kind.RWSEM.sleeps and not Kind.SPINLOCK.sleeps


@operation(models="a thread taking a mutex twice")
def take_twice(op: Op) -> None:
    op.lock(op.world.superblock.s_vfs_rename_sem)
    op.lock(op.world.superblock.s_vfs_rename_sem)


@operation(models="a thread unlocking what it never locked")
def unlock_unheld(op: Op) -> None:
    op.unlock(op.inode("/a").i_rwsem)


@operation(models="a thread returning with a lock held")
def leak(op: Op) -> None:
    op.lock(op.inode("/a").i_rwsem, SHARED)


@operation(models="a thread sleeping under a spinning lock")
def sleep_in_atomic(op: Op) -> None:
    op.lock(op.world.rename_lock)
    op.lock(op.inode("/a").i_rwsem)
    op.unlock(op.inode("/a").i_rwsem)
    op.unlock(op.world.rename_lock)


@operation(models="a thread calling a filesystem method under a spinning lock")
def call_in_atomic(op: Op) -> None:
    op.lock(op.world.rename_lock)
    op.call(
        "dquot_operations.mark_dirty", lambda _scratch: 0, label="dquot->dq_op->mark_dirty(dquot)"
    )
    op.unlock(op.world.rename_lock)


@operation(models="a thread taking a spinning lock under another")
def nest_spin(op: Op) -> None:
    op.lock(op.inode("/a").i_rwsem)
    op.lock(op.world.rename_lock)
    op.unlock(op.world.rename_lock)
    op.unlock(op.inode("/a").i_rwsem)


@operation(models="read A then read B")
def read_a_then_b(op: Op) -> None:
    a, b = op.inode("/a"), op.inode("/b")
    op.lock(a.i_rwsem, SHARED)
    op.lock(b.i_rwsem, SHARED)
    op.unlock(b.i_rwsem)
    op.unlock(a.i_rwsem)


@operation(models="read B then write A")
def read_b_then_write_a(op: Op) -> None:
    a, b = op.inode("/a"), op.inode("/b")
    op.lock(b.i_rwsem, SHARED)
    op.lock(a.i_rwsem, EXCL)
    op.unlock(a.i_rwsem)
    op.unlock(b.i_rwsem)


@operation(models="write B")
def write_b(op: Op) -> None:
    b = op.inode("/b")
    op.lock(b.i_rwsem, EXCL)
    op.unlock(b.i_rwsem)


def _registry(*threads: object) -> Registry:
    registry = base()
    registry.add_scenario(Scenario("test/s", "test", TREE, tuple(threads)))  # type: ignore[arg-type]
    return registry


@pytest.mark.parametrize(
    ("thread", "message"),
    [
        (
            take_twice,
            "T1 takes s_vfs_rename_sem, which it already holds: it waits for itself forever "
            "(a deadlock)",
        ),
        (unlock_unheld, "T1 unlocks i_rwsem(/a), which it does not hold"),
        (leak, "T1 returns holding i_rwsem(/a)"),
        (sleep_in_atomic, "T1 may sleep (taking i_rwsem(/a)) holding rename_lock"),
        (
            call_in_atomic,
            "T1 may sleep (a filesystem's dquot_operations.mark_dirty may: "
            "dquot->dq_op->mark_dirty(dquot)) holding rename_lock",
        ),
    ],
)
def test_protocol_errors_are_violations(thread: object, message: str) -> None:
    outcome = check_scenario(_registry(thread()), "test/s")  # type: ignore[operator]
    violation = outcome.result.violation
    assert violation is not None
    assert (violation.property, violation.message) == ("lock-protocol", message)
    assert outcome.counterexample is not None
    assert outcome.counterexample.steps[-1].event.kind == "error"


def test_spinning_under_a_sleeping_lock_is_fine() -> None:
    outcome = check_scenario(_registry(nest_spin()), "test/s")
    assert outcome.result.verdict is Verdict.OK


@operation(models="lock and unlock a mutex")
def use_mutex(op: Op) -> None:
    op.lock(op.world.superblock.s_vfs_rename_sem)
    op.unlock(op.world.superblock.s_vfs_rename_sem)


def test_two_threads_on_one_mutex_interleave_exactly() -> None:
    """Free; T1 or T2 holds it (2); the holder done, the other before or
    holding (2 + 2); both done: 8 states."""
    registry = _registry(use_mutex(), use_mutex())
    result = check(registry.build(registry.scenario("test/s")))
    assert result.verdict is Verdict.OK
    assert (result.stats.states, result.stats.transitions) == (8, 8)


def test_two_writers_on_one_rwsem_queue_exactly() -> None:
    """The 8 states of the mutex case, plus the second writer queued while
    the first holds the lock (2) and after it released it (2): 12."""
    registry = _registry(write_b(), write_b())
    result = check(registry.build(registry.scenario("test/s")))
    assert result.verdict is Verdict.OK
    assert result.stats.states == 12


def test_a_queued_writer_deadlocks_recursive_readers() -> None:
    """T1 holds A shared and wants B shared; T3's queued write on B blocks
    it though only T2 reads B, and T2 waits to write A: a cycle only the
    writer-preferring rw_semaphore creates."""
    registry = _registry(read_a_then_b(), read_b_then_write_a(), write_b())
    outcome = check_scenario(registry, "test/s")
    assert outcome.result.violation is not None
    assert outcome.result.violation.property == "deadlock"
    cycle = outcome.counterexample.cycle if outcome.counterexample else ()
    edges = {(e.waiter, e.resource, e.holder) for e in cycle}
    assert ("T1", "i_rwsem(/b)", "T3") in edges
    assert ("T2", "i_rwsem(/a)", "T1") in edges


def test_taking_a_held_sleeping_lock_is_a_one_thread_deadlock() -> None:
    outcome = check_scenario(_registry(take_twice()), "test/s", properties=["deadlock"])
    violation = outcome.result.violation
    assert violation is not None and violation.property == "deadlock"
    assert "T1 waits for s_vfs_rename_sem held by T1" in violation.message
    assert "lock-protocol" in violation.message
    found = outcome.counterexample
    assert found is not None
    assert [(e.waiter, e.resource, e.holder) for e in found.cycle] == [
        ("T1", "s_vfs_rename_sem", "T1")
    ]
    assert "cycle: T1 -> s_vfs_rename_sem -> T1" in text.render(found)


@operation(models="a thread taking a mutex, then waiting for an i_rwsem")
def mutex_then_rwsem(op: Op) -> None:
    op.lock(op.world.superblock.s_vfs_rename_sem)
    op.lock(op.inode("/a").i_rwsem)
    op.unlock(op.inode("/a").i_rwsem)
    op.unlock(op.world.superblock.s_vfs_rename_sem)


@operation(models="a thread taking an i_rwsem, then waiting for a mutex")
def rwsem_then_mutex(op: Op) -> None:
    op.lock(op.inode("/a").i_rwsem)
    op.lock(op.world.superblock.s_vfs_rename_sem)
    op.unlock(op.world.superblock.s_vfs_rename_sem)
    op.unlock(op.inode("/a").i_rwsem)


def test_every_blocked_thread_shows_its_blocked_step() -> None:
    registry = _registry(mutex_then_rwsem(), rwsem_then_mutex())
    outcome = check_scenario(registry, "test/s")
    found = outcome.counterexample
    assert found is not None and found.property == "deadlock"
    blocked = {step.thread: step for step in found.blocked}
    assert set(blocked) == {"T1", "T2"}
    assert blocked["T2"].label == "lock s_vfs_rename_sem exclusive"
    assert "which T1 could end" in blocked["T2"].event.text
    rendered = text.render(found)
    assert "blocked: waits for s_vfs_rename_sem, which T1 could end" in rendered
    again = cx_format.from_json(json.loads(found.dumps()))
    assert again.blocked == found.blocked


def test_a_lost_wake_up_says_so_and_no_cycle() -> None:
    """Dropping posix_unlock()'s flc_lock loses T2's wake-up: T1 deleted its
    lock and woke the waiters before T2 queued, so T2 waits for a wake-up
    that never comes (not for a lock T1 holds), which is no cycle."""
    outcome = check_scenario(
        shipped(),
        "filelock/posix-chain",
        ["mutant:drop@lock_two_ranges:posix_unlock:spin_lock(&ctx->flc_lock)"],
        ["deadlock"],
    )
    violation = outcome.result.violation
    assert violation is not None and violation.property == "deadlock"
    assert violation.message.startswith(
        "T2 waits for a wake-up that never comes: no thread holds a POSIX lock on /f 10-19 any "
        "more (a lost wake-up)"
    )
    assert "held by T1" not in violation.message
    assert outcome.counterexample is not None
    rendered = text.render(outcome.counterexample)
    assert "blocked: waits for a wake-up that never comes" in rendered
    assert "cycle:" not in rendered
    numbered = [line for line in rendered.splitlines() if re.match(r" *\d+  ", line)]
    assert any(step.chained for step in outcome.counterexample.steps)
    assert all(re.match(r" *\d+  T\d ", line) for line in numbered), "a step without its thread"


def test_a_wait_only_a_missing_thread_could_end_is_the_scenario_s_error() -> None:
    """fsync waiting for writeback with no thread to complete the I/O: the
    scenario deadlocks whatever the protocol, a model error naming that
    wait, not the thread waiting behind it."""
    cached = File("/f", pages=1, cached=(0,), dirty=(0,))
    registry = shipped()
    registry.add_scenario(
        Scenario("test/no-io", "x", ("/f",), (fsync(cached), write(cached, 0)), ("deadlock",))
    )
    with pytest.raises(
        ModelError, match=r"^test/no-io: T1 waits for PG_writeback\(/f:0\), which no"
    ):
        check_scenario(registry, "test/no-io")


@operation(models="read or write A by a test, then release it")
def read_or_write_a(op: Op) -> None:
    a = op.inode("/a")
    with op.when(const(True, "true"), "if (exclusive)"):
        op.lock(a.i_rwsem, EXCL, label="inode_lock(a)")
    with op.otherwise():
        op.lock(a.i_rwsem, SHARED, label="inode_lock_shared(a)")
    op.unlock(a.i_rwsem, label="unlock(a)")


def _release(program: Program, label: str) -> UnlockStep:
    step = program.step(label)
    assert isinstance(step, UnlockStep)
    return step


def test_a_release_takes_the_one_mode_its_lock_is_held_in_where_it_is_reached() -> None:
    """The program as built gives a release the mode every path to it holds
    the lock in: up_read after down_read, after downgrade_write; a release
    reached holding the lock either way is left to release what is held."""
    program = _built(read_a_then_b()).program
    assert _release(program, "unlock i_rwsem(/b)").mode is SHARED
    assert _release(_built(write_b()).program, "unlock i_rwsem(/b)").mode is EXCL
    assert _release(_built(read_or_write_a()).program, "unlock(a)").mode is None


def _built(invocation: Invocation) -> Thread:
    model = base().build(Scenario("test/s", "test", TREE, (invocation,)))
    (thread,) = model.threads
    return thread


def _mode_changed(program: Program, invocation: Invocation) -> Program:
    return program.replace_steps(
        lambda step: (
            (attrs.evolve(step, mode=EXCL),)
            if isinstance(step, LockStep) and step.lock.text == "i_rwsem(/a)"
            else (step,)
        )
    )


def test_a_release_in_the_mode_the_lock_is_not_held_in_is_a_protocol_error(
    shipped: Registry,
) -> None:
    """An acquisition made exclusive by hand leaves up_read() of a
    write-held rwsem; Program.strengthen changes the release with it."""
    by_hand = Variant("by-hand", "down_write, up_read", transform=_mode_changed)
    strengthened = Variant(
        "strengthened",
        "down_write, up_write",
        transform=lambda program, _invocation: program.strengthen(
            lambda step: step.lock.text == "i_rwsem(/a)"
        ),
    )
    scenario = Scenario("test/read", "read A then B", TREE, (read_a_then_b(),))
    registry = registry_with(shipped, by_hand, strengthened, scenarios=(scenario,))
    assert check_scenario(registry, scenario.name).result.verdict is Verdict.OK
    assert check_scenario(registry, scenario.name, ("strengthened",)).result.verdict is Verdict.OK
    violation = check_scenario(registry, scenario.name, ("by-hand",)).result.violation
    assert violation is not None and violation.property == "lock-protocol"
    assert violation.message.startswith(
        "T1 releases i_rwsem(/a) for reading (up_read) at 'unlock i_rwsem(/a)', but holds it "
        "for writing"
    )


def test_munmap_without_its_downgrade_releases_a_write_held_mmap_lock_for_reading(
    shipped: Registry,
) -> None:
    """__vm_munmap() without mmap_write_downgrade() still ends with
    mmap_read_unlock(): an up_read() of the mmap_lock it holds for writing."""
    no_downgrade = Variant(
        "munmap-no-downgrade",
        "do_vmi_align_munmap() does not downgrade mmap_lock",
        transform=lambda program, _invocation: program.drop(
            lambda step: isinstance(step, DowngradeStep)
        ),
    )
    racing = shipped.scenario("mmap/load-vs-munmap")
    registry = registry_with(shipped, no_downgrade, scenarios=(racing,))
    assert check_scenario(registry, racing.name).result.verdict is Verdict.OK
    violation = check_scenario(registry, racing.name, ("munmap-no-downgrade",)).result.violation
    assert violation is not None and violation.property == "lock-protocol"
    assert "releases mmap_lock" in violation.message
    assert (
        "for reading (up_read)" in violation.message and "holds it for writing" in violation.message
    )


def test_a_blocked_thread_behind_a_queued_waiter_names_the_holder_and_the_waiter_apart() -> None:
    """T3 waits for i_rwsem(/a/b), which T2 holds and T1 waits for ahead of
    it: T2 could end the wait, after T1 had its turn."""
    from mc.testing import check

    found = check("dirops/rename-rmdir-link", ["child-first"], "deadlock").counterexample
    assert found is not None
    blocked = {step.thread: step.event.text for step in found.blocked}
    assert blocked["T3"] == (
        "waits for i_rwsem(/a/b), which T2 could end (behind T1, queued for it first)"
    )
    assert blocked["T1"] == "waits for i_rwsem(/a/b), which T2 could end"
