"""The namespace invariant answers from memory for states that agree on
what it declares it reads (``mc.engine.invariants``): on random states
(of a directory scenario's world, with random values in the slots it
reads and in the others) the remembered answer is the full check's, in
any order of states."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry
from mc.engine.invariants import Invariants
from mc.kernel.expr import State
from mc.kernel.properties import namespace_check, namespace_slots
from mc.kernel.world import DONE, ERROR_SLOT, World

SCENARIO = "dirops/rename-rmdir-link"


def _model(shipped: Registry) -> KernelModel:
    return shipped.build(shipped.scenario(SCENARIO), properties=["namespace"])


def _world(shipped: Registry) -> World:
    return _model(shipped).world


def _remembered(model: KernelModel) -> Callable[[State], str | None]:
    """The namespace check as a search makes it, answering from memory."""
    invariants = Invariants(model, model.properties())
    assert invariants.properties[0].reads, "namespace declares what it reads"

    def check(state: State) -> str | None:
        failed = invariants.violated(state)
        return None if failed is None else failed[1]

    return check


@st.composite
def _states(draw: st.DrawFn, world: World) -> tuple[Any, ...]:
    """A state of ``world``: each slot ``namespace`` reads holds a random
    value of its kind, every other slot its initial value or a random small
    number (the check must not depend on those)."""
    inodes = len(world.inodes)
    slots, creators = namespace_slots(world)
    values = list(world.initial_state())
    for slot in range(len(values)):
        if slot not in slots and slot != ERROR_SLOT and draw(st.booleans()):
            values[slot] = draw(st.integers(0, 3))
    for dentry in world.dentries.values():
        values[dentry.slot] = draw(st.none() | st.integers(0, inodes - 1))
        if dentry.parent.dead is not None:
            values[dentry.parent.dead] = draw(st.booleans())
    for inode in world.inodes:
        if inode.is_dir and inode.d_parent is not None:
            values[inode.d_parent] = draw(st.none() | st.integers(0, inodes - 1))
        if not inode.is_dir:
            values[inode.nlink] = draw(st.integers(0, 2))
            values[inode.i_rwsem.slot] = draw(st.sampled_from([None, values[inode.i_rwsem.slot]]))
    for pc, ret in creators:
        values[pc] = draw(st.sampled_from([DONE, 0, 1]))
        values[ret] = draw(st.sampled_from([None, 0, -17]))
    return tuple(values)


def test_the_scenario_has_what_the_check_reads(shipped: Registry) -> None:
    world = _world(shipped)
    slots, _creators = namespace_slots(world)
    assert ERROR_SLOT in slots
    assert all(d.slot in slots for d in world.dentries.values())
    assert any(not inode.is_dir for inode in world.inodes)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_remembered_answers_are_the_full_checks(shipped: Registry, data: st.DataObject) -> None:
    model = _model(shipped)
    full = namespace_check(model.world)
    remembered = _remembered(model)
    states = data.draw(st.lists(_states(model.world), min_size=1, max_size=12))
    states += [data.draw(st.sampled_from(states)) for _ in range(4)]
    answers = [full(state) for state in states]
    assert [remembered(state) for state in states] == answers
    assert [remembered(state) for state in reversed(states)] == answers[::-1]


def test_some_random_state_breaks_the_namespace(shipped: Registry) -> None:
    """The states drawn above reach violations too (the comparison is not
    only of healthy states)."""
    model = _model(shipped)
    world = model.world
    full = namespace_check(world)
    broken = list(world.initial_state())
    named = next(i for i in world.inodes if not i.is_dir and broken[i.nlink] > 0)
    broken[named.nlink] += 1
    remembered = _remembered(model)
    assert remembered(world.initial_state()) is None
    assert full(tuple(broken)) is not None
    assert remembered(tuple(broken)) == full(tuple(broken))
