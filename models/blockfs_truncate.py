"""The methods of the filesystem of ``mc.models.blockfs`` that change a file's
size or block map and serve its shared mappings, shaped as ext4's
(fs/ext4/inode.c, fs/ext4/extents.c of Linux 6.6 with the tail zeroing of
c7fc0366c656, "ext4: partial zero eof block on unaligned inode size
extension"), without the journal, extents or delayed allocation:

- ``->setattr`` with ATTR_SIZE: ``ext4_setattr()``: invalidate_lock
  exclusive; on extension the tail of the old EOF block zeroed
  (``ext4_block_truncate_page(oldsize)``); ``i_size_write()``;
  ``truncate_pagecache()``; on truncation the tail of the new EOF block
  zeroed and the blocks past it freed (``ext4_truncate()``);
- ``->fallocate(FALLOC_FL_PUNCH_HOLE)``: ``ext4_fallocate()`` ->
  ``ext4_punch_hole()``: i_rwsem and invalidate_lock exclusive,
  ``truncate_pagecache_range()``, ``ext4_zero_partial_blocks()``, the
  blocks of the whole pages freed;
- ``->page_mkwrite``: ``ext4_page_mkwrite()``: ``sb_start_pagefault()``
  (the SB_FREEZE_PAGEFAULT level shared), invalidate_lock shared
  around ``block_page_mkwrite()``, which locks the folio, rechecks that it
  was not truncated (``folio->mapping``, ``folio_pos() < i_size``), maps
  its block (``get_block(..., 1)``) and dirties it.

Blocks are pages (``blocksize == PAGE_SIZE``), so the EOF block is the EOF
page and ``pagecache_isize_extended()`` has nothing to do.
"""

from __future__ import annotations

from typing import Any

from mc.dsl.folio import folio_ref, put_folio
from mc.dsl.operation import Cite, Op
from mc.dsl.symbolic_steps import fork_compute, fork_effect
from mc.kernel import errno as E
from mc.kernel.dio import dio_holders, no_dio
from mc.kernel.expr import Expr, const, not_, slot_value, state_expr
from mc.kernel.locks import EXCL, SHARED
from mc.kernel.mm import VM_FAULT_LOCKED, VM_FAULT_NOPAGE, VM_FAULT_SIGBUS, Mm, vm_fault
from mc.kernel.pagecache import (
    BUFFER0_UPTODATE,
    PAGE_SIZE,
    PG_PRIVATE,
    PG_UPTODATE,
    TAG_DIRTY,
    Mapping,
    Page,
    change_flags,
    dirty_folio,
    filled_by_read,
    get_block,
    pagecache,
)
from mc.kernel.pagedata import zero_folio
from mc.kernel.pathcond import (
    Value,
    add,
    at_least,
    at_most,
    decide,
    differ,
    div,
    equal,
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
from mc.kernel.superblock import SB_FREEZE_PAGEFAULT, sb_writers
from mc.kernel.truncate_properties import free_blocks, truncation
from mc.kernel.world import Scratch
from mc.models import blockfs
from mc.models.truncate_mm import (
    Partial,
    render_indices,
    render_partials,
    truncate_pagecache_pages,
    unmap_mapping_range,
)
from mc.models.writeback import do_writepages, fdatawait, locked_test

NO_DIO_WAIT = "no-dio-wait"
SHRINK = "shrink"
EXTEND = "extend"
SAME = "same size"
MKWRITE_NO_TRUNCATE_CHECK = "mkwrite-no-truncate-check"

PUNCH_HOLE_CITES = (
    Cite("fs/open.c", "vfs_fallocate", "6.6"),
    Cite("fs/ext4/extents.c", "ext4_fallocate", "6.6", method="file_operations.fallocate"),
    Cite(
        "fs/ext4/inode.c",
        "ext4_punch_hole",
        "6.6",
        leaves_out=("down_write", "up_write"),
        because="ext4's own i_data_sem around the extent tree is not modelled",
    ),
)
"""What a hole punch through fallocate(2) cites down to ext4_punch_hole(),
of a page-cache file or a DAX one."""

FTRUNCATE_CITES = (
    Cite("fs/open.c", "do_sys_ftruncate", "6.6"),
    Cite("fs/open.c", "do_truncate", "6.6"),
    Cite("fs/attr.c", "notify_change", "6.6"),
)
"""What ftruncate(2) cites down to ``->setattr``, of a page-cache file or a
DAX one."""
NO_TAIL_ZEROING = "no-tail-zeroing"
PUNCH_NO_WRITEBACK = "punch-no-writeback"
"""A kernel-version setting: ``ext4_punch_hole()`` as 6.15 and later have it
in data=ordered and data=writeback mode, without the writeback before
``inode_lock()``."""
PUNCH_ROUNDS_OUT = "punch-rounds-out"
"""A broken hole punch: the page-cache range and the blocks freed are
rounded out to whole pages, so the pages in part in the hole go whole,
data outside the hole with them (``no-loss-outside-range``)."""


# --- zeroing the tail of a block in the page cache ---------------------------------


def _tail_page(scratch: Scratch, start: Value) -> int | None:
    if not decide(scratch, differ(mod(start, PAGE_SIZE), 0)):
        return None
    return pick(scratch, div(start, PAGE_SIZE))


def _hole(page: Page) -> Expr:
    slot = page.block
    return state_expr(f"!buffer_mapped(bh) /* {page} is a hole */", lambda s: s[slot] is None)


def _read_block(scratch: Scratch, page: Page) -> None:
    """``bh_read(bh, 0)``: a synchronous read of the block into the locked
    folio (``submit_bh()`` and ``wait_on_buffer()``), which keeps a first
    buffer already uptodate (``filled_by_read``)."""
    data, flags = filled_by_read(
        scratch[page.folio], pagecache(scratch.world).on_device(scratch.values, page)
    )
    scratch[page.folio] = (data, flags | PG_PRIVATE)


def _zero_from(scratch: Scratch, page: Page, start: Value, end: Value | None) -> None:
    low = mod(start, PAGE_SIZE) if end is None else start
    high = PAGE_SIZE if end is None else end
    zero_folio(scratch, page, low, high)


def zero_block_range(
    op: Op, mapping: Mapping, page: Page, start: Any, end: Any, label: str, tag: str
) -> None:
    """``__block_zero_page_range()`` / ``block_truncate_page()`` on a page:
    ``filemap_grab_folio()`` (the folio locked, created if not cached); a
    hole needs no zeroing; a folio not uptodate is read first
    (``bh_read()``) unless its first buffer is (``BUFFER0_UPTODATE``: the
    buffer zeroed is taken to be that one); bytes ``[start, end)`` of the page (``end`` None: from
    ``start % PAGE_SIZE`` to the end) are zeroed and the buffer dirtied."""
    ref = blockfs.grab_folio(op, mapping, page, "folio = filemap_grab_folio(mapping, index)")
    with op.when(
        not_(_hole(page)), "if (!buffer_mapped(bh)) goto unlock /* hole */", label_negates=True
    ):
        with op.when(
            not_(locked_test(page, PG_UPTODATE | BUFFER0_UPTODATE, "uptodate")),
            "if (!folio_test_uptodate(folio) && !buffer_uptodate(bh))",
        ):
            op.effect("bh_read(bh, 0) /* submit_bh() and wait_on_buffer() */", _read_block, page)
        fork_effect(op, label, _zero_from, page, start, end, tag=tag)
        op.effect("mark_buffer_dirty(bh)", _mark_dirty, page)
    op.unlock(ref.lock, "unlock: folio_unlock(folio)")
    put_folio(op, ref)


def _mark_dirty(scratch: Scratch, page: Page) -> None:
    dirty_folio(scratch, page)


def block_truncate_page(op: Op, mapping: Mapping, start: Expr, at: str, why: str) -> None:
    """``ext4_block_truncate_page(handle, mapping, from)``: zero the block
    holding byte ``from`` from there to its end, unless ``from`` is aligned."""
    tail = fork_compute(
        op,
        f"tail_page{at}",
        f"{why}: length = from & (blocksize - 1); if (!length) return 0; "
        "index = from >> PAGE_SHIFT",
        _tail_page,
        start,
    )
    for page in mapping.pages:
        with op.when(equals(tail, page.index), f"/* from is in {page} */"):
            zero_block_range(
                op,
                mapping,
                page,
                start,
                None,
                "folio_zero_range(folio, offset, length) /* from offset to the block's end */",
                "tail-zeroing",
            )


# --- ->setattr ---------------------------------------------------------------------


def shrink_waits_then_locks(op: Op, mapping: Mapping, change: Expr) -> None:
    """``ext4_setattr()`` changing i_size: a shrink (``change`` is
    ``SHRINK``) first waits for the direct I/O in flight, then
    ``filemap_invalidate_lock()`` keeps page faults out (of a page-cache
    file or a DAX one)."""
    with op.when(equals(change, SHRINK), "if (shrink)"):
        inode_dio_wait(op, mapping, "/* blocks are going to be removed from the inode */")
    op.lock(
        mapping.invalidate_lock,
        EXCL,
        "filemap_invalidate_lock(inode->i_mapping)",
        tag="invalidate-lock",
    )


def inode_dio_wait(op: Op, mapping: Mapping, why: str) -> None:
    """``inode_dio_wait()`` (fs/inode.c): sleep until ``i_dio_count`` is
    zero (with i_rwsem held no new direct I/O begins).  Under variant
    ``no-dio-wait`` the filesystem does not wait."""
    if op.variant(NO_DIO_WAIT):
        return
    op.wait_until(
        no_dio(op.world, mapping),
        f"inode_dio_wait(inode) {why}",
        f"i_dio_count({mapping})",
        holders=dio_holders(op.world, mapping),
    )


def _size_change(scratch: Scratch, mapping: Mapping, size: Value, oldsize: int) -> str:
    old = scratch[mapping.i_size]
    scratch[oldsize] = old
    if decide(scratch, less(size, old)):
        return SHRINK
    if decide(scratch, equal(size, old)):
        return SAME
    return EXTEND


def pages_from(
    scratch: Scratch, mapping: Mapping, size: Value
) -> tuple[tuple[int, ...], tuple[Partial, ...]]:
    """The pages wholly at or past byte ``size`` and the page ``size`` falls
    inside of, with the bytes to zero there (``[size % PAGE_SIZE,
    PAGE_SIZE)``)."""
    beyond: list[int] = []
    partial: list[Partial] = []
    for page in mapping.pages:
        start = mul(page.index, PAGE_SIZE)
        if decide(scratch, at_least(start, size)):
            beyond.append(page.index)
        elif decide(scratch, less(size, add(start, PAGE_SIZE))):
            partial.append((page.index, mod(size, PAGE_SIZE), PAGE_SIZE))
    return tuple(beyond), tuple(partial)


def _write_size(scratch: Scratch, mapping: Mapping, size: Value) -> None:
    scratch[mapping.i_size] = size


def _hole_pages(scratch: Scratch, mapping: Mapping, beyond: int, partial: int) -> None:
    """``truncate_pagecache(inode, inode->i_size)``: the pages past the
    i_size it reads now, and the page that size falls inside of."""
    scratch[beyond], scratch[partial] = pages_from(scratch, mapping, scratch[mapping.i_size])


def setattr_size(op: Op, mm: Mm, mapping: Mapping, size: Value, at: str = "") -> None:
    """``ext4_setattr()`` with ATTR_SIZE (the body of ``->setattr``, entered
    with i_rwsem held exclusive by ``do_truncate()``).  What it frees and
    drops is held to the pages past ``size`` (``no-loss-outside-range``).
    Left out: on a shrink, ``ext4_begin_ordered_truncate()`` ->
    ``jbd2_journal_begin_ordered_truncate()``, which waits for writeback of
    the range under i_rwsem (data=ordered: the model has no journal
    here)."""
    truncation(op.world).may_drop(op.thread.name, size)
    oldsize = op.register(f"oldsize{at}", str)
    change = fork_compute(
        op,
        f"shrink{at}",
        "shrink = (attr->ia_size < inode->i_size) /* i_rwsem keeps i_size stable */",
        _size_change,
        mapping,
        size,
        oldsize,
    )
    shrink_waits_then_locks(op, mapping, change)
    if not op.variant(NO_TAIL_ZEROING):
        with op.when(equals(change, EXTEND), "if (!shrink)"):
            block_truncate_page(
                op,
                mapping,
                slot_value(oldsize, "oldsize", local=True),
                f"{at}.old",
                "if (oldsize & (blocksize - 1)) ext4_block_truncate_page(handle, mapping, oldsize)",
            )
    beyond = op.register(f"beyond_eof{at}", render_indices)
    partial = op.register(f"eof_page{at}", render_partials)
    fork_effect(op, "i_size_write(inode, attr->ia_size)", _write_size, mapping, size)
    fork_effect(
        op,
        "truncate_pagecache(inode, inode->i_size): holebegin = round_up(newsize, PAGE_SIZE)",
        _hole_pages,
        mapping,
        beyond,
        partial,
    )
    beyond_pages = slot_value(beyond, f"beyond_eof{at}", local=True)
    partial_pages = slot_value(partial, f"eof_page{at}", local=True)
    unmap_mapping_range(op, mm, beyond_pages, "holebegin, 0, 1", f"{at}.1")
    truncate_pagecache_pages(op, mm, mapping, beyond_pages, partial_pages)
    unmap_mapping_range(op, mm, beyond_pages, "holebegin, 0, 1", f"{at}.2")
    with op.when(
        not_(equals(change, EXTEND)), "if (attr->ia_size <= oldsize) ext4_truncate(inode)"
    ):
        block_truncate_page(
            op,
            mapping,
            const(size, str(size)),
            f"{at}.new",
            "if (inode->i_size & (blocksize - 1)) ext4_block_truncate_page(handle, mapping, "
            "inode->i_size)",
        )
        op.compute(
            f"freed{at}",
            "ext4_ext_truncate(): ext4_ext_remove_space(inode, last_block, EXT_MAX_BLOCKS - 1)",
            free_blocks,
            mapping,
            beyond_pages,
            render=_render_blocks,
        )
    op.unlock(
        mapping.invalidate_lock,
        "filemap_invalidate_unlock(inode->i_mapping)",
        tag="invalidate-lock",
    )


def _render_blocks(blocks: tuple[int, ...] | None) -> str:
    if not blocks:
        return "none"
    return ", ".join(f"block {b}" for b in blocks)


# --- ->fallocate(FALLOC_FL_PUNCH_HOLE) ---------------------------------------------


def punch_plan(
    scratch: Scratch, mapping: Mapping, offset: Value, length: Value
) -> tuple[tuple[int, ...], tuple[Partial, ...]]:
    """``ext4_punch_hole()``'s range (6.6): nothing when ``offset >=
    i_size``; else up to ``offset+length``, or, where that is past i_size,
    to the end of the page after the one i_size falls in
    (``length = inode->i_size + PAGE_SIZE - (inode->i_size & (PAGE_SIZE -
    1)) - offset``: the EOF page whole, and one more past a page-aligned
    i_size); the pages wholly inside (their blocks are freed) and those
    inside in part, with the bytes to zero."""
    isize = scratch[mapping.i_size]
    if decide(scratch, at_least(offset, isize)):
        return (), ()
    end = add(offset, length)
    if decide(scratch, less(isize, end)):
        end = sub(add(isize, PAGE_SIZE), mod(isize, PAGE_SIZE))
    full: list[int] = []
    partial: list[Partial] = []
    for page in mapping.pages:
        low = mul(page.index, PAGE_SIZE)
        high = add(low, PAGE_SIZE)
        if not (decide(scratch, less(offset, high)) and decide(scratch, less(low, end))):
            continue
        if decide(scratch, at_most(offset, low)) and decide(scratch, at_most(high, end)):
            full.append(page.index)
            continue
        start = sub(larger(scratch, offset, low), low)
        stop = sub(smaller(scratch, end, high), low)
        partial.append((page.index, start, stop))
    return tuple(full), tuple(partial)


def _plan(scratch: Scratch, mapping: Mapping, offset: Value, length: Value, partial: int) -> Any:
    full, scratch[partial] = punch_plan(scratch, mapping, offset, length)
    return full


def _plan_rounded_out(
    scratch: Scratch, mapping: Mapping, offset: Value, length: Value, partial: int
) -> Any:
    """``PUNCH_ROUNDS_OUT``: the pages in part in the hole join those
    wholly inside."""
    full, parts = punch_plan(scratch, mapping, offset, length)
    scratch[partial] = ()
    return tuple(sorted({*full, *(index for index, _, _ in parts)}))


def punch_hole(op: Op, mm: Mm, mapping: Mapping, inode: Any, offset: Value, length: Value) -> None:
    """``ext4_fallocate()`` with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    (the body of ``->fallocate``) -> ``ext4_punch_hole()`` (Linux 6.6):
    first, without any lock, a mapping tagged DIRTY is written back and
    waited on (``filemap_write_and_wait_range()``: WB_SYNC_ALL
    ``do_writepages()``, then ``__filemap_fdatawait_range()``; the model
    writes and waits on the whole file, not only the hole's range), then
    i_rwsem, under which the hole's range is cut to i_size at once (before
    ``inode_dio_wait()``, as 6.6 reads i_size), invalidate_lock, the page
    cache and the blocks of the hole.  The range reads i_size only, so a
    hole past i_size takes invalidate_lock and frees nothing where the
    kernel goes to ``out_mutex``.
    ``truncate_pagecache_range()`` is called on the block-aligned part of
    the hole only (``if (last_block_offset > first_block_offset)``), which
    with a block to a page is the pages wholly inside; a page in part in
    the hole is zeroed by ``ext4_zero_partial_blocks()`` through the page
    cache, its buffer dirtied, not by ``truncate_inode_partial_folio()``.
    What it frees and drops is held to the hole (``no-loss-outside-range``).
    Under ``punch-no-writeback`` the writeback before ``inode_lock()`` is
    gone, as "ext4: don't write back data before punch hole in nojournal
    mode" (43d0105e2c75, 6.15; read in its posting of 2024-10-22) removed it for
    data=ordered and data=writeback ("it will be dropped soon after
    removing space"); data=journal writes the range back under both locks
    instead, and ``ext4_truncate_page_cache_block_range()`` write-protects the
    mapped folios first, both left out, as is 6.15's move of the locks into
    ``ext4_fallocate()``: the variant is 6.6's structure without the writeback.
    Left out: ``ext4_fallocate()``'s ``inode_lock()``/``inode_unlock()``
    around ``ext4_convert_inline_data()`` before it, and
    ``file_modified()`` under i_rwsem (``mc.models.file``'s ``fallocate``
    has both for the allocating modes)."""
    truncation(op.world).may_drop(op.thread.name, offset, add(offset, length))
    if not op.variant(PUNCH_NO_WRITEBACK):
        with op.when(
            _mapping_tagged(mapping, TAG_DIRTY),
            "if (mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)) "
            "filemap_write_and_wait_range(mapping, offset, offset+length-1)",
        ):
            do_writepages(op, mapping, sync_all=True)
            fdatawait(op, mapping)
    op.lock(inode.i_rwsem, EXCL, "ext4_punch_hole(): inode_lock(inode)")
    partial = op.register("punch_partial", render_partials)
    full = fork_compute(
        op,
        "punch_full",
        "ext4_punch_hole(): if (offset >= inode->i_size) return 0; "
        "if (offset+length > inode->i_size) length = inode->i_size+PAGE_SIZE-"
        "(inode->i_size & (PAGE_SIZE-1))-offset",
        _plan_rounded_out if op.variant(PUNCH_ROUNDS_OUT) else _plan,
        mapping,
        offset,
        length,
        partial,
        render=render_indices,
    )
    inode_dio_wait(op, mapping, "/* every dio in flight; newcomers block on i_rwsem */")
    op.lock(
        mapping.invalidate_lock,
        EXCL,
        "filemap_invalidate_lock(mapping) /* no page faults may reinstantiate pages */",
        tag="invalidate-lock",
    )
    partials = slot_value(partial, "punch_partial", local=True)
    unmap_mapping_range(op, mm, full, "unmap_start, 1+unmap_end-unmap_start, 0", ".punch")
    truncate_pagecache_pages(op, mm, mapping, full, None)
    for page in mapping.pages:
        with op.when(_partial_page(partials, page.index), f"/* {page} in part in the hole */"):
            zero_block_range(
                op,
                mapping,
                page,
                _partial_field(partials, page.index, 1),
                _partial_field(partials, page.index, 2),
                "ext4_zero_partial_blocks(): folio_zero_range(folio, offset, length)",
                "zero-partial-block",
            )
    op.compute(
        "punch_freed",
        "ext4_ext_remove_space(inode, first_block, stop_block - 1)",
        free_blocks,
        mapping,
        full,
        render=_render_blocks,
    )
    op.unlock(mapping.invalidate_lock, "filemap_invalidate_unlock(mapping)", tag="invalidate-lock")
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")


def _mapping_tagged(mapping: Mapping, tag: int) -> Expr:
    """``mapping_tagged(mapping, tag)``: some page of the mapping carries ``tag``."""

    def build(_world: Any) -> Any:
        return lambda state: any(state[page.marks] & tag for page in mapping.pages)

    return Expr(f"mapping_tagged({mapping.path})", build)


def _partial_page(partials: Expr, index: int) -> Expr:
    def build(world: Any) -> Any:
        get = partials.compile(world)
        return lambda state: any(p[0] == index for p in get(state) or ())

    return Expr(f"page {index} in {partials}", build, partials.local)


def _partial_field(partials: Expr, index: int, field: int) -> Expr:
    def build(world: Any) -> Any:
        get = partials.compile(world)
        return lambda state: next(p[field] for p in get(state) if p[0] == index)

    return Expr(f"{partials}[{index}][{field}]", build, partials.local)


# --- ->page_mkwrite ----------------------------------------------------------------


def _truncated(scratch: Scratch, mapping: Mapping, page: Page, ident: int | None) -> bool:
    if ident is None or scratch[page.ident] != ident:
        return True
    return decide(scratch, at_most(scratch[mapping.i_size], mul(page.index, PAGE_SIZE)))


def _map_block(scratch: Scratch, page: Page) -> int:
    change_flags(scratch, page, on=PG_PRIVATE)
    return get_block(scratch, page)


def page_mkwrite(op: Op, mapping: Mapping, page: Page, result: str, at: str) -> None:
    """``ext4_page_mkwrite()`` -> ``block_page_mkwrite()`` on the folio at
    ``page`` (the body of ``->page_mkwrite``): returns ``VM_FAULT_LOCKED``
    with the folio locked and dirty, or ``VM_FAULT_NOPAGE`` when the folio
    was truncated meanwhile (``-EFAULT``: the fault is retried).  Under
    variant ``mkwrite-no-truncate-check`` it does not recheck.  The device
    needs no stable pages, so ``folio_wait_stable()`` does not wait (it
    would wait for writeback under the folio lock, invalidate_lock and
    mmap_lock on one that does)."""
    out = f"mkwrite_out{at}"
    pagefaults = sb_writers(op.world, SB_FREEZE_PAGEFAULT)
    op.lock(
        pagefaults,
        SHARED,
        "ext4_page_mkwrite(): sb_start_pagefault(inode->i_sb)",
        tag="sb-start-pagefault",
    )
    op.lock(
        mapping.invalidate_lock,
        SHARED,
        "ext4_page_mkwrite(): filemap_invalidate_lock_shared(mapping)",
        tag="invalidate-lock",
    )
    ref = folio_ref(op, page)
    op.lock(ref.lock, label="block_page_mkwrite(): folio_lock(folio)")
    if not op.variant(MKWRITE_NO_TRUNCATE_CHECK):
        truncated = fork_compute(
            op,
            f"truncated{at}",
            "size = i_size_read(inode); "
            "if ((folio->mapping != inode->i_mapping) || (folio_pos(folio) >= size))",
            _truncated,
            mapping,
            page,
            ref,
        )
        with op.when(is_true(truncated), "ret = -EFAULT /* page got truncated */"):
            op.unlock(ref.lock, "out_unlock: folio_unlock(folio)")
            op.let(result, vm_fault(VM_FAULT_NOPAGE), "return block_page_mkwrite_return(-EFAULT)")
            op.goto(out)
    mapped = op.compute(
        f"get_block{at}",
        "ret = __block_write_begin_int(folio, 0, end, get_block, NULL): get_block(inode, "
        "iblock, bh, 1)",
        _map_block,
        page,
        render=E.render,
    )
    with op.when(differ_expr(mapped), "if (unlikely(ret < 0)) goto out_unlock"):
        op.unlock(ref.lock, "out_unlock: folio_unlock(folio)")
        op.let(result, vm_fault(VM_FAULT_SIGBUS), "return block_page_mkwrite_return(ret)")
        op.goto(out)
    blockfs.mark_folio_dirty(
        op,
        mapping,
        page,
        "block_commit_write(); folio_mark_dirty(folio): mapping->a_ops->dirty_folio()",
    )
    op.let(result, vm_fault(VM_FAULT_LOCKED), "folio_wait_stable(folio); return VM_FAULT_LOCKED")
    op.label(out)
    op.unlock(
        mapping.invalidate_lock,
        "filemap_invalidate_unlock_shared(mapping)",
        tag="invalidate-lock",
    )
    op.unlock(pagefaults, "sb_end_pagefault(inode->i_sb)", tag="sb-start-pagefault")


def differ_expr(value: Expr) -> Expr:
    """A register holding a return value is not 0."""

    def build(world: Any) -> Any:
        get = value.compile(world)
        return lambda state: get(state) != 0

    return Expr(f"{value} != 0", build, value.local)
