"""Counterexamples as message-sequence charts, rendered with graphviz.

One lane per thread and one per lock; each row is a step.  Acquisitions,
waits and releases are edges from a thread's lane to the lock's, a lock's
lane is drawn thick in the colour of the thread holding it, and the
violation is highlighted in red: for a deadlock, the waits of the cycle.
Each step's box in its thread's lane gives the kernel code and what it did
(so arrows carry no labels); branches are drawn with the way they went;
the step each blocked thread waits at is a dashed box at the end, with
an arrow to the lane of the lock it waits for (a wait of the cycle on what
no step takes, a work being flushed or a POSIX lock, is drawn held by
the cycle's holder from its last row); steps a variant changed
are yellow, with what it removed in the title and in the yellow box of
the step that runs in its place, and what it changed when the trace
reaches none of its steps; a long chart folds runs of one
thread's steps that touch no lock into one box; where a page-cache
property is violated, the final block, bio, folio and pte state is drawn
under the violation.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import attrs

from mc.atomic_write import write_atomically
from mc.text import printable
from mc.trace.events import HANDED_OFF, Edge, Step, closes_cycle, waits_chain
from mc.trace.format import Counterexample
from mc.trace.text import headline

PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
VIOLATION = "#d62728"
FORMATS = ("dot", "svg", "png")
LOCK_EVENTS = ("acquire", "wait", "release")
SHOWN = (*LOCK_EVENTS, "branch", "call", "effect", "assign", "error")
DETAILS = 4
MARKED = "#fff2b3"
MARKED_BORDER = "#d9b300"
FOLD_AFTER = 40
"""Charts with more rows than this fold runs of one thread's steps."""
FOLD_RUN = 3
REMOVED_SHOWN = 4
DATA_STATE = (
    "block ",
    "free blocks",
    "i_block(",
    "bios in flight",
    "folio(",
    "pte(",
    "xa_marks(",
    "i_size(",
)
"""The state drawn under a violated page-cache property."""


@attrs.frozen
class VariantMarks:
    """The steps a counterexample's variants changed (by step number, with
    a note) and the steps they removed, as text."""

    changed: Mapping[int, str] = attrs.field(factory=dict)
    """By step number, or ``-1 - i`` for the i-th step the threads run as
    they start (``Counterexample.started``), as ``after_removed``."""
    removed: tuple[str, ...] = ()
    blocked: Mapping[str, str] = attrs.field(factory=dict)
    """The threads that wait, at the end, at a step a variant changed."""
    evidence: frozenset[str] = frozenset()
    """The slots the violated property reads: a step that changes one is
    drawn on its own row, never folded with others."""
    unreached: tuple[str, ...] = ()
    """What a variant none of whose changed steps the trace runs changed,
    a line for each step (``variant V moves T1 'LABEL' (SOURCE) before
    'LABEL'``): named in the title, as nothing is yellow for it."""
    after_removed: Mapping[int, str] = attrs.field(factory=dict)
    """The steps (by number) that run where a variant removed a step,
    with what it removed (``V removed 'LABEL' before it``): yellow, and
    the box says so."""


@attrs.frozen
class _Row:
    """One row of the chart: a step, or a folded run of one thread's steps."""

    numbers: tuple[int, ...]
    steps: tuple[Step, ...]
    start: int | None = None
    """For a step the threads run as they start (numbered 0): its place
    among them."""

    @property
    def keys(self) -> tuple[int, ...]:
        """What ``VariantMarks`` marks the row by: its step numbers, or
        ``-1 - start`` for a step run as the threads start."""
        return self.numbers if self.start is None else (-1 - self.start,)

    @property
    def step(self) -> Step:
        return self.steps[0]

    @property
    def title(self) -> str:
        first, last = self.numbers[0], self.numbers[-1]
        return str(first) if first == last else f"{first}-{last}"


class GraphError(RuntimeError):
    """The graph cannot be rendered (e.g. graphviz is not installed)."""


LAID_OUT_AT_MOST = 1_000
"""The most steps a chart is drawn of as SVG or PNG: graphviz's layout
time grows faster than the square of the steps (a second for 1,000,
five for 2,000, two minutes for 5,000)."""


HANDED_OFF_COLOR = "#888888"
"""The bar of a lock held by no thread: handed off (a frozen superblock's
``sb_writers``) until a thread takes it over."""

LONGEST_TEXT = 2000
"""Longer texts are cut (``dot`` rejects a quoted string over 16 kB)."""

LONGEST_LINE = 100
"""Longer lines of a text drawn are wrapped (at spaces, a longer word cut),
so that no title or label sets the chart's width."""

HEADER_EVERY = 40
"""A chart repeats its lanes' names after every this many rows."""


def _quote(text: str) -> str:
    """``text`` as a DOT string: cut to ``LONGEST_TEXT`` characters, its
    control and format characters escaped as ``vfsmc replay`` prints them,
    each line wrapped at ``LONGEST_LINE``."""
    if len(text) > LONGEST_TEXT:
        text = text[: LONGEST_TEXT - 3] + "..."
    lines = [printable(line) for line in text.split("\n")]
    text = "\n".join(
        _wrap(line, LONGEST_LINE) if len(line) > LONGEST_LINE else line for line in lines
    )
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attributes: dict[str, object]) -> str:
    return ", ".join(f"{key}={_quote(str(value))}" for key, value in attributes.items())


def _node(name: str, **attributes: object) -> str:
    return f"    {name} [{_attrs(attributes)}];"


def _edge(source: str, target: str, **attributes: object) -> str:
    return f"  {source} -> {target} [{_attrs(attributes)}];"


def _wrap(text: str, width: int = 38) -> str:
    """``text``'s words in lines of at most ``width`` characters (a longer
    word cut into pieces that long)."""
    lines, line = [], ""
    for word in _pieces(printable(text).split(), width):
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


def _pieces(words: Sequence[str], width: int) -> Iterator[str]:
    for word in words:
        yield from (word[start : start + width] for start in range(0, len(word), width))


class _Chart:
    """The lanes and rows of one counterexample's chart."""

    def __init__(
        self,
        counterexample: Counterexample,
        marks: VariantMarks | None = None,
        caveat: str | None = None,
    ) -> None:
        self.cx = counterexample
        self.marks = marks or VariantMarks()
        self.caveat = caveat
        self.threads = [name for name, _ in counterexample.threads]
        self.color = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(self.threads)}
        shown = [
            _Row((number,), (step,))
            for number, step in enumerate(counterexample.steps, start=1)
            if step.event.kind in SHOWN
        ]
        started = [
            _Row((0,), (step,), start)
            for start, step in enumerate(counterexample.started)
            if step.event.kind in SHOWN
        ]
        handed = self._locks_changed_by_effects()
        self.handed = set(handed)
        self.rows = started + (self._fold(shown, self.handed) if len(shown) > FOLD_AFTER else shown)
        locks: list[str] = []
        lock_names = [row.step.event.lock for row in self.rows] + [
            e.resource for e in counterexample.cycle
        ]
        for lock in lock_names:
            if lock is not None and lock not in locks:
                locks.append(lock)
        locks += [lock for lock in handed if lock not in locks]
        self.lanes = self.threads + locks
        self.lane_id = {lane: f"l{i}" for i, lane in enumerate(self.lanes)}
        closed = closes_cycle(counterexample.cycle)
        self.in_cycle = {(e.waiter, e.resource) for e in counterexample.cycle if closed}
        self.held_after, self.last_change = self._lane_holders()
        self.waiting = self._waiting_steps()
        self.final_waits = self._final_waits()
        self.tail = list(dict.fromkeys([*(e.waiter for e in self.final_waits), *self.waiting]))
        self.last = len(self.rows) + max(1, len(self.tail))
        self.repeats = set(range(HEADER_EVERY, self.last - HEADER_EVERY // 4, HEADER_EVERY))
        """The rows after which the lanes are named again."""

    def _fold(self, rows: Sequence[_Row], handed: set[str]) -> list[_Row]:
        """Runs of ``FOLD_RUN`` or more rows of one thread that take no lock
        (nor change one of the locks ``handed``, which steps hand on
        without an acquire or release, or a slot the violated property
        reads) and are not marked or an error become one row."""
        folded: list[_Row] = []
        run: list[_Row] = []

        def foldable(row: _Row) -> bool:
            return (
                row.step.event.kind not in (*LOCK_EVENTS, "error")
                and row.numbers[0] not in self.marks.changed
                and row.numbers[0] not in self.marks.after_removed
                and handed.isdisjoint(row.step.changed)
                and self.marks.evidence.isdisjoint(row.step.changed)
            )

        def flush() -> None:
            if len(run) >= FOLD_RUN:
                folded.append(
                    _Row(
                        tuple(n for r in run for n in r.numbers),
                        tuple(s for r in run for s in r.steps),
                    )
                )
            else:
                folded.extend(run)
            run.clear()

        for row in rows:
            if foldable(row) and (not run or run[-1].step.thread == row.step.thread):
                run.append(row)
                continue
            flush()
            if foldable(row):
                run.append(row)
            else:
                folded.append(row)
        flush()
        return folded

    def cell(self, lane: str, row: int) -> str:
        return f"{self.lane_id[lane]}_{row}"

    def dot(self) -> str:
        title = printable(headline(self.cx)) + "\n" + printable(self.cx.message)
        if self.caveat:
            title = f"NOT REPLAYED: {printable(self.caveat)}\n{title}"
        if self.cx.addresses:
            title += "\naddresses: " + printable(self.cx.addresses)
        if self.cx.witness:
            witness = ", ".join(f"{k}={v}" for k, v in self.cx.witness.items())
            title += "\nwitness: " + printable(witness)
        for removed in self.marks.removed[:REMOVED_SHOWN]:
            title += f"\nthe variant removed: {printable(removed)}"
        if len(self.marks.removed) > REMOVED_SHOWN:
            title += f"\nand {len(self.marks.removed) - REMOVED_SHOWN} more steps it removed"
        for unreached in self.marks.unreached[:REMOVED_SHOWN]:
            title += f"\n{unreached} (not reached in this trace)"
        if len(self.marks.unreached) > REMOVED_SHOWN:
            more = len(self.marks.unreached) - REMOVED_SHOWN
            title += f"\nand {more} more steps changed that this trace does not reach"
        lines = [
            "digraph counterexample {",
            f"  label={_quote(title)};",
            '  labelloc=t; fontname="Helvetica"; fontsize=14;',
            "  newrank=true; ranksep=0.22; nodesep=0.5;",
            '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=9];',
        ]
        lines += self._header()
        for index, row in enumerate(self.rows, start=1):
            lines += self._row(index, row)
            if index in self.repeats:
                lines += self._header(index)
        for index in range(len(self.rows) + 1, self.last + 1):
            lines += self._row(index, None)
            if index in self.repeats:
                lines += self._header(index)
        lines += list(self._lane_segments())
        lines += list(self._lock_edges())
        lines += list(self._violation())
        lines += self._legend()
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _header(self, after: int = 0) -> list[str]:
        """The row naming the lanes: at the top (each thread with its
        operation), and again after row ``after`` (the names alone)."""
        operations = dict(self.cx.threads)
        step = "step_0" if after == 0 else f"step_h{after}"
        cells = [_node(step, shape="plaintext", label="step")]
        for lane in self.lanes:
            name = self.cell(lane, 0) if after == 0 else self._repeated(lane, after)
            if lane in self.color:
                cells.append(
                    _node(
                        name,
                        group=self.lane_id[lane],
                        shape="box",
                        style="rounded,filled",
                        fillcolor=self.color[lane] + "22",
                        color=self.color[lane],
                        label=f"{lane}\n{operations[lane]}" if after == 0 else lane,
                    )
                )
            else:
                cells.append(
                    _node(
                        name,
                        group=self.lane_id[lane],
                        shape="box",
                        style="filled",
                        fillcolor="#eeeeee",
                        label=lane,
                    )
                )
        if after:
            return ["  { rank=same;", *cells, "  }", f"  step_{after} -> {step} [style=invis];"]
        order = " -> ".join(["step_0", *(self.cell(lane, 0) for lane in self.lanes)])
        return ["  { rank=same;", *cells, "  }", f"  {order} [style=invis];"]

    def _repeated(self, lane: str, after: int) -> str:
        return f"{self.lane_id[lane]}_h{after}"

    def _row(self, index: int, row: _Row | None) -> list[str]:
        marked = row is not None and any(
            n in self.marks.changed or n in self.marks.after_removed for n in row.keys
        )
        number: dict[str, object] = {"shape": "plaintext", "label": row.title if row else ""}
        if row is not None:
            number["id"] = f"chart-step-{row.numbers[0]}"
        if marked:
            number.update(shape="box", style="filled", fillcolor=MARKED, color=MARKED_BORDER)
        cells = [_node(f"step_{index}", **number)]
        waiter = self._tail_thread(index)
        for lane in self.lanes:
            if row is not None and lane == row.step.thread:
                cells.append(self._box(self.cell(lane, index), row, marked))
            elif lane == waiter and lane in self.waiting:
                cells.append(self._waiting(self.cell(lane, index), self.waiting[lane]))
            else:
                cells.append(
                    _node(
                        self.cell(lane, index),
                        group=self.lane_id[lane],
                        shape="point",
                        width=0.06,
                        color=self.color.get(lane, "#888888"),
                    )
                )
        return [
            "  { rank=same;",
            *cells,
            "  }",
            f"  {self._above(index)} -> step_{index} [style=invis];",
        ]

    def _above(self, index: int) -> str:
        """The step column's cell above row ``index``."""
        return f"step_h{index - 1}" if index - 1 in self.repeats else f"step_{index - 1}"

    def _box(self, name: str, row: _Row, marked: bool) -> str:
        """The thread's cell of ``row``: the kernel code and what it did."""
        step = row.step
        error = step.event.kind == "error"
        if len(row.steps) > 1:
            text = "\n".join(_clip(s.label, 44) for s in row.steps)
            text += "".join(f"\n{_clip(line, 44)}" for line in self._net_details(row.steps))
        elif step.event.kind == "branch":
            text = _wrap(step.label, 44) + f"\n{step.event.text}"
        elif error:
            text = _wrap(step.label, 44)
            if step.event.text != step.label:
                text += "\n" + _wrap(step.event.text, 44)
        else:
            text = _wrap(step.label, 44)
            if step.event.text != step.label:
                text += "\n" + _wrap(step.event.text, 44)
            text += "".join(
                f"\n{_wrap(line, 44)}" for line in self._details(step) if line != step.event.text
            )
        text += "".join(
            f"\n{_wrap(self.marks.after_removed[n], 44)}"
            for n in row.keys
            if n in self.marks.after_removed
        )
        fill = "#ffdddd" if error else MARKED if marked else "white"
        return _node(
            name,
            group=self.lane_id[step.thread],
            shape="box",
            style="filled,rounded" if step.event.kind in LOCK_EVENTS else "filled",
            fillcolor=fill,
            color=VIOLATION if error else self.color[step.thread],
            fontsize=9,
            label=text,
        )

    def _final_waits(self) -> list[Edge]:
        """The waits of the cycle no step drawn records: drawn at the end,
        from the row of their waiter."""
        recorded = {
            (r.step.thread, r.step.event.lock) for r in self.rows if r.step.event.kind == "wait"
        }
        return [e for e in self.cx.cycle if (e.waiter, e.resource) not in recorded]

    def _tail_thread(self, index: int) -> str | None:
        """The thread whose wait the final row ``index`` draws: each
        thread waiting at the end has a row of its own, so that no two wait
        arrows or their labels share one."""
        at = index - len(self.rows) - 1
        return self.tail[at] if 0 <= at < len(self.tail) else None

    def _tail_row(self, thread: str) -> int:
        return len(self.rows) + 1 + self.tail.index(thread)

    def _waiting_steps(self) -> dict[str, Step]:
        """The step each blocked thread waits at, by thread, but for one
        whose last step drawn already is its wait for that lock (a writer
        queued on a rwsem)."""
        last: dict[str, Step] = {}
        for row in self.rows:
            last[row.step.thread] = row.step
        found = {}
        for step in self.cx.blocked:
            drawn = last.get(step.thread)
            if (
                drawn is not None
                and drawn.event.kind == "wait"
                and drawn.event.lock == step.event.lock
            ):
                continue
            found[step.thread] = step
        return found

    def _waiting(self, name: str, step: Step) -> str:
        """The thread's cell of the last row when it waits there: the step
        it waits at, and for what (a dashed box: the step does not run;
        yellow when a variant changed it)."""
        text = _wrap(step.label, 44)
        if step.event.text != step.label:
            text += "\n" + _wrap(step.event.text, 44)
        held = self._held_at_the_end(step)
        if held:
            text += "\n" + _wrap(held, 44)
        fill = {"style": "dashed,rounded,filled", "fillcolor": MARKED}
        return _node(
            name,
            group=self.lane_id[step.thread],
            shape="box",
            **(fill if step.thread in self.marks.blocked else {"style": "dashed,rounded"}),
            color=self.color.get(step.thread, "#888888"),
            fontsize=9,
            label=text,
        )

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

    def _net_details(self, steps: Sequence[Step]) -> list[str]:
        """What a run of steps changed besides locks and return values, as
        ``_details`` gives it, each slot with the value the run left."""
        net: dict[str, object] = {}
        for step in steps:
            for name, value in step.changed.items():
                if name not in self.lane_id and not name.endswith(".ret"):
                    net.pop(name, None)
                    net[name] = value
        return [f"{name} = {value}" for name, value in net.items()][:DETAILS]

    def _final_data(self) -> list[str]:
        """The block, bio, folio and pte fields the trace changed, with
        their last values, when the violated property is about data."""
        if self.cx.property in (
            "deadlock",
            "livelock",
            "lock-protocol",
            "namespace",
            "spec-conformance",
        ):
            return []
        last: dict[str, str] = {}
        for step in self.cx.steps:
            for name, value in step.changed.items():
                if name.startswith(DATA_STATE):
                    last[name] = value
        return [_clip(f"{name} = {value}", 70) for name, value in sorted(last.items())]

    def _holders(self, value: str) -> list[str] | None:
        """Who holds a lock whose slot reads ``value`` in a trace ("free",
        "T1", "T1 excl", "T1,T3 shared", "free, T2 waiting", "handed off
        excl"; ``locks.render``), or None when the value is not a lock's."""
        held = value.split(", ", 1)[0]
        if held == "free":
            return []
        if held.startswith(HANDED_OFF):
            return [HANDED_OFF]
        names = held.removesuffix(" shared").removesuffix(" excl").split(",")
        return names if all(name in self.color for name in names) else None

    def _locks_changed_by_effects(self) -> list[str]:
        """The slots that read as a lock's at every step changing them, and
        name a thread at one of them: locks a step hands to another thread
        or frees without an acquire or release event (a read's folio lock,
        handed to the I/O completion with its bio), in order of first
        change."""
        order: list[str] = []
        held: set[str] = set()
        refused: set[str] = set()
        for step in self.cx.steps:
            for name, value in step.changed.items():
                if name.split(".", 1)[0] in self.color:
                    continue
                holders = self._holders(value)
                if holders is None:
                    refused.add(name)
                    continue
                if name not in order:
                    order.append(name)
                if any(holder in self.color for holder in holders):
                    held.add(name)
        return [name for name in order if name in held and name not in refused]

    def _held_from_the_start(self) -> dict[str, list[str]]:
        """The threads holding a lock in the initial state, which no step
        takes: the trace shows them only as the first step on the lock is
        a thread letting it go (an interrupt handler's ``hardirq``), as
        the value a step on it leaves names them."""
        held: dict[str, list[str]] = {}
        seen: dict[str, set[str]] = {}

        def found(lane: str, threads: Iterable[str]) -> None:
            for thread in threads:
                if thread in self.color and thread not in seen.setdefault(lane, set()):
                    held.setdefault(lane, []).append(thread)
                    seen[lane].add(thread)

        for row in self.rows:
            step = row.step
            lock = step.event.lock
            value = step.changed.get(lock or "")
            after = self._holders(value) if value is not None else None
            if lock in self.lane_id and lock not in self.color:
                if step.event.kind == "release" and lock not in seen:
                    found(lock, [step.thread])
                if step.event.kind in ("acquire", "release"):
                    found(lock, [h for h in after or () if h != step.thread])
                    seen.setdefault(lock, set()).add(step.thread)
            for each in row.steps:
                for lane, value in each.changed.items():
                    if lane in self.lane_id and lane not in self.color:
                        seen.setdefault(lane, set()).update(self._holders(value) or ())
        return held

    def _lane_holders(self) -> tuple[list[dict[str, list[str]]], dict[str, _Row]]:
        """Who holds each lock's lane as the chart starts and after each
        row (threads, or ``HANDED_OFF``), and the last row that changed
        who holds it, by lane."""
        from_the_start = self._held_from_the_start()
        holders = {
            lane: from_the_start.get(lane, []) for lane in self.lanes if lane not in self.color
        }
        after = [{lane: list(held) for lane, held in holders.items()}]
        changed: dict[str, _Row] = {}
        for row in self.rows:
            step = row.step
            held = holders.get(step.event.lock or "")
            if held is not None and step.event.kind == "acquire":
                held.append(step.thread)
                changed[step.event.lock or ""] = row
            elif held is not None and step.event.kind == "release" and step.thread in held:
                held.remove(step.thread)
                changed[step.event.lock or ""] = row
            for each in row.steps:
                for lane, value in each.changed.items():
                    held_by = self._holders(value) if lane in holders else None
                    if held_by is not None:
                        holders[lane] = held_by
                        changed[lane] = row
            after.append({lane: list(held) for lane, held in holders.items()})
        self.seen_at_the_end = dict(after[-1])
        self.held_by_the_cycle = self._held_by_the_cycle(after)
        for lane, (holder, since) in self.held_by_the_cycle.items():
            for state in after[since:]:
                state[lane] = [holder]
        return after, changed

    def _held_by_the_cycle(
        self, after: Sequence[dict[str, list[str]]]
    ) -> dict[str, tuple[str, int]]:
        """The lanes of the cycle's waits that no step shows held at the end
        (a work a flush waits for, a POSIX lock or lease a step made without
        taking a lock), each with the thread the cycle says holds it and the
        chart position of that thread's last row: the thread holds it from
        there at the latest."""
        if not closes_cycle(self.cx.cycle):
            return {}
        last_row = {row.step.thread: index for index, row in enumerate(self.rows, start=1)}
        found: dict[str, tuple[str, int]] = {}
        for edge in self.cx.cycle:
            unseen = not after[-1].get(edge.resource)
            if edge.held and not edge.queued and unseen and edge.holder in last_row:
                found[edge.resource] = (edge.holder, last_row[edge.holder])
        return found

    def _held_at_the_end(self, step: Step) -> str:
        """For the step a thread waits at for a lock whose lane steps of
        the chart take or let go, who holds it at the end when that is not
        another thread, whose lane the wait's arrow points to: no thread
        (and the step that let it go), or the waiter itself; else empty."""
        lock = step.event.lock
        row = self.last_change.get(lock or "")
        if lock is None or row is None:
            return ""
        held = self.held_after[-1][lock]
        if held == [step.thread]:
            return f"held by {step.thread} itself"
        if held and HANDED_OFF not in held:
            return ""
        how = "handed it off" if held else "let it go"
        return f"held by none: {row.step.thread} {how} at step {row.title}"

    def _lane_segments(self) -> Iterator[str]:
        for row in range(self.last):
            holders = self.held_after[min(row, len(self.rows))]
            for lane in self.lanes:
                start, end = self.cell(lane, row), self.cell(lane, row + 1)
                if row in self.repeats:
                    header = self._repeated(lane, row)
                    yield self._segment(lane, start, header, holders.get(lane, []))
                    start = header
                yield self._segment(lane, start, end, holders.get(lane, []))

    def _segment(self, lane: str, start: str, end: str, holders: Sequence[str]) -> str:
        """A piece of ``lane``: a thread's line, or a lock's, as a bar in its
        holders' colours (grey when handed off) or dotted when free."""
        if lane in self.color:
            return _edge(start, end, arrowhead="none", color=self.color[lane], penwidth=1.5)
        if holders:
            colors = [self.color.get(h, HANDED_OFF_COLOR) for h in holders]
            width = 5 if len(colors) == 1 else 3
            return _edge(start, end, arrowhead="none", color=":".join(colors), penwidth=width)
        return _edge(start, end, arrowhead="none", color="#bbbbbb", style="dotted")

    def _lock_edges(self) -> Iterator[str]:
        for index, row in enumerate(self.rows, start=1):
            step = row.step
            kind, lock = step.event.kind, step.event.lock
            for name in sorted(self.handed.intersection(step.changed) - {lock}):
                taken = step.thread in (self._holders(step.changed[name]) or ())
                yield _edge(
                    self.cell(step.thread, index),
                    self.cell(name, index),
                    color=self.color[step.thread],
                    constraint="false",
                    **({} if taken else {"style": "dashed"}),
                )
            if kind == "error" and lock is not None:
                ends = (self.cell(step.thread, index), self.cell(lock, index))
                yield _edge(*ends, style="dashed", **self._waits(step.thread, lock=lock))
            if lock is None or kind not in LOCK_EVENTS:
                continue
            ends = (self.cell(step.thread, index), self.cell(lock, index))
            thread_color = self.color[step.thread]
            if kind == "acquire":
                yield _edge(*ends, color=thread_color, constraint="false")
            elif kind == "release":
                yield _edge(*ends, color=thread_color, style="dashed", constraint="false")
            elif (step.thread, lock) in self.in_cycle:
                yield _edge(*ends, penwidth=2.5, **self._waits(step.thread, lock=lock))
            else:
                yield _edge(*ends, style="dashed", **self._waits(step.thread))

    def _unseen_holder(self, thread: str, lock: str) -> str:
        """`` (held by T2)`` for a wait of the cycle on a lane no step of the
        chart shows held at the end (a POSIX lock or a lease, which a step
        of the trace made without taking a lock), naming the cycle's
        holder; else nothing."""
        if self.seen_at_the_end.get(lock):
            return ""
        holders = [
            edge.holder
            for edge in self.cx.cycle
            if edge.waiter == thread and edge.resource == lock and edge.holder in self.color
        ]
        return f"\n(held by {', '.join(holders)})" if holders else ""

    def _waits(self, thread: str, spinning: bool = False, lock: str = "") -> dict[str, str]:
        """A wait's arrow: red, named by its waiter in the waiter's colour
        just above its arrowhead, so that crossing arrows are told apart
        and no name sits between two arrows (a waiter that retries a
        trylock in a loop spins), with the holder where the lane does not
        show it."""
        held = self._unseen_holder(thread, lock) if lock else ""
        return {
            "color": VIOLATION,
            "headlabel": f"{thread} {'spins' if spinning else 'waits'}{held}",
            "labelangle": "-25",
            "labeldistance": "2.5",
            "fontcolor": self.color[thread],
            "fontsize": "10",
            "constraint": "false",
        }

    def _violation(self) -> Iterator[str]:
        for edge in self.final_waits:
            row = self._tail_row(edge.waiter)
            closing = (edge.waiter, edge.resource) in self.in_cycle
            yield _edge(
                self.cell(edge.waiter, row),
                self.cell(edge.resource, row),
                **({"penwidth": 2.5} if closing else {"style": "dashed"}),
                **self._waits(edge.waiter, edge.spinning, edge.resource),
            )
        drawn = {edge.waiter for edge in self.final_waits}
        for thread, step in self.waiting.items():
            lock = step.event.lock
            if thread in drawn or lock is None or lock not in self.lane_id or lock in self.color:
                continue
            row = self._tail_row(thread)
            ends = (self.cell(thread, row), self.cell(lock, row))
            if (thread, lock) in self.in_cycle:
                yield _edge(*ends, penwidth=2.5, **self._waits(thread, lock=lock))
            else:
                yield _edge(*ends, style="dashed", **self._waits(thread))
        if self.cx.cycle and self.cx.property == "deadlock":
            text = f"deadlock, {waits_chain(self.cx.cycle)}"
            waiters = [edge.waiter for edge in self.cx.cycle if edge.waiter in self.lanes]
            anchor = next(iter(waiters), self.lanes[0])
        else:
            text = f"{self.cx.property}: {self.cx.message}"
            anchor = next((s.thread for s in reversed(self.cx.steps)), self.lanes[0])
        label = _wrap(text, 70)
        data = self._final_data()
        if data:
            label += "\n\nat the end:\n" + "\n".join(data)
        yield _node(
            "violation",
            shape="box",
            style="filled",
            fillcolor="#ffdddd",
            color=VIOLATION,
            label=label,
        )
        yield _edge(self.cell(anchor, self.last), "violation", color=VIOLATION, penwidth=2)

    def _legend(self) -> list[str]:
        """A key beside the violation to what the chart draws, each element
        only when the chart has it."""
        entries = [_legend_entry(swatch, text) for swatch, text in self._legend_entries()]
        table = (
            '<TABLE BORDER="1" COLOR="#bbbbbb" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
            + "".join(entries)
            + "</TABLE>"
        )
        return [
            f"  legend [shape=plaintext, fontsize=9, label=<{table}>];",
            "  { rank=same; violation; legend }",
        ]

    def _legend_entries(self) -> Iterator[tuple[str, str]]:
        held = [holders for state in self.held_after for holders in state.values() if holders]
        first = next((hs[0] for hs in held if hs[0] in self.color), self.threads[0])
        if any(len(hs) == 1 and hs[0] in self.color for hs in held):
            yield _bar(self.color[first]), "lock held, in its holder's colour (dotted: free)"
        shared = next((hs for hs in held if len(hs) > 1), None)
        if shared is not None:
            colors = [self.color.get(h, HANDED_OFF_COLOR) for h in shared[:2]]
            yield _bar(*colors), "held shared by several"
        if any(HANDED_OFF in hs for hs in held):
            yield _bar(HANDED_OFF_COLOR), "handed off: held by no thread"
        if self.held_by_the_cycle:
            holder = next(iter(self.held_by_the_cycle.values()))[0]
            yield (
                _bar(self.color[holder]),
                "what the cycle waits for, no step shows taken: held from its holder's last step",
            )
        kinds = {row.step.event.kind if len(row.steps) == 1 else "" for row in self.rows}
        if kinds & set(LOCK_EVENTS):
            yield _box("rounded"), "a step that takes, waits for or lets go a lock"
        if kinds - {*LOCK_EVENTS, "error"}:
            yield _box(""), "any other step"
        if self.waiting:
            yield _box("rounded,dashed"), "where a blocked thread waits (not run)"
        numbers = [n for row in self.rows for n in row.keys]
        marked = any(n in self.marks.changed for n in numbers)
        if marked or self.marks.blocked:
            notes = [*self.marks.changed.values(), *self.marks.blocked.values()]
            moved = ", moved" if any(note.startswith("moved") for note in notes) else ""
            gap = (
                ", or that run where it removed one"
                if any(n in self.marks.after_removed for n in numbers)
                else ""
            )
            yield (
                _box("", MARKED, MARKED_BORDER),
                f"yellow: steps the variant added{moved} or changed{gap}",
            )
        elif any(n in self.marks.after_removed for n in numbers):
            yield (
                _box("", MARKED, MARKED_BORDER),
                "yellow: steps that run where the variant removed one",
            )
        yield _box("", "#ffdddd", VIOLATION), "the violation"
        if any(row.step.event.kind in ("acquire", "release") for row in self.rows):
            yield _arrow(self.color[first], "solid"), "takes a lock (dashed: lets it go)"
        if (
            any(row.step.event.kind == "wait" for row in self.rows)
            or any(row.step.event.kind == "error" and row.step.event.lock for row in self.rows)
            or self.cx.cycle
            or any(step.event.lock in self.lane_id for step in self.waiting.values())
        ):
            thick = " (thick: the waits of the cycle)" if self.in_cycle else ""
            yield _arrow(VIOLATION, "dashed"), f"waits for a lock{thick}"


def _legend_entry(swatch: str, text: str) -> str:
    said = html.escape(text, quote=False)
    return f'<TR><TD ALIGN="CENTER">{swatch}</TD><TD ALIGN="LEFT">{said}</TD></TR>'


def _bar(*colors: str) -> str:
    """A lock lane's bar, for the legend (an HTML-like label's cell): of one
    colour, or split into the colours of holders sharing the lock."""
    width = 5 if len(colors) == 1 else 3
    cells = "".join(
        f'<TD BGCOLOR="{color}" WIDTH="{width}" HEIGHT="12" FIXEDSIZE="TRUE"></TD>'
        for color in colors
    )
    return f'<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>{cells}</TR></TABLE>'


def _box(style: str, fill: str = "white", border: str = "#555555") -> str:
    """A step's box, for the legend."""
    styled = f' STYLE="{style}"' if style else ""
    return (
        f'<TABLE BORDER="1"{styled} COLOR="{border}" BGCOLOR="{fill}" CELLBORDER="0"'
        ' CELLSPACING="0">'
        '<TR><TD WIDTH="22" HEIGHT="10" FIXEDSIZE="TRUE"></TD></TR></TABLE>'
    )


def _arrow(color: str, style: str) -> str:
    """An arrow, for the legend."""
    return f'<FONT COLOR="{color}">{"- - &gt;" if style == "dashed" else "--&gt;"}</FONT>'


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def to_dot(
    counterexample: Counterexample, marks: VariantMarks | None = None, caveat: str | None = None
) -> str:
    """The chart as DOT source; ``caveat`` (the trace does not replay on
    today's models, and why) is printed under its title."""
    return _Chart(counterexample, marks, caveat).dot()


def pipe(source: str, fmt: str, path: Path | str = "chart") -> bytes:
    """DOT ``source`` rendered by graphviz in format ``fmt`` (``path``
    names the file in errors)."""
    if shutil.which("dot") is None:
        raise GraphError(
            f"{path}: graphviz's 'dot' program is not installed (apt-get install graphviz)"
        )
    import graphviz

    try:
        text = source.encode("utf-8", "backslashreplace").decode()
        data: bytes = graphviz.Source(text).pipe(format=fmt, quiet=True)
    except graphviz.CalledProcessError as error:
        said = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        reason = said[0] if said else f"exit status {error.returncode}"
        raise GraphError(f"{path}: dot failed: {reason}") from None
    except (graphviz.ExecutableNotFound, OSError) as error:
        raise GraphError(f"{path}: dot failed: {error}") from None
    if not data:
        raise GraphError(f"{path}: dot failed: it wrote nothing")
    return data


def chart_format(path: Path) -> str:
    """The format the suffix of ``path`` asks for (.dot, .svg, .png); any
    other is a ``GraphError``."""
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise GraphError(
            f"{path}: the name's suffix gives the chart's format: name it "
            "FILE.dot, FILE.svg or FILE.png"
        )
    if fmt not in FORMATS:
        raise GraphError(f"unsupported graph format {path.suffix!r}: use .dot, .svg or .png")
    return fmt


def render(
    counterexample: Counterexample,
    path: Path,
    marks: VariantMarks | None = None,
    caveat: str | None = None,
) -> None:
    """Write the chart to ``path``; the suffix (.dot, .svg, .png) picks the
    format.  The file is written atomically."""
    fmt = chart_format(path)
    source = to_dot(counterexample, marks, caveat)
    if fmt == "dot":
        write_atomically(path, source, errors="backslashreplace")
        return
    refuse_unwieldy(counterexample, path)
    write_atomically(path, pipe(source, fmt, path))


def refuse_unwieldy(counterexample: Counterexample, path: Path | None = None) -> None:
    """A ``GraphError`` when the trace has more steps than graphviz lays
    out in reasonable time (``LAID_OUT_AT_MOST``); ``path`` names the
    chart."""
    steps = len(counterexample.steps)
    if steps > LAID_OUT_AT_MOST:
        said = "" if path is None else f"{path}: "
        raise GraphError(
            f"{said}the trace has {steps:,} steps, and graphviz lays out at most "
            f"{LAID_OUT_AT_MOST:,} in reasonable time ('vfsmc graph' writes the chart's DOT "
            "source to FILE.dot; 'vfsmc replay' prints a trace of any length)"
        )
