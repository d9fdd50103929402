"""Which steps of a counterexample its variants changed, for the chart and
the report: the steps a variant added or changed (by step number) and the
steps it removed.  A step is marked where the counterexample runs the very
step a variant changed (its thread and program counter, found by replaying
the steps on the scenario under the variants), not another run of the same
model line: a helper both the changed and an unchanged path call."""

from __future__ import annotations

from mc.check import checkable, inventory
from mc.check.replay import ReplayReport, ThreadsDiffer, replay
from mc.dsl.kernel_model import KernelModel
from mc.dsl.program import forced_label
from mc.dsl.scenario import Registry
from mc.trace.format import Counterexample
from mc.trace.graph import VariantMarks


def variant_marks(registry: Registry, counterexample: Counterexample) -> VariantMarks:
    """The marks of ``counterexample``'s variants (none when it has none),
    and the slots its violated property reads (``VariantMarks.evidence``).
    Each variant's changes are those it makes to the scenario under the
    variants given before it (a transform may move a step another adds),
    and a step's mark is that of the last variant that changed it; a
    variant that builds only with one given after it (an insertion before
    the flag variant whose step it needs) has its changes marked with
    that one's.  A variant none of whose added, changed or moved steps
    the trace runs (nor waits at) has them named in
    ``VariantMarks.unreached``, as nothing is yellow for it.  The step that
    runs where a removed step ran is marked too
    (``VariantMarks.after_removed``), so a variant that only removes
    steps (a lost unlock) shows where."""
    scenario = registry.scenario(counterexample.scenario)
    with checkable.building_within(None, f"building the model of {scenario.name}"):
        changed_model = registry.build(scenario, counterexample.variants, counterexample.properties)
    evidence = _evidence(changed_model, counterexample.property)
    if not counterexample.variants:
        return VariantMarks(evidence=evidence)
    correct = checkable.built(registry, scenario)
    notes: dict[tuple[str, str, str], str] = {}
    by_key: dict[tuple[str, tuple[object, ...]], str] = {}
    said: dict[tuple[str, str, str], tuple[str, str]] = {}
    said_by_key: dict[tuple[str, tuple[object, ...]], tuple[str, str]] = {}
    removed: list[str] = []
    removed_by: dict[tuple[str, tuple[object, ...]], str] = {}
    before = correct
    for count, name in enumerate(counterexample.variants, start=1):
        try:
            after = checkable.built(registry, scenario, counterexample.variants[:count])
        except Exception:  # builds only with a variant given after it: the next one says
            continue
        changes, before = inventory.program_changes(before, after), after
        kept = [change for change in changes if change.kind != "removed"]
        at_lines = {(change.thread, str(change.step.source)) for change in kept}
        labels = {(change.thread, change.step.label) for change in kept}
        for change in changes:
            step = change.step
            if change.kind == "removed":
                text = f"{change.thread} {step.label} ({step.source})"
                forced = {
                    (change.thread, forced_label(step.label, holds)) for holds in (True, False)
                }
                in_place = (
                    (change.thread, str(step.source)) in at_lines
                    or (change.thread, step.label) in labels
                    or forced & labels
                )
                if not in_place and text not in removed:
                    removed.append(text)
                    removed_by[(change.thread, inventory.step_key(step))] = name
                continue
            note = f"{change.kind} by {name}"
            notes[(change.thread, str(step.source), step.label)] = note
            by_key[(change.thread, inventory.step_key(step))] = note
            what = (name, _said(change, name))
            said[(change.thread, str(step.source), step.label)] = what
            said_by_key[(change.thread, inventory.step_key(step))] = what
    at: dict[tuple[str, int], str] = {}
    said_at: dict[tuple[str, int], tuple[str, str]] = {}
    gaps: dict[tuple[str, int], list[tuple[str, str]]] = {}
    gap_notes: dict[tuple[str, str, str], str] = {}
    for change in inventory.program_changes(correct, changed_model):
        thread = next(t for t in changed_model.threads if t.name == change.thread)
        if change.kind == "removed":
            remover = removed_by.get((change.thread, inventory.step_key(change.step)))
            if remover is not None and change.before is not None:
                pc = next(pc for pc, s in enumerate(thread.program.steps) if s is change.before)
                gaps.setdefault((change.thread, pc), []).append((remover, change.step.label))
                place = (change.thread, str(change.before.source), change.before.label)
                gap_notes[place] = _gap_note(gaps[(change.thread, pc)])
            continue
        pc = next(pc for pc, step in enumerate(thread.program.steps) if step is change.step)
        key = (change.thread, inventory.step_key(change.step))
        at[(change.thread, pc)] = by_key.get(key, f"{change.kind} by the variants")
        if key in said_by_key:
            said_at[(change.thread, pc)] = said_by_key[key]
    report = _replayed(changed_model, counterexample)
    if report is None:
        changed = {
            number: notes[(step.thread, step.source, step.label)]
            for number, step in enumerate(counterexample.steps, start=1)
            if (step.thread, step.source, step.label) in notes
        }
        after_removed = {
            number: gap_notes[(step.thread, step.source, step.label)]
            for number, step in enumerate(counterexample.steps, start=1)
            if (step.thread, step.source, step.label) in gap_notes
        }
        blocked = {
            step.thread: notes[(step.thread, step.source, step.label)]
            for step in counterexample.blocked
            if (step.thread, step.source, step.label) in notes
        }
        ran = {
            (step.thread, step.label) for step in (*counterexample.steps, *counterexample.blocked)
        }
        met = [what for key, what in said.items() if (key[0], key[2]) in ran]
        unmet = [what for key, what in said.items() if (key[0], key[2]) not in ran]
    else:
        started = changed_model.started_positions()
        numbered = [
            *((-1 - start, position) for start, position in enumerate(started)),
            *enumerate(report.positions, start=1),
        ]
        changed = {number: at[position] for number, position in numbered if position in at}
        after_removed = {
            number: _gap_note(gaps[position]) for number, position in numbered if position in gaps
        }
        waiting = _waiting_at(changed_model, counterexample, report.final_state)
        blocked = {thread: at[(thread, pc)] for thread, pc in waiting if (thread, pc) in at}
        reached = {*started, *report.positions, *waiting}
        met = [what for position, what in said_at.items() if position in reached]
        unmet = [what for position, what in said_at.items() if position not in reached]
    marked = {name for name, _text in met}
    unreached = tuple(dict.fromkeys(text for name, text in unmet if name not in marked))
    return VariantMarks(changed, tuple(removed), blocked, evidence, unreached, after_removed)


def _gap_note(removed: list[tuple[str, str]]) -> str:
    """What the variants removed right before a step, from (variant,
    label) pairs in program order: ``V removed 'LABEL' before it``, or
    ``V removed 'LABEL' and 2 more steps before it``."""
    by_variant: dict[str, list[str]] = {}
    for variant, label in removed:
        by_variant.setdefault(variant, []).append(label)
    return "; ".join(
        f"{variant} removed '{labels[0]}'"
        + (f" and {len(labels) - 1} more steps" if len(labels) > 1 else "")
        + " before it"
        for variant, labels in by_variant.items()
    )


VERBS = {"added": "adds", "changed": "changes", "moved": "moves"}
ANCHOR_SHOWN = 40
"""The most characters of the label of the step a step was added or
moved before that ``_said`` gives."""


def _said(change: inventory.Change, variant: str) -> str:
    """What ``variant`` did to a step, in one line: ``variant V moves T1
    'spin_unlock(&inode->i_lock)' (models/quota.py:886) before
    'ext4_journal_stop(handle)'``."""
    step = change.step
    text = f"variant {variant} {VERBS[change.kind]} {change.thread} '{step.label}' ({step.source})"
    if change.kind != "changed" and change.before is not None:
        anchor = change.before.label
        if len(anchor) > ANCHOR_SHOWN:
            anchor = anchor[: ANCHOR_SHOWN - 3] + "..."
        text += f" before '{anchor}'"
    return text


def _evidence(model: KernelModel, prop: str) -> frozenset[str]:
    """The slots of ``model`` that its property ``prop`` says it reads
    (none for a property that does not say)."""
    reads = next((p.reads for p in model.properties() if p.name == prop), None)
    if not reads:
        return frozenset()
    slots = model.world.slots
    return frozenset(
        slots[i].name for i in range(min(reads.bit_length(), len(slots))) if reads >> i & 1
    )


def _replayed(model: KernelModel, counterexample: Counterexample) -> ReplayReport | None:
    """``counterexample`` replayed on ``model``, or None when not every
    step replays there (``ReplayReport.positions`` then has the thread and
    program counter of each step)."""
    try:
        report = replay(model, counterexample)
    except ThreadsDiffer:
        return None
    return report if report.replayed == len(counterexample.steps) else None


def _waiting_at(
    model: KernelModel, counterexample: Counterexample, state: tuple[object, ...]
) -> list[tuple[str, int]]:
    """The thread and program counter of each step a thread of
    ``counterexample`` waits at in its last state."""
    found = []
    names = [thread.name for thread in model.threads]
    for step in counterexample.blocked:
        tid = names.index(step.thread)
        current = model.current_step(state, tid)
        if current is not None:
            steps = model.threads[tid].program.steps
            found.append((step.thread, next(pc for pc, s in enumerate(steps) if s is current.step)))
    return found
