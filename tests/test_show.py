"""Knowing what exists: show, list's applicable variants, ops, explain,
properties a scenario cannot check, spec show by method name, completion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from mc.check import checkable, inventory, usermodels
from mc.check.registry import shipped as shipped_registry
from mc.check.registry import with_files
from mc.dsl.scenario import Registry, Scenario
from mc.kernel.pagecache import File
from mc.models.dirops import RENAME_EXCHANGE
from mc.models.file import SEEK_CUR, OpenFile

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent


def test_show_names_threads_properties_and_what_variants_change(vfsmc: Run) -> None:
    result = vfsmc("show", "dirops/rename-rmdir-link")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "tree: /a/ /a/b/ /c/ /c/d/ /c/e" in out
    assert "T2  rmdir(/a/b)" in out and "follows do_rmdir() -> vfs_rmdir()" in out
    assert "properties (default): lock-protocol, spec-conformance, deadlock" in out
    rmdir_part = out.split("rmdir-no-victim-lock:")[1]
    assert "T2 removed  inode_lock(dentry->d_inode) [exclusive]  (models/dirops.py:" in rmdir_part
    assert "no-rename-mutex:" in out and "setattr-unlocked" not in out


def test_show_json_lists_the_changes_per_variant(vfsmc: Run) -> None:
    data = json.loads(vfsmc("show", "dirops/opposite-renames", "--json").output)
    assert [t["operation"].split("(")[0] for t in data["threads"]] == ["rename", "rename"]
    removed = data["variants"]["no-rename-mutex"]
    assert {c["kind"] for c in removed} == {"removed"}
    assert any("s_vfs_rename_mutex" in c["label"] for c in removed)
    assert "no-lost-write" not in data["available_properties"]


def test_show_lists_what_a_mutant_named_on_the_command_line_changes(vfsmc: Run) -> None:
    """A ``mutant:`` variant is made from its name: show lists the step it
    removes, as for a declared variant, and the releases it makes
    releases-if-held."""
    mutant = "mutant:drop@open_for_write:break_lease:__break_lease(): spin_lock(&ctx->flc_lock)"
    text = vfsmc("show", "filelock/lease-vs-open", "-V", mutant)
    assert text.exit_code == 0, text.output
    assert "changes no step" not in text.output
    assert "T2 removed  __break_lease(): spin_lock(&ctx->flc_lock) [exclusive]" in text.output
    report = json.loads(vfsmc("show", "filelock/lease-vs-open", "-V", mutant, "--json").output)
    assert [change["kind"] for change in report["variants"][mutant]] == [
        "removed",
        "changed",
        "changed",
    ]
    assert "spin_unlock(&ctx->flc_lock)  (models/filelock.py" in text.output
    assert "[only if held: False -> True]" in text.output


def test_show_names_the_slots_reads_can_name(vfsmc: Run) -> None:
    """By family in the text, one by one in the JSON; the threads' own
    slots and the error slot are not among them."""
    text = vfsmc("show", "dirops/opposite-renames").output
    assert "slots (what reads= names): s_vfs_rename_sem, s_umount," in text
    assert "S_DEAD(/, /a, /b)" in text
    bdev = vfsmc("show", "bdev/set-blocksize-vs-read").output
    assert "i_rwsem(/, bdev)" in bdev and "folio(bdev:0) order" in " ".join(bdev.split())
    data = json.loads(vfsmc("show", "dirops/opposite-renames", "--json").output)
    assert {"dentry(/a/x)", "nlink(/a/x)", "i_rwsem(/b/z)", "d_parent(/a)"} <= set(data["slots"])
    assert not [name for name in data["slots"] if name == "error" or name.startswith("T1.")]


def test_a_moved_step_is_one_change(shipped: Registry) -> None:
    """A variant that moves a step (``Program.swap``) lists it as moved,
    not as removed in one place and added in another."""
    scenario = shipped.scenario("mmap/two-files-two-mappings")
    changes = inventory.variant_changes(shipped, scenario, "copy-faults-under-folio-lock")
    moved = [c for c in changes if c.kind == "moved"]
    assert moved and all(c.was is not None and c.was.label == c.step.label for c in moved)
    removed = {(c.thread, c.step.label) for c in changes if c.kind == "removed"}
    added = {(c.thread, c.step.label) for c in changes if c.kind == "added"}
    assert not removed & added


SWAP = """\
from mc.dsl import EXCL, File, Invocation, LockKind, Op, Program, operation, scenario, variant

@operation(models="x")
def both(op: Op, file: File) -> None:
    a = op.world.shared_lock("a", LockKind.MUTEX)
    op.lock(a, EXCL, "lock a")
    op.compute("x", "x = 1", lambda _scratch: 1)
    op.unlock(a, "unlock a")
    op.compute("y", "y = 2", lambda _scratch: 2)

@variant("swapped", "unlock a before x = 1")
def swapped(program: Program, invocation: Invocation) -> Program:
    return program.swap("x = 1", "unlock a")

scenario("t/swap", "x", tree=["/f"], threads=[both(File("/f", pages=1))], properties=["deadlock"])
"""


def test_both_steps_of_a_swap_of_neighbours_are_moved(vfsmc: Run, tmp_path: Path) -> None:
    """``Program.swap`` of two neighbours moves both: show lists each, and
    a chart marks each (``changed_positions``)."""
    (tmp_path / "swap.py").write_text(SWAP)
    shown = vfsmc("show", "swap.py:t/swap", "--json")
    assert shown.exit_code == 0, shown.output
    changes = json.loads(shown.output)["variants"]["swapped"]
    assert sorted((c["kind"], c["label"]) for c in changes) == [
        ("moved", "unlock a"),
        ("moved", "x = 1"),
    ]
    text = vfsmc("show", "swap.py:t/swap").output.split("swapped:")[1]
    assert "now right before  x = 1  (which it used to follow)\n" in text, text
    registry = with_files([tmp_path / "swap.py"])
    scenario = registry.scenario("t/swap")
    changed = checkable.built(registry, scenario, ["swapped"])
    marked = inventory.changed_positions(checkable.built(registry, scenario), changed)
    assert marked is not None
    labels = [step.label for step in changed.threads[0].program.steps]
    assert sorted(labels[pc] for _tid, pc in marked) == ["unlock a", "x = 1"]


def test_a_flag_variant_taking_a_lock_on_another_line_moves_it(vfsmc: Run, tmp_path: Path) -> None:
    """An operation whose flag variant takes the same two locks in the
    other order, each on a line of its own, moved a step: show says so,
    says nothing was removed, and says which of the two is now first."""
    (tmp_path / "order.py").write_text(
        "from mc.dsl import EXCL, File, LockKind, Op, flag_variant, operation, scenario\n\n"
        "flag_variant('b-first', 'takes b before a')\n\n"
        "@operation(models='x')\n"
        "def both(op: Op, file: File) -> None:\n"
        "    a = op.world.shared_lock('a', LockKind.MUTEX)\n"
        "    b = op.world.shared_lock('b', LockKind.MUTEX)\n"
        "    if op.variant('b-first'):\n"
        "        op.lock(b, EXCL, 'lock b')\n"
        "        op.lock(a, EXCL, 'lock a')\n"
        "    else:\n"
        "        op.lock(a, EXCL, 'lock a')\n"
        "        op.lock(b, EXCL, 'lock b')\n"
        "    op.unlock(b, 'unlock b')\n"
        "    op.unlock(a, 'unlock a')\n\n"
        "F = File('/f', pages=1)\n"
        "scenario('t/order', 'x', tree=['/f'], threads=[both(F), both(F)],\n"
        "         properties=['deadlock'])\n"
    )
    shown = vfsmc("show", "order.py:t/order", "--json")
    assert shown.exit_code == 0, shown.output
    changes = json.loads(shown.output)["variants"]["b-first"]
    assert {change["kind"] for change in changes} == {"moved"}, changes
    first = {c["label"]: c.get("right_before") for c in changes if c["thread"] == "T1"}
    assert first == {"lock b": "lock a", "lock a": None}
    part = vfsmc("show", "order.py:t/order").output.split("b-first:")[1]
    assert (
        "moved    lock b [exclusive]  (order.py:10)\n                 now right before  lock a  "
        "(which it used to follow), and before  unlock b\n" in part
    ), part
    kept = "moved    lock a [exclusive]  (order.py:11)\n                 now before  unlock b\n"
    assert kept in part


def test_steps_moved_together_are_now_before_the_anchor_given_by_label(
    vfsmc: Run, tmp_path: Path
) -> None:
    """``move_before`` takes labels as well as steps; show says each of two
    steps moved together now comes before the anchor, not before the other."""
    (tmp_path / "move.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n"
        "from mc.models.dirops import rename\n\n"
        "@variant('lock-parents-early', 'x')\n"
        "def early(program: Program, invocation: Invocation) -> Program:\n"
        "    if invocation.operation is not rename:\n"
        "        return program\n"
        "    steps = program.steps\n"
        "    return program.move_before(steps[3:5], steps[1].label)\n"
    )
    (tmp_path / "wrong.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n\n"
        "@variant('lock-nothing', 'x')\n"
        "def nothing(program: Program, invocation: Invocation) -> Program:\n"
        "    return program.move_before('no such label', program.steps[0])\n"
    )
    shown = vfsmc("show", "dirops/opposite-renames", "--models", "move.py")
    assert shown.exit_code == 0, shown.output
    part = shown.output.split("lock-parents-early:")[1].split("no-rename-mutex")[0]
    assert part.count("moved") == 4
    assert part.count("now before  p = p1; while") == 4, part
    wrong = vfsmc("check", "dirops/opposite-renames", "--models", "wrong.py", "-V", "lock-nothing")
    assert wrong.exit_code == 2
    assert "no step is labelled 'no such label'" in wrong.output
    listed = vfsmc("show", "dirops/opposite-renames", "--models", "wrong.py")
    assert listed.exit_code == 0, listed.output
    assert "variant lock-nothing fails on this scenario: wrong.py:5: in nothing: ValueError" in (
        listed.output
    )


def test_a_variant_that_changes_nothing_is_not_listed(shipped: Registry) -> None:
    scenario = shipped.scenario("writeback/write-vs-fsync")
    assert inventory.variant_changes(shipped, scenario, "no-rename-mutex") == []
    assert "no-wait-writeback" in inventory.applicable_variants(shipped, scenario)


def test_list_says_which_variants_apply(vfsmc: Run) -> None:
    listing = json.loads(vfsmc("list", "--json").output)
    applies = listing["applicable_variants"]
    assert "no-rename-mutex" in applies["dirops/opposite-renames"]
    assert "no-wait-writeback" not in applies["dirops/opposite-renames"]
    assert applies["attr/chmod-link-unlink"].count("setattr-unlocked") == 1
    text = vfsmc("list").output
    assert (
        "variants: d-move-without-rename-lock, fixed-addresses, no-rename-mutex, no-trap-check, "
        "parents-by-address"
    ) in text


def test_list_names_every_variant_check_accepts(vfsmc: Run) -> None:
    """A flag an operation asks about that changes only what a step
    computes (an argument, the function it calls, whether it sleeps) is
    listed, as check accepts it: what list leaves out changes nothing."""
    applies = json.loads(vfsmc("list", "--json").output)["applicable_variants"]
    assert "deadlock-check-any-waiter" in applies["filelock/posix-chain"]
    assert "lm_break-sleeps" in applies["filelock/lease-vs-open"]
    assert "d-manage-blocks-in-rcu" in applies["dcache/automount"]
    assert "ci-compare-exact" in applies["dcache/ci-lookup"]
    shown = vfsmc("show", "dcache/automount").output
    assert "[function: autofs_d_manage_rcu -> autofs_d_manage; sleeps: False -> True]" in shown
    assert "no step's text changes" in vfsmc("show", "filelock/posix-chain").output


def test_a_replacement_body_that_builds_the_same_steps_changes_nothing(
    vfsmc: Run, tmp_path: Path
) -> None:
    (tmp_path / "same.py").write_text(
        "from mc.dsl import Op, replaces\n"
        "from mc.models.dirops import rename\n\n"
        "@replaces(rename, 'rename-as-shipped', 'the shipped body, run as is')\n"
        "def same(op: Op, old: str, new: str, flags: int = 0) -> None:\n"
        "    op.run(rename.build, old, new, flags)\n"
    )
    result = vfsmc(
        "check", "dirops/opposite-renames", "--models", "same.py", "-V", "rename-as-shipped"
    )
    assert result.exit_code == 2, result.output
    assert "variant rename-as-shipped changes nothing in dirops/opposite-renames" in result.output


def test_list_remembers_which_variants_apply_until_a_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Working out which variants change a scenario builds it once per
    variant, seconds over the shipped models; ``list`` remembers the answer
    for the sources it was worked out from."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    registry = shipped_registry()
    for name in list(registry.scenarios):
        if name not in ("dirops/opposite-renames", "attr/chmod-link-unlink"):
            del registry.scenarios[name]
    worked_out: list[str] = []
    work_out = inventory.applicable_variants

    def counted(
        reg: Registry, scenario: Scenario, failing: dict[str, str] | None = None
    ) -> dict[str, list[inventory.Change]]:
        worked_out.append(scenario.name)
        return work_out(reg, scenario, failing)

    monkeypatch.setattr(inventory, "applicable_variants", counted)
    first = inventory.applicable_variant_names(registry)
    assert "no-rename-mutex" in first["dirops/opposite-renames"]
    assert first["attr/chmod-link-unlink"] == ["child-first", "setattr-unlocked"]
    assert len(worked_out) == 2
    assert inventory.applicable_variant_names(registry) == first
    assert len(worked_out) == 2
    monkeypatch.setattr(inventory, "sources_key", lambda: "a model file changed")
    assert inventory.applicable_variant_names(registry) == first
    assert len(worked_out) == 4
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(inventory, "applicable_variants", counted)
    assert inventory.applicable_variant_names(registry) == first
    assert len(worked_out) == 4, "the answer for the first sources is still kept"


MINE_BESIDE_A_CONDITION = """

from mc.dsl import scenario
from mc.models.dirops import create

scenario("mine/one-create", "one create", tree=["/a/"], threads=[create("/a/x")])
"""


def test_after_an_edit_of_a_user_s_file_only_what_it_declares_is_worked_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a user's model file, the shipped scenarios' shipped variants are
    remembered for the shipped sources: once the file changes, its own
    scenario is worked out in full and the shipped ones are asked about
    its variant alone, and the answer is the one worked out from nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "mine.py").write_text(CONDITION_VARIANT + MINE_BESIDE_A_CONDITION)
    registry = with_files([tmp_path / "mine.py"])
    kept = ("truncate/truncate-vs-write-fault", "dirops/opposite-renames", "mine/one-create")
    for name in list(registry.scenarios):
        if name not in kept:
            del registry.scenarios[name]
    asked: list[tuple[str, tuple[str, ...]]] = []
    ask = inventory.named_variants

    def counted(
        reg: Registry, scenario: Scenario, names: Sequence[str], *args: Any, **kwargs: Any
    ) -> dict[str, list[inventory.Change]]:
        asked.append((scenario.name, tuple(names)))
        return ask(reg, scenario, names, *args, **kwargs)

    monkeypatch.setattr(inventory, "named_variants", counted)
    first = inventory.applicable_variant_names(registry)
    assert {name for name, _ in asked} == set(kept)
    assert all(len(names) > 1 for _, names in asked)
    assert "fault-never-past-eof" in first["truncate/truncate-vs-write-fault"]
    assert "fault-never-past-eof" not in first["dirops/opposite-renames"]
    asked.clear()
    monkeypatch.setattr(inventory, "sources_key", lambda: "the user's file changed")
    assert inventory.applicable_variant_names(registry) == first
    assert sorted(asked) == [
        ("dirops/opposite-renames", ("fault-never-past-eof",)),
        ("mine/one-create", tuple(sorted(registry.variants))),
        ("truncate/truncate-vs-write-fault", ("fault-never-past-eof",)),
    ]


def test_the_sources_remembered_include_a_user_s_model_file(tmp_path: Path) -> None:
    model = tmp_path / "listed_model.py"
    model.write_text("ANSWER = 1\n")
    usermodels.load(model)
    before = inventory.sources_key()
    model.write_text("ANSWER = 2\n")
    assert inventory.sources_key() != before


def test_ops_lists_signatures_kernel_functions_and_tags(vfsmc: Run) -> None:
    ops = {o["operation"]: o for o in json.loads(vfsmc("ops", "--json").output)}
    rmdir = ops["rmdir(path)"]
    assert rmdir["follows"].startswith("do_rmdir()")
    assert rmdir["tags"]["lock-victim"] == ["inode_lock(dentry->d_inode)"]
    assert "rename-mutex" in ops["rename(old, new, flags)"]["tags"]
    assert len(ops) >= 15


def test_the_readme_table_of_operations_is_current(vfsmc: Run) -> None:
    table = vfsmc("ops", "--markdown").output.strip()
    assert table in (ROOT / "README.md").read_text(), "regenerate with: vfsmc ops --markdown"


def test_explain_says_what_checks_and_what_violates(vfsmc: Run) -> None:
    result = vfsmc("explain", "no-lost-write")
    assert result.exit_code == 0
    assert "needs a block device" in result.output
    assert "writeback/write-vs-fsync with no-wait-writeback" in result.output
    assert vfsmc("explain", "nope").exit_code == 2
    found = json.loads(vfsmc("explain", "no-lost-write", "--json").output)
    assert found["needs"] == "a block device" and found["kind"] == "always"
    assert "writeback/write-vs-fsync" in found["checked_by_default_in"]
    violated = {"scenario": "writeback/write-vs-fsync", "variants": ["no-wait-writeback"]}
    assert violated in found["violated_by"]


def test_a_property_with_nothing_to_check_is_one_line_exit_2(vfsmc: Run) -> None:
    for prop, needs in (("no-lost-write", "a block device"), ("no-stale-data", "a page cache")):
        result = vfsmc("check", "dirops/opposite-renames", "-p", prop)
        assert result.exit_code == 2
        assert result.output.startswith(
            f"vfsmc: error: {prop} needs {needs}; dirops/opposite-renames has none"
        )
        assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize(
    ("scenario", "prop", "needs"),
    [
        ("filelock/posix-abba", "deleg-vs-unlink", "an nfsd delegation"),
        ("filelock/posix-abba", "ofd-exclusion", "an OFD lock (F_OFD_SETLKW)"),
        ("filelock/posix-abba", "lease-vs-open", "a lease (F_SETLEASE, or an nfsd delegation)"),
        ("filelock/lease-vs-open", "edeadlk-exact", "a blocking POSIX lock request (F_SETLKW)"),
        (
            "filelock/lease-vs-open",
            "filelock-exclusion",
            "a POSIX lock or a flock (fcntl(2) F_SETLK/F_SETLKW, flock(2))",
        ),
    ],
)
def test_a_file_lock_property_needs_what_it_checks(
    vfsmc: Run, scenario: str, prop: str, needs: str
) -> None:
    """Each file-lock property needs the kind of lock it is about, not any
    lock of the file: two F_SETLKW threads have no delegation to check."""
    result = vfsmc("check", scenario, "-p", prop, "--no-save")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"vfsmc: error: {prop} needs {needs}; {scenario} has none")


def test_no_property_leaves_one_out(vfsmc: Run) -> None:
    data = json.loads(
        vfsmc(
            "check", "dirops/opposite-renames", "--no-property", "spec-conformance", "--json"
        ).output
    )
    assert data["properties"] == ["lock-protocol", "deadlock", "completes", "livelock", "namespace"]
    assert vfsmc("check", "dirops/opposite-renames", "--no-property", "nope").exit_code == 2


def test_every_property_a_shipped_scenario_checks_can_be_named_for_it(shipped: Registry) -> None:
    """What a scenario checks by default, -p and --no-property accept: each
    property that needs a world part has it in the scenario's world."""
    refused = []
    for name, scenario in sorted(shipped.scenarios.items()):
        if any(shipped.property(prop).needs for prop in scenario.properties):
            available = checkable.available_properties(shipped, scenario)
            refused += [(name, prop) for prop in scenario.properties if prop not in available]
    assert refused == []


@pytest.mark.parametrize("scenario", ["xattr/two-sets", "xattr/remove-deleg"])
def test_xattr_lost_can_be_named_where_it_is_checked_by_default(
    vfsmc: Run, shipped: Registry, scenario: str
) -> None:
    """The setxattr and removexattr paths make the world part xattr-lost
    needs, so naming it (or leaving another out) is no refusal."""
    assert "xattr-lost" in shipped.scenario(scenario).properties
    assert "xattr-lost" in checkable.available_properties(shipped, shipped.scenario(scenario))
    only = vfsmc("check", scenario, "-p", "xattr-lost", "--json")
    assert only.exit_code == 0, only.output
    assert json.loads(only.output)["properties"] == ["xattr-lost"]
    less = vfsmc("check", scenario, "--no-property", "namespace", "--json")
    assert less.exit_code == 0, less.output
    assert "xattr-lost" in json.loads(less.output)["properties"]
    mutated = vfsmc("mutate", scenario, "--no-property", "spec-conformance")
    assert mutated.exit_code == 0, mutated.output


def test_a_user_scenario_is_told_what_it_leaves_out(vfsmc: Run, tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import rename\n"
        'scenario("my/r", "two renames", tree=["/a/", "/a/x", "/b/"],\n'
        '         threads=[rename("/a/x", "/b/y"), rename("/b/y", "/a/x")],\n'
        '         properties=["deadlock"])\n'
    )
    result = vfsmc("check", "mine.py:my/r", "--no-save")
    assert result.exit_code == 0
    assert "also make namespace checkable" in result.output
    assert "-p checks only the properties it names: name the scenario's own as well" in (
        result.output
    )
    shipped = vfsmc("check", "writeback/write-vs-fsync", "--no-save").output
    assert "checkable" not in shipped
    found = vfsmc("check", "mine.py:my/r", "--no-save", "-V", "no-rename-mutex")
    assert found.exit_code == 1, found.output
    assert "checkable" not in found.output


def test_spec_show_finds_a_method_by_name(vfsmc: Run) -> None:
    result = vfsmc("spec", "show", "rename")
    assert result.exit_code == 0
    assert result.output.startswith("(rename is inode_operations.rename)")
    assert "s_vfs_rename_sem: held if cross-directory" in result.output
    wrong = vfsmc("spec", "show", "renam")
    assert wrong.exit_code == 2 and "methods like it: inode_operations.rename" in wrong.output


def test_spec_show_never_prints_none(vfsmc: Run) -> None:
    tables = json.loads(vfsmc("spec", "show", "--json").output)
    for table in tables:
        assert "None" not in vfsmc("spec", "show", table).output
        methods = json.loads(vfsmc("spec", "show", table, "--json").output)["methods"]
        for method in methods:
            assert "None" not in vfsmc("spec", "show", f"{table}.{method}").output, method


def test_shell_completion_names_scenarios_variants_properties(tmp_path: Path) -> None:
    def complete(words: str) -> list[str]:
        env = dict(os.environ, _VFSMC_COMPLETE="bash_complete", COMP_WORDS=words)
        env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        done = subprocess.run(
            [str(Path(sys.executable).parent / "vfsmc")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd=tmp_path,
        )
        return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]

    (tmp_path / "mine.py").write_text(
        "from mc.dsl import Invocation, Program, scenario, variant\n"
        "from mc.models.dirops import create\n\n"
        "@variant('mine-untouched', 'nothing changed')\n"
        "def untouched(program: Program, invocation: Invocation) -> Program:\n"
        "    return program\n\n"
        "scenario('mine/one-create', 'one create', tree=['/a/'], threads=[create('/a/x')])\n"
    )
    assert complete("vfsmc check --models mine.py mine/") == ["mine/one-create"]
    assert complete("vfsmc check --models mine.py mine/one-create -V mine-") == ["mine-untouched"]
    assert complete("vfsmc check mine/") == []
    assert complete("vfsmc mutate --models mine.py mine/") == ["mine/one-create"]
    assert complete("vfsmc check mine.py:mine/") == ["mine.py:mine/one-create"]
    assert complete("vfsmc check --models mine.py mine.py:mine/") == ["mine.py:mine/one-create"]
    assert complete("vfsmc check nowhere.py:mine/") == []
    assert complete("vfsmc explain --models mine.py mine-") == ["mine-untouched"]
    assert complete("vfsmc check -p mine-") == []

    assert "dirops/opposite-renames" in complete("vfsmc check dirops/opp")
    assert complete("vfsmc check dirops/x -V no-re") == ["no-rename-mutex"]
    assert "no-lost-write" in complete("vfsmc check dirops/x --no-property no-")
    assert complete("vfsmc explain dead") == [
        "deadlock",
        "deadlock-check-any-waiter",
        "deadlock-check-before-blocked-lock-lock",
    ]


def test_a_change_repeated_in_an_unrolled_loop_is_listed_once(vfsmc: Run) -> None:
    """The flusher walks both pages of the file, so a variant changes each
    step of its loop twice: the text lists the change once with the count,
    the JSON every place."""
    text = vfsmc("show", "writeback/two-writers-flusher").output
    part = re.split(r"\n  \S", text.split("no-mkclean:")[1])[0]
    line = "T3 removed  folio_mkclean(): rmap_walk_file(): i_mmap_lock_read(mapping) [shared]"
    assert part.count(line) == 1
    assert "(in 2 places)" in part.split(line)[1].splitlines()[0]
    data = json.loads(vfsmc("show", "writeback/two-writers-flusher", "--json").output)
    label = "folio_mkclean(): rmap_walk_file(): i_mmap_lock_read(mapping)"
    listed = [(c["thread"], c["label"]) for c in data["variants"]["no-mkclean"]]
    assert listed.count(("T3", label)) == 2


MOVING_VARIANT = """\
from mc.dsl import Invocation, Program, variant
from mc.models.truncate import truncate


@variant("invalidate-first", "truncate takes invalidate_lock before i_rwsem")
def invalidate_first(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not truncate:
        return program
    taken = [s for s in program.tagged("invalidate-lock") if "unlock" not in s.label]
    inode_lock = next(s for s in program.steps if s.label.startswith("do_truncate(): inode_lock"))
    return program.move_before({moved}, inode_lock)
"""


def test_show_steps_lists_labels_and_tags_and_where_a_step_moved(vfsmc: Run) -> None:
    """What a variant's transform selects by label or tag, and where it put
    a step it moved."""
    Path("moving.py").write_text(MOVING_VARIANT.replace("{moved}", "taken"))
    listed = vfsmc("show", "truncate/truncate-vs-writeback", "--steps")
    assert listed.exit_code == 0, listed.output
    assert re.search(
        r"\n +7  filemap_invalidate_lock\(inode->i_mapping\)  "
        r"\(models/blockfs_truncate.py:\d+ in \w+\)  mode: exclusive  tags: invalidate-lock\n",
        listed.output,
    )
    data = json.loads(vfsmc("show", "truncate/truncate-vs-writeback", "--steps", "--json").output)
    first = data["threads"][0]["program"][0]
    assert first["kind"] == "LockStep" and first["mode"] == "shared"
    assert first["tags"] == ["sb-start-write"]
    shown = vfsmc("show", "truncate/truncate-vs-writeback", "--models", "moving.py")
    assert shown.exit_code == 0, shown.output
    part = shown.output.split("invalidate-first:")[1]
    assert "T1 moved    filemap_invalidate_lock(inode->i_mapping) [exclusive]" in part
    assert "now before  do_truncate(): inode_lock(dentry->d_inode)" in part


def test_show_steps_with_a_variant_lists_the_program_it_made(vfsmc: Run) -> None:
    """``--steps -V V`` lists each thread's steps as the variant leaves
    them: invalidate-skips-unmap's program has no unmap_mapping_folio()."""
    unmap = "unmap_mapping_folio(): i_mmap_lock_read(mapping)"
    plain = vfsmc("show", "writeback/invalidate-vs-stores", "--steps")
    assert plain.exit_code == 0, plain.output
    assert unmap in plain.output
    varied = vfsmc(
        "show", "writeback/invalidate-vs-stores", "--steps", "-V", "invalidate-skips-unmap"
    )
    assert varied.exit_code == 0, varied.output
    header = re.search(
        r"(\d+) steps\n +its (\d+) steps with invalidate-skips-unmap:", varied.output
    )
    assert header is not None and int(header[2]) == int(header[1]) - 4
    listing = varied.output.split("steps with invalidate-skips-unmap:")[1].split("slots")[0]
    assert "folio_lock(folio)" in listing
    assert unmap not in listing
    data = json.loads(
        vfsmc(
            "show",
            "writeback/invalidate-vs-stores",
            "--steps",
            "--json",
            "-V",
            "invalidate-skips-unmap",
        ).stdout
    )
    assert data["program_variants"] == ["invalidate-skips-unmap"]
    labels = [step["label"] for step in data["threads"][0]["program"]]
    assert unmap not in labels and "folio_lock(folio)" in labels


UNGUARDING_MOVE = """
from mc.dsl import Invocation, Program, scenario, variant
from mc.models.dirops import mkdir, rename


@variant("s-dead-late", "S_DEAD set after the target is unlocked")
def s_dead_late(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(rename):
        return program
    steps = program.steps
    first = next(k for k, s in enumerate(steps) if s.label == "if (target && is_dir)")
    unlock = [s for s in steps if s.label == "inode_unlock(target)"][-1]
    return program.move_after(list(steps[first : first + 2]), unlock)


scenario("g/rename-over-dir", "a rename over an empty directory racing a mkdir in it",
         tree=["/a/", "/a/d/", "/b/", "/b/e/"], threads=[rename("/a/d", "/b/e"), mkdir("/b/e/n")])
"""


def test_a_step_moved_out_of_the_test_that_guarded_it_is_said(vfsmc: Run) -> None:
    """Moving vfs_rename()'s S_DEAD block after the target's unlock takes
    it out of ``if (!error)``: show names the test it left, and check of a
    user's variant notes it, since it now runs on a failed rename too."""
    Path("unguard_moves.py").write_text(UNGUARDING_MOVE)
    shown = vfsmc("show", "unguard_moves.py:g/rename-over-dir", "-V", "s-dead-late")
    assert shown.exit_code == 0, shown.output
    assert "no longer under  if (!error): it runs whichever way that goes" in shown.output
    checked = vfsmc("check", "unguard_moves.py:g/rename-over-dir", "-V", "s-dead-late", "--no-save")
    assert (
        "note: s-dead-late moves 2 of T1's steps ('if (target && is_dir)' to "
        "'target->i_flags |= S_DEAD') out of 'if (!error)': they now run whichever way"
        in checked.output
    ), checked.output
    plain = vfsmc("check", "dirops/rename-rmdir-link", "-V", "child-first", "--no-save")
    assert "out of" not in plain.output


VICTIM_FIRST = """
from mc.dsl import Invocation, Program, variant
from mc.models.dirops import rmdir


@variant("victim-first", "do_rmdir() locks the victim before the parent")
def victim_first(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(rmdir):
        return program
    return program.move_before(program.tagged("lock-victim"), program.tagged("lock-parent")[0])
"""


def test_a_step_moved_out_of_several_tests_is_one_note(vfsmc: Run) -> None:
    """A step a transform moves out of three tests at once is one note
    naming the three, not a note for each."""
    Path("victim_first.py").write_text(VICTIM_FIRST)
    args = ("--models", "victim_first.py", "-V", "victim-first", "--no-save")
    checked = vfsmc("check", "dirops/rename-rmdir-link", *args)
    notes = [line for line in checked.output.splitlines() if "out of" in line]
    assert notes == [
        "vfsmc: note: victim-first moves T2's step 'inode_lock(dentry->d_inode)' out of 3 tests "
        "('if (d_is_negative(dentry)) -ENOENT', 'lookup_one_qstr_excl(b): IS_DEADDIR(dir)', "
        "'may_delete(dir, dentry, 1): -ENOTDIR'): it now runs whichever way they go"
    ], checked.output


DROPS_A_TEST = """
from mc.dsl import Invocation, Program, variant

TEST = "if (r != p1 && r != p) /* no common ancestor */"


@variant("drop-exdev-test", "lock_two_directories() without its common-ancestor test")
def drop_exdev_test(program: Program, invocation: Invocation) -> Program:
    if not program.tagged("rename-mutex"):
        return program
    return program.drop(lambda step: step.label == TEST)


@variant("drop-exdev-block", "lock_two_directories() without its common-ancestor test and block")
def drop_exdev_block(program: Program, invocation: Invocation) -> Program:
    if not program.tagged("rename-mutex"):
        return program
    test = program.step(TEST)
    return program.drop(lambda step: step is test or test in program.guards(step))


@variant("never-exdev", "lock_two_directories() never finds the parents unrelated")
def never_exdev(program: Program, invocation: Invocation) -> Program:
    if not program.tagged("rename-mutex"):
        return program
    return program.force(TEST, False)
"""


def test_a_dropped_test_says_its_block_always_runs(vfsmc: Run) -> None:
    """Dropping an ``op.when`` test runs its block always and its other
    case never: one note for the threads it is dropped from, pointing at
    ``force``, which a forced test does not get, nor a test dropped with
    its block."""
    Path("drops.py").write_text(DROPS_A_TEST)
    args = ("dirops/opposite-renames", "--models", "drops.py", "--no-save")
    dropped = vfsmc("check", *args, "-V", "drop-exdev-test")
    notes = [line for line in dropped.output.splitlines() if "drops the test" in line]
    assert notes == [
        "vfsmc: note: drop-exdev-test drops the test 'if (r != p1 && r != p) /* no common "
        "ancestor */' (T1, T2): the block it guarded now always runs and its other case, if "
        "it has one, never (program.force(test, holds) makes a test hold always or never and "
        "keeps both cases)"
    ], dropped.output
    forced = vfsmc("check", *args, "-V", "never-exdev")
    assert forced.exit_code == 0, forced.output
    assert "drops the test" not in forced.output, forced.output
    whole = vfsmc("check", *args, "-V", "drop-exdev-block")
    assert whole.exit_code == 1, whole.output
    assert "drops the test" not in whole.output, whole.output


REWORDED_TESTS = """
from mc.dsl import E, EXCL, Invocation, Op, Program, is_dir, replaces, scenario, unlinked, variant
from mc.models import libfs
from mc.models.dirops import done_path_create, filename_create, link


@replaces(link, "isdir-early", "the S_ISDIR test made before filename_create(), worded anew")
def isdir_early(op: Op, old: str, new: str) -> None:
    source = op.inode(old)
    op.fail_if(is_dir(source), E.EPERM, "out", "if (S_ISDIR(old_path.dentry->d_inode->i_mode))")
    directory, dentry = filename_create(op, new)
    op.lock(source.i_rwsem, EXCL, "inode_lock(inode)")
    op.fail_if(unlinked(source), E.ENOENT, "unlock_source", "if (inode->i_nlink == 0)")
    op.call("inode_operations.link", libfs.link, source, directory, dentry,
            label="error = dir->i_op->link(old_dentry, dir, new_dentry)",
            roles={"dir": directory, "source": source})
    op.label("unlock_source")
    op.unlock(source.i_rwsem, "inode_unlock(inode)")
    done_path_create(op, directory)
    op.label("out")


scenario("g/link", "a link", tree=["/a/", "/c/", "/c/e"], threads=[link("/c/e", "/a/f")])
"""


def test_a_test_worded_anew_still_guards_the_steps_after_it(vfsmc: Run) -> None:
    """A replaced body whose S_ISDIR test has another label but the same
    condition still guards the steps after it: no note says they run
    whichever way it goes."""
    Path("reworded.py").write_text(REWORDED_TESTS)
    checked = vfsmc("check", "reworded.py:g/link", "-V", "isdir-early", "--no-save")
    assert checked.exit_code == 0, checked.output
    assert "whichever way" not in checked.output, checked.output


FLAG_BODIES = """
from mc.dsl import EXCL, Op, flag_variant, is_error, operation, scenario
from mc.models.filelock import WRITE, context, posix_lock_attempt, posix_unlock

flag_variant("verify-under-lock", "the lock check made with i_rwsem held")


def verify(op: Op, path: str) -> None:
    op.run(posix_lock_attempt, context(op.world, path), (op.thread.name, 0, 9, WRITE), False)
    op.goto_if(is_error(op.ret), "out")
    op.run(posix_unlock, context(op.world, path), op.thread.name)


@operation(models="a truncate that honours POSIX locks")
def checked_truncate(op: Op, path: str) -> None:
    inode = op.inode(path)
    if not op.variant("verify-under-lock"):
        verify(op, path)
    op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)")
    if op.variant("verify-under-lock"):
        verify(op, path)
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.label("out")


scenario("g/checked", "a truncate", tree=["/f"], threads=[checked_truncate("/f")])
"""


def test_a_flag_variant_s_own_order_gets_no_note(vfsmc: Run) -> None:
    """A flag variant whose body takes i_rwsem before the test that
    guarded it in the other body was written in that order: show says the
    lock is no longer under the test, and check adds no note on it."""
    Path("flag_bodies.py").write_text(FLAG_BODIES)
    shown = vfsmc("show", "flag_bodies.py:g/checked", "-V", "verify-under-lock")
    assert shown.exit_code == 0, shown.output
    assert "no longer under" in shown.output, shown.output
    checked = vfsmc("check", "flag_bodies.py:g/checked", "-V", "verify-under-lock", "--no-save")
    assert checked.exit_code == 0, checked.output
    assert "whichever way" not in checked.output, checked.output


GOTO_LEFT_BEHIND = """
from mc.dsl import Invocation, Op, Program, operation, scenario, state_expr, variant


def put(scratch, slot, value):
    scratch[slot] = value


@operation(models="an early return past a recheck")
def early(op: Op) -> None:
    flag = op.world.shared_slot("flag", 0)
    beyond = state_expr("beyond", lambda s: s[flag] == 1, reads=[flag])
    op.effect("prepare()", put, flag, 5)
    with op.when(beyond, "if (index >= max_idx) /* recheck */"):
        op.effect("return VM_FAULT_SIGBUS", put, flag, 3)
        op.goto("out")
    op.effect("unwind()", put, flag, 6)
    op.effect("return ret", put, flag, 2)
    op.goto("out")
    op.effect("cleanup()", put, flag, 4)
    op.label("out")


@variant("return-first", "the return moved above the recheck")
def return_first(program: Program, invocation: Invocation) -> Program:
    return program.move_before("return ret", "if (index >= max_idx) /* recheck */")


@variant("swapped-pair", "the recheck's return and the plain return swapped")
def swapped_pair(program: Program, invocation: Invocation) -> Program:
    return program.swap("return VM_FAULT_SIGBUS", "return ret")


@variant("return-inside", "the plain return moved into the recheck's body")
def return_inside(program: Program, invocation: Invocation) -> Program:
    return program.move_before("return ret", "return VM_FAULT_SIGBUS")


@variant("unwind-first", "a step from inside the run before the goto moved above the recheck")
def unwind_first(program: Program, invocation: Invocation) -> Program:
    return program.move_before("unwind()", "if (index >= max_idx) /* recheck */")


@variant("prepare-last", "the step before the recheck moved to the end")
def prepare_last(program: Program, invocation: Invocation) -> Program:
    return program.move_after("prepare()", "cleanup()")


scenario("g/early", "an early return", tree=[], threads=[early()])
"""


def test_a_step_moved_without_the_goto_after_it_is_said(vfsmc: Run) -> None:
    """A move takes a step's following goto only with a block that jumps
    there: moved alone, the step goes on to the step after it.  show and
    check of a user's variant say so; of two steps swapped, each still
    followed by a goto to the same label, neither says anything; nor of a
    step that came before an ``op.when`` whose body ends in the goto, nor
    of one moved from inside the run the goto ends."""
    Path("goto_left.py").write_text(GOTO_LEFT_BEHIND)
    swapped = vfsmc("show", "goto_left.py:g/early", "-V", "swapped-pair")
    assert "T1 moved" in swapped.output and "without the goto" not in swapped.output
    shown = vfsmc("show", "goto_left.py:g/early", "-V", "return-first")
    assert shown.exit_code == 0, shown.output
    assert (
        "without the goto out (to the end of the program) after it, which stays" in shown.output
    ), shown.output
    checked = vfsmc("check", "goto_left.py:g/early", "-V", "return-first", "--no-save")
    assert (
        "note: return-first moves T1's step 'return ret' without the goto out (to the end of "
        "the program) after it, which stays where it was: the step now goes on to the step "
        "after it" in checked.output
    ), checked.output
    before_the_test = vfsmc("show", "goto_left.py:g/early", "-V", "prepare-last")
    assert "T1 moved" in before_the_test.output, before_the_test.output
    assert "without the goto" not in before_the_test.output, "the goto ends the when's body"
    inside = vfsmc("show", "goto_left.py:g/early", "-V", "unwind-first")
    assert "T1 moved" in inside.output, inside.output
    assert "without the goto" not in inside.output, "the run's last step keeps its goto"


def test_a_step_moved_under_a_test_is_said(vfsmc: Run) -> None:
    """A move into an ``op.when``'s body (a lock moved into an
    ``if (folio_mapped(folio))``) makes the step run in one case of the
    test only: show and check of a user's variant say so."""
    Path("goto_left.py").write_text(GOTO_LEFT_BEHIND)
    shown = vfsmc("show", "goto_left.py:g/early", "-V", "return-inside")
    assert (
        "now under  if (index >= max_idx) /* recheck */: it runs in one of its cases"
        in shown.output
    ), shown.output
    checked = vfsmc("check", "goto_left.py:g/early", "-V", "return-inside", "--no-save")
    assert (
        "note: return-inside moves T1's step 'return ret' under 'if (index >= max_idx) /* "
        "recheck */' it was not under: it now runs only where the test lets it" in checked.output
    ), checked.output
    report = vfsmc(
        "check", "goto_left.py:g/early", "-V", "return-inside", "--no-save", "--json"
    ).stdout
    assert any(
        "moves T1's step 'return ret' under" in note for note in json.loads(report)["variant_notes"]
    ), report
    moved_out = vfsmc("show", "goto_left.py:g/early", "-V", "return-first")
    assert "now under" not in moved_out.output, moved_out.output


def test_show_of_a_variant_that_fails_on_the_scenario_is_an_error(vfsmc: Run) -> None:
    """``show -V V`` of a variant whose transform fails there says so in
    one line, exit 2 (it said so, then that V changed no step, exit 0)."""
    Path("fails_here.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n\n"
        "@variant('fails-here', 'a transform that raises')\n"
        "def fails_here(program: Program, invocation: Invocation) -> Program:\n"
        "    raise ValueError('no such step here')\n"
    )
    result = vfsmc(
        "show", "dirops/opposite-renames", "--models", "fails_here.py", "-V", "fails-here"
    )
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "variant fails-here fails on dirops/opposite-renames" in result.output


def test_an_rcu_read_side_section_has_no_lock_mode(vfsmc: Run) -> None:
    listed = vfsmc("show", "dcache/dput-shrink-vs-find-alias", "--steps")
    assert listed.exit_code == 0, listed.output
    assert re.search(
        r"\n +0  dput\(\): rcu_read_lock\(\)  \(models/dcache.py:\d+ in _dput\)", listed.output
    )
    spin = r"spin_lock\(&dentry->d_lock\)  \(models/dcache.py:\d+ in \w+\)  mode: exclusive"
    assert re.search(spin, listed.output)
    data = json.loads(vfsmc("show", "dcache/dput-shrink-vs-find-alias", "--steps", "--json").output)
    assert "mode" not in data["threads"][0]["program"][0]


def test_a_spinlock_section_names_its_lock(vfsmc: Run) -> None:
    """An op.section takes and releases its lock within the step: the
    listing says which, as the label may not."""
    listed = vfsmc("show", "dcache/sibling-kills", "--steps")
    assert listed.exit_code == 0, listed.output
    assert re.search(
        r"dentry_unlist\(\): d_flags \|= DCACHE_DENTRY_KILLED; .* in dentry_kill\)  "
        r"section: takes and releases d_lock\(/a/\w\) in the step",
        listed.output,
    ), listed.output
    data = json.loads(vfsmc("show", "dcache/sibling-kills", "--steps", "--json").output)
    sections = {step.get("section") for step in data["threads"][0]["program"]}
    assert {"d_lock(/a/x)", "d_lock(/a/y)"} & sections


def test_moving_steps_before_one_of_them_says_so(vfsmc: Run) -> None:
    Path("moving.py").write_text(MOVING_VARIANT.replace("{moved}", "[inode_lock, *taken]"))
    result = vfsmc(
        "check", "truncate/truncate-vs-writeback", "--models", "moving.py", "-V", "invalidate-first"
    )
    assert result.exit_code == 2
    assert "moving.py:" in result.output
    assert (
        "cannot move steps before 'do_truncate(): inode_lock(dentry->d_inode)': it is one of them"
        in result.output
    )


@pytest.mark.parametrize(
    "kept",
    [
        "[1, 2]",
        '{"key": 1, "applies": 3}',
        "not json",
        '{"applies": {}}',
        '{"entries": [1, {"key": 2}]}',
        '{"entries": 5}',
        '{"entries": "abc"}',
        "[" * 100_000 + "]" * 100_000,
        "a FIFO",
    ],
)
def test_a_cache_that_is_not_one_is_worked_out_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: str
) -> None:
    """Whatever holds the cache's name, JSON nested past Python's
    recursion limit say, is worked out again and replaced; a FIFO, which
    would block its reader and its writer, is left alone."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    inventory.cache_file().parent.mkdir(parents=True)
    if kept == "a FIFO":
        os.mkfifo(inventory.cache_file())
    else:
        inventory.cache_file().write_text(kept)
    registry = shipped_registry()
    for name in list(registry.scenarios):
        if name != "attr/chmod-link-unlink":
            del registry.scenarios[name]
    applies = inventory.applicable_variant_names(registry)
    assert applies == {"attr/chmod-link-unlink": ["child-first", "setattr-unlocked"]}
    if kept == "a FIFO":
        assert inventory.cache_file().is_fifo()
        return
    [entry] = json.loads(inventory.cache_file().read_text())["entries"]
    assert entry["applies"] == applies


def test_the_cache_keeps_the_shipped_sources_answer_however_many_come_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every set of sources with a user's files starts from the answer for
    the shipped ones: more sets than the cache keeps do not push it out
    (each later listing would work the shipped scenarios out again)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    base = {"key": inventory.shipped_sources_key(), "applies": {"x/y": []}}
    others = [{"key": f"other-{n}", "applies": {}} for n in range(inventory.KEPT_ANSWERS)]
    inventory.cache_file().parent.mkdir(parents=True)
    inventory.cache_file().write_text(json.dumps({"entries": [*others, base]}))
    registry = shipped_registry()
    for name in list(registry.scenarios):
        if name != "attr/chmod-link-unlink":
            del registry.scenarios[name]
    inventory.applicable_variant_names(registry)
    entries = json.loads(inventory.cache_file().read_text())["entries"]
    assert len(entries) == inventory.KEPT_ANSWERS
    assert base in entries


CONDITION_VARIANT = """
import attrs

from mc.dsl import Invocation, Program, const, variant
from mc.dsl.steps import BranchStep
from mc.models.truncate import mmap_load, mmap_store


@variant("fault-never-past-eof", "filemap_fault() never finds the index past i_size")
def never_past_eof(program: Program, invocation: Invocation) -> Program:
    if invocation.operation not in (mmap_load, mmap_store):
        return program
    return Program(
        tuple(
            attrs.evolve(item, cond=const(False, "false"))
            if isinstance(item, BranchStep) and "max_idx" in item.label
            else item
            for item in program.items
        )
    )
"""


def test_a_variant_that_replaces_a_condition_is_listed_with_it(vfsmc: Run, tmp_path: Path) -> None:
    """A variant that keeps a branch's label but replaces its condition
    changes the scenario (it was listed as changing nothing, so said to
    leave the verdict alone); show says what it changed."""
    (tmp_path / "never_past_eof.py").write_text(CONDITION_VARIANT)
    shown = vfsmc("show", "truncate/truncate-vs-write-fault", "--models", "never_past_eof.py")
    assert shown.exit_code == 0, shown.output
    assert "fault-never-past-eof: filemap_fault() never finds" in shown.output
    assert "-> false]" in shown.output
    listed = vfsmc("list", "--models", "never_past_eof.py")
    line = next(x for x in listed.output.splitlines() if "truncate/truncate-vs-write-fault" in x)
    at = listed.output.splitlines().index(line)
    assert "fault-never-past-eof" in " ".join(listed.output.splitlines()[at : at + 2])


def test_namespace_is_checkable_for_creates_in_the_root(tmp_path: Path, vfsmc: Run) -> None:
    """Two creates of one name in /: no directory below /, yet names change."""
    (tmp_path / "root.py").write_text(
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import create\n"
        "scenario('my/root-creates', 'x', tree=['/x'], threads=[create('/f'), create('/f')],\n"
        "         properties=['deadlock'])\n"
    )
    broken = vfsmc(
        "check", "root.py:my/root-creates", "-V", "create-no-parent-lock", "-p", "namespace"
    )
    assert broken.exit_code == 1, broken.output
    assert "two inodes were made for one name" in broken.output
    correct = vfsmc("check", "root.py:my/root-creates", "--no-save")
    assert "also make namespace checkable" in correct.output


def test_show_writes_each_thread_as_a_scenario_declares_it(vfsmc: Run) -> None:
    """Each thread's call, File layouts included, is printed as Python a
    scenario of one's own can copy; copied, it builds the same threads."""
    out = vfsmc("show", "super/freeze-vs-writer").output
    written = re.findall(r"as written: (.*)", out)
    assert written[:2] == [
        "write(File('/f', pages=1, cached=(0,)), 0)",
        "freeze(File('/f', pages=1, cached=(0,)))",
    ]
    data = json.loads(vfsmc("show", "super/freeze-vs-writer", "--json").output)
    assert [thread["call"] for thread in data["threads"]] == written
    shipped = shipped_registry()
    threads = shipped.build(shipped.scenario("super/freeze-vs-writer"), ()).threads
    names: dict[str, object] = {"File": File}
    names.update((t.invocation.operation.name, t.invocation.operation) for t in threads)
    assert [eval(call, names) for call in written] == [t.invocation for t in threads]


def test_show_steps_names_where_tests_and_gotos_jump(vfsmc: Run) -> None:
    """A test's label to jump to and the gotos after a step are listed as
    drop_gotos takes them, without the scope of the body that wrote them."""
    out = vfsmc("show", "dcache/dput-vs-find-alias", "--steps").output
    assert "if (ret) return true /* not the last */  (models/dcache.py:" in out
    jump = re.search(
        r"return true /\* not the last \*/  \(models/dcache\.py:\d+ in _dput\)  may jump to: keep "
        r"\(step (\d+)\)\n",
        out,
    )
    assert jump is not None, out
    kept = re.search(rf"^ +{jump.group(1)}  (.*)$", out.split("T2  ")[0], re.M)
    assert kept is not None and kept.group(1).startswith("rcu_read_unlock()  "), kept
    data = json.loads(vfsmc("show", "dcache/dput-vs-find-alias", "--steps", "--json").output)
    gotos = {label for step in data["threads"][0]["program"] for label in step.get("then_goto", ())}
    assert "out" in gotos and not any("/" in label for label in gotos)


def test_show_refuses_a_mutant_that_names_no_step(vfsmc: Run) -> None:
    """As check does: a ``mutant:`` name matching nothing of the scenario
    (an operation it lacks, or a spinlock weakened: it has no shared mode)
    is an error, not a scenario it changes no step of."""
    for mutant in (
        "mutant:drop@nosuchop:f:x",
        "mutant:weaken@dput:_dput:spin_lock(&dentry->d_lock)",
    ):
        for command in (("show",), ("check", "--no-save")):
            result = vfsmc(*command, "dcache/dput-vs-find-alias", "-V", mutant)
            assert result.exit_code == 2, (command, result.output)
            assert f"variant {mutant} changes nothing in dcache/dput-vs-find-alias" in (
                result.output
            )


def test_show_writes_enumerations_and_open_files_as_a_scenario_does(vfsmc: Run) -> None:
    """renameat2()'s flags and lseek(2)'s whence print by name, an OpenFile
    with the fields that differ from their defaults, and each copy builds
    the same thread."""
    names: dict[str, object] = {
        "File": File,
        "OpenFile": OpenFile,
        "RENAME_EXCHANGE": RENAME_EXCHANGE,
        "SEEK_CUR": SEEK_CUR,
    }
    expected = {
        "dirops/exchange": "rename('/a/x', '/b/y', RENAME_EXCHANGE)",
        "file/seek-read-fdinfo": (
            "lseek(OpenFile('/f', cache=File('/f', cached=(0, 1)), name='filp'), 1, SEEK_CUR)"
        ),
    }
    registry = shipped_registry()
    for scenario, call in expected.items():
        written = re.findall(r"as written: (.*)", vfsmc("show", scenario).output)
        assert written[0] == call
        thread = registry.build(registry.scenario(scenario), ()).threads[0]
        names[thread.invocation.operation.name] = thread.invocation.operation
        assert eval(written[0], names) == thread.invocation


def test_show_says_which_rules_a_variant_waives(vfsmc: Run) -> None:
    """A variant that waives the locking rule it breaks (declared with it,
    or in specs/conformance.toml's [waivers]) passes spec-conformance; show
    says so, so that an OK under it reads as what the change leads to."""
    out = vfsmc("show", "namei/stat-unlink-create").output
    part = re.split(r"\n  \S", out.split("create-no-parent-lock:")[1])[0]
    assert "waives inode_operations.create i_rwsem(dir)" in part
    declared = vfsmc("show", "xattr/two-sets").output.split("setxattr-unlocked:")[1]
    assert "waives xattr_handler.set i_rwsem(inode)" in re.split(r"\n  \S", declared)[0]


def test_a_property_no_step_can_change_is_not_suggested(vfsmc: Run, tmp_path: Path) -> None:
    """A directory in the tree makes ``namespace`` checkable, but when no
    step may write a name, a link count or a directory's flags it could
    only pass: it is not suggested."""
    (tmp_path / "still.py").write_text(
        "from mc.dsl import Op, operation, scenario, touches\n\n"
        "@touches(lambda world, slot: ([slot], [slot]))\n"
        "def bump(scratch, slot):\n"
        "    scratch[slot] += 1\n\n"
        '@operation(models="a counter of its own")\n'
        "def count(op: Op) -> None:\n"
        '    op.effect("n++", bump, op.world.shared_slot("n", 0))\n\n'
        'scenario("my/still", "two counts", tree=["/a/"], threads=[count(), count()],\n'
        '         properties=["deadlock"])\n'
    )
    result = vfsmc("check", "still.py:my/still", "--no-save")
    assert result.exit_code == 0, result.output
    assert "namespace" not in result.output


LATE_LOCK = """\
from mc.dsl import EXCL, LockKind, Op, flag_variant, operation, scenario

flag_variant("late", "takes a once b is dropped")


@operation(models="two mutexes")
def late_lock(op: Op) -> None:
    a = op.world.shared_lock("a", LockKind.MUTEX)
    b = op.world.shared_lock("b", LockKind.MUTEX)
    op.lock(b, EXCL, "lock b")
    if not op.variant("late"):
        op.lock(a, EXCL, "lock a")
    op.unlock(b, "unlock b")
    if op.variant("late"):
        op.lock(a, EXCL, "lock a")
    op.unlock(a, "unlock a")


scenario("my/late", "x", tree=["/a/"], threads=[late_lock()], properties=["deadlock"])
"""


def test_a_flag_variant_moving_a_step_marks_its_old_place_moved_away(tmp_path: Path) -> None:
    """The step a flag variant takes on another model line is the same
    step moved: the chart marks where it was 'moved away', not 'removed',
    and the step it changed places with."""
    (tmp_path / "late.py").write_text(LATE_LOCK)
    registry = with_files([tmp_path / "late.py"])
    scenario = registry.scenario("my/late")
    positions = inventory.changed_positions(
        registry.build(scenario, (), ()), registry.build(scenario, ("late",), ())
    )
    assert positions is not None
    assert sorted(positions.values()) == ["lock a", "lock a moved away", "unlock b"]


def test_a_change_of_one_of_several_steps_so_labelled_says_which_share(vfsmc: Run) -> None:
    """remap-argument-order drops the locks of one of vfs_clone_file_range()'s
    two orders: the listing says it changed one of the two steps so
    labelled, not every such lock."""
    shown = vfsmc("show", "file/opposite-remaps", "-V", "remap-argument-order")
    assert shown.exit_code == 0, shown.output
    removed = "removed  inode_lock_nested(VFS_I(ip2)"
    line = next(line for line in shown.output.splitlines() if removed in line)
    assert line.endswith("(1 of the 2 steps so labelled)"), line


def test_the_shipped_answer_is_the_one_worked_out_for_these_sources(shipped: Registry) -> None:
    """specs/applicable-variants.json, which a first listing on a fresh
    machine starts from, is of the sources as they are, and says what
    working the variants out from nothing says (after an edit of vfsmc or
    its models, `make counterexamples` writes it again)."""
    entry = json.loads(inventory.SHIPPED_ANSWER.read_text())
    assert entry["key"] == inventory.shipped_sources_key(), (
        "specs/applicable-variants.json is of other sources: python -m mc.cli.shipped "
        "(make counterexamples) writes it again"
    )
    assert entry["applies"] == {
        scenario.name: list(inventory.applicable_variants(shipped, scenario))
        for scenario in shipped.scenarios.values()
    }


def test_a_first_listing_starts_from_the_shipped_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no cache of its own, a listing of the shipped scenarios takes
    the shipped answer for these sources and works nothing out; the
    shipped answer of other sources is left aside."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    answer = tmp_path / "answer.json"
    registry = shipped_registry()
    inventory.write_shipped_answer(registry, answer)
    monkeypatch.setattr(inventory, "SHIPPED_ANSWER", answer)
    worked_out: list[str] = []
    work_out = inventory.applicable_variants

    def counted(reg: Registry, scenario: Scenario, failing: Any = None) -> Any:
        worked_out.append(scenario.name)
        return work_out(reg, scenario, failing)

    monkeypatch.setattr(inventory, "applicable_variants", counted)
    applies = inventory.applicable_variant_names(registry)
    assert not worked_out
    assert applies == json.loads(answer.read_text())["applies"]
    for name in list(registry.scenarios):
        if name != "attr/chmod-link-unlink":
            del registry.scenarios[name]
    answer.write_text(
        json.dumps({"key": "other sources", "applies": {"attr/chmod-link-unlink": []}})
    )
    assert inventory.applicable_variant_names(registry) == {
        "attr/chmod-link-unlink": ["child-first", "setattr-unlocked"]
    }
    assert worked_out == ["attr/chmod-link-unlink"]


def test_show_of_a_counterexample_file_points_to_replay_and_graph(vfsmc: Run) -> None:
    saved = next((ROOT / "counterexamples").glob("*.json"))
    result = vfsmc("show", str(saved))
    assert result.exit_code == 2, result.output
    assert "is a counterexample, not a scenario: vfsmc replay" in result.output
    assert "Traceback" not in result.output


MOVED_TO_THE_END = """\
from mc.dsl import EXCL, Op, flag_variant, operation, scenario

flag_variant("unlock-last", "the first lock is released last")

@operation(models="two locks, the first released early")
def two_locks(op: Op) -> None:
    a, b = op.inode("/a").i_rwsem, op.inode("/b").i_rwsem
    op.lock(a, EXCL, "lock(a)")
    if not op.variant("unlock-last"):
        op.unlock(a, "unlock(a)")
    op.lock(b, EXCL, "lock(b)")
    op.unlock(b, "unlock(b)")
    if op.variant("unlock-last"):
        op.unlock(a, "unlock(a)")

scenario("my/moved", "x", tree=["/a", "/b"], threads=[two_locks()])
"""


def test_a_step_moved_to_the_end_is_said_to_be_last(vfsmc: Run, tmp_path: Path) -> None:
    (tmp_path / "moved.py").write_text(MOVED_TO_THE_END)
    result = vfsmc("show", "moved.py:my/moved")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "T1 moved    unlock(a)" in line)
    assert "now the last step of the thread's program" in lines[at + 1]
    assert "the end" not in result.output
