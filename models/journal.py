"""ext4's journal handles against the jbd2 commit: why ext4_write_begin()
unlocks the folio before it starts a handle.

Read: fs/jbd2/transaction.c ``start_this_handle()`` and
``wait_transaction_locked()``, fs/jbd2/commit.c
``jbd2_journal_commit_transaction()`` (the stored torvalds/linux copy,
015c6033, a 5.x tree, and the 6.x excerpts of the search index, where
``jbd2_journal_wait_updates()`` waits for ``t_updates``); fs/ext4/inode.c
``ext4_write_begin()`` (a 4.x copy in the search index, and Matthew
Wilcox's 6.4 folio conversion, "ext4: Convert ext4_write_begin() to use a
folio") and ``ext4_do_writepages()`` (a 6.x copy of fs/ext4/inode.c in
the search index, around its line 2836).

A handle is a read acquisition of the journal as lockdep sees it
(``rwsem_acquire_read(&journal->j_trans_commit_map)`` in
``start_this_handle()``, released in ``stop_this_handle()``); the commit
sets the running transaction ``T_LOCKED``, after which
``start_this_handle()`` waits in ``wait_transaction_locked()``
(``jbd2_might_wait_for_commit()``, lockdep's write acquisition), and waits
for every handle of it to stop (``t_updates`` at 0) before it moves it to
``T_FLUSH`` and wakes the waiters.  That is an rwsem whose waiting writer
keeps new readers out, which the model's ``jbd2_handle`` is (the same
lock as models/quota.py's handles).

- ``ext4_write``: write(2) of one cached page through ``ext4_write_begin()``
  (what a delalloc mount runs too once ``ext4_nonda_switch()`` finds free
  space low: ``ext4_da_write_begin()`` falls back to it, and what
  ``-o nodelalloc`` runs always): ``__filemap_get_folio(FGP_WRITEBEGIN)``
  locks the folio, ``folio_unlock()``, ``ext4_journal_start()``,
  ``folio_lock()`` again, the copy, ``ext4_write_end()``'s
  ``folio_unlock()`` and ``ext4_journal_stop()``, inside the inode lock of
  ``ext4_buffered_write_iter()``.  The comment above the unlock says why:
  "grab_cache_page_write_begin() can take a long time if the system is
  thrashing due to memory pressure, or if the page is being written back.
  So grab it first before we start the transaction handle."  A folio held
  locked while a handle starts waits for a commit that waits for the
  handles, one of which may wait for that folio.
- ``ext4_writepages``: the writeback of a delalloc folio that needs
  mapping, ``ext4_do_writepages()``'s loop: ``ext4_journal_start_with_reserve()``,
  then ``mpage_prepare_extent_to_map()`` locks the folio, then
  ``ext4_journal_stop()`` and the folio's unlock.
- ``jbd2_commit``: kjournald2 committing the running transaction, up to
  ``T_FLUSH``.

Left out: the data (the copy and the mapping are steps that change
nothing; what the write or the writeback computes is the page-cache
models'), the ``folio->mapping != mapping`` recheck after the relock
(nothing truncates here), ``folio_wait_stable()``, ``-ENOSPC`` retries,
credits and reserved handles (``j_reserved_credits``), the commit's own
writeback of ordered data (``journal_submit_data_buffers()``, run at
``T_FLUSH``, when it holds no handle out) and everything after
``T_FLUSH``, and ``ext4_da_write_begin()``'s delalloc path, which starts no
handle.
"""

from __future__ import annotations

from mc.dsl import EXCL, SHARED, Cite, Op, flag_variant, operation, touches
from mc.dsl.folio import find_folio, put_folio
from mc.kernel.pagecache import File, Page
from mc.kernel.world import ModelError
from mc.models.quota import journal

HANDLE_UNDER_FOLIO_LOCK = "handle-under-folio-lock"

flag_variant(
    HANDLE_UNDER_FOLIO_LOCK,
    "ext4_write_begin() starts the journal handle with the folio still locked (no "
    "folio_unlock() before ext4_journal_start()), against writeback that holds a handle and "
    "waits for the folio, and a commit that waits for the handles",
)


@operation(
    models="write(2) -> ext4_buffered_write_iter() -> ext4_write_begin()",
    cites=(
        Cite("fs/ext4/file.c", "ext4_buffered_write_iter", "6.6"),
        Cite("fs/ext4/inode.c", "ext4_write_begin", "6.4"),
        Cite("fs/ext4/inode.c", "ext4_write_end", "6.4"),
        Cite("fs/jbd2/transaction.c", "start_this_handle", "6.x"),
    ),
)
def ext4_write(op: Op, file: File, index: int) -> None:
    """One page written through ``ext4_write_begin()`` (see the module)."""
    inode = op.inode(file.path)
    page = _cached_page(op, file, index, "ext4_write")
    handle = journal(op.world)
    op.lock(inode.i_rwsem, EXCL, "ext4_buffered_write_iter(): inode_lock(inode)")
    folio = find_folio(op, page, "folio = __filemap_get_folio(mapping, index, FGP_WRITEBEGIN, ...)")
    op.lock(folio.lock, EXCL, "__filemap_get_folio(): folio_lock(folio) /* FGP_LOCK */")
    start = "retry_journal: handle = ext4_journal_start(inode, EXT4_HT_WRITE_PAGE, ...)"
    if op.variant(HANDLE_UNDER_FOLIO_LOCK):
        op.lock(handle, SHARED, start)
    else:
        op.unlock(folio.lock, "folio_unlock(folio) /* grab it first before the handle */")
        op.lock(handle, SHARED, start)
        op.lock(folio.lock, EXCL, "folio_lock(folio)")
    op.effect("ext4_block_write_begin(); copy_folio_from_iter_atomic()", _nothing)
    op.unlock(folio.lock, "ext4_write_end(): folio_unlock(folio)")
    put_folio(op, folio)
    op.unlock(handle, "ext4_write_end(): ext4_journal_stop(handle)")
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")


@operation(
    models="writeback -> ext4_writepages() -> ext4_do_writepages() of a folio to map",
    cites=(
        Cite("fs/ext4/inode.c", "ext4_do_writepages", "6.x"),
        Cite("fs/ext4/inode.c", "mpage_prepare_extent_to_map", "6.x"),
    ),
)
def ext4_writepages(op: Op, file: File, index: int) -> None:
    """The writeback of a delalloc folio that needs its blocks mapped (see
    the module)."""
    page = _cached_page(op, file, index, "ext4_writepages")
    handle = journal(op.world)
    op.lock(
        handle,
        SHARED,
        "handle = ext4_journal_start_with_reserve(inode, EXT4_HT_WRITE_PAGE, needed_blocks, ...)",
    )
    folio = find_folio(op, page, "mpage_prepare_extent_to_map(): folio = fbatch.folios[i]")
    op.lock(folio.lock, EXCL, "mpage_prepare_extent_to_map(): folio_lock(folio)")
    op.effect("mpage_map_and_submit_extent(handle, mpd, &give_up_on_write)", _nothing)
    op.unlock(handle, "ext4_journal_stop(handle)")
    op.unlock(folio.lock, "mpage_release_unused_pages() / end of I/O: folio_unlock(folio)")
    put_folio(op, folio)


@operation(
    models="kjournald2 -> jbd2_journal_commit_transaction(), up to T_FLUSH",
    cites=(
        Cite("fs/jbd2/commit.c", "jbd2_journal_commit_transaction", "5.x"),
        Cite("fs/jbd2/transaction.c", "jbd2_journal_wait_updates", "6.x"),
    ),
)
def jbd2_commit(op: Op) -> None:
    """The commit locks the running transaction and waits for its handles
    (see the module)."""
    handle = journal(op.world)
    op.lock(
        handle,
        EXCL,
        "commit_transaction->t_state = T_LOCKED; jbd2_journal_wait_updates(journal)",
    )
    op.unlock(
        handle,
        "commit_transaction->t_state = T_FLUSH; wake_up(&journal->j_wait_transaction_locked)",
    )


def _cached_page(op: Op, file: File, index: int, name: str) -> Page:
    """Page ``index`` of ``file``, which the operation finds in the page
    cache (it models no read of the page): a model error when ``file``
    does not start with it cached."""
    if index not in file.cached:
        raise ModelError(
            f"{name}({file.path}, {index}) writes a page already in the page cache: "
            f"declare File({file.path!r}, ..., cached=({index},))"
        )
    return op.mapping(file).pages[index]


@touches(lambda _world: ((), ()))
def _nothing(_scratch: object) -> None:
    """A step of the kernel whose data the model leaves out."""
    return None
