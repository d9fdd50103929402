"""``vfsmc show``, ``vfsmc ops`` and ``vfsmc explain``: what a scenario
runs, which operations exist, what a property checks."""

from __future__ import annotations

import difflib
import enum
import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import click

from mc.check import checkable, expectations, inventory, mutants, usermodels
from mc.check.checker import ineffective
from mc.check.registry import shipped_modules, with_files
from mc.cli.completion import complete_explained, complete_scenario
from mc.cli.errors import echo_json, fail, one_line_errors
from mc.cli.options import models_option
from mc.dsl.kernel_model import KernelModel
from mc.dsl.operation import Invocation, Operation
from mc.dsl.program import Jump, Program, label_name
from mc.dsl.scenario import Registry, UnknownName
from mc.dsl.steps import LockStep, Step
from mc.dsl.wait_steps import SectionStep
from mc.kernel.locks import Kind
from mc.kernel.world import DONE
from mc.project import shown_source
from mc.spec.conformance import rules_at
from mc.text import printable


def _slots_text(names: list[str]) -> str:
    """Slot names by family: ``nlink(/, /a, /a/x)``, ``s_umount``; a name
    with more after its parenthesis (``folio(bdev:0) order``) stands alone."""
    families: dict[tuple[str, bool], list[str]] = {}
    for name in dict.fromkeys(names):
        family, paren, rest = name.partition("(")
        if paren and rest.endswith(")") and ")" not in rest[:-1]:
            families.setdefault((family, True), []).append(rest[:-1])
        else:
            families.setdefault((name, False), [])
    return ", ".join(
        f"{family}({', '.join(args)})" if grouped else family
        for (family, grouped), args in families.items()
    )


def _lock_mode(step: Step) -> str | None:
    """The mode a lock step takes or drops its lock in; None for other
    steps and for an RCU read-side section, which has none."""
    if not isinstance(step, LockStep):
        return None
    fixed = step.lock.fixed
    return None if fixed is not None and fixed.kind is Kind.RCU else step.mode.value


def _step_text(step: Step) -> str:
    mode = _lock_mode(step)
    shown = "" if mode is None else f" [{mode}]"
    return f"{step.label}{shown}  ({shown_source(str(step.source))})"


@click.command("show")
@click.argument("scenario", shell_complete=complete_scenario)
@models_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--steps",
    is_flag=True,
    help="Also list each thread's steps: label, lock mode, tags and model line "
    "(what a variant's transform selects and moves); with -V, as those variants leave them.",
)
@click.option(
    "-V",
    "--variant",
    "only",
    multiple=True,
    help="Show only this variant's changes (repeatable; by default every variant's).",
)
@one_line_errors
def show_command(
    scenario: str, models: tuple[Path, ...], as_json: bool, steps: bool, only: tuple[str, ...]
) -> None:
    """Show SCENARIO: its tree, threads, properties, and the variants that
    change its steps."""
    if scenario.endswith(".json") and Path(scenario).is_file():
        fail(
            f"{scenario} is a counterexample, not a scenario: vfsmc replay {scenario} "
            "re-runs it, vfsmc graph and vfsmc report draw it"
        )
    reg = with_files(models)
    found = reg.scenario(usermodels.resolve(scenario, reg))
    for name in only:
        reg.variant(name)
    with usermodels.reported():
        model = checkable.built(reg, found)
        failing: dict[str, str] = {}
        variants = (
            inventory.named_variants(reg, found, only, failing)
            if only
            else inventory.applicable_variants(reg, found, failing)
        )
        available = checkable.available_properties(reg, found)
        varied = steps and bool(only) and not failing
        listed = checkable.built(reg, found, only) if varied else model
    for name in only:
        if mutants.parse(name) is not None and name not in variants and name not in failing:
            raise ineffective(reg, model, name, found.name)
    if only and all(name in failing for name in only):
        fail(f"variant {only[0]} fails on {found.name}: {failing[only[0]]}")
    threads: list[dict[str, Any]] = [
        {
            "name": thread.name,
            "operation": str(thread.invocation),
            "call": _call_text(thread.invocation),
            "follows": thread.invocation.operation.models,
            "steps": len(thread.program.steps),
            **({"steps_with_variants": len(listing.program.steps)} if varied else {}),
            **({"program": _program_data(listing.program)} if steps else {}),
        }
        for thread, listing in zip(model.threads, listed.threads, strict=True)
    ]
    if as_json:
        data: dict[str, Any] = {
            "scenario": found.name,
            "description": found.description,
            "declared": None if found.declared is None else str(found.declared),
            "tree": list(found.tree),
            "threads": threads,
            "properties": list(found.properties),
            "protocol_variants": list(found.variants),
            "available_properties": available,
            "program_variants": list(only) if varied else [],
            "slots": model.slot_names(),
            "variants": {
                name: [
                    {
                        "thread": c.thread,
                        "kind": c.kind,
                        "label": c.step.label,
                        "source": str(c.step.source),
                        **({} if c.before is None else {"before": c.before.label}),
                        **({} if c.next is None else {"right_before": c.next.label}),
                        **({"unguarded": list(c.unguarded)} if c.unguarded else {}),
                        **({"guarded": list(c.guarded)} if c.guarded else {}),
                        **({} if c.left_goto is None else {"left_goto": c.left_goto}),
                    }
                    for c in changes
                ]
                for name, changes in variants.items()
            },
            "failing_variants": failing,
        }
        echo_json(json.dumps(data, indent=1))
        return
    click.echo(f"{found.name}: {found.description}")
    if found.declared is not None:
        click.echo(f"  declared at {found.declared}")
    for name in found.variants:
        click.echo(f"  protocol made with variant {name}: {reg.variant(name).description}")
    click.echo(f"tree: {' '.join(found.tree)}")
    click.echo("threads:")
    for thread in threads:
        click.echo(f"  {thread['name']}  {thread['operation']}")
        click.echo(f"      as written: {thread['call']}")
        click.echo(f"      follows {thread['follows']}; {thread['steps']} steps")
        if varied and "program" in thread:
            count = thread["steps_with_variants"]
            click.echo(f"      its {count} steps with {', '.join(only)}:")
        for number, step in enumerate(thread.get("program", ())):
            tags = f"  tags: {', '.join(step['tags'])}" if step["tags"] else ""
            mode = f"  mode: {step['mode']}" if "mode" in step else ""
            if "section" in step:
                mode += f"  section: takes and releases {step['section']} in the step"
            jumps = f"  may jump to: {step['jumps']}" if "jumps" in step else ""
            if "jump_target" in step:
                target = step["jump_target"]
                jumps += " (the return)" if target == "return" else f" (step {target})"
            then = "".join(f"  then goto: {label}" for label in step.get("then_goto", ()))
            click.echo(
                f"      {number:>4}  {step['label']}  ({step['source']} in {step['function']})"
                f"{mode}{tags}{jumps}{then}"
            )
    click.echo(
        textwrap.fill(
            _slots_text(model.slot_names()),
            width=100,
            initial_indent="slots (what reads= names): ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        )
    )
    click.echo(f"properties (default): {', '.join(found.properties)}")
    others = [name for name in available if name not in found.properties]
    if others:
        click.echo(f"also checkable here (-p): {', '.join(others)}")
    for name, error in failing.items():
        click.echo(printable(f"variant {name} fails on this scenario: {error}"))
    if not variants:
        if only:
            click.echo(f"variants: {', '.join(only)} changes no step of this scenario")
        else:
            click.echo("variants: none changes a step of this scenario")
        return
    click.echo("variants that change its steps:")
    for name, changes in variants.items():
        click.echo(f"  {name}: {reg.variant(name).description}")
        waived = _waived(reg.variant(name).waives, name)
        if waived:
            click.echo(
                f"      waives {', '.join(waived)}: spec-conformance lets it pass, to show what "
                "the change leads to"
            )
        if not changes:
            click.echo(
                "      no step's text changes: an operation asks about it, and what a step "
                "computes may differ"
            )
        for change, places in _collapsed(changes):
            where = "" if places == 1 else f"  (in {places} places)"
            alike = _alike(model, change)
            if change.kind in ("removed", "changed", "moved") and alike > places:
                where = f"  ({places} of the {alike} steps so labelled)"
            if change.kind == "changed" and change.was is not None:
                click.echo(f"      {change.thread} changed  {_step_text(change.was)}")
                differs = inventory.differing_fields(change.was, change.step)
                fields = f"  [{'; '.join(differs)}]" if differs else ""
                click.echo(f"                 now  {_step_text(change.step)}{fields}{where}")
            else:
                click.echo(
                    f"      {change.thread} {change.kind:<7}  {_step_text(change.step)}{where}"
                )
            if change.kind == "moved":
                after = "the end" if change.before is None else change.before.label
                if change.next is not None:
                    also = "" if change.next is change.before else f", and before  {after}"
                    click.echo(
                        f"                 now right before  {change.next.label}  (which "
                        f"it used to follow){also}"
                    )
                elif change.before is None:
                    click.echo(
                        "                 now the last step of the thread's program "
                        "(after every step it used to come before)"
                    )
                else:
                    click.echo(f"                 now before  {after}")
                for test in change.unguarded:
                    click.echo(
                        f"                 no longer under  {test}: it runs whichever way that goes"
                    )
                for test in change.guarded:
                    click.echo(f"                 now under  {test}: it runs in one of its cases")
                if change.left_goto is not None:
                    click.echo(
                        f"                 without the {change.left_goto} after it, "
                        "which stays: it goes on to the step after it"
                    )


def _waived(declared: Sequence[str], variant: str) -> list[str]:
    """The locking rules variant ``variant`` waives: those it declares and
    those specs/conformance.toml's [waivers] gives it."""
    return sorted({*declared, *rules_at().roles.waived(frozenset({variant}))})


def _program_data(program: Program) -> list[dict[str, Any]]:
    """The steps of ``program`` as ``show --steps --json`` gives them, each
    with the label a test of it may jump to (``jumps``) and the labels of
    the ``op.goto`` jumps right after it (``then_goto``, what
    ``drop_gotos`` names)."""
    found: list[dict[str, Any]] = []
    targets = iter(target for _step, _next, target in program.link())
    for item in program.items:
        if isinstance(item, Step):
            found.append(_step_data(item))
            target = next(targets)
            if "jumps" in found[-1] and target is not None:
                found[-1]["jump_target"] = "return" if target == DONE else target
        elif isinstance(item, Jump) and item.source is not None and found:
            found[-1].setdefault("then_goto", []).append(label_name(item.target))
    return found


def _step_data(step: Step) -> dict[str, Any]:
    """A step as ``show --steps --json`` gives it."""
    data: dict[str, Any] = {"label": step.label, "kind": type(step).__name__}
    mode = _lock_mode(step)
    if mode is not None:
        data["mode"] = mode
    if isinstance(step, SectionStep):
        data["section"] = step.lock.text
    data["tags"] = sorted(step.tags)
    data["source"] = str(step.source)
    data["function"] = step.source.function
    if step.jump_label is not None:
        data["jumps"] = label_name(step.jump_label)
    return data


def _alike(model: KernelModel, change: inventory.Change) -> int:
    """How many steps of the thread ``change`` is of, in the correct
    protocol, are alike the step it removed, changed or moved."""
    original = change.was if change.kind == "changed" else change.step
    if original is None:
        return 0
    key = inventory.step_key(original)
    thread = next((t for t in model.threads if t.slots.name == change.thread), None)
    if thread is None:
        return 0
    return sum(inventory.step_key(step) == key for step in thread.program.steps)


def _collapsed(changes: list[inventory.Change]) -> list[tuple[inventory.Change, int]]:
    """``changes`` with each repeated change (the same step changed alike
    in each pass of an unrolled loop, say once per page) listed once, in
    the order first seen, with how many places it was made in."""
    counted: dict[tuple[object, ...], list[Any]] = {}
    for change in changes:
        was = None if change.was is None else inventory.step_key(change.was)
        key = (change.thread, change.kind, inventory.step_key(change.step), was)
        counted.setdefault(key, [change, 0])[1] += 1
    return [(change, places) for change, places in counted.values()]


@click.command("ops")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--markdown", is_flag=True, help="Print the README's table.")
@one_line_errors
def ops_command(as_json: bool, markdown: bool) -> None:
    """List every shipped operation: signature, the kernel functions it
    follows, and the tags its steps carry for variants to select."""
    if as_json and markdown:
        raise click.UsageError("--json and --markdown ask for two formats; give one")
    reg = with_files(())
    infos = inventory.shipped_operations(reg, shipped_modules())
    if as_json:
        echo_json(
            json.dumps(
                [
                    {
                        "operation": info.signature,
                        "module": f"mc.models.{info.module}",
                        "follows": info.operation.models,
                        "read_in": _read_in(info.operation),
                        "tags": info.tags,
                        "scenarios": info.scenarios,
                    }
                    for info in infos
                ],
                indent=1,
            )
        )
        return
    if markdown:
        click.echo("| operation | module | follows | tags |")
        click.echo("|---|---|---|---|")
        for info in infos:
            tags = ", ".join(f"`{tag}`" for tag in info.tags) or "-"
            click.echo(
                f"| `{info.signature}` | `mc.models.{info.module}` | "
                f"{info.operation.models} | {tags} |"
            )
        return
    for info in infos:
        click.echo(f"{info.signature}  (mc.models.{info.module})")
        click.echo(f"    follows {info.operation.models}")
        for version, functions in _read_in(info.operation).items():
            click.echo(f"    read in {version}: {', '.join(functions)}")
        if info.tags:
            for tag, labels in info.tags.items():
                click.echo(f"    tag {tag}: {'; '.join(labels)}")
        elif info.scenarios:
            click.echo("    no tagged steps")
        else:
            click.echo("    tags: not known (no shipped scenario runs it)")


def _read_in(operation: Operation) -> dict[str, list[str]]:
    """The kernel functions the operation cites, by the version read."""
    found: dict[str, list[str]] = {}
    for cite in operation.cites:
        found.setdefault(cite.version, []).append(f"{cite.function}() ({cite.file})")
    return found


@click.command("explain")
@click.argument("prop", metavar="PROPERTY|VARIANT", shell_complete=complete_explained)
@models_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors
def explain_command(prop: str, models: tuple[Path, ...], as_json: bool) -> None:
    """Say what PROPERTY checks, which scenarios check it, and which shipped
    variants violate it; of a VARIANT, what it changes, the rules it
    waives and the verdicts expected under it."""
    reg = with_files(models)
    if prop not in reg.properties and prop in reg.scenarios:
        fail(f"{prop} is a scenario, not a property: vfsmc show {prop} describes it")
    if prop not in reg.properties:
        try:
            reg.variant(prop)
        except UnknownName:
            close = difflib.get_close_matches(prop, [*reg.properties, *reg.variants], n=3)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else f"vfsmc list names the {len(reg.properties)} properties and "
                f"{len(reg.variants)} variants; {reg.elsewhere()}"
            )
            fail(f"no property or variant is called {prop!r} ({hint})")
        _explain_variant(reg, prop, models, as_json)
        return
    definition = reg.property(prop)
    kind = definition.kind.name.lower().replace("_", "-")
    default = sorted(n for n, s in reg.scenarios.items() if prop in s.properties)
    rows = [
        row
        for row in _expected_rows(models)
        if row.violated == prop and row.scenario in reg.scenarios
    ]
    if as_json:
        found = {
            "property": definition.name,
            "kind": kind,
            "description": definition.description,
            "needs": None if definition.needs is None else definition.needs[1],
            "checked_by_default_in": default,
            "violated_by": [{"scenario": r.scenario, "variants": list(r.variants)} for r in rows],
        }
        echo_json(json.dumps(found, indent=1))
        return
    click.echo(f"{definition.name} ({kind})")
    click.echo(f"  {definition.description}")
    if definition.needs is not None:
        click.echo(f"  needs {definition.needs[1]} in the scenario")
    click.echo(f"  checked by default in: {', '.join(default) or 'no scenario'}")
    if rows:
        click.echo("  violated by:")
        for row in rows:
            click.echo(f"    {row.scenario} with {', '.join(row.variants)}")


def _expected_rows(models: Sequence[Path]) -> list[expectations.Expectation]:
    """The rows of specs/expectations.toml, then those of the
    ``expectations.toml`` of each model directory given (as ``regress``
    reads them)."""
    rows = expectations.load()
    for path in models:
        own = path / "expectations.toml"
        if path.is_dir() and own.is_file():
            rows += expectations.load(own)
    return rows


def _explain_variant(reg: Registry, name: str, models: Sequence[Path], as_json: bool) -> None:
    """What variant ``name`` is: its description, where it is declared,
    the rules it waives (its own and specs/conformance.toml's [waivers]),
    the scenarios whose protocol it is part of and
    the verdicts specs/expectations.toml (and a model directory's own)
    expects under it."""
    variant = reg.variant(name)
    waived = _waived(variant.waives, name)
    protocol = sorted(n for n, s in reg.scenarios.items() if name in s.variants)
    rows = [
        row
        for row in _expected_rows(models)
        if name in row.variants and row.scenario in reg.scenarios
    ]
    expected = [
        (row.scenario, [v for v in row.variants if v != name], row.violated or row.verdict.value)
        for row in rows
    ]
    if as_json:
        found = {
            "variant": name,
            "description": variant.description,
            "declared_at": None if variant.declared is None else str(variant.declared),
            "waives": waived,
            "protocol_of": protocol,
            "expected": [
                {"scenario": scenario, "with": others, "verdict": verdict}
                for scenario, others, verdict in expected
            ],
        }
        echo_json(json.dumps(found, indent=1))
        return
    click.echo(f"{name} (variant)")
    click.echo(f"  {variant.description}")
    if variant.declared is not None:
        click.echo(f"  declared at {variant.declared}")
    if waived:
        click.echo(f"  waives {', '.join(waived)}")
    if protocol:
        click.echo(f"  part of the protocol of: {', '.join(protocol)}")
    if expected:
        click.echo("  expected (the expectations files):")
        for scenario, others, verdict in expected:
            also = f" with {', '.join(others)}" if others else ""
            click.echo(f"    {scenario}{also}: {verdict}")
    click.echo(
        "  vfsmc show SCENARIO -V "
        f"{name} prints the steps it changes there, vfsmc check SCENARIO -V {name} what it breaks"
    )


def _call_text(invocation: Invocation) -> str:
    """The thread as a scenario's ``threads=[...]`` writes it: the
    operation called with its arguments, a ``File`` with the fields that
    differ from their defaults."""
    return f"{invocation.operation.name}({', '.join(_argument_text(a) for a in invocation.args)})"


def _argument_text(value: Any) -> str:
    """``value`` as a scenario writes it: an attrs class (``File``,
    ``OpenFile``) with its required fields by position and the others by
    keyword where they differ from their defaults, an enumeration member
    by its name (``SEEK_CUR``, ``RENAME_EXCHANGE``)."""
    if attrs.has(type(value)):
        given = []
        for field in attrs.fields(type(value)):
            if not field.init:
                continue
            shown = _argument_text(getattr(value, field.name))
            if field.default is attrs.NOTHING:
                given.append(shown)
            elif getattr(value, field.name) != field.default:
                given.append(f"{field.name}={shown}")
        return f"{type(value).__name__}({', '.join(given)})"
    if isinstance(value, enum.Enum) and value.name:
        return value.name
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_argument_text, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)
