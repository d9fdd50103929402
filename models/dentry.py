"""A dentry as the locking rules see it (fs/dcache.c of Linux 6.12): its
path and its ``d_lock`` spinlock, made on first use, for the calls of the
dentry methods (``roles={"dentry": ...}``)."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Callable
from typing import Any

import attrs

from mc.dsl.operation import Op
from mc.kernel.expr import Expr, among, const, differ, not_, slot_value
from mc.kernel.locks import Kind, Lock
from mc.kernel.world import (
    LOCK_PROTOCOL,
    ModelError,
    Scratch,
    Slots,
    World,
    touched_by,
    touches,
)

ONE_LOOKUP_PER_NAME = "one-lookup-per-name"
"""The property of ``->lookup`` running in one thread at a time on a name
(``mc.models.dcache_scenarios`` checks it on states)."""


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


IN_LOOKUP_NAMES = "in-lookup-names"
"""``world.parts`` key: the names a scenario's lookups run ``d_alloc_parallel()`` on."""
NO_IN_LOOKUP_WAIT = "no-in-lookup-wait"


def in_lookup_slot(world: World, name: str) -> int:
    """Which threads hold an in-lookup dentry (DCACHE_PAR_LOOKUP, on the
    in-lookup hash) of ``name``, by name, in the order they took it: none,
    or one thread while its ``->lookup`` runs."""
    return world.shared_slot(f"d_in_lookup({name})", (), lambda held: ",".join(held) or "free")


def lookup_failed_slot(world: World, name: str) -> int:
    """The threads an in-lookup dentry of ``name`` of which left the
    in-lookup hash unhashed, its ``->lookup`` failed: a lookup that waited
    for it looks the name up again (``d_alloc_parallel()``'s mismatch
    retry).  A thread stays there when it looks the name up again, so a
    waiter that checks late retries, as it would after the dentry it
    waited for was pruned."""
    return world.shared_slot(
        f"d_lookup_failed({name})", (), lambda failed: ",".join(failed) or "none"
    )


def _in_lookup_touches(world: World, slot: int, *_: object) -> tuple[Slots, Slots]:
    return (slot,), (slot,)


def _lookup_done_touches(
    world: World, slot: int, failed_slot: int, *_: object
) -> tuple[Slots, Slots]:
    return (slot, failed_slot), (slot, failed_slot)


@touches(_in_lookup_touches)
def take_in_lookup(scratch: Scratch, slot: int, thread: str, searches: bool) -> str | None:
    """d_alloc_parallel(): under the in-lookup hash chain's bit lock, the
    thread whose in-lookup dentry of the name is there (None: none is, and
    the new dentry goes on the chain, in lookup by this thread).  Without
    ``searches`` (``no-in-lookup-wait``) the chain is not searched."""
    held = scratch[slot]
    if thread in held:
        scratch.violate(
            LOCK_PROTOCOL,
            f"{thread} looks up a name its own in-lookup dentry holds: d_alloc_parallel() "
            "waits for itself for ever (a deadlock)",
        )
        return None
    if held and searches:
        owner: str = held[0]
        return owner
    scratch[slot] = (*held, thread)
    return None


@touches(_lookup_done_touches)
def end_in_lookup(scratch: Scratch, slot: int, failed_slot: int, thread: str, failed: bool) -> None:
    """d_lookup_done() -> __d_lookup_unhash_wake(): off the in-lookup hash,
    DCACHE_PAR_LOOKUP cleared, the waiters woken; ``failed``: ->lookup
    failed, and the dentry, never hashed, is unhashed for its waiters.  A
    thread that holds no in-lookup dentry of the name got here past a
    ``->lookup`` that d_alloc_parallel() did not give it to run (on another
    thread's in-lookup dentry, or on one another lookup had ended): a
    violation of ``one-lookup-per-name``."""
    held = scratch[slot]
    if thread not in held:
        name = scratch.world.slots[slot].name.removeprefix("d_in_lookup(").removesuffix(")")
        owner = f" ({held[0]}'s is in lookup)" if held else ""
        scratch.violate(
            ONE_LOOKUP_PER_NAME,
            f"{thread} ran ->lookup of {name} holding no in-lookup dentry of it{owner}: "
            "d_alloc_parallel() gives one thread the name's in-lookup dentry to look up, and "
            "a lookup that finds another's waits in d_wait_lookup()",
        )
        return
    scratch[slot] = tuple(holder for holder in held if holder != thread)
    if failed and thread not in scratch[failed_slot]:
        scratch[failed_slot] = (*scratch[failed_slot], thread)


def in_lookup_method(op: Op, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method``, a filesystem's ``->lookup``, as ``__lookup_slow()``
    calls it: on the in-lookup dentry of ``name`` that ``d_alloc_parallel()``
    gave this thread.  Called by a thread that holds none (its
    ``d_lookup_done()`` moved before the call, say), it is a violation of
    ``one-lookup-per-name``: another lookup of the name may run ->lookup
    beside it.  The call reads the name's in-lookup slot besides what
    ``method`` declares it touches."""
    slot = in_lookup_slot(op.world, name)
    thread = op.thread.name
    declared = touched_by(method)

    @functools.wraps(method)
    def call(scratch: Scratch, *args: Any) -> Any:
        held = scratch[slot]
        if thread not in held:
            owner = f" ({held[0]}'s is in lookup)" if held else ""
            scratch.violate(
                ONE_LOOKUP_PER_NAME,
                f"{thread} calls ->lookup of {name} holding no in-lookup dentry of it{owner}: "
                "d_alloc_parallel() gives one thread the name's in-lookup dentry to look up, "
                "and __lookup_slow() calls ->lookup on it before d_lookup_done()",
            )
            return 0
        return method(scratch, *args)

    if declared is None:
        return call

    def touched(world: World, *args: Any) -> tuple[Slots, Slots]:
        reads, writes = declared(world, *args)
        return (*reads, slot), writes

    return touches(touched)(call)


def d_alloc_parallel(op: Op, name: str) -> str:
    """``dentry = d_alloc_parallel(dir, name, &wq)`` in ``__lookup_slow()``:
    the thread takes the name's in-lookup dentry, or finds another
    thread's and waits in ``d_wait_lookup()`` until that lookup is done,
    then goes on with the dentry it looked up (``__lookup_slow()``'s
    ``d_revalidate()`` branch, which ramfs's dentries do not have).  When
    that lookup failed (``d_lookup_done(..., failed=...)``), the dentry is
    unhashed: the waiter goes to ``mismatch`` and ``retry``, and takes an
    in-lookup dentry of its own, or waits for another's.
    Returns the label the waiter goes to, which the caller places where
    the walk goes on past ``->lookup`` and ``d_lookup_done()``.  ``name``
    is the key of the in-lookup hash (what ``d_same_name()``'s calls of the
    parent's ->d_compare decide, which are left out: one key for the names
    a casefolded directory takes as one).  ``__d_alloc()``'s GFP_KERNEL
    allocation and the wait sleep: the step is an error in atomic context.

    Read in 6.17-rc3 (Kingxukai/linux fs/dcache.c at 9b44fff6):
    ``d_alloc_parallel()``, ``d_wait_lookup()``, ``__d_lookup_unhash()``;
    fs/namei.c at 0291023e: ``__lookup_slow()``.  Left out: the dcache
    hash (``__d_lookup_rcu()`` first, which finds the dentry a finished
    lookup hashed: here a later lookup takes a new in-lookup dentry and
    calls ->lookup again, as after the dentry was pruned), the
    ``i_dir_seq`` and ``rename_lock`` retries, the mismatch on a changed
    ``d_name.hash`` or ``d_parent`` (a rename of the dentry while the
    waiter slept), and ``__lookup_slow()``'s ``d_revalidate()`` of the dentry a waiter goes on
    with (a filesystem with ->d_revalidate, FUSE's, would revalidate it
    and may look it up again).  The key is the path: a rename of the
    parent while both look up is not followed."""
    if not isinstance(name, str) or not name.startswith("/"):
        raise ModelError(
            f"d_alloc_parallel(): {name!r} is no path (an in-lookup name is /dir/name)"
        )
    op.inode(posixpath.dirname(name))
    slot, names = in_lookup_slot(op.world, name), op.world.thread_names
    failed_slot = lookup_failed_slot(op.world, name)
    op.world.parts.setdefault(IN_LOOKUP_NAMES, []).append(name)
    retry = op.fresh_label("retry")
    op.label(retry)
    owner = op.compute(
        "in_lookup",
        "dentry = d_alloc_parallel(dir, name, &wq)",
        take_in_lookup,
        const(slot, name),
        const(op.thread.name),
        const(not op.variant(NO_IN_LOOKUP_WAIT)),
        render=lambda owner: "ours" if owner is None else owner,
        sleeps=True,
    )
    looked_up = op.fresh_label("looked_up")
    with op.when(
        differ(owner, const(None, "ours")),
        "d_alloc_parallel(): if (another thread's in-lookup dentry of the name is hashed)",
    ):
        op.wait_until(
            not_(among(owner, slot_value(slot, f"d_in_lookup({name})"))),
            "d_wait_lookup(dentry): schedule() while d_in_lookup(dentry)",
            f"d_in_lookup({name})",
            holders=lambda state: tuple(names.index(held) for held in state[slot][:1]),
        )
        with op.when(
            among(owner, slot_value(failed_slot, f"d_lookup_failed({name})")),
            "d_alloc_parallel(): if (unlikely(d_unhashed(dentry))) goto mismatch "
            "/* its ->lookup failed */",
        ):
            op.goto(retry)
        op.goto(looked_up)
    return looked_up


def d_lookup_done(
    op: Op, name: str, label: str = "d_lookup_done(dentry)", failed: Expr | None = None
) -> None:
    """``d_lookup_done(dentry)`` after ``->lookup``, or where the dentry
    leaves the in-lookup hash earlier and wakes its waiters (``label``):
    a ->lookup that ends in ``d_add()`` or ``d_splice_alias()`` does it
    there (``__d_add()`` -> ``__d_lookup_unhash()``), and the later
    ``d_lookup_done()`` does nothing.  ``failed``: true where the
    in-lookup dentry is left unhashed, which sends the waiters to the
    mismatch retry: a failed ->lookup (``__lookup_slow()`` then ``dput()``s
    the dentry it never hashed), or ``d_splice_alias()`` moving an
    existing alias in its place (``__d_move()`` unhashes the in-lookup
    target and never hashes it again); None, a lookup that never fails.
    ``mc.models.dcache``'s splice passes None: no scenario has a waiter
    there, where the kernel's waiter would retry (behind the splicer's
    ``rename_lock``) rather than go on."""
    op.effect(
        label,
        end_in_lookup,
        const(in_lookup_slot(op.world, name), name),
        const(lookup_failed_slot(op.world, name), f"d_lookup_failed({name})"),
        const(op.thread.name),
        const(False, "0") if failed is None else failed,
    )
