"""Copies between a file's page cache and user memory that is itself a
shared mapping of the file (Linux 6.6): the copies run through the mm
model, so a copy that faults takes ``mmap_lock`` and the folio locks of
``mc.models.fault``, and the orders of the header comment of mm/filemap.c
(``i_rwsem`` before ``mmap_lock`` in write(2)'s prefault, ``mmap_lock``
before the folio lock in a fault) are steps a trace shows.

- ``write_from_mapping``: write(2) of a page of the file from a buffer
  mapped from the same file.  ``generic_perform_write()`` first faults the
  source in (``fault_in_iov_iter_readable()``: a load through the mapping,
  faulting as the CPU would) and copies with
  ``copy_folio_from_iter_atomic()`` with page faults disabled: when the
  source pte went away meanwhile (munmap, reclaim) the copy comes up
  short, ``->write_end`` commits nothing, and the loop faults it in again.
  This is what "Bring in the user page that we will copy from _first_.
  Otherwise there's a nasty deadlock on copying from the same page as we're
  writing to, without it being marked up-to-date" in
  ``generic_perform_write()`` is about; variant ``copy-faults-under-folio-lock``
  is the protocol before it (a copy that takes the fault, the destination
  folio locked).
- ``write_from_other_mapping``: the same from a buffer mapped from
  another file, so that the copy takes the other file's folio locks under
  this file's i_rwsem and folio lock.
- ``read_to_mapping``: read(2) of a page of the file into a buffer mapped
  from the file: ``filemap_read()`` copies with ``copy_folio_to_iter()``,
  which may fault (a store through the mapping: a write fault with
  ``->page_mkwrite``) while it holds a reference but no lock.

The labels use the folio names of the later folio conversion of
``generic_perform_write()`` (``copy_folio_from_iter_atomic(folio, offset,
bytes, i)``); 6.6 makes the same call on the page,
``copy_page_from_iter_atomic(page, offset, bytes, i)``.

The model leaves out partial copies (a copy is the whole page or
nothing) and the data a load reads (the copy moves the write's version).
"""

from __future__ import annotations

from mc.dsl.folio import folio_ref, put_folio
from mc.dsl.operation import Cite, Op, operation
from mc.kernel import errno as E
from mc.kernel.expr import not_
from mc.kernel.mm import VM_FAULT_SIGBUS, Mm
from mc.kernel.pagecache import PAGE_SIZE, File, Page, pagecache, store_data
from mc.kernel.pathcond import is_true
from mc.kernel.world import Scratch
from mc.models.fault import access_page, vm_fault_is
from mc.models.truncate import access, file_parts, mapped_whole, mmap_store
from mc.models.writeback import filemap_get_pages, perform_write, read, write

COPY_FAULTS_UNDER_FOLIO_LOCK = "copy-faults-under-folio-lock"


def _copy_atomic(scratch: Scratch, mm: Mm, source: Page, page: Page, version: int) -> bool:
    """``copy_folio_from_iter_atomic()`` with page faults disabled: the whole
    page when the source's pte is present, else nothing."""
    if scratch[mm.ptes[source.index]] is None:
        return False
    store_data(scratch, page, version)
    return True


def _write_from(op: Op, file: File, index: int, source_file: File, source: int) -> None:
    mapping, _, inode = file_parts(op, file)
    _, mm, _ = mapped_whole(op, source_file)
    page = mapping.page(index)
    src = mm.mapping.pages[source // PAGE_SIZE]
    offset = source % PAGE_SIZE
    version = pagecache(op.world).add_write(op.thread.name, op.thread.pc, page)
    faulting = op.variant(COPY_FAULTS_UNDER_FOLIO_LOCK)

    def prefault(op: Op) -> None:
        access_page(op, mm, src, offset, write=False, version=0, at=".prefault")
        op.fail_if(
            vm_fault_is(op.reg("vm_fault.prefault"), VM_FAULT_SIGBUS),
            E.EFAULT,
            "out",
            "if (unlikely(fault_in_iov_iter_readable(i, bytes) == bytes)) { status = -EFAULT; "
            "break; } /* the source is past EOF: no signal, the fault was the kernel's */",
        )

    def copy(op: Op, page: Page) -> None:
        if faulting:
            access_page(op, mm, src, offset, write=False, version=0, at=".copy")
            op.effect(
                "copied = __copy_from_user(kaddr, buf, bytes) /* faults in the source */",
                store_data,
                page,
                version,
            )
            return
        copied = op.compute(
            "copied",
            "pagefault_disable(); copied = copy_folio_from_iter_atomic(folio, offset, bytes, i)",
            _copy_atomic,
            mm,
            src,
            page,
            version,
        )
        with op.when(not_(is_true(copied)), "if (unlikely(copied == 0)) /* the source faulted */"):
            op.goto("short_copy")

    perform_write(
        op,
        mapping,
        page,
        inode,
        version,
        prefault=None if faulting else prefault,
        copy=copy,
    )


@operation(
    models="generic_file_write_iter() -> generic_perform_write() from byte source of the file's "
    "own mapping: fault_in_iov_iter_readable(), copy_folio_from_iter_atomic() (mm/filemap.c, "
    "lib/iov_iter.c)",
    describe=lambda f, i, src: f"write({f}, page {i}) from mmap({f}) at {src}",
    cites=(*write.cites, Cite("lib/iov_iter.c", "fault_in_iov_iter_readable", "6.6")),
)
def write_from_mapping(op: Op, file: File, index: int, source: int) -> None:
    """write(2) of page ``index`` of ``file``, whole, from the process's
    shared mapping of ``file`` at byte ``source``."""
    _write_from(op, file, index, file, source)


@operation(
    models="generic_file_write_iter() -> generic_perform_write() from byte source of a mapping "
    "of another file: fault_in_iov_iter_readable(), copy_folio_from_iter_atomic() "
    "(mm/filemap.c, lib/iov_iter.c)",
    describe=lambda f, i, g, src: f"write({f}, page {i}) from mmap({g}) at {src}",
    cites=write_from_mapping.cites,
)
def write_from_other_mapping(
    op: Op, file: File, index: int, source_file: File, source: int
) -> None:
    """write(2) of page ``index`` of ``file``, whole, from the process's
    shared mapping of another file, ``source_file``, at byte ``source``: the
    prefault and the copy fault on ``source_file``'s folios, under
    ``file``'s i_rwsem (and, under variant ``copy-faults-under-folio-lock``,
    ``file``'s folio lock)."""
    _write_from(op, file, index, source_file, source)


@operation(
    models="filemap_read() -> copy_folio_to_iter() (mm/filemap.c, lib/iov_iter.c)",
    describe=lambda f, i, dest: f"read({f}, page {i}) into mmap({f}) at {dest}",
    cites=(*read.cites, *mmap_store.cites),
)
def read_to_mapping(op: Op, file: File, index: int, dest: int) -> None:
    """read(2) of page ``index`` of ``file`` into the process's shared
    mapping of ``file`` at byte ``dest``: the folio is found or read in
    (``filemap_get_pages()``), then copied to user memory with a reference
    but no lock held; the copy is a store through the mapping, which may
    fault."""
    mapping, _, _ = file_parts(op, file)
    page = mapping.page(index)
    filemap_get_pages(op, mapping, page, "")
    access(op, file, dest, write=True, at=".copy_to_user")
    put_folio(op, folio_ref(op, page))
