"""DAX scenarios (``dax/<name>``): loads, stores, fsync, truncate and hole
punch on a file mapped without the page cache, and the protocol variants
they catch."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, scenario
from mc.kernel.dax import NO_DAX_MAP_OF_FREED_BLOCK
from mc.kernel.pagecache import File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.models.dax import (
    dax_fsync,
    dax_load,
    dax_punch_hole,
    dax_store,
    dax_store_fsync,
    dax_truncate,
)

DAX_PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, NO_DAX_MAP_OF_FREED_BLOCK)

HOLE = File("/f", pages=1, holes=(0,))
WRITTEN = File("/f", pages=1)

scenario(
    "dax/store-fsync-vs-load",
    "a store, then fsync, while a load faults on the same hole of a DAX file (a block "
    "allocated and zeroed for the store, the zero page mapped for the load)",
    tree=["/f"],
    threads=[dax_store_fsync(HOLE, 0), dax_load(HOLE, 0)],
    properties=DAX_PROPERTIES,
)

scenario(
    "dax/store-fsync-twice",
    "two stores to a page of a DAX file while fsync runs twice: writeback write-protects the "
    "pte, so the second store goes through ->pfn_mkwrite and dirties the entry again",
    tree=["/f"],
    threads=[dax_store(WRITTEN, 0, 2), dax_fsync(WRITTEN, 2)],
    properties=DAX_PROPERTIES,
)

scenario(
    "dax/truncate-vs-store",
    "a store to the only page of a DAX file while ftruncate cuts the file to nothing: the "
    "fault under invalidate_lock shared either maps the block before the truncate unmaps it, "
    "deletes the entry and frees the block, or finds the page past EOF (SIGBUS)",
    tree=["/f"],
    threads=[dax_store(WRITTEN, 0, 1), dax_truncate(WRITTEN, 0)],
    properties=DAX_PROPERTIES,
)

scenario(
    "dax/punch-vs-load",
    "a load from a page of a DAX file while a hole is punched there: the load maps the block "
    "before the punch unmaps it and frees it, or the zero page of the hole after",
    tree=["/f"],
    threads=[dax_load(WRITTEN, 0), dax_punch_hole(WRITTEN, 0)],
    properties=DAX_PROPERTIES,
)

scenario(
    "dax/truncate-vs-store-fsync",
    "a store and fsync on a DAX file while ftruncate cuts it to nothing: writeback waits for "
    "the entry the truncate holds and finds it deleted (dax_writeback_one()'s recheck), and "
    "the store's data need not reach the freed block",
    tree=["/f"],
    threads=[dax_store_fsync(WRITTEN, 0), dax_truncate(WRITTEN, 0)],
    properties=DAX_PROPERTIES,
)
