"""Every address order: comparisons of objects not yet ordered fork, the
order stays transitive, a counterexample records the order it needed and
replay checks it."""

from __future__ import annotations

from pathlib import Path

import attrs

from mc.check.checker import check_scenario
from mc.check.replay import replay
from mc.dsl.addresses import closure, render_order
from mc.dsl.scenario import Registry
from mc.engine.result import Verdict
from mc.trace import graph, text
from mc.trace.format import load

SCENARIO = "dirops/rename-up-vs-rmdir"


def test_the_order_is_transitive_and_reads_as_chains() -> None:
    order = closure({(1, 2), (2, 3)})
    assert (1, 3) in order and len(order) == 3
    assert render_order(order, lambda i: f"/{i}") == "/1 < /2 < /3"
    assert render_order(frozenset(), str) == "none"


def test_an_order_reads_as_the_longest_chains_its_covering_pairs_make() -> None:
    """/3 < /1 < /2 is one chain, whatever order its pairs come in; a
    node two others follow starts two chains, each of distinct paths, and
    a counterexample holding that order reads back (a trace saved with
    '/1 < /2; /3 < /1' was refused by every command that reads one)."""
    assert render_order(closure({(1, 2), (3, 1)}), lambda i: f"/{i}") == "/3 < /1 < /2"
    assert render_order(closure({(1, 2), (1, 3)}), lambda i: f"/{i}") == "/1 < /2; /1 < /3"


def test_a_counterexample_whose_order_has_two_chains_reads_back(
    shipped: Registry, tmp_path: Path
) -> None:
    found = check_scenario(shipped, SCENARIO, ["parents-by-address"]).counterexample
    assert found is not None
    saved = tmp_path / "two-chains.json"
    attrs.evolve(found, addresses="/a < /c; /a/b < /a").save(saved)
    assert load(saved).addresses == "/a < /c; /a/b < /a"


def test_a_fixed_order_hides_the_deadlock_every_order_shows(shipped: Registry) -> None:
    assert check_scenario(shipped, SCENARIO).result.verdict is Verdict.OK
    fixed = check_scenario(shipped, SCENARIO, ["parents-by-address", "fixed-addresses"])
    assert fixed.result.verdict is Verdict.OK
    assert fixed.result.stats.extra["address_orders"] == 1
    every = check_scenario(shipped, SCENARIO, ["parents-by-address"])
    found = every.counterexample
    assert found is not None and found.property == "deadlock"
    assert found.addresses == "/a/b < /a"
    assert "addresses: /a/b < /a" in text.render(found)
    assert every.result.stats.extra["address_orders"] == 3


def test_replay_checks_the_address_order(shipped: Registry) -> None:
    found = check_scenario(shipped, SCENARIO, ["parents-by-address"]).counterexample
    assert found is not None
    model = shipped.build(shipped.scenario(SCENARIO), found.variants, found.properties)
    assert replay(model, found).reproduced
    other = attrs.evolve(found, addresses="/a < /a/b")
    report = replay(model, other)
    assert not report.reproduced and "address order is /a/b < /a" in report.reason
    emptied = replay(model, attrs.evolve(found, steps=()))
    assert emptied.reason == (
        "the trace has no steps but the address order is none (no step compared the "
        "addresses), not /a/b < /a"
    )


def test_both_orders_of_two_files_are_explored(shipped: Registry) -> None:
    outcome = check_scenario(shipped, "dirops/rename-over-file-vs-link")
    assert outcome.result.verdict is Verdict.OK
    assert outcome.result.stats.extra["address_orders"] == 3


def test_the_chart_shows_the_order(shipped: Registry, tmp_path: Path) -> None:
    found = check_scenario(shipped, SCENARIO, ["parents-by-address"]).counterexample
    assert found is not None
    chart = tmp_path / "chart.dot"
    graph.render(found, chart)
    assert "addresses: /a/b < /a" in chart.read_text()
