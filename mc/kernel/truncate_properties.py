"""What truncate and hole punch must guarantee, as invariants of one state,
and the bookkeeping the models keep for them.

- ``no-stale-data``: no folio stays in the page cache, below EOF, for a
  page whose block was freed while the folio was there (a read or a fault
  would return, and writeback would write, data of a block the filesystem
  may already have given to another file);
- ``no-map-beyond-eof``: once a truncate has returned, no pte maps a page
  at or beyond EOF;
- ``no-write-to-freed-block``: no write bio is in flight to a free block;
- ``no-post-eof-exposure``: a read the scenario makes of bytes past an old
  EOF after extending the file returns zeroes (or another thread's write);
- ``pte-maps-cached-folio``: no present pte maps a folio the page cache no
  longer holds at its index, once that folio's lock is free (every path
  that takes a folio out of the cache unmaps it first, under its lock:
  truncate, ``invalidate_inode_pages2_range()``, reclaim's and memory
  failure's ``try_to_unmap()``, migration's ``try_to_migrate()``; a store
  through a pte left behind would land in a folio nothing reads);
- ``no-loss-outside-range``: a truncate frees the blocks, and drops the
  dirty folios, of pages wholly past its new size alone, and a hole punch
  those of pages wholly inside its hole (or inside it up to EOF): a page
  in part outside keeps its data, the part inside zeroed
  (``truncate_inode_partial_folio()``, ``ext4_zero_partial_blocks()``).
  The ranges are the operations' arguments, which no rewrite of their
  steps changes; the steps that free a block or drop a folio check them
  (``free_blocks``, ``check_drop``).

Each check is a pure function of a state (``*_violation``) that the tests
call on hand-built states.  Comparisons with a symbolic i_size are decided
by the path condition (the operations decide every such comparison at
their branch points).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from mc.engine.model import Check, declare
from mc.kernel.device import READ, WRITE, ZEROES, device_of, release, render_version
from mc.kernel.expr import State
from mc.kernel.mm import MM, Mm, mapped_files, pte_folio
from mc.kernel.pagecache import (
    PAGE_SIZE,
    PG_DIRTY,
    Mapping,
    Page,
    PageCache,
    note_truncated,
    pagecache,
)
from mc.kernel.pagecache_properties import PAGE_CACHE_READS, wholly_past_eof
from mc.kernel.pathcond import Symbolic, Value, at_least, at_most, holds_in, mul, symbolic_part
from mc.kernel.world import ERROR_SLOT, Built, ModelError, Scratch, World, reported_error

TRUNCATION = "truncation"
NO_STALE_DATA = "no-stale-data"
NO_MAP_BEYOND_EOF = "no-map-beyond-eof"
NO_WRITE_TO_FREED_BLOCK = "no-write-to-freed-block"
NO_POST_EOF_EXPOSURE = "no-post-eof-exposure"
PTE_MAPS_CACHED_FOLIO = "pte-maps-cached-folio"
NO_LOSS_OUTSIDE_RANGE = "no-loss-outside-range"
TRUNCATE_PROPERTIES = (
    NO_STALE_DATA,
    NO_MAP_BEYOND_EOF,
    NO_WRITE_TO_FREED_BLOCK,
    NO_POST_EOF_EXPOSURE,
    PTE_MAPS_CACHED_FOLIO,
    NO_LOSS_OUTSIDE_RANGE,
)


def _render_stale(block: int | None) -> str:
    return "no" if block is None else f"block {block} was freed under the folio"


UNDER_WAY = "under way"
"""What a truncate's hidden slot holds while it holds i_rwsem (False
before, True once it returned)."""


def render_truncated(value: object) -> str:
    """A truncate's progress as traces show it."""
    return UNDER_WAY if value == UNDER_WAY else "returned" if value is True else "not started"


@attrs.frozen
class SizeChange:
    """A truncate of the scenario: its thread and the hidden slot that
    says it is under way (``UNDER_WAY``) and turns true when it returns."""

    thread: str
    returned: int


@attrs.frozen
class ZeroRead:
    """A read the scenario makes of bytes that must read as zeroes: its
    thread, what it reads and the register holding what it returned."""

    thread: str
    what: str
    data: int


@attrs.frozen
class Dropped:
    """What one truncation a thread makes may drop: the bytes from ``start``
    on, to ``end`` (a hole punch's ``offset + length``; None for a
    truncate, to the end of the file)."""

    start: Value
    end: Value | None

    def __str__(self) -> str:
        if self.end is None:
            return f"the new size {self.start}"
        return f"the hole [{self.start}, {self.end})"

    def holds(self, part: Symbolic | None, state: State, mapping: Mapping, page: Page) -> bool:
        """Whether ``page`` lies wholly in the range, or wholly in it up to
        EOF, in every concrete state ``state`` stands for."""
        low = page.index * PAGE_SIZE
        if not holds_in(part, state, at_most(self.start, low)):
            return False
        if self.end is None:
            return True
        return holds_in(part, state, at_most(low + PAGE_SIZE, self.end)) or holds_in(
            part, state, at_most(state[mapping.i_size], self.end)
        )


class Truncation:
    """The bookkeeping of one world: per page, the block freed under a
    cached folio (``stale(/f:1)``); the truncates; the zero reads; what
    each thread's truncations may drop."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.stale: dict[tuple[int, int], int] = {}
        self.sizes: list[SizeChange] = []
        self.zero_reads: list[ZeroRead] = []
        self.extenders: set[str] = set()
        """The threads that may raise i_size besides the truncates (a write
        past EOF, an extending direct write)."""
        self.drops: dict[str, list[Dropped]] = {}
        """Per thread, the ranges its truncates and hole punches name
        (``may_drop``)."""

    def may_drop(self, thread: str, start: Value, end: Value | None = None) -> None:
        """Thread ``thread`` truncates to ``start`` (``end`` None) or
        punches the hole ``[start, end)``: ``no-loss-outside-range`` holds
        what it frees and drops to that range."""
        self.drops.setdefault(thread, []).append(Dropped(start, end))

    def outside(self, scratch: Scratch, mapping: Mapping, page: Page, does: str) -> None:
        """The thread of ``scratch`` ``does`` (frees the block of, drops the
        dirty folio of) ``page``: a violation of ``no-loss-outside-range``
        when the page lies in part outside every range its truncations
        name.  A thread that names none is not checked."""
        if scratch.tid is None:
            return
        thread = self.world.thread_names[scratch.tid]
        drops = self.drops.get(thread)
        if not drops:
            return
        part = symbolic_part(self.world)
        state = tuple(scratch.values)
        if any(drop.holds(part, state, mapping, page) for drop in drops):
            return
        named = " or ".join(str(drop) for drop in drops)
        scratch.violate(
            NO_LOSS_OUTSIDE_RANGE,
            f"{thread} {does} {page}, which lies in part outside {named}: the data of its bytes "
            "outside is lost (a page in part in the range keeps its folio and block, the part "
            "inside zeroed)",
        )

    def stale_slot(self, page: Page) -> int:
        key = (page.ino, page.index)
        if key not in self.stale:
            self.stale[key] = self.world.add_slot(f"stale({page})", None, _render_stale)
        return self.stale[key]

    def attach(self, mapping: Mapping) -> None:
        """Lay out the slots of ``mapping``'s pages."""
        for page in mapping.pages:
            self.stale_slot(page)


def truncation(world: World) -> Truncation:
    """The truncation bookkeeping of ``world``."""
    part = world.parts.get(TRUNCATION)
    if not isinstance(part, Truncation):
        part = Truncation(world)
        world.parts[TRUNCATION] = part
    return part


def free_blocks(scratch: Scratch, mapping: Mapping, indices: Sequence[int]) -> tuple[int, ...]:
    """The filesystem frees the blocks of pages ``indices``: they become
    holes (their data is gone: the page's history notes it truncated, so
    what was written before is not looked for) and the blocks go back to
    the free map; a folio still cached for
    such a page that holds the block's data, or is being read from it, is
    now stale (one with no data yet will read the hole, and one holding
    zeroes, read past EOF or from a hole, holds what the hole reads).
    Returns the blocks freed."""
    part = truncation(scratch.world)
    device = device_of(scratch.world)
    freed = []
    for index in indices:
        page = mapping.pages[index]
        block = scratch[page.block]
        if block is None:
            continue
        part.outside(scratch, mapping, page, "frees the block of")
        scratch[page.block] = None
        release(scratch.values, device, block)
        note_truncated(scratch, page)
        freed.append(block)
        folio = scratch[page.folio]
        reading = any(
            bio.op == READ and bio.ino == page.ino and bio.index == page.index
            for bio in scratch[device.bios]
        )
        if folio is not None and (folio[0] not in (None, ZEROES) or reading):
            scratch[part.stale_slot(page)] = block
    return tuple(freed)


def check_drop(scratch: Scratch, mapping: Mapping, page: Page) -> None:
    """The thread of ``scratch`` removes the folio of ``page`` from the page
    cache: when it is dirty, its data must lie in a range the thread's
    truncations name (``Truncation.outside``)."""
    folio = scratch[page.folio]
    if folio is not None and folio[1] & PG_DIRTY:
        truncation(scratch.world).outside(scratch, mapping, page, "drops the dirty folio of")


def forget_folio(scratch: Scratch, page: Page) -> None:
    """The folio at ``page`` left the page cache: it is stale no more."""
    slot = truncation(scratch.world).stale.get((page.ino, page.index))
    if slot is not None:
        scratch[slot] = None


def stale_block(scratch: Scratch, page: Page) -> int | None:
    """The block freed under the folio cached at ``page`` (``stale(...)``),
    which the folio's buffer still maps, if any."""
    part = scratch.world.parts.get(TRUNCATION)
    slot = part.stale.get((page.ino, page.index)) if isinstance(part, Truncation) else None
    return None if slot is None else scratch[slot]


# --- the checks -------------------------------------------------------------------


def stale_data_violation(part: Truncation, cache: PageCache, state: Sequence[Any]) -> str | None:
    """A folio cached for a page whose block was freed while the folio held
    its data or was being read from it, unless the page lies wholly past
    EOF: no read returns its bytes, no fault maps it and writeback skips
    it (``block_write_full_page()``: "fully outside i_size"), so it shows
    nothing until i_size grows over it, when it is checked again (a
    truncate that frees the blocks before it truncates the page cache
    leaves such a folio for that while, harmlessly)."""
    for mapping in cache.mappings.values():
        for page in mapping.pages:
            slot = part.stale.get((page.ino, page.index))
            if slot is None or state[slot] is None or state[page.folio] is None:
                continue
            if wholly_past_eof(cache, state, page):
                continue
            version, _ = state[page.folio]
            block = state[slot]
            if version is None:
                held = f"its read of block {block} still in flight"
            else:
                held = f"holding {render_version(version)}"
            return (
                f"folio {page} stays in the page cache, {held}, after block {block} under it "
                f"was freed: {page} is a hole now"
            )
    return None


def beyond_eof(symbolic: Symbolic | None, state: State, mapping: Mapping, index: int) -> bool:
    """Whether page ``index`` starts at or beyond i_size in every concrete
    state ``state`` stands for."""
    return holds_in(symbolic, state, at_least(mul(index, PAGE_SIZE), state[mapping.i_size]))


def map_beyond_eof_violation(
    part: Truncation, mm: Mm | None, symbolic: Symbolic | None, state: State
) -> str | None:
    """A pte mapping a page at or beyond EOF once a truncate returned, while
    no truncate is under way (one that has shrunk i_size unmaps what lies
    beyond before it returns)."""
    if mm is None:
        return None
    returned = [size.thread for size in part.sizes if state[size.returned] is True]
    if not returned or any(state[size.returned] == UNDER_WAY for size in part.sizes):
        return None
    mapping = mm.mapping
    for page in mapping.pages:
        if state[mm.ptes[page.index]] is None:
            continue
        if beyond_eof(symbolic, state, mapping, page.index):
            return (
                f"pte({page}) maps page {page.index} (bytes from {page.index * PAGE_SIZE}) "
                f"beyond EOF (i_size {state[mapping.i_size]}) after {returned[0]}'s truncate "
                "returned"
            )
    return None


def write_to_freed_block_violation(cache: PageCache, state: Sequence[Any]) -> str | None:
    """A write bio in flight to a block on the free map."""
    if cache.device is None:
        return None
    free = state[cache.device.free]
    for bio in state[cache.device.bios]:
        if bio.op == WRITE and bio.block in free:
            return f"{bio} is in flight, but block {bio.block} was freed"
    return None


def post_eof_exposure_violation(
    part: Truncation, cache: PageCache, state: Sequence[Any]
) -> str | None:
    """A read of bytes past an old EOF that returned data: the file's
    initial data or the reading thread's own writes.  Another thread's
    write is not judged: it may have landed after the file was extended,
    when the bytes were the file's to write."""
    for read in part.zero_reads:
        found = state[read.data]
        if found is None:
            continue
        others = {write.version for write in cache.writes if write.thread != read.thread}
        exposed = sorted(v for v in found if v != ZEROES and v not in others)
        if exposed:
            shown = ", ".join(cache.writer(v) for v in exposed)
            return f"{read.thread}'s {read.what} returns {shown}, not zeroes"
    return None


def _first(mms: Sequence[Mm], violation: Callable[[Mm], str | None]) -> str | None:
    """The first message ``violation`` gives for one of ``mms``, or None."""
    return next((found for mm in mms if (found := violation(mm)) is not None), None)


def _error_free(check: Callable[[State], str | None]) -> Check[State]:
    def run(state: State) -> str | None:
        if state[ERROR_SLOT] is not None:
            return None
        return check(state)

    return run


TRUNCATE_READS = (*PAGE_CACHE_READS, "stale", "pte", "T*.truncated*")
"""What the truncate properties read: the page cache's slots, the blocks
freed under cached folios, the ptes and when each truncate returned."""


@declare(
    NO_STALE_DATA,
    "no folio stays cached below EOF for a page whose block was freed under it (reads, faults "
    "and writeback would see data of a freed block)",
    reads=TRUNCATE_READS,
    needs=("pagecache", "a page cache"),
)
def no_stale_data(model: Built) -> Check[State]:
    part, cache = truncation(model.world), pagecache(model.world)
    return _error_free(lambda state: stale_data_violation(part, cache, state))


@declare(
    NO_MAP_BEYOND_EOF,
    "after a truncate returns, no pte maps a page beyond EOF",
    reads=TRUNCATE_READS,
    needs=(MM, "a mapping (an mm with ptes)"),
)
def no_map_beyond_eof(model: Built) -> Check[State]:
    part = truncation(model.world)
    mms = mapped_files(model.world)
    symbolic = symbolic_part(model.world)

    return _error_free(
        lambda state: _first(mms, lambda mm: map_beyond_eof_violation(part, mm, symbolic, state))
    )


def pte_maps_cached_violation(mm: Mm, state: Sequence[Any]) -> str | None:
    """A present pte of ``mm`` mapping a folio other than the one cached at
    its index, whose lock is free, or None."""
    for page in mm.mapping.pages:
        pte = state[mm.ptes[page.index]]
        if pte is None:
            continue
        ident = pte_folio(pte)
        if ident == state[page.ident] or state[page.locks[ident].slot] is not None:
            continue
        cached = "none" if state[page.ident] is None else f"folio #{state[page.ident]}"
        return (
            f"pte({page}) maps folio #{ident}, which is out of the page cache (it holds "
            f"{cached} at {page}): a store through it is lost"
        )
    return None


@declare(
    PTE_MAPS_CACHED_FOLIO,
    "no present pte maps a folio the page cache no longer holds at its index once the folio's "
    "lock is free (a folio leaves the cache unmapped)",
    reads=TRUNCATE_READS,
    needs=(MM, "a mapping (an mm with ptes)"),
)
def pte_maps_cached_folio(model: Built) -> Check[State]:
    mms = mapped_files(model.world)

    return _error_free(lambda state: _first(mms, lambda mm: pte_maps_cached_violation(mm, state)))


@declare(
    NO_WRITE_TO_FREED_BLOCK,
    "writeback never writes to a freed block",
    reads=TRUNCATE_READS,
    needs=("device", "a block device"),
)
def no_write_to_freed_block(model: Built) -> Check[State]:
    cache = pagecache(model.world)
    return _error_free(lambda state: write_to_freed_block_violation(cache, state))


@declare(
    NO_POST_EOF_EXPOSURE,
    "after a truncate to an unaligned size and a truncate up, the bytes past the old EOF "
    "read as zeroes (or as another thread's write, which may have landed after the extension)",
    reads=TRUNCATE_READS,
    needs=("pagecache", "a page cache"),
)
def no_post_eof_exposure(model: Built) -> Check[State]:
    """The check; a ``ModelError`` when another thread may change the size
    of the file a zero read reads: its extension could make the reader's
    own store past EOF land inside the file, where it legitimately shows."""
    part, cache = truncation(model.world), pagecache(model.world)
    for read in part.zero_reads:
        others = sorted(({size.thread for size in part.sizes} | part.extenders) - {read.thread})
        if others:
            raise ModelError(
                f"{NO_POST_EOF_EXPOSURE}: {read.thread}'s {read.what} expects zeroes past the "
                f"size it truncated to, but {', '.join(others)} may change the file's size too, "
                "which can make its store land inside the file: check the scenario without it "
                f"(--no-property {NO_POST_EOF_EXPOSURE})"
            )
    return _error_free(lambda state: post_eof_exposure_violation(part, cache, state))


@declare(
    NO_LOSS_OUTSIDE_RANGE,
    "a truncate frees the blocks, and drops the dirty folios, of pages wholly past its new size "
    "alone; a hole punch those of pages wholly inside its hole (or inside it up to EOF)",
    reads=["error"],
    needs=("pagecache", "a page cache"),
)
def no_loss_outside_range(_model: Built) -> Check[State]:
    """Reported by the steps that free a block or drop a dirty folio
    (``Truncation.outside``)."""
    return lambda state: reported_error(state, NO_LOSS_OUTSIDE_RANGE)


DEFINITIONS = (
    no_stale_data,
    no_map_beyond_eof,
    no_write_to_freed_block,
    no_post_eof_exposure,
    pte_maps_cached_folio,
    no_loss_outside_range,
)
"""The truncate properties, for the registry."""
