"""The command line: verdicts, exit codes, JSON, counterexample files,
replay, graphs and one-line errors on bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import python_in

import mc.cli.main as cli_main
from mc.check import checker, lockorder
from mc.engine.ctrl_c import Interrupt
from mc.kernel.world import ModelError
from mc.trace import format as cx_format

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent


def test_list_json_names_scenarios_variants_properties(vfsmc: Run) -> None:
    result = vfsmc("list", "--json")
    assert result.exit_code == 0
    listing = json.loads(result.output)
    assert "dirops/opposite-renames" in listing["scenarios"]
    assert "no-rename-mutex" in listing["variants"]
    assert {"deadlock", "lock-protocol", "namespace"} <= set(listing["properties"])


def test_list_leaves_a_users_variant_out_where_it_does_not_build(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A variant of a user's that names a path of its own scenario's tree
    builds on no shipped scenario without it: list says so in a note and
    lists the rest (check of such a scenario with it is the error)."""
    (tmp_path / "own.py").write_text(
        "from mc.dsl import EXCL, Op, inserts, scenario\n"
        "from mc.models.dirops import create\n\n"
        "def take_b(op: Op, *args: object) -> None:\n"
        "    op.lock(op.inode('/b').i_rwsem, EXCL, 'inode_lock(/b)')\n"
        "    op.unlock(op.inode('/b').i_rwsem, 'inode_unlock(/b)')\n\n"
        "inserts(create, 'create-locks-b', 'x',\n"
        "        before={'inode_lock_nested(path->dentry->d_inode, I_MUTEX_PARENT)': take_b})\n"
        "scenario('my/create', 'x', tree=['/b/'], threads=[create('/b/x')])\n"
    )
    listed = vfsmc("list", "--models", str(tmp_path / "own.py"), "--json")
    assert listed.exit_code == 0, listed.output
    note, _, listing = listed.output.partition("\n")
    assert note.startswith("vfsmc: note: variant create-locks-b does not build on "), note
    assert "is not in the scenario's tree" in note
    applies = json.loads(listing)["applicable_variants"]
    assert "create-locks-b" in applies["my/create"]
    assert "create-locks-b" not in applies["dirops/two-creates"]
    failing = vfsmc(
        "check", "dirops/two-creates", "--models", str(tmp_path / "own.py"), "-V", "create-locks-b"
    )
    assert failing.exit_code == 2 and "is not in the scenario's tree" in failing.output


UNLOCKS_BEFORE_THE_LOOKUP = (
    "from mc.dsl import Invocation, Program, scenario, variant\n"
    "from mc.models.dirops import rmdir\n\n"
    "@variant('unlock-victim-first', 'x')\n"
    "def unlock_victim_first(program: Program, invocation: Invocation) -> Program:\n"
    "    if not invocation.runs(rmdir):\n"
    "        return program\n"
    "    unlock = program.step('inode_unlock(dentry->d_inode)')\n"
    "    return program.move_before([unlock], program.steps[0])\n\n"
    "scenario('my/rmdir', 'x', tree=['/a/', '/a/b/'], threads=[rmdir('/a/b')])\n"
)


def test_list_leaves_out_a_variant_that_reads_a_register_before_it_is_set(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A variant that moves rmdir's unlock of the victim above the lookup
    that finds it fails check (the step reads a register no step has set);
    list leaves it out of the scenario with a note, as for any variant
    that does not build there, and with words works out only the
    scenarios they name (no note of the others)."""
    own = str(tmp_path / "own.py")
    (tmp_path / "own.py").write_text(UNLOCKS_BEFORE_THE_LOOKUP)
    failing = vfsmc("check", f"{own}:my/rmdir", "-V", "unlock-victim-first", "--no-save")
    assert failing.exit_code == 2 and "where no step has set it" in failing.output
    listed = vfsmc("list", "--models", own, "my/rmdir", "--json")
    assert listed.exit_code == 0, listed.output
    note, _, listing = listed.output.partition("\n")
    assert note.startswith(
        "vfsmc: note: variant unlock-victim-first does not build on my/rmdir, so it is not "
        "listed there"
    ), note
    assert "where no step has set it" in note
    applies = json.loads(listing)["applicable_variants"]
    assert list(applies) == ["my/rmdir"] and "unlock-victim-first" not in applies["my/rmdir"]


def test_list_keeps_what_holds_every_word(vfsmc: Run) -> None:
    """Words filter the listing: a scenario's name, description or the
    operations its threads run (also by name) hold each, where a word begins (``lease`` is
    not the quota scenarios' "release"); nothing holding them is exit 2."""
    listing = json.loads(vfsmc("list", "flusher", "fsync", "--json").output)
    assert "writeback/two-writers-flusher" in listing["scenarios"]
    assert "dirops/opposite-renames" not in listing["scenarios"]
    assert set(listing["applicable_variants"]) == set(listing["scenarios"])
    lookups = json.loads(vfsmc("list", "LOOKUP(/a/x)", "--json").output)
    assert "dcache/parallel-lookups" in lookups["scenarios"]
    text = vfsmc("list", "in-lookup").output
    assert "one-lookup-per-name" in text and "no-in-lookup-wait" in text
    leases = json.loads(vfsmc("list", "lease", "--json").output)["scenarios"]
    assert "filelock/lease-vs-open" in leases
    assert not [name for name in leases if name.startswith("quota/")], leases
    by_op_name = json.loads(vfsmc("list", "write_fd", "--json").output)["scenarios"]
    assert "file/fallocate-modes" in by_op_name, "the names vfsmc ops gives operations"
    none = vfsmc("list", "nosuchword")
    assert none.exit_code == 2 and "nothing listed holds nosuchword" in none.output


def test_a_variant_given_twice_is_taken_once_and_said_so(vfsmc: Run) -> None:
    twice = ("-V", "no-rename-mutex", "-V", "no-rename-mutex")
    result = vfsmc("check", "dirops/opposite-renames", *twice, "--no-save")
    assert result.exit_code == 1, result.output
    assert "--variant no-rename-mutex given more than once: taken once" in result.output


def test_check_ok_exits_0_with_statistics(vfsmc: Run) -> None:
    result = vfsmc("check", "dirops/rename-rmdir-link", "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["verdict"] == "OK"
    assert report["property"] is None and report["counterexample"] is None
    assert report["states"] > 100 and report["transitions"] >= report["states"] - 1
    assert {"seconds", "states_per_second", "peak_memory_bytes", "max_depth"} <= set(report)


def test_check_statistics_group_thousands_as_the_rate_does(vfsmc: Run) -> None:
    result = vfsmc("check", "journal/write-vs-writeback-commit")
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if " transitions, depth " in x]
    assert re.match(r"  \d{1,3},\d{3} states, \d{1,3}(,\d{3})+ transitions, ", line), line
    assert not re.search(r"(?<![\d.,])\d{4,}(?![\d.])", line.split(";")[0]), line


def test_a_huge_label_from_a_trace_is_echoed_clipped(vfsmc: Run, tmp_path: Path) -> None:
    """A label of a trace that a replay message repeats is cut to about
    200 characters, saying how long it is."""
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = tmp_path / "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    data = json.loads(path.read_text())
    del data["digest"]
    data["steps"][0]["label"] = "x" * 100_000
    (tmp_path / "huge.json").write_text(json.dumps(data))
    result = vfsmc("replay", "huge.json", "--correct")
    assert result.exit_code == 0, result.output[:2000]
    [line] = [x for x in result.output.splitlines() if x.startswith("does not reproduce")]
    assert len(line) < 700, line[:1000]
    assert "x" * 199 + "\u2026 (100,000 characters)" in line
    assert "x" * 201 not in line
    report = json.loads(vfsmc("replay", "huge.json", "--correct", "--json").output)
    assert len(report["reason"]) < 500


def test_check_violation_exits_1_and_saves_trace_and_graph(vfsmc: Run, tmp_path: Path) -> None:
    result = vfsmc("check", "dirops/opposite-renames", "--variant", "no-rename-mutex", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert (report["verdict"], report["property"]) == ("VIOLATED", "deadlock")
    saved = tmp_path / report["counterexample"]
    assert saved.name == "dirops-opposite-renames--no-rename-mutex.json"
    assert cx_format.load(saved).property == "deadlock"
    assert (tmp_path / report["graph"]).read_text().lstrip().startswith("<?xml")


def test_check_json_without_saving_holds_the_trace_itself(vfsmc: Run) -> None:
    """With --no-save the report carries the counterexample (what the file
    would hold); saved, it names the file instead; and it says whether
    the search reduced or used symmetry."""
    args = ("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    unsaved = json.loads(vfsmc(*args, "--no-save", "--json").output)
    assert unsaved["counterexample"] is None
    trace = cx_format.from_json(unsaved["trace"])
    assert (trace.property, unsaved["reduction"], unsaved["symmetry"]) == ("deadlock", True, False)
    saved = json.loads(vfsmc(*args, "--json").output)
    assert saved["trace"] is None
    assert cx_format.load(Path(saved["counterexample"])) == trace
    plain = json.loads(vfsmc("check", "dcache/parallel-lookups", "--symmetry", "--json").stdout)
    assert (plain["reduction"], plain["symmetry"], plain["trace"]) == (False, True, None)


def test_check_says_how_the_search_for_a_shorter_trace_went(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found shorter, none shorter exists, or none found before the bound."""
    found = vfsmc("check", "dirops/rename-rmdir-link", "-V", "rmdir-no-victim-lock", "--no-save")
    assert "  trace: 10 transitions, where the reduced search's took 12: a search " in found.output
    args = ("check", "quota/alloc-vs-sync", "-V", "commit-clears-dirty-late", "--no-save")
    none = vfsmc(*args).output
    assert "  trace: 39 transitions, a shortest one: a search without reduction (" in none
    assert (
        " states) found none shorter (71 numbered steps: those marked + run along with the "
        "step before)\n" in none
    )
    assert "\n  2+ T1  " in none
    monkeypatch.setattr(checker, "SHORTER_TRACE_STATES", 100)
    assert "found no shorter one before its bound (--no-por" in vfsmc(*args).output


def test_check_text_output_shows_the_cycle(vfsmc: Run) -> None:
    result = vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex", "--no-save")
    assert result.exit_code == 1
    assert "cycle: T1 -> i_rwsem(/a) -> T2 -> i_rwsem(/b) -> T1" in result.output
    assert (
        "  trace: 6 transitions (10 numbered steps: those marked + run along with the step "
        "before)\n" in result.output
    )
    assert not Path("counterexamples").exists()


def test_check_out_directory(vfsmc: Run, tmp_path: Path) -> None:
    result = vfsmc(
        "check", "dirops/opposite-renames", "-V", "no-rename-mutex", "--out", "elsewhere"
    )
    assert result.exit_code == 1
    assert (tmp_path / "elsewhere" / "dirops-opposite-renames--no-rename-mutex.json").exists()


def test_bounds_give_incomplete_exit_3(vfsmc: Run) -> None:
    for bound in (["--max-states", "10"], ["--max-depth", "3"]):
        result = vfsmc("check", "dirops/rename-rmdir-link", *bound, "--json")
        assert result.exit_code == 3, result.output
        assert json.loads(result.output)["verdict"] == "INCOMPLETE"


def test_dfs_finds_the_deadlock_too(vfsmc: Run) -> None:
    result = vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex", "--dfs", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["property"] == "deadlock"


def test_replay_reproduces_then_not_on_the_correct_protocol(vfsmc: Run) -> None:
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    replayed = vfsmc("replay", path)
    assert replayed.exit_code == 1
    assert "reproduces on variants no-rename-mutex: deadlock" in replayed.output
    assert "inode_lock_nested(p1->d_inode, I_MUTEX_PARENT)" in replayed.output
    correct = vfsmc("replay", path, "--correct", "--json")
    assert correct.exit_code == 0
    report = json.loads(correct.output)
    assert report["reproduced"] is False
    assert report["stopped_at"] == 1
    assert "mutex_lock(&p1->d_sb->s_vfs_rename_mutex)" in report["reason"]


def test_replay_correct_of_a_trace_of_two_variants_says_how_to_drop_one(vfsmc: Run) -> None:
    """--correct drops a scenario's setting (fixed-addresses) with the change
    under test: the replay says so, and --on keeps the setting."""
    path = str(
        Path(__file__).parent.parent
        / "counterexamples/dirops-rename-up-vs-rmdir--child-first--fixed-addresses.json"
    )
    correct = vfsmc("replay", path, "--correct")
    assert correct.exit_code == 0, correct.output
    assert (
        "(--correct drops every variant the trace records, child-first, fixed-addresses; to "
        "drop one alone"
    ) in correct.output
    kept = vfsmc("replay", path, "--on", "fixed-addresses")
    assert kept.exit_code == 0, kept.output
    assert "does not reproduce on variants fixed-addresses" in kept.output
    assert "--correct drops" not in kept.output


def test_a_default_counterexamples_that_is_no_directory_is_refused_before_the_search(
    vfsmc: Run, tmp_path: Path
) -> None:
    """As --out is: a file, or a link to nothing, where check would save."""
    (tmp_path / "counterexamples").write_text("mine\n")
    refused = vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    assert refused.exit_code == 2, refused.output
    assert "counterexamples is a file, not a directory" in refused.output
    assert (tmp_path / "counterexamples").read_text() == "mine\n"
    assert vfsmc("check", "dirops/opposite-renames", "--no-save").exit_code == 0
    (tmp_path / "counterexamples").unlink()
    (tmp_path / "counterexamples").symlink_to(tmp_path / "gone")
    linked = vfsmc("check", "dirops/opposite-renames")
    assert linked.exit_code == 2 and "is a link to nothing" in linked.output


def test_graph_writes_svg_png_and_dot(vfsmc: Run, tmp_path: Path) -> None:
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    for suffix, magic in ((".svg", b"<?xml"), (".png", b"\x89PNG"), (".dot", b"digraph")):
        result = vfsmc("graph", path, "-o", f"chart{suffix}")
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"chart{suffix}").read_bytes().startswith(magic)


def test_an_output_that_is_the_input_is_refused_and_the_input_kept(
    vfsmc: Run, tmp_path: Path
) -> None:
    """graph and report to the counterexample they read (by its name or a
    link to it) and spec import to the document it reads: exit 2, the
    input as it was."""
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = tmp_path / "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    (tmp_path / "link.svg").symlink_to(path)
    html = tmp_path / "trace.html"
    html.write_bytes(path.read_bytes())
    document = tmp_path / "locking.rst"
    document.write_text((ROOT / "specs/locking.toml").read_text())
    kept = {file: file.read_bytes() for file in (path, html, document)}
    for args in (
        ("graph", str(path), "-o", "link.svg"),
        ("report", "trace.html", "-o", "trace.html"),
        ("spec", "import", "locking.rst", "-o", "locking.rst"),
    ):
        result = vfsmc(*args)
        assert result.exit_code == 2, result.output
        assert "being read" in result.output and "would replace it" in result.output
    assert {file: file.read_bytes() for file in kept} == kept


def test_graph_of_a_trace_cut_short_says_it_does_not_replay_one_of_another_scenario_is_refused(
    vfsmc: Run, tmp_path: Path
) -> None:
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = tmp_path / "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    whole = vfsmc("graph", str(path), "-o", "whole.svg")
    assert whole.exit_code == 0 and "warning" not in whole.output, whole.output
    data = json.loads(path.read_text())
    data["steps"] = data["steps"][:3]
    (tmp_path / "cut.json").write_text(json.dumps(data))
    cut = vfsmc("graph", "cut.json", "-o", "cut.svg")
    assert cut.exit_code == 0, cut.output
    assert "vfsmc: warning: cut.json: this trace does not replay on today's models" in cut.output
    assert (tmp_path / "cut.svg").read_bytes().startswith(b"<?xml")
    assert "NOT REPLAYED: this trace does not replay" in (tmp_path / "cut.svg").read_text()
    assert "NOT REPLAYED" not in (tmp_path / "whole.svg").read_text()
    page = vfsmc("report", "cut.json", "-o", "cut.html")
    assert page.exit_code == 0, page.output
    assert "cut.json: this trace does not replay on today's models" in page.output
    assert "this trace does not replay" in (tmp_path / "cut.html").read_text()
    data = json.loads(path.read_text())
    data["threads"][1]["operation"] = "rename(/x -> /y)"
    (tmp_path / "other.json").write_text(json.dumps(data))
    (tmp_path / "kept.svg").write_bytes(b"<?xml kept")
    for command, out in (("graph", "kept.svg"), ("report", "other.html")):
        other = vfsmc(command, "other.json", "-o", out)
        assert other.exit_code == 2, other.output
        assert "its thread T2 runs rename(/x -> /y), but dirops/opposite-renames's" in other.output
    assert (tmp_path / "kept.svg").read_bytes() == b"<?xml kept"
    assert not (tmp_path / "other.html").exists()


LINK_FIRST = """\
from mc.dsl import Invocation, Program, scenario, variant
from mc.models.dirops import link, rename


@variant("link-source-first", "vfs_link() locks the source before the new parent")
def link_source_first(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(link):
        return program
    return program.move_before(program.tagged("lock-source")[0], program.tagged("lock-parent")[0])


scenario("my/link-vs-rename", "a link racing a rename", tree=["/a/", "/c/", "/c/e"],
         threads=[link("/c/e", "/a/f"), rename("/c/e", "/a/x")])
"""


def test_replay_under_a_variant_that_changes_nothing_today_is_an_error(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A trace whose variant's change is gone from the models does not
    reproduce, which says nothing of a fix: exit 2, as check says (the
    edited model file is read by a process of its own)."""
    model = tmp_path / "link_first.py"
    model.write_text(LINK_FIRST)
    found = vfsmc("check", "link_first.py:my/link-vs-rename", "-V", "link-source-first")
    assert found.exit_code == 1, found.output
    (saved,) = (tmp_path / "counterexamples").glob("*.json")
    model.write_text(LINK_FIRST.replace("    return program.move_before", "    return program  #"))
    replayed = python_in(tmp_path, "-m", "mc", "replay", str(saved))
    assert replayed.returncode == 2, replayed
    assert "changes nothing in my/link-vs-rename" in replayed.stderr
    assert "says nothing of a fix" in replayed.stderr


def test_replay_refuses_a_variant_check_refuses_even_where_the_trace_reproduces(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A trace that reproduces, with a variant added that changes nothing
    in its scenario, is refused as check refuses the pair: the replay
    once said it reproduced on both."""
    shipped = ROOT / "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    data = json.loads(shipped.read_text())
    data["variants"] = [*data["variants"], "child-first"]
    (tmp_path / "both.json").write_text(json.dumps(data))
    replayed = vfsmc("replay", "both.json")
    assert replayed.exit_code == 2, replayed.output
    assert "variant child-first changes nothing in dirops/opposite-renames: the trace " in (
        replayed.output
    )
    checked = vfsmc(
        "check", "dirops/opposite-renames", "-V", "no-rename-mutex", "-V", "child-first"
    )
    assert checked.exit_code == 2
    assert "variant child-first changes nothing in dirops/opposite-renames" in checked.output


def test_replay_of_an_outcome_the_step_does_not_have_says_so(vfsmc: Run, tmp_path: Path) -> None:
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = tmp_path / "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    data = json.loads(path.read_text())
    data["steps"][0]["branch"] = 99
    (tmp_path / "edited.json").write_text(json.dumps(data))
    edited = vfsmc("replay", "edited.json")
    assert edited.exit_code == 2, edited.output
    assert "edited.json: edited since vfsmc saved it (its digest no longer matches" in (
        edited.output
    )
    del data["digest"]  # a trace edited on purpose
    (tmp_path / "edited.json").write_text(json.dumps(data))
    result = vfsmc("replay", "edited.json", "--json")
    report = json.loads(result.output)
    assert report["reproduced"] is False and report["stopped_at"] == 1
    assert report["reason"].startswith("it records outcome 99 of ")
    assert "which has 1 outcome here (0 to 0)" in report["reason"]


def test_replay_of_an_edited_message_is_refused_naming_today_s(vfsmc: Run, tmp_path: Path) -> None:
    """A hand-edited message is not printed as if the check had found it:
    the file is refused in one line giving the violation today's models
    find and the file's text."""
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = tmp_path / "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    data = json.loads(path.read_text())
    found = data["message"]
    data["message"] = "nothing to see here"
    (tmp_path / "edited.json").write_text(json.dumps(data))
    result = vfsmc("replay", "edited.json")
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"vfsmc: error: edited.json: its steps lead to deadlock: {found}, but it records "
        "another message: nothing to see here (edited since saved, or worded by older models)\n"
    )
    assert vfsmc("replay", str(path)).exit_code == 1


def test_a_change_to_a_step_run_as_the_threads_start_is_reached(vfsmc: Run, tmp_path: Path) -> None:
    """A variant whose only change is a thread's first step, which runs as
    the threads start (in the initial state), is not said to be reached
    by no explored state."""
    (tmp_path / "first.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n"
        "from mc.models.quota import quota_sync\n\n"
        "@variant('qsync-excl', 'x')\n"
        "def qsync_excl(program: Program, invocation: Invocation) -> Program:\n"
        "    if not invocation.runs(quota_sync):\n"
        "        return program\n"
        "    return program.strengthen(lambda s: 'down_read(&sb->s_umount)' in s.label)\n"
    )
    args = ("--models", str(tmp_path / "first.py"), "-V", "qsync-excl", "--no-save", "--json")
    data = json.loads(vfsmc("check", "quota/alloc-vs-sync", *args).output)
    assert data["verdict"] == "OK"
    assert data["unreached_changes"] == []


def test_an_ok_that_never_reaches_the_change_says_so(vfsmc: Run, tmp_path: Path) -> None:
    """Swapping the parents' locks in lock_rename()'s "p2 is an ancestor of
    p1" branch: a scenario that never takes the branch is OK with a note,
    one that takes it deadlocks."""
    (tmp_path / "swap.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n"
        "from mc.models.dirops import rename\n\n"
        "@variant('descendant-first', 'x')\n"
        "def descendant_first(program: Program, invocation: Invocation) -> Program:\n"
        "    if invocation.operation is not rename:\n"
        "        return program\n"
        "    a, b = [s for s in program.tagged('lock-parent') if 'p2->d_inode, I_MUTEX_PARENT)'\n"
        "            in s.label or 'p1->d_inode, I_MUTEX_PARENT2)' in s.label]\n"
        "    return program.swap(a, b)\n"
    )
    args = ("--models", "swap.py", "-V", "descendant-first", "--no-save")
    unreached = vfsmc("check", "dirops/rename-up-vs-rmdir", *args)
    assert unreached.exit_code == 0, unreached.output
    assert "note: no explored state runs a step the variants change (" in unreached.output
    data = json.loads(vfsmc("check", "dirops/rename-up-vs-rmdir", *args, "--json").output)
    assert data["unreached_changes"] == ["inode_lock_nested(p1->d_inode, I_MUTEX_PARENT2) (moved)"]
    plain = vfsmc("check", "dirops/rename-up-vs-rmdir", "--no-save", "--json")
    assert json.loads(plain.output)["unreached_changes"] == []


def test_a_note_of_many_unreached_changes_names_a_few_and_counts_the_rest(
    vfsmc: Run,
) -> None:
    """fault-under-vma-lock changes dozens of steps of the faults, none of
    which mmap/load-vs-munmap's cached page reaches (the fault-around maps
    it): the note names three, counts the others, and --json lists all."""
    args = ("mmap/load-vs-munmap", "-V", "fault-under-vma-lock", "--no-save")
    every = json.loads(vfsmc("check", *args, "--json").output)["unreached_changes"]
    assert len(every) > 10
    note = [line for line in vfsmc("check", *args).output.splitlines() if "no explored" in line]
    assert len(note) == 1
    assert f"any of the {len(every)} steps the variants change (" in note[0]
    assert "; ".join(every[:3]) in note[0]
    assert f"and {len(every) - 3} more, which --json lists" in note[0]
    assert every[3] not in note[0]


def test_an_ok_that_never_reaches_a_removed_step_s_place_says_so(vfsmc: Run) -> None:
    """expire-lock-under-flc_lock moves the release of flc_lock into the
    courtesy-client branch (a step removed in one place, added in another):
    lockd-notify and posix-abba never take the branch nor come where the
    release was removed, so their OK says nothing of the change;
    courtesy-lock comes there and deadlocks."""
    args = ("-V", "expire-lock-under-flc_lock", "--no-save", "--json")
    data = json.loads(vfsmc("check", "filelock/lockd-notify", *args).output)
    assert data["verdict"] == "OK"
    assert data["unreached_changes"] == ["spin_unlock(&ctx->flc_lock) (moved)"]
    assert json.loads(vfsmc("check", "filelock/posix-abba", *args).output)["unreached_changes"]
    reached = json.loads(vfsmc("check", "filelock/courtesy-lock", *args).output)
    assert reached["verdict"] == "VIOLATED" and reached["unreached_changes"] == []


def _one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("vfsmc: error:") and fragment in lines[0]


def test_an_empty_out_directory_is_refused(vfsmc: Run) -> None:
    result = vfsmc("check", "dirops/opposite-renames", "--out", "")
    assert result.exit_code == 2
    assert "an empty path names no directory (give . for this one)" in result.output


@pytest.mark.parametrize("command", ["check", "mutate"])
def test_an_out_directory_that_is_something_else_is_refused_up_front(
    vfsmc: Run, command: str
) -> None:
    """A FIFO, a file above the path, /dev/null: one line, exit 2, before
    any search (mutate warned for each file it could not save)."""
    os.mkfifo("fifo")
    Path("afile").write_text("x")
    for out, blocking in (("fifo", "fifo"), ("afile/sub", "afile"), ("/dev/null", "/dev/null")):
        result = vfsmc(command, "dirops/opposite-renames", "-V", "no-rename-mutex", "--out", out)
        _one_line_error(result, f"{out}: {blocking} is not a directory")


@pytest.mark.parametrize("command", ["check", "mutate"])
def test_an_out_directory_in_a_missing_directory_is_refused(vfsmc: Run, command: str) -> None:
    """A mistyped ``--out`` (``cx/a/b``) is one line, exit 2, before any
    search, and makes no directory."""
    result = vfsmc(command, "dirops/opposite-renames", "--out", "cx/a/b")
    _one_line_error(result, "cx/a/b: there is no directory ")
    assert not Path("cx").exists()


def test_a_name_unknown_once_model_files_are_loaded_says_they_lack_it(vfsmc: Run) -> None:
    """With --models given, an unknown name's hint says the files loaded do
    not declare it, rather than asking for the --models already given."""
    Path("mine.py").write_text("from mc.dsl import scenario\n")
    for args, fragment in (
        (("check", "dirops/opposite-renames", "-V", "nope"), "unknown variant 'nope'"),
        (("check", "myfs/x"), "unknown scenario 'myfs/x'"),
        (("explain", "nope"), "no property or variant is called 'nope'"),
    ):
        loaded = vfsmc(*args, "--models", "mine.py")
        _one_line_error(loaded, fragment)
        assert "the model files loaded (mine.py) declare none such" in loaded.output
        assert "needs --models" not in loaded.output
        assert "needs --models FILE" in vfsmc(*args).output


def test_a_missing_out_directory_is_made(vfsmc: Run) -> None:
    made = vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex", "--out", "cx")
    assert made.exit_code == 1, made.output
    assert any(Path("cx").glob("*.json")), made.output


def test_unknown_scenario_and_variant_are_one_line_errors(vfsmc: Run) -> None:
    _one_line_error(vfsmc("check", "dirops/nope"), "unknown scenario 'dirops/nope'")
    _one_line_error(
        vfsmc("check", "dirops/opposite-renames", "-V", "nope"), "unknown variant 'nope'"
    )
    _one_line_error(
        vfsmc("check", "dirops/opposite-renames", "-p", "nope"), "unknown property 'nope'"
    )


def test_an_unknown_name_offers_the_nearest_and_says_where_the_rest_are(vfsmc: Run) -> None:
    _one_line_error(
        vfsmc("check", "dirops/opposite-renamse"),
        "unknown scenario 'dirops/opposite-renamse' (did you mean dirops/opposite-renames? ",
    )
    _one_line_error(
        vfsmc("show", "dirops/nope"),
        "unknown scenario 'dirops/nope' (dirops/ has ",
    )
    _one_line_error(
        vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutx"),
        "(did you mean no-rename-mutex? vfsmc list names all",
    )
    _one_line_error(
        vfsmc("explain", "dir-nlink"),
        "no property or variant is called 'dir-nlink' (vfsmc list names the ",
    )
    line = vfsmc("explain", "dir-nlink").output
    assert "one a model file declares needs --models FILE)" in line
    _one_line_error(
        vfsmc("check", "myfs/punch-vs-mkwrite"),
        "unknown scenario 'myfs/punch-vs-mkwrite' (none is in myfs/; one a model file declares "
        "needs --models FILE or FILE.py:myfs/punch-vs-mkwrite",
    )
    _one_line_error(
        vfsmc("show", "truncate/"),
        "unknown scenario 'truncate/' (truncate/ is an area of 6: truncate/punch-vs-fault, ",
    )
    _one_line_error(
        vfsmc("check", "dirops/opposite-renames", "-p", "deadlock, livelock"),
        "unknown property 'deadlock, livelock': a list is no name; repeat the option, once for "
        "each of deadlock, livelock",
    )


def test_malformed_counterexamples_are_one_line_errors(vfsmc: Run, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    _one_line_error(vfsmc("replay", "bad.json"), "not JSON")
    (tmp_path / "wrong.json").write_text(
        json.dumps({"format": "vfsmc-counterexample", "version": 1})
    )
    _one_line_error(vfsmc("replay", "wrong.json"), "missing field 'scenario'")
    _one_line_error(vfsmc("replay", "missing.json"), "cannot read missing.json")
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    _one_line_error(vfsmc("graph", path, "-o", "chart.gif"), "unsupported graph format")
    Path("elsewhere").mkdir()
    moved = Path("elsewhere/moved.json")
    moved.write_text(Path(path).read_text().replace('"no-rename-mutex"', '"no-such-variant"'))
    _one_line_error(vfsmc("graph", str(moved), "-o", "chart.jpg"), "unsupported graph format")
    _one_line_error(vfsmc("report", path, "-o", "chart.png"), "a report is one HTML page")
    assert not Path("chart.png").exists()
    _one_line_error(vfsmc("graph", path, "-o", ".svg"), ".svg: the name's suffix gives the chart's")
    _one_line_error(
        vfsmc("graph", path, "-o", "elsewhere/chart"), "elsewhere/chart: the name's suffix gives"
    )
    for command in ("graph", "report"):
        _one_line_error(vfsmc(command, path, "-o", ""), "an empty path names no file to write")
    doubled = Path("doubled.json")
    doubled.write_text(
        Path(path)
        .read_text()
        .replace('"no-rename-mutex"', '"no-rename-mutex", "no-rename-mutex"', 1)
    )
    _one_line_error(vfsmc("replay", str(doubled)), "field 'variants' names 'no-rename-mutex' twice")


def test_an_ok_run_notes_the_counterexample_an_earlier_run_saved(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A counterexample saved under the name an OK run would save one under
    came from an earlier run (before a fix): the run says so, and leaves
    it where it is."""
    assert vfsmc("check", "dirops/rename-rmdir-link", "-V", "child-first").exit_code == 1
    saved = tmp_path / "counterexamples/dirops-rename-rmdir-link--child-first.json"
    earlier = tmp_path / "counterexamples/dirops-rename-rmdir-link.json"
    earlier.write_bytes(saved.read_bytes())
    result = vfsmc("check", "dirops/rename-rmdir-link")
    assert result.exit_code == 0
    assert (
        "note: counterexamples/dirops-rename-rmdir-link.json is from an earlier run that found "
        "a violation this one does not"
    ) in result.output
    assert "(vfsmc replay tells whether it still reproduces" in result.output
    assert earlier.is_file()
    drawn = earlier.with_suffix(".svg")
    drawn.write_bytes(saved.with_suffix(".svg").read_bytes())
    charted = vfsmc("check", "dirops/rename-rmdir-link")
    assert (
        "a violation this one does not, as dirops-rename-rmdir-link.svg beside it are (vfsmc "
        "replay tells whether it still reproduces; remove them once it is fixed)"
    ) in " ".join(charted.output.split())
    drawn.unlink()
    assert "earlier run" not in vfsmc("check", "dirops/rename-rmdir-link", "--no-save").output
    more = json.loads(saved.read_text())
    more["threads"].append({"name": "T4", "operation": "io_completion()"})
    earlier.write_text(json.dumps(more))
    result = vfsmc("check", "dirops/rename-rmdir-link")
    assert result.exit_code == 0
    assert (
        "a violation this one does not, of another form of the scenario (it records 4 threads, "
        "but dirops/rename-rmdir-link has 3): it cannot replay here"
    ) in result.output
    earlier.write_text("{")
    assert "(it cannot be read (" in vfsmc("check", "dirops/rename-rmdir-link").output


def test_explain_of_a_scenario_points_to_show(vfsmc: Run) -> None:
    result = vfsmc("explain", "dirops/exchange")
    assert result.exit_code == 2
    assert "vfsmc show dirops/exchange describes it" in result.output


def test_explain_of_a_name_it_does_not_know_suggests_properties_and_variants(
    vfsmc: Run,
) -> None:
    _one_line_error(
        vfsmc("explain", "no-rename"),
        "no property or variant is called 'no-rename' (did you mean no-rename-mutex?",
    )
    mutant = "mutant:drop@rename:lock_rename:mutex_lock(&p1->d_sb->s_vfs_rename_mutex)"
    assert vfsmc("explain", mutant).output.startswith(f"{mutant} (variant)\n")
    _one_line_error(
        vfsmc("explain", "nosuch-x"),
        "no property or variant is called 'nosuch-x' (vfsmc list names the ",
    )
    _one_line_error(
        vfsmc("explain", "deadlok"), "variant is called 'deadlok' (did you mean deadlock"
    )


def test_explain_of_a_variant_says_what_it_is_and_what_is_expected_of_it(vfsmc: Run) -> None:
    """Its description, where it is declared, the rules it waives and the
    verdicts the expectations give under it, as text and JSON."""
    result = vfsmc("explain", "no-rename-mutex")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "no-rename-mutex (variant)\n  cross-directory rename without s_vfs_rename_sem\n"
        "  declared at models/dirops_scenarios.py:"
    )
    assert "    dirops/opposite-renames: deadlock\n" in result.output
    waived = json.loads(vfsmc("explain", "setxattr-unlocked", "--json").stdout)
    assert waived["variant"] == "setxattr-unlocked"
    assert waived["waives"] == ["xattr_handler.set i_rwsem(inode)"]
    assert {"scenario": "xattr/two-sets", "with": [], "verdict": "xattr-lost"} in (
        waived["expected"]
    )
    suite = Path("suite")
    suite.mkdir()
    (suite / "mine.py").write_text(
        "from mc.dsl import scenario\nfrom mc.models.dirops import rename\n\n"
        "scenario('my/renames', 'x', tree=['/a/', '/a/x', '/b/', '/b/z'], "
        "threads=[rename('/a/x', '/b/y'), rename('/b/z', '/a/w')])\n"
    )
    (suite / "expectations.toml").write_text(
        '[[expect]]\nscenario = "my/renames"\nvariants = ["no-rename-mutex"]\n'
        'verdict = "VIOLATED"\nproperty = "deadlock"\n'
    )
    own = vfsmc("explain", "no-rename-mutex", "--models", "suite").output
    assert "    my/renames: deadlock\n" in own, own
    protocol = json.loads(vfsmc("explain", "ext4-set-takes-xattr-sem", "--json").stdout)
    assert {"scenario": "xattr/two-sets", "with": ["setxattr-unlocked"], "verdict": "OK"} in (
        protocol["expected"]
    )


def test_show_lists_only_the_variants_named(vfsmc: Run) -> None:
    every = vfsmc("show", "dirops/rename-rmdir-link").output
    assert "  child-first:" in every and "  rmdir-no-victim-lock:" in every
    one = vfsmc("show", "dirops/rename-rmdir-link", "-V", "child-first").output
    assert "  child-first:" in one and "  rmdir-no-victim-lock:" not in one
    none = vfsmc("show", "dirops/rename-rmdir-link", "-V", "no-wait-writeback").output
    assert "variants: no-wait-writeback changes no step of this scenario" in none


def test_a_failed_save_leaves_no_partial_file(vfsmc: Run, tmp_path: Path) -> None:
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = tmp_path / "counterexamples/dirops-opposite-renames--no-rename-mutex.json"
    before = path.read_bytes()
    result = vfsmc("graph", str(path), "-o", str(path.with_suffix(".gif")))
    assert result.exit_code == 2
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []


def test_python_dash_m_and_the_console_script(tmp_path: Path) -> None:
    for command in ([sys.executable, "-m", "mc"], [str(Path(sys.executable).parent / "vfsmc")]):
        done = subprocess.run(
            [*command, "check", "dirops/opposite-renames", "--json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["verdict"] == "OK"
    usage = subprocess.run(
        [sys.executable, "-m", "mc", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert usage.returncode == 2


def test_a_witness_that_is_not_of_its_scenario_is_a_one_line_error(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A witness is the values of the scenario's symbolic arguments: one
    that names another, leaves one out or is outside its range does not
    fit the scenario (exit 2), unlike a witness the path no longer takes
    (does not reproduce, exit 0)."""
    shipped = ROOT / "counterexamples" / "truncate-punch-vs-fault--pre-invalidate-lock.json"
    data = json.loads(shipped.read_text())
    assert data["witness"] == {"offset": 0, "pos": 0}
    for witness, fragment in (
        ({"pos": 0}, "its witness gives offset no value"),
        ({}, "its witness gives offset no value"),
        ({"offset": 99999, "pos": 0}, "its witness offset=99999 is outside 0..4096"),
        ({"offset": 0, "pos": 0, "size": 1}, "its witness names size, not a symbolic argument"),
    ):
        (tmp_path / "edited.json").write_text(json.dumps({**data, "witness": witness}))
        _one_line_error(vfsmc("replay", "edited.json"), fragment)
    assert vfsmc("replay", str(shipped)).exit_code == 1


def test_two_variants_changing_one_step_get_a_note(vfsmc: Callable[..., Result]) -> None:
    """-V unlink-skips-deleg-break -V deleg-wait-under-i_rwsem both rewrite
    the unlink's delegation break: a note says so; two variants that change
    different steps get none."""
    both = vfsmc(
        "check",
        "filelock/unlink-vs-delegation",
        "-V",
        "unlink-skips-deleg-break",
        "-V",
        "deleg-wait-under-i_rwsem",
        "--no-save",
    )
    notes = [line for line in both.output.splitlines() if line.startswith("vfsmc: note:")]
    assert len(notes) == 1, both.output
    assert "unlink-skips-deleg-break and deleg-wait-under-i_rwsem both change T2's step" in notes[0]
    assert "break_deleg()" in notes[0] and "check each alone too" in notes[0]
    assert both.exit_code == 2  # the second removes nothing the first has not: not "nothing"
    assert both.output.splitlines()[-1] == (
        "vfsmc: error: variant unlink-skips-deleg-break changes nothing in "
        "filelock/unlink-vs-delegation beyond what deleg-wait-under-i_rwsem changes with it: "
        "they change the same steps; check each alone"
    )
    apart = vfsmc(
        "check",
        "dirops/rename-up-vs-rmdir",
        "-V",
        "child-first",
        "-V",
        "fixed-addresses",
        "--no-save",
    )
    assert "vfsmc: note:" not in apart.output, apart.output


TWICE = """\
from mc.dsl import EXCL, Invocation, Op, Program, operation, scenario, variant


@operation(models="a cache invalidated before and after the I/O")
def twice(op: Op, path: str) -> None:
    inode = op.inode(path)
    for when in ("pre", "post"):
        op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)", tag=when)
        op.unlock(inode.i_rwsem, "inode_unlock(inode)", tag=when)
        op.effect("submit_bio(bio)", lambda scratch: None)


@variant("first-gone", "the first lock and unlock dropped")
def first_gone(program: Program, invocation: Invocation) -> Program:
    return program.drop(lambda step: "pre" in step.tags)


@variant("second-gone", "the second lock and unlock dropped")
def second_gone(program: Program, invocation: Invocation) -> Program:
    return program.drop(lambda step: "post" in step.tags)


scenario("g/twice", "a body run twice", tree=["/f"], threads=[twice("/f"), twice("/f")])
"""


def test_two_variants_changing_two_like_steps_each_get_no_note(
    vfsmc: Callable[..., Result],
) -> None:
    """A body run twice has two steps of one label and line; a variant
    dropping the first and one dropping the second change different steps:
    no note says they both change one."""
    Path("twice.py").write_text(TWICE)
    both = vfsmc("check", "twice.py:g/twice", "-V", "first-gone", "-V", "second-gone", "--no-save")
    assert both.exit_code == 0, both.output
    assert "vfsmc: note:" not in both.output, both.output


CHATTY = """\
from mc.dsl import operation, scenario

print("loading the chatty model")


def note(scratch, slot):
    print("the step runs")
    scratch[slot] = 1


@operation(models="a step that prints")
def chatty(op):
    op.effect("note()", note, op.world.shared_slot("noted", 0))


scenario("chatty/one", "one thread that prints", tree=["/a/"], threads=[chatty()],
         properties=["deadlock"])
"""


def test_what_a_model_prints_stays_out_of_the_json(vfsmc: Run, tmp_path: Path) -> None:
    """With --json, standard output holds the JSON alone: a model file's
    own print() goes to stderr."""
    (tmp_path / "chatty.py").write_text(CHATTY)
    checked = vfsmc("check", "chatty.py:chatty/one", "--no-save", "--json")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["verdict"] == "OK"
    assert "loading the chatty model" in checked.stderr
    assert "the step runs" in checked.stderr
    listed = vfsmc("list", "--models", "chatty.py", "--json")
    assert listed.exit_code == 0, listed.output
    json.loads(listed.stdout)


def test_an_ok_whose_property_read_one_configuration_says_so(vfsmc: Run, tmp_path: Path) -> None:
    """Operations that take locks over a file's page cache and write
    nothing: no-lost-write passes having seen one page cache, device and
    no fsync, which the note says, with one process or two; a scenario
    that writes and fsyncs changes what it reads."""
    (tmp_path / "locks_only.py").write_text(
        "from mc.dsl import EXCL, SHARED, File, Op, operation, scenario\n\n"
        "@operation(models='x')\n"
        "def locker(op: Op, file: File) -> None:\n"
        "    lock = op.mapping(file).invalidate_lock\n"
        "    op.lock(lock, SHARED, 'filemap_invalidate_lock_shared(mapping)')\n"
        "    op.unlock(lock, 'filemap_invalidate_unlock_shared(mapping)')\n\n"
        "F = File('/f', pages=1, cached=(0,))\n"
        "scenario('t/locks-only', 'x', tree=['/f'], threads=[locker(F), locker(F)],\n"
        "         properties=['deadlock'])\n"
    )
    for workers in ("1", "2"):
        args = ("locks_only.py:t/locks-only", "-p", "no-lost-write", "--workers", workers)
        plain = vfsmc("check", *args, "--no-save")
        assert plain.exit_code == 0, plain.output
        assert (
            "note: what no-lost-write reads is the same in every state reached: no step of this "
            "run changed it, so its OK rests on one configuration" in plain.output
        )
        data = json.loads(vfsmc("check", *args, "--no-save", "--json").output)
        assert data["unvaried"] == ["no-lost-write"]
    written = vfsmc("check", "writeback/write-vs-fsync", "-p", "no-lost-write", "--no-save")
    assert written.exit_code == 0 and "rests on one configuration" not in written.output


def test_the_one_configuration_note_holds_under_symmetry(vfsmc: Run) -> None:
    """dcache/automount's interchangeable lookups: the quotient the
    symmetry reduction searches reads the namespace as the model does, so
    the note is the same with --symmetry as without."""
    for extra in ((), ("--symmetry",)):
        data = json.loads(vfsmc("check", "dcache/automount", *extra, "--no-save", "--json").stdout)
        assert data["verdict"] == "OK" and data["unvaried"] == ["namespace"], extra


def test_a_broken_locking_rule_says_how_to_see_what_it_leads_to(vfsmc: Run) -> None:
    """The search stops at the first broken rule of specs/; a note names the
    properties it did not get to and how to see them."""
    result = vfsmc("check", "attr/chmod-link-unlink", "-V", "setattr-unlocked", "--no-save")
    assert result.exit_code == 1
    assert (
        "note: the search stops at the first broken locking rule; to see what the change "
        "leads to (lock-protocol, deadlock, completes, livelock, ...), check with "
        "--no-property spec-conformance" in result.output
    )
    beyond = vfsmc(
        "check",
        "attr/chmod-link-unlink",
        "-V",
        "setattr-unlocked",
        "--no-save",
        "--no-property",
        "spec-conformance",
    )
    assert "the search stops at the first broken locking rule" not in beyond.output


UNLOCKED_CHMOD = """
from mc.dsl import scenario
from mc.models.attr import chmod
from mc.models.dirops import link, unlink

scenario(
    "my/unlocked-chmod",
    "chmod without the inode's i_rwsem, as this filesystem's protocol",
    tree=["/a/", "/a/x", "/b/"],
    threads=[chmod("/a/x", 0o600), link("/a/x", "/b/y"), unlink("/a/x")],
    variants=["setattr-unlocked"],
)
"""


def test_a_broken_rule_of_a_scenarios_own_protocol_says_how_to_waive_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """With no variant given, the note on a broken rule says where a waiver
    goes: a variant listed in the scenario's variants=[...]."""
    (tmp_path / "mine.py").write_text(UNLOCKED_CHMOD)
    result = vfsmc("check", "mine.py:my/unlocked-chmod", "--no-save")
    assert result.exit_code == 1, result.output
    assert (
        "check with --no-property spec-conformance or, where the protocol breaks the rule "
        "knowingly (a caller the document's table does not foresee), list a variant with "
        "waives=[the rule] in the scenario's variants=[...]" in " ".join(result.output.split())
    )


def test_an_ok_with_the_broken_rule_left_out_says_the_rule_is_still_broken(vfsmc: Run) -> None:
    """A remount under s_umount shared harms nothing the properties of
    super/freeze-vs-remount read: the OK without spec-conformance says the
    rule is broken and that the OK does not make the change safe; with
    the rule checked, or without the variant, no such note."""
    args = ("check", "super/freeze-vs-remount", "--no-save")
    shared = ("-V", "remount-s_umount-shared", "--no-property", "spec-conformance")
    result = vfsmc(*args, *shared)
    assert result.exit_code == 0, result.output
    assert (
        "note: OK without spec-conformance, which the variants break (T1 calls "
        "super_operations.remount_fs with s_umount only shared" in result.output
    )
    assert "does not make the change safe" in result.output
    data = json.loads(vfsmc(*args, *shared, "--json").stdout)
    assert data["breaks_rule"].startswith("T1 calls super_operations.remount_fs")
    correct = vfsmc(*args, "--no-property", "spec-conformance", "--json")
    assert json.loads(correct.stdout)["breaks_rule"] is None


def test_a_chart_of_a_trace_that_does_not_replay_warns_once_naming_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A trace of a scenario today's models lack is drawn as recorded,
    with one warning that names the file (not a second one, unnamed, for
    the marks the variants would have)."""
    vfsmc("check", "dirops/opposite-renames", "-V", "no-rename-mutex")
    path = Path("counterexamples/dirops-opposite-renames--no-rename-mutex.json")
    other = Path("other.json")
    other.write_text(path.read_text().replace('"dirops/opposite-renames"', '"dirops/nope"'))
    result = vfsmc("graph", str(other), "-o", "chart.svg")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "warning" in line]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("vfsmc: warning: other.json: this trace does not replay")


def test_a_time_limit_longer_than_vfsmc_times_is_refused(vfsmc: Run) -> None:
    """Past 1,000,000 s the waits for workers overflow: one line, exit 2."""
    result = vfsmc("check", "dirops/opposite-renames", "--time-limit", "1e10", "--workers", "2")
    assert result.exit_code == 2
    assert result.output.strip().startswith(
        "vfsmc: error: Invalid value for '--time-limit': '1e10' seconds is longer than vfsmc "
        "times (at most 1,000,000, about eleven days)"
    )
    assert len(result.output.strip().splitlines()) == 1


def test_ctrl_c_in_the_search_for_a_shorter_trace_keeps_the_violation(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The violation the reduced search found is reported and saved when a
    Ctrl-C ends the search without reduction for a shorter trace."""
    from mc.engine import explore

    search = explore.breadth_first

    def interrupted_unreduced(running: explore.Search) -> None:  # type: ignore[type-arg]
        if not running.options.reduce:
            raise Interrupt
        search(running)

    monkeypatch.setattr(explore, "breadth_first", interrupted_unreduced)
    result = vfsmc("check", "dirops/rename-rmdir-link", "-V", "rmdir-no-victim-lock", "--no-save")
    assert result.exit_code == 1, result.output
    assert "trace: the reduced search's 12 transitions; a search without reduction" in (
        result.output
    )


def test_a_status_line_never_wraps_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress line is cut to the terminal's width less a column, so
    the carriage return overwrites all of it."""
    from mc.text import status_line

    monkeypatch.setenv("COLUMNS", "20")
    line = status_line("1,234,567 states, 8,901,234 transitions, depth 77")
    assert line == "\r1,234,567 states, 8"
    monkeypatch.setenv("COLUMNS", "200")
    assert status_line("short") == "\r" + "short".ljust(199)


@pytest.mark.parametrize(
    ("raised", "why"),
    [
        (KeyboardInterrupt(), "interrupted"),
        (ModelError("the transform failed"), "the transform failed"),
    ],
)
def test_a_look_after_an_ok_that_fails_keeps_the_ok(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch, raised: BaseException, why: str
) -> None:
    """Ctrl-C or a model error in the searches an OK under variants runs
    afterwards (the lock order, the broken rule) costs the note, not the
    verdict."""

    def fail(*_args: object) -> None:
        raise raised

    monkeypatch.setattr(lockorder, "against_documented", fail)
    monkeypatch.setattr(cli_main, "rule_broken", fail)
    args = ("check", "super/freeze-vs-remount", "-V", "remount-s_umount-shared", "--no-save")
    result = vfsmc(*args, "--no-property", "spec-conformance")
    assert result.exit_code == 0, result.output
    assert "super/freeze-vs-remount with remount-s_umount-shared: OK" in result.output
    assert (
        f"note: no look for lock-class edges against the documented order: {why}\n" in result.output
    )
    assert f"note: no look for the locking rule the variants break: {why}\n" in result.output
    data = json.loads(vfsmc(*args, "--no-property", "spec-conformance", "--json").stdout)
    assert data["verdict"] == "OK" and len(data["looks_skipped"]) == 2


def test_a_look_after_an_ok_gets_what_is_left_of_the_time_limit() -> None:
    """The looks share --time-limit with the search: none is left, none runs."""
    looked: list[str] = []
    found, why = cli_main._afterwards("look for x", lambda: looked.append("ran"), 0.0)
    assert (found, why, looked) == (None, "no look for x: the search used up --time-limit", [])
    found, why = cli_main._afterwards("look for x", lambda: "found", 5.0)
    assert (found, why) == ("found", "")


def test_the_broken_rule_note_is_not_given_when_the_protocol_breaks_it_alone(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A scenario whose own protocol (variants=[...]) breaks a rule: the
    note would blame the -V change for it."""
    (tmp_path / "proto.py").write_text(
        "from mc.dsl import Op, inserts, scenario\n"
        "from mc.models.attr import chmod\n"
        "from mc.models.dirops import link\n\n"
        "def note(op: Op, *_args) -> None:\n"
        "    op.effect('trace_link()', lambda scratch: None)\n\n"
        "inserts(link, 'link-traced', 'x', before={'dentry = lookup_one_qstr_excl(\"y\")': note})\n"
        "scenario('my/proto', 'x', tree=['/a/', '/a/x'], threads=[chmod('/a/x', 0o600), "
        "link('/a/x', '/a/y')], variants=['setattr-unlocked'])\n"
    )
    args = ("check", "proto.py:my/proto", "-V", "link-traced", "--no-save", "--json")
    result = vfsmc(*args, "--no-property", "spec-conformance")
    data = json.loads(result.stdout)
    assert data["verdict"] == "OK" and data["breaks_rule"] is None, result.output


def test_replay_on_other_variants_than_those_recorded(vfsmc: Run) -> None:
    """--on replays a trace on the protocol under the variants it names (a
    change's own correct locking without its bug), not the recorded ones:
    the same ones reproduce, others do not, and where the trace fails but
    a check under them still finds the bug, that is no fix; with --correct
    it is usage."""
    assert vfsmc("check", "dirops/rename-rmdir-link", "-V", "child-first").exit_code == 1
    saved = "counterexamples/dirops-rename-rmdir-link--child-first.json"
    same = vfsmc("replay", saved, "--on", "child-first")
    assert same.exit_code == 1 and "reproduces on variants child-first" in same.output
    other = vfsmc("replay", saved, "--on", "rmdir-no-victim-lock")
    assert other.exit_code == 0, other.output
    assert "does not reproduce on variants rmdir-no-victim-lock" in other.output
    both = vfsmc("replay", saved, "--on", "child-first", "--correct")
    assert both.exit_code == 2 and "give one" in both.output
    elsewhere = vfsmc("replay", saved, "--on", "setxattr-unlocked")
    assert elsewhere.exit_code == 2
    assert (
        "variant setxattr-unlocked changes nothing in dirops/rename-rmdir-link: replay --on "
        "takes the variants that change the scenario"
    ) in elsewhere.output
    Path("noop.py").write_text(
        "from mc.dsl import inserts\n"
        "from mc.models.dirops import rename\n"
        'inserts(rename, "rename-noop", "a step that changes nothing", after={\n'
        '    "mutex_lock(&p1->d_sb->s_vfs_rename_mutex)":\n'
        '        lambda op, *args: op.effect("myfs: nothing", lambda scratch: None)})\n'
    )
    apart = vfsmc(
        "replay", saved, "--models", "noop.py", "--on", "child-first", "--on", "rename-noop"
    )
    assert apart.exit_code == 1, apart.output
    assert "these variants take the trace's steps apart, not the bug; not a fix" in apart.output
