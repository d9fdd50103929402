"""Mounting, reconfiguring and unmounting the scenario's superblock, and the
calls that read it, from Linux 6.6: fs/namespace.c (``do_new_mount()``,
``do_umount()``, ``show_vfsmnt()``), fs/super.c (``vfs_get_tree()``,
``sget_fc()``/``alloc_super()``, ``reconfigure_super()``,
``deactivate_super()``, ``deactivate_locked_super()``,
``generic_shutdown_super()``, ``kill_block_super()``, ``super_wake()``),
fs/inode.c (``evict_inodes()``), fs/statfs.c (``vfs_statfs()``) and
fs/proc_namespace.c.  The inode's state is ``mc.kernel.inode_life``'s.
``generic_shutdown_super()``, ``deactivate_locked_super()``,
``alloc_super()`` and ``sget_fc()`` were read in the stored torvalds/linux
fs/super.c (a 5.x tree); 6.6 adds ``super_wake(sb, SB_DYING)`` and
``super_lock()``'s wait for SB_BORN, in the form 6.8 gives it (the wait
before s_umount is taken, ``mc.models.super``), which the model follows.

Checked against fs/namespace.c and fs/super.c as stored (5.x and 6.x
copies): ``do_umount()`` calls ``->umount_begin`` for MNT_FORCE before
``namespace_lock()``, and the superblock's last active reference goes in
``deactivate_super()`` from ``cleanup_mnt()``, task work after
``namespace_unlock()``, as modelled; ``do_remount()`` holds s_umount for
write around ``reconfigure_super()``, which returns -EBUSY on a frozen
superblock (a check the model had left out and now makes).

Left out: the mount tree (``namespace_sem`` and ``mount_lock`` are locks of
their own, the umount_tree() of one mount), ``s_count`` (the superblock's
passive references; ``s_active`` is modelled: the mount's reference and
one per freeze holder, so an unmount of a frozen filesystem drops only
the mount's and ``->kill_sb`` waits for the last thaw), the dcache
(``shrink_dcache_for_umount()`` is the iput of the root's one cached inode),
the block device (``kill_block_super()``'s ``sync_blockdev()``), a
read-only remount's extra checks (``sb_prepare_remount_readonly()``) and
the legacy/``fs_context`` split (``->mount`` stands for ``->get_tree``).
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
    LockKind,
    Op,
    Scratch,
    flag_variant,
    invariant,
    not_,
    operation,
)
from mc.dsl.kernel_model import KernelModel
from mc.dsl.operation import HOLDING_NO_FILE, KEEPING_FILE_OPEN
from mc.engine.model import Check
from mc.kernel.expr import Expr, State, const
from mc.kernel.inode_life import (
    I_DIRTY_DATASYNC,
    I_FREEING,
    I_NEW,
    I_SYNC,
    I_WILL_FREE,
    InodeLife,
    InodeObject,
    inode_life,
    set_bits,
)
from mc.kernel.mm import UNMOUNTER, refuse_mapping_beside_umount
from mc.kernel.pagecache import File, Mapping, pagecache
from mc.kernel.superblock import SB_UNFROZEN, frozen_is, metadata_slot
from mc.kernel.world import DONE, ERROR_SLOT, World, touches, yes_no
from mc.models.inode import (
    evict,
    generic_fsync_metadata,
    iput,
    mark_inode_dirty,
    part_of,
    s_inode_list_lock,
    writeback_single_inode,
)
from mc.models.super import (
    NONE_WORK_DONE,
    QUEUE_NONE_WORK,
    QUEUE_SYNC_WORK,
    SYNC_WORK_DONE,
    WARN_NONE_WORK,
    assert_s_umount_held,
    assign,
    call_sync_fs,
    flag,
    flag_slot,
    ksys_sync,
    one_slot,
    s_active_slot,
    sync,
    syncfs,
    wb_worker,
)
from mc.models.writeback import fdatawait, file_fsync, fsync, write

UMOUNT_SKIPS_SYNC = "umount-skips-sync"
REMOUNT_S_UMOUNT_SHARED = "remount-s_umount-shared"

flag_variant(
    UMOUNT_SKIPS_SYNC,
    "generic_shutdown_super() evicts the inodes without sync_filesystem() first",
)
flag_variant(
    REMOUNT_S_UMOUNT_SHARED,
    "reconfigure_super() is called with s_umount shared instead of exclusive",
)
REMOUNT_IGNORES_FROZEN = "remount-ignores-frozen"
flag_variant(
    REMOUNT_IGNORES_FROZEN,
    "reconfigure_super() does not refuse a frozen superblock: ->remount_fs writes the "
    "superblock of a frozen filesystem",
)


PUT_SUPER_FIRST = "put-super-before-evict"
flag_variant(
    PUT_SUPER_FIRST,
    "generic_shutdown_super() calls ->put_super before evict_inodes(): the inodes are evicted "
    "after the filesystem freed its private info",
)
FS_INFO_LIVE = "fs-info-live"
"""The property a call into the filesystem after its ``->put_super`` breaks."""
FS_INFO_FREED = "s_fs_info freed"
PUT_SUPER = "put_super"
"""The world part an unmount makes: the scenario has a ``->put_super``."""


def _put_super(scratch: Scratch, freed: int) -> int:
    """``->put_super`` as ``ext4_put_super()``: the journal destroyed, and
    ``sb->s_fs_info = NULL; kfree(sbi)`` at its end."""
    scratch[freed] = True
    return 0


_NO_FS_INFO = frozenset({"super_operations.put_super", "super_operations.free_inode"})
"""The super_operations that may run once ->put_super has freed the
filesystem's private info."""


def _fs_info_guard(world: World) -> None:
    """From ``->put_super`` on, a call of another ``super_operations``
    method is a use of the freed ``sb->s_fs_info`` (``EXT4_SB(sb)``: every
    ext4 super_operation reads it but ``->free_inode``,
    ``ext4_free_in_core_inode()``, which frees the inode's memory alone and
    runs from an RCU callback that may come after ``->put_super``):
    ``fs-info-live``, checked at the call (a ``World.call_guards`` entry,
    once per world)."""
    if PUT_SUPER in world.parts:
        return
    world.parts[PUT_SUPER] = True
    freed = flag_slot(world, FS_INFO_FREED, False)
    read = Expr(FS_INFO_FREED, lambda _w: lambda state: state[freed], reads=frozenset({freed}))

    def touches_fs_info(step: Any) -> bool:
        method = str(step.method)
        return method.startswith("super_operations.") and method not in _NO_FS_INFO

    def make(step: Any, context: Any) -> Any:
        if not touches_fs_info(step):
            return None
        method, label = step.method.split(".", 1)[1], step.label

        def guard(state: Any) -> Any:
            if not state[freed]:
                return None
            return context.error(
                state,
                FS_INFO_LIVE,
                f"{context.thread.name} calls ->{method} at '{label}' after ->put_super freed "
                "the filesystem's private info (ext4_put_super(): kfree(sbi); "
                "generic_shutdown_super() calls it after evict_inodes())",
            )

        return guard

    world.call_guards.append(make)
    world.call_guard_reads.append(lambda step, _world: [read] if touches_fs_info(step) else [])


def _remount_fs(scratch: Scratch, metadata: int) -> int:
    """``->remount_fs`` as ``ext4_remount()``: the new mount options are
    written to the on-disk superblock (``ext4_commit_super()``), a metadata
    change of the filesystem."""
    scratch[metadata] = True
    return 0


def _zero(_fs: Scratch, *_args: object) -> int:
    return 0


def _sb() -> Expr:
    return const("sb", "sb")


# --- mount ---------------------------------------------------------------------------------


@operation(
    models="do_new_mount() -> vfs_get_tree() -> ->mount / ->get_tree -> sget_fc() "
    "(fs/namespace.c, fs/super.c)",
    describe=lambda f: "mount()",
    cites=(
        Cite("fs/namespace.c", "do_new_mount", "6.6"),
        Cite("fs/super.c", "vfs_get_tree", "6.6"),
        Cite("fs/super.c", "sget_fc", "6.6", leaves_out=("spin_lock", "spin_unlock")),
    ),
)
def mount(op: Op, file: File) -> None:
    """mount(2) of the filesystem, which starts unborn: ``->mount`` (for
    ``get_tree``) runs ``sget_fc()``: ``alloc_super()`` returns the new
    superblock with s_umount held for write (``down_write_nested()``), it
    is published on the superblock lists, ``fill_super()`` reads the root
    inode and sets SB_ACTIVE; ``vfs_get_tree()`` marks it SB_BORN
    (``super_wake()``, which wakes ``super_lock()`` waiters) and
    ``do_new_mount_fc()`` drops s_umount."""
    op.mapping(file)
    born = flag_slot(op.world, "SB_BORN")
    op.world.initial[born] = False
    s_umount = op.world.superblock.s_umount
    op.enter(
        "file_system_type.mount",
        label="vfs_get_tree(fc): error = fc->ops->get_tree(fc) /* ->mount */",
        roles={},
    )
    op.lock(
        s_umount,
        EXCL,
        "sget_fc(): s = alloc_super(): down_write_nested(&s->s_umount, SINGLE_DEPTH_NESTING)",
    )
    op.effect(
        "fill_super(s): the root inode read; s->s_flags |= SB_ACTIVE /* sb stays locked */",
        lambda _fs: None,
    )
    op.effect(
        "vfs_get_tree(): super_wake(sb, SB_BORN)",
        assign,
        born,
        True,
    )
    op.unlock(s_umount, "do_new_mount_fc(): up_write(&sb->s_umount)")


def wait_mounted(op: Op) -> None:
    """User space: the calls below need a mounted filesystem (a path on
    it), so they start once mount(2) returned."""
    op.wait_until(
        flag(flag_slot(op.world, "SB_BORN"), "the mount returned"),
        "/* user space: a path on the filesystem, once mount(2) returned */",
        "mount(2) to return",
    )


# --- reconfigure, statfs, /proc/mounts ----------------------------------------------------


@operation(
    models="mount(2) MS_REMOUNT -> do_remount() -> reconfigure_super() "
    "(fs/namespace.c, fs/super.c)",
    describe=lambda f: "mount -o remount",
    cites=(
        Cite("fs/namespace.c", "do_remount", "6.6"),
        Cite("fs/super.c", "reconfigure_super", "6.6"),
    ),
)
def remount(op: Op, file: File) -> None:
    """``do_remount()``: ``down_write(&sb->s_umount)``,
    ``reconfigure_super()``, which refuses a frozen superblock (-EBUSY:
    ``sb->s_writers.frozen != SB_UNFROZEN``, read under s_umount) and calls
    ``->remount_fs``, the method locking.rst names (``legacy_reconfigure()``,
    for a filesystem without ``->init_fs_context``; ext4 since 5.17 has
    ``fc->ops->reconfigure``, ``ext4_reconfigure()`` -> ``__ext4_remount()``,
    called at the same place under the same s_umount: either writes the
    superblock, a metadata change), ``up_write()``.  Variant
    ``remount-ignores-frozen`` leaves out the refusal.  Left out:
    ``reconfigure_super()``'s ``shrink_dcache_sb()`` under s_umount before
    the call (dentries dropped, and inodes put, with s_umount held for
    write), the read-only transitions (``sb_prepare_remount_readonly()``)."""
    op.mapping(file)
    wait_mounted(op)
    s_umount = op.world.superblock.s_umount
    mode = SHARED if op.variant(REMOUNT_S_UMOUNT_SHARED) else EXCL
    op.lock(s_umount, mode, "do_remount(): down_write(&sb->s_umount)")
    if not op.variant(REMOUNT_IGNORES_FROZEN):
        op.fail_if(
            not_(frozen_is(op.world, SB_UNFROZEN)),
            E.EBUSY,
            "unlock",
            "reconfigure_super(): if (sb->s_writers.frozen != SB_UNFROZEN) return -EBUSY",
        )
    op.call(
        "super_operations.remount_fs",
        _remount_fs,
        metadata_slot(op.world),
        label="reconfigure_super(fc): legacy_reconfigure(): sb->s_op->remount_fs(sb, &flags, data)",
        roles={},
    )
    op.label("unlock")
    op.unlock(s_umount, "up_write(&sb->s_umount)")


@operation(
    models="statfs(2) -> user_statfs() -> vfs_statfs() -> statfs_by_dentry() (fs/statfs.c)",
    describe=lambda f: f"statfs({f})",
    cites=(
        Cite("fs/statfs.c", "user_statfs", "6.6"),
        Cite("fs/statfs.c", "vfs_statfs", "6.6"),
        Cite("fs/statfs.c", "statfs_by_dentry", "6.6"),
    ),
)
def statfs(op: Op, file: File) -> None:
    """statfs(2): the path pins the superblock, ``->statfs`` is called
    without s_umount."""
    op.mapping(file)
    wait_mounted(op)
    op.call(
        "super_operations.statfs",
        _zero,
        label="statfs_by_dentry(): dentry->d_sb->s_op->statfs(dentry->d_sb->s_root, buf)",
        roles={},
    )


@operation(
    models="read(/proc/mounts) -> m_start() -> show_vfsmnt() (fs/proc_namespace.c)",
    describe=lambda f: "cat /proc/mounts",
    cites=(
        Cite("fs/namespace.c", "m_start", "6.6"),
        Cite("fs/proc_namespace.c", "show_vfsmnt", "6.6"),
    ),
)
def show_mounts(op: Op, file: File) -> None:
    """Reading /proc/mounts: ``m_start()`` takes namespace_sem shared;
    ``show_vfsmnt()`` -> ``show_sb_opts()`` and ``->show_options``, without
    s_umount; ``m_stop()`` drops namespace_sem."""
    op.mapping(file)
    wait_mounted(op)
    namespace_sem = op.world.shared_lock("namespace_sem", LockKind.RWSEM)
    op.lock(namespace_sem, SHARED, "m_start(): down_read(&namespace_sem)")
    op.call(
        "super_operations.show_options",
        _zero,
        label="show_vfsmnt(): err = sb->s_op->show_options(m, mnt->mnt_root)",
        roles={},
    )
    op.unlock(namespace_sem, "m_stop(): up_read(&namespace_sem)")


# --- unmount ---------------------------------------------------------------------------------


def _evictable(scratch: Scratch, inode: InodeObject) -> bool:
    flags = scratch[inode.i_state]
    if flags is None or scratch[inode.i_count] or flags & (I_NEW | I_FREEING | I_WILL_FREE):
        return False
    set_bits(scratch, inode, on=I_FREEING)
    return True


def sync_filesystem_with_inode(op: Op, mapping: Mapping) -> None:
    """``sync_filesystem()`` (fs/sync.c, 6.6) with the inode, after
    ``WARN_ON(!rwsem_is_locked(&sb->s_umount))`` (``assert_s_umount_held``):
    ``writeback_inodes_sb()`` (:func:`writeback_inodes_sb_with_inode`, the
    WB_SYNC_NONE pass), ``->sync_fs(sb, 0)``, ``sync_inodes_sb()`` (the
    WB_SYNC_ALL writeback of the inode and its pages, waiting first for a
    flusher that holds I_SYNC: ``inode_sleep_on_writeback()``; the work the
    flusher runs, held as ``mc.models.super.wb_worker``), ``->sync_fs(sb,
    1)``.  ``sync_blockdev_nowait()`` and ``sync_blockdev()`` are left out,
    as in ``mc.models.super.sync_filesystem``."""
    assert_s_umount_held(op)
    op.run(writeback_inodes_sb_with_inode, mapping)
    call_sync_fs(op, 0)
    sync_inodes_with_inode(op, mapping)
    call_sync_fs(op, 1)


def writeback_inodes_sb_with_inode(op: Op, mapping: Mapping) -> None:
    """``writeback_inodes_sb(sb, WB_REASON_SYNC)`` with the inode
    (fs/fs-writeback.c, 6.6: ``__writeback_inodes_sb_nr()``), s_umount
    held: the WB_SYNC_NONE work with ``tagged_writepages`` queued to the
    flusher and waited for, run here holding
    ``mc.models.super.wb_worker``, as ``sync_inodes_with_inode``'s; in it
    ``wb_writeback()`` -> ``writeback_sb_inodes()`` (``work->sb`` set: the
    caller's s_umount pins the superblock, no ``super_trylock_shared()``)
    writes the inode back as the flusher does
    (``mc.models.inode.writeback_single_inode``: ``wb->list_lock``, then
    its i_lock; an inode under I_SYNC is skipped, ``requeue_io()``, not
    waited for; else I_SYNC, its pages WB_SYNC_NONE and ``->write_inode``
    if it is dirty).  Its lock edges and its wait are those of the second
    pass's.  Left out: ``wb_writeback()``'s sleep on an inode it requeued
    (``inode_sleep_on_writeback()`` of the ``b_more_io`` inode when nothing
    was written, then another round): the only I_SYNC the work can meet
    here is an fsync(2)'s (the flusher holds the work it runs under
    I_SYNC), and the caller of ``sync_filesystem()`` with the inode, an
    unmount, is -EBUSY while a process runs."""
    op.assert_held(op.world.superblock.s_umount, WARN_NONE_WORK)
    pagecache(op.world).cover_superblock(f"{op.thread.name}'s writeback_inodes_sb()", only=mapping)
    part = inode_life(op.world, mapping.path, dirty=True)
    worker = wb_worker(op)
    op.lock(worker, EXCL, QUEUE_NONE_WORK)
    writeback_single_inode(op, part, mapping, sync_all=False, tagged=True)
    op.unlock(worker, NONE_WORK_DONE)


def sync_inodes_with_inode(op: Op, mapping: Mapping) -> None:
    """``sync_inodes_sb()`` with the inode, s_umount held: the WB_SYNC_ALL
    writeback of the inode and its pages, waiting first for a flusher that
    holds I_SYNC (``inode_sleep_on_writeback()``); the work the flusher
    runs, held as ``mc.models.super.wb_worker``.  The work is
    ``for_sync``, so ``__writeback_single_inode()`` does not wait for the
    pages' I/O before ``->write_inode``: ``wait_sb_inodes()`` waits for it
    afterwards, under ``s_sync_lock``."""
    pagecache(op.world).cover_superblock(f"{op.thread.name}'s sync_inodes_sb()", only=mapping)
    part = inode_life(op.world, mapping.path, dirty=True)
    worker = wb_worker(op)
    op.lock(worker, EXCL, QUEUE_SYNC_WORK)
    op.wait_until(
        Expr(
            "!(inode->i_state & I_SYNC)",
            lambda _w: lambda state: not (state[part.inode.i_state] or 0) & I_SYNC,
        ),
        "writeback_sb_inodes(): if (inode->i_state & I_SYNC) inode_sleep_on_writeback(inode)",
        f"I_SYNC({part.inode})",
    )
    writeback_single_inode(op, part, mapping, sync_all=True)
    op.unlock(worker, SYNC_WORK_DONE)
    s_sync_lock = op.world.shared_lock("s_sync_lock", LockKind.MUTEX)
    op.lock(s_sync_lock, EXCL, "wait_sb_inodes(): mutex_lock(&sb->s_sync_lock)")
    fdatawait(op, mapping)
    op.unlock(s_sync_lock, "mutex_unlock(&sb->s_sync_lock)")


def put_super(op: Op) -> None:
    """``if (sop->put_super) sop->put_super(sb)``: the filesystem frees its
    private info, which no method may use from then on (``fs-info-live``)."""
    op.call(
        "super_operations.put_super",
        _put_super,
        flag_slot(op.world, FS_INFO_FREED, False),
        label="if (sop->put_super) sop->put_super(sb)",
        roles={},
    )


def generic_shutdown_super(op: Op, file: File, mapping: Mapping) -> None:
    """``generic_shutdown_super()``, s_umount held for write:
    ``shrink_dcache_for_umount()`` (the root's iput: the inode stays
    cached, SB_ACTIVE), ``sync_filesystem()``, SB_ACTIVE cleared,
    ``evict_inodes()`` (each unreferenced inode I_FREEING under its i_lock,
    its ``i_count`` tested there as 6.6.54 and later do, CVE-2024-47679,
    then ``evict()``), ``->put_super``, SB_DYING (``super_wake()``) and
    ``super_unlock_excl()``."""
    part = part_of(op, file)
    inode = part.inode
    iput(op, part, mapping, drops=False)
    if not op.variant(UMOUNT_SKIPS_SYNC):
        op.run(sync_filesystem_with_inode, mapping)
    op.effect("sb->s_flags &= ~SB_ACTIVE", lambda _fs: None)
    evicting = op.register("evicting", str)
    inode_list_lock = s_inode_list_lock(op)
    op.lock(inode_list_lock, EXCL, "evict_inodes(): spin_lock(&sb->s_inode_list_lock)")
    op.section(
        inode.i_lock,
        "list_for_each_entry_safe(inode, next, &sb->s_inodes, i_sb_list): "
        "spin_lock(&inode->i_lock); if (i_count || i_state & (I_NEW | "
        "I_FREEING | I_WILL_FREE)) continue; inode->i_state |= I_FREEING; "
        "spin_unlock(&inode->i_lock)",
        _evictable,
        inode,
        result=evicting,
    )
    op.unlock(inode_list_lock, "spin_unlock(&sb->s_inode_list_lock)")
    _fs_info_guard(op.world)
    put_super_first = op.variant(PUT_SUPER_FIRST)
    if put_super_first:
        put_super(op)
    with op.when(
        Expr("evicting", lambda _w: lambda state: bool(state[evicting]), local=True),
        "dispose_list(&dispose): evict(inode)",
    ):
        evict(op, part, mapping)
    if not put_super_first:
        put_super(op)
    op.effect("super_wake(sb, SB_DYING)", assign, flag_slot(op.world, "SB_DYING", False), True)
    op.unlock(op.world.superblock.s_umount, "super_unlock_excl(sb)")


@operation(
    models="umount2(MNT_FORCE) -> do_umount() -> deactivate_super() -> deactivate_locked_super() "
    "-> ->kill_sb (fs/namespace.c, fs/super.c)",
    describe=lambda f: "umount -f",
    cites=(
        Cite("fs/namespace.c", "do_umount", "6.6"),
        Cite("fs/super.c", "deactivate_super", "6.6"),
        Cite("fs/super.c", "deactivate_locked_super", "6.6"),
        Cite("fs/super.c", "generic_shutdown_super", "6.6"),
    ),
)
def umount(op: Op, file: File) -> None:
    """umount2(2) with MNT_FORCE of the last mount: ``->umount_begin``
    without s_umount (``do_umount()``), the mount torn down, then
    ``deactivate_super()`` (fs/super.c, 6.6): ``atomic_add_unless(&s->
    s_active, -1, 1)`` drops a reference that is not the last (a freeze
    holds one: the filesystem stays frozen and active, and the unmount
    returns 0); else s_umount for write and ``deactivate_locked_super()``:
    ``->kill_sb`` (``kill_block_super()`` -> ``generic_shutdown_super()``,
    which unlocks) once ``atomic_dec_and_test()`` drops the last one (a
    freeze may have taken one meanwhile: then s_umount is released).  ``do_umount()`` returns
    -EBUSY, after ``->umount_begin``, while ``propagate_mount_busy()``
    finds the mount in use: here while another thread that is a process
    (not ``op.holds_no_file()``) has not returned, as each holds the file
    open from its start (one that has not begun counts: the model cannot
    make its open fail afterwards); umount2(2) itself resolves the mount
    point and opens no file of the filesystem (``op.holds_no_file()``).
    A scenario that maps a file is
    refused (its VMA pins the mount even after the process's thread
    returns), as is a second unmount.  Left out: namespace_sem and
    ``lock_mount_hash()`` around the check, ``umount_tree()``."""
    op.one_thread(
        "unmounts",
        "the filesystem",
        "a filesystem is unmounted once (a second umount2() finds no mount)",
    )
    op.world.parts[UNMOUNTER] = op.thread.name
    op.holds_no_file()
    refuse_mapping_beside_umount(op.world)
    mapping = op.mapping(file)
    part_of(op, file)
    op.call(
        "super_operations.umount_begin",
        _zero,
        label="do_umount(): if (flags & MNT_FORCE && sb->s_op->umount_begin) "
        "sb->s_op->umount_begin(sb)",
        roles={},
    )
    op.fail_if(
        _mount_busy(op.thread.tid),
        E.EBUSY,
        "unmounted",
        "if (propagate_mount_busy(mnt, 2)) retval = -EBUSY /* a file is open */",
    )
    active = s_active_slot(op.world)
    kept = op.compute(
        "kept",
        "deactivate_super(): atomic_add_unless(&s->s_active, -1, 1)",
        _add_unless_one,
        active,
        render=yes_no,
    )
    op.goto_if(kept, "unmounted", "if (kept) return /* a freeze holds the superblock active */")
    s_umount = op.world.superblock.s_umount
    op.lock(s_umount, EXCL, "__super_lock_excl(s); deactivate_locked_super(s)")
    last = op.compute(
        "last", "atomic_dec_and_test(&s->s_active)", _dec_and_test, active, render=yes_no
    )
    with op.when(not_(last), "if (!atomic_dec_and_test(&s->s_active)) /* a freeze came first */"):
        op.unlock(s_umount, "super_unlock_excl(s)")
        op.goto("unmounted")
    op.enter(
        "file_system_type.kill_sb",
        _sb(),
        label="fs->kill_sb(s)",
        roles={},
    )
    generic_shutdown_super(op, file, mapping)
    killed = inode_life(op.world, file.path, dirty=True).killed
    op.effect("/* ->kill_sb returned */", assign, killed, True)
    op.label("unmounted")


@touches(one_slot)
def _add_unless_one(scratch: Scratch, slot: int) -> bool:
    """``atomic_add_unless(&s->s_active, -1, 1)``: drop a reference that
    is not the last, and say so."""
    if scratch[slot] == 1:
        return False
    scratch[slot] -= 1
    return True


@touches(one_slot)
def _dec_and_test(scratch: Scratch, slot: int) -> bool:
    scratch[slot] -= 1
    return bool(scratch[slot] == 0)


def _mount_busy(unmounter: int) -> Expr:
    """Another thread that is a process (not ``Op.holds_no_file``) has not
    returned, or one kept a file open (``Op.keeps_file_open``): a file of
    the filesystem is open."""

    def build(world: World) -> Any:
        kernel = world.parts.get(HOLDING_NO_FILE, set())
        if world.parts.get(KEEPING_FILE_OPEN):
            return lambda _state: True
        users = [
            pc for tid, pc in enumerate(world.pc_slots) if tid != unmounter and tid not in kernel
        ]
        return lambda state: any(state[pc] != DONE for pc in users)

    return Expr("a file of the filesystem is open", build)


@operation(
    models="ksys_sync() -> iterate_supers(sync_inodes_one_sb / sync_fs_one_sb), the inode written "
    "back under I_SYNC with ->write_inode (fs/sync.c, fs/fs-writeback.c)",
    describe=lambda f: "sync() with the inode",
    cites=(
        *sync.cites,
        Cite("fs/fs-writeback.c", "sync_inodes_sb", "6.6"),
        Cite("fs/fs-writeback.c", "__writeback_single_inode", "6.6"),
    ),
)
def sync_inode(op: Op, file: File) -> None:
    """sync(2) in a scenario that models the inode's life (``iput_last``,
    ``iget``, eviction): ``sync``'s three passes, the first of which
    writes the inode back as the flusher does (``sync_inodes_with_inode``):
    under I_SYNC, its pages and then ``->write_inode``.  ``sync`` and
    ``syncfs`` write the pages alone, and are refused beside the inode's
    life."""
    ksys_sync(op, file, sync_inodes_with_inode)


@operation(
    models="vfs_fsync_range() -> generic_file_fsync() -> sync_inode_metadata(), the inode "
    "written back under I_SYNC with ->write_inode (fs/libfs.c, fs/fs-writeback.c)",
    describe=lambda f: f"fsync({f}) with the inode",
    cites=(
        *fsync.cites,
        Cite("fs/fs-writeback.c", "sync_inode_metadata", "6.6"),
        Cite("fs/fs-writeback.c", "writeback_single_inode", "6.6"),
        Cite("fs/fs-writeback.c", "__inode_wait_for_writeback", "6.6"),
        Cite("fs/fs-writeback.c", "__writeback_single_inode", "6.6"),
    ),
)
def fsync_inode(op: Op, file: File) -> None:
    """fsync(2) in a scenario that models the inode's life: ``fsync``'s
    pages, then under i_rwsem ``__generic_file_fsync()``'s test of
    I_DIRTY_ALL and ``sync_inode_metadata(inode, 1)``
    (``mc.models.inode.generic_fsync_metadata``): an inode still dirty waits
    for a flusher's I_SYNC, for the pages under writeback, and is written
    with ``->write_inode``, all with i_rwsem held.
    Left out, as in ``fsync``: ``sync_mapping_buffers()`` (the models'
    inodes have no associated buffers) and the errseq's advance."""
    inode_fsync(op, file, datasync=False)


@operation(
    models="fdatasync(2): vfs_fsync_range(datasync = 1) -> generic_file_fsync() -> "
    "sync_inode_metadata() unless only I_DIRTY_SYNC is set (fs/sync.c, fs/libfs.c)",
    describe=lambda f: f"fdatasync({f}) with the inode",
    cites=fsync_inode.cites,
)
def fdatasync_inode(op: Op, file: File) -> None:
    """fdatasync(2) (``do_fsync(fd, 1)``) in a scenario that models the
    inode's life: ``fsync_inode`` with ``datasync``, whose
    ``__generic_file_fsync()`` skips ``sync_inode_metadata()`` when the
    inode is dirty only for a timestamp (``if (datasync &&
    !(inode->i_state & I_DIRTY_DATASYNC)) goto out``): the inode of the
    models starts dirty so (I_DIRTY_SYNC), ``extend_inode`` marks it
    I_DIRTY_DATASYNC."""
    inode_fsync(op, file, datasync=True)


def inode_fsync(op: Op, file: File, *, datasync: bool) -> None:
    """fsync(2) or, with ``datasync``, fdatasync(2) of the file with the
    inode's metadata (``fsync_inode``, ``fdatasync_inode``).  The step of
    an fdatasync(2) that calls ``->fsync`` records what the call promises
    (``fdatasync-writes-inode``; an fsync(2)'s records nothing, which
    keeps the scenarios that run one as they were)."""
    part = part_of(op, file)
    mapping = op.mapping(file)
    file_fsync(
        op,
        file,
        lambda op: generic_fsync_metadata(op, part, mapping, datasync=datasync),
        datasync=datasync,
        on_entry=_promise(op, part) if datasync else None,
    )


# --- what fdatasync(2) promises of the inode ---------------------------------------------

FDATASYNC_WRITES_INODE = "fdatasync-writes-inode"
INODE_FDATASYNCS = "inode fdatasyncs"
"""The world part of the scenario's ``fdatasync_inode`` threads (a list
of ``InodeFdatasync``)."""


@attrs.frozen
class InodeFdatasync:
    """An fdatasync(2) of the scenario with the inode: its thread, program
    counter, return value, the register of what it promised, and the
    inode."""

    thread: str
    pc: int
    ret: int
    promised: int
    inode: InodeObject


def _render_promise(version: int | None) -> str:
    if version is None:
        return "no inode change (not I_DIRTY_DATASYNC)"
    return f"i_version {version} on disk"


def _promise(op: Op, part: InodeLife) -> Callable[[Scratch], None]:
    """What an fdatasync(2) promises as it calls ``->fsync``: the inode's
    metadata as it is then (its version, ``i_version``) if the inode is
    dirty with a change fdatasync(2) must write (I_DIRTY_DATASYNC, which
    ``mark_inode_dirty()`` sets with an i_size update), else nothing (a
    timestamp alone, I_DIRTY_SYNC, is not its to write).  Recorded in a
    register of the thread, the thread in the world's list."""
    inode = part.inode
    promised = op.register("inode promised", _render_promise)
    found: list[InodeFdatasync] = op.world.parts.setdefault(INODE_FDATASYNCS, [])
    found.append(InodeFdatasync(op.thread.name, op.thread.pc, op.thread.ret, promised, inode))

    def entry(scratch: Scratch) -> None:
        scratch[promised] = (
            scratch[inode.change] if (scratch[inode.i_state] or 0) & I_DIRTY_DATASYNC else None
        )

    return entry


def fdatasync_writes_inode_violation(found: list[InodeFdatasync], state: State) -> str | None:
    """Once an fdatasync(2) with the inode returned 0, the inode's metadata
    it promised as it was called is on disk (``->write_inode`` wrote that
    version or a newer one), or the inode is under I_SYNC: a writeback
    that took its dirty bits after that change is writing it
    (``__generic_file_fsync()`` finds the inode clean then and leaves it
    to that writeback, whose ``->write_inode`` comes later; I_SYNC
    excludes every other writeback of the inode, so once it is cleared
    the version is on disk)."""
    if state[ERROR_SLOT] is not None:
        return None
    for call in found:
        if state[call.pc] != DONE:
            continue
        ret = state[call.ret]
        if isinstance(ret, int) and ret < 0:
            continue
        promised = state[call.promised]
        if promised is None or state[call.inode.on_disk] >= promised:
            continue
        if (state[call.inode.i_state] or 0) & I_SYNC:
            continue
        return (
            f"{call.thread}'s fdatasync(2) returned 0, but {call.inode}'s metadata it had to "
            f"write (i_version {promised}, I_DIRTY_DATASYNC as it was called: an i_size "
            f"update) is not on disk (the disk holds i_version {state[call.inode.on_disk]}) "
            "and no writeback is writing it: a crash now loses the file's new size"
        )
    return None


@invariant(
    FDATASYNC_WRITES_INODE,
    "once an fdatasync(2) of a file whose inode's life is modelled (fdatasync_inode) returns 0, "
    "the inode's change it had to write (one marked I_DIRTY_DATASYNC when it was called: "
    "mark_inode_dirty(), an i_size update; a timestamp alone, I_DIRTY_SYNC, is not its to write) "
    "is on disk, or a writeback that took the inode's dirty bits still holds I_SYNC",
    reads=lambda model: [
        "i_state",
        "on-disk inode",
        *(f"returned({call.thread})" for call in model.world.parts.get(INODE_FDATASYNCS, [])),
    ],
    needs=(INODE_FDATASYNCS, "an fdatasync_inode thread"),
)
def fdatasync_writes_inode(model: KernelModel) -> Check[State]:
    found: list[InodeFdatasync] = model.world.parts.get(INODE_FDATASYNCS, [])
    return lambda state: fdatasync_writes_inode_violation(found, state)


@operation(
    models="write(2); utimensat(2); umount2(MNT_FORCE)",
    describe=lambda f: "write(/f, page 0); touch(/f); close; umount -f",
    cites=(*write.cites, Cite("fs/fs-writeback.c", "__mark_inode_dirty", "6.6"), *umount.cites),
)
def write_touch_umount(op: Op, file: File) -> None:
    """A program: write page 0 of the file, change its metadata
    (``mark_inode_dirty()``), close it and unmount the filesystem."""
    op.run(write, file, 0)
    part = part_of(op, file)
    op.run(mark_inode_dirty, part, True)
    op.run(umount, file)


@operation(
    models="syncfs(2); statfs(2); read(/proc/mounts)",
    describe=lambda f: f"syncfs({f}); statfs({f}); cat /proc/mounts",
    cites=(*syncfs.cites, *statfs.cites, *show_mounts.cites),
)
def syncfs_statfs_mounts(op: Op, file: File) -> None:
    """A program on the mounted filesystem: syncfs(2), statfs(2), then a
    read of /proc/mounts."""
    op.run(syncfs, file)
    op.run(statfs, file)
    op.run(show_mounts, file)
