"""The ``vfsmc`` command line.

Exit codes: 0 OK (replay: no longer reproduces), 1 violation found (replay:
still reproduces), 2 bad input or usage, 3 incomplete (a bound was hit).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from mc.check import usermodels
from mc.check.checker import Outcome, Spread, check_scenario, file_stem
from mc.cli.errors import one_line_errors
from mc.cli.options import models_option, por_option
from mc.cli.regress import mutate_command, regress_command
from mc.cli.spec import spec as spec_group
from mc.dsl.replay import ReplayReport, replay
from mc.engine.explore import Options
from mc.engine.result import Strategy, Verdict
from mc.trace import format as cx_format
from mc.trace import graph as render_graph
from mc.trace import text as render_text


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vfsmc")
def main() -> None:
    """vfsmc: a model checker for the Linux VFS locking protocol."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


@main.command("list")
@models_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def list_command(models: tuple[Path, ...], as_json: bool) -> None:
    """List scenarios, protocol variants and properties."""
    reg = usermodels.load_all(models)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "scenarios": sorted(reg.scenarios),
                    "variants": sorted(reg.variants),
                    "properties": sorted(reg.properties),
                    "details": {
                        "scenarios": {n: s.description for n, s in sorted(reg.scenarios.items())},
                        "variants": {n: v.description for n, v in sorted(reg.variants.items())},
                        "properties": {n: p.description for n, p in sorted(reg.properties.items())},
                    },
                },
                indent=1,
            )
        )
        return
    tables: list[tuple[str, dict[str, str]]] = [
        ("scenarios", {n: s.description for n, s in reg.scenarios.items()}),
        ("variants", {n: v.description for n, v in reg.variants.items()}),
        ("properties", {n: p.description for n, p in reg.properties.items()}),
    ]
    for title, table in tables:
        click.echo(f"{title}:")
        width = max(len(name) for name in table)
        for name, description in sorted(table.items()):
            click.echo(f"  {name:<{width}}  {description}")


def _progress(states: int, transitions: int, depth: int, seconds: float) -> None:
    rate = states / seconds if seconds else 0.0
    click.echo(
        f"\r{states:,} states, {transitions:,} transitions, depth {depth}, {seconds:.1f} s, "
        f"{rate:,.0f} states/s ",
        err=True,
        nl=False,
    )


@main.command()
@click.argument("scenario")
@click.option(
    "--variant", "-V", "variants", multiple=True, help="Apply a protocol variant (repeatable)."
)
@click.option(
    "--property",
    "-p",
    "properties",
    multiple=True,
    help="Check only these properties (repeatable).",
)
@click.option(
    "--bfs",
    "strategy",
    flag_value="bfs",
    default=True,
    help="Breadth-first: shortest traces (default).",
)
@click.option("--dfs", "strategy", flag_value="dfs", help="Depth-first.")
@click.option(
    "--max-states", type=click.IntRange(min=1), help="Stop after storing this many states."
)
@click.option("--max-depth", type=click.IntRange(min=1), help="Do not explore beyond this depth.")
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("counterexamples"),
    show_default=True,
    help="Directory for counterexample files.",
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
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Breadth-first search over this many worker processes (no reduction).",
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
    strategy: str,
    max_states: int | None,
    max_depth: int | None,
    time_limit: float | None,
    out: Path,
    save: bool,
    progress: bool | None,
    reduce: bool,
    exact: bool,
    workers: int,
    backend: str,
    address: str | None,
    models: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Explore every interleaving of SCENARIO and check its properties.

    SCENARIO may be FILE.py:NAME, a scenario declared in a model file."""
    show_progress = sys.stderr.isatty() if progress is None else progress
    options = Options(
        strategy=Strategy(strategy),
        max_states=max_states,
        max_depth=max_depth,
        time_limit=time_limit,
        progress=_progress if show_progress else None,
        reduce=reduce,
        exact=exact,
    )
    if address is not None and backend != "ray":
        raise ValueError("--address needs --backend ray")
    reg = usermodels.load_all(models)
    name = usermodels.resolve(scenario)
    spread = None
    if backend == "ray" or workers > 1:
        if strategy != "bfs":
            raise ValueError("--workers and --backend ray search breadth-first (no --dfs)")
        sources = [Path(path).resolve() for path in models]
        if ".py:" in scenario:
            sources.append(Path(scenario.split(".py:", 1)[0] + ".py").resolve())
        spread = Spread(workers, backend == "ray", address, tuple(sources))
    with usermodels.reported():
        outcome = check_scenario(reg, name, variants, properties or None, options, spread)
    if show_progress and outcome.result.stats.seconds >= 1.0:
        click.echo("", err=True)
    saved: dict[str, Path] = {}
    if outcome.counterexample is not None and save:
        saved = _save(outcome, out)
    if as_json:
        click.echo(json.dumps(_check_json(outcome, saved), indent=1))
    else:
        _print_check(outcome, saved)
    sys.exit(outcome.result.verdict.exit_code)


def _save(outcome: Outcome, out: Path) -> dict[str, Path]:
    assert outcome.counterexample is not None
    stem = out / file_stem(outcome.scenario.name, outcome.variants)
    files = {"counterexample": stem.with_suffix(".json")}
    outcome.counterexample.save(files["counterexample"])
    for fmt in ("dot", "svg"):
        path = stem.with_suffix(f".{fmt}")
        try:
            render_graph.render(outcome.counterexample, path)
        except render_graph.GraphError as error:
            click.echo(f"vfsmc: warning: no {fmt} graph: {error}", err=True)
            continue
        files[fmt] = path
    return files


def _check_json(outcome: Outcome, saved: dict[str, Path]) -> dict[str, Any]:
    result = outcome.result
    violation = result.violation
    return {
        "scenario": outcome.scenario.name,
        "variants": list(outcome.variants),
        "verdict": result.verdict.value,
        "property": violation.property if violation else None,
        "message": violation.message if violation else None,
        "properties": list(result.properties),
        "incomplete_reason": result.incomplete_reason,
        **result.stats.as_dict(),
        "counterexample": str(saved["counterexample"]) if "counterexample" in saved else None,
        "graph": str(saved["svg"]) if "svg" in saved else None,
        "unchecked_errors": outcome.unchecked_errors,
    }


def _print_check(outcome: Outcome, saved: dict[str, Path]) -> None:
    result = outcome.result
    variants = f" with {', '.join(outcome.variants)}" if outcome.variants else ""
    click.echo(f"{outcome.scenario.name}{variants}: {result.verdict.value}")
    click.echo(f"  {outcome.scenario.description}")
    click.echo(f"  properties: {', '.join(result.properties)}")
    click.echo(f"  {result.stats.summary()}")
    if result.verdict is Verdict.INCOMPLETE:
        click.echo(
            f"  incomplete: {result.incomplete_reason}; no verdict beyond the states explored"
        )
    for name, count in sorted(outcome.unchecked_errors.items()):
        click.echo(
            f"  note: {count} state(s) end in a {name} violation, which this run does not check "
            f"and explores no further (add --property {name})"
        )
    if result.violation is not None:
        click.echo("")
        if outcome.counterexample is not None:
            click.echo(render_text.render(outcome.counterexample))
        else:
            click.echo(f"{result.violation.property}: {result.violation.message}")
        for kind, path in saved.items():
            click.echo(f"{kind}: {path}")


@main.command("replay")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--correct",
    is_flag=True,
    help="Replay on the correct protocol (without the recorded variants).",
)
@models_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def replay_command(file: Path, correct: bool, models: tuple[Path, ...], as_json: bool) -> None:
    """Re-execute a saved counterexample on today's models."""
    counterexample = cx_format.load(file)
    reg = usermodels.load_all(models)
    variants = () if correct else counterexample.variants
    with usermodels.reported():
        scenario = reg.scenario(counterexample.scenario)
        model = reg.build(scenario, variants, counterexample.properties)
        report = replay(model, counterexample)
    if as_json:
        click.echo(json.dumps(_replay_json(counterexample, variants, report), indent=1))
    else:
        _print_replay(counterexample, variants, report)
    sys.exit(1 if report.reproduced else 0)


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
    }


def _print_replay(
    counterexample: cx_format.Counterexample, variants: tuple[str, ...], report: ReplayReport
) -> None:
    protocol = f"variants {', '.join(variants)}" if variants else "the correct protocol"
    if report.reproduced:
        click.echo(render_text.render(counterexample))
        click.echo("")
        click.echo(f"reproduces on {protocol}: {counterexample.property}: {report.reason}")
        return
    click.echo(render_text.render(counterexample, upto=report.stopped_at))
    click.echo("")
    if report.stopped_at is not None:
        step = counterexample.steps[report.stopped_at - 1]
        click.echo(
            f"does not reproduce on {protocol}: step {report.stopped_at} "
            f"({step.thread} '{step.label}', {step.source}) can no longer happen: {report.reason}"
        )
    else:
        click.echo(f"does not reproduce on {protocol}: {report.reason}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: .svg, .png or .dot.",
)
@one_line_errors
def graph(file: Path, output: Path) -> None:
    """Draw a saved counterexample as a message-sequence chart."""
    counterexample = cx_format.load(file)
    render_graph.render(counterexample, output)
    click.echo(f"wrote {output}")


main.add_command(regress_command)
main.add_command(mutate_command)
main.add_command(spec_group)
