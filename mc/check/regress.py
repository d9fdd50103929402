"""Regression runs over a suite: every row of an expectations file checked
and compared with its recorded verdict and baseline of distinct states, and
every saved counterexample of the suite replayed (it must reproduce under
the variants it records and stop on the correct protocol).

A suite is an expectations file with a directory of counterexamples: the
shipped one is ``specs/expectations.toml`` with ``counterexamples/``; a
directory of user model files holds its own ``expectations.toml`` and,
optionally, ``counterexamples/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs

from mc.check import baseline, expectations, inventory, side_by_side, usermodels
from mc.check.checkable import built
from mc.check.checker import IneffectiveVariant, check_scenario, refuse_ineffective
from mc.check.expectations import Expectation
from mc.check.recorded import edited_and_lost, edited_since_saved, load_recorded
from mc.check.replay import ReplayReport, ThreadsDiffer, replay
from mc.dsl.scenario import Registry, UnknownName
from mc.engine.explore import Options
from mc.engine.result import Verdict
from mc.kernel.world import ModelError
from mc.project import ROOT, shown
from mc.text import counted, printable
from mc.trace import format as cx_format

R = TypeVar("R")
SUITE_FILE = "expectations.toml"
COUNTEREXAMPLES = "counterexamples"


@attrs.frozen
class Suite:
    """An expectations file and the directory of its counterexamples."""

    expectations: Path
    counterexamples: Path | None
    shipped_models_only: bool = False
    """Replay only the counterexamples of the shipped models: a check of a
    shipped scenario under a variant of one's own saves its counterexample
    beside the shipped ones, and the shipped suite must not pass or fail
    by it."""

    @classmethod
    def shipped(cls) -> Suite:
        """``specs/expectations.toml`` with ``counterexamples/``."""
        return cls(expectations.DEFAULT_PATH, ROOT / COUNTEREXAMPLES, shipped_models_only=True)

    @classmethod
    def of_directory(cls, directory: Path) -> Suite:
        """A model directory's ``expectations.toml`` and ``counterexamples/``."""
        found = directory / COUNTEREXAMPLES
        return cls(directory / SUITE_FILE, found if found.is_dir() else None)


def _verdict_text(verdict: Verdict, violated: str | None) -> str:
    return f"{verdict.value} {violated}" if violated else verdict.value


@attrs.frozen
class RowResult:
    """One row checked."""

    row: Expectation
    verdict: Verdict
    violated: str | None
    message: str | None
    states: int
    seconds: float
    ineffective: str | None = None
    """Why the row was not checked: one of its variants changes nothing in
    the scenario (so its verdict would be the correct protocol's)."""
    error: str | None = None
    """The model error that kept the row from a verdict (a model file's
    code raising while the scenario was built or searched): bad input,
    reported after the other rows were checked."""

    @property
    def incomplete(self) -> bool:
        """A bound (``--time-limit``, ``--max-memory``) stopped the search
        before it gave a verdict: neither the recorded one nor another."""
        return (
            self.ineffective is None
            and self.error is None
            and self.verdict is Verdict.INCOMPLETE
            and self.row.verdict is not Verdict.INCOMPLETE
        )

    @property
    def matches(self) -> bool:
        """The verdict (and violated property) is the recorded one."""
        if self.ineffective is not None or self.error is not None or self.incomplete:
            return False
        return (self.verdict, self.violated) == (self.row.verdict, self.row.violated)

    @property
    def states_changed(self) -> bool:
        """The states counted differ from the baseline's (a search a bound
        stopped counts no whole space to compare)."""
        return (
            not self.incomplete and self.row.states is not None and self.row.states != self.states
        )

    @property
    def expected(self) -> str:
        return _verdict_text(self.row.verdict, self.row.violated)

    @property
    def got(self) -> str:
        if self.ineffective is not None:
            return "NO CHANGE"
        if self.error is not None:
            return "ERROR"
        return _verdict_text(self.verdict, self.violated)


@attrs.frozen
class ReplayResult:
    """One counterexample replayed under its variants and, when it records
    some, on the correct protocol."""

    path: Path
    counterexample: cx_format.Counterexample
    recorded: ReplayReport
    correct: ReplayReport | None
    idle: str | None = None
    """A variant of the trace that changes nothing in its scenario today,
    as ``check`` would refuse it: the trace owes nothing to it."""
    own: tuple[str, ...] = ()
    """The variants the scenario's protocol is made of (``Scenario.variants``),
    which the correct protocol keeps."""

    @property
    def ok(self) -> bool:
        return (
            self.recorded.reproduced
            and not (self.correct and self.correct.reproduced)
            and self.idle is None
        )

    @property
    def with_variants(self) -> str:
        if self.recorded.reproduced:
            found = f"reproduces ({self.counterexample.property})"
            return found if self.idle is None else f"{found}, but {self.idle}"
        return f"LOST: {_stopped(self.recorded)}"

    @property
    def on_correct(self) -> str:
        if self.correct is None:
            return "-"
        if self.correct.reproduced:
            return f"REPRODUCES ({self.counterexample.property})"
        return _stopped(self.correct)


def _stopped(report: ReplayReport) -> str:
    if report.stopped_at is None:
        return "every step replays, property holds"
    return f"stops at step {report.stopped_at}"


@attrs.frozen
class Report:
    """A suite's run."""

    suite: Suite
    rows: tuple[RowResult, ...]
    replays: tuple[ReplayResult, ...]
    reduced: bool = True
    """Whether the rows were checked as the baselines were counted (with
    partial-order reduction)."""
    left_out: tuple[Path, ...] = ()
    """Counterexamples not replayed: they record model files outside
    vfsmc (``Suite.shipped_models_only``)."""
    unreadable: tuple[tuple[Path, str], ...] = ()
    """Counterexample files that could not be read or replayed at all (a
    malformed file, a scenario no model declares), with why: bad input,
    reported after the others were replayed."""

    @property
    def verdict_changes(self) -> list[RowResult]:
        return [
            r
            for r in self.rows
            if not r.matches and r.ineffective is None and r.error is None and not r.incomplete
        ]

    @property
    def incomplete(self) -> list[RowResult]:
        """Rows whose search a bound stopped before any verdict."""
        return [r for r in self.rows if r.incomplete]

    @property
    def ineffective(self) -> list[RowResult]:
        """Rows not checked because a variant of theirs changes nothing."""
        return [r for r in self.rows if r.ineffective is not None]

    @property
    def errors(self) -> list[RowResult]:
        """Rows a model error kept from a verdict."""
        return [r for r in self.rows if r.error is not None]

    @property
    def replay_failures(self) -> list[ReplayResult]:
        return [r for r in self.replays if not r.ok]

    @property
    def state_changes(self) -> list[RowResult]:
        return [r for r in self.rows if r.matches and r.states_changed]

    @property
    def missing_baselines(self) -> list[RowResult]:
        return [r for r in self.rows if r.matches and r.row.states is None]

    @property
    def failed(self) -> bool:
        """A verdict changed or a counterexample does not replay as recorded."""
        return bool(self.verdict_changes or self.replay_failures)

    @property
    def passed(self) -> bool:
        """No verdict changed, every row gave one and every counterexample
        replays as recorded."""
        return (
            not self.verdict_changes
            and not self.incomplete
            and not self.replay_failures
            and not self.ineffective
            and not self.errors
            and not self.unreadable
        )


def _with_context(error: Exception, context: str) -> Exception:
    """``error`` with ``context`` (a row, a file) before its message, unless
    the message starts with it already."""
    message = str(error)
    made = type(error)(message if message.startswith(context) else f"{context}: {message}")
    made.__cause__ = error
    return made


def check_row(registry: Registry, row: Expectation, options: Options | None = None) -> RowResult:
    """Check one row's scenario under its variants."""
    started = time.perf_counter()
    try:
        with usermodels.reported():
            outcome = check_scenario(
                registry,
                row.scenario,
                row.variants,
                row.checked(registry.scenario(row.scenario).properties),
                options=options,
            )
    except IneffectiveVariant as error:
        seconds = time.perf_counter() - started
        return RowResult(row, row.verdict, None, str(error), 0, seconds, str(error))
    except UnknownName as error:
        raise _with_context(error, row.label) from error
    except ModelError as error:
        seconds = time.perf_counter() - started
        return RowResult(row, Verdict.INCOMPLETE, None, str(error), 0, seconds, error=str(error))
    result = outcome.result
    violation = result.violation
    return RowResult(
        row=row,
        verdict=result.verdict,
        violated=violation.property if violation else None,
        message=violation.message if violation else result.incomplete_reason,
        states=result.stats.states,
        seconds=time.perf_counter() - started,
    )


def replay_file(
    registry: Registry,
    path: Path,
    found: cx_format.Counterexample | None = None,
    allowed: Sequence[Path] = (),
) -> ReplayResult:
    """Replay the counterexample saved at ``path`` (``found``, when already
    loaded) under its variants and without them; the model files it
    records load as ``load_recorded`` says, those in ``allowed`` (the
    suite's directory) too."""
    found = found or cx_format.load(path)
    try:
        with usermodels.reported():
            load_recorded(registry, path, found, allowed=allowed)
            scenario = registry.scenario(found.scenario)
            broken = built(registry, scenario, found.variants, found.properties)
            recorded = replay(broken, found)
            idle = None
            try:
                refuse_ineffective(registry, broken, scenario, found.variants)
            except IneffectiveVariant as error:
                idle = str(error)
            correct = None
            if found.variants:
                correct = replay(
                    built(registry, scenario, (), found.properties), found, regroup=True
                )
    except ThreadsDiffer as error:
        raise ThreadsDiffer(
            f"{path}: {error} (a trace of an earlier form of the scenario: "
            f"{_check_command(registry, found)} saves it again while it fails; remove the file "
            "once it passes)"
        ) from error
    except (UnknownName, ModelError) as error:
        raise _with_context(error, str(path)) from error
    if found.edited and not recorded.reproduced:
        raise cx_format.FormatError(
            printable(edited_and_lost(path, recorded.stopped_at, recorded.reason))
        )
    return ReplayResult(path, found, recorded, correct, idle, tuple(scenario.variants))


def _check_command(registry: Registry, found: cx_format.Counterexample) -> str:
    """The check that saves ``found`` again: its scenario (with the model
    file declaring it, if not a shipped one) under its variants."""
    scenario = registry.scenarios.get(found.scenario)
    declared = None if scenario is None else scenario.declared
    named = found.scenario
    if declared is not None and not usermodels.is_shipped(Path(declared.file)):
        named = f"{shown(declared.file)}:{found.scenario}"
    return " ".join(["vfsmc check", named, *(f"-V {variant}" for variant in found.variants)])


def run(
    registry: Registry,
    suite: Suite,
    *,
    prefix: str = "",
    options: Options | None = None,
    on_row: Callable[[RowResult], None] | None = None,
    on_replay: Callable[[ReplayResult], None] | None = None,
    rows: Sequence[Expectation] | None = None,
    processes: int = 1,
) -> Report:
    """Check every row of ``suite`` whose scenario starts with ``prefix``
    and replay its counterexamples of those scenarios.  ``rows``: those
    rows, when the caller selected and checked them already (``select``,
    ``check_names``).  ``processes``: how many rows (then replays) are
    checked at once, each in a forked process (``side_by_side``); the
    report is the same, and ``on_row`` and ``on_replay`` are told in order."""
    if rows is None:
        rows = select(suite, prefix)
        check_names(registry, rows, shown(str(suite.expectations)))
    chosen = rows
    results = side_by_side.each(
        len(chosen),
        lambda at: check_row(registry, chosen[at], options),
        processes,
        _in_order(on_row),
    )
    replays = []
    left_out = []
    unreadable = []
    wanted: list[tuple[Path, cx_format.Counterexample]] = []
    for path in counterexample_files(suite):
        try:
            found = cx_format.load(path)
        except cx_format.FormatError as error:
            unreadable.append((path, str(error)))
            continue
        if not found.scenario.startswith(prefix):
            continue
        if suite.shipped_models_only and found.models:
            left_out.append(path)
            continue
        wanted.append((path, found))
    replayed = side_by_side.each(
        len(wanted),
        lambda at: _replayed(registry, *wanted[at], allowed=[suite.expectations.parent]),
        processes,
        _in_order(None if on_replay is None else _replays_only(on_replay)),
    )
    for (path, _found), outcome in zip(wanted, replayed, strict=True):
        if isinstance(outcome, str):
            unreadable.append((path, outcome))
        else:
            replays.append(outcome)
    reduced = options is None or options.reduce
    return Report(
        suite, tuple(results), tuple(replays), reduced, tuple(left_out), tuple(unreadable)
    )


def _replayed(
    registry: Registry, path: Path, found: cx_format.Counterexample, allowed: Sequence[Path]
) -> ReplayResult | str:
    """``path`` replayed, or why it cannot be."""
    try:
        return replay_file(registry, path, found, allowed)
    except (cx_format.FormatError, UnknownName, ModelError, ThreadsDiffer) as error:
        return str(error)


def _replays_only(tell: Callable[[ReplayResult], None]) -> Callable[[ReplayResult | str], None]:
    def told(outcome: ReplayResult | str) -> None:
        if not isinstance(outcome, str):
            tell(outcome)

    return told


def _in_order(tell: Callable[[R], None] | None) -> Callable[[int, R], None] | None:
    """``tell`` each result in the order asked, however they arrive."""
    if tell is None:
        return None
    waiting: dict[int, R] = {}
    next_one = [0]

    def arrived(index: int, result: R) -> None:
        waiting[index] = result
        while next_one[0] in waiting:
            tell(waiting.pop(next_one[0]))
            next_one[0] += 1

    return arrived


def check_names(registry: Registry, rows: Sequence[Expectation], where: str) -> None:
    """``UnknownName``, naming ``where`` (the expectations file) and the
    row, for a scenario, variant or property of ``rows`` that ``registry``
    does not know, a property a row asks of a scenario that gives it
    nothing to check (``NotApplicable``), or one a row expects violated
    that it does not check: before any row is checked, so a
    suite with a misspelt name is one error, not a table cut short."""
    for row in rows:
        try:
            scenario = registry.scenario(row.scenario)
            for variant in row.variants:
                registry.variant(variant)
            for name in (row.violated, *(row.properties or ()), *row.without):
                if name is not None:
                    registry.property(name)
            for name in row.without:
                if name not in scenario.properties:
                    raise UnknownName(
                        f"leaves out {name}, which {scenario.name} does not check (it checks "
                        f"{', '.join(scenario.properties)})"
                    )
            if row.properties:
                inventory.check_applicable(registry, scenario, row.properties)
            checked = row.checked(scenario.properties) or scenario.properties
            if row.violated is not None and row.violated not in checked:
                raise UnknownName(
                    f"expects {row.violated} violated, which the row does not check "
                    f"(it checks {', '.join(checked)}): name it in the row's properties "
                    "or the scenario's"
                )
        except (UnknownName, ModelError) as error:
            raise _with_context(error, f"{where}: {row.label}") from error


def select(suite: Suite, prefix: str = "") -> list[Expectation]:
    """The rows of ``suite`` whose scenario starts with ``prefix``; none is
    an error (a run that checks nothing must not pass), but for a model
    directory without an expectations file that has counterexamples to
    replay (``replays_only``)."""
    if replays_only(suite):
        return []
    rows = expectations.load(suite.expectations)
    chosen = [r for r in rows if r.scenario.startswith(prefix)]
    if not chosen:
        what = f"no row for a scenario starting with {prefix!r}" if prefix else "no rows"
        raise expectations.ExpectationError(f"{shown(str(suite.expectations))}: {what}")
    return chosen


def replays_only(suite: Suite) -> bool:
    """Whether ``suite`` is a model directory with saved counterexamples
    and no expectations file: it replays them and checks no verdict."""
    return not suite.expectations.exists() and bool(counterexample_files(suite))


def counterexample_files(suite: Suite) -> list[Path]:
    """The suite's saved counterexamples, in name order."""
    if suite.counterexamples is None:
        return []
    return sorted(suite.counterexamples.glob("*.json"))


def update(report: Report) -> int:
    """Record the state counts of the rows whose verdict matched as their
    new baseline; returns how many rows changed."""
    states = {baseline.key(r.row): r.states for r in report.rows if r.matches}
    return baseline.rewrite_states(report.suite.expectations, states)


# --- rendering -------------------------------------------------------------


@attrs.frozen
class Layout:
    """Column widths of the rows table, known before any row has run."""

    scenario: int
    variants: int
    verdict: int

    @classmethod
    def of(cls, rows: Sequence[Expectation]) -> Layout:
        return cls(
            scenario=max([len("scenario"), *(len(r.scenario) for r in rows)]),
            variants=max([len("variants"), *(len(_variants(r.variants)) for r in rows)]),
            verdict=max(
                [len("INCOMPLETE"), *(len(_verdict_text(r.verdict, r.violated)) for r in rows)]
            ),
        )

    def header(self) -> str:
        return self._line("", "scenario", "variants", "expected", "got", "states", "time")

    def row(self, result: RowResult) -> str:
        status = "ok" if result.matches else "INC" if result.incomplete else "FAIL"
        states = f"{result.states}{' *' if result.states_changed else ''}"
        return self._line(
            status,
            result.row.scenario,
            _variants(result.row.variants),
            result.expected,
            result.got,
            states,
            f"{result.seconds:.2f} s",
        )

    def _line(self, *cells: str) -> str:
        status, scenario, variants, expected, got, states, seconds = cells
        return (
            f"{status:<4}  {scenario:<{self.scenario}}  {variants:<{self.variants}}  "
            f"{expected:<{self.verdict}}  {got:<{self.verdict}}  {states:>9}  {seconds:>7}"
        ).rstrip()


def _variants(variants: Sequence[str]) -> str:
    return ", ".join(variants) or "-"


def replay_line(result: ReplayResult) -> str:
    """One counterexample's replay, as a line."""
    status = "ok" if result.ok else "FAIL"
    return printable(
        f"{status:<4}  {result.path.name}: with {_variants(result.counterexample.variants)}: "
        f"{result.with_variants}; {correct_protocol(result.own)}: {result.on_correct}"
    )


def correct_protocol(own: Sequence[str]) -> str:
    """How a replay names the protocol without the trace's variants: the
    correct one, which keeps the variants the scenario's protocol is made
    of (``Scenario.variants``)."""
    if not own:
        return "correct protocol (no variants)"
    return f"correct protocol (the scenario's own {', '.join(own)}, no other variant)"


def summary(report: Report, updating: bool = False) -> list[str]:
    """The findings after the tables.  ``updating``: the run records the
    state counts of the rows as expected (``--update``), so it neither asks
    for that nor lists the rows with no baseline yet."""
    lines = []
    for _path, why in report.unreadable:
        lines.append(f"cannot replay: {why}")
    for r in report.ineffective:
        lines.append(f"not checked: {r.row.label}: {r.ineffective}")
    for r in report.errors:
        lines.append(f"error: {r.row.label}: {r.error}")
    for r in report.incomplete:
        because = f"{r.message}; " if r.message else ""
        lines.append(f"incomplete: {r.row.label}: {because}no verdict (expected {r.expected})")
    for r in report.verdict_changes:
        because = f" ({r.message})" if r.message else ""
        lines.append(f"verdict changed: {r.row.label}: expected {r.expected}, got {r.got}{because}")
    for replayed in report.replay_failures:
        if not replayed.recorded.reproduced:
            why = f"no longer reproduces with its variants: {replayed.recorded.reason}"
        else:
            why = "reproduces on the correct protocol too"
        lines.append(f"counterexample {replayed.path.name}: {why}")
    for replayed in report.replays:
        if replayed.counterexample.edited:
            lines.append(f"note: {edited_since_saved(replayed.path)}")
    moved = [replayed for replayed in report.replays if replayed.recorded.moved]
    if moved:
        lines.append(
            "counterexamples citing model lines that have moved since they were saved "
            "(same steps; vfsmc check of its scenario and variants saves it again, and in "
            "vfsmc's source tree make counterexamples saves every shipped one):"
        )
        for replayed in moved:
            steps = ", ".join(str(number) for number in replayed.recorded.moved)
            lines.append(f"  {replayed.path.name}: steps {steps}")
    if report.state_changes and not report.reduced:
        lines.append(
            "state counts differ from the baselines (counted without partial-order reduction, "
            "as --no-por asks; the baselines are the default search's):"
        )
    elif report.state_changes:
        then = (
            "to be recorded as the new baseline"
            if updating
            else "review, then vfsmc regress --update"
        )
        lines.append(f"state counts changed (verdicts unchanged; {then}):")
        for r in report.state_changes:
            before = r.row.states or 0
            change = (r.states - before) / before * 100 if before else 0.0
            lines.append(f"  {r.row.label}: {before} -> {r.states} ({change:+.1f}%)")
    if report.missing_baselines and not updating:
        how = "" if report.reduced else ", without --no-por"
        lines.append(
            f"no state baseline yet for {counted(len(report.missing_baselines), 'row')} "
            f"(record them with vfsmc regress --update{how})"
        )
    if not report.rows and replays_only(report.suite):
        lines.append(
            f"note: {shown(str(report.suite.expectations))} does not exist: no verdict is "
            "checked, the saved counterexamples alone are replayed"
        )
    if report.left_out:
        names = ", ".join(path.name for path in report.left_out)
        count = len(report.left_out)
        lines.append(
            f"left out {counted(count, 'counterexample')} of model files outside vfsmc "
            f"(vfsmc replay FILE replays one): {names}"
        )
    verdict = (
        "passed"
        if report.passed
        else "INCOMPLETE"
        if report.incomplete
        and not report.failed
        and not report.unreadable
        and not report.ineffective
        and not report.errors
        else "FAILED"
    )
    expected = (
        len(report.rows)
        - len(report.verdict_changes)
        - len(report.ineffective)
        - len(report.errors)
        - len(report.incomplete)
    )
    aside = [
        f"{len(report.ineffective)} not checked" if report.ineffective else "",
        counted(len(report.errors), "model error") if report.errors else "",
        f"{len(report.incomplete)} incomplete" if report.incomplete else "",
    ]
    unchecked = f" ({', '.join(a for a in aside if a)})" if any(aside) else ""
    files = len(report.replays) + len(report.unreadable)
    as_recorded = len(report.replays) - len(report.replay_failures)
    lines.append(
        f"regress {verdict}: {expected}/{len(report.rows)} rows as expected{unchecked}, "
        f"{as_recorded}/{files} counterexamples replay as recorded, "
        f"{counted(len(report.state_changes), 'state count')} changed"
    )
    return lines


def to_json(report: Report) -> dict[str, Any]:
    """The run as one JSON object."""
    return {
        "expectations": str(report.suite.expectations),
        "passed": report.passed,
        "unreadable": [{"file": str(path), "error": why} for path, why in report.unreadable],
        "rows": [
            {
                "scenario": r.row.scenario,
                "variants": list(r.row.variants),
                "expected": r.row.verdict.value,
                "expected_property": r.row.violated,
                "verdict": r.verdict.value,
                "property": r.violated,
                "message": r.message,
                "matches": r.matches,
                "incomplete": r.incomplete,
                "ineffective": r.ineffective,
                "error": r.error,
                "states": r.states,
                "baseline_states": r.row.states,
                "seconds": round(r.seconds, 4),
            }
            for r in report.rows
        ],
        "counterexamples": [
            {
                "file": str(r.path),
                "variants": list(r.counterexample.variants),
                "reproduces": r.recorded.reproduced,
                "reproduces_on_correct": None if r.correct is None else r.correct.reproduced,
                "idle_variant": r.idle,
                "ok": r.ok,
            }
            for r in report.replays
        ],
        "left_out": [str(path) for path in report.left_out],
        "verdict_changes": len(report.verdict_changes),
        "ineffective_rows": len(report.ineffective),
        "error_rows": len(report.errors),
        "incomplete_rows": len(report.incomplete),
        "replay_failures": len(report.replay_failures),
        "state_changes": len(report.state_changes),
    }
