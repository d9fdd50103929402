"""The address_space_operations the page-cache models did not call yet:
page migration (``->migrate_folio``), memory failure
(``->error_remove_page``), a read of a block of a folio that is only partly
uptodate (``->is_partially_uptodate``), FIBMAP (``->bmap``), a direct I/O
write (``->direct_IO``) and a swap file (``->swap_activate``,
``->swap_rw``, ``->swap_deactivate``), over the one file of
``mc.kernel.pagecache``.

Written from the stored torvalds/linux tree of the 6.4 cycle:
mm/migrate.c (``migrate_pages()``, ``migrate_folio_unmap()``,
``move_to_new_folio()``, ``folio_migrate_mapping()``,
``filemap_migrate_folio()``, ``folio_migrate_flags()``),
mm/memory-failure.c (``memory_failure()``, ``me_pagecache_clean()``,
``me_pagecache_dirty()``, ``truncate_error_page()``), mm/truncate.c
(``generic_error_remove_page()``), mm/filemap.c (``filemap_update_page()``,
``filemap_range_uptodate()``, ``generic_file_direct_write()``), fs/ioctl.c
(``ioctl_fibmap()``), fs/inode.c (``bmap()``), mm/swapfile.c (``swapon``:
``claim_swapfile()``, ``setup_swap_extents()``; ``swapoff``:
``destroy_swap_extents()``), mm/page_io.c (``swap_readpage()``,
``swap_readpage_fs()``, ``swap_read_unplug()``; 6.10 renamed the first two
``swap_read_folio()`` and ``swap_read_folio_fs()``) and fs/attr.c
(``inode_newsize_ok()``: "truncation of in-use swapfiles is disallowed").
In 6.8 ``->error_remove_page`` became ``->error_remove_folio``.
``filemap_update_page()``/``filemap_range_uptodate()``, ``ioctl_fibmap()``/
``bmap()``, swapon(2)/swapoff(2) with ``setup_swap_extents()`` and
``destroy_swap_extents()``, and ``swap_read_folio()``/``__swap_read_unplug()``
were read again in 6.17-rc3 (Kingxukai/linux at 0291023e and 9b44fff6):
see each operation for what changed.
``move_to_new_folio()`` was read again (a 6.x tree through find_string, and
the later form in which the movable-page branch moved out): it asserts that
both the source and the destination folio are locked and calls the
mapping's ``->migrate_folio`` (``fallback_migrate_folio()`` without one;
later trees return -EOPNOTSUPP first for a ``mapping_inaccessible()``
mapping), as modelled.  ``truncate_error_folio()`` (the 6.8 name, seen
through find_string) calls ``->error_remove_folio`` then
``filemap_release_folio()`` with the folio locked by ``memory_failure()``
and no i_rwsem ("Open: to take i_rwsem or not for this? Right now we
don't."), as modelled under the 6.4 names.

What the models leave out: the ptes of a mapped folio (``try_to_migrate()``,
``remove_migration_ptes()``: the scenarios' folios are not mapped), the
LRU isolation and the retries of ``migrate_pages()``, the buffer heads of
``buffer_migrate_folio()``, the poisoned page's own state and the process
kill of memory failure, ``->invalidate_folio`` of the buffers of a folio
memory failure truncates, sub-page blocks beyond one uptodate bit per folio,
the data a direct write puts on the device, and the swap map, swap cache
and header of a swap file.
"""

from __future__ import annotations

from typing import Any

import attrs

from mc.dsl import (
    EXCL,
    SHARED,
    Cite,
    E,
    LockKind,
    ModelError,
    Op,
    Scratch,
    World,
    flag_variant,
    operation,
)
from mc.dsl.folio import FolioRef, find_folio, folio_ref, new_folio, put_folio
from mc.kernel.device import ZEROES
from mc.kernel.dio import COMPLETED, direct_io
from mc.kernel.errno import ENOSPC
from mc.kernel.expr import const, is_error, not_, same, state_expr
from mc.kernel.locks import Lock
from mc.kernel.mm import mapped_files, pte_folio
from mc.kernel.pagecache import (
    BUFFER0_UPTODATE,
    PG_DIRTY,
    PG_PRIVATE,
    PG_UPTODATE,
    PG_WRITEBACK,
    TRUNCATED,
    File,
    Mapping,
    Page,
    change_flags,
    dirty_folio,
    folio_test,
    free_identity,
    get_block,
    note_truncated,
    pagecache,
    remove_folio,
    render_folio,
    render_ident,
    wb_err_slot,
)
from mc.kernel.pagecache_properties import wholly_past_eof
from mc.kernel.pagedata import runs_of
from mc.kernel.world import yes_no
from mc.models import writeback

MIGRATE_DST_UNLOCKED = "migrate-dst-unlocked"
MIGRATE_LOSES_DIRTY = "migrate-loses-dirty"
PARTIAL_READ_UNLOCKED = "partially-uptodate-unlocked"
READ_VERSION = "6.17-rc3 (Kingxukai/linux 0291023e)"
MEMORY_FAILURE_UNLOCKED = "memory-failure-unlocked"
SWAPON_WITHOUT_INODE_LOCK = "swapon-without-inode-lock"

flag_variant(
    MIGRATE_DST_UNLOCKED,
    "migrate_folio_unmap() does not lock the new folio: once ->migrate_folio put it in the "
    "mapping, a writer locks it before the data is copied",
    waives=["address_space_operations.migrate_folio PG_locked(dst)"],
)
flag_variant(
    MIGRATE_LOSES_DIRTY,
    "folio_migrate_mapping() does not move PG_dirty to the new folio",
)
flag_variant(
    PARTIAL_READ_UNLOCKED,
    "filemap_update_page() calls ->is_partially_uptodate without the folio lock",
)
flag_variant(
    MEMORY_FAILURE_UNLOCKED,
    "memory_failure() truncates the poisoned folio (->error_remove_page) without its lock",
)
flag_variant(
    SWAPON_WITHOUT_INODE_LOCK,
    "swapon(2) activates the swap file without inode_lock (claim_swapfile() does not take it)",
)


def _assign(scratch: Scratch, slot: int, value: Any) -> int:
    scratch[slot] = value
    return 0


# --- migration ---------------------------------------------------------------------------


def dst_ref(op: Op, page: Page) -> FolioRef:
    """The thread's register for the new folio of a migration."""
    slot = op.register(f"dst.{page.index}", render_ident)
    refs = pagecache(op.world).refs.setdefault((page.ino, page.index), [])
    if slot not in refs:
        refs.append(slot)
    return FolioRef(
        f"dst /* {page} */", lambda _w: lambda s: s[slot], local=True, page=page, slot=slot
    )


def _alloc_dst(scratch: Scratch, page: Page, tid: int, slot: int, lock: bool) -> int:
    ident = free_identity(scratch, page)
    if lock:
        scratch[page.locks[ident].slot] = tid
    scratch[slot] = ident
    return 0


def _migrate_mapping(
    scratch: Scratch, page: Page, src: int, dst: int, saved: int, move_dirty: bool
) -> int:
    """``folio_migrate_mapping()`` under xa_lock: -EAGAIN unless only the
    migration holds the source (``folio_ref_freeze()``: a pte still
    mapping it holds a reference too, taken when ``set_pte_range()`` mapped
    it); else the xarray entry becomes the new folio, which takes PG_dirty
    (and the buffers)."""
    part = pagecache(scratch.world)
    holders = [slot for slot in part.refs.get((page.ino, page.index), ()) if scratch[slot] == src]
    if scratch[page.ident] != src or len(holders) > 1 or _mapped_by_pte(scratch, page, src):
        return -E.EAGAIN
    folio = scratch[page.folio]
    assert folio is not None
    scratch[saved] = folio
    kept = folio[1] & PG_PRIVATE
    if move_dirty:
        kept |= folio[1] & PG_DIRTY
    scratch[page.ident] = dst
    scratch[page.folio] = (None, kept)
    return 0


def _mapped_by_pte(scratch: Scratch, page: Page, ident: int) -> bool:
    """Whether a pte of a mapping of ``page``'s file maps folio ``ident``."""
    for mm in mapped_files(scratch.world):
        if mm.mapping.ino == page.ino:
            pte = scratch[mm.ptes[page.index]]
            if pte is not None and pte_folio(pte) == ident:
                return True
    return False


def _copy(scratch: Scratch, page: Page, saved: int) -> int:
    """``folio_migrate_copy()``: the data and ``folio_migrate_flags()``
    (PG_uptodate...) of the source, on top of what the mapping moved."""
    version, flags = scratch[saved]
    current = scratch[page.folio]
    assert current is not None
    moved = current[1] & (PG_DIRTY | PG_PRIVATE)
    scratch[page.folio] = (version, moved | (flags & PG_UPTODATE))
    return 0


@operation(
    models="kcompactd -> migrate_pages() -> move_to_new_folio() -> a_ops->migrate_folio "
    "(mm/migrate.c)",
    describe=lambda f, i: f"migrate({f}, page {i})",
    cites=(
        Cite("mm/migrate.c", "migrate_pages", "6.4"),
        Cite("mm/migrate.c", "migrate_folio_unmap", "6.4"),
        Cite("mm/rmap.c", "try_to_migrate", "6.4"),
        Cite("mm/migrate.c", "move_to_new_folio", "6.4"),
        Cite("mm/migrate.c", "folio_migrate_mapping", "6.4"),
        Cite("mm/migrate.c", "filemap_migrate_folio", "6.4"),
    ),
)
def migrate(op: Op, file: File, index: int) -> None:
    """Compaction moving the page-cache folio at ``index`` (MIGRATE_SYNC_LIGHT):
    the source is locked (``folio_lock()``), a folio under writeback is
    skipped (-EBUSY), a mapped one is unmapped (``try_to_migrate()``: a
    dirty pte dirties it), with the new folio allocated and locked before
    (``migrate_folio_unmap()`` holds it locked across ``try_to_migrate()``
    and its ``i_mmap_rwsem``) and before anyone can find it;
    ``->migrate_folio`` (``filemap_migrate_folio()``)
    swaps the xarray entry under xa_lock, moving PG_dirty, then copies the
    data and flags; both folios are unlocked.  Left out: the migration
    entries ``try_to_migrate()`` installs and ``remove_migration_ptes()``
    turns into ptes of the new folio (here the ptes are cleared, and the
    next access faults the new folio in from the cache).  It differs from
    ``migrate_folio_unmap()`` (6.3's batched migration, read in 6.4 and
    6.17), which allocates the new folio before it locks the source (the
    model allocates it after: nobody else can find it either way),
    trylocks the source (giving up under MIGRATE_SYNC_LIGHT on a folio not
    uptodate, where the model waits for the lock), and migrates a
    truncated folio without private data rather than skipping it; and a
    buffer-head filesystem's ``buffer_migrate_folio()`` locks the buffers,
    which ``filemap_migrate_folio()`` has none of."""
    op.world.refs_counted = True
    op.holds_no_file()
    mapping = op.mapping(file)
    page = mapping.page(index)
    src = find_folio(op, page, "folio_isolate_lru(folio): a reference to the LRU folio")
    op.fail_if(not_(src.found), 0, "out", "if (!folio) /* nothing to migrate */")
    op.lock(src.lock, label="migrate_folio_unmap(): if (!folio_trylock(src)) folio_lock(src)")
    op.fail_if(not_(src.mapped), 0, "unlock_src", "if (!src->mapping) /* truncated */")
    op.fail_if(
        folio_test(page, PG_WRITEBACK, "writeback"),
        E.EBUSY,
        "unlock_src",
        "if (folio_test_writeback(src)) { if (mode != MIGRATE_SYNC) rc = -EBUSY; goto out; }",
    )
    dst = dst_ref(op, page)
    locks_dst = not op.variant(MIGRATE_DST_UNLOCKED)
    op.effect(
        "dst = get_new_folio(src, private); if (unlikely(!folio_trylock(dst))) goto out",
        _alloc_dst,
        page,
        op.thread.tid,
        dst.slot,
        locks_dst,
    )
    writeback.unmap_folio(
        op,
        mapping,
        page,
        "if (folio_mapped(src)) try_to_migrate(src, 0) /* establish migration ptes */",
        "try_to_migrate() -> rmap_walk() -> rmap_walk_file(): i_mmap_lock_read(mapping)",
        "try_to_migrate_one(): pteval = ptep_clear_flush(vma, address, pvmw.pte); "
        "if (pte_dirty(pteval)) folio_mark_dirty(folio); set_pte_at(migration entry)",
    )
    op.enter(
        "address_space_operations.migrate_folio",
        page,
        label="move_to_new_folio(): rc = mapping->a_ops->migrate_folio(mapping, dst, src, mode)",
        roles={"mapping": mapping, "dst": dst, "src": src},
    )
    saved = op.register(f"src_folio.{index}", render_folio)
    op.section(
        mapping.xa_lock,
        "filemap_migrate_folio(): folio_migrate_mapping(): xas_lock_irq(&xas); "
        "if (!folio_ref_freeze(src, expected_count)) return -EAGAIN; xas_store(&xas, dst); "
        "if (dirty) { folio_clear_dirty(src); folio_set_dirty(dst); } xas_unlock_irq(&xas)",
        _migrate_mapping,
        page,
        src,
        dst,
        saved,
        not op.variant(MIGRATE_LOSES_DIRTY),
        result=op.thread.ret,
    )
    with op.when(same(op.ret, const(0, "MIGRATEPAGE_SUCCESS")), "if (rc == MIGRATEPAGE_SUCCESS)"):
        op.effect(
            "folio_attach_private(dst, folio_detach_private(src)); folio_migrate_copy(dst, src)",
            _copy,
            page,
            saved,
        )
    if locks_dst:
        op.unlock(dst.lock, "folio_unlock(dst) /* moved, or -EAGAIN: freed */")
    op.let(f"dst.{index}", const(None, "NULL"), "folio_put(dst)", render=render_ident)
    op.label("unlock_src")
    op.unlock(src.lock, "folio_unlock(src)")
    op.label("out")
    put_folio(op, src, "folio_put(src) /* putback or free */")


# --- memory failure -----------------------------------------------------------------------


def _error_remove(scratch: Scratch, page: Page) -> None:
    """The end of ``generic_error_remove_page()`` -> ``truncate_inode_folio()``:
    ``truncate_cleanup_folio()``'s ``folio_cancel_dirty()``, then
    ``truncate_inode_folio()``'s ``filemap_remove_folio()``.  A dirty bit
    the unmap before it moved from a pte is cancelled with the data (a
    store through a writable pte had dirtied the folio before
    ``me_pagecache_dirty()`` looked, so the mapping's error is set)."""
    if scratch[page.folio] is not None:
        change_flags(scratch, page, off=PG_DIRTY)
        remove_folio(scratch, page)


def _set_error(scratch: Scratch, slot: int) -> int:
    scratch[slot] = True
    return 0


def _lose_dirty_data(scratch: Scratch, slot: int, page: Page) -> int:
    """``me_pagecache_dirty()``: the dirty data is lost with the poisoned
    folio, and the mapping's error tells the next fsync; the page's
    history notes the loss, so what was written before is not looked for
    in the page cache or on the device."""
    note_truncated(scratch, page)
    return _set_error(scratch, slot)


@operation(
    models="memory_failure() -> me_pagecache_clean()/me_pagecache_dirty() -> "
    "truncate_error_page() (mm/memory-failure.c)",
    describe=lambda f, i: f"memory_failure({f}, page {i})",
    cites=(
        Cite("mm/memory-failure.c", "memory_failure", "6.4"),
        Cite("mm/memory-failure.c", "hwpoison_user_mappings", "6.4"),
        Cite("mm/rmap.c", "try_to_unmap", "6.4"),
        Cite("mm/memory-failure.c", "me_pagecache_dirty", "6.4"),
        Cite("mm/memory-failure.c", "truncate_error_page", "6.4"),
        Cite("mm/truncate.c", "generic_error_remove_page", "6.4"),
    ),
)
def memory_failure(op: Op, file: File, index: int) -> None:
    """A hardware memory error in the page-cache folio at ``index``: the
    folio is locked and its writeback waited for; a mapped one is unmapped
    (``hwpoison_user_mappings()`` -> ``try_to_unmap()``: a dirty pte
    dirties it); a dirty one's data is lost and reported on the mapping
    (``mapping_set_error(mapping, -EIO)``); ``truncate_error_page()`` calls
    ``->error_remove_page`` to take it out of the mapping, then
    ``->free_folio``; the folio is unlocked.  All of it under ``mf_mutex``,
    which ``memory_failure()`` takes first and drops last.  Left out: the
    hwpoison entry ``try_to_unmap_one()`` leaves in the pte (a later access
    is SIGBUS; here the pte is cleared, and the next access faults the
    page in from the device); ``filemap_remove_folio()``'s ``i_lock`` and
    ``xa_lock_irq()`` around the removal (the model removes the folio in
    a step of ``->error_remove_page``'s body, after
    ``truncate_cleanup_folio()``'s unmap of a folio still mapped, which
    only a change that skips ``hwpoison_user_mappings()`` leaves: the
    process then reads the old data back with no SIGBUS, which the model
    does not see; ``truncate_cleanup_folio()``'s ``folio_invalidate()`` of a
    folio with buffers is left out too); ``filemap_release_folio()``
    (``->release_folio``), which ``truncate_error_page()`` calls after a
    successful ``->error_remove_page`` (a no-op here: the truncation
    dropped the folio's private data); without the method it calls
    ``invalidate_inode_page()`` instead."""
    op.holds_no_file()
    mapping = op.mapping(file)
    page = mapping.page(index)
    mf_mutex = op.world.shared_lock("mf_mutex", LockKind.MUTEX)
    op.lock(mf_mutex, label="memory_failure(): mutex_lock(&mf_mutex)")
    ref = find_folio(op, page, "p = pfn_to_online_page(pfn); get_hwpoison_page(p)")
    op.fail_if(not_(ref.found), 0, "out", "if (!folio) /* not a page-cache page */")
    locked = not op.variant(MEMORY_FAILURE_UNLOCKED)
    if locked:
        op.lock(ref.lock, label="folio_lock(folio)")
    op.fail_if(not_(ref.mapped), 0, "unlock", "if (!folio_mapping(folio)) /* truncated */")
    op.wait_until(
        not_(folio_test(page, PG_WRITEBACK, "writeback")),
        "folio_wait_writeback(folio)",
        f"PG_writeback({page})",
    )
    writeback.unmap_folio(
        op,
        mapping,
        page,
        "hwpoison_user_mappings(): if (folio_mapped(folio)) try_to_unmap(folio, ttu)",
    )
    error = wb_err_slot(op.world, file.path)
    with op.when(
        folio_test(page, PG_DIRTY, "dirty"),
        "identify_page_state(): me_pagecache_dirty() /* folio dirty */",
    ):
        op.effect("mapping_set_error(mapping, -EIO)", _lose_dirty_data, error, page)
    op.enter(
        "address_space_operations.error_remove_page",
        page,
        label="truncate_error_page(): err = mapping->a_ops->error_remove_page(mapping, p)",
        roles={"mapping": mapping, "folio": folio_ref(op, page)},
    )
    writeback.unmap_folio(
        op,
        mapping,
        page,
        "generic_error_remove_page() -> truncate_inode_folio() -> truncate_cleanup_folio(): "
        "if (folio_mapped(folio)) unmap_mapping_folio(folio)",
        walk="unmap_mapping_folio(): i_mmap_lock_read(mapping)",
        unmap="zap_page_range_single() -> zap_pte_range(): ptent = ptep_get_and_clear_full(); "
        "if (pte_dirty(ptent)) folio_mark_dirty(folio)",
    )
    op.effect(
        "truncate_cleanup_folio(): folio_cancel_dirty(folio); truncate_inode_folio(): "
        "filemap_remove_folio(folio)",
        _error_remove,
        page,
    )
    writeback.free_folio(op, page)
    op.label("unlock")
    if locked:
        op.unlock(ref.lock, "folio_unlock(folio)")
    op.label("out")
    put_folio(op, ref)
    op.unlock(mf_mutex, "unlock_mutex: mutex_unlock(&mf_mutex)")


# --- a block of a partly uptodate folio ---------------------------------------------------


def _write_block(scratch: Scratch, page: Page, version: int) -> int:
    folio = scratch[page.folio]
    assert folio is not None
    scratch[page.folio] = (version, folio[1] | PG_PRIVATE | BUFFER0_UPTODATE)
    scratch[page.history] = (*scratch[page.history], version)
    dirty_folio(scratch, page)
    return 0


@operation(
    models="generic_file_write_iter() -> generic_perform_write() of the first block of a new "
    "folio: block_write_begin(), block_write_end() (mm/filemap.c, fs/buffer.c)",
    describe=lambda f, i: f"write block 0({f}, page {i})",
    cites=(
        Cite("fs/read_write.c", "vfs_write", "6.6"),
        Cite("mm/filemap.c", "generic_file_write_iter", "6.6"),
        Cite("fs/buffer.c", "block_write_begin", "6.4"),
        Cite("fs/buffer.c", "__block_commit_write", "6.4"),
    ),
)
def write_block(op: Op, file: File, index: int) -> None:
    """A write of the first block of page ``index`` on a filesystem whose
    blocks are smaller than a page, into a folio not in the cache, as
    ``write()`` makes it: inside ``file_start_write()`` and under i_rwsem
    exclusive, the new folio (locked) gets that block's data (mapped first
    by ``get_block(..., 1)`` where the page is a hole: -ENOSPC leaves the
    folio without data) and its buffer is uptodate, but the folio is not
    (``__block_commit_write()`` sets PG_uptodate only when every buffer
    is); the folio is dirtied and unlocked.  A folio already cached is left
    as it is (the model writes a block only into a new folio)."""
    mapping = op.mapping(file)
    page = mapping.page(index)
    inode = op.inode(file.path)
    writeback.begin_write(op, inode)
    ref, added = new_folio(
        op,
        mapping,
        page,
        "grab_cache_page_write_begin(): folio = filemap_alloc_folio(); __folio_set_locked(folio); "
        "filemap_add_folio()",
    )
    with op.when(added, "if (!err) /* added */"):
        mapped = op.compute(
            "map_ret",
            "__block_write_begin_int(): "
            "if (!buffer_mapped(bh)) err = get_block(inode, block, bh, 1)",
            get_block,
            page,
        )
        with op.when(is_error(mapped), "if (unlikely(err)) /* -ENOSPC */"):
            op.unlock(ref.lock, "folio_unlock(folio) /* block_write_begin() failed */")
            op.fail(ENOSPC, "out", "return -ENOSPC")
        version = pagecache(op.world).add_write(op.thread.name, len(op.items), page)
        op.effect(
            "copy_page_from_iter_atomic(); block_write_end(): mark_buffer_dirty(bh); "
            "set_buffer_uptodate(bh) /* partial: no folio_mark_uptodate() */",
            _write_block,
            page,
            version,
        )
        op.unlock(ref.lock, "folio_unlock(folio)")
    op.label("out")
    put_folio(op, ref)
    writeback.end_write(op, inode)


def _partially_uptodate(scratch: Scratch, page: Page) -> int:
    folio = scratch[page.folio]
    return 1 if folio is not None and folio[1] & BUFFER0_UPTODATE else 0


def _data_of(scratch: Scratch, page: Page) -> int | None:
    folio = scratch[page.folio]
    return None if folio is None else folio[0]


@operation(
    models="filemap_read() -> filemap_update_page() -> filemap_range_uptodate() -> "
    "a_ops->is_partially_uptodate (mm/filemap.c)",
    describe=lambda f, i: f"read block 0({f}, page {i})",
    cites=(
        Cite(
            "mm/filemap.c",
            "filemap_update_page",
            READ_VERSION,
            leaves_out=("address_space_operations.read_folio",),
            because="a folio whose block is not uptodate is read by ->read_folio, the path "
            "mc.models.writeback.read models",
        ),
        Cite("mm/filemap.c", "filemap_range_uptodate", READ_VERSION),
        Cite("fs/buffer.c", "block_is_partially_uptodate", "6.4"),
    ),
)
def read_block(op: Op, file: File, index: int) -> None:
    """read(2) of the first block of page ``index``: a cached folio that is
    not uptodate is locked (invalidate_lock shared) and asked
    ``->is_partially_uptodate`` for the range; if the block is, it is
    copied without I/O (the data to register ``data``).  The rest of the
    read path (``->read_folio``) is ``mc.models.writeback.read``'s.

    ``filemap_update_page()`` and ``filemap_range_uptodate()`` read again in
    6.17-rc3 (Kingxukai/linux mm/filemap.c at 0291023e): the folio is
    taken by ``folio_trylock()``; when someone else holds it the read drops
    invalidate_lock, waits for the folio to be unlocked
    (``folio_put_wait_locked()``) and retries from the lookup
    (AOP_TRUNCATED_PAGE), never sleeping on the folio lock with
    invalidate_lock held; ->is_partially_uptodate is asked only when the
    block size is smaller than the folio.  ``block_is_partially_uptodate()``
    (fs/buffer.c, its folio form of 6.0 onwards, read in a 6.x copy) takes
    no lock: it walks the folio's buffers, which the caller's folio lock
    keeps.  Left out: IOCB_NOWAIT/IOCB_WAITQ, the ``!folio->mapping``
    (truncated) check."""
    mapping = op.mapping(file)
    page = mapping.page(index)
    op.label("retry")
    ref = find_folio(op, page, "filemap_get_read_batch(mapping, index, last_index - 1, fbatch)")
    op.fail_if(not_(ref.found), 0, "out", "if (!folio_batch_count(fbatch)) /* not cached */")
    with op.when(
        not_(folio_test(page, PG_UPTODATE, "uptodate")), "if (!folio_test_uptodate(folio))"
    ):
        op.lock(
            mapping.invalidate_lock,
            SHARED,
            "filemap_update_page(): filemap_invalidate_lock_shared(mapping)",
        )
        locked = not op.variant(PARTIAL_READ_UNLOCKED)
        if locked:
            op.trylock(ref.lock, "busy", "if (!folio_trylock(folio))")
        op.call(
            "address_space_operations.is_partially_uptodate",
            _partially_uptodate,
            page,
            label="filemap_range_uptodate(): return "
            "mapping->a_ops->is_partially_uptodate(folio, pos, count)",
            roles={"folio": ref, "mapping": mapping},
            sleeps=False,
        )
        if locked:
            op.unlock(ref.lock, "folio_unlock(folio)")
        op.unlock(mapping.invalidate_lock, "filemap_invalidate_unlock_shared(mapping)")
        op.fail_if(
            same(op.ret, const(0, "false")),
            0,
            "out",
            "if (!filemap_range_uptodate(...)) error = filemap_read_folio(...) "
            "/* the read of the whole folio: mc.models.writeback.read */",
        )
    op.compute("data", "copied = copy_folio_to_iter(folio, offset, bytes, iter)", _data_of, page)
    op.label("out")
    put_folio(op, ref)
    if not op.variant(PARTIAL_READ_UNLOCKED):
        op.goto("done")
        op.label("busy")
        op.unlock(mapping.invalidate_lock, "filemap_invalidate_unlock_shared(mapping)")
        op.wait_until(
            ref.unlocked,
            "folio_put_wait_locked(folio, TASK_KILLABLE); return AOP_TRUNCATED_PAGE",
            f"PG_locked({page})",
            ref.holders,
        )
        op.goto("retry")
        op.label("done")


# --- direct I/O ---------------------------------------------------------------------------


@operation(
    models="generic_file_write_iter(IOCB_DIRECT) -> generic_file_direct_write() -> "
    "a_ops->direct_IO (mm/filemap.c)",
    describe=lambda f, i: f"O_DIRECT write({f}, page {i})",
    cites=(
        Cite("mm/filemap.c", "generic_file_write_iter", "6.4"),
        Cite("mm/filemap.c", "generic_file_direct_write", "6.4"),
        Cite("mm/truncate.c", "invalidate_inode_pages2_range", "6.4"),
    ),
)
def direct_write(op: Op, file: File, index: int) -> None:
    """An O_DIRECT write of page ``index`` under i_rwsem: the range is
    written back and waited for (``filemap_write_and_wait_range()``), its
    cache invalidated (``invalidate_inode_pages2_range()``), then
    ``->direct_IO``; a folio the invalidation could not drop (dirty or
    under writeback again: -EBUSY) makes ``generic_file_direct_write()``
    return 0 without calling ``->direct_IO``, for the caller to write the
    range through the page cache.  Left out of
    ``generic_file_write_iter()``'s path: ``vfs_write()``'s freeze
    protection, ``file_remove_privs()`` and ``file_update_time()``, the
    invalidation after the write (``kiocb_invalidate_post_direct_write()``,
    folio locks under i_rwsem), an error of the writeback, and the
    buffered fallback after -EBUSY or a short direct write
    (``generic_perform_write()`` under the same i_rwsem)."""
    mapping = op.mapping(file)
    i_rwsem = op.inode(file.path).i_rwsem
    op.lock(i_rwsem, EXCL, "generic_file_write_iter(): inode_lock(inode)")
    op.run(write_and_wait, mapping)
    op.run(writeback.invalidate, file, index)
    op.fail_if(
        not_(same(op.ret, const(0, "0"))),
        0,
        "unlock",
        "if (written) { if (written == -EBUSY) return 0; goto out; } /* buffered fallback */",
    )
    op.call(
        "address_space_operations.direct_IO",
        _no_op,
        label="written = mapping->a_ops->direct_IO(iocb, from)",
        roles={"mapping": mapping, "inode": op.inode(file.path)},
    )
    op.label("unlock")
    op.unlock(i_rwsem, "inode_unlock(inode)")


def write_and_wait(op: Op, mapping: Mapping) -> None:
    """``filemap_write_and_wait_range()``: WB_SYNC_ALL writeback, then wait
    on every folio under writeback."""
    writeback.do_writepages(op, mapping, sync_all=True)
    writeback.fdatawait(op, mapping)


def _no_op(_scratch: Scratch, *_args: object) -> int:
    return 0


# --- FIBMAP and a swap file ----------------------------------------------------------------


@attrs.frozen
class SwapFile:
    """The swap state of a file: S_SWAPFILE, the extents swapon recorded
    (None while not active), whether I/O goes through ``->swap_rw``
    (SWP_FS_OPS), the lock of the swap-cache folio a swap-in reads and of
    the header folio swapon read (``read_mapping_folio()``, unlocked)."""

    swapfile: int
    extents: int
    fs_ops: int
    swapcache_lock: Lock
    header_lock: Lock
    mapping: Mapping


def swap_file(op: Op, mapping: Mapping) -> SwapFile:
    """The swap state of ``mapping``'s file, made on first use; a
    ``ModelError`` for a second file (the swap-cache folio, the header
    folio and SWP_FS_OPS are of one swap file)."""
    world = op.world
    part = world.parts.get("swapfile")
    if isinstance(part, SwapFile):
        if part.mapping.ino != mapping.ino:
            raise ModelError(
                f"{op.thread.name} asks whether {mapping} is a swap file beside "
                f"{part.mapping}: the swap model follows one file per scenario"
            )
        return part
    made = SwapFile(
        world.shared_slot(f"S_SWAPFILE({mapping})", False, yes_no),
        world.shared_slot(f"swap extents({mapping})", None),
        world.shared_slot("SWP_FS_OPS", False, yes_no),
        world.add_lock("PG_locked(swapcache folio)", LockKind.BIT_LOCK, "PG_locked"),
        world.add_lock("PG_locked(swap header folio)", LockKind.BIT_LOCK, "PG_locked"),
        mapping,
    )
    world.parts["swapfile"] = made
    return made


@attrs.frozen
class SwapFolio:
    """The anonymous folio a swap-in reads (its PG_locked)."""

    PG_locked: Lock

    def __str__(self) -> str:
        return "swapcache folio"


def _blocks(scratch: Scratch, mapping: Mapping) -> tuple[int | None, ...]:
    return tuple(scratch[page.block] for page in mapping.pages)


def _activate(scratch: Scratch, mapping: Mapping, swap: SwapFile) -> int:
    """``->swap_activate`` (``iomap_swapfile_activate()`` /
    ``nfs_swap_activate()`` shape): a file with a hole is refused; else
    the extents are added and SWP_FS_OPS set."""
    blocks = _blocks(scratch, mapping)
    if None in blocks:
        return -E.EINVAL
    scratch[swap.extents] = blocks
    scratch[swap.fs_ops] = True
    return len(blocks)


def _deactivate(scratch: Scratch, swap: SwapFile) -> int:
    scratch[swap.extents] = None
    scratch[swap.fs_ops] = False
    return 0


def _bmap(scratch: Scratch, page: Page) -> int:
    block = scratch[page.block]
    return 0 if block is None else int(block)


@operation(
    models="ioctl(FIBMAP) -> ioctl_fibmap() -> bmap() -> a_ops->bmap (fs/ioctl.c, fs/inode.c)",
    describe=lambda f, i: f"ioctl(FIBMAP, {f}, block {i})",
    cites=(
        Cite("fs/ioctl.c", "ioctl_fibmap", READ_VERSION),
        Cite("fs/inode.c", "bmap", "6.17-rc3 (Kingxukai/linux 9b44fff6)"),
    ),
)
def fibmap(op: Op, file: File, index: int) -> None:
    """FIBMAP of block ``index``: ``bmap()`` calls
    ``inode->i_mapping->a_ops->bmap(mapping, block)`` with no lock of the
    VFS held (the block number goes to register ``ret``); so in 6.17-rc3
    (``ioctl_fibmap()`` at 0291023e, ``bmap()`` at 9b44fff6)."""
    mapping = op.mapping(file)
    op.call(
        "address_space_operations.bmap",
        _bmap,
        mapping.pages[index],
        label="bmap(inode, &block): *block = inode->i_mapping->a_ops->bmap(inode->i_mapping, "
        "*block)",
        roles={"mapping": mapping},
    )


def _read_swapped(_scratch: Scratch) -> int:
    return 0


@operation(
    models="swapon(2), a swap-in through a_ops->swap_rw, swapoff(2) (mm/swapfile.c, mm/page_io.c)",
    describe=lambda f: f"swapon/swapin/swapoff({f})",
    cites=(
        Cite("mm/swapfile.c", "claim_swapfile", READ_VERSION),
        Cite("mm/swapfile.c", "setup_swap_extents", READ_VERSION),
        Cite("mm/swapfile.c", "destroy_swap_extents", READ_VERSION),
        Cite("mm/page_io.c", "swap_read_folio", READ_VERSION),
        Cite("mm/page_io.c", "__swap_read_unplug", READ_VERSION),
    ),
)
def swap_cycle(op: Op, file: File) -> None:
    """``swapon(2)`` of the file: ``claim_swapfile()`` takes inode_lock
    (-EBUSY if already a swap file), ``setup_swap_extents()`` ->
    ``->swap_activate``, S_SWAPFILE set and ``inode_drain_writes()``
    (``filemap_write_and_wait()``; its ``inode_dio_wait()`` is left out),
    inode_unlock; a swap-in of one
    page reads through ``->swap_rw`` with the new swap-cache folio locked
    (the read's completion unlocks it); ``swapoff(2)``:
    ``destroy_swap_extents()`` -> ``->swap_deactivate``, then S_SWAPFILE
    cleared under inode_lock.

    Read again in 6.17-rc3 (Kingxukai/linux mm/swapfile.c and mm/page_io.c
    at 0291023e): swapon(2) (a SYSCALL_DEFINE2 body, which drift cannot
    name, so not cited) takes inode_lock itself, after
    ``claim_swapfile()`` (which takes no lock for a regular file), and
    holds it across the header read, ``setup_swap_extents()``
    (->swap_activate), S_SWAPFILE and ``enable_swap_info()``; swapoff(2)
    calls ``destroy_swap_extents()`` (->swap_deactivate) with no lock,
    after ``synchronize_rcu()``; a swap-in through ->swap_rw is
    ``swap_read_folio()`` (the folio locked) -> ``swap_read_folio_fs()`` ->
    ``swap_read_unplug()`` (an inline of mm/swap.h) ->
    ``__swap_read_unplug()``.  Left out: the swap header's
    ``read_mapping_folio()`` (->read_folio under inode_lock), ``swapon_mutex``,
    ``swap_lock`` and the swap_info's lock, and the swap-out side
    (``swap_writepage()`` -> ``swap_writepage_fs()`` calls ->swap_rw
    through ``swap_write_unplug()`` with the folio unlocked and under
    writeback).  The cycle glues paths no one swap file takes together:
    ``setup_swap_extents()`` calls ``->swap_activate`` when the filesystem
    has one (an NFS-style one sets SWP_FS_OPS, and swap-in goes through
    ``->swap_rw``; ``->swap_deactivate`` runs at swapoff), else
    ``generic_swapfile_activate()``, which calls ``->bmap`` and leaves no
    ``->swap_rw`` and no ``->swap_deactivate``.  A ``->bmap`` that takes
    i_rwsem itself (ext4's, since 2022) would deadlock here where the
    kernel never calls it (ext4 has ``->swap_activate``)."""
    mapping = op.mapping(file)
    swap = swap_file(op, mapping)
    i_rwsem = op.inode(file.path).i_rwsem
    locked = not op.variant(SWAPON_WITHOUT_INODE_LOCK)
    if locked:
        op.lock(i_rwsem, EXCL, "swapon(): inode_lock(inode)")
    op.fail_if(
        state_expr("IS_SWAPFILE(inode)", lambda s: bool(s[swap.swapfile])),
        E.EBUSY,
        "bad_swap",
        "if (IS_SWAPFILE(inode)) return -EBUSY",
    )
    op.enter(
        "address_space_operations.swap_activate",
        mapping,
        label="setup_swap_extents(): ret = mapping->a_ops->swap_activate(sis, swap_file, span)",
        roles={"mapping": mapping, "folio": SwapFolio(swap.header_lock)},
    )
    op.call(
        "address_space_operations.bmap",
        _bmap,
        mapping.pages[0],
        label="the filesystem maps the file's blocks (generic_swapfile_activate(): "
        "bmap(inode, &first_block))",
        roles={"mapping": mapping},
    )
    extents = op.compute(
        "nr_extents", "add_swap_extent(sis, page_no, 1, first_block)", _activate, mapping, swap
    )
    op.fail_if(
        is_error(extents),
        E.EINVAL,
        "bad_swap",
        "if (nr_extents < 0) goto bad_swap /* a hole */",
    )
    op.effect("inode->i_flags |= S_SWAPFILE", _assign, swap.swapfile, True)
    op.run(write_and_wait, mapping)
    if locked:
        op.unlock(i_rwsem, "inode_unlock(inode)")
    folio = SwapFolio(swap.swapcache_lock)
    op.lock(
        swap.swapcache_lock,
        label="read_swap_cache_async(): __folio_set_locked(folio); add_to_swap_cache()",
    )
    op.call(
        "address_space_operations.swap_rw",
        _read_swapped,
        label="swap_read_folio(): swap_read_folio_fs() ... swap_read_unplug(): "
        "ret = mapping->a_ops->swap_rw(&sio->iocb, &to)",
        roles={"folio": folio, "mapping": mapping},
    )
    op.unlock(
        swap.swapcache_lock, "sio_read_complete(): folio_mark_uptodate(folio); folio_unlock(folio)"
    )
    op.call(
        "address_space_operations.swap_deactivate",
        _deactivate,
        swap,
        label="swapoff(): destroy_swap_extents(): if (p->flags & SWP_ACTIVATED) "
        "mapping->a_ops->swap_deactivate(swap_file)",
        roles={"mapping": mapping},
    )
    op.lock(i_rwsem, EXCL, "swapoff(): inode_lock(inode)")
    op.effect("inode->i_flags &= ~S_SWAPFILE", _assign, swap.swapfile, False)
    op.unlock(i_rwsem, "inode_unlock(inode)")
    op.goto("out")
    op.label("bad_swap")
    if locked:
        op.unlock(i_rwsem, "bad_swap_unlock_inode: inode_unlock(inode)")
    op.label("out")


def _free_blocks(scratch: Scratch, mapping: Mapping) -> int:
    for page in mapping.pages:
        scratch[page.block] = None
        note_truncated(scratch, page)
    return 0


@operation(
    models="truncate(2) -> do_truncate() -> notify_change() -> setattr_prepare() -> "
    "inode_newsize_ok() (fs/open.c, fs/attr.c)",
    describe=lambda f: f"truncate({f}, 0)",
    cites=(
        Cite("fs/open.c", "do_truncate", "6.4"),
        Cite("fs/attr.c", "inode_newsize_ok", "6.4"),
    ),
)
def truncate_swapfile(op: Op, file: File) -> None:
    """truncate(2) of the file to 0 under i_rwsem: ``inode_newsize_ok()``
    refuses to shrink a swap file in use (-ETXTBSY: "truncation of in-use
    swapfiles is disallowed - it would cause subsequent swapout to scribble
    on the now-freed blocks"); else the blocks are freed.  The page cache
    is left out (the swap file's pages are not cached), and so is what
    ``vfs_truncate()`` does before ``do_truncate()``: ``mnt_want_write()``
    (``sb_start_write()``, the SB_FREEZE_WRITE level; ``with_write_access()``
    of ``mc.models.mnt_write`` runs a body inside it), ``get_write_access()``
    and ``break_lease()``."""
    mapping = op.mapping(file)
    swap = swap_file(op, mapping)
    i_rwsem = op.inode(file.path).i_rwsem
    op.lock(i_rwsem, EXCL, "do_truncate(): inode_lock(dentry->d_inode)")
    op.fail_if(
        state_expr("IS_SWAPFILE(inode)", lambda s: bool(s[swap.swapfile])),
        E.ETXTBSY,
        "unlock",
        "inode_newsize_ok(): if (IS_SWAPFILE(inode)) return -ETXTBSY",
    )
    op.effect("truncate_setsize(); the filesystem frees the blocks", _free_blocks, mapping)
    op.label("unlock")
    op.unlock(i_rwsem, "inode_unlock(dentry->d_inode)")


def _render_blocks(blocks: tuple[int | None, ...]) -> str:
    shown = ", ".join("a hole" if block is None else f"block {block}" for block in blocks)
    return shown or "no blocks"


def swap_extents_violation(world: World, state: Any) -> str | None:
    """The swap file's recorded extents differ from its blocks, or None."""
    part = world.parts.get("swapfile")
    if not isinstance(part, SwapFile):
        return None
    extents = state[part.extents]
    if extents is None:
        return None
    blocks = tuple(state[page.block] for page in part.mapping.pages)
    if blocks == extents:
        return None
    return (
        f"{part.mapping} is an active swap file mapped to {_render_blocks(extents)}, but its "
        f"pages now have {_render_blocks(blocks)}: swap-out would scribble on freed blocks"
    )


def _zeroed_in_part(data: Any) -> bool:
    """Whether some of the folio's bytes, not all, are zeroes: the part past
    EOF of the EOF folio zeroed, or a punched hole's part of the page
    (``ext4_zero_partial_blocks()``)."""
    runs = runs_of(data)
    return len(runs) > 1 and any(version == ZEROES for _, version in runs)


def folio_data_violation(world: World, state: Any) -> str | None:
    """An unlocked, uptodate folio of the page cache holds other data than
    the newest written to its page, or None.  A store through a mapping
    writes one byte, so the folio holds the newest data when that version
    is among the runs of its bytes (as ``no-lost-write`` reads a block).
    A direct write's data is the newest only once ``iomap_dio_complete()``
    returned: until then the page cache may hold what was there before
    (the kernel invalidates it again after the write; ``dio-coherent``
    checks what reads see); on a page another thread writes through the
    cache, the folio that writer dirtied may keep older data after it
    (``PageCache.collides``: the kernel warns of that collision).  A
    store's byte whose place the property does not know is taken to have
    been zeroed when part of the folio is zeroes (``_zeroed_in_part``: a
    truncate to inside the page, ``truncate_inode_partial_folio()``, or
    writeback's ``folio_zero_segment()`` zeroes the bytes past EOF, a hole
    punched in part of the page, ``ext4_zero_partial_blocks()``, the
    bytes in the hole): a store lost elsewhere on such a folio goes
    unseen.  A folio wholly past i_size holds none of the file's data (a
    truncate in progress: ``do_mpage_readpage()`` reads it as zeroes once
    i_size is down, before ``truncate_pagecache()`` removes it)."""
    cache = world.parts.get("pagecache")
    if cache is None:
        return None
    pending = {
        write.version for write in direct_io(world).writes if state[write.stage] != COMPLETED
    }
    for mapping in cache.mappings.values():
        for page in mapping.pages:
            folio = state[page.folio]
            ident = state[page.ident]
            if folio is None or ident is None or not folio[1] & PG_UPTODATE:
                continue
            if state[page.locks[ident].slot] is not None or wholly_past_eof(cache, state, page):
                continue
            history = state[page.history]
            if TRUNCATED in history or history[-1] in pending or folio[0] == history[-1]:
                continue
            if cache.collides(history[-1], page):
                continue
            if cache.is_store(history[-1]) and _zeroed_in_part(folio[0]):
                continue
            if not any(cache.same_data(page, v, history[-1]) for _, v in runs_of(folio[0])):
                return (
                    f"folio {page} holds {cache.writer(folio[0])}, not the newest data "
                    f"written to it ({cache.writer(history[-1])})"
                )
    return None
