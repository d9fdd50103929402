"""Every expected row of specs/expectations.toml checked as a user would,
``vfsmc check SCENARIO [--variant V] --json`` in a fresh process: the wall
time from process start to exit, states, states/s, peak memory and bytes per
stored state.  The package's bytecode is compiled first, as pip does when
it installs vfsmc (``mc/models`` is a link ``compileall`` does not follow,
so ``models`` is named too).

    python bench/scenarios.py [--filter PREFIX]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mc.check import expectations  # noqa: E402

VFSMC = Path(sys.executable).parent / "vfsmc"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--filter", default="", help="only scenarios starting with this")
    args = parser.parse_args()
    rows = [row for row in expectations.load() if row.scenario.startswith(args.filter)]
    if not rows:
        parser.error(f"--filter {args.filter!r}: no row of specs/expectations.toml starts so")
    command = [sys.executable, "-m", "compileall", "-q", "mc", "models"]
    subprocess.run(command, cwd=ROOT, check=True)
    header = f"{'scenario':<36} {'variants':<22} {'verdict':<9} {'states':>8} {'states/s':>9}"
    print(header + f" {'peak MiB':>8} {'B/state':>7} {'wall s':>7}")
    slowest = 0.0
    walls: list[float] = []
    for row in rows:
        command = [str(VFSMC), "check", row.scenario, "--json", "--no-save"]
        for variant in row.variants:
            command += ["--variant", variant]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        wall = time.perf_counter() - started
        slowest = max(slowest, wall)
        walls.append(wall)
        report = json.loads(done.stdout)
        print(
            f"{row.scenario:<36} {','.join(row.variants) or '-':<22} {report['verdict']:<9} "
            f"{report['states']:>8,} {report['states_per_second']:>9,} "
            f"{report['peak_memory_bytes'] / 2**20:>8.1f} {report['bytes_per_state']:>7.0f} "
            f"{wall:>7.2f}"
        )
    print(f"slowest verdict from process start to exit: {slowest:.2f} s")
    over = sum(wall > 1.0 for wall in walls)
    print(f"verdicts over 1 s from process start to exit: {over} of {len(walls)}")
    started = time.perf_counter()
    subprocess.run([str(VFSMC), "--version"], capture_output=True, check=False, cwd=ROOT)
    startup = time.perf_counter() - started
    print(f"startup alone (vfsmc --version: imports and the shipped models): {startup:.2f} s")


if __name__ == "__main__":
    main()
