"""flock(2) of an open file two threads share (fs/locks.c,
``flock_lock_inode()``): one flock per struct file, replaced under
``flc_lock``."""

from __future__ import annotations

import pytest

from mc.check.checker import Outcome, check_scenario
from mc.check.registry import shipped
from mc.dsl import Invocation, Op, Scenario, operation
from mc.engine.result import Verdict
from mc.kernel.world import ModelError
from mc.models.filelock import (
    FLOCK_DROPS_FLC_LOCK,
    _close_flocked,
    _open_file,
    _register_thread,
    context,
    exclusion_violation,
    flock_lock,
    flock_lock_inode_wait,
    flock_upgrade,
)
from mc.models.filelock_scenarios import FILELOCK_PROPERTIES
from mc.testing import check


def test_a_child_sharing_the_open_file_converts_its_lock_and_never_adds_a_second() -> None:
    """The correct protocol keeps one flock for the shared file; letting
    flc_lock go mid-way (before 267f11285830) lets the child's LOCK_SH in
    beside the parent's LOCK_EX."""
    assert check("filelock/flock-shared-file").verdict == "OK"
    found = check("filelock/flock-shared-file", [FLOCK_DROPS_FLC_LOCK], "filelock-exclusion")
    assert found.message == (
        "filelock-exclusion: open file filp holds two flocks, LOCK_EX and LOCK_SH: its next "
        "flock(2) or close replaces or removes one of them only"
    )


def test_two_flocks_of_one_file_are_an_exclusion_violation_whatever_their_types() -> None:
    registry = shipped()
    model = registry.build(registry.scenario("filelock/flock-shared-file"))
    ctx = context(model.world, "/f")
    state = list(model.initial)
    state[ctx.flock] = (("filp", "LOCK_SH"), ("filp", "LOCK_SH"))
    assert exclusion_violation(tuple(state), ctx) is not None
    state[ctx.flock] = (("T1", "LOCK_SH"), ("T2", "LOCK_SH"))
    assert exclusion_violation(tuple(state), ctx) is None


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        (("/f", "LOCK_UN"), "kind 'LOCK_UN' is none of LOCK_SH, LOCK_EX"),
        (("/f", "LOCK_SH", "T2"), "open file 'T2' is a thread's name"),
        (("/f", "LOCK_SH", "filp\n"), "name a shared open file with printable characters"),
        (("/f", "LOCK_SH", " "), "name a shared open file with printable characters"),
    ],
)
def test_a_flock_of_no_kind_or_of_another_thread_s_own_file_is_refused(
    arguments: tuple[str, ...], refusal: str
) -> None:
    registry = shipped()
    scenario = Scenario(
        "test/flock-refused",
        "",
        ("/f",),
        (flock_lock(*arguments), flock_lock("/f", "LOCK_SH")),
        FILELOCK_PROPERTIES,
    )
    with pytest.raises(ModelError, match=refusal):
        registry.build(scenario)


@operation(models="flock(a, kind), then flock(b, kind), then both unlocked")
def _pair(
    op: Op, first: str, first_kind: str, second: str, second_kind: str, file: str = ""
) -> None:
    locked = []
    for path, kind in ((first, first_kind), (second, second_kind)):
        ctx = context(op.world, path)
        _register_thread(op, ctx)
        locked.append((ctx, _open_file(op, ctx, file)))
        op.run(flock_lock_inode_wait, *locked[-1], kind)
    for ctx, opened in reversed(locked):
        op.run(flock_lock_inode_wait, ctx, opened, "F_UNLCK")


def _verdict(*threads: Invocation, tree: tuple[str, ...] = ("/f", "/g")) -> Outcome:
    registry = shipped()
    scenario = Scenario("test/flocks", "", tree, threads, FILELOCK_PROPERTIES)
    registry.add_scenario(scenario)
    return check_scenario(registry, scenario.name)


def test_a_lock_of_a_thread_s_own_file_goes_with_its_close() -> None:
    """Two exclusive flocks of one file by processes of their own: the
    second waits until the first returns and its close lets the lock go."""
    outcome = _verdict(flock_lock("/f", "LOCK_EX"), flock_lock("/f", "LOCK_EX"), tree=("/f",))
    assert outcome.result.verdict is Verdict.OK, outcome.result.violation


def test_two_requests_of_one_shared_file_wait_and_wake_apart() -> None:
    """T1 and T2 share filp; each blocks behind another lock of its own
    request, and waking one does not leave it asleep for the other's
    entry: the kernel's request is the waiter, not the open file."""
    outcome = _verdict(
        _pair("/g", "LOCK_EX", "/f", "LOCK_SH", "filp"),
        _pair("/f", "LOCK_EX", "/f", "F_UNLCK", "filp"),
        _pair("/f", "LOCK_SH", "/g", "LOCK_EX"),
        flock_upgrade("/f"),
    )
    assert outcome.result.verdict is Verdict.OK, outcome.result.violation


@operation(models="flock(/f, LOCK_EX) of a shared file, then flock(/g, LOCK_EX) of its own")
def _shared_then_own(op: Op, file: str) -> None:
    shared, own = context(op.world, "/f"), context(op.world, "/g")
    _register_thread(op, shared)
    _register_thread(op, own)
    _open_file(op, shared, file)
    op.run(flock_lock_inode_wait, shared, file, "LOCK_EX")
    op.run(flock_lock_inode_wait, own, op.thread.name, "LOCK_EX")
    op.run(flock_lock_inode_wait, own, op.thread.name, "F_UNLCK")
    _close_flocked(op, shared, file)


def test_a_wait_for_a_shared_file_s_lock_is_a_wait_for_each_of_its_holders() -> None:
    """T1 named filp first and returned; T2 holds filp's lock of /f and
    waits for /g, which T3 holds waiting for /f: the cycle runs through
    T2, not through the first thread that named the file."""
    outcome = _verdict(
        flock_lock("/f", "LOCK_SH", "filp"),
        _shared_then_own("filp"),
        _pair("/g", "LOCK_EX", "/f", "LOCK_EX"),
    )
    violation = outcome.result.violation
    assert violation is not None and violation.property == "deadlock"
    assert violation.message == (
        "T2 waits for the flock of another file held by T3; "
        "T3 waits for the flock of another file held by T2"
    )
