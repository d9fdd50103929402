"""DAX: a file on persistent memory mapped without the page cache (Linux
6.6: fs/dax.c ``dax_iomap_fault()``, ``dax_iomap_pmd_fault()``,
``dax_fault_check_fallback()``, ``dax_iomap_pte_fault()``,
``grab_mapping_entry()``, ``dax_fault_iter()``, ``dax_load_hole()``,
``dax_insert_entry()``, ``dax_writeback_mapping_range()``,
``dax_writeback_one()``; fs/ext4/file.c ``ext4_dax_huge_fault()``,
``ext4_dax_fault()``, ``ext4_dax_vm_ops`` = ``.fault``, ``.huge_fault``,
``.page_mkwrite`` and ``.pfn_mkwrite``; fs/ext4/inode.c
``ext4_iomap_begin()`` allocating with ``EXT4_GET_BLOCKS_CREATE_ZERO``;
mm/memory.c ``__handle_mm_fault()``, ``create_huge_pmd()``,
``wp_pfn_shared()``, ``insert_pfn()``):

- ``dax_load`` / ``dax_store``: a load or store at a page of the task's
  shared mapping (one PMD, 2 MiB, of which the file fills the first pages):
  the CPU goes through the pte when it allows the access; otherwise a fault
  under mmap_lock shared: the first one (no pte table yet) tries
  ``->huge_fault(PMD_ORDER)``, which falls back (the file ends before the
  PMD does); then ``->fault`` (``ext4_dax_fault()``) for a missing pte, or
  ``->pfn_mkwrite`` for a store to a read-only one; both run
  ``dax_iomap_pte_fault()`` under invalidate_lock shared: the entry locked
  (``grab_mapping_entry()``), the block mapped (a store allocates and zeroes
  one for a hole; a load of a hole maps the zero page), the entry stored and
  the pte installed or made writable, the entry unlocked;
- ``dax_fsync``: fsync(2) -> ``ext4_sync_file()`` ->
  ``ext4_dax_writepages()`` -> ``dax_writeback_mapping_range()``: each
  entry tagged DIRTY locked, its ptes write-protected (under
  ``i_mmap_lock_read()``, ``pfn_mkclean_range()`` on each VMA), its block flushed from the CPU cache
  (``dax_flush()``), its DIRTY mark cleared.

Read: fs/dax.c as a 5.19-to-6.x copy in the search index shows it and
the 5.19 patch that removed ``dax_entry_mkclean()``: ``dax_writeback_one()``
itself takes ``i_mmap_lock_read()`` and calls ``pfn_mkclean_range()`` on
each VMA of the index (the model cited the removed function: fixed);
``dax_insert_entry()`` replacing the zero page with a block calls
``unmap_mapping_pages()``, which takes ``i_mmap_lock_read()`` (the model
cleared the pte without it: fixed); ``dax_iomap_pte_fault()`` checks
i_size, locks the entry (``grab_mapping_entry()``), iterates the iomap
(``dax_fault_iter()``: ``dax_load_hole()`` for a read of a hole, else
``dax_iomap_direct_access()``, ``dax_insert_entry()``,
``vmf_insert_mixed[_mkwrite]()``) and unlocks the entry, as modelled.
fs/ext4/file.c ``ext4_dax_huge_fault()`` (6.6): a write fault to a shared
mapping takes ``sb_start_pagefault()`` before the invalidate_lock (the
model had none: fixed) and starts a journal handle.

Left out: the journal handle and ``file_update_time()`` of a write fault,
ext4's ``s_writepages_rwsem`` in ``ext4_dax_writepages()``, the i_pages
xa_lock under which the entry is looked up, locked and marked (the model's
entry lock is the DAX_LOCKED bit), ``__mark_inode_dirty()``, PMD mappings
themselves (every huge fault here falls back), DAX truncate
(``dax_layout_busy_page()``), MAP_SYNC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mc.dsl import SHARED, Cite, Op, flag_variant, operation
from mc.dsl.symbolic_steps import fork_compute
from mc.kernel.dax import EMPTY, NOT_MODELLED_ON_DAX, PG_PMD_COLOUR, ZERO_PAGE, Dax, dax_of
from mc.kernel.device import ZEROES, device_of
from mc.kernel.expr import Eval, Expr
from mc.kernel.mm import VM_FAULT_NOPAGE, VM_FAULT_SIGBUS, render_vm_fault, vm_fault
from mc.kernel.pagecache import (
    PAGE_SIZE,
    File,
    Mapping,
    Page,
    Sync,
    pagecache,
    promise,
    render_promise,
)
from mc.kernel.pagedata import render_versions
from mc.kernel.pathcond import add, at_least, decide, div, is_true, mul
from mc.kernel.superblock import SB_FREEZE_PAGEFAULT, sb_writers
from mc.kernel.truncate_properties import truncation
from mc.kernel.world import ModelError, Scratch, World
from mc.models.fault import vm_fault_is

NO_ENTRY_LOCK = "dax-no-entry-lock"
NO_MKCLEAN = "dax-writeback-no-mkclean"

flag_variant(
    NO_ENTRY_LOCK,
    "dax_iomap_pte_fault() neither waits for nor takes the DAX entry lock: a read fault on a "
    "hole replaces a write fault's block entry with the zero page's",
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
    if any(ino == mapping.ino for ino, _index in truncation(op.world).stale):
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
        scratch[slot] = (EMPTY, False)
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


def _beyond_eof(scratch: Scratch, mapping: Mapping, page: Page) -> bool:
    return decide(scratch, at_least(mul(page.index, PAGE_SIZE), scratch[mapping.i_size]))


def _iomap_begin(scratch: Scratch, page: Page, write: bool) -> Any:
    """``ext4_iomap_begin()``: the block, or (a write) a new block zeroed by
    ``ext4_map_blocks(EXT4_GET_BLOCKS_CREATE_ZERO)``; None: a hole."""
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
    return block


def _insert(scratch: Scratch, part: Dax, index: int, seen: int, target: int, write: bool) -> int:
    """``dax_insert_entry()`` then ``insert_pfn()`` (the zero page's pte
    is gone already: ``unmap_zero_page()``); the
    entry is stored when the one seen was empty or the zero page (the DIRTY
    mark stays on the index); the pte is installed if none, made writable
    for a store to the same pfn.  Returns VM_FAULT_NOPAGE."""
    slot, pte_slot = part.entries[index], part.ptes[index]
    entry = scratch[slot]
    dirty = entry[1] if entry is not None else False
    if seen in (EMPTY, ZERO_PAGE):
        scratch[slot] = (target, dirty or write)
    elif write and entry is not None:
        scratch[slot] = (entry[0], True)
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


def dax_pte_fault(op: Op, part: Dax, page: Page, write: bool, result: str, at: str) -> None:
    """``ext4_dax_huge_fault(vmf, 0)`` -> ``dax_iomap_fault()`` ->
    ``dax_iomap_pte_fault()``."""
    mapping = part.mapping
    _start_fault(op, write)
    op.lock(
        mapping.invalidate_lock,
        SHARED,
        "ext4_dax_huge_fault(): filemap_invalidate_lock_shared(mapping)",
        tag="invalidate-lock",
    )
    beyond = fork_compute(
        op,
        f"beyond_eof{at}",
        "dax_iomap_pte_fault(): if (pos >= i_size_read(iter.inode)) { ret = VM_FAULT_SIGBUS; "
        "goto out; }",
        _beyond_eof,
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
    with op.when(
        Expr(
            "dax_is_zero_entry(entry)",
            lambda w: _is_zero(seen, w),
            seen.local,
        ),
        "if (shared || (dax_is_zero_entry(entry) && !(flags & DAX_ZERO_PAGE))) "
        "/* we are replacing a zero page with block mapping */",
    ):
        unmap_zero_page(op, part, page)
    op.call(
        "block_device_operations.direct_access",
        lambda _scratch: 0,
        label="dax_iomap_direct_access(iomap, pos, size, &kaddr, &pfn): "
        "dax_direct_access(dax_dev, pgoff, ...) -> dax_dev->ops->direct_access()",
        roles={},
        sleeps=False,
    )
    op.effect(
        "*entry = dax_insert_entry(xas, vmf, iter, *entry, pfn, 0); "
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
    op.unlock(
        mapping.invalidate_lock,
        "filemap_invalidate_unlock_shared(mapping)",
        tag="invalidate-lock",
    )
    _end_fault(op, write)


def _none(register: Expr, world: World) -> Eval:
    get = register.compile(world)
    return lambda state: get(state) is None


def huge_fault(op: Op, part: Dax, write: bool, at: str) -> None:
    """``create_huge_pmd()`` -> ``->huge_fault(vmf, PMD_ORDER)`` =
    ``ext4_dax_huge_fault()`` -> ``dax_iomap_pmd_fault()``:
    ``dax_fault_check_fallback()`` sends a PMD past EOF
    (``(xas.xa_index | PG_PMD_COLOUR) >= max_pgoff``) back to ptes."""
    op.enter(
        "vm_operations_struct.huge_fault",
        label="create_huge_pmd(): return vmf->vma->vm_ops->huge_fault(vmf, PMD_ORDER)",
        roles={"mm": part},
    )
    mapping = part.mapping
    _start_fault(op, write)
    op.lock(
        mapping.invalidate_lock,
        SHARED,
        "ext4_dax_huge_fault(): filemap_invalidate_lock_shared(mapping)",
        tag="invalidate-lock",
    )
    fork_compute(
        op,
        f"pmd_fallback{at}",
        "dax_iomap_pmd_fault(): max_pgoff = DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE); "
        "if (dax_fault_check_fallback(vmf, &xas, max_pgoff)) goto fallback "
        "/* (xas.xa_index | PG_PMD_COLOUR) >= max_pgoff */",
        lambda scratch: decide(
            scratch,
            at_least(PG_PMD_COLOUR, div(add(scratch[mapping.i_size], PAGE_SIZE - 1), PAGE_SIZE)),
        ),
    )
    op.unlock(
        mapping.invalidate_lock,
        "fallback: filemap_invalidate_unlock_shared(mapping); return VM_FAULT_FALLBACK",
        tag="invalidate-lock",
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
    with op.when(pmd_none, "if (pmd_none(*vmf.pmd) && thp_vma_allowable_order(..., PMD_ORDER))"):
        huge_fault(op, part, write, at)
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

_FAULT_CITES = (
    Cite("arch/x86/mm/fault.c", "do_user_addr_fault", "6.6"),
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


def _tagged(values: Sequence[Any], part: Dax, index: int) -> bool:
    entry = values[part.entries[index]]
    return entry is not None and bool(entry[1])


def _towrite(part: Dax, page: Page) -> Expr:
    index = page.index
    return Expr(f"TOWRITE({page})", lambda _w: lambda state: _tagged(state, part, index))


def _mkclean(scratch: Scratch, part: Dax, index: int) -> None:
    pte = scratch[part.ptes[index]]
    if pte is not None:
        scratch[part.ptes[index]] = (pte[0], False)


def _flush(scratch: Scratch, part: Dax, index: int) -> None:
    """``dax_flush()`` of the entry's block, then its DIRTY mark cleared."""
    entry = scratch[part.entries[index]]
    line = scratch[part.cache[index]]
    if line is not None and line[0] == entry[0]:
        scratch[device_of(scratch.world).blocks[line[0]]] = line[1]
        scratch[part.cache[index]] = None
    scratch[part.entries[index]] = (entry[0], False)


def writeback_one(op: Op, part: Dax, page: Page, at: str) -> None:
    """``dax_writeback_one()``: the entry locked, ptes write-protected,
    the block flushed, the DIRTY mark cleared, the entry unlocked."""
    index = page.index
    op.lock(
        part.locks[index],
        label="dax_writeback_one(): entry = get_unlocked_entry(xas, 0); "
        "dax_lock_entry(xas, entry); xas_clear_mark(xas, PAGECACHE_TAG_TOWRITE)",
    )
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


@operation(
    models="fsync(2) of a DAX file: ext4_sync_file() -> ext4_dax_writepages() -> "
    "dax_writeback_mapping_range() (fs/ext4/fsync.c, fs/dax.c)",
    describe=lambda f, count: f"fsync({f}), {count} time(s) /* DAX */",
    cites=(
        Cite("fs/ext4/fsync.c", "ext4_sync_file", "6.6", method="file_operations.fsync"),
        Cite("fs/ext4/inode.c", "ext4_dax_writepages", "6.6"),
        Cite(
            "fs/dax.c",
            "dax_writeback_mapping_range",
            "6.6",
            leaves_out=_XA_LOCK,
            because=_XA_LOCK_BECAUSE,
        ),
        Cite("fs/dax.c", "dax_writeback_one", "6.6", leaves_out=_XA_LOCK, because=_XA_LOCK_BECAUSE),
        Cite("mm/rmap.c", "pfn_mkclean_range", "6.6"),
    ),
)
def dax_fsync(op: Op, file: File, count: int) -> None:
    """``count`` fsync(2)s of the DAX file, one after the other: each
    flushes every entry tagged DIRTY (``tag_pages_for_writeback()`` turns
    the marks into TOWRITE ones first)."""
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
        for page in mapping.pages:
            with op.when(
                _towrite(part, page),
                f"xas_for_each_marked(&xas, entry, end_index, PAGECACHE_TAG_TOWRITE) /* {page} */",
            ):
                writeback_one(op, part, page, f"{at}.{number + 1}.{page.index}")


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
