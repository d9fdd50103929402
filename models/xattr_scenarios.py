"""Extended-attribute and ACL scenarios (``xattr/``), the invariants that
say what the inode's i_rwsem protects in them (a set from a concurrent
set, and from nfsd handing out a delegation between its break and its
write), and the protocol variants they catch."""

from __future__ import annotations

from collections.abc import Callable

from mc.dsl import BASE_PROPERTIES, Invocation, Program, State, flag_variant, invariant, scenario
from mc.dsl import variant as protocol_variant
from mc.dsl.kernel_model import KernelModel
from mc.kernel.pagecache import File
from mc.kernel.superblock import NO_WRITE_WHILE_FROZEN
from mc.models.mnt_write import WANT_WRITE_TAG
from mc.models.super import freeze, thaw
from mc.models.super_scenarios import ignores_freeze
from mc.models.xattr import (
    ACL_WALK_READS_AN_ACL,
    ACLS,
    DELEG_SKIPS_INODE_TRYLOCK,
    DELEGATIONS,
    EXT4_SET_TAKES_XATTR_SEM,
    GET_ACL_CACHES_UNCONDITIONALLY,
    GET_INODE_ACL_BLOCKS_IN_RCU,
    GRANTED,
    PERMISSION_BLOCKS_IN_RCU,
    SETFACL_WITHOUT_DELEG_BREAK,
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
    reads=["xattrs", "xattrs-set"],
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


DELEG_VS_XATTR = "deleg-vs-xattr"


@invariant(
    DELEG_VS_XATTR,
    "while a client holds a delegation of a file that was not recalled, the file's ACL and "
    "extended attributes stay as they were when it was handed out: setxattr(2), "
    "removexattr(2) and setfacl break the delegation (try_break_deleg() under the inode's "
    "i_rwsem, which nfsd's generic_add_lease() trylocks) before they change them; a change "
    "under a granted delegation is a lost recall",
    reads=["delegation", "delegated", "acl", "xattrs"],
    needs=(
        DELEGATIONS,
        "a thread running mc.models.xattr's delegation(path), which caches the file's ACL and "
        "attributes",
    ),
)
def deleg_vs_xattr(model: KernelModel) -> Callable[[State], str | None]:
    delegations = sorted(model.world.parts.get(DELEGATIONS, {}).items())

    def check(state: State) -> str | None:
        for path, (slot, delegated, acl, stored) in delegations:
            if state[slot] != GRANTED:
                continue
            cached_acl, cached_names = state[delegated]
            changed = []
            if state[acl] != cached_acl:
                changed.append(f"its ACL is v{state[acl]}, not v{cached_acl}")
            if state[stored] != cached_names:
                changed.append(
                    f"its attributes are {sorted(state[stored])}, not {sorted(cached_names)}"
                )
            if changed:
                return (
                    f"{path} changed under a granted delegation that was not recalled: "
                    f"{'; '.join(changed)} as the client caches them"
                )
        return None

    return check


ACL_CACHE_FRESH = "acl-cache-fresh"


@invariant(
    ACL_CACHE_FRESH,
    "once every thread has returned, an inode's cached ACL (inode->i_acl) is the one its "
    "filesystem stores, or none is cached: a fetch that a forget_cached_acl() overtook "
    "(a setfacl) does not cache the ACL it fetched before (__get_acl()'s sentinel)",
    reads=["i_acl", "acl"],
    terminal=True,
    needs=(ACLS, "an inode's cached ACL"),
)
def acl_cache_fresh(model: KernelModel) -> Callable[[State], str | None]:
    slots = model.world.slots
    pairs = [
        (slot.name[len("i_acl(") : -1], number, stored)
        for number, slot in enumerate(slots)
        if slot.name.startswith("i_acl(")
        for stored, other in enumerate(slots)
        if other.name == slot.name[len("i_") :]
    ]

    def check(state: State) -> str | None:
        for inode, cached, stored in pairs:
            if isinstance(state[cached], int) and state[cached] != state[stored]:
                return (
                    f"i_acl({inode}) caches ACL v{state[cached]}, but the filesystem stores "
                    f"v{state[stored]}: a stale ACL stays cached"
                )
        return None

    return check


XATTR_PROPERTIES = (*BASE_PROPERTIES, "namespace", XATTR_LOST)
FROZEN_FILE = File("/f", pages=1, cached=(0,))
"""The file the freezer writes back (a freeze syncs the filesystem)."""


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
    "removexattr-unlocked",
    "vfs_removexattr() calls handler->set without the inode's i_rwsem",
    waives=["xattr_handler.set i_rwsem(inode)"],
)
def removexattr_unlocked(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not removexattr:
        return program
    return program.drop(lambda step: "xattr-lock" in step.tags)


@protocol_variant(
    "xattr-deleg-wait-under-i_rwsem",
    "vfs_setxattr(), vfs_removexattr() and vfs_set_acl() wait for the recalled delegation "
    "(break_deleg_wait()) before inode_unlock(): the holder's SETATTR waits for that i_rwsem "
    "(a deadlock here; in the kernel a stall until nfsd's laundromat revokes the delegation)",
)
def xattr_deleg_wait_under_i_rwsem(program: Program, invocation: Invocation) -> Program:
    if not any(invocation.runs(operation) for operation in (setxattr, removexattr, setfacl)):
        return program
    unlocks = [step for step in program.steps if step.label == "out_unlock: inode_unlock(inode)"]
    waits = [
        step
        for step in program.steps
        if step.label == "if (delegated_inode) error = break_deleg_wait(&delegated_inode)"
    ]
    for unlock, wait in zip(unlocks, waits, strict=True):
        program = program.swap(unlock, wait)
    return program


flag_variant(
    PERMISSION_BLOCKS_IN_RCU,
    "fuse_permission() refreshes invalidated attributes from its server (fuse_perm_getattr() "
    "without its MAY_NOT_BLOCK test: FUSE_GETATTR, which sleeps) in rcu-walk instead of "
    "returning -ECHILD",
)
flag_variant(
    SETFACL_WITHOUT_DELEG_BREAK,
    "vfs_set_acl() calls set_posix_acl() under the inode's i_rwsem without try_break_deleg(): "
    "the ACL changes while a client holds a delegation of the file",
)
flag_variant(
    DELEG_SKIPS_INODE_TRYLOCK,
    "generic_add_lease() inserts nfsd's delegation without inode_trylock(): it is handed out "
    "while a setfacl or setxattr(2) holds the inode's i_rwsem past its try_break_deleg()",
)
flag_variant(
    EXT4_SET_TAKES_XATTR_SEM,
    "the filesystem's ->set is ext4's: ext4_xattr_set_handle() finds and writes the attribute "
    "under xattr_sem for writing (ext4_write_lock_xattr()), inside the inode's i_rwsem; the "
    "shipped ->set relies on i_rwsem alone, as the locking rules let a filesystem",
)
flag_variant(
    GET_ACL_CACHES_UNCONDITIONALLY,
    "__get_acl() caches the ACL it fetched with set_cached_acl() instead of try_cmpxchg() on "
    "its sentinel: a forget_cached_acl() (a setfacl) that came in between is undone",
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
    properties=(*XATTR_PROPERTIES, DELEG_VS_XATTR),
)

scenario(
    "xattr/remove-deleg-setattr",
    "a removexattr(2) of a file an NFS client holds a delegation of; the client sends a "
    "SETATTR of the file before it returns the delegation",
    tree=["/a/", "/a/f"],
    threads=[removexattr("/a/f", "user.a"), delegation("/a/f", True)],
    properties=(*XATTR_PROPERTIES, DELEG_VS_XATTR),
)


ignores_freeze(
    "setxattr-ignores-freeze",
    "filename_setxattr() does not take mnt_want_write(): the set runs on a frozen filesystem",
    setxattr,
    WANT_WRITE_TAG,
)


scenario(
    "xattr/freeze-vs-setxattr",
    "a setxattr(2) racing FIFREEZE, FITHAW once the freeze returned: ext4 journals the set, "
    "metadata a frozen filesystem must not have uncommitted",
    tree=["/f", "/a/", "/a/f"],
    threads=[setxattr("/a/f", "user.a"), freeze(FROZEN_FILE), thaw(FROZEN_FILE)],
    properties=(*XATTR_PROPERTIES, NO_WRITE_WHILE_FROZEN),
)

scenario(
    "xattr/acl-walk",
    "a path walk checking exec permission in rcu-walk on a FUSE directory whose ACL is not "
    "cached yet, racing a setfacl (which forgets the cached ACL and invalidates the "
    "attributes) and a getfacl (which caches it) of that directory",
    tree=["/a/", "/a/f"],
    threads=[walk("/a/f"), setfacl("/a"), getfacl("/a")],
    properties=(*BASE_PROPERTIES, "namespace", ACL_CACHE_FRESH, ACL_WALK_READS_AN_ACL),
)

scenario(
    "xattr/setfacl-deleg",
    "a setfacl of a file an NFS client holds a delegation of, racing a getfacl of it",
    tree=["/a/", "/a/f"],
    threads=[setfacl("/a/f"), delegation("/a/f"), getfacl("/a/f")],
    properties=(*BASE_PROPERTIES, "namespace", DELEG_VS_XATTR, ACL_CACHE_FRESH),
)
