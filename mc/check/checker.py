"""Checking a scenario end to end: build the model, search it, and turn a
violation into a counterexample that is re-executed before anyone sees it."""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
import types
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from mc.check import checkable, inventory, mutants, usermodels
from mc.check.coverage import Coverage, coverage_of
from mc.check.replay import first_difference, replay, violation_cycle, violation_in
from mc.dsl.audit import users_footprint_error
from mc.dsl.kernel_model import KernelModel, ScenarioLacks, unchecked_errors
from mc.dsl.operation import Invocation
from mc.dsl.program import Program
from mc.dsl.scenario import Insertion, Registry, Scenario, UnknownName
from mc.dsl.steps import Step
from mc.dsl.symmetry import rename, representative, telling_apart
from mc.engine.ample import ACTOR_MOVE_LIMIT
from mc.engine.endings import GraphMismatch
from mc.engine.explore import INTERRUPTED, NotDeterministic, Options, Search
from mc.engine.model import PropertyKind
from mc.engine.parallel import ParallelSearch
from mc.engine.ray_pool import RayPool
from mc.engine.result import Path, Result, Verdict, Violation
from mc.engine.symmetry import NotSymmetric, Symmetric, unfold
from mc.kernel.world import LocatedModelError, ModelError
from mc.project import shown
from mc.spec.conformance import SPEC_CONFORMANCE
from mc.trace.format import Counterexample

SHORTER_TRACE_STATES = 20_000
"""The most states the search for a shorter trace stores (``shorter``)."""


@attrs.frozen
class Shortened:
    """The search for a shorter trace than a reduced search's (``shorter``):
    the steps of the reduced trace, the states that search stored, and
    whether it found one, or else stopped at ``SHORTER_TRACE_STATES``
    before it knew there was none."""

    steps_before: int
    states: int
    found: bool
    bounded: bool


class IneffectiveVariant(UnknownName):
    """A variant that changes no step of a scenario's programs: checking it
    would report the correct protocol's verdict under the variant's name."""


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
    unreached_changes: tuple[str, ...] = ()
    """On an OK verdict under variants: the labels of the steps the
    variants changed, when the search ran none of them (the verdict then
    says nothing about the change)."""
    shortened: Shortened | None = None
    """How the trace of a reduced search was shortened, if it was."""
    coverage: Coverage | None = None
    """Which steps the search ran, when asked (``mc.check.coverage``)."""

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


def build(
    registry: Registry,
    scenario: Scenario,
    variants: Sequence[str] = (),
    properties: Sequence[str] | None = None,
) -> KernelModel:
    """The model of ``scenario`` under ``variants``; a scenario without
    threads is a ``ModelError`` and a variant that changes nothing, or is
    part of the scenario's protocol already (its ``variants=[...]``), an
    ``IneffectiveVariant``."""
    with checkable.building_within(None, f"building the model of {scenario.name}"):
        model = registry.build(scenario, variants, properties)
    if not scenario.threads:
        raise ModelError(f"scenario {scenario.name} has no threads: there is nothing to check")
    if not model.properties():
        raise ModelError(
            f"scenario {scenario.name} checks no property: a search without "
            "properties has no verdict (name some with properties= or --property)"
        )
    refuse_ineffective(registry, model, scenario, variants, properties)
    return model


def refuse_ineffective(
    registry: Registry,
    model: KernelModel,
    scenario: Scenario,
    variants: Sequence[str],
    properties: Sequence[str] | None = None,
) -> None:
    """An ``IneffectiveVariant`` for the first of ``variants`` that changes
    nothing in ``model`` (``scenario`` built under them), or is part of the
    scenario's protocol already."""
    for name in variants:
        if name in scenario.variants or not changes_something(
            registry, model, name, scenario, variants
        ):
            others = [other for other in variants if other != name]
            if (
                others
                and name not in scenario.variants
                and _changes_alone(registry, scenario, name, properties)
            ):
                raise IneffectiveVariant(
                    f"variant {name} changes nothing in {scenario.name} beyond what "
                    f"{', '.join(others)} change{'s' if len(others) == 1 else ''} with it: "
                    "they change the same steps; check each alone"
                )
            raise ineffective(registry, model, name, scenario.name)


def _said_of(
    model: KernelModel,
    violation: Violation[Any, Any],
    quotient: Path[Any, Any],
    unfolded: Path[Any, Any],
) -> str:
    """The message of ``violation``, found on a ``quotient`` path whose
    states are representatives (other threads may stand in a thread's
    place), said of the last state of the path of the model itself it
    unfolds to: the same words with that state's threads, and what a
    livelock's message adds of the way the trace ends."""
    found = violation_in(model, violation.property, quotient.states[-1])
    actual = violation_in(model, violation.property, unfolded.states[-1])
    if found is None or actual is None or not violation.message.startswith(found):
        return violation.message
    return actual + violation.message[len(found) :]


def _changes_alone(
    registry: Registry, scenario: Scenario, name: str, properties: Sequence[str] | None
) -> bool:
    """Whether variant ``name`` given alone changes ``scenario`` (False
    where it builds only with another variant)."""
    try:
        alone = registry.build(scenario, (name,), properties)
    except Exception:  # it needs a variant given with it: the usual error says which
        return False
    return changes_something(registry, alone, name, scenario, (name,))


def ineffective(
    registry: Registry, model: KernelModel, name: str, scenario: str
) -> IneffectiveVariant:
    """The error for variant ``name``, which changes nothing in ``model``
    (of ``scenario``): a mutant name close to one that would, or the locks
    the threads take for a ``drop_lock()`` of none of them."""
    if scenario in registry.scenarios and name in registry.scenarios[scenario].variants:
        return IneffectiveVariant(
            f"variant {name} is part of {scenario}'s protocol already (its variants=[...]): "
            "-V adds only a change under test"
        )
    close = mutants.closest(model, name) if name.startswith(mutants.PREFIX) else None
    if close == name:
        hint = " (its steps are there only under variants given after it: give it after them)"
    else:
        hint = (
            f" (did you mean {close}?)"
            if close
            else _locks_hint(registry, model, name)
            or _unmatched_labels(model, name)
            or _labels_elsewhere(registry, model, name)
            or _asked_where(registry, name)
        )
    return IneffectiveVariant(f"variant {name} changes nothing in {scenario}{hint}")


def _asked_where(registry: Registry, name: str) -> str:
    """Where a flag variant is asked at all, as its declaration says."""
    where = registry.variant(name).asked_where
    return f" (it is asked only {where})" if where else ""


def _unmatched_labels(model: KernelModel, name: str) -> str:
    """For an ``inserts(..., optional=True)`` whose labels no body built
    has: those labels, each with the nearest label of the bodies."""
    missed = [
        f"{label!r}" + (f" (did you mean {close!r}?)" if close else "")
        for (variant, label), (count, close) in model.world.insertions.items()
        if variant == name and not count
    ]
    if not missed:
        return ""
    labels = "; ".join(missed)
    return f" (no step has the label it inserts at, which optional=True lets pass: {labels})"


def _labels_elsewhere(registry: Registry, model: KernelModel, name: str) -> str:
    """For an insertion into operations the scenario's threads do not run:
    the threads whose programs have a step of a label it inserts at, with
    the operations they run (``inserts((op1, op2), ...)`` reaches both)."""
    found = labels_elsewhere(registry, model, name)
    if not found:
        return ""
    into = inserted_into(registry, name)
    where = ", ".join(f"{operation} ({thread})" for thread, operation in found.items())
    every = ", ".join(sorted(into | set(found.values())))
    return (
        f" (it inserts into {', '.join(sorted(into))}, but the step it names is in {where}: "
        f"inserts(({every}), ...) reaches it there too)"
    )


def inserted_into(registry: Registry, name: str) -> set[str]:
    """The operations variant ``name`` inserts steps into (``inserts``)."""
    return {
        body.operation.name
        for _operation, body in registry.variant(name).bodies
        if isinstance(body, Insertion)
    }


def labels_elsewhere(registry: Registry, model: KernelModel, name: str) -> dict[str, str]:
    """The threads of ``model`` whose programs have a step labelled as one
    variant ``name`` inserts at, though they run none of the operations it
    inserts into (as theirs, or inside it with ``op.run``: fallocate(2)'s
    PUNCH_HOLE runs ``punch_hole``), each with the operation it runs."""
    insertions = [
        body for _operation, body in registry.variant(name).bodies if isinstance(body, Insertion)
    ]
    labels = {label for insertion in insertions for label, _snippet, _where in insertion.points}
    into = inserted_into(registry, name)
    return {
        thread.name: thread.invocation.operation.name
        for thread in model.threads
        if not {thread.invocation.operation.name, *(op.name for op in thread.invocation.ran)}
        & set(into)
        and any(compiled.step.label in labels for compiled in thread.steps)
    }


def _locks_hint(registry: Registry, model: KernelModel, name: str) -> str:
    """For a variant whose transform calls ``Program.drop_lock``: the
    spellings of the locks the scenario's threads do take, among which the
    one it names (a typo, say) was not."""
    transform = registry.variant(name).transform
    code = getattr(transform, "__code__", None)
    if transform is None or code is None or "drop_lock" not in code.co_names:
        return ""
    asked = _drop_lock_calls(model, transform)
    if asked is None:
        return ""
    if not asked:
        runs = ", ".join(sorted({thread.invocation.operation.name for thread in model.threads}))
        return (
            ": its transform called drop_lock() on no thread's program (does a test in it, "
            f"such as invocation.runs(...), match none of the threads? they run {runs})"
        )
    spelt = {
        spelling
        for thread in model.threads
        for step in thread.program.steps
        if (lock := getattr(step, "lock", None)) is not None
        for spelling in (lock.text, lock.family)
    }
    missing = sorted(set(asked) - spelt)
    if not missing:
        return ""
    return (
        f": the lock its drop_lock({missing[0]!r}) names is none its threads take or release "
        f"({', '.join(sorted(spelt)) or 'they take none'})"
    )


def _drop_lock_calls(
    model: KernelModel, transform: Callable[[Program, Invocation], Program]
) -> list[str] | None:
    """The locks ``transform`` asks ``Program.drop_lock`` to drop, run again
    over each thread's program of ``model``; None if it fails so."""
    asked: list[str] = []
    drop_lock = Program.drop_lock

    def recorded(program: Program, text: str) -> Program:
        asked.append(text)
        return drop_lock(program, text)

    Program.drop_lock = recorded  # type: ignore[method-assign, assignment]
    try:
        for thread in model.threads:
            transform(thread.program, thread.invocation)
    except Exception:  # the hint is a guess; the error it goes with stands without it
        return None
    finally:
        Program.drop_lock = drop_lock  # type: ignore[method-assign]
    return asked


def _changes_named(labels: set[str]) -> tuple[str, ...]:
    """The changed steps ``changed_positions`` labels, a step moved (added
    in one place, ``moved away`` from another) named once, as moved."""
    away = " moved away"
    moved = {label.removesuffix(away) for label in labels if label.endswith(away)} & labels
    kept = {label for label in labels if label.removesuffix(away) not in moved or label in moved}
    return tuple(sorted(f"{label} (moved)" if label in moved else label for label in kept))


def _under_variants(error: Exception, scenario: str, variants: Sequence[str]) -> BaseException:
    """``error``, raised by a model's own code in the search, as the model
    error of the line it comes from, saying which variants it ran under:
    a step that fails only under a variant has most often lost a step
    before it whose result it needs (a register a moved or dropped step
    fills).  Model errors, and errors with no model line, stay as they are."""
    if not variants or isinstance(error, ModelError):
        return error
    explained = usermodels.located(error)
    if not isinstance(explained, LocatedModelError):
        return explained
    named = " ".join(f"-V {name}" for name in variants)
    return LocatedModelError(
        f"{explained}, under {', '.join(variants)}: a step that fails only under a variant "
        "has most often lost a step before it whose result it needs, moved or dropped "
        f"(vfsmc show {scenario} {named} lists the steps it changes)"
    )


def changes_something(
    registry: Registry,
    model: KernelModel,
    name: str,
    scenario: Scenario,
    variants: Sequence[str] = (),
) -> bool:
    """Whether variant ``name`` changed some thread's program of ``model``
    (``scenario`` under ``variants``, ``name`` among them): its transform
    changed a step, an operation asked about it and built another model
    than without it (``_built_alike``), or a thread ran a body it replaced
    and built other steps than the shipped body (``inventory.step_key``)."""
    variant = registry.variant(name)
    transform = variant.transform
    replaced = {operation.name for operation, _body in variant.bodies}
    ran_replaced = asked = False
    for thread in model.threads:
        if transform is not None and any(_same(transform, t) for t in thread.changed_by):
            return True
        asked = asked or name in thread.asked
        ran_replaced = ran_replaced or bool(replaced & thread.replaced)
    others = [other for other in variants if other != name]
    try:
        if asked:
            return not _built_alike(registry, scenario, (*others, name), others)
        return ran_replaced and bool(inventory.changes_among(registry, scenario, name, variants))
    except Exception:  # the model builds under every variant, but not without this one
        return True


def _built_alike(
    registry: Registry, scenario: Scenario, first: Sequence[str], second: Sequence[str]
) -> bool:
    """Whether ``scenario`` under ``first`` and under ``second`` is one
    model: the same slots, initial state and steps of each thread, with
    the functions steps call (``_step_shape``)."""

    def shape(model: KernelModel) -> tuple[object, ...]:
        slots = tuple(slot.name for slot in model.world.slots)
        steps = tuple(tuple(map(_step_shape, thread.program.steps)) for thread in model.threads)
        return (slots, model.initial, steps)

    return shape(registry.build(scenario, first, ())) == shape(registry.build(scenario, second, ()))


def _step_shape(step: Step) -> tuple[object, ...]:
    """A step as two builds compare it: its value, and the fields its
    equality leaves out (the function of an effect, a wait's test) by
    ``_value_shape``."""
    left_out = (
        _value_shape(getattr(step, field.name))
        for field in attrs.fields(type(step))
        if not field.eq and field.name != "world"
    )
    return (step, *left_out)


def _value_shape(value: object, within: frozenset[int] = frozenset()) -> object:
    """A function as its code, the values it closes over and its defaults
    (a lambda a build makes anew is the same function when those are; one
    ``within`` itself, a nested function that calls itself, as its code),
    tuples item by item, and any other value as itself (objects a build
    makes, an ``Op``, compare unequal: the variant counts as a change)."""
    value = inspect.unwrap(value) if callable(value) else value
    code = getattr(value, "__code__", None)
    if code is not None:
        if id(value) in within:
            return code
        inside = within | {id(value)}
        closed = tuple(
            _value_shape(_contents(cell), inside)
            for cell in getattr(value, "__closure__", None) or ()
        )
        return (code, closed, _value_shape(getattr(value, "__defaults__", None), inside))
    if type(value) is tuple:
        return tuple(_value_shape(item, within) for item in value)
    return value


def _contents(cell: types.CellType) -> object:
    """What a closure's cell holds (a cell not yet filled holds nothing)."""
    try:
        return cell.cell_contents
    except ValueError:
        return _UNFILLED


_UNFILLED = object()


def under_changing(
    registry: Registry,
    scenario: Scenario,
    variants: Sequence[str],
    properties: Sequence[str] | None = None,
    *,
    every_acquisition: bool = False,
) -> tuple[KernelModel, tuple[str, ...]]:
    """The model of ``scenario`` under those of ``variants`` that change
    something in it (``changes_something``), and their names.  A variant
    that changes nothing in a scenario leaves it as it is, so a run over
    several scenarios applies each variant where it changes one; the model
    is built without the others (nor their waivers).  ``build`` refuses
    such a variant instead, for a run that names the scenario.
    ``every_acquisition`` as ``Registry.build``; within ``BUILD_SECONDS``
    unless a bound holds already (``checkable.built``)."""
    with checkable.building_within(None, f"building the model of {scenario.name}"):
        model = registry.build(scenario, variants, properties, every_acquisition=every_acquisition)
        changing = tuple(
            name
            for name in variants
            if changes_something(registry, model, name, scenario, variants)
        )
        if len(changing) < len(variants):
            model = registry.build(
                scenario, changing, properties, every_acquisition=every_acquisition
            )
    return model, changing


def _same(first: object, second: object) -> bool:
    """Whether two transforms are one function (bound methods of equal
    objects count as one: each lookup of a ``mutant:`` name makes anew)."""
    if hasattr(first, "__func__") and hasattr(second, "__func__"):
        return bool(
            first.__func__ is second.__func__ and first.__self__ == second.__self__  # type: ignore[attr-defined]
        )
    return first is second


@attrs.frozen
class Spread:
    """A search spread over ``workers`` processes: forked from this one, or
    Ray actors (``ray``) on the cluster at ``address``, which build the
    model themselves after loading the model files ``sources``."""

    workers: int
    ray: bool = False
    address: str | None = None
    build: Callable[[str, tuple[str, ...], Sequence[str] | None], KernelModel] | None = attrs.field(
        default=None, eq=False
    )
    """How a Ray actor builds the model itself in a fresh process
    (``mc.check.registry.build_model`` with the model files to load)."""


RULE_SEARCH_STATES = 20_000
"""How many states ``rule_broken`` explores at most."""


def rule_broken(
    registry: Registry, scenario: str, variants: Sequence[str], time_limit: float | None = None
) -> str | None:
    """What locking rule ``variants`` break in ``scenario``: a search for
    spec-conformance alone, of at most ``RULE_SEARCH_STATES`` states (an
    OK that checked it out says nothing of the rules); None when it finds
    no rule broken, or when the scenario's own protocol breaks one too
    (the variants are not what breaks it)."""
    options = Options(max_states=RULE_SEARCH_STATES, time_limit=time_limit)
    outcome = check_scenario(registry, scenario, variants, [SPEC_CONFORMANCE], options)
    violation = outcome.result.violation
    if violation is None:
        return None
    correct = check_scenario(registry, scenario, (), [SPEC_CONFORMANCE], options)
    return None if correct.result.violation is not None else violation.message


def check_scenario(
    registry: Registry,
    scenario: str,
    variants: Sequence[str] = (),
    properties: Sequence[str] | None = None,
    options: Options | None = None,
    spread: Spread | None = None,
    symmetry: bool = False,
    coverage: bool = False,
) -> Outcome:
    """Check ``scenario`` under ``variants``; raises ``UnknownName`` for a
    name the registry does not know, ``IneffectiveVariant`` for a variant
    that changes nothing, ``NotApplicable`` for a property the scenario
    gives nothing to check and ``ModelError`` for a model that is not
    deterministic (its trace does not re-execute to the states it reached).
    A ``spread`` search is breadth-first over several processes (with
    partial-order reduction as one process does it), without the count of
    unchecked errors.  With ``symmetry`` the search
    explores one representative of each class of states that differ by a
    permutation of interchangeable threads (``mc.dsl.symmetry``), without
    partial-order reduction, and its counterexample is unfolded into a path
    of the model itself.  With ``coverage`` the outcome says which steps
    the search ran (one process, no symmetry)."""
    found = registry.scenario(scenario)
    options = options or Options()
    with checkable.building_within(options.time_limit, f"building the model of {found.name}"):
        correct = checkable.built(registry, found) if variants else None
        under = checkable.built(registry, found, variants) if variants else None
        widened = inventory.user_declared(found) and not found.properties_given
        if under is not None and properties is None and widened:
            made = checkable.left_out(registry, found, under)[0]
            properties = (*found.properties, *made) if made else None
        inventory.check_applicable(registry, found, properties, correct, under)
        if options.reduce and len(found.threads) > ACTOR_MOVE_LIMIT:
            raise ModelError(
                f"{found.name} has {len(found.threads)} threads: partial-order reduction tells "
                f"at most {ACTOR_MOVE_LIMIT} apart (check it without, --no-por)"
            )
        model = build(registry, found, variants, properties)
        if correct is not None:
            checkable.refuse_reads_of_unset_registers(model, correct, variants)
    if options.reduce:
        undeclared = users_footprint_error(model)
        if undeclared is not None:
            raise ModelError(
                f"{undeclared}: partial-order reduction trusts an effect's @touches, so one "
                "that leaves out what the effect reads or writes could hide interleavings "
                "(declare it, or check with --no-por)"
            )
    if options.audit_reads:
        model.keep_registers()
    if coverage and (spread is not None or symmetry):
        raise ValueError("coverage is counted by a search in one process, without symmetry")
    halted: Sequence[tuple[object, ...]] = ()
    unreached: tuple[str, ...] = ()
    counted = None
    quotiented = False
    try:
        if spread is not None:
            pool = None
            if spread.ray:
                if spread.build is None:
                    raise ValueError("a search on Ray needs the way its actors build the model")
                factory = functools.partial(spread.build, scenario, tuple(variants), properties)
                pool = RayPool(
                    factory, spread.workers, options.exact, spread.address, usermodels.located
                )
            parallel = ParallelSearch(model, options, spread.workers, usermodels.located)
            result = parallel.run(pool)
            halted = parallel.halted_states
        elif symmetry and (normalise := representative(model)) is not None:
            quotiented = True
            apart = telling_apart(model)
            if apart is not None:
                raise ModelError(f"--symmetry on {found.name}: {apart}")
            quotient = Symmetric(model, normalise, rename)
            search = Search(quotient, attrs.evolve(options, reduce=False))
            result = search.run()
            halted = search.halted_states
            if result.violation is not None and result.violation.path is not None:
                try:
                    unfolded = unfold(quotient, result.violation.path)
                except NotSymmetric as error:
                    raise ModelError(not_symmetric(found.name, str(error))) from None
                said = _said_of(model, result.violation, result.violation.path, unfolded)
                result = attrs.evolve(
                    result,
                    violation=attrs.evolve(result.violation, path=unfolded, message=said),
                )
        else:
            changed = None if correct is None else inventory.changed_positions(correct, model)
            ran = model.watch(model.every_step(), taken=True) if coverage else None
            reached = model.watch(changed or {})
            search = Search(model, options)
            result = search.run()
            halted = search.halted_states
            if ran is not None:
                counted = coverage_of(model, ran, result.verdict is Verdict.OK)
            if changed and not reached and result.verdict is Verdict.OK:
                unreached = _changes_named(set(changed.values()))
    except NotDeterministic as error:
        raise ModelError(not_deterministic(model, error)) from None
    except ScenarioLacks as error:
        declared = found.declared
        where = "" if declared is None else f"{shown(declared.file)}:{declared.line}: "
        raise LocatedModelError(f"{where}{found.name}: {error}") from None
    except GraphMismatch as error:
        raise ModelError(f"{found.name}: {error}") from None
    except Exception as error:
        explained = _under_variants(error, found.name, variants)
        if explained is error:
            raise
        raise explained from error
    shortened = None
    shorter_one = shorter(model, options, result)
    if shorter_one is not None:
        shortened, violation = shorter_one
        if violation is not None:
            result = attrs.evolve(result, violation=violation)
    counterexample = None
    if result.violation is not None and result.violation.path is not None:
        counterexample = counterexample_of(model, found, tuple(variants), result.violation)
        report = replay(model, counterexample)
        if not report.reproduced:
            where = f"step {report.stopped_at}: " if report.stopped_at else ""
            if quotiented:
                raise ModelError(not_symmetric(found.name, f"{where}{report.reason}"))
            clash = "" if options.exact else " (or two states shared a fingerprint: --exact tells)"
            raise ModelError(
                f"the model of {found.name} is not deterministic: its counterexample does not "
                f"re-execute ({where}{report.reason}); models must be functions of the state"
                f"{clash}"
            )
    unchecked = unchecked_errors(halted, result.properties)
    return Outcome(
        found,
        tuple(variants),
        model,
        result,
        counterexample,
        unchecked,
        unreached,
        shortened,
        counted,
    )


def shorter(
    model: KernelModel, options: Options, result: Result[tuple[object, ...], tuple[int, int]]
) -> tuple[Shortened, Violation[tuple[object, ...], tuple[int, int]] | None] | None:
    """A violation reached in fewer steps than ``result``'s, when partial-order
    reduction found it: the reduced search's trace is a shortest one of the
    reduced graph only, and may run steps of threads the violation does
    not need.  A breadth-first search without reduction, as deep as that
    trace less a step and of at most ``SHORTER_TRACE_STATES`` states,
    finds the first violation the full search finds, when it lies that
    close (that search's verdict and property are the reduced one's:
    ``tests/test_por_models.py``), with how that search went (a Ctrl-C
    ends it as its bound does: the reduced trace stays).  None when
    it is not run: when the time limit is spent, when nothing was reduced
    (the trace is a shortest one already) and for a violation not found on
    the state it is in: a deadlock or a ``terminal`` invariant, whose trace runs every
    thread to where it stops, and ``livelock`` and a goal never reached."""
    violation = result.violation
    if violation is None or violation.path is None or not result.stats.extra.get("reduced_states"):
        return None
    checked = {prop.name: prop for prop in model.properties()}.get(violation.property)
    if checked is None or checked.kind is not PropertyKind.ALWAYS or checked.terminal:
        return None
    steps = len(violation.path.actions)
    left = None if options.time_limit is None else options.time_limit - result.stats.seconds
    if steps < 2 or (left is not None and left <= 0):
        return None
    bounded = Options(
        reduce=False,
        exact=options.exact,
        max_depth=steps - 1,
        max_states=SHORTER_TRACE_STATES,
        time_limit=left,
        interruptible=True,
    )
    found = Search(model, bounded).run()
    shorter_one = found.violation if found.violation and found.violation.path else None
    stopped = (
        found.stats.states >= SHORTER_TRACE_STATES
        or (left is not None and found.stats.seconds >= left)
        or found.incomplete_reason == INTERRUPTED
    )
    return Shortened(steps, found.stats.states, shorter_one is not None, stopped), shorter_one


def not_symmetric(scenario: str, why: str) -> str:
    """What ``--symmetry`` says when its counterexample is none of the
    model itself: the threads it took as interchangeable are not."""
    return (
        f"--symmetry on {scenario}: the violation it found is not one of the scenario itself "
        f"({why}): the threads it took as interchangeable are not; check without --symmetry"
    )


def not_deterministic(model: KernelModel, error: NotDeterministic) -> str:
    """Where re-executing a path (or a step run twice) first reached
    another state, in words."""
    step = ""
    if isinstance(error.action, tuple) and error.previous is not None:
        tid = int(error.action[0])
        current = model.current_step(error.previous, tid)  # type: ignore[arg-type]
        if current is not None:
            thread, label = model.threads[tid].name, current.step.label
            step = f"{thread} '{label}', {shown(str(current.step.source))}"
    if error.stored is None or error.replayed is None:
        what = (
            "the second run had another number of outcomes"
            if error.twice
            else "the step it took is no longer enabled"
        )
    else:
        what = first_difference(model, error.stored, error.replayed)
    if error.twice:
        how = f"run twice from one state, {step or 'a step'} reached two states"
    else:
        where = "the initial state" if error.position == 0 else f"step {error.position}"
        if error.position and step:
            where += f" ({step})"
        how = f"re-executing the path to the violation, {where} reached another state"
    return f"the model is not deterministic: {how}: {what}; models must be functions of the state"


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
    after_steps = {path.states[0]: 0}
    for before, action, after in zip(path.states, path.actions, path.states[1:], strict=False):
        steps.extend(model.records(before, action))
        after_steps.setdefault(after, len(steps))
    kind = next((p.kind for p in model.properties() if p.name == violation.property), None)
    last = path.states[-1]
    loop = after_steps[last] if kind is PropertyKind.CAN_END else None
    cycle = violation_cycle(model, kind, last)
    return Counterexample(
        scenario=scenario.name,
        variants=variants,
        properties=tuple(p.name for p in model.properties()),
        property=violation.property,
        message=violation.message,
        threads=tuple((t.name, str(t.invocation)) for t in model.threads),
        steps=tuple(steps),
        witness=model.witness(last),
        cycle=tuple(cycle),
        blocked=tuple(model.blocked_steps(last)),
        started=tuple(model.started_records()),
        addresses=model.addresses(last),
        loop=loop if loop is not None and loop < len(steps) else None,
    )


_KEPT = re.compile(r"[A-Za-z0-9_.@+]")
_PART = re.compile(r"[A-Za-z0-9_.@+]+(-[A-Za-z0-9_.@+]+)*")


LONGEST_STEM = 180
"""The most bytes (UTF-8) of the readable part of a counterexample's file
name (a longer one is cut and hashed: a file name has at most 255 bytes)."""


def file_stem(
    scenario: str,
    variants: Sequence[str],
    properties: Sequence[str] | None = None,
    excluded: Sequence[str] = (),
) -> str:
    """The file name (without suffix) a counterexample is saved under: the
    scenario and the variants joined by ``--`` (``/`` and other characters
    but letters and digits of any script written ``-``), and the property
    set when a run narrowed it: the properties named (``--only-deadlock``)
    or those left out (``--without-namespace``).  When that readable name
    does not spell the run back exactly (a variant with a ``/`` or ``:``,
    a narrowed property set, a name longer than ``LONGEST_STEM`` bytes,
    cut to it), a hash of the exact names is appended, so two different runs
    never share a file, and a leading ``-`` or ``.`` is dropped (the name
    would read as an option or a hidden file)."""
    parts = [scenario, *variants]
    readable = "--".join(_kept(part) for part in parts)
    if properties is not None:
        readable += "--only-" + "+".join(_kept(p) for p in properties)
    elif excluded:
        readable += "--without-" + "+".join(_kept(p) for p in sorted(excluded))
    plain = properties is None and not excluded and _spells(readable, parts)
    if plain and len(readable.encode()) <= LONGEST_STEM:
        return readable
    cut = readable.encode()[:LONGEST_STEM].decode("utf-8", "ignore")
    readable = cut.lstrip("-.") or "counterexample"
    narrowed = list(properties or ()) + (["-", *sorted(excluded)] if excluded else [])
    exact = "\0".join([*parts, "\0", *narrowed])
    return f"{readable}~{hashlib.sha256(exact.encode()).hexdigest()[:12]}"


def _kept(name: str) -> str:
    return re.sub(r"[^\w.@+-]", "-", name)


def _spells(readable: str, parts: Sequence[str]) -> bool:
    """Whether ``readable`` reads back as exactly ``parts``: the scenario's
    first ``/`` is the first ``-`` and nothing else was replaced."""
    scenario, *variants = parts
    category, slash, rest = scenario.partition("/")
    if not slash or not all(_PART.fullmatch(p) for p in (category, rest, *variants)):
        return False
    return "-" not in category and readable == "--".join([f"{category}-{rest}", *variants])
