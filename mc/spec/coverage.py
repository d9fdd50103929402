"""Coverage of the rules by the models: for every method of every table,
the scenarios whose threads call it and what the call checks, or, for a
method no model calls, the reason ``specs/coverage.toml`` records."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry
from mc.dsl.steps import CallStep
from mc.project import SPECS, shown
from mc.spec import conformance
from mc.spec.load import SpecError, read_toml
from mc.spec.model import Spec
from mc.spec.prose import speaks_of_locks
from mc.spec.semantics import Rules

DEFAULT_PATH = SPECS / "coverage.toml"
NOTE_REASON = "specs/vocabulary.toml reads the column as a note, which says why"


@attrs.frozen
class Reasons:
    """Why methods are not modelled: per table, and per method."""

    tables: Mapping[str, str]
    methods: Mapping[str, str]
    stale: tuple[str, ...] = ()
    """Tables and methods the file explains that these rules do not have
    (the rules of another version of the document)."""

    def reason(self, table: str, method: str) -> str | None:
        return self.methods.get(f"{table}.{method}", self.tables.get(table))


def load_reasons(spec: Spec, path: Path = DEFAULT_PATH) -> Reasons:
    """Read ``specs/coverage.toml``; a table or method it names that
    ``spec`` lacks is listed in ``stale`` (rules of another version)."""
    data = read_toml(path)
    if set(data) - {"tables"}:
        raise SpecError(f"{path}: unknown field {sorted(set(data) - {'tables'})[0]!r}")
    tables: dict[str, str] = {}
    methods: dict[str, str] = {}
    stale: list[str] = []
    raw_tables = data.get("tables", {})
    if not isinstance(raw_tables, dict):
        raise SpecError(f"{path}: field tables: must be a table")
    for name, raw in raw_tables.items():
        table = spec.table(name)
        if table is None:
            stale.append(name)
            continue
        if not isinstance(raw, dict) or set(raw) - {"reason", "methods"}:
            raise SpecError(f"{path}: table {name}: holds only reason and methods")
        if "reason" in raw:
            if not isinstance(raw["reason"], str):
                raise SpecError(f"{path}: table {name}, field reason: must be a string")
            tables[name] = raw["reason"]
        raw_methods = raw.get("methods", {})
        if not isinstance(raw_methods, dict):
            raise SpecError(f"{path}: table {name}, field methods: must be a table")
        for method, reason in raw_methods.items():
            if table.method(method) is None:
                stale.append(f"{name}.{method}")
                continue
            if not isinstance(reason, str):
                raise SpecError(f"{path}: table {name}, method {method}: must be a string")
            methods[f"{name}.{method}"] = reason
    return Reasons(tables, methods, tuple(stale))


@attrs.frozen
class MethodCoverage:
    """One method: the scenarios calling it, what those calls check, or why
    no model calls it."""

    table: str
    method: str
    scenarios: tuple[str, ...]
    checked: tuple[str, ...]
    unchecked: tuple[tuple[str, str, str], ...]
    """(need, kind, reason) for what the calls cannot check."""
    reason: str | None
    checked_in: tuple[int, ...]
    """How many of ``scenarios`` check each need of ``checked``."""

    def checks(self) -> str:
        """What the calls check, each need with the number of scenarios
        that check it where some calling scenarios cannot."""
        if not self.checked:
            return "no lock rule"
        return ", ".join(
            need if count == len(self.scenarios) else f"{need} (in {count})"
            for need, count in zip(self.checked, self.checked_in, strict=True)
        )

    @property
    def modelled(self) -> bool:
        return bool(self.scenarios)

    @property
    def status(self) -> str:
        if self.modelled:
            return "modelled"
        return "explained" if self.reason else "unexplained"


@attrs.frozen
class Coverage:
    methods: tuple[MethodCoverage, ...]

    def count(self, status: str) -> int:
        return sum(1 for m in self.methods if m.status == status)

    @property
    def percent_modelled(self) -> float:
        return 100.0 * self.count("modelled") / len(self.methods) if self.methods else 100.0

    @property
    def percent_covered(self) -> float:
        done = self.count("modelled") + self.count("explained")
        return 100.0 * done / len(self.methods) if self.methods else 100.0


def calls_by_scenario(
    registry: Registry, models: dict[str, KernelModel] | None = None
) -> dict[str, dict[str, list[CallStep]]]:
    """For each method called, the scenarios calling it and their call steps
    (``models`` receives each scenario's built model)."""
    found: dict[str, dict[str, list[CallStep]]] = {}
    for name in sorted(registry.scenarios):
        model = registry.build(registry.scenario(name), properties=())
        if models is not None:
            models[name] = model
        for thread in model.threads:
            for compiled in thread.steps:
                step = compiled.step
                if isinstance(step, CallStep):
                    found.setdefault(step.method, {}).setdefault(name, []).append(step)
    return found


def coverage(registry: Registry, rules: Rules, reasons: Reasons) -> Coverage:
    """The coverage of every method of ``rules.spec`` by ``registry``'s
    scenarios: each need with the number of scenarios that check it, and
    what some call leaves unchecked, though other calls check it (a call
    of a model file outside the shipped models with its model line)."""
    models: dict[str, KernelModel] = {}
    calls = calls_by_scenario(registry, models)
    methods = []
    for table, method in rules.spec.methods():
        name = f"{table.name}.{method.name}"
        by_scenario = calls.get(name, {})
        checked: dict[str, set[str]] = {}
        unchecked: dict[tuple[str, str, str], None] = {}
        theirs: dict[tuple[str, str, str], None] = {}
        for scenario, steps in by_scenario.items():
            for step in steps:
                plan = conformance.plan(step, models[scenario].world, rules)
                for found in plan.checked:
                    checked.setdefault(found.need.id, set()).add(scenario)
                if step.source.file.startswith(conformance.SHIPPED_MODELS):
                    unchecked.update(
                        dict.fromkeys((u.need, u.kind, u.reason) for u in plan.unchecked)
                    )
                else:
                    where = f" at {shown(step.source.file)}:{step.source.line}"
                    theirs.update(
                        dict.fromkeys((u.need, u.kind, u.reason + where) for u in plan.unchecked)
                    )
        noted = rules.get(name)
        if by_scenario and noted is not None:
            for note in noted.notes:
                if speaks_of_locks(note.split(": ", 1)[1]):
                    unchecked[(note, "note", NOTE_REASON)] = None
        methods.append(
            MethodCoverage(
                table.name,
                method.name,
                tuple(by_scenario),
                tuple(checked),
                tuple(unchecked) + tuple(theirs),
                reasons.reason(table.name, method.name),
                tuple(len(scenarios) for scenarios in checked.values()),
            )
        )
    return Coverage(tuple(methods))
