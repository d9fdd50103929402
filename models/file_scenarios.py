"""Scenarios of the file operations from their system calls (``file/<name>``),
the protocol variants they catch and ``no-lost-f-pos``, what ``f_pos_lock``
protects."""

from __future__ import annotations

from collections.abc import Callable

from mc.dsl import Invocation, Program, flag_variant, invariant, variant
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import BASE_PROPERTIES, scenario
from mc.kernel.pagecache import File
from mc.kernel.pagecache_properties import PAGE_CACHE_READS, PAGECACHE_PROPERTIES
from mc.kernel.truncate_properties import NO_STALE_DATA
from mc.kernel.world import reported_error
from mc.models.dirops import create, unlink
from mc.models.file import (
    COPIES,
    COPY_COHERENT,
    F_LOCK_ONLY_WITH_F_POS_LOCK,
    F_LOCK_ONLY_WITHOUT_F_POS_LOCK,
    FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE,
    FDGET_POS_TAG,
    FILES,
    NO_FDGET_POS,
    NO_LOST_F_POS,
    READDIR_UNLOCKED,
    REMAP_ARGUMENT_ORDER,
    REMAP_SKIPS_DEST_INVALIDATE,
    REMAP_SKIPS_WRITEBACK,
    SEEK_CUR,
    SEEK_CUR_WITHOUT_F_LOCK,
    SPLICE_WRITE_INODE_FIRST,
    OpenFile,
    Pipe,
    copy_coherent_check,
    copy_file_range,
    copy_file_range_splice,
    fadvise,
    fallocate,
    file_locks,
    files,
    getdents,
    ioctl,
    lseek,
    open_setfl_close,
    poll,
    pread_pwrite,
    read_fd,
    readv_writev,
    remap,
    show_fdinfo,
    splice_read,
    splice_write,
    write_fd,
)
from mc.models.writeback import io_completion, write


@invariant(
    NO_LOST_F_POS,
    "read(2), write(2) and lseek(2) SEEK_CUR through one struct file with FMODE_ATOMIC_POS "
    "(a regular file or a directory) each start where the previous one left f_pos: the file "
    "position is the sum of the moves they made (no update lost to a call that read the old "
    "position); on any file, no lseek(2) SEEK_CUR sets f_pos from a position read before "
    "another SEEK_CUR moved it (f_lock, up to 6.14: from 6.15 generic_file_llseek_size() "
    "takes f_lock for SEEK_CUR only where file_seek_cur_needs_f_lock(), a file with "
    "FMODE_ATOMIC_POS or a directory, so a character device's SEEK_CURs race as under "
    "seek-cur-without-f-lock).  Without FMODE_ATOMIC_POS the kernel promises no "
    "more: concurrent read(2)s and write(2)s behave like SEEK_SET",
    reads=["f_pos", "f_pos moved", "error"],
    needs=(FILES, "an open file (a struct file of models/file.py)"),
)
def no_lost_f_pos(model: KernelModel) -> Callable[[tuple[object, ...]], str | None]:
    filps = tuple(filp for filp in files(model.world).filps.values() if filp.atomic_pos)

    def check(state: tuple[object, ...]) -> str | None:
        for filp in filps:
            pos, moved = state[filp.f_pos], state[filp.moved]
            if pos != moved:
                return (
                    f"f_pos({filp}) is page {pos} after read(2)/write(2)/lseek(2) calls that "
                    f"moved it {moved} pages in all: an update of f_pos was lost"
                )
        return reported_error(state, NO_LOST_F_POS)

    return check


@variant(
    NO_FDGET_POS,
    "read(2), write(2), readv(2), writev(2), lseek(2) and getdents64(2) use fdget() where they "
    "use fdget_pos(): the file position is read and written without f_pos_lock",
    waives=["file_operations.iterate_shared f_pos_lock(file)"],
)
def no_fdget_pos(program: Program, _invocation: Invocation) -> Program:
    return program.drop(lambda step: FDGET_POS_TAG in step.tags)


@variant(
    SEEK_CUR_WITHOUT_F_LOCK,
    "generic_file_llseek_size() reads f_pos and sets f_pos + offset for SEEK_CUR without "
    "file->f_lock (what 6.15 and later do for a file without FMODE_ATOMIC_POS that is no "
    "directory: da06e3c51794, file_seek_cur_needs_f_lock())",
)
def seek_cur_without_f_lock(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(lseek):
        return program
    return program.drop_lock("f_lock")


flag_variant(
    F_LOCK_ONLY_WITH_F_POS_LOCK,
    "generic_file_llseek_size() as 6.15 and later have it (da06e3c51794): SEEK_CUR takes "
    "f_lock only where file_seek_cur_needs_f_lock() holds, a file with FMODE_ATOMIC_POS or a "
    "directory, whose f_pos_lock already orders its seeks, and not for a character device, "
    "which has no other lock",
)
flag_variant(
    F_LOCK_ONLY_WITHOUT_F_POS_LOCK,
    "generic_file_llseek_size() as da06e3c51794's message and comment describe it and its "
    "first posting wrote it: SEEK_CUR takes f_lock only for a file f_pos_lock does not guard "
    "(no FMODE_ATOMIC_POS, no ->iterate_shared)",
)
flag_variant(
    REMAP_ARGUMENT_ORDER,
    "->remap_file_range locks the two inodes (and their invalidate_locks) in argument order, "
    "source first, instead of by address",
)
flag_variant(
    SPLICE_WRITE_INODE_FIRST,
    "->splice_write takes the target's i_rwsem before the pipe mutex (to strip the file's "
    "privileges) and drops it once the pipe is locked",
)
flag_variant(
    READDIR_UNLOCKED,
    "iterate_dir() calls ->iterate_shared without taking the directory's i_rwsem",
    waives=[],
)

FILE_PROPERTIES = (*BASE_PROPERTIES, NO_LOST_F_POS)

TWO_PAGES = File("/f", pages=2, cached=(0, 1))
ONE_PAGE = File("/f", pages=1, cached=(0,))
SHARED_F = OpenFile("/f", cache=TWO_PAGES, name="filp")

scenario(
    "file/two-reads-shared-file",
    "two threads read(2) one page each through one struct file of a two-page file: each "
    "must read its own page and move f_pos past it",
    tree=["/f"],
    threads=[read_fd(SHARED_F), read_fd(SHARED_F)],
    properties=FILE_PROPERTIES,
)

scenario(
    "file/readv-writev-shared-file",
    "readv(2) and writev(2) of one page each through one struct file, and a pwrite(2) of "
    "page 1 that does not move f_pos",
    tree=["/f"],
    threads=[
        readv_writev(SHARED_F, False),
        readv_writev(SHARED_F, True),
        pread_pwrite(SHARED_F, 1, True, False),
    ],
    properties=FILE_PROPERTIES,
)

LEGACY = OpenFile("/c", name="chr", legacy=True)

scenario(
    "file/legacy-read-write",
    "read(2) and writev(2) of a file whose operations have ->read and ->write but no "
    "->read_iter (a debugfs or procfs regular file, so FMODE_ATOMIC_POS), through one struct "
    "file",
    tree=["/c"],
    threads=[read_fd(LEGACY), readv_writev(LEGACY, True)],
    properties=FILE_PROPERTIES,
)

CHRDEV = OpenFile("/c", name="chr", legacy=True, atomic_pos=False)

scenario(
    "file/two-seeks-chrdev",
    "two lseek(2) SEEK_CURs through one struct file of a character device (no "
    "FMODE_ATOMIC_POS, so fdget_pos() takes no f_pos_lock): f_lock alone keeps each "
    "read-modify-write of f_pos whole (up to 6.14; 6.15 and later take no f_lock here either)",
    tree=["/c"],
    threads=[lseek(CHRDEV, 1, SEEK_CUR), lseek(CHRDEV, 1, SEEK_CUR)],
    properties=FILE_PROPERTIES,
)

SEEK_F = OpenFile("/f", cache=TWO_PAGES, name="filp")

scenario(
    "file/two-seeks-regular",
    "two lseek(2) SEEK_CURs through one struct file of a regular file (FMODE_ATOMIC_POS): "
    "fdget_pos() takes f_pos_lock, so f_lock is not what keeps each read-modify-write of "
    "f_pos whole",
    tree=["/f"],
    threads=[lseek(SEEK_F, 1, SEEK_CUR), lseek(SEEK_F, 1, SEEK_CUR)],
    properties=FILE_PROPERTIES,
)

scenario(
    "file/seek-read-fdinfo",
    "lseek(2) SEEK_CUR, a pread(2) and a read(2) of one struct file, and its fdinfo read "
    "from /proc",
    tree=["/f"],
    threads=[
        lseek(SEEK_F, 1, SEEK_CUR),
        read_fd(SEEK_F),
        pread_pwrite(SEEK_F, 0, False, True),
        show_fdinfo(SEEK_F),
    ],
    properties=FILE_PROPERTIES,
)

A = OpenFile("/a", name="fa")
B = OpenFile("/b", name="fb")

scenario(
    "file/opposite-remaps",
    "FICLONE of /a onto /b racing FICLONE of /b onto /a: each locks both inodes and both "
    "invalidate_locks",
    tree=["/a", "/b"],
    threads=[remap(A, B), remap(B, A)],
)

scenario(
    "file/opposite-copies",
    "copy_file_range(2) of /a into /b racing one of /b into /a (lock_two_nondirectories())",
    tree=["/a", "/b"],
    threads=[copy_file_range(A, B), copy_file_range(B, A)],
)

SPLICED = OpenFile("/f", cache=ONE_PAGE, name="filp")
PIPE = Pipe("pipe", buffers=1, size=2)

scenario(
    "file/splice-both-ways",
    "splice(2) of a pipe buffer into /f racing splice(2) of /f into the same pipe (XFS's "
    "->splice_read takes i_rwsem shared under the pipe mutex)",
    tree=["/f"],
    threads=[splice_write(PIPE, SPLICED, 0), splice_read(SPLICED, PIPE, 0)],
)

DIR = OpenFile("/d", name="dirfile")

scenario(
    "file/readdir-vs-create-unlink",
    "getdents64(2) of /d racing a create of /d/y and an unlink of /d/x",
    tree=["/d/", "/d/x"],
    threads=[getdents(DIR), create("/d/y"), unlink("/d/x")],
    properties=(*BASE_PROPERTIES, "namespace"),
)

F_ONLY = OpenFile("/f", cache=ONE_PAGE, name="filp")
UNCACHED = File("/f", pages=1)
UNCACHED_F = OpenFile("/f", cache=UNCACHED, name="filp")

scenario(
    "file/open-ioctl-locks",
    "a file's open(2), fcntl(F_SETFL, O_ASYNC) and close(2), an ioctl(2) from a 32-bit task "
    "and the file-lock system calls, on one file",
    tree=["/f"],
    threads=[open_setfl_close(F_ONLY), ioctl(F_ONLY, True), file_locks(F_ONLY)],
)

scenario(
    "file/fadvise-poll-ioctl",
    "posix_fadvise(WILLNEED) of a page not cached (XFS's ->fadvise: i_rwsem shared around "
    "the readahead), a poll(2) and an ioctl(2) of the file, and the device completing the read",
    tree=["/f"],
    threads=[
        fadvise(UNCACHED_F, 0),
        poll(UNCACHED_F),
        ioctl(UNCACHED_F, False),
        io_completion(UNCACHED),
    ],
)

FALLOC_FILE = File("/f", pages=2, cached=(0, 1))
FALLOC_F = OpenFile("/f", cache=FALLOC_FILE, name="filp")

scenario(
    "file/fallocate-modes",
    "fallocate(2) KEEP_SIZE of page 0 and PUNCH_HOLE of page 1 through one struct file, "
    "racing a write(2) at the file position; the device completes the hole punch's write-back",
    tree=["/f"],
    threads=[
        fallocate(FALLOC_F, FALLOC_FL_KEEP_SIZE, 0),
        fallocate(FALLOC_F, FALLOC_FL_PUNCH_HOLE, 1),
        write_fd(FALLOC_F),
        io_completion(FALLOC_FILE),
    ],
    properties=(*FILE_PROPERTIES, NO_STALE_DATA),
)


# --- copies and clones between two page caches ------------------------------------------


@invariant(
    COPY_COHERENT,
    "once copy_file_range(2) or FICLONE between two files with a page cache returned, a "
    "buffered read of the destination returns the source's data the call had to copy (every "
    "write to the source that returned before the call began, or newer): no cached "
    "destination folio holds older data, nor, with none cached, the destination's block "
    "(unless another writer stored to the destination page after it held that data)",
    reads=PAGE_CACHE_READS,
    needs=(COPIES, "a copy_file_range(2) or FICLONE between files with a page cache"),
)
def copy_coherent(model: KernelModel) -> Callable[[tuple[object, ...]], str | None]:
    return copy_coherent_check(model.world)


flag_variant(
    REMAP_SKIPS_WRITEBACK,
    "generic_remap_file_range_prep() does not write back the source's range before the "
    "remap: the clone shares blocks that do not yet hold the source's dirty data",
)
flag_variant(
    REMAP_SKIPS_DEST_INVALIDATE,
    "->remap_file_range does not drop the destination's range from its page cache "
    "(xfs_flush_unmap_range()'s truncate_pagecache_range()): folios cached before the clone "
    "keep the old data over the remapped blocks",
)

COPY_PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, COPY_COHERENT)
SOURCE = File("/a", pages=1)
TARGET = File("/b", pages=1, cached=(0,))
CLONE_SOURCE = OpenFile("/a", cache=SOURCE, name="fa")
CLONE_TARGET = OpenFile("/b", cache=TARGET, name="fb")

scenario(
    "file/clone-vs-write",
    "FICLONE of /a onto /b (each with a page cache; /b's page cached) racing a buffered "
    "write(2) to /a; the device completes the clone's write-back",
    tree=["/a", "/b"],
    threads=[write(SOURCE, 0), remap(CLONE_SOURCE, CLONE_TARGET), io_completion(SOURCE)],
    properties=COPY_PROPERTIES,
)

COPY_SOURCE_FILE = File("/a", pages=1, cached=(0,))
COPY_SOURCE = OpenFile("/a", cache=COPY_SOURCE_FILE, name="fa")

scenario(
    "file/copy-splice-vs-write",
    "copy_file_range(2) of /a into /b on a filesystem without ->copy_file_range or "
    "->remap_file_range (each file with a page cache: the copy splices /a's folio into /b's "
    "through ->splice_read and ->write_iter) racing a buffered write(2) to /a",
    tree=["/a", "/b"],
    threads=[write(COPY_SOURCE_FILE, 0), copy_file_range_splice(COPY_SOURCE, CLONE_TARGET)],
    properties=COPY_PROPERTIES,
)
