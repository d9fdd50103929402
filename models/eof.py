"""A store through a shared mapping past EOF, and the extension of the file
after it (Linux 6.6): the program of the ``writeback/store-past-eof-extend``
scenario and the bookkeeping of the ``extension-reads-zero`` invariant.

A file whose size is not a multiple of the page size is mapped in whole
pages; a store into the tail of the last page, past EOF, is legal (mmap(2):
"the remaining memory is zeroed when mapped, and writes to that region are
not written out to the file").  What keeps those bytes out of the file is
writeback: ``block_write_full_page()`` (fs/buffer.c) zeroes the part of the
page past i_size on every writepage ("it may be mmapped"), as iomap's
``iomap_writepage_map()`` does with ``folio_zero_segment()``.  Once the
page is written back and dropped from the page cache, a later extension
(write(2) beyond EOF, or a truncate up on a filesystem that does not zero
the old EOF block itself) exposes whatever the device holds between the old
and the new EOF; POSIX wants zeroes there.

``pagecache_isize_extended()`` (mm/truncate.c, 6.6) is what the kernel does
on the extension for a cached straddling page: 6.6 returns at once when
``from >= to || bsize == PAGE_SIZE``, and otherwise (blocks smaller than
a page) finds and locks the page (``find_lock_page()``) and
write-protects it (``page_mkclean()``) so the next store faults through
``->page_mkwrite``.  The folio conversion that followed tests
``i_blocksize(inode) >= PAGE_SIZE`` and calls ``folio_mkclean()``, and
later kernels (Brian Foster's 2024 patch of the series of ext4's
c7fc0366c656) also zero there the post-EOF range of a folio that is
still dirty, "Writeback normally does this".  This model's filesystem
has a block per page, so the function does nothing and has no step here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from mc.dsl.callers import caller_source
from mc.dsl.operation import Cite, Op, operation
from mc.dsl.steps import EffectStep
from mc.kernel.device import ZEROES
from mc.kernel.expr import State
from mc.kernel.pagecache import PAGE_SIZE, PG_UPTODATE, File, Mapping, PageCache, pagecache
from mc.kernel.pagedata import runs_of
from mc.kernel.pathcond import Symbolic, Value, at_least, holds_in, less
from mc.kernel.world import ModelError, World
from mc.models.truncate import (
    file_parts,
    mmap_store,
    pread_expecting_zeroes,
    truncate,
    truncate_file,
)
from mc.models.writeback import fsync, reclaim, write

POST_EOF = "post_eof"
"""The world part holding the stores made past EOF and the extensions after them."""


@attrs.frozen
class PostEofStore:
    """A store a thread made through the mapping past EOF, and the extension
    of the file that followed: ``[old_eof, new_eof)`` must then hold no byte
    of ``version``; ``extended`` turns true when the extension returned."""

    thread: str
    mapping: Mapping
    version: int
    old_eof: int
    new_eof: int
    extended: int


def post_eof_stores(world: World) -> list[PostEofStore]:
    """The post-EOF stores of ``world`` (created empty)."""
    part = world.parts.get(POST_EOF)
    if not isinstance(part, list):
        part = []
        world.parts[POST_EOF] = part
    return part


def _file_bytes(cache: PageCache, state: Sequence[Any], mapping: Mapping, index: int) -> Any:
    """What a read of page ``index`` returns: the cached folio when it is
    uptodate, else what the device holds (a hole reads as zeroes)."""
    page = mapping.page(index)
    folio = state[page.folio]
    if folio is not None and folio[0] is not None and folio[1] & PG_UPTODATE:
        return folio[0]
    return cache.on_device(state, page)


def _versions_between(
    symbolic: Symbolic | None, state: State, content: Any, low: Value, high: Value
) -> set[int]:
    """The data versions of bytes ``[low, high)`` of a page's ``content`` that
    certainly lie there (a run that may fall outside the range is left out)."""
    runs = runs_of(content)
    ends = [start for start, _ in runs[1:]] + [PAGE_SIZE]
    found = set()
    for (start, version), end in zip(runs, ends, strict=True):
        inside = (less(start, end), less(start, high), less(low, end))
        if all(holds_in(symbolic, state, cond) for cond in inside):
            found.add(version)
    return found


def post_eof_store_violation(
    cache: PageCache, symbolic: Symbolic | None, state: State, stores: Sequence[PostEofStore]
) -> str | None:
    """A store made past EOF whose data the file holds, after the extension,
    between the old and the new EOF."""
    for store in stores:
        if not state[store.extended]:
            continue
        for page in store.mapping.pages:
            low = max(store.old_eof, page.index * PAGE_SIZE) - page.index * PAGE_SIZE
            high = min(store.new_eof, (page.index + 1) * PAGE_SIZE) - page.index * PAGE_SIZE
            if holds_in(symbolic, state, at_least(low, high)):
                continue
            content = _file_bytes(cache, state, store.mapping, page.index)
            if content is None:
                continue
            found = _versions_between(symbolic, state, content, low, high) - {ZEROES}
            if store.version in found:
                where = "the cached folio" if state[page.folio] is not None else "the device"
                return (
                    f"bytes [{low}, {high}) of {page}, between the old EOF {store.old_eof} and "
                    f"the new EOF {store.new_eof}, hold {cache.writer(store.version)}, a store "
                    f"through the mapping past the old EOF (read from {where})"
                )
    return None


def _extended_step(slot: int) -> EffectStep:
    return EffectStep(
        label="/* the file was extended past the store */",
        source=caller_source(),
        effect=lambda _scratch, _values: True,
        result=slot,
        kind="assign",
    )


@operation(
    models="ftruncate(2); a store through the mapping past EOF; fsync(2); reclaim; "
    "write(2) beyond EOF; pread(2)",
    describe=lambda f, size, pos: (
        f"ftruncate({f}, {size}); p[{pos}] = x; fsync({f}); reclaim(page 0); "
        f"write({f}, page 1); pread({size}..{PAGE_SIZE})"
    ),
    cites=(
        *truncate.cites,
        *mmap_store.cites,
        *fsync.cites,
        *reclaim.cites,
        *write.cites,
        Cite("fs/buffer.c", "block_write_full_page", "6.6"),
        Cite("mm/truncate.c", "pagecache_isize_extended", "6.6"),
        Cite("mm/filemap.c", "filemap_read", "6.6"),
    ),
)
def store_past_eof_extend(op: Op, file: File, size: int, pos: int) -> None:
    """A program on a file of two pages: truncate it to ``size`` (inside page
    0, unaligned), store a byte at ``pos`` (past ``size``, in page 0) through
    the shared mapping, fsync(2) it (WB_SYNC_ALL writeback of the page through
    ``->writepage``, waited for), reclaim it (the pte unmapped, the folio
    freed, so what follows reads the device), extend the file by a
    write(2) of page 1 and read back ``[size, PAGE_SIZE)``, which must be
    zeroes."""
    if not 0 < size < pos < PAGE_SIZE or file.pages < 2:
        raise ModelError("store_past_eof_extend wants 0 < size < pos < PAGE_SIZE and two pages")
    mapping, _, _ = file_parts(op, file)
    truncate_file(op, file, size, ".down")
    op.run(mmap_store, file, pos)
    cache = pagecache(op.world)
    version = cache.writes[-1].version
    op.run(fsync, file)
    op.run(reclaim, file, 0)
    op.run(write, file, 1)
    extended = op.world.add_slot(f"{op.thread.name}.extended", False, hidden=True)
    post_eof_stores(op.world).append(
        PostEofStore(op.thread.name, mapping, version, size, 2 * PAGE_SIZE, extended)
    )
    op.emit(_extended_step(extended))
    pread_expecting_zeroes(op, file, size, PAGE_SIZE, ".back")
