"""Page faults on a shared writable file mapping (Linux 6.6): a load or
store the CPU makes at a byte of the mapping, and the fault it takes when
the pte does not allow it, through mm/memory.c (``handle_mm_fault()`` ->
``do_read_fault()``, ``do_shared_fault()``, ``wp_page_shared()``, with
``do_page_mkwrite()``, ``finish_fault()`` and
``fault_dirty_shared_page()``) into the filesystem's vm_operations:
``->map_pages`` and ``->fault`` are mm/filemap.c's
``filemap_map_pages()`` and ``filemap_fault()``, ``->page_mkwrite`` is
``mc.models.blockfs_truncate.page_mkwrite``.

Every function emits the steps for one page of the file (the page index
of a symbolic position is enumerated first); ``at`` keeps the labels and
registers of one access apart from another's.

The setting ``fault-under-vma-lock`` is 6.7+'s (read in 6.13-era mm/memory.c and
mm/filemap.c of the search index): ``->fault`` and ``->page_mkwrite`` called under the
per-VMA lock alone (``fault_under_vma_lock()``), the lock a fault holds passed down as a
``FaultLock``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs

from mc.dsl.callers import caller_source
from mc.dsl.folio import find_folio, folio_ref, hold_folio, new_folio, put_folio, wait_locked
from mc.dsl.operation import Op
from mc.dsl.scenario import flag_variant
from mc.dsl.steps import EffectStep
from mc.dsl.symbolic_steps import fork_compute
from mc.kernel.expr import Eval, Expr, LockExpr, all_of, any_of, const, not_
from mc.kernel.locks import SHARED, Lock, holds
from mc.kernel.mm import (
    PTE_DIRTY,
    PTE_WRITE,
    VM_FAULT_LOCKED,
    VM_FAULT_NOPAGE,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    Mm,
    make_pte,
    maps_cached,
    pte_folio,
    render_pte,
    render_vm_fault,
    set_pte,
    vm_fault,
)
from mc.kernel.pagecache import (
    PG_UPTODATE,
    Mapping,
    Page,
    cached_unlocked,
    present,
)
from mc.kernel.pagedata import fill, render_versions, versions_in
from mc.kernel.pathcond import Value, add, is_true
from mc.kernel.world import Scratch, World
from mc.models import blockfs, blockfs_truncate
from mc.models.writeback import locked_test, readahead_page


def _cached_uptodate(scratch: Scratch, page: Page) -> int | None:
    folio = scratch[page.folio]
    if folio is None or not folio[1] & PG_UPTODATE:
        return None
    return scratch[page.ident]  # type: ignore[no-any-return]


def vm_fault_is(register: Expr, code: int) -> Expr:
    """The fault register holds ``code``."""

    def build(world: World) -> Eval:
        get = register.compile(world)
        return lambda state: get(state) == code

    return Expr(f"{register} == {render_vm_fault(code)}", build, register.local)


def vm_fault_has(register: Expr, mask: int) -> Expr:
    """The fault register has a bit of ``mask`` (``ret & mask``; a register
    not set yet has none)."""

    def build(world: World) -> Eval:
        get = register.compile(world)
        return lambda state: bool((get(state) or 0) & mask)

    return Expr(f"{register} & {render_vm_fault(mask)}", build, register.local)


FAULT_ENDS = VM_FAULT_SIGBUS | VM_FAULT_NOPAGE | VM_FAULT_RETRY
"""``VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY`` of the bits the
model has (of ``VM_FAULT_ERROR``, SIGBUS): a ``->fault`` result with one
of them ends the fault with it."""
MKWRITE_ENDS = VM_FAULT_SIGBUS | VM_FAULT_NOPAGE
"""``VM_FAULT_ERROR | VM_FAULT_NOPAGE`` of the bits the model has."""

NO_FAULT_AROUND = "no-fault-around"
flag_variant(
    NO_FAULT_AROUND,
    "should_fault_around() is false (fault_around_bytes set to PAGE_SIZE in debugfs, a VMA "
    "registered with userfaultfd, or vm_operations without ->map_pages): a read fault goes "
    "to ->fault directly, without filemap_map_pages() first",
)


FAULT_UNDER_VMA_LOCK = "fault-under-vma-lock"
flag_variant(
    FAULT_UNDER_VMA_LOCK,
    "6.7+: ->fault and ->page_mkwrite run under the per-VMA lock when the VMA has ->map_pages "
    "(vmf_can_call_fault()): do_read_fault(), do_shared_fault() and wp_page_shared() call them "
    "holding the VMA lock alone, which filemap_fault() and fault_dirty_shared_page() release "
    "(release_fault_lock()) where 6.6 released mmap_lock",
    waives=[
        "vm_operations_struct.fault mmap_lock(mm)",
        "vm_operations_struct.page_mkwrite mmap_lock(mm)",
    ],
)

VM_FAULT_COMPLETED = 0x4000
"""``VM_FAULT_COMPLETED`` (include/linux/mm_types.h): the fault is done and
released the fault lock itself (``fault_dirty_shared_page()``)."""


def render_fault_result(code: int | None) -> str:
    """A fault's ``vm_fault_t``: ``render_vm_fault()``, and ``VM_FAULT_COMPLETED``."""
    return "VM_FAULT_COMPLETED" if code == VM_FAULT_COMPLETED else render_vm_fault(code)


def _dropped(op: Op, lock: Lock | LockExpr) -> Expr:
    """``fpin``: this fault released ``lock`` (``maybe_unlock_mmap_for_io()`` pinned the file
    and called ``release_fault_lock()``).  Whether the thread holds the lock changes by its own
    steps only, so the test commutes with the other threads' steps."""
    tid = op.thread.tid

    def build(world: World) -> Eval:
        which = lock.compile(world) if isinstance(lock, LockExpr) else lambda _state: lock

        def released(state: Any) -> bool:
            held = which(state)
            return held is None or not holds(held.kind, state[held.slot], tid)

        return released

    return Expr("fpin", build, local=True)


@attrs.frozen
class FaultLock:
    """The lock a fault holds, which ``release_fault_lock()`` (include/linux/mm.h, Linux 6.6
    and 6.12) releases: mmap_lock, or under FAULT_FLAG_VMA_LOCK the VMA's lock
    (``vma_end_read()``).  ``tried`` is FAULT_FLAG_TRIED, ``fpin`` whether the fault released
    the lock; ``major``, under the VMA lock, names the register a page-cache miss marks
    (``ret = VM_FAULT_MAJOR``), which is FAULT_FLAG_TRIED of the mmap_lock retry (6.8+
    ``do_user_addr_fault()``); the model keeps no other trace of VM_FAULT_MAJOR."""

    lock: Lock | LockExpr
    name: str
    tried: Expr
    fpin: Expr
    major: str | None = None


def mmap_fault_lock(op: Op, mm: Mm, at: str) -> FaultLock:
    """mmap_lock, held by the fault at ``at`` (its FAULT_FLAG_TRIED in register ``tried``)."""
    return FaultLock(
        mm.mmap_lock, "mmap_lock", is_true(op.reg(f"tried{at}")), _dropped(op, mm.mmap_lock)
    )


def maybe_unlock_mmap_for_io(op: Op, held: FaultLock, label: str) -> None:
    """``maybe_unlock_mmap_for_io()`` (mm/filemap.c, Linux 6.6; mm/internal.h, 6.12): on the
    first attempt of a fault that may be retried (``fault_flag_allow_retry_first()``:
    FAULT_FLAG_ALLOW_RETRY without FAULT_FLAG_TRIED) the file is pinned and the fault lock
    released (``release_fault_lock()``) before the fault sleeps on I/O; a retried fault keeps
    mmap_lock."""
    with op.when(
        all_of(not_(held.tried), not_(held.fpin)),
        "if (!fpin && fault_flag_allow_retry_first(flags)) /* first attempt */",
    ):
        op.unlock(
            held.lock, f"{label}: fpin = get_file(vmf->vma->vm_file); release_fault_lock(vmf)"
        )


def do_sync_mmap_readahead(op: Op, held: FaultLock, mapping: Mapping, page: Page, at: str) -> None:
    """``do_sync_mmap_readahead()`` (mm/filemap.c, Linux 6.6) on a page-cache miss, as mmap
    read-around: mmap_lock released first (``maybe_unlock_mmap_for_io()``), then
    ``page_cache_ra_order()`` -> ``page_cache_ra_unbounded()`` adds the folio locked and
    starts its read (``->readahead``) under invalidate_lock shared.  The window is the one
    page; VM_RAND_READ, VM_SEQ_READ and the mmap_miss heuristics are left out."""
    maybe_unlock_mmap_for_io(
        op, held, "do_sync_mmap_readahead(): fpin = maybe_unlock_mmap_for_io(vmf, fpin)"
    )
    readahead_page(op, mapping, page, at)


def find_lock_folio(op: Op, held: FaultLock, mapping: Mapping, page: Page, at: str) -> None:
    """``filemap_fault()``'s ``retry_find``: ``__filemap_get_folio(FGP_CREAT|FGP_FOR_MMAP)``
    finds the folio or adds a new one (-EEXIST: look again), then
    ``lock_folio_maybe_drop_mmap()``: a trylock, and when the folio is locked by another (a
    read in flight holds it), mmap_lock released on the first attempt
    (``maybe_unlock_mmap_for_io()``) before the fault sleeps on the folio lock; a folio
    truncated meanwhile is unlocked and looked up again.  Returns with the folio locked.  A
    new folio is unlocked before ``__filemap_get_folio()`` returns it (``if (folio && (fgp_flags &
    FGP_FOR_MMAP)) folio_unlock(folio)``), so truncate, reclaim or writeback may lock it before
    the trylock."""
    again, locked, busy, trying = (
        f"{name}{at}" for name in ("find_again", "find_locked", "find_busy", "find_try")
    )
    op.label(again)
    ref = find_folio(
        op, page, "retry_find: folio = __filemap_get_folio(mapping, index, FGP_CREAT|FGP_FOR_MMAP)"
    )
    with op.when(not_(ref.found), "if (!folio) /* __filemap_get_folio(): no_page */"):
        _, added = new_folio(
            op,
            mapping,
            page,
            "folio = filemap_alloc_folio(gfp, 0); __folio_set_locked(folio); "
            "err = filemap_add_folio(mapping, folio, index, gfp)",
        )
        with op.when(added, "if (err == -EEXIST) goto repeat", label_negates=True):
            op.unlock(ref.lock, "if (folio && (fgp_flags & FGP_FOR_MMAP)) folio_unlock(folio)")
            op.goto(trying)
        op.goto(again)
    op.label(trying)
    op.trylock(
        ref.lock, busy, "lock_folio_maybe_drop_mmap(vmf, folio, &fpin): if (folio_trylock(folio))"
    )
    op.label(locked)
    with op.when(
        ref.mapped, "if (unlikely(folio->mapping != mapping)) /* truncated */", label_negates=True
    ):
        op.goto(f"find_done{at}")
    op.unlock(ref.lock, "folio_unlock(folio); folio_put(folio); goto retry_find")
    op.goto(again)
    op.label(busy)
    maybe_unlock_mmap_for_io(
        op, held, "lock_folio_maybe_drop_mmap(): *fpin = maybe_unlock_mmap_for_io()"
    )
    op.lock(ref.lock, label="__folio_lock_killable(folio)")
    op.goto(locked)
    op.label(f"find_done{at}")


def filemap_fault(
    op: Op,
    mm: Mm,
    mapping: Mapping,
    page: Page,
    result: str,
    at: str,
    held: FaultLock | None = None,
) -> None:
    """``filemap_fault()`` (mm/filemap.c, Linux 6.6): SIGBUS past EOF; a cached uptodate folio is
    locked without invalidate_lock by ``lock_folio_maybe_drop_mmap()``: a trylock, and when the
    folio is locked by another, on the first attempt mmap_lock is released first
    (``maybe_unlock_mmap_for_io()``), the folio waited for and locked, then, unless a truncate
    took it from the mapping meanwhile (then ``goto retry_find``: the folio found or created
    again, and read, under invalidate_lock with mmap_lock still released), unlocked again and
    ``VM_FAULT_RETRY`` returned, so the fault is retried from ``lock_mm_and_find_vma()`` (the
    arch handler's ``goto retry`` with FAULT_FLAG_TRIED); a retried fault waits for the folio
    holding mmap_lock.  With no folio cached, ``do_sync_mmap_readahead()`` releases mmap_lock
    (first attempt) and reads the page ahead; then, under invalidate_lock shared, the folio is
    found or created (``__filemap_get_folio(FGP_CREAT)``) and locked, which waits for the read
    (``lock_folio_maybe_drop_mmap()``: mmap_lock released first when the trylock fails); one
    that is not uptodate is read (``page_not_uptodate``: mmap_lock released first,
    ``->read_folio``, waited for).  A fault that released mmap_lock unlocks the
    folio and returns ``VM_FAULT_RETRY`` (``out_retry``); otherwise i_size is rechecked under
    the folio lock and ``VM_FAULT_LOCKED`` returned with the folio locked.  Left out:
    ``do_async_mmap_readahead()``, FAULT_FLAG_RETRY_NOWAIT and fatal signals.

    ``held``: the lock the fault holds, mmap_lock by default.  Under the VMA lock (6.7+,
    ``fault-under-vma-lock``; read in a 6.13-era mm/filemap.c and mm/internal.h of the search
    index, ``lock_folio_maybe_drop_mmap()`` as b068ab80b7bf "mm: make
    lock_folio_maybe_drop_mmap() VMA lock aware" left it) each place above releases the VMA
    lock instead (``release_fault_lock()``), and a page-cache miss marks the fault major
    (``FaultLock.major``)."""
    slow, find, retry, checked, out, drop, locked, out_retry, retried = (
        f"{name}{at}"
        for name in (
            "slow",
            "find",
            "retry_find",
            "checked",
            "out",
            "drop_mmap",
            "locked",
            "out_retry",
            "return_retry",
        )
    )
    held = held or mmap_fault_lock(op, mm, at)
    tried, fpin = held.tried, held.fpin
    beyond = fork_compute(
        op,
        f"beyond_eof{at}",
        "max_idx = DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE); "
        "if (unlikely(index >= max_idx)) return VM_FAULT_SIGBUS",
        blockfs.past_eof,
        mapping,
        page,
    )
    with op.when(is_true(beyond), "if (index >= max_idx)"):
        op.let(result, vm_fault(VM_FAULT_SIGBUS), "return VM_FAULT_SIGBUS")
        op.goto(out)
    ref = folio_ref(op, page)
    op.emit(
        EffectStep(
            label="folio = filemap_get_folio(mapping, index) /* cached and uptodate? */",
            source=caller_source(),
            effect=lambda scratch, values: _cached_uptodate(scratch, *values),
            args=(const(page, str(page)),),
            result=ref.slot,
        )
    )
    with op.when(not_(ref.found), "if (!folio || !folio_test_uptodate(folio))"):
        op.goto(slow)
    op.trylock(
        ref.lock, drop, "lock_folio_maybe_drop_mmap(vmf, folio, &fpin): if (folio_trylock(folio))"
    )
    op.label(locked)
    with op.when(ref.mapped, "if (folio->mapping == mapping) /* not truncated */"):
        op.goto(checked)
    op.unlock(ref.lock, "folio_unlock(folio); folio_put(folio); goto retry_find /* truncated */")
    op.goto(find)
    op.label(slow)
    with op.when(not_(present(page)), "if (IS_ERR(folio)) /* no page in the page cache at all */"):
        if held.major is not None:
            op.let(
                held.major,
                const(True, "FAULT_FLAG_TRIED"),
                "count_vm_event(PGMAJFAULT); ret = VM_FAULT_MAJOR",
            )
        do_sync_mmap_readahead(op, held, mapping, page, at)
    op.label(find)
    op.lock(
        mapping.invalidate_lock,
        SHARED,
        "filemap_invalidate_lock_shared(mapping); mapping_locked = true",
        tag="invalidate-lock",
    )
    op.label(retry)
    find_lock_folio(op, held, mapping, page, at)
    with op.when(
        not_(locked_test(page, PG_UPTODATE, "uptodate")),
        "if (unlikely(!folio_test_uptodate(folio))) goto page_not_uptodate",
    ):
        maybe_unlock_mmap_for_io(
            op, held, "page_not_uptodate: fpin = maybe_unlock_mmap_for_io(vmf, fpin)"
        )
        op.enter(
            "address_space_operations.read_folio",
            page,
            label="page_not_uptodate: error = filemap_read_folio(file, "
            "mapping->a_ops->read_folio, folio)",
            roles={"folio": ref, "mapping": mapping},
        )
        blockfs.read_folio(op, mapping, page)
        op.run(wait_locked, ref)
        with op.when(fpin, "if (fpin) goto out_retry"):
            op.goto(out_retry)
        op.goto(retry)
    with op.when(fpin, "if (fpin) { folio_unlock(folio); goto out_retry; }"):
        op.unlock(ref.lock, "folio_unlock(folio) /* mmap_lock was dropped: retry the fault */")
        op.goto(out_retry)
    op.unlock(
        mapping.invalidate_lock,
        "if (mapping_locked) filemap_invalidate_unlock_shared(mapping)",
        tag="invalidate-lock",
    )
    op.label(checked)
    again = fork_compute(
        op,
        f"beyond_eof_locked{at}",
        "max_idx = DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE); "
        "if (unlikely(index >= max_idx)) /* recheck i_size under the folio lock */",
        blockfs.past_eof,
        mapping,
        page,
    )
    with op.when(is_true(again), "if (index >= max_idx)"):
        op.unlock(ref.lock, "folio_unlock(folio); folio_put(folio)")
        op.let(result, vm_fault(VM_FAULT_SIGBUS), "return VM_FAULT_SIGBUS")
        op.goto(out)
    op.let(result, vm_fault(VM_FAULT_LOCKED), "return ret | VM_FAULT_LOCKED")
    op.goto(out)
    op.label(drop)
    with op.when(
        tried,
        "if (!fault_flag_allow_retry_first(flags)) /* FAULT_FLAG_TRIED: "
        "maybe_unlock_mmap_for_io() keeps mmap_lock */",
    ):
        op.lock(ref.lock, label=f"__folio_lock_killable(folio) /* {held.name} held */")
        op.goto(locked)
    op.unlock(
        held.lock,
        "maybe_unlock_mmap_for_io(): fpin = get_file(vmf->vma->vm_file); release_fault_lock(vmf)",
    )
    op.lock(ref.lock, label=f"__folio_lock_killable(folio) /* {held.name} not held */")
    with op.when(
        not_(ref.mapped), "if (unlikely(folio->mapping != mapping)) /* truncated meanwhile */"
    ):
        op.unlock(ref.lock, "folio_unlock(folio); folio_put(folio); goto retry_find")
        op.goto(find)
    op.unlock(ref.lock, "if (fpin) { folio_unlock(folio); goto out_retry; }")
    op.goto(retried)
    op.label(out_retry)
    op.unlock(
        mapping.invalidate_lock,
        "out_retry: if (mapping_locked) filemap_invalidate_unlock_shared(mapping)",
        tag="invalidate-lock",
    )
    op.label(retried)
    op.let(
        result,
        vm_fault(VM_FAULT_RETRY),
        "out_retry: folio_put(folio); fput(fpin); return ret | VM_FAULT_RETRY",
    )
    op.label(out)


def _map_pages(scratch: Scratch, mm: Mm, mapping: Mapping, page: Page) -> bool:
    folio = scratch[page.folio]
    if folio is None or not folio[1] & PG_UPTODATE or not cached_unlocked(scratch.values, page):
        return False
    if blockfs.past_eof(scratch, mapping, page):
        return False
    return set_pte(scratch, mm, page.index, write=False, ident=scratch[page.ident])


def map_pages(op: Op, mm: Mm, mapping: Mapping, page: Page, at: str) -> Expr:
    """``do_fault_around()`` -> ``->map_pages`` = ``filemap_map_pages()``
    over the faulting page (the fault-around window here): a cached,
    uptodate folio it can trylock, inside EOF, is mapped read-only; it never
    blocks.  Returns the register saying whether it mapped it."""
    rcu = op.world.rcu_read_lock
    op.lock(rcu, label="do_fault_around(): rcu_read_lock()")
    op.enter(
        "vm_operations_struct.map_pages",
        label="ret = vmf->vma->vm_ops->map_pages(vmf, start_pgoff, end_pgoff)",
        roles={"mm": mm},
        sleeps=False,
    )
    mapped = fork_compute(
        op,
        f"mapped{at}",
        "filemap_map_pages(): next_uptodate_folio(): folio_trylock(); "
        "if (xa_index >= DIV_ROUND_UP(i_size_read(mapping->host), PAGE_SIZE)) skip; "
        "set_pte_range(); folio_unlock()",
        _map_pages,
        mm,
        mapping,
        page,
    )
    op.unlock(rcu, "rcu_read_unlock()")
    return mapped


def _finish_fault(scratch: Scratch, mm: Mm, page: Page, write: bool, ident: int) -> bool:
    return set_pte(scratch, mm, page.index, write=write, ident=ident)


def finish_fault(op: Op, mm: Mm, page: Page, write: bool, at: str) -> Expr:
    """``finish_fault()``: install the pte under the page-table lock unless
    it changed since the fault began; the register says whether it did."""
    return op.compute(
        f"installed{at}",
        "finish_fault(): vmf->pte = pte_offset_map_lock(); if (vmf_pte_changed(vmf)) "
        "ret = VM_FAULT_NOPAGE; else set_pte_range(vmf, folio, page, 1, vmf->address)",
        _finish_fault,
        mm,
        page,
        write,
        folio_ref(op, page),
    )


def dirty_and_unlock(
    op: Op, mapping: Mapping, page: Page, held: FaultLock | None = None, result: str = ""
) -> None:
    """``fault_dirty_shared_page()``: ``folio_mark_dirty()`` under the folio
    lock, then ``folio_unlock()``; under the VMA lock (``held``, 6.7+) the
    fault then completes, ``fault_completed()`` setting ``result``.  Left
    out under mmap_lock: what it does after, with the
    folio unlocked: ``maybe_unlock_mmap_for_io()`` dropping mmap_lock (the
    fault then returns ``VM_FAULT_COMPLETED``), ``balance_dirty_pages_ratelimited()``
    and ``file_update_time()`` (the threads here take mmap_lock around the
    whole fault and hold nothing that throttling waits for)."""
    blockfs.mark_folio_dirty(
        op, mapping, page, "fault_dirty_shared_page(): dirtied = folio_mark_dirty(folio)"
    )
    op.unlock(folio_ref(op, page).lock, "folio_unlock(folio)")
    if held is not None:
        fault_completed(op, held, result)


def fault_completed(op: Op, held: FaultLock, result: str) -> None:
    """The end of ``fault_dirty_shared_page()`` (mm/memory.c, 6.6 and 6.12) after the folio
    is unlocked: on a first attempt ``maybe_unlock_mmap_for_io()`` releases the fault lock
    before ``balance_dirty_pages_ratelimited()`` (left out: nothing here throttles), and the
    fault returns ``VM_FAULT_COMPLETED``.  Modelled under the VMA lock, always a first attempt
    (``dirty_and_unlock()`` leaves it out under mmap_lock)."""
    maybe_unlock_mmap_for_io(
        op, held, "fault_dirty_shared_page(): fpin = maybe_unlock_mmap_for_io(vmf, NULL)"
    )
    op.let(
        result,
        const(VM_FAULT_COMPLETED, "VM_FAULT_COMPLETED"),
        "balance_dirty_pages_ratelimited(mapping); if (fpin) { fput(fpin); "
        "return VM_FAULT_COMPLETED; }",
    )


def do_page_mkwrite(op: Op, mm: Mm, mapping: Mapping, page: Page, result: str, at: str) -> None:
    """``do_page_mkwrite()``: ``->page_mkwrite`` with FAULT_FLAG_MKWRITE;
    a method that returns ``VM_FAULT_LOCKED`` must hold the folio lock
    (``VM_BUG_ON_FOLIO()``: a lock-protocol error here), one that returns 0
    has the folio locked here and its mapping checked (0, a retry, when it
    was truncated meanwhile; ``VM_FAULT_LOCKED`` else)."""
    ref = folio_ref(op, page)
    op.enter(
        "vm_operations_struct.page_mkwrite",
        label="do_page_mkwrite(): ret = vmf->vma->vm_ops->page_mkwrite(vmf)",
        roles={"mm": mm, "folio": ref},
    )
    blockfs_truncate.page_mkwrite(op, mapping, page, result, at)
    ret = op.reg(result)
    with op.when(vm_fault_is(ret, VM_FAULT_LOCKED), "if (ret & VM_FAULT_LOCKED)"):
        op.assert_held(ref.lock, "VM_BUG_ON_FOLIO(!folio_test_locked(folio), folio)")
    with op.when(vm_fault_is(ret, 0), "if (unlikely(!(ret & VM_FAULT_LOCKED))) /* and no error */"):
        op.lock(ref.lock, label="folio_lock(folio)")
        with op.when(not_(ref.mapped), "if (!folio->mapping) /* truncated */"):
            op.unlock(ref.lock, "folio_unlock(folio); return 0 /* retry */")
        with op.otherwise():
            op.let(result, vm_fault(VM_FAULT_LOCKED), "ret |= VM_FAULT_LOCKED")


def call_fault(
    op: Op,
    mm: Mm,
    mapping: Mapping,
    page: Page,
    result: str,
    at: str,
    held: FaultLock | None = None,
) -> None:
    """``__do_fault()``: ``->fault``, returning the folio locked; ``held`` as
    ``filemap_fault()`` takes it."""
    op.enter(
        "vm_operations_struct.fault",
        label="__do_fault(): ret = vma->vm_ops->fault(vmf)",
        roles={"mm": mm},
    )
    filemap_fault(op, mm, mapping, page, result, at, held)


def do_read_fault(op: Op, mm: Mm, mapping: Mapping, page: Page, result: str, at: str) -> None:
    """``do_read_fault()``: fault-around first when ``should_fault_around()``
    (always, but under the flag ``no-fault-around``); else ``->fault`` and
    a read-only pte (``read_fault_past_around()``)."""
    if not op.variant(NO_FAULT_AROUND):
        mapped = map_pages(op, mm, mapping, page, at)
        with op.when(is_true(mapped), "if (ret) return ret /* fault-around mapped it */"):
            op.goto(f"read_fault_done{at}")
    read_fault_past_around(op, mm, mapping, page, result, at)


def read_fault_past_around(
    op: Op,
    mm: Mm,
    mapping: Mapping,
    page: Page,
    result: str,
    at: str,
    held: FaultLock | None = None,
) -> None:
    """``do_read_fault()`` after the fault-around: ``->fault``, then ``finish_fault()``
    installs a read-only pte; the label ``read_fault_done`` ends it.  Under the VMA lock
    (``held``), 6.7+'s ``vmf_can_call_fault()`` having passed."""
    done = f"read_fault_done{at}"
    call_fault(op, mm, mapping, page, result, at, held)
    with op.when(
        vm_fault_has(op.reg(result), FAULT_ENDS),
        "if (unlikely(ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY))) return ret",
    ):
        op.goto(done)
    finish_fault(op, mm, page, False, at)
    op.unlock(folio_ref(op, page).lock, "folio_unlock(folio)")
    op.label(done)


def do_shared_fault(
    op: Op,
    mm: Mm,
    mapping: Mapping,
    page: Page,
    result: str,
    at: str,
    held: FaultLock | None = None,
) -> None:
    """``do_shared_fault()``: ``->fault``, then (the folio unlocked)
    ``->page_mkwrite``, a writable dirty pte and the folio dirtied.  Under the
    VMA lock (``held``, 6.7+) ``fault_dirty_shared_page()`` releases it and
    returns ``VM_FAULT_COMPLETED`` (``fault_completed()``)."""
    done = f"shared_fault_done{at}"
    call_fault(op, mm, mapping, page, result, at, held)
    with op.when(
        vm_fault_has(op.reg(result), FAULT_ENDS),
        "if (unlikely(ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY))) return ret",
    ):
        op.goto(done)
    op.unlock(
        folio_ref(op, page).lock,
        "if (vma->vm_ops->page_mkwrite) { folio_unlock(folio); tmp = do_page_mkwrite(vmf, folio)",
    )
    do_page_mkwrite(op, mm, mapping, page, result, f"{at}.shared_mkwrite")
    with op.when(
        any_of(vm_fault_is(op.reg(result), 0), vm_fault_has(op.reg(result), MKWRITE_ENDS)),
        "if (unlikely(!tmp || (tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)))) return tmp",
    ):
        op.goto(done)
    installed = finish_fault(op, mm, page, True, at)
    with op.when(not_(is_true(installed)), "if (ret & VM_FAULT_NOPAGE)"):
        op.unlock(folio_ref(op, page).lock, "folio_unlock(folio); folio_put(folio); return ret")
        op.goto(done)
    dirty_and_unlock(op, mapping, page, held, result)
    op.label(done)


def _reuse(scratch: Scratch, mm: Mm, page: Page, orig: Any) -> bool:
    slot = mm.ptes[page.index]
    if scratch[slot] != orig:
        return False
    scratch[slot] = make_pte(pte_folio(orig), PTE_WRITE | PTE_DIRTY)
    return True


def wp_page_shared(
    op: Op,
    mm: Mm,
    mapping: Mapping,
    page: Page,
    orig: Expr,
    result: str,
    at: str,
    held: FaultLock | None = None,
) -> None:
    """``do_wp_page()`` -> ``wp_page_shared()``: a store to a read-only pte:
    ``->page_mkwrite`` (the page-table lock dropped), then
    ``finish_mkwrite_fault()`` makes the pte writable and dirty unless it
    changed meanwhile, and the folio is dirtied.  Under the VMA lock
    (``held``, 6.7+) the fault then completes as ``do_shared_fault()``'s."""
    done = f"wp_done{at}"
    hold_folio(op, page, _folio_of_pte(orig), "vmf->page = vm_normal_page(vma, addr, orig_pte)")
    do_page_mkwrite(op, mm, mapping, page, result, f"{at}.wp_mkwrite")
    with op.when(
        any_of(vm_fault_is(op.reg(result), 0), vm_fault_has(op.reg(result), MKWRITE_ENDS)),
        "if (unlikely(!tmp || (tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)))) return tmp",
    ):
        op.goto(done)
    reused = op.compute(
        f"reused{at}",
        "finish_mkwrite_fault(): vmf->pte = pte_offset_map_lock(); "
        "if (!pte_same(ptep_get(vmf->pte), vmf->orig_pte)) return VM_FAULT_NOPAGE; "
        "wp_page_reuse(vmf)",
        _reuse,
        mm,
        page,
        orig,
    )
    with op.when(not_(is_true(reused)), "if (tmp & VM_FAULT_NOPAGE)"):
        op.unlock(folio_ref(op, page).lock, "folio_unlock(folio); folio_put(folio); return tmp")
        op.goto(done)
    dirty_and_unlock(op, mapping, page, held, result)
    op.label(done)


def _access(
    scratch: Scratch,
    mm: Mm,
    page: Page,
    offset: Value,
    write: bool,
    version: int,
    data: int,
    tried: int,
) -> bool:
    scratch[tried] = None
    slot = mm.ptes[page.index]
    pte = scratch[slot]
    if pte is None or (write and not pte & PTE_WRITE):
        return False
    folio = scratch[page.folio]
    if write:
        scratch[slot] = pte | PTE_DIRTY
        if folio is not None and folio[0] is not None and maps_cached(scratch, mm, page.index):
            scratch[page.folio] = (
                fill(scratch, folio[0], offset, add(offset, 1), version),
                folio[1],
            )
            scratch[page.history] = (*scratch[page.history], version)
        return True
    content = None if folio is None else folio[0]
    scratch[data] = versions_in(scratch, content, offset, add(offset, 1))
    return True


def _render_tried(tried: bool | None) -> str:
    return "FAULT_FLAG_TRIED" if tried else "first attempt"


def _folio_of_pte(orig: Expr) -> Expr:
    def build(world: World) -> Eval:
        get = orig.compile(world)
        return lambda state: pte_folio(get(state))

    return Expr(f"pte_folio({orig})", build, orig.local)


def _pte_none(orig: Expr) -> Expr:
    def build(world: World) -> Eval:
        get = orig.compile(world)
        return lambda state: get(state) is None

    return Expr("pte_none(vmf->orig_pte)", build, orig.local)


def _pte_read_only(orig: Expr) -> Expr:
    def build(world: World) -> Eval:
        get = orig.compile(world)
        return lambda state: get(state) is not None and not get(state) & PTE_WRITE

    return Expr("!pte_write(entry)", build, orig.local)


class VmaReadLock(Protocol):
    """The per-VMA lock of the VMA a fault is at (``mc.models.mmap``):
    ``lock`` emits ``lock_vma_under_rcu()`` and the ``access_error()``
    check, going to ``fail`` (``lock_mmap``) when either fails; ``unlock``
    emits ``vma_end_read()``; ``held`` is the lock ``lock`` took."""

    def lock(self, op: Op, at: str, fail: str) -> None: ...

    def unlock(self, op: Op, at: str, label: str) -> None: ...

    def held(self, op: Op, at: str) -> LockExpr: ...


def fault_under_vma_lock(
    op: Op,
    mm: Mm,
    page: Page,
    *,
    write: bool,
    at: str,
    vma_lock: VmaReadLock,
    again: str,
    mmap: str,
    sigbus: str,
) -> None:
    """``do_user_addr_fault()`` (arch/x86/mm/fault.c, Linux 6.6) first tries
    the fault under the VMA's lock alone (``lock_vma_under_rcu()``, no
    mmap_lock): ``handle_mm_fault(vma, address, flags | FAULT_FLAG_VMA_LOCK)``.
    In 6.6 only the fault-around runs so (``do_read_fault()`` ->
    ``->map_pages``); ``->fault`` (``do_read_fault()``, ``do_shared_fault()``)
    and ``->page_mkwrite`` (``wp_page_shared()``) are not called under the
    VMA lock: ``vma_end_read()`` and VM_FAULT_RETRY, and the fault is made
    again under mmap_lock (``goto lock_mmap``, a first attempt: no
    VM_FAULT_MAJOR).

    Under ``fault-under-vma-lock`` (6.7+: a9f606e6ff1c "mm: handle read faults under the VMA
    lock", 1629005123b8 "mm: handle shared faults under the VMA lock", fe995893215c "mm:
    handle write faults to RO pages under the VMA lock"; read in a 6.13-era mm/memory.c of
    the search index) ``vmf_can_call_fault()`` passes, the VMA having ``->map_pages``, and
    the three call ``->fault`` / ``->page_mkwrite`` holding the VMA lock (``FaultLock``
    passed down: ``filemap_fault()`` and ``fault_dirty_shared_page()`` release it where 6.6
    released mmap_lock).  The arch handler then (6.7+, and 46e714c729c8 "arch/mm/fault: fix
    major fault accounting when retrying under per-VMA lock"): ``vma_end_read()`` unless
    VM_FAULT_RETRY or VM_FAULT_COMPLETED (the fault released it), ``goto done`` unless
    VM_FAULT_RETRY, else ``if (fault & VM_FAULT_MAJOR) flags |= FAULT_FLAG_TRIED`` and
    ``goto lock_mmap``.  With ``no-fault-around`` too, the setting is ``fault_around_bytes``
    at PAGE_SIZE (the vm_ops keep ``->map_pages``).  Left out: 6.10+ x86's SIGSEGV on an
    ``access_error()`` under the VMA lock without mmap_lock (here that VMA falls back to
    mmap_lock, which gives the same SIGSEGV), ``count_vm_vma_lock_event()``, COW and
    anonymous faults, fatal signals."""
    retry = f"vma_lock_retry{at}"
    handled = f"vma_fault_done{at}"
    result = f"vm_fault{at}"
    calls_fault = op.variant(FAULT_UNDER_VMA_LOCK)
    vma_lock.lock(op, at, mmap)
    held = _vma_fault_lock(op, vma_lock, at) if calls_fault else None
    orig = op.compute(
        f"vma_orig_pte{at}",
        "handle_mm_fault(vma, address, flags | FAULT_FLAG_VMA_LOCK, regs): handle_pte_fault(): "
        "vmf->orig_pte = ptep_get_lockless(vmf->pte)",
        lambda scratch, slot: scratch[slot],
        mm.ptes[page.index],
        render=render_pte,
    )
    with op.when(_pte_none(orig), "if (pte_none(vmf->orig_pte)) return do_fault(vmf)"):
        if not write and not op.variant(NO_FAULT_AROUND):
            mapped = map_pages(op, mm, mm.mapping, page, f"{at}.vma")
            with op.when(is_true(mapped), "do_read_fault(): if (ret) return ret /* mapped */"):
                vma_lock.unlock(
                    op,
                    at,
                    "do_user_addr_fault(): if (!(fault & (VM_FAULT_RETRY | VM_FAULT_COMPLETED))) "
                    "vma_end_read(vma); goto done",
                )
                op.goto(again)
        if not calls_fault:
            op.goto(retry)
        else:
            if write:
                do_shared_fault(op, mm, mm.mapping, page, result, f"{at}.vma", held)
            else:
                read_fault_past_around(op, mm, mm.mapping, page, result, f"{at}.vma", held)
            op.goto(handled)
    if write:
        with op.when(
            _pte_read_only(orig),
            "if (vmf->flags & FAULT_FLAG_WRITE && !pte_write(entry)) return do_wp_page(vmf)",
        ):
            if not calls_fault:
                op.goto(retry)
            else:
                wp_page_shared(op, mm, mm.mapping, page, orig, result, f"{at}.vma", held)
                op.goto(handled)
    vma_lock.unlock(
        op, at, "ptep_set_access_flags() /* the pte allows it now */; vma_end_read(vma); goto done"
    )
    op.goto(again)
    if calls_fault:
        op.label(handled)
        _vma_lock_fault_done(op, page, result, vma_lock, at, mmap=mmap, again=again, sigbus=sigbus)
        return
    op.label(retry)
    vma_lock.unlock(
        op,
        at,
        ("do_shared_fault() or wp_page_shared()" if write else "do_read_fault()")
        + ": if (vmf->flags & FAULT_FLAG_VMA_LOCK) { vma_end_read(vma); return VM_FAULT_RETRY; }"
        " /* -> goto lock_mmap */",
    )


def _vma_fault_lock(op: Op, vma_lock: VmaReadLock, at: str) -> FaultLock:
    """The VMA lock as the fault's lock: never FAULT_FLAG_TRIED (the arch handler's first
    attempt), a page-cache miss marking register ``tried`` for the mmap_lock retry."""
    lock = vma_lock.held(op, at)
    return FaultLock(
        lock, "the VMA lock", const(False, "first attempt"), _dropped(op, lock), f"tried{at}"
    )


def _vma_lock_fault_done(
    op: Op,
    page: Page,
    result: str,
    vma_lock: VmaReadLock,
    at: str,
    *,
    mmap: str,
    again: str,
    sigbus: str,
) -> None:
    """``do_user_addr_fault()`` (arch/x86/mm/fault.c, 6.7+) after ``handle_mm_fault()`` under
    the VMA lock returned: ``fault_under_vma_lock()`` says what it does."""
    ret = op.reg(result)
    put_folio(op, folio_ref(op, page), "folio_put(folio) /* the fault is over */")
    with op.when(
        vm_fault_is(ret, VM_FAULT_RETRY),
        "if (fault & VM_FAULT_RETRY) { if (fault & VM_FAULT_MAJOR) flags |= FAULT_FLAG_TRIED; "
        "goto lock_mmap; } /* the fault released the VMA lock */",
    ):
        op.goto(mmap)
    with op.when(
        not_(vm_fault_is(ret, VM_FAULT_COMPLETED)),
        "if (!(fault & (VM_FAULT_RETRY | VM_FAULT_COMPLETED)))",
    ):
        vma_lock.unlock(op, at, "vma_end_read(vma)")
    with op.when(
        vm_fault_is(ret, VM_FAULT_SIGBUS),
        "done: if (fault & VM_FAULT_SIGBUS) do_sigbus(): force_sig_fault(SIGBUS, BUS_ADRERR, addr)",
    ):
        op.goto(sigbus)
    op.goto(again)


def access_page(
    op: Op,
    mm: Mm,
    page: Page,
    offset: Value,
    *,
    write: bool,
    version: int,
    at: str,
    vma_check: Callable[[Op, str], Expr] | None = None,
    vma_lock: VmaReadLock | None = None,
) -> None:
    """A load or store at byte ``offset`` of ``page`` through the mapping:
    the CPU makes it through the pte when it allows it; otherwise a fault
    under ``mmap_lock`` shared, after which the access is retried (or the
    task gets SIGBUS).  A store writes one byte of data ``version`` and
    dirties the pte; a load reads one byte into register ``data``.
    ``vma_check`` (when the scenario's VMAs come and go) emits the VMA
    lookup under ``mmap_lock`` and returns whether the access may fault
    there; when it may not, the task gets SIGSEGV.  ``vma_lock`` (the
    VMAs' per-VMA locks) makes the fault try ``fault_under_vma_lock()``
    first."""
    mapping = mm.mapping
    retry, done, out = f"access{at}", f"fault_done{at}", f"access_out{at}"
    fault = f"fault{at}"
    result = f"vm_fault{at}"
    op.register(result, render_fault_result)
    data = op.register(f"loaded{at}", render_versions)
    tried = op.register(f"tried{at}", _render_tried)
    kind = "store" if write else "load"
    op.label(retry)
    hit = fork_compute(
        op,
        f"{kind}_done{at}",
        f"*(char *)addr = x /* v{version}: the CPU's store through the pte */"
        if write
        else "x = *(char *)addr /* the CPU's load through the pte */",
        _access,
        mm,
        page,
        const(offset, str(offset)),
        write,
        version,
        data,
        tried,
    )
    with op.when(is_true(hit), "if (the pte allows the access)"):
        op.goto(out)
    if vma_lock is not None:
        fault_under_vma_lock(
            op,
            mm,
            page,
            write=write,
            at=at,
            vma_lock=vma_lock,
            again=retry,
            mmap=fault,
            sigbus=out,
        )
    op.label(fault)
    op.lock(
        mm.mmap_lock,
        SHARED,
        "do_user_addr_fault(): lock_mm_and_find_vma(): get_mmap_lock_carefully(): "
        "mmap_read_lock_killable(mm)",
    )
    if vma_check is not None:
        allowed = vma_check(op, at)
        with op.when(
            not_(allowed),
            "if (!vma || access_error(error_code, vma)) bad_area_access_error() /* SIGSEGV */",
        ):
            op.unlock(
                mm.mmap_lock,
                "mmap_read_unlock(mm) /* lock_mm_and_find_vma() finding no VMA, or "
                "bad_area_access_error() */; force_sig_fault(SIGSEGV)",
            )
            op.goto(out)
    op.let(result, vm_fault(0), "vm_fault_t ret = 0")
    orig = op.compute(
        f"orig_pte{at}",
        "handle_pte_fault(): vmf->orig_pte = ptep_get_lockless(vmf->pte)",
        lambda scratch, slot: scratch[slot],
        mm.ptes[page.index],
        render=render_pte,
    )
    with op.when(_pte_none(orig), "if (pte_none(vmf->orig_pte)) return do_fault(vmf)"):
        if write:
            do_shared_fault(op, mm, mapping, page, result, at)
        else:
            do_read_fault(op, mm, mapping, page, result, at)
        op.goto(done)
    if write:
        with op.when(
            _pte_read_only(orig),
            "if (vmf->flags & FAULT_FLAG_WRITE && !pte_write(entry)) return do_wp_page(vmf)",
        ):
            wp_page_shared(op, mm, mapping, page, orig, result, at)
    op.label(done)
    put_folio(op, folio_ref(op, page), "folio_put(folio) /* the fault is over */")
    with op.when(
        vm_fault_is(op.reg(result), VM_FAULT_RETRY),
        "if (unlikely(fault & VM_FAULT_RETRY)) { flags |= FAULT_FLAG_TRIED; goto retry; } "
        "/* mmap_lock already released */",
    ):
        op.let(f"tried{at}", const(True, "FAULT_FLAG_TRIED"), "flags |= FAULT_FLAG_TRIED")
        op.goto(fault)
    op.unlock(mm.mmap_lock, "mmap_read_unlock(mm)")
    with op.when(
        vm_fault_is(op.reg(result), VM_FAULT_SIGBUS),
        "if (fault & VM_FAULT_SIGBUS) force_sig_fault(SIGBUS, BUS_ADRERR, addr)",
    ):
        op.goto(out)
    op.goto(retry)
    op.label(out)
