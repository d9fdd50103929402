"""nfsd's delegation runs generic_add_lease()'s body, as the kernel does:
the i_rwsem trylock and both check_conflicting_open() calls, which answer
0 for FL_DELEG; what keeps a delegation from a writer is nfsd's own
nfsd4_check_conflicting_opens()."""

from __future__ import annotations

from mc.check.checker import check_scenario
from mc.dsl.scenario import Registry
from mc.engine.result import Verdict

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
