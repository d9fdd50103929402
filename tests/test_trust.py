"""Verdicts that can be trusted: traces are re-executed before they are
shown, a run that checks nothing is an error, a variant that changes
nothing is reported, and a hand-run check never overwrites a shipped
counterexample."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from mc.check import lockorder
from mc.check.checker import check_scenario, file_stem
from mc.check.registry import with_files
from mc.check.replay import replay
from mc.engine import explore
from mc.engine.result import Verdict
from mc.trace import format as cx_format

Run = Callable[..., Result]
pytestmark = pytest.mark.usefixtures("own_models")
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def one_line(result: Result, fragment: str, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def flaky() -> Path:
    """A model file (loaded once per process, so always from one place)."""
    return FIXTURES / "flaky" / "flaky.py"


def test_a_model_that_is_not_deterministic_is_caught_before_the_search(
    vfsmc: Run, flaky: Path
) -> None:
    for options in ((), ("--exact",), ("--workers", "2")):
        line = one_line(vfsmc("check", f"{flaky}:flaky/count", *options), "is not deterministic")
        assert "run twice from one state, T1 'n = next(calls)', " in line
        assert "flaky.py:20 reached two states: T1.n is " in line and ", was " in line
    assert not Path("counterexamples").exists()


def test_a_model_that_is_not_deterministic_is_reported_not_given_a_verdict(
    vfsmc: Run, flaky: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the states run twice show nothing, re-executing the
    counterexample does."""
    monkeypatch.setattr(explore, "DETERMINISM_PROBES", 0)
    exact = vfsmc("check", f"{flaky}:flaky/count", "--exact")
    line = one_line(exact, "the model is not deterministic")
    assert "re-executing the path to the violation, step" in line
    assert "'n = next(calls)'" in line and ".n is " in line and ", was " in line
    fingerprints = one_line(vfsmc("check", f"{flaky}:flaky/count"), "is not deterministic")
    assert "'n = next(calls)' run twice from one state reaches two states" in fingerprints
    assert not Path("counterexamples").exists()


def test_replay_notices_a_step_that_is_not_deterministic(flaky: Path) -> None:
    registry = with_files([flaky])
    model = registry.build(registry.scenario("flaky/count"), (), ["small"])
    steps = tuple(
        cx_format.Step(
            "T1",
            0,
            False,
            "count()",
            "n = next(calls)",
            cx_format.Event("effect", "x"),
            "flaky.py:18",
            "count",
            {"T1.n": "0"},
        )
        for _ in range(1)
    )
    counterexample = cx_format.Counterexample(
        "flaky/count", (), ("small",), "small", "n = 5",
        (("T1", "count()"), ("T2", "count()")), steps,
    )  # fmt: skip
    report = replay(model, counterexample)
    assert not report.reproduced and report.stopped_at == 1
    assert "not deterministic" in report.reason


def test_a_scenario_without_threads_is_a_model_error(vfsmc: Run, flaky: Path) -> None:
    one_line(vfsmc("check", f"{flaky}:flaky/nobody"), "scenario flaky/nobody has no threads")


def test_an_empty_regress_selection_is_an_error(vfsmc: Run) -> None:
    one_line(vfsmc("regress", "--filter", "nosuch/"), "no row for a scenario starting with")
    one_line(vfsmc("regress", "--filter", "nosuch/", "--json"), "nosuch/")


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("dirops/opposite-renames", "no-wait-writeback"),
        ("dirops/opposite-renames", "mutant:drop@rename:models/dirops.py:1"),
        ("dirops/opposite-renames", "mutant:drop@rmdir:models/dirops.py:209"),
        ("writeback/write-vs-fsync", "writepage-drops-page"),
    ],
)
def test_a_variant_that_changes_nothing_is_an_error(
    vfsmc: Run, scenario: str, variant: str
) -> None:
    one_line(vfsmc("check", scenario, "-V", variant), f"variant {variant} changes nothing in")


def _dropping(name: str, operation: str, lock: str, module: str = "dirops") -> str:
    """A model file declaring variant ``name``: what runs ``operation`` (of
    mc.models.``module``) without ``lock``."""
    return f"""
from mc.dsl import Invocation, Program, variant
from mc.models.{module} import {operation}


@variant("{name}", "{operation}() without {lock}")
def dropped(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs({operation}):
        return program
    return program.drop_lock("{lock}")
"""


def _ineffective(vfsmc: Run, tmp_path: Path, name: str, operation: str, lock: str) -> str:
    """The one line ``check dirops/rmdir-vs-create`` gives for variant
    ``name`` (``_dropping``), which changes nothing there."""
    (tmp_path / "dropping.py").write_text(_dropping(name, operation, lock))
    scenario = "dirops/rmdir-vs-create"
    checked = vfsmc("check", scenario, "--models", "dropping.py", "-V", name, "--no-save")
    return one_line(checked, f"variant {name} changes nothing in {scenario}: ")


def test_a_drop_lock_of_a_misspelt_lock_lists_the_locks_taken(vfsmc: Run, tmp_path: Path) -> None:
    line = _ineffective(vfsmc, tmp_path, "rmdir-no-victim-lock-misspelt", "rmdir", "i_rwsm(victim)")
    said = "the lock its drop_lock('i_rwsm(victim)') names is none its threads take or release ("
    assert said in line, line
    taken = line.split("take or release (", 1)[1]
    assert "i_rwsem(victim)" in taken and "i_rwsm" not in taken


def test_a_drop_lock_its_transform_never_reaches_is_said_so(vfsmc: Run, tmp_path: Path) -> None:
    """A variant whose test matches none of the scenario's threads is not
    blamed on a lock name the threads do take."""
    line = _ineffective(vfsmc, tmp_path, "unlink-no-victim-lock", "unlink", "i_rwsem(victim)")
    said = (
        "its transform called drop_lock() on no thread's program (does a test in it, such as "
        "invocation.runs(...), match none of the threads? they run "
    )
    assert said in line and "rmdir" in line and "names is none" not in line, line


def test_a_regress_row_whose_variant_changes_nothing_is_an_error(
    vfsmc: Run, tmp_path: Path
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "nothing.py").write_text('"""No declarations."""\n')
    (suite / "expectations.toml").write_text(
        '[[expect]]\nscenario = "dirops/opposite-renames"\n'
        'variants = ["no-wait-writeback"]\nverdict = "OK"\n'
    )
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 2
    assert (
        "not checked: dirops/opposite-renames [no-wait-writeback]: "
        "variant no-wait-writeback changes nothing in dirops/opposite-renames"
    ) in result.output.splitlines()
    assert "NO CHANGE" in result.output
    report = json.loads(vfsmc("regress", "--models", str(suite), "--json").output)
    assert report["ineffective_rows"] == 1 and not report["passed"]


def test_a_check_narrowed_by_property_saves_under_its_own_name(vfsmc: Run) -> None:
    scenario, variant = "dirops/opposite-renames", "no-rename-mutex"
    full = json.loads(vfsmc("check", scenario, "-V", variant, "--json").output)
    narrowed = json.loads(
        vfsmc("check", scenario, "-V", variant, "-p", "deadlock", "--json").output
    )
    assert Path(full["counterexample"]).name == f"{file_stem(scenario, [variant])}.json"
    assert Path(narrowed["counterexample"]).name != Path(full["counterexample"]).name
    assert cx_format.load(Path(full["counterexample"])).properties == tuple(full["properties"])
    assert cx_format.load(Path(narrowed["counterexample"])).properties == ("deadlock",)


def test_a_depth_first_trace_is_saved_beside_the_shortest_not_over_it(vfsmc: Run) -> None:
    """--dfs saves under the run's name with .dfs: the breadth-first
    run's shortest trace stays, and each replays."""
    scenario, variant = "dirops/opposite-renames", "no-rename-mutex"
    shortest = json.loads(vfsmc("check", scenario, "-V", variant, "--json").output)
    before = Path(shortest["counterexample"]).read_text()
    deep = json.loads(vfsmc("check", scenario, "-V", variant, "--dfs", "--json").output)
    assert Path(deep["counterexample"]).name == f"{file_stem(scenario, [variant])}.dfs.json"
    assert Path(shortest["counterexample"]).read_text() == before
    assert len(cx_format.load(Path(deep["counterexample"])).steps) >= len(
        cx_format.load(Path(shortest["counterexample"])).steps
    )
    for saved in (shortest, deep):
        assert vfsmc("replay", saved["counterexample"]).exit_code == 1


def test_names_that_differ_after_a_dot_save_to_different_files(vfsmc: Run) -> None:
    stems = {
        file_stem("dirops/rename-rmdir-link", ["mutant:drop@rmdir:models/dirops.py:209"]),
        file_stem("dirops/rename-rmdir-link", ["mutant:drop@rmdir:models/dirops.py:228"]),
        file_stem("dirops/x", ["rename-6.5"]),
        file_stem("dirops/x", ["rename-6.5-children"]),
        file_stem("dirops/x", ["rename-6", "5"]),
        file_stem("dirops-x", ["rename-6.5"]),
        file_stem("dirops/x", ["rename-6.5"], ["deadlock"]),
    }
    assert len(stems) == 7
    assert file_stem("dirops/opposite-renames", ["no-rename-mutex"]) == (
        "dirops-opposite-renames--no-rename-mutex"
    )


NAME = st.text(alphabet="ab-/.:_~", min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.tuples(NAME, st.lists(NAME, max_size=2), st.none() | st.lists(NAME, max_size=2)),
    st.tuples(NAME, st.lists(NAME, max_size=2), st.none() | st.lists(NAME, max_size=2)),
)
def test_the_file_naming_rule_is_injective(
    first: tuple[str, list[str], list[str] | None], second: tuple[str, list[str], list[str] | None]
) -> None:
    if first != second:
        assert file_stem(*first) != file_stem(*second)


SLOW = """\
import time

from mc.dsl import operation, scenario

RUNS: list[int] = []


def slow(scratch, slot):
    RUNS.append(1)
    time.sleep(0.05)
    scratch[slot] = (scratch[slot] + 1) % 40


@operation(models="a step that takes 50 ms, in a loop")
def spin(op):
    op.label("again")
    op.effect("slow()", slow, op.world.shared_slot("turns", 0))
    op.goto("again")


scenario("slow/two", "two threads of slow steps", tree=["/a/"], threads=[spin(), spin()],
         properties=["deadlock"])
"""


def test_the_time_limit_bounds_the_determinism_probe_too(tmp_path: Path) -> None:
    """The probe that runs the first states' steps twice stops at the time
    limit: without it, 32 states' steps would run twice (over 6 s here)."""
    (tmp_path / "slow.py").write_text(SLOW)
    reg = with_files([tmp_path / "slow.py"])
    outcome = check_scenario(reg, "slow/two", options=explore.Options(time_limit=0.3))
    assert outcome.result.verdict is Verdict.INCOMPLETE, outcome.result.verdict
    file = str((tmp_path / "slow.py").resolve())
    [module] = [m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == file]
    assert 0 < len(module.RUNS) <= 20, len(module.RUNS)


def test_replay_says_how_a_step_differs_from_the_recorded_one(vfsmc: Run, tmp_path: Path) -> None:
    """A step run along with another (chained) whose text changed is
    named with its new text; a step whose changes differ lists both as the
    trace prints them."""
    shipped = Path(__file__).resolve().parent.parent / "counterexamples"
    original = json.loads((shipped / "dcache-ci-lookup--ci-compare-exact.json").read_text())
    relabelled = json.loads(json.dumps(original))
    assert relabelled["steps"][3]["chained"]
    relabelled["steps"][3]["label"] = "a step of another kernel"
    (tmp_path / "relabelled.json").write_text(json.dumps(relabelled))
    result = vfsmc("replay", "relabelled.json")
    assert "is at 'if (!d_compare(...)) return dentry" in result.output
    assert "instead of 'a step of another kernel'" in result.output
    changed = json.loads(json.dumps(original))
    changed["steps"][2]["changed"] = {}
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    result = vfsmc("replay", "changed.json")
    assert "now changes T1.ret = 1, not nothing" in result.output, result.output


def test_a_regress_row_whose_model_raises_is_an_error_and_the_others_are_checked(
    vfsmc: Run, tmp_path: Path, raising_reads: Callable[[Path], Path]
) -> None:
    """A model file's property whose reads= raises: the row that checks it
    is an error (exit 2 at the end), the rows before and after it still get
    their verdicts."""
    suite = tmp_path / "suite"
    suite.mkdir()
    raising_reads(suite)
    rows = "".join(
        f'[[expect]]\nscenario = "{name}"\nverdict = "OK"\n\n'
        for name in ("my/ok", "my/bad", "dirops/two-creates")
    )
    (suite / "expectations.toml").write_text(rows)
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 2, result.output
    [error] = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: my/bad [correct]: ") and "KeyError" in error, error
    assert "ERROR" in result.output
    assert "regress FAILED: 2/3 rows as expected (1 model error)" in result.output
    report = json.loads(vfsmc("regress", "--models", str(suite), "--json").output)
    assert report["error_rows"] == 1 and not report["passed"]


IPUT_WITHOUT_I_LOCK = _dropping("iput-without-i-lock", "iput_last", "i_lock", "inode")
DQB_LOCK_DROPPED = _dropping("alloc-drops-dq_dqb_lock", "alloc_block", "dq_dqb_lock", "quota")


def test_dropping_the_lock_of_a_one_step_section_says_what_cannot_show(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A section's effect without its lock still runs as one step: the OK
    comes with a note that a race inside it cannot show (the shipped
    add-space-without-dq_dqb_lock, which splits the read-modify-write,
    finds the lost update)."""
    (tmp_path / "dqb.py").write_text(DQB_LOCK_DROPPED)
    args = ("check", "quota/alloc-vs-sync", "--no-save", "--models", str(tmp_path / "dqb.py"))
    result = vfsmc(*args, "-V", "alloc-drops-dq_dqb_lock")
    assert result.exit_code == 0, result.output
    assert (
        "note: alloc-drops-dq_dqb_lock drops dq_dqb_lock(alice) from T1 and T2's one-step "
        "section 'dquot_add_space(): spin_lock(&dquot->dq_dqb_lock);"
    ) in result.output
    assert "a race that lock kept out of it cannot show" in result.output
    assert vfsmc(*args, "-V", "add-space-without-dq_dqb_lock").exit_code == 1


PREPARE_WITHOUT_BDEV_LOCK = """
from mc.dsl import Invocation, Program, variant
from mc.models.bdev import open_exclusive


@variant("prepare-without-bdev_lock", "bd_prepare_to_claim() without bdev_lock")
def dropped(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(open_exclusive):
        return program
    label = "bd_prepare_to_claim(): mutex_lock(&bdev_lock)"
    return program.drop_acquisitions(lambda step: step.label == label)
"""


def test_dropping_a_mutex_around_one_step_says_what_cannot_show(vfsmc: Run, tmp_path: Path) -> None:
    """bd_prepare_to_claim()'s test and set of bd_claiming is one effect
    under bdev_lock: without the mutex it is still one step, so the OK
    comes with a note that a race inside it cannot show."""
    (tmp_path / "prepare.py").write_text(PREPARE_WITHOUT_BDEV_LOCK)
    args = ("check", "bdev/exclusive-opens", "--no-save", "--models", str(tmp_path / "prepare.py"))
    result = vfsmc(*args, "-V", "prepare-without-bdev_lock")
    assert result.exit_code == 0, result.output
    assert (
        "note: prepare-without-bdev_lock drops bdev_lock around T1 and T2's one step "
        "'if (!bd_may_claim(bdev, holder, hops))"
    ) in result.output
    assert "a race that lock kept out of it cannot show" in result.output


def test_an_unsaved_json_trace_names_its_model_files_and_replays(
    vfsmc: Run, tmp_path: Path
) -> None:
    """--json --no-save gives the trace as a saved file holds it, with the
    model files it needs named relative to the current directory: written
    to a file there, it replays without --models."""
    (tmp_path / "ilock.py").write_text(
        _dropping("my-alloc-drops-i_lock", "alloc_block", "i_lock", "quota")
    )
    found = vfsmc(
        *("check", "quota/alloc-vs-chown", "--models", "ilock.py"),
        *("-V", "my-alloc-drops-i_lock", "--json", "--no-save"),
    )
    report = json.loads(found.stdout)
    assert report["verdict"] == "VIOLATED" and report["counterexample"] is None, report
    assert report["trace"]["models"] == ["ilock.py"]
    (tmp_path / "trace.json").write_text(json.dumps(report["trace"]))
    replayed = vfsmc("replay", "trace.json")
    assert replayed.exit_code == 1 and "reproduces" in replayed.output, replayed.output


QUOTA_IO_WITHOUT_DQIO_SEM = """
from mc.dsl import Invocation, Program, variant


@variant("quota-io-without-dqio-sem", "the quota format reads and writes without dqio_sem")
def unlocked(program: Program, invocation: Invocation) -> Program:
    return program.drop_lock("dqio_sem")
"""


def test_quota_write_without_dqio_sem_breaks_the_documents_rule(vfsmc: Run, tmp_path: Path) -> None:
    """ "->quota_read() and ->quota_write() ... (via dqio_sem)": ->quota_write
    without dqio_sem breaks the rule; ->quota_read's need is a recorded
    departure (v2_check_quota_file() reads without it at quota on), so the
    read before it passes."""
    message = _spec_breach(
        vfsmc,
        tmp_path,
        "quota/alloc-vs-sync",
        QUOTA_IO_WITHOUT_DQIO_SEM,
        "quota-io-without-dqio-sem",
    )
    assert "super_operations.quota_write without dqio_sem" in message, message


def test_drop_inode_without_the_inodes_i_lock_breaks_the_documents_note(
    vfsmc: Run, tmp_path: Path
) -> None:
    """The note !!!inode->i_lock!!! of ->drop_inode requires i_lock(inode):
    iput() without it breaks the rule, and the shipped iput() keeps it."""
    message = _spec_breach(
        vfsmc, tmp_path, "super/evict-vs-lookup", IPUT_WITHOUT_I_LOCK, "iput-without-i-lock"
    )
    assert "super_operations.drop_inode without i_lock(/f)" in message, message


def _spec_breach(vfsmc: Run, tmp_path: Path, scenario: str, model: str, variant: str) -> str:
    """The message of the spec-conformance violation ``variant``, declared
    by the model file text ``model``, gives in ``scenario``, which is OK
    without it."""
    (tmp_path / "unlocked.py").write_text(model)
    args = ("check", scenario, "--no-save", "--json")
    assert json.loads(vfsmc(*args).stdout)["verdict"] == "OK"
    unlocked = ("--models", str(tmp_path / "unlocked.py"), "-V", variant)
    broken = json.loads(vfsmc(*args, *unlocked).stdout)
    assert broken["verdict"] == "VIOLATED" and broken["property"] == "spec-conformance", broken
    return str(broken["message"])


WRITE_I_RWSEM_SHARED = """
from mc.dsl import Invocation, Program, variant
from mc.models.writeback import write


@variant(
    "write-i_rwsem-shared",
    "generic_file_write_iter() takes i_rwsem shared",
    waives=("address_space_operations.write_begin i_rwsem(inode)",
            "address_space_operations.write_end i_rwsem(inode)"),
)
def shared(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(write):
        return program
    return program.weaken(lambda step: step.label == "generic_file_write_iter(): inode_lock(inode)")
"""


def test_making_a_lock_shared_around_steps_that_test_and_store_says_what_cannot_show(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Two writers of one file with i_rwsem shared: write_end's test of
    i_size and the store it decides are one step, so a lost i_size update
    cannot show; the OK comes with a note naming that step."""
    (tmp_path / "shared.py").write_text(WRITE_I_RWSEM_SHARED)
    args = ("check", "writeback/two-writers-flusher", "--no-save", "--models", "shared.py")
    result = vfsmc(*args, "-V", "write-i_rwsem-shared")
    assert result.exit_code == 0, result.output
    assert "note: write-i_rwsem-shared makes shared i_rwsem(/f) around " in result.output
    assert "of T1 and T2 that test shared state and act on it in one step (" in result.output
    assert "if (last_pos > inode->i_size" in result.output
    assert "a race that lock kept out of it cannot show" in result.output


UNREACHED_MOVE = """
from mc.dsl import Invocation, Program, variant
from mc.models.quota import alloc_block


@variant("acquire-lock-first", "dquot_acquire() takes dq_lock before the handle")
def moved(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(alloc_block):
        return program
    steps = list(program.steps)
    for i, step in enumerate(steps):
        if step.label.startswith("dquot_acquire(): mutex_lock(&dquot->dq_lock)"):
            anchor = next(
                (s for s in reversed(steps[:i]) if "journal_start" in s.label), None
            )
            if anchor is not None:
                return program.move_before([step], anchor)
    return program
"""


def test_a_moved_step_no_state_runs_is_noted_under_the_ok(vfsmc: Run, tmp_path: Path) -> None:
    """A move whose old place the program reaches after a jump (no step
    leads to it alone) is watched there by the step after it: where
    neither is reached the OK says the change was never run."""
    (tmp_path / "moved.py").write_text(UNREACHED_MOVE)
    args = ("check", "quota/alloc-vs-chown", "--no-save", "--models", "moved.py")
    result = vfsmc(*args, "-V", "acquire-lock-first", "--json")
    assert result.exit_code == 0, result.output
    report = json.JSONDecoder().raw_decode(result.output)[0]
    assert report["unreached_changes"], report


def test_an_ok_says_when_its_look_for_edges_against_the_order_stopped_short(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look for lock-class edges against the documented order explores
    a bounded number of states: where it stops before the last, the OK
    says so and names the command that explores them all."""
    (tmp_path / "prepare.py").write_text(PREPARE_WITHOUT_BDEV_LOCK)
    args = ("check", "bdev/exclusive-opens", "--no-save", "--models", "prepare.py")
    whole = vfsmc(*args, "-V", "prepare-without-bdev_lock")
    assert whole.exit_code == 0 and "look for lock-class edges" not in whole.output
    monkeypatch.setattr(lockorder, "AGAINST_ORDER_STATES", 5)
    cut = vfsmc(*args, "-V", "prepare-without-bdev_lock")
    assert cut.exit_code == 0, cut.output
    assert (
        "note: the look for lock-class edges against the documented order stopped (max states 5 "
        "reached): an edge the variants take past it is not judged (vfsmc lockorder --filter "
        "bdev/exclusive-opens --models prepare.py -V prepare-without-bdev_lock explores every "
        "state)"
    ) in cut.output


UNLOCKED_MOVED_DIRECTORY = """
from mc.dsl import Invocation, Program, scenario, variant
from mc.models.dirops import create, rename


@variant(
    "rename-unlocked-moved-dir",
    "vfs_rename() does not lock a directory it moves to another parent",
    waives=["inode_operations.rename i_rwsem(source)"],
)
def unlocked(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(rename):
        return program
    return program.drop_acquisitions(
        lambda step: step.label == "inode_lock_nested(source, I_MUTEX_CHILD)"
    )


scenario(
    "user/rename-dir-vs-create-inside",
    "a cross-directory rename of /a/d racing a create in it",
    tree=["/a/", "/a/d/", "/b/"],
    threads=[rename("/a/d", "/b/d"), create("/a/d/f")],
)
"""


def test_a_dropped_lock_s_note_names_no_step_of_a_branch_its_section_never_reaches(
    vfsmc: Run, tmp_path: Path
) -> None:
    """vfs_rename() locks a moved directory (``inode_lock_nested(source,
    I_MUTEX_CHILD)``) in one branch and two non-directories
    (``lock_two_nondirectories()``, whose address test swaps them) in the
    other: dropping the first says nothing of the second's steps."""
    (tmp_path / "moved.py").write_text(UNLOCKED_MOVED_DIRECTORY)
    args = ("check", "moved.py:user/rename-dir-vs-create-inside", "--no-save")
    result = vfsmc(*args, "-V", "rename-unlocked-moved-dir")
    assert result.exit_code in (0, 1), result.output
    assert "rename-unlocked-moved-dir" in result.output
    assert "inode1 > inode2" not in result.output
