"""Checking a scenario end to end: build the model, search it, and turn a
violation into a counterexample."""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from mc.check import inventory
from mc.dsl.kernel_model import KernelModel, unchecked_errors
from mc.dsl.scenario import Registry, Scenario
from mc.engine.explore import Options, Search
from mc.engine.result import Result, Violation
from mc.trace.format import Counterexample


@attrs.frozen
class Outcome:
    """A finished check."""

    scenario: Scenario
    variants: tuple[str, ...]
    model: KernelModel
    result: Result[tuple[object, ...], tuple[int, int]]
    counterexample: Counterexample | None
    unchecked_errors: dict[str, int] = attrs.field(factory=dict)
    """States that ended in an error against a property this run does not
    check (so nothing was explored beyond them), by property."""

    @property
    def verdict(self) -> str:
        """``OK``, ``VIOLATED`` or ``INCOMPLETE``."""
        return self.result.verdict.value

    @property
    def message(self) -> str | None:
        """What is violated (the property's message), why the run is
        incomplete, or None when it is OK."""
        violation = self.result.violation
        if violation is not None:
            return f"{violation.property}: {violation.message}"
        return self.result.incomplete_reason


def check_scenario(
    registry: Registry,
    scenario: str,
    variants: Sequence[str] = (),
    properties: Sequence[str] | None = None,
    options: Options | None = None,
) -> Outcome:
    """Check ``scenario`` under ``variants``; raises ``UnknownName`` for a
    name the registry does not know and ``NotApplicable`` for a property
    the scenario gives nothing to check."""
    found = registry.scenario(scenario)
    if properties is not None:
        inventory.check_applicable(registry, found, properties)
    model = registry.build(found, variants, properties)
    search = Search(model, options)
    result = search.run()
    counterexample = None
    if result.violation is not None and result.violation.path is not None:
        counterexample = counterexample_of(model, found, tuple(variants), result.violation)
    unchecked = unchecked_errors(search.states, result.properties)
    return Outcome(found, tuple(variants), model, result, counterexample, unchecked)


def counterexample_of(
    model: KernelModel,
    scenario: Scenario,
    variants: tuple[str, ...],
    violation: Violation[tuple[object, ...], tuple[int, int]],
) -> Counterexample:
    """The counterexample of ``violation``'s path."""
    path = violation.path
    assert path is not None
    steps = []
    for before, action in zip(path.states, path.actions, strict=False):
        steps.extend(model.records(before, action))
    cycle = model.deadlock_cycle(path.states[-1]) if violation.property == "deadlock" else []
    return Counterexample(
        scenario=scenario.name,
        variants=variants,
        properties=tuple(p.name for p in model.properties()),
        property=violation.property,
        message=violation.message,
        threads=tuple((t.name, str(t.invocation)) for t in model.threads),
        steps=tuple(steps),
        witness=model.witness(path.states[-1]),
        cycle=tuple(cycle),
    )


def file_stem(scenario: str, variants: Sequence[str]) -> str:
    """The file name (without suffix) a counterexample is saved under."""
    return "--".join(re.sub(r"[^\w.@+-]+", "-", part) for part in (scenario, *variants))
