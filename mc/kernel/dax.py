"""A DAX file (fs/dax.c, Linux 6.6): no page cache; the mapping's xarray
holds DAX entries and the process's ptes map the device's blocks (pfns)
directly.

Each page index of the file owns:

- ``dax_entry(/f:0)``: ``None`` or ``(target, dirty, towrite)``: the
  entry's target (``ZERO_PAGE``: the shared zero page of a read fault on a
  hole, ``EMPTY``: the empty entry a fault inserts while it works, else a
  device block) and its ``PAGECACHE_TAG_DIRTY`` and
  ``PAGECACHE_TAG_TOWRITE`` marks (marks of the index: storing another
  entry there keeps them, ``xas_store(xas, NULL)`` of a truncate clears
  them);
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

from collections.abc import Sequence
from typing import Any

import attrs

from mc.engine.model import Check, declare
from mc.kernel.device import render_version
from mc.kernel.expr import State
from mc.kernel.locks import Kind, Lock
from mc.kernel.mm import mm_of, note_mapped
from mc.kernel.pagecache import Mapping
from mc.kernel.world import ERROR_SLOT, Built, ModelError, World

ZERO_PAGE = -4
"""An entry's target when it maps the shared zero page (not -1, which a
slot's tuple may not hold: ``mc.kernel.world.MINUS_ONE_INSIDE``)."""
EMPTY = -3
PG_PMD_COLOUR = 511

DaxEntry = tuple[int, bool, bool]


def render_target(target: int) -> str:
    if target == ZERO_PAGE:
        return "zero page"
    if target == EMPTY:
        return "empty"
    return f"block {target}"


def render_entry(entry: DaxEntry | None) -> str:
    """``block 1 dirty towrite``, ``none``."""
    if entry is None:
        return "none"
    target, dirty, towrite = entry
    marks = (" dirty" if dirty else "") + (" towrite" if towrite else "")
    return f"{render_target(target)}{marks}"


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
    "modelled on a DAX file: truncate and hole punch of a DAX file are dax_truncate and "
    "dax_punch_hole (mc.models.dax: ext4_break_layouts(), dax_delete_mapping_entry())"
)


PAGE_CACHE_USERS = "page-cache users"
"""The world part holding, by inode number, the threads that reach the
file through the page cache (``Op.mapping``)."""


def refuse_page_cache_on_dax(world: World, mapping: Mapping, tid: int) -> None:
    """Note that thread ``tid`` reaches ``mapping`` through the page cache;
    a ``ModelError`` when it is the scenario's DAX file."""
    world.parts.setdefault(PAGE_CACHE_USERS, {}).setdefault(mapping.ino, set()).add(tid)
    found = world.parts.get("dax")
    if isinstance(found, Dax) and found.mapping.ino == mapping.ino:
        raise ModelError(f"{mapping} is a DAX file: {NOT_MODELLED_ON_DAX}")


def dax_of(world: World, mapping: Mapping) -> Dax:
    """The DAX part of ``world`` for ``mapping``, laid out on first use; a
    ``ModelError`` for a second DAX file (the part, its ``pmd`` and the
    properties that read it are of one file)."""
    found = world.parts.get("dax")
    if isinstance(found, Dax):
        if found.mapping.ino != mapping.ino:
            raise ModelError(
                f"{mapping.path} is a second DAX file beside {found.mapping.path}: the DAX model "
                "follows one file per scenario"
            )
        return found
    mm = mm_of(world, mapping)
    note_mapped(world, mapping)
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


# --- what truncate and hole punch must guarantee of a DAX file ------------------------

NO_DAX_MAP_OF_FREED_BLOCK = "no-dax-map-of-freed-block"


def freed_block_violation(part: Dax, state: Sequence[Any]) -> str | None:
    """A pte or a DAX entry of the file that targets a block the page no
    longer has (a truncate or hole punch freed it: a load reads, a store
    writes, writeback flushes a block the filesystem may give to another
    file), or None."""
    for page in part.mapping.pages:
        block = state[page.block]
        for what, slot in (("dax_pte", part.ptes), ("dax_entry", part.entries)):
            found = state[slot[page.index]]
            if found is None or found[0] < 0 or found[0] == block:
                continue
            now = "a hole" if block is None else f"on block {block}"
            return (
                f"{what}({page}) still maps block {found[0]}, which was freed: {page} is {now} now"
            )
    return None


@declare(
    NO_DAX_MAP_OF_FREED_BLOCK,
    "no pte and no DAX entry of a DAX file maps a block its page no longer has (truncate and "
    "hole punch unmap and delete before they free the blocks, and exclude faults meanwhile)",
    reads=("error", "dax_pte", "dax_entry", "i_block"),
    needs=("dax", "a DAX file"),
)
def no_dax_map_of_freed_block(model: Built) -> Check[State]:
    part = model.world.parts["dax"]
    assert isinstance(part, Dax)

    def check(state: State) -> str | None:
        if state[ERROR_SLOT] is not None:
            return None
        return freed_block_violation(part, state)

    return check


DEFINITIONS = (no_dax_map_of_freed_block,)
"""The DAX properties, for the registry."""
