"""The ``vfsmc lockorder`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mc.check import checkable, inventory, lockorder, usermodels
from mc.check.registry import with_files
from mc.cli.errors import echo_json, message_of, one_line_errors, say
from mc.cli.exit_codes import EXIT_USAGE
from mc.cli.options import models_option, no_scenario_starting, time_limit_option, variant_option
from mc.dsl.scenario import Registry
from mc.engine.explore import Options
from mc.kernel.world import ModelError


@click.command("lockorder")
@click.argument("scenarios", nargs=-1)
@models_option
@click.option("--filter", "prefix", default="", help="Only scenarios whose name starts with this.")
@time_limit_option(
    "Stop each scenario's exploration after this many seconds (exit 3 when one stops early "
    "and nothing is wrong in what was explored)."
)
@variant_option("Explore every scenario under this protocol variant (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def lockorder_command(
    scenarios: tuple[str, ...],
    models: tuple[Path, ...],
    prefix: str,
    time_limit: float | None,
    variants: tuple[str, ...],
    as_json: bool,
) -> None:
    """Merge the lock-class edges of every scenario (or of the SCENARIOS
    named, each may be FILE.py:NAME) and check them.

    Each scenario is explored on the correct protocol (or under the
    variants given, in the scenarios they change); every state where a
    thread holding a lock of class A is about to take one of class B adds
    the edge A -> B.  Reported: cycles in the merged graph (each edge with
    the scenario and trace that shows it), edges that
    specs/lockorder.toml and the model files' lock_order() declarations
    do not allow (an i_rwsem nested in another
    against directories before non-directories or ancestors before
    descendants, in the tree of the state), and lock classes some scenario
    takes in interrupt context and some scenario takes with interrupts on
    (lockdep's inconsistent irq usage).  No property ends an exploration:
    a step's error ends only the run it is on, and the runs so ended are
    listed.  Exit 1 when there is any, 3 when
    there is none but a bound stopped a scenario's exploration early, 2
    when a variant changes none of the scenarios explored.
    """
    reg = with_files(models)
    named = [usermodels.resolve(spec, reg) for spec in scenarios]
    for name in named:
        reg.scenario(name)
    documented = lockorder.load_documented().declared_by(reg.lock_orders)
    chosen = sorted(set(named)) if named else sorted(reg.scenarios)
    names = [name for name in chosen if name.startswith(prefix)]
    if not names:
        raise ValueError(no_scenario_starting(prefix))
    for name in variants:
        reg.variant(name)
    broken = _not_building(reg, names)
    names = [name for name in names if name not in broken]
    with usermodels.reported():
        explored = lockorder.explore(reg, names, Options(time_limit=time_limit), variants)
    every = not prefix and not named
    report = lockorder.merge(explored, documented, variants, every_scenario=every)
    if not every:
        for message in lockorder.unknown_declared(reg, reg.lock_orders, report.classes):
            say("note", message)
    if as_json:
        echo_json(json.dumps(lockorder.to_json(report), indent=1))
    else:
        for line in lockorder.render(report):
            click.echo(line)
    for name, why in broken.items():
        say("error", f"{name} not explored: {why}")
    if broken:
        sys.exit(EXIT_USAGE)
    sys.exit(1 if not report.clean else 3 if report.incomplete else 0)


def _not_building(reg: Registry, names: list[str]) -> dict[str, str]:
    """The scenarios of model files, among ``names``, whose model raises
    as it is built (a property's ``reads=`` function, a thread's
    operation), with the error: bad input, reported after the others
    were explored."""
    found = {}
    for name in names:
        scenario = reg.scenario(name)
        if not inventory.user_declared(scenario):
            continue
        try:
            with usermodels.reported():
                checkable.built(reg, scenario, properties=None)
        except ModelError as error:
            found[name] = message_of(error)
    return found
