"""Mutation analysis: which locks does each property really need?

A mutation is a one-step change of an operation's program, applied to every
thread that runs the operation:

- ``drop``: a lock acquisition is removed (its releases and hand-offs
  become release- and hand-off-if-held, so other paths through the
  operation stay balanced; another operation's take-over of a handed-off
  lock, and its release of it, become if-held too);
- ``weaken``: an exclusive acquisition of an rw_semaphore is taken shared;
- ``swap``: of two acquisitions taken in turn (between them only steps
  that take no lock and jump nowhere), the second is taken first;
- ``spin``: a trylock that backs off when the lock is busy (jumps to its
  fail label, where the kernel drops its own locks and retries) retries in
  place instead, keeping every lock the thread holds: ``while
  (!spin_trylock(&lock)) cpu_relax();``, which may spin for ever.

Every mutation is also a variant named
``mutant:KIND@OPERATION:FUNCTION:KERNEL-CODE`` (a swap names two sites
joined by `` + ``), so ``vfsmc check --variant`` and ``vfsmc replay``
accept it like any declared variant.

``analyse`` checks a scenario under each mutation of the steps it reaches,
then checks the mutations that broke nothing on every other scenario that
reaches the same step: a lock whose removal breaks nothing anywhere is "not
needed within these bounds", which is either a finding about the protocol
or a sign that the scenarios miss the race the lock is there for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs

from mc.check import mutate_hints, side_by_side, usermodels
from mc.check.checker import build, check_scenario, file_stem, under_changing
from mc.check.inventory import check_applicable
from mc.check.lockorder import Documented, load_documented
from mc.check.mutants import Kind, Mutation, mutations, site_names, site_of
from mc.check.mutants import sections as mutant_sections
from mc.check.mutate_hints import Hint
from mc.check.recorded import save_recorded
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import LockOrder, NotApplicable, Registry
from mc.dsl.wait_steps import TryLockStep
from mc.engine.explore import Options, Search
from mc.engine.result import Result, Verdict
from mc.kernel.world import ModelError
from mc.project import shown_source
from mc.spec.conformance import SPEC_CONFORMANCE
from mc.text import counted

R = TypeVar("R")

Progress = Callable[[int, int, str], None]


class MutationError(ValueError):
    """Mutation analysis cannot run (the scenario fails unmutated)."""


class MutationIncomplete(MutationError):
    """Mutation analysis stopped before any mutation was checked: a bound
    (``--time-limit``, ``--max-states``, the memory limit) or Ctrl-C
    stopped the unmutated scenario's search."""


def coverage(model: KernelModel, ran: Iterable[tuple[int, int]]) -> set[tuple[str, str]]:
    """The (operation, site) of every lock acquisition and trylock among the
    steps a search ``ran`` (thread, program counter: ``KernelModel.watch``,
    which sees the local steps run along with another too, on the branches
    they take)."""
    reached: set[tuple[str, str]] = set()
    names = [
        {**site_names(thread.program, TryLockStep), **site_names(thread.program)}
        for thread in model.threads
    ]
    for tid, pc in ran:
        thread = model.threads[tid]
        site = names[tid].get(site_of(thread.steps[pc].step))
        if site is not None:
            reached.add((thread.invocation.operation.name, site))
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
    unsaved: str | None = None
    """Why its counterexample could not be saved (an unwritable ``out``):
    the verdict stands, as ``check``'s does."""
    beneath: str | None = None
    """What a swap that broke ``spec-conformance`` first breaks once that
    property is left out (a deadlock the rule table's violation, found
    sooner, hides), if anything."""

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
    hints: dict[str, Hint] = attrs.field(factory=dict)
    """For each finding that no scenario decided (a drop or weakening that
    broke nothing anywhere), by mutation name: the kind of scenario missing."""
    sections: tuple[str, ...] = ()
    """The spinlock sections of the scenario's programs, which no mutation
    changes (``mutants.sections``)."""
    changes_nothing_in: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    """For each of ``variants``, the other scenarios a mutation was checked
    on that it changes nothing in: they were checked without it (a
    scenario under a variant that changes nothing in it is the scenario
    itself)."""
    interrupted: bool = False
    """Ctrl-C ended the analysis: ``results`` and ``evidence`` hold what was
    done by then, ``unfinished`` what was not."""
    unfinished: tuple[Mutation, ...] = ()
    """Mutations reached whose check, or whose check on the other
    scenarios that reach their step, Ctrl-C left undone."""
    lock_orders: tuple[LockOrder, ...] = ()
    """The lock orders the model files declared (``lock_order``), which a
    swap is judged against with ``specs/lockorder.toml``'s."""

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
    variants: tuple[str, ...] = ()
    """The variants of the run that change the scenario, the ones it is
    searched (and its mutants checked) under."""
    reason: str | None = None
    """Why the search stopped short, when its verdict is INCOMPLETE."""

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
        excluded: tuple[str, ...] = (),
    ) -> None:
        self.registry = registry
        self.variants = variants
        self.properties = properties
        self.options = options
        self.excluded = excluded
        self.found: dict[str, Baseline] = {}

    def properties_of(self, scenario: str) -> tuple[str, ...] | None:
        """The properties checked in ``scenario``: the ones asked for, or
        its own, less the excluded ones (None: its own)."""
        if not self.excluded:
            return self.properties
        base = self.properties
        if base is None:
            base = self.registry.scenario(scenario).properties
        return tuple(name for name in base if name not in self.excluded)

    def get(self, scenario: str) -> Baseline:
        if scenario not in self.found:
            found = self.registry.scenario(scenario)
            wanted = self.properties_of(scenario)
            if wanted is not None:
                check_applicable(self.registry, found, wanted)
            model, changing = under_changing(self.registry, found, self.variants, wanted)
            ran = model.watch(model.every_step(), taken=True)
            search = Search(model, attrs.evolve(self.options, exact=True, reduce=False))
            result = search.run()
            self.found[scenario] = Baseline(
                result.verdict,
                result.violation.property if result.violation else None,
                result.stats.states,
                frozenset(coverage(model, ran)),
                changing,
                result.incomplete_reason,
            )
        return self.found[scenario]


def analyse(
    registry: Registry,
    scenario: str,
    variants: Sequence[str] = (),
    *,
    properties: Sequence[str] | None = None,
    excluded: Sequence[str] = (),
    out: Path | None = None,
    options: Options | None = None,
    progress: Progress | None = None,
    processes: int = 1,
) -> Analysis:
    """Check ``scenario`` (under ``variants``, for ``properties``, by default
    each scenario's own less ``excluded``) with each mutation of the steps it reaches, saving
    counterexamples under ``out``; then check the harmless drops and
    weakenings on the other scenarios, each under those of ``variants``
    that change it.  ``scenario`` is refused as ``check`` refuses it
    (``build``): a scenario without threads or without a property to
    check, or a variant that changes nothing in it.  ``processes``: how
    many mutants are checked at once, each in a forked process
    (``side_by_side``); the analysis is the same."""
    started = time.perf_counter()
    base_variants = tuple(variants)
    options = options or Options()
    wanted = None if properties is None else tuple(properties)
    baselines = _Baselines(registry, base_variants, wanted, options, tuple(excluded))
    found = registry.scenario(scenario)
    checked = baselines.properties_of(scenario)
    if checked is not None:
        check_applicable(registry, found, checked)
    model = build(registry, found, base_variants, checked)
    try:
        baseline = baselines.get(scenario)
    except KeyboardInterrupt:
        raise MutationIncomplete(
            f"{scenario}: interrupted (Ctrl-C) while searching it unmutated, before any "
            "mutation was checked"
        ) from None
    if baseline.verdict is Verdict.INCOMPLETE:
        raise MutationIncomplete(
            f"{scenario} is INCOMPLETE before any mutation ({baseline.reason}, after "
            f"{baseline.states:,} states), so no mutation was checked: mutation analysis "
            "needs the unmutated scenario's whole search (raise the bound)"
        )
    if baseline.verdict is not Verdict.OK:
        why = f" ({baseline.violated})" if baseline.violated else ""
        raise MutationError(
            f"{scenario} is {baseline.verdict.value}{why} before any mutation; "
            "mutation analysis needs a scenario that passes"
        )
    every = mutations(model)
    live = [m for m in every if baseline.reaches(m)]
    done: dict[int, MutantResult] = {}

    def analysis(results: Sequence[MutantResult], **found: Any) -> Analysis:
        return Analysis(
            scenario=scenario,
            variants=base_variants,
            properties=tuple(p.name for p in model.properties()),
            baseline_states=baseline.states,
            results=tuple(results),
            unreached=tuple(m for m in every if m not in live),
            seconds=time.perf_counter() - started,
            sections=tuple(mutant_sections(model)),
            lock_orders=tuple(registry.lock_orders),
            **found,
        )

    try:
        results = side_by_side.each(
            len(live),
            lambda at: _check(registry, scenario, baselines, live[at], out),
            processes,
            _kept(done, _counted(progress, len(live), "mutants")),
        )
    except KeyboardInterrupt:
        results = [done[at] for at in sorted(done)]
        return analysis(
            results,
            evidence=(),
            interrupted=True,
            unfinished=tuple(
                m for m in live if m not in {r.mutation for r in results} or _harmless(m, results)
            ),
        )
    harmless = [
        r.mutation
        for r in results
        if r.verdict is Verdict.OK and r.mutation.kind in (Kind.DROP, Kind.WEAKEN)
    ]
    others = [
        name
        for name, found in sorted(registry.scenarios.items())
        if name != scenario
        and any(inv.operation.name in {m.operation for m in harmless} for inv in found.threads)
    ]
    found_elsewhere: dict[int, Evidence] = {}
    interrupted = False
    try:
        evidence = side_by_side.each(
            len(harmless),
            lambda at: _elsewhere(registry, scenario, others, harmless[at], baselines),
            processes,
            _kept(
                found_elsewhere,
                _counted(progress, len(harmless), "harmless ones on other scenarios"),
            ),
        )
    except KeyboardInterrupt:
        interrupted = True
        evidence = [found_elsewhere[at] for at in sorted(found_elsewhere)]
    if progress is not None:
        progress(1, 1, "")
    checked_elsewhere = sorted(
        {name for e in evidence for name in (*e.passed, *(n for n, _ in e.broke))} - {scenario}
    )
    under = {name: baselines.get(name).variants for name in checked_elsewhere}
    changes_nothing_in = {
        variant: names
        for variant in base_variants
        if (names := tuple(name for name in checked_elsewhere if variant not in under[name]))
    }
    undecided = [e for e in evidence if not e.broke and e.mutation.kind is not Kind.SWAP]
    all_takers = mutate_hints.takers(registry, base_variants) if undecided else []
    hints = {
        e.mutation.name: mutate_hints.hint(
            registry,
            all_takers,
            e.mutation.operation,
            e.mutation.lock,
            e.mutation.kind is Kind.WEAKEN,
            e.passed,
            e.mutation.label,
        )
        for e in undecided
    }
    return analysis(
        results,
        evidence=tuple(evidence),
        hints=hints,
        changes_nothing_in=changes_nothing_in,
        interrupted=interrupted,
        unfinished=tuple(m for m in harmless if m not in {e.mutation for e in evidence}),
    )


def _harmless(mutation: Mutation, results: Sequence[MutantResult]) -> bool:
    """Whether ``mutation``, among ``results``, is a drop or weakening
    that broke nothing here (to be checked on the other scenarios)."""
    return mutation.kind in (Kind.DROP, Kind.WEAKEN) and any(
        r.mutation == mutation and r.verdict is Verdict.OK for r in results
    )


def _kept(into: dict[int, R], tell: Callable[[int, R], None] | None) -> Callable[[int, R], None]:
    """A ``done`` callback that keeps each result in ``into`` by index (for
    what Ctrl-C leaves) and passes it on to ``tell``."""

    def done(index: int, result: R) -> None:
        into[index] = result
        if tell is not None:
            tell(index, result)

    return done


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
                baselines.properties_of(scenario),
                baselines.options,
            )
    except ModelError as error:
        seconds = time.perf_counter() - started
        return MutantResult(mutation, None, STEP_RAISED, str(error), 0, seconds, None)
    result = outcome.result
    beneath = _beneath(registry, scenario, baselines, mutation, result)
    seconds = time.perf_counter() - started
    saved: Path | None = None
    unsaved = None
    if outcome.counterexample is not None and out is not None:
        saved = out / f"{mutant_stem(scenario, variants, mutation)}.json"
        try:
            save_recorded(
                registry, outcome.scenario, outcome.variants, outcome.counterexample, saved
            )
        except OSError as error:
            saved, unsaved = None, str(error)
    return MutantResult(
        mutation=mutation,
        verdict=result.verdict,
        violated=result.violation.property if result.violation else None,
        message=result.violation.message if result.violation else None,
        states=result.stats.states,
        seconds=seconds,
        counterexample=saved,
        unsaved=unsaved,
        beneath=beneath,
    )


def _beneath(
    registry: Registry,
    scenario: str,
    baselines: _Baselines,
    mutation: Mutation,
    result: Result[Any, Any],
) -> str | None:
    """For a swap whose first violation is ``spec-conformance``, the property
    it violates with that one left out, if any (None for other mutations)."""
    violated = result.violation.property if result.violation else None
    if mutation.kind is not Kind.SWAP or violated != SPEC_CONFORMANCE:
        return None
    others = tuple(p for p in result.properties if p != SPEC_CONFORMANCE)
    if not others:
        return None
    with usermodels.reported():
        again = check_scenario(
            registry, scenario, (*baselines.variants, mutation.name), others, baselines.options
        ).result
    return again.violation.property if again.violation else None


def _elsewhere(
    registry: Registry,
    scenario: str,
    others: Sequence[str],
    mutation: Mutation,
    baselines: _Baselines,
) -> Evidence:
    """What the scenarios ``others`` say of ``mutation``, harmless in
    ``scenario``: those it breaks and those that pass under it; one that
    checks nothing, does not apply, or whose model raises on the correct
    protocol (a model file's broken property) tells nothing."""
    passed = [scenario]
    broke = []
    for other in others:
        if baselines.properties_of(other) == ():
            continue
        try:
            with usermodels.reported():
                baseline = baselines.get(other)
        except (NotApplicable, ModelError):
            continue
        if baseline.verdict is not Verdict.OK or not baseline.reaches(mutation):
            continue
        try:
            with usermodels.reported():
                outcome = check_scenario(
                    registry,
                    other,
                    (*baseline.variants, mutation.name),
                    baselines.properties_of(other),
                    baselines.options,
                )
        except NotApplicable:
            continue
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


def _counted(progress: Progress | None, total: int, what: str) -> Callable[[int, Any], None] | None:
    """``progress`` told how many of ``total`` checks are done as each ends."""
    if progress is None:
        return None
    finished = [0]

    def done(_index: int, _result: Any) -> None:
        finished[0] += 1
        progress(finished[0], total, what)

    return done


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
    """The analysis as a table and a summary in which every mutation
    appears in exactly one section."""
    variants = f" with {', '.join(analysis.variants)}" if analysis.variants else ""
    reached = len({r.mutation for r in analysis.results} | set(analysis.unfinished))
    total = reached + len(analysis.unreached)
    lines = [
        f"mutations of {analysis.scenario}{variants}: {total}, {reached} reached"
        f" ({len(analysis.unreached)} not reached), unmutated OK with"
        f" {analysis.baseline_states} states (every interleaving), {analysis.seconds:.2f} s",
        f"properties: {', '.join(analysis.properties)}",
        *(
            f"{variant} changes nothing in {', '.join(names)}: checked there without it"
            for variant, names in analysis.changes_nothing_in.items()
        ),
        "",
    ]
    rows = [
        [
            r.mutation.kind.value,
            r.mutation.operation,
            _clip(r.mutation.label),
            r.mutation.lock,
            shown_source(r.mutation.source),
            r.shown_verdict,
            r.violated or "-",
            str(r.counterexample) if r.counterexample else "-",
        ]
        for r in analysis.results
    ]
    header = ["mutation", "operation", "step", "lock", "source", "verdict", "property"]
    lines += _table([*header, "counterexample"], rows)
    lines += ["", "summary:"]
    for title, count, members in summary(analysis):
        lines += ["", f"{title} ({count}):"]
        lines += [f"  {line}" for line in members] or ["  none"]
    lines += _rule_note(analysis)
    if analysis.interrupted:
        lines += [
            "",
            f"incomplete: interrupted (Ctrl-C) after {analysis.seconds:.2f} s; "
            f"{counted(len(analysis.results), 'mutation')} checked here, "
            f"{len(analysis.unfinished)} undecided",
        ]
    return "\n".join(lines)


def _rule_note(analysis: Analysis) -> list[str]:
    """A note when most mutations that broke the scenario broke only
    ``spec-conformance``: the rule as the document writes it, which says
    nothing of what the change leads to."""
    broke = [r for r in analysis.results if r.verdict is not Verdict.OK]
    by_rule = [r for r in broke if r.violated == SPEC_CONFORMANCE]
    if len(by_rule) < 2 or 2 * len(by_rule) < len(broke):
        return []
    return [
        "",
        f"note: {len(by_rule)} of the {len(broke)} that broke {analysis.scenario} broke only "
        f"{SPEC_CONFORMANCE}, the locking rules as the document writes them; "
        f"--no-property {SPEC_CONFORMANCE} shows what each leads to (a deadlock, a broken "
        "tree...) or that nothing else notices it",
    ]


def summary(analysis: Analysis) -> list[tuple[str, int, list[str]]]:
    """The sections of the summary: title, how many mutations, and one line
    per mutation (under a finding no scenario decided, the scenario missing)."""
    evidence = {e.mutation: e for e in analysis.evidence}
    broke_here = [
        f"{r.mutation.describe()}: {r.shown_verdict} {r.violated or ''}".rstrip()
        + (f" ({r.message})" if r.verdict is None else "")
        + (f" (without {SPEC_CONFORMANCE}: {r.beneath})" if r.beneath else "")
        for r in analysis.results
        if r.verdict is not Verdict.OK
    ]
    elsewhere = [
        f"{e.mutation.describe()}: breaks "
        + ", ".join(f"{name} ({prop})" for name, prop in e.broke)
        for e in analysis.needed_elsewhere
    ]
    harmless_swaps = [
        r.mutation
        for r in analysis.results
        if r.verdict is Verdict.OK and r.mutation not in evidence and r.mutation.kind is Kind.SWAP
    ]
    documented = load_documented().declared_by(analysis.lock_orders)
    against = [
        f"{m.describe()}: takes {m.families[1]} before {m.families[0]}, which "
        f"{documented.where} orders the other way "
        f"({documented.why(*m.families)})"
        for m in harmless_swaps
        if _against(documented, m.families)
    ]
    swaps = [m.describe() for m in harmless_swaps if not _against(documented, m.families)]
    spins = [
        r.mutation.describe()
        for r in analysis.results
        if r.verdict is Verdict.OK and r.mutation.kind is Kind.SPIN
    ]
    offered: dict[str, str] = {}
    return [
        (f"broke {analysis.scenario}", len(broke_here), broke_here),
        ("harmless here, needed in another scenario", len(elsewhere), elsewhere),
        (
            "not needed within these bounds (dropping the lock broke nothing anywhere)",
            len(analysis.not_needed),
            _findings(analysis, analysis.not_needed, offered),
        ),
        (
            "shared would do within these bounds (weakening broke nothing anywhere)",
            len(analysis.shared_suffices),
            _findings(analysis, analysis.shared_suffices, offered),
        ),
        (
            "order harmless here but against the documented lock order (swapped, checked "
            "in this scenario only: another scenario may deadlock)",
            len(against),
            against,
        ),
        ("order harmless here (swapped, checked in this scenario only)", len(swaps), swaps),
        (
            "backing off harmless here (spun in place, checked in this scenario only)",
            len(spins),
            spins,
        ),
        (
            "not reached in this scenario, so unchecked",
            len(analysis.unreached),
            [m.describe() for m in analysis.unreached],
        ),
        (
            "spinlock sections and waits made lock steps, not mutated (a section is one "
            "step: without its lock it would still run as one; a wait is no lock a change "
            "could drop)",
            len(analysis.sections),
            list(analysis.sections),
        ),
        *(
            [
                (
                    "interrupted (Ctrl-C) before it was checked here or on the other "
                    "scenarios that reach it, so undecided",
                    len(analysis.unfinished),
                    [m.describe() for m in analysis.unfinished],
                )
            ]
            if analysis.interrupted
            else []
        ),
    ]


def _against(documented: Documented, families: tuple[str, ...]) -> bool:
    """Whether taking ``families`` in the other order breaks the documented
    lock order: it orders the first before the second, and not the other way."""
    if len(families) != 2:
        return False
    first, second = families
    return documented.allows(first, second) and not documented.allows(second, first)


def _findings(
    analysis: Analysis, evidence: Sequence[Evidence], offered: dict[str, str]
) -> list[str]:
    lines = []
    for e in evidence:
        lines.append(
            f"{e.mutation.operation}: {e.mutation.label} [{e.mutation.lock}] "
            f"{shown_source(e.mutation.source)}; checked in {', '.join(e.passed)}"
        )
        found = analysis.hints.get(e.mutation.name)
        if found is None:
            continue
        lines.append(f"  undecided: {found.missing}")
        if found.offer is None:
            continue
        if found.offer in offered:
            lines.append(f"  a scenario of that kind to try: {offered[found.offer]}, above")
            continue
        offered[found.offer] = found.offer.split('scenario("', 1)[1].split('"', 1)[0]
        lines.append("  a scenario of that kind to try (a model file as it stands, then")
        lines.append("  vfsmc mutate FILE.py:NAME):")
        lines += [f"    {line}".rstrip() for line in found.offer.splitlines()]
    return lines


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
                "beneath": r.beneath,
            }
            for r in analysis.results
        ],
        "unreached": [_mutation_json(m) for m in analysis.unreached],
        "sections_not_mutated": list(analysis.sections),
        "not_needed": [evidence(e) for e in analysis.not_needed],
        "undecided": {
            name: {"missing": h.missing, "offer": h.offer} for name, h in analysis.hints.items()
        },
        "shared_suffices": [evidence(e) for e in analysis.shared_suffices],
        "needed_elsewhere": [evidence(e) for e in analysis.needed_elsewhere],
        "changes_nothing_in": {
            variant: list(names) for variant, names in analysis.changes_nothing_in.items()
        },
        "interrupted": analysis.interrupted,
        "unfinished": [_mutation_json(m) for m in analysis.unfinished],
    }
