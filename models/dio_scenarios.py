"""Direct I/O scenarios (``dio/<name>``): direct writes against buffered
reads, hole punching and truncate, with completion by AIO, and the protocol
variants they catch."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, flag_variant, scenario
from mc.kernel import truncate_properties as _truncate_properties  # noqa: F401  (registers)
from mc.kernel.pagecache import PAGE_SIZE, File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.kernel.truncate_properties import TRUNCATE_PROPERTIES
from mc.models.blockfs_truncate import NO_DIO_WAIT
from mc.models.dio import dio_worker, dio_write, dio_write_from_mapping, read_after_dio
from mc.models.truncate import punch_hole, truncate
from mc.models.writeback import io_completion, read

DIO_PROPERTIES = (*BASE_PROPERTIES, "dio-coherent")

flag_variant(
    NO_DIO_WAIT,
    "truncate and hole punch free blocks without inode_dio_wait(): a direct write in flight "
    "lands in a freed block",
)

COLD = File("/f", pages=2)
CACHED = File("/f", pages=2, cached=(0, 1))
DIRTY = File("/f", pages=2, cached=(0, 1), dirty=(0,))

scenario(
    "dio/aio-write-vs-read",
    "an AIO direct write of a page (completed by the dio workqueue) while a buffered read "
    "brings the page into the cache",
    tree=["/f"],
    threads=[
        dio_write(COLD, 0, True),
        read(COLD, 0),
        dio_worker(COLD, 0),
        io_completion(COLD),
    ],
    properties=DIO_PROPERTIES,
)

scenario(
    "dio/aio-write-vs-punch",
    "an AIO direct write of the second page while a hole is punched over it (fallocate "
    "PUNCH_HOLE waits for direct I/O in flight before it frees the block)",
    tree=["/f"],
    threads=[
        dio_write(CACHED, 1, True),
        punch_hole(CACHED, PAGE_SIZE, PAGE_SIZE),
        dio_worker(CACHED, 1),
        io_completion(CACHED),
    ],
    properties=(*DIO_PROPERTIES, *TRUNCATE_PROPERTIES),
)

scenario(
    "dio/write-vs-truncate",
    "a synchronous direct write of the second page while ftruncate cuts the file to one page "
    "(the write extends it again if the truncate goes first)",
    tree=["/f"],
    threads=[
        dio_write(CACHED, 1, False),
        truncate(CACHED, PAGE_SIZE),
        io_completion(CACHED),
    ],
    properties=(*DIO_PROPERTIES, *TRUNCATE_PROPERTIES, *PAGECACHE_PROPERTIES),
)

scenario(
    "dio/write-then-read",
    "a synchronous direct write of a cached, dirty page (written back first), then a "
    "buffered read of it begun once the write returned",
    tree=["/f"],
    threads=[
        dio_write(DIRTY, 0, False),
        read_after_dio(DIRTY, 0),
        io_completion(DIRTY),
    ],
    properties=(*DIO_PROPERTIES, *PAGECACHE_PROPERTIES),
)

scenario(
    "dio/write-from-own-mapping-vs-truncate",
    "a synchronous direct write of the first page from the process's mapping of the second "
    "(its buffer pinned, and faulted in, under i_rwsem with the write counted) while "
    "ftruncate cuts the file to one page (the write fails with -EFAULT if the truncate goes "
    "first)",
    tree=["/f"],
    threads=[
        dio_write_from_mapping(COLD, 0, PAGE_SIZE),
        truncate(COLD, PAGE_SIZE),
        io_completion(COLD),
    ],
    properties=(*DIO_PROPERTIES, *TRUNCATE_PROPERTIES),
)
