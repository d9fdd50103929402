"""The data path of mm/filemap.c, mm/page-writeback.c, fs/fs-writeback.c,
mm/vmscan.c and fs/libfs.c (Linux 6.6): buffered write and read, fsync,
background writeback, reclaim of a page-cache folio, page-cache
invalidation, and the block device completing I/O in interrupt context,
over the filesystem of ``mc.models.blockfs``.

Every operation works on the one file of the scenario (a ``File``) and on
whole pages.  The VFS calls the filesystem's methods through ``op.call``
(``datapath_steps.enter`` when the method's body follows as steps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mc.dsl.folio import (
    clear_dirty_for_io,
    find_folio,
    folio_mapped,
    folio_ref,
    hold_folio,
    new_folio,
    put_folio,
    wait_locked,
    wait_writeback,
)
from mc.dsl.operation import Cite, Op, operation
from mc.dsl.symbolic_steps import fork_compute
from mc.kernel import errno as E
from mc.kernel.device import DIO_END_IO, WRITE, Bio, render_version
from mc.kernel.expr import (
    Eval,
    Expr,
    InodeExpr,
    LockExpr,
    State,
    any_of,
    const,
    not_,
    same,
    slot_value,
)
from mc.kernel.inode_life import refuse_inode_life
from mc.kernel.locks import EXCL, SHARED, Kind, Lock
from mc.kernel.mm import mm_mapping, zap
from mc.kernel.pagecache import (
    PG_DIRTY,
    PG_PRIVATE,
    PG_UPTODATE,
    PG_WRITEBACK,
    TAG_DIRTY,
    TAG_TOWRITE,
    TAG_WRITEBACK,
    File,
    Mapping,
    Page,
    Sync,
    complete,
    completions,
    dirty_folio,
    folio_test,
    in_range,
    pagecache,
    present,
    promise,
    references,
    remove_folio,
    render_promise,
    store_data,
    tag_for_writeback,
    tagged,
    wb_err_slot,
)
from mc.kernel.pathcond import is_true
from mc.kernel.rmap import NO_MKCLEAN, folio_clear_dirty_for_io
from mc.kernel.superblock import SB_FREEZE_WRITE, sb_writers
from mc.kernel.world import Scratch, World
from mc.models import blockfs

OK = const(0, "0")
ACTIVATE = const(blockfs.AOP_WRITEPAGE_ACTIVATE, "AOP_WRITEPAGE_ACTIVATE")

INVALIDATE_SKIPS_UNMAP = "invalidate-skips-unmap"
"""The variant in which ``invalidate_inode_pages2_range()`` removes a mapped
folio without unmapping it."""
INVALIDATE_SKIPS_WRITEBACK_WAIT = "invalidate-skips-writeback-wait"
"""The variant in which ``invalidate_inode_pages2_range()`` does not wait
for the folio's writeback before ``->release_folio``."""


def _render_batch(batch: tuple[tuple[int, int], ...] | None) -> str:
    if not batch:
        return "none"
    return ", ".join(f"page {i} (folio #{ident})" for i, ident in batch)


def locked_test(page: Page, flag: int, name: str) -> Expr:
    """``folio_test_<name>(folio)`` read under the folio lock the thread
    holds: no other thread changes the bit meanwhile, so the read commutes
    with their steps."""
    test = folio_test(page, flag, name)
    return Expr(test.text, test.build, local=True)


# --- write ---------------------------------------------------------------------


FILEMAP_GET_FOLIO = Cite(
    "mm/filemap.c",
    "__filemap_get_folio",
    "6.6",
    leaves_out=("folio_trylock",),
    because="no FGP_NOWAIT",
)
"""``__filemap_get_folio()`` as the write and truncate paths that create or
find a folio cite it."""


@operation(
    models="generic_file_write_iter() -> generic_perform_write() (mm/filemap.c)",
    describe=lambda f, i: f"write({f}, page {i})",
    cites=(
        Cite(
            "fs/read_write.c",
            "vfs_write",
            "6.6",
            leaves_out=("file_operations.write_iter", "file_operations.write"),
            because="->write_iter is no step of its own (its body follows; a write through a "
            "file enters it after file_start_write()); no ->write is set",
        ),
        Cite(
            "mm/filemap.c",
            "generic_file_write_iter",
            "6.6",
            method="file_operations.write_iter",
        ),
        Cite("mm/filemap.c", "__generic_file_write_iter", "6.6"),
        Cite("mm/filemap.c", "generic_perform_write", "6.6"),
        Cite(
            "fs/buffer.c", "block_write_begin", "6.6", method="address_space_operations.write_begin"
        ),
        Cite("mm/folio-compat.c", "grab_cache_page_write_begin", "6.6"),
        Cite("mm/folio-compat.c", "pagecache_get_page", "6.6"),
        FILEMAP_GET_FOLIO,
        Cite("fs/libfs.c", "simple_write_end", "6.6", method="address_space_operations.write_end"),
        Cite("mm/page-writeback.c", "folio_mark_dirty", "6.6"),
        Cite(
            "fs/buffer.c",
            "block_dirty_folio",
            "6.6",
            method="address_space_operations.dirty_folio",
            leaves_out=("spin_lock", "spin_unlock"),
            because="i_private_lock guards the folio's buffers, which the model does not have",
        ),
        Cite("mm/page-writeback.c", "__folio_mark_dirty", "6.6"),
    ),
)
def write(op: Op, file: File, index: int) -> None:
    """write(2) of page ``index``, whole: ``vfs_write()`` ->
    ``file_start_write()`` (``sb_start_write()``: the SB_FREEZE_WRITE level
    shared, fs/read_write.c), i_rwsem exclusive, then ``->write_begin``
    (returns the folio locked), the copy into the folio, ``->write_end``
    (dirties and unlocks it), ``file_end_write()``.  Left out:
    ``__generic_file_write_iter()``'s ``file_remove_privs()`` and
    ``file_update_time()`` under i_rwsem (the file has no privileges to
    drop; the time is not modelled) and ``generic_perform_write()``'s
    ``balance_dirty_pages_ratelimited()`` (no dirty limit: a writer never
    sleeps for the flusher)."""
    mapping = op.mapping(file)
    page = mapping.page(index)
    version = pagecache(op.world).add_write(op.thread.name, op.thread.pc, page)
    perform_write(op, mapping, page, op.inode(file.path), version)


def _copy_plain(version: int) -> Callable[[Op, Page], None]:
    def copy(op: Op, page: Page) -> None:
        op.effect(
            "copied = copy_page_from_iter_atomic(page, offset, bytes, i) "
            f"/* {render_version(version)} */",
            store_data,
            page,
            version,
        )

    return copy


def perform_write(
    op: Op,
    mapping: Mapping,
    page: Page,
    inode: InodeExpr,
    version: int,
    *,
    prefault: Callable[[Op], None] | None = None,
    copy: Callable[[Op, Page], None] | None = None,
    start_write: bool = True,
) -> None:
    """``generic_file_write_iter()`` -> ``generic_perform_write()`` for one whole page
    (mm/filemap.c, Linux 6.6): under i_rwsem exclusive, ``fault_in_iov_iter_readable()``
    (``prefault``, when the source is user memory the model maps), ``->write_begin``, the copy
    (``copy``, by default a copy from memory that cannot fault) and ``->write_end``.  A copy
    that comes up short jumps to ``short_copy``: ``->write_end`` with ``copied == 0`` commits
    nothing and unlocks the folio, and the loop goes ``again``, faulting the source in first.
    Around it, ``vfs_write()``'s ``file_start_write()``/``file_end_write()`` (the SB_FREEZE_WRITE
    level shared, fs/read_write.c), unless ``start_write`` is false (splice(2) took it)."""
    begin_write(op, inode, start_write=start_write)
    op.label("again")
    if prefault is not None:
        prefault(op)
    op.enter(
        "address_space_operations.write_begin",
        mapping,
        page,
        label="status = a_ops->write_begin(file, mapping, pos, bytes, &folio, &fsdata)",
        roles={"mapping": mapping, "inode": inode},
    )
    blockfs.write_begin(op, mapping, page)
    (copy or _copy_plain(version))(op, page)
    op.enter(
        "address_space_operations.write_end",
        mapping,
        page,
        label="status = a_ops->write_end(file, mapping, pos, bytes, copied, folio, fsdata)",
        roles={"mapping": mapping, "inode": inode, "folio": folio_ref(op, page)},
    )
    blockfs.write_end(op, mapping, page)
    op.goto("out")
    if copy is not None:
        op.label("short_copy")
        op.unlock(
            folio_ref(op, page).lock,
            "status = a_ops->write_end(file, mapping, pos, bytes, 0, folio, fsdata) "
            "/* a short copy commits nothing */: folio_unlock(folio)",
        )
        put_folio(
            op, folio_ref(op, page), "folio_put(folio); if (unlikely(status == 0)) goto again"
        )
        op.goto("again")
    op.label("write_begin_failed")
    op.unlock(folio_ref(op, page).lock, "folio_unlock(folio) /* block_write_begin() failed */")
    op.label("out")
    put_folio(op, folio_ref(op, page))
    end_write(op, inode, start_write=start_write)


def begin_write(op: Op, inode: InodeExpr, *, start_write: bool = True) -> None:
    """``vfs_write()``'s ``file_start_write()`` (the SB_FREEZE_WRITE level
    shared; not when ``start_write`` is false), the ``->write_iter`` call
    where a caller entered it (``op.entering``: write(2) through a file),
    then ``generic_file_write_iter()``'s ``inode_lock()``."""
    if start_write:
        op.lock(
            sb_writers(op.world, SB_FREEZE_WRITE),
            SHARED,
            "vfs_write(): file_start_write(file): sb_start_write(file_inode(file)->i_sb)",
            tag="sb-start-write",
        )
    op.entered_here("file_operations.write_iter")
    op.lock(inode.i_rwsem, EXCL, "generic_file_write_iter(): inode_lock(inode)")


def end_write(op: Op, inode: InodeExpr, *, start_write: bool = True) -> None:
    """``inode_unlock()``, then ``file_end_write()`` (as ``begin_write``)."""
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    if start_write:
        op.unlock(
            sb_writers(op.world, SB_FREEZE_WRITE),
            "file_end_write(file): sb_end_write(file_inode(file)->i_sb)",
            tag="sb-start-write",
        )


# --- writeback -----------------------------------------------------------------


def write_cache_pages(
    op: Op,
    mapping: Mapping,
    *,
    sync_all: bool,
    only: tuple[int, ...] | None = None,
    tagged: bool = False,
) -> None:
    """``write_cache_pages()`` with ``->writepage`` as the callback
    (``writepage_cb()``, as ``generic_writepages()`` did until 6.3):
    WB_SYNC_ALL first tags every DIRTY folio
    TOWRITE and writes those; WB_SYNC_NONE writes what is DIRTY, or, with
    ``tagged`` (``wbc->tagged_writepages``: the WB_SYNC_NONE pass of
    ``sync_filesystem()``, ``writeback_inodes_sb()``), tags and writes the
    TOWRITE folios as WB_SYNC_ALL does, so that folios dirtied meanwhile
    do not keep it going.  Each folio
    is locked, skipped if truncated or clean, waited on (WB_SYNC_ALL) or
    skipped (WB_SYNC_NONE, tagged or not) if under writeback, cleaned for I/O with
    ``folio_clear_dirty_for_io()`` and handed to ``->writepage``.  ``only``:
    the page indices of the range written back (``wbc->range_start`` to
    ``range_end``; None: the whole file)."""
    if sync_all or tagged:
        op.section(
            mapping.xa_lock,
            "tag_pages_for_writeback(mapping, index, end): every DIRTY index gets TOWRITE",
            tag_for_writeback,
            mapping,
            only,
        )
    towrite = sync_all or tagged
    tag, tag_name = (TAG_TOWRITE, "TOWRITE") if towrite else (TAG_DIRTY, "DIRTY")
    for page in folios_tagged(op, mapping, "fbatch", tag, tag_name, only):
        _write_one(op, mapping, page, sync_all=sync_all)


def folios_tagged(
    op: Op,
    mapping: Mapping,
    register: str,
    tag: int,
    name: str,
    only: tuple[int, ...] | None = None,
) -> Iterator[Page]:
    """``filemap_get_folios_tag()`` into register ``register``, then the
    loop over the batch: each page (of the range ``only``) is yielded inside
    a ``when`` that holds for the pages the batch found, so the caller's
    steps for it run only then."""
    batch = op.compute(
        register,
        f"nr_folios = filemap_get_folios_tag(mapping, &index, end, PAGECACHE_TAG_{name}, &fbatch)",
        tagged,
        mapping,
        tag,
        only,
        render=_render_batch,
    )
    for page in in_range(mapping, only):
        with op.when(_in_batch(batch, page), f"if (folio_batch has {page})"):
            hold_folio(op, page, _batch_folio(batch, page), "folio = fbatch.folios[i]")
            yield page
            put_folio(op, folio_ref(op, page), "folio_batch_release(&fbatch)")


def _in_batch(batch: Expr, page: Page) -> Expr:
    def build(world: World) -> Eval:
        get = batch.compile(world)
        return lambda state: page.index in dict(get(state) or ())

    return Expr(f"{page.index} in {batch}", build, batch.local)


def _batch_folio(batch: Expr, page: Page) -> Expr:
    def build(world: World) -> Eval:
        get = batch.compile(world)
        return lambda state: dict(get(state))[page.index]

    return Expr(f"{batch}[{page.index}]", build, batch.local)


def _write_one(op: Op, mapping: Mapping, page: Page, *, sync_all: bool) -> None:
    ref = folio_ref(op, page)
    skip = f"continue_unlock.{page.index}"
    done = f"next.{page.index}"
    unlocked_clear = not sync_all and op.variant("clear-dirty-unlocked")
    if unlocked_clear:
        with op.when(
            folio_test(page, PG_DIRTY, "dirty"),
            "if (folio_clear_dirty_for_io(folio)) /* without the folio lock */",
        ):
            op.effect("folio_clear_dirty_for_io(folio)", _clear_dirty, page, _mkclean(op))
        with op.otherwise():
            op.goto(done)
    op.lock(ref.lock, label="folio_lock(folio)", tag="lock-folio-for-io")
    with op.when(
        ref.mapped,
        "if (unlikely(folio->mapping != mapping)) goto continue_unlock",
        label_negates=True,
    ):
        pass
    with op.otherwise():
        op.goto(skip)
    if not unlocked_clear:
        with op.when(
            locked_test(page, PG_DIRTY, "dirty"),
            "if (!folio_test_dirty(folio)) goto continue_unlock /* someone wrote it for us */",
            label_negates=True,
        ):
            pass
        with op.otherwise():
            op.goto(skip)
    writeback = folio_test(page, PG_WRITEBACK, "writeback")
    if sync_all and not op.variant("no-wait-writeback"):
        op.run(
            wait_writeback,
            page,
            "if (folio_test_writeback(folio)) folio_wait_writeback(folio) /* WB_SYNC_ALL */",
        )
    else:
        mode = "WB_SYNC_ALL, not waiting" if sync_all else "WB_SYNC_NONE"
        with op.when(
            writeback, f"if (folio_test_writeback(folio)) goto continue_unlock /* {mode} */"
        ):
            op.goto(skip)
    if not unlocked_clear:
        clear_dirty_for_io(
            op,
            mapping,
            page,
            "if (!folio_clear_dirty_for_io(folio)) goto continue_unlock",
            _mkclean(op),
            tag="clear-dirty-for-io",
        )
    op.enter(
        "address_space_operations.writepage",
        page,
        label="writepage_cb(): ret = mapping->a_ops->writepage(&folio->page, wbc)",
        roles={
            "folio": ref,
            "mapping": mapping,
            "wbc": "WB_SYNC_ALL" if sync_all else "WB_SYNC_NONE",
        },
    )
    blockfs.writepage(op, mapping, page, for_reclaim=False)
    with op.when(same(op.ret, ACTIVATE), "if (error == AOP_WRITEPAGE_ACTIVATE)"):
        op.unlock(ref.lock, "folio_unlock(folio); error = 0")
    op.goto(done)
    op.label(skip)
    op.unlock(ref.lock, "continue_unlock: folio_unlock(folio)")
    op.label(done)


def _clear_dirty(scratch: Scratch, page: Page, mkclean: bool) -> None:
    folio_clear_dirty_for_io(scratch, page, mkclean)


def _mkclean(op: Op) -> bool:
    """Whether ``folio_clear_dirty_for_io()`` write-protects the ptes
    (not under variant ``no-mkclean``)."""
    return not op.variant(NO_MKCLEAN)


def do_writepages(
    op: Op,
    mapping: Mapping,
    *,
    sync_all: bool,
    only: tuple[int, ...] | None = None,
    tagged: bool = False,
) -> None:
    """``do_writepages()``, entered as the filesystem's ``->writepages``
    running ``write_cache_pages()`` with ``->writepage`` as its callback.
    That is ``generic_writepages()`` before 6.3; 6.6's ``do_writepages()``
    calls ``write_cache_pages(mapping, wbc, writepage_cb, mapping)`` itself
    when the filesystem has ``->writepage`` and no ``->writepages`` (its
    callback also records an error with ``mapping_set_error()``).  The
    locks and the per-folio steps are the same; the method named for the
    rules is ``->writepages``, which locking.rst gives no rule of its own.
    Its last step, ``return ret /* ->writepages */``, is where a
    filesystem's own ``->writepages`` ends (a lock it held across the loop
    is released before it: ``inserts(..., before={...})``).  ``tagged``:
    ``wbc->tagged_writepages`` of a WB_SYNC_NONE pass (``write_cache_pages``)."""
    mode = "WB_SYNC_ALL" if sync_all else "WB_SYNC_NONE"
    if tagged and not sync_all:
        mode += ", tagged_writepages"
    op.enter(
        "address_space_operations.writepages",
        mapping,
        label=f"do_writepages(): ret = mapping->a_ops->writepages(mapping, wbc) /* {mode} */",
        roles={"mapping": mapping, "wbc": mode},
    )
    write_cache_pages(op, mapping, sync_all=sync_all, only=only, tagged=tagged)
    op.let("writepages", const(0), f"return ret /* ->writepages, {mode} */", render=str)


def fdatawait(op: Op, mapping: Mapping, only: tuple[int, ...] | None = None) -> None:
    """``__filemap_fdatawait_range()``: wait on every folio tagged WRITEBACK.
    The wait is on the folio cached at that index when it runs, where the
    kernel waits on the folio of its batch (``folio_wait_writeback(fbatch.folios[i])``):
    after the folio was removed and another put under writeback there, the
    model waits longer than the kernel."""
    for page in folios_tagged(op, mapping, "wait_batch", TAG_WRITEBACK, "WRITEBACK", only):
        op.run(wait_writeback, page)


@operation(
    models="vfs_fsync_range() -> generic_file_fsync() (fs/libfs.c)",
    describe=lambda f: f"fsync({f})",
    cites=(
        Cite("fs/sync.c", "vfs_fsync_range", "6.6"),
        Cite("fs/libfs.c", "generic_file_fsync", "6.6", method="file_operations.fsync"),
        Cite("fs/libfs.c", "__generic_file_fsync", "6.6"),
        Cite("mm/filemap.c", "file_write_and_wait_range", "6.6"),
        Cite("mm/page-writeback.c", "do_writepages", "6.6"),
        Cite("mm/page-writeback.c", "write_cache_pages", "6.6"),
        Cite("mm/filemap.c", "__filemap_fdatawait_range", "6.6"),
    ),
)
def fsync(op: Op, file: File) -> None:
    """fsync(2): ``->fsync`` is ``generic_file_fsync()``:
    ``file_write_and_wait_range()`` (WB_SYNC_ALL writeback, then wait on
    every folio under writeback, then ``file_check_and_advance_wb_err()``:
    -EIO when the mapping recorded a write-back error, a memory error's),
    then i_rwsem around the metadata sync (the model has no inode metadata
    to write).  Left out: the errseq's advance (a second fsync of the same
    file would report the error again here, where the kernel reports it
    once per file); ``__generic_file_fsync()``'s ``sync_mapping_buffers()``
    and ``sync_inode_metadata()`` under i_rwsem (``nr_to_write = 0``:
    ``do_writepages()`` returns at once, but ``writeback_single_inode()``
    waits for the flusher's I_SYNC and, WB_SYNC_ALL, ``filemap_fdatawait()``,
    under i_rwsem: ``mc.models.mount.fsync_inode`` has them, in a scenario
    that models the inode's life) and its second
    ``file_check_and_advance_wb_err()``; ``generic_file_fsync()``'s
    ``blkdev_issue_flush()`` (the model's device has no volatile cache).
    A scenario that models the inode's life refuses it:
    ``mc.models.mount.fsync_inode`` is fsync(2) with the metadata sync."""
    refuse_inode_life(
        op.world,
        op.thread.name,
        "fsync(2)",
        "fsync_inode(file) (mc.models.mount) is fsync(2) with them",
    )
    file_fsync(op, file)


def file_fsync(
    op: Op,
    file: File,
    metadata: Callable[[Op], None] | None = None,
    *,
    datasync: bool = False,
    on_entry: Callable[[Scratch], None] | None = None,
) -> None:
    """``vfs_fsync_range()`` -> ``generic_file_fsync()`` as ``fsync``
    says, with ``metadata(op)`` run under i_rwsem for
    ``sync_inode_metadata()`` (nothing when None).  ``datasync``:
    fdatasync(2), ``do_fsync(fd, 1)``, which only the metadata part tells
    apart (``vfs_fsync_range()``'s ``I_DIRTY_TIME`` for fsync(2) is left
    out with ``I_DIRTY_TIME``).  ``on_entry(scratch)`` runs in the step
    that calls ``->fsync`` (what the call promises, for a property)."""
    mapping = op.mapping(file)
    inode = op.inode(file.path)
    part = pagecache(op.world)
    promised = op.register("fsync promises", render_promise)
    part.syncs.append(Sync(op.thread.name, op.thread.pc, mapping, promised, op.thread.ret))
    error = slot_value(wb_err_slot(op.world, file.path), "mapping->wb_err")

    def begin(scratch: Scratch, mapping: Mapping) -> int:
        scratch[promised] = promise(scratch, mapping)
        if on_entry is not None:
            on_entry(scratch)
        return 0

    op.call(
        "file_operations.fsync",
        begin,
        mapping,
        label="vfs_fsync_range(): return file->f_op->fsync(file, start, end, datasync)"
        + (" /* fdatasync(2): datasync = 1 */" if datasync else ""),
        roles={"file": inode, "inode": inode},
    )
    do_writepages(op, mapping, sync_all=True)
    fdatawait(op, mapping)
    op.fail_if(
        error,
        E.EIO,
        "out",
        "err2 = file_check_and_advance_wb_err(file); if (err2) return err2 /* -EIO: the "
        "mapping recorded a write-back error since the file was opened */",
    )
    op.lock(inode.i_rwsem, EXCL, "__generic_file_fsync(): inode_lock(inode)")
    if metadata is not None:
        metadata(op)
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.label("out")


@operation(
    models="wb_workfn() -> wb_writeback() -> __writeback_single_inode() (fs/fs-writeback.c)",
    describe=lambda f: f"flusher({f})",
    cites=(
        Cite("fs/fs-writeback.c", "wb_workfn", "6.6"),
        Cite(
            "fs/fs-writeback.c",
            "wb_writeback",
            "6.6",
            leaves_out=("spin_lock", "spin_unlock", "up_read"),
            because="the page flusher leaves out the writeback lists (wb->list_lock), the "
            "inode's i_state under i_lock and the superblock's s_umount (super_trylock_shared()): "
            "the inode flusher (models/inode.py) has the last two",
        ),
        Cite(
            "fs/fs-writeback.c",
            "__writeback_single_inode",
            "6.6",
            leaves_out=("spin_lock", "spin_unlock", "super_operations.write_inode"),
            because="the inode's i_state under i_lock and ->write_inode are the inode "
            "flusher's (models/inode.py)",
        ),
        Cite("mm/page-writeback.c", "do_writepages", "6.6"),
        Cite("mm/page-writeback.c", "write_cache_pages", "6.6"),
    ),
)
def flusher(op: Op, file: File) -> None:
    """The background flusher (one pass of the bdi's writeback work):
    WB_SYNC_NONE writeback of the file's dirty folios."""
    op.holds_no_file()
    mapping = op.mapping(file)
    do_writepages(op, mapping, sync_all=False)


# --- reclaim -------------------------------------------------------------------


def try_to_unmap(scratch: Scratch, page: Page) -> None:
    """``try_to_unmap()`` (mm/rmap.c, Linux 6.6) on the folio cached at
    ``page``, the caller holding its lock and ``i_mmap_rwsem`` shared for the
    walk: ``try_to_unmap_one()`` clears the pte of every VMA mapping it
    (``ptep_clear_flush()``) and moves a dirty pte's dirt to the folio
    (``folio_mark_dirty()``)."""
    mm = mm_mapping(scratch.world, page.ino)
    if mm is None:
        return
    if zap(scratch, mm, (page.index,)):
        dirty_folio(scratch, page)


def unmap_folio(
    op: Op,
    mapping: Mapping,
    page: Page,
    label: str,
    walk: str = "try_to_unmap() -> rmap_walk() -> rmap_walk_file(): i_mmap_lock_read(mapping)",
    unmap: str = "try_to_unmap_one(): pteval = ptep_clear_flush(vma, address, pvmw.pte); "
    "if (pte_dirty(pteval)) folio_mark_dirty(folio)",
) -> None:
    """When the locked folio at ``page`` is mapped (``label``): the rmap
    walk under ``i_mmap_rwsem`` shared clears every pte mapping it and
    moves a dirty pte's dirt to the folio (``try_to_unmap()``,
    ``try_to_migrate()``, ``unmap_mapping_folio()`` alike)."""
    with op.when(folio_mapped(page), label):
        op.lock(mapping.i_mmap_rwsem, SHARED, walk)
        op.effect(unmap, try_to_unmap, page)
        op.unlock(mapping.i_mmap_rwsem, "i_mmap_unlock_read(mapping)")


@operation(
    models="shrink_folio_list() -> pageout() -> __remove_mapping() (mm/vmscan.c)",
    describe=lambda f, i: f"reclaim({f}, page {i})",
    cites=(
        Cite("mm/vmscan.c", "shrink_folio_list", "6.6", leaves_out=blockfs.DIRTY_WRITEBACK),
        Cite("mm/rmap.c", "try_to_unmap", "6.6"),
        Cite("mm/rmap.c", "rmap_walk_file", "6.6"),
        Cite("mm/rmap.c", "try_to_unmap_one", "6.6", leaves_out=blockfs.SWAP_MMLIST),
        Cite("mm/vmscan.c", "pageout", "6.6"),
        Cite("mm/vmscan.c", "__remove_mapping", "6.6", leaves_out=blockfs.INODE_LRU),
        Cite("mm/filemap.c", "filemap_release_folio", "6.6"),
    ),
)
def reclaim(op: Op, file: File, index: int) -> None:
    """kswapd reclaiming the file's folio at ``index`` (isolated from the
    LRU if it is cached): trylock; under writeback it is activated; mapped,
    it is unmapped (``try_to_unmap()``: the rmap walk under
    ``i_mmap_rwsem`` shared, a dirty pte dirtying the folio); dirty,
    it is cleaned by ``pageout()`` through ``->writepage`` (for_reclaim);
    clean, its buffers are released (``->release_folio``) and it is removed
    from the mapping under xa_lock after a last PG_dirty check (the folio
    locked: ``BUG_ON(!folio_test_locked(folio))``), then freed
    (``->free_folio``), unless ``folio_ref_freeze()`` finds a reference
    besides the reclaimer's (a thread's folio register, as a writer's
    between ``write_begin`` and ``write_end``, or a pte).  Left out: the
    references of a batch (``filemap_get_folios_tag()`` of the flusher or
    of ``fdatawait``), which a folio register does not hold: the model
    removes such a folio, which the kernel keeps."""
    op.world.refs_counted = True
    op.holds_no_file()
    mapping = op.mapping(file)
    page = mapping.page(index)
    dirty = locked_test(page, PG_DIRTY, "dirty")
    ref = find_folio(op, page, "isolate_lru_folios(): folio = lru_to_folio(src)")
    op.fail_if(not_(ref.found), 0, "out", "if (!folio) /* no folio to isolate */")
    op.trylock(ref.lock, "out", "if (!folio_trylock(folio)) goto keep")
    op.fail_if(
        not_(ref.mapped),
        0,
        "keep_locked",
        "mapping = folio_mapping(folio); if (!mapping) goto keep_locked",
    )
    op.fail_if(
        folio_test(page, PG_WRITEBACK, "writeback"),
        0,
        "keep_locked",
        "if (folio_test_writeback(folio)) { folio_set_reclaim(folio); goto activate_locked; }",
    )
    unmap_folio(op, mapping, page, "if (folio_mapped(folio)) try_to_unmap(folio, flags)")
    with op.when(dirty, "if (folio_test_dirty(folio)) switch (pageout(folio, mapping, &plug))"):
        pageout(op, mapping, page)
    op.label("clean")
    with op.when(
        locked_test(page, PG_PRIVATE, "private"),
        "if (folio_needs_release(folio)) filemap_release_folio(folio, sc->gfp_mask)",
    ):
        op.call(
            "address_space_operations.release_folio",
            blockfs.release_folio_method,
            page,
            label="return mapping->a_ops->release_folio(folio, gfp)",
            roles={"folio": folio_ref(op, page)},
        )
        op.fail_if(same(op.ret, OK), 0, "keep_locked", "if (!...) goto activate_locked")
    op.assert_held(
        ref.lock, "__remove_mapping(): BUG_ON(!folio_test_locked(folio)) /* locked by its caller */"
    )
    op.section(
        mapping.xa_lock,
        "__remove_mapping(): xa_lock_irq(&mapping->i_pages); folio_ref_freeze(); "
        "if (folio_test_dirty(folio)) goto cannot_free; __filemap_remove_folio(folio, shadow)",
        _remove_if_clean,
        page,
        True,
        result=op.thread.ret,
    )
    op.fail_if(
        not_(same(op.ret, OK)), 0, "keep_locked", "if (!__remove_mapping(...)) goto keep_locked"
    )
    free_folio(op, page)
    op.unlock(ref.lock, "folio_unlock(folio) /* removed */")
    op.goto("out")
    op.label("keep_locked")
    op.unlock(ref.lock, "keep_locked: folio_unlock(folio)")
    op.label("out")
    put_folio(op, ref)


def free_folio(op: Op, page: Page) -> None:
    """``filemap_free_folio()``: the filesystem's ``->free_folio`` on the
    removed folio, still locked."""
    op.call(
        "address_space_operations.free_folio",
        blockfs.free_folio_method,
        page,
        label="free_folio(folio) /* mapping->a_ops->free_folio */",
        roles={"folio": folio_ref(op, page)},
        sleeps=False,
    )


def _remove_if_clean(scratch: Scratch, page: Page, freeze: bool = False) -> int:
    """The folio leaves the page cache unless it is dirty (1); ``freeze``:
    as ``__remove_mapping()``, also unless ``folio_ref_freeze()`` fails, a
    reference besides the remover's being held (a thread's folio register,
    a pte).  ``invalidate_complete_folio2()`` freezes nothing.  Neither
    tests PG_writeback (mm/vmscan.c, mm/truncate.c, 6.6): their callers
    do, ``shrink_folio_list()`` before it unmaps and again after
    ``pageout()`` relocks, ``invalidate_inode_pages2_range()`` by
    ``folio_wait_writeback()``; a folio removed under writeback is
    ``dirty-coherent``'s to report."""
    folio = scratch[page.folio]
    if folio is None or folio[1] & PG_DIRTY:
        return 1
    if freeze and references(scratch, page, scratch[page.ident]) > 1:
        return 1
    remove_folio(scratch, page)
    return 0


def pageout(op: Op, mapping: Mapping, page: Page) -> None:
    """``pageout()``: clean the folio for I/O and call ``->writepage`` with
    ``wbc->for_reclaim``; ACTIVATE keeps it (locked); otherwise the folio
    was unlocked by ``->writepage`` and shrink_folio_list() frees it only if
    a new trylock finds it clean and idle.  Jumps to ``clean`` to free it,
    ``keep_locked`` or ``out`` to keep it."""
    clear_dirty_for_io(
        op, mapping, page, "if (folio_clear_dirty_for_io(folio)) /* pageout() */", _mkclean(op)
    )
    op.enter(
        "address_space_operations.writepage",
        page,
        label="folio_set_reclaim(folio); res = mapping->a_ops->writepage(&folio->page, &wbc)",
        roles={
            "folio": folio_ref(op, page),
            "mapping": mapping,
            "wbc": "WB_SYNC_NONE, for_reclaim",
        },
    )
    blockfs.writepage(op, mapping, page, for_reclaim=True)
    op.fail_if(
        same(op.ret, ACTIVATE),
        0,
        "keep_locked",
        "if (res == AOP_WRITEPAGE_ACTIVATE) { folio_clear_reclaim(folio); return PAGE_ACTIVATE; }",
    )
    op.fail_if(
        _dirty_or_writeback(page),
        0,
        "out",
        "case PAGE_SUCCESS: if (folio_test_writeback(folio) || folio_test_dirty(folio)) goto keep",
    )
    op.trylock(folio_ref(op, page).lock, "out", "if (!folio_trylock(folio)) goto keep")
    op.fail_if(
        not_(folio_ref(op, page).mapped),
        0,
        "keep_locked",
        "mapping = folio_mapping(folio); ... if (!mapping || !__remove_mapping(mapping, folio, "
        "...)) goto keep_locked /* truncated meanwhile: tested at the relock */",
    )
    op.fail_if(
        _dirty_or_writeback(page),
        0,
        "keep_locked",
        "if (folio_test_dirty(folio) || folio_test_writeback(folio)) goto keep_locked",
    )
    op.goto("clean")


def _dirty_or_writeback(page: Page) -> Expr:
    return any_of(folio_test(page, PG_DIRTY, "dirty"), folio_test(page, PG_WRITEBACK, "writeback"))


# --- read ----------------------------------------------------------------------


def readahead_page(op: Op, mapping: Mapping, page: Page, at: str) -> None:
    """``page_cache_ra_unbounded()`` for one page: under invalidate_lock
    shared, a folio that is not cached is added locked and read through
    ``->readahead`` (the read unlocks it when it completes)."""
    op.lock(
        mapping.invalidate_lock,
        SHARED,
        "page_cache_ra_unbounded(): filemap_invalidate_lock_shared(mapping)",
        tag="invalidate-lock",
    )
    with op.when(
        not_(present(page)),
        "folio = xa_load(&mapping->i_pages, index+i); if (folio) { read_pages(); continue; }",
        label_negates=True,
    ):
        ref, added = new_folio(
            op,
            mapping,
            page,
            "folio = filemap_alloc_folio(gfp_mask, 0); __folio_set_locked(folio); "
            "if (filemap_add_folio(mapping, folio, index+i, gfp_mask) < 0) "
            "{ folio_put(folio); continue; }",
        )
        with op.when(added, "read_pages(ractl)"):
            op.enter(
                "address_space_operations.readahead",
                page,
                label="read_pages(): aops->readahead(rac)",
                roles={"mapping": mapping, "folio": ref},
            )
            blockfs.readahead(op, mapping, page)
        put_folio(op, ref, "folio_put(folio) /* the read holds it; -EEXIST: never seen */")
    op.unlock(
        mapping.invalidate_lock,
        "filemap_invalidate_unlock_shared(mapping)",
        tag="invalidate-lock",
    )


def filemap_get_pages(op: Op, mapping: Mapping, page: Page, at: str) -> None:
    """``filemap_get_pages()`` for one page, until its folio is uptodate: a
    missing folio is read ahead (``page_cache_sync_ra()``), one not uptodate
    is read by ``filemap_update_page()`` -> ``->read_folio``, both under
    invalidate_lock shared, waiting for the I/O to unlock it; a folio locked
    by someone else is waited for and the lookup retried
    (``AOP_TRUNCATED_PAGE``).  ``at`` tells apart the labels and registers
    of several calls in one program."""
    retry, busy = f"retry{at}", f"busy{at}"
    op.label(retry)
    ref = find_folio(op, page, "filemap_get_read_batch(mapping, index, last_index - 1, fbatch)")
    with op.when(
        not_(ref.found),
        "if (!folio_batch_count(fbatch)) page_cache_sync_ra(&ractl, last_index - index)",
    ):
        readahead_page(op, mapping, page, at)
        op.goto(retry)
    with op.when(
        not_(folio_test(page, PG_UPTODATE, "uptodate")), "if (!folio_test_uptodate(folio))"
    ):
        op.lock(
            mapping.invalidate_lock,
            SHARED,
            "filemap_update_page(): filemap_invalidate_lock_shared(mapping)",
            tag="invalidate-lock",
        )
        op.trylock(ref.lock, busy, "if (!folio_trylock(folio))")
        with op.when(ref.mapped, "if (!folio->mapping) goto truncated", label_negates=True):
            with op.when(
                locked_test(page, PG_UPTODATE, "uptodate"), "if (filemap_range_uptodate(...))"
            ):
                op.unlock(ref.lock, "folio_unlock(folio)")
            with op.otherwise():
                op.enter(
                    "address_space_operations.read_folio",
                    page,
                    label="filemap_read_folio(): error = filler(file, folio) "
                    "/* a_ops->read_folio */",
                    roles={"folio": ref, "mapping": mapping},
                )
                blockfs.read_folio(op, mapping, page)
                op.run(wait_locked, ref)
        with op.otherwise():
            op.unlock(ref.lock, "truncated: folio_unlock(folio)")
        op.unlock(
            mapping.invalidate_lock,
            "filemap_invalidate_unlock_shared(mapping)",
            tag="invalidate-lock",
        )
        op.goto(retry)
        op.label(busy)
        op.unlock(
            mapping.invalidate_lock,
            "filemap_invalidate_unlock_shared(mapping)",
            tag="invalidate-lock",
        )
        op.wait_until(
            ref.unlocked,
            "folio_put_wait_locked(folio, TASK_KILLABLE); return AOP_TRUNCATED_PAGE",
            f"PG_locked({page})",
            ref.holders,
        )
        op.goto(retry)


@operation(
    models="filemap_read() -> filemap_get_pages() (mm/filemap.c)",
    describe=lambda f, i: f"read({f}, page {i})",
    cites=(
        Cite("mm/filemap.c", "filemap_read", "6.6"),
        Cite("mm/filemap.c", "filemap_get_pages", "6.6"),
        Cite("mm/filemap.c", "filemap_update_page", "6.6"),
        Cite("mm/filemap.c", "filemap_read_folio", "6.6"),
        Cite("mm/readahead.c", "page_cache_sync_ra", "6.6"),
        Cite("mm/readahead.c", "page_cache_ra_unbounded", "6.6"),
    ),
)
def read(op: Op, file: File, index: int) -> None:
    """read(2) of page ``index``: a cached uptodate folio is copied without
    locks; a missing one is read ahead (``page_cache_sync_ra()`` ->
    ``->readahead``) under invalidate_lock shared; one that is not uptodate
    is read by ``filemap_update_page()`` -> ``->read_folio``, waiting for the
    I/O to unlock it.  The data read goes to register ``data``.  A read
    from EOF on reads nothing: ``filemap_read()`` tests ``iocb->ki_pos >=
    i_size_read(inode)`` before it looks the page up and again once it
    holds it uptodate (a truncate may have shrunk the file meanwhile), and
    then copies nothing.  The copy reads the folio cached at the index when
    it runs, where the kernel's ``filemap_read()`` copies from the folio
    of its batch even if a truncate or punch removed it meanwhile: the
    model never returns data from a removed folio (a read racing a
    truncate down, then up, may in the kernel)."""
    mapping = op.mapping(file)
    page = mapping.page(index)
    before = fork_compute(
        op,
        "past_eof",
        "filemap_read(): if (unlikely(iocb->ki_pos >= i_size_read(inode))) break",
        blockfs.past_eof,
        mapping,
        page,
    )
    op.goto_if(is_true(before), "out", "if (ki_pos >= i_size) /* nothing to read */")
    filemap_get_pages(op, mapping, page, "")
    after = fork_compute(
        op,
        "past_eof_now",
        "isize = i_size_read(inode); if (unlikely(iocb->ki_pos >= isize)) goto put_folios",
        blockfs.past_eof,
        mapping,
        page,
    )
    with op.when(not_(is_true(after)), "if (ki_pos < isize) /* not truncated meanwhile */"):
        op.compute(
            "data",
            "copied = copy_folio_to_iter(folio, offset, bytes, iter)",
            _data_of,
            page,
            render=render_version,
        )
    put_folio(op, folio_ref(op, page))
    op.label("out")


def _data_of(scratch: Scratch, page: Page) -> int | None:
    folio = scratch[page.folio]
    return None if folio is None else folio[0]


# --- invalidation --------------------------------------------------------------


@operation(
    models="invalidate_inode_pages2_range() -> invalidate_complete_folio2() (mm/truncate.c)",
    describe=lambda f, i: f"invalidate({f}, page {i})",
    cites=(
        Cite("mm/truncate.c", "invalidate_inode_pages2_range", "6.6"),
        Cite("mm/memory.c", "unmap_mapping_folio", "6.6"),
        Cite("mm/truncate.c", "invalidate_complete_folio2", "6.6", leaves_out=blockfs.INODE_LRU),
        Cite("mm/filemap.c", "filemap_release_folio", "6.6"),
    ),
)
def invalidate(op: Op, file: File, index: int) -> None:
    """``invalidate_inode_pages2_range()`` on page ``index`` (what a direct
    I/O write does to the cache): lock the folio, wait for writeback,
    unmap it where it is mapped (``unmap_mapping_folio()``: a dirty pte
    dirties the folio), ``->launder_folio`` a dirty folio,
    ``->release_folio`` its buffers and remove it unless it was redirtied
    meanwhile (-EBUSY).  Left out: the zap of the whole range before the
    first mapped folio is locked (``unmap_mapping_pages()``), which the
    unmap under the folio lock repeats for a folio still mapped, and
    ``filemap_release_folio()``'s ``folio_needs_release()`` test (the
    model calls ``->release_folio`` whatever the folio's buffers).  Variant
    ``invalidate-skips-unmap`` removes a mapped folio with its ptes left."""
    mapping = op.mapping(file)
    page = mapping.page(index)
    ref = find_folio(op, page, "find_get_entries(mapping, &index, end, &fbatch, indices)")
    op.fail_if(not_(ref.found), 0, "out", "if (!folio) /* none */")
    op.lock(ref.lock, label="folio_lock(folio)")
    op.fail_if(not_(ref.mapped), 0, "unlock", "if (folio->mapping != mapping) continue")
    if not op.variant(INVALIDATE_SKIPS_WRITEBACK_WAIT):
        op.run(wait_writeback, page)
    if not op.variant(INVALIDATE_SKIPS_UNMAP):
        unmap_folio(
            op,
            mapping,
            page,
            "if (folio_mapped(folio)) unmap_mapping_folio(folio)",
            "unmap_mapping_folio(): i_mmap_lock_read(mapping)",
            "zap_page_range_single(): ptep_get_and_clear_full(); "
            "if (pte_dirty(ptent)) folio_mark_dirty(folio)",
        )
    with op.when(
        locked_test(page, PG_DIRTY, "dirty"),
        "do_launder_folio(): if (folio_test_dirty(folio) && mapping->a_ops->launder_folio)",
    ):
        op.enter(
            "address_space_operations.launder_folio",
            page,
            label="return mapping->a_ops->launder_folio(folio)",
            roles={"folio": folio_ref(op, page)},
        )
        blockfs.launder_folio(op, mapping, page)
    op.call(
        "address_space_operations.release_folio",
        blockfs.release_folio_method,
        page,
        label="if (!filemap_release_folio(folio, gfp)) return -EBUSY",
        roles={"folio": folio_ref(op, page)},
    )
    op.section(
        mapping.xa_lock,
        "xa_lock_irq(&mapping->i_pages); if (folio_test_dirty(folio)) goto failed; "
        "__filemap_remove_folio(folio, NULL)",
        _remove_if_clean,
        page,
        result=op.thread.ret,
    )
    with op.when(same(op.ret, OK), "if (removed)"):
        free_folio(op, page)
    op.label("unlock")
    op.unlock(ref.lock, "folio_unlock(folio)")
    op.label("out")
    put_folio(op, ref)


# --- the device ----------------------------------------------------------------


def _complete(scratch: Scratch, bio: Bio) -> int:
    complete(scratch, bio)
    return 0


def _render_bio(bio: Bio | None) -> str:
    return "none (every task returned)" if bio is None else str(bio)


def _bio_is(bio: Expr, end_io: str) -> Expr:
    def build(world: World) -> Eval:
        get = bio.compile(world)
        return lambda s: get(s) is not None and get(s).end_io == end_io

    return Expr(f"{bio}->bi_end_io == {end_io}", build, bio.local)


def _bio_is_write(bio: Expr) -> Expr:
    def build(world: World) -> Eval:
        get = bio.compile(world)
        return lambda s: get(s) is not None and get(s).op == WRITE

    return Expr(f"bio_op({bio}) == REQ_OP_WRITE", build, bio.local)


def _bio_mapping_lock(bio: Expr) -> LockExpr:
    """The ``i_pages`` lock of the mapping a page-cache bio writes."""

    def build(world: World) -> Callable[[State], Lock | None]:
        get = bio.compile(world)
        part = pagecache(world)

        def lock(state: State) -> Lock | None:
            value = get(state)
            return None if value is None else part.mappings[value.ino].xa_lock

        return lock

    return LockExpr(f"{bio}->mapping->i_pages", "xa_lock", build, local=bio.local)


def next_completion(op: Op, bios: Expr, render: Callable[..., str]) -> Expr:
    """The head of a completion interrupt's loop: at label ``next``, the
    next bio the device completes among ``bios`` (an expression giving the
    bios in flight, or None once every other thread returned and nothing is
    in flight), to label ``out`` when it is None, else the interrupt
    raised (``op.interrupt``).  The caller handles the bio, returns from
    the interrupt, goes to ``next`` and places ``out``."""
    op.label("next")
    bio = op.choose(
        "bio",
        bios,
        "bio = the next bio the device completes",
        render,
        "a bio in flight, or every other thread's return",
    )
    with op.when(same(bio, const(None, "NULL")), "if (!bio) /* idle */"):
        op.goto("out")
    op.interrupt("the device raises its completion interrupt: irq_enter()")
    return bio


@operation(
    models="bio_endio() -> bio->bi_end_io: end_bio_bh_io_sync() -> bh->b_end_io (block/bio.c, "
    "fs/buffer.c)",
    describe=lambda f: "io_completion()",
    cites=(
        Cite("block/bio.c", "bio_endio", "6.6", leaves_out=("bio.bi_end_io",)),
        Cite("fs/buffer.c", "end_bio_bh_io_sync", "6.6", method="bio.bi_end_io"),
        Cite(
            "fs/buffer.c",
            "end_buffer_async_write",
            "6.6",
            leaves_out=("spin_lock_irqsave", "spin_unlock_irqrestore"),
            because="first->b_uptodate_lock, a leaf lock taken in the interrupt, keeps the "
            "async-write bits of a folio's buffers whole; the model's folios have one buffer",
        ),
        Cite("mm/filemap.c", "folio_end_writeback", "6.6"),
        Cite("mm/page-writeback.c", "__folio_end_writeback", "6.6"),
    ),
)
def io_completion(op: Op, file: File) -> None:
    """The device's completion interrupt: it completes the bios in flight
    in any order, running each one's handler in interrupt context
    (``op.interrupt``: on an idle CPU or on the CPU of a thread that has
    interrupts enabled, which waits until it returns), and returns once
    every other thread has and nothing is in flight.  It holds ``hardirq``
    throughout, so sleeping there is a lock-protocol error.

    A write's handler ends writeback as ``__folio_end_writeback()`` does
    (Linux 6.6, mm/page-writeback.c): under ``xa_lock_irqsave(&mapping->
    i_pages)`` it clears PG_writeback and the WRITEBACK mark.  Left out:
    the writeback accounting and ``sb_clear_inode_writeback()`` under that
    lock, and the wake-up of ``folio_end_writeback()`` (waiters poll
    PG_writeback); a bio's handlers run back to back in one interrupt."""
    op.holds_no_file()
    op.one_thread(
        "completes",
        "the device's I/O",
        "a scenario has one io_completion thread, which completes every bio in flight",
    )
    op.mapping(file)
    op.completes_io()
    part = pagecache(op.world)
    part.irq_thread = op.thread.tid
    hardirq = op.world.add_lock("hardirq", Kind.SPINLOCK)
    op.world.initial[hardirq.slot] = op.thread.tid
    bio = next_completion(op, completions(op.thread.tid), _render_bio)
    if "dio" in op.world.parts:
        with op.when(_bio_is(bio, DIO_END_IO), "if (bio->bi_end_io == iomap_dio_bio_end_io)"):
            op.effect(
                "bio_endio(bio): iomap_dio_bio_end_io(bio): if (atomic_dec_and_test(&dio->ref)) "
                "queue_work(inode->i_sb->s_dio_done_wq, &dio->aio.work)",
                _complete,
                bio,
            )
            op.goto("handled")
    with op.when(_bio_is(bio, blockfs.MPAGE_END_IO), "if (bio->bi_end_io == mpage_read_end_io)"):
        op.effect(
            "bio_endio(bio): bio->bi_end_io(bio) "
            "/* mpage_read_end_io(): folio_mark_uptodate(); folio_unlock() */",
            _complete,
            bio,
        )
        op.goto("handled")
    with op.when(_bio_is_write(bio), "if (op_is_write(bio_op(bio)))"):
        op.section(
            _bio_mapping_lock(bio),
            "end_bio_bh_io_sync(bio): bh->b_end_io(bh, uptodate) /* end_buffer_async_write() */: "
            "folio_end_writeback(folio): __folio_end_writeback(folio): "
            "xa_lock_irqsave(&mapping->i_pages, flags); folio_test_clear_writeback(folio); "
            "__xa_clear_mark(&mapping->i_pages, index, PAGECACHE_TAG_WRITEBACK); "
            "xa_unlock_irqrestore(&mapping->i_pages, flags)",
            _complete,
            bio,
            irq=True,
        )
    with op.otherwise():
        op.call(
            "buffer_head.b_end_io",
            _complete,
            bio,
            label="end_bio_bh_io_sync(bio): bh->b_end_io(bh, uptodate) "
            "/* end_buffer_async_read(): folio_mark_uptodate(); folio_unlock() */",
            roles={"bh": bio},
            sleeps=False,
        )
    op.label("handled")
    op.interrupt_return("irq_exit()")
    op.goto("next")
    op.label("out")
    op.unlock(hardirq, "local_irq_enable() /* the device is done */")
