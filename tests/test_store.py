"""Fingerprint storage: the table finds what it stored through its growth,
and a search over fingerprints stores, checks and traces as one over full
states."""

from __future__ import annotations

from mc.check.checker import check_scenario
from mc.check.replay import replay
from mc.dsl.scenario import Registry
from mc.engine.explore import Options
from mc.engine.result import Verdict
from mc.engine.store import FingerprintStore, fingerprint, omission_probability


def test_the_table_keeps_every_number_through_its_growth() -> None:
    store: FingerprintStore[tuple[int, int]] = FingerprintStore(capacity=8)
    states = [(i, i * i) for i in range(5000)]
    for sid, state in enumerate(states):
        assert store.find(state) is None
        store.add(state, sid)
    assert len(store.keys) >= 5000 / 0.75
    assert [store.find(state) for state in states] == list(range(5000))
    assert store.find((-1, 1)) is None
    store.release(0)
    assert 0 not in store.waiting and store.state(1) == (1, 1)


def test_fingerprints_are_never_the_empty_mark() -> None:
    assert all(fingerprint(value) != 0 for value in (0, -1, (), (None,), (0, 0)))


def test_the_omission_probability_is_the_birthday_bound() -> None:
    assert omission_probability(1) == 0.0
    assert omission_probability(2**20) == 2**20 * (2**20 - 1) / 2.0**65


def test_fingerprints_give_the_exact_search_figures(shipped: Registry) -> None:
    for variants in ((), ("no-rename-mutex",)):
        exact = check_scenario(shipped, "dirops/rename-rmdir-link", variants)
        compact = check_scenario(
            shipped, "dirops/rename-rmdir-link", variants, options=Options(exact=False)
        )
        assert compact.result.verdict is exact.result.verdict is Verdict.OK
        assert compact.result.stats.states == exact.result.stats.states
        assert compact.result.stats.omission_probability is not None
        assert exact.result.stats.omission_probability is None


def test_a_trace_found_over_fingerprints_replays(shipped: Registry) -> None:
    options = Options(exact=False)
    found = check_scenario(shipped, "dirops/opposite-renames", ("no-rename-mutex",), None, options)
    exact = check_scenario(shipped, "dirops/opposite-renames", ("no-rename-mutex",))
    assert found.result.verdict is Verdict.VIOLATED
    assert found.counterexample is not None and exact.counterexample is not None
    assert found.counterexample.steps == exact.counterexample.steps
    model = shipped.build(shipped.scenario("dirops/opposite-renames"), ("no-rename-mutex",))
    assert replay(model, found.counterexample).reproduced
