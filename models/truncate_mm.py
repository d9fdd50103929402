"""Dropping page-cache pages and their mappings: mm/truncate.c and the
unmapping of mm/memory.c (Linux 6.6), as helpers the filesystem's
->setattr and ->fallocate call.

``truncate_pagecache()`` unmaps the pages past the new size, truncates
their folios (lock, wait for writeback, unmap, ``->invalidate_folio``,
cancel dirty, remove) and zeroes the part of the folio past a new,
unaligned EOF; ``truncate_pagecache_range()`` does the same for a hole.
The pages to drop are worked out by the caller (a register holding their
indices, with the partial pages and the byte ranges to zero in them), so
that the decisions on symbolic sizes happen where the kernel computes the
range.
"""

from __future__ import annotations

from typing import Any

from mc.dsl.folio import find_folio, put_folio, wait_writeback
from mc.dsl.operation import Op
from mc.dsl.symbolic_steps import fork_effect
from mc.kernel.expr import Eval, Expr, const
from mc.kernel.locks import SHARED
from mc.kernel.mm import Mm, zap, zap_dirty
from mc.kernel.pagecache import (
    PAGE_SIZE,
    PG_DIRTY,
    PG_PRIVATE,
    Mapping,
    Page,
    change_flags,
    holds,
    note_truncated,
    remove_folio,
)
from mc.kernel.pagedata import zero_folio
from mc.kernel.truncate_properties import check_drop, forget_folio
from mc.kernel.world import Scratch, World
from mc.models import blockfs
from mc.models.writeback import locked_test

Partial = tuple[int, Any, Any]
"""A page to zero in part: its index and the byte range ``[start, end)``
within it (ints or terms)."""

TRUNCATE_SKIPS_WRITEBACK = "truncate-skips-writeback"
PARTIAL_ZERO_FROM_FOLIO_START = "partial-zero-from-folio-start"


def render_indices(indices: tuple[int, ...] | None) -> str:
    if not indices:
        return "none"
    return ", ".join(f"page {i}" for i in indices)


def render_partials(partials: tuple[Partial, ...] | None) -> str:
    if not partials:
        return "none"
    return "; ".join(f"page {i} bytes [{start}, {end})" for i, start, end in partials)


def _zap_dirty_method(scratch: Scratch, mm: Mm, page: Page) -> int:
    if not zap_dirty(scratch, mm, page.index):
        return 0
    return blockfs.dirty_folio_method(scratch, mm.mapping, page)


def zap_ptes(op: Op, mm: Mm, indices: Expr, label: str, name: str) -> None:
    """``zap_pte_range()`` over the pages in register ``indices``: clear
    their ptes; a dirty one marks its folio dirty (``folio_mark_dirty()``
    -> ``->dirty_folio``), in the kernel under the page-table lock with
    the pte cleared.  Here a dirty pte mapping its cached folio is cleared
    in the step of that call (``mc.kernel.mm.zap``, ``zap_dirty``),
    so that writeback never finds the folio clean and unmapped before its
    dirt arrives; when writeback cleaned the pte meanwhile, the call
    dirties nothing."""
    dirty = op.compute(name, label, zap, mm, indices, True, render=render_indices)
    for page in mm.mapping.pages:
        with op.when(holds(dirty, page.index), f"if (pte_dirty(ptent)) /* {page} */"):
            op.call(
                "address_space_operations.dirty_folio",
                _zap_dirty_method,
                mm,
                page,
                label="ptep_get_and_clear_full(); folio_mark_dirty(folio): "
                "mapping->a_ops->dirty_folio(mapping, folio)",
                roles={"mapping": mm.mapping, "folio": page},
                sleeps=False,
            )


def unmap_mapping_range(op: Op, mm: Mm, indices: Expr, what: str, at: str) -> None:
    """``unmap_mapping_range()`` (mm/memory.c, Linux 6.6):
    ``i_mmap_lock_read()``, then ``zap_page_range_single()`` on every VMA
    over the range (here the one VMA, one page-table lock for the range),
    then ``i_mmap_unlock_read()``."""
    op.lock(
        mm.mapping.i_mmap_rwsem,
        SHARED,
        f"unmap_mapping_range(mapping, {what}): i_mmap_lock_read(mapping)",
    )
    zap_ptes(
        op,
        mm,
        indices,
        "unmap_mapping_range_tree(): zap_page_range_single(): ptep_get_and_clear_full()",
        f"zapped{at}",
    )
    op.unlock(mm.mapping.i_mmap_rwsem, "i_mmap_unlock_read(mapping)")


def invalidate_folio_method(scratch: Scratch, page: Page, start: Any, length: Any) -> int:
    """``block_invalidate_folio()``: the one buffer of the folio is discarded
    (``discard_buffer()``: unmapped, clean) when the whole folio is
    invalidated, and the folio's buffers released; a partial range leaves
    the buffer, which holds bytes outside it."""
    if isinstance(start, int) and start == 0 and isinstance(length, int) and length == PAGE_SIZE:
        change_flags(scratch, page, off=PG_PRIVATE)
    return 0


def truncate_folio(op: Op, mm: Mm, mapping: Mapping, page: Page) -> None:
    """``truncate_inode_pages_range()``'s second pass on a folio wholly in
    the range: ``folio_lock()``, ``folio_wait_writeback()``, then
    ``truncate_inode_folio()``: ``truncate_cleanup_folio()`` (unmap it if
    mapped, ``->invalidate_folio`` if it has buffers, cancel its dirty bit)
    and ``filemap_remove_folio()``.  The model takes i_mmap_rwsem and zaps
    whether or not the folio is mapped, where the kernel tests
    ``folio_mapped()`` first: the zap of an unmapped folio changes nothing,
    the acquisition is the kernel's folio lock -> i_mmap_rwsem order, and
    the test would read the ptes, which makes the step visible to the
    reduction (11% to 63% more states on the punch and remove rows).
    Left out: ``filemap_free_folio()``'s ``->free_folio`` (the model's
    filesystem has none on this path) and the inode's i_lock around the
    removal."""
    ref = find_folio(op, page, f"folio = fbatch.folios[i] /* {page}: find_lock_entries() */")
    with op.when(ref.found, "if (folio)"):
        op.lock(ref.lock, label="folio_lock(folio)")
        with op.when(ref.mapped, "if (folio->mapping == mapping)"):
            if not op.variant(TRUNCATE_SKIPS_WRITEBACK):
                op.run(wait_writeback, page)
            op.lock(
                mapping.i_mmap_rwsem,
                SHARED,
                "truncate_cleanup_folio(): unmap_mapping_folio(folio) /* mapped or not */: "
                "i_mmap_lock_read(mapping)",
            )
            zap_ptes(
                op,
                mm,
                _fixed((page.index,)),
                "unmap_mapping_range_tree(): zap_page_range_single()",
                f"unmapped.{page.index}",
            )
            op.unlock(mapping.i_mmap_rwsem, "i_mmap_unlock_read(mapping)")
            with op.when(
                locked_test(page, PG_PRIVATE, "private"),
                "if (folio_needs_release(folio)) folio_invalidate(folio, 0, folio_size(folio))",
            ):
                op.call(
                    "address_space_operations.invalidate_folio",
                    invalidate_folio_method,
                    page,
                    0,
                    PAGE_SIZE,
                    label="folio->mapping->a_ops->invalidate_folio(folio, 0, folio_size(folio))",
                    roles={"folio": ref, "mapping": mapping},
                )
            op.section(
                mapping.xa_lock,
                "folio_cancel_dirty(folio); filemap_remove_folio(folio): "
                "xa_lock_irq(&mapping->i_pages); page_cache_delete()",
                _cancel_and_remove,
                mapping,
                page,
            )
        op.unlock(ref.lock, "folio_unlock(folio)")
        put_folio(op, ref)


def _cancel_and_remove(scratch: Scratch, mapping: Mapping, page: Page) -> None:
    check_drop(scratch, mapping, page)
    change_flags(scratch, page, off=PG_DIRTY)
    remove_folio(scratch, page)
    note_truncated(scratch, page)
    forget_folio(scratch, page)


def _fixed(indices: tuple[int, ...]) -> Expr:
    return const(indices, render_indices(indices))


def truncate_partial_folio(op: Op, mapping: Mapping, page: Page, partials: Expr) -> None:
    """``truncate_inode_partial_folio()`` on a cached folio the range covers
    in part (``__filemap_get_folio(FGP_LOCK)``): wait for writeback, zero
    the bytes in the range (``folio_zero_range()``) and
    ``->invalidate_folio`` them.  Under variant
    ``partial-zero-from-folio-start`` the zeroing starts at the folio's
    first byte instead of the range's (an offset computed as 0)."""
    ref = find_folio(op, page, f"folio = __filemap_get_folio(mapping, {page.index}, FGP_LOCK)")
    with op.when(ref.found, "if (!IS_ERR(folio))"):
        op.lock(ref.lock, label="folio_lock(folio)")
        with op.when(ref.mapped, "if (folio->mapping == mapping)"):
            op.run(wait_writeback, page)
            fork_effect(
                op,
                "truncate_inode_partial_folio(): folio_zero_range(folio, offset, length)",
                _zero_partial,
                page,
                partials,
                op.variant(PARTIAL_ZERO_FROM_FOLIO_START),
            )
            with op.when(
                locked_test(page, PG_PRIVATE, "private"),
                "if (folio_needs_release(folio)) folio_invalidate(folio, offset, length)",
            ):
                op.call(
                    "address_space_operations.invalidate_folio",
                    _invalidate_partial,
                    page,
                    partials,
                    label="folio->mapping->a_ops->invalidate_folio(folio, offset, length)",
                    roles={"folio": ref, "mapping": mapping},
                )
        op.unlock(ref.lock, "folio_unlock(folio)")
        put_folio(op, ref)


def _range_of(partials: tuple[Partial, ...], page: Page) -> tuple[Any, Any]:
    for index, start, end in partials:
        if index == page.index:
            return start, end
    raise ValueError(f"no partial range for {page}")


def _zero_partial(
    scratch: Scratch, page: Page, partials: tuple[Partial, ...], from_folio_start: bool
) -> None:
    start, end = _range_of(partials, page)
    zero_folio(scratch, page, 0 if from_folio_start else start, end, asked=(start, end))


def _invalidate_partial(scratch: Scratch, page: Page, partials: tuple[Partial, ...]) -> int:
    start, end = _range_of(partials, page)
    return invalidate_folio_method(scratch, page, start, end - start)


def truncate_pagecache_pages(
    op: Op, mm: Mm, mapping: Mapping, full: Expr, partials: Expr | None
) -> None:
    """``truncate_inode_pages_range()`` (mm/truncate.c, Linux 6.6): the
    folios covered in part (register ``partials``, with the byte range to
    zero in each; None: the range is page-aligned and covers none in
    part), then those wholly in the range (register ``full``), in the
    kernel's order.  The pass over the whole folios is the function's
    second loop, which locks each folio and waits for its writeback, and
    restarts from the start of the range until a ``find_get_entries()``
    from there finds nothing (a folio added meanwhile is removed too).  The
    first, non-blocking pass over the whole folios, before the partial
    ones (``find_lock_entries()``, which skips locked folios and folios
    under writeback), is left out: the second pass removes whatever it
    would have."""
    if partials is not None:
        for page in mapping.pages:
            with op.when(
                _covers(partials, page.index), f"partial page {page.index}: {page} in part in range"
            ):
                truncate_partial_folio(op, mapping, page, partials)
    restart = op.fresh_label("truncate_restart")
    op.label(restart)
    for page in mapping.pages:
        with op.when(holds(full, page.index), f"truncate page {page.index}: {page} in range"):
            truncate_folio(op, mm, mapping, page)
    op.goto_if(
        _any_cached(mapping, full),
        restart,
        "if (find_get_entries(mapping, &start, end - 1, &fbatch, indices)) "
        "/* a folio is left in the range: restart from start */",
    )


def _any_cached(mapping: Mapping, full: Expr) -> Expr:
    """A folio of the pages register ``full`` names is still in the cache."""

    def build(world: World) -> Eval:
        get = full.compile(world)
        return lambda state: any(
            state[page.folio] is not None for page in mapping.pages if page.index in get(state)
        )

    return Expr(f"a folio of {full} cached", build)


def _covers(partials: Expr, index: int) -> Expr:
    def build(world: World) -> Eval:
        get = partials.compile(world)
        return lambda state: any(p[0] == index for p in get(state) or ())

    return Expr(f"page {index} in {partials}", build, partials.local)
