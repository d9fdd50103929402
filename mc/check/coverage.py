"""Which steps of a scenario a check ran, as SPIN's "unreached in
proctype" and TLC's coverage say: a step no explored state runs is a
branch the scenario never takes, or code a lock or test keeps it from,
and an OK says nothing of it.

A step counts as run when, in some explored state, it has an outcome
(a lock step that can only wait has none); local steps chained to the
step before them run too, and count.  The partial-order reduction keeps
this count whole: a persistent-set search whose cycle proviso lets no
enabled step wait forever visits every local state of every thread the
full search visits (Godefroid, *Partial-Order Methods for the
Verification of Concurrent Systems*, LNCS 1032, 1996, ch. 6: the
selective search preserves the reachability of local states), so a
thread's program counter takes the same values with and without it
(``tests/test_coverage.py`` checks the shipped scenarios and random
programs both ways).  A search that stopped short (at its first
violation, a bound, Ctrl-C) only knows the steps it ran: its list is of
steps not yet run, and says so."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from mc.dsl.kernel_model import KernelModel


@attrs.frozen
class Coverage:
    """The steps a search ran, of ``steps`` in all."""

    steps: int
    never_ran: tuple[tuple[int, int], ...]
    """(thread, program counter) of each step no explored state ran."""
    complete: bool
    """The search explored every reachable state (an OK verdict)."""

    @property
    def ran(self) -> int:
        return self.steps - len(self.never_ran)


def coverage_of(model: KernelModel, ran: Iterable[tuple[int, int]], complete: bool) -> Coverage:
    """The coverage of a search of ``model`` that ran the steps at ``ran``."""
    everywhere = model.every_step()
    taken = set(ran)
    return Coverage(len(everywhere), tuple(at for at in everywhere if at not in taken), complete)


def coverage_json(model: KernelModel, coverage: Coverage) -> dict[str, Any]:
    """``coverage`` as ``check --coverage --json`` gives it."""
    return {
        "steps": coverage.steps,
        "ran": coverage.ran,
        "complete": coverage.complete,
        "never_ran": [
            {
                "thread": model.threads[tid].name,
                "operation": str(model.threads[tid].invocation),
                "step": pc,
                "label": model.threads[tid].steps[pc].step.label,
                "source": str(model.threads[tid].steps[pc].step.source),
            }
            for tid, pc in coverage.never_ran
        ],
    }


def coverage_lines(model: KernelModel, coverage: Coverage) -> list[str]:
    """``coverage`` as ``check --coverage`` prints it: a summary, then each
    thread with steps that never ran, and those steps as ``show --steps``
    lists them."""
    summary = f"coverage: {coverage.ran} of {coverage.steps} steps ran"
    if not coverage.never_ran:
        return [f"{summary}, every one"]
    if not coverage.complete:
        return [
            f"{summary} in the states explored: the search stopped short (at a violation, a "
            f"bound), so the other {len(coverage.never_ran)} may run in a state it did not "
            "reach (--json lists them)"
        ]
    lines = [f"{summary}; never ran, in any state reachable:"]
    shown = None
    for tid, pc in coverage.never_ran:
        thread = model.threads[tid]
        if tid != shown:
            lines.append(f"  {thread.name}  {thread.invocation}")
            shown = tid
        step = thread.steps[pc].step
        lines.append(f"      {pc:>4}  {step.label}  ({step.source})")
    return lines
