"""ext4's journal handles against the jbd2 commit (mc.models.journal)
against fs/ext4/inode.c and fs/jbd2 of 6.17-rc3."""

from __future__ import annotations

from mc.check.registry import base
from mc.dsl import File, Scenario
from mc.dsl.kernel_model import KernelModel
from mc.dsl.steps import LockStep
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.models.journal import ext4_write, ext4_writepages, jbd2_commit

CLEAN = File("/f", pages=1, cached=(0,))


def _model(*threads: object) -> KernelModel:
    registry = base()
    registry.add_scenario(Scenario("test/j", "test", ("/f",), tuple(threads)))  # type: ignore[arg-type]
    return registry.build(registry.scenario("test/j"), ())


def _locks(model: KernelModel, tid: int, name: str) -> list[tuple[int, int]]:
    return [
        (tid, pc)
        for pc, compiled in enumerate(model.threads[tid].steps)
        if isinstance(compiled.step, LockStep) and name in compiled.step.label
    ]


def test_writeback_and_commit_lock_no_folio_of_a_clean_mapping() -> None:
    """ext4_do_writepages() returns before it starts a handle when the
    mapping has no DIRTY mark, and the commit's ordered-data pass finds no
    folio to lock: neither takes the handle or the folio lock of a clean
    file."""
    model = _model(ext4_writepages(CLEAN, 0), jbd2_commit(CLEAN, 0))
    watched = [
        *_locks(model, 0, "ext4_journal_start"),
        *_locks(model, 0, "folio_lock"),
        *_locks(model, 1, "folio_lock"),
    ]
    assert len(watched) == 3
    reached = model.watch(watched, taken=True)
    assert check(model).verdict is Verdict.OK
    assert reached == set()


def test_the_write_dirties_the_folio_it_writes() -> None:
    """block_write_end() dirties the folio: the writeback after the write
    locks it (its handle and folio lock run in some interleaving)."""
    model = _model(ext4_write(CLEAN, 0), ext4_writepages(CLEAN, 0))
    watched = _locks(model, 1, "folio_lock")
    reached = model.watch(watched, taken=True)
    assert check(model).verdict is Verdict.OK
    assert reached == set(watched)


def test_the_write_takes_freeze_protection_before_the_inode_lock() -> None:
    """vfs_write()'s file_start_write() comes before ext4_buffered_write_iter()'s
    inode_lock() (fs/ext4/super.c: sb_start_write -> i_mutex -> transaction
    start -> page lock)."""
    model = _model(ext4_write(CLEAN, 0))
    steps = [compiled.step for compiled in model.threads[0].steps]
    locks = [step.label for step in steps if isinstance(step, LockStep)]
    assert "sb_start_write" in locks[0] and "inode_lock" in locks[1], locks
