"""specs/expectations.toml against the models: every row's verdict, a
row for every shipped scenario on the correct protocol, every variant caught
somewhere."""

from __future__ import annotations

import pytest

from mc.check import expectations
from mc.check.checker import check_scenario
from mc.dsl.scenario import Registry
from mc.engine.explore import Options
from mc.engine.result import Verdict

ROWS = expectations.load()


@pytest.mark.parametrize("row", ROWS, ids=[row.label for row in ROWS])
def test_expected_verdict(shipped: Registry, row: expectations.Expectation) -> None:
    """What ``vfsmc regress`` checks of each row: the verdict, the property
    and the baseline of states."""
    outcome = check_scenario(shipped, row.scenario, row.variants, row.properties)
    result = outcome.result
    assert result.verdict is row.verdict, result.violation
    assert row.states is None or result.stats.states == row.states, (
        f"{result.stats.states} states, baseline {row.states}: review, then vfsmc regress --update"
    )
    if row.violated is not None:
        assert result.violation is not None and result.violation.property == row.violated
        assert outcome.counterexample is not None
        symbolic = "symbolic" in outcome.model.world.parts
        assert bool(outcome.counterexample.witness) == symbolic


@pytest.mark.parametrize("row", ROWS, ids=[row.label for row in ROWS])
def test_the_full_search_gives_every_row_its_verdict(
    shipped: Registry, row: expectations.Expectation
) -> None:
    """Without partial-order reduction each row gets the verdict and the
    violated property it gets with it (``test_expected_verdict``): the
    reduction loses no violation of any shipped scenario and variant, and
    finds none the full search does not."""
    outcome = check_scenario(
        shipped, row.scenario, row.variants, row.properties, Options(reduce=False)
    )
    result = outcome.result
    assert result.verdict is row.verdict, result.violation
    if row.violated is not None:
        assert result.violation is not None and result.violation.property == row.violated


def test_every_shipped_scenario_passes_on_the_correct_protocol(shipped: Registry) -> None:
    correct = {row.scenario for row in ROWS if not row.variants and row.verdict is Verdict.OK}
    assert set(shipped.scenarios) <= correct


LOCKDEP_ONLY = {"vma-lock-under-i-mmap", "release-dquot-locks-before-handle"}
"""Variants whose fault is a lock order lockdep reports and no interleaving
of a shipped scenario deadlocks on: `vfsmc lockorder` finds each
(tests/test_lockorder.py and tests/test_quota_bdev_aops.py show the
cycles), the checks pass.  As in the kernel, no interleaving deadlocks on
vma-lock-under-i-mmap; release-dquot-locks-before-handle deadlocks with
four threads (bench/scale/quota.py), more than a shipped scenario has."""


FILESYSTEM_CHOICES = {
    "ext4-set-takes-xattr-sem",
    "reclaim-writes",
    "no-fault-around",
    "fault-under-vma-lock",
    "getblk-locks-folio",
    "f-lock-only-without-f-pos-lock",
    "punch-no-writeback",
}
"""Variants that make a shipped body one filesystem's, one system's or one
kernel version's (ext4's ->set under its xattr_sem, ext2's ->writepage
writing from reclaim, read faults without fault-around, 6.7+'s ->fault
under the per-VMA lock, 6.16+'s bdev_getblk() lookup under the folio
lock, 6.15+'s hole punch without writeback), or a kernel change as its
author meant it (da06e3c51794's SEEK_CUR as its message describes it)
rather than break the protocol: a change of one's own is checked with
them, and they break nothing alone."""


def test_every_variant_is_caught_by_some_scenario(shipped: Registry) -> None:
    caught = {
        variant for row in ROWS if row.violated for variant in row.variants
    } - FILESYSTEM_CHOICES
    assert set(shipped.variants) <= caught | LOCKDEP_ONLY | FILESYSTEM_CHOICES
    assert not LOCKDEP_ONLY & caught
    assert not [row for row in ROWS if row.violated and set(row.variants) <= FILESYSTEM_CHOICES]
