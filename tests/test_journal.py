"""ext4's journal handles against the jbd2 commit (mc.models.journal)
against fs/ext4/inode.c and fs/jbd2 of 6.17-rc3."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from mc.check.registry import base
from mc.dsl import File, Scenario
from mc.dsl.kernel_model import KernelModel
from mc.dsl.steps import LockStep
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.models.journal import ext4_write, ext4_writepages, jbd2_commit

CLEAN = File("/f", pages=1, cached=(0,))
Run = Callable[..., Result]


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


NESTED = """
from mc.dsl import Op, operation, scenario
from mc.kernel.pagecache import File
from mc.models.journal import jbd2_commit
from mc.models.quota import journal, start_handle, stop_handle

F = File("/f", pages=1, cached=(0,))


@operation(models="ext4_journal_start() inside a handle", describe=lambda: "nested")
def nested(op: Op) -> None:
    start_handle(op, "handle = ext4_journal_start()")
    start_handle(op, "ext4_write_dquot(): handle = ext4_journal_start()")
    stop_handle(op, "ext4_write_dquot(): ext4_journal_stop(handle)")
    stop_handle(op, "ext4_journal_stop(handle)")
    start_handle(op, "handle = ext4_journal_start() /* again */")
    stop_handle(op, "ext4_journal_stop(handle) /* again */")


@operation(models="a handle ended with op.unlock, then started again", describe=lambda: "unlocked")
def unlocked(op: Op) -> None:
    start_handle(op, "handle = ext4_journal_start()")
    op.unlock(journal(op.world), "ext4_journal_stop(handle)")
    start_handle(op, "handle = ext4_journal_start() /* again */")
    stop_handle(op)


@operation(models="one ext4_journal_stop() too many", describe=lambda: "stops_twice")
def stops_twice(op: Op) -> None:
    start_handle(op, "handle = ext4_journal_start()")
    stop_handle(op)
    stop_handle(op, "ext4_journal_stop(handle) /* again */")


scenario("my/stops-twice", "a handle stopped twice", tree=["/f"], threads=[stops_twice()])
scenario("my/nested-handle", "nested handles against a commit", tree=["/f"],
         threads=[nested(), jbd2_commit(F, 0)])
scenario("my/unlocked-handle", "a handle stopped by op.unlock", tree=["/f"], threads=[unlocked()])
"""


def test_a_handle_started_inside_the_thread_s_own_takes_a_reference(vfsmc: Run) -> None:
    """jbd2__journal_start() finds current->journal_info and only takes a
    reference (h_ref++); jbd2_journal_stop() of the inner handle drops it,
    the outer one stops the handle: no second acquisition of jbd2_handle,
    no deadlock against the commit, and the handle started afresh after
    both is a new one.  A handle ended by a bare op.unlock leaves the count
    behind, and the next start says so."""
    Path("nested.py").write_text(NESTED)
    ok = vfsmc("check", "nested.py:my/nested-handle", "--no-save")
    assert ok.exit_code == 0, ok.output
    mixed = vfsmc("check", "nested.py:my/unlocked-handle", "--no-save")
    assert mixed.exit_code == 1, mixed.output
    assert "J_ASSERT(handle->h_transaction->t_journal == journal)' without holding jbd2_handle" in (
        mixed.output
    )
    twice = vfsmc("check", "nested.py:my/stops-twice", "--no-save")
    assert twice.exit_code == 1, twice.output
    assert "T1 unlocks jbd2_handle, which it does not hold" in twice.output
