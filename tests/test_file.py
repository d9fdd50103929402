"""The file operations from their system calls: f_pos_lock around read(2)
and not around pread(2), the file_operations the scenarios reach, and
what no-lost-f-pos reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from mc.check.checker import IneffectiveVariant, check_scenario
from mc.check.registry import base
from mc.check.registry import shipped as shipped_registry
from mc.dsl import E, File, ModelError, Op, Scenario, operation
from mc.dsl.scenario import Registry
from mc.dsl.steps import CallStep, LockStep
from mc.engine.result import Verdict
from mc.kernel.pagecache import PAGE_SIZE
from mc.models.file import (
    FDGET_POS_TAG,
    NO_LOST_F_POS,
    SEEK_CUR,
    SEEK_END,
    SEEK_SET,
    OpenFile,
    files,
    lseek,
    read_fd,
    readv_writev,
)
from mc.models.truncate import truncate
from mc.spec import conformance
from mc.spec.coverage import coverage, load_reasons


def _steps(shipped: Registry, scenario: str, thread: int) -> list[object]:
    model = shipped.build(shipped.scenario(scenario), (), ())
    return [compiled.step for compiled in model.threads[thread].steps]


def test_read_takes_f_pos_lock_and_pread_does_not(shipped: Registry) -> None:
    steps = _steps(shipped, "file/seek-read-fdinfo", 1)
    locks = [s for s in steps if isinstance(s, LockStep) and FDGET_POS_TAG in s.tags]
    assert locks and "f_pos_lock" in locks[0].label
    pread = _steps(shipped, "file/seek-read-fdinfo", 2)
    assert not [s for s in pread if FDGET_POS_TAG in getattr(s, "tags", ())]
    assert any(isinstance(s, CallStep) and s.method == "file_operations.read_iter" for s in pread)


def test_every_file_operation_is_modelled_or_explained(shipped: Registry) -> None:
    rules = conformance.rules_at()
    report = coverage(shipped, rules, load_reasons(rules.spec))
    table = {m.method: m for m in report.methods if m.table == "file_operations"}
    assert len(table) == 29
    modelled = {name for name, m in table.items() if m.modelled}
    wanted = {"iterate_shared", "splice_read", "remap_file_range", "open", "release", "mmap"}
    assert wanted <= modelled
    explained = {name for name, m in table.items() if not m.modelled}
    assert explained == {"iopoll", "mmap_capabilities"}
    assert all(table[name].reason for name in explained)
    assert set(table["iterate_shared"].checked) == {"i_rwsem(inode)", "f_pos_lock(file)"}


def test_no_lost_f_pos_names_the_file_and_the_moves(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("file/two-reads-shared-file"))
    (check,) = [p.check for p in model.properties() if p.name == NO_LOST_F_POS]
    (filp,) = files(model.world).filps.values()
    state = list(model.initial)
    assert check(tuple(state)) is None
    state[filp.f_pos], state[filp.moved] = 1, 2
    message = check(tuple(state))
    assert message is not None and "f_pos(filp) is page 1" in message and "2 pages" in message


def test_opposite_remaps_pass_in_every_address_order(shipped: Registry) -> None:
    outcome = check_scenario(shipped, "file/opposite-remaps")
    assert outcome.result.verdict is Verdict.OK
    broken = check_scenario(shipped, "file/opposite-remaps", ["remap-argument-order"])
    assert broken.counterexample is not None and broken.counterexample.property == "deadlock"


SEEKED = OpenFile("/f", cache=File("/f", pages=2, cached=(0, 1)), name="filp")


def _run_alone(invocation: Any) -> tuple[Any, int, int]:
    """Run one thread doing ``invocation`` on SEEKED to its end: its return
    value, f_pos and the moves counted."""
    registry = base()
    registry.add_scenario(Scenario("seek/alone", "test", ("/f",), (invocation,)))
    model = registry.build(registry.scenario("seek/alone"), properties=("lock-protocol",))
    state = model.initial
    while not model.finished(state):
        [(_action, state)] = model.successors(state)
    (filp,) = files(model.world).filps.values()
    return state[model.threads[0].slots.ret], state[filp.f_pos], state[filp.moved]


def _seek_alone(whence: int, offset: int) -> tuple[Any, int, int]:
    """Run one lseek(2) of SEEKED alone (``_run_alone``)."""
    return _run_alone(lseek(SEEKED, offset, whence))


@pytest.mark.parametrize(
    ("whence", "offset", "ret", "pos"),
    [
        (SEEK_CUR, -5, -E.EINVAL, 0),
        (SEEK_SET, -1, -E.EINVAL, 0),
        (SEEK_END, -3, -E.EINVAL, 0),
        (SEEK_END, -1, 0, 1),
        (SEEK_CUR, 1, 0, 1),
    ],
)
def test_lseek_to_a_negative_position_is_einval_and_keeps_f_pos(
    whence: int, offset: int, ret: int, pos: int
) -> None:
    """vfs_setpos(): ``if (offset < 0 && !unsigned_offsets(file)) return
    -EINVAL``, f_pos unchanged; generic_file_llseek_size() reaches it with
    f_pos + offset for SEEK_CUR and eof + offset for SEEK_END."""
    assert _seek_alone(whence, offset) == (ret, pos, pos)


def test_lseek_with_an_unknown_whence_is_a_model_error() -> None:
    registry = base()
    for call in (lseek(SEEKED, 1, 7), lseek(SEEKED, SEEK_CUR, 1)):
        registry.add_scenario(Scenario("seek/bad", "test", ("/f",), (call,)))
        with pytest.raises(ModelError, match=r"whence must be SEEK_SET, SEEK_CUR or SEEK_END"):
            registry.build(registry.scenario("seek/bad"))
        registry.scenarios.pop("seek/bad")


ONE_FILE = """\
from mc.models.file import OpenFile, copy_file_range, remap
from mc.dsl import scenario
FA, FA2, FB = OpenFile("/a", name="fa"), OpenFile("/a", name="fa2"), OpenFile("/b", name="fb")
scenario("one/copy", "copy within /a", tree=["/a", "/b"],
         threads=[copy_file_range(FA, FA), copy_file_range(FB, FA)])
scenario("one/clone", "clone within /a", tree=["/a", "/b"],
         threads=[remap(FA, FA2), copy_file_range(FB, FA)])
"""


@pytest.mark.parametrize("name", ["one/copy", "one/clone"])
def test_a_copy_or_clone_within_one_file_locks_its_inode_once(
    vfsmc: Callable[..., Result], tmp_path: Path, name: str
) -> None:
    """lock_two_nondirectories() and xfs_iolock_two_inodes_and_break_layout()
    take one i_rwsem when the two inodes are one: copying or cloning within
    one file, beside a copy of another file into it, is no lock-protocol
    error (it was: 'T1 takes i_rwsem(/a), which it already holds')."""
    (tmp_path / "one.py").write_text(ONE_FILE)
    result = vfsmc("check", f"one.py:{name}", "--no-save")
    assert result.exit_code == 0, result.output


def test_a_pipe_or_an_open_file_that_cannot_be_is_a_model_error() -> None:
    """More full buffers than a pipe holds, or an open file whose page
    cache is another path's, would check something else than meant."""
    from mc.models.file import Pipe

    with pytest.raises(ModelError, match=r"Pipe\('p'\): buffers=3 full of size=2"):
        Pipe("p", buffers=3, size=2)
    with pytest.raises(ModelError, match=r"its cache is the page cache of /f, not of /g"):
        OpenFile("/g", cache=File("/f"))


def test_f_pos_updates_may_be_lost_only_without_fmode_atomic_pos() -> None:
    """do_dentry_open() sets FMODE_ATOMIC_POS only for regular files and
    directories: through a character device's struct file fdget_pos() takes
    no f_pos_lock, and a read(2) racing a writev(2) may lose an update of
    f_pos, which the kernel does not promise to keep ("parallel writes and
    reads behave like SEEK_SET", generic_file_llseek_size()).  Through a
    debugfs-like regular file the same calls are checked, and caught
    without fdget_pos()."""
    registry = shipped_registry()
    for atomic in (False, True):
        spec = OpenFile("/c", name="chr", legacy=True, atomic_pos=atomic)
        threads = (read_fd(spec), readv_writev(spec, True))
        registry.add_scenario(Scenario(f"chr/rw-{atomic}", "test", ("/c",), threads))
        outcome = check_scenario(registry, f"chr/rw-{atomic}", properties=[NO_LOST_F_POS])
        assert outcome.result.verdict is Verdict.OK
    broken = check_scenario(registry, "chr/rw-True", ["no-fdget-pos"], properties=[NO_LOST_F_POS])
    assert broken.result.verdict is Verdict.VIOLATED
    with pytest.raises(IneffectiveVariant):
        check_scenario(registry, "chr/rw-False", ["no-fdget-pos"], properties=[NO_LOST_F_POS])


def test_one_struct_file_has_one_f_mode() -> None:
    registry = base()
    both = (
        read_fd(OpenFile("/c", name="chr", legacy=True, atomic_pos=False)),
        read_fd(OpenFile("/c", name="chr", legacy=True)),
    )
    registry.add_scenario(Scenario("chr/both", "test", ("/c",), both))
    with pytest.raises(ModelError, match="both with and without FMODE_ATOMIC_POS"):
        registry.build(registry.scenario("chr/both"))


def test_seek_cur_reads_and_sets_f_pos_in_two_steps_under_f_lock(shipped: Registry) -> None:
    """generic_file_llseek_size() of 6.6 holds f_lock across SEEK_CUR's read
    of f_pos and its vfs_setpos(): two steps, so dropping the lock loses a
    concurrent SEEK_CUR's move even where no f_pos_lock is taken."""
    model = shipped.build(shipped.scenario("file/two-seeks-chrdev"), (), ())
    labels = [compiled.step.label for compiled in model.threads[0].steps]
    lock = labels.index("spin_lock(&file->f_lock)")
    assert labels[lock + 1 : lock + 4] == [
        "file->f_pos+offset",
        "offset = vfs_setpos(file, file->f_pos+offset, maxsize)",
        "spin_unlock(&file->f_lock)",
    ]
    assert check_scenario(shipped, "file/two-seeks-chrdev").result.verdict is Verdict.OK
    broken = check_scenario(shipped, "file/two-seeks-chrdev", ["seek-cur-without-f-lock"])
    violation = broken.result.violation
    assert violation is not None and violation.property == NO_LOST_F_POS
    assert "before another SEEK_CUR moved it" in violation.message


def test_write_enters_write_iter_inside_file_start_write(shipped: Registry) -> None:
    """vfs_write() takes file_start_write() before it calls ->write_iter, so
    the steps a change adds at the entry run under sb_writers."""
    steps = _steps(shipped, "file/fallocate-modes", 2)
    entries = [
        at
        for at, s in enumerate(steps)
        if isinstance(s, CallStep) and s.method == "file_operations.write_iter"
    ]
    assert entries
    for at in entries:
        before, after = steps[at - 1], steps[at + 1]
        assert isinstance(before, LockStep) and "sb-start-write" in before.tags
        assert isinstance(after, LockStep) and "inode_lock(inode)" in after.label


@operation(models="ftruncate(fd, size); lseek(fd, 0, SEEK_END)")
def _truncate_then_seek_end(op: Op, size: int) -> None:
    op.run(truncate, SEEKED.cache, size)
    op.run(lseek, SEEKED, 0, SEEK_END)


@pytest.mark.parametrize(("size", "pages"), [(0, 0), (PAGE_SIZE + 1, 2), (PAGE_SIZE, 1)])
def test_seek_end_reads_i_size_when_it_runs(size: int, pages: int) -> None:
    """generic_file_llseek() passes i_size_read(inode) as the end: after a
    truncate, SEEK_END lands at the new size (in pages, rounded up), not
    at the size the file had when the scenario began."""
    _ret, pos, _moves = _run_alone(_truncate_then_seek_end(size))
    assert pos == pages


def _build(name: str, tree: tuple[str, ...], *threads: object) -> Any:
    registry = base()
    registry.add_scenario(Scenario(name, "test", tree, threads))  # type: ignore[arg-type]
    return registry.build(registry.scenario(name))


def test_open_files_that_cannot_be_are_refused_where_they_are_used() -> None:
    """A server-side copy_file_range() between files with a page cache
    (cifs's flush and truncation of the caches are not modelled), a
    directory's struct file without FMODE_ATOMIC_POS, and one struct file
    opened by two threads' open_setfl_close() are model errors."""
    from mc.models.file import copy_file_range, getdents, open_setfl_close

    cached = OpenFile("/a", cache=File("/a"))
    with pytest.raises(ModelError, match=r"has a page cache.*copy_file_range_splice"):
        _build("t/copy", ("/a", "/b"), copy_file_range(cached, OpenFile("/b")))
    with pytest.raises(ModelError, match="always has FMODE_ATOMIC_POS"):
        _build("t/dir", ("/d/",), getdents(OpenFile("/d", atomic_pos=False)))
    shared = OpenFile("/a", name="fa")
    with pytest.raises(ModelError, match="T2 and T1 both open fa with open_setfl_close"):
        _build("t/opens", ("/a",), open_setfl_close(shared), open_setfl_close(shared))
    _build("t/opens-apart", ("/a",), open_setfl_close(shared), open_setfl_close(OpenFile("/a")))


def test_getdents_touches_the_directory_s_atime_under_its_i_rwsem() -> None:
    """iterate_dir() calls file_accessed() -> touch_atime() before it drops
    the directory's i_rwsem: ->update_time is called there, behind
    sb_start_write_trylock()."""
    from mc.models.file import getdents

    model = _build("t/getdents", ("/d/", "/d/x"), getdents(OpenFile("/d")))
    labels = [step.label for step in model.threads[0].program.steps]
    update = next(i for i, label in enumerate(labels) if "update_time" in label)
    unlock = labels.index("inode_unlock_shared(inode)")
    trylock = next(i for i, label in enumerate(labels) if "sb_start_write_trylock" in label)
    assert trylock < update < unlock, labels


def test_getdents_and_readdir_offsets_of_one_directory_share_its_f_pos_lock() -> None:
    """OpenFile("/d") and readdir_offsets("/d") open one struct file,
    file(/d): one f_pos_lock, not two of one name."""
    from mc.models.file import getdents
    from mc.models.inode_methods import readdir_offsets

    model = _build("t/both", ("/d/", "/d/x"), getdents(OpenFile("/d")), readdir_offsets("/d"))
    names = [lock.name for lock in model.world.locks if lock.name.startswith("f_pos_lock")]
    assert names == ["f_pos_lock(file(/d))"], names


def test_check_says_which_rules_the_variants_waive(vfsmc: Callable[..., Result]) -> None:
    """A variant's waives= lets spec-conformance pass its calls: the check
    says so, where the OK or the violation would otherwise not show it."""
    result = vfsmc("check", "file/two-reads-shared-file", "-V", "no-fdget-pos", "--no-save")
    assert result.exit_code == 1, result.output
    assert (
        "note: spec-conformance lets pass the rules the variants waive "
        "(file_operations.iterate_shared f_pos_lock(file))"
    ) in result.output
    plain = vfsmc("check", "file/two-reads-shared-file", "--no-save")
    assert "waive" not in plain.output


PIPE_INVERSION = """\
from mc.dsl import EXCL, File, Op, operation, scenario
from mc.models.file import OpenFile, Pipe, files, splice_read

PIPE = Pipe("pipe", buffers=0, size=1)
F = OpenFile("/f", cache=File("/f", pages=1, cached=(0,)), name="filp")

@operation(models="a filesystem's own splice: i_rwsem, then the pipe mutex")
def inode_then_pipe(op: Op, pipe_spec: Pipe) -> None:
    inode = op.inode("/f")
    pipe = files(op.world).pipe(pipe_spec)
    op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)")
    op.lock(pipe.mutex, EXCL, "pipe_lock(pipe)")
    op.unlock(pipe.mutex, "pipe_unlock(pipe)")
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")

scenario("own/pipe-inversion", "the pipe mutex against i_rwsem", tree=["/f"],
         threads=[inode_then_pipe(PIPE), splice_read(F, PIPE, 0)])
"""


def test_a_users_operation_takes_the_pipe_mutex_the_shipped_splice_takes(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """``files(op.world).pipe(spec).mutex`` is the shipped splice's
    ``pipe->mutex``: taken after i_rwsem, against splice_read()'s pipe
    mutex before i_rwsem, it deadlocks."""
    (tmp_path / "own.py").write_text(PIPE_INVERSION)
    result = vfsmc("check", "own.py:own/pipe-inversion", "--no-save", "-p", "deadlock")
    assert result.exit_code == 1, result.output
    assert "VIOLATED" in result.output
    assert "waits for pipe->mutex(pipe) held by" in result.output
