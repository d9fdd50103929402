"""Which steps of a counterexample its variants changed, for the chart and
the report: the steps a variant added or changed (by step number) and the
steps it removed.  A step is marked where the counterexample runs the very
step a variant changed (its thread and program counter, found by replaying
the steps on the scenario under the variants), not another run of the same
model line: a helper both the changed and an unchanged path call."""

from __future__ import annotations

from mc.check import inventory
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry
from mc.kernel.world import DONE
from mc.trace.format import Counterexample
from mc.trace.graph import VariantMarks


def variant_marks(registry: Registry, counterexample: Counterexample) -> VariantMarks:
    """The marks of ``counterexample``'s variants; none when it has none."""
    if not counterexample.variants:
        return VariantMarks()
    scenario = registry.scenario(counterexample.scenario)
    correct = inventory.built(registry, scenario)
    notes: dict[tuple[str, str, str], str] = {}
    by_key: dict[tuple[str, tuple[object, ...]], str] = {}
    removed: list[str] = []
    for name in counterexample.variants:
        for change in inventory.variant_changes(registry, scenario, name, correct):
            step = change.step
            if change.kind == "removed":
                text = f"{change.thread} {step.label} ({step.source})"
                if text not in removed:
                    removed.append(text)
                continue
            note = f"{change.kind} by {name}"
            notes.setdefault((change.thread, str(step.source), step.label), note)
            by_key.setdefault((change.thread, inventory.step_key(step)), note)
    changed_model = inventory.built(registry, scenario, counterexample.variants)
    at: dict[tuple[str, int], str] = {}
    for change in inventory.program_changes(correct, changed_model):
        if change.kind == "removed":
            continue
        thread = next(t for t in changed_model.threads if t.name == change.thread)
        pc = next(pc for pc, step in enumerate(thread.program.steps) if step is change.step)
        key = (change.thread, inventory.step_key(change.step))
        at[(change.thread, pc)] = by_key.get(key, f"{change.kind} by the variants")
    positions = _positions(changed_model, counterexample)
    if positions is None:
        changed = {
            number: notes[(step.thread, step.source, step.label)]
            for number, step in enumerate(counterexample.steps, start=1)
            if (step.thread, step.source, step.label) in notes
        }
    else:
        changed = {
            number: at[position]
            for number, position in enumerate(positions, start=1)
            if position in at
        }
    return VariantMarks(changed, tuple(removed))


def _positions(model: KernelModel, counterexample: Counterexample) -> list[tuple[str, int]] | None:
    """The thread and program counter of each step of ``counterexample``
    on ``model``, or None when its steps do not run there as recorded."""
    names = {thread.name: tid for tid, thread in enumerate(model.threads)}
    state = model.initial
    found: list[tuple[str, int]] = []
    steps = counterexample.steps
    number = 0
    while number < len(steps):
        head = steps[number]
        tid = names.get(head.thread)
        if tid is None:
            return None
        pc_slot = model.threads[tid].slots.pc
        current = model.current_step(state, tid)
        outcomes = () if current is None else current.fire(state)
        if current is None or current.step.label != head.label or head.branch >= len(outcomes):
            return None
        found.append((head.thread, state[pc_slot]))
        number += 1
        inside = outcomes[head.branch]
        while number < len(steps) and steps[number].chained:
            pc = inside[pc_slot]
            if pc == DONE:
                return None
            found.append((head.thread, pc))
            inside = model.threads[tid].steps[pc].fire(inside)[0]
            number += 1
        after = model.step(state, (tid, head.branch))
        if after is None:
            return None
        state = after
    return found
