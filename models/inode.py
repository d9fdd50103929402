"""The in-core inode's life, from fs/inode.c and fs/fs-writeback.c of Linux
6.6: ``iget_locked()`` (``find_inode_fast()``, ``__wait_on_freeing_inode()``,
``alloc_inode()`` -> ``->alloc_inode``, I_NEW until ``unlock_new_inode()``),
``__mark_inode_dirty()`` (``->dirty_inode``), the flusher's
``writeback_sb_inodes()`` -> ``__writeback_single_inode()`` (I_SYNC set and
cleared under ``inode->i_lock``, ``->write_inode``), ``iput()`` ->
``iput_final()`` (``->drop_inode`` under i_lock, I_FREEING) -> ``evict()``
(``inode_wait_for_writeback()``, ``->evict_inode`` with
``truncate_inode_pages_final()``, ``remove_inode_hash()``,
``destroy_inode()`` -> ``->destroy_inode``, then ``->free_inode`` from the
RCU callback ``i_callback()``).  The state is ``mc.kernel.inode_life``'s.
The stored torvalds/linux fs/inode.c read is newer (``inode_state_read()``,
``inode_wake_up_bit()``, ``inode_wait_for_lru_isolating()``); its
``evict()``, ``evict_inodes()`` and ``find_inode_fast()`` keep 6.6's
order, which the model follows.

``wb->list_lock`` is taken where ``__mark_inode_dirty()``,
``writeback_sb_inodes()`` and ``evict()``'s ``inode_io_list_del()`` take
it, outside i_lock; ``s_inode_list_lock`` where ``iget_locked()``
(inside inode_hash_lock), ``evict()`` and ``evict_inodes()`` (outside
i_lock) take it.  Left out: the LRU and the inode shrinker, the contents
of the wb's dirty lists and of the superblock's inode list, beyond the
flags that guard them (the flusher's choice is one section under the
inode's i_lock: a dirty inode it may pick is one with I_DIRTY_SYNC that
is not I_NEW, I_FREEING or I_WILL_FREE; the list removals change no
modelled state), I_WILL_FREE's ``write_inode_now()`` (``->drop_inode``
here decides at once), the RCU grace period before ``->free_inode`` (it
runs right after ``->destroy_inode``), ``I_DIRTY_TIME`` and
``I_DIRTY_PAGES``, inode hash chains with other inode numbers.
``I_DIRTY_DATASYNC`` is set with I_DIRTY_SYNC by ``mark_inode_dirty()``
(``extend_inode``), never by a timestamp update, and tested by
fdatasync(2) (``__generic_file_fsync()``, fs/libfs.c, 6.6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mc.dsl import EXCL, SHARED, Cite, Op, Scratch, flag_variant, not_, operation, same
from mc.dsl.folio import find_folio, put_folio, wait_writeback
from mc.kernel.expr import Expr, const, positive
from mc.kernel.inode_life import (
    DESTROYED,
    EVICTED,
    FREED,
    I_CLEAR,
    I_DIRTY_DATASYNC,
    I_DIRTY_SYNC,
    I_FREEING,
    I_NEW,
    I_SYNC,
    I_WILL_FREE,
    InodeLife,
    InodeObject,
    begin_evict,
    hashed_as,
    inode_life,
    set_bits,
    state_has,
    touch,
)
from mc.kernel.locks import Kind, Lock
from mc.kernel.pagecache import (
    PG_DIRTY,
    TAG_DIRTY,
    TAG_WRITEBACK,
    File,
    Mapping,
    Page,
    change_flags,
    pagecache,
    remove_folio,
)
from mc.kernel.superblock import SB_FREEZE_FS, SB_FREEZE_WRITE, metadata_slot, sb_writers
from mc.kernel.world import ModelError, touches
from mc.models.quota import journal_current_handle, start_handle, stop_handle
from mc.models.super import flag_slot, wb_worker
from mc.models.writeback import do_writepages, fdatawait

EVICT_NO_WAIT = "evict-skips-writeback-wait"
IGET_IGNORES_FREEING = "iget-ignores-freeing"

flag_variant(
    EVICT_NO_WAIT,
    "evict() does not wait for the flusher to finish with the inode "
    "(no inode_wait_for_writeback()) before ->evict_inode",
)
EVICT_WAITS_LATE = "writeback-wait-after-evict-inode"
flag_variant(
    EVICT_WAITS_LATE,
    "evict() waits for the flusher to finish with the inode only in end_writeback(), after "
    "->evict_inode tore it down (2.6.36 to 3.0; 3.1's 'vfs: Move waiting for inode "
    "writeback from end_writeback() to evict_inode()')",
)
LIST_LOCK_INSIDE_I_LOCK = "list-lock-inside-i_lock"
flag_variant(
    LIST_LOCK_INSIDE_I_LOCK,
    "__mark_inode_dirty() takes wb->list_lock with inode->i_lock still held (no "
    "locked_inode_to_wb_and_lock_list() dropping i_lock first): i_lock -> wb->list_lock, the "
    "reverse of the flusher's order",
)
FLUSHER_SLEEPS_ON_S_UMOUNT = "flusher-sleeps-on-s_umount"
flag_variant(
    FLUSHER_SLEEPS_ON_S_UMOUNT,
    "__writeback_inodes_wb() pins the superblock with down_read(&sb->s_umount) instead of "
    "super_trylock_shared(): the flusher's work sleeps on the s_umount an unmount holds while "
    "it waits, in sync_inodes_sb(), for its own work that the flusher would run next",
)
WRITE_INODE_TAKES_I_RWSEM = "write-inode-takes-i_rwsem"
flag_variant(
    WRITE_INODE_TAKES_I_RWSEM,
    "->write_inode takes the inode's i_rwsem (to serialise with ->setattr): "
    "__generic_file_fsync() calls it through sync_inode_metadata() with i_rwsem held, and "
    "waits there for the I_SYNC of a flusher that calls it",
)
FDATASYNC_SKIPS_METADATA = "fdatasync-skips-metadata"
flag_variant(
    FDATASYNC_SKIPS_METADATA,
    "__generic_file_fsync() with datasync set returns without sync_inode_metadata() whatever "
    "the inode's dirty bits (if (datasync) goto out): fdatasync(2) after a write that grew the "
    "file returns with the new i_size, which reading the data back needs, not on disk",
)
flag_variant(
    IGET_IGNORES_FREEING,
    "find_inode_fast() takes a reference to an inode it finds I_FREEING instead of waiting "
    "for it to go (__wait_on_freeing_inode())",
)


def part_of(op: Op, file: File) -> InodeLife:
    """The inode part of the scenario's file: cached, one reference (its
    dentry's), its metadata dirty (a change not yet written)."""
    try:
        return inode_life(op.world, file.path, dirty=True)
    except ValueError as error:
        raise ModelError(str(error)) from None


def _name(inode: InodeObject) -> Expr:
    return const(inode.name, inode.name)


# --- dirtying and writing the inode ---------------------------------------------------------


def _dirty_inode(scratch: Scratch, inode: InodeObject) -> int:
    touch(scratch, inode, "->dirty_inode")
    scratch[inode.change] = scratch[inode.change] + 1
    return 0


def _mark_dirty(scratch: Scratch, inode: InodeObject, flags: int = I_DIRTY_SYNC) -> int:
    was_dirty = bool(scratch[inode.i_state] & I_DIRTY_SYNC)
    set_bits(scratch, inode, on=flags)
    return int(was_dirty)


def s_inode_list_lock(op: Op) -> Lock:
    """``sb->s_inode_list_lock``: it guards the superblock's list of its
    inodes (``s_inodes``) and nests inside ``inode_hash_lock`` and outside
    ``inode->i_lock`` (fs/inode.c's lock ordering)."""
    return op.world.shared_lock("s_inode_list_lock", Kind.SPINLOCK)


def list_lock(op: Op) -> Lock:
    """``wb->list_lock`` of the superblock's one bdi_writeback: it guards
    the wb's dirty and I/O lists (``b_dirty``, ``b_io``, ``b_more_io``) and
    nests outside ``inode->i_lock`` (fs/inode.c's lock ordering:
    ``bdi->wb.list_lock`` -> ``inode->i_lock``)."""
    return op.world.shared_lock("wb->list_lock", Kind.SPINLOCK)


def mark_inode_dirty(op: Op, part: InodeLife, datasync: bool = False) -> None:
    """``__mark_inode_dirty(inode, I_DIRTY_SYNC)`` (fs/fs-writeback.c,
    Linux 6.6), or with ``datasync`` ``mark_inode_dirty(inode)``,
    ``__mark_inode_dirty(inode, I_DIRTY)`` (include/linux/fs.h: I_DIRTY is
    I_DIRTY_SYNC | I_DIRTY_DATASYNC | I_DIRTY_PAGES, the last the pages'
    own here), which also sets I_DIRTY_DATASYNC:
    ``->dirty_inode`` first, without i_lock, then the bits
    under i_lock; an inode that was clean goes on the wb's dirty list:
    ``locked_inode_to_wb_and_lock_list()`` drops i_lock and takes
    ``wb->list_lock``, i_lock is taken again inside it, and
    ``inode_io_list_move_locked()`` moves the inode with both held.  The
    caller holds a reference.  ``I_SYNC_QUEUED`` and the unhashed and
    I_FREEING checks before the move are left out (the move changes no
    modelled state)."""
    inode = part.inode
    op.call(
        "super_operations.dirty_inode",
        _dirty_inode,
        inode,
        label="sb->s_op->dirty_inode(inode, flags & (I_DIRTY_INODE | I_DIRTY_TIME))",
        roles={"inode": _name(inode)},
    )
    inside = op.variant(LIST_LOCK_INSIDE_I_LOCK)
    op.lock(
        inode.i_lock,
        EXCL,
        "spin_lock(&inode->i_lock) /* wb->list_lock taken inside it */"
        if inside
        else "spin_lock(&inode->i_lock)",
    )
    was_dirty = op.compute(
        "was_dirty",
        "was_dirty = inode->i_state & I_DIRTY; inode->i_state |= flags"
        + (" /* I_DIRTY_SYNC | I_DIRTY_DATASYNC */" if datasync else ""),
        _mark_dirty,
        inode,
        I_DIRTY_SYNC | I_DIRTY_DATASYNC if datasync else I_DIRTY_SYNC,
    )
    with op.when(same(was_dirty, const(0, "0")), "if (!was_dirty)"):
        wb_lock = list_lock(op)
        if inside:
            op.lock(wb_lock, EXCL, "spin_lock(&wb->list_lock) /* i_lock held */")
        else:
            op.unlock(
                inode.i_lock, "locked_inode_to_wb_and_lock_list(): spin_unlock(&inode->i_lock)"
            )
            op.lock(wb_lock, EXCL, "spin_lock(&wb->list_lock)")
            op.lock(inode.i_lock, EXCL, "spin_lock(&inode->i_lock)")
        op.unlock(
            wb_lock,
            "inode_io_list_move_locked(inode, wb, &wb->b_dirty); spin_unlock(&wb->list_lock)",
        )
    op.unlock(inode.i_lock, "spin_unlock(&inode->i_lock)")


def _pick(scratch: Scratch, inode: InodeObject, mapping: Mapping | None) -> bool:
    flags = scratch[inode.i_state]
    if flags is None or flags & (I_NEW | I_FREEING | I_WILL_FREE | I_SYNC):
        return False
    pages_dirty = mapping is not None and any(scratch[p.marks] & TAG_DIRTY for p in mapping.pages)
    if not flags & I_DIRTY_SYNC and not pages_dirty:
        return False
    set_bits(scratch, inode, on=I_SYNC)
    return True


def _take_dirty(scratch: Scratch, inode: InodeObject) -> int:
    flags = scratch[inode.i_state]
    set_bits(scratch, inode, off=I_DIRTY_SYNC | I_DIRTY_DATASYNC)
    return int(bool(flags & I_DIRTY_SYNC))


def _write_inode(scratch: Scratch, inode: InodeObject, version_slot: int) -> int:
    touch(scratch, inode, "->write_inode")
    scratch[inode.on_disk] = scratch[version_slot]
    return 0


def _sync_complete(scratch: Scratch, inode: InodeObject) -> None:
    set_bits(scratch, inode, off=I_SYNC)


WB_LISTS = (
    "spin_lock(&wb->list_lock)",
    "spin_unlock(&wb->list_lock)",
    "spin_unlock(&tmp_wb->list_lock)",
)
"""The calls on the wb's list_lock, which the inode models leave out."""


def writeback_single_inode(
    op: Op, part: InodeLife, mapping: Mapping | None, sync_all: bool, *, tagged: bool = False
) -> None:
    """``wb_writeback()`` -> ``writeback_sb_inodes()`` (fs/fs-writeback.c,
    Linux 6.6) for the one inode: with ``wb->list_lock`` held
    (``queue_io()`` moved it to ``b_io``), under i_lock it is skipped when
    I_NEW, I_FREEING or I_WILL_FREE, or already under I_SYNC, or clean; else
    I_SYNC is set, ``wb->list_lock`` and i_lock dropped;
    ``__writeback_single_inode()``: ``do_writepages()`` of its pages, its
    I_DIRTY bits taken under i_lock, ``->write_inode`` if the inode itself
    was dirty; then ``inode_to_wb_and_lock_list()`` takes ``wb->list_lock``
    again and, i_lock inside it, ``requeue_inode()`` and
    ``inode_sync_complete()`` clear I_SYNC (and wake
    ``inode_wait_for_writeback()``); ``wb_writeback()`` drops the list lock.
    The list moves themselves change no modelled state.  ``tagged``: the
    pages written with ``wbc->tagged_writepages`` (the WB_SYNC_NONE work of
    ``writeback_inodes_sb()``)."""
    inode = part.inode
    wb_lock = list_lock(op)
    picked = op.register("picked", str)
    op.lock(wb_lock, EXCL, "wb_writeback(): spin_lock(&wb->list_lock); queue_io(wb, work, ...)")
    op.section(
        inode.i_lock,
        "spin_lock(&inode->i_lock); if (inode->i_state & (I_NEW | I_FREEING | I_WILL_FREE)) "
        "continue; if (inode->i_state & I_SYNC) continue; inode->i_state |= I_SYNC; "
        "spin_unlock(&inode->i_lock)",
        _pick,
        inode,
        mapping,
        result=picked,
    )
    op.goto_if(Expr("!picked", lambda _w: lambda state: not state[picked], local=True), "done")
    op.unlock(wb_lock, "writeback_sb_inodes(): spin_unlock(&wb->list_lock)")
    if mapping is not None:
        do_writepages(op, mapping, sync_all=sync_all, tagged=tagged)
    _write_inode_and_complete(op, part.path, inode, wb_lock)
    op.label("done")
    op.unlock(wb_lock, "wb_writeback(): spin_unlock(&wb->list_lock)")


def _write_inode_and_complete(
    op: Op,
    path: str,
    inode: InodeObject,
    wb_lock: Lock,
    requeue: str = "requeue_inode(inode, tmp_wb, &wbc)",
) -> None:
    """The end of ``__writeback_single_inode()`` and of its caller, I_SYNC
    held: the inode's I_DIRTY bits taken under i_lock, ``->write_inode``
    if the inode itself was dirty (of the file at ``path``), then ``inode_to_wb_and_lock_list()``
    (``wb->list_lock``, left held) and, i_lock inside it, ``requeue``
    (what puts the inode back on a list) and ``inode_sync_complete()``,
    which clears I_SYNC and wakes its waiters."""
    dirty = op.register("dirty", str)
    version = op.register("version", str)
    op.section(
        inode.i_lock,
        "spin_lock(&inode->i_lock); dirty = inode->i_state & I_DIRTY; inode->i_state &= ~dirty; "
        "spin_unlock(&inode->i_lock)",
        _take_dirty,
        inode,
        result=dirty,
    )
    op.compute(
        "version", "/* the inode's metadata as written */", lambda scratch: scratch[inode.change]
    )
    with op.when(
        Expr("dirty & ~I_DIRTY_PAGES", lambda _w: lambda state: bool(state[dirty]), local=True),
        "if (dirty & ~I_DIRTY_PAGES)",
    ):
        op.call(
            "super_operations.write_inode",
            _write_inode,
            inode,
            version,
            label="write_inode(inode, wbc): inode->i_sb->s_op->write_inode(inode, wbc)",
            roles={"inode": _name(inode)},
        )
        if op.variant(WRITE_INODE_TAKES_I_RWSEM):
            i_rwsem = op.inode(path).i_rwsem
            op.lock(i_rwsem, EXCL, "->write_inode(): inode_lock(inode)")
            op.unlock(i_rwsem, "inode_unlock(inode)")
    op.lock(wb_lock, EXCL, "tmp_wb = inode_to_wb_and_lock_list(inode): spin_lock(&wb->list_lock)")
    op.section(
        inode.i_lock,
        f"spin_lock(&inode->i_lock); {requeue}; "
        "inode_sync_complete(inode): inode->i_state &= ~I_SYNC; "
        "wake_up_bit(&inode->i_state, __I_SYNC); spin_unlock(&inode->i_lock)",
        _sync_complete,
        inode,
    )


WAIT_FOR_SYNC, CLEAN, SYNCING = "wait", "clean", "syncing"


def _pick_for_sync(scratch: Scratch, inode: InodeObject, mapping: Mapping) -> str:
    flags = scratch[inode.i_state] or 0
    if flags & I_SYNC:
        return WAIT_FOR_SYNC
    under_writeback = any(scratch[p.marks] & TAG_WRITEBACK for p in mapping.pages)
    if not _dirty_all(scratch, inode, mapping) and not under_writeback:
        return CLEAN
    set_bits(scratch, inode, on=I_SYNC)
    return SYNCING


def _dirty_all(state: Any, inode: InodeObject, mapping: Mapping) -> bool:
    """``inode->i_state & I_DIRTY_ALL``: I_DIRTY_SYNC, or a page tagged
    dirty (I_DIRTY_PAGES, set as a page is dirtied and cleared by the
    writeback that leaves none)."""
    flags = state[inode.i_state] or 0
    return bool(flags & I_DIRTY_SYNC) or any(state[p.marks] & TAG_DIRTY for p in mapping.pages)


def generic_fsync_metadata(
    op: Op, part: InodeLife, mapping: Mapping, *, datasync: bool = False
) -> None:
    """``__generic_file_fsync(file, start, end, datasync)`` (fs/libfs.c,
    Linux 6.6) under i_rwsem:
    ``sync_mapping_buffers()`` (the models' inodes have no associated
    buffers: nothing), then the tests of ``i_state`` without i_lock, ``if
    (!(inode->i_state & I_DIRTY_ALL)) goto out`` (an inode a flusher's
    writeback already took the dirty bits of is left to it, I_SYNC or
    not) and, for fdatasync(2) (``datasync``), ``if (datasync &&
    !(inode->i_state & I_DIRTY_DATASYNC)) goto out`` (a timestamp update
    alone, I_DIRTY_SYNC, is not written), then
    :func:`sync_inode_metadata`, which writes the whole inode.  For
    fsync(2) the second test is false before it reads anything
    (``datasync && ...``) and is no step.  Variant
    ``fdatasync-skips-metadata`` returns for fdatasync(2) before
    ``sync_inode_metadata()`` whatever the bits."""
    inode = part.inode
    out = op.fresh_label("fsync_clean")
    op.goto_if(
        Expr(
            "!(inode->i_state & I_DIRTY_ALL)",
            lambda _w: lambda state: not _dirty_all(state, inode, mapping),
            reads=frozenset({inode.i_state, *(p.marks for p in mapping.pages)}),
        ),
        out,
        "if (!(inode->i_state & I_DIRTY_ALL)) goto out",
    )
    if datasync:
        if op.variant(FDATASYNC_SKIPS_METADATA):
            op.goto_if(
                Expr("datasync", lambda _w: lambda _state: True, local=True),
                out,
                "if (datasync) goto out /* sync_inode_metadata() skipped */",
            )
        else:
            op.goto_if(
                Expr(
                    "!(inode->i_state & I_DIRTY_DATASYNC)",
                    lambda _w: lambda state: not (state[inode.i_state] or 0) & I_DIRTY_DATASYNC,
                    reads=frozenset({inode.i_state}),
                ),
                out,
                "if (datasync && !(inode->i_state & I_DIRTY_DATASYNC)) goto out",
            )
    sync_inode_metadata(op, part, mapping)
    op.label(out)


def sync_inode_metadata(op: Op, part: InodeLife, mapping: Mapping) -> None:
    """``sync_inode_metadata(inode, 1)`` -> ``writeback_single_inode()``
    (fs/fs-writeback.c, Linux 6.6; 6.12 takes the same steps), WB_SYNC_ALL
    with ``nr_to_write = 0``, as ``__generic_file_fsync()`` calls it under
    i_rwsem: under i_lock, while the inode is under I_SYNC (a flusher's
    writeback), ``__inode_wait_for_writeback()`` drops i_lock, sleeps and
    takes it again; an inode clean (no I_DIRTY bit) with no page under
    writeback is left alone; else I_SYNC is set and
    ``__writeback_single_inode()`` runs: ``do_writepages()`` returns at
    once (``nr_to_write`` is 0), ``filemap_fdatawait()`` waits for the
    pages under writeback (WB_SYNC_ALL, not ``for_sync``), then as the
    flusher the inode's I_DIRTY bits and ``->write_inode``, and I_SYNC
    cleared under ``wb->list_lock`` and i_lock.  Left out: the
    ``i_count``/I_WILL_FREE warnings and ``wbc_attach_and_unlock_inode()``'s
    cgroup writeback."""
    inode = part.inode
    wb_lock = list_lock(op)
    retry, out = op.fresh_label("sync_retry"), op.fresh_label("sync_out")
    picked = op.register("sync", str)
    op.label(retry)
    op.section(
        inode.i_lock,
        "writeback_single_inode(): spin_lock(&inode->i_lock); if (inode->i_state & I_SYNC) "
        "__inode_wait_for_writeback(inode); if (!(inode->i_state & I_DIRTY_ALL) && "
        "!mapping_tagged(inode->i_mapping, PAGECACHE_TAG_WRITEBACK)) goto out; "
        "inode->i_state |= I_SYNC; spin_unlock(&inode->i_lock)",
        _pick_for_sync,
        inode,
        mapping,
        result=picked,
    )
    with op.when(
        Expr(
            "inode->i_state & I_SYNC",
            lambda _w: lambda state: state[picked] == WAIT_FOR_SYNC,
            local=True,
        ),
        "while (inode->i_state & I_SYNC)",
    ):
        _wait_for_writeback(op, inode, "__inode_wait_for_writeback(inode)")
        op.goto(retry)
    op.goto_if(
        Expr(
            "!(inode->i_state & I_DIRTY_ALL) && !mapping_tagged(PAGECACHE_TAG_WRITEBACK)",
            lambda _w: lambda state: state[picked] == CLEAN,
            local=True,
        ),
        out,
    )
    fdatawait(op, mapping)
    _write_inode_and_complete(
        op,
        part.path,
        inode,
        wb_lock,
        "if (!(inode->i_state & I_DIRTY_ALL)) inode_cgwb_move_to_attached(inode, wb)",
    )
    op.unlock(wb_lock, "spin_unlock(&wb->list_lock)")
    op.label(out)


@operation(
    models="wb_workfn() -> wb_writeback() -> __writeback_inodes_wb() -> writeback_sb_inodes() "
    "(fs/fs-writeback.c)",
    describe=lambda f, data: "flusher(inode)",
    cites=(
        Cite(
            "fs/fs-writeback.c",
            "wb_writeback",
            "6.6",
            leaves_out=WB_LISTS,
            because="the wb's dirty lists and wb->list_lock are left out",
        ),
        Cite("fs/fs-writeback.c", "__writeback_inodes_wb", "6.6"),
        Cite("fs/super.c", "super_trylock_shared", "6.6"),
        Cite(
            "fs/fs-writeback.c",
            "writeback_sb_inodes",
            "6.6",
            leaves_out=WB_LISTS,
            because="the wb's dirty lists and wb->list_lock are left out",
        ),
        Cite("fs/fs-writeback.c", "__writeback_single_inode", "6.6"),
        Cite("mm/page-writeback.c", "do_writepages", "6.6"),
    ),
)
def inode_flusher(op: Op, file: File, data: bool) -> None:
    """The background flusher writing back the inode: ``__writeback_inodes_wb()``
    pins the superblock with ``super_trylock_shared()`` (fs/super.c, 6.6:
    s_umount shared, trylock, then dropped again on a superblock that is
    SB_DYING or not SB_BORN; ``sb->s_root`` is not modelled), then
    ``writeback_sb_inodes()`` (WB_SYNC_NONE) on the inode and its pages
    (when ``data``), all in one work item of ``wb_workfn()``, which holds
    ``mc.models.super.wb_worker`` (a sync that holds s_umount waits for
    its own work to run there).  Left out: the superblock's own lifetime (what
    ``->put_super`` and ``->kill_sb`` free), so a flusher that does not
    pin the superblock harms nothing the models hold."""
    op.holds_no_file()
    part = part_of(op, file)
    mapping = pagecache(op.world).attach(file) if data else None
    s_umount = op.world.superblock.s_umount
    worker = wb_worker(op)
    op.lock(worker, EXCL, "wb_workfn(): wb_do_writeback(wb) /* one work item at a time */")
    if op.variant(FLUSHER_SLEEPS_ON_S_UMOUNT):
        op.lock(s_umount, SHARED, "down_read(&sb->s_umount) /* pins the superblock */")
    else:
        op.trylock(
            s_umount,
            "out",
            "if (!super_trylock_shared(sb)) { redirty_tail(); continue; }: "
            "down_read_trylock(&sb->s_umount)",
            SHARED,
        )
    born, dying = flag_slot(op.world, "SB_BORN"), flag_slot(op.world, "SB_DYING", False)
    with op.when(
        Expr(
            "(sb->s_flags & SB_DYING) || !(sb->s_flags & SB_BORN)",
            lambda _world: lambda state: bool(state[dying] or not state[born]),
            reads=frozenset({born, dying}),
        ),
        "if (!(sb->s_flags & SB_DYING) && sb->s_root && (sb->s_flags & SB_BORN)) return true",
        label_negates=True,
    ):
        op.unlock(s_umount, "super_unlock_shared(sb); return false")
        op.goto("out")
    writeback_single_inode(op, part, mapping, sync_all=False)
    op.unlock(s_umount, "up_read(&sb->s_umount)")
    op.label("out")
    op.unlock(worker, "wb_workfn() returns /* the next work item may run */")


# --- eviction --------------------------------------------------------------------------------


def _drop(result: int) -> Callable[..., int]:
    def drop_inode(_fs: Scratch, *_args: object) -> int:
        return result

    return drop_inode


def _stage(stage: int, off: int = 0, on: int = 0) -> Callable[..., int]:
    def change(scratch: Scratch, inode: InodeObject) -> int:
        scratch[inode.stage] = stage
        scratch[inode.evictor] = None
        if on or off:
            set_bits(scratch, inode, on=on, off=off)
        return 0

    return change


def _touch_final(scratch: Scratch, inode: InodeObject) -> None:
    touch(scratch, inode, "truncate_inode_pages_final()")


def _remove_final(scratch: Scratch, page: Page) -> None:
    change_flags(scratch, page, off=PG_DIRTY)
    remove_folio(scratch, page)


def truncate_inode_pages_final(op: Op, mapping: Mapping, inode: InodeObject) -> None:
    """``truncate_inode_pages_final()`` (mm/truncate.c, 6.6) of an inode
    being evicted: ``truncate_inode_pages_range()``'s second pass over
    every folio, each locked (``folio_lock()``), its writeback waited for,
    and removed from the page cache (``truncate_inode_folio()``:
    ``filemap_remove_folio()`` under xa_lock).  Nothing maps an evicted
    inode's folios, so none is unmapped; the data it held was written
    back before (``sync_filesystem()`` at unmount, the flusher before the
    last iput), so its removal is no truncation of the file's data.  Left
    out: ``->invalidate_folio`` of a folio with buffers, which eviction
    calls without the invalidate_lock locking.rst's table asks for (the
    inode is unreachable by then; the rules have no such exception)."""
    op.effect("truncate_inode_pages_final(&inode->i_data)", _touch_final, inode)
    for page in mapping.pages:
        ref = find_folio(op, page, f"folio = fbatch.folios[i] /* {page}: find_lock_entries() */")
        with op.when(ref.found, "if (folio)"):
            op.lock(ref.lock, label="folio_lock(folio)")
            with op.when(ref.mapped, "if (folio->mapping == mapping)"):
                op.run(wait_writeback, page)
                op.section(
                    mapping.xa_lock,
                    "truncate_inode_folio(): folio_cancel_dirty(folio); "
                    "filemap_remove_folio(folio): xa_lock_irq(&mapping->i_pages); "
                    "page_cache_delete()",
                    _remove_final,
                    page,
                )
            op.unlock(ref.lock, "folio_unlock(folio)")
            put_folio(op, ref)


def _unhash(scratch: Scratch, part: InodeLife) -> None:
    scratch[part.hash] = None


def _wait_for_writeback(op: Op, inode: InodeObject, call: str) -> None:
    op.wait_until(
        not_(state_has(inode, I_SYNC, "inode->i_state & I_SYNC")),
        f"{call}: while (inode->i_state & I_SYNC) "
        "__wait_on_bit(wq, &wq_entry, bit_wait, TASK_UNINTERRUPTIBLE)",
        f"I_SYNC({inode})",
    )


def _on_io_list(inode: InodeObject, mapping: Mapping | None) -> Expr:
    def on_list(state: Any) -> bool:
        if (state[inode.i_state] or 0) & (I_DIRTY_SYNC | I_SYNC):
            return True
        return mapping is not None and any(state[p.marks] & TAG_DIRTY for p in mapping.pages)

    return Expr("!list_empty(&inode->i_io_list)", lambda _w: on_list)


def _clear_inode(op: Op, inode: InodeObject, label: str) -> None:
    op.effect(label, _stage(EVICTED, on=I_CLEAR), inode)


def _deleted(scratch: Scratch, inode: InodeObject, metadata: int) -> None:
    """The inode freed on disk in the handle: its last change is no longer
    one to write back (the freed inode is), and the filesystem's metadata
    is dirty until a commit writes it."""
    scratch[inode.on_disk] = scratch[inode.change]
    scratch[metadata] = True


def _delete_inode(op: Op, inode: InodeObject) -> None:
    """``ext4_evict_inode()`` of an unlinked inode once its pages are gone
    (fs/ext4/inode.c, read in a tree newer than 6.12, with
    ``dax_break_layout_final()``; 6.6 and 6.12 take the same steps in this
    order): outside a running handle,
    ``sb_start_intwrite()`` ("iput() caller didn't have to have any
    protection against it"; inside one, since 46e294efc355, the handle
    protects it already and the level would be taken against the order
    sb_internal before jbd2_handle), a handle, the inode cleared and freed
    in it (``ext4_free_inode()`` -> ``ext4_clear_inode()``: I_CLEAR; the
    orphan list, inode table and bitmaps dirtied: metadata a commit has to
    write), the handle stopped and the level ended.  Left out:
    ``dquot_initialize()`` and the quota freed, ``ext4_truncate()`` of the
    blocks and the xattr inodes (``ext4_xattr_delete_inode()``), the
    error paths."""
    outside = op.let(
        "freeze_protected",
        not_(positive(journal_current_handle(op))),
        "if (!ext4_journal_current_handle())",
    )
    internal = sb_writers(op.world, SB_FREEZE_FS)
    with op.when(outside, "if (!ext4_journal_current_handle())"):
        op.lock(
            internal,
            SHARED,
            "sb_start_intwrite(inode->i_sb); freeze_protected = true",
            tag="sb-intwrite",
        )
    start_handle(op, "handle = ext4_journal_start(inode, EXT4_HT_TRUNCATE, ...)")
    _clear_inode(
        op,
        inode,
        "ext4_free_inode(handle, inode): ext4_clear_inode(inode): clear_inode(inode): "
        "inode->i_state = I_FREEING | I_CLEAR",
    )
    op.effect(
        "ext4_orphan_del(handle, inode); ext4_free_inode(): the inode bitmap and group "
        "descriptor dirtied in the handle",
        _deleted,
        inode,
        metadata_slot(op.world),
    )
    stop_handle(op)
    with op.when(outside, "if (freeze_protected)"):
        op.unlock(internal, "sb_end_intwrite(inode->i_sb)", tag="sb-intwrite")


def evict(op: Op, part: InodeLife, mapping: Mapping | None, *, unlinked: bool = False) -> None:
    """``evict()`` of an I_FREEING inode: ``inode_io_list_del()`` of an
    inode still on a wb list, ``wb->list_lock`` then its i_lock (the model
    takes it on a list while dirty or under I_SYNC; an inode whose
    writeback ended after it became I_FREEING stays on ``b_io`` clean,
    ``requeue_inode()`` returning early, and is not seen as on a list
    there: other interleavings take the same lock pair);
    ``inode_sb_list_del()`` under ``s_inode_list_lock``;
    ``inode_wait_for_writeback()`` (sleeps while I_SYNC), ``->evict_inode``
    (ext4's shape: ``truncate_inode_pages_final()``, waiting for writeback
    of each folio, then ``clear_inode()``: I_CLEAR; of an ``unlinked``
    inode, the deletion in a journal handle under the SB_FREEZE_FS level,
    :func:`_delete_inode`), ``remove_inode_hash()``
    (``__remove_inode_hash()``: i_lock inside inode_hash_lock) and the
    wake-up of ``__wait_on_freeing_inode()``, ``destroy_inode()`` ->
    ``->destroy_inode`` and ``->free_inode``."""
    inode = part.inode
    with op.when(_on_io_list(inode, mapping), "if (!list_empty(&inode->i_io_list))"):
        wb_lock = list_lock(op)
        op.lock(wb_lock, EXCL, "inode_io_list_del(inode): spin_lock(&wb->list_lock)")
        op.section(
            inode.i_lock,
            "spin_lock(&inode->i_lock); inode->i_state &= ~I_SYNC_QUEUED; "
            "list_del_init(&inode->i_io_list); spin_unlock(&inode->i_lock)",
            lambda _scratch: None,
        )
        op.unlock(wb_lock, "spin_unlock(&wb->list_lock)")
    op.section(
        s_inode_list_lock(op),
        "inode_sb_list_del(inode): spin_lock(&inode->i_sb->s_inode_list_lock); "
        "list_del_init(&inode->i_sb_list); spin_unlock(&inode->i_sb->s_inode_list_lock)",
        lambda _scratch: None,
    )
    late = op.variant(EVICT_WAITS_LATE)
    if not op.variant(EVICT_NO_WAIT) and not late:
        _wait_for_writeback(op, inode, "inode_wait_for_writeback(inode)")
    op.effect(
        "if (op->evict_inode) /* the filesystem tears the inode down: no one else may use it */",
        begin_evict,
        inode,
    )
    op.enter(
        "super_operations.evict_inode",
        _name(inode),
        label="op->evict_inode(inode)",
        roles={"inode": _name(inode)},
    )
    if mapping is not None:
        truncate_inode_pages_final(op, mapping, inode)
    if late:
        _wait_for_writeback(op, inode, "end_writeback(inode): inode_sync_wait(inode)")
    if unlinked:
        _delete_inode(op, inode)
    else:
        _clear_inode(op, inode, "clear_inode(inode): inode->i_state = I_FREEING | I_CLEAR")
    hash_lock = op.world.shared_lock("inode_hash_lock", Kind.SPINLOCK)
    op.lock(hash_lock, EXCL, "remove_inode_hash(inode): spin_lock(&inode_hash_lock)")
    op.section(
        inode.i_lock,
        "spin_lock(&inode->i_lock); hlist_del_init_rcu(&inode->i_hash); "
        "spin_unlock(&inode->i_lock)",
        _unhash,
        part,
    )
    op.unlock(hash_lock, "spin_unlock(&inode_hash_lock)")
    op.section(
        inode.i_lock,
        "spin_lock(&inode->i_lock); wake_up_bit(&inode->i_state, __I_NEW); "
        "spin_unlock(&inode->i_lock)",
        lambda _fs: None,
    )
    op.call(
        "super_operations.destroy_inode",
        _stage(DESTROYED),
        inode,
        label="destroy_inode(inode): ops->destroy_inode(inode)",
        roles={"inode": _name(inode)},
    )
    op.call(
        "super_operations.free_inode",
        _stage(FREED),
        inode,
        label="call_rcu(&inode->i_rcu, i_callback): i_callback(): inode->free_inode(inode)",
        roles={"inode": _name(inode)},
        sleeps=False,
    )


def _put(scratch: Scratch, inode: InodeObject, count: int) -> None:
    scratch[inode.i_count] = scratch[inode.i_count] - 1
    scratch[count] = scratch[inode.i_count]


def _set_freeing(scratch: Scratch, inode: InodeObject) -> None:
    set_bits(scratch, inode, on=I_FREEING)


def iput(op: Op, part: InodeLife, mapping: Mapping | None, *, drops: bool) -> None:
    """``iput()``: ``atomic_dec_and_lock(&inode->i_count, &inode->i_lock)``;
    on the last reference ``iput_final()``: ``->drop_inode`` under i_lock
    (``drops``: ``generic_drop_inode()`` of an unlinked inode, 1; of a
    linked one, 0: it stays cached while SB_ACTIVE), then I_FREEING and
    ``evict()``."""
    inode = part.inode
    i_lock = inode.i_lock
    count = op.register("count", str)
    op.lock(i_lock, EXCL, "iput(): atomic_dec_and_lock(&inode->i_count, &inode->i_lock)")
    op.effect("/* --inode->i_count */", _put, inode, count)
    with op.when(
        Expr("i_count == 0", lambda _w: lambda state: state[count] == 0, local=True),
        "if (the last reference) iput_final(inode)",
    ):
        op.call(
            "super_operations.drop_inode",
            _drop(1 if drops else 0),
            _name(inode),
            label="iput_final(): drop = op->drop_inode(inode) /* generic_drop_inode() */",
            roles={"inode": const(inode, inode.name)},
            sleeps=False,
        )
        with op.when(
            same(op.ret, const(0, "0")),
            "if (!drop && (sb->s_flags & SB_ACTIVE)) { __inode_add_lru(inode, true); "
            "spin_unlock(&inode->i_lock); return; }",
        ):
            op.unlock(i_lock, "spin_unlock(&inode->i_lock)")
            op.goto("out")
        op.effect(
            "inode->i_state |= I_FREEING; inode_lru_list_del(inode)",
            _set_freeing,
            inode,
        )
        op.unlock(i_lock, "spin_unlock(&inode->i_lock)")
        evict(op, part, mapping, unlinked=drops)
        op.goto("out")
    op.unlock(i_lock, "spin_unlock(&inode->i_lock) /* not the last reference */")
    op.label("out")


@operation(
    models="close(2) of an unlinked file: dput() -> iput() -> iput_final() -> evict() (fs/inode.c)",
    describe=lambda f: f"iput({f}, last reference)",
    cites=(
        Cite("fs/inode.c", "iput", "6.6"),
        Cite("fs/inode.c", "iput_final", "6.6"),
        Cite("fs/inode.c", "evict", "6.6"),
        Cite("fs/inode.c", "__remove_inode_hash", "6.6"),
    ),
)
def iput_last(op: Op, file: File) -> None:
    """The last reference to the file's inode dropped after it was
    unlinked: ``->drop_inode`` says drop, so it is evicted.  Being the
    last, it has no process of the scenario beside it holding the file
    open (a ``write``, a ``read``...): such a thread would hold a
    reference of its own, which the model does not count, so the scenario
    is refused (``Op.drops_last_reference``).  An ``iget`` looks the inode
    up by number and takes its reference then, so it may run beside."""
    op.one_thread("drops the last reference to", file.path, "a last reference is dropped once")
    op.drops_last_reference(file)
    part = part_of(op, file)
    iput(op, part, None, drops=True)


# --- lookup ------------------------------------------------------------------------------------


def _find(scratch: Scratch, part: InodeLife) -> object:
    return scratch[part.hash]


def _iget_ref(scratch: Scratch, inode: InodeObject) -> None:
    touch(scratch, inode, "__iget()")
    scratch[inode.i_count] = scratch[inode.i_count] + 1


def _alloc(scratch: Scratch, inode: InodeObject) -> int:
    scratch[inode.i_state] = 0
    scratch[inode.i_count] = 1
    return 0


def _hash_new(scratch: Scratch, part: InodeLife) -> None:
    assert scratch[part.hash] is None
    scratch[part.new.i_state] = I_NEW
    scratch[part.hash] = part.new.name


@operation(
    models="open_by_handle_at(2) -> ext4_iget() -> iget_locked() (fs/inode.c)",
    describe=lambda f: f"iget(ino of {f})",
    cites=(
        Cite(
            "fs/inode.c",
            "iget_locked",
            "6.6",
            leaves_out=("super_operations.destroy_inode",),
            because="a new inode that loses the race to be hashed is not modelled",
        ),
        Cite(
            "fs/inode.c",
            "alloc_inode",
            "6.6",
            leaves_out=("super_operations.destroy_inode",),
            because="inode_init_always() failing is not modelled",
        ),
        Cite("fs/inode.c", "find_inode_fast", "6.6"),
        Cite("fs/inode.c", "unlock_new_inode", "6.6"),
    ),
)
def iget(op: Op, file: File) -> None:
    """``iget_locked()`` of the file's inode number (a file handle that
    names it): ``find_inode_fast()`` under inode_hash_lock finds the cached
    inode and, under its i_lock, waits for one being freed
    (``__wait_on_freeing_inode()``: both locks dropped, sleeping until
    ``evict()`` unhashes it, then the lookup again) or takes a reference
    (``__iget()``); an inode number not cached gets a new inode from
    ``alloc_inode()`` -> ``->alloc_inode``, hashed I_NEW under
    inode_hash_lock and its i_lock, put on the superblock's list
    (``inode_sb_list_add()``, still under inode_hash_lock, as 6.6 has it;
    later kernels call it after the unlock), filled and
    ``unlock_new_inode()``.  The caller then uses the inode it got."""
    op.one_thread(
        "igets",
        file.path,
        "the model has one new inode for the inode number (iget_locked()'s loser of the race "
        "to hash one is left out), so a scenario igets each file once",
    )
    op.keeps_file_open()
    part = part_of(op, file)
    old, new = part.inode, part.new
    hash_lock = op.world.shared_lock("inode_hash_lock", Kind.SPINLOCK)
    op.label("again")
    op.lock(hash_lock, EXCL, "spin_lock(&inode_hash_lock)")
    found = op.compute("found", "inode = find_inode_fast(sb, head, ino)", _find, part)
    with op.when(same(found, const(old.name, old.name)), f"if (inode) /* {old} */"):
        op.lock(old.i_lock, EXCL, "find_inode_fast(): spin_lock(&inode->i_lock)")
        if not op.variant(IGET_IGNORES_FREEING):
            with op.when(
                state_has(old, I_FREEING | I_WILL_FREE, "inode->i_state & (I_FREEING|I_WILL_FREE)"),
                "if (inode->i_state & (I_FREEING|I_WILL_FREE))",
            ):
                op.unlock(old.i_lock, "__wait_on_freeing_inode(inode): spin_unlock(&inode->i_lock)")
                op.unlock(hash_lock, "spin_unlock(&inode_hash_lock)")
                op.wait_until(
                    not_(hashed_as(part, old.name, f"inode_hashtable holds {old}")),
                    "schedule() /* until evict(): remove_inode_hash(); wake_up_bit(__I_NEW) */",
                    f"{old} to be freed",
                )
                op.goto("again")
        op.effect("__iget(inode)", _iget_ref, old)
        op.unlock(old.i_lock, "spin_unlock(&inode->i_lock)")
        op.unlock(hash_lock, "iget_locked(): spin_unlock(&inode_hash_lock)")
        op.effect(
            "/* the caller uses the inode */",
            lambda scratch: touch(scratch, old, "the iget() caller's use"),
        )
        op.goto("out")
    op.unlock(hash_lock, "spin_unlock(&inode_hash_lock) /* not cached */")
    op.call(
        "super_operations.alloc_inode",
        _alloc,
        new,
        label="alloc_inode(sb): inode = ops->alloc_inode(sb)",
        roles={},
    )
    op.lock(hash_lock, EXCL, "spin_lock(&inode_hash_lock); old = find_inode_fast() /* none */")
    op.section(
        new.i_lock,
        "spin_lock(&inode->i_lock); inode->i_state = I_NEW; "
        "hlist_add_head_rcu(&inode->i_hash, head); spin_unlock(&inode->i_lock)",
        _hash_new,
        part,
    )
    op.section(
        s_inode_list_lock(op),
        "inode_sb_list_add(inode): spin_lock(&inode->i_sb->s_inode_list_lock); "
        "list_add(&inode->i_sb_list, &inode->i_sb->s_inodes)",
        lambda _scratch: None,
    )
    op.unlock(hash_lock, "spin_unlock(&inode_hash_lock)")
    op.section(
        new.i_lock,
        "/* the inode read from disk */ unlock_new_inode(inode): inode->i_state &= ~I_NEW; "
        "wake_up_bit(&inode->i_state, __I_NEW)",
        lambda scratch: set_bits(scratch, new, off=I_NEW),
    )
    op.label("out")


@operation(
    models="utimensat(2) -> notify_change() -> mark_inode_dirty() (fs/fs-writeback.c)",
    describe=lambda f: f"touch({f})",
    cites=(Cite("fs/fs-writeback.c", "__mark_inode_dirty", "6.6"),),
)
def touch_inode(op: Op, file: File) -> None:
    """A change of the inode's metadata by a task holding a reference
    (its open file): ``simple_setattr()``'s ``mark_inode_dirty()``, which
    sets I_DIRTY_DATASYNC with I_DIRTY_SYNC (utimensat(2) sets the times
    outright; a timestamp update, ``generic_update_time()``, sets
    I_DIRTY_SYNC alone).  The open file keeps the inode referenced: a
    scenario whose other thread drops the last reference is refused
    (``op.mapping``)."""
    op.mapping(file)
    part = part_of(op, file)
    mark_inode_dirty(op, part, datasync=True)


@touches(lambda _world: ([], []))
def _size_written(_scratch: Scratch) -> None:
    """``i_size_write()``: the size itself is not modelled."""


@operation(
    models="write(2) past EOF: generic_write_end() -> i_size_write(); mark_inode_dirty() "
    "(fs/buffer.c, include/linux/fs.h), the inode's side",
    describe=lambda f: f"extend({f})",
    cites=(
        Cite(
            "fs/buffer.c",
            "generic_write_end",
            "6.6",
            leaves_out=("folio_unlock", "folio_put"),
            because="the folio and the data are write(2)'s (mc.models.writeback.write); this is "
            "the inode's side of a write that grows the file",
        ),
        Cite("fs/fs-writeback.c", "__mark_inode_dirty", "6.6"),
    ),
)
def extend_inode(op: Op, file: File) -> None:
    """The inode's side of a write(2) that grows the file, by a task
    holding it open: ``file_start_write()`` (the SB_FREEZE_WRITE level
    shared), i_rwsem (``generic_file_write_iter()``), then
    ``generic_write_end()``'s ``if (pos + copied > inode->i_size) {
    i_size_write(); i_size_changed = true; }`` and, after the folio is
    unlocked, ``if (i_size_changed) mark_inode_dirty(inode)``:
    ``__mark_inode_dirty(inode, I_DIRTY)``, I_DIRTY_DATASYNC with
    I_DIRTY_SYNC (a change fdatasync(2) must write, the new size being
    needed to read the data back).  The folio, the data and the size
    itself are left out (``mc.models.writeback.write`` writes the page
    cache, whose ``->write_end``, ``simple_write_end()``, marks no inode):
    the inode's metadata version stands for the size.  The open file keeps
    the inode referenced: a scenario whose other thread drops the last
    reference is refused (``op.mapping``)."""
    op.mapping(file)
    part = part_of(op, file)
    inode = op.inode(file.path)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers,
        SHARED,
        "vfs_write(): file_start_write(file): sb_start_write(file_inode(file)->i_sb)",
        tag="sb-start-write",
    )
    op.lock(inode.i_rwsem, EXCL, "generic_file_write_iter(): inode_lock(inode)")
    op.effect(
        "generic_write_end(): if (pos+copied > inode->i_size) i_size_write(inode, pos+copied)",
        _size_written,
    )
    mark_inode_dirty(op, part, datasync=True)
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.unlock(
        writers,
        "file_end_write(file): sb_end_write(file_inode(file)->i_sb)",
        tag="sb-start-write",
    )
