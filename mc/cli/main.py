"""The ``vfsmc`` command line.

Exit codes: 0 OK (replay: no longer reproduces), 1 violation found (replay:
still reproduces), 2 bad input or usage, 3 incomplete (a bound or Ctrl-C
stopped the search), 4 internal error, 130 interrupted (see ``mc.cli.errors``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click

from mc.check import checkable, inventory, lockorder, recorded, side_by_side, usermodels
from mc.check.checker import (
    IneffectiveVariant,
    Outcome,
    Shortened,
    Spread,
    check_scenario,
    file_stem,
    refuse_ineffective,
    rule_broken,
)
from mc.check.coverage import coverage_lines
from mc.check.marks import variant_marks
from mc.check.recorded import default_out, does_not_replay, load_recorded
from mc.check.registry import build_model, with_files
from mc.check.regress import correct_protocol
from mc.check.replay import ReplayReport, ThreadsDiffer, replay, threads_differ
from mc.cli.completion import complete_property, complete_scenario, complete_variant
from mc.cli.errors import Group, echo_json, fail, message_of, one_line_errors, say, wrote
from mc.cli.options import (
    WORKERS_PER_CORE,
    Count,
    distinct,
    in_existing_directory,
    max_memory_option,
    models_option,
    most_workers,
    no_property_option,
    not_the_input,
    out_directory,
    output_file,
    por_option,
    time_limit_option,
    trace_file,
    variant_option,
    without,
)
from mc.cli.outcome import (
    against_json,
    against_notes,
    lockorder_command,
    outcome_json,
    save_outcome,
)
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry, Scenario, UnknownName
from mc.dsl.symmetry import representative, why_none
from mc.engine.explore import Options, UndeclaredRead
from mc.engine.reduction import turned_off_by
from mc.engine.result import Strategy, Verdict
from mc.kernel.world import ModelError
from mc.project import ROOT
from mc.spec.conformance import SPEC_CONFORMANCE
from mc.text import clipped, counted, printable, status_line
from mc.trace import format as cx_format
from mc.trace import graph as render_graph
from mc.trace import text as render_text


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vfsmc")
def main() -> None:
    """vfsmc: a model checker for the Linux VFS locking protocol."""


@main.command("list")
@click.argument("words", nargs=-1)
@models_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def list_command(words: tuple[str, ...], models: tuple[Path, ...], as_json: bool) -> None:
    """List scenarios, protocol variants and properties; with WORDS, those
    whose name or description holds every word (a scenario's also the
    operations its threads run, by the names `vfsmc ops` gives them, and
    the kernel code they follow: `vfsmc list write flusher`, `vfsmc list
    write_fd`)."""
    reg = with_files(models)
    failing: dict[str, dict[str, str]] = {}
    fitting = {
        name
        for name, scenario in reg.scenarios.items()
        if _fits(
            words,
            name,
            scenario.description,
            *(
                f"{thread} {thread.operation.name} {thread.operation.models}"
                for thread in scenario.threads
            ),
        )
    }
    unbuilt: dict[str, str] = {}
    with usermodels.reported():
        applies = inventory.applicable_variant_names(
            reg, failing, fitting if words else None, unbuilt
        )
    for name, why in sorted(unbuilt.items()):
        if name in fitting:
            say("note", f"scenario {name} does not build, so no variant is listed for it ({why})")
    for name, where in sorted(failing.items()):
        first, why = next(iter(sorted(where.items())))
        if len(where) == len(reg.scenarios):
            fail(why)
        others = f" and {counted(len(where) - 1, 'other')}" if len(where) > 1 else ""
        say(
            "note",
            f"variant {name} does not build on {first}{others}, so it is not listed there "
            f"({why}; vfsmc show {first} names the variants that fail there)",
        )
    scenarios = {name: scenario for name, scenario in reg.scenarios.items() if name in fitting}
    variants = {n: v for n, v in reg.variants.items() if _fits(words, n, v.description)}
    properties = {n: p for n, p in reg.properties.items() if _fits(words, n, p.description)}
    if words and not (scenarios or variants or properties):
        raise click.UsageError(f"nothing listed holds {' '.join(words)}")
    if as_json:
        echo_json(
            json.dumps(
                {
                    "scenarios": sorted(scenarios),
                    "applicable_variants": {n: applies[n] for n in sorted(scenarios)},
                    "variants": sorted(variants),
                    "properties": sorted(properties),
                    "details": {
                        "scenarios": {n: s.description for n, s in sorted(scenarios.items())},
                        "variants": {n: v.description for n, v in sorted(variants.items())},
                        "properties": {n: p.description for n, p in sorted(properties.items())},
                    },
                },
                indent=1,
            )
        )
        return
    tables: list[tuple[str, dict[str, str]]] = [
        ("scenarios", {n: s.description for n, s in scenarios.items()}),
        ("variants", {n: v.description for n, v in variants.items()}),
        ("properties", {n: p.description for n, p in properties.items()}),
    ]
    for title, table in tables:
        if not table:
            continue
        click.echo(f"{title}:")
        width = max(len(name) for name in table)
        for name, description in sorted(table.items()):
            click.echo(f"  {name:<{width}}  {description}")
            if title == "scenarios":
                click.echo(f"  {'':<{width}}  variants: {', '.join(applies[name]) or 'none'}")


def _fits(words: tuple[str, ...], *texts: str) -> bool:
    """Whether the texts together hold every one of ``words`` (case aside),
    each where a word of theirs begins if it begins with a letter or digit:
    ``write`` is in "writeback" and "i_write", ``lease`` not in "release"."""
    text = " ".join(texts).lower()
    return all(re.search(_word_start(word.lower()), text) for word in words)


def _word_start(word: str) -> str:
    return f"(?<![a-z0-9]){re.escape(word)}" if word[:1].isalnum() else re.escape(word)


def _progress(states: int, transitions: int, depth: int, seconds: float) -> None:
    rate = states / seconds if seconds else 0.0
    click.echo(
        status_line(
            f"{states:,} states, {transitions:,} transitions, depth {depth}, {seconds:.1f} s, "
            f"{rate:,.0f} states/s"
        ),
        err=True,
        nl=False,
    )


@main.command()
@click.argument("scenario", shell_complete=complete_scenario)
@variant_option("Apply a protocol variant (repeatable).")
@click.option(
    "--property",
    "-p",
    "properties",
    multiple=True,
    callback=distinct,
    shell_complete=complete_property,
    help="Check only these properties (repeatable).",
)
@no_property_option
@click.option("--bfs", "bfs", is_flag=True, help="Breadth-first: shortest traces (default).")
@click.option("--dfs", "dfs", is_flag=True, help="Depth-first.")
@click.option("--max-states", type=Count(), help="Stop after storing this many states.")
@click.option("--max-depth", type=Count(), help="Do not explore beyond this depth.")
@time_limit_option("Stop after this many seconds.")
@max_memory_option
@click.option(
    "--out",
    type=out_directory(),
    default=None,
    help="Directory for counterexample files [default: counterexamples, or for "
    "FILE.py:NAME the counterexamples directory beside FILE.py].",
)
@click.option(
    "--save/--no-save",
    default=True,
    show_default=True,
    help="Save the counterexample and its graph.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress line on stderr (default: when a terminal).",
)
@por_option
@click.option(
    "--exact",
    is_flag=True,
    help="Keep every state in full instead of 64-bit fingerprints.",
)
@click.option(
    "--audit-reads",
    is_flag=True,
    help="Check on every state that each property answers alike with every slot its "
    "reads= leaves out reset (slower; exit 2 naming the slot it reads undeclared).",
)
@click.option(
    "--lock-order/--no-lock-order",
    default=True,
    show_default=True,
    help="On an OK under variants, look for lock-class edges the variants take against "
    "the documented order (a search of at most 2,000 states without reduction).",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="List the steps no explored state ran (branches never taken, code a lock or "
    "test keeps the threads from), as SPIN's 'unreached in proctype' (one process).",
)
@click.option(
    "--symmetry",
    is_flag=True,
    help="Explore one of each set of states that differ by a permutation of threads "
    "running the same operation with the same arguments (no partial-order reduction; "
    "sound for properties that look at such threads alike).",
)
@click.option(
    "--workers",
    type=Count(),
    default=1,
    show_default=True,
    help=(
        "Breadth-first search over this many worker processes (at most 4 a core here; "
        "a Ray cluster's CPUs with --address)."
    ),
)
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where the workers run: processes forked here, or Ray actors.",
)
@click.option(
    "--address",
    help="The Ray cluster to join (default: start a local Ray instance; 'auto': this node's).",
)
@models_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def check(
    scenario: str,
    variants: tuple[str, ...],
    properties: tuple[str, ...],
    excluded: tuple[str, ...],
    bfs: bool,
    dfs: bool,
    max_states: int | None,
    max_depth: int | None,
    time_limit: float | None,
    max_memory: int | None,
    out: Path | None,
    save: bool,
    progress: bool | None,
    reduce: bool,
    exact: bool,
    audit_reads: bool,
    lock_order: bool,
    coverage: bool,
    symmetry: bool,
    workers: int,
    backend: str,
    address: str | None,
    models: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Explore every interleaving of SCENARIO and check its properties.

    SCENARIO may be FILE.py:NAME, a scenario declared in a model file."""
    began = time.monotonic()
    if bfs and dfs:
        raise click.UsageError("--bfs and --dfs ask for two searches; give one")
    if save and out is None:
        _refuse_unusable_default_out(default_out(scenario))
    strategy = "dfs" if dfs else "bfs"
    show_progress = sys.stderr.isatty() if progress is None else progress
    options = Options(
        strategy=Strategy(strategy),
        max_states=max_states,
        max_depth=max_depth,
        time_limit=time_limit,
        max_memory=max_memory,
        progress=_progress if show_progress else None,
        interruptible=True,
        reduce=reduce,
        exact=exact,
        audit_reads=audit_reads,
    )
    if address is not None and backend != "ray":
        raise click.UsageError("--address needs --backend ray")
    files = [*models, *([scenario.split(".py:", 1)[0] + ".py"] if ".py:" in scenario else [])]
    loading = f"loading {', '.join(map(str, files))}" if files else f"finding {scenario}"
    with checkable.building_within(time_limit, loading):
        reg = with_files(models)
        name = usermodels.resolve(scenario, reg)
        if reg.lock_orders:
            lockorder.load_documented().declared_by(reg.lock_orders)
    chosen = without(reg, name, properties, excluded)
    if coverage and symmetry:
        raise click.UsageError(
            "--coverage counts the steps of every thread, --symmetry explores one of "
            "interchangeable threads' orders: give one"
        )
    spread = None
    if backend == "ray" or workers > 1:
        if strategy != "bfs":
            raise click.UsageError("--workers and --backend ray search breadth-first (no --dfs)")
        if symmetry:
            raise click.UsageError("--symmetry searches in one process (no --workers or ray)")
        if audit_reads:
            raise click.UsageError("--audit-reads searches in one process (no --workers or ray)")
        if coverage:
            raise click.UsageError("--coverage counts in one process (no --workers or ray)")
        most = most_workers()
        if workers > most and address is None:
            raise click.UsageError(
                f"--workers {workers}: at most {most} on this machine ({WORKERS_PER_CORE} a "
                "core; more only share the cores), or --backend ray --address on a cluster"
            )
        sources = [Path(path).resolve() for path in models]
        if ".py:" in scenario:
            sources.append(Path(scenario.split(".py:", 1)[0] + ".py").resolve())
        spread = Spread(
            workers, backend == "ray", address, functools.partial(build_model, tuple(sources))
        )
    with usermodels.reported():
        with checkable.building_within(time_limit, f"building the model of {name}"):
            found = reg.scenario(name)
            notes = [
                *inventory.variant_overlaps(reg, found, variants),
                *inventory.unguarding_notes(reg, found, variants),
            ]
            for text in notes:
                say("note", text)
            unexplored_races = [
                *inventory.unlocked_section_notes(reg, found, variants),
                *inventory.dropped_lock_notes(reg, found, variants),
            ]
        against_order = (
            side_by_side.meanwhile(
                functools.partial(lockorder.against_documented, reg, name, variants, time_limit)
            )
            if variants and lock_order and spread is None and (os.cpu_count() or 1) > 1
            else None
        )
        try:
            try:
                outcome = check_scenario(
                    reg, name, variants, chosen, options, spread, symmetry, coverage
                )
            except UndeclaredRead as error:
                fail(str(error))
        except BaseException:
            if against_order is not None:
                against_order.cancel()
            raise
        omitted, unlocated = _left_out(reg, outcome.scenario) if chosen is None else ([], {})
    if show_progress and outcome.result.stats.seconds >= 1.0:
        click.echo("", err=True)
    target = out or default_out(scenario)
    checked = outcome.scenario.properties
    named, left_out = (
        (chosen, ()) if properties else (None, tuple(n for n in excluded if n in checked))
    )
    stem = _stem(outcome, named, left_out, dfs)
    against, broken, unlooked = None, None, []
    if variants and outcome.result.verdict is Verdict.OK:

        def left() -> float | None:
            return None if time_limit is None else time_limit - (time.monotonic() - began)

        if lock_order and spread is None:
            against, why = _afterwards(
                "look for lock-class edges against the documented order",
                against_order.result
                if against_order is not None
                else lambda: lockorder.against_documented(reg, name, variants, left()),
                left(),
            )
            unlooked += [why] if why else []
            if against is not None and against.stopped:
                unlooked.append(
                    "the look for lock-class edges against the documented order stopped "
                    f"({against.stopped}): an edge the variants take past it is not judged "
                    f"({lockorder_command(name, variants, files)} explores every state)"
                )
        if SPEC_CONFORMANCE in checked and SPEC_CONFORMANCE not in outcome.result.properties:
            broken, why = _afterwards(
                "look for the locking rule the variants break",
                lambda: rule_broken(reg, name, variants, left()),
                left(),
            )
            unlooked += [why] if why else []
    if against_order is not None:
        against_order.cancel()
    after_the_search = inventory.unmatched_insertions(outcome.model)
    if outcome.result.verdict is not Verdict.VIOLATED:
        after_the_search += unexplored_races
    for text in after_the_search:
        say("note", text)
    notes += after_the_search
    if as_json:
        saved = save_outcome(reg, outcome, target, stem) if save else {}
        searched = {"reduction": reduce and not symmetry, "symmetry": symmetry}
        report = {
            **outcome_json(outcome, saved, _unsaved_trace(reg, outcome, saved)),
            **searched,
            "omitted": omitted,
            "against_lock_order": None if against is None else against_json(against.found),
            "breaks_rule": broken,
            "looks_skipped": unlooked,
            "variant_notes": notes,
        }
        echo_json(json.dumps(report, indent=1))
    else:
        try:
            _print_check(outcome, reduce and not symmetry)
            for line in against_notes(against.found if against else (), name, variants, files):
                click.echo(printable(line))
            for why in unlooked:
                click.echo(printable(f"  note: {why}"))
            if broken is not None:
                click.echo(
                    printable(
                        "  note: OK without spec-conformance, which the variants break "
                        f"({broken}): no property checked sees harm from it within these "
                        "bounds, which does not make the change safe (the rule may guard "
                        "what no property checks)"
                    )
                )
        except OSError:
            if save:
                save_outcome(reg, outcome, target, stem)
            raise
        if save:
            _save_saying(reg, outcome, target, stem)
    stale = _stale_counterexample(outcome, target / f"{stem}.json") if save else None
    if stale is not None:
        say("note", _stale_note(outcome, stale))
    if symmetry and representative(outcome.model) is None:
        say(
            "note",
            f"no threads of {name} are interchangeable: {why_none(outcome.model)}; "
            "--symmetry changes nothing here (partial-order reduction applies as without it)",
        )
    elif symmetry and reduce:
        say(
            "note",
            "--symmetry searches without partial-order reduction, which the default run "
            "applies: compare the two runs' states before keeping either",
        )
    for prop, why in unlocated.items():
        say(
            "note",
            f"property {prop} is not checked on {name}: {why.split(f'property {prop}: ', 1)[-1]}",
        )
    if omitted and not as_json and outcome.result.verdict is not Verdict.VIOLATED:
        say(
            "note",
            f"the operations of {name} also make {', '.join(omitted)} checkable; "
            f"add {'it' if len(omitted) == 1 else 'them'} to the scenario's properties=[...] "
            "(-p checks only the properties it names: name the scenario's own as well)",
        )
    sys.exit(outcome.result.verdict.exit_code)


T = TypeVar("T")


def _afterwards(what: str, look: Callable[[], T], left: float | None) -> tuple[T | None, str]:
    """``look()``, a search an OK under variants runs after the verdict,
    with what it found; or None and why it gave nothing: the time limit
    used up, Ctrl-C, or a model error in it, none of which costs the
    verdict already found."""
    if left is not None and left <= 0:
        return None, f"no {what}: the search used up --time-limit"
    try:
        with usermodels.reported():
            return look(), ""
    except KeyboardInterrupt:
        return None, f"no {what}: interrupted"
    except (ModelError, side_by_side.ChildDied) as error:
        return None, f"no {what}: {message_of(error)}"


DEPTH_FIRST_SUFFIX = ".dfs"
"""What a depth-first run's counterexample file name adds to the stem of
the run (``file_stem`` never writes a ``.``): it does not replace the
shortest trace a breadth-first run saved."""


def _stem(
    outcome: Outcome,
    properties: tuple[str, ...] | None,
    excluded: tuple[str, ...],
    depth_first: bool,
) -> str:
    """The name the run's counterexample is saved under: the run's
    ``file_stem``, which says how ``properties`` (those named) or
    ``excluded`` (those left out) narrowed it, marked when the search was
    ``depth_first``."""
    stem = file_stem(outcome.scenario.name, outcome.variants, properties or None, excluded)
    return stem + DEPTH_FIRST_SUFFIX if depth_first else stem


def _stale_counterexample(outcome: Outcome, path: Path) -> Path | None:
    """The counterexample an earlier run saved under this run's name
    (``path``), when this run is OK: it no longer shows what it did."""
    if outcome.result.verdict is not Verdict.OK:
        return None
    return path if path.is_file() else None


def _stale_note(outcome: Outcome, stale: Path) -> str:
    """What to do with ``stale``: replay it, or, when it records other
    threads than the scenario has now (or cannot be read), remove it."""
    try:
        differ = threads_differ(outcome.model, cx_format.load(stale))
    except (OSError, ValueError) as error:
        differ = f"it cannot be read ({message_of(error)})"
    earlier = f"{stale} is from an earlier run that found a violation this one does not"
    charts = [stale.with_suffix(suffix) for suffix in (".dot", ".svg")]
    beside = [chart.name for chart in charts if chart.is_file()]
    drawn = f", as {' and '.join(beside)} beside it are" if beside else ""
    if differ is not None:
        return (
            f"{earlier}{drawn}, of another form of the scenario ({differ}): it cannot replay here"
        )
    return (
        f"{earlier}{drawn} (vfsmc replay tells whether it still reproduces; remove "
        f"{'them' if beside else 'it'} once it is fixed)"
    )


def _left_out(reg: Registry, scenario: Scenario) -> tuple[list[str], dict[str, str]]:
    """For a scenario of the user's own: the properties its operations
    make available that its declaration leaves out, and for one declared
    without ``properties=``, those not added to it because their
    ``reads=`` names a slot it lacks (``checkable.left_out``)."""
    if not inventory.user_declared(scenario):
        return [], {}
    omitted, unlocated = checkable.left_out(reg, scenario)
    return omitted, {} if scenario.properties_given else unlocated


def _save_saying(reg: Registry, outcome: Outcome, out: Path, stem: str) -> None:
    """``save_outcome`` that says each file as it is written; standard output
    closed meanwhile (``| head``) stops the saying, not the saving: the
    error is raised once every file is written."""
    lost: list[OSError] = []

    def say(kind: str, path: Path) -> None:
        if not lost:
            try:
                click.echo(f"{kind}: {path}")
            except OSError as error:
                lost.append(error)

    save_outcome(reg, outcome, out, stem, say)
    if lost:
        raise lost[0]


def _unsaved_trace(
    reg: Registry, outcome: Outcome, saved: dict[str, Path]
) -> dict[str, Any] | None:
    """The counterexample a run did not save, as a saved file would hold
    it: the model files it needs named relative to the current directory,
    so that written to a file there it replays as it is."""
    if outcome.counterexample is None or "counterexample" in saved:
        return None
    return recorded.recorded_in(
        reg, outcome.scenario, outcome.variants, outcome.counterexample, Path.cwd()
    ).to_json()


def _shortened(shortened: Shortened, steps: int) -> str:
    """What the search for a shorter trace than the reduced search's did."""
    searched = f"a search without reduction ({counted(shortened.states, 'state')})"
    if shortened.found:
        return f"{counted(steps, 'transition')}, where the reduced search's took " + (
            f"{shortened.steps_before}: {searched} found it"
        )
    if shortened.bounded:
        return (
            f"the reduced search's {counted(steps, 'transition')}; {searched} found no "
            "shorter one before its bound (--no-por searches every interleaving)"
        )
    return f"{counted(steps, 'transition')}, a shortest one: {searched} found none shorter"


LISTED_CHANGES = 4
"""How many unreached changed steps a check's note names before it counts
the rest (``--json`` lists every one)."""


def _unreached_note(changes: Sequence[str]) -> str:
    """The note of an OK that ran none of the steps the variants change."""
    if len(changes) <= LISTED_CHANGES:
        named = "a step the variants change (" + "; ".join(changes)
    else:
        shown = "; ".join(changes[: LISTED_CHANGES - 1])
        left = len(changes) - LISTED_CHANGES + 1
        named = (
            f"any of the {len(changes)} steps the variants change ({shown}; "
            f"and {left} more, which --json lists"
        )
    return (
        f"  note: no explored state runs {named}): this OK says nothing of the change; "
        "a scenario that reaches them would"
    )


def _print_check(outcome: Outcome, reduce: bool) -> None:
    result = outcome.result
    variants = f" with {', '.join(outcome.variants)}" if outcome.variants else ""
    click.echo(f"{outcome.scenario.name}{variants}: {result.verdict.value}")
    click.echo(f"  {outcome.scenario.description}")
    click.echo(f"  properties: {', '.join(result.properties)}")
    click.echo(f"  {result.stats.summary()}")
    shortened, violation = outcome.shortened, result.violation
    if violation is not None and violation.path is not None:
        transitions = len(violation.path.actions)
        numbered = len(outcome.counterexample.steps) if outcome.counterexample else transitions
        chained = (
            f" ({numbered} numbered steps: those marked + run along with the step before)"
            if numbered != transitions
            else ""
        )
        if shortened is not None:
            click.echo(f"  trace: {_shortened(shortened, transitions)}{chained}")
        elif chained:
            click.echo(f"  trace: {counted(transitions, 'transition')}{chained}")
    if result.verdict is Verdict.INCOMPLETE:
        click.echo(
            f"  incomplete: {result.incomplete_reason}; no verdict beyond the states explored"
        )
    undeclared = turned_off_by(outcome.model.properties()) if reduce else []
    if undeclared:
        click.echo(
            f"  note: no partial-order reduction: {', '.join(undeclared)} "
            f"{'does' if len(undeclared) == 1 else 'do'} not say what "
            f"{'it reads' if len(undeclared) == 1 else 'they read'} (reads=), so the search "
            "explores every interleaving"
        )
    if outcome.unreached_changes:
        click.echo(printable(_unreached_note(outcome.unreached_changes)))
    waived = sorted(outcome.model.world.waivers)
    if waived and SPEC_CONFORMANCE in result.properties:
        click.echo(
            printable(
                "  note: spec-conformance lets pass the rules the variants waive ("
                + ", ".join(waived)
                + "): their calls are not checked against them"
            )
        )
    needs = outcome.model.world.unchecked_needs
    if needs and SPEC_CONFORMANCE in result.properties:
        click.echo(
            printable(
                "  note: spec-conformance cannot check "
                + "; ".join(needs)
                + " (name the object with op.call(..., roles={ROLE: ...}); vfsmc spec show "
                "TABLE.METHOD lists each need's role)"
            )
        )
    if result.unvaried:
        one = len(result.unvaried) == 1
        click.echo(
            f"  note: what {', '.join(result.unvaried)} {'reads' if one else 'read'} is the "
            "same in every state reached: no step of this run changed it, so "
            f"{'its' if one else 'their'} OK rests on one configuration"
        )
    for name, count in sorted(outcome.unchecked_errors.items()):
        click.echo(
            f"  note: {count} state(s) end in a {name} violation, which this run does not check "
            f"and explores no further (add --property {name})"
        )
    if outcome.coverage is not None:
        for line in coverage_lines(outcome.model, outcome.coverage):
            click.echo(printable(f"  {line}"))
    if result.violation is not None and result.violation.property == SPEC_CONFORMANCE:
        others = [name for name in result.properties if name != SPEC_CONFORMANCE]
        if others:
            waiver = (
                " give the variant waives=[the rule]"
                if outcome.variants
                else ", where the protocol breaks the rule knowingly (a caller the document's "
                "table does not foresee), list a variant with waives=[the rule] in the "
                "scenario's variants=[...]"
            )
            click.echo(
                "  note: the search stops at the first broken locking rule; to see what the "
                "change leads to ("
                + ", ".join(others[:4])
                + (", ..." if len(others) > 4 else "")
                + f"), check with --no-property spec-conformance or{waiver} (an OK then "
                "means no property checked sees harm within these bounds, not that the "
                "change is safe)"
            )
    if result.violation is not None:
        click.echo("")
        if outcome.counterexample is not None:
            click.echo(render_text.render(outcome.counterexample))
        else:
            click.echo(f"{result.violation.property}: {result.violation.message}")


@main.command("replay")
@click.argument("file", type=trace_file())
@click.option(
    "--correct",
    is_flag=True,
    help="Replay on the correct protocol (without the recorded variants).",
)
@click.option(
    "--on",
    "on",
    multiple=True,
    callback=distinct,
    shell_complete=complete_variant,
    help="Replay on the protocol under these variants instead of the recorded ones "
    "(repeatable): a fix, or a change's own correct locking with its bug left out.",
)
@models_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def replay_command(
    file: Path, correct: bool, on: tuple[str, ...], models: tuple[Path, ...], as_json: bool
) -> None:
    """Re-execute a saved counterexample on today's models."""
    if correct and on:
        raise click.UsageError("--correct replays on no variant, --on on those it names: give one")
    counterexample = cx_format.load(file)
    reg = with_files(models)
    recorded.load_recorded(reg, file, counterexample, given=bool(models))
    variants = on if on else () if correct else counterexample.variants
    if counterexample.scenario not in reg.scenarios:
        loaded = [] if models else recorded.recorded_files(file, counterexample)
        if models:
            hint = "none of the model files given declares it" + _replaced(counterexample, models)
        elif loaded:
            files = {path.resolve() for path in loaded}
            theirs = sorted(
                name
                for name, each in reg.scenarios.items()
                if each.declared is not None and Path(each.declared.file).resolve() in files
            )
            hint = (
                f"the model file the trace records ({', '.join(str(path) for path in loaded)}) "
                "declares no scenario of that name today (renamed or removed? check the new "
                f"name to save a trace of it); it declares {', '.join(theirs) or 'none'}"
            )
        else:
            hint = "if a model file of yours declares it, pass the file with --models FILE"
        raise UnknownName(f"{file}: unknown scenario {counterexample.scenario!r}: {hint}")
    try:
        with usermodels.reported():
            scenario = reg.scenario(counterexample.scenario)
            recorded.refuse_inapplicable_properties(reg, file, counterexample)
            model = checkable.built(reg, scenario, variants, counterexample.properties)
            report = replay(model, counterexample, regroup=variants != counterexample.variants)
            _refuse_ineffective_variants(
                reg, model, scenario, variants, report.reproduced, named=bool(on)
            )
    except UnknownName as error:
        raise UnknownName(f"{file}: {error}{_replaced(counterexample, models)}") from None
    except ThreadsDiffer as error:
        raise ThreadsDiffer(f"{file}: {error}") from None
    if counterexample.edited:
        _edited_since_saved(file, report)
    checked = attrs.evolve(counterexample, variants=on) if on else counterexample
    stale = None if report.reproduced or correct else _still_violated(reg, checked)
    if as_json:
        found = _replay_json(counterexample, variants, report)
        echo_json(json.dumps({**found, "still_violated_by_check": stale}, indent=1))
    else:
        _print_replay(counterexample, variants, report, scenario.variants)
        if correct and len(counterexample.variants) > 1:
            names = ", ".join(counterexample.variants)
            click.echo(
                printable(
                    f"(--correct drops every variant the trace records, {names}; to drop one "
                    "alone, as the change under test apart from a scenario's setting, replay "
                    "with --on and the others)"
                )
            )
        if stale is not None:
            click.echo(
                printable(
                    _stale_text(_check_command(reg, checked), checked, stale, elsewhere=bool(on))
                )
            )
    sys.exit(1 if report.reproduced or stale else 0)


STALE_CHECK_SECONDS = 60.0
"""How long ``replay`` checks a scenario whose trace no longer replays on
the variants it records, to tell a stale trace from a fix."""


def _still_violated(reg: Registry, counterexample: cx_format.Counterexample) -> bool | None:
    """Whether the trace's scenario under its variants still violates its
    property (a check of at most ``STALE_CHECK_SECONDS``): True when the
    trace is stale (its steps changed since it was saved) and the bug is
    still there, False when the check finds it no more, None when the
    check cannot tell (bounded, or it cannot be run)."""
    options = Options(time_limit=STALE_CHECK_SECONDS)
    try:
        with usermodels.reported():
            outcome = check_scenario(
                reg,
                counterexample.scenario,
                counterexample.variants,
                counterexample.properties,
                options,
            )
    except Exception:  # advice on top of the replay's answer: it cannot tell then
        return None
    result = outcome.result
    if result.verdict is Verdict.INCOMPLETE:
        return None
    violation = result.violation
    return violation is not None and violation.property == counterexample.property


def _check_command(reg: Registry, counterexample: cx_format.Counterexample) -> str:
    """The ``vfsmc check`` of a trace's scenario under its variants, as a
    user runs it: ``FILE.py:NAME`` for a scenario of a model file, with
    ``--models`` for the other files its variants come from."""
    scenario = reg.scenarios.get(counterexample.scenario)
    target, loaded, files = counterexample.scenario, set(), []
    if scenario is not None and scenario.declared and inventory.user_declared(scenario):
        target = f"{scenario.declared.file}:{target}"
        loaded.add(scenario.declared.file)
    for name in counterexample.variants:
        declared = reg.variants[name].declared if name in reg.variants else None
        if declared and inventory.user_declared(reg.variants[name]) and declared.file not in loaded:
            loaded.add(declared.file)
            files.append(declared.file)
    models = "".join(f" --models {file}" for file in files)
    variants = "".join(f" -V {name}" for name in counterexample.variants)
    return f"vfsmc check {target}{models}{variants}"


def _stale_text(
    command: str, counterexample: cx_format.Counterexample, stale: bool, elsewhere: bool = False
) -> str:
    """What the check (``command``) of a trace's scenario that no longer
    replays says; ``elsewhere``: the trace was replayed on other variants
    than those it records (``replay --on``), which the check is of."""
    if stale and elsewhere:
        return (
            f"but {command} still finds {counterexample.property}: these variants take the "
            "trace's steps apart, not the bug; not a fix; that check saves a trace of it"
        )
    if stale and counterexample.undigested:
        return (
            f"but {command} still finds {counterexample.property}: the trace, which records "
            "no digest (written or edited by hand), does not lead there as it stands, or its "
            "steps changed since; not a fix; that check saves one that does"
        )
    if stale:
        return (
            f"but {command} still finds {counterexample.property}: the trace is stale (its "
            "steps changed since it was saved), not a fix; that check saves a new one"
        )
    return f"and {command} finds no {counterexample.property} either: a fix"


def _refuse_unusable_default_out(directory: Path) -> None:
    """A usage error before the search when the directory a counterexample
    would be saved in by default is a file or a link to nothing, as
    ``--out`` is refused."""
    if directory.is_symlink() and not directory.exists():
        problem = "a link to nothing"
    elif directory.exists() and not directory.is_dir():
        problem = "a file, not a directory"
    else:
        return
    raise click.UsageError(
        f"{directory} is {problem}: a counterexample found could not be saved there "
        "(--out DIR for another place, --no-save for none)"
    )


def _refuse_ineffective_variants(
    registry: Registry,
    model: KernelModel,
    scenario: Scenario,
    variants: Sequence[str],
    reproduced: bool,
    named: bool = False,
) -> None:
    """The error ``check`` gives for a variant of the trace that changes
    nothing today: a trace that no longer reproduces so (its change, or a
    mutant's site, gone from the models) says nothing of a fix, and one
    that reproduces does not owe it to that variant; ``named``: the
    variants are those ``replay --on`` names, not the trace's."""
    try:
        refuse_ineffective(registry, model, scenario, variants)
    except IneffectiveVariant as error:
        why = (
            "replay --on takes the variants that change the scenario"
            if named
            else "the trace reproduces without it, and check refuses such a variant: drop it "
            "from the trace's variants"
            if reproduced
            else "the trace no longer reproduces because its change is gone from the "
            "models, which says nothing of a fix"
        )
        raise IneffectiveVariant(f"{error}: {why}") from None


def _edited_since_saved(file: Path, report: ReplayReport) -> None:
    """A file edited since vfsmc saved it: a replay that fails is no
    evidence of a fix (one-line error, exit 2); one that reproduces is
    said to come from an edited file."""
    if not report.reproduced:
        raise cx_format.FormatError(
            printable(recorded.edited_and_lost(file, report.stopped_at, report.reason))
        )
    say("note", recorded.edited_since_saved(file))


def _replaced(counterexample: cx_format.Counterexample, models: tuple[Path, ...]) -> str:
    """What to say of the model files ``counterexample`` records when
    ``--models`` replaced them and a name is missing."""
    if not models or not counterexample.models:
        return ""
    recorded_files = ", ".join(counterexample.models)
    return f"; --models replaces the model files the trace records ({recorded_files})"


def _replay_json(
    counterexample: cx_format.Counterexample, variants: tuple[str, ...], report: ReplayReport
) -> dict[str, Any]:
    stopped = report.stopped_at
    step = counterexample.steps[stopped - 1] if stopped else None
    return {
        "scenario": counterexample.scenario,
        "variants": list(variants),
        "property": counterexample.property,
        "reproduced": report.reproduced,
        "steps": len(counterexample.steps),
        "replayed": report.replayed,
        "stopped_at": stopped,
        "stopped_step": None
        if step is None
        else {"thread": step.thread, "label": step.label, "source": step.source},
        "reason": report.reason,
        "vfsmc": str(ROOT),
    }


def _print_replay(
    counterexample: cx_format.Counterexample,
    variants: tuple[str, ...],
    report: ReplayReport,
    own: Sequence[str],
) -> None:
    protocol = f"variants {', '.join(variants)}" if variants else f"the {correct_protocol(own)}"
    if report.reproduced:
        edited = counterexample.edited and counterexample.message != report.reason
        shown = attrs.evolve(counterexample, message=report.reason) if edited else counterexample
        click.echo(render_text.render(shown))
        click.echo("")
        if edited:
            click.echo(printable(f"the file's edited message: {counterexample.message}"))
        click.echo(
            printable(f"reproduces on {protocol}: {counterexample.property}: {report.reason}")
        )
        click.echo(printable(f"replayed on the models of vfsmc in {ROOT}"))
        return
    recorded = render_text.render(counterexample, upto=report.stopped_at)
    recorded_on = f"as the file records it (on {protocol} it does not reproduce, as said below)"
    click.echo(f"{recorded_on}: {recorded}")
    click.echo("")
    click.echo(printable(f"replayed on the models of vfsmc in {ROOT}"))
    if report.stopped_at:
        step = counterexample.steps[report.stopped_at - 1]
        click.echo(
            printable(
                f"does not reproduce on {protocol}: step {report.stopped_at} "
                f"({step.thread} '{clipped(step.label)}', {step.source}) can no longer happen: "
                f"{report.reason}"
            )
        )
    else:
        click.echo(printable(f"does not reproduce on {protocol}: {report.reason}"))


@main.command()
@click.argument("file", type=trace_file())
@click.option(
    "-o",
    "--output",
    type=output_file(),
    required=True,
    callback=in_existing_directory,
    help="Output file: .svg, .png or .dot.",
)
@models_option
@one_line_errors
def graph(file: Path, output: Path, models: tuple[Path, ...]) -> None:
    """Draw a saved counterexample as a message-sequence chart (the steps
    its variants changed marked, when today's models can tell)."""
    not_the_input(output, file, "counterexample")
    render_graph.chart_format(output)
    counterexample = cx_format.load(file)
    reg = with_files(models)
    marks = None
    caveat: str | None = None
    try:
        with usermodels.reported():
            load_recorded(reg, file, counterexample, given=bool(models))
    except (UnknownName, ModelError) as error:
        caveat = f"its models could not be loaded ({error})"
    else:
        recorded.refuse_inapplicable_properties(reg, file, counterexample)
        unreplayed = does_not_replay(reg, counterexample, refuse_misfit=file)
        if unreplayed:
            caveat = f"this trace does not replay on today's models ({unreplayed})"
    if caveat is not None:
        caveat = counterexample.edit_said(caveat)
        click.echo(
            printable(f"vfsmc: warning: {file}: {caveat}: the chart shows the steps as recorded"),
            err=True,
        )
    else:
        try:
            with usermodels.reported():
                marks = variant_marks(reg, counterexample)
        except (UnknownName, ModelError) as error:
            message = f"{file}: steps the variants changed are not marked: {error}"
            click.echo(printable(f"vfsmc: warning: {message}"), err=True)
    render_graph.render(counterexample, output, marks, caveat)
    wrote(output)


main.add_lazy("regress", "mc.cli.regress:regress_command")
main.add_lazy("mutate", "mc.cli.regress:mutate_command")
main.add_lazy("lockorder", "mc.cli.lockorder:lockorder_command")
main.add_lazy("sweep", "mc.cli.sweep:sweep_command")
main.add_lazy("spec", "mc.cli.spec:spec")
main.add_lazy("drift", "mc.cli.drift:drift_command")
main.add_lazy("show", "mc.cli.show:show_command")
main.add_lazy("ops", "mc.cli.show:ops_command")
main.add_lazy("explain", "mc.cli.show:explain_command")
main.add_lazy("report", "mc.cli.report:report_command")
