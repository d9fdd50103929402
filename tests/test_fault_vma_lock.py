"""``fault-under-vma-lock``: 6.7+'s ``vmf_can_call_fault()`` lets ``do_read_fault()``,
``do_shared_fault()`` and ``wp_page_shared()`` call ``->fault`` / ``->page_mkwrite`` under
the per-VMA lock alone; ``filemap_fault()`` releases that lock where 6.6 released mmap_lock,
and a major fault's retry under mmap_lock has FAULT_FLAG_TRIED."""

from __future__ import annotations

import pytest
from conftest import reachable_states

from mc.check import lockorder
from mc.check.checker import check_scenario
from mc.check.registry import shipped as shipped_registry
from mc.dsl.scenario import Registry, Scenario
from mc.engine.result import Verdict
from mc.kernel.locks import holds
from mc.kernel.pagecache import File
from mc.kernel.vma import TASK, VM_WRITE, Vmas
from mc.models.fault import FAULT_UNDER_VMA_LOCK
from mc.models.mmap import MUNMAP_WITHOUT_VMA_LOCK, MappedFile, munmap_range, vma_load
from mc.models.mmap_scenarios import MMAP_PROPERTIES
from mc.models.writeback import io_completion

LOAD_VS_MUNMAP = "mmap/load-vs-munmap"
NO_FAULT_AROUND = "no-fault-around"
FILEMAP_FAULT_LOOKUP = "folio = filemap_get_folio(mapping, index) /* cached and uptodate? */"


@pytest.mark.parametrize(
    ("variants", "verdict"),
    [
        ((MUNMAP_WITHOUT_VMA_LOCK, NO_FAULT_AROUND), Verdict.OK),
        ((FAULT_UNDER_VMA_LOCK, NO_FAULT_AROUND), Verdict.OK),
        ((MUNMAP_WITHOUT_VMA_LOCK, NO_FAULT_AROUND, FAULT_UNDER_VMA_LOCK), Verdict.VIOLATED),
    ],
)
def test_a_fault_under_the_vma_lock_alone_maps_after_munmap_s_zap_without_vma_start_write(
    shipped: Registry, variants: tuple[str, ...], verdict: Verdict
) -> None:
    """With no fault-around, 6.6's fault maps nothing under the VMA lock, so munmap
    detaching the VMA without write-locking it breaks nothing; 6.7+'s
    ``filemap_fault()`` + ``finish_fault()`` under the VMA lock alone install the pte
    after the zap."""
    result = check_scenario(shipped, LOAD_VS_MUNMAP, variants).result
    assert result.verdict is verdict, result.violation
    if verdict is Verdict.VIOLATED:
        assert result.violation is not None
        assert result.violation.property == "ptes-within-vmas"
        assert "no VMA maps page 0" in result.violation.message


UNCACHED = MappedFile(File("/f", pages=2), vmas=((0, 2, VM_WRITE),))


def _uncached_load() -> tuple[Registry, str]:
    registry = shipped_registry()
    name = "test/uncached-load-vs-munmap"
    threads = (vma_load(UNCACHED, 0), munmap_range(UNCACHED, 0, 2), io_completion(UNCACHED.file))
    registry.add_scenario(Scenario(name, "x", ("/f",), threads, MMAP_PROPERTIES))
    return registry, name


def test_a_read_fault_of_an_uncached_page_runs_filemap_fault_under_the_vma_lock() -> None:
    """The load's ``filemap_fault()`` looks the page up holding its VMA's lock and not
    mmap_lock; the miss is major, so the retry under mmap_lock is FAULT_FLAG_TRIED (with
    fault-around, the retry maps the page read meanwhile before ``->fault``)."""
    registry, name = _uncached_load()
    variants = (FAULT_UNDER_VMA_LOCK, NO_FAULT_AROUND)
    assert check_scenario(registry, name, (FAULT_UNDER_VMA_LOCK,)).result.verdict is Verdict.OK
    assert check_scenario(registry, name, variants).result.verdict is Verdict.OK
    model = registry.build(registry.scenario(name), variants)
    vmas = model.world.parts["vmas"]
    assert isinstance(vmas, Vmas)
    process = vmas.processes[TASK]
    tried = next(i for i, info in enumerate(model.world.slots) if info.name == "T1.tried.0")
    load = 0
    seen: set[tuple[bool, bool, bool]] = set()
    for state in reachable_states(model):
        current = model.current_step(state, load)
        if current is None or current.step.label != FILEMAP_FAULT_LOOKUP:
            continue
        vma_locked = any(holds(lock.kind, state[lock.slot], load) for lock in process.vm_locks)
        mmap_locked = holds(process.mmap_lock.kind, state[process.mmap_lock.slot], load)
        seen.add((vma_locked, mmap_locked, bool(state[tried])))
    assert (True, False, False) in seen, "filemap_fault() under the VMA lock alone"
    assert (False, True, True) in seen, "the retry under mmap_lock, FAULT_FLAG_TRIED"
    assert all(vma_locked != mmap_locked for vma_locked, mmap_locked, _ in seen)


def test_without_the_variant_the_uncached_load_faults_under_mmap_lock_only() -> None:
    registry, name = _uncached_load()
    model = registry.build(registry.scenario(name))
    labels = [step.label for step in model.threads[0].program.steps]
    assert labels.count(FILEMAP_FAULT_LOOKUP) == 1


def test_page_mkwrite_under_the_vma_lock_nests_the_filesystem_s_locks_in_it(
    shipped: Registry,
) -> None:
    """``ext4_page_mkwrite()`` under the VMA lock: vm_lock -> sb_pagefaults,
    invalidate_lock and the folio lock, edges 6.6 takes under mmap_lock only."""
    new = {("vm_lock", "sb_pagefaults"), ("vm_lock", "invalidate_lock"), ("vm_lock", "PG_locked")}
    scenario = ["mmap/mmap-vs-store-dontneed"]
    [before] = lockorder.explore(shipped, scenario)
    [after] = lockorder.explore(shipped, scenario, variants=[FAULT_UNDER_VMA_LOCK])
    assert not new & set(before.edges)
    assert new <= set(after.edges)
    assert ("mmap_lock", "sb_pagefaults") in after.edges


@pytest.mark.parametrize(
    ("scenario", "variants", "states"),
    [
        (LOAD_VS_MUNMAP, (MUNMAP_WITHOUT_VMA_LOCK, NO_FAULT_AROUND), 209),
        ("mmap/store-vs-mprotect", (), 170),
    ],
)
def test_without_the_variant_the_faults_are_6_6_s(
    shipped: Registry, scenario: str, variants: tuple[str, ...], states: int
) -> None:
    result = check_scenario(shipped, scenario, variants).result
    assert result.verdict is Verdict.OK
    assert result.stats.states == states
