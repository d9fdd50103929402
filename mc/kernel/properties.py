"""Invariants of the kernel's data, checked on every state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

from mc.engine.model import Check, declare
from mc.kernel.expr import State
from mc.kernel.vfs import has_loop
from mc.kernel.world import DONE, ERROR_SLOT, Built, Dentry, Inode, World, reported_error


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
    made: tuple[tuple[Inode, Creator], ...]
    """The directories a thread may make, with their creators."""
    sole: frozenset[str]
    """The threads that may make one inode and run no other body
    (``World.composed``), whose return value is its create's (one that
    runs a create twice, or a create and then another operation, returns
    the last one's)."""


def _files(world: World) -> _Files:
    creators = creators_of(world)
    made = Counter(creator.thread for creator in creators.values())
    return _Files(
        tuple((d.slot, d.path) for d in world.dentries.values()),
        tuple((i, creators.get(i.ino)) for i in world.inodes if not i.is_dir),
        tuple((i, creators[i.ino]) for i in world.inodes if i.is_dir and i.ino in creators),
        frozenset(
            thread for thread, count in made.items() if count == 1 and thread not in world.composed
        ),
    )


def created_violation(
    world: World, state: Sequence[Any], files: _Files | None = None
) -> str | None:
    """What is wrong with the names and link counts of non-directories: each
    one's link count is the number of names it has, except while a rename
    is between dropping its link and moving the name over it (one link
    fewer than names then; ->rename
    drops the victim's link before d_move() moves the name, both under the
    victim's i_rwsem and the parents': the one step of the shipped
    operations that changes a link count without the names; a protocol
    without the victim's lock still has this window, which only a thread
    acting in it can exploit); an inode made for a name another create then
    took keeps a link and no name: two inodes were made for one name, and a
    create returned success for a name it does not own; so does a directory
    a mkdir made, once another took its name (rmdir drops a directory's
    links with its name).  No name points at an inode whose create failed
    (of a thread that runs one create and nothing else: one that runs
    more returns the last body's answer)."""
    layout = files or _files(world)
    names: dict[int, list[str]] = {}
    for slot, path in layout.dentries:
        ino = state[slot]
        if ino is not None:
            names.setdefault(ino, []).append(path)
    for inode, creator in layout.files:
        named = names.get(inode.ino, [])
        nlink = state[inode.nlink]
        sole = creator if creator is not None and creator.thread in layout.sole else None
        if sole is not None and named and state[sole.pc] == DONE and state[sole.ret]:
            return (
                f"{', '.join(named)} names the inode {sole.thread}'s create made, but that "
                "create returned an error"
            )
        if nlink == len(named):
            continue
        in_window = nlink == len(named) - 1
        if in_window and inode.renamed_over is not None and state[inode.renamed_over]:
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
    for inode, creator in layout.made:
        nlink = state[inode.nlink]
        if nlink and inode.ino not in names:
            return (
                f"two inodes were made for one name: {creator.thread}'s mkdir of {inode.path} "
                f"made a directory with {nlink} link(s) and no name"
            )
    return None


@declare(
    "namespace",
    "the tree stays a tree: no directory is its own ancestor, no directory has two names, "
    "no name lives in a removed directory, no link count goes below 0 or comes back from 0; "
    "every non-directory has as many links as names (no create's inode is lost to another "
    "create of the same name), no directory a mkdir made is left with links and no name, "
    "and no name points at an inode whose create failed",
    reads=lambda model: namespace_reads(model.world),
    needs=("tree", "a directory below / or an operation that changes names"),
)
def namespace(model: Built) -> Check[State]:
    return namespace_check(model.world)


def namespace_check(world: World) -> Check[State]:
    """The check of ``namespace`` on whole states (the search remembers
    its answers by what it declares it reads, ``mc.engine.invariants``)."""
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


def namespace_slots(world: World) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """What ``namespace_check`` reads of a state: the slots whose values it
    reads (the error slot, every dentry, the removed flag of each
    dentry's directory, each directory's ``d_parent``, the link count of
    each non-directory and of each directory a thread may make, each
    non-directory's ``renamed_over``), and the program counter and return
    value of each creating thread (read only once it has returned)."""
    slots = {ERROR_SLOT}
    for dentry in world.dentries.values():
        slots.add(dentry.slot)
        if dentry.parent.dead is not None:
            slots.add(dentry.parent.dead)
    creators = creators_of(world)
    for inode in world.inodes:
        if inode.is_dir:
            if inode.d_parent is not None:
                slots.add(inode.d_parent)
            if inode.ino in creators:
                slots.add(inode.nlink)
        else:
            slots.add(inode.nlink)
            if inode.renamed_over is not None:
                slots.add(inode.renamed_over)
    returned = tuple((c.pc, c.ret) for c in creators.values())
    return tuple(sorted(slots)), returned


def namespace_reads(world: World) -> list[str]:
    """``namespace_slots`` by name, as ``reads=`` declares them: no lock
    and no link count of a directory of the tree is among them, so the
    steps that take an i_rwsem or count a directory's subdirectories change
    nothing the check reads (partial-order reduction may leave their
    interleavings out), but where a subdirectory is made in a directory a
    thread makes."""
    slots, _creators = namespace_slots(world)
    names = [world.slots[slot].name for slot in slots if slot != ERROR_SLOT]
    returned = [f"returned({creator.thread})" for creator in creators_of(world).values()]
    return ["error", *names, *returned]


DEFINITIONS = (namespace,)
"""The invariants of the tree, for the registry."""
