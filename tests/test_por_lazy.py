"""The reduction computing only the actions of the actors it looks at
(``Model.successors_of``) explores the graph the reduction computing every
action explores: on random thread programs (``test_por``'s), the same
states in the same order, the same transitions and verdicts, and the same
counterexample (its moves are indices among every enabled action), in
breadth- and depth-first order; with fewer actions computed."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from test_por import (
    Instr,
    State,
    Threads,
    error_free,
    programs,
    random_properties,
    two_variable_invariants,
)

from mc.engine.explore import Options, Search, replay_moves
from mc.engine.model import Property, always
from mc.engine.result import Strategy

Action = tuple[int, int]


class Counting(Threads):
    """``Threads`` counting the threads whose step it runs."""

    fired = 0

    def successors(self, state: State) -> list[tuple[Action, State]]:
        found = super().successors(state)
        self.fired += sum(1 for pc in state[0] if pc != -1) if not state[3] else 0
        return found


class Lazy(Counting):
    """``Threads`` that also gives one thread's actions alone."""

    def successors_of(self, state: State, actor: Hashable) -> list[tuple[Action, State]]:
        assert isinstance(actor, int)
        if state[3] or state[0][actor] == -1:
            return []
        self.fired += 1
        after = self._fire(actor, state)
        return [] if after is None else [((actor, 0), after)]


def same_search(threads: Sequence[Sequence[Instr]], props: Sequence[Property[State]]) -> int:
    """Search each property with both models, both orders; how many fewer
    steps the lazy one ran."""
    saved = 0
    for prop in props:
        for strategy in (Strategy.BFS, Strategy.DFS):
            eager_model, lazy_model = Counting(threads, [prop]), Lazy(threads, [prop])
            eager = Search(eager_model, Options(strategy=strategy))
            lazy = Search(lazy_model, Options(strategy=strategy))
            assert not eager.lazy and lazy.lazy
            first, second = eager.run(), lazy.run()
            assert second.verdict is first.verdict
            assert second.stats.states == first.stats.states
            assert second.stats.transitions == first.stats.transitions
            assert list(lazy.states) == list(eager.states)
            assert list(lazy.parent) == list(eager.parent)
            assert (first.violation is None) is (second.violation is None)
            if first.violation is not None and second.violation is not None:
                assert second.violation.property == first.violation.property
                assert second.violation.path == first.violation.path
                if second.violation.path is not None:
                    path = second.violation.path
                    replayed = replay_moves(eager_model, path.init, path.moves)
                    assert replayed.states == path.states
            assert lazy_model.fired <= eager_model.fired
            saved += eager_model.fired - lazy_model.fired
    return saved


@settings(max_examples=150, deadline=None)
@given(programs(), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=2))
def test_the_lazy_reduction_explores_what_the_eager_one_does(
    threads: list[list[Instr]], invariants: list[tuple[int, int]]
) -> None:
    same_search(threads, random_properties(invariants))


@settings(max_examples=100, deadline=None)
@given(programs(), two_variable_invariants())
def test_the_lazy_reduction_agrees_on_invariants_over_two_variables(
    threads: list[list[Instr]], invariants: list[Property[State]]
) -> None:
    same_search(threads, invariants)


def test_independent_threads_run_fewer_steps() -> None:
    programs = [[Instr("write", v, 1), Instr("inc", v)] for v in range(3)]
    assert same_search(programs, [always("no-bad-unlock", error_free, reads=0)]) > 0
