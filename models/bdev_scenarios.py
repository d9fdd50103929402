"""Scenarios of block devices (``bdev/<name>``) and the invariant that says
what the claim (``bd_claiming``, ``bd_holder`` under bdev_lock) protects."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, invariant, scenario, step_invariant
from mc.dsl.kernel_model import KernelModel
from mc.engine.model import Check
from mc.kernel.expr import State
from mc.models.bdev import (
    FOLIO_HOLDS_A_BLOCK,
    bdev_direct_write,
    bdev_read,
    bdev_splice_read,
    disks,
    exclusive_violation,
    free_swap_slot,
    open_exclusive,
    rescan_partitions,
    set_blocksize,
    update_and_close,
)
from mc.models.buffer import BH_USE_AFTER_FREE, bh_io_completion, flush_block
from mc.models.buffer_scenarios import DURABLE

EXCLUSIVE = "bdev-exclusive"


@invariant(
    EXCLUSIVE,
    "a block device opened exclusively by one holder is not opened exclusively by another, and "
    "no partition rescan made under a claim (an exclusive opener's, or BLKRRPART's "
    "disk_scan_partitions(), whose GD_NEED_PART_SCAN a plain open may serve) runs while "
    "another holder holds the device (a driver's own rescan, loop_reread_partitions() or a "
    "media change, claims nothing and is not checked)",
    reads=["exclusive holders", "rescanning"],
    needs=("disk:sda", "a block device opened or controlled"),
)
def bdev_exclusive(model: KernelModel) -> Check[State]:
    found = disks(model.world)

    def check(state: State) -> str | None:
        for d in found:
            problem = exclusive_violation(d, state)
            if problem is not None:
                return problem
        return None

    return check


PROPERTIES = (*BASE_PROPERTIES, EXCLUSIVE)

scenario(
    "bdev/exclusive-opens",
    "two holders (a mount and md) opening the disk exclusively at once, each asking its "
    "geometry and sending a driver ioctl (md from a 32-bit task) before releasing it",
    tree=[],
    threads=[open_exclusive("fs"), open_exclusive("md", True)],
    properties=PROPERTIES,
)

scenario(
    "bdev/rescan-vs-open",
    "ioctl(BLKRRPART) rescanning the partitions (a partition beyond the end of the disk: "
    "->unlock_native_capacity) while a filesystem opens the disk exclusively",
    tree=[],
    threads=[rescan_partitions(), open_exclusive("fs")],
    properties=PROPERTIES,
)

scenario(
    "bdev/last-close-vs-writer",
    "two tasks each opening the disk, updating its metadata block through the buffer cache and "
    "closing it, beside the flusher writing the device's folio: the last close writes the page "
    "cache and throws it away under open_mutex",
    tree=[],
    threads=[update_and_close("a"), update_and_close("b"), flush_block(), bh_io_completion()],
    properties=(*BASE_PROPERTIES, DURABLE, BH_USE_AFTER_FREE),
)
scenario(
    "bdev/swap-slot-free",
    "two tasks freeing slots of a swap area on a block device (zram): the driver is told of "
    "each freed slot under the swap device's lock",
    tree=[],
    threads=[free_swap_slot(0), free_swap_slot(1)],
    properties=PROPERTIES,
)

step_invariant(
    FOLIO_HOLDS_A_BLOCK,
    "a read or write of the block device's page cache adds no folio smaller than one of its "
    "blocks (do_mpage_readpage() would map no block and send a bio with a NULL block device; "
    "iomap_write_begin() would write past the folio)",
    needs=("bdev-geometry", "a read, splice or write of the block device"),
)

scenario(
    "bdev/set-blocksize-vs-read",
    "a read(2) of the block device's first page, not cached, racing a change of its block "
    "size to 8 KiB (BLKBSZSET, or a filesystem's mount calling sb_set_blocksize()), which "
    "makes the page cache's folios 8 KiB too",
    threads=[bdev_read(), set_blocksize(8192)],
    properties=(*BASE_PROPERTIES, FOLIO_HOLDS_A_BLOCK),
)

scenario(
    "bdev/set-blocksize-vs-splice",
    "a splice(2) from the block device's first page, not cached, into a pipe, racing a change "
    "of its block size to 8 KiB",
    threads=[bdev_splice_read(), set_blocksize(8192)],
    properties=(*BASE_PROPERTIES, FOLIO_HOLDS_A_BLOCK),
)

scenario(
    "bdev/set-blocksize-vs-dio-fallback",
    "an O_DIRECT write of the block device's first block that completes short and is finished "
    "buffered, racing a change of its block size to 8 KiB",
    threads=[bdev_direct_write(), set_blocksize(8192)],
    properties=(*BASE_PROPERTIES, FOLIO_HOLDS_A_BLOCK),
)
