"""Path walk in rcu-walk mode and its fall back to ref-walk, at the last
component of a name, with the filesystem's ->d_revalidate, and stat(2) on
top: filename_lookup(), path_lookupat(), lookup_fast(), try_to_unlazy_next()
and lookup_slow() (fs/namei.c), vfs_getattr() (fs/stat.c) of Linux 6.12.

The directories up to the last component are taken as walked already.  The
filesystem's dentries need revalidating as FUSE's do once their timeout has
passed: fuse_dentry_revalidate() (fs/fuse/dir.c) must then ask its server,
which may block, so under LOOKUP_RCU it returns -ECHILD and the VFS redoes
the revalidation in ref-walk; a negative dentry is always invalid.  The
server answers from the scenario's tree.  Names are created and removed by
the ramfs/libfs stand-ins of ``mc.models.libfs``."""

from __future__ import annotations

from collections.abc import Callable

from mc.dsl.operation import Cite, Op, operation
from mc.kernel import errno as E
from mc.kernel.expr import InodeExpr, const, differ, inode_in_slot, is_error, negative, same
from mc.kernel.locks import SHARED
from mc.kernel.world import Dentry, Scratch
from mc.models import libfs
from mc.models.dentry import d_alloc_parallel, d_lookup_done, dentry_object, in_lookup_method
from mc.models.dirops import split

LOOKUP_RCU = 0x0040
ECHILD = -E.ECHILD


def fuse_revalidate_rcu(scratch: Scratch, dentry: Dentry, inode: int | None) -> int:
    """fuse_dentry_revalidate() under LOOKUP_RCU once the entry timed out:
    ``if (!inode) goto invalid``; ``ret = -ECHILD; if (flags & LOOKUP_RCU)
    goto out``."""
    return 0 if inode is None else ECHILD


def fuse_revalidate(scratch: Scratch, dentry: Dentry, inode: int | None) -> int:
    """fuse_dentry_revalidate() in ref-walk: FUSE_LOOKUP to the server
    (fuse_simple_request(), which sleeps); a different node id or none
    means ``goto invalid`` (0), else the entry is valid (1)."""
    if inode is None:
        return 0
    return 1 if scratch[dentry.slot] == inode else 0


def fuse_getattr(scratch: Scratch, inode: int) -> int:
    """fuse_getattr(): refresh the attributes if stale, fill the kstat."""
    return 0


def _revalidate(op: Op, directory: InodeExpr, dentry: Dentry, seen: InodeExpr, rcu: bool) -> None:
    blocks = not rcu or op.variant("revalidate-blocks-in-rcu")
    mode = "LOOKUP_RCU" if rcu else "ref-walk"
    op.call(
        "dentry_operations.d_revalidate",
        fuse_revalidate if blocks else fuse_revalidate_rcu,
        dentry,
        seen,
        label=f"status = d_revalidate(dentry, nd->flags) /* {mode} */",
        roles={
            "dir": directory,
            "dentry": dentry_object(op.world, dentry.path),
            "flags": LOOKUP_RCU if rcu else 0,
        },
        sleeps=blocks,
    )


def lookup_slow(
    op: Op,
    directory: InodeExpr,
    dentry: Dentry,
    in_lookup_name: str | None = None,
    allocate: Callable[[Op], None] | None = None,
) -> InodeExpr:
    """lookup_slow(): the parent's i_rwsem shared around ->lookup() of the
    name d_invalidate() dropped, on the name's in-lookup dentry (a lookup
    of the same name that finds it waits, ``d_alloc_parallel()``); the
    fresh dentry is what the walk goes on with.  ``in_lookup_name`` is the
    in-lookup hash's key for the name (its path unless the parent's
    ->d_compare takes other spellings as the same name); ``allocate``, the
    steps of ``__d_alloc()`` that ``d_alloc_parallel()`` runs first, under
    the parent's lock (a ``->d_init`` call).  Left out: ``__lookup_slow()``'s
    IS_DEADDIR check, and its ``d_revalidate()`` of the dentry a waiter
    goes on with (see ``d_alloc_parallel()``)."""
    name = in_lookup_name or dentry.path
    op.lock(directory.i_rwsem, SHARED, "inode_lock_shared(dir)")
    if allocate is not None:
        allocate(op)
    looked_up = d_alloc_parallel(op, name)
    op.call(
        "inode_operations.lookup",
        in_lookup_method(op, name, libfs.lookup),
        directory,
        dentry,
        label="old = inode->i_op->lookup(inode, dentry, flags)",
        roles={"dir": directory},
    )
    d_lookup_done(op, name, failed=is_error(op.ret))
    op.label(looked_up)
    found = op.lookup(dentry, "dentry", "dentry = d_alloc_parallel(); ->lookup() result")
    op.unlock(directory.i_rwsem, "inode_unlock_shared(dir)")
    return found


@operation(
    models="vfs_statx() -> filename_lookup() -> path_lookupat(), lookup_fast() (fs/namei.c); "
    "vfs_getattr() (fs/stat.c)",
    describe=lambda path: f"stat({path})",
    cites=(
        Cite("fs/stat.c", "vfs_statx", "6.12"),
        Cite("fs/namei.c", "filename_lookup", "6.12"),
        Cite("fs/namei.c", "path_lookupat", "6.12"),
        Cite("fs/namei.c", "lookup_fast", "6.12"),
        Cite("fs/namei.c", "lookup_slow", "6.12"),
        Cite("fs/namei.c", "__lookup_slow", "6.12"),
        Cite("fs/stat.c", "vfs_getattr", "6.12"),
        Cite("fs/stat.c", "vfs_getattr_nosec", "6.12"),
    ),
)
def stat(op: Op, path: str) -> None:
    """stat(2): path_lookupat() with LOOKUP_RCU under rcu_read_lock();
    lookup_fast() finds the dentry with __d_lookup_rcu() and revalidates it;
    try_to_unlazy_next() leaves rcu-walk (checking the dentry's d_seq) and
    an -ECHILD status is redone in ref-walk; a changed dentry restarts the
    walk without LOOKUP_RCU; an invalid one is d_invalidate()d and looked
    up again by lookup_slow().  Then ->getattr on the inode found."""
    parent, name = split(path)
    directory = op.inode(parent)
    dentry = op.dentry(directory, name)
    rcu_read_lock = op.world.rcu_read_lock
    now = inode_in_slot(dentry.slot, f"d_inode({dentry})")
    op.lock(rcu_read_lock, SHARED, "path_init(): rcu_read_lock() /* LOOKUP_RCU */", tag="rcu")
    seen = op.lookup(dentry, "dentry", "dentry = __d_lookup_rcu(parent, &nd->last, &nd->next_seq)")
    _revalidate(op, directory, dentry, seen, rcu=True)
    stable = op.let(
        "unlazy",
        same(now, seen),
        "try_to_unlazy_next(): !read_seqcount_retry(&dentry->d_seq, nd->next_seq)",
        render=lambda ok: "ok" if ok else "d_seq changed",
    )
    op.unlock(rcu_read_lock, "leave_rcu(nd): rcu_read_unlock()", tag="rcu")
    op.fail_if(
        differ(stable, const(True)),
        E.ECHILD,
        "ref_walk",
        "if (!try_to_unlazy_next(nd, dentry)) return ERR_PTR(-ECHILD)",
    )
    with op.when(same(op.ret, const(ECHILD)), "if (status == -ECHILD) /* redo in non-rcu mode */"):
        _revalidate(op, directory, dentry, seen, rcu=False)
    op.goto("status")
    op.label("ref_walk")
    seen = op.lookup(
        dentry, "dentry", "path_lookupat(nd, flags): dentry = __d_lookup(parent, &nd->last)"
    )
    _revalidate(op, directory, dentry, seen, rcu=False)
    op.label("status")
    with op.when(
        same(op.ret, const(0)), "if (!status) d_invalidate(dentry) /* -> lookup_slow() */"
    ):
        seen = lookup_slow(op, directory, dentry)
    op.fail_if(negative(seen), E.ENOENT, "out", "if (d_is_negative(dentry)) return -ENOENT")
    op.call(
        "inode_operations.getattr",
        fuse_getattr,
        seen,
        label="return inode->i_op->getattr(idmap, path, stat, request_mask, query_flags)",
        roles={"inode": seen},
    )
    op.label("out")
