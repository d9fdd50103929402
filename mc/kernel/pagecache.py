"""The page cache of a file: folios by index, the mapping's xarray marks,
the data each folio holds, i_size and the block each page maps to.

Each page index of a file owns a few slots of the state:

- ``xa(/f:0)``: the identity of the folio cached at the index (``#0``,
  ``#1``...) or ``None``: folios are objects, each with its own lock
  ``PG_locked(/f:0#1)`` (a sleeping bit lock; a read hands it to the I/O,
  whose completion clears it, ``folio_end_read``).  A folio removed from
  the cache keeps its identity and its lock while a thread still holds a
  reference (a register, a pte); a new folio at the index is another
  object, locked at birth (``__folio_set_locked()``), so a thread holding
  the old one's lock never blocks a thread allocating the new one;
- ``folio(/f:0)``: ``None`` while no folio is cached at that index, else
  ``(version, flags)`` of the cached folio: the data version it holds
  (``None`` before it is read or written) and its PG_uptodate, PG_dirty,
  PG_writeback and PG_private (buffers attached) bits;
- ``xa_marks(/f:0)``: the xarray marks of the index (DIRTY, WRITEBACK,
  TOWRITE), changed only under ``xa_lock``;
- ``i_block(/f:0)``: the device block the page maps to (``None``: a hole);
- ``history(/f:0)`` (hidden): the data versions the page has held, oldest
  first, so that properties can tell which of two versions is newer.

A thread finds a folio (``find_folio``: ``filemap_get_folio()``) or
allocates and adds one (``new_folio``: ``filemap_alloc_folio()`` +
``filemap_add_folio()``, which fails with -EEXIST when the index is taken)
into its register ``folio.<index>``, locks and unlocks that folio's lock
and checks ``folio->mapping`` by comparing the identities.  The data and
flags of a folio after it left the cache are not kept: the kernel's
holders of such a folio only unlock and drop it.  Identities are reused
once nothing refers to one (the smallest free one is taken), so that
states do not differ by allocation count.
Data versions are small ints: ``0`` is the data the scenario starts with,
each write of the scenario has its own, and a hole reads as ``ZEROES``.  Pages are
whole blocks (``blocksize == PAGE_SIZE``): one buffer head per folio, whose
dirty, locked and mapped bits are folded into PG_dirty, the I/O in flight
and ``i_block``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from mc.kernel import device as dev
from mc.kernel.device import ZEROES, Bio, Device, render_version
from mc.kernel.expr import Eval, Expr, State, state_expr
from mc.kernel.locks import Kind, Lock
from mc.kernel.world import (
    DONE,
    LOCK_PROTOCOL,
    LocatedModelError,
    ModelError,
    Scratch,
    World,
    others_returned,
    touches,
)

PAGE_SIZE = 4096

PG_UPTODATE = 1
PG_DIRTY = 2
PG_WRITEBACK = 4
PG_PRIVATE = 8
BUFFER0_UPTODATE = 16
"""Not a page flag: the folio's first buffer is uptodate while the folio
is not (a filesystem whose blocks are smaller than a page wrote that
block into a new folio, ``mc.models.aops.write_block``); it goes with
the folio, as its buffers do."""
FLAG_NAMES = (
    (PG_UPTODATE, "uptodate"),
    (PG_DIRTY, "dirty"),
    (PG_WRITEBACK, "writeback"),
    (BUFFER0_UPTODATE, "buffer 0 uptodate"),
)
BLOCK_SIZE = 1024
"""The block size of a filesystem whose blocks are smaller than a page
(``BUFFER0_UPTODATE``): the first block is bytes 0 to 1023."""

TAG_DIRTY = 1
TAG_WRITEBACK = 2
TAG_TOWRITE = 4
TAG_NAMES = ((TAG_DIRTY, "DIRTY"), (TAG_WRITEBACK, "WRITEBACK"), (TAG_TOWRITE, "TOWRITE"))

TRUNCATED = -3
"""Marks in a page's history that the page was truncated (not -1, which a
slot's tuple may not hold: ``mc.kernel.world.MINUS_ONE_INSIDE``)."""

Folio = tuple[int | None, int]


def render_folio(folio: Folio | None) -> str:
    """``v1 uptodate,dirty``, ``absent``..."""
    if folio is None:
        return "absent"
    version, flags = folio
    shown = [name for bit, name in FLAG_NAMES if flags & bit]
    data = "no data" if version is None else render_version(version)
    return f"{data} {','.join(shown)}" if shown else f"{data}, not uptodate"


def render_marks(marks: int) -> str:
    return "|".join(name for bit, name in TAG_NAMES if marks & bit) or "none"


def render_block(block: int | None) -> str:
    return "hole" if block is None else f"block {block}"


def render_history(history: tuple[int, ...]) -> str:
    return " < ".join("truncated" if v == TRUNCATED else render_version(v) for v in history)


def render_erased(versions: frozenset[int]) -> str:
    return ", ".join(render_version(v) for v in sorted(versions)) or "none"


@attrs.frozen
class File:
    """A regular file of a scenario's tree with a page cache: ``pages``
    pages of data (i_size ``pages * PAGE_SIZE``), each on its own block
    except ``holes``, the indices in ``cached`` already in the page cache
    (clean, uptodate, with buffers, holding zeroes over a hole; those in
    ``dirty``, which have blocks, dirty too), and ``spare_blocks`` free
    blocks on the device for allocation."""

    path: str
    pages: int = 2
    cached: tuple[int, ...] = ()
    holes: tuple[int, ...] = ()
    spare_blocks: int = 1
    dirty: tuple[int, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.pages, int) or self.pages < 1:
            raise ModelError(f"File({self.path!r}): pages={self.pages!r}, not 1 or more")
        for name in ("cached", "holes", "dirty"):
            outside = [i for i in getattr(self, name) if not 0 <= i < self.pages]
            if outside:
                raise ModelError(
                    f"File({self.path!r}): {name} holds {outside}, outside pages 0 to "
                    f"{self.pages - 1}"
                )
        uncached = sorted(set(self.dirty) - set(self.cached))
        if uncached:
            raise ModelError(
                f"File({self.path!r}): dirty pages {uncached} are not cached (a dirty page is "
                "a folio in the page cache: add them to cached)"
            )
        blockless = sorted(set(self.dirty) & set(self.holes))
        if blockless:
            raise ModelError(
                f"File({self.path!r}): dirty pages {blockless} are holes: a dirty page has a "
                "block here (a write allocates it in ->write_begin; delayed allocation at "
                "writeback is not modelled): leave them out of holes"
            )
        if self.spare_blocks < 0:
            raise ModelError(f"File({self.path!r}): spare_blocks={self.spare_blocks} < 0")

    def __str__(self) -> str:
        return self.path


@attrs.frozen
class Page:
    """The slots of one page index of a file, and the locks of the folio
    objects that can live there (``locks[k]`` is folio ``#k``'s)."""

    path: str
    ino: int
    index: int
    locks: tuple[Lock, ...]
    ident: int
    """Slot of the identity of the folio cached at the index (the xarray
    entry), or None."""
    folio: int
    marks: int
    block: int
    history: int
    erased: int
    """Slot of the data versions no byte of the folio holds any more since a
    zeroing overwrote them (a truncate's or a punch's partial zeroing, the
    tail past EOF that writeback zeroes): data the file no longer has, which
    no fsync need write (``no-lost-write``)."""

    def __str__(self) -> str:
        return f"{self.path}:{self.index}"

    def cached_lock(self, state: Sequence[Any]) -> Lock | None:
        """The lock of the folio cached at the index, if any."""
        ident = state[self.ident]
        return None if ident is None else self.locks[ident]


def render_ident(ident: int | None) -> str:
    """A folio's identity: ``#1``, or ``NULL``."""
    return "NULL" if ident is None else f"#{ident}"


@attrs.frozen
class Mapping:
    """A file's address_space: its xa_lock, invalidate_lock, i_mmap_rwsem
    (which unmapping takes to walk the VMAs mapping the file), i_size and
    pages.  The xa_lock (the ``i_pages`` lock) is taken with interrupts
    disabled in process context (``xa_lock_irq``/``xa_lock_irqsave`` in
    ``__filemap_add_folio()``, ``filemap_remove_folio()``,
    ``__folio_mark_dirty()``, ``__folio_start_writeback()``, Linux 6.6)
    because I/O completion takes it in interrupt context
    (``__folio_end_writeback()``)."""

    path: str
    ino: int
    xa_lock: Lock
    invalidate_lock: Lock
    i_mmap_rwsem: Lock
    i_size: int
    pages: tuple[Page, ...]

    def __str__(self) -> str:
        return self.path

    def page(self, index: int) -> Page:
        """Page ``index`` of the file (a ``ModelError`` naming the file's
        pages for an index it does not have)."""
        count = len(self.pages)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise ModelError(
                f"{self.path} has pages 0 to {count - 1} (File(pages={count})): "
                f"page {index!r} is not one of them"
            )
        return self.pages[index]


@attrs.frozen
class Write:
    """A write of the scenario: the thread that makes it, the page it
    writes (None when only known at run time) and the data version it writes."""

    version: int
    thread: str
    pc: int
    page: Page | None
    completed: tuple[int, Any] | None = None
    """For a write that completes apart from its thread's return (a direct
    write, whose ``ki_complete`` an AIO worker may run): the slot and the
    value it holds once the write has completed."""

    def returned(self, state: Sequence[Any]) -> bool:
        """Whether the write had completed (its thread returned, or its
        completion ran) in ``state``."""
        if self.completed is not None:
            slot, value = self.completed
            return bool(state[slot] == value)
        return bool(state[self.pc] == DONE)


@attrs.frozen
class Sync:
    """An fsync of the scenario: the thread, the mapping it syncs and the
    register holding what it must make durable (set when it begins)."""

    thread: str
    pc: int
    mapping: Mapping
    promised: int
    ret: int | None = None
    """The thread's return slot, where the fsync may return an error
    (-EIO: a write-back error the mapping recorded), else None."""


def wb_err_slot(world: World, path: str) -> int:
    """The slot of ``mapping->wb_err`` of the file at ``path``: whether a
    write-back error was recorded (``mapping_set_error(mapping, -EIO)``)
    since the file was opened (the errseq ``file->f_wb_err`` sampled)."""
    return world.shared_slot(f"wb_err({path})", False, lambda v: "EIO" if v else "0")


class PageCache:
    """The page-cache part of a world: the mappings, the device under them
    and the scenario's writes and syncs (for the properties)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.mappings: dict[int, Mapping] = {}
        self.files: dict[int, File] = {}
        """The layout each mapping was made from."""
        self.writes: list[Write] = []
        self.syncs: list[Sync] = []
        self.irq_thread: int | None = None
        self.device: Device | None = None
        self.refs: dict[tuple[int, int], list[int]] = {}
        """The register slots in which threads hold folios of each page."""
        self.pte_refs: list[Callable[[Sequence[Any], Page], Iterable[int]]] = []
        """Functions giving the folio identities ptes map at a page."""
        self.superblock_wide: tuple[frozenset[int], str, bool] | None = None
        """The files a writeback of every file of the superblock covers
        (``sync_inodes_sb()``), what that writeback is, and whether it was
        given its one file."""

    def attach(self, spec: File) -> Mapping:
        """The mapping of ``spec``'s file, laid out on first use."""
        world = self.world
        inode = world.lookup_path(spec.path)
        if inode.is_dir:
            raise ValueError(f"{spec.path} is a directory, not a file with a page cache")
        found = self.mappings.get(inode.ino)
        if found is not None:
            first = self.files[inode.ino]
            if first != spec:
                raise ModelError(
                    f"{spec.path} is laid out twice, as {first!r} and as {spec!r}: "
                    "declare the File once and give every thread the same one"
                )
            return found
        self.files[inode.ino] = spec
        on_disk = [i for i in range(spec.pages) if i not in spec.holes]
        if self.device is None:
            base, free = 0, ()
            self.device = dev.attach(world, len(on_disk) + spec.spare_blocks)
        else:
            base, free = len(self.device.blocks), world.initial[self.device.free]
            self.device = dev.grow(world, len(on_disk) + spec.spare_blocks)
        pages = []
        for index in range(spec.pages):
            name = f"{spec.path}:{index}"
            block = base + on_disk.index(index) if index in on_disk else None
            dirty = PG_DIRTY if index in spec.dirty else 0
            initial = ZEROES if index in spec.holes else 0
            cached: Folio | None = (
                (initial, PG_UPTODATE | PG_PRIVATE | dirty) if index in spec.cached else None
            )
            pool = len(world.thread_names) + 2
            pages.append(
                Page(
                    path=spec.path,
                    ino=inode.ino,
                    index=index,
                    locks=tuple(
                        world.add_lock(f"PG_locked({name}#{k})", Kind.BIT_LOCK, "PG_locked")
                        for k in range(pool)
                    ),
                    ident=world.add_slot(
                        f"xa({name})", 0 if cached is not None else None, render_ident
                    ),
                    folio=world.add_slot(f"folio({name})", cached, render_folio),
                    marks=world.add_slot(
                        f"xa_marks({name})", TAG_DIRTY if dirty and cached else 0, render_marks
                    ),
                    block=world.add_slot(f"i_block({name})", block, render_block),
                    history=world.add_slot(f"history({name})", (0,), render_history, True),
                    erased=world.add_slot(f"erased({name})", frozenset(), render_erased, True),
                )
            )
        for block in range(base, base + len(on_disk)):
            world.initial[self.device.blocks[block]] = 0
        world.initial[self.device.free] = (
            *free,
            *range(base + len(on_disk), len(self.device.blocks)),
        )
        mapping = Mapping(
            path=spec.path,
            ino=inode.ino,
            xa_lock=world.add_lock(
                f"xa_lock({spec.path})", Kind.SPINLOCK, "xa_lock", irqs_off=True
            ),
            invalidate_lock=world.add_lock(
                f"invalidate_lock({spec.path})", Kind.RWSEM, "invalidate_lock"
            ),
            i_mmap_rwsem=world.add_lock(f"i_mmap_rwsem({spec.path})", Kind.RWSEM, "i_mmap_rwsem"),
            i_size=world.add_slot(f"i_size({spec.path})", spec.pages * PAGE_SIZE),
            pages=tuple(pages),
        )
        self.mappings[inode.ino] = mapping
        self._refuse_uncovered()
        return mapping

    def cover_superblock(self, what: str, only: Mapping | None = None) -> list[Mapping]:
        """The mappings ``what``, a writeback of every file of the superblock,
        covers: those laid out so far, or ``only`` when it is given.  Another
        file's page cache is refused (a ``ModelError``), now or once it is
        laid out: the writeback's steps are made already."""
        mappings = list(self.mappings.values()) if only is None else [only]
        if self.superblock_wide is None:
            self.superblock_wide = (frozenset(m.ino for m in mappings), what, only is not None)
        self._refuse_uncovered()
        return mappings

    def _refuse_uncovered(self) -> None:
        if self.superblock_wide is None:
            return
        covered, what, alone = self.superblock_wide
        paths = ", ".join(m.path for m in self.mappings.values() if m.ino in covered)
        others = ", ".join(m.path for m in self.mappings.values() if m.ino not in covered)
        if not others:
            return
        if alone:
            here = f"{paths} alone (its inode models follow one file): {others} has pages too"
        else:
            here = (
                f"the files of the threads listed before it and its own ({paths}): {others}, "
                "first used by a thread listed after it, would be left out (list that thread "
                "first)"
            )
        raise ModelError(f"{what} writes back every file of the superblock, which here are {here}")

    def add_write(
        self, thread: str, pc: int, page: Page | None, completed: tuple[int, Any] | None = None
    ) -> int:
        """A new write of ``page`` by ``thread``: its data version (``page``
        is None for a store whose page is known only when it runs; for
        ``completed``, see ``Write``)."""
        version = len(self.writes) + 1
        self.writes.append(Write(version, thread, pc, page, completed))
        return version

    def collides(self, version: Any, page: Page) -> bool:
        """Whether ``version`` is a direct write's (one past the page cache,
        ``Write.completed``) to ``page``, which another thread writes
        through the cache too (a store whose page is known only when it
        runs may be to any page)."""
        direct = next((w for w in self.writes if w.version == version), None)
        if direct is None or direct.completed is None:
            return False
        return any(
            other.thread != direct.thread and other.page in (page, None) for other in self.writes
        )

    def is_store(self, version: Any) -> bool:
        """Whether ``version`` is a store's through a mapping (one byte, at
        a place known only as it runs)."""
        return any(w.version == version and w.page is None for w in self.writes)

    def writer(self, version: Any) -> str:
        """``v1 (T1's write)``, ``v0 (the initial data)``, ``zeroes``,
        ``unwritten (never written)``; a page of runs names whose each
        version is: ``v0, v1 from 10 (v0: the initial data; v1: T2's write)``."""
        if isinstance(version, tuple):
            versions = list(dict.fromkeys(run for _, run in version))
            whose = "; ".join(f"{render_version(v)}: {self._whose(v)}" for v in versions)
            return f"{render_version(version)} ({whose})"
        if version == ZEROES:
            return render_version(version)
        return f"{render_version(version)} ({self._whose(version)})"

    def _whose(self, version: Any) -> str:
        for write in self.writes:
            if write.version == version:
                return f"{write.thread}'s write"
        if version is None:
            return "never written"
        if version == ZEROES:
            return "zeroes"
        return "the initial data"

    def page_of(self, bio: Bio) -> Page:
        return self.mappings[bio.ino].pages[bio.index]

    def on_device(self, state: Sequence[Any], page: Page) -> int | None:
        """The data version the device holds for ``page`` (a hole reads as
        zeroes)."""
        block = state[page.block]
        if block is None:
            return ZEROES
        assert self.device is not None
        return state[self.device.blocks[block]]  # type: ignore[no-any-return]

    def write_order(self, state: Sequence[Any], page: Page) -> dict[Any, int]:
        """Each version written to ``page`` with its place in the page's
        history (0: the initial data); for a page that starts as a hole,
        zeroes and an unwritten block's contents are its initial data, and
        once the page was truncated they are the data of its last
        truncation (a read of the hole it left returns zeroes older than
        any write after it)."""
        history = state[page.history]
        order = {version: at for at, version in enumerate(history)}
        if page.index in self.files[page.ino].holes:
            order.setdefault(ZEROES, 0)
            order.setdefault(None, 0)
        if TRUNCATED in order:
            for hole in (ZEROES, None):
                order[hole] = max(order.get(hole, -1), order[TRUNCATED])
        return order

    def same_data(self, page: Page, version: Any, newest: Any) -> bool:
        """Whether data ``version`` is ``newest``, the newest written to
        ``page``: the same version, or for a page that starts as a hole
        and was never written (``newest`` its initial data, 0), zeroes or
        an unwritten block's contents (as ``write_order`` ranks them)."""
        if version == newest:
            return True
        hole = page.index in self.files[page.ino].holes
        return hole and newest == 0 and version in (ZEROES, None)

    def irq(self, page: Page | None = None) -> int:
        """The thread completing I/O (``io_completion``); a model error,
        naming the scenario's line, when the scenario has none and ``page``
        is read from the device."""
        if self.irq_thread is None:
            what = f"reads page {page.index} of {page.path} from the device" if page else "does I/O"
            path = page.path if page else "the file"
            message = (
                f"the scenario {what} but has no thread completing I/O: add io_completion(FILE) "
                f"to its threads (from mc.models.writeback import io_completion; FILE is the "
                f"File of {path}), {self._or_cached(page)}"
            )
            where = self.world.declared_at
            if where:
                raise LocatedModelError(f"{where}: {message}")
            raise ModelError(message)
        return self.irq_thread

    def _or_cached(self, page: Page | None) -> str:
        """What else lets a scenario without ``io_completion`` read
        ``page``: caching it at the start, unless it is cached at the start
        and a thread dropped it from the page cache before the read."""
        if page is None:
            return "or make the pages it reads cached (File(..., cached=...))"
        if page.index in self.files[page.ino].cached:
            return (
                f"since page {page.index}, cached at the start, was dropped (truncated, "
                "invalidated, reclaimed) and is read back"
            )
        return f"or make the page cached (File(..., cached=({page.index},)))"


def pagecache(world: World) -> PageCache:
    """The page-cache part of ``world``."""
    part = world.parts.get("pagecache")
    if not isinstance(part, PageCache):
        part = PageCache(world)
        world.parts["pagecache"] = part
    return part


# --- reading the state ---------------------------------------------------------


def flags_of(state: Sequence[Any], page: Page) -> int:
    folio = state[page.folio]
    return 0 if folio is None else int(folio[1])


def present(page: Page) -> Expr:
    """A folio is cached at the index (``folio->mapping == mapping``)."""
    slot = page.folio
    return state_expr(f"folio({page}) in the page cache", lambda s: s[slot] is not None)


def cached_unlocked(state: Sequence[Any], page: Page) -> bool:
    """No folio is cached at ``page``, or the cached one is unlocked."""
    lock = page.cached_lock(state)
    return lock is None or state[lock.slot] is None


def folio_test(page: Page, flag: int, name: str) -> Expr:
    """``folio_test_<name>(folio)`` (false when no folio is cached)."""
    slot = page.folio
    return state_expr(
        f"folio_test_{name}({page})", lambda s: s[slot] is not None and bool(s[slot][1] & flag)
    )


def marked(page: Page, tag: int, name: str) -> Expr:
    """The index carries xarray mark ``name``."""
    slot = page.marks
    return state_expr(f"xa_marked({page}, {name})", lambda s: bool(s[slot] & tag))


def holds(values: Expr, item: Any) -> Expr:
    """``item`` is among the values a register holds."""

    def build(world: World) -> Eval:
        get = values.compile(world)
        return lambda state: item in get(state)

    return Expr(f"{item} in {values}", build, values.local)


# --- changing the state (effects; ``scratch`` is the state being changed) ------


def _set_folio(scratch: Scratch, page: Page, version: int | None, flags: int) -> None:
    scratch[page.folio] = (version, flags)


def change_flags(scratch: Scratch, page: Page, on: int = 0, off: int = 0) -> int:
    """Set bits ``on`` and clear bits ``off`` of the folio; the old flags."""
    folio = scratch[page.folio]
    if folio is None:
        return 0
    version, flags = folio
    _set_folio(scratch, page, version, (flags | on) & ~off)
    return int(flags)


def change_marks(scratch: Scratch, page: Page, on: int = 0, off: int = 0) -> None:
    scratch[page.marks] = (scratch[page.marks] | on) & ~off


def references(scratch: Scratch, page: Page, ident: Any) -> int:
    """How many references to folio ``ident`` of ``page`` the threads hold
    in their folio registers and the ptes that map it (what
    ``folio_ref_freeze()`` finds besides the page cache's own)."""
    part = pagecache(scratch.world)
    held = [slot for slot in part.refs.get((page.ino, page.index), ()) if scratch[slot] == ident]
    mapped = [source for source in part.pte_refs if ident in source(scratch.values, page)]
    return len(held) + len(mapped)


def free_identity(scratch: Scratch, page: Page) -> int:
    """The smallest identity of a folio object at ``page`` nothing refers
    to: not cached, not locked, held in no thread's register, mapped by no
    pte."""
    part = pagecache(scratch.world)
    busy = {
        scratch[page.ident],
        *(scratch[slot] for slot in part.refs.get((page.ino, page.index), ())),
    }
    for source in part.pte_refs:
        busy.update(source(scratch.values, page))
    for ident, lock in enumerate(page.locks):
        if ident not in busy and scratch[lock.slot] is None:
            return ident
    raise ValueError(f"more live folios at {page} than the model provides ({len(page.locks)})")


def add_folio(scratch: Scratch, page: Page, tid: int, ref: int) -> bool:
    """``filemap_alloc_folio()``, ``__folio_set_locked()`` and
    ``filemap_add_folio()``: a new folio object, locked by thread ``tid``
    and not uptodate, cached at the index, held in register slot ``ref``;
    false (``-EEXIST``, the new folio put) when one is there already."""
    if scratch[page.ident] is not None:
        return False
    ident = free_identity(scratch, page)
    scratch[page.locks[ident].slot] = tid
    scratch[page.ident] = ident
    scratch[ref] = ident
    _set_folio(scratch, page, None, 0)
    return True


def remove_folio(scratch: Scratch, page: Page) -> None:
    """``page_cache_delete()``: the folio leaves the xarray with its marks;
    its remover holds its lock (``VM_BUG_ON_FOLIO(!folio_test_locked(folio))``),
    which keeps every other user of the folio out."""
    lock = page.cached_lock(scratch.values)
    tid = scratch.tid
    if lock is not None and tid is not None and scratch[lock.slot] != tid:
        scratch.violate(
            LOCK_PROTOCOL,
            f"{scratch.world.thread_names[tid]} removes the folio of {page} from the page cache "
            "without its lock: page_cache_delete() does "
            "VM_BUG_ON_FOLIO(!folio_test_locked(folio), folio)",
        )
    scratch[page.ident] = None
    scratch[page.folio] = None
    scratch[page.marks] = 0


def gone(scratch: Scratch, page: Page, does: str) -> None:
    """A lock-protocol error: the thread ``does`` (something to) the folio
    of ``page`` it holds, which left the page cache (or lost its block)
    since it found it; the folio lock it should hold keeps removal out."""
    who = "a thread" if scratch.tid is None else scratch.world.thread_names[scratch.tid]
    scratch.violate(
        LOCK_PROTOCOL,
        f"{who} {does} the folio of {page} after it left the page cache: the folio lock, "
        "held from lookup to use, keeps truncation and invalidation from removing it",
    )


def store_data(scratch: Scratch, page: Page, version: int) -> None:
    """The folio's contents become data ``version`` (a whole-page copy)."""
    folio = scratch[page.folio]
    if folio is None:
        gone(scratch, page, "copies data into")
        return
    _set_folio(scratch, page, version, folio[1])
    scratch[page.history] = (*scratch[page.history], version)


def note_truncated(scratch: Scratch, page: Page) -> None:
    """The page was truncated: what it held need not reach the device (a
    truncation right after another adds nothing, so a truncate that loops
    against faults re-adding the folio reaches no new state)."""
    history = scratch[page.history]
    if history[-1] != TRUNCATED:
        scratch[page.history] = (*history, TRUNCATED)


def dirty_folio(scratch: Scratch, page: Page) -> bool:
    """``filemap_dirty_folio()`` / ``__folio_mark_dirty()``: PG_dirty, and
    the DIRTY mark under xa_lock when the folio is still in the mapping;
    true when the folio was clean."""
    if scratch[page.folio] is None:
        return False
    old = change_flags(scratch, page, on=PG_DIRTY)
    if old & PG_DIRTY:
        return False
    change_marks(scratch, page, on=TAG_DIRTY)
    return True


def clear_dirty_for_io(scratch: Scratch, page: Page) -> bool:
    """``folio_clear_dirty_for_io()``'s last part (``mc.kernel.rmap`` does
    the ``folio_mkclean()`` before it): clear PG_dirty, leaving the DIRTY
    mark for a concurrent data-integrity sync to find; true when it was set."""
    return bool(change_flags(scratch, page, off=PG_DIRTY) & PG_DIRTY)


def start_writeback(scratch: Scratch, page: Page, keep_write: bool = False) -> None:
    """``__folio_start_writeback()``: PG_writeback and the WRITEBACK mark;
    DIRTY cleared unless the folio was redirtied; TOWRITE cleared unless
    ``keep_write``."""
    change_flags(scratch, page, on=PG_WRITEBACK)
    off = TAG_TOWRITE if not keep_write else 0
    if not flags_of(scratch.values, page) & PG_DIRTY:
        off |= TAG_DIRTY
    change_marks(scratch, page, on=TAG_WRITEBACK, off=off)


def end_writeback(scratch: Scratch, page: Page) -> None:
    """``__folio_end_writeback()``: PG_writeback and the WRITEBACK mark go."""
    change_flags(scratch, page, off=PG_WRITEBACK)
    if scratch[page.folio] is not None:
        change_marks(scratch, page, off=TAG_WRITEBACK)


def in_range(mapping: Mapping, only: tuple[int, ...] | None) -> Sequence[Page]:
    """The pages of ``mapping`` at the indices ``only`` (every page when
    None): the range a ranged writeback or wait covers."""
    if only is None:
        return mapping.pages
    return [page for page in mapping.pages if page.index in only]


def _marks_of_range(
    _world: World, mapping: Mapping, only: tuple[int, ...] | None = None
) -> tuple[list[int], list[int]]:
    """What ``tag_for_writeback`` touches: the marks of the range."""
    marks = [page.marks for page in in_range(mapping, only)]
    return marks, marks


@touches(_marks_of_range)
def tag_for_writeback(
    scratch: Scratch, mapping: Mapping, only: tuple[int, ...] | None = None
) -> None:
    """``tag_pages_for_writeback()``: every DIRTY index (of the range
    ``only``, see ``in_range``) gets TOWRITE."""
    for page in in_range(mapping, only):
        if scratch[page.marks] & TAG_DIRTY:
            change_marks(scratch, page, on=TAG_TOWRITE)


def _tagged_reads(
    _world: World, mapping: Mapping, _tag: int, only: tuple[int, ...] | None = None
) -> tuple[list[int], list[int]]:
    """What ``tagged`` reads: the marks and folios of the range."""
    pages = in_range(mapping, only)
    return [*(page.marks for page in pages), *(page.ident for page in pages)], []


@touches(_tagged_reads)
def tagged(
    scratch: Scratch, mapping: Mapping, tag: int, only: tuple[int, ...] | None = None
) -> tuple[tuple[int, int], ...]:
    """``filemap_get_folios_tag()``: the indices carrying ``tag`` (of the
    range ``only``), each with the folio cached there (the batch holds
    references to them)."""
    return tuple(
        (page.index, scratch[page.ident])
        for page in in_range(mapping, only)
        if scratch[page.marks] & tag
    )


def get_block(scratch: Scratch, page: Page) -> int:
    """``get_block(inode, iblock, bh, 1)``: map the page to a newly
    allocated block unless it has one; ``-ENOSPC`` when the device is full."""
    if scratch[page.block] is not None:
        return 0
    block = dev.allocate(scratch.values, _device(scratch))
    if block is None:
        return -28
    scratch[page.block] = block
    return 0


def submit_write(scratch: Scratch, page: Page, end_io: str, block: int | None = None) -> None:
    """``submit_bh()``/``submit_bio()`` of a write of the folio's data to
    the page's block, or to ``block`` (the one a buffer still maps)."""
    folio = scratch[page.folio]
    block = scratch[page.block] if block is None else block
    if folio is None or block is None:
        gone(scratch, page, "submits a write of")
        return
    bio = Bio(dev.WRITE, block, page.ino, page.index, page.path, folio[0], end_io)
    dev.submit(scratch.values, _device(scratch), bio)


def submit_read(scratch: Scratch, page: Page, end_io: str) -> None:
    """Submit a read of the page's block into the locked folio; the folio
    lock now belongs to the I/O, whose completion unlocks it.  A hole
    needs no I/O: the folio is zeroed and unlocked at once."""
    block = scratch[page.block]
    lock = page.cached_lock(scratch.values)
    assert lock is not None
    if block is None:
        read_zeroes(scratch, page)
        return
    bio = Bio(dev.READ, block, page.ino, page.index, page.path, None, end_io)
    dev.submit(scratch.values, _device(scratch), bio)
    scratch[lock.slot] = pagecache(scratch.world).irq(page)


def read_zeroes(scratch: Scratch, page: Page) -> None:
    """The read of a block with nothing to read (a hole, or past EOF):
    the locked folio is zeroed, marked uptodate and unlocked at once."""
    lock = page.cached_lock(scratch.values)
    folio = scratch[page.folio]
    assert lock is not None and folio is not None
    scratch[page.folio] = filled_by_read(folio, ZEROES)
    scratch[lock.slot] = None


def complete(scratch: Scratch, bio: Bio) -> None:
    """The device finishes ``bio``; its handler ends the page-cache side:
    ``folio_end_writeback()`` for a write, ``folio_end_read()`` (data,
    PG_uptodate, unlock) for a read; a direct write's data enters the
    page's history (``iomap_dio_bio_end_io()`` drops the dio's reference)."""
    dev.retire(scratch.values, _device(scratch), bio)
    page = pagecache(scratch.world).page_of(bio)
    if bio.end_io == dev.DIO_END_IO:
        scratch[page.history] = (*scratch[page.history], bio.version)
        return
    if bio.op == dev.WRITE:
        end_writeback(scratch, page)
        return
    irq = pagecache(scratch.world).irq(page)
    read_into = next((k for k, lock in enumerate(page.locks) if scratch[lock.slot] == irq), None)
    if read_into is None:
        scratch.violate(
            LOCK_PROTOCOL,
            f"the read of {page} completes with no folio locked for it: folio_end_read() "
            "unlocks a folio the reader did not lock, or another task took its lock "
            "(VM_BUG_ON_FOLIO(!folio_test_locked(folio)) in folio_unlock())",
        )
        return
    folio = scratch[page.folio]
    if folio is not None and scratch[page.ident] == read_into:
        scratch[page.folio] = filled_by_read(folio, scratch[_device(scratch).blocks[bio.block]])
    scratch[page.locks[read_into].slot] = None


def filled_by_read(folio: Folio, data: Any) -> Folio:
    """``folio`` once a read of a block holding ``data`` (zeroes for a
    hole) filled it: uptodate, every buffer, holding ``data`` (zeroes for a
    block allocated and never written: an unwritten extent, or a new
    buffer ``__block_write_begin_int()`` zeroes around the write), but for
    a first buffer already uptodate (``BUFFER0_UPTODATE``), which
    ``block_read_full_folio()`` does not read again (fs/buffer.c: it skips
    uptodate buffers), so the folio keeps that block's data."""
    flags = (folio[1] | PG_UPTODATE) & ~BUFFER0_UPTODATE
    return _kept_buffer(folio, ZEROES if data is None else data), flags


def _kept_buffer(folio: Folio, data: Any) -> Any:
    version, flags = folio
    if not flags & BUFFER0_UPTODATE or version is None or version == data:
        return data
    if isinstance(data, tuple) or isinstance(version, tuple):
        raise ModelError(
            "a read into a folio whose first buffer is uptodate, of a block that holds "
            "several versions, is not modelled"
        )
    return ((0, version), (BLOCK_SIZE, data))


def _device(scratch: Scratch) -> Device:
    device = pagecache(scratch.world).device
    assert device is not None
    return device


def completions(irq: int) -> Expr:
    """What the device can do next: complete any bio in flight, or (None)
    stop once every other thread has returned (but those completing
    another device's I/O) and nothing is in flight."""

    def build(world: World) -> Eval:
        slot = dev.device_of(world).bios
        returned = others_returned(world, irq)

        def values(state: State) -> Iterable[Bio | None]:
            in_flight = state[slot]
            if in_flight:
                return tuple(in_flight)
            if returned(state):
                return (None,)
            return ()

        return values

    return Expr("the bios in flight", build)


def promise(scratch: Scratch, mapping: Mapping) -> tuple[tuple[int, int], ...]:
    """What an fsync beginning now must make durable: for each page, the
    newest data version written by a write that has returned or stored
    through the mapping (a store is done once its byte is in the folio,
    where it enters the page's history)."""
    part = pagecache(scratch.world)
    returned = {
        w.version
        for w in part.writes
        if w.page is None or (w.returned(scratch.values) and w.page.ino == mapping.ino)
    }
    promised = []
    for page in mapping.pages:
        done = [v for v in scratch[page.history] if v in returned]
        if done:
            promised.append((page.index, done[-1]))
    return tuple(promised)


def render_promise(promised: tuple[tuple[int, int], ...] | None) -> str:
    if not promised:
        return "no page (none was dirty)"
    return ", ".join(f"{render_version(v)} of page {i}" for i, v in promised)
