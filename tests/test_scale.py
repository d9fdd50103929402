"""The scaling benchmark's scenario files: they load, build the thread
counts they describe, and their first states check like any scenario."""

from __future__ import annotations

from mc.check import usermodels
from mc.check.checker import check_scenario
from mc.check.registry import with_files
from mc.engine.explore import Options
from mc.engine.result import Verdict
from mc.project import ROOT

BENCH = {
    "bench/scale/dirops.py:scale/dirops-6": 6,
    "bench/scale/dirops.py:scale/dirops-7": 7,
    "bench/scale/dirops.py:scale/dirops-8": 8,
    "bench/scale/dirops.py:scale/dirops-9": 9,
    "bench/scale/dirops.py:scale/dirops-10": 10,
    "bench/scale/writeback.py:scale/writeback-3": 6,
    "bench/scale/writeback.py:scale/writeback-4": 7,
}


def test_the_bench_scenarios_build_with_their_thread_counts() -> None:
    registry = with_files(())
    for spec, threads in BENCH.items():
        name = usermodels.resolve(str(ROOT / spec), registry)
        model = registry.build(registry.scenario(name))
        assert len(model.threads) == threads, spec
        outcome = check_scenario(registry, name, options=Options(max_states=200))
        assert outcome.result.verdict is Verdict.INCOMPLETE, spec
        assert outcome.result.stats.states == 200
