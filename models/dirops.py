"""Directory operations of fs/namei.c (Linux 6.12), the locking rules of
Documentation/filesystems/directory-locking.rst, over the ramfs/libfs
filesystem of ``mc.models.libfs``.

Each thread's path walk (filename_parentat / filename_lookup) is taken as
done before the thread starts: the directories it names are the inodes of
the scenario's initial tree.  What happens after, under the locks, is
modelled step by step.  ``mnt_want_write()``'s freeze protection around
them (SB_FREEZE_WRITE before the parent's i_rwsem) is ``mc.models.mnt_write``'s
wrappers'.

Left out, under the directory locks: ``->d_revalidate`` and, on a miss,
``->lookup`` inside ``lookup_one_qstr_excl()`` (ramfs keeps every name
cached and has no ``->d_revalidate``; a filesystem with one, casefolded
ext4's ``generic_ci_d_revalidate()``, calls it under the parent's i_rwsem
exclusive, and under ``s_vfs_rename_mutex`` in a rename); in rmdir and a
rename over a directory, ``shrink_dcache_parent()``, ``dont_mount()`` and
``detach_mounts()`` (namespace_sem, mount_lock) under the victim's lock,
and ``d_delete()`` with the last ``dput()`` of the victim, whose final
iput may evict it under the parent's lock (under both parents' and the
rename mutex in a rename; unlink puts it after the unlock);
``try_break_deleg()`` and the ``retry_deleg`` loops of unlink, link and
rename, which drop every lock before ``break_deleg_wait()``
(``mc.models.filelock``'s ``unlink_breaking_delegation`` has unlink's);
and ``lock_rename_child()``.
"""

from __future__ import annotations

import enum
import posixpath

from mc.dsl.addresses import address_below
from mc.dsl.operation import Cite, Op, Operation, operation
from mc.dsl.scenario import step_invariant
from mc.kernel import errno as E
from mc.kernel.expr import (
    Expr,
    InodeExpr,
    all_of,
    const,
    differ,
    is_dir,
    is_error,
    negative,
    not_,
    positive,
    same,
    same_inode,
)
from mc.kernel.locks import EXCL, SHARED
from mc.kernel.vfs import (
    NO_COMMON_ANCESTOR,
    P2_ABOVE,
    RENAME_NOREPLACE_KEPT,
    d_exchange,
    d_move,
    d_move_noreplace,
    dead_dir,
    mark_dead,
    relation,
    render_walk,
    unlinked,
    walk_is,
    walk_trap,
)
from mc.kernel.world import Dentry, ModelError
from mc.models import libfs
from mc.models.dentry import d_alloc_parallel, d_lookup_done, in_lookup_method


class RenameFlags(enum.IntFlag):
    """renameat2(2)'s flags (include/uapi/linux/fcntl.h), named so that a
    scenario shown prints them as written."""

    RENAME_NOREPLACE = 1
    RENAME_EXCHANGE = 2


RENAME_NOREPLACE = RenameFlags.RENAME_NOREPLACE
RENAME_EXCHANGE = RenameFlags.RENAME_EXCHANGE
RENAME_WHITEOUT_BIT = 4
"""RENAME_WHITEOUT (include/uapi/linux/fcntl.h), which the model refuses."""

OK = const(0, "0")


def split(path: str) -> tuple[str, str]:
    """``/a/b`` -> (``/a``, ``b``)."""
    return posixpath.dirname(path), posixpath.basename(path)


def lookup_one_qstr_excl(
    op: Op, directory: InodeExpr, name: str, register: str, fail: str
) -> InodeExpr:
    """lookup_one_qstr_excl(): the parent is locked exclusive; a removed
    parent gives -ENOENT, else the dentry (ramfs keeps every name cached:
    no ``->d_revalidate``, no ``->lookup`` on a miss, see the module's
    left-out)."""
    op.fail_if(
        dead_dir(directory), E.ENOENT, fail, f"lookup_one_qstr_excl({name}): IS_DEADDIR(dir)"
    )
    return op.lookup(
        op.dentry(directory, name), register, f'{register} = lookup_one_qstr_excl("{name}")'
    )


# --- read and create (classes 1 and 2 of directory-locking.rst) -------------


@operation(
    models="lookup_slow(), __lookup_slow() (fs/namei.c)",
    describe=lambda p: f"lookup({p})",
    cites=(
        Cite("fs/namei.c", "lookup_slow", "6.12"),
        Cite("fs/namei.c", "__lookup_slow", "6.12"),
        Cite("fs/dcache.c", "d_alloc_parallel", "6.17-rc3"),
    ),
)
def lookup(op: Op, path: str) -> None:
    """A dcache miss in path walk: the parent's i_rwsem shared around
    ->lookup() of the name's in-lookup dentry, which a lookup of the same
    name that finds it waits for (``d_alloc_parallel()``, read in
    6.17-rc3: ``mc.models.dentry``)."""
    parent, name = split(path)
    directory = op.inode(parent)
    op.lock(directory.i_rwsem, SHARED, "inode_lock_shared(dir)", tag="lock-parent")
    op.fail_if(dead_dir(directory), E.ENOENT, "out", "if (unlikely(IS_DEADDIR(inode))) -ENOENT")
    dentry = op.dentry(directory, name)
    looked_up = d_alloc_parallel(op, path)
    op.call(
        "inode_operations.lookup",
        in_lookup_method(op, path, libfs.lookup),
        directory,
        dentry,
        label="old = inode->i_op->lookup(inode, dentry, flags)",
        roles={"dir": directory},
    )
    d_lookup_done(op, path, failed=is_error(op.ret))
    op.label(looked_up)
    op.label("out")
    op.unlock(directory.i_rwsem, "inode_unlock_shared(dir)")


def filename_create(op: Op, path: str) -> tuple[InodeExpr, Dentry]:
    """filename_create(): the parent locked I_MUTEX_PARENT, the name looked
    up and required negative; returns with the parent still locked."""
    parent, name = split(path)
    directory = op.inode(parent)
    op.lock(
        directory.i_rwsem,
        EXCL,
        "inode_lock_nested(path->dentry->d_inode, I_MUTEX_PARENT)",
        tag="lock-parent",
    )
    existing = lookup_one_qstr_excl(op, directory, name, "dentry", "unlock")
    op.fail_if(
        positive(existing), E.EEXIST, "unlock", "if (d_is_positive(dentry)) goto fail /* -EEXIST */"
    )
    return directory, op.dentry(directory, name)


def done_path_create(op: Op, directory: InodeExpr) -> None:
    """done_path_create(): unlock the parent."""
    op.label("unlock")
    op.unlock(directory.i_rwsem, "done_path_create(): inode_unlock(path->dentry->d_inode)")


def node_creator(
    name: str, models: str, *, is_dir: bool, call: str, cites: tuple[Cite, ...] = ()
) -> Operation:
    """An operation creating one node at its path: filename_create(), the
    vfs_<name>() call of ->``name``, done_path_create()."""

    def build(op: Op, path: str) -> None:
        directory, dentry = filename_create(op, path)
        inode = op.new_inode(path, is_dir=is_dir)
        method = f"inode_operations.{name}"
        op.call(method, libfs.mknod, directory, dentry, inode, label=call, roles={"dir": directory})
        done_path_create(op, directory)

    build.__name__ = name
    build.__doc__ = f"{models}: filename_create(), ->{name}, done_path_create()."
    return operation(models, describe=lambda path: f"{name}({path})", cites=cites)(build)


def _creation(syscall: str, vfs: str) -> tuple[Cite, ...]:
    return tuple(
        Cite("fs/namei.c", function, "6.12")
        for function in (syscall, "filename_create", vfs, "done_path_create")
    )


create = node_creator(
    "create",
    "do_mknodat(S_IFREG) -> vfs_create() (fs/namei.c)",
    is_dir=False,
    call="error = dir->i_op->create(idmap, dir, dentry, mode, true)",
    cites=_creation("do_mknodat", "vfs_create"),
)
mkdir = node_creator(
    "mkdir",
    "do_mkdirat() -> vfs_mkdir() (fs/namei.c)",
    is_dir=True,
    call="error = dir->i_op->mkdir(idmap, dir, dentry, mode)",
    cites=_creation("do_mkdirat", "vfs_mkdir"),
)
mknod = node_creator(
    "mknod",
    "do_mknodat(S_IFCHR) -> vfs_mknod() (fs/namei.c)",
    is_dir=False,
    call="error = dir->i_op->mknod(idmap, dir, dentry, mode, dev)",
    cites=_creation("do_mknodat", "vfs_mknod"),
)
symlink = node_creator(
    "symlink",
    "do_symlinkat() -> vfs_symlink() (fs/namei.c)",
    is_dir=False,
    call="error = dir->i_op->symlink(idmap, dir, dentry, oldname)",
    cites=_creation("do_symlinkat", "vfs_symlink"),
)


# --- link (class 4) ------------------------------------------------------------


@operation(
    models="do_linkat() -> vfs_link() (fs/namei.c)",
    describe=lambda o, n: f"link({o} -> {n})",
    cites=(
        Cite("fs/namei.c", "do_linkat", "6.12"),
        Cite("fs/namei.c", "filename_create", "6.12"),
        Cite(
            "fs/namei.c",
            "vfs_link",
            "6.12",
            leaves_out=("spin_lock", "spin_unlock"),
            because="I_LINKABLE (cleared under i_lock) is not modelled",
        ),
        Cite("fs/namei.c", "done_path_create", "6.12"),
    ),
)
def link(op: Op, old: str, new: str) -> None:
    """Hard link: the new parent locked by filename_create(), then the
    source inode in vfs_link(), which refuses directories and inodes whose
    last link went meanwhile."""
    source = op.inode(old)
    directory, dentry = filename_create(op, new)
    op.fail_if(is_dir(source), E.EPERM, "unlock", "if (S_ISDIR(inode->i_mode)) return -EPERM")
    op.lock(source.i_rwsem, EXCL, "inode_lock(inode)", tag="lock-source")
    op.fail_if(
        unlinked(source),
        E.ENOENT,
        "unlock_source",
        "if (inode->i_nlink == 0 && !(inode->i_state & I_LINKABLE)) error = -ENOENT",
    )
    op.call(
        "inode_operations.link",
        libfs.link,
        source,
        directory,
        dentry,
        label="error = dir->i_op->link(old_dentry, dir, new_dentry)",
        roles={"dir": directory, "source": source},
    )
    op.label("unlock_source")
    op.unlock(source.i_rwsem, "inode_unlock(inode)")
    done_path_create(op, directory)


# --- removal (class 3) --------------------------------------------------------


def _remove(op: Op, path: str, *, directory_victim: bool) -> None:
    """do_rmdir()/do_unlinkat() with vfs_rmdir()/vfs_unlink(): parent,
    lookup, victim.  Under variant ``child-first`` the victim (as the path
    walk found it) is locked before the parent."""
    parent, name = split(path)
    directory = op.inode(parent)
    dentry = op.dentry(directory, name)
    child_first = op.variant("child-first")
    if child_first:
        early = op.inode(path)
        op.lock(early.i_rwsem, EXCL, "inode_lock(victim) /* child first */", tag="lock-victim")
    op.lock(
        directory.i_rwsem,
        EXCL,
        "inode_lock_nested(path.dentry->d_inode, I_MUTEX_PARENT)",
        tag="lock-parent",
    )
    victim = lookup_one_qstr_excl(op, directory, name, "victim", "exit_parent")
    op.fail_if(negative(victim), E.ENOENT, "exit_parent", "if (d_is_negative(dentry)) -ENOENT")
    if directory_victim:
        op.fail_if(
            not_(is_dir(victim)), E.ENOTDIR, "exit_parent", "may_delete(dir, dentry, 1): -ENOTDIR"
        )
    else:
        op.fail_if(is_dir(victim), E.EISDIR, "exit_parent", "may_delete(dir, dentry, 0): -EISDIR")
    if child_first:
        op.fail_if(
            differ(victim, early), E.ESTALE, "exit_parent", "the name moved off the locked victim"
        )
    else:
        op.lock(victim.i_rwsem, EXCL, "inode_lock(dentry->d_inode)", tag="lock-victim")
    if directory_victim:
        op.call(
            "inode_operations.rmdir",
            libfs.rmdir,
            directory,
            dentry,
            victim,
            label="error = dir->i_op->rmdir(dir, dentry)",
            roles={"dir": directory, "victim": victim},
        )
        with op.when(same(op.ret, OK), "if (!error)"):
            op.effect("dentry->d_inode->i_flags |= S_DEAD", mark_dead, victim)
    else:
        op.call(
            "inode_operations.unlink",
            libfs.unlink,
            directory,
            dentry,
            victim,
            label="error = dir->i_op->unlink(dir, dentry)",
            roles={"dir": directory, "victim": victim},
        )
    if not child_first:
        op.unlock(victim.i_rwsem, "inode_unlock(dentry->d_inode)")
    op.label("exit_parent")
    op.unlock(directory.i_rwsem, "inode_unlock(path.dentry->d_inode)")
    if child_first:
        op.unlock(early.i_rwsem, "inode_unlock(victim)")


@operation(
    models="do_rmdir() -> vfs_rmdir() (fs/namei.c)",
    describe=lambda p: f"rmdir({p})",
    cites=(Cite("fs/namei.c", "do_rmdir", "6.12"), Cite("fs/namei.c", "vfs_rmdir", "6.12")),
)
def rmdir(op: Op, path: str) -> None:
    """Remove a directory: parent (I_MUTEX_PARENT), lookup, victim, ->rmdir
    (-ENOTEMPTY from the filesystem), S_DEAD on success."""
    _remove(op, path, directory_victim=True)


@operation(
    models="do_unlinkat() -> vfs_unlink() (fs/namei.c)",
    describe=lambda p: f"unlink({p})",
    cites=(Cite("fs/namei.c", "do_unlinkat", "6.12"), Cite("fs/namei.c", "vfs_unlink", "6.12")),
)
def unlink(op: Op, path: str) -> None:
    """Remove a name: parent (I_MUTEX_PARENT), lookup, victim, ->unlink."""
    _remove(op, path, directory_victim=False)


# --- rename (classes 5 and 6) --------------------------------------------------


def lock_two_directories(op: Op, p1: InodeExpr, p2: InodeExpr) -> InodeExpr:
    """lock_two_directories(): with s_vfs_rename_mutex held, walk up from p1
    to see how the parents are related; lock the ancestor first, unrelated
    parents p1 first, and fail with -EXDEV when they share no ancestor.
    Returns the trap: the child of the ancestor on the path to the other."""
    walk = op.let(
        "walk",
        relation(p1, p2, op.world),
        "p = p1; while ((r = p->d_parent) != p2 && r != p) p = r; ...",
        render=lambda value: render_walk(value, op.world),
    )
    if op.variant(PARENTS_BY_ADDRESS):
        with op.when(walk_is(walk, NO_COMMON_ANCESTOR), "if (r != p1 && r != p)"):
            op.unlock(
                op.world.superblock.s_vfs_rename_sem, "mutex_unlock(&p1->d_sb->s_vfs_rename_mutex)"
            )
            op.fail(E.EXDEV, "exit", "return ERR_PTR(-EXDEV)")
        lock_by_address(op, p1, p2)
        return walk_trap(walk)
    with op.when(walk_is(walk, P2_ABOVE), "if (r == p2) /* p2 is an ancestor of p1 */"):
        op.lock(
            p2.i_rwsem, EXCL, "inode_lock_nested(p2->d_inode, I_MUTEX_PARENT)", tag="lock-parent"
        )
        op.lock(
            p1.i_rwsem, EXCL, "inode_lock_nested(p1->d_inode, I_MUTEX_PARENT2)", tag="lock-parent"
        )
    with op.otherwise():
        with op.when(
            walk_is(walk, NO_COMMON_ANCESTOR), "if (r != p1 && r != p) /* no common ancestor */"
        ):
            op.unlock(
                op.world.superblock.s_vfs_rename_sem, "mutex_unlock(&p1->d_sb->s_vfs_rename_mutex)"
            )
            op.fail(E.EXDEV, "exit", "return ERR_PTR(-EXDEV)")
        with op.otherwise():
            op.lock(
                p1.i_rwsem,
                EXCL,
                "inode_lock_nested(p1->d_inode, I_MUTEX_PARENT)",
                tag="lock-parent",
            )
            op.lock(
                p2.i_rwsem,
                EXCL,
                "inode_lock_nested(p2->d_inode, I_MUTEX_PARENT2)",
                tag="lock-parent",
            )
    return walk_trap(walk)


def lock_rename(op: Op, p1: InodeExpr, p2: InodeExpr) -> InodeExpr | None:
    """lock_rename(): one parent locked alone; two parents under the
    per-superblock rename mutex (s_vfs_rename_sem), via
    lock_two_directories().  Returns the trap register, or None."""
    if p1.text == p2.text:
        op.lock(
            p1.i_rwsem, EXCL, "inode_lock_nested(p1->d_inode, I_MUTEX_PARENT)", tag="lock-parent"
        )
        return None
    op.lock(
        op.world.superblock.s_vfs_rename_sem,
        EXCL,
        "mutex_lock(&p1->d_sb->s_vfs_rename_mutex)",
        tag="rename-mutex",
    )
    return lock_two_directories(op, p1, p2)


PARENTS_BY_ADDRESS = "parents-by-address"


def lock_by_address(op: Op, p1: InodeExpr, p2: InodeExpr) -> None:
    """Variant ``parents-by-address``: the two parents in address order,
    whatever their ancestry."""
    first = address_below(op, "p1_first", "if (p1 > p2) swap(p1, p2) /* by address */", p1, p2)
    with op.when(same(first, const(True)), "if (p1 < p2)"):
        op.lock(p1.i_rwsem, EXCL, "inode_lock_nested(p1, I_MUTEX_PARENT)", tag="lock-parent")
        op.lock(p2.i_rwsem, EXCL, "inode_lock_nested(p2, I_MUTEX_PARENT2)", tag="lock-parent")
    with op.otherwise():
        op.lock(p2.i_rwsem, EXCL, "inode_lock_nested(p2, I_MUTEX_PARENT)", tag="lock-parent")
        op.lock(p1.i_rwsem, EXCL, "inode_lock_nested(p1, I_MUTEX_PARENT2)", tag="lock-parent")


def unlock_rename(op: Op, p1: InodeExpr, p2: InodeExpr) -> None:
    """unlock_rename(): both parents, then the rename mutex."""
    op.unlock(p1.i_rwsem, "inode_unlock(p1->d_inode)")
    if p1.text != p2.text:
        op.unlock(p2.i_rwsem, "inode_unlock(p2->d_inode)")
        op.unlock(
            op.world.superblock.s_vfs_rename_sem, "mutex_unlock(&p1->d_sb->s_vfs_rename_mutex)"
        )


CHILDREN_BY_LOCK_TWO_INODES = "rename-children-lock-two-inodes"


def lock_two_inodes(op: Op, inode1: InodeExpr, inode2: InodeExpr) -> None:
    """Variant ``rename-children-lock-two-inodes``: ``lock_two_inodes(source,
    target, I_MUTEX_NORMAL, I_MUTEX_NONDIR2)`` of Linux 6.5-6.7 (fs/inode.c,
    added by 28eceeda130f, removed by 22e111ed6c83), which ``vfs_rename()``
    called in every rename: a directory before a non-directory, two of a
    kind in address order, so two subdirectories of one parent by address
    in a same-directory rename, with no ``s_vfs_rename_mutex`` held."""
    with op.when(negative(inode2), "if (!inode1 || !inode2) goto lock"):
        op.lock(inode1.i_rwsem, EXCL, "inode_lock_nested(inode1, I_MUTEX_NORMAL)")
    with op.otherwise():
        with op.when(
            same(is_dir(inode1), is_dir(inode2)), "if (S_ISDIR(inode2) == S_ISDIR(inode1))"
        ):
            first = address_below(
                op, "inode1_first", "if (inode1 > inode2) swap(inode1, inode2)", inode1, inode2
            )
            with op.when(same(first, const(True)), "if (inode1 < inode2) /* by address */"):
                op.lock(inode1.i_rwsem, EXCL, "inode_lock_nested(inode1, I_MUTEX_NORMAL)")
                op.lock(inode2.i_rwsem, EXCL, "inode_lock_nested(inode2, I_MUTEX_NONDIR2)")
            with op.otherwise():
                op.lock(
                    inode2.i_rwsem, EXCL, "inode_lock_nested(inode1, I_MUTEX_NORMAL) /* swapped */"
                )
                op.lock(inode1.i_rwsem, EXCL, "inode_lock_nested(inode2, I_MUTEX_NONDIR2)")
        with op.otherwise():
            with op.when(is_dir(inode1), "if (S_ISDIR(inode1->i_mode)) /* the directory first */"):
                op.lock(inode1.i_rwsem, EXCL, "inode_lock_nested(inode1, I_MUTEX_NORMAL)")
                op.lock(inode2.i_rwsem, EXCL, "inode_lock_nested(inode2, I_MUTEX_NONDIR2)")
            with op.otherwise():
                op.lock(
                    inode2.i_rwsem,
                    EXCL,
                    "inode_lock_nested(inode1, I_MUTEX_NORMAL) /* swapped: the directory */",
                )
                op.lock(inode1.i_rwsem, EXCL, "inode_lock_nested(inode2, I_MUTEX_NONDIR2)")


def lock_two_nondirectories(op: Op, source: InodeExpr, target: InodeExpr) -> None:
    """lock_two_nondirectories() (fs/inode.c, Linux 6.12, since
    22e111ed6c83 without ``lock_two_inodes()``): in inode address order
    (every order the scenario can observe, ``mc.dsl.addresses``), a missing
    target skipped (the kernel then takes the source as
    ``I_MUTEX_NONDIR2``; the model has no nesting classes)."""
    with op.when(negative(target), "if (!inode2)"):
        op.lock(source.i_rwsem, EXCL, "inode_lock(inode1)", tag="lock-source")
    with op.otherwise():
        first = address_below(
            op, "inode1_first", "if (inode1 > inode2) swap(inode1, inode2)", source, target
        )
        with op.when(same(first, const(True)), "if (inode1 < inode2) /* by address */"):
            op.lock(source.i_rwsem, EXCL, "inode_lock(inode1)", tag="lock-source")
            op.lock(
                target.i_rwsem,
                EXCL,
                "inode_lock_nested(inode2, I_MUTEX_NONDIR2)",
                tag="lock-target",
            )
        with op.otherwise():
            op.lock(target.i_rwsem, EXCL, "inode_lock(inode1) /* swapped */", tag="lock-target")
            op.lock(
                source.i_rwsem,
                EXCL,
                "inode_lock_nested(inode2, I_MUTEX_NONDIR2)",
                tag="lock-source",
            )


def _lock_children(
    op: Op,
    source: InodeExpr,
    target: InodeExpr,
    lock_old_subdir: bool,
    lock_new_subdir: bool,
    locks_target: Expr,
) -> None:
    """``vfs_rename()``'s locking of the children (Linux 6.12): a
    subdirectory whose parent changes, the victim, non-directories after
    any subdirectory in address order; two unrelated directories only in a
    cross-directory rename, under ``s_vfs_rename_mutex``."""
    with op.when(is_dir(source), "if (is_dir)"):
        if lock_old_subdir:
            op.lock(
                source.i_rwsem, EXCL, "inode_lock_nested(source, I_MUTEX_CHILD)", tag="lock-source"
            )
        with op.when(locks_target, "if (target && (!new_is_dir || lock_new_subdir))"):
            op.lock(target.i_rwsem, EXCL, "inode_lock(target)", tag="lock-target")
    with op.otherwise():
        with op.when(is_dir(target), "else if (new_is_dir)"):
            if lock_new_subdir:
                op.lock(
                    target.i_rwsem,
                    EXCL,
                    "inode_lock_nested(target, I_MUTEX_CHILD)",
                    tag="lock-target",
                )
            op.lock(source.i_rwsem, EXCL, "inode_lock(source)", tag="lock-source")
        with op.otherwise():
            lock_two_nondirectories(op, source, target)


def vfs_rename(
    op: Op,
    old_dir: InodeExpr,
    old: Dentry,
    source: InodeExpr,
    new_dir: InodeExpr,
    new: Dentry,
    target: InodeExpr,
    exchange: bool,
) -> None:
    """vfs_rename(): with the parents locked, lock the children the rules
    name (a subdirectory that changes parent, the victim, non-directories in
    address order), call ->rename, then d_move()/d_exchange() under
    rename_lock."""
    op.fail_if(same_inode(source, target), 0, "exit_unlock", "if (source == target) return 0")
    if not exchange:
        op.fail_if(
            all_of(positive(target), is_dir(source), not_(is_dir(target))),
            E.ENOTDIR,
            "exit_unlock",
            "may_delete(new_dir, new_dentry, is_dir): -ENOTDIR",
        )
        op.fail_if(
            all_of(positive(target), not_(is_dir(source)), is_dir(target)),
            E.EISDIR,
            "exit_unlock",
            "may_delete(new_dir, new_dentry, is_dir): -EISDIR",
        )
    lock_old_subdir = old_dir.text != new_dir.text
    lock_new_subdir = old_dir.text != new_dir.text or not exchange
    locks_target = (
        positive(target) if lock_new_subdir else all_of(positive(target), not_(is_dir(target)))
    )
    children_65 = op.variant(CHILDREN_BY_LOCK_TWO_INODES)
    if children_65:
        lock_two_inodes(op, source, target)
        locks_target = positive(target)
    else:
        _lock_children(op, source, target, lock_old_subdir, lock_new_subdir, locks_target)
    op.call(
        "inode_operations.rename",
        libfs.rename,
        old_dir,
        new_dir,
        source,
        target,
        exchange,
        label="error = old_dir->i_op->rename(idmap, old_dir, old_dentry, new_dir, new_dentry, ...)",
        roles={
            "old_dir": old_dir,
            "new_dir": new_dir,
            "source": source,
            "target": target,
            "flags": RENAME_EXCHANGE if exchange else 0,
        },
    )
    with op.when(same(op.ret, OK), "if (!error)"):
        if not exchange:
            with op.when(all_of(positive(target), is_dir(source)), "if (target && is_dir)"):
                op.effect("target->i_flags |= S_DEAD", mark_dead, target)
        op.lock(op.world.rename_lock, EXCL, "write_seqlock(&rename_lock)")
        if exchange:
            op.effect(
                "__d_move(old_dentry, new_dentry, true) /* d_exchange */", d_exchange, old, new
            )
        else:
            noreplace = _asks_noreplace(op)
            op.effect(
                "__d_move(old_dentry, new_dentry, false) /* d_move */",
                d_move_noreplace if noreplace else d_move,
                old,
                new,
            )
        op.unlock(op.world.rename_lock, "write_sequnlock(&rename_lock)")
    unlocks_source = not_(is_dir(source)) if not (lock_old_subdir or children_65) else const(True)
    with op.when(unlocks_source, "if (!is_dir || lock_old_subdir)"):
        op.unlock(source.i_rwsem, "inode_unlock(source)")
    with op.when(locks_target, "if (target && (!new_is_dir || lock_new_subdir))"):
        op.unlock(target.i_rwsem, "inode_unlock(target)")


NOREPLACE_RENAMES = "noreplace-renames"
"""The world part naming the threads whose rename(2) asks for
RENAME_NOREPLACE."""

step_invariant(
    RENAME_NOREPLACE_KEPT,
    "a renameat2(2) with RENAME_NOREPLACE never replaces a name: the name it moves the source "
    "to is negative when it moves it (do_renameat2() tests d_is_positive(new_dentry) under "
    "lock_rename() and returns -EEXIST)",
    needs=(NOREPLACE_RENAMES, "a rename with RENAME_NOREPLACE"),
)


def _asks_noreplace(op: Op) -> bool:
    """Whether the thread's system call is a rename with RENAME_NOREPLACE
    (the invocation the scenario gives it, whatever body a variant put in
    place of rename's), which ``rename-noreplace`` then holds it to."""
    invocation = op.invocation
    if invocation is None or invocation.operation is not rename or len(invocation.args) < 3:
        return False
    if not invocation.args[2] & RENAME_NOREPLACE:
        return False
    op.world.parts.setdefault(NOREPLACE_RENAMES, set()).add(op.thread.tid)
    return True


def _refuse_flags(flags: int) -> None:
    """A model error for renameat2(2) flags the model does not follow:
    RENAME_WHITEOUT (the whiteout left at the old name is not modelled),
    bits ``do_renameat2()`` refuses with -EINVAL (unknown ones, EXCHANGE
    with NOREPLACE)."""
    known = int(RENAME_NOREPLACE | RENAME_EXCHANGE)
    if flags & RENAME_WHITEOUT_BIT:
        raise ModelError(
            "rename(..., RENAME_WHITEOUT): the whiteout left at the old name is not modelled "
            "(the rename would run as a plain one); flags may hold RENAME_NOREPLACE or "
            "RENAME_EXCHANGE"
        )
    if flags & ~known:
        raise ModelError(
            f"rename(..., {flags:#x}): bits {flags & ~known:#x} are no renameat2(2) flag the "
            "model knows (do_renameat2() returns -EINVAL for unknown bits); flags may hold "
            "RENAME_NOREPLACE or RENAME_EXCHANGE"
        )
    if flags & RENAME_EXCHANGE and flags & RENAME_NOREPLACE:
        raise ModelError(
            "rename(..., RENAME_EXCHANGE | RENAME_NOREPLACE): do_renameat2() returns -EINVAL "
            "for the two together (an exchange replaces by definition)"
        )


def _describe_rename(old: str, new: str, flags: int = 0) -> str:
    arrow = "<->" if flags & RENAME_EXCHANGE else "->"
    noreplace = ", RENAME_NOREPLACE" if flags & RENAME_NOREPLACE else ""
    return f"rename({old} {arrow} {new}{noreplace})"


@operation(
    models="do_renameat2() -> lock_rename(), vfs_rename() (fs/namei.c)",
    describe=_describe_rename,
    cites=(
        Cite("fs/namei.c", "do_renameat2", "6.12"),
        Cite("fs/namei.c", "lock_rename", "6.12"),
        Cite("fs/namei.c", "lock_two_directories", "6.12"),
        Cite("fs/namei.c", "vfs_rename", "6.12"),
        Cite("fs/inode.c", "lock_two_nondirectories", "6.12"),
        Cite("fs/namei.c", "unlock_rename", "6.12"),
        *(
            Cite(
                "fs/dcache.c",
                function,
                "6.12",
                leaves_out=("spin_lock", "spin_lock_nested", "spin_unlock"),
                because="the d_lock of the dentries and parents __d_move() takes is not modelled",
            )
            for function in ("d_move", "d_exchange")
        ),
    ),
)
def rename(op: Op, old: str, new: str, flags: int = 0) -> None:
    """rename(2)/renameat2(2): lock_rename(new parent, old parent), look up
    source and target, the trap checks (-EINVAL, -ENOTEMPTY), vfs_rename(),
    unlock_rename().  ``flags`` may hold RENAME_NOREPLACE, RENAME_EXCHANGE."""
    _refuse_flags(flags)
    old_parent, old_name = split(old)
    new_parent, new_name = split(new)
    old_dir, new_dir = op.inode(old_parent), op.inode(new_parent)
    exchange = bool(flags & RENAME_EXCHANGE)
    trap = lock_rename(op, new_dir, old_dir)
    source = lookup_one_qstr_excl(op, old_dir, old_name, "source", "exit_unlock")
    op.fail_if(
        negative(source), E.ENOENT, "exit_unlock", "if (d_is_negative(old_dentry)) goto exit4"
    )
    target = lookup_one_qstr_excl(op, new_dir, new_name, "target", "exit_unlock")
    if flags & RENAME_NOREPLACE:
        op.fail_if(
            positive(target),
            E.EEXIST,
            "exit_unlock",
            "if ((flags & RENAME_NOREPLACE) && d_is_positive(new_dentry))",
        )
    if exchange:
        op.fail_if(
            negative(target), E.ENOENT, "exit_unlock", "if (d_is_negative(new_dentry)) goto exit5"
        )
    if trap is not None:
        op.fail_if(
            same_inode(source, trap),
            E.EINVAL,
            "exit_unlock",
            "if (old_dentry == trap) goto exit5 /* source is an ancestor of target */",
            tag="trap-check",
        )
        op.fail_if(
            same_inode(target, trap),
            E.EINVAL if exchange else E.ENOTEMPTY,
            "exit_unlock",
            "if (new_dentry == trap) goto exit5 /* target is an ancestor of source */",
            tag="trap-check",
        )
    vfs_rename(
        op,
        old_dir,
        op.dentry(old_dir, old_name),
        source,
        new_dir,
        op.dentry(new_dir, new_name),
        target,
        exchange,
    )
    op.label("exit_unlock")
    unlock_rename(op, new_dir, old_dir)
    op.label("exit")
