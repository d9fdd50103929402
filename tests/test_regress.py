"""vfsmc regress: every expected verdict and every shipped counterexample,
on the real tree (passes) and on a copy with one model line changed
(fails, naming the row); state baselines reported apart and updated."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import ABBA, python_in

from mc.check import baseline, expectations

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent


def test_regress_passes_on_the_shipped_suite(vfsmc: Run) -> None:
    """One area end to end (every row's verdict and baseline is checked by
    tests/test_expectations.py, every replay by tests/test_counterexamples.py)."""
    result = vfsmc("regress", "--filter", "dirops/")
    assert result.exit_code == 0, result.output
    assert "regress passed" in result.output
    for row in expectations.load():
        if row.scenario.startswith("dirops/"):
            assert row.scenario in result.output
    for path in (ROOT / "counterexamples").glob("dirops-*.json"):
        assert f"ok    {path.name}" in result.output


def test_rows_and_replays_checked_side_by_side_print_the_same(vfsmc: Run) -> None:
    """``--workers 2`` checks rows and replays in two forked processes: the
    same lines in the same order, but for the times."""

    def shown(output: str) -> list[str]:
        return [re.sub(r"\d+\.\d+ s", "", line) for line in output.splitlines()]

    alone = vfsmc("regress", "--filter", "dirops/")
    spread = vfsmc("regress", "--filter", "dirops/", "--workers", "2")
    assert spread.exit_code == alone.exit_code == 0, spread.output
    assert shown(spread.output) == shown(alone.output)


def test_regress_json_lists_rows_and_counterexamples(vfsmc: Run) -> None:
    result = vfsmc("regress", "--json", "--filter", "dirops/opposite")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["passed"] is True
    assert {(r["scenario"], r["verdict"]) for r in report["rows"]} == {
        ("dirops/opposite-renames", "OK"),
        ("dirops/opposite-renames", "VIOLATED"),
    }
    assert all(row["matches"] and row["states"] > 0 for row in report["rows"])
    [replayed] = report["counterexamples"]
    assert replayed["reproduces"] and replayed["reproduces_on_correct"] is False
    assert replayed["idle_variant"] is None


def _copy_of_the_tree(destination: Path) -> None:
    for name in ("mc", "models", "specs", "counterexamples"):
        shutil.copytree(
            ROOT / name,
            destination / name,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )


def _run_copy(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run(
        [sys.executable, "-m", "mc", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_one_changed_model_line_fails_naming_the_row(tmp_path: Path) -> None:
    """On a copy of the models, rmdir and unlink always lock the victim
    before the parent (one line): the correct-protocol rows that this
    deadlocks fail, and so do the counterexamples that must not reproduce
    on the correct protocol; the variant that asked for that order now
    changes nothing, so its rows are not checked and the run exits 2."""
    _copy_of_the_tree(tmp_path)
    dirops = tmp_path / "models" / "dirops.py"
    text = dirops.read_text()
    line = 'child_first = op.variant("child-first")'
    assert text.count(line) == 1
    dirops.write_text(text.replace(line, "child_first = True"))
    done = _run_copy(tmp_path, "regress", "--filter", "dirops/")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert (
        "not checked: dirops/rename-rmdir-link [child-first]: "
        "variant child-first changes nothing in dirops/rename-rmdir-link" in out
    )
    failed = [line.split()[1:4] for line in out.splitlines() if line.startswith("FAIL ")]
    assert ["dirops/rename-rmdir-link", "-", "OK"] in failed
    assert (
        "verdict changed: dirops/rename-rmdir-link [correct]: expected OK, got VIOLATED deadlock"
        in out
    )
    assert "ok    dirops/opposite-renames" in out
    assert "correct protocol (no variants): REPRODUCES (deadlock)" in out
    [summary] = [line for line in out.splitlines() if line.startswith("regress FAILED: ")]
    rows = [line for line in out.splitlines() if line.startswith(("ok ", "FAIL "))]
    unchecked = sum(" NO CHANGE " in line for line in rows)
    assert unchecked and f"rows as expected ({unchecked} not checked)" in summary
    shown_ok = sum(line.startswith("ok ") for line in rows if "dirops/" in line.split()[1])
    assert summary.startswith(f"regress FAILED: {shown_ok}/"), summary


def test_the_copy_is_what_runs(tmp_path: Path) -> None:
    _copy_of_the_tree(tmp_path)
    done = _run_copy(tmp_path, "regress", "--filter", "dirops/opposite", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["expectations"] == str(tmp_path / "specs" / "expectations.toml")


SUITE = """\
# expectations of a small suite
[[expect]]
scenario = "dirops/opposite-renames"
verdict = "OK"
states = 7   # wrong on purpose

# the variant
[[expect]]
scenario = "dirops/opposite-renames"
variants = ["no-rename-mutex"]
verdict = "VIOLATED"
property = "deadlock"
"""


def _suite(directory: Path, text: str = SUITE) -> Path:
    directory.mkdir()
    (directory / "empty.py").write_text('"""No models of its own."""\n')
    (directory / "expectations.toml").write_text(text)
    return directory / "expectations.toml"


def test_state_changes_are_reported_apart_and_updated(vfsmc: Run, tmp_path: Path) -> None:
    path = _suite(tmp_path / "suite")
    result = vfsmc("regress", "--models", "suite")
    assert result.exit_code == 0, result.output
    assert "state counts changed" in result.output
    assert "dirops/opposite-renames [correct]: 7 -> 68" in result.output
    assert "no state baseline yet for 1 row (record" in result.output
    updated = vfsmc("regress", "--models", "suite", "--update")
    assert updated.exit_code == 0
    assert "updated the state baseline of 2 rows in suite/expectations.toml" in updated.output
    assert "no state baseline yet" not in updated.output, "the run that records them"
    assert "review, then vfsmc regress --update" not in updated.output
    assert (
        "state counts changed (verdicts unchanged; to be recorded as the new baseline):\n"
        "  dirops/opposite-renames [correct]: 7 -> 68" in updated.output
    )
    text = path.read_text()
    assert "states = 68   # wrong on purpose" in text
    assert text.startswith("# expectations of a small suite\n")
    assert "# the variant\n" in text
    assert [row.states for row in expectations.load(path)] == [68, 28]
    again = vfsmc("regress", "--models", "suite")
    assert "state counts changed (" not in again.output
    assert "no state baseline" not in again.output
    counted = vfsmc("regress", "--models", "suite", "--no-por")
    assert "counted without partial-order reduction, as --no-por asks" in counted.output
    assert "review, then vfsmc regress --update" not in counted.output
    unreduced = vfsmc("regress", "--models", "suite", "--no-por", "--update")
    assert unreduced.exit_code == 2
    assert "--update records the state counts of the default search" in unreduced.output
    assert [row.states for row in expectations.load(path)] == [68, 28]


def test_a_changed_verdict_fails_and_is_not_recorded(vfsmc: Run, tmp_path: Path) -> None:
    path = _suite(
        tmp_path / "suite",
        SUITE.replace('verdict = "OK"', 'verdict = "VIOLATED"\nproperty = "namespace"', 1),
    )
    before = path.read_text()
    result = vfsmc("regress", "--models", "suite", "--update")
    assert result.exit_code == 1
    assert (
        "verdict changed: dirops/opposite-renames [correct]: expected VIOLATED namespace, got OK"
        in result.output
    )
    assert "FAIL  dirops/opposite-renames" in result.output
    assert "the state baselines were not updated: this run failed" in result.output
    assert path.read_text() == before, "not even the rows that held: the run failed"


def test_suite_counterexamples_are_replayed(vfsmc: Run, tmp_path: Path) -> None:
    _suite(tmp_path / "suite")
    (tmp_path / "suite" / "counterexamples").mkdir()
    vfsmc(
        "check",
        "dirops/opposite-renames",
        "-V",
        "no-rename-mutex",
        "--out",
        "suite/counterexamples",
    )
    result = vfsmc("regress", "--models", "suite")
    assert result.exit_code == 0, result.output
    assert "suite/counterexamples/:" in result.output
    assert "1/1 counterexamples replay as recorded" in result.output
    (tmp_path / "suite" / "counterexamples" / "aaa-corrupt.json").write_text('{"format": ')
    result = vfsmc("regress", "--models", "suite")
    assert result.exit_code == 2, result.output
    assert "1/2 counterexamples replay as recorded" in result.output, "the others still replay"
    [line] = [x for x in result.output.splitlines() if x.startswith("cannot replay: ")]
    assert "aaa-corrupt.json" in line

    (tmp_path / "suite" / "counterexamples" / "aaa-corrupt.json").unlink()
    (tmp_path / "suite" / "expectations.toml").unlink()
    replays = vfsmc("regress", "--models", "suite")
    assert replays.exit_code == 0, replays.output
    assert "1/1 counterexamples replay as recorded" in replays.output
    assert "does not exist: no verdict is checked, the saved counterexamples alone" in (
        replays.output
    )


LOCKERS = """
from mc.dsl import EXCL, Op, operation, scenario


@operation(models="lock two inodes in the order given")
def lock_two(op: Op, first: str, second: str) -> None:
    a, b = op.inode(first).i_rwsem, op.inode(second).i_rwsem
    op.lock(a, EXCL, f"inode_lock({first})")
    op.lock(b, EXCL, f"inode_lock({second})")
    op.unlock(b, f"inode_unlock({second})")
    op.unlock(a, f"inode_unlock({first})")


scenario("my/ab", "two lockers", tree=["/a", "/b"],
         threads=[lock_two("/a", "/b"), lock_two("/b", "/a")])
"""


def test_a_trace_of_an_earlier_form_of_a_scenario_says_what_to_do(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A scenario whose threads were changed so that it passes leaves its
    old trace behind: regress cannot replay it and says what to do."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "ab.py").write_text(LOCKERS)
    (suite / "expectations.toml").write_text('[[expect]]\nscenario = "my/ab"\nverdict = "OK"\n')
    found = vfsmc("check", "suite/ab.py:my/ab", "--out", "suite/counterexamples")
    assert found.exit_code == 1, found.output
    (suite / "ab.py").write_text(
        LOCKERS.replace('lock_two("/b", "/a")])', 'lock_two("/a", "/b")])')
    )
    result = python_in(tmp_path, "-m", "mc", "regress", "--models", "suite")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = [x for x in result.stdout.splitlines() if x.startswith("cannot replay: ")]
    assert "its thread T2 runs lock_two(/b, /a), but my/ab's T2 runs lock_two(/a, /b)" in line
    assert "vfsmc check suite/ab.py:my/ab saves it again while it fails; remove the file" in line


def test_an_edited_counterexample_is_reported_as_edited_not_lost(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A counterexample edited by hand (its digest kept) that no longer
    reproduces is said to be edited, as replay says it, and cannot be
    replayed (exit 2), not counted as a counterexample lost (exit 1)."""
    _suite(tmp_path / "suite")
    saved = tmp_path / "suite" / "counterexamples"
    saved.mkdir()
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex", "--out", str(saved))
    [path] = saved.glob("*.json")
    data = json.loads(path.read_text())
    data["steps"][0]["label"] = "inode_lock(edited)"
    path.write_text(json.dumps(data))
    result = vfsmc("regress", "--models", "suite")
    assert result.exit_code == 2, result.output
    assert "LOST" not in result.output and "no longer reproduces" not in result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("cannot replay: ")]
    assert f"{path.name}: edited since vfsmc saved it (its digest no longer matches" in line
    assert "an edited file is no evidence of a fix" in line
    data["steps"][0]["source"] = "models/dirops.py:1"  # edited, yet it reproduces
    data["steps"][0]["label"] = json.loads((ROOT / "counterexamples" / path.name).read_text())[
        "steps"
    ][0]["label"]
    path.write_text(json.dumps(data))
    reproduces = vfsmc("regress", "--models", "suite")
    assert reproduces.exit_code == 0, reproduces.output
    assert f"note: suite/counterexamples/{path.name}: edited since vfsmc saved it" in (
        reproduces.output
    )


def test_a_row_a_bound_stopped_is_incomplete_not_a_verdict_changed(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A row whose check the time limit stopped is reported incomplete
    (exit 3 when nothing failed, 1 when something did), and ``--update``
    records no baseline from such a run."""
    path = _suite(tmp_path / "suite")
    before = path.read_text()
    result = vfsmc("regress", "--models", "suite", "--time-limit", "1e-9", "--update")
    assert result.exit_code == 3, result.output
    assert "verdict changed" not in result.output
    assert "incomplete: dirops/opposite-renames [correct]: time limit" in result.output
    assert "no verdict (expected OK)" in result.output
    assert "regress INCOMPLETE: 0/2 rows as expected (2 incomplete)" in result.output
    assert "the state baselines were not updated: this run was incomplete" in result.output
    assert "updated the state baseline" not in result.output
    assert path.read_text() == before
    assert (
        json.loads(vfsmc("regress", "--models", "suite", "--time-limit", "1e-9", "--json").output)[
            "incomplete_rows"
        ]
        == 2
    )
    saved = tmp_path / "suite" / "counterexamples"
    saved.mkdir()
    stem = "dirops-opposite-renames--no-rename-mutex"
    data = json.loads((ROOT / "counterexamples" / f"{stem}.json").read_text())
    del data["digest"]
    data["steps"][0]["label"] = "inode_lock(elsewhere)"
    (saved / "lost.json").write_text(json.dumps(data))
    failed = vfsmc("regress", "--models", "suite", "--time-limit", "1e-9", "--update")
    assert failed.exit_code == 1, failed.output
    assert "regress FAILED" in failed.output
    assert "the state baselines were not updated: this run failed" in failed.output
    assert path.read_text() == before


def test_bad_suites_are_one_line_errors(vfsmc: Run, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "m.py").write_text("")
    result = vfsmc("regress", "--models", "nothing")
    assert result.exit_code == 2
    assert result.output.strip().startswith("vfsmc: error: cannot read nothing/expectations.toml")
    _suite(tmp_path / "unknown", '[[expect]]\nscenario = "nope/x"\nverdict = "OK"\n')
    result = vfsmc("regress", "--models", "unknown")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(
        "vfsmc: error: unknown/expectations.toml: nope/x [correct]: unknown scenario 'nope/x'"
    )
    renames = '[[expect]]\nscenario = "dirops/opposite-renames"\n'
    refused = {
        "misnamed": (
            f'{renames}variants = ["no-rename-mutex"]\nverdict = "VIOLATED"\n'
            'property = "deadlok"\n',
            "dirops/opposite-renames [no-rename-mutex]: unknown property 'deadlok'",
        ),
        "inapplicable": (
            f'{renames}verdict = "OK"\n[[expect]]\nscenario = "writeback/write-vs-fsync"\n'
            'verdict = "OK"\nproperties = ["namespace"]\n',
            "writeback/write-vs-fsync [correct] (namespace): namespace needs ",
        ),
        "unchecked": (
            f'{renames}variants = ["no-rename-mutex"]\nverdict = "VIOLATED"\n'
            'property = "no-lost-write"\n',
            "dirops/opposite-renames [no-rename-mutex]: expects no-lost-write violated, which "
            "the row does not check (it checks lock-protocol, spec-conformance, deadlock, "
            "completes, livelock, namespace): name it in the row's properties or the scenario's",
        ),
    }
    for name, (text, error) in refused.items():
        _suite(tmp_path / name, text)
        result = vfsmc("regress", "--models", name)
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [result.output.strip()], "before any row runs"
        assert result.output.startswith(f"vfsmc: error: {name}/expectations.toml: {error}"), (
            result.output
        )
    _suite(tmp_path / "incomplete", '[[expect]]\nscenario = "x"\nverdict = "INCOMPLETE"\n')
    result = vfsmc("regress", "--models", "incomplete")
    assert result.exit_code == 2
    assert "field 'verdict' must be OK or VIOLATED" in result.output
    _suite(tmp_path / "malformed", '[[expect]]\nscenario = "x"\nverdict = "OK"\nstates = "many"\n')
    result = vfsmc("regress", "--models", "malformed")
    assert result.exit_code == 2
    assert "field 'states' must be an integer" in result.output


def test_a_model_file_is_no_suite(vfsmc: Run, tmp_path: Path) -> None:
    """regress takes a directory (its expectations.toml): a model file is
    refused in one line, not ignored in favour of the shipped suite."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "perm.py").write_text("")
    result = vfsmc("regress", "--models", "mine/perm.py")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("vfsmc: error: --models mine/perm.py is a model file")
    assert "vfsmc check mine/perm.py:SCENARIO" in result.output


def test_the_baseline_rewrite_keeps_the_layout(tmp_path: Path) -> None:
    from mc.check import baseline

    path = tmp_path / "expectations.toml"
    path.write_text(
        '[[expect]]\nscenario = "a"\nvariants = [\n  "x",\n]\nverdict = "OK"\n\n'
        '# next\n[[expect]]\nscenario = "b"\nverdict = "OK"\nstates = 1_000 # kept\n'
    )
    changed = baseline.rewrite_states(
        path, {("a", ("x",), "OK", None, None, ()): 5, ("b", (), "OK", None, None, ()): 7}
    )
    assert changed == 2
    assert path.read_text() == (
        '[[expect]]\nscenario = "a"\nvariants = [\n  "x",\n]\nverdict = "OK"\nstates = 5\n\n'
        '# next\n[[expect]]\nscenario = "b"\nverdict = "OK"\nstates = 7 # kept\n'
    )
    assert baseline.rewrite_states(path, {("b", (), "OK", None, None, ()): 7}) == 0
    path.write_text('[[expect]]\nscenario = "b"\nverdict = "OK"\nstates = 0x10\n')
    assert baseline.rewrite_states(path, {("b", (), "OK", None, None, ()): 62}) == 1
    assert path.read_text() == '[[expect]]\nscenario = "b"\nverdict = "OK"\nstates = 62\n'
    for quoted in ('"states"', "'states'"):
        path.write_text(f'[[expect]]\nscenario = "b"\nverdict = "OK"\n{quoted} = 1\n')
        assert baseline.rewrite_states(path, {("b", (), "OK", None, None, ()): 3}) == 1
        assert path.read_text() == f'[[expect]]\nscenario = "b"\nverdict = "OK"\n{quoted} = 3\n'
    inline = tmp_path / "inline.toml"
    inline.write_text('expect = [{scenario = "a", verdict = "OK"}]\n')
    with pytest.raises(expectations.ExpectationError, match="its own"):
        baseline.rewrite_states(inline, {("a", (), "OK", None, None, ()): 5})


def test_a_row_may_narrow_the_properties_it_checks(vfsmc: Run, tmp_path: Path) -> None:
    """Without namespace, dropping rmdir's victim lock breaks nothing the
    row checks (the tree breaks, but the row does not look at it)."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "nothing.py").write_text('"""No declarations: the shipped scenarios only."""\n')
    (suite / "expectations.toml").write_text(
        '[[expect]]\nscenario = "dirops/rmdir-vs-create"\nvariants = ["rmdir-no-victim-lock"]\n'
        'verdict = "OK"\nproperties = ["lock-protocol", "deadlock"]\n\n'
        '[[expect]]\nscenario = "dirops/rmdir-vs-create"\nvariants = ["rmdir-no-victim-lock"]\n'
        'verdict = "VIOLATED"\nproperty = "namespace"\n'
    )
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 0, result.output
    assert "2/2 rows as expected" in result.output
    (suite / "expectations.toml").write_text(
        '[[expect]]\nscenario = "dirops/rmdir-vs-create"\nverdict = "VIOLATED"\n'
        'property = "namespace"\nproperties = ["deadlock"]\n'
    )
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 2
    assert "property 'namespace' is not among the 'properties' checked" in result.output


def test_a_row_may_leave_out_properties_of_the_scenario_s_own(vfsmc: Run, tmp_path: Path) -> None:
    """without = [...] checks the scenario's properties but those: without
    namespace the same variant is OK; a property the scenario does not
    check, or without beside properties, is one line and exit 2."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "nothing.py").write_text('"""No declarations: the shipped scenarios only."""\n')
    row = '[[expect]]\nscenario = "dirops/rmdir-vs-create"\nvariants = ["rmdir-no-victim-lock"]\n'
    (suite / "expectations.toml").write_text(
        f'{row}verdict = "OK"\nwithout = ["namespace"]\n\n{row}verdict = "VIOLATED"\n'
        'property = "namespace"\n'
    )
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 0, result.output
    assert "2/2 rows as expected" in result.output
    (suite / "expectations.toml").write_text(f'{row}verdict = "OK"\nwithout = ["no-lost-write"]\n')
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 2
    assert "leaves out no-lost-write, which dirops/rmdir-vs-create does not check" in result.output
    (suite / "expectations.toml").write_text(
        f'{row}verdict = "OK"\nwithout = ["namespace"]\nproperties = ["deadlock"]\n'
    )
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 2
    assert "give 'properties' (what the row checks) or 'without'" in result.output


def test_the_shipped_suite_leaves_out_counterexamples_of_ones_own_model_files(
    tmp_path: Path,
) -> None:
    """A check of a shipped scenario under a variant of one's own saves its
    counterexample beside the shipped ones; the shipped suite neither
    passes nor fails by it (it failed once the user's file changed), and
    says it left it out."""
    from mc.check import regress
    from mc.check.registry import shipped

    expectations_file = _suite(tmp_path / "suite")
    saved = tmp_path / "suite" / "counterexamples"
    saved.mkdir()
    stem = "dirops-opposite-renames--no-rename-mutex"
    shutil.copy(ROOT / "counterexamples" / f"{stem}.json", saved / f"{stem}.json")
    data = json.loads((saved / f"{stem}.json").read_text())
    data["models"] = ["../../gone/my_change.py"]
    (saved / "mine.json").write_text(json.dumps(data))
    suite = regress.Suite(expectations_file, saved, shipped_models_only=True)
    report = regress.run(shipped(), suite, prefix="dirops/opposite-renames")
    assert [path.name for path in report.left_out] == ["mine.json"]
    assert [replayed.path.name for replayed in report.replays] == [f"{stem}.json"]
    assert report.replay_failures == []
    assert any(line.startswith("left out 1 counterexample of") for line in regress.summary(report))
    whole = regress.run(shipped(), regress.Suite(expectations_file, saved), prefix="dirops/opp")
    [(path, why)] = whole.unreadable
    assert path.name == "mine.json" and "records model file" in why
    assert not whole.passed


def test_an_update_that_cannot_be_written_says_so(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A baseline file that cannot be replaced (immutable, on a read-only
    file system) ends the run with one error line naming what was not
    recorded, and claims no update."""
    path = _suite(tmp_path / "suite")
    before = path.read_text()

    def refused(file: Path, states: object) -> int:
        raise PermissionError(errno.EPERM, "Operation not permitted", str(file))

    monkeypatch.setattr(baseline, "_rewrite_states", refused)
    result = vfsmc("regress", "--models", "suite", "--update")
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        "vfsmc: error: the new state baselines were not recorded in suite/expectations.toml: "
        "Operation not permitted\n"
    ), result.output
    assert "updated the state baseline" not in result.output
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("row", "missing"),
    [('scenario = "dirops/rmdir-vs-create"\n', "verdict"), ('verdict = "OK"\n', "scenario")],
)
def test_a_row_without_a_required_field_says_it_is_missing(
    vfsmc: Run, tmp_path: Path, row: str, missing: str
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "nothing.py").write_text('"""No declarations."""\n')
    (suite / "expectations.toml").write_text("[[expect]]\n" + row)
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 2, result.output
    assert result.output.strip().endswith(f"field '{missing}' is missing"), result.output


def test_a_suite_copied_elsewhere_cites_no_moved_lines(vfsmc: Run, tmp_path: Path) -> None:
    """A suite's counterexamples name the model file where they were
    saved; in a copy of the suite (another checkout) the same lines of the
    same file are no lines that moved."""
    _suite(
        tmp_path / "suite",
        '[[expect]]\nscenario = "my/abba"\nverdict = "VIOLATED"\nproperty = "deadlock"\n',
    )
    (tmp_path / "suite" / "abba.py").write_text(ABBA)
    saved = tmp_path / "suite" / "counterexamples"
    saved.mkdir()
    found = vfsmc("check", "suite/abba.py:my/abba", "--out", str(saved))
    assert found.exit_code == 1, found.output
    shutil.copytree(tmp_path / "suite", tmp_path / "copy")
    result = vfsmc("regress", "--models", "copy")
    assert result.exit_code == 0, result.output
    assert "reproduces (deadlock)" in result.output
    assert "have moved" not in result.output


def test_a_row_twice_or_a_variant_twice_is_refused(tmp_path: Path) -> None:
    """Two rows checking the same thing (their variants in any order)
    would both be recorded and reported; a variant named twice in a row
    says nothing more than once.  Both are one-line errors."""
    twice = (
        '[[expect]]\nscenario = "a"\nvariants = ["x", "y"]\nverdict = "OK"\n\n'
        '[[expect]]\nscenario = "a"\nvariants = ["y", "x"]\nverdict = "OK"\n'
    )
    with pytest.raises(
        expectations.ExpectationError, match=r"expect\[1\] checks what expect\[0\] checks"
    ):
        expectations.parse(twice, tmp_path / "e.toml")
    doubled = '[[expect]]\nscenario = "a"\nvariants = ["x", "x"]\nverdict = "OK"\n'
    with pytest.raises(expectations.ExpectationError, match="names 'x' twice"):
        expectations.parse(doubled, tmp_path / "e.toml")
    narrowed = twice.replace('verdict = "OK"\n', 'verdict = "OK"\nproperties = ["deadlock"]\n', 1)
    assert len(expectations.parse(narrowed, tmp_path / "e.toml")) == 2


def test_a_suite_of_shipped_scenarios_alone_needs_no_model_file(vfsmc: Run) -> None:
    """A directory with an expectations.toml of shipped scenarios and
    variants, and no .py file, is a suite regress runs (a directory with
    neither is still refused)."""
    Path("suite").mkdir()
    Path("suite/expectations.toml").write_text(
        '[[expect]]\nscenario = "dirops/rename-rmdir-link"\nvariants = ["child-first"]\n'
        'verdict = "VIOLATED"\nproperty = "deadlock"\n'
    )
    result = vfsmc("regress", "--models", "suite")
    assert result.exit_code == 0, result.output
    assert "regress passed: 1/1 rows as expected" in result.output
    Path("empty").mkdir()
    refused = vfsmc("regress", "--models", "empty")
    assert refused.exit_code == 2 and "no .py model files" in refused.output


def test_a_model_file_edited_within_the_second_keeping_its_size_runs_as_edited(
    tmp_path: Path,
) -> None:
    """Python takes a ``__pycache__`` file as current by its source's size
    and modification second: a model file is compiled from its text each
    time, and no bytecode is written beside it, so the swap of two names
    just after a run is what the next run checks."""
    suite = tmp_path / "suite"
    suite.mkdir()
    model = suite / "ab.py"
    model.write_text(LOCKERS)
    fixed = LOCKERS.replace('lock_two("/b", "/a")])', 'lock_two("/a", "/b")])')
    assert len(fixed) == len(LOCKERS)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    run = [sys.executable, "-m", "mc", "check", "suite/ab.py:my/ab", "--no-save", "--json"]
    verdicts = []
    for text in (LOCKERS, fixed):
        stat = model.stat()
        model.write_text(text)
        os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        done = subprocess.run(
            run, cwd=tmp_path, capture_output=True, text=True, env=env, check=False
        )
        verdicts.append(json.loads(done.stdout)["verdict"])
    assert verdicts == ["VIOLATED", "OK"]
    assert not (suite / "__pycache__").exists()
