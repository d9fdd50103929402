"""The explorer on small models whose state spaces can be counted by hand."""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Hashable, Sequence
from typing import Any

import pytest

from mc.engine import explore
from mc.engine.explore import DETERMINISM_PROBES, NotDeterministic, Options, check
from mc.engine.model import Model, Property, always, deadlock_free, sometimes
from mc.engine.result import Strategy, Verdict


class Chain(Model[int, str]):
    """0 -> 1 -> ... -> length; the last state is a normal end."""

    def __init__(self, length: int, props: Sequence[Property[int]] = ()) -> None:
        self.length = length
        self.props = props

    def init_states(self) -> Sequence[int]:
        return (0,)

    def actions(self, state: int) -> Sequence[str]:
        return ("step",) if state < self.length else ()

    def next_state(self, state: int, action: str) -> int:
        return state + 1

    def successors(self, state: int) -> list[tuple[Any, int]]:
        return [(action, self.next_state(state, action)) for action in self.actions(state)]

    def properties(self) -> Sequence[Property[int]]:
        return self.props


class Grid(Model[tuple[int, int], str]):
    """Two independent counters 0..size; actions 'a' and 'b' bump them."""

    def __init__(self, size: int, props: Sequence[Property[tuple[int, int]]] = ()) -> None:
        self.size = size
        self.props = props

    def init_states(self) -> Sequence[tuple[int, int]]:
        return ((0, 0),)

    def actions(self, state: tuple[int, int]) -> Sequence[str]:
        a, b = state
        return [name for name, value in (("a", a), ("b", b)) if value < self.size]

    def next_state(self, state: tuple[int, int], action: str) -> tuple[int, int]:
        a, b = state
        return (a + 1, b) if action == "a" else (a, b + 1)

    def successors(self, state: tuple[int, int]) -> list[tuple[Any, tuple[int, int]]]:
        return [(action, self.next_state(state, action)) for action in self.actions(state)]

    def properties(self) -> Sequence[Property[tuple[int, int]]]:
        return self.props


class Interleaving(Grid):
    """Two threads of two steps each; where thread 'a' is ahead the 'b'
    action comes first, so plain BFS would reach (2, 1) through a path
    with more context switches first."""

    def actions(self, state: tuple[int, int]) -> Sequence[str]:
        enabled = list(super().actions(state))
        return list(reversed(enabled)) if state[0] > state[1] else enabled

    def actor(self, action: str) -> Hashable:
        return action


def test_chain_counts_every_state_once() -> None:
    result = check(Chain(10))
    assert result.verdict is Verdict.OK
    assert (result.stats.states, result.stats.transitions, result.stats.max_depth) == (11, 10, 10)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_grid_has_size_squared_states(strategy: Strategy) -> None:
    result = check(Grid(2), Options(strategy=strategy))
    assert result.verdict is Verdict.OK
    assert result.stats.states == 9
    assert result.stats.transitions == 12


def test_bfs_returns_the_shortest_trace() -> None:
    corner = always("not-corner", lambda s: "reached (2, 1)" if s == (2, 1) else None)
    result = check(Grid(3, [corner]))
    assert result.verdict is Verdict.VIOLATED
    assert result.violation is not None and result.violation.path is not None
    path = result.violation.path
    assert len(path) == 3
    assert path.states[0] == (0, 0) and path.states[-1] == (2, 1)
    assert path.actions == ("a", "a", "b")


def test_bfs_prefers_fewer_context_switches_among_shortest() -> None:
    both_done = always("unfinished", lambda s: "both done" if s == (2, 2) else None)
    result = check(Interleaving(2, [both_done]))
    assert result.violation is not None and result.violation.path is not None
    actions = result.violation.path.actions
    switches = sum(1 for x, y in itertools.pairwise(actions) if x != y)
    assert len(actions) == 4
    assert switches == 1


def test_dfs_finds_the_violation_too() -> None:
    corner = always("not-corner", lambda s: "reached" if s == (2, 2) else None)
    result = check(Grid(2, [corner]), Options(strategy=Strategy.DFS))
    assert result.verdict is Verdict.VIOLATED
    assert result.violation is not None and result.violation.path is not None
    assert result.violation.path.states[-1] == (2, 2)


def test_dead_end_that_is_not_final_is_a_deadlock() -> None:
    stuck = deadlock_free("deadlock", lambda s: "stuck" if s != 3 else None)
    for strategy in Strategy:
        result = check(Chain(2, [stuck]), Options(strategy=strategy))
        assert result.verdict is Verdict.VIOLATED
        assert result.violation is not None and result.violation.message == "stuck"
        assert result.violation.path is not None and result.violation.path.states == (0, 1, 2)
    assert check(Chain(3, [stuck])).verdict is Verdict.OK


def test_sometimes_never_reached_fails_without_a_trace() -> None:
    goal = sometimes("reaches-5", lambda s: "5" if s == 5 else None, "state 5")
    result = check(Chain(4, [goal]))
    assert result.verdict is Verdict.VIOLATED
    assert result.violation is not None and result.violation.path is None
    assert check(Chain(5, [goal])).verdict is Verdict.OK


def test_max_states_exactly_the_space_is_still_exhaustive() -> None:
    assert check(Chain(9), Options(max_states=10)).verdict is Verdict.OK
    result = check(Chain(9), Options(max_states=9))
    assert result.verdict is Verdict.INCOMPLETE
    assert result.incomplete_reason == "max states 9 reached"
    assert result.stats.states == 9


class Fork(Chain):
    """0 -> 1 (a dead end) and 0 -> 2 -> 3."""

    def successors(self, state: int) -> list[tuple[Any, int]]:
        return {0: [("left", 1), ("right", 2)], 2: [("on", 3)]}.get(state, [])


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_full_search_still_expands_the_states_it_holds(strategy: Strategy) -> None:
    """Once ``max_states`` are stored, new states are left out but those
    stored are still expanded: a deadlock among them is found, one among
    those left out is not."""
    at_one = deadlock_free("deadlock", lambda s: "stuck at 1" if s == 1 else None)
    found = check(Fork(3, [at_one]), Options(strategy=strategy, max_states=2))
    assert found.verdict is Verdict.VIOLATED and found.stats.states == 2
    assert found.violation is not None and found.violation.message == "stuck at 1"
    at_three = deadlock_free("deadlock", lambda s: "stuck at 3" if s == 3 else None)
    missed = check(Fork(3, [at_three]), Options(strategy=strategy, max_states=3))
    assert missed.verdict is Verdict.INCOMPLETE
    assert missed.incomplete_reason == "max states 3 reached"
    assert check(Fork(3, [at_three]), Options(strategy=strategy, max_states=4)).verdict is (
        Verdict.VIOLATED
    )


@pytest.mark.parametrize("strategy", list(Strategy))
def test_max_depth_makes_the_verdict_incomplete(strategy: Strategy) -> None:
    result = check(Chain(10), Options(strategy=strategy, max_depth=3))
    assert result.verdict is Verdict.INCOMPLETE
    assert result.stats.states == 4
    assert check(Chain(3), Options(strategy=strategy, max_depth=3)).verdict is Verdict.OK


@pytest.mark.parametrize("strategy", list(Strategy))
def test_the_depth_reached_counts_the_violating_state(strategy: Strategy) -> None:
    """A violation at depth 2 is reported at depth 2 by either search (the
    depth-first one counted the state only after checking it)."""
    at_two = always("low", lambda s: "reached 2" if s == 2 else None)
    result = check(Chain(5, [at_two]), Options(strategy=strategy))
    assert result.verdict is Verdict.VIOLATED
    assert result.stats.max_depth == 2


def test_time_limit_makes_the_verdict_incomplete() -> None:
    result = check(Grid(2000), Options(time_limit=0.05))
    assert result.verdict is Verdict.INCOMPLETE
    assert result.incomplete_reason is not None and "time limit" in result.incomplete_reason


class StopsReturning(Chain):
    """A chain whose step from state ``at`` never returns."""

    def __init__(self, length: int, at: int) -> None:
        super().__init__(length)
        self.at = at

    def next_state(self, state: int, action: str) -> int:
        while state == self.at:
            time.sleep(0.01)
        return state + 1


@pytest.mark.parametrize("at", [0, DETERMINISM_PROBES + 5], ids=["probed", "searched"])
def test_a_step_that_never_returns_is_cut_past_the_time_limit(
    at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock is looked at between states; a step still running
    ``STEP_GRACE_SECONDS`` after the limit is cut by a signal, in the
    determinism probe or in the search, and the verdict is INCOMPLETE."""
    monkeypatch.setattr(explore, "STEP_GRACE_SECONDS", 0.2)
    began = time.perf_counter()
    result = check(StopsReturning(1000, at), Options(time_limit=0.1))
    assert time.perf_counter() - began < 5
    assert result.verdict is Verdict.INCOMPLETE
    assert result.incomplete_reason == (
        "time limit 0.1 s reached, and a step still ran 0.2 s past it: "
        "an effect that does not return?"
    )
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_a_violation_wins_over_a_bound_hit_later() -> None:
    early = always("early", lambda s: "at 2" if s == 2 else None)
    result = check(Chain(100, [early]), Options(max_states=50))
    assert result.verdict is Verdict.VIOLATED


def test_progress_is_reported_on_long_runs() -> None:
    calls: list[tuple[int, int, int, float]] = []
    import mc.engine.explore as explore

    saved = explore.PROGRESS_AFTER_SECONDS, explore.PROGRESS_INTERVAL_SECONDS
    explore.PROGRESS_AFTER_SECONDS, explore.PROGRESS_INTERVAL_SECONDS = 0.0, 0.0
    try:
        check(Grid(200), Options(progress=lambda *values: calls.append(values)))
    finally:
        explore.PROGRESS_AFTER_SECONDS, explore.PROGRESS_INTERVAL_SECONDS = saved
    assert calls
    assert all(states > 0 for states, *_ in calls)


def test_bad_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_states"):
        Options(max_states=0)
    with pytest.raises(ValueError, match="time_limit"):
        Options(time_limit=-1)


class Drifting(Chain):
    """A chain whose step from ``start`` reads a counter of its own."""

    def __init__(self, length: int, start: int) -> None:
        super().__init__(length)
        self.start = start
        self.calls = itertools.count()

    def successors(self, state: int) -> Sequence[tuple[str, int]]:
        if state == self.start:
            return [(object(), state + 1 + next(self.calls) % 2)]  # type: ignore[list-item]
        return [(object(), after) for _action, after in super().successors(state)]  # type: ignore[misc]


def test_steps_run_twice_from_the_first_states_must_agree() -> None:
    """Fresh action objects that compare unequal are no difference; a
    step whose outcome reads anything but the state is, within the
    states probed, and goes unseen past them."""
    assert check(Drifting(40, start=-1)).verdict is Verdict.OK
    with pytest.raises(NotDeterministic) as caught:
        check(Drifting(40, start=3))
    assert caught.value.twice and caught.value.previous == 3
    assert (caught.value.stored, caught.value.replayed) == (4, 5)
    assert check(Drifting(40, start=DETERMINISM_PROBES + 1)).verdict is Verdict.OK


class TakingTurns(Chain):
    """A chain whose steps two threads take in turn: every step switches."""

    def actor(self, action: str) -> Hashable:
        return action

    def actions(self, state: int) -> Sequence[str]:
        return (f"T{state % 2}",) if state < self.length else ()


def test_more_context_switches_than_two_bytes_count() -> None:
    result = check(TakingTurns(70_000))
    assert result.verdict is Verdict.OK
    assert result.stats.max_depth == 70_000
