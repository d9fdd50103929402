"""Mutation analysis: the mutations are program transforms on the data, each
is a variant a counterexample can be replayed under, and vfsmc mutate
reports verdicts and the locks no scenario needs."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from click.testing import Result

from mc.check import mutants, mutate
from mc.check.checker import check_scenario
from mc.check.registry import with_files
from mc.dsl.program import Program
from mc.dsl.scenario import Registry
from mc.dsl.steps import LockStep, UnlockStep
from mc.dsl.wait_steps import HandOffStep, TryLockStep
from mc.engine.explore import Options
from mc.engine.result import Verdict
from mc.kernel.locks import Mode

Run = Callable[..., Result]
SCENARIO = "dirops/rename-rmdir-link"
SEMANTIC = ("lock-protocol", "deadlock", "namespace", "completes")
"""The invariants of the tree and of the locks, without the locking table."""


@pytest.fixture(scope="module")
def analysis(shipped: Registry) -> mutate.Analysis:
    return mutate.analyse(shipped, SCENARIO, properties=SEMANTIC)


def _semantic() -> list[str]:
    return [argument for name in SEMANTIC for argument in ("-p", name)]


def _program(shipped: Registry, operation: str) -> Program:
    model = shipped.build(shipped.scenario(SCENARIO))
    [thread] = [t for t in model.threads if t.invocation.operation.name == operation]
    return thread.program


def _by(analysis: mutate.Analysis, kind: str, operation: str, label: str) -> mutate.MutantResult:
    [found] = [
        r
        for r in analysis.results
        if (r.mutation.kind.value, r.mutation.operation, r.mutation.label)
        == (kind, operation, label)
    ]
    return found


def test_dropping_an_acquisition_keeps_other_paths_balanced(shipped: Registry) -> None:
    program = _program(shipped, "rename")
    first_parent = next(
        s for s in program.steps if s.label == "inode_lock_nested(p1->d_inode, I_MUTEX_PARENT)"
    )
    dropped = program.drop_acquisitions(lambda step: step is first_parent)
    assert first_parent not in dropped.steps
    other_site = [
        s
        for s in dropped.steps
        if isinstance(s, LockStep) and s.lock.text == first_parent.lock.text
    ]
    assert other_site, "the other branch still takes the lock"
    releases = [
        s
        for s in dropped.steps
        if isinstance(s, UnlockStep) and s.lock.text == first_parent.lock.text
    ]
    assert releases and all(release.if_held for release in releases)


def test_the_mutations_of_a_program(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario(SCENARIO))
    found = mutants.mutations(model)
    kinds = {(m.kind, m.operation) for m in found}
    assert (mutants.Kind.DROP, "rmdir") in kinds
    assert (mutants.Kind.WEAKEN, "link") in kinds
    assert (mutants.Kind.SWAP, "rename") in kinds
    assert not any(m.kind is mutants.Kind.WEAKEN and m.lock == "rename_lock" for m in found)
    assert not any(m.kind is mutants.Kind.WEAKEN and m.lock == "s_vfs_rename_sem" for m in found)
    swap = next(m for m in found if m.kind is mutants.Kind.SWAP)
    program = _program(shipped, "rename")
    swapped = swap.apply(program)
    names = mutants.site_names(program)
    first, second = next(
        (a, b)
        for a, b in program.acquisitions_in_turn()
        if (names[mutants.site_of(a)], names[mutants.site_of(b)]) == swap.sites
    )
    order = [s for s in swapped.steps if s in (first, second)]
    assert order == [second, first]
    weakened = next(m for m in found if m.kind is mutants.Kind.WEAKEN).apply(program)
    assert any(isinstance(s, LockStep) and s.mode is Mode.SHARED for s in weakened.steps)


def test_mutation_names_are_variants(shipped: Registry) -> None:
    mutation = mutants.Mutation(
        mutants.Kind.SWAP, "rename", ("lock_rename:mutex_lock(a)", "lock_rename:lock(b)")
    )
    assert mutation.name == "mutant:swap@rename:lock_rename:mutex_lock(a) + lock_rename:lock(b)"
    assert mutants.parse(mutation.name) == mutation
    assert shipped.variant(mutation.name).name == mutation.name
    for bad in ("mutant:drop@rename", "mutant:nope@x:f:1", "mutant:swap@x:f:lock(a)"):
        assert mutants.parse(bad) is None


def test_mutation_names_survive_edits_that_move_lines(shipped: Registry) -> None:
    """A site is named by the function and the kernel code of the step,
    never by its file and line."""
    program = _program(shipped, "rmdir")
    names = mutants.site_names(program)
    assert "_remove:inode_lock_nested(path.dentry->d_inode, I_MUTEX_PARENT)" in names.values()
    assert not any(name.startswith("models/") for name in names.values())
    moved = attrs.evolve(
        program,
        items=tuple(
            attrs.evolve(item, source=attrs.evolve(item.source, line=item.source.line + 7))
            if isinstance(item, LockStep)
            else item
            for item in program.items
        ),
    )
    assert sorted(mutants.site_names(moved).values()) == sorted(names.values())


def test_the_victim_lock_of_rmdir_is_needed(analysis: mutate.Analysis) -> None:
    victim = _by(analysis, "drop", "rmdir", "inode_lock(dentry->d_inode)")
    assert (victim.verdict, victim.violated) == (Verdict.VIOLATED, "namespace")
    parent = _by(
        analysis, "drop", "link", "inode_lock_nested(path->dentry->d_inode, I_MUTEX_PARENT)"
    )
    assert parent.verdict is Verdict.VIOLATED


def test_the_findings_are_checked_on_every_scenario(analysis: mutate.Analysis) -> None:
    not_needed = {(e.mutation.operation, e.mutation.lock) for e in analysis.not_needed}
    assert ("rename", "rename_lock") in not_needed
    assert ("link", "i_rwsem(/c/e)") not in not_needed, "inc_nlink() from 0 warns"
    rename_lock = next(e for e in analysis.not_needed if e.mutation.lock == "rename_lock")
    assert {SCENARIO, "dirops/opposite-renames", "dirops/exchange"} <= set(rename_lock.passed)
    elsewhere = {
        (e.mutation.lock, scenario, prop)
        for e in analysis.needed_elsewhere
        for scenario, prop in e.broke
    }
    assert ("s_vfs_rename_sem", "dirops/opposite-renames", "deadlock") in elsewhere
    assert not any(e.mutation.lock == "s_vfs_rename_sem" for e in analysis.not_needed)
    assert analysis.unreached, "the branches this scenario does not take are listed"


def test_mutate_says_when_most_breaks_are_the_rule_table_s_alone(vfsmc: Run) -> None:
    """Most mutations of rename-up-vs-rmdir break spec-conformance only: the
    summary says so and how to see what each leads to; without that
    property checked the note is gone."""
    rule = vfsmc("mutate", "dirops/rename-up-vs-rmdir", "--no-save", "--no-progress")
    assert rule.exit_code == 0, rule.output
    note = next(line for line in rule.output.splitlines() if line.startswith("note: "))
    assert "broke only spec-conformance" in note and "--no-property spec-conformance" in note
    semantic = vfsmc(
        "mutate",
        "dirops/rename-up-vs-rmdir",
        "--no-save",
        "--no-progress",
        "--no-property",
        "spec-conformance",
    )
    assert semantic.exit_code == 0, semantic.output
    assert "broke only spec-conformance" not in semantic.output
    assert "are saved under" not in semantic.output


def test_vfsmc_mutate_prints_the_table_and_saves_replayable_traces(vfsmc: Run) -> None:
    result = vfsmc("mutate", SCENARIO, "--no-progress", *_semantic())
    assert result.exit_code == 0, result.output
    out = result.output
    header = next(line for line in out.splitlines() if line.startswith("mutation "))
    assert header.split() == [
        "mutation",
        "operation",
        "step",
        "lock",
        "source",
        "verdict",
        "property",
        "counterexample",
    ]
    assert "not needed within these bounds" in out
    assert "write_seqlock(&rename_lock) [rename_lock]" in out
    saved = sorted(Path("mutations").glob("*.json"))
    assert saved
    assert "the counterexamples of the mutants found are saved under mutations/ (--out" in out
    victim = next(p for p in saved if "rmdir" in p.name and "drop" in p.name)
    replayed = vfsmc("replay", str(victim))
    assert replayed.exit_code == 1, replayed.output
    assert vfsmc("replay", str(victim), "--correct").exit_code == 0


def test_vfsmc_mutate_json(vfsmc: Run) -> None:
    result = vfsmc("mutate", SCENARIO, "--json", "--no-save", *_semantic())
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["scenario"] == SCENARIO
    assert {m["kind"] for m in report["mutations"]} == {"drop", "weaken", "swap"}
    assert all(m["counterexample"] is None for m in report["mutations"])
    assert any(f["lock"] == "rename_lock" for f in report["not_needed"])
    name = next(m["name"] for m in report["mutations"] if m["verdict"] == "VIOLATED")
    checked = vfsmc("check", SCENARIO, "-V", name, "--no-save", "--json")
    assert checked.exit_code == 1
    assert json.loads(checked.output)["variants"] == [name]


def test_a_scenario_that_fails_unmutated_is_refused(vfsmc: Run) -> None:
    result = vfsmc("mutate", "dirops/opposite-renames", "-V", "no-rename-mutex")
    assert result.exit_code == 2
    assert "is VIOLATED (deadlock) before any mutation" in result.output


CRITICAL_SECTION = """\
from mc.dsl.operation import operation
from mc.dsl.scenario import scenario


def enter(fs, ino):
    slot = fs.world.inodes[ino].nlink
    if fs[slot] == 99:
        raise RuntimeError("two threads inside")
    fs[slot] = 99


def leave(fs, ino):
    fs[fs.world.inodes[ino].nlink] = 2


@operation(models="a critical section under i_rwsem")
def critical(op):
    a = op.inode("/a")
    op.lock(a.i_rwsem, label="inode_lock(a)")
    op.effect("enter", enter, a)
    op.effect("leave", leave, a)
    op.unlock(a.i_rwsem, label="inode_unlock(a)")


scenario("{name}", "two critical sections", tree=["/a/"], threads=[critical(), critical()])
"""


def test_a_step_that_raises_under_a_mutation_is_an_error_row(vfsmc: Run, tmp_path: Path) -> None:
    name = f"mutate-raises/{tmp_path.name}"
    (tmp_path / "critical.py").write_text(CRITICAL_SECTION.replace("{name}", name))
    result = vfsmc("mutate", f"critical.py:{name}", "--json", "--no-save")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    drop = next(m for m in report["mutations"] if m["kind"] == "drop")
    assert (drop["verdict"], drop["property"]) == ("ERROR", "step raised")
    assert drop["message"].startswith("critical.py:8: in enter: RuntimeError: two threads inside")
    assert report["not_needed"] == []
    text = vfsmc("mutate", f"critical.py:{name}", "--no-save").output
    summary = next(line for line in text.splitlines() if "ERROR step raised" in line)
    assert "(critical.py:8: in enter: RuntimeError: two threads inside" in summary


LINK_RENAME = """\
from mc.dsl.scenario import scenario
from mc.models.dirops import link, rename

scenario(
    "{name}",
    "a hard link of /c/e into /a racing a rename of /c/e into /a",
    tree=["/a/", "/c/", "/c/e"],
    threads=[link("/c/e", "/a/f"), rename("/c/e", "/a/x")],
)
"""


def test_a_mutant_of_a_scenario_in_a_model_file_replays_without_models(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Its counterexamples are saved beside the model file (in
    ``mutations/``, as vfsmc check saves into ``counterexamples/`` there)
    and record the file, as vfsmc check's do."""
    name = f"mutate-mine/{tmp_path.name}"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "link_rename.py").write_text(LINK_RENAME.replace("{name}", name))
    result = vfsmc("mutate", f"mine/link_rename.py:{name}", "--json", "--no-progress")
    assert result.exit_code == 0, result.output
    violated = [m for m in json.loads(result.output)["mutations"] if m["verdict"] == "VIOLATED"]
    assert violated
    for mutant in violated:
        saved = Path(mutant["counterexample"])
        assert saved.parent == Path("mine/mutations")
        assert json.loads(saved.read_text())["models"] == ["../link_rename.py"]
        replayed = vfsmc("replay", str(saved), "--json")
        assert replayed.exit_code == 1, replayed.output
        report = json.loads(replayed.output)
        assert (report["reproduced"], report["property"]) == (True, mutant["property"])
        assert report["variants"] == [mutant["name"]]
    drawn = vfsmc("graph", str(saved), "-o", "mutant.dot")
    assert drawn.exit_code == 0, drawn.output
    assert "warning" not in drawn.output


def test_every_mutation_is_in_exactly_one_summary_section(analysis: mutate.Analysis) -> None:
    sections = mutate.summary(analysis)
    total = len(analysis.results) + len(analysis.unreached)
    assert sum(count for _title, count, _lines in sections) == total
    unreached = next(s for s in sections if s[0].startswith("not reached"))
    assert unreached[1] == len(analysis.unreached) == len(unreached[2])
    text = mutate.render(analysis)
    for mutation in [r.mutation for r in analysis.results] + list(analysis.unreached):
        described = mutation.describe()
        shown = [line for line in text.split("summary:")[1].splitlines() if described in line]
        located = f"{mutation.operation}: {mutation.label} [{mutation.lock}] {mutation.source}"
        found = [line for line in text.split("summary:")[1].splitlines() if located in line]
        assert len(shown) + len(found) >= 1, described


def test_an_undecided_finding_names_the_missing_scenario(analysis: mutate.Analysis) -> None:
    rename_lock = next(e for e in analysis.not_needed if e.mutation.lock == "rename_lock")
    missing = analysis.hints[rename_lock.mutation.name].missing
    assert missing == (
        "dcache/d-path-vs-rename runs rename beside a thread that takes rename_lock and nothing "
        "broke: the race may need another tree or larger bounds, or a model that splits what "
        "the lock keeps whole (an effect is one step: an update the model makes in one cannot "
        "be torn)"
    )
    weakened = next(
        e
        for e in analysis.shared_suffices
        if e.mutation.operation == "link" and e.mutation.label == "inode_lock(inode)"
    )
    hint = analysis.hints[weakened.mutation.name]
    assert "no checked scenario runs link beside a thread that takes i_rwsem shared" in hint.missing
    # a second link, now taking it shared too, is a rival of its own
    assert "two threads of link, each now taking it shared" in hint.missing
    # the takers of a file's i_rwsem shared lock other files: pairing one with link would not
    # contend, so none is offered
    assert hint.missing.endswith(
        "each on another object than i_rwsem(/c/e), which it would have to take"
    )
    assert hint.offer is None


def test_the_offered_scenario_loads_and_passes(
    analysis: mutate.Analysis, vfsmc: Run, tmp_path: Path
) -> None:
    offers = [h.offer for h in analysis.hints.values() if h.offer is not None]
    assert offers
    (tmp_path / "offered.py").write_text(offers[0] + "\n")
    name = offers[0].split('scenario("', 1)[1].split('"', 1)[0]
    result = vfsmc("check", f"offered.py:{name}", "--no-save")
    assert result.exit_code == 0, result.output


def test_no_property_leaves_one_out_of_every_scenario(vfsmc: Run) -> None:
    result = vfsmc(
        "mutate",
        "dirops/opposite-renames",
        "--no-property",
        "spec-conformance",
        "--no-save",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["properties"] == ["lock-protocol", "deadlock", "completes", "livelock", "namespace"]
    assert data["undecided"], "the analysis says what it could not decide"
    assert vfsmc("mutate", "dirops/opposite-renames", "--no-property", "nope").exit_code == 2


def test_an_acquisition_run_along_with_another_step_is_mutated(shipped: Registry) -> None:
    """truncate's sb_start_write() in a scenario with no freezer runs as
    its thread starts (an uncontended read side), so no stored state has
    the thread there; it is reached all the same, and its drop is checked."""
    scenario = "truncate/truncate-vs-writeback"
    baseline = mutate._Baselines(shipped, (), None, Options(), ()).get(scenario)
    model = shipped.build(shipped.scenario(scenario))
    drops = [
        m
        for m in mutants.mutations(model)
        if m.kind is mutants.Kind.DROP and "sb_start_write" in m.label
    ]
    assert drops
    assert all(baseline.reaches(m) for m in drops)


def test_an_unwritable_out_keeps_the_analysis_and_warns(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``check`` keeps its verdict when a file cannot be written, the
    analysis is printed and each counterexample not saved is a warning (an
    --out that cannot be a directory is refused before the analysis)."""
    Path("blocker").write_text("a file, not a directory")
    refused = vfsmc("mutate", "dirops/opposite-renames", "--out", "blocker/sub")
    assert refused.exit_code == 2 and "blocker is not a directory" in refused.output

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mutate, "save_recorded", full)
    result = vfsmc("mutate", "dirops/opposite-renames", "--no-progress", "--json")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("vfsmc: warning")]
    assert warnings and all("No space left on device" in line for line in warnings)
    report = json.loads(result.output[: result.output.index("vfsmc: warning")])
    violated = [m for m in report["mutations"] if m["verdict"] == "VIOLATED"]
    assert len(violated) == len(warnings)
    assert all(m["counterexample"] is None for m in violated)


RMDIR_EXTRA = """\
from mc.dsl import Op, replaces
from mc.models.dirops import rmdir


@replaces(rmdir, "rmdir-extra-step", "rmdir with a step of its own after the shipped body")
def rmdir_extra(op: Op, path: str) -> None:
    op.run(rmdir.build, path)
    op.effect("/* nothing */", lambda state: None)
"""


def test_a_variant_is_left_out_of_the_scenarios_it_changes_nothing_in(vfsmc: Run) -> None:
    """A harmless mutation is checked on each other scenario under the
    run's variants that change it: one a variant changes nothing in is that
    scenario itself, checked without it, and the report says where."""
    Path("extra.py").write_text(RMDIR_EXTRA)
    args = ("mutate", SCENARIO, "--models", "extra.py", "-V", "rmdir-extra-step", "--no-save")
    result = vfsmc(*args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    left_out = report["changes_nothing_in"]["rmdir-extra-step"]
    assert "dirops/exchange" in left_out and SCENARIO not in left_out
    rename_lock = next(f for f in report["needed_elsewhere"] if f["lock"] == "rename_lock")
    assert {SCENARIO, "dirops/exchange"} <= set(rename_lock["passed"])
    assert {"scenario": "dcache/d-path-vs-rename", "property": "d-path"} in rename_lock["broke"]
    text = vfsmc(*args, "--no-progress")
    assert text.exit_code == 0, text.output
    [line] = [x for x in text.output.splitlines() if x.startswith("rmdir-extra-step changes")]
    assert line.startswith("rmdir-extra-step changes nothing in dcache/d-path-vs-rename, ")
    assert "dirops/exchange" in line and line.endswith(": checked there without it")
    shipped = vfsmc("mutate", SCENARIO, "-V", "no-trap-check", "--no-save", "--json")
    assert shipped.exit_code == 0, shipped.output
    assert json.loads(shipped.output)["changes_nothing_in"] == {
        "no-trap-check": ["dirops/rename-over-file-vs-link"]
    }
    analysed = vfsmc("mutate", "dirops/opposite-renames", "-V", "no-wait-writeback")
    assert analysed.exit_code == 2
    assert analysed.output == (
        "vfsmc: error: variant no-wait-writeback changes nothing in dirops/opposite-renames\n"
    )


def test_the_baselines_search_each_scenario_under_the_variants_that_change_it(
    shipped: Registry,
) -> None:
    baselines = mutate._Baselines(shipped, ("no-trap-check",), None, Options(), ())
    assert baselines.get(SCENARIO).variants == ("no-trap-check",)
    assert baselines.get("dirops/rename-over-file-vs-link").variants == ()


def test_a_run_with_no_property_to_check_is_refused_as_check_refuses_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A search without properties has no verdict: mutate says so in the
    line check says it in, exit 2, before it searches anything."""
    name = f"mutate-bare/{tmp_path.name}"
    Path("bare.py").write_text(
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import create\n\n"
        f'scenario("{name}", "a create", tree=["/a/"], threads=[create("/a/x")], properties=[])\n'
    )
    every = ("lock-protocol", "spec-conformance", "deadlock", "completes", "livelock", "namespace")
    excluded = [argument for prop in every for argument in ("--no-property", prop)]
    for command in ("check", "mutate"):
        bare = vfsmc(command, f"bare.py:{name}", "--no-save")
        assert bare.exit_code == 2, bare.output
        assert bare.output == (
            f"vfsmc: error: bare.py:4: scenario {name} checks no property: a search without "
            "properties has no verdict (name some with properties= or --property)\n"
        )
        none_left = vfsmc(command, "dirops/opposite-renames", "--no-save", *excluded)
        assert none_left.exit_code == 2, none_left.output
        assert none_left.output.startswith(
            f"vfsmc: error: --no-property leaves no property to check (of {', '.join(every)}): "
            "a search without properties has no verdict"
        )
        assert none_left.output.count("\n") == 1
        narrowed = vfsmc(
            command, SCENARIO, "--no-save", "-p", "deadlock", "--no-property", "deadlock"
        )
        assert narrowed.exit_code == 2, narrowed.output
        assert "--no-property leaves no property to check (of deadlock)" in narrowed.output
    assert not Path("mutations").exists()


FREEZE_WRITE = "sb_wait_write(sb, SB_FREEZE_WRITE): percpu_down_write(&sb->s_writers.rw_sem[0])"


def test_dropping_a_handed_off_acquisition_skips_its_hand_off(shipped: Registry) -> None:
    """freeze_super() hands the levels it took off to thaw: dropping one
    makes its hand-off (and thaw's take-over and release of it) if-held,
    so the mutant shows writers getting in, not a false lock-protocol error."""
    model = shipped.build(shipped.scenario("super/freeze-vs-writer"))
    [freezer] = [t for t in model.threads if t.invocation.operation.name == "freeze"]
    [drop] = [
        m
        for m in mutants.mutations(model)
        if m.kind is mutants.Kind.DROP and m.operation == "freeze" and m.label == FREEZE_WRITE
    ]
    dropped = drop.transform(freezer.program, freezer.invocation)
    hand_offs = [
        s
        for s in dropped.steps
        if isinstance(s, HandOffStep) and s.lock.text == drop.lock and not s.take
    ]
    assert hand_offs and all(s.if_held for s in hand_offs)
    outcome = check_scenario(shipped, "super/freeze-vs-writer", (drop.name,))
    assert outcome.result.violation is not None
    assert outcome.result.violation.property == "no-write-while-frozen"
    for scenario in ("super/two-freezers", "super/freeze-vs-sync"):
        for level in ("SB_FREEZE_PAGEFAULT", "SB_FREEZE_FS"):
            name = next(
                m.name
                for m in mutants.mutations(shipped.build(shipped.scenario(scenario)))
                if m.kind is mutants.Kind.DROP and f"sb_wait_write(sb, {level})" in m.label
            )
            violation = check_scenario(shipped, scenario, (name,)).result.violation
            assert violation is None or violation.property != "lock-protocol", violation.message


def _printed_offers(output: str) -> list[str]:
    """The scenarios mutate prints "to try", as a user would paste them."""
    offers, lines = [], output.splitlines()
    for at, line in enumerate(lines):
        if line.strip() != "vfsmc mutate FILE.py:NAME):":
            continue
        indent = len(lines[at + 1]) - len(lines[at + 1].lstrip())
        block = []
        for body in lines[at + 1 :]:
            if body.strip() and len(body) - len(body.lstrip()) < indent:
                break
            block.append(body[indent:])
        offers.append("\n".join(block).strip() + "\n")
    return offers


def _check_pasted(vfsmc: Run, folder: Path, offer: str) -> None:
    """The offer saved as a model file of its own in ``folder`` (each a
    new file: a process loads a model file once) checks as printed: it
    loads, builds and searches (its first 2,000 states: a verdict, or
    INCOMPLETE at the bound, never a model error)."""
    pasted = folder / f"offered_{len(list(folder.glob('offered_*.py')))}.py"
    pasted.write_text(offer)
    name = offer.split('scenario("', 1)[1].split('"', 1)[0]
    result = vfsmc("check", f"{pasted}:{name}", "--no-save", "--max-states", "2000")
    assert result.exit_code in (0, 1, 3), offer + result.output
    assert "states," in result.output, offer + result.output


def test_a_printed_offer_with_page_cache_threads_checks_as_printed(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Every name the offer uses is imported (File, Symbol...), and the
    thread completing I/O that its page cache needs runs in it."""
    result = vfsmc("mutate", "truncate/shrink-store-extend", "--no-save", "--workers", "2")
    offers = _printed_offers(result.output)
    assert offers, result.output
    assert any("Symbol(" in offer and "io_completion(" in offer for offer in offers)
    for offer in offers:
        _check_pasted(vfsmc, tmp_path, offer)


USER_OPERATION = """
from mc.dsl import SHARED, Op, operation, scenario
from mc.models.dirops import unlink


@operation(models="a stat that looks its name up inside a rename_lock read section")
def my_stat(op: Op, path: str) -> None:
    parent, name = path.rsplit("/", 1)
    dentry = op.dentry(op.inode(parent or "/"), name)
    seq = op.world.rename_lock
    op.lock(seq, SHARED, "read_seqbegin(&rename_lock)")
    op.lookup(dentry, "dentry", "dentry = __d_lookup_rcu(parent, &nd->last, &nd->next_seq)")
    op.unlock(seq, "read_seqretry(&rename_lock, seq)")


scenario(
    "my/stat-twice",
    "two stats of one name while it is unlinked",
    tree=["/a/", "/a/x"],
    threads=[my_stat("/a/x"), my_stat("/a/x"), unlink("/a/x")],
    properties=["lock-protocol", "deadlock", "completes", "namespace"],
)
"""


def test_a_printed_offer_imports_a_users_operation_from_the_users_file(
    vfsmc: Run, tmp_path: Path
) -> None:
    (tmp_path / "mystat_change.py").write_text(USER_OPERATION)
    result = vfsmc("mutate", f"{tmp_path / 'mystat_change.py'}:my/stat-twice", "--no-save")
    offers = _printed_offers(result.output)
    assert offers, result.output
    assert "vfsmc_models_" not in result.output
    assert any("from mystat_change import my_stat" in offer for offer in offers)
    assert any(f"# beside {tmp_path / 'mystat_change.py'}" in offer for offer in offers)
    for offer in offers:
        _check_pasted(vfsmc, tmp_path, offer)


def test_a_dropped_flc_lock_in_posix_unlock_is_a_lost_wake_up(vfsmc: Run) -> None:
    """posix_unlock() without flc_lock deletes T1's locks and wakes their
    waiters while T2 is between finding the conflict and queueing on it:
    T2 then waits for a wake-up that never comes, not for a lock T1 holds."""
    mutant = "mutant:drop@lock_two_ranges:posix_unlock:spin_lock(&ctx->flc_lock)"
    result = vfsmc("check", "filelock/posix-abba", "-V", mutant, "--no-save")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    headline = lines[lines.index(f"deadlock in filelock/posix-abba with variant {mutant}") + 1]
    assert headline == (
        "T2 waits for a wake-up that never comes: no thread holds a POSIX lock on /f 10-19 "
        "any more (a lost wake-up)"
    )
    assert "held by T1" not in result.output
    assert "blocked: waits for a wake-up that never comes" in result.output
    cycle = vfsmc("check", "filelock/posix-abba", "-V", "posix-skips-deadlock-check", "--no-save")
    assert (
        "T1 waits for a POSIX lock on /f 10-19 held by T2; T2 waits for a POSIX lock on /f "
        "0-9 held by T1" in cycle.output
    )


DPUT = "dcache/dput-vs-find-alias"
SPIN = (
    "mutant:spin@dput:lock_for_kill:"
    "lock_for_kill(): if (!inode || likely(spin_trylock(&inode->i_lock))) return true"
)


def test_a_trylock_is_spun_in_place(shipped: Registry) -> None:
    """The mutant of a trylock that backs off retries in place instead:
    its fail target is itself, every other step is kept, and the thread
    goes on holding d_lock while it spins."""
    model = shipped.build(shipped.scenario(DPUT))
    [spin] = [m for m in mutants.mutations(model) if m.kind is mutants.Kind.SPIN]
    assert (spin.name, spin.operation, spin.lock) == (SPIN, "dput", "i_lock(/a/x)")
    assert mutants.parse(spin.name) == spin
    assert shipped.variant(spin.name).name == spin.name
    [thread] = [t for t in model.threads if t.invocation.operation.name == "dput"]
    program = thread.program
    spun = spin.apply(program)
    for own, (before, after) in enumerate(zip(program.link(), spun.link(), strict=True)):
        if isinstance(before[0], TryLockStep):
            assert after[0] == attrs.evolve(before[0], target=after[0].target)
            assert before[2] != own and after[2] == own, "the busy trylock jumps to itself"
            assert after[1] == before[1], "a taken lock goes on as before"
        else:
            assert after == before


def test_a_spun_trylock_is_killed_by_livelock(vfsmc: Run) -> None:
    """dput()'s lock_for_kill() spinning on i_lock with d_lock held, against
    d_find_alias() holding i_lock and waiting for d_lock: the shipped
    variant lock-for-kill-spins, found as a mutant."""
    result = vfsmc("mutate", DPUT, "--json", "--no-save")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    [spin] = [m for m in report["mutations"] if m["kind"] == "spin"]
    assert (spin["name"], spin["verdict"], spin["property"]) == (SPIN, "VIOLATED", "livelock")
    assert "can only go round" in spin["message"]
    checked = vfsmc("check", DPUT, "-V", SPIN, "--no-save", "--json")
    assert checked.exit_code == 1
    assert json.loads(checked.output)["property"] == "livelock"


def test_no_spin_without_a_trylock_that_backs_off(shipped: Registry) -> None:
    """A scenario without trylocks has no spin mutant, nor has a trylock
    that already retries in place (lock-for-kill-spins)."""
    model = shipped.build(shipped.scenario(SCENARIO))
    assert not any(isinstance(s, TryLockStep) for t in model.threads for s in t.program.steps)
    assert not any(m.kind is mutants.Kind.SPIN for m in mutants.mutations(model))
    spinning = shipped.build(shipped.scenario(DPUT), ["lock-for-kill-spins"])
    assert not any(m.kind is mutants.Kind.SPIN for m in mutants.mutations(spinning))


TRUNCATE_VS_PUNCH = """\
from mc.dsl import File, scenario
from mc.models.truncate import punch_hole, truncate
from mc.models.writeback import io_completion

F = File("/f", pages=2, cached=(0, 1))

scenario(
    "my/truncate-vs-punch",
    "ftruncate(/f, 100) racing a hole punch of page 0",
    tree=["/f"],
    threads=[truncate(F, 100), punch_hole(F, 0, 4096), io_completion(F)],
    properties=["lock-protocol", "deadlock", "completes"],
)
"""


def test_acquisitions_with_branches_between_are_swapped(vfsmc: Run, tmp_path: Path) -> None:
    """do_truncate()'s inode_lock and ->setattr's filemap_invalidate_lock
    have a call, a symbolic test, a branch and inode_dio_wait() between
    them; taking invalidate_lock first inverts the order punch_hole keeps,
    which deadlocks."""
    (tmp_path / "trunc.py").write_text(TRUNCATE_VS_PUNCH)
    reg = with_files([tmp_path / "trunc.py"])
    model = reg.build(reg.scenario("my/truncate-vs-punch"), ())
    swaps = {
        (m.operation, m.label): m.name
        for m in mutants.mutations(model)
        if m.kind is mutants.Kind.SWAP
    }
    name = swaps[
        (
            "truncate",
            "do_truncate(): inode_lock(dentry->d_inode); filemap_invalidate_lock(inode->i_mapping)",
        )
    ]
    assert (
        "punch_hole",
        "ext4_punch_hole(): inode_lock(inode); filemap_invalidate_lock(mapping) "
        "/* no page faults may reinstantiate pages */",
    ) in swaps
    result = vfsmc("check", "trunc.py:my/truncate-vs-punch", "-V", name, "--json", "--no-save")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["property"] == "deadlock", report


def test_the_takers_of_a_lock_count_those_a_variant_inserts(tmp_path: Path) -> None:
    """A lock a variant adds inside a shipped body (inserts) has the
    operations that run that body among its takers once the variant is
    given (fallocate(2) and MADV_REMOVE run the hole punch), so a
    mutation of another thread's acquisition is not said to have no
    rival."""
    from mc.check import mutate_hints

    model_file = tmp_path / "gc.py"
    model_file.write_text(
        "from mc.dsl import EXCL, LockKind, Op, inserts\n"
        "from mc.models.truncate import punch_hole\n\n"
        "def take(op: Op, file, *_args) -> None:\n"
        "    gc = op.world.shared_lock(f'i_gc_rwsem({file.path})', LockKind.RWSEM)\n"
        "    op.lock(gc, EXCL, 'down_write(&i_gc_rwsem)')\n"
        "    op.unlock(gc, 'up_write(&i_gc_rwsem)')\n\n"
        "inserts(punch_hole, 'punch-takes-gc', 'x',\n"
        "        before={'filemap_invalidate_unlock(mapping)': take})\n"
    )
    registry = with_files([model_file])

    def gc_takers(variants: tuple[str, ...]) -> set[str]:
        found = mutate_hints.takers(registry, variants)
        return {t.invocation.operation.name for t in found if t.family == "i_gc_rwsem"}

    assert gc_takers(()) == set()
    assert gc_takers(("punch-takes-gc",)) == {"punch_hole", "fallocate", "madvise_remove"}


def test_a_mistyped_mutant_names_the_closest_one(vfsmc: Run) -> None:
    """A ``mutant:`` name that changes nothing (a wrong function part) is
    one line naming the closest mutant of the scenario."""
    typo = "mutant:drop@fsync:generic_file_fsync:__generic_file_fsync(): inode_lock(inode)"
    result = vfsmc("check", "writeback/write-vs-fsync", "-V", typo)
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        "(did you mean mutant:drop@fsync:file_fsync:__generic_file_fsync(): inode_lock(inode)?)"
    ), result.output


def test_mutants_checked_side_by_side_give_the_same_analysis(
    shipped: Registry, analysis: mutate.Analysis
) -> None:
    """``processes=2`` (``vfsmc mutate --workers 2``) checks the mutants
    and the harmless ones' other scenarios in two forked processes: the
    same results in the same order."""
    spread = mutate.analyse(shipped, SCENARIO, properties=SEMANTIC, processes=2)

    def shown(found: mutate.Analysis) -> list[tuple[object, ...]]:
        return [(r.mutation, r.verdict, r.violated, r.states) for r in found.results] + [
            (e.mutation, e.passed, e.broke) for e in found.evidence
        ]

    assert shown(spread) == shown(analysis)
    assert spread.evidence and spread.unreached == analysis.unreached


def test_an_rcu_section_not_needed_asks_for_a_grace_period_not_a_reader(
    shipped: Registry,
) -> None:
    """A dropped RCU read-side section is undecided for want of a thread
    that frees after a grace period; another reader is not offered."""
    from mc.check import mutate_hints

    found = mutate_hints.hint(
        shipped, [], "mmap_load", "rcu_read_lock", False, ["truncate/punch-vs-fault"]
    )
    assert found.offer is None
    assert "a thread that frees what mmap_load reads after a grace period" in found.missing


def test_a_file_s_lock_is_offered_a_rival_that_takes_a_file_s(shipped: Registry) -> None:
    """fsync's i_rwsem is a file's: a lookup taking a directory's i_rwsem
    shared can never contend with it, so the offer pairs fsync with a
    taker of a file's i_rwsem (an O_DIRECT write), which checks as printed."""
    from mc.check import mutate_hints

    takers = mutate_hints.takers(shipped)
    assert {t.object_kind for t in takers if t.family == "i_rwsem"} >= {"file", "directory"}
    found = mutate_hints.hint(
        shipped, takers, "fsync", "i_rwsem(/f)", True, ["writeback/write-vs-fsync"]
    )
    assert "lookup" not in found.missing, found.missing
    assert found.offer is not None and "dio_write(" in found.offer, found.offer


def test_each_call_site_of_a_helper_is_a_site_and_waits_are_not_mutated(
    shipped: Registry,
) -> None:
    """``start_handle(op, label)`` emits every journal handle from one model
    line: each call site's kernel code is a site of its own (dropping the
    page fault's handle leaves ``ext4_acquire_dquot()``'s), and the waits
    it makes lock steps (``WAIT_AS_LOCK``) are listed, not mutated."""
    model = shipped.build(shipped.scenario("quota/alloc-vs-sync"), ())
    found = mutants.mutations(model)
    handles = [m.label for m in found if m.kind is mutants.Kind.DROP and m.lock == "jbd2_handle"]
    assert "ext4_acquire_dquot(): handle = ext4_journal_start()" in handles
    assert any(label.startswith("ext4_page_mkwrite()") for label in handles)
    assert not any("wait_transaction_locked()" in m.label for m in found)
    assert any("wait_transaction_locked()" in line for line in mutants.sections(model))


TWO_IN_ORDER = """
from mc.dsl import EXCL, LockKind, Op, lock_order, operation, scenario
{declared}

@operation(models="takes two locks in the order the documented order or a lock_order gives")
def both_in_order(op: Op) -> None:
    outer = op.world.shared_lock("{outer}(/f)", LockKind.RWSEM)
    inner = op.world.shared_lock("{inner}(/f)", LockKind.RWSEM)
    op.lock(outer, EXCL, "down_write(outer)")
    op.lock(inner, EXCL, "down_write(inner)")
    op.unlock(inner, "up_write(inner)")
    op.unlock(outer, "up_write(outer)")


scenario("my/alone", "one thread takes two locks", tree=["/f"], threads=[both_in_order()])
"""


@pytest.mark.parametrize(
    ("outer", "inner", "declared", "where", "why"),
    [
        (
            "i_rwsem",
            "invalidate_lock",
            "",
            "specs/lockorder.toml",
            "i_rwsem before invalidate_lock (specs/lockorder.toml's chain 1)",
        ),
        (
            "my_outer",
            "my_inner",
            'lock_order("my_outer", "my_inner", source="myfs/inode.c")',
            "specs/lockorder.toml and lock_order at alone.py:3",
            "my_outer before my_inner (lock_order at alone.py:3)",
        ),
    ],
    ids=["documented", "lock_order"],
)
def test_a_swap_harmless_here_that_breaks_the_documented_order_is_said(
    vfsmc: Run, tmp_path: Path, outer: str, inner: str, declared: str, where: str, why: str
) -> None:
    """With one thread no swap can deadlock, but taking the inner lock
    first is against specs/lockorder.toml, or a lock_order() of the model
    file: the summary says so apart from the swaps merely harmless here."""
    (tmp_path / "alone.py").write_text(
        TWO_IN_ORDER.format(outer=outer, inner=inner, declared=declared)
    )
    result = vfsmc("mutate", "alone.py:my/alone", "--no-save")
    assert result.exit_code == 0, result.output
    against = result.output.split("order harmless here but against the documented lock order")[1]
    section, rest = against.split("\n\n", 1)
    assert section.splitlines()[0].endswith("(1):"), section
    assert f"takes {inner} before {outer}, which {where} orders the other way ({why})" in section
    plain = rest.split("order harmless here (swapped, checked in this scenario only) (0):")
    assert len(plain) == 2, rest


def test_a_swap_that_breaks_the_rule_table_first_says_what_it_breaks_beneath(vfsmc: Run) -> None:
    """Swapping flc_lock and blocked_lock_lock in generic_delete_lease()
    calls ->lm_change under blocked_lock_lock, which the rule table
    forbids and the search meets first; left out, the same swap is an ABBA
    deadlock with the opener: the summary says both."""
    result = vfsmc("mutate", "filelock/two-leases-vs-open", "--no-save", "--json")
    assert result.exit_code == 0, result.output
    swaps = [m for m in json.loads(result.output)["mutations"] if m["kind"] == "swap"]
    broke = [m for m in swaps if m["property"] == "spec-conformance"]
    assert broke and all(m["beneath"] == "deadlock" for m in broke), swaps
    assert all(m["beneath"] is None for m in swaps if m["property"] != "spec-conformance")
    text = vfsmc("mutate", "filelock/two-leases-vs-open", "--no-save").output
    assert "VIOLATED spec-conformance (without spec-conformance: deadlock)" in text


def test_a_scenario_whose_model_raises_tells_nothing_of_a_mutant_elsewhere(
    vfsmc: Run, tmp_path: Path, raising_reads: Callable[[Path], Path]
) -> None:
    """A harmless mutant is tried on the other scenarios; one whose own
    property's reads= raises is passed over, not the end of the run."""
    raising_reads(tmp_path)
    result = vfsmc("mutate", "mine.py:my/ok", "--no-save", "--no-progress")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("mutations of my/ok: ")


def test_no_scenario_is_offered_whose_rival_takes_another_object_s_lock(
    shipped: Registry,
) -> None:
    """take_lease's f_lock is its own open file's (f_lock(T1)): each rival
    paired with it takes the f_lock of a file of its own, so the pairing
    could never decide the drop, and none is offered; the global
    fasync_lock beside it is taken by the rival, and its pairing is."""
    from mc.check import mutate_hints

    takers = mutate_hints.takers(shipped)
    checked = [
        "filelock/lease-vs-open",
        "filelock/lease-vs-truncate",
        "filelock/two-leases-vs-open",
    ]
    own_file = mutate_hints.hint(
        shipped,
        takers,
        "take_lease",
        "f_lock(T1)",
        False,
        checked,
    )
    assert own_file.offer is None
    assert "no other thread takes f_lock(T1), the lock the step takes there" in own_file.missing
    assert "(they take f_lock(T2))" in own_file.missing
    shared = mutate_hints.hint(
        shipped,
        takers,
        "take_lease",
        "fasync_lock",
        False,
        checked,
    )
    assert shared.offer is not None and "delegate_then_setattr(" in shared.offer


def test_a_dropped_shared_acquisition_asks_for_an_exclusive_taker(shipped: Registry) -> None:
    """setxattr takes sb_writers shared (mnt_want_write()): another shared
    taker, or a second setxattr, never waits on it, so only a thread that
    takes it exclusive (a freeze) could decide the drop."""
    from mc.check import mutate_hints

    found = mutate_hints.hint(
        shipped,
        mutate_hints.takers(shipped),
        "setxattr",
        "sb_writers",
        False,
        ["xattr/two-sets", "xattr/remove-deleg"],
    )
    assert "beside a thread that takes sb_writers exclusive" in found.missing, found.missing
    assert "freeze" in found.missing and "two threads of setxattr" not in found.missing


ONE_RENAME = """\
from mc.dsl.scenario import scenario
from mc.models.dirops import rename

scenario("mutate-one/rename", "a rename between unrelated directories, alone",
         tree=["/a/", "/b/", "/a/d/"], threads=[rename("/a/d", "/b/g")])
"""


def test_a_branch_no_run_takes_is_not_reached(tmp_path: Path) -> None:
    """Alone, a rename between unrelated directories takes the parents'
    locks on lock_two_directories()'s unrelated branch, each run along with
    the step before it: the ancestor branch's acquisitions never run, so
    their mutations are not reached (not checked and found harmless)."""
    (tmp_path / "one.py").write_text(ONE_RENAME)
    registry = with_files((tmp_path / "one.py",))
    found = mutate.analyse(registry, "mutate-one/rename")
    reached = {(r.mutation.label, r.mutation.kind.value) for r in found.results}
    unreached = {(m.label, m.kind.value) for m in found.unreached}
    ancestor = "inode_lock_nested(p2->d_inode, I_MUTEX_PARENT)"
    unrelated = "inode_lock_nested(p1->d_inode, I_MUTEX_PARENT)"
    assert (ancestor, "drop") in unreached and (ancestor, "drop") not in reached
    assert (unrelated, "drop") in reached


GC_PROTOCOL = """
from mc.dsl import EXCL, File, LockKind, Op, inserts, scenario
from mc.models.truncate import mmap_load, punch_hole, truncate
from mc.models.writeback import io_completion


def take(op: Op, file, *_args) -> None:
    gc = op.world.shared_lock(f"i_gc_rwsem({file.path})", LockKind.RWSEM)
    op.lock(gc, EXCL, "down_write(&i_gc_rwsem)")
    op.unlock(gc, "up_write(&i_gc_rwsem)")


inserts(punch_hole, "my-gc", "x", before={"filemap_invalidate_unlock(mapping)": take})
inserts(truncate, "my-gc-truncate", "x",
        before={"filemap_invalidate_unlock(inode->i_mapping)": take})
F = File("/f", pages=1, cached=(0,))
scenario("my/punch-vs-load", "x", tree=["/f"],
         threads=[punch_hole(F, 0, 4096), mmap_load(F, 0), io_completion(F)],
         properties=["deadlock"], variants=["my-gc"])
scenario("my/truncate-vs-load", "x", tree=["/f"],
         threads=[truncate(F, 0), mmap_load(F, 0), io_completion(F)],
         properties=["deadlock"], variants=["my-gc-truncate"])
"""


def test_an_offered_scenario_keeps_the_protocol_variants_of_the_scenarios_paired(
    tmp_path: Path,
) -> None:
    """The lock a scenario's own variants insert (its protocol) is taken in
    the scenario offered to decide a drop of it only under those variants:
    the offer declares them, and its threads, built, take the lock."""
    from mc.check import mutate_hints

    model_file = tmp_path / "gc_protocol.py"
    model_file.write_text(GC_PROTOCOL)
    registry = with_files([model_file])
    found = mutate_hints.hint(
        registry,
        mutate_hints.takers(registry),
        "punch_hole",
        "i_gc_rwsem(/f)",
        False,
        ["my/punch-vs-load"],
    )
    assert found.offer is not None, found.missing
    assert "truncate(" in found.offer
    assert "variants=['my-gc', 'my-gc-truncate']" in found.offer
