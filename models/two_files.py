"""Stores through the mappings of two files (Linux 6.6): the process of a
scenario maps each file in a VMA of its own, one ``mmap_lock`` over both,
so a fault on one file and a copy that faults on the other can be ordered
against each other (``mc.kernel.mm``: one ``Mm`` per mapped file)."""

from __future__ import annotations

from mc.dsl.operation import Op, operation
from mc.kernel.pagecache import File
from mc.kernel.pathcond import describe
from mc.models.truncate import Arg, access, mmap_store


@operation(
    models="stores through the shared mappings of two files, one after the other: "
    "handle_mm_fault() (mm/memory.c)",
    describe=lambda f, pos, g, pos2: (
        f"p[{describe(pos)}] = x /* mmap({f}) */; q[{describe(pos2)}] = y /* mmap({g}) */"
    ),
    cites=mmap_store.cites,
)
def mmap_store_two_files(op: Op, first: File, pos: Arg, second: File, second_pos: Arg) -> None:
    """``p[pos] = x`` on a MAP_SHARED mapping of ``first``, then
    ``q[second_pos] = y`` on a MAP_SHARED mapping of ``second``: each store
    may fault (``->fault``, ``->page_mkwrite``) on its own file's folio."""
    access(op, first, pos, write=True, at=".1")
    access(op, second, second_pos, write=True, at=".2")
