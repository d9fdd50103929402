"""Scenarios of the bytes past EOF (``writeback/store-past-eof-extend``): a
store through the mapping into the tail of the last page, writeback, and a
later extension of the file; the invariant ``extension-reads-zero`` and the
variant ``writeback-skips-eof-zero`` it catches."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, flag_variant, invariant, scenario
from mc.dsl.kernel_model import KernelModel
from mc.engine.model import Check
from mc.kernel import truncate_properties as _truncate_properties  # noqa: F401  (registers)
from mc.kernel.expr import State
from mc.kernel.pagecache import File, pagecache
from mc.kernel.pagecache_properties import PAGE_CACHE_READS
from mc.kernel.pathcond import symbolic_part
from mc.kernel.world import ERROR_SLOT
from mc.models.blockfs import WRITEBACK_SKIPS_EOF_ZERO
from mc.models.eof import POST_EOF, post_eof_store_violation, post_eof_stores, store_past_eof_extend
from mc.models.writeback import io_completion

EXTENSION_READS_ZERO = "extension-reads-zero"

flag_variant(
    WRITEBACK_SKIPS_EOF_ZERO,
    "->writepage writes a page straddling EOF as it is, without zeroing the bytes past i_size "
    "(block_write_full_page()'s zero_user_segment(), iomap's folio_zero_segment())",
)


@invariant(
    EXTENSION_READS_ZERO,
    "once every call returned, the bytes between an old EOF and the EOF a later extension "
    "set hold nothing a store through the mapping put past the old EOF (reading them from "
    "the cached folio or from the device)",
    reads=(*PAGE_CACHE_READS, "T*.extended*"),
    terminal=True,
    needs=(POST_EOF, "a store past EOF followed by an extension (models/eof.py)"),
)
def extension_reads_zero(model: KernelModel) -> Check[State]:
    cache = pagecache(model.world)
    symbolic = symbolic_part(model.world)
    stores = tuple(post_eof_stores(model.world))

    def check(state: State) -> str | None:
        if state[ERROR_SLOT] is not None:
            return None
        return post_eof_store_violation(cache, symbolic, state, stores)

    return check


TWO_PAGES = File("/f", pages=2, cached=(0,))

scenario(
    "writeback/store-past-eof-extend",
    "ftruncate(f, 100), a store through the shared mapping at byte 200 (past EOF, in the last "
    "page), fsync(2) writing the page back, reclaim dropping it, write(2) of the next page "
    "extending the file, and a pread of [100, 4096): zeroes, because writeback zeroed the page "
    "past EOF",
    tree=["/f"],
    threads=[store_past_eof_extend(TWO_PAGES, 100, 200), io_completion(TWO_PAGES)],
    properties=(*BASE_PROPERTIES, EXTENSION_READS_ZERO),
)
