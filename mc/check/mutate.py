"""Mutation analysis: which locks does each property really need?

A mutation is a one-step change of an operation's program, applied to every
thread that runs the operation:

- ``drop``: a lock acquisition is removed (its releases become
  release-if-held, so other paths through the operation stay balanced);
- ``weaken``: an exclusive acquisition of an rw_semaphore is taken shared;
- ``swap``: two acquisitions that follow each other trade places.

Every mutation is also a variant named ``mutant:KIND@OPERATION:FILE:LINE``
(``FILE:LINE+FILE:LINE`` for a swap), so ``vfsmc check --variant`` and
``vfsmc replay`` accept it like any declared variant.

``analyse`` checks a scenario under each mutation of the steps it reaches,
then checks the mutations that broke nothing on every other scenario that
reaches the same step: a lock whose removal breaks nothing anywhere is "not
needed within these bounds", which is either a finding about the protocol
or a sign that the scenarios miss the race the lock is there for.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from mc.check import usermodels
from mc.check.checker import check_scenario, file_stem
from mc.dsl.kernel_model import KernelModel
from mc.dsl.operation import Invocation, ModelError
from mc.dsl.program import Program
from mc.dsl.scenario import REGISTRY, Registry, Variant
from mc.dsl.steps import DONE, LockStep, Step
from mc.engine.explore import Options, Search
from mc.engine.result import Verdict
from mc.kernel.locks import Kind as LockKind
from mc.kernel.locks import Mode

PREFIX = "mutant:"
Progress = Callable[[int, int, str], None]


class MutationError(ValueError):
    """Mutation analysis cannot run (the scenario fails unmutated)."""


class Kind(enum.Enum):
    """A kind of single-step protocol mutation."""

    DROP = "drop"
    WEAKEN = "weaken"
    SWAP = "swap"


@attrs.frozen
class Mutation:
    """One mutation of ``operation``: ``sites`` are the model lines
    (``file:line``) of the step(s) it changes."""

    kind: Kind
    operation: str
    sites: tuple[str, ...]
    label: str = attrs.field(default="", eq=False)
    """The kernel code of the step(s), for people."""
    lock: str = attrs.field(default="", eq=False)
    """The lock(s) as the scenario spells them."""

    @property
    def name(self) -> str:
        """The variant name of this mutation."""
        return f"{PREFIX}{self.kind.value}@{self.operation}:{'+'.join(self.sites)}"

    @property
    def source(self) -> str:
        """The model line(s), ``file:line`` or ``file:line+line``."""
        files = {site.rpartition(":")[0] for site in self.sites}
        if len(files) == 1 and len(self.sites) > 1:
            lines = "+".join(site.rpartition(":")[2] for site in self.sites)
            return f"{files.pop()}:{lines}"
        return "+".join(self.sites)

    def describe(self) -> str:
        """``drop rename 'mutex_lock(...)' (models/dirops.py:318)``."""
        return f"{self.kind.value} {self.operation} '{self.label}' ({self.source})"

    def apply(self, program: Program) -> Program:
        """The mutated program."""
        if self.kind is Kind.DROP:
            return program.drop_acquisitions(lambda step: _at(step, self.sites[0]))
        if self.kind is Kind.WEAKEN:
            return program.weaken(lambda step: _at(step, self.sites[0]))
        for first, second in program.adjacent_acquisitions():
            if (str(first.source), str(second.source)) == self.sites:
                program = program.swap(first, second)
        return program

    def transform(self, program: Program, invocation: Invocation) -> Program:
        """The variant transform: mutate the programs of this operation."""
        if invocation.operation.name != self.operation:
            return program
        return self.apply(program)

    def variant(self) -> Variant:
        """This mutation as a variant."""
        return Variant(self.name, f"{self.describe()}", self.transform)


def _at(step: Step, site: str) -> bool:
    return isinstance(step, LockStep) and str(step.source) == site


def parse(name: str) -> Mutation | None:
    """The mutation a variant name spells, or None."""
    if not name.startswith(PREFIX):
        return None
    kind_text, _, rest = name[len(PREFIX) :].partition("@")
    operation, _, where = rest.partition(":")
    try:
        kind = Kind(kind_text)
    except ValueError:
        return None
    sites = tuple(where.split("+")) if where else ()
    if not operation or len(sites) != (2 if kind is Kind.SWAP else 1):
        return None
    if not all(site.rpartition(":")[2].isdigit() for site in sites):
        return None
    return Mutation(kind, operation, sites)


def _resolve(name: str) -> Variant | None:
    mutation = parse(name)
    return None if mutation is None else mutation.variant()


if _resolve not in REGISTRY.variant_resolvers:
    REGISTRY.variant_resolvers.append(_resolve)


def mutations(model: KernelModel) -> list[Mutation]:
    """Every single-step mutation of the programs of ``model``'s threads,
    in program order, one per operation and model line."""
    kinds = {lock.family: lock.kind for lock in model.world.locks}
    found: dict[Mutation, Mutation] = {}
    for thread in model.threads:
        operation = thread.invocation.operation.name
        items = thread.program.items
        for position, item in enumerate(items):
            if not isinstance(item, LockStep):
                continue
            site, lock = str(item.source), item.lock.text
            candidates = [Mutation(Kind.DROP, operation, (site,), item.label, lock)]
            if item.mode is Mode.EXCL and kinds.get(item.lock.family) is LockKind.RWSEM:
                candidates.append(Mutation(Kind.WEAKEN, operation, (site,), item.label, lock))
            after = items[position + 1] if position + 1 < len(items) else None
            if isinstance(after, LockStep):
                candidates.append(
                    Mutation(
                        Kind.SWAP,
                        operation,
                        (site, str(after.source)),
                        f"{item.label}; {after.label}",
                        f"{lock}, {after.lock.text}",
                    )
                )
            for mutation in candidates:
                found.setdefault(mutation, mutation)
    return list(found.values())


def coverage(model: KernelModel, states: Sequence[tuple[Any, ...]]) -> set[tuple[str, str]]:
    """The (operation, model line) of every step some thread is about to run
    in one of ``states``."""
    reached: set[tuple[str, str]] = set()
    for thread in model.threads:
        pc_slot = thread.slots.pc
        operation = thread.invocation.operation.name
        pcs = {state[pc_slot] for state in states} - {DONE}
        reached.update((operation, str(thread.steps[pc].step.source)) for pc in pcs)
    return reached


STEP_RAISED = "step raised"
"""What a mutant broke when a model step raised on a state the mutation made
reachable (a filesystem method called on a name that is gone...)."""


@attrs.frozen
class MutantResult:
    """A mutation checked on the scenario; ``verdict`` is None when a model
    step raised (``message`` says where and what)."""

    mutation: Mutation
    verdict: Verdict | None
    violated: str | None
    message: str | None
    states: int
    seconds: float
    counterexample: Path | None

    @property
    def shown_verdict(self) -> str:
        return "ERROR" if self.verdict is None else self.verdict.value


@attrs.frozen
class Evidence:
    """A mutation that broke nothing in the analysed scenario, checked on
    every other scenario that reaches its step."""

    mutation: Mutation
    passed: tuple[str, ...]
    broke: tuple[tuple[str, str], ...]
    """(scenario, violated property) pairs."""


@attrs.frozen
class Analysis:
    """The result of ``analyse``."""

    scenario: str
    variants: tuple[str, ...]
    properties: tuple[str, ...]
    baseline_states: int
    results: tuple[MutantResult, ...]
    unreached: tuple[Mutation, ...]
    evidence: tuple[Evidence, ...]
    seconds: float

    def _unbroken(self, kind: Kind) -> list[Evidence]:
        return [e for e in self.evidence if e.mutation.kind is kind and not e.broke]

    @property
    def not_needed(self) -> list[Evidence]:
        """Lock acquisitions whose removal broke nothing anywhere they are reached."""
        return self._unbroken(Kind.DROP)

    @property
    def shared_suffices(self) -> list[Evidence]:
        """Exclusive acquisitions that could be shared, within these bounds."""
        return self._unbroken(Kind.WEAKEN)

    @property
    def needed_elsewhere(self) -> list[Evidence]:
        """Mutations harmless here that break another scenario."""
        return [e for e in self.evidence if e.broke]


@attrs.frozen
class Baseline:
    """A scenario's unmutated search: its verdict, the property violated
    (if any), the states stored and the steps reached."""

    verdict: Verdict
    violated: str | None
    states: int
    reached: frozenset[tuple[str, str]]

    def reaches(self, mutation: Mutation) -> bool:
        """Whether some thread running the mutated operation reaches its step."""
        return (mutation.operation, mutation.sites[0]) in self.reached


class _Baselines:
    """Each scenario's unmutated search, computed once."""

    def __init__(
        self,
        registry: Registry,
        variants: tuple[str, ...],
        properties: tuple[str, ...] | None,
        options: Options,
    ) -> None:
        self.registry = registry
        self.variants = variants
        self.properties = properties
        self.options = options
        self.found: dict[str, Baseline] = {}

    def get(self, scenario: str) -> Baseline:
        if scenario not in self.found:
            found = self.registry.scenario(scenario)
            model = self.registry.build(found, self.variants, self.properties)
            search = Search(model, attrs.evolve(self.options, exact=True, reduce=False))
            result = search.run()
            states = search.store.kept()
            self.found[scenario] = Baseline(
                result.verdict,
                result.violation.property if result.violation else None,
                len(states),
                frozenset(coverage(model, states)),
            )
        return self.found[scenario]


def analyse(
    registry: Registry,
    scenario: str,
    variants: Sequence[str] = (),
    *,
    properties: Sequence[str] | None = None,
    out: Path | None = None,
    options: Options | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Check ``scenario`` (under ``variants``, for ``properties``, by default
    each scenario's own) with each mutation of the steps it reaches, saving
    counterexamples under ``out``; then check the harmless drops and
    weakenings on the other scenarios."""
    started = time.perf_counter()
    base_variants = tuple(variants)
    options = options or Options()
    wanted = None if properties is None else tuple(properties)
    baselines = _Baselines(registry, base_variants, wanted, options)
    baseline = baselines.get(scenario)
    if baseline.verdict is not Verdict.OK:
        why = f" ({baseline.violated})" if baseline.violated else ""
        raise MutationError(
            f"{scenario} is {baseline.verdict.value}{why} before any mutation; "
            "mutation analysis needs a scenario that passes"
        )
    model = registry.build(registry.scenario(scenario), base_variants, wanted)
    every = mutations(model)
    live = [m for m in every if baseline.reaches(m)]
    results = []
    for done, mutation in enumerate(live):
        if progress is not None:
            progress(done, len(live), mutation.describe())
        results.append(_check(registry, scenario, baselines, mutation, out))
    harmless = [
        r.mutation
        for r in results
        if r.verdict is Verdict.OK and r.mutation.kind in (Kind.DROP, Kind.WEAKEN)
    ]
    evidence = []
    others = [
        name
        for name, found in sorted(registry.scenarios.items())
        if name != scenario
        and any(inv.operation.name in {m.operation for m in harmless} for inv in found.threads)
    ]
    for done, mutation in enumerate(harmless):
        if progress is not None:
            progress(done, len(harmless), f"other scenarios: {mutation.describe()}")
        evidence.append(_elsewhere(registry, scenario, others, mutation, baselines))
    if progress is not None:
        progress(1, 1, "")
    return Analysis(
        scenario=scenario,
        variants=base_variants,
        properties=tuple(p.name for p in model.properties()),
        baseline_states=baseline.states,
        results=tuple(results),
        unreached=tuple(m for m in every if m not in live),
        evidence=tuple(evidence),
        seconds=time.perf_counter() - started,
    )


def _check(
    registry: Registry,
    scenario: str,
    baselines: _Baselines,
    mutation: Mutation,
    out: Path | None,
) -> MutantResult:
    started = time.perf_counter()
    variants = baselines.variants
    try:
        with usermodels.reported():
            outcome = check_scenario(
                registry,
                scenario,
                (*variants, mutation.name),
                baselines.properties,
                baselines.options,
            )
    except ModelError as error:
        seconds = time.perf_counter() - started
        return MutantResult(mutation, None, STEP_RAISED, str(error), 0, seconds, None)
    seconds = time.perf_counter() - started
    result = outcome.result
    saved = None
    if outcome.counterexample is not None and out is not None:
        saved = out / f"{mutant_stem(scenario, variants, mutation)}.json"
        outcome.counterexample.save(saved)
    return MutantResult(
        mutation=mutation,
        verdict=result.verdict,
        violated=result.violation.property if result.violation else None,
        message=result.violation.message if result.violation else None,
        states=result.stats.states,
        seconds=seconds,
        counterexample=saved,
    )


def _elsewhere(
    registry: Registry,
    scenario: str,
    others: Sequence[str],
    mutation: Mutation,
    baselines: _Baselines,
) -> Evidence:
    passed = [scenario]
    broke = []
    for other in others:
        baseline = baselines.get(other)
        if baseline.verdict is not Verdict.OK or not baseline.reaches(mutation):
            continue
        try:
            with usermodels.reported():
                outcome = check_scenario(
                    registry,
                    other,
                    (*baselines.variants, mutation.name),
                    baselines.properties,
                    baselines.options,
                )
        except ModelError:
            broke.append((other, STEP_RAISED))
            continue
        if outcome.result.verdict is Verdict.OK:
            passed.append(other)
        elif outcome.result.violation is not None:
            broke.append((other, outcome.result.violation.property))
        else:
            broke.append((other, outcome.result.verdict.value))
    return Evidence(mutation, tuple(passed), tuple(broke))


def mutant_stem(scenario: str, variants: Sequence[str], mutation: Mutation) -> str:
    """The file name (without suffix) of a mutant's counterexample."""
    return file_stem(scenario, (*variants, mutation.name))


LABEL_WIDTH = 52


def _clip(text: str, width: int = LABEL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def render(analysis: Analysis) -> str:
    """The analysis as a table and the findings under it."""
    variants = f" with {', '.join(analysis.variants)}" if analysis.variants else ""
    lines = [
        f"mutations of {analysis.scenario}{variants}: {len(analysis.results)} reached"
        f" ({len(analysis.unreached)} not reached), unmutated OK with"
        f" {analysis.baseline_states} states, {analysis.seconds:.2f} s",
        f"properties: {', '.join(analysis.properties)}",
        "",
    ]
    rows = [
        [
            r.mutation.kind.value,
            r.mutation.operation,
            _clip(r.mutation.label),
            r.mutation.lock,
            r.mutation.source,
            r.shown_verdict,
            r.violated or "-",
            str(r.counterexample) if r.counterexample else "-",
        ]
        for r in analysis.results
    ]
    header = ["mutation", "operation", "step", "lock", "source", "verdict", "property"]
    lines += _table([*header, "counterexample"], rows)
    if analysis.unreached:
        lines += ["", f"not reached in this scenario, so unchecked: {len(analysis.unreached)}"]
        lines += _unreached_sites(analysis.unreached)
    lines += ["", "not needed within these bounds (dropping the lock broke nothing anywhere):"]
    lines += _findings(analysis.not_needed) or ["  none"]
    if analysis.shared_suffices:
        lines += ["", "shared would do within these bounds (weakening broke nothing anywhere):"]
        lines += _findings(analysis.shared_suffices)
    if analysis.needed_elsewhere:
        lines += ["", "harmless here, needed in another scenario:"]
        for e in analysis.needed_elsewhere:
            broke = ", ".join(f"{name} ({prop})" for name, prop in e.broke)
            lines.append(f"  {e.mutation.describe()}: breaks {broke}")
    return "\n".join(lines)


def _unreached_sites(unreached: Sequence[Mutation]) -> list[str]:
    sites: dict[tuple[str, str], list[str]] = {}
    for mutation in unreached:
        for site in mutation.sites:
            file, _, line = site.rpartition(":")
            lines = sites.setdefault((mutation.operation, file), [])
            if line not in lines:
                lines.append(line)
    return [
        f"  {operation}: {file}:{', '.join(lines)}" for (operation, file), lines in sites.items()
    ]


def _findings(evidence: Sequence[Evidence]) -> list[str]:
    return [
        f"  {e.mutation.operation}: {e.mutation.label} [{e.mutation.lock}] "
        f"{e.mutation.source}; checked in {', '.join(e.passed)}"
        for e in evidence
    ]


def _mutation_json(mutation: Mutation) -> dict[str, Any]:
    return {
        "name": mutation.name,
        "kind": mutation.kind.value,
        "operation": mutation.operation,
        "label": mutation.label,
        "lock": mutation.lock,
        "source": mutation.source,
    }


def to_json(analysis: Analysis) -> dict[str, Any]:
    """The analysis as one JSON object."""

    def evidence(e: Evidence) -> dict[str, Any]:
        broke = [{"scenario": name, "property": prop} for name, prop in e.broke]
        return {**_mutation_json(e.mutation), "passed": list(e.passed), "broke": broke}

    return {
        "scenario": analysis.scenario,
        "variants": list(analysis.variants),
        "properties": list(analysis.properties),
        "baseline_states": analysis.baseline_states,
        "seconds": round(analysis.seconds, 3),
        "mutations": [
            {
                **_mutation_json(r.mutation),
                "verdict": r.shown_verdict,
                "property": r.violated,
                "message": r.message,
                "states": r.states,
                "seconds": round(r.seconds, 4),
                "counterexample": str(r.counterexample) if r.counterexample else None,
            }
            for r in analysis.results
        ],
        "unreached": [_mutation_json(m) for m in analysis.unreached],
        "not_needed": [evidence(e) for e in analysis.not_needed],
        "shared_suffices": [evidence(e) for e in analysis.shared_suffices],
        "needed_elsewhere": [evidence(e) for e in analysis.needed_elsewhere],
    }
