"""``posix_locks_deadlock()`` follows the waits-for chain through
``blocked_hash``, which holds no request blocked behind an OFD lock."""

from __future__ import annotations

from mc.check import registry
from mc.dsl import Scenario
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.kernel.world import Scratch
from mc.models.filelock import (
    AGREED,
    WRITE,
    _posix_locks_deadlock,
    _woken,
    lock_contexts,
    lock_range,
    lock_two_files,
    lock_two_ranges,
)

CHAIN = (
    lock_two_ranges("/f", (0, 9), (10, 19)),
    lock_two_ranges("/f", (10, 19), (20, 29)),
    lock_two_ranges("/f", (20, 29), (0, 9), ofd=True),
)


def _build():  # type: ignore[no-untyped-def]
    shipped = registry.shipped()
    shipped.add_scenario(Scenario("test/posix-ofd-chain", "test", ("/f",), CHAIN))
    return shipped.build(
        shipped.scenario("test/posix-ofd-chain"), properties=("deadlock", "edeadlk-exact")
    )


def test_the_edeadlk_chain_stops_at_a_request_blocked_behind_an_ofd_lock() -> None:
    """T2 waits behind T3's OFD lock and T3's open file behind T1: T1 asking
    for T2's range gets no -EDEADLK, as ``__locks_insert_block()`` left T2's
    request out of ``blocked_hash``; the decision agrees with the graph of
    hashed waits.  The chain once followed T2's wait to T3 and gave
    -EDEADLK."""
    model = _build()
    world = model.world
    [ctx] = lock_contexts(world)
    assert ctx.ofd_owners == {"T3:fd"}
    scratch = Scratch(world, world.initial_state(), tid=0)
    scratch[ctx.posix] = (("T1", 0, 9, WRITE), ("T2", 10, 19, WRITE), ("T3:fd", 20, 29, WRITE))
    scratch[ctx.blocked] = (
        ("posix", "T2", 20, 29, WRITE, "T3:fd", "/f"),
        ("posix", "T3:fd", 0, 9, WRITE, "T1", "/f"),
    )
    request, held = ("T1", 10, 19, WRITE), ("T2", 10, 19, WRITE)
    assert _posix_locks_deadlock(scratch, ctx, request, held, "kernel") is False
    assert scratch[ctx.verdicts] == AGREED
    assert _posix_locks_deadlock(scratch, ctx, request, held, "any-waiter") is False


def test_a_cycle_through_an_ofd_lock_deadlocks_as_fcntl_says() -> None:
    """With the OFD request last, or T1's, nobody gets -EDEADLK and the
    three sleep for good: fcntl(2) promises no deadlock detection for OFD
    locks, and the check finds the deadlock while every -EDEADLK decision
    agrees with the hashed graph.  The OFD lock's holder is the thread
    whose open file owns it (the wait was once a lost wake-up, its holder
    not found)."""
    result = check(_build())
    assert result.verdict is Verdict.VIOLATED
    assert result.violation is not None and result.violation.property == "deadlock"
    assert result.violation.message == (
        "T1 waits for a POSIX lock on /f 10-19 held by T2; T2 waits for a POSIX lock on /f "
        "20-29 held by T3; T3 waits for a POSIX lock on /f 0-9 held by T1"
    )


def test_the_edeadlk_chain_follows_eleven_owners_as_the_kernel_does() -> None:
    """``if (i++ > MAX_DEADLK_ITERATIONS) return 0`` before each owner is
    compared: a cycle closed by the 11th owner on the chain is found, one
    closed by the 12th is not."""
    model = _build()
    world = model.world
    [ctx] = lock_contexts(world)
    request, held = ("T1", 10, 19, WRITE), ("O1", 10, 19, WRITE)
    for hops, found in ((11, True), (12, False)):
        owners = [f"O{n}" for n in range(1, hops + 1)]
        scratch = Scratch(world, world.initial_state(), tid=0)
        scratch[ctx.blocked] = tuple(
            ("posix", waiter, 0, 9, WRITE, blocker, "/f")
            for waiter, blocker in zip(owners, [*owners[1:], "T1"], strict=True)
        )
        assert _posix_locks_deadlock(scratch, ctx, request, held, "kernel") is found, hops


def test_ofd_locks_of_one_range_of_two_files_do_not_conflict() -> None:
    """Each file's granted OFD locks are its own: the same range of /f and
    /g write-locked by two open files at once is no violation (the slot
    was once one for every file, and reported it)."""
    from mc.models.filelock import ofd_lock_range

    shipped = registry.shipped()
    threads = (ofd_lock_range("/f", "P1", (0, 9)), ofd_lock_range("/g", "P2", (0, 9)))
    shipped.add_scenario(Scenario("test/ofd-two-files", "test", ("/f", "/g"), threads))
    model = shipped.build(
        shipped.scenario("test/ofd-two-files"), properties=("deadlock", "ofd-exclusion")
    )
    result = check(model)
    assert result.verdict is Verdict.OK, result.violation
    assert result.stats.states > 10


def test_a_wrong_edeadlk_over_two_files_names_no_file() -> None:
    """Every file's -EDEADLK decisions share one slot, the waits-for graph
    spanning files: the message is the decision's alone, not prefixed with
    the first file's path as a per-file property's would be."""
    from mc.testing import check as check_scenario

    outcome = check_scenario(
        "filelock/posix-abba-two-files", ["posix-skips-deadlock-check"], "edeadlk-exact"
    )
    assert outcome.message is not None
    assert outcome.message.startswith("edeadlk-exact: T2 sleeps"), outcome.message
    assert "which closes a cycle: -EDEADLK was due" in outcome.message


def test_the_deadlock_check_outside_blocked_lock_lock_deadlocks_over_two_files() -> None:
    """posix_locks_deadlock() and the insertion into blocked_hash under one
    blocked_lock_lock section: apart, two processes locking two files in
    opposite orders each find no cycle and both sleep.  On one file the
    flc_lock orders them, and nothing shows."""
    from mc.testing import check as check_scenario

    variant = ["deadlock-check-before-blocked-lock-lock"]
    found = check_scenario("filelock/posix-abba-two-files", variant, "deadlock")
    assert found.message is not None and "waits for a POSIX lock on /g 0-9" in found.message
    check_scenario("filelock/posix-abba-edeadlk", variant, "OK")
    check_scenario("filelock/posix-abba-two-files", [], "OK")


def test_a_close_wakes_the_requests_blocked_on_that_file_s_locks_only() -> None:
    """``locks_wake_up_blocks()`` wakes the requests blocked behind the
    lock removed: T1's unlock of /f wakes T2's request of /f, not T3's
    request of /g, blocked behind T1's lock of /g (``blocked_hash`` holds
    both, by owner)."""
    shipped = registry.shipped()
    threads = (
        lock_two_files("/f", "/g", (0, 9)),
        lock_range("/f", (0, 9)),
        lock_range("/g", (0, 9)),
    )
    shipped.add_scenario(Scenario("test/two-files", "test", ("/f", "/g"), threads))
    model = shipped.build(shipped.scenario("test/two-files"), properties=("deadlock",))
    world = model.world
    by_path = {ctx.path: ctx for ctx in lock_contexts(world)}
    scratch = Scratch(world, world.initial_state(), tid=0)
    on_f = ("posix", "T2", 0, 9, WRITE, "T1", "/f")
    on_g = ("posix", "T3", 0, 9, WRITE, "T1", "/g")
    scratch[by_path["/f"].blocked] = (on_f, on_g)
    assert _woken("posix", "T1")(scratch, by_path["/f"]) == (on_f,)
    assert _woken("posix", "T1")(scratch, by_path["/g"]) == (on_g,)
