"""The superblock's life: freezing and thawing, sync(2) and syncfs(2), and a
filesystem's internal transaction, over the one file of the page-cache
models.

Written from Linux 6.6: fs/super.c (``freeze_super()``,
``thaw_super()``/``thaw_super_locked()``, ``sb_wait_write()``,
``sb_freeze_unlock()``, ``lockdep_sb_freeze_release()``/``_acquire()``,
``iterate_supers()``), fs/sync.c (``ksys_sync()``, ``sync_filesystem()``,
``sync_inodes_one_sb()``, ``sync_fs_one_sb()``, ``syncfs(2)``),
fs/fs-writeback.c (``sync_inodes_sb()``, ``wait_sb_inodes()``),
fs/ioctl.c (``ioctl_fsfreeze()``/``ioctl_fsthaw()``) and
include/linux/fs.h (``sb_start_write()`` and the other freeze-level
helpers); the stored torvalds/linux fs/super.c (5.x, ``sb_writers_name[]``)
and the 6.6 ``freeze_super()`` with ``freeze_holders`` and
``wake_up_var()`` were read.  The freeze levels and ``s_writers.frozen``
are ``mc.kernel.superblock``'s.

The sync models were checked against the stored torvalds/linux fs/sync.c
(an older tree: ``__sync_filesystem(sb, wait)`` twice, ``iterate_bdevs()``)
and a 6.x ``sync_filesystem()``/``sync_fs_one_sb()`` (with
``SB_I_SKIP_SYNC`` and ``->sync_fs``'s error returned): 6.6's order is
``writeback_inodes_sb()``, ``->sync_fs(sb, 0)``, ``sync_blockdev_nowait()``,
``sync_inodes_sb()``, ``->sync_fs(sb, 1)``, ``sync_blockdev()``, and
fs/fs-writeback.c's ``__writeback_inodes_sb_nr()`` (6.x: a WB_SYNC_NONE,
``tagged_writepages`` work for ``sb`` split to the wbs and waited for,
after ``WARN_ON(!rwsem_is_locked(&sb->s_umount))``), ``wb_writeback()``
(``work->sb`` set: ``writeback_sb_inodes()`` without pinning the
superblock) and ``writeback_sb_inodes()`` (an I_SYNC inode requeued, not
waited for, under WB_SYNC_NONE) were read in 6.x copies, and
``ksys_sync()`` runs ``sync_inodes_one_sb``, ``sync_fs_one_sb(0)`` and
``sync_fs_one_sb(1)`` through ``iterate_supers()``, then ``sync_bdevs()``,
as modelled.  ``super_lock`` here is 6.8's ``super_lock()`` ("super:
massage wait event mechanism", November 2023): it waits for SB_BORN or
SB_DYING before taking s_umount, skips a dying superblock without taking
it, and rechecks SB_DYING under it.  6.6's takes s_umount first and, on a
superblock not yet SB_BORN, drops it, waits and takes it again; on a
dying one it returns false with s_umount held, which ``iterate_supers()``
drops.  So in 6.6 a sync queues on s_umount behind a mount that holds it
where the model waits on the flags; the sync holds no other lock there,
so no cycle differs.

What the models leave out: the superblock's passive reference count
(``s_count``; ``s_active`` is modelled: freeze_super() takes one that the
last thaw drops, see ``mc.models.mount.umount``), a
read-only superblock and ``SB_I_SKIP_SYNC`` (``sync_inodes_one_sb()`` and
``sync_fs_one_sb()`` skip them), failures of ``sync_filesystem()``
(``->sync_fs`` returning an error stops it) and ``->unfreeze_fs``,
syncfs(2)'s report of writeback errors (``errseq_check_and_advance()``),
``sync_blockdev_nowait()`` in ``sync_filesystem()``'s first, non-waiting
pass (``writeback_inodes_sb()``, the WB_SYNC_NONE writeback, is modelled:
``writeback_inodes_sb``), the queue of the flusher work items
``writeback_inodes_sb()`` and ``sync_inodes_sb()`` wait for (the caller
runs the writeback itself, holding ``wb_workfn``, the flusher's one work
at a time: ``wb_worker``) and the block device's own cache
(``sync_blockdev()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from mc.dsl import (
    EXCL,
    SHARED,
    Cite,
    E,
    Op,
    Scratch,
    const,
    flag_variant,
    is_error,
    not_,
    operation,
    same,
)
from mc.kernel.expr import Expr, state_expr
from mc.kernel.inode_life import refuse_inode_life
from mc.kernel.locks import Kind, Lock, Mode
from mc.kernel.mm import UNMOUNTER
from mc.kernel.pagecache import File, Mapping, pagecache
from mc.kernel.superblock import (
    FREEZE_HOLDER_KERNEL,
    FREEZE_HOLDER_USERSPACE,
    FROZEN_NAMES,
    HOLDER_NAMES,
    SB_FREEZE_COMPLETE,
    SB_FREEZE_FS,
    SB_FREEZE_PAGEFAULT,
    SB_FREEZE_WRITE,
    SB_UNFROZEN,
    frozen_in,
    frozen_is,
    frozen_slot,
    holders_have,
    holders_slot,
    metadata_slot,
    sb_writers,
)
from mc.kernel.world import DONE, LOCK_PROTOCOL, ModelError, World, touches, yes_no
from mc.models.quota import journal
from mc.models.writeback import do_writepages, fdatawait

FREEZE_SKIPS_PAGEFAULTS = "freeze-skips-pagefaults"
THAW_S_UMOUNT_SHARED = "thaw-s_umount-shared"
THAW_ALL_ITERATOR_UNLOCKS = "thaw-all-iterator-unlocks"
THAW_ALL_BDEV_THAW_UNDER_S_UMOUNT = "thaw-all-bdev-thaw-under-s_umount"
LEVELS = (SB_FREEZE_WRITE, SB_FREEZE_PAGEFAULT, SB_FREEZE_FS)

flag_variant(
    FREEZE_SKIPS_PAGEFAULTS,
    "freeze_super() does not wait for the SB_FREEZE_PAGEFAULT level (no "
    "sb_wait_write(sb, SB_FREEZE_PAGEFAULT)): page faults keep dirtying folios after the sync",
)
flag_variant(
    THAW_ALL_ITERATOR_UNLOCKS,
    "SysRq-j's emergency thaw as 'super: use a common iterator (Part 1)' (6.16) left it: "
    "__iterate_supers() takes s_umount around do_thaw_all_callback() and releases it after, "
    "but thaw_super_locked() in the callback has released it already",
)
flag_variant(
    THAW_ALL_BDEV_THAW_UNDER_S_UMOUNT,
    "SysRq-j's emergency thaw as 6.6 to 6.15 ran it (and older kernels, whose "
    "emergency_thaw_bdev() ran under s_umount too): do_thaw_all_callback() takes s_umount and "
    "thaws the block device with it held; thaw_bdev() then waits for bd_fsfreeze_mutex, which "
    "a freeze_bdev() holds while it waits for s_umount, or its last thaw takes s_umount again "
    "in thaw_super() (from 6.8 bdev_thaw() -> fs_bdev_thaw() -> bdev_super_lock(), the same "
    "waits)",
)
flag_variant(
    THAW_S_UMOUNT_SHARED,
    "thaw_super() takes s_umount shared instead of exclusive around ->unfreeze_fs",
    waives=["super_operations.unfreeze_fs s_umount"],
)


@touches(lambda _world, slot, _value: ([], [slot]))
def assign(scratch: Scratch, slot: int, value: Any) -> None:
    """An effect that stores ``value`` in ``slot``."""
    scratch[slot] = value


def s_active_slot(world: World) -> int:
    """``sb->s_active``: the superblock's active references, one for the
    mount (``alloc_super()``) and one for each freeze holder."""
    return world.shared_slot("s_active", 1)


def one_slot(_world: World, slot: int) -> tuple[list[int], list[int]]:
    """What an effect on the one slot ``slot`` touches."""
    return [slot], [slot]


@touches(one_slot)
def _inc_active(scratch: Scratch, slot: int) -> None:
    scratch[slot] += 1


@touches(one_slot)
def _drop_active(scratch: Scratch, slot: int) -> None:
    """``deactivate_locked_super()`` of a freeze or thaw: the freeze's
    reference dropped.  It is never the last here: an unmount is -EBUSY
    while the freezing or thawing process runs (``mc.models.mount.umount``),
    so ``->kill_sb`` from a thaw (a filesystem unmounted while frozen and
    thawed by a kernel holder) is not modelled, a model error.  In a
    scenario that never unmounts, the mount's reference is still there:
    dropping the last reference is a thaw dropping one no freeze of it
    took, which the protocol (``freeze_holders``) keeps out."""
    if scratch[slot] <= 1:
        if UNMOUNTER not in scratch.world.parts:
            scratch.violate(
                LOCK_PROTOCOL,
                "deactivate_locked_super() from a freeze or thaw drops the mounted superblock's "
                "last active reference (a thaw dropped a reference no freeze of it took): "
                "->kill_sb would run under the mount",
            )
            return
        raise ModelError(
            "deactivate_locked_super() from a freeze or thaw drops the last active reference: "
            "->kill_sb from thaw_super() is not modelled"
        )
    scratch[slot] -= 1


def _returned_slot(world: World) -> int:
    return world.shared_slot("FIFREEZE returned", False, yes_no)


def _freeze_returned() -> Expr:
    """FIFREEZE returned, or the scenario issues none (FITHAW then finds
    nothing frozen: -EINVAL)."""

    def build(world: World) -> Any:
        if not _freezers(world):
            return lambda _state: True
        slot = _returned_slot(world)
        return lambda state: bool(state[slot])

    return Expr("the FIFREEZE ioctl returned", build)


@touches(lambda _world, slot: ([], [slot]))
def _commit_metadata(scratch: Scratch, slot: int) -> int:
    scratch[slot] = False
    return 0


@touches(lambda _world, *_args: ([], []))
def _no_op(_fs: Scratch, *_args: object) -> int:
    return 0


def flag_slot(world: World, name: str, initial: bool = True) -> int:
    """The slot of superblock flag ``name`` (SB_BORN, SB_DYING), made on
    first use while the threads are built."""
    return world.shared_slot(name, initial, yes_no)


def flag(slot: int, text: str) -> Expr:
    """The superblock flag held in ``slot`` is set."""
    return Expr(text, lambda _world: lambda state: bool(state[slot]), reads=frozenset({slot}))


def super_lock(op: Op, mode: Mode, label: str, skip: str) -> None:
    """``super_lock()``: wait until the superblock is SB_BORN or SB_DYING
    (``wait_var_event()``), skip a dying one, take s_umount, and skip it
    (s_umount dropped) if it died meanwhile."""
    born, dying = flag_slot(op.world, "SB_BORN"), flag_slot(op.world, "SB_DYING", False)
    s_umount = op.world.superblock.s_umount
    op.wait_until(
        Expr(
            "super_flags(sb, SB_BORN | SB_DYING)",
            lambda _world: lambda state: bool(state[born] or state[dying]),
            reads=frozenset({born, dying}),
        ),
        "super_lock(): wait_var_event(&sb->s_flags, super_flags(sb, SB_BORN | SB_DYING))",
        "the superblock to be born",
    )
    op.goto_if(flag(dying, "SB_DYING"), skip, "if (super_flags(sb, SB_DYING)) return false")
    op.lock(s_umount, mode, label)
    with op.when(flag(dying, "SB_DYING"), "if (sb->s_flags & SB_DYING) /* died meanwhile */"):
        op.unlock(s_umount, "super_unlock(sb, excl); return false")
        op.goto(skip)


# --- sync ------------------------------------------------------------------------------


WB_WORKER = "wb_workfn"
"""The lock that stands for the bdi writeback's work (``wb->dwork``)."""
QUEUE_SYNC_WORK = (
    "bdi_split_work_to_wbs(bdi, &work, false); wb_wait_for_completion(&done) "
    "/* wb_workfn() runs the WB_SYNC_ALL work */"
)
SYNC_WORK_DONE = "wb_writeback() returns: finish_writeback_work(): wake_up_all(done->waitq)"
QUEUE_NONE_WORK = (
    "writeback_inodes_sb(sb, WB_REASON_SYNC): __writeback_inodes_sb_nr(): "
    "bdi_split_work_to_wbs(sb->s_bdi, &work, false); wb_wait_for_completion(&done) "
    "/* wb_workfn() runs the WB_SYNC_NONE work, tagged_writepages */"
)
NONE_WORK_DONE = (
    "wb_writeback() returns: finish_writeback_work(): wake_up_all(done->waitq) "
    "/* writeback_inodes_sb() returns */"
)
WARN_NONE_WORK = "__writeback_inodes_sb_nr(): WARN_ON(!rwsem_is_locked(&sb->s_umount))"


def wb_worker(op: Op) -> Lock:
    """The flusher's work of the superblock's bdi writeback (``wb->dwork``):
    ``wb_workfn()`` runs one work item at a time (a work item never runs
    twice at once on its workqueue), and ``sync_inodes_sb()`` queues its
    WB_SYNC_ALL work there and sleeps in ``wb_wait_for_completion()``
    until it ran.  A mutex the flusher holds over each work item and a
    sync over the writeback it queues (its thread runs the work in the
    flusher's place), as lockdep annotates ``flush_work()``: a flusher
    that sleeps on s_umount in a work item (not trying it,
    ``super_trylock_shared()``) deadlocks an unmount or a freeze that
    holds s_umount and waits for its work."""
    return op.world.shared_lock(WB_WORKER, Kind.MUTEX)


def sync_inodes_sb(op: Op, mapping: Mapping) -> None:
    """``sync_inodes_sb()`` (fs/fs-writeback.c, 6.6): WB_SYNC_ALL writeback
    of every dirty inode (``__writeback_single_inode()`` ->
    ``do_writepages()``), then ``wait_sb_inodes()``, which takes
    ``sb->s_sync_lock`` (a mutex that serialises the waiting passes of
    concurrent syncs) and, under it, ``filemap_fdatawait_keep_errors()``
    on each inode with pages under writeback.  Called with s_umount held
    (``WARN_ON(!rwsem_is_locked(&sb->s_umount))``).  Left out:
    ``wait_sb_inodes()``'s list locks (``s_inode_wblist_lock``, the
    inode's ``i_lock``, its ``rcu_read_lock()``: spinlocks and a section
    held only to move the inode between lists, never across the wait),
    and its ``__iget()`` and ``iput()`` of each inode around the wait, under
    ``s_sync_lock`` and s_umount (the model's inodes are pinned by the
    scenario's files, so that ``iput()`` is never the last);
    ``bdi_down_write_wb_switch_rwsem()`` around the writeback, taken only
    with cgroup writeback; the inode's own I_SYNC and ``->write_inode``
    (the freeze scenarios' metadata is the filesystem's, committed by
    ``->sync_fs``; ``mc.models.mount.sync_filesystem_with_inode`` has
    them).  The WARN_ON is a lock-protocol error unless the thread holds
    s_umount (the kernel's asks only that someone does; every caller
    holds it itself).  It writes back the file it is given, then every
    other file with a page cache when its thread is built; a file first
    used by a thread listed after it is refused
    (``PageCache.cover_superblock``).  The writeback is the work
    ``bdi_split_work_to_wbs()`` queues to the flusher, run here holding
    ``wb_worker`` (``wb_wait_for_completion()`` returns once it ran)."""
    assert_s_umount_held(op)
    mappings = _writeback_work(
        op, mapping, "sync_inodes_sb()", QUEUE_SYNC_WORK, SYNC_WORK_DONE, sync_all=True
    )
    s_sync_lock = op.world.shared_lock("s_sync_lock", Kind.MUTEX)
    op.lock(s_sync_lock, EXCL, "wait_sb_inodes(): mutex_lock(&sb->s_sync_lock)")
    fdatawait(op, mapping)
    for other in mappings[1:]:
        op.run(fdatawait, other)
    op.unlock(s_sync_lock, "mutex_unlock(&sb->s_sync_lock)")


def _writeback_work(
    op: Op,
    mapping: Mapping,
    caller: str,
    queued: str,
    done: str,
    *,
    sync_all: bool,
    tagged: bool = False,
) -> list[Mapping]:
    """The writeback work ``caller`` queues to the flusher
    (``bdi_split_work_to_wbs()``) and waits for, run here holding
    ``wb_worker`` (the steps labelled ``queued`` and ``done``):
    ``do_writepages()`` of the file given, then of every other file with a
    page cache when the thread is built (``PageCache.cover_superblock``).
    Returns the files written, the one given first."""
    what = f"{op.thread.name}'s {caller}"
    mappings = [mapping] + [
        m for m in pagecache(op.world).cover_superblock(what) if m is not mapping
    ]
    worker = wb_worker(op)
    op.lock(worker, EXCL, queued)
    do_writepages(op, mapping, sync_all=sync_all, tagged=tagged)
    for other in mappings[1:]:
        op.run(_write_pages, other, sync_all, tagged)
    op.unlock(worker, done)
    return mappings


def _write_pages(op: Op, mapping: Mapping, sync_all: bool, tagged: bool) -> None:
    do_writepages(op, mapping, sync_all=sync_all, tagged=tagged)


def writeback_inodes_sb(op: Op, mapping: Mapping) -> None:
    """``writeback_inodes_sb(sb, WB_REASON_SYNC)`` (fs/fs-writeback.c, 6.6:
    ``writeback_inodes_sb_nr()`` -> ``__writeback_inodes_sb_nr(sb, nr,
    reason, false)``), ``sync_filesystem()``'s first, non-waiting pass:
    ``WARN_ON(!rwsem_is_locked(&sb->s_umount))``, then a WB_SYNC_NONE work
    with ``tagged_writepages`` for the superblock queued to the flusher
    (``bdi_split_work_to_wbs()``) and waited for
    (``wb_wait_for_completion()``), as ``sync_inodes_sb()``'s is: run here
    holding ``wb_worker``.  The work (``wb_writeback()`` ->
    ``writeback_sb_inodes()``, with ``work->sb`` set: no
    ``super_trylock_shared()``, the caller's s_umount pins the superblock)
    writes back each dirty file as ``do_writepages()`` WB_SYNC_NONE: the
    DIRTY folios tagged TOWRITE, each locked, a folio under writeback
    skipped rather than waited for, the rest cleaned and written; it waits
    for none of the I/O, which ``sync_inodes_sb()`` does.  The same lock
    edges as ``sync_inodes_sb()``'s writeback (s_umount, then the
    flusher's work, then the folio locks and ``xa_lock``) and the same
    wait: no new one.  Which files: as ``sync_inodes_sb()``.  Left out: the
    early return when the bdi has no dirty I/O (``bdi_has_dirty_io()``,
    tested before the ``WARN_ON``: the work then finds nothing to write;
    the model makes the ``WARN_ON`` first, which every caller passes, as it
    holds s_umount) and the work's page budget
    (``nr_pages = get_nr_dirty_pages()``: every dirty page)."""
    op.assert_held(op.world.superblock.s_umount, WARN_NONE_WORK)
    _writeback_work(
        op,
        mapping,
        "writeback_inodes_sb()",
        QUEUE_NONE_WORK,
        NONE_WORK_DONE,
        sync_all=False,
        tagged=True,
    )


def assert_s_umount_held(op: Op) -> None:
    """``WARN_ON(!rwsem_is_locked(&sb->s_umount))`` of ``sync_filesystem()``
    (fs/sync.c), ``sync_inodes_sb()`` and ``wait_sb_inodes()``
    (fs/fs-writeback.c), 6.6: "protected against the filesystem going
    from r/o to r/w or vice versa".  A lock-protocol error unless the
    thread holds s_umount in either mode: the kernel asks only that
    someone holds it, and every caller holds it itself."""
    op.assert_held(op.world.superblock.s_umount, "WARN_ON(!rwsem_is_locked(&sb->s_umount))")


def call_sync_fs(op: Op, wait: int) -> None:
    """``sb->s_op->sync_fs(sb, wait)``: with ``wait`` the filesystem commits
    its metadata (a journal commit, ``xfs_log_force(XFS_LOG_SYNC)``)."""
    op.call(
        "super_operations.sync_fs",
        _commit_metadata if wait else _no_op,
        metadata_slot(op.world),
        label=f"sb->s_op->sync_fs(sb, {wait})",
        roles={"wait": wait},
    )


def sync_filesystem(op: Op, mapping: Mapping) -> None:
    """``sync_filesystem()`` (fs/sync.c, 6.6), s_umount held: after
    ``WARN_ON(!rwsem_is_locked(&sb->s_umount))`` (``assert_s_umount_held``),
    the non-waiting pass, ``writeback_inodes_sb(sb, WB_REASON_SYNC)``
    (:func:`writeback_inodes_sb`) and ``->sync_fs(sb, 0)``, then the
    waiting one, ``sync_inodes_sb()`` and ``->sync_fs(sb, 1)``.  The first
    pass adds no lock edge and no kind of wait the second has not: it
    waits, s_umount held, for the flusher's work as ``sync_inodes_sb()``
    does, and that work takes the folio locks the second pass takes after
    it; what it changes is what the second pass finds (folios already
    under writeback, written or waited for there).  Left out:
    ``sync_blockdev_nowait()`` and ``sync_blockdev()`` of the block
    device's own page cache, the ``sb_rdonly()`` return and the error
    returns of ``->sync_fs`` (it always succeeds here)."""
    assert_s_umount_held(op)
    op.run(writeback_inodes_sb, mapping)
    call_sync_fs(op, 0)
    sync_inodes_sb(op, mapping)
    call_sync_fs(op, 1)


@operation(
    models="ksys_sync() -> iterate_supers(sync_inodes_one_sb / sync_fs_one_sb) (fs/sync.c)",
    describe=lambda f: "sync()",
    cites=(
        Cite("fs/sync.c", "ksys_sync", "6.6"),
        Cite(
            "fs/super.c",
            "iterate_supers",
            "6.6",
            leaves_out=("spin_lock", "spin_unlock"),
            because="sb_lock guards the list of superblocks; the model has one superblock",
        ),
        Cite("fs/super.c", "super_lock", "6.8"),
        Cite("fs/sync.c", "sync_inodes_one_sb", "6.6"),
        Cite("fs/sync.c", "sync_fs_one_sb", "6.6"),
    ),
)
def sync(op: Op, file: File) -> None:
    """sync(2): ``iterate_supers()`` three times over the one superblock,
    each time under s_umount shared (``super_lock_shared()``, which also
    checks the superblock is born and not dying): ``sync_inodes_one_sb()``,
    then ``sync_fs_one_sb()`` with wait 0 and with wait 1.  The flusher
    wake-up and ``sync_bdevs()`` are left out, and so are the inode's
    I_SYNC and ``->write_inode``: a scenario that models the inode's life
    refuses it (``mc.models.mount.sync_inode`` has them)."""
    refuse_inode_life(op.world, op.thread.name)
    ksys_sync(op, file, sync_inodes_sb)


def ksys_sync(op: Op, file: File, write_inodes: Callable[[Op, Mapping], None]) -> None:
    """``ksys_sync()``'s three passes over the superblock, the first
    writing the inodes back with ``write_inodes(op, mapping)``."""
    op.holds_no_file()
    mapping = op.mapping(file)
    s_umount = op.world.superblock.s_umount
    passes = (
        ("sync_inodes_one_sb", None),
        ("sync_fs_one_sb, &nowait", 0),
        ("sync_fs_one_sb, &wait", 1),
    )
    for number, (what, wait) in enumerate(passes):
        skip = f"put_super.{number}"
        super_lock(op, SHARED, f"iterate_supers({what}): super_lock_shared(sb)", skip)
        if wait is None:
            write_inodes(op, mapping)
        else:
            call_sync_fs(op, wait)
        op.unlock(s_umount, "super_unlock_shared(sb)")
        op.label(skip)


@operation(
    models="syncfs(2) -> sync_filesystem() (fs/sync.c)",
    describe=lambda f: f"syncfs({f})",
    cites=(
        Cite("fs/sync.c", "sync_filesystem", "6.6"),
        Cite("fs/fs-writeback.c", "__writeback_inodes_sb_nr", "6.6"),
        Cite("fs/fs-writeback.c", "sync_inodes_sb", "6.6"),
    ),
)
def syncfs(op: Op, file: File) -> None:
    """syncfs(2) on an open file of the filesystem (so, once it is
    mounted): ``down_read(&sb->s_umount)``, ``sync_filesystem()``,
    ``up_read()``; the pages alone, as ``sync``."""
    refuse_inode_life(op.world, op.thread.name, "syncfs(2)")
    mapping = op.mapping(file)
    s_umount = op.world.superblock.s_umount
    op.wait_until(
        flag(flag_slot(op.world, "SB_BORN"), "the mount returned"),
        "/* user space: an open file on the filesystem, once mount(2) returned */",
        "mount(2) to return",
    )
    op.lock(s_umount, SHARED, "syncfs(): down_read(&sb->s_umount)")
    op.run(sync_filesystem, mapping)
    op.unlock(s_umount, "up_read(&sb->s_umount)")


# --- freeze and thaw ---------------------------------------------------------------------

THAW_IGNORES_OTHER_HOLDER = "thaw-ignores-other-holder"
flag_variant(
    THAW_IGNORES_OTHER_HOLDER,
    "thaw_super() unfreezes the filesystem although another holder still holds the freeze (no "
    "early return on sb->s_writers.freeze_holders & ~who)",
)


FREEZE_FAILURE_KEEPS_LEVELS = "freeze-failure-keeps-levels"
flag_variant(
    FREEZE_FAILURE_KEEPS_LEVELS,
    "freeze_super() returns the error of a failed ->freeze_fs without sb_freeze_unlock(sb, "
    "SB_FREEZE_FS): the levels stay held and every writer waits for ever",
)


@touches(lambda _world, slot, _who: ([slot], [slot]))
def _add_holder(scratch: Scratch, slot: int, who: int) -> None:
    scratch[slot] |= who


@touches(lambda _world, slot, _who: ([slot], [slot]))
def _drop_holder(scratch: Scratch, slot: int, who: int) -> None:
    scratch[slot] &= ~who


@touches(lambda _world, frozen, holders, _who: ([holders], [frozen, holders]))
def _complete(scratch: Scratch, frozen: int, holders: int, who: int) -> None:
    scratch[holders] |= who
    scratch[frozen] = SB_FREEZE_COMPLETE


@touches(lambda _world, frozen, holders, _who: ([holders], [frozen, holders]))
def _unfrozen(scratch: Scratch, frozen: int, holders: int, who: int) -> None:
    scratch[holders] &= ~who
    scratch[frozen] = SB_UNFROZEN


def _freeze_fs(fails: bool) -> Any:
    @touches(lambda _world, slot, ret: ([], [slot, ret]))
    def freeze_fs(scratch: Scratch, slot: int, ret: int) -> None:
        scratch[ret] = -E.EIO if fails else _commit_metadata(scratch, slot)

    freeze_fs.__name__ = "freeze_fs_failing" if fails else "freeze_fs"
    return freeze_fs


def _levels(op: Op) -> list[tuple[int, Any]]:
    """The freeze levels the freezer takes, with their index in
    ``sb->s_writers.rw_sem[]``."""
    skips = op.variant(FREEZE_SKIPS_PAGEFAULTS)
    return [
        (index, sb_writers(op.world, level))
        for index, level in enumerate(LEVELS)
        if not (index == 1 and skips)
    ]


def sb_freeze_unlock(op: Op, level: int) -> None:
    """``sb_freeze_unlock(sb, level)``: ``percpu_up_write()`` of the levels
    from ``level`` down to SB_FREEZE_WRITE, the innermost first."""
    for index, lock in reversed(_levels(op)):
        if index < level:
            op.unlock(
                lock,
                f"sb_freeze_unlock(sb, {FROZEN_NAMES[level]}): "
                f"percpu_up_write(&sb->s_writers.rw_sem[{index}])",
            )


def freeze_super(op: Op, mapping: Mapping, who: int, fails: bool = False) -> None:
    """``freeze_super(sb, who)`` (fs/super.c, Linux 6.6): an active
    reference (``atomic_inc(&sb->s_active)``, which the last thaw drops,
    and an error return drops again), s_umount exclusive once the
    superblock is SB_BORN (``super_lock_excl()``); on a frozen superblock
    a holder that already holds the freeze gets -EBUSY and another shares
    it (``freeze_holders |= who``, return 0); one being frozen or thawed is
    waited for
    (``wait_for_partially_frozen()``, s_umount dropped); then each level in
    turn: ``frozen = SB_FREEZE_WRITE`` and, s_umount dropped "to preserve
    sb_start_write -> s_umount ordering", ``sb_wait_write(SB_FREEZE_WRITE)``
    (``percpu_down_write()``: new writers wait, then the writers inside
    drain); ``SB_FREEZE_PAGEFAULT`` under s_umount; ``sync_filesystem()``;
    ``SB_FREEZE_FS``; ``->freeze_fs``, whose failure unwinds
    (``frozen = SB_UNFROZEN``, ``sb_freeze_unlock(sb, SB_FREEZE_FS)``: the
    three levels released innermost first, ``wake_up_var()``); else
    ``freeze_holders |= who``, ``frozen = SB_FREEZE_COMPLETE`` and the three
    rw_semaphores handed off (``lockdep_sb_freeze_release()``): they stay
    held after the call returns, until the last holder's ``thaw_super()``.
    ``->freeze_fs`` is ext4's ``ext4_freeze()`` (fs/ext4/super.c, 6.12):
    ``jbd2_journal_lock_updates()`` (fs/jbd2/transaction.c) sets the
    journal barrier, so new handles wait and the open ones drain (an
    exclusive acquisition of ``jbd2_handle``, whose holders are the open
    handles), the journal is flushed and the superblock committed, and
    ``jbd2_journal_unlock_updates()`` lifts the barrier ("we rely on upper
    layer to stop further updates": the freeze levels).  A handle opened
    under no freeze level (an inode evicted inside a handle, 46e294efc355)
    is waited for there.
    ``fails``: the filesystem's ``->freeze_fs`` returns -EIO (ext4's
    ``ext4_freeze()`` when ``jbd2_journal_flush()`` fails on an aborted
    journal)."""
    s_umount = op.world.superblock.s_umount
    frozen = frozen_slot(op.world)
    holders = holders_slot(op.world)
    levels = _levels(op)
    holder = HOLDER_NAMES[who]
    active = s_active_slot(op.world)
    op.effect("freeze_super(): atomic_inc(&sb->s_active)", _inc_active, active)
    super_lock(op, EXCL, "super_lock_excl(sb)", "dying")
    op.label("retry")
    with op.when(
        frozen_is(op.world, SB_FREEZE_COMPLETE), "if (sb->s_writers.frozen == SB_FREEZE_COMPLETE)"
    ):
        op.fail_if(
            holders_have(op.world, who, f"sb->s_writers.freeze_holders & {holder}"),
            E.EBUSY,
            "deactivate",
            "if (sb->s_writers.freeze_holders & who) return -EBUSY",
        )
        op.effect(
            "sb->s_writers.freeze_holders |= who /* share the freeze */",
            _add_holder,
            holders,
            who,
        )
        op.fail(0, "unlock", "return 0 /* the freeze shared */")
    with op.when(
        not_(frozen_is(op.world, SB_UNFROZEN)), "if (sb->s_writers.frozen != SB_UNFROZEN)"
    ):
        op.unlock(s_umount, "wait_for_partially_frozen(sb): up_write(&sb->s_umount)")
        op.wait_until(
            frozen_in(
                op.world,
                (SB_UNFROZEN, SB_FREEZE_COMPLETE),
                "sb->s_writers.frozen == SB_UNFROZEN || frozen == SB_FREEZE_COMPLETE",
            ),
            "wait_var_event_killable(&sb->s_writers.frozen, ...)",
            "a freeze or thaw in progress",
        )
        op.lock(s_umount, EXCL, "down_write(&sb->s_umount); goto retry")
        op.goto("retry")
    op.effect("sb->s_writers.frozen = SB_FREEZE_WRITE", assign, frozen, SB_FREEZE_WRITE)
    op.unlock(s_umount, "super_unlock_excl(sb) /* preserve sb_start_write -> s_umount ordering */")
    op.lock(
        sb_writers(op.world, SB_FREEZE_WRITE),
        EXCL,
        "sb_wait_write(sb, SB_FREEZE_WRITE): percpu_down_write(&sb->s_writers.rw_sem[0])",
        tag="freeze-level",
    )
    op.lock(s_umount, EXCL, "super_lock_excl(sb)")
    op.effect("sb->s_writers.frozen = SB_FREEZE_PAGEFAULT", assign, frozen, SB_FREEZE_PAGEFAULT)
    if not op.variant(FREEZE_SKIPS_PAGEFAULTS):
        op.lock(
            sb_writers(op.world, SB_FREEZE_PAGEFAULT),
            EXCL,
            "sb_wait_write(sb, SB_FREEZE_PAGEFAULT): percpu_down_write(&sb->s_writers.rw_sem[1])",
            tag="freeze-level",
        )
    op.run(sync_filesystem, mapping)
    op.effect("sb->s_writers.frozen = SB_FREEZE_FS", assign, frozen, SB_FREEZE_FS)
    op.lock(
        sb_writers(op.world, SB_FREEZE_FS),
        EXCL,
        "sb_wait_write(sb, SB_FREEZE_FS): percpu_down_write(&sb->s_writers.rw_sem[2])",
        tag="freeze-level",
    )
    updates = journal(op.world)
    op.enter("super_operations.freeze_fs", label="ret = sb->s_op->freeze_fs(sb)", roles={})
    op.lock(
        updates,
        EXCL,
        "ext4_freeze(): jbd2_journal_lock_updates(journal) /* new handles wait, open ones drain */",
    )
    op.effect(
        "error = jbd2_journal_flush(journal, 0); ... error = ext4_commit_super(sb)",
        _freeze_fs(fails),
        metadata_slot(op.world),
        op.thread.ret,
    )
    op.unlock(
        updates,
        "out: jbd2_journal_unlock_updates(journal) "
        "/* we rely on upper layer to stop further updates */; return error",
    )
    with op.when(is_error(op.ret), "if (ret) /* VFS:Filesystem freeze failed */"):
        op.effect("sb->s_writers.frozen = SB_UNFROZEN", assign, frozen, SB_UNFROZEN)
        if not op.variant(FREEZE_FAILURE_KEEPS_LEVELS):
            sb_freeze_unlock(op, SB_FREEZE_FS)
        op.goto("deactivate")
    op.effect(
        "sb->s_writers.freeze_holders |= who; sb->s_writers.frozen = SB_FREEZE_COMPLETE; "
        "wake_up_var(&sb->s_writers.frozen)",
        _complete,
        frozen,
        holders,
        who,
    )
    for index, lock in levels:
        op.hand_off(
            lock,
            f"lockdep_sb_freeze_release(sb): percpu_rwsem_release(&sb->s_writers.rw_sem[{index}])",
        )
    op.goto("unlock")
    op.label("deactivate")
    op.effect(
        "deactivate_locked_super(sb): atomic_dec_and_test(&s->s_active) /* not the last */",
        _drop_active,
        active,
    )
    op.label("unlock")
    op.unlock(s_umount, "super_unlock_excl(sb)")
    op.label("dying")


def thaw_super(op: Op, who: int) -> None:
    """``thaw_super(sb, who)`` -> ``thaw_super_locked()`` (fs/super.c,
    Linux 6.6): s_umount exclusive; -EINVAL unless frozen and held by
    ``who``; a freeze another holder shares loses ``who`` and stays
    (``freeze_holders &= ~who``, return 0); else the levels taken over from
    the freezer (``lockdep_sb_freeze_acquire()``), ``->unfreeze_fs``,
    ``frozen = SB_UNFROZEN``, ``sb_freeze_unlock(sb, SB_FREEZE_FS)``
    releases the levels from the innermost, ``wake_up_var()``, and
    ``deactivate_locked_super()`` drops the freeze's active reference and
    s_umount (as it does for a holder that leaves a shared freeze; the
    -EINVAL returns keep it).  s_umount is taken once the superblock is
    SB_BORN (``super_lock_excl()``)."""
    mode = SHARED if op.variant(THAW_S_UMOUNT_SHARED) else EXCL
    taken = "super_lock_excl(sb)" if mode is EXCL else "super_lock_shared(sb)"
    super_lock(op, mode, f"thaw_super(): {taken}", "dying")
    thaw_super_locked(op, who)
    op.label("dying")


def thaw_super_locked(op: Op, who: int) -> None:
    """``thaw_super_locked(sb, who)`` (fs/super.c, 6.6), with s_umount held
    by its caller: the body of ``thaw_super`` after ``super_lock_excl()``,
    which drops s_umount on every way out (``super_unlock_excl()``, or
    ``deactivate_locked_super()``)."""
    s_umount = op.world.superblock.s_umount
    frozen = frozen_slot(op.world)
    holders = holders_slot(op.world)
    holder = HOLDER_NAMES[who]
    active = s_active_slot(op.world)
    op.fail_if(
        not_(frozen_is(op.world, SB_FREEZE_COMPLETE)),
        E.EINVAL,
        "out_unlock",
        "if (sb->s_writers.frozen != SB_FREEZE_COMPLETE) goto out_unlock /* -EINVAL */",
    )
    op.fail_if(
        not_(holders_have(op.world, who, f"sb->s_writers.freeze_holders & {holder}")),
        E.EINVAL,
        "out_unlock",
        "if (!(sb->s_writers.freeze_holders & who)) goto out_unlock /* -EINVAL */",
    )
    if not op.variant(THAW_IGNORES_OTHER_HOLDER):
        other = FREEZE_HOLDER_KERNEL | FREEZE_HOLDER_USERSPACE
        with op.when(
            holders_have(op.world, other & ~who, f"sb->s_writers.freeze_holders & ~{holder}"),
            "if (sb->s_writers.freeze_holders & ~who) /* shared with someone else */",
        ):
            op.effect(
                "sb->s_writers.freeze_holders &= ~who",
                _drop_holder,
                holders,
                who,
            )
            op.goto("out_deactivate")
    for index, lock in _levels(op):
        op.take_over(
            lock,
            f"lockdep_sb_freeze_acquire(sb): percpu_rwsem_acquire(&sb->s_writers.rw_sem[{index}])",
        )
    op.call(
        "super_operations.unfreeze_fs",
        _no_op,
        label="error = sb->s_op->unfreeze_fs(sb)",
    )
    op.effect(
        "sb->s_writers.freeze_holders &= ~who; sb->s_writers.frozen = SB_UNFROZEN; "
        "wake_up_var(&sb->s_writers.frozen)",
        _unfrozen,
        frozen,
        holders,
        who,
    )
    sb_freeze_unlock(op, SB_FREEZE_FS)
    op.label("out_deactivate")
    op.effect(
        "out: deactivate_locked_super(sb): atomic_dec_and_test(&s->s_active) /* not the last */",
        _drop_active,
        active,
    )
    op.label("out_unlock")
    op.unlock(s_umount, "super_unlock_excl(sb)")


@operation(
    models="ioctl(FIFREEZE) -> freeze_super(sb, FREEZE_HOLDER_USERSPACE) (fs/ioctl.c, fs/super.c)",
    describe=lambda f, fails=False: "ioctl(FIFREEZE)" + (" [->freeze_fs fails]" if fails else ""),
    cites=(
        Cite(
            "fs/ioctl.c",
            "ioctl_fsfreeze",
            "6.6",
            leaves_out=("super_operations.freeze_super",),
            because="a filesystem's own ->freeze_super is not modelled: the generic freeze is",
        ),
        Cite("fs/super.c", "freeze_super", "6.6"),
        Cite("fs/super.c", "sb_wait_write", "6.6"),
        Cite("fs/super.c", "sb_freeze_unlock", "6.6"),
        Cite("fs/sync.c", "sync_filesystem", "6.6"),
        Cite("fs/fs-writeback.c", "__writeback_inodes_sb_nr", "6.6"),
    ),
)
def freeze(op: Op, file: File, fails: bool = False) -> None:
    """FIFREEZE: ``freeze_super(sb, FREEZE_HOLDER_USERSPACE)``, then the
    ioctl returns (a thaw issued by user space waits for that)."""
    mapping = op.mapping(file)
    _freezers(op.world).append((op.thread.tid, op.thread.pc))
    op.run(freeze_super, mapping, FREEZE_HOLDER_USERSPACE, fails)
    op.effect("return ret /* the ioctl returns */", assign, _returned_slot(op.world), True)


def _freezers(world: World) -> list[tuple[int, int]]:
    """The threads issuing FIFREEZE, with their program-counter slots."""
    found: list[tuple[int, int]] = world.parts.setdefault("fifreeze", [])
    return found


@operation(
    models="ioctl(FITHAW) -> thaw_super(sb, FREEZE_HOLDER_USERSPACE) (fs/ioctl.c, fs/super.c)",
    describe=lambda f: "ioctl(FITHAW)",
    cites=(
        Cite(
            "fs/ioctl.c",
            "ioctl_fsthaw",
            "6.6",
            leaves_out=("super_operations.thaw_super",),
            because="a filesystem's own ->thaw_super is not modelled: the generic thaw is",
        ),
        Cite("fs/super.c", "thaw_super", "6.6"),
        Cite("fs/super.c", "thaw_super_locked", "6.6"),
        Cite("fs/super.c", "sb_freeze_unlock", "6.6"),
    ),
)
def thaw(op: Op, file: File) -> None:
    """FITHAW, issued by a process once the FIFREEZE ioctl has returned
    (``fsfreeze -u`` after ``fsfreeze -f``; in a scenario without FIFREEZE
    at once, and it finds nothing frozen: -EINVAL): ``thaw_super(sb,
    FREEZE_HOLDER_USERSPACE)``."""
    op.mapping(file)
    freezers = _freezers(op.world)
    op.wait_until(
        _freeze_returned(),
        "/* user space: FITHAW once FIFREEZE has returned */",
        "the FIFREEZE ioctl to return",
        lambda state: tuple(tid for tid, pc in freezers if state[pc] != DONE),
    )
    op.run(thaw_super, FREEZE_HOLDER_USERSPACE)


# --- the block device's freeze ----------------------------------------------------------


@attrs.frozen
class BdevFreeze:
    """What ``freeze_bdev()`` and ``thaw_bdev()`` keep in the filesystem's
    block device: ``bd_fsfreeze_mutex``, ``bd_fsfreeze_count`` and
    ``bd_fsfreeze_sb`` (whether the last freeze found the superblock)."""

    mutex: Lock
    count: int
    frozen_sb: int


def bdev_freezing(world: World) -> BdevFreeze:
    """The block device's freeze state, made on first use."""
    found = world.parts.get("bdev-freeze")
    if isinstance(found, BdevFreeze):
        return found
    made = BdevFreeze(
        world.shared_lock("bd_fsfreeze_mutex(bdev)", Kind.MUTEX),
        world.shared_slot("bd_fsfreeze_count(bdev)", 0),
        world.shared_slot("bd_fsfreeze_sb(bdev)", False, yes_no),
    )
    world.parts["bdev-freeze"] = made
    return made


@touches(one_slot)
def _add_one(scratch: Scratch, slot: int) -> None:
    scratch[slot] += 1


@touches(one_slot)
def _drop_one(scratch: Scratch, slot: int) -> None:
    scratch[slot] -= 1


def _count_above(slot: int, least: int, text: str) -> Expr:
    return state_expr(text, lambda state: state[slot] > least, reads=[slot])


def get_active_super(op: Op, caller: str, skip: str) -> None:
    """An active reference to the superblock taken under s_umount
    (``grab_super()`` of 6.6's ``get_active_super(bdev)``, the
    ``get_active_super(sb)`` of the fixed emergency thaw): s_umount
    exclusive once the superblock is born (a dying one goes to ``skip``),
    ``atomic_inc_not_zero(&sb->s_active)``, s_umount dropped."""
    super_lock(op, EXCL, f"{caller}: super_lock_excl(sb)", skip)
    op.effect("atomic_inc_not_zero(&sb->s_active)", _inc_active, s_active_slot(op.world))
    op.unlock(op.world.superblock.s_umount, f"{caller}: super_unlock_excl(sb)")


def deactivate_super(op: Op) -> None:
    """``deactivate_super(sb)`` of a reference ``get_active_super`` took:
    never the last (``_drop_active``), so no s_umount."""
    op.effect(
        "deactivate_super(sb): atomic_add_unless(&s->s_active, -1, 1)",
        _drop_active,
        s_active_slot(op.world),
    )


def freeze_bdev(op: Op, mapping: Mapping) -> None:
    """``freeze_bdev(bdev)`` (block/bdev.c, 6.6; renamed ``bdev_freeze()``
    in 6.8): under ``bd_fsfreeze_mutex``, only the first freeze of the
    device freezes: ``get_active_super(bdev)`` -> ``grab_super()`` takes
    s_umount exclusive (once the superblock is born) and an active
    reference, and drops s_umount; ``freeze_super(sb,
    FREEZE_HOLDER_USERSPACE)``; ``deactivate_super()`` drops the reference
    (never the last: the mount's and the freeze's remain); a failed freeze
    takes the count back, a good one records the superblock
    (``bd_fsfreeze_sb``); a superblock not found (a dying one) goes to
    ``sync``, the count raised and 0 returned.  Read in the stored patch "bdev: implement freeze
    and thaw holder operations" (vfs-6.8.super), whose removed lines are
    6.6's.  From 6.8 the freeze goes through the holder's
    ``fs_bdev_freeze()``: ``bd_holder_lock``, then ``get_bdev_super()`` ->
    ``bdev_super_lock()`` drops it and takes s_umount, and
    ``freeze_super()`` is called with ``FREEZE_MAY_NEST`` (read in 6.17-rc3,
    Kingxukai/linux at 0291023e): the same order of ``bd_fsfreeze_mutex``
    before s_umount.  Left out: the ``sync_blockdev()`` after the freeze
    (the block device's own cache, as ``sync_filesystem()`` leaves it
    out), the ``super_blocks`` walk and ``s_count``."""
    b = bdev_freezing(op.world)
    op.effect("freeze_bdev(): int error = 0", assign, op.thread.ret, 0)
    op.lock(b.mutex, EXCL, "mutex_lock(&bdev->bd_fsfreeze_mutex)")
    op.effect("++bdev->bd_fsfreeze_count", _add_one, b.count)
    op.goto_if(
        _count_above(b.count, 1, "bdev->bd_fsfreeze_count > 1"),
        "done",
        "if (bdev->bd_fsfreeze_count > 1) goto done /* frozen already */",
    )
    get_active_super(op, "sb = get_active_super(bdev): grab_super(sb)", "sync")
    op.run(freeze_super, mapping, FREEZE_HOLDER_USERSPACE)
    deactivate_super(op)
    with op.when(is_error(op.ret), "if (error)"):
        op.effect("bdev->bd_fsfreeze_count--; goto done", _drop_one, b.count)
        op.goto("done")
    op.effect("bdev->bd_fsfreeze_sb = sb", assign, b.frozen_sb, True)
    op.label("sync")
    op.label("done")
    op.unlock(b.mutex, "done: mutex_unlock(&bdev->bd_fsfreeze_mutex); return error")


def thaw_bdev(op: Op) -> None:
    """``thaw_bdev(bdev)`` (block/bdev.c, 6.6; ``bdev_thaw()`` from 6.8):
    under ``bd_fsfreeze_mutex``, -EINVAL when the device is not frozen;
    else the count drops, and the last thaw thaws the superblock the
    freeze recorded with ``thaw_super(sb, FREEZE_HOLDER_USERSPACE)``,
    taking the count back if that fails.  From 6.8 the holder's
    ``fs_bdev_thaw()`` reaches s_umount through ``bd_holder_lock`` and
    ``get_bdev_super()``, as ``freeze_bdev`` says."""
    b = bdev_freezing(op.world)
    op.lock(b.mutex, EXCL, "thaw_bdev(): mutex_lock(&bdev->bd_fsfreeze_mutex)")
    op.fail_if(
        not_(_count_above(b.count, 0, "bdev->bd_fsfreeze_count")),
        E.EINVAL,
        "out",
        "if (!bdev->bd_fsfreeze_count) goto out /* -EINVAL */",
    )
    op.effect("--bdev->bd_fsfreeze_count", _drop_one, b.count)
    op.fail_if(
        _count_above(b.count, 0, "bdev->bd_fsfreeze_count > 0"),
        0,
        "out",
        "error = 0; if (bdev->bd_fsfreeze_count > 0) goto out",
    )
    op.fail_if(
        not_(flag(b.frozen_sb, "bdev->bd_fsfreeze_sb")),
        0,
        "out",
        "sb = bdev->bd_fsfreeze_sb; if (!sb) goto out",
    )
    op.effect("error = 0 /* thaw_super() returns it */", assign, op.thread.ret, 0)
    op.run(thaw_super, FREEZE_HOLDER_USERSPACE)
    with op.when(is_error(op.ret), "if (error)"):
        op.effect("bdev->bd_fsfreeze_count++", _add_one, b.count)
    with op.otherwise():
        op.effect("bdev->bd_fsfreeze_sb = NULL", assign, b.frozen_sb, False)
    op.label("out")
    op.unlock(b.mutex, "out: mutex_unlock(&bdev->bd_fsfreeze_mutex); return error")


@operation(
    models="dmsetup suspend, then dmsetup resume: dm_suspend() -> lock_fs() -> "
    "freeze_bdev(md->disk->part0), dm_resume() -> unlock_fs() -> thaw_bdev() "
    "(drivers/md/dm.c, block/bdev.c)",
    describe=lambda f: "dm suspend+resume (freeze_bdev, thaw_bdev)",
    cites=(
        Cite("drivers/md/dm.c", "lock_fs", "6.6"),
        Cite("drivers/md/dm.c", "unlock_fs", "6.6"),
        Cite(
            "block/bdev.c",
            "freeze_bdev",
            "6.6",
            leaves_out=("super_operations.freeze_super",),
            because="a filesystem's own ->freeze_super is not modelled: the generic freeze is",
        ),
        Cite("block/bdev.c", "thaw_bdev", "6.6"),
        Cite("fs/super.c", "get_active_super", "6.6"),
    ),
)
def dm_suspend_resume(op: Op, file: File) -> None:
    """A device-mapper device under the filesystem suspended with its
    filesystem locked (``DM_SUSPEND_LOCKFS_FLAG``: ``lock_fs()``, which
    marks the device ``DMF_FROZEN`` if ``freeze_bdev()`` succeeded) and
    resumed (``unlock_fs()``: ``thaw_bdev()`` if ``DMF_FROZEN``).  Left out:
    dm's own ``suspend_lock`` and the I/O it holds back while suspended
    (no other thread takes them), and the table swap between."""
    mapping = op.mapping(file)
    op.run(freeze_bdev, mapping)
    op.goto_if(
        is_error(op.ret),
        "resumed",
        "lock_fs(): if (!r) set_bit(DMF_FROZEN, &md->flags) /* else not frozen */",
    )
    op.run(thaw_bdev)
    op.label("resumed")


def bdev_thaw_loop(op: Op) -> None:
    """``while (sb->s_bdev && !bdev_thaw(sb->s_bdev)) pr_warn(...)``: the
    emergency thaw drops the device's freezes until none is left
    (``thaw_bdev()`` then returns -EINVAL) or a thaw fails."""
    op.label("again")
    op.run(thaw_bdev)
    op.goto_if(
        not_(is_error(op.ret)),
        "again",
        'while (sb->s_bdev && !bdev_thaw(sb->s_bdev)) pr_warn("Emergency Thaw on %pg")',
    )


@operation(
    models="SysRq-j: emergency_thaw_all() -> do_thaw_all() -> __iterate_supers() -> "
    "do_thaw_all_callback() -> bdev_thaw(), thaw_super_locked() (fs/super.c)",
    describe=lambda f: "SysRq-j (emergency thaw)",
    cites=(
        Cite("fs/super.c", "do_thaw_all_callback", "7.2"),
        Cite("fs/super.c", "get_active_super", "7.2"),
        Cite("fs/super.c", "thaw_super_locked", "6.6"),
        Cite("block/bdev.c", "thaw_bdev", "6.6"),
    ),
)
def emergency_thaw(op: Op, file: File) -> None:
    """SysRq-j's emergency thaw of every superblock, run by a work item at
    any time, as "super: fix emergency thaw deadlock on frozen block
    devices" (749d7aa0377a, in a stored git log among the 7.2-rc4 and
    -rc5 merges) left it: ``__iterate_supers(do_thaw_all_callback,
    NULL, SUPER_ITER_UNLOCKED)``; the callback takes an active reference
    (``get_active_super()``: s_umount exclusive, ``atomic_inc_not_zero()``,
    s_umount dropped), drops the block device's freezes without s_umount
    ("fs_bdev_thaw() acquires s_umount so it must not be held here"),
    then takes s_umount and thaws the userspace freeze with
    ``thaw_super_locked(sb, FREEZE_HOLDER_USERSPACE)``, which drops it, and
    drops its reference (``deactivate_super()``).  Read in a 7.x fs/super.c
    of the search index (``kmalloc_obj()``, ``SUPER_ITER_UNLOCKED``).
    Under ``thaw-all-bdev-thaw-under-s_umount`` the callback of 6.6 to
    6.15 (read in 6.15's and the 6.6 cycle's fs/super.c): ``locked =
    super_lock_excl(sb)``, then the device's thaws and
    ``thaw_super_locked()`` with s_umount held; under
    ``thaw-all-iterator-unlocks`` that of 6.16 ("super: use a common
    iterator (Part 1)", vfs-6.16.super; read in its posting of 2025-03-28
    and in 6.17-rc3, Kingxukai/linux at 0291023e): the iterator takes
    s_umount around the callback (``__iterate_supers(do_thaw_all_callback,
    NULL, SUPER_ITER_EXCL)``) and calls ``super_unlock(sb, excl)`` after it,
    once ``thaw_super_locked()`` has dropped it already ("fs/super: fix
    emergency thaw double-unlock of s_umount", 7.2-rc), and with the
    device's thaws under s_umount still (a check reports the double unlock
    first).  The device's freezes are 6.6's ``thaw_bdev()`` (from 6.8
    ``bdev_thaw()`` -> ``fs_bdev_thaw()``, the same waits), under the 7.x
    callback as under the old ones.  Left out: the superblock list,
    ``s_count``, the work item itself, and a superblock without a block
    device (``sb->s_bdev`` is set)."""
    op.mapping(file)
    iterator_locks = op.variant(THAW_ALL_ITERATOR_UNLOCKS)
    s_umount = op.world.superblock.s_umount
    if iterator_locks or op.variant(THAW_ALL_BDEV_THAW_UNDER_S_UMOUNT):
        taken = (
            "__iterate_supers(do_thaw_all_callback, NULL, SUPER_ITER_EXCL): "
            "locked = super_lock(sb, excl)"
            if iterator_locks
            else "do_thaw_all_callback(): locked = super_lock_excl(sb)"
        )
        super_lock(op, EXCL, taken, "skip")
        bdev_thaw_loop(op)
        thaw_super_locked(op, FREEZE_HOLDER_USERSPACE)
        if iterator_locks:
            op.unlock(s_umount, "if (locked) { f(sb, arg); super_unlock(sb, excl); }")
        op.label("skip")
        return
    get_active_super(op, "do_thaw_all_callback(): get_active_super(sb)", "skip")
    bdev_thaw_loop(op)
    super_lock(op, EXCL, "if (super_lock_excl(sb))", "deactivate")
    thaw_super_locked(op, FREEZE_HOLDER_USERSPACE)
    op.label("deactivate")
    deactivate_super(op)
    op.label("skip")


@operation(
    models="xchk_fscounters_freeze() / xchk_fscounters_cleanup(): freeze_super(sb, "
    "FREEZE_HOLDER_KERNEL), thaw_super(sb, FREEZE_HOLDER_KERNEL) (fs/xfs/scrub/fscounters.c)",
    describe=lambda f: "kernel freeze+thaw",
    cites=(
        Cite("fs/xfs/scrub/fscounters.c", "xchk_fscounters_freeze", "6.6"),
        Cite("fs/xfs/scrub/fscounters.c", "xchk_fscounters_cleanup", "6.6"),
        Cite("fs/super.c", "freeze_super", "6.6"),
        Cite("fs/super.c", "thaw_super", "6.6"),
    ),
)
def kernel_freeze(op: Op, file: File) -> None:
    """A freeze the kernel holds: XFS online scrub's summary-counter check
    freezes the filesystem with ``FREEZE_HOLDER_KERNEL``, checks, and thaws
    with the same holder (the thaw only if its freeze succeeded).
    ``xchk_fscounters_freeze()`` calls ``freeze_super()`` again while it
    returns -EBUSY (another kernel freeze holds the superblock frozen),
    with ``delay(HZ / 10)`` between: the model's delay lasts until no
    kernel freeze is held, as the rounds before that return -EBUSY again
    and change nothing (``freeze_super()`` drops s_umount and its active
    reference before it returns).  What the model leaves out: the
    scrub's own freeze protection, which ``xchk_fscounters_freeze()``
    drops first (``mnt_drop_write_file()`` under ``XCHK_HAVE_FREEZE_PROT``;
    the model never takes it), and ``xchk_should_terminate()`` (no fatal
    signal arrives)."""
    mapping = op.mapping(file)
    op.label("again")
    op.run(freeze_super, mapping, FREEZE_HOLDER_KERNEL)
    with op.when(
        same(op.ret, const(-E.EBUSY, "-EBUSY")), "while ((error = xchk_fsfreeze(sc)) == -EBUSY)"
    ):
        op.wait_until(
            not_(
                holders_have(
                    op.world, FREEZE_HOLDER_KERNEL, "freeze_holders & FREEZE_HOLDER_KERNEL"
                )
            ),
            "delay(HZ / 10) /* until the other kernel freeze is thawed */",
            "the kernel freeze another scrub holds",
        )
        op.goto("again")
    op.goto_if(is_error(op.ret), "done", "if (error) return error /* not frozen */")
    op.run(thaw_super, FREEZE_HOLDER_KERNEL)
    op.label("done")


# --- an internal transaction ---------------------------------------------------------------


@operation(
    models="xfs_trans_alloc() ... xfs_trans_commit() (fs/xfs/xfs_trans.c), sb_start_intwrite()",
    describe=lambda f: "fs transaction",
    cites=(
        Cite("fs/xfs/xfs_trans.c", "xfs_trans_alloc", "6.6"),
        Cite("fs/xfs/xfs_trans.c", "xfs_trans_free", "6.6"),
    ),
)
def fs_transaction(op: Op, file: File) -> None:
    """A filesystem's internal transaction, with XFS's shape:
    ``xfs_trans_alloc()`` takes ``sb_start_intwrite()`` (the SB_FREEZE_FS
    level; ``XFS_TRANS_NO_WRITECOUNT`` left out), the commit adds the change
    to the in-memory log (the metadata is dirty until a log force,
    ``->sync_fs(sb, 1)`` or ``->freeze_fs``, writes it), and
    ``xfs_trans_free()`` ends the internal write."""
    op.mapping(file)
    internal = sb_writers(op.world, SB_FREEZE_FS)
    meta = metadata_slot(op.world)
    op.lock(
        internal, SHARED, "xfs_trans_alloc(): sb_start_intwrite(mp->m_super)", tag="sb-intwrite"
    )
    op.effect("xfs_trans_commit(tp): the change joins the in-memory log", assign, meta, True)
    op.unlock(
        internal, "xfs_trans_free(tp): sb_end_intwrite(tp->t_mountp->m_super)", tag="sb-intwrite"
    )
