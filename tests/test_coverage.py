"""``check --coverage``: the steps no explored state runs, the same with
and without partial-order reduction on an OK row of every area, said to
be partial when the search stopped short, and refused where the count
would be of another search (workers, symmetry)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mc.check import expectations
from mc.check.checker import check_scenario
from mc.dsl.scenario import Registry
from mc.engine.explore import Options
from mc.engine.result import Verdict

Run = Callable[..., Result]
STATES_CAP = 3000


def _representatives() -> list[expectations.Expectation]:
    """One OK row per area: the largest of at most ``STATES_CAP`` stored
    states (every OK row agrees, but together they take half a minute)."""
    chosen: dict[str, expectations.Expectation] = {}
    for row in expectations.load():
        if row.verdict is not Verdict.OK or (row.states or 0) > STATES_CAP:
            continue
        area = row.scenario.split("/")[0]
        if area not in chosen or (row.states or 0) > (chosen[area].states or 0):
            chosen[area] = row
    return sorted(chosen.values(), key=lambda row: row.label)


ROWS = _representatives()


@pytest.mark.parametrize("row", ROWS, ids=[row.label for row in ROWS])
def test_the_reduction_runs_every_step_the_full_search_runs(
    shipped: Registry, row: expectations.Expectation
) -> None:
    full = check_scenario(
        shipped, row.scenario, row.variants, options=Options(reduce=False), coverage=True
    )
    reduced = check_scenario(shipped, row.scenario, row.variants, coverage=True)
    assert full.coverage is not None and reduced.coverage is not None
    assert full.coverage.complete and reduced.coverage.complete
    assert reduced.coverage.never_ran == full.coverage.never_ran
    assert reduced.result.stats.states <= full.result.stats.states


def test_a_branch_the_scenario_never_takes_is_listed(vfsmc: Run) -> None:
    ran = vfsmc("check", "dirops/rename-rmdir-link", "--coverage", "--json")
    assert ran.exit_code == 0, ran.output
    coverage = json.loads(ran.output)["coverage"]
    never = {(step["thread"], step["label"]) for step in coverage["never_ran"]}
    assert ("T1", "return ERR_PTR(-EXDEV)") in never  # one superblock: no cross-device rename
    assert ("T1", "mutex_lock(&p1->d_sb->s_vfs_rename_mutex)") not in never
    assert coverage["complete"] is True
    assert coverage["ran"] == coverage["steps"] - len(coverage["never_ran"]) > 0
    text = vfsmc("check", "dirops/rename-rmdir-link", "--coverage")
    assert f"coverage: {coverage['ran']} of {coverage['steps']} steps ran; never ran" in text.output
    assert "return ERR_PTR(-EXDEV)  (models/dirops.py:" in text.output


def test_without_the_option_nothing_is_counted(vfsmc: Run) -> None:
    ran = vfsmc("check", "dirops/rename-rmdir-link", "--json")
    assert json.loads(ran.output)["coverage"] is None
    assert "coverage:" not in vfsmc("check", "dirops/rename-rmdir-link").output


def test_a_search_stopped_at_a_violation_says_its_list_is_partial(vfsmc: Run) -> None:
    ran = vfsmc(
        "check", "dirops/opposite-renames", "-V", "no-rename-mutex", "--coverage", "--no-save"
    )
    assert ran.exit_code == 1, ran.output
    assert "steps ran in the states explored: the search stopped short" in ran.output
    assert "return ERR_PTR(-EXDEV)" not in ran.output
    found = vfsmc(
        "check",
        "dirops/opposite-renames",
        "-V",
        "no-rename-mutex",
        "--coverage",
        "--no-save",
        "--json",
    )
    assert json.loads(found.output)["coverage"]["complete"] is False


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (("--workers", "2"), "--coverage counts in one process"),
        (("--symmetry",), "--coverage counts the steps of every thread"),
    ],
)
def test_coverage_of_another_search_is_refused(
    vfsmc: Run, extra: tuple[str, ...], said: str
) -> None:
    ran = vfsmc("check", "dirops/rename-rmdir-link", "--coverage", *extra)
    assert ran.exit_code == 2
    assert said in ran.output
    assert len(ran.output.strip().splitlines()) == 1


CALLS_A_SHIPPED_BODY = """
from mc.dsl import EXCL, Op, operation, scenario
from mc.models import libfs
from mc.models.dirops import create


@operation(models="inode_lock(dir); ->create of g through libfs's mknod; inode_unlock(dir)")
def make_g(op: Op, path: str) -> None:
    directory = op.inode(path)
    op.lock(directory.i_rwsem, EXCL, "inode_lock(dir)")
    inode = op.new_inode(path + "/g", is_dir=False)
    op.call(
        "inode_operations.create",
        libfs.mknod,
        directory,
        op.dentry(directory, "g"),
        inode,
        label="dir->i_op->create(g)",
        roles={"dir": directory},
    )
    op.unlock(directory.i_rwsem, "inode_unlock(dir)")


scenario("mine/make-g", "g and f made in /a", tree=["/a/"], threads=[make_g("/a"), create("/a/f")])
"""


def test_a_user_s_declared_footprint_audit_leaves_the_coverage_whole(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A user's step with a ``touches`` declaration (``libfs.mknod``
    called from the user's file) has its footprint audited by a search of
    its own before the check; the check's coverage still counts every step
    it runs, with partial-order reduction as without."""
    (tmp_path / "mine.py").write_text(CALLS_A_SHIPPED_BODY)
    reduced = json.loads(vfsmc("check", "mine.py:mine/make-g", "--coverage", "--json").output)
    full = json.loads(
        vfsmc("check", "mine.py:mine/make-g", "--coverage", "--json", "--no-por").output
    )
    assert reduced["coverage"]["never_ran"] == full["coverage"]["never_ran"] == []
    assert reduced["coverage"]["ran"] == reduced["coverage"]["steps"] == 9
