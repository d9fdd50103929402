"""Property-based tests: every lock kind against a small reference
implementation (a stateful test), and the Program transforms variants and
mutations apply."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mc.dsl.program import Program
from mc.dsl.steps import EffectStep, LockStep, Source, Step, UnlockStep
from mc.kernel import locks
from mc.kernel.expr import lock_const
from mc.kernel.locks import EXCL, SHARED, Kind, Lock, Mode, Outcome

THREADS = 3


@attrs.define
class Reference:
    """What each kind promises, written plainly: an owner for the exclusive
    kinds; for reader-writer kinds a writer, readers and a FIFO of writers
    whose arrival blocks new readers; seqlock writers exclude each other;
    rcu readers never wait."""

    kind: Kind
    writer: int | None = None
    readers: set[int] = attrs.Factory(set)
    queue: list[int] = attrs.Factory(list)

    def holds(self, tid: int) -> bool:
        return self.writer == tid or tid in self.readers

    def acquire(self, tid: int, mode: Mode) -> Outcome:
        if self.holds(tid):
            return Outcome.ALREADY_HELD
        if self.kind is Kind.RCU:
            self.readers.add(tid)
            return Outcome.TAKEN
        if self.kind.shared_mode and mode is SHARED:
            if self.writer is not None or self.queue:
                return Outcome.BLOCKED
            self.readers.add(tid)
            return Outcome.TAKEN
        free = self.writer is None and not self.readers
        if self.kind.shared_mode:
            if tid in self.queue:
                if free and self.queue[0] == tid:
                    self.queue.pop(0)
                    self.writer = tid
                    return Outcome.TAKEN
                return Outcome.BLOCKED
            if free and not self.queue:
                self.writer = tid
                return Outcome.TAKEN
            self.queue.append(tid)
            return Outcome.QUEUED
        if not free:
            return Outcome.BLOCKED
        self.writer = tid
        return Outcome.TAKEN

    def release(self, tid: int) -> bool:
        if not self.holds(tid):
            return False
        if self.writer == tid:
            self.writer = None
        else:
            self.readers.discard(tid)
        return True

    def holders(self) -> set[int]:
        return ({self.writer} if self.writer is not None else set()) | self.readers


class LockMachine(RuleBasedStateMachine):
    """Random acquisitions and releases by three threads on one lock of
    each kind, compared step by step with the reference."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds = list(Kind)
        self.values = {kind: locks.initial(kind) for kind in self.kinds}
        self.references = {kind: Reference(kind) for kind in self.kinds}

    @rule(
        kind=st.sampled_from(list(Kind)),
        tid=st.integers(0, THREADS - 1),
        mode=st.sampled_from([EXCL, SHARED]),
    )
    def acquire(self, kind: Kind, tid: int, mode: Mode) -> None:
        outcome, value = locks.acquire(kind, self.values[kind], tid, mode)
        expected = self.references[kind].acquire(tid, mode)
        assert outcome is expected, (kind, tid, mode)
        if outcome in (Outcome.TAKEN, Outcome.QUEUED):
            self.values[kind] = value
        else:
            assert value == self.values[kind]

    @rule(kind=st.sampled_from(list(Kind)), tid=st.integers(0, THREADS - 1))
    def release(self, kind: Kind, tid: int) -> None:
        held, value = locks.release(kind, self.values[kind], tid)
        assert held is self.references[kind].release(tid)
        self.values[kind] = value

    @invariant()
    def holders_agree(self) -> None:
        for kind in self.kinds:
            reference = self.references[kind]
            assert set(locks.holders(kind, self.values[kind])) == reference.holders()
            assert list(locks.queued(kind, self.values[kind])) == reference.queue
            for tid in range(THREADS):
                assert locks.holds(kind, self.values[kind], tid) is reference.holds(tid)


TestLockKinds = LockMachine.TestCase
TestLockKinds.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


NAMES = ("a", "b", "c", "d")
SOURCE = Source("models/x.py", 1, "f")


def _lock(name: str) -> Lock:
    return Lock(name, Kind.RWSEM, NAMES.index(name) + 1, "lock")


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """Acquisitions of distinct locks in a random order and mode, with up
    to two effects between two of them, then their releases in reverse."""
    order = draw(st.permutations(NAMES).map(lambda names: names[: draw(st.integers(1, 4))]))
    modes = draw(st.lists(st.sampled_from([EXCL, SHARED]), min_size=len(order), max_size=4))
    takes: list[Step] = []
    for n, m in zip(order, modes, strict=False):
        if takes:
            effects = draw(st.integers(0, 2))
            takes += [
                EffectStep(label=f"effect {len(takes)}.{e}", source=SOURCE, effect=_nothing)
                for e in range(effects)
            ]
        takes.append(LockStep(label=f"lock({n})", source=SOURCE, lock=lock_const(_lock(n)), mode=m))
    releases = [
        UnlockStep(label=f"unlock({n})", source=SOURCE, lock=lock_const(_lock(n)))
        for n in reversed(order)
    ]
    return Program((*takes, *releases))


def _nothing(*_args: object) -> None:
    return None


def _names(steps: Sequence[object]) -> list[str]:
    return [step.label for step in steps if isinstance(step, LockStep | UnlockStep)]


@given(programs(), st.sampled_from(NAMES))
def test_dropping_an_acquisition_keeps_the_releases_balanced(program: Program, name: str) -> None:
    dropped = program.drop_acquisitions(lambda s: s.label == f"lock({name})")
    assert f"lock({name})" not in _names(dropped.steps)
    assert len(dropped.steps) == len(program.steps) - _names(program.steps).count(f"lock({name})")
    for step in dropped.steps:
        if isinstance(step, UnlockStep):
            assert step.if_held is (step.label == f"unlock({name})")
    assert len(dropped.link()) == len(dropped.steps)


@given(programs())
def test_weakening_touches_only_the_chosen_exclusive_acquisitions(program: Program) -> None:
    first = program.steps[0]
    weakened = program.weaken(lambda s: s is first)
    assert isinstance(weakened.steps[0], LockStep) and weakened.steps[0].mode is SHARED
    assert weakened.steps[0].label == first.label
    _same_but_releases_of(first, weakened.steps[1:], program.steps[1:])
    relabelled = program.weaken(lambda s: s is first, relabel=lambda label: f"{label} shared")
    was_exclusive = isinstance(first, LockStep) and first.mode is EXCL
    assert relabelled.steps[0].label == first.label + (" shared" if was_exclusive else "")
    _same_but_releases_of(first, relabelled.steps[1:], program.steps[1:])


def _same_but_releases_of(
    acquisition: Step, changed: Sequence[Step], steps: Sequence[Step]
) -> None:
    """``changed`` is ``steps`` but for the modes of the releases of the lock
    ``acquisition`` takes (``Program.with_release_modes``)."""
    text = acquisition.lock.text  # type: ignore[attr-defined]
    for new, old in zip(changed, steps, strict=True):
        if isinstance(old, UnlockStep) and old.lock.text == text:
            assert attrs.evolve(new, mode=old.mode) == old
        else:
            assert new == old


@given(programs())
def test_strengthening_touches_only_the_chosen_shared_acquisitions(program: Program) -> None:
    first = program.steps[0]
    strengthened = program.strengthen(lambda s: s is first)
    assert isinstance(strengthened.steps[0], LockStep) and strengthened.steps[0].mode is EXCL
    _same_but_releases_of(first, strengthened.steps[1:], program.steps[1:])
    everything = program.strengthen(lambda _s: True)
    assert all(s.mode is EXCL for s in everything.steps if isinstance(s, LockStep))
    again = everything.weaken(lambda _s: True).strengthen(lambda _s: True)
    assert again.with_release_modes().steps == everything.with_release_modes().steps


@given(programs())
def test_taking_the_second_of_two_acquisitions_in_turn_first_moves_only_it(
    program: Program,
) -> None:
    for a, b in program.acquisitions_in_turn():
        first = next(i for i, item in enumerate(program.items) if item is a)
        second = next(i for i, item in enumerate(program.items) if item is b)
        assert all(isinstance(item, EffectStep) for item in program.items[first + 1 : second])
        moved = program.move_before(b, a)
        assert sorted(_names(moved.steps)) == sorted(_names(program.steps))
        position = next(i for i, step in enumerate(moved.steps) if step is b)
        assert moved.steps[position + 1] is a
        assert [s for s in moved.steps if s is not b] == [s for s in program.steps if s is not b]


@given(programs(), st.data())
def test_moving_steps_keeps_every_step_once(program: Program, data: st.DataObject) -> None:
    steps = list(program.steps)
    anchor = data.draw(st.sampled_from(steps))
    moved = [s for s in data.draw(st.lists(st.sampled_from(steps), unique=True)) if s is not anchor]
    result = program.move_before(moved, anchor)
    assert sorted(_names(result.steps)) == sorted(_names(program.steps))
    at = result.steps.index(anchor)
    assert list(result.steps[at - len(moved) : at]) == moved
