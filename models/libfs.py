"""The filesystem under the VFS: ramfs with the libfs helpers
(fs/libfs.c, fs/ramfs/inode.c).  Each function is what one
inode_operations method does to the world, returning 0 or -errno; the VFS
models call them through ``op.call`` with the locks the VFS holds.

Each method is one step, and the spinlocks taken inside it are left out:
``d_instantiate()``'s ``inode->i_lock`` and ``dentry->d_lock`` (in
``simple_link()``, ``ramfs_mknod()``), ``simple_empty()``'s ``d_lock`` of
the directory and, nested, of each child (in ``simple_rmdir()``,
``simple_rename()``), ``mark_inode_dirty()``'s ``i_lock``: leaf locks
under the VFS's i_rwsem, so ``vfsmc lockorder`` has no i_rwsem -> i_lock
or d_lock -> d_lock edge from these methods."""

from __future__ import annotations

from mc.kernel import errno
from mc.kernel.vfs import is_empty
from mc.kernel.world import Dentry, Scratch, Slots, World, given_names_only, touches

NAMESPACE = "namespace"


def _warn(scratch: Scratch, message: str) -> None:
    """A kernel WARN_ON on the namespace's link counts: a violation of the
    ``namespace`` property."""
    scratch.violate(NAMESPACE, message)


def _inc_nlink(scratch: Scratch, ino: int) -> None:
    """inc_nlink(): WARN_ON(inode->i_nlink == 0 && !(inode->i_state & I_LINKABLE))."""
    slot = scratch.world.inodes[ino].nlink
    if scratch[slot] == 0:
        _warn(
            scratch,
            f"inc_nlink() brings {scratch.world.inode_name(ino)} back from a link count of 0",
        )
    scratch[slot] = scratch[slot] + 1


def _drop_nlink(scratch: Scratch, ino: int) -> None:
    """drop_nlink(): WARN_ON(inode->i_nlink == 0)."""
    slot = scratch.world.inodes[ino].nlink
    if scratch[slot] == 0:
        _warn(
            scratch,
            f"drop_nlink() of {scratch.world.inode_name(ino)}, whose link count is already 0",
        )
    scratch[slot] = max(0, scratch[slot] - 1)


def _into_removed(scratch: Scratch, directory: int, what: str) -> bool:
    """Whether ``directory`` was removed (rmdir, or a rename over it, took
    its link count to 0): then ``what`` puts a name in a removed
    directory, which the VFS's IS_DEADDIR() tests under its i_rwsem keep
    from happening (a violation of ``namespace``)."""
    if scratch[scratch.world.inodes[directory].nlink]:
        return False
    _warn(
        scratch,
        f"{what} inside removed directory {scratch.world.inode_name(directory)} "
        "(its link count is 0)",
    )
    return True


def _links(world: World, *inodes: int | None) -> list[int]:
    """The link-count slots of ``inodes`` (None names none)."""
    return [world.inodes[ino].nlink for ino in inodes if ino is not None]


def _names_in(world: World, directory: int | None) -> list[int]:
    """The dentry slots of ``directory``'s children, which ``is_empty``
    reads (none for a file)."""
    if directory is None:
        return []
    return [d.slot for d in world.children(world.inodes[directory])]


def _same(slots: Slots) -> tuple[Slots, Slots]:
    """Reads and writes the same slots."""
    return slots, slots


@touches(lambda world, directory, dentry: ((), ()))
def lookup(scratch: Scratch, directory: int, dentry: Dentry) -> int:
    """simple_lookup(): ramfs keeps every name in the dcache, so a miss is a
    negative dentry and nothing changes."""
    return 0


def _mknod_touches(world: World, directory: int, dentry: Dentry, inode: int) -> tuple[Slots, Slots]:
    new = world.inodes[inode]
    slots = [dentry.slot, new.nlink]
    if new.is_dir and new.d_parent is not None:
        slots += [new.d_parent, *_links(world, directory)]
    return [*slots, *_links(world, directory)], slots


@touches(_mknod_touches)
@given_names_only
def mknod(scratch: Scratch, directory: int, dentry: Dentry, inode: int) -> int:
    """ramfs_mknod(): a new inode instantiated at ``dentry``
    (d_instantiate); a directory also links ``..`` (inc_nlink(dir))."""
    new = scratch.world.inodes[inode]
    if _into_removed(scratch, directory, f"ramfs_mknod() makes {dentry.path}"):
        return 0
    scratch[dentry.slot] = inode
    scratch[new.nlink] = 2 if new.is_dir else 1
    if new.is_dir:
        assert new.d_parent is not None
        scratch[new.d_parent] = directory
        _inc_nlink(scratch, directory)
    return 0


@touches(
    lambda world, source, directory, dentry: (
        [*_links(world, source, directory), dentry.slot],
        [*_links(world, source), dentry.slot],
    )
)
@given_names_only
def link(scratch: Scratch, source: int, directory: int, dentry: Dentry) -> int:
    """simple_link(): inc_nlink(inode); d_instantiate(dentry, inode)."""
    if _into_removed(scratch, directory, f"simple_link() makes {dentry.path}"):
        return 0
    _inc_nlink(scratch, source)
    scratch[dentry.slot] = source
    return 0


@touches(lambda world, directory, dentry, victim: _same([*_links(world, victim), dentry.slot]))
@given_names_only
def unlink(scratch: Scratch, directory: int, dentry: Dentry, victim: int) -> int:
    """simple_unlink(): drop_nlink(inode) of ``victim``, the inode the
    caller's dentry refers to; the name goes (dput, and the VFS's d_delete
    once the victim is unlocked, folded here) unless a rename has moved
    another inode onto it meanwhile (the kernel's dentry would have moved)."""
    _drop_nlink(scratch, victim)
    if scratch[dentry.slot] == victim:
        scratch[dentry.slot] = None
    return 0


@touches(
    lambda world, directory, dentry, victim: (
        [*_links(world, victim, directory), dentry.slot, *_names_in(world, victim)],
        [*_links(world, victim, directory), dentry.slot],
    )
)
@given_names_only
def rmdir(scratch: Scratch, directory: int, dentry: Dentry, victim: int) -> int:
    """simple_rmdir(): -ENOTEMPTY unless empty; drop_nlink(inode);
    simple_unlink(dir, dentry); drop_nlink(dir)."""
    if not is_empty(scratch.world, scratch.values, victim):
        return -errno.ENOTEMPTY
    _drop_nlink(scratch, victim)
    unlink(scratch, directory, dentry, victim)
    _drop_nlink(scratch, directory)
    return 0


def _renamed_over(world: World, ino: int | None) -> list[int]:
    slot = None if ino is None else world.inodes[ino].renamed_over
    return [] if slot is None else [slot]


@touches(
    lambda world, old_dir, new_dir, source, target, exchange: (
        [*_links(world, old_dir, new_dir, target), *_names_in(world, target)],
        [*_links(world, old_dir, new_dir, target), *_renamed_over(world, target)],
    )
)
@given_names_only
def rename(
    scratch: Scratch, old_dir: int, new_dir: int, source: int, target: int | None, exchange: bool
) -> int:
    """simple_rename() of ``source`` (the old dentry's inode) onto the new
    name, whose inode ``target`` may be None: RENAME_EXCHANGE moves the
    directories' link counts (simple_rename_exchange); otherwise -ENOTEMPTY
    for a non-empty victim, which is unlinked (simple_unlink), and the link
    counts follow a moved directory.  The names themselves move in
    d_move()/d_exchange()."""
    source_is_dir = scratch.world.inodes[source].is_dir
    moved = "simple_rename() moves " + scratch.world.inode_name(source)
    if _into_removed(scratch, new_dir, moved):
        return 0
    if exchange and target is not None:
        if _into_removed(
            scratch, old_dir, f"simple_rename() moves {scratch.world.inode_name(target)}"
        ):
            return 0
        target_is_dir = scratch.world.inodes[target].is_dir
        if old_dir != new_dir and source_is_dir != target_is_dir:
            _drop_nlink(scratch, old_dir if source_is_dir else new_dir)
            _inc_nlink(scratch, new_dir if source_is_dir else old_dir)
        return 0
    if target is not None and not is_empty_or_file(scratch, target):
        return -errno.ENOTEMPTY
    if target is not None:
        _drop_nlink(scratch, target)
        for slot in _renamed_over(scratch.world, target):
            scratch[slot] = True
        if source_is_dir:
            _drop_nlink(scratch, target)
            _drop_nlink(scratch, old_dir)
    elif source_is_dir:
        _drop_nlink(scratch, old_dir)
        _inc_nlink(scratch, new_dir)
    return 0


def is_empty_or_file(scratch: Scratch, ino: int) -> bool:
    """simple_empty() of a dentry: a file has no children."""
    return not scratch.world.inodes[ino].is_dir or is_empty(scratch.world, scratch.values, ino)
