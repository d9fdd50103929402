"""The model-writing surface of mc.dsl: jumps, composition with scoped
labels and registers, and values passed between threads at build time."""

from __future__ import annotations

import pytest

from mc.check.registry import base
from mc.dsl import EXCL, E, ModelError, Op, Scenario, const, is_error, operation
from mc.dsl.scenario import Registry
from mc.dsl.steps import JumpStep
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.models.dirops import create

TREE = ("/a/", "/b/")


def _registry(*threads: object) -> Registry:
    registry = base()
    registry.add_scenario(Scenario("api/s", "test", TREE, tuple(threads)))  # type: ignore[arg-type]
    return registry


def _model(*threads: object, properties: tuple[str, ...] = ("lock-protocol", "deadlock")):  # type: ignore[no-untyped-def]
    registry = _registry(*threads)
    return registry.build(registry.scenario("api/s"), properties=properties)


@operation(models="a helper with a label of its own")
def fails_once(op: Op) -> None:
    a = op.inode("/a")
    op.lock(a.i_rwsem, EXCL, "inode_lock(a)")
    op.fail_if(const(True), E.ENOENT, "unlock", "if (!found) return -ENOENT")
    op.label("unlock")
    op.unlock(a.i_rwsem, "inode_unlock(a)")


@operation(models="the helper run twice in one thread")
def twice(op: Op) -> None:
    op.run(fails_once)
    op.goto_if(is_error(op.ret), "out")
    op.run(fails_once)
    op.label("out")


@operation(models="two creates in one thread")
def two_creates(op: Op) -> None:
    op.run(create, "/a/x")
    op.run(create, "/b/x")


def test_a_body_run_twice_has_labels_of_its_own() -> None:
    model = _model(twice())
    labels = [step.label for step in model.threads[0].program.steps]
    assert labels.count("inode_lock(a)") == 2
    result = check(model)
    assert result.verdict is Verdict.OK


def test_goto_if_jumps_when_its_condition_holds() -> None:
    model = _model(twice())
    jump = next(s for s in model.threads[0].program.steps if isinstance(s, JumpStep))
    assert jump.label == "if (IS_ERR_VALUE(error)) goto out"
    state = model.initial
    taken = []
    thread = model.threads[0]
    while not model.finished(state):
        taken.append(thread.steps[state[thread.slots.pc]].step.label)
        [(_action, state)] = model.successors(state)
    locks = [label for label in taken if label == "inode_lock(a)"]
    assert locks == ["inode_lock(a)"], "the second run is skipped after the first failed"


def test_a_shipped_body_runs_twice_with_registers_of_its_own() -> None:
    model = _model(two_creates(), properties=("lock-protocol", "deadlock", "namespace"))
    registers = [slot.name for slot in model.world.slots if slot.name.startswith("T1.create#")]
    assert any(name.startswith("T1.create#1/") for name in registers)
    assert any(name.startswith("T1.create#2/") for name in registers)
    assert check(model).verdict is Verdict.OK


@operation(models="publishes its directory")
def publisher(op: Op) -> None:
    op.publish("dir", op.inode("/a"))


@operation(models="locks what an earlier thread published")
def consumer(op: Op) -> None:
    directory = op.published("dir")
    op.lock(directory.i_rwsem, EXCL, "inode_lock(dir)")
    op.unlock(directory.i_rwsem, "inode_unlock(dir)")


def test_values_pass_between_threads_in_build_order() -> None:
    model = _model(publisher(), consumer())
    assert check(model).verdict is Verdict.OK
    with pytest.raises(ModelError, match="nothing is published as 'dir' before T1"):
        _model(consumer(), publisher())
