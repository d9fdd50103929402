"""Regenerate the shipped counterexamples: one per expected violation in
specs/expectations.toml, saved (with its graphs) under counterexamples/;
then the answer ``vfsmc list`` starts from on a fresh machine
(specs/applicable-variants.json: the variants that change each shipped
scenario, for these sources).

``python -m mc.cli.shipped [PREFIX ...]`` regenerates only the rows whose
scenario starts with one of the prefixes (``writeback/``)."""

from __future__ import annotations

import sys
from pathlib import Path

from mc.check import expectations, inventory
from mc.check.checker import check_scenario, file_stem
from mc.check.marks import variant_marks
from mc.cli.options import registry
from mc.project import COUNTEREXAMPLES
from mc.trace import graph as render_graph

OUT = COUNTEREXAMPLES


def main(out: Path = OUT, prefixes: tuple[str, ...] = ()) -> int:
    reg = registry()
    for row in expectations.load():
        if row.violated is None or not row.scenario.startswith(prefixes or ("",)):
            continue
        outcome = check_scenario(reg, row.scenario, row.variants)
        found = outcome.counterexample
        if found is None or found.property != row.violated:
            print(f"{row.label}: expected {row.violated}, got {outcome.result.verdict.value}")
            return 1
        stem = out / file_stem(row.scenario, row.variants)
        found.save(stem.parent / f"{stem.name}.json")
        marks = variant_marks(reg, found)
        for suffix in ("dot", "svg"):
            render_graph.render(found, stem.parent / f"{stem.name}.{suffix}", marks)
        print(f"{row.label}: {found.property}, {len(found.steps)} steps -> {stem}.json")
    covered = inventory.write_shipped_answer(reg)
    print(f"the variants of {covered} scenarios -> {inventory.SHIPPED_ANSWER}")
    return 0


if __name__ == "__main__":
    sys.exit(main(prefixes=tuple(sys.argv[1:])))
