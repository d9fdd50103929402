"""Regenerate the shipped counterexamples: one per expected violation in
specs/expectations.toml, saved (with its graphs) under counterexamples/."""

from __future__ import annotations

import sys
from pathlib import Path

from mc import expectations, render_graph
from mc.cli import registry
from mc.run import check_scenario, file_stem

OUT = expectations.ROOT / "counterexamples"


def main(out: Path = OUT) -> int:
    reg = registry()
    for row in expectations.load():
        if row.violated is None:
            continue
        outcome = check_scenario(reg, row.scenario, row.variants)
        found = outcome.counterexample
        if found is None or found.property != row.violated:
            print(f"{row.label}: expected {row.violated}, got {outcome.result.verdict.value}")
            return 1
        stem = out / file_stem(row.scenario, row.variants)
        found.save(stem.with_suffix(".json"))
        for suffix in (".dot", ".svg"):
            render_graph.render(found, stem.with_suffix(suffix))
        print(f"{row.label}: {found.property}, {len(found.steps)} steps -> {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
