"""The engine's symmetry reduction (``mc.engine.symmetry``) on random small
programs: copies of one program (interchangeable threads) and possibly
another thread, over shared locks and variables.  A state's representative
sorts the program counters of the copies no lock names (as
``mc.dsl.symmetry`` does for kernel models); the search of the quotient
agrees with the full one on every property (all of them look at the
threads alike), and a counterexample unfolded from it replays on the
model itself to a state that violates the property."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from test_por import (
    Instr,
    State,
    Threads,
    differs,
    error_free,
    finished,
    instructions,
    replays_to_violation,
    stuck,
)

from mc.engine.explore import Options, Search
from mc.engine.model import Property, always, deadlock_free, sometimes
from mc.engine.result import Verdict
from mc.engine.symmetry import Symmetric, unfold


def sorting(copies: int, threads: int) -> Symmetric[State, tuple[int, int]]:
    """The representative function for ``copies`` interchangeable threads
    (the first ones) among ``threads``."""

    def normalise(state: State) -> tuple[State, tuple[int, ...]]:
        pcs, locks = state[0], state[1]
        free = [tid for tid in range(copies) if tid not in locks]
        order = sorted(free, key=lambda tid: pcs[tid])
        perm = list(range(threads))
        values = list(pcs)
        for target, source in zip(free, order, strict=True):
            values[target] = pcs[source]
            perm[target] = source
        return (tuple(values), *state[1:]), tuple(perm)

    return normalise


def quotient(model: Threads, copies: int) -> Symmetric[State, tuple[int, int]]:
    normalise = sorting(copies, len(model.programs))
    return Symmetric(model, normalise, lambda action, perm: (perm[action[0]], action[1]))


def agree(
    programs: Sequence[Sequence[Instr]], copies: int, props: Sequence[Property[State]]
) -> None:
    for prop in props:
        model = Threads(programs, [prop])
        reduced_model = quotient(model, copies)
        full = Search(model, Options(reduce=False)).run()
        reduced = Search(reduced_model, Options(reduce=False)).run()
        assert reduced.verdict is full.verdict, (prop.name, programs)
        assert reduced.stats.states <= full.stats.states
        if reduced.violation is None or reduced.violation.path is None:
            continue
        assert full.violation is not None and full.violation.path is not None
        assert reduced.violation.property == full.violation.property
        path = unfold(reduced_model, reduced.violation.path)
        assert len(path) == len(full.violation.path)
        replays_to_violation(model, prop, path)


@st.composite
def symmetric_programs(draw: st.DrawFn) -> tuple[list[list[Instr]], int]:
    copies = draw(st.integers(2, 3))
    length = draw(st.integers(1, 4))
    shared = draw(st.lists(instructions(length), min_size=length, max_size=length))
    made = [list(shared) for _ in range(copies)]
    if draw(st.booleans()):
        other = draw(st.integers(1, 4))
        made.append(draw(st.lists(instructions(other), min_size=other, max_size=other)))
    return made, copies


@settings(max_examples=150, deadline=None)
@given(symmetric_programs(), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=2))
def test_the_quotient_agrees_with_the_full_search(
    drawn: tuple[list[list[Instr]], int], invariants: list[tuple[int, int]]
) -> None:
    threads, copies = drawn
    props: list[Property[State]] = [
        always("no-bad-unlock", error_free, reads=0),
        deadlock_free("deadlock", stuck),
        sometimes("completes", finished, terminal=True),
        *(differs(var, value) for var, value in invariants),
    ]
    agree(threads, copies, props)


def test_copies_that_hold_nothing_are_one_state() -> None:
    program = [Instr("inc", 0), Instr("skip")]
    model = Threads([program, program, program], [])
    full = Search(model, Options(reduce=False)).run()
    reduced = Search(quotient(model, 3), Options(reduce=False)).run()
    assert full.verdict is reduced.verdict is Verdict.OK
    assert reduced.stats.states < full.stats.states
