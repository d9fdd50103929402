"""The dentry cache, from fs/dcache.c and fs/namei.c of Linux 6.12: the
last ``dput()`` and the shrinker killing a dentry (``->d_delete`` under
``d_lock``, ``__dentry_kill()``: ``->d_prune``, ``->d_iput``,
``->d_release``, the RCU-delayed free), the rcu-walk that may hold a
pointer to the dentry meanwhile, ``__d_alloc()`` (``->d_init``), a
case-insensitive filesystem's ``->d_hash``/``->d_compare`` in
``__d_lookup_rcu()``, a disconnected directory (``d_obtain_alias()``) that
a rename meets in ``lock_two_directories()`` and a lookup reconnects
(``d_splice_alias()``), mount traversal (``->d_manage`` in rcu-walk and
ref-walk, ``->d_automount``) with ``complete_walk()``'s
``->d_weak_revalidate``, ``d_real_inode()`` (``->d_real``) and
``d_path()`` of a pipe (``->d_dname``), ``d_find_alias()``, and
``d_lookup()`` (``__d_lookup()``: a candidate's d_lock taken with no
reference, under RCU).

``lock_for_kill()``, on dput()'s path and the shrinker's, takes the inode's
``i_lock`` (``i_lock(/a/x)``, class ``i_lock``): by ``spin_trylock()`` under the
dentry's d_lock, else in the order fs/dcache.c documents (``Ordering:
dentry->d_inode->i_lock, dentry->d_lock``): d_lock dropped, i_lock taken,
d_lock taken again and the count read again; ``dentry_unlink_inode()``
drops d_lock, then i_lock.  ``d_find_alias()`` takes i_lock, then the
alias's d_lock.  The dentry's inode is fixed (no ``d_delete()``
makes it negative meanwhile), so lock_for_kill()'s ``inode ==
dentry->d_inode`` recheck always holds and its loop runs once.

``fast_dput()``'s lockless decrement, ``lockref_put_return()``
(lib/lockref.c), is one cmpxchg of the lockref's {spinlock, count} word:
it succeeds only while the dentry's d_lock is free (``CMPXCHG_LOOP``'s
``arch_spin_value_unlocked()``), and gives -1 while a thread holds it (or
for a count <= 0).  fast_dput() then takes ``spin_lock(&dentry->d_lock)``,
returns at once on ``WARN_ON_ONCE(dentry->d_lockref.count <= 0)``, else
decrements under the lock (``dentry->d_lockref.count--``) and goes to
``locked:``, the count and ``retain_dentry(dentry, true)`` under d_lock,
as after a lockless decrement to 0 (``fast_dput()`` and
``lockref_put_return()`` read in 6.17-rc3, Kingxukai/linux fs/dcache.c
and lib/lockref.c at 9b44fff6).  A dentry's count thus changes only while
its d_lock is free or by the thread that holds it, as with
``lockref_get_not_dead()``.

The filesystem sets every dentry method: ``->d_delete`` is
``always_delete_dentry()`` (an unused dentry is killed, not kept on the
LRU), ``->d_prune``, ``->d_init`` and ``->d_release`` do what ceph's do to
their own state (nothing the VFS reads), ``->d_iput`` is configfs's (iput).
The case-insensitive one is ext4 with casefolding (generic_ci_d_hash(),
generic_ci_d_compare()); the automounter is autofs (autofs_d_manage(),
autofs_d_automount()) mounting NFS (nfs_weak_revalidate()); ``->d_real``
is overlayfs's; ``->d_dname`` pipefs's.

A dentry's life is one slot: hashed, dead (lockref_mark_dead()), unhashed
(__d_drop()), freed; its reference count another; its ``d_u`` union a
third: on the inode's alias list (``i_dentry``, one alias per inode here),
off it, or the rcu_head ``call_rcu()`` wrote over it.  An RCU grace period
is a wait until no thread is in an RCU read-side section (the model does
not count a spinlock's holder as a reader, which the kernel does: a free
it reports under a spinlock alone is one the kernel may not make).  dput()'s
rcu_read_lock() is a read-side section of its own
(``rcu_read_lock(dput)``), not the path walk's rcu-walk that the locking
rules' rcu-walk column means.  The shrinker's is one too
(``rcu_read_lock(shrink)``), entered under the dentry's d_lock, and its
``lock_for_kill()`` takes i_lock then d_lock inside it: the lock-order
checker makes no edge into an RCU section, which never waits
(``Kind.never_waits``), so d_lock -> rcu_read_lock(shrink) -> i_lock ->
d_lock is no cycle.

A dentry the shrinker has on its dispose list carries DCACHE_SHRINK_LIST:
a kill by ``dput()`` marks it DCACHE_DENTRY_KILLED and leaves freeing it to
the shrinker (``__dentry_kill()``'s ``can_free = false``), which finds it
killed under its d_lock, takes it off the list (``d_shrink_del()``) and
frees it; ``shrink-list-owned`` is broken by a ``dentry_free()`` of a
dentry still on the list.  Once freed, a dentry's ``d_lock`` is freed
memory: every acquisition of it (``op.lock``, ``op.trylock``,
``op.section``, in any operation, a user's too) is checked by the lock's
acquisition guard, which :func:`life_slot` declares
(``World.guard_acquisitions``), and taking it then is a
``dentry-use-after-free``.  Between ``call_rcu()`` and the end of the
grace period the memory is still there: the model's grace period waits
for every read-side section, also one that began after ``call_rcu()``
(the kernel's does not), but a section that begins after ``call_rcu()``
can as well begin after ``__d_free()``, and that interleaving is the
one reported.  Left out: the LRU lists (the shrinker's dentry is
on its list from the start; ``dentry_lru_isolate()``'s trylock is not a step),
the kill of a parent whose count a child's kill brought to 0 (the kill
drops the parent's d_lock, where dput()'s loop would go on with the
parent), d_seq; the mount itself (a slot: mounted or not) and
namespace_sem's other users.

Each dentry a scenario may kill is on its parent's child list
(``d_children``, a set of names) and holds one reference to it, in the
parent's count from the start.  ``__dentry_kill()`` takes the parent's
d_lock (but for the root), then ``dentry_unlist()``'s
``__hlist_del(&dentry->d_sib)`` reads the list and writes it without the
dentry, and ``--parent->d_lockref.count`` loads the count and stores it
less one, each a load and a store apart: a sibling's kill, or a get or
put of the parent's (lockref's cmpxchg, only while the parent's d_lock is
free), between the two is lost (``parent-updates-kept``).

``dput()``, ``fast_dput()``, ``retain_dentry()``, ``lock_for_kill()``,
``__dentry_kill()``, ``dentry_unlink_inode()``, ``dentry_free()`` and
``shrink_dentry_list()`` were read again in a 6.17-rc3 tree
(Kingxukai/linux, fs/dcache.c at 9b44fff6): the same as 6.12 where the
model goes; ``d_find_alias()``, ``__d_find_alias()``,
``d_prune_aliases()`` and the file's "Ordering" comment were read in that
tree.  ``retain_dentry(dentry, false)``, the lockless first try,
returns false for a dentry with ``DCACHE_OP_DELETE`` without calling
``->d_delete`` ("that requires ->d_lock"), so ``->d_delete`` is called
only by ``retain_dentry(dentry, true)`` under ``d_lock``; ``->d_prune`` is
called by ``__dentry_kill()`` under ``d_lock`` before ``__d_drop()``;
``->d_iput`` by ``dentry_unlink_inode()`` after it dropped ``d_lock`` and
the inode's ``i_lock``; ``->d_release`` with no lock.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from mc.dsl import EXCL, SHARED, Cite, Op, Scratch, World, const, operation, same, touches
from mc.kernel.expr import Expr, below, differ, slot_value, state_expr
from mc.kernel.locks import Kind, Lock, holders
from mc.kernel.world import Dentry, ModelError, yes_no
from mc.models.dentry import DentryObject, d_alloc_parallel, d_lookup_done, dentry_object
from mc.models.dirops import rename, split
from mc.models.namei import ECHILD, lookup_slow

HASHED, DEAD, DROPPED, UNHASHED, FREED = "hashed", "dead", "dropped", "unhashed", "freed"
LISTED, UNLISTED, RCU_HEAD = "listed", "unlisted", "rcu_head"
DCACHE_READ = "6.17-rc3 (Kingxukai/linux 9b44fff6)"
NAMEI_READ = "6.17-rc3 (Kingxukai/linux 0291023e)"
UNLIST_LOCKS = ("spin_lock_nested(&dentry->d_lock,DENTRY_D_LOCK_NESTED)",)
SPLICE_LEFT_OUT = (
    "spin_lock(&inode->i_lock)",
    "spin_unlock(&inode->i_lock)",
    "spin_lock(&dentry->d_lock)",
    "spin_unlock(&dentry->d_lock)",
    "mutex_trylock",
    "inode_trylock_shared",
    "up_read",
    "mutex_unlock",
    "dentry_operations.d_unalias_trylock",
    "dentry_operations.d_unalias_unlock",
)
DENTRY_FREE_WITHOUT_RCU = "dentry-free-without-rcu"
KILL_IGNORES_SHRINK_LIST = "kill-ignores-shrink-list"
SHRINK_LIST_OWNED = "shrink-list-owned"
PARENT_UPDATES_KEPT = "parent-updates-kept"
KILL_WITHOUT_PARENT_LOCK = "kill-without-parent-lock"
D_DELETE_UNLOCKED = "d-delete-unlocked"
D_IPUT_UNDER_D_LOCK = "d-iput-under-d-lock"
LOCK_FOR_KILL_SPINS = "lock-for-kill-spins"
LOCK_FOR_KILL_NO_RECHECK = "lock-for-kill-no-recheck"
CI_COMPARE_EXACT = "ci-compare-exact"
AUTOMOUNT_NO_RECHECK = "automount-no-recheck"
D_MANAGE_BLOCKS_IN_RCU = "d-manage-blocks-in-rcu"
FIND_ALIAS_WITHOUT_I_LOCK = "find-alias-without-i-lock"
DENTRY_USERS = "dcache-dentry-users"
KILLABLE = "dcache-killable-dentries"
CI_LOOKUPS = "dcache-ci-lookups"
AUTOMOUNTS = "automount-points"
D_PATHS = "d-paths"
ALIAS_WALKS = "d-find-alias-walks"
ALIAS_LIST_INTACT = "alias-walk-intact"
DENTRY_USE_AFTER_FREE = "dentry-use-after-free"
D_LOOKUP_WITHOUT_RCU = "d-lookup-without-rcu"


def life_slot(world: World, path: str) -> int:
    """The dentry's life, two facts and the free: ``hashed`` (in the hash,
    its lockref alive), ``dead`` (``lockref_mark_dead()``, still hashed),
    ``dropped`` (``__d_drop()``, alive: a kill that drops it before marking
    it dead), ``unhashed`` (both), ``freed``.  Each step of a kill moves it
    one way only (:func:`mark_dead`, :func:`drop_hash`), so a kill that
    does the two in the other order ends where the kernel's does.  Freed, the
    dentry's memory is gone, and every acquisition of its ``d_lock``, in a
    shipped operation or a user's (``op.lock``, ``op.trylock``,
    ``op.section``), is a use after free (``dentry-use-after-free``, the
    lock's acquisition guard: :func:`taking_freed`)."""
    slot = world.shared_slot(f"d_life({path})", HASHED)
    alias = alias_slot(world, path)
    world.guard_acquisitions(
        dentry_object(world, path).d_lock.name,
        DENTRY_USE_AFTER_FREE,
        (slot, alias),
        taking_freed(path, slot, alias),
    )
    return slot


def taking_freed(path: str, life: int, alias: int) -> Callable[[Sequence[Any], int], str | None]:
    """The check of an acquisition of ``path``'s d_lock: what is wrong
    once the dentry is freed.  ``__dentry_kill()`` -> ``dentry_free()`` ->
    ``call_rcu(&dentry->d_u.d_rcu, __d_free)`` (fs/dcache.c, read in
    6.17-rc3, Kingxukai/linux 9b44fff6): ``__d_free()`` runs once the grace
    period has ended, and ``kmem_cache_free(dentry_cache, dentry)`` gives
    the memory back, d_lock with it.  Any access from then on is a use
    after free, ``spin_lock(&dentry->d_lock)`` and ``spin_trylock()``
    first, whether or not the thread is in an RCU read-side section now:
    to keep the memory it would have had to be in one from before the free
    was queued, and the grace period would not have ended.  The lock's
    slot is not read: only the dentry's life, and its ``d_u`` union
    (:func:`alias_slot`), which says whether the free went through
    ``call_rcu()`` (not under ``dentry-free-without-rcu``)."""

    def check(state: Sequence[Any], _tid: int) -> str | None:
        if state[life] != FREED:
            return None
        how = (
            "dentry_free() queued call_rcu(&dentry->d_u.d_rcu, __d_free), and __d_free() ran "
            "after the grace period"
            if state[alias] == RCU_HEAD
            else "dentry_free() freed it at once, with no RCU grace period"
        )
        return (
            f"{path} was freed: __dentry_kill() -> {how}; its d_lock is freed memory "
            "(a use after free)"
        )

    return check


def alias_slot(world: World, path: str) -> int:
    """The dentry's ``d_u`` union as the inode's alias list sees it: the
    dentry on the list (``listed``), taken off it by
    ``dentry_unlink_inode()``'s ``hlist_del_init(&dentry->d_u.d_alias)``
    (``unlisted``), or ``rcu_head`` once ``dentry_free()``'s
    ``call_rcu(&dentry->d_u.d_rcu, __d_free)`` has written the rcu_head
    over ``d_u.d_alias`` (the two share the union, so ``d_alias.next`` is
    then the callback list's link)."""
    return world.shared_slot(f"d_alias({path})", LISTED)


LISTED_TO_SHRINK, KILLED_ON_LIST = "listed", "killed on the list"


def shrink_list_slot(world: World, path: str) -> int:
    """The dentry on a shrinker's dispose list: ``DCACHE_SHRINK_LIST``
    (``listed``, from the start when a shrinker of the scenario has it:
    ``prune_dcache_sb()`` moved it there before), and with
    ``DCACHE_DENTRY_KILLED`` (``killed on the list``: a kill that found it
    there left freeing it to the shrinker); None off any list."""
    return world.shared_slot(f"d_shrink_list({path})", None, lambda v: v or "none")


def count_slot(world: World, path: str) -> int:
    """The dentry's reference count (``d_lockref.count``)."""
    return world.shared_slot(f"d_count({path})", 0)


def inode_i_lock(world: World, path: str) -> Lock:
    """The ``i_lock`` of the inode of the dentry at ``path``
    (``i_lock(/a/x)``, class ``i_lock``, a spinlock made on first use, as
    models/quota.py and mc/kernel/inode_life.py name it).  The dentry's
    inode is fixed: nothing in the dcache scenarios makes it negative or
    gives it another inode while it is in use."""
    name = f"i_lock({path})"
    lock = next((lock for lock in world.locks if lock.name == name), None)
    if lock is not None and lock.kind is not Kind.SPINLOCK:
        raise ModelError(
            f"lock {name} is a {lock.kind.value}, not a spinlock: i_lock(path) is the VFS "
            "inode's i_lock, so a filesystem's own lock needs a class of its own "
            "(xfs_ilock(/f))"
        )
    return lock or world.add_lock(name, Kind.SPINLOCK, "i_lock")


def dput_rcu(world: World) -> Lock:
    """dput()'s RCU read-side section (not a path walk)."""
    return world.shared_lock("rcu_read_lock(dput)", Kind.RCU)


def shrink_rcu(world: World) -> Lock:
    """``shrink_dentry_list()``'s RCU read-side section around
    ``lock_for_kill()``, taken under the dentry's d_lock: a section of its
    own (``rcu_read_lock(shrink)``), as dput()'s is, and not the path
    walk's.  lock_for_kill()'s slow path takes i_lock, then d_lock again,
    inside it (specs/lockorder.toml: ``rcu_read_lock(shrink) -> i_lock ->
    d_lock``).  Entering it under d_lock makes no lock-order edge:
    ``rcu_read_lock()`` never waits (``Kind.never_waits``), so no wait cycle
    runs through it, and lockdep does not order RCU read-side sections
    either (``rcu_lock_acquire()``, include/linux/rcupdate.h:
    ``lock_acquire(map, 0, 0, 2, 0, ...)``, a recursive read with
    ``check=0``)."""
    return world.shared_lock("rcu_read_lock(shrink)", Kind.RCU)


def no_reader(world: World) -> Expr:
    """A grace period has passed: no thread is in an RCU read-side section."""
    sections = (world.rcu_read_lock, dput_rcu(world), shrink_rcu(world))
    return state_expr(
        "no rcu_read_lock() section in progress",
        lambda state: not any(holders(lock.kind, state[lock.slot]) for lock in sections),
    )


@attrs.frozen
class WalkUse:
    """An rcu-walk's use of the dentry ``path`` it looks up: its registers
    ``found`` (``__d_lookup_rcu()`` found it) and ``got``
    (``lockref_get_not_dead()``'s answer, None until it ran).  Between the
    two the walk holds a pointer and no reference."""

    tid: int
    path: str
    found: int
    got: int


@attrs.frozen
class DputUse:
    """A dput()'s use of ``path``: its register ``ret``
    (``lockref_put_return()``'s answer, -1 while d_lock was held; then the
    count that the decrement under d_lock left; 0 for the last reference)
    and the thread's ``pc``.  After a last put the thread holds no
    reference, but ``fast_dput()`` still reads the dentry
    (``retain_dentry()``, its ``d_lock``) until it returns or kills it."""

    tid: int
    path: str
    ret: int
    pc: int
    can_free: int
    """Its kill's answer (:func:`dentry_kill`), None until the kill marked
    the dentry DCACHE_DENTRY_KILLED: from then on the dput() reads it no
    more, whether it frees it or leaves that to a shrinker."""


def dentry_users(world: World) -> list[WalkUse | DputUse]:
    """The rcu-walks and dput()s of the scenario, which may use a dentry
    they hold no reference to (the world part the invariant
    ``dentry-freed-under-rcu`` reads)."""
    users: list[WalkUse | DputUse] = world.parts.setdefault(DENTRY_USERS, [])
    return users


def killable(world: World, path: str) -> None:
    """``path``'s dentry may be killed in the scenario (a dput() or the
    shrinker runs on it): the world part ``KILLABLE`` that
    ``dentry-killed-referenced`` and ``shrink-list-owned`` need."""
    world.parts.setdefault(KILLABLE, {})[path] = None


def _nothing(scratch: Scratch, *_args: object) -> int:
    return 0


def always_delete_dentry(scratch: Scratch, dentry: str) -> int:
    """always_delete_dentry(): 1, do not keep the unused dentry."""
    return 1


def _put_ref_touches(world: World, count: int, d_lock: int) -> tuple[list[int], list[int]]:
    return [count, d_lock], [count]


@touches(_put_ref_touches)
def put_ref(scratch: Scratch, count: int, d_lock: int) -> int:
    """lockref_put_return() (lib/lockref.c): one cmpxchg of the lockref's
    {spinlock, count} word, which succeeds only while the spinlock (the
    dentry's ``d_lock``, slot ``d_lock``) is free (``CMPXCHG_LOOP``'s
    ``arch_spin_value_unlocked()``) and the count is positive: the count
    after the decrement; -1, the count unchanged, while a thread holds
    d_lock (or for a count <= 0)."""
    if holders(Kind.SPINLOCK, scratch[d_lock]) or scratch[count] <= 0:
        return -1
    scratch[count] = scratch[count] - 1
    return int(scratch[count])


def _put_locked_touches(world: World, count: int) -> tuple[list[int], list[int]]:
    return [count], [count]


@touches(_put_locked_touches)
def put_locked(scratch: Scratch, count: int) -> int:
    """fast_dput() under ``d_lock`` after lockref_put_return() gave -1:
    ``dentry->d_lockref.count--``; the count after it."""
    scratch[count] = scratch[count] - 1
    return int(scratch[count])


def _life_touches(world: World, life: int) -> tuple[list[int], list[int]]:
    return [life], [life]


@touches(_life_touches)
def mark_dead(scratch: Scratch, life: int) -> None:
    """``lockref_mark_dead()``: the count goes negative, whether or not
    ``__d_drop()`` came first."""
    scratch[life] = {HASHED: DEAD, DROPPED: UNHASHED}.get(scratch[life], scratch[life])


@touches(_life_touches)
def drop_hash(scratch: Scratch, life: int) -> None:
    """``__d_drop()``: off the hash, whether or not the lockref is dead yet."""
    scratch[life] = {HASHED: DROPPED, DEAD: UNHASHED}.get(scratch[life], scratch[life])


def set_slot(scratch: Scratch, slot: int, value: str) -> None:
    """A dentry's life (:func:`life_slot`) or alias-list state
    (:func:`alias_slot`) becomes ``value``."""
    scratch[slot] = value


def dentry_kill(
    op: Op, dentry: DentryObject, i_lock: Lock | None = None, shrinking: bool = False
) -> None:
    """__dentry_kill(), entered with ``dentry->d_lock`` held (and the
    inode's ``i_lock`` when ``i_lock`` is given: lock_for_kill() took it):
    lockref_mark_dead(), ``->d_prune`` (under d_lock), __d_drop(), then
    dentry_unlink_inode() takes the dentry off the inode's alias list
    (``hlist_del_init(&dentry->d_u.d_alias)``), drops d_lock, then i_lock,
    and calls ``->d_iput``; ``->d_release``; dentry_free():
    ``call_rcu(&dentry->d_u.d_rcu, __d_free)``, which writes the rcu_head
    over ``d_u.d_alias`` at once (:func:`alias_slot`), and ``__d_free()``
    after a grace period.  Once the dentry is negative its ``d_parent`` is
    stable: the parent's d_lock is taken (but for the root), then the
    dentry's nested in it for ``dentry_unlist()``; ``call_rcu()`` runs under
    the parent's d_lock, which is dropped before the grace period (the
    RCU callback frees the dentry later, not under it).  A put that brings
    the parent's count to 0 returns the parent with its d_lock held, and
    the caller's loop goes on with it (:func:`_kill_parent`); the RCU
    callback of the dentry runs after that here (it runs after a grace
    period, whenever that ends)."""
    life = life_slot(op.world, dentry.path)
    op.effect("lockref_mark_dead(&dentry->d_lockref)", mark_dead, life)
    op.call(
        "dentry_operations.d_prune",
        _nothing,
        dentry,
        label="if (dentry->d_flags & DCACHE_OP_PRUNE) dentry->d_op->d_prune(dentry)",
        roles={"dentry": dentry},
        sleeps=False,
    )
    op.effect("__d_drop(dentry) /* unhashed */", drop_hash, life)
    alias = alias_slot(op.world, dentry.path)
    op.effect(
        "dentry_unlink_inode(): hlist_del_init(&dentry->d_u.d_alias)", set_slot, alias, UNLISTED
    )
    late = op.variant(D_IPUT_UNDER_D_LOCK)
    if not late:
        op.unlock(dentry.d_lock, "dentry_unlink_inode(): spin_unlock(&dentry->d_lock)")
        if i_lock is not None:
            op.unlock(i_lock, "dentry_unlink_inode(): spin_unlock(&inode->i_lock)")
    op.call(
        "dentry_operations.d_iput",
        _nothing,
        dentry,
        label="dentry->d_op->d_iput(dentry, inode) /* configfs_d_iput(): iput(inode) */",
        roles={"dentry": dentry},
    )
    if late:
        op.unlock(dentry.d_lock, "spin_unlock(&dentry->d_lock)")
        if i_lock is not None:
            op.unlock(i_lock, "spin_unlock(&inode->i_lock)")
    op.call(
        "dentry_operations.d_release",
        _nothing,
        dentry,
        label="if (dentry->d_op && dentry->d_op->d_release) dentry->d_op->d_release(dentry)",
        roles={"dentry": dentry},
    )
    on_list = shrink_list_slot(op.world, dentry.path)
    if op.variant(KILL_IGNORES_SHRINK_LIST):
        dentry_free(op, dentry)
        return
    parent = None if dentry.path == "/" else dentry_object(op.world, posixpath.dirname(dentry.path))
    unlocked_parent = op.variant(KILL_WITHOUT_PARENT_LOCK)
    can_free = op.register("can_free", yes_no)
    if parent is None:
        op.section(dentry.d_lock, KILLED_LABEL, _killed, on_list, result=can_free)
    else:
        children, parent_count = child_of(op.world, dentry.path)
        if not unlocked_parent:
            op.lock(
                parent.d_lock,
                EXCL,
                "if (!IS_ROOT(dentry)) spin_lock(&parent->d_lock) /* ->d_parent is stable now */",
            )
        seen = op.compute(
            "d_children",
            "spin_lock_nested(&dentry->d_lock, DENTRY_D_LOCK_NESTED); dentry_unlist(): "
            "__hlist_del(&dentry->d_sib) reads its neighbours on parent->d_children",
            read_children,
            children,
            render=render_children,
        )
        op.section(
            dentry.d_lock,
            "dentry_unlist(): d_flags |= DCACHE_DENTRY_KILLED; __hlist_del(&dentry->d_sib) "
            "writes them; if (dentry->d_flags & DCACHE_SHRINK_LIST) can_free = false; "
            "spin_unlock(&dentry->d_lock)",
            _unlisted,
            on_list,
            children,
            dentry.path,
            seen,
            result=can_free,
        )
    freeing = same(op.reg("can_free"), const(True))
    with op.when(freeing, "if (likely(can_free)) dentry_free(dentry)"):
        dentry_free_queued(op, dentry)
    if parent is not None:
        read = op.compute(
            "parent_count",
            "if (parent && --parent->d_lockref.count): the load of the count",
            read_count,
            parent_count,
        )
        op.effect(
            "--parent->d_lockref.count: the store", put_parent, parent_count, parent.path, read
        )
        if not unlocked_parent and dropped_here(op.world, parent.path):
            with op.when(
                differ(read, const(1)),
                "if (parent && --parent->d_lockref.count) "
                "{ spin_unlock(&parent->d_lock); return NULL; }",
            ):
                op.unlock(parent.d_lock, "spin_unlock(&parent->d_lock)")
            with op.otherwise():
                op.run(_kill_parent, parent.path, shrinking)
        elif not unlocked_parent:
            op.unlock(
                parent.d_lock,
                "spin_unlock(&parent->d_lock); return NULL /* a reference the scenario does "
                "not drop keeps the parent */",
            )
    with op.when(freeing, "if (can_free) /* the RCU callback queued */"):
        dentry_free_later(op, dentry)


KILLED_LABEL = (
    "spin_lock_nested(&dentry->d_lock, DENTRY_D_LOCK_NESTED); dentry_unlist(): "
    "d_flags |= DCACHE_DENTRY_KILLED; "
    "if (dentry->d_flags & DCACHE_SHRINK_LIST) can_free = false; "
    "spin_unlock(&dentry->d_lock)"
)


def retain_dentry(op: Op, dentry: DentryObject, keep: str) -> None:
    """``retain_dentry(dentry, true)`` under the dentry's d_lock: its
    ``->d_delete`` (``always_delete_dentry()``) says whether to keep it,
    and a kept one goes to the label ``keep``."""
    op.call(
        "dentry_operations.d_delete",
        always_delete_dentry,
        dentry,
        label="retain_dentry(dentry, true): if (dentry->d_op->d_delete(dentry)) return false",
        roles={"dentry": dentry},
        sleeps=False,
    )
    op.goto_if(same(op.ret, const(0)), keep, "if (!ret) /* retain */")


def _kill_parent(op: Op, path: str, shrinking: bool) -> None:
    """dput()'s loop, or ``shrink_kill()``'s, on the parent ``__dentry_kill()``
    returned (fs/dcache.c, 6.17-rc3): its count is 0 and its d_lock held.
    dput() asks ``retain_dentry(dentry, true)``, which with ``->d_delete``
    (``always_delete_dentry()``) gives false; then ``rcu_read_lock()`` and
    ``lock_for_kill()``, whose first test of the count cannot hold (the
    count is 0 under the d_lock held since), the inode's ``i_lock`` by
    trylock, else the d_locks dropped and retaken in order with the count
    read again: a reference taken meanwhile leaves the parent alive
    (``rcu_read_unlock()``, ``spin_unlock(&dentry->d_lock)``).  Else
    ``rcu_read_unlock()`` and ``__dentry_kill()`` of the parent
    (:func:`dentry_kill`), which may go on with its own parent.  The
    shrinker asks no ``->d_delete``.  Made only where the scenario drops
    the parent's last reference (:func:`dropped_here`): another parent is
    pinned (:func:`pin`)."""
    dentry = dentry_object(op.world, path)
    count, life = count_slot(op.world, path), life_slot(op.world, path)
    killable(op.world, path)
    if not shrinking:
        retain_dentry(op, dentry, "keep")
    rcu = shrink_rcu(op.world) if shrinking else dput_rcu(op.world)
    op.lock(rcu, SHARED, "rcu_read_lock()")
    busy = state_expr(
        f"{path}->d_lockref.count || d_unhashed({path})",
        lambda state: state[count] > 0 or state[life] != HASHED,
    )
    i_lock = inode_i_lock(op.world, path)
    lock_for_kill(op, dentry, i_lock, busy)
    op.unlock(rcu, "rcu_read_unlock() /* while (lock_for_kill(dentry)) */")
    dentry_kill(op, dentry, i_lock, shrinking)
    op.goto("out")
    op.label("busy")
    op.unlock(rcu, "rcu_read_unlock() /* lock_for_kill() gave false */")
    op.label("keep")
    op.unlock(dentry.d_lock, "spin_unlock(&dentry->d_lock)")
    op.label("out")


def child_of(world: World, path: str) -> tuple[int, int]:
    """The slots of ``path``'s parent a kill of ``path`` updates: the
    parent's ``d_children`` (a frozenset of the names listed) and its
    ``d_lockref.count``.  Each child dentry a scenario may kill holds one
    reference to its parent (``d_alloc()``'s ``dget_dlock(parent)``), in
    the parent's count from the start, and is on its list."""
    parent = posixpath.dirname(path)
    children = world.shared_slot(f"d_children({parent})", frozenset(), render_children)
    count = count_slot(world, parent)
    pin(world, parent)
    if path not in world.initial[children]:
        world.initial[children] = world.initial[children] | {path}
        world.initial[count] += 1
    return children, count


PINNED = "dcache-pinned-parents"


def dropped_here(world: World, path: str) -> bool:
    """Whether a thread of the scenario drops ``path``'s last reference (a
    ``dput`` or the shrinker of it), so that a child's kill may bring its
    count to 0; never the root's, which the superblock's ``s_root`` keeps."""
    return path != "/" and any(
        invocation.operation in (dput, shrink_dcache) and invocation.args[:1] == (path,)
        for invocation in world.invocations
    )


def pin(world: World, path: str) -> None:
    """A reference to ``path``'s dentry, a parent a kill puts, that the
    scenario never drops: the superblock's ``s_root`` of the root, and
    for a directory no ``dput`` or shrinker of the scenario runs on
    (:func:`dropped_here`), its users' (a cwd, an open file, a
    filesystem's pin): a child's kill leaves it a count above 0.  Once."""
    pinned: set[str] = world.parts.setdefault(PINNED, set())
    if path not in pinned and not dropped_here(world, path):
        pinned.add(path)
        world.initial[count_slot(world, path)] += 1


def render_children(names: frozenset[str] | None) -> str:
    """A child list, or a register of one no step has set yet."""
    if names is None:
        return "not read"
    return ", ".join(sorted(names)) or "empty"


def read_children(scratch: Scratch, children: int) -> frozenset[str]:
    """The parent's child list as ``__hlist_del()`` reads it: the
    neighbours it is to link together."""
    return frozenset(scratch[children])


def _unlisted(
    scratch: Scratch, on_list: int, children: int, path: str, seen: frozenset[str]
) -> bool:
    """:func:`_killed`, and ``__hlist_del(&dentry->d_sib)``: the list as the
    kill read it, without the dentry.  A removal another kill made since the
    read is written over: that sibling, killed and soon freed, is on the
    list again (``parent-updates-kept``)."""
    lost = seen - scratch[children]
    if lost:
        scratch.violate(
            PARENT_UPDATES_KEPT,
            f"dentry_unlist() of {path} linked the neighbours it read before "
            f"{render_children(lost)} left the parent's d_children: {render_children(lost)}, "
            "killed, is on the list again, and d_walk() or the next kill of a sibling steps "
            "through it once it is freed",
        )
    scratch[children] = seen - {path}
    return _killed(scratch, on_list)


def read_count(scratch: Scratch, count: int) -> int:
    """The load of ``--parent->d_lockref.count``."""
    return int(scratch[count])


def put_parent(scratch: Scratch, count: int, parent: str, read: int) -> None:
    """The store of ``--parent->d_lockref.count``: the count the kill read,
    less one.  A change another thread made since the load (a get or a
    put, which lockref's cmpxchg makes only while the parent's d_lock is
    free) is lost (``parent-updates-kept``)."""
    if scratch[count] != read:
        scratch.violate(
            PARENT_UPDATES_KEPT,
            f"--{parent}->d_lockref.count stored {read - 1} over {scratch[count]}: the count "
            f"changed from {read} after the kill loaded it, and that get or put is lost",
        )
    scratch[count] = read - 1


def _killed(scratch: Scratch, on_list: int) -> bool:
    """``DCACHE_DENTRY_KILLED`` set: whether the kill may free the dentry
    (it is on no shrink list)."""
    if scratch[on_list] == LISTED_TO_SHRINK:
        scratch[on_list] = KILLED_ON_LIST
        return False
    return True


def shrink_del(scratch: Scratch, on_list: int) -> bool:
    """``d_shrink_del(dentry); can_free = dentry->d_flags &
    DCACHE_DENTRY_KILLED``: the dentry leaves the dispose list; whether a
    kill left it to the shrinker to free."""
    killed = bool(scratch[on_list] == KILLED_ON_LIST)
    scratch[on_list] = None
    return killed


def _freed_off_list(scratch: Scratch, path: str, on_list: int, alias: int) -> None:
    """``call_rcu()`` of a dentry, which must be on no shrink list: one
    there is the shrinker's to free, and it takes its d_lock later."""
    if scratch[on_list] is not None:
        scratch.violate(
            SHRINK_LIST_OWNED,
            f"dentry_free() of {path} while it is on a shrinker's dispose list "
            "(DCACHE_SHRINK_LIST): shrink_dentry_list() takes its d_lock after it is freed",
        )
    scratch[alias] = RCU_HEAD


def dentry_free(op: Op, dentry: DentryObject) -> None:
    """dentry_free(): ``call_rcu(&dentry->d_u.d_rcu, __d_free)``, which
    writes the rcu_head over ``d_u.d_alias`` at once, and ``__d_free()``
    after a grace period (at once under ``dentry-free-without-rcu``); a
    dentry still on a shrink list is a ``shrink-list-owned`` violation."""
    dentry_free_queued(op, dentry)
    dentry_free_later(op, dentry)


def dentry_free_queued(op: Op, dentry: DentryObject) -> None:
    """What :func:`dentry_free` does at once: ``call_rcu()``, or under
    ``dentry-free-without-rcu`` the free itself."""
    life, alias = life_slot(op.world, dentry.path), alias_slot(op.world, dentry.path)
    on_list = shrink_list_slot(op.world, dentry.path)
    if op.variant(DENTRY_FREE_WITHOUT_RCU):
        op.effect("__d_free(): kmem_cache_free(dentry_cache, dentry)", set_slot, life, FREED)
        return
    op.effect(
        "dentry_free(): call_rcu(&dentry->d_u.d_rcu, __d_free) /* over d_u.d_alias */",
        _freed_off_list,
        dentry.path,
        on_list,
        alias,
    )


def dentry_free_later(op: Op, dentry: DentryObject) -> None:
    """The RCU callback :func:`dentry_free_queued` queued: ``__d_free()``
    after a grace period, run by the thread that queued it once no thread
    is in a read-side section (nothing under ``dentry-free-without-rcu``)."""
    if op.variant(DENTRY_FREE_WITHOUT_RCU):
        return
    op.wait_until(no_reader(op.world), "__d_free() /* after a grace period */", "a grace period")
    life = life_slot(op.world, dentry.path)
    op.effect("__d_free(): kmem_cache_free(dentry_cache, dentry)", set_slot, life, FREED)


def lock_for_kill(op: Op, dentry: DentryObject, i_lock: Lock, busy: Expr) -> None:
    """lock_for_kill() (fs/dcache.c, read in 6.17-rc3 at 9b44fff6), called
    by dput() and by the shrinker (``shrink_dentry_list()``), each inside
    its rcu_read_lock() section, with ``dentry->d_lock`` held and the count
    seen 0 under it: the inode's ``i_lock`` by trylock, else, in the
    documented order (i_lock outside d_lock, as ``d_prune_aliases()`` and
    ``d_find_alias()`` take them), d_lock dropped, i_lock taken, d_lock
    taken again and the count read again: a reference taken meanwhile (or a
    kill) makes it give up, i_lock dropped, and jump to ``busy`` with d_lock
    held.  It returns with both locks held otherwise.  The first ``if
    (unlikely(dentry->d_lockref.count))`` is not a step here: the caller
    reads the count under the same d_lock.  The dentry's inode is fixed, so
    the recheck ``inode == dentry->d_inode`` always holds and the loop runs
    once.

    Under the variant ``lock-for-kill-spins`` the trylock is retried in a
    loop with d_lock still held (``while (!spin_trylock(&inode->i_lock))
    cpu_relax();``): against a thread that holds i_lock and waits for
    d_lock (``d_find_alias()``) it spins for ever, a soft lockup in which
    the spinning thread always has a step."""
    if op.variant(LOCK_FOR_KILL_SPINS):
        op.label("spin")
        op.trylock(
            i_lock,
            "spin",
            "lock_for_kill(): while (!spin_trylock(&inode->i_lock)) cpu_relax();",
        )
        return
    op.trylock(
        i_lock,
        "slow",
        "lock_for_kill(): if (!inode || likely(spin_trylock(&inode->i_lock))) return true",
    )
    op.goto("locked")
    op.label("slow")
    op.unlock(dentry.d_lock, "lock_for_kill(): spin_unlock(&dentry->d_lock)")
    op.lock(i_lock, EXCL, "spin_lock(&inode->i_lock)")
    op.lock(
        dentry.d_lock,
        EXCL,
        "spin_lock(&dentry->d_lock) /* inode == dentry->d_inode: the inode is fixed */",
    )
    if not op.variant(LOCK_FOR_KILL_NO_RECHECK):
        op.goto_if(
            busy,
            "unlock_inode",
            "if (likely(!dentry->d_lockref.count)) return true",
            label_negates=True,
        )
    op.goto("locked")
    op.label("unlock_inode")
    op.unlock(i_lock, "if (inode) spin_unlock(&inode->i_lock); return false")
    op.goto("busy")
    op.label("locked")


def _dput(op: Op, path: str) -> None:
    """dput() of a reference the thread holds (6.12's fast_dput() and the
    loop over lock_for_kill()/__dentry_kill()).  ``fast_dput()`` (6.17-rc3,
    9b44fff6) reads the dentry after ``lockref_put_return()`` gave 0
    (``retain_dentry(dentry, false)``, ``spin_lock(&dentry->d_lock)``, the
    count again) with no reference: dput()'s ``rcu_read_lock()`` is what
    keeps a concurrent kill from freeing it meanwhile, and the invariant
    ``dentry-freed-under-rcu`` reports a free in that window (the thread
    registered as a :class:`DputUse`).  ``lockref_put_return()`` gives -1
    while another thread holds d_lock (:func:`put_ref`): fast_dput() then
    takes d_lock, ``if (WARN_ON_ONCE(dentry->d_lockref.count <= 0)) {
    spin_unlock(&dentry->d_lock); return true; }``, decrements the count
    under it (the register ``ret`` gets the count left, so a last put on
    that path is a :class:`DputUse` too) and goes to ``locked:``.  Under
    ``d-delete-unlocked`` that path asks no ``->d_delete``."""
    dentry = dentry_object(op.world, path)
    count, life = count_slot(op.world, path), life_slot(op.world, path)
    rcu = dput_rcu(op.world)
    op.lock(rcu, SHARED, "dput(): rcu_read_lock()")
    left = op.compute(
        "ret",
        "ret = lockref_put_return(&dentry->d_lockref) /* cmpxchg while d_lock is free, else -1 */",
        put_ref,
        count,
        dentry.d_lock.slot,
    )
    dentry_users(op.world).append(
        DputUse(
            op.thread.tid,
            path,
            op.register("ret"),
            op.thread.pc,
            op.register("can_free", yes_no),
        )
    )
    op.goto_if(below(left, const(0)), "put_slow", "if (unlikely(ret < 0)) /* d_lock held */")
    op.goto_if(differ(left, const(0)), "keep", "if (ret) return true /* not the last */")
    unlocked = op.variant(D_DELETE_UNLOCKED)
    if unlocked:
        op.call(
            "dentry_operations.d_delete",
            always_delete_dentry,
            dentry,
            label="retain_dentry(dentry, false): if (dentry->d_op->d_delete(dentry)) return false",
            roles={"dentry": dentry},
            sleeps=False,
        )
    op.lock(dentry.d_lock, EXCL, "spin_lock(&dentry->d_lock)")
    op.goto("put_locked")
    op.label("put_slow")
    op.lock(dentry.d_lock, EXCL, "spin_lock(&dentry->d_lock) /* lockref_put_return() < 0 */")
    op.goto_if(
        state_expr(f"{path}->d_lockref.count <= 0", lambda state: state[count] <= 0),
        "keep_locked",
        "if (WARN_ON_ONCE(dentry->d_lockref.count <= 0)) "
        "{ spin_unlock(&dentry->d_lock); return true; }",
    )
    op.compute("ret", "dentry->d_lockref.count--; goto locked", put_locked, count)
    op.label("put_locked")
    busy = state_expr(
        f"{path}->d_lockref.count || d_unhashed({path})",
        lambda state: state[count] > 0 or state[life] != HASHED,
    )
    op.goto_if(busy, "keep_locked", "if (dentry->d_lockref.count) /* retain */")
    if not unlocked:
        retain_dentry(op, dentry, "keep_locked")
    i_lock = inode_i_lock(op.world, path)
    lock_for_kill(op, dentry, i_lock, busy)
    op.unlock(rcu, "while (lock_for_kill(dentry)) { rcu_read_unlock();")
    dentry_kill(op, dentry, i_lock)
    op.goto("out")
    op.label("busy")
    op.unlock(rcu, "rcu_read_unlock() /* lock_for_kill() gave false */")
    op.unlock(dentry.d_lock, "spin_unlock(&dentry->d_lock)")
    op.goto("out")
    op.label("keep_locked")
    op.unlock(dentry.d_lock, "spin_unlock(&dentry->d_lock)")
    op.label("keep")
    op.unlock(rcu, "rcu_read_unlock()")
    op.label("out")


DPUT_CITES = (
    Cite("fs/dcache.c", "dput", DCACHE_READ),
    Cite("fs/dcache.c", "lock_for_kill", DCACHE_READ),
    Cite("fs/dcache.c", "fast_dput", DCACHE_READ),
    Cite("lib/lockref.c", "lockref_put_return", DCACHE_READ),
    Cite("fs/dcache.c", "retain_dentry", DCACHE_READ),
    Cite(
        "fs/dcache.c",
        "__dentry_kill",
        DCACHE_READ,
        leaves_out=UNLIST_LOCKS,
        because="dentry_unlist() runs under the parent's d_lock and the dentry's, taken "
        "again: the read of the parent's child list is under the parent's d_lock "
        "alone here, the write a section of the dentry's d_lock",
    ),
    Cite("fs/dcache.c", "dentry_unlink_inode", DCACHE_READ),
    Cite("fs/dcache.c", "dentry_free", DCACHE_READ),
)


@operation(
    models="dput() (fs/dcache.c)",
    describe=lambda path: f"dput({path})",
    cites=DPUT_CITES,
)
def dput(op: Op, path: str) -> None:
    """The last dput() of the reference this thread took before it
    started: lockref_put_return() under rcu_read_lock() (while d_lock is
    held by another thread, the decrement under ``spin_lock(&dentry->d_lock)``
    instead); at zero, ``spin_lock(&dentry->d_lock)``, retain_dentry() asks
    ``->d_delete`` under it, and the dentry is killed."""
    op.inode(path)  # an unknown path is a model error
    count = count_slot(op.world, path)
    op.world.initial[count] += 1
    killable(op.world, path)
    op.run(_dput, path)


@operation(
    models="prune_dcache_sb() -> shrink_dentry_list() (fs/dcache.c)",
    describe=lambda path: f"shrink_dcache({path})",
    cites=(
        Cite("fs/dcache.c", "prune_dcache_sb", DCACHE_READ),
        Cite("fs/dcache.c", "shrink_dentry_list", DCACHE_READ),
        Cite("fs/dcache.c", "lock_for_kill", DCACHE_READ),
        Cite(
            "fs/dcache.c",
            "__dentry_kill",
            DCACHE_READ,
            leaves_out=UNLIST_LOCKS,
            because="dentry_unlist() runs under the parent's d_lock and the dentry's, taken "
            "again: the read of the parent's child list is under the parent's d_lock "
            "alone here, the write a section of the dentry's d_lock",
        ),
    ),
)
def shrink_dcache(op: Op, path: str) -> None:
    """The shrinker on the unused dentry, read in 6.17-rc3 (Kingxukai/linux
    fs/dcache.c at 9b44fff6): ``prune_dcache_sb()`` moves unused dentries
    to a dispose list (``list_lru_shrink_walk()`` with
    ``dentry_lru_isolate()``, which takes d_lock by trylock under the LRU
    lock: left out, the dentry is taken as on the list), then
    ``shrink_dentry_list()``: ``spin_lock(&dentry->d_lock)``,
    ``rcu_read_lock()``; ``lock_for_kill()`` as dput()'s
    (:func:`lock_for_kill`: its first ``if
    (unlikely(dentry->d_lockref.count)) return false``, here a step, then
    the inode's i_lock by trylock, else d_lock dropped, i_lock and d_lock
    taken, the count read again) gives up on a dentry someone took a
    reference to (or killed): ``rcu_read_unlock()``, d_lock dropped; else
    ``shrink_kill()``: ``rcu_read_unlock()``, __dentry_kill() with d_lock
    and i_lock held (``dentry_unlink_inode()`` drops both).  The RCU
    section is a read-side section outside any path walk
    (:func:`shrink_rcu`), which a grace period waits for as it waits for
    dput()'s."""
    op.holds_no_file()
    op.inode(path)  # an unknown path is a model error
    killable(op.world, path)
    dentry = dentry_object(op.world, path)
    count, life = count_slot(op.world, path), life_slot(op.world, path)
    on_list = shrink_list_slot(op.world, path)
    op.world.initial[on_list] = LISTED_TO_SHRINK
    rcu = shrink_rcu(op.world)
    op.lock(dentry.d_lock, EXCL, "shrink_dentry_list(): spin_lock(&dentry->d_lock)")
    op.lock(rcu, SHARED, "rcu_read_lock()")
    busy = state_expr(
        f"{path}->d_lockref.count || dead",
        lambda state: state[count] > 0 or state[life] != HASHED,
    )
    op.goto_if(
        busy,
        "busy",
        "if (!lock_for_kill(dentry)): if (unlikely(dentry->d_lockref.count)) return false "
        "/* in use, or killed */",
    )
    i_lock = inode_i_lock(op.world, path)
    lock_for_kill(op, dentry, i_lock, busy)
    op.effect("d_shrink_del(dentry)", shrink_del, on_list)
    op.unlock(rcu, "shrink_kill(): rcu_read_unlock()")
    dentry_kill(op, dentry, i_lock, shrinking=True)
    op.goto("out")
    op.label("busy")
    op.unlock(rcu, "rcu_read_unlock() /* lock_for_kill() gave false */")
    can_free = op.compute(
        "can_free",
        "d_shrink_del(dentry); can_free = dentry->d_flags & DCACHE_DENTRY_KILLED",
        shrink_del,
        on_list,
        render=yes_no,
    )
    op.unlock(dentry.d_lock, "spin_unlock(&dentry->d_lock)")
    with op.when(same(can_free, const(True)), "if (can_free) dentry_free(dentry)"):
        dentry_free(op, dentry)
    op.label("out")


def dget_if_hashed(scratch: Scratch, life: int, count: int) -> bool:
    """__d_find_alias(): ``if (!d_unhashed(alias)) dget_dlock(alias)``,
    under the alias's d_lock: whether it took the reference."""
    if scratch[life] != HASHED:
        return False
    scratch[count] = scratch[count] + 1
    return True


def first_alias(scratch: Scratch, alias: int) -> bool:
    """``hlist_for_each_entry(alias, &inode->i_dentry, d_u.d_alias)``'s
    first entry: whether the dentry is on the list."""
    return bool(scratch[alias] == LISTED)


def next_alias(scratch: Scratch, path: str, alias: int, life: int) -> None:
    """``hlist_for_each_entry()``'s step to ``alias->d_u.d_alias.next``
    after an unhashed alias: NULL for the one alias taken off the list
    (``hlist_del_init()``), a use after free of a freed dentry, and the
    callback list's link of the rcu_head for one ``dentry_free()`` queued
    on ``call_rcu()``, which the walk then takes for a dentry."""
    if scratch[life] == FREED:
        scratch.violate(
            ALIAS_LIST_INTACT,
            f"d_find_alias() reads alias->d_u.d_alias.next of {path}, which is freed: "
            "the walk held no i_lock the kill waited for",
        )
    elif scratch[alias] == RCU_HEAD:
        scratch.violate(
            ALIAS_LIST_INTACT,
            f"d_find_alias() reads alias->d_u.d_alias.next of {path} after dentry_free() "
            "queued it on call_rcu(): d_u.d_rcu overlays d_u.d_alias, so the walk follows "
            "the RCU callback list's link as the next alias",
        )


@operation(
    models="igrab() (fs/inode.c)",
    describe=lambda path: f"igrab({path})",
    cites=(Cite("fs/inode.c", "igrab", DCACHE_READ),),
)
def igrab(op: Op, path: str) -> None:
    """igrab() of the inode of ``path`` (read in 6.17-rc3, Kingxukai/linux
    fs/inode.c at 9b44fff6): ``spin_lock(&inode->i_lock)``, a reference
    (``__iget()``) unless the inode is I_FREEING or I_WILL_FREE,
    ``spin_unlock(&inode->i_lock)``; no dentry is looked at, so it takes
    no dentry reference and no d_lock (as fsnotify's and nfsd's callers
    that hold an inode, not a path).  Left out: the inode's count and
    state, which nothing of the dcache scenarios reads, and the
    reference's later ``iput()``."""
    op.inode(path)  # an unknown path is a model error
    i_lock = inode_i_lock(op.world, path)
    op.lock(i_lock, EXCL, "igrab(): spin_lock(&inode->i_lock)")
    op.unlock(
        i_lock,
        "if (!(inode->i_state & (I_FREEING|I_WILL_FREE))) __iget(inode); "
        "spin_unlock(&inode->i_lock)",
    )


@operation(
    models="d_find_alias() (fs/dcache.c)",
    describe=lambda path: f"d_find_alias({path})",
    cites=(
        Cite("fs/dcache.c", "d_find_alias", DCACHE_READ),
        Cite("fs/dcache.c", "__d_find_alias", DCACHE_READ),
    ),
)
def d_find_alias(op: Op, path: str) -> None:
    """d_find_alias() of the inode of the non-directory ``path``, whose one
    alias is the dentry at ``path`` (read in 6.17-rc3, Kingxukai/linux
    fs/dcache.c at 9b44fff6): ``if (!hlist_empty(&inode->i_dentry))``,
    read with no lock, then ``spin_lock(&inode->i_lock)`` and
    ``__d_find_alias()``: ``hlist_for_each_entry(alias, &inode->i_dentry,
    d_u.d_alias)``, each alias's ``spin_lock(&alias->d_lock)`` inside it, a
    reference (``dget_dlock()``) on a hashed one and ``return alias``,
    else ``spin_unlock(&alias->d_lock)`` and on to
    ``alias->d_u.d_alias.next``; ``spin_unlock(&inode->i_lock)``.  i_lock
    outside d_lock, the order ``d_prune_aliases()`` and
    ``d_mark_dontcache()`` take them in too.  A killer holds both locks
    from ``lock_for_kill()`` until ``dentry_unlink_inode()`` has taken the
    dentry off the alias list, so under i_lock the alias found is hashed,
    the walk takes a reference and never steps past it; the step to the
    next alias is modelled all the same: after a kill that did not wait
    for i_lock it reads ``d_u.d_alias`` of a dentry ``dentry_free()`` has
    queued on ``call_rcu()``, or freed once the grace period ended
    (``alias-walk-intact``): a walk without i_lock holds no lock there.
    Holding i_lock, a walk would be in an RCU read-side section on every
    configuration (preemption off, or ``rcu_read_lock()`` in PREEMPT_RT's
    ``rt_spin_lock()``), which the model's grace period does not count.
    ``dentry-killed-referenced`` reports a reference taken on a dentry
    being killed.  The caller keeps the reference it got (its
    dput() is not part of the operation)."""
    op.inode(path)  # an unknown path is a model error
    dentry = dentry_object(op.world, path)
    count, life = count_slot(op.world, path), life_slot(op.world, path)
    alias = alias_slot(op.world, path)
    i_lock = inode_i_lock(op.world, path)
    op.world.parts.setdefault(ALIAS_WALKS, []).append(path)
    empty = state_expr(
        f"hlist_empty(&inode({path})->i_dentry)", lambda state: state[alias] != LISTED
    )
    op.goto_if(
        empty,
        "out",
        "if (!hlist_empty(&inode->i_dentry)) /* else return NULL */",
        label_negates=True,
    )
    op.lock(i_lock, EXCL, "d_find_alias(): spin_lock(&inode->i_lock)")
    found = op.compute(
        "found",
        "__d_find_alias(): hlist_for_each_entry(alias, &inode->i_dentry, d_u.d_alias)",
        first_alias,
        alias,
    )
    op.goto_if(same(found, const(False)), "unlock", "if (!alias) /* none listed: return NULL */")
    op.lock(dentry.d_lock, EXCL, "__d_find_alias(): spin_lock(&alias->d_lock)")
    got = op.compute(
        "got", "if (!d_unhashed(alias)) dget_dlock(alias)", dget_if_hashed, life, count
    )
    op.unlock(dentry.d_lock, "spin_unlock(&alias->d_lock)")
    op.goto_if(same(got, const(True)), "unlock", "if (got) return alias /* with the reference */")
    op.effect(
        "hlist_for_each_entry(): alias = alias->d_u.d_alias.next",
        next_alias,
        path,
        alias,
        life,
    )
    op.label("unlock")
    op.unlock(i_lock, "spin_unlock(&inode->i_lock)")
    op.label("out")


def find_hashed(scratch: Scratch, life: int) -> bool:
    """__d_lookup_rcu(): the dentry is found while it is hashed."""
    return bool(scratch[life] in (HASHED, DEAD))


def get_not_dead(scratch: Scratch, life: int, count: int) -> bool:
    """lockref_get_not_dead(): a reference unless the dentry is dead (a
    dropped one is not); run under the dentry's d_lock (see :func:`rcu_walk`)."""
    if scratch[life] not in (HASHED, DROPPED):
        return False
    scratch[count] = scratch[count] + 1
    return True


@operation(
    models="path_lookupat() -> lookup_fast() in rcu-walk -> try_to_unlazy_next() (fs/namei.c)",
    describe=lambda path: f"rcu_walk({path})",
    cites=(
        Cite("fs/namei.c", "lookup_fast", NAMEI_READ),
        Cite("fs/dcache.c", "__d_lookup_rcu", DCACHE_READ),
        Cite("fs/namei.c", "try_to_unlazy_next", NAMEI_READ),
        Cite("lib/lockref.c", "lockref_get_not_dead", DCACHE_READ),
        Cite("fs/namei.c", "terminate_walk", NAMEI_READ),
        *DPUT_CITES,
    ),
)
def rcu_walk(op: Op, path: str) -> None:
    """rcu-walk finds the dentry with __d_lookup_rcu() (no reference: RCU
    keeps its memory), then try_to_unlazy_next() takes a reference with
    lockref_get_not_dead(); the walk ends with dput().

    ``lockref_get_not_dead()`` read in 6.17-rc3 (Kingxukai/linux
    lib/lockref.c at 9b44fff6): ``CMPXCHG_LOOP`` updates the count by
    cmpxchg only while ``arch_spin_value_unlocked()`` says the lockref's
    spinlock (the dentry's ``d_lock``) is free, else (or after 100 failed
    tries) it takes ``spin_lock(&lockref->lock)`` and tests the count
    under it.  Either way it cannot succeed while another CPU holds
    d_lock, which is what lets ``__dentry_kill()`` mark the lockref dead
    (``lockref_mark_dead()``, ``assert_spin_locked()``) with no reference
    coming in: the model takes it as one spinlock section on ``d_lock``
    (``op.section``).  ``path_init()`` (fs/namei.c, read in the 6.x copies
    of the search index: ``if (flags & LOOKUP_RCU) rcu_read_lock();``)
    opens the walk's read-side section, and ``__d_lookup_rcu()`` (6.17-rc3,
    9b44fff6: skips a ``d_unhashed()`` dentry, takes no lock and no
    reference) returns a pointer that only that section keeps valid until
    ``lockref_get_not_dead()`` makes it a reference; the invariant
    ``dentry-freed-under-rcu`` reports a free in between whether or not the
    walk holds ``rcu_read_lock()``.  Left out: the parent's reference
    (``nd->path``), the mount (``__legitimize_mnt()``), d_seq and
    ``legitimize_root()``."""
    op.inode(path)  # an unknown path is a model error
    life, count = life_slot(op.world, path), count_slot(op.world, path)
    dentry = dentry_object(op.world, path)
    rcu = op.world.rcu_read_lock
    op.lock(rcu, SHARED, "path_init(): rcu_read_lock() /* LOOKUP_RCU */", tag="rcu")
    found = op.compute(
        "found", "dentry = __d_lookup_rcu(parent, &nd->last, &nd->next_seq)", find_hashed, life
    )
    got = op.register("got", str)
    dentry_users(op.world).append(
        WalkUse(op.world.thread_names.index(op.thread.name), path, op.register("found"), got)
    )
    op.goto_if(same(found, const(False)), "miss", "if (unlikely(!dentry)) /* not hashed */")
    op.section(
        dentry.d_lock,
        "try_to_unlazy_next(): lockref_get_not_dead(&dentry->d_lockref) "
        "/* cmpxchg while d_lock is free, else under spin_lock(&lockref->lock) */",
        get_not_dead,
        life,
        count,
        result=got,
    )
    op.unlock(rcu, "leave_rcu(nd): rcu_read_unlock()", tag="rcu")
    with op.when(
        same(slot_value(got, "got", local=True), const(True)),
        "if (lockref_get_not_dead(&dentry->d_lockref))",
    ):
        op.run(_dput, path)
    op.goto("out")
    op.label("miss")
    op.unlock(rcu, "leave_rcu(nd): rcu_read_unlock()", tag="rcu")
    op.label("out")


@operation(
    models="d_lookup() -> __d_lookup() (fs/dcache.c)",
    describe=lambda path: f"d_lookup({path})",
    cites=(
        Cite("fs/dcache.c", "d_lookup", DCACHE_READ),
        Cite("fs/dcache.c", "__d_lookup", DCACHE_READ),
        *DPUT_CITES,
    ),
)
def d_lookup(op: Op, path: str) -> None:
    """``d_lookup()`` of the name of ``path`` (read in 6.17-rc3,
    Kingxukai/linux fs/dcache.c at 9b44fff6): ``__d_lookup()`` walks the
    hash chain under ``rcu_read_lock()`` (``hlist_bl_for_each_entry_rcu()``),
    takes each candidate's ``spin_lock(&dentry->d_lock)`` while it holds no
    reference to it, and under the lock skips an unhashed one (``if
    (d_unhashed(dentry)) goto next``) or takes a reference
    (``dentry->d_lockref.count++``); ``rcu_read_unlock()``.  The read-side
    section, entered before the dentry could be unhashed, is all that keeps
    the candidate's memory until its d_lock is taken: a kill meanwhile
    unhashes it and queues its free on ``call_rcu()``, whose grace period
    waits for the lookup.  The caller puts the reference it got
    (``dput()``).

    The section is the path walk's ``rcu_read_lock`` (ref-walk's
    ``lookup_fast()`` falls back on ``d_lookup()`` this way): no method is
    called in it.  Under the variant ``d-lookup-without-rcu`` the chain is
    walked with no read-side section, and a dentry the last ``dput()``
    frees meanwhile has its d_lock taken after ``__d_free()``
    (``dentry-use-after-free``); under ``dentry-free-without-rcu`` the free
    does not wait for the lookup's section at all.  Left out:
    ``d_lookup()``'s ``rename_lock`` retry (no rename in the scenarios that
    run it), the name and parent compares (one dentry on the chain)."""
    op.inode(path)  # an unknown path is a model error
    killable(op.world, path)
    life, count = life_slot(op.world, path), count_slot(op.world, path)
    dentry = dentry_object(op.world, path)
    rcu = op.world.rcu_read_lock
    protected = not op.variant(D_LOOKUP_WITHOUT_RCU)
    if protected:
        op.lock(rcu, SHARED, "__d_lookup(): rcu_read_lock()", tag="rcu")
    found = op.compute(
        "found", "hlist_bl_for_each_entry_rcu(dentry, node, b, d_hash)", find_hashed, life
    )
    op.goto_if(
        same(found, const(False)), "miss", "if (dentry->d_name.hash != hash) continue /* none */"
    )
    op.lock(dentry.d_lock, EXCL, "__d_lookup(): spin_lock(&dentry->d_lock)")
    got = op.compute(
        "got",
        "if (d_unhashed(dentry)) goto next; dentry->d_lockref.count++",
        dget_if_hashed,
        life,
        count,
        render=yes_no,
    )
    op.unlock(dentry.d_lock, "spin_unlock(&dentry->d_lock)")
    if protected:
        op.unlock(rcu, "rcu_read_unlock(); return found", tag="rcu")
    with op.when(same(got, const(True)), "if (dentry) /* the caller's dput(dentry) */"):
        op.run(_dput, path)
    op.goto("out")
    op.label("miss")
    if protected:
        op.unlock(rcu, "rcu_read_unlock(); return NULL", tag="rcu")
    op.label("out")


# --- a case-insensitive filesystem ---------------------------------------------


def generic_ci_d_hash(scratch: Scratch, parent: str, name: str) -> int:
    """generic_ci_d_hash(): the hash of utf8_casefold() of the name."""
    return 0


def ci_compare(scratch: Scratch, dentry: str, name: str, exact: bool) -> int:
    """generic_ci_d_compare(): 0 when the names match case-insensitively
    (utf8_strncasecmp()); with ``exact``, memcmp() of the bytes."""
    stored = dentry.rsplit("/", 1)[1]
    same_name = stored == name if exact else stored.casefold() == name.casefold()
    return 0 if same_name else 1


def ext4_d_init(scratch: Scratch, dentry: str) -> int:
    """The filesystem's ``->d_init`` (ceph_d_init(): its per-dentry info)."""
    return 0


@operation(
    models="lookup_fast() in rcu-walk -> __d_lookup_rcu_op_compare() (fs/dcache.c, fs/namei.c) "
    "on a casefolded directory; d_alloc_parallel() -> __d_alloc() on a miss",
    describe=lambda path: f"ci_lookup({path})",
    cites=(
        Cite("fs/namei.c", "lookup_fast", NAMEI_READ),
        Cite("fs/namei.c", "link_path_walk", NAMEI_READ),
        Cite("fs/dcache.c", "__d_lookup_rcu_op_compare", DCACHE_READ),
        Cite("fs/dcache.c", "__d_alloc", DCACHE_READ),
        Cite("fs/libfs.c", "generic_ci_d_hash", DCACHE_READ),
        Cite("fs/libfs.c", "generic_ci_d_compare", DCACHE_READ),
        Cite(
            "fs/namei.c",
            "lookup_slow",
            NAMEI_READ,
            leaves_out=("dentry_operations.d_compare",),
            because="d_alloc_parallel()'s d_same_name() is a comparison of casefolded keys",
        ),
    ),
)
def ci_lookup(op: Op, path: str) -> None:
    """A lookup of ``path`` in a casefolded directory: in rcu-walk
    ``->d_hash`` of the parent (link_path_walk()'s hash of the name), then
    ``->d_compare`` on each dentry of the hash chain under the parent; the
    inode of the first that matches.  A miss leaves rcu-walk and
    lookup_slow() allocates the dentry (``->d_init``) and asks
    ``->lookup``.

    ``__d_lookup_rcu()``, ``__d_lookup_rcu_op_compare()`` and ``__d_alloc()``
    were read in 6.17-rc3 (Kingxukai/linux fs/dcache.c at 9b44fff6): for a
    parent with DCACHE_OP_COMPARE the hash chain is walked under RCU alone,
    each candidate's name and length read consistently under its ``d_seq``
    and ->d_compare called with no lock; ``__d_alloc()`` sets ``d_op`` from
    the superblock's default (``sb->__s_d_op``, 6.17) and calls ->d_init
    with no lock.  ->d_hash is called by ``link_path_walk()`` for a normal
    component of a parent with DCACHE_OP_HASH, after ``hash_name()`` (so in
    every copy read, 5.x to 6.17-rc3); ``generic_ci_d_hash()``/``generic_ci_d_compare()`` take
    no lock (the compare copies an inline name that a rename may change).
    Left out: ``d_seq`` and the hash chain (the model compares every child
    of the parent, which a case-insensitive hash puts on one chain), and
    the ->d_compare calls of ``d_alloc_parallel()``'s ``d_same_name()``
    (under the in-lookup hash's bit lock and RCU, then under the in-lookup
    dentry's d_lock): the in-lookup hash keys a miss by its casefolded name
    instead (what those calls decide), by its bytes under
    ``ci-compare-exact``."""
    parent, name = split(path)
    directory = op.inode(parent)
    parent_dentry = dentry_object(op.world, parent)
    rcu = op.world.rcu_read_lock
    exact = op.variant(CI_COMPARE_EXACT)
    op.lock(rcu, SHARED, "path_init(): rcu_read_lock() /* LOOKUP_RCU */", tag="rcu")
    op.call(
        "dentry_operations.d_hash",
        generic_ci_d_hash,
        parent_dentry,
        name,
        label="link_path_walk(): err = parent->d_op->d_hash(parent, &nd->last)",
        roles={"dentry": parent_dentry},
        sleeps=False,
    )
    result = op.register("result")
    in_tree = [
        dentry
        for dentry in op.world.children(op.world.lookup_path(parent))
        if op.world.initial[dentry.slot] is not None
    ]
    for candidate in in_tree:
        other = dentry_object(op.world, candidate.path)
        op.call(
            "dentry_operations.d_compare",
            ci_compare,
            candidate.path,
            name,
            exact,
            label=f"__d_lookup_rcu_op_compare(): parent->d_op->d_compare(dentry, tlen, tname, "
            f"name) /* {candidate.name} */",
            roles={"dentry": other},
            sleeps=False,
        )
        with op.when(
            same(op.ret, const(0)), f"if (!d_compare(...)) return dentry /* {candidate.name} */"
        ):
            op.lookup(candidate, "result", f"inode = d_inode({candidate.name})")
            op.unlock(rcu, "leave_rcu(nd): rcu_read_unlock()", tag="rcu")
            op.goto("out")
    op.unlock(rcu, "try_to_unlazy(nd): rcu_read_unlock() /* not in the dcache */", tag="rcu")
    fresh = op.dentry(directory, name)
    new = dentry_object(op.world, fresh.path)

    def allocate(op: Op) -> None:
        op.call(
            "dentry_operations.d_init",
            ext4_d_init,
            new.path,
            label="d_alloc_parallel() -> __d_alloc(): err = dentry->d_op->d_init(dentry)",
            roles={"dentry": new},
        )

    in_lookup_name = fresh.path if exact else f"{parent.rstrip('/')}/{name.casefold()}"
    found = lookup_slow(op, directory, fresh, in_lookup_name, allocate)
    op.let("result", found, "dentry = lookup_slow(&nd->last, nd->path.dentry, nd->flags)")
    op.label("out")
    op.world.parts.setdefault(CI_LOOKUPS, []).append((op.thread.pc, result, directory.text, name))


# --- disconnected directories: d_obtain_alias(), d_splice_alias() ------------


def disconnect(scratch: Scratch, directory: int) -> None:
    """d_obtain_alias(): the directory's only dentry is a disconnected one
    (IS_ROOT, DCACHE_DISCONNECTED): its d_parent is itself, which the
    world's d_parent slot spells "none", the top of a tree of its own."""
    slot = scratch.world.inodes[directory].d_parent
    assert slot is not None
    scratch[slot] = None


def reconnect(scratch: Scratch, directory: int, parent: int) -> None:
    """__d_move(new, dentry): the disconnected alias takes the looked-up
    name, and its parent."""
    slot = scratch.world.inodes[directory].d_parent
    assert slot is not None
    scratch[slot] = parent


def _not_pinned(op: Op, disconnected: str | None = None, pinned: str | None = None) -> None:
    """A directory whose dentry left the dcache (``nfsd_rename``) cannot be
    on the path of a dentry another thread holds (``d_path``'s file: a
    dentry holds a reference on its parent, so ``d_obtain_alias()`` would
    find the connected alias): a model error when a scenario has both."""
    seen = op.world.parts.setdefault("dcache pins", {"disconnected": {}, "pinned": {}})
    if disconnected is not None:
        seen["disconnected"][disconnected] = op.thread.name
    if pinned is not None:
        seen["pinned"][pinned] = op.thread.name
    for directory, who in seen["disconnected"].items():
        for path, holder in seen["pinned"].items():
            if path.rstrip("/") == directory.rstrip("/") or path.startswith(
                directory.rstrip("/") + "/"
            ):
                raise ModelError(
                    f"{holder} holds {path}, which pins the dentry of {directory}, so {who}'s "
                    "d_obtain_alias() finds it connected: nfsd_rename's disconnected directory "
                    "cannot be on the path of a file another thread holds"
                )


@operation(
    models="nfsd4_rename() -> nfsd_rename() (fs/nfsd/vfs.c) with a parent decoded from a file "
    "handle: exportfs_decode_fh() -> d_obtain_alias() (fs/dcache.c); lock_rename() (fs/namei.c)",
    describe=lambda old, new: f"nfsd_rename({old}, {new})",
    cites=(
        Cite("fs/dcache.c", "d_obtain_alias", "6.12"),
        Cite("fs/nfsd/vfs.c", "nfsd_rename", "6.12"),
        Cite("fs/namei.c", "lock_rename", "6.12"),
    ),
)
def nfsd_rename(op: Op, old: str, new: str) -> None:
    """An NFS rename whose source directory comes from a file handle after
    its dentry left the dcache: d_obtain_alias() gives a disconnected
    dentry, so lock_two_directories() finds no common ancestor of the two
    parents (-EXDEV) unless a lookup reconnected it meanwhile; then the
    rename of ``rename()``.  Left out: nfsd looks the names up with
    ``lookup_one_len()`` under both parents' locks, which on a miss runs
    ``__lookup_slow()`` (``d_alloc_parallel()``, ``->lookup``, and
    ``d_splice_alias()``'s trylock of ``s_vfs_rename_mutex``) there; the
    model's names are cached."""
    directory = op.inode(split(old)[0])
    _not_pinned(op, disconnected=split(old)[0])
    op.effect(
        "exportfs_decode_fh() -> d_obtain_alias(inode) /* IS_ROOT, DCACHE_DISCONNECTED */",
        disconnect,
        directory,
    )
    op.run(rename, old, new)


@operation(
    models="lookup_slow() -> ->lookup -> d_splice_alias() (fs/namei.c, fs/dcache.c)",
    describe=lambda path: f"lookup_splice({path})",
    cites=(
        Cite("fs/namei.c", "lookup_slow", NAMEI_READ),
        Cite(
            "fs/dcache.c",
            "d_splice_alias",
            DCACHE_READ,
            method="inode_operations.lookup",
        ),
        Cite(
            "fs/dcache.c",
            "d_splice_alias_ops",
            DCACHE_READ,
            leaves_out=SPLICE_LEFT_OUT,
            because="the inode's i_lock around __d_find_any_alias() and __d_add(), the new "
            "dentry's d_lock in __d_add() (the model has neither), and __d_unalias() "
            "for a connected alias (a directory renamed on the server), not modelled",
        ),
        Cite(
            "fs/dcache.c",
            "__d_move",
            DCACHE_READ,
            leaves_out=("spin_lock", "spin_lock_nested", "spin_unlock"),
            because="the d_lock of the two parents and of both dentries, held for the move "
            "under rename_lock; the model has no d_lock reader of d_parent",
        ),
    ),
)
def lookup_splice(op: Op, path: str) -> None:
    """A lookup of the directory ``path`` that is not in the dcache under
    its name: ``->lookup`` under the parent's i_rwsem (shared) finds the
    inode and d_splice_alias() finds its disconnected alias, which
    ``__d_move()`` moves to the name under ``write_seqlock(&rename_lock)``.

    Read in 6.17-rc3 (Kingxukai/linux fs/dcache.c at 9b44fff6):
    ``d_splice_alias()`` is ``d_splice_alias_ops(inode, dentry, NULL)``,
    which finds the alias under the inode's ``i_lock``, drops it, then takes
    ``rename_lock``; an IS_ROOT alias is moved by ``__d_move()`` (the two
    parents' and both dentries' d_lock inside); a connected alias goes
    through ``__d_unalias()``: ``mutex_trylock(s_vfs_rename_mutex)``,
    ``inode_trylock_shared()`` of its parent and the new (6.15)
    ->d_unalias_trylock/->d_unalias_unlock around ``__d_move()``, -ESTALE if
    a trylock fails; ``__d_move()`` takes the in-lookup dentry off the
    in-lookup hash and wakes its waiters.  The filesystem's ->lookup is read as
    ``d_splice_alias()`` (ext4_lookup() and most ->lookup end in it).  Left
    out: i_lock, the d_locks, ``__d_unalias()`` and the no-alias
    ``__d_add()``."""
    parent, _ = split(path)
    directory, child = op.inode(parent), op.inode(path)
    if not op.world.lookup_path(path).is_dir:
        raise ModelError(
            f"lookup_splice({path!r}): {path} is not a directory; the model splices a "
            "disconnected directory's alias (a file's alias is never disconnected here)"
        )
    op.lock(directory.i_rwsem, SHARED, "inode_lock_shared(dir)")
    looked_up = d_alloc_parallel(op, path)
    op.enter(
        "inode_operations.lookup",
        directory,
        label="old = inode->i_op->lookup(inode, dentry, flags)",
        roles={"dir": directory},
    )
    op.lock(op.world.rename_lock, EXCL, "d_splice_alias(): write_seqlock(&rename_lock)")
    op.effect("__d_move(new, dentry, false) /* IS_ROOT(new) */", reconnect, child, directory)
    d_lookup_done(op, path, "__d_move(): __d_lookup_unhash(target), end_dir_add() wakes waiters")
    op.unlock(op.world.rename_lock, "write_sequnlock(&rename_lock)")
    op.label(looked_up)
    op.unlock(directory.i_rwsem, "inode_unlock_shared(dir)")


# --- mount traversal, complete_walk(), d_real, d_dname --------------------------


def mount_slot(world: World, path: str) -> int:
    """How many filesystems are mounted on ``path`` (an autofs trigger)."""
    world.parts[AUTOMOUNTS] = True
    return world.shared_slot(f"mounted({path})", 0)


def autofs_d_manage_rcu(scratch: Scratch, dentry: str) -> int:
    """autofs_d_manage(path, rcu_walk=true): the daemon may be mounting:
    ``if (rcu_walk) return -ECHILD``."""
    return ECHILD


def autofs_d_manage(scratch: Scratch, dentry: str) -> int:
    """autofs_d_manage(path, false): autofs_mount_wait() for the daemon
    (sleeps); 0: go on to the automount."""
    return 0


def mounted_already(scratch: Scratch, mounted: int) -> bool:
    """lock_mount(): is something mounted on the point now?"""
    return bool(scratch[mounted])


def add_mount(scratch: Scratch, mounted: int) -> None:
    """d_set_mounted(): the point is DCACHE_MOUNTED, and the new NFS mount,
    which do_add_mount() -> graft_tree() then attaches, is counted."""
    scratch[mounted] = scratch[mounted] + 1


@operation(
    models="path_lookupat() -> step_into() -> handle_mounts() -> __follow_mount_rcu(), "
    "traverse_mounts() -> follow_automount() -> finish_automount(); complete_walk() "
    "(fs/namei.c, fs/namespace.c)",
    describe=lambda path: f"walk_automount({path})",
    cites=(
        Cite("fs/namei.c", "__follow_mount_rcu", NAMEI_READ),
        Cite("fs/namei.c", "__traverse_mounts", NAMEI_READ),
        Cite("fs/namei.c", "follow_automount", NAMEI_READ),
        Cite("fs/namespace.c", "finish_automount", "6.12"),
        Cite("fs/namei.c", "complete_walk", NAMEI_READ),
    ),
)
def walk_automount(op: Op, path: str) -> None:
    """A walk to an autofs trigger (``__follow_mount_rcu()``,
    ``handle_mounts()``, ``__traverse_mounts()``, ``follow_automount()``
    read again in 6.17-rc3, Kingxukai/linux fs/namei.c at 0291023e: as
    modelled): in rcu-walk ``->d_manage(path, true)``, -ECHILD, and
    ``handle_mounts()`` leaves rcu-walk with ``try_to_unlazy_next()``; in
    ref-walk ``->d_manage(path, false)`` waits for the daemon,
    then, nothing being mounted, ``->d_automount`` mounts NFS and
    finish_automount() grafts it under the mount point's i_rwsem and
    namespace_sem, taken in that order, unless something was mounted
    meanwhile (``finish_automount()`` read in linux-fsdevel/vfs and the
    6.12-era copy in the search index: ``inode_lock(dentry->d_inode);
    namespace_lock();``, ``path_overmounted()``, ``get_mountpoint()`` ->
    ``d_set_mounted()``: ``rename_lock`` for writing, the point's d_lock
    inside it, DCACHE_MOUNTED set; ``do_add_mount()`` (the mount attached,
    counted with the flag set), ``discard_locked:``
    releasing both; 6.18 moves the pair into ``lock_mount_exact()``; left
    out: ``mount_lock`` around the mountpoint hash, and the d_lock of each
    ancestor d_set_mounted() checks for d_invalidate());
    complete_walk() then revalidates the jumped-to root with
    ``->d_weak_revalidate``.  ``complete_walk()`` (read in 6.17-rc3,
    0291023e) leaves rcu-walk with ``try_to_unlazy()`` first and calls
    ->d_weak_revalidate with no lock, only after a jump (ND_JUMPED) and for
    a dentry with DCACHE_OP_WEAK_REVALIDATE."""
    point = dentry_object(op.world, path)
    mounted = mount_slot(op.world, path)
    namespace_sem = op.world.shared_lock("namespace_sem", Kind.RWSEM)
    rcu = op.world.rcu_read_lock
    blocks = op.variant(D_MANAGE_BLOCKS_IN_RCU)
    op.lock(rcu, SHARED, "path_init(): rcu_read_lock() /* LOOKUP_RCU */", tag="rcu")
    op.call(
        "dentry_operations.d_manage",
        autofs_d_manage if blocks else autofs_d_manage_rcu,
        point,
        label="__follow_mount_rcu(): ret = dentry->d_op->d_manage(path, true)",
        roles={"dentry": point},
        sleeps=blocks,
    )
    op.unlock(
        rcu,
        "handle_mounts(): if (!try_to_unlazy_next(nd, dentry)) /* leave_rcu(nd) */",
        tag="rcu",
    )
    op.call(
        "dentry_operations.d_manage",
        autofs_d_manage,
        point,
        label="__traverse_mounts(): ret = path->dentry->d_op->d_manage(path, false)",
        roles={"dentry": point},
    )
    op.goto_if(
        state_expr(f"d_mountpoint({path})", lambda state: state[mounted] > 0),
        "jumped",
        "if (flags & DCACHE_MOUNTED) /* mounted: follow it */",
    )
    op.call(
        "dentry_operations.d_automount",
        _nothing,
        point,
        label="follow_automount(): mnt = path->dentry->d_op->d_automount(path)",
        roles={"dentry": point},
    )
    point_inode = op.inode(path)
    op.lock(point_inode.i_rwsem, EXCL, "finish_automount(): inode_lock(dentry->d_inode)")
    op.lock(namespace_sem, EXCL, "finish_automount(): namespace_lock()")
    if not op.variant(AUTOMOUNT_NO_RECHECK):
        again = op.compute(
            "busy", "path_overmounted(path): the point is mounted on now?", mounted_already, mounted
        )
        op.goto_if(
            same(again, const(True)),
            "discard",
            "if (path_overmounted(path)) { err = 0; goto discard_locked; }",
        )
    op.lock(
        op.world.rename_lock,
        EXCL,
        "get_mountpoint() -> d_set_mounted(dentry): write_seqlock(&rename_lock)",
    )
    op.section(
        point.d_lock,
        "spin_lock(&dentry->d_lock); if (!d_unlinked(dentry) && !d_mountpoint(dentry)) "
        "dentry->d_flags |= DCACHE_MOUNTED; spin_unlock(&dentry->d_lock)",
        add_mount,
        mounted,
    )
    op.unlock(op.world.rename_lock, "write_sequnlock(&rename_lock)")
    op.label("discard")
    op.unlock(namespace_sem, "unlock_mount() / discard_locked: namespace_unlock()")
    op.unlock(point_inode.i_rwsem, "unlock_mount() / discard_locked: inode_unlock(dentry->d_inode)")
    op.label("jumped")
    root = dentry_object(op.world, f"{path}:nfs-root")
    op.call(
        "dentry_operations.d_weak_revalidate",
        _nothing,
        root,
        label="complete_walk(): status = dentry->d_op->d_weak_revalidate(dentry, nd->flags)",
        roles={"dentry": root},
    )


@operation(
    models="bpf_uprobe_multi_link_attach() (kernel/trace/bpf_trace.c) -> d_real_inode() -> "
    "d_real() (include/linux/dcache.h)",
    describe=lambda path: f"d_real_inode({path})",
    cites=(Cite("kernel/trace/bpf_trace.c", "bpf_uprobe_multi_link_attach", "6.12"),),
)
def real_inode(op: Op, path: str) -> None:
    """d_real_inode() of an overlayfs dentry (a BPF uprobe attaching to
    a binary does it; d_real_inode() and d_real() are inline in
    include/linux/dcache.h):
    ``dentry->d_op->d_real(dentry, D_REAL_DATA)``; ovl_d_real() may copy
    up metadata and sleep.  ``d_real()`` read in 6.17-rc3 (include/linux/
    dcache.h at 9b44fff6; a header inline, which drift does not read): it
    calls ->d_real only for a dentry with DCACHE_OP_REAL, with no lock."""
    dentry = dentry_object(op.world, path)
    op.call(
        "dentry_operations.d_real",
        _nothing,
        dentry,
        label="d_real(): return dentry->d_op->d_real(dentry, type)",
        roles={"dentry": dentry},
    )


@operation(
    models="readlink(/proc/self/fd/N) -> proc_fd_link(); do_proc_readlink() -> d_path() "
    "(fs/proc/base.c, fs/d_path.c)",
    describe=lambda: "readlink(/proc/self/fd/0) of a pipe",
    cites=(
        Cite("fs/d_path.c", "d_path", DCACHE_READ),
        Cite("fs/pipe.c", "pipefs_dname", "6.12"),
    ),
)
def pipe_d_path(op: Op) -> None:
    """d_path() of a pipe's dentry: ``d_op->d_dname`` (pipefs_dname()
    makes up ``pipe:[ino]``) before any rcu_read_lock() (``d_path()`` read
    in 6.17-rc3, 9b44fff6: a pseudo dentry that is not a mount's root);
    ``pipefs_dname()`` (fs/pipe.c, read in a 6.x copy) formats the inode
    number with ``dynamic_dname()`` and takes no lock."""
    dentry = dentry_object(op.world, "pipe:[1]")
    op.call(
        "dentry_operations.d_dname",
        _nothing,
        dentry,
        label="return path->dentry->d_op->d_dname(path->dentry, buf, buflen)",
        roles={"dentry": dentry},
        sleeps=False,
    )


def d_path_rcu(world: World) -> Lock:
    """``d_path()``'s RCU read-side section (not a path walk)."""
    return world.shared_lock("rcu_read_lock(d_path)", Kind.RCU)


def _holding_dentry(world: World, values: Any, ino: int) -> Dentry | None:
    """The dentry that names inode ``ino`` in ``values`` (the first, for an
    inode with several links), or None."""
    return next((d for d in world.dentries.values() if values[d.slot] == ino), None)


def true_path(world: World, values: Any, ino: int) -> str:
    """The path that names ``ino`` in ``values``, read all at once: the
    names from the inode up to the root."""
    names: list[str] = []
    seen = {ino}
    while ino != world.root.ino:
        dentry = _holding_dentry(world, values, ino)
        if dentry is None or dentry.parent.ino in seen:
            return "/".join(("(unreachable)", *names))
        names.insert(0, dentry.name)
        ino = dentry.parent.ino
        seen.add(ino)
    return "/" + "/".join(names)


def rename_sequence(scratch: Scratch, rename_lock: int, ino: int) -> tuple[int, str]:
    """``read_seqbegin()``'s read of ``rename_lock``'s sequence (odd while
    a writer is in its section: the reader spins), with the path that
    names ``ino`` as the walk begins (what ``d-path`` accepts besides the
    one at its validation)."""
    sequence: int = scratch[rename_lock][0]
    return sequence, locked_path(scratch, ino)


def _render_sequence(value: Any) -> str:
    return "none" if value is None else f"{value[0]} (the path then {value[1]})"


def read_d_parent(scratch: Scratch, ino: int) -> int:
    """``READ_ONCE(dentry->d_parent)`` of the dentry naming ``ino``: a
    directory's ``d_parent`` slot (the dentry itself when it is
    disconnected, ``disconnect``), the directory a file's name is in (the
    dentry itself when none names it: ``__prepend_path()``'s "Escaped?")."""
    world = scratch.world
    slot = world.inodes[ino].d_parent
    if slot is not None:
        parent: int | None = scratch[slot]
        return ino if parent is None else parent
    dentry = _holding_dentry(world, scratch.values, ino)
    return ino if dentry is None else dentry.parent.ino


def prepend_name(scratch: Scratch, ino: int, names: tuple[str, ...]) -> tuple[str, ...]:
    """``prepend_name(p, &dentry->d_name)``: the name of the dentry naming
    ``ino`` (``?`` when none does) before ``names``."""
    dentry = _holding_dentry(scratch.world, scratch.values, ino)
    return ("?" if dentry is None else dentry.name, *names)


def validated_path(
    scratch: Scratch, seq: tuple[int, str], rename_lock: int, ino: int
) -> tuple[str, ...] | None:
    """``need_seqretry(&rename_lock, seq)``: None when the sequence moved
    since ``read_seqbegin()`` (a rename ran meanwhile: retry), else the
    paths that named ``ino`` as the walk began and now, one of which the
    walk must have read (what ``d-path`` compares it with: with the
    sequence unchanged no rename ran, and the two are one)."""
    sequence, started = seq
    if scratch[rename_lock][0] != sequence:
        return None
    return tuple(dict.fromkeys((started, locked_path(scratch, ino))))


def _locked_paths(scratch: Scratch, ino: int) -> tuple[str, ...]:
    """The path the walk under ``rename_lock`` must have read."""
    return (locked_path(scratch, ino),)


def locked_path(scratch: Scratch, ino: int) -> str:
    """The path that names ``ino`` now, with ``rename_lock`` held; a
    ``ModelError`` when no name or several name it (an unlink or a link of
    the file ran): the walk follows the inode's one name, not the open
    file's own dentry, whose ``d_parent`` and name outlive an unlink (the
    kernel returns them with " (deleted)")."""
    world = scratch.world
    names = [d for d in world.dentries.values() if scratch.values[d.slot] == ino]
    if len(names) != 1 and ino != world.root.ino:
        has = "no name" if not names else f"{len(names)} names"
        raise ModelError(
            f"d_path() of {world.inode_name(ino)} while the file has {has} (an unlink or a "
            "link of it ran): the model walks the file's one name, not the open "
            'file\'s dentry (nor its " (deleted)"); give d_path() a file no thread unlinks or '
            "links"
        )
    return true_path(world, scratch.values, ino)


def path_string(_scratch: Scratch, names: tuple[str, ...]) -> str:
    """The buffer ``prepend_path()`` filled, as the string d_path() returns."""
    return "/" + "/".join(names)


def _render_names(names: Any) -> str:
    return "(empty)" if not names else "/" + "/".join(names)


def _prepend_path(op: Op, ino: int, pass_name: str) -> None:
    """``__prepend_path()``: from the dentry up to the root, for each
    dentry ``parent = READ_ONCE(dentry->d_parent)``, then its name
    prepended, each a step of its own."""
    root = op.world.root.ino
    loop, done = op.fresh_label(f"walk.{pass_name}"), op.fresh_label(f"walked.{pass_name}")
    op.let("dentry", const(ino), f"dentry = path->dentry /* {pass_name} */")
    op.compute("b", "b = *p", _empty_names, render=_render_names)
    op.label(loop)
    at = op.reg("dentry")
    op.goto_if(same(at, const(root)), done, "while (dentry != root->dentry)", label_negates=True)
    parent = op.compute(
        "parent",
        "parent = READ_ONCE(dentry->d_parent)",
        read_d_parent,
        at,
        render=op.world.inode_name,
    )
    op.goto_if(same(parent, at), done, "if (unlikely(dentry == parent)) return 3 /* Escaped? */")
    op.compute(
        "b",
        "prepend_name(p, &dentry->d_name)",
        prepend_name,
        at,
        op.reg("b"),
        render=_render_names,
    )
    op.let("dentry", parent, "dentry = parent")
    op.goto(loop)
    op.label(done)


def _empty_names(_scratch: Scratch) -> tuple[str, ...]:
    return ()


@operation(
    models="readlink(/proc/self/fd/N) -> d_path() -> prepend_path() (fs/d_path.c)",
    describe=lambda path: f"d_path({path})",
    cites=(
        Cite("fs/d_path.c", "d_path", DCACHE_READ),
        Cite("fs/d_path.c", "prepend_path", DCACHE_READ),
        Cite("fs/d_path.c", "__prepend_path", DCACHE_READ),
    ),
)
def d_path(op: Op, path: str) -> None:
    """d_path() of an open file's path (what readlink of /proc/self/fd/N
    returns): under ``rcu_read_lock()``, ``prepend_path()`` walks from the
    dentry up to the root with no lock, ``read_seqbegin_or_lock(&rename_lock,
    &seq)`` before and ``need_seqretry(&rename_lock, seq)`` after; a
    rename that ran meanwhile (the sequence moved) makes it walk again
    with ``rename_lock`` held (``read_seqlock_excl()``, seq = 1), which
    keeps renames out.  ``__prepend_path()`` reads each dentry's
    ``d_parent`` and then its name (``prepend_name()``, READ_ONCE of the
    name and length): a rename between the two gives a path that never
    existed, which the retry throws away.

    ``d_path()``, ``prepend_path()``, ``__prepend_path()`` and
    ``prepend_name()`` read in 6.17-rc3 (Kingxukai/linux fs/d_path.c at
    9b44fff6).  The invariant ``d-path`` asks that the path returned be one
    that named the file while the walk ran: as it began or when it was
    validated (the sequence unchanged, or the walk under ``rename_lock``);
    a path that named it only between two renames inside one walk is not
    accepted, which a correct protocol never needs (it retries).  Left out:
    ``mount_lock``'s own ``read_seqbegin_or_lock()`` (no mount changes in
    the scenarios; the dentry is never a mount's root), ``get_fs_root_rcu()``
    (the root is ``/``), ``prepend_path()``'s inner ``rcu_read_lock()``
    (inside d_path()'s own, which the model holds throughout), the
    " (deleted)" suffix of an unlinked dentry (the walk follows the file's
    one name: a scenario that unlinks or links the file is a model error),
    the buffer's length, and d_seq.  The model's ``read_seqlock_excl()`` is a writer's hold of the
    seqlock, which moves the sequence (the kernel's takes only the
    spinlock): another lockless reader then retries once more than it
    would."""
    ino = op.world.lookup_path(path).ino
    _not_pinned(op, pinned=path)
    rcu = d_path_rcu(op.world)
    rename_lock = op.world.rename_lock
    op.lock(rcu, SHARED, "d_path(): rcu_read_lock()")
    op.label("restart")
    seq = op.compute(
        "seq",
        "read_seqbegin_or_lock(&rename_lock, &seq): seq = read_seqbegin(&rename_lock)",
        rename_sequence,
        rename_lock.slot,
        ino,
        render=_render_sequence,
    )
    sampled = op.register("seq")
    op.goto_if(
        state_expr("seq & 1", lambda state: state[sampled][0] & 1 == 1, local=True),
        "restart",
        "read_seqbegin(): while (seq & 1) cpu_relax()",
    )
    _prepend_path(op, ino, "lockless")
    seen = op.compute(
        "seen",
        "if (need_seqretry(&rename_lock, seq)) { seq = 1; goto restart; }",
        validated_path,
        seq,
        rename_lock.slot,
        ino,
        render=lambda value: "none" if value is None else " or ".join(value),
    )
    op.goto_if(differ(seen, const(None)), "done", "done_seqretry(&rename_lock, seq) /* even */")
    op.lock(rename_lock, EXCL, "read_seqbegin_or_lock(&rename_lock, &seq): read_seqlock_excl()")
    _prepend_path(op, ino, "locked")
    op.compute("seen", "need_seqretry(&rename_lock, 1): no", _locked_paths, ino)
    op.unlock(rename_lock, "done_seqretry(&rename_lock, seq): read_sequnlock_excl()")
    op.label("done")
    op.compute("result", "*p = b; return extract_string(&b)", path_string, op.reg("b"))
    op.unlock(rcu, "d_path(): rcu_read_unlock()")
    op.world.parts.setdefault(D_PATHS, []).append(
        (op.thread.pc, op.register("result"), op.register("seen"), path)
    )
