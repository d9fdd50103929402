"""Disk quotas: charging a block to an inode's dquot, moving an inode to
another owner's dquot (chown), and writing dquots back to the quota file.

Written from fs/quota/dquot.c of the stored torvalds/linux tree (commit
1ac731c5, the 6.4 cycle): ``dqget()``, ``dqput()``, ``dquot_acquire()``,
``dquot_commit()``, ``dquot_release()``, ``dquot_mark_dquot_dirty()``,
``__dquot_initialize()``, ``__dquot_alloc_space()``, ``__dquot_transfer()``,
``dquot_writeback_dquots()``, and the locking comment at its top: "inode->i_lock
protects inode->i_blocks, i_bytes and also guards consistency of
dquot->dq_dqb with inode->i_blocks, i_bytes so that dquot_transfer() can
stabilize amount it transfers", "dquot->dq_dqb_lock protects data from
dq_dqb", and the order "s_umount > i_mutex > journal_lock > dquot->dq_lock >
dqio_sem"; ``dquot_is_busy()`` of include/linux/quotaops.h (DQ_MOD_B, then
``dq_count > 1``: since 2019, df4bb5d128e2 "quota: Check that quota is
not dirty before release").  The quota format's methods (fs/quota/quota_v2.c
``v2_read_dquot()``, ``v2_write_dquot()``, ``v2_release_dquot()``,
``v2_write_file_info()``, and fs/quota/quota_tree.c
``qtree_release_dquot()``) take ``dqio_sem`` around the filesystem's
``->quota_read``/``->quota_write``; the ``dquot_operations`` are ext4's
shape (fs/ext4/super.c ``ext4_acquire_dquot()``, ``ext4_write_dquot()``,
``ext4_release_dquot()``, ``ext4_write_info()``: a journal handle, then the
generic function).  (The store also holds an older text of torvalds/linux
fs/quota/dquot.c, 0110c350, with ``dqio_mutex`` and ``dqonoff_mutex``,
which read_file gives when no commit is named: not used.)

Read again in a 6.17-rc3 tree (Kingxukai/linux, fs/quota/dquot.c at
9b44fff6): ``dquot_acquire()``, ``dquot_commit()`` and ``dquot_release()``
take ``dq_lock`` as modelled (with ``memalloc_nofs_save()``), and
``dqget()`` is unchanged (under ``dq_list_lock``, ``dq_state_lock`` nested
only around the test that quota is on and dropped before
``find_dquot()``; the reference taken under dq_list_lock;
``wait_on_dquot()``'s dq_lock, then ->acquire_dquot with no spinlock
held); ``__dquot_transfer()`` takes ``dq_data_lock`` then ``inode->i_lock``
and, inside, each dquot's ``dq_dqb_lock`` (modelled).  The models follow
6.4's synchronous ``dqput()``: the last reference loops (``goto
we_slept``), writing a dirty dquot (``->write_dquot``) and releasing an
active one (``->release_dquot``) in the thread that drops it, under what
it holds (a chown's i_rwsem and journal handle).  Since Linux 6.6
("quota: fix dqput() to follow the guarantees dquot_srcu should
provide") the last ``dqput()`` puts the dquot on ``releasing_dquots``
(DQ_RELEASING_B) and queues ``quota_release_work``, whose
``quota_release_workfn()`` waits for ``synchronize_srcu(&dquot_srcu)`` and
then runs the same loop; ``dquot_is_busy()`` tests ``dq_count > 0``, the
worker holding no reference; ``dquot_writeback_dquots()`` flushes that
work first (since 6.13, ac6f420291b3) and skips a releasing dquot.  In the worker the
methods run under none of the caller's locks, so for the caller's locks
the 6.4 shape is the stricter test of the lock order; but
``dquot_writeback_dquots()`` waits for that worker
(``flush_delayed_work(&quota_release_work)``) with s_umount held.  The
variant ``quota-release-worker`` is that core, read in 6.17-rc3
(``dqput()``, ``quota_release_workfn()``, ``dquot_writeback_dquots()`` at
9b44fff6), for a scenario that runs a ``quota_release_worker`` thread:
``quota/evict-vs-frozen-qsync`` deadlocks under it with
``release-dquot-freeze-protected`` (the worker's ``ext4_release_dquot()``
waits in ``sb_start_intwrite()`` for the thaw, Q_SYNC holds s_umount
waiting for the worker, the thaw waits for s_umount), and under
``release-dquot-freeze-protected`` alone (the shrinker's eviction waits
there holding s_umount).  Both 6.4 and 6.17 ``dquot_writeback_dquots()``
assert s_umount (``WARN_ON_ONCE(!rwsem_is_locked(&sb->s_umount))``) and
take no ``dqonoff_mutex``.

Two quota setups are modelled.  The first has a dirty list and no
journalled quota: ext4 mounted with ``usrquota`` and a visible quota file
(quotaon(8)), no ``usrjquota=``.  The second (``Quotas(journalled=True)``)
is journalled quota with a visible quota file, ``usrjquota=``: there
``ext4_is_quota_journalled()`` holds and ``ext4_mark_dquot_dirty()``
(read in 6.17-rc3, fs/ext4/super.c at Kingxukai/linux 0291023e) does
``dquot_mark_dquot_dirty(dquot); return ext4_write_dquot(dquot);``: the
dquot is put on the dirty list and written at once, ``ext4_write_dquot()``
starting a handle that nests in the caller's (``jbd2__journal_start()`` of
fs/jbd2/transaction.c, 6.17-rc3: ``current->journal_info`` is the handle
the task holds, ``h_ref++``, no wait) and ``dquot_commit()`` taking
dq_lock, then ``v2_write_dquot()`` dqio_sem, under it.  So every charge
takes dq_lock and dqio_sem inside the allocation's handle: the order
journal > dq_lock > dqio_sem of the header above, which ext4's
``ext4_write_dquot()``, ``ext4_acquire_dquot()`` and
``ext4_release_dquot()`` keep by starting the handle before calling the
generic function (``quota/journalled-alloc-vs-sync-commit``; and
``quota/sync-vs-chown-commit`` with the dirty list, where the variant
``write-dquot-locks-before-handle`` deadlocks against a jbd2 commit,
``models/journal.py``'s ``jbd2_commit_metadata``).  With journalled quota
no dquot is on the dirty list: ``ext4_quota_on()`` sets
DQUOT_NOLIST_DIRTY for a journalled quota file (6.17-rc3, fs/ext4/super.c
at 0291023e), ``dquot_mark_dquot_dirty()`` then only sets DQ_MOD_B, and
Q_SYNC writes no dquot ("journalled quota has no dirty dquots",
``ext4_sync_fs()``).  The common ext4 setup today, the ``quota`` feature
(hidden system quota inodes, ``mkfs.ext4 -O quota``), is the same:
``ext4_enable_quotas()`` sets ``DQUOT_QUOTA_SYS_FILE | DQUOT_NOLIST_DIRTY``
and ``ext4_is_quota_journalled()`` holds.  The journalled path leaves out ``ext4_quota_write()``'s
own work (the quota file's ``i_data_sem`` in its lockdep subclass
I_DATA_SEM_QUOTA, taken under the allocating inode's ``i_data_sem``,
which the models leave out too) and its buffers;
Documentation/filesystems/locking.rst says ``mark_dirty`` does no FS
recursion, which ext4's journalled ``->mark_dirty`` breaks (the spec
tables' "FS recursion" column is not checked).

State: per inode ``i_blocks`` and its user-quota pointer ``i_dquot``; per
dquot ``dqb_curspace``, DQ_ACTIVE_B, DQ_READ_B, DQ_MOD_B, its reference
count and the usage its record in the quota file holds (none once
deleted); the quota info's DQF_INFO_DIRTY.

What the models leave out: group and project quotas (one quota type), limits
and warnings (no allocation fails; every dquot is DQ_FAKE_B, so a released
dquot with no usage has its record deleted), the inode counts, reserved
space (delayed allocation: the store's fault is the nodelalloc path), the
dquot hash and free lists and the shrinker, ``dquot_srcu`` (the pointers
the models read stay valid: no quotaoff), ``dq_data_lock`` around setting
the pointers in ``__dquot_initialize()`` (one step; ``__dquot_transfer()``
takes it as a lock around i_lock) and around ``mark_info_dirty()``,
``dq_state_lock`` (quotaon/quotaoff state: no quotaoff), quota on and
off themselves (``dquot_disable()`` with s_umount exclusive: the worker
flush, the wait for ``dq_count``, ``->sync_fs`` and the quota file's
i_rwsem; ``ext4_quota_on()``: s_umount, the quota file's i_rwsem, a
handle), the dquot writeback of ext4's ``->sync_fs`` (``ext4_sync_fs()``
calls ``dquot_writeback_dquots()`` without journalled quota, so sync(2),
syncfs(2), the sync in ``freeze_super()`` and umount reach
``->write_dquot``: a handle, dq_lock, dqio_sem; here only quotactl(Q_SYNC)
does), the quota tree's
blocks (a record is one value; allocating one dirties the info, freeing
one dirties it too), errors other than ``dquot_commit()``'s -EIO for an
inactive dquot, ``dquot_quota_sync()``'s ``->sync_fs(sb, 1)`` and ``inode_lock()`` of
each quota file after the writeback when the quota files are not hidden,
and the two steps of ``dquot_mark_dquot_dirty()``: the kernel tests
DQ_ACTIVE_B without a lock and sets DQ_MOD_B later under dq_list_lock, so
in 6.4 a ``->mark_dirty`` through a pointer read before a chown can mark
the old dquot dirty after its last ``dqput()`` has released it and put it
on the free list (the race 6.6's ``synchronize_srcu()`` in the release
worker closes); the models make the test and the set one step.  With
that one step, a ``->mark_dirty`` can still land after ``dquot_release()``
found the dquot clean and before it clears DQ_ACTIVE_B (dq_lock does not
exclude ``->mark_dirty``): the loop then writes the released dquot, and
``dquot_commit()`` returns -EIO for it, clearing DQ_MOD_B.  So dropping
DQ_MOD_B from ``dquot_is_busy()`` changes no end state of the models
(the loop writes the dquot again either way); the variant shipped drops
the loop (``dqput-without-we_slept``), which leaves the last reference
dropped on a dirty, active dquot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from mc.dsl import (
    EXCL,
    SB_FREEZE_FS,
    SB_FREEZE_WRITE,
    SHARED,
    WAIT_AS_LOCK,
    Cite,
    LockKind,
    ModelError,
    Op,
    Scratch,
    World,
    flag_variant,
    operation,
    sb_writers,
)
from mc.kernel.expr import Expr, const, not_, positive, same, slot_value, state_expr
from mc.kernel.locks import Lock
from mc.kernel.world import others_returned

QUOTA_READ = "6.17-rc3 (Kingxukai/linux 9b44fff6)"
EXT4_QUOTA_READ = "6.17-rc3 (Kingxukai/linux 0291023e)"
"""Where ext4's quota methods were read (fs/ext4/super.c: ``ext4_write_dquot()``,
``ext4_mark_dquot_dirty()``, the ``transaction > dqio_sem`` helpers)."""
ALLOC_WITHOUT_I_LOCK = "alloc-without-i_lock"
ADD_SPACE_WITHOUT_DQB_LOCK = "add-space-without-dq_dqb_lock"
COMMIT_CLEARS_DIRTY_LATE = "commit-clears-dirty-late"
DQPUT_WITHOUT_WE_SLEPT = "dqput-without-we_slept"
WRITE_DQUOT_LOCKS_BEFORE_HANDLE = "write-dquot-locks-before-handle"
RELEASE_DQUOT_LOCKS_BEFORE_HANDLE = "release-dquot-locks-before-handle"
RELEASE_WORKER = "quota-release-worker"
RELEASE_FREEZE_PROTECTED = "release-dquot-freeze-protected"

flag_variant(
    ALLOC_WITHOUT_I_LOCK,
    "__dquot_alloc_space() reads the inode's dquot pointer, charges it and adds to i_blocks "
    "without inode->i_lock: a dquot_transfer() in between moves the old usage away",
)
flag_variant(
    ADD_SPACE_WITHOUT_DQB_LOCK,
    "dquot_add_space() updates dq_dqb.dqb_curspace without dquot->dq_dqb_lock (a read, then a "
    "write): two inodes charging one dquot lose an update",
)
flag_variant(
    COMMIT_CLEARS_DIRTY_LATE,
    "dquot_commit() clears DQ_MOD_B after ->commit_dqblk copied the usage instead of before: "
    "a charge between the copy and the clear leaves a clean dquot whose record is stale",
)
flag_variant(
    RELEASE_WORKER,
    "the quota core of 6.13 and newer: the last dqput() puts the dquot on releasing_dquots and "
    "queues quota_release_work, whose quota_release_workfn() writes and releases it "
    "(dabc8b207566, 6.6; a quota_release_worker thread), dquot_is_busy() tests dq_count > 0, "
    "and dquot_writeback_dquots() first waits for that work (flush_delayed_work(), 'quota: "
    "flush quota_release_work upon quota writeback', 6.13)",
    asked_where="in a scenario that runs a quota_release_worker thread, which runs the work",
)
flag_variant(
    RELEASE_FREEZE_PROTECTED,
    "ext4_release_dquot() of 6.15 and newer (530fea29ef82 'ext4: protect ext4_release_dquot "
    "against freezing'; proposed for the stable kernels too): outside a running handle it "
    "takes sb_start_intwrite() before its handle, so a release on a frozen filesystem waits "
    "for the thaw",
)
flag_variant(
    DQPUT_WITHOUT_WE_SLEPT,
    "the last dqput() writes a dirty dquot and releases an active one once each, without "
    "looking again (goto we_slept): a ->mark_dirty between the write and the release leaves "
    "dquot_release() refusing a dirty dquot, and the last reference is dropped with the "
    "dquot still dirty and active",
)

flag_variant(
    WRITE_DQUOT_LOCKS_BEFORE_HANDLE,
    "ext4_write_dquot() takes dquot->dq_lock (dquot_commit()'s lock) before it starts its "
    "journal handle instead of inside it: a Q_SYNC holding dq_lock waits for a handle behind "
    "a jbd2 commit that waits for an allocation's handle, whose journalled ->mark_dirty waits "
    "for that dq_lock",
)

flag_variant(
    RELEASE_DQUOT_LOCKS_BEFORE_HANDLE,
    "ext4_release_dquot() takes dquot->dq_lock (dquot_release()'s lock) before it starts its "
    "journal handle instead of inside it: a Q_SYNC releasing the last reference holds dq_lock "
    "and waits for a handle behind a jbd2 commit that waits for a chown's handle, whose "
    "dqget() waits for that dq_lock (wait_on_dquot())",
)


@attrs.frozen
class QuotaFile:
    """A file of the scenario's filesystem with quotas on: its owner and
    the blocks it has; ``initialized`` says whether its dquot pointer is set
    (``dquot_initialize()`` ran at an earlier open)."""

    path: str
    owner: str
    blocks: int = 0
    initialized: bool = True

    def __attrs_post_init__(self) -> None:
        if self.blocks < 0:
            raise ModelError(
                f"QuotaFile({self.path!r}, {self.owner!r}, blocks={self.blocks}): a file has "
                "0 blocks or more"
            )


@attrs.frozen
class Quotas:
    """The filesystem's files and the owners whose dquots exist; an owner
    with no file is not yet read into memory (its dquot is not active).
    ``journalled``: ext4 mounted with journalled quota (``usrjquota=``,
    ``ext4_is_quota_journalled()``), whose ``->mark_dirty`` writes the
    dquot inside the caller's handle (``mark_dquot_dirty()``); else the
    dquot only goes on the dirty list."""

    files: tuple[QuotaFile, ...]
    owners: tuple[str, ...] = ("alice", "bob")
    journalled: bool = False
    dirty: tuple[str, ...] = ()
    """Owners whose dquot is dirty when the scenario starts, as a
    quotactl(Q_SETQUOTA) of its limits leaves it (``dquot_set_dqblk()`` ->
    ``mark_dquot_dirty()``): DQ_MOD_B set, on the dirty list without
    journalled quota, its record's usage current."""

    def __attrs_post_init__(self) -> None:
        for owner in self.dirty:
            if owner not in self.owners or not self.references(owner):
                raise ModelError(
                    f"Quotas(dirty=...) names {owner}, whose dquot is not in memory: only the "
                    "dquot of an owner with an initialized file is active and can be dirty"
                )
        for file in self.files:
            if file.owner not in self.owners:
                raise ModelError(
                    f"QuotaFile({file.path!r}) is owned by {file.owner}, who is not among "
                    f"Quotas(owners={self.owners!r}): the models have a dquot for each owner "
                    f"listed and none for {file.owner}, whose charges would go uncounted"
                )

    def file(self, path: str) -> QuotaFile:
        """The file at ``path`` (a ``ModelError`` when the setup has none)."""
        found = next((f for f in self.files if f.path == path), None)
        if found is None:
            known = ", ".join(f.path for f in self.files) or "none"
            raise ModelError(
                f"the quota setup has no file {path}: add QuotaFile({path!r}, owner) to "
                f"Quotas(files=...) (its files: {known})"
            )
        return found

    def usage(self, owner: str) -> int:
        return sum(f.blocks for f in self.files if f.owner == owner and f.initialized)

    def references(self, owner: str) -> int:
        return sum(1 for f in self.files if f.owner == owner and f.initialized)


@attrs.frozen
class Dquot:
    """A dquot's locks and slots."""

    owner: str
    dq_lock: Lock
    dq_dqb_lock: Lock
    curspace: int
    active: int
    read: int
    dirty: int
    count: int
    record: int
    releasing: int
    """DQ_RELEASING_B: on ``releasing_dquots``, for the release worker
    (``quota-release-worker``)."""


@attrs.frozen
class QInode:
    """A file's quota state: ``inode->i_lock``, i_blocks, ``i_dquot[USRQUOTA]``."""

    path: str
    i_lock: Lock
    blocks: int
    dquot: int


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def attach(world: World, quotas: Quotas) -> None:
    """Record the scenario's quota setup in the world, for the invariants."""
    part = world.parts.setdefault("quota", quotas)
    if part != quotas:
        raise ModelError("one scenario has one quota setup")


def quotas_of(world: World) -> Quotas | None:
    """The scenario's quota setup, if its threads use quotas."""
    part = world.parts.get("quota")
    return part if isinstance(part, Quotas) else None


def dquot(world: World, quotas: Quotas, owner: str) -> Dquot:
    """The dquot of ``owner``, made on first use."""
    attach(world, quotas)
    active = quotas.references(owner) > 0
    usage = quotas.usage(owner)
    return Dquot(
        owner,
        named_lock(world, f"dq_lock({owner})", LockKind.MUTEX, "dq_lock"),
        named_lock(world, f"dq_dqb_lock({owner})", LockKind.SPINLOCK, "dq_dqb_lock"),
        world.shared_slot(f"dqb_curspace({owner})", usage),
        world.shared_slot(f"DQ_ACTIVE_B({owner})", active, _yes),
        world.shared_slot(f"DQ_READ_B({owner})", active, _yes),
        world.shared_slot(f"DQ_MOD_B({owner})", owner in quotas.dirty, _yes),
        world.shared_slot(f"dq_count({owner})", quotas.references(owner)),
        world.shared_slot(f"quota file record({owner})", usage if active else None),
        world.shared_slot(f"DQ_RELEASING_B({owner})", False, _yes),
    )


def release_work_running(world: World) -> int:
    """Whether ``quota_release_workfn()`` is running (``quota-release-worker``)."""
    return world.shared_slot("quota_release_work running", False, _yes)


def qinode(world: World, quotas: Quotas, path: str) -> QInode:
    """The quota state of the file at ``path``, made on first use."""
    attach(world, quotas)
    file = quotas.file(path)
    i_lock = named_lock(world, f"i_lock({path})", LockKind.SPINLOCK, "i_lock")
    return QInode(
        path,
        i_lock,
        world.shared_slot(f"i_blocks({path})", file.blocks),
        world.shared_slot(f"i_dquot({path})", file.owner if file.initialized else None),
    )


def named_lock(world: World, name: str, kind: LockKind, family: str) -> Lock:
    """The lock ``name`` of class ``family``, made on first use."""
    for lock in world.locks:
        if lock.name == name:
            return lock
    return world.add_lock(name, kind, family)


def dqio_sem(world: World) -> Lock:
    """``sb_dqopt(sb)->dqio_sem``: serialises the quota file's I/O."""
    return world.shared_lock("dqio_sem", LockKind.RWSEM)


def info_dirty(world: World) -> int:
    """DQF_INFO_DIRTY of the quota type's ``mem_dqinfo``."""
    return world.shared_slot("DQF_INFO_DIRTY", False, _yes)


def journal(world: World) -> Lock:
    """A journal handle (jbd2's ``start_this_handle()`` as lockdep sees it:
    a read acquisition of the journal)."""
    return world.shared_lock("jbd2_handle", LockKind.RWSEM)


def committing(world: World) -> Lock:
    """The commit in progress (kjournald2 inside
    ``jbd2_journal_commit_transaction()``, from ``T_LOCKED`` until the
    transaction is committed): a handle that must wait for it waits for
    this lock."""
    return world.shared_lock("jbd2_commit", LockKind.MUTEX)


def start_handle(op: Op, label: str) -> None:
    """``start_this_handle()``: a read acquisition of the journal; first,
    when the running transaction is full or the log short of space, a
    wait for the commit in progress to end (the commit this handle needs
    cannot begin before it), then ``wait_transaction_locked()``: the
    handle asks kjournald2 to commit the running transaction
    (``jbd2_log_start_commit()``) and sleeps until that commit has set it
    ``T_LOCKED``, waited for every open handle to stop and reached
    ``T_FLUSH`` (``wake_up_all(&journal->j_wait_transaction_locked)``),
    which the model makes a write acquisition of the journal, released at
    once: kjournald2 always runs, so the wait is there whether or not the
    scenario has a ``jbd2_commit`` thread."""
    handles = journal(op.world)
    held = _journal_info(op)
    with op.when(
        positive(slot_value(held, "current->journal_info", local=True)),
        "jbd2__journal_start(): handle = journal_current_handle(); if (handle)",
    ):
        op.assert_held(handles, "J_ASSERT(handle->h_transaction->t_journal == journal)")
        _count_handle(op, held, +1, "handle->h_ref++; return handle /* nested: no new handle */")
    with op.otherwise():
        _start_this_handle(op, label)
        _count_handle(op, held, None, "current->journal_info = handle /* h_ref = 1 */")


def stop_handle(op: Op, label: str = "ext4_journal_stop(handle)") -> None:
    """``jbd2_journal_stop()``: a handle ``start_handle`` started inside
    another of the thread's (``h_ref`` above 1) only drops that reference;
    the outermost releases the journal (``stop_this_handle()``).  Left
    out: ``h_sync``'s wait for the commit."""
    held = _journal_info(op)
    with op.when(
        state_expr("--handle->h_ref > 0", lambda state: (state[held] or 0) > 1, True, (held,)),
        "jbd2_journal_stop(): if (--handle->h_ref > 0)",
    ):
        _count_handle(op, held, -1, "return 0 /* a nested handle: the outer one stays */")
    with op.otherwise():
        _count_handle(op, held, 0, "current->journal_info = NULL")
        op.unlock(journal(op.world), label)


def _count_handle(op: Op, held: int, change: int | None, label: str) -> None:
    """Set the thread's ``current->journal_info`` (slot ``held``): ``change``
    added to ``h_ref`` (+1, -1), None for a new handle (``h_ref`` 1), 0
    for none."""
    if change in (None, 0):
        value: Any = 1 if change is None else None
    else:
        value = state_expr(
            f"handle->h_ref {'+' if change > 0 else '-'} 1",
            lambda state: state[held] + change,
            True,
            (held,),
        )
    with op.thread_wide():
        op.let(JOURNAL_INFO, value, label)


JOURNAL_INFO = "journal_info"


def _journal_info(op: Op) -> int:
    """The slot of the thread's ``current->journal_info`` as the handle's
    ``h_ref``: None with no handle, else how many starts it took."""
    with op.thread_wide():
        return op.register(JOURNAL_INFO, _render_h_ref)


def journal_current_handle(op: Op) -> Expr:
    """``ext4_journal_current_handle()``: the thread's ``current->journal_info``,
    positive inside a handle ``start_handle`` started (its ``h_ref``), None
    outside one: ``op.when(positive(journal_current_handle(op)), "if
    (ext4_journal_current_handle())")``."""
    return slot_value(_journal_info(op), "ext4_journal_current_handle()", local=True)


def _render_h_ref(h_ref: int | None) -> str:
    return "NULL" if h_ref is None else f"a handle, h_ref {h_ref}"


def _start_this_handle(op: Op, label: str) -> None:
    """``start_this_handle()`` (see ``start_handle``)."""
    handles = journal(op.world)
    full = op.choose(
        "full",
        const((False, True), "{room, no room}"),
        "add_transaction_credits(): needed > jbd2_max_user_trans_buffers(journal)?",
    )
    with op.when(full, "if (the running transaction is full or the log short of space)"):
        commit = committing(op.world)
        op.lock(commit, EXCL, "wait for the commit in progress to end", tag=WAIT_AS_LOCK)
        op.unlock(commit, "the commit in progress is done")
        op.lock(
            handles,
            EXCL,
            "wait_transaction_locked(): jbd2_log_start_commit(journal, tid); schedule() "
            "/* kjournald2: T_LOCKED, jbd2_journal_wait_updates() */",
            tag=WAIT_AS_LOCK,
        )
        op.unlock(handles, "T_FLUSH: wake_up_all(&journal->j_wait_transaction_locked)")
    op.lock(handles, SHARED, label)


def _flag(slot: int, text: str) -> Expr:
    return state_expr(text, lambda state: bool(state[slot]))


def _assign(scratch: Scratch, slot: int, value: Any) -> int:
    scratch[slot] = value
    return 0


def _add(scratch: Scratch, slot: int, number: int) -> int:
    scratch[slot] += number
    return 0


def _grab_if_dirty(scratch: Scratch, dirty: int, count: int, releasing: int | None) -> bool:
    """What ``dquot_writeback_dquots()`` does under one hold of
    dq_list_lock: a dquot on the dirty list (DQ_MOD_B) gets a reference
    (``dqgrab()``) before the lock is dropped, so no one cleans and
    releases it between the look and the reference; one on
    ``releasing_dquots`` (``releasing``, 6.6+) is passed over, the worker
    writing it (the kernel flushes the work again first: left out)."""
    if not scratch[dirty] or (releasing is not None and scratch[releasing]):
        return False
    scratch[count] += 1
    return True


def _read(scratch: Scratch, slot: int) -> Any:
    return scratch[slot]


# --- the filesystem's quota file I/O (super_operations) -----------------------------------


def _quota_read(scratch: Scratch, dq: Dquot) -> int:
    """``qtree_read_dquot()``: the record read into the dquot
    (``disk2mem_dqblk()``: its usage), or zeroes where it has none."""
    record = scratch[dq.record]
    scratch[dq.curspace] = 0 if record is None else record
    return 0


def _write_record(scratch: Scratch, record: int, value: int) -> int:
    scratch[record] = value
    return 0


def _write_info(scratch: Scratch, info: int) -> int:
    scratch[info] = False
    return 0


def _ok(_scratch: Scratch) -> int:
    """A ``->quota_write`` whose data the models do not follow."""
    return 0


def _release_record(scratch: Scratch, record: int, info: int) -> int:
    scratch[record] = None
    scratch[info] = True
    return 0


def quota_write(op: Op, implementation: Any, *args: Any, label: str) -> None:
    """``sb->s_op->quota_write()`` from the quota format, under dqio_sem."""
    op.call("super_operations.quota_write", implementation, *args, label=label, roles={})


# --- dquot_operations bodies (ext4's, over the generic functions) -----------------------


def commit_dqblk(op: Op, dq: Dquot) -> None:
    """``v2_write_dquot()`` (read in 6.17-rc3, fs/quota/quota_v2.c at
    9b44fff6): a dquot with no record in the quota file yet
    (``!dquot->dq_off``) allocates one under ``down_write(dqio_sem)``; one
    with a record overwrites it in place under ``down_read(dqio_sem)``
    ("We are still protected by concurrent writes of the same dquot by
    dquot->dq_lock"); ``qtree_write_dquot()`` copies the usage under
    dq_dqb_lock and writes the record through ``->quota_write``.  Allocating
    a record takes a block of the tree (``dq_insert_tree()`` ->
    ``find_free_dqentry()`` -> ``get_free_dqblk()``), which dirties the
    info (``mark_info_dirty()``): inside the allocation, under dqio_sem
    held for writing."""
    sem = dqio_sem(op.world)
    with op.when(
        state_expr(f"!{dq.owner}->dq_off", lambda s: s[dq.record] is None),
        "v2_write_dquot(): if (!dquot->dq_off) /* alloc = true */",
    ):
        op.lock(sem, EXCL, "down_write(&dqopt->dqio_sem)")
        op.effect(
            "qtree_write_dquot() -> dq_insert_tree() -> get_free_dqblk(): "
            "mark_info_dirty(info->dqi_sb, info->dqi_type)",
            _assign,
            info_dirty(op.world),
            True,
        )
    with op.otherwise():
        op.lock(sem, SHARED, "down_read(&dqopt->dqio_sem)")
    copied = op.compute(
        f"ddquot.{dq.owner}",
        "qtree_write_dquot(): spin_lock(&dquot->dq_dqb_lock); "
        "info->dqi_ops->mem2disk_dqblk(ddquot, dquot); spin_unlock(&dquot->dq_dqb_lock)",
        _read,
        dq.curspace,
        under=dq.dq_dqb_lock,
    )
    quota_write(
        op,
        _write_record,
        dq.record,
        copied,
        label="ret = sb->s_op->quota_write(sb, type, ddquot, info->dqi_entry_size, dquot->dq_off)",
    )
    op.unlock(sem, "if (alloc) up_write(&dqopt->dqio_sem); else up_read(&dqopt->dqio_sem)")


def write_file_info(op: Op) -> None:
    """``v2_write_file_info()``: down_write(dqio_sem); the header through
    ``->quota_write``, DQF_INFO_DIRTY cleared; up_write."""
    sem = dqio_sem(op.world)
    op.lock(sem, EXCL, "v2_write_file_info(): down_write(&dqopt->dqio_sem)")
    op.section(
        op.world.shared_lock("dq_data_lock", LockKind.SPINLOCK),
        "spin_lock(&dq_data_lock); info->dqi_flags &= ~DQF_INFO_DIRTY; dinfo.dqi_bgrace = ...; "
        "spin_unlock(&dq_data_lock)",
        _write_info,
        info_dirty(op.world),
    )
    quota_write(
        op,
        _ok,
        label="size = sb->s_op->quota_write(sb, type, (char *)&dinfo, sizeof(dinfo), V2_DQINFOOFF)",
    )
    op.unlock(sem, "up_write(&dqopt->dqio_sem)")


def write_if_info_dirty(op: Op) -> None:
    """``if (info_dirty(...)) ->write_file_info()``, as ``dquot_acquire()``
    and ``dquot_release()`` do after changing the tree."""
    with op.when(
        _flag(info_dirty(op.world), "info_dirty(&dqopt->info[type])"),
        "if (info_dirty(&dqopt->info[dquot->dq_id.type]))",
    ):
        write_file_info(op)


def handle_then_dq_lock(
    op: Op, dq: Dquot, in_handle: bool, start: str, lock: str, swapped: str
) -> None:
    """ext4's dquot method starting its journal handle (``start``; nested
    in the caller's when ``in_handle``, and then no lock) before the
    generic function takes dq_lock (``lock``); variant ``swapped`` takes
    dq_lock first when the method starts a handle of its own."""
    if not in_handle and op.variant(swapped):
        op.lock(dq.dq_lock, EXCL, lock)
        start_handle(op, start)
        return
    if not in_handle:
        start_handle(op, start)
    op.lock(dq.dq_lock, EXCL, lock)


def write_dquot(op: Op, dq: Dquot, in_handle: bool) -> None:
    """``ext4_write_dquot()`` -> ``dquot_commit()``: dq_lock; clear
    DQ_MOD_B (nothing to do if it was clean); ``->commit_dqblk`` if the
    dquot is active, else nothing is written ("Inactive dquot can be only
    if there was error during read/init => we have better not writing it":
    -EIO).  ``in_handle``: the caller holds a handle, and
    ``ext4_journal_start()`` nests in it (``jbd2__journal_start()``, read in
    6.17-rc3 fs/jbd2/transaction.c at 9b44fff6: ``handle =
    journal_current_handle(); if (handle) { ... handle->h_ref++; return
    handle; }``), which waits for nothing and takes no lock."""
    handle_then_dq_lock(
        op,
        dq,
        in_handle,
        "ext4_write_dquot(): handle = ext4_journal_start()",
        "dquot_commit(): mutex_lock(&dquot->dq_lock)",
        WRITE_DQUOT_LOCKS_BEFORE_HANDLE,
    )
    late = op.variant(COMMIT_CLEARS_DIRTY_LATE)
    skip = f"commit_out.{dq.owner}.{len(op.items)}"
    op.goto_if(
        state_expr(f"!test_bit(DQ_MOD_B, {dq.owner})", lambda s: not s[dq.dirty]),
        skip,
        "if (!clear_dquot_dirty(dquot)) goto out_lock",
    )
    if not late:
        quotas = quotas_of(op.world)
        op.effect(
            "clear_dquot_dirty(): test_and_clear_bit(DQ_MOD_B) /* DQUOT_NOLIST_DIRTY */"
            if quotas is not None and quotas.journalled
            else "clear_dquot_dirty(): spin_lock(&dq_list_lock); test_and_clear_bit(DQ_MOD_B); "
            "list_del_init(&dquot->dq_dirty)",
            _assign,
            dq.dirty,
            False,
        )
    with op.when(
        _flag(dq.active, f"dquot_active({dq.owner})"),
        "if (dquot_active(dquot)) ret = dqopt->ops[type]->commit_dqblk(dquot); else ret = -EIO",
    ):
        commit_dqblk(op, dq)
    if late:
        op.effect("clear_bit(DQ_MOD_B, &dquot->dq_flags)", _assign, dq.dirty, False)
    op.label(skip)
    op.unlock(dq.dq_lock, "out_lock: mutex_unlock(&dquot->dq_lock)")
    if not in_handle:
        stop_handle(op)


def acquire_dquot(op: Op, quotas: Quotas, dq: Dquot, in_handle: bool) -> None:
    """``ext4_acquire_dquot()`` -> ``dquot_acquire()``: a journal handle
    (nested in the caller's when it holds one: ``in_handle``, and then
    not a lock of its own); dq_lock; unless DQ_READ_B says an earlier
    acquire read it, ``->read_dqblk`` (``v2_read_dquot()``: dqio_sem shared
    around ``->quota_read``) and DQ_READ_B; then, tested again under
    dq_lock, a dquot neither active nor with a record (``!dquot->dq_off``)
    is instantiated (``->commit_dqblk``, which allocates a record and
    dirties the info) and the info written if dirty
    (``->write_file_info``); DQ_ACTIVE_B.  Two dqget()s racing for one
    inactive dquot both call ->acquire_dquot; the second finds it read and
    its record allocated."""
    sem = dqio_sem(op.world)
    if not in_handle:
        start_handle(op, "ext4_acquire_dquot(): handle = ext4_journal_start()")
    op.lock(dq.dq_lock, EXCL, "dquot_acquire(): mutex_lock(&dquot->dq_lock)")
    with op.when(
        state_expr(f"!test_bit(DQ_READ_B, {dq.owner})", lambda s: not s[dq.read]),
        "if (!test_bit(DQ_READ_B, &dquot->dq_flags))",
    ):
        op.lock(sem, SHARED, "v2_read_dquot(): down_read(&dqopt->dqio_sem)")
        op.call(
            "super_operations.quota_read",
            _quota_read,
            dq,
            label="qtree_read_dquot(): ret = sb->s_op->quota_read(sb, type, ddquot, "
            "info->dqi_entry_size, dquot->dq_off)",
            roles={},
        )
        op.unlock(sem, "up_read(&dqopt->dqio_sem)")
    op.effect("set_bit(DQ_READ_B, &dquot->dq_flags)", _assign, dq.read, True)
    with op.when(
        state_expr(
            f"!dquot_active({dq.owner}) && !{dq.owner}->dq_off",
            lambda s: not s[dq.active] and s[dq.record] is None,
        ),
        "if (!dquot_active(dquot) && !dquot->dq_off) /* instantiate */",
    ):
        commit_dqblk(op, dq)
        write_if_info_dirty(op)
    op.effect("set_bit(DQ_ACTIVE_B, &dquot->dq_flags)", _assign, dq.active, True)
    op.unlock(dq.dq_lock, "mutex_unlock(&dquot->dq_lock)")
    if not in_handle:
        stop_handle(op)


def release_dquot(op: Op, dq: Dquot, in_handle: bool) -> None:
    """``ext4_release_dquot()`` -> ``dquot_release()``: a journal handle
    (nested in the caller's when ``in_handle``); dq_lock; unless the dquot
    is busy (``dquot_is_busy()``, include/linux/quotaops.h: DQ_MOD_B set, a
    change marked since the last write, or ``dq_count > 1``, a ``dqget()``
    raced; ``> 0`` since 6.6, where the worker holds no reference), the
    record is released (``v2_release_dquot()`` under dqio_sem held for
    writing: ``qtree_release_dquot()`` deletes the record only when the
    dquot has no limits (DQ_FAKE_B: none are modelled) and no usage, the
    freed tree block dirtying the info), the info written if dirty
    (``->write_file_info``) and DQ_ACTIVE_B cleared.  Under
    ``release-dquot-freeze-protected`` (6.15: 530fea29ef82 "ext4: protect
    ext4_release_dquot against freezing", read in 6.17-rc3), outside a
    handle (not ``in_handle``) ext4 first takes ``sb_start_intwrite()``,
    ended after its handle: a release on a frozen filesystem waits for the
    thaw; before it, such a release started a handle on the frozen
    filesystem (the WARN that change fixed, which the models do not
    check)."""
    sem = dqio_sem(op.world)
    internal = sb_writers(op.world, SB_FREEZE_FS)
    protected = not in_handle and op.variant(RELEASE_FREEZE_PROTECTED)
    if protected:
        op.lock(
            internal,
            SHARED,
            "ext4_release_dquot(): if (!ext4_journal_current_handle()) "
            "sb_start_intwrite(dquot->dq_sb)",
            tag="sb-intwrite",
        )
    handle_then_dq_lock(
        op,
        dq,
        in_handle,
        "ext4_release_dquot(): handle = ext4_journal_start()",
        "dquot_release(): mutex_lock(&dquot->dq_lock)",
        RELEASE_DQUOT_LOCKS_BEFORE_HANDLE,
    )
    busy = f"release_out.{dq.owner}.{len(op.items)}"
    users = 0 if released_by_worker(op) else 1
    op.goto_if(
        state_expr(
            f"dquot_is_busy({dq.owner})", lambda s: bool(s[dq.dirty]) or s[dq.count] > users
        ),
        busy,
        "if (dquot_is_busy(dquot)) goto out_dqlock "
        f"/* test_bit(DQ_MOD_B) || atomic_read(&dquot->dq_count) > {users} */",
    )
    op.lock(sem, EXCL, "v2_release_dquot(): down_write(&dqopt->dqio_sem)")
    with op.when(
        state_expr(f"!{dq.owner}->dqb_curspace", lambda s: s[dq.curspace] == 0),
        "qtree_release_dquot(): if (test_bit(DQ_FAKE_B, &dquot->dq_flags) && "
        "!(dquot->dq_dqb.dqb_curinodes | dquot->dq_dqb.dqb_curspace))",
    ):
        quota_write(
            op,
            _release_record,
            dq.record,
            info_dirty(op.world),
            label="qtree_delete_dquot() -> free_dqentry(): sb->s_op->quota_write(sb, type, "
            "buf, ...); put_free_dqblk(): mark_info_dirty()",
        )
    op.unlock(sem, "up_write(&dqopt->dqio_sem)")
    write_if_info_dirty(op)
    op.effect("clear_bit(DQ_ACTIVE_B, &dquot->dq_flags)", _assign, dq.active, False)
    op.label(busy)
    op.unlock(dq.dq_lock, "out_dqlock: mutex_unlock(&dquot->dq_lock)")
    if not in_handle:
        stop_handle(op)
    if protected:
        op.unlock(
            internal, "if (freeze_protected) sb_end_intwrite(dquot->dq_sb)", tag="sb-intwrite"
        )


def _mark_dirty(scratch: Scratch, active: int, dirty: int) -> int:
    if not scratch[active]:
        return 0
    was = scratch[dirty]
    scratch[dirty] = True
    return 1 if was else 0


def mark_dquot_dirty(op: Op, quotas: Quotas, dq: Dquot) -> None:
    """``mark_dquot_dirty()``: ``dquot->dq_sb->dq_op->mark_dirty(dquot)``,
    ext4's without journalled quota being ``dquot_mark_dquot_dirty()``:
    nothing for a dquot not active, else set DQ_MOD_B (and put the dquot
    on the dirty list) under dq_list_lock.  One step here: the kernel tests
    DQ_ACTIVE_B before it takes dq_list_lock (see the module's left-out
    part).  With journalled quota (``quotas.journalled``) it is
    ``journalled_mark_dirty()``."""
    if quotas.journalled:
        journalled_mark_dirty(op, dq)
        return
    op.call(
        "dquot_operations.mark_dirty",
        _mark_dirty,
        dq.active,
        dq.dirty,
        label="mark_dquot_dirty(dquot): dquot->dq_sb->dq_op->mark_dirty(dquot) "
        "/* dquot_mark_dquot_dirty(): if (!dquot_active(dquot)) return 0; "
        "test_and_set_bit(DQ_MOD_B) under dq_list_lock */",
        roles={"dquot": dq.owner},
    )


def journalled_mark_dirty(op: Op, dq: Dquot) -> None:
    """ext4's ``->mark_dirty`` with journalled quota
    (``ext4_mark_dquot_dirty()``, read in 6.17-rc3, fs/ext4/super.c at
    0291023e: ``if (ext4_is_quota_journalled(sb)) {
    dquot_mark_dquot_dirty(dquot); return ext4_write_dquot(dquot); }``):
    DQ_MOD_B set, no dquot put on the dirty list (``ext4_quota_on()``
    sets DQUOT_NOLIST_DIRTY for a journalled quota file), then
    ``ext4_write_dquot()``, whose
    ``ext4_journal_start()`` nests in the handle every modelled caller
    holds (the allocation's, chown's) and whose ``dquot_commit()`` takes
    dq_lock and dqio_sem inside it and writes the record through
    ``->quota_write``.  The handle is the caller's, so the order the
    quota header gives, journal > dq_lock > dqio_sem, holds for the
    caller's other locks too (a fault's invalidate_lock).  Left out:
    ``ext4_quota_write()``'s own work (the quota file's ``i_data_sem``,
    in lockdep subclass I_DATA_SEM_QUOTA, and its buffers)."""
    op.enter(
        "dquot_operations.mark_dirty",
        dq.owner,
        label="mark_dquot_dirty(dquot): dquot->dq_sb->dq_op->mark_dirty(dquot) "
        "/* ext4_mark_dquot_dirty(): ext4_is_quota_journalled(sb) */",
        roles={"dquot": dq.owner},
    )
    op.effect(
        "dquot_mark_dquot_dirty(dquot): if (!dquot_active(dquot)) return 0; "
        "if (sb_dqopt(dquot->dq_sb)->flags & DQUOT_NOLIST_DIRTY) "
        "return test_and_set_bit(DQ_MOD_B, &dquot->dq_flags)",
        _mark_dirty,
        dq.active,
        dq.dirty,
    )
    write_dquot(op, dq, in_handle=True)


def dqget(op: Op, quotas: Quotas, dq: Dquot, in_handle: bool) -> None:
    """``dqget()``: under dq_list_lock (``dq_state_lock`` nested only
    around the test that quota is on, dropped before ``find_dquot()``), a
    reference (``dq_count``); then ``wait_on_dquot()`` (dq_lock taken and
    dropped: a release in progress finishes) and, for a dquot not active,
    ``->acquire_dquot`` (its handle nested in the caller's when
    ``in_handle``)."""
    if released_by_worker(op):
        op.effect(
            "spin_lock(&dq_list_lock); dquot = find_dquot(...); if (!atomic_read("
            "&dquot->dq_count)) remove_free_dquot(dquot); atomic_inc(&dquot->dq_count); "
            "spin_unlock(&dq_list_lock)",
            _take_back,
            dq.count,
            dq.releasing,
        )
    else:
        op.effect(
            "spin_lock(&dq_list_lock); dquot = find_dquot(...); atomic_inc(&dquot->dq_count); "
            "spin_unlock(&dq_list_lock)",
            _add,
            dq.count,
            1,
        )
    op.lock(dq.dq_lock, EXCL, "wait_on_dquot(dquot): mutex_lock(&dquot->dq_lock)")
    op.unlock(dq.dq_lock, "mutex_unlock(&dquot->dq_lock)")
    with op.when(
        state_expr(f"!test_bit(DQ_ACTIVE_B, {dq.owner})", lambda s: not s[dq.active]),
        "if (!test_bit(DQ_ACTIVE_B, &dquot->dq_flags))",
    ):
        op.enter(
            "dquot_operations.acquire_dquot",
            dq.owner,
            label="err = sb->dq_op->acquire_dquot(dquot)",
            roles={"dquot": dq.owner},
        )
        acquire_dquot(op, quotas, dq, in_handle)


def _take_back(scratch: Scratch, count: int, releasing: int) -> int:
    """A reference; a dquot with none is taken off the list it is on
    (``remove_free_dquot()``), ``releasing_dquots`` too, so the worker
    passes it over."""
    if scratch[count] == 0:
        scratch[releasing] = False
    scratch[count] += 1
    return 0


def dqput(op: Op, dq: Dquot, in_handle: bool) -> None:
    """``dqput()`` of Linux 6.4 (fs/quota/dquot.c at 1ac731c5), which does
    the last reference's work in the caller: at ``we_slept``, under
    dq_list_lock, a reference that is not the last is dropped; else a
    dirty dquot is written (``->write_dquot``) and an active one released
    (``->release_dquot``), each followed by a new look (``goto
    we_slept``), until the dquot is clean and inactive and the count
    drops.  The methods' handles are nested in the caller's when
    ``in_handle``.  What it does under dq_list_lock (the count, the
    dirty and active bits, the drop) is one step, as the spinlock makes it
    (``_look_under_dq_list_lock``).  Under ``quota-release-worker`` (a
    scenario with a ``quota_release_worker`` thread) it is 6.6's: the last
    reference puts the dquot on ``releasing_dquots`` and queues
    ``quota_release_work``, whose worker runs the same loop.  A ``->write_dquot``
    that fails is followed by ``clear_dquot_dirty()``: a no-op here, as
    only ``dquot_commit()`` of an inactive dquot fails and no one marks an
    inactive dquot dirty in the models."""
    if released_by_worker(op):
        op.compute(
            f"dqput_{dq.owner}",
            "spin_lock(&dq_list_lock); if (atomic_read(&dquot->dq_count) > 1) { atomic_dec(); "
            "return; } put_releasing_dquots(dquot); atomic_dec(&dquot->dq_count); "
            "spin_unlock(&dq_list_lock); queue_delayed_work(system_unbound_wq, "
            "&quota_release_work, 1)",
            _queue_release,
            dq.count,
            dq.releasing,
        )
        return
    once = op.variant(DQPUT_WITHOUT_WE_SLEPT)
    we_slept = op.fresh_label("we_slept")
    op.label(we_slept)
    looked = op.compute(
        f"dqput_{dq.owner}",
        "we_slept: spin_lock(&dq_list_lock); if (atomic_read(&dquot->dq_count) > 1) "
        "{ atomic_dec(); return; } if (dquot_dirty(dquot)) ...; "
        "if (test_bit(DQ_ACTIVE_B, &dquot->dq_flags)) ...; atomic_dec(&dquot->dq_count); "
        "put_dquot_last(dquot); spin_unlock(&dq_list_lock)",
        _look_under_dq_list_lock,
        dq.count,
        dq.dirty,
        dq.active,
        render=lambda value: "-" if value is None else str(value),
    )
    with op.when(same(looked, const(WRITE_DQUOT)), "if (dquot_dirty(dquot))"):
        op.enter(
            "dquot_operations.write_dquot",
            dq.owner,
            label="spin_unlock(&dq_list_lock); ret = dquot->dq_sb->dq_op->write_dquot(dquot)",
            roles={"dquot": dq.owner},
        )
        write_dquot(op, dq, in_handle)
        if once:
            with op.when(
                _flag(dq.active, f"DQ_ACTIVE_B({dq.owner})"),
                "if (test_bit(DQ_ACTIVE_B, &dquot->dq_flags)) /* no new look */",
            ):
                _release(
                    op,
                    dq,
                    in_handle,
                    "dquot->dq_sb->dq_op->release_dquot(dquot) /* no new look */",
                )
            op.effect("atomic_dec(&dquot->dq_count) /* no new look */", _add, dq.count, -1)
        else:
            op.goto(we_slept)
    with op.when(
        same(looked, const(RELEASE_DQUOT)), "if (test_bit(DQ_ACTIVE_B, &dquot->dq_flags))"
    ):
        _release(
            op,
            dq,
            in_handle,
            "spin_unlock(&dq_list_lock); dquot->dq_sb->dq_op->release_dquot(dquot)",
        )
        if once:
            op.effect("atomic_dec(&dquot->dq_count) /* no new look */", _add, dq.count, -1)
        else:
            op.goto(we_slept)


def _release(op: Op, dq: Dquot, in_handle: bool, label: str) -> None:
    """``->release_dquot`` from ``dqput()``, the call labelled ``label``."""
    op.enter("dquot_operations.release_dquot", dq.owner, label=label, roles={"dquot": dq.owner})
    release_dquot(op, dq, in_handle)


def _queue_release(scratch: Scratch, count: int, releasing: int) -> str:
    """6.6's ``dqput()`` under dq_list_lock: a reference that is not the
    last is dropped; the last one puts the dquot on ``releasing_dquots``
    (DQ_RELEASING_B) for the worker."""
    last = scratch[count] == 1
    scratch[count] -= 1
    if not last:
        return DROPPED
    scratch[releasing] = True
    return QUEUED


DROPPED, WRITE_DQUOT, RELEASE_DQUOT = "dropped", "write_dquot", "release_dquot"
QUEUED = "queued for quota_release_work"
"""What ``dqput()``'s look under dq_list_lock decides: the reference is
dropped (not the last, or the last of a clean, inactive dquot), or the
dquot is to be written or released first."""


def _look_under_dq_list_lock(scratch: Scratch, count: int, dirty: int, active: int) -> str:
    """``we_slept:`` what ``dqput()`` does under dq_list_lock, at once as
    the spinlock makes it: a reference that is not the last is dropped; the
    last one is dropped when the dquot is clean and inactive, else the
    dquot is to be written (dirty) or released (active) with the lock
    dropped."""
    if scratch[count] > 1 or not (scratch[dirty] or scratch[active]):
        scratch[count] -= 1
        return DROPPED
    return WRITE_DQUOT if scratch[dirty] else RELEASE_DQUOT


# --- charging and transferring ----------------------------------------------------------


def _charge(scratch: Scratch, curspace: int, number: int) -> int:
    scratch[curspace] += number
    return 0


def dquot_alloc_space(op: Op, quotas: Quotas, inode: QInode, number: int) -> None:
    """``__dquot_alloc_space()``: under inode->i_lock, each dquot the inode
    points to is charged under its dq_dqb_lock (``dquot_add_space()``) and
    i_blocks grows (``__inode_add_bytes()``); then ``mark_all_dquot_dirty()``
    -> ``->mark_dirty`` of the dquot the inode points to then (read again:
    ``dquots`` is the inode's own array, which a chown may have changed
    since).  The kernel loops over the quota types; the model
    has the user quota alone, and its test of ``dquots[USRQUOTA]`` is one
    branch for each owner that dquot may be (the labels ask "alice's
    dquot?")."""
    dquots = {owner: dquot(op.world, quotas, owner) for owner in quotas.owners}
    unlocked = op.variant(ALLOC_WITHOUT_I_LOCK)
    if not unlocked:
        op.lock(
            inode.i_lock, EXCL, "index = srcu_read_lock(&dquot_srcu); spin_lock(&inode->i_lock)"
        )
    pointer = op.compute(
        "dquot",
        "dquot = srcu_dereference(dquots[cnt], &dquot_srcu)",
        _read,
        inode.dquot,
    )
    for owner, dq in dquots.items():
        with op.when(
            _names(pointer, owner),
            f"if (dquot) /* cnt = USRQUOTA: dquots[cnt] is {owner}'s dquot? */",
        ):
            _add_space(op, dq, number)
    op.effect("__inode_add_bytes(inode, number)", _add, inode.blocks, number)
    if not unlocked:
        op.unlock(inode.i_lock, "spin_unlock(&inode->i_lock)")
    marked = op.compute(
        "dquot",
        "mark_all_dquot_dirty(dquots): dq = srcu_dereference(dquots[cnt], &dquot_srcu) "
        "/* read again: a chown may have moved it */",
        _read,
        inode.dquot,
    )
    for owner, dq in dquots.items():
        with op.when(_names(marked, owner), f"if (dq) /* {owner}'s dquot? */"):
            mark_dquot_dirty(op, quotas, dq)


def _names(pointer: Expr, owner: str) -> Expr:
    """The dquot pointer read into a register is ``owner``'s."""

    def build(world: World) -> Any:
        get = pointer.compile(world)
        return lambda state: get(state) == owner

    return Expr(f"dquot == {owner}", build, pointer.local)


def _add_space(op: Op, dq: Dquot, number: int) -> None:
    """``dquot_add_space()``: ``dqb_curspace += number`` under dq_dqb_lock
    (a read and a write without it, in the variant that drops it)."""
    if op.variant(ADD_SPACE_WITHOUT_DQB_LOCK):
        old = op.compute(
            f"curspace.{dq.owner}", "space = dquot->dq_dqb.dqb_curspace", _read, dq.curspace
        )
        op.effect(
            "dquot->dq_dqb.dqb_curspace = space + number", _assign_sum, dq.curspace, old, number
        )
        return
    op.section(
        dq.dq_dqb_lock,
        "dquot_add_space(): spin_lock(&dquot->dq_dqb_lock); "
        "dquot_incr_space(dquot, space); spin_unlock(&dquot->dq_dqb_lock)",
        _charge,
        dq.curspace,
        number,
    )


def _assign_sum(scratch: Scratch, slot: int, old: int, number: int) -> int:
    scratch[slot] = old + number
    return 0


def _transfer(scratch: Scratch, blocks: int, source: int, target: int) -> int:
    scratch[source] -= scratch[blocks]
    scratch[target] += scratch[blocks]
    return 0


def dquot_transfer(op: Op, quotas: Quotas, inode: QInode, source: Dquot, target: Dquot) -> None:
    """``__dquot_transfer()`` (read in 6.17-rc3, fs/quota/dquot.c at
    9b44fff6): under ``dq_data_lock`` (the pointers' lock) and
    inode->i_lock, in that order, the inode's space is added to the new
    dquot (``dquot_add_space()``, under its dq_dqb_lock) and taken from the
    old one under its dq_dqb_lock, and the pointer switched; both locks
    dropped, both dquots are marked dirty (``mark_all_dquot_dirty()`` ->
    ->mark_dirty, under ``dquot_srcu``).  Left out: the inode count
    (``dquot_add_inodes()``), reserved space, limits and warnings."""
    data_lock = op.world.shared_lock("dq_data_lock", LockKind.SPINLOCK)
    op.lock(data_lock, EXCL, "__dquot_transfer(): spin_lock(&dq_data_lock)")
    op.lock(inode.i_lock, EXCL, "spin_lock(&inode->i_lock)")
    space = op.compute("cur_space", "cur_space = __inode_get_bytes(inode)", _read, inode.blocks)
    op.section(
        target.dq_dqb_lock,
        "dquot_add_space(transfer_to[cnt], cur_space, rsv_space, 0, &warn_to[cnt]) "
        "/* under transfer_to[cnt]->dq_dqb_lock */",
        _charge_value,
        target.curspace,
        space,
    )
    op.section(
        source.dq_dqb_lock,
        "spin_lock(&transfer_from[cnt]->dq_dqb_lock); dquot_decr_space(transfer_from[cnt], "
        "cur_space); spin_unlock(&transfer_from[cnt]->dq_dqb_lock)",
        _charge_value,
        source.curspace,
        _negated(space),
    )
    op.effect(
        "rcu_assign_pointer(dquots[cnt], transfer_to[cnt])", _assign, inode.dquot, target.owner
    )
    op.unlock(inode.i_lock, "spin_unlock(&inode->i_lock)")
    op.unlock(data_lock, "spin_unlock(&dq_data_lock)")
    mark_dquot_dirty(op, quotas, source)
    mark_dquot_dirty(op, quotas, target)


def _negated(value: Expr) -> Expr:
    def build(world: World) -> Any:
        get = value.compile(world)
        return lambda state: -get(state)

    return Expr(f"-{value}", build, value.local)


def _charge_value(scratch: Scratch, slot: int, number: int) -> int:
    scratch[slot] += number
    return 0


def dquot_initialize(op: Op, quotas: Quotas, inode: QInode, owner: str, caller: str) -> None:
    """``__dquot_initialize()`` for the user quota, called by ``caller``
    with no journal handle: an inode with no dquot pointer gets a
    reference (``dqget()``) and, under dq_data_lock, the pointer unless
    another initializer set it first (its reference is then dropped)."""
    dq = dquot(op.world, quotas, owner)
    with op.when(
        state_expr(f"!i_dquot({inode.path})", lambda s: s[inode.dquot] is None),
        f"{caller} -> __dquot_initialize(): if (dquots[cnt]) continue; /* dqinit_needed() */",
        label_negates=True,
    ):
        dqget(op, quotas, dq, in_handle=False)
        op.section(
            op.world.shared_lock("dq_data_lock", LockKind.SPINLOCK),
            "spin_lock(&dq_data_lock); if (!dquots[cnt]) { rcu_assign_pointer(dquots[cnt], "
            "got[cnt]); got[cnt] = NULL; } spin_unlock(&dq_data_lock)",
            _set_pointer,
            inode.dquot,
            owner,
            dq.count,
        )


def _set_pointer(scratch: Scratch, pointer: int, owner: str, count: int) -> int:
    if scratch[pointer] is None:
        scratch[pointer] = owner
    else:
        scratch[count] -= 1
    return 0


# --- operations ---------------------------------------------------------------------------

DQUOT_CITES = (
    Cite("fs/quota/dquot.c", "__dquot_initialize", "6.4"),
    Cite("fs/quota/dquot.c", "__dquot_alloc_space", "6.4"),
    Cite("fs/quota/dquot.c", "dqget", QUOTA_READ),
    Cite("fs/quota/dquot.c", "dquot_acquire", "6.4"),
    Cite("fs/quota/dquot.c", "dquot_mark_dquot_dirty", "6.4"),
)


@operation(
    models="ext4_page_mkwrite() (nodelalloc) -> ext4_map_blocks() -> dquot_alloc_block() "
    "(fs/quota/dquot.c)",
    describe=lambda q, path: f"store allocating a block({path})",
    cites=(
        *DQUOT_CITES,
        Cite("fs/ext4/inode.c", "ext4_page_mkwrite", "6.4"),
        Cite("fs/ext4/super.c", "ext4_mark_dquot_dirty", EXT4_QUOTA_READ),
        Cite("fs/ext4/super.c", "ext4_write_dquot", EXT4_QUOTA_READ),
        Cite("fs/jbd2/transaction.c", "jbd2__journal_start", QUOTA_READ),
    ),
)
def alloc_block(op: Op, quotas: Quotas, path: str) -> None:
    """A store through a shared mapping that write-faults on a hole of the
    file at ``path``, on ext4 mounted ``nodelalloc``: the file's open for
    writing set its dquot pointer (``ext4_file_open()`` ->
    ``dquot_file_open()`` -> ``dquot_initialize()``, no lock held), then
    ``ext4_page_mkwrite()`` allocates the block without i_rwsem: under
    invalidate_lock shared it starts a handle itself (``handle =
    ext4_journal_start(inode, EXT4_HT_WRITE_PAGE, ...)``) and
    ``block_page_mkwrite()`` -> ``ext4_get_block()`` -> ``ext4_map_blocks()``
    -> ``dquot_alloc_block()`` charges the block to the inode's dquot.  With
    delalloc (ext4's default) the fault takes the "Delalloc case is easy"
    branch: ``block_page_mkwrite(vma, vmf, ext4_da_get_block_prep)`` only
    reserves the space (DQUOT_SPACE_RESERVE: no handle, no ->mark_dirty),
    and the charge is made at writeback (``dquot_claim_block()``); that
    path is not modelled.  ``ext4_page_mkwrite()`` (read in 6.17-rc3,
    fs/ext4/inode.c at 9b44fff6) initializes no dquot.  With journalled
    quota the ``->mark_dirty`` writes the dquot inside the fault's handle
    (``journalled_mark_dirty()``), under invalidate_lock.  Left out:
    ``sb_start_pagefault()``, the folio lock, ``i_data_sem`` and the
    handle ``file_update_time()`` -> ``ext4_dirty_inode()`` starts and
    stops before invalidate_lock is taken."""
    inode = qinode(op.world, quotas, path)
    owner = quotas.file(path).owner
    invalidate_lock = named_lock(
        op.world, f"invalidate_lock({path})", LockKind.RWSEM, "invalidate_lock"
    )
    dquot_initialize(op, quotas, inode, owner, "ext4_file_open(): dquot_file_open()")
    op.lock(invalidate_lock, SHARED, "ext4_page_mkwrite(): filemap_invalidate_lock_shared(mapping)")
    start_handle(
        op,
        "ext4_page_mkwrite() /* nodelalloc */: handle = ext4_journal_start(inode, "
        "EXT4_HT_WRITE_PAGE, ...)",
    )
    dquot_alloc_space(op, quotas, inode, 1)
    stop_handle(op)
    op.unlock(invalidate_lock, "filemap_invalidate_unlock_shared(mapping)")


@operation(
    models="chown(2) -> notify_change() -> ext4_setattr() -> dquot_transfer() (fs/quota/dquot.c)",
    describe=lambda q, path, owner: f"chown({path}, {owner})",
    cites=(
        Cite("fs/quota/dquot.c", "dquot_transfer", QUOTA_READ),
        Cite(
            "fs/quota/dquot.c",
            "__dquot_transfer",
            QUOTA_READ,
            leaves_out=("dquot_operations.get_inode_usage",),
            because="ext4's ->get_inode_usage counts the xattr inodes of an inode; the "
            "model transfers space only",
        ),
        Cite("fs/quota/dquot.c", "dqput", "6.4"),
        Cite("fs/quota/dquot.c", "dquot_release", "6.4"),
        Cite("fs/quota/dquot.c", "dquot_commit", "6.4"),
        Cite("fs/ext4/inode.c", "ext4_setattr", "6.4"),
        Cite("fs/open.c", "do_fchownat", "6.4"),
    ),
)
def chown(op: Op, quotas: Quotas, path: str, owner: str) -> None:
    """chown(2) of the file at ``path`` to ``owner``: ``do_fchownat()``
    (fs/open.c, 6.4) takes ``mnt_want_write()`` (``sb_start_write()``:
    SB_FREEZE_WRITE shared) around ``chown_common()``, which takes
    i_rwsem; ``ext4_setattr()`` starts a handle and calls
    ``dquot_transfer()``: ``dqget()`` of the new owner's dquot (acquired
    from the quota file if not active), ``__dquot_transfer()``, which
    passes the old dquot back ("Pass back references to put"), and
    ``dqput_all(transfer_to)``: the last reference to the old dquot writes
    it (``->write_dquot``) and releases it (``->release_dquot``), their
    handles nested in ext4_setattr()'s, which is stopped after
    (``dquot_transfer()`` read in 6.17-rc3, fs/quota/dquot.c at 9b44fff6;
    the 6.4 shape keeps the last dqput()'s work in the caller).
    ``ext4_setattr()`` holds ``down_read(&EXT4_I(inode)->xattr_sem)``
    around ``dquot_transfer()`` ("dquot_transfer() calls back
    ext4_get_inode_usage() which counts xattr inode references"; read in a
    6.3+ fs/ext4/inode.c, where the call passes the idmap), inside the
    handle: the dquot locks, the nested handles of the methods and the
    last dqput()'s work all run under it.  Left out: its
    ``dquot_initialize()`` before the handle (the pointer is set) and the
    ``->get_inode_usage`` call (no inode counts)."""
    op.one_thread(
        "chowns",
        path,
        "the model's chown transfers from the owner the file starts with (dquot_transfer() "
        "would read the owner another chown set), so a scenario chowns each file once",
    )
    if not quotas.file(path).initialized:
        raise ModelError(
            f"chown({path!r}): QuotaFile({path!r}) has initialized=False, but the model's chown "
            "leaves out ext4_setattr()'s dquot_initialize() and transfers from the dquot the "
            "pointer names: give the file initialized=True"
        )
    inode = qinode(op.world, quotas, path)
    source = dquot(op.world, quotas, quotas.file(path).owner)
    target = dquot(op.world, quotas, owner)
    i_rwsem = op.inode(path).i_rwsem
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers,
        SHARED,
        "do_fchownat(): error = mnt_want_write(path.mnt): sb_start_write(m->mnt_sb)",
        tag="sb-start-write",
    )
    op.lock(i_rwsem, EXCL, "chown_common(): inode_lock(inode)")
    start_handle(op, "ext4_setattr(): handle = ext4_journal_start()")
    xattr_sem = op.world.shared_lock(f"xattr_sem({path})", LockKind.RWSEM)
    op.lock(xattr_sem, SHARED, "down_read(&EXT4_I(inode)->xattr_sem)")
    dqget(op, quotas, target, in_handle=True)
    dquot_transfer(op, quotas, inode, source, target)
    dqput(op, source, in_handle=True)
    op.unlock(xattr_sem, "up_read(&EXT4_I(inode)->xattr_sem)")
    stop_handle(op)
    op.unlock(i_rwsem, "inode_unlock(inode)")
    op.unlock(writers, "mnt_drop_write(path.mnt): sb_end_write(mnt->mnt_sb)", tag="sb-start-write")


def writeback_dquots(op: Op, quotas: Quotas) -> None:
    """``dquot_writeback_dquots()``, s_umount held by the caller (asserted):
    the release work flushed first under ``quota-release-worker``; each
    dirty dquot of the dirty list grabbed, written (``->write_dquot``) and
    put; then ``->write_info`` of a dirty info (see ``quota_sync``)."""
    s_umount = op.world.superblock.s_umount
    op.assert_held(
        s_umount, "dquot_writeback_dquots(): WARN_ON_ONCE(!rwsem_is_locked(&sb->s_umount))"
    )
    worker = released_by_worker(op)
    if worker:
        flush_release_work(op, quotas)
    for owner in () if quotas.journalled else quotas.owners:
        dq = dquot(op.world, quotas, owner)
        grabbed = op.compute(
            f"grabbed.{owner}",
            "spin_lock(&dq_list_lock); list_replace_init(&dqopt->info[cnt].dqi_dirty_list, "
            "&dirty); dquot = list_first_entry(&dirty, ...); "
            + ("if (test_bit(DQ_RELEASING_B, &dquot->dq_flags)) continue; " if worker else "")
            + f"dqgrab(dquot); spin_unlock(&dq_list_lock) /* {owner}, if on the dirty list */",
            _grab_if_dirty,
            dq.dirty,
            dq.count,
            dq.releasing if worker else None,
            render=_yes,
        )
        with op.when(
            same(grabbed, const(True)), f"while (!list_empty(&dirty)) /* {owner} grabbed */"
        ):
            op.enter(
                "dquot_operations.write_dquot",
                owner,
                label="err = sb->dq_op->write_dquot(dquot)",
                roles={"dquot": owner},
            )
            write_dquot(op, dq, in_handle=False)
            dqput(op, dq, in_handle=False)
    with op.when(
        _flag(info_dirty(op.world), "info_dirty(&dqopt->info[cnt])"),
        "if (sb_has_quota_active(sb, cnt) && info_dirty(&dqopt->info[cnt]))",
    ):
        op.enter(
            "dquot_operations.write_info",
            label="sb->dq_op->write_info(sb, cnt)",
            roles={"sb": "sb"},
        )
        start_handle(op, "ext4_write_info(): handle = ext4_journal_start()")
        write_file_info(op)
        stop_handle(op)


@operation(
    models="sync(2) on ext4 with quotas: ksys_sync() -> iterate_supers(sync_fs_one_sb) -> "
    "ext4_sync_fs() -> dquot_writeback_dquots() (fs/sync.c, fs/ext4/super.c)",
    describe=lambda q: "sync()",
    cites=(
        Cite("fs/sync.c", "ksys_sync", QUOTA_READ),
        Cite("fs/sync.c", "sync_fs_one_sb", QUOTA_READ),
        Cite("fs/ext4/super.c", "ext4_sync_fs", EXT4_QUOTA_READ),
        Cite("fs/quota/dquot.c", "dquot_writeback_dquots", QUOTA_READ),
    ),
)
def sync_quotas(op: Op, quotas: Quotas) -> None:
    """sync(2) as it reaches an ext4 filesystem with quotas: its two passes
    of ``sync_fs_one_sb()`` (wait 0, then 1), each under s_umount shared
    (``iterate_supers()`` -> ``super_lock_shared()``), call ``ext4_sync_fs()``,
    which writes the dquots back first, frozen or not ("Writeback quota in
    non-journalled quota case - journalled quota has no dirty dquots":
    ``dquot_writeback_dquots(sb, -1)``; read in 6.17-rc3, fs/sync.c at
    9b44fff6 and fs/ext4/super.c at 0291023e: ``sync_fs_one_sb()`` skips
    only a read-only superblock and ``SB_I_SKIP_SYNC``).  Left out: the
    inodes' writeback pass, the journal commit ``ext4_sync_fs()`` then
    waits for and ``sync_bdevs()`` (``mc.models.super.sync`` has the
    page cache's passes)."""
    s_umount = op.world.superblock.s_umount
    for wait in (0, 1):
        op.lock(
            s_umount,
            SHARED,
            f"iterate_supers(sync_fs_one_sb, &{'wait' if wait else 'nowait'}): "
            "super_lock_shared(sb)",
        )
        op.enter(
            "super_operations.sync_fs",
            label=f"sb->s_op->sync_fs(sb, {wait}) /* ext4_sync_fs() */",
            roles={"wait": wait},
        )
        op.run(writeback_dquots, quotas)
        op.unlock(s_umount, "super_unlock_shared(sb)")


@operation(
    models="quotactl(Q_SYNC) -> dquot_quota_sync() -> dquot_writeback_dquots() (fs/quota/dquot.c)",
    describe=lambda q: "quotactl(Q_SYNC)",
    cites=(
        Cite("fs/quota/dquot.c", "dquot_writeback_dquots", "6.4"),
        Cite("fs/quota/dquot.c", "dquot_commit", "6.4"),
        Cite("fs/quota/quota_v2.c", "v2_write_dquot", "6.4"),
        Cite("fs/quota/quota_v2.c", "v2_write_file_info", "6.4"),
        Cite("fs/ext4/super.c", "ext4_write_dquot", EXT4_QUOTA_READ),
    ),
)
def quota_sync(op: Op, quotas: Quotas) -> None:
    """``quotactl(Q_SYNC)`` under s_umount shared (``dquot_quota_sync()``
    -> ``dquot_writeback_dquots()``): for every dirty dquot, a reference
    (``dqgrab()``) taken under the dq_list_lock hold that finds it on the
    dirty list (one step: ``clear_dquot_dirty()`` takes it off that list
    under the same lock, so a dquot cleaned meanwhile is not grabbed),
    ``->write_dquot`` and ``dqput()``, which in 6.4 writes and releases the
    dquot itself if the others dropped theirs meanwhile; then, if the info
    is dirty, ``->write_info``.  With journalled quota
    (``quotas.journalled``) no dquot is on the dirty list
    (DQUOT_NOLIST_DIRTY, which ``ext4_quota_on()`` sets for a journalled
    quota file and ext4's ``quota`` feature for its hidden ones: "journalled
    quota has no dirty dquots", ``ext4_sync_fs()``), and Q_SYNC writes only
    the info.  Each owner's dquot is looked at in its turn, where
    the kernel moves the whole list away at once: a dquot dirtied after
    that move waits for the next pass there, and is written in this one
    here."""
    s_umount = op.world.superblock.s_umount
    op.lock(s_umount, SHARED, "quotactl(): quotactl_block() -> down_read(&sb->s_umount)")
    writeback_dquots(op, quotas)
    op.unlock(s_umount, "up_read(&sb->s_umount)")


def _release_work_busy(world: World, quotas: Quotas) -> Expr:
    """A dquot is on ``releasing_dquots`` or the worker is running."""
    slots = [dquot(world, quotas, owner).releasing for owner in quotas.owners]
    running = release_work_running(world)
    return state_expr(
        "quota_release_work queued or running",
        lambda s: s[running] or any(s[slot] for slot in slots),
    )


def _release_workers(world: World) -> list[int]:
    """The threads running ``quota_release_worker``."""
    found: list[int] = world.parts.setdefault("quota-release-worker", [])
    return found


def released_by_worker(op: Op) -> bool:
    """Whether the scenario runs 6.6's release worker: a
    ``quota_release_worker`` thread and ``quota-release-worker`` (asked
    only where that thread runs, so that a scenario without one is not
    offered a variant that has nothing to run its work)."""
    has_worker = any(
        invocation.operation.name == "quota_release_worker" for invocation in op.world.invocations
    )
    return has_worker and op.variant(RELEASE_WORKER)


def flush_release_work(op: Op, quotas: Quotas) -> None:
    """``flush_delayed_work(&quota_release_work)`` (6.13, ac6f420291b3, at the start of
    ``dquot_writeback_dquots()``): wait until no dquot is queued for the
    release worker and the worker is not running.  Under
    ``quota-release-worker`` with a ``quota_release_worker`` thread only."""
    workers = _release_workers(op.world)
    op.wait_until(
        not_(_release_work_busy(op.world, quotas)),
        "flush_delayed_work(&quota_release_work)",
        "quota_release_work to finish",
        lambda _state: tuple(workers),
    )


def _others_returned_or_queued(world: World, quotas: Quotas, worker: int) -> Expr:
    busy = _release_work_busy(world, quotas)

    def build(built: World) -> Any:
        returned = others_returned(built, worker)
        queued = busy.compile(built)
        return lambda state: queued(state) or returned(state)

    return Expr("a dquot queued, or every other thread returned", build)


def _look_releasing(scratch: Scratch, dq: Dquot) -> str:
    """``quota_release_workfn()``'s look at a dquot of ``releasing_dquots``
    under dq_list_lock: write it if dirty, release it if active, else take
    it off the list (``remove_free_dquot(); put_dquot_last()``); a dquot a
    ``dqget()`` took back is no longer on it."""
    if not scratch[dq.releasing]:
        return DROPPED
    if scratch[dq.dirty]:
        return WRITE_DQUOT
    if scratch[dq.active]:
        return RELEASE_DQUOT
    scratch[dq.releasing] = False
    return DROPPED


@operation(
    models="quota_release_workfn(), the work the last dqput() queues (fs/quota/dquot.c, 6.6+)",
    describe=lambda quotas: "quota_release_work",
    cites=(
        Cite("fs/quota/dquot.c", "quota_release_workfn", QUOTA_READ),
        Cite("fs/quota/dquot.c", "dqput", QUOTA_READ),
        Cite("fs/ext4/super.c", "ext4_release_dquot", EXT4_QUOTA_READ),
        Cite("fs/ext4/super.c", "ext4_write_dquot", EXT4_QUOTA_READ),
    ),
)
def quota_release_worker(op: Op, quotas: Quotas) -> None:
    """The worker that runs ``quota_release_work`` (``system_unbound_wq``)
    under ``quota-release-worker``: it sleeps until a ``dqput()`` queues a
    dquot (or every other thread has returned, and it returns), then
    ``quota_release_workfn()`` (read in 6.17-rc3, fs/quota/dquot.c at
    9b44fff6): each dquot of ``releasing_dquots`` is written if dirty
    (``dquot_write_dquot()`` -> ``->write_dquot``) and released if active
    (``->release_dquot``: ext4's takes ``sb_start_intwrite()`` first, as no
    handle is running), each followed by a new look, until it is clean and
    inactive and leaves the list.  Without ``quota-release-worker`` (6.4's
    ``dqput()`` does the work itself) nothing is ever queued, and the
    worker returns once every other thread has.  Left out:
    ``synchronize_srcu(&dquot_srcu)``
    before the loop (the models have no SRCU readers) and the exchange of the
    list head."""
    op.one_thread(
        "runs",
        "quota_release_work",
        "quota_release_work is one work item: one thread runs it",
    )
    _release_workers(op.world).append(op.thread.tid)
    running = release_work_running(op.world)
    op.label("idle")
    op.wait_until(
        _others_returned_or_queued(op.world, quotas, op.thread.tid),
        "worker_thread(): schedule() /* until queue_delayed_work() */",
        "a dquot queued for release",
    )
    op.goto_if(
        not_(_release_work_busy(op.world, quotas)), "out", "if (!work) return /* nothing queued */"
    )
    op.effect(
        "process_one_work(): quota_release_workfn(work): "
        "list_replace_init(&releasing_dquots, &rls_head)",
        _assign,
        running,
        True,
    )
    for owner in quotas.owners:
        dq = dquot(op.world, quotas, owner)
        look = f"restart.{owner}"
        op.label(look)
        looked = op.compute(
            f"released_{owner}",
            "restart: spin_lock(&dq_list_lock); dquot = list_first_entry(&rls_head, ...) "
            f"/* {owner}'s? to write if dirty, to release if active, else off the list: "
            "remove_free_dquot(dquot); put_dquot_last(dquot) */",
            _look_releasing,
            dq,
        )
        with op.when(same(looked, const(WRITE_DQUOT)), "if (dquot_dirty(dquot))"):
            op.enter(
                "dquot_operations.write_dquot",
                owner,
                label="spin_unlock(&dq_list_lock); dquot_write_dquot(dquot): "
                "dquot->dq_sb->dq_op->write_dquot(dquot)",
                roles={"dquot": owner},
            )
            write_dquot(op, dq, in_handle=False)
            op.goto(look)
        with op.when(same(looked, const(RELEASE_DQUOT)), "if (dquot_active(dquot))"):
            _release(
                op,
                dq,
                False,
                "spin_unlock(&dq_list_lock); dquot->dq_sb->dq_op->release_dquot(dquot)",
            )
            op.goto(look)
    op.effect("return /* the work is done */", _assign, running, False)
    op.goto("idle")
    op.label("out")


def _drop_pointer(scratch: Scratch, pointer: int, evicted: int) -> Any:
    """The inode's pointer cleared, the owner it named kept in ``evicted``
    (the blocks stay charged to that dquot: ``quota-usage-exact`` counts
    them there)."""
    dropped = scratch[pointer]
    scratch[pointer] = None
    scratch[evicted] = dropped
    return dropped


def evicted_slot(world: World, path: str) -> int:
    """Whose dquot the evicted inode of ``path`` still has its blocks
    charged to (None: not evicted)."""
    return world.shared_slot(f"evicted from i_dquot({path})", None)


@operation(
    models="drop_caches evicting a file's inode: super_cache_scan() -> prune_icache_sb() -> "
    "ext4_evict_inode() -> ext4_clear_inode() -> dquot_drop() (fs/super.c, fs/ext4/inode.c, "
    "fs/quota/dquot.c)",
    describe=lambda quotas, path: f"evict({path})",
    cites=(
        Cite("fs/super.c", "super_cache_scan", EXT4_QUOTA_READ),
        Cite("fs/quota/dquot.c", "dquot_drop", QUOTA_READ),
        Cite("fs/quota/dquot.c", "__dquot_drop", QUOTA_READ),
        Cite("fs/quota/dquot.c", "dqput", QUOTA_READ),
    ),
)
def evict_dquots(op: Op, quotas: Quotas, path: str) -> None:
    """The inode of the file at ``path``, unused and with links, evicted
    from memory by the superblock's shrinker (``echo 2 >
    /proc/sys/vm/drop_caches``, or reclaim): ``super_cache_scan()`` runs
    only if ``super_trylock_shared()`` gets s_umount (else SHRINK_STOP:
    nothing evicted), and holds it across ``prune_icache_sb()`` ->
    ``evict()`` -> ``ext4_evict_inode()`` (``i_nlink``: ``goto no_delete``)
    -> ``ext4_clear_inode()`` -> ``dquot_drop()``, outside any handle:
    ``__dquot_drop()`` takes the inode's dquot pointers under
    ``dq_data_lock`` and clears them, then ``dqput()`` of each, the last of
    which writes and releases the dquot (6.4) or queues it for
    ``quota_release_work`` (``quota-release-worker``).  The dquot keeps the
    file's usage (its blocks stay charged on disk, ``quota-usage-exact``
    counts them there).  Read in 6.17-rc3 (fs/super.c at 0291023e,
    fs/ext4/inode.c at 9b44fff6).  Left out: the dentry pruning before it,
    ``truncate_inode_pages_final()`` and the rest of the eviction."""
    file = quotas.file(path)
    if not file.initialized:
        raise ModelError(
            f"evict_dquots({path!r}): QuotaFile({path!r}) has initialized=False: an inode "
            "with no dquot pointer drops nothing (dquot_drop() returns at once)"
        )
    inode = qinode(op.world, quotas, path)
    dq = dquot(op.world, quotas, file.owner)
    s_umount = op.world.superblock.s_umount
    op.trylock(
        s_umount,
        "stop",
        "super_cache_scan(): if (!super_trylock_shared(sb)) return SHRINK_STOP",
        mode=SHARED,
    )
    op.section(
        op.world.shared_lock("dq_data_lock", LockKind.SPINLOCK),
        "prune_icache_sb() -> evict() -> ext4_evict_inode() -> ext4_clear_inode() -> "
        "__dquot_drop(): spin_lock(&dq_data_lock); put[cnt] = dquots[cnt]; "
        "rcu_assign_pointer(dquots[cnt], NULL); spin_unlock(&dq_data_lock)",
        _drop_pointer,
        inode.dquot,
        evicted_slot(op.world, path),
    )
    dqput(op, dq, in_handle=False)
    op.unlock(s_umount, "super_unlock_shared(sb)")
    op.label("stop")


def usage_consistent(world: World, quotas: Quotas, state: Sequence[Any]) -> str | None:
    """Each dquot's ``dqb_curspace`` equals the blocks of the inodes whose
    pointer names it, or what is wrong."""
    slots = {s.name: i for i, s in enumerate(world.slots)}
    for owner in quotas.owners:
        name = f"dqb_curspace({owner})"
        if name not in slots:
            continue
        charged = state[slots[name]]
        allocated = 0
        for file in quotas.files:
            pointer = slots.get(f"i_dquot({file.path})")
            blocks = slots.get(f"i_blocks({file.path})")
            evicted = slots.get(f"evicted from i_dquot({file.path})")
            if pointer is None or blocks is None:
                allocated += file.blocks if file.owner == owner and file.initialized else 0
            elif state[pointer] == owner or (evicted is not None and state[evicted] == owner):
                allocated += state[blocks]
        if charged != allocated:
            return (
                f"{owner}'s dquot is charged {charged} block(s) but the inodes pointing to it "
                f"have {allocated}"
            )
    return None


def record_current(world: World, quotas: Quotas, state: Sequence[Any]) -> str | None:
    """Every dquot that is not dirty has its usage in its record of the
    quota file (a dquot released with no usage has none: its record was
    deleted), or what is wrong."""
    slots = {s.name: i for i, s in enumerate(world.slots)}
    for owner in quotas.owners:
        names = [f"{what}({owner})" for what in ("DQ_MOD_B", "dqb_curspace")]
        record = slots.get(f"quota file record({owner})")
        if record is None or any(name not in slots for name in names):
            continue
        dirty, usage = (state[slots[name]] for name in names)
        recorded = state[record] or 0
        if not dirty and recorded != usage:
            return (
                f"{owner}'s dquot is clean but the quota file records {recorded} "
                f"block(s) for it, not {usage}"
            )
    return None


def released_clean(world: World, quotas: Quotas, state: Sequence[Any]) -> str | None:
    """Every dquot no one holds a reference to is clean and not active
    (the last ``dqput()`` wrote and released it), or what is wrong."""
    slots = {s.name: i for i, s in enumerate(world.slots)}
    for owner in quotas.owners:
        names = [f"{what}({owner})" for what in ("dq_count", "DQ_MOD_B", "DQ_ACTIVE_B")]
        if any(name not in slots for name in names):
            continue
        count, dirty, active = (state[slots[name]] for name in names)
        if count == 0 and (dirty or active):
            what = " and ".join(w for w, on in (("dirty", dirty), ("active", active)) if on)
            return f"{owner}'s dquot has no reference left but is still {what}"
    return None
