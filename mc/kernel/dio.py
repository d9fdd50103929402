"""Direct I/O in flight on a file (Linux 6.6, fs/inode.c and
fs/iomap/direct-io.c): ``inode->i_dio_count`` (``inode_dio_begin()`` /
``inode_dio_end()``, awaited by ``inode_dio_wait()``) and the scenario's
direct writes, each with the slot of its progress: ``queued`` (its bio
submitted, the completion left to the dio workqueue), ``waited`` (its
submitter waits for it), ``completed`` (``iomap_dio_complete()`` returned,
the caller told), ``failed`` (no block could be allocated: no bio, the
caller got -ENOSPC), for the ``dio-coherent`` property.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from mc.kernel.device import DIO_END_IO
from mc.kernel.expr import Expr, State
from mc.kernel.pagecache import Mapping, Page
from mc.kernel.world import DONE, World

QUEUED = 1
WAITED = 2
COMPLETED = 3
FAILED = 4
STAGES = {
    None: "not begun",
    QUEUED: "bio submitted, completion queued to the workqueue",
    WAITED: "bio submitted, the submitter waits",
    COMPLETED: "completed",
    FAILED: "failed before a bio (the caller got the error)",
}
ENDED = (COMPLETED, FAILED)
"""The stages after which the caller was told: no bio is left to end."""


def render_stage(stage: int | None) -> str:
    return STAGES.get(stage, str(stage))


@attrs.frozen
class DirectWrite:
    """A direct write of one page: the thread that submits it, the page,
    its data version and the slot of its stage; ``aio``: an io_submit(2)
    whose completion a ``dio_worker`` thread runs."""

    thread: str
    page: Page
    version: int
    stage: int
    aio: bool = False


@attrs.frozen
class ReadAfter:
    """A buffered read begun after a direct write completed: the register
    holding the data it returned."""

    thread: str
    write: DirectWrite
    data: int


class DirectIo:
    """The direct I/O part of a world."""

    def __init__(self) -> None:
        self.writes: list[DirectWrite] = []
        self.reads: list[ReadAfter] = []
        self.workers: dict[DirectWrite, str] = {}
        """The ``dio_worker`` thread that completes each AIO write."""

    def write_of(self, page: Page) -> DirectWrite:
        """The direct write of ``page`` a thread built earlier makes."""
        for write in self.writes:
            if write.page == page:
                return write
        raise ValueError(f"no thread before this one writes {page} directly")

    def work_of(self, page: Page, worker: str) -> DirectWrite:
        """The AIO direct write of ``page`` that thread ``worker`` completes:
        the first a thread built earlier submits that no other worker
        completes."""
        writes = [write for write in self.writes if write.page == page and write.aio]
        for write in writes:
            if self.workers.setdefault(write, worker) == worker:
                return write
        if not writes:
            raise ValueError(f"no thread before this one writes {page} directly with AIO")
        taken = ", ".join(f"{self.workers[write]} completes {write.thread}'s" for write in writes)
        raise ValueError(
            f"every AIO direct write of {page} a thread before this one submits has its "
            f"dio_worker ({taken}): one dio_worker completes one write"
        )

    def unworked(self) -> list[DirectWrite]:
        """The AIO direct writes no ``dio_worker`` thread completes."""
        return [write for write in self.writes if write.aio and write not in self.workers]


def direct_io(world: World) -> DirectIo:
    """The direct I/O part of ``world``."""
    part = world.parts.get("dio")
    if not isinstance(part, DirectIo):
        part = DirectIo()
        world.parts["dio"] = part
    return part


def has_direct_io(world: World) -> bool:
    """Some thread of ``world`` writes directly."""
    part = world.parts.get("dio")
    return isinstance(part, DirectIo) and bool(part.writes)


class DioCounts(dict[int, int]):
    """The slots of ``i_dio_count``, by inode number."""


class DioEnders(dict[int, set[int]]):
    """The threads whose programs drop ``i_dio_count`` (``inode_dio_end()``),
    by inode number."""


def _enders(world: World, mapping: Mapping) -> set[int]:
    found = world.parts.get("i_dio_enders")
    if not isinstance(found, DioEnders):
        found = DioEnders()
        world.parts["i_dio_enders"] = found
    return found.setdefault(mapping.ino, set())


def ends_dio(world: World, mapping: Mapping, tid: int) -> None:
    """Thread ``tid``'s program drops ``mapping``'s ``i_dio_count``."""
    _enders(world, mapping).add(tid)


def dio_holders(world: World, mapping: Mapping) -> Callable[[State], tuple[int, ...]]:
    """Who could end a wait for ``mapping``'s ``i_dio_count``
    (``inode_dio_wait()``): the threads still running whose programs drop
    it (``ends_dio``), as a direct write's submitter or an AIO's completion
    worker does."""
    enders = _enders(world, mapping)
    pcs = world.pc_slots
    return lambda state: tuple(tid for tid in sorted(enders) if state[pcs[tid]] != DONE)


def dio_count(world: World, mapping: Mapping) -> int:
    """The slot of ``inode->i_dio_count`` of ``mapping``'s inode (laid out
    by the first truncate, hole punch or direct write of the file)."""
    counts = world.parts.get("i_dio_count")
    if not isinstance(counts, DioCounts):
        counts = DioCounts()
        world.parts["i_dio_count"] = counts
    if mapping.ino not in counts:
        counts[mapping.ino] = world.add_slot(f"i_dio_count({mapping})", 0)
    return counts[mapping.ino]


def no_dio(world: World, mapping: Mapping) -> Expr:
    """``atomic_read(&inode->i_dio_count) == 0``."""
    slot = dio_count(world, mapping)
    return Expr(f"!atomic_read(&{mapping}->i_dio_count)", lambda _w: lambda state: state[slot] == 0)


def bio_in_flight(values: Sequence[Any], bios: int, write: DirectWrite) -> bool:
    """The direct write's bio is still in flight."""
    return any(bio.end_io == DIO_END_IO and bio.version == write.version for bio in values[bios])
