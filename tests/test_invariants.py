"""Invariants answer from memory by the part of the state they declare
they read (``mc.engine.invariants``): the answers are those of the checks
asked every time, in the order the invariants are listed; a lookup that
rarely finds its answer is given up, the answers kept are bounded, and a
model that cannot pick the part is asked every time."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mc.check.registry import with_files
from mc.dsl.scenario import Registry
from mc.engine import invariants as invariants_module
from mc.engine.explore import Options, Search
from mc.engine.invariants import Invariants
from mc.engine.model import Model, Property, always

State = tuple[int, ...]
SLOTS = 4


class Counter(Model[State, int]):
    """Flat states of ``SLOTS`` small numbers; action ``i`` adds one to
    slot ``i`` up to ``top``.  ``remembers`` says whether it picks the part
    of a state a mask reads (``part_read``)."""

    def __init__(
        self, props: Sequence[Property[State]], top: int = 2, remembers: bool = True
    ) -> None:
        self.props = props
        self.top = top
        self.remembers = remembers

    def init_states(self) -> Sequence[State]:
        return ((0,) * SLOTS,)

    def successors(self, state: State) -> list[tuple[int, State]]:
        return [
            (slot, (*state[:slot], state[slot] + 1, *state[slot + 1 :]))
            for slot in range(SLOTS)
            if state[slot] < self.top
        ]

    def properties(self) -> Sequence[Property[State]]:
        return self.props

    def part_read(self, reads: int) -> Callable[[State], Hashable] | None:
        if not self.remembers:
            return None
        slots = [slot for slot in range(SLOTS) if reads >> slot & 1]
        return itemgetter(*slots) if slots else (lambda _state: ())


def _counted(
    name: str,
    reads: int | None,
    check: Callable[[State], str | None],
    asked: list[str],
    remembered: bool = True,
) -> Property[State]:
    def counted(state: State) -> str | None:
        asked.append(name)
        return check(state)

    return always(name, counted, reads=reads, remembered=remembered)


def _sum_below(slots: Sequence[int], bound: int) -> Callable[[State], str | None]:
    def check(state: State) -> str | None:
        total = sum(state[slot] for slot in slots)
        return None if total < bound else f"slots {list(slots)} sum to {total}"

    return check


@st.composite
def _invariants(draw: st.DrawFn) -> list[tuple[int | None, list[int], int]]:
    """Invariants over random slots, each declaring exactly what it reads,
    or more, or nothing."""
    found = []
    for _ in range(draw(st.integers(1, 4))):
        slots = draw(st.lists(st.integers(0, SLOTS - 1), min_size=1, max_size=3, unique=True))
        mask = sum(1 << slot for slot in slots)
        declared = draw(st.sampled_from([mask, mask | 1 << draw(st.integers(0, SLOTS - 1)), None]))
        found.append((declared, slots, draw(st.integers(1, 6))))
    return found


@settings(max_examples=80, deadline=None)
@given(_invariants(), st.lists(st.tuples(*[st.integers(0, 3)] * SLOTS), min_size=1, max_size=30))
def test_remembered_answers_are_those_of_the_checks(
    drawn: list[tuple[int | None, list[int], int]], states: list[State]
) -> None:
    props = [
        always(f"p{i}", _sum_below(slots, bound), reads=declared, remembered=True)
        for i, (declared, slots, bound) in enumerate(drawn)
    ]
    checked = Invariants(Counter(props), props)
    for state in states + states[::-1]:
        expected = next(((p.name, m) for p in props if (m := p.check(state)) is not None), None)
        assert checked.violated(state) == expected


def test_a_state_alike_in_what_is_read_is_answered_from_memory() -> None:
    asked: list[str] = []
    prop = _counted("low", 0b1, _sum_below([0], 5), asked)
    checked = Invariants(Counter([prop]), [prop])
    assert checked.violated((1, 0, 0, 0)) is None
    assert checked.violated((1, 2, 3, 1)) is None
    assert asked == ["low"]
    assert checked.violated((2, 2, 3, 1)) is None
    assert asked == ["low", "low"]


def test_the_first_invariant_listed_is_reported_across_groups() -> None:
    first = always("first", _sum_below([1], 1), reads=0b10, remembered=True)
    second = always("second", _sum_below([0], 1), reads=0b1, remembered=True)
    third = always("third", _sum_below([1], 1), reads=0b10, remembered=True)
    checked = Invariants(Counter([]), [second, first, third])
    assert checked.violated((1, 1, 0, 0)) == ("second", "slots [0] sum to 1")
    assert checked.violated((0, 1, 0, 0)) == ("first", "slots [1] sum to 1")


@pytest.mark.parametrize("remembers", [False, True])
def test_without_a_part_or_a_declaration_every_state_is_asked(remembers: bool) -> None:
    asked: list[str] = []
    declared = _counted("declared", 0b1, _sum_below([0], 9), asked)
    undeclared = _counted("undeclared", None, _sum_below([0], 9), asked)
    model = Counter([declared, undeclared], remembers=remembers)
    checked = Invariants(model, [declared, undeclared])
    for _ in range(3):
        checked.violated((0, 0, 0, 0))
    assert asked.count("undeclared") == 3
    assert asked.count("declared") == (1 if remembers else 3)


def test_a_property_not_remembered_is_asked_on_every_state() -> None:
    """A user's property (``remembered`` False) is asked every time, so a
    ``reads=`` that leaves out a slot it reads cannot hide a violation
    outside the reduction."""
    asked: list[str] = []
    wrong = _counted("wrong", 0b1, _sum_below([0, 1], 2), asked, remembered=False)
    checked = Invariants(Counter([wrong]), [wrong])
    assert checked.violated((1, 0, 0, 0)) is None
    assert checked.violated((1, 1, 0, 0)) == ("wrong", "slots [0, 1] sum to 2")
    assert asked == ["wrong", "wrong"]


def test_only_vfsmc_s_own_properties_are_remembered(shipped: Registry, tmp_path: Path) -> None:
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"))
    assert all(p.remembered for p in model.properties())
    mine = tmp_path / "mine.py"
    mine.write_text(
        "from mc.dsl import invariant\n\n"
        "@invariant('never', 'nothing is wrong', reads=['dentry'])\n"
        "def never(model):\n"
        "    return lambda state: None\n"
    )
    registry = with_files([mine])
    built = registry.build(registry.scenario("dirops/rename-rmdir-link"), properties=["never"])
    assert [p.remembered for p in built.properties()] == [False]


def test_a_lookup_that_rarely_finds_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invariants_module, "TRIAL_LOOKUPS", 8)
    asked: list[str] = []
    prop = _counted("all", 0b1111, _sum_below(range(SLOTS), 99), asked)
    checked = Invariants(Counter([prop]), [prop])
    states = [(a, b, 0, 0) for a in range(4) for b in range(4)]
    for state in states:
        checked.violated(state)
    group = checked._groups[0]
    assert group.part is None and not group.known
    checked.violated(states[0])
    assert len(asked) == len(states) + 1


def test_the_answers_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invariants_module, "KEPT_ANSWERS", 4)
    monkeypatch.setattr(invariants_module, "TRIAL_LOOKUPS", 1 << 30)
    prop = always("all", _sum_below(range(SLOTS), 99), reads=0b1111, remembered=True)
    checked = Invariants(Counter([prop]), [prop])
    for a in range(4):
        for b in range(4):
            checked.violated((a, b, 0, 0))
            assert len(checked._groups[0].known) <= 4


@pytest.mark.parametrize("remembers", [False, True])
def test_a_search_finds_the_same_violation_either_way(remembers: bool) -> None:
    props: list[Property[Any]] = [
        always("slot 0 stays low", _sum_below([0], 9), reads=0b1, remembered=True),
        always("slots 1 and 2 stay low", _sum_below([1, 2], 4), reads=0b110, remembered=True),
    ]
    result = Search(Counter(props, remembers=remembers), Options()).run()
    assert result.violation is not None
    assert result.violation.property == "slots 1 and 2 stay low"
    assert result.violation.path is not None
    assert len(result.violation.path.actions) == 4


class _LastFrozen(Counter):
    """``Counter`` whose last slot no action changes."""

    def successors(self, state: State) -> list[tuple[int, State]]:
        return [(slot, after) for slot, after in super().successors(state) if slot < SLOTS - 1]


def test_an_invariant_whose_reads_never_change_is_told_apart() -> None:
    """An exhaustive search that found nothing names the invariants whose
    declared reads were one part of every state (the frozen slot), not
    those whose reads changed, read nothing but the errors, or are not
    declared."""
    last = 1 << (SLOTS - 1)
    props = [
        always("frozen", _sum_below([SLOTS - 1], 1), reads=last, remembered=True),
        always("moving", _sum_below([0], 9), reads=1, remembered=True),
        always("frozen-and-moving", _sum_below([0, SLOTS - 1], 9), reads=1 | last),
        always("errors-only", lambda _state: None, reads=0, remembered=True),
        always("undeclared", _sum_below([SLOTS - 1], 1)),
    ]
    result = Search(_LastFrozen(props), Options(reduce=False)).run()
    assert result.verdict.value == "OK" and result.stats.states == 27
    assert result.unvaried == ("frozen",)
    moving = Search(Counter(props[:1]), Options(reduce=False)).run()
    assert moving.verdict.value == "VIOLATED" and moving.unvaried == ()
