"""Scenarios of two files, each with a page cache and a shared mapping in
one process (``mmap/two-files-*``): a copy from the mapping of one file
takes that file's folio locks under the other file's i_rwsem, and the
protocol variant whose deadlock needs both files."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, scenario
from mc.kernel import pagecache_properties as _pagecache_properties  # noqa: F401  (registers)
from mc.kernel.pagecache import File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.models.two_files import mmap_store_two_files
from mc.models.usercopy import write_from_other_mapping
from mc.models.writeback import flusher, io_completion

FILE_A = File("/a", pages=1, cached=(0,))
FILE_B = File("/b", pages=1, cached=(0,))
TWO_FILES_PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES)

scenario(
    "mmap/two-files-two-mappings",
    "two files, each cached and mapped shared by one process: write(2) of /b copies from the "
    "mapping of /a while write(2) of /a copies from the mapping of /b (each faults its source "
    "in under its own i_rwsem, then copies atomically under its own folio lock), and the "
    "flusher writes /a back",
    tree=["/a", "/b"],
    threads=[
        write_from_other_mapping(FILE_B, 0, FILE_A, 0),
        write_from_other_mapping(FILE_A, 0, FILE_B, 0),
        flusher(FILE_A),
        io_completion(FILE_A),
    ],
    properties=TWO_FILES_PROPERTIES,
)

scenario(
    "mmap/two-files-store-write",
    "two files, each cached and mapped shared by one process: a thread stores through the "
    "mapping of /a, then of /b, while write(2) of /b copies from the mapping of /a",
    tree=["/a", "/b"],
    threads=[
        mmap_store_two_files(FILE_A, 0, FILE_B, 0),
        write_from_other_mapping(FILE_B, 0, FILE_A, 0),
    ],
    properties=TWO_FILES_PROPERTIES,
)
