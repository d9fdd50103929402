"""DAX scenarios (``dax/<name>``): loads, stores and fsync on a file
mapped without the page cache, and the protocol variants they catch."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, scenario
from mc.kernel.pagecache import File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.models.dax import dax_fsync, dax_load, dax_store, dax_store_fsync

DAX_PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES)

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
