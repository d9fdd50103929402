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
``copy_file_range`` and ``remap`` have no page cache in the model (a
scenario has one file with a page cache): their data is one version per
file that the copy moves.

Read: the stored torvalds/linux trees of the search index: fs/read_write.c
of 4.15 (the sys_read/sys_write/do_readv/do_preadv bodies that 6.6 keeps
as ksys_read()/ksys_write()); fs/remap_range.c of 6.6 (mnt_idmap), whose
vfs_clone_file_range() takes file_start_write(file_out) around
do_clone_file_range() -> ->remap_file_range; fs/file.c's fdget_pos() and
file_needs_f_pos_lock() (and the 6.6 __fdget_pos() they replaced); fs/splice.c's
do_splice(), which takes file_start_write(out) before do_splice_from();
XFS's xfs_iolock_two_inodes_and_break_layout() and xfs_ilock2_io_mmap()
with filemap_invalidate_lock_two().  The functions are cited as 6.6; the
ones not read there (splice_file_to_pipe(), iterate_dir(), setfl(),
__fput(), the file-lock entries) are cited from 6.6 as the model follows
them, and a drift run against a 6.6 tree checks them.

Left out: file descriptors themselves (a thread's ``fd`` is the struct
file it names; fdget()'s reference counting and file_count() > 1 are
taken as given: every scenario shares its files between threads), the
iov_iter and its partial copies, fsnotify, security hooks, the lease
breaking of break_layout(), the pipe's buffers beyond a count, the wait
for pipe space or data (the splices are SPLICE_F_NONBLOCK), and file
locks themselves (only the entry into ->lock, ->flock and ->setlease).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from mc.dsl.addresses import address_below
from mc.dsl.folio import folio_ref, put_folio
from mc.dsl.operation import Cite, Op, operation
from mc.kernel import errno
from mc.kernel.expr import Expr, const, same, state_expr
from mc.kernel.locks import EXCL, SHARED, Kind, Lock
from mc.kernel.pagecache import PAGE_SIZE, File, pagecache
from mc.kernel.superblock import SB_FREEZE_WRITE, sb_writers
from mc.kernel.vfs import dead_dir
from mc.kernel.world import ModelError, Scratch, World
from mc.models.dirops import lock_two_nondirectories
from mc.models.truncate import punch_hole
from mc.models.writeback import (
    filemap_get_pages,
    perform_write,
    read,
    readahead_page,
    write,
)

NO_LOST_F_POS = "no-lost-f-pos"
NO_FDGET_POS = "no-fdget-pos"
REMAP_ARGUMENT_ORDER = "remap-argument-order"
SPLICE_WRITE_INODE_FIRST = "splice-write-inode-first"
READDIR_UNLOCKED = "readdir-unlocked"
FDGET_POS_TAG = "fdget-pos"


@attrs.frozen
class OpenFile:
    """One ``struct file`` of a scenario: the file at ``path`` opened once
    and shared by every thread that names it (its name in traces is
    ``name``).  ``cache`` is the page cache behind a regular file that
    read(2) and write(2) reach; ``atomic_pos`` is FMODE_ATOMIC_POS (set by
    do_dentry_open() for regular files and directories); ``legacy`` says
    the file's operations have ->read and ->write but no ->read_iter and
    ->write_iter (a character device or a pseudo-filesystem's file)."""

    path: str
    cache: File | None = None
    name: str = ""
    atomic_pos: bool = True
    legacy: bool = False

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
    ``f_flags`` FASYNC bit, and of its file's data version (for the files
    copy_file_range and remap move data between)."""

    name: str
    path: str
    f_pos_lock: Lock
    f_lock: Lock
    f_pos: int
    moved: int
    fasync: int
    data: int

    def __str__(self) -> str:
        return self.name


@attrs.frozen
class Pipe:
    """A pipe of a scenario, with ``buffers`` of its ``size`` slots full."""

    name: str = "pipe"
    buffers: int = 1
    size: int = 2

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

    def filp(self, spec: OpenFile) -> Filp:
        known = self.filps.get(spec.label)
        if known is not None:
            if known.path != spec.path:
                raise ModelError(f"{spec.label} names both {known.path} and {spec.path}")
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
            world.add_lock(f"f_pos_lock({name})", Kind.MUTEX, family="f_pos_lock"),
            world.add_lock(f"f_lock({name})", Kind.SPINLOCK, family="f_lock"),
            world.add_slot(f"f_pos({name})", 0),
            world.add_slot(f"f_pos moved({name})", 0, hidden=True),
            world.add_slot(f"FASYNC({name})", False),
            world.add_slot(f"data({spec.path})", 0, _render_data),
        )
        self.filps[name] = filp
        return filp

    def pipe(self, spec: Pipe) -> PipeState:
        known = self.pipes.get(spec.name)
        if known is not None:
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
    legacy file; nothing past EOF.  ``pos`` is a register (read(2)) or the
    page the caller names (pread(2)).  With ``advance``, ``file_pos_write()``
    after it."""
    inode = op.inode(spec.path)
    roles = {"file": filp, "inode": inode}
    if spec.legacy:
        method = "file_operations.write" if writing else "file_operations.read"
        call = (
            "file->f_op->write(file, buf, count, pos)"
            if writing
            else ("file->f_op->read(file, buf, count, pos)")
        )

        def legacy(index: int) -> None:
            op.call(method, _legacy_io, filp, writing, label=f"{vfs}: ret = {call}", roles=roles)
            if advance:
                op.effect("if (ret >= 0) file_pos_write(f.file, pos)", _advance, filp, index)

        _at_page(op, pos, 1, legacy)
        return
    cache = _cache(spec)
    method = "file_operations.write_iter" if writing else "file_operations.read_iter"
    call = (
        "call_write_iter(file, &kiocb, iter)" if writing else "call_read_iter(file, &kiocb, iter)"
    )

    def through_iter(index: int) -> None:
        op.enter(
            method,
            label=f"{vfs}: ret = {call} /* file->f_op->{method.split('.')[1]} */",
            roles=roles,
        )
        op.run(write if writing else read, cache, index)
        if advance:
            op.effect("if (ret >= 0) file_pos_write(f.file, pos)", _advance, filp, index)

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


_READ_WRITE_CITES = (
    Cite("fs/read_write.c", "ksys_read", "6.6"),
    Cite("fs/read_write.c", "ksys_write", "6.6"),
    Cite("fs/read_write.c", "vfs_read", "6.6", method="file_operations.read_iter"),
    Cite("fs/read_write.c", "vfs_write", "6.6", method="file_operations.write_iter"),
    Cite("fs/file.c", "__fdget_pos", "6.6"),
    Cite("fs/file.c", "file_needs_f_pos_lock", "6.6"),
)


def _syscall(op: Op, spec: OpenFile, *, writing: bool) -> None:
    filp = _filp(op, spec)
    fdget_pos(op, spec, filp)
    pos = op.compute("pos", "loff_t pos = file_pos_read(f.file) /* file->f_pos */", _read_pos, filp)
    vfs = "vfs_write(f.file, buf, count, &pos)" if writing else "vfs_read(f.file, buf, count, &pos)"
    _io_at(op, spec, filp, pos, writing=writing, vfs=vfs, advance=True)
    fdput_pos(op, spec, filp)


@operation(
    models="ksys_read() -> fdget_pos() -> vfs_read() -> ->read_iter (fs/read_write.c, fs/file.c)",
    describe=lambda f: f"read({f}, 1 page)",
    cites=(*_READ_WRITE_CITES, *read.cites),
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
    cites=(*_READ_WRITE_CITES, *write.cites),
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
    pos = op.compute("pos", "loff_t pos = file_pos_read(f.file)", _read_pos, filp)
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


SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2


def _seek(scratch: Scratch, filp: Filp, whence: int, offset: int, size: int) -> int:
    """``vfs_setpos()``; SEEK_CUR moves ``f_pos`` by ``offset`` (counted as
    a move, as read(2) and write(2) count theirs), SEEK_SET and SEEK_END
    set it afresh."""
    if whence == SEEK_CUR:
        scratch[filp.f_pos] = int(scratch[filp.f_pos]) + offset
        scratch[filp.moved] = scratch[filp.moved] + offset
        return 0
    scratch[filp.f_pos] = scratch[filp.moved] = (size if whence == SEEK_END else 0) + offset
    return 0


@operation(
    models="ksys_lseek() -> fdget_pos() -> vfs_llseek() -> ->llseek = generic_file_llseek() "
    "(fs/read_write.c)",
    describe=lambda f, w, o: f"lseek({f}, {o} pages, {('SEEK_SET', 'SEEK_CUR', 'SEEK_END')[w]})",
    cites=(
        Cite("fs/read_write.c", "ksys_lseek", "6.6"),
        Cite("fs/read_write.c", "vfs_llseek", "6.6"),
        Cite("fs/read_write.c", "generic_file_llseek", "6.6", method="file_operations.llseek"),
        Cite("fs/read_write.c", "generic_file_llseek_size", "6.6"),
        Cite("fs/read_write.c", "vfs_setpos", "6.6"),
    ),
)
def lseek(op: Op, spec: OpenFile, whence: int, offset: int) -> None:
    """lseek(2): under ``fdget_pos()``, ``->llseek`` (``generic_file_llseek()``:
    SEEK_SET and SEEK_END set ``f_pos`` with ``vfs_setpos()``, SEEK_CUR
    reads and sets it under ``file->f_lock``)."""
    filp = _filp(op, spec)
    size = spec.cache.pages if spec.cache is not None else 1
    fdget_pos(op, spec, filp)
    op.enter(
        "file_operations.llseek",
        label="retval = file->f_op->llseek(file, offset, whence) /* generic_file_llseek() */",
        roles={"file": filp, "inode": op.inode(spec.path)},
    )
    if whence == SEEK_CUR:
        op.section(
            filp.f_lock,
            "spin_lock(&file->f_lock); offset = vfs_setpos(file, file->f_pos + offset, maxsize); "
            "spin_unlock(&file->f_lock)",
            _seek,
            filp,
            whence,
            offset,
            size,
        )
    else:
        op.effect(
            "return vfs_setpos(file, offset, maxsize) /* file->f_pos = offset */",
            _seek,
            filp,
            whence,
            offset,
            size,
        )
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
    scratch[filp.f_pos] = 1
    return None


@operation(
    models="getdents64(2) -> fdget_pos() -> iterate_dir() -> ->iterate_shared (fs/readdir.c)",
    describe=lambda f: f"getdents64({f})",
    cites=(
        Cite("fs/readdir.c", "__do_sys_getdents64", "6.6"),
        Cite("fs/readdir.c", "iterate_dir", "6.6"),
        Cite("fs/libfs.c", "dcache_readdir", "6.6", method="file_operations.iterate_shared"),
        Cite("fs/file.c", "__fdget_pos", "6.6"),
    ),
)
def getdents(op: Op, spec: OpenFile) -> None:
    """getdents64(2) of a directory: ``fdget_pos()`` (a directory always
    takes ``f_pos_lock``: it has ``->iterate_shared``), ``iterate_dir()``:
    i_rwsem shared (``down_read_killable()``), -ENOENT for a dead directory,
    else ``->iterate_shared`` (libfs's ``dcache_readdir()``: the names of
    the directory's positive children, into register ``names``) and
    ``file->f_pos = ctx->pos``."""
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
    op.effect("file->f_pos = ctx->pos; file_accessed(file)", _dir_pos, filp)
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
    page = mapping.pages[index]
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
    "-> vfs_iter_write() -> ->write_iter (fs/splice.c)",
    describe=lambda p, f, i: f"splice({p} -> {f} page {i})",
    cites=(
        Cite("fs/splice.c", "do_splice", "6.6"),
        Cite("fs/splice.c", "do_splice_from", "6.6"),
        Cite("fs/splice.c", "iter_file_splice_write", "6.6", method="file_operations.splice_write"),
        Cite("fs/splice.c", "splice_from_pipe_next", "6.6"),
        Cite("fs/read_write.c", "vfs_iter_write", "6.6", method="file_operations.write_iter"),
        *write.cites,
    ),
)
def splice_write(op: Op, pipe_spec: Pipe, spec: OpenFile, index: int) -> None:
    """splice(2) of one pipe buffer into page ``index`` of a file,
    SPLICE_F_NONBLOCK: ``do_splice()`` takes ``file_start_write(out)``
    first; ``->splice_write`` is ``iter_file_splice_write()``:
    ``pipe_lock()``, -EAGAIN when the pipe is empty
    (``splice_from_pipe_next()``), ``vfs_iter_write()`` -> ``->write_iter``
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
    page = mapping.pages[index]
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
        label="ret = vfs_iter_write(out, &from, &sd.pos, 0): call_write_iter(file, &kiocb, iter)",
        roles={"file": filp, "inode": inode},
    )
    perform_write(op, mapping, page, inode, version, start_write=False)
    op.effect("pipe_buf_release(pipe, buf) /* the buffer consumed */", _pipe_add, pipe, -1)
    op.label("unlock")
    op.unlock(pipe.mutex, "pipe_unlock(pipe)", tag="pipe-lock")
    op.unlock(writers, "file_end_write(out)", tag="sb-start-write")


# --- copy_file_range and remap ---------------------------------------------------------


def _copy_data(scratch: Scratch, source: Filp, target: Filp) -> int:
    scratch[target.data] = scratch[source.data]
    return 0


@operation(
    models="copy_file_range(2) -> vfs_copy_file_range() -> ->copy_file_range (fs/read_write.c)",
    describe=lambda i, o: f"copy_file_range({i} -> {o})",
    cites=(
        Cite("fs/read_write.c", "vfs_copy_file_range", "6.6"),
        Cite(
            "fs/smb/client/cifsfs.c",
            "cifs_file_copychunk_range",
            "6.6",
            method="file_operations.copy_file_range",
        ),
        Cite("fs/inode.c", "lock_two_nondirectories", "6.6"),
        Cite("fs/inode.c", "unlock_two_nondirectories", "6.6"),
    ),
)
def copy_file_range(op: Op, source_spec: OpenFile, target_spec: OpenFile) -> None:
    """copy_file_range(2) within one filesystem: ``file_start_write(file_out)``
    around ``->copy_file_range``, here the SMB client's
    (``cifs_file_copychunk_range()``): ``lock_two_nondirectories(target,
    src)``, by address (every order the scenario can observe), the
    server-side copy (the target's data becomes the source's), and
    ``unlock_two_nondirectories()``."""
    source, target = _filp(op, source_spec), _filp(op, target_spec)
    src, dst = op.inode(source_spec.path), op.inode(target_spec.path)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(writers, SHARED, "vfs_copy_file_range(): file_start_write(file_out)")
    op.enter(
        "file_operations.copy_file_range",
        label="ret = file_out->f_op->copy_file_range(file_in, pos_in, file_out, pos_out, len, 0)",
        roles={"file_in": source, "file_out": target, "inode_in": src, "inode_out": dst},
    )
    lock_two_nondirectories(op, dst, src)
    op.effect(
        "rc = target_tcon->ses->server->ops->copychunk_range(xid, src_file, dst_file, ...)",
        _copy_data,
        source,
        target,
    )
    op.unlock(src.i_rwsem, "unlock_two_nondirectories(src_inode, target_inode): inode_unlock(src)")
    op.unlock(dst.i_rwsem, "inode_unlock(target)")
    op.unlock(writers, "file_end_write(file_out)")


def _lock_two(op: Op, io1: Any, io2: Any, inval1: Any, inval2: Any, *, order: str) -> None:
    """``xfs_ilock2_io_mmap()`` with its inodes already ordered: both
    i_rwsem, then both invalidate_locks, the first inode's first."""
    op.lock(io1, EXCL, f"inode_lock(VFS_I(ip1)) {order}".rstrip(), tag="remap-lock")
    op.lock(io2, EXCL, "inode_lock_nested(VFS_I(ip2), I_MUTEX_NONDIR2)", tag="remap-lock")
    op.lock(inval1, EXCL, "filemap_invalidate_lock_two(): filemap_invalidate_lock(mapping1)")
    op.lock(inval2, EXCL, "filemap_invalidate_lock_nested(mapping2, 1)")


@operation(
    models="ioctl(FICLONE) -> vfs_clone_file_range() -> do_clone_file_range() -> "
    "->remap_file_range (fs/remap_range.c)",
    describe=lambda i, o: f"ioctl({o}, FICLONE, {i})",
    cites=(
        Cite("fs/ioctl.c", "ioctl_file_clone", "6.6"),
        Cite("fs/remap_range.c", "vfs_clone_file_range", "6.6"),
        Cite("fs/remap_range.c", "do_clone_file_range", "6.6"),
        Cite(
            "fs/xfs/xfs_file.c",
            "xfs_file_remap_range",
            "6.6",
            method="file_operations.remap_file_range",
        ),
        Cite("fs/xfs/xfs_reflink.c", "xfs_reflink_remap_prep", "6.6"),
        Cite("fs/xfs/xfs_inode.c", "xfs_ilock2_io_mmap", "6.6"),
        Cite("fs/xfs/xfs_inode.c", "xfs_iolock_two_inodes_and_break_layout", "6.6"),
        Cite("mm/filemap.c", "filemap_invalidate_lock_two", "6.6"),
        Cite("fs/remap_range.c", "generic_remap_file_range_prep", "6.6"),
    ),
)
def remap(op: Op, source_spec: OpenFile, target_spec: OpenFile) -> None:
    """FICLONE (reflink) of one file onto another: ``file_start_write(file_out)``
    around ``->remap_file_range``, XFS's: ``xfs_ilock2_io_mmap()`` takes
    both i_rwsem (``xfs_iolock_two_inodes_and_break_layout()``: ``if (src >
    dest) swap(src, dest)``, by address) and both invalidate_locks
    (``filemap_invalidate_lock_two()``, by the mappings' addresses, which
    follow the inodes' that embed them), then the extents are shared (the
    target's data becomes the source's).  Variant ``remap-argument-order``
    locks in argument order (source, then target)."""
    source, target = _filp(op, source_spec), _filp(op, target_spec)
    src, dst = op.inode(source_spec.path), op.inode(target_spec.path)
    part = files(op.world)
    src_invalidate = part.invalidate_lock(source_spec.path)
    dst_invalidate = part.invalidate_lock(target_spec.path)
    writers = sb_writers(op.world, SB_FREEZE_WRITE)
    op.lock(writers, SHARED, "vfs_clone_file_range(): file_start_write(file_out)")
    op.enter(
        "file_operations.remap_file_range",
        label="ret = file_in->f_op->remap_file_range(file_in, pos_in, file_out, pos_out, len, 0)",
        roles={"file_in": source, "file_out": target, "inode_in": src, "inode_out": dst},
    )
    forward = (src.i_rwsem, dst.i_rwsem, src_invalidate, dst_invalidate)
    swapped = (dst.i_rwsem, src.i_rwsem, dst_invalidate, src_invalidate)
    if op.variant(REMAP_ARGUMENT_ORDER):
        _lock_two(op, *forward, order="/* in argument order */")
    else:
        first = address_below(op, "src_first", "if (src > dest) swap(src, dest)", src, dst)
        with op.when(same(first, const(True)), "if (src < dest) /* by address */"):
            _lock_two(op, *forward, order="")
        with op.otherwise():
            _lock_two(op, *swapped, order="/* swapped */")
    op.effect(
        "generic_remap_file_range_prep(); xfs_reflink_remap_blocks(src, pos_in, dest, pos_out)",
        _copy_data,
        source,
        target,
    )
    op.unlock(src_invalidate, "xfs_iunlock2_io_mmap(): filemap_invalidate_unlock_two()")
    op.unlock(dst_invalidate, "filemap_invalidate_unlock_two() /* the other */")
    op.unlock(src.i_rwsem, "inode_unlock(VFS_I(ip1))")
    op.unlock(dst.i_rwsem, "inode_unlock(VFS_I(ip2))")
    op.unlock(writers, "file_end_write(file_out)")


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
        Cite("fs/ext4/extents.c", "ext4_do_fallocate", "6.6"),
        Cite("fs/ext4/extents.c", "ext4_alloc_file_blocks", "6.6"),
    ),
)
def fallocate(op: Op, spec: OpenFile, mode: str, index: int) -> None:
    """fallocate(2) of page ``index`` through a struct file: with
    FALLOC_FL_PUNCH_HOLE (| KEEP_SIZE) the shipped ``punch_hole`` (invalidate_lock
    exclusive, the page cache truncated); with mode 0 or FALLOC_FL_KEEP_SIZE
    ``vfs_fallocate()``'s ``file_start_write()``, then ext4's
    ``ext4_do_fallocate()``: i_rwsem exclusive, ``inode_dio_wait()`` and
    ``ext4_alloc_file_blocks()`` over a range already allocated, which maps
    nothing new (allocating a hole, an unwritten extent, is not modelled: a
    model error)."""
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
    op.lock(inode.i_rwsem, EXCL, "ext4_do_fallocate(): inode_lock(inode)")
    op.effect("inode_dio_wait(inode) /* no direct I/O in flight */", _nothing)
    op.effect(
        "ret = ext4_alloc_file_blocks(file, lblk, len_lblk, new_size, flags) "
        "/* the range is allocated: nothing new to map */",
        _nothing,
    )
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.unlock(writers, "file_end_write(file)", tag="sb-start-write")


# --- open, fcntl, close ----------------------------------------------------------------


def _set_fasync(scratch: Scratch, filp: Filp, on: bool) -> int:
    scratch[filp.fasync] = on
    return 0


def _ok(_scratch: Scratch, *_args: object) -> int:
    return 0


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
        Cite("fs/fcntl.c", "setfl", "6.6", method="file_operations.check_flags"),
        Cite("fs/fcntl.c", "fasync_helper", "6.6", method="file_operations.fasync"),
        Cite(
            "fs/open.c",
            "filp_close",
            "6.17-rc3 (Kingxukai/linux 9b44fff6)",
            method="file_operations.flush",
            leaves_out=("file_operations.lock",),
            because="filp_flush()'s locks_remove_posix() asks ->lock only of a filesystem "
            "that has one",
        ),
        Cite("fs/file_table.c", "__fput", "6.6", method="file_operations.release"),
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
    them), the ``fsnotify`` hooks, O_PATH and O_DIRECT checks."""
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
    op.call(
        "file_operations.fasync",
        _set_fasync,
        filp,
        True,
        label="if (((arg ^ filp->f_flags) & FASYNC) && filp->f_op->fasync) "
        "error = filp->f_op->fasync(fd, filp, (arg & FASYNC) != 0)",
        roles=roles,
    )
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
        op.call(
            "file_operations.fasync",
            _set_fasync,
            filp,
            False,
            label="if (file->f_op->fasync) file->f_op->fasync(-1, file, 0)",
            roles=roles,
        )
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
    ``->show_fdinfo`` with no VFS lock held."""
    filp = _filp(op, spec)
    op.compute("pos", 'seq_printf(m, "pos:\\t%lli\\n", (long long)file->f_pos)', _read_pos, filp)
    op.call(
        "file_operations.show_fdinfo",
        _ok,
        label="if (file->f_op->show_fdinfo) file->f_op->show_fdinfo(m, file)",
        roles={"file": filp, "inode": op.inode(spec.path)},
    )
