"""Writeback scenarios for ``bench/scale.py``: three writers on three pages,
the flusher, an fsync and I/O completion; then a fourth writer."""

from mc.dsl.scenario import BASE_PROPERTIES, scenario
from mc.kernel import pagecache_properties as _pagecache_properties  # noqa: F401  (registers)
from mc.kernel.pagecache import File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.models.writeback import flusher, fsync, io_completion, write

THREE_PAGES = File("/f", pages=3, cached=(0,), holes=(1, 2))
PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES)
WRITERS = [write(THREE_PAGES, 0), write(THREE_PAGES, 1), write(THREE_PAGES, 2)]
SERVICE = [flusher(THREE_PAGES), fsync(THREE_PAGES), io_completion(THREE_PAGES)]

scenario(
    "scale/writeback-3",
    "three writers, one per page of a three-page file, the flusher, an fsync, I/O completion",
    tree=["/f"],
    threads=[*WRITERS, *SERVICE],
    properties=PROPERTIES,
)
scenario(
    "scale/writeback-4",
    "the writeback scenario with a second writer of page 0",
    tree=["/f"],
    threads=[*WRITERS, write(THREE_PAGES, 0), *SERVICE],
    properties=PROPERTIES,
)
