"""nfsd's delegation runs generic_add_lease()'s body, as the kernel does:
the i_rwsem trylock and both check_conflicting_open() calls, which answer
0 for FL_DELEG; what keeps a delegation from a writer is nfsd's own
nfsd4_check_conflicting_opens()."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from conftest import reachable_states

from mc.check.checker import check_scenario
from mc.check.registry import base, with_files
from mc.dsl import BASE_PROPERTIES, File, Scenario
from mc.dsl.scenario import Registry
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.models.filelock import chmod_breaking_delegation, deleg_laundromat, delegate_then_setattr
from mc.models.super import kernel_freeze

Run = Callable[..., Result]

SCENARIO = "filelock/delegation-vs-open"
OPEN_CHECKS = (
    "error = check_conflicting_open(filp, arg, lease->fl_flags); if (error) goto out",
    "smp_mb(); error = check_conflicting_open(filp, arg, lease->fl_flags); if (error)",
)


def _labels(
    shipped: Registry, scenario: str, thread: int, variants: tuple[str, ...] = ()
) -> list[str]:
    model = shipped.build(shipped.scenario(scenario), variants)
    return [step.label for step in model.threads[thread].program.steps]


def test_the_delegation_runs_the_lease_s_open_checks(shipped: Registry) -> None:
    lease = _labels(shipped, "filelock/lease-vs-open", 0)
    deleg = _labels(shipped, SCENARIO, 0)
    for label in OPEN_CHECKS:
        assert label in lease and label in deleg, label
    assert "if (is_deleg && !inode_trylock(inode)) return -EAGAIN" in deleg
    skipped = _labels(shipped, SCENARIO, 0, ("lease-skips-open-check",))
    assert not set(OPEN_CHECKS) & set(skipped)


def test_dropping_the_open_check_changes_the_delegation_but_not_its_verdict(
    shipped: Registry,
) -> None:
    outcome = check_scenario(shipped, SCENARIO, ["lease-skips-open-check"])
    assert outcome.variants == ("lease-skips-open-check",)
    assert outcome.result.verdict is Verdict.OK, outcome.message


def test_nfsd_s_own_check_is_what_keeps_the_writer_out(shipped: Registry) -> None:
    assert check_scenario(shipped, SCENARIO).result.verdict is Verdict.OK
    outcome = check_scenario(shipped, SCENARIO, ["deleg-skips-conflicting-opens"])
    found = outcome.counterexample
    assert found is not None and found.property == "lease-vs-open", outcome.message


def test_the_lease_without_its_open_check_is_still_caught(shipped: Registry) -> None:
    for scenario in ("filelock/lease-vs-open", "filelock/lease-vs-truncate"):
        outcome = check_scenario(shipped, scenario, ["lease-skips-open-check"])
        found = outcome.counterexample
        assert found is not None and found.property == "lease-vs-open", scenario


TWO_OPENERS = """\
from mc.dsl import BASE_PROPERTIES, scenario
from mc.models.filelock import READ, lease_never_answered, open_for_write

scenario(
    "mine/unanswered-lease-two-openers",
    "a read lease never answered while two processes open the file for writing",
    tree=["/f"],
    threads=[lease_never_answered("/f", READ), open_for_write("/f"), open_for_write("/f")],
    properties=BASE_PROPERTIES,
)
"""


def test_a_break_that_lets_go_of_flc_lock_breaks_the_lock_protocol(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Without flc_lock taken again after the wait, time_out_leases()'s
    lockdep_assert_held(&ctx->flc_lock) fires (lock-protocol), before
    another breaker can time the leases out under the conflict test."""
    (tmp_path / "openers.py").write_text(TWO_OPENERS)
    name = "openers.py:mine/unanswered-lease-two-openers"
    assert vfsmc("check", name, "--no-save").exit_code == 0
    dropped = "mutant:drop@open_for_write:break_lease:spin_lock(&ctx->flc_lock)"
    found = vfsmc("check", name, "-V", dropped, "--no-save", "--json")
    assert found.exit_code == 1, found.output
    verdict = json.loads(found.output)
    assert verdict["property"] == "lock-protocol"
    assert verdict["message"] == (
        "T2 reaches 'time_out_leases(): lockdep_assert_held(&ctx->flc_lock)' "
        "without holding flc_lock(/f)"
    ), verdict["message"]


DIRECTORIES = """
from mc.dsl import scenario
from mc.models.dirops import create
from mc.models.filelock import deleg_laundromat, unlink_breaking_delegation

scenario("my/unlink-a-directory", "unlink(2) of a directory", tree=["/d/", "/d/x"],
         threads=[unlink_breaking_delegation("/d"), create("/d/y")])
scenario("my/laundromat-of-a-directory", "a delegation laundromat of a directory",
         tree=["/d/"], threads=[deleg_laundromat("/d")])
"""


def test_unlink_and_the_laundromat_refuse_a_directory(vfsmc: Run, tmp_path: Path) -> None:
    """unlink(2) of a directory is -EISDIR and no directory is delegated:
    paths the models do not have, refused in one line (the unlink removed
    a directory that still held a name)."""
    (tmp_path / "directories.py").write_text(DIRECTORIES)
    for name, said in (
        ("my/unlink-a-directory", "unlink(2) of /d, a directory"),
        ("my/laundromat-of-a-directory", "a delegation laundromat of /d, a directory"),
    ):
        result = vfsmc("check", f"directories.py:{name}", "--no-save")
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert said in result.output


TWO_FILES = """\
from mc.dsl import BASE_PROPERTIES, Invocation, Program, scenario, variant
from mc.models.filelock import lock_range

FIND = "list_for_each_entry(fl, &ctx->flc_posix, fl_list) if (posix_locks_conflict(request, fl))"


def no_conflict(scratch, ctx, request):
    return None


@variant("mine-ignores-conflicts", "posix_lock_inode() never finds a conflicting lock")
def ignores(program: Program, invocation: Invocation) -> Program:
    for step in [s for s in program.steps if s.label == FIND]:
        program = program.recompute(step, no_conflict)
    return program


scenario(
    "mine/f-and-g",
    "one process locks /f, two lock the same bytes of /g",
    tree=["/f", "/g"],
    threads=[lock_range("/f", (0, 9)), lock_range("/g", (0, 9)), lock_range("/g", (0, 9))],
    properties=(*BASE_PROPERTIES, "filelock-exclusion"),
)
"""


def test_the_lock_properties_look_at_every_file_with_locks(vfsmc: Run, tmp_path: Path) -> None:
    """filelock-exclusion once read only the first file a thread made
    locks on (/f here), so two write locks held at once on /g passed."""
    (tmp_path / "two.py").write_text(TWO_FILES)
    name = "two.py:mine/f-and-g"
    assert vfsmc("check", name, "--no-save").exit_code == 0
    found = vfsmc("check", name, "-V", "mine-ignores-conflicts", "--no-save", "--json")
    assert found.exit_code == 1, found.output
    verdict = json.loads(found.output)
    assert verdict["property"] == "filelock-exclusion"
    assert verdict["message"] == "/g: T2:0-9 F_WRLCK and T3:0-9 F_WRLCK are both held"


def _chmod_frozen(laundromat: bool) -> Registry:
    threads = [
        delegate_then_setattr("/f"),
        chmod_breaking_delegation("/f", 0o600),
        kernel_freeze(File("/f", pages=1)),
        *([deleg_laundromat("/f")] if laundromat else []),
    ]
    registry = base()
    registry.add_scenario(
        Scenario("test/chmod-frozen", "test", ("/f",), tuple(threads), properties=BASE_PROPERTIES)
    )
    return registry


def test_chmod_waits_for_a_delegation_with_the_freeze_held_off() -> None:
    """chmod_common() (6.17-rc3) breaks a delegation in notify_change(),
    drops the inode lock and waits in break_deleg_wait() inside its
    mnt_want_write(): against a client whose SETATTR comes before its
    DELEGRETURN and a freeze, only the laundromat's revocation ends the
    wait (without it, the kernel's stall of the lease time is a deadlock
    here, as for unlink(2)); a chmod that broke no delegation passed."""
    stalled = _chmod_frozen(laundromat=False)
    result = check(stalled.build(stalled.scenario("test/chmod-frozen"), ()))
    assert result.violation is not None and result.violation.property == "deadlock"
    assert "the lease being broken" in result.violation.message
    assert "lease_break_time" not in result.violation.message, "an FL_DELEG breaker's wait"
    revoked = _chmod_frozen(laundromat=True)
    assert check(revoked.build(revoked.scenario("test/chmod-frozen"), ())).verdict is Verdict.OK


LEASE_MUTEX = """\
from mc.dsl import EXCL, LockKind, Op, inserts, scenario
from mc.models.filelock import READ, open_for_write, take_lease


def lease_mutex(op: Op, path: str):
    return op.world.shared_lock(f"myfs_lease_mutex({path})", LockKind.MUTEX)


def open_lock(op: Op, path: str) -> None:
    op.lock(lease_mutex(op, path), EXCL, "myfs_open(): mutex_lock(&mi->lease_mutex)")


def open_unlock(op: Op, path: str) -> None:
    op.unlock(lease_mutex(op, path), "myfs_open(): mutex_unlock(&mi->lease_mutex)")


def setlease_side(op: Op, path: str, kind) -> None:
    op.lock(lease_mutex(op, path), EXCL, "myfs_setlease(): mutex_lock(&mi->lease_mutex)")
    op.unlock(lease_mutex(op, path), "myfs_setlease(): mutex_unlock(&mi->lease_mutex)")


inserts(open_for_write, "held-across-break", "->open holds lease_mutex across break_lease()",
        before={"get_write_access(inode)": open_lock},
        after={"/* the open goes on past break_lease() */": open_unlock})
inserts(take_lease, "setlease-mutex", "->setlease(F_UNLCK) takes lease_mutex",
        after={"if (error) goto done": setlease_side})
scenario("my/lease-vs-open", "a read lease given up through ->setlease, an open for writing",
         tree=["/f"], threads=[take_lease("/f", READ), open_for_write("/f")],
         variants=["setlease-mutex"])
"""


def test_a_wait_for_a_plain_lease_break_says_lease_break_time_ends_it(
    vfsmc: Callable[..., Result],
) -> None:
    """An open holding a lock across break_lease() that the lease holder
    takes before it gives the lease up: in the kernel lease_break_time
    times the break out (__break_lease() sets fl_break_time; only
    nfsd_break_deleg_cb() sets it to 0), a 45 s stall at each open, not a
    hang; the model has no jiffies, and its deadlock says so."""
    Path("lease_mutex.py").write_text(LEASE_MUTEX)
    result = vfsmc("check", "lease_mutex.py:my/lease-vs-open", "-V", "held-across-break")
    assert result.exit_code == 1, result.output
    assert (
        "T2 waits for the lease being broken (in the kernel lease_break_time, 45 s by default, "
        "times out a lease that is no delegation: for one, this is a stall of that long at each "
        "break, not a hang; the model counts that time only for a holder that never answers) "
        "held by T1"
    ) in result.output


def test_a_timed_out_lease_breaker_unlinks_itself_under_blocked_lock_lock(
    vfsmc: Callable[..., Result],
) -> None:
    """__break_lease() calls __locks_delete_block() under flc_lock after
    its wait (6.17-rc3): a breaker whose wait timed out is still blocked,
    so it takes blocked_lock_lock inside flc_lock to unlink itself; the
    lease-timeout scenario runs that section."""
    result = vfsmc("check", "filelock/lease-timeout", "--coverage", "--json", "--no-save")
    report = json.loads(result.stdout)
    assert report["verdict"] == "OK", result.output
    ran = [s["label"] for s in report["coverage"]["never_ran"]]
    assert not any("__locks_unlink_block(waiter)" in label for label in ran), ran
    shown = vfsmc("show", "filelock/lease-timeout").output
    at = shown.index("/* timed out, still blocked */")
    assert "spin_lock(&blocked_lock_lock); __locks_wake_up_blocks(waiter)" in shown[at:]


def test_a_delegation_break_times_out_leases_first(vfsmc: Callable[..., Result]) -> None:
    """__break_lease() begins with time_out_leases() under flc_lock for a
    delegation break too (try_break_deleg(), 6.17-rc3): the unlink's break
    runs it."""
    result = vfsmc("check", "filelock/unlink-vs-delegation", "--coverage", "--json", "--no-save")
    report = json.loads(result.stdout)
    assert report["verdict"] == "OK", result.output
    listed = vfsmc("show", "filelock/unlink-vs-delegation", "--steps").output.splitlines()
    steps = [re.match(r"^\s+(\d+)  (.*?)  \(", line) for line in listed]
    found = [(int(m[1]), m[2]) for m in steps if m is not None]
    breaking = [
        number
        for (number, label), (_next, after) in itertools.pairwise(found)
        if label == "time_out_leases(inode, &dispose)"
        and after == "if (!any_leases_conflict(inode, new_fl)) goto out"
    ]
    assert breaking, listed
    never = {s["step"] for s in report["coverage"]["never_ran"] if s["thread"] == "T2"}
    assert set(breaking) - never, (breaking, never)


def test_a_break_before_lm_setup_signals_nobody(shipped: Registry) -> None:
    """lease_setup() after spin_unlock(&ctx->flc_lock): the opener's break
    finds the lease on flc_lease before its fasync entry, and
    lease_break_callback()'s kill_fasync() signals nobody."""
    assert check_scenario(shipped, "filelock/lease-vs-open").result.verdict is Verdict.OK
    outcome = check_scenario(shipped, "filelock/lease-vs-open", ["lm-setup-after-unlock"])
    violation = outcome.result.violation
    assert violation is not None and violation.property == "lease-break-signalled"
    assert violation.message.startswith(
        "T2's break reaches T1's lease before ->lm_setup gave it its fasync entry"
    )


def test_a_lease_never_answered_times_out_only_once_a_break_is_pending(tmp_path: Path) -> None:
    """lease_break_time runs from the break (``fl_break_time`` is set by
    ``__break_lease()``): the holder's step that lets it pass comes after
    the lease is marked for a break, never before, and meanwhile the
    second opener may meet the lease pending and wait behind it too."""
    (tmp_path / "openers.py").write_text(TWO_OPENERS)
    registry = with_files([tmp_path / "openers.py"])
    model = registry.build(registry.scenario("mine/unanswered-lease-two-openers"))
    slots = {slot.name: i for i, slot in enumerate(model.world.slots)}
    leases, timed_out = slots["flc_lease(/f)"], slots["unanswered leases(/f)"]
    blocked = slots["blocked requests"]
    states = reachable_states(model)
    for state in states:
        for file, _type, pending, _granted in state[leases]:
            assert pending or file not in state[timed_out], model.render_state(state)
    assert any(len([w for w in state[blocked] if w[0] == "lease"]) == 2 for state in states)
