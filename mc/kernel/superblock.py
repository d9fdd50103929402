"""The superblock's state beyond its locks: the freeze levels of
``sb->s_writers`` (include/linux/fs.h, fs/super.c), the filesystem's
metadata that internal transactions dirty, and the property that a frozen
filesystem is not written.

``sb->s_writers.rw_sem[]`` are three percpu rw_semaphores, one per freeze
level (``sb_writers``, ``sb_pagefaults``, ``sb_internal``, as
``sb_writers_name[]`` names them): writers take them shared
(``sb_start_write()``, ``sb_start_pagefault()``, ``sb_start_intwrite()``),
``freeze_super()`` takes them exclusive one after the other and keeps them
held, by no task, until ``thaw_super()``.  ``sb->s_writers.frozen`` says how
far a freeze has come (``SB_UNFROZEN`` ... ``SB_FREEZE_COMPLETE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mc.engine.model import Check, declare
from mc.kernel.device import WRITE
from mc.kernel.expr import Expr, State
from mc.kernel.locks import Kind, Lock
from mc.kernel.pagecache import PG_DIRTY, PageCache
from mc.kernel.world import Built, World, reported_error

SB_UNFROZEN = 0
SB_FREEZE_WRITE = 1
SB_FREEZE_PAGEFAULT = 2
SB_FREEZE_FS = 3
SB_FREEZE_COMPLETE = 4
FROZEN_NAMES = (
    "SB_UNFROZEN",
    "SB_FREEZE_WRITE",
    "SB_FREEZE_PAGEFAULT",
    "SB_FREEZE_FS",
    "SB_FREEZE_COMPLETE",
)
LEVEL_NAMES = ("sb_writers", "sb_pagefaults", "sb_internal")
"""The lock of each freeze level, as fs/super.c's ``sb_writers_name[]``
names them (level ``SB_FREEZE_WRITE`` is index 0)."""

FREEZE_HOLDER_KERNEL = 1
FREEZE_HOLDER_USERSPACE = 2
"""``enum freeze_holder`` (include/linux/fs.h, Linux 6.6): who holds a
freeze, bits of ``sb->s_writers.freeze_holders``."""
HOLDER_NAMES = {FREEZE_HOLDER_KERNEL: "kernel", FREEZE_HOLDER_USERSPACE: "userspace"}
HOLDERS_SLOT = "s_writers.freeze_holders"

NO_WRITE_WHILE_FROZEN = "no-write-while-frozen"
FROZEN_SLOT = "s_writers.frozen"
"""The slot of ``sb->s_writers.frozen``, made by the first operation that
freezes or checks the frozen state."""


def _render_frozen(value: int) -> str:
    return FROZEN_NAMES[value]


def _render_meta(value: bool) -> str:
    return "dirty (a transaction not yet committed)" if value else "clean"


def sb_writers(world: World, level: int) -> Lock:
    """``sb->s_writers.rw_sem[level - 1]``: the percpu rw_semaphore of
    freeze level ``level`` (``SB_FREEZE_WRITE``...``SB_FREEZE_FS``)."""
    return world.shared_lock(LEVEL_NAMES[level - 1], Kind.PERCPU_RWSEM)


def frozen_slot(world: World) -> int:
    """The slot of ``sb->s_writers.frozen``."""
    return world.shared_slot(FROZEN_SLOT, SB_UNFROZEN, _render_frozen)


def _render_holders(value: int) -> str:
    names = [name for bit, name in HOLDER_NAMES.items() if value & bit]
    return " | ".join(names) if names else "none"


def holders_slot(world: World) -> int:
    """The slot of ``sb->s_writers.freeze_holders``: which of user space
    and the kernel hold the freeze."""
    return world.shared_slot(HOLDERS_SLOT, 0, _render_holders)


def holders_have(world: World, mask: int, text: str) -> Expr:
    """``sb->s_writers.freeze_holders & mask``."""
    slot = holders_slot(world)
    return Expr(
        text, lambda _world: lambda state: bool(state[slot] & mask), reads=frozenset({slot})
    )


def metadata_slot(world: World) -> int:
    """Whether the filesystem's metadata has changes an internal
    transaction made and no commit (``->sync_fs``, ``->freeze_fs``) wrote."""
    return world.shared_slot("metadata", False, _render_meta)


def frozen_is(world: World, level: int, text: str | None = None) -> Expr:
    """``sb->s_writers.frozen == level``."""
    name = text or f"sb->s_writers.frozen == {FROZEN_NAMES[level]}"
    slot = frozen_slot(world)
    return Expr(name, lambda _world: lambda state: state[slot] == level, reads=frozenset({slot}))


def frozen_in(world: World, levels: Sequence[int], text: str) -> Expr:
    """``sb->s_writers.frozen`` is one of ``levels``."""
    wanted = frozenset(levels)
    slot = frozen_slot(world)
    return Expr(text, lambda _world: lambda state: state[slot] in wanted, reads=frozenset({slot}))


def set_frozen(values: Any, world: World, level: int) -> None:
    """``sb->s_writers.frozen = level``."""
    values[frozen_slot(world)] = level


def find_slot(world: World, name: str) -> int | None:
    """The slot named ``name``, if the scenario made one."""
    return next((i for i, s in enumerate(world.slots) if s.name == name), None)


def no_write_while_frozen_violation(world: World, state: State) -> str | None:
    """While ``sb->s_writers.frozen == SB_FREEZE_COMPLETE`` (from
    ``freeze_super()`` returning to ``thaw_super()`` unfreezing), no folio of
    the filesystem is dirty, no write bio is in flight and no metadata
    change is uncommitted: ``freeze_super()`` synced everything, and every
    writer waits at its freeze level.  And while a holder (user space, the
    kernel) still holds its freeze, the filesystem stays frozen: a thaw by
    one holder does not end another's freeze."""
    return _frozen_check(world)(state)


def _frozen_check(world: World) -> Check[State]:
    frozen = find_slot(world, "s_writers.frozen")
    holders = find_slot(world, HOLDERS_SLOT)
    meta = find_slot(world, "metadata")
    part = world.parts.get("pagecache")
    pages = (
        [page for mapping in part.mappings.values() for page in mapping.pages]
        if isinstance(part, PageCache)
        else []
    )
    bios = part.device.bios if isinstance(part, PageCache) and part.device is not None else None

    def check(state: State) -> str | None:
        if frozen is None:
            return None
        held = 0 if holders is None else state[holders]
        if held and state[frozen] != SB_FREEZE_COMPLETE:
            return (
                f"the filesystem is {FROZEN_NAMES[state[frozen]]} while the freeze of "
                f"{_render_holders(held)} still holds it"
            )
        if state[frozen] != SB_FREEZE_COMPLETE:
            return None
        assert isinstance(part, PageCache) or not pages
        for page in pages:
            folio = state[page.folio]
            if folio is not None and folio[1] & PG_DIRTY:
                writer = part.writer(folio[0]) if isinstance(part, PageCache) else ""
                return f"folio {page} is dirty ({writer}) while the filesystem is frozen"
        if bios is not None:
            for bio in state[bios]:
                if bio.op == WRITE:
                    return f"{bio} is in flight while the filesystem is frozen"
        if meta is not None and state[meta]:
            return "the filesystem's metadata is dirty while the filesystem is frozen"
        return None

    return check


@declare(
    NO_WRITE_WHILE_FROZEN,
    "between freeze_super() returning and thaw_super() no folio of the filesystem is dirty, "
    "no write bio is in flight and no metadata change is left uncommitted; the filesystem stays "
    "frozen while any holder (user space, the kernel) holds its freeze",
    reads=["*", "error", "returned"],
    needs=("freezing", "a freeze of the superblock"),
)
def no_write_while_frozen(model: Built) -> Check[State]:
    frozen = _frozen_check(model.world)

    def check(state: State) -> str | None:
        reported = reported_error(state, NO_WRITE_WHILE_FROZEN)
        return reported if reported is not None else frozen(state)

    return check


DEFINITIONS = (no_write_while_frozen,)
"""The superblock's properties, for the registry."""
SUPER_PROPERTIES = tuple(prop.name for prop in DEFINITIONS)
