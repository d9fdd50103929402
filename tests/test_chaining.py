"""Steps that commute with every other thread's run together with the step
before them: the read sides of uncontended rw_semaphores and the plain
acquisitions and releases of a lock one thread alone takes
(``mc.dsl.uncontended``), and an interrupt handler's entry where it can
land on no thread (``mc.dsl.interrupts``).  Each changes no verdict and
stores fewer states than the same check with it switched off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_hidden_interleavings import HEADER

from mc.check.checker import check_scenario
from mc.check.registry import with_files
from mc.dsl import kernel_model
from mc.dsl.interrupts import InterruptStep
from mc.dsl.scenario import Registry
from mc.engine.result import Verdict

SwitchOff = Callable[[pytest.MonkeyPatch], None]


def _read_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_model, "uncontended", lambda _step, _families: False)


def _private_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_model, "on_private_lock", lambda *_args: False)


def _handler_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(InterruptStep, "local_in", lambda _step, _world: False)


@pytest.mark.parametrize(
    ("switch_off", "scenario", "variants"),
    [
        (_read_sides, "writeback/write-vs-fsync", ()),
        (_read_sides, "writeback/write-vs-fsync", ("no-wait-writeback",)),
        (_read_sides, "writeback/write-fsync-reclaim", ("writepage-drops-page",)),
        (_read_sides, "mmap/fault-vs-readahead", ()),
        (_read_sides, "dax/truncate-vs-store", ("dax-fault-no-invalidate-lock",)),
        (_read_sides, "mmap/two-files-store-write", ("copy-faults-under-folio-lock",)),
        (_private_locks, "inode/fileattr", ()),
        (_private_locks, "xattr/acl-walk", ("get-acl-caches-unconditionally",)),
        (_private_locks, "truncate/punch-vs-fault", ("pre-invalidate-lock",)),
        (_private_locks, "dio/aio-write-vs-read", ()),
        (_private_locks, "filelock/delegation-vs-open", ("deleg-skips-conflicting-opens",)),
        (_private_locks, "file/seek-read-fdinfo", ("no-fdget-pos",)),
        (_handler_entry, "writeback/write-vs-fsync", ("no-wait-writeback",)),
        (_handler_entry, "writeback/mmap-store-flusher", ("no-mkclean",)),
        (_handler_entry, "writeback/completion-irq", ()),
        (_handler_entry, "dio/aio-write-vs-read", ("dio-no-post-invalidate",)),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_running_a_step_with_the_one_before_changes_no_verdict(
    shipped: Registry,
    monkeypatch: pytest.MonkeyPatch,
    switch_off: SwitchOff,
    scenario: str,
    variants: tuple[str, ...],
) -> None:
    chained = check_scenario(shipped, scenario, variants)
    switch_off(monkeypatch)
    apart = check_scenario(shipped, scenario, variants)
    assert chained.result.verdict is apart.result.verdict
    assert chained.result.verdict in (Verdict.OK, Verdict.VIOLATED)
    found = [o.result.violation.property for o in (chained, apart) if o.result.violation]
    assert len(found) in (0, 2) and len(set(found)) <= 1
    assert chained.result.stats.states < apart.result.stats.states


HELD_AT_START = (
    HEADER
    + """\
from mc.dsl import SHARED


@operation(models="down_read(&R) or mutex_lock(&R); -EPERM if x is not 1 yet; release")
def reader(op: Op, kind: str) -> None:
    lock = op.world.shared_lock("R", LockKind[kind])
    x = op.world.shared_slot("x", 0)
    op.lock(lock, SHARED if kind == "RWSEM" else EXCL, "down_read(&R)")
    op.fail_if(state_expr("x != 1", lambda s: s[x] != 1, reads=[x]), E.EPERM, "unlock",
               "if (x != 1) return -EPERM")
    op.label("unlock")
    op.unlock(lock, "up_read(&R)")


@operation(models="holds R for writing from the start; x = 1; releases it")
def writer(op: Op, kind: str) -> None:
    lock = op.world.shared_lock("R", LockKind[kind])
    op.effect("x = 1", put, op.world.shared_slot("x", 0), 1)
    if kind == "RWSEM":
        op.world.initial[lock.slot] = (op.thread.tid, (), ())
        op.unlock(lock, "up_write(&R)")
    else:
        op.world.initial[lock.slot] = op.thread.tid
        op.effect("R = NULL /* no lock step of this thread names R */", put, lock.slot, None)


for kind in ("RWSEM", "MUTEX"):
    scenario(f"held/{kind}", "a reader against a writer holding R from the start", tree=[],
             threads=[reader(kind), writer(kind)], properties=["no-eperm", "lock-protocol"])
"""
)


@pytest.mark.parametrize("kind", ["RWSEM", "MUTEX"])
def test_a_lock_held_when_the_scenario_starts_is_neither_uncontended_nor_private(
    tmp_path: Path, kind: str
) -> None:
    """The reader's acquisition waits for the writer that holds the lock
    from the start: it is no read side that never blocks, nor a lock only
    the reader names, so it is not run with the step before it."""
    (tmp_path / "held.py").write_text(HELD_AT_START)
    registry = with_files([tmp_path / "held.py"])
    assert check_scenario(registry, f"held/{kind}").result.verdict is Verdict.OK
