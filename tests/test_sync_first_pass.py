"""sync_filesystem()'s first, non-waiting pass (writeback_inodes_sb(): a
WB_SYNC_NONE work with tagged_writepages, waited for under s_umount) and
fdatasync(2)'s I_DIRTY_DATASYNC test (__generic_file_fsync(datasync)) in
the superblock and inode models (fs/sync.c, fs/fs-writeback.c, fs/libfs.c,
Linux 6.6)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import reachable_states, registry_with

import mc.testing
from mc.check.checker import check_scenario
from mc.dsl.kernel_model import KernelModel
from mc.dsl.operation import Invocation
from mc.dsl.scenario import NotApplicable, Registry, Scenario
from mc.kernel.inode_life import I_DIRTY_DATASYNC, I_DIRTY_SYNC, I_SYNC
from mc.kernel.pagecache import File
from mc.kernel.world import DONE, ModelError
from mc.models.inode import FDATASYNC_SKIPS_METADATA, extend_inode, iput_last, touch_inode
from mc.models.mount import FDATASYNC_WRITES_INODE, fdatasync_inode, fsync_inode
from mc.models.super import (
    NONE_WORK_DONE,
    QUEUE_NONE_WORK,
    QUEUE_SYNC_WORK,
    WARN_NONE_WORK,
)

CLEAN_PAGE = File("/f", pages=1, cached=(0,))
WRITE_INODE = "write_inode(inode, wbc): inode->i_sb->s_op->write_inode(inode, wbc)"
SKIP_UNDER_WRITEBACK = "if (folio_test_writeback(folio)) goto continue_unlock /* WB_SYNC_NONE */"
DATASYNC_TEST = "if (datasync && !(inode->i_state & I_DIRTY_DATASYNC)) goto out"


def _labels(model: KernelModel, tid: int) -> list[str]:
    return [compiled.step.label for compiled in model.threads[tid].steps]


def _slot(model: KernelModel, name: str) -> int:
    return next(i for i, slot in enumerate(model.world.slots) if slot.name == name)


def _never_ran(registry: Registry, name: str) -> tuple[KernelModel, set[tuple[int, int]]]:
    outcome = check_scenario(registry, name, coverage=True)
    assert outcome.verdict == "OK", outcome.message
    assert outcome.coverage is not None and outcome.coverage.complete
    return outcome.model, set(outcome.coverage.never_ran)


@pytest.mark.parametrize(
    ("scenario", "tid"),
    [
        ("super/freeze-vs-writer", 1),
        ("super/syncfs-vs-flusher", 1),
        ("super/umount-vs-writeback", 0),
    ],
    ids=["freeze", "syncfs", "umount"],
)
def test_sync_filesystem_writes_without_waiting_before_it_writes_and_waits(
    shipped: Registry, scenario: str, tid: int
) -> None:
    """sync_filesystem() (fs/sync.c, 6.6): writeback_inodes_sb() (with its
    own WARN_ON of s_umount), ->sync_fs(sb, 0), sync_inodes_sb(),
    ->sync_fs(sb, 1), in that order, in FIFREEZE's, syncfs(2)'s and the
    unmount's program; each pass queues one work to the flusher and waits
    for it."""
    model = shipped.build(shipped.scenario(scenario))
    labels = _labels(model, tid)
    order = [
        labels.index(WARN_NONE_WORK),
        labels.index(QUEUE_NONE_WORK),
        labels.index(NONE_WORK_DONE),
        labels.index("sb->s_op->sync_fs(sb, 0)"),
        labels.index(QUEUE_SYNC_WORK),
        labels.index("sb->s_op->sync_fs(sb, 1)"),
    ]
    assert order == sorted(order)
    assert labels.count(QUEUE_NONE_WORK) == labels.count(QUEUE_SYNC_WORK) == 1


def test_the_nowait_pass_skips_a_folio_under_writeback_and_reaches_what_the_flusher_does(
    shipped: Registry,
) -> None:
    """In super/syncfs-vs-flusher the WB_SYNC_NONE pass tags the dirty
    folio TOWRITE, and skips it when the flusher has it under writeback
    (write_cache_pages(): goto continue_unlock), or writes it without
    waiting; every step of syncfs(2)'s two passes that never runs is one
    the flusher's own writeback never runs either (mkclean of a mapping the
    scenario lacks, ->writepage past EOF, AOP_WRITEPAGE_ACTIVATE)."""
    model, never = _never_ran(shipped, "super/syncfs-vs-flusher")
    labels = _labels(model, 1)
    first, done = labels.index(QUEUE_NONE_WORK), labels.index(NONE_WORK_DONE)
    first_pass = range(first, done + 1)
    ran = {labels[pc] for pc in first_pass if (1, pc) not in never}
    assert {
        QUEUE_NONE_WORK,
        SKIP_UNDER_WRITEBACK,
        "continue_unlock: folio_unlock(folio)",
        "tag_pages_for_writeback(mapping, index, end): every DIRTY index gets TOWRITE",
        "writepage_cb(): ret = mapping->a_ops->writepage(&folio->page, wbc)",
        NONE_WORK_DONE,
    } <= ran
    unreached = {labels[pc] for tid, pc in never if tid == 1}
    flusher_unreached = {_labels(model, 2)[pc] for tid, pc in never if tid == 2}
    assert unreached <= flusher_unreached


def test_the_unmount_writes_the_inode_back_in_the_nowait_pass(shipped: Registry) -> None:
    """At unmount, the first pass's work writes the dirty inode as the
    flusher does (writeback_sb_inodes(): I_SYNC, its pages WB_SYNC_NONE,
    ->write_inode), and in other runs finds it clean (the flusher wrote it
    first) and skips it."""
    model, never = _never_ran(shipped, "super/umount-vs-writeback")
    labels = _labels(model, 0)
    first, done = labels.index(QUEUE_NONE_WORK), labels.index(NONE_WORK_DONE)
    write_inode = labels.index(WRITE_INODE, first, done)
    assert (0, write_inode) not in never
    assert (0, labels.index("wb_writeback(): spin_unlock(&wb->list_lock)", first)) not in never


def test_the_unmount_first_waits_on_a_flusher_asleep_on_s_umount_in_the_nowait_pass() -> None:
    """With the flusher's work sleeping on s_umount (down_read() where
    __writeback_inodes_wb() has super_trylock_shared()), the unmount holding
    s_umount now deadlocks already in writeback_inodes_sb()'s
    wb_wait_for_completion(), before sync_inodes_sb()."""
    outcome = mc.testing.check(
        "super/umount-vs-writeback", ["flusher-sleeps-on-s_umount"], expect="deadlock"
    )
    counterexample = outcome.counterexample
    assert counterexample is not None
    waiting = {step.thread: step.label for step in counterexample.blocked}
    assert waiting["T1"] == QUEUE_NONE_WORK
    assert {(edge.waiter, edge.resource) for edge in counterexample.cycle} >= {
        ("T1", "wb_workfn"),
        ("T2", "s_umount"),
    }


def test_the_new_scenarios_pass() -> None:
    for name in ("super/syncfs-vs-flusher", "super/fdatasync-vs-extend"):
        outcome = mc.testing.check(name)
        assert outcome.verdict == "OK" and outcome.message is None


# --- fdatasync(2) ------------------------------------------------------------------------


def _ends(shipped: Registry, *threads: Invocation) -> tuple[KernelModel, list[Any]]:
    """The model of a probe scenario of ``threads`` on /f and its end states
    (every thread returned)."""
    probe = Scenario("super/probe", "test", ("/f",), threads)
    registry = registry_with(shipped, scenarios=(probe,))
    model = registry.build(registry.scenario(probe.name), properties=())
    ends: list[Any] = [state for state in reachable_states(model) if model.finished(state)]
    assert ends
    return model, ends


def test_fdatasync_after_a_timestamp_only_change_skips_write_inode_and_fsync_does_not(
    shipped: Registry,
) -> None:
    """The scenario's inode starts dirty for a timestamp (I_DIRTY_SYNC
    alone, as file_update_time() leaves it): fdatasync(2) returns without
    calling ->write_inode, the change still dirty and not on disk; fsync(2)
    writes it."""
    model, ends = _ends(shipped, fdatasync_inode(CLEAN_PAGE))
    on_disk, i_state = _slot(model, "on-disk inode(/f)"), _slot(model, "i_state(/f)")
    assert all(state[on_disk] == 0 and state[i_state] & I_DIRTY_SYNC for state in ends)
    assert all(not state[i_state] & I_DIRTY_DATASYNC for state in ends)
    assert all(state[model.threads[0].slots.ret] == 0 for state in ends)
    probe = Scenario("super/probe", "test", ("/f",), (fdatasync_inode(CLEAN_PAGE),))
    outcome = check_scenario(
        registry_with(shipped, scenarios=(probe,)),
        probe.name,
        properties=("deadlock", "completes"),
        coverage=True,
    )
    assert outcome.coverage is not None
    labels = _labels(outcome.model, 0)
    assert (0, labels.index(WRITE_INODE)) in outcome.coverage.never_ran
    assert (0, labels.index(DATASYNC_TEST)) not in outcome.coverage.never_ran

    model, ends = _ends(shipped, fsync_inode(CLEAN_PAGE))
    on_disk, i_state = _slot(model, "on-disk inode(/f)"), _slot(model, "i_state(/f)")
    assert all(state[on_disk] == 1 and not state[i_state] & I_DIRTY_SYNC for state in ends)
    assert DATASYNC_TEST not in _labels(model, 0)


def test_fdatasync_writes_the_inode_a_size_change_marked_i_dirty_datasync(
    shipped: Registry,
) -> None:
    """A write that grows the file marks the inode with mark_inode_dirty()
    (I_DIRTY: I_DIRTY_SYNC and I_DIRTY_DATASYNC): an fdatasync(2) that
    comes after it writes the inode (i_version 2); one whose test came
    first leaves it dirty with I_DIRTY_DATASYNC, for the next one."""
    model, ends = _ends(shipped, extend_inode(CLEAN_PAGE), fdatasync_inode(CLEAN_PAGE))
    on_disk, i_state = _slot(model, "on-disk inode(/f)"), _slot(model, "i_state(/f)")
    outcomes = {(state[on_disk], bool(state[i_state] & I_DIRTY_DATASYNC)) for state in ends}
    assert outcomes == {(2, False), (0, True)}


def test_the_flusher_may_hold_what_fdatasync_promised_as_it_returns(shipped: Registry) -> None:
    """In super/fdatasync-vs-extend an fdatasync(2) can return 0 with the
    grown inode not yet on disk while the flusher, which took its dirty
    bits, holds I_SYNC (__generic_file_fsync() finds it clean and leaves it
    to the flusher): fdatasync-writes-inode allows that, and no state has
    the promise broken once I_SYNC is gone."""
    model = shipped.build(
        shipped.scenario("super/fdatasync-vs-extend"), properties=(FDATASYNC_WRITES_INODE,)
    )
    on_disk, i_state = _slot(model, "on-disk inode(/f)"), _slot(model, "i_state(/f)")
    fdatasync = model.threads[1]
    promised = next(
        slot for slot in fdatasync.registers if model.world.slots[slot].name.endswith("promised")
    )
    returned: list[Any] = [
        state
        for state in reachable_states(model)
        if state[fdatasync.slots.pc] == DONE and state[promised] is not None
    ]
    assert returned
    assert any(state[on_disk] < state[promised] and state[i_state] & I_SYNC for state in returned)
    assert all(state[on_disk] >= state[promised] or state[i_state] & I_SYNC for state in returned)


def test_an_fdatasync_that_skips_the_metadata_loses_the_new_size() -> None:
    outcome = mc.testing.check(
        "super/fdatasync-vs-extend", [FDATASYNC_SKIPS_METADATA], expect=FDATASYNC_WRITES_INODE
    )
    assert outcome.message is not None
    assert "fdatasync(2) returned 0" in outcome.message
    assert "I_DIRTY_DATASYNC" in outcome.message


def test_fdatasync_writes_inode_needs_an_fdatasync(shipped: Registry) -> None:
    """The property reads what an fdatasync_inode thread promised: a
    scenario without one (fsync(2) records nothing) cannot be asked for it."""
    with pytest.raises(NotApplicable):
        check_scenario(shipped, "super/fsync-vs-flusher", properties=[FDATASYNC_WRITES_INODE])


def test_the_size_change_marks_the_inode_under_its_freeze_level_and_i_rwsem(
    shipped: Registry,
) -> None:
    """extend_inode() marks the inode I_DIRTY under sb_start_write() and the
    inode's i_rwsem, after i_size_write(), as an extending write(2) does."""
    model = shipped.build(shipped.scenario("super/fdatasync-vs-extend"), properties=())
    labels = _labels(model, 0)
    order = [
        labels.index("vfs_write(): file_start_write(file): sb_start_write(file_inode(file)->i_sb)"),
        labels.index("generic_file_write_iter(): inode_lock(inode)"),
        labels.index(
            "generic_write_end(): if (pos+copied > inode->i_size) i_size_write(inode, pos+copied)"
        ),
        labels.index(
            "was_dirty = inode->i_state & I_DIRTY; inode->i_state |= flags "
            "/* I_DIRTY_SYNC | I_DIRTY_DATASYNC */"
        ),
        labels.index("inode_unlock(inode)"),
    ]
    assert order == sorted(order)


@pytest.mark.parametrize("make", [extend_inode, touch_inode])
def test_a_change_through_an_open_file_is_refused_beside_the_last_iput(
    shipped: Registry, make: Any
) -> None:
    """A write(2) or utimensat(2) holds the file open, so another thread's
    iput cannot be the last: the scenario is refused rather than checked
    (it reported ->dirty_inode during ->evict_inode)."""
    probe = Scenario("super/probe", "test", ("/f",), (make(CLEAN_PAGE), iput_last(CLEAN_PAGE)))
    registry = registry_with(shipped, scenarios=(probe,))
    with pytest.raises(ModelError, match="drops the last reference"):
        registry.build(registry.scenario(probe.name))
