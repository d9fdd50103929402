"""Direct I/O writes in the iomap shape, with ext4's locking (Linux 6.6:
fs/ext4/file.c ``ext4_dio_write_iter()``, ``ext4_dio_write_checks()``;
fs/iomap/direct-io.c ``__iomap_dio_rw()``, ``iomap_dio_bio_end_io()``,
``iomap_dio_complete_work()``, ``iomap_dio_complete()``, read again in the
torvalds/linux tree as stored, commit 001397f5; mm/filemap.c
``kiocb_invalidate_pages()``, ``kiocb_invalidate_post_direct_write()``;
fs/inode.c ``inode_dio_wait()``, include/linux/fs.h ``inode_dio_begin()`` /
``inode_dio_end()``):

- ``dio_write``: O_DIRECT write(2) of one whole page: ``vfs_write()``'s
  ``file_start_write()`` (an io_submit(2): ``aio_write()``'s
  ``kiocb_start_write()``, whose freeze protection the completion ends in
  ``aio_complete_rw()`` -> ``kiocb_end_write()``), ``->write_iter``, i_rwsem
  exclusive when an unlocked look at i_size says the write extends the file,
  else shared, upgraded (``goto restart``) when under the lock it extends
  after all or is no overwrite (``!ext4_overwrite_io()``: its page is a
  hole the write must allocate), whether it extends looked at again under
  the exclusive lock (a truncate between the two locks may make it),
  ``kiocb_invalidate_pages()`` (``filemap_write_and_wait_range()`` then
  ``invalidate_inode_pages2_range()``, of the written page alone),
  ``inode_dio_begin()``, the block
  mapped (``ext4_iomap_begin()`` allocates one for a hole) and the bio
  submitted; an AIO (``io_submit``) returns -EIOCBQUEUED and unlocks, and
  ``dio_worker`` completes it; a synchronous or extending write waits and
  completes it itself;
- ``dio_worker``: the ``s_dio_done_wq`` work ``iomap_dio_complete_work()``
  that ``iomap_dio_bio_end_io()`` queues once the bio is done:
  ``iomap_dio_complete()``: ``->end_io``, then
  ``kiocb_invalidate_post_direct_write()`` and ``inode_dio_end()``;
- ``read_after_dio``: a buffered read(2) of the page begun once the direct
  write has completed.

Read: fs/iomap/direct-io.c of torvalds/linux as stored (commit 001397f5,
after 6.18): ``__iomap_dio_rw()`` writes back and invalidates
(``kiocb_invalidate_pages()``) before ``inode_dio_begin()``, and
``iomap_dio_complete()`` runs ``->end_io``, then
``kiocb_invalidate_post_direct_write()``, then ``inode_dio_end()``, as 6.6
does (6.6 has no ``IOMAP_DIO_NO_INVALIDATE``, no ``iomap_dio_done()``: its
``iomap_dio_bio_end_io()`` queues the work itself).  ``vfs_write()`` and
``aio_write()`` (fs/aio.c, a 6.6-era copy in the search index) take the
freeze protection before ``->write_iter`` (``file_start_write()``,
``kiocb_start_write()``) and ``aio_complete_rw()`` ends it
(``kiocb_end_write()``): the model had none.  fs/ext4/file.c (a 6.6-era copy in the search index):
``ext4_dio_write_iter()`` decides shared or exclusive from ``offset + count >
i_size_read(inode)`` before taking i_rwsem (the model always took it shared
first), and ``ext4_dio_write_end_io()`` raises i_size in ``->end_io``, before
the post-write invalidation (the model did it after ``inode_dio_end()``).

Where the model differs from the kernel (a review against 6.1.y-6.17
trees):

- an invalidation that fails (a folio redirtied since the writeback) is
  laundered through blockfs's ``->launder_folio`` and the direct write goes
  on, where ext4 has no ``->launder_folio``: ``__iomap_dio_rw()`` returns
  ``-ENOTBLK`` and ``ext4_dio_write_iter()`` falls back to a buffered
  write after dropping i_rwsem;
- ext4's journal handles (``ext4_iomap_alloc()``'s, the orphan list of an
  extending write), ``s_writepages_rwsem``, unwritten extents and their
  conversion at ``->end_io`` are left out; later trees' ``->end_io`` runs
  ``ext4_handle_inode_extension()`` (a handle) where the model sets i_size;
- the write's ``iocb->ki_complete`` is marked in ``dio_complete`` while
  i_rwsem is held; a synchronous write returns, and a waited AIO
  completes (``aio_rw_done()``), only after ``inode_unlock()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mc.dsl import EXCL, SHARED, Cite, Op, flag_variant, invariant, operation
from mc.dsl.folio import folio_ref, io_completer, put_folio
from mc.dsl.symbolic_steps import fork_compute, fork_effect
from mc.kernel.device import DIO_END_IO, WRITE, Bio, device_of, render_version, submit
from mc.kernel.dio import (
    COMPLETED,
    ENDED,
    FAILED,
    QUEUED,
    WAITED,
    DirectIo,
    DirectWrite,
    ReadAfter,
    bio_in_flight,
    dio_count,
    direct_io,
    ends_dio,
    render_stage,
)
from mc.kernel.errno import EFAULT, ENOSPC
from mc.kernel.expr import Eval, Expr, State, all_of, any_of, is_error, not_
from mc.kernel.mm import VM_FAULT_SIGBUS
from mc.kernel.pagecache import (
    PAGE_SIZE,
    PG_UPTODATE,
    File,
    Mapping,
    Page,
    PageCache,
    get_block,
    pagecache,
)
from mc.kernel.pagedata import runs_of
from mc.kernel.pathcond import decide, is_true, larger, less, mul
from mc.kernel.superblock import SB_FREEZE_WRITE, sb_writers
from mc.kernel.truncate_properties import truncation
from mc.kernel.world import LOCK_PROTOCOL, ModelError, Scratch, World
from mc.models.fault import access_page, vm_fault_is
from mc.models.truncate import mapped_whole
from mc.models.writeback import do_writepages, fdatawait, filemap_get_pages, invalidate, read

NO_POST_INVALIDATE = "dio-no-post-invalidate"
DIO_HOLDS_INVALIDATE_LOCK = "dio-holds-invalidate-lock"

flag_variant(
    DIO_HOLDS_INVALIDATE_LOCK,
    "the direct write holds invalidate_lock exclusive from before its writeback and "
    "invalidation to its end, to keep faults from bringing pages back over the range: a "
    "direct write whose buffer is mapped from the same file then faults on its own source "
    "under the lock the fault takes (the deadlock class of btrfs's 'fix deadlock due to "
    "page faults during direct IO reads and writes', 2021, for its own locks)",
)

flag_variant(
    NO_POST_INVALIDATE,
    "iomap_dio_complete() does not invalidate the page cache over the written range after "
    "the I/O (no kiocb_invalidate_post_direct_write()): a folio read in while the bio was in "
    "flight keeps the old data",
)


def _extends(scratch: Scratch, mapping: Mapping, page: Page) -> bool:
    return decide(scratch, less(scratch[mapping.i_size], mul(page.index + 1, PAGE_SIZE)))


def _hole(page: Page) -> Expr:
    """The page has no block: a write there must allocate one."""
    return Expr(f"!i_block({page})", lambda _world: lambda state: state[page.block] is None)


def _begin(scratch: Scratch, slot: int) -> None:
    scratch[slot] = scratch[slot] + 1


def _end(scratch: Scratch, slot: int) -> None:
    """``inode_dio_end()``: ``i_dio_count`` drops; below zero, an end
    without its ``inode_dio_begin()``, is a lock-protocol error (the
    count is what ``inode_dio_wait()`` waits on, as a lock)."""
    scratch[slot] = scratch[slot] - 1
    if scratch[slot] < 0:
        scratch.violate(
            LOCK_PROTOCOL,
            "inode_dio_end() drops i_dio_count below zero: a direct I/O ended that "
            "inode_dio_begin() never counted",
        )


def _failed(scratch: Scratch, count: int, stage: int) -> None:
    _end(scratch, count)
    scratch[stage] = FAILED


def _submit(scratch: Scratch, page: Page, version: int, stage: int, waits: bool) -> int:
    """``iomap_dio_bio_iter()``: one bio of the page's block; the dio
    records whether its submitter waits for it (``dio->wait_for_completion``)."""
    device = device_of(scratch.world)
    bio = Bio(WRITE, scratch[page.block], page.ino, page.index, page.path, version, DIO_END_IO)
    submit(scratch.values, device, bio)
    scratch[stage] = WAITED if waits else QUEUED
    return 0


def _done(write: DirectWrite) -> Expr:
    """The dio's last reference is gone: its bio completed."""

    def build(world: World) -> Eval:
        bios = device_of(world).bios
        return lambda state: (
            state[write.stage] in (QUEUED, WAITED) and not bio_in_flight(state, bios, write)
        )

    return Expr(f"dio->ref == 0 /* bio of {write.page} done */", build)


def _extend(scratch: Scratch, mapping: Mapping, page: Page) -> None:
    scratch[mapping.i_size] = larger(scratch, scratch[mapping.i_size], (page.index + 1) * PAGE_SIZE)


def dio_complete(op: Op, file: File, write: DirectWrite, mapping: Mapping) -> None:
    """``iomap_dio_complete()``: ``->end_io`` (``ext4_dio_write_end_io()``:
    an extending write's new i_size, before the invalidation; i_rwsem held
    for writing there, as ``ext4_handle_inode_extension()`` of later trees
    asserts with ``lockdep_assert_held_write()`` and 6.6's comment says: "we
    perform all extending writes synchronously under i_rwsem held
    exclusively so i_size update is safe here"),
    ``kiocb_invalidate_post_direct_write()`` over the range, then
    ``inode_dio_end()``; the caller is told (``ki_complete``)."""
    truncation(op.world).extenders.add(op.thread.name)
    raises = fork_compute(
        op,
        "raises_i_size",
        "dops->end_io(iocb, dio->size, ret, dio->flags) = ext4_dio_write_end_io(): pos += size; "
        "if (pos > i_size_read(inode))",
        _extends,
        mapping,
        write.page,
    )
    with op.when(is_true(raises), "if (pos > i_size_read(inode))"):
        op.assert_held(
            op.inode(file.path).i_rwsem,
            "ext4_handle_inode_extension(): lockdep_assert_held_write(&inode->i_rwsem)",
            mode=EXCL,
        )
        fork_effect(op, "i_size_write(inode, pos)", _extend, mapping, write.page)
    if not op.variant(NO_POST_INVALIDATE):
        op.run(invalidate, file, write.page.index)
    ends_dio(op.world, mapping, op.thread.tid)
    op.effect(
        "inode_dio_end(file_inode(iocb->ki_filp)): if (atomic_dec_and_test(&inode->i_dio_count)) "
        "wake_up_bit(&inode->i_state, __I_DIO_WAKEUP)",
        _end,
        dio_count(op.world, mapping),
    )
    op.effect(
        "iocb->ki_complete(iocb, ret) /* the direct write completed */",
        lambda scratch, slot: scratch.__setitem__(slot, COMPLETED),
        write.stage,
    )


def aio_end_write(op: Op) -> None:
    """``aio_complete_rw()`` -> ``kiocb_end_write()``: the freeze
    protection ``kiocb_start_write()`` took at submission (and handed to the
    completion with ``__sb_writers_release()``) is taken over and ended."""
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.take_over(
        writers,
        "aio_complete_rw(): kiocb_end_write(iocb): __sb_writers_acquired(inode->i_sb, "
        "SB_FREEZE_WRITE)",
    )
    op.unlock(writers, "sb_end_write(inode->i_sb)")


def _unworked_aio(world: World) -> str:
    """The AIO direct writes of the scenario no ``dio_worker`` completes:
    their completion would never run (``i_dio_count`` never drops, the
    freeze level stays held), so a check would pass over them."""
    return "; ".join(
        f"no dio_worker completes {write.thread}'s AIO direct write of {write.page}: add "
        f"dio_worker(F, {write.page.index}) after it, F the File of {write.page.path}"
        for write in direct_io(world).unworked()
    )


def _uncompleted_bios(world: World) -> str:
    """What a scenario with direct writes lacks when no thread completes
    their bios (``io_completion``): the writes would wait for them forever,
    a deadlock of the scenario rather than of the protocol."""
    if pagecache(world).irq_thread is not None:
        return ""
    paths = sorted({write.page.path for write in direct_io(world).writes})
    return (
        f"the direct writes of {', '.join(paths)} submit bios that no thread completes: add "
        f"io_completion(F) to the threads (from mc.models.writeback import io_completion), "
        f"F the File written"
    )


@operation(
    models="ext4_dio_write_iter() -> iomap_dio_rw() -> __iomap_dio_rw() (fs/ext4/file.c, "
    "fs/iomap/direct-io.c)",
    describe=lambda f, index, aio: (
        f"{'io_submit' if aio else 'pwrite'}(O_DIRECT {f}, page {index})"
    ),
    cites=(
        Cite("fs/read_write.c", "vfs_write", "6.6"),
        Cite("fs/aio.c", "aio_write", "6.6"),
        Cite("fs/ext4/file.c", "ext4_file_write_iter", "6.6", method="file_operations.write_iter"),
        Cite("fs/ext4/file.c", "ext4_dio_write_iter", "6.6"),
        Cite("fs/ext4/file.c", "ext4_dio_write_checks", "6.6"),
        Cite("fs/iomap/direct-io.c", "__iomap_dio_rw", "001397f5"),
        Cite("mm/filemap.c", "kiocb_invalidate_pages", "6.6"),
        Cite("mm/filemap.c", "filemap_write_and_wait_range", "6.6"),
        Cite("mm/truncate.c", "invalidate_inode_pages2_range", "6.6"),
        Cite("fs/ext4/inode.c", "ext4_iomap_begin", "6.6"),
        Cite("fs/iomap/direct-io.c", "iomap_dio_bio_iter", "001397f5"),
        Cite("fs/iomap/direct-io.c", "iomap_dio_complete", "001397f5"),
    ),
)
def dio_write(op: Op, file: File, index: int, aio: bool) -> None:
    """An O_DIRECT write of page ``index``, whole and aligned; ``aio``: an
    io_submit(2) whose completion ``dio_worker`` runs.  The user buffer is
    anonymous memory that is present (``bio_iov_iter_get_pages()`` pins
    it without a fault); ``dio_write_from_mapping`` writes from a mapping
    of the file.  Left out: the
    submitter completing the I/O itself when the bio ends before it drops
    its reference (``__iomap_dio_rw()``'s last ``atomic_dec_and_test(&dio->ref)``,
    then ``iomap_dio_complete()`` under i_rwsem: lock classes the
    synchronous write takes in that order too), and ``ext4_dio_write_checks()``'s
    upgrade to i_rwsem exclusive for an overwrite of an inode not yet
    S_NOSEC (the model's inode is S_NOSEC: only extending writes and
    holes take it exclusive), and its ``file_modified()`` (the new mtime
    under i_rwsem and freeze protection, which ``no-write-while-frozen``
    would see as the write's own data change does)."""
    _dio_write(op, file, index, aio)


def _dio_write(op: Op, file: File, index: int, aio: bool, source: int | None = None) -> None:
    """``dio_write``, from byte ``source`` of the process's mapping of
    ``file`` when given (``dio_write_from_mapping``)."""
    mapping = op.mapping(file)
    page = mapping.page(index)
    inode = op.inode(file.path)
    part = direct_io(op.world)
    stage = op.world.add_slot(f"dio({op.thread.name})", None, render_stage)
    version = pagecache(op.world).add_write(
        op.thread.name, op.thread.pc, page, completed=(stage, COMPLETED)
    )
    write = DirectWrite(op.thread.name, page, version, stage, aio)
    part.writes.append(write)
    count = dio_count(op.world, mapping)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.check_scenario(_uncompleted_bios)
    if aio:
        op.check_scenario(_unworked_aio)
        op.lock(writers, SHARED, "aio_write(): kiocb_start_write(req): sb_start_write(inode->i_sb)")
        op.hand_off(
            writers,
            "__sb_writers_release(inode->i_sb, SB_FREEZE_WRITE) /* held until the completion */",
        )
    else:
        op.lock(writers, SHARED, "vfs_write(): file_start_write(file): sb_start_write(inode->i_sb)")
    op.enter(
        "file_operations.write_iter",
        label=(
            "aio_write(): call_write_iter(file, req, &iter)"
            if aio
            else "vfs_write(): ret = new_sync_write(): call_write_iter(file, &kiocb, &iter)"
        )
        + " /* ->write_iter = ext4_file_write_iter(): IOCB_DIRECT */",
        roles={"file": inode, "inode": inode},
    )
    hint = fork_compute(
        op,
        "extend_hint",
        "ext4_dio_write_iter(): if (offset+count > i_size_read(inode)) ilock_shared = false "
        "/* a quick check without i_rwsem */",
        _extends,
        mapping,
        page,
    )
    with op.when(is_true(hint), "if (!ilock_shared) inode_lock(inode)"):
        op.lock(inode.i_rwsem, EXCL, "ext4_dio_write_iter(): inode_lock(inode)")
    with op.otherwise():
        op.lock(inode.i_rwsem, SHARED, "ext4_dio_write_iter(): inode_lock_shared(inode)")
    extends = fork_compute(
        op,
        "extend",
        "ext4_dio_write_checks(): *extend = ext4_extending_io(inode, offset, count)",
        _extends,
        mapping,
        page,
    )
    with op.when(
        all_of(not_(is_true(hint)), any_of(is_true(extends), _hole(page))),
        "if (*ilock_shared && (*extend || !ext4_overwrite_io(inode, offset, count))) "
        "{ inode_unlock_shared(inode); *ilock_shared = false; inode_lock(inode); goto restart; }",
    ):
        op.unlock(inode.i_rwsem, "inode_unlock_shared(inode)")
        op.lock(inode.i_rwsem, EXCL, "inode_lock(inode) /* restart: not an overwrite */")
        fork_compute(
            op,
            "extend",
            "restart: ext4_dio_write_checks(): *extend = ext4_extending_io(inode, offset, count) "
            "/* under the exclusive lock */",
            _extends,
            mapping,
            page,
        )
    holding = op.variant(DIO_HOLDS_INVALIDATE_LOCK)
    if holding:
        op.lock(mapping.invalidate_lock, EXCL, "filemap_invalidate_lock(inode->i_mapping)")
    do_writepages(op, mapping, sync_all=True, only=(index,))
    fdatawait(op, mapping, only=(index,))
    op.run(invalidate, file, index)
    op.effect(
        "inode_dio_begin(inode): atomic_inc(&inode->i_dio_count)",
        _begin,
        count,
    )
    mapped = op.compute(
        "map_ret",
        "ext4_iomap_begin(): ext4_iomap_alloc(): ext4_map_blocks(handle, inode, &map, "
        "EXT4_GET_BLOCKS_CREATE...) /* a hole gets a block */",
        get_block,
        page,
    )
    with op.when(
        is_error(mapped),
        "if (ret < 0) /* -ENOSPC: iomap_iter() stops, no bio; iomap_dio_rw() returns it */",
    ):
        _fail_before_io(op, mapping, count, stage, ENOSPC)
    if source is not None:
        _pin_source(op, file, source, count, stage)
    op.effect(
        f"iomap_dio_bio_iter(): bio = iomap_dio_alloc_bio(); submit_bio(bio) /* v{version} */; "
        "dio->wait_for_completion = wait_for_completion",
        _submit,
        page,
        version,
        stage,
        _waits(extends) if aio else True,
    )
    with op.when(
        is_true(extends) if aio else _always(),
        "if (wait_for_completion) /* is_sync_kiocb(iocb) || IOMAP_DIO_FORCE_WAIT: wait for the "
        "bio, then iomap_dio_complete() */",
    ):
        op.wait_until(
            _done(write),
            "for (;;) { if (!READ_ONCE(dio->submit.waiter)) break; blk_io_schedule(); }",
            f"the direct write of {page}",
        )
        dio_complete(op, file, write, mapping)
    op.label("unlock")
    if holding:
        op.unlock(mapping.invalidate_lock, "filemap_invalidate_unlock(inode->i_mapping)")
    op.unlock(inode.i_rwsem, "ext4_dio_write_iter(): inode_unlock(inode) /* shared or not */")
    if not aio:
        op.unlock(writers, "vfs_write(): file_end_write(file): sb_end_write(inode->i_sb)")
        return
    with op.when(
        any_of(is_true(extends), is_error(mapped)),
        "aio_rw_done(req, ret): if (ret != -EIOCBQUEUED) req->ki_complete(req, ret)",
    ):
        aio_end_write(op)


def _pin_source(op: Op, file: File, source: int, count: int, stage: int) -> None:
    """``iomap_dio_bio_iter()``'s ``bio_iov_iter_get_pages()`` of a user
    buffer mapped from ``file`` at byte ``source``: the pages are pinned
    through the page tables and, where the source is not mapped, faulted
    in as a load would fault (``get_user_pages``' slow path:
    ``mmap_read_lock()``, ``handle_mm_fault()``, so ``filemap_fault()``'s
    ``invalidate_lock`` and folio lock), with i_rwsem held and the direct
    write counted in ``i_dio_count``; a source past EOF (SIGBUS) makes the
    write fail with -EFAULT."""
    mapping, mm, _ = mapped_whole(op, file)
    if not 0 <= source < len(mm.mapping.pages) * PAGE_SIZE:
        raise ModelError(
            f"dio_write_from_mapping: the source, byte {source}, is not in the "
            f"{len(mm.mapping.pages)} pages of {file.path}"
        )
    src = mm.mapping.pages[source // PAGE_SIZE]
    access_page(op, mm, src, source % PAGE_SIZE, write=False, version=0, at=".gup")
    with op.when(
        vm_fault_is(op.reg("vm_fault.gup"), VM_FAULT_SIGBUS),
        "if (unlikely(ret)) /* bio_iov_iter_get_pages(): -EFAULT, the source past EOF */",
    ):
        _fail_before_io(op, mapping, count, stage, EFAULT)


def _fail_before_io(op: Op, mapping: Mapping, count: int, stage: int, errno: int) -> None:
    """The direct write ends before its bio with ``-errno``:
    ``inode_dio_end()``, then to ``out`` (the unlock)."""
    ends_dio(op.world, mapping, op.thread.tid)
    op.effect("inode_dio_end(inode)", _failed, count, stage)
    name = {ENOSPC: "ENOSPC", EFAULT: "EFAULT"}[errno]
    op.fail(errno, "unlock", f"ret = -{name}; goto out")


@operation(
    models="ext4_dio_write_iter() -> iomap_dio_rw() from a buffer mapped from the same file: "
    "bio_iov_iter_get_pages() faults the source in (fs/iomap/direct-io.c, block/bio.c)",
    describe=lambda f, index, source: (
        f"pwrite(O_DIRECT {f}, page {index}) from mmap({f}) at {source}"
    ),
    cites=(
        *dio_write.cites,
        Cite("block/bio.c", "bio_iov_iter_get_pages", "6.6"),
        Cite("mm/gup.c", "__get_user_pages", "6.6"),
    ),
)
def dio_write_from_mapping(op: Op, file: File, index: int, source: int) -> None:
    """A synchronous O_DIRECT write of page ``index`` of ``file`` from the
    process's shared mapping of ``file`` at byte ``source`` (the buffer
    pinned, and faulted in when not mapped, under i_rwsem with the
    direct write counted: ``_pin_source``).  The data the source holds is
    left out: the direct write stores its own version."""
    _dio_write(op, file, index, False, source)


def _waits(extends: Expr) -> Expr:
    def build(world: World) -> Eval:
        get = extends.compile(world)
        return lambda state: get(state) is True

    return Expr("is_sync_kiocb(iocb) || (dio_flags & IOMAP_DIO_FORCE_WAIT)", build, extends.local)


def _always() -> Expr:
    return Expr("wait_for_completion", lambda _w: lambda _s: True, True)


@operation(
    models="iomap_dio_bio_end_io() -> queue_work(s_dio_done_wq) -> iomap_dio_complete_work() "
    "(fs/iomap/direct-io.c)",
    describe=lambda f, index: f"dio_done_wq({f}, page {index})",
    cites=(
        Cite("fs/iomap/direct-io.c", "iomap_dio_bio_end_io", "001397f5"),
        Cite("fs/iomap/direct-io.c", "iomap_dio_complete_work", "001397f5"),
        Cite("fs/iomap/direct-io.c", "iomap_dio_complete", "001397f5"),
        Cite("mm/filemap.c", "kiocb_invalidate_post_direct_write", "6.6"),
        Cite("mm/truncate.c", "invalidate_inode_pages2_range", "6.6"),
        Cite("fs/aio.c", "aio_complete_rw", "6.6"),
    ),
)
def dio_worker(op: Op, file: File, index: int) -> None:
    """The worker of ``s_dio_done_wq`` completing the AIO direct write of
    page ``index`` a thread before this one submits (if that write turns
    out synchronous, there is nothing to do); with two such writes, the
    first worker completes the first."""
    op.holds_no_file()
    mapping = op.mapping(file)
    try:
        write = direct_io(op.world).work_of(mapping.pages[index], op.thread.name)
    except ValueError as error:
        raise ModelError(str(error)) from None
    op.wait_until(
        _queued_or_completed(write),
        "iomap_dio_bio_end_io(): if (atomic_dec_and_test(&dio->ref)) queue_work(...) "
        "/* the work runs */",
        f"the bio of {write.page}",
        holders=io_completer(op),
    )
    with op.when(
        _stage_in(write, ENDED),
        "if (dio->wait_for_completion) /* no work: a synchronous or failed write */",
    ):
        op.goto("out")
    dio_complete(op, file, write, mapping)
    aio_end_write(op)
    op.label("out")


def _queued_or_completed(write: DirectWrite) -> Expr:
    done = _done(write)

    def build(world: World) -> Eval:
        bio_done = done.compile(world)
        return lambda state: (
            state[write.stage] in ENDED or (state[write.stage] == QUEUED and bio_done(state))
        )

    return Expr(f"bio of {write.page} done", build)


def _stage_in(write: DirectWrite, stages: tuple[int, ...]) -> Expr:
    return Expr(
        f"dio({write.thread}) {' or '.join(render_stage(stage) for stage in stages)}",
        lambda _w: lambda state: state[write.stage] in stages,
    )


@operation(
    models="read(2) begun after a direct write completed: filemap_read() (mm/filemap.c)",
    describe=lambda f, index: f"read({f}, page {index}) once the direct write completed",
    cites=read.cites,
)
def read_after_dio(op: Op, file: File, index: int) -> None:
    """A buffered read of page ``index`` that begins once the direct write
    of that page (by a thread before this one) has completed; what it
    returns must be that write's data or newer (property dio-coherent)."""
    mapping = op.mapping(file)
    try:
        write = direct_io(op.world).write_of(mapping.pages[index])
    except ValueError as error:
        raise ModelError(str(error)) from None
    op.wait_until(
        _stage_in(write, ENDED),
        "/* the program reads after io_getevents() reported the direct write */",
        f"the direct write of {write.page}",
    )
    page = mapping.page(index)
    filemap_get_pages(op, mapping, page, "")
    data = op.register("returned", render_version)
    op.compute(
        "returned",
        "copied = copy_folio_to_iter(folio, offset, bytes, iter)",
        _folio_data,
        page,
        render=render_version,
    )
    put_folio(op, folio_ref(op, page))
    direct_io(op.world).reads.append(ReadAfter(op.thread.name, write, data))


def _folio_data(scratch: Scratch, page: Page) -> Any:
    folio = scratch[page.folio]
    return None if folio is None else folio[0]


# --- dio-coherent ---------------------------------------------------------------------


def _older(order: dict[Any, int], held: Any, version: int) -> bool:
    """``held`` is data the page had before ``version`` was written: some
    run of its bytes holds a version written before it (``order``:
    ``PageCache.write_order``; a store after the write leaves runs of
    ``version`` and newer ones, which is current)."""
    if version not in order:
        return False
    return any(order.get(run, order[version]) < order[version] for _, run in runs_of(held))


def _alone(part: DirectIo, cache: PageCache) -> list[DirectWrite]:
    """The direct writes of pages no other thread writes through the cache
    (a store whose page is known only when it runs counts for every page)."""
    return [
        write
        for write in part.writes
        if not any(
            other.page in (write.page, None) and other.thread != write.thread
            for other in cache.writes
        )
    ]


def dio_coherent_violation(
    world: World, state: State, alone: Sequence[DirectWrite] | None = None
) -> str | None:
    """After a direct write completed: no uptodate folio unlocked in the
    page cache holds older data for its page, and a read begun after the
    completion returned the new data (or newer).  The first is not checked
    for a page another thread writes through the cache too (a buffered
    write, a store through a mapping): the kernel promises no coherence
    there, and warns when its invalidation fails on the folio such a writer
    dirtied ("Possible data corruption due to collision with buffered
    I/O!", ``dio_warn_stale_pagecache()``); a writer that launders the
    stale folio over the direct write's data is that collision.  ``alone``:
    the writes that are checked (``_alone``), computed once per model."""
    part = world.parts.get("dio")
    if not isinstance(part, DirectIo):
        return None
    cache = pagecache(world)
    for write in _alone(part, cache) if alone is None else alone:
        if state[write.stage] != COMPLETED:
            continue
        page = write.page
        folio = state[page.folio]
        if folio is not None and folio[1] & PG_UPTODATE and state[page.ident] is not None:
            lock = page.locks[state[page.ident]]
            order = cache.write_order(state, page)
            if state[lock.slot] is None and _older(order, folio[0], write.version):
                return (
                    f"{write.thread}'s direct write of {cache.writer(write.version)} to {page} "
                    f"completed, but folio {page} still caches {cache.writer(folio[0])}"
                )
    for reading in part.reads:
        got = state[reading.data]
        if got is None:
            continue
        if _older(cache.write_order(state, reading.write.page), got, reading.write.version):
            return (
                f"{reading.thread}'s read after {reading.write.thread}'s direct write completed "
                f"returned {cache.writer(got)}, not {cache.writer(reading.write.version)}"
            )
    return None


def dio_coherent_reads(model: Any) -> list[str]:
    """What ``dio-coherent`` reads: for each direct write it checks
    (``_alone``), its stage and its page's folio, xa entry, folio locks and
    write history; for each read begun after a completion, the history of
    the page and the data its thread returned (``returned(T)``: the
    register ``read_after_dio`` sets at its last step, with the
    ``folio_put()`` chained to it, so it holds data only once the thread
    has returned)."""
    world = model.world
    part = world.parts.get("dio")
    if not isinstance(part, DirectIo):
        return []
    slots = world.slots
    names = []
    for write in _alone(part, pagecache(world)):
        page = write.page
        numbers = (write.stage, page.folio, page.ident, page.history)
        names += [slots[n].name for n in numbers] + [slots[lock.slot].name for lock in page.locks]
    for reading in part.reads:
        names += [f"returned({reading.thread})", slots[reading.write.page.history].name]
    return names


@invariant(
    "dio-coherent",
    "after a direct write completes, no cached folio holds older data for its range, and a "
    "buffered read begun after the completion returns the new data",
    reads=dio_coherent_reads,
    needs=("dio", "a direct write"),
)
def dio_coherent(model: Any) -> Any:
    world = model.world
    part = world.parts.get("dio")
    alone = _alone(part, pagecache(world)) if isinstance(part, DirectIo) else []
    return lambda state: dio_coherent_violation(world, state, alone)
