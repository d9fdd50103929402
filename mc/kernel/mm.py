"""The memory side of a scenario: a process's mm with its ``mmap_lock``,
one shared writable VMA mapping each file the scenario maps from offset 0,
and a page-table entry per page of the file.

A pte slot holds ``None`` (``pte_none``) or a present entry: the
identity of the folio it maps (``pte_folio()``, shifted by
``PTE_FOLIO_SHIFT``) and the bits ``PTE_WRITE`` (the mapping may be
written without a fault) and ``PTE_DIRTY`` (the CPU wrote through it).
The VMA is ``VM_SHARED`` with a ``->page_mkwrite``, so ptes are installed
write-protected by read faults (``vma_wants_writenotify()``) and a first write goes through
``->page_mkwrite``.  A present pte always names the folio cached at its
index when it is installed; one left after its folio was removed maps
that folio, no longer in the page cache (its dirt does not reach the
folio cached there now).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from mc.kernel.expr import Expr, const
from mc.kernel.locks import Kind, Lock
from mc.kernel.pagecache import Mapping, Page, pagecache
from mc.kernel.world import ModelError, Scratch, World

PTE_WRITE = 1
PTE_DIRTY = 2
PTE_FOLIO_SHIFT = 2
MM = "mm"
UNMOUNTER = "unmounter"
"""The world part naming the thread that unmounts the filesystem."""
MAPPED = "mapped"
"""The world part naming the files an operation of the scenario maps."""

VM_FAULT_SIGBUS = 0x2
VM_FAULT_NOPAGE = 0x100
VM_FAULT_LOCKED = 0x200
VM_FAULT_RETRY = 0x400
VM_FAULT_NAMES = {
    VM_FAULT_RETRY: "VM_FAULT_RETRY",
    VM_FAULT_SIGBUS: "VM_FAULT_SIGBUS",
    VM_FAULT_NOPAGE: "VM_FAULT_NOPAGE",
    VM_FAULT_LOCKED: "VM_FAULT_LOCKED",
}


def render_vm_fault(code: int | None) -> str:
    """A fault handler's return value: ``VM_FAULT_LOCKED``, ``0``..."""
    if code is None:
        return "none"
    return VM_FAULT_NAMES.get(code, str(code))


def vm_fault(code: int) -> Expr:
    """A ``vm_fault_t`` value as an expression."""
    return const(code, render_vm_fault(code))


def pte_folio(pte: int) -> int:
    """The identity of the folio a present pte maps."""
    return pte >> PTE_FOLIO_SHIFT


def make_pte(ident: int, bits: int) -> int:
    """A present pte mapping folio ``ident`` with ``bits``."""
    return (ident << PTE_FOLIO_SHIFT) | bits


def render_pte(pte: int | None) -> str:
    """``none``, ``present #0``, ``present #0,writable,dirty``..."""
    if pte is None:
        return "none"
    bits = [f"present #{pte_folio(pte)}"]
    if pte & PTE_WRITE:
        bits.append("writable")
    if pte & PTE_DIRTY:
        bits.append("dirty")
    return ",".join(bits)


@attrs.frozen
class Mm:
    """The mm of the scenario's process and the ptes of its VMA over one
    file (a process that maps two files has one ``Mm`` per file, sharing
    ``mmap_lock``)."""

    mmap_lock: Lock
    mapping: Mapping
    ptes: tuple[int, ...]

    def __str__(self) -> str:
        return f"mm (VMA over {self.mapping})"


def mm_of(world: World, mapping: Mapping, mapped: Sequence[int] = ()) -> Mm:
    """The mm of ``world``'s process over ``mapping``, laid out on first use
    with the pages in ``mapped`` already mapped read-only.  A second file
    the process maps gets a VMA of its own (its own ptes) in the same mm:
    the ``mmap_lock`` is one."""
    found = world.parts.get(MM)
    if isinstance(found, Mm) and found.mapping is mapping:
        return found
    vmas = _vmas(world)
    if mapping.ino in vmas:
        return vmas[mapping.ino]
    ptes = tuple(
        world.add_slot(f"pte({page})", 0 if page.index in mapped else None, render_pte)
        for page in mapping.pages
    )
    if isinstance(found, Mm):
        mm = Mm(found.mmap_lock, mapping, ptes)
    else:
        mm = Mm(world.add_lock("mmap_lock", Kind.RWSEM, "mmap_lock"), mapping, ptes)
        world.parts[MM] = mm
    vmas[mapping.ino] = mm
    pagecache(world).pte_refs.append(lambda state, page: _mapped_folios(mm, state, page))
    return mm


def note_mapped(world: World, mapping: Mapping) -> None:
    """Note that an operation of the scenario faults through a VMA over
    ``mapping`` (``refuse_mapping_beside_umount``)."""
    world.parts.setdefault(MAPPED, set()).add(str(mapping))
    refuse_mapping_beside_umount(world)


def refuse_mapping_beside_umount(world: World) -> None:
    """A ``ModelError`` for a scenario that both maps a file
    (``note_mapped``) and unmounts its filesystem (``UNMOUNTER``): a VMA's
    ``vm_file`` pins the mount, so ``do_umount()`` returns -EBUSY
    (``propagate_mount_busy()``) for as long as the mapping exists, after
    the thread that made it has returned too, and the models unmap no VMA
    when a thread returns."""
    unmounter, mapped = world.parts.get(UNMOUNTER), world.parts.get(MAPPED)
    if unmounter is not None and mapped:
        raise ModelError(
            f"{unmounter} unmounts the filesystem while the scenario maps "
            f"{', '.join(sorted(mapped))}: the VMA's vm_file pins the mount, so do_umount() "
            "returns -EBUSY for as long as the mapping exists, after its thread returned too"
        )


MAPPED_FILES = "mapped files"
"""The world part that keeps, by inode number, the mm's VMA over each mapped file."""


def _vmas(world: World) -> dict[int, Mm]:
    part = world.parts.get(MAPPED_FILES)
    if not isinstance(part, dict):
        part = {}
        world.parts[MAPPED_FILES] = part
    return part


def mm_mapping(world: World, ino: int) -> Mm | None:
    """The mm's VMA over the file of inode ``ino``, if the process maps it."""
    return _vmas(world).get(ino)


def mapped_files(world: World) -> tuple[Mm, ...]:
    """The mm's VMAs, one per mapped file, the first one first."""
    return tuple(_vmas(world).values())


def _mapped_folios(mm: Mm, state: Sequence[Any], page: Page) -> tuple[int, ...]:
    if page.ino != mm.mapping.ino:
        return ()
    pte = state[mm.ptes[page.index]]
    return () if pte is None else (pte_folio(pte),)


def maps_cached(scratch: Scratch | Sequence[Any], mm: Mm, index: int) -> bool:
    """The pte at ``index`` is present and maps the folio cached there."""
    values = scratch.values if isinstance(scratch, Scratch) else scratch
    pte = values[mm.ptes[index]]
    return pte is not None and pte_folio(pte) == values[mm.mapping.pages[index].ident]


def set_pte(scratch: Scratch, mm: Mm, index: int, *, write: bool, ident: int) -> bool:
    """``set_pte_range()`` of folio ``ident`` unless the pte changed since
    the fault began (``vmf_pte_changed()``): false when it is no longer none."""
    if scratch[mm.ptes[index]] is not None:
        return False
    scratch[mm.ptes[index]] = make_pte(ident, PTE_WRITE | PTE_DIRTY if write else 0)
    return True


def zap(
    scratch: Scratch, mm: Mm, indices: Sequence[int], keep_dirty: bool = False
) -> tuple[int, ...]:
    """``ptep_get_and_clear()`` on every present pte over ``indices``;
    returns the indices whose pte was dirty and mapped the folio cached
    there (that folio must be marked dirty; the dirt of a pte that outlived
    its folio goes with the folio, out of the page cache).

    ``keep_dirty``: the first step of ``zap_pte_range()`` when each dirty
    pte's folio is marked dirty in a step of its own: those ptes stay
    until ``zap_dirty`` clears them and dirties their folios.  The kernel
    clears the pte, marks the folio dirty and removes its rmap under the
    page-table lock, which ``folio_mkclean()``'s walk takes: writeback sees
    the folio mapped, or dirty and unmapped, never clean and unmapped with
    the pte's dirt still to come."""
    dirty = []
    for index in indices:
        pte = scratch[mm.ptes[index]]
        if pte is None:
            continue
        found = pte & PTE_DIRTY and maps_cached(scratch, mm, index)
        if found:
            dirty.append(index)
        if not (found and keep_dirty):
            scratch[mm.ptes[index]] = None
    return tuple(dirty)


def zap_dirty(scratch: Scratch, mm: Mm, index: int) -> bool:
    """``ptep_get_and_clear()`` of the pte ``zap(keep_dirty=True)`` left at ``index``:
    whether it is still dirty and maps the folio cached there (writeback
    may have cleaned it meanwhile, ``folio_mkclean()``, as it would have
    before the zap)."""
    pte = scratch[mm.ptes[index]]
    if pte is None:
        return False
    scratch[mm.ptes[index]] = None
    return bool(pte & PTE_DIRTY) and maps_cached(scratch, mm, index)
