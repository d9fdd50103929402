"""Mapping scenarios (``mmap/<name>``): VMAs created, split, copied,
write-protected and removed while the task loads and stores through them,
and the protocol variants they catch."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, scenario
from mc.kernel import truncate_properties as _truncate_properties  # noqa: F401  (registers)
from mc.kernel.pagecache import File
from mc.kernel.truncate_properties import TRUNCATE_PROPERTIES
from mc.kernel.vma import VM_PFNMAP, VM_WRITE
from mc.models.mmap import (
    MappedFile,
    fork_exit,
    madvise_dontneed,
    madvise_remove,
    mmap_file,
    mprotect_readonly,
    munmap_range,
    ptrace_peek,
    vma_load,
    vma_store,
)
from mc.models.writeback import io_completion

MMAP_PROPERTIES = (*BASE_PROPERTIES, "vma-open-close", "ptes-within-vmas")

THREE = MappedFile(File("/f", pages=3, cached=(0, 1, 2)), vmas=((0, 3, VM_WRITE),))
TWO = MappedFile(File("/f", pages=2, cached=(0, 1)), vmas=((0, 2, VM_WRITE),))
UNMAPPED = MappedFile(File("/f", pages=2, cached=(0, 1)))
THP_AREA = MappedFile(File("/f", pages=2, cached=(0, 1)), thp_area=True)
TWO_OF_THREE = MappedFile(File("/f", pages=3, cached=(0, 1, 2)), vmas=((0, 2, VM_WRITE),))
WITH_DEVICE = MappedFile(
    File("/f", pages=2, cached=(0, 1)), vmas=((0, 2, VM_WRITE), (8, 9, VM_PFNMAP))
)

scenario(
    "mmap/munmap-middle-vs-store",
    "munmap of the middle page of a three-page VMA (two splits, each new VMA ->opened, the "
    "middle ->closed) while the task stores to that page",
    tree=["/f"],
    threads=[munmap_range(THREE, 1, 2), vma_store(THREE, 1), io_completion(THREE.file)],
    properties=MMAP_PROPERTIES,
)

scenario(
    "mmap/fork-vs-munmap",
    "fork (every VMA copied into the child and ->opened, the child exits: ->close) while the "
    "parent unmaps its VMA: two mms and their VMAs of one file",
    tree=["/f"],
    threads=[fork_exit(TWO), munmap_range(TWO, 0, 2)],
    properties=MMAP_PROPERTIES,
)

scenario(
    "mmap/mmap-vs-store-dontneed",
    "mmap(2) of a file (->mmap, the VMA linked into i_mmap) while the task stores to it "
    "(SIGSEGV before the VMA exists) and madvise(MADV_DONTNEED) zaps the ptes",
    tree=["/f"],
    threads=[
        mmap_file(UNMAPPED, 0, 2, True),
        vma_store(UNMAPPED, 0),
        madvise_dontneed(UNMAPPED, 0, 2),
        io_completion(UNMAPPED.file),
    ],
    properties=MMAP_PROPERTIES,
)

scenario(
    "mmap/store-vs-mprotect",
    "a store through a writable VMA while mprotect(PROT_READ) write-protects it",
    tree=["/f"],
    threads=[vma_store(TWO, 0), mprotect_readonly(TWO, 0, 2), io_completion(TWO.file)],
    properties=MMAP_PROPERTIES,
)

scenario(
    "mmap/remove-vs-load",
    "madvise(MADV_REMOVE) of the first page (mmap_lock dropped around the filesystem's hole "
    "punch) while the task loads from it",
    tree=["/f"],
    threads=[madvise_remove(TWO, 0, 1), vma_load(TWO, 0), io_completion(TWO.file)],
    properties=(*MMAP_PROPERTIES, *TRUNCATE_PROPERTIES),
)

scenario(
    "mmap/peek-vs-munmap",
    "a debugger reads a VM_PFNMAP mapping of /dev/mem (access_process_vm() -> ->access) "
    "while the task unmaps it; the task's file mapping stays",
    tree=["/f"],
    threads=[ptrace_peek(WITH_DEVICE, 8), munmap_range(WITH_DEVICE, 8, 9)],
    properties=MMAP_PROPERTIES,
)

scenario(
    "mmap/thp-area-vs-store",
    "mmap(2) of a file whose filesystem places the mapping itself (->get_unmapped_area under "
    "mmap_lock held for writing, as ext4's thp_get_unmapped_area()) while the task stores to "
    "the pages it maps",
    tree=["/f"],
    threads=[mmap_file(THP_AREA, 0, 2, True), vma_store(THP_AREA, 1), io_completion(THP_AREA.file)],
    properties=MMAP_PROPERTIES,
)

scenario(
    "mmap/load-vs-munmap",
    "a load faults under the VMA lock alone (lock_vma_under_rcu(), the fault-around mapping "
    "the cached page, no mmap_lock) while munmap write-locks the VMA, detaches it, downgrades "
    "mmap_lock and zaps its ptes",
    tree=["/f"],
    threads=[vma_load(TWO, 0), munmap_range(TWO, 0, 2)],
    properties=MMAP_PROPERTIES,
)

scenario(
    "mmap/mmap-vs-split",
    "mmap(2) of a file's last page (the new VMA write-locked, then linked under i_mmap_rwsem) "
    "while munmap splits the VMA below it (both VMAs write-locked, then i_mmap_rwsem) and a "
    "load faults under the VMA lock: the VMA-lock writers' order, mmap_lock -> vm_lock -> "
    "i_mmap_rwsem",
    tree=["/f"],
    threads=[
        mmap_file(TWO_OF_THREE, 2, 3, True),
        munmap_range(TWO_OF_THREE, 1, 2),
        vma_load(TWO_OF_THREE, 0),
    ],
    properties=MMAP_PROPERTIES,
)
