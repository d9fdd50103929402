"""Counterexamples as text, in the style TLC made familiar: numbered steps
(those marked ``+`` run along with the step before them), only the fields
each step changed, the waits-for cycle at the end."""

from __future__ import annotations

from mc.project import shown_source
from mc.text import printable
from mc.trace.events import Step, waits_chain
from mc.trace.format import Counterexample


def headline(counterexample: Counterexample) -> str:
    """``deadlock in dirops/x with variant v``."""
    variants = counterexample.variants
    suffix = ""
    if variants:
        suffix = f" with variant{'s' if len(variants) > 1 else ''} {', '.join(variants)}"
    return f"{counterexample.property} in {counterexample.scenario}{suffix}"


def render(counterexample: Counterexample, *, upto: int | None = None) -> str:
    """The whole counterexample (or its first ``upto`` steps) as text; what
    came from the file (labels, messages, names) has its control characters
    escaped, so each line prints as one line."""
    lines = [headline(counterexample), counterexample.message, ""]
    if counterexample.addresses:
        lines += [f"addresses: {counterexample.addresses}", ""]
    if counterexample.witness:
        witness = ", ".join(f"{k}={v}" for k, v in counterexample.witness.items())
        lines += [f"witness: {witness}", ""]
    lines.append("threads:")
    lines += [f"  {name}  {operation}" for name, operation in counterexample.threads]
    lines.append("")
    label_width = max((len(s.label) for s in counterexample.steps), default=0)
    label_width = min(label_width, 72)
    steps = counterexample.steps if upto is None else counterexample.steps[:upto]
    if counterexample.started:
        lines.append("as the threads start (in the initial state, before any choice):")
        for step in counterexample.started:
            lines += _step_lines("0", step.thread, step, label_width)
        lines += ["", "then, the interleaving:"]
    loop = counterexample.loop
    for number, step in enumerate(steps, start=1):
        if loop is not None and number == loop + 1:
            lines.append(_loop_line(loop, len(counterexample.steps)))
        lines += _step_lines(str(number), step.thread, step, label_width)
    if upto is None:
        for step in counterexample.blocked:
            lines.append(_step_line("", step.thread, step, label_width))
            lines.append(f"{'':>9}blocked: {step.event.text}")
    if counterexample.cycle and upto is None:
        lines += ["", waits_chain(counterexample.cycle)]
    return "\n".join(printable(line) for line in lines)


def _loop_line(loop: int, steps: int) -> str:
    """The line before step ``loop + 1``: where the trace starts going round."""
    where = "the initial state" if loop == 0 else f"the state after step {loop}"
    going = f"step {steps} leads" if loop + 1 == steps else f"steps {loop + 1} to {steps} lead"
    return f"{'':>5}-- the loop: {going} back to {where} --"


def _step_line(number: str, thread: str, step: Step, label_width: int) -> str:
    """A step's line: its number, marked ``+`` when it runs along with the
    step before it (a local step, no transition of its own)."""
    mark = "+" if step.chained and number not in ("", "0") else " "
    return f"{number:>3}{mark} {thread:<3} {step.label:<{label_width}}  {shown_source(step.source)}"


def _step_lines(number: str, thread: str, step: Step, label_width: int) -> list[str]:
    """A numbered step, what it did and the fields it changed."""
    lines = [_step_line(number, thread, step, label_width)]
    if step.event.kind == "branch":
        lines.append(f"{'':>9}-> {step.event.text}")
    elif step.event.text != step.label and step.event.kind != "assign":
        lines.append(f"{'':>9}{step.event.text}")
    lines += [f"{'':>9}{name} = {value}" for name, value in step.changed.items()]
    return lines
