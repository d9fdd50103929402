"""A store through the mapping past EOF never becomes file data: writeback
zeroes the page past i_size, so after reclaim drops the page and write(2)
extends the file, the bytes between the old and the new EOF hold zeroes."""

from __future__ import annotations

from mc.check.checker import check_scenario
from mc.dsl.scenario import Registry
from mc.engine.result import Verdict

SCENARIO = "writeback/store-past-eof-extend"
NO_ZEROING = "writeback-skips-eof-zero"


def test_the_extension_reads_zeroes_on_the_shipped_protocol(shipped: Registry) -> None:
    outcome = check_scenario(shipped, SCENARIO)
    assert outcome.result.verdict is Verdict.OK
    assert "extension-reads-zero" in outcome.result.properties


def test_writeback_without_the_zeroing_exposes_the_store(shipped: Registry) -> None:
    outcome = check_scenario(shipped, SCENARIO, [NO_ZEROING])
    found = outcome.counterexample
    assert found is not None and found.property == "extension-reads-zero"
    assert "bytes [100, 4096) of /f:0" in found.message
    assert "a store through the mapping past the old EOF" in found.message
    labels = [step.label for step in found.steps]
    removed = next(i for i, label in enumerate(labels) if label.startswith("__remove_mapping()"))
    extended = next(i for i, label in enumerate(labels) if "extended past the store" in label)
    assert removed < extended, "the page left the page cache before the file grew"
    assert not any(label.startswith("zero_user_segment") for label in labels)


def test_the_pread_of_the_extended_range_sees_it_too(shipped: Registry) -> None:
    outcome = check_scenario(shipped, SCENARIO, [NO_ZEROING], properties=["no-post-eof-exposure"])
    found = outcome.counterexample
    assert found is not None and found.property == "no-post-eof-exposure"
    assert "pread of bytes [100, 4096)" in found.message
