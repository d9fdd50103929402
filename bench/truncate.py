"""Symbolic sizes against the concrete enumeration they replace: a truncate
to a size over 4 pages of byte offsets (0..16384) racing readahead(2) of
the last page and the I/O completion, on a 4-page file.  The symbolic run
checks every size at once; the concrete enumeration checks each of the
16385 sizes in its own run (spread over the machine's cores).  Both must
agree (every run OK); the states and the wall time of each are printed.

    python bench/truncate.py [--pages N] [--stride K] [--variant V] [--jobs J]

``--stride K`` checks every K-th size only (a quick look, not the
comparison); ``--variant pre-invalidate-lock`` compares the runs that find
the race (the symbolic run stops at its first counterexample, the
enumeration counts the sizes that fail).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mc.cli.options import registry  # noqa: E402
from mc.dsl.scenario import BASE_PROPERTIES, Scenario  # noqa: E402
from mc.engine.explore import check  # noqa: E402
from mc.engine.symbolic import Symbol  # noqa: E402
from mc.kernel.pagecache import PAGE_SIZE, File  # noqa: E402
from mc.kernel.truncate_properties import TRUNCATE_PROPERTIES  # noqa: E402
from mc.models.truncate import readahead, truncate  # noqa: E402
from mc.models.writeback import io_completion  # noqa: E402

PROPERTIES = (*BASE_PROPERTIES, *TRUNCATE_PROPERTIES)


def scenario(pages: int, size: int | Symbol) -> Scenario:
    """The bench scenario on a ``pages``-page file, truncated to ``size``."""
    file = File("/f", pages=pages)
    last = (pages - 1) * PAGE_SIZE + 100
    threads = (truncate(file, size), readahead(file, last), io_completion(file))
    return Scenario("bench/truncate-vs-readahead", "", ("/f",), threads, PROPERTIES)


def run_values(task: tuple[int, list[int], tuple[str, ...]]) -> tuple[int, int, int, float]:
    """Check each size of a chunk concretely: (runs, failing runs, states, CPU seconds)."""
    pages, sizes, variants = task
    started = time.process_time()
    reg = registry()
    failing = states = 0
    for size in sizes:
        result = check(reg.build(scenario(pages, size), variants))
        states += result.stats.states
        failing += result.violation is not None
    return len(sizes), failing, states, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=4, help="file and range in pages (>= 4)")
    parser.add_argument("--stride", type=int, default=1, help="check every K-th size only")
    parser.add_argument("--variant", action="append", default=[], help="a protocol variant")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    args = parser.parse_args()
    variants = tuple(args.variant)
    high = args.pages * PAGE_SIZE

    started = time.perf_counter()
    symbolic = check(registry().build(scenario(args.pages, Symbol("new_size", 0, high)), variants))
    symbolic_wall = time.perf_counter() - started
    stats = symbolic.stats
    print(
        f"symbolic: new_size in 0..{high} ({high + 1} values), {args.pages}-page file, "
        f"variants {', '.join(variants) or 'none'}"
    )
    print(
        f"  {symbolic.verdict.value}, {stats.states:,} states "
        f"({stats.extra.get('symbolic_states', 0):,} symbolic), "
        f"{stats.extra.get('solver_calls', 0)} solver calls, {symbolic_wall:.2f} s"
    )

    sizes = list(range(0, high + 1, args.stride))
    chunks = [sizes[i :: args.jobs] for i in range(args.jobs)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        done = list(pool.map(run_values, [(args.pages, c, variants) for c in chunks if c]))
    concrete_wall = time.perf_counter() - started
    runs = sum(d[0] for d in done)
    failing = sum(d[1] for d in done)
    states = sum(d[2] for d in done)
    cpu = sum(d[3] for d in done)
    sampled = "" if args.stride == 1 else f" (every {args.stride}th size: a sample)"
    print(f"concrete enumeration{sampled}: {runs} runs on {args.jobs} processes")
    print(
        f"  {failing} runs violated, {states:,} states in all ({states / runs:,.0f} per run), "
        f"{concrete_wall:.1f} s wall, {cpu:.1f} s CPU"
    )
    agree = (symbolic.violation is not None) == (failing > 0)
    print(
        f"verdicts agree: {'yes' if agree else 'NO'}; concrete / symbolic: "
        f"{states / stats.states:,.0f}x the states, {concrete_wall / symbolic_wall:,.0f}x the "
        "wall time"
    )


if __name__ == "__main__":
    main()
