"""vfsmc sweep: a change checked on every scenario it changes, each under
the variants that change it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from conftest import FSYNC_HOOKS_UNDER_A_FLAG, INSERTS_INTO_ONE_STORE

Run = Callable[..., Result]


def test_each_scenario_the_variants_change_is_checked_under_those_that_change_it(
    vfsmc: Run,
) -> None:
    """child-first changes six of the directory scenarios: each is checked
    under it, the five it breaks saved and replayable, the others left
    out."""
    result = vfsmc("sweep", "-V", "child-first", "--filter", "dirops/", "--json")
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)["scenarios"]
    verdicts = {row["scenario"]: row["verdict"] for row in rows}
    assert verdicts["dirops/rename-rmdir-link"] == "VIOLATED"
    assert verdicts["dirops/rmdir-vs-create"] == "OK"
    assert "dirops/opposite-renames" not in verdicts
    assert all(row["variants"] == ["child-first"] for row in rows)
    broken = next(row for row in rows if row["scenario"] == "dirops/rename-rmdir-link")
    assert broken["property"] == "deadlock"
    saved = Path(broken["counterexample"])
    assert saved == Path("counterexamples/dirops-rename-rmdir-link--child-first.json")
    replayed = vfsmc("replay", str(saved))
    assert replayed.exit_code == 1 and "reproduces" in replayed.output, replayed.output
    kept = next(row for row in rows if row["scenario"] == "dirops/rmdir-vs-create")
    assert [edge["held"] for edge in kept["against_lock_order"]] == ["i_rwsem"]
    assert broken["against_lock_order"] == []


def test_an_ok_under_the_change_notes_the_locks_it_takes_against_the_order(vfsmc: Run) -> None:
    """As check does: rmdir-vs-create passes under child-first, but its
    rmdir takes the parent's i_rwsem under the child's."""
    result = vfsmc("sweep", "-V", "child-first", "--filter", "dirops/rmdir", "--no-save")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    heads = [line.partition(";")[0] for line in lines]
    at = heads.index("dirops/rmdir-vs-create with child-first: OK")
    assert lines[at + 1].startswith("  note: OK here, but under the variants T1 takes i_rwsem ")
    assert "(vfsmc lockorder --filter dirops/rmdir-vs-create -V child-first)" in lines[at + 1]


def test_a_flag_and_the_insertion_it_turns_on_are_applied_together(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Hooks into fsync that add steps under a flag: every scenario that
    runs fsync is checked under both, the others under neither, and the
    text names each scenario with its verdict."""
    (tmp_path / "hooks.py").write_text(FSYNC_HOOKS_UNDER_A_FLAG)
    result = vfsmc(
        "sweep",
        "--models",
        "hooks.py",
        "-V",
        "myfs-fsync-hooks",
        "-V",
        "fsync-waits-under-spinlock",
        "--filter",
        "writeback/write-",
        "--no-save",
    )
    assert result.exit_code == 1, result.output
    line = next(
        line for line in result.stdout.splitlines() if line.startswith("writeback/write-vs-fsync")
    )
    assert "with myfs-fsync-hooks, fsync-waits-under-spinlock: VIOLATED (lock-protocol" in line
    assert "scenarios change under the variants" in result.output
    assert not list(tmp_path.glob("counterexamples/*"))


def test_a_variant_that_changes_no_scenario_or_no_variant_is_bad_input(vfsmc: Run) -> None:
    unused = vfsmc("sweep", "-V", "child-first", "--filter", "xattr/")
    assert unused.exit_code == 2
    assert unused.output.strip() == (
        "vfsmc: error: variant child-first changes nothing in the 6 scenarios"
    )
    Path("hooks.py").write_text(FSYNC_HOOKS_UNDER_A_FLAG)
    flag = vfsmc("sweep", "--models", "hooks.py", "-V", "fsync-waits-under-spinlock")
    assert flag.exit_code == 2
    assert "(a flag of a model file changes a scenario only where a step asks" in flag.output
    none = vfsmc("sweep")
    assert none.exit_code == 2 and "give its variants with -V" in none.output
    unknown = vfsmc("sweep", "-V", "child-frist")
    assert unknown.exit_code == 2 and "child-first" in unknown.output


def test_a_sweep_says_where_the_steps_an_insertion_names_are_out_of_its_reach(
    vfsmc: Run, tmp_path: Path
) -> None:
    """An insertion into mmap_store reaches the scenarios that run
    mmap_store; those whose threads run mmap_stores have the same
    ->page_mkwrite step, and the sweep names them and the operation."""
    (tmp_path / "mkwrite.py").write_text(INSERTS_INTO_ONE_STORE)
    result = vfsmc(
        "sweep", "--models", "mkwrite.py", "-V", "my-mkwrite", "--filter", "writeback/", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"scenario": "writeback/mmap-store-flusher", "operation": "mmap_stores"} in report[
        "labels_not_reached"
    ]
    text = vfsmc("sweep", "--models", "mkwrite.py", "-V", "my-mkwrite", "--filter", "writeback/")
    assert "which they do not insert into (name those operations in inserts" in text.output
    assert "writeback/mmap-store-flusher" in text.output.split("which they do not insert")[1]


INSERTS_INTO_PUNCH_HOLE = """
from mc.dsl import inserts
from mc.models.truncate import punch_hole


def note(op, *args):
    op.effect("trace_punch()", lambda scratch: None)


inserts(punch_hole, "traced-punch", "ext4_punch_hole() traces its start",
        before={"ext4_punch_hole(): inode_lock(inode)": note})
"""


def test_an_insertion_reached_through_op_run_is_not_said_out_of_reach(
    vfsmc: Run, tmp_path: Path
) -> None:
    """fallocate(2)'s PUNCH_HOLE runs punch_hole's body: an insertion into
    punch_hole reaches file/fallocate-modes, and no note says otherwise."""
    (tmp_path / "punch.py").write_text(INSERTS_INTO_PUNCH_HOLE)
    result = vfsmc(
        "sweep", "--models", "punch.py", "-V", "traced-punch", "--filter", "file/", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "file/fallocate-modes" in {row["scenario"] for row in report["scenarios"]}
    assert report["labels_not_reached"] == []


def test_a_variant_that_cannot_build_in_one_scenario_names_the_scenario(vfsmc: Run) -> None:
    """An insertion whose function fails in one of the scenarios it changes
    (a path that scenario's tree lacks) stops the sweep with the model
    line and the scenario it was building."""
    Path("bypath.py").write_text(
        "from mc.dsl import SHARED, inserts\n"
        "from mc.models.namei import stat\n"
        "GETATTR = 'return inode->i_op->getattr(idmap, path, stat, request_mask, query_flags)'\n"
        "inserts(stat, 'getattr-by-path', 'x',\n"
        "        before={GETATTR: lambda op, p: op.lock(op.inode('/a/n').i_rwsem, SHARED, 'l')},\n"
        "        after={GETATTR: lambda op, p: op.unlock(op.inode('/a/n').i_rwsem, 'u')})\n"
    )
    result = vfsmc("sweep", "-V", "getattr-by-path", "--models", "bypath.py", "--no-save")
    assert result.exit_code == 2, result.output
    assert "bypath.py:5" in result.output, result.output
    assert "(building namei/" in result.output, result.output
