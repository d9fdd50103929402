"""Scenarios of the address_space_operations that page migration, memory
failure, sub-page reads, FIBMAP, direct I/O and swap files call
(``aops/<name>``), and the invariants that say what the folio locks and
i_rwsem protect there."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, invariant, scenario
from mc.dsl.kernel_model import KernelModel
from mc.engine.model import Check
from mc.kernel.expr import State
from mc.kernel.pagecache import File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.models.aops import (
    direct_write,
    fibmap,
    folio_data_violation,
    memory_failure,
    migrate,
    read_block,
    swap_cycle,
    swap_extents_violation,
    truncate_swapfile,
    write_block,
)
from mc.models.writeback import io_completion, read, write

FOLIO_DATA = "folio-data-current"
SWAP_EXTENTS = "swap-extents-valid"


@invariant(
    FOLIO_DATA,
    "an unlocked, uptodate folio in the page cache holds the newest data written to its page "
    "(a migrated folio keeps its data; data a truncate, a punch or a memory error threw away "
    "is not looked for, nor a direct write's before it completed, nor the data of a folio "
    "wholly past i_size)",
    reads=lambda model: [
        name
        for name in ("folio", "xa", "PG_locked", "history", "dio", "i_size", "path condition")
        if model.locations([name])
    ],
    needs=("pagecache", "a page cache"),
)
def folio_data_current(model: KernelModel) -> Check[State]:
    world = model.world
    return lambda state: folio_data_violation(world, state)


@invariant(
    SWAP_EXTENTS,
    "while a swap file is active, its blocks are the extents swapon recorded",
    reads=["swap extents", "i_block"],
    needs=("swapfile", "a swap file"),
)
def swap_extents_valid(model: KernelModel) -> Check[State]:
    world = model.world
    return lambda state: swap_extents_violation(world, state)


CACHED = File("/f", pages=1, cached=(0,))
COLD = File("/f", pages=1)
SWAP = File("/swap", pages=1)
PAGE_PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, FOLIO_DATA)

scenario(
    "aops/migrate-vs-write",
    "compaction migrating a cached folio (->migrate_folio) while write(2) rewrites the page",
    tree=["/f"],
    threads=[migrate(CACHED, 0), write(CACHED, 0)],
    properties=PAGE_PROPERTIES,
)

scenario(
    "aops/memory-failure-vs-read",
    "a memory error in a cached folio (->error_remove_page) while read(2) reads the page",
    tree=["/f"],
    threads=[memory_failure(CACHED, 0), read(CACHED, 0), io_completion(CACHED)],
    properties=PAGE_PROPERTIES,
)

scenario(
    "aops/partial-block-read",
    "a write of the first block of a page (blocks smaller than a page) racing a read of that "
    "block (->is_partially_uptodate) and FIBMAP (->bmap)",
    tree=["/f"],
    threads=[write_block(COLD, 0), read_block(COLD, 0), fibmap(COLD, 0)],
    properties=PAGE_PROPERTIES,
)

scenario(
    "aops/direct-write-vs-write",
    "an O_DIRECT write (->direct_IO, after writing back and invalidating the cache) racing a "
    "buffered write of the page",
    tree=["/f"],
    threads=[direct_write(CACHED, 0), write(CACHED, 0), io_completion(CACHED)],
    properties=(*BASE_PROPERTIES, *PAGECACHE_PROPERTIES),
)

scenario(
    "aops/swapon-vs-truncate",
    "swapon(2) of a file (->swap_activate), a swap-in through ->swap_rw and swapoff(2) "
    "(->swap_deactivate), racing truncate(2) of the file",
    tree=["/swap"],
    threads=[swap_cycle(SWAP), truncate_swapfile(SWAP)],
    properties=(*BASE_PROPERTIES, SWAP_EXTENTS),
)
