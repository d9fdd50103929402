"""A sequential search collects cyclic garbage at its clock's ticks, not as
it allocates, and gives the collector back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from test_por import VARIABLES, Instr, Threads

from mc.engine import explore
from mc.engine.collector import AT_MOST_EVERY, Collector
from mc.engine.explore import Options, Search
from mc.engine.model import always
from mc.engine.result import Verdict

ALIVE: list[bool] = []


def _model(leaves_garbage: bool) -> Threads:
    programs = [[Instr("inc", v % VARIABLES)] * 6 for v in range(4)]
    properties = [always("litter", _litter, reads=0)] if leaves_garbage else []
    return Threads(programs, properties)


def _litter(state: Any) -> None:
    """A check that leaves a cycle of garbage behind, and notes whether the
    automatic collector was on when it ran."""
    ALIVE.append(gc.isenabled())
    cycle: list[Any] = []
    cycle.append(cycle)


@pytest.fixture
def every_state_a_tick(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The clock ticks at every state, so a small search has many rounds."""
    monkeypatch.setattr(explore, "TICK_SECONDS", 0.0)
    ALIVE.clear()
    yield
    ALIVE.clear()


@pytest.mark.usefixtures("every_state_a_tick")
@pytest.mark.parametrize("leaves_garbage", [False, True])
def test_a_search_collects_less_often_while_there_is_no_garbage(leaves_garbage: bool) -> None:
    search = Search(_model(leaves_garbage), Options(reduce=False))
    rounds: list[int] = []
    plain = Collector.round_ended

    def counted(self: Collector) -> None:
        plain(self)
        rounds.append(self.every)

    Collector.round_ended = counted  # type: ignore[method-assign]
    try:
        result = search.run()
    finally:
        Collector.round_ended = plain  # type: ignore[method-assign]
    assert result.verdict is Verdict.OK and result.stats.states > 2 * AT_MOST_EVERY
    if leaves_garbage:
        assert rounds.count(1) > len(rounds) / 2
    else:
        assert rounds == sorted(rounds) and rounds[-1] == AT_MOST_EVERY
    assert gc.isenabled() and gc.get_freeze_count() == 0
    if leaves_garbage:
        assert ALIVE and not any(ALIVE)


def test_a_search_leaves_a_collector_turned_off_by_its_caller_alone() -> None:
    gc.disable()
    try:
        result = Search(_model(False), Options(reduce=False)).run()
        assert result.verdict is Verdict.OK
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_the_collector_is_given_back_when_a_search_is_interrupted() -> None:
    result = Search(_model(False), Options(reduce=False, max_states=5)).run()
    assert result.verdict is Verdict.INCOMPLETE
    assert gc.isenabled() and gc.get_freeze_count() == 0
