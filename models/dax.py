"""DAX: a file on persistent memory mapped without the page cache (Linux
6.6: fs/dax.c ``dax_iomap_fault()``, ``dax_iomap_pmd_fault()``,
``dax_fault_check_fallback()``, ``dax_iomap_pte_fault()``,
``grab_mapping_entry()``, ``dax_fault_iter()``, ``dax_load_hole()``,
``dax_insert_entry()``, ``dax_writeback_mapping_range()``,
``dax_writeback_one()``, ``dax_layout_busy_page_range()``,
``dax_delete_mapping_entry()``; fs/ext4/file.c ``ext4_dax_huge_fault()``,
``ext4_dax_fault()``, ``ext4_dax_vm_ops`` = ``.fault``, ``.huge_fault``,
``.page_mkwrite`` and ``.pfn_mkwrite``; fs/ext4/inode.c
``ext4_iomap_begin()`` allocating with ``EXT4_GET_BLOCKS_CREATE_ZERO``,
``ext4_setattr()``, ``ext4_punch_hole()``, ``ext4_break_layouts()``;
mm/truncate.c ``truncate_pagecache()``, ``truncate_pagecache_range()``,
``truncate_folio_batch_exceptionals()``; mm/memory.c
``__handle_mm_fault()``, ``create_huge_pmd()``, ``wp_pfn_shared()``,
``insert_pfn()``):

- ``dax_load`` / ``dax_store``: a load or store at a page of the task's
  shared mapping (one PMD, 2 MiB, of which the file fills the first pages):
  the CPU goes through the pte when it allows the access; otherwise a fault
  under mmap_lock shared (6.6 tries the per-VMA lock first, but returns
  VM_FAULT_RETRY before any DAX method: see ``_FAULT_CITES``): the first
  one (no pte table yet) tries ``->huge_fault(PMD_ORDER)``, which raises
  SIGBUS when the PMD starts at or past EOF (``xas.xa_index >=
  max_pgoff``: a file truncated to nothing) and otherwise falls back
  (``dax_fault_check_fallback()``: the VMA, a few pages, is smaller than
  a PMD); then ``->fault`` (``ext4_dax_fault()``) for a missing pte, or
  ``->pfn_mkwrite`` for a store to a read-only one; both run
  ``dax_iomap_pte_fault()`` under invalidate_lock shared: SIGBUS past EOF
  (a reliable test because truncate and punch hold invalidate_lock
  exclusive), the entry locked (``grab_mapping_entry()``), the block
  mapped (a store allocates and zeroes one for a hole; a load of a hole
  maps the zero page), ``->direct_access``, then ``dax_insert_entry()``
  (the zero page's pte unmapped first, ``unmap_mapping_pages()``), the pte
  installed or made writable, the entry unlocked;
- ``dax_fsync``: fsync(2) -> ``ext4_sync_file()`` ->
  ``ext4_dax_writepages()`` -> ``dax_writeback_mapping_range()``:
  ``tag_pages_for_writeback()`` marks the DIRTY entries TOWRITE, then each
  entry marked TOWRITE is locked (after waiting if a fault or truncate
  holds it) and rechecked as ``dax_writeback_one()`` does (gone, another
  pfn, or no TOWRITE mark any more: put back unlocked), its TOWRITE mark
  cleared, its ptes write-protected (under ``i_mmap_lock_read()``,
  ``pfn_mkclean_range()`` on each VMA), its block flushed from the CPU
  cache (``dax_flush()``), its DIRTY mark cleared;
- ``dax_truncate`` / ``dax_punch_hole``: ftruncate(2) to whole pages
  (``ext4_setattr()``) and FALLOC_FL_PUNCH_HOLE of one page
  (``ext4_punch_hole()``, which first writes back a mapping tagged DIRTY
  and returns at once for a page past EOF), in ext4's order: sb_writers,
  i_rwsem, ``inode_dio_wait()``, invalidate_lock exclusive,
  ``ext4_break_layouts()`` (``dax_layout_busy_page()``: every pte
  unmapped under ``i_mmap_lock_read()``, each locked entry waited for),
  ``i_size_write()`` (truncate), the range's ptes unmapped, its entries
  deleted (``dax_delete_mapping_entry()``: waits for the entry lock,
  stores NULL, the marks go, WAKE_ALL), a truncate's ptes unmapped again,
  the blocks freed, the locks dropped.

Read: fs/dax.c of microsoft/WSL2-Linux-Kernel @35adbe088888 (6.7+, the
same as 6.6 on these paths): ``dax_iomap_pte_fault()``'s i_size check
("Caller is supposed to hold locks serializing us with truncate / punch
hole so this is a reliable test"), ``dax_fault_iter()`` calling
``dax_iomap_direct_access()`` before ``dax_insert_entry()``, which does
the zero page's ``unmap_mapping_pages()`` (the model unmapped first:
fixed), ``dax_iomap_pmd_fault()``'s SIGBUS before the fallback check (was
missing: fixed), ``dax_writeback_one()``'s recheck after
``get_unlocked_entry()`` (was missing, and TOWRITE read the live DIRTY
mark: fixed), ``dax_layout_busy_page_range()``,
``__dax_invalidate_entry()``; ext4's ``ext4_break_layouts()`` /
``ext4_wait_dax_page()`` from the patches of the DAX break-layout series
in the search index (the 6.6 loop: ``dax_layout_busy_page()``,
``___wait_var_event()`` on the page's refcount with
``ext4_wait_dax_page()``).  An earlier pass: the 5.19 patch that removed
``dax_entry_mkclean()`` (``dax_writeback_one()`` takes
``i_mmap_lock_read()`` itself), fs/ext4/file.c ``ext4_dax_huge_fault()``
(6.6: a write fault takes ``sb_start_pagefault()`` before the
invalidate_lock).  The 6.6 per-VMA-lock fallbacks: the series with
"mm: handle some PMD faults under the VMA lock" ("we refuse to call
->huge_fault() with the VMA lock held").  ``ext4_punch_hole()``'s order
(``inode_dio_wait()``, ``filemap_invalidate_lock()``,
``ext4_break_layouts()``, ``truncate_pagecache_range()``, then the
handle) from a 6.x fs/ext4/inode.c excerpt in the search index;
``ext4_setattr()``'s truncate order is the one models/blockfs_truncate.py
follows, not read again here.

Left out: the journal handle and ``file_update_time()`` of a write fault,
ext4's ``s_writepages_rwsem`` in ``ext4_dax_writepages()`` and
``i_data_sem``, the i_pages xa_lock under which an entry is looked up,
locked and marked (the model's entry lock is the DAX_LOCKED bit; a wait
for an unlocked entry that does not take it is a take and a release of
the bit; so a trace may show another thread's ``tag_pages_for_writeback()``
between ``dax_writeback_one()``'s ``dax_lock_entry()`` and its clear of
TOWRITE, which one ``xas_lock_irq()`` hold keeps together in the
kernel),
``__mark_inode_dirty()``, PMD mappings themselves (every huge
fault here falls back or raises SIGBUS), pinned pages (no
``get_user_pages()``, so ``dax_busy_page()`` finds none and the wait that
drops and retakes invalidate_lock, ``ext4_wait_dax_page()``, never runs),
sizes and holes inside a page (``dax_truncate_page()``,
``ext4_zero_partial_blocks()``), the second pass of
``truncate_inode_pages_range()`` (nothing a fault could add under
invalidate_lock exclusive), the wake rules of the entry lock (WAKE_NEXT
against WAKE_ALL), MAP_SYNC.
"""

from __future__ import annotations

import functools
from typing import Any

from mc.dsl import EXCL, SHARED, Cite, Op, flag_variant, operation
from mc.dsl.symbolic_steps import fork_compute
from mc.kernel.dax import EMPTY, NOT_MODELLED_ON_DAX, PAGE_CACHE_USERS, ZERO_PAGE, Dax, dax_of
from mc.kernel.device import ZEROES, device_of, release
from mc.kernel.expr import Eval, Expr, not_, slot_value
from mc.kernel.mm import VM_FAULT_NOPAGE, VM_FAULT_SIGBUS, render_vm_fault, vm_fault
from mc.kernel.pagecache import (
    PAGE_SIZE,
    File,
    Mapping,
    Page,
    Sync,
    note_truncated,
    pagecache,
    promise,
    render_promise,
)
from mc.kernel.pagedata import render_versions
from mc.kernel.pathcond import add, at_least, decide, div, equal, equals, is_true, less, mul
from mc.kernel.superblock import SB_FREEZE_PAGEFAULT, SB_FREEZE_WRITE, sb_writers
from mc.kernel.truncate_properties import truncation
from mc.kernel.world import LOCK_PROTOCOL, ModelError, Scratch, World
from mc.models import blockfs
from mc.models.blockfs_truncate import (
    EXTEND,
    FTRUNCATE_CITES,
    PUNCH_HOLE_CITES,
    SAME,
    SHRINK,
    inode_dio_wait,
    shrink_waits_then_locks,
)
from mc.models.fault import vm_fault_is
from mc.models.truncate_mm import render_indices

NO_ENTRY_LOCK = "dax-no-entry-lock"
NO_MKCLEAN = "dax-writeback-no-mkclean"
NO_INVALIDATE_LOCK = "dax-fault-no-invalidate-lock"

flag_variant(
    NO_ENTRY_LOCK,
    "dax_iomap_pte_fault() neither waits for nor takes the DAX entry lock: a read fault on a "
    "hole replaces a write fault's block entry with the zero page's",
)
flag_variant(
    NO_INVALIDATE_LOCK,
    "ext4_dax_huge_fault() takes no invalidate_lock: a fault that checked i_size before a "
    "truncate or hole punch maps the block after they unmapped and deleted the entry, and they "
    "free it under the new pte",
)
flag_variant(
    NO_MKCLEAN,
    "dax_writeback_one() flushes and clears the DIRTY mark without write-protecting the ptes "
    "(no pfn_mkclean_range() over the i_mmap tree): a later store goes through a writable "
    "pte, ->pfn_mkwrite never redirties the entry, and the next fsync flushes nothing",
)


def _parts(op: Op, file: File) -> tuple[Mapping, Dax]:
    try:
        mapping = pagecache(op.world).attach(file)
    except ValueError as error:
        raise ModelError(str(error)) from None
    if file.cached:
        raise ModelError(f"{file} is a DAX file: it has no page cache")
    if mapping.ino in op.world.parts.get(PAGE_CACHE_USERS, ()) or any(
        ino == mapping.ino for ino, _index in truncation(op.world).stale
    ):
        raise ModelError(f"{file} is a DAX file: {NOT_MODELLED_ON_DAX}")
    return mapping, dax_of(op.world, mapping)


def _entry_of(part: Dax, index: int) -> Expr:
    slot = part.entries[index]
    return Expr(f"dax_entry({part.mapping.pages[index]})", lambda _w: lambda s: s[slot])


# --- the entry lock -------------------------------------------------------------------


def _seen(scratch: Scratch, part: Dax, index: int) -> int:
    """The entry ``grab_mapping_entry()`` finds (an empty one stored if
    there is none): its target."""
    slot = part.entries[index]
    if scratch[slot] is None:
        scratch[slot] = (EMPTY, False, False)
    return int(scratch[slot][0])


def grab_entry(op: Op, part: Dax, page: Page, at: str) -> Expr:
    """``grab_mapping_entry()``: under xa_lock, wait for the entry to be
    unlocked (``get_unlocked_entry()``), store an empty one if there is
    none, lock it; returns the register holding the target seen."""
    if not op.variant(NO_ENTRY_LOCK):
        op.lock(
            part.locks[page.index],
            label="grab_mapping_entry(): entry = get_unlocked_entry(xas, 0); dax_lock_entry()",
        )
    return op.compute(
        f"entry{at}",
        "if (!entry) { entry = dax_make_entry(pfn_to_pfn_t(0), DAX_EMPTY); "
        "dax_lock_entry(xas, entry); }",
        _seen,
        part,
        page.index,
    )


def _unlock(scratch: Scratch, part: Dax, index: int) -> None:
    """An empty entry nobody filled goes (``dax_unlock_entry()`` of the
    empty entry: a hole mapped nothing)."""
    entry = scratch[part.entries[index]]
    if entry is not None and entry[0] == EMPTY and not entry[1]:
        scratch[part.entries[index]] = None


# --- the fault ------------------------------------------------------------------------


def _iomap_begin(scratch: Scratch, part: Dax, page: Page, write: bool) -> Any:
    """``ext4_iomap_begin()``: the block, or (a write) a new block zeroed by
    ``ext4_map_blocks(EXT4_GET_BLOCKS_CREATE_ZERO)`` (the zeroing writes the
    media through, so no CPU cache line of the block, left from a page it
    was freed from, survives it); None: a hole."""
    block = scratch[page.block]
    if block is not None or not write:
        return block
    device = device_of(scratch.world)
    free = scratch[device.free]
    if not free:
        return None
    block = free[0]
    scratch[device.free] = free[1:]
    scratch[page.block] = block
    scratch[device.blocks[block]] = ZEROES
    for line in part.cache:
        if scratch[line] is not None and scratch[line][0] == block:
            scratch[line] = None
    return block


def _insert(scratch: Scratch, part: Dax, index: int, seen: int, target: int, write: bool) -> int:
    """``dax_insert_entry()`` (after any zero page's pte was unmapped) then
    ``insert_pfn()``: the entry is stored when the one seen was empty or the
    zero page (the marks stay on the index), DIRTY set for a store; the pte
    is installed if none, made writable for a store to the same pfn.
    Returns VM_FAULT_NOPAGE."""
    slot, pte_slot = part.entries[index], part.ptes[index]
    entry = scratch[slot]
    dirty, towrite = (entry[1], entry[2]) if entry is not None else (False, False)
    if seen in (EMPTY, ZERO_PAGE):
        scratch[slot] = (target, dirty or write, towrite)
    elif write and entry is not None:
        scratch[slot] = (entry[0], True, towrite)
    pte = scratch[pte_slot]
    if pte is None:
        scratch[pte_slot] = (target, write)
        scratch[part.pmd] = True
    elif write and pte[0] == target:
        scratch[pte_slot] = (target, True)
    return VM_FAULT_NOPAGE


def _is_zero(register: Expr, world: World) -> Eval:
    get = register.compile(world)
    return lambda state: get(state) == ZERO_PAGE


def _zap_zero_pte(scratch: Scratch, part: Dax, index: int) -> None:
    pte = scratch[part.ptes[index]]
    if pte is not None and pte[0] == ZERO_PAGE:
        scratch[part.ptes[index]] = None


def unmap_zero_page(op: Op, part: Dax, page: Page) -> None:
    """``dax_insert_entry()`` replacing the zero page with a block:
    ``unmap_mapping_pages(mapping, index, 1, false)`` zaps the zero page's
    pte under ``i_mmap_lock_read()``."""
    mapping = part.mapping
    op.lock(
        mapping.i_mmap_rwsem,
        SHARED,
        "dax_insert_entry(): unmap_mapping_pages(mapping, index, 1, false): "
        "i_mmap_lock_read(mapping)",
    )
    op.effect(
        "unmap_mapping_range_tree(): zap_page_range_single() /* the zero page's pte */",
        _zap_zero_pte,
        part,
        page.index,
    )
    op.unlock(mapping.i_mmap_rwsem, "i_mmap_unlock_read(mapping)")


def lock_invalidate_shared(op: Op, mapping: Mapping) -> None:
    """``ext4_dax_huge_fault()``: ``filemap_invalidate_lock_shared()``,
    which excludes truncate and hole punch; none under variant
    ``dax-fault-no-invalidate-lock``."""
    if not op.variant(NO_INVALIDATE_LOCK):
        op.lock(
            mapping.invalidate_lock,
            SHARED,
            "ext4_dax_huge_fault(): filemap_invalidate_lock_shared(mapping)",
            tag="invalidate-lock",
        )


def unlock_invalidate_shared(op: Op, mapping: Mapping, label: str) -> None:
    if not op.variant(NO_INVALIDATE_LOCK):
        op.unlock(mapping.invalidate_lock, label, tag="invalidate-lock")


def dax_pte_fault(op: Op, part: Dax, page: Page, write: bool, result: str, at: str) -> None:
    """``ext4_dax_huge_fault(vmf, 0)`` -> ``dax_iomap_fault()`` ->
    ``dax_iomap_pte_fault()``."""
    mapping = part.mapping
    _start_fault(op, write)
    lock_invalidate_shared(op, mapping)
    beyond = fork_compute(
        op,
        f"beyond_eof{at}",
        "dax_iomap_pte_fault(): if (pos >= i_size_read(iter.inode)) { ret = VM_FAULT_SIGBUS; "
        "goto out; } /* 'Caller is supposed to hold locks serializing us with truncate / "
        "punch hole so this is a reliable test' */",
        blockfs.past_eof,
        mapping,
        page,
    )
    with op.when(is_true(beyond), "if (pos >= i_size_read(iter.inode))"):
        op.let(result, vm_fault(VM_FAULT_SIGBUS), "ret = VM_FAULT_SIGBUS")
        op.goto(f"fault_out{at}")
    seen = grab_entry(op, part, page, at)
    block = op.compute(
        f"iomap{at}",
        "iomap_iter(&iter, ops): ext4_iomap_begin(inode, pos, length, "
        + ("IOMAP_WRITE /* allocates and zeroes a hole's block */" if write else "0")
        + ", &iomap)",
        _iomap_begin,
        part,
        page,
        write,
    )
    if not write:
        with op.when(
            Expr("iomap->type == IOMAP_HOLE", lambda w: _none(block, w), block.local),
            "if (!write && (iomap->type == IOMAP_UNWRITTEN || iomap->type == IOMAP_HOLE)) "
            "return dax_load_hole(xas, vmf, iter, entry)",
        ):
            op.effect(
                "dax_load_hole(): dax_insert_entry(xas, vmf, iter, *entry, pfn, DAX_ZERO_PAGE); "
                "vmf_insert_mixed(vmf->vma, vaddr, pfn)",
                lambda scratch, s: _insert(scratch, part, page.index, s, ZERO_PAGE, False),
                seen,
            )
            op.goto(f"inserted{at}")
    op.call(
        "block_device_operations.direct_access",
        lambda _scratch: 0,
        label="dax_fault_iter(): err = dax_iomap_direct_access(iomap, pos, size, &kaddr, &pfn): "
        "dax_direct_access(dax_dev, pgoff, ...) -> dax_dev->ops->direct_access()",
        roles={},
        sleeps=False,
    )
    with op.when(
        Expr(
            "dax_is_zero_entry(entry)",
            lambda w: _is_zero(seen, w),
            seen.local,
        ),
        "*entry = dax_insert_entry(xas, vmf, iter, *entry, pfn, 0): "
        "if (shared || (dax_is_zero_entry(entry) && !(flags & DAX_ZERO_PAGE))) "
        "/* we are replacing a zero page with block mapping */",
    ):
        unmap_zero_page(op, part, page)
    op.effect(
        "dax_insert_entry(): xas_store(); if (dirty) xas_set_mark(xas, PAGECACHE_TAG_DIRTY); "
        + ("vmf_insert_mixed_mkwrite(vmf->vma, vaddr, pfn)" if write else "vmf_insert_mixed()"),
        lambda scratch, s, b: _insert(scratch, part, page.index, s, b, write),
        seen,
        block,
    )
    op.label(f"inserted{at}")
    op.effect("unlock_entry: dax_unlock_entry(&xas, entry)", _unlock, part, page.index)
    if not op.variant(NO_ENTRY_LOCK):
        op.unlock(
            part.locks[page.index], "dax_unlock_entry(): dax_wake_entry(xas, entry, WAKE_NEXT)"
        )
    op.let(result, vm_fault(VM_FAULT_NOPAGE), "return VM_FAULT_NOPAGE")
    op.label(f"fault_out{at}")
    unlock_invalidate_shared(op, mapping, "filemap_invalidate_unlock_shared(mapping)")
    _end_fault(op, write)


def _none(register: Expr, world: World) -> Eval:
    get = register.compile(world)
    return lambda state: get(state) is None


def _empty_file(scratch: Scratch, mapping: Mapping) -> bool:
    """``xas.xa_index >= max_pgoff`` for the PMD at index 0:
    ``DIV_ROUND_UP(i_size, PAGE_SIZE) == 0``."""
    return decide(scratch, at_least(0, div(add(scratch[mapping.i_size], PAGE_SIZE - 1), PAGE_SIZE)))


def huge_fault(op: Op, part: Dax, write: bool, result: str, at: str) -> None:
    """``create_huge_pmd()`` -> ``->huge_fault(vmf, PMD_ORDER)`` =
    ``ext4_dax_huge_fault()`` -> ``dax_iomap_pmd_fault()``: SIGBUS when the
    PMD starts at or past EOF (``xas.xa_index >= max_pgoff``: the PMD is
    the one at index 0, so a file truncated to nothing); else
    ``dax_fault_check_fallback()`` sends it back to ptes, the first check
    that fires being ``(pmd_addr+PMD_SIZE) > vmf->vma->vm_end`` (the VMA
    maps the file's few pages, less than a PMD)."""
    op.enter(
        "vm_operations_struct.huge_fault",
        label="create_huge_pmd(): return vmf->vma->vm_ops->huge_fault(vmf, PMD_ORDER)",
        roles={"mm": part},
    )
    mapping = part.mapping
    _start_fault(op, write)
    lock_invalidate_shared(op, mapping)
    empty = fork_compute(
        op,
        f"pmd_past_eof{at}",
        "dax_iomap_pmd_fault(): max_pgoff = DIV_ROUND_UP(i_size_read(iter.inode), PAGE_SIZE); "
        "if (xas.xa_index >= max_pgoff) { ret = VM_FAULT_SIGBUS; goto out; }",
        _empty_file,
        mapping,
    )
    with op.when(is_true(empty), "if (xas.xa_index >= max_pgoff)"):
        op.let(result, vm_fault(VM_FAULT_SIGBUS), "ret = VM_FAULT_SIGBUS")
        op.goto(f"pmd_out{at}")
    op.label(f"pmd_out{at}")
    unlock_invalidate_shared(
        op,
        mapping,
        "fallback: if (dax_fault_check_fallback(vmf, &xas, max_pgoff)) "
        "/* (pmd_addr+PMD_SIZE) > vmf->vma->vm_end */ ret = VM_FAULT_FALLBACK; "
        "out: filemap_invalidate_unlock_shared(mapping); return ret",
    )
    _end_fault(op, write)


def _start_fault(op: Op, write: bool) -> None:
    """``ext4_dax_huge_fault()`` of a write to a shared mapping:
    ``sb_start_pagefault()`` (the SB_FREEZE_PAGEFAULT level shared) before
    the invalidate_lock; the journal handle it starts is left out."""
    if write:
        op.lock(
            sb_writers(op.world, SB_FREEZE_PAGEFAULT),
            SHARED,
            "ext4_dax_huge_fault(): if (write) { sb_start_pagefault(sb); "
            "file_update_time(vmf->vma->vm_file); }",
        )


def _end_fault(op: Op, write: bool) -> None:
    if write:
        op.unlock(sb_writers(op.world, SB_FREEZE_PAGEFAULT), "sb_end_pagefault(sb)")


# --- the CPU's access -------------------------------------------------------------------


def _access(scratch: Scratch, part: Dax, page: Page, write: bool, version: int, data: int) -> bool:
    pte = scratch[part.ptes[page.index]]
    if pte is None or (write and not pte[1]):
        return False
    target = pte[0]
    if write:
        scratch[part.cache[page.index]] = (target, version)
        scratch[page.history] = (*scratch[page.history], version)
        return True
    if target == ZERO_PAGE:
        scratch[data] = frozenset({ZEROES})
        return True
    line = scratch[part.cache[page.index]]
    if line is not None and line[0] == target:
        scratch[data] = frozenset({line[1]})
    else:
        scratch[data] = frozenset({scratch[device_of(scratch.world).blocks[target]]})
    return True


def _pte_state(part: Dax, index: int, want: str) -> Expr:
    slot = part.ptes[index]

    def build(_world: World) -> Eval:
        if want == "none":
            return lambda state: state[slot] is None
        return lambda state: state[slot] is not None and not state[slot][1]

    text = "pte_none(vmf->orig_pte)" if want == "none" else "!pte_write(entry)"
    return Expr(text, build)


def access(op: Op, file: File, index: int, write: bool, at: str) -> None:
    """A load or store at page ``index`` of the DAX mapping, retried after
    each fault until it is made (or SIGBUS)."""
    mapping, part = _parts(op, file)
    page = mapping.page(index)
    version = pagecache(op.world).add_write(op.thread.name, op.thread.pc, None) if write else 0
    result = f"vm_fault{at}"
    op.register(result, render_vm_fault)
    data = op.register(f"loaded{at}", render_versions)
    retry, done, out = f"access{at}", f"fault_done{at}", f"access_out{at}"
    op.label(retry)
    hit = op.compute(
        f"{'store' if write else 'load'}_done{at}",
        f"*(char *)addr = x /* v{version}: into the CPU cache */" if write else "x = *(char *)addr",
        _access,
        part,
        page,
        write,
        version,
        data,
    )
    with op.when(is_true(hit), "if (the pte allows the access)"):
        op.goto(out)
    op.lock(
        part.mmap_lock,
        SHARED,
        "lock_mm_and_find_vma(): get_mmap_lock_carefully(): mmap_read_lock_killable(mm)",
    )
    op.let(result, vm_fault(0), "vm_fault_t ret = 0")
    pmd_none = Expr("pmd_none(*vmf.pmd)", lambda _w: lambda s: s[part.pmd] is False)
    with op.when(
        pmd_none,
        "if (pmd_none(*vmf.pmd) && hugepage_vma_check(vma, vm_flags, false, true, true)) "
        "/* 6.6; thp_vma_allowable_order(..., PMD_ORDER) since 6.8 */",
    ):
        huge_fault(op, part, write, result, at)
        with op.when(
            vm_fault_is(op.reg(result), VM_FAULT_SIGBUS),
            "ret = create_huge_pmd(&vmf); if (!(ret & VM_FAULT_FALLBACK)) return ret",
        ):
            op.goto(done)
    with op.when(
        _pte_state(part, index, "none"), "if (pte_none(vmf->orig_pte)) return do_fault(vmf)"
    ):
        op.enter(
            "vm_operations_struct.fault",
            label="__do_fault(): ret = vma->vm_ops->fault(vmf) /* ext4_dax_fault */",
            roles={"mm": part},
        )
        dax_pte_fault(op, part, page, write, result, f"{at}.fault")
        op.goto(done)
    if write:
        with op.when(
            _pte_state(part, index, "read-only"),
            "if (!pte_write(entry)) return do_wp_page(vmf): wp_pfn_shared(vmf)",
        ):
            op.enter(
                "vm_operations_struct.pfn_mkwrite",
                label="wp_pfn_shared(): ret = vma->vm_ops->pfn_mkwrite(vmf) /* ext4_dax_fault */",
                roles={"mm": part},
            )
            dax_pte_fault(op, part, page, True, result, f"{at}.mkwrite")
    op.label(done)
    op.unlock(part.mmap_lock, "mmap_read_unlock(mm)")
    with op.when(
        vm_fault_is(op.reg(result), VM_FAULT_SIGBUS),
        "if (fault & VM_FAULT_SIGBUS) force_sig_fault(SIGBUS, BUS_ADRERR, addr)",
    ):
        op.goto(out)
    op.goto(retry)
    op.label(out)


_XA_LOCK = ("xas_lock_irq", "xas_unlock_irq")
_XA_LOCK_BECAUSE = (
    "the i_pages xa_lock held while an entry is looked up, locked and marked: the model's "
    "entry lock is the DAX_LOCKED bit, taken and dropped atomically"
)

_BREAK_LAYOUTS_CITES = (
    Cite("fs/ext4/inode.c", "ext4_break_layouts", "6.6"),
    Cite(
        "fs/dax.c",
        "dax_layout_busy_page_range",
        "6.6",
        leaves_out=_XA_LOCK,
        because=_XA_LOCK_BECAUSE,
    ),
)
"""What truncate and hole punch cite for ``ext4_break_layouts()``."""
_DELETE_ENTRIES_CITES = (
    Cite("mm/truncate.c", "truncate_inode_pages_range", "6.6"),
    Cite("mm/truncate.c", "truncate_folio_batch_exceptionals", "6.6"),
    Cite("fs/dax.c", "dax_delete_mapping_entry", "6.6"),
    Cite(
        "fs/dax.c",
        "__dax_invalidate_entry",
        "6.6",
        leaves_out=_XA_LOCK,
        because=_XA_LOCK_BECAUSE,
    ),
    Cite("mm/memory.c", "unmap_mapping_range", "6.6"),
    Cite("mm/memory.c", "unmap_mapping_pages", "6.6"),
)
"""What truncate and hole punch cite for the removal of the DAX entries."""

_FAULT_CITES = (
    Cite(
        "arch/x86/mm/fault.c",
        "do_user_addr_fault",
        "6.6",
        leaves_out=("lock_vma_under_rcu", "vma_end_read"),
        because="the per-VMA-lock attempt first: lock_vma_under_rcu() takes file VMAs since "
        "350f6bbca1de (6.6), but in 6.6 create_huge_pmd() (before ->huge_fault), do_read_fault() "
        "and do_shared_fault() (before ->fault) and wp_pfn_shared() (before ->pfn_mkwrite) "
        "test FAULT_FLAG_VMA_LOCK, vma_end_read() and return VM_FAULT_RETRY ('we refuse to call "
        "->huge_fault() with the VMA lock held'), and ext4_dax_vm_ops has no ->map_pages for "
        "fault-around: every DAX method runs on the retry under mmap_lock shared, as modelled",
    ),
    Cite(
        "mm/memory.c",
        "lock_mm_and_find_vma",
        "6.6",
        leaves_out=("mmap_read_trylock", "mmap_write_lock_killable", "mmap_write_unlock"),
        because="the trylock that takes the same mmap_lock shared without sleeping, and the "
        "VM_GROWSDOWN stack growth under mmap_lock exclusive (the mapping is not a stack)",
    ),
    Cite("mm/memory.c", "__handle_mm_fault", "6.6"),
    Cite("mm/memory.c", "create_huge_pmd", "6.6"),
    Cite("fs/ext4/file.c", "ext4_dax_huge_fault", "6.6", method="vm_operations_struct.huge_fault"),
    Cite("fs/dax.c", "dax_iomap_pmd_fault", "6.6", leaves_out=_XA_LOCK, because=_XA_LOCK_BECAUSE),
    Cite("fs/dax.c", "dax_fault_check_fallback", "6.6"),
    Cite("fs/ext4/file.c", "ext4_dax_fault", "6.6", method="vm_operations_struct.fault"),
    Cite("fs/dax.c", "dax_iomap_fault", "6.6"),
    Cite("fs/dax.c", "dax_iomap_pte_fault", "6.6", leaves_out=_XA_LOCK, because=_XA_LOCK_BECAUSE),
    Cite(
        "fs/dax.c",
        "grab_mapping_entry",
        "6.6",
        leaves_out=_XA_LOCK,
        because=_XA_LOCK_BECAUSE,
    ),
    Cite("fs/dax.c", "dax_fault_iter", "6.6"),
    Cite("fs/dax.c", "dax_load_hole", "6.6"),
    Cite("fs/dax.c", "dax_insert_entry", "6.6", leaves_out=_XA_LOCK, because=_XA_LOCK_BECAUSE),
    Cite("mm/memory.c", "unmap_mapping_pages", "6.6"),
    Cite(
        "fs/dax.c", "dax_iomap_direct_access", "6.6", method="block_device_operations.direct_access"
    ),
    Cite("fs/ext4/inode.c", "ext4_iomap_begin", "6.6"),
    Cite("mm/memory.c", "insert_pfn", "6.6"),
)


@operation(
    models="a load through a DAX mapping: handle_mm_fault() -> ext4_dax_fault() (mm/memory.c, "
    "fs/dax.c)",
    describe=lambda f, index: f"x = p[page {index}] /* DAX {f} */",
    cites=_FAULT_CITES,
)
def dax_load(op: Op, file: File, index: int) -> None:
    """A load from page ``index`` of a MAP_SHARED mapping of the DAX file."""
    access(op, file, index, False, "")


@operation(
    models="stores through a DAX mapping: handle_mm_fault() -> ext4_dax_fault(), "
    "wp_pfn_shared() -> ->pfn_mkwrite (mm/memory.c, fs/dax.c)",
    describe=lambda f, index, count: f"p[page {index}] = x, {count} time(s) /* DAX {f} */",
    cites=(
        *_FAULT_CITES,
        Cite("mm/memory.c", "wp_pfn_shared", "6.6"),
        Cite("fs/ext4/file.c", "ext4_dax_fault", "6.6", method="vm_operations_struct.pfn_mkwrite"),
    ),
)
def dax_store(op: Op, file: File, index: int, count: int) -> None:
    """``count`` stores, one after the other, to page ``index`` of a
    MAP_SHARED mapping of the DAX file."""
    for number in range(count):
        access(op, file, index, True, f".{number + 1}")


# --- fsync -------------------------------------------------------------------------------


def _tag_towrite(scratch: Scratch, part: Dax) -> None:
    """``tag_pages_for_writeback()``: every index marked DIRTY is marked
    TOWRITE too."""
    for slot in part.entries:
        entry = scratch[slot]
        if entry is not None and entry[1] and not entry[2]:
            scratch[slot] = (entry[0], True, True)


def _towrite_target(scratch: Scratch, part: Dax, index: int) -> int | None:
    """The target of the entry at ``index`` when it is marked TOWRITE
    (``xas_for_each_marked()`` finds it), else None."""
    entry = scratch[part.entries[index]]
    if entry is None or not entry[2]:
        return None
    return int(entry[0])


def _recheck(scratch: Scratch, part: Dax, index: int, seen: int) -> bool:
    """``dax_writeback_one()`` with the entry lock: whether the entry went
    (punched out), got another pfn (reallocated) or lost its TOWRITE mark
    (another fsync did it): then it is put back unlocked; else its TOWRITE
    mark is cleared."""
    slot = part.entries[index]
    entry = scratch[slot]
    if entry is None or entry[0] != seen or not entry[2]:
        return True
    scratch[slot] = (entry[0], entry[1], False)
    return False


def _mkclean(scratch: Scratch, part: Dax, index: int) -> None:
    pte = scratch[part.ptes[index]]
    if pte is not None:
        scratch[part.ptes[index]] = (pte[0], False)


def _flush(scratch: Scratch, part: Dax, index: int) -> None:
    """``dax_flush()`` of the entry's block, then its DIRTY mark cleared.
    The entry lock it holds keeps the entry in the mapping: an entry
    deleted under it (a truncate or punch that did not wait for the lock)
    would be stored back by ``xas_store()`` over the emptied range and its
    block, which the truncate frees, flushed: a lock-protocol error."""
    entry = scratch[part.entries[index]]
    if entry is None:
        scratch.violate(
            LOCK_PROTOCOL,
            f"dax_writeback_one() holds the entry lock of {part.mapping.pages[index]}, but the "
            "entry was deleted under it: xas_store() stores it back into the range a truncate "
            "or punch emptied, and dax_flush() writes its block, which that truncate or punch "
            "frees (dax_delete_mapping_entry() waits for a locked entry)",
        )
        return
    line = scratch[part.cache[index]]
    if line is not None and line[0] == entry[0]:
        scratch[device_of(scratch.world).blocks[line[0]]] = line[1]
        scratch[part.cache[index]] = None
    scratch[part.entries[index]] = (entry[0], False, entry[2])


def writeback_one(op: Op, part: Dax, page: Page, at: str) -> None:
    """``xas_for_each_marked(TOWRITE)`` at ``page``, then
    ``dax_writeback_one()``: the entry locked (waiting for it first if a
    fault or a truncate holds it) and rechecked, its TOWRITE mark cleared,
    the ptes write-protected, the block flushed, the DIRTY mark cleared,
    the entry unlocked."""
    index = page.index
    skip = f"writeback_skip{at}"
    seen = op.compute(
        f"towrite{at}",
        f"xas_for_each_marked(&xas, entry, end_index, PAGECACHE_TAG_TOWRITE) /* {page} */",
        _towrite_target,
        part,
        index,
    )
    with op.when(
        not_(Expr("entry == NULL", lambda w: _none(seen, w), seen.local)),
        f"/* {page} is marked TOWRITE */",
    ):
        op.lock(
            part.locks[index],
            label="dax_writeback_one(): if (unlikely(dax_is_locked(entry))) "
            "entry = get_unlocked_entry(xas, 0); ... dax_lock_entry(xas, entry)",
        )
        stale = op.compute(
            f"stale{at}",
            "if (!entry || dax_to_pfn(old_entry) != dax_to_pfn(entry) || "
            "!xas_get_mark(xas, PAGECACHE_TAG_TOWRITE)) goto put_unlocked; "
            "xas_clear_mark(xas, PAGECACHE_TAG_TOWRITE)",
            _recheck,
            part,
            index,
            seen,
        )
        with op.when(is_true(stale), "/* punched out, reallocated or done by another fsync */"):
            op.unlock(part.locks[index], "put_unlocked: put_unlocked_entry(xas, entry, WAKE_NEXT)")
            op.goto(skip)
        if not op.variant(NO_MKCLEAN):
            op.lock(
                part.mapping.i_mmap_rwsem,
                SHARED,
                "dax_writeback_one(): i_mmap_lock_read(mapping) /* write-protect every mapping */",
            )
            op.effect(
                "vma_interval_tree_foreach(vma, &mapping->i_mmap, index, end) "
                "pfn_mkclean_range(pfn, count, index, vma)",
                _mkclean,
                part,
                index,
            )
            op.unlock(part.mapping.i_mmap_rwsem, "i_mmap_unlock_read(mapping)")
        op.effect(
            "dax_flush(dax_dev, page_address(pfn_to_page(pfn)), count * PAGE_SIZE); "
            "xas_store(xas, entry); xas_clear_mark(xas, PAGECACHE_TAG_DIRTY)",
            _flush,
            part,
            index,
        )
        op.unlock(part.locks[index], "dax_wake_entry(xas, entry, WAKE_NEXT) /* unlocked */")
        op.label(skip)


def writeback_mapping_range(op: Op, part: Dax, at: str) -> None:
    """``ext4_dax_writepages()`` -> ``dax_writeback_mapping_range()`` of the
    whole file (WB_SYNC_ALL): ``tag_pages_for_writeback()``, then each
    entry marked TOWRITE written back."""
    op.effect(
        "dax_writeback_mapping_range(): tag_pages_for_writeback(mapping, xas.xa_index, "
        "end_index) /* DIRTY -> TOWRITE */",
        _tag_towrite,
        part,
    )
    for page in part.mapping.pages:
        writeback_one(op, part, page, f"{at}.{page.index}")


WRITEBACK_CITES = (
    Cite("fs/ext4/inode.c", "ext4_dax_writepages", "6.6"),
    Cite(
        "fs/dax.c",
        "dax_writeback_mapping_range",
        "6.6",
        leaves_out=_XA_LOCK,
        because=_XA_LOCK_BECAUSE,
    ),
    Cite(
        "mm/page-writeback.c",
        "tag_pages_for_writeback",
        "6.6",
        leaves_out=_XA_LOCK,
        because=_XA_LOCK_BECAUSE,
    ),
    Cite("fs/dax.c", "dax_writeback_one", "6.6", leaves_out=_XA_LOCK, because=_XA_LOCK_BECAUSE),
    Cite("mm/rmap.c", "pfn_mkclean_range", "6.6"),
)


@operation(
    models="fsync(2) of a DAX file: ext4_sync_file() -> ext4_dax_writepages() -> "
    "dax_writeback_mapping_range() (fs/ext4/fsync.c, fs/dax.c)",
    describe=lambda f, count: f"fsync({f}), {count} time(s) /* DAX */",
    cites=(
        Cite("fs/ext4/fsync.c", "ext4_sync_file", "6.6", method="file_operations.fsync"),
        *WRITEBACK_CITES,
    ),
)
def dax_fsync(op: Op, file: File, count: int) -> None:
    """``count`` fsync(2)s of the DAX file, one after the other: each
    marks the entries tagged DIRTY TOWRITE (``tag_pages_for_writeback()``)
    and flushes each entry marked TOWRITE."""
    fsync_file(op, file, count)


def fsync_file(op: Op, file: File, count: int, at: str = "") -> None:
    """The body of ``dax_fsync``."""
    mapping, part = _parts(op, file)
    inode = op.inode(file.path)
    cache = pagecache(op.world)
    for number in range(count):
        promised = op.register(f"fsync promises{at}.{number + 1}", render_promise)
        cache.syncs.append(Sync(op.thread.name, op.thread.pc, mapping, promised))
        op.call(
            "file_operations.fsync",
            lambda scratch, m, p=promised: scratch.__setitem__(p, promise(scratch, m)) or 0,
            mapping,
            label="vfs_fsync_range(): return file->f_op->fsync(file, start, end, datasync)",
            roles={"file": inode, "inode": inode},
        )
        op.enter(
            "address_space_operations.writepages",
            mapping,
            label="file_write_and_wait_range(): do_writepages(): ext4_dax_writepages(mapping, wbc)",
            roles={"mapping": mapping, "wbc": "WB_SYNC_ALL"},
        )
        writeback_mapping_range(op, part, f"{at}.{number + 1}")


@operation(
    models="a store through a DAX mapping, then fsync(2) (mm/memory.c, fs/dax.c)",
    describe=lambda f, index: f"p[page {index}] = x; fsync({f}) /* DAX */",
    cites=(*dax_store.cites, *dax_fsync.cites),
)
def dax_store_fsync(op: Op, file: File, index: int) -> None:
    """A program: a store to page ``index`` of the DAX mapping, then
    fsync(2) of the file, which must make the store durable."""
    access(op, file, index, True, ".store")
    fsync_file(op, file, 1, ".sync")


# --- truncate and hole punch ---------------------------------------------------------------


def _entry_present(part: Dax, page: Page) -> Expr:
    slot = part.entries[page.index]
    return Expr(f"xa_is_value(dax_entry({page}))", lambda _w: lambda s: s[slot] is not None)


def _unmap(scratch: Scratch, part: Dax, indices: tuple[int, ...]) -> None:
    for index in indices:
        scratch[part.ptes[index]] = None


def unmap_pages(op: Op, part: Dax, indices: Expr, label: str) -> None:
    """``unmap_mapping_pages()`` / ``unmap_mapping_range()`` of pages
    ``indices``: their ptes zapped under ``i_mmap_lock_read()``."""
    mapping = part.mapping
    op.lock(mapping.i_mmap_rwsem, SHARED, f"{label}: i_mmap_lock_read(mapping)")
    op.effect(
        "unmap_mapping_range_tree(): zap_page_range_single() /* the pages' ptes */",
        _unmap,
        part,
        indices,
    )
    op.unlock(mapping.i_mmap_rwsem, "i_mmap_unlock_read(mapping)")


def break_layouts(op: Op, part: Dax) -> None:
    """``ext4_break_layouts()`` -> ``dax_layout_busy_page()`` (invalidate_lock
    held exclusive): every pte of the file unmapped, then each entry
    looked at, waiting for it while a fault or writeback holds it locked
    (``get_unlocked_entry()``, then ``put_unlocked_entry()``).  No page is
    pinned here (no ``get_user_pages()``), so ``dax_busy_page()`` finds
    none and the wait for the refcount, which drops and retakes
    invalidate_lock (``ext4_wait_dax_page()``), never runs."""
    everything = tuple(page.index for page in part.mapping.pages)
    unmap_pages(
        op,
        part,
        Expr(str(everything), lambda _w: lambda _s: everything, local=True),
        "ext4_break_layouts(): dax_layout_busy_page(mapping): "
        "unmap_mapping_pages(mapping, start_idx, end_idx-start_idx+1, 0)",
    )
    for page in part.mapping.pages:
        with op.when(
            _entry_present(part, page), f"xas_for_each(&xas, entry, end_idx) /* {page} */"
        ):
            op.lock(
                part.locks[page.index],
                label="if (unlikely(dax_is_locked(entry))) entry = get_unlocked_entry(&xas, 0)",
            )
            op.unlock(
                part.locks[page.index],
                "if (entry) page = dax_busy_page(entry) /* refcount 1: not pinned */; "
                "put_unlocked_entry(&xas, entry, WAKE_NEXT)",
            )


def _delete(scratch: Scratch, part: Dax, index: int) -> None:
    """The entry goes, its DIRTY and TOWRITE marks with it: what was stored
    through it need not reach the device any more."""
    scratch[part.entries[index]] = None
    note_truncated(scratch, part.mapping.pages[index])


def delete_entries(op: Op, part: Dax, indices: Expr) -> None:
    """``truncate_inode_pages_range()`` on a DAX mapping:
    ``find_lock_entries()`` returns the DAX entries (value entries, not
    locked), ``truncate_folio_batch_exceptionals()`` calls
    ``dax_delete_mapping_entry()`` on each: ``__dax_invalidate_entry()``
    waits for the entry to be unlocked, stores NULL (the marks go with it)
    and wakes every waiter."""
    for page in part.mapping.pages:
        slot = part.entries[page.index]
        found = Expr(
            f"xa_is_value(dax_entry({page})) && {page.index} in {indices}",
            functools.partial(_found, indices, page.index, slot),
            indices.local,
        )
        with op.when(
            found,
            "truncate_inode_pages_range(): find_lock_entries(): "
            f"if (xa_is_value(folio)) /* {page}, in the range */",
        ):
            op.lock(
                part.locks[page.index],
                label="truncate_folio_batch_exceptionals(): "
                "dax_delete_mapping_entry(mapping, index): __dax_invalidate_entry(): "
                "entry = get_unlocked_entry(&xas, 0)",
            )
            op.effect(
                "dax_disassociate_entry(entry, mapping, trunc); xas_store(&xas, NULL)",
                _delete,
                part,
                page.index,
            )
            op.unlock(part.locks[page.index], "put_unlocked_entry(&xas, entry, WAKE_ALL)")


def _found(indices: Expr, index: int, slot: int, world: World) -> Eval:
    """Whether page ``index`` is in the range and has an entry."""
    get = indices.compile(world)
    return lambda state: state[slot] is not None and index in (get(state) or ())


def _free(scratch: Scratch, part: Dax, indices: tuple[int, ...]) -> tuple[int, ...]:
    """The filesystem frees the blocks of pages ``indices``: they become
    holes, the blocks go back to the free map, and what was stored there
    need not reach the device any more."""
    device = device_of(scratch.world)
    freed = []
    for index in indices:
        page = part.mapping.pages[index]
        block = scratch[page.block]
        if block is None:
            continue
        truncation(scratch.world).outside(scratch, part.mapping, page, "frees the block of")
        scratch[page.block] = None
        release(scratch.values, device, block)
        note_truncated(scratch, page)
        freed.append(block)
    return tuple(freed)


def _render_blocks(blocks: tuple[int, ...] | None) -> str:
    if not blocks:
        return "none"
    return ", ".join(f"block {b}" for b in blocks)


def _size_change(scratch: Scratch, part: Dax, size: int, beyond: int) -> str:
    """``shrink = (attr->ia_size < inode->i_size)``, or the same size, or an
    extension; register ``beyond`` gets the pages at or past the new size."""
    mapping = part.mapping
    old = scratch[mapping.i_size]
    scratch[beyond] = tuple(
        page.index
        for page in mapping.pages
        if decide(scratch, at_least(mul(page.index, PAGE_SIZE), size))
    )
    if decide(scratch, less(size, old)):
        return SHRINK
    if decide(scratch, equal(size, old)):
        return SAME
    return EXTEND


def _write_size(scratch: Scratch, mapping: Mapping, size: int) -> None:
    scratch[mapping.i_size] = size


@operation(
    models="ftruncate(2) of a DAX file: do_sys_ftruncate() -> do_truncate() -> "
    "notify_change() -> ext4_setattr() (fs/open.c, fs/ext4/inode.c, fs/dax.c)",
    describe=lambda f, pages: f"ftruncate({f}, {pages} page(s)) /* DAX */",
    cites=(
        *FTRUNCATE_CITES,
        Cite(
            "fs/ext4/inode.c",
            "ext4_setattr",
            "6.6",
            method="inode_operations.setattr",
            leaves_out=("down_write", "up_write"),
            because="ext4's i_data_sem around i_disksize and i_size, and the journal, are not "
            "modelled",
        ),
        *_BREAK_LAYOUTS_CITES,
        Cite("mm/truncate.c", "truncate_pagecache", "6.6"),
        *_DELETE_ENTRIES_CITES,
    ),
)
def dax_truncate(op: Op, file: File, pages: int) -> None:
    """ftruncate(2) of the DAX file to ``pages`` whole pages (a size inside a
    page would zero the block's tail with ``dax_truncate_page()``, left
    out)."""
    if not 0 <= pages <= file.pages:
        raise ModelError(f"dax_truncate({file}, {pages}): 0 to {file.pages} pages")
    mapping, part = _parts(op, file)
    inode = op.inode(file.path)
    size = pages * PAGE_SIZE
    truncation(op.world).may_drop(op.thread.name, size)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers, SHARED, "do_sys_ftruncate(): sb_start_write(inode->i_sb)", tag="sb-start-write"
    )
    op.lock(inode.i_rwsem, EXCL, "do_truncate(): inode_lock(dentry->d_inode)")
    op.enter(
        "inode_operations.setattr",
        label="notify_change(): error = inode->i_op->setattr(idmap, dentry, attr) "
        f"/* ATTR_SIZE, ia_size = {size} */",
        roles={"inode": inode},
    )
    beyond = op.register("beyond_eof", render_indices)
    change = fork_compute(
        op,
        "shrink",
        "ext4_setattr(): shrink = (attr->ia_size < inode->i_size)",
        _size_change,
        part,
        size,
        beyond,
    )
    shrink_waits_then_locks(op, mapping, change)
    break_layouts(op, part)
    op.effect(
        "if (attr->ia_size != inode->i_size) i_size_write(inode, attr->ia_size)",
        _write_size,
        mapping,
        size,
    )
    pages_beyond = slot_value(beyond, "beyond_eof", local=True)
    unmap_pages(
        op,
        part,
        pages_beyond,
        "truncate_pagecache(inode, inode->i_size): unmap_mapping_range(mapping, holebegin, 0, 1)",
    )
    delete_entries(op, part, pages_beyond)
    unmap_pages(
        op,
        part,
        pages_beyond,
        "truncate_pagecache(): unmap_mapping_range(mapping, holebegin, 0, 1)",
    )
    with op.when(
        not_(equals(change, EXTEND)),
        "if (attr->ia_size <= oldsize) ext4_truncate(inode)",
    ):
        op.compute(
            "freed",
            "ext4_truncate(): ext4_ext_remove_space(inode, last_block, EXT_MAX_BLOCKS - 1)",
            _free,
            part,
            pages_beyond,
            render=_render_blocks,
        )
    op.unlock(
        mapping.invalidate_lock,
        "out_mmap_sem: filemap_invalidate_unlock(inode->i_mapping)",
        tag="invalidate-lock",
    )
    op.unlock(inode.i_rwsem, "inode_unlock(dentry->d_inode)")
    op.unlock(writers, "sb_end_write(inode->i_sb)", tag="sb-start-write")


def _dirty_tagged(part: Dax) -> Expr:
    def build(_world: World) -> Eval:
        return lambda state: any(
            state[slot] is not None and state[slot][1] for slot in part.entries
        )

    return Expr(f"mapping_tagged({part.mapping.path}, PAGECACHE_TAG_DIRTY)", build)


def _punch_range(scratch: Scratch, mapping: Mapping, index: int) -> tuple[int, ...]:
    """``ext4_punch_hole()`` of page ``index``: nothing when it starts at or
    past i_size (``offset >= inode->i_size``), else the page."""
    if decide(scratch, at_least(mul(index, PAGE_SIZE), scratch[mapping.i_size])):
        return ()
    return (index,)


@operation(
    models="fallocate(2) FALLOC_FL_PUNCH_HOLE of a DAX file: vfs_fallocate() -> "
    "ext4_fallocate() -> ext4_punch_hole() (fs/open.c, fs/ext4/extents.c, fs/ext4/inode.c, "
    "fs/dax.c)",
    describe=lambda f, index: f"fallocate({f}, PUNCH_HOLE, page {index}) /* DAX */",
    cites=(
        *PUNCH_HOLE_CITES,
        Cite("mm/filemap.c", "filemap_write_and_wait_range", "6.6"),
        *WRITEBACK_CITES,
        *_BREAK_LAYOUTS_CITES,
        Cite("mm/truncate.c", "truncate_pagecache_range", "6.6"),
        *_DELETE_ENTRIES_CITES,
    ),
)
def dax_punch_hole(op: Op, file: File, index: int) -> None:
    """fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE over page
    ``index`` of the DAX file (whole pages: ``ext4_zero_partial_blocks()``
    of a partial block is left out)."""
    if not 0 <= index < file.pages:
        raise ModelError(f"dax_punch_hole({file}, {index}): a page of 0 to {file.pages - 1}")
    mapping, part = _parts(op, file)
    truncation(op.world).may_drop(op.thread.name, index * PAGE_SIZE, (index + 1) * PAGE_SIZE)
    inode = op.inode(file.path)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(writers, SHARED, "vfs_fallocate(): file_start_write(file)", tag="sb-start-write")
    op.enter(
        "file_operations.fallocate",
        label="ret = file->f_op->fallocate(file, mode, offset, len)",
        roles={"file": inode, "inode": inode},
    )
    with op.when(
        _dirty_tagged(part),
        "ext4_punch_hole(): if (mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)) "
        "filemap_write_and_wait_range(mapping, offset, offset+length-1) "
        "/* do_writepages(): ext4_dax_writepages(); no folio to wait on */",
    ):
        op.enter(
            "address_space_operations.writepages",
            mapping,
            label="filemap_fdatawrite_wbc(): do_writepages(): ext4_dax_writepages(mapping, wbc)",
            roles={"mapping": mapping, "wbc": "WB_SYNC_ALL"},
        )
        writeback_mapping_range(op, part, ".punch")
    op.lock(inode.i_rwsem, EXCL, "ext4_punch_hole(): inode_lock(inode)")
    hole = fork_compute(
        op,
        "punched",
        "if (offset >= inode->i_size) goto out_mutex /* no need to punch hole beyond i_size */",
        _punch_range,
        mapping,
        index,
        render=render_indices,
    )
    with op.when(
        Expr("punched == ()", lambda w: _nothing(hole, w), hole.local),
        "if (offset >= inode->i_size)",
    ):
        op.goto("out_mutex")
    inode_dio_wait(op, mapping, "/* wait all existing dio workers, newcomers block on i_rwsem */")
    op.lock(
        mapping.invalidate_lock,
        EXCL,
        "filemap_invalidate_lock(mapping) /* prevent page faults from reinstantiating pages */",
        tag="invalidate-lock",
    )
    break_layouts(op, part)
    unmap_pages(
        op,
        part,
        hole,
        "truncate_pagecache_range(inode, first_block_offset, last_block_offset): "
        "unmap_mapping_range(mapping, unmap_start, 1+unmap_end-unmap_start, 0)",
    )
    delete_entries(op, part, hole)
    op.compute(
        "punch_freed",
        "ext4_ext_remove_space(inode, first_block, stop_block - 1)",
        _free,
        part,
        hole,
        render=_render_blocks,
    )
    op.unlock(
        mapping.invalidate_lock,
        "out_dio: filemap_invalidate_unlock(mapping)",
        tag="invalidate-lock",
    )
    op.label("out_mutex")
    op.unlock(inode.i_rwsem, "out_mutex: inode_unlock(inode)")
    op.unlock(writers, "file_end_write(file)", tag="sb-start-write")


def _nothing(register: Expr, world: World) -> Eval:
    get = register.compile(world)
    return lambda state: not get(state)
