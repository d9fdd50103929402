"""The directory operations, open(2) with O_CREAT or O_TMPFILE, and chmod(2)
with their write access to the mount: ``mnt_want_write()``
(``sb_start_write()``, the SB_FREEZE_WRITE level, then the mount's writer
count) before the parent's i_rwsem and ``mnt_drop_write()`` after it is
dropped, so a frozen filesystem blocks them.

Written from Linux 6.12 fs/namei.c (``filename_create()`` and
``done_path_create()``, which ``do_mknodat()``, ``do_mkdirat()`` and
``do_symlinkat()`` call, ``do_unlinkat()``, ``do_rmdir()``,
``do_renameat2()``, ``do_linkat()``, ``open_last_lookups()``: O_CREAT's
``mnt_want_write()`` before ``inode_lock(dir->d_inode)``; and 6.17-rc3's
``do_tmpfile()``), fs/open.c (``chmod_common()``) and
fs/namespace.c (``mnt_want_write()``: ``sb_start_write(m->mnt_sb)``, then
``mnt_get_write_access()``; ``mnt_drop_write()``: the reverse).  In each of
them the write access brackets everything ``mc.models.dirops`` and
``mc.models.attr`` model (the lookup under the parent's lock, the victim's
and the children's locks, the filesystem's method), so these operations run
those bodies inside it.

The filesystem is one that journals its directory changes and attribute
changes: after a successful method the changed inodes are dirty
(``mark_inode_dirty()``), metadata that ``->sync_fs(sb, 1)`` and
``->freeze_fs`` commit (``mc.kernel.superblock.metadata_slot``).  The
model dirties it after the body returns, still inside the write access (the
order against the inode locks does not matter to a freeze).

What is left out: the mount's own writer count and read-only state
(``mnt_get_write_access()``'s -EROFS and ``MNT_WRITE_HOLD``: the scenarios'
mount is read-write), the path walk before ``mnt_want_write()``, and the
retry after -ESTALE or a broken delegation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from mc.dsl import SHARED, Cite, Op, Operation, Scratch, const, operation, same
from mc.kernel.superblock import SB_FREEZE_WRITE, metadata_slot, sb_writers
from mc.models import attr, dirops, inode_methods

WANT_WRITE_TAG = "sb-start-write"
"""The tag of the steps that take and drop the SB_FREEZE_WRITE level."""


def _dirty(scratch: Scratch, slot: int) -> None:
    scratch[slot] = True


def with_write_access(
    op: Op, acquire: str, release: str, body: Operation | Callable[..., None], *args: object
) -> None:
    """``mnt_want_write()``, ``body``, and on success the changed inodes
    marked dirty, then ``mnt_drop_write()``."""
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(writers, SHARED, acquire, tag=WANT_WRITE_TAG)
    op.run(body, *args)
    with op.when(same(op.ret, const(0, "0")), "if (!error)"):
        op.effect(
            "mark_inode_dirty(): the changed inodes join the journal",
            _dirty,
            metadata_slot(op.world),
        )
    op.unlock(writers, release, tag=WANT_WRITE_TAG)


def _wrapped(
    inner: Operation,
    entry: Cite,
    syscall: str,
    acquire: str,
    release: str,
    fast_path: tuple[Callable[..., None], Callable[..., None], str] | None = None,
) -> Operation:
    """``inner`` inside ``with_write_access``; ``fast_path``: what runs
    before ``mnt_want_write()`` (it may jump to the label given, placed
    after ``mnt_drop_write()``) and the body then run in its stead."""

    def build(op: Op, *args: object) -> None:
        if fast_path is None:
            with_write_access(op, acquire, release, inner, *args)
            return
        before, body, skipped_to = fast_path
        before(op, *args)
        with_write_access(op, acquire, release, body, *args)
        op.label(skipped_to)

    build.__name__ = f"{inner.name}_want_write"
    build.__signature__ = inspect.signature(inner.build)  # type: ignore[attr-defined]
    build.__doc__ = (
        f"{syscall}: ``{acquire}``, the body of ``{inner.name}``, ``{release}``; "
        "a frozen filesystem makes it wait at the SB_FREEZE_WRITE level."
    )
    if fast_path is not None:
        build.__doc__ += (
            f"  ``{fast_path[0].__name__}`` runs first, and may skip both (its "
            f"body past that is ``{fast_path[1].__name__}``)."
        )
    cites = (
        entry,
        Cite("fs/namespace.c", "mnt_want_write", "6.12"),
        Cite("fs/namespace.c", "mnt_drop_write", "6.12"),
        *inner.cites,
    )
    return operation(f"{syscall} with mnt_want_write()", inner.describe, cites)(build)


def _namei(function: str) -> Cite:
    return Cite("fs/namei.c", function, "6.12")


create_want_write = _wrapped(
    dirops.create,
    _namei("filename_create"),
    "do_mknodat() -> filename_create()",
    "filename_create(): err2 = mnt_want_write(path->mnt): sb_start_write(m->mnt_sb)",
    "done_path_create(): mnt_drop_write(path->mnt): sb_end_write(mnt->mnt_sb)",
)
mkdir_want_write = _wrapped(
    dirops.mkdir,
    _namei("filename_create"),
    "do_mkdirat() -> filename_create()",
    "filename_create(): err2 = mnt_want_write(path->mnt): sb_start_write(m->mnt_sb)",
    "done_path_create(): mnt_drop_write(path->mnt): sb_end_write(mnt->mnt_sb)",
)
mknod_want_write = _wrapped(
    dirops.mknod,
    _namei("filename_create"),
    "do_mknodat() -> filename_create()",
    "filename_create(): err2 = mnt_want_write(path->mnt): sb_start_write(m->mnt_sb)",
    "done_path_create(): mnt_drop_write(path->mnt): sb_end_write(mnt->mnt_sb)",
)
symlink_want_write = _wrapped(
    dirops.symlink,
    _namei("filename_create"),
    "do_symlinkat() -> filename_create()",
    "filename_create(): err2 = mnt_want_write(path->mnt): sb_start_write(m->mnt_sb)",
    "done_path_create(): mnt_drop_write(path->mnt): sb_end_write(mnt->mnt_sb)",
)
unlink_want_write = _wrapped(
    dirops.unlink,
    _namei("do_unlinkat"),
    "do_unlinkat()",
    "do_unlinkat(): error = mnt_want_write(path.mnt): sb_start_write(m->mnt_sb)",
    "iput(inode); mnt_drop_write(path.mnt): sb_end_write(mnt->mnt_sb)",
)
rmdir_want_write = _wrapped(
    dirops.rmdir,
    _namei("do_rmdir"),
    "do_rmdir()",
    "do_rmdir(): error = mnt_want_write(path.mnt): sb_start_write(m->mnt_sb)",
    "exit3: mnt_drop_write(path.mnt): sb_end_write(mnt->mnt_sb)",
)
rename_want_write = _wrapped(
    dirops.rename,
    _namei("do_renameat2"),
    "do_renameat2()",
    "do_renameat2(): error = mnt_want_write(old_path.mnt): sb_start_write(m->mnt_sb)",
    "exit_lock_rename: ... mnt_drop_write(old_path.mnt): sb_end_write(mnt->mnt_sb)",
)
link_want_write = _wrapped(
    dirops.link,
    _namei("filename_create"),
    "do_linkat() -> filename_create()",
    "filename_create(): err2 = mnt_want_write(path->mnt): sb_start_write(m->mnt_sb)",
    "done_path_create(): mnt_drop_write(path->mnt): sb_end_write(mnt->mnt_sb)",
)
chmod_want_write = _wrapped(
    attr.chmod,
    Cite("fs/open.c", "chmod_common", "6.12"),
    "chmod_common()",
    "chmod_common(): error = mnt_want_write(path->mnt): sb_start_write(m->mnt_sb)",
    "mnt_drop_write(path->mnt): sb_end_write(mnt->mnt_sb)",
)
open_creat_want_write = _wrapped(
    inode_methods.open_creat,
    _namei("open_last_lookups"),
    "open_last_lookups()",
    "open_last_lookups(): got_write = !mnt_want_write(nd->path.mnt): sb_start_write(m->mnt_sb)",
    "if (got_write) mnt_drop_write(nd->path.mnt): sb_end_write(mnt->mnt_sb)",
    fast_path=(
        inode_methods.lookup_fast_for_open,
        inode_methods.lookup_open_locked,
        inode_methods.FINISH_LOOKUP,
    ),
)
tmpfile_want_write = _wrapped(
    inode_methods.tmpfile,
    Cite("fs/namei.c", "do_tmpfile", "6.17-rc3 (Kingxukai/linux 0291023e)"),
    "do_tmpfile()",
    "do_tmpfile(): error = mnt_want_write(path.mnt): sb_start_write(m->mnt_sb)",
    "mnt_drop_write(path.mnt): sb_end_write(mnt->mnt_sb)",
)
