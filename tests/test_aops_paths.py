"""The other address-space methods' kernel paths (mc.models.aops):
where the steps sit against the locks the kernel holds there."""

from __future__ import annotations

from mc.check.registry import base
from mc.dsl import File, Invocation, Program, Scenario, Variant
from mc.dsl.kernel_model import KernelModel
from mc.dsl.steps import CallStep, LockStep, Step, UnlockStep
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.models.aops import direct_write, migrate, swap_cycle
from mc.models.truncate import mmap_load, mmap_store
from mc.models.writeback import io_completion

DIRTY = File("/f", pages=1, cached=(0,), dirty=(0,))


def _model(tree: tuple[str, ...], *threads: object) -> KernelModel:
    registry = base()
    registry.add_scenario(Scenario("test/a", "test", tree, tuple(threads)))  # type: ignore[arg-type]
    return registry.build(registry.scenario("test/a"), ())


def _steps(model: KernelModel, tid: int = 0) -> list[Step]:
    return [compiled.step for compiled in model.threads[tid].steps]


def _first(steps: list[Step], kind: type[Step], text: str) -> int:
    return next(i for i, s in enumerate(steps) if isinstance(s, kind) and text in s.label)


def test_swapon_writes_the_file_back_under_the_inode_lock() -> None:
    """swapon(2): S_SWAPFILE, then inode_drain_writes() ->
    filemap_write_and_wait() (a folio lock of the writeback), before
    inode_unlock() (mm/swapfile.c, 6.17-rc3)."""
    steps = _steps(_model(("/swap",), swap_cycle(File("/swap", pages=1))))
    flagged = _first(steps, Step, "S_SWAPFILE")
    folio = _first(steps, LockStep, "folio_lock(folio)")
    unlocked = _first(steps, UnlockStep, "inode_unlock(inode)")
    assert flagged < folio < unlocked


def test_migration_locks_the_new_folio_before_it_unmaps_the_old() -> None:
    """migrate_folio_unmap() trylocks dst before try_to_migrate() and its
    i_mmap_rwsem (mm/migrate.c, 6.4)."""
    steps = _steps(_model(("/f",), migrate(DIRTY, 0)))
    dst = _first(steps, Step, "folio_trylock(dst)")
    unmap = _first(steps, LockStep, "i_mmap_lock_read")
    assert dst < unmap


def test_a_direct_write_whose_invalidation_fails_does_no_direct_io() -> None:
    """generic_file_direct_write(): invalidate_inode_pages2_range() gives
    -EBUSY for a folio a store dirtied again after the writeback, and the
    write returns 0 for the buffered fallback, calling no ->direct_IO."""
    model = _model(("/f",), direct_write(DIRTY, 0), mmap_store(DIRTY, 0), io_completion(DIRTY))
    [direct_io] = [
        (0, pc)
        for pc, compiled in enumerate(model.threads[0].steps)
        if isinstance(compiled.step, CallStep)
        and compiled.step.method == "address_space_operations.direct_IO"
    ]
    fallback = _first(_steps(model), Step, "buffered fallback")
    gave_up = model.watch([(0, fallback)], taken=True)
    called = model.watch([direct_io], taken=True)
    assert check(model).verdict is Verdict.OK
    assert gave_up and called


def _skips_unmap(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(migrate):
        return program
    return program.drop(
        lambda step: "try_to_migrate" in step.label or step.label == "i_mmap_unlock_read(mapping)"
    )


def test_a_folio_a_pte_still_maps_does_not_migrate() -> None:
    """folio_migrate_mapping(): folio_ref_freeze() fails on the reference a
    pte holds, so a migration that skips try_to_migrate() gives -EAGAIN
    rather than move a folio a pte still maps (mm/migrate.c, 6.4)."""
    cached = File("/f", pages=1, cached=(0,))
    registry = base()
    registry.add_variant(Variant("test-skips-unmap", "no try_to_migrate()", _skips_unmap))
    threads = (migrate(cached, 0), mmap_load(cached, 0))
    registry.add_scenario(
        Scenario("test/a", "test", ("/f",), threads, ("deadlock", "pte-maps-cached-folio"))
    )
    model = registry.build(registry.scenario("test/a"), ["test-skips-unmap"])
    assert not any("try_to_migrate" in step.label for step in _steps(model))
    assert check(model).verdict is Verdict.OK
