"""F_GETLEASE and the lease a file's last fput removes (models/filelock.py:
``fcntl_getlease()``, ``close_file()`` -> ``locks_remove_file()`` ->
``locks_remove_lease()``), checked in filelock/lease-close-vs-break: a lease
holder and its child share an open file, both close it without F_UNLCK
while another process opens the file for writing, and the child asks
F_GETLEASE first."""

from __future__ import annotations

import pytest
from conftest import EndStates, reachable_states, registry_with

from mc.check.checker import check_scenario
from mc.check.inventory import applicable_variants
from mc.dsl import BASE_PROPERTIES, ModelError, Scenario
from mc.dsl.scenario import Registry
from mc.engine.explore import Options, check
from mc.engine.result import Verdict
from mc.models.filelock import (
    READ,
    UNLOCK,
    WRITE,
    flock_lock,
    getlease,
    lease_never_answered,
    lease_then_close,
    open_for_write,
)

SCENARIO = "filelock/lease-close-vs-break"
SKIPS_WAKEUP = "lease-close-skips-wakeup"
FREED_UNDER_BREAKER = (
    "filp's lease is freed at its last fput (locks_dispose_list()) with T2 still blocked on "
    "it in __break_lease(): nothing called locks_wake_up_blocks() (lease_modify()) under "
    "flc_lock"
)
LEASE_PROPERTIES = (*BASE_PROPERTIES, "lease-vs-open", "lease-break-signalled")


def _labels(shipped: Registry, thread: int, variants: tuple[str, ...] = ()) -> list[str]:
    model = shipped.build(shipped.scenario(SCENARIO), variants)
    return [step.label for step in model.threads[thread].program.steps]


def test_the_last_close_wakes_the_breaker(shipped: Registry) -> None:
    """On the kernel's protocol every interleaving ends: the opener is woken
    by whichever of the two sharers drops the last reference."""
    outcome = check_scenario(shipped, SCENARIO)
    assert outcome.result.verdict is Verdict.OK, outcome.message
    assert outcome.counterexample is None
    assert 0 < outcome.result.stats.states < 5_000


def test_removing_the_lease_without_waking_the_breaker_frees_it_under_the_breaker(
    shipped: Registry,
) -> None:
    """locks_delete_lock_ctx() without lease_modify()'s locks_wake_up_blocks()
    leaves the opener queued on the lease the close frees."""
    outcome = check_scenario(shipped, SCENARIO, [SKIPS_WAKEUP])
    violation = outcome.result.violation
    assert outcome.result.verdict is Verdict.VIOLATED
    assert violation is not None and violation.property == "lock-protocol"
    assert violation.message.startswith(FREED_UNDER_BREAKER), violation.message
    found = outcome.counterexample
    assert found is not None and found.property == "lock-protocol"
    assert found.steps[-1].label == "locks_dispose_list(&dispose): locks_free_lease(fl)"
    assert "__locks_insert_block(&fl->c, &new_fl->c, leases_conflict)" in [
        step.label for step in found.steps if step.thread == "T2"
    ]


def test_the_full_search_gives_the_same_verdicts(shipped: Registry) -> None:
    full = Options(reduce=False)
    assert check_scenario(shipped, SCENARIO, (), None, full).result.verdict is Verdict.OK
    broken = check_scenario(shipped, SCENARIO, [SKIPS_WAKEUP], None, full).result
    assert broken.violation is not None and broken.violation.property == "lock-protocol"
    assert broken.violation.message.startswith(FREED_UNDER_BREAKER)


def test_the_close_removes_the_file_s_locks_in_the_kernel_s_order(shipped: Registry) -> None:
    """close(2): filp_flush()'s POSIX locks, fput(); at the last reference
    locks_remove_posix(filp, filp), locks_remove_flock(), locks_remove_lease()
    and the leak check, each under flc_lock of its own; lease_modify() is
    called directly (no ->lm_change), with its wake-up under
    blocked_lock_lock before the fasync entry goes and the lease is unlinked."""
    labels = _labels(shipped, 0)
    order = [
        "filp_flush(): locks_remove_posix(filp, id): if (!ctx || list_empty(&ctx->flc_posix)) "
        "return",
        "fput(file): if (atomic_long_dec_and_test(&file->f_count)) /* the last reference */",
        "locks_remove_posix(filp, filp): if (!ctx || list_empty(&ctx->flc_posix)) return",
        "locks_remove_flock(filp, ctx): if (list_empty(&flctx->flc_flock)) return",
        "locks_remove_lease(filp, ctx): if (list_empty(&ctx->flc_lease)) return",
        "locks_remove_lease(): spin_lock(&ctx->flc_lock)",
        "if (filp == fl->c.flc_file) lease_modify(fl, F_UNLCK, &dispose)",
        "__locks_delete_block(waiter); wake_up(&waiter->fl_wait)",
        "lease_modify(): fasync_helper(0, filp, 0, ...): fasync_remove_entry(): "
        "spin_lock(&filp->f_lock)",
        "locks_delete_lock_ctx(&fl->c, dispose)",
        "locks_dispose_list(&dispose): locks_free_lease(fl)",
        "__fput(): i_readcount_dec(inode)",
    ]
    at = [labels.index(order[0])]
    for label in order[1:]:
        at.append(labels.index(label, at[-1] + 1))
    removal = labels[at[5] : at[-1]]
    assert not [label for label in removal if "lm_change" in label]
    model = shipped.build(shipped.scenario(SCENARIO))
    assert not [
        step
        for step in model.threads[0].program.steps[at[5] :]
        if "lock_manager_operations.lm_change" in step.tags
    ]
    skipped = _labels(shipped, 0, (SKIPS_WAKEUP,))
    removal = "if (filp == fl->c.flc_file) lease_modify(fl, F_UNLCK, &dispose)"
    lease_removal = skipped[skipped.index(removal) :]
    assert "__locks_delete_block(waiter); wake_up(&waiter->fl_wait)" not in lease_removal
    assert "locks_delete_lock_ctx(&fl->c, dispose)" not in lease_removal
    assert (
        "list_del_init(&fl->c.flc_list); list_add(&fl->c.flc_list, dispose) /* no wake-up */"
        in lease_removal
    )


def test_f_getlease_reuses_time_out_leases_under_flc_lock(shipped: Registry) -> None:
    labels = _labels(shipped, 2)
    start = labels.index("fcntl_getlease(): spin_lock(&ctx->flc_lock)")
    assert labels[start + 1 : start + 3] == [
        "time_out_leases(): lockdep_assert_held(&ctx->flc_lock)",
        "time_out_leases(inode, &dispose)",
    ]
    assert labels[start + 4] == "spin_unlock(&ctx->flc_lock)"


def test_f_getlease_reports_what_a_pending_break_asks_for(shipped: Registry) -> None:
    """target_leasetype(): the child sees the read lease, F_UNLCK once the
    opener marked it FL_UNLOCK_PENDING, nothing (the lockless list check)
    before the lease is inserted or after it went; never a write lease."""
    model = shipped.build(shipped.scenario(SCENARIO), properties=())
    slot = next(i for i, s in enumerate(model.world.slots) if s.name == "T3.fcntl_getlease#1/type")
    seen = {state[slot] for state in reachable_states(model)}
    assert {None, READ, UNLOCK} <= seen and WRITE not in seen, seen


def test_either_sharer_s_close_may_be_the_last(shipped: Registry, end_states: EndStates) -> None:
    """Every end leaves no lease, no blocked opener and no open file, and
    the lease is removed by the parent's close in some runs, by the child's
    in others (whichever drops the last reference)."""
    slots, ends = end_states(SCENARIO)
    for state in ends:
        assert state[slots["flc_lease(/f)"]] == ()
        assert state[slots["blocked requests"]] == ()
        assert state[slots["opens(/f)"]] == ()
        assert state[slots["f_count(filp)"]] == 0
    removed = "close_file#2/locks_remove_file#4/locks_remove_lease#7/dispose"
    model = shipped.build(shipped.scenario(SCENARIO), properties=())
    reached = reachable_states(model)
    for thread in ("T1", "T3"):
        slot = slots[f"{thread}.{removed}"]
        assert any(state[slot] is True for state in reached), thread


def test_f_getlease_can_time_out_an_unanswered_lease(shipped: Registry) -> None:
    """With a holder that never answers, a third process's F_GETLEASE (of a
    file of its own) runs time_out_leases() under flc_lock as the breaker
    does, and may be the one that removes the timed-out lease: OK."""
    registry = registry_with(
        shipped,
        scenarios=[
            Scenario(
                "test/getlease-timeout",
                "an unanswered lease, an opener, and F_GETLEASE on a file of its own",
                ("/f",),
                (lease_never_answered("/f", READ), open_for_write("/f"), getlease("/f")),
                properties=LEASE_PROPERTIES,
            )
        ],
    )
    result = check(registry.build(registry.scenario("test/getlease-timeout"), ()))
    assert result.verdict is Verdict.OK, result.violation


def test_a_sharer_closing_through_locks_remove_flock_alone_is_refused(
    shipped: Registry,
) -> None:
    """flock_lock's close runs locks_remove_flock() alone: were it the last
    fput of a leased file, the lease would stay behind, so the scenario is
    refused rather than reported as a leak."""
    scenario = Scenario(
        "test/flock-sharer",
        "a lease and a flock through one shared open file",
        ("/f",),
        (lease_then_close("/f", READ, "filp"), flock_lock("/f", "LOCK_SH", "filp")),
        properties=BASE_PROPERTIES,
    )
    registry = registry_with(shipped, scenarios=[scenario])
    with pytest.raises(ModelError, match=r"T2 shares the open file filp of /f with T1"):
        registry.build(registry.scenario("test/flock-sharer"), ())


def test_the_flock_variants_are_not_listed_where_only_an_unlock_asks(
    shipped: Registry,
) -> None:
    """The close's locks_remove_flock() unlocks: the flock variants change
    only a lock request, so neither is listed for the scenario (a check
    with them said they change nothing)."""
    listed = set(applicable_variants(shipped, shipped.scenario(SCENARIO)))
    assert SKIPS_WAKEUP in listed
    assert not {"flock-upgrade-in-place", "flock-drops-flc_lock-midway"} & listed
