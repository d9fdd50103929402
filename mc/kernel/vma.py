"""The VMAs of a scenario's processes: each process's mm has a few VMA
slots and its ``mmap_lock``, and the mapped file keeps the count of VMAs its
``vm_operations_struct`` opened (``->mmap``/``->open`` add one, ``->close``
takes one away: AFS's ``vnode->cb_nr_mmap``, Linux 6.6).

A VMA is ``(start, end, flags)``: the virtual pages ``[start, end)`` of the
process.  A file VMA maps its pages linearly, page ``n`` of the VMA to page
``n`` of the file (``vm_pgoff`` 0 at virtual page 0), so that the ptes of
``mc.kernel.mm`` (one per page of the file) serve every file VMA of the
scenario's process; ``VM_PFNMAP`` marks a device VMA (``remap_pfn_range()``:
``VM_IO | VM_PFNMAP``) placed above the file's pages, whose ptes the model
does not keep.  The scenario's process (``task``) shares its ``mmap_lock``
with ``mc.kernel.mm``'s mm; a forked child (``child``) has its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from mc.kernel.locks import Kind, Lock
from mc.kernel.mm import Mm, mm_of, note_mapped
from mc.kernel.pagecache import Mapping
from mc.kernel.world import Scratch, World

VM_WRITE = 1
VM_PFNMAP = 2
TASK = "task"
CHILD = "child"
VMA_SLOTS = 3

Vma = tuple[int, int, int]


def render_vma(vma: Vma | None) -> str:
    """``pages [0, 2) rw``, ``none``."""
    if vma is None:
        return "none"
    start, end, flags = vma
    mode = "rw" if flags & VM_WRITE else "r"
    kind = " pfnmap" if flags & VM_PFNMAP else ""
    return f"pages [{start}, {end}) {mode}{kind}"


@attrs.frozen
class Process:
    """One process's mm: its ``mmap_lock``, its VMA slots and each slot's
    VMA lock (``vma->vm_lock``, Linux 6.6 ``CONFIG_PER_VMA_LOCK``: a
    fault read-trylocks it, ``vma_start_write()`` takes it for writing
    under mmap_lock held for writing, until ``vma_end_write_all()``)."""

    name: str
    mmap_lock: Lock
    vmas: tuple[int, ...]
    vm_locks: tuple[Lock, ...]

    def __str__(self) -> str:
        return f"mm({self.name})"


@attrs.frozen
class Vmas:
    """The VMA part of a world: the processes, the slot of the mapped
    file's count of opened VMAs, and the ``i_mmap_rwsem`` of the iomem
    mapping ``/dev/mem``'s VMAs are linked into (``open_port()`` sets
    ``f_mapping = iomem_get_mapping()``, drivers/char/mem.c)."""

    mapping: Mapping
    mm: Mm
    processes: dict[str, Process]
    opened: int
    iomem_i_mmap: Lock
    initial: tuple[Vma, ...] = ()
    """The task's VMAs when the scenario starts."""

    def file_vmas(self, state: Sequence[Any]) -> int:
        """How many file VMAs exist in every process."""
        return sum(
            1
            for process in self.processes.values()
            for slot in process.vmas
            if state[slot] is not None and not state[slot][2] & VM_PFNMAP
        )


WHOLE_FILE_MAPPINGS = "whole-file mappings"
"""The world part holding the inode numbers of the files the faults of
``mc.models.truncate`` (and the operations built on them) map, each in one
VMA over the whole file that the model keeps implicit."""
WHOLE_FILE_BESIDE_VMAS = (
    "{mapping} is mapped both by the faults of mc.models.truncate (mmap_store, mmap_load, "
    "read_to_mapping...: one implicit VMA over the whole file) and by a MappedFile's VMAs "
    "(mc.models.mmap): the two would disagree on what maps the file; with a MappedFile, use "
    "vma_load and vma_store"
)


def refuse_whole_file_beside_vmas(world: World, mapping: Mapping) -> None:
    """Note that ``mapping`` is mapped whole by an implicit VMA; a
    ``ValueError`` when a ``MappedFile``'s VMAs map it too."""
    world.parts.setdefault(WHOLE_FILE_MAPPINGS, set()).add(mapping.ino)
    found = world.parts.get("vmas")
    if isinstance(found, Vmas) and found.mapping.ino == mapping.ino:
        raise ValueError(WHOLE_FILE_BESIDE_VMAS.format(mapping=mapping))


def vmas_of(world: World, mapping: Mapping, initial: Sequence[Vma] = ()) -> Vmas:
    """The VMA part of ``world``, laid out on first use with the task's
    VMAs ``initial`` (each one opened by ``->mmap`` before the scenario)."""
    found = world.parts.get("vmas")
    if isinstance(found, Vmas):
        if found.mapping.ino != mapping.ino:
            raise ValueError(
                f"the VMAs map one file: {mapping} is a second file beside {found.mapping}"
            )
        if tuple(initial) != found.initial:
            raise ValueError(
                f"{mapping} is given two layouts of the task's VMAs when the scenario starts, "
                f"{list(found.initial)} and {list(initial)}: give every thread one MappedFile"
            )
        return found
    if mapping.ino in world.parts.get(WHOLE_FILE_MAPPINGS, ()):
        raise ValueError(WHOLE_FILE_BESIDE_VMAS.format(mapping=mapping))
    mm = mm_of(world, mapping)
    note_mapped(world, mapping)
    if len(initial) > VMA_SLOTS:
        raise ValueError(f"a process has at most {VMA_SLOTS} VMAs in the models")
    slots = tuple(
        world.add_slot(f"vma({TASK}.{n})", initial[n] if n < len(initial) else None, render_vma)
        for n in range(VMA_SLOTS)
    )
    opened = sum(1 for vma in initial if not vma[2] & VM_PFNMAP)
    part = Vmas(
        mapping,
        mm,
        {TASK: Process(TASK, mm.mmap_lock, slots, _vm_locks(world, TASK))},
        world.add_slot(f"cb_nr_mmap({mapping})", opened),
        world.add_lock("i_mmap_rwsem(iomem)", Kind.RWSEM, "i_mmap_rwsem"),
        tuple(initial),
    )
    world.parts["vmas"] = part
    return part


def _vm_locks(world: World, name: str) -> tuple[Lock, ...]:
    return tuple(
        world.add_lock(f"vm_lock({name}.{n})", Kind.RWSEM, "vm_lock") for n in range(VMA_SLOTS)
    )


def child_of(world: World, part: Vmas) -> Process:
    """The forked child's mm, laid out on first use with no VMA."""
    found = part.processes.get(CHILD)
    if found is not None:
        return found
    lock = world.add_lock(f"mmap_lock({CHILD})", Kind.RWSEM, "mmap_lock")
    slots = tuple(world.add_slot(f"vma({CHILD}.{n})", None, render_vma) for n in range(VMA_SLOTS))
    process = Process(CHILD, lock, slots, _vm_locks(world, CHILD))
    part.processes[CHILD] = process
    return process


def find_vma(values: Scratch | Sequence[Any], process: Process, page: int) -> int | None:
    """``vma_lookup()``: the number of the VMA slot covering virtual page
    ``page``, or None."""
    for number, slot in enumerate(process.vmas):
        vma = values[slot]
        if vma is not None and vma[0] <= page < vma[1]:
            return number
    return None


def free_slot(scratch: Scratch, process: Process) -> int | None:
    """The first empty VMA slot of ``process``."""
    for number, slot in enumerate(process.vmas):
        if scratch[slot] is None:
            return number
    return None
