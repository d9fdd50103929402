"""filemap_fault() on a page-cache miss releases mmap_lock before it reads the page and
returns VM_FAULT_RETRY; the retried fault (FAULT_FLAG_TRIED) keeps it, so in 6.6 a fault
releases mmap_lock at most once."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from mc.check.checker import check_scenario
from mc.check.registry import shipped as shipped_registry
from mc.dsl.kernel_model import KernelModel
from mc.dsl.program import Program
from mc.dsl.scenario import Registry, Scenario, Variant
from mc.engine.result import Verdict
from mc.kernel.device import READ
from mc.kernel.expr import State
from mc.kernel.mm import MM, Mm
from mc.kernel.pagecache import File, pagecache
from mc.models.truncate import mmap_store
from mc.models.writeback import flusher, io_completion

SCENARIO = "mmap/fault-read-vs-munmap"


def _states(model: KernelModel) -> Iterator[State]:
    seen = {model.initial}
    queue = deque([model.initial])
    while queue:
        state = queue.popleft()
        yield state
        for _action, after in model.successors(state):
            if after not in seen:
                seen.add(after)
                queue.append(after)


def _munmap_runs_during_the_read(model: KernelModel) -> bool:
    mm = model.world.parts[MM]
    assert isinstance(mm, Mm)
    device = pagecache(model.world).device
    assert device is not None
    munmap = 1  # T2, the second thread
    for state in _states(model):
        writer = state[mm.mmap_lock.slot]
        reading = any(bio.op == READ for bio in state[device.bios])
        if writer is not None and writer[0] == munmap and reading:
            return True
    return False


def test_munmap_takes_mmap_lock_while_the_fault_reads_the_page(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario(SCENARIO))
    assert _munmap_runs_during_the_read(model)
    assert check_scenario(shipped, SCENARIO).result.verdict is Verdict.OK


def test_a_fault_retries_at_most_once(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario(SCENARIO))
    retries = [
        index
        for index, step in enumerate(model.threads[0].program.steps)
        if step.label == "flags |= FAULT_FLAG_TRIED"
    ]
    assert retries, "the load's fault has a retry"
    tried = next(
        slot for slot, info in enumerate(model.world.slots) if info.name.startswith("T1.tried")
    )
    for state in _states(model):
        current = model.current_step(state, 0)
        if current is not None and current.step.label == "flags |= FAULT_FLAG_TRIED":
            assert state[tried] is None, "a retried fault returned VM_FAULT_RETRY again"


def test_a_fault_on_a_folio_under_read_sleeps_without_mmap_lock(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("mmap/fault-vs-readahead"))
    mm = model.world.parts[MM]
    assert isinstance(mm, Mm)
    page = pagecache(model.world).mappings[mm.mapping.ino].pages[0]
    fault, munmap = 1, 2  # T2 and T3
    tried = next(
        slot for slot, info in enumerate(model.world.slots) if info.name.startswith("T2.tried")
    )
    seen = False
    for state in _states(model):
        current = model.current_step(state, fault)
        if current is None or current.step.label != "__folio_lock_killable(folio)":
            continue
        if state[tried]:
            continue  # a retried fault sleeps holding mmap_lock
        lock = state[mm.mmap_lock.slot]
        folio = state[page.folio]
        assert lock is None or (lock[0] != fault and fault not in lock[1])
        if lock is not None and lock[0] == munmap and folio is not None and folio[0] is None:
            seen = True
    assert seen, "munmap holds mmap_lock while the fault sleeps on a folio under read"


def test_a_page_mkwrite_returning_locked_without_the_folio_lock_is_a_bug_on() -> None:
    """do_page_mkwrite()'s VM_BUG_ON_FOLIO(!folio_test_locked(folio)): a
    ->page_mkwrite that returns VM_FAULT_LOCKED without the folio lock is a
    lock-protocol error, whatever else the scenario checks."""

    def no_folio_lock(program: Program, _invocation: object) -> Program:
        return program.drop_acquisitions(
            lambda step: step.label == "block_page_mkwrite(): folio_lock(folio)"
        )

    cached = File("/f", pages=1, cached=(0,))
    registry = shipped_registry()
    registry.add_variant(Variant("mkwrite-unlocked", "x", no_folio_lock))
    threads = (mmap_store(cached, 10), flusher(cached), io_completion(cached))
    registry.add_scenario(Scenario("test/mkwrite", "x", ("/f",), threads, ("lock-protocol",)))
    assert check_scenario(registry, "test/mkwrite").result.violation is None
    violation = check_scenario(registry, "test/mkwrite", ["mkwrite-unlocked"]).result.violation
    assert violation is not None and violation.property == "lock-protocol"
    assert "reaches 'VM_BUG_ON_FOLIO(!folio_test_locked(folio), folio)' without holding" in (
        violation.message
    )


def test_the_fault_result_tests_are_the_kernel_s_bit_tests() -> None:
    """``if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY))``
    and ``if (!tmp || (tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)))`` test
    the bits, as written: a result of 0 (a variant that drops
    ``return ret | VM_FAULT_LOCKED``) goes on after the first and ends the
    fault at the second; a result with other bits besides LOCKED goes on."""
    from mc.kernel.expr import Expr, any_of, const
    from mc.kernel.mm import VM_FAULT_LOCKED, VM_FAULT_NOPAGE, VM_FAULT_RETRY, VM_FAULT_SIGBUS
    from mc.models.fault import FAULT_ENDS, MKWRITE_ENDS, vm_fault_has, vm_fault_is

    def holds(cond_of: object, value: int | None) -> bool:
        return bool(cond_of(const(value)).compile(None)(()))  # type: ignore[operator]

    def fault_ends(reg: Expr) -> Expr:
        return vm_fault_has(reg, FAULT_ENDS)

    def mkwrite_ends(reg: Expr) -> Expr:
        return any_of(vm_fault_is(reg, 0), vm_fault_has(reg, MKWRITE_ENDS))

    for value, fault, mkwrite in (
        (0, False, True),
        (None, False, False),
        (VM_FAULT_LOCKED, False, False),
        (VM_FAULT_LOCKED | 0x4, False, False),
        (VM_FAULT_SIGBUS, True, True),
        (VM_FAULT_NOPAGE, True, True),
        (VM_FAULT_RETRY, True, False),
    ):
        assert holds(fault_ends, value) is fault, value
        assert holds(mkwrite_ends, value) is mkwrite, value


def test_a_new_folio_is_unlocked_before_the_fault_s_trylock(shipped: Registry) -> None:
    """``__filemap_get_folio(FGP_CREAT|FGP_FOR_MMAP)`` unlocks the folio it
    added before it returns, and the fault's trylock takes it again: in
    between, the folio is locked by nobody (another thread's steps may run
    there: the hole punch's, whose truncate waits for the fault's
    invalidate_lock)."""
    model = shipped.build(shipped.scenario("truncate/punch-vs-fault"))
    unlock = "if (folio && (fgp_flags & FGP_FOR_MMAP)) folio_unlock(folio)"
    trylock = "lock_folio_maybe_drop_mmap(vmf, folio, &fpin): if (folio_trylock(folio))"
    pages = [page for mapping in pagecache(model.world).mappings.values() for page in mapping.pages]
    locks = [lock.slot for page in pages for lock in page.locks]
    unlocked_at_trylock = []
    for state in _states(model):
        for tid in range(len(model.threads)):
            current = model.current_step(state, tid)
            if current is None or current.step.label != unlock:
                continue
            assert any(state[slot] == tid for slot in locks)
            for _action, after in model.successors_of(state, tid):
                at = model.current_step(after, tid)
                assert at is not None and at.step.label == trylock
                unlocked_at_trylock.append(all(after[slot] != tid for slot in locks))
    assert unlocked_at_trylock and all(unlocked_at_trylock)


def test_a_folio_truncated_while_the_fault_slept_without_mmap_lock_is_found_again(
    shipped: Registry,
) -> None:
    """filemap_fault() (6.6) that released mmap_lock to sleep on a cached
    folio's lock checks, once it holds it, whether the folio was truncated
    meanwhile, and goes back to ``retry_find`` (under invalidate_lock) rather
    than straight to ``out_retry``: the hole punch of truncate/punch-vs-fault
    gets there."""
    model = shipped.build(shipped.scenario("truncate/punch-vs-fault"))
    taken = [
        (tid, pc + 1)
        for tid, thread in enumerate(model.threads)
        for pc, step in enumerate(thread.program.steps)
        if step.label == "if (unlikely(folio->mapping != mapping)) /* truncated meanwhile */"
    ]
    assert taken
    assert all(
        model.threads[tid].program.steps[pc].label
        == "folio_unlock(folio); folio_put(folio); goto retry_find"
        for tid, pc in taken
    )
    checked = check_scenario(shipped, "truncate/punch-vs-fault", coverage=True)
    assert checked.result.verdict is Verdict.OK and checked.coverage is not None
    assert set(taken) - set(checked.coverage.never_ran)
