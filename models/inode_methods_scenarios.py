"""Scenarios of the remaining inode methods (``inode/``) and the protocol
variants they catch."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, Invocation, Program, State, flag_variant, invariant, scenario
from mc.dsl import variant as protocol_variant
from mc.dsl.kernel_model import KernelModel
from mc.engine.model import Check
from mc.kernel import properties as _properties  # noqa: F401  (registers the invariants)
from mc.models.dirops import rmdir, unlink
from mc.models.inode_methods import (
    ATOMIC_OPEN_SHARED,
    GET_LINK_BLOCKS_IN_RCU,
    TMPFILE_NAMES_ITS_DENTRY,
    fiemap,
    follow,
    getflags,
    open_creat,
    readdir_offsets,
    readlink,
    setflags,
    tmpfile,
    tmpfile_inodes,
)

PROPERTIES = (*BASE_PROPERTIES, "namespace")
TMPFILE_UNNAMED = "tmpfile-unnamed"

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
    properties=(*PROPERTIES, TMPFILE_UNNAMED),
)

scenario(
    "inode/open-creat-vs-rmdir",
    "an open(O_CREAT) through ->atomic_open in a directory racing the directory's rmdir: "
    "lookup_open() gives -ENOENT once the directory is dead",
    tree=["/a/", "/a/b/"],
    threads=[rmdir("/a/b"), open_creat("/a/b/f")],
    properties=PROPERTIES,
)

scenario(
    "inode/fileattr",
    "FS_IOC_SETFLAGS and FS_IOC_GETFLAGS on one file, racing getdents64(2) of its directory",
    tree=["/a/", "/a/f"],
    threads=[setflags("/a/f"), getflags("/a/f"), readdir_offsets("/a")],
    properties=PROPERTIES,
)

flag_variant(
    TMPFILE_NAMES_ITS_DENTRY,
    "the filesystem's ->tmpfile gives the new inode a name in the directory (d_instantiate() "
    "of a hashed dentry, as a create does) instead of d_tmpfile(), with no i_rwsem held",
)


@invariant(
    TMPFILE_UNNAMED,
    "no name refers to an inode ->tmpfile made (before linkat(), which no scenario does): "
    "vfs_tmpfile() calls ->tmpfile without the directory's i_rwsem because it adds no name",
    reads=["dentry"],
    needs=("tmpfile", "an O_TMPFILE open (->tmpfile)"),
)
def tmpfile_unnamed(model: KernelModel) -> Check[State]:
    world = model.world
    made = tmpfile_inodes(world)
    named = [(d.path, d.slot) for d in world.dentries.values()]

    def check(state: State) -> str | None:
        for path, slot in named:
            if state[slot] in made:
                return f"{path} names the O_TMPFILE inode {world.inode_name(state[slot])}"
        return None

    return check


scenario(
    "inode/tmpfile-vs-create",
    "an O_TMPFILE open in a directory racing an open(O_CREAT) of a name in it",
    tree=["/a/"],
    threads=[tmpfile("/a"), open_creat("/a/f")],
    properties=(*PROPERTIES, TMPFILE_UNNAMED),
)
