"""Engine throughput on a trivial lock model, side by side with a
plain-Python BFS loop over the same states and with SPIN.

N threads each take and release one mutex R times.  Prints, for each
contender, the states stored, wall time, states/s, peak memory and bytes
per stored state, and the engine's ratios to the others.  Each run is its
own process so peak memory is its own.

    python bench/engine.py [--threads 4] [--rounds 14]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mc.engine.explore import check  # noqa: E402
from mc.engine.model import Model  # noqa: E402

State = tuple[tuple[int, ...], int]


class MutexRounds(Model[State, int]):
    """N threads, each R rounds of lock(m); unlock(m)."""

    def __init__(self, threads: int, rounds: int) -> None:
        self.threads = threads
        self.end = 2 * rounds

    def init_states(self) -> Sequence[State]:
        return (((0,) * self.threads, -1),)

    def successors(self, state: State) -> list[tuple[int, State]]:
        pcs, holder = state
        end = self.end
        found = []
        for tid, pc in enumerate(pcs):
            if pc == end:
                continue
            if pc % 2 == 0:
                if holder == -1:
                    found.append((tid, ((*pcs[:tid], pc + 1, *pcs[tid + 1 :]), tid)))
            else:
                found.append((tid, ((*pcs[:tid], pc + 1, *pcs[tid + 1 :]), -1)))
        return found


def plain_bfs(threads: int, rounds: int) -> tuple[int, int]:
    """The same search as a bare loop: a set, a deque, inline successors."""
    end = 2 * rounds
    start: State = ((0,) * threads, -1)
    seen = {start}
    queue = deque([start])
    transitions = 0
    while queue:
        pcs, holder = queue.popleft()
        for tid, pc in enumerate(pcs):
            if pc == end:
                continue
            if pc % 2 == 0:
                if holder != -1:
                    continue
                nxt = ((*pcs[:tid], pc + 1, *pcs[tid + 1 :]), tid)
            else:
                nxt = ((*pcs[:tid], pc + 1, *pcs[tid + 1 :]), -1)
            transitions += 1
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return len(seen), transitions


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_one(which: str, threads: int, rounds: int) -> dict[str, float]:
    """One measurement in this process."""
    if which == "engine":
        result = check(MutexRounds(threads, rounds))
        stats = result.stats
        return {
            "states": stats.states,
            "transitions": stats.transitions,
            "seconds": stats.seconds,
            "peak": _peak(),
            "bytes_per_state": stats.bytes_per_state,
        }
    started = time.perf_counter()
    states, transitions = plain_bfs(threads, rounds)
    seconds = time.perf_counter() - started
    return {
        "states": states,
        "transitions": transitions,
        "seconds": seconds,
        "peak": _peak(),
        "bytes_per_state": 0,
    }


PROMELA = """
byte holder = 255;
active [{threads}] proctype T() {{
  byte pc = 0;
  do
  :: atomic {{ pc < {end} && pc % 2 == 0 && holder == 255 -> holder = _pid; pc++ }}
  :: atomic {{ pc < {end} && pc % 2 == 1 -> holder = 255; pc++ }}
  :: atomic {{ pc == {end} -> break }}
  od
}}
"""


def run_spin(threads: int, rounds: int) -> dict[str, float] | None:
    """SPIN on the same model: compile (spin -a, gcc) and search, without
    partial-order reduction, as the engine has none."""
    if shutil.which("spin") is None or shutil.which("gcc") is None:
        return None
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "m.pml").write_text(PROMELA.format(threads=threads, end=2 * rounds))
        started = time.perf_counter()
        subprocess.run(["spin", "-a", "m.pml"], cwd=folder, check=True, capture_output=True)
        subprocess.run(
            ["gcc", "-O2", "-DSAFETY", "-DNOREDUCE", "-DVECTORSZ=256", "-o", "pan", "pan.c"],
            cwd=folder,
            check=True,
            capture_output=True,
        )
        compiled = time.perf_counter()
        done = subprocess.run(
            ["./pan", "-m1000000"], cwd=folder, check=True, capture_output=True, text=True
        )
        finished = time.perf_counter()
    stored = re.search(r"(\d+) states, stored", done.stdout)
    memory = re.search(r"([\d.]+)\s+total actual memory usage", done.stdout)
    return {
        "states": int(stored.group(1)) if stored else 0,
        "seconds": finished - compiled,
        "compile_seconds": compiled - started,
        "peak": float(memory.group(1)) * 2**20 if memory else 0,
    }


def measure(which: str, threads: int, rounds: int) -> dict[str, float]:
    """Run one contender in a fresh process."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            which,
            "--threads",
            str(threads),
            "--rounds",
            str(rounds),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=14)
    parser.add_argument("--one", choices=("engine", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.threads, args.rounds)))
        return
    print(
        f"trivial lock model: {args.threads} threads x {args.rounds} rounds "
        "of lock/unlock on one mutex"
    )
    rows = {"vfsmc engine": measure("engine", args.threads, args.rounds)}
    rows["plain Python BFS"] = measure("plain", args.threads, args.rounds)
    spin = run_spin(args.threads, args.rounds)
    if spin is not None:
        rows["SPIN (-DNOREDUCE)"] = spin
    print(f"{'':<20} {'states':>10} {'seconds':>9} {'states/s':>12} {'peak MiB':>9} {'B/state':>8}")
    for name, row in rows.items():
        rate = row["states"] / row["seconds"] if row["seconds"] else 0
        per_state = f"{row['bytes_per_state']:>8.0f}" if row.get("bytes_per_state") else f"{'':>8}"
        print(
            f"{name:<20} {int(row['states']):>10,} {row['seconds']:>9.3f} {rate:>12,.0f} "
            f"{row['peak'] / 2**20:>9.1f} {per_state}"
        )
    engine = rows["vfsmc engine"]
    engine_rate = engine["states"] / engine["seconds"]
    for name, row in rows.items():
        if name != "vfsmc engine":
            ratio = engine_rate / (row["states"] / row["seconds"])
            print(f"engine states/s / {name}: {ratio:.2f}")
    if spin is not None:
        print(
            f"SPIN compile (spin -a + gcc): {spin['compile_seconds']:.2f} s "
            "before its search starts"
        )


if __name__ == "__main__":
    main()
