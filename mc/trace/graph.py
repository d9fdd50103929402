"""Counterexamples as message-sequence charts, rendered with graphviz.

One lane per thread and one per lock; each row is a step.  Acquisitions,
waits and releases are edges from a thread's lane to the lock's, a lock's
lane is drawn thick in the colour of the thread holding it, and the
violation is highlighted in red: for a deadlock, the waits of the cycle.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from mc.atomic_write import write_atomically
from mc.trace.events import Step
from mc.trace.format import Counterexample
from mc.trace.text import headline

PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
VIOLATION = "#d62728"
FORMATS = ("dot", "svg", "png")
LOCK_EVENTS = ("acquire", "wait", "release")
SHOWN = (*LOCK_EVENTS, "call", "effect", "error")
DETAILS = 4


class GraphError(RuntimeError):
    """The graph cannot be rendered (e.g. graphviz is not installed)."""


LONGEST_TEXT = 2000
"""Longer texts are cut (``dot`` rejects a quoted string over 16 kB)."""


def _quote(text: str) -> str:
    if len(text) > LONGEST_TEXT:
        text = text[: LONGEST_TEXT - 3] + "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attributes: dict[str, object]) -> str:
    return ", ".join(f"{key}={_quote(str(value))}" for key, value in attributes.items())


def _node(name: str, **attributes: object) -> str:
    return f"    {name} [{_attrs(attributes)}];"


def _edge(source: str, target: str, **attributes: object) -> str:
    return f"  {source} -> {target} [{_attrs(attributes)}];"


def _wrap(text: str, width: int = 38) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


class _Chart:
    """The lanes and rows of one counterexample's chart."""

    def __init__(self, counterexample: Counterexample) -> None:
        self.cx = counterexample
        self.threads = [name for name, _ in counterexample.threads]
        self.color = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(self.threads)}
        self.rows = [
            (number, step)
            for number, step in enumerate(counterexample.steps, start=1)
            if step.event.kind in SHOWN
        ]
        locks: list[str] = []
        lock_names = [step.event.lock for _, step in self.rows] + [
            e.resource for e in counterexample.cycle
        ]
        for lock in lock_names:
            if lock is not None and lock not in locks:
                locks.append(lock)
        self.lanes = self.threads + locks
        self.lane_id = {lane: f"l{i}" for i, lane in enumerate(self.lanes)}
        self.last = len(self.rows) + 1
        self.in_cycle = {(e.waiter, e.resource) for e in counterexample.cycle}

    def cell(self, lane: str, row: int) -> str:
        return f"{self.lane_id[lane]}_{row}"

    def dot(self) -> str:
        title = headline(self.cx) + "\n" + self.cx.message
        if self.cx.addresses:
            title += "\naddresses: " + self.cx.addresses
        if self.cx.witness:
            title += "\nwitness: " + ", ".join(f"{k}={v}" for k, v in self.cx.witness.items())
        lines = [
            "digraph counterexample {",
            f"  label={_quote(title)};",
            '  labelloc=t; fontname="Helvetica"; fontsize=14;',
            "  newrank=true; ranksep=0.22; nodesep=0.5;",
            '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=9];',
        ]
        lines += self._header()
        for row, (number, step) in enumerate(self.rows, start=1):
            lines += self._row(row, str(number), step)
        lines += self._row(self.last, "", None)
        lines += list(self._lane_segments())
        lines += list(self._lock_edges())
        lines += list(self._violation())
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _header(self) -> list[str]:
        operations = dict(self.cx.threads)
        cells = [_node("step_0", shape="plaintext", label="step")]
        for lane in self.lanes:
            if lane in self.color:
                cells.append(
                    _node(
                        self.cell(lane, 0),
                        shape="box",
                        style="rounded,filled",
                        fillcolor=self.color[lane] + "22",
                        color=self.color[lane],
                        label=f"{lane}\n{operations[lane]}",
                    )
                )
            else:
                cells.append(
                    _node(
                        self.cell(lane, 0),
                        shape="box",
                        style="filled",
                        fillcolor="#eeeeee",
                        label=lane,
                    )
                )
        order = " -> ".join(["step_0", *(self.cell(lane, 0) for lane in self.lanes)])
        return ["  { rank=same;", *cells, "  }", f"  {order} [style=invis];"]

    def _row(self, row: int, number: str, step: Step | None) -> list[str]:
        cells = [_node(f"step_{row}", shape="plaintext", label=number)]
        for lane in self.lanes:
            if step is not None and lane == step.thread and step.event.kind not in LOCK_EVENTS:
                error = step.event.kind == "error"
                text = _wrap(step.label if error else step.event.text)
                details = self._details(step)
                cells.append(
                    _node(
                        self.cell(lane, row),
                        shape="box",
                        style="filled",
                        fillcolor="#ffdddd" if error else "white",
                        color=VIOLATION if error else self.color[lane],
                        fontsize=9,
                        label=text + "".join(f"\n{_wrap(line, 44)}" for line in details),
                    )
                )
            else:
                cells.append(
                    _node(
                        self.cell(lane, row),
                        shape="point",
                        width=0.06,
                        color=self.color.get(lane, "#888888"),
                    )
                )
        return ["  { rank=same;", *cells, "  }", f"  step_{row - 1} -> step_{row} [style=invis];"]

    def _details(self, step: Step) -> list[str]:
        """What a step changed besides locks (drawn as lanes) and return
        values: the data a reader follows (a folio's version, a block's
        contents, a bio)."""
        shown = [
            f"{name} = {value}"
            for name, value in step.changed.items()
            if name not in self.lane_id and not name.endswith(".ret")
        ]
        return shown[:DETAILS]

    def _lane_segments(self) -> Iterator[str]:
        holders: dict[str, list[str]] = {lane: [] for lane in self.lanes if lane not in self.color}
        for row in range(self.last):
            if row >= 1:
                step = self.rows[row - 1][1]
                held = holders.get(step.event.lock or "")
                if held is not None and step.event.kind == "acquire":
                    held.append(step.thread)
                elif held is not None and step.event.kind == "release" and step.thread in held:
                    held.remove(step.thread)
            for lane in self.lanes:
                ends = (self.cell(lane, row), self.cell(lane, row + 1))
                if lane in self.color:
                    yield _edge(*ends, arrowhead="none", color=self.color[lane], penwidth=1.5)
                elif holders[lane]:
                    yield _edge(
                        *ends, arrowhead="none", color=self.color[holders[lane][0]], penwidth=5
                    )
                else:
                    yield _edge(*ends, arrowhead="none", color="#bbbbbb", style="dotted")

    def _lock_edges(self) -> Iterator[str]:
        for row, (_, step) in enumerate(self.rows, start=1):
            kind, lock = step.event.kind, step.event.lock
            if lock is None or kind not in LOCK_EVENTS:
                continue
            ends = (self.cell(step.thread, row), self.cell(lock, row))
            mode = step.event.mode or ""
            thread_color = self.color[step.thread]
            if kind == "acquire":
                yield _edge(
                    *ends, color=thread_color, label=f"lock {mode}".strip(), constraint="false"
                )
            elif kind == "release":
                yield _edge(
                    *ends, color=thread_color, style="dashed", label="unlock", constraint="false"
                )
            elif (step.thread, lock) in self.in_cycle:
                yield _edge(
                    *ends,
                    color=VIOLATION,
                    fontcolor=VIOLATION,
                    penwidth=2.5,
                    label=f"waits {mode}",
                    constraint="false",
                )
            else:
                yield _edge(
                    *ends,
                    color=VIOLATION,
                    style="dashed",
                    label=f"waits {mode}",
                    constraint="false",
                )

    def _violation(self) -> Iterator[str]:
        if self.cx.cycle:
            recorded = {(s.thread, s.event.lock) for _, s in self.rows if s.event.kind == "wait"}
            for edge in self.cx.cycle:
                if (edge.waiter, edge.resource) not in recorded:
                    yield _edge(
                        self.cell(edge.waiter, self.last),
                        self.cell(edge.resource, self.last),
                        color=VIOLATION,
                        fontcolor=VIOLATION,
                        penwidth=2.5,
                        label="waits",
                        constraint="false",
                    )
            chain = " -> ".join(f"{e.waiter} -> {e.resource}" for e in self.cx.cycle)
            text = f"deadlock: {chain} -> {self.cx.cycle[0].waiter}"
            anchor = self.lanes[0]
        else:
            text = f"{self.cx.property}: {self.cx.message}"
            anchor = next((s.thread for s in reversed(self.cx.steps)), self.lanes[0])
        yield _node(
            "violation",
            shape="box",
            style="filled",
            fillcolor="#ffdddd",
            color=VIOLATION,
            label=_wrap(text, 70),
        )
        yield _edge(self.cell(anchor, self.last), "violation", color=VIOLATION, penwidth=2)


def to_dot(counterexample: Counterexample) -> str:
    """The chart as DOT source."""
    return _Chart(counterexample).dot()


def render(counterexample: Counterexample, path: Path) -> None:
    """Write the chart to ``path``; the suffix (.dot, .svg, .png) picks the
    format.  The file is written atomically."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise GraphError(f"unsupported graph format {path.suffix!r}: use .dot, .svg or .png")
    source = to_dot(counterexample)
    if fmt == "dot":
        write_atomically(path, source)
        return
    if shutil.which("dot") is None:
        raise GraphError(
            f"{path}: graphviz's 'dot' program is not installed (apt-get install graphviz)"
        )
    import graphviz

    try:
        data = graphviz.Source(source).pipe(format=fmt, quiet=True)
    except graphviz.CalledProcessError as error:
        said = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        reason = said[0] if said else f"exit status {error.returncode}"
        raise GraphError(f"{path}: dot failed: {reason}") from None
    except (graphviz.ExecutableNotFound, OSError) as error:
        raise GraphError(f"{path}: dot failed: {error}") from None
    write_atomically(path, data)
