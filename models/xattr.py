"""Extended attributes and POSIX ACLs, from fs/xattr.c, fs/posix_acl.c and
fs/namei.c of Linux 6.12.  The attributes are stored as ext4 stores them
(fs/ext4/xattr.c); ``->get``, ``->listxattr``, ``->permission`` and the
ACLs are FUSE's (fs/fuse/xattr.c, fs/fuse/acl.c, fs/fuse/dir.c), which ask
their server.

``vfs_setxattr()`` and ``vfs_removexattr()`` take the inode's i_rwsem,
break an NFS delegation (``try_break_deleg()``: -EWOULDBLOCK with the lock
dropped, ``break_deleg_wait()``, retry) and call the handler's ``->set``;
``vfs_getxattr()`` calls ``->get`` and ``vfs_listxattr()`` the inode's
``->listxattr``, which asks each handler's ``->list``, both without
i_rwsem.  The filesystem's ``->set`` reads the inode's attribute list in
one step and writes the changed list in the next (ext4_xattr_set_handle()
finds the entry, then ext4_xattr_set_entry() writes it): with ext4's own
``xattr_sem`` left out (below), only i_rwsem keeps two sets from both
writing a list the other has not seen.

ACLs: FUSE marks its inodes ``ACL_DONT_CACHE``, so the walk's permission
check in rcu-walk (``may_lookup()`` -> ``inode_permission()`` ->
``->permission`` -> ``generic_permission()`` -> ``check_acl()`` ->
``get_cached_acl_rcu()``) calls ``->get_inode_acl(inode, type, true)``,
which returns -ECHILD rather than ask the server; ``may_lookup()`` then
leaves rcu-walk (``try_to_unlazy()``) and checks again in ref-walk, where
``__get_acl()`` calls ``->get_inode_acl(inode, type, false)``.  getxattr of
``system.posix_acl_access`` goes to ``vfs_get_acl()`` -> ``__get_acl()``
with the dentry: ``->get_acl``.  ``vfs_set_acl()`` calls ``->set_acl``
under i_rwsem.

A removal sets with XATTR_REPLACE (``__vfs_removexattr()``, fs/xattr.c
of 6.17-rc3, Kingxukai/linux 9b44fff6): ext4_xattr_set_handle() (fs/ext4/xattr.c
of 6.17-rc3, 0291023e) returns -ENODATA for a name neither in the inode
body nor in the block and writes nothing.

Left out: the attribute values (a name is set or not), the flags of
setxattr(2) (XATTR_CREATE/XATTR_REPLACE: the model's sets pass none),
ext4's own ``xattr_sem`` (``ext4_write_lock_xattr()``, which
ext4_xattr_set_handle() holds from before the find to after the write, so
on ext4 two sets are kept apart even without i_rwsem: the lost update
``xattr-lost`` reports under ``setxattr-unlocked`` is that of a filesystem
whose ->set relies on i_rwsem alone, as the locking rules let it), the
journal handle and ``dquot_initialize()`` of ``ext4_xattr_set()``,
security and permission hooks other than ``->permission``, the ACL cache
of filesystems that cache (FUSE does not), ``->set_acl``'s own work (not
a method of the locking rules: one step).  The delegation is one slot: a
lease thread grants it and returns it when recalled.
"""

from __future__ import annotations

from mc.dsl import EXCL, SHARED, Cite, E, Expr, Op, Scratch, World, const, operation, same
from mc.kernel.expr import InodeExpr, state_expr
from mc.models.namei import ECHILD

EWOULDBLOCK = -E.EAGAIN
EXT4_XATTR_VERSION = "6.17-rc3 (Kingxukai/linux 0291023e)"
GRANTED, RECALLED = "granted", "recalled"
XATTRS = "xattrs"
"""The world part of the inodes' extended attributes."""
PERMISSION_BLOCKS_IN_RCU = "permission-blocks-in-rcu"
GET_INODE_ACL_BLOCKS_IN_RCU = "get-inode-acl-blocks-in-rcu"


def _names(names: frozenset[str] | None) -> str:
    return "{" + ", ".join(sorted(names or ())) + "}"


def xattr_slots(world: World, inode: InodeExpr) -> tuple[int, int]:
    """The inode's attribute names as stored, and as the sets and removals
    that returned made them (in the order they wrote); the world part
    ``XATTRS`` (what ``xattr-lost`` needs) maps the inode to the two."""
    slots = (
        world.shared_slot(f"xattrs({inode})", frozenset(), _names),
        world.shared_slot(f"xattrs-set({inode})", frozenset(), _names),
    )
    world.parts.setdefault(XATTRS, {})[str(inode)] = slots
    return slots


def delegation_slot(world: World, inode: InodeExpr) -> int:
    """An NFS read delegation on the inode: None, granted or recalled."""
    return world.shared_slot(f"delegation({inode})", None, lambda v: v or "none")


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


def handler_set(op: Op, inode: InodeExpr, name: str, remove: bool) -> None:
    """``handler->set()``: the filesystem reads the list, then writes it.
    A removal is ``handler->set(..., NULL, 0, XATTR_REPLACE)``
    (``__vfs_removexattr()``): ext4_xattr_set_handle() finds no entry of a
    name the list does not hold, returns -ENODATA and writes nothing."""
    op.enter(
        "xattr_handler.set",
        inode,
        name,
        label="handler->set(handler, idmap, dentry, inode, name, value, size, flags)"
        + (" /* value NULL, XATTR_REPLACE: remove */" if remove else ""),
        roles={"inode": inode},
    )
    stored, made = xattr_slots(op.world, inode)
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
        write_xattrs,
        stored,
        made,
        seen,
        name,
        remove,
        sleeps=True,
    )
    op.label(cleanup)


def _setxattr_locked(op: Op, path: str, name: str, remove: bool) -> None:
    """vfs_setxattr()/vfs_removexattr(): i_rwsem, the delegation, ->set."""
    inode = op.inode(path)
    slot = delegation_slot(op.world, inode)
    op.label("retry_deleg")
    op.lock(inode.i_rwsem, EXCL, "retry_deleg: inode_lock(inode)", tag="xattr-lock")
    broke = op.compute(
        "deleg",
        "error = try_break_deleg(inode, &delegated_inode)",
        try_break_deleg,
        slot,
        render=E.render,
    )
    op.goto_if(same(broke, const(EWOULDBLOCK)), "deleg", "if (error) goto out_unlock")
    handler_set(op, inode, name, remove)
    op.unlock(inode.i_rwsem, "inode_unlock(inode)", tag="xattr-lock")
    op.goto("out")
    op.label("deleg")
    op.unlock(inode.i_rwsem, "out_unlock: inode_unlock(inode)", tag="xattr-lock")
    op.wait_until(
        state_expr(f"!delegation({inode})", lambda state: state[slot] is None),
        "if (delegated_inode) error = break_deleg_wait(&delegated_inode)",
        "the delegation's return",
    )
    op.goto("retry_deleg")
    op.label("out")


@operation(
    models="setxattr(2) -> path_setxattr() -> vfs_setxattr() (fs/xattr.c)",
    describe=lambda path, name: f"setxattr({path}, {name})",
    cites=(
        Cite("fs/xattr.c", "vfs_setxattr", "6.12"),
        Cite("fs/xattr.c", "__vfs_setxattr_locked", "6.12"),
        Cite("fs/xattr.c", "__vfs_setxattr", "6.12"),
    ),
)
def setxattr(op: Op, path: str, name: str) -> None:
    """vfs_setxattr(): ``inode_lock(inode)``, __vfs_setxattr_locked()
    (try_break_deleg(), then __vfs_setxattr() -> ``handler->set``),
    ``inode_unlock(inode)``; a recalled delegation is waited for with the
    lock dropped, then the set is retried."""
    _setxattr_locked(op, path, name, remove=False)


@operation(
    models="removexattr(2) -> path_removexattr() -> vfs_removexattr() (fs/xattr.c)",
    describe=lambda path, name: f"removexattr({path}, {name})",
    cites=(
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
    """vfs_removexattr(): as vfs_setxattr(), and __vfs_removexattr() calls
    ``handler->set(..., NULL, 0, XATTR_REPLACE)`` (the same in 6.17-rc3,
    Kingxukai/linux 9b44fff6); for a name the inode does not hold,
    ext4_xattr_set_handle() returns -ENODATA (``if (is.s.not_found &&
    bs.s.not_found) { error = -ENODATA; if (flags & XATTR_REPLACE) goto
    cleanup; }``) and writes nothing."""
    _setxattr_locked(op, path, name, remove=True)


def handler_get(scratch: Scratch, inode: int, stored: int, name: str) -> int:
    """fuse_xattr_get() -> fuse_getxattr(): FUSE_GETXATTR to the server;
    -ENODATA for a name not set."""
    return 0 if name in scratch[stored] else -E.ENODATA


@operation(
    models="getxattr(2) -> path_getxattr() -> vfs_getxattr() (fs/xattr.c)",
    describe=lambda path, name: f"getxattr({path}, {name})",
    cites=(
        Cite("fs/xattr.c", "vfs_getxattr", "6.12"),
        Cite("fs/xattr.c", "__vfs_getxattr", "6.12"),
    ),
)
def getxattr(op: Op, path: str, name: str) -> None:
    """vfs_getxattr(): xattr_permission(), then __vfs_getxattr() ->
    ``handler->get`` without i_rwsem."""
    inode = op.inode(path)
    stored, _ = xattr_slots(op.world, inode)
    op.call(
        "xattr_handler.get",
        handler_get,
        inode,
        stored,
        name,
        label="return handler->get(handler, dentry, inode, name, value, size)",
        roles={"inode": inode},
    )


def handler_list(scratch: Scratch, inode: int) -> int:
    """The user handler's ``->list``: whether its names are listed."""
    return 0


def fuse_listxattr(scratch: Scratch, inode: int, stored: int) -> int:
    """fuse_listxattr(): FUSE_LISTXATTR to the server: the names' count."""
    return len(scratch[stored])


@operation(
    models="listxattr(2) -> path_listxattr() -> vfs_listxattr() (fs/xattr.c)",
    describe=lambda path: f"listxattr({path})",
    cites=(
        Cite("fs/xattr.c", "vfs_listxattr", "6.12"),
        Cite("fs/xattr.c", "generic_listxattr", "6.12"),
        Cite("fs/xattr.c", "xattr_list_one", "6.12"),
    ),
)
def listxattr(op: Op, path: str) -> None:
    """vfs_listxattr(): ``inode->i_op->listxattr(dentry, list, size)``
    without i_rwsem; the filesystem's list asks each handler's ``->list``
    (generic_listxattr(): ``xattr_handler_can_list()``) whether its names
    are shown, then the server for the names."""
    inode = op.inode(path)
    stored, _ = xattr_slots(op.world, inode)
    op.enter(
        "inode_operations.listxattr",
        inode,
        label="error = inode->i_op->listxattr(dentry, list, size)",
        roles={"inode": inode},
    )
    op.call(
        "xattr_handler.list",
        handler_list,
        inode,
        label="xattr_handler_can_list(handler, dentry): handler->list(dentry)",
        roles={"inode": inode},
        sleeps=False,
    )
    op.compute(
        "names",
        "fuse_listxattr(): fuse_simple_request(fm, &args) /* FUSE_LISTXATTR */",
        fuse_listxattr,
        inode,
        stored,
    )


# --- ACLs and ->permission in the path walk ---------------------------------


def fuse_get_inode_acl_rcu(scratch: Scratch, inode: int) -> int:
    """fuse_get_inode_acl(inode, type, rcu): ``if (rcu) return
    ERR_PTR(-ECHILD)``."""
    return ECHILD


def fuse_get_inode_acl(scratch: Scratch, inode: int, acl: int) -> int:
    """fuse_get_inode_acl() -> fuse_get_acl_type(): FUSE_GETXATTR of
    system.posix_acl_access to the server (sleeps); access granted."""
    return 0


def fuse_get_acl(scratch: Scratch, inode: int, acl: int) -> int:
    """fuse_get_acl() -> fuse_get_acl_type(): the ACL from the server."""
    return 0


def fuse_permission(scratch: Scratch, inode: int) -> int:
    """fuse_permission() with fresh attributes: no fuse_perm_getattr()."""
    return 0


def _permission(op: Op, directory: InodeExpr, rcu: bool) -> None:
    """inode_permission() -> do_inode_permission() -> ``->permission``
    (fuse_permission() -> generic_permission() -> acl_permission_check()
    -> check_acl()): in rcu-walk (MAY_NOT_BLOCK) the ACL comes from
    get_cached_acl_rcu(), which calls ``->get_inode_acl(inode, type,
    LOOKUP_RCU)`` for ACL_DONT_CACHE and returns -ECHILD while the ACL is
    uncached; in ref-walk from get_inode_acl() -> __get_acl() ->
    ``->get_inode_acl(inode, type, false)``."""
    mode = "MAY_NOT_BLOCK" if rcu else "ref-walk"
    refresh = rcu and op.variant(PERMISSION_BLOCKS_IN_RCU)
    op.enter(
        "inode_operations.permission",
        directory,
        label=f"return inode->i_op->permission(idmap, inode, mask) /* {mode} */",
        roles={"inode": directory},
        sleeps=not rcu or refresh,
    )
    if refresh:
        op.call(
            "inode_operations.getattr",
            fuse_permission,
            directory,
            label="fuse_permission(): err = fuse_perm_getattr(inode, mask) /* asks the server */",
            roles={"inode": directory},
        )
    acl = acl_slot(op.world, directory)
    if rcu:
        blocks = op.variant(GET_INODE_ACL_BLOCKS_IN_RCU)
        op.call(
            "inode_operations.get_inode_acl",
            fuse_get_inode_acl if blocks else fuse_get_inode_acl_rcu,
            directory,
            *((acl,) if blocks else ()),
            label="get_cached_acl_rcu(): ret = inode->i_op->get_inode_acl(inode, type, LOOKUP_RCU)",
            roles={"inode": directory},
            sleeps=blocks,
        )
    else:
        op.call(
            "inode_operations.get_inode_acl",
            fuse_get_inode_acl,
            directory,
            acl,
            label="__get_acl(): acl = inode->i_op->get_inode_acl(inode, type, false)",
            roles={"inode": directory},
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
        Cite("fs/posix_acl.c", "__get_acl", "6.12"),
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
    """fuse_set_acl(): FUSE_SETXATTR of the new ACL to the server."""
    scratch[acl] = scratch[acl] + 1


@operation(
    models="setxattr(2) of system.posix_acl_access -> vfs_set_acl() (fs/posix_acl.c)",
    describe=lambda path: f"setfacl({path})",
    cites=(Cite("fs/posix_acl.c", "vfs_set_acl", "6.12"),),
)
def setfacl(op: Op, path: str) -> None:
    """vfs_set_acl(): ``inode_lock(inode)``, try_break_deleg(),
    ``inode->i_op->set_acl(idmap, dentry, kacl, acl_type)``,
    ``inode_unlock(inode)``."""
    inode = op.inode(path)
    op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)", tag="acl-lock")
    op.effect(
        "error = inode->i_op->set_acl(idmap, dentry, kacl, acl_type)",
        set_acl,
        acl_slot(op.world, inode),
        sleeps=True,
    )
    op.unlock(inode.i_rwsem, "inode_unlock(inode)", tag="acl-lock")


@operation(
    models="getxattr(2) of system.posix_acl_access -> vfs_get_acl() (fs/posix_acl.c)",
    describe=lambda path: f"getfacl({path})",
    cites=(
        Cite("fs/xattr.c", "vfs_getxattr", "6.12"),
        Cite("fs/posix_acl.c", "vfs_get_acl", "6.12"),
        Cite("fs/posix_acl.c", "__get_acl", "6.12"),
    ),
)
def getfacl(op: Op, path: str) -> None:
    """vfs_getxattr() -> vfs_get_acl() -> __get_acl() with the dentry: the
    ACL is not cached (ACL_DONT_CACHE), so ``->get_acl(idmap, dentry,
    type)``, without i_rwsem."""
    inode = op.inode(path)
    op.call(
        "inode_operations.get_acl",
        fuse_get_acl,
        inode,
        acl_slot(op.world, inode),
        label="__get_acl(): acl = inode->i_op->get_acl(idmap, dentry, type)",
        roles={"inode": inode},
    )


@operation(
    models="nfsd: generic_setlease() of a read delegation; DELEGRETURN (fs/locks.c)",
    describe=lambda path: f"delegation({path})",
    cites=(
        Cite("fs/locks.c", "generic_setlease", "6.12"),
        Cite("fs/locks.c", "__break_lease", "6.12"),
    ),
)
def delegation(op: Op, path: str) -> None:
    """A read delegation granted on the file, then returned (on recall,
    or when the client is done with it)."""
    inode = op.inode(path)
    slot = delegation_slot(op.world, inode)

    def grant(scratch: Scratch, slot: int) -> None:
        scratch[slot] = GRANTED

    def give_back(scratch: Scratch, slot: int) -> None:
        scratch[slot] = None

    op.effect("generic_setlease(): the delegation is granted", grant, slot)
    op.effect("nfsd4_delegreturn(): destroy_delegation() /* recalled or not */", give_back, slot)
