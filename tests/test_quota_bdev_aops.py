"""Disk quotas, block devices, metadata buffers and the remaining
address-space methods: the correct protocol passes and each protocol
variant breaks the property that says what the lock it drops protects, with
a message naming what went wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import EndStates, registry_with

import mc.testing
from mc.check import lockorder
from mc.check.checker import check_scenario
from mc.check.registry import shipped as shipped_registry
from mc.check.registry import with_files
from mc.dsl.scenario import Registry, Scenario, Variant
from mc.engine.result import Verdict
from mc.kernel.pagecache import File
from mc.kernel.world import ModelError
from mc.models.aops import memory_failure, migrate
from mc.models.bdev import free_swap_slot
from mc.models.quota import QuotaFile, Quotas, chown, quota_sync
from mc.models.truncate import mmap_stores
from mc.models.writeback import fsync, io_completion
from mc.project import ROOT

BROKEN = [
    ("quota/alloc-vs-chown", "alloc-without-i_lock", "quota-usage-exact", "alice's dquot"),
    (
        "quota/alloc-vs-sync",
        "add-space-without-dq_dqb_lock",
        "quota-usage-exact",
        "charged 2 block(s)",
    ),
    ("quota/alloc-vs-sync", "commit-clears-dirty-late", "quota-record-current", "is clean"),
    (
        "quota/alloc-vs-chown",
        "dqput-without-we_slept",
        "quota-released-clean",
        "no reference left but is still dirty",
    ),
    ("bdev/exclusive-opens", "claim-without-bd_claiming", "bdev-exclusive", "{fs, md}"),
    ("bdev/rescan-vs-open", "rescan-without-claim", "bdev-exclusive", "rescans sda"),
    ("bdev/exclusive-opens", "open-without-open_mutex", "spec-conformance", "without open_mutex"),
    ("bdev/swap-slot-free", "slot-free-without-si-lock", "spec-conformance", "si->lock"),
    ("aops/migrate-vs-write", "migrate-dst-unlocked", "folio-data-current", "newest data"),
    ("aops/migrate-vs-write", "migrate-loses-dirty", "dirty-coherent", "clean"),
    ("aops/swapon-vs-truncate", "swapon-without-inode-lock", "swap-extents-valid", "freed"),
    (
        "aops/memory-failure-vs-read",
        "memory-failure-unlocked",
        "spec-conformance",
        "error_remove_page without PG_locked",
    ),
    (
        "aops/partial-block-read",
        "partially-uptodate-unlocked",
        "spec-conformance",
        "is_partially_uptodate without PG_locked",
    ),
    # metadata buffers (models/buffer.py)
    (
        "buffer/two-updaters",
        "bread-skips-uptodate-recheck",
        "metadata-update-durable",
        "alice's update of block 7 is lost: the block holds no bits set, the buffer holds {bob}",
    ),
    (
        "buffer/update-vs-reclaim",
        "free-buffers-ignores-b_count",
        "bh-no-use-after-free",
        "touches buffer_head #1 of block 7, which try_to_free_buffers() freed",
    ),
    (
        "buffer/sync-update-vs-flusher",
        "writeback-skips-redirty",
        "metadata-update-durable",
        "bob's update of block 7 is lost: the block holds {alice}, the buffer holds "
        "{alice, bob} (cached, clean, buffer Uptodate|Dirty)",
    ),
    (
        "buffer/sync-update-vs-syncfs",
        "sync-writeback-trylocks",
        "metadata-synced",
        "T3's sync_blockdev() returns with alice's update of block 7, dirty in the folio when "
        "it began, not on the device",
    ),
]


@pytest.mark.parametrize(("scenario", "variant", "prop", "words"), BROKEN)
def test_each_variant_breaks_what_the_lock_protects(
    shipped: Registry, scenario: str, variant: str, prop: str, words: str
) -> None:
    assert check_scenario(shipped, scenario, []).result.violation is None
    found = check_scenario(shipped, scenario, [variant]).result.violation
    assert found is not None
    assert found.property == prop
    assert words in found.message


def test_a_chown_moves_the_usage_and_releases_the_old_dquot(end_states: EndStates) -> None:
    """The last reference to alice's dquot is dropped by chown: every end
    state has it released (not active, its record freed) and bob's dquot
    charged with both blocks."""
    slots, ends = end_states("quota/alloc-vs-chown")
    for state in ends:
        assert state[slots["DQ_ACTIVE_B(alice)"]] is False
        assert state[slots["quota file record(alice)"]] is None
        assert state[slots["dqb_curspace(bob)"]] == 2
        assert state[slots["i_blocks(/a)"]] == 2


def test_the_quota_locks_are_taken_where_ext4_takes_them(shipped: Registry) -> None:
    """The fault charges a block with the dquot pointer its open set, so
    it takes no dquot lock under invalidate_lock; chown's last dqput() of
    the old dquot writes and releases it inside ext4_setattr()'s handle;
    an existing record is rewritten under dqio_sem shared, a new one
    allocated under it exclusive (v2_write_dquot())."""
    explored = dict(lockorder.explore(shipped, ["quota/alloc-vs-sync"]))
    edges = explored["quota/alloc-vs-sync"]
    assert ("invalidate_lock", "dq_dqb_lock") in edges
    assert ("invalidate_lock", "dq_lock") not in edges
    assert ("invalidate_lock", "dq_data_lock") not in edges
    model = shipped.build(shipped.scenario("quota/alloc-vs-chown"), properties=())
    [chown] = [t for t in model.threads if t.invocation.operation.name == "chown"]
    steps = [step.label for step in chown.program.steps]
    release = steps.index("dquot_release(): mutex_lock(&dquot->dq_lock)")
    assert release < steps.index("ext4_journal_stop(handle)")
    assert "ext4_release_dquot(): handle = ext4_journal_start()" not in steps
    labels = [step.label for thread in model.threads for step in thread.program.steps]
    assert "down_read(&dqopt->dqio_sem)" in labels and "down_write(&dqopt->dqio_sem)" in labels


def test_chown_holds_freeze_protection_over_its_quota_work(shipped: Registry) -> None:
    """do_fchownat()'s mnt_want_write() is SB_FREEZE_WRITE shared around
    chown_common(): a freezer waits for the chown's handle and dquot
    locks, so sb_writers comes before each of them."""
    explored = dict(lockorder.explore(shipped, ["quota/alloc-vs-chown"]))
    edges = explored["quota/alloc-vs-chown"]
    for inner in ("i_rwsem", "jbd2_handle", "dq_lock", "dqio_sem"):
        assert ("sb_writers", inner) in edges, inner


RELEASE_FIRST = "release-dquot-locks-before-handle"


def test_a_release_outside_a_handle_keeps_the_handle_before_dq_lock(shipped: Registry) -> None:
    """Q_SYNC's last dqput() releases the dquot under a handle of its own,
    which ext4_release_dquot() starts before
    dquot_release() takes dq_lock; the variant that swaps them adds the
    edge dq_lock -> jbd2_handle against chown's jbd2_handle -> dq_lock, a
    cycle the merged lock order reports."""
    names = ["quota/sync-release-vs-chown"]
    documented = lockorder.load_documented()
    correct = lockorder.merge(lockorder.explore(shipped, names), documented)
    assert correct.clean
    assert ("jbd2_handle", "dq_lock") in correct.edges
    assert ("dq_lock", "jbd2_handle") not in correct.edges
    swapped = lockorder.merge(
        lockorder.explore(shipped, names, variants=[RELEASE_FIRST]), documented
    )
    assert ("dq_lock", "jbd2_handle") in swapped.undocumented
    assert (("dq_lock", "jbd2_handle"), ("jbd2_handle", "dq_lock")) in swapped.cycles


def test_a_release_that_locks_before_its_handle_deadlocks_four_threads() -> None:
    """The deadlock itself: Q_SYNC releasing alice's dquot holds dq_lock and
    waits for a handle behind a jbd2 commit, which waits for a chown's
    handle, whose dqget() waits for that dq_lock (bench/scale/quota.py:
    the correct protocol passes there, in about two million states)."""
    registry = with_files([ROOT / "bench" / "scale" / "quota.py"])
    outcome = check_scenario(registry, "scale/quota-release-vs-commit", [RELEASE_FIRST])
    violation = outcome.result.violation
    assert violation is not None and violation.property == "deadlock"
    assert "waits for dq_lock(alice)" in violation.message
    assert "waits for jbd2_handle" in violation.message


@pytest.mark.parametrize(
    "scenario",
    ["writeback/mmap-store-flusher", "writeback/mmap-store-reclaim", "mmap/store-vs-mprotect"],
)
def test_a_store_through_a_mapping_keeps_the_folio_current(
    shipped: Registry, scenario: str
) -> None:
    """A store writes one byte: the folio holding it among the runs of its
    bytes holds the newest data (it was a false alarm)."""
    outcome = check_scenario(shipped, scenario, [], ["folio-data-current"])
    assert outcome.result.violation is None


def test_fsync_after_a_memory_error_returns_eio_and_loses_nothing_silently() -> None:
    """memory_failure() of a dirty folio sets the mapping's wb_err; fsync's
    file_check_and_advance_wb_err() returns -EIO, so the lost store is
    reported, not a lost write."""
    cached = File("/f", pages=1, cached=(0,))
    registry = shipped_registry()
    threads = (memory_failure(cached, 0), mmap_stores(cached, 10, 20), fsync(cached))
    registry.add_scenario(
        Scenario(
            "test/memfail-fsync",
            "x",
            ("/f",),
            (*threads, io_completion(cached)),
            ("deadlock", "completes", "no-lost-write"),
        )
    )
    model = registry.build(registry.scenario("test/memfail-fsync"))
    ret = model.threads[2].slots.ret
    seen, frontier, returned = set(model.init_states()), list(model.init_states()), set()
    while frontier:
        state = frontier.pop()
        if model.finished(state):
            returned.add(state[ret])
        for _action, after in model.successors(state):
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    assert returned == {0, -5}
    assert check_scenario(registry, "test/memfail-fsync").result.violation is None


@pytest.mark.parametrize("taker", [migrate, memory_failure])
def test_migration_and_memory_failure_unmap_the_folio_they_take(taker: object) -> None:
    """try_to_migrate() and hwpoison_user_mappings() clear the ptes of the
    folio they take out of the cache: no pte is left on a folio out of it."""
    cached = File("/f", pages=1, cached=(0,))
    registry = shipped_registry()
    threads = (taker(cached, 0), mmap_stores(cached, 10, 20), io_completion(cached))  # type: ignore[operator]
    registry.add_scenario(
        Scenario("test/unmapped", "x", ("/f",), threads, ("deadlock", "pte-maps-cached-folio"))
    )
    assert check_scenario(registry, "test/unmapped").result.violation is None


DRIVER_RESCAN = """\
from mc.dsl import EXCL, operation, scenario
from mc.models.bdev import bdev_disk_changed, disk, open_exclusive


@operation(models="loop_reread_partitions() (drivers/block/loop.c)", describe=lambda l: "reread")
def reread(op, locked):
    d = disk(op.world)
    if locked:
        op.lock(d.open_mutex, EXCL, "mutex_lock(&lo->lo_disk->open_mutex)")
    bdev_disk_changed(op, d)
    if locked:
        op.unlock(d.open_mutex, "mutex_unlock(&lo->lo_disk->open_mutex)")


scenario("my/reread", "a loop driver's rescan racing a filesystem's exclusive open", tree=[],
         threads=[reread(True), open_exclusive("fs")],
         properties=["lock-protocol", "bdev-exclusive"])
scenario("my/reread-unlocked", "the rescan without open_mutex", tree=[],
         threads=[reread(False)], properties=["lock-protocol"])
"""


def test_a_driver_rescan_claims_nothing_and_asserts_open_mutex(tmp_path: Path) -> None:
    """bdev_disk_changed() asserts open_mutex held (lockdep_assert_held(),
    block/partitions/core.c); a driver's own rescan (loop_reread_partitions())
    runs under a filesystem's exclusive hold without claiming the disk,
    which the kernel allows, so bdev-exclusive does not flag it."""
    path = tmp_path / "reread.py"
    path.write_text(DRIVER_RESCAN)
    mc.testing.check(f"{path}:my/reread", expect="OK")
    broken = mc.testing.check(f"{path}:my/reread-unlocked", expect="lock-protocol")
    assert broken.message is not None
    assert "lockdep_assert_held(&disk->open_mutex)" in broken.message


def test_a_swap_slot_freed_twice_is_refused_naming_the_second_thread() -> None:
    """swap_entry_free() of a free slot is a double free: the model refuses
    the scenario, naming the thread that frees the slot again."""
    registry = shipped_registry()
    registry.add_scenario(Scenario("my/twice", "test", (), (free_swap_slot(0), free_swap_slot(0))))
    with pytest.raises(ModelError, match="T2 frees swap slot 0 too, as T1 does: a slot is freed"):
        registry.build(registry.scenario("my/twice"))


HOLDER_VS_UMOUNT = """
from mc.dsl import EXCL, Op, operation, scenario
from mc.models.bdev import blkdev_get, blkdev_put, disk


@operation(models="a holder op taking s_umount under bd_holder_lock")
def holder_freeze(op: Op) -> None:
    d, sb = disk(op.world), op.world.superblock
    op.lock(d.bd_holder_lock, EXCL, "bdev_freeze(): mutex_lock(&bdev->bd_holder_lock)")
    op.lock(sb.s_umount, EXCL, "super_lock_excl(sb) /* bd_holder_lock still held */")
    op.unlock(sb.s_umount, "super_unlock_excl(sb)")
    op.unlock(d.bd_holder_lock, "mutex_unlock(&bdev->bd_holder_lock)")


def _get(op: Op, d) -> None:
    blkdev_get(op, d, "sb", "fail")
    op.label("fail")


def _put(op: Op, d) -> None:
    blkdev_put(op, d, "sb")


@operation(models="claims the device, then releases it under s_umount")
def mount_umount(op: Op, claims: int) -> None:
    d, sb = disk(op.world), op.world.superblock
    for _ in range(claims):
        op.run(_get, d)
    op.lock(sb.s_umount, EXCL, "deactivate_super(): down_write(&sb->s_umount)")
    op.run(_put, d)
    op.unlock(sb.s_umount, "up_write(&sb->s_umount)")
    for _ in range(1, claims):
        op.run(_put, d)


for claims in (1, 2):
    scenario(f"my/holder-vs-umount-{claims}", "a holder op against an unmount", tree=["/f"],
             threads=[holder_freeze(), mount_umount(claims)], properties=["deadlock"])
"""


def test_bd_end_claim_takes_bd_holder_lock_only_for_the_last_claim(tmp_path: Path) -> None:
    """bd_end_claim() (block/bdev.c, 6.6) takes bd_holder_lock only once
    bd_holders drops to 0: a release under s_umount that leaves a claim
    deadlocks with no holder op that takes s_umount under
    bd_holder_lock; the last release does."""
    (tmp_path / "holder.py").write_text(HOLDER_VS_UMOUNT)
    registry = with_files([tmp_path / "holder.py"])
    last = check_scenario(registry, "my/holder-vs-umount-1").result
    assert last.verdict is Verdict.VIOLATED and last.violation is not None
    assert "bd_holder_lock(sda)" in last.violation.message
    assert check_scenario(registry, "my/holder-vs-umount-2").result.verdict is Verdict.OK


def test_q_sync_warns_without_s_umount(shipped: Registry) -> None:
    """dquot_writeback_dquots() does WARN_ON_ONCE(!rwsem_is_locked(&sb->s_umount)):
    a Q_SYNC that does not take s_umount is a lock-protocol error there."""
    no_s_umount = Variant(
        "q-sync-without-s_umount",
        "quotactl(Q_SYNC) without s_umount",
        transform=lambda program, invocation: (
            program.drop_lock("s_umount") if invocation.runs(quota_sync) else program
        ),
    )
    scenario = shipped.scenario("quota/alloc-vs-sync")
    registry = registry_with(shipped, no_s_umount, scenarios=(scenario,))
    violation = check_scenario(
        registry, scenario.name, ("q-sync-without-s_umount",)
    ).result.violation
    assert violation is not None and violation.property == "lock-protocol"
    assert "WARN_ON_ONCE(!rwsem_is_locked(&sb->s_umount))' without holding s_umount" in (
        violation.message
    )


def test_a_quota_setup_refuses_negative_blocks_and_an_owner_it_does_not_list() -> None:
    with pytest.raises(ModelError, match="a file has 0 blocks or more"):
        QuotaFile("/a", "alice", blocks=-3)
    with pytest.raises(ModelError, match="owned by alice, who is not among"):
        Quotas((QuotaFile("/a", "alice"),), owners=("bob",))


def test_a_quota_setup_refuses_a_dirty_dquot_not_in_memory_and_a_chown_of_no_pointer(
    shipped: Registry,
) -> None:
    with pytest.raises(ModelError, match="names bob, whose dquot is not in memory"):
        Quotas((QuotaFile("/a", "alice"),), dirty=("bob",))
    fresh = Quotas((QuotaFile("/a", "alice", initialized=False),))
    scenario = Scenario("my/chown-fresh", "", tree=("/a",), threads=(chown(fresh, "/a", "bob"),))
    with pytest.raises(ModelError, match="has initialized=False, but the model's chown"):
        registry_with(shipped, scenarios=(scenario,)).build(scenario, (), ())


def test_journalled_quota_puts_no_dquot_on_the_dirty_list(shipped: Registry) -> None:
    """ext4_quota_on() sets DQUOT_NOLIST_DIRTY for a journalled quota file:
    Q_SYNC there writes no dquot and takes no dq_lock, where with the dirty
    list it writes bob's, dirty from a Q_SETQUOTA, under a handle of its own."""
    journalled = shipped.build(shipped.scenario("quota/journalled-alloc-vs-sync-commit"))
    [sync] = [t for t in journalled.threads if t.invocation.operation.name == "quota_sync"]
    labels = [step.label for step in sync.program.steps]
    assert not any("dq_lock" in label or "write_dquot" in label for label in labels), labels
    listed = shipped.build(shipped.scenario("quota/sync-vs-chown-commit"))
    [sync] = [t for t in listed.threads if t.invocation.operation.name == "quota_sync"]
    labels = [step.label for step in sync.program.steps]
    assert labels.index("ext4_write_dquot(): handle = ext4_journal_start()") < labels.index(
        "dquot_commit(): mutex_lock(&dquot->dq_lock)"
    )


def test_a_release_outside_a_handle_is_freeze_protected_from_6_15(shipped: Registry) -> None:
    """ext4_release_dquot() outside a running handle takes sb_start_intwrite()
    before its handle under release-dquot-freeze-protected (6.15), so
    Q_SYNC's last dqput() has s_umount -> sb_internal -> jbd2_handle; chown's
    release, inside its handle, takes no freeze level; before 6.15 none does."""
    names = ["quota/sync-release-vs-chown"]
    edges = dict(lockorder.explore(shipped, names, variants=["release-dquot-freeze-protected"]))[
        names[0]
    ]
    assert ("s_umount", "sb_internal") in edges
    assert ("sb_internal", "jbd2_handle") in edges
    before = dict(lockorder.explore(shipped, names))[names[0]]
    assert ("s_umount", "sb_internal") not in before
    model = shipped.build(
        shipped.scenario("quota/alloc-vs-chown"), ("release-dquot-freeze-protected",), ()
    )
    [owner] = [t for t in model.threads if t.invocation.operation.name == "chown"]
    assert not any("sb_start_intwrite" in step.label for step in owner.program.steps)


@pytest.mark.parametrize("name", ["quota/evict-vs-frozen-qsync", "quota/evict-vs-frozen-sync"])
def test_a_freeze_protected_release_hangs_the_thaw_two_ways(shipped: Registry, name: str) -> None:
    """On a frozen filesystem, 6.15's ext4_release_dquot() waits in
    sb_start_intwrite() for the thaw.  With 6.4's dqput() the eviction
    itself waits there, holding the s_umount the shrinker trylocked; with
    6.6's worker the worker waits, and Q_SYNC or sync(2) holds s_umount in
    6.13's flush_delayed_work().  Either way the thaw waits for s_umount.
    Without the freeze protection both cores pass."""
    protected = "release-dquot-freeze-protected"
    for variants in ([], ["quota-release-worker"]):
        assert check_scenario(shipped, name, variants).result.violation is None, variants
    shrinker = check_scenario(shipped, name, [protected]).result.violation
    assert shrinker is not None and shrinker.property == "deadlock"
    assert "T2 waits for sb_internal" in shrinker.message
    assert "waits for s_umount held by T2" in shrinker.message
    worker = check_scenario(shipped, name, ["quota-release-worker", protected]).result.violation
    assert worker is not None and worker.property == "deadlock"
    for waits in (
        "T3 waits for sb_internal",
        "waits for s_umount held by T4",
        "T4 waits for quota_release_work to finish",
    ):
        assert waits in worker.message, worker.message


def test_the_release_worker_is_offered_only_where_a_worker_runs(shipped: Registry) -> None:
    """Without a quota_release_worker thread nothing would run the work: the
    variant changes nothing there, and a dqput() keeps 6.4's loop."""
    model = shipped.build(shipped.scenario("quota/alloc-vs-chown"), ("quota-release-worker",))
    labels = [step.label for thread in model.threads for step in thread.program.steps]
    assert not any("queue_delayed_work" in label for label in labels)
    worker = shipped.build(
        shipped.scenario("quota/evict-vs-frozen-qsync"), ("quota-release-worker",)
    )
    [sync] = [t for t in worker.threads if t.invocation.operation.name == "quota_sync"]
    assert "flush_delayed_work(&quota_release_work)" in [s.label for s in sync.program.steps]


def test_check_says_where_the_release_worker_is_asked(vfsmc: Callable[..., Result]) -> None:
    result = vfsmc("check", "quota/sync-release-vs-chown", "-V", "quota-release-worker")
    assert result.exit_code == 2, result.output
    assert (
        "changes nothing in quota/sync-release-vs-chown (it is asked only in a scenario that "
        "runs a quota_release_worker thread" in result.output
    )


def test_two_acquires_without_dq_lock_read_the_record_over_a_charge(shipped: Registry) -> None:
    """->quota_read reads the record's usage into the dquot: two chowns to an
    owner whose dquot is not read in, with dquot_acquire() not taking
    dq_lock, both read it, and the second read overwrites the first
    chown's charge."""
    no_dq_lock = Variant(
        "acquire-without-dq_lock",
        "dquot_acquire() without dq_lock",
        transform=lambda program, _invocation: program.drop_acquisitions(
            lambda step: step.label.startswith("dquot_acquire(): mutex_lock(&dquot->dq_lock)")
        ),
    )
    quotas = Quotas(
        (QuotaFile("/a", "alice", blocks=1), QuotaFile("/b", "bob", blocks=1)),
        owners=("alice", "bob", "carol"),
    )
    scenario = Scenario(
        "test/two-chowns-to-carol",
        "two chowns to an owner whose dquot is not read in",
        ("/a", "/b"),
        (chown(quotas, "/a", "carol"), chown(quotas, "/b", "carol")),
        ("lock-protocol", "deadlock", "completes", "quota-usage-exact"),
    )
    registry = registry_with(shipped, no_dq_lock, scenarios=(scenario,))
    assert check_scenario(registry, scenario.name).result.verdict is Verdict.OK
    outcome = check_scenario(registry, scenario.name, ("acquire-without-dq_lock",))
    violation = outcome.result.violation
    assert violation is not None and violation.property == "quota-usage-exact"
    assert (
        violation.message
        == "carol's dquot is charged 1 block(s) but the inodes pointing to it have 2"
    )
