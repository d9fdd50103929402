"""Extended attributes and POSIX ACLs, from fs/xattr.c, fs/posix_acl.c and
fs/namei.c of Linux 6.12, and of 6.17-rc3 (Kingxukai/linux 9b44fff6 and
0291023e) where a function's docstring says so.  Two filesystems: the
extended attributes are ext4's (fs/ext4/xattr.c: ``->set``, ``->get``,
``->listxattr`` and ``->list``); the ACLs and ``->permission`` are those of
FUSE with a server that supports POSIX ACLs (FUSE_POSIX_ACL:
``fc->posix_acl`` and ``fc->default_permissions`` set; fs/fuse/acl.c,
fs/fuse/dir.c), which caches its ACLs and asks its server for them.

setxattr(2) and removexattr(2) by path (``filename_setxattr()``,
``filename_removexattr()``) take ``mnt_want_write()`` (SB_FREEZE_WRITE
shared) around the whole operation; ``vfs_setxattr()`` and
``vfs_removexattr()`` take the inode's i_rwsem, break an NFS delegation
(``try_break_deleg()``: -EWOULDBLOCK, ``inode_unlock()``,
``break_deleg_wait()`` with SB_FREEZE_WRITE still held, retry) and call
the handler's ``->set``; ``vfs_getxattr()`` calls ``->get`` and
``vfs_listxattr()`` the inode's ``->listxattr``, both without i_rwsem:
ext4's take ``down_read(&EXT4_I(inode)->xattr_sem)`` (``xattr_sem(/a/f)``,
of the class ``xattr_sem``), and ext4_listxattr() calls the handler's
``->list`` under it.  The filesystem's ``->set`` reads the inode's
attribute list in one step and writes the changed list in the next
(ext4_xattr_set_handle() finds the entry, then ext4_xattr_set_entry()
writes it): with ext4's ``xattr_sem`` left out of the set (below; the
variant ``ext4-set-takes-xattr-sem`` puts it in), only i_rwsem keeps two
sets from both writing a list the other has not seen.

ACLs: FUSE with FUSE_POSIX_ACL leaves ``inode->i_acl`` as
ACL_NOT_CACHED (only without it does fuse_init_inode() mark the inode
ACL_DONT_CACHE, and then fuse_get_inode_acl() returns NULL whatever
``rcu`` is).  The walk's permission check in rcu-walk (``may_lookup()`` ->
``inode_permission()`` -> ``->permission`` with MAY_NOT_BLOCK):
fuse_permission() returns -ECHILD if the attributes were invalidated
(fuse_perm_getattr()); generic_permission() -> ``check_acl()`` ->
``get_cached_acl_rcu()`` reads the cache, calls no method, and an
uncached ACL is -ECHILD.  ``may_lookup()`` then leaves rcu-walk
(``try_to_unlazy()``) and checks again in ref-walk, where
fuse_perm_getattr() forgets the cached ACLs and asks the server for the
attributes (sleeps), and ``__get_acl()`` calls ``->get_inode_acl(inode,
type, false)`` (the server) and caches the ACL if its sentinel is still in
place.  getxattr of ``system.posix_acl_access`` goes to ``vfs_get_acl()``
-> ``__get_acl()`` with the dentry: ``->get_acl``, cached the same way.
setxattr of it goes to ``vfs_set_acl()``: the same ``retry_deleg:`` loop as
``vfs_setxattr()`` around ``->set_acl`` (fuse_set_acl(): FUSE_SETXATTR,
then ``forget_all_cached_acls()`` and ``fuse_invalidate_attr()``).  A
``->get_inode_acl`` called in rcu-walk is that of an ACL_DONT_CACHE
filesystem: overlayfs (ovl_fill_inode() marks every inode so;
ovl_get_inode_acl() in rcu mode returns -ECHILD for an idmapped layer and
otherwise the real inode's ``get_cached_acl_rcu()``, fs/overlayfs/inode.c
of 6.17-rc3, 9b44fff6), not modelled: the variant
``get-inode-acl-blocks-in-rcu`` is such a filesystem whose method sleeps.

Before the break, xattr_permission() checks a ``user.*`` name with
``inode_permission()`` under i_rwsem: ``->permission`` and, through
generic_permission(), ``->get_inode_acl`` (``xattr_permission``).
A removal sets with XATTR_REPLACE (``__vfs_removexattr()``, fs/xattr.c
of 6.17-rc3, Kingxukai/linux 9b44fff6): ext4_xattr_set_handle() (fs/ext4/xattr.c
of 6.17-rc3, 0291023e) returns -ENODATA for a name neither in the inode
body nor in the block and writes nothing.

Left out: the attribute values (a name is set or not), the flags of
setxattr(2) (XATTR_CREATE/XATTR_REPLACE: the model's sets pass none),
the locks of ext4's ``->set`` (ext4_xattr_set(): ``dquot_initialize()``
before the journal handle, then the jbd2 handle
(``ext4_journal_start()``), then ext4_xattr_set_handle()'s
``ext4_write_lock_xattr()``: ``xattr_sem`` for writing from before the
find to after the write, so on ext4 two sets are kept apart even without
i_rwsem: the lost update ``xattr-lost`` reports under
``setxattr-unlocked`` is that of a filesystem whose ->set relies on
i_rwsem alone, as the locking rules let it), the flc_lock that
try_break_deleg() -> ``__break_lease()`` takes under i_rwsem (an
i_rwsem -> flc_lock edge, modelled in mc.models.filelock; here the break
is one step), the mount's writer count of ``mnt_want_write()``, the
security hooks, getxattr(2)'s xattr_permission() (``inode_permission()``
with no lock held), the attribute timeout of
FUSE (attributes are valid until ``fuse_invalidate_attr()``), the default
ACL, ``->set_acl``'s own work (not a method of the locking rules: two
steps).

The delegation is one slot (none, its lease inserted, granted, recalled)
and a thread, :func:`delegation`, that hands it out as
``nfs4_set_delegation()`` does (fs/nfsd/nfs4state.c and fs/locks.c of
6.17-rc3, Kingxukai/linux 0291023e): ``generic_add_lease()`` inserts the
lease under ``inode_trylock()`` of the inode's i_rwsem, so no delegation
is handed out between a set's try_break_deleg() and its write, and a break
that meets the lease before nfsd hashes the delegation (``fi_had_conflict``)
makes nfsd withdraw it; the client returns it whenever it likes.  What the
client caches under it (the ACL and attribute names as they were when it
was handed out) is what ``deleg-vs-xattr`` compares the inode with.
"""

from __future__ import annotations

from collections.abc import Callable

from mc.dsl import (
    EXCL,
    SHARED,
    Cite,
    E,
    Expr,
    LockKind,
    ModelError,
    Op,
    Scratch,
    World,
    const,
    operation,
    same,
    step_invariant,
)
from mc.kernel.expr import Eval, InodeExpr, state_expr
from mc.kernel.locks import Lock
from mc.kernel.superblock import SB_FREEZE_WRITE, metadata_slot, sb_writers
from mc.models.mnt_write import WANT_WRITE_TAG
from mc.models.namei import ECHILD
from mc.models.quota import start_handle, stop_handle

EWOULDBLOCK = -E.EAGAIN
EXT4_XATTR_VERSION = "6.17-rc3 (Kingxukai/linux 0291023e)"
ACL_VERSION = "6.17-rc3 (Kingxukai/linux 0291023e)"
XATTR_VERSION = "6.17-rc3 (Kingxukai/linux 9b44fff6)"
DELEG_VERSION = "6.17-rc3 (Kingxukai/linux 0291023e)"
FUSE_VERSION = "6.17-rc3 (Kingxukai/linux 9b44fff6)"
INSERTED, GRANTED, RECALLED = "inserted", "granted", "recalled"
XATTRS = "xattrs"
"""The world part of the inodes' extended attributes."""
DELEGATIONS = "delegations"
"""The world part of the inodes nfsd delegates: each inode's delegation,
what its client caches, and the ACL and attribute names it caches them
from."""
SETFACL_WITHOUT_DELEG_BREAK = "setfacl-without-deleg-break"
DELEG_SKIPS_INODE_TRYLOCK = "deleg-skips-inode-trylock"
PERMISSION_BLOCKS_IN_RCU = "permission-blocks-in-rcu"
EXT4_SET_TAKES_XATTR_SEM = "ext4-set-takes-xattr-sem"
GET_ACL_CACHES_UNCONDITIONALLY = "get-acl-caches-unconditionally"
DELEGATION_HOLDERS = "xattr-delegation-holders"
"""The world part naming, by inode, the thread that holds its delegation:
the one a breaker waits for."""
ACLS = "acls"
"""The world part of a scenario whose threads read or cache an inode's ACL."""
GET_INODE_ACL_BLOCKS_IN_RCU = "get-inode-acl-blocks-in-rcu"


def _names(names: frozenset[str] | None) -> str:
    return "{" + ", ".join(sorted(names or ())) + "}"


def stored_xattrs_slot(world: World, inode: InodeExpr) -> int:
    """The inode's attribute names as the filesystem stores them."""
    return world.shared_slot(f"xattrs({inode})", frozenset(), _names)


def xattr_slots(world: World, inode: InodeExpr) -> tuple[int, int]:
    """The inode's attribute names as stored, and as the sets and removals
    that returned made them (in the order they wrote); the world part
    ``XATTRS`` (what ``xattr-lost`` needs) maps the inode to the two."""
    slots = (
        stored_xattrs_slot(world, inode),
        world.shared_slot(f"xattrs-set({inode})", frozenset(), _names),
    )
    world.parts.setdefault(XATTRS, {})[str(inode)] = slots
    return slots


def delegation_slot(world: World, inode: InodeExpr) -> int:
    """An NFS read delegation on the inode: None; its lease inserted in
    ``flc_lease`` and not yet handed to the client; granted (handed out);
    or recalled (a break met it: ``fi_had_conflict``)."""
    return world.shared_slot(f"delegation({inode})", None, lambda v: v or "none")


def _render_delegated(value: tuple[int, frozenset[str]] | None) -> str:
    if value is None:
        return "none"
    acl, names = value
    return f"acl v{acl}, xattrs {_names(names)}"


def delegated_slot(world: World, inode: InodeExpr) -> int:
    """What the client holding the delegation may answer from its cache
    until a recall: the inode's ACL and attribute names as they were when
    the delegation was handed out (None while it holds none)."""
    return world.shared_slot(f"delegated({inode})", None, _render_delegated)


def acl_slot(world: World, inode: InodeExpr) -> int:
    """The ACL the server stores for the inode (a version number)."""
    return world.shared_slot(f"acl({inode})", 0)


def try_break_deleg(scratch: Scratch, slot: int) -> int:
    """try_break_deleg() -> break_deleg(inode, O_WRONLY|O_NONBLOCK): a
    delegation is recalled (``__break_lease()``) and -EWOULDBLOCK returned."""
    if scratch[slot] is None:
        return 0
    scratch[slot] = RECALLED
    return EWOULDBLOCK


def read_xattrs(scratch: Scratch, stored: int) -> frozenset[str]:
    """ext4_xattr_ibody_find()/ext4_xattr_block_find(): the list as it is."""
    return frozenset(scratch[stored])


def write_xattrs(
    scratch: Scratch, stored: int, made: int, seen: frozenset[str], name: str, remove: bool
) -> None:
    """ext4_xattr_set_entry(): the list read, with ``name`` set or removed,
    written back; the set (or removal) has taken effect."""
    scratch[stored] = seen - {name} if remove else seen | {name}
    scratch[made] = scratch[made] - {name} if remove else scratch[made] | {name}


def _write_journalled(
    scratch: Scratch,
    stored: int,
    made: int,
    metadata: int,
    seen: frozenset[str],
    name: str,
    remove: bool,
) -> None:
    """``write_xattrs()`` inside ext4's journal handle
    (``ext4_xattr_set()``: ``ext4_journal_start()``): the change is
    metadata ``->sync_fs`` and ``->freeze_fs`` commit, which
    ``no-write-while-frozen`` sees made on a frozen filesystem."""
    write_xattrs(scratch, stored, made, seen, name, remove)
    scratch[metadata] = True


def handler_set(op: Op, inode: InodeExpr, name: str, remove: bool, path: str | None = None) -> None:
    """``handler->set()``: the filesystem reads the list, then writes it.
    A removal is ``handler->set(..., NULL, 0, XATTR_REPLACE)``
    (``__vfs_removexattr()``): ext4_xattr_set_handle() finds no entry of a
    name the list does not hold, returns -ENODATA and writes nothing.
    With the variant ``ext4-set-takes-xattr-sem`` the set is ext4's
    (``ext4_xattr_set()``, fs/ext4/xattr.c of 6.17-rc3, Kingxukai/linux
    0291023e): ``ext4_xattr_set_credits()`` reads the block's reference
    count under ``xattr_sem(path)`` for reading and drops it, the journal
    handle starts (``ext4_journal_start()``, ``mc.models.quota.start_handle``),
    then ``ext4_xattr_set_handle()`` reads and writes under ``xattr_sem``
    for writing (``ext4_write_lock_xattr()``), and the handle stops: the
    order i_rwsem, jbd2 handle, xattr_sem.  Left out: the retry on
    -ENOSPC (``ext4_should_retry_alloc()``)."""
    op.enter(
        "xattr_handler.set",
        inode,
        name,
        label="handler->set(handler, idmap, dentry, inode, name, value, size, flags)"
        + (" /* value NULL, XATTR_REPLACE: remove */" if remove else ""),
        roles={"inode": inode},
    )
    stored, made = xattr_slots(op.world, inode)
    sem = xattr_sem(op, path) if path is not None and op.variant(EXT4_SET_TAKES_XATTR_SEM) else None
    if sem is not None:
        op.lock(sem, SHARED, "ext4_xattr_set_credits(): down_read(&EXT4_I(inode)->xattr_sem)")
        op.unlock(sem, "ext4_xattr_set_credits(): up_read(&EXT4_I(inode)->xattr_sem)")
        start_handle(op, "ext4_xattr_set(): handle = ext4_journal_start(inode, EXT4_HT_XATTR)")
        op.lock(sem, EXCL, "ext4_xattr_set_handle(): ext4_write_lock_xattr(inode, &no_expand)")
    seen = op.compute(
        "xattrs",
        "ext4_xattr_ibody_find(): read the inode's attributes",
        read_xattrs,
        stored,
        render=_names,
    )
    cleanup = op.fresh_label("cleanup")
    if remove:
        read = op.register("xattrs")
        op.fail_if(
            Expr(
                f"{name} not found",
                lambda _w: lambda state: name not in state[read],
                local=True,
            ),
            E.ENODATA,
            cleanup,
            "if (is.s.not_found && bs.s.not_found) { error = -ENODATA; "
            "if (flags & XATTR_REPLACE) goto cleanup; }",
        )
    op.effect(
        f"ext4_xattr_set_entry(): write them back with {name} " + ("removed" if remove else "set"),
        _write_journalled,
        stored,
        made,
        metadata_slot(op.world),
        seen,
        name,
        remove,
        sleeps=True,
    )
    op.label(cleanup)
    if sem is not None:
        op.unlock(sem, "ext4_write_unlock_xattr(inode, &no_expand)")
        stop_handle(op, "ext4_xattr_set(): ext4_journal_stop(handle)")


def want_write(op: Op, caller: str) -> Lock:
    """``mnt_want_write(path.mnt)`` of ``filename_setxattr()`` /
    ``filename_removexattr()``: ``sb_start_write()``, SB_FREEZE_WRITE
    shared, held across the whole operation (the delegation wait too)."""
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers,
        SHARED,
        f"{caller}(): mnt_want_write(path.mnt): sb_start_write(m->mnt_sb)",
        tag=WANT_WRITE_TAG,
    )
    return writers


def drop_write(op: Op, writers: Lock) -> None:
    """``mnt_drop_write(path.mnt)``: ``sb_end_write()``."""
    op.unlock(writers, "mnt_drop_write(path.mnt): sb_end_write(mnt->mnt_sb)", tag=WANT_WRITE_TAG)


def deleg_locked(
    op: Op,
    inode: InodeExpr,
    tag: str,
    body: Callable[[], None],
    break_deleg: bool = True,
    check: Callable[[], None] | None = None,
) -> None:
    """The ``retry_deleg:`` loop of vfs_setxattr(), vfs_removexattr() and
    vfs_set_acl(): ``inode_lock(inode)``, ``check`` (the permission check
    before the break), try_break_deleg() (-EWOULDBLOCK with a delegation
    recalled: ``goto out_unlock``), ``body`` (the filesystem's set),
    ``inode_unlock(inode)``; after a recall, ``break_deleg_wait()`` with
    the lock dropped, then ``goto retry_deleg``.  Without ``break_deleg``
    the body runs under i_rwsem with no break."""
    slot = delegation_slot(op.world, inode)
    op.label("retry_deleg")
    op.lock(inode.i_rwsem, EXCL, "retry_deleg: inode_lock(inode)", tag=tag)
    if check is not None:
        check()
    if not break_deleg:
        body()
        op.unlock(inode.i_rwsem, "inode_unlock(inode)", tag=tag)
        return
    broke = op.compute(
        "deleg",
        "error = try_break_deleg(inode, &delegated_inode)",
        try_break_deleg,
        slot,
        render=E.render,
    )
    op.goto_if(same(broke, const(EWOULDBLOCK)), "out_unlock", "if (error) goto out_unlock")
    body()
    op.unlock(inode.i_rwsem, "inode_unlock(inode)", tag=tag)
    op.goto("out")
    op.label("out_unlock")
    op.unlock(inode.i_rwsem, "out_unlock: inode_unlock(inode)", tag=tag)
    holding = op.world.parts.setdefault(DELEGATION_HOLDERS, {})
    key = str(inode)
    op.wait_until(
        state_expr(f"!delegation({inode})", lambda state: state[slot] is None),
        "if (delegated_inode) error = break_deleg_wait(&delegated_inode)",
        "the delegation's return",
        holders=lambda state: (holding[key],) if key in holding and state[slot] else (),
    )
    op.goto("retry_deleg")
    op.label("out")


POSIX_ACL_NAMES = ("system.posix_acl_access", "system.posix_acl_default")


def _not_an_acl_name(name: str, call: str, instead: str) -> None:
    """A ``ModelError`` for a POSIX ACL's name: fs/xattr.c (6.17-rc3) sends
    those to the ACL code (``do_set_acl()``, ``do_get_acl()``,
    ``vfs_remove_acl()``), never to a handler's ``->set`` or ``->get``, so
    a model of the handler path would check a change the kernel never
    makes."""
    if name in POSIX_ACL_NAMES:
        raise ModelError(
            f"{call} of {name}: the kernel sends a POSIX ACL's name to the ACL code, not to "
            f"the xattr handler this operation models; use {instead}"
        )


def _setxattr_locked(op: Op, path: str, name: str, remove: bool) -> None:
    """filename_setxattr()/filename_removexattr(): mnt_want_write(), then
    vfs_setxattr()/vfs_removexattr(): i_rwsem, xattr_permission(), the
    delegation, ->set."""
    if remove:
        _not_an_acl_name(name, "removexattr", "setfacl (vfs_set_acl())")
    else:
        _not_an_acl_name(name, "setxattr", "setfacl (do_set_acl() -> vfs_set_acl())")
    inode = op.inode(path)
    writers = want_write(op, "filename_removexattr" if remove else "filename_setxattr")
    deleg_locked(
        op,
        inode,
        "xattr-lock",
        lambda: handler_set(op, inode, name, remove, path),
        check=lambda: xattr_permission(op, inode, name),
    )
    drop_write(op, writers)


def xattr_permission(op: Op, inode: InodeExpr, name: str) -> None:
    """xattr_permission(..., MAY_WRITE) of __vfs_setxattr_locked() and
    __vfs_removexattr_locked() (fs/xattr.c of 6.17-rc3, Kingxukai/linux
    9b44fff6), under the inode's i_rwsem: no check of the VFS for
    ``security.*`` and ``system.*``, ``capable(CAP_SYS_ADMIN)`` for
    ``trusted.*``, else ``inode_permission()`` (``->permission``, and
    generic_permission()'s ACL lookup, ``->get_inode_acl``: see
    ``_permission``).  ``may_write_xattr()`` before it (immutable and
    append-only inodes, unmapped ids) reads nothing the model has."""
    if name.startswith(("security.", "system.", "trusted.")):
        return
    _permission(op, inode, rcu=False)


@operation(
    models="setxattr(2) -> filename_setxattr(): mnt_want_write(), vfs_setxattr() (fs/xattr.c)",
    describe=lambda path, name: f"setxattr({path}, {name})",
    cites=(
        Cite("fs/xattr.c", "filename_setxattr", XATTR_VERSION),
        Cite("fs/xattr.c", "vfs_setxattr", "6.12"),
        Cite("fs/xattr.c", "__vfs_setxattr_locked", "6.12"),
        Cite("fs/xattr.c", "__vfs_setxattr", "6.12"),
    ),
)
def setxattr(op: Op, path: str, name: str) -> None:
    """filename_setxattr() (fs/xattr.c of 6.17-rc3, Kingxukai/linux
    9b44fff6): ``mnt_want_write(path.mnt)`` (SB_FREEZE_WRITE shared, held
    to the end, the delegation wait included), do_setxattr() ->
    vfs_setxattr(): ``inode_lock(inode)``, __vfs_setxattr_locked()
    (try_break_deleg(), then __vfs_setxattr() -> ``handler->set``),
    ``inode_unlock(inode)``; a recalled delegation is waited for with the
    lock dropped, then the set is retried; ``mnt_drop_write()``."""
    _setxattr_locked(op, path, name, remove=False)


@operation(
    models="removexattr(2) -> filename_removexattr(): mnt_want_write(), vfs_removexattr() "
    "(fs/xattr.c)",
    describe=lambda path, name: f"removexattr({path}, {name})",
    cites=(
        Cite("fs/xattr.c", "filename_removexattr", XATTR_VERSION),
        Cite("fs/xattr.c", "vfs_removexattr", "6.12"),
        Cite("fs/xattr.c", "__vfs_removexattr_locked", "6.12"),
        Cite("fs/xattr.c", "__vfs_removexattr", "6.12"),
        Cite(
            "fs/ext4/xattr.c",
            "ext4_xattr_set_handle",
            EXT4_XATTR_VERSION,
            method="xattr_handler.set",
        ),
    ),
)
def removexattr(op: Op, path: str, name: str) -> None:
    """filename_removexattr(): ``mnt_want_write()`` around
    vfs_removexattr(), as setxattr(2); vfs_removexattr(): as
    vfs_setxattr(), and __vfs_removexattr() calls
    ``handler->set(..., NULL, 0, XATTR_REPLACE)`` (the same in 6.17-rc3,
    Kingxukai/linux 9b44fff6); for a name the inode does not hold,
    ext4_xattr_set_handle() returns -ENODATA (``if (is.s.not_found &&
    bs.s.not_found) { error = -ENODATA; if (flags & XATTR_REPLACE) goto
    cleanup; }``) and writes nothing."""
    _setxattr_locked(op, path, name, remove=True)


def xattr_sem(op: Op, path: str) -> Lock:
    """ext4's per-inode ``EXT4_I(inode)->xattr_sem`` (an rw_semaphore),
    of the class ``xattr_sem``."""
    return op.world.shared_lock(f"xattr_sem({path})", LockKind.RWSEM)


@operation(
    models="getxattr(2) -> path_getxattrat() -> vfs_getxattr() (fs/xattr.c)",
    describe=lambda path, name: f"getxattr({path}, {name})",
    cites=(
        Cite("fs/xattr.c", "vfs_getxattr", "6.12"),
        Cite("fs/xattr.c", "__vfs_getxattr", "6.12"),
        Cite("fs/ext4/xattr.c", "ext4_xattr_get", EXT4_XATTR_VERSION),
    ),
)
def getxattr(op: Op, path: str, name: str) -> None:
    """vfs_getxattr(): xattr_permission() (left out: no lock is held), then
    __vfs_getxattr() -> ``handler->get`` without i_rwsem.  ext4's (ext4_xattr_user_get() ->
    ext4_xattr_get(), fs/ext4/xattr.c of 6.17-rc3, Kingxukai/linux
    0291023e) reads the inode body, then the block, under
    ``down_read(&EXT4_I(inode)->xattr_sem)``.  A POSIX ACL's name goes to
    ``getfacl`` (``do_get_acl()``) instead: a model error here."""
    _not_an_acl_name(name, "getxattr", "getfacl (do_get_acl())")
    inode = op.inode(path)
    stored, _ = xattr_slots(op.world, inode)
    sem = xattr_sem(op, path)
    op.enter(
        "xattr_handler.get",
        inode,
        name,
        label="return handler->get(handler, dentry, inode, name, value, size)",
        roles={"inode": inode},
    )
    op.lock(sem, SHARED, "ext4_xattr_get(): down_read(&EXT4_I(inode)->xattr_sem)")
    op.compute(
        "xattrs",
        "error = ext4_xattr_ibody_get(inode, name_index, name, buffer, buffer_size) "
        "/* then ext4_xattr_block_get() on -ENODATA */",
        read_xattrs,
        stored,
        render=_names,
    )
    read = op.register("xattrs")
    found = op.fresh_label("found")
    op.fail_if(
        state_expr(f"{name} not found", lambda state: name not in state[read], local=True),
        E.ENODATA,
        found,
        "if (error == -ENODATA) error = ext4_xattr_block_get(...) /* not there either */",
    )
    op.label(found)
    op.unlock(sem, "up_read(&EXT4_I(inode)->xattr_sem)")


def handler_list(scratch: Scratch, inode: int) -> int:
    """The user handler's ``->list`` (ext4_xattr_user_list()): whether its
    names are listed."""
    return 0


def ext4_list_entries(scratch: Scratch, inode: int, stored: int) -> int:
    """ext4_xattr_ibody_list()/ext4_xattr_block_list() ->
    ext4_xattr_list_entries(): the names' count."""
    return len(scratch[stored])


@operation(
    models="listxattr(2) -> path_listxattrat() -> vfs_listxattr() (fs/xattr.c)",
    describe=lambda path: f"listxattr({path})",
    cites=(
        Cite("fs/xattr.c", "vfs_listxattr", "6.12"),
        Cite(
            "fs/ext4/xattr.c",
            "ext4_listxattr",
            EXT4_XATTR_VERSION,
            method="inode_operations.listxattr",
        ),
        Cite("fs/ext4/xattr.c", "ext4_xattr_list_entries", EXT4_XATTR_VERSION),
    ),
)
def listxattr(op: Op, path: str) -> None:
    """vfs_listxattr(): ``inode->i_op->listxattr(dentry, list, size)``
    without i_rwsem.  ext4's (ext4_listxattr(), fs/ext4/xattr.c of
    6.17-rc3, Kingxukai/linux 0291023e) takes
    ``down_read(&EXT4_I(inode)->xattr_sem)`` and lists the inode body's and
    the block's entries: ext4_xattr_list_entries() asks, for each entry,
    ext4_xattr_prefix() -> ``xattr_handler_can_list()`` -> the handler's
    ``->list(dentry)`` whether its name is shown.  The model calls
    ``->list`` once, for the one handler (user.) its names have, and reads
    the names in one step."""
    inode = op.inode(path)
    stored, _ = xattr_slots(op.world, inode)
    sem = xattr_sem(op, path)
    op.enter(
        "inode_operations.listxattr",
        inode,
        label="error = inode->i_op->listxattr(dentry, list, size)",
        roles={"inode": inode},
    )
    op.lock(sem, SHARED, "ext4_listxattr(): down_read(&EXT4_I(d_inode(dentry))->xattr_sem)")
    op.compute(
        "names",
        "ret = ext4_xattr_ibody_list(dentry, buffer, buffer_size) "
        "/* and ext4_xattr_block_list() */",
        ext4_list_entries,
        inode,
        stored,
    )
    op.call(
        "xattr_handler.list",
        handler_list,
        inode,
        label="ext4_xattr_list_entries(): ext4_xattr_prefix() -> "
        "xattr_handler_can_list(handler, dentry): handler->list(dentry)",
        roles={"inode": inode},
        sleeps=False,
    )
    op.unlock(sem, "errout: up_read(&EXT4_I(d_inode(dentry))->xattr_sem)")


# --- ACLs and ->permission in the path walk ---------------------------------

NOT_CACHED = None
"""``ACL_NOT_CACHED``: the inode's ACL cache slot holds no ACL."""
ACL_WALK_READS_AN_ACL = "acl-walk-reads-an-acl"

step_invariant(
    ACL_WALK_READS_AN_ACL,
    "the rcu-walk permission check hands posix_acl_permission() an ACL, never ACL_NOT_CACHED "
    "or the sentinel of a thread fetching one (check_acl() returns -ECHILD for an uncached "
    "ACL, is_uncached_acl(), and the walk goes on in ref-walk)",
    needs=(ACLS, "an inode's cached ACL"),
)


def _render_cache(value: object) -> str:
    if value is NOT_CACHED:
        return "ACL_NOT_CACHED"
    if isinstance(value, str):
        return f"uncached_acl_sentinel({value})"
    return f"acl v{value}"


def acl_cache_slot(world: World, inode: InodeExpr) -> int:
    """``inode->i_acl``: ACL_NOT_CACHED, a thread's sentinel (its name:
    ``uncached_acl_sentinel(current)``, set by ``__get_acl()`` while it
    asks the filesystem) or the cached ACL (the server's version)."""
    world.parts.setdefault(ACLS, True)
    return world.shared_slot(f"i_acl({inode})", NOT_CACHED, _render_cache)


def attr_stale_slot(world: World, inode: InodeExpr) -> int:
    """FUSE's ``fi->inval_mask`` has STATX_MODE|STATX_UID|STATX_GID (set by
    ``fuse_invalidate_attr()``): the attributes must be asked for again."""
    return world.shared_slot(f"inval_mask({inode})", False, lambda v: "stale" if v else "valid")


def _cached_or_sentinel(scratch: Scratch, cache: int, me: str) -> int | None:
    """``acl = get_cached_acl(inode, type); if (!is_uncached_acl(acl))
    return acl;`` then ``cmpxchg(p, ACL_NOT_CACHED, sentinel)``: the cached
    ACL, or None with this thread's sentinel set when nothing was there
    (another thread's sentinel is left in place)."""
    value = scratch[cache]
    if isinstance(value, int):
        return value
    if value is NOT_CACHED:
        scratch[cache] = me
    return None


def fuse_get_acl_from_server(scratch: Scratch, inode: int, server: int, fetched: int) -> int:
    """__fuse_get_acl(fc, inode, type, false): fuse_getxattr() of
    system.posix_acl_access, FUSE_GETXATTR to the server (sleeps)."""
    scratch[fetched] = scratch[server]
    return 0


def _cache_if_sentinel(scratch: Scratch, cache: int, me: str, fetched: int) -> None:
    """``if (unlikely(!try_cmpxchg(p, &sentinel, acl)))
    posix_acl_release(acl)``: the ACL is cached only while this thread's
    sentinel is still there (no forget_cached_acl() came in between)."""
    if scratch[cache] == me:
        scratch[cache] = scratch[fetched]


def _cache_always(scratch: Scratch, cache: int, fetched: int) -> None:
    """The ACL fetched is cached whatever came in between (the variant
    ``get-acl-caches-unconditionally``)."""
    scratch[cache] = scratch[fetched]


def get_acl(op: Op, inode: InodeExpr, method: str, label: str) -> None:
    """``__get_acl()`` (fs/posix_acl.c of 6.17-rc3, Kingxukai/linux
    0291023e): the cached ACL if there is one; else the sentinel, the
    filesystem's ``method`` (``->get_acl`` with a dentry, else
    ``->get_inode_acl(inode, type, false)``), and the result cached if the
    sentinel is still in place."""
    cache = acl_cache_slot(op.world, inode)
    me = op.thread.name
    cached = op.compute(
        "acl",
        "acl = get_cached_acl(inode, type); cmpxchg(p, ACL_NOT_CACHED, sentinel)",
        _cached_or_sentinel,
        cache,
        me,
        render=_render_cache,
    )
    read = op.register("acl")
    fetched = op.register("fetched", _render_cache)
    with op.when(
        state_expr(
            f"is_uncached_acl({cached})",
            lambda state: not isinstance(state[read], int),
            local=True,
        ),
        "if (!is_uncached_acl(acl)) return acl",
        label_negates=True,
    ):
        op.call(
            method,
            fuse_get_acl_from_server,
            inode,
            acl_slot(op.world, inode),
            fetched,
            label=label,
            roles={"inode": inode},
        )
        if op.variant(GET_ACL_CACHES_UNCONDITIONALLY):
            op.effect(
                "posix_acl_dup(acl); set_cached_acl(inode, type, acl) /* no sentinel test */",
                _cache_always,
                cache,
                fetched,
            )
        else:
            op.effect(
                "posix_acl_dup(acl); try_cmpxchg(p, &sentinel, acl)",
                _cache_if_sentinel,
                cache,
                me,
                fetched,
            )


def _refresh_attrs(scratch: Scratch, cache: int, stale: int) -> None:
    """fuse_perm_getattr(): ``forget_all_cached_acls(inode)``, then
    fuse_do_getattr(): FUSE_GETATTR, the attributes valid again."""
    scratch[cache] = NOT_CACHED
    scratch[stale] = False


def _permission(op: Op, directory: InodeExpr, rcu: bool) -> None:
    """inode_permission() -> do_inode_permission() -> ``->permission``:
    fuse_permission() (fs/fuse/dir.c of 6.17-rc3, Kingxukai/linux
    9b44fff6; a FUSE_POSIX_ACL server sets ``fc->default_permissions``).
    Attributes invalidated (``fi->inval_mask``) are asked for again by
    fuse_perm_getattr(), which returns -ECHILD under MAY_NOT_BLOCK and
    otherwise forgets the cached ACLs and sends FUSE_GETATTR (sleeps).
    Then generic_permission() -> acl_permission_check() -> check_acl(): in
    rcu-walk get_cached_acl_rcu() reads ``inode->i_acl`` (FUSE caches
    ACLs: not ACL_DONT_CACHE, so no method call) and an uncached ACL is
    -ECHILD; in ref-walk get_inode_acl() -> __get_acl() ->
    ``->get_inode_acl(inode, type, false)``, which asks the server."""
    mode = "MAY_NOT_BLOCK" if rcu else "ref-walk"
    refresh_in_rcu = rcu and op.variant(PERMISSION_BLOCKS_IN_RCU)
    op.enter(
        "inode_operations.permission",
        directory,
        label=f"return inode->i_op->permission(idmap, inode, mask) /* {mode} */",
        roles={"inode": directory},
        sleeps=not rcu,
    )
    cache = acl_cache_slot(op.world, directory)
    stale = attr_stale_slot(op.world, directory)
    done = op.fresh_label("permission_done")
    with op.when(
        state_expr(f"inval_mask({directory})", lambda state: state[stale]),
        "if (perm_mask & READ_ONCE(fi->inval_mask) || time_before64(fi->i_time, get_jiffies_64()))",
    ):
        if rcu and not refresh_in_rcu:
            op.fail(E.ECHILD, done, "fuse_perm_getattr(): if (mask & MAY_NOT_BLOCK) return -ECHILD")
        else:
            op.effect(
                "fuse_perm_getattr(): forget_all_cached_acls(inode); "
                "return fuse_do_getattr(&nop_mnt_idmap, inode, NULL, NULL) /* asks the server */",
                _refresh_attrs,
                cache,
                stale,
                sleeps=True,
            )
    if not rcu:
        get_acl(
            op,
            directory,
            "inode_operations.get_inode_acl",
            "__get_acl(): acl = inode->i_op->get_inode_acl(inode, type, false)",
        )
    elif op.variant(GET_INODE_ACL_BLOCKS_IN_RCU):
        fetched = op.register("fetched", _render_cache)
        op.call(
            "inode_operations.get_inode_acl",
            fuse_get_acl_from_server,
            directory,
            acl_slot(op.world, directory),
            fetched,
            label="get_cached_acl_rcu(): acl == ACL_DONT_CACHE: "
            "ret = inode->i_op->get_inode_acl(inode, type, LOOKUP_RCU)",
            roles={"inode": directory},
        )
    else:
        acl = op.let(
            "rcu_acl",
            state_expr(f"i_acl({directory})", lambda state: state[cache], reads=[cache]),
            "check_acl(): acl = get_cached_acl_rcu(inode, ACL_TYPE_ACCESS)",
        )
        op.fail_if(_uncached(acl), E.ECHILD, done, "if (is_uncached_acl(acl)) return -ECHILD")
        op.effect(
            "return posix_acl_permission(idmap, inode, acl, mask)",
            _posix_acl_permission,
            acl,
            const(str(directory), str(directory)),
        )
    op.label(done)


def _uncached(acl: Expr) -> Expr:
    def build(world: World) -> Eval:
        value_of = acl.compile(world)
        return lambda state: not isinstance(value_of(state), int)

    return Expr("is_uncached_acl(acl)", build, acl.local)


def _posix_acl_permission(scratch: Scratch, acl: object, inode: object) -> None:
    """posix_acl_permission() reads the ACL's entries (``acl->a_entries``):
    ACL_NOT_CACHED or a fetcher's sentinel is no ACL (``acl-walk-reads-an-acl``):
    ACL_NOT_CACHED is ``(void *)-1`` and oopses, a sentinel is
    ``(void *)current + 1`` and reads task memory as an ACL."""
    if not isinstance(acl, int):
        scratch.violate(
            ACL_WALK_READS_AN_ACL,
            f"the rcu-walk permission check of {inode} hands posix_acl_permission() "
            f"{_render_cache(acl)}, which is no ACL: it reads its entries (ACL_NOT_CACHED "
            "oopses, a sentinel is read as task memory; check_acl() returns -ECHILD for an "
            "uncached ACL, is_uncached_acl())",
        )


@operation(
    models="path_lookupat() -> link_path_walk() -> may_lookup() -> inode_permission() "
    "(fs/namei.c), check_acl(), __get_acl() (fs/posix_acl.c)",
    describe=lambda path: f"walk({path})",
    cites=(
        Cite("fs/namei.c", "may_lookup", "6.12"),
        Cite("fs/namei.c", "inode_permission", "6.12"),
        Cite("fs/namei.c", "generic_permission", "6.12"),
        Cite("fs/namei.c", "check_acl", "6.12"),
        Cite("fs/posix_acl.c", "get_cached_acl_rcu", "6.12"),
        Cite("fs/posix_acl.c", "__get_acl", ACL_VERSION),
        Cite(
            "fs/fuse/dir.c", "fuse_permission", FUSE_VERSION, method="inode_operations.permission"
        ),
        Cite(
            "fs/fuse/acl.c",
            "fuse_get_inode_acl",
            FUSE_VERSION,
            method="inode_operations.get_inode_acl",
        ),
    ),
)
def walk(op: Op, path: str) -> None:
    """The path walk through the last directory of ``path``: under
    rcu_read_lock, may_lookup() checks MAY_EXEC|MAY_NOT_BLOCK on it; on
    -ECHILD, try_to_unlazy() leaves rcu-walk and inode_permission() runs
    again in ref-walk."""
    directory = op.inode(path.rsplit("/", 1)[0] or "/")
    rcu = op.world.rcu_read_lock
    op.lock(rcu, SHARED, "path_init(): rcu_read_lock() /* LOOKUP_RCU */", tag="rcu")
    _permission(op, directory, rcu=True)
    with op.when(
        same(op.ret, const(ECHILD)),
        "if (err == -ECHILD) /* try_to_unlazy(nd), inode_permission() again */",
    ):
        op.unlock(rcu, "try_to_unlazy(nd): leave_rcu(nd)", tag="rcu")
        _permission(op, directory, rcu=False)
    with op.otherwise():
        op.unlock(rcu, "complete_walk(nd): leave_rcu(nd)", tag="rcu")


def set_acl(scratch: Scratch, acl: int) -> None:
    """fuse_set_acl(): fuse_setxattr() of the new ACL, FUSE_SETXATTR to the
    server."""
    scratch[acl] = scratch[acl] + 1


def _forget_and_invalidate(scratch: Scratch, cache: int, stale: int) -> None:
    """fuse_set_acl(): ``if (fc->posix_acl) { forget_all_cached_acls(inode);
    fuse_invalidate_attr(inode); }``."""
    scratch[cache] = NOT_CACHED
    scratch[stale] = True


def _fuse_set_acl(op: Op, inode: InodeExpr) -> None:
    """set_posix_acl() -> ``inode->i_op->set_acl()``: fuse_set_acl()."""
    op.effect(
        "set_posix_acl(): inode->i_op->set_acl(idmap, dentry, acl, type): "
        "fuse_set_acl(): fuse_setxattr(inode, name, value, size, 0, extra_flags)",
        set_acl,
        acl_slot(op.world, inode),
        sleeps=True,
    )
    op.effect(
        "fuse_set_acl(): forget_all_cached_acls(inode); fuse_invalidate_attr(inode)",
        _forget_and_invalidate,
        acl_cache_slot(op.world, inode),
        attr_stale_slot(op.world, inode),
    )


@operation(
    models="setxattr(2) of system.posix_acl_access -> do_set_acl() -> vfs_set_acl() "
    "(fs/posix_acl.c)",
    describe=lambda path: f"setfacl({path})",
    cites=(
        Cite("fs/xattr.c", "filename_setxattr", XATTR_VERSION),
        Cite("fs/posix_acl.c", "vfs_set_acl", ACL_VERSION),
        Cite("fs/fuse/acl.c", "fuse_set_acl", FUSE_VERSION),
    ),
)
def setfacl(op: Op, path: str) -> None:
    """filename_setxattr(): ``mnt_want_write()``, do_setxattr() ->
    do_set_acl() -> vfs_set_acl() (fs/posix_acl.c of 6.17-rc3,
    Kingxukai/linux 0291023e), the same ``retry_deleg:`` loop as
    vfs_setxattr(): ``inode_lock(inode)``, try_break_deleg(),
    set_posix_acl() -> ``->set_acl`` (fuse_set_acl(): FUSE_SETXATTR, then
    the cached ACLs forgotten and the attributes invalidated),
    ``inode_unlock(inode)``; a recalled delegation is waited for with the
    lock dropped, then the set retried; ``mnt_drop_write()``.  Under
    ``setfacl-without-deleg-break`` the ACL is set under i_rwsem without
    try_break_deleg()."""
    inode = op.inode(path)
    writers = want_write(op, "filename_setxattr")
    deleg_locked(
        op,
        inode,
        "acl-lock",
        lambda: _fuse_set_acl(op, inode),
        break_deleg=not op.variant(SETFACL_WITHOUT_DELEG_BREAK),
    )
    drop_write(op, writers)


@operation(
    models="getxattr(2) of system.posix_acl_access -> vfs_get_acl() (fs/posix_acl.c)",
    describe=lambda path: f"getfacl({path})",
    cites=(
        Cite("fs/xattr.c", "vfs_getxattr", "6.12"),
        Cite("fs/posix_acl.c", "vfs_get_acl", ACL_VERSION),
        Cite("fs/posix_acl.c", "__get_acl", ACL_VERSION),
        Cite("fs/fuse/acl.c", "fuse_get_acl", FUSE_VERSION, method="inode_operations.get_acl"),
    ),
)
def getfacl(op: Op, path: str) -> None:
    """do_getxattr() -> do_get_acl() -> vfs_get_acl() -> __get_acl() with
    the dentry, without i_rwsem: the cached ACL, else ``->get_acl(idmap,
    dentry, type)`` (fuse_get_acl(): FUSE_GETXATTR to the server), cached
    if no forget came in between."""
    inode = op.inode(path)
    get_acl(
        op,
        inode,
        "inode_operations.get_acl",
        "__get_acl(): acl = inode->i_op->get_acl(idmap, dentry, type)",
    )


def _insert_lease(scratch: Scratch, slot: int) -> None:
    """``locks_insert_lock_ctx(&lease->c, &ctx->flc_lease)``: breakers see
    the lease from now on."""
    scratch[slot] = INSERTED


def _hash_delegation(scratch: Scratch, slot: int, delegated: int, acl: int, stored: int) -> bool:
    """``if (fp->fi_had_conflict) goto out_unlock``, else
    ``hash_delegation_locked()``: a break that met the lease since it was
    inserted refuses the delegation (True); otherwise it is handed to the
    client, which from now on may answer from what it caches."""
    if scratch[slot] == RECALLED:
        return True
    scratch[slot] = GRANTED
    scratch[delegated] = (scratch[acl], scratch[stored])
    return False


def _return_delegation(scratch: Scratch, slot: int, delegated: int) -> None:
    """The lease removed (``kernel_setlease(F_UNLCK)`` -> ->lm_change:
    ``lease_modify()`` wakes the breakers waiting in break_deleg_wait())."""
    scratch[slot] = None
    scratch[delegated] = None


@operation(
    models="nfsd handing out a read delegation of a file (OPEN): nfs4_set_delegation() -> "
    "kernel_setlease() -> generic_add_lease(); DELEGRETURN (fs/nfsd/nfs4state.c, fs/locks.c)",
    describe=lambda path, setattr=False: f"delegation({path}{', then SETATTR' if setattr else ''})",
    cites=(
        Cite("fs/nfsd/nfs4state.c", "nfs4_set_delegation", DELEG_VERSION),
        Cite("fs/nfsd/nfs4proc.c", "nfsd4_setattr", DELEG_VERSION),
        Cite("fs/nfsd/vfs.c", "nfsd_setattr", DELEG_VERSION),
        Cite(
            "fs/locks.c",
            "generic_add_lease",
            DELEG_VERSION,
            leaves_out=(
                "percpu_down_read",
                "percpu_up_read",
                "spin_lock(&ctx->flc_lock)",
                "spin_unlock(&ctx->flc_lock)",
            ),
            because="file_rwsem and flc_lock, taken inside the i_rwsem trylock around the "
            "insertion, are left out: the insertion is one step (mc.models.filelock models them)",
        ),
        Cite("fs/locks.c", "generic_delete_lease", DELEG_VERSION),
    ),
)
def delegation(op: Op, path: str, setattr: bool = False) -> None:
    """nfsd hands out a read delegation of the file, as
    ``nfs4_set_delegation()`` (fs/nfsd/nfs4state.c of 6.17-rc3,
    Kingxukai/linux 0291023e) does: ``kernel_setlease()`` with FL_DELEG ->
    ``generic_add_lease()`` (fs/locks.c, the same tree) takes the inode's
    i_rwsem by ``inode_trylock()`` ("mutual exclusion with a number of
    operations that take the i_rwsem"; held, it answers -EAGAIN and nfsd
    hands out no delegation), inserts the lease in ``flc_lease`` (where
    try_break_deleg() finds it from then on) and drops i_rwsem; then
    ``if (fp->fi_had_conflict) goto out_unlock`` (a break met the lease
    meanwhile: ``nfsd_break_deleg_cb()`` set it; the lease is removed with
    ``kernel_setlease(F_UNLCK)``) and ``hash_delegation_locked()``: the
    client has the delegation and caches the file's ACL and attributes.
    Later the client returns it (DELEGRETURN, on a recall or not), which
    removes the lease and wakes the breakers.  With ``setattr`` the client,
    before it returns the delegation, sends a SETATTR of the file
    (``nfsd4_setattr()``: ``fh_want_write()``, SB_FREEZE_WRITE shared; then
    ``nfsd_setattr()`` takes ``inode_lock(inode)`` for ``notify_change()``,
    whose break of the holder's own delegation breaks nothing,
    ``nfsd4_breaker_owns_lease()``): a breaker that waits for the return
    with i_rwsem held keeps that SETATTR, and so the return, waiting.

    Left out: ``check_conflicting_open()`` (0 for FL_DELEG: "We leave these
    checks to the caller") and ``nfsd4_check_conflicting_opens()`` (the
    writers of the file: setxattr(2), removexattr(2) and setfacl open
    nothing for writing, so ``i_writecount`` stays 0 in these scenarios),
    ``file_rwsem`` and ``flc_lock`` around the insertion (one step; the
    i_rwsem -> flc_lock order is ``mc.models.filelock``'s), the early
    ``fi_had_conflict`` and ``nfs4_delegation_exists()`` checks, the
    ``nfsd4_verify_deleg_dentry()`` lookup and the setuid check, nfsd's
    spinlocks (``state_lock``, ``cl_lock``, ``fi_lock``), the recall
    callback and the laundromat's revocation of a delegation not returned
    in time (the client returns it whenever it likes).  The
    ``fi_had_conflict`` test and the hashing are one step: a break between
    them hands out a delegation already recalled, which the state shows as
    recalled too.  Under ``deleg-skips-inode-trylock`` the lease is
    inserted without the i_rwsem trylock."""
    op.one_thread(
        "hands out a delegation of",
        path,
        "the model keeps one delegation of a file and one client's cache of it, so a "
        "scenario has one delegation thread per file",
    )
    inode = op.inode(path)
    slot = delegation_slot(op.world, inode)
    delegated = delegated_slot(op.world, inode)
    acl = acl_slot(op.world, inode)
    stored = stored_xattrs_slot(op.world, inode)
    op.world.parts.setdefault(DELEGATIONS, {})[str(inode)] = (slot, delegated, acl, stored)
    op.world.parts.setdefault(DELEGATION_HOLDERS, {})[str(inode)] = op.thread.tid
    trylock = not op.variant(DELEG_SKIPS_INODE_TRYLOCK)
    if trylock:
        op.trylock(
            inode.i_rwsem,
            "busy",
            "generic_add_lease(): if (is_deleg && !inode_trylock(inode)) return -EAGAIN",
        )
    op.effect(
        "spin_lock(&ctx->flc_lock); locks_insert_lock_ctx(&lease->c, &ctx->flc_lease); "
        "spin_unlock(&ctx->flc_lock)",
        _insert_lease,
        slot,
    )
    if trylock:
        op.unlock(inode.i_rwsem, "if (is_deleg) inode_unlock(inode)")
    refused = op.compute(
        "refused",
        "status = -EAGAIN; if (fp->fi_had_conflict) goto out_unlock; "
        "status = hash_delegation_locked(dp, fp) /* handed to the client */",
        _hash_delegation,
        slot,
        delegated,
        acl,
        stored,
        render=lambda v: "-EAGAIN" if v else "hashed",
    )
    with op.when(same(refused, const(True)), "if (fp->fi_had_conflict) goto out_unlock"):
        op.effect(
            "out_unlock: kernel_setlease(fp->fi_deleg_file->nf_file, F_UNLCK, NULL, (void **)&dp)",
            _return_delegation,
            slot,
            delegated,
        )
        op.fail(E.EAGAIN, "done", "return ERR_PTR(status)")
    if setattr:
        writers = sb_writers(op.world, SB_FREEZE_WRITE)
        op.lock(
            writers, SHARED, "nfsd4_setattr(): fh_want_write(&cstate->current_fh): mnt_want_write()"
        )
        op.lock(inode.i_rwsem, EXCL, "nfsd_setattr(): inode_lock(inode)")
        op.unlock(
            inode.i_rwsem,
            "__nfsd_setattr(): notify_change(&nop_mnt_idmap, dentry, iap, NULL) /* the "
            "holder's own: nothing to break */; inode_unlock(inode)",
        )
        op.unlock(writers, "fh_drop_write(&cstate->current_fh): mnt_drop_write()")
    op.effect(
        "nfsd4_delegreturn(): destroy_delegation(dp) /* recalled or not */",
        _return_delegation,
        slot,
        delegated,
    )
    if trylock:
        op.goto("done")
        op.label("busy")
        op.fail(E.EAGAIN, "done", "return -EAGAIN /* no delegation handed out */")
    op.label("done")
