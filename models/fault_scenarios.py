"""A page fault that misses the page cache (``mmap/fault-read-vs-munmap``):
``filemap_fault()`` releases mmap_lock around the read I/O and the fault is
retried once."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, scenario
from mc.kernel import truncate_properties as _truncate_properties  # noqa: F401  (registers)
from mc.kernel.pagecache import File
from mc.kernel.truncate_properties import TRUNCATE_PROPERTIES
from mc.models.truncate import mmap_load, munmap
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
