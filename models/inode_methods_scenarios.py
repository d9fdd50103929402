"""Scenarios of the remaining inode methods (``inode/``) and the protocol
variants they catch."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, Invocation, Program, flag_variant, scenario
from mc.dsl import variant as protocol_variant
from mc.kernel import properties as _properties  # noqa: F401  (registers the invariants)
from mc.models.dirops import unlink
from mc.models.inode_methods import (
    ATOMIC_OPEN_SHARED,
    GET_LINK_BLOCKS_IN_RCU,
    fiemap,
    follow,
    getflags,
    lseek_dir,
    open_creat,
    readlink,
    setflags,
    tmpfile,
)

PROPERTIES = (*BASE_PROPERTIES, "namespace")

flag_variant(
    GET_LINK_BLOCKS_IN_RCU,
    "fuse_get_link() asks its server for the link (and sleeps) when called with a NULL dentry "
    "in rcu-walk instead of returning -ECHILD",
)
flag_variant(
    ATOMIC_OPEN_SHARED,
    "open_last_lookups() takes the directory's i_rwsem shared for O_CREAT too, so two "
    "->atomic_open calls may create one name",
)


@protocol_variant(
    "fileattr-set-unlocked",
    "vfs_fileattr_set() reads the old flags and calls ->fileattr_set without the inode's i_rwsem",
)
def fileattr_set_unlocked(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not setflags:
        return program
    return program.drop(lambda step: "fileattr-lock" in step.tags)


scenario(
    "inode/symlink",
    "a walk following a symbolic link (->get_link in rcu-walk, then ref-walk) racing a "
    "readlink(2) of it and its unlink, and the FIEMAP ioctl on another file",
    tree=["/a/", "/a/l", "/a/t"],
    threads=[follow("/a/l"), readlink("/a/l"), unlink("/a/l"), fiemap("/a/t")],
    properties=PROPERTIES,
)

scenario(
    "inode/open-creat",
    "two open(O_CREAT)s of one name through ->atomic_open, and an O_TMPFILE open in the directory",
    tree=["/a/"],
    threads=[open_creat("/a/f"), open_creat("/a/f"), tmpfile("/a")],
    properties=PROPERTIES,
)

scenario(
    "inode/fileattr",
    "FS_IOC_SETFLAGS and FS_IOC_GETFLAGS on one file, racing lseek(2) to 0 on its directory",
    tree=["/a/", "/a/f"],
    threads=[setflags("/a/f"), getflags("/a/f"), lseek_dir("/a")],
    properties=PROPERTIES,
)
