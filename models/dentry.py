"""A dentry as the locking rules see it (fs/dcache.c of Linux 6.12): its
path and its ``d_lock`` spinlock, made on first use, for the calls of the
dentry methods (``roles={"dentry": ...}``)."""

from __future__ import annotations

import attrs

from mc.kernel.locks import Kind, Lock
from mc.kernel.world import World


@attrs.frozen
class DentryObject:
    """A dentry as the locking rules see it: its path and its d_lock."""

    path: str
    d_lock: Lock

    def __str__(self) -> str:
        return self.path


def dentry_object(world: World, path: str) -> DentryObject:
    """The dentry at ``path`` with its d_lock (made on first use)."""
    name = f"d_lock({path})"
    lock = next((lock for lock in world.locks if lock.name == name), None)
    return DentryObject(path, lock or world.add_lock(name, Kind.SPINLOCK, "d_lock"))
