"""vfsmc in a test suite: check a scenario and assert its verdict.

::

    import mc.testing

    def test_rename_needs_the_rename_mutex():
        mc.testing.check("dirops/opposite-renames")
        mc.testing.check(
            "dirops/opposite-renames", variants=["no-rename-mutex"], expect="deadlock"
        )

    def test_my_change():
        outcome = mc.testing.check("link_order.py:my/link-vs-rename")
        assert outcome.verdict == "OK" and outcome.message is None

A relative ``FILE.py`` (in ``FILE.py:NAME`` and in ``models``) is found
beside the test file that calls ``check``, so pytest runs from any
directory; a path that is not there is taken from the working directory.

A failed expectation raises ``CheckFailed`` (an ``AssertionError``), whose
message is the counterexample as ``vfsmc check`` prints it.  Unknown names
and broken model files raise the tool's own errors (``ValueError``
subclasses), not assertion failures.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from mc.check import usermodels
from mc.check.checker import Outcome, check_scenario
from mc.check.registry import shipped, with_files
from mc.dsl.scenario import UnknownName
from mc.engine.explore import Options
from mc.engine.result import Verdict
from mc.trace import text as render_text

__all__ = ["CheckFailed", "check", "load_models"]

VERDICTS = {verdict.value: verdict for verdict in Verdict}


class CheckFailed(AssertionError):
    """A scenario did not get the expected verdict."""


def load_models(*paths: str | Path) -> list[str]:
    """The scenarios that model files (a ``.py`` file or a directory of
    them) declare.  ``check(..., models=paths)`` checks with them."""
    registry = shipped()
    return [
        name
        for path in paths
        for module in usermodels.load(Path(path))
        for name in usermodels.add(registry, module)
    ]


def check(
    scenario: str,
    variants: Sequence[str] = (),
    expect: str = "OK",
    *,
    properties: Sequence[str] | None = None,
    models: Sequence[str | Path] = (),
    max_states: int | None = None,
    time_limit: float | None = None,
) -> Outcome:
    """Check ``scenario`` (a registered name, or ``FILE.py:NAME``) under
    ``variants`` and assert the verdict: ``expect`` is ``"OK"``,
    ``"VIOLATED"`` (any property) or the name of the property that must be
    violated.  ``models`` are model files to load first.  Returns the
    outcome: ``verdict`` (``"OK"``, ``"VIOLATED"``, ``"INCOMPLETE"``),
    ``message`` (what was violated, or None), ``result`` (statistics) and
    ``counterexample``."""
    __tracebackhide__ = True
    for given, what in ((variants, "variants"), (properties, "properties"), (models, "models")):
        if isinstance(given, str | Path):
            raise TypeError(f"{what} is a list, not {given!r}: write {what}=[{str(given)!r}]")
    caller = Path(sys._getframe(1).f_code.co_filename).parent
    reg = with_files(_beside(caller, str(path)) for path in models)
    if ".py:" in scenario:
        file, name = scenario.split(".py:", 1)
        scenario = f"{_beside(caller, file + '.py')}:{name}"
    name = usermodels.resolve(scenario, reg)
    if expect not in VERDICTS and expect not in reg.properties:
        known = ", ".join(["OK", "VIOLATED", *sorted(reg.properties)])
        raise UnknownName(f"unknown expectation {expect!r} (known: {known})")
    options = Options(max_states=max_states, time_limit=time_limit)
    with usermodels.reported():
        outcome = check_scenario(reg, name, tuple(variants), properties, options)
    problem = _mismatch(outcome, expect)
    if problem is not None:
        raise CheckFailed(problem)
    return outcome


def _beside(caller: Path, path: str) -> Path:
    """``path`` relative to the calling test's directory when it is there,
    else as given (relative to the working directory)."""
    given = Path(path)
    if given.is_absolute():
        return given
    near = caller / given
    return near if near.exists() else given


def _mismatch(outcome: Outcome, expect: str) -> str | None:
    result = outcome.result
    violation = result.violation
    got = result.verdict.value + (f" ({violation.property})" if violation else "")
    if expect == Verdict.OK.value:
        wanted_ok = result.verdict is Verdict.OK
    elif expect == Verdict.VIOLATED.value:
        wanted_ok = result.verdict is Verdict.VIOLATED
    elif expect == Verdict.INCOMPLETE.value:
        wanted_ok = result.verdict is Verdict.INCOMPLETE
    else:
        wanted_ok = violation is not None and violation.property == expect
    if wanted_ok:
        return None
    variants = f" with {', '.join(outcome.variants)}" if outcome.variants else ""
    lines = [
        f"{outcome.scenario.name}{variants}: expected {expect}, got {got}",
        f"  {result.stats.summary()}",
    ]
    if result.incomplete_reason:
        lines.append(f"  incomplete: {result.incomplete_reason}")
    if outcome.counterexample is not None:
        lines += ["", render_text.render(outcome.counterexample)]
    elif violation is not None:
        lines.append(f"  {violation.property}: {violation.message}")
    return "\n".join(lines)
