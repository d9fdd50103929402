"""Forking steps on symbolic values and the byte runs of a page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mc.dsl.steps import Context, Source, ThreadSlots
from mc.dsl.symbolic_steps import ForkStep
from mc.engine.symbolic import TRUE, Symbol, conjoin, evaluate, lt
from mc.kernel.device import ZEROES
from mc.kernel.pagedata import fill, versions_in, zero
from mc.kernel.pathcond import (
    SYMBOLIC,
    Symbolic,
    at_least,
    decide,
    div,
    less,
    mod,
    pick,
    render_path,
)
from mc.kernel.world import DONE, Scratch, World

PAGE = 4096
SIZE = Symbol("size", 0, 2 * PAGE)
POS = Symbol("pos", 0, 2 * PAGE - 1)


def _world() -> tuple[World, Symbolic, ThreadSlots, int]:
    world = World(["T1"])
    part = Symbolic(world)
    world.parts[SYMBOLIC] = part
    part.declare(SIZE)
    part.declare(POS)
    thread = ThreadSlots(0, "T1", world.add_slot("T1.pc", 0), world.add_slot("T1.ret", 0))
    result = world.add_slot("T1.result", None)
    return world, part, thread, result


def _outcomes(effect: Callable[[Scratch], Any]) -> tuple[Symbolic, int, list[tuple[Any, ...]]]:
    world, part, thread, result = _world()
    step = ForkStep(
        label="test", source=Source("t", 1, "t"), effect=lambda fs, _v: effect(fs), result=result
    )
    fire = step.compile(Context(world, thread, DONE, None))
    return part, result, list(fire(world.initial_state()))


def test_a_decision_forks_into_the_feasible_outcomes() -> None:
    part, result, states = _outcomes(lambda fs: decide(fs, less(SIZE.var, PAGE)))
    assert [s[result] for s in states] == [True, False]
    assert [render_path(s[part.path]) for s in states] == ["size < 4096", "size >= 4096"]


def test_an_implied_decision_leaves_the_path_as_it_is() -> None:
    def twice(fs: Scratch) -> tuple[bool, bool]:
        first = decide(fs, less(SIZE.var, PAGE))
        return first, decide(fs, less(SIZE.var, 2 * PAGE + 1))

    part, result, states = _outcomes(twice)
    assert [s[result] for s in states] == [(True, True), (False, True)]
    assert [len(s[part.path]) for s in states] == [1, 1]


def test_concrete_decisions_need_no_solver() -> None:
    part, result, states = _outcomes(lambda fs: decide(fs, less(3, PAGE)))
    assert [s[result] for s in states] == [True]
    assert part.calls == 0


def test_pick_enumerates_page_indices_keeping_the_offset_symbolic() -> None:
    def page_and_offset(fs: Scratch) -> tuple[int, bool]:
        index = pick(fs, div(POS.var, PAGE))
        return index, decide(fs, at_least(mod(POS.var, PAGE), 100))

    part, result, states = _outcomes(page_and_offset)
    assert sorted(s[result] for s in states) == [(0, False), (0, True), (1, False), (1, True)]
    for state in states:
        witness = part.witness(state)
        index, far = state[result]
        assert witness["pos"] // PAGE == index and (witness["pos"] % PAGE >= 100) == far
        assert part.check_witness(state, witness) is None
    assert part.statistics(states) == {"symbolic_states": 4, "solver_calls": part.calls}


def test_a_witness_outside_the_range_or_the_path_is_refused() -> None:
    part, _, states = _outcomes(lambda fs: decide(fs, less(SIZE.var, PAGE)))
    low = states[0]
    assert part.check_witness(low, {"size": 100, "pos": 0}) is None
    assert "does not satisfy" in (part.check_witness(low, {"size": 5000, "pos": 0}) or "")
    assert "outside" in (part.check_witness(low, {"size": -1, "pos": 0}) or "")
    assert "no integer" in (part.check_witness(low, {"size": 1}) or "")


def test_runs_of_a_page_under_symbolic_offsets() -> None:
    size, pos = SIZE.var, POS.var

    def tail_then_store(fs: Scratch) -> frozenset[int]:
        zeroed = zero(fs, 0, mod(size, PAGE))
        stored = fill(fs, zeroed, mod(pos, PAGE), mod(pos, PAGE) + 1, 7)
        return versions_in(fs, stored, mod(size, PAGE), PAGE)

    part, result, states = _outcomes(tail_then_store)
    seen = {s[result] for s in states}
    assert seen == {frozenset({ZEROES}), frozenset({ZEROES, 7}), frozenset({7})}
    for state in states:
        env = part.witness(state)
        tail = range(env["size"] % PAGE, PAGE)
        stored = env["pos"] % PAGE
        expected = {7} if stored in tail else set()
        if any(byte != stored for byte in tail):
            expected.add(ZEROES)
        assert state[result] == frozenset(expected), env


def test_concrete_runs_need_no_forking_step() -> None:
    fs = Scratch(World(["T1"]), ())
    content = fill(fs, 0, 100, 200, 3)
    assert content == ((0, 0), (100, 3), (200, 0))
    assert versions_in(fs, content, 150, 250) == frozenset({0, 3})
    assert zero(fs, content, 0) == ZEROES
    assert evaluate(lt(1, 2), {}) and render_path(conjoin(TRUE, lt(SIZE.var, 5))) == "size < 5"
