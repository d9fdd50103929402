"""The ``vfsmc sweep`` command: a protocol change checked on every scenario
it changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mc.check import inventory, lockorder, usermodels
from mc.check.checker import (
    IneffectiveVariant,
    check_scenario,
    file_stem,
    labels_elsewhere,
    under_changing,
)
from mc.check.registry import with_files
from mc.cli.errors import echo_json, one_line_errors, say
from mc.cli.options import (
    Count,
    models_option,
    no_scenario_starting,
    out_directory,
    time_limit_option,
    variant_option,
)
from mc.cli.outcome import against_json, against_notes, outcome_json, save_outcome
from mc.engine.explore import Options
from mc.engine.result import Verdict
from mc.kernel.world import ModelError
from mc.text import clipped, printable

DEFAULT_OUT = Path("counterexamples")


@click.command("sweep")
@models_option
@variant_option(
    "A variant of the change (repeatable): each scenario runs under those that change it."
)
@click.option("--filter", "prefix", default="", help="Only scenarios whose name starts with this.")
@time_limit_option("Stop each scenario's search after this many seconds.")
@click.option("--max-states", type=Count(), help="Stop each scenario's search after this many.")
@click.option(
    "--out",
    type=out_directory(),
    default=None,
    help="Directory for counterexample files [default: counterexamples].",
)
@click.option("--save/--no-save", default=True, help="Save counterexamples (default: save).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def sweep_command(
    models: tuple[Path, ...],
    variants: tuple[str, ...],
    prefix: str,
    time_limit: float | None,
    max_states: int | None,
    out: Path | None,
    save: bool,
    as_json: bool,
) -> None:
    """Check every scenario the variants change, each under those of them
    that change it (a filesystem's several insertions and flags, the
    others left out where they change nothing, as lockorder explores
    them): one line a scenario, with its verdict and the counterexample
    saved, and under an OK the lock-class edges the variants take against
    the documented order, as ``check`` notes them.  Exit 1 when some
    scenario is VIOLATED, 3 when none is but a bound stopped one, 2 when a
    variant changes none of the scenarios.
    """
    if not variants:
        raise click.UsageError("sweep checks a change: give its variants with -V")
    reg = with_files(models)
    for name in variants:
        reg.variant(name)
    names = sorted(name for name in reg.scenarios if name.startswith(prefix))
    if not names:
        raise ValueError(no_scenario_starting(prefix))
    built = {}
    for name in names:
        try:
            with usermodels.reported():
                built[name] = under_changing(reg, reg.scenario(name), variants)
        except ModelError as error:
            raise type(error)(f"{error} (building {name} under the variants)") from error
    changed = {name: changing for name, (_model, changing) in built.items() if changing}
    missed = {
        (name, operation)
        for name, (model, _changing) in built.items()
        for variant in variants
        for operation in labels_elsewhere(reg, model, variant).values()
    }
    unused = [v for v in variants if not any(v in changing for changing in changed.values())]
    if unused:
        where = names[0] if len(names) == 1 else f"the {len(names)} scenarios"
        found = reg.variant(unused[0])
        flag = found.transform is None and not found.bodies and inventory.user_declared(found)
        hint = (
            " (a flag of a model file changes a scenario only where a step asks for it: give "
            "the insertion whose steps ask op.variant() with it)"
            if flag
            else ""
        )
        raise IneffectiveVariant(f"variant {unused[0]} changes nothing in {where}{hint}")
    options = Options(time_limit=time_limit, max_states=max_states)
    target = out or DEFAULT_OUT
    rows = []
    for name, changing in changed.items():
        with usermodels.reported():
            outcome = check_scenario(reg, name, changing, options=options)
        saved = save_outcome(reg, outcome, target, file_stem(name, changing)) if save else {}
        row = outcome_json(outcome, saved, None)
        against = (
            lockorder.against_documented(reg, name, changing, time_limit).found
            if outcome.result.verdict is Verdict.OK
            else ()
        )
        row["against_lock_order"] = against_json(against)
        rows.append(row)
        if not as_json:
            click.echo(printable(_line(row)))
            for line in against_notes(against, name, changing, models):
                click.echo(printable(line))
    if as_json:
        unreached = [{"scenario": name, "operation": op} for name, op in sorted(missed)]
        report = {"variants": list(variants), "scenarios": rows, "labels_not_reached": unreached}
        echo_json(json.dumps(report, indent=1))
    else:
        _summary(rows, len(names))
        if missed:
            _say_missed(missed)
    verdicts = {row["verdict"] for row in rows}
    if Verdict.VIOLATED.value in verdicts:
        sys.exit(Verdict.VIOLATED.exit_code)
    sys.exit(Verdict.INCOMPLETE.exit_code if Verdict.INCOMPLETE.value in verdicts else 0)


def _line(row: dict[str, Any]) -> str:
    head = f"{row['scenario']} with {', '.join(row['variants'])}: {row['verdict']}"
    if row["property"] is not None:
        head += f" ({row['property']}: {clipped(row['message'])})"
    elif row["incomplete_reason"] is not None:
        head += f" ({row['incomplete_reason']})"
    saved = f", {row['counterexample']}" if row["counterexample"] else ""
    return f"{head}; {row['states']:,} states{saved}"


def _summary(rows: list[dict[str, Any]], explored: int) -> None:
    counts = {v.value: sum(row["verdict"] == v.value for row in rows) for v in Verdict}
    said = ", ".join(f"{count} {verdict}" for verdict, count in counts.items() if count)
    say(
        "note",
        f"{len(rows)} of the {explored} scenarios change under the variants: {said}",
    )


def _say_missed(missed: set[tuple[str, str]]) -> None:
    """Note the scenarios whose threads have a step an insertion names but
    run another operation than those it inserts into."""
    operations = sorted({operation for _name, operation in missed})
    scenarios = sorted({name for name, _operation in missed})
    say(
        "note",
        f"the steps the insertions name are also in {len(scenarios)} scenarios where threads "
        f"run {', '.join(operations)}, which they do not insert into (name those operations in "
        f"inserts((...), ...) to reach them): {', '.join(scenarios)}",
    )
