"""Every shipped counterexample replays under the variants it records and
stops on the correct protocol; its graph renders."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from mc.check import expectations
from mc.check.checker import file_stem
from mc.check.marks import variant_marks
from mc.check.replay import replay
from mc.dsl.scenario import Registry
from mc.trace import format as cx_format
from mc.trace.graph import to_dot

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "counterexamples").glob("*.json"))


def test_every_expected_violation_has_a_shipped_counterexample() -> None:
    names = {path.stem for path in SHIPPED}
    for row in expectations.load():
        if row.violated:
            assert file_stem(row.scenario, row.variants) in names, row.label


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_replays_with_its_variants_and_not_without(shipped: Registry, path: Path) -> None:
    counterexample = cx_format.load(path)
    scenario = shipped.scenario(counterexample.scenario)
    broken = shipped.build(scenario, counterexample.variants, counterexample.properties)
    report = replay(broken, counterexample)
    assert report.reproduced, report.reason
    assert report.replayed == len(counterexample.steps)
    correct = shipped.build(scenario, (), counterexample.properties)
    report = replay(correct, counterexample)
    assert not report.reproduced
    assert report.stopped_at is not None


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_graph_matches_the_trace(shipped: Registry, path: Path) -> None:
    counterexample = cx_format.load(path)
    marks = variant_marks(shipped, counterexample)
    assert path.with_suffix(".dot").read_text() == to_dot(counterexample, marks)
    assert path.with_suffix(".svg").exists()


def test_round_trip_through_json() -> None:
    counterexample = cx_format.load(SHIPPED[0])
    assert cx_format.from_json(counterexample.to_json()) == counterexample


def test_a_trace_that_diverges_names_its_step(shipped: Registry) -> None:
    path = ROOT / "counterexamples" / "dirops-opposite-renames--no-rename-mutex.json"
    counterexample = cx_format.load(path)
    steps = list(counterexample.steps)
    steps[3] = attrs.evolve(steps[3], label="something else")
    edited = attrs.evolve(counterexample, steps=tuple(steps))
    model = shipped.build(shipped.scenario(edited.scenario), edited.variants, edited.properties)
    report = replay(model, edited)
    assert not report.reproduced and report.stopped_at == 4
