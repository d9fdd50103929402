"""The in-core inode's life (fs/inode.c, fs/fs-writeback.c, Linux 6.6):
its ``i_state`` bits, ``i_count``, ``inode->i_lock``, its place in the
inode hash, how far its teardown has come, the version of its metadata in
memory and on disk, and the superblock's end.  Two properties read them:

- ``no-use-after-evict``: no operation touches an inode (a method call on
  it, a reference taken, its metadata written) once ``->evict_inode`` has
  begun on it, but the evicting thread until ``clear_inode()``, and no
  second in-core inode of its number is hashed while ``->evict_inode``
  runs;
- ``clean-unmount``: when ``->kill_sb`` returns, no inode of the superblock
  is dirty, referenced or under writeback, its metadata and every write to
  its pages are on the device, and no I/O is in flight.

An inode object of the models is one allocation: ``iget()`` of an inode
number being freed allocates another object (``inode'``) once the first is
gone from the hash.
"""

from __future__ import annotations

from typing import Any

import attrs

from mc.engine.model import Check, declare
from mc.kernel.expr import Expr, State
from mc.kernel.locks import Kind, Lock
from mc.kernel.pagecache import PG_DIRTY, PG_WRITEBACK, TRUNCATED, PageCache
from mc.kernel.pagecache_properties import same_below_eof
from mc.kernel.world import Built, ModelError, Scratch, World, reported_error, yes_no

I_NEW = 1 << 0
I_DIRTY_SYNC = 1 << 1
I_SYNC = 1 << 2
I_FREEING = 1 << 3
I_WILL_FREE = 1 << 4
I_CLEAR = 1 << 5
I_DIRTY_DATASYNC = 1 << 6
FLAG_NAMES = (
    (I_NEW, "I_NEW"),
    (I_DIRTY_SYNC, "I_DIRTY_SYNC"),
    (I_DIRTY_DATASYNC, "I_DIRTY_DATASYNC"),
    (I_SYNC, "I_SYNC"),
    (I_FREEING, "I_FREEING"),
    (I_WILL_FREE, "I_WILL_FREE"),
    (I_CLEAR, "I_CLEAR"),
)
LIVE, EVICTING, EVICTED, DESTROYED, FREED = 0, 1, 2, 3, 4
STAGES = (
    "live",
    "->evict_inode began",
    "->evict_inode done",
    "->destroy_inode done",
    "->free_inode done",
)
NO_USE_AFTER_EVICT = "no-use-after-evict"
CLEAN_UNMOUNT = "clean-unmount"


def render_state(flags: int | None) -> str:
    """``I_FREEING|I_CLEAR``, ``0``; ``not allocated``."""
    if flags is None:
        return "not allocated"
    names = [name for bit, name in FLAG_NAMES if flags & bit]
    return "|".join(names) or "0"


@attrs.frozen
class InodeObject:
    """One in-core inode: its slots and ``i_lock``."""

    name: str
    i_state: int
    i_count: int
    stage: int
    i_lock: Lock
    change: int
    """The version of its metadata in memory (bumped by mark_inode_dirty)."""
    on_disk: int
    """The version ``->write_inode`` last wrote."""
    evictor: int
    """The thread in ``->evict_inode`` on it, by name (a thread named in
    data stays in place under ``--symmetry``), or None."""

    def __str__(self) -> str:
        return self.name


class InodeLife:
    """The inode part of a world: the scenario file's in-core inode, the
    one ``iget()`` may allocate in its place, the hash slot of their inode
    number, the use-after-evict report and the superblock's end."""

    def __init__(self, world: World, path: str, *, cached: bool, dirty: bool) -> None:
        self.world = world
        self.path = path
        self.cached, self.dirty = cached, dirty
        self.inode = self._object(path, cached=cached, dirty=dirty)
        self.new = self._object(f"{path}'", cached=False, dirty=False)
        self.hash = world.add_slot(
            f"inode_hashtable[ino of {path}]",
            self.inode.name if cached else None,
            lambda v: "empty" if v is None else str(v),
        )
        self.misuse = world.add_slot(
            "use after evict", None, lambda v: "none" if v is None else str(v)
        )
        self.killed = world.add_slot("->kill_sb returned", False, yes_no)

    def _object(self, name: str, *, cached: bool, dirty: bool) -> InodeObject:
        world = self.world
        return InodeObject(
            name=name,
            i_state=world.add_slot(
                f"i_state({name})", (I_DIRTY_SYNC if dirty else 0) if cached else None, render_state
            ),
            i_count=world.add_slot(f"i_count({name})", 1 if cached else 0),
            stage=world.add_slot(f"stage({name})", LIVE, lambda v: STAGES[v]),
            i_lock=world.add_lock(f"i_lock({name})", Kind.SPINLOCK, "i_lock"),
            change=world.add_slot(f"i_version({name})", 1 if dirty else 0, hidden=True),
            on_disk=world.add_slot(f"on-disk inode({name})", 0),
            evictor=world.add_slot(f"evicting({name})", None, lambda v: v or "no"),
        )

    @property
    def objects(self) -> tuple[InodeObject, InodeObject]:
        return (self.inode, self.new)


def inode_life(world: World, path: str, *, cached: bool = True, dirty: bool = False) -> InodeLife:
    """The inode part of ``world`` for the file at ``path``, made on first
    use (the scenario's one file: cached with one reference, its metadata
    dirty when ``dirty``)."""
    part = world.parts.get("inode_life")
    if isinstance(part, InodeLife):
        if part.path != path:
            raise ValueError(
                f"the inode models follow one file per scenario: {part.path}'s inode has its "
                f"life modelled, so {path}'s cannot too"
            )
        if (part.cached, part.dirty) != (cached, dirty):
            raise ValueError(
                f"the inode of {path} is laid out twice, cached={part.cached} dirty={part.dirty} "
                f"and cached={cached} dirty={dirty}"
            )
        return part
    refused = world.parts.get(PAGES_ONLY_SYNC)
    if refused is not None:
        raise ModelError(str(refused))
    part = InodeLife(world, path, cached=cached, dirty=dirty)
    world.parts["inode_life"] = part
    return part


PAGES_ONLY_SYNC = "pages-only sync"
"""The world part holding why a thread's sync(2), syncfs(2) or fsync(2),
which writes pages alone (``mc.models.super.sync``, ``syncfs``,
``mc.models.writeback.fsync``), cannot share the scenario with the
inode's life."""


def refuse_inode_life(
    world: World,
    thread: str,
    call: str = "sync(2)",
    instead: str = "sync_inode(file) (mc.models.mount) is sync(2) with them",
) -> None:
    """A sync(2), syncfs(2) or fsync(2) (``call``) of ``thread`` that writes
    the pages back without the inode's I_SYNC and ``->write_inode``: a
    model error in a scenario that models the inode's life, made before or
    after it, where the writeback of the inode is what a race with
    eviction is about; ``instead`` names the operation with them."""
    refused = (
        f"{thread}'s {call} writes the pages back without the inode's I_SYNC and "
        "->write_inode, and this scenario models the inode's life (iget, the last iput, "
        f"eviction): {instead}"
    )
    if isinstance(world.parts.get("inode_life"), InodeLife):
        raise ModelError(refused)
    world.parts.setdefault(PAGES_ONLY_SYNC, refused)


# --- reading and changing the state ---------------------------------------------------


def state_has(inode: InodeObject, bits: int, text: str) -> Expr:
    """``inode->i_state & bits``."""
    return Expr(text, lambda _w: lambda state: bool((state[inode.i_state] or 0) & bits))


def set_bits(scratch: Scratch, inode: InodeObject, on: int = 0, off: int = 0) -> None:
    """``inode->i_state |= on; inode->i_state &= ~off``."""
    scratch[inode.i_state] = ((scratch[inode.i_state] or 0) | on) & ~off


def touch(scratch: Scratch, inode: InodeObject, what: str) -> None:
    """Record ``what`` as a use of ``inode``: one once ``->evict_inode``
    began, but by the evicting thread before ``clear_inode()``, is a use
    after evict."""
    stage = scratch[inode.stage]
    if stage == LIVE or (stage == EVICTING and scratch[inode.evictor] == _name_of(scratch)):
        return
    misuse = scratch.world.parts["inode_life"].misuse
    if scratch[misuse] is None:
        when = (
            f"while {scratch[inode.evictor]} is in ->evict_inode"
            if stage == EVICTING
            else f"after {STAGES[stage]}"
        )
        scratch[misuse] = f"{what} on {inode} {when}"


def begin_evict(scratch: Scratch, inode: InodeObject) -> None:
    """``->evict_inode`` begins on ``inode`` in this step's thread."""
    scratch[inode.stage] = EVICTING
    scratch[inode.evictor] = _name_of(scratch)


def _name_of(scratch: Scratch) -> str | None:
    """The name of the thread whose step ``scratch`` runs."""
    return None if scratch.tid is None else scratch.world.thread_names[scratch.tid]


def hashed_as(part: InodeLife, value: str | None, text: str) -> Expr:
    """The inode hash holds ``value`` for the file's inode number."""
    return Expr(text, lambda _w: lambda state: state[part.hash] == value)


# --- properties -----------------------------------------------------------------------


def no_use_after_evict_violation(part: InodeLife, state: State) -> str | None:
    """The first use of an inode after ``->evict_inode`` ran on it, or a
    second in-core inode of its number in the hash while ``->evict_inode``
    runs on it: ``evict()`` keeps the I_FREEING inode hashed until
    ``->evict_inode`` is done so that ``iget()`` waits for it
    (``__wait_on_freeing_inode()``) instead of reading the on-disk inode
    being freed into a new one."""
    misuse = state[part.misuse]
    if misuse is not None:
        return str(misuse)
    old, new = part.inode, part.new
    if state[old.stage] == EVICTING and state[part.hash] == new.name:
        return (
            f"{new} is in the inode hash for {old}'s inode number while "
            f"{state[old.evictor]} is in ->evict_inode on {old}: iget() set up a second "
            "in-core inode from the on-disk inode being freed"
        )
    return None


def clean_unmount_violation(part: InodeLife, state: State) -> str | None:
    """Once ``->kill_sb`` returned: no inode dirty, under writeback or
    referenced; every inode's metadata on disk; every page's newest data on
    the device below EOF (past it, the bytes are the kernel's to zero) and
    nothing in flight."""
    if not state[part.killed]:
        return None
    for inode in part.objects:
        flags = state[inode.i_state]
        if flags is not None and state[inode.stage] == LIVE:
            if flags & (I_DIRTY_SYNC | I_SYNC):
                return f"{inode} is {render_state(flags)} after ->kill_sb returned"
            if state[inode.i_count]:
                return f"{inode} is still referenced (busy) after ->kill_sb returned"
        if state[inode.change] != state[inode.on_disk]:
            return f"{inode}'s last metadata change never reached the disk"
    pages = part.world.parts.get("pagecache")
    if isinstance(pages, PageCache):
        if pages.device is not None and state[pages.device.bios]:
            return "I/O is still in flight after ->kill_sb returned"
        for mapping in pages.mappings.values():
            for page in mapping.pages:
                folio = state[page.folio]
                if folio is not None and folio[1] & (PG_DIRTY | PG_WRITEBACK):
                    return f"folio {page} is dirty or under writeback after ->kill_sb returned"
                newest = state[page.history][-1]
                held = pages.on_device(state, page)
                if (
                    newest != TRUNCATED
                    and not pages.same_data(page, held, newest)
                    and not same_below_eof(pages, state, page, held, newest)
                ):
                    return (
                        f"{pages.writer(newest)} to {page} never reached the device: "
                        f"it holds {pages.writer(held)}"
                    )
    return None


def _maker(name: str, check: Any) -> Any:
    def make(model: Built) -> Check[State]:
        part = model.world.parts.get("inode_life")

        def run(state: State) -> str | None:
            reported = reported_error(state, name)
            if reported is not None:
                return reported
            if not isinstance(part, InodeLife):
                return None
            return check(part, state)  # type: ignore[no-any-return]

        return run

    return make


no_use_after_evict = declare(
    NO_USE_AFTER_EVICT,
    "no operation touches an inode (a method called on it, a reference taken, its metadata "
    "written) after ->evict_inode ran on it, and iget() sets up no second inode of its number "
    "while ->evict_inode runs",
    reads=["*", "error", "returned"],
    needs=("inode_life", "an inode's life (iget, iput, eviction)"),
)(_maker(NO_USE_AFTER_EVICT, no_use_after_evict_violation))
clean_unmount = declare(
    CLEAN_UNMOUNT,
    "when ->kill_sb returns no inode is dirty, busy or under writeback, every inode's "
    "metadata and every completed write are on the device and no I/O is in flight",
    reads=["*", "error", "returned"],
    needs=("inode_life", "an inode's life (iget, iput, eviction)"),
)(_maker(CLEAN_UNMOUNT, clean_unmount_violation))

DEFINITIONS = (no_use_after_evict, clean_unmount)
"""The inode-life properties, for the registry."""
INODE_PROPERTIES = tuple(prop.name for prop in DEFINITIONS)
