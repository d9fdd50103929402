"""Invariants of the kernel's data, checked on every state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from mc.engine.model import Check, declare
from mc.kernel.expr import State
from mc.kernel.vfs import has_loop
from mc.kernel.world import DONE, Built, Dentry, Inode, World, reported_error


@attrs.frozen
class Creator:
    """The thread that may allocate a new inode, and its slots."""

    thread: str
    pc: int
    ret: int


def creators_of(world: World) -> dict[int, Creator]:
    """The inodes threads may allocate (``Op.new_inode``), with their creators."""
    return {ino: Creator(*made) for ino, made in world.creators.items()}


@attrs.frozen
class _Files:
    """What the check of non-directories reads of one world, made once: the
    dentry slots with their paths, and each non-directory with its creator."""

    dentries: tuple[tuple[int, str], ...]
    files: tuple[tuple[Inode, Creator | None], ...]


def _files(world: World) -> _Files:
    creators = creators_of(world)
    return _Files(
        tuple((d.slot, d.path) for d in world.dentries.values()),
        tuple((i, creators.get(i.ino)) for i in world.inodes if not i.is_dir),
    )


def created_violation(
    world: World, state: Sequence[Any], files: _Files | None = None
) -> str | None:
    """What is wrong with the names and link counts of non-directories: each
    one's link count is the number of names it has, unless its i_rwsem is
    held (->rename drops the victim's link before d_move() moves the name,
    both under that lock); an inode made for a name another create then
    took keeps a link and no name: two inodes were made for one name, and a
    create returned success for a name it does not own.  No name points at
    an inode whose create failed."""
    layout = files or _files(world)
    names: dict[int, list[str]] = {}
    for slot, path in layout.dentries:
        ino = state[slot]
        if ino is not None:
            names.setdefault(ino, []).append(path)
    for inode, creator in layout.files:
        named = names.get(inode.ino, [])
        nlink = state[inode.nlink]
        if creator is not None and named and state[creator.pc] == DONE and state[creator.ret]:
            return (
                f"{', '.join(named)} names the inode {creator.thread}'s create made, but that "
                "create returned an error"
            )
        if nlink == len(named) or state[inode.i_rwsem.slot] is not None:
            continue
        if creator is not None and nlink > 0 and not named:
            rivals = [
                other
                for other in world.inodes
                if other is not inode and other.path == inode.path and other.ino in names
            ]
            owner = f"; {inode.path} names another inode" if rivals else ""
            return (
                f"two inodes were made for one name: {creator.thread}'s create of {inode.path} "
                f"made one with {nlink} link(s) and no name{owner}"
            )
        return f"{inode.path} has {nlink} link(s) but {len(named)} name(s)"
    return None


@declare(
    "namespace",
    "the tree stays a tree: no directory is its own ancestor, no directory has two names, "
    "no name lives in a removed directory, no link count goes below 0 or comes back from 0; "
    "every non-directory has as many links as names (no create's inode is lost to another "
    "create of the same name) and no name points at an inode whose create failed",
    reads=["error", "dentry", "S_DEAD", "d_parent", "nlink", "i_rwsem", "returned"],
    needs=("tree", "a directory below /"),
)
def namespace(model: Built) -> Check[State]:
    world = model.world
    directories = [inode for inode in world.inodes if inode.is_dir]
    is_dir = [inode.is_dir for inode in world.inodes]
    layout = [(d.slot, d.parent.dead, d) for d in world.dentries.values()]
    files = _files(world)

    def check(state: State) -> str | None:
        warned = reported_error(state, "namespace")
        if warned is not None:
            return warned
        names: dict[int, Dentry] = {}
        for slot, dead, dentry in layout:
            ino = state[slot]
            if ino is None:
                continue
            if dead is not None and state[dead]:
                name = world.inode_name(ino)
                return f"{dentry.path} names {name} inside removed directory {dentry.parent}"
            if is_dir[ino]:
                if ino in names:
                    name = world.inode_name(ino)
                    first = names[ino].path
                    return f"directory {name} has two names: {first} and {dentry.path}"
                names[ino] = dentry
        for directory in directories:
            if directory.ino in names and has_loop(world, state, directory.ino):
                return f"directory {directory} is its own ancestor"
        return created_violation(world, state, files)

    return check


DEFINITIONS = (namespace,)
"""The invariants of the tree, for the registry."""
