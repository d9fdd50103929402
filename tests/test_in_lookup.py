"""d_alloc_parallel()'s in-lookup dentry as a model of your own uses it
(mc.models.dentry): one lookup of a name at a time, none left behind, and
a step that may sleep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Run = Callable[..., Result]

LOOKUP = """
from mc.dsl import EXCL, SHARED, LockKind, Op, operation, scenario
from mc.models.dentry import d_alloc_parallel, d_lookup_done


@operation(models="a lookup of /a/x of a filesystem of its own")
def my_lookup(op: Op) -> None:
    directory = op.inode("/a")
    spin = op.world.shared_lock("my_spin", LockKind.SPINLOCK)
    op.lock(directory.i_rwsem, SHARED, "inode_lock_shared(dir)")
{before}    looked_up = d_alloc_parallel(op, "/a/x")
{after}{done}    op.label(looked_up)
    op.unlock(directory.i_rwsem, "inode_unlock_shared(dir)")


scenario("my/lookup", "one lookup", tree=["/a/"], threads=[my_lookup()],
         properties=["lock-protocol", "deadlock", "one-lookup-per-name"])
"""
DONE = '    d_lookup_done(op, "/a/x")\n'
SPIN = '    op.lock(spin, EXCL, "spin_lock(&my_spin)")\n'
UNSPIN = '    op.unlock(spin, "spin_unlock(&my_spin)")\n'


def _check(vfsmc: Run, tmp_path: Path, before: str = "", after: str = "", done: str = DONE):
    model = tmp_path / "lookup.py"
    model.write_text(LOOKUP.format(before=before, after=after, done=done))
    return vfsmc("check", f"{model}:my/lookup", "--no-save")


def test_a_lookup_that_ends_its_in_lookup_dentry_passes(vfsmc: Run, tmp_path: Path) -> None:
    result = _check(vfsmc, tmp_path)
    assert result.exit_code == 0 and "my/lookup: OK" in result.output, result.output


def test_returning_with_an_in_lookup_dentry_is_caught(vfsmc: Run, tmp_path: Path) -> None:
    """Every later lookup of the name would wait for it for ever."""
    result = _check(vfsmc, tmp_path, done="")
    assert result.exit_code == 1, result.output
    assert "T1 returned with an in-lookup dentry of /a/x it never ended" in result.output


def test_d_alloc_parallel_under_a_spinlock_is_a_sleep_in_atomic(vfsmc: Run, tmp_path: Path) -> None:
    result = _check(vfsmc, tmp_path, before=SPIN, after=UNSPIN)
    assert result.exit_code == 1, result.output
    assert "lock-protocol" in result.output and "my_spin" in result.output


SELF = """
from mc.dsl import SHARED, Op, operation, scenario
from mc.models.dentry import d_alloc_parallel, d_lookup_done


@operation(models="a ->lookup that looks its own name up again")
def selfwalk(op: Op) -> None:
    directory = op.inode("/a")
    op.lock(directory.i_rwsem, SHARED, "inode_lock_shared(dir)")
    outer = d_alloc_parallel(op, "{name}")
    inner = d_alloc_parallel(op, "{name}")
    d_lookup_done(op, "{name}")
    op.label(inner)
    d_lookup_done(op, "{name}")
    op.label(outer)
    op.unlock(directory.i_rwsem, "inode_unlock_shared(dir)")


scenario("my/self", "self", tree=["/a/"], threads=[selfwalk()], properties=["lock-protocol"])
"""


def test_a_lookup_of_a_name_its_own_in_lookup_dentry_holds_waits_for_itself(
    vfsmc: Run, tmp_path: Path
) -> None:
    model = tmp_path / "self.py"
    model.write_text(SELF.format(name="/a/x"))
    result = vfsmc("check", f"{model}:my/self", "--no-save")
    assert result.exit_code == 1, result.output
    assert "T1 looks up a name its own in-lookup dentry holds" in result.output


def test_an_in_lookup_name_outside_the_tree_is_a_model_error(vfsmc: Run, tmp_path: Path) -> None:
    model = tmp_path / "self.py"
    model.write_text(SELF.format(name="/zz/x"))
    result = vfsmc("check", f"{model}:my/self", "--no-save")
    assert result.exit_code == 2 and "/zz is not in the scenario's tree" in result.output


def test_a_returned_label_never_placed_says_to_place_it(vfsmc: Run, tmp_path: Path) -> None:
    model = tmp_path / "self.py"
    model.write_text(SELF.format(name="/a/x").replace("    op.label(outer)\n", ""))
    result = vfsmc("check", f"{model}:my/self", "--no-save")
    assert result.exit_code == 2
    assert "a label a helper returned" in result.output and "op.label()" in result.output
