"""The file operations from their system calls (Linux 6.6): fs/read_write.c,
fs/open.c, fs/file_table.c, fs/splice.c, fs/remap_range.c, fs/readdir.c,
fs/ioctl.c, fs/fcntl.c, fs/select.c, mm/fadvise.c, fs/locks.c and
fs/proc/fd.c, down to the methods of ``struct file_operations``.

A scenario names its open files with ``OpenFile`` (one ``struct file``, an
open file description shared by the threads that name it, as after
``dup()`` or ``fork()``): each has its ``f_pos_lock`` (a mutex),
``f_lock`` (a spinlock) and ``f_pos`` (in pages).  A regular file with a
page cache (``cache=File(...)``) is read and written by the shipped bodies
of ``mc.models.writeback`` (``op.run``): read(2) and write(2) add
``fdget_pos()`` and the file position around them.  The files of
``copy_file_range`` and ``remap`` may have a page cache each
(``OpenFile(cache=...)``: FICLONE writes back and invalidates through them,
the splice fallback copies folio to folio); without one, their data is one
version per file that the copy moves.

Read: fs/read_write.c as the patches against 6.6 show it (the 6.7 series
that moved ``file_start_write()`` into ``vfs_iter_write()`` and replaced
``generic_copy_file_range()`` with ``splice_copy_file_range()``; the
COPY_FILE_SPLICE patch): ``ksys_read()``/``ksys_write()`` take
``fdget_pos()``, copy ``f_pos`` through ``file_ppos()`` and store it back
``if (ret >= 0 && ppos)`` (the model's labels named 4.15's
``file_pos_read()``/``file_pos_write()``: fixed); ``vfs_write()`` takes
``file_start_write()`` (a no-op for a file that is not S_ISREG, such as the
character device of ``file/two-seeks-chrdev``; ``file/legacy-read-write``'s
file is a regular one with ->read and ->write) before ``->write`` or
``->write_iter``.  The copy and the clone follow 6.12 (fs/read_write.c of
6.12; XFS's 6.7 demotion of the clone's source locks):
``vfs_copy_file_range()`` takes ``file_start_write(file_out)`` and tries
``->copy_file_range``, then ``->remap_file_range`` (same superblock),
drops it and falls back to ``do_splice_direct()``, whose
``direct_splice_actor()`` takes it around each ``do_splice_from()``.
fs/remap_range.c (mnt_idmap): ``vfs_clone_file_range()`` takes
``file_start_write(file_out)`` around ``->remap_file_range``, and
``generic_remap_file_range_prep()`` waits for direct I/O on both inodes,
then writes back and waits on both ranges.  fs/splice.c: ``do_splice()``
takes ``file_start_write(out)`` before ``do_splice_from()``, and
``iter_file_splice_write()`` takes ``pipe_lock()`` before
``out->f_op->write_iter`` (6.6 called it through ``vfs_iter_write()``,
which took no lock: i_rwsem inside the pipe mutex either way).  fs/file.c's ``__fdget_pos()`` and
``file_needs_f_pos_lock()`` (6.6); XFS's
``xfs_iolock_two_inodes_and_break_layout()`` and ``xfs_ilock2_io_mmap()``
with ``filemap_invalidate_lock_two()``.  The ones not read
(``splice_file_to_pipe()``, ``iterate_dir()``, ``setfl()``, ``__fput()``,
the file-lock entries) are cited from 6.6 as the model follows them.

Left out: file descriptors themselves (a thread's ``fd`` is the struct
file it names; fdget()'s reference counting and file_count() > 1 are
taken as given: every scenario shares its files between threads), the
iov_iter and its partial copies, fsnotify, security hooks, the lease
breaking of break_layout(), the pipe's buffers beyond a count, the wait
for pipe space or data (the splices are SPLICE_F_NONBLOCK), file
locks themselves (only the entry into ->lock, ->flock and ->setlease), and
of ``file_modified()`` (fs/inode.c) the privileges: its times are
modelled as a metadata change (``file_modified`` below) that fallocate,
copy_file_range and FICLONE make under ``file_start_write()``
(``ext4_fallocate()``, ``cifs_file_copychunk_range()`` and
``__generic_remap_file_range_prep()`` call it), so
``no-write-while-frozen`` sees them write a frozen filesystem; the
``->write_iter`` entry of write(2) comes after the shipped write body's
first step, ``vfs_write()``'s ``file_start_write()`` (``op.entering``).
Also left out: the file position that ``splice(2)``, ``sendfile(2)`` and
``copy_file_range(2)`` read and store back without ``f_pos_lock``
(``do_splice()``: ``offset = in->f_pos; ... in->f_pos = offset``), so
``no-lost-f-pos`` says nothing of them; a blocking splice (waiting for
pipe data with ``file_start_write()`` held) and ``filemap_splice_read()``
of an uncached page; and each file's filesystem as one whole (the
splice read, fadvise and the clone follow XFS, read(2) and fallocate
ext4: XFS's read(2) holds i_rwsem shared, which no scenario takes).

Drift after the versions read (read in 6.17-rc3, Kingxukai/linux at
9b44fff6 and 0291023e): 6.15's ``file_seek_cur_needs_f_lock()``
(da06e3c51794) takes ``f_lock`` for SEEK_CUR only for a file with
FMODE_ATOMIC_POS or a directory, which is ``seek-cur-without-f-lock`` for
a character device; ext4's ``fallocate`` holds i_rwsem once around the
whole call (``inode_dio_wait()`` and ``file_modified()`` first, the punch
under ``invalidate_lock`` with no unlocked writeback before it), where the
model follows 6.6's drop and retake; and cifs's
``cifs_file_copychunk_range()`` takes the target's ``invalidate_lock``
under both i_rwsems (``filemap_invalidate_inode()``) and falls back to
``splice_copy_file_range()`` holding ``file_start_write(file_out)``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from mc.dsl.addresses import address_below
from mc.dsl.folio import folio_ref, put_folio
from mc.dsl.operation import Cite, Op, operation
from mc.dsl.symbolic_steps import fork_compute, fork_effect
from mc.kernel import errno
from mc.kernel.device import render_version
from mc.kernel.expr import Expr, const, is_error, same, slot_value, state_expr
from mc.kernel.locks import EXCL, SHARED, Kind, Lock
from mc.kernel.pagecache import (
    PAGE_SIZE,
    PG_UPTODATE,
    File,
    Mapping,
    Page,
    get_block,
    pagecache,
    promise,
    render_promise,
    store_data,
)
from mc.kernel.pagedata import runs_of
from mc.kernel.pathcond import add, div, pick
from mc.kernel.superblock import SB_FREEZE_WRITE, metadata_slot, sb_writers
from mc.kernel.vfs import dead_dir
from mc.kernel.world import DONE, ERROR_SLOT, ModelError, Scratch, World, touches
from mc.models.blockfs_truncate import inode_dio_wait
from mc.models.dirops import lock_two_nondirectories
from mc.models.inode_methods import TOUCH_ATIME_CITES, touch_atime
from mc.models.truncate import file_parts, punch_hole
from mc.models.truncate_mm import truncate_folio
from mc.models.writeback import (
    do_writepages,
    fdatawait,
    filemap_get_pages,
    perform_write,
    read,
    readahead_page,
    write,
)

OPENERS = "file-openers"
"""The world part naming the thread that opens each OpenFile with open_setfl_close()."""
NO_LOST_F_POS = "no-lost-f-pos"
NO_FDGET_POS = "no-fdget-pos"
SEEK_CUR_WITHOUT_F_LOCK = "seek-cur-without-f-lock"
F_LOCK_ONLY_WITH_F_POS_LOCK = "f-lock-only-with-f-pos-lock"
F_LOCK_ONLY_WITHOUT_F_POS_LOCK = "f-lock-only-without-f-pos-lock"
REMAP_ARGUMENT_ORDER = "remap-argument-order"
SPLICE_WRITE_INODE_FIRST = "splice-write-inode-first"
READDIR_UNLOCKED = "readdir-unlocked"
FDGET_POS_TAG = "fdget-pos"
REMAP_SKIPS_WRITEBACK = "remap-skips-writeback"
REMAP_SKIPS_DEST_INVALIDATE = "remap-skips-dest-invalidate"
COPY_COHERENT = "copy-coherent"
COPIES = "copies"


@attrs.frozen
class OpenFile:
    """One ``struct file`` of a scenario: the file at ``path`` opened once
    and shared by every thread that names it (its name in traces is
    ``name``).  ``cache`` is the page cache behind a regular file that
    read(2) and write(2) reach; ``atomic_pos`` is FMODE_ATOMIC_POS (set by
    do_dentry_open() for regular files and directories); ``legacy`` says
    the file's operations have ->read and ->write but no ->read_iter and
    ->write_iter: a regular file (a pseudo-filesystem's, whose write takes
    ``file_start_write()``) with ``atomic_pos``, a character device (no
    freeze protection) without it."""

    path: str
    cache: File | None = None
    name: str = ""
    atomic_pos: bool = True
    legacy: bool = False

    def __attrs_post_init__(self) -> None:
        if self.cache is not None and self.cache.path != self.path:
            raise ModelError(
                f"OpenFile({self.path!r}): its cache is the page cache of {self.cache.path}, "
                f"not of {self.path} (cache=File({self.path!r}, ...))"
            )

    @property
    def label(self) -> str:
        return self.name or f"file({self.path})"

    def __str__(self) -> str:
        return self.label


@attrs.frozen
class Filp:
    """The state of one struct file: its locks and the slots of ``f_pos``
    (pages), of how far the read(2)/write(2) calls that returned said they
    moved it (hidden: the bookkeeping of ``no-lost-f-pos``), of its
    ``f_flags`` FASYNC bit, of its file's data version (for the files
    copy_file_range and remap move data between) and of the lseek(2)
    SEEK_CURs done on it (hidden); ``atomic_pos``: FMODE_ATOMIC_POS, as
    its ``OpenFile`` says."""

    name: str
    path: str
    f_pos_lock: Lock
    f_lock: Lock
    f_pos: int
    moved: int
    fasync: int
    data: int
    seeks: int
    atomic_pos: bool

    def __str__(self) -> str:
        return self.name


@attrs.frozen
class Pipe:
    """A pipe of a scenario, with ``buffers`` of its ``size`` slots full."""

    name: str = "pipe"
    buffers: int = 1
    size: int = 2

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.buffers <= self.size:
            raise ModelError(
                f"Pipe({self.name!r}): buffers={self.buffers} full of size={self.size}: "
                "between 0 and its size"
            )

    def __str__(self) -> str:
        return self.name


@attrs.frozen
class PipeState:
    """The state of one pipe: ``pipe->mutex`` and the count of full buffers."""

    name: str
    mutex: Lock
    count: int
    size: int


class Files:
    """The open files and pipes of one world, laid out on first use."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.filps: dict[str, Filp] = {}
        self.pipes: dict[str, PipeState] = {}
        self.invalidate_locks: dict[int, Lock] = {}
        self._fasync_lock: Lock | None = None

    @property
    def fasync_lock(self) -> Lock:
        """fs/fcntl.c's global ``fasync_lock``, laid out on first use."""
        if self._fasync_lock is None:
            self._fasync_lock = self.world.add_lock("fasync_lock", Kind.SPINLOCK)
        return self._fasync_lock

    def filp(self, spec: OpenFile) -> Filp:
        known = self.filps.get(spec.label)
        if known is not None:
            if known.path != spec.path:
                raise ModelError(f"{spec.label} names both {known.path} and {spec.path}")
            if known.atomic_pos != spec.atomic_pos:
                raise ModelError(
                    f"{spec.label} is opened both with and without FMODE_ATOMIC_POS "
                    "(atomic_pos): one struct file has one f_mode"
                )
            return known
        try:
            self.world.lookup_path(spec.path)
        except ValueError as error:
            raise ModelError(str(error)) from None
        name = spec.label
        world = self.world
        filp = Filp(
            name,
            spec.path,
            world.shared_lock(f"f_pos_lock({name})", Kind.MUTEX),
            world.add_lock(f"f_lock({name})", Kind.SPINLOCK, family="f_lock"),
            world.add_slot(f"f_pos({name})", 0),
            world.add_slot(f"f_pos moved({name})", 0, hidden=True),
            world.add_slot(f"FASYNC({name})", False),
            world.shared_slot(f"data({spec.path})", 0, _render_data),
            world.add_slot(f"SEEK_CURs({name})", 0, hidden=True),
            spec.atomic_pos,
        )
        self.filps[name] = filp
        return filp

    def pipe(self, spec: Pipe) -> PipeState:
        known = self.pipes.get(spec.name)
        if known is not None:
            if (self.world.initial[known.count], known.size) != (spec.buffers, spec.size):
                raise ModelError(
                    f"pipe {spec.name} is given two layouts, {self.world.initial[known.count]} "
                    f"of {known.size} buffers full and {spec.buffers} of {spec.size}: give "
                    "every thread one Pipe"
                )
            return known
        state = PipeState(
            spec.name,
            self.world.add_lock(f"pipe->mutex({spec.name})", Kind.MUTEX, family="pipe->mutex"),
            self.world.add_slot(f"buffers({spec.name})", spec.buffers),
            spec.size,
        )
        self.pipes[spec.name] = state
        return state

    def invalidate_lock(self, path: str) -> Lock:
        """``mapping->invalidate_lock`` of the file at ``path``: its page
        cache's when it has one, else a lock of its own."""
        inode = self.world.lookup_path(path)
        mapping = pagecache(self.world).mappings.get(inode.ino)
        if mapping is not None:
            return mapping.invalidate_lock
        lock = self.invalidate_locks.get(inode.ino)
        if lock is None:
            lock = self.world.add_lock(
                f"invalidate_lock({path})", Kind.RWSEM, family="invalidate_lock"
            )
            self.invalidate_locks[inode.ino] = lock
        return lock


def _render_data(version: int) -> str:
    return "the original data" if version == 0 else f"data version {version}"


FILES = "files"


def files(world: World) -> Files:
    """The open-file part of ``world``."""
    part = world.parts.get(FILES)
    if not isinstance(part, Files):
        part = Files(world)
        world.parts[FILES] = part
    return part


def _filp(op: Op, spec: OpenFile) -> Filp:
    return files(op.world).filp(spec)


# --- fdget_pos and the file position -------------------------------------------------


def fdget_pos(op: Op, spec: OpenFile, filp: Filp) -> None:
    """``fdget_pos()`` (fs/file.c): ``f_pos_lock`` when
    ``file_needs_f_pos_lock()``: FMODE_ATOMIC_POS and the file shared
    (``file_count(file) > 1``, which every scenario's file is) or a
    directory (``->iterate_shared``)."""
    if spec.atomic_pos:
        op.lock(
            filp.f_pos_lock,
            EXCL,
            "fdget_pos(fd): if (file_needs_f_pos_lock(file)) mutex_lock(&file->f_pos_lock)",
            tag=FDGET_POS_TAG,
        )


def fdput_pos(op: Op, spec: OpenFile, filp: Filp) -> None:
    """``fdput_pos()``: ``__f_unlock_pos()`` when fdget_pos() locked."""
    if spec.atomic_pos:
        op.unlock(
            filp.f_pos_lock,
            "fdput_pos(f): if (f.word & FDPUT_POS_UNLOCK) __f_unlock_pos(f.file)",
            tag=FDGET_POS_TAG,
        )


def _read_pos(scratch: Scratch, filp: Filp) -> int:
    return int(scratch[filp.f_pos])


def _advance(scratch: Scratch, filp: Filp, pos: int) -> None:
    scratch[filp.f_pos] = pos + 1
    scratch[filp.moved] = scratch[filp.moved] + 1


def _cache(spec: OpenFile) -> File:
    if spec.cache is None:
        raise ModelError(f"{spec.label} has no page cache to read or write (OpenFile(cache=...))")
    return spec.cache


def _io_at(
    op: Op, spec: OpenFile, filp: Filp, pos: Expr | int, *, writing: bool, vfs: str, advance: bool
) -> None:
    """``vfs_read()``/``vfs_write()`` (or ``vfs_readv()``/``vfs_writev()``,
    ``vfs`` names which) of the page at ``pos``: ``->read_iter`` /
    ``->write_iter`` running the shipped body, or ``->read``/``->write`` of a
    legacy file, the write inside ``file_start_write()`` for a regular file
    (``atomic_pos``: do_dentry_open() sets FMODE_ATOMIC_POS for S_ISREG; a
    character device's is a no-op); nothing past EOF.  ``pos`` is a register
    (read(2)) or the page the caller names (pread(2)).  With ``advance``,
    ``f_pos`` is stored after it (``if (ret >= 0 && ppos) f.file->f_pos = pos``)."""
    inode = op.inode(spec.path)
    roles = {"file": filp, "inode": inode}
    if spec.legacy:
        method = "file_operations.write" if writing else "file_operations.read"
        call = (
            "file->f_op->write(file, buf, count, pos)"
            if writing
            else ("file->f_op->read(file, buf, count, pos)")
        )

        regular = writing and spec.atomic_pos
        writers = sb_writers(op.world, SB_FREEZE_WRITE)

        def legacy(index: int) -> None:
            if regular:
                op.lock(
                    writers,
                    SHARED,
                    f"{vfs}: file_start_write(file): sb_start_write(file_inode(file)->i_sb)",
                    tag="sb-start-write",
                )
            op.call(method, _legacy_io, filp, writing, label=f"{vfs}: ret = {call}", roles=roles)
            if regular:
                op.unlock(
                    writers,
                    f"{vfs}: file_end_write(file): sb_end_write(file_inode(file)->i_sb)",
                    tag="sb-start-write",
                )
            if advance:
                op.effect("if (ret >= 0 && ppos) f.file->f_pos = pos", _advance, filp, index)

        _at_page(op, pos, 1, legacy)
        return
    cache = _cache(spec)
    method = "file_operations.write_iter" if writing else "file_operations.read_iter"
    call = (
        "call_write_iter(file, &kiocb, iter)" if writing else "call_read_iter(file, &kiocb, iter)"
    )

    def through_iter(index: int) -> None:
        with op.entering(
            method,
            label=f"{vfs}: ret = {call} /* file->f_op->{method.split('.')[1]} */",
            roles=roles,
        ):
            op.run(write if writing else read, cache, index)
        if advance:
            op.effect("if (ret >= 0 && ppos) f.file->f_pos = pos", _advance, filp, index)

    _at_page(op, pos, cache.pages, through_iter)


def _at_page(op: Op, pos: Expr | int, pages: int, body: Callable[[int], None]) -> None:
    """``body(index)`` for the page at ``pos``: a page the caller names, or
    one branch per page of the file for a position read at run time
    (nothing past EOF: the read returns 0)."""
    if isinstance(pos, int):
        body(pos)
        return
    for index in range(pages):
        with op.when(same(pos, const(index)), f"if (pos == {index} * PAGE_SIZE)"):
            body(index)
            op.goto("page_done")
    op.label("page_done")


def _legacy_io(scratch: Scratch, filp: Filp, writing: bool) -> int:
    """A pseudo-file's ->read (``simple_read_from_buffer()``) or ->write:
    one page, no locks; a write bumps the file's data version."""
    if writing:
        scratch[filp.data] = scratch[filp.data] + 1
    return 0


_FDGET_POS_CITES = (
    Cite("fs/file.c", "__fdget_pos", "6.6"),
    Cite("fs/file.c", "file_needs_f_pos_lock", "6.6"),
)
_READ_CITES = (
    Cite("fs/read_write.c", "ksys_read", "6.6"),
    Cite("fs/read_write.c", "vfs_read", "6.6", method="file_operations.read_iter"),
    *_FDGET_POS_CITES,
)
_WRITE_CITES = (
    Cite("fs/read_write.c", "ksys_write", "6.6"),
    Cite("fs/read_write.c", "vfs_write", "6.6", method="file_operations.write_iter"),
    *_FDGET_POS_CITES,
)


def _syscall(op: Op, spec: OpenFile, *, writing: bool) -> None:
    filp = _filp(op, spec)
    fdget_pos(op, spec, filp)
    pos = op.compute(
        "pos",
        "loff_t pos, *ppos = file_ppos(f.file); pos = *ppos /* file->f_pos */",
        _read_pos,
        filp,
    )
    vfs = "vfs_write(f.file, buf, count, &pos)" if writing else "vfs_read(f.file, buf, count, &pos)"
    _io_at(op, spec, filp, pos, writing=writing, vfs=vfs, advance=True)
    fdput_pos(op, spec, filp)


@operation(
    models="ksys_read() -> fdget_pos() -> vfs_read() -> ->read_iter (fs/read_write.c, fs/file.c)",
    describe=lambda f: f"read({f}, 1 page)",
    cites=(*_READ_CITES, *read.cites),
)
def read_fd(op: Op, spec: OpenFile) -> None:
    """read(2) of one page at the file position: ``fdget_pos()``, ``pos =
    file->f_pos``, ``vfs_read()`` -> ``->read_iter`` (the shipped
    ``filemap_read()`` body, or ``->read`` of a legacy file), then
    ``file->f_pos = pos`` and ``fdput_pos()``."""
    _syscall(op, spec, writing=False)


@operation(
    models="ksys_write() -> fdget_pos() -> vfs_write() -> ->write_iter (fs/read_write.c)",
    describe=lambda f: f"write({f}, 1 page)",
    cites=(*_WRITE_CITES, *write.cites),
)
def write_fd(op: Op, spec: OpenFile) -> None:
    """write(2) of one page at the file position: as ``read_fd``, through
    ``->write_iter`` (the shipped ``generic_file_write_iter()`` body:
    ``file_start_write()`` and i_rwsem exclusive are in it)."""
    _syscall(op, spec, writing=True)


@operation(
    models="do_readv()/do_writev() -> vfs_readv()/vfs_writev() -> do_iter_read()/do_iter_write() "
    "(fs/read_write.c)",
    describe=lambda f, w: f"{'writev' if w else 'readv'}({f}, 1 page)",
    cites=(
        Cite("fs/read_write.c", "do_readv", "6.6"),
        Cite("fs/read_write.c", "do_writev", "6.6"),
        Cite("fs/read_write.c", "vfs_readv", "6.6"),
        Cite("fs/read_write.c", "vfs_writev", "6.6"),
        Cite("fs/read_write.c", "do_iter_readv_writev", "6.6", method="file_operations.read_iter"),
        Cite("fs/read_write.c", "do_loop_readv_writev", "6.6", method="file_operations.read"),
        Cite("fs/file.c", "__fdget_pos", "6.6"),
    ),
)
def readv_writev(op: Op, spec: OpenFile, writing: bool) -> None:
    """readv(2)/writev(2) of one iovec of one page: like read(2) and
    write(2) under ``fdget_pos()``; ``do_iter_readv_writev()`` calls
    ``->read_iter``/``->write_iter`` with a kiocb at ``pos``, and
    ``do_loop_readv_writev()`` ``->read``/``->write`` per iovec for a file
    without them."""
    filp = _filp(op, spec)
    fdget_pos(op, spec, filp)
    pos = op.compute("pos", "loff_t pos, *ppos = file_ppos(f.file); pos = *ppos", _read_pos, filp)
    vfs = (
        "vfs_writev(f.file, vec, vlen, &pos, flags)"
        if writing
        else ("vfs_readv(f.file, vec, vlen, &pos, flags)")
    )
    _io_at(op, spec, filp, pos, writing=writing, vfs=vfs, advance=True)
    fdput_pos(op, spec, filp)


@operation(
    models="ksys_pread64()/ksys_pwrite64(), do_preadv()/do_pwritev(): fdget() -> vfs_read()/"
    "vfs_write() at a given position (fs/read_write.c)",
    describe=lambda f, i, w, v: f"{'pwrite' if w else 'pread'}{'v' if v else ''}({f}, page {i})",
    cites=(
        Cite("fs/read_write.c", "ksys_pread64", "6.6", method="file_operations.read_iter"),
        Cite("fs/read_write.c", "ksys_pwrite64", "6.6", method="file_operations.write_iter"),
        Cite("fs/read_write.c", "do_preadv", "6.6"),
        Cite("fs/read_write.c", "do_pwritev", "6.6"),
    ),
)
def pread_pwrite(op: Op, spec: OpenFile, index: int, writing: bool, vectored: bool) -> None:
    """pread64(2)/pwrite64(2) (``vectored``: preadv(2)/pwritev(2)) of page
    ``index``: ``fdget()``, not ``fdget_pos()``: the position is the
    caller's, ``f_pos`` is neither read nor written, so no ``f_pos_lock``."""
    filp = _filp(op, spec)
    op.effect("f = fdget(fd) /* FMODE_PREAD | FMODE_PWRITE */", _nothing)
    name = (
        ("vfs_writev" if vectored else "vfs_write")
        if writing
        else ("vfs_readv" if vectored else "vfs_read")
    )
    _io_at(op, spec, filp, index, writing=writing, vfs=f"{name}(f.file, ..., &pos)", advance=False)
    op.effect("fdput(f)", _nothing)


def _nothing(_scratch: Scratch) -> None:
    return None


class Whence(enum.IntEnum):
    """The ``whence`` of lseek(2) the model knows (include/uapi/linux/fs.h;
    SEEK_DATA and SEEK_HOLE are not modelled)."""

    SEEK_SET = 0
    SEEK_CUR = 1
    SEEK_END = 2


SEEK_SET, SEEK_CUR, SEEK_END = Whence.SEEK_SET, Whence.SEEK_CUR, Whence.SEEK_END


PSEUDO_FILE_PAGES = 1
"""The size of a file without a page cache (``OpenFile(cache=None)``):
one page, as its ``->read`` serves."""


def _seek(scratch: Scratch, filp: Filp, whence: int, offset: int, size: int) -> int:
    """``vfs_setpos()`` for SEEK_SET and SEEK_END: ``f_pos`` set afresh (the
    moves counted start again there).  A position that would be negative
    is -EINVAL and ``f_pos`` stays (``if (offset < 0 &&
    !unsigned_offsets(file)) return -EINVAL``); else the new position is
    returned."""
    position = (size if whence == SEEK_END else 0) + offset
    if position < 0:
        return -errno.EINVAL
    scratch[filp.f_pos] = scratch[filp.moved] = position
    return position


def _seek_end(scratch: Scratch, filp: Filp, offset: int, mapping: Mapping) -> int:
    """``vfs_setpos(file, offset + eof, maxsize)`` with ``eof =
    i_size_read(inode)`` read now: the end is the page past the last one
    i_size reaches into (``DIV_ROUND_UP(i_size, PAGE_SIZE)``: a read there
    finds EOF), one run for each value a symbolic size can take."""
    eof = pick(scratch, div(add(scratch[mapping.i_size], PAGE_SIZE - 1), PAGE_SIZE))
    return _seek(scratch, filp, SEEK_END, offset, eof)


def _seek_cur_read(scratch: Scratch, filp: Filp, offset: int) -> tuple[int, int]:
    """``file->f_pos + offset``, read with the count of SEEK_CURs done on
    the file so far."""
    return int(scratch[filp.f_pos]) + offset, scratch[filp.seeks]


def _seek_cur_set(scratch: Scratch, filp: Filp, offset: int, read: tuple[int, int]) -> int:
    """``vfs_setpos(file, file->f_pos + offset, maxsize)`` with the
    position read before: ``f_pos`` moved by ``offset`` (counted as a move,
    as read(2) and write(2) count theirs), or -EINVAL for a negative
    position.  A SEEK_CUR done since the read is a lost update
    (``no-lost-f-pos``), on any file: ``f_lock`` is what keeps SEEK_CUR's
    read-modify-write whole against another SEEK_CUR."""
    position, seen = read
    if scratch[filp.seeks] != seen:
        scratch.violate(
            NO_LOST_F_POS,
            f"lseek(SEEK_CUR) sets f_pos({filp}) from the position it read before another "
            "SEEK_CUR moved it: that move is lost (generic_file_llseek_size() holds f_lock "
            "across the read and the write)",
        )
        return position
    if position < 0:
        return -errno.EINVAL
    scratch[filp.f_pos] = position
    scratch[filp.moved] = scratch[filp.moved] + offset
    scratch[filp.seeks] = seen + 1
    return position


def _render_seek_cur(read: tuple[int, int] | None) -> str:
    return "none" if read is None else f"page {read[0]}"


def _describe_lseek(spec: OpenFile, offset: int, whence: int) -> str:
    named = whence.name if isinstance(whence, Whence) else f"whence {whence}"
    return f"lseek({spec}, {offset} pages, {named})"


def _seek_cur_takes_f_lock(op: Op, spec: OpenFile) -> bool:
    """Whether ``generic_file_llseek_size()``'s SEEK_CUR takes ``f_lock``:
    always in 6.6; where ``file_seek_cur_needs_f_lock()`` says so from 6.15
    (da06e3c51794 "fs: don't needlessly acquire f_lock", read in 6.17-rc3,
    Kingxukai/linux: fs/read_write.c at 9b44fff6, fs/file.c at 0291023e):
    ``if (!(file->f_mode & FMODE_ATOMIC_POS) && !file->f_op->iterate_shared)
    return false``, so a file whose
    position ``f_pos_lock`` guards takes it and one it never guards (a
    character device) does not, the reverse of the comment above the call
    and of the commit message ("only acquire f_lock for SEEK_CUR if this
    isn't a file that would have acquired f_pos_lock"), which the patch's
    first posting did (``if (!locked) spin_lock(&file->f_lock)``)."""
    if op.variant(F_LOCK_ONLY_WITH_F_POS_LOCK):
        return spec.atomic_pos
    if op.variant(F_LOCK_ONLY_WITHOUT_F_POS_LOCK):
        return not spec.atomic_pos
    return True


@operation(
    models="ksys_lseek() -> fdget_pos() -> vfs_llseek() -> ->llseek = generic_file_llseek() "
    "(fs/read_write.c)",
    describe=_describe_lseek,
    cites=(
        Cite("fs/read_write.c", "ksys_lseek", "6.6"),
        Cite("fs/read_write.c", "vfs_llseek", "6.6"),
        Cite("fs/read_write.c", "generic_file_llseek", "6.6", method="file_operations.llseek"),
        Cite("fs/read_write.c", "generic_file_llseek_size", "6.6"),
        Cite("fs/read_write.c", "vfs_setpos", "6.6"),
    ),
)
def lseek(op: Op, spec: OpenFile, offset: int, whence: int) -> None:
    """lseek(2), its arguments in lseek(2)'s order: under ``fdget_pos()``,
    ``->llseek`` (``generic_file_llseek_size()`` of 6.6: SEEK_SET and
    SEEK_END set ``f_pos`` with ``vfs_setpos()``; SEEK_CUR reads ``f_pos``
    and sets ``f_pos + offset`` under ``file->f_lock``, two steps, "f_lock
    protects against read/modify/write race with other SEEK_CURs"; SEEK_CUR
    by 0 only reads ``f_pos``, without the lock; SEEK_END adds the size
    ``generic_file_llseek()`` passes, ``i_size_read(inode)`` when it runs,
    as ``_seek_end`` rounds it to pages, or ``PSEUDO_FILE_PAGES`` for a
    file without a page cache).  ``whence`` is SEEK_SET,
    SEEK_CUR or SEEK_END from mc.models.file (another value is a model
    error: the kernel's ``ksys_lseek()`` returns -EINVAL past SEEK_MAX, and
    SEEK_DATA and SEEK_HOLE are not modelled); ``offset`` is in pages, as
    ``f_pos`` is.  A position that would be negative returns -EINVAL from
    ``vfs_setpos()`` and leaves ``f_pos`` as it was.  Left out: the
    ``maxsize`` bound and ``f_version``."""
    if not isinstance(whence, Whence) or isinstance(offset, Whence):
        raise ModelError(
            f"lseek({spec}, {offset!r}, {whence!r}): whence must be SEEK_SET, SEEK_CUR or "
            "SEEK_END (from mc.models.file), and the arguments come in lseek(2)'s order, "
            "lseek(file, offset, whence); SEEK_DATA and SEEK_HOLE are not modelled"
        )
    filp = _filp(op, spec)
    # Only a seek backwards, or to before the start, can make the position
    # negative: only then does the model keep vfs_setpos()'s return and test it.
    may_fail = offset < 0
    result = op.register("offset", str) if may_fail else None
    fdget_pos(op, spec, filp)
    op.enter(
        "file_operations.llseek",
        label="retval = file->f_op->llseek(file, offset, whence) /* generic_file_llseek() */",
        roles={"file": filp, "inode": op.inode(spec.path)},
    )
    set_pos = "return vfs_setpos(file, offset, maxsize) /* file->f_pos = offset */"
    if whence == SEEK_CUR and offset == 0:
        op.compute("pos", "if (offset == 0) return file->f_pos", _read_pos, filp)
    elif whence == SEEK_CUR:
        takes_f_lock = _seek_cur_takes_f_lock(op, spec)
        if takes_f_lock:
            op.lock(filp.f_lock, EXCL, "spin_lock(&file->f_lock)")
        read = op.compute(
            "pos",
            "file->f_pos+offset",
            _seek_cur_read,
            filp,
            offset,
            render=_render_seek_cur,
        )
        label = "offset = vfs_setpos(file, file->f_pos+offset, maxsize)"
        if result is None:
            op.effect(label, _seek_cur_set, filp, offset, read)
        else:
            op.compute("offset", label, _seek_cur_set, filp, offset, read)
        if takes_f_lock:
            op.unlock(filp.f_lock, "spin_unlock(&file->f_lock)")
    elif whence == SEEK_END and spec.cache is not None:
        mapping = op.mapping(spec.cache)
        set_end = (
            "return vfs_setpos(file, offset + eof, maxsize) "
            "/* eof = i_size_read(inode); file->f_pos = offset + eof */"
        )
        if result is None:
            fork_effect(op, set_end, _seek_end, filp, offset, mapping)
        else:
            fork_compute(op, "offset", set_end, _seek_end, filp, offset, mapping)
    elif result is None:
        op.effect(set_pos, _seek, filp, whence, offset, PSEUDO_FILE_PAGES)
    else:
        op.compute("offset", set_pos, _seek, filp, whence, offset, PSEUDO_FILE_PAGES, render=str)
    if result is not None:
        op.fail_if(
            is_error(slot_value(result, "offset", local=True)),
            errno.EINVAL,
            "out",
            "if (offset < 0 && !unsigned_offsets(file)) return -EINVAL /* vfs_setpos() */",
        )
        op.label("out")
    fdput_pos(op, spec, filp)


# --- readdir ---------------------------------------------------------------------------


def _names(scratch: Scratch, directory: int) -> tuple[str, ...]:
    world = scratch.world
    return tuple(
        sorted(
            name
            for (parent, name), dentry in world.dentries.items()
            if parent == directory and scratch[dentry.slot] is not None
        )
    )


def _render_names(names: tuple[str, ...] | None) -> str:
    if names is None:
        return "none"
    return "[" + ", ".join(names) + "]" if names else "[] (only . and ..)"


def _dir_pos(scratch: Scratch, filp: Filp) -> None:
    """``file->f_pos = ctx->pos``: the end of the directory; the move is
    counted as read(2)'s is (``no-lost-f-pos``)."""
    scratch[filp.moved] = scratch[filp.moved] + 1 - scratch[filp.f_pos]
    scratch[filp.f_pos] = 1


@operation(
    models="getdents64(2) -> fdget_pos() -> iterate_dir() -> ->iterate_shared (fs/readdir.c)",
    describe=lambda f: f"getdents64({f})",
    cites=(
        Cite("fs/readdir.c", "__do_sys_getdents64", "6.6"),
        Cite("fs/readdir.c", "iterate_dir", "6.6"),
        Cite("fs/libfs.c", "dcache_readdir", "6.6", method="file_operations.iterate_shared"),
        Cite("fs/file.c", "__fdget_pos", "6.6"),
        *TOUCH_ATIME_CITES,
    ),
)
def getdents(op: Op, spec: OpenFile) -> None:
    """getdents64(2) of a directory: ``fdget_pos()`` (a directory always
    takes ``f_pos_lock``: it has ``->iterate_shared``), ``iterate_dir()``:
    i_rwsem shared (``down_read_killable()``), -ENOENT for a dead directory,
    else ``->iterate_shared`` (libfs's ``dcache_readdir()``: the names of
    the directory's positive children, into register ``names``),
    ``file->f_pos = ctx->pos`` and ``file_accessed(file)`` ->
    ``touch_atime()`` (``sb_start_write_trylock()``, ``->update_time``)
    under the directory's i_rwsem, as ``readdir_offsets`` has it.  Left
    out: the copy of each entry to the user's buffer under i_rwsem shared
    (a fault there takes mmap_lock: the kernel's i_rwsem -> mmap_lock
    order), ``dcache_readdir()``'s ``d_lock``, and a libfs directory's
    ``->llseek``, ``dcache_dir_lseek()`` (i_rwsem shared under
    ``f_pos_lock``; ``lseek`` models ``generic_file_llseek()``)."""
    if not spec.atomic_pos:
        raise ModelError(
            f"getdents64({spec}): a directory's struct file always has FMODE_ATOMIC_POS "
            "(do_dentry_open() sets it for directories and regular files): drop atomic_pos=False"
        )
    filp = _filp(op, spec)
    directory = op.inode(spec.path)
    fdget_pos(op, spec, filp)
    if not op.variant(READDIR_UNLOCKED):
        op.lock(
            directory.i_rwsem,
            SHARED,
            "iterate_dir(): res = down_read_killable(&inode->i_rwsem)",
            tag="readdir-lock",
        )
    op.fail_if(
        dead_dir(directory),
        errno.ENOENT,
        "unlock",
        "res = -ENOENT; if (IS_DEADDIR(inode)) /* the body runs if (!IS_DEADDIR(inode)) */",
    )
    op.enter(
        "file_operations.iterate_shared",
        label="ctx->pos = file->f_pos; res = file->f_op->iterate_shared(file, ctx)",
        roles={"file": filp, "inode": directory},
    )
    op.compute(
        "names",
        "dcache_readdir(): dir_emit() of each positive child",
        _names,
        directory,
        render=_render_names,
    )
    op.effect("file->f_pos = ctx->pos", _dir_pos, filp)
    touch_atime(op, directory)
    op.label("unlock")
    if not op.variant(READDIR_UNLOCKED):
        op.unlock(directory.i_rwsem, "inode_unlock_shared(inode)", tag="readdir-lock")
    fdput_pos(op, spec, filp)


# --- splice ----------------------------------------------------------------------------


def _pipe_count(pipe: PipeState) -> Expr:
    slot = pipe.count
    return state_expr(f"pipe_occupancy({pipe.name})", lambda s: s[slot])


def _pipe_full(pipe: PipeState) -> Expr:
    slot, size = pipe.count, pipe.size
    return state_expr(f"pipe_full({pipe.name})", lambda s: s[slot] >= size)


def _pipe_empty(pipe: PipeState) -> Expr:
    slot = pipe.count
    return state_expr(f"pipe_empty({pipe.name})", lambda s: s[slot] == 0)


def _pipe_add(scratch: Scratch, pipe: PipeState, delta: int) -> None:
    scratch[pipe.count] = scratch[pipe.count] + delta


@operation(
    models="splice(2) file -> pipe: splice_file_to_pipe() -> do_splice_read() -> ->splice_read "
    "(fs/splice.c)",
    describe=lambda f, p, i: f"splice({f} page {i} -> {p})",
    cites=(
        Cite("fs/splice.c", "splice_file_to_pipe", "6.6"),
        Cite("fs/splice.c", "do_splice_read", "6.6"),
        Cite(
            "fs/xfs/xfs_file.c", "xfs_file_splice_read", "6.6", method="file_operations.splice_read"
        ),
        Cite("mm/filemap.c", "filemap_splice_read", "6.6"),
        Cite("mm/filemap.c", "splice_folio_into_pipe", "6.6"),
    ),
)
def splice_read(op: Op, spec: OpenFile, pipe_spec: Pipe, index: int) -> None:
    """splice(2) of page ``index`` of a file into a pipe, SPLICE_F_NONBLOCK:
    ``pipe_lock()``, -EAGAIN when the pipe is full, else ``->splice_read``
    with the pipe locked; the filesystem is XFS's shape
    (``xfs_file_splice_read()``: i_rwsem shared, the XFS IOLOCK, around
    ``filemap_splice_read()``, which gets the folio uptodate as read(2) does
    and puts it in a pipe buffer).  So the pipe mutex is taken before
    i_rwsem, as in ``iter_file_splice_write()``."""
    filp = _filp(op, spec)
    pipe = files(op.world).pipe(pipe_spec)
    inode = op.inode(spec.path)
    mapping = pagecache(op.world).attach(_cache(spec))
    page = mapping.page(index)
    op.lock(pipe.mutex, EXCL, "splice_file_to_pipe(): pipe_lock(opipe)", tag="pipe-lock")
    op.fail_if(
        _pipe_full(pipe),
        errno.EAGAIN,
        "unlock",
        "ret = wait_for_space(opipe, flags) /* SPLICE_F_NONBLOCK: -EAGAIN when full */",
    )
    op.enter(
        "file_operations.splice_read",
        label="do_splice_read(): return in->f_op->splice_read(in, ppos, pipe, len, flags)",
        roles={"file": filp, "inode": inode, "pipe": pipe},
    )
    op.lock(inode.i_rwsem, SHARED, "xfs_file_splice_read(): xfs_ilock(ip, XFS_IOLOCK_SHARED)")
    filemap_get_pages(op, mapping, page, ".splice")
    op.effect(
        "filemap_splice_read(): splice_folio_into_pipe(pipe, folio, *ppos, len)",
        _pipe_add,
        pipe,
        1,
    )
    put_folio(op, folio_ref(op, page))
    op.unlock(inode.i_rwsem, "xfs_iunlock(ip, XFS_IOLOCK_SHARED)")
    op.label("unlock")
    op.unlock(pipe.mutex, "pipe_unlock(opipe)", tag="pipe-lock")


@operation(
    models="splice(2) pipe -> file: do_splice_from() -> ->splice_write = iter_file_splice_write() "
    "-> ->write_iter (fs/splice.c)",
    describe=lambda p, f, i: f"splice({p} -> {f} page {i})",
    cites=(
        Cite("fs/splice.c", "do_splice", "6.12"),
        Cite("fs/splice.c", "do_splice_from", "6.12"),
        Cite(
            "fs/splice.c", "iter_file_splice_write", "6.12", method="file_operations.splice_write"
        ),
        Cite("fs/splice.c", "splice_from_pipe_next", "6.12"),
        *write.cites,
    ),
)
def splice_write(op: Op, pipe_spec: Pipe, spec: OpenFile, index: int) -> None:
    """splice(2) of one pipe buffer into page ``index`` of a file,
    SPLICE_F_NONBLOCK: ``do_splice()`` takes ``file_start_write(out)``
    first; ``->splice_write`` is ``iter_file_splice_write()``:
    ``pipe_lock()``, -EAGAIN when the pipe is empty
    (``splice_from_pipe_next()``), ``out->f_op->write_iter``
    (the shipped ``generic_perform_write()`` body without its own
    ``file_start_write()``: i_rwsem exclusive inside the pipe mutex), the
    buffer consumed, ``pipe_unlock()``.  Variant
    ``splice-write-inode-first`` takes i_rwsem before the pipe mutex (to
    strip the file's privileges first) and drops it once the pipe is
    locked."""
    filp = _filp(op, spec)
    pipe = files(op.world).pipe(pipe_spec)
    inode = op.inode(spec.path)
    mapping = pagecache(op.world).attach(_cache(spec))
    page = mapping.page(index)
    version = pagecache(op.world).add_write(op.thread.name, op.thread.pc, page)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(writers, SHARED, "do_splice(): file_start_write(out)", tag="sb-start-write")
    op.enter(
        "file_operations.splice_write",
        label="do_splice_from(): return out->f_op->splice_write(pipe, out, ppos, len, flags)",
        roles={"file": filp, "inode": inode, "pipe": pipe},
    )
    inode_first = op.variant(SPLICE_WRITE_INODE_FIRST)
    if inode_first:
        op.lock(inode.i_rwsem, EXCL, "inode_lock(inode) /* before the pipe, to strip privileges */")
    op.lock(pipe.mutex, EXCL, "iter_file_splice_write(): pipe_lock(pipe)", tag="pipe-lock")
    if inode_first:
        op.effect("file_remove_privs(out)", _nothing)
        op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.fail_if(
        _pipe_empty(pipe),
        errno.EAGAIN,
        "unlock",
        "ret = splice_from_pipe_next(pipe, &sd) /* SPLICE_F_NONBLOCK: -EAGAIN when empty */",
    )
    op.enter(
        "file_operations.write_iter",
        label="iter_file_splice_write(): ret = out->f_op->write_iter(&kiocb, &from)",
        roles={"file": filp, "inode": inode},
    )
    perform_write(op, mapping, page, inode, version, start_write=False)
    op.effect("pipe_buf_release(pipe, buf) /* the buffer consumed */", _pipe_add, pipe, -1)
    op.label("unlock")
    op.unlock(pipe.mutex, "pipe_unlock(pipe)", tag="pipe-lock")
    op.unlock(writers, "file_end_write(out)", tag="sb-start-write")


# --- file_modified() ---------------------------------------------------------------------


def _mark_modified(scratch: Scratch, slot: int) -> None:
    scratch[slot] = True


def file_modified(op: Op, file: str) -> None:
    """``file_modified(file)`` (fs/inode.c, Linux 6.6): ``file_remove_privs()``
    and ``file_update_time()`` -> ``inode_update_time()`` ->
    ``__mark_inode_dirty()``: the inode's new mtime and ctime join the
    filesystem's journal (ext4's ``->dirty_inode`` starts a handle, and
    ``ext4_journal_check_start()`` warns when one starts on a filesystem
    frozen SB_FREEZE_COMPLETE), metadata that ``->sync_fs`` and
    ``->freeze_fs`` commit (``mc.kernel.superblock.metadata_slot``).  Every
    call that changes a file's data or blocks through a struct file calls it
    under its ``file_start_write()`` (``ext4_fallocate()``,
    ``cifs_file_copychunk_range()``, ``__generic_remap_file_range_prep()``),
    so ``no-write-while-frozen`` sees a change made while the filesystem is
    frozen."""
    op.effect(
        f"file_modified({file}): file_update_time() -> __mark_inode_dirty(inode, I_DIRTY_SYNC)",
        _mark_modified,
        metadata_slot(op.world),
    )


# --- copy_file_range and remap ---------------------------------------------------------


def _copy_data(scratch: Scratch, source: Filp, target: Filp) -> int:
    scratch[target.data] = scratch[source.data]
    return 0


@attrs.frozen
class Copy:
    """A copy_file_range(2) or FICLONE of the scenario between two files
    with a page cache: the thread, its program counter (the call returned
    when it is DONE), the register of what it must copy (the newest data
    of each source page written by a write that had returned when it
    began) and the two mappings."""

    thread: str
    pc: int
    promised: int
    source: Mapping
    target: Mapping
    call: str


class Copies(list[Copy]):
    """The world part listing the scenario's copies between page caches."""


def copies(world: World) -> Copies:
    """The copies of ``world`` between files with a page cache."""
    part = world.parts.get(COPIES)
    if not isinstance(part, Copies):
        part = Copies()
        world.parts[COPIES] = part
    return part


def _caches(source_spec: OpenFile, target_spec: OpenFile) -> tuple[File, File] | None:
    """Both files' page caches, or None when neither has one (the data is
    then one version per file); one without the other is a model error."""
    if source_spec.cache is None and target_spec.cache is None:
        return None
    if source_spec.cache is None or target_spec.cache is None:
        raise ModelError(
            f"{source_spec.label} and {target_spec.label}: give both files a page cache or neither"
        )
    if source_spec.cache.pages != target_spec.cache.pages or (
        source_spec.cache.holes or target_spec.cache.holes
    ):
        raise ModelError(
            f"{source_spec.label} -> {target_spec.label}: the copy is of whole files of the same "
            "size without holes"
        )
    return source_spec.cache, target_spec.cache


def _begin_copy(op: Op, source: Mapping, target: Mapping, call: str) -> None:
    """Record the copy for ``copy-coherent``: what the source holds from
    the writes that returned before the call (a step of no kernel code)."""
    promised = op.register("copy promises", render_promise)
    copies(op.world).append(Copy(op.thread.name, op.thread.pc, promised, source, target, call))
    op.compute(
        "copy promises",
        f"/* {call} begins: the source's data is what it must copy */",
        promise,
        source,
        render=render_promise,
    )


def copy_coherent_check(world: World) -> Callable[[Any], str | None]:
    """The check of ``copy-coherent``: once a copy_file_range(2) or FICLONE
    between page caches returned, a buffered read of each destination page
    returns the source's data the call had to copy (the newest write to
    the source page that returned before the call began) or newer source
    data: its cached folio holds it, or, with none cached, its block;
    unless the destination page was stored to (or truncated) after it last
    held such data: another writer of the destination (a second copy into
    it, a write(2)), whose data may legitimately come last."""
    part = copies(world)
    cache = pagecache(world)

    def check(state: Any) -> str | None:
        for copy in part:
            if state[copy.pc] != DONE or state[ERROR_SLOT] is not None:
                continue
            for index, version in state[copy.promised] or ():
                source, target = copy.source.pages[index], copy.target.pages[index]
                history = state[source.history]
                newer = history[history.index(version) :]
                stored = state[target.history]
                held = [at for at, data in enumerate(stored) if data in newer]
                if held and held[-1] < len(stored) - 1:
                    continue
                folio = state[target.folio]
                if folio is not None and folio[1] & PG_UPTODATE:
                    got, where = folio[0], f"its cached folio {target} holds"
                else:
                    got, where = cache.on_device(state, target), f"the block of {target} holds"
                if {held for _, held in runs_of(got)} & set(newer):
                    continue
                return (
                    f"{copy.thread}'s {copy.call} returned, but {where} {cache.writer(got)}: "
                    f"{cache.writer(version)} to {source} had returned before the call began"
                )
        return None

    return check


@operation(
    models="copy_file_range(2) -> vfs_copy_file_range() -> ->copy_file_range (fs/read_write.c)",
    describe=lambda i, o: f"copy_file_range({i} -> {o})",
    cites=(
        Cite("fs/read_write.c", "vfs_copy_file_range", "6.6"),
        Cite(
            "fs/smb/client/cifsfs.c",
            "cifs_copy_file_range",
            "6.6",
            method="file_operations.copy_file_range",
        ),
        Cite("fs/smb/client/cifsfs.c", "cifs_file_copychunk_range", "6.6"),
        Cite("fs/inode.c", "lock_two_nondirectories", "6.6"),
        Cite("fs/inode.c", "unlock_two_nondirectories", "6.6"),
    ),
)
def copy_file_range(op: Op, source_spec: OpenFile, target_spec: OpenFile) -> None:
    """copy_file_range(2) within one filesystem: ``file_start_write(file_out)``
    around ``->copy_file_range``, here the SMB client's
    (``cifs_copy_file_range()`` -> ``cifs_file_copychunk_range()``):
    ``lock_two_nondirectories(target, src)``, by address (every order the scenario can observe), the
    server-side copy (the target's data becomes the source's), and
    ``unlock_two_nondirectories()``.  Left out: what the SMB client does
    to the page caches under both i_rwsem (``filemap_write_and_wait_range()``
    of the source, ``cifs_flush_folio()`` and
    ``truncate_inode_pages_range()`` of the target, ``truncate_setsize()``,
    ``file_accessed(src_file)``), so an ``OpenFile`` with a page cache
    (``cache=``) is refused here: ``copy_file_range_splice`` copies through
    the caches, and ``copy-coherent`` checks it."""
    for spec in (source_spec, target_spec):
        if spec.cache is not None:
            raise ModelError(
                f"copy_file_range({source_spec}, {target_spec}): {spec} has a page cache, and "
                "this operation's SMB server-side copy leaves out what cifs does to the caches "
                "(flush, truncation): give it OpenFile without cache=, or use "
                "copy_file_range_splice for a copy through the page cache"
            )
    source, target = _filp(op, source_spec), _filp(op, target_spec)
    src, dst = op.inode(source_spec.path), op.inode(target_spec.path)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers, SHARED, "vfs_copy_file_range(): file_start_write(file_out)", tag="sb-start-write"
    )
    op.enter(
        "file_operations.copy_file_range",
        label="ret = file_out->f_op->copy_file_range(file_in, pos_in, file_out, pos_out, len, 0)",
        roles={"file_in": source, "file_out": target, "inode_in": src, "inode_out": dst},
    )
    one_file = src.inode is dst.inode
    if one_file:
        op.lock(
            dst.i_rwsem,
            EXCL,
            "lock_two_nondirectories(target, src): inode_lock(inode1) /* inode2 == inode1 */",
            tag="lock-target",
        )
    else:
        lock_two_nondirectories(op, dst, src)
    file_modified(op, "dst_file")
    op.effect(
        "rc = target_tcon->ses->server->ops->copychunk_range(xid, src_file, dst_file, ...)",
        _copy_data,
        source,
        target,
    )
    if not one_file:
        op.unlock(
            src.i_rwsem, "unlock_two_nondirectories(src_inode, target_inode): inode_unlock(src)"
        )
    op.unlock(dst.i_rwsem, "inode_unlock(target)")
    op.unlock(writers, "file_end_write(file_out)", tag="sb-start-write")


def _write_and_wait(op: Op, mapping: Mapping, why: str) -> None:
    """``filemap_write_and_wait_range()`` over the whole file: WB_SYNC_ALL
    writeback of its dirty folios, then the wait for their I/O."""
    op.effect(f"filemap_write_and_wait_range({why}->i_mapping, pos, pos+*len-1)", _nothing)
    op.run(_writeback_and_wait, mapping)


def _writeback_and_wait(op: Op, mapping: Mapping) -> None:
    do_writepages(op, mapping, sync_all=True)
    fdatawait(op, mapping)


def _remap_blocks(scratch: Scratch, source: Mapping, target: Mapping) -> None:
    """``xfs_reflink_remap_blocks()``: each destination page maps the
    source page's block; the model gives the destination's block the data
    the source's block holds (sharing the block itself, and copy-on-write
    of a later write, are left out)."""
    cache = pagecache(scratch.world)
    device = cache.device
    assert device is not None
    for source_page, target_page in zip(source.pages, target.pages, strict=True):
        data = cache.on_device(scratch.values, source_page)
        get_block(scratch, target_page)
        scratch[device.blocks[scratch[target_page.block]]] = data
        scratch[target_page.history] = (*scratch[target_page.history], data)


def _flush_through_caches(op: Op, source_cache: File, target_cache: File) -> None:
    """The page-cache half of XFS's ``xfs_reflink_remap_prep()``, with both
    i_rwsem and both invalidate_locks held exclusive (so no folio enters
    either cache meanwhile): ``generic_remap_file_range_prep()`` waits for
    direct I/O on both files (``inode_dio_wait()``) and writes back and
    waits on both ranges (``filemap_write_and_wait_range()``);
    ``xfs_flush_unmap_range()`` drops the destination's range from its
    page cache (``truncate_pagecache_range()``; its own
    ``filemap_write_and_wait_range()`` finds the range clean, both locks
    held since the first, and is that one).  Variant
    ``remap-skips-writeback`` leaves the source's dirty folios unwritten
    (the clone takes what the blocks held before them); variant
    ``remap-skips-dest-invalidate`` leaves the destination's folios cached
    over the blocks the clone replaces."""
    source = op.mapping(source_cache)
    target, mm, _inode = file_parts(op, target_cache)
    inode_dio_wait(op, source, "/* generic_remap_file_range_prep(): inode_in */")
    inode_dio_wait(op, target, "/* if (!same_inode) inode_dio_wait(inode_out) */")
    if not op.variant(REMAP_SKIPS_WRITEBACK):
        _write_and_wait(op, source, "inode_in")
    _write_and_wait(op, target, "inode_out")
    file_modified(op, "file_out")
    if not op.variant(REMAP_SKIPS_DEST_INVALIDATE):
        op.effect(
            "xfs_flush_unmap_range(dest, pos_out, *len): "
            "truncate_pagecache_range(inode, start, end)",
            _nothing,
        )
        for page in target.pages:
            truncate_folio(op, mm, target, page)


def _lock_two(op: Op, io1: Any, io2: Any, inval1: Any, inval2: Any, *, order: str) -> None:
    """``xfs_ilock2_io_mmap()`` with its inodes already ordered: both
    i_rwsem, then both invalidate_locks, the first inode's first."""
    op.lock(io1, EXCL, f"inode_lock(VFS_I(ip1)) {order}".rstrip(), tag="remap-lock")
    op.lock(io2, EXCL, "inode_lock_nested(VFS_I(ip2), I_MUTEX_NONDIR2)", tag="remap-lock")
    op.lock(inval1, EXCL, "filemap_invalidate_lock_two(): filemap_invalidate_lock(mapping1)")
    op.lock(inval2, EXCL, "filemap_invalidate_lock_nested(mapping2, 1)")


@operation(
    models="ioctl(FICLONE) -> vfs_clone_file_range() -> ->remap_file_range (fs/remap_range.c)",
    describe=lambda i, o: f"ioctl({o}, FICLONE, {i})",
    cites=(
        Cite("fs/ioctl.c", "ioctl_file_clone", "6.12"),
        Cite("fs/remap_range.c", "vfs_clone_file_range", "6.12"),
        Cite(
            "fs/xfs/xfs_file.c",
            "xfs_file_remap_range",
            "6.12",
            method="file_operations.remap_file_range",
        ),
        Cite("fs/xfs/xfs_reflink.c", "xfs_reflink_remap_prep", "6.12"),
        Cite("fs/xfs/xfs_inode.c", "xfs_ilock2_io_mmap", "6.12"),
        Cite("fs/xfs/xfs_inode.c", "xfs_iolock_two_inodes_and_break_layout", "6.12"),
        Cite("mm/filemap.c", "filemap_invalidate_lock_two", "6.12"),
        Cite("fs/remap_range.c", "generic_remap_file_range_prep", "6.12"),
        Cite("fs/remap_range.c", "__generic_remap_file_range_prep", "6.12"),
        Cite("fs/xfs/xfs_inode.c", "xfs_ilock_demote", "6.12"),
        Cite("fs/xfs/xfs_inode.c", "xfs_iunlock2_remapping", "6.12"),
    ),
)
def remap(op: Op, source_spec: OpenFile, target_spec: OpenFile) -> None:
    """FICLONE (reflink) of one file onto another: ``file_start_write(file_out)``
    around ``->remap_file_range``, XFS's: ``xfs_ilock2_io_mmap()`` takes
    both i_rwsem (``xfs_iolock_two_inodes_and_break_layout()``: ``if (src >
    dest) swap(src, dest)``, by address) and both invalidate_locks
    (``filemap_invalidate_lock_two()``, by the mappings' addresses, which
    follow the inodes' that embed them) exclusive; once the ranges are
    flushed, ``xfs_reflink_remap_prep()`` demotes the source's two to
    shared (``xfs_ilock_demote()``, since 6.7's "xfs: allow read IO and
    FICLONE to run concurrently", in 6.6.y and 6.1.y stable too), so reads
    and faults of the source go on while the extents are shared (the
    target's data becomes the source's); ``xfs_iunlock2_remapping()``
    releases them.  Variant
    ``remap-argument-order`` locks in argument order (source, then
    target).  Left out: ``XFS_IREMAPPING``, which sends a writer holding
    the source's locks shared (a direct write, ``xfs_ilock_for_iomap()``)
    to retake them exclusive, and ``xfs_reflink_update_dest()``."""
    source, target = _filp(op, source_spec), _filp(op, target_spec)
    src, dst = op.inode(source_spec.path), op.inode(target_spec.path)
    part = files(op.world)
    caches = _caches(source_spec, target_spec)
    if caches is not None:
        _begin_copy(op, op.mapping(caches[0]), op.mapping(caches[1]), "FICLONE")
    src_invalidate = part.invalidate_lock(source_spec.path)
    dst_invalidate = part.invalidate_lock(target_spec.path)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers, SHARED, "vfs_clone_file_range(): file_start_write(file_out)", tag="sb-start-write"
    )
    op.enter(
        "file_operations.remap_file_range",
        label="ret = file_in->f_op->remap_file_range(file_in, pos_in, file_out, pos_out, len, 0)",
        roles={"file_in": source, "file_out": target, "inode_in": src, "inode_out": dst},
    )
    forward = (src.i_rwsem, dst.i_rwsem, src_invalidate, dst_invalidate)
    swapped = (dst.i_rwsem, src.i_rwsem, dst_invalidate, src_invalidate)
    one_file = src.inode is dst.inode
    if one_file:
        if caches is not None:
            raise ModelError(
                f"remap of {source_spec.path} onto itself through its page cache is not modelled "
                "(clone within one file without cache=)"
            )
        op.lock(src.i_rwsem, EXCL, "inode_lock(VFS_I(ip1)) /* src == dest */", tag="remap-lock")
        op.lock(
            src_invalidate,
            EXCL,
            "filemap_invalidate_lock_two(): filemap_invalidate_lock(mapping1) /* one mapping */",
        )
    elif op.variant(REMAP_ARGUMENT_ORDER):
        _lock_two(op, *forward, order="/* in argument order */")
    else:
        first = address_below(op, "src_first", "if (src > dest) swap(src, dest)", src, dst)
        with op.when(same(first, const(True)), "if (src < dest) /* by address */"):
            _lock_two(op, *forward, order="")
        with op.otherwise():
            _lock_two(op, *swapped, order="/* swapped */")
    if caches is None:
        file_modified(op, "file_out")
    else:
        _flush_through_caches(op, *caches)
    if not one_file:
        op.downgrade(
            src_invalidate,
            "xfs_reflink_remap_prep(): xfs_iflags_set(src, XFS_IREMAPPING); "
            "xfs_ilock_demote(src, XFS_IOLOCK_EXCL | XFS_MMAPLOCK_EXCL): "
            "downgrade_write(&VFS_I(ip)->i_mapping->invalidate_lock)",
        )
        op.downgrade(src.i_rwsem, "xfs_ilock_demote(): downgrade_write(&VFS_I(ip)->i_rwsem)")
    remapped = "xfs_reflink_remap_blocks(src, pos_in, dest, pos_out, len, &remapped)"
    if caches is None:
        op.effect(remapped, _copy_data, source, target)
    else:
        op.effect(remapped, _remap_blocks, op.mapping(caches[0]), op.mapping(caches[1]))
    if one_file:
        op.unlock(src_invalidate, "xfs_iunlock2_remapping(): xfs_iunlock(ip2, XFS_MMAPLOCK_EXCL)")
        op.unlock(src.i_rwsem, "inode_unlock(VFS_I(ip2))")
    else:
        op.unlock(src_invalidate, "xfs_iunlock2_remapping(): xfs_iunlock(ip1, XFS_MMAPLOCK_SHARED)")
        op.unlock(dst_invalidate, "xfs_iunlock(ip2, XFS_MMAPLOCK_EXCL)")
        op.unlock(src.i_rwsem, "inode_unlock_shared(VFS_I(ip1))")
        op.unlock(dst.i_rwsem, "inode_unlock(VFS_I(ip2))")
    op.unlock(writers, "file_end_write(file_out)", tag="sb-start-write")


def _spliced(scratch: Scratch, page: Page) -> Any:
    folio = scratch[page.folio]
    return None if folio is None else folio[0]


def _store_spliced(scratch: Scratch, page: Page, slot: int) -> None:
    store_data(scratch, page, scratch[slot])


def _copy_spliced(slot: int) -> Callable[[Op, Page], None]:
    def copy(op: Op, page: Page) -> None:
        op.effect(
            "copied = copy_page_from_iter(buf->page, ...) /* the data spliced from file_in */",
            _store_spliced,
            page,
            slot,
        )

    return copy


@operation(
    models="copy_file_range(2) without ->copy_file_range or ->remap_file_range: "
    "vfs_copy_file_range() -> do_splice_direct() (fs/read_write.c, fs/splice.c)",
    describe=lambda i, o: f"copy_file_range({i} -> {o}) /* splice */",
    cites=(
        Cite("fs/read_write.c", "vfs_copy_file_range", "6.12"),
        Cite("fs/splice.c", "do_splice_direct", "6.12"),
        Cite("fs/splice.c", "splice_direct_to_actor", "6.12"),
        Cite("fs/splice.c", "direct_splice_actor", "6.12"),
        Cite("fs/splice.c", "do_splice_read", "6.12"),
        Cite("fs/splice.c", "do_splice_from", "6.12"),
        Cite(
            "fs/ext4/file.c", "ext4_file_splice_read", "6.12", method="file_operations.splice_read"
        ),
        Cite("mm/filemap.c", "filemap_splice_read", "6.12"),
        Cite(
            "fs/splice.c", "iter_file_splice_write", "6.12", method="file_operations.splice_write"
        ),
        Cite("mm/filemap.c", "generic_perform_write", "6.12"),
    ),
)
def copy_file_range_splice(op: Op, source_spec: OpenFile, target_spec: OpenFile) -> None:
    """copy_file_range(2) between two files with a page cache on a
    filesystem without ``->copy_file_range`` and ``->remap_file_range``
    (ext4's shape), as Linux 6.12 makes it: ``vfs_copy_file_range()`` takes
    ``file_start_write(file_out)``, finds no method to call, drops it
    (``file_end_write()``) and falls back to ``do_splice_direct()``: for
    each page, ``splice_direct_to_actor()`` reads the source's folio into
    the task's own pipe (``->splice_read`` = ``filemap_splice_read()``, no
    inode lock: the folio is got uptodate as read(2) gets it), then
    ``direct_splice_actor()`` takes ``file_start_write(file)`` around
    ``do_splice_from()`` -> ``->splice_write`` = ``iter_file_splice_write()``:
    ``pipe_lock()`` of that pipe, then ``out->f_op->write_iter`` (the
    shipped ``generic_perform_write()`` body, i_rwsem exclusive) copies the
    spliced data into the destination's folio.  Before 6.7 (da40448ce4eb
    "fs: move file_start_write() into direct_splice_actor()") the freeze
    protection was held across the whole splice, the source's reads
    included.  Left out: the pipe's buffers (one page moves at a time),
    short copies, ``->splice_eof``."""
    caches = _caches(source_spec, target_spec)
    if caches is None:
        raise ModelError("copy_file_range through splice needs two files with a page cache")
    source_filp, target_filp = _filp(op, source_spec), _filp(op, target_spec)
    source, target = op.mapping(caches[0]), op.mapping(caches[1])
    src, dst = op.inode(source_spec.path), op.inode(target_spec.path)
    pipe = files(op.world).pipe(Pipe(f"splice_pipe({op.thread.name})", buffers=0, size=1))
    _begin_copy(op, source, target, "copy_file_range(2)")
    spliced = op.register("spliced", render_version)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(
        writers, SHARED, "vfs_copy_file_range(): file_start_write(file_out)", tag="sb-start-write"
    )
    op.unlock(
        writers,
        "else if (samesb) splice = true; /* no method */ file_end_write(file_out)",
        tag="sb-start-write",
    )
    for source_page, target_page in zip(source.pages, target.pages, strict=True):
        at = f".copy{source_page.index}"
        op.enter(
            "file_operations.splice_read",
            label="splice_direct_to_actor(): ret = do_splice_read(in, &pos, pipe, len, flags): "
            "in->f_op->splice_read(in, ppos, pipe, len, flags)",
            roles={"file": source_filp, "inode": src, "pipe": pipe},
        )
        filemap_get_pages(op, source, source_page, at)
        op.compute(
            "spliced",
            "filemap_splice_read(): splice_folio_into_pipe(pipe, folio, *ppos, len)",
            _spliced,
            source_page,
            render=render_version,
        )
        put_folio(op, folio_ref(op, source_page))
        op.lock(
            writers, SHARED, "direct_splice_actor(): file_start_write(file)", tag="sb-start-write"
        )
        op.enter(
            "file_operations.splice_write",
            label="direct_splice_actor(): do_splice_from(pipe, file, sd->opos, sd->total_len, "
            "sd->flags): out->f_op->splice_write(pipe, out, ppos, len, flags)",
            roles={"file": target_filp, "inode": dst, "pipe": pipe},
        )
        op.lock(pipe.mutex, EXCL, "iter_file_splice_write(): pipe_lock(pipe)", tag="pipe-lock")
        op.enter(
            "file_operations.write_iter",
            label="iter_file_splice_write(): ret = out->f_op->write_iter(&kiocb, &from)",
            roles={"file": target_filp, "inode": dst},
        )
        perform_write(
            op, target, target_page, dst, 0, start_write=False, copy=_copy_spliced(spliced)
        )
        op.unlock(pipe.mutex, "pipe_unlock(pipe)", tag="pipe-lock")
        op.unlock(writers, "direct_splice_actor(): file_end_write(file)", tag="sb-start-write")


# --- fallocate ------------------------------------------------------------------------

FALLOC_FL_KEEP_SIZE = "FALLOC_FL_KEEP_SIZE"
FALLOC_FL_PUNCH_HOLE = "FALLOC_FL_PUNCH_HOLE"
FALLOC_ALLOCATE = "0"
FALLOCATE_MODES = (FALLOC_ALLOCATE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE)


@operation(
    models="fallocate(2) -> vfs_fallocate() -> ->fallocate = ext4_fallocate() (fs/open.c, "
    "fs/ext4/extents.c)",
    describe=lambda f, mode, i: f"fallocate({f}, {mode}, page {i})",
    cites=(
        Cite("fs/open.c", "ksys_fallocate", "6.6"),
        Cite("fs/open.c", "vfs_fallocate", "6.6"),
        Cite("fs/ext4/extents.c", "ext4_fallocate", "6.6", method="file_operations.fallocate"),
        Cite("fs/ext4/extents.c", "ext4_alloc_file_blocks", "6.6"),
    ),
)
def fallocate(op: Op, spec: OpenFile, mode: str, index: int) -> None:
    """fallocate(2) of page ``index`` through a struct file: with
    FALLOC_FL_PUNCH_HOLE (| KEEP_SIZE) the shipped ``punch_hole`` (invalidate_lock
    exclusive, the page cache truncated); with mode 0 or FALLOC_FL_KEEP_SIZE
    ``vfs_fallocate()``'s ``file_start_write()``, then ext4's
    ``ext4_fallocate()`` of 6.6 (the same in 6.12): i_rwsem exclusive
    around ``ext4_convert_inline_data()`` (the file has no inline data),
    then i_rwsem exclusive again, ``inode_dio_wait()``, ``file_modified()``
    and ``ext4_alloc_file_blocks()`` over a range already allocated, which
    maps nothing new (allocating a hole, an unwritten extent, is not
    modelled: a model error).  Left out: the jbd2 handles started under
    i_rwsem, ``ext4_alloc_file_blocks()``'s for each chunk and
    ``file_modified()`` -> ``ext4_dirty_inode()``'s (the journal's
    operations, ``mc.models.journal``, take handles under i_rwsem)."""
    if mode not in FALLOCATE_MODES:
        raise ModelError(f"fallocate mode {mode!r} is not modelled (modes: {FALLOCATE_MODES})")
    cache = _cache(spec)
    if mode == FALLOC_FL_PUNCH_HOLE:
        op.run(punch_hole, cache, index * PAGE_SIZE, PAGE_SIZE)
        return
    if index in cache.holes or index >= cache.pages:
        raise ModelError(f"fallocate of page {index} of {spec.path}: allocating is not modelled")
    filp = _filp(op, spec)
    inode = op.inode(spec.path)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(writers, SHARED, "vfs_fallocate(): file_start_write(file)", tag="sb-start-write")
    op.enter(
        "file_operations.fallocate",
        label=f"ret = file->f_op->fallocate(file, {mode}, offset, len)",
        roles={"file": filp, "inode": inode},
    )
    op.lock(inode.i_rwsem, EXCL, "ext4_fallocate(): inode_lock(inode)")
    op.effect("ret = ext4_convert_inline_data(inode) /* no inline data */", _nothing)
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.lock(inode.i_rwsem, EXCL, "inode_lock(inode) /* allocate the range */")
    inode_dio_wait(op, op.mapping(cache), "/* ext4_fallocate() */")
    file_modified(op, "file")
    op.effect(
        "ret = ext4_alloc_file_blocks(file, lblk, len_lblk, new_size, flags) "
        "/* the range is allocated: nothing new to map */",
        _nothing,
    )
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.unlock(writers, "file_end_write(file)", tag="sb-start-write")


# --- open, fcntl, close ----------------------------------------------------------------


FCNTL_VERSION = "6.17-rc3 (Kingxukai/linux 9b44fff6)"
FASYNC_ENTRY_LOCKS = ("write_lock_irq", "write_unlock_irq")
FASYNC_ENTRY_BECAUSE = (
    "fa_lock, an rwlock_t of one fasync entry, is taken only of an entry of this file "
    "already on the list and guards it against kill_fasync(), which no thread runs"
)


@touches(lambda _world, filp, _on: ((), (filp.fasync,)))
def _set_fasync(scratch: Scratch, filp: Filp, on: bool) -> int:
    scratch[filp.fasync] = on
    return 0


def _ok(_scratch: Scratch, *_args: object) -> int:
    return 0


def fasync_insert_entry(op: Op, filp: Filp, caller: str) -> None:
    """``fasync_insert_entry()`` (fs/fcntl.c, read in 6.17-rc3: Kingxukai/linux
    9b44fff6), called by ``caller``: ``filp->f_lock``, then the global
    ``fasync_lock``; the entry goes on the list and FASYNC into ``f_flags``;
    both dropped.  An entry of the same file already on the list is
    updated under its ``fa_lock`` instead (left out: ``FASYNC_ENTRY_BECAUSE``)."""
    _fasync_list(op, filp, f"{caller}: fasync_insert_entry()", True)


def fasync_remove_entry(op: Op, filp: Filp, caller: str) -> None:
    """``fasync_remove_entry()`` (fs/fcntl.c, as :func:`fasync_insert_entry`),
    called by ``caller``: ``filp->f_lock``, then ``fasync_lock``, taken
    whether or not the file has an entry; the file's entry unlinked (under
    its ``fa_lock``, left out) and FASYNC cleared; both dropped."""
    _fasync_list(op, filp, f"{caller}: fasync_remove_entry()", False)


def _fasync_list(op: Op, filp: Filp, where: str, on: bool) -> None:
    fasync_lock = files(op.world).fasync_lock
    op.lock(filp.f_lock, EXCL, f"{where}: spin_lock(&filp->f_lock)")
    op.lock(fasync_lock, EXCL, "spin_lock(&fasync_lock)")
    op.effect(
        "new->fa_next = *fapp; rcu_assign_pointer(*fapp, new); filp->f_flags |= FASYNC"
        if on
        else "*fp = fa->fa_next; kfree_rcu(fa, fa_rcu); filp->f_flags &= ~FASYNC",
        _set_fasync,
        filp,
        on,
    )
    op.unlock(fasync_lock, "spin_unlock(&fasync_lock)")
    op.unlock(filp.f_lock, "spin_unlock(&filp->f_lock)")


@operation(
    models="open(2) -> do_dentry_open() -> ->open; fcntl(F_SETFL, O_ASYNC) -> setfl() -> "
    "->check_flags, ->fasync; close(2) -> filp_close() -> ->flush; __fput() -> ->fasync, "
    "->release (fs/open.c, fs/fcntl.c, fs/file_table.c)",
    describe=lambda f: f"open({f}); fcntl(F_SETFL, O_ASYNC); close()",
    cites=(
        Cite(
            "fs/open.c",
            "do_dentry_open",
            "6.17-rc3 (Kingxukai/linux 9b44fff6)",
            method="file_operations.open",
            leaves_out=("filemap_invalidate_lock", "filemap_invalidate_unlock"),
            because="no large folios in the file's page cache (filemap_nr_thps() is 0), so "
            "an open for writing drops no page cache",
        ),
        Cite("fs/fcntl.c", "setfl", FCNTL_VERSION, method="file_operations.check_flags"),
        Cite("fs/fcntl.c", "fasync_helper", FCNTL_VERSION, method="file_operations.fasync"),
        Cite(
            "fs/fcntl.c",
            "fasync_insert_entry",
            FCNTL_VERSION,
            leaves_out=FASYNC_ENTRY_LOCKS,
            because=FASYNC_ENTRY_BECAUSE,
        ),
        Cite(
            "fs/fcntl.c",
            "fasync_remove_entry",
            FCNTL_VERSION,
            leaves_out=FASYNC_ENTRY_LOCKS,
            because=FASYNC_ENTRY_BECAUSE,
        ),
        Cite(
            "fs/open.c",
            "filp_close",
            "6.17-rc3 (Kingxukai/linux 9b44fff6)",
            method="file_operations.flush",
            leaves_out=("file_operations.lock",),
            because="filp_flush()'s locks_remove_posix() asks ->lock only of a filesystem "
            "that has one",
        ),
        Cite("fs/file_table.c", "__fput", FCNTL_VERSION, method="file_operations.release"),
    ),
)
def open_setfl_close(op: Op, spec: OpenFile) -> None:
    """A file's life in one process: open(2) (``do_dentry_open()``: the
    file's operations, FMODE_ATOMIC_POS, ``->open``), fcntl(F_SETFL,
    O_ASYNC) (``setfl()``: ``->check_flags``, ``->fasync`` for the FASYNC
    change, then ``f_flags`` under ``file->f_lock``), close(2)
    (``filp_close()``: ``->flush``) and the last ``fput()``'s
    ``__fput()``: ``->fasync(-1, file, 0)`` for a FASYNC file, ``->release``.
    None of them is called with a VFS lock held.

    ``setfl()``, ``fasync_helper()`` and ``__fput()`` were read in 6.17-rc3
    (Kingxukai/linux, fs/fcntl.c and fs/file_table.c at 9b44fff6): ``setfl()``
    calls ->check_flags and ->fasync with no lock and takes ``filp->f_lock``
    only around the ``f_flags`` update; the FASYNC bit is set and cleared by
    ->fasync itself: ``fasync_helper()``'s ``fasync_insert_entry()`` and
    ``fasync_remove_entry()`` take ``filp->f_lock``, then the global
    ``fasync_lock`` (:func:`fasync_insert_entry`), and an entry's
    ``fa_lock`` (left out: no ``kill_fasync()`` reader).  ``__fput()`` calls
    ``locks_remove_file()`` before ->fasync and ->release (left out here:
    ``filelock/`` models it), and ``eventpoll_release()`` and the fsnotify
    hooks (left out).

    ``do_dentry_open()`` and ``filp_close()`` were read again in 6.17-rc3
    (Kingxukai/linux, fs/open.c at 9b44fff6): ``->open`` is called through
    the local ``open`` pointer (``open = f->f_op->open``) after
    ``file_get_write_access()``, ``security_file_open()``, fsnotify's
    permission hook and ``break_lease()``; an open for writing of a file
    with large folios in its page cache then drops them under
    ``filemap_invalidate_lock()`` (left out: the model's files have none);
    ``filp_close()`` calls ->flush through ``filp_flush()``, which also
    removes the process's POSIX locks (``locks_remove_posix()``), and
    close(2) calls ``filp_flush()`` itself.  Left out: the leases
    ``break_lease()`` breaks (the file has none here: ``filelock/`` models
    them), the ``fsnotify`` hooks, O_PATH and O_DIRECT checks.  The thread
    opens the struct file, so two threads of a scenario cannot both run
    this operation on one ``OpenFile`` (a model error)."""
    opener = op.world.parts.setdefault(OPENERS, {}).setdefault(spec.label, op.thread.name)
    if opener != op.thread.name:
        raise ModelError(
            f"{op.thread.name} and {opener} both open {spec} with open_setfl_close(): each "
            "open(2) makes a struct file of its own, so give each thread an OpenFile with a "
            "name of its own (OpenFile(path, name=...))"
        )
    filp = _filp(op, spec)
    inode = op.inode(spec.path)
    roles = {"file": filp, "inode": inode}
    op.call(
        "file_operations.open",
        _ok,
        label="do_dentry_open(): error = f->f_op->open(inode, f)",
        roles=roles,
    )
    op.call(
        "file_operations.check_flags",
        _ok,
        label="setfl(): if (filp->f_op->check_flags) error = filp->f_op->check_flags(arg)",
        roles=roles,
    )
    op.enter(
        "file_operations.fasync",
        label="if (((arg ^ filp->f_flags) & FASYNC) && filp->f_op->fasync) "
        "error = filp->f_op->fasync(fd, filp, (arg & FASYNC) != 0)",
        roles=roles,
    )
    fasync_insert_entry(op, filp, "fasync_helper()")
    op.section(
        filp.f_lock,
        "spin_lock(&filp->f_lock); filp->f_flags = (arg & SETFL_MASK) | ...; "
        "spin_unlock(&filp->f_lock)",
        _nothing,
    )
    op.call(
        "file_operations.flush",
        _ok,
        label="filp_close(): if (filp->f_op->flush) retval = filp->f_op->flush(filp, id)",
        roles=roles,
    )
    with op.when(_fasync_set(filp), "__fput(): if (unlikely(file->f_flags & FASYNC))"):
        op.enter(
            "file_operations.fasync",
            label="if (file->f_op->fasync) file->f_op->fasync(-1, file, 0)",
            roles=roles,
        )
        fasync_remove_entry(op, filp, "fasync_helper()")
    op.call(
        "file_operations.release",
        _ok,
        label="if (file->f_op->release) file->f_op->release(inode, file)",
        roles=roles,
    )


def _fasync_set(filp: Filp) -> Expr:
    slot = filp.fasync
    return state_expr(f"FASYNC in f_flags({filp})", lambda s: bool(s[slot]))


# --- ioctl, poll, file locks, fadvise, fdinfo ------------------------------------------


@operation(
    models="ioctl(2) -> vfs_ioctl() -> ->unlocked_ioctl; the 32-bit compat_sys_ioctl() -> "
    "->compat_ioctl (fs/ioctl.c)",
    describe=lambda f, compat: f"ioctl({f}){' from a 32-bit task' if compat else ''}",
    cites=(
        Cite("fs/ioctl.c", "vfs_ioctl", "6.6", method="file_operations.unlocked_ioctl"),
        Cite("fs/ioctl.c", "__do_compat_sys_ioctl", "6.6", method="file_operations.compat_ioctl"),
    ),
)
def ioctl(op: Op, spec: OpenFile, compat: bool) -> None:
    """An ioctl(2) the VFS does not handle itself (``do_vfs_ioctl()``
    returns -ENOIOCTLCMD): ``->unlocked_ioctl``, or from a 32-bit task
    ``->compat_ioctl``; no VFS lock is held."""
    filp = _filp(op, spec)
    roles = {"file": filp, "inode": op.inode(spec.path)}
    op.effect("error = do_vfs_ioctl(f.file, fd, cmd, arg) /* -ENOIOCTLCMD */", _nothing)
    if compat:
        op.call(
            "file_operations.compat_ioctl",
            _ok,
            label="if (f.file->f_op->compat_ioctl) error = f.file->f_op->compat_ioctl(f.file, "
            "cmd, arg)",
            roles=roles,
        )
    else:
        op.call(
            "file_operations.unlocked_ioctl",
            _ok,
            label="vfs_ioctl(): error = filp->f_op->unlocked_ioctl(filp, cmd, arg)",
            roles=roles,
        )


@operation(
    models="poll(2) -> do_sys_poll() -> do_pollfd() -> vfs_poll() -> ->poll (fs/select.c)",
    describe=lambda f: f"poll({f})",
    cites=(
        Cite("fs/select.c", "do_pollfd", "6.6", method="file_operations.poll"),
        Cite("fs/select.c", "do_sys_poll", "6.6"),
    ),
)
def poll(op: Op, spec: OpenFile) -> None:
    """poll(2) of one file: ``vfs_poll()`` -> ``->poll``, no VFS lock held
    (the model leaves out the wait queue and the sleep until ready)."""
    filp = _filp(op, spec)
    op.call(
        "file_operations.poll",
        _ok,
        label="mask = vfs_poll(f.file, pwait): file->f_op->poll(file, pt)",
        roles={"file": filp, "inode": op.inode(spec.path)},
    )


@operation(
    models="flock(2) -> ->flock; fcntl(F_SETLK) -> vfs_lock_file() -> ->lock; "
    "fcntl(F_SETLEASE) -> vfs_setlease() -> ->setlease (fs/locks.c)",
    describe=lambda f: f"flock({f}); fcntl(F_SETLK); fcntl(F_SETLEASE)",
    cites=(
        Cite("fs/locks.c", "__do_sys_flock", "6.6", method="file_operations.flock"),
        Cite("fs/locks.c", "vfs_lock_file", "6.6", method="file_operations.lock"),
        Cite("fs/locks.c", "vfs_setlease", "6.6", method="file_operations.setlease"),
    ),
)
def file_locks(op: Op, spec: OpenFile) -> None:
    """The entries of the three file-lock system calls into a filesystem
    that implements them (a network filesystem: NFS's ``nfs_flock()``,
    ``nfs_lock()``, ``nfs4_setlease()``): each method is called with no VFS
    lock held (the lock lists, ``flc_lock`` and ``blocked_lock_lock`` they
    then take are ``file_lock_operations``' and ``lock_manager_operations``'
    and not modelled here)."""
    filp = _filp(op, spec)
    roles = {"file": filp, "inode": op.inode(spec.path)}
    op.call(
        "file_operations.flock",
        _ok,
        label="flock(2): if (f.file->f_op->flock) error = f.file->f_op->flock(f.file, "
        "F_SETLKW, &fl)",
        roles=roles,
    )
    op.call(
        "file_operations.lock",
        _ok,
        label="vfs_lock_file(): if (filp->f_op->lock) return filp->f_op->lock(filp, cmd, fl)",
        roles=roles,
    )
    op.call(
        "file_operations.setlease",
        _ok,
        label="vfs_setlease(): if (filp->f_op->setlease) return filp->f_op->setlease(filp, "
        "arg, lease, priv)",
        roles=roles,
    )


@operation(
    models="posix_fadvise(2) -> vfs_fadvise() -> ->fadvise = xfs_file_fadvise() -> "
    "generic_fadvise(POSIX_FADV_WILLNEED) (mm/fadvise.c)",
    describe=lambda f, i: f"posix_fadvise({f}, page {i}, WILLNEED)",
    cites=(
        Cite("mm/fadvise.c", "ksys_fadvise64_64", "6.6"),
        Cite("mm/fadvise.c", "vfs_fadvise", "6.6"),
        Cite("fs/xfs/xfs_file.c", "xfs_file_fadvise", "6.6", method="file_operations.fadvise"),
        Cite("mm/fadvise.c", "generic_fadvise", "6.6"),
        Cite("mm/readahead.c", "force_page_cache_ra", "6.6"),
    ),
)
def fadvise(op: Op, spec: OpenFile, index: int) -> None:
    """posix_fadvise(POSIX_FADV_WILLNEED) of page ``index``: XFS's
    ``->fadvise`` takes i_rwsem shared (the IOLOCK) around
    ``generic_fadvise()``, which reads the page ahead (the shipped
    ``page_cache_ra_unbounded()`` steps: invalidate_lock shared,
    ``->readahead``)."""
    filp = _filp(op, spec)
    inode = op.inode(spec.path)
    mapping = pagecache(op.world).attach(_cache(spec))
    op.enter(
        "file_operations.fadvise",
        label="vfs_fadvise(): return file->f_op->fadvise(file, offset, len, advice)",
        roles={"file": filp, "inode": inode},
    )
    op.lock(inode.i_rwsem, SHARED, "xfs_file_fadvise(): xfs_ilock(ip, XFS_IOLOCK_SHARED)")
    readahead_page(op, mapping, mapping.pages[index], ".fadvise")
    op.unlock(inode.i_rwsem, "xfs_iunlock(ip, XFS_IOLOCK_SHARED)")


@operation(
    models="read(/proc/PID/fdinfo/N) -> seq_show() -> ->show_fdinfo (fs/proc/fd.c)",
    describe=lambda f: f"cat /proc/self/fdinfo/{f}",
    cites=(Cite("fs/proc/fd.c", "seq_show", "6.6", method="file_operations.show_fdinfo"),),
)
def show_fdinfo(op: Op, spec: OpenFile) -> None:
    """Reading a file's fdinfo: ``seq_show()`` prints ``pos`` (``f_pos``,
    read without ``f_pos_lock``) and ``flags``, then calls
    ``->show_fdinfo`` with no VFS lock of the file held.  Left out: the
    seq_file's ``m->lock`` around it and ``show_fd_locks()`` (each
    lock under ``flc_lock``) before it."""
    filp = _filp(op, spec)
    op.compute("pos", 'seq_printf(m, "pos:\\t%lli\\n", (long long)file->f_pos)', _read_pos, filp)
    op.call(
        "file_operations.show_fdinfo",
        _ok,
        label="if (file->f_op->show_fdinfo) file->f_op->show_fdinfo(m, file)",
        roles={"file": filp, "inode": op.inode(spec.path)},
    )
