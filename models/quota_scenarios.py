"""Scenarios of disk quotas (``quota/<name>``) and the invariants that say
what inode->i_lock, dquot->dq_dqb_lock, the dirty bit and the last dqput()'s
loop protect."""

from __future__ import annotations

from typing import Any

from mc.dsl import BASE_PROPERTIES, File, invariant, scenario
from mc.dsl.kernel_model import KernelModel
from mc.engine.model import Check
from mc.kernel.expr import State
from mc.models.journal import jbd2_commit_metadata
from mc.models.quota import (
    QuotaFile,
    Quotas,
    alloc_block,
    chown,
    evict_dquots,
    quota_release_worker,
    quota_sync,
    quotas_of,
    record_current,
    released_clean,
    sync_quotas,
    usage_consistent,
)
from mc.models.super import freeze, thaw

USAGE = "quota-usage-exact"
RECORD = "quota-record-current"
RELEASED = "quota-released-clean"
CHOWN_FS = Quotas((QuotaFile("/a", "alice", blocks=1),))
SHARED_FS = Quotas(
    (QuotaFile("/a", "alice", blocks=1), QuotaFile("/b", "alice", blocks=0, initialized=False)),
    owners=("alice",),
)
JOURNALLED_FS = Quotas((QuotaFile("/a", "alice", blocks=1),), owners=("alice",), journalled=True)
SWAP_FS = Quotas((QuotaFile("/a", "alice", blocks=1), QuotaFile("/b", "bob", blocks=1)))
ALICE_FS = Quotas((QuotaFile("/a", "alice", blocks=1),), owners=("alice",))
FROZEN_FILE = File("/f", pages=1)
LIMITS_SET_FS = Quotas(
    (QuotaFile("/a", "alice", blocks=1), QuotaFile("/b", "bob", blocks=1)), dirty=("bob",)
)


@invariant(
    USAGE,
    "once every thread has returned, each dquot's charged space equals the blocks of the inodes "
    "whose quota pointer names it: no usage lost or counted twice",
    reads=["returned", "dqb_curspace", "i_dquot", "i_blocks"],
    needs=("quota", "disk quotas (a dquot charged or moved)"),
)
def usage_exact(model: KernelModel) -> Check[State]:
    quotas = quotas_of(model.world) or Quotas(())

    def check(state: State) -> str | None:
        if not model.finished(state):
            return None
        return usage_consistent(model.world, quotas, state)

    return check


@invariant(
    RECORD,
    "once every thread has returned, every dquot that is not dirty has its usage recorded in "
    "the quota file (a dquot released with no usage has its record deleted)",
    reads=["returned", "DQ_MOD_B", "dqb_curspace", "quota file record"],
    needs=("quota", "disk quotas (a dquot charged or moved)"),
)
def record_is_current(model: KernelModel) -> Check[State]:
    quotas = quotas_of(model.world) or Quotas(())

    def check(state: State) -> str | None:
        if not model.finished(state):
            return None
        return record_current(model.world, quotas, state)

    return check


@invariant(
    RELEASED,
    "once every thread has returned, every dquot no one holds a reference to is clean and "
    "not active: the last dqput() wrote it and released it",
    reads=["returned", "dq_count", "DQ_MOD_B", "DQ_ACTIVE_B"],
    needs=("quota", "disk quotas (a dquot charged or moved)"),
)
def released_is_clean(model: KernelModel) -> Check[State]:
    quotas = quotas_of(model.world) or Quotas(())

    def check(state: State) -> str | None:
        if not model.finished(state):
            return None
        return released_clean(model.world, quotas, state)

    return check


def _scenario(name: str, description: str, quotas: Quotas, threads: list[Any]) -> None:
    scenario(
        name,
        description,
        tree=[f.path for f in quotas.files],
        threads=threads,
        properties=(*BASE_PROPERTIES, USAGE, RECORD, RELEASED),
    )


_scenario(
    "quota/alloc-vs-chown",
    "a write allocating a block of alice's file while chown(2) gives the file to bob (whose "
    "dquot is read from the quota file) and drops alice's last reference (written, released)",
    CHOWN_FS,
    [alloc_block(CHOWN_FS, "/a"), chown(CHOWN_FS, "/a", "bob")],
)

_scenario(
    "quota/alloc-vs-sync",
    "two writes allocating blocks of two files charged to alice's dquot (the second file's "
    "dquot pointer set by dquot_initialize()) while quotactl(Q_SYNC) writes dirty dquots back",
    SHARED_FS,
    [alloc_block(SHARED_FS, "/a"), alloc_block(SHARED_FS, "/b"), quota_sync(SHARED_FS)],
)

_scenario(
    "quota/journalled-alloc-vs-sync-commit",
    "with journalled quota (usrjquota=), a write allocating a block of alice's file writes her "
    "dquot from ->mark_dirty inside its handle (dq_lock, dqio_sem) while quotactl(Q_SYNC) finds "
    "no dquot on the dirty list (DQUOT_NOLIST_DIRTY) and a jbd2 commit waits for the handles",
    JOURNALLED_FS,
    [alloc_block(JOURNALLED_FS, "/a"), quota_sync(JOURNALLED_FS), jbd2_commit_metadata()],
)

scenario(
    "quota/sync-vs-chown-commit",
    "quotactl(Q_SYNC) writes bob's dquot, dirty from a Q_SETQUOTA of his limits, under a "
    "handle of its own while chown(2) gives alice's file to bob (dqget() of bob's dquot "
    "inside its handle: wait_on_dquot()) and a jbd2 commit waits for the handles (the lock "
    "order alone: the quota invariants are checked where these operations meet in fewer threads)",
    tree=[f.path for f in LIMITS_SET_FS.files],
    threads=[chown(LIMITS_SET_FS, "/a", "bob"), quota_sync(LIMITS_SET_FS), jbd2_commit_metadata()],
)

_scenario(
    "quota/sync-release-vs-chown",
    "chown(2) gives alice's file to bob (alice's dquot marked dirty, its last inode reference "
    "dropped) while quotactl(Q_SYNC) takes a reference to the dirty dquot, writes it and, as "
    "its last dqput(), releases it under a handle of its own",
    SWAP_FS,
    [chown(SWAP_FS, "/a", "bob"), quota_sync(SWAP_FS)],
)

for name, description, syncer in (
    (
        "quota/evict-vs-frozen-qsync",
        "fsfreeze -f; drop_caches evicts alice's file (its dquot_drop() drops her dquot's last "
        "reference, under the s_umount the shrinker trylocks); quotactl(Q_SYNC), which a frozen "
        "filesystem does not hold back; fsfreeze -u; and the worker of quota_release_work "
        "(6.6+, -V quota-release-worker; idle before)",
        quota_sync,
    ),
    (
        "quota/evict-vs-frozen-sync",
        "quota/evict-vs-frozen-qsync with sync(2) in place of quotactl(Q_SYNC): ext4_sync_fs() "
        "writes the dquots back, and waits for quota_release_work, on a frozen filesystem too",
        sync_quotas,
    ),
):
    scenario(
        name,
        description,
        tree=["/a", "/f"],
        threads=[
            freeze(FROZEN_FILE),
            evict_dquots(ALICE_FS, "/a"),
            quota_release_worker(ALICE_FS),
            syncer(ALICE_FS),
            thaw(FROZEN_FILE),
        ],
        properties=(*BASE_PROPERTIES, RECORD, RELEASED),
    )
