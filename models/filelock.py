"""File locks and leases on one file: POSIX record locks (fcntl F_SETLKW
with -EDEADLK detection), flock(2) with its upgrade, leases broken by an
open for write, lockd's blocked locks woken through ->lm_notify, a
cluster filesystem's deferred grant through ->lm_grant, and nfsd's
courtesy locks expired through ->lm_lock_expirable/->lm_expire_lock.

Written from fs/locks.c of a Linux 5.15-5.17 tree (torvalds/linux at
90f7d7a0 as stored: LOCK_MAND removed, no courtesy locks yet;
``posix_lock_inode()``, ``posix_lock_inode_wait()``,
``posix_locks_deadlock()``, ``what_owner_is_waiting_for()``,
``__locks_insert_block()``, ``locks_wake_up_blocks()``,
``__locks_wake_up_blocks()``, ``locks_copy_lock()``,
``locks_release_private()``, ``flock_lock_inode()``,
``flock_lock_inode_wait()``, ``generic_add_lease()``,
``check_conflicting_open()``, ``generic_delete_lease()``,
``lease_modify()``, ``__break_lease()``, ``leases_conflict()``) and of
Linux 6.9 for the courtesy-lock retry that 5.18 added to
``posix_lock_inode()`` (``lm_lock_expirable``, then ``spin_unlock(&ctx->flc_lock);
percpu_up_read(&file_rwsem); (*func)(); goto retry``), read in a tree
merging 6.9's fs/locks.c.  The file's ``struct file_lock_context`` is a
:class:`FileLockContext`: its ``flc_lock`` spinlock and its POSIX, flock
and lease lists; ``blocked_lock_lock`` is the world's spinlock guarding
the blocked requests (the ``blocked_hash`` and each request's
``fl_blocker``), which the model keeps as one list of waiters naming the
applied lock each waits for.

What the models leave out: ``file_rwsem`` (taken shared around the
``flc_lock`` sections of the lock, lease and unlock paths, never across a
sleep, nested in no other lock of the models; only /proc/locks's
``locks_start()`` takes it exclusively), the
allocation of ``new_fl``/``new_fl2`` and their failures, merging and
splitting of a process's own adjacent locks (each owner's requests are
disjoint ranges), a waiter inserted beneath another waiter that conflicts
with it (every waiter waits for an applied lock), signals
(``wait_event_interruptible()`` is never interrupted), jiffies (a lease's
break time passes only for a holder that never answers:
:func:`lease_never_answered`), ``->lm_setup``/``->lm_get_owner``/``->lm_put_owner``
as method calls (no row in the document's table; ``->lm_setup`` is a step
without a call; for lockd's requests, whose ``nlmsvc_lock_operations``
(fs/lockd/svclock.c, 6.17-rc3) have both, ``->lm_get_owner`` and
``->lm_put_owner`` are steps without a call too: 6.17-rc3's
``locks_copy_conflock()``, called by ``locks_copy_lock()`` when the granted
request is copied into the list, and for a conflock by ``posix_lock_inode()``
and ``posix_test_lock()``, calls ``->lm_get_owner`` with flc_lock held;
``locks_release_private()`` calls ``->lm_put_owner`` from
``locks_free_lock()``, after flc_lock is dropped (``locks_dispose_list()``),
after ->fl_release_private; ``nlmsvc_put_owner()`` may take the host's
``h_lock`` spinlock), lockd's and nfsd's own locks (``nlm_blocked_lock``,
which ``nlmsvc_notify_blocked()`` and ``nlmsvc_grant_deferred()`` take
under ``blocked_lock_lock``, ``file->f_mutex`` around lockd's
``vfs_lock_file()``, ``client_lock``) and RPCs.

Read again in 6.17-rc3 (Kingxukai/linux at 0291023e, ``struct
file_lock_core``/``struct file_lease`` split): the unlink delegation
break (:func:`unlink_breaking_delegation`), OFD locks
(:func:`ofd_lock_range`), lease timeouts (``time_out_leases()`` at the
start of ``__break_lease()`` and after a timed-out wait) follow that tree.
What differs there from the 5.15 code the rest follows: the split
renamed 5.15's ``locks_delete_block()`` ``__locks_delete_block()`` (and
the bare unlink ``__locks_unlink_block()``), which ``__break_lease()``
calls after the wait under flc_lock: a breaker still blocked (its wait
timed out) takes ``blocked_lock_lock`` inside flc_lock to unlink itself,
one woken (``flc_blocker`` NULL, no waiters of its own) returns at once;
``file_rwsem`` and ``trace_*`` as before.  Both trees' ``__break_lease()`` skip a lease
already FL_UNLOCK_PENDING instead of calling its ->lm_break again (the
model calls it again, with no effect on the state), delete a lease whose
->lm_break returns true and return -EWOULDBLOCK for O_NONBLOCK, and both
``__locks_insert_block()`` put a waiter in ``blocked_hash`` only when its
blocker is a POSIX lock that is not an OFD lock (the 5.15 tree read:
torvalds/linux 90f7d7a0).
The requests carry ``fl_ops`` as an NFS client's do (``nfs4_fl_lock_ops``),
so ``locks_copy_lock()`` calls ``->fl_copy_lock`` and disposing of a lock
calls ``->fl_release_private``.  The document's ``inode->i_lock`` column of
``file_lock_operations`` names the lock that ``ctx->flc_lock`` replaced in
Linux 4.0 (specs/conformance.toml maps it).

nfsd's ``fp->fi_lock`` (``FileLockContext.fi_lock``) follows
fs/nfsd/nfs4state.c of the 6.17-rc3 tree: ``check_for_locks()``
(RELEASE_LOCKOWNER, :func:`nfsd_release_lockowner`) takes flc_lock inside
it, and the delegation's ->lm_break (:func:`nfsd_break_deleg_cb`) takes
no fi_lock; ``deleg-break-takes-fi_lock`` is the code from edcf9725150e
to 5ea9a7c5fe41, whose ->lm_break took it under flc_lock.  nfsd's other
fi_lock sections (``nfs4_set_delegation()``'s hashing, ``nfsd4_lock()``'s
``find_writeable_file_locked()``) take no lock inside it and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from mc.dsl import (
    EXCL,
    LOCK_PROTOCOL,
    Cite,
    E,
    Expr,
    LockKind,
    ModelError,
    Op,
    Scratch,
    State,
    World,
    const,
    flag_variant,
    negative,
    not_,
    operation,
    same,
    touches,
)
from mc.kernel.expr import OTHERS_RETURNED, is_error, slot_value
from mc.kernel.locks import SHARED, Lock
from mc.kernel.pagecache import File
from mc.kernel.superblock import SB_FREEZE_WRITE, sb_writers
from mc.kernel.world import others_returned, yes_no
from mc.models import attr, libfs
from mc.models.dirops import lookup_one_qstr_excl, split
from mc.models.file import Filp, OpenFile, fasync_insert_entry, fasync_remove_entry, files
from mc.models.truncate import truncate_file

READ, WRITE, UNLOCK = "F_RDLCK", "F_WRLCK", "F_UNLCK"
SHARED_FLOCK, EXCL_FLOCK = "LOCK_SH", "LOCK_EX"
COURTESY_CLIENT = "nfsd-client"
MAX_DEADLK_ITERATIONS = 10
FILELOCK_VERSION = "5.15-5.17 (90f7d7a0)"
COURTESY_VERSION = "6.9"
DELEG_VERSION = "6.17-rc3 (Kingxukai/linux 0291023e)"
TRUNCATE_VERSION = "6.17-rc3 (Kingxukai/linux 9b44fff6)"
SVCLOCK_VERSION = "6.17-rc3 (Kingxukai/linux 9b44fff6)"

SKIP_DEADLOCK_CHECK = "posix-skips-deadlock-check"
DEADLOCK_ANY_WAITER = "deadlock-check-any-waiter"
LEASE_SKIPS_OPEN_CHECK = "lease-skips-open-check"
DELEG_SKIPS_OPEN_CHECK = "deleg-skips-conflicting-opens"
LM_BREAK_SLEEPS = "lm_break-sleeps"
LEASE_BREAK_NO_TIMEOUT = "lease-break-without-timeout"
LEASE_BREAK_SIGNALLED = "lease-break-signalled"
LEASE_BREAK_NO_RECHECK = "lease-break-no-recheck"
FLOCK_UPGRADE_IN_PLACE = "flock-upgrade-in-place"
FLOCK_DROPS_FLC_LOCK = "flock-drops-flc_lock-midway"
EXPIRE_UNDER_FLC_LOCK = "expire-lock-under-flc_lock"
OFD_OWNER_IS_FILES = "ofd-owner-is-files"

flag_variant(
    SKIP_DEADLOCK_CHECK,
    "posix_lock_inode() puts a conflicting F_SETLKW request to sleep without "
    "posix_locks_deadlock(): no -EDEADLK",
)
DEADLOCK_CHECK_BEFORE_BLOCKED_LOCK = "deadlock-check-before-blocked-lock-lock"
flag_variant(
    DEADLOCK_CHECK_BEFORE_BLOCKED_LOCK,
    "posix_lock_inode() runs posix_locks_deadlock() before spin_lock(&blocked_lock_lock) and "
    'inserts the request under it after ("Deadlock detection and insertion into the blocked '
    'locks list must be done while holding the same lock!")',
)
flag_variant(
    DEADLOCK_ANY_WAITER,
    "posix_locks_deadlock() returns -EDEADLK when the blocker's owner waits for any lock, "
    "without following the chain back to the caller (no posix_same_owner(caller_fl, block_fl))",
)
LM_SETUP_AFTER_UNLOCK = "lm-setup-after-unlock"
flag_variant(
    LM_SETUP_AFTER_UNLOCK,
    "generic_add_lease() calls ->lm_setup (lease_setup(): the lease's fasync entry) after "
    "spin_unlock(&ctx->flc_lock), once the lease is on flc_lease for a break to find",
)
flag_variant(
    LEASE_SKIPS_OPEN_CHECK,
    "generic_add_lease() grants a lease without check_conflicting_open(), before or after "
    "inserting it",
)
flag_variant(
    DELEG_SKIPS_OPEN_CHECK,
    "nfs4_set_delegation() hands out the delegation without nfsd4_check_conflicting_opens(): "
    "a writer of the file does not refuse it (generic_add_lease()'s check_conflicting_open() "
    "leaves FL_DELEG to nfsd), only a break that met it (fi_had_conflict)",
)
flag_variant(
    LM_BREAK_SLEEPS,
    "the lease's ->lm_break sleeps (as if it waited for the holder to answer) while "
    "__break_lease() holds flc_lock",
)
flag_variant(
    LEASE_BREAK_NO_TIMEOUT,
    "__break_lease() sleeps with wait_event_interruptible() (no break_time) and never calls "
    "time_out_leases(): a lease holder that never answers keeps the opener waiting for ever",
)
flag_variant(
    LEASE_BREAK_NO_RECHECK,
    "__break_lease() goes on once woken without any_leases_conflict() again: it takes the "
    "lease it blocked on (the list's first conflicting one) for the only one",
)
flag_variant(
    FLOCK_UPGRADE_IN_PLACE,
    "flock_lock_inode() keeps the file's shared flock while it waits to upgrade it to "
    "exclusive, instead of removing it first",
)
flag_variant(
    FLOCK_DROPS_FLC_LOCK,
    "flock_lock_inode() lets flc_lock go after deleting the file's lock of the other type and "
    "takes it again before it inserts the new one (cond_resched(), as before 267f11285830): a "
    "thread sharing the struct file inserts its lock in between",
)
flag_variant(
    OFD_OWNER_IS_FILES,
    "fcntl_setlk() leaves an F_OFD_SETLKW request owned by current->files, as for "
    "F_SETLKW, instead of setting FL_OFDLCK and fl_owner = filp: two threads of one "
    "process, each with its own open file, both get the OFD lock",
)
flag_variant(
    EXPIRE_UNDER_FLC_LOCK,
    "posix_lock_inode() calls ->lm_expire_lock with flc_lock still held",
)

FILE_RWSEM = ("percpu_down_read", "percpu_up_read")
THP_DROP = ("filemap_invalidate_lock", "filemap_invalidate_unlock")


def locks_cite(
    function: str, version: str, leaves_out: tuple[str, ...] = (), because: str = ""
) -> Cite:
    """A function of fs/locks.c, whose ``file_rwsem`` (taken shared around
    its ``flc_lock`` sections, exclusively only by /proc/locks) the model
    leaves out, with what else it leaves out of it."""
    return Cite(
        "fs/locks.c",
        function,
        version,
        leaves_out=FILE_RWSEM + leaves_out,
        because="file_rwsem is taken shared around the flc_lock sections of the lock, lease "
        "and unlock paths (posix_test_lock() and the lease queries take flc_lock without "
        "it), never across a sleep; only the "
        "/proc/locks iterator takes it exclusively, and no scenario reads /proc/locks"
        + (f"; {because}" if because else ""),
    )


LOCKD_LOCKS = (
    "mutex_lock(&file->f_mutex)",
    "mutex_unlock(&file->f_mutex)",
    "spin_lock(&nlm_blocked_lock)",
    "spin_unlock(&nlm_blocked_lock)",
)


def svclock_cite(function: str) -> Cite:
    """A function of fs/lockd/svclock.c, whose own locks the model leaves
    out."""
    return Cite(
        "fs/lockd/svclock.c",
        function,
        SVCLOCK_VERSION,
        leaves_out=LOCKD_LOCKS,
        because="lockd's own locks: file->f_mutex serialises lockd's requests on one file, "
        "nlm_blocked_lock guards its list of blocks (taken inside blocked_lock_lock by "
        "->lm_notify and ->lm_grant, a spinlock as the table allows)",
    )


def setlease_cite(version: str) -> Cite:
    """``generic_add_lease()`` of an F_SETLEASE, which is no delegation."""
    return locks_cite(
        "generic_add_lease",
        version,
        leaves_out=("inode_unlock(inode)",),
        because="is_deleg is false for F_SETLEASE: the inode_trylock()/inode_unlock() pair "
        "is nfsd's (nfsd_set_delegation())",
    )


CLOSE_CITE = locks_cite(
    "locks_remove_posix",
    DELEG_VERSION,
    leaves_out=("file_operations.lock",),
    because="the file's filesystem has no ->lock: vfs_lock_file() calls posix_lock_file()",
)


Posix = tuple[str, int, int, str]
"""An applied POSIX lock, or a request: owner, first byte, last byte, type."""
Waiter = tuple[str, str, int, int, str, str, str]
"""A blocked request: kind (posix, flock, lease), owner, range, type, the
owner of the applied lock it waits for, and the file (the path) of that
lock."""


@attrs.frozen
class FileLockContext:
    """``inode->i_flctx`` of the scenario's file: ``flc_lock``, the lists
    it protects, and the state of the lock managers of the scenario."""

    path: str
    flc_lock: Lock
    blocked_lock_lock: Lock
    fi_lock: Lock
    """nfsd's ``fp->fi_lock``, the spinlock of the file's ``struct
    nfs4_file`` (one per file nfsd has open): :func:`check_for_locks`
    takes flc_lock inside it."""
    posix: int
    """The applied POSIX locks (``flc_posix``): a sorted tuple of ``Posix``."""
    flock: int
    """The applied flock locks (``flc_flock``): (file, LOCK_SH or LOCK_EX)."""
    leases: int
    """The leases (``flc_lease``): (file, type, pending break, granted)."""
    blocked: int
    """The blocked requests (``blocked_hash`` and ``fl_blocked_requests``)."""
    opens: int
    """The opens of the file: (file, mode, past break_lease)."""
    notified: int
    """The blocked lockd requests ->lm_notify or ->lm_grant reported."""
    expirable: int
    """nfsd: whether the courtesy client is marked EXPIRABLE, and expired."""
    verdicts: int
    """The -EDEADLK decisions checked against the waits-for graph: None
    before the first, ``AGREED`` while each agreed, else what the first
    that disagreed got wrong."""
    queued: int
    """A lockd request a cluster filesystem deferred (FILE_LOCK_DEFERRED)."""
    ofd_held: int
    """The OFD locks user space was granted: (open file, first, last byte)."""
    timed_out: int
    """The leases whose holders never answer a break: once a break is
    pending, its ``fl_break_time`` passes (``past_time()``)."""
    threads: tuple[str, ...]
    agents: dict[str, str] = attrs.field(eq=False, hash=False, factory=dict)
    """The thread acting for an owner that is not a thread (the courtesy
    client's locks are released by the laundromat)."""
    sharers: dict[str, list[str]] = attrs.field(eq=False, hash=False, factory=dict)
    """The threads sharing each open file that several name (its flock is
    any of theirs to change or let go)."""
    lockd: set[str] = attrs.field(eq=False, hash=False, factory=set)
    ofd_owners: set[str] = attrs.field(eq=False, hash=False, factory=set)
    """The owners whose requests are OFD locks (FL_OFDLCK): a request
    blocked behind one of their locks is not in ``blocked_hash``."""
    """The owners whose requests lockd made (their lock manager has ->lm_notify)."""
    delegations: set[str] = attrs.field(eq=False, hash=False, factory=set)
    """The files whose leases are nfsd's delegations (``nfsd_lease_mng_ops``:
    ->lm_breaker_owns_lease, ->lm_break, ->lm_change)."""

    def __str__(self) -> str:
        return f"flctx({self.path})"


LEASE_OF_DIRECTORY = "generic_setlease() returns -EINVAL for anything but a regular file"
WRITE_LOCK_OF_DIRECTORY = (
    "fcntl() write-locks only through a descriptor open for writing (else -EBADF), "
    "which a directory never is"
)
OPEN_OF_DIRECTORY = "open(2) for writing returns -EISDIR"


def regular_file(world: World, path: str, what: str, why: str) -> None:
    """A ``ModelError`` when ``path`` is a directory, for ``what`` (a
    lease, a write lock, an open for writing), which the kernel refuses
    there (``why``) on a path the model does not have."""
    try:
        inode = world.lookup_path(path)
    except ValueError as error:
        raise ModelError(str(error)) from None
    if inode.is_dir:
        raise ModelError(f"{what} of {path}, a directory: {why}")


def context(world: World, path: str) -> FileLockContext:
    """The lock context of ``path``, made on first use (a path the tree
    lacks is a model error)."""
    parts = world.parts.setdefault("filelock", {})
    if path not in parts:
        try:
            world.lookup_path(path)
        except ValueError as error:
            raise ModelError(str(error)) from None
        parts[path] = FileLockContext(
            path=path,
            flc_lock=world.add_lock(f"flc_lock({path})", LockKind.SPINLOCK, "flc_lock"),
            blocked_lock_lock=world.shared_lock("blocked_lock_lock", LockKind.SPINLOCK),
            fi_lock=world.add_lock(f"fi_lock({path})", LockKind.SPINLOCK, "fi_lock"),
            posix=world.shared_slot(f"flc_posix({path})", (), _render_posix),
            flock=world.shared_slot(f"flc_flock({path})", (), _render_pairs),
            leases=world.shared_slot(f"flc_lease({path})", (), _render_leases),
            blocked=world.shared_slot("blocked requests", (), _render_blocked),
            opens=world.shared_slot(f"opens({path})", (), _render_opens),
            notified=world.shared_slot("lockd notified", (), _render_names),
            expirable=world.shared_slot("courtesy client", "courtesy"),
            verdicts=world.shared_slot("posix deadlock verdicts", None, _render_verdict),
            queued=world.shared_slot(f"dlm requests queued({path})", frozenset(), _render_names),
            ofd_held=world.shared_slot(f"OFD locks granted({path})", (), _render_ofd),
            timed_out=world.shared_slot(f"unanswered leases({path})", (), _render_names),
            threads=world.thread_names,
        )
    ctx: FileLockContext = parts[path]
    return ctx


def byte_range(given: tuple[int, int]) -> None:
    """Refuse a range that is not ``(first byte, last byte)`` with
    ``0 <= first <= last`` (fcntl(2) takes no other once l_len is
    applied)."""
    if (
        not isinstance(given, tuple)
        or len(given) != 2
        or not all(isinstance(end, int) for end in given)
        or not 0 <= given[0] <= given[1]
    ):
        raise ModelError(f"byte range {given!r}: give (first, last) with 0 <= first <= last")


def uses(op: Op, feature: str) -> None:
    """Note that a thread of the scenario uses ``feature`` of the file's
    locks (``lock``: a POSIX lock or a flock; ``lease``, ``delegation``,
    ``ofd``, ``setlkw``): the world part
    ``filelock:FEATURE``, which the properties checking it need."""
    op.world.parts.setdefault(f"filelock:{feature}", True)


def lock_contexts(world: World) -> list[FileLockContext]:
    """The lock contexts the threads made, one per file, in the order made."""
    return list(world.parts.get("filelock", {}).values())


# --- rendering -------------------------------------------------------------------------------


def _render_posix(locks: tuple[Posix, ...] | None) -> str:
    return ", ".join(f"{o}:{s}-{e} {t}" for o, s, e, t in locks or ()) or "none"


def _render_pairs(pairs: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{a} {b}" for a, b in pairs) or "none"


def _render_leases(leases: tuple[tuple[str, str, str, bool], ...]) -> str:
    shown = [
        f"{f} {t}{f' ({p} pending)' if p else ''}{'' if g else ' (not granted yet)'}"
        for f, t, p, g in leases
    ]
    return ", ".join(shown) or "none"


def _render_blocked(waiters: tuple[Waiter, ...] | None) -> str:
    shown = [
        f"{k} {o}:{s}-{e} {t} of {path} waits for {b}" for k, o, s, e, t, b, path in waiters or ()
    ]
    return ", ".join(shown) or "none"


def _render_opens(opens: tuple[tuple[str, str, bool], ...]) -> str:
    shown = [f"{f} {m}{' past break_lease' if p else ''}" for f, m, p in opens]
    return ", ".join(shown) or "none"


def _render_names(names: tuple[str, ...] | frozenset[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _render_ofd(held: tuple[tuple[str, int, int], ...]) -> str:
    return ", ".join(f"{f} {a}-{b}" for f, a, b in held) or "none"


AGREED = "agreed"


def _render_verdict(verdict: str | None) -> str:
    return verdict or "none yet"


def wrong_edeadlk(state: State, ctx: FileLockContext) -> str | None:
    """The -EDEADLK decision that disagreed with the waits-for graph, if
    any (``edeadlk-exact``)."""
    verdict = state[ctx.verdicts]
    return None if verdict in (None, AGREED) else str(verdict)


# --- conditions ------------------------------------------------------------------------------


def register_is(slot: int, text: str, test: Callable[[Any], bool]) -> Expr:
    """A condition on a register of the thread."""
    return Expr(text, lambda _world: lambda state: test(state[slot]), local=True)


def shared_is(slot: int, text: str, test: Callable[[Any], bool]) -> Expr:
    """A condition on a slot every thread may change."""
    return Expr(text, lambda _world: lambda state: test(state[slot]), reads=frozenset({slot}))


def _ctx_touches(
    *read: str, written: tuple[str, ...] = ()
) -> Callable[..., tuple[list[int], list[int]]]:
    """A ``touches`` declaration of an effect whose first argument is the
    lock context: it reads the slots of the context fields ``read`` and
    writes those of the fields ``written``."""

    def declared(
        _world: World, ctx: FileLockContext, *_args: object
    ) -> tuple[list[int], list[int]]:
        return [getattr(ctx, name) for name in read], [getattr(ctx, name) for name in written]

    return declared


def _holders(
    ctx: FileLockContext, owners: Callable[[State], Iterable[str]]
) -> Callable[[State], tuple[int, ...]]:
    """The threads that could end a wait for the locks of ``owners``."""

    def holders(state: State) -> tuple[int, ...]:
        names = [
            name
            for owner in owners(state)
            for name in ctx.sharers.get(owner, [ctx.agents.get(owner, owner)])
        ]
        return tuple(sorted({ctx.threads.index(n) for n in names if n in ctx.threads}))

    return holders


# --- POSIX locks -----------------------------------------------------------------------------


def overlap(a: Posix, b: Posix) -> bool:
    """``locks_overlap()``."""
    return a[2] >= b[1] and b[2] >= a[1]


def posix_conflict(request: Posix, held: Posix) -> bool:
    """``posix_locks_conflict()``: another owner, overlapping, a write."""
    if request[0] == held[0] or not overlap(request, held):
        return False
    return WRITE in (request[3], held[3])


def _first_conflict(scratch: Scratch, ctx: FileLockContext, request: Posix) -> Posix | None:
    return next((fl for fl in scratch[ctx.posix] if posix_conflict(request, fl)), None)


def _hashed(blocked: tuple[Waiter, ...], ctx: FileLockContext) -> list[Waiter]:
    """The blocked POSIX requests in ``blocked_hash``: ``__locks_insert_block()``
    hashes a waiter only when its blocker ``IS_POSIX(blocker) &&
    !IS_OFDLCK(blocker)``."""
    return [w for w in blocked if w[0] == "posix" and w[5] not in ctx.ofd_owners]


def _waits_for_cycle(hashed: list[Waiter], caller: str, blocker: str) -> bool:
    """Whether ``caller`` waiting for ``blocker`` closes a cycle of the
    waits-for graph of the POSIX owners: each blocked request waits for
    the owner of the lock it is queued behind (``fl_blocker``, the first
    conflicting lock ``posix_lock_inode()`` met), as the kernel's graph
    has it.  The graph holds the requests in ``blocked_hash`` only: a
    wait behind an OFD lock is outside the deadlock detection fcntl(2)
    promises.  A request that conflicts with a second owner too waits for
    that one only once its blocker's lock is gone and it retries: a cycle
    through the second owner is found then (-EDEADLK on the retry), not
    when the request first sleeps."""
    edges: dict[str, set[str]] = {}
    for _kind, owner, _start, _end, _kind_of, queued_behind, _path in hashed:
        edges.setdefault(owner, set()).add(queued_behind)
    seen, todo = set(), [blocker]
    while todo:
        owner = todo.pop()
        if owner == caller:
            return True
        if owner not in seen:
            seen.add(owner)
            todo.extend(edges.get(owner, ()))
    return False


def _posix_locks_deadlock(
    scratch: Scratch, ctx: FileLockContext, request: Posix, conflict: Posix, check: str
) -> bool:
    """``posix_locks_deadlock(request, fl)`` under blocked_lock_lock:
    follow ``what_owner_is_waiting_for()`` from the blocker's owner; also
    records that a decision was checked, or one that disagrees with the
    waits-for graph (``ctx.verdicts``).  ``check``
    is ``kernel``, ``skip`` (no check) or ``any-waiter`` (-EDEADLK when
    the blocker's owner waits at all)."""
    hashed = _hashed(scratch[ctx.blocked], ctx)
    deadlock = False
    if check == "any-waiter":
        deadlock = any(w[1] == conflict[0] for w in hashed)
    elif check == "kernel":
        owner, iterations = conflict[0], 0
        while True:
            waiting = next((w for w in hashed if w[1] == owner), None)
            if waiting is None:
                break
            if iterations > MAX_DEADLK_ITERATIONS:  # if (i++ > MAX_DEADLK_ITERATIONS) return 0
                break
            iterations += 1
            owner = waiting[5]
            if owner == request[0]:
                deadlock = True
                break
    cycle = _waits_for_cycle(hashed, request[0], conflict[0])
    if scratch[ctx.verdicts] is None:
        scratch[ctx.verdicts] = AGREED
    if deadlock and not cycle:
        scratch[ctx.verdicts] = (
            f"{request[0]} got -EDEADLK waiting for {conflict[0]}, which closes no cycle"
        )
    elif cycle and not deadlock:
        scratch[ctx.verdicts] = (
            f"{request[0]} sleeps waiting for {conflict[0]}, which closes a cycle: -EDEADLK was due"
        )
    return deadlock


@touches(_ctx_touches("blocked", written=("blocked",)))
def _insert_block(
    scratch: Scratch, ctx: FileLockContext, kind: str, request: Posix, blocker: str
) -> None:
    waiter: Waiter = (kind, request[0], request[1], request[2], request[3], blocker, ctx.path)
    scratch[ctx.blocked] = tuple(sorted({*scratch[ctx.blocked], waiter}))


def _is_blocked(ctx: FileLockContext, kind: str, owner: str) -> Callable[[State], bool]:
    return lambda state: any(w[0] == kind and w[1] == owner for w in state[ctx.blocked])


def _blockers(ctx: FileLockContext, kind: str, owner: str) -> Callable[[State], list[str]]:
    return lambda state: [w[5] for w in state[ctx.blocked] if w[0] == kind and w[1] == owner]


def _posix_blockers(ctx: FileLockContext, request: Posix) -> Callable[[State], list[str]]:
    """The owners ``request`` waits for that still hold a lock it conflicts
    with: one whose lock is gone without waking it leaves a lost wake-up."""

    def blockers(state: State) -> list[str]:
        held = state[ctx.posix]
        return [
            owner
            for owner in _blockers(ctx, "posix", request[0])(state)
            if any(fl[0] == owner and posix_conflict(request, fl) for fl in held)
        ]

    return blockers


def _copy_lock(_scratch: Scratch, _request: Posix) -> int:
    return 0


def _insert_copy(op: Op, ctx: FileLockContext, request: Posix) -> None:
    """Under flc_lock: ``locks_copy_lock()`` (``->fl_copy_lock``) of the
    granted request, inserted into the file's POSIX list.  A lockd
    request's lock manager (``nlmsvc_lock_operations``) has
    ``->lm_get_owner``, which ``locks_copy_conflock()`` calls first, with
    flc_lock held (a step without a method call: the document has no row
    for it)."""
    uses(op, "lock")
    if request[0] in ctx.lockd:
        op.effect(
            "locks_copy_conflock(new, fl): fl->fl_lmops->lm_get_owner(fl->c.flc_owner) "
            "/* nlmsvc_get_owner(): a reference to the lockowner */",
            _owner_reference,
        )
    op.call(
        "file_lock_operations.fl_copy_lock",
        _copy_lock,
        request,
        label="locks_copy_lock(new_fl, request): fl->fl_ops->fl_copy_lock(new, fl)",
        roles={"flctx": ctx},
        sleeps=False,
    )
    op.effect("locks_insert_lock_ctx(new_fl, &fl->fl_list)", _insert_posix, ctx, request)


def _owner_reference(_scratch: Scratch) -> None:
    """``->lm_get_owner``/``->lm_put_owner``: a reference to the lock
    owner, which the models do not count."""


def _insert_posix(scratch: Scratch, ctx: FileLockContext, request: Posix) -> None:
    scratch[ctx.posix] = tuple(sorted({*scratch[ctx.posix], request}))


def posix_lock_attempt(
    op: Op, ctx: FileLockContext, request: Posix, lockd: bool, ofd: bool = False
) -> None:
    """One ``posix_lock_inode(inode, request, NULL)`` of an F_SETLKW
    request: under flc_lock the first conflicting lock; an nfsd courtesy
    lock is expired (->lm_lock_expirable, flc_lock dropped,
    ->lm_expire_lock, retry); else under blocked_lock_lock
    ``posix_locks_deadlock()`` and -EDEADLK, or the request is blocked
    (FILE_LOCK_DEFERRED) and ``posix_lock_inode_wait()`` sleeps until
    ``__locks_wake_up_blocks()`` unblocks it, and retries.  ``lockd``:
    lockd does not sleep; it waits for ->lm_notify to wake it and retries
    (``nlmsvc_retry_blocked()``).  No conflict: ``locks_copy_lock()``
    (->fl_copy_lock) and the lock is inserted."""
    flc, blocked_lock_lock = ctx.flc_lock, ctx.blocked_lock_lock
    uses(op, "setlkw")
    if ofd:
        uses(op, "ofd")
        ctx.ofd_owners.add(request[0])
        ctx.agents[request[0]] = op.thread.name
    op.label("retry")
    op.lock(flc, EXCL, "spin_lock(&ctx->flc_lock)")
    slot = op.register("fl", lambda v: "none" if v is None else _render_posix((v,)))
    op.compute(
        "fl",
        "list_for_each_entry(fl, &ctx->flc_posix, fl_list) if (posix_locks_conflict(request, fl))",
        _first_conflict,
        ctx,
        request,
        render=lambda v: "none" if v is None else _render_posix((v,)),
    )
    conflict = slot_value(slot, "fl", local=True)
    with op.when(register_is(slot, "fl", lambda v: v is not None), "if (conflicting fl)"):
        with op.when(
            register_is(slot, "fl->fl_lmops", lambda v: v[0] == COURTESY_CLIENT),
            "if (fl->fl_lmops && fl->fl_lmops->lm_lock_expirable)",
        ):
            op.call(
                "lock_manager_operations.lm_lock_expirable",
                _lock_expirable,
                ctx,
                label="(*fl->fl_lmops->lm_lock_expirable)(fl) /* nfsd4_lm_lock_expirable() */",
                roles={"flctx": ctx},
                sleeps=False,
            )
            with op.when(
                register_is(op.thread.ret, "expirable", lambda v: v == 1),
                "if ((*fl->fl_lmops->lm_lock_expirable)(fl))",
            ):
                under_lock = op.variant(EXPIRE_UNDER_FLC_LOCK)
                if not under_lock:
                    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
                op.enter(
                    "lock_manager_operations.lm_expire_lock",
                    label="(*func)() /* nfsd4_lm_expire_lock(): flush_workqueue(laundry_wq) */",
                    roles={"flctx": ctx},
                )
                op.wait_until(
                    shared_is(ctx.expirable, "laundromat done", lambda v: v == "expired"),
                    "flush_workqueue(laundry_wq)",
                    "the laundromat",
                    holders=_holders(ctx, lambda _s: [COURTESY_CLIENT]),
                )
                if under_lock:
                    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
                op.goto("retry")
        checked_first = op.variant(DEADLOCK_CHECK_BEFORE_BLOCKED_LOCK)
        if not checked_first:
            op.lock(blocked_lock_lock, EXCL, "spin_lock(&blocked_lock_lock)")
        skip = op.variant(SKIP_DEADLOCK_CHECK)
        check = (
            "skip" if skip or ofd else "any-waiter" if op.variant(DEADLOCK_ANY_WAITER) else "kernel"
        )
        dead = op.register("deadlock", yes_no)
        deadlock_label = (
            "/* no posix_locks_deadlock() */"
            if skip
            else "posix_locks_deadlock(request, fl): if (caller->flc_flags & FL_OFDLCK) "
            "return false"
            if ofd
            else "posix_locks_deadlock(request, fl)"
        )
        op.compute(
            "deadlock",
            deadlock_label,
            _posix_locks_deadlock,
            ctx,
            request,
            conflict,
            check,
            render=yes_no,
        )
        if checked_first:
            op.lock(blocked_lock_lock, EXCL, "spin_lock(&blocked_lock_lock)")
        no_deadlock = register_is(dead, "!deadlock", lambda v: not v)
        blocks = (
            "if (!deadlock) /* always: nothing looked for one */"
            if skip
            else "if (likely(!posix_locks_deadlock(request, fl)))"
        )
        with op.when(no_deadlock, blocks):
            op.effect(
                "__locks_insert_block(fl, request, posix_locks_conflict)",
                _insert_blocked_posix,
                ctx,
                request,
                conflict,
            )
        op.unlock(blocked_lock_lock, "spin_unlock(&blocked_lock_lock)")
        op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
        op.fail_if(
            register_is(dead, "deadlock", bool),
            E.EDEADLK,
            "out",
            "if (error == -EDEADLK) return error",
        )
        if lockd:
            op.wait_until(
                shared_is(ctx.notified, "notified", lambda v: request[0] in v),
                "nlmsvc_lock(): return nlm_lck_blocked; svc_recv() until nlmsvc_notify_blocked()",
                f"a POSIX lock on {ctx.path} {request[1]}-{request[2]}",
                holders=_holders(ctx, _posix_blockers(ctx, request)),
                woken_by_holders=True,
            )
            op.effect(
                "nlmsvc_retry_blocked(): nlmsvc_grant_blocked(block)", _unnotify, ctx, request
            )
        else:
            op.wait_until(
                Expr(
                    "list_empty(&fl->fl_blocked_member)",
                    lambda _w: lambda state: not _is_blocked(ctx, "posix", request[0])(state),
                ),
                "wait_event_interruptible(fl->fl_wait, list_empty(&fl->fl_blocked_member))",
                f"a POSIX lock on {ctx.path} {request[1]}-{request[2]}",
                holders=_holders(ctx, _posix_blockers(ctx, request)),
                woken_by_holders=True,
            )
        op.goto("retry")
    _insert_copy(op, ctx, request)
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
    op.label("out")


def _insert_blocked_posix(
    scratch: Scratch, ctx: FileLockContext, request: Posix, conflict: Posix
) -> None:
    _insert_block(scratch, ctx, "posix", request, conflict[0])


def _unnotify(scratch: Scratch, ctx: FileLockContext, request: Posix) -> None:
    scratch[ctx.notified] = tuple(n for n in scratch[ctx.notified] if n != request[0])


def _lock_expirable(scratch: Scratch, ctx: FileLockContext) -> int:
    """nfsd4_lm_lock_expirable(): ``if (try_to_expire_client(clp)) {
    mod_delayed_work(laundry_wq, &nn->laundromat_work, 0); return true; }``."""
    if scratch[ctx.expirable] == "courtesy":
        scratch[ctx.expirable] = "expirable"
    return 1 if scratch[ctx.expirable] != "active" else 0


def _remove_posix(scratch: Scratch, ctx: FileLockContext, owner: str) -> tuple[Posix, ...]:
    mine = tuple(fl for fl in scratch[ctx.posix] if fl[0] == owner)
    scratch[ctx.posix] = tuple(fl for fl in scratch[ctx.posix] if fl[0] != owner)
    return mine


def _woken(kind: str, owner: str) -> Callable[[Scratch, FileLockContext], tuple[Waiter, ...]]:
    def woken(scratch: Scratch, ctx: FileLockContext) -> tuple[Waiter, ...]:
        return tuple(
            w for w in scratch[ctx.blocked] if w[0] == kind and w[5] == owner and w[6] == ctx.path
        )

    return woken


def _wake(scratch: Scratch, ctx: FileLockContext, waiters: tuple[Waiter, ...]) -> None:
    scratch[ctx.blocked] = tuple(w for w in scratch[ctx.blocked] if w not in waiters)


def _notify(scratch: Scratch, ctx: FileLockContext, waiters: tuple[Waiter, ...]) -> int:
    """nlmsvc_notify_blocked(): the block goes to the head of the retry
    list and lockd is woken (svc_wake_up())."""
    lockd = {w[1] for w in waiters if w[1] in ctx.lockd}
    scratch[ctx.notified] = tuple(sorted({*scratch[ctx.notified], *lockd}))
    return 0


def wake_up_blocks(op: Op, ctx: FileLockContext, kind: str, owner: str) -> None:
    """``locks_wake_up_blocks(fl)`` for the locks of ``owner`` being
    removed, with flc_lock held: if requests wait for them, under
    blocked_lock_lock ``__locks_wake_up_blocks()``: each waiter is taken
    off the lists, then ->lm_notify if its lock manager has one (lockd),
    else ``wake_up(&waiter->fl_wait)``."""
    woken = op.register(f"woken-{kind}", _render_blocked)
    op.compute(
        f"woken-{kind}",
        "waiters = fl->fl_blocked_requests",
        _woken(kind, owner),
        ctx,
        render=_render_blocked,
    )
    with op.when(
        register_is(woken, "waiters", bool), "if (!list_empty(&blocker->fl_blocked_requests))"
    ):
        woken_expr = Expr("waiters", lambda _w: lambda state: state[woken], local=True)
        op.lock(ctx.blocked_lock_lock, EXCL, "spin_lock(&blocked_lock_lock)")
        op.effect("__locks_delete_block(waiter); wake_up(&waiter->fl_wait)", _wake, ctx, woken_expr)
        if kind == "posix":
            with op.when(
                register_is(woken, "waiter->fl_lmops", lambda v: any(w[1] in ctx.lockd for w in v)),
                "if (waiter->fl_lmops && waiter->fl_lmops->lm_notify)",
            ):
                op.call(
                    "lock_manager_operations.lm_notify",
                    _notify,
                    ctx,
                    woken_expr,
                    label="waiter->fl_lmops->lm_notify(waiter) /* nlmsvc_notify_blocked() */",
                    roles={"flctx": ctx},
                    sleeps=False,
                )
        op.unlock(ctx.blocked_lock_lock, "spin_unlock(&blocked_lock_lock)")


def _release_private(_scratch: Scratch, _freed: Any) -> int:
    return 0


def posix_unlock(op: Op, ctx: FileLockContext, owner: str) -> None:
    """F_UNLCK over the whole file (``locks_remove_posix()`` at close):
    under flc_lock the owner's locks are deleted (``locks_delete_lock_ctx()``
    wakes their waiters); after flc_lock is dropped ``locks_dispose_list()``
    frees them: ``locks_release_private()`` calls ->fl_release_private."""
    flc = ctx.flc_lock
    op.lock(flc, EXCL, "spin_lock(&ctx->flc_lock)")
    freed = op.register("freed", _render_posix)
    op.compute(
        "freed",
        "list_for_each_entry_safe(fl, tmp, &ctx->flc_posix, fl_list) "
        "locks_delete_lock_ctx(fl, &dispose)",
        _remove_posix,
        ctx,
        owner,
        render=_render_posix,
    )
    wake_up_blocks(op, ctx, "posix", owner)
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
    with op.when(register_is(freed, "dispose", bool), "if (!list_empty(dispose))"):
        op.call(
            "file_lock_operations.fl_release_private",
            _release_private,
            Expr("dispose", lambda _w: lambda state: state[freed], local=True),
            label="locks_dispose_list(&dispose): locks_release_private(fl): "
            "fl->fl_ops->fl_release_private(fl)",
            roles={"flctx": ctx},
            sleeps=False,
        )
        if owner in ctx.lockd:
            op.effect(
                "locks_release_private(fl): fl->fl_lmops->lm_put_owner(flc->flc_owner) "
                "/* nlmsvc_put_owner(): refcount_dec_and_lock(&lockowner->count, "
                "&host->h_lock) */",
                _owner_reference,
            )


POSIX_CITES = (
    locks_cite("posix_lock_inode", FILELOCK_VERSION),
    locks_cite("posix_lock_inode_wait", FILELOCK_VERSION),
    locks_cite("posix_locks_deadlock", FILELOCK_VERSION),
    locks_cite("__locks_insert_block", FILELOCK_VERSION),
    locks_cite("__locks_wake_up_blocks", FILELOCK_VERSION),
    locks_cite("locks_copy_lock", FILELOCK_VERSION),
    locks_cite("locks_release_private", FILELOCK_VERSION),
    CLOSE_CITE,
)


LOCAL, CLUSTER = "locally (fs/locks.c)", "through the cluster's lock manager (->lock)"
POSIX_PATHS = "posix lock paths"
"""The world part naming, by file, the threads that lock it ``LOCAL`` or
``CLUSTER``."""


def _register_thread(
    op: Op, ctx: FileLockContext, *, lockd: bool = False, posix: str | None = None
) -> None:
    """Note the thread in ``ctx``: a lockd thread, and how it takes POSIX
    locks.  A file whose filesystem has ``->lock`` (``lockd_deferred``,
    ``plock_callback``: DLM's ``dlm_posix_lock()``) sends every fcntl lock
    of it through the cluster, so the models' local ``posix_lock_inode()``
    path (``lock_range`` and the others) never runs on it: a scenario
    mixing the two on one file is refused."""
    if lockd:
        ctx.lockd.add(op.thread.name)
    if posix is None:
        return
    paths = op.world.parts.setdefault(POSIX_PATHS, {}).setdefault(ctx.path, {})
    paths.setdefault(posix, op.thread.name)
    if len(paths) > 1:
        local, cluster = paths[LOCAL], paths[CLUSTER]
        raise ModelError(
            f"{local} locks {ctx.path} {LOCAL} and {cluster} {CLUSTER}: on a filesystem with "
            "->lock every fcntl lock goes through the cluster, so a scenario locks a file one "
            "way"
        )


@operation(
    models="fcntl(F_SETLKW), or F_OFD_SETLKW, of two byte ranges one after the other, then "
    "close(2) (fs/locks.c)",
    describe=lambda path, first, second, ofd=False: (
        f"{'F_OFD_SETLKW' if ofd else 'F_SETLKW'} {path} {first} then {second}, close"
    ),
    cites=POSIX_CITES,
)
def lock_two_ranges(
    op: Op, path: str, first: tuple[int, int], second: tuple[int, int], ofd: bool = False
) -> None:
    """A process write-locks ``first`` then ``second`` (F_SETLKW each,
    ``posix_lock_inode_wait()``), then closes the file, which releases
    its locks; on -EDEADLK it closes at once.  ``ofd``: the thread's own
    open file owns the locks (F_OFD_SETLKW, as :func:`ofd_lock_range`),
    so no -EDEADLK is decided for its requests."""
    byte_range(first)
    byte_range(second)
    regular_file(op.world, path, "a write lock", WRITE_LOCK_OF_DIRECTORY)
    ctx = context(op.world, path)
    _register_thread(op, ctx, posix=LOCAL)
    owner = f"{op.thread.name}:fd" if ofd else op.thread.name
    op.run(posix_lock_attempt, ctx, (owner, first[0], first[1], WRITE), False, ofd)
    op.goto_if(register_is(op.thread.ret, "error", lambda v: v is not None and v < 0), "close")
    op.run(posix_lock_attempt, ctx, (owner, second[0], second[1], WRITE), False, ofd)
    op.label("close")
    op.run(posix_unlock, ctx, owner)


@operation(
    models="fcntl(F_SETLKW) of one byte range of a file, then of another file, then close(2) "
    "of both (fs/locks.c)",
    describe=lambda path, other, first: f"F_SETLKW {path} {first} then {other} {first}, close",
    cites=POSIX_CITES,
)
def lock_two_files(op: Op, path: str, other: str, first: tuple[int, int]) -> None:
    """A process write-locks ``first`` of ``path``, then the same range of
    ``other`` (F_SETLKW each), then closes both files, each close releasing
    the process's locks on its file; on -EDEADLK it closes at once.  The
    two files' requests meet only under blocked_lock_lock, which
    ``posix_locks_deadlock()``'s walk of ``blocked_hash`` and the request's
    insertion there share: the flc_lock of one file does not order them."""
    byte_range(first)
    contexts = []
    for each in (path, other):
        regular_file(op.world, each, "a write lock", WRITE_LOCK_OF_DIRECTORY)
        contexts.append(context(op.world, each))
        _register_thread(op, contexts[-1], posix=LOCAL)
    owner = op.thread.name
    op.run(posix_lock_attempt, contexts[0], (owner, first[0], first[1], WRITE), False)
    op.goto_if(register_is(op.thread.ret, "error", lambda v: v is not None and v < 0), "close")
    op.run(posix_lock_attempt, contexts[1], (owner, first[0], first[1], WRITE), False)
    op.label("close")
    for ctx in contexts:
        op.run(posix_unlock, ctx, owner)


@operation(
    models="fcntl(F_SETLKW) of one byte range, then close(2) (fs/locks.c)",
    describe=lambda path, first: f"F_SETLKW {path} {first}, close",
    cites=POSIX_CITES,
)
def lock_range(op: Op, path: str, first: tuple[int, int]) -> None:
    """A process write-locks ``first`` (F_SETLKW), then closes the file."""
    byte_range(first)
    regular_file(op.world, path, "a write lock", WRITE_LOCK_OF_DIRECTORY)
    ctx = context(op.world, path)
    _register_thread(op, ctx, posix=LOCAL)
    owner = op.thread.name
    op.run(posix_lock_attempt, ctx, (owner, first[0], first[1], WRITE), False)
    op.run(posix_unlock, ctx, owner)


@operation(
    models="lockd serving a blocking NLM_LOCK: nlmsvc_lock() -> vfs_lock_file() with "
    "FL_SLEEP and lockd's lock manager, woken by ->lm_notify (fs/lockd/svclock.c)",
    describe=lambda path, first: f"lockd NLM_LOCK {path} {first}, NLM_UNLOCK",
    cites=(
        *POSIX_CITES,
        svclock_cite("nlmsvc_lock"),
        svclock_cite("nlmsvc_notify_blocked"),
    ),
)
def lockd_lock(op: Op, path: str, first: tuple[int, int]) -> None:
    """lockd locks ``first`` for a client: a conflict blocks the request
    without sleeping (NLM_LCK_BLOCKED); ->lm_notify wakes lockd, which
    retries; then the client unlocks."""
    ctx, owner = _lock_for_client(op, path, first)
    op.run(posix_unlock, ctx, owner)


def _lock_for_client(op: Op, path: str, first: tuple[int, int]) -> tuple[FileLockContext, str]:
    """A lock manager's (lockd's, nfsd's) write lock of ``first`` for a
    client, owned by the thread: a conflict blocks the request without
    sleeping until ->lm_notify; the file's lock context and the owner."""
    byte_range(first)
    regular_file(op.world, path, "a write lock", WRITE_LOCK_OF_DIRECTORY)
    ctx = context(op.world, path)
    _register_thread(op, ctx, lockd=True, posix=LOCAL)
    owner = op.thread.name
    op.run(posix_lock_attempt, ctx, (owner, first[0], first[1], WRITE), True)
    return ctx, owner


# --- courtesy locks (nfsd) -------------------------------------------------------------------


def _expire_client(scratch: Scratch, ctx: FileLockContext) -> None:
    scratch[ctx.expirable] = "expired"


@operation(
    models="nfsd's laundromat expiring a courtesy client marked EXPIRABLE: its locks "
    "released (fs/nfsd/nfs4state.c nfs4_laundromat(), 6.9; read in 6.17-rc3)",
    describe=lambda path: f"nfsd laundromat expiring the courtesy client of {path}",
    cites=(
        Cite("fs/nfsd/nfs4state.c", "nfs4_laundromat", DELEG_VERSION),
        locks_cite("locks_remove_posix", DELEG_VERSION),
    ),
)
def laundromat(op: Op, path: str) -> None:
    """The laundromat work, queued by ->lm_lock_expirable: it expires the
    courtesy client, whose POSIX locks are removed as at close (waking
    their waiters), then the work is done (``flush_workqueue()`` returns).

    Read in 6.17-rc3 (Kingxukai/linux 0291023e): ``nfs4_laundromat()``
    collects the EXPIRABLE clients under ``nn->client_lock``
    (``nfs4_get_client_reaplist()``, ``mark_client_expired_locked()``) and
    expires them with no lock held (``nfs4_process_client_reaplist()`` ->
    ``expire_client()``, which releases the client's lock stateids and so
    its POSIX locks).  Left out: ``client_lock`` (one client), the grace
    period, the copy, delegation-recall, close and blocked-lock lists the
    same pass reaps under ``s2s_cp_lock``, ``state_lock``,
    ``client_lock`` and ``blocked_locks_lock``."""
    op.holds_no_file()
    op.one_thread(
        "runs the laundromat for",
        "the courtesy client",
        "the model has one courtesy client, whose lock is on one file, which one laundromat "
        "expires (give the scenario one)",
    )
    ctx = context(op.world, path)
    _register_thread(op, ctx, posix=LOCAL)
    ctx.agents[COURTESY_CLIENT] = op.thread.name
    op.world.initial[ctx.posix] = tuple(
        sorted({*op.world.initial[ctx.posix], (COURTESY_CLIENT, 0, 9, WRITE)})
    )
    op.wait_until(
        shared_is(ctx.expirable, "client EXPIRABLE", lambda v: v == "expirable"),
        "laundromat_main(): mod_delayed_work() queued it",
        "a lock request to mark the client EXPIRABLE",
        unheld=lambda _world: (
            f"only a POSIX lock request over the courtesy client's bytes 0-9 of {path} marks it "
            f"EXPIRABLE, as lock_range({path!r}, (0, 9)) does, and no thread of the scenario is "
            "left to make one"
        ),
    )
    op.run(posix_unlock, ctx, COURTESY_CLIENT)
    op.effect("expire_client(clp); /* the work item returns */", _expire_client, ctx)


# --- nfsd's RELEASE_LOCKOWNER: fi_lock, then flc_lock -----------------------------------------


def _lockowner_holds(scratch: Scratch, ctx: FileLockContext, owner: str) -> bool:
    return any(fl[0] == owner for fl in scratch[ctx.posix])


def _render_status(status: bool | None) -> str:
    return "true" if status else "false"


def check_for_locks(op: Op, ctx: FileLockContext, owner: str) -> None:
    """``check_for_locks(fp, lowner)``, read in 6.17-rc3 (Kingxukai/linux
    0291023e), the same since edcf9725150e: ``spin_lock(&fp->fi_lock)``,
    ``find_any_file_locked(fp)`` (nfsd's open file, to reach the inode),
    the lockless ``list_empty_careful(&flctx->flc_posix)``; if the list is
    not empty, under ``flctx->flc_lock`` the walk of the POSIX locks for
    one whose owner is the lockowner (``status = true``); flc_lock, then
    fi_lock, dropped.  The answer goes to the register ``status``.  Left
    out: the ``WARN_ON_ONCE`` of a file nfsd holds no open of (the
    lockowner's file is open here)."""
    op.lock(
        ctx.fi_lock,
        EXCL,
        "check_for_locks(): spin_lock(&fp->fi_lock); nf = find_any_file_locked(fp)",
    )
    op.register("status", _render_status)
    with op.when(
        shared_is(ctx.posix, "!list_empty_careful(&flctx->flc_posix)", bool),
        "if (flctx && !list_empty_careful(&flctx->flc_posix))",
    ):
        op.lock(ctx.flc_lock, EXCL, "spin_lock(&flctx->flc_lock)")
        op.compute(
            "status",
            "for_each_file_lock(fl, &flctx->flc_posix) if (fl->c.flc_owner == "
            "(fl_owner_t)lowner) { status = true; break; }",
            _lockowner_holds,
            ctx,
            owner,
            render=_render_status,
        )
        op.unlock(ctx.flc_lock, "spin_unlock(&flctx->flc_lock)")
    op.unlock(ctx.fi_lock, "out: spin_unlock(&fp->fi_lock); return status")


@operation(
    models="an NFSv4 client's lockowner write-locks a range of the file (LOCK), the client "
    "sends RELEASE_LOCKOWNER for it, answered NFS4ERR_LOCKS_HELD after check_for_locks() "
    "took flc_lock inside fi_lock, then unlocks (LOCKU) (fs/nfsd/nfs4state.c, fs/locks.c)",
    describe=lambda path, first: f"nfsd LOCK {path} {first}, RELEASE_LOCKOWNER, LOCKU",
    cites=(
        *POSIX_CITES,
        Cite(
            "fs/nfsd/nfs4state.c",
            "nfsd4_lock",
            DELEG_VERSION,
            leaves_out=(
                "spin_lock(&fp->fi_lock)",
                "spin_unlock(&fp->fi_lock)",
                "spin_lock(&nn->blocked_locks_lock)",
                "spin_unlock(&nn->blocked_locks_lock)",
                "mutex_unlock(&open_stp->st_mutex)",
                "mutex_unlock(&lock_stp->st_mutex)",
                "spin_lock(&clp->cl_lock)",
                "spin_unlock(&clp->cl_lock)",
            ),
            because="fi_lock is held only around find_writeable_file_locked() before "
            "vfs_lock_file(), with no lock inside; blocked_locks_lock guards nfsd's list of "
            "blocked locks, st_mutex serialises one stateid's operations, and cl_lock (one "
            "client) its stateids",
        ),
        Cite(
            "fs/nfsd/nfs4state.c",
            "nfsd4_release_lockowner",
            DELEG_VERSION,
            leaves_out=(
                "spin_lock(&clp->cl_lock)",
                "spin_unlock(&clp->cl_lock)",
                "spin_lock(&nn->blocked_locks_lock)",
                "spin_unlock(&nn->blocked_locks_lock)",
            ),
            because="one client: cl_lock, held around the check_for_locks() of each of the "
            "lockowner's stateids, is taken outside fi_lock and by no other thread here; "
            "remove_blocked_locks() (blocked_locks_lock) runs only for a lockowner released",
        ),
        Cite("fs/nfsd/nfs4state.c", "check_for_locks", DELEG_VERSION),
        Cite(
            "fs/nfsd/nfs4state.c",
            "nfsd4_locku",
            DELEG_VERSION,
            leaves_out=("mutex_unlock(&stp->st_mutex)",),
            because="st_mutex serialises one stateid's operations, and one thread uses it",
        ),
    ),
)
def nfsd_release_lockowner(op: Op, path: str, first: tuple[int, int]) -> None:
    """An nfsd thread serving one NFSv4.0 client's lockowner, read in
    6.17-rc3 (Kingxukai/linux 0291023e): LOCK (``nfsd4_lock()`` ->
    ``vfs_lock_file(F_SETLK)`` with ``nfsd_posix_mng_ops``, which has
    ->lm_notify, ->lm_get_owner and ->lm_put_owner as lockd's lock manager
    has: the request is :func:`lockd_lock`'s, blocked without sleeping
    until ->lm_notify, the labels naming lockd's callbacks); then
    RELEASE_LOCKOWNER while the lock is held: ``nfsd4_release_lockowner()``
    calls :func:`check_for_locks`, which takes flc_lock inside fi_lock and
    finds the lock, so nfsd answers NFS4ERR_LOCKS_HELD; then LOCKU
    (``nfsd4_locku()``: ``vfs_lock_file()`` of F_UNLCK over the range, as
    :func:`posix_unlock`).  Left out: the release itself
    (``unhash_lockowner_locked()``, the stateids freed), which runs only
    when ``check_for_locks()`` answers false, never here, and takes no lock
    of the models; ``clp->cl_lock`` and the walk of the lockowner's
    stateids (one stateid, one file); the stateid and seqid checks,
    ``st_mutex``; the ``nfsd_file`` references (``find_any_file_locked()``,
    ``nfsd_file_put()``); ``blocked_locks_lock`` and CB_NOTIFY_LOCK."""
    ctx, owner = _lock_for_client(op, path, first)
    op.run(check_for_locks, ctx, owner)
    op.run(posix_unlock, ctx, owner)


# --- flock -----------------------------------------------------------------------------------


def _own_flock(scratch: Scratch, ctx: FileLockContext, file: str) -> str | None:
    pairs: tuple[tuple[str, str], ...] = scratch[ctx.flock]
    return next((t for f, t in pairs if f == file), None)


def _drop_flock(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    """``locks_delete_lock_ctx(fl)`` of the first lock of ``file`` the list
    walk finds (it ``break``s there)."""
    pairs: tuple[tuple[str, str], ...] = scratch[ctx.flock]
    first = next(at for at, (f, _t) in enumerate(pairs) if f == file)
    scratch[ctx.flock] = pairs[:first] + pairs[first + 1 :]


def _flock_conflict(scratch: Scratch, ctx: FileLockContext, file: str, kind: str) -> str | None:
    pairs: tuple[tuple[str, str], ...] = scratch[ctx.flock]
    for other, held in pairs:
        if other != file and EXCL_FLOCK in (held, kind):
            return other
    return None


def _insert_flock(
    scratch: Scratch, ctx: FileLockContext, file: str, kind: str, in_place: bool = False
) -> None:
    """``locks_insert_lock_ctx(new_fl, &ctx->flc_flock)``: the list gains the
    lock whatever else ``file`` holds (``flock_lock_inode()`` deleted the
    file's other lock first, under the same ``flc_lock``); ``in_place``,
    the file's lock becomes ``kind``."""
    kept = (p for p in scratch[ctx.flock] if not in_place or p[0] != file)
    scratch[ctx.flock] = tuple(sorted((*kept, (file, kind))))


def _block_flock(scratch: Scratch, ctx: FileLockContext, request: str, kind: str, on: str) -> None:
    _insert_block(scratch, ctx, "flock", (request, 0, 0, kind), on)


def flock_lock_inode_wait(op: Op, ctx: FileLockContext, file: str, kind: str) -> None:
    """``flock_lock_inode_wait()``: ``flock_lock_inode()`` under flc_lock:
    the file's own lock of the other type is deleted first (waking its
    waiters), a conflicting lock of another file blocks the request
    (``locks_insert_block()``) and the caller sleeps and retries; else the
    lock is inserted.  ``kind`` is LOCK_SH, LOCK_EX or F_UNLCK."""
    uses(op, "lock")
    flc = ctx.flc_lock
    request = file if file == op.thread.name else f"{file} ({op.thread.name})"
    op.label("retry")
    op.lock(flc, EXCL, "spin_lock(&ctx->flc_lock)")
    own = op.register("own", str)
    op.compute("own", "fl = the file's lock in ctx->flc_flock", _own_flock, ctx, file)
    op.goto_if(
        register_is(own, "fl->fl_type == request->fl_type", lambda v: v == kind),
        "out",
        "if (request->fl_type == fl->fl_type) goto out",
    )
    in_place = kind != UNLOCK and op.variant(FLOCK_UPGRADE_IN_PLACE)
    if not in_place:
        with op.when(register_is(own, "found", lambda v: v is not None), "if (found)"):
            op.effect("locks_delete_lock_ctx(fl, &dispose)", _drop_flock, ctx, file)
            wake_up_blocks(op, ctx, "flock", file)
            if kind != UNLOCK and op.variant(FLOCK_DROPS_FLC_LOCK):
                op.unlock(flc, "spin_unlock(&ctx->flc_lock); cond_resched()")
                op.lock(flc, EXCL, "spin_lock(&ctx->flc_lock)")
    if kind == UNLOCK:
        op.goto("out")
    else:
        other = op.register("conflict", str)
        op.compute(
            "conflict",
            "list_for_each_entry(fl, &ctx->flc_flock, fl_list) "
            "if (flock_locks_conflict(request, fl))",
            _flock_conflict,
            ctx,
            file,
            kind,
        )
        with op.when(register_is(other, "fl", lambda v: v is not None), "if (conflicting fl)"):
            op.lock(ctx.blocked_lock_lock, EXCL, "spin_lock(&blocked_lock_lock)")
            op.effect(
                "__locks_insert_block(fl, request, flock_locks_conflict)",
                _block_flock,
                ctx,
                request,
                kind,
                Expr("fl", lambda _w: lambda state: state[other], local=True),
            )
            op.unlock(ctx.blocked_lock_lock, "spin_unlock(&blocked_lock_lock)")
            op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
            op.wait_until(
                Expr(
                    "list_empty(&fl->fl_blocked_member)",
                    lambda _w: lambda state: not _is_blocked(ctx, "flock", request)(state),
                ),
                "wait_event_interruptible(fl->fl_wait, list_empty(&fl->fl_blocked_member))",
                "the flock of another file",
                holders=_holders(ctx, _blockers(ctx, "flock", request)),
            )
            op.goto("retry")
        op.effect(
            "locks_insert_lock_ctx(new_fl, &ctx->flc_flock)",
            _insert_flock,
            ctx,
            file,
            kind,
            in_place,
        )
    op.label("out")
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")


@operation(
    models="flock(LOCK_SH), flock(LOCK_EX) (an upgrade), flock(LOCK_UN) (fs/locks.c)",
    describe=lambda path, file="": (
        f"flock {path} LOCK_SH, LOCK_EX, LOCK_UN" + (f" ({file})" if file else "")
    ),
    cites=(
        locks_cite("flock_lock_inode", FILELOCK_VERSION),
        locks_cite("flock_lock_inode_wait", FILELOCK_VERSION),
        locks_cite("locks_wake_up_blocks", FILELOCK_VERSION),
    ),
)
def flock_upgrade(op: Op, path: str, file: str = "") -> None:
    """A process takes a shared flock on its open file, upgrades it to
    exclusive, then unlocks.  ``file`` names the open file (the struct
    file the lock belongs to): by default the thread's own; two threads
    given one name share it, as a parent and child after fork() do, and
    the last of them to return closes it (:func:`_close_flocked`)."""
    ctx = context(op.world, path)
    _register_thread(op, ctx)
    file = _open_file(op, ctx, file)
    op.run(flock_lock_inode_wait, ctx, file, SHARED_FLOCK)
    op.run(flock_lock_inode_wait, ctx, file, EXCL_FLOCK)
    op.run(flock_lock_inode_wait, ctx, file, UNLOCK)
    if file != op.thread.name:
        _close_flocked(op, ctx, file)


@operation(
    models="flock(fd, LOCK_SH or LOCK_EX), close(fd) (fs/locks.c, fs/file_table.c)",
    describe=lambda path, kind, file="": f"flock {path} {kind}" + (f" ({file})" if file else ""),
    cites=(
        locks_cite("flock_lock_inode", FILELOCK_VERSION),
        locks_cite("flock_lock_inode_wait", FILELOCK_VERSION),
        locks_cite("locks_remove_flock", FILELOCK_VERSION),
    ),
)
def flock_lock(op: Op, path: str, kind: str, file: str = "") -> None:
    """One flock(2) call, ``kind`` LOCK_SH or LOCK_EX, on the open file
    ``file`` (by default the thread's own, as :func:`flock_upgrade`): on a
    file another thread shares it converts that thread's lock, as the
    kernel keeps one flock per struct file.  The process holds the lock
    until it returns and closes the file (:func:`_close_flocked`)."""
    if kind not in (SHARED_FLOCK, EXCL_FLOCK):
        raise ModelError(f"flock_lock: kind {kind!r} is none of LOCK_SH, LOCK_EX")
    ctx = context(op.world, path)
    _register_thread(op, ctx)
    file = _open_file(op, ctx, file)
    op.run(flock_lock_inode_wait, ctx, file, kind)
    _close_flocked(op, ctx, file)


def _open_file(op: Op, ctx: FileLockContext, file: str) -> str:
    """The open file a flock of the thread belongs to: ``file``, or the
    thread's own.  A shared one counts a reference of each thread that
    names it (``f_count``) and lists them as its sharers, any of which may
    hold its lock (``FileLockContext.sharers``)."""
    if not file:
        return op.thread.name
    if not file.isprintable() or file.strip() != file:
        raise ModelError(
            f"open file {file!r}: name a shared open file with printable characters and no "
            "leading or trailing space"
        )
    if file in ctx.threads:
        raise ModelError(
            f"open file {file!r} is a thread's name, the name of that thread's own open file: "
            "name a shared one otherwise"
        )
    ctx.sharers.setdefault(file, []).append(op.thread.name)
    references = _file_references(op, file)
    op.world.initial[references] += 1
    return file


def _file_references(op: Op, file: str) -> int:
    return op.world.shared_slot(f"f_count({file})", 0)


def _put_file(scratch: Scratch, references: int) -> bool:
    scratch[references] -= 1
    return bool(scratch[references] == 0)


def _close_flocked(op: Op, ctx: FileLockContext, file: str) -> None:
    """close(2) as the thread returns: ``fput()``, and on the last
    reference ``__fput()`` -> ``locks_remove_flock()``, an F_UNLCK of the
    file's flock (``flock_lock_inode()``); the thread's own file has no
    other reference."""
    if file == op.thread.name:
        op.run(flock_lock_inode_wait, ctx, file, UNLOCK)
        return
    last = op.register("last", yes_no)
    op.compute(
        "last",
        "fput(file): if (atomic_long_dec_and_test(&file->f_count)) /* the last reference */",
        _put_file,
        _file_references(op, file),
        render=yes_no,
    )
    with op.when(
        register_is(last, "last", bool),
        "if (the last reference) __fput(file): locks_remove_flock(file)",
    ):
        op.run(flock_lock_inode_wait, ctx, file, UNLOCK)


# --- leases ----------------------------------------------------------------------------------


def _conflicting_open(
    scratch: Any, ctx: FileLockContext, file: str, kind: str, deleg: bool = False
) -> bool:
    """``check_conflicting_open()``: a read lease needs no writer; a write
    lease no open but the lease holder's own.  A delegation (FL_DELEG) is
    never refused here: ``if (flags & FL_DELEG) return 0`` ("We leave these
    checks to the caller", in the 90f7d7a0 and 6.17-rc3 trees read): nfsd
    checks the opens itself, ``nfsd4_check_conflicting_opens()`` in
    :func:`_hash_delegation`."""
    if deleg:
        return False
    others = [(f, m) for f, m, _past in scratch[ctx.opens] if f != file]
    if kind == READ:
        return any(m == "W" for _f, m in others)
    return bool(others)


def _other_lease(scratch: Any, ctx: FileLockContext, file: str, kind: str) -> bool:
    for other, _t, pending, _granted in scratch[ctx.leases]:
        if other == file:
            continue
        if kind == WRITE or pending == "unlock":
            return True
    return False


@touches(_ctx_touches("leases", written=("leases",)))
def _insert_lease(scratch: Scratch, ctx: FileLockContext, file: str, kind: str) -> None:
    scratch[ctx.leases] = tuple(sorted({*scratch[ctx.leases], (file, kind, "", False)}))


@touches(_ctx_touches("leases", written=("leases",)))
def _unlink_lease(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    scratch[ctx.leases] = tuple(le for le in scratch[ctx.leases] if le[0] != file)


@touches(_ctx_touches("leases", written=("leases",)))
def _grant_lease(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    scratch[ctx.leases] = tuple(
        (f, t, p, True) if f == file else (f, t, p, g) for f, t, p, g in scratch[ctx.leases]
    )


@touches(_ctx_touches("opens", written=("opens",)))
def _open_as(scratch: Scratch, ctx: FileLockContext, file: str, mode: str) -> None:
    scratch[ctx.opens] = tuple(sorted({*scratch[ctx.opens], (file, mode, False)}))


def _lease_setup(op: Op, ctx: FileLockContext, file: str) -> None:
    op.effect(
        "if (lease->fl_lmops->lm_setup) lease->fl_lmops->lm_setup(lease, priv) /* lease_setup() */",
        _grant_lease,
        ctx,
        file,
    )
    fasync_insert_entry(op, holder_file(op, ctx, file), "lease_setup()")


def generic_add_lease(
    op: Op, ctx: FileLockContext, file: str, kind: str, deleg: bool = False
) -> None:
    """``generic_add_lease()``, for an F_SETLEASE (``generic_setlease()``)
    and, with ``deleg``, for nfsd's delegation (FL_DELEG, through
    ``vfs_setlease()``/``kernel_setlease()``): a delegation first
    ``inode_trylock()``s the inode (-EAGAIN when it is held); under
    flc_lock ``check_conflicting_open()``, no other lease in the way, the
    lease inserted, ``smp_mb()`` and ``check_conflicting_open()`` again (an
    open may have raced past the lockless ``break_lease()`` check),
    ->lm_setup (``lease_setup()``: :func:`fasync_insert_entry` under
    ``filp->f_lock`` and ``fasync_lock``, then ``__f_setown()``, whose
    ``f_owner->lock`` is an rwlock_t, left out); -EAGAIN otherwise;
    flc_lock dropped, then a delegation's
    i_rwsem.  Both calls of ``check_conflicting_open()`` are made for a
    delegation too, and answer 0 (FL_DELEG: nfsd checks the opens after
    ``vfs_setlease()`` returns); nfsd's lease operations have no
    ->lm_setup.  Read in fs/locks.c of 5.15-5.17 (90f7d7a0) and of
    6.17-rc3 (Kingxukai/linux 0291023e), the same in both but for the
    ``struct file_lease`` split and ``file_f_owner_allocate()``.  Under
    flc_lock it first calls :func:`time_out_leases` (a lease whose break
    timed out goes before the conflicts are looked at).  Left out:
    ``my_fl`` (a holder changing its own lease: each thread takes one),
    ``leases_enable``, and ``file_rwsem``."""
    flc = ctx.flc_lock
    uses(op, "lease")
    skip = op.variant(LEASE_SKIPS_OPEN_CHECK)
    if deleg:
        inode = op.inode(ctx.path)
        op.trylock(inode.i_rwsem, "busy", "if (is_deleg && !inode_trylock(inode)) return -EAGAIN")
    op.lock(flc, EXCL, "spin_lock(&ctx->flc_lock)")
    _time_out_leases(op, ctx, "time_out_leases(inode, &dispose)")
    conflicting_open = Expr(
        "check_conflicting_open(filp, arg, lease->fl_flags)",
        lambda _w: lambda state: _conflicting_open(state, ctx, file, kind, deleg),
        reads=frozenset({ctx.opens}),
    )
    if not skip:
        op.fail_if(
            conflicting_open,
            E.EAGAIN,
            "out",
            "error = check_conflicting_open(filp, arg, lease->fl_flags); if (error) goto out",
        )
    op.fail_if(
        Expr(
            "another lease in the way",
            lambda _w: lambda state: _other_lease(state, ctx, file, kind),
            reads=frozenset({ctx.leases}),
        ),
        E.EAGAIN,
        "out",
        "list_for_each_entry(fl, &ctx->flc_lease, fl_list) if (arg == F_WRLCK || "
        "fl->fl_flags & FL_UNLOCK_PENDING) goto out",
    )
    op.effect("locks_insert_lock_ctx(lease, &ctx->flc_lease)", _insert_lease, ctx, file, kind)
    if not skip:
        with op.when(
            conflicting_open,
            "smp_mb(); error = check_conflicting_open(filp, arg, lease->fl_flags); if (error)",
        ):
            op.effect("locks_unlink_lock_ctx(lease)", _unlink_lease, ctx, file)
            op.fail(E.EAGAIN, "out", "goto out")
    setup_late = not deleg and op.variant(LM_SETUP_AFTER_UNLOCK)
    if not deleg and not setup_late:
        _lease_setup(op, ctx, file)
    op.label("out")
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
    if setup_late:
        op.goto_if(is_error(op.ret), "setup_done", "if (error) /* no lease to set up */")
        _lease_setup(op, ctx, file)
        op.label("setup_done")
    if deleg:
        op.unlock(inode.i_rwsem, "if (is_deleg) inode_unlock(inode)")
        op.goto("done")
        op.label("busy")
        op.fail(E.EAGAIN, "done", "return -EAGAIN")
        op.label("done")


def recalled_delegation(ctx: FileLockContext, leases: tuple[Any, ...]) -> str | None:
    """The file whose delegation of ``ctx``'s file a break is recalling
    (``nfsd_break_deleg_cb()`` marked it), if any."""
    return next((f for f, _t, pending, _g in leases if f in ctx.delegations and pending), None)


@touches(_ctx_touches("blocked", "leases", written=("blocked", "leases")))
def _lease_modify(scratch: Scratch, ctx: FileLockContext, file: str | None) -> tuple[Waiter, ...]:
    if file is None:
        file = recalled_delegation(ctx, scratch[ctx.leases])
        if file is None:
            return ()
    woken = _woken("lease", file)(scratch, ctx)
    _wake(scratch, ctx, woken)
    _unlink_lease(scratch, ctx, file)
    return woken


def generic_delete_lease(op: Op, ctx: FileLockContext, file: str | None) -> None:
    """``generic_delete_lease()`` (F_SETLEASE F_UNLCK): under flc_lock the
    file's lease is found and ->lm_change(victim, F_UNLCK) called:
    ``lease_modify()`` clears the pending break, wakes the openers blocked
    on it (``locks_wake_up_blocks()``, under blocked_lock_lock), drops the
    file's owner (``f_delown()``, under ``f_owner->lock``, an rwlock_t:
    left out), removes its fasync entry (``fasync_helper(0, ...)``:
    ``filp->f_lock``, then ``fasync_lock``, :func:`fasync_remove_entry`) and
    deletes it (the deletion is made with the wake-up, before the fasync
    removal: no other thread reads the lease list without flc_lock but
    ``break_lease()``'s ``list_empty_careful()``, and the removal changes
    nothing it reads).  nfsd's ->lm_change, ``nfsd_change_deleg_cb()``,
    calls ``lease_modify()`` for F_UNLCK too (fs/nfsd/nfs4state.c,
    6.17-rc3).  ``file`` None: the delegation a break is recalling,
    whichever it is then (nfsd's laundromat revoking it); its fasync
    removal is left out (the model knows the file only once it runs).
    ``time_out_leases()`` deletes its leases in one step
    (:func:`time_out_leases`) without the fasync removal, whose locks this
    function's path takes in the same order."""
    flc = ctx.flc_lock
    op.lock(flc, EXCL, "spin_lock(&ctx->flc_lock)")
    op.enter(
        "lock_manager_operations.lm_change",
        ctx,
        label="error = fl->fl_lmops->lm_change(victim, F_UNLCK, &dispose) /* lease_modify() */",
        roles={"flctx": ctx},
        sleeps=False,
    )
    op.lock(
        ctx.blocked_lock_lock,
        EXCL,
        "lease_modify(): locks_wake_up_blocks(fl): spin_lock(&blocked_lock_lock)",
    )
    op.effect(
        "__locks_wake_up_blocks(fl); locks_delete_lock_ctx(fl, dispose)", _lease_modify, ctx, file
    )
    op.unlock(ctx.blocked_lock_lock, "spin_unlock(&blocked_lock_lock)")
    if file is not None:
        holder = holder_file(op, ctx, file)
        fasync_remove_entry(op, holder, "lease_modify(): fasync_helper(0, filp, 0, &fl->fl_fasync)")
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")


def holder_file(op: Op, ctx: FileLockContext, file: str) -> Filp:
    """The ``struct file`` the thread ``file`` holds its lease or delegation
    of ``ctx``'s file through (``fl->c.flc_file``), named after the thread."""
    return files(op.world).filp(OpenFile(ctx.path, name=file))


def _writers(state: Any, ctx: FileLockContext, file: str) -> bool:
    return any(f != file and m == "W" for f, m, _p in state[ctx.opens])


@touches(_ctx_touches("leases", "opens", written=("leases",)))
def _hash_delegation(
    scratch: Scratch, ctx: FileLockContext, file: str, check_opens: bool = True
) -> bool:
    """``nfsd4_check_conflicting_opens()``, then under ``fp->fi_lock``: a
    writer, or a break that already met the delegation (``fi_had_conflict``,
    set by ``nfsd_break_deleg_cb()``), refuses it; else it is hashed and
    handed to the client.  True when refused.  Without ``check_opens``
    (``deleg-skips-conflicting-opens``) only ``fi_had_conflict`` refuses."""
    pending = any(f == file and p for f, _t, p, _g in scratch[ctx.leases])
    if (check_opens and _writers(scratch, ctx, file)) or pending:
        return True
    _grant_lease(scratch, ctx, file)
    return False


def nfsd_set_delegation(op: Op, ctx: FileLockContext, file: str) -> None:
    """``nfs4_set_delegation()`` of a read delegation, read in 6.17-rc3
    (Kingxukai/linux 0291023e): ``kernel_setlease()`` (``vfs_setlease()``
    before 6.10) with FL_DELEG runs :func:`generic_add_lease` (the F_SETLEASE
    body, with ``is_deleg``): the inode's i_rwsem by ``inode_trylock()``, and
    ``check_conflicting_open()`` before and after the insertion, which for
    FL_DELEG returns 0 and leaves the check to nfsd (so
    ``lease-skips-open-check`` drops those steps here too and changes no
    verdict); then ``nfsd4_check_conflicting_opens()``: a writer of the file
    other than nfsd's own opens, or a break that met the delegation
    meanwhile (``fp->fi_had_conflict``, set by ``nfsd_break_deleg_cb()``
    under flc_lock and read here with no lock), makes nfsd remove the
    delegation (F_UNLCK, ->lm_change) and not hand it out; else it is
    hashed under ``state_lock``, ``clp->cl_lock`` and ``fp->fi_lock``
    (``deleg-skips-conflicting-opens`` leaves the writers out of that
    check).  Left out: the
    early ``fi_had_conflict`` and ``nfs4_delegation_exists()`` checks and
    the ``fi_deleg_file`` set-up under ``state_lock`` and ``fi_lock``, the
    ``nfsd4_verify_deleg_dentry()`` lookup (an OPEN by name: the name must
    still lead to the file), the setuid check, and nfsd's own spinlocks
    (``state_lock``, ``cl_lock``, ``fi_lock``: one client, one file).  Trees
    after 6.17 (patches seen through find_string, not modelled) take the
    parent's i_rwsem shared around ``kernel_setlease()`` and
    ``nfsd4_vet_deleg_dentry()``, and count ``flc_deleg_blockers`` in
    ``check_conflicting_open()`` for FL_DELEG."""
    uses(op, "delegation")
    op.run(generic_add_lease, ctx, file, READ, True)
    op.goto_if(register_is(op.thread.ret, "error", lambda v: v is not None and v < 0), "done")
    refused = op.compute(
        "refused",
        "status = nfsd4_check_conflicting_opens(clp, fp); if (!status && "
        "!fp->fi_had_conflict) status = hash_delegation_locked(dp, fp) /* under state_lock, "
        "cl_lock, fi_lock: handed to the client */",
        _hash_delegation,
        ctx,
        file,
        not op.variant(DELEG_SKIPS_OPEN_CHECK),
        render=lambda v: "-EAGAIN" if v else "hashed",
    )
    with op.when(same(refused, const(True)), "if (status) goto out_unlock"):
        op.run(generic_delete_lease, ctx, file)
        op.fail(
            E.EAGAIN,
            "done",
            "out_unlock: kernel_setlease(fp->fi_deleg_file->nf_file, F_UNLCK, NULL, (void **)&dp)",
        )
    op.label("done")


@operation(
    models="fcntl(F_SETLEASE) on a file open for reading, later F_SETLEASE F_UNLCK (fs/locks.c)",
    describe=lambda path, kind: f"F_SETLEASE {kind} on {path}, later F_UNLCK",
    cites=(
        setlease_cite(FILELOCK_VERSION),
        locks_cite("check_conflicting_open", FILELOCK_VERSION),
        locks_cite("generic_delete_lease", FILELOCK_VERSION),
        locks_cite("lease_modify", FILELOCK_VERSION),
    ),
)
def take_lease(op: Op, path: str, kind: str) -> None:
    """A process holding ``path`` open for reading takes a lease of type
    ``kind``; if it got it, it gives it up later (as it would on SIGIO)."""
    if kind not in (READ, WRITE):
        raise ModelError(f"lease type {kind!r}: F_SETLEASE takes {READ!r} or {WRITE!r}")
    regular_file(op.world, path, "a lease", LEASE_OF_DIRECTORY)
    ctx = context(op.world, path)
    _register_thread(op, ctx)
    file = op.thread.name
    op.world.initial[ctx.opens] = tuple(sorted({*op.world.initial[ctx.opens], (file, "R", True)}))
    op.run(generic_add_lease, ctx, file, kind)
    op.goto_if(register_is(op.thread.ret, "error", lambda v: v is not None and v < 0), "done")
    op.run(generic_delete_lease, ctx, file)
    op.label("done")


@operation(
    models="nfsd handing out a read delegation of a file (OPEN), the client later returning "
    "it (DELEGRETURN) (fs/nfsd/nfs4state.c, fs/locks.c)",
    describe=lambda path: f"nfsd read delegation of {path}, DELEGRETURN",
    cites=(
        Cite("fs/nfsd/nfs4state.c", "nfs4_set_delegation", DELEG_VERSION),
        Cite("fs/nfsd/nfs4state.c", "nfsd4_check_conflicting_opens", DELEG_VERSION),
        locks_cite("generic_add_lease", DELEG_VERSION),
        locks_cite("generic_delete_lease", DELEG_VERSION),
    ),
)
def delegate(op: Op, path: str) -> None:
    """nfsd, holding the file open for reading for a client, hands out a
    read delegation; if it did, the client returns it later (as it would
    on a recall)."""
    regular_file(op.world, path, "a delegation", LEASE_OF_DIRECTORY)
    ctx = context(op.world, path)
    file = op.thread.name
    ctx.delegations.add(file)
    op.world.initial[ctx.opens] = tuple(sorted({*op.world.initial[ctx.opens], (file, "R", True)}))
    op.run(nfsd_set_delegation, ctx, file)
    op.goto_if(register_is(op.thread.ret, "error", lambda v: v is not None and v < 0), "done")
    op.run(generic_delete_lease, ctx, file)
    op.label("done")


def _conflicts(ctx: FileLockContext, file: str, write: bool, deleg: bool) -> Callable[..., bool]:
    """``leases_conflict()`` of a breaker (``file``, a writer or not) and a
    lease (holder, type): another holder's lease, a write lease for a
    reader; for an FL_DELEG breaker (``break_deleg()``) a delegation only
    ("if ((breaker->flc_flags & FL_DELEG) && (lease->flc_flags & FL_LEASE))
    return false")."""
    return lambda holder, kind: (
        holder != file and (write or kind == WRITE) and (not deleg or holder in ctx.delegations)
    )


def _any_conflict(
    state: State, ctx: FileLockContext, file: str, write: bool, deleg: bool = False
) -> bool:
    conflict = _conflicts(ctx, file, write, deleg)
    return any(conflict(f, t) for f, t, _p, _g in state[ctx.leases])


@touches(_ctx_touches("leases", written=("leases",)))
def _lm_break(scratch: Scratch, ctx: FileLockContext, file: str, write: bool) -> int:
    """lease_break_callback(): ``kill_fasync(&fl->fl_fasync, SIGIO,
    POLL_MSG); return false``, after ``__break_lease()`` marked the
    conflicting leases FL_UNLOCK_PENDING (or FL_DOWNGRADE_PENDING).  A
    conflicting lease ``->lm_setup`` has not yet given its fasync entry
    (``lease_setup()``, under the flc_lock that inserted it) gets no SIGIO:
    ``lease-break-signalled`` (a delegation has no ``->lm_setup``: nfsd
    learns of a break through its own ``->lm_break``)."""
    pending = "unlock" if write else "downgrade"
    conflict = _conflicts(ctx, file, write, False)
    unset = next(
        (
            f
            for f, t, _p, g in scratch[ctx.leases]
            if conflict(f, t) and not g and f not in ctx.delegations
        ),
        None,
    )
    if unset is not None:
        scratch.violate(
            LEASE_BREAK_SIGNALLED,
            f"{file}'s break reaches {unset}'s lease before ->lm_setup gave it its fasync "
            "entry: lease_break_callback()'s kill_fasync() signals nobody, so the holder never "
            "learns of the break and the breaker waits lease_break_time",
        )
        return 0
    scratch[ctx.leases] = tuple(
        (f, t, p or pending, g) if conflict(f, t) else (f, t, p, g)
        for f, t, p, g in scratch[ctx.leases]
    )
    return 0


@touches(_ctx_touches("leases", "blocked", written=("blocked",)))
def _block_on_lease(
    scratch: Scratch, ctx: FileLockContext, file: str, write: bool, deleg: bool
) -> None:
    conflict = _conflicts(ctx, file, write, deleg)
    holder = next((f for f, t, _p, _g in scratch[ctx.leases] if conflict(f, t)), None)
    if holder is None:
        scratch.violate(
            LOCK_PROTOCOL,
            f"{file}'s __break_lease() takes list_first_entry(&ctx->flc_lease) after the "
            "conflicting leases went away: the list changed since any_leases_conflict(), "
            "changed by a thread without flc_lock or with flc_lock not held across both",
        )
        return
    _insert_block(scratch, ctx, "lease", (file, 0, 0, WRITE if write else READ), holder)


@touches(_ctx_touches("blocked", written=("blocked",)))
def _unblock(scratch: Scratch, ctx: FileLockContext, kind: str, owner: str) -> None:
    scratch[ctx.blocked] = tuple(
        w for w in scratch[ctx.blocked] if not (w[0] == kind and w[1] == owner)
    )


@touches(lambda _world: ([], []))
def _breaker_owns_lease(_scratch: Scratch) -> int:
    """nfsd_breaker_owns_lease(): the breaker is no nfsd thread (``if
    (!i_am_nfsd()) return false``)."""
    return 0


TIMED_BREAK = (
    "the lease being broken (in the kernel lease_break_time, 45 s by default, times out a "
    "lease that is no delegation: for one, this is a stall of that long at each break, not a "
    "hang; the model counts that time only for a holder that never answers)"
)
"""What a breaker that is no FL_DELEG one waits for while ``break_time``
runs: a wait that ends with the holder alone is a stall in the kernel,
not a hang, for a plain lease (``__break_lease()`` sets ``fl_break_time``
from ``lease_break_time``; ``nfsd_break_deleg_cb()`` sets it to 0, and an
FL_DELEG breaker waits for delegations alone)."""


def break_lease(op: Op, ctx: FileLockContext, file: str, write: bool, deleg: bool = False) -> None:
    """``break_lease(inode, mode)``: the lockless ``list_empty_careful(&ctx->flc_lease)``
    check, then ``__break_lease()``: under flc_lock, for each conflicting
    lease ``leases_conflict()``, the break marked and ->lm_break called;
    while a conflicting lease remains the opener blocks on it
    (``locks_insert_block()``), drops flc_lock, sleeps until
    ``lease_modify()`` wakes it or the lease's break time passes
    (``wait_event_interruptible_timeout()``), and checks again.  Under
    flc_lock ``time_out_leases()`` first removes the leases whose break
    time has passed.  The whole of it follows 6.17-rc3 (Kingxukai/linux
    0291023e; the labels spell its ``struct file_lock_core`` fields); the break
    time is whether the scenario's holder let it pass
    (:func:`lease_never_answered`), not a count of jiffies.  ``deleg``:
    ``break_deleg()``'s FL_DELEG breaker (``break_deleg_wait()``), which
    conflicts with delegations only and breaks them with nfsd's ->lm_break.
    What it leaves out: the kernel blocks on the head of the lease list
    (``list_first_entry(&ctx->flc_lease)``), which need not conflict (a
    plain lease ahead of the delegation an FL_DELEG breaker waits for);
    with no break pending there, ``break_time`` is 0, made 1 jiffy, and the
    breaker polls: it wakes, takes flc_lock, finds the conflict and blocks
    again.  The model blocks on the first conflicting lease instead, and
    wakes when that lease goes or its break time passes: the poll takes
    the same locks in the same order, so no lock edge is missed, but the
    model never runs the breaker's empty rounds."""
    flc = ctx.flc_lock
    op.goto_if(
        shared_is(ctx.leases, "list_empty_careful(&ctx->flc_lease)", lambda v: not v),
        "done",
        "if (!ctx || list_empty_careful(&ctx->flc_lease)) return 0",
    )
    op.lock(flc, EXCL, "__break_lease(): spin_lock(&ctx->flc_lock)")
    timeouts = not op.variant(LEASE_BREAK_NO_TIMEOUT)
    if timeouts:
        _time_out_leases(op, ctx, "time_out_leases(inode, &dispose)")
    conflicting = Expr(
        "any_leases_conflict(inode, new_fl)",
        lambda _w: lambda state: _any_conflict(state, ctx, file, write, deleg),
        reads=frozenset({ctx.leases}),
    )
    with op.when(
        shared_is(
            ctx.leases,
            "lease->fl_lmops->lm_breaker_owns_lease",
            lambda v: any(le[0] in ctx.delegations for le in v),
        ),
        "if (lease->fl_lmops->lm_breaker_owns_lease)",
    ):
        op.call(
            "lock_manager_operations.lm_breaker_owns_lease",
            _breaker_owns_lease,
            label="leases_conflict(): lease->fl_lmops->lm_breaker_owns_lease(lease) "
            "/* nfsd_breaker_owns_lease() */",
            roles={"flctx": ctx},
            sleeps=False,
        )
    op.goto_if(not_(conflicting), "out", "if (!any_leases_conflict(inode, new_fl)) goto out")
    if deleg:
        nfsd_break_deleg_cb(op, ctx, file, sleeps=op.variant(LM_BREAK_SLEEPS))
    else:
        op.call(
            "lock_manager_operations.lm_break",
            _lm_break,
            ctx,
            file,
            write,
            label=f"{LM_BREAK_LABEL} /* lease_break_callback() */",
            roles={"flctx": ctx},
            sleeps=op.variant(LM_BREAK_SLEEPS),
        )
    op.label("restart")
    op.lock(
        ctx.blocked_lock_lock,
        EXCL,
        "locks_insert_block(&fl->c, &new_fl->c, leases_conflict): spin_lock(&blocked_lock_lock)",
    )
    op.effect(
        "__locks_insert_block(&fl->c, &new_fl->c, leases_conflict)",
        _block_on_lease,
        ctx,
        file,
        write,
        deleg,
    )
    op.unlock(ctx.blocked_lock_lock, "spin_unlock(&blocked_lock_lock)")
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
    if timeouts:
        op.wait_until(
            Expr(
                "list_empty(&new_fl->c.flc_blocked_member) || past_time(fl->fl_break_time)",
                lambda _w: lambda state: _woken_or_timed_out(state, ctx, file),
                reads=frozenset({ctx.blocked, ctx.timed_out}),
            ),
            "error = wait_event_interruptible_timeout(new_fl->c.flc_wait, "
            "list_empty(&new_fl->c.flc_blocked_member), break_time)",
            "the lease being broken" if deleg else TIMED_BREAK,
            holders=_holders(ctx, _blockers(ctx, "lease", file)),
        )
    else:
        op.wait_until(
            Expr(
                "list_empty(&new_fl->c.flc_blocked_member)",
                lambda _w: lambda state: not _is_blocked(ctx, "lease", file)(state),
                reads=frozenset({ctx.blocked}),
            ),
            "wait_event_interruptible(new_fl->c.flc_wait, "
            "list_empty(&new_fl->c.flc_blocked_member)) /* no break_time */",
            "the lease being broken",
            holders=_holders(ctx, _blockers(ctx, "lease", file)),
        )
    op.lock(flc, EXCL, "spin_lock(&ctx->flc_lock)")
    if timeouts:
        still_blocked = Expr(
            "new_fl->c.flc_blocker",
            lambda _w: _is_blocked(ctx, "lease", file),
            reads=frozenset({ctx.blocked}),
        )
        with op.when(
            still_blocked,
            "__locks_delete_block(&new_fl->c): if (smp_load_acquire(&waiter->flc_blocker) || "
            "!list_empty(&waiter->flc_blocked_requests)) /* timed out, still blocked */",
        ):
            op.section(
                ctx.blocked_lock_lock,
                "spin_lock(&blocked_lock_lock); __locks_wake_up_blocks(waiter); "
                "__locks_unlink_block(waiter); spin_unlock(&blocked_lock_lock)",
                _unblock,
                ctx,
                "lease",
                file,
            )
        _time_out_leases(op, ctx, "if (error == 0) time_out_leases(inode, &dispose)")
    else:
        op.effect(
            "__locks_delete_block(&new_fl->c) /* woken: flc_blocker is NULL, no lock */",
            _unblock,
            ctx,
            "lease",
            file,
        )
    if not op.variant(LEASE_BREAK_NO_RECHECK):
        op.goto_if(conflicting, "restart", "if (any_leases_conflict(inode, new_fl)) goto restart")
    op.label("out")
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
    op.label("done")


def _woken_or_timed_out(state: State, ctx: FileLockContext, file: str) -> bool:
    """Woken, or the break time of the lease waited for passes (its holder
    never answers)."""
    blockers = _blockers(ctx, "lease", file)(state)
    return not blockers or any(b in state[ctx.timed_out] for b in blockers)


def _time_out_leases(op: Op, ctx: FileLockContext, label: str) -> None:
    """``time_out_leases()``, which begins with
    ``lockdep_assert_held(&ctx->flc_lock)``: a caller that does not hold
    flc_lock is a lock-protocol error."""
    op.assert_held(ctx.flc_lock, "time_out_leases(): lockdep_assert_held(&ctx->flc_lock)")
    op.effect(label, time_out_leases, ctx)


@touches(_ctx_touches("leases", "timed_out", "blocked", written=("leases", "blocked")))
def time_out_leases(scratch: Scratch, ctx: FileLockContext) -> None:
    """``time_out_leases()`` under flc_lock: each lease whose break time has
    passed (``past_time(fl->fl_break_time)``: a break is pending and its
    holder does not answer) goes, ``lease_modify(fl, F_UNLCK, dispose)``,
    waking the breakers blocked on it."""
    for file, _t, pending, _g in scratch[ctx.leases]:
        if pending and file in scratch[ctx.timed_out]:
            _lease_modify(scratch, ctx, file)


@touches(_ctx_touches("opens", written=("opens",)))
def _past_break(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    scratch[ctx.opens] = tuple(
        (f, m, True) if f == file else (f, m, p) for f, m, p in scratch[ctx.opens]
    )


@touches(_ctx_touches("opens", written=("opens",)))
def _close(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    scratch[ctx.opens] = tuple(o for o in scratch[ctx.opens] if o[0] != file)


@operation(
    models="open(2) for writing: do_dentry_open()'s get_write_access() and break_lease(), "
    "then close(2) (fs/open.c, fs/locks.c)",
    describe=lambda path: f"open({path}, O_WRONLY), close",
    cites=(
        Cite(
            "fs/open.c",
            "do_dentry_open",
            "6.17-rc3 (Kingxukai/linux 9b44fff6)",
            leaves_out=THP_DROP,
            because="the file's page cache holds no large folios (filemap_nr_thps() is 0): "
            "the drop of the page cache an open for writing does then is not taken",
        ),
        locks_cite("__break_lease", DELEG_VERSION),
        locks_cite("leases_conflict", FILELOCK_VERSION),
    ),
)
def open_for_write(op: Op, path: str) -> None:
    """The file is opened for writing: ``get_write_access(inode)``
    (``i_writecount``), ``break_lease(file_inode(f), f->f_flags)``, the
    rest of the open (the filesystem's ->open is left out), then close(2)
    (``put_write_access()`` in ``__fput()``).  In 6.17-rc3's
    ``do_dentry_open()`` (read in Kingxukai/linux at 9b44fff6) the order is
    the same: ``file_get_write_access()`` (``get_write_access()``,
    ``mnt_get_write_access()``), ``security_file_open()``, fsnotify's
    permission hook, ``break_lease()``, then ``->open`` through the local
    ``open`` pointer.  The open has no O_TRUNC: with it ``do_open()`` takes
    ``mnt_want_write()`` (SB_FREEZE_WRITE shared) before ``vfs_open()``, so
    the lease break waits with the freeze level held, as
    :func:`truncate_breaking_lease` models."""
    regular_file(op.world, path, "an open for writing", OPEN_OF_DIRECTORY)
    ctx = context(op.world, path)
    _register_thread(op, ctx)
    file = op.thread.name
    op.effect("get_write_access(inode)", _open_as, ctx, file, "W")
    op.run(break_lease, ctx, file, True)
    op.effect("/* the open goes on past break_lease() */", _past_break, ctx, file)
    op.effect("fput(file): __fput(): put_write_access(inode)", _close, ctx, file)


# --- lockd and a cluster filesystem's deferred grant -----------------------------------------


def _defer(scratch: Scratch, ctx: FileLockContext, owner: str) -> None:
    scratch[ctx.queued] = scratch[ctx.queued] | {owner}


def _lm_grant(scratch: Scratch, ctx: FileLockContext, owner: str) -> int:
    """nlmsvc_grant_deferred(): the block is marked B_GOT_CALLBACK and
    lockd is woken to send the grant."""
    scratch[ctx.notified] = tuple(sorted({*scratch[ctx.notified], owner}))
    return 0


@operation(
    models="lockd serving NLM_LOCK on a cluster filesystem with its own ->lock "
    "(dlm_posix_lock()), which defers the request and grants it later through ->lm_grant "
    "(fs/lockd/svclock.c, fs/dlm/plock.c)",
    describe=lambda path, first: f"lockd NLM_LOCK {path} {first} deferred by the filesystem",
    cites=(
        svclock_cite("nlmsvc_lock"),
        svclock_cite("nlmsvc_grant_deferred"),
    ),
)
def lockd_deferred(op: Op, path: str, first: tuple[int, int]) -> None:
    """lockd asks the filesystem's ->lock, which queues the request to the
    cluster's lock manager and returns FILE_LOCK_DEFERRED; lockd answers
    NLM_LCK_BLOCKED and waits for ->lm_grant."""
    byte_range(first)
    ctx = context(op.world, path)
    _register_thread(op, ctx, posix=CLUSTER)
    owner = op.thread.name
    op.world.parts.setdefault(LOCKD_REQUESTS, set()).add((path, owner))
    op.effect(
        "vfs_lock_file(): filp->f_op->lock(filp, F_SETLK, fl) /* dlm_posix_lock(): queued, "
        "FILE_LOCK_DEFERRED */",
        _defer,
        ctx,
        owner,
    )
    op.wait_until(
        shared_is(ctx.notified, "B_GOT_CALLBACK", lambda v: owner in v),
        "nlmsvc_lock(): return nlm_lck_blocked; svc_recv() until nlmsvc_grant_deferred()",
        "the cluster's grant",
        unheld=lambda world: _no_callback(world, path, owner, first),
    )
    op.effect(
        "nlmsvc_retry_blocked(): nlmsvc_grant_blocked(block)",
        _unnotify,
        ctx,
        (owner, first[0], first[1], WRITE),
    )


PLOCK_CALLBACKS = "plock callbacks"
"""The world part of the (path, owner) pairs a ``plock_callback`` thread
answers; ``LOCKD_REQUESTS`` those a ``lockd_deferred`` thread asks."""
LOCKD_REQUESTS = "lockd requests"


def _no_callback(world: World, path: str, owner: str, first: tuple[int, int]) -> str:
    """What a scenario lacks when no thread answers lockd's deferred request."""
    if (path, owner) in world.parts.get(PLOCK_CALLBACKS, set()):
        return ""
    return (
        f"no thread of the scenario answers for the cluster: add "
        f"plock_callback({path!r}, {owner!r}, {first})"
    )


@operation(
    models="a cluster filesystem's completion of a deferred lock: dlm_plock_callback() "
    "records the lock with posix_lock_file() and calls ->lm_grant (fs/dlm/plock.c)",
    describe=lambda path, owner, first: f"dlm_plock_callback({path} {first} for {owner})",
    cites=(
        Cite("fs/dlm/plock.c", "dlm_plock_callback", DELEG_VERSION),
        locks_cite(
            "posix_lock_inode",
            DELEG_VERSION,
            leaves_out=("spin_lock(&blocked_lock_lock)", "spin_unlock(&blocked_lock_lock)"),
            because="locks_move_blocks() takes blocked_lock_lock only for a request that has "
            "waiters, and dlm's copy of a deferred request (op_data->flc) has none",
        ),
    ),
)
def plock_callback(op: Op, path: str, owner: str, first: tuple[int, int]) -> None:
    """Once the cluster granted the lock lockd's ``owner`` asked for: the
    lock is recorded locally under flc_lock (``posix_lock_file()``, no
    conflict: the cluster arbitrated), then ->lm_grant with no lock held.

    Read in 6.17-rc3 (Kingxukai/linux 0291023e): ``dev_write()`` finds the
    request under dlm's ``ops_lock`` and calls ``dlm_plock_callback()``
    after dropping it; ->lm_grant is called through ``op_data->callback``,
    saved from ``fl->fl_lmops->lm_grant`` when the request was deferred.
    Left out: ``ops_lock`` and the cluster's answer (a daemon's write), the
    refused request (``op->info.rv``: ->lm_grant with the error, no local
    lock) and ``posix_lock_file()`` failing (only on allocation failure)."""
    op.holds_no_file()
    byte_range(first)
    ctx = context(op.world, path)
    _register_thread(op, ctx, posix=CLUSTER)
    op.world.parts.setdefault(PLOCK_CALLBACKS, set()).add((path, owner))
    op.wait_until(
        shared_is(ctx.queued, f"{owner}'s request queued", lambda queued: owner in queued),
        "dev_write(): the cluster's answer to the queued request",
        "lockd's request",
        unheld=lambda world: (
            ""
            if (path, owner) in world.parts.get(LOCKD_REQUESTS, set())
            else f"no thread of the scenario queues {owner}'s request: add "
            f"lockd_deferred({path!r}, {first}) as thread {owner}"
        ),
    )
    request = (owner, first[0], first[1], WRITE)
    op.lock(ctx.flc_lock, EXCL, "posix_lock_file(file, flc, NULL): spin_lock(&ctx->flc_lock)")
    _insert_copy(op, ctx, request)
    op.unlock(ctx.flc_lock, "spin_unlock(&ctx->flc_lock)")
    op.call(
        "lock_manager_operations.lm_grant",
        _lm_grant,
        ctx,
        owner,
        label="rv = notify(fl, 0) /* fl->fl_lmops->lm_grant: nlmsvc_grant_deferred() */",
        roles={"flctx": ctx},
        sleeps=False,
    )


# --- what each lock protects -----------------------------------------------------------------


def exclusion_violation(state: State, ctx: FileLockContext) -> str | None:
    """Two conflicting POSIX locks, or flocks, held at once."""
    posix = state[ctx.posix]
    for i, a in enumerate(posix):
        for b in posix[i + 1 :]:
            if posix_conflict(a, b):
                return f"{_render_posix((a,))} and {_render_posix((b,))} are both held"
    flocks = state[ctx.flock]
    for i, (fa, ta) in enumerate(flocks):
        for fb, tb in flocks[i + 1 :]:
            if fa == fb:
                return (
                    f"open file {fa} holds two flocks, {ta} and {tb}: its next flock(2) or "
                    "close replaces or removes one of them only"
                )
            if EXCL_FLOCK in (ta, tb):
                return f"flock {fa} {ta} and {fb} {tb} are both held"
    return None


def lease_violation(state: State, ctx: FileLockContext) -> str | None:
    """An open past break_lease() while a conflicting lease of another
    file is granted."""
    for file, mode, past in state[ctx.opens]:
        if not past:
            continue
        for holder, kind, _pending, granted in state[ctx.leases]:
            if holder != file and granted and (mode == "W" or kind == WRITE):
                what = "writing" if mode == "W" else "reading"
                return (
                    f"{holder}'s {kind} lease is granted while {file} is past break_lease() "
                    f"for {what}: a lease and a conflicting open at once, whichever came first "
                    "(generic_add_lease() refuses a lease over a conflicting open, break_lease() "
                    "breaks one before an open goes on)"
                )
    return None


@operation(
    models="truncate(2): vfs_truncate(): mnt_want_write(), get_write_access(), "
    "break_lease(inode, O_WRONLY), then do_truncate() (fs/open.c)",
    describe=lambda file, size: f"truncate({file.path}, {size})",
    cites=(
        Cite("fs/open.c", "vfs_truncate", TRUNCATE_VERSION),
        Cite("fs/open.c", "do_truncate", TRUNCATE_VERSION),
        locks_cite("__break_lease", DELEG_VERSION),
    ),
)
def truncate_breaking_lease(op: Op, file: File, size: int) -> None:
    """truncate(2) by path, read in 6.17-rc3 (Kingxukai/linux 9b44fff6):
    ``mnt_want_write()`` (its ``sb_start_write()``: SB_FREEZE_WRITE
    shared, held across the lease break), ``get_write_access(inode)``
    ("protects against the truncate racing with a lease-granting
    setlease()"), ``break_lease(inode, O_WRONLY)``, then ``do_truncate()``:
    i_rwsem (``inode_lock_killable()``, a signal not modelled) around
    ``notify_change()`` -> ->setattr (``mc.models.truncate.truncate_file``),
    ``put_write_access()``, ``mnt_drop_write()``.  Left out: the
    permission, fsnotify and security hooks, IS_APPEND."""
    ctx = context(op.world, file.path)
    me = op.thread.name
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers,
        SHARED,
        "vfs_truncate(): mnt_want_write(path->mnt): sb_start_write(m->mnt_sb)",
        tag="sb-start-write",
    )
    op.effect("get_write_access(inode)", _open_as, ctx, me, "W")
    op.run(break_lease, ctx, me, True)
    op.effect("/* the truncate goes on past break_lease() */", _past_break, ctx, me)
    truncate_file(op, file, size, writers_held=True)
    op.effect("put_write_access(inode)", _close, ctx, me)
    op.unlock(writers, "mnt_drop_write(path->mnt): sb_end_write(mnt->mnt_sb)", tag="sb-start-write")


# --- unlink(2) and nfsd's delegations (6.17) -------------------------------------------------

DELEGATION_BREAK_CITES = (
    locks_cite("__break_lease", DELEG_VERSION),
    Cite(
        "fs/nfsd/nfs4state.c",
        "nfsd_break_deleg_cb",
        DELEG_VERSION,
        method="lock_manager_operations.lm_break",
    ),
)
"""What an operation that breaks a delegation and waits for it follows
besides its own functions."""

DELEG_WAIT_UNDER_I_RWSEM = "deleg-wait-under-i_rwsem"
UNLINK_SKIPS_DELEG_BREAK = "unlink-skips-deleg-break"
MAX_DELEG_ROUNDS = 2

flag_variant(
    DELEG_WAIT_UNDER_I_RWSEM,
    "vfs_unlink() waits for the delegation break (break_deleg(inode, O_WRONLY), blocking) "
    "with the parent's and the victim's i_rwsem held, instead of returning -EWOULDBLOCK "
    "for do_unlinkat() to drop them and wait in break_deleg_wait()",
)
flag_variant(
    UNLINK_SKIPS_DELEG_BREAK,
    "vfs_unlink() calls ->unlink without try_break_deleg(): the name goes while a client "
    "holds a delegation of the file",
)

DELEG_BREAK_TAKES_FI_LOCK = "deleg-break-takes-fi_lock"
flag_variant(
    DELEG_BREAK_TAKES_FI_LOCK,
    "nfsd_break_deleg_cb(), the delegation's ->lm_break, called by __break_lease() with "
    "flc_lock held, takes spin_lock(&fp->fi_lock) around fp->fi_had_conflict = true and "
    'nfsd_break_one_deleg(), as from edcf9725150e ("nfsd: fix RELEASE_LOCKOWNER", whose '
    "check_for_locks() takes flc_lock inside fi_lock) until 5ea9a7c5fe41 (\"nfsd: don't take "
    'fi_lock in nfsd_break_deleg_cb()"): flc_lock -> fi_lock against fi_lock -> flc_lock',
)


@touches(_ctx_touches("leases"))
def _delegation_conflict(scratch: Scratch, ctx: FileLockContext, file: str) -> bool:
    """``any_leases_conflict()`` for a breaker with FL_DELEG: only another
    file's delegations conflict (``leases_conflict()``: FL_DELEG breaker,
    FL_LEASE lease -> no conflict)."""
    return any(f != file and f in ctx.delegations for f, _t, _p, _g in scratch[ctx.leases])


@touches(_ctx_touches("leases", written=("leases",)))
def _lm_break_deleg(scratch: Scratch, ctx: FileLockContext, file: str) -> int:
    """nfsd_break_deleg_cb() (read in 6.17-rc3, Kingxukai/linux 0291023e;
    called with flc_lock held, it takes no lock and does not sleep): the
    delegation, marked FL_UNLOCK_PENDING by ``__break_lease()``, is queued
    for a recall (``nfsd_break_one_deleg()``: ``nfsd4_run_cb()``), its
    break time zeroed (nfsd, not ``time_out_leases()``, revokes it) and
    ``fp->fi_had_conflict`` set; returns false (the lease stays until
    DELEGRETURN).  The marking stands for ``fi_had_conflict``: a delegation
    being set up sees it in :func:`_hash_delegation`."""
    scratch[ctx.leases] = tuple(
        (f, t, p or "unlock", g) if f != file and f in ctx.delegations else (f, t, p, g)
        for f, t, p, g in scratch[ctx.leases]
    )
    return 0


LM_BREAK_LABEL = "fl->c.flc_flags |= FL_UNLOCK_PENDING; fl->fl_lmops->lm_break(fl)"


def nfsd_break_deleg_cb(op: Op, ctx: FileLockContext, file: str, *, sleeps: bool = False) -> None:
    """``__break_lease()``'s call of a delegation's ->lm_break with flc_lock
    held, ``nfsd_break_deleg_cb()`` (:func:`_lm_break_deleg`): one call step
    that takes no lock, as in 6.17-rc3 (Kingxukai/linux 0291023e) and since
    5ea9a7c5fe41.  Under ``deleg-break-takes-fi_lock`` (the code from
    edcf9725150e to 5ea9a7c5fe41, read in that fix's 6.1.y backport:
    ``spin_lock(&fp->fi_lock); fp->fi_had_conflict = true;
    nfsd_break_one_deleg(dp); spin_unlock(&fp->fi_lock)``) the body runs
    inside the call with ``fp->fi_lock`` held.  ``sleeps``: the call may
    block (``lm_break-sleeps``)."""
    label = f"{LM_BREAK_LABEL} /* nfsd_break_deleg_cb() */"
    if not op.variant(DELEG_BREAK_TAKES_FI_LOCK):
        op.call(
            "lock_manager_operations.lm_break",
            _lm_break_deleg,
            ctx,
            file,
            label=label,
            roles={"flctx": ctx},
            sleeps=sleeps,
        )
        return
    op.enter(
        "lock_manager_operations.lm_break",
        ctx,
        file,
        label=label,
        roles={"flctx": ctx},
        sleeps=sleeps,
    )
    op.lock(ctx.fi_lock, EXCL, "nfsd_break_deleg_cb(): spin_lock(&fp->fi_lock)")
    op.effect("fp->fi_had_conflict = true; nfsd_break_one_deleg(dp)", _lm_break_deleg, ctx, file)
    op.unlock(ctx.fi_lock, "spin_unlock(&fp->fi_lock); return false")


def try_break_deleg(op: Op, ctx: FileLockContext, file: str, delegated: int, round_: int) -> None:
    """``try_break_deleg(target, delegated_inode)``: ``break_deleg(inode,
    O_WRONLY|O_NONBLOCK)``, the lockless ``list_empty_careful()`` check,
    then ``__break_lease(inode, mode, FL_DELEG)``: under flc_lock
    ``time_out_leases()`` (a lease whose holder never answered goes, as
    in :func:`break_lease`), each conflicting
    delegation marked FL_UNLOCK_PENDING and its ->lm_break
    (``nfsd_break_deleg_cb()``) called; a lease left on the list gives
    ``-EWOULDBLOCK`` (``mode & O_NONBLOCK``) and the delegated inode is
    handed back (``*delegated_inode = inode; ihold(inode)``)."""
    flc = ctx.flc_lock
    op.goto_if(
        shared_is(ctx.leases, "list_empty_careful(&ctx->flc_lease)", lambda v: not v),
        f"no_lease{round_}",
        "break_deleg(): if (!inode->i_flctx || list_empty_careful(&inode->i_flctx->flc_lease)) "
        "return 0",
    )
    op.lock(flc, EXCL, "__break_lease(): spin_lock(&ctx->flc_lock)")
    _time_out_leases(op, ctx, "time_out_leases(inode, &dispose)")
    op.compute(
        "delegated_inode",
        "if (!any_leases_conflict(inode, new_fl)) goto out",
        _delegation_conflict,
        ctx,
        file,
        render=lambda v: "inode" if v else "NULL",
    )
    with op.when(
        register_is(delegated, "any_leases_conflict", bool),
        "any_leases_conflict(inode, new_fl) /* a delegation */",
    ):
        nfsd_break_deleg_cb(op, ctx, file)
        op.fail(
            E.EAGAIN,
            f"out{round_}",
            "if (mode & O_NONBLOCK) error = -EWOULDBLOCK; goto out; "
            "*delegated_inode = inode; ihold(inode)",
        )
    op.label(f"out{round_}")
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
    op.label(f"no_lease{round_}")


@touches(_ctx_touches("opens", written=("opens",)))
def _unlinked(scratch: Scratch, ctx: FileLockContext, me: str) -> None:
    scratch[ctx.opens] = tuple(sorted({*scratch[ctx.opens], (me, "unlink", True)}))


def _under_delegation(state: State, ctx: FileLockContext, change: str, did: str) -> str | None:
    """That a thread made ``change`` (noted in the opens, its inode still
    locked; what it ``did``, in words) while another client's delegation is
    granted, or None."""
    for me, mode, _past in state[ctx.opens]:
        if mode != change:
            continue
        for holder, _kind, _pending, granted in state[ctx.leases]:
            if holder != me and granted and holder in ctx.delegations:
                return f"{me} {did} while {holder}'s delegation is granted"
    return None


def unlink_violation(state: State, ctx: FileLockContext) -> str | None:
    """A name removed (->unlink done, the victim still locked) while a
    delegation of another client is granted."""
    return _under_delegation(state, ctx, "unlink", "removed the name")


@operation(
    models="unlink(2) of a file nfsd may have delegated: do_unlinkat() -> vfs_unlink() -> "
    "try_break_deleg(), on -EWOULDBLOCK the locks dropped, break_deleg_wait() and a retry "
    "(fs/namei.c, include/linux/filelock.h, fs/locks.c)",
    describe=lambda path: f"unlink({path}) breaking delegations",
    cites=(
        Cite("fs/namei.c", "do_unlinkat", DELEG_VERSION),
        Cite("fs/namei.c", "vfs_unlink", DELEG_VERSION),
        *DELEGATION_BREAK_CITES,
    ),
)
def unlink_breaking_delegation(op: Op, path: str) -> None:
    """``do_unlinkat()``: at ``retry_deleg:`` the parent's i_rwsem
    (I_MUTEX_PARENT), ``lookup_one_qstr_excl()``; ``vfs_unlink()``: the
    victim's i_rwsem, ``try_break_deleg()``, ->unlink unless it failed, the
    victim unlocked; the parent unlocked; with a delegated inode,
    ``break_deleg_wait()`` (``break_deleg(inode, O_WRONLY)``: the blocking
    ``__break_lease()``, here :func:`break_lease`) and ``goto retry_deleg``.

    The retry is unrolled ``MAX_DELEG_ROUNDS`` times (a client that is
    handed a new delegation between the rounds is not in the scenarios);
    a round left with a delegation still in the way returns its error.
    ``try_break_deleg()``, ``break_deleg()`` and ``break_deleg_wait()`` are
    static inlines of include/linux/filelock.h (6.17-rc3), not cited (drift
    reads .c files); their steps are labelled with their code.
    ``mnt_want_write()`` (``sb_start_write()``: SB_FREEZE_WRITE shared)
    comes before ``retry_deleg:`` and ``mnt_drop_write()`` after the
    ``break_deleg_wait()`` and its retry, so the wait for the delegation
    holds off a freeze (6.17-rc3 ``do_unlinkat()``: ``if (delegated_inode)
    { error = break_deleg_wait(&delegated_inode); if (!error) goto
    retry_deleg; } mnt_drop_write(path.mnt);``).
    What the model leaves out: the mount's writer count and read-only
    state, ``may_delete()``, ``security_*()``, ``is_local_mountpoint()``, the swap-file check,
    ``fsnotify``/``d_delete_notify()``, the ``iput()`` of the victim after
    the parent is unlocked, ``retry_estale()``, and ``lease_break_time``:
    no break time passes in these scenarios."""
    regular_file(op.world, path, "unlink(2)", "unlink(2) of a directory returns -EISDIR")
    ctx = context(op.world, path)
    me = op.thread.name
    parent, name = split(path)
    directory = op.inode(parent)
    wait_under_lock = op.variant(DELEG_WAIT_UNDER_I_RWSEM)
    skip = op.variant(UNLINK_SKIPS_DELEG_BREAK)
    delegated, writers = _write_access_for_delegation(
        op, "do_unlinkat(): error = mnt_want_write(path.mnt): sb_start_write(m->mnt_sb)"
    )
    for round_ in range(MAX_DELEG_ROUNDS):
        last = round_ == MAX_DELEG_ROUNDS - 1
        op.label(f"retry_deleg{round_}")
        op.lock(
            directory.i_rwsem,
            EXCL,
            "inode_lock_nested(path.dentry->d_inode, I_MUTEX_PARENT)",
            tag="lock-parent",
        )
        victim = lookup_one_qstr_excl(op, directory, name, "victim", f"exit_parent{round_}")
        op.fail_if(
            negative(victim),
            E.ENOENT,
            f"exit_parent{round_}",
            "lookup_one_qstr_excl(): -ENOENT for a negative dentry",
        )
        op.lock(victim.i_rwsem, EXCL, "inode_lock(target)", tag="lock-victim")
        _break_under_lock(
            op,
            ctx,
            delegated,
            round_,
            wait=wait_under_lock,
            skip=skip,
            out=f"unlock_victim{round_}",
            label="error = try_break_deleg(target, delegated_inode); if (error) goto out",
        )
        op.call(
            "inode_operations.unlink",
            libfs.unlink,
            directory,
            op.dentry(directory, name),
            victim,
            label="error = dir->i_op->unlink(dir, dentry)",
            roles={"dir": directory, "victim": victim},
        )
        op.effect("/* the name is gone, the victim still locked */", _unlinked, ctx, me)
        op.effect("dont_mount(dentry); detach_mounts(dentry)", _close, ctx, me)
        op.label(f"unlock_victim{round_}")
        op.unlock(victim.i_rwsem, "inode_unlock(target)")
        op.label(f"exit_parent{round_}")
        op.unlock(directory.i_rwsem, "inode_unlock(path.dentry->d_inode)")
        if wait_under_lock or skip:
            break
        if break_deleg_wait(op, ctx, me, delegated, last):
            break
    op.label("done")
    op.unlock(writers, "mnt_drop_write(path.mnt): sb_end_write(mnt->mnt_sb)", tag="sb-start-write")


@touches(lambda _world, slot: ([], [slot]))
def _clear_delegated(scratch: Scratch, slot: int) -> None:
    scratch[slot] = None


def _break_under_lock(
    op: Op,
    ctx: FileLockContext,
    delegated: int,
    round_: int,
    *,
    wait: bool,
    skip: bool,
    out: str,
    label: str,
) -> None:
    """With the inode locked: ``try_break_deleg()``, and to ``out`` (test
    ``label``) when it found a delegation to wait for; under a variant
    that waits with the lock held (``wait``), the blocking
    ``__break_lease()`` instead; under one that skips the break
    (``skip``), nothing."""
    me = op.thread.name
    if wait:
        op.run(break_lease, ctx, me, True, True)
    elif not skip:
        try_break_deleg(op, ctx, me, delegated, round_)
        op.goto_if(register_is(delegated, "delegated_inode", bool), out, label)


def _write_access_for_delegation(op: Op, label: str) -> tuple[int, Lock]:
    """The ``delegated_inode`` register of a call that may break a
    delegation, and ``mnt_want_write()`` (SB_FREEZE_WRITE shared, taken
    here with ``label``), which its wait for the delegation holds."""
    delegated = op.register("delegated_inode", lambda v: "inode" if v else "NULL")
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(writers, SHARED, label, tag="sb-start-write")
    return delegated, writers


def break_deleg_wait(op: Op, ctx: FileLockContext, me: str, delegated: int, last: bool) -> bool:
    """After the locks are dropped: to ``done`` without a delegated inode;
    else, but in the ``last`` round, ``break_deleg_wait()`` (the blocking
    ``__break_lease()``, :func:`break_lease`) for the retry that follows.
    True when the caller's retry loop ends here (the ``last`` round)."""
    op.goto_if(
        register_is(delegated, "!delegated_inode", lambda v: not v),
        "done",
        "if (delegated_inode)",
        label_negates=True,
    )
    if last:
        return True
    op.run(break_lease, ctx, me, True, True)
    op.effect(
        "error = break_deleg_wait(&delegated_inode): iput(*delegated_inode); "
        "*delegated_inode = NULL; if (!error) goto retry_deleg",
        _clear_delegated,
        delegated,
    )
    return False


SETATTR_DELEG_WAIT_UNDER_I_RWSEM = "setattr-deleg-wait-under-i_rwsem"
SETATTR_SKIPS_DELEG_BREAK = "setattr-skips-deleg-break"

flag_variant(
    SETATTR_DELEG_WAIT_UNDER_I_RWSEM,
    "notify_change() waits for the delegation break (break_deleg(inode, O_WRONLY), "
    "blocking) with the inode's i_rwsem held, instead of returning -EWOULDBLOCK for "
    "chmod_common() to drop it and wait in break_deleg_wait()",
)
flag_variant(
    SETATTR_SKIPS_DELEG_BREAK,
    "notify_change() calls ->setattr without try_break_deleg(): the mode changes while a "
    "client holds a delegation of the file",
)


@touches(_ctx_touches("opens", written=("opens",)))
def _attributes_changed(scratch: Scratch, ctx: FileLockContext, me: str) -> None:
    scratch[ctx.opens] = tuple(sorted({*scratch[ctx.opens], (me, "setattr", True)}))


def setattr_violation(state: State, ctx: FileLockContext) -> str | None:
    """An attribute changed (->setattr done, the inode still locked) while
    a delegation of another client is granted."""
    return _under_delegation(state, ctx, "setattr", "changed the file's mode")


@operation(
    models="chmod(2) of a file nfsd may have delegated: chmod_common() -> notify_change() -> "
    "try_break_deleg(), on -EWOULDBLOCK the inode unlocked, break_deleg_wait() and a retry "
    "(fs/open.c, fs/attr.c, include/linux/filelock.h, fs/locks.c)",
    describe=lambda path, mode: f"chmod({path}, {mode:o}) breaking delegations",
    cites=(
        Cite("fs/open.c", "chmod_common", DELEG_VERSION),
        Cite("fs/attr.c", "notify_change", DELEG_VERSION),
        *DELEGATION_BREAK_CITES,
    ),
)
def chmod_breaking_delegation(op: Op, path: str, mode: int) -> None:
    """``chmod_common()`` (6.17-rc3): ``mnt_want_write()``
    (SB_FREEZE_WRITE shared), then at ``retry_deleg:`` the inode's i_rwsem
    (``inode_lock_killable()``) and ``notify_change()``, which calls
    ``try_break_deleg()`` before ``->setattr`` (``mc.models.attr``) and
    returns its -EWOULDBLOCK; ``out_unlock:`` the inode unlocked, and with a
    delegated inode ``break_deleg_wait()`` (the blocking ``__break_lease()``,
    :func:`break_lease`) and ``goto retry_deleg``; ``mnt_drop_write()``
    after the retry, so the wait for the delegation holds off a freeze, as
    ``unlink_breaking_delegation``'s does.  The retry is unrolled
    ``MAX_DELEG_ROUNDS`` times.  Left out: ``may_setattr()``,
    ``security_*()``, 6.17's ATTR_DELEG (nfsd's own setattr breaks no
    delegation of its client; the chmod is local), ``fsnotify_change()``."""
    regular_file(
        op.world,
        path,
        "chmod_breaking_delegation()",
        "nfsd delegates regular files only (a lease of a directory is refused); use chmod()",
    )
    ctx = context(op.world, path)
    me = op.thread.name
    inode = op.inode(path)
    wait_under_lock = op.variant(SETATTR_DELEG_WAIT_UNDER_I_RWSEM)
    skip = op.variant(SETATTR_SKIPS_DELEG_BREAK)
    delegated, writers = _write_access_for_delegation(
        op, "chmod_common(): error = mnt_want_write(path->mnt): sb_start_write(m->mnt_sb)"
    )
    for round_ in range(MAX_DELEG_ROUNDS):
        op.label(f"retry_deleg{round_}")
        op.lock(inode.i_rwsem, EXCL, "inode_lock_killable(inode)", tag="inode-lock")
        _break_under_lock(
            op,
            ctx,
            delegated,
            round_,
            wait=wait_under_lock,
            skip=skip,
            out=f"out_unlock{round_}",
            label="notify_change(): error = try_break_deleg(inode, delegated_inode); "
            "if (error) return error",
        )
        attr.notify_change(op, inode, mode)
        op.effect("/* the mode changed, the inode still locked */", _attributes_changed, ctx, me)
        op.effect("notify_change(): fsnotify_change(dentry, ia_valid)", _close, ctx, me)
        op.label(f"out_unlock{round_}")
        op.unlock(inode.i_rwsem, "out_unlock: inode_unlock(inode)", tag="inode-lock")
        if wait_under_lock or skip:
            break
        if break_deleg_wait(op, ctx, me, delegated, round_ == MAX_DELEG_ROUNDS - 1):
            break
    op.label("done")
    op.unlock(
        writers,
        "out_mnt_unlock: mnt_drop_write(path->mnt): sb_end_write(mnt->mnt_sb)",
        tag="sb-start-write",
    )


@operation(
    models="nfsd handing out a delegation of a file (OPEN); before returning it (DELEGRETURN) "
    "the client sends a SETATTR of what it cached: nfsd_setattr() takes the file's i_rwsem "
    "(fs/nfsd/nfs4state.c, fs/nfsd/vfs.c, fs/locks.c)",
    describe=lambda path: f"nfsd delegation of {path}, SETATTR, DELEGRETURN",
    cites=(
        Cite("fs/nfsd/nfs4state.c", "nfs4_set_delegation", DELEG_VERSION),
        locks_cite("generic_add_lease", DELEG_VERSION),
        Cite("fs/nfsd/vfs.c", "nfsd_setattr", DELEG_VERSION),
        locks_cite("generic_delete_lease", DELEG_VERSION),
    ),
)
def delegate_then_setattr(op: Op, path: str) -> None:
    """nfsd, holding the file open for a client, hands out a delegation
    (:func:`nfsd_set_delegation`: ``inode_trylock()`` of the file); the
    client, before it returns the delegation (on a recall or at close),
    writes back the attributes it cached: ``nfsd4_setattr()`` takes
    ``fh_want_write()`` (``mnt_want_write()``: SB_FREEZE_WRITE shared),
    then ``nfsd_setattr()`` takes ``inode_lock(inode)`` around
    ``__nfsd_setattr()`` (->setattr is left out, and so is its
    ``nfsd_wait_for_delegreturn()`` retry), then ``fh_drop_write()``;
    then DELEGRETURN removes the lease (->lm_change, waking the
    breakers), unless the laundromat revoked the delegation meanwhile
    (:func:`deleg_laundromat`): ``nfsd4_delegreturn()`` answers
    ``nfserr_deleg_revoked`` and the lease is already gone."""
    regular_file(op.world, path, "a delegation", LEASE_OF_DIRECTORY)
    ctx = context(op.world, path)
    file = op.thread.name
    ctx.delegations.add(file)
    op.world.initial[ctx.opens] = tuple(sorted({*op.world.initial[ctx.opens], (file, "R", True)}))
    inode = op.inode(ctx.path)
    op.run(nfsd_set_delegation, ctx, file)
    op.goto_if(register_is(op.thread.ret, "error", lambda v: v is not None and v < 0), "done")
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers,
        SHARED,
        "nfsd4_setattr(): fh_want_write(&cstate->current_fh): sb_start_write(sb)",
        tag="sb-start-write",
    )
    op.lock(inode.i_rwsem, EXCL, "nfsd_setattr(): inode_lock(inode)")
    op.unlock(inode.i_rwsem, "__nfsd_setattr(dentry, &attrs); inode_unlock(inode)")
    op.unlock(writers, "fh_drop_write(&cstate->current_fh): sb_end_write(sb)", tag="sb-start-write")
    with op.when(
        shared_is(ctx.leases, "delegation revoked", lambda v: any(f == file for f, *_ in v)),
        "nfsd4_delegreturn(): if (dp->dl_stid.sc_status & SC_STATUS_REVOKED) "
        "status = nfserr_deleg_revoked",
        label_negates=True,
    ):
        op.run(generic_delete_lease, ctx, file)
    op.label("done")


def _recall_or_nothing_left(ctx: FileLockContext, tid: int) -> Expr:
    """Whether a delegation of ``ctx``'s file is being recalled, or every
    thread but ``tid`` has returned."""

    def build(world: World) -> Callable[[State], bool]:
        done = others_returned(world, tid)
        return lambda state: recalled_delegation(ctx, state[ctx.leases]) is not None or done(state)

    return Expr(
        "a delegation recalled, or nothing left to recall it",
        build,
        reads=frozenset({ctx.leases, OTHERS_RETURNED}),
    )


@operation(
    models="nfsd's laundromat revoking a delegation whose recall the client left unanswered "
    "for the lease time: kernel_setlease(F_UNLCK) removes its lease "
    "(fs/nfsd/nfs4state.c nfs4_laundromat(), revoke_delegation())",
    describe=lambda path: f"nfsd laundromat revoking the delegation of {path}",
    cites=(
        Cite("fs/nfsd/nfs4state.c", "nfs4_laundromat", DELEG_VERSION),
        Cite("fs/nfsd/nfs4state.c", "revoke_delegation", DELEG_VERSION),
        locks_cite("generic_delete_lease", DELEG_VERSION),
    ),
)
def deleg_laundromat(op: Op, path: str) -> None:
    """The laundromat work, read in 6.17-rc3 (Kingxukai/linux 0291023e):
    ``nfs4_laundromat()`` walks ``del_recall_lru`` under ``state_lock`` and
    takes each delegation whose recall is older than the lease time
    (``state_expired(&lt, dp->dl_time)``) off its hashes
    (``unhash_delegation_locked(dp, SC_STATUS_REVOKED)``), then, with no
    lock held, ``revoke_delegation()`` -> ``destroy_unhashed_deleg()`` ->
    ``nfs4_unlock_deleg_lease()`` -> ``kernel_setlease(F_UNLCK)``:
    ``generic_delete_lease()``, which wakes the breakers.  The model has no
    clock: once ->lm_break marked a delegation for recall, the laundromat
    may revoke it at any moment, before or after the client's DELEGRETURN;
    with no recall pending it finishes when every other thread has.
    Without this thread a recall the client cannot answer (its SETATTR
    held off by a freeze the unlink's write access holds off in turn) is
    reported as a deadlock; in the kernel it lasts the lease time (90 s by
    default).  Left out: ``state_lock``, ``client_lock`` and the client's
    pinning (``cl_rpc_users``), the other lists the same pass reaps, and
    the revoked stateid kept for NFSv4.1 clients (``cl_revoked``)."""
    op.holds_no_file()
    regular_file(op.world, path, "a delegation laundromat", LEASE_OF_DIRECTORY)
    op.one_thread(
        "runs the delegation laundromat for",
        path,
        "one laundromat revokes every recalled delegation of the file",
    )
    ctx = context(op.world, path)
    op.wait_until(
        _recall_or_nothing_left(ctx, op.thread.tid),
        "laundromat_main(): a recall older than the lease time on del_recall_lru",
        "a delegation to be recalled",
    )
    with op.when(
        shared_is(
            ctx.leases,
            "recalled",
            lambda v: recalled_delegation(ctx, v) is not None,
        ),
        "if (!state_expired(&lt, dp->dl_time)) break; "
        "unhash_delegation_locked(dp, SC_STATUS_REVOKED); revoke_delegation(dp)",
        label_negates=True,
    ):
        op.run(generic_delete_lease, ctx, None)


def _break_pending_or_gone(state: State, ctx: FileLockContext, file: str) -> bool:
    """The lease of ``file`` is marked for a break (FL_UNLOCK_PENDING or
    FL_DOWNGRADE_PENDING), or is not on the list."""
    return all(f != file or pending for f, _t, pending, _g in state[ctx.leases])


@touches(_ctx_touches("timed_out", "leases", written=("timed_out",)))
def _ignore_breaks(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    """The break time of the lease of ``file`` passes, if a break is pending."""
    if any(f == file and pending for f, _t, pending, _g in scratch[ctx.leases]):
        scratch[ctx.timed_out] = tuple(sorted({*scratch[ctx.timed_out], file}))


@operation(
    models="fcntl(F_SETLEASE) by a process that then ignores the SIGIO of a lease break "
    "and never gives the lease up: its lease is timed out after lease_break_time "
    "(fs/locks.c time_out_leases())",
    describe=lambda path, kind: f"F_SETLEASE {kind} on {path}, never answering a break",
    cites=(
        setlease_cite(DELEG_VERSION),
        locks_cite("check_conflicting_open", DELEG_VERSION),
        locks_cite("time_out_leases", DELEG_VERSION),
    ),
)
def lease_never_answered(op: Op, path: str, kind: str) -> None:
    """A process holding ``path`` open for reading takes a lease of type
    ``kind`` and from then on ignores the SIGIO of ``lease_break_callback()``:
    it never calls F_SETLEASE F_UNLCK.  A break of its lease is then
    answered by time only: the breaker's ``wait_event_interruptible_timeout()``
    returns 0 once ``lease_break_time`` passes (the model has no jiffies:
    once a break is pending, a step of this thread, which may come at any
    moment, is the break time passing; until then other breakers and lease
    takers meet the lease FL_UNLOCK_PENDING), and ``time_out_leases()``
    finds ``past_time(fl->fl_break_time)`` and removes the lease.  The
    thread returns once the lease is gone or every other thread returned."""
    regular_file(op.world, path, "a lease", LEASE_OF_DIRECTORY)
    ctx = context(op.world, path)
    _register_thread(op, ctx)
    file = op.thread.name
    op.world.initial[ctx.opens] = tuple(sorted({*op.world.initial[ctx.opens], (file, "R", True)}))
    op.run(generic_add_lease, ctx, file, kind)
    op.goto_if(register_is(op.thread.ret, "error", lambda v: v is not None and v < 0), "done")
    tid = op.thread.tid

    def build(world: World) -> Callable[[State], bool]:
        alone = others_returned(world, tid)
        return lambda state: _break_pending_or_gone(state, ctx, file) or alone(state)

    op.wait_until(
        Expr(
            "a break of the lease is pending (or the lease is gone)",
            build,
            reads=frozenset({ctx.leases}),
        ),
        "/* SIGIO ignored: no F_SETLEASE F_UNLCK; lease_break_time runs from the break */",
        "a break of its lease",
    )
    op.effect(
        "/* lease_break_time passes: past_time(fl->fl_break_time) */",
        _ignore_breaks,
        ctx,
        file,
    )
    op.label("done")


# --- open file description locks (F_OFD_SETLKW) ----------------------------------------------


def _ofd_granted(scratch: Scratch, ctx: FileLockContext, held: tuple[str, int, int]) -> None:
    scratch[ctx.ofd_held] = tuple(sorted({*scratch[ctx.ofd_held], held}))


def _ofd_released(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    scratch[ctx.ofd_held] = tuple(h for h in scratch[ctx.ofd_held] if h[0] != file)


def ofd_violation(state: State, ctx: FileLockContext) -> str | None:
    """Two open files granted overlapping OFD write locks at once."""
    held = state[ctx.ofd_held]
    for i, (fa, sa, ea) in enumerate(held):
        for fb, sb, eb in held[i + 1 :]:
            if fa != fb and ea >= sb and eb >= sa:
                return f"OFD write locks of {fa} {sa}-{ea} and {fb} {sb}-{eb} are both granted"
    return None


@operation(
    models="a thread of a process opens the file, takes an open file description lock "
    "(fcntl(F_OFD_SETLKW)), then closes it (fs/locks.c)",
    describe=lambda path, process, first: (
        f"open({path}), F_OFD_SETLKW {first} in process {process}, close"
    ),
    cites=(
        locks_cite(
            "fcntl_setlk",
            DELEG_VERSION,
            leaves_out=("spin_lock(&files->file_lock)", "spin_unlock(&files->file_lock)"),
            because="the close/fcntl race check runs for POSIX locks only, not FL_OFDLCK",
        ),
        locks_cite("posix_lock_inode", DELEG_VERSION),
        locks_cite("posix_locks_deadlock", DELEG_VERSION),
        locks_cite("__locks_insert_block", DELEG_VERSION),
        locks_cite(
            "locks_remove_file",
            DELEG_VERSION,
            leaves_out=("file_operations.flock", "file_operations.lock"),
            because="the filesystem has neither ->flock nor ->lock",
        ),
    ),
)
def ofd_lock_range(op: Op, path: str, process: str, first: tuple[int, int]) -> None:
    """A thread of ``process`` with its own open file write-locks ``first``
    with F_OFD_SETLKW: ``fcntl_setlk()`` sets FL_OFDLCK and makes the open
    file the owner (``fl->c.flc_owner = filp``), so two open files of one
    process conflict as two processes' POSIX locks do; the request goes
    through ``posix_lock_inode()`` like F_SETLKW, except that
    ``posix_locks_deadlock()`` returns false for it at once (no -EDEADLK:
    the owner is no thread of execution) and ``__locks_insert_block()``
    keeps it out of ``blocked_hash`` when the blocker is an OFD lock.
    Close (``locks_remove_file()``) releases the file's OFD locks.
    What the model leaves out: the F_OFD_SETLK/F_OFD_GETLK forms,
    ``l_pid`` checks, and ``blocked_hash`` itself (the -EDEADLK chain
    follows the waiters' blockers directly, skipping a waiter whose
    blocker is an OFD lock, as the hash does)."""
    byte_range(first)
    regular_file(op.world, path, "a write lock", WRITE_LOCK_OF_DIRECTORY)
    ctx = context(op.world, path)
    _register_thread(op, ctx, posix=LOCAL)
    file = f"{op.thread.name}:fd"
    owner = process if op.variant(OFD_OWNER_IS_FILES) else file
    label = (
        "fl->c.flc_owner = current->files /* F_SETLKW's owner */"
        if owner == process
        else "case F_OFD_SETLKW: fl->c.flc_flags |= FL_OFDLCK; fl->c.flc_owner = filp"
    )
    op.effect(label, lambda _scratch: None)
    op.run(posix_lock_attempt, ctx, (owner, first[0], first[1], WRITE), False, owner == file)
    op.effect("fcntl(F_OFD_SETLKW) returns 0", _ofd_granted, ctx, (file, first[0], first[1]))
    op.effect("close(fd): locks_remove_file(filp)", _ofd_released, ctx, file)
    op.run(posix_unlock, ctx, owner)


LEASE_CLOSE_SKIPS_WAKEUP = "lease-close-skips-wakeup"
flag_variant(
    LEASE_CLOSE_SKIPS_WAKEUP,
    "locks_remove_lease() takes the closed file's lease off flc_lease onto the dispose list "
    "(list_del_init(), list_add()) without waking its waiters: neither lease_modify()'s nor "
    "locks_unlink_lock_ctx()'s locks_wake_up_blocks() runs, so an opener blocked in "
    "__break_lease() stays on the flc_blocked_requests of a lease that is freed",
)

CLOSE_FILE_CITES = (
    locks_cite(
        "locks_remove_file",
        DELEG_VERSION,
        leaves_out=("file_operations.flock", "file_operations.lock"),
        because="the file's filesystem has neither ->flock nor ->lock: locks_remove_posix() "
        "calls posix_lock_file(), locks_remove_flock() flock_lock_inode()",
    ),
    locks_cite("locks_remove_lease", DELEG_VERSION),
    locks_cite("lease_modify", DELEG_VERSION),
    Cite(
        "fs/file_table.c",
        "__fput",
        "6.17-rc3 (Kingxukai/linux 9b44fff6)",
        leaves_out=("file_operations.fasync", "file_operations.release"),
        because="lease_modify()'s fasync_helper() already took the lease's fasync entry off "
        "(FASYNC is clear), and the file's ->release is left out as in the other filelock/ "
        "operations",
    ),
)


def _render_leasetype(kind: str | None) -> str:
    return kind or f"{UNLOCK} (no lease on the list)"


@touches(_ctx_touches("leases"))
def target_leasetype(scratch: Scratch, ctx: FileLockContext, file: str) -> str:
    """The first lease of ``file`` on the list, as ``target_leasetype()``
    reports it: F_UNLCK once FL_UNLOCK_PENDING is set, F_RDLCK once
    FL_DOWNGRADE_PENDING is, else its type; F_UNLCK when the file holds
    none (``int type = F_UNLCK``)."""
    for holder, kind, pending, _granted in scratch[ctx.leases]:
        if holder == file:
            return UNLOCK if pending == "unlock" else READ if pending == "downgrade" else kind
    return UNLOCK


def fcntl_getlease(op: Op, ctx: FileLockContext, file: str) -> None:
    """``fcntl_getlease()`` (F_GETLEASE) of the open file ``file``, read in
    6.17-rc3 (Kingxukai/linux 0291023e): the lockless
    ``list_empty_careful(&ctx->flc_lease)`` (F_UNLCK at once), then under
    flc_lock :func:`time_out_leases` (``_time_out_leases``: a lease whose
    break time passed goes, waking its breakers) and the type of the file's
    lease (:func:`target_leasetype`), which lands in the register ``type``
    (kept until the thread returns: what F_GETLEASE returned);
    flc_lock dropped, then ``locks_dispose_list()``, which frees the leases
    ``time_out_leases()`` removed (``locks_free_lease()``: no method, no
    lock; not a step).  Left out: ``file_rwsem`` (``locks_cite``) and the
    ``fl_downgrade_time`` half of ``time_out_leases()`` (the model's holders
    never let a downgrade time out)."""
    flc = ctx.flc_lock
    op.goto_if(
        shared_is(ctx.leases, "list_empty_careful(&ctx->flc_lease)", lambda v: not v),
        "done",
        "if (!ctx || list_empty_careful(&ctx->flc_lease)) return F_UNLCK",
    )
    op.lock(flc, EXCL, "fcntl_getlease(): spin_lock(&ctx->flc_lock)")
    _time_out_leases(op, ctx, "time_out_leases(inode, &dispose)")
    op.register("type", _render_leasetype)
    op.compute(
        "type",
        "list_for_each_entry(fl, &ctx->flc_lease, c.flc_list) if (fl->c.flc_file == filp) "
        "{ type = target_leasetype(fl); break; }",
        target_leasetype,
        ctx,
        file,
        render=_render_leasetype,
    )
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
    op.label("done")


@touches(_ctx_touches("leases"))
def _holds_lease(scratch: Scratch, ctx: FileLockContext, file: str) -> bool:
    return any(holder == file for holder, _t, _p, _g in scratch[ctx.leases])


@touches(_ctx_touches("blocked"))
def _free_leases(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    """``locks_dispose_list()`` of the lease :func:`locks_remove_lease`
    removed, after flc_lock: 6.17's ``locks_free_lease()`` frees it (5.15's
    ``locks_free_lock()`` first runs ``locks_release_private()``, which
    BUG()s on a lease with waiters; a lease has no ``->fl_release_private``
    and ``lease_manager_ops`` no ``->lm_put_owner``).  A breaker still
    queued on it is a lock-protocol error: ``lease_modify()`` woke it under
    flc_lock, or it sleeps on a freed lease until ``lease_break_time`` and
    then unlinks itself from the freed list (``__locks_delete_block()``)."""
    left = sorted(
        w[1] for w in scratch[ctx.blocked] if w[0] == "lease" and w[5] == file and w[6] == ctx.path
    )
    if left:
        scratch.violate(
            LOCK_PROTOCOL,
            f"{file}'s lease is freed at its last fput (locks_dispose_list()) with "
            f"{', '.join(left)} still blocked on it in __break_lease(): nothing called "
            "locks_wake_up_blocks() (lease_modify()) under flc_lock, so the breaker sleeps "
            "lease_break_time on freed memory and then unlinks itself from the freed lease's "
            "flc_blocked_requests (5.15's locks_release_private() BUG()s on that list instead)",
        )


def locks_remove_lease(op: Op, ctx: FileLockContext, file: str) -> None:
    """``locks_remove_lease(filp, ctx)``, read in 6.17-rc3 (Kingxukai/linux
    0291023e): the lockless ``list_empty(&ctx->flc_lease)``, then under
    flc_lock ``lease_modify(fl, F_UNLCK, &dispose)`` for each lease of the
    file, called directly, not through ``->lm_change`` (whatever the lease's
    lock manager): ``lease_clear_pending()``, ``locks_wake_up_blocks()``
    (:func:`wake_up_blocks`: ``blocked_lock_lock`` only when a breaker is
    queued on the lease), ``f_delown()`` (``f_owner->lock``, an rwlock_t:
    left out), ``fasync_helper(0, ...)`` (:func:`fasync_remove_entry`:
    ``filp->f_lock``, then ``fasync_lock``) and ``locks_delete_lock_ctx()``
    (whose ``locks_unlink_lock_ctx()`` calls ``locks_wake_up_blocks()``
    again, with nobody left to wake: part of that step); flc_lock dropped,
    then ``locks_dispose_list()`` (:func:`_free_leases`).  No
    ``->lm_notify`` is called: ``__locks_wake_up_blocks()`` calls it only
    for a POSIX or flock waiter, and a breaker's request is a lease.  Each
    file holds one lease in the models.  Left out, as in the rest of the
    models: ``file_rwsem`` and the per-CPU ``file_lock_list`` spinlock
    ``locks_delete_global_locks()`` takes (the /proc/locks list)."""
    flc = ctx.flc_lock
    op.goto_if(
        shared_is(ctx.leases, "list_empty(&ctx->flc_lease)", lambda v: not v),
        "out",
        "locks_remove_lease(filp, ctx): if (list_empty(&ctx->flc_lease)) return",
    )
    op.lock(flc, EXCL, "locks_remove_lease(): spin_lock(&ctx->flc_lock)")
    held = op.register("dispose", yes_no)
    op.compute(
        "dispose",
        "list_for_each_entry_safe(fl, tmp, &ctx->flc_lease, c.flc_list) "
        "if (filp == fl->c.flc_file)",
        _holds_lease,
        ctx,
        file,
        render=yes_no,
    )
    skips_wakeup = op.variant(LEASE_CLOSE_SKIPS_WAKEUP)
    with op.when(
        register_is(held, "fl", bool),
        "if (filp == fl->c.flc_file) lease_modify(fl, F_UNLCK, &dispose)",
    ):
        if not skips_wakeup:
            wake_up_blocks(op, ctx, "lease", file)
        fasync_remove_entry(
            op, holder_file(op, ctx, file), "lease_modify(): fasync_helper(0, filp, 0, ...)"
        )
        op.effect(
            "list_del_init(&fl->c.flc_list); list_add(&fl->c.flc_list, dispose) /* no wake-up */"
            if skips_wakeup
            else "locks_delete_lock_ctx(&fl->c, dispose)",
            _unlink_lease,
            ctx,
            file,
        )
    op.unlock(flc, "spin_unlock(&ctx->flc_lock)")
    with op.when(register_is(held, "dispose", bool), "if (!list_empty(dispose))"):
        op.effect("locks_dispose_list(&dispose): locks_free_lease(fl)", _free_leases, ctx, file)
    op.label("out")


@touches(_ctx_touches("leases", "flock"))
def _check_file_lists(scratch: Scratch, ctx: FileLockContext, file: str) -> None:
    """``locks_check_ctx_file_list()`` of the flock and lease lists: a lock
    of the closed file still there is the kernel's "Leaked ... lock"
    warning (the model's POSIX locks do not record their struct file)."""
    kinds = [
        kind
        for kind, held in (
            ("FLOCK", any(f == file for f, _k in scratch[ctx.flock])),
            ("LEASE", any(f == file for f, _t, _p, _g in scratch[ctx.leases])),
        )
        if held
    ]
    if kinds:
        scratch.violate(
            LOCK_PROTOCOL,
            f"locks_remove_file() leaves {' and '.join(kinds)} lock of {file} on the lists of "
            f"{ctx.path} after its last fput: 'Leaked {kinds[0]} lock' "
            "(locks_check_ctx_file_list())",
        )


def locks_remove_file(op: Op, ctx: FileLockContext, file: str) -> None:
    """``locks_remove_file(filp)``, called by ``__fput()`` at the last
    reference, read in 6.17-rc3 (Kingxukai/linux 0291023e): in order
    ``locks_remove_posix(filp, filp)`` (the file's OFD locks: the lockless
    ``list_empty(&ctx->flc_posix)``, else an F_UNLCK through
    ``posix_lock_file()``, :func:`posix_unlock` of the owner ``T<n>:fd``
    for a thread's own file, as :func:`ofd_lock_range` names it, or of the
    shared file), ``locks_remove_flock()`` (the lockless
    ``list_empty(&flctx->flc_flock)``, else ``flock_lock_inode()`` F_UNLCK,
    :func:`flock_lock_inode_wait`), :func:`locks_remove_lease`, then under
    flc_lock ``locks_check_ctx_file_list()`` of the three lists
    (:func:`_check_file_lists`).  Each takes flc_lock on its own, never
    two at once, as the kernel does."""
    ofd = f"{file}:fd" if file == op.thread.name else file
    op.goto_if(
        shared_is(ctx.posix, "list_empty(&ctx->flc_posix)", lambda v: not v),
        "no_ofd",
        "locks_remove_posix(filp, filp): if (!ctx || list_empty(&ctx->flc_posix)) return",
    )
    op.run(posix_unlock, ctx, ofd)
    op.label("no_ofd")
    op.goto_if(
        shared_is(ctx.flock, "list_empty(&flctx->flc_flock)", lambda v: not v),
        "no_flock",
        "locks_remove_flock(filp, ctx): if (list_empty(&flctx->flc_flock)) return",
    )
    op.run(flock_lock_inode_wait, ctx, file, UNLOCK)
    op.label("no_flock")
    op.run(locks_remove_lease, ctx, file)
    op.section(
        ctx.flc_lock,
        "spin_lock(&ctx->flc_lock); locks_check_ctx_file_list(filp, &ctx->flc_posix, "
        '"POSIX") ... (&ctx->flc_lease, "LEASE"); spin_unlock(&ctx->flc_lock)',
        _check_file_lists,
        ctx,
        file,
    )


LEASED_FILES = "files leased through"
"""The world part of the (path, shared open file) pairs :func:`lease_then_close`
takes its lease through."""
FILE_CLOSERS = "locks_remove_file closers"
"""The world part naming, by (path, shared open file), the threads whose
close runs :func:`close_file` (the whole of ``locks_remove_file()``)."""


def _partial_closers(world: World, ctx: FileLockContext, file: str, closers: list[str]) -> str:
    """What a scenario lacks when a thread shares ``file``, through which
    :func:`lease_then_close` takes a lease, with a :func:`close_file` thread
    but closes it another way (``flock_lock`` and ``flock_upgrade`` run
    ``locks_remove_flock()`` alone at their last fput: were theirs the last,
    the lease would stay on the list)."""
    others = [name for name in ctx.sharers.get(file, []) if name not in closers]
    if not others or (ctx.path, file) not in world.parts.get(LEASED_FILES, set()):
        return ""
    return (
        f"{', '.join(others)} share{'s' if len(others) == 1 else ''} the open file {file} of "
        f"{ctx.path} with {', '.join(closers)} but close{'s' if len(others) == 1 else ''} it "
        "through locks_remove_flock() alone (flock_lock, flock_upgrade), which would leave "
        f"the lease of {file} behind at the last fput: give every thread sharing it an "
        "operation that closes it through locks_remove_file() (lease_then_close, getlease)"
    )


def close_file(op: Op, ctx: FileLockContext, file: str) -> None:
    """close(2) of the thread's descriptor of ``file``, read in 6.17-rc3:
    ``filp_flush()``'s ``locks_remove_posix(filp, current->files)`` (the
    process's POSIX locks: the lockless ``list_empty(&ctx->flc_posix)``,
    else :func:`posix_unlock`), then ``fput()``: on the last reference
    (``f_count``, counted for a shared file as :func:`_close_flocked` counts
    it; a thread's own file has no other) ``__fput()`` runs
    :func:`locks_remove_file`, then ``i_readcount_dec()`` (the open leaves
    ``opens``).  Left out of ``__fput()``: fsnotify, eventpoll, ->fasync
    (FASYNC is clear once ``lease_modify()`` removed the lease's entry),
    ->release and the deferral of the last fput to task work."""
    op.goto_if(
        shared_is(ctx.posix, "list_empty(&ctx->flc_posix)", lambda v: not v),
        "flushed",
        "filp_flush(): locks_remove_posix(filp, id): if (!ctx || list_empty(&ctx->flc_posix)) "
        "return",
    )
    op.run(posix_unlock, ctx, op.thread.name)
    op.label("flushed")
    if file != op.thread.name:
        closers = op.world.parts.setdefault(FILE_CLOSERS, {}).setdefault((ctx.path, file), [])
        closers.append(op.thread.name)
        op.check_scenario(lambda world: _partial_closers(world, ctx, file, closers))
        last = op.register("last", yes_no)
        op.compute(
            "last",
            "fput(file): if (atomic_long_dec_and_test(&file->f_count)) /* the last reference */",
            _put_file,
            _file_references(op, file),
            render=yes_no,
        )
        op.goto_if(not_(register_is(last, "last", bool)), "done", "if (!the last reference)")
    op.run(locks_remove_file, ctx, file)
    op.effect("__fput(): i_readcount_dec(inode)", _close, ctx, file)
    op.label("done")


def _open_for_reading(op: Op, ctx: FileLockContext, file: str) -> None:
    """The thread's process holds ``file`` open for reading from the start."""
    op.world.initial[ctx.opens] = tuple(sorted({*op.world.initial[ctx.opens], (file, "R", True)}))


@operation(
    models="fcntl(F_SETLEASE) on a file open for reading, then close(2) without F_UNLCK: the "
    "last fput's locks_remove_file() removes the lease (fs/locks.c, fs/file_table.c)",
    describe=lambda path, kind, file="": (
        f"F_SETLEASE {kind} on {path}" + (f" ({file})" if file else "") + ", close"
    ),
    cites=(
        setlease_cite(DELEG_VERSION),
        locks_cite("check_conflicting_open", DELEG_VERSION),
        CLOSE_CITE,
        *CLOSE_FILE_CITES,
    ),
)
def lease_then_close(op: Op, path: str, kind: str, file: str = "") -> None:
    """A process holding ``path`` open for reading takes a lease of type
    ``kind`` (:func:`generic_add_lease`) and closes its descriptor without
    giving the lease up (:func:`close_file`): the lease goes at the last
    fput of the file, ``locks_remove_file()`` -> ``locks_remove_lease()``,
    which wakes the openers blocked on it.  ``file`` names the open file, as
    for :func:`flock_lock`: by default the thread's own, which its close
    releases; one that several threads name is shared (parent and child
    after fork()), and the last of them to close it removes the lease.
    Only one thread takes a lease on a shared file (generic_add_lease()'s
    ``my_fl`` path, a holder changing its lease, is not modelled)."""
    if kind not in (READ, WRITE):
        raise ModelError(f"lease type {kind!r}: F_SETLEASE takes {READ!r} or {WRITE!r}")
    regular_file(op.world, path, "a lease", LEASE_OF_DIRECTORY)
    ctx = context(op.world, path)
    _register_thread(op, ctx)
    file = _open_file(op, ctx, file)
    if file != op.thread.name:
        op.one_thread(
            "takes a lease on",
            f"{path} through {file}",
            "one lease per open file: generic_add_lease()'s my_fl path (a holder changing its "
            "own lease) is not modelled",
        )
        op.world.parts.setdefault(LEASED_FILES, set()).add((path, file))
    _open_for_reading(op, ctx, file)
    op.run(generic_add_lease, ctx, file, kind)
    op.run(close_file, ctx, file)


@operation(
    models="fcntl(F_GETLEASE) on a file open for reading, then close(2) (fs/locks.c)",
    describe=lambda path, file="": (
        f"F_GETLEASE on {path}" + (f" ({file})" if file else "") + ", close"
    ),
    cites=(
        locks_cite("fcntl_getlease", DELEG_VERSION),
        locks_cite("time_out_leases", DELEG_VERSION),
        CLOSE_CITE,
        *CLOSE_FILE_CITES,
    ),
)
def getlease(op: Op, path: str, file: str = "") -> None:
    """A process holding ``path`` open for reading asks which lease its open
    file holds (:func:`fcntl_getlease`: F_RDLCK, F_WRLCK, or what a pending
    break asks for, F_UNLCK or F_RDLCK; F_UNLCK with none), then closes its
    descriptor (:func:`close_file`).  ``file`` as for
    :func:`lease_then_close`: a shared open file asks about the lease
    another thread took through it, and whichever of them closes it last
    removes that lease."""
    ctx = context(op.world, path)
    _register_thread(op, ctx)
    file = _open_file(op, ctx, file)
    _open_for_reading(op, ctx, file)
    op.run(fcntl_getlease, ctx, file)
    op.run(close_file, ctx, file)
