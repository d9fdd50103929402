"""Changing an inode's attributes: chmod(2) through notify_change() into
the filesystem's ->setattr (fs/open.c, fs/attr.c and fs/libfs.c of
Linux 6.12), over the ramfs/libfs filesystem of ``mc.models.libfs``."""

from __future__ import annotations

from mc.dsl.operation import Cite, Op, operation
from mc.kernel.expr import InodeExpr
from mc.kernel.locks import EXCL
from mc.kernel.world import Scratch, World

S_IALLUGO = 0o7777


def mode_slot(world: World, inode: InodeExpr) -> int:
    """The slot of ``inode->i_mode`` (permission bits), laid out on first use."""
    name = f"i_mode({inode})"
    for number, slot in enumerate(world.slots):
        if slot.name == name:
            return number
    initial = 0o755 if world.inode_by_path[inode.text].is_dir else 0o644
    return world.add_slot(name, initial, lambda mode: f"{mode:o}")


def simple_setattr(scratch: Scratch, inode: int, slot: int, mode: int) -> int:
    """simple_setattr() with ATTR_MODE: setattr_prepare(), then
    setattr_copy() sets ``inode->i_mode`` (the caller computed
    ``(mode & S_IALLUGO) | (inode->i_mode & ~S_IALLUGO)``), and
    mark_inode_dirty()."""
    scratch[slot] = (scratch[slot] & ~S_IALLUGO) | (mode & S_IALLUGO)
    return 0


def notify_change(op: Op, inode: InodeExpr, mode: int) -> None:
    """notify_change(): WARN_ON_ONCE(!inode_is_locked(inode)), may_setattr(),
    security_inode_setattr(), then ``->setattr`` (ramfs: simple_setattr();
    a ramfs directory has no ``->setattr``, and notify_change() calls
    simple_setattr() itself, which the model still shows as the method's
    call).  Left out: ``try_break_deleg()`` before the call (no delegation
    is granted in the scenarios that chmod; ``mc.models.filelock`` models
    the break where a scenario has one)."""
    op.call(
        "inode_operations.setattr",
        simple_setattr,
        inode,
        mode_slot(op.world, inode),
        mode,
        label="error = inode->i_op->setattr(idmap, dentry, attr)",
        roles={"inode": inode},
    )


@operation(
    models="chmod_common() (fs/open.c) -> notify_change() (fs/attr.c)",
    describe=lambda path, mode: f"chmod({path}, {mode:o})",
    cites=(Cite("fs/open.c", "chmod_common", "6.12"), Cite("fs/attr.c", "notify_change", "6.12")),
)
def chmod(op: Op, path: str, mode: int) -> None:
    """chmod(2) after the path walk: chmod_common() takes the inode's
    i_rwsem, calls notify_change() with ATTR_MODE | ATTR_CTIME and unlocks."""
    inode = op.inode(path)
    op.lock(inode.i_rwsem, EXCL, "inode_lock_killable(inode)", tag="inode-lock")
    notify_change(op, inode, mode)
    op.unlock(inode.i_rwsem, "out_unlock: inode_unlock(inode)", tag="inode-lock")
