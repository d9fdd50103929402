"""A small block filesystem under the page cache, built as ext2 and minix
are from the kernel's helpers (Linux 6.6): buffer heads of one block per
page, blocks allocated by ``get_block(..., create=1)`` when a page is first
written, I/O through ``submit_bh`` completed by ``bh->b_end_io`` (and, for
readahead, ``mpage_readahead``'s bios).

address_space_operations:

- ``write_begin``: ``block_write_begin()`` (fs/buffer.c)
- ``write_end``: ``simple_write_end()`` (fs/libfs.c): uptodate, i_size,
  ``folio_mark_dirty()`` -> ``->dirty_folio``, unlock
- ``dirty_folio``: ``block_dirty_folio()`` (fs/buffer.c)
- ``writepages``: ``write_cache_pages()`` with ``->writepage`` as its
  callback (``writepage_cb()``: what ``generic_writepages()`` was until
  6.3, and 6.6's ``do_writepages()`` falls back to for a mapping with
  ``->writepage`` alone)
- ``writepage``: from reclaim (``wbc->for_reclaim``) the filesystem does
  not write: ``redirty_page_for_writepage()`` and ``AOP_WRITEPAGE_ACTIVATE``
  (as ``shmem_writepage()`` and f2fs's ``redirty_out`` do; variant
  ``reclaim-writes`` writes as ext2 does); otherwise
  ``block_write_full_page()`` (fs/buffer.c)
- ``read_folio``: ``block_read_full_folio()``; ``readahead``:
  ``mpage_readahead()`` (fs/mpage.c)
- ``release_folio``: ``try_to_free_buffers()``; ``launder_folio``: a
  synchronous ``->writepage`` under the folio lock, as
  ``fuse_launder_folio()`` does; ``free_folio``: nothing to free.

Each function here emits the callee's steps after the VFS's call, or is
the atomic body of a method that cannot block.

Left out: the data buffer's own lock in ``__block_write_full_folio()``
(``lock_buffer()`` for WB_SYNC_ALL, ``trylock_buffer()`` else, unlocked
by ``end_buffer_async_write()`` in interrupt context: no other thread
locks a file's data buffer here; ``mc.models.buffer`` models it for
metadata buffers), the i_pages lock ``__folio_mark_dirty()`` takes inside
``redirty_page_for_writepage()`` and ``mark_buffer_dirty()`` (those
dirtyings are one step each: ``mark_folio_dirty`` models the lock where
``->dirty_folio`` runs), ``mapping->private_lock`` in
``try_to_free_buffers()``, ``file_update_time()`` ->
``__mark_inode_dirty()``'s ``i_lock`` and ``wb->list_lock`` under
i_rwsem, and ``folio_end_writeback()`` -> ``folio_rotate_reclaimable()``'s
LRU lock for a folio marked PG_reclaim: leaf locks, which add no edge a
cycle could use in these scenarios.
"""

from __future__ import annotations

from typing import Any

from mc.dsl.folio import (
    FolioRef,
    clear_dirty_for_io,
    find_folio,
    folio_ref,
    new_folio,
    repeat_label,
    wait_writeback,
)
from mc.dsl.operation import Op
from mc.dsl.symbolic_steps import fork_compute, fork_effect
from mc.kernel import errno as E
from mc.kernel.expr import Expr, const, differ, not_, same
from mc.kernel.pagecache import (
    PAGE_SIZE,
    PG_DIRTY,
    PG_PRIVATE,
    PG_UPTODATE,
    PG_WRITEBACK,
    TAG_DIRTY,
    Mapping,
    Page,
    change_flags,
    change_marks,
    dirty_folio,
    flags_of,
    folio_test,
    get_block,
    pagecache,
    read_zeroes,
    start_writeback,
    submit_read,
    submit_write,
)
from mc.kernel.pagecache_properties import WRITEBACK_PROTOCOL
from mc.kernel.pagedata import zero_folio
from mc.kernel.pathcond import at_least, decide, larger, mod, mul
from mc.kernel.rmap import NO_MKCLEAN
from mc.kernel.truncate_properties import stale_block, truncation
from mc.kernel.world import LOCK_PROTOCOL, Scratch

AOP_WRITEPAGE_ACTIVATE = 0x80000
END_BUFFER_ASYNC_WRITE = "end_buffer_async_write"
END_BUFFER_ASYNC_READ = "end_buffer_async_read"
MPAGE_END_IO = "mpage_read_end_io"

OK = const(0, "0")


def grab_folio(op: Op, mapping: Mapping, page: Page, label: str) -> FolioRef:
    """``__filemap_get_folio(mapping, index, FGP_LOCK | FGP_CREAT, gfp)``
    (mm/filemap.c, Linux 6.6): the folio cached at the index is locked and
    rechecked (``folio->mapping != mapping``: truncated meanwhile, so unlock,
    put and look again); with none cached a new folio, locked at birth, is
    added (-EEXIST: another thread added one first, look again).  Returns
    the thread's reference, locked."""
    repeat, create, done = (repeat_label(op, what) for what in ("repeat", "create", "grabbed"))
    op.label(repeat)
    ref = find_folio(op, page, f"{label}: repeat: folio = filemap_get_entry(mapping, index)")
    with op.when(not_(ref.found), "if (!folio) goto no_page"):
        op.goto(create)
    op.lock(ref.lock, label="folio_lock(folio)")
    with op.when(
        ref.mapped, "if (unlikely(folio->mapping != mapping)) /* truncated */", label_negates=True
    ):
        op.goto(done)
    op.unlock(ref.lock, "folio_unlock(folio); folio_put(folio); goto repeat")
    op.goto(repeat)
    op.label(create)
    _, added = new_folio(
        op,
        mapping,
        page,
        "no_page: folio = filemap_alloc_folio(gfp, 0); __folio_set_locked(folio); "
        "err = filemap_add_folio(mapping, folio, index, gfp)",
    )
    with op.when(added, "if (err == -EEXIST) goto repeat", label_negates=True):
        op.goto(done)
    op.goto(repeat)
    op.label(done)
    return ref


def _buffers_and_block(scratch: Scratch, page: Page, ret: int) -> None:
    change_flags(scratch, page, on=PG_PRIVATE)
    scratch[ret] = get_block(scratch, page)


def write_begin(op: Op, mapping: Mapping, page: Page) -> None:
    """``block_write_begin()``: ``grab_cache_page_write_begin()`` returns
    the folio locked; ``__block_write_begin_int()`` attaches buffers and maps
    an unmapped block with ``get_block(..., 1)``.  A whole-page write reads
    nothing.  On error the folio is unlocked (goes to ``out`` unlocked).
    The device needs no stable pages (``mapping_stable_writes()`` false),
    so ``FGP_STABLE``'s ``folio_wait_stable()`` does not wait for
    writeback, as it would under the folio lock on a device that does."""
    grab_folio(op, mapping, page, "folio = grab_cache_page_write_begin(mapping, index)")
    op.effect(
        "__block_write_begin_int(): create_empty_buffers(); "
        "if (!buffer_mapped(bh)) err = get_block(inode, block, bh, 1)",
        _buffers_and_block,
        page,
        op.thread.ret,
    )
    op.fail_if(differ(op.ret, OK), E.ENOSPC, "write_begin_failed", "if (unlikely(err))")


def write_end(op: Op, mapping: Mapping, page: Page) -> None:
    """``->write_end`` of a whole-page copy, in ``simple_write_end()``'s
    order (fs/libfs.c): mark the folio uptodate, extend i_size (the i_rwsem
    the caller holds keeps it stable), ``folio_mark_dirty()`` through
    ``->dirty_folio`` (``mark_folio_dirty``), unlock.  A block filesystem's
    ``generic_write_end()`` -> ``block_write_end()`` (fs/buffer.c) dirties
    through ``mark_buffer_dirty()`` instead, which reaches the same
    ``__folio_mark_dirty()`` under the i_pages lock.  A short copy
    (``generic_perform_write()``'s ``short_copy``) is the block
    filesystem's: into a folio that is not uptodate it commits nothing,
    where ``simple_write_end()`` would zero the rest of the folio and
    commit it."""
    truncation(op.world).extenders.add(op.thread.name)
    fork_effect(
        op,
        "if (!folio_test_uptodate(folio)) folio_mark_uptodate(folio); "
        "if (last_pos > inode->i_size) i_size_write(inode, last_pos)",
        _uptodate_and_size,
        mapping,
        page,
    )
    mark_folio_dirty(
        op, mapping, page, "folio_mark_dirty(folio): mapping->a_ops->dirty_folio(mapping, folio)"
    )
    op.unlock(folio_ref(op, page).lock, "folio_unlock(folio)")


def _uptodate_and_size(scratch: Scratch, mapping: Mapping, page: Page) -> None:
    change_flags(scratch, page, on=PG_UPTODATE)
    end = (page.index + 1) * PAGE_SIZE
    scratch[mapping.i_size] = larger(scratch, end, scratch[mapping.i_size])


def dirty_folio_method(scratch: Scratch, mapping: Mapping, page: Page) -> int:
    """``block_dirty_folio()`` in one step, for a caller that cannot take a
    lock between (an effect): under ``i_private_lock`` the buffers are
    dirtied, then PG_dirty; a newly dirty folio gets the DIRTY mark
    (``__folio_mark_dirty()``, under xa_lock) and the inode I_DIRTY_PAGES.
    Returns whether the folio was newly dirtied."""
    return int(dirty_folio(scratch, page))


def _set_dirty_flag(scratch: Scratch, mapping: Mapping, page: Page) -> int:
    """``block_dirty_folio()`` up to ``__folio_mark_dirty()``: the buffers
    and PG_dirty, under ``i_private_lock``; whether the folio was newly
    dirtied."""
    if scratch[page.folio] is None:
        return 0
    return int(not change_flags(scratch, page, on=PG_DIRTY) & PG_DIRTY)


def _mark_dirty(scratch: Scratch, page: Page) -> None:
    if scratch[page.folio] is not None:
        change_marks(scratch, page, on=TAG_DIRTY)


MARK_DIRTY = "__folio_mark_dirty(folio, mapping, 1)"
"""The label of the step that sets a newly dirtied folio's DIRTY mark
under the mapping's i_pages lock (``mark_folio_dirty``)."""


def mark_folio_dirty(op: Op, mapping: Mapping, page: Page, label: str) -> None:
    """``folio_mark_dirty()`` of a folio the caller holds locked:
    ``->dirty_folio`` (``block_dirty_folio()``: the buffers and PG_dirty
    under ``i_private_lock``, which is left out), which says whether the
    folio was newly dirtied; then ``__folio_mark_dirty()`` sets its DIRTY
    mark under ``xa_lock_irqsave(&mapping->i_pages)`` (the lock I/O
    completion takes in interrupt context).  Left out: the inode's
    I_DIRTY_PAGES (``__mark_inode_dirty()``: ``i_lock``,
    ``wb->list_lock``)."""
    op.call(
        "address_space_operations.dirty_folio",
        _set_dirty_flag,
        mapping,
        page,
        label=label,
        roles={"mapping": mapping, "folio": folio_ref(op, page)},
        sleeps=False,
    )
    with op.when(same(op.ret, const(1)), "if (newly_dirty)"):
        op.section(
            mapping.xa_lock,
            f"{MARK_DIRTY}: xa_lock_irqsave(&mapping->i_pages); "
            "__xa_set_mark(&mapping->i_pages, folio_index(folio), PAGECACHE_TAG_DIRTY)",
            _mark_dirty,
            page,
        )


RECLAIM_WRITES = "reclaim-writes"
"""The variant under which ``->writepage`` writes from reclaim too."""


def writepage(op: Op, mapping: Mapping, page: Page, *, for_reclaim: bool) -> None:
    """The filesystem's ``->writepage``, entered with the folio locked and
    cleaned for I/O.  From reclaim it declines: ``redirty_page_for_writepage()``
    and ``return AOP_WRITEPAGE_ACTIVATE`` with the folio still locked (as
    ``shmem_writepage()`` and f2fs's ``redirty_out`` do); under variant
    ``writepage-drops-page`` it unlocks and returns 0 instead, neither
    redirtying nor starting writeback.  Under ``reclaim-writes`` (ext2's and
    minix's ``->writepage``) and from writeback it is
    ``block_write_full_page()``."""
    if for_reclaim and not op.variant(RECLAIM_WRITES):
        if op.variant("writepage-drops-page"):
            writepage_unlock(op, page, "folio_unlock(folio); return 0 /* nothing written */")
            op.effect("return 0", _set_ret, op.thread.ret, 0)
            return
        op.effect(
            "redirty_page_for_writepage(wbc, page): filemap_dirty_folio(mapping, folio)",
            _redirty,
            page,
        )
        op.effect("return AOP_WRITEPAGE_ACTIVATE", _set_ret, op.thread.ret, AOP_WRITEPAGE_ACTIVATE)
        return
    block_write_full_page(op, mapping, page)


def _set_ret(scratch: Scratch, ret: int, value: int) -> None:
    scratch[ret] = value


def _redirty(scratch: Scratch, page: Page) -> None:
    dirty_folio(scratch, page)


EOF_INSIDE, EOF_OUTSIDE, EOF_STRADDLES = 0, 1, 2
EOF_NAMES = ("inside i_size", "outside i_size", "straddles i_size")


def _eof_case(scratch: Scratch, mapping: Mapping, page: Page) -> tuple[int, Any]:
    """Where i_size, read once, falls against the page, and for a page that
    straddles it the offset in the page (what ``zero_user_segment()`` is
    given: a size changed since is not read again)."""
    size = scratch[mapping.i_size]
    if decide(scratch, at_least(size, mul(page.index + 1, PAGE_SIZE))):
        return EOF_INSIDE, None
    if decide(scratch, at_least(mul(page.index, PAGE_SIZE), size)):
        return EOF_OUTSIDE, None
    return EOF_STRADDLES, mod(size, PAGE_SIZE)


def _render_eof(value: tuple[int, Any] | None) -> str:
    if value is None:
        return "-"
    case, offset = value
    return EOF_NAMES[case] if offset is None else f"{EOF_NAMES[case]} at byte {offset}"


def _zero_tail(scratch: Scratch, page: Page, case: tuple[int, Any]) -> None:
    zero_folio(scratch, page, case[1], PAGE_SIZE)


def _eof_is(case: Expr, value: int) -> Expr:
    def build(world: Any) -> Any:
        get = case.compile(world)
        return lambda state: get(state)[0] == value

    return Expr(f"{case} == {EOF_NAMES[value]}", build, case.local)


def block_write_full_page(op: Op, mapping: Mapping, page: Page) -> None:
    """``block_write_full_page()`` (fs/buffer.c, Linux 6.6): a page wholly
    past i_size (a truncate in progress, which will remove it) is unlocked
    unwritten; one that straddles i_size has its bytes past i_size zeroed
    (``zero_user_segment(page, offset, PAGE_SIZE)``: "it may be mmapped"
    and stores past EOF must not reach the file) on every writepage; then
    ``__block_write_full_folio()`` for its one mapped buffer
    (``block_write_begin()`` mapped it): ``test_clear_buffer_dirty()`` and
    ``mark_buffer_async_write()``, ``folio_start_writeback()``, submit the
    buffer, unlock the folio.  The write completes in
    ``end_buffer_async_write()``."""
    case = fork_compute(
        op,
        f"eof_case.{page.index}",
        "i_size = i_size_read(inode); end_index = i_size >> PAGE_SHIFT; "
        "offset = i_size & (PAGE_SIZE - 1)",
        _eof_case,
        mapping,
        page,
        render=_render_eof,
    )
    done = op.fresh_label("block_write_full_page_done")
    with op.when(
        _eof_is(case, EOF_OUTSIDE),
        "if (page->index >= end_index+1 || !offset) /* truncate in progress */",
    ):
        op.unlock(folio_ref(op, page).lock, "folio_unlock(folio); return 0 /* don't care */")
        op.goto(done)
    with op.when(_eof_is(case, EOF_STRADDLES), "if (the page straddles i_size)"):
        # Under variant writeback-skips-eof-zero the page goes out as it is: the
        # bytes a store through the mapping put past EOF reach the block, and a
        # later extension of the file reads them back (models/eof.py).
        if not op.variant(WRITEBACK_SKIPS_EOF_ZERO):
            zero = "zero_user_segment(page, offset, PAGE_SIZE) /* it may be mmapped */"
            fork_effect(op, zero, _zero_tail, page, case)

    op.section(
        mapping.xa_lock,
        "BUG_ON(folio_test_writeback(folio)); folio_start_writeback(folio): "
        "xas_lock_irqsave(); folio_test_set_writeback(); xas_set_mark(WRITEBACK) ...",
        _start_writeback_once,
        page,
    )
    op.effect(
        "submit_bh_wbc(REQ_OP_WRITE | write_flags, bh, wbc) "
        "/* b_end_io = end_buffer_async_write */",
        submit_buffer_write,
        page,
        END_BUFFER_ASYNC_WRITE,
    )
    writepage_unlock(op, page, "folio_unlock(folio)")
    op.label(done)


def _start_writeback_once(scratch: Scratch, page: Page) -> None:
    """``__block_write_full_folio()``'s ``BUG_ON(folio_test_writeback(folio))``,
    then ``folio_start_writeback()``: a folio already under writeback (a
    data-integrity writeback that did not wait for it) is a lock-protocol
    error, the kernel's BUG."""
    if flags_of(scratch.values, page) & PG_WRITEBACK:
        scratch.violate(
            LOCK_PROTOCOL,
            f"folio_start_writeback() of {page}, which is under writeback already "
            "(__block_write_full_folio(): BUG_ON(folio_test_writeback(folio)); "
            "write_cache_pages() waits for it under WB_SYNC_ALL)",
        )
        return
    start_writeback(scratch, page)


def submit_buffer_write(scratch: Scratch, page: Page, end_io: str) -> None:
    """``submit_bh()`` of the folio's buffer: a write to the block the
    buffer maps.  Where a truncate or hole punch freed that block while the
    dirty folio stayed cached (what a broken protocol lets happen: the
    page's ``stale(...)`` slot), the buffer head still maps the freed block
    (``bh->b_blocknr``; the punch does not reach a folio it did not find),
    so the write goes there, which ``no-write-to-freed-block`` reports."""
    freed = None if scratch[page.block] is not None else stale_block(scratch, page)
    submit_write(scratch, page, end_io, freed)


def writepage_unlock(op: Op, page: Page, label: str) -> None:
    """The folio unlock of ``->writepage``: by then the folio must be under
    writeback or redirtied (locking.rst: otherwise it is "marked clean but
    ... tagged as dirty in the radix tree")."""
    part = pagecache(op.world)

    def check(state: tuple[object, ...]) -> str | None:
        flags = flags_of(state, page)
        if state[page.folio] is None or flags & PG_DIRTY:
            return None
        if not state[page.marks] & TAG_DIRTY:  # type: ignore[operator]
            return None
        folio = state[page.folio]
        assert isinstance(folio, tuple)
        return (
            f"->writepage unlocks folio {page} clean but tagged DIRTY, neither under writeback "
            f"nor redirtied: {part.writer(folio[0])} is written nowhere "
            f"(block {state[page.block]} holds {part.writer(part.on_device(state, page))})"
        )

    op.unlock_checked(folio_ref(op, page).lock, label, check, WRITEBACK_PROTOCOL)


def read_folio(op: Op, mapping: Mapping, page: Page) -> None:
    """``block_read_full_folio()``: the folio stays locked; its buffer is
    read with ``b_end_io = end_buffer_async_read``, which marks it uptodate
    and unlocks it.  A hole, or a block at or past ``i_size_read()`` then
    (``lblock``: a truncate shrank the file since the caller looked), is
    zeroed and the folio unlocked at once, with no I/O."""
    fork_effect(
        op,
        "create_empty_buffers(); lblock = DIV_ROUND_UP(i_size_read(inode), blocksize); "
        "if (iblock < lblock) { lock_buffer(bh); mark_buffer_async_read(bh); "
        "submit_bh(REQ_OP_READ, bh); } else { folio_zero_range(); folio_mark_uptodate(); "
        "folio_unlock(); }",
        _read,
        mapping,
        page,
        END_BUFFER_ASYNC_READ,
        True,
    )


def readahead(op: Op, mapping: Mapping, page: Page) -> None:
    """``mpage_readahead()``: one bio reads the locked new folio;
    ``mpage_read_end_io()`` marks it uptodate and unlocks
    it.  ``do_mpage_readpage()`` maps no block at or past
    ``last_block_in_file`` (from ``i_size_read()`` then): such a folio is
    zeroed, marked uptodate and unlocked with no bio."""
    fork_effect(
        op,
        "mpage_readahead(rac, get_block): do_mpage_readpage(): last_block_in_file = "
        "DIV_ROUND_UP(i_size_read(inode), blocksize); mpage_bio_submit_read(bio) "
        "/* or, all of it past EOF: folio_zero_segment(); folio_mark_uptodate(); folio_unlock() */",
        _read,
        mapping,
        page,
        MPAGE_END_IO,
        False,
    )


def past_eof(scratch: Scratch, mapping: Mapping, page: Page) -> bool:
    """In this run of a forking step: ``page`` starts at or past EOF
    (``page_offset >= i_size_read()``)."""
    return decide(scratch, at_least(mul(page.index, PAGE_SIZE), scratch[mapping.i_size]))


def _read(scratch: Scratch, mapping: Mapping, page: Page, end_io: str, buffers: bool) -> None:
    if buffers:
        change_flags(scratch, page, on=PG_PRIVATE)
    if past_eof(scratch, mapping, page):
        read_zeroes(scratch, page)
        return
    submit_read(scratch, page, end_io)


def release_folio_method(scratch: Scratch, page: Page) -> int:
    """``try_to_free_buffers()``: the buffers go unless one is dirty or
    under I/O (``buffer_busy()``); returns whether the folio is free of them."""
    flags = flags_of(scratch.values, page)
    if flags & PG_DIRTY:
        return 0
    change_flags(scratch, page, off=PG_PRIVATE)
    return 1


def free_folio_method(scratch: Scratch, page: Page) -> int:
    """``->free_folio``: the filesystem keeps nothing of a folio."""
    return 0


def launder_folio(op: Op, mapping: Mapping, page: Page) -> None:
    """``->launder_folio`` as ``fuse_launder_folio()``: if
    ``folio_clear_dirty_for_io()``, write the folio synchronously
    (``block_write_full_page()`` but keeping the folio locked) and wait for
    the write."""
    with op.when(folio_test(page, PG_DIRTY, "dirty"), "if (folio_clear_dirty_for_io(folio))"):
        clear_dirty_for_io(
            op, mapping, page, "folio_clear_dirty_for_io(folio)", not op.variant(NO_MKCLEAN)
        )
        op.section(
            mapping.xa_lock,
            "folio_start_writeback(folio)",
            start_writeback,
            page,
        )
        op.effect(
            "submit_bh(REQ_OP_WRITE, bh) /* b_end_io = end_buffer_async_write */",
            submit_buffer_write,
            page,
            END_BUFFER_ASYNC_WRITE,
        )
        op.run(wait_writeback, page)


INODE_LRU = ("spin_lock", "spin_unlock")
"""The calls a cite of the page cache's removal of a clean folio leaves out
(``invalidate_complete_folio2()``, reclaim's ``__remove_mapping()``, Linux
6.6): the inode's ``i_lock`` held around it for the inode LRU update
(``inode_add_lru()``), which is not modelled."""


DIRTY_WRITEBACK = ("address_space_operations.is_dirty_writeback",)
"""The method a cite of reclaim's scan (``shrink_folio_list()``, Linux 6.6)
leaves out: ``folio_check_dirty_writeback()`` asks a filesystem that has it
whether a folio with private data is dirty or under writeback, for the
reclaim statistics only; the modelled filesystem has none."""


SWAP_MMLIST = ("spin_lock", "spin_unlock")
"""The calls a cite of the unmapping of a mapped folio (``try_to_unmap_one()``,
Linux 6.6) leaves out: an anonymous folio given a swap entry puts its mm on
the swapoff list under ``mmlist_lock``; the models map file folios only."""


WRITEBACK_SKIPS_EOF_ZERO = "writeback-skips-eof-zero"
"""The variant in which ``block_write_full_page()`` does not zero a straddling page past EOF."""
