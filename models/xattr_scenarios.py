"""Extended-attribute and ACL scenarios (``xattr/``), the invariant that
says what the inode's i_rwsem protects in them, and the protocol variants
they catch."""

from __future__ import annotations

from collections.abc import Callable

from mc.dsl import BASE_PROPERTIES, Invocation, Program, State, flag_variant, invariant, scenario
from mc.dsl import variant as protocol_variant
from mc.dsl.kernel_model import KernelModel
from mc.models.xattr import (
    GET_INODE_ACL_BLOCKS_IN_RCU,
    PERMISSION_BLOCKS_IN_RCU,
    XATTRS,
    delegation,
    getfacl,
    getxattr,
    listxattr,
    removexattr,
    setfacl,
    setxattr,
    walk,
)

XATTR_LOST = "xattr-lost"


@invariant(
    XATTR_LOST,
    "an inode's stored extended attributes are those its sets and removals made, in the order "
    "they wrote: no set is lost to a concurrent set (the inode's i_rwsem)",
    needs=(XATTRS, "an inode's extended attributes"),
)
def xattr_lost(model: KernelModel) -> Callable[[State], str | None]:
    slots = model.world.slots
    pairs = [
        (slots[number].name[len("xattrs(") : -1], number, made)
        for number, slot in enumerate(slots)
        if slot.name.startswith("xattrs(")
        for made, other in enumerate(slots)
        if other.name == f"xattrs-set{slot.name[len('xattrs') :]}"
    ]

    def check(state: State) -> str | None:
        for path, stored, made in pairs:
            if state[stored] != state[made]:
                lost = sorted(state[made] - state[stored]) + sorted(state[stored] - state[made])
                return (
                    f"{path} stores the attributes {sorted(state[stored])}, but the sets and "
                    f"removals that wrote made {sorted(state[made])}: {', '.join(lost)} lost"
                )
        return None

    return check


XATTR_PROPERTIES = (*BASE_PROPERTIES, "namespace", XATTR_LOST)


@protocol_variant(
    "setxattr-unlocked",
    "vfs_setxattr() calls handler->set without the inode's i_rwsem",
    waives=["xattr_handler.set i_rwsem(inode)"],
)
def setxattr_unlocked(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not setxattr:
        return program
    return program.drop(lambda step: "xattr-lock" in step.tags)


@protocol_variant(
    "removexattr-unlocked", "vfs_removexattr() calls handler->set without the inode's i_rwsem"
)
def removexattr_unlocked(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not removexattr:
        return program
    return program.drop(lambda step: "xattr-lock" in step.tags)


flag_variant(
    PERMISSION_BLOCKS_IN_RCU,
    "fuse_permission() refreshes invalidated attributes from its server (fuse_perm_getattr() "
    "without its MAY_NOT_BLOCK test: FUSE_GETATTR, which sleeps) in rcu-walk instead of "
    "returning -ECHILD",
)
flag_variant(
    GET_INODE_ACL_BLOCKS_IN_RCU,
    "the filesystem marks its inodes ACL_DONT_CACHE (as overlayfs does, and FUSE without "
    "FUSE_POSIX_ACL) and its ->get_inode_acl asks its server for the ACL (and sleeps) when "
    "get_cached_acl_rcu() calls it with rcu == true, instead of returning -ECHILD",
)

scenario(
    "xattr/two-sets",
    "two setxattr(2)s of different names on one file, racing a listxattr(2)",
    tree=["/a/", "/a/f"],
    threads=[setxattr("/a/f", "user.a"), setxattr("/a/f", "user.b"), listxattr("/a/f")],
    properties=XATTR_PROPERTIES,
)

scenario(
    "xattr/remove-deleg",
    "a setxattr(2) and a removexattr(2) of one name on a file an NFS client holds a delegation "
    "of, racing a getxattr(2)",
    tree=["/a/", "/a/f"],
    threads=[
        setxattr("/a/f", "user.a"),
        removexattr("/a/f", "user.a"),
        delegation("/a/f"),
        getxattr("/a/f", "user.a"),
    ],
    properties=XATTR_PROPERTIES,
)

scenario(
    "xattr/acl-walk",
    "a path walk checking exec permission in rcu-walk on a FUSE directory whose ACL is not "
    "cached yet, racing a setfacl (which forgets the cached ACL and invalidates the "
    "attributes) and a getfacl (which caches it) of that directory",
    tree=["/a/", "/a/f"],
    threads=[walk("/a/f"), setfacl("/a"), getfacl("/a")],
    properties=(*BASE_PROPERTIES, "namespace"),
)

scenario(
    "xattr/setfacl-deleg",
    "a setfacl of a file an NFS client holds a delegation of, racing a getfacl of it",
    tree=["/a/", "/a/f"],
    threads=[setfacl("/a/f"), delegation("/a/f"), getfacl("/a/f")],
    properties=(*BASE_PROPERTIES, "namespace"),
)
