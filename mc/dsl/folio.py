"""A thread's reference to a folio object (``struct folio *folio`` in the
kernel's code), held in a register of the thread, and the steps that find,
allocate and drop one.

A folio is an object with its own identity and lock (``mc.kernel.pagecache``):
``find_folio`` is ``filemap_get_folio()`` (the folio cached at the index
now, or NULL), ``new_folio`` is ``filemap_alloc_folio()`` +
``__folio_set_locked()`` + ``filemap_add_folio()`` (a fresh object, locked
by its creator without waiting, added unless the index is taken:
-EEXIST), ``put_folio`` is ``folio_put()``.  ``ref.lock`` is the lock of
the folio the register holds, ``ref.mapped`` is ``folio->mapping ==
mapping`` (the folio held is still the one cached at the index).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from mc.dsl.callers import caller_source
from mc.dsl.operation import Op
from mc.dsl.steps import EffectStep
from mc.kernel.expr import Eval, Expr, LockExpr, State, const, not_
from mc.kernel.locks import SHARED, Lock
from mc.kernel.mm import maps_cached, mm_mapping
from mc.kernel.pagecache import (
    PG_WRITEBACK,
    Mapping,
    Page,
    add_folio,
    folio_test,
    pagecache,
    render_ident,
)
from mc.kernel.rmap import folio_clear_dirty_for_io
from mc.kernel.world import Scratch, World


@attrs.frozen
class FolioRef(Expr):
    """The folio a thread's register holds (its value is the identity);
    ``lock`` (also ``PG_locked``, the name the locking rules use) is that
    folio's lock."""

    page: Page = attrs.field(kw_only=True, default=None)
    slot: int = attrs.field(kw_only=True, default=-1)

    @property
    def lock(self) -> LockExpr:
        page, slot = self.page, self.slot

        def build(_world: World) -> Any:
            def lock(state: State) -> Lock | None:
                ident = state[slot]
                return None if ident is None else page.locks[ident]

            return lock

        return LockExpr(f"PG_locked(folio /* {page} */)", "PG_locked", build)

    @property
    def PG_locked(self) -> LockExpr:
        return self.lock

    @property
    def PG_writeback(self) -> Expr:
        """``folio_test_writeback(folio)`` of the folio held (false when the
        register holds none, or another folio is cached at the index)."""
        page, slot = self.page, self.slot

        def build(_world: World) -> Eval:
            def test(state: State) -> bool:
                held, folio = state[slot], state[page.folio]
                cached = held is not None and held == state[page.ident] and folio is not None
                return cached and bool(folio[1] & PG_WRITEBACK)

            return test

        return Expr(
            f"folio_test_writeback(folio /* {page} */)",
            build,
            reads=frozenset({page.ident, page.folio}),
        )

    @property
    def found(self) -> Expr:
        """The register holds a folio (the lookup found one)."""
        slot = self.slot
        return Expr("folio", lambda _w: lambda s: s[slot] is not None, local=True)

    @property
    def mapped(self) -> Expr:
        """``folio->mapping == mapping``: the folio held is the one cached at
        the index; read under the folio lock, which keeps it stable, so the
        read commutes with the other threads' steps."""
        slot, ident = self.slot, self.page.ident
        return Expr(
            f"folio->mapping == mapping /* {self.page} */",
            lambda _w: lambda s: s[slot] is not None and s[slot] == s[ident],
            local=True,
        )

    def holders(self, state: State) -> tuple[int, ...]:
        """Who holds the folio's lock (who could end a wait for it): a
        thread, or the I/O completion a read handed it to."""
        ident = state[self.slot]
        holder = None if ident is None else state[self.page.locks[ident].slot]
        return () if holder is None else (holder,)

    @property
    def unlocked(self) -> Expr:
        """``!folio_test_locked(folio)``: what ``folio_wait_locked()`` waits for."""
        page, slot = self.page, self.slot

        def build(_world: World) -> Eval:
            return lambda s: s[slot] is None or s[page.locks[s[slot]].slot] is None

        return Expr(f"!folio_test_locked(folio /* {page} */)", build)


def io_completer(op: Op) -> Callable[[State], tuple[int, ...]]:
    """Who could end a wait for I/O (PG_writeback, a read in flight): the
    thread completing bios, once the scenario has one."""
    part = pagecache(op.world)
    return lambda _state: () if part.irq_thread is None else (part.irq_thread,)


def no_io_completer(world: World) -> str:
    """What a scenario lacks when no thread could end a wait for I/O: a
    thread completing bios (``io_completion``), if it has none."""
    if pagecache(world).irq_thread is not None:
        return ""
    return "no thread of the scenario completes the file's bios: add an io_completion(file) thread"


def _register_name(op: Op, page: Page) -> str:
    first = next(iter(pagecache(op.world).mappings), page.ino)
    return f"folio.{page.index}" if page.ino == first else f"folio({page})"


def folio_ref(op: Op, page: Page) -> FolioRef:
    """The thread's register for a folio of ``page`` (one per page and
    thread, as the kernel's functions hold one folio of an index at a time):
    ``folio.0`` for the pages of the first file the scenario attached,
    ``folio(/b:0)`` for another file's, whose folio a thread may hold at the
    same time (a copy from a mapping of another file)."""
    slot = op.register(_register_name(op, page), render_ident)
    refs = pagecache(op.world).refs.setdefault((page.ino, page.index), [])
    if slot not in refs:
        refs.append(slot)
        op.world.counted.add(slot)
    return FolioRef(
        f"folio /* {page} */",
        lambda _w: lambda s: s[slot],
        local=True,
        page=page,
        slot=slot,
    )


def _cached(scratch: Scratch, page: Page) -> Any:
    return scratch[page.ident]


def find_folio(op: Op, page: Page, label: str) -> FolioRef:
    """``folio = filemap_get_folio(mapping, index)``: a reference to the
    folio cached at the index, or NULL."""
    ref = folio_ref(op, page)
    op.emit(
        EffectStep(
            label=label,
            source=caller_source(),
            effect=lambda scratch, values: _cached(scratch, *values),
            args=(const(page, str(page)),),
            result=ref.slot,
        )
    )
    return ref


def new_folio(op: Op, mapping: Mapping, page: Page, label: str) -> tuple[FolioRef, Expr]:
    """Allocate a folio locked at birth and add it at the index under
    xa_lock; the expression says whether it was added (false: -EEXIST, the
    new folio was put and the register holds NULL)."""
    ref = folio_ref(op, page)
    name = f"added.{page.index}"
    result = op.register(name, str)
    op.section(
        mapping.xa_lock,
        label,
        _add,
        page,
        ref.slot,
        result=result,
    )
    return ref, Expr(name, lambda _w: lambda s: bool(s[result]), local=True)


def _add(scratch: Scratch, page: Page, slot: int) -> bool:
    scratch[slot] = None
    assert scratch.tid is not None
    return add_folio(scratch, page, scratch.tid, slot)


def hold_folio(op: Op, page: Page, ident: Expr, label: str) -> FolioRef:
    """The thread's register takes the folio ``ident`` names (a folio of a
    batch, the folio a pte maps): a step of its own registers."""
    ref = folio_ref(op, page)
    op.let(_register_name(op, page), ident, label, render=render_ident)
    return ref


def repeat_label(op: Op, what: str) -> str:
    """A label name no other place of the program uses."""
    return f"{what}.{len(op.items)}"


def put_folio(op: Op, ref: FolioRef, label: str = "folio_put(folio)") -> None:
    """``folio_put()``: the thread drops its reference (a step of its own
    registers only, run together with the step before it)."""
    op.let(_register_name(op, ref.page), const(None, "NULL"), label, render=render_ident)


def wait_writeback(op: Op, page: Page, label: str = "folio_wait_writeback(folio)") -> None:
    """``folio_wait_writeback()`` (mm/page-writeback.c): sleep until
    PG_writeback of ``page``'s folio is clear; the thread completing bios
    is who could end the wait.  A body for ``op.run(wait_writeback, page)``."""
    op.wait_until(
        not_(folio_test(page, PG_WRITEBACK, "writeback")),
        label,
        f"PG_writeback({page})",
        io_completer(op),
        unheld=no_io_completer,
    )


def wait_locked(op: Op, ref: FolioRef, label: str = "folio_wait_locked_killable(folio)") -> None:
    """``folio_wait_locked()``: sleep until the folio ``ref`` names is
    unlocked; whoever holds its lock (a thread, or the I/O completion a
    read handed it to) could end the wait.  A body for
    ``op.run(wait_locked, ref)``."""
    op.wait_until(ref.unlocked, label, f"PG_locked({ref.page})", ref.holders)


def folio_mapped(page: Page) -> Expr:
    """``folio_mapped(folio)``: a pte of the scenario's process maps the
    folio cached at ``page``."""

    def build(world: World) -> Eval:
        mm = mm_mapping(world, page.ino)
        if mm is None:
            return lambda _state: False
        return lambda state: maps_cached(state, mm, page.index)

    return Expr(f"folio_mapped({page})", build)


def _clear_dirty(scratch: Scratch, page: Page, mkclean: bool) -> None:
    folio_clear_dirty_for_io(scratch, page, mkclean)


def clear_dirty_for_io(
    op: Op,
    mapping: Mapping,
    page: Page,
    label: str,
    mkclean: bool,
    tag: str | None = None,
) -> None:
    """``folio_clear_dirty_for_io()`` on the locked folio at ``page``
    (``mc.kernel.rmap``): when the folio is mapped, ``folio_mkclean()``'s
    ``rmap_walk()`` -> ``rmap_walk_file()`` holds ``i_mmap_rwsem`` shared
    around the walk (mm/rmap.c, Linux 6.6; an unmapped folio returns
    before the walk).  ``mkclean`` false is variant ``no-mkclean``: no walk."""
    if not mkclean:
        op.effect(label, _clear_dirty, page, mkclean, tag=tag)
        return
    with op.when(folio_mapped(page), "if (folio_mapped(folio)) rmap_walk(folio, &rwc)"):
        op.lock(
            mapping.i_mmap_rwsem,
            SHARED,
            "folio_mkclean(): rmap_walk_file(): i_mmap_lock_read(mapping)",
        )
        op.effect(label, _clear_dirty, page, mkclean, tag=tag)
        op.unlock(mapping.i_mmap_rwsem, "i_mmap_unlock_read(mapping)")
    with op.otherwise():
        op.effect(label, _clear_dirty, page, mkclean, tag=tag)
