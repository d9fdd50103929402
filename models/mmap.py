"""Mappings that come and go (Linux 6.6, mm/mmap.c, mm/madvise.c,
mm/mprotect.c, kernel/fork.c, mm/memory.c), with the per-VMA locks of
``CONFIG_PER_VMA_LOCK``.  The file's ``vm_operations_struct`` is a hybrid:
AFS's VMA open count (fs/afs/file.c, 6.6: ``afs_file_mmap``, ``.open`` =
``afs_vm_open``, ``.close`` = ``afs_vm_close`` keep ``vnode->cb_nr_mmap``,
the count of the file's VMAs) on top of the shipped block filesystem's
fault path: ``.fault`` = ``filemap_fault``, ``.map_pages`` =
``filemap_map_pages`` (AFS's is ``afs_vm_map_pages``, which checks the
callback first), ``.page_mkwrite`` = ext4's (``mc.models.blockfs_truncate``;
AFS's is ``afs_page_mkwrite``) and the hole punch of MADV_REMOVE the block
filesystem's ``->fallocate`` (AFS has none).  ``/dev/mem``'s
``mmap_mem_ops`` (drivers/char/mem.c: ``.access`` = ``generic_access_phys``)
serve a ``VM_IO | VM_PFNMAP`` mapping.

Per-VMA locks (include/linux/mm.h, 6.6): each VMA has ``vm_lock``, a
rw_semaphore.  A fault first tries ``lock_vma_under_rcu()``, which only
read-TRYlocks it (``vma_start_read()``), and falls back to mmap_lock shared
on failure or VM_FAULT_RETRY; in 6.6 (f5617ffeb450 "mm: run the
fault-around code under the VMA lock", 350f6bbca1de "mm: allow per-VMA
locks on file-backed VMAs") only the fault-around (``->map_pages``) runs
under it, ``->fault`` and ``->page_mkwrite`` return VM_FAULT_RETRY there
(6.7 calls them under it: ``vmf_can_call_fault()``, the setting
``fault-under-vma-lock``, ``mc.models.fault.fault_under_vma_lock``).  Writers take it with
``vma_start_write()`` under mmap_lock held for writing, in
``mmap_region()``, ``__split_vma()``, ``do_vmi_align_munmap()``,
``mprotect_fixup()`` and ``dup_mmap()``, and release every one at
``mmap_write_unlock()``/``mmap_write_downgrade()``
(``vma_end_write_all()``).  The kernel's ``vma_start_write()`` takes and
drops the rwsem at once (waiting for the readers) and keeps the VMA
write-locked by ``vm_lock_seq == mm_lock_seq``, on which
``vma_start_read()`` fails as on the rwsem: the model holds the rwsem
until ``vma_end_write_all()``.  The order is mmap_lock (write) -> vm_lock
(write) -> i_mmap_rwsem (write), mm/rmap.c's "vma_start_write,
mapping->i_mmap_rwsem"; 33313a747e81 ("mm: lock newly mapped VMA which can
be modified after it becomes visible", 6.5-rc1) took ``vma_start_write()``
in ``mmap_region()`` under ``i_mmap_lock_write()``, and Hugh Dickins's
1c7873e33645 ("mm: lock newly mapped VMA with corrected ordering") put it
back: "Lockdep is certainly right to complain about
(&vma->vm_lock->lock) ... but task is already holding lock:
(&mapping->i_mmap_rwsem) ... Invert those to the usual ordering."  The
VMA was new and not yet in the mm's tree, so no fault could hold its lock:
what broke was the lock order lockdep checks, not a reachable deadlock.
Variant ``vma-lock-under-i-mmap`` is that order: the check of
``mmap/mmap-vs-split`` passes under it as the kernel did, and
``vfsmc lockorder --variant vma-lock-under-i-mmap`` reports the cycle
i_mmap_rwsem -> vm_lock -> i_mmap_rwsem, as lockdep did.

- ``mmap_file``: ``vm_mmap_pgoff()`` (mmap_lock exclusive) ->
  ``mmap_region()`` -> ``call_mmap()`` (``->mmap``), then, in
  ``mmap_region()`` itself (6.6 has no ``vma_link_file()``: that helper
  came to mm/mmap.c with "mm/mmap: simplify vma link and unlink", Yajun
  Deng, January 2024, before mm/vma.c existed), the new VMA write-locked
  (``vma_start_write()``), stored in the mm's tree and linked into the
  file's ``i_mmap`` tree under ``i_mmap_lock_write()``;
- ``munmap_range``: ``__vm_munmap()`` -> ``do_vmi_align_munmap()``: the VMA
  split at each end of the range (``__split_vma()``: ``->open`` of the new
  VMA, ``vma_start_write()`` of both, then ``vma_prepare()``'s
  ``i_mmap_lock_write()``), the VMA write-locked, detached and cleared from
  the mm's tree (``vma_iter_clear_gfp()``), mmap_lock downgraded
  (``mmap_write_downgrade()``: the VMA locks released), then under
  mmap_lock shared the range's ptes zapped (``unmap_region()``), the VMA
  unlinked from its file's ``i_mmap`` (``free_pgtables()`` ->
  ``unlink_file_vma()``: for ``/dev/mem``'s VMA the iomem mapping's, as
  ``open_port()`` sets ``f_mapping = iomem_get_mapping()``) and
  ``remove_vma()`` -> ``->close``, and ``mmap_read_unlock()``;
- ``mprotect_readonly``: ``do_mprotect_pkey()`` -> ``mprotect_fixup()`` ->
  ``change_protection()`` on a whole VMA (the ptes lose their write bit);
- ``madvise_dontneed`` / ``madvise_remove``: ``do_madvise()`` under
  mmap_lock shared: ``zap_page_range_single()``, or ``madvise_remove()``,
  which drops mmap_lock around ``vfs_fallocate(PUNCH_HOLE)`` (the shipped
  ``punch_hole``);
- ``fork_exit``: ``dup_mmap()`` (both mms' mmap_lock exclusive: each VMA
  copied into the child and linked into ``i_mmap``, then ``->open``, the 6.6
  order; later kernels call ``->open`` before the ``i_mmap`` insert; a
  shared file mapping's ptes are not copied, ``vma_needs_copy()``), then
  the child's ``exit_mmap()``: ``unmap_vmas()`` under mmap_lock shared,
  then mmap_lock exclusive: ``free_pgtables()`` unlinks every VMA from
  ``i_mmap``, then ``remove_vma()`` -> ``->close`` of each;
- ``vma_load`` / ``vma_store``: a load or store through the mapping,
  faulting first under the VMA lock alone (``lock_vma_under_rcu()``,
  ``mc.models.fault.fault_under_vma_lock``), then as ``mc.models.fault``
  says after the VMA lookup of ``lock_mm_and_find_vma()`` (SIGSEGV when no
  VMA, or a store to a read-only one: ``access_error()``);
- ``ptrace_peek``: ``access_process_vm()`` -> ``__access_remote_vm()``:
  under mmap_lock shared, ``get_user_pages_remote()`` fails on a
  ``VM_PFNMAP`` VMA and ``->access`` (``generic_access_phys()``) reads it.

Read (mm/mmap.c): a comment-stripped copy of 6.7/6.8 in the search index
(``remove_vma(vma, unreachable)``, ``unmap_region()`` with ``tree_end``,
``do_vmi_align_munmap()`` walking back with ``vma_iter_prev_range()``),
whose ``mmap_region()``, ``__split_vma()``, ``do_vmi_align_munmap()``,
``__vm_munmap()``, ``get_unmapped_area()`` and ``exit_mmap()`` take the
locks in 6.6's order; kernel/fork.c ``dup_mmap()`` as the 6.6 stable tree
shows it in the patch that moved ``->open`` (and the 6.18 function).

Read (mm/madvise.c): a whole 6.5-to-6.9-era copy in the search index
(``madvise_walk_vmas()`` re-finding the VMA after ``prev->vm_end``,
``PGWALK_RDLOCK``): ``do_madvise()`` takes mmap_lock shared for
MADV_DONTNEED and MADV_REMOVE (``madvise_need_mmap_write()``),
``madvise_dontneed_free()`` refuses a VM_PFNMAP VMA
(``madvise_dontneed_free_valid_vma()``, -EINVAL; no VMA: -ENOMEM from the
walk) and zaps, and ``madvise_remove()`` pins the file, drops mmap_lock
(``userfaultfd_remove()`` true without userfaultfd), calls
``vfs_fallocate(PUNCH_HOLE|KEEP_SIZE)`` and retakes it; the model's labels
said ``can_madv_lru_vma()`` (MADV_COLD's check) and folded the missing VMA
into -EACCES: fixed.  mm/mprotect.c (a comment-stripped 6.6 copy in the
search index): ``do_mprotect_pkey()`` takes mmap_lock exclusive, calls
``vm_ops->mprotect`` if there is one (AFS has none), then
``mprotect_fixup()``: ``vma_start_write()``, ``vm_flags_reset()``,
``vma_set_page_prot()`` and ``change_protection()``, whose
``change_pte_range()`` rewrites each pte under the page-table lock.  mm/memory.c
``__access_remote_vm()`` as the 6.5 stable patch that untags the address
shows it: ``if (!vma_lookup(mm, addr) && !expand_stack(mm, addr)) return
0``, and mm/mmap.c's ``expand_stack()`` (6.5 on): with no VMA it drops
mmap_lock, takes it exclusive, finds nothing to grow and unlocks; the
model had the read return under mmap_lock shared: it now takes that path.
kernel/fork.c ``dup_mmap()``: the 6.7 ``__mt_dup()`` patch's context
(``vma_start_write(mpnt)``, the file VMA linked under
``i_mmap_lock_write()``, ``vma_iter_bulk_store()``, ``copy_page_range()``,
then ``->open``; ``mmap_write_unlock(mm)`` before ``mmap_write_unlock(oldmm)``).

Read (per-VMA locks): the deepin-community/kernel linux-6.6.y tree
(6.6.89, mm/memory.c at 04784177aee3, mm/mmap.c at 01b978a2c218,
include/linux/mm.h at 044d0cbc31dc, mm/rmap.c at 0d8c6a48c137):
``vma_start_read()`` (the ``vm_lock_seq`` check, ``down_read_trylock()``),
``vma_start_write()`` (``down_write()``, ``vm_lock_seq = mm_lock_seq``,
``up_write()``), ``lock_vma_under_rcu()`` (``mas_walk()``, the range and
``detached`` checks), ``mmap_region()``, ``__split_vma()`` and
``do_vmi_align_munmap()`` as quoted above, and rmap.c's lock order.  That
tree's memory.c carries 6.7's ``vmf_can_call_fault()`` backported; 6.6's
``do_read_fault()`` (after the fault-around), ``do_shared_fault()`` and
``wp_page_shared()`` return VM_FAULT_RETRY under FAULT_FLAG_VMA_LOCK, as the
6.7 patches "mm: handle read faults under the VMA lock", "mm: handle shared
faults under the VMA lock" and "mm: handle write faults to RO pages under
the VMA lock" (Matthew Wilcox, October 2023) show in what they remove.  The
mainline bug: Hugh Dickins's patch and Suren Baghdasaryan's reply on
linux-kernel (8 July 2023), and the 6.4 stable backport of 1c7873e33645.

Left out: the RCU read-side section of ``lock_vma_under_rcu()`` and its
retry of a detached VMA (the model falls back to mmap_lock instead, as it
does on the range check), ``count_vm_vma_lock_event()``, VMA merging,
mprotect of part of a VMA, MAP_FIXED over an existing VMA, the child's VMA
locks in ``dup_mmap()`` (a new mm no fault reaches), the page-table lock
``change_pte_range()`` and the zaps take, AFS's ``afs_vm_map_pages()``
callback check and, in ``->open``/``->close``, ``cb_lock`` and 6.6's
per-cell ``cell->fs_open_mmaps_lock`` (per volume from 6.9) with
``afs_drop_open_mmap()``'s ``flush_work(&vnode->cb_work)`` (its work zaps
the mapping under ``i_mmap_rwsem``, under mmap_lock: an edge the models
have from munmap),
userfaultfd, MADV_DONTNEED_LOCKED and hugetlb VMAs, stack VMAs that
``expand_stack()`` grows, page tables freed, and the device memory
``->access`` reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import attrs

from mc.dsl import EXCL, SHARED, Cite, Op, flag_variant, invariant, operation
from mc.kernel.expr import Eval, Expr, LockExpr, State, not_
from mc.kernel.locks import Lock, holds
from mc.kernel.mm import PTE_WRITE
from mc.kernel.pagecache import PAGE_SIZE, File, pagecache
from mc.kernel.vma import (
    TASK,
    VM_PFNMAP,
    VM_WRITE,
    Process,
    Vma,
    Vmas,
    child_of,
    find_vma,
    free_slot,
    render_vma,
    vmas_of,
)
from mc.kernel.world import ModelError, Scratch, World
from mc.models.fault import access_page
from mc.models.truncate import file_parts, punch_hole
from mc.models.truncate_mm import render_indices, zap_ptes

SPLIT_WITHOUT_OPEN = "split-without-open"
MPROTECT_KEEPS_WRITE = "mprotect-keeps-write"
ACCESS_WITHOUT_MMAP_LOCK = "access-without-mmap-lock"
VMA_LOCK_UNDER_I_MMAP = "vma-lock-under-i-mmap"
MUNMAP_WITHOUT_VMA_LOCK = "munmap-without-vma-lock"

flag_variant(
    SPLIT_WITHOUT_OPEN,
    "__split_vma() does not call ->open on the new VMA: munmap of the middle of a VMA leaves "
    "two VMAs the filesystem counted as one, and each is ->closed",
)
flag_variant(
    MPROTECT_KEEPS_WRITE,
    "mprotect(PROT_READ) changes vm_flags but not the ptes (no change_protection()): a pte "
    "stays writable in a read-only VMA",
)
flag_variant(
    VMA_LOCK_UNDER_I_MMAP,
    "mmap_region() write-locks the new VMA (vma_start_write()) after i_mmap_lock_write(), as "
    '33313a747e81 had it until 1c7873e33645 ("mm: lock newly mapped VMA with corrected '
    'ordering"): i_mmap_rwsem -> vm_lock against the vm_lock -> i_mmap_rwsem every other '
    "writer takes, a cycle lockdep (`vfsmc lockorder`) reports",
)
flag_variant(
    MUNMAP_WITHOUT_VMA_LOCK,
    "do_vmi_align_munmap() detaches the VMA without vma_start_write(next): a fault-around "
    "under the VMA lock alone (no mmap_lock) maps a pte after the zap, in no VMA",
)
flag_variant(
    ACCESS_WITHOUT_MMAP_LOCK,
    "access_process_vm() looks the VMA up and calls ->access without mmap_read_lock()",
)


@attrs.frozen
class MappedFile:
    """A file of the scenario and the VMAs of the task when it starts
    (``(start, end, flags)``; ``VM_PFNMAP`` ones map ``/dev/mem`` above
    the file's pages)."""

    file: File
    vmas: tuple[Vma, ...] = ()
    thp_area: bool = False
    """The filesystem's file_operations has ``->get_unmapped_area`` (ext4's
    and XFS's ``thp_get_unmapped_area()``), which mmap(2) asks for the
    address; else the mm's own ``arch_get_unmapped_area()`` places it."""

    def __str__(self) -> str:
        return str(self.file)


def _parts(op: Op, mapped: MappedFile) -> tuple[Vmas, Process, Any]:
    mapping, _mm, inode = file_parts(op, mapped.file)
    for start, end, flags in mapped.vmas:
        if not flags & VM_PFNMAP and end > len(mapping.pages):
            raise ModelError(f"VMA [{start}, {end}) maps past the pages of {mapped.file}")
    try:
        part = vmas_of(op.world, mapping, mapped.vmas)
    except ValueError as error:
        raise ModelError(str(error)) from None
    return part, part.processes[TASK], inode


def _test(register: Expr, text: str, predicate: Any) -> Expr:
    def build(world: World) -> Eval:
        get = register.compile(world)
        return lambda state: bool(predicate(get(state)))

    return Expr(text, build, register.local)


def _look_up_vma(op: Op, process: Process, page: int, label: str) -> tuple[Expr, Expr]:
    """Find the VMA over ``page`` into register ``vma``: the register (its
    slot number, None when no VMA is there) and the VMA it names."""
    number = op.compute("vma", label, lambda scratch: find_vma(scratch, process, page))
    return number, _vma_in(process, number)


def _vma_in(process: Process, number: Expr) -> Expr:
    """The VMA in the slot whose number register ``number`` holds."""

    def build(world: World) -> Eval:
        get = number.compile(world)
        return lambda state: None if get(state) is None else state[process.vmas[get(state)]]

    return Expr(f"vma[{number}]", build, False)


def _count(scratch: Scratch, slot: int, delta: int) -> int:
    scratch[slot] = scratch[slot] + delta
    return 0


# --- per-VMA locks ---------------------------------------------------------------------------


def vm_lock_of(process: Process, number: Expr) -> LockExpr:
    """The VMA lock (``vma->vm_lock->lock``) of the slot register ``number`` names."""

    def build(world: World) -> Any:
        get = number.compile(world)
        return lambda state: None if get(state) is None else process.vm_locks[get(state)]

    return LockExpr(f"vm_lock(vma[{number}])", "vm_lock", build, local=number.local)


def _device(vma: Expr) -> Expr:
    """The VMA ``vma`` names maps ``/dev/mem`` (``VM_PFNMAP``): its
    ``f_mapping`` is the iomem mapping and ``mmap_mem_ops`` has no
    ``->open`` or ``->close``."""
    return _test(
        vma, "vma->vm_flags & VM_PFNMAP", lambda v: v is not None and bool(v[2] & VM_PFNMAP)
    )


def _maps_devmem(part: Vmas) -> bool:
    """Whether the task has a ``/dev/mem`` VMA (``VM_PFNMAP``): only its
    layout at the start can (``mmap_file`` maps the file)."""
    return any(vma[2] & VM_PFNMAP for vma in part.initial)


def _for_a_file_vma(
    op: Op, part: Vmas, vma: Expr, label: str
) -> contextlib.AbstractContextManager[object]:
    """What follows runs for a file's VMA alone (``->open``, ``->close``:
    ``mmap_mem_ops`` has neither): a branch where the task has a
    ``/dev/mem`` VMA (``_maps_devmem``)."""
    if _maps_devmem(part):
        return op.when(not_(_device(vma)), label)
    return contextlib.nullcontext()


def _i_mmap_of(part: Vmas, vma: Expr) -> Lock | LockExpr:
    """``vma->vm_file->f_mapping->i_mmap_rwsem`` of the VMA ``vma`` names:
    the iomem mapping's for ``/dev/mem`` (``_device``), else the file's."""
    if not _maps_devmem(part):
        return part.mapping.i_mmap_rwsem

    def build(world: World) -> Any:
        get = vma.compile(world)

        def lock(state: State) -> Lock:
            value = get(state)
            device = value is not None and value[2] & VM_PFNMAP
            return part.iomem_i_mmap if device else part.mapping.i_mmap_rwsem

        return lock

    return LockExpr("vp->mapping->i_mmap_rwsem", "i_mmap_rwsem", build, local=vma.local)


def _write_locked(op: Op, process: Process, number: Expr) -> Expr:
    """``__is_vma_write_locked()``: this thread write-locked the VMA already
    (it alone changes that, so the test commutes with other threads' steps)."""
    tid = op.thread.tid

    def build(world: World) -> Eval:
        get = number.compile(world)

        def test(state: State) -> bool:
            n = get(state)
            if n is None:
                return False
            lock = process.vm_locks[n]
            return holds(lock.kind, state[lock.slot], tid)

        return test

    return Expr("__is_vma_write_locked(vma, &mm_lock_seq)", build, local=True)


def vma_start_write(op: Op, process: Process, number: Expr, label: str) -> None:
    """``vma_start_write()`` (include/linux/mm.h, Linux 6.6) of the VMA in
    slot ``number``, under mmap_lock held for writing: a no-op when this
    writer locked it already; else ``down_write(&vma->vm_lock->lock)``
    waits for the faults that read-hold it.  The kernel releases the rwsem
    at once and keeps the VMA write-locked by ``vm_lock_seq ==
    mm_lock_seq`` until ``vma_end_write_all()``, which ``vma_start_read()``
    fails on as on the rwsem: the model holds the rwsem for that span."""
    with op.when(
        not_(_write_locked(op, process, number)),
        "vma_start_write(vma): if (!__is_vma_write_locked(vma, &mm_lock_seq)) /* not yet */",
    ):
        op.lock(vm_lock_of(process, number), EXCL, label)


def vma_end_write_all(op: Op, process: Process, label: str) -> None:
    """``vma_end_write_all(mm)``: ``mm->mm_lock_seq`` moves on, and every
    VMA this writer write-locked is unlocked (one release per VMA slot the
    writer may hold)."""
    for lock in process.vm_locks:
        op.unlock(lock, f"{label} /* {lock.name} */", if_held=True)


def mmap_write_unlock(op: Op, process: Process, label: str) -> None:
    """``mmap_write_unlock(mm)``: ``vma_end_write_all(mm)``, ``up_write(&mm->mmap_lock)``."""
    vma_end_write_all(op, process, f"{label}: vma_end_write_all(mm)")
    op.unlock(process.mmap_lock, f"{label}: up_write(&mm->mmap_lock)")


def mmap_write_downgrade(op: Op, process: Process, label: str) -> None:
    """``mmap_write_downgrade(mm)``: ``vma_end_write_all(mm)``,
    ``downgrade_write(&mm->mmap_lock)``."""
    vma_end_write_all(op, process, f"{label}: vma_end_write_all(mm)")
    op.downgrade(process.mmap_lock, f"{label}: downgrade_write(&mm->mmap_lock)")


def _still_allowed(scratch: Scratch, process: Process, number: int, page: int, write: bool) -> bool:
    vma = scratch[process.vmas[number]]
    if vma is None or not vma[0] <= page < vma[1]:
        return False
    return not vma[2] & VM_PFNMAP and (not write or bool(vma[2] & VM_WRITE))


@attrs.frozen
class VmaLockFault:
    """A fault's ``lock_vma_under_rcu()`` (mm/memory.c, Linux 6.6) at
    virtual page ``page`` of ``process`` (``mc.models.fault.VmaReadLock``)."""

    process: Process
    page: int
    write: bool

    def lock(self, op: Op, at: str, fail: str) -> None:
        number = op.compute(
            f"vma_rcu{at}",
            "lock_vma_under_rcu(mm, address): rcu_read_lock(); vma = mas_walk(&mas)",
            find_vma,
            self.process,
            self.page,
        )
        with op.when(_test(number, "!vma", lambda n: n is None), "if (!vma) goto inval"):
            op.goto(fail)
        op.trylock(
            vm_lock_of(self.process, number),
            fail,
            "vma_start_read(vma): if (vma->vm_lock_seq == mm->mm_lock_seq) return false; "
            "if (!down_read_trylock(&vma->vm_lock->lock)) return false /* goto inval */",
            mode=SHARED,
        )
        usable = op.compute(
            f"vma_usable{at}",
            "if (address < vma->vm_start || address >= vma->vm_end) goto inval_end_read; "
            "if (vma->detached) /* retry */; rcu_read_unlock(); "
            + ("if (access_error(error_code, vma))" if self.write else "/* a load */"),
            _still_allowed,
            self.process,
            number,
            self.page,
            self.write,
        )
        with op.when(_test(usable, "!usable", lambda v: not v), "if (!usable)"):
            op.unlock(
                vm_lock_of(self.process, number), "vma_end_read(vma); goto lock_mmap /* inval */"
            )
            op.goto(fail)

    def unlock(self, op: Op, at: str, label: str) -> None:
        op.unlock(self.held(op, at), label)

    def held(self, op: Op, at: str) -> LockExpr:
        """The VMA lock ``lock`` read-locked: the one of the VMA in register ``vma_rcu``."""
        return vm_lock_of(self.process, op.reg(f"vma_rcu{at}"))


def afs_vm_open(op: Op, part: Vmas, process: Process, label: str) -> None:
    """``->open`` = ``afs_vm_open()`` -> ``afs_add_open_mmap()``:
    ``atomic_inc_return(&vnode->cb_nr_mmap)``."""
    op.call(
        "vm_operations_struct.open",
        _count,
        part.opened,
        1,
        label=label,
        roles={"mm": process},
    )


def afs_vm_close(op: Op, part: Vmas, process: Process, label: str) -> None:
    """``->close`` = ``afs_vm_close()`` -> ``afs_drop_open_mmap()``:
    ``atomic_dec_and_test(&vnode->cb_nr_mmap)``."""
    op.call(
        "vm_operations_struct.close",
        _count,
        part.opened,
        -1,
        label=label,
        roles={"mm": process},
    )


# --- mmap(2) ----------------------------------------------------------------------------


def _place(scratch: Scratch, process: Process, start: int, end: int) -> int | None:
    if any(find_vma(scratch, process, page) is not None for page in range(start, end)):
        return None
    return free_slot(scratch, process)


def _link(scratch: Scratch, process: Process, number: int, vma: Vma) -> None:
    scratch[process.vmas[number]] = vma


@operation(
    models="vm_mmap_pgoff() -> do_mmap() -> mmap_region() -> call_mmap() (mm/util.c, mm/mmap.c)",
    describe=lambda m, start, end, writable: (
        f"mmap({m}, pages [{start}, {end}), {'PROT_READ|PROT_WRITE' if writable else 'PROT_READ'},"
        " MAP_SHARED)"
    ),
    cites=(
        Cite("mm/util.c", "vm_mmap_pgoff", "6.6"),
        Cite("mm/mmap.c", "do_mmap", "6.6"),
        Cite("mm/mmap.c", "mmap_region", "6.6"),
        Cite("include/linux/mm.h", "vma_start_write", "6.6"),
        Cite("fs/afs/file.c", "afs_file_mmap", "6.6", method="file_operations.mmap"),
        Cite("mm/filemap.c", "generic_file_mmap", "6.6"),
        Cite("mm/mmap.c", "get_unmapped_area", "6.6"),
        Cite(
            "mm/huge_memory.c",
            "thp_get_unmapped_area",
            "6.6",
            method="file_operations.get_unmapped_area",
        ),
    ),
)
def mmap_file(op: Op, mapped: MappedFile, start: int, end: int, writable: bool) -> None:
    """mmap(2) of file pages ``[start, end)`` at the same virtual pages
    (the hint honoured), MAP_SHARED: -ENOMEM when the range is taken or the
    process has no VMA slot left.  Left out: ``mmap_region()``'s merge with
    an adjacent VMA of the same file, flags and following offset
    (``vma_expand(prev)``: ``vma_start_write(prev)``, ``i_mmap_lock_write``,
    no ``->mmap``); in ``mmap/mmap-vs-split`` a T1 that maps first would
    grow the existing VMA rather than add one, taking the lock classes
    munmap takes, so no cycle hides there."""
    part, process, inode = _parts(op, mapped)
    op.lock(process.mmap_lock, EXCL, "vm_mmap_pgoff(): mmap_write_lock_killable(mm)")
    if mapped.thp_area:
        op.enter(
            "file_operations.get_unmapped_area",
            label="do_mmap(): get_unmapped_area(): if (file && file->f_op->get_unmapped_area) "
            "get_area = file->f_op->get_unmapped_area: thp_get_unmapped_area(file, addr, len, "
            "pgoff, flags)",
            roles={"file": inode, "inode": inode, "mm": process},
        )
    number = op.compute(
        "vma",
        "do_mmap(): addr = get_unmapped_area(file, addr, len, pgoff, flags); "
        "mmap_region(): vma = vm_area_alloc(mm)",
        _place,
        process,
        start,
        end,
    )
    with op.when(_test(number, "if (!vma) /* -ENOMEM */", lambda n: n is None), "if (!vma)"):
        mmap_write_unlock(op, process, "mmap_write_unlock(mm); return -ENOMEM")
        op.goto("out")
    op.enter(
        "file_operations.mmap",
        label="mmap_region(): error = call_mmap(file, vma): file->f_op->mmap(file, vma)",
        roles={"file": inode, "inode": inode, "mm": process},
    )
    op.effect(
        "afs_file_mmap(): afs_add_open_mmap(vnode): atomic_inc_return(&vnode->cb_nr_mmap); "
        "generic_file_mmap(): vma->vm_ops = &afs_vm_ops",
        _count,
        part.opened,
        1,
    )
    flags = VM_WRITE if writable else 0
    if op.variant(VMA_LOCK_UNDER_I_MMAP):
        op.lock(
            part.mapping.i_mmap_rwsem,
            EXCL,
            "mmap_region(): if (vma->vm_file) i_mmap_lock_write(vma->vm_file->f_mapping)",
        )
        op.lock(
            vm_lock_of(process, number),
            EXCL,
            "vma_start_write(vma) /* 33313a747e81: under i_mmap_rwsem */; "
            "vma_iter_store(&vmi, vma)",
        )
    else:
        op.lock(
            vm_lock_of(process, number),
            EXCL,
            "mmap_region(): vma_start_write(vma) /* a new VMA: no reader waits */",
        )
        op.lock(
            part.mapping.i_mmap_rwsem,
            EXCL,
            "vma_iter_store(&vmi, vma); i_mmap_lock_write(vma->vm_file->f_mapping)",
        )
    op.effect(
        "vma_interval_tree_insert(vma, &vma->vm_file->f_mapping->i_mmap) "
        f"/* {render_vma((start, end, flags))} */",
        _link,
        process,
        number,
        (start, end, flags),
    )
    op.unlock(part.mapping.i_mmap_rwsem, "i_mmap_unlock_write(vma->vm_file->f_mapping)")
    mmap_write_unlock(op, process, "vm_mmap_pgoff(): mmap_write_unlock(mm)")
    op.label("out")


# --- munmap(2) --------------------------------------------------------------------------


def _new_slot(scratch: Scratch, process: Process) -> int:
    new = free_slot(scratch, process)
    if new is None:
        raise ModelError(f"{process} has no VMA slot left for a split")
    return new


def _split(scratch: Scratch, process: Process, number: int, new: int, at: int, below: bool) -> None:
    start, end, flags = scratch[process.vmas[number]]
    if below:
        scratch[process.vmas[new]] = (start, at, flags)
        scratch[process.vmas[number]] = (at, end, flags)
    else:
        scratch[process.vmas[new]] = (at, end, flags)
        scratch[process.vmas[number]] = (start, at, flags)


def _unlink(scratch: Scratch, process: Process, number: int) -> None:
    scratch[process.vmas[number]] = None


def _detach(scratch: Scratch, process: Process, number: int) -> Vma:
    vma: Vma = scratch[process.vmas[number]]
    scratch[process.vmas[number]] = None
    return vma


def _unlink_kept(_scratch: Scratch, _number: int) -> None:
    """The VMA leaves the file's ``i_mmap`` tree (the model's VMA slot
    stands for the mm's tree, which it left before)."""


def _file_pages(part: Vmas, start: int, end: int) -> Expr:
    pages = tuple(i for i in range(start, end) if i < len(part.mapping.pages))
    return Expr(render_indices(pages), lambda _w: lambda _s: pages, local=True)


def unmap_vma_range(op: Op, part: Vmas, process: Process, start: int, end: int) -> None:
    """``do_vmi_munmap(..., unlock=true)`` of ``[start, end)`` inside the
    VMA found there, the caller holding mmap_lock for writing, which this
    releases: the VMA is write-locked, detached and cleared from the mm's
    tree, mmap_lock downgraded (the VMA locks released), the ptes zapped
    and the VMA unlinked from its file's ``i_mmap`` and ``->close``d
    under mmap_lock shared."""
    number, vma = _look_up_vma(
        op,
        process,
        start,
        f"do_vmi_munmap(): vma = vma_find(vmi, end) /* the VMA over page {start} */",
    )
    with op.when(
        _test(number, "vma == NULL", lambda n: n is None),
        "if (!vma) { if (unlock) mmap_write_unlock(mm); return 0; }",
    ):
        mmap_write_unlock(op, process, "do_vmi_munmap(): mmap_write_unlock(mm)")
        op.goto("unmapped")
    with op.when(
        _test(vma, "start > vma->vm_start", lambda v: v is not None and v[0] < start),
        "if (start > vma->vm_start) error = __split_vma(vmi, vma, start, 1)",
    ):
        _split_vma(op, part, process, number, start, below=True)
    with op.when(
        _test(vma, "end < vma->vm_end", lambda v: v is not None and end < v[1]),
        "if (next->vm_end > end) error = __split_vma(vmi, next, end, 0)",
    ):
        _split_vma(op, part, process, number, end, below=False)
    if not op.variant(MUNMAP_WITHOUT_VMA_LOCK):
        vma_start_write(
            op,
            process,
            number,
            "do_vmi_align_munmap(): vma_start_write(next) /* its readers gone */",
        )
    detached = op.compute(
        "detached",
        "mas_store_gfp(&mas_detach, next); vma_mark_detached(next, true); "
        "vma_iter_clear_gfp(vmi, start, end) /* out of the mm's tree */",
        _detach,
        process,
        number,
        render=render_vma,
    )
    mmap_write_downgrade(op, process, "if (unlock) mmap_write_downgrade(mm)")
    pfnmap = _test(
        detached,
        "vma->vm_flags & VM_PFNMAP",
        lambda v: v is not None and bool(v[2] & VM_PFNMAP),
    )
    with op.when(not_(pfnmap), "if (!(vma->vm_flags & VM_PFNMAP)) /* a file VMA */"):
        zap_ptes(
            op,
            part.mm,
            _file_pages(part, start, end),
            "unmap_region(): unmap_vmas(): zap_pte_range() /* mmap_lock shared */",
            "munmapped",
        )
        op.lock(
            part.mapping.i_mmap_rwsem,
            EXCL,
            "unmap_region(): free_pgtables(): unlink_file_vma(vma): i_mmap_lock_write(mapping)",
        )
        op.effect("__remove_shared_vm_struct(vma, file, mapping)", _unlink_kept, number)
        op.unlock(part.mapping.i_mmap_rwsem, "i_mmap_unlock_write(mapping)")
        afs_vm_close(
            op,
            part,
            process,
            "remove_mt(): remove_vma(vma): if (vma->vm_ops && vma->vm_ops->close) "
            "vma->vm_ops->close(vma)",
        )
        op.goto("closed")
    op.lock(
        part.iomem_i_mmap,
        EXCL,
        "unmap_region() /* the device ptes */; free_pgtables(): unlink_file_vma(vma): "
        "i_mmap_lock_write(mapping) /* /dev/mem's f_mapping: iomem_get_mapping() */",
    )
    op.unlock(
        part.iomem_i_mmap,
        "i_mmap_unlock_write(mapping); remove_mt(): remove_vma(vma) /* mmap_mem_ops has no "
        "->close */",
    )
    op.label("closed")
    op.unlock(process.mmap_lock, "if (unlock) mmap_read_unlock(mm)")
    op.label("unmapped")


def _split_vma(op: Op, part: Vmas, process: Process, number: Expr, at: int, *, below: bool) -> None:
    """``__split_vma()``: the new VMA (``vm_area_dup()``) is ``->open``ed
    (a file's; ``/dev/mem``'s ``mmap_mem_ops`` has no ``->open``), both
    VMAs are write-locked (``vma_start_write(vma); vma_start_write(new)``),
    then the new one is inserted under ``vma_prepare()``'s
    ``i_mmap_lock_write()`` of the VMA's ``f_mapping`` (the iomem
    mapping's for ``/dev/mem``)."""
    vma = _vma_in(process, number)
    new = op.compute(
        f"new_{'below' if below else 'above'}", "new = vm_area_dup(vma)", _new_slot, process
    )
    if not op.variant(SPLIT_WITHOUT_OPEN):
        with _for_a_file_vma(op, part, vma, "if (new->vm_ops && new->vm_ops->open)"):
            afs_vm_open(
                op,
                part,
                process,
                "__split_vma(): if (new->vm_ops && new->vm_ops->open) new->vm_ops->open(new)",
            )
    vma_start_write(op, process, number, "vma_start_write(vma)")
    op.lock(vm_lock_of(process, new), EXCL, "vma_start_write(new) /* not in the tree yet */")
    i_mmap = _i_mmap_of(part, vma)
    op.lock(i_mmap, EXCL, "vma_prepare(&vp): i_mmap_lock_write(vp->mapping)")
    op.effect(
        f"vma->vm_{'start' if below else 'end'} = addr /* page {at} */; "
        "vma_complete(): vma_iter_store(vmi, vp->insert)",
        _split,
        process,
        number,
        new,
        at,
        below,
    )
    op.unlock(i_mmap, "vma_complete(): i_mmap_unlock_write(vp->mapping)")


@operation(
    models="__vm_munmap() -> do_vmi_munmap() -> do_vmi_align_munmap() (mm/mmap.c)",
    describe=lambda m, start, end: f"munmap({m}, pages [{start}, {end}))",
    cites=(
        Cite("mm/mmap.c", "__vm_munmap", "6.6"),
        Cite("mm/mmap.c", "do_vmi_align_munmap", "6.6"),
        Cite("mm/mmap.c", "__split_vma", "6.6"),
        Cite("include/linux/mm.h", "vma_start_write", "6.6"),
        Cite("include/linux/mmap_lock.h", "mmap_write_downgrade", "6.6"),
        Cite("fs/afs/file.c", "afs_vm_open", "6.6", method="vm_operations_struct.open"),
        Cite("mm/mmap.c", "unmap_region", "6.6"),
        Cite("mm/mmap.c", "unlink_file_vma", "6.6"),
        Cite("mm/mmap.c", "remove_vma", "6.6"),
        Cite("fs/afs/file.c", "afs_vm_close", "6.6", method="vm_operations_struct.close"),
    ),
)
def munmap_range(op: Op, mapped: MappedFile, start: int, end: int) -> None:
    """munmap(2) of virtual pages ``[start, end)``, which lie inside one
    VMA (or none)."""
    part, process, _ = _parts(op, mapped)
    op.lock(process.mmap_lock, EXCL, "__vm_munmap(): mmap_write_lock_killable(mm)")
    unmap_vma_range(op, part, process, start, end)


# --- mprotect(2) -------------------------------------------------------------------------


def _protect(scratch: Scratch, process: Process, number: int) -> None:
    start, end, flags = scratch[process.vmas[number]]
    scratch[process.vmas[number]] = (start, end, flags & ~VM_WRITE)


def _write_protect(scratch: Scratch, part: Vmas, pages: Sequence[int]) -> None:
    for index in pages:
        pte = scratch[part.mm.ptes[index]]
        if pte is not None:
            scratch[part.mm.ptes[index]] = pte & ~PTE_WRITE


@operation(
    models="do_mprotect_pkey() -> mprotect_fixup() -> change_protection() (mm/mprotect.c)",
    describe=lambda m, start, end: f"mprotect({m}, pages [{start}, {end}), PROT_READ)",
    cites=(
        Cite(
            "mm/mprotect.c",
            "do_mprotect_pkey",
            "6.6",
            leaves_out=("vm_operations_struct.mprotect",),
            because="AFS's afs_vm_ops has no ->mprotect",
        ),
        Cite("mm/mprotect.c", "mprotect_fixup", "6.6"),
        Cite("mm/mprotect.c", "change_protection", "6.6"),
        Cite("mm/mprotect.c", "change_pte_range", "6.6"),
    ),
)
def mprotect_readonly(op: Op, mapped: MappedFile, start: int, end: int) -> None:
    """mprotect(2) to PROT_READ of the VMA over page ``start`` (the range is
    the whole VMA: no split): ``vm_flags`` lose VM_WRITE and
    ``change_protection()`` write-protects the ptes (their dirty bit stays)."""
    whole = [(low, high) for low, high, _flags in mapped.vmas if low <= start < high]
    if whole and whole[0] != (start, end):
        low, high = whole[0]
        raise ModelError(
            f"mprotect_readonly(pages [{start}, {end})) covers part of the VMA over pages "
            f"[{low}, {high}): mprotect_fixup() would split it, which the model does not; "
            f"give the VMA's whole range, {low} to {high}"
        )
    part, process, _ = _parts(op, mapped)
    op.lock(process.mmap_lock, EXCL, "do_mprotect_pkey(): mmap_write_lock_killable(current->mm)")
    number, _ = _look_up_vma(op, process, start, "vma = vma_find(&vmi, end)")
    with op.when(
        _test(number, "vma == NULL", lambda n: n is None), "if (!vma) goto out /* -ENOMEM */"
    ):
        op.goto("out")
    vma_start_write(op, process, number, "mprotect_fixup(): vma_start_write(vma)")
    op.effect(
        "mprotect_fixup(): vm_flags_reset(vma, newflags); vma_set_page_prot(vma)",
        _protect,
        process,
        number,
    )
    if not op.variant(MPROTECT_KEEPS_WRITE):
        op.effect(
            "change_protection(tlb, vma, start, end, mm_cp_flags): change_pte_range(): "
            "ptent = pte_modify(oldpte, newprot) /* !pte_write */",
            _write_protect,
            part,
            tuple(i for i in range(start, end) if i < len(part.mapping.pages)),
        )
    op.label("out")
    mmap_write_unlock(op, process, "mmap_write_unlock(current->mm)")


# --- madvise(2) --------------------------------------------------------------------------

DO_MADVISE_SHARED = Cite(
    "mm/madvise.c",
    "do_madvise",
    "6.6",
    leaves_out=("mmap_write_lock_killable", "mmap_write_unlock"),
    because="madvise_need_mmap_write() is false for MADV_DONTNEED and MADV_REMOVE: "
    "the exclusive branch is other behaviours'",
)
"""``do_madvise()`` as MADV_DONTNEED and MADV_REMOVE run it: mmap_lock shared."""


@operation(
    models="do_madvise(MADV_DONTNEED) -> madvise_dontneed_single_vma() -> "
    "zap_page_range_single() (mm/madvise.c)",
    describe=lambda m, start, end: f"madvise({m}, pages [{start}, {end}), MADV_DONTNEED)",
    cites=(
        DO_MADVISE_SHARED,
        Cite("mm/madvise.c", "madvise_dontneed_free", "6.6"),
        Cite("mm/madvise.c", "madvise_dontneed_single_vma", "6.6"),
        Cite("mm/memory.c", "zap_page_range_single", "6.6"),
    ),
)
def madvise_dontneed(op: Op, mapped: MappedFile, start: int, end: int) -> None:
    """madvise(MADV_DONTNEED) of ``[start, end)`` inside one VMA: under
    mmap_lock shared the ptes are zapped (a dirty one dirties its folio);
    -ENOMEM without a VMA there, -EINVAL on a VM_PFNMAP one."""
    part, process, _ = _parts(op, mapped)
    op.lock(process.mmap_lock, SHARED, "do_madvise(): mmap_read_lock(mm)")
    _, vma = _look_up_vma(
        op, process, start, "madvise_walk_vmas(): vma = find_vma_prev(mm, start, &prev)"
    )
    usable = _test(
        vma,
        "vma && !(vma->vm_flags & VM_PFNMAP)",
        lambda v: v is not None and not v[2] & VM_PFNMAP,
    )
    with op.when(
        usable,
        "if (!vma) return -ENOMEM; madvise_dontneed_free(): "
        "if (!madvise_dontneed_free_valid_vma(vma, start, &end, behavior)) return -EINVAL",
    ):
        zap_ptes(
            op,
            part.mm,
            _file_pages(part, start, end),
            "madvise_dontneed_single_vma(): zap_page_range_single(vma, start, end - start, NULL)",
            "dontneed",
        )
    op.unlock(process.mmap_lock, "mmap_read_unlock(mm)")


@operation(
    models="do_madvise(MADV_REMOVE) -> madvise_remove() -> vfs_fallocate(PUNCH_HOLE) "
    "(mm/madvise.c)",
    describe=lambda m, start, end: f"madvise({m}, pages [{start}, {end}), MADV_REMOVE)",
    cites=(
        DO_MADVISE_SHARED,
        Cite("mm/madvise.c", "madvise_remove", "6.6"),
        *punch_hole.cites,
    ),
)
def madvise_remove(op: Op, mapped: MappedFile, start: int, end: int) -> None:
    """madvise(MADV_REMOVE) of ``[start, end)`` inside one shared writable
    VMA: ``madvise_remove()`` drops mmap_lock (the filesystem's fallocate
    takes i_rwsem) and punches the file's hole through ``vfs_fallocate()``,
    then retakes it; -EACCES on a VMA that is not shared and writable."""
    _, process, _ = _parts(op, mapped)
    op.lock(process.mmap_lock, SHARED, "do_madvise(): mmap_read_lock(mm)")
    _, vma = _look_up_vma(
        op, process, start, "madvise_walk_vmas(): vma = find_vma_prev(mm, start, &prev)"
    )
    shared_writable = _test(
        vma,
        "(vma->vm_flags & (VM_SHARED|VM_WRITE)) == (VM_SHARED|VM_WRITE)",
        lambda v: v is not None and v[2] == VM_WRITE,
    )
    with op.when(
        not_(shared_writable),
        "if (!vma) return -ENOMEM; madvise_remove(): "
        "if ((vma->vm_flags & (VM_SHARED|VM_WRITE)) != (VM_SHARED|VM_WRITE)) return -EACCES",
    ):
        op.unlock(process.mmap_lock, "mmap_read_unlock(mm)")
        op.goto("out")
    op.unlock(
        process.mmap_lock,
        "madvise_remove(): get_file(f); if (userfaultfd_remove(vma, start, end)) "
        "mmap_read_unlock(mm)",
    )
    op.run(punch_hole, mapped.file, start * PAGE_SIZE, (end - start) * PAGE_SIZE)
    op.lock(process.mmap_lock, SHARED, "fput(f); mmap_read_lock(mm)")
    op.unlock(process.mmap_lock, "do_madvise(): mmap_read_unlock(mm)")
    op.label("out")


# --- fork(2) and the child's exit ----------------------------------------------------------


def _vma_at(process: Process, number: int) -> Expr:
    """The VMA in ``process``'s slot ``number``."""
    slot = process.vmas[number]
    return Expr(f"vma[{number}]", lambda _w: lambda state: state[slot], reads=frozenset((slot,)))


def _slot_used(slot: int, text: str) -> Expr:
    return Expr(text, lambda _w: lambda state: state[slot] is not None)


def _copy(scratch: Scratch, parent: Process, child: Process, number: int) -> None:
    scratch[child.vmas[number]] = scratch[parent.vmas[number]]


@operation(
    models="copy_process() -> dup_mm() -> dup_mmap() (kernel/fork.c); the child's "
    "exit_mmap() (mm/mmap.c)",
    describe=lambda m: f"fork(); the child exits /* {m} */",
    cites=(
        Cite("kernel/fork.c", "dup_mmap", "6.6"),
        Cite("kernel/fork.c", "vm_area_dup", "6.6"),
        Cite("fs/afs/file.c", "afs_vm_open", "6.6", method="vm_operations_struct.open"),
        Cite("mm/mmap.c", "exit_mmap", "6.6"),
        Cite("mm/mmap.c", "remove_vma", "6.6"),
        Cite("fs/afs/file.c", "afs_vm_close", "6.6", method="vm_operations_struct.close"),
    ),
)
def fork_exit(op: Op, mapped: MappedFile) -> None:
    """fork(2), whose child exits at once: ``dup_mmap()`` copies every VMA
    under both mms' mmap_lock (the child's nested), links each copy into
    ``i_mmap`` and calls its ``->open``; the child's ``exit_mmap()`` (its
    mmap_lock exclusive for the teardown, 6.6) unlinks each VMA and calls
    ``->close``."""
    part, parent, _ = _parts(op, mapped)
    op.one_thread(
        "forks the process that maps",
        mapped.file.path,
        "the model has one child mm, so two fork_exit threads of one mapped file would share "
        "it (give the scenario one)",
    )
    child = child_of(op.world, part)
    op.lock(parent.mmap_lock, EXCL, "dup_mmap(): mmap_write_lock_killable(oldmm)")
    op.lock(child.mmap_lock, EXCL, "mmap_write_lock_nested(mm, SINGLE_DEPTH_NESTING)")
    for number, slot in enumerate(parent.vmas):
        present = _slot_used(slot, f"mpnt {number}")
        with op.when(present, f"for_each_vma(old_vmi, mpnt) /* VMA slot {number} */"):
            mpnt = _vma_at(parent, number)
            i_mmap = _i_mmap_of(part, mpnt)
            op.lock(parent.vm_locks[number], EXCL, "vma_start_write(mpnt)")
            op.lock(i_mmap, EXCL, "tmp = vm_area_dup(mpnt); i_mmap_lock_write(mapping)")
            op.effect(
                "vma_interval_tree_insert_after(tmp, mpnt, &mapping->i_mmap); "
                "vma_iter_bulk_store(&vmi, tmp)",
                _copy,
                parent,
                child,
                number,
            )
            op.unlock(i_mmap, "i_mmap_unlock_write(mapping)")
            with _for_a_file_vma(op, part, mpnt, "if (tmp->vm_ops && tmp->vm_ops->open)"):
                afs_vm_open(
                    op,
                    part,
                    child,
                    "if (tmp->vm_ops && tmp->vm_ops->open) tmp->vm_ops->open(tmp)",
                )
    op.unlock(child.mmap_lock, "mmap_write_unlock(mm) /* no VMA of the child write-locked */")
    mmap_write_unlock(op, parent, "mmap_write_unlock(oldmm)")
    op.lock(
        child.mmap_lock, SHARED, "do_exit(): exit_mm(): mmput(): exit_mmap(): mmap_read_lock(mm)"
    )
    op.unlock(
        child.mmap_lock,
        "unmap_vmas(&tlb, &mas, vma, 0, ULONG_MAX, ULONG_MAX, false) /* no ptes: a shared "
        "file mapping's are not copied */; mmap_read_unlock(mm)",
    )
    op.lock(child.mmap_lock, EXCL, "set_bit(MMF_OOM_SKIP, &mm->flags); mmap_write_lock(mm)")
    for number, slot in enumerate(child.vmas):
        present = _slot_used(slot, f"vma {number}")
        with op.when(present, f"free_pgtables(): for each vma /* VMA slot {number} */"):
            i_mmap = _i_mmap_of(part, _vma_at(child, number))
            op.lock(
                i_mmap, EXCL, "free_pgtables(): unlink_file_vma(vma): i_mmap_lock_write(mapping)"
            )
            op.effect("__remove_shared_vm_struct(vma, file, mapping)", _unlink_kept, number)
            op.unlock(i_mmap, "i_mmap_unlock_write(mapping)")
    for number, slot in enumerate(child.vmas):
        present = _slot_used(slot, f"vma {number}")
        with op.when(present, f"do {{ remove_vma(vma, true); }} /* VMA slot {number} */"):
            with _for_a_file_vma(
                op, part, _vma_at(child, number), "if (vma->vm_ops && vma->vm_ops->close)"
            ):
                afs_vm_close(
                    op,
                    part,
                    child,
                    "remove_vma(): if (vma->vm_ops && vma->vm_ops->close) vma->vm_ops->close(vma)",
                )
            op.effect("__mt_destroy(&mm->mm_mt) /* the VMA is gone */", _unlink, child, number)
    op.unlock(child.mmap_lock, "mmap_write_unlock(mm)")


# --- accesses ------------------------------------------------------------------------------


def _allowed(scratch: Scratch, process: Process, page: int, write: bool) -> bool:
    number = find_vma(scratch, process, page)
    if number is None:
        return False
    flags = scratch[process.vmas[number]][2]
    return not flags & VM_PFNMAP and (not write or bool(flags & VM_WRITE))


def _vma_check(process: Process, page: int, write: bool) -> Any:
    def check(op: Op, at: str) -> Expr:
        return op.compute(
            f"vma_ok{at}",
            "vma = lock_mm_and_find_vma(mm, address, regs); "
            + ("if (unlikely(access_error(error_code, vma)))" if write else "/* a load */"),
            _allowed,
            process,
            page,
            write,
        )

    return check


def _access(op: Op, mapped: MappedFile, page: int, write: bool) -> None:
    part, process, _ = _parts(op, mapped)
    if page >= len(part.mapping.pages):
        raise ModelError(f"page {page} is past the pages of {mapped.file}")
    version = pagecache(op.world).add_write(op.thread.name, op.thread.pc, None) if write else 0
    access_page(
        op,
        part.mm,
        part.mapping.pages[page],
        0,
        write=write,
        version=version,
        at=f".{page}",
        vma_check=_vma_check(process, page, write),
        vma_lock=VmaLockFault(process, page, write),
    )


_ACCESS_CITES = (
    Cite("arch/x86/mm/fault.c", "do_user_addr_fault", "6.6"),
    Cite(
        "mm/memory.c",
        "lock_mm_and_find_vma",
        "6.6",
        leaves_out=("mmap_write_lock_killable", "mmap_write_unlock"),
        because="the VM_GROWSDOWN stack growth under mmap_lock exclusive (no VMA here is a stack)",
    ),
    Cite("mm/memory.c", "lock_vma_under_rcu", "6.6"),
    Cite("include/linux/mm.h", "vma_start_read", "6.6"),
    Cite("mm/memory.c", "handle_mm_fault", "6.6"),
    Cite("mm/memory.c", "do_read_fault", "6.6"),
    Cite("mm/memory.c", "do_shared_fault", "6.6"),
    Cite("mm/memory.c", "wp_page_shared", "6.6"),
    Cite("mm/memory.c", "finish_fault", "6.6"),
    Cite("mm/filemap.c", "filemap_fault", "6.6", method="vm_operations_struct.fault"),
    Cite("mm/filemap.c", "filemap_map_pages", "6.6", method="vm_operations_struct.map_pages"),
)


@operation(
    models="a load through the task's VMAs: do_user_addr_fault() -> handle_mm_fault()",
    describe=lambda m, page: f"x = p[page {page}] /* {m} */",
    cites=_ACCESS_CITES,
)
def vma_load(op: Op, mapped: MappedFile, page: int) -> None:
    """A load from the first byte of virtual page ``page``."""
    _access(op, mapped, page, False)


@operation(
    models="a store through the task's VMAs: do_user_addr_fault() -> handle_mm_fault()",
    describe=lambda m, page: f"p[page {page}] = x /* {m} */",
    cites=(
        *_ACCESS_CITES,
        Cite("mm/memory.c", "do_page_mkwrite", "6.6"),
        Cite(
            "fs/ext4/inode.c",
            "ext4_page_mkwrite",
            "6.6",
            method="vm_operations_struct.page_mkwrite",
        ),
    ),
)
def vma_store(op: Op, mapped: MappedFile, page: int) -> None:
    """A store to the first byte of virtual page ``page`` (the
    ``->page_mkwrite`` is the shipped block filesystem's, ext4's, as in
    ``mc.models.fault``: the file is a hybrid, AFS's would be
    ``afs_page_mkwrite()``)."""
    _access(op, mapped, page, True)


def generic_access_phys(scratch: Scratch, process: Process, number: int | None) -> int:
    """``generic_access_phys()``: ``follow_pte()`` of the VMA's pfn, ioremap
    and copy; -EINVAL once the VMA is gone (no pte to follow)."""
    if number is None or scratch[process.vmas[number]] is None:
        return -22
    return 0


@operation(
    models="access_process_vm() -> __access_remote_vm() -> vma->vm_ops->access (mm/memory.c)",
    describe=lambda m, page: f"ptrace(PTRACE_PEEKDATA, page {page}) /* {m} */",
    cites=(
        Cite("mm/memory.c", "access_process_vm", "6.6"),
        Cite("mm/memory.c", "__access_remote_vm", "6.6"),
        Cite("mm/mmap.c", "expand_stack", "6.6"),
        Cite("mm/gup.c", "check_vma_flags", "6.6"),
        Cite(
            "mm/memory.c",
            "generic_access_phys",
            "6.6",
            method="vm_operations_struct.access",
        ),
    ),
)
def ptrace_peek(op: Op, mapped: MappedFile, page: int) -> None:
    """A debugger reads the task's virtual page ``page``: under mmap_lock
    shared, ``get_user_page_vma_remote()`` fails on a VM_IO | VM_PFNMAP VMA
    (``check_vma_flags()``: -EFAULT), so ``__access_remote_vm()`` looks the
    VMA up and calls its ``->access``.  With no VMA at the address,
    ``expand_stack()`` drops mmap_lock, takes it exclusive, finds no stack
    to grow and returns with it dropped: the read returns 0."""
    _, process, _ = _parts(op, mapped)
    locked = not op.variant(ACCESS_WITHOUT_MMAP_LOCK)
    if locked:
        op.lock(process.mmap_lock, SHARED, "__access_remote_vm(): mmap_read_lock_killable(mm)")
    number, vma = _look_up_vma(
        op,
        process,
        page,
        "vma_lookup(mm, addr); get_user_page_vma_remote() /* -EFAULT: VM_PFNMAP */; "
        "vma = vma_lookup(mm, addr)",
    )
    with op.when(
        _test(number, "vma == NULL", lambda n: n is None),
        "if (!vma_lookup(mm, addr) && !expand_stack(mm, addr)) return 0",
    ):
        if locked:
            op.unlock(process.mmap_lock, "expand_stack(): mmap_read_unlock(mm)")
            op.lock(process.mmap_lock, EXCL, "if (mmap_write_lock_killable(mm)) return NULL")
            op.unlock(
                process.mmap_lock,
                "vma = find_vma_prev(mm, addr, &prev) /* none to expand */; "
                "mmap_write_unlock(mm); return NULL",
            )
        op.goto("out")
    with op.when(
        _test(vma, "vma->vm_ops->access", lambda v: v is not None and v[2] & VM_PFNMAP),
        "if (vma && vma->vm_ops && vma->vm_ops->access)",
    ):
        op.call(
            "vm_operations_struct.access",
            generic_access_phys,
            process,
            number,
            label="bytes = vma->vm_ops->access(vma, addr, buf, bytes, gup_flags)",
            roles={"mm": process},
        )
    if locked:
        op.unlock(process.mmap_lock, "mmap_read_unlock(mm)")
    op.label("out")


# --- properties ------------------------------------------------------------------------------


def _any_mmap_lock_held(part: Vmas, state: State) -> bool:
    return any(state[p.mmap_lock.slot] is not None for p in part.processes.values())


def open_close_violation(part: Vmas, state: State) -> str | None:
    """Outside every mmap_lock, the file's count of opened VMAs equals the
    VMAs that map it; it never drops below zero."""
    opened = state[part.opened]
    if opened < 0:
        return f"cb_nr_mmap({part.mapping}) is {opened}: a VMA was ->closed that was never opened"
    if _any_mmap_lock_held(part, state):
        return None
    live = part.file_vmas(state)
    if opened != live:
        return (
            f"cb_nr_mmap({part.mapping}) is {opened} but {live} VMA(s) map the file: "
            "->mmap/->open and ->close do not pair"
        )
    return None


def ptes_within_vmas_violation(part: Vmas, state: State) -> str | None:
    """Outside the task's mmap_lock, every present pte lies in a VMA of the
    task, and a writable one in a VM_WRITE VMA."""
    process = part.processes[TASK]
    if state[process.mmap_lock.slot] is not None:
        return None
    for index, slot in enumerate(part.mm.ptes):
        pte = state[slot]
        if pte is None:
            continue
        number = find_vma(state, process, index)
        if number is None:
            return f"pte({part.mapping.pages[index]}) is present but no VMA maps page {index}"
        if pte & PTE_WRITE and not state[process.vmas[number]][2] & VM_WRITE:
            return (
                f"pte({part.mapping.pages[index]}) is writable in a read-only VMA "
                f"({render_vma(state[process.vmas[number]])})"
            )
    return None


def _vmas(model: Any) -> Vmas | None:
    found = model.world.parts.get("vmas")
    return found if isinstance(found, Vmas) else None


@invariant(
    "vma-open-close",
    "every VMA of a file is opened once (->mmap, ->open on a split or fork copy) and closed "
    "once (->close): outside mmap_lock the filesystem's count equals the VMAs mapping the file",
    reads=["cb_nr_mmap", "mmap_lock", "vma"],
    needs=("vmas", "VMAs that come and go (mmap, munmap, fork)"),
)
def vma_open_close(model: Any) -> Any:
    part = _vmas(model)
    return lambda state: None if part is None else open_close_violation(part, state)


def ptes_within_vmas_reads(model: Any) -> list[str]:
    """What ``ptes-within-vmas`` reads: the task's mmap_lock, its VMAs and
    the ptes of the mapped file (not a forked child's VMAs; its mmap_lock
    is of the family ``mmap_lock`` too, which the name takes along)."""
    part = _vmas(model)
    if part is None:
        return []
    process = part.processes[TASK]
    slots = model.world.slots
    return [slots[slot].name for slot in (process.mmap_lock.slot, *process.vmas, *part.mm.ptes)]


@invariant(
    "ptes-within-vmas",
    "outside mmap_lock every present pte lies in a VMA of the process, and a writable pte in "
    "a writable VMA (munmap zaps, mprotect write-protects)",
    reads=ptes_within_vmas_reads,
    needs=("vmas", "VMAs that come and go (mmap, munmap, fork)"),
)
def ptes_within_vmas(model: Any) -> Any:
    part = _vmas(model)
    return lambda state: None if part is None else ptes_within_vmas_violation(part, state)
