"""Every shipped counterexample replays under the variants it records and
stops on the correct protocol; its graph renders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from mc.check import expectations
from mc.check.checker import file_stem
from mc.check.marks import variant_marks
from mc.check.replay import ReplayReport, replay
from mc.dsl.scenario import Registry
from mc.trace import format as cx_format
from mc.trace.graph import HANDED_OFF_COLOR, VIOLATION, _Chart, to_dot
from mc.trace.text import render as render_text

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "counterexamples").glob("*.json"))


def test_every_expected_violation_has_a_shipped_counterexample() -> None:
    names = {path.stem for path in SHIPPED}
    for row in expectations.load():
        if row.violated:
            assert file_stem(row.scenario, row.variants) in names, row.label


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_replays_with_its_variants_and_not_without(shipped: Registry, path: Path) -> None:
    counterexample = cx_format.load(path)
    scenario = shipped.scenario(counterexample.scenario)
    broken = shipped.build(scenario, counterexample.variants, counterexample.properties)
    report = replay(broken, counterexample)
    assert report.reproduced, report.reason
    assert report.replayed == len(counterexample.steps)
    assert report.moved == (), "model lines moved: python -m mc.cli.shipped saves it again"
    correct = shipped.build(scenario, (), counterexample.properties)
    report = replay(correct, counterexample)
    assert not report.reproduced
    if report.stopped_at is None:  # a deadlock whose blocked step is the one the variant moved
        assert report.replayed == len(counterexample.steps)
        assert report.reason.startswith("every step replays but the last state does not violate")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_graph_matches_the_trace(shipped: Registry, path: Path) -> None:
    counterexample = cx_format.load(path)
    marks = variant_marks(shipped, counterexample)
    assert path.with_suffix(".dot").read_text() == to_dot(counterexample, marks)
    assert path.with_suffix(".svg").exists()


def test_a_change_the_trace_does_not_reach_is_named_in_the_title(shipped: Registry) -> None:
    """expire-lock-under-flc_lock moves spin_unlock(&ctx->flc_lock) past
    the step the trace ends at, so no step is yellow; the title says what
    it moved, and that this trace does not reach it, whether the trace
    replays or not (a label edited); a variant whose steps are yellow gets
    no such line."""
    path = ROOT / "counterexamples" / "filelock-courtesy-lock--expire-lock-under-flc_lock.json"
    counterexample = cx_format.load(path)
    said = (
        "variant expire-lock-under-flc_lock moves T1 'spin_unlock(&ctx->flc_lock)' "
        "(models/filelock.py:"
    )
    for cx in (counterexample, _edited(counterexample)):
        marks = variant_marks(shipped, cx)
        assert not marks.changed and not marks.blocked
        [unreached] = marks.unreached
        assert unreached.startswith(said), unreached
        title = to_dot(cx, marks).split("\n  labelloc=t;")[0].replace("\\n", " ")
        assert f"{unreached} (not reached in this trace)" in title
    shown = cx_format.load(
        ROOT / "counterexamples" / "dcache-automount--d-manage-blocks-in-rcu.json"
    )
    marks = variant_marks(shipped, shown)
    assert marks.changed and marks.unreached == ()
    assert "not reached" not in to_dot(shown, marks)


ALIAS_STATE = """
from mc.dsl import EXCL, Op, flag_variant, operation, scenario
from mc.models.dcache import d_find_alias, dput, inode_i_lock
from mc.models.dentry import dentry_object

flag_variant("myfs-dlock-then-ilock", "d_lock, then a blocking spin_lock(i_lock)")


@operation(models="myfs_dentry_inode_state()")
def myfs_dentry_inode_state(op: Op, path: str) -> None:
    d_lock = dentry_object(op.world, path).d_lock
    i_lock = inode_i_lock(op.world, path)
    if op.variant("myfs-dlock-then-ilock"):
        op.lock(d_lock, EXCL, "spin_lock(&dentry->d_lock)")
        op.lock(i_lock, EXCL, "spin_lock(&inode->i_lock)")
    else:
        op.lock(i_lock, EXCL, "spin_lock(&inode->i_lock)")
        op.lock(d_lock, EXCL, "spin_lock(&dentry->d_lock)")
    op.unlock(d_lock, "spin_unlock(&dentry->d_lock)")
    op.unlock(i_lock, "spin_unlock(&inode->i_lock)")


scenario("my/inode-state-vs-find-alias", "myfs's inode state against d_find_alias() and dput()",
         tree=["/a/", "/a/x"],
         threads=[myfs_dentry_inode_state("/a/x"), d_find_alias("/a/x"), dput("/a/x")])
"""


@pytest.mark.usefixtures("own_models")
def test_a_model_file_moved_since_the_trace_keeps_its_marks(
    vfsmc: Callable[..., Any], tmp_path: Path
) -> None:
    """The marks replay the trace on the scenario built with the
    properties it was checked with: built with the violated one alone,
    dput()'s lockref step runs along with the next (nothing else reads
    what it changes), the replay stops there, and the marks fell back to
    the recorded model lines, which name the file where it was; drawn
    with the file moved (--models), T1's changed lock step was not yellow."""
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "alias_state.py").write_text(ALIAS_STATE)
    ran = vfsmc(
        "check", "my/inode-state-vs-find-alias", "-V", "myfs-dlock-then-ilock",
        "--models", "old/alias_state.py", "--out", "cx",
    )  # fmt: skip
    assert ran.exit_code == 1, ran.output
    (tmp_path / "old").rename(tmp_path / "new")
    [saved] = (tmp_path / "cx").glob("*.json")
    drawn = vfsmc("graph", str(saved), "--models", "new/alias_state.py", "-o", "chart.dot")
    assert drawn.exit_code == 0, drawn.output
    [first] = [
        line
        for line in (tmp_path / "chart.dot").read_text().splitlines()
        if 'id="chart-step-1"' in line
    ]
    assert 'fillcolor="#fff2b3"' in first, first
    assert "not reached" not in (tmp_path / "chart.dot").read_text()


def _edited(counterexample: cx_format.Counterexample) -> cx_format.Counterexample:
    """``counterexample`` with its first step's label changed: it no longer
    replays."""
    steps = list(counterexample.steps)
    steps[0] = attrs.evolve(steps[0], label="something else")
    return attrs.evolve(counterexample, steps=tuple(steps))


def test_round_trip_through_json() -> None:
    counterexample = cx_format.load(SHIPPED[0])
    assert cx_format.from_json(counterexample.to_json()) == counterexample


def test_a_trace_that_diverges_names_its_step(shipped: Registry) -> None:
    path = ROOT / "counterexamples" / "dirops-opposite-renames--no-rename-mutex.json"
    counterexample = cx_format.load(path)
    steps = list(counterexample.steps)
    steps[3] = attrs.evolve(steps[3], label="something else")
    edited = attrs.evolve(counterexample, steps=tuple(steps))
    model = shipped.build(shipped.scenario(edited.scenario), edited.variants, edited.properties)
    report = replay(model, edited)
    assert not report.reproduced and report.stopped_at == 4


def test_the_steps_threads_run_as_they_start_are_recorded_and_shown(shipped: Registry) -> None:
    """write(2)'s sb_start_write() in a scenario with no freezer is a read
    side no thread contends, and its inode's i_rwsem a lock no other thread
    takes: they run with the initial state, before any choice, up to the
    first step another thread may see.  The counterexample records them,
    its text and its chart show them before step 1, so the chart's
    sb_writers lane has the acquisition its release at file_end_write()
    ends."""
    path = ROOT / "counterexamples" / "aops-migrate-vs-write--migrate-dst-unlocked.json"
    counterexample = cx_format.load(path)
    model = shipped.build(
        shipped.scenario(counterexample.scenario),
        counterexample.variants,
        counterexample.properties,
    )
    assert tuple(model.started_records()) == counterexample.started
    started = [(s.thread, s.event.kind, s.event.lock) for s in counterexample.started]
    assert started[:2] == [("T2", "acquire", "sb_writers"), ("T2", "acquire", "i_rwsem(/f)")]
    assert cx_format.from_json(counterexample.to_json()) == counterexample
    text = render_text(counterexample)
    shown = text.split("as the threads start (in the initial state, before any choice):\n")[1]
    assert shown.startswith("  0  T2  vfs_write(): file_start_write(file): sb_start_write(")
    assert "sb_writers = T2 shared" in shown.split("\n  1  ")[0]
    assert shown.split("\n  1  ")[0].endswith("\n\nthen, the interleaving:")
    dot = to_dot(counterexample, variant_marks(shipped, counterexample))
    assert 'id="chart-step-0"' in dot and "sb_start_write" in dot.split("chart-step-1")[0]


def test_a_started_step_that_is_no_step_is_a_format_error() -> None:
    data = cx_format.load(SHIPPED[0]).to_json()
    data["started"] = [{"thread": "T1"}]
    with pytest.raises(cx_format.FormatError, match=r"started\[0\]"):
        cx_format.from_json(data)


def test_an_error_step_s_box_says_its_code_once() -> None:
    """A step that records an error with its own label as the event's text
    showed the label twice in its chart box."""
    path = ROOT / "counterexamples" / "attr-chmod-link-unlink--setattr-unlocked.json"
    counterexample = cx_format.load(path)
    error = next(step for step in counterexample.steps if step.event.kind == "error")
    assert error.event.text == error.label
    box = next(
        line
        for line in to_dot(counterexample).splitlines()
        if "#ffdddd" in line and "l" in line.split()[0]
    )
    assert box.count("inode->i_op->setattr(") == 1, box


def test_a_computed_value_is_said_once_in_its_box() -> None:
    """A step whose event is the value it computed (``T1.full = False``)
    listed that value again among what it changed."""
    path = (
        ROOT
        / "counterexamples"
        / ("quota-sync-vs-chown-commit--write-dquot-locks-before-handle.json")
    )
    counterexample = cx_format.load(path)
    computed = next(step for step in counterexample.steps if step.event.text == "T1.full = False")
    assert computed.changed == {"T1.full": "False"}
    boxes = [line for line in to_dot(counterexample).splitlines() if "T1.full = False" in line]
    assert boxes and all(box.count("T1.full = False") == 1 for box in boxes), boxes


def _on_the_correct_protocol(shipped: Registry, stem: str) -> ReplayReport:
    """The shipped counterexample ``stem`` replayed without its variants."""
    counterexample = cx_format.load(next(p for p in SHIPPED if p.stem == stem))
    scenario = shipped.scenario(counterexample.scenario)
    return replay(shipped.build(scenario, (), counterexample.properties), counterexample)


def test_the_correct_protocol_s_other_way_is_said_in_kernel_code(shipped: Registry) -> None:
    """Where the correct protocol goes another way at a step the trace ran
    with the step before it, the reason names the kernel code each goes
    to (the lock the variant moved), not how steps are grouped."""
    report = _on_the_correct_protocol(
        shipped, "aops-memory-failure-vs-read--memory-failure-unlocked"
    )
    assert not report.reproduced and report.stopped_at == 3
    assert report.reason == (
        "after 'if (!folio) /* not a page-cache page */', T1 now goes to 'folio_lock(folio)', "
        "where the trace went to 'if (!folio_mapping(folio)) /* truncated */'"
    )


def test_a_step_the_correct_protocol_runs_along_is_named(shipped: Registry) -> None:
    """Where today's model runs a thread-local step along with the trace's
    step and the trace did not, the reason names the step it goes on to."""
    report = _on_the_correct_protocol(shipped, "truncate-shrink-store-extend--no-tail-zeroing")
    assert not report.reproduced and report.stopped_at == 4
    assert report.reason == (
        "after 'filemap_invalidate_lock(inode->i_mapping)', T1 now goes on at once to "
        "'if (!shrink)', which the trace did not run there"
    )


def test_a_trace_cut_inside_an_atomic_step_says_so(shipped: Registry) -> None:
    """A trace cut by hand between a step and the thread-local step it runs
    along with ends where no search stops; replay names the step the
    thread goes on to, and that the cut is inside one atomic step."""
    path = ROOT / "counterexamples" / "aops-memory-failure-vs-read--memory-failure-unlocked.json"
    counterexample = cx_format.load(path)
    cut = next(n for n, step in enumerate(counterexample.steps) if step.chained)
    counterexample = attrs.evolve(counterexample, steps=counterexample.steps[:cut])
    scenario = shipped.scenario(counterexample.scenario)
    model = shipped.build(scenario, counterexample.variants, counterexample.properties)
    report = replay(model, counterexample)
    assert not report.reproduced and report.stopped_at == cut
    assert report.reason.startswith(
        f"the trace ends after '{counterexample.steps[cut - 1].label}', but T1 goes on at once "
        "to 'if (!folio) /* not a page-cache page */' in the same atomic step"
    )


def test_a_deadlock_s_box_hangs_from_a_thread_of_its_cycle(shipped: Registry) -> None:
    """The chart's deadlock box is tied to the lane of a thread that waits
    in the cycle, not to the first lane whatever it does."""
    path = ROOT / "counterexamples" / "writeback-write-during-completion--mark-dirty-irqs-on.json"
    counterexample = cx_format.load(path)
    waiters = {edge.waiter for edge in counterexample.cycle}
    assert "T1" not in waiters
    lanes = [name for name, _operation in counterexample.threads]
    tie = next(line for line in to_dot(counterexample).splitlines() if "-> violation" in line)
    assert tie.split()[0].split("_")[0] in {f"l{lanes.index(w)}" for w in waiters}, tie


def test_a_saved_file_carries_the_digest_of_its_fields() -> None:
    """Every shipped counterexample is as vfsmc saved it; a field changed
    by hand no longer gives the digest, and without one nothing is said."""
    import json

    for path in SHIPPED:
        assert not cx_format.load(path).edited, path.name
    data = json.loads(SHIPPED[0].read_text())
    data["message"] += " (edited)"
    assert cx_format.from_json(data).edited
    del data["digest"]
    assert not cx_format.from_json(data).edited
    data["digest"] = 7
    with pytest.raises(cx_format.FormatError, match="field 'digest' must be a string"):
        cx_format.from_json(data)


def test_a_lock_handed_to_the_io_completion_is_drawn_on_its_holder() -> None:
    """A buffer's BH_Lock passes to the completion thread when its bio is
    submitted and is freed by b_end_io, both by effects, not lock steps: the
    chart's lane follows it (the submitter's colour, then the completion
    thread's).  A read's folio lock, which only effects ever change, still
    gets a lane, and a handed-off lock is drawn held by no thread."""
    path = ROOT / "counterexamples" / "buffer-two-updaters--bread-skips-uptodate-recheck.json"
    chart = _Chart(cx_format.load(path))
    lane = chart.lane_id["BH_Lock(block 7)"]
    colours = [
        line.split('color="')[1].split('"')[0]
        for line in chart._lane_segments()
        if line.lstrip().startswith(f"{lane}_") and "penwidth" in line
    ]
    assert colours[0] == chart.color["T1"] and chart.color["T3"] in colours
    read = ROOT / "counterexamples" / "writeback-read-write-reclaim--writepage-drops-page.json"
    assert "PG_locked(/f:0#0)" in _Chart(cx_format.load(read)).lanes
    aio = ROOT / "counterexamples" / "dio-aio-write-vs-read--dio-no-post-invalidate.json"
    aio_chart = _Chart(cx_format.load(aio))
    lane = aio_chart.lane_id["sb_writers"]
    assert any(
        line.lstrip().startswith(f"{lane}_") and HANDED_OFF_COLOR in line
        for line in aio_chart._lane_segments()
    )


def test_a_lock_an_effect_takes_or_hands_on_keeps_its_row_and_arrow() -> None:
    """The readahead's __folio_set_locked() takes the new folio's lock and
    its bio hands it to the completion, both in effects: the long chart
    folds neither step into a run, and draws an arrow from each into the
    lock's lane (solid where the thread takes it, dashed where it hands it
    on)."""
    path = ROOT / "counterexamples" / "truncate-punch-vs-fault--pre-invalidate-lock.json"
    chart = _Chart(cx_format.load(path))
    lock = "PG_locked(/f:0#0)"
    rows = [index for index, row in enumerate(chart.rows, start=1) if lock in row.step.changed]
    assert rows and all(len(chart.rows[i - 1].steps) == 1 for i in rows), rows
    edges = [line for line in chart._lock_edges() if f"-> {chart.lane_id[lock]}_" in line]
    assert len(edges) == len(rows)
    assert "dashed" not in edges[0] and "dashed" in edges[-1], edges


def test_a_wait_behind_a_queued_writer_is_said_so() -> None:
    """The jbd2 commit, a writer queued on the journal, keeps a new handle
    out before it holds the journal: the waits-for edge says the write
    waits behind it, not that it holds the journal, and the file keeps
    that through a save and a load."""
    path = (
        ROOT / "counterexamples" / "journal-write-vs-writeback-commit--handle-under-folio-lock.json"
    )
    counterexample = cx_format.load(path)
    queued = [edge for edge in counterexample.cycle if edge.queued]
    assert [(e.waiter, e.resource, e.holder) for e in queued] == [("T1", "jbd2_handle", "T3")]
    assert "T1 waits for jbd2_handle behind T3, queued for it first" in counterexample.message
    assert "T3 waits for jbd2_handle held by T2" in counterexample.message
    assert cx_format.from_json(counterexample.to_json()).cycle == counterexample.cycle


def test_each_wait_arrow_names_its_waiter() -> None:
    """Red wait arrows that cross are told apart: each carries its
    waiter's name in the waiter's colour."""
    counterexample = cx_format.load(
        ROOT / "counterexamples" / "dirops-opposite-renames--no-rename-mutex.json"
    )
    dot = to_dot(counterexample)
    assert 'headlabel="T1 waits"' in dot and 'headlabel="T2 waits"' in dot


def test_a_thread_waiting_outside_the_cycle_has_its_wait_arrow() -> None:
    """T2 of dirops/rename-into-descendant waits at the end for
    s_vfs_rename_sem, which T1 holds; no deadlock's cycle has that wait,
    and its dashed box had no arrow: it has a red dashed one to the lock's
    lane, named by its waiter, and its box says nothing of who holds it,
    since the lane's colour does."""
    path = ROOT / "counterexamples" / "dirops-rename-into-descendant--no-trap-check.json"
    counterexample = cx_format.load(path)
    chart = _Chart(counterexample)
    row = chart._tail_row("T2")
    arrow = f"  {chart.cell('T2', row)} -> {chart.cell('s_vfs_rename_sem', row)} ["
    [line] = [line for line in to_dot(counterexample).splitlines() if line.startswith(arrow)]
    assert 'headlabel="T2 waits"' in line and 'style="dashed"' in line, line
    assert f'color="{VIOLATION}"' in line, line
    assert "held by" not in to_dot(counterexample)


def test_a_wait_for_a_lock_no_other_thread_holds_says_who_does() -> None:
    """The box of a thread waiting at the end for a lock no other thread
    holds there says so: no thread, and the step that let it go, or the
    waiter itself; its arrow still points to the lock's lane."""
    path = ROOT / "counterexamples" / "dirops-rename-into-descendant--no-trap-check.json"
    counterexample = cx_format.load(path)
    first = counterexample.steps[0]
    release = attrs.evolve(
        first,
        label="mutex_unlock(&p1->d_sb->s_vfs_rename_mutex)",
        event=attrs.evolve(first.event, kind="release", text="unlock s_vfs_rename_sem"),
        changed={"s_vfs_rename_sem": "free"},
    )
    let_go = attrs.evolve(counterexample, steps=(*counterexample.steps, release))
    dot = to_dot(let_go)
    assert f"held by none: T1 let it go at step {len(let_go.steps)}" in dot.replace("\\n", " ")
    assert 'headlabel="T2 waits"' in dot
    wait = counterexample.blocked[0]
    itself = attrs.evolve(counterexample, blocked=(attrs.evolve(wait, thread="T1"),))
    dot = to_dot(itself)
    assert "held by T1 itself" in dot.replace("\\n", " ")
    assert 'headlabel="T1 waits"' in dot


def test_no_two_wait_arrows_share_a_row() -> None:
    """Threads that wait at the end (file/splice-both-ways: both) each get
    a row of their own with their dashed box and arrow: two red arrows and
    their "waits" labels drawn in one row ran into each other."""
    for path in SHIPPED:
        dot = to_dot(cx_format.load(path))
        rows = [
            line.split()[0].rsplit("_", 1)[1]
            for line in dot.splitlines()
            if ' waits"' in line or ' spins"' in line
        ]
        assert len(rows) == len(set(rows)), (path.name, rows)
        dashed = [
            line.split()[0].rsplit("_", 1)[1]
            for line in dot.splitlines()
            if 'style="dashed,rounded' in line
        ]
        assert len(dashed) == len(set(dashed)), (path.name, dashed)


def test_a_step_that_changes_what_the_violated_property_reads_is_never_folded(
    shipped: Registry,
) -> None:
    """Long charts fold runs of one thread's steps, but not a step that
    changes a slot the violated property reads (a lost update's two
    writes): on every shipped chart such a step keeps its own row, and
    some charts would have folded one."""
    kept = 0
    for path in SHIPPED:
        counterexample = cx_format.load(path)
        marks = variant_marks(shipped, counterexample)
        chart = _Chart(counterexample, marks)
        for row in chart.rows:
            if len(row.steps) > 1:
                assert all(marks.evidence.isdisjoint(step.changed) for step in row.steps), path
        blind = _Chart(counterexample, attrs.evolve(marks, evidence=frozenset()))
        kept += len(chart.rows) > len(blind.rows)
    assert kept > 0


def test_a_folded_row_says_what_its_steps_left_changed(shipped: Registry) -> None:
    """A folded run of steps draws, under their labels, each data slot the
    run changed with the value it left (the second reader's run that
    takes its reference: ``b_count(block 7) = 3``)."""
    path = ROOT / "counterexamples" / "buffer-two-updaters--bread-skips-uptodate-recheck.json"
    counterexample = cx_format.load(path)
    chart = _Chart(counterexample, variant_marks(shipped, counterexample))
    folded = {row.title: chart._net_details(row.steps) for row in chart.rows if len(row.steps) > 1}
    assert folded["14-16"] == ["b_count(block 7) = 3", "T2.bh = buffer_head #1"]
    assert "\\nb_count(block 7) = 3\\nT2.bh = buffer_head #1" in chart.dot()


def test_a_trace_whose_started_steps_differ_stops_as_the_threads_start(
    vfsmc: Callable[..., Any], tmp_path: Path
) -> None:
    """The steps a trace records its threads running as they start are
    checked too: emptied (the file's digest dropped, as an edit on purpose
    does), the replay stops before step 1 and says so; on the correct
    protocol, where the threads may start otherwise, T1's first step is
    said to be one it runs as it starts."""
    path = ROOT / "counterexamples" / "aops-memory-failure-vs-read--memory-failure-unlocked.json"
    data = json.loads(path.read_text())
    assert data["started"][0]["label"] == "memory_failure(): mutex_lock(&mf_mutex)"
    del data["digest"], data["started"]
    (tmp_path / "edited.json").write_text(json.dumps(data))
    ran = vfsmc("replay", str(tmp_path / "edited.json"), "--json")
    assert ran.exit_code == 1, ran.output  # stale: a check still finds the violation
    report = json.loads(ran.output)
    assert report["stopped_at"] == 0 and report["stopped_step"] is None, report
    assert report["still_violated_by_check"] is True, report
    assert report["reason"] == (
        "as the threads start, T1 runs 'memory_failure(): mutex_lock(&mf_mutex)' where the "
        "trace records nothing more"
    ), report["reason"]
    edited = str(tmp_path / "edited.json")
    correct = json.loads(vfsmc("replay", edited, "--correct", "--json").output)
    assert correct["reason"].endswith("(here it runs as T1 starts)"), correct
    text = vfsmc("replay", str(tmp_path / "edited.json")).output
    last = text.splitlines()[-2]
    assert last.startswith("does not reproduce on variants memory-failure-unlocked: as the"), last


SYNC_FS_COMMITS = '''\
"""btrfs_sync_fs() starting a transaction (sb_start_intwrite()) under
sync(2)'s s_umount, on a frozen filesystem whose thaw waits for s_umount
(fixed by a53f4f8e9c8e, which tests the freeze without blocking first)."""

from mc.dsl import SHARED, File, Op, flag_variant, inserts, sb_writers, scenario
from mc.dsl.scenario import BASE_PROPERTIES
from mc.kernel.superblock import SB_FREEZE_FS, SB_FREEZE_WRITE
from mc.models.super import freeze, sync, thaw
from mc.models.writeback import io_completion

flag_variant("sync-fs-ignores-freeze", "btrfs_sync_fs() starts a transaction on a frozen fs")


def commit_pending(op: Op, file: File, fails: bool = False) -> None:
    intwrite = sb_writers(op.world, SB_FREEZE_FS)
    if not op.variant("sync-fs-ignores-freeze"):
        level = sb_writers(op.world, SB_FREEZE_WRITE)
        op.trylock(level, "done", "if (__sb_start_write(sb, SB_FREEZE_WRITE, false))", mode=SHARED)
        op.unlock(level, "__sb_end_write(sb, SB_FREEZE_WRITE)")
    op.lock(intwrite, SHARED, "btrfs_start_transaction(): sb_start_intwrite(sb)")
    op.unlock(intwrite, "sb_end_intwrite(sb)")
    op.label("done")


inserts((sync, freeze), "sync-fs-commits", "btrfs_sync_fs(sb, 1) commits pending changes",
        before={"sb->s_op->sync_fs(sb, 1)": commit_pending})
F = File("/f", pages=1, cached=(0,))
scenario("my/sync-vs-freeze", "sync(2), FIFREEZE and FITHAW", tree=["/f"],
         threads=[sync(F), freeze(F), thaw(F), io_completion(F)],
         properties=BASE_PROPERTIES, variants=["sync-fs-commits"])
'''


def test_a_deadlock_on_a_lock_handed_off_is_saved_and_replays(
    vfsmc: Callable[..., Any], tmp_path: Path
) -> None:
    """The freeze hands sb_internal off to the thaw; sync waits for it
    holding s_umount, which the thaw waits for before it takes sb_internal
    over: the cycle goes through the thaw, and replay, graph and report
    read the saved trace back."""
    (tmp_path / "syncfs.py").write_text(SYNC_FS_COMMITS)
    found = vfsmc("check", "syncfs.py:my/sync-vs-freeze", "-V", "sync-fs-ignores-freeze")
    assert found.exit_code == 1, found.output
    assert "T1 waits for sb_internal, which T3 could end; T3 waits for s_umount held by T1" in (
        found.output
    )
    assert "cycle: T1 -> sb_internal -> T3 -> s_umount -> T1" in found.output
    assert "waits for sb_internal, which T3 (taking over its hand-off) could end" in found.output
    [saved] = (tmp_path / "counterexamples").glob("*.json")
    assert [edge["holder"] for edge in json.loads(saved.read_text())["cycle"]] == ["T3", "T1"]
    replayed = vfsmc("replay", str(saved))
    assert replayed.exit_code == 1 and "reproduces" in replayed.output, replayed.output
    assert vfsmc("graph", str(saved), "-o", str(tmp_path / "chart.svg")).exit_code == 0
    assert vfsmc("report", str(saved), "-o", str(tmp_path / "page.html")).exit_code == 0
    assert vfsmc("check", "syncfs.py:my/sync-vs-freeze", "--no-save").exit_code == 0
    (tmp_path / "nothaw.py").write_text(FREEZE_WITHOUT_THAW)
    unthawed = vfsmc("check", "nothaw.py:my/freeze-no-thaw")
    assert unthawed.exit_code == 1, unthawed.output
    assert "(and no thread left to run will: a freeze with no thaw after it?)" in unthawed.output
    assert "which nobody left to run (a hand-off no thread takes over) could end" in (
        unthawed.output
    )
    saved = tmp_path / "counterexamples" / "my-freeze-no-thaw.json"
    assert "handed off" in [edge["holder"] for edge in json.loads(saved.read_text())["cycle"]]
    assert vfsmc("replay", str(saved)).exit_code == 1


FREEZE_WITHOUT_THAW = """\
from mc.dsl import File, scenario
from mc.models.super import freeze
from mc.models.writeback import io_completion, write

F = File("/f", pages=1, cached=(0,))
scenario("my/freeze-no-thaw", "a freeze no thaw follows, and a write",
         tree=["/f"], threads=[freeze(F), write(F, 0), io_completion(F)])
"""


NAMES_IN_A_SET = """\
from mc.dsl import EXCL, LockKind, Op, Scratch, invariant, operation, scenario


def add_names(scratch: Scratch, slot: int) -> int:
    scratch[slot] = scratch[slot] | {"f=new", "..=/a", "g=old", "h=x", "i=y"}
    return 0


@operation(models="adds names to a directory block of the filesystem's own")
def add(op: Op) -> None:
    lock = op.world.shared_lock("dirblock_lock", LockKind.MUTEX)
    block = op.world.shared_slot("dirblock", frozenset())
    op.lock(lock, EXCL, "lock_buffer(bh)")
    op.effect("add the entries", add_names, block)
    op.unlock(lock, "unlock_buffer(bh)")


@invariant("no-names", "the block stays empty", reads=["dirblock"])
def no_names(model):
    block = next(i for i, s in enumerate(model.world.slots) if s.name == "dirblock")
    return lambda state: f"dirblock holds {len(state[block])} names" if state[block] else None


scenario("my/names", "one thread adds names", tree=[], threads=[add()],
         properties=["no-names"])
"""


def test_a_set_of_strings_in_a_slot_replays_under_another_hash_seed(tmp_path: Path) -> None:
    """A frozenset of strings prints in an order Python's hash seed sets;
    the trace prints its items sorted, so a trace saved by one process
    replays in another as recorded."""
    (tmp_path / "names.py").write_text(NAMES_IN_A_SET)
    command = [sys.executable, "-m", "mc"]
    for seed, args in (("1", ("check", "names.py:my/names")), ("2", ("replay",))):
        if args == ("replay",):
            [saved] = (tmp_path / "counterexamples").glob("*.json")
            args = ("replay", str(saved))
        ran = subprocess.run(
            [*command, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={
                **os.environ,
                "PYTHONHASHSEED": seed,
                "PYTHONPATH": str(ROOT),
                "XDG_CACHE_HOME": str(tmp_path / "cache"),
            },
        )
        assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "dirblock = frozenset({'..=/a', 'f=new', 'g=old', 'h=x', 'i=y'})" in ran.stdout
    assert "reproduces" in ran.stdout and "stale" not in ran.stdout, ran.stdout
