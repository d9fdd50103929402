"""What a direct write leaves in the page cache: a stale folio is
dio-coherent's to judge (dirty-coherent's "reclaim may drop the data"
does not apply: dropping it loses nothing), a block allocated for a hole
reads as zeroes until the write reaches it, and a page a process also
stores to through a mapping is outside dio-coherent's promise (the kernel
warns of a collision with buffered I/O there)."""

from __future__ import annotations

import pytest
from conftest import registry_with

from mc.check.checker import check_scenario
from mc.check.registry import shipped as shipped_registry
from mc.dsl import Invocation, Program
from mc.dsl.scenario import Registry, Scenario, Variant
from mc.kernel.pagecache import PAGE_SIZE, File
from mc.kernel.world import DONE
from mc.models.dio import dio_worker, dio_write
from mc.models.truncate import mmap_stores, truncate
from mc.models.writeback import io_completion, read

HOLE = File("/f", pages=2, holes=(0,), spare_blocks=2)
CACHED = File("/f", pages=1, cached=(0,))
PROPERTIES = ("deadlock", "completes", "dio-coherent", "dirty-coherent", "no-stale-data")


def _with(name: str, *threads: object) -> Registry:
    registry = shipped_registry()
    registry.add_scenario(
        Scenario(name, "test", ("/f",), tuple(threads), PROPERTIES)  # type: ignore[arg-type]
    )
    return registry


@pytest.mark.parametrize(
    ("name", "threads"),
    [
        ("test/dio-into-a-hole-vs-read", (dio_write(HOLE, 0, False), read(HOLE, 0))),
        ("test/dio-vs-stores", (dio_write(CACHED, 0, False), mmap_stores(CACHED, 10, 20))),
    ],
)
def test_the_correct_direct_write_is_coherent(name: str, threads: tuple[object, ...]) -> None:
    registry = _with(name, *threads, io_completion(threads[0].args[0]))  # type: ignore[attr-defined]
    outcome = check_scenario(registry, name)
    assert outcome.result.violation is None, outcome.result.violation


def test_a_stale_folio_after_a_direct_write_is_dio_coherent_s(shipped: Registry) -> None:
    correct = check_scenario(shipped, "dio/aio-write-vs-read", [], ["dirty-coherent"])
    assert correct.result.violation is None
    broken = check_scenario(shipped, "dio/aio-write-vs-read", ["dio-no-post-invalidate"])
    violation = broken.result.violation
    assert violation is not None and violation.property == "dio-coherent"


def test_a_direct_write_writes_back_its_own_range_only() -> None:
    """``kiocb_invalidate_pages()`` writes back the written range: a direct
    write of page 0 leaves page 1's dirty folio dirty, however the threads
    interleave (written back with the whole file, it would be clean)."""
    from mc.engine.explore import Options, Search
    from mc.kernel.pagecache import PG_DIRTY, flags_of, pagecache

    other_dirty = File("/f", pages=2, cached=(0, 1), dirty=(1,))
    registry = _with("test/dio-range", dio_write(other_dirty, 0, False), io_completion(other_dirty))
    model = registry.build(registry.scenario("test/dio-range"), properties=("deadlock",))
    (mapping,) = pagecache(model.world).mappings.values()
    search = Search(model, Options(exact=True))
    search.run()
    ended = [state for state in search.states if model.finished(state)]
    assert ended and all(flags_of(state, mapping.pages[1]) & PG_DIRTY for state in ended)
    assert not any(flags_of(state, mapping.pages[0]) & PG_DIRTY for state in ended)


def test_a_write_a_truncate_made_extending_learns_it_under_the_exclusive_lock() -> None:
    """``ext4_dio_write_checks()`` computes ``*extend`` again after the
    upgrade to the exclusive lock (``goto restart``): an AIO write of a hole
    page within i_size that a truncate cut below it between
    ``inode_unlock_shared()`` and ``inode_lock()`` extends the file, so it
    waits for its completion under i_rwsem instead of queueing it."""
    file = File("/f", pages=2, holes=(1,))
    registry = _with(
        "test/aio-hole-write-vs-truncate",
        dio_write(file, 1, True),
        truncate(file, PAGE_SIZE),
        dio_worker(file, 1),
        io_completion(file),
    )
    model = registry.build(registry.scenario("test/aio-hole-write-vs-truncate"), ())
    steps = model.threads[0].steps
    restart = next(pc for pc, c in enumerate(steps) if c.step.label.startswith("restart:"))
    extend = model.register("T1", "extend")
    pc_slot, truncated = model.threads[0].slots.pc, model.threads[1].slots.pc
    seen, waiting, learned = set(model.init_states()), list(model.init_states()), []
    while waiting:
        state = waiting.pop()
        for _action, after in model.successors(state):
            if state[pc_slot] == restart and state[truncated] == DONE and after[pc_slot] != restart:
                learned.append(after[extend])
            if after not in seen:
                seen.add(after)
                waiting.append(after)
    assert learned and all(learned)


def _extending_write_shared(program: Program, _invocation: Invocation) -> Program:
    return program.weaken(
        lambda step: (
            step.label
            in (
                "ext4_dio_write_iter(): inode_lock(inode)",
                "inode_lock(inode) /* restart: not an overwrite */",
            )
        )
    )


def test_an_extending_direct_write_under_a_shared_i_rwsem_breaks_the_i_size_assertion(
    shipped: Registry,
) -> None:
    """ext4 raises i_size at ``->end_io`` on the grounds that every
    extending write runs under i_rwsem held exclusively (later trees assert
    it, ``lockdep_assert_held_write()``): a write that extends under the
    shared lock reaches the assertion holding i_rwsem for reading."""
    shared = Variant(
        "extend-shared", "extending writes keep i_rwsem shared", transform=_extending_write_shared
    )
    scenario = shipped.scenario("dio/write-vs-truncate")
    registry = registry_with(shipped, shared, scenarios=(scenario,))
    assert check_scenario(registry, scenario.name).result.violation is None
    violation = check_scenario(registry, scenario.name, ("extend-shared",)).result.violation
    assert violation is not None and violation.property == "lock-protocol"
    assert violation.message == (
        "T1 reaches 'ext4_handle_inode_extension(): lockdep_assert_held_write(&inode->i_rwsem)' "
        "holding i_rwsem(/f) for reading, not for writing"
    ), violation.message


def test_two_aio_writes_each_complete_their_own_freeze_hold() -> None:
    """Each AIO write hands off its own hold of sb_writers
    (``kiocb_start_write()``) and each completion takes over one
    (``kiocb_end_write()``): two of them pass, where the first completion
    took both holds and the second found none ("nobody handed off")."""
    cold = File("/f", pages=2)
    threads = (
        dio_write(cold, 0, True),
        dio_write(cold, 1, True),
        dio_worker(cold, 0),
        dio_worker(cold, 1),
        io_completion(cold),
    )
    registry = _with("test/two-aio", *threads)
    outcome = check_scenario(registry, "test/two-aio", properties=["lock-protocol", "deadlock"])
    assert outcome.result.violation is None, outcome.result.violation
    assert outcome.result.stats.states > 0
