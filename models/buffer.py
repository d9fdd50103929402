"""Metadata buffers: a block filesystem (ext2, minix, fat) updating a block
of its device through the buffer cache, the flusher and ``sync_blockdev()``
writing the device's dirty folio, reclaim freeing its buffers, and the
buffers' I/O completed by ``bh->b_end_io`` in interrupt context.

Read in fs/buffer.c of linux-next of the 6.7 cycle (ColinIanKing/linux-next
at 1cbb97a9, which still has ``mapping->private_lock`` and
``bdev_getblk()``; cited ``6.7`` below): ``__bread_gfp()``,
``bdev_getblk()``, ``__find_get_block_slow()``, ``__getblk_slow()``,
``grow_dev_page()``, ``__bread_slow()``, ``end_buffer_read_sync()``,
``mark_buffer_dirty()``, ``__brelse()``, ``__sync_dirty_buffer()``,
``end_buffer_write_sync()``, ``__block_write_full_folio()``,
``end_buffer_async_write()``, ``buffer_busy()``, ``drop_buffers()`` and
``try_to_free_buffers()``; ``write_cache_pages()`` (mm/page-writeback.c),
``sync_blockdev()`` (block/bdev.c), ``filemap_write_and_wait_range()``
(mm/filemap.c), and ``shrink_folio_list()`` and ``__remove_mapping()``
(mm/vmscan.c) as the writeback and reclaim models elsewhere read them in
6.6.  The lookup of 6.16 and newer (variant ``getblk-locks-folio``) was
read in 7ffe3de53a88 ("fs/buffer: split locking for pagecache lookups"),
"fs/buffer: introduce __find_get_block_nonatomic()" and "fs/buffer: use
sleeping lookup in __getblk_slowpath()" as posted to linux-fsdevel
(2025-04, the stable backports of 6.14): ``bdev_getblk()`` with a gfp that
allows blocking looks up under the folio lock, not ``private_lock``.

State: one block of the device and the one folio of the device's mapping
that caches it (the block is a page: one buffer per folio).  The buffer's
``BH_Lock`` (a sleeping bit lock, held across its I/O and released by the
completion), ``BH_Uptodate``, ``BH_Dirty`` and ``b_count``; which
buffer_head is attached (each attachment is a new one, so a thread that
kept a pointer to a freed one is seen touching it); the folio's lock,
PG_dirty, PG_writeback, its DIRTY mark (what writeback looks it up by)
and the references threads hold to it; the mapping's ``private_lock``;
what the buffer and the block hold (the set of the updates in them: each
updater sets a bit of its own, as ``ext2_new_blocks()`` sets one in a
block bitmap); the bios in flight; and the updates made and those whose
``mark_buffer_dirty()`` returned, for ``metadata-update-durable`` and
``metadata-synced``.

What the model leaves out: I/O errors (every read and write succeeds, so
``__bread_slow()`` never returns NULL); the per-CPU ``bh_lrus`` (a buffer
found there holds a reference the same way, and is found without the
folio lock: under ``getblk-locks-folio`` every lookup is the LRU's miss,
the one that can wait); ``__folio_mark_dirty()``'s
``i_pages`` lock and ``__mark_inode_dirty()`` (the DIRTY mark is set with
PG_dirty, in one step); the TOWRITE mark (``tag_pages_for_writeback()``:
the one folio is looked up by its DIRTY mark when ``sync_blockdev()``
looks); the buffers of other filesystems' files on the device's
``private_list`` (``mark_buffer_dirty_inode()``, ``sync_mapping_buffers()``);
pageout of a dirty folio by reclaim (it keeps dirty folios);
``folio_wait_stable()`` (the device does
not need stable pages); and the data a write carries is the buffer's at
submission (a change made during the I/O is written again, as its
``mark_buffer_dirty()`` redirtied the buffer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import attrs

from mc.dsl import (
    EXCL,
    Cite,
    Holders,
    LockKind,
    ModelError,
    Op,
    Scratch,
    State,
    World,
    const,
    flag_variant,
    not_,
    operation,
    same,
)
from mc.dsl.callers import caller_source
from mc.dsl.operation import as_lock
from mc.dsl.steps import Context, Fire, LockStep, Regions, Step
from mc.dsl.wait_steps import WaitStep
from mc.engine.model import Footprint
from mc.kernel.expr import Expr
from mc.kernel.locks import Lock
from mc.kernel.world import LOCK_PROTOCOL, others_returned
from mc.models.writeback import next_completion

BH_UPTODATE, BH_DIRTY = 1, 2
PG_DIRTY, PG_WRITEBACK, TAG_DIRTY = 1, 2, 4
"""The folio's flags, and its DIRTY mark in the mapping's i_pages: set with
PG_dirty by ``__folio_mark_dirty()``, cleared by ``folio_start_writeback()``
of a folio no longer dirty (``folio_clear_dirty_for_io()`` and
``folio_cancel_dirty()`` leave it), and what writeback looks folios up by."""
READ, WRITE_SYNC, WRITE_ASYNC = "read", "sync write", "async write"
END_IO = {
    # the b_end_io each kind of bio is submitted with, as traces name it
    READ: "end_buffer_read_sync",
    WRITE_SYNC: "end_buffer_write_sync",
    WRITE_ASYNC: "end_buffer_async_write",
}

BH_USE_AFTER_FREE = "bh-no-use-after-free"
"""The property a step breaks when it touches a buffer_head that
``try_to_free_buffers()`` freed (what KASAN reports as a use after free)."""

METADATA_SYNCED = "metadata-synced"
"""The property ``sync_bdev`` breaks when it returns with an update it had
to write not on the device."""

BREAD_SKIPS_UPTODATE_RECHECK = "bread-skips-uptodate-recheck"
FREE_BUFFERS_IGNORES_B_COUNT = "free-buffers-ignores-b_count"
WRITEBACK_SKIPS_REDIRTY = "writeback-skips-redirty"
SYNC_WRITEBACK_TRYLOCKS = "sync-writeback-trylocks"
CANCEL_REVOKE_LOCKS_FOLIO = "cancel-revoke-locks-folio"
GETBLK_LOCKS_FOLIO = "getblk-locks-folio"

flag_variant(
    BREAD_SKIPS_UPTODATE_RECHECK,
    "__bread_slow() reads the block once it holds the buffer lock without testing "
    "buffer_uptodate() again: a second reader that waited for the lock reads the block over "
    "an update made to the buffer since the first read",
)
flag_variant(
    FREE_BUFFERS_IGNORES_B_COUNT,
    "buffer_busy() does not count b_count: try_to_free_buffers() frees a clean, unlocked "
    "buffer_head a filesystem still holds from sb_bread()",
)
flag_variant(
    WRITEBACK_SKIPS_REDIRTY,
    "__block_write_full_folio() under WB_SYNC_NONE skips a buffer it cannot trylock without "
    "folio_redirty_for_writepage(): the folio is left clean over a dirty buffer",
)
flag_variant(
    CANCEL_REVOKE_LOCKS_FOLIO,
    "jbd2_journal_cancel_revoke() looks a revoked buffer's alias up with "
    "__find_get_block_nonatomic(), which takes the folio lock, for a buffer of the block "
    "device too, under the buffer lock ext4_getblk() holds: f76d4c28a46a ('fs/jbd2: use "
    "sleeping version of __find_get_block()', 6.16) to 981fcc5674e6, an ABBA against "
    "writeback's folio lock -> lock_buffer()",
)
flag_variant(
    GETBLK_LOCKS_FOLIO,
    "bdev_getblk() as of 6.16: a caller that may block looks the buffer up with "
    "__find_get_block_nonatomic(), whose __find_get_block_slow() takes the folio lock where "
    "6.15 and older took private_lock (7ffe3de53a88 'fs/buffer: split locking for pagecache "
    "lookups' and 'fs/buffer: introduce __find_get_block_nonatomic()')",
)
flag_variant(
    SYNC_WRITEBACK_TRYLOCKS,
    "__block_write_full_folio() trylocks the buffer under WB_SYNC_ALL too: a data-integrity "
    "sync skips (and redirties) a buffer another writer's I/O holds instead of waiting for it",
)


def _render_bits(value: frozenset[str] | None) -> str:
    if value is None:
        return "not read"
    return "{" + ", ".join(sorted(value)) + "}" if value else "no bits set"


def _render_bh(value: int | None) -> str:
    return "no buffers" if value is None else f"buffer_head #{value}"


def _render_bh_state(value: int) -> str:
    names = [name for bit, name in ((BH_UPTODATE, "Uptodate"), (BH_DIRTY, "Dirty")) if value & bit]
    return "|".join(names) or "0"


def _render_folio(value: int | None) -> str:
    if value is None:
        return "not cached"
    names = [
        name
        for bit, name in ((PG_DIRTY, "dirty"), (PG_WRITEBACK, "writeback"), (TAG_DIRTY, "tagged"))
        if value & bit
    ]
    return "cached, " + ("|".join(names) or "clean")


def _bio_text(kind: str, bits: frozenset[str] | None) -> str:
    return "read" if kind == READ else f"{kind} of {_render_bits(bits)}"


def _render_bios(value: tuple[tuple[str, Any], ...]) -> str:
    return "; ".join(_bio_text(kind, bits) for kind, bits in value) if value else "none"


@attrs.frozen
class MetaBlock:
    """A block of the device and the buffer cache's folio over it: the
    locks and the slots of their state (see the module's docstring)."""

    name: str
    bh_lock: Lock
    folio_lock: Lock
    private_lock: Lock
    bh: int
    bh_state: int
    b_count: int
    attached: int
    folio: int
    folio_refs: int
    data: int
    block: int
    bios: int
    updates: int
    dirtied: int
    irq: list[int]
    """The thread of the I/O completion (filled in as that thread is built)."""

    def __str__(self) -> str:
        return self.name


def meta_block(world: World) -> MetaBlock:
    """The block of the scenario, made on first use: not cached, no bits set."""
    found = world.parts.get("buffer")
    if isinstance(found, MetaBlock):
        return found
    made = MetaBlock(
        "block 7",
        world.add_lock("BH_Lock(block 7)", LockKind.BIT_LOCK, "BH_Lock"),
        world.add_lock("PG_locked(bdev:0)", LockKind.BIT_LOCK, "PG_locked"),
        world.add_lock("private_lock(bdev)", LockKind.SPINLOCK, "private_lock"),
        world.add_slot("bh(block 7)", None, _render_bh),
        world.add_slot("b_state(block 7)", 0, _render_bh_state),
        world.add_slot("b_count(block 7)", 0),
        world.add_slot("buffer_heads attached(block 7)", 0),
        world.add_slot("folio(bdev:0)", None, _render_folio),
        world.add_slot("folio references(bdev:0)", 0),
        world.add_slot("b_data(block 7)", None, _render_bits),
        world.add_slot("on disk(block 7)", frozenset(), _render_bits),
        world.add_slot("bios in flight(block 7)", (), _render_bios),
        world.add_slot("updates made(block 7)", frozenset(), _render_bits),
        world.add_slot("updates dirtied(block 7)", frozenset(), _render_bits),
        [],
    )
    world.parts["buffer"] = made
    return made


def _lock_holder(b: MetaBlock) -> Holders:
    """Who could end a wait for the buffer's lock: the thread holding it
    (the completion thread while its I/O is in flight)."""
    slot = b.bh_lock.slot
    return lambda state: () if state[slot] is None or state[slot] < 0 else (state[slot],)


def _no_completer(b: MetaBlock) -> Callable[[World], str]:
    """What a scenario lacks when no thread could end a wait for the
    buffer's I/O: a completion thread, if it has none."""
    return lambda _world: (
        "" if b.irq else "no thread of the scenario completes bios: add a bh_io_completion() thread"
    )


def _freed(b: MetaBlock, bh: int, what: str) -> str:
    """What a use after free of buffer_head ``bh`` by ``what`` says."""
    return (
        f"{what} touches buffer_head #{bh} of {b}, which try_to_free_buffers() freed "
        "(drop_buffers() found it idle while a pointer to it was in use)"
    )


def touch_buffer_head(scratch: Scratch, b: MetaBlock, bh: int, what: str) -> bool:
    """Whether buffer_head ``bh`` is still attached; if not, ``what`` (done
    by the thread through its pointer) is a use after free."""
    if scratch[b.bh] == bh:
        return True
    scratch.violate(BH_USE_AFTER_FREE, _freed(b, bh, what))
    return False


def _through_pointer(context: Context, b: MetaBlock, bh: Expr, label: str, fire: Fire) -> Fire:
    """``fire`` of a step that reads the buffer_head the thread's pointer
    ``bh`` holds (its ``b_state``), checked first: through a buffer_head
    reclaim freed, the step is a use after free, whether or not it could
    go on (a waiter for the lock or the I/O reads ``b_state`` again once
    woken)."""
    pointer, attached, name = bh.compile(context.world), b.bh, context.thread.name

    def checked(state: State) -> tuple[State, ...]:
        held = pointer(state)
        if held is not None and state[attached] != held:
            message = _freed(b, held, f"{name}'s '{label}'")
            return (context.error(state, BH_USE_AFTER_FREE, message),)
        return fire(state)

    return checked


class _ThroughPointer:
    """What a step class that reads the buffer_head the thread's pointer
    ``bh`` holds adds to the step class after it (``_through_pointer``):
    its footprint reads the pointer and which buffer_head is attached."""

    block: MetaBlock
    bh: Expr
    label: str

    def footprint(self, regions: Regions) -> Footprint:
        pointer = Footprint(regions.read(self.bh) | 1 << self.block.bh, 0)
        return cast(Step, super()).footprint(regions) | pointer

    def compile(self, context: Context) -> Fire:
        fire = cast(Step, super()).compile(context)
        return _through_pointer(context, self.block, self.bh, self.label, fire)


@attrs.frozen(kw_only=True)
class BufferLockStep(_ThroughPointer, LockStep):
    """``lock_buffer(bh)`` through the thread's pointer: taking BH_Lock
    reads the buffer_head's ``b_state``."""

    block: MetaBlock = attrs.field(eq=False)
    bh: Expr


@attrs.frozen(kw_only=True)
class BufferWaitStep(_ThroughPointer, WaitStep):
    """``wait_on_buffer(bh)`` through the thread's pointer: it tests
    ``buffer_locked(bh)``, and again once woken."""

    block: MetaBlock = attrs.field(eq=False)
    bh: Expr


# --- sb_bread() -------------------------------------------------------------------------


def find_get_block(scratch: Scratch, b: MetaBlock) -> int | None:
    """``__find_get_block()``: the buffer_head attached to the block's
    folio, with a reference (``get_bh()``), or None when none is."""
    if scratch[b.bh] is None:
        return None
    scratch[b.b_count] += 1
    return int(scratch[b.bh])


def get_folio_buffers(scratch: Scratch, b: MetaBlock) -> int:
    """``__filemap_get_folio(FGP_CREAT)``'s folio, with a reference (a new
    one, not read, if none is cached), and whether it has buffers."""
    if scratch[b.folio] is None:
        scratch[b.folio] = 0
        scratch[b.data] = None
    scratch[b.folio_refs] += 1
    return int(scratch[b.bh] is not None)


def _folio_put(scratch: Scratch, b: MetaBlock) -> None:
    scratch[b.folio_refs] -= 1


def link_buffers(scratch: Scratch, b: MetaBlock, tid: int) -> None:
    """``link_dev_buffers()`` and ``folio_init_buffers()``: a new
    buffer_head, not uptodate (as the folio of a block read by ``bread()``
    is not).  Linking over buffers another thread linked since this one
    found none leaks theirs: a lock-protocol error."""
    if scratch[b.bh] is not None:
        scratch.violate(
            LOCK_PROTOCOL,
            f"{scratch.world.thread_names[tid]} links buffers to the folio of {b}, which "
            f"has buffer_head #{scratch[b.bh]} since it found none: those buffers leak "
            "(grow_dev_page() tests folio_buffers() and links under one folio lock)",
        )
        return
    scratch[b.attached] += 1
    scratch[b.bh] = scratch[b.attached]
    scratch[b.bh_state] = 0


def _submit(scratch: Scratch, b: MetaBlock, kind: str, tid: int) -> None:
    """``submit_bh()`` by thread ``tid`` of the buffer it locked: the bio is
    in flight and the buffer lock belongs to the I/O, whose completion
    unlocks it (with no completion thread the submitter keeps it, and its
    wait for the I/O says what is missing).  Submitting a buffer the thread did not lock is a
    lock-protocol error (``submit_bh_wbc()``: ``BUG_ON(!buffer_locked(bh))``
    where nobody holds it; another's I/O or another's lock where someone
    does)."""
    holder = scratch[b.bh_lock.slot]
    if holder != tid:
        names = scratch.world.thread_names
        held = "nobody holds" if holder is None else f"{names[holder]} holds"
        scratch.violate(
            LOCK_PROTOCOL,
            f"{names[tid]} submits I/O of the buffer of {b} without holding its BH_Lock "
            f"({held} it): submit_bh_wbc() requires the buffer locked by its submitter",
        )
        return
    bits = None if kind == READ else scratch[b.data]
    scratch[b.bios] = tuple(sorted((*scratch[b.bios], (kind, bits)), key=repr))
    if b.irq:
        scratch[b.bh_lock.slot] = b.irq[0]


def submit_read(scratch: Scratch, b: MetaBlock, bh: int, tid: int) -> None:
    """``get_bh(bh); submit_bh(REQ_OP_READ, bh)`` through the thread's
    pointer ``bh`` (a use after free once reclaim freed it)."""
    if touch_buffer_head(scratch, b, bh, "submit_bh(REQ_OP_READ, bh)"):
        scratch[b.b_count] += 1
        _submit(scratch, b, READ, tid)


def _cached_folio(scratch: Scratch, b: MetaBlock) -> int:
    """``__filemap_get_folio(bd_mapping, index, FGP_ACCESSED, 0)``: 1 with a
    reference to the cached folio, 0 when none is cached."""
    if scratch[b.folio] is None:
        return 0
    scratch[b.folio_refs] += 1
    return 1


def _find_get_block_put(scratch: Scratch, b: MetaBlock) -> int | None:
    """``__find_get_block_slow()`` under the folio lock: the buffer_head
    with a reference, or None; and the folio's reference dropped (its
    ``folio_put()`` follows the unlock in the kernel, which nobody can tell
    apart while the lookup holds the folio lock)."""
    _folio_put(scratch, b)
    return find_get_block(scratch, b)


def find_buffer(op: Op, b: MetaBlock) -> Expr:
    """``__find_get_block()`` as ``bdev_getblk()`` calls it: under
    ``private_lock``, or under variant ``getblk-locks-folio`` (6.16 and
    newer) ``__find_get_block_nonatomic()``: the cached folio looked up
    with a reference, then its lock taken around the lookup of its
    buffers.  The register ``bh`` the thread holds the buffer_head in."""
    if not op.variant(GETBLK_LOCKS_FOLIO):
        return op.compute(
            "bh",
            "bh = __find_get_block(bdev, block, size): spin_lock(&bd_mapping->private_lock); "
            "if (folio_buffers(folio)) get_bh(bh); spin_unlock(&bd_mapping->private_lock)",
            find_get_block,
            b,
            render=_render_bh,
            under=b.private_lock,
        )
    found = op.compute(
        "folio",
        "bh = __find_get_block_nonatomic(bdev, block, size): __find_get_block_slow(bdev, block, "
        "false): folio = __filemap_get_folio(bd_mapping, index, FGP_ACCESSED, 0)",
        _cached_folio,
        b,
    )
    with op.when(same(found, const(1, "a folio")), "if (!IS_ERR(folio))"):
        op.lock(b.folio_lock, EXCL, "folio_lock(folio) /* atomic == false */")
        bh = op.compute(
            "bh",
            "head = folio_buffers(folio); if (head) { ret = bh; get_bh(bh); } folio_put(folio)",
            _find_get_block_put,
            b,
            render=_render_bh,
        )
        op.unlock(b.folio_lock, "out_unlock: folio_unlock(folio)")
    with op.otherwise():
        op.let("bh", None, "bh = NULL /* no folio cached */")
    return bh


def getblk(op: Op, b: MetaBlock) -> Expr:
    """``bdev_getblk()``: ``__find_get_block()`` takes a reference to the
    attached buffer_head (``find_buffer``); with none,
    ``grow_dev_page()`` attaches one under the folio lock and the lookup
    runs again.  Returns the register holding the thread's buffer_head."""
    retry = op.fresh_label("getblk")
    op.label(retry)
    bh = find_buffer(op, b)
    with op.when(same(bh, const(None, "NULL")), "if (!bh)"):
        op.lock(
            b.folio_lock,
            EXCL,
            "__getblk_slow(): grow_dev_page(): folio = __filemap_get_folio(inode->i_mapping, "
            "index, FGP_LOCK | FGP_ACCESSED | FGP_CREAT, gfp)",
        )
        buffers = op.compute("buffers", "bh = folio_buffers(folio)", get_folio_buffers, b)
        with op.when(same(buffers, const(0, "0")), "if (!folio_buffers(folio))"):
            op.section(
                b.private_lock,
                "bh = folio_alloc_buffers(folio, size, gfp); "
                "spin_lock(&inode->i_mapping->private_lock); link_dev_buffers(folio, bh); "
                "folio_init_buffers(); spin_unlock(&inode->i_mapping->private_lock)",
                link_buffers,
                b,
                op.thread.tid,
            )
        op.unlock(b.folio_lock, "folio_unlock(folio)")
        op.effect("folio_put(folio) /* and look again */", _folio_put, b)
        op.goto(retry)
    return bh


def bread(op: Op, b: MetaBlock) -> Expr:
    """``sb_bread()`` -> ``__bread_gfp()``: ``bdev_getblk()``, then for a
    buffer that is not uptodate ``__bread_slow()``: lock the buffer, test
    ``buffer_uptodate()`` again (another reader may have read it while
    this one waited for the lock), else read it with ``b_end_io =
    end_buffer_read_sync`` and ``wait_on_buffer()``.  Returns the
    thread's buffer_head, as an expression to pass to ``update``,
    ``mark_buffer_dirty``, ``sync_dirty_buffer`` and ``brelse``."""
    bh = getblk(op, b)
    done = op.fresh_label("bread_done")
    uptodate = buffer_test(b, BH_UPTODATE, "buffer_uptodate(bh)")
    with op.when(not_(uptodate), "if (likely(bh) && !buffer_uptodate(bh))"):
        lock_buffer(op, b, bh, "bh = __bread_slow(bh): lock_buffer(bh)")
        if not op.variant(BREAD_SKIPS_UPTODATE_RECHECK):
            with op.when(uptodate, "if (buffer_uptodate(bh))"):
                op.unlock(b.bh_lock, "unlock_buffer(bh); return bh")
                op.goto(done)
        op.effect(
            "get_bh(bh); bh->b_end_io = end_buffer_read_sync; submit_bh(REQ_OP_READ, bh)",
            submit_read,
            b,
            bh,
            op.thread.tid,
        )
        wait_on_buffer(op, b, bh)
    op.label(done)
    return bh


def _pointer(function: str, bh: object) -> Expr:
    if not isinstance(bh, Expr):
        raise ModelError(
            f"{function}(op, b, bh, label): bh is the buffer_head bread() returned, not {bh!r}"
        )
    return bh


def lock_buffer(op: Op, b: MetaBlock, bh: Expr, label: str = "lock_buffer(bh)") -> None:
    """``lock_buffer(bh)``: take the buffer's BH_Lock (held across its I/O,
    which ``unlock_buffer`` or the I/O's completion releases) through the
    thread's buffer_head ``bh``; through one reclaim freed, a use after
    free, also where the thread waited for the lock while it was freed."""
    op.emit(
        BufferLockStep(
            label=label,
            source=caller_source(),
            lock=as_lock(b.bh_lock),
            mode=EXCL,
            block=b,
            bh=_pointer("lock_buffer", bh),
        )
    )


def unlock_buffer(op: Op, b: MetaBlock, label: str = "unlock_buffer(bh)") -> None:
    """``unlock_buffer(bh)``: release the BH_Lock ``lock_buffer`` took."""
    op.unlock(b.bh_lock, label)


def wait_on_buffer(op: Op, b: MetaBlock, bh: Expr, label: str = "wait_on_buffer(bh)") -> None:
    """``wait_on_buffer(bh)``: sleep until the buffer is unlocked (its I/O
    completed), through the thread's buffer_head ``bh``: through one
    reclaim freed, a use after free, also where it was freed while the
    thread slept (woken, it tests ``buffer_locked()`` again)."""
    unlocked = _slot_is(b.bh_lock.slot, "!buffer_locked(bh)", lambda value: value is None)
    op.emit(
        BufferWaitStep(
            label=label,
            source=caller_source(),
            cond=unlocked,
            resource=str(b.bh_lock),
            holders=_lock_holder(b),
            unheld=_no_completer(b),
            block=b,
            bh=_pointer("wait_on_buffer", bh),
        )
    )


def _slot_is(slot: int, text: str, test: Callable[[Any], Any]) -> Expr:
    """Whether ``test`` holds of what ``slot`` holds (the one slot the
    condition reads, for partial-order reduction)."""
    return Expr(
        text, lambda _world: lambda state: bool(test(state[slot])), reads=frozenset((slot,))
    )


def buffer_test(b: MetaBlock, bit: int, text: str) -> Expr:
    """Whether the buffer's state has ``bit``."""
    return _slot_is(b.bh_state, text, lambda flags: flags & bit)


def block_folio_test(b: MetaBlock, text: str, test: Callable[[int], Any]) -> Expr:
    """Whether the folio is cached and ``test`` holds of its flags."""
    return _slot_is(b.folio, text, lambda flags: flags is not None and test(flags))


# --- the update --------------------------------------------------------------------------


def _update(scratch: Scratch, b: MetaBlock, bh: int, bit: str) -> None:
    if touch_buffer_head(scratch, b, bh, f"setting bit {bit} in bh->b_data"):
        scratch[b.data] = (scratch[b.data] or frozenset()) | {bit}
        scratch[b.updates] = scratch[b.updates] | {bit}


def _set_buffer_dirty(scratch: Scratch, b: MetaBlock, bh: int, bit: str) -> int:
    """``mark_buffer_dirty()`` up to its folio: whether the buffer was
    newly dirtied (``!test_set_buffer_dirty(bh)``); if not, the call
    returns, and the update ``bit`` is dirtied."""
    if not touch_buffer_head(scratch, b, bh, "mark_buffer_dirty(bh)"):
        return 0
    if scratch[b.bh_state] & BH_DIRTY:
        scratch[b.dirtied] = scratch[b.dirtied] | {bit}
        return 0
    scratch[b.bh_state] |= BH_DIRTY
    return 1


def _set_folio_dirty(scratch: Scratch, b: MetaBlock, bh: int, bit: str) -> None:
    if touch_buffer_head(scratch, b, bh, "folio_test_set_dirty(bh->b_folio)"):
        scratch[b.folio] |= PG_DIRTY | TAG_DIRTY
        scratch[b.dirtied] = scratch[b.dirtied] | {bit}


def mark_buffer_dirty(op: Op, b: MetaBlock, bh: Expr, bit: str) -> None:
    """``mark_buffer_dirty()`` of the update ``bit``: set BH_Dirty; if
    newly set, dirty the folio (``folio_test_set_dirty()``, and for a newly
    dirty folio ``__folio_mark_dirty()``'s DIRTY mark, which PG_dirty
    stands for here).  Once it returns the update counts as dirtied, which
    ``sync_bdev`` promises to write."""
    newly = op.compute(
        "newly_dirty",
        "mark_buffer_dirty(bh): if (buffer_dirty(bh)) return; if (!test_set_buffer_dirty(bh))",
        _set_buffer_dirty,
        b,
        bh,
        bit,
    )
    with op.when(same(newly, const(1, "1")), "if (!test_set_buffer_dirty(bh))"):
        op.effect(
            "if (!folio_test_set_dirty(folio)) __folio_mark_dirty(folio, mapping, 0)",
            _set_folio_dirty,
            b,
            bh,
            bit,
        )


def clear_dirty_and_write(scratch: Scratch, b: MetaBlock, bh: int, tid: int) -> int:
    """``test_clear_buffer_dirty()``; if it was dirty, ``get_bh()`` and
    ``submit_bh()`` with ``end_buffer_write_sync``.  Whether it was.  The
    caller's reference is checked here, as ``__sync_dirty_buffer()``'s
    ``WARN_ON(atomic_read(&bh->b_count) < 1)`` does first."""
    if not touch_buffer_head(scratch, b, bh, "__sync_dirty_buffer(bh)"):
        return 0
    if scratch[b.b_count] < 1:
        scratch.violate(
            BH_USE_AFTER_FREE,
            f"{scratch.world.thread_names[tid]} syncs {b}'s buffer_head holding no reference "
            "to it: __sync_dirty_buffer()'s WARN_ON(atomic_read(&bh->b_count) < 1) (a brelse() "
            "before the sync, and reclaim may free it)",
        )
        return 0
    if not scratch[b.bh_state] & BH_DIRTY:
        return 0
    scratch[b.bh_state] &= ~BH_DIRTY
    scratch[b.b_count] += 1
    _submit(scratch, b, WRITE_SYNC, tid)
    return 1


def _sync_written(scratch: Scratch, b: MetaBlock, bit: str, tid: int) -> None:
    if bit not in scratch[b.block]:
        scratch.violate(
            METADATA_SYNCED,
            f"{scratch.world.thread_names[tid]}'s sync_dirty_buffer() returns with its update "
            f"{bit} of {b} not on the device (the block holds {_render_bits(scratch[b.block])}): "
            "a sync mount's update must be on disk when the call returns (I/O errors and "
            "discarded buffers are not modelled)",
        )


def sync_dirty_buffer(op: Op, b: MetaBlock, bh: Expr, bit: str | None = None) -> None:
    """``sync_dirty_buffer()`` -> ``__sync_dirty_buffer(bh, REQ_SYNC)``: lock
    the buffer; if ``test_clear_buffer_dirty()``, write it with
    ``end_buffer_write_sync`` and ``wait_on_buffer()``; else unlock it (a
    writer that cleared the dirty bit held the buffer lock until its write
    was done).  With ``bit``, the update the caller made: on the device when
    the call returns (``metadata-synced``)."""
    lock_buffer(op, b, bh, "sync_dirty_buffer(bh): lock_buffer(bh)")
    written = op.compute(
        "written",
        "if (test_clear_buffer_dirty(bh)) { get_bh(bh); bh->b_end_io = end_buffer_write_sync; "
        "submit_bh(REQ_OP_WRITE | REQ_SYNC, bh); }",
        clear_dirty_and_write,
        b,
        bh,
        op.thread.tid,
    )
    with op.when(same(written, const(1, "1")), "if (test_clear_buffer_dirty(bh))"):
        wait_on_buffer(op, b, bh)
    with op.otherwise():
        op.unlock(b.bh_lock, "unlock_buffer(bh)")
    if bit is not None:
        op.effect("return 0 /* the buffer is on disk */", _sync_written, b, bit, op.thread.tid)


def _brelse(scratch: Scratch, b: MetaBlock, bh: int) -> None:
    if touch_buffer_head(scratch, b, bh, "brelse(bh)"):
        scratch[b.b_count] -= 1


def update(op: Op, b: MetaBlock, bh: Expr, bit: str, label: str) -> None:
    """One step, labelled ``label``, that sets the update ``bit`` (a name of
    the thread's own) in the data of the buffer ``bh`` (what ``bread``
    returned) and records it for ``metadata-update-durable``; through a
    buffer_head reclaim freed, a use after free.  Being one step, two
    threads' updates (different bits, as two inodes' fields in one inode
    table block) never tear each other: an update that rewrites what
    another may change (a read of ``b.data``, then a write of it) is two
    steps of the caller's own, whose lock then matters."""
    op.effect(label, _update, b, bh, bit)


def brelse(op: Op, b: MetaBlock, bh: Expr) -> None:
    """``brelse(bh)``: the reference ``bread`` took is dropped (through a
    buffer_head reclaim freed, a use after free)."""
    op.effect("brelse(bh)", _brelse, b, bh)


BUFFER_CITES = (
    Cite("fs/buffer.c", "__bread_gfp", "6.7"),
    Cite("fs/buffer.c", "bdev_getblk", "6.7"),
    Cite("fs/buffer.c", "__getblk_slow", "6.7"),
    Cite("fs/buffer.c", "grow_dev_page", "6.7"),
    Cite("fs/buffer.c", "__bread_slow", "6.7"),
    Cite("fs/buffer.c", "mark_buffer_dirty", "6.7"),
    Cite("fs/buffer.c", "__brelse", "6.7"),
)


@operation(
    models="sb_bread(), setting a bit of the block, mark_buffer_dirty(), sync_dirty_buffer() "
    "on a sync mount, brelse() (fs/buffer.c)",
    describe=lambda bit, sync=False: f"update({bit}{', sync' if sync else ''})",
    cites=(
        *BUFFER_CITES,
        Cite("fs/buffer.c", "__sync_dirty_buffer", "6.7"),
        Cite("fs/ext2/balloc.c", "ext2_new_blocks", "6.7", leaves_out=("spin_lock", "spin_unlock")),
    ),
)
def update_block(op: Op, bit: str, sync: bool = False) -> None:
    """A filesystem updating a metadata block as ``ext2_new_blocks()``
    updates a block bitmap: ``sb_bread()``, set the bit ``bit`` under the
    filesystem's own lock (one step), ``mark_buffer_dirty()``; on a mount
    with ``sync`` (``MS_SYNCHRONOUS``) ``sync_dirty_buffer()``; ``brelse()``."""
    b = meta_block(op.world)
    bh = bread(op, b)
    update(op, b, bh, bit, f"ext2_set_bit_atomic(sb_bgl_lock(sbi, group), {bit}, bh->b_data)")
    mark_buffer_dirty(op, b, bh, bit)
    if sync:
        sync_dirty_buffer(op, b, bh, bit)
    brelse(op, b, bh)


def _fresh_block(scratch: Scratch, b: MetaBlock, bh: int, bit: str) -> None:
    """``memset(bh->b_data, 0, ...); set_buffer_uptodate(bh)`` with the new
    block's first content, the update ``bit``: the updates made to the
    block before it was freed and reused are void, none owed to the device
    any more (``metadata-update-durable``, ``metadata-synced``)."""
    if touch_buffer_head(scratch, b, bh, "memset(bh->b_data); set_buffer_uptodate(bh)"):
        scratch[b.data] = frozenset({bit})
        scratch[b.updates] = frozenset({bit})
        scratch[b.dirtied] = frozenset()
        scratch[b.bh_state] |= BH_UPTODATE


@operation(
    models="ext4_getblk() of a newly allocated block (ext4_mkdir() -> ext4_append()): "
    "sb_getblk(), lock_buffer(), ext4_journal_get_create_access() -> "
    "jbd2_journal_cancel_revoke(), the new content, unlock_buffer(), "
    "ext4_handle_dirty_metadata() (fs/ext4/inode.c, fs/jbd2/revoke.c)",
    describe=lambda bit: f"create_block({bit})",
    cites=(
        *BUFFER_CITES,
        Cite("fs/ext4/inode.c", "ext4_getblk", "6.17-rc3 (Kingxukai/linux 0291023e)"),
        Cite("fs/jbd2/revoke.c", "jbd2_journal_cancel_revoke", "7.0 (981fcc5674e6)"),
    ),
)
def create_block(op: Op, bit: str) -> None:
    """A filesystem that allocated a new metadata block filling it, as
    ``ext4_getblk()`` does for ``EXT4_MAP_NEW`` (fs/ext4/inode.c): the
    buffer from ``sb_getblk()`` (no read), ``lock_buffer(bh)``, then
    ``ext4_journal_get_create_access()`` -> ``jbd2_journal_get_create_access()``
    -> ``jbd2_journal_cancel_revoke()`` (fs/jbd2/revoke.c): when the block
    was revoked (freed and revoked in the running transaction, now
    reused: ``test_clear_buffer_revoked()``, chosen both ways under the
    variant below), the
    alias of the buffer in the block device's cache is looked up to
    clear its revoked bit too, which 981fcc5674e6 ("jbd2: fix deadlock in
    jbd2_journal_cancel_revoke()", 7.0 and stable) does only for a buffer
    that is not the block device's own (``!sb_is_blkdev_sb()``): this one
    is, so no lookup.  From f76d4c28a46a (6.16) until that fix the lookup
    was ``__find_get_block_nonatomic()``, whose ``__find_get_block_slow()``
    takes the folio lock (``folio_lock()``) under the buffer lock held
    here: variant ``cancel-revoke-locks-folio``, the ABBA against
    writeback's folio lock -> ``lock_buffer()`` (``sync_bdev``); before
    6.16 it was ``__find_get_block()`` under ``private_lock``, a spinlock.
    Then the new content (``memset()``, ``set_buffer_uptodate()``), the
    update ``bit``, ``unlock_buffer()`` and the dirtying
    (``ext4_handle_dirty_metadata()``: ``mark_buffer_dirty()`` without a
    journal), ``brelse()``.  Left out: the journal handle the caller holds
    and jbd2's own buffer bookkeeping (``jbd2_journal_add_journal_head()``,
    ``j_list_lock``); the block size equals the page size here (one buffer
    per folio), where the kernel's deadlock needs a smaller block: the
    folio and buffer locks are those of the block all the same."""
    b = meta_block(op.world)
    bh = getblk(op, b)
    lock_buffer(op, b, bh, "ext4_getblk(): lock_buffer(bh)")
    if op.variant(CANCEL_REVOKE_LOCKS_FOLIO):
        revoked = op.choose(
            "revoked",
            const((False, True), "{not revoked, revoked}"),
            "jbd2_journal_cancel_revoke(): need_cancel = test_clear_buffer_revoked(bh)",
        )
        with op.when(revoked, "if (need_cancel)"):
            op.lock(
                b.folio_lock,
                EXCL,
                "bh2 = __find_get_block_nonatomic(bh->b_bdev, bh->b_blocknr, bh->b_size): "
                "__find_get_block_slow(): folio_lock(folio)",
            )
            op.unlock(b.folio_lock, "__find_get_block_slow(): folio_unlock(folio); __brelse(bh2)")
    op.effect(
        "memset(bh->b_data, 0, sb->s_blocksize); set_buffer_uptodate(bh)",
        _fresh_block,
        b,
        bh,
        bit,
    )
    unlock_buffer(op, b, "ext4_getblk(): unlock_buffer(bh)")
    mark_buffer_dirty(op, b, bh, bit)
    brelse(op, b, bh)


# --- the flusher ---------------------------------------------------------------------------


def _clear_dirty_for_io(scratch: Scratch, b: MetaBlock) -> None:
    """``folio_clear_dirty_for_io()``, and buffers created dirty and
    uptodate for a folio that has none (``folio_create_buffers()``)."""
    scratch[b.folio] &= ~PG_DIRTY
    if scratch[b.bh] is None:
        scratch[b.attached] += 1
        scratch[b.bh] = scratch[b.attached]
        scratch[b.bh_state] = BH_UPTODATE | BH_DIRTY


def _mark_async_write(scratch: Scratch, b: MetaBlock) -> int:
    """``test_clear_buffer_dirty()``: a dirty buffer is cleaned and marked
    for async write (it stays locked).  Returns the writes underway."""
    if not scratch[b.bh_state] & BH_DIRTY:
        return 0
    scratch[b.bh_state] &= ~BH_DIRTY
    return 1


def _redirty(scratch: Scratch, b: MetaBlock) -> int:
    scratch[b.folio] |= PG_DIRTY | TAG_DIRTY
    return 0


def _nothing_underway(_scratch: Scratch, _b: MetaBlock) -> int:
    return 0


def _clear_folio_flag(scratch: Scratch, b: MetaBlock, flag: int) -> None:
    scratch[b.folio] &= ~flag


def _submit_async(scratch: Scratch, b: MetaBlock, tid: int) -> None:
    _submit(scratch, b, WRITE_ASYNC, tid)


def _start_writeback(scratch: Scratch, b: MetaBlock) -> None:
    """``folio_start_writeback()``: PG_writeback, and the DIRTY mark cleared
    unless the folio was redirtied; ``BUG_ON(folio_test_writeback(folio))``
    before it in ``__block_write_full_folio()`` is a lock-protocol error."""
    if scratch[b.folio] & PG_WRITEBACK:
        scratch.violate(
            LOCK_PROTOCOL,
            f"folio_start_writeback() of the folio of {b}, which is under writeback already "
            "(__block_write_full_folio(): BUG_ON(folio_test_writeback(folio)))",
        )
        return
    scratch[b.folio] |= PG_WRITEBACK
    if not scratch[b.folio] & PG_DIRTY:
        scratch[b.folio] &= ~TAG_DIRTY


def write_folio(op: Op, b: MetaBlock, sync_all: bool) -> None:
    """``write_cache_pages()`` over the device's folio, under ``WB_SYNC_ALL``
    with ``sync_all`` (else ``WB_SYNC_NONE``): the folio tagged dirty is
    locked and tested dirty again; one under writeback is waited for
    (``WB_SYNC_ALL``) or skipped; it is cleaned for I/O and written by
    ``__block_write_full_folio()``: its buffer locked (``WB_SYNC_ALL``)
    or trylocked, and when that fails (a writer's I/O holds it) skipped with
    ``folio_redirty_for_writepage()``; a dirty buffer is cleaned and
    submitted with ``end_buffer_async_write``; then
    ``folio_start_writeback()``, ``folio_unlock()``, and with nothing
    underway ``folio_end_writeback()`` at once."""
    done = op.fresh_label("written")
    tagged = block_folio_test(b, "nr_folios", lambda flags: flags & TAG_DIRTY)
    tag = "PAGECACHE_TAG_TOWRITE" if sync_all else "PAGECACHE_TAG_DIRTY"
    with op.when(
        not_(tagged), f"if (!filemap_get_folios_tag(mapping, &index, end, {tag}, &fbatch))"
    ):
        op.goto(done)
    op.lock(b.folio_lock, EXCL, "folio_lock(folio)")
    dirty = block_folio_test(b, "folio_test_dirty(folio)", lambda flags: flags & PG_DIRTY)
    writeback = block_folio_test(
        b, "folio_test_writeback(folio)", lambda flags: flags & PG_WRITEBACK
    )
    skip = op.fresh_label("continue_unlock")
    op.goto_if(not_(dirty), skip, "if (!folio_test_dirty(folio)) goto continue_unlock")
    if sync_all:
        with op.when(writeback, "if (folio_test_writeback(folio))"):
            op.wait_until(
                not_(writeback),
                "if (wbc->sync_mode != WB_SYNC_NONE) folio_wait_writeback(folio)",
                "PG_writeback(bdev:0)",
            )
    else:
        op.goto_if(writeback, skip, "if (folio_test_writeback(folio)) goto continue_unlock")
    op.effect(
        "folio_clear_dirty_for_io(folio); ->writepage(): block_write_full_page(): "
        "__block_write_full_folio(): head = folio_create_buffers(folio, inode, "
        "(1 << BH_Dirty) | (1 << BH_Uptodate))",
        _clear_dirty_for_io,
        b,
    )
    busy = op.fresh_label("busy")
    start = op.fresh_label("start")
    blocking = sync_all and not op.variant(SYNC_WRITEBACK_TRYLOCKS)
    if blocking:
        op.lock(b.bh_lock, EXCL, "if (wbc->sync_mode != WB_SYNC_NONE) lock_buffer(bh)")
    else:
        op.trylock(b.bh_lock, busy, "else if (!trylock_buffer(bh))")
    underway = op.compute(
        "underway",
        "if (test_clear_buffer_dirty(bh)) mark_buffer_async_write_endio(bh, handler)",
        _mark_async_write,
        b,
    )
    with op.when(same(underway, const(0, "0")), "if (!test_clear_buffer_dirty(bh))"):
        op.unlock(b.bh_lock, "unlock_buffer(bh)")
    if not blocking:
        op.goto(start)
        op.label(busy)
        if op.variant(WRITEBACK_SKIPS_REDIRTY):
            op.compute(
                "underway", "continue /* the folio is not redirtied */", _nothing_underway, b
            )
        else:
            op.compute("underway", "folio_redirty_for_writepage(wbc, folio); continue", _redirty, b)
    op.label(start)
    op.effect(
        "BUG_ON(folio_test_writeback(folio)); folio_start_writeback(folio)",
        _start_writeback,
        b,
    )
    with op.when(same(underway, const(1, "1")), "if (buffer_async_write(bh))"):
        op.effect(
            "submit_bh_wbc(REQ_OP_WRITE | write_flags, bh, wbc)", _submit_async, b, op.thread.tid
        )
    op.unlock(b.folio_lock, "folio_unlock(folio)")
    with op.when(same(underway, const(0, "0")), "if (nr_underway == 0)"):
        op.effect("folio_end_writeback(folio)", _clear_folio_flag, b, PG_WRITEBACK)
    op.goto(done)
    op.label(skip)
    op.unlock(b.folio_lock, "continue_unlock: folio_unlock(folio)")
    op.label(done)


WRITEBACK_CITES = (
    Cite("mm/page-writeback.c", "write_cache_pages", "6.6"),
    Cite("fs/buffer.c", "__block_write_full_folio", "6.7"),
)


@operation(
    models="the flusher writing the device's dirty folio: write_cache_pages() -> "
    "block_write_full_page() -> __block_write_full_folio() under WB_SYNC_NONE (fs/buffer.c)",
    describe=lambda: "flush_bdev()",
    cites=WRITEBACK_CITES,
)
def flush_block(op: Op) -> None:
    """The flusher's pass over the device's mapping (``WB_SYNC_NONE``,
    ``write_folio``)."""
    write_folio(op, meta_block(op.world), sync_all=False)


def _promise(scratch: Scratch, b: MetaBlock) -> frozenset[str]:
    """What ``sync_blockdev()`` beginning now must put on the device: the
    dirtied updates in the buffer of a folio tagged dirty, and those an
    async write in flight (under PG_writeback, which it waits for)
    carries.  Not an update dirtied through ``mark_buffer_dirty()``'s fast
    path (the buffer was dirty already) while the thread that dirtied the
    buffer has not dirtied the folio yet: the sync finds no dirty folio,
    a window the kernel leaves open."""
    dirtied: frozenset[str] = scratch[b.dirtied]
    promised: frozenset[str] = frozenset()
    folio = scratch[b.folio]
    if folio is not None and folio & TAG_DIRTY and scratch[b.data] is not None:
        promised = dirtied & scratch[b.data]
    for kind, bits in scratch[b.bios]:
        if kind == WRITE_ASYNC:
            promised |= dirtied & bits
    return promised


def _synced(scratch: Scratch, b: MetaBlock, promised: frozenset[str], tid: int) -> None:
    missing = sorted((promised & scratch[b.updates]) - scratch[b.block])
    if missing:
        scratch.violate(
            METADATA_SYNCED,
            f"{scratch.world.thread_names[tid]}'s sync_blockdev() returns with "
            f"{', '.join(missing)}'s update of {b}, dirty in the folio when it began, not on the "
            "device "
            f"(the block holds {_render_bits(scratch[b.block])})",
        )


@operation(
    models="sync_blockdev(): filemap_write_and_wait(): write_cache_pages() under WB_SYNC_ALL, "
    "then filemap_fdatawait() (block/bdev.c, mm/filemap.c)",
    describe=lambda: "sync_bdev()",
    cites=(
        Cite("block/bdev.c", "sync_blockdev", "6.6"),
        Cite("mm/filemap.c", "filemap_write_and_wait_range", "6.6"),
        *WRITEBACK_CITES,
    ),
)
def sync_bdev(op: Op) -> None:
    """``sync_blockdev()``, as ``sync_filesystem()`` and an fsync of the
    device call it: the folio written under ``WB_SYNC_ALL`` (``write_folio``:
    a buffer another writer's I/O holds is waited for, not skipped), then
    its writeback waited for.  What it found to write when it began
    (``_promise``: the dirtied updates of a dirty folio, and those of a
    writeback in flight) must be on the device when it returns
    (``metadata-synced``)."""
    b = meta_block(op.world)
    promised = op.compute(
        "promised",
        "sync_blockdev(bdev) /* the updates dirtied by now */",
        _promise,
        b,
        render=_render_bits,
    )
    sync_blockdev(op, b)
    op.effect("return 0", _synced, b, promised, op.thread.tid)


def sync_blockdev(op: Op, b: MetaBlock) -> None:
    """``sync_blockdev()``'s steps for a caller of its own (``sync_bdev``,
    the last close of the device): ``filemap_write_and_wait()``, the folio
    written under ``WB_SYNC_ALL`` (``write_folio``) and its writeback
    waited for."""
    write_folio(op, b, sync_all=True)
    folio_wait_writeback(op, b, "filemap_fdatawait(mapping): folio_wait_writeback(folio)")


def folio_wait_writeback(op: Op, b: MetaBlock, label: str) -> None:
    """``folio_wait_writeback(folio)`` on the device's folio: sleep until
    PG_writeback is clear (its bio's completion clears it)."""
    op.wait_until(
        not_(block_folio_test(b, "PG_writeback", lambda flags: flags & PG_WRITEBACK)),
        label,
        "PG_writeback(bdev:0)",
    )


def _buffers(scratch: Scratch, b: MetaBlock) -> int | None:
    return cast(int | None, scratch[b.bh])


def _discard_buffer(scratch: Scratch, b: MetaBlock, bh: int) -> None:
    if touch_buffer_head(scratch, b, bh, "discard_buffer(bh)"):
        scratch[b.bh_state] &= ~BH_DIRTY


def _remove_truncated(scratch: Scratch, b: MetaBlock) -> None:
    """``folio_cancel_dirty()`` and ``filemap_remove_folio()``: the folio
    leaves the page cache with its data, unless a buffer another thread
    still references kept its buffers on it (the kernel then removes the
    folio with its buffers, an orphan; the model keeps it cached, clean)."""
    scratch[b.folio] &= ~PG_DIRTY
    if scratch[b.bh] is None:
        scratch[b.folio] = None
        scratch[b.data] = None


def kill_bdev(op: Op, b: MetaBlock) -> None:
    """``kill_bdev()``: ``invalidate_bh_lrus()`` (no LRU here) and
    ``truncate_inode_pages(mapping, 0)`` over the device's folio
    (mm/truncate.c, read in 6.17-rc3 at 0291023e): the folio locked (the
    first pass's ``find_lock_entries()`` trylocks it and passes over one
    under writeback, the partial-folio pass then locks it with
    ``FGP_LOCK``; the model takes it once, blocking), its writeback waited
    for, ``block_invalidate_folio()``'s ``discard_buffer()`` under the
    buffer lock (the buffer cleaned), ``filemap_release_folio()`` ->
    ``try_to_free_buffers()`` under ``private_lock``, and the folio
    removed, dirty or not: what the sync before it did not write is
    lost.  Left out: a folio whose buffer another thread still references
    (``try_to_free_buffers()`` fails) leaves the page cache in the kernel
    with its buffers, an orphan, where the model keeps it cached and clean
    (no shipped scenario holds a buffer across a last close);
    ``discard_buffer()``'s other flags (BH_Mapped, BH_Req, BH_New, BH_Delay,
    BH_Unwritten) and ``bh->b_bdev``, which the model does not keep."""
    done = op.fresh_label("truncated")
    cached = block_folio_test(b, "folio", lambda _flags: True)
    with op.when(not_(cached), "if (mapping_empty(mapping)) return"):
        op.goto(done)
    op.lock(
        b.folio_lock,
        EXCL,
        "truncate_inode_pages_range(): folio = __filemap_get_folio(mapping, 0, FGP_LOCK, 0)",
    )
    gone = op.fresh_label("unlock")
    with op.when(not_(cached), "truncate_inode_folio(): if (folio->mapping != mapping)"):
        op.goto(gone)
    folio_wait_writeback(op, b, "truncate_inode_partial_folio(): folio_wait_writeback(folio)")
    head = op.compute(
        "head",
        "truncate_cleanup_folio(): folio_invalidate(folio, 0, folio_size(folio)): "
        "block_invalidate_folio(): head = folio_buffers(folio)",
        _buffers,
        b,
        render=_render_bh,
    )
    with op.when(not_(same(head, const(None, "NULL"))), "if (folio_buffers(folio))"):
        lock_buffer(op, b, head, "discard_buffer(bh): lock_buffer(bh)")
        op.effect(
            "clear_buffer_dirty(bh); bh->b_bdev = NULL; clear_buffer_mapped(bh); ...",
            _discard_buffer,
            b,
            head,
        )
        unlock_buffer(op, b, "unlock_buffer(bh)")
        op.section(
            b.private_lock,
            "filemap_release_folio(folio, 0): try_to_free_buffers(folio): "
            "spin_lock(&mapping->private_lock); drop_buffers(folio, &buffers_to_free); "
            "spin_unlock(&mapping->private_lock)",
            try_to_free_buffers,
            b,
            not op.variant(FREE_BUFFERS_IGNORES_B_COUNT),
        )
    op.effect("folio_cancel_dirty(folio); filemap_remove_folio(folio)", _remove_truncated, b)
    op.label(gone)
    op.unlock(b.folio_lock, "folio_unlock(folio)")
    op.label(done)


# --- reclaim -------------------------------------------------------------------------------


def try_to_free_buffers(scratch: Scratch, b: MetaBlock, counts: bool) -> int:
    """``try_to_free_buffers()`` under ``private_lock``: a buffer that is
    referenced (``b_count``, unless the variant forgets it), dirty or
    locked is busy and nothing is freed; else the buffer_head is freed and
    the folio cleaned (``folio_cancel_dirty()``).  Whether the folio has no
    buffers now."""
    if scratch[b.bh] is None:
        return 1
    busy = scratch[b.bh_state] & BH_DIRTY or scratch[b.bh_lock.slot] is not None
    if busy or (counts and scratch[b.b_count]):
        return 0
    scratch[b.bh] = None
    scratch[b.bh_state] = 0
    scratch[b.folio] &= ~PG_DIRTY
    return 1


def remove_mapping(scratch: Scratch, b: MetaBlock) -> None:
    """``__remove_mapping()``: a folio dirtied meanwhile is kept, and so is
    one another thread holds a reference to (``grow_dev_page()``'s) or
    buffers were attached to meanwhile (``folio_attach_private()`` holds
    one): ``folio_ref_freeze()`` fails; else it leaves the page cache with
    its data."""
    if scratch[b.folio] & PG_DIRTY or scratch[b.bh] is not None or scratch[b.folio_refs]:
        return
    scratch[b.folio] = None
    scratch[b.data] = None


@operation(
    models="reclaim of the device's folio: shrink_folio_list() -> filemap_release_folio() -> "
    "try_to_free_buffers(), __remove_mapping() (mm/vmscan.c, fs/buffer.c)",
    describe=lambda: "reclaim()",
    cites=(
        Cite("mm/vmscan.c", "shrink_folio_list", "6.6"),
        Cite("mm/vmscan.c", "__remove_mapping", "6.6", leaves_out=("xa_lock_irq", "xa_unlock_irq")),
        Cite("fs/buffer.c", "try_to_free_buffers", "6.7"),
        Cite("fs/buffer.c", "drop_buffers", "6.7"),
    ),
)
def reclaim_block(op: Op) -> None:
    """Reclaim of the device's folio: ``folio_trylock()`` (which
    ``try_to_free_buffers()`` and ``__remove_mapping()`` assert with
    ``BUG_ON(!folio_test_locked(folio))``); a folio under writeback or
    dirty is kept (pageout is left out); its buffers are
    freed by ``try_to_free_buffers()`` unless one is busy
    (``buffer_busy()``: referenced, dirty or locked), which keeps the
    folio; then ``__remove_mapping()`` drops it from the page cache unless
    it was dirtied meanwhile."""
    b = meta_block(op.world)
    cached = block_folio_test(b, "folio", lambda _flags: True)
    with op.when(not_(cached), "if (!folio) /* not on the LRU: not cached */"):
        op.goto("out")
    op.trylock(b.folio_lock, "out", "if (!folio_trylock(folio)) goto keep")
    kept = block_folio_test(
        b,
        "folio_test_writeback(folio) || folio_test_dirty(folio)",
        lambda flags: flags & (PG_DIRTY | PG_WRITEBACK),
    )
    with op.when(
        kept, "if (folio_test_writeback(folio) || folio_test_dirty(folio)) goto keep_locked"
    ):
        op.unlock(b.folio_lock, "keep_locked: folio_unlock(folio)")
        op.goto("out")
    op.assert_held(
        b.folio_lock,
        "try_to_free_buffers(): BUG_ON(!folio_test_locked(folio)) /* locked by its caller */",
    )
    op.section(
        b.private_lock,
        "if (folio_has_private(folio) && !filemap_release_folio(folio, sc->gfp_mask)) "
        "goto activate_locked: try_to_free_buffers(folio): spin_lock(&mapping->private_lock); "
        "drop_buffers(folio, &buffers_to_free); folio_cancel_dirty(folio); "
        "spin_unlock(&mapping->private_lock)",
        try_to_free_buffers,
        b,
        not op.variant(FREE_BUFFERS_IGNORES_B_COUNT),
        result=op.thread.ret,
    )
    with op.when(same(op.ret, const(0, "0")), "if (!filemap_release_folio(folio, gfp))"):
        op.unlock(b.folio_lock, "activate_locked: folio_unlock(folio)")
        op.goto("out")
    op.assert_held(
        b.folio_lock,
        "__remove_mapping(): BUG_ON(!folio_test_locked(folio)) /* locked by its caller */",
    )
    op.effect(
        "__remove_mapping(mapping, folio, true, sc->target_mem_cgroup): "
        "if (!folio_ref_freeze(folio, refcount) || folio_test_dirty(folio)) goto cannot_free; "
        "__filemap_remove_folio(folio, shadow)",
        remove_mapping,
        b,
    )
    op.unlock(b.folio_lock, "folio_unlock(folio)")
    op.label("out")


# --- the device ----------------------------------------------------------------------------


def _render_bio(bio: tuple[str, Any] | None) -> str:
    if bio is None:
        return "none (every task returned)"
    kind, bits = bio
    return f"{_bio_text(kind, bits)} (b_end_io = {END_IO[kind]})"


def _completions(b: MetaBlock, irq: int) -> Expr:
    def build(world: World) -> Any:
        returned = others_returned(world, irq)

        def values(state: State) -> tuple[Any, ...]:
            if state[b.bios]:
                return tuple(state[b.bios])
            if returned(state):
                return (None,)
            return ()

        return values

    return Expr("the bios in flight", build)


def _end_io(scratch: Scratch, b: MetaBlock, bio: tuple[str, Any]) -> int:
    """The buffer's ``b_end_io``: a read fills the buffer from the block
    and marks it uptodate, a write lands in the block; the buffer is
    unlocked, and ``end_buffer_async_write()`` ends the folio's writeback
    where the others drop the reference their submitter took."""
    kind, bits = bio
    scratch[b.bios] = tuple(other for other in scratch[b.bios] if other != bio)
    if kind == READ:
        scratch[b.data] = scratch[b.block]
    else:
        scratch[b.block] = bits
    scratch[b.bh_state] |= BH_UPTODATE
    scratch[b.bh_lock.slot] = None
    if kind == WRITE_ASYNC:
        scratch[b.folio] &= ~PG_WRITEBACK
    else:
        scratch[b.b_count] -= 1
    return 0


@operation(
    models="bio_endio() -> end_bio_bh_io_sync() -> bh->b_end_io (block/bio.c, fs/buffer.c)",
    describe=lambda: "bh_io_completion()",
    cites=(
        Cite("block/bio.c", "bio_endio", "6.6", leaves_out=("bio.bi_end_io",)),
        Cite("fs/buffer.c", "end_bio_bh_io_sync", "6.7", method="bio.bi_end_io"),
        Cite("fs/buffer.c", "end_buffer_read_sync", "6.7"),
        Cite("fs/buffer.c", "end_buffer_write_sync", "6.7"),
        Cite(
            "fs/buffer.c",
            "end_buffer_async_write",
            "6.7",
            leaves_out=("spin_lock_irqsave", "spin_unlock_irqrestore"),
            because="first->b_uptodate_lock, a leaf lock taken in the interrupt, keeps the "
            "async-write bits of a folio's buffers whole; the model's folios have one buffer",
        ),
    ),
)
def bh_io_completion(op: Op) -> None:
    """The device's completion interrupt for the buffer's bios: it
    completes them in any order, each by ``bh->b_end_io`` in interrupt
    context (``op.interrupt``), and returns once every other thread has
    and nothing is in flight."""
    op.one_thread(
        "completes",
        "the buffer I/O",
        "a scenario has one bh_io_completion thread, which completes every bio in flight",
    )
    op.completes_io()
    b = meta_block(op.world)
    b.irq.append(op.thread.tid)
    bio = next_completion(op, _completions(b, op.thread.tid), _render_bio)
    op.call(
        "buffer_head.b_end_io",
        _end_io,
        b,
        bio,
        label="end_bio_bh_io_sync(bio): bh->b_end_io(bh, !bio->bi_status)",
        roles={"bh": const(b, "bh")},
        sleeps=False,
    )
    op.interrupt_return("irq_exit()")
    op.goto("next")
    op.label("out")


# --- the properties ------------------------------------------------------------------------


def lost_update(b: MetaBlock, state: State) -> str | None:
    """What ``metadata-update-durable`` says of a final state: each update
    made is on the device, or in a cached folio that is dirty over a dirty
    buffer (the flusher will write it); else it is lost."""
    folio = state[b.folio]
    pending = (
        folio is not None
        and folio & PG_DIRTY
        and (state[b.bh] is None or state[b.bh_state] & BH_DIRTY)
        and state[b.data] is not None
    )
    for bit in sorted(state[b.updates]):
        if bit in state[b.block] or (pending and bit in state[b.data]):
            continue
        where = (
            "the folio is not cached"
            if folio is None
            else f"the buffer holds {_render_bits(state[b.data])} ({_render_folio(folio)}, "
            f"buffer {_render_bh_state(state[b.bh_state])})"
        )
        return (
            f"{bit}'s update of {b} is lost: the block holds {_render_bits(state[b.block])}, "
            f"{where}, and no writeback will write it"
        )
    return None
