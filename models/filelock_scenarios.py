"""Scenarios of file locks and leases (``filelock/<name>``), the
invariants that say what ``flc_lock`` and ``blocked_lock_lock`` protect,
and the protocol variants they catch (``mc.models.filelock``)."""

from __future__ import annotations

from collections.abc import Callable

from mc.dsl import BASE_PROPERTIES, State, invariant, scenario, step_invariant
from mc.dsl.kernel_model import KernelModel
from mc.engine.model import Check
from mc.kernel.pagecache import File
from mc.models.filelock import (
    LEASE_BREAK_SIGNALLED,
    READ,
    FileLockContext,
    chmod_breaking_delegation,
    deleg_laundromat,
    delegate,
    delegate_then_setattr,
    exclusion_violation,
    flock_lock,
    flock_upgrade,
    getlease,
    laundromat,
    lease_never_answered,
    lease_then_close,
    lease_violation,
    lock_contexts,
    lock_range,
    lock_two_files,
    lock_two_ranges,
    lockd_deferred,
    lockd_lock,
    nfsd_release_lockowner,
    ofd_lock_range,
    ofd_violation,
    open_for_write,
    plock_callback,
    setattr_violation,
    take_lease,
    truncate_breaking_lease,
    unlink_breaking_delegation,
    unlink_violation,
    wrong_edeadlk,
)
from mc.models.super import kernel_freeze

FILELOCK_EXCLUSION = "filelock-exclusion"
LEASE_VS_OPEN = "lease-vs-open"
EDEADLK_EXACT = "edeadlk-exact"


def _of_context(
    violation: Callable[[State, FileLockContext], str | None],
) -> Callable[[KernelModel], Check[State]]:
    """The check ``violation(state, ctx)`` of the lock context of every file
    with locks or leases (its path before the message where there are
    several)."""

    def make(model: KernelModel) -> Check[State]:
        contexts = lock_contexts(model.world)
        named = len(contexts) > 1

        def check(state: State) -> str | None:
            for ctx in contexts:
                found = violation(state, ctx)
                if found is not None:
                    return f"{ctx.path}: {found}" if named else found
            return None

        return check

    return make


@invariant(
    FILELOCK_EXCLUSION,
    "no two conflicting POSIX locks (other owners, overlapping, one a write lock) and no "
    "two conflicting flocks (other files, one exclusive) are held at once, and no open file "
    "holds two flocks (flock_lock_inode() replaces its lock under flc_lock)",
    reads=["flc_posix", "flc_flock"],
    needs=("filelock:lock", "a POSIX lock or a flock (fcntl(2) F_SETLK/F_SETLKW, flock(2))"),
)
def filelock_exclusion(model: KernelModel) -> Check[State]:
    return _of_context(exclusion_violation)(model)


@invariant(
    LEASE_VS_OPEN,
    "no open goes past break_lease() while a conflicting lease of another file is granted, "
    "so no lease is granted while a conflicting open is in progress",
    reads=["opens", "flc_lease"],
    needs=("filelock:lease", "a lease (F_SETLEASE, or an nfsd delegation)"),
)
def lease_vs_open(model: KernelModel) -> Check[State]:
    return _of_context(lease_violation)(model)


@invariant(
    EDEADLK_EXACT,
    "an F_SETLKW request gets -EDEADLK exactly when waiting would close a cycle of the "
    "POSIX owners' waits-for graph, in which a blocked request waits for the owner of the "
    "lock it is queued behind (fl_blocker, the first conflicting lock): no false -EDEADLK, "
    "no sleep that closes a cycle (the kernel promises this only for owners that are single "
    "processes and chains shorter than MAX_DEADLK_ITERATIONS, 10: posix_locks_deadlock() "
    "bails out after that, and threads sharing a file table defeat it; the scenarios that "
    "check it stay within that; a cycle through a second conflicting lock is found when the "
    "request retries once its blocker's lock is gone)",
    reads=["posix deadlock verdicts"],
    needs=("filelock:setlkw", "a blocking POSIX lock request (F_SETLKW)"),
)
def edeadlk_exact(model: KernelModel) -> Check[State]:
    """The decisions of every file's requests are in one slot (the
    waits-for graph spans files): checked once, with no file named."""
    contexts = lock_contexts(model.world)
    if not contexts:
        return lambda _state: None
    first = contexts[0]
    return lambda state: wrong_edeadlk(state, first)


step_invariant(
    LEASE_BREAK_SIGNALLED,
    "a lease break's SIGIO reaches the lease's holder: ->lm_break (lease_break_callback()) "
    "finds the fasync entry ->lm_setup (lease_setup()) gave the lease under the flc_lock that "
    "made it visible",
    needs=("filelock:lease", "a lease (F_SETLEASE, or an nfsd delegation)"),
)
LEASE_PROPERTIES = (*BASE_PROPERTIES, LEASE_VS_OPEN, LEASE_BREAK_SIGNALLED)

FILELOCK_PROPERTIES = (*BASE_PROPERTIES, FILELOCK_EXCLUSION)

scenario(
    "filelock/posix-abba",
    "two processes write-lock two byte ranges of one file in opposite orders (F_SETLKW)",
    tree=["/f"],
    threads=[lock_two_ranges("/f", (0, 9), (10, 19)), lock_two_ranges("/f", (10, 19), (0, 9))],
    properties=FILELOCK_PROPERTIES,
)

scenario(
    "filelock/posix-abba-two-files",
    "two processes write-lock bytes 0-9 of /f and /g in opposite orders (F_SETLKW), checking "
    "each -EDEADLK decision: only blocked_lock_lock orders the deadlock check of one file's "
    "request against the other file's insertion into blocked_hash",
    tree=["/f", "/g"],
    threads=[lock_two_files("/f", "/g", (0, 9)), lock_two_files("/g", "/f", (0, 9))],
    properties=(*FILELOCK_PROPERTIES, EDEADLK_EXACT),
)

scenario(
    "filelock/posix-abba-edeadlk",
    "filelock/posix-abba, checking each -EDEADLK decision against the waits-for graph",
    tree=["/f"],
    threads=[lock_two_ranges("/f", (0, 9), (10, 19)), lock_two_ranges("/f", (10, 19), (0, 9))],
    properties=(*FILELOCK_PROPERTIES, EDEADLK_EXACT),
)

scenario(
    "filelock/posix-chain",
    "three processes lock ranges in a chain that closes no cycle: A then B, B then C, C",
    tree=["/f"],
    threads=[
        lock_two_ranges("/f", (0, 9), (10, 19)),
        lock_two_ranges("/f", (10, 19), (20, 29)),
        lock_range("/f", (20, 29)),
    ],
    properties=(*FILELOCK_PROPERTIES, EDEADLK_EXACT),
)

scenario(
    "filelock/posix-second-blocker",
    "T1 holds 0-9 and asks for 10-29, held by T2 (10-19) and T3 (20-29); T3 holds 20-29 and "
    "asks for 0-9: T1 queued behind T2 alone, T3's wait closes no cycle yet, and T1 gets "
    "-EDEADLK when it retries after T2 unlocks",
    tree=["/f"],
    threads=[
        lock_two_ranges("/f", (0, 9), (10, 29)),
        lock_range("/f", (10, 19)),
        lock_two_ranges("/f", (20, 29), (0, 9)),
    ],
    properties=(*FILELOCK_PROPERTIES, EDEADLK_EXACT),
)

scenario(
    "filelock/flock-upgrade",
    "two processes take a shared flock of one file and both upgrade it to exclusive",
    tree=["/f"],
    threads=[flock_upgrade("/f"), flock_upgrade("/f")],
    properties=FILELOCK_PROPERTIES,
)

scenario(
    "filelock/flock-shared-file",
    "a process upgrades its shared flock of one file to exclusive while its child, which "
    "shares the open file since fork(), takes a shared flock on it",
    tree=["/f"],
    threads=[flock_upgrade("/f", "filp"), flock_lock("/f", "LOCK_SH", "filp")],
    properties=FILELOCK_PROPERTIES,
)

scenario(
    "filelock/lease-vs-open",
    "a process takes a read lease on a file it has open for reading while another opens "
    "the file for writing",
    tree=["/f"],
    threads=[take_lease("/f", READ), open_for_write("/f")],
    properties=LEASE_PROPERTIES,
)

scenario(
    "filelock/lease-close-vs-break",
    "a process takes a read lease through an open file it shares with its child and closes "
    "it without F_UNLCK while another process opens the file for writing (breaking the "
    "lease) and the child asks F_GETLEASE, then closes it too: the last fput removes the "
    "lease and wakes the opener",
    tree=["/f"],
    threads=[lease_then_close("/f", READ, "filp"), open_for_write("/f"), getlease("/f", "filp")],
    properties=LEASE_PROPERTIES,
)

scenario(
    "filelock/two-leases-vs-open",
    "two processes each take a read lease on a file they have open for reading while "
    "another opens the file for writing: the opener blocks on the first lease, then "
    "must find the second",
    tree=["/f"],
    threads=[take_lease("/f", READ), take_lease("/f", READ), open_for_write("/f")],
    properties=LEASE_PROPERTIES,
)

scenario(
    "filelock/lease-vs-truncate",
    "a process takes a read lease on a file it has open for reading while another "
    "truncates the file by name (truncate(2))",
    tree=["/f"],
    threads=[take_lease("/f", READ), truncate_breaking_lease(File("/f", pages=1), 0)],
    properties=LEASE_PROPERTIES,
)

scenario(
    "filelock/delegation-vs-open",
    "nfsd hands out a read delegation of a file while a local process opens it for writing",
    tree=["/f"],
    threads=[delegate("/f"), open_for_write("/f")],
    properties=(*BASE_PROPERTIES, LEASE_VS_OPEN),
)

scenario(
    "filelock/lockd-notify",
    "lockd's blocking NLM_LOCK of a range a local process holds, woken by ->lm_notify",
    tree=["/f"],
    threads=[lock_range("/f", (0, 9)), lockd_lock("/f", (0, 9))],
    properties=(*FILELOCK_PROPERTIES, EDEADLK_EXACT),
)

scenario(
    "filelock/lockd-deferred-grant",
    "lockd's NLM_LOCK on a cluster filesystem, deferred and granted through ->lm_grant",
    tree=["/f"],
    threads=[lockd_deferred("/f", (0, 9)), plock_callback("/f", "T1", (0, 9))],
    properties=FILELOCK_PROPERTIES,
)

scenario(
    "filelock/courtesy-lock",
    "a process write-locks a range an nfsd courtesy client still holds: "
    "->lm_lock_expirable, ->lm_expire_lock and the laundromat",
    tree=["/f"],
    threads=[lock_range("/f", (0, 9)), laundromat("/f")],
    properties=FILELOCK_PROPERTIES,
)

DELEG_VS_UNLINK = "deleg-vs-unlink"


@invariant(
    DELEG_VS_UNLINK,
    "no unlink(2) removes a name while another client's delegation of the file is granted "
    "(vfs_unlink() breaks delegations under the victim's i_rwsem, which nfsd's "
    "generic_add_lease() trylocks)",
    reads=["opens", "flc_lease"],
    needs=("filelock:delegation", "an nfsd delegation"),
)
def deleg_vs_unlink(model: KernelModel) -> Check[State]:
    return _of_context(unlink_violation)(model)


scenario(
    "filelock/unlink-vs-delegation",
    "a local unlink(2) of a file nfsd delegates to a client, which sends a SETATTR "
    "(i_rwsem) before it returns the delegation",
    tree=["/f"],
    threads=[delegate_then_setattr("/f"), unlink_breaking_delegation("/f")],
    properties=(*BASE_PROPERTIES, DELEG_VS_UNLINK),
)

scenario(
    "filelock/unlink-vs-delegation-revoked",
    "filelock/unlink-vs-delegation with nfsd's laundromat, which may revoke the recalled "
    "delegation before the client returns it",
    tree=["/f"],
    threads=[
        delegate_then_setattr("/f"),
        unlink_breaking_delegation("/f"),
        deleg_laundromat("/f"),
    ],
    properties=(*BASE_PROPERTIES, DELEG_VS_UNLINK),
)

scenario(
    "filelock/unlink-vs-delegation-frozen",
    "filelock/unlink-vs-delegation-revoked racing a kernel freeze: the unlink waits for the "
    "delegation with SB_FREEZE_WRITE held, the freeze waits for the unlink, the client's "
    "SETATTR for the freeze, until the laundromat revokes the delegation",
    tree=["/f"],
    threads=[
        delegate_then_setattr("/f"),
        unlink_breaking_delegation("/f"),
        kernel_freeze(File("/f", pages=1)),
        deleg_laundromat("/f"),
    ],
    properties=(*BASE_PROPERTIES, DELEG_VS_UNLINK),
)

scenario(
    "filelock/release-lockowner-vs-deleg-break",
    "nfsd delegates /f to one client while another client's lockowner, holding a POSIX lock "
    "of /f, sends RELEASE_LOCKOWNER (check_for_locks(): flc_lock inside fi_lock) and a local "
    "unlink(2) breaks the delegation (nfsd_break_deleg_cb() under flc_lock)",
    tree=["/f"],
    threads=[
        delegate("/f"),
        nfsd_release_lockowner("/f", (0, 9)),
        unlink_breaking_delegation("/f"),
    ],
    properties=(*FILELOCK_PROPERTIES, DELEG_VS_UNLINK),
)

DELEG_VS_SETATTR = "deleg-vs-setattr"


@invariant(
    DELEG_VS_SETATTR,
    "no chmod(2) changes a file's mode while another client's delegation of the file is "
    "granted (notify_change() breaks delegations under the inode's i_rwsem, which nfsd's "
    "generic_add_lease() trylocks)",
    reads=["opens", "flc_lease"],
    needs=("filelock:delegation", "an nfsd delegation"),
)
def deleg_vs_setattr(model: KernelModel) -> Check[State]:
    return _of_context(setattr_violation)(model)


scenario(
    "filelock/chmod-vs-delegation",
    "a local chmod(2) of a file nfsd delegates to a client, which sends a SETATTR (i_rwsem) "
    "before it returns the delegation",
    tree=["/f"],
    threads=[delegate_then_setattr("/f"), chmod_breaking_delegation("/f", 0o600)],
    properties=(*BASE_PROPERTIES, DELEG_VS_SETATTR),
)

scenario(
    "filelock/lease-timeout",
    "a process takes a read lease and never answers its break while another opens the file "
    "for writing: the opener waits lease_break_time, then time_out_leases() removes the lease",
    tree=["/f"],
    threads=[lease_never_answered("/f", READ), open_for_write("/f")],
    properties=LEASE_PROPERTIES,
)

OFD_EXCLUSION = "ofd-exclusion"


@invariant(
    OFD_EXCLUSION,
    "no two open files are granted overlapping OFD write locks at once, even when one "
    "process opened both (the owner of an OFD lock is the open file)",
    reads=["OFD locks granted"],
    needs=("filelock:ofd", "an OFD lock (F_OFD_SETLKW)"),
)
def ofd_exclusion(model: KernelModel) -> Check[State]:
    return _of_context(ofd_violation)(model)


scenario(
    "filelock/ofd-threads",
    "two threads of one process, each with its own open file of /f, write-lock the same "
    "range with F_OFD_SETLKW",
    tree=["/f"],
    threads=[ofd_lock_range("/f", "P1", (0, 9)), ofd_lock_range("/f", "P1", (0, 9))],
    properties=(*FILELOCK_PROPERTIES, OFD_EXCLUSION),
)
