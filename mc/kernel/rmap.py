"""The reverse map from a folio to the ptes that map it, as
``folio_clear_dirty_for_io()`` uses it (Linux 6.6, mm/page-writeback.c and
mm/rmap.c).

``folio_clear_dirty_for_io()`` calls ``folio_mkclean()`` before it clears
PG_dirty: ``rmap_walk()`` over the shared VMAs mapping the folio
(``rmap_walk_file()`` under ``i_mmap_lock_read()``) and, for each pte that
is writable or dirty, ``page_vma_mkclean_one()``: ``ptep_clear_flush()``,
``pte_wrprotect()``, ``pte_mkclean()``.  If any pte was cleaned the folio
is marked dirty first (the pte's dirt moves to the folio), then PG_dirty is
cleared and the caller writes the folio.  This is writenotify: the next
store through the mapping faults (``do_wp_page()`` -> ``wp_page_shared()``
-> ``->page_mkwrite``) and redirties the folio, so a store made after
writeback began is never left in a clean folio.

The walk is one atomic step of the caller here (the scenario's process has
one VMA), taken with ``i_mmap_rwsem`` held shared when the folio is mapped
(``mc.dsl.folio.clear_dirty_for_io``); the model leaves out the
page-table lock it takes and the TLB flush.
"""

from __future__ import annotations

from mc.kernel.mm import PTE_DIRTY, PTE_WRITE, make_pte, maps_cached, mm_mapping, pte_folio
from mc.kernel.pagecache import Page, clear_dirty_for_io, dirty_folio
from mc.kernel.world import Scratch

NO_MKCLEAN = "no-mkclean"
"""The variant in which ``folio_clear_dirty_for_io()`` does not call
``folio_mkclean()`` (a pte stays writable and dirty across writeback)."""


def folio_mkclean(scratch: Scratch, page: Page) -> bool:
    """``folio_mkclean()``: write-protect and clean every pte mapping the
    folio cached at ``page`` (the caller holds its lock); whether one was
    writable or dirty."""
    mm = mm_mapping(scratch.world, page.ino)
    if mm is None:
        return False
    slot = mm.ptes[page.index]
    pte = scratch[slot]
    if not maps_cached(scratch, mm, page.index) or not pte & (PTE_WRITE | PTE_DIRTY):
        return False
    scratch[slot] = make_pte(pte_folio(pte), 0)
    return True


def folio_clear_dirty_for_io(scratch: Scratch, page: Page, mkclean: bool = True) -> bool:
    """``folio_clear_dirty_for_io()``: ``if (folio_mkclean(folio))
    folio_mark_dirty(folio)``, then clear PG_dirty (the DIRTY mark stays);
    true when the folio was dirty.  ``mkclean`` false leaves the ptes alone
    (variant ``no-mkclean``)."""
    if mkclean and folio_mkclean(scratch, page):
        dirty_folio(scratch, page)
    return clear_dirty_for_io(scratch, page)
