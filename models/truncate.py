"""Truncate and hole punch racing page faults, reads and readahead (Linux
6.6, with ext4's shape for the filesystem): the system calls and user
accesses of the ``truncate/`` scenarios.

- ``truncate``: ``do_sys_ftruncate()`` -> ``do_truncate()`` (i_rwsem
  exclusive) -> ``notify_change()`` -> ``->setattr``;
- ``punch_hole``: ``vfs_fallocate()`` -> ``->fallocate(PUNCH_HOLE)``;
- ``mmap_load`` / ``mmap_store``: a byte loaded from or stored to the
  process's shared mapping of the file, faulting as ``mc.models.fault`` says;
- ``munmap``: ``__vm_munmap()`` (mmap_lock exclusive): the ptes zapped;
- ``readahead``: ``ksys_readahead()`` -> ``generic_fadvise(WILLNEED)`` ->
  ``page_cache_ra_unbounded()``: folios added under invalidate_lock shared
  and read through ``->readahead`` from the current block map;
- ``shrink_store_extend``: a program that truncates the file to ``size``,
  stores a byte at ``pos`` through the mapping, truncates the file up to
  ``new_size`` and reads back the bytes past the old EOF with pread(2),
  which must be zeroes (the reproducer of c7fc0366c656).

Sizes, offsets and positions may be ``Symbol``s (``mc.kernel.pathcond``):
each operation enumerates the page index of a position and keeps the
offset inside the page symbolic.
"""

from __future__ import annotations

from mc.dsl.callers import caller_source
from mc.dsl.folio import folio_ref, put_folio
from mc.dsl.operation import Cite, Op, operation
from mc.dsl.steps import EffectStep
from mc.dsl.symbolic_steps import argument, fork_compute, fork_effect
from mc.engine.symbolic import Symbol
from mc.kernel.dax import NOT_MODELLED_ON_DAX, Dax
from mc.kernel.expr import Eval, Expr, InodeExpr, not_
from mc.kernel.locks import EXCL, SHARED
from mc.kernel.mm import Mm, mm_of, note_mapped
from mc.kernel.pagecache import (
    PAGE_SIZE,
    File,
    Mapping,
    Page,
    pagecache,
)
from mc.kernel.pagedata import render_versions, versions_in
from mc.kernel.pathcond import (
    Value,
    add,
    decide,
    describe,
    div,
    equals,
    is_true,
    larger,
    less,
    mod,
    mul,
    pick,
    smaller,
    sub,
)
from mc.kernel.superblock import SB_FREEZE_WRITE, sb_writers
from mc.kernel.truncate_properties import (
    UNDER_WAY,
    SizeChange,
    ZeroRead,
    render_truncated,
    truncation,
)
from mc.kernel.vma import refuse_whole_file_beside_vmas
from mc.kernel.world import ModelError, Scratch, World
from mc.models import blockfs, blockfs_truncate
from mc.models.fault import access_page
from mc.models.truncate_mm import zap_ptes
from mc.models.writeback import FILEMAP_GET_FOLIO, filemap_get_pages, readahead_page

Arg = int | Symbol


def file_parts(op: Op, file: File) -> tuple[Mapping, Mm, InodeExpr]:
    """The mapping of ``file``, the mm mapping it and its inode."""
    try:
        mapping = pagecache(op.world).attach(file)
        mm = mm_of(op.world, mapping)
    except ValueError as error:
        raise ModelError(str(error)) from None
    dax = op.world.parts.get("dax")
    if isinstance(dax, Dax) and dax.mapping.ino == mapping.ino:
        raise ModelError(f"{file} is a DAX file: {NOT_MODELLED_ON_DAX}")
    truncation(op.world).attach(mapping)
    return mapping, mm, op.inode(file.path)


def mapped_whole(op: Op, file: File) -> tuple[Mapping, Mm, InodeExpr]:
    """``file_parts`` of a file the process maps with one implicit VMA over
    all of it, as the faults of this module and ``mc.models.usercopy`` do:
    a model error beside a ``MappedFile``'s VMAs (``mc.models.mmap``)."""
    parts = file_parts(op, file)
    try:
        refuse_whole_file_beside_vmas(op.world, parts[0])
    except ValueError as error:
        raise ModelError(str(error)) from None
    note_mapped(op.world, parts[0])
    return parts


def _position(op: Op, mapping: Mapping, pos: Arg) -> Value:
    end = len(mapping.pages) * PAGE_SIZE
    if isinstance(pos, Symbol) and pos.high >= end:
        raise ModelError(f"{pos.name} may fall past the mapping of {mapping}")
    if isinstance(pos, Symbol) and pos.low < 0:
        raise ModelError(f"{pos.name} may be negative, before the mapping of {mapping}")
    if isinstance(pos, int) and not 0 <= pos < end:
        raise ModelError(f"byte {pos} is outside the mapping of {mapping} (bytes 0 to {end - 1})")
    return argument(op, pos)


def _at_least(what: str, value: Arg, least: int, kernel: str) -> None:
    """Refuse an argument that may be under ``least``: the kernel returns
    at once (``kernel`` says how), before any lock, so a scenario with it
    would check nothing."""
    low = value.low if isinstance(value, Symbol) else value
    if isinstance(low, int) and low < least:
        raise ModelError(f"{what} {describe(value)} may be under {least}: {kernel}")


LOFF_MAX = (1 << 63) - 1
"""The largest ``loff_t`` (``MAX_LFS_FILESIZE`` on 64-bit): no caller can
pass a larger size or offset, and a range ending past it is -EFBIG."""


def _highest(value: Arg) -> int:
    """The largest value ``value`` may take."""
    return value.high if isinstance(value, Symbol) else int(value)


def _at_most(what: str, value: Arg, most: int, kernel: str) -> None:
    """Refuse an argument that may be over ``most`` (see ``_at_least``)."""
    if _highest(value) > most:
        raise ModelError(f"{what} {describe(value)} may be over {most}: {kernel}")


def page_dispatch(op: Op, name: str, label: str, position: Value) -> Expr:
    """Register ``name`` = the page index of byte ``position``, one outcome
    per page it can fall in."""
    return fork_compute(op, name, label, lambda scratch: pick(scratch, div(position, PAGE_SIZE)))


# --- truncate and punch hole ---------------------------------------------------------


def truncate_file(op: Op, file: File, size: Arg, at: str = "", writers_held: bool = False) -> None:
    """``do_sys_ftruncate()``: ``sb_start_write()`` (SB_FREEZE_WRITE
    shared) around ``do_truncate()``: i_rwsem exclusive around
    ``notify_change()`` -> ``->setattr``
    (``mc.models.blockfs_truncate.setattr_size``).  With ``writers_held``
    the caller holds SB_FREEZE_WRITE already (``vfs_truncate()``'s
    ``mnt_want_write()``) and releases it."""
    mapping, mm, inode = file_parts(op, file)
    value = argument(op, size)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    if not writers_held:
        op.lock(
            writers,
            SHARED,
            "do_sys_ftruncate(): sb_start_write(inode->i_sb)",
            tag="sb-start-write",
        )
    returned = op.world.add_slot(
        f"{op.thread.name}.truncated{at}", False, render_truncated, hidden=True
    )
    truncation(op.world).sizes.append(SizeChange(op.thread.name, returned))
    op.lock(inode.i_rwsem, EXCL, "do_truncate(): inode_lock(dentry->d_inode)")
    op.emit(_truncate_step(returned, UNDER_WAY, "/* the truncate is under way */"))
    op.enter(
        "inode_operations.setattr",
        label="notify_change(): error = inode->i_op->setattr(idmap, dentry, attr) "
        f"/* ATTR_SIZE, ia_size = {value} */",
        roles={"inode": inode},
    )
    blockfs_truncate.setattr_size(op, mm, mapping, value, at)
    op.unlock(inode.i_rwsem, "inode_unlock(dentry->d_inode)")
    if not writers_held:
        op.unlock(writers, "sb_end_write(inode->i_sb)", tag="sb-start-write")
    op.emit(_truncate_step(returned, True, "return error /* the truncate returned */"))


TRUNCATE_PAGES = (
    Cite(
        "mm/truncate.c",
        "truncate_inode_pages_range",
        "6.6",
        leaves_out=("spin_lock", "spin_unlock", "xas_lock_irq", "xas_unlock_irq"),
        because="shadow and DAX entries (truncate_folio_batch_exceptionals()) are not modelled",
    ),
    Cite("mm/truncate.c", "truncate_inode_folio", "6.6"),
    Cite(
        "mm/truncate.c",
        "truncate_inode_partial_folio",
        "6.6",
        leaves_out=("folio_trylock",),
        because="large folios, split at both ends of the range, are not modelled",
    ),
    Cite("mm/truncate.c", "folio_invalidate", "6.6"),
    Cite("mm/memory.c", "unmap_mapping_range", "6.6"),
    Cite("mm/memory.c", "unmap_mapping_pages", "6.6"),
    Cite("mm/memory.c", "unmap_mapping_folio", "6.6"),
)
"""What truncate and hole punch cite of mm/truncate.c, and the unmapping of
mm/memory.c it calls (``i_mmap_rwsem`` shared over the rmap walk)."""


def _truncate_step(slot: int, value: object, label: str) -> EffectStep:
    """Where the truncate stands, for the truncate properties: ``UNDER_WAY``
    once it holds i_rwsem (it may have shrunk i_size and not yet unmapped
    what lies beyond), True once it returned; a step of no interleaving of
    its own (it runs with the step before it)."""
    return EffectStep(
        label=label,
        source=caller_source(),
        effect=lambda _scratch, _values: value,
        result=slot,
        kind="assign",
    )


@operation(
    models="do_sys_ftruncate() -> do_truncate() -> notify_change() -> ->setattr (fs/open.c)",
    describe=lambda f, size: f"ftruncate({f}, {describe(size)})",
    cites=(
        *blockfs_truncate.FTRUNCATE_CITES,
        Cite(
            "fs/ext4/inode.c",
            "ext4_setattr",
            "6.6",
            method="inode_operations.setattr",
            leaves_out=(
                "down_read",
                "up_read",
                "down_write",
                "up_write",
                "read_lock",
                "read_unlock",
            ),
            because="ext4's own locks are not modelled: xattr_sem for a quota transfer, "
            "i_data_sem around i_disksize, the journal's j_state_lock in data=journal mode",
        ),
        Cite("mm/truncate.c", "truncate_pagecache", "6.6"),
        *TRUNCATE_PAGES,
    ),
)
def truncate(op: Op, file: File, size: Arg) -> None:
    """ftruncate(2) to ``size`` bytes."""
    _at_least("size", size, 0, "do_sys_ftruncate() returns -EINVAL for a negative length")
    _at_most("size", size, LOFF_MAX, "ftruncate(2) takes an off_t, which holds no more")
    truncate_file(op, file, size)


@operation(
    models="vfs_fallocate() -> ->fallocate(FALLOC_FL_PUNCH_HOLE) (fs/open.c)",
    describe=lambda f, off, length: (
        f"fallocate({f}, PUNCH_HOLE, {describe(off)}, {describe(length)})"
    ),
    cites=(
        *blockfs_truncate.PUNCH_HOLE_CITES,
        Cite("mm/page-writeback.c", "do_writepages", "6.6"),
        Cite("mm/page-writeback.c", "write_cache_pages", "6.6"),
        Cite("mm/filemap.c", "__filemap_fdatawait_range", "6.6"),
        Cite("mm/truncate.c", "truncate_pagecache_range", "6.6"),
        *TRUNCATE_PAGES,
    ),
)
def punch_hole(op: Op, file: File, offset: Arg, length: Arg) -> None:
    """fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE over
    ``[offset, offset + length)``, inside ``file_start_write()``
    (``sb_start_write()``, fs/open.c)."""
    _at_least("offset", offset, 0, "vfs_fallocate() returns -EINVAL for a negative offset")
    _at_least("length", length, 1, "vfs_fallocate() returns -EINVAL for a length under 1")
    for what, value in (("offset", offset), ("length", length)):
        _at_most(what, value, LOFF_MAX, "fallocate(2) takes an off_t, which holds no more")
    if _highest(offset) + _highest(length) > LOFF_MAX:
        raise ModelError(
            f"offset {describe(offset)} + length {describe(length)} may be over {LOFF_MAX}: "
            "vfs_fallocate() returns -EFBIG when offset + len overflows a loff_t"
        )
    mapping, mm, inode = file_parts(op, file)
    start, size = argument(op, offset), argument(op, length)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(writers, SHARED, "vfs_fallocate(): file_start_write(file)", tag="sb-start-write")
    op.enter(
        "file_operations.fallocate",
        label="ret = file->f_op->fallocate(file, mode, offset, len)",
        roles={"file": inode, "inode": inode},
    )
    blockfs_truncate.punch_hole(op, mm, mapping, inode, start, size)
    op.unlock(writers, "file_end_write(file)", tag="sb-start-write")


FAULT_CITES = (
    Cite("mm/memory.c", "handle_mm_fault", "6.6"),
    Cite("mm/memory.c", "lock_mm_and_find_vma", "6.6"),
    Cite("mm/memory.c", "finish_fault", "6.6"),
    Cite(
        "mm/filemap.c",
        "filemap_fault",
        "6.6",
        method="vm_operations_struct.fault",
        leaves_out=("spin_lock", "spin_unlock"),
        because="the page-table lock of an mlocked mapping's recheck is not modelled",
    ),
    FILEMAP_GET_FOLIO,
)
"""What a load and a store through the mapping cite alike: the fault's entry,
``->fault`` and the folio lookup it makes; a load then takes the read-fault
path (fault-around, ``do_read_fault()``), a store the shared-fault and
write-protect paths (``->page_mkwrite``)."""


# --- the mapping ----------------------------------------------------------------------


def access(op: Op, file: File, pos: Arg, *, write: bool, at: str = "") -> None:
    """A load or store at byte ``pos`` of the mapping."""
    mapping, mm, _ = mapped_whole(op, file)
    position = _position(op, mapping, pos)
    version = pagecache(op.world).add_write(op.thread.name, op.thread.pc, None) if write else 0
    index = page_dispatch(
        op,
        f"index{at}",
        "vmf->pgoff = linear_page_index(vma, addr) /* pos >> PAGE_SHIFT */",
        position,
    )
    offset = mod(position, PAGE_SIZE)
    for page in mapping.pages:
        with op.when(equals(index, page.index), f"/* {page} */"):
            access_page(op, mm, page, offset, write=write, version=version, at=f"{at}.{page.index}")


@operation(
    models="a load through a shared file mapping: handle_mm_fault() (mm/memory.c)",
    describe=lambda f, pos: f"load from mmap({f}) at {describe(pos)}",
    cites=(
        *FAULT_CITES,
        Cite("mm/memory.c", "do_read_fault", "6.6"),
        Cite("mm/filemap.c", "filemap_map_pages", "6.6", method="vm_operations_struct.map_pages"),
    ),
)
def mmap_load(op: Op, file: File, pos: Arg) -> None:
    """``x = p[pos]`` on a MAP_SHARED mapping of the file."""
    access(op, file, pos, write=False)


@operation(
    models="a store through a shared file mapping: handle_mm_fault() (mm/memory.c)",
    describe=lambda f, pos: f"store to mmap({f}) at {describe(pos)}",
    cites=(
        *FAULT_CITES,
        Cite("mm/memory.c", "do_shared_fault", "6.6"),
        Cite("mm/memory.c", "wp_page_shared", "6.6"),
        Cite("mm/memory.c", "do_page_mkwrite", "6.6"),
        Cite("mm/memory.c", "fault_dirty_shared_page", "6.6"),
        Cite(
            "fs/ext4/inode.c",
            "ext4_page_mkwrite",
            "6.6",
            method="vm_operations_struct.page_mkwrite",
        ),
        Cite("fs/buffer.c", "block_page_mkwrite", "6.6"),
        Cite("mm/page-writeback.c", "folio_mark_dirty", "6.6"),
    ),
)
def mmap_store(op: Op, file: File, pos: Arg) -> None:
    """``p[pos] = x`` on a MAP_SHARED mapping of the file."""
    access(op, file, pos, write=True)


@operation(
    models="stores through a shared file mapping, one after the other: handle_mm_fault() "
    "(mm/memory.c)",
    describe=lambda f, *positions: (
        "; ".join(f"p[{describe(pos)}] = x" for pos in positions) + f" /* mmap({f}) */"
    ),
    cites=mmap_store.cites,
)
def mmap_stores(op: Op, file: File, *positions: Arg) -> None:
    """``p[pos] = x`` for each of ``positions`` in turn, on a MAP_SHARED
    mapping of the file."""
    for number, pos in enumerate(positions):
        access(op, file, pos, write=True, at=f".{number + 1}")


@operation(
    models="__vm_munmap() -> unmap_region() -> zap_pte_range() (mm/mmap.c, mm/memory.c)",
    describe=lambda f: f"munmap({f})",
    cites=(
        Cite("mm/mmap.c", "__vm_munmap", "6.6"),
        Cite("mm/mmap.c", "do_vmi_align_munmap", "6.6"),
        Cite("include/linux/mmap_lock.h", "mmap_write_downgrade", "6.6"),
        Cite("mm/mmap.c", "unmap_region", "6.6"),
        Cite("mm/memory.c", "zap_pte_range", "6.6"),
    ),
)
def munmap(op: Op, file: File) -> None:
    """munmap(2) of the whole mapping: mmap_lock exclusive, then
    ``do_vmi_align_munmap()`` downgrades it to shared
    (``mmap_write_downgrade()``: no VM_GROWSDOWN neighbour) and every pte is
    zapped under the read lock (a dirty one dirties its folio), as in 6.12's
    ``vms_complete_munmap_vmas()``.  The VMA itself stays: an access after
    it faults the page in again, as after ``madvise(MADV_DONTNEED)``
    (``mc.models.mmap`` has VMAs that go)."""
    mapping, mm, _ = file_parts(op, file)
    op.lock(mm.mmap_lock, EXCL, "__vm_munmap(): mmap_write_lock_killable(mm)")
    op.downgrade(
        mm.mmap_lock,
        "do_vmi_align_munmap(): the VMAs detached; mmap_write_downgrade(mm)",
    )
    everything = tuple(page.index for page in mapping.pages)
    zap_ptes(
        op,
        mm,
        Expr(str(everything), lambda _w: lambda _s: everything, local=True),
        "unmap_region(): unmap_vmas(): zap_pte_range()",
        "munmapped",
    )
    op.unlock(mm.mmap_lock, "mmap_read_unlock(mm)")


# --- readahead and read ----------------------------------------------------------------


@operation(
    models="ksys_readahead() -> generic_fadvise(POSIX_FADV_WILLNEED) -> "
    "force_page_cache_ra() -> page_cache_ra_unbounded() (mm/readahead.c)",
    describe=lambda f, pos: f"readahead({f}, {describe(pos)}, 1 page)",
    cites=(
        Cite("mm/readahead.c", "ksys_readahead", "6.6"),
        Cite("mm/fadvise.c", "generic_fadvise", "6.6"),
        Cite("mm/readahead.c", "force_page_cache_ra", "6.6"),
        Cite(
            "mm/readahead.c",
            "page_cache_ra_unbounded",
            "6.6",
            leaves_out=("address_space_operations.read_folio", "folio_unlock"),
            because="read_pages() on a filesystem without ->readahead, and the folios "
            "->readahead leaves unread, are not modelled",
        ),
    ),
)
def readahead(op: Op, file: File, pos: Arg) -> None:
    """readahead(2) of the page holding byte ``pos``: nothing past EOF
    (``do_page_cache_ra()``), else ``page_cache_ra_unbounded()``."""
    mapping, _, _ = file_parts(op, file)
    position = _position(op, mapping, pos)
    index = page_dispatch(op, "index", "index = offset >> PAGE_SHIFT", position)
    for page in mapping.pages:
        with op.when(equals(index, page.index), f"/* {page} */"):
            past = fork_compute(
                op,
                f"past_eof.{page.index}",
                "do_page_cache_ra(): isize = i_size_read(inode); end_index = (isize - 1) >> "
                "PAGE_SHIFT; if (!isize || index > end_index) return",
                blockfs.past_eof,
                mapping,
                page,
            )
            with op.when(not_(is_true(past)), "if (index <= end_index)"):
                readahead_page(op, mapping, page, f".{page.index}")


def _bytes_of(scratch: Scratch, mapping: Mapping, page: Page, start: Value, end: Value) -> bool:
    """Whether ``[start, end)`` reaches into ``page`` below EOF."""
    low = mul(page.index, PAGE_SIZE)
    stop = smaller(scratch, end, scratch[mapping.i_size])
    return decide(scratch, less(start, add(low, PAGE_SIZE))) and decide(scratch, less(low, stop))


def _copy(
    scratch: Scratch, mapping: Mapping, page: Page, start: Value, end: Value, data: int
) -> None:
    low = mul(page.index, PAGE_SIZE)
    stop = smaller(scratch, end, scratch[mapping.i_size])
    first = sub(larger(scratch, start, low), low)
    last = sub(smaller(scratch, stop, add(low, PAGE_SIZE)), low)
    folio = scratch[page.folio]
    found = versions_in(scratch, None if folio is None else folio[0], first, last)
    scratch[data] = (scratch[data] or frozenset()) | found


def pread_expecting_zeroes(op: Op, file: File, start: Arg, end: Arg, at: str = "") -> None:
    """pread(2) of bytes ``[start, end)`` (``filemap_read()``: page by page,
    up to i_size, each folio made uptodate and copied); the data it
    returns must be zeroes (property no-post-eof-exposure)."""
    mapping, _, _ = file_parts(op, file)
    low, high = argument(op, start), argument(op, end)
    data = op.register(f"read{at}", render_versions)
    truncation(op.world).zero_reads.append(
        ZeroRead(op.thread.name, f"pread of bytes [{low}, {high})", data)
    )
    for page in mapping.pages:
        inside = fork_compute(
            op,
            f"reads_page{at}.{page.index}",
            f"filemap_read(): if (iocb->ki_pos >= i_size_read(inode)) break /* {page} */",
            _bytes_of,
            mapping,
            page,
            low,
            high,
        )
        with op.when(is_true(inside), f"/* the read covers {page} */"):
            filemap_get_pages(op, mapping, page, f"{at}.{page.index}")
            fork_effect(
                op,
                "copied = copy_folio_to_iter(folio, offset, bytes, iter)",
                _copy,
                mapping,
                page,
                low,
                high,
                data,
            )
            put_folio(op, folio_ref(op, page))
    op.let(f"read{at}", _versions_or_empty(data), "return already_read")


def _versions_or_empty(slot: int) -> Expr:
    def build(_world: World) -> Eval:
        return lambda state: state[slot] or frozenset()

    return Expr("already_read", build, local=True)


@operation(
    models="ftruncate(2); a store through the mapping; ftruncate(2); pread(2)",
    describe=lambda f, size, pos, new_size: (
        f"ftruncate({f}, {describe(size)}); p[{describe(pos)}] = x; "
        f"ftruncate({f}, {describe(new_size)}); pread({describe(size)}..{describe(new_size)})"
    ),
    cites=(
        *truncate.cites,
        *mmap_store.cites,
        Cite("mm/filemap.c", "filemap_read", "6.6"),
        Cite("mm/filemap.c", "filemap_get_pages", "6.6"),
        Cite("mm/filemap.c", "filemap_update_page", "6.6"),
        Cite("mm/filemap.c", "filemap_read_folio", "6.6"),
        Cite("mm/readahead.c", "page_cache_sync_ra", "6.6"),
    ),
)
def shrink_store_extend(op: Op, file: File, size: Arg, pos: Arg, new_size: Arg) -> None:
    """A program: truncate the file down to ``size``, store a byte at
    ``pos`` through its shared mapping, truncate it up to ``new_size`` and
    read back ``[size, new_size)``, which must be zeroes.  The zeroes are
    promised only while no other thread changes the file's size (another
    thread's extension would make the store land inside the file), so
    ``no-post-eof-exposure`` refuses a scenario with such a thread."""
    truncate_file(op, file, size, ".down")
    access(op, file, pos, write=True, at=".store")
    truncate_file(op, file, new_size, ".up")
    pread_expecting_zeroes(op, file, size, new_size, ".back")
