"""Scenarios of the superblock's life (``super/<name>``) and the protocol
variants they catch."""

from __future__ import annotations

from mc.dsl import Invocation, Operation, Program, step_invariant, variant
from mc.dsl.scenario import BASE_PROPERTIES, Variant, scenario
from mc.kernel.inode_life import INODE_PROPERTIES
from mc.kernel.pagecache import File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.kernel.superblock import SUPER_PROPERTIES
from mc.models import mnt_write
from mc.models.file import (
    COPY_COHERENT,
    FALLOC_FL_KEEP_SIZE,
    OpenFile,
    copy_file_range,
    fallocate,
    remap,
)
from mc.models.inode import extend_inode, iget, inode_flusher, iput_last
from mc.models.mount import (
    FDATASYNC_WRITES_INODE,
    FS_INFO_LIVE,
    PUT_SUPER,
    fdatasync_inode,
    fsync_inode,
    mount,
    remount,
    syncfs_statfs_mounts,
    write_touch_umount,
)
from mc.models.super import (
    dm_suspend_resume,
    emergency_thaw,
    freeze,
    fs_transaction,
    kernel_freeze,
    sync,
    syncfs,
    thaw,
)
from mc.models.truncate import mmap_store
from mc.models.writeback import flusher, io_completion, write

FREEZE_PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, *SUPER_PROPERTIES)
WRITE_IGNORES_FREEZE = "write-ignores-freeze"
MKWRITE_IGNORES_FREEZE = "mkwrite-ignores-freeze"
TRANSACTION_IGNORES_FREEZE = "transaction-ignores-freeze"
EVICT_IGNORES_FREEZE = "evict-ignores-freeze"


def _without_level(program: Program, tag: str) -> Program:
    """Without the steps tagged ``tag``: a writer's acquisition and release
    of its freeze level (the freezer's steps stay)."""
    return program.drop(lambda step: tag in step.tags)


def ignores_freeze(name: str, description: str, operation: Operation, tag: str) -> Variant:
    """Declare variant ``name``: ``operation`` runs without its steps tagged
    ``tag``, the acquisition and release of its freeze level."""

    @variant(name, description)
    def without_level(program: Program, invocation: Invocation) -> Program:
        if invocation.operation is not operation:
            return program
        return _without_level(program, tag)

    return without_level


ignores_freeze(
    WRITE_IGNORES_FREEZE,
    "write(2) does not take the SB_FREEZE_WRITE level (no file_start_write()): it does not "
    "check the frozen state",
    write,
    "sb-start-write",
)


@variant(
    MKWRITE_IGNORES_FREEZE,
    "->page_mkwrite does not take the SB_FREEZE_PAGEFAULT level (no sb_start_pagefault())",
)
def mkwrite_ignores_freeze(program: Program, _invocation: Invocation) -> Program:
    return _without_level(program, "sb-start-pagefault")


ignores_freeze(
    TRANSACTION_IGNORES_FREEZE,
    "an internal transaction does not take the SB_FREEZE_FS level (no sb_start_intwrite())",
    fs_transaction,
    "sb-intwrite",
)


ignores_freeze(
    EVICT_IGNORES_FREEZE,
    "ext4_evict_inode() deletes an unlinked inode in a journal handle without taking the "
    "SB_FREEZE_FS level (no sb_start_intwrite())",
    iput_last,
    "sb-intwrite",
)


ONE_PAGE = File("/f", pages=1, cached=(0,))

scenario(
    "super/freeze-vs-writer",
    "FIFREEZE racing a write(2) of a cached page, FITHAW once the freeze returned",
    tree=["/f"],
    threads=[write(ONE_PAGE, 0), freeze(ONE_PAGE), thaw(ONE_PAGE), io_completion(ONE_PAGE)],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/emergency-thaw",
    "FIFREEZE racing a write(2) of a cached page, FITHAW once the freeze returned, and "
    "SysRq-j's emergency thaw at any time (before the freeze it finds nothing frozen; after "
    "it, it or FITHAW thaws, and the other finds nothing frozen, -EINVAL)",
    tree=["/f"],
    threads=[
        write(ONE_PAGE, 0),
        freeze(ONE_PAGE),
        thaw(ONE_PAGE),
        emergency_thaw(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/emergency-thaw-frozen-bdev",
    "a device-mapper suspend that freezes the filesystem through its block device "
    "(freeze_bdev()) and the resume that thaws it, racing a write(2) of a cached page and "
    "SysRq-j's emergency thaw, which drops the device's freezes before it thaws the "
    "superblock",
    tree=["/f"],
    threads=[
        write(ONE_PAGE, 0),
        dm_suspend_resume(ONE_PAGE),
        emergency_thaw(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/two-thaws",
    "FIFREEZE, then two FITHAWs racing: thaw_super() checks and thaws under s_umount held "
    "exclusive, so one thaws and the other finds the filesystem thawed (-EINVAL)",
    tree=["/f"],
    threads=[freeze(ONE_PAGE), thaw(ONE_PAGE), thaw(ONE_PAGE)],
    properties=(*BASE_PROPERTIES, "no-write-while-frozen"),
)

scenario(
    "super/freeze-vs-fault",
    "FIFREEZE racing a store through a shared mapping that write-faults (->page_mkwrite), "
    "FITHAW once the freeze returned",
    tree=["/f"],
    threads=[mmap_store(ONE_PAGE, 0), freeze(ONE_PAGE), thaw(ONE_PAGE), io_completion(ONE_PAGE)],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/freeze-vs-sync",
    "sync(2) and an internal filesystem transaction racing FIFREEZE, FITHAW once the freeze "
    "returned",
    tree=["/f"],
    threads=[
        sync(ONE_PAGE),
        fs_transaction(ONE_PAGE),
        freeze(ONE_PAGE),
        thaw(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)

INODE_FILE = File("/f", pages=1, cached=(0,))
OTHER_FILE = File("/g", pages=1)
DIRTY_FILE = File("/f", pages=1, cached=(0,))

scenario(
    "super/evict-vs-lookup",
    "the last iput() of an unlinked file evicting its inode while an iget() of its inode "
    "number finds it and the flusher writes the dirty inode back",
    tree=["/f"],
    threads=[iput_last(INODE_FILE), iget(INODE_FILE), inode_flusher(INODE_FILE, False)],
    properties=(*BASE_PROPERTIES, *INODE_PROPERTIES),
)

scenario(
    "super/evict-vs-freeze",
    "the last iput() of an unlinked file deleting its inode racing FIFREEZE of another file "
    "of the filesystem, FITHAW once the freeze returned",
    tree=["/f", "/g"],
    threads=[iput_last(INODE_FILE), freeze(OTHER_FILE), thaw(OTHER_FILE)],
    properties=(*BASE_PROPERTIES, *SUPER_PROPERTIES, *INODE_PROPERTIES),
)

step_invariant(
    FS_INFO_LIVE,
    "no super_operations method is called once ->put_super has freed the filesystem's "
    "private info (sb->s_fs_info: ext4_put_super() frees sbi): generic_shutdown_super() "
    "evicts the inodes first, and the flusher's writeback of an inode holds s_umount out",
    needs=(PUT_SUPER, "an unmount (->put_super)"),
)

scenario(
    "super/umount-vs-writeback",
    "a program writing a page and the inode's metadata, then unmounting with MNT_FORCE, while "
    "the flusher writes the inode and its page back",
    tree=["/f"],
    threads=[
        write_touch_umount(INODE_FILE),
        inode_flusher(INODE_FILE, True),
        io_completion(INODE_FILE),
    ],
    properties=(*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, *INODE_PROPERTIES, FS_INFO_LIVE),
)

scenario(
    "super/fsync-vs-flusher",
    "write(2) of a cached page of a file whose inode is dirty, an fsync(2) of it and the "
    "flusher writing the inode and page back: the fsync may wait, with i_rwsem held, for the "
    "flusher's I_SYNC and the page's writeback",
    tree=["/f"],
    threads=[
        write(DIRTY_FILE, 0),
        fsync_inode(DIRTY_FILE),
        inode_flusher(DIRTY_FILE, True),
        io_completion(DIRTY_FILE),
    ],
    properties=(*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, *INODE_PROPERTIES),
)

DIRTY_PAGE_FILE = File("/f", pages=1, cached=(0,), dirty=(0,))

scenario(
    "super/syncfs-vs-flusher",
    "write(2) of a cached page, the flusher writing it back and syncfs(2): sync_filesystem()'s "
    "WB_SYNC_NONE pass (writeback_inodes_sb()) skips the folio the flusher has under writeback "
    "or writes it without waiting, then sync_inodes_sb() writes and waits, all under s_umount "
    "held for read",
    tree=["/f"],
    threads=[
        write(DIRTY_FILE, 0),
        syncfs(DIRTY_FILE),
        flusher(DIRTY_FILE),
        io_completion(DIRTY_FILE),
    ],
    properties=(*BASE_PROPERTIES, *PAGECACHE_PROPERTIES),
)

scenario(
    "super/fdatasync-vs-extend",
    "fdatasync(2) of a file whose inode is dirty for a timestamp (I_DIRTY_SYNC) racing a write "
    "that grows it (mark_inode_dirty(): I_DIRTY_DATASYNC) and the flusher writing the inode "
    "back: fdatasync(2) writes the inode only when the size change came first",
    tree=["/f"],
    threads=[
        extend_inode(DIRTY_PAGE_FILE),
        fdatasync_inode(DIRTY_PAGE_FILE),
        inode_flusher(DIRTY_PAGE_FILE, False),
        io_completion(DIRTY_PAGE_FILE),
    ],
    properties=(*BASE_PROPERTIES, *INODE_PROPERTIES, FDATASYNC_WRITES_INODE),
)

COLD = File("/f", pages=1)

scenario(
    "super/mount-remount-sync",
    "mount(2) racing sync(2), then a remount racing a program running syncfs(2), statfs(2) "
    "and a read of /proc/mounts",
    tree=["/f"],
    threads=[mount(COLD), sync(COLD), remount(COLD), syncfs_statfs_mounts(COLD)],
)


# --- directory operations and chmod(2) under a freeze ------------------------------------

DIROP_IGNORES_FREEZE = "dirop-ignores-freeze"
WANTS_WRITE = (
    mnt_write.create_want_write,
    mnt_write.mkdir_want_write,
    mnt_write.mknod_want_write,
    mnt_write.symlink_want_write,
    mnt_write.unlink_want_write,
    mnt_write.rmdir_want_write,
    mnt_write.rename_want_write,
    mnt_write.link_want_write,
    mnt_write.chmod_want_write,
    mnt_write.open_creat_want_write,
    mnt_write.tmpfile_want_write,
)


@variant(
    DIROP_IGNORES_FREEZE,
    "the directory operations, open(2) with O_CREAT or O_TMPFILE and chmod(2) do not call "
    "mnt_want_write() (no sb_start_write()): they change the filesystem's metadata whatever "
    "its frozen state",
)
def dirop_ignores_freeze(program: Program, invocation: Invocation) -> Program:
    if invocation.operation not in WANTS_WRITE:
        return program
    return _without_level(program, mnt_write.WANT_WRITE_TAG)


scenario(
    "super/freeze-vs-rename",
    "FIFREEZE racing a rename(2) between two directories and a chmod(2), FITHAW once the "
    "freeze returned",
    tree=["/f", "/a/", "/a/x", "/b/"],
    threads=[
        mnt_write.rename_want_write("/a/x", "/b/y"),
        mnt_write.chmod_want_write("/f", 0o600),
        freeze(ONE_PAGE),
        thaw(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)

WANT_WRITE_UNDER_PARENT_LOCK = "want-write-under-parent-lock"
FILENAME_CREATE_CALLERS = (
    mnt_write.create_want_write,
    mnt_write.mkdir_want_write,
    mnt_write.mknod_want_write,
    mnt_write.symlink_want_write,
    mnt_write.link_want_write,
)


@variant(
    WANT_WRITE_UNDER_PARENT_LOCK,
    "filename_create() locks the parent (inode_lock_nested(I_MUTEX_PARENT)) before "
    "mnt_want_write(): the order before Linux 3.6, when mnt_want_write() did not wait for a "
    "freeze; 3.6's freeze protection moved it outside i_mutex (nfsd's part: 4a55c1017b8d, "
    "'nfsd: Push mnt_want_write() outside of i_mutex')",
)
def want_write_under_parent_lock(program: Program, invocation: Invocation) -> Program:
    if invocation.operation not in FILENAME_CREATE_CALLERS:
        return program
    acquire = program.tagged(mnt_write.WANT_WRITE_TAG)[0]
    parent_lock = program.tagged("lock-parent")[0]
    return program.move_after(acquire, parent_lock)


scenario(
    "super/freeze-vs-mkdir",
    "a mkdir(2) of /a/d and an open(2) with O_CREAT of /a/c in the same directory racing "
    "FIFREEZE, FITHAW once the freeze returned",
    tree=["/f", "/a/"],
    threads=[
        mnt_write.mkdir_want_write("/a/d"),
        mnt_write.open_creat_want_write("/a/c"),
        freeze(ONE_PAGE),
        thaw(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)


# --- two freeze holders, a failing ->freeze_fs --------------------------------------------

scenario(
    "super/two-freezers",
    "a write(2) racing FIFREEZE and a kernel freeze (FREEZE_HOLDER_KERNEL, XFS scrub) that thaws "
    "its own hold, FITHAW once FIFREEZE returned: the filesystem stays frozen until both holders "
    "have thawed",
    tree=["/f"],
    threads=[
        write(ONE_PAGE, 0),
        freeze(ONE_PAGE),
        thaw(ONE_PAGE),
        kernel_freeze(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/freeze-fs-fails",
    "FIFREEZE whose ->freeze_fs fails (the levels released innermost first) racing a write(2) "
    "and an internal transaction, then FITHAW (-EINVAL)",
    tree=["/f"],
    threads=[
        write(ONE_PAGE, 0),
        fs_transaction(ONE_PAGE),
        freeze(ONE_PAGE, True),
        thaw(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/freeze-vs-remount",
    "a remount racing FIFREEZE and FITHAW: reconfigure_super() refuses a superblock being frozen "
    "or frozen (-EBUSY) under s_umount",
    tree=["/f"],
    threads=[remount(ONE_PAGE), freeze(ONE_PAGE), thaw(ONE_PAGE)],
    properties=FREEZE_PROPERTIES,
)


# --- fallocate(2), copy_file_range(2) and FICLONE under a freeze --------------------------

FALLOCATE_IGNORES_FREEZE = "fallocate-ignores-freeze"
COPY_IGNORES_FREEZE = "copy-ignores-freeze"
CLONE_IGNORES_FREEZE = "clone-ignores-freeze"


ignores_freeze(
    FALLOCATE_IGNORES_FREEZE,
    "vfs_fallocate() calls ->fallocate without file_start_write(): ext4_fallocate()'s "
    "file_modified() changes the inode whatever the frozen state",
    fallocate,
    "sb-start-write",
)
ignores_freeze(
    COPY_IGNORES_FREEZE,
    "vfs_copy_file_range() calls ->copy_file_range without file_start_write(file_out): the "
    "copy and its file_modified() change the target whatever the frozen state",
    copy_file_range,
    "sb-start-write",
)
ignores_freeze(
    CLONE_IGNORES_FREEZE,
    "vfs_clone_file_range() calls ->remap_file_range without file_start_write(file_out): "
    "generic_remap_file_range_prep()'s file_modified() and the remap change the target "
    "whatever the frozen state",
    remap,
    "sb-start-write",
)


ONE_PAGE_FILP = OpenFile("/f", cache=ONE_PAGE, name="filp")

scenario(
    "super/freeze-vs-fallocate",
    "FIFREEZE racing fallocate(2) FALLOC_FL_KEEP_SIZE of an allocated page (vfs_fallocate() -> "
    "ext4_fallocate(): file_modified() under file_start_write()), FITHAW once the freeze "
    "returned",
    tree=["/f"],
    threads=[
        fallocate(ONE_PAGE_FILP, FALLOC_FL_KEEP_SIZE, 0),
        freeze(ONE_PAGE),
        thaw(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/freeze-vs-copy",
    "FIFREEZE racing copy_file_range(2) of /a into /b (->copy_file_range, the server-side "
    "copy after file_modified(dst_file), under file_start_write(file_out)), FITHAW once the "
    "freeze returned",
    tree=["/a", "/b", "/f"],
    threads=[
        copy_file_range(OpenFile("/a", name="fa"), OpenFile("/b", name="fb")),
        freeze(ONE_PAGE),
        thaw(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)

CLONE_SOURCE = File("/a", pages=1, dirty=(0,), cached=(0,))
CLONE_TARGET = File("/b", pages=1)

scenario(
    "super/freeze-vs-clone",
    "FIFREEZE racing FICLONE of /a (a dirty cached page) onto /b (XFS's ->remap_file_range: "
    "the prep writes back and calls file_modified(file_out), then the blocks are remapped, "
    "under file_start_write(file_out)), FITHAW once the freeze returned",
    tree=["/a", "/b"],
    threads=[
        remap(
            OpenFile("/a", cache=CLONE_SOURCE, name="fa"),
            OpenFile("/b", cache=CLONE_TARGET, name="fb"),
        ),
        freeze(CLONE_SOURCE),
        thaw(CLONE_SOURCE),
        io_completion(CLONE_SOURCE),
    ],
    properties=(*FREEZE_PROPERTIES, COPY_COHERENT),
)
