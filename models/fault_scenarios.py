"""Page faults that wait for a read (``mmap/fault-read-vs-munmap``,
``mmap/fault-vs-readahead``): ``filemap_fault()`` releases mmap_lock before
it sleeps on the read I/O and the fault is retried once."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, scenario
from mc.kernel import truncate_properties as _truncate_properties  # noqa: F401  (registers)
from mc.kernel.pagecache import File
from mc.kernel.truncate_properties import TRUNCATE_PROPERTIES
from mc.models.truncate import mmap_load, munmap, readahead
from mc.models.writeback import io_completion

COLD = File("/f", pages=1)

scenario(
    "mmap/fault-read-vs-munmap",
    "a load through the mapping of a page not in the page cache (filemap_fault() releases "
    "mmap_lock, reads the page ahead, waits for the read and returns VM_FAULT_RETRY; the "
    "retried fault, FAULT_FLAG_TRIED, keeps mmap_lock) while munmap(2) takes mmap_lock for "
    "writing and zaps the ptes",
    tree=["/f"],
    threads=[mmap_load(COLD, 0), munmap(COLD), io_completion(COLD)],
    properties=(*BASE_PROPERTIES, *TRUNCATE_PROPERTIES),
)

scenario(
    "mmap/fault-vs-readahead",
    "readahead(2) of a page not in the page cache while a load through the mapping faults on "
    "it (the folio found under read: lock_folio_maybe_drop_mmap() releases mmap_lock before "
    "it sleeps on the folio lock, then VM_FAULT_RETRY) and munmap(2) takes mmap_lock for "
    "writing",
    tree=["/f"],
    threads=[readahead(COLD, 0), mmap_load(COLD, 0), munmap(COLD), io_completion(COLD)],
    properties=(*BASE_PROPERTIES, *TRUNCATE_PROPERTIES),
)
