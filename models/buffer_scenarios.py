"""Scenarios of metadata buffers (``buffer/<name>``) and the properties
that say what the buffer cache's protocol protects: an update made to a
buffer reaches the device (by the time sync_blockdev() returns, for one
dirtied before it began), and no buffer_head is used after reclaim freed
it."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, invariant, scenario, step_invariant
from mc.dsl.kernel_model import KernelModel
from mc.engine.model import Check
from mc.kernel.expr import State
from mc.models.buffer import (
    BH_USE_AFTER_FREE,
    METADATA_SYNCED,
    bh_io_completion,
    create_block,
    flush_block,
    lost_update,
    meta_block,
    reclaim_block,
    sync_bdev,
    update_block,
)

DURABLE = "metadata-update-durable"


@invariant(
    DURABLE,
    "once every thread has returned, each update a filesystem made to a metadata buffer is on "
    "the device, or in a dirty buffer of a dirty folio the flusher will write",
    reads=["b_data", "on disk", "updates made", "folio", "bh", "b_state"],
    terminal=True,
    needs=("buffer", "a metadata block read with sb_bread()"),
)
def metadata_update_durable(model: KernelModel) -> Check[State]:
    block = meta_block(model.world)
    return lambda state: lost_update(block, state)


step_invariant(
    BH_USE_AFTER_FREE,
    "no thread touches a buffer_head through a pointer it holds after try_to_free_buffers() "
    "freed it, nor syncs one it holds no reference to (__sync_dirty_buffer()'s "
    "WARN_ON(b_count < 1))",
    needs=("buffer", "a metadata block read with sb_bread()"),
)

step_invariant(
    METADATA_SYNCED,
    "when sync_blockdev() returns, the device holds every dirtied update of the buffer of a "
    "folio tagged dirty when it began, and of a writeback then in flight; when a sync "
    "mount's sync_dirty_buffer() returns, it holds the caller's update",
    needs=("buffer", "a metadata block read with sb_bread()"),
)

PROPERTIES = (*BASE_PROPERTIES, DURABLE, BH_USE_AFTER_FREE, METADATA_SYNCED)

scenario(
    "buffer/two-updaters",
    "two tasks of a block filesystem setting a bit each in a bitmap block that is not cached: "
    "both sb_bread() it, one reads it while the other waits for the buffer lock",
    tree=[],
    threads=[update_block("alice"), update_block("bob"), bh_io_completion()],
    properties=PROPERTIES,
)

scenario(
    "buffer/update-vs-reclaim",
    "a task reading a bitmap block and setting a bit in it while reclaim tries to free the "
    "device folio's buffers and the folio",
    tree=[],
    threads=[update_block("alice"), reclaim_block(), bh_io_completion()],
    properties=PROPERTIES,
)

scenario(
    "buffer/sync-update-vs-flusher",
    "a task on a sync mount writing its update of a bitmap block with sync_dirty_buffer() "
    "while another task updates the block and the flusher writes the device's dirty folio",
    tree=[],
    threads=[
        update_block("alice", sync=True),
        update_block("bob"),
        flush_block(),
        bh_io_completion(),
    ],
    properties=PROPERTIES,
)

scenario(
    "buffer/sync-update-vs-syncfs",
    "a task on a sync mount writing its update of a bitmap block with sync_dirty_buffer() "
    "while another task updates the block and sync(2) writes and waits on the device "
    "(sync_blockdev())",
    tree=[],
    threads=[
        update_block("alice", sync=True),
        update_block("bob"),
        sync_bdev(),
        bh_io_completion(),
    ],
    properties=PROPERTIES,
)

scenario(
    "buffer/flusher-vs-syncfs",
    "a task updating a bitmap block while the flusher writes the device's dirty folio and "
    "sync(2) writes and waits on the device (sync_blockdev()): the two writebacks meet on the "
    "folio lock",
    tree=[],
    threads=[update_block("alice"), flush_block(), sync_bdev(), bh_io_completion()],
    properties=PROPERTIES,
)

scenario(
    "buffer/create-vs-sync",
    "a task reusing a freed metadata block (ext4_getblk() of a new block: the buffer locked "
    "across jbd2_journal_cancel_revoke()) while another task updates the block (its dirty "
    "update of the old content, void once the block is reused, or one of the new) and sync(2) "
    "writes and waits on the device (sync_blockdev(): the folio lock, then the buffer lock)",
    tree=[],
    threads=[update_block("bob"), create_block("alice"), sync_bdev(), bh_io_completion()],
    properties=PROPERTIES,
)
