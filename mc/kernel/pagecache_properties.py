"""Invariants of the page cache, writeback and the block device.

Each property has a pure check of one state (``*_violation``), which the
tests call on hand-built states, and a maker the registry uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mc.engine.model import Check, declare
from mc.kernel.device import DIO_END_IO, WRITE, ZEROES, Bio, device_of
from mc.kernel.expr import State
from mc.kernel.pagecache import (
    PAGE_SIZE,
    PG_DIRTY,
    PG_UPTODATE,
    PG_WRITEBACK,
    TAG_DIRTY,
    TAG_WRITEBACK,
    TRUNCATED,
    Page,
    PageCache,
    cached_unlocked,
    flags_of,
    pagecache,
)
from mc.kernel.pagedata import agree_below, runs_of
from mc.kernel.pathcond import at_least, holds_in, sub, symbolic_part
from mc.kernel.world import DONE, ERROR_SLOT, LOCK_PROTOCOL, Built

WRITEBACK_PROTOCOL = "writeback-protocol"


def _writes_in_flight(part: PageCache, state: Sequence[Any]) -> list[tuple[Bio, Page]]:
    if part.device is None:
        return []
    return [
        (bio, part.page_of(bio))
        for bio in state[part.device.bios]
        if bio.op == WRITE and bio.end_io != DIO_END_IO
    ]


def _block_text(part: PageCache, state: Sequence[Any], page: Page) -> str:
    block = state[page.block]
    if block is None:
        return f"{page} is a hole"
    return f"block {block} holds {part.writer(part.on_device(state, page))}"


def writeback_protocol_violation(part: PageCache, state: Sequence[Any]) -> str | None:
    """->writepage set PG_writeback before unlocking the folio (checked
    where it unlocks: a folio left clean but tagged DIRTY is the
    incoherency Documentation/filesystems/locking.rst warns of); a write
    bio in flight always has its folio under writeback (end_page_writeback
    only once the I/O completed); the I/O completion never sleeps."""
    error = state[ERROR_SLOT]
    if error is not None and error[0] == WRITEBACK_PROTOCOL:
        return str(error[1])
    if error is not None and error[0] == LOCK_PROTOCOL and part.irq_thread is not None:
        irq = part.world.thread_names[part.irq_thread]
        if str(error[1]).startswith(f"{irq} may sleep"):
            return f"the I/O completion path sleeps: {error[1]}"
    for bio, page in _writes_in_flight(part, state):
        if state[page.folio] is not None and not flags_of(state, page) & PG_WRITEBACK:
            return (
                f"folio {page} is not under writeback while {bio} is in flight: "
                f"end_page_writeback() before the I/O completed"
            )
    return None


def _agrees_below_eof(part: PageCache, state: Sequence[Any], page: Page) -> bool:
    """Whether the folio at ``page`` and its block hold the same bytes below
    EOF: the bytes past EOF of the EOF folio are the kernel's to zero
    (``truncate_inode_partial_folio()``, ``folio_zero_segment()`` in
    writeback) without dirtying the folio."""
    return same_below_eof(part, state, page, state[page.folio][0], part.on_device(state, page))


def same_below_eof(part: PageCache, state: Sequence[Any], page: Page, a: Any, b: Any) -> bool:
    """Whether contents ``a`` and ``b`` of ``page`` hold the same data in
    every byte below EOF (none, for a page wholly past it)."""
    mapping = next(m for m in part.mappings.values() if m.ino == page.ino)
    symbolic = symbolic_part(part.world)
    state = tuple(state)
    limit = sub(state[mapping.i_size], page.index * PAGE_SIZE)
    if holds_in(symbolic, state, at_least(limit, PAGE_SIZE)):
        limit = PAGE_SIZE
    return agree_below(a, b, limit, lambda cond: holds_in(symbolic, state, cond))


def _loses_nothing(part: PageCache, state: Sequence[Any], page: Page) -> bool:
    """Whether dropping the folio at ``page`` loses no write: it holds only
    versions written to the page before the newest its block holds (a
    direct write or a clone went past the cache to the device, and the
    folio is stale until the invalidation removes it, which
    ``dio-coherent`` and ``copy-coherent`` check), or zeroes over a block
    allocated and not written yet (an unwritten extent, which reads as
    zeroes: ``ext4_iomap_alloc()``'s ``EXT4_GET_BLOCKS_IO_CREATE_EXT``),
    also one a truncation freed and that was allocated again
    (``_stale_block``).
    Zeroes, and an unwritten block's contents read before the write
    reached it, are the initial data of a page that starts as a hole;
    elsewhere the kernel wrote the zeroes, and they are newer than any
    version."""
    cached = [version for _, version in runs_of(state[page.folio][0])]
    device = part.on_device(state, page)
    if device is None:
        return all(version == ZEROES for version in cached)
    if all(version == ZEROES for version in cached) and _stale_block(state, page, device):
        return True
    order = part.write_order(state, page)
    if any(version not in order for version in cached):
        return False
    newest = max((order.get(version, -1) for _, version in runs_of(device)), default=-1)
    return max(order[version] for version in cached) < newest


def _stale_block(state: Sequence[Any], page: Page, device: Any) -> bool:
    """Whether the block ``page`` maps holds only data written before the
    page's last truncation: a block freed by it (a punch, a truncate) and
    allocated again, not yet written, which reads as zeroes as an unwritten
    extent does (``ext4_iomap_alloc()`` allocates one inside i_size);
    whether a read can see its stale contents is ``no-stale-data``'s
    question."""
    history = state[page.history]
    if TRUNCATED not in history:
        return False
    since = set(history[len(history) - history[::-1].index(TRUNCATED) :])
    return not any(version in since for _, version in runs_of(device))


def wholly_past_eof(part: PageCache, state: Sequence[Any], page: Page) -> bool:
    """Whether the folio at ``page`` starts at or past i_size in every
    concrete state ``state`` stands for: the folio ``block_write_full_page()``
    finds "fully outside i_size (truncate in progress)"."""
    mapping = next(m for m in part.mappings.values() if m.ino == page.ino)
    state = tuple(state)
    return holds_in(
        symbolic_part(part.world), state, at_least(page.index * PAGE_SIZE, state[mapping.i_size])
    )


def dirty_coherent_violation(part: PageCache, state: Sequence[Any]) -> str | None:
    """Outside xa_lock, PG_writeback and the WRITEBACK mark agree, and so do
    PG_dirty and the DIRTY mark (folio_clear_dirty_for_io() leaves the mark
    set on purpose while the folio stays locked, so a locked folio is
    exempt; so is a clean folio still marked DIRTY that lies wholly past
    EOF: ->writepage finds such a folio "fully outside i_size (truncate in
    progress)", unlocks it and returns 0 without starting writeback
    (``block_write_full_page()``), which leaves the mark for the truncate
    that shrank i_size to clear when it removes the folio; a dirty folio
    with no DIRTY mark is never exempt); an unlocked, uptodate folio that
    is neither dirty nor under writeback holds what the device holds in
    every byte below EOF (unless
    dropping it loses no write, ``_loses_nothing``: a stale folio a direct
    write or a clone left, which ``dio-coherent`` and ``copy-coherent``
    speak for, or zeroes over an unwritten block), since
    reclaim, which no scenario needs to run, may drop such a folio at any
    time (``shrink_folio_list()`` trylocks it and frees a clean one): the
    folio lock is what keeps a folio being cleaned for I/O from it; a folio
    under writeback is never evicted.

    This is stronger than the kernel's promise for an unlocked folio:
    ``filemap_dirty_folio()`` sets PG_dirty before it takes xa_lock to set
    the mark, and ``zap_pte_range()`` calls it with the folio unlocked, so
    for a moment such a folio is dirty and unmarked.  The models' pte zap
    dirties the unlocked folio in one step, bit and mark together, so the
    property sees no such moment; a model that split them would need that
    moment exempted."""
    for mapping in part.mappings.values():
        if state[mapping.xa_lock.slot] is not None:
            continue
        for page in mapping.pages:
            folio = state[page.folio]
            if folio is None:
                continue
            version, flags = folio
            marks = state[page.marks]
            if bool(flags & PG_WRITEBACK) != bool(marks & TAG_WRITEBACK):
                return f"folio {page}: PG_writeback and the WRITEBACK mark disagree"
            if not cached_unlocked(state, page):
                continue
            idle = not flags & (PG_DIRTY | PG_WRITEBACK)
            if (
                idle
                and flags & PG_UPTODATE
                and not _agrees_below_eof(part, state, page)
                and not _loses_nothing(part, state, page)
            ):
                return (
                    f"folio {page} holds {part.writer(version)} below EOF (i_size "
                    f"{state[mapping.i_size]}) but is clean with no I/O in flight, and "
                    f"{_block_text(part, state, page)}: nothing writes the folio back, so a "
                    "read returns the folio's data until reclaim drops the clean folio (once "
                    "its last other reference goes), and the device's older data from then on"
                )
            if bool(flags & PG_DIRTY) != bool(marks & TAG_DIRTY):
                if not flags & PG_DIRTY and wholly_past_eof(part, state, page):
                    continue
                state_of = "dirty" if flags & PG_DIRTY else "clean"
                return (
                    f"folio {page} is unlocked and {state_of}, but its DIRTY mark says "
                    f"otherwise ({part.writer(version)}; {_block_text(part, state, page)})"
                )
    for bio, page in _writes_in_flight(part, state):
        if state[page.folio] is None:
            return f"folio {page} was evicted while {bio} is in flight"
    return None


def no_lost_write_violation(part: PageCache, state: Sequence[Any]) -> str | None:
    """When an fsync returns, the device holds, for every page, the data of
    the newest write that had returned (or store through the mapping that
    had landed) before the fsync began, or newer data, unless the page was
    truncated since, or a zeroing overwrote every byte of it since (the
    tail past EOF that writeback zeroes, a truncate's or a punch's partial
    zeroing: ``Page.erased``), or the fsync returned an error (-EIO: the
    data was lost and the caller told so).  A store writes one byte, so the block
    holds it when that version, or a newer one, is among the runs of its
    bytes.  A direct write to a page another thread writes through the
    cache is not held to it: writeback of the folio that writer dirtied
    (from data read while the direct write was in flight) may land over
    the direct write's, which the kernel allows and warns of ("Possible
    data corruption due to collision with buffered I/O!",
    ``dio_warn_stale_pagecache()``), as ``dio-coherent`` does not check
    such a page either."""
    for sync in part.syncs:
        if state[sync.pc] != DONE or state[ERROR_SLOT] is not None:
            continue
        if sync.ret is not None and isinstance(state[sync.ret], int) and state[sync.ret] < 0:
            continue
        for index, version in state[sync.promised] or ():
            page = sync.mapping.pages[index]
            if part.collides(version, page):
                continue
            history = state[page.history]
            start = history.index(version)
            if TRUNCATED in history[start:] or version in state[page.erased]:
                continue
            held = {version for _, version in runs_of(part.on_device(state, page))}
            if any(newer in held for newer in history[start:]):
                continue
            return (
                f"{sync.thread}'s fsync returned, but {_block_text(part, state, page)}: "
                f"{part.writer(version)} to {page} had completed before the fsync began and "
                "is not on the device (a crash now loses it)"
            )
    return None


def _checker(check: Callable[[PageCache, State], str | None]) -> Callable[[Built], Check[State]]:
    def make(model: Built) -> Check[State]:
        part = pagecache(model.world)
        device_of(model.world)
        return lambda state: check(part, state)

    return make


PAGE_CACHE_READS = (
    "error",
    "PG_locked",
    "xa",
    "folio",
    "xa_marks",
    "i_block",
    "history",
    "erased",
    "block *",
    "free blocks",
    "bios in flight",
    "i_size",
    "path condition",
    "returned",
)
"""What a check over the page cache reads: the folios, their flags and
marks, the blocks and bios of the device, the sizes and the path
condition, and the threads that returned (an fsync that returned, with
what it promised)."""


def page_cache_reads(model: Built) -> list[str]:
    """What the page-cache properties read: ``PAGE_CACHE_READS``'s slots
    that ``model`` has, and of the threads that returned, its fsyncs alone
    (what each promised and returned; no check reads another thread's
    return, so the registers of the others are forgotten as they return,
    ``KernelModel._forgettable``)."""
    names = [
        name
        for name in PAGE_CACHE_READS
        if name not in ("returned", "error") and model.locations([name])
    ]
    return ["error", *names, *(f"returned({sync.thread})" for sync in pagecache(model.world).syncs)]


writeback_protocol = declare(
    WRITEBACK_PROTOCOL,
    "->writepage sets PG_writeback before it unlocks the folio (or redirties it), "
    "end_page_writeback only after the I/O completes, no sleeping in the I/O completion path",
    reads=page_cache_reads,
    needs=("device", "a block device"),
)(_checker(writeback_protocol_violation))
dirty_coherent = declare(
    "dirty-coherent",
    "outside xa_lock PG_dirty/PG_writeback agree with the DIRTY/WRITEBACK marks (except on a "
    "locked folio being cleaned for I/O, and a clean folio still marked DIRTY wholly past EOF, "
    "which ->writepage skips and the truncate in progress removes); no folio is clean yet "
    "differs from the device below EOF with no I/O in flight; no folio under writeback is "
    "evicted",
    reads=page_cache_reads,
    needs=("device", "a block device"),
)(_checker(dirty_coherent_violation))
no_lost_write = declare(
    "no-lost-write",
    "when fsync returns, the device holds every write that completed, and every store through "
    "a shared mapping that landed, before the fsync began (unless truncated or zeroed whole "
    "since)",
    reads=page_cache_reads,
    needs=("device", "a block device"),
)(_checker(no_lost_write_violation))

DEFINITIONS = (writeback_protocol, dirty_coherent, no_lost_write)
"""The page-cache properties, for the registry."""
PAGECACHE_PROPERTIES = tuple(prop.name for prop in DEFINITIONS)
