"""The block device under a filesystem: blocks with their contents, the
free-block map and the bios in flight.

A block holds the version of the data last written to it (``None`` when
nothing was ever written there).  A bio is submitted by a task and
completed later by the device, in interrupt context: its completion
(``bio->bi_end_io``, for buffer heads ``bh->b_end_io``) writes or reads the
block and ends the page-cache side of the I/O.
"""

from __future__ import annotations

from typing import Any

import attrs

from mc.kernel.world import World

WRITE = "write"
READ = "read"


@attrs.frozen(order=True, cache_hash=True)
class Bio:
    """One bio of one block: ``op`` (``write`` or ``read``) between block
    ``block`` and page ``index`` of the file ``path`` (inode ``ino``);
    a write carries the data version it was submitted with; ``end_io`` is
    the completion handler the submitter set."""

    op: str
    block: int
    ino: int
    index: int
    path: str
    version: int | None
    end_io: str

    @property
    def page(self) -> str:
        return f"{self.path}:{self.index}"

    def __str__(self) -> str:
        if self.op == WRITE:
            return f"write {render_version(self.version)} of {self.page} to block {self.block}"
        return f"read block {self.block} into {self.page}"


DIO_END_IO = "iomap_dio_bio_end_io"
"""The ``bi_end_io`` of a direct I/O bio: its completion ends no page-cache I/O."""

ZEROES = -2
"""The data of a hole or of a zeroed range: zero bytes."""


def _bare(text: str) -> str:
    """``text`` without one pair of parentheses around all of it."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and position < len(text) - 1:
            return text
    return text[1:-1]


def render_version(version: int | tuple[Any, ...] | None) -> str:
    """A data version as traces print it: ``v0`` is the data the scenario
    starts with, ``v1``... the data of its writes, ``zeroes`` zero bytes; a
    page holding different data in different byte ranges (a tuple of
    ``(start, version)`` runs) reads ``v0, zeroes from 904``."""
    if version is None:
        return "unwritten"
    if isinstance(version, tuple):
        first, *rest = version
        shown = [render_version(first[1])]
        shown += [f"{render_version(v)} from {_bare(str(start))}" for start, v in rest]
        return ", ".join(shown)
    if version == ZEROES:
        return "zeroes"
    return f"v{version}"


def _render_bios(bios: tuple[Bio, ...]) -> str:
    return "; ".join(str(bio) for bio in bios) if bios else "none"


def _render_free(free: tuple[int, ...]) -> str:
    return ", ".join(str(block) for block in free) if free else "none"


@attrs.frozen
class Device:
    """The slots of the block device: one per block, the free map, the
    bios in flight."""

    blocks: tuple[int, ...]
    free: int
    bios: int


def attach(world: World, nr_blocks: int) -> Device:
    """The device of ``world``, created with ``nr_blocks`` blocks, all free
    and unwritten, on first use."""
    found = world.parts.get("device")
    if isinstance(found, Device):
        if len(found.blocks) != nr_blocks:
            raise ValueError("the scenario describes the block device twice, differently")
        return found
    blocks = tuple(world.add_slot(f"block {n}", None, render_version) for n in range(nr_blocks))
    device = Device(
        blocks=blocks,
        free=world.add_slot("free blocks", tuple(range(nr_blocks)), _render_free),
        bios=world.add_slot("bios in flight", (), _render_bios),
    )
    world.parts["device"] = device
    return device


def grow(world: World, nr_blocks: int) -> Device:
    """The device of ``world`` with ``nr_blocks`` more blocks, unwritten,
    after the blocks it had (a second file's blocks); the caller says which
    are free."""
    found = device_of(world)
    start = len(found.blocks)
    blocks = tuple(
        world.add_slot(f"block {n}", None, render_version) for n in range(start, start + nr_blocks)
    )
    device = Device(blocks=(*found.blocks, *blocks), free=found.free, bios=found.bios)
    world.parts["device"] = device
    return device


def device_of(world: World) -> Device:
    """The device the scenario attached."""
    device = world.parts.get("device")
    if not isinstance(device, Device):
        raise ValueError("the scenario has no block device")
    return device


def submit(values: Any, device: Device, bio: Bio) -> None:
    """``submit_bio()``: ``bio`` is in flight (``values`` is a state being
    changed).  The bios in flight are kept in one order whatever their
    versions hold (two writes of one folio are in flight at once where a
    broken protocol lets two writebacks of it run)."""
    values[device.bios] = tuple(sorted((*values[device.bios], bio), key=_bio_order))


def _bio_order(bio: Bio) -> tuple[Any, ...]:
    version: Any = bio.version
    rank = 0 if version is None else 1 if isinstance(version, int) else 2
    return (bio.op, bio.block, bio.ino, bio.index, bio.path, rank, version or 0, bio.end_io)


def retire(values: Any, device: Device, bio: Bio) -> None:
    """The device finished ``bio``: a write lands in its block."""
    values[device.bios] = tuple(b for b in values[device.bios] if b != bio)
    if bio.op == WRITE:
        values[device.blocks[bio.block]] = bio.version


def release(values: Any, device: Device, block: int) -> None:
    """Return ``block`` to the free map (its contents stay on the device)."""
    values[device.free] = tuple(sorted((*values[device.free], block)))


def allocate(values: Any, device: Device) -> int | None:
    """Take the lowest free block, or None when the device is full."""
    free = values[device.free]
    if not free:
        return None
    values[device.free] = free[1:]
    return int(free[0])
