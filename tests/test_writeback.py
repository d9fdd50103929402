"""The page-cache and writeback models: every scenario x variant gets the
verdict specs/expectations.toml records, each variant's damage shows as a
lost write when only no-lost-write is checked, and the invariants hold or
fail on hand-built states as their definitions say."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

import mc.testing
from mc.check import expectations
from mc.check.checker import changes_something, check_scenario
from mc.check.registry import shipped as shipped_registry
from mc.dsl import File as FileSpec
from mc.dsl import Scenario
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.kernel.device import WRITE, ZEROES, Bio
from mc.kernel.mm import PTE_DIRTY, PTE_WRITE
from mc.kernel.pagecache import (
    PG_DIRTY,
    PG_PRIVATE,
    PG_UPTODATE,
    PG_WRITEBACK,
    TAG_DIRTY,
    TAG_WRITEBACK,
    TRUNCATED,
    PageCache,
    pagecache,
    promise,
    store_data,
    submit_write,
)
from mc.kernel.pagecache_properties import (
    dirty_coherent_violation,
    no_lost_write_violation,
    writeback_protocol_violation,
)
from mc.kernel.pagedata import zero_folio
from mc.kernel.rmap import folio_clear_dirty_for_io
from mc.kernel.world import DONE, ERROR_SLOT, LOCK_PROTOCOL, Scratch
from mc.models.writeback import invalidate, io_completion, read, reclaim
from mc.models.writeback_scenarios import WRITEBACK_PROPERTIES

ROWS = [row for row in expectations.load() if row.scenario.startswith("writeback/")]
VARIANTS = ("writepage-drops-page", "clear-dirty-unlocked", "no-wait-writeback", "reclaim-writes")


def test_every_scenario_and_variant_that_changes_it_has_a_recorded_verdict(
    shipped: Registry,
) -> None:
    names = sorted(name for name in shipped.scenarios if name.startswith("writeback/"))
    assert len(names) >= 3
    recorded = {(row.scenario, row.variants) for row in ROWS}
    for name in names:
        assert (name, ()) in recorded
        for variant in VARIANTS:
            scenario = shipped.scenario(name)
            changes = changes_something(
                shipped, shipped.build(scenario, [variant]), variant, scenario
            )
            assert ((name, (variant,)) in recorded) == changes, (name, variant)


@pytest.mark.parametrize(
    ("scenario", "variant"),
    [
        ("writeback/two-writers-flusher", "clear-dirty-unlocked"),
        ("writeback/write-vs-fsync", "no-wait-writeback"),
    ],
)
def test_each_variant_loses_a_write_that_fsync_promised(
    shipped: Registry, scenario: str, variant: str
) -> None:
    outcome = check_scenario(shipped, scenario, [variant], ["no-lost-write", "deadlock"])
    violation = outcome.result.violation
    assert violation is not None and violation.property == "no-lost-write"
    assert "is not on the device" in violation.message and "block 0" in violation.message
    correct = check_scenario(shipped, scenario, [], ["no-lost-write", "deadlock"])
    assert correct.result.verdict is Verdict.OK


def test_a_dropped_page_is_caught_where_writepage_unlocks_it(shipped: Registry) -> None:
    outcome = check_scenario(shipped, "writeback/write-fsync-reclaim", ["writepage-drops-page"])
    found = outcome.counterexample
    assert found is not None and found.property == "writeback-protocol"
    assert found.steps[-1].label == "folio_unlock(folio); return 0 /* nothing written */"
    assert "v1 (T1's write) is written nowhere" in found.message
    assert "block 0 holds v0" in found.message


def test_the_lost_write_names_the_write_the_folio_and_the_block(shipped: Registry) -> None:
    outcome = check_scenario(shipped, "writeback/write-vs-fsync", ["no-wait-writeback"])
    found = outcome.counterexample
    assert found is not None
    assert found.message == (
        "T3's fsync returned, but block 0 holds v1 (T1's write): v2 (T2's write) to /f:0 "
        "had completed before the fsync began and is not on the device (a crash now loses it)"
    )
    waits = [s.label for s in found.steps if s.thread == "T3" and "writeback" in s.label]
    assert any("not waiting" in label for label in waits)


# --- the invariants on hand-built states -------------------------------------------


def _model(shipped: Registry, name: str) -> tuple[KernelModel, PageCache]:
    model = shipped.build(shipped.scenario(name))
    return model, pagecache(model.world)


def _set(model: KernelModel, state: tuple[Any, ...], **fields: Any) -> tuple[Any, ...]:
    values = list(state)
    names = {slot.name: i for i, slot in enumerate(model.world.slots)}
    for name, value in fields.items():
        values[names[name]] = value
    return tuple(values)


CLEAN = (0, PG_UPTODATE | PG_PRIVATE)


def _ino(part: PageCache) -> int:
    return next(iter(part.mappings.values())).ino


def test_writeback_protocol(shipped: Registry) -> None:
    model, part = _model(shipped, "writeback/write-vs-fsync")
    good = model.initial
    assert writeback_protocol_violation(part, good) is None
    in_flight = Bio(WRITE, 0, _ino(part), 0, "/f", 1, "end_buffer_async_write")
    under_writeback = _set(
        model,
        good,
        **{
            "bios in flight": (in_flight,),
            "folio(/f:0)": (1, PG_UPTODATE | PG_WRITEBACK),
            "xa_marks(/f:0)": TAG_WRITEBACK,
        },
    )
    assert writeback_protocol_violation(part, under_writeback) is None
    ended_early = _set(model, under_writeback, **{"folio(/f:0)": (1, PG_UPTODATE)})
    message = writeback_protocol_violation(part, ended_early)
    assert message is not None and "end_page_writeback() before the I/O completed" in message
    values = list(good)
    values[ERROR_SLOT] = ("writeback-protocol", "->writepage unlocks folio /f:0 clean")
    assert writeback_protocol_violation(part, tuple(values)) is not None
    values[ERROR_SLOT] = (LOCK_PROTOCOL, "T5 may sleep (folio_lock(folio)) holding hardirq")
    message = writeback_protocol_violation(part, tuple(values))
    assert message is not None and message.startswith("the I/O completion path sleeps")
    values[ERROR_SLOT] = (LOCK_PROTOCOL, "T1 may sleep (folio_lock(folio)) holding xa_lock(/f)")
    assert writeback_protocol_violation(part, tuple(values)) is None


def test_dirty_coherent(shipped: Registry) -> None:
    model, part = _model(shipped, "writeback/write-vs-fsync")
    good = model.initial
    assert dirty_coherent_violation(part, good) is None
    dirty = _set(
        model, good, **{"folio(/f:0)": (1, PG_UPTODATE | PG_DIRTY), "xa_marks(/f:0)": TAG_DIRTY}
    )
    assert dirty_coherent_violation(part, dirty) is None
    untagged = _set(model, dirty, **{"xa_marks(/f:0)": 0})
    assert "DIRTY mark" in (dirty_coherent_violation(part, untagged) or "")
    cleaning = _set(
        model,
        dirty,
        **{"folio(/f:0)": (1, PG_UPTODATE), "PG_locked(/f:0#0)": 3},
    )
    assert dirty_coherent_violation(part, cleaning) is None
    dropped = _set(model, cleaning, **{"PG_locked(/f:0#0)": None})
    message = dirty_coherent_violation(part, dropped)
    assert message is not None and "clean with no I/O in flight" in message
    assert "v1 (T1's write)" in message and "block 0 holds v0" in message
    untagged_writeback = _set(model, good, **{"folio(/f:0)": (0, CLEAN[1] | PG_WRITEBACK)})
    assert "WRITEBACK" in (dirty_coherent_violation(part, untagged_writeback) or "")
    in_flight = Bio(WRITE, 0, _ino(part), 0, "/f", 0, "end_buffer_async_write")
    evicted = _set(model, good, **{"folio(/f:0)": None, "bios in flight": (in_flight,)})
    assert "evicted" in (dirty_coherent_violation(part, evicted) or "")


def test_a_clean_folio_still_marked_dirty_is_exempt_only_wholly_past_eof(
    shipped: Registry,
) -> None:
    """folio_clear_dirty_for_io() clears PG_dirty and leaves the DIRTY mark;
    block_write_full_page() then finds a folio wholly past i_size (truncate
    in progress), unlocks it and returns 0 without starting writeback: the
    truncate removes the folio, and the mark with it."""
    model, part = _model(shipped, "writeback/write-vs-fsync")
    skipped = _set(model, model.initial, **{"xa_marks(/f:0)": TAG_DIRTY, "i_size(/f)": 0})
    assert dirty_coherent_violation(part, skipped) is None
    straddles = _set(model, skipped, **{"i_size(/f)": 1})
    assert "DIRTY mark" in (dirty_coherent_violation(part, straddles) or "")
    inside = _set(model, skipped, **{"i_size(/f)": 4096})
    assert "DIRTY mark" in (dirty_coherent_violation(part, inside) or "")
    dirty_untagged = _set(
        model, skipped, **{"folio(/f:0)": (0, CLEAN[1] | PG_DIRTY), "xa_marks(/f:0)": 0}
    )
    assert "DIRTY mark" in (dirty_coherent_violation(part, dirty_untagged) or "")


USER_TRUNCATE_VS_FLUSHER = """\
from mc.dsl import File, scenario
from mc.models.truncate import truncate
from mc.models.writeback import flusher, io_completion
D = File("/f", pages=2, cached=(0, 1), dirty=(1,))
scenario("my/truncate0-vs-flusher", "x", tree=["/f"],
         threads=[truncate(D, 0), flusher(D), io_completion(D)],
         properties=["lock-protocol","deadlock","completes","dirty-coherent","no-write-to-freed-block"])
"""


def test_writeback_skipping_a_folio_a_truncate_is_removing_is_no_violation(
    shipped: Registry,
) -> None:
    outcome = check_scenario(shipped, "truncate/truncate-vs-writeback", [], ["dirty-coherent"])
    assert outcome.result.verdict is Verdict.OK


@pytest.mark.usefixtures("own_models")
def test_a_user_truncate_to_zero_vs_the_flusher_is_ok(vfsmc: Any, tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(USER_TRUNCATE_VS_FLUSHER)
    result = vfsmc("check", "mine.py:my/truncate0-vs-flusher", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["verdict"] == "OK"


def test_no_lost_write(shipped: Registry) -> None:
    model, part = _model(shipped, "writeback/write-vs-fsync")
    sync = part.syncs[0]
    assert no_lost_write_violation(part, model.initial) is None
    returned = list(model.initial)
    returned[sync.pc] = DONE
    returned[sync.promised] = ((0, 1),)
    history = {"history(/f:0)": (0, 1)}
    lost = _set(model, tuple(returned), **history)
    message = no_lost_write_violation(part, lost)
    assert message is not None and "v1 (T1's write)" in message
    assert "is not on the device" in message
    durable = _set(model, lost, **{"block 0": 1})
    assert no_lost_write_violation(part, durable) is None
    newer = _set(model, lost, **{"block 0": 2, "history(/f:0)": (0, 1, 2)})
    assert no_lost_write_violation(part, newer) is None
    older_than_promise = _set(model, lost, **{"block 0": 1, "history(/f:0)": (0, 2, 1)})
    assert no_lost_write_violation(part, older_than_promise) is None
    truncated = _set(model, lost, **{"history(/f:0)": (0, 1, TRUNCATED)})
    assert no_lost_write_violation(part, truncated) is None
    still_running = list(lost)
    still_running[sync.pc] = 0
    assert no_lost_write_violation(part, tuple(still_running)) is None


# --- writenotify and bytes past EOF ------------------------------------------------


def test_clear_dirty_for_io_write_protects_the_pte(shipped: Registry) -> None:
    model, part = _model(shipped, "writeback/mmap-store-flusher")
    page = next(iter(part.mappings.values())).pages[0]
    stored = _set(
        model,
        model.initial,
        **{"pte(/f:0)": PTE_WRITE | PTE_DIRTY, "folio(/f:0)": (1, PG_UPTODATE)},
    )
    scratch = Scratch(model.world, stored)
    assert folio_clear_dirty_for_io(scratch, page)
    after = _set(model, tuple(scratch.values))
    names = {slot.name: i for i, slot in enumerate(model.world.slots)}
    assert after[names["pte(/f:0)"]] == 0
    assert after[names["folio(/f:0)"]] == (1, PG_UPTODATE)
    assert after[names["xa_marks(/f:0)"]] & TAG_DIRTY
    unprotected = Scratch(model.world, stored)
    assert not folio_clear_dirty_for_io(unprotected, page, mkclean=False)
    assert unprotected.values[names["pte(/f:0)"]] == PTE_WRITE | PTE_DIRTY


def test_the_second_store_faults_and_redirties(shipped: Registry) -> None:
    correct = check_scenario(shipped, "writeback/mmap-store-flusher", [])
    assert correct.result.verdict is Verdict.OK
    broken = check_scenario(shipped, "writeback/mmap-store-flusher", ["no-mkclean"])
    found = broken.counterexample
    assert found is not None and found.property == "dirty-coherent"
    assert "clean with no I/O in flight" in found.message


def test_dirty_coherent_compares_bytes_below_eof(shipped: Registry) -> None:
    model, part = _model(shipped, "writeback/write-vs-fsync")
    tail_zeroed = _set(
        model,
        model.initial,
        **{"folio(/f:0)": (((0, 0), (100, ZEROES)), CLEAN[1]), "i_size(/f)": 100},
    )
    assert dirty_coherent_violation(part, tail_zeroed) is None
    whole_page = _set(model, tail_zeroed, **{"i_size(/f)": 4096})
    assert "below EOF" in (dirty_coherent_violation(part, whole_page) or "")
    below = _set(model, tail_zeroed, **{"i_size(/f)": 101})
    assert "below EOF" in (dirty_coherent_violation(part, below) or "")


def test_no_lost_write_covers_stores_through_the_mapping(shipped: Registry) -> None:
    model, part = _model(shipped, "writeback/mmap-store-flusher")
    sync = part.syncs[0]
    stored = _set(model, model.initial, **{"history(/f:0)": (0, 1)})
    scratch = Scratch(model.world, stored)
    assert promise(scratch, next(iter(part.mappings.values()))) == ((0, 1),)
    returned = list(stored)
    returned[sync.pc] = DONE
    returned[sync.promised] = ((0, 1),)
    lost = tuple(returned)
    message = no_lost_write_violation(part, lost)
    assert message is not None and "is not on the device" in message
    durable = _set(model, lost, **{"block 0": ((0, 1), (1, 0))})
    assert no_lost_write_violation(part, durable) is None


def test_a_writeback_wait_with_no_io_completion_thread_says_what_is_missing(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """An fsync waits for PG_writeback that only a thread completing bios
    ends: without one in the scenario, a model error names what to add
    (no verdict on the protocol, no trace saved)."""
    (tmp_path / "noio.py").write_text(
        "from mc.dsl import File, scenario\n"
        "from mc.models.writeback import fsync, write\n"
        'F = File("/f", pages=1, cached=(0,))\n'
        'scenario("my/no-io", "no bio completes", tree=["/f"], threads=[write(F, 0), fsync(F)])\n'
    )
    result = vfsmc("check", "noio.py:my/no-io")
    assert result.exit_code == 2, result.output
    assert (
        "noio.py:4: my/no-io: T2 waits for PG_writeback(/f:0), which no thread could end: no "
        "thread of the scenario completes the file's bios: add an io_completion(file) thread"
    ) in result.output
    assert not (tmp_path / "counterexamples").exists()
    (tmp_path / "dirty.py").write_text(
        "from mc.dsl import File, scenario\n"
        "from mc.models.writeback import fsync\n"
        'F = File("/f", pages=1, cached=(0,), dirty=(0,))\n'
        'scenario("my/dirty", "no bio completes", tree=["/f"], threads=[fsync(F)])\n'
    )
    for unchecked in (("--no-property", "deadlock"), ("-p", "completes")):
        result = vfsmc("check", "dirty.py:my/dirty", *unchecked)
        assert result.exit_code == 2, result.output
        assert "dirty.py:4: my/dirty: T1 waits for PG_writeback(/f:0)" in result.output


HOLE_NEVER_WRITTEN = '''\
"""Reads of a page that starts as a hole, and an unmount, with no write to it."""

from mc.dsl import BASE_PROPERTIES, File, scenario
from mc.kernel.inode_life import INODE_PROPERTIES
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.models.inode import inode_flusher
from mc.models.mount import write_touch_umount
from mc.models.writeback import io_completion, read, write

HOLE = File("/f", pages=2, cached=(0,), holes=(1,))

scenario("hole/reads", "two reads of the hole, a write of page 0", tree=["/f"],
         threads=[read(HOLE, 1), read(HOLE, 1), write(HOLE, 0), io_completion(HOLE)],
         properties=(*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, "folio-data-current"))
scenario("hole/umount", "a write of page 0 and an unmount", tree=["/f"],
         threads=[write_touch_umount(HOLE), inode_flusher(HOLE, True), io_completion(HOLE)],
         properties=(*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, *INODE_PROPERTIES))
'''


@pytest.mark.parametrize("name", ["hole/reads", "hole/umount"])
def test_a_hole_never_written_holds_its_initial_data_as_zeroes(tmp_path: Path, name: str) -> None:
    """A page that starts as a hole reads as zeroes and has no block: with
    no write to it, a folio read from it and the device both hold its
    initial data (``folio-data-current`` and ``clean-unmount`` once took
    zeroes for data other than the initial one)."""
    model = tmp_path / "hole.py"
    model.write_text(HOLE_NEVER_WRITTEN)
    outcome = mc.testing.check(name, models=[model])
    assert outcome.verdict == "OK" and outcome.result.stats.states > 100


ZEROED_STORES = """
from mc.dsl import Op, operation, scenario
from mc.kernel.pagecache import File
from mc.models.truncate import mmap_store, punch_hole, truncate, truncate_file
from mc.models.writeback import fsync, io_completion


@operation(models="ftruncate(2) to 100; p[200] = x; fsync(2)")
def shrink_store_fsync(op: Op, file: File) -> None:
    truncate_file(op, file, 100, ".down")
    op.run(mmap_store, file, 200)
    op.run(fsync, file)


@operation(models="p[200] = x; a hole punched over bytes 100 to 300; fsync(2)")
def store_punch_fsync(op: Op, file: File) -> None:
    op.run(mmap_store, file, 200)
    op.run(punch_hole, file, 100, 200)
    op.run(fsync, file)


@operation(models="p[BYTE] = x; ftruncate(2) to 100, then to 4096; fsync(2)")
def store_shrink_extend_fsync(op: Op, file: File, byte: int) -> None:
    op.run(mmap_store, file, byte)
    truncate_file(op, file, 100, ".down")
    truncate_file(op, file, 4096, ".up")
    op.run(fsync, file)


@operation(models="p[10] = x; ftruncate(2) to 2000; fsync(2)")
def store_cut_below_fsync(op: Op, file: File) -> None:
    op.run(mmap_store, file, 10)
    op.run(truncate, file, 2000)
    op.run(fsync, file)


F = File("/f", pages=1, cached=(0,))
scenario("zeroed/below", "a store below the new EOF, then fsync", tree=["/f"],
         threads=[store_cut_below_fsync(F), io_completion(F)], properties=["no-lost-write"])
for name, body in (
    ("past-eof", shrink_store_fsync(F)),
    ("punched", store_punch_fsync(F)),
    ("cut", store_shrink_extend_fsync(F, 200)),
    ("kept", store_shrink_extend_fsync(F, 50)),
):
    scenario(f"zeroed/{name}", "a store the kernel may zero, then fsync", tree=["/f"],
             threads=[body, io_completion(F)], properties=["no-lost-write", "deadlock"])
"""


@pytest.mark.parametrize("name", ["past-eof", "punched", "cut", "kept"])
def test_a_store_whose_byte_the_kernel_zeroes_need_not_reach_the_device(
    vfsmc: Callable[..., Result], tmp_path: Path, own_models: None, name: str
) -> None:
    """A store past EOF (zeroed by writeback's block_write_full_page()),
    one in a punched range or in the tail a truncate cut (zeroed by the
    partial-folio zeroing) is data the file no longer has: fsync need not
    write it.  A store below the new size stays promised, and is written."""
    (tmp_path / "zeroed.py").write_text(ZEROED_STORES)
    result = vfsmc("check", f"zeroed.py:zeroed/{name}", "--no-save", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "OK"


def test_a_zeroing_wider_than_asked_erases_nothing_it_was_not_asked_to(
    vfsmc: Callable[..., Result], tmp_path: Path, own_models: None
) -> None:
    """A truncate whose partial zeroing starts at the folio's start (the
    variant ``partial-zero-from-folio-start``) zeroes a store below the new
    EOF: the write is lost, and no-lost-write says so."""
    (tmp_path / "zeroed.py").write_text(ZEROED_STORES)
    given = ("zeroed.py:zeroed/below", "--no-save", "--json")
    assert json.loads(vfsmc("check", *given).stdout)["verdict"] == "OK"
    broken = vfsmc("check", *given, "-V", "partial-zero-from-folio-start")
    assert broken.exit_code == 1, broken.output
    assert json.loads(broken.stdout)["property"] == "no-lost-write"


def test_a_zeroing_erases_the_versions_it_overwrote_whole(shipped: Registry) -> None:
    """``zero_folio`` notes a version as erased only when no run of the
    folio holds it any more: a store below the zeroed range stays."""
    model = shipped.build(shipped.scenario("writeback/write-vs-fsync"), ())
    page = next(iter(pagecache(model.world).mappings.values())).pages[0]
    state = list(model.initial)
    state[page.folio] = (((0, 0), (50, 7), (51, 0), (200, 8), (201, 0)), PG_UPTODATE)
    scratch = Scratch(model.world, tuple(state))
    zero_folio(scratch, page, 100)
    assert scratch[page.folio] == (((0, 0), (50, 7), (51, 0), (100, ZEROES)), PG_UPTODATE)
    assert scratch[page.erased] == frozenset({8})


def test_reclaim_frees_only_the_folio_it_locked(shipped: Registry) -> None:
    """shrink_folio_list() relocks the folio ->writepage wrote from reclaim
    and keeps it when a truncation took it out of the mapping meanwhile
    (``mapping = folio_mapping(folio); if (!mapping) goto keep_locked``):
    with a read adding a new folio at the index, reclaim removes nothing
    it does not hold (without the test it removed the reader's locked
    folio, whose read then completed into no folio)."""
    dirty = FileSpec("/f", pages=1, cached=(0,), dirty=(0,))
    threads = (reclaim(dirty, 0), invalidate(dirty, 0), read(dirty, 0), io_completion(dirty))
    registry = shipped_registry()
    registry.add_scenario(
        Scenario("test/reclaim", "test", ("/f",), threads, properties=WRITEBACK_PROPERTIES)
    )
    model = registry.build(registry.scenario("test/reclaim"), ("reclaim-writes",))
    result = check(model)
    assert result.verdict is Verdict.OK, result.violation


INVALIDATE_UNLOCKED = """\
from mc.dsl import Invocation, Program, variant
from mc.models.writeback import invalidate


@variant("invalidate-unlocked", "invalidate_inode_pages2_range() without folio_lock()")
def invalidate_unlocked(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(invalidate):
        return program
    return program.drop_acquisitions(lambda step: step.label == "folio_lock(folio)")
"""


def test_a_folio_removed_without_its_lock_is_a_lock_protocol_error(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """page_cache_delete()'s VM_BUG_ON_FOLIO(!folio_test_locked(folio)):
    invalidation without the folio lock removes a folio a write is copying
    into; the check says so, where a shipped effect once failed an
    assertion and the run ended as a model error (exit 2)."""
    (tmp_path / "unlocked.py").write_text(INVALIDATE_UNLOCKED)
    args = ("check", "writeback/write-invalidate-fsync", "--models", "unlocked.py", "--no-save")
    found = vfsmc(*args, "-V", "invalidate-unlocked", "--no-property", "spec-conformance")
    assert found.exit_code == 1, found.output
    assert (
        "T2 removes the folio of /f:0 from the page cache without its lock: page_cache_delete() "
        "does VM_BUG_ON_FOLIO(!folio_test_locked(folio), folio)"
    ) in found.output


RELOCKING_WRITER = """\
from mc.dsl import EXCL, File, LockKind, Op, flag_variant, inserts, scenario
from mc.dsl.folio import find_folio
from mc.models.writeback import fsync, invalidate, io_completion, reclaim, write

GET_BLOCK = ("__block_write_begin_int(): create_empty_buffers(); "
             "if (!buffer_mapped(bh)) err = get_block(inode, block, bh, 1)")
flag_variant("relocks", "write_begin drops and retakes the folio lock, keeping its reference")


def get_block(op: Op, file: File, index: int) -> None:
    lock = op.world.shared_lock(f"myfs_map_mutex({file.path})", LockKind.MUTEX)
    if op.variant("relocks"):
        ref = find_folio(op, op.mapping(file).page(index), "folio = page_folio(page)")
        op.unlock(ref.lock, "folio_unlock(folio)")
    op.lock(lock, EXCL, "mutex_lock(&MYFS_I(inode)->map_mutex)")
    op.unlock(lock, "mutex_unlock(&MYFS_I(inode)->map_mutex)")
    if op.variant("relocks"):
        op.lock(ref.lock, EXCL, "folio_lock(folio) /* no folio->mapping recheck */")


inserts(write, "myfs-get-block", "get_block under map_mutex", before={GET_BLOCK: get_block})
F = File("/f", pages=1, cached=(0,))
for name, remover in (("reclaim", reclaim), ("invalidate", invalidate)):
    scenario(f"myfs/write-{name}-fsync", "a write, a remover, fsync", tree=["/f"],
             threads=[write(F, 0), remover(F, 0), fsync(F), io_completion(F)],
             variants=["myfs-get-block"])
"""


def test_reclaim_keeps_a_folio_a_writer_holds_a_reference_to(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """A write_begin that drops the folio lock and retakes it without a
    folio->mapping recheck, keeping its reference: reclaim's
    folio_ref_freeze() fails on that reference, so reclaim never removes
    the folio (it did, a false alarm); invalidate_complete_folio2() freezes
    nothing and removes it, which the check reports."""
    (tmp_path / "relock.py").write_text(RELOCKING_WRITER)
    kept = vfsmc("check", "relock.py:myfs/write-reclaim-fsync", "-V", "relocks", "--no-save")
    assert kept.exit_code == 0, kept.output
    removed = vfsmc("check", "relock.py:myfs/write-invalidate-fsync", "-V", "relocks", "--no-save")
    assert removed.exit_code == 1, removed.output
    assert "copies data into the folio of /f:0 after it left the page cache" in removed.output


@pytest.mark.parametrize("use", ["store", "submit"])
def test_a_use_of_a_folio_gone_from_the_cache_is_a_lock_protocol_error(
    shipped: Registry, use: str
) -> None:
    """A copy into, or a write of, a folio no longer cached (its user did
    not hold the lock that keeps removal out) is reported, not asserted."""
    model, part = _model(shipped, "writeback/write-vs-fsync")
    page = next(iter(part.mappings.values())).pages[0]
    state = list(model.initial)
    state[page.folio] = None
    state[page.ident] = None
    scratch = Scratch(model.world, tuple(state), tid=0)
    if use == "store":
        store_data(scratch, page, 1)
    else:
        submit_write(scratch, page, "end_buffer_async_write")
    error = scratch.values[ERROR_SLOT]
    assert error is not None and error[0] == LOCK_PROTOCOL
    assert "the folio of /f:0 after it left the page cache" in error[1]


SYNC_ALL_WITHOUT_WAIT = """
from mc.dsl import File, Invocation, Program, scenario, variant
from mc.models.writeback import flusher, fsync, io_completion, write

WAIT = "if (folio_test_writeback(folio)) folio_wait_writeback(folio) /* WB_SYNC_ALL */"


@variant("sync-all-no-wait", "WB_SYNC_ALL write_cache_pages() does not wait on PG_writeback")
def sync_all_no_wait(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(fsync):
        return program
    return program.drop(lambda s: s.label == WAIT)


F = File("/f", pages=1, cached=(0,), dirty=(0,))
scenario("mine/flusher-write-fsync", "x", tree=["/f"],
         threads=[flusher(F), write(F, 0), fsync(F), io_completion(F)])
"""


def test_a_data_integrity_writeback_that_does_not_wait_hits_the_bug_on(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """write_cache_pages() under WB_SYNC_ALL waits for a folio under
    writeback before it writes it again; without the wait,
    __block_write_full_folio()'s BUG_ON(folio_test_writeback(folio)) is
    where the kernel stops, and the report names it."""
    (tmp_path / "wbwait.py").write_text(SYNC_ALL_WITHOUT_WAIT)
    ok = vfsmc("check", "wbwait.py:mine/flusher-write-fsync", "--no-save")
    assert ok.exit_code == 0, ok.output
    result = vfsmc(
        "check", "wbwait.py:mine/flusher-write-fsync", "-V", "sync-all-no-wait", "--no-save"
    )
    assert result.exit_code == 1, result.output
    assert "lock-protocol in mine/flusher-write-fsync" in result.output
    assert "BUG_ON(folio_test_writeback(folio))" in result.output


RECLAIM_UNDER_WRITEBACK = """
from mc.dsl import Invocation, Program, variant
from mc.models.writeback import reclaim


@variant("reclaim-ignores-writeback", "shrink_folio_list() does not skip a folio under writeback")
def ignores(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(reclaim):
        return program
    return program.force(
        "if (folio_test_writeback(folio)) { folio_set_reclaim(folio); goto activate_locked; }",
        False,
    )
"""


def test_reclaim_that_does_not_skip_writeback_evicts_a_folio_under_io(tmp_path: Path) -> None:
    """__remove_mapping() tests the folio's references and PG_dirty, not
    PG_writeback (mm/vmscan.c): shrink_folio_list()'s own test is what
    keeps a folio under I/O in the cache, and without it the folio is
    removed while its write is in flight, whatever the locking rules say."""
    model = tmp_path / "ignores.py"
    model.write_text(RECLAIM_UNDER_WRITEBACK)
    outcome = mc.testing.check(
        "writeback/write-fsync-reclaim",
        ["reclaim-ignores-writeback"],
        "dirty-coherent",
        properties=[p for p in WRITEBACK_PROPERTIES if p != "spec-conformance"],
        models=[model],
    )
    assert outcome.message is not None and "was evicted while write" in outcome.message
