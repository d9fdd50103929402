"""Copies between the page cache and user memory mapped from the file run
through the mm model: write(2) faults its source in under i_rwsem, copies
atomically and retries a short copy; the protocol that copies with faults
enabled under the destination folio lock takes that lock twice."""

from __future__ import annotations

from collections import deque

from mc.check.checker import check_scenario
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry
from mc.engine.result import Verdict

SCENARIO = "writeback/write-from-own-mapping"


def _labels_reached(model: KernelModel, thread: int) -> set[str]:
    seen = {model.initial}
    queue = deque([model.initial])
    labels: set[str] = set()
    while queue:
        state = queue.popleft()
        current = model.current_step(state, thread)
        if current is not None:
            labels.add(current.step.label)
        for _action, after in model.successors(state):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    return labels


def test_a_short_copy_is_retried_after_faulting_the_source_in(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario(SCENARIO))
    labels = _labels_reached(model, 0)
    assert any("a short copy commits nothing" in label for label in labels)
    assert any("mmap_read_lock" in label for label in labels)
    assert check_scenario(shipped, SCENARIO).result.verdict is Verdict.OK


def test_a_copy_faulting_under_the_folio_lock_takes_it_again(shipped: Registry) -> None:
    outcome = check_scenario(shipped, SCENARIO, ["copy-faults-under-folio-lock"])
    found = outcome.counterexample
    assert found is not None and found.property == "lock-protocol"
    assert "PG_locked(/f:0#0), which it already holds" in found.message
    taken = [
        s.event.lock
        for s in (*found.started, *found.steps)
        if s.thread == "T1" and s.event.kind == "acquire"
    ]
    assert taken[taken.index("i_rwsem(/f)") + 1] == "mmap_lock", taken
    new_folio = next(i for i, s in enumerate(found.steps) if "__folio_set_locked" in s.label)
    fault = next(i for i, s in enumerate(found.steps) if s.event.lock == "mmap_lock")
    assert new_folio < fault, "the destination folio is locked before the copy faults"


def test_read_copies_to_user_memory_through_a_write_fault(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("writeback/read-into-mapping"))
    labels = _labels_reached(model, 0)
    assert any("page_mkwrite" in label for label in labels)
