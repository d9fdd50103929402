"""Invariants of the kernel's data, checked on every state."""

from __future__ import annotations

from mc.dsl.kernel_model import KernelModel, reported_error
from mc.dsl.scenario import property_def
from mc.engine.model import Property, always
from mc.kernel.expr import State
from mc.kernel.vfs import has_loop
from mc.kernel.world import Dentry


@property_def(
    "namespace",
    "the tree stays a tree: no directory is its own ancestor, no directory has two names, "
    "no name lives in a removed directory, no link count goes below 0 or comes back from 0",
)
def namespace(model: KernelModel) -> Property[State]:
    """The dentry tree is well formed in every state."""
    world = model.world
    directories = [inode for inode in world.inodes if inode.is_dir]
    is_dir = [inode.is_dir for inode in world.inodes]
    layout = [(d.slot, d.parent.dead, d) for d in world.dentries.values()]

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
        return None

    reads = 0
    for slot in [d.slot for d in world.dentries.values()] + [
        field for inode in directories for field in (inode.dead, inode.d_parent)
    ]:
        reads |= 0 if slot is None else 1 << slot
    return always("namespace", check, namespace.__doc__ or "", reads=reads)
