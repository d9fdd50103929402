"""Metadata buffers (models/buffer.py): the correct protocol keeps every
update, and what a scenario or a variant of a user's gets wrong is said
where it goes wrong (tests/test_quota_bdev_aops.py has each shipped
variant break what the buffer cache's protocol protects)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import EndStates, registry_with

from mc.check.checker import check_scenario
from mc.dsl import Invocation, ModelError, Program
from mc.dsl.scenario import Registry, Variant
from mc.dsl.steps import EffectStep, LockStep, UnlockStep
from mc.dsl.wait_steps import SectionStep, TryLockStep
from mc.models.buffer import reclaim_block, update_block


def test_every_end_state_has_every_update_on_disk_or_in_a_dirty_buffer(
    end_states: EndStates,
) -> None:
    """What metadata-update-durable asks, read off every final state of the
    flusher scenario: both bits are in the buffer, and a bit the block
    lacks is in a dirty buffer of a dirty folio; some final states have
    bob's bit only in the buffer (the flusher found alice's write holding
    the buffer lock and redirtied the folio)."""
    slots, ends = end_states("buffer/sync-update-vs-flusher")
    pending = 0
    for state in ends:
        on_disk = state[slots["on disk(block 7)"]]
        assert state[slots["updates made(block 7)"]] == {"alice", "bob"}
        assert state[slots["b_count(block 7)"]] == 0
        if on_disk != {"alice", "bob"}:
            pending += 1
            assert state[slots["b_data(block 7)"]] == {"alice", "bob"}
            assert state[slots["folio(bdev:0)"]] & 1
            assert state[slots["b_state(block 7)"]] & 2
    assert pending


def test_an_operation_takes_its_arguments_by_keyword_too() -> None:
    assert update_block("alice", sync=True) == update_block("alice", True)
    assert update_block(bit="alice") == update_block("alice")
    with pytest.raises(ModelError, match=r"update_block\(\): got an unexpected keyword"):
        update_block("alice", synchronous=True)


@pytest.mark.usefixtures("own_models")
def test_buffer_io_without_a_completion_thread_says_what_is_missing(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """The read sb_bread() submits is never completed: a model error (the
    scenario deadlocks whatever the protocol) that names the thread to add."""
    (tmp_path / "mine.py").write_text(
        "from mc.dsl import scenario\n"
        "from mc.models.buffer import update_block\n"
        'scenario("mine/alone", "updates nobody completes the reads of", tree=[],\n'
        '         threads=[update_block("alice"), update_block("bob")])\n'
    )
    result = vfsmc("check", "mine.py:mine/alone")
    assert result.exit_code == 2, result.output
    assert (
        "waits for BH_Lock(block 7), which no thread could end: no thread of the scenario "
        "completes bios: add a bh_io_completion() thread (without it the scenario deadlocks "
        "whatever the protocol)"
    ) in result.output
    assert not (tmp_path / "counterexamples").exists()


SUBMIT_UNLOCKED = """
from mc.dsl import Invocation, Program, variant
from mc.models.buffer import update_block

@variant("sync-without-lock-buffer", "__sync_dirty_buffer() submits without lock_buffer()")
def sync_without_lock(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(update_block):
        return program
    return program.drop_acquisitions(
        lambda step: step.label == "sync_dirty_buffer(bh): lock_buffer(bh)"
    )
"""


@pytest.mark.usefixtures("own_models")
def test_io_submitted_on_a_buffer_the_thread_did_not_lock_is_a_protocol_error(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """submit_bh_wbc()'s BUG_ON(!buffer_locked(bh)): a sync write without
    lock_buffer() is reported where it submits, blaming its own thread."""
    (tmp_path / "mine.py").write_text(SUBMIT_UNLOCKED)
    args = ("--models", "mine.py", "-V", "sync-without-lock-buffer", "--no-save")
    result = vfsmc("check", "buffer/sync-update-vs-flusher", *args)
    assert result.exit_code == 1, result.output
    assert "lock-protocol in buffer/sync-update-vs-flusher" in result.output
    assert (
        "T1 submits I/O of the buffer of block 7 without holding its BH_Lock (nobody holds it)"
    ) in result.output


def _reclaim_program(shipped: Registry) -> Program:
    model = shipped.build(shipped.scenario("buffer/update-vs-reclaim"), properties=())
    [reclaim] = [t for t in model.threads if t.invocation.operation is reclaim_block]
    return reclaim.program


def test_dropping_a_lock_drops_its_trylocks_and_unlocks_its_sections(shipped: Registry) -> None:
    """drop_lock and drop_acquisitions reach every way a program takes a
    lock: a trylock dropped is gone (the thread goes on as if it got the
    lock) and a spinlock section is its effect alone, still one step (an
    assertion that the lock is held stays, to fail where the kernel's
    BUG_ON would)."""
    program = _reclaim_program(shipped)
    tries = [s for s in program.steps if isinstance(s, TryLockStep)]
    sections = [s for s in program.steps if isinstance(s, SectionStep)]
    assert tries and sections
    no_folio_lock = program.drop_lock("PG_locked(bdev:0)")
    taking = (LockStep, UnlockStep, TryLockStep)
    assert not any(isinstance(s, taking) and s.lock == tries[0].lock for s in no_folio_lock.steps)
    no_private_lock = program.drop_lock("private_lock")
    [effect] = [s for s in no_private_lock.steps if s.label == sections[0].label]
    assert type(effect) is EffectStep and effect.effect is sections[0].effect
    assert effect.result == sections[0].result
    dropped = program.drop_acquisitions(lambda _step: True)
    assert not any(isinstance(s, TryLockStep | SectionStep | LockStep) for s in dropped.steps)
    assert all(s.if_held for s in dropped.steps if isinstance(s, UnlockStep))


def test_mutate_drops_a_trylock_and_lists_the_sections_it_leaves(
    vfsmc: Callable[..., Result],
) -> None:
    """Reclaim's folio_trylock() dropped breaks the BUG_ON(!folio_test_locked())
    of try_to_free_buffers(); private_lock's sections are listed as not
    mutated, not left out in silence."""
    result = vfsmc("mutate", "buffer/update-vs-reclaim", "--no-save", "--json")
    report = json.loads(result.output)
    dropped = [
        m for m in report["mutations"] if m["kind"] == "drop" and m["operation"] == "reclaim_block"
    ]
    assert [m["verdict"] for m in dropped] == ["VIOLATED"]
    assert dropped[0]["property"] == "lock-protocol"
    assert "BUG_ON(!folio_test_locked(folio))" in dropped[0]["message"]
    assert len(report["sections_not_mutated"]) == 3
    assert all("[private_lock(bdev)]" in line for line in report["sections_not_mutated"])
    assert any("__find_get_block(" in line for line in report["sections_not_mutated"])


@pytest.mark.usefixtures("own_models")
def test_two_devices_completion_threads_do_not_wait_for_each_other(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """A scenario running a file's page cache and a metadata buffer has two
    completion threads, each returning once every other thread has: they
    leave each other out, where each waiting for the other was a deadlock."""
    (tmp_path / "mixed.py").write_text(
        "from mc.dsl import File, scenario\n"
        "from mc.models.buffer import bh_io_completion, update_block\n"
        "from mc.models.writeback import fsync, io_completion, write\n"
        'F = File("/f", pages=1, cached=(0,))\n'
        'scenario("mine/mixed", "a data write and a bitmap update", tree=["/f"],\n'
        '         threads=[update_block("alice"), write(F, 0), fsync(F), io_completion(F),\n'
        "                  bh_io_completion()])\n"
    )
    result = vfsmc("check", "mixed.py:mine/mixed", "--no-save")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("mine/mixed: OK")


MINIX = """
from mc.dsl import EXCL, LockKind, Op, flag_variant, operation, scenario
from mc.models.buffer import (
    bh_io_completion, bread, brelse, mark_buffer_dirty, meta_block, reclaim_block, update,
)

EARLY = "brelse-before-dirty"
flag_variant(EARLY, "the inode-table update drops its buffer_head before dirtying it")


@operation(models="a minix-style inode-table update")
def itable_update(op: Op, bit: str) -> None:
    b = meta_block(op.world)
    lock = op.world.shared_lock("itable_lock", LockKind.MUTEX)
    bh = bread(op, b)
    op.lock(lock, EXCL, "mutex_lock(&sbi->s_itable_lock)")
    update(op, b, bh, bit, "raw_inode->i_mode = ...")
    op.unlock(lock, "mutex_unlock(&sbi->s_itable_lock)")
    if op.variant(EARLY):
        brelse(op, b, bh)
    mark_buffer_dirty(op, b, bh, bit)
    if not op.variant(EARLY):
        brelse(op, b, bh)


scenario("minix/update-vs-reclaim", "an inode-table update while reclaim frees buffers",
         tree=[], threads=[itable_update("alice"), reclaim_block(), bh_io_completion()])
"""


@pytest.mark.usefixtures("own_models")
def test_a_user_s_own_buffer_operation_is_checked(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """An operation of a user's own, written with the documented buffer
    calls: it passes, and its variant that drops the reference before
    mark_buffer_dirty() touches a buffer_head reclaim freed."""
    (tmp_path / "minix.py").write_text(MINIX)
    ok = vfsmc("check", "minix.py:minix/update-vs-reclaim", "--no-save")
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("minix/update-vs-reclaim: OK")
    args = ("-V", "brelse-before-dirty", "--no-save")
    broken = vfsmc("check", "minix.py:minix/update-vs-reclaim", *args)
    assert broken.exit_code == 1, broken.output
    assert "bh-no-use-after-free in minix/update-vs-reclaim" in broken.output
    assert "mark_buffer_dirty(bh) touches buffer_head #1 of block 7" in broken.output


LATE_WAIT = """
from mc.dsl import Invocation, Op, Program, flag_variant, operation, scenario, variant
from mc.models.buffer import (
    bh_io_completion, bread, brelse, lock_buffer, meta_block, reclaim_block, unlock_buffer,
    update_block,
)


@variant("brelse-during-io", "the sync update drops its reference after submit_bh(), "
         "before wait_on_buffer()")
def brelse_during_io(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(update_block):
        return program
    waits = [step for step in program.steps if step.label == "wait_on_buffer(bh)"]
    return program.move_before(program.step("brelse(bh)"), waits[-1])


RELOCK = "relock-after-brelse"
flag_variant(RELOCK, "the reader drops its reference before it locks the buffer")


@operation(models="a reader locking the buffer to look at it")
def inspect(op: Op) -> None:
    b = meta_block(op.world)
    bh = bread(op, b)
    if op.variant(RELOCK):
        brelse(op, b, bh)
    lock_buffer(op, b, bh, "lock_buffer(bh) /* look */")
    unlock_buffer(op, b)
    if not op.variant(RELOCK):
        brelse(op, b, bh)


scenario("my/late-wait", "a sync update while reclaim frees the buffers", tree=[],
         threads=[update_block("alice", sync=True), reclaim_block(), bh_io_completion()])
scenario("my/relock", "a reader while reclaim frees the buffers", tree=[],
         threads=[inspect(), reclaim_block(), bh_io_completion()])
"""


@pytest.mark.usefixtures("own_models")
@pytest.mark.parametrize(
    ("name", "variant", "step"),
    [
        ("my/late-wait", "brelse-during-io", "T1's 'wait_on_buffer(bh)'"),
        ("my/relock", "relock-after-brelse", "T1's 'lock_buffer(bh) /* look */'"),
    ],
)
def test_waiting_on_or_locking_a_freed_buffer_head_is_a_use_after_free(
    vfsmc: Callable[..., Result], tmp_path: Path, name: str, variant: str, step: str
) -> None:
    """``wait_on_buffer(op, b, bh)`` and ``lock_buffer(op, b, bh)`` read the
    buffer_head through the thread's pointer: once reclaim freed it (the
    thread holding no reference), each is a use after free, the wait also
    where the buffer was freed while the thread slept.  With the reference
    held to the end, reclaim frees nothing the thread uses."""
    (tmp_path / "late.py").write_text(LATE_WAIT)
    ok = vfsmc("check", f"late.py:{name}", "--no-save")
    assert ok.exit_code == 0, ok.output
    broken = vfsmc("check", f"late.py:{name}", "-V", variant, "--no-save")
    assert broken.exit_code == 1, broken.output
    assert f"bh-no-use-after-free in {name}" in broken.output
    assert f"{step} touches buffer_head #1 of block 7, which try_to_free_buffers() freed" in (
        broken.output
    )


@pytest.mark.usefixtures("own_models")
def test_a_buffer_call_given_a_label_for_its_buffer_head_says_so(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """``lock_buffer(op, b, "text")``, the buffer_head left out, is one
    line naming the argument."""
    source = LATE_WAIT.replace(
        'lock_buffer(op, b, bh, "lock_buffer(bh) /* look */")', 'lock_buffer(op, b, "look")'
    )
    (tmp_path / "late.py").write_text(source)
    result = vfsmc("check", "late.py:my/relock", "--no-save")
    assert result.exit_code == 2, result.output
    assert "bh is the buffer_head bread() returned, not 'look'" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


SPLIT_RECLAIM = """
from mc.dsl import EXCL, Op, Scratch, const, flag_variant, operation, same, scenario
from mc.models.buffer import bh_io_completion, meta_block, update_block

UNLOCKED = "split-free-unlocked"
flag_variant(UNLOCKED, "the two-step free without private_lock")


def _busy(scratch: Scratch, b) -> int:
    if scratch[b.bh] is None:
        return 0
    return int(bool(scratch[b.b_count] or scratch[b.bh_lock.slot] is not None))


def _drop(scratch: Scratch, b) -> None:
    scratch[b.bh] = None
    scratch[b.bh_state] = 0


@operation(models="try_to_free_buffers() as a busy test and a free")
def split_reclaim(op: Op) -> None:
    b = meta_block(op.world)
    op.trylock(b.folio_lock, "out", "if (!folio_trylock(folio)) goto keep")
    locked = not op.variant(UNLOCKED)
    if locked:
        op.lock(b.private_lock, EXCL, "spin_lock(&mapping->i_private_lock)")
    busy = op.compute("busy", "if (buffer_busy(bh)) goto failed", _busy, b)
    with op.when(same(busy, const(0, "0")), "if (!buffer_busy(bh))"):
        op.effect("free_buffer_head(bh)", _drop, b)
    if locked:
        op.unlock(b.private_lock, "spin_unlock(&mapping->i_private_lock)")
    op.unlock(b.folio_lock, "folio_unlock(folio)")
    op.label("out")


scenario("my/split-reclaim", "an updater against a two-step try_to_free_buffers()", tree=[],
         threads=[update_block("alice"), split_reclaim(), bh_io_completion()])
"""


def test_the_lookup_of_a_buffer_head_takes_private_lock(vfsmc: Callable[..., Result]) -> None:
    """__find_get_block() takes its reference under private_lock
    (__find_get_block_slow(), fs/buffer.c 6.7): a try_to_free_buffers()
    written as two steps under private_lock is safe against it, and
    without the lock the free lands between the busy test and the use."""
    Path("split.py").write_text(SPLIT_RECLAIM)
    ok = vfsmc("check", "split.py:my/split-reclaim", "--no-save")
    assert ok.exit_code == 0, ok.output
    broken = vfsmc("check", "split.py:my/split-reclaim", "-V", "split-free-unlocked", "--no-save")
    assert broken.exit_code == 1, broken.output
    assert "bh-no-use-after-free" in broken.output


def test_the_lookup_of_6_16_takes_the_folio_lock_instead(vfsmc: Callable[..., Result]) -> None:
    """Under getblk-locks-folio (6.16's __find_get_block_nonatomic()) the
    lookup holds the folio lock reclaim holds across try_to_free_buffers():
    the two-step free is safe against it without private_lock (which
    the test above shows unsafe against the lookup of 6.15 and older)."""
    Path("split.py").write_text(SPLIT_RECLAIM)
    result = vfsmc(
        "check",
        "split.py:my/split-reclaim",
        "-V",
        "split-free-unlocked",
        "-V",
        "getblk-locks-folio",
        "--no-save",
    )
    assert result.exit_code == 0, result.output
    assert "with split-free-unlocked, getblk-locks-folio: OK" in result.output


SLEEPING_UNDER = """
from mc.dsl import LockKind, Op, Scratch, operation, scenario


def _read(scratch: Scratch, slot: int) -> int:
    return scratch[slot]


@operation(models="an allocation that may sleep inside a spinlock section")
def sleeping_under(op: Op) -> None:
    spin = op.world.shared_lock("my_spin", LockKind.SPINLOCK)
    op.compute("v", "v = kmalloc(GFP_KERNEL)", _read, op.world.shared_slot("myval", 0),
               under=spin, sleeps=True)


scenario("my/sleeping-under", "a sleep under a spinlock", tree=[], threads=[sleeping_under()],
         properties=["lock-protocol"])
"""


def test_a_computation_that_may_sleep_under_a_spinlock_is_seen_to_sleep(
    vfsmc: Callable[..., Result],
) -> None:
    """op.compute(..., under=spin, sleeps=True) takes the spinlock in a step
    of its own, so the sleep is seen in atomic context (it ran as one
    section step and the sleep went unseen: OK)."""
    Path("sleeping.py").write_text(SLEEPING_UNDER)
    result = vfsmc("check", "sleeping.py:my/sleeping-under", "--no-save")
    assert result.exit_code == 1, result.output
    assert "T1 may sleep (v = kmalloc(GFP_KERNEL)) holding my_spin" in result.output


def _no_sync_wait(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(update_block):
        return program
    steps = program.steps
    tests = [n for n, s in enumerate(steps) if s.label == "if (test_clear_buffer_dirty(bh))"]
    if not tests:
        return program  # an update on a mount that is not sync
    wait = steps[tests[0] + 1]
    assert wait.label == "wait_on_buffer(bh)"
    return program.drop(lambda step: step is wait)


def test_a_sync_update_that_does_not_wait_for_its_write_returns_before_it_is_on_disk(
    shipped: Registry,
) -> None:
    """__sync_dirty_buffer() waits for the write it submitted: a sync
    mount's update is on the device when the call returns
    (``metadata-synced``); without the wait it may not be."""
    variant = Variant(
        "no-sync-wait", "sync_dirty_buffer() without wait_on_buffer()", transform=_no_sync_wait
    )
    scenario = shipped.scenario("buffer/sync-update-vs-flusher")
    registry = registry_with(shipped, variant, scenarios=(scenario,))
    assert check_scenario(registry, scenario.name).result.violation is None
    violation = check_scenario(registry, scenario.name, ("no-sync-wait",)).result.violation
    assert violation is not None and violation.property == "metadata-synced"
    assert "sync_dirty_buffer() returns with its update alice" in violation.message


def _brelse_first(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(update_block):
        return program
    locks = [s for s in program.steps if s.label == "sync_dirty_buffer(bh): lock_buffer(bh)"]
    if not locks:
        return program
    return program.move_before([program.step("brelse(bh)")], locks[0])


def test_a_sync_of_a_buffer_the_thread_released_is_the_kernel_s_warning(
    shipped: Registry,
) -> None:
    """__sync_dirty_buffer() starts with WARN_ON(b_count < 1): a sync mount's
    update that drops its reference before the sync is caught there, before
    any reclaim frees the buffer."""
    variant = Variant(
        "brelse-first", "brelse() before sync_dirty_buffer()", transform=_brelse_first
    )
    scenario = shipped.scenario("buffer/sync-update-vs-flusher")
    registry = registry_with(shipped, variant, scenarios=(scenario,))
    violation = check_scenario(registry, scenario.name, ("brelse-first",)).result.violation
    assert violation is not None and violation.property == "bh-no-use-after-free"
    assert "holding no reference to it: __sync_dirty_buffer()'s WARN_ON" in violation.message


def test_the_revoke_lookup_under_the_buffer_lock_deadlocks_with_sync(shipped: Registry) -> None:
    """981fcc5674e6: jbd2_journal_cancel_revoke()'s __find_get_block_nonatomic()
    took the folio lock under the buffer lock ext4_getblk() holds, against
    sync_blockdev()'s folio lock -> lock_buffer(); the fixed code looks no
    block-device buffer up, and a reuse voids the block's old updates
    without a false lost update."""
    correct = check_scenario(shipped, "buffer/create-vs-sync")
    assert correct.result.violation is None, correct.result.violation
    broken = check_scenario(shipped, "buffer/create-vs-sync", ["cancel-revoke-locks-folio"])
    violation = broken.result.violation
    assert violation is not None and violation.property == "deadlock"
    assert "waits for PG_locked(bdev:0) held by T3" in violation.message
    assert "T3 waits for BH_Lock(block 7) held by T2" in violation.message
