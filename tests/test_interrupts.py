"""Interrupt context (``mc.dsl.interrupts``): a handler lands on an idle
CPU or on a thread holding a spinlock with interrupts on, which waits for
it; spin_lock_irq keeps it away."""

from __future__ import annotations

from typing import Any

import pytest

from mc.check import lockorder
from mc.check.checker import check_scenario
from mc.check.registry import base
from mc.dsl.interrupts import IDLE_CPU, InterruptStep, interrupts_of
from mc.dsl.kernel_model import KernelModel
from mc.dsl.operation import Op, operation
from mc.dsl.scenario import Registry, Scenario
from mc.dsl.steps import EffectStep, LockStep, UnlockStep
from mc.dsl.wait_steps import SectionStep
from mc.engine.explore import Options, Search
from mc.engine.result import Verdict
from mc.kernel.locks import Kind, Lock
from mc.kernel.world import ModelError, Scratch
from mc.trace import text

TREE = ("/a",)
IN_HANDLER_AND_THREAD = "dev_lock"


def _dev_lock(op: Op, irqs_off: bool = False) -> Lock:
    for lock in op.world.locks:
        if lock.name == IN_HANDLER_AND_THREAD:
            return lock
    return op.world.add_lock(IN_HANDLER_AND_THREAD, Kind.SPINLOCK, irqs_off=irqs_off)


def _work(scratch: Scratch) -> None:
    return None


@operation(models="an interrupt handler taking dev_lock once")
def handler(op: Op) -> None:
    op.interrupt()
    op.section(_dev_lock(op), "handler: spin_lock(&dev_lock); ...; spin_unlock()", _work)
    op.interrupt_return()


@operation(models="a thread holding dev_lock over a step", describe=lambda irq: f"holder({irq})")
def holder(op: Op, irq: bool | None) -> None:
    lock = _dev_lock(op)
    op.lock(lock, irq=irq)
    op.effect("work under dev_lock", _work)
    op.unlock(lock, irq=irq)


@operation(models="a thread holding a declared irqs_off lock", describe=lambda: "declared()")
def declared(op: Op) -> None:
    lock = _dev_lock(op, irqs_off=True)
    op.lock(lock)
    op.effect("work under dev_lock", _work)
    op.unlock(lock)


@operation(models="a thread in a dev_lock section", describe=lambda irq: f"section({irq})")
def section(op: Op, irq: bool | None) -> None:
    op.section(_dev_lock(op), "spin_lock(&dev_lock); work; spin_unlock()", _work, irq=irq)


@operation(models="a handler that sleeps", describe=lambda: "sleeper()")
def sleeper(op: Op) -> None:
    op.interrupt()
    op.lock(op.world.superblock.s_vfs_rename_sem)
    op.unlock(op.world.superblock.s_vfs_rename_sem)
    op.interrupt_return()


@operation(
    models="spin_lock_irq(&B); if (spin_trylock(&dev_lock)) spin_unlock(&dev_lock); "
    "spin_unlock_irq(&B)",
    describe=lambda irq: f"nested({irq})",
)
def nested(op: Op, irq: bool | None) -> None:
    outer = op.world.shared_lock("B", Kind.SPINLOCK)
    inner = _dev_lock(op, irqs_off=True)
    op.lock(outer, irq=True)
    op.trylock(inner, "skip", "if (spin_trylock(&dev_lock))", irq=irq)
    op.unlock(inner, irq=irq)
    op.label("skip")
    op.unlock(outer, irq=True)


def _registry(*threads: Any) -> Registry:
    registry = base()
    registry.add_scenario(Scenario("test/irq", "test", TREE, tuple(threads)))
    return registry


def _states(registry: Registry) -> tuple[KernelModel, list[Any]]:
    model = registry.build(registry.scenario("test/irq"))
    assert isinstance(model, KernelModel)
    search = Search(model, Options(reduce=False))
    result = search.run()
    assert result.verdict is not Verdict.INCOMPLETE
    return model, list(search.states)


def _landings(model: KernelModel, states: list[Any]) -> set[Any]:
    part = interrupts_of(model.world)
    assert part is not None
    (slot,) = part.landing.values()
    return {state[slot] for state in states}


def test_spin_lock_irq_keeps_the_interrupt_away_and_passes() -> None:
    outcome = check_scenario(_registry(holder(True), handler()), "test/irq")
    assert outcome.result.verdict is Verdict.OK
    model, states = _states(_registry(holder(True), handler()))
    assert _landings(model, states) == {None, IDLE_CPU}


@pytest.mark.parametrize("irq", [None, True, False])
def test_a_trylock_counts_as_a_lock_held_with_interrupts_off(irq: bool | None) -> None:
    """A trylock under ``spin_lock_irq(&B)`` and its release leave the
    interrupts off until B's release, however the inner lock's ``irq=`` is
    given (declared ``irqs_off``, or said): a handler never lands on the
    thread."""
    model, states = _states(_registry(nested(irq), handler()))
    assert _landings(model, states) == {None, IDLE_CPU}
    assert check_scenario(_registry(nested(irq), handler()), "test/irq").result.verdict is (
        Verdict.OK
    )


@operation(models="spin_lock(&dev_lock) with its release as spin_unlock_irq()")
def unpaired(op: Op) -> None:
    lock = _dev_lock(op)
    op.lock(lock, irq=False)
    op.unlock(lock, irq=True)


def test_a_release_unlike_every_acquisition_of_its_lock_is_refused() -> None:
    registry = _registry(unpaired(), handler())
    with pytest.raises(ModelError, match=r"T1 releases dev_lock at .* interrupts off, and takes"):
        registry.build(registry.scenario("test/irq"))


def test_a_lock_declared_irqs_off_disables_interrupts_without_a_word() -> None:
    outcome = check_scenario(_registry(declared(), handler()), "test/irq")
    assert outcome.result.verdict is Verdict.OK
    model, states = _states(_registry(declared(), handler()))
    assert _landings(model, states) == {None, IDLE_CPU}


def test_plain_spin_lock_deadlocks_with_the_interrupt_on_its_cpu() -> None:
    outcome = check_scenario(_registry(holder(False), handler()), "test/irq")
    violation = outcome.result.violation
    assert violation is not None and violation.property == "deadlock"
    assert violation.message == (
        "T1 waits for its CPU (interrupted) held by T2; T2 waits for dev_lock held by T1"
    )
    found = outcome.counterexample
    assert found is not None
    assert {(e.waiter, e.resource, e.holder) for e in found.cycle} == {
        ("T1", "its CPU (interrupted)", "T2"),
        ("T2", "dev_lock", "T1"),
    }
    rendered = text.render(found)
    assert "the interrupt lands on T1's CPU (T1 has interrupts on)" in rendered
    assert "is interrupted: waits for T2's handler to return on its CPU" in rendered


def test_the_interrupt_lands_only_where_a_spinlock_is_held_with_interrupts_on() -> None:
    model, states = _states(_registry(holder(False), handler()))
    assert _landings(model, states) == {None, IDLE_CPU, 0}
    lock_slot = next(lock.slot for lock in model.world.locks if lock.name == IN_HANDLER_AND_THREAD)
    part = interrupts_of(model.world)
    assert part is not None
    (landing,) = part.landing.values()
    assert all(state[lock_slot] == 0 for state in states if state[landing] == 0)


def test_an_interrupted_thread_makes_no_progress() -> None:
    model, states = _states(_registry(holder(False), handler()))
    part = interrupts_of(model.world)
    assert part is not None
    (landing,) = part.landing.values()
    frozen = [state for state in states if state[landing] == 0]
    assert frozen
    for state in frozen:
        assert all(action[0] != 0 for action, _after in model.successors(state))


def test_a_section_with_interrupts_on_is_split_where_a_handler_takes_its_lock() -> None:
    registry = _registry(section(False), handler())
    model = registry.build(registry.scenario("test/irq"))
    assert isinstance(model, KernelModel)
    kinds = [type(step.step) for step in model.threads[0].steps]
    assert kinds == [LockStep, EffectStep, UnlockStep]
    outcome = check_scenario(registry, "test/irq")
    assert outcome.result.violation is not None
    assert outcome.result.violation.property == "deadlock"


def test_a_section_with_interrupts_off_stays_one_step() -> None:
    registry = _registry(section(True), handler())
    model = registry.build(registry.scenario("test/irq"))
    assert isinstance(model, KernelModel)
    assert [type(step.step) for step in model.threads[0].steps] == [SectionStep]
    assert check_scenario(registry, "test/irq").result.verdict is Verdict.OK


def test_without_a_handler_interrupts_are_not_tracked() -> None:
    registry = _registry(holder(False), holder(False))
    model = registry.build(registry.scenario("test/irq"))
    assert interrupts_of(model.world) is None
    assert all(not slot.name.endswith(".irqs_off") for slot in model.world.slots)


def test_sleeping_in_a_handler_is_a_protocol_error() -> None:
    outcome = check_scenario(_registry(sleeper()), "test/irq")
    violation = outcome.result.violation
    assert violation is not None and violation.property == "lock-protocol"
    assert violation.message == "T1 may sleep (taking s_vfs_rename_sem) in interrupt context"


def test_the_completion_interrupt_lands_on_the_thread_holding_xa_lock(shipped: Registry) -> None:
    correct = check_scenario(shipped, "writeback/completion-irq")
    assert correct.result.verdict is Verdict.OK
    outcome = check_scenario(shipped, "writeback/completion-irq", ["start-writeback-irqs-on"])
    violation = outcome.result.violation
    assert violation is not None and violation.property == "deadlock"
    found = outcome.counterexample
    assert found is not None
    assert {(e.waiter, e.resource, e.holder) for e in found.cycle} == {
        ("T1", "its CPU (interrupted)", "T2"),
        ("T2", "xa_lock(/f)", "T1"),
    }
    landing = [step for step in found.steps if "the interrupt lands on" in step.event.text]
    assert [(step.thread, step.event.text.split(":")[0]) for step in landing] == [
        ("T2", "the interrupt lands on T1's CPU (T1 has interrupts on)")
    ]
    taken = [step for step in found.steps if step.event.kind == "acquire" and step.thread == "T1"]
    assert taken[-1].label == "spin_lock(xa_lock(/f)) /* interrupts stay on */"


def _planted(*scenarios: tuple[str, tuple[Any, ...]]) -> Registry:
    registry = base()
    for name, threads in scenarios:
        registry.add_scenario(Scenario(name, "test", TREE, threads))
    return registry


def test_lockorder_reports_a_class_taken_in_irq_and_with_irqs_on_across_scenarios() -> None:
    registry = _planted(
        ("planted/handler", (handler(),)),
        ("planted/irqs-on", (holder(False),)),
        ("planted/irqs-off", (holder(True),)),
    )
    documented = lockorder.load_documented()
    safe = lockorder.merge(
        lockorder.explore(registry, ["planted/handler", "planted/irqs-off"]), documented
    )
    assert safe.irq_unsafe == () and safe.clean
    assert ("dev_lock", lockorder.IN_IRQ) in safe.usage
    report = lockorder.merge(
        lockorder.explore(registry, ["planted/handler", "planted/irqs-on"]), documented
    )
    assert report.irq_unsafe == ("dev_lock",) and not report.clean
    shown = "\n".join(lockorder.render(report))
    assert "dev_lock taken in interrupt context: planted/handler, T1" in shown
    assert "dev_lock taken with interrupts on: planted/irqs-on, T1" in shown
    assert lockorder.to_json(report)["irq_unsafe"][0]["class"] == "dev_lock"


@pytest.mark.parametrize(
    "variants",
    [(), ("mark-dirty-irqs-on",), ("start-writeback-irqs-on",)],
)
def test_the_reduction_keeps_the_verdicts_of_an_interrupt_scenario(
    shipped: Registry, variants: tuple[str, ...]
) -> None:
    name = "writeback/write-during-completion"
    reduced = check_scenario(shipped, name, variants, options=Options(audit_reads=True))
    full = check_scenario(shipped, name, variants, options=Options(reduce=False))
    assert reduced.result.verdict is full.result.verdict
    found = [o.result.violation.property for o in (reduced, full) if o.result.violation]
    assert found == ([] if not variants else ["deadlock", "deadlock"])


def test_a_handler_with_no_thread_to_land_on_enters_with_the_step_before_it() -> None:
    registry = _registry(section(True), handler())
    model, states = _states(registry)
    part = interrupts_of(model.world)
    assert part is not None and part.landable == frozenset() and part.idle_only()
    handler_steps = model.threads[1].steps
    entering = [at for at, step in enumerate(handler_steps) if isinstance(step.step, InterruptStep)]
    assert [model._local[1][at] for at in entering] == [True]
    assert _landings(model, states) <= {None, IDLE_CPU}
    assert check_scenario(registry, "test/irq").result.verdict is Verdict.OK


@pytest.mark.parametrize("irq", [True, False])
def test_a_thread_that_takes_a_spinlock_over_steps_may_be_landed_on(irq: bool) -> None:
    registry = _registry(holder(irq), handler())
    model = registry.build(registry.scenario("test/irq"))
    assert isinstance(model, KernelModel)
    part = interrupts_of(model.world)
    assert part is not None and part.landable == frozenset({0}) and not part.idle_only()
    assert not any(
        model._local[1][at]
        for at, step in enumerate(model.threads[1].steps)
        if isinstance(step.step, InterruptStep)
    )
