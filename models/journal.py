"""ext4's journal handles against the jbd2 commit: why ext4_write_begin()
unlocks the folio before it starts a handle.

Read: fs/jbd2/transaction.c ``start_this_handle()``,
``add_transaction_credits()`` and ``wait_transaction_locked()``,
fs/jbd2/commit.c ``jbd2_journal_commit_transaction()`` and
``journal_submit_data_buffers()`` (the stored torvalds/linux copy, 015c6033,
a 5.x tree, and the 6.x excerpts of the search index; a review read them
again in 6.17-rc3, Kingxukai/linux 9b44fff6); fs/ext4/inode.c
``ext4_write_begin()``, ``ext4_write_end()`` (a 4.x copy in the search
index, Matthew Wilcox's 6.4 folio conversion "ext4: Convert
ext4_write_begin() to use a folio", and 6.17-rc3), ``ext4_do_writepages()``
and ``mpage_folio_done()`` (a 6.x copy in the search index, and 6.17-rc3);
fs/ext4/super.c's "Lock ordering" comment ("transaction start -> page
lock" for the buffered write path and for writepages).

A handle is a read acquisition of the journal, as lockdep has it
(``rwsem_acquire_read(&journal->j_trans_commit_map)`` in
``start_this_handle()``, released in ``stop_this_handle()``); lockdep's
write acquisition is made by the threads that wait for a commit
(``jbd2_might_wait_for_commit()``), and the model makes the commit itself
the writer: once it has set the running transaction ``T_LOCKED`` a handle
start waits (``wait_transaction_locked()``, through ``T_SWITCH`` until
``T_FLUSH``) while the commit waits for the open handles
(``jbd2_journal_wait_updates()``, ``t_updates`` at 0), which is an rwsem
whose waiting writer keeps new readers out, as the model's ``jbd2_handle``
is (the same lock as models/quota.py's handles).  After ``T_FLUSH`` the
commit writes the transaction's ordered data
(``journal_submit_data_buffers()`` -> ``ext4_normal_submit_inode_data_buffers()``
-> ``ext4_do_writepages()`` with ``can_map = 0``, which locks the folios)
and only then is done; a handle start that finds the running transaction
full (``add_transaction_credits()`` asks for its commit and waits, and
that commit cannot begin before the one in progress is done) or the log
short of space (``__jbd2_log_wait_for_space()`` waits for the committing
transaction, or checkpoints, then the start retries) waits for the commit in
progress to end, which the model's ``jbd2_commit`` lock stands for (held
by the commit from its start to its end).

- ``ext4_write``: write(2) of one cached page through
  ``ext4_write_begin()`` (what a delalloc mount runs too once
  ``ext4_nonda_switch()`` finds free space low: ``ext4_da_write_begin()``
  falls back to it, and what ``-o nodelalloc`` runs always):
  ``__filemap_get_folio(FGP_WRITEBEGIN)`` locks the folio,
  ``folio_unlock()``, ``ext4_journal_start()``, ``folio_lock()`` again,
  the copy, ``ext4_write_end()``'s ``folio_unlock()`` and
  ``ext4_journal_stop()``, inside the inode lock of
  ``ext4_buffered_write_iter()`` and the freeze protection of
  ``vfs_write()``'s ``file_start_write()`` (fs/ext4/super.c's order:
  "sb_start_write -> i_mutex -> transaction start -> page lock");
  ``block_write_end()`` dirties the folio (``mark_buffer_dirty()``). The
  comment above the unlock gives the latency and ``GFP_NOFS`` reasons;
  ``ext4_write_end()``'s says the order ("it forces lock ordering of folio
  lock and transaction start"). A folio held locked while a handle starts
  waits for a commit that waits for the handles, one of which may wait for
  that folio, or that will lock the folio for its ordered data.
- ``ext4_writepages``: the writeback of a delalloc folio that needs
  mapping, ``ext4_do_writepages()``'s loop: nothing when the mapping has
  no DIRTY mark (``mapping_tagged()``, before any handle), else
  ``ext4_journal_start_with_reserve()``, then
  ``mpage_prepare_extent_to_map()`` locks the folio (and skips it if it
  is no longer dirty), ``mpage_map_and_submit_extent()`` submits it
  (``folio_clear_dirty_for_io()``) and ``mpage_folio_done()`` unlocks it,
  then ``ext4_journal_stop()``.
- ``jbd2_commit``: kjournald2 committing a transaction that holds the
  file's ordered data, from its start to its end; its ordered-data pass
  finds only folios tagged dirty (``PAGECACHE_TAG_TOWRITE``) and skips a
  locked one that is no longer dirty, as ``ext4_writepages`` does.

Left out: the data (the copy, the mapping and the I/O are steps that
change nothing but the folio's dirty flag and marks; what the write or
the writeback computes is the page-cache models'; PG_writeback goes with
the I/O),
``i_data_sem`` (``ext4_map_blocks()`` takes it under the handle and the
folio lock, last in the super.c order: no modelled thread takes it
otherwise), ``ext4_writepages()``'s ``ext4_writepages_down_read()`` of
``s_writepages_rwsem`` (percpu, shared, before the handle; its writers,
mount option and journal-mode changes, are not modelled), the handle
``file_modified()`` -> ``ext4_dirty_inode()`` starts and stops under the
inode lock before ``ext4_write_begin()`` (the same i_rwsem -> handle
edge), the ``folio->mapping != mapping`` recheck after the
relock that follows the handle's start (the folio lookups themselves
skip or recreate a folio a truncate removed: ``FGP_CREAT``, a batch
without it, the recheck after ``FGP_LOCK``), ``folio_wait_stable()`` and the
writeback wait of the ordered-data pass, ``-ENOSPC`` retries, credits
and reserved handles (which may join a ``T_LOCKED`` transaction and wait
only in ``T_SWITCH``, ``wait_transaction_switching()``), a handle with
``h_sync`` set, which waits for its commit in ``jbd2_journal_stop()``,
the commit's metadata I/O and checkpointing, and
``ext4_da_write_begin()``'s delalloc path, which starts no handle.
"""

from __future__ import annotations

from mc.dsl import EXCL, SHARED, Cite, Op, flag_variant, operation, touches
from mc.dsl.folio import find_folio, new_folio, put_folio
from mc.kernel.expr import LockExpr, not_
from mc.kernel.locks import Lock
from mc.kernel.pagecache import (
    PG_DIRTY,
    TAG_DIRTY,
    TAG_TOWRITE,
    File,
    Page,
    change_marks,
    clear_dirty_for_io,
    dirty_folio,
    folio_test,
    marked,
)
from mc.kernel.superblock import SB_FREEZE_WRITE, sb_writers
from mc.kernel.world import ModelError, Scratch
from mc.models.quota import committing, journal, start_handle, stop_handle

HANDLE_UNDER_FOLIO_LOCK = "handle-under-folio-lock"

flag_variant(
    HANDLE_UNDER_FOLIO_LOCK,
    "ext4_write_begin() starts the journal handle with the folio still locked (no "
    "folio_unlock() before ext4_journal_start()), against writeback that holds a handle and "
    "waits for the folio, and a commit that waits for the handles and then locks the folio "
    "for its ordered data",
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
    freeze = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(freeze, SHARED, "vfs_write(): file_start_write(file): sb_start_write(inode->i_sb)")
    op.lock(inode.i_rwsem, EXCL, "ext4_buffered_write_iter(): inode_lock(inode)")
    op.label("repeat")
    folio = find_folio(op, page, "folio = __filemap_get_folio(mapping, index, FGP_WRITEBEGIN, ...)")
    with op.when(not_(folio.found), "if (!folio) /* FGP_CREAT: a truncate removed it */"):
        _, added = new_folio(
            op,
            op.mapping(file),
            page,
            "folio = filemap_alloc_folio(); __folio_set_locked(folio); filemap_add_folio()",
        )
        op.goto_if(not_(added), "repeat", "if (err == -EEXIST) goto repeat")
        op.goto("locked")
    op.lock(folio.lock, EXCL, "__filemap_get_folio(): folio_lock(folio) /* FGP_LOCK */")
    with op.when(
        not_(folio.mapped), "if (unlikely(folio->mapping != mapping)) /* truncated: repeat */"
    ):
        op.unlock(folio.lock, "folio_unlock(folio)")
        put_folio(op, folio, "folio_put(folio); goto repeat")
        op.goto("repeat")
    op.label("locked")
    start = "retry_journal: handle = ext4_journal_start(inode, EXT4_HT_WRITE_PAGE, ...)"
    if op.variant(HANDLE_UNDER_FOLIO_LOCK):
        start_handle(op, start)
    else:
        op.unlock(folio.lock, "folio_unlock(folio) /* grab it first before the handle */")
        start_handle(op, start)
        op.lock(folio.lock, EXCL, "folio_lock(folio)")
    op.effect("ext4_block_write_begin(); copy_page_from_iter_atomic()", _nothing)
    op.effect(
        "ext4_write_end(): block_write_end(): mark_buffer_dirty(bh) -> __folio_mark_dirty(folio)",
        dirty_folio,
        page,
    )
    op.unlock(folio.lock, "ext4_write_end(): folio_unlock(folio)")
    put_folio(op, folio)
    stop_handle(op, "ext4_write_end(): ext4_journal_stop(handle)")
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.unlock(freeze, "file_end_write(file): sb_end_write(inode->i_sb)")


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
    op.holds_no_file()
    page = _cached_page(op, file, index, "ext4_writepages")
    op.goto_if(
        not_(marked(page, TAG_DIRTY, "DIRTY")),
        "out",
        "if (!mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)) goto out_writepages",
    )
    start_handle(
        op,
        "handle = ext4_journal_start_with_reserve(inode, EXT4_HT_WRITE_PAGE, needed_blocks, ...)",
    )
    folio = find_folio(op, page, "mpage_prepare_extent_to_map(): folio = fbatch.folios[i]")
    op.goto_if(not_(folio.found), "done", "if (!nr_folios) /* a truncate removed it */")
    op.lock(folio.lock, EXCL, "mpage_prepare_extent_to_map(): folio_lock(folio)")
    with op.when(
        not_(folio.mapped), "if (unlikely(folio->mapping != mapping)) /* truncated: skip it */"
    ):
        op.unlock(folio.lock, "folio_unlock(folio); continue")
        op.goto("put")
    _skip_clean(op, page, folio.lock, "put")
    op.effect(
        "mpage_map_and_submit_extent(handle, mpd, &give_up_on_write): mpage_submit_folio(): "
        "folio_clear_dirty_for_io(folio); folio_start_writeback(folio)",
        folio_cleaned,
        page,
    )
    op.unlock(folio.lock, "mpage_map_and_submit_extent(): mpage_folio_done(): folio_unlock(folio)")
    op.label("put")
    put_folio(op, folio)
    op.label("done")
    stop_handle(op, "ext4_journal_stop(handle)")
    op.label("out")


@operation(
    models="kjournald2 -> jbd2_journal_commit_transaction() of a transaction with the file's "
    "ordered data",
    cites=(
        Cite("fs/jbd2/commit.c", "jbd2_journal_commit_transaction", "6.17-rc3"),
        Cite("fs/jbd2/commit.c", "journal_submit_data_buffers", "6.17-rc3"),
        Cite("fs/jbd2/transaction.c", "jbd2_journal_wait_updates", "6.17-rc3"),
    ),
)
def jbd2_commit(op: Op, file: File, index: int) -> None:
    """The commit locks the running transaction, waits for its handles,
    then writes the ordered data of the file's page (see the module)."""
    op.holds_no_file()
    page = _cached_page(op, file, index, "jbd2_commit")
    commit = _lock_transaction(op)
    op.goto_if(
        not_(marked(page, TAG_DIRTY, "DIRTY")),
        "done",
        "ext4_do_writepages() /* can_map = 0, WB_SYNC_ALL */: tag_pages_for_writeback(); "
        "filemap_get_folios_tag(PAGECACHE_TAG_TOWRITE) finds none",
    )
    folio = find_folio(op, page, "ext4_do_writepages() /* can_map = 0 */: folio = fbatch.folios[i]")
    op.goto_if(not_(folio.found), "done", "if (!nr_folios) /* a truncate removed it */")
    op.lock(
        folio.lock,
        EXCL,
        "journal_submit_data_buffers(): ext4_normal_submit_inode_data_buffers(): folio_lock(folio)",
    )
    _skip_clean(op, page, folio.lock, "put")
    op.effect(
        "mpage_submit_folio(): folio_clear_dirty_for_io(folio); folio_start_writeback(folio)",
        folio_cleaned,
        page,
    )
    op.unlock(folio.lock, "mpage_folio_done(): folio_unlock(folio)")
    op.label("put")
    put_folio(op, folio)
    op.label("done")
    op.unlock(commit, "the commit is done: wake_up(&journal->j_wait_done_commit)")


@operation(
    models="kjournald2 -> jbd2_journal_commit_transaction() of a transaction with no ordered "
    "data (the quota file's blocks are journalled metadata)",
    cites=(
        Cite("fs/jbd2/commit.c", "jbd2_journal_commit_transaction", "6.17-rc3"),
        Cite("fs/jbd2/transaction.c", "jbd2_journal_wait_updates", "6.17-rc3"),
    ),
)
def jbd2_commit_metadata(op: Op) -> None:
    """A commit of a transaction whose buffers are all metadata (with
    journalled quota, ``ext4_quota_write()`` journals the quota file's
    blocks, ``ext4_handle_dirty_metadata()``): it locks the running
    transaction and waits for its handles, as ``jbd2_commit`` does, and
    writes no ordered data."""
    op.holds_no_file()
    commit = _lock_transaction(op)
    op.unlock(commit, "the commit is done: wake_up(&journal->j_wait_done_commit)")


def _lock_transaction(op: Op) -> Lock:
    """The commit begins (its lock, ``committing``, held until it is
    done), locks the running transaction and waits for its handles, then
    lets new handles start on the next transaction; the commit's lock."""
    handle = journal(op.world)
    commit = committing(op.world)
    op.lock(commit, EXCL, "kjournald2(): jbd2_journal_commit_transaction(journal) begins")
    op.lock(
        handle,
        EXCL,
        "commit_transaction->t_state = T_LOCKED; jbd2_journal_wait_updates(journal)",
    )
    op.unlock(
        handle,
        "t_state = T_SWITCH; ... t_state = T_FLUSH; "
        "wake_up_all(&journal->j_wait_transaction_locked)",
    )
    return commit


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


def _skip_clean(op: Op, page: Page, lock: LockExpr, skip: str) -> None:
    """``mpage_prepare_extent_to_map()``'s test of the locked folio: one
    written back meanwhile is unlocked and skipped."""
    with op.when(
        not_(folio_test(page, PG_DIRTY, "dirty")),
        "if (!folio_test_dirty(folio)) { folio_unlock(folio); continue; }",
    ):
        op.unlock(lock, "folio_unlock(folio)")
        op.goto(skip)


def folio_cleaned(scratch: Scratch, page: Page) -> None:
    """PG_dirty cleared for the I/O (``folio_clear_dirty_for_io()``), and
    the DIRTY and TOWRITE marks that ``folio_start_writeback()`` clears
    before the folio is unlocked; PG_writeback, set until the I/O the model
    leaves out completes, is left out with it."""
    clear_dirty_for_io(scratch, page)
    change_marks(scratch, page, off=TAG_DIRTY | TAG_TOWRITE)


@touches(lambda _world: ((), ()))
def _nothing(_scratch: object) -> None:
    """A step of the kernel whose data the model leaves out."""
    return None
