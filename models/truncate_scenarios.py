"""Truncate and hole-punch scenarios (``truncate/<name>``) over symbolic
sizes and offsets, and the protocol variants they catch."""

from __future__ import annotations

from mc.dsl.operation import Invocation
from mc.dsl.program import Program
from mc.dsl.scenario import BASE_PROPERTIES, flag_variant, scenario, variant
from mc.engine.symbolic import Symbol
from mc.kernel import truncate_properties as _truncate_properties  # noqa: F401  (registers)
from mc.kernel.pagecache import PAGE_SIZE, File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.kernel.truncate_properties import TRUNCATE_PROPERTIES
from mc.models.blockfs_truncate import (
    MKWRITE_NO_TRUNCATE_CHECK,
    NO_TAIL_ZEROING,
    PUNCH_NO_WRITEBACK,
    PUNCH_ROUNDS_OUT,
)
from mc.models.truncate import (
    mmap_load,
    mmap_store,
    punch_hole,
    readahead,
    shrink_store_extend,
    truncate,
)
from mc.models.truncate_mm import PARTIAL_ZERO_FROM_FOLIO_START, TRUNCATE_SKIPS_WRITEBACK
from mc.models.writeback import flusher, io_completion

TRUNCATE_SCENARIO_PROPERTIES = (*BASE_PROPERTIES, *TRUNCATE_PROPERTIES)
TWO_PAGES = 2 * PAGE_SIZE
PRE_INVALIDATE_LOCK = "pre-invalidate-lock"


@variant(
    PRE_INVALIDATE_LOCK,
    "the protocol before mapping->invalidate_lock (5.15): faults, reads and readahead add "
    "folios under no lock that truncate and hole punch exclude",
)
def pre_invalidate_lock(program: Program, _invocation: Invocation) -> Program:
    """Every acquisition and release of invalidate_lock goes."""
    return program.drop_lock("invalidate_lock")


flag_variant(
    NO_TAIL_ZEROING,
    "truncate up does not tail-zero the old EOF folio past the old, unaligned size "
    "(ext4_block_truncate_page(oldsize), before c7fc0366c656: 6.13, and 6.12.y stable)",
)
flag_variant(
    MKWRITE_NO_TRUNCATE_CHECK,
    "->page_mkwrite does not recheck folio->mapping and i_size under the folio lock",
)
flag_variant(
    PUNCH_NO_WRITEBACK,
    "ext4_punch_hole() as 6.15 and later have it in data=ordered and data=writeback mode: no "
    "filemap_write_and_wait_range() before inode_lock() (the hole's pages are dropped anyway)",
)
flag_variant(
    PUNCH_ROUNDS_OUT,
    "ext4_punch_hole() truncates the page cache and frees the blocks from round_down(offset) "
    "to round_up(offset + length): the pages in part in the hole go whole, with the data "
    "outside the hole",
)
flag_variant(
    TRUNCATE_SKIPS_WRITEBACK,
    "truncate_inode_pages_range() removes a folio without waiting for its writeback",
)
flag_variant(
    PARTIAL_ZERO_FROM_FOLIO_START,
    "truncate_inode_partial_folio() zeroes the EOF folio from its first byte, not from the "
    "new EOF: bytes below EOF of a clean folio change",
)

COLD = File("/f", pages=2)
CACHED = File("/f", pages=2, cached=(0, 1))
DIRTY = File("/f", pages=2, cached=(0, 1), dirty=(1,))
NEW_SIZE = Symbol("new_size", 0, TWO_PAGES)
POS = Symbol("pos", 0, TWO_PAGES - 1)

scenario(
    "truncate/punch-vs-fault",
    "a hole punched over one page at a symbolic offset while a load through the mapping "
    "at a symbolic position faults the page in",
    tree=["/f"],
    threads=[
        punch_hole(COLD, Symbol("offset", 0, PAGE_SIZE), PAGE_SIZE),
        mmap_load(COLD, POS),
        io_completion(COLD),
    ],
    properties=TRUNCATE_SCENARIO_PROPERTIES,
)

scenario(
    "truncate/truncate-vs-readahead",
    "a truncate to a symbolic size while readahead(2) of a symbolic offset brings the page in",
    tree=["/f"],
    threads=[truncate(COLD, NEW_SIZE), readahead(COLD, POS), io_completion(COLD)],
    properties=TRUNCATE_SCENARIO_PROPERTIES,
)

scenario(
    "truncate/truncate-vs-write-fault",
    "a truncate to a symbolic size while a store through the mapping at a symbolic "
    "position write-faults (->page_mkwrite)",
    tree=["/f"],
    threads=[truncate(CACHED, NEW_SIZE), mmap_store(CACHED, POS), io_completion(CACHED)],
    properties=TRUNCATE_SCENARIO_PROPERTIES,
)

scenario(
    "truncate/shrink-store-extend",
    "truncate down to a symbolic size, store through the mapping at a symbolic position "
    "(into the partial EOF page, or past it), truncate up, read back past the old EOF",
    tree=["/f"],
    threads=[
        shrink_store_extend(CACHED, Symbol("size", 0, TWO_PAGES), POS, TWO_PAGES),
        io_completion(CACHED),
    ],
    properties=TRUNCATE_SCENARIO_PROPERTIES,
)

scenario(
    "truncate/truncate-vs-writeback",
    "a truncate to a symbolic size while the flusher writes back the dirty second page",
    tree=["/f"],
    threads=[truncate(DIRTY, NEW_SIZE), flusher(DIRTY), io_completion(DIRTY)],
    properties=TRUNCATE_SCENARIO_PROPERTIES,
)

ONE_CLEAN_PAGE = File("/f", pages=1, cached=(0,))

scenario(
    "truncate/unaligned-clean",
    "one ftruncate(f, 100) of a file whose one page is cached and clean: truncate zeroes the "
    "folio past the new EOF, which the device still holds, a legal state",
    tree=["/f"],
    threads=[truncate(ONE_CLEAN_PAGE, 100), io_completion(ONE_CLEAN_PAGE)],
    properties=(*TRUNCATE_SCENARIO_PROPERTIES, *PAGECACHE_PROPERTIES),
)
