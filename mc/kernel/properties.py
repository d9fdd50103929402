"""Invariants of the kernel's data, checked on every state."""

from __future__ import annotations

from mc.engine.model import Check, declare
from mc.kernel.expr import State
from mc.kernel.vfs import has_loop
from mc.kernel.world import Built, reported_error


@declare(
    "namespace",
    "the tree stays a tree: no directory is its own ancestor, no directory has two names, "
    "no name lives in a removed directory, no link count goes below 0 or comes back from 0",
)
def namespace(model: Built) -> Check[State]:
    world = model.world
    directories = [inode for inode in world.inodes if inode.is_dir]
    dentries = list(world.dentries.values())

    def check(state: State) -> str | None:
        warned = reported_error(state, "namespace")
        if warned is not None:
            return warned
        names: dict[int, str] = {}
        for dentry in dentries:
            ino = state[dentry.slot]
            if ino is None:
                continue
            if dentry.parent.dead is not None and state[dentry.parent.dead]:
                name = world.inode_name(ino)
                return f"{dentry.path} names {name} inside removed directory {dentry.parent}"
            if world.inodes[ino].is_dir:
                if ino in names:
                    name = world.inode_name(ino)
                    return f"directory {name} has two names: {names[ino]} and {dentry.path}"
                names[ino] = dentry.path
        for directory in directories:
            if directory.ino in names and has_loop(world, state, directory.ino):
                return f"directory {directory} is its own ancestor"
        return None

    return check


DEFINITIONS = (namespace,)
"""The invariants of the tree, for the registry."""
