"""``vfsmc spec``: the locking rules as data.

    vfsmc spec import PATH [-o FILE]    the rules of a locking.rst (or its flattened text)
    vfsmc spec lint PATH                where the document disagrees with itself
    vfsmc spec show [TABLE[.METHOD]]    the rules, and what they require of a call
    vfsmc spec diff OLD NEW             what changed between two versions of the rules
    vfsmc spec check NEW                the shipped models against another version's rules
    vfsmc spec coverage [--models P]    which methods the models call, why not the others

Exit codes: 0 fine, 1 something found (dubious places, differences, methods
neither modelled nor explained), 2 bad input (one line on stderr).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mc.atomic_write import stream_of, write_atomically
from mc.cli.errors import echo_json, one_line_errors, wrote
from mc.cli.options import (
    in_existing_directory,
    models_option,
    no_scenario_starting,
    not_the_input,
)
from mc.dsl.scenario import UnknownName
from mc.project import SPECS
from mc.spec import conformance, coverage, diff, importer, lint, toml_writer, vocabulary
from mc.spec import load as spec_load
from mc.spec.model import Spec
from mc.spec.semantics import Requirements, Rules

PATH = click.Path(dir_okay=False, path_type=Path)
SPECS_OPTION = click.option(
    "--specs",
    "specs",
    type=click.Path(file_okay=False, path_type=Path),
    default=SPECS,
    show_default=True,
    help="Directory of locking.toml, vocabulary.toml, conformance.toml, coverage.toml.",
)
VOCABULARY_OPTION = click.option(
    "--vocabulary",
    type=PATH,
    default=SPECS / "vocabulary.toml",
    show_default=True,
    help="What the columns' values mean.",
)


@click.group("spec")
def spec() -> None:
    """The locking rules as data: import, lint, show, diff, coverage."""


def _count_line(imported: importer.Imported) -> str:
    spec_ = imported.spec
    methods = [m for t in spec_.tables for m in t.methods]
    rows = sum(1 for m in methods if m.cells is not None)
    prototypes = sum(1 for m in methods if m.prototype is not None)
    rules = sum(len(t.rules) for t in spec_.tables)
    notes = sum(len(t.notes) for t in spec_.tables)
    return (
        f"imported {spec_.source}: {len(spec_.tables)} tables, {len(methods)} methods "
        f"({prototypes} with a prototype, {rows} with a row), {rules} rules from the prose, "
        f"{notes} paragraphs kept as text"
    )


@spec.command("import")
@click.argument("path", type=PATH)
@click.option(
    "-o",
    "--output",
    type=PATH,
    callback=in_existing_directory,
    help="Write the rules here (default: stdout).",
)
@VOCABULARY_OPTION
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@one_line_errors
def import_command(path: Path, output: Path | None, vocabulary: Path, as_json: bool) -> None:
    """Build the rules file from PATH: the kernel's locking.rst, or its
    flattened text.  Whatever is not taken exactly as written is reported."""
    not_the_input(output, path, "document")
    imported = importer.import_path(path, vocabulary_load(vocabulary))
    text = toml_writer.render(imported.spec)
    if output is not None:
        write_atomically(output, text)
    report = {
        "source": imported.spec.source,
        "tables": len(imported.spec.tables),
        "methods": sum(len(t.methods) for t in imported.spec.tables),
        "rules": sum(len(t.rules) for t in imported.spec.tables),
        "findings": [str(f) for f in imported.findings],
        "kept_as_text": [str(f) for f in imported.kept_as_text],
        "output": None if output is None else str(output),
    }
    if as_json:
        if output is None:
            report["toml"] = text
        echo_json(json.dumps(report, indent=1))
        return
    if output is None:
        click.echo(text, nl=False)
    to_stderr = output is None or stream_of(output) == 1
    click.echo(_count_line(imported), err=to_stderr)
    if imported.findings:
        click.echo(f"not taken exactly as written ({len(imported.findings)}):", err=to_stderr)
        for finding in imported.findings:
            click.echo(f"  {finding}", err=to_stderr)
    if imported.kept_as_text:
        count = len(imported.kept_as_text)
        click.echo(f"prose about locking kept as text ({count}):", err=to_stderr)
        for finding in imported.kept_as_text:
            click.echo(f"  {finding}", err=to_stderr)
    if output is not None:
        wrote(output)


def vocabulary_load(path: Path) -> vocabulary.Vocabulary:
    return vocabulary.load(path)


@spec.command("lint")
@click.argument("path", type=PATH)
@VOCABULARY_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@one_line_errors
def lint_command(path: Path, vocabulary: Path, as_json: bool) -> None:
    """Report where the document at PATH disagrees with itself."""
    known = vocabulary_load(vocabulary)
    found = lint.lint(importer.read_document(path, known), known)
    if as_json:
        echo_json(
            json.dumps(
                {
                    "source": path.name,
                    "dubious": [
                        {"kind": d.kind, "line": d.line, "where": d.where, "message": d.message}
                        for d in found
                    ],
                },
                indent=1,
            )
        )
    else:
        click.echo(f"Dubious stuff in {path.name}:")
        for dubious in found:
            click.echo(f"  {dubious}")
        kinds: dict[str, int] = {}
        for dubious in found:
            kinds[dubious.kind] = kinds.get(dubious.kind, 0) + 1
        detail = ", ".join(f"{n} {k}" for k, n in kinds.items())
        click.echo(f"{len(found)} dubious places" + (f" ({detail})" if detail else ""))
    sys.exit(1 if found else 0)


def _requirements_json(r: Requirements) -> dict[str, Any]:
    return {
        "needs": [
            {
                "id": n.id,
                "lock": n.lock,
                "need": n.need,
                "role": n.role,
                "conditions": list(n.conditions),
                "source": n.source,
            }
            for n in r.needs
        ],
        "unmapped": list(r.unmapped),
        "blocking": r.blocking,
        "blocking_source": r.blocking_source,
        "rcu_walk": r.rcu_walk,
        "context": r.context,
        "notes": list(r.notes),
    }


def _show_method(rules: Rules, table_name: str, method_name: str, as_json: bool) -> None:
    table = rules.spec.table(table_name)
    assert table is not None
    method = table.method(method_name)
    if method is None:
        known = ", ".join(m.name for m in table.methods)
        raise UnknownName(f"{table_name} has no method {method_name!r} (known: {known})")
    requirements = rules.get(f"{table_name}.{method_name}")
    assert requirements is not None
    prose = [r.text for r in table.rules if method_name in r.methods]
    if as_json:
        echo_json(
            json.dumps(
                {
                    "table": table_name,
                    "method": method_name,
                    "prototype": method.prototype,
                    "cells": None if method.cells is None else dict(method.cells),
                    "rules": prose,
                    **_requirements_json(requirements),
                },
                indent=1,
            )
        )
        return
    click.echo(f"{table_name}.{method_name}")
    click.echo(f"  prototype: {method.prototype or '(none in the document)'}")
    if method.cells is None:
        click.echo("  row: (none in the table)")
    else:
        cells = "; ".join(f"{c}: {v}" for c, v in method.cells) or "(empty)"
        click.echo(f"  row: {cells}")
    for text in prose:
        click.echo(f"  prose: {text}")
    click.echo("what a call requires:")
    source = f" ({requirements.blocking_source})" if requirements.blocking_source else ""
    click.echo(f"  blocking: {requirements.blocking or 'not stated'}{source}")
    if requirements.rcu_walk:
        click.echo(f"  in rcu-walk: {requirements.rcu_walk}")
    if requirements.context:
        click.echo(f"  called in: {requirements.context}")
    for need in requirements.needs:
        when = f" if {' and '.join(need.conditions)}" if need.conditions else ""
        click.echo(f"  {need.id}: {need.need}{when}  [{need.source}]")
    if not requirements.needs:
        click.echo("  no lock it must hold or must not hold")
    for note in requirements.notes:
        click.echo(f"  a note, not checked: {note}")
    for text in requirements.unmapped:
        click.echo(f"  not placed on the call's objects: {text}")


def _show_table(spec_: Spec, name: str, as_json: bool) -> None:
    table = spec_.table(name)
    if table is None:
        known = ", ".join(t.name for t in spec_.tables)
        raise UnknownName(f"unknown table {name!r} (known: {known})")
    if as_json:
        echo_json(
            json.dumps(
                {
                    "table": table.name,
                    "columns": list(table.columns),
                    "blocking": table.blocking,
                    "methods": {
                        m.name: {
                            "prototype": m.prototype,
                            "cells": None if m.cells is None else dict(m.cells),
                        }
                        for m in table.methods
                    },
                    "rules": [r.text for r in table.rules],
                },
                indent=1,
            )
        )
        return
    click.echo(f"{table.name}: {', '.join(table.columns) or 'no table'}")
    if table.blocking:
        click.echo(f"  {table.blocking}")
    width = max(len(m.name) for m in table.methods)
    for method in table.methods:
        if method.cells is None:
            cells = "(no row)"
        else:
            cells = "; ".join(f"{c}: {v}" for c, v in method.cells) or "(empty row)"
        missing = "" if method.prototype else "  (no prototype)"
        click.echo(f"  {method.name:<{width}}  {cells}{missing}")
    for rule in table.rules:
        click.echo(f"  rule: {rule.text}")


@spec.command("show")
@click.argument("name", required=False)
@SPECS_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@one_line_errors
def show_command(name: str | None, specs: Path, as_json: bool) -> None:
    """Show the rules: the tables, one TABLE, or TABLE.METHOD with what it
    requires of a call."""
    rules = conformance.rules_at(specs)
    spec_ = rules.spec
    if name is None:
        if as_json:
            echo_json(
                json.dumps(
                    {
                        t.name: {"columns": list(t.columns), "methods": len(t.methods)}
                        for t in spec_.tables
                    },
                    indent=1,
                )
            )
            return
        click.echo(f"{spec_.source}: {sum(len(t.methods) for t in spec_.tables)} methods")
        width = max(len(t.name) for t in spec_.tables)
        for table in spec_.tables:
            columns = ", ".join(table.columns) or "no table"
            click.echo(
                f"  {table.name:<{width}}  {len(table.methods):>3} methods, "
                f"{len(table.rules)} rules  ({columns})"
            )
        return
    table_name, _, method_name = name.partition(".")
    if spec_.table(table_name) is None and not method_name:
        table_name, method_name = _method_named(spec_, name)
        if not as_json:
            click.echo(f"({name} is {table_name}.{method_name})", err=True)
    if spec_.table(table_name) is None or not method_name:
        _show_table(spec_, table_name, as_json)
        return
    _show_method(rules, table_name, method_name, as_json)


def _method_named(spec_: Spec, name: str) -> tuple[str, str]:
    """The one table that has a method ``name``; an unknown or ambiguous
    name is an error naming the candidates."""
    tables = [t.name for t in spec_.tables if t.method(name) is not None]
    if len(tables) == 1:
        return tables[0], name
    if tables:
        listed = ", ".join(f"{t}.{name}" for t in tables)
        raise UnknownName(f"{name!r} is a method of {len(tables)} tables: {listed}")
    close = [f"{t.name}.{m.name}" for t in spec_.tables for m in t.methods if name in m.name]
    hint = f"; methods like it: {', '.join(close[:8])}" if close else ""
    known = ", ".join(t.name for t in spec_.tables)
    raise UnknownName(f"no table or method named {name!r} (tables: {known}){hint}")


def _load_any(path: Path, known: vocabulary.Vocabulary) -> Spec:
    if path.suffix == ".toml":
        return spec_load.load(path)
    return importer.import_path(path, known).spec


@spec.command("diff")
@click.argument("old", type=PATH)
@click.argument("new", type=PATH)
@VOCABULARY_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@one_line_errors
def diff_command(old: Path, new: Path, vocabulary: Path, as_json: bool) -> None:
    """What changed from OLD to NEW: each a rules file (.toml) or a document."""
    known = vocabulary_load(vocabulary)
    changes = diff.diff(_load_any(old, known), _load_any(new, known), known)
    if as_json:
        echo_json(
            json.dumps(
                {
                    "old": str(old),
                    "new": str(new),
                    "changes": [
                        {"kind": c.kind, "where": c.where, "before": c.before, "after": c.after}
                        for c in changes
                    ],
                    "summary": diff.summary(changes),
                },
                indent=1,
            )
        )
    else:
        for change in changes:
            click.echo(str(change))
        click.echo(diff.summary(changes))
    sys.exit(1 if changes else 0)


@spec.command("coverage")
@SPECS_OPTION
@models_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@one_line_errors
def coverage_command(specs: Path, models: tuple[Path, ...], as_json: bool) -> None:
    """For every method of every table: the scenarios calling it and what
    their calls check, or why no model calls it (with --models, the
    calls of those model files' scenarios too)."""
    from mc.check.registry import with_files

    rules = conformance.rules_at(specs)
    reasons = coverage.load_reasons(rules.spec, specs / "coverage.toml")
    for name in reasons.stale:
        click.echo(
            f"vfsmc: warning: {specs / 'coverage.toml'} explains {name}, which these rules "
            "do not have (ignored)",
            err=True,
        )
    found = coverage.coverage(with_files(models), rules, reasons)
    total = len(found.methods)
    modelled, explained = found.count("modelled"), found.count("explained")
    unexplained = found.count("unexplained")
    if as_json:
        echo_json(
            json.dumps(
                {
                    "methods": [
                        {
                            "table": m.table,
                            "method": m.method,
                            "status": m.status,
                            "scenarios": list(m.scenarios),
                            "checked": list(m.checked),
                            "checked_in": dict(zip(m.checked, m.checked_in, strict=True)),
                            "unchecked": [
                                {"need": n, "kind": k, "reason": r} for n, k, r in m.unchecked
                            ],
                            "reason": m.reason,
                        }
                        for m in found.methods
                    ],
                    "total": total,
                    "modelled": modelled,
                    "explained": explained,
                    "unexplained": unexplained,
                    "percent_modelled": round(found.percent_modelled, 1),
                    "percent_covered": round(found.percent_covered, 1),
                },
                indent=1,
            )
        )
    else:
        table = None
        for m in found.methods:
            if m.table != table:
                table = m.table
                click.echo(table)
            if m.modelled:
                count = len(m.scenarios)
                click.echo(
                    f"  {m.method:<22} modelled in {count} scenario{'s' * (count != 1)}; "
                    f"checks {m.checks()}"
                )
                for need, kind, reason in m.unchecked:
                    click.echo(f"  {'':<22} not checked: {need} ({kind}: {reason})")
            elif m.reason:
                click.echo(f"  {m.method:<22} not modelled: {m.reason}")
            else:
                click.echo(f"  {m.method:<22} NOT MODELLED AND NOT EXPLAINED")
        click.echo(
            f"{total} methods: {modelled} modelled ({found.percent_modelled:.1f}%), "
            f"{explained} explained, {unexplained} neither; "
            f"{found.percent_covered:.1f}% modelled or explained"
        )
    sys.exit(1 if unexplained else 0)


@spec.command("check")
@click.argument("new", type=PATH)
@VOCABULARY_OPTION
@click.option("--filter", "prefix", default="", help="Only scenarios whose name starts so.")
@models_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@one_line_errors
def check_command(
    new: Path, vocabulary: Path, prefix: str, models: tuple[Path, ...], as_json: bool
) -> None:
    """Every shipped scenario (and with --models, those of the model files
    given) against the rules of NEW (another version of the document, or
    a rules file): what the models do that NEW forbids, and the changed
    rules no model exercises."""
    from mc.check.registry import with_files
    from mc.check.rules_check import check_rules

    known = vocabulary_load(vocabulary)
    shipped = with_files(models)
    chosen = sorted(name for name in shipped.scenarios if name.startswith(prefix))
    if not chosen:
        raise click.UsageError(no_scenario_starting(prefix))
    found = check_rules(shipped, _load_any(new, known), known, chosen)
    if as_json:
        report = {
            "rules": str(new),
            "scenarios": [
                {"scenario": s.scenario, "breach": s.breach, "verdict": s.verdict.value}
                for s in found.scenarios
            ],
            "unexercised": [
                {"kind": c.kind, "where": c.where, "before": c.before, "after": c.after}
                for c in found.unexercised
            ],
            "unchecked": [{"method": m, "rule": r} for m, r in found.unchecked],
            "missing_tables": [
                {"table": table, "scenarios": list(calling)} for table, calling in found.missing
            ],
        }
        echo_json(json.dumps(report, indent=1))
    else:
        for s in found.scenarios:
            click.echo(f"{s.scenario}: {s.breach or 'conforms'}")
        for table, calling in found.missing:
            many = "s call" if len(calling) != 1 else " calls"
            click.echo(
                f"these rules lack the {table} table (table-removed): "
                f"{len(calling)} scenario{many} its methods"
            )
        for change in found.unexercised:
            click.echo(f"no model exercises: {change}")
        for method, rule in found.unchecked:
            click.echo(f"not checked: {method}: {rule}")
        click.echo(
            f"{len(found.scenarios)} scenarios: {len(found.breaches)} break the rules of {new}; "
            f"{len(found.unexercised)} changed rules no model exercises"
            + (f"; {len(found.unchecked)} rules not checked" if found.unchecked else "")
        )
    sys.exit(1 if found.breaches else 0)
