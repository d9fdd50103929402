"""The remaining inode methods, from fs/namei.c, fs/stat.c, fs/inode.c,
fs/ioctl.c, fs/readdir.c and fs/libfs.c of Linux 6.12: following a
symbolic link (``pick_link()``: ``->get_link`` in rcu-walk with a NULL
dentry, -ECHILD, again in ref-walk),
readlink(2) (``->readlink``, with ``touch_atime()`` -> ``->update_time``),
open(2) with O_CREAT on a filesystem with ``->atomic_open``
(``lookup_open()``), O_TMPFILE (``vfs_tmpfile()`` -> ``->tmpfile``), the
FIEMAP ioctl (``->fiemap``), FS_IOC_GETFLAGS/FS_IOC_SETFLAGS
(``vfs_fileattr_get()``/``vfs_fileattr_set()``: ``->fileattr_get``,
``->fileattr_set``) and getdents64(2) of a directory whose readdir offsets
libfs keeps (``offset_readdir()`` -> ``->get_offset_ctx``).

``touch_atime()``, ``inode_update_time()``, ``ioctl_fiemap()``, the
fileattr functions (fs/file_attr.c since 6.17), ``iterate_dir()`` and
libfs's offset functions were read in 6.17-rc3 (Kingxukai/linux at
9b44fff6/0291023e): ``touch_atime()`` takes freeze protection by
``sb_start_write_trylock()`` around ->update_time; ``ioctl_setflags()``
holds ``mnt_want_write_file()``'s freeze protection around
``vfs_fileattr_set()``; ``offset_dir_llseek()`` no longer asks
->get_offset_ctx (readdir does): the models follow that code.

``pick_link()``, ``open_last_lookups()``, ``vfs_tmpfile()`` and
``do_tmpfile()`` were read again in a 6.17-rc3 tree (Kingxukai/linux,
fs/namei.c at 0291023e): ``->get_link(NULL, inode)`` in rcu-walk, then on
-ECHILD ``try_to_unlazy()`` and ``->get_link(dentry, inode)``; the
directory's i_rwsem exclusive for O_CREAT, shared otherwise, around
``lookup_open()``; ``->tmpfile`` with no directory lock: as modelled.
``pick_link()`` also calls ``touch_atime()`` on the link (leaving rcu-walk
first) when its atime needs an update, which ``follow`` leaves out.

The filesystem is FUSE-like where the walk is concerned (its ``->get_link``
asks the server, so in rcu-walk it returns -ECHILD) and creates names as the
ramfs/libfs stand-ins of ``mc.models.libfs`` do.

Left out: the symlink body and where it leads (the walk ends at the link),
the atime policy (``readlink``'s touch always updates; ``follow`` takes
the link's atime to need no update, as relatime leaves it), mnt_get_write_access() in
touch_atime(), O_EXCL and the open of the file
after ->atomic_open, linking the O_TMPFILE inode, the flags' values and
fileattr_set_prepare()'s checks, the offset map itself.
"""

from __future__ import annotations

import attrs

from mc.dsl import (
    EXCL,
    SHARED,
    Cite,
    E,
    ModelError,
    Op,
    Scratch,
    World,
    const,
    dead_dir,
    not_,
    operation,
    positive,
    same,
)
from mc.kernel.expr import InodeExpr
from mc.kernel.locks import Kind, Lock
from mc.kernel.superblock import SB_FREEZE_WRITE, sb_writers
from mc.kernel.world import Dentry
from mc.models import libfs
from mc.models.dentry import d_alloc_parallel, d_lookup_done
from mc.models.dirops import split
from mc.models.namei import ECHILD

INODE_READ = "6.17-rc3 (Kingxukai/linux 9b44fff6)"
IOCTL_READ = "6.17-rc3 (Kingxukai/linux 0291023e)"
GET_LINK_BLOCKS_IN_RCU = "get-link-blocks-in-rcu"
ATOMIC_OPEN_SHARED = "atomic-open-shared"
O_CREAT = 0o100


def _zero(scratch: Scratch, *_args: object) -> int:
    return 0


def fuse_get_link_rcu(scratch: Scratch, inode: int) -> int:
    """fuse_get_link(NULL, inode, ...): ``if (!dentry) goto out_err``
    with -ECHILD: reading the link asks the server."""
    return ECHILD


def fuse_get_link(scratch: Scratch, inode: int) -> int:
    """fuse_get_link(dentry, ...) -> fuse_readlink_page(): FUSE_READLINK."""
    return 0


def _get_link(op: Op, link: InodeExpr, rcu: bool) -> None:
    blocks = not rcu or op.variant(GET_LINK_BLOCKS_IN_RCU)
    op.call(
        "inode_operations.get_link",
        fuse_get_link if blocks else fuse_get_link_rcu,
        link,
        label="res = get(NULL, inode, &last->done) /* LOOKUP_RCU */"
        if rcu
        else "res = get(link->dentry, inode, &last->done)",
        roles={"inode": link},
        sleeps=blocks,
    )


@operation(
    models="path_lookupat() -> walk_component() -> step_into() -> pick_link() (fs/namei.c)",
    describe=lambda path: f"follow({path})",
    cites=(
        Cite("fs/namei.c", "path_lookupat", "6.12"),
        Cite("fs/namei.c", "step_into", "6.12"),
        Cite("fs/namei.c", "pick_link", "6.12"),
        Cite("fs/namei.c", "try_to_unlazy", "6.12"),
    ),
)
def follow(op: Op, path: str) -> None:
    """A walk that meets the symbolic link ``path``: under rcu_read_lock
    pick_link() reads ``inode->i_link`` (none: the filesystem keeps it) and
    calls ``get(NULL, inode, ...)``; on -ECHILD, try_to_unlazy() leaves
    rcu-walk and ``get(link->dentry, inode, ...)`` asks again.  A name
    already unlinked is not followed: the walk finds a negative dentry
    (``lookup_slow()`` in the kernel, then -ENOENT); one unlinked after the
    rcu lookup fails ``try_to_unlazy()`` (the dentry's ``d_seq`` moved),
    and the walk, restarted in ref-walk, finds no name either.  Left out:
    the restart's own steps (its lookup under the parent's i_rwsem).  A
    directory is no symbolic link: a model error."""
    if op.world.lookup_path(path).is_dir:
        raise ModelError(f"follow({path}): {path} is a directory, not a symbolic link")
    parent, name = split(path)
    link = op.inode(path)
    dentry = op.dentry(op.inode(parent), name)
    rcu = op.world.rcu_read_lock
    op.lock(rcu, SHARED, "path_init(): rcu_read_lock() /* LOOKUP_RCU */", tag="rcu")
    seen = op.lookup(dentry, "dentry", "dentry = __d_lookup_rcu(parent, &nd->last)")
    with op.when(not_(positive(seen)), "if (!dentry || d_is_negative(dentry)) /* unlinked */"):
        op.unlock(rcu, "try_to_unlazy(nd): leave_rcu(nd)", tag="rcu")
        op.fail(E.ENOENT, "out", "lookup_slow(): -ENOENT")
    _get_link(op, link, rcu=True)
    with op.when(
        same(op.ret, const(ECHILD)),
        "if (res == ERR_PTR(-ECHILD) && try_to_unlazy(nd))",
    ):
        op.unlock(rcu, "try_to_unlazy(nd): leave_rcu(nd)", tag="rcu")
        still = op.lookup(dentry, "dentry", "try_to_unlazy(): read_seqcount_retry(&dentry->d_seq)")
        op.fail_if(
            not_(positive(still)), E.ENOENT, "out", "d_seq moved: the walk restarts, -ENOENT"
        )
        _get_link(op, link, rcu=False)
    with op.otherwise():
        op.unlock(rcu, "complete_walk(nd): leave_rcu(nd)", tag="rcu")
    op.label("out")


def atime_slot(op: Op, inode: InodeExpr) -> int:
    """The slot of ``inode->i_atime`` (a count of updates)."""
    return op.world.shared_slot(f"i_atime({inode})", 0)


def generic_update_time(scratch: Scratch, inode: int, atime: int) -> int:
    """The filesystem's ``->update_time`` (generic_update_time()):
    inode_update_timestamps(), __mark_inode_dirty()."""
    scratch[atime] = scratch[atime] + 1
    return 0


TOUCH_ATIME_CITES = (
    Cite(
        "fs/inode.c",
        "touch_atime",
        INODE_READ,
        leaves_out=("mnt_get_write_access", "mnt_put_write_access"),
        because="the mount's write count: the model's mount is writable",
    ),
    Cite("fs/inode.c", "inode_update_time", INODE_READ),
)
"""The kernel code :func:`touch_atime` follows, for the cites of an
operation that runs it."""


def touch_atime(op: Op, inode: InodeExpr) -> None:
    """touch_atime() (read in 6.17-rc3, fs/inode.c at 9b44fff6):
    atime_needs_update(), ``sb_start_write_trylock()`` (a frozen
    filesystem's atime is not updated: the trylock fails and the update is
    skipped), ``mnt_get_write_access()`` (left out: the mount is
    writable), inode_update_time(inode, S_ATIME) ->
    ``inode->i_op->update_time(inode, flags)`` (touch_atime() takes no
    i_rwsem; ``iterate_dir()`` calls it under the directory's, shared),
    then ``sb_end_write()``."""
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.trylock(
        writers,
        "atime_skipped",
        "if (!sb_start_write_trylock(inode->i_sb)) return",
        mode=SHARED,
        tag="sb-start-write",
    )
    op.call(
        "inode_operations.update_time",
        generic_update_time,
        inode,
        atime_slot(op, inode),
        label="inode_update_time(): return inode->i_op->update_time(inode, flags)",
        roles={"inode": inode},
    )
    op.unlock(writers, "skip_update: sb_end_write(inode->i_sb)", tag="sb-start-write")
    op.label("atime_skipped")


@operation(
    models="readlinkat(2) -> do_readlinkat() -> vfs_readlink() (fs/stat.c, fs/namei.c)",
    describe=lambda path: f"readlink({path})",
    cites=(
        Cite("fs/stat.c", "do_readlinkat", INODE_READ),
        Cite(
            "fs/namei.c",
            "vfs_readlink",
            IOCTL_READ,
            leaves_out=(
                "spin_lock(&inode->i_lock)",
                "spin_unlock(&inode->i_lock)",
                "inode_operations.get_link",
            ),
            because="the branch for a symlink without ->readlink (IOP_DEFAULT_READLINK set "
            "under i_lock, then ->get_link); the model's filesystem has ->readlink",
        ),
        *TOUCH_ATIME_CITES,
    ),
)
def readlink(op: Op, path: str) -> None:
    """do_readlinkat(): touch_atime(&path), then vfs_readlink(): the
    filesystem's ``->readlink`` (as proc's namespace links have), without
    i_rwsem."""
    link = op.inode(path)
    touch_atime(op, link)
    op.call(
        "inode_operations.readlink",
        _zero,
        link,
        label="return inode->i_op->readlink(dentry, buffer, buflen)",
        roles={"inode": link},
    )


@operation(
    models="open(2) with O_CREAT -> path_openat() -> open_last_lookups() -> lookup_open() -> "
    "atomic_open() (fs/namei.c)",
    describe=lambda path: f"open({path}, O_CREAT)",
    cites=(
        Cite("fs/namei.c", "open_last_lookups", "6.12"),
        Cite("fs/namei.c", "lookup_open", "6.12"),
        Cite("fs/namei.c", "atomic_open", "6.12"),
        Cite("fs/dcache.c", "d_alloc_parallel", "6.17-rc3"),
        Cite("fs/fuse/dir.c", "fuse_atomic_open", "6.12"),
    ),
)
def open_creat(op: Op, path: str) -> None:
    """open_last_lookups(): ``lookup_fast_for_open()`` first (a cached
    positive dentry is opened with no lock: ``lookup_fast_for_open``), else
    ``lookup_open_locked``."""
    lookup_fast_for_open(op, path)
    lookup_open_locked(op, path)
    op.label(FINISH_LOOKUP)


FINISH_LOOKUP = "finish_lookup"


def lookup_fast_for_open(op: Op, path: str) -> None:
    """open_last_lookups()'s ``dentry = lookup_fast_for_open(nd,
    open_flag); if (likely(dentry)) goto finish_lookup;`` (since 6.12, read
    in 6.17-rc3): for O_CREAT without O_EXCL, a dcache hit on a positive
    dentry opens the file with neither ``mnt_want_write()`` nor the
    directory's i_rwsem; the caller places ``FINISH_LOOKUP`` after them.
    Left out: the audit and ``d_revalidate()`` cases that make it give up."""
    parent, name = split(path)
    dentry = op.dentry(op.inode(parent), name)
    fast = op.lookup(
        dentry, "dentry", "open_last_lookups(): dentry = lookup_fast_for_open(nd, open_flag)"
    )
    op.goto_if(positive(fast), FINISH_LOOKUP, "if (likely(dentry)) goto finish_lookup")


def lookup_open_locked(op: Op, path: str) -> None:
    """open_last_lookups() past the fast lookup: ``inode_lock(dir->d_inode)``
    for O_CREAT (``inode_lock_shared()`` otherwise); lookup_open() gives -ENOENT in a
    removed directory (``IS_DEADDIR(dir_inode)``), opens a cached
    positive dentry through f_op->open, and on a miss takes the name's
    in-lookup dentry (``d_alloc_parallel()``, ``mc.models.dentry``), or
    waits for another opener's and goes on with the dentry it looked up.
    ``dir->i_op->atomic_open`` is FUSE's (``fuse_atomic_open()``): on an
    in-lookup dentry it first looks the name up (``fuse_lookup()`` ->
    ``d_splice_alias()``, which hashes the dentry and wakes its waiters),
    opens without creating when the name is positive
    (``d_really_is_positive(entry)``), else creates the file
    (``fuse_create_open()``: FUSE_CREATE, ``d_instantiate()``).  With the
    directory held exclusive no other opener of the name gets that far;
    under ``atomic-open-shared`` a waiter woken by ``fuse_lookup()``'s
    negative dentry calls ``->atomic_open`` on it while the first opener
    creates.  The ``mnt_want_write()`` that open_last_lookups() takes
    before the lock is ``mc.models.mnt_write.open_creat_want_write``'s.
    Left out: the ``->create`` branch of lookup_open() (a filesystem
    without ``->atomic_open``), ``d_revalidate()`` of a dentry found
    cached or waited for, a negative dentry cached before the open
    (``d_lookup()`` finds a positive one or none: the dentry slot does
    not tell a cached negative dentry from no dentry), and the open of
    the file that follows."""
    parent, name = split(path)
    directory = op.inode(parent)
    dentry = op.dentry(directory, name)
    shared = op.variant(ATOMIC_OPEN_SHARED)
    op.lock(
        directory.i_rwsem,
        SHARED if shared else EXCL,
        "inode_lock_shared(dir->d_inode)" if shared else "inode_lock(dir->d_inode) /* O_CREAT */",
    )
    op.fail_if(
        dead_dir(directory), E.ENOENT, "opened", "if (unlikely(IS_DEADDIR(dir_inode))) -ENOENT"
    )
    seen = op.lookup(dentry, "dentry", "dentry = d_lookup(dir, &nd->last)")
    op.goto_if(positive(seen), "opened", "if (dentry->d_inode) return dentry /* cached positive */")
    waited = d_alloc_parallel(op, path)
    _atomic_open(op, directory, dentry)
    found = op.lookup(
        dentry,
        "entry",
        "fuse_atomic_open(): if (d_in_lookup(entry)) res = fuse_lookup(dir, entry, 0)",
    )
    d_lookup_done(
        op, path, "fuse_lookup(): d_splice_alias(inode, entry): __d_add() /* the waiters woken */"
    )
    op.goto_if(positive(found), "opened", NO_OPEN)
    op.goto("create")
    op.label(waited)
    again = op.lookup(dentry, "dentry", "d_alloc_parallel() waited: if (dentry->d_inode)")
    op.goto_if(positive(again), "opened", "return dentry /* cached positive */")
    _atomic_open(op, directory, dentry)
    now = op.lookup(dentry, "entry", "fuse_atomic_open(): d_really_is_positive(entry)")
    op.goto_if(positive(now), "opened", NO_OPEN)
    op.label("create")
    new = op.new_inode(path, is_dir=False)
    op.effect(
        "fuse_create_open(dir, entry, file, flags, mode, FUSE_CREATE): d_instantiate(entry, inode)",
        libfs.mknod,
        directory,
        dentry,
        new,
    )
    op.label("opened")
    op.unlock(
        directory.i_rwsem,
        "inode_unlock_shared(dir->d_inode)" if shared else "inode_unlock(dir->d_inode)",
    )


NO_OPEN = "if (!(flags & O_CREAT) || d_really_is_positive(entry)) goto no_open"


def _atomic_open(op: Op, directory: InodeExpr, dentry: Dentry) -> None:
    """lookup_open() -> atomic_open(): the call of ``dir->i_op->atomic_open``
    with O_CREAT, into ``fuse_atomic_open()`` (what it does is the caller's
    next steps)."""
    op.call(
        "inode_operations.atomic_open",
        _zero,
        directory,
        dentry,
        label="error = dir->i_op->atomic_open(dir, dentry, file, open_to_namei_flags(open_flag), "
        "mode)",
        roles={"dir": directory, "open_flag": O_CREAT},
    )


TMPFILE_NAMES_ITS_DENTRY = "tmpfile-names-its-dentry"
TMPFILE_NAME = "#tmpfile"


def shmem_tmpfile(scratch: Scratch, directory: int, dentry: Dentry, inode: int) -> int:
    """shmem_tmpfile(): a new inode, d_tmpfile(): no name, no link."""
    return 0


def tmpfile_named(scratch: Scratch, directory: int, dentry: Dentry, inode: int) -> int:
    """A ->tmpfile that gives the new inode a name in the directory, as a
    create does (``inc_nlink()``, ``d_instantiate()`` of a hashed dentry),
    with no i_rwsem."""
    scratch[scratch.world.inodes[inode].nlink] = 1
    scratch[dentry.slot] = inode
    return 0


def tmpfile_inodes(world: World) -> set[int]:
    """The inodes ->tmpfile made in the scenario's threads."""
    made: set[int] = world.parts.setdefault("tmpfile", {}).setdefault("inodes", set())
    return made


@operation(
    models="open(2) with O_TMPFILE -> do_o_path()/do_tmpfile() -> vfs_tmpfile() (fs/namei.c)",
    describe=lambda path: f"open({path}, O_TMPFILE)",
    cites=(
        Cite("fs/namei.c", "do_tmpfile", "6.17-rc3 (Kingxukai/linux 0291023e)"),
        Cite(
            "fs/namei.c",
            "vfs_tmpfile",
            "6.17-rc3 (Kingxukai/linux 0291023e)",
            leaves_out=("spin_lock(&inode->i_lock)", "spin_unlock(&inode->i_lock)"),
            because="I_LINKABLE is set under the new inode's i_lock, which no other thread "
            "can reach before linkat()",
        ),
    ),
)
def tmpfile(op: Op, path: str) -> None:
    """vfs_tmpfile(): d_alloc() of a child with no name, then
    ``dir->i_op->tmpfile(idmap, dir, file, mode)`` without the directory's
    i_rwsem; the inode gets I_LINKABLE under its i_lock.  No directory
    lock is needed because ->tmpfile makes no name: ``d_tmpfile()`` leaves
    the child unhashed (the ``tmpfile-unnamed`` invariant); the model's
    dentry ``#tmpfile`` stands for the name a ->tmpfile must not give.
    do_tmpfile()'s ``mnt_want_write()`` around it is
    ``mc.models.mnt_write.tmpfile_want_write``'s."""
    directory = op.inode(path)
    new = op.new_inode(f"{path.rstrip('/')}/{TMPFILE_NAME}", is_dir=False)
    tmpfile_inodes(op.world).add(op.world.inodes[-1].ino)
    op.call(
        "inode_operations.tmpfile",
        tmpfile_named if op.variant(TMPFILE_NAMES_ITS_DENTRY) else shmem_tmpfile,
        directory,
        op.dentry(directory, TMPFILE_NAME),
        new,
        label="error = dir->i_op->tmpfile(idmap, dir, file, mode)",
        roles={"dir": directory},
    )


@operation(
    models="ioctl(FS_IOC_FIEMAP) -> ioctl_fiemap() (fs/ioctl.c)",
    describe=lambda path: f"fiemap({path})",
    cites=(Cite("fs/ioctl.c", "ioctl_fiemap", IOCTL_READ),),
)
def fiemap(op: Op, path: str) -> None:
    """ioctl_fiemap() (read in 6.17-rc3, fs/ioctl.c at 0291023e):
    ``inode->i_op->fiemap(inode, &fieinfo, start, len)`` without i_rwsem
    (the filesystem locks what it maps; FIEMAP_FLAG_SYNC's writeback in
    ``fiemap_prep()``, which the filesystem calls, is left out)."""
    inode = op.inode(path)
    op.call(
        "inode_operations.fiemap",
        _zero,
        inode,
        label="error = inode->i_op->fiemap(inode, &fieinfo, fiemap.fm_start, fiemap.fm_length)",
        roles={"inode": inode},
    )


def flags_slot(op: Op, inode: InodeExpr) -> int:
    """The slot of the inode's flags (FS_*_FL), a count of changes."""
    return op.world.shared_slot(f"i_flags({inode})", 0)


def fileattr_set(scratch: Scratch, inode: int, flags: int) -> int:
    """ext4_fileattr_set(): the new flags written."""
    scratch[flags] = scratch[flags] + 1
    return 0


def _fileattr_get(op: Op, inode: InodeExpr, label: str) -> None:
    op.call(
        "inode_operations.fileattr_get",
        _zero,
        inode,
        flags_slot(op, inode),
        label=label,
        roles={"inode": inode},
    )


@operation(
    models="ioctl(FS_IOC_GETFLAGS) -> ioctl_getflags() -> vfs_fileattr_get() (fs/file_attr.c)",
    describe=lambda path: f"getflags({path})",
    cites=(
        Cite("fs/file_attr.c", "ioctl_getflags", INODE_READ),
        Cite("fs/file_attr.c", "vfs_fileattr_get", INODE_READ),
    ),
)
def getflags(op: Op, path: str) -> None:
    """vfs_fileattr_get(): ``inode->i_op->fileattr_get(dentry, fa)``
    without i_rwsem."""
    _fileattr_get(op, op.inode(path), "return inode->i_op->fileattr_get(dentry, fa)")


@operation(
    models="ioctl(FS_IOC_SETFLAGS) -> ioctl_setflags() -> vfs_fileattr_set() (fs/file_attr.c)",
    describe=lambda path: f"setflags({path})",
    cites=(
        Cite("fs/file_attr.c", "ioctl_setflags", INODE_READ),
        Cite("fs/file_attr.c", "vfs_fileattr_set", INODE_READ),
        Cite("fs/file_attr.c", "vfs_fileattr_get", INODE_READ),
    ),
)
def setflags(op: Op, path: str) -> None:
    """ioctl_setflags() (read in 6.17-rc3, where it and the fileattr
    functions moved to fs/file_attr.c, 9b44fff6): ``mnt_want_write_file()``
    (its ``sb_start_write()``: SB_FREEZE_WRITE shared), then
    vfs_fileattr_set(): ``inode_lock(inode)``; vfs_fileattr_get() for the
    old flags (``->fileattr_get`` under i_rwsem exclusive),
    fileattr_set_prepare(), ``inode->i_op->fileattr_set(idmap, dentry,
    fa)``; ``inode_unlock(inode)``; ``mnt_drop_write_file()``."""
    inode = op.inode(path)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers,
        SHARED,
        "ioctl_setflags(): mnt_want_write_file(file): sb_start_write(sb)",
        tag="sb-start-write",
    )
    op.lock(inode.i_rwsem, EXCL, "vfs_fileattr_set(): inode_lock(inode)", tag="fileattr-lock")
    _fileattr_get(op, inode, "err = vfs_fileattr_get(dentry, &old_ma) /* ->fileattr_get */")
    op.call(
        "inode_operations.fileattr_set",
        fileattr_set,
        inode,
        flags_slot(op, inode),
        label="err = inode->i_op->fileattr_set(idmap, dentry, fa)",
        roles={"inode": inode},
    )
    op.unlock(inode.i_rwsem, "inode_unlock(inode)", tag="fileattr-lock")
    op.unlock(writers, "mnt_drop_write_file(file): sb_end_write(sb)", tag="sb-start-write")


@attrs.frozen
class OpenDir:
    """The struct file of an open directory: its ``f_pos_lock``."""

    name: str
    f_pos_lock: Lock

    def __str__(self) -> str:
        return self.name


def _open_dir(world: World, path: str) -> OpenDir:
    """The open directory at ``path``, ``file(path)``; its
    ``file->f_pos_lock`` is of class ``f_pos_lock``, the one lock
    ``OpenFile(path)`` of mc.models.file has (one struct file)."""
    name = f"file({path})"
    return OpenDir(name, world.shared_lock(f"f_pos_lock({name})", Kind.MUTEX))


@operation(
    models="getdents64(2) of a shmem directory -> iterate_dir() -> offset_readdir() -> "
    "offset_dir_lookup() -> ->get_offset_ctx (fs/readdir.c, fs/libfs.c)",
    describe=lambda path: f"getdents64({path})",
    cites=(
        Cite("fs/readdir.c", "iterate_dir", INODE_READ),
        Cite("fs/libfs.c", "offset_readdir", INODE_READ, method="file_operations.iterate_shared"),
        Cite(
            "fs/libfs.c",
            "offset_dir_lookup",
            INODE_READ,
            leaves_out=("spin_lock", "spin_lock_nested", "spin_unlock"),
            because="find_positive_dentry() walks the children under the parent's d_lock "
            "and each child's; the model emits no names",
        ),
    ),
)
def readdir_offsets(op: Op, path: str) -> None:
    """getdents64(2) of a directory whose readdir offsets libfs keeps
    (shmem's ``simple_offset_dir_operations``), read in 6.17-rc3
    (fs/readdir.c and fs/libfs.c at 9b44fff6): ``fdget_pos()`` takes the
    file's ``f_pos_lock`` (a directory has FMODE_ATOMIC_POS),
    ``iterate_dir()`` i_rwsem shared (``down_read_killable()``) around
    ``->iterate_shared`` = ``offset_readdir()``, whose
    ``offset_dir_lookup()`` asks ``inode->i_op->get_offset_ctx(inode)``
    (shmem_get_offset_ctx()); then, still under i_rwsem, ``file->f_pos =
    ctx->pos; fsnotify_access(file); file_accessed(file)``, whose
    ``touch_atime()`` calls ``->update_time``.  Until 6.12 lseek(2) asked it too
    (``offset_dir_llseek()``); 6.17's ``offset_dir_llseek()`` is
    ``vfs_setpos()`` alone.  Left out: the dots, the names emitted and the
    offset map (a maple tree with its own lock, searched under
    ``rcu_read_lock()`` past the first entry), IS_DEADDIR."""
    directory = op.inode(path)
    open_dir = _open_dir(op.world, path)
    f_pos_lock = open_dir.f_pos_lock
    op.lock(f_pos_lock, EXCL, "fdget_pos(fd): mutex_lock(&file->f_pos_lock)")
    op.lock(directory.i_rwsem, SHARED, "iterate_dir(): res = down_read_killable(&inode->i_rwsem)")
    op.enter(
        "file_operations.iterate_shared",
        label="res = file->f_op->iterate_shared(file, ctx) /* offset_readdir() */",
        roles={"file": open_dir, "inode": directory},
    )
    op.call(
        "inode_operations.get_offset_ctx",
        _zero,
        directory,
        label="offset_dir_lookup(): struct offset_ctx *octx = inode->i_op->get_offset_ctx(inode)",
        roles={"inode": directory},
    )
    touch_atime(op, directory)
    op.unlock(directory.i_rwsem, "inode_unlock_shared(inode)")
    op.unlock(f_pos_lock, "fdput_pos(f): mutex_unlock(&file->f_pos_lock)")
