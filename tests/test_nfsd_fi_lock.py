"""nfsd's ``fp->fi_lock`` against a file's ``flc_lock`` (fs/nfsd/nfs4state.c,
6.17-rc3): ``check_for_locks()`` (RELEASE_LOCKOWNER) takes flc_lock inside
fi_lock; the delegation's ->lm_break, ``nfsd_break_deleg_cb()``, called
with flc_lock held, takes no fi_lock since 5ea9a7c5fe41, and took it from
edcf9725150e until then (``deleg-break-takes-fi_lock``): an ABBA."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import Result

from mc.dsl.scenario import Registry
from mc.models.filelock import DELEG_BREAK_TAKES_FI_LOCK
from mc.testing import check

Run = Callable[..., Result]

SCENARIO = "filelock/release-lockowner-vs-deleg-break"
CHECK_FOR_LOCKS = (
    "check_for_locks(): spin_lock(&fp->fi_lock); nf = find_any_file_locked(fp)",
    "if (flctx && !list_empty_careful(&flctx->flc_posix))",
    "spin_lock(&flctx->flc_lock)",
)


def _labels(shipped: Registry, thread: int, variants: tuple[str, ...] = ()) -> list[str]:
    model = shipped.build(shipped.scenario(SCENARIO), variants)
    return [step.label for step in model.threads[thread].program.steps]


def test_release_lockowner_takes_flc_lock_inside_fi_lock(shipped: Registry) -> None:
    """The nfsd thread locks, checks for locks under fi_lock, then unlocks;
    the unlink's break of the delegation takes no fi_lock but under the
    variant, where it does so inside the ->lm_break call."""
    release = _labels(shipped, 1)
    at = release.index(CHECK_FOR_LOCKS[0])
    assert release[at : at + 3] == list(CHECK_FOR_LOCKS)
    assert release.index("locks_insert_lock_ctx(new_fl, &fl->fl_list)") < at
    assert "out: spin_unlock(&fp->fi_lock); return status" in release[at:]
    take = "nfsd_break_deleg_cb(): spin_lock(&fp->fi_lock)"
    assert take not in _labels(shipped, 2)
    broken = _labels(shipped, 2, (DELEG_BREAK_TAKES_FI_LOCK,))
    call = broken.index(
        "fl->c.flc_flags |= FL_UNLOCK_PENDING; fl->fl_lmops->lm_break(fl) "
        "/* nfsd_break_deleg_cb() */"
    )
    assert broken[call + 1 : call + 4] == [
        take,
        "fp->fi_had_conflict = true; nfsd_break_one_deleg(dp)",
        "spin_unlock(&fp->fi_lock); return false",
    ]


def test_the_delegation_break_under_fi_lock_deadlocks_with_release_lockowner() -> None:
    """Today's nfsd_break_deleg_cb() keeps the scenario OK; taking fi_lock
    in it (edcf9725150e to 5ea9a7c5fe41) closes a cycle through fi_lock and
    flc_lock of the file: the unlink holds flc_lock and waits for fi_lock,
    RELEASE_LOCKOWNER holds fi_lock and waits for flc_lock."""
    assert check(SCENARIO).verdict == "OK"
    found = check(SCENARIO, [DELEG_BREAK_TAKES_FI_LOCK], "deadlock")
    assert found.message == (
        "deadlock: T3 waits for fi_lock(/f) held by T2; T2 waits for flc_lock(/f) held by T3"
    )
    assert found.counterexample is not None
    cycle = {(edge.waiter, edge.resource, edge.holder) for edge in found.counterexample.cycle}
    assert cycle == {("T3", "fi_lock(/f)", "T2"), ("T2", "flc_lock(/f)", "T3")}


def test_fi_lock_comes_before_flc_lock_in_the_documented_order(vfsmc: Run) -> None:
    """specs/lockorder.toml places fi_lock above flc_lock, as
    check_for_locks() takes them; the variant's flc_lock -> fi_lock edge
    closes a cycle of the merged graph and goes against that order."""
    correct = vfsmc("lockorder", "--json", SCENARIO)
    assert correct.exit_code == 0, correct.output
    report = json.loads(correct.output)
    edges = {(edge["held"], edge["taken"]) for edge in report["edges"]}
    assert ("fi_lock", "flc_lock") in edges and ("flc_lock", "fi_lock") not in edges
    assert report["cycles"] == [] and report["undocumented"] == [] and report["unplaced"] == []
    broken = vfsmc("lockorder", "--json", "-V", DELEG_BREAK_TAKES_FI_LOCK, SCENARIO)
    assert broken.exit_code == 1, broken.output
    report = json.loads(broken.output)
    [cycle] = report["cycles"]
    assert {(edge["held"], edge["taken"]) for edge in cycle} == {
        ("fi_lock", "flc_lock"),
        ("flc_lock", "fi_lock"),
    }
    against = {(edge["held"], edge["taken"]) for edge in report["undocumented"]}
    assert ("flc_lock", "fi_lock") in against
