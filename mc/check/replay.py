"""Re-executing a saved counterexample against today's models."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import attrs

from mc.dsl.kernel_model import KernelModel
from mc.dsl.program import CompiledStep, forced_label
from mc.engine.endings import can_end_from, cannot_end
from mc.engine.model import PropertyKind
from mc.kernel.expr import State
from mc.text import clipped, counted
from mc.trace.events import Edge, Step
from mc.trace.format import Counterexample, as_saved


@attrs.frozen
class ReplayReport:
    """How far a counterexample replays and whether it still violates its
    property.  ``stopped_at`` is the 1-based number of the first step that
    can no longer happen (0: one the threads run as they start, ``started``),
    with ``reason`` saying why."""

    reproduced: bool
    replayed: int
    stopped_at: int | None
    reason: str
    final_state: State
    moved: tuple[int, ...] = ()
    """The steps replayed whose model line has moved since the file was
    saved (the step is the same; the line it cites is not today's)."""
    positions: tuple[tuple[str, int], ...] = ()
    """The thread and program counter of each step replayed."""


def _groups(steps: Sequence[Step]) -> list[list[tuple[int, Step]]]:
    groups: list[list[tuple[int, Step]]] = []
    for number, step in enumerate(steps, start=1):
        if step.chained:
            groups[-1].append((number, step))
        else:
            groups.append([(number, step)])
    return groups


class ThreadsDiffer(ValueError):
    """A counterexample that does not fit the scenario it names (edited,
    or of a scenario that has changed since): its threads are not the
    scenario's, or its witness gives values to symbols the scenario does
    not have, or none to one it has, or one outside a symbol's range."""


def threads_differ(model: KernelModel, counterexample: Counterexample) -> str | None:
    """How the threads ``counterexample`` records differ from ``model``'s,
    or None when they are the same (names and operations, in order)."""
    ours = [(thread.name, str(thread.invocation)) for thread in model.threads]
    theirs = list(counterexample.threads)
    for (name, operation), (recorded, as_recorded) in zip(ours, theirs, strict=False):
        if (name, operation) != (recorded, as_recorded):
            return (
                f"its thread {recorded} runs {as_recorded}, but {counterexample.scenario}'s "
                f"{name} runs {operation}"
            )
    if len(ours) != len(theirs):
        return (
            f"it records {counted(len(theirs), 'thread')}, but {counterexample.scenario} "
            f"has {len(ours)}"
        )
    return None


def replay(
    model: KernelModel, counterexample: Counterexample, *, regroup: bool = False
) -> ReplayReport:
    """Replay ``counterexample`` on ``model`` step by step; ``ThreadsDiffer``
    when it does not record the threads of ``model``, or its witness is
    none of ``model``'s.  ``regroup``: ``model`` is another protocol than
    the one the trace was found on (``replay_regrouped``)."""
    differ = threads_differ(model, counterexample) or model.witness_problem(counterexample.witness)
    if differ is not None:
        raise ThreadsDiffer(differ)
    if regroup:
        return replay_regrouped(model, counterexample)
    started = _started_differ(model, counterexample)
    if started is not None:
        return ReplayReport(False, 0, 0, started, model.initial)
    names = {thread.name: tid for tid, thread in enumerate(model.threads)}
    state = model.initial
    replayed = 0
    after_steps = {state: 0}

    moved: list[int] = []
    positions: list[tuple[str, int]] = []

    def report(reproduced: bool, number: int | None, reason: str) -> ReplayReport:
        return ReplayReport(
            reproduced, replayed, number, reason, state, tuple(moved), tuple(positions)
        )

    def stop(number: int, reason: str) -> ReplayReport:
        return report(False, number, reason)

    for group in _groups(counterexample.steps):
        number, head = group[0]
        tid = names.get(head.thread)
        if tid is None:
            return stop(number, f"the scenario has no thread {head.thread}")
        current = model.current_step(state, tid)
        elsewhere = _elsewhere(current, head)
        if elsewhere is not None:
            return stop(number, elsewhere)
        assert current is not None
        after = model.step(state, (tid, head.branch))
        if after is None:
            return stop(number, _cannot_run(current, state, head))
        again = model.step(state, (tid, head.branch))
        if again != after:
            differs = "" if again is None else f": {first_difference(model, after, again)}"
            return stop(
                number,
                f"the model is not deterministic: '{clipped(head.label)}' run twice from one state "
                f"reaches two states{differs}",
            )
        records = model.records(state, (tid, head.branch))
        for (expected_number, expected), actual in zip(group, records, strict=False):
            if actual.label != expected.label:
                return stop(expected_number, _at_another_step(actual.label, expected))
            if not same_changes(actual, expected):
                return stop(
                    expected_number,
                    f"'{clipped(expected.label)}' now changes {_changes(actual.changed)}, "
                    f"not {_changes(expected.changed)}",
                )
            if not _same_place(actual.source, expected.source):
                moved.append(expected_number)
        if len(records) != len(group):
            last = replayed + len(group) == len(counterexample.steps)
            return stop(*_regrouped(model, after, tid, head.thread, group, records, last))
        positions.extend((head.thread, pc) for pc in model.positions(state, (tid, head.branch)))
        state = after
        replayed += len(group)
        after_steps.setdefault(state, replayed)
    reproduced, reason = _outcome(model, counterexample, state)
    if reproduced:
        unlike = recorded_unlike(model, counterexample, state) or _loop_unlike(
            model, counterexample, after_steps, state
        )
        if unlike is not None:
            raise ThreadsDiffer(unlike)
    return report(reproduced, None, reason)


def _loop_unlike(
    model: KernelModel, counterexample: Counterexample, after_steps: dict[State, int], last: State
) -> str | None:
    """What ``counterexample`` records of where its run goes round (its
    ``loop``) that its steps, replayed to ``last`` through ``after_steps``
    (the number of steps after which each state was first reached), do not
    give; None for a file that records no loop."""
    if counterexample.loop is None:
        return None
    kind = next(p.kind for p in model.properties() if p.name == counterexample.property)
    found = after_steps[last] if kind is PropertyKind.CAN_END else None
    if found is not None and found >= len(counterexample.steps):
        found = None
    if found == counterexample.loop:
        return None
    if found is None:
        where = "do not go round"
    elif found == 0:
        where = "go round back to the initial state"
    else:
        where = f"go round back to the state after step {found}"
    return (
        f"its steps {where}, but it records loop {counterexample.loop} "
        "(edited since saved, or worded by older models)"
    )


def recorded_unlike(model: KernelModel, counterexample: Counterexample, state: State) -> str | None:
    """What ``counterexample`` records of its violation that ``state``, where
    its steps replay to on the protocol it was found on, does not give: the
    violation's message (a livelock's may say more, how the trace ends)
    or a deadlock's cycle.  A file whose steps reproduce but whose words
    are another violation's was edited, and is not drawn or printed as it
    says."""
    found = as_saved(violation_in(model, counterexample.property, state) or "")
    kind = next(p.kind for p in model.properties() if p.name == counterexample.property)
    said = as_saved(counterexample.message)
    if said != found and not (kind is PropertyKind.CAN_END and said.startswith(f"{found} (")):
        return (
            f"its steps lead to {counterexample.property}: {clipped(found)}, but it records "
            f"another message: {clipped(said)} (edited since saved, or worded by older models)"
        )
    cycle = tuple(map(saved, violation_cycle(model, kind, state)))
    if cycle != tuple(saved(edge) for edge in counterexample.cycle):
        return (
            f"its steps lead to the cycle {_cycle_text(cycle)}, but it records "
            f"{_cycle_text(counterexample.cycle)} (edited since saved, or worded by older models)"
        )
    return None


def violation_cycle(model: KernelModel, kind: PropertyKind | None, state: State) -> list[Edge]:
    """The waits a violation of a property of ``kind`` records at its last
    ``state``: a deadlock's cycle, or what threads that can never end wait
    for; none for any other property."""
    if kind is PropertyKind.DEADLOCK_FREE:
        return model.deadlock_cycle(state)
    if kind is PropertyKind.CAN_END:
        return model.stuck_waits(state)
    return []


def saved(edge: Edge) -> Edge:
    """``edge`` as a counterexample file saves it (``as_saved``)."""
    return attrs.evolve(
        edge,
        waiter=as_saved(edge.waiter),
        resource=as_saved(edge.resource),
        holder=as_saved(edge.holder),
    )


def _cycle_text(cycle: Sequence[Edge]) -> str:
    if not cycle:
        return "none"
    return clipped(" -> ".join(f"{edge.waiter} -> {edge.resource}" for edge in cycle))


def _started_differ(model: KernelModel, counterexample: Counterexample) -> str | None:
    """How the steps the trace records its threads running as they start
    (``started``) differ from those ``model`` runs there, or None."""
    started = model.started_records()
    for thread in model.threads:
        recorded = [step.label for step in counterexample.started if step.thread == thread.name]
        ran = [step.label for step in started if step.thread == thread.name]
        if recorded == ran:
            continue
        at = next(
            (i for i, (then, now) in enumerate(zip(recorded, ran, strict=False)) if then != now),
            min(len(recorded), len(ran)),
        )
        today = f"'{ran[at]}'" if at < len(ran) else "nothing more"
        then = f"'{clipped(recorded[at])}'" if at < len(recorded) else "nothing more"
        return f"as the threads start, {thread.name} runs {today} where the trace records {then}"
    return None


def _elsewhere(current: CompiledStep | None, step: Step) -> str | None:
    """Why the trace's ``step`` is not the thread's ``current`` one (None
    when it is): the thread has returned, or is at another step."""
    if current is None:
        return f"{step.thread} has already returned"
    if current.step.label == step.label:
        return None
    return _at_another_step(current.step.label, step)


def _at_another_step(label: str, step: Step) -> str:
    """Why the thread at the step labelled ``label`` is not at the trace's
    ``step``: told apart from a test a variant forced (``Program.force``)."""
    for holds in (True, False):
        if forced_label(label, holds) == step.label:
            made = "hold always" if holds else "never hold"
            return (
                f"{step.thread} is at the test '{clipped(label)}', which the trace's variant made "
                f"{made} (program.force) and which this protocol evaluates"
            )
    return f"{step.thread} is at '{label}' instead of '{clipped(step.label)}'"


def _cannot_run(current: CompiledStep, state: State, step: Step) -> str:
    """Why the trace's ``step``, the thread's ``current`` one in ``state``,
    cannot run there: the outcome it records is not one it has, or it
    waits."""
    outcomes = len(current.fire(state))
    if 0 < outcomes <= step.branch:
        return (
            f"it records outcome {step.branch} of '{clipped(step.label)}', which has "
            f"{counted(outcomes, 'outcome')} here (0 to {outcomes - 1})"
        )
    wait = current.step.waiting(current.context, state)
    detail = f"waits for {wait.resource}" if wait is not None else "is blocked"
    return f"{step.thread} cannot run '{clipped(step.label)}': it {detail}"


def _outcome(model: KernelModel, counterexample: Counterexample, state: State) -> tuple[bool, str]:
    """Whether ``state``, where every step of ``counterexample`` replayed
    to, violates its property, and the violation or why not."""
    if model.addresses(state) != counterexample.addresses:
        replayed = "every step replays" if counterexample.steps else "the trace has no steps"
        found = model.addresses(state) or "none (no step compared the addresses)"
        return False, (
            f"{replayed} but the address order is {found}, not {counterexample.addresses or 'none'}"
        )
    message = violation_in(model, counterexample.property, state)
    if message is None:
        return False, (
            f"every step replays but the last state does not violate {counterexample.property}"
            + _going_on(model, counterexample.property, state)
        )
    if counterexample.witness or model.witness(state):
        wrong = model.check_witness(state, counterexample.witness)
        if wrong is not None:
            return False, f"every step replays but {wrong}"
        shown = ", ".join(f"{k}={v}" for k, v in counterexample.witness.items())
        message = f"{message} (witness {shown} satisfies the path condition)"
    return True, message


def _going_on(model: KernelModel, name: str, state: State) -> str:
    """For a deadlock the last state does not have: which threads can go
    on there, and at which step."""
    if not any(p.name == name and p.kind is PropertyKind.DEADLOCK_FREE for p in model.properties()):
        return ""
    movers = sorted({tid for (tid, _branch), _after in model.successors(state)})
    if not movers:
        return ""
    going = []
    for tid in movers:
        current = model.current_step(state, tid)
        assert current is not None
        going.append(f"{model.threads[tid].name} at '{clipped(current.step.label)}'")
    return f": {', '.join(going)} can go on"


def replay_regrouped(model: KernelModel, counterexample: Counterexample) -> ReplayReport:
    """Replay ``counterexample`` on ``model``, another protocol than the one
    it was found on, where steps may run together otherwise (a lock only
    one thread takes on the correct protocol runs with the step before
    it, as the thread starts or later).  Each step of the trace (its
    ``started`` ones first) is matched alone, in its thread: one ``model``
    already ran along with an earlier step of that thread is passed over,
    any other is run, and the steps ``model`` runs along with it are
    expected next in that thread.  Steps run together commute with every
    other thread's, so the state reached is the one the trace's order
    reaches.  A step that cannot happen stops the replay there (a
    ``started`` one as step 0)."""
    names = {thread.name: tid for tid, thread in enumerate(model.threads)}
    ahead: dict[int, deque[tuple[str, str]]] = {tid: deque() for tid in range(len(model.threads))}
    for record in model.started_records():
        ahead[names[record.thread]].append((record.label, f"as {record.thread} starts"))
    state = model.initial
    replayed = 0
    positions: list[tuple[str, int]] = []

    def stop(number: int, reason: str) -> ReplayReport:
        said = f"as the threads start, {reason}" if number == 0 else reason
        return ReplayReport(False, replayed, number, said, state, (), tuple(positions))

    numbered = [
        *((0, step, True) for step in counterexample.started),
        *((number, step, False) for number, step in enumerate(counterexample.steps, start=1)),
    ]
    for number, step, starting in numbered:
        tid = names.get(step.thread)
        if tid is None:
            return stop(number, f"the scenario has no thread {step.thread}")
        expected = ahead[tid]
        if expected:
            label, when = expected[0]
            if label != step.label:
                return stop(
                    number,
                    f"{_at_another_step(label, step)} (here it runs {when})",
                )
            expected.popleft()
            replayed += not starting
            continue
        current = model.current_step(state, tid)
        elsewhere = _elsewhere(current, step)
        if elsewhere is not None:
            return stop(number, elsewhere)
        assert current is not None
        action = (tid, step.branch)
        after = model.step(state, action)
        if after is None:
            return stop(number, _cannot_run(current, state, step))
        along = f"along with {step.thread}'s step before"
        expected.extend((record.label, along) for record in model.records(state, action)[1:])
        positions.extend((step.thread, pc) for pc in model.positions(state, action))
        state = after
        replayed += not starting
    reproduced, reason = _outcome(model, counterexample, state)
    return ReplayReport(reproduced, replayed, None, reason, state, (), tuple(positions))


def _regrouped(
    model: KernelModel,
    after: State,
    tid: int,
    thread: str,
    group: Sequence[tuple[int, Step]],
    records: Sequence[Step],
    last: bool,
) -> tuple[int, str]:
    """Where and how a step of the trace, run today with the thread-local
    steps that follow it (``records``), parts from the trace's (``group``,
    the trace's ``last`` one): the step number and the kernel code each
    goes on to."""
    ran = len(records)
    if ran > len(group) and last:
        number = group[-1][0]
        return number, (
            f"the trace ends after '{clipped(group[-1][1].label)}', but {thread} goes on at "
            "once to "
            f"'{records[len(group)].label}' in the same atomic step, so no search stops "
            "there: a trace cut by hand must end where a step ends (or the model now runs "
            "them together)"
        )
    if ran > len(group):
        number = group[-1][0]
        return number, (
            f"after '{clipped(group[-1][1].label)}', {thread} now goes on at once to "
            f"'{records[len(group)].label}', which the trace did not run there"
        )
    number, expected = group[ran]
    current = model.current_step(after, tid)
    now = "returns" if current is None else f"goes to '{current.step.label}'"
    if current is not None and current.step.label == expected.label:
        return number, (
            f"'{clipped(expected.label)}' is now a step of its own after "
            f"'{records[-1].label}' "
            "(other threads may run between them), where the trace ran them together"
        )
    return number, (
        f"after '{records[-1].label}', {thread} now {now}, where the trace went to "
        f"'{clipped(expected.label)}'"
    )


def violation_in(model: KernelModel, name: str, state: State) -> str | None:
    """The violation of property ``name`` in ``state``, if any."""
    for prop in model.properties():
        if prop.name != name:
            continue
        if prop.kind is PropertyKind.ALWAYS and not prop.terminal:
            return prop.check(state)
        if prop.kind is PropertyKind.CAN_END:
            return None if can_end_from(model, state) else cannot_end(prop, state)
        if (
            prop.failed_at_dead_ends
            and not model.successors(state)
            and prop.evaluated_at_dead_end(model.halted(state))
        ):
            return prop.check(state)
        return None
    return None


def first_difference(model: KernelModel, stored: Hashable, replayed: Hashable) -> str:
    """The first field of two states that differs, with both values."""
    assert isinstance(stored, tuple) and isinstance(replayed, tuple)
    for index, slot in enumerate(model.world.slots):
        if index < len(stored) and index < len(replayed) and stored[index] != replayed[index]:
            return (
                f"{slot.name} is {_shown(slot.render, replayed[index])}, "
                f"was {_shown(slot.render, stored[index])}"
            )
    return "the states differ"


def _shown(render: object, value: object) -> str:
    try:
        return str(render(value))  # type: ignore[operator]
    except Exception:
        return repr(value)


def same_changes(actual: Step, expected: Step) -> bool:
    """Whether a step replayed changes what the trace says it did; a trace
    saved without the registers it set to their own value (``rewritten``)
    says so too."""
    if actual.changed == expected.changed:
        return True
    changed = {k: v for k, v in actual.changed.items() if k not in actual.rewritten}
    return changed == expected.changed


def _changes(changed: Mapping[str, str]) -> str:
    """What a step changed, as the trace prints it: ``T1.x = 1, y = 2``."""
    return ", ".join(f"{name} = {value}" for name, value in changed.items()) or "nothing"


def _same_place(actual: str, expected: str) -> bool:
    """Whether two steps' ``FILE:LINE`` name one line: the same, or the
    same line of a model file of the same name elsewhere (a suite copied
    or checked out in another directory, whose traces name the files
    where they were saved)."""
    if actual == expected:
        return True
    file, _, line = actual.rpartition(":")
    was, _, line_was = expected.rpartition(":")
    return line == line_was and Path(file).name == Path(was).name
