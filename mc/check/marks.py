"""Which steps of a counterexample its variants changed, for the chart and
the report: the steps a variant added or changed (by step number) and the
steps it removed."""

from __future__ import annotations

from mc.check import inventory
from mc.dsl.scenario import Registry
from mc.trace.format import Counterexample
from mc.trace.graph import VariantMarks


def variant_marks(registry: Registry, counterexample: Counterexample) -> VariantMarks:
    """The marks of ``counterexample``'s variants; none when it has none."""
    if not counterexample.variants:
        return VariantMarks()
    scenario = registry.scenario(counterexample.scenario)
    correct = inventory.built(registry, scenario)
    notes: dict[tuple[str, str, str], str] = {}
    removed: list[str] = []
    for name in counterexample.variants:
        for change in inventory.variant_changes(registry, scenario, name, correct):
            step = change.step
            if change.kind == "removed":
                text = f"{change.thread} {step.label} ({step.source})"
                if text not in removed:
                    removed.append(text)
            else:
                key = (change.thread, str(step.source), step.label)
                notes.setdefault(key, f"{change.kind} by {name}")
    changed = {
        number: notes[(step.thread, step.source, step.label)]
        for number, step in enumerate(counterexample.steps, start=1)
        if (step.thread, step.source, step.label) in notes
    }
    return VariantMarks(changed, tuple(removed))
