"""The largest writeback scenario: every ``writeback/`` scenario is checked
on the correct protocol as a user would (``vfsmc check S --json`` in a
fresh process); the one with the most states is reported with its states,
states/s, peak memory, bytes per state and wall time from process start.

    python bench/writeback.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VFSMC = Path(sys.executable).parent / "vfsmc"


def run(scenario: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    command = [str(VFSMC), "check", scenario, "--json", "--no-save"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode not in (0, 1, 3):
        sys.exit(f"{scenario}: vfsmc check exited {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    listed = subprocess.run(
        [str(VFSMC), "list", "--json"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    names = [n for n in json.loads(listed.stdout)["scenarios"] if n.startswith("writeback/")]
    reports = {name: run(name) for name in names}
    for name, (report, wall) in reports.items():
        print(f"{name:<36} {report['verdict']:<9} {report['states']:>8,} states {wall:6.2f} s")
    largest = max(reports, key=lambda name: reports[name][0]["states"])
    report, wall = reports[largest]
    print(
        f"largest: {largest}: {report['verdict']}, {report['states']:,} states, "
        f"{report['transitions']:,} transitions, {report['states_per_second']:,} states/s, "
        f"peak {report['peak_memory_bytes'] / 2**20:.1f} MiB, "
        f"{report['bytes_per_state']:.0f} B/state, search {report['seconds']:.3f} s, "
        f"{wall:.2f} s from process start to exit"
    )


if __name__ == "__main__":
    main()
