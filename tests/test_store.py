"""Fingerprint storage: the table finds what it stored through its growth,
and a search over fingerprints stores, checks and traces as one over full
states."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from mc.check.checker import check_scenario
from mc.check.replay import replay
from mc.dsl.scenario import Registry
from mc.engine.explore import Options
from mc.engine.result import Verdict
from mc.engine.store import (
    SEEN,
    ExactStore,
    FingerprintStore,
    fingerprint,
    omission_probability,
)
from mc.engine.symbolic import Var, binary
from mc.kernel.world import ModelError, held, is_wide


def test_the_table_keeps_every_state_through_its_growth() -> None:
    store: FingerprintStore[tuple[int, int]] = FingerprintStore(capacity=8)
    states = [(i, i * i) for i in range(5000)]
    for sid, state in enumerate(states):
        assert store.find(state) is None
        store.add(state, sid)
    assert len(store.keys) >= 5000 / 0.75
    assert [store.find(state) for state in states] == list(range(5000))
    assert store.find((-1, 1)) is None
    store.close()


def test_a_numbered_store_numbers_every_state_in_a_third_less() -> None:
    """Kept for a search that keeps its graph's edges: every state's number
    is found through the table's growth, in 8 bytes a state and 4 a slot."""
    store: FingerprintStore[tuple[int, int]] = FingerprintStore(capacity=8, numbered=True)
    states = [(i, 7 * i) for i in range(5000)]
    for sid, state in enumerate(states):
        assert store.find(state) is None
        store.add(state, sid)
    taken = [store.take(sid) for sid in range(5000)]
    assert taken == states
    assert [store.find(state) for state in states] == list(range(5000))
    assert store.find((-1, 1)) is None
    table = store.numbers
    assert len(table.slots) == 8192
    assert table.memory_bytes() == 8 * 5000 + 4 * 8192 < 12 * 8192
    with pytest.raises(ValueError, match="out of order"):
        table.put(fingerprint((-1, 1)), 5001)
    store.close()


def test_states_are_taken_in_order_and_numbered_until_taken() -> None:
    store: FingerprintStore[tuple[int, int]] = FingerprintStore(capacity=8)
    states = [(i, -i) for i in range(3000)]
    for sid, state in enumerate(states[:1000]):
        store.add(state, sid)
    taken = [store.take(sid) for sid in range(600)]
    for sid, state in enumerate(states[1000:], start=1000):
        store.add(state, sid)
    taken += [store.take(sid) for sid in range(600, 2500)]
    assert taken == states[:2500]
    assert [store.find(state) for state in states[2500:]] == list(range(2500, 3000))
    assert store.find(states[0]) == SEEN
    assert all(store.find(state) in (sid, SEEN) for sid, state in enumerate(states[:2500]))
    with pytest.raises(ValueError, match="out of order"):
        store.take(2501)
    store.close()


def test_a_store_taken_in_any_order_numbers_nothing() -> None:
    store: FingerprintStore[tuple[int, int]] = FingerprintStore(capacity=8, in_order=False)
    for sid in range(100):
        store.add((sid, 0), sid)
    assert store.take(70) == (70, 0) and store.take(3) == (3, 0)
    assert store.find((70, 0)) == store.find((5, 0)) == SEEN
    assert store.find((100, 0)) is None


def test_the_store_counts_its_table_and_numbers_as_they_grow() -> None:
    store: FingerprintStore[tuple[int, int]] = FingerprintStore(capacity=8)
    empty = store.memory_bytes()
    assert empty == 8 * 8 + 2 * 1024 * (8 + 4)
    for sid in range(5000):
        store.add((sid, 1), sid)
    grown = store.memory_bytes()
    assert grown == 8 * len(store.keys) + 12 * (len(store.older.keys) + len(store.newer.keys))
    assert len(store.keys) == 8192 and grown > empty
    assert ExactStore().memory_bytes() is None
    store.close()


def test_a_search_over_fingerprints_reports_its_store_per_state(shipped: Registry) -> None:
    options = Options(exact=False)
    compact = check_scenario(shipped, "dirops/rename-rmdir-link", (), None, options).result.stats
    exact = check_scenario(shipped, "dirops/rename-rmdir-link").result.stats
    assert exact.store_bytes_per_state is None
    assert "store_bytes_per_state" not in exact.as_dict()
    assert compact.store_bytes_per_state is not None
    capacity = 1024
    while compact.states > 0.75 * capacity:
        capacity *= 2
    links = 4 + 2
    held = round(compact.store_bytes_per_state * compact.states)
    numbers = held - 8 * capacity - links * compact.states
    assert numbers >= 2 * 12 * 1024 and numbers % (12 * 1024) == 0
    assert f"({compact.store_bytes_per_state:.0f} in the store)" in compact.summary()


def test_an_exact_search_reports_at_least_its_states_tuples_per_state(
    vfsmc: Any, tmp_path: Path
) -> None:
    """A search of a few states may grow the process by nothing it can
    see: the figure is never less than the state tuples the exact store
    holds (it said 0 B a state)."""
    (tmp_path / "collide.py").write_text(COLLIDE)
    found = vfsmc("check", "collide.py:my/collide", "--no-save", "--exact", "--json")
    stats = json.loads(found.stdout)
    assert stats["states"] < 20
    assert stats["bytes_per_state"] >= sys.getsizeof((0,) * 10)


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


def test_minus_one_and_minus_two_have_two_fingerprints() -> None:
    """Python hashes -1 as -2: the fingerprint tells them apart, so a state
    whose return value is -EPERM is not taken for one with -ENOENT, nor
    one where two threads' return values swap them."""
    assert hash(-1) == hash(-2)
    assert fingerprint((0, -1, 3)) != fingerprint((0, -2, 3))
    assert fingerprint((0, -1, -2)) != fingerprint((0, -2, -1))
    assert fingerprint((-1, -2, -1)) != fingerprint((-1, -1, -2))
    store: FingerprintStore[tuple[int, ...]] = FingerprintStore()
    store.add((0, -1, 3), 0)
    assert store.find((0, -2, 3)) is None
    assert store.find((0, -1, 3)) == 0


COLLIDE = """\
from mc.dsl import Op, Scratch, invariant, operation, scenario


def set_x(scratch: Scratch, x: int, flag: int) -> None:
    if scratch[x] == 0:
        scratch[x] = -2 if scratch[flag] else -1


def put(scratch: Scratch, slot: int, value: int) -> None:
    scratch[slot] = value


@operation(models="x = flag ? -2 : -1")
def writer(op: Op) -> None:
    op.effect("x = flag ? -2 : -1", set_x, op.world.shared_slot("x", 0),
              op.world.shared_slot("flag", 0))


@operation(models="flag = 1; flag = 0")
def flagger(op: Op) -> None:
    flag = op.world.shared_slot("flag", 0)
    op.effect("flag = 1", put, flag, 1)
    op.effect("flag = 0", put, flag, 0)


@invariant("x-not-minus-two", "x never becomes -2", reads=["x"])
def x_not_minus_two(model):
    slot = next(i for i, s in enumerate(model.world.slots) if s.name == "x")
    return lambda state: "x is -2" if state[slot] == -2 else None


scenario("my/collide", "x is -1 or -2 by a transient flag", tree=["/a/"],
         threads=[writer(), flagger()], properties=["deadlock", "x-not-minus-two"])
"""


@pytest.mark.parametrize("options", [(), ("--exact",), ("--workers", "2"), ("--no-por", "--dfs")])
def test_a_state_that_differs_by_minus_one_against_minus_two_is_explored(
    vfsmc: Any, tmp_path: Path, options: tuple[str, ...]
) -> None:
    (tmp_path / "collide.py").write_text(COLLIDE)
    result = vfsmc("check", "collide.py:my/collide", "--no-save", *options)
    assert result.exit_code == 1, result.output
    assert "my/collide: VIOLATED" in result.output and "x is -2" in result.output


def test_symbolic_constants_minus_one_and_minus_two_fingerprint_apart() -> None:
    """Python hashes -1 as -2; a path condition's constant says which it is
    in its hash, so two states whose conditions differ only there are two
    fingerprints, and equal terms still hash alike."""
    x = Var("x")
    minus = [fingerprint((0, (binary("+", x, value),))) for value in (-1, -2)]
    assert minus[0] != minus[1]
    assert fingerprint((binary("+", x, -1),)) == fingerprint((binary("+", x, -1),))


WIDE_CLASH = """\
from mc.dsl import Op, Scratch, invariant, operation, scenario
from mc.kernel.expr import state_expr

LLONG_MAX = 2**63 - 1


def put(scratch: Scratch, slot: int, value: object) -> None:
    scratch[slot] = value


def judge(scratch: Scratch, end: int, bad: int) -> None:
    if scratch[end] in (LLONG_MAX, (LLONG_MAX,), 0.5):
        scratch[bad] = 1


@operation(models="end = value; done = 1")
def writer(op: Op, value: object, done: str) -> None:
    op.effect(f"end = {value}", put, op.world.shared_slot("end", 0), value)
    op.effect(f"{done} = 1", put, op.world.shared_slot(done, 0), 1)


@operation(models="wait for both writers, then look at end")
def judge_op(op: Op) -> None:
    d1, d2 = op.world.shared_slot("done1", 0), op.world.shared_slot("done2", 0)
    op.wait_until(state_expr("done1 && done2", lambda s: s[d1] and s[d2], reads=[d1, d2]),
                  "wait_event(done1 && done2)", "both done")
    op.effect("if (end == LLONG_MAX) bad = 1", judge, op.world.shared_slot("end", 0),
              op.world.shared_slot("bad", 0))


@invariant("not-bad", "the last writer never leaves LLONG_MAX", reads=["bad"])
def not_bad(model):
    bad = next(i for i, s in enumerate(model.world.slots) if s.name == "bad")
    return lambda state: "end is the first writer's after both wrote" if state[bad] else None


scenario("my/wide", "LLONG_MAX against 3", tree=["/f"], properties=["not-bad"],
         threads=[writer(LLONG_MAX, "done1"), writer(3, "done2"), judge_op()])
scenario("my/wide-inside", "(LLONG_MAX,) against (3,)", tree=["/f"], properties=["not-bad"],
         threads=[writer((LLONG_MAX,), "done1"), writer((3,), "done2"), judge_op()])
scenario("my/half", "0.5 against 2**60", tree=["/f"], properties=["not-bad"],
         threads=[writer(0.5, "done1"), writer(2 ** 60, "done2"), judge_op()])
"""


def test_a_search_over_fingerprints_refuses_an_int_python_hashes_modulo_2_61_minus_1() -> None:
    """Python hashes an int from 2**61 - 1 on modulo it: LLONG_MAX as 3, so
    the fingerprints of two states that differ only there are one."""
    llong_max = 2**63 - 1
    assert hash(llong_max) == hash(3)
    assert fingerprint((0, llong_max)) == fingerprint((0, 3))
    assert is_wide(llong_max) and is_wide((0, frozenset({-llong_max})))
    assert not is_wide(2**61 - 2) and not is_wide((-(2**61) + 2,))
    assert hash(0.5) == hash(2**60) and fingerprint((0, 0.5)) == fingerprint((0, 2**60))
    assert is_wide(0.5) and is_wide((1, 0.25)) and not is_wide(2.0) and not is_wide((3.0,))


@pytest.mark.parametrize("scenario", ["my/wide", "my/wide-inside", "my/half"])
@pytest.mark.parametrize("options", [(), ("--workers", "2"), ("--no-por",)])
def test_a_state_that_differs_by_a_number_hashed_as_another_is_refused_over_fingerprints(
    vfsmc: Any, tmp_path: Path, scenario: str, options: tuple[str, ...]
) -> None:
    """Over fingerprints the write of LLONG_MAX (hashed as 3) or of 0.5
    (hashed as 2**60) is a model error that says to check with --exact (it
    was one state with the other, and the check said OK); with --exact,
    the violation is found."""
    (tmp_path / "wide.py").write_text(WIDE_CLASH)
    refused = vfsmc("check", f"wide.py:{scenario}", "--no-save", *options)
    assert refused.exit_code == 2, refused.output
    assert refused.output.startswith("vfsmc: error: wide.py:")
    assert "cannot hold" in refused.output and "check with --exact" in refused.output
    exact = vfsmc("check", f"wide.py:{scenario}", "--no-save", "--exact", *options)
    assert exact.exit_code == 1, exact.output
    assert "end is the first writer's after both wrote" in exact.output


@dataclasses.dataclass(frozen=True)
class Box:
    """A model file's frozen class: its hash is that of a tuple of its fields."""

    value: int


class Mode(enum.IntEnum):
    MINUS = -1
    ONE = 1


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ((Decimal(-1),), "a Decimal: Python hashes every number modulo 2\\*\\*61-1"),
        ((Fraction(-1),), "a Fraction: Python hashes every number"),
        ((-1 + 0j,), "a complex: Python hashes every number"),
        (Decimal(2) ** 61, "a Decimal: Python hashes every number"),
        (Box(-1), "field value of a Box: -1 inside a tuple or frozenset hashes as -2"),
        ((Mode.MINUS,), "-1 inside a tuple or frozenset hashes as -2"),
    ],
)
def test_a_value_that_would_share_a_fingerprint_with_another_is_refused(
    value: object, refusal: str
) -> None:
    """Decimal(-1) and (-2,) hash alike, and so do Box(-1) and Box(-2), or
    Decimal(2**61) and 1: a slot holding one is a model error, where the
    search over fingerprints once took the two states for one."""
    with pytest.raises(ModelError, match=refusal):
        held(value, "box")
    assert held((Box(-2), Mode.ONE, 2.0), "box") == (Box(-2), Mode.ONE, 2.0)
