"""Folios are objects: each has its own identity and lock, a new folio at
an index is another object than the one removed from it, and a pte maps
the folio it was installed for."""

from __future__ import annotations

from collections import deque
from typing import Any

from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry
from mc.kernel.mm import PTE_DIRTY, PTE_WRITE, Mm, make_pte, mm_of, zap
from mc.kernel.pagecache import PG_UPTODATE, Page, add_folio, pagecache, remove_folio
from mc.kernel.world import Scratch


def _states(model: KernelModel) -> list[tuple[Any, ...]]:
    seen = {model.initial}
    queue = deque([model.initial])
    while queue:
        state = queue.popleft()
        for _action, after in model.successors(state):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    return list(seen)


def _page(model: KernelModel) -> Page:
    return next(iter(pagecache(model.world).mappings.values())).pages[0]


def test_a_new_folio_is_added_while_the_removed_one_is_still_locked(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("writeback/read-write-reclaim"))
    page = _page(model)
    both = [
        state
        for state in _states(model)
        if state[page.ident] is not None
        and any(
            ident != state[page.ident] and state[lock.slot] is not None
            for ident, lock in enumerate(page.locks)
        )
    ]
    assert both, "no state has a removed folio locked next to a new one at the index"


def test_filemap_add_folio_takes_a_fresh_object_or_fails_with_eexist(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("writeback/read-write-reclaim"))
    page = _page(model)
    register = pagecache(model.world).refs[(page.ino, page.index)][0]
    fs = Scratch(model.world, model.initial)
    assert add_folio(fs, page, 0, register)
    first = fs[page.ident]
    assert fs[page.locks[first].slot] == 0 and fs[register] == first
    assert not add_folio(fs, page, 1, register), "a second add at a taken index is -EEXIST"
    remove_folio(fs, page)
    assert add_folio(fs, page, 1, register)
    assert fs[page.ident] != first, "the removed folio, still locked and held, is not reused"
    assert fs[page.locks[fs[page.ident]].slot] == 1


def test_a_pte_that_outlived_its_folio_does_not_dirty_the_next_one(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("writeback/mmap-store-flusher"))
    page = _page(model)
    found = model.world.parts["mm"]
    assert isinstance(found, Mm)
    mm: Mm = found
    fs = Scratch(model.world, model.initial)
    fs[mm.ptes[0]] = make_pte(fs[page.ident], PTE_WRITE | PTE_DIRTY)
    assert zap(Scratch(model.world, tuple(fs.values)), mm, (0,)) == (0,)
    old = fs[page.ident]
    remove_folio(fs, page)
    assert add_folio(fs, page, 0, pagecache(model.world).refs[(page.ino, 0)][0])
    assert fs[page.ident] != old, "the pte still maps the old folio, so it is not reused"
    fs[page.folio] = (0, PG_UPTODATE)
    assert zap(fs, mm, (0,)) == ()
    assert mm_of(model.world, mm.mapping) is mm
