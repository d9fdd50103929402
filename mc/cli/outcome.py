"""A check's outcome as ``vfsmc check`` and ``vfsmc sweep`` give it: its
counterexample and charts saved, and the outcome as JSON."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mc.check import lockorder, recorded
from mc.check.baseline import locked
from mc.check.checker import Outcome
from mc.check.coverage import coverage_json
from mc.check.expectations import ExpectationError
from mc.check.marks import variant_marks
from mc.cli.errors import message_of, say
from mc.dsl.scenario import Registry
from mc.project import Terminated
from mc.spec.conformance import SPEC_CONFORMANCE
from mc.trace import graph as render_graph


def save_outcome(
    reg: Registry,
    outcome: Outcome,
    out: Path,
    stem: str,
    each: Callable[[str, Path], None] | None = None,
) -> dict[str, Path]:
    """Save the counterexample (with the model files it needs) and its
    charts in ``out`` under ``stem`` (``file_stem``); a file that cannot be
    written is a warning, never a change of the verdict or its exit code.
    A chart that cannot be drawn leaves no older one of that name beside
    the new counterexample, and two runs saving under one name in one
    directory save one after the other (the directory is locked), so the
    three files are always of one run.  ``each`` is told of each file as
    it is written, so that a run interrupted while it saves has said what
    it saved."""
    if outcome.counterexample is None:
        return {}
    marks = variant_marks(reg, outcome.counterexample)
    files: dict[str, Path] = {}
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError, ExpectationError):
            out.mkdir(parents=True, exist_ok=True)
            stack.enter_context(locked(out))
        kinds = (("counterexample", "json"), ("dot", "dot"), ("svg", "svg"))
        for at, (kind, suffix) in enumerate(kinds):
            path = out / f"{stem}.{suffix}"
            try:
                if kind == "counterexample":
                    recorded.save_recorded(
                        reg, outcome.scenario, outcome.variants, outcome.counterexample, path
                    )
                else:
                    render_graph.render(outcome.counterexample, path, marks)
            except (KeyboardInterrupt, Terminated):
                if "counterexample" in files:  # no older chart beside the new trace
                    for _kind, later in kinds[at:]:
                        with contextlib.suppress(OSError):
                            (out / f"{stem}.{later}").unlink(missing_ok=True)
                raise
            except (OSError, render_graph.GraphError) as error:
                say("warning", f"not saved: {message_of(error)}")
            except Exception as error:  # a bug in a writer must not cost the verdict
                say("warning", f"not saved: {path}: {type(error).__name__}: {message_of(error)}")
            else:
                files[kind] = path
                if each is not None:
                    each(kind, path)
                continue
            if kind == "counterexample":
                break  # no chart of a counterexample that is not there
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
    return files


def outcome_json(
    outcome: Outcome, saved: dict[str, Path], trace: dict[str, Any] | None
) -> dict[str, Any]:
    """``outcome`` as ``check --json`` prints it, with the files ``saved``
    (``save_outcome``) and the ``trace`` of a counterexample not saved."""
    result = outcome.result
    violation = result.violation
    return {
        "scenario": outcome.scenario.name,
        "variants": list(outcome.variants),
        "verdict": result.verdict.value,
        "property": violation.property if violation else None,
        "message": violation.message if violation else None,
        "properties": list(result.properties),
        "incomplete_reason": result.incomplete_reason,
        **result.stats.as_dict(),
        "counterexample": str(saved["counterexample"]) if "counterexample" in saved else None,
        "trace": trace,
        "shortened_from": outcome.shortened.steps_before
        if outcome.shortened is not None and outcome.shortened.found
        else None,
        "graph": str(saved["svg"]) if "svg" in saved else None,
        "unchecked_errors": outcome.unchecked_errors,
        "unreached_changes": list(outcome.unreached_changes),
        "coverage": None
        if outcome.coverage is None
        else coverage_json(outcome.model, outcome.coverage),
        "unvaried": list(result.unvaried),
        "unchecked_needs": list(outcome.model.world.unchecked_needs)
        if SPEC_CONFORMANCE in result.properties
        else [],
    }


def against_json(against: Sequence[tuple[lockorder.Edge, lockorder.Witness, str]]) -> list[Any]:
    """The lock-class edges against the documented order, as JSON."""
    return [
        {
            "held": held,
            "taken": taken,
            "thread": witness.thread,
            "label": witness.label,
            "source": witness.source,
            "order": why,
        }
        for (held, taken), witness, why in against
    ]


def against_notes(
    against: Sequence[tuple[lockorder.Edge, lockorder.Witness, str]],
    name: str,
    variants: Sequence[str],
    files: Sequence[object] = (),
) -> list[str]:
    """The note on the lock-class edges the variants take against the
    documented order, which their OK verdict says nothing of, with the
    command that shows them (``files``: the model files the check loaded):
    one line for one edge, else a line and one below it per edge."""
    edges = [
        f"{witness.thread} takes {taken} while holding {held} ('{witness.label}', "
        f"{witness.source}), against the documented order ({why})"
        for (held, taken), witness, why in against
    ]
    if not edges:
        return []
    danger = (
        "a thread taking them the documented way, as other code does, can deadlock with it "
        "unless something else keeps the two apart (lockdep, for a lock it tracks, reports "
        f"the inversion once it has seen both orders) ({lockorder_command(name, variants, files)})"
    )
    if len(edges) == 1:
        return [f"  note: OK here, but under the variants {edges[0]}: {danger}"]
    return [
        f"  note: OK here, but under the variants {len(edges)} lock-class edges go against "
        f"the documented order; for each, {danger}:",
        *(f"    {edge}" for edge in edges),
    ]


def lockorder_command(name: str, variants: Sequence[str], files: Sequence[object] = ()) -> str:
    """The ``vfsmc lockorder`` command that explores scenario ``name``
    under ``variants``, loading the model files ``files``."""
    flags = " ".join(
        [*(f"--models {shlex.quote(str(file))}" for file in files), *(f"-V {v}" for v in variants)]
    )
    return f"vfsmc lockorder --filter {name} {flags}"
