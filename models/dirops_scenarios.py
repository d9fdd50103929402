"""Directory-operation scenarios (``dirops/<name>``) and the protocol
variants they catch."""

from __future__ import annotations

from mc.dsl.addresses import FIXED_ADDRESSES
from mc.dsl.operation import Invocation, Op, Operation
from mc.dsl.program import Program
from mc.dsl.scenario import BASE_PROPERTIES, Transform, flag_variant, replaces, scenario, variant
from mc.kernel import errno as E
from mc.kernel import properties as _properties  # noqa: F401  (registers the invariants)
from mc.kernel.expr import positive
from mc.kernel.vfs import RENAME_NOREPLACE_KEPT
from mc.models.dirops import (
    CHILDREN_BY_LOCK_TWO_INODES,
    PARENTS_BY_ADDRESS,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    create,
    link,
    lookup,
    mkdir,
    rename,
    rmdir,
    split,
    unlink,
)

DIROPS_PROPERTIES = (*BASE_PROPERTIES, "namespace")


@variant("no-rename-mutex", "cross-directory rename without s_vfs_rename_sem")
def no_rename_mutex(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not rename:
        return program
    return program.drop_lock("s_vfs_rename_sem")


flag_variant("child-first", "rmdir and unlink lock the victim before its parent")


@variant("rmdir-no-victim-lock", "vfs_rmdir() calls ->rmdir without locking the victim directory")
def rmdir_no_victim_lock(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not rmdir:
        return program
    return program.drop_lock("i_rwsem(victim)")


def parent_unlocked(operation: Operation) -> Transform:
    """The transform that drops ``operation``'s acquisition of its parent's
    i_rwsem (its step tagged ``lock-parent``)."""

    def transform(program: Program, invocation: Invocation) -> Program:
        if invocation.operation is not operation:
            return program
        return program.drop_acquisitions(lambda step: "lock-parent" in step.tags)

    return transform


create_no_parent_lock = variant(
    "create-no-parent-lock",
    "filename_create() looks the name up and vfs_create() calls ->create without the parent's "
    "i_rwsem",
)(parent_unlocked(create))
mkdir_no_parent_lock = variant(
    "mkdir-no-parent-lock",
    "filename_create() looks the name up and vfs_mkdir() calls ->mkdir without the parent's "
    "i_rwsem (the documented rule it breaks waived, to see what the tree comes to)",
    waives=["inode_operations.mkdir i_rwsem(dir)"],
)(parent_unlocked(mkdir))


flag_variant(
    CHILDREN_BY_LOCK_TWO_INODES,
    "vfs_rename() locks source and target with lock_two_inodes() in every rename, as Linux "
    "6.5-6.7 did (28eceeda130f, until 22e111ed6c83): two subdirectories of one parent in "
    "address order, with no s_vfs_rename_mutex held",
)
flag_variant(
    PARENTS_BY_ADDRESS,
    "lock_two_directories() locks the two parents in address order even when one is an "
    "ancestor of the other",
)
flag_variant(
    FIXED_ADDRESSES,
    "addresses are the inode numbers given out in tree order: one address order, not every "
    "order the scenario can observe",
)


@variant(
    "rename-descendant-parent-first",
    "lock_two_directories(), where p2 is an ancestor of p1, locks p1, the descendant, first",
)
def rename_descendant_parent_first(program: Program, invocation: Invocation) -> Program:
    labels = {step.label for step in program.steps}
    ancestor_first = "inode_lock_nested(p2->d_inode, I_MUTEX_PARENT)"
    descendant_second = "inode_lock_nested(p1->d_inode, I_MUTEX_PARENT2)"
    if not invocation.runs(rename) or not {ancestor_first, descendant_second} <= labels:
        return program  # not a rename across directories (an exchange locks its own way)
    return program.swap(program.step(ancestor_first), program.step(descendant_second))


@variant("no-trap-check", "do_renameat2() skips the old_dentry/new_dentry == trap checks")
def no_trap_check(program: Program, invocation: Invocation) -> Program:
    return program.drop(lambda step: "trap-check" in step.tags)


@replaces(
    rename,
    "noreplace-test-unlocked",
    "do_renameat2() tests RENAME_NOREPLACE on a lookup of the target made before lock_rename(), "
    "then renames under the locks without the test",
)
def noreplace_test_unlocked(op: Op, old: str, new: str, flags: int = 0) -> None:
    if flags & RENAME_NOREPLACE:
        new_parent, new_name = split(new)
        new_dir = op.inode(new_parent)
        early = op.lookup(
            op.dentry(new_dir, new_name),
            "early_target",
            "new_dentry = lookup_fast(new) /* the new parent not locked yet */",
        )
        op.fail_if(
            positive(early),
            E.EEXIST,
            "done",
            "if ((flags & RENAME_NOREPLACE) && d_is_positive(new_dentry)) "
            "/* before lock_rename() */",
        )
    op.run(rename.build, old, new, flags & ~RENAME_NOREPLACE)
    op.label("done")


scenario(
    "dirops/opposite-renames",
    "two cross-directory renames in opposite directions",
    tree=["/a/", "/a/x", "/b/", "/b/z"],
    threads=[rename("/a/x", "/b/y"), rename("/b/z", "/a/w")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/rename-rmdir-link",
    "a cross-directory rename over an empty directory, its rmdir, and a link into it",
    tree=["/a/", "/a/b/", "/c/", "/c/d/", "/c/e"],
    threads=[rename("/c/d", "/a/b"), rmdir("/a/b"), link("/c/e", "/a/b/f")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/exchange",
    "RENAME_EXCHANGE of a directory and a file across directories, racing an unlink of the "
    "file and a rename inside the directory",
    tree=["/a/", "/a/x/", "/a/x/f", "/b/", "/b/y"],
    threads=[
        rename("/a/x", "/b/y", RENAME_EXCHANGE),
        unlink("/b/y"),
        rename("/a/x/f", "/a/x/g"),
    ],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/rename-into-descendant",
    "a directory renamed below its own child while the child moves away",
    tree=["/a/", "/a/b/", "/c/"],
    threads=[rename("/a", "/a/b/x"), rename("/a/b", "/c/y")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/rmdir-vs-create",
    "rmdir of a directory racing a create and a mkdir inside it, and a lookup",
    tree=["/a/", "/a/b/"],
    threads=[rmdir("/a/b"), create("/a/b/f"), mkdir("/a/b/d"), lookup("/a/b/f")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/two-creates",
    "two creates of one name in one directory: one makes the file, the other finds it (-EEXIST)",
    tree=["/a/"],
    threads=[create("/a/f"), create("/a/f")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/two-mkdirs",
    "two mkdirs of one name in one directory: one makes the directory, the other finds it "
    "(-EEXIST)",
    tree=["/a/"],
    threads=[mkdir("/a/d"), mkdir("/a/d")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/rename-up-vs-rmdir",
    "a rename of a file from a directory into its parent, racing an rmdir of that "
    "directory (parent, then child)",
    tree=["/a/", "/a/b/", "/a/b/x"],
    threads=[rename("/a/b/x", "/a/y"), rmdir("/a/b")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/rename-down-vs-rmdir",
    "a rename of a file into an empty subdirectory of its directory (the new parent's "
    "ancestor is the old one), racing an rmdir of that subdirectory (parent, then child)",
    tree=["/a/", "/a/x", "/a/b/"],
    threads=[rename("/a/x", "/a/b/y"), rmdir("/a/b")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/rename-vs-unlink-source",
    "a cross-directory rename of a file racing an unlink of the file's old name, which "
    "looks the name up under the old parent's i_rwsem",
    tree=["/a/", "/c/", "/c/f"],
    threads=[rename("/c/f", "/a/g"), unlink("/c/f")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/rename-over-file-vs-link",
    "a rename of a file over another in one directory (both locked in address order, every "
    "order explored), racing a hard link of the target into another directory",
    tree=["/a/", "/a/x", "/a/y", "/b/"],
    threads=[rename("/a/x", "/a/y"), link("/a/y", "/b/z")],
    properties=DIROPS_PROPERTIES,
)

scenario(
    "dirops/noreplace-vs-create",
    "renameat2(RENAME_NOREPLACE) of a file into another directory racing a create of the "
    "target name there",
    tree=["/a/", "/a/x", "/b/"],
    threads=[rename("/a/x", "/b/y", RENAME_NOREPLACE), create("/b/y")],
    properties=(*DIROPS_PROPERTIES, RENAME_NOREPLACE_KEPT),
)

scenario(
    "dirops/samedir-subdir-rename-vs-rmdir",
    "a same-directory rename of /a/x over /a/y (both subdirectories), an rmdir of /a/y/z, "
    "and a cross-directory rename of /a/x/g to /a/y/z/f (22e111ed6c83's three threads)",
    tree=["/a/", "/a/x/", "/a/x/g", "/a/y/", "/a/y/z/"],
    threads=[rename("/a/x", "/a/y"), rmdir("/a/y/z"), rename("/a/x/g", "/a/y/z/f")],
    properties=DIROPS_PROPERTIES,
)
