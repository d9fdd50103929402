"""The ``vfsmc regress`` and ``vfsmc mutate`` commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from mc.check import mutate, regress, usermodels
from mc.check.recorded import default_out
from mc.check.registry import with_files
from mc.cli.completion import complete_scenario
from mc.cli.errors import (
    EXIT_INCOMPLETE,
    EXIT_USAGE,
    echo_json,
    fail,
    message_of,
    one_line_errors,
    say,
)
from mc.cli.options import (
    Count,
    distinct,
    max_memory_option,
    models_option,
    no_property_option,
    out_directory,
    por_option,
    processes_option,
    time_limit_option,
    without,
)
from mc.dsl.scenario import Registry
from mc.engine.ctrl_c import one_interrupt_per_press
from mc.engine.explore import Options
from mc.project import shown
from mc.text import counted, status_line

BAR_WIDTH = 28


@click.command("regress")
@click.option(
    "--models",
    "models",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Run the suite of this directory of model files (its expectations.toml and "
    "counterexamples/) instead of the shipped one (repeatable).",
)
@click.option(
    "--update",
    is_flag=True,
    help="Record the state counts of the rows whose verdict held as their new baseline.",
)
@click.option("--filter", "prefix", default="", help="Only scenarios whose name starts with this.")
@time_limit_option(
    "Stop each check after this many seconds (the row is then INCOMPLETE: no verdict, exit 3)."
)
@max_memory_option
@por_option
@processes_option(
    "Check this many rows (then replay this many counterexamples) at once, each in a "
    "process of its own."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def regress_command(
    models: tuple[Path, ...],
    update: bool,
    prefix: str,
    time_limit: float | None,
    max_memory: int | None,
    reduce: bool,
    workers: int,
    as_json: bool,
) -> None:
    """Check every expected verdict and replay every saved counterexample.

    Without --models: specs/expectations.toml and counterexamples/.  With
    --models DIR: the model files of DIR, its expectations.toml and its
    counterexamples/ (without expectations.toml, the counterexamples
    alone).  Exit 1 when a verdict changed or a counterexample no longer
    replays as recorded, else 3 when a bound stopped a row's check before
    a verdict; state counts that changed are listed apart.
    """
    if update and not reduce:
        raise click.UsageError(
            "--update records the state counts of the default search (with partial-order "
            "reduction): --no-por would replace them with unreduced ones"
        )
    for path in models:
        if path.is_file():
            raise click.UsageError(
                f"--models {path} is a model file: regress runs the suite of a directory "
                "(its model files, expectations.toml and counterexamples/); give the "
                f"file's folder, or check its scenarios with vfsmc check {path}:SCENARIO"
            )
    reg = with_files(tuple(path for path in models if not _expectations_alone(path)))
    directories = [path for path in models if Path(path).is_dir()]
    suites = [regress.Suite.of_directory(Path(d)) for d in directories] or [regress.Suite.shipped()]
    options = Options(time_limit=time_limit, max_memory=max_memory, reduce=reduce)
    selected = {suite: regress.select(suite, prefix) for suite in suites}
    for suite, rows in selected.items():
        regress.check_names(reg, rows, shown(str(suite.expectations)))
    reports = []
    for suite in suites:
        if as_json:
            reports.append(
                regress.run(
                    reg,
                    suite,
                    prefix=prefix,
                    options=options,
                    rows=selected[suite],
                    processes=workers,
                )
            )
            continue
        layout = regress.Layout.of(selected[suite])
        click.echo(f"{shown(str(suite.expectations))}:")
        click.echo(layout.header())
        report = regress.run(
            reg,
            suite,
            prefix=prefix,
            options=options,
            on_row=_row_printer(layout),
            on_replay=_replay_printer(suite),
            rows=selected[suite],
            processes=workers,
        )
        click.echo("")
        for line in regress.summary(report, updating=update):
            click.echo(line)
        reports.append(report)
    finished = all(r.passed for r in reports)
    if update and not finished:
        how = "was incomplete" if all(map(_incomplete_only, reports)) else "failed"
        say(
            "warning",
            f"the state baselines were not updated: this run {how}, and only a run whose "
            "every row and counterexample is as expected records them",
        )
    elif update:
        for report in reports:
            where = shown(str(report.suite.expectations))
            try:
                changed = regress.update(report)
            except OSError as error:
                reason = error.strerror or message_of(error)
                fail(f"the new state baselines were not recorded in {where}: {reason}")
            if not as_json:
                click.echo(f"updated the state baseline of {counted(changed, 'row')} in {where}")
    if as_json:
        payload = [regress.to_json(r) for r in reports]
        echo_json(json.dumps(payload[0] if len(payload) == 1 else payload, indent=1))
    if any(r.ineffective or r.errors or r.unreadable for r in reports):
        sys.exit(EXIT_USAGE)
    if any(r.failed for r in reports):
        sys.exit(1)
    sys.exit(0 if finished else EXIT_INCOMPLETE)


def _incomplete_only(report: regress.Report) -> bool:
    """Whether ``report`` passed or fell short only in that a bound
    stopped some of its rows."""
    return not (report.failed or report.ineffective or report.errors or report.unreadable)


def _row_printer(layout: regress.Layout) -> Callable[[regress.RowResult], None]:
    return lambda result: click.echo(layout.row(result))


def _replay_printer(suite: regress.Suite) -> Callable[[regress.ReplayResult], None]:
    first = [True]

    def show(result: regress.ReplayResult) -> None:
        if first[0] and suite.counterexamples is not None:
            click.echo(f"\n{shown(str(suite.counterexamples))}/:")
        first[0] = False
        click.echo(regress.replay_line(result))

    return show


def _bar(done: int, total: int, what: str) -> None:
    filled = BAR_WIDTH * done // max(total, 1)
    text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} {what}"
    click.echo(status_line(text), err=True, nl=False)


@click.command("mutate")
@click.argument("scenario", shell_complete=complete_scenario)
@click.option(
    "--variant",
    "-V",
    "variants",
    multiple=True,
    callback=distinct,
    help="Mutate the protocol with this variant.",
)
@click.option(
    "--property",
    "-p",
    "properties",
    multiple=True,
    callback=distinct,
    help="Check only these properties (repeatable; default: each scenario's own).",
)
@no_property_option
@models_option
@click.option(
    "--out",
    type=out_directory(),
    help="Directory for the mutants' counterexamples [default: mutations, or for "
    "FILE.py:NAME the mutations directory beside FILE.py].",
)
@click.option("--save/--no-save", default=True, show_default=True, help="Save counterexamples.")
@click.option("--max-states", type=Count(), help="Bound each check to this many states.")
@time_limit_option("Stop each check after this many seconds.")
@max_memory_option
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when a terminal).",
)
@processes_option(
    "Check this many mutants at once, each in a process of its own (at most one a core is "
    "worth it)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def mutate_command(
    scenario: str,
    variants: tuple[str, ...],
    properties: tuple[str, ...],
    excluded: tuple[str, ...],
    models: tuple[Path, ...],
    out: Path | None,
    save: bool,
    max_states: int | None,
    time_limit: float | None,
    max_memory: int | None,
    progress: bool | None,
    workers: int,
    as_json: bool,
) -> None:
    """Check SCENARIO under every single-step mutation of its operations.

    Each lock acquisition and trylock the scenario reaches is dropped
    (with its releases), an exclusive rw_semaphore acquisition is weakened
    to shared, two acquisitions in a row are swapped, and a trylock that
    backs off retries in place instead, keeping the locks held (spin);
    spinlock sections, one step each, are listed, not mutated.  The table
    gives each mutation's verdict; the locks whose removal broke nothing in
    any scenario that reaches them are listed at the end.  SCENARIO may be
    FILE.py:NAME.  Each mutation is also a variant: vfsmc check -V NAME.
    """
    reg = with_files(models)
    name = usermodels.resolve(scenario, reg)
    without(reg, name, properties, excluded)
    show_progress = sys.stderr.isatty() if progress is None else progress
    options = Options(max_states=max_states, time_limit=time_limit, max_memory=max_memory)
    with one_interrupt_per_press():
        _mutate(
            reg,
            scenario,
            name,
            variants,
            properties,
            excluded,
            out,
            save,
            options,
            show_progress,
            workers,
            as_json,
        )


def _mutate(
    reg: Registry,
    scenario: str,
    name: str,
    variants: tuple[str, ...],
    properties: tuple[str, ...],
    excluded: tuple[str, ...],
    out: Path | None,
    save: bool,
    options: Options,
    show_progress: bool,
    workers: int,
    as_json: bool,
) -> None:
    """``vfsmc mutate`` once its arguments are checked, a repeated Ctrl-C
    (``timeout -s INT`` signals twice) kept from cutting short the report
    of what was done by the first."""
    saved_under = (out or default_out(scenario).parent / "mutations") if save else None
    try:
        with usermodels.reported():
            analysis = mutate.analyse(
                reg,
                name,
                variants,
                properties=properties or None,
                excluded=excluded,
                out=saved_under,
                options=options,
                progress=_bar if show_progress else None,
                processes=workers,
            )
    except mutate.MutationIncomplete as error:
        if show_progress:
            click.echo(f"{status_line('')}\r", err=True, nl=False)
        fail(str(error), EXIT_INCOMPLETE)
    if show_progress:
        click.echo(f"{status_line('')}\r", err=True, nl=False)
    if as_json:
        echo_json(json.dumps(mutate.to_json(analysis), indent=1))
    else:
        click.echo(mutate.render(analysis))
        if saved_under is not None and any(r.counterexample for r in analysis.results):
            click.echo(
                f"\nthe counterexamples of the mutants found are saved under {saved_under}/ "
                "(--out DIR for another place, --no-save for none)"
            )
    for result in analysis.results:
        if result.unsaved is not None:
            say("warning", f"not saved: {result.unsaved}")
    if analysis.interrupted:
        sys.exit(EXIT_INCOMPLETE)


def _expectations_alone(path: Path) -> bool:
    """Whether directory ``path`` is a suite of shipped scenarios alone: an
    ``expectations.toml`` and no model file of its own to load."""
    return (
        path.is_dir()
        and (path / "expectations.toml").is_file()
        and not any(p for p in path.glob("*.py") if not p.name.startswith(("_", "test_")))
    )
