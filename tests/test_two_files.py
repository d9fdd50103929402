"""Two files, each with a page cache and a shared mapping in one process:
one mmap_lock, a VMA (ptes) per file, a folio register per file, and a
deadlock between two copies that each fault on the other file's folio
under their own file's folio lock."""

from __future__ import annotations

from mc.check.checker import check_scenario
from mc.dsl.scenario import Registry
from mc.engine.result import Verdict
from mc.kernel.mm import mapped_files

TWO_MAPPINGS = "mmap/two-files-two-mappings"
STORE_WRITE = "mmap/two-files-store-write"
FAULTING_COPY = "copy-faults-under-folio-lock"


def test_one_process_maps_both_files_under_one_mmap_lock(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario(STORE_WRITE))
    first, second = mapped_files(model.world)
    assert first.mmap_lock == second.mmap_lock
    assert {first.mapping.path, second.mapping.path} == {"/a", "/b"}
    assert set(first.ptes).isdisjoint(second.ptes)
    names = {model.world.slots[slot].name for slot in (*first.ptes, *second.ptes)}
    assert names == {"pte(/a:0)", "pte(/b:0)"}


def test_a_thread_holds_a_folio_of_each_file_in_registers_of_its_own(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario(TWO_MAPPINGS), (FAULTING_COPY,))
    names = {slot.name for slot in model.world.slots if slot.name.startswith("T1.folio")}
    assert names == {"T1.folio.0", "T1.folio(/a:0)"}


def test_both_scenarios_pass_on_the_shipped_protocol(shipped: Registry) -> None:
    for name in (TWO_MAPPINGS, STORE_WRITE):
        assert check_scenario(shipped, name).result.verdict is Verdict.OK, name


def test_copies_faulting_under_the_folio_lock_deadlock_across_the_two_files(
    shipped: Registry,
) -> None:
    outcome = check_scenario(shipped, TWO_MAPPINGS, [FAULTING_COPY])
    found = outcome.counterexample
    assert found is not None and found.property == "deadlock"
    assert "PG_locked(/a:0#0) held by T2" in found.message
    assert "PG_locked(/b:0#0) held by T1" in found.message
    held = {s.event.lock for s in (*found.started, *found.steps) if s.event.kind == "acquire"}
    assert {"i_rwsem(/a)", "i_rwsem(/b)"} <= held


def test_a_store_fault_never_closes_that_cycle(shipped: Registry) -> None:
    outcome = check_scenario(shipped, STORE_WRITE, [FAULTING_COPY])
    assert outcome.result.verdict is Verdict.OK
