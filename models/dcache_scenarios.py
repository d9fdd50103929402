"""Dentry-cache scenarios (``dcache/``), the invariants that say what RCU,
d_lock, the dentry methods and namespace_sem protect in them, and the
protocol variants they catch."""

from __future__ import annotations

from collections.abc import Callable

from mc.dsl import BASE_PROPERTIES, State, flag_variant, invariant, scenario
from mc.dsl.kernel_model import KernelModel
from mc.kernel import properties as _properties  # noqa: F401  (registers the invariants)
from mc.kernel.locks import holds
from mc.kernel.world import DONE
from mc.models.dcache import (
    AUTOMOUNT_NO_RECHECK,
    AUTOMOUNTS,
    CI_COMPARE_EXACT,
    CI_LOOKUPS,
    D_DELETE_UNLOCKED,
    D_IPUT_UNDER_D_LOCK,
    D_MANAGE_BLOCKS_IN_RCU,
    DENTRY_FREE_WITHOUT_RCU,
    FREED,
    RCU_WALKERS,
    ci_lookup,
    dput,
    lookup_splice,
    nfsd_rename,
    pipe_d_path,
    rcu_walk,
    real_inode,
    shrink_dcache,
    walk_automount,
)

Check = Callable[[State], str | None]
DENTRY_FREED_UNDER_RCU = "dentry-freed-under-rcu"
CI_LOOKUP = "ci-lookup"
ONE_AUTOMOUNT = "one-automount"


def _slot(model: KernelModel, name: str) -> int:
    return next(n for n, slot in enumerate(model.world.slots) if slot.name == name)


@invariant(
    DENTRY_FREED_UNDER_RCU,
    "no dentry is freed while an rcu-walk that found it is still in its rcu_read_lock() section "
    "(dentry_free() frees through call_rcu())",
    needs=(RCU_WALKERS, "an rcu-walk holding a dentry"),
)
def dentry_freed_under_rcu(model: KernelModel) -> Check:
    world = model.world
    rcu = world.rcu_read_lock
    walkers = [
        (tid, found, path, _slot(model, f"d_life({path})"))
        for tid, found, path in world.parts.get(RCU_WALKERS, [])
    ]

    def check(state: State) -> str | None:
        for tid, found, path, life in walkers:
            if state[found] and state[life] == FREED and holds(rcu.kind, state[rcu.slot], tid):
                return (
                    f"{path} is freed while {world.thread_names[tid]}, which found it in "
                    "rcu-walk, is still under rcu_read_lock()"
                )
        return None

    return check


@invariant(
    CI_LOOKUP,
    "a lookup in a casefolded directory returns the inode of the name that matches it "
    "case-insensitively, and no other name's inode (->d_hash and ->d_compare)",
    needs=(CI_LOOKUPS, "a lookup in a casefolded directory"),
)
def ci_lookup_finds(model: KernelModel) -> Check:
    world = model.world
    lookups = list(world.parts.get(CI_LOOKUPS, []))

    def check(state: State) -> str | None:
        for pc, result, parent, name in lookups:
            if state[pc] != DONE:
                continue
            directory = world.lookup_path(parent)
            matches = [
                state[d.slot]
                for d in world.children(directory)
                if d.name.casefold() == name.casefold() and state[d.slot] is not None
            ]
            expected = matches[0] if matches else None
            if state[result] != expected:
                return (
                    f"the lookup of {name} in {parent} returned {world.inode_name(state[result])}, "
                    f"but the name that matches it names {world.inode_name(expected)}"
                )
        return None

    return check


@invariant(
    ONE_AUTOMOUNT,
    "an automount point gets one mount however many walks trigger it (finish_automount() "
    "rechecks under namespace_sem)",
    needs=(AUTOMOUNTS, "an automount point"),
)
def one_automount(model: KernelModel) -> Check:
    points = [
        (slot.name[len("mounted(") : -1], n)
        for n, slot in enumerate(model.world.slots)
        if slot.name.startswith("mounted(")
    ]

    def check(state: State) -> str | None:
        for path, slot in points:
            if state[slot] > 1:
                return f"{state[slot]} filesystems are mounted on {path} by its automount"
        return None

    return check


flag_variant(
    DENTRY_FREE_WITHOUT_RCU,
    "dentry_free() frees the dentry at once (as for DCACHE_NORCU) instead of through call_rcu()",
)
flag_variant(D_DELETE_UNLOCKED, "fast_dput() asks ->d_delete before taking the dentry's d_lock")
flag_variant(
    D_IPUT_UNDER_D_LOCK, "__dentry_kill() calls ->d_iput before dropping the dentry's d_lock"
)
flag_variant(
    CI_COMPARE_EXACT,
    "the casefolded filesystem's ->d_compare compares the bytes (memcmp) and not the casefolded "
    "names",
)
flag_variant(
    AUTOMOUNT_NO_RECHECK,
    "finish_automount() grafts the new mount without checking under namespace_sem that nothing "
    "was mounted meanwhile",
)
flag_variant(
    D_MANAGE_BLOCKS_IN_RCU,
    "autofs_d_manage() waits for the daemon (and sleeps) in rcu-walk instead of returning -ECHILD",
)

DCACHE_PROPERTIES = (*BASE_PROPERTIES, "namespace", DENTRY_FREED_UNDER_RCU)

scenario(
    "dcache/dput-vs-rcu-walk",
    "the last dput() of a dentry of a filesystem that deletes unused dentries, racing an "
    "rcu-walk that finds it and takes a reference of its own",
    tree=["/a/", "/a/x"],
    threads=[dput("/a/x"), rcu_walk("/a/x")],
    properties=DCACHE_PROPERTIES,
)

scenario(
    "dcache/dput-vs-shrink",
    "the last dput() of a dentry racing the shrinker and an rcu-walk",
    tree=["/a/", "/a/x"],
    threads=[dput("/a/x"), shrink_dcache("/a/x"), rcu_walk("/a/x")],
    properties=DCACHE_PROPERTIES,
)

scenario(
    "dcache/ci-lookup",
    "two lookups in a casefolded directory of names that differ from the stored one in case",
    tree=["/d/", "/d/Foo"],
    threads=[ci_lookup("/d/foo"), ci_lookup("/d/FOO")],
    properties=(*BASE_PROPERTIES, "namespace", CI_LOOKUP),
)

scenario(
    "dcache/disconnected-rename",
    "an NFS rename out of a directory whose dentry is disconnected (d_obtain_alias()), racing "
    "a lookup that reconnects it (d_splice_alias())",
    tree=["/a/", "/a/b/", "/a/b/x", "/c/"],
    threads=[nfsd_rename("/a/b/x", "/c/y"), lookup_splice("/a/b")],
    properties=(*BASE_PROPERTIES, "namespace"),
)

scenario(
    "dcache/automount",
    "two walks triggering one autofs mount point, d_real_inode() of an overlayfs dentry and "
    "d_path() of a pipe",
    tree=["/auto/"],
    threads=[walk_automount("/auto"), walk_automount("/auto"), real_inode("/ovl/f"), pipe_d_path()],
    properties=(*BASE_PROPERTIES, "namespace", ONE_AUTOMOUNT),
)
