"""A search whose first ``REDUCTION_TRIAL`` states have no ample set stops
looking for one (``AmpleSets.keep_reducing``): from then on it is the search
without reduction, moves stored as indices among every enabled action while
the earlier ones name an actor's action.  The counterexample it finds is the
unreduced search's, move for move, in both orders and both stores, and
replays on the model; a search that reduced a state goes on reducing."""

from __future__ import annotations

import pytest

from mc.check.checker import Outcome, check_scenario
from mc.check.replay import replay
from mc.dsl.scenario import Registry
from mc.engine import ample
from mc.engine.explore import Options
from mc.engine.result import Strategy, Verdict

TRIAL = 30
"""Few enough that the search stops reducing before it finds the deadlock,
enough that the counterexample passes states stored before and after."""
IRQ_DEADLOCK = ("writeback/completion-irq", ("start-writeback-irqs-on",))
"""An interrupt handler's landing conflicts with every step: nothing is reduced."""


def _check(shipped: Registry, options: Options) -> Outcome:
    scenario, variants = IRQ_DEADLOCK
    return check_scenario(shipped, scenario, variants, options=options)


@pytest.mark.parametrize("strategy", [Strategy.BFS, Strategy.DFS])
@pytest.mark.parametrize("exact", [True, False])
def test_a_search_that_stops_reducing_is_the_unreduced_one(
    shipped: Registry, monkeypatch: pytest.MonkeyPatch, strategy: Strategy, exact: bool
) -> None:
    monkeypatch.setattr(ample, "REDUCTION_TRIAL", TRIAL)
    full = _check(shipped, Options(reduce=False, strategy=strategy, exact=exact)).result
    outcome = _check(shipped, Options(strategy=strategy, exact=exact))
    tried = outcome.result
    assert tried.stats.extra["reduced_states"] == 0
    assert tried.stats.extra["reduction_stopped_after"] == TRIAL
    assert tried.verdict is full.verdict is Verdict.VIOLATED
    assert tried.stats.states == full.stats.states
    assert tried.stats.transitions == full.stats.transitions
    assert tried.violation is not None and full.violation is not None
    assert tried.violation.path is not None and full.violation.path is not None
    assert tried.violation.path.moves == full.violation.path.moves
    found = outcome.counterexample
    assert found is not None
    scenario, variants = IRQ_DEADLOCK
    model = shipped.build(shipped.scenario(scenario), variants, found.properties)
    report = replay(model, found)
    assert report.reproduced, report.reason


def test_a_search_that_reduces_goes_on(shipped: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ample, "REDUCTION_TRIAL", TRIAL)
    full = check_scenario(shipped, "dirops/rename-rmdir-link", options=Options(reduce=False))
    reduced = check_scenario(shipped, "dirops/rename-rmdir-link", options=Options())
    assert reduced.result.stats.extra["reduced_states"] > 0
    assert "reduction_stopped_after" not in reduced.result.stats.extra
    assert reduced.result.stats.states < full.result.stats.states
