"""The counterexample chart (``vfsmc graph``) and page (``vfsmc report``)
as a reader sees them: text from the trace escaped, widths set by the
lanes and not by a long line, a legend of what is drawn, locks held from
the initial state, lanes named again down a tall chart, and a trace of
an unknown scenario or variant drawn as the README says."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from click.testing import Result

from mc.check.marks import variant_marks
from mc.dsl.scenario import Registry
from mc.trace import format as cx_format
from mc.trace import report as render_report
from mc.trace.graph import HEADER_EVERY, MARKED, _Chart, pipe, to_dot

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "counterexamples"
CHILD_FIRST = SHIPPED / "dirops-rename-rmdir-link--child-first.json"
FIND_ALIAS = SHIPPED / "dcache-dput-vs-find-alias--lock-for-kill-spins.json"
STORE_PAST_EOF = SHIPPED / "writeback-store-past-eof-extend--writeback-skips-eof-zero.json"
AIO_WRITE = SHIPPED / "dio-aio-write-vs-punch--no-dio-wait.json"

needs_graphviz = pytest.mark.skipif(
    shutil.which("dot") is None, reason="graphviz's dot is not installed"
)

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 control characters (but for line breaks and tabs, which an
SVG or HTML page's own markup holds) and bidirectional marks and overrides."""


def _svg_width(counterexample: cx_format.Counterexample, caveat: str | None = None) -> float:
    svg = pipe(to_dot(counterexample, caveat=caveat), "svg").decode()
    found = re.search(r'<svg width="([\d.]+)pt"', svg)
    assert found is not None
    return float(found.group(1))


def _with_controls(counterexample: cx_format.Counterexample) -> cx_format.Counterexample:
    """``counterexample`` with ESC, BEL, a C1 control and a right-to-left
    override in a label, the message, a thread's operation and a value."""
    steps = list(counterexample.steps)
    steps[0] = attrs.evolve(
        steps[0],
        label="\x1b[31mred\x1b[0m \x07 \u202eevil",
        changed={**steps[0].changed, "note": "v\x85\x1b"},
    )
    (name, operation), *others = counterexample.threads
    return attrs.evolve(
        counterexample,
        steps=tuple(steps),
        message=counterexample.message + " \x1b]0;title\x07",
        threads=((name, operation + "\u202e\x1b"), *others),
    )


@needs_graphviz
def test_control_characters_from_the_trace_are_escaped_in_the_chart_and_the_page() -> None:
    counterexample = _with_controls(cx_format.load(CHILD_FIRST))
    dot = to_dot(counterexample, caveat="edited \x1b[2J")
    assert not CONTROL.search(dot)
    assert "\\\\x1b[31mred" in dot and "\\\\u202eevil" in dot
    svg = pipe(dot, "svg").decode()
    ElementTree.fromstring(svg)
    assert not CONTROL.search(svg)
    assert "\\x1b[31mred" in svg
    data = render_report.report_data(counterexample, None, model_note="note \x1b")
    page = render_report.render_html(data, svg)
    assert not CONTROL.search(page)
    assert "\\x1b[31mred" in page and "\\u202eevil" in page


@needs_graphviz
def test_a_long_title_line_or_label_does_not_set_the_chart_s_width() -> None:
    """A `NOT REPLAYED:` line of 190 characters leaves a two-thread chart
    as wide as it is without it; a label of 5,000 characters without a
    space is broken into lines, not drawn 10,000 points wide."""
    counterexample = cx_format.load(FIND_ALIAS)
    assert len(counterexample.threads) == 2
    width = _svg_width(counterexample)
    assert width < 1000
    caveat = "this trace does not replay on today's models (" + "step 3 moved " * 13 + ")"
    assert len(caveat) > 180
    assert _svg_width(counterexample, caveat) == width
    steps = list(counterexample.steps)
    steps[0] = attrs.evolve(steps[0], label="x" * 5000)
    assert _svg_width(attrs.evolve(counterexample, steps=tuple(steps))) < 1.2 * width


def _legend(dot: str) -> str:
    [line] = [line for line in dot.splitlines() if line.startswith("  legend [")]
    return line


def test_the_legend_names_what_the_chart_draws_and_nothing_else(shipped: Registry) -> None:
    deadlock = cx_format.load(CHILD_FIRST)
    legend = _legend(to_dot(deadlock, variant_marks(shipped, deadlock)))
    for drawn in (
        "lock held, in its holder's colour (dotted: free)",
        "a step that takes, waits for or lets go a lock",
        "any other step",
        "yellow: steps the variant added or changed",
        "the violation",
        "takes a lock (dashed: lets it go)",
        "waits for a lock (thick: the waits of the cycle)",
    ):
        assert drawn in legend, drawn
    for absent in ("held shared", "handed off", "where a blocked thread waits"):
        assert absent not in legend, absent
    assert "yellow" not in _legend(to_dot(deadlock))
    handed = _legend(to_dot(cx_format.load(AIO_WRITE)))
    assert "handed off: held by no thread" in handed
    assert "(thick:" not in handed


def test_a_lock_held_in_the_initial_state_is_drawn_held_from_the_top() -> None:
    """The completion thread holds hardirq from the initial state and lets
    it go at the last step: its lane is its colour's bar from the header
    down to that release."""
    counterexample = cx_format.load(STORE_PAST_EOF)
    chart = _Chart(counterexample)
    assert all(state["hardirq"] == ["T2"] for state in chart.held_after[:-1])
    assert chart.held_after[-1]["hardirq"] == []
    lane = chart.lane_id["hardirq"]
    first = next(
        line for line in chart.dot().splitlines() if line.startswith(f"  {lane}_0 -> {lane}_1 ")
    )
    assert f'color="{chart.color["T2"]}", penwidth="5"' in first


def test_a_tall_chart_names_its_lanes_again_every_so_many_rows() -> None:
    tall = _Chart(cx_format.load(STORE_PAST_EOF))
    dot = tall.dot()
    again = sorted(int(n) for n in re.findall(r"^\s+step_h(\d+) \[", dot, re.M))
    assert again == list(range(HEADER_EVERY, tall.last - HEADER_EVERY // 4, HEADER_EVERY))
    assert len(again) >= 2
    for lane, lane_id in tall.lane_id.items():
        assert f'{lane_id}_h{HEADER_EVERY} [group="{lane_id}"' in dot
        assert f'label="{lane}"' in dot
    short = to_dot(cx_format.load(CHILD_FIRST))
    assert "step_h" not in short


def test_a_trace_of_an_unknown_scenario_or_variant_is_drawn_with_a_warning(
    vfsmc: Run, tmp_path: Path
) -> None:
    """What the README says: replay refuses it (exit 2), graph and report
    draw it as recorded, with a warning and NOT REPLAYED, and exit 0."""
    recorded = json.loads(CHILD_FIRST.read_text())
    recorded.pop("digest")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "or names a scenario or variant today's models do not declare" in readme
    for field, value, said in (
        ("scenario", "dirops/no-such", "unknown scenario 'dirops/no-such'"),
        ("variants", ["no-such-variant"], "unknown variant 'no-such-variant'"),
    ):
        (tmp_path / "odd.json").write_text(json.dumps({**recorded, field: value}))
        replayed = vfsmc("replay", "odd.json")
        assert replayed.exit_code == 2 and said in replayed.output, replayed.output
        drawn = vfsmc("graph", "odd.json", "-o", "odd.dot")
        assert drawn.exit_code == 0, drawn.output
        assert "vfsmc: warning: odd.json:" in drawn.output and said in drawn.output
        assert '"NOT REPLAYED: ' in (tmp_path / "odd.dot").read_text()
        page = vfsmc("report", "odd.json", "-o", "odd.html")
        assert page.exit_code == 0, page.output
        assert "vfsmc: warning: odd.json:" in page.output and said in page.output


def test_a_wait_of_the_cycle_on_a_lane_no_step_shows_held_names_the_holder() -> None:
    """A POSIX lock is made by an insertion into flc_posix, not taken as a
    lock, so its lane stays empty: the cycle's arrow into it names who
    holds it; an i_rwsem lane shows its holder and its arrow does not."""
    posix = cx_format.load(SHIPPED / "filelock-posix-abba--posix-skips-deadlock-check.json")
    dot = to_dot(posix)
    assert 'headlabel="T1 waits\\n(held by T2)"' in dot
    assert 'headlabel="T2 waits\\n(held by T1)"' in dot
    labels = re.findall(r'headlabel="[^"]*"', to_dot(cx_format.load(CHILD_FIRST)))
    assert labels and not any("held by" in label for label in labels)


def test_a_work_the_cycle_waits_for_is_drawn_held_from_its_worker_s_last_step() -> None:
    """flush_delayed_work() waits for the release worker, which no step
    takes as a lock: the lane of the work is the worker's bar from the
    worker's last row down, free above it, and the legend says why."""
    frozen = SHIPPED / (
        "quota-evict-vs-frozen-qsync--quota-release-worker--release-dquot-freeze-protected.json"
    )
    chart = _Chart(cx_format.load(frozen))
    [(worker, since)] = chart.held_by_the_cycle.values()
    lane = "quota_release_work to finish"
    assert chart.rows[since - 1].step.thread == worker
    assert all(state[lane] == [] for state in chart.held_after[:since])
    assert all(state[lane] == [worker] for state in chart.held_after[since:])
    dot = chart.dot()
    assert f'color="{chart.color[worker]}", penwidth="5"' in next(
        line for line in dot.splitlines() if line.startswith(f"  {chart.lane_id[lane]}_{since} ->")
    )
    assert "no step shows taken: held from its holder's last step" in _legend(dot)
    posix = _Chart(cx_format.load(SHIPPED / "filelock-posix-abba--posix-skips-deadlock-check.json"))
    assert posix.held_by_the_cycle and 'headlabel="T1 waits\\n(held by T2)"' in posix.dot()
    assert not _Chart(cx_format.load(CHILD_FIRST)).held_by_the_cycle


def test_waits_that_close_no_cycle_are_drawn_thin_and_the_legend_says_no_cycle() -> None:
    """A deadlock whose waits end at a returned thread has no cycle: its
    waits are dashed, not the thick arrows of a cycle."""
    closed = cx_format.load(CHILD_FIRST)
    assert 'penwidth="2.5"' in to_dot(closed)
    open_ended = attrs.evolve(closed, cycle=closed.cycle[:1])
    dot = to_dot(open_ended)
    assert 'penwidth="2.5"' not in dot
    assert "thick: the waits of the cycle" not in dot


def test_line_breaks_and_tabs_from_the_trace_are_shown_escaped_as_replay_shows_them() -> None:
    """A label or message of the trace holding a newline, a tab or a
    carriage return draws them as ``\\n``, ``\\t``, ``\\r``, as ``vfsmc
    replay`` prints them, not as a line break or a space."""
    counterexample = cx_format.load(CHILD_FIRST)
    steps = list(counterexample.steps)
    steps[0] = attrs.evolve(steps[0], label="one\ntwo\tthree\rfour")
    edited = attrs.evolve(counterexample, steps=tuple(steps), message="first\nsecond")
    dot = to_dot(edited)
    assert r"one\\ntwo\\tthree\\rfour" in dot
    assert r"first\\nsecond" in dot


def test_the_step_that_runs_where_a_variant_removed_one_is_yellow_and_says_so(
    shipped: Registry,
) -> None:
    unlocked = cx_format.load(SHIPPED / "attr-chmod-link-unlink--setattr-unlocked.json")
    marks = variant_marks(shipped, unlocked)
    assert not marks.changed
    assert marks.after_removed == {
        1: "setattr-unlocked removed 'inode_lock_killable(inode)' before it"
    }
    dot = to_dot(unlocked, marks)
    [box] = [line for line in dot.splitlines() if "setattr-unlocked removed" in line]
    assert "inode->i_op->setattr" in box
    [number] = [line for line in dot.splitlines() if 'id="chart-step-1"' in line]
    assert f'fillcolor="{MARKED}"' in number
    assert "yellow: steps that run where the variant removed one" in _legend(dot)
    claim = cx_format.load(SHIPPED / "bdev-rescan-vs-open--rescan-without-claim.json")
    [note] = variant_marks(shipped, claim).after_removed.values()
    assert note == (
        "rescan-without-claim removed 'bd_prepare_to_claim(): mutex_lock(&bdev_lock)' "
        "and 8 more steps before it"
    )


OWN_MAPPING = SHIPPED / "writeback-write-from-own-mapping--copy-faults-under-folio-lock.json"


def test_a_step_the_threads_run_as_they_start_is_yellow_when_a_variant_changed_it(
    shipped: Registry,
) -> None:
    """The trace of ``copy-faults-under-folio-lock`` runs one of the moved
    steps as the threads start (a row 0): it is yellow there, and the
    title does not call the variant's steps unreached."""
    moved = cx_format.load(OWN_MAPPING)
    marks = variant_marks(shipped, moved)
    assert marks.changed[-3] == "moved by copy-faults-under-folio-lock"
    assert -1 not in marks.changed and -2 not in marks.changed
    assert not marks.unreached
    rows = _Chart(moved, marks).rows
    assert [row.keys for row in rows[:3]] == [(-1,), (-2,), (-3,)]
    lines = to_dot(moved, marks).splitlines()
    [box] = [line for line in lines if line.strip().startswith("l0_3 [")]
    assert f'fillcolor="{MARKED}"' in box
    [first] = [line for line in lines if line.strip().startswith("l0_1 [")]
    assert f'fillcolor="{MARKED}"' not in first


def test_a_thread_that_takes_a_lock_it_holds_has_a_wait_arrow_to_that_lock() -> None:
    self_wait = cx_format.load(OWN_MAPPING)
    last = self_wait.steps[-1]
    assert last.event.kind == "error" and last.event.lock == "PG_locked(/f:0#0)", last
    chart = _Chart(self_wait)
    lane, row = chart.lane_id[last.event.lock], len(chart.rows)
    dot = to_dot(self_wait)
    assert re.search(rf'l0_{row} -> {lane}_{row} \[[^\]]*style="dashed"[^\]]*T1 waits', dot)
    assert "waits for a lock" in _legend(dot)


def test_a_step_a_variant_writes_again_under_its_label_is_not_called_removed(
    shipped: Registry,
) -> None:
    """``deleg-break-takes-fi_lock`` turns the ->lm_break call into an entry
    into it, on another model line under the same label: the step still
    runs, yellow, and the title does not say the variant removed it."""
    trace = cx_format.load(
        SHIPPED / "filelock-release-lockowner-vs-deleg-break--deleg-break-takes-fi_lock.json"
    )
    marks = variant_marks(shipped, trace)
    assert not marks.removed
    [(number, note)] = marks.changed.items()
    assert trace.steps[number - 1].label.endswith("/* nfsd_break_deleg_cb() */")
    assert note == "added by deleg-break-takes-fi_lock"
