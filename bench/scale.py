"""How far the checker scales: the scenarios of bench/scale/ (directory
operations growing from six to eight threads, writeback with three and four
writers, scenarios of interchangeable threads for ``--symmetry``, and four
threads of disk quotas against a jbd2 commit)
checked as a user would, ``vfsmc check FILE:SCENARIO --json`` in a fresh
process per configuration, printing states, transitions, seconds,
states/s, bytes per stored state (what the process grew by, and what the
store of fingerprints and parent links holds) and peak memory.

    python bench/scale.py [--filter TEXT] [--config NAME ...] [--time-limit S] [--no-spin]

Then the seven-operation directory scenario side by side with SPIN: its lock
skeleton (bench/spin/dirops7.pml) through ``spin -a``, ``gcc -O2`` and ``pan``
(default partial-order reduction), end to end, against ``vfsmc check`` of
the scenario, both asking whether any interleaving deadlocks or unlocks a
lock it does not hold (``--property deadlock --property lock-protocol``).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VFSMC = Path(sys.executable).parent / "vfsmc"

SCENARIOS = (
    "bench/scale/dirops.py:scale/dirops-6",
    "bench/scale/dirops.py:scale/dirops-7",
    "bench/scale/dirops.py:scale/dirops-8",
    "bench/scale/dirops.py:scale/dirops-9",
    "bench/scale/dirops.py:scale/dirops-10",
    "bench/scale/writeback.py:scale/writeback-3",
    "bench/scale/writeback.py:scale/writeback-4",
    "bench/scale/symmetry.py:scale/automount-3",
    "bench/scale/symmetry.py:scale/automount-4",
    "bench/scale/symmetry.py:scale/flock-upgrade-3",
    "bench/scale/quota.py:scale/quota-release-vs-commit",
)

CONFIGS: dict[str, list[str]] = {
    "unreduced": ["--no-por", "--exact"],
    "unreduced+fingerprints": ["--no-por"],
    "por": ["--exact"],
    "por+fingerprints": [],
    "por, no namespace": ["--no-property", "namespace"],
    "por, no livelock": ["--no-property", "livelock"],
    "2 workers": ["--workers", "2", "--no-por"],
    "por, 2 workers": ["--workers", "2"],
    "ray, 2 workers": ["--workers", "2", "--backend", "ray", "--no-por"],
    "symmetry": ["--symmetry"],
    "symmetry, full states": ["--symmetry", "--exact"],
}
"""Each configuration: the ``vfsmc check`` options it adds."""
SPREAD = {
    "2 workers": "unreduced+fingerprints",
    "por, 2 workers": "por+fingerprints",
    "ray, 2 workers": "unreduced+fingerprints",
}
"""Each configuration over workers, with the one-process configuration it
is compared with (the same reduction, or none)."""
REDUCED_ONLY = ("por+fingerprints", "por, 2 workers")
ONLY: dict[str, tuple[str, ...]] = {
    "scale/dirops-9": REDUCED_ONLY,
    "scale/dirops-10": REDUCED_ONLY,
    "scale/quota-release-vs-commit": REDUCED_ONLY,
}
"""The configurations a scenario is checked in, where not every one: the
nine- and ten-thread directory scenarios take minutes and gigabytes
without reduction, so they measure the reduced search over two workers
on searches that last long enough to want a second core (as does the
quota scenario, 759,761 states with reduction)."""
WORTH_A_SECOND_CORE = 5.0
"""The seconds a search takes in one process from which its speed-up on
two cores counts for the target: a search of a second or two is mostly
the command's start (0.2 s) and the round trips between levels."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    scenario: str, options: list[str], time_limit: float
) -> tuple[dict[str, object], float, float]:
    """One check in a fresh process: its JSON report, wall time and CPU
    time (of the process and its forked workers: on a shared machine the
    CPU time is what the check cost, the wall time also what others took;
    Ray actors are not children of the check, the caller adds their
    ``worker_cpu_ms``)."""
    command = [str(VFSMC), "check", scenario, "--json", "--no-save", "--no-progress"]
    command += ["--time-limit", str(time_limit), *options]
    started = time.perf_counter()
    cpu = _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    cpu = _children_cpu() - cpu
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    report: dict[str, object] = json.loads(done.stdout)
    return report, wall, cpu


SPIN_MODEL = ROOT / "bench" / "spin" / "dirops7.pml"
SPIN_QUESTION = "bench/scale/dirops.py:scale/dirops-7"
SPIN_PROPERTIES = ["--property", "deadlock", "--property", "lock-protocol"]
"""What the skeleton asks of SPIN (an invalid end state, a failed assertion
that a process unlocks what it holds), asked of vfsmc: the scenario's other
properties (``namespace``, ``completes``) are questions the skeleton
cannot ask, and their visibility would keep the reduction from vfsmc's run."""


def spin_side_by_side(time_limit: float) -> float | None:
    """SPIN's end-to-end time on the lock skeleton against vfsmc's on the
    scenario (default options); their ratio (wall time), None without SPIN."""
    if shutil.which("spin") is None or shutil.which("gcc") is None:
        print("spin or gcc not installed (make bench installs spin): no comparison")
        return None
    with tempfile.TemporaryDirectory() as work:
        shutil.copy(SPIN_MODEL, work)
        started = time.perf_counter()
        spin_cpu = _children_cpu()
        for command in (["spin", "-a", SPIN_MODEL.name], ["gcc", "-O2", "-o", "pan", "pan.c"]):
            subprocess.run(command, cwd=work, check=True, capture_output=True)
        pan = subprocess.run(["./pan"], cwd=work, check=True, capture_output=True, text=True)
        spin_seconds = time.perf_counter() - started
        spin_cpu = _children_cpu() - spin_cpu
    stored = re.search(r"(\d+) states, stored", pan.stdout)
    errors = re.search(r"errors: (\d+)", pan.stdout)
    report, wall, cpu = run(SPIN_QUESTION, SPIN_PROPERTIES, time_limit)
    print(
        f"SPIN (spin -a, gcc, pan) on the lock skeleton: {stored.group(1) if stored else '?'} "
        f"states, {errors.group(1) if errors else '?'} errors, {spin_seconds:.2f} s end to end "
        f"({spin_cpu:.2f} s CPU)"
    )
    print(
        f"vfsmc check {SPIN_QUESTION} {' '.join(SPIN_PROPERTIES)}: {report['verdict']}, "
        f"{report['states']:,} states, "
        f"{wall:.2f} s end to end ({cpu:.2f} s CPU)"
    )
    print(f"ratio vfsmc / SPIN: {wall / spin_seconds:.1f} (wall), {cpu / spin_cpu:.1f} (CPU)")
    return wall / spin_seconds


Measured = dict[tuple[str, str], tuple[dict[str, object], float, float]]
"""Each check run: (scenario name, configuration) -> report, wall s, CPU s."""


def _states(report: dict[str, object]) -> int:
    return int(str(report["states"]))


def targets(measured: Measured, spin_ratio: float | None) -> None:
    """The scale targets against what this run measured (a target whose
    runs were left out says so)."""
    print("\ntargets (what this run measured):")

    def line(target: str, figures: list[str], met: bool | None) -> None:
        verdict = "not measured" if met is None else ("met" if met else "missed")
        print(f"  {target}: {', '.join(figures) or '-'} ({verdict})")

    full = measured.get(("scale/dirops-7", "unreduced")) or measured.get(
        ("scale/dirops-7", "unreduced+fingerprints")
    )
    reduced = measured.get(("scale/dirops-7", "por")) or measured.get(
        ("scale/dirops-7", "por+fingerprints")
    )
    quieter = measured.get(("scale/dirops-7", "por, no namespace"))
    if full and (reduced or quieter):
        ratios = [
            (question, _states(full[0]) / _states(run[0]))
            for question, run in (("every property", reduced), ("without namespace", quieter))
            if run
        ]
        line(
            ">= 10x fewer states with reduction on dirops-7",
            [f"{question} {ratio:.2f}x" for question, ratio in ratios],
            all(ratio >= 10 for _, ratio in ratios),
        )
    else:
        line(">= 10x fewer states with reduction on dirops-7", [], None)
    rates = [
        (name, float(str(report["states_per_second"])))
        for (name, config), (report, _wall, _cpu) in measured.items()
        if config == "por+fingerprints"
    ]
    line(
        ">= 150k states per second of search, one process",
        [f"{name} {rate:,.0f}" for name, rate in rates],
        all(rate >= 150_000 for _, rate in rates) if rates else None,
    )
    sizes = [
        (
            name,
            config,
            float(str(report["store_bytes_per_state"])),
            float(str(report["bytes_per_state"])),
        )
        for (name, config), (report, _wall, _cpu) in measured.items()
        if config in ("por+fingerprints", "unreduced+fingerprints", "por, no livelock")
    ]
    line(
        "<= 32 bytes per state with fingerprints (the store's; the process's growth after it; "
        "with livelock, the edges of a scenario with loops and every state's number too)",
        [f"{name} {config} {size:.0f} ({growth:.0f})" for name, config, size, growth in sizes],
        all(size <= 32 for _name, _config, size, _growth in sizes) if sizes else None,
    )
    speedups = [
        (f"{name} {config}", one[1] / two[1], one[1] >= WORTH_A_SECOND_CORE)
        for (name, config), two in measured.items()
        if config in ("2 workers", "por, 2 workers")
        and (one := measured.get((name, SPREAD[config])))
    ]
    counted = [ratio for _name, ratio, long in speedups if long]
    line(
        f">= 1.8x on 2 cores (wall; searches of {WORTH_A_SECOND_CORE:.0f} s or more in one "
        "process count, shorter ones are shown in brackets)",
        [
            f"{name} {ratio:.2f}x" if long else f"({name} {ratio:.2f}x)"
            for name, ratio, long in speedups
        ],
        all(ratio >= 1.8 for ratio in counted) if counted else None,
    )
    eights = [
        (question, run[1])
        for question, config in (
            ("every property", "por+fingerprints"),
            ("every property, 2 workers", "por, 2 workers"),
            ("without namespace", "por, no namespace"),
        )
        if (run := measured.get(("scale/dirops-8", config)))
    ]
    line(
        "dirops-8 verdict in < 5 s (end to end)",
        [f"{question} {wall:.1f} s" for question, wall in eights],
        all(wall < 5 for _, wall in eights) if eights else None,
    )
    line(
        "vfsmc / SPIN <= 1 (wall)",
        [f"{spin_ratio:.1f}"] if spin_ratio is not None else [],
        None if spin_ratio is None else spin_ratio <= 1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--filter", default="", help="only scenarios whose name contains this")
    parser.add_argument(
        "--config", action="append", choices=sorted(CONFIGS), help="configurations to run"
    )
    parser.add_argument("--time-limit", type=float, default=300.0, help="per check, seconds")
    parser.add_argument("--no-spin", action="store_true", help="skip the comparison with SPIN")
    args = parser.parse_args()
    configs = args.config or list(CONFIGS)
    if not any(args.filter in scenario for scenario in SCENARIOS):
        parser.error(f"--filter {args.filter!r}: no scenario's name contains it")
    command = [sys.executable, "-m", "compileall", "-q", "mc", "models"]
    subprocess.run(command, cwd=ROOT, check=True)
    print(
        "the package's bytecode is compiled beforehand (python -m compileall mc models: "
        "mc/models is a link compileall does not follow), as pip does when it installs "
        "vfsmc, so the end-to-end times do not include compiling it"
    )
    print(
        f"{'scenario':<20} {'config':<16} {'verdict':<10} {'states':>10} {'transitions':>12} "
        f"{'seconds':>8} {'states/s':>9} {'B/state':>8} {'store B':>7} {'peak MiB':>9} "
        f"{'wall s':>7} {'CPU s':>7} {'states/CPU s':>12}"
    )
    with open("/proc/loadavg") as load:
        print(f"load average at the start: {' '.join(load.read().split()[:3])}")
    measured: Measured = {}
    for scenario in SCENARIOS:
        if args.filter not in scenario:
            continue
        times: dict[str, tuple[float, float]] = {}
        name = scenario.split(":")[1]
        for config in configs:
            if config not in ONLY.get(name, CONFIGS):
                continue
            report, wall, cpu = run(scenario, CONFIGS[config], args.time_limit)
            if "--backend" in CONFIGS[config]:
                cpu += int(str(report.get("worker_cpu_ms", 0))) / 1000
            times[config] = (wall, cpu)
            measured[name, config] = (report, wall, cpu)
            peak = int(str(report["peak_memory_bytes"])) / 2**20
            per_cpu = int(str(report["states"])) / cpu if cpu else 0.0
            store = report.get("store_bytes_per_state")
            stored = "" if store is None else f"{float(str(store)):.0f}"
            print(
                f"{name:<20} {config:<16} {report['verdict']!s:<10} "
                f"{report['states']:>10,} {report['transitions']:>12,} "
                f"{report['seconds']:>8.2f} {report['states_per_second']:>9,} "
                f"{report['bytes_per_state']:>8.0f} {stored:>7} {peak:>9.1f} {wall:>7.2f} "
                f"{cpu:>7.2f} {per_cpu:>12,.0f}",
                flush=True,
            )
        for config, alone in SPREAD.items():
            one = times.get(alone)
            if one is not None and config in times:
                wall, cpu = times[config]
                print(
                    f"  {config} against one process ({alone}): {one[0] / wall:.2f}x "
                    f"the wall speed, {cpu / one[1]:.2f}x the CPU time"
                )
    spin_ratio = None if args.no_spin else spin_side_by_side(args.time_limit)
    targets(measured, spin_ratio)


if __name__ == "__main__":
    main()
