"""Checking a scenario end to end: build the model, search it, and turn a
violation into a counterexample."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import attrs

from mc.dsl.kernel_model import KernelModel, unchecked_errors
from mc.dsl.scenario import Registry, Scenario
from mc.engine.explore import Options, Search
from mc.engine.parallel import ParallelSearch
from mc.engine.ray_pool import RayPool
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


@attrs.frozen
class Spread:
    """A search spread over ``workers`` processes: forked from this one, or
    Ray actors (``ray``) on the cluster at ``address``, which build the
    model themselves after loading the model files ``sources``."""

    workers: int
    ray: bool = False
    address: str | None = None
    sources: tuple[Path, ...] = ()


def build_model(
    sources: Sequence[Path],
    scenario: str,
    variants: Sequence[str],
    properties: Sequence[str] | None,
) -> KernelModel:
    """The model of ``scenario``, built in a fresh process after loading
    the model files ``sources`` (what a Ray actor runs)."""
    from mc.check import usermodels

    registry = usermodels.load_all(sources)
    return registry.build(registry.scenario(scenario), variants, properties)


def check_scenario(
    registry: Registry,
    scenario: str,
    variants: Sequence[str] = (),
    properties: Sequence[str] | None = None,
    options: Options | None = None,
    spread: Spread | None = None,
) -> Outcome:
    """Check ``scenario`` under ``variants``; raises ``UnknownName`` for a
    name the registry does not know.  Symbolic scenarios keep their states
    in full (their statistics count them).  A ``spread`` search is
    breadth-first over several processes, without partial-order reduction
    and without the count of unchecked errors."""
    found = registry.scenario(scenario)
    model = registry.build(found, variants, properties)
    options = options or Options()
    if not options.exact and "symbolic" in model.world.parts:
        options = attrs.evolve(options, exact=True)
    if spread is not None:
        pool = None
        if spread.ray:
            factory = functools.partial(
                build_model, spread.sources, scenario, tuple(variants), properties
            )
            pool = RayPool(factory, spread.workers, options.exact, spread.address)
        result = ParallelSearch(model, options, spread.workers).run(pool)
        halted: Sequence[tuple[object, ...]] = ()
    else:
        search = Search(model, options)
        result = search.run()
        halted = search.halted_states
    counterexample = None
    if result.violation is not None and result.violation.path is not None:
        counterexample = counterexample_of(model, found, tuple(variants), result.violation)
    unchecked = unchecked_errors(halted, result.properties)
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
