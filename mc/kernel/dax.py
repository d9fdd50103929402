"""A DAX file (fs/dax.c, Linux 6.6): no page cache; the mapping's xarray
holds DAX entries and the process's ptes map the device's blocks (pfns)
directly.

Each page index of the file owns:

- ``dax_entry(/f:0)``: ``None`` or ``(target, dirty)``: the entry's target
  (``ZERO_PAGE``: the shared zero page of a read fault on a hole, ``EMPTY``:
  the empty entry a fault inserts while it works, else a device block) and
  its ``PAGECACHE_TAG_DIRTY`` mark (a mark of the index: storing another
  entry there keeps it);
- ``DAX_LOCKED(/f:0)``: the entry's lock bit, a sleeping bit lock that
  faults and writeback take (``grab_mapping_entry()`` waits for it and sets
  it under xa_lock, one step here);
- ``dax_pte(/f:0)``: ``None`` or ``(target, writable)``;
- ``cpu_cache(/f:0)``: ``None`` or ``(block, version)``: a store through the
  pte sits in the CPU cache until ``dax_flush()`` writes it back to the
  persistent memory (the model has no spontaneous cache eviction: a store
  reaches the media only by a flush);

and the mm has one ``pmd`` slot: False until a pte table is allocated (the
first fault tries a huge, PMD, mapping first).  The data a store writes
enters the page's history (``mc.kernel.pagecache``) when it reaches the CPU
cache, so that ``no-lost-write`` holds fsync to flushing it.
"""

from __future__ import annotations

import attrs

from mc.kernel.device import render_version
from mc.kernel.locks import Kind, Lock
from mc.kernel.mm import mm_of
from mc.kernel.pagecache import Mapping
from mc.kernel.world import World

ZERO_PAGE = -1
EMPTY = -3
PG_PMD_COLOUR = 511

DaxEntry = tuple[int, bool]


def render_target(target: int) -> str:
    if target == ZERO_PAGE:
        return "zero page"
    if target == EMPTY:
        return "empty"
    return f"block {target}"


def render_entry(entry: DaxEntry | None) -> str:
    """``block 1 dirty``, ``none``."""
    if entry is None:
        return "none"
    target, dirty = entry
    return f"{render_target(target)} dirty" if dirty else render_target(target)


def render_dax_pte(pte: tuple[int, bool] | None) -> str:
    if pte is None:
        return "none"
    return f"{render_target(pte[0])}{',writable' if pte[1] else ''}"


def render_cached(line: tuple[int, int] | None) -> str:
    if line is None:
        return "clean"
    return f"{render_version(line[1])} for block {line[0]}, not flushed"


@attrs.frozen
class Dax:
    """The slots of a DAX file and of the ptes mapping it."""

    mapping: Mapping
    mmap_lock: Lock
    entries: tuple[int, ...]
    locks: tuple[Lock, ...]
    ptes: tuple[int, ...]
    cache: tuple[int, ...]
    pmd: int

    def __str__(self) -> str:
        return f"DAX {self.mapping}"


NOT_MODELLED_ON_DAX = (
    "the page-cache operations (truncate, hole punch, page-cache faults and I/O) are not "
    "modelled on a DAX file: its truncate waits for pinned pages (dax_layout_busy_page(), "
    "ext4_break_layouts()), which the models leave out"
)


def dax_of(world: World, mapping: Mapping) -> Dax:
    """The DAX part of ``world`` for ``mapping``, laid out on first use."""
    found = world.parts.get("dax")
    if isinstance(found, Dax):
        return found
    mm = mm_of(world, mapping)
    part = Dax(
        mapping,
        mm.mmap_lock,
        tuple(world.add_slot(f"dax_entry({p})", None, render_entry) for p in mapping.pages),
        tuple(
            world.add_lock(f"DAX_LOCKED({p})", Kind.BIT_LOCK, "DAX_LOCKED") for p in mapping.pages
        ),
        tuple(world.add_slot(f"dax_pte({p})", None, render_dax_pte) for p in mapping.pages),
        tuple(world.add_slot(f"cpu_cache({p})", None, render_cached) for p in mapping.pages),
        world.add_slot("pmd", False, lambda v: "pte table" if v else "none"),
    )
    world.parts["dax"] = part
    return part
