"""Dentry-cache scenarios (``dcache/``), the invariants that say what RCU,
d_lock, the dentry methods and namespace_sem protect in them, and the
protocol variants they catch."""

from __future__ import annotations

from collections.abc import Callable

from mc.dsl import (
    BASE_PROPERTIES,
    Invocation,
    LockStep,
    Program,
    State,
    flag_variant,
    invariant,
    scenario,
    step_invariant,
    variant,
)
from mc.dsl.kernel_model import KernelModel
from mc.kernel import properties as _properties  # noqa: F401  (registers the invariants)
from mc.kernel.locks import EXCL, holds
from mc.kernel.world import DONE, ModelError, reported_error
from mc.models.dcache import (
    ALIAS_LIST_INTACT,
    ALIAS_WALKS,
    AUTOMOUNT_NO_RECHECK,
    AUTOMOUNTS,
    CI_COMPARE_EXACT,
    CI_LOOKUPS,
    D_DELETE_UNLOCKED,
    D_IPUT_UNDER_D_LOCK,
    D_LOOKUP_WITHOUT_RCU,
    D_MANAGE_BLOCKS_IN_RCU,
    D_PATHS,
    DENTRY_FREE_WITHOUT_RCU,
    DENTRY_USE_AFTER_FREE,
    DENTRY_USERS,
    FIND_ALIAS_WITHOUT_I_LOCK,
    FREED,
    HASHED,
    KILL_IGNORES_SHRINK_LIST,
    KILL_WITHOUT_PARENT_LOCK,
    KILLABLE,
    LOCK_FOR_KILL_NO_RECHECK,
    LOCK_FOR_KILL_SPINS,
    PARENT_UPDATES_KEPT,
    SHRINK_LIST_OWNED,
    WalkUse,
    ci_lookup,
    d_find_alias,
    d_lookup,
    d_path,
    dput,
    dput_rcu,
    igrab,
    lookup_splice,
    nfsd_rename,
    pipe_d_path,
    rcu_walk,
    real_inode,
    shrink_dcache,
    walk_automount,
)
from mc.models.dentry import (
    IN_LOOKUP_NAMES,
    NO_IN_LOOKUP_WAIT,
    ONE_LOOKUP_PER_NAME,
    in_lookup_slot,
)
from mc.models.dirops import lookup, rename

Check = Callable[[State], str | None]
DENTRY_FREED_UNDER_RCU = "dentry-freed-under-rcu"
DENTRY_KILLED_REFERENCED = "dentry-killed-referenced"
CI_LOOKUP = "ci-lookup"
D_PATH = "d-path"
ONE_AUTOMOUNT = "one-automount"
D_MOVE_WITHOUT_RENAME_LOCK = "d-move-without-rename-lock"


def _slot(model: KernelModel, name: str) -> int:
    return next(n for n, slot in enumerate(model.world.slots) if slot.name == name)


def dentry_freed_under_rcu_reads(model: KernelModel) -> list[str]:
    """What ``dentry-freed-under-rcu`` reads: each used dentry's life, the
    RCU read-side locks it asks about and the registers of the threads
    that use it, while they run (``registers(T)``)."""
    world = model.world
    uses = world.parts.get(DENTRY_USERS, [])
    if not uses:
        return []
    locks = (world.rcu_read_lock, dput_rcu(world))
    return [
        *sorted({f"d_life({use.path})" for use in uses}),
        *sorted({world.slots[lock.slot].name for lock in locks}),
        *sorted({f"registers({world.thread_names[use.tid]})" for use in uses}),
    ]


@invariant(
    DENTRY_FREED_UNDER_RCU,
    "no dentry is freed while a thread that holds no reference to it still uses it: an rcu-walk "
    "that found it, inside its rcu_read_lock() section or before lockref_get_not_dead(), or a "
    "dput() that dropped the last reference and has not returned or killed it (dentry_free() "
    "frees through call_rcu(), so only an RCU read-side section keeps the memory)",
    reads=dentry_freed_under_rcu_reads,
    needs=(DENTRY_USERS, "an rcu-walk or a dput() of a dentry"),
)
def dentry_freed_under_rcu(model: KernelModel) -> Check:
    """A use after free of the dentry: the walk's pointer from
    ``__d_lookup_rcu()`` is used by ``lockref_get_not_dead()`` (and, in
    rcu-walk, by everything up to ``rcu_read_unlock()``); ``fast_dput()``
    reads the dentry after ``lockref_put_return()`` gave 0
    (``retain_dentry()``, ``spin_lock(&dentry->d_lock)``), or after its
    ``dentry->d_lockref.count--`` under d_lock left 0 (lockref_put_return()
    gave -1: d_lock was held); lock_for_kill() may drop d_lock then.  A thread
    outside any RCU read-side section is reported too, so a protocol
    without the ``rcu_read_lock()`` is caught rather than checking nothing.
    A dput() is taken as using the dentry until its thread returns or
    its kill marked the dentry DCACHE_DENTRY_KILLED (a dput() that kills
    it frees it itself at its last step, unless a shrinker has it on its
    list), and dput() and rcu_walk() end with it (an operation of your own that ran
    the dput body and went on would be reported as still using it).

    It reads the registers ``found`` and ``got`` of an rcu-walk and ``ret``
    of a dput() while their threads run, which it names as
    ``registers(T)``."""
    world = model.world
    rcu, dput_section = world.rcu_read_lock, dput_rcu(world)
    users = [
        (use, _slot(model, f"d_life({use.path})")) for use in world.parts.get(DENTRY_USERS, [])
    ]

    def check(state: State) -> str | None:
        for use, life in users:
            if state[life] != FREED:
                continue
            name = world.thread_names[use.tid]
            if isinstance(use, WalkUse):
                if not state[use.found]:
                    continue
                if holds(rcu.kind, state[rcu.slot], use.tid):
                    return (
                        f"{use.path} is freed while {name}, which found it in rcu-walk, is still "
                        "under rcu_read_lock()"
                    )
                if state[use.got] is None:
                    return (
                        f"{use.path} is freed while {name}, which found it in rcu-walk and has "
                        "not taken a reference (lockref_get_not_dead()), still uses it: it is not "
                        "in an RCU read-side section"
                    )
            elif state[use.ret] == 0 and state[use.pc] != DONE and state[use.can_free] is None:
                where = (
                    "under dput()'s rcu_read_lock()"
                    if holds(dput_section.kind, state[dput_section.slot], use.tid)
                    else "and is not in an RCU read-side section"
                )
                return (
                    f"{use.path} is freed while {name}'s dput(), which dropped the last reference "
                    f"(fast_dput() left the count 0), still uses it {where}"
                )
        return None

    return check


@invariant(
    DENTRY_KILLED_REFERENCED,
    "no dentry is killed (lockref_mark_dead()) while it has a reference: the killer holds d_lock "
    "from seeing the count 0 to marking it dead, and lockref_get_not_dead() cannot take one "
    "while d_lock is held",
    reads=["d_life", "d_count"],
    needs=(KILLABLE, "a dput() or a shrinker"),
)
def dentry_killed_referenced(model: KernelModel) -> Check:
    """Every dentry a dput() or the shrinker may kill, whatever takes its
    references (an rcu-walk, ``d_find_alias()``)."""
    world = model.world
    dentries = sorted(world.parts.get(KILLABLE, {}))
    slots = [
        (path, _slot(model, f"d_life({path})"), _slot(model, f"d_count({path})"))
        for path in dentries
    ]

    def check(state: State) -> str | None:
        for path, life, count in slots:
            if state[life] != HASHED and state[count] > 0:
                return (
                    f"{path} is {state[life]} with {state[count]} reference(s) held: "
                    "it was killed while referenced, or a reference was taken on it while "
                    "it was being killed"
                )
        return None

    return check


def ci_lookup_reads(model: KernelModel) -> list[str]:
    """What ``ci-lookup`` reads: whether each lookup's thread has returned
    and then its result, and the dentries of the children of the
    directories looked in."""
    world = model.world
    lookups = list(world.parts.get(CI_LOOKUPS, []))
    pcs = {pc for pc, _result, _parent, _name in lookups}
    parents = {parent for _pc, _result, parent, _name in lookups}
    returned = [f"returned({thread.name})" for thread in model.threads if thread.slots.pc in pcs]
    dentries = [
        world.slots[d.slot].name
        for parent in sorted(parents)
        for d in world.children(world.lookup_path(parent))
    ]
    return [*returned, *dentries]


def _refuse_name_changes(model: KernelModel, lookups: list[tuple[int, int, str, str]]) -> None:
    """A ``ModelError`` when a thread other than the lookups takes the
    i_rwsem of a directory looked in exclusively (what every change of its
    names holds: a create, an open with O_CREAT, an unlink, a link, a
    rename...): ``ci-lookup`` judges a returned result against the names as
    they stand, which the kernel promises only for the moment of the walk
    (``d_seq``)."""
    lookers = {pc for pc, _result, _parent, _name in lookups}
    watched = {f"i_rwsem({parent})": parent for _pc, _result, parent, _name in lookups}
    for thread in model.threads:
        if thread.slots.pc in lookers:
            continue
        for compiled in thread.steps:
            step = compiled.step
            if not isinstance(step, LockStep) or step.mode is not EXCL:
                continue
            lock = step.lock.fixed
            if lock is not None and lock.name in watched:
                raise ModelError(
                    f"{thread.name} changes names in {watched[lock.name]} ({step.label}), where "
                    f"a lookup of the scenario looks: ci-lookup judges a lookup's result "
                    "against the names after it returned, which the kernel promises only for "
                    "the moment of the walk; check such a scenario with --no-property ci-lookup"
                )


@invariant(
    CI_LOOKUP,
    "a lookup in a casefolded directory returns the inode of the name that matches it "
    "case-insensitively, and no other name's inode (->d_hash and ->d_compare)",
    reads=ci_lookup_reads,
    needs=(CI_LOOKUPS, "a lookup in a casefolded directory"),
)
def ci_lookup_finds(model: KernelModel) -> Check:
    world = model.world
    lookups = list(world.parts.get(CI_LOOKUPS, []))
    _refuse_name_changes(model, lookups)

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
    D_PATH,
    "d_path() returns a path that named the file while its walk ran, as it began or when it "
    "was validated: rename_lock's sequence unchanged since read_seqbegin(), or the walk made "
    "holding rename_lock (a walk that a rename overtook mixes old and new names into a path "
    "that never existed)",
    needs=(D_PATHS, "a d_path()"),
    reads=["returned"],
)
def d_path_named(model: KernelModel) -> Check:
    walks = list(model.world.parts.get(D_PATHS, []))

    def check(state: State) -> str | None:
        for pc, result, seen, path in walks:
            if state[pc] == DONE and state[result] not in state[seen]:
                named = " and ".join(state[seen])
                were = (
                    "the paths that named it" if len(state[seen]) > 1 else "the path that named it"
                )
                return (
                    f"d_path() of {path} returned {state[result]}, but {were} while its walk ran "
                    f"(as it began and when it was validated): {named}"
                )
        return None

    return check


@invariant(
    ONE_AUTOMOUNT,
    "an automount point gets one mount however many walks trigger it (finish_automount() "
    "rechecks under namespace_sem)",
    reads=["mounted"],
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


@invariant(
    ONE_LOOKUP_PER_NAME,
    "->lookup of a name runs in one thread at a time: d_alloc_parallel() gives a name that "
    "misses the dcache one in-lookup dentry, and a lookup of the name that finds it waits in "
    "d_wait_lookup() until d_lookup_done(); no thread runs ->lookup of a name holding no "
    "in-lookup dentry of it; and no thread returns with an in-lookup dentry it has not ended",
    reads=["d_in_lookup", "returned", "error"],
    needs=(IN_LOOKUP_NAMES, "a lookup that misses the dcache"),
)
def one_lookup_per_name(model: KernelModel) -> Check:
    """Two threads holding in-lookup dentries of one name: each calls
    ->lookup on its own, which filesystems are promised does not happen
    (NFS, FUSE and overlayfs instantiate the dentry ->lookup was given);
    or a thread that returned with one: every later lookup of the name
    waits for it in d_wait_lookup(), uninterruptibly, for ever."""
    world = model.world
    looked_up = dict.fromkeys(world.parts.get(IN_LOOKUP_NAMES, []))
    names = [(name, in_lookup_slot(world, name)) for name in looked_up]
    pcs = {thread.name: thread.slots.pc for thread in model.threads}

    def check(state: State) -> str | None:
        for name, slot in names:
            if len(state[slot]) > 1:
                both = " and ".join(state[slot])
                return f"{both} each hold an in-lookup dentry of {name} and call ->lookup on it"
            for holder in state[slot]:
                if state[pcs[holder]] == DONE:
                    return (
                        f"{holder} returned with an in-lookup dentry of {name} it never ended "
                        "(no d_lookup_done()): every later lookup of the name waits for ever"
                    )
        return reported_error(state, ONE_LOOKUP_PER_NAME)

    return check


flag_variant(
    NO_IN_LOOKUP_WAIT,
    "d_alloc_parallel() does not search the in-lookup hash: a lookup of a name another lookup "
    "is looking up gets an in-lookup dentry of its own and calls ->lookup too",
)
flag_variant(
    DENTRY_FREE_WITHOUT_RCU,
    "dentry_free() frees the dentry at once (as for DCACHE_NORCU) instead of through call_rcu()",
)
flag_variant(D_DELETE_UNLOCKED, "fast_dput() asks ->d_delete before taking the dentry's d_lock")
flag_variant(
    D_IPUT_UNDER_D_LOCK, "__dentry_kill() calls ->d_iput before dropping the dentry's d_lock"
)
flag_variant(
    LOCK_FOR_KILL_SPINS,
    "lock_for_kill() spins on spin_trylock(&inode->i_lock) with the dentry's d_lock still held "
    "(while (!spin_trylock(&inode->i_lock)) cpu_relax();) instead of dropping d_lock and taking "
    "i_lock first: a thread that holds i_lock and waits for d_lock (d_find_alias()) never gets "
    "it, and the spinner never stops",
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


@variant(
    D_MOVE_WITHOUT_RENAME_LOCK,
    "a rename's d_move() runs without write_seqlock(&rename_lock), so rename_lock's sequence "
    "does not tell a lockless d_path() walk that a rename overtook it",
)
def d_move_without_rename_lock(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not rename:
        return program
    return program.drop_lock("rename_lock")


@variant(
    FIND_ALIAS_WITHOUT_I_LOCK,
    "d_find_alias() walks the inode's alias list (i_dentry) without taking the inode's i_lock",
)
def find_alias_without_i_lock(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not d_find_alias:
        return program
    return program.drop_lock("i_lock")


flag_variant(
    KILL_IGNORES_SHRINK_LIST,
    "__dentry_kill() frees a dentry that is on a shrinker's dispose list (no can_free = false "
    "for DCACHE_SHRINK_LIST): the shrinker then takes the freed dentry's d_lock",
)

step_invariant(
    SHRINK_LIST_OWNED,
    "a dentry on a shrinker's dispose list (DCACHE_SHRINK_LIST) is freed by the shrinker "
    "alone, once it took the dentry off the list: a kill elsewhere marks it "
    "DCACHE_DENTRY_KILLED and leaves it there",
    needs=(KILLABLE, "a dput() or a shrinker"),
)

step_invariant(
    DENTRY_USE_AFTER_FREE,
    "no thread takes, or tries to take, the d_lock of a dentry dentry_free() freed "
    "(call_rcu(__d_free) ran after the grace period): the memory is gone, whether or not the "
    "thread is in an RCU read-side section now (it had to be in one from before the free was "
    "queued); checked at every acquisition of a dentry's d_lock, a user operation's too",
    needs=(KILLABLE, "a dput() or a shrinker"),
)

step_invariant(
    PARENT_UPDATES_KEPT,
    "a kill's removal of the dentry from its parent's child list (dentry_unlist()'s "
    "__hlist_del(&dentry->d_sib)) and its put of the parent's d_lockref.count are never "
    "written over a sibling's removal or another get or put of the parent made between "
    "their load and their store: the parent's d_lock orders them (fs/dcache.c: d_lock "
    "protects d_parent and d_children, the children's d_sib, and d_count)",
    needs=(KILLABLE, "a dput() or a shrinker"),
)

flag_variant(
    KILL_WITHOUT_PARENT_LOCK,
    "__dentry_kill() unlists the dentry and puts its parent's count without the parent's "
    "d_lock, under the dentry's own d_lock alone",
)

DCACHE_PROPERTIES = (
    *BASE_PROPERTIES,
    "namespace",
    DENTRY_FREED_UNDER_RCU,
    DENTRY_KILLED_REFERENCED,
    SHRINK_LIST_OWNED,
    DENTRY_USE_AFTER_FREE,
    PARENT_UPDATES_KEPT,
)

scenario(
    "dcache/dput-vs-rcu-walk",
    "the last dput() of a dentry of a filesystem that deletes unused dentries, racing an "
    "rcu-walk that finds it and takes a reference of its own",
    tree=["/a/", "/a/x"],
    threads=[dput("/a/x"), rcu_walk("/a/x")],
    properties=DCACHE_PROPERTIES,
)

flag_variant(
    D_LOOKUP_WITHOUT_RCU,
    "__d_lookup() walks the hash chain and takes the candidate's d_lock without "
    "rcu_read_lock(): nothing holds back the grace period of a kill that frees it meanwhile",
)

scenario(
    "dcache/sibling-kills",
    "the last dput()s of two dentries of one directory, each killing its dentry, racing the "
    "last dput() of the directory's own reference: each kill unlists its dentry and puts the "
    "directory's count under the directory's d_lock, and the directory's put is lockref's "
    "cmpxchg while that d_lock is free",
    tree=["/a/", "/a/x", "/a/y"],
    threads=[dput("/a/x"), dput("/a/y"), dput("/a")],
    properties=DCACHE_PROPERTIES,
)

scenario(
    "dcache/dput-vs-d-lookup",
    "the last dput() of a dentry racing d_lookup() of its name, which finds it on the hash "
    "chain under rcu_read_lock() and takes its d_lock holding no reference (__d_lookup())",
    tree=["/a/", "/a/x"],
    threads=[dput("/a/x"), d_lookup("/a/x")],
    properties=DCACHE_PROPERTIES,
)

scenario(
    "dcache/dput-vs-shrink",
    "the last dput() of a dentry racing the shrinker and an rcu-walk",
    tree=["/a/", "/a/x"],
    threads=[dput("/a/x"), shrink_dcache("/a/x"), rcu_walk("/a/x")],
    properties=DCACHE_PROPERTIES,
)

step_invariant(
    ALIAS_LIST_INTACT,
    "d_find_alias()'s walk of an inode's alias list (i_dentry) never steps through a dentry "
    "dentry_free() has queued on call_rcu() or freed: the killer takes it off the list under "
    "the inode's i_lock, which the walk holds",
    needs=(ALIAS_WALKS, "a d_find_alias()"),
)

scenario(
    "dcache/dput-vs-find-alias",
    "the last dput() of a dentry racing d_find_alias() of its inode, which takes the inode's "
    "i_lock and then the dentry's d_lock: lock_for_kill()'s trylock of i_lock under d_lock "
    "fails and it takes them in that order",
    tree=["/a/", "/a/x"],
    threads=[dput("/a/x"), d_find_alias("/a/x")],
    properties=(*DCACHE_PROPERTIES, ALIAS_LIST_INTACT),
)

scenario(
    "dcache/dput-vs-igrab",
    "the last dput() of a dentry racing igrab() of its inode, which holds the inode's i_lock "
    "and no dentry: lock_for_kill()'s trylock of i_lock under d_lock may fail, and its slow "
    "path (d_lock dropped, i_lock and d_lock taken in order, the count read again) goes on to "
    "the kill",
    tree=["/a/", "/a/x"],
    threads=[dput("/a/x"), igrab("/a/x")],
    properties=DCACHE_PROPERTIES,
)

scenario(
    "dcache/dput-shrink-vs-find-alias",
    "the last dput() of a dentry and the shrinker racing d_find_alias() of its inode: the "
    "shrinker's lock_for_kill(), inside its RCU section, finds i_lock held and takes i_lock, "
    "then d_lock",
    tree=["/a/", "/a/x"],
    threads=[dput("/a/x"), shrink_dcache("/a/x"), d_find_alias("/a/x")],
    properties=(*DCACHE_PROPERTIES, ALIAS_LIST_INTACT),
)

flag_variant(
    LOCK_FOR_KILL_NO_RECHECK,
    "lock_for_kill() returns true once it has taken i_lock and d_lock again, without reading "
    "d_lockref.count again: a reference d_find_alias() took while d_lock was dropped is killed",
)

scenario(
    "dcache/shrink-vs-find-alias",
    "the shrinker killing an unused dentry racing d_find_alias() of its inode, which takes a "
    "reference under the inode's i_lock while lock_for_kill() has dropped d_lock to take i_lock",
    tree=["/a/", "/a/x"],
    threads=[shrink_dcache("/a/x"), d_find_alias("/a/x")],
    properties=(
        *(name for name in DCACHE_PROPERTIES if name != DENTRY_FREED_UNDER_RCU),
        ALIAS_LIST_INTACT,
    ),
)

scenario(
    "dcache/ci-lookup",
    "two lookups in a casefolded directory of names that differ from the stored one in case",
    tree=["/d/", "/d/Foo"],
    threads=[ci_lookup("/d/foo"), ci_lookup("/d/FOO")],
    properties=(*BASE_PROPERTIES, "namespace", CI_LOOKUP),
)

scenario(
    "dcache/parallel-lookups",
    "two lookups of a name that is not in the dcache and one of another name in the same "
    "directory, each under the parent's i_rwsem shared: one of the two takes the name's "
    "in-lookup dentry and calls ->lookup, the other waits for it in d_wait_lookup()",
    tree=["/a/"],
    threads=[lookup("/a/x"), lookup("/a/x"), lookup("/a/y")],
    properties=(*BASE_PROPERTIES, "namespace", ONE_LOOKUP_PER_NAME),
)

scenario(
    "dcache/d-path-vs-rename",
    "d_path() of a file (readlink of /proc/self/fd/N) racing the rename of the directory it is "
    "in to another parent and name: the lockless walk reads each dentry's parent and name "
    "apart, and rename_lock's sequence makes it walk again under the lock",
    tree=["/a/", "/a/d/", "/a/d/f", "/b/"],
    threads=[rename("/a/d", "/b/e"), d_path("/a/d/f")],
    properties=(*BASE_PROPERTIES, "namespace", D_PATH),
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
