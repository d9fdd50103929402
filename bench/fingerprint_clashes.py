"""Whether any two reachable states of a shipped scenario share a
fingerprint: each scenario on the correct protocol searched in full
(states kept exact, no reduction), every stored state fingerprinted as the
fingerprint store does (``mc.engine.store.fingerprint``), and the pairs of
different states with one fingerprint counted.  The fingerprint is
Python's hash, which hashes -1 as -2; the store counts a state's -1 items,
which tells one slot's -1 from -2 but not two slots swapping them: this
measures whether the shipped models' values ever do.

    python bench/fingerprint_clashes.py [PREFIX ...]
"""

from __future__ import annotations

import multiprocessing
import sys
import time

from mc.check.registry import shipped
from mc.engine.explore import Options, Search
from mc.engine.store import fingerprint

LIMIT = 400_000


def clashes(name: str) -> tuple[str, int, int, str]:
    """The scenario, its states, the pairs sharing a fingerprint and the
    slots the first such pair differs in."""
    registry = shipped()
    model = registry.build(registry.scenario(name))
    search = Search(model, Options(exact=True, reduce=False, max_states=LIMIT))
    search.run()
    first: dict[int, object] = {}
    pairs = []
    for state in search.states:
        key = fingerprint(state)
        if key in first and first[key] != state:
            pairs.append((first[key], state))
        first.setdefault(key, state)
    apart = ""
    if pairs:
        a, b = pairs[0]
        assert isinstance(a, tuple) and isinstance(b, tuple)
        apart = ", ".join(
            f"{model.world.slots[i].name}: {x!r} / {y!r}"
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            if x != y
        )
    return name, len(search.states), len(pairs), apart


def main(prefixes: list[str]) -> int:
    names = sorted(shipped().scenarios)
    if prefixes:
        names = [name for name in names if name.startswith(tuple(prefixes))]
    started = time.perf_counter()
    states = found = 0
    with multiprocessing.Pool(2) as pool:
        for name, count, pairs, apart in pool.imap_unordered(clashes, names):
            states += count
            found += pairs
            if pairs:
                print(f"{name}: {count} states, {pairs} pairs share a fingerprint ({apart})")
    print(
        f"{len(names)} scenarios, {states:,} states, {found} pairs sharing a fingerprint, "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
