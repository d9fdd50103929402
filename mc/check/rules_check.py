"""The shipped models against another version of the locking rules: every
scenario's calls checked by that version's rules (what the models do that
the new rules forbid), and the rules that changed which no model calls
(what the suite cannot tell about the change)."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from mc.check.checker import check_scenario
from mc.dsl.scenario import Registry
from mc.dsl.steps import CallStep, Context
from mc.engine.result import Verdict
from mc.kernel.expr import State
from mc.kernel.world import World
from mc.spec import conformance, coverage, diff, semantics
from mc.spec.model import Spec
from mc.spec.semantics import Rules
from mc.spec.vocabulary import Vocabulary

CHANGED_RULES = ("method-added", "method-renamed", "cell-changed", "rule-added", "rule-changed")


@attrs.frozen
class ScenarioCheck:
    """One scenario on the correct protocol under the other rules: the
    first call they forbid (None when every call conforms)."""

    scenario: str
    breach: str | None
    verdict: Verdict


@attrs.frozen
class RulesCheck:
    scenarios: tuple[ScenarioCheck, ...]
    unexercised: tuple[diff.Change, ...]
    """Changes of the rules for methods no shipped scenario calls."""
    unchecked: tuple[tuple[str, str], ...] = ()
    """(method, rule) of the methods the scenarios call whose rule in the
    other version cannot be checked (a value the vocabulary does not know,
    an object or column ``specs/conformance.toml`` places on none of the
    call's arguments) where the shipped rules had no such rule: what the
    check did not check."""
    missing: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(table, scenarios) for each table of the shipped rules the other
    version lacks whose methods the checked scenarios call."""

    @property
    def breaches(self) -> list[ScenarioCheck]:
        return [s for s in self.scenarios if s.breach is not None]


def _lacking(
    rules: Rules, changes: tuple[diff.Change, ...]
) -> Callable[[CallStep, Context], Callable[[State], State | None] | None]:
    """A call guard for the methods ``rules`` lack: the call is a breach
    that names the change (``method-removed``, or ``method-renamed`` with
    the new name)."""
    why: dict[str, str] = {}
    removed = {change.where for change in changes if change.kind == "table-removed"}
    for change in changes:
        if change.kind == "method-removed":
            why[change.where.split(" ", 1)[0]] = "method-removed"
        elif change.kind == "method-renamed" and change.before and change.after:
            table = change.where.split(" ", 1)[0].rsplit(".", 1)[0]
            why[f"{table}.{change.before}"] = f"method-renamed to {change.after}"

    def guard(step: CallStep, context: Context) -> Callable[[State], State | None] | None:
        if rules.get(step.method) is not None:
            return None
        table = step.method.rsplit(".", 1)[0]
        if table in removed:
            message = (
                f"{context.thread.name} calls {step.method}, but these rules lack the "
                f"{table} table (table-removed)"
            )
        else:
            message = (
                f"{context.thread.name} calls {step.method}, which these rules lack "
                f"({why.get(step.method, 'not a method of them')})"
            )
        return lambda state: context.error(state, conformance.SPEC_CONFORMANCE, message)

    return guard


def _with_rules(registry: Registry, rules: Rules, changes: tuple[diff.Change, ...]) -> Registry:
    other = Registry()
    other.scenarios = registry.scenarios
    other.variants = registry.variants
    other.properties = registry.properties
    other.variant_resolvers = registry.variant_resolvers

    def prepare(world: World, variants: frozenset[str]) -> None:
        waived = conformance.waived_in(world, rules, variants)
        lacking = _lacking(rules, changes)
        known = conformance.make_guard(rules, waived)

        def guard(step: CallStep, context: Context) -> Callable[[State], State | None] | None:
            return lacking(step, context) or known(step, context)

        world.call_guards.append(guard)

    other.preparers = {**registry.preparers, conformance.SPEC_CONFORMANCE: prepare}
    return other


def check_rules(
    registry: Registry, new: Spec, vocabulary: Vocabulary, scenarios: list[str]
) -> RulesCheck:
    """Check ``scenarios`` of ``registry`` against the rules of ``new``."""
    current = conformance.rules_at()
    rules = semantics.compile_rules(new, vocabulary, current.roles)
    changes = tuple(diff.diff(current.spec, new, vocabulary))
    other = _with_rules(registry, rules, changes)
    results = []
    for name in scenarios:
        outcome = check_scenario(other, name, (), (conformance.SPEC_CONFORMANCE,))
        violation = outcome.result.violation
        results.append(
            ScenarioCheck(name, violation.message if violation else None, outcome.result.verdict)
        )
    reasons = coverage.Reasons({}, {})
    methods = coverage.coverage(registry, current, reasons).methods
    called = {f"{m.table}.{m.method}" for m in methods if m.modelled}
    chosen = set(scenarios)
    missing = []
    for change in changes:
        if change.kind != "table-removed":
            continue
        calling = {s for m in methods if m.table == change.where for s in m.scenarios}
        if calling & chosen:
            missing.append((change.where, tuple(sorted(calling & chosen))))
    unexercised = tuple(
        change
        for change in changes
        if change.kind in CHANGED_RULES and not _touches(change, called)
    )
    unchecked: list[tuple[str, str]] = []
    for name in sorted(called):
        now, before = rules.get(name), current.get(name)
        known = set(before.unmapped) if before is not None else set()
        unchecked.extend(
            (name, text) for text in (now.unmapped if now is not None else ()) if text not in known
        )
    return RulesCheck(tuple(results), unexercised, tuple(unchecked), tuple(missing))


def _touches(change: diff.Change, called: set[str]) -> bool:
    names = [part.split(" ", 1)[0] for part in change.where.split(", ")]
    if change.kind == "method-renamed" and change.before is not None:
        table = names[0].rsplit(".", 1)[0]
        names.append(f"{table}.{change.before}")
    return any(name in called for name in names)
