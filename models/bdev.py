"""Block devices: opening and releasing a disk with a holder (exclusive
claims), the block ioctls that reach the driver, a partition rescan, a
swap slot freed on a swap device, and a change of the block size of the
device's page cache against reads and writes of it (``set_blocksize``,
``bdev_read``, ``bdev_splice_read``, ``bdev_direct_write``: their own
sources are named in their docstrings).

Written from the stored torvalds/linux tree of the 6.4 cycle: block/bdev.c
(``bd_may_claim()``, ``bd_prepare_to_claim()``, ``bd_finish_claiming()``,
``bd_abort_claiming()``, ``blkdev_get_whole()``, ``blkdev_put_whole()``,
``blkdev_get_by_dev()``, ``blkdev_put()``), block/genhd.c
(``disk_scan_partitions()``), block/partitions/core.c
(``bdev_disk_changed()``, ``blk_add_partition()``,
``disk_unlock_native_capacity()``), block/ioctl.c (``blkdev_ioctl()``,
``blkdev_getgeo()``, ``compat_blkdev_ioctl()``) and mm/swapfile.c
(``swapcache_free_entries()``, ``swap_entry_free()``, ``swap_range_free()``).

The claim's locks are those of 6.6: ``bdev_lock`` became a mutex in 6.5
("block: turn bdev_lock into a mutex", which changed no section but the
lock calls), and ``bd_finish_claiming()`` and ``bd_end_claim()`` set
``bd_holder`` and ``bd_holder_ops`` under the device's ``bd_holder_lock``
inside it (read in the 6.6-cycle block/bdev.c excerpts of the search
index: the ``blk_holder_ops`` series and "bdev: open block device as
files"); ``bd_prepare_to_claim()`` drops the mutex to sleep while
another claim is in progress (``prepare_to_wait()`` first, so no wake-up
is lost).

State: the whole device's ``bd_holder``, ``bd_holders`` and ``bd_claiming``
(under the ``bdev_lock`` mutex), ``bd_openers`` and the driver's own
count of opens (under ``disk->open_mutex``), GD_NEED_PART_SCAN, the
holders that hold the device exclusively (what the invariant reads) and
the swap map's slots.

Read again for the open and release: block/bdev.c of torvalds/linux at
025a3865, which is not of the 6.4 cycle as first written here but of
5.16 or so (it still includes ``<linux/cleancache.h>``, has
``freeze_bdev()`` without a holder and ``bd_openers`` as a plain int);
the functions cited ``6.4`` below were read there, and 6.4's own file
was not (its ``fmode_t`` and FMODE_EXCL are the same): ``blkdev_get_by_dev()``
claims before ``disk_block_events()`` and ``open_mutex``, calls
``->open`` in ``blkdev_get_whole()``, rescans on GD_NEED_PART_SCAN, counts
``bd_openers`` and finishes the claim under ``bdev_lock`` before dropping
``open_mutex``; ``blkdev_put()`` syncs first (left out), drops the claim
under ``bdev_lock`` inside ``open_mutex`` and calls ``->release`` from
``blkdev_put_whole()``: as modelled.  block/ioctl.c as stored is of the
6.5 cycle (01e198f0, ``blk_mode_t``; cited ``6.4`` below):
``->getgeo``, ``->ioctl`` and ``->compat_ioctl`` are called with no lock,
as modelled.  Newer trees (not read
here) open through ``bdev_open()`` with a ``blk_mode_t`` and
``blk_holder_ops``, returning a ``struct file``.

The device's page cache is ``mc.models.buffer``'s block: ``blkdev_put()``
syncs it early, without a lock, when it looks like the last close, and
the last close's ``blkdev_flush_mapping()`` (read in 6.17-rc3, Kingxukai/linux
at 0291023e: ``sync_blockdev()``, ``kill_bdev()``, ``bdev_write_inode()``;
5.16's ``blkdev_put_whole()`` makes the first two calls itself) writes it and
throws it away under ``open_mutex``, as ``bdev_disk_changed()`` syncs it.

What the models leave out: partitions (the whole device only), the
holder's ``blk_holder_ops`` and the superblock's ``s_umount`` taken through
them (``fs_bdev_mark_dead()``), media events (``disk_block_events()``), the
device inode's writeback (``bdev_write_inode()``), ``invalidate_bdev()``
and the read of the partition table, the module and device references,
read-only checks, drivers' own locks (loop's ``lo_mutex``), and the
partition table itself (the one rescan finds a partition beyond the end
of the device).  From 6.9 the open and release go through a ``struct
file`` (``bdev_file_open_by_dev()``, ``bdev_fput()``), whose release of the
claim comes before the deferred ``->release`` and, in
``disk_scan_partitions()``, after ``bd_abort_claiming()``: the model
releases in one critical section, as 6.4 does.
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
    const,
    flag_variant,
    is_error,
    operation,
    same,
    touches,
)
from mc.kernel.expr import state_expr
from mc.kernel.locks import Lock
from mc.models.buffer import (
    BUFFER_CITES,
    MetaBlock,
    bread,
    brelse,
    kill_bdev,
    mark_buffer_dirty,
    meta_block,
    sync_blockdev,
    update,
)

CLAIMANTS = "bd-claimants"
"""The world part naming, by holder, the threads that claim the device
with it: those a wait for ``bd_claiming`` waits for."""
CLAIM_WITHOUT_BD_CLAIMING = "claim-without-bd_claiming"
RESCAN_WITHOUT_CLAIM = "rescan-without-claim"
OPEN_WITHOUT_OPEN_MUTEX = "open-without-open_mutex"
SLOT_FREE_WITHOUT_SI_LOCK = "slot-free-without-si-lock"
KILL_BDEV_WITHOUT_SYNC = "kill-bdev-without-sync"

flag_variant(
    CLAIM_WITHOUT_BD_CLAIMING,
    "bd_prepare_to_claim() neither waits for nor sets whole->bd_claiming: two exclusive opens "
    "both find the device unclaimed and both finish claiming it",
)
flag_variant(
    RESCAN_WITHOUT_CLAIM,
    "disk_scan_partitions() rescans without bd_prepare_to_claim(): the partitions change under "
    "an exclusive holder",
)
flag_variant(
    OPEN_WITHOUT_OPEN_MUTEX,
    "blkdev_get_by_dev() and blkdev_put() call the driver's ->open and ->release without "
    "disk->open_mutex",
)
flag_variant(
    KILL_BDEV_WITHOUT_SYNC,
    "blkdev_flush_mapping() calls kill_bdev() without sync_blockdev() first: the last close "
    "throws away what the early unlocked sync missed (a buffer dirtied after it)",
)
flag_variant(
    SLOT_FREE_WITHOUT_SI_LOCK,
    "swapcache_free_entries() frees a slot without si->lock: ->swap_slot_free_notify runs "
    "without the swap device's lock",
)


def _render_holder(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _render_asked(value: str | None) -> str:
    return "clear" if value is None else f"set by {value}"


def _render_rescan(value: tuple[str, str | None] | None) -> str:
    if value is None:
        return "no"
    thread, claimer = value
    return f"{thread}" + ("" if claimer is None else f" for {claimer}")


@attrs.frozen
class Disk:
    """A gendisk and its whole block device: ``disk->open_mutex`` and the
    slots of the claim and open state."""

    name: str
    open_mutex: Lock
    bdev_lock: Lock
    bd_holder_lock: Lock
    holder: int
    holders: int
    claiming: int
    openers: int
    driver_opens: int
    need_part_scan: int
    exclusive: int
    rescanning: int

    def __str__(self) -> str:
        return self.name


def disk(world: World, name: str = "sda") -> Disk:
    """The disk ``name``, made on first use."""
    part = world.parts.get(f"disk:{name}")
    if isinstance(part, Disk):
        return part
    made = Disk(
        name,
        world.add_lock(f"open_mutex({name})", LockKind.MUTEX, "open_mutex"),
        world.shared_lock("bdev_lock", LockKind.MUTEX),
        world.add_lock(f"bd_holder_lock({name})", LockKind.MUTEX, "bd_holder_lock"),
        world.shared_slot(f"bd_holder({name})", None, _render_holder),
        world.shared_slot(f"bd_holders({name})", 0),
        world.shared_slot(f"bd_claiming({name})", None, _render_holder),
        world.shared_slot(f"bd_openers({name})", 0),
        world.shared_slot(f"driver opens({name})", 0),
        world.shared_slot(f"GD_NEED_PART_SCAN({name})", None, _render_asked),
        world.shared_slot(f"exclusive holders({name})", frozenset(), _render_set),
        world.shared_slot(f"rescanning({name})", None, _render_rescan),
    )
    world.parts[f"disk:{name}"] = made
    return made


def disks(world: World) -> list[Disk]:
    """Every disk of the scenario."""
    return [part for part in world.parts.values() if isinstance(part, Disk)]


def _render_set(value: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(value)) + "}" if value else "none"


# --- claiming -------------------------------------------------------------------------


def _may_claim(state: Any, d: Disk, holder: str) -> bool:
    return state[d.holder] in (None, holder)


def _prepare(scratch: Scratch, d: Disk, holder: str, skip_claiming: bool) -> int:
    """``bd_prepare_to_claim()`` under bdev_lock: -EBUSY if another holder
    has the device, 1 while another claim is in progress, else claim."""
    if not _may_claim(scratch, d, holder):
        return -E.EBUSY
    if skip_claiming:
        return 0
    if scratch[d.claiming] is not None:
        return 1
    scratch[d.claiming] = holder
    return 0


def prepare_to_claim(op: Op, d: Disk, holder: str, fail: str) -> None:
    """``bd_prepare_to_claim()``: -EBUSY (to ``fail``) if held by someone
    else; waits while another claim is in progress; then ``bd_claiming``."""
    skip = op.variant(CLAIM_WITHOUT_BD_CLAIMING)
    claimants: dict[str, list[int]] = op.world.parts.setdefault(CLAIMANTS, {})
    claimants.setdefault(holder, []).append(op.thread.tid)
    retry = f"claim_retry.{holder}"
    op.label(retry)
    op.lock(d.bdev_lock, EXCL, "bd_prepare_to_claim(): mutex_lock(&bdev_lock)")
    claim = op.compute(
        "claim",
        "if (!bd_may_claim(bdev, holder, hops)) ...; if (whole->bd_claiming) ...; "
        "whole->bd_claiming = holder /* yay, all mine */",
        _prepare,
        d,
        holder,
        skip,
    )
    with op.when(is_error(claim), "if (!bd_may_claim(bdev, holder, hops))"):
        op.unlock(d.bdev_lock, "mutex_unlock(&bdev_lock)")
        op.fail(E.EBUSY, fail, "return -EBUSY")
    with op.when(
        same(claim, const(1, "1")), "if (whole->bd_claiming) /* another claim in progress */"
    ):
        op.unlock(
            d.bdev_lock,
            "prepare_to_wait(wq, &wait, TASK_UNINTERRUPTIBLE); mutex_unlock(&bdev_lock)",
        )
        op.wait_until(
            state_expr(f"bd_claiming({d}) == NULL", lambda s: s[d.claiming] is None),
            "schedule(); finish_wait(wq, &wait); goto retry",
            f"bd_claiming({d})",
            holders=lambda s: tuple(claimants.get(s[d.claiming], ())),
        )
        op.goto(retry)
    op.unlock(d.bdev_lock, "mutex_unlock(&bdev_lock); return 0")


def finish_claim(scratch: Scratch, d: Disk, holder: str) -> int:
    """``bd_finish_claiming()``'s changes: the holder counted and set,
    ``bd_claiming`` cleared when it is this holder's, the open exclusive."""
    scratch[d.holders] += 1
    scratch[d.holder] = holder
    if scratch[d.claiming] == holder:
        scratch[d.claiming] = None
    scratch[d.exclusive] = scratch[d.exclusive] | {holder}
    return 0


def abort_claim(scratch: Scratch, d: Disk, holder: str) -> int:
    """``bd_clear_claiming()`` of an aborted claim: ``bd_claiming`` cleared
    when it is this holder's."""
    if scratch[d.claiming] == holder:
        scratch[d.claiming] = None
    return 0


def drop_claim(scratch: Scratch, d: Disk, holder: str) -> int:
    """``bd_end_claim()``'s counts: the holder's claim dropped."""
    scratch[d.holders] -= 1
    scratch[d.exclusive] = scratch[d.exclusive] - {holder}
    return 0


def finish_claiming(op: Op, d: Disk, holder: str) -> None:
    """``bd_finish_claiming()`` (block/bdev.c, 6.6): the holder fields under
    ``bdev_lock``, ``bd_holder`` and ``bd_holder_ops`` also under the
    device's ``bd_holder_lock``, which the holder ops' callers take
    (``fs_bdev_mark_dead()`` -> ``bdev_super_lock()``); the model updates
    every field in one step inside ``bd_holder_lock``."""
    op.lock(d.bdev_lock, EXCL, "bd_finish_claiming(): mutex_lock(&bdev_lock)")
    op.lock(d.bd_holder_lock, EXCL, "mutex_lock(&bdev->bd_holder_lock)")
    op.assert_held(d.bdev_lock, "bd_clear_claiming(): lockdep_assert_held(&bdev_lock)")
    op.effect(
        "whole->bd_holders++; bdev->bd_holders++; bdev->bd_holder = holder; "
        "bdev->bd_holder_ops = hops; bd_clear_claiming(whole, holder)",
        finish_claim,
        d,
        holder,
    )
    op.unlock(d.bd_holder_lock, "mutex_unlock(&bdev->bd_holder_lock)")
    op.unlock(d.bdev_lock, "mutex_unlock(&bdev_lock)")


def end_claim(op: Op, d: Disk, holder: str) -> None:
    """``bd_end_claim()`` (block/bdev.c, 6.6): the counts dropped under
    ``bdev_lock``, and once the device's is 0, ``bd_holder`` and
    ``bd_holder_ops`` cleared under ``bd_holder_lock`` inside it (a holder
    that claimed twice takes it at its second release only)."""
    op.lock(d.bdev_lock, EXCL, "bd_end_claim(): mutex_lock(&bdev_lock)")
    op.effect("--bdev->bd_holders; --whole->bd_holders", drop_claim, d, holder)
    with op.when(
        state_expr(f"!bd_holders({d})", lambda s: s[d.holders] == 0, reads=[d.holders]),
        "if (!bdev->bd_holders)",
    ):
        op.lock(d.bd_holder_lock, EXCL, "mutex_lock(&bdev->bd_holder_lock)")
        op.effect("bdev->bd_holder = NULL; bdev->bd_holder_ops = NULL", _assign, d.holder, None)
        op.unlock(d.bd_holder_lock, "mutex_unlock(&bdev->bd_holder_lock)")
    op.unlock(d.bdev_lock, "mutex_unlock(&bdev_lock)")


# --- open and release -------------------------------------------------------------------


def driver_open(scratch: Scratch, d: Disk) -> int:
    """The driver's ``->open`` (a count of its opens)."""
    scratch[d.driver_opens] += 1
    return 0


def driver_release(scratch: Scratch, d: Disk) -> int:
    """The driver's ``->release``."""
    scratch[d.driver_opens] -= 1
    return 0


def add_to(scratch: Scratch, slot: int, number: int) -> int:
    """``slot += number`` (``bd_openers++``, ``bd_openers--``)."""
    scratch[slot] += number
    return 0


def _assign(scratch: Scratch, slot: int, value: Any) -> int:
    scratch[slot] = value
    return 0


def no_capacity_change(_scratch: Scratch, _d: Disk) -> int:
    """A driver's ``->unlock_native_capacity``: nothing the model follows."""
    return 0


def bdev_disk_changed(op: Op, d: Disk, claimer: str | None = None) -> None:
    """``bdev_disk_changed()`` (block/partitions/core.c, 6.4), which
    ``lockdep_assert_held(&disk->open_mutex)`` (a lock-protocol error
    without it): ``sync_blockdev(disk->part0)`` under it, then drop and
    re-add the partitions (``invalidate_bdev()``, which only trylocks
    folios and drops clean ones, and ``read_part_sector()``'s read of the
    partition table through the device's page cache are left out); a partition found beyond
    the end of the device makes ``blk_add_partition()`` call
    ``disk_unlock_native_capacity()`` -> ``->unlock_native_capacity`` once
    (GD_NATIVE_CAPACITY) and rescan.  ``claimer``: the claim the rescan
    runs under (an exclusive opener's holder); None for a rescan that
    serves GD_NEED_PART_SCAN, which runs under the claim of whoever set
    the bit (``disk_scan_partitions``), or under none (a driver's own
    rescan, ``loop_reread_partitions()``, which ``bdev-exclusive`` does not
    ask to exclude holders)."""
    op.assert_held(d.open_mutex, "bdev_disk_changed(): lockdep_assert_held(&disk->open_mutex)")
    sync_blockdev(op, meta_block(op.world))
    op.effect(
        "invalidate_bdev(disk->part0); blk_drop_partitions(disk); "
        "clear_bit(GD_NEED_PART_SCAN, &disk->state)",
        rescan_start,
        d,
        op.thread.name,
        claimer,
    )
    op.call(
        "block_device_operations.unlock_native_capacity",
        no_capacity_change,
        d,
        label="blk_add_partitions() -> blk_add_partition(): if (from >= get_capacity(disk)) "
        "disk_unlock_native_capacity(disk) -> disk->fops->unlock_native_capacity(disk)",
        roles={"disk": d},
    )
    op.effect("blk_add_partitions(disk) /* rescan: partitions added */", rescan_end, d)


def rescan_start(scratch: Scratch, d: Disk, thread: str, claimer: str | None) -> int:
    """The rescan begins: GD_NEED_PART_SCAN served, and ``rescanning`` the
    thread with the claim it runs under (its own, or that of whoever set
    the bit)."""
    asked = scratch[d.need_part_scan]
    scratch[d.need_part_scan] = None
    scratch[d.rescanning] = (thread, claimer if claimer is not None else asked)
    return 0


def rescan_end(scratch: Scratch, d: Disk) -> int:
    """The rescan is done: no thread rescans."""
    scratch[d.rescanning] = None
    return 0


def blkdev_get(op: Op, d: Disk, holder: str | None, fail: str) -> None:
    """``blkdev_get_by_dev()``: an exclusive open (``holder``) claims the
    device first; under open_mutex ``blkdev_get_whole()`` calls the
    driver's ``->open`` and, with GD_NEED_PART_SCAN set, rescans; the
    claim is finished before open_mutex is dropped."""
    if holder is not None:
        prepare_to_claim(op, d, holder, fail)
    unlocked = op.variant(OPEN_WITHOUT_OPEN_MUTEX)
    if not unlocked:
        op.lock(d.open_mutex, EXCL, "disk_block_events(disk); mutex_lock(&disk->open_mutex)")
    op.call(
        "block_device_operations.open",
        driver_open,
        d,
        label="blkdev_get_whole(): ret = disk->fops->open(bdev, mode)",
        roles={"disk": d},
    )
    with op.when(
        state_expr(f"GD_NEED_PART_SCAN({d})", lambda s: bool(s[d.need_part_scan])),
        "if (test_bit(GD_NEED_PART_SCAN, &disk->state))",
    ):
        bdev_disk_changed(op, d, holder)
    op.effect("bdev->bd_openers++", add_to, d.openers, 1)
    if holder is not None:
        finish_claiming(op, d, holder)
    if not unlocked:
        op.unlock(d.open_mutex, "mutex_unlock(&disk->open_mutex)")


def blkdev_put(op: Op, d: Disk, holder: str | None) -> None:
    """``blkdev_put()``: the last opener syncs the device's page cache
    first, without a lock ("Sync early if it looks like we're the last
    one"); under open_mutex, an exclusive holder's claim is dropped (under
    bdev_lock); ``blkdev_put_whole()`` drops ``bd_openers``, and the last
    close writes the page cache and throws it away under open_mutex
    (``blkdev_flush_mapping``); then the driver's ``->release``."""
    b = meta_block(op.world)
    with op.when(
        state_expr(f"bd_openers({d}) == 1", lambda s: s[d.openers] == 1, reads=[d.openers]),
        "if (bdev->bd_openers == 1)",
    ):
        sync_blockdev(op, b)
    unlocked = op.variant(OPEN_WITHOUT_OPEN_MUTEX)
    if not unlocked:
        op.lock(d.open_mutex, EXCL, "blkdev_put(): mutex_lock(&disk->open_mutex)")
    if holder is not None:
        end_claim(op, d, holder)
    op.effect("blkdev_put_whole(): --bdev->bd_openers", add_to, d.openers, -1)
    with op.when(
        state_expr(f"!bd_openers({d})", lambda s: s[d.openers] == 0, reads=[d.openers]),
        "if (atomic_dec_and_test(&bdev->bd_openers))",
    ):
        blkdev_flush_mapping(op, b)
    op.call(
        "block_device_operations.release",
        driver_release,
        d,
        label="bdev->bd_disk->fops->release(bdev->bd_disk, mode)",
        roles={"disk": d},
    )
    if not unlocked:
        op.unlock(d.open_mutex, "mutex_unlock(&disk->open_mutex)")


def blkdev_flush_mapping(op: Op, b: MetaBlock) -> None:
    """``blkdev_flush_mapping()`` (block/bdev.c, 6.17-rc3 at 0291023e; the
    same function in 5.16, torvalds/linux at 025a3865), under
    open_mutex: ``sync_blockdev()`` then ``kill_bdev()``, so the folio
    lock, the buffer lock and the wait for the folio's writeback (its
    completion in interrupt context) nest inside ``open_mutex``.  Left
    out: ``bdev_write_inode()`` (the device inode's own writeback)."""
    if not op.variant(KILL_BDEV_WITHOUT_SYNC):
        sync_blockdev(op, b)
    kill_bdev(op, b)


# --- ioctls -------------------------------------------------------------------------------


def _ok(_scratch: Scratch, *_args: object) -> int:
    return 0


def getgeo(op: Op, d: Disk) -> None:
    """``blkdev_ioctl(HDIO_GETGEO)`` -> ``blkdev_getgeo()`` -> ``->getgeo``."""
    op.call(
        "block_device_operations.getgeo",
        _ok,
        d,
        label="blkdev_ioctl(HDIO_GETGEO): blkdev_getgeo(): ret = disk->fops->getgeo(bdev, &geo)",
        roles={"disk": d},
    )


def driver_ioctl(op: Op, d: Disk, compat: bool) -> None:
    """A command ``blkdev_common_ioctl()`` does not know goes to the
    driver: ``->ioctl``, or ``->compat_ioctl`` from a 32-bit task
    (``compat_blkdev_ioctl()``)."""
    if compat:
        op.call(
            "block_device_operations.compat_ioctl",
            _ok,
            d,
            label="compat_blkdev_ioctl(): if (disk->fops->compat_ioctl) "
            "ret = disk->fops->compat_ioctl(bdev, mode, cmd, arg)",
            roles={"disk": d},
        )
    else:
        op.call(
            "block_device_operations.ioctl",
            _ok,
            d,
            label="blkdev_ioctl(): return bdev->bd_disk->fops->ioctl(bdev, mode, cmd, arg)",
            roles={"disk": d},
        )


BDEV_CITES = (
    Cite("block/bdev.c", "blkdev_get_by_dev", "6.4"),
    Cite("block/bdev.c", "bd_prepare_to_claim", "6.6"),
    Cite("block/bdev.c", "bd_finish_claiming", "6.6"),
    Cite("block/bdev.c", "blkdev_get_whole", "6.4"),
    Cite("block/bdev.c", "blkdev_put", "6.4"),
    Cite("block/bdev.c", "blkdev_put_whole", "6.4"),
)


@operation(
    models="blkdev_get_by_dev(FMODE_EXCL, holder), the ioctls, blkdev_put() (block/bdev.c)",
    describe=lambda holder, compat=False: f"open exclusive({holder})",
    cites=(
        *BDEV_CITES,
        Cite("block/ioctl.c", "blkdev_ioctl", "6.4"),
        Cite("block/ioctl.c", "blkdev_getgeo", "6.4"),
        Cite("block/ioctl.c", "compat_blkdev_ioctl", "6.4"),
    ),
)
def open_exclusive(op: Op, holder: str, compat: bool = False) -> None:
    """A holder (a filesystem's mount, md) opening the disk exclusively,
    asking its geometry and sending a driver ioctl (a 32-bit task's with
    ``compat``), then releasing it; -EBUSY if another holder has it."""
    d = disk(op.world)
    blkdev_get(op, d, holder, "out")
    getgeo(op, d)
    driver_ioctl(op, d, compat)
    blkdev_put(op, d, holder)
    op.label("out")


def _set_scan(scratch: Scratch, d: Disk) -> int:
    scratch[d.need_part_scan] = "disk_scan_partitions"
    return 0


@operation(
    models="ioctl(BLKRRPART) -> disk_scan_partitions() (block/ioctl.c, block/genhd.c)",
    describe=lambda: "ioctl(BLKRRPART)",
    cites=(
        *BDEV_CITES,
        Cite("block/genhd.c", "disk_scan_partitions", "6.4"),
        Cite("block/partitions/core.c", "bdev_disk_changed", "6.4"),
        Cite("block/partitions/core.c", "disk_unlock_native_capacity", "6.4"),
    ),
)
def rescan_partitions(op: Op) -> None:
    """``disk_scan_partitions()`` from a file opened without FMODE_EXCL:
    ``bd_prepare_to_claim(disk->part0, disk_scan_partitions)`` keeps
    exclusive openers out (-EBUSY if one holds the disk), GD_NEED_PART_SCAN
    is set and a non-exclusive ``blkdev_get_by_dev()`` rescans under
    open_mutex (``->unlock_native_capacity``); ``blkdev_put()``; the
    claim is aborted."""
    d = disk(op.world)
    claims = not op.variant(RESCAN_WITHOUT_CLAIM)
    if claims:
        prepare_to_claim(op, d, "disk_scan_partitions", "out")
    op.effect("set_bit(GD_NEED_PART_SCAN, &disk->state)", _set_scan, d)
    blkdev_get(op, d, None, "abort")
    blkdev_put(op, d, None)
    op.label("abort")
    op.effect("clear_bit(GD_NEED_PART_SCAN, &disk->state)", _assign, d.need_part_scan, None)
    if claims:
        op.lock(d.bdev_lock, EXCL, "bd_abort_claiming(disk->part0, ...): mutex_lock(&bdev_lock)")
        op.assert_held(d.bdev_lock, "bd_clear_claiming(): lockdep_assert_held(&bdev_lock)")
        op.effect(
            "bd_clear_claiming(bdev_whole(bdev), holder)", abort_claim, d, "disk_scan_partitions"
        )
        op.unlock(d.bdev_lock, "mutex_unlock(&bdev_lock)")
    op.label("out")


@operation(
    models="blkdev_get_by_dev(), a metadata update through the device's buffer cache, "
    "blkdev_put() and its last close's blkdev_flush_mapping() (block/bdev.c, fs/buffer.c)",
    describe=lambda bit: f"open, update({bit}), close",
    cites=(
        *BDEV_CITES,
        Cite("block/bdev.c", "blkdev_flush_mapping", "6.17"),
        Cite("block/bdev.c", "sync_blockdev", "6.6"),
        Cite("block/bdev.c", "kill_bdev", "6.17"),
        Cite("mm/truncate.c", "truncate_inode_pages_range", "6.17"),
        Cite("fs/buffer.c", "block_invalidate_folio", "6.7"),
        *BUFFER_CITES,
    ),
)
def update_and_close(op: Op, bit: str) -> None:
    """A plain open of the disk, an update of its metadata block through
    the buffer cache (``update_block``'s steps: ``sb_bread()``, the bit
    set, ``mark_buffer_dirty()``, ``brelse()``), and the close, whose last
    opener writes the page cache and throws it away under open_mutex.  A
    write(2) to the device goes through ``blkdev_write_iter()`` instead,
    whose ``block_write_begin()`` and ``block_write_end()`` hold the folio
    lock around the copy: left out (no lock of it nests in open_mutex)."""
    d = disk(op.world)
    blkdev_get(op, d, None, "out")
    b = meta_block(op.world)
    bh = bread(op, b)
    update(op, b, bh, bit, f"memcpy(bh->b_data, {bit}, bh->b_size)")
    mark_buffer_dirty(op, b, bh, bit)
    brelse(op, b, bh)
    blkdev_put(op, d, None)
    op.label("out")


# --- a swap device ------------------------------------------------------------------------


@attrs.frozen
class SwapInfo:
    """A swap device's ``swap_info_struct``: its ``si->lock`` (what
    locking.rst's table calls swap_lock: the code holds the device's own
    ``si->lock``, not the global ``swap_lock``) and swap map."""

    lock: Lock
    swap_map: int
    notified: int

    def __str__(self) -> str:
        return "si"


def swap_info(world: World) -> SwapInfo:
    """The swap area on the disk, made on first use."""
    part = world.parts.get("swap_info")
    if isinstance(part, SwapInfo):
        return part
    made = SwapInfo(
        world.add_lock("si->lock", LockKind.SPINLOCK, "swap_lock"),
        world.shared_slot("swap_map", (1, 1)),
        world.shared_slot("slots the driver freed", ()),
    )
    world.parts["swap_info"] = made
    return made


def _drop_entry(scratch: Scratch, si: SwapInfo, offset: int) -> int:
    swap_map = list(scratch[si.swap_map])
    swap_map[offset] -= 1
    scratch[si.swap_map] = tuple(swap_map)
    return 0


def _notify(scratch: Scratch, si: SwapInfo, offset: int) -> int:
    scratch[si.notified] = (*scratch[si.notified], offset)
    return 0


@operation(
    models="free_swap_slot() -> swapcache_free_entries() -> swap_entry_free() (mm/swapfile.c)",
    describe=lambda offset: f"free swap slot({offset})",
    cites=(
        Cite("mm/swapfile.c", "swapcache_free_entries", "6.4"),
        Cite("mm/swapfile.c", "swap_entry_free", "6.4"),
        Cite("mm/swapfile.c", "swap_range_free", "6.4"),
    ),
)
def free_swap_slot(op: Op, offset: int) -> None:
    """A swap slot of a device swap area (zram) freed:
    ``swapcache_free_entries()`` takes si->lock (``swap_info_get_cont()``),
    ``swap_entry_free()`` clears the map entry and ``swap_range_free()``
    tells the driver, si->lock still held:
    ``si->bdev->bd_disk->fops->swap_slot_free_notify(si->bdev, offset)``.
    This is ``free_swap_slot()``'s direct path (mm/swap_slots.c), taken
    when the slots cache is off.  Left out: with the cache on, the entry
    joins the CPU's ``cache->slots_ret`` under ``spin_lock_irq(&cache->free_lock)``,
    and when 64 have gathered ``swapcache_free_entries()`` runs under
    that lock, so ``->swap_slot_free_notify`` then runs with the CPU's
    ``free_lock`` held and interrupts off; ``swap_entry_free()``'s cluster
    lock (``lock_cluster()``, released before the notify).  Newer kernels
    (6.15 and later; read in 6.17-rc3, Kingxukai/linux at 0291023e) have no
    slots cache and call the notify under the cluster lock alone
    (``swap_entries_put_cache()``: ``ci = lock_cluster(si, offset)`` ->
    ``swap_entries_free()`` -> ``swap_range_free()``), si->lock not held and
    taken inside the cluster lock by ``move_cluster()``: locking.rst's
    "swap_lock" for ``swap_slot_free_notify`` is stale there, and such a
    kernel is ``slot-free-without-si-lock`` as far as si->lock goes, which
    ``spec-conformance`` reports against the document's rule."""
    si = swap_info(op.world)
    slots = len(op.world.initial[si.swap_map])
    if isinstance(offset, bool) or not 0 <= offset < slots:
        raise ModelError(f"free_swap_slot({offset!r}): the swap area has slots 0 to {slots - 1}")
    op.one_thread(
        "frees",
        f"swap slot {offset}",
        "a slot is freed once (swap_entry_free() of a free slot is a double free, which "
        "swap_info_get_cont() reports as a bad swap entry)",
    )
    d = disk(op.world)
    locked = not op.variant(SLOT_FREE_WITHOUT_SI_LOCK)
    if locked:
        op.lock(
            si.lock, EXCL, "swapcache_free_entries(): swap_info_get_cont(): spin_lock(&p->lock)"
        )
    op.effect(
        "swap_entry_free(): p->swap_map[offset] = 0; dec_cluster_info_page()",
        _drop_entry,
        si,
        offset,
    )
    op.call(
        "block_device_operations.swap_slot_free_notify",
        _notify,
        si,
        offset,
        label="swap_range_free(): if (si->flags & SWP_BLKDEV) "
        "swap_slot_free_notify(si->bdev, offset)",
        roles={"si": si, "disk": d},
        sleeps=False,
    )
    if locked:
        op.unlock(si.lock, "spin_unlock(&p->lock)")


def exclusive_violation(d: Disk, state: Any) -> str | None:
    """Two holders hold the disk exclusively, or a rescan made under a
    claim (an exclusive opener's, or ``disk_scan_partitions()``'s, whose
    GD_NEED_PART_SCAN a plain open may serve) changes its partitions under
    another holder, or None.  A driver's own rescan under no claim
    (``loop_reread_partitions()``, a media change) is not asked to exclude
    holders: the kernel does it under a filesystem holding the disk."""
    holders = state[d.exclusive]
    if len(holders) > 1:
        return f"{d} is held exclusively by {_render_set(holders)} at once"
    rescan = state[d.rescanning]
    if rescan is None:
        return None
    thread, claimer = rescan
    if claimer is not None and holders - {claimer}:
        return (
            f"{thread} rescans {d}'s partitions for {claimer} while "
            f"{_render_set(holders)} holds it exclusively"
        )
    return None


# --- the block size of the device's page cache ---------------------------------------------


SET_BLOCKSIZE_UNLOCKED = "set-blocksize-unlocked"
READ_WITHOUT_I_RWSEM = "bdev-read-without-i_rwsem"
SPLICE_READ_WITHOUT_I_RWSEM = "bdev-splice-read-without-i_rwsem"
DIO_FALLBACK_WITHOUT_I_RWSEM = "dio-fallback-without-i_rwsem"
FOLIO_HOLDS_A_BLOCK = "bdev-folio-holds-a-block"
"""The property a read or write of the block device breaks when it adds a
folio smaller than a block to the page cache: a read through readahead,
``do_mpage_readpage()`` finds ``blocks_per_folio`` 0 and allocates the bio
with a NULL block device; through ``->read_folio``,
``create_empty_buffers()`` gets no buffer_head and dereferences NULL (the
crash "block: fix race between set_blocksize and read paths" fixed); a
write's ``iomap_write_begin()`` maps a block larger than its folio.  With
CONFIG_DEBUG_VM, ``__filemap_add_folio()``'s
``VM_BUG_ON_FOLIO(folio_order(folio) < mapping_min_folio_order(mapping))``
catches it at the add."""
PAGE_SHIFT = 12

flag_variant(
    SET_BLOCKSIZE_UNLOCKED,
    "set_blocksize() and the block device's read(2) as large block sizes came in (6.15-rc, "
    "before c0e473a0d226): set_blocksize() syncs, changes i_blkbits and the folio order, then "
    "truncates, with no lock; blkdev_read_iter() takes no i_rwsem",
)
flag_variant(
    READ_WITHOUT_I_RWSEM,
    "blkdev_read_iter() without inode_lock_shared(bd_inode) around filemap_read(): "
    "set_blocksize() takes i_rwsem and invalidate_lock, but page_cache_ra_order() reads the "
    "minimum folio order before it takes invalidate_lock",
)
flag_variant(
    DIO_FALLBACK_WITHOUT_I_RWSEM,
    "blkdev_write_iter() finishing a short O_DIRECT write as a buffered one through "
    "direct_write_fallback() with no i_rwsem, as from 6.15 to 6.17-rc3 at least: its "
    "__filemap_get_folio() reads the minimum folio order and adds a folio under no lock "
    "set_blocksize() takes",
)
flag_variant(
    SPLICE_READ_WITHOUT_I_RWSEM,
    "def_blk_fops.splice_read = filemap_splice_read, as from 6.15 to 6.17-rc3 at least: a "
    "splice from the block device takes no i_rwsem, so it races set_blocksize() as read(2) "
    "did before c0e473a0d226",
)


@attrs.frozen
class Geometry:
    """The block device inode's block size and its page cache's folio
    order: ``i_blkbits``, ``mapping_min_folio_order()``, the order of the
    folio cached at index 0 (None when none is), and the device inode's
    ``i_rwsem`` and ``invalidate_lock``."""

    i_rwsem: Lock
    invalidate_lock: Lock
    blkbits: int
    min_order: int
    folio: int

    def __str__(self) -> str:
        return "bdev"


def _render_order(value: int | None) -> str:
    return "none" if value is None else f"order {value} ({4 << value} KiB)"


def geometry(world: World) -> Geometry:
    """The block device inode's geometry, made on first use: 4 KiB blocks
    (``set_init_blocksize()``), order-0 folios, nothing cached."""
    part = world.parts.get("bdev-geometry")
    if isinstance(part, Geometry):
        return part
    made = Geometry(
        world.shared_lock("i_rwsem(bdev)", LockKind.RWSEM),
        world.shared_lock("invalidate_lock(bdev)", LockKind.RWSEM),
        world.shared_slot("i_blkbits(bdev)", PAGE_SHIFT),
        world.shared_slot("min folio order(bdev)", 0),
        world.shared_slot("folio(bdev:0) order", None, _render_order),
    )
    world.parts["bdev-geometry"] = made
    return made


def first_folio_cached(g: Geometry) -> Any:
    """True where a folio is cached at the device's index 0 (a state
    expression for ``op.goto_if``)."""
    return state_expr(
        "filemap_get_pages(): folio cached", lambda s: s[g.folio] is not None, reads=[g.folio]
    )


READ_CRASH = "do_mpage_readpage() maps no block and allocates the bio with a NULL block device"
WRITE_CRASH = (
    "__filemap_add_folio() adds a folio smaller than a block for iomap_write_begin() "
    "(CONFIG_DEBUG_VM's VM_BUG_ON_FOLIO fires there; without it iomap_trim_folio_range() warns)"
)


@touches(lambda _world, g, _order, _tid, _verb, _crash: ([g.folio, g.blkbits], [g.folio]))
def _add_folio(scratch: Scratch, g: Geometry, order: int, tid: int, verb: str, crash: str) -> int:
    """``filemap_add_folio()`` of a folio of ``order`` at index 0 and its
    I/O: a folio of fewer than ``1 << i_blkbits`` bytes is the ``crash``."""
    if scratch[g.folio] is not None:
        return -E.EEXIST
    scratch[g.folio] = order
    if (PAGE_SHIFT + order) < scratch[g.blkbits]:
        scratch.violate(
            FOLIO_HOLDS_A_BLOCK,
            f"{scratch.world.thread_names[tid]} {verb} an order-{order} folio "
            f"({4 << order} KiB) of {1 << (scratch[g.blkbits] - 10)} KiB blocks: {crash}",
        )
    return 0


@touches(lambda _world, g, _bits: ([], [g.blkbits, g.min_order]))
def _set_geometry(scratch: Scratch, g: Geometry, bits: int) -> int:
    scratch[g.blkbits] = bits
    scratch[g.min_order] = max(0, bits - PAGE_SHIFT)
    return 0


@touches(lambda _world, g: ([], [g.folio]))
def _kill_bdev(scratch: Scratch, g: Geometry) -> int:
    scratch[g.folio] = None
    return 0


BLOCKSIZE_CITES = (
    Cite("block/bdev.c", "set_blocksize", "6.17"),
    Cite("block/bdev.c", "kill_bdev", "6.17"),
    Cite("block/fops.c", "blkdev_read_iter", "6.17"),
    Cite("mm/filemap.c", "filemap_get_pages", "6.17"),
    Cite("mm/readahead.c", "page_cache_ra_order", "6.17"),
    Cite("mm/filemap.c", "__filemap_get_folio", "6.17"),
)


MIN_ORDER_TAG = "min-order"
RA_INVALIDATE_LOCK_TAG = "ra-invalidate-lock"


def read_min_order(op: Op, g: Geometry, label: str) -> Any:
    """The folio order a new folio of the device's page cache gets, read
    into the thread's register ``min_order`` at the step ``label`` (tagged
    ``min-order``)."""
    return op.let(
        "min_order",
        state_expr(
            "mapping_min_folio_order(mapping)", lambda s: s[g.min_order], reads=[g.min_order]
        ),
        label,
        render=str,
        tag=MIN_ORDER_TAG,
    )


def add_first_folio(op: Op, g: Geometry, order: Any, label: str, *, writes: bool = False) -> None:
    """The step ``label`` that adds a folio of ``order`` (a register, as
    ``read_min_order()`` gives) at the device's index 0 and starts its
    read, or with ``writes`` its write: ``bdev-folio-holds-a-block`` fails
    there when ``PAGE_SHIFT + order < i_blkbits``; a folio already cached
    is left alone (-EEXIST)."""
    op.effect(
        label,
        _add_folio,
        g,
        order,
        op.thread.tid,
        "writes" if writes else "reads",
        WRITE_CRASH if writes else READ_CRASH,
    )


def readahead_first_folio(op: Op, g: Geometry, via: str = "page_cache_sync_ra()") -> None:
    """The read of the device's first page by readahead (mm/filemap.c,
    mm/readahead.c at 0291023e), under whatever locks the caller holds:
    the page is cached (nothing to read) or ``via`` ->
    ``page_cache_ra_order()`` reads ``mapping_min_folio_order()``, takes
    ``invalidate_lock`` shared (so the caller must not hold it; the step
    is tagged ``ra-invalidate-lock``), adds a folio of that order and reads
    it (``add_first_folio()``)."""
    cached = op.fresh_label("cached")
    op.goto_if(first_folio_cached(g), cached, "if (folio) /* cached: copy it */")
    order = read_min_order(
        op,
        g,
        f"{via} -> page_cache_ra_order(): "
        "min_order = mapping_min_folio_order(mapping); new_order = max(new_order, min_order)",
    )
    op.lock(
        g.invalidate_lock,
        SHARED,
        "filemap_invalidate_lock_shared(mapping)",
        tag=RA_INVALIDATE_LOCK_TAG,
    )
    add_first_folio(
        op,
        g,
        order,
        "ra_alloc_folio(ractl, index, mark, new_order, gfp) -> filemap_add_folio(); "
        "read_pages(ractl) -> blkdev_readahead() -> mpage_readahead()",
    )
    op.unlock(g.invalidate_lock, "filemap_invalidate_unlock_shared(mapping)")
    op.label(cached)


def _read_uncached(op: Op, g: Geometry, locked: bool, caller: str) -> None:
    """``readahead_first_folio()`` under ``i_rwsem`` shared when ``locked``."""
    if locked:
        op.lock(g.i_rwsem, SHARED, f"{caller}: inode_lock_shared(bd_inode)")
    readahead_first_folio(op, g)
    if locked:
        op.unlock(g.i_rwsem, "inode_unlock_shared(bd_inode)")


@operation(
    models="read(2) of the block device: blkdev_read_iter() -> filemap_read() -> "
    "filemap_get_pages() -> page_cache_sync_ra() -> page_cache_ra_order() -> "
    "->readahead (block/fops.c, mm/filemap.c, mm/readahead.c)",
    describe=lambda: "read(2) of /dev/sda",
    cites=BLOCKSIZE_CITES,
)
def bdev_read(op: Op) -> None:
    """A buffered read of the device's first page, not cached: under
    ``inode_lock_shared(bd_inode)`` (since c0e473a0d226, "block: fix race
    between set_blocksize and read paths", 6.15-rc4; read in 6.17-rc3,
    Kingxukai/linux: block/fops.c at 9b44fff6, mm/filemap.c and
    mm/readahead.c at 0291023e), ``filemap_read()`` -> ``filemap_get_pages()``
    finds no folio and calls ``page_cache_sync_ra()`` ->
    ``page_cache_ra_order()``, which reads ``mapping_min_folio_order()``,
    takes ``invalidate_lock`` shared, adds a folio of at least that order
    and reads it (``blkdev_readahead()`` -> ``mpage_readahead()``, whose
    ``do_mpage_readpage()`` maps ``folio_size >> i_blkbits`` blocks).  When
    readahead adds nothing, ``filemap_create_folio()`` is the fallback: it
    too reads the order before ``invalidate_lock`` (since ab95d23bab22,
    "filemap: allocate mapping_min_order folios in the page cache", 6.12)
    and reads the folio through ``->read_folio`` under it, the same steps
    for these verdicts.  Left out: the folio lock the read holds until
    its I/O completes (``kill_bdev()`` waits for it; the property is
    checked when the read is submitted), the copy to user space, a
    readahead window of more than one folio, and a folio some other read
    added first (-EEXIST, the read retries: one reader here)."""
    g = geometry(op.world)
    locked = not (op.variant(SET_BLOCKSIZE_UNLOCKED) or op.variant(READ_WITHOUT_I_RWSEM))
    _read_uncached(op, g, locked, "blkdev_read_iter()")


@operation(
    models="splice(2) or sendfile(2) from the block device: ->splice_read -> "
    "filemap_splice_read() -> filemap_get_pages() (block/fops.c, mm/filemap.c)",
    describe=lambda: "splice(/dev/sda -> pipe)",
    cites=BLOCKSIZE_CITES,
)
def bdev_splice_read(op: Op) -> None:
    """A splice of the device's first page, not cached, as "block: take
    i_rwsem for the splice read path" (Tal Zussman, posted as v6 3/9 for 7.4,
    Fixes: 3c20917120ce) has it: ``blkdev_splice_read()`` takes
    ``inode_lock_shared(bd_inode)`` around ``filemap_splice_read()``, whose
    ``filemap_get_pages()`` reads the folio as ``bdev_read()`` does.  Under
    ``bdev-splice-read-without-i_rwsem`` the code of 6.15 to 6.17-rc3 at
    least (block/fops.c at 9b44fff6): ``def_blk_fops.splice_read`` is
    ``filemap_splice_read()`` itself, with no ``i_rwsem``.  A page fault
    on a mapping of the device reaches ``page_cache_ra_order()`` without
    ``i_rwsem`` too and is not modelled here (the README's worked example
    writes it)."""
    g = geometry(op.world)
    locked = not (op.variant(SET_BLOCKSIZE_UNLOCKED) or op.variant(SPLICE_READ_WITHOUT_I_RWSEM))
    _read_uncached(op, g, locked, "blkdev_splice_read()")


@operation(
    models="pwrite(2) with O_DIRECT to the block device, completed short and finished "
    "buffered: blkdev_write_iter() -> blkdev_direct_write(), direct_write_fallback() -> "
    "blkdev_buffered_write() -> iomap_file_buffered_write() (block/fops.c, fs/iomap, "
    "mm/filemap.c)",
    describe=lambda: "pwrite(O_DIRECT) to /dev/sda, short",
    cites=BLOCKSIZE_CITES,
)
def bdev_direct_write(op: Op) -> None:
    """An ``O_DIRECT`` write of the device's first block that the direct
    path completes only in part (a segment of the user's buffer it cannot
    pin), so that ``blkdev_write_iter()`` finishes it buffered, as "block:
    take i_rwsem for the direct I/O write fallback" (Tal Zussman, posted
    as v6 2/9 for 7.4, Fixes: 3c20917120ce) has it:
    ``inode_lock_shared(bd_inode)`` around ``blkdev_buffered_write()``
    alone (``direct_write_fallback()``'s writeback and invalidation run
    after the unlock), which goes ``iomap_file_buffered_write()`` ->
    ``iomap_write_begin()`` ->
    ``__filemap_get_folio(FGP_CREAT)``, which reads
    ``mapping_min_folio_order()`` and adds a folio of that order with no
    ``invalidate_lock`` (mm/filemap.c at 0291023e).  Under
    ``dio-fallback-without-i_rwsem`` the code of 6.15 to 6.17-rc3 at least
    (block/fops.c at 9b44fff6): ``direct_write_fallback(iocb, from, ret,
    blkdev_buffered_write(iocb, from))`` under no lock, which c0e473a0d226
    missed when it locked the plain buffered write.  Left out: the direct
    write's own I/O and its invalidation of the cached range, the copy
    into the folio, ``iomap_write_end()``, the folio lock, and
    ``direct_write_fallback()``'s writeback and invalidation after it."""
    g = geometry(op.world)
    locked = not (op.variant(SET_BLOCKSIZE_UNLOCKED) or op.variant(DIO_FALLBACK_WITHOUT_I_RWSEM))
    if locked:
        op.lock(
            g.i_rwsem,
            SHARED,
            "blkdev_direct_write() short, so the fallback: inode_lock_shared(bd_inode)",
        )
    op.goto_if(
        first_folio_cached(g), "written", "if (folio) /* __filemap_get_folio(): cached, write it */"
    )
    order = read_min_order(
        op,
        g,
        "iomap_write_begin() -> __filemap_get_folio(FGP_CREAT): "
        "order = max(min_order, FGF_GET_ORDER(fgp_flags))",
    )
    add_first_folio(
        op,
        g,
        order,
        "filemap_add_folio(mapping, folio, index, gfp); iomap_write_begin() maps the blocks",
        writes=True,
    )
    op.label("written")
    if locked:
        op.unlock(g.i_rwsem, "inode_unlock_shared(bd_inode)")


@operation(
    models="ioctl(BLKBSZSET) or a mount's sb_set_blocksize() -> set_blocksize() (block/bdev.c)",
    describe=lambda size: f"set_blocksize({size})",
    cites=BLOCKSIZE_CITES,
)
def set_blocksize(op: Op, size: int) -> None:
    """``set_blocksize(file, size)`` as c0e473a0d226 left it (read in
    6.17-rc3, Kingxukai/linux at 0291023e): a size other than the current
    one takes the device inode's ``i_rwsem`` and ``invalidate_lock``, syncs
    and truncates the page cache (``sync_blockdev()``, ``kill_bdev()``),
    sets ``i_blkbits`` and the minimum folio order, truncates again, and
    unlocks.  Under ``set-blocksize-unlocked`` the shape before it: sync,
    the new geometry, one truncation, no lock (a read may add a folio of
    the old order meanwhile).  Left out: the validation of the size and
    of the exclusive open (``bdev_validate_blocksize()``,
    ``file->private_data``), the sync's writeback (nothing is dirty here)
    and the buffer_head LRUs (``invalidate_bh_lrus()``)."""
    g = geometry(op.world)
    bits = size.bit_length() - 1
    unlocked = op.variant(SET_BLOCKSIZE_UNLOCKED)
    op.goto_if(
        state_expr(f"i_blkbits == {bits}", lambda s: s[g.blkbits] == bits, reads=[g.blkbits]),
        "same",
        "if (inode->i_blkbits == blksize_bits(size)) /* the same: nothing to do */",
    )
    if not unlocked:
        op.lock(g.i_rwsem, EXCL, "inode_lock(inode)")
        op.lock(g.invalidate_lock, EXCL, "filemap_invalidate_lock(inode->i_mapping)")
        op.effect("sync_blockdev(bdev); kill_bdev(bdev)", _kill_bdev, g)
    op.effect(
        "inode->i_blkbits = blksize_bits(size); "
        "mapping_set_folio_min_order(inode->i_mapping, get_order(size))",
        _set_geometry,
        g,
        bits,
    )
    op.effect("kill_bdev(bdev)", _kill_bdev, g)
    if not unlocked:
        op.unlock(g.invalidate_lock, "filemap_invalidate_unlock(inode->i_mapping)")
        op.unlock(g.i_rwsem, "inode_unlock(inode)")
    op.label("same")
