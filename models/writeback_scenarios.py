"""Page-cache and writeback scenarios (``writeback/<name>``) and the
protocol variants they catch."""

from __future__ import annotations

from mc.dsl.operation import Invocation
from mc.dsl.program import Program
from mc.dsl.scenario import BASE_PROPERTIES, flag_variant, scenario, variant
from mc.kernel import pagecache_properties as _pagecache_properties  # noqa: F401  (registers)
from mc.kernel.pagecache import PAGE_SIZE, File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.kernel.rmap import NO_MKCLEAN
from mc.kernel.truncate_properties import PTE_MAPS_CACHED_FOLIO
from mc.models.blockfs import MARK_DIRTY, RECLAIM_WRITES
from mc.models.truncate import mmap_stores, munmap
from mc.models.usercopy import COPY_FAULTS_UNDER_FOLIO_LOCK, read_to_mapping, write_from_mapping
from mc.models.writeback import (
    INVALIDATE_SKIPS_UNMAP,
    INVALIDATE_SKIPS_WRITEBACK_WAIT,
    flusher,
    fsync,
    invalidate,
    io_completion,
    read,
    reclaim,
    write,
)

WRITEBACK_PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES)

flag_variant(
    "writepage-drops-page",
    "->writepage declining to write from reclaim unlocks the folio without "
    "redirty_page_for_writepage() or set_page_writeback()",
)
flag_variant(
    RECLAIM_WRITES,
    "->writepage writes from reclaim too (block_write_full_page(), as ext2's and minix's do) "
    "instead of redirtying the folio and returning AOP_WRITEPAGE_ACTIVATE: a filesystem's "
    "choice, which pageout()'s success path then runs",
)
flag_variant(
    "clear-dirty-unlocked",
    "background writeback clears the dirty bit for I/O (folio_clear_dirty_for_io) before "
    "taking the folio lock",
)
flag_variant(
    "no-wait-writeback",
    "WB_SYNC_ALL writeback skips a dirty folio already under writeback instead of waiting",
)

flag_variant(
    INVALIDATE_SKIPS_WRITEBACK_WAIT,
    "invalidate_inode_pages2_range() does not folio_wait_writeback() the locked folio: "
    "->release_folio is called on a folio under writeback",
)

flag_variant(
    INVALIDATE_SKIPS_UNMAP,
    "invalidate_inode_pages2_range() removes a mapped folio from the page cache without "
    "unmap_mapping_folio(): the pte still maps it, and a store through it is lost",
)

flag_variant(
    NO_MKCLEAN,
    "folio_clear_dirty_for_io() does not call folio_mkclean(): a pte stays writable and dirty "
    "across writeback, so a later store through the mapping neither faults nor redirties",
)

flag_variant(
    COPY_FAULTS_UNDER_FOLIO_LOCK,
    "write(2) copies from user memory with page faults enabled while it holds the "
    "destination folio locked, without faulting the source in first",
)

TWO_PAGES = File("/f", pages=2, cached=(0,), holes=(1,))
ONE_PAGE = File("/f", pages=1, cached=(0,))

scenario(
    "writeback/two-writers-flusher",
    "two writers, one per page of a two-page file (page 1 a hole), the background flusher "
    "and an fsync",
    tree=["/f"],
    threads=[
        write(TWO_PAGES, 0),
        write(TWO_PAGES, 1),
        flusher(TWO_PAGES),
        fsync(TWO_PAGES),
        io_completion(TWO_PAGES),
    ],
    properties=WRITEBACK_PROPERTIES,
)

scenario(
    "writeback/write-fsync-reclaim",
    "a write, an fsync of the file and kswapd reclaiming the written folio",
    tree=["/f"],
    threads=[write(ONE_PAGE, 0), fsync(ONE_PAGE), reclaim(ONE_PAGE, 0), io_completion(ONE_PAGE)],
    properties=WRITEBACK_PROPERTIES,
)

scenario(
    "writeback/write-vs-fsync",
    "two writes of the same folio racing an fsync whose WB_SYNC_ALL writeback finds it "
    "under writeback from the flusher",
    tree=["/f"],
    threads=[
        write(ONE_PAGE, 0),
        write(ONE_PAGE, 0),
        fsync(ONE_PAGE),
        flusher(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=WRITEBACK_PROPERTIES,
)

COLD_PAGE = File("/f", pages=1)
TWO_CACHED = File("/f", pages=2, cached=(0, 1))

scenario(
    "writeback/read-write-reclaim",
    "a read that brings a page in through ->readahead, a write of that page and kswapd "
    "reclaiming it",
    tree=["/f"],
    threads=[
        read(COLD_PAGE, 0),
        write(COLD_PAGE, 0),
        reclaim(COLD_PAGE, 0),
        io_completion(COLD_PAGE),
    ],
    properties=WRITEBACK_PROPERTIES,
)

scenario(
    "writeback/write-invalidate-fsync",
    "a write, page-cache invalidation (->launder_folio, ->release_folio) and an fsync",
    tree=["/f"],
    threads=[write(ONE_PAGE, 0), invalidate(ONE_PAGE, 0), fsync(ONE_PAGE), io_completion(ONE_PAGE)],
    properties=WRITEBACK_PROPERTIES,
)

scenario(
    "writeback/invalidate-vs-stores",
    "page-cache invalidation (what a direct write does to the cache) of a page a process "
    "stores to twice through a shared mapping: the folio is unmapped before it leaves the cache",
    tree=["/f"],
    threads=[invalidate(ONE_PAGE, 0), mmap_stores(ONE_PAGE, 10, 20), io_completion(ONE_PAGE)],
    properties=(*WRITEBACK_PROPERTIES, PTE_MAPS_CACHED_FOLIO),
)

scenario(
    "writeback/mmap-store-flusher",
    "two stores, one after the other, through a shared mapping of a one-page file, the "
    "background flusher and an fsync: writeback write-protects the pte (folio_mkclean()), "
    "so the second store faults through ->page_mkwrite and redirties the folio",
    tree=["/f"],
    threads=[
        mmap_stores(ONE_PAGE, 0, 1),
        flusher(ONE_PAGE),
        fsync(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=WRITEBACK_PROPERTIES,
)

scenario(
    "writeback/write-from-own-mapping",
    "write(2) of a page from a buffer mapped from that same page of the file (not yet "
    "cached), while munmap(2) zaps the mapping: the copy is atomic, comes up short when the "
    "pte is gone, and the loop faults the source in again",
    tree=["/f"],
    threads=[write_from_mapping(COLD_PAGE, 0, 0), munmap(COLD_PAGE), io_completion(COLD_PAGE)],
    properties=WRITEBACK_PROPERTIES,
)

scenario(
    "writeback/read-into-mapping",
    "read(2) of a page into a buffer mapped from the other page of the file, while a "
    "write(2) writes that other page: the copy to user memory faults through ->page_mkwrite",
    tree=["/f"],
    threads=[
        read_to_mapping(TWO_CACHED, 0, PAGE_SIZE),
        write(TWO_CACHED, 1),
        io_completion(TWO_CACHED),
    ],
    properties=WRITEBACK_PROPERTIES,
)

# --- two files --------------------------------------------------------------------------

FILE_F = File("/f", pages=1, cached=(0,))
FILE_G = File("/g", pages=1, cached=(0,))

scenario(
    "writeback/two-files",
    "write(2) to each of two files while fsync(2) of one of them runs: two page caches, two "
    "inodes' folios on one device; fsync writes only its own file's folios",
    tree=["/f", "/g"],
    threads=[write(FILE_F, 0), write(FILE_G, 0), fsync(FILE_F), io_completion(FILE_F)],
    properties=WRITEBACK_PROPERTIES,
)

# --- reclaim of a mapped folio ------------------------------------------------------------

scenario(
    "writeback/mmap-store-reclaim",
    "a store through a shared mapping of a cached page racing its reclaim: try_to_unmap() "
    "under i_mmap_rwsem (the folio locked) moves the pte's dirt to the folio, which pageout() "
    "leaves dirty (->writepage declines from reclaim)",
    tree=["/f"],
    threads=[mmap_stores(ONE_PAGE, 0), reclaim(ONE_PAGE, 0), io_completion(ONE_PAGE)],
    properties=WRITEBACK_PROPERTIES,
)

# --- I/O completion in interrupt context ---------------------------------------------------


@variant(
    "start-writeback-irqs-on",
    "__folio_start_writeback() takes the mapping's i_pages lock with xas_lock(), leaving "
    "interrupts on, while I/O completion takes it in interrupt context (folio_end_writeback())",
)
def start_writeback_irqs_on(program: Program, invocation: Invocation) -> Program:
    return program.irqs_on(
        lambda step: "folio_start_writeback(folio)" in step.label,
        lambda label: label.replace("xas_lock_irqsave()", "xas_lock() /* interrupts on */"),
    )


@variant(
    "mark-dirty-irqs-on",
    "__folio_mark_dirty() takes the mapping's i_pages lock with xa_lock(), leaving interrupts "
    "on, while I/O completion takes it in interrupt context (folio_end_writeback())",
)
def mark_dirty_irqs_on(program: Program, invocation: Invocation) -> Program:
    return program.irqs_on(
        lambda step: step.label.startswith(MARK_DIRTY),
        lambda label: label.replace(
            "xa_lock_irqsave(&mapping->i_pages)", "xa_lock(&mapping->i_pages) /* interrupts on */"
        ),
    )


TWO_DIRTY = File("/f", pages=2, cached=(0, 1), dirty=(0, 1))

scenario(
    "writeback/completion-irq",
    "fsync(2) of two dirty pages while the device completes the first page's write in "
    "interrupt context: folio_end_writeback() takes the mapping's i_pages lock, which "
    "__folio_start_writeback() of the second page holds with interrupts off",
    tree=["/f"],
    threads=[fsync(TWO_DIRTY), io_completion(TWO_DIRTY)],
    properties=WRITEBACK_PROPERTIES,
)

FIRST_DIRTY = File("/f", pages=2, cached=(0, 1), dirty=(0,))

scenario(
    "writeback/write-during-completion",
    "write(2) of a file's second page while the flusher's write of the first completes in "
    "interrupt context: ->dirty_folio's __folio_mark_dirty() and folio_end_writeback() both "
    "take the mapping's i_pages lock",
    tree=["/f"],
    threads=[flusher(FIRST_DIRTY), write(FIRST_DIRTY, 1), io_completion(FIRST_DIRTY)],
    properties=WRITEBACK_PROPERTIES,
)
