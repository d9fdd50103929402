"""How many states a second an explicit-state search in CPython can reach
at most on a scenario, whatever its steps and properties cost: the work
every transition does with the scenario's own state vectors, timed alone.

Each transition of a breadth-first search makes a new state (the tuple of
its slots copied with a slot changed), fingerprints it
(``mc.engine.store.fingerprint``: Python's hash of the tuple and a count
of its -1 items) and looks the fingerprint up in the store's table.  The
script explores a scenario breadth-first without reduction up to
``--states`` states, keeping every transition's source and target, and
times these three operations over those transitions alone.  Their sum is
a floor per transition; with the transitions a state has (without
reduction, and with it, from a search of the same states), the floor
gives a ceiling of states per second that no cost of a step, a property
or the search loop is counted in.  Beside it, the states per second the
real search (``Search``, fingerprints) reaches on the same states.

    python bench/ceiling.py [SCENARIO ...] [--states N]

SCENARIO is a registered name or FILE.py:NAME; by default a shipped
writeback scenario and the seven-operation directory and three-writer
writeback scenarios of bench/scale/.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mc.check import usermodels  # noqa: E402
from mc.check.checker import build  # noqa: E402
from mc.check.registry import with_files  # noqa: E402
from mc.dsl.kernel_model import KernelModel  # noqa: E402
from mc.dsl.scenario import UnknownName  # noqa: E402
from mc.engine.explore import Options, Search  # noqa: E402
from mc.engine.result import Stats  # noqa: E402
from mc.engine.store import FingerprintStore, fingerprint  # noqa: E402
from mc.kernel.expr import State  # noqa: E402
from mc.kernel.world import ModelError  # noqa: E402

DEFAULTS = (
    "writeback/two-writers-flusher",
    "bench/scale/dirops.py:scale/dirops-7",
    "bench/scale/writeback.py:scale/writeback-3",
)
REPEATS = 3
"""Each operation is timed this many times over every transition; the
fastest pass counts."""


def model_of(name: str) -> KernelModel:
    """The model of scenario ``name`` (registered, or ``FILE.py:NAME``)."""
    file = name.split(".py:", 1)[0] + ".py" if ".py:" in name else None
    registry = with_files([ROOT / file] if file else [])
    return build(registry, registry.scenario(usermodels.resolve(name, registry)))


def transitions_of(model: KernelModel, limit: int) -> tuple[list[State], list[tuple[int, int]]]:
    """The first ``limit`` states breadth-first without reduction (and those
    their successors reach), and each transition from those ``limit`` as
    (source, target) numbers."""
    states: list[State] = list(model.init_states())
    number = {state: at for at, state in enumerate(states)}
    edges: list[tuple[int, int]] = []
    at = 0
    while at < len(states) and at < limit:
        for _action, after in model.successors(states[at]):
            target = number.get(after)
            if target is None:
                target = number[after] = len(states)
                states.append(after)
            edges.append((at, target))
        at += 1
    return states, edges


def fastest(work: Callable[[], None]) -> float:
    """The least of ``REPEATS`` timings of ``work``, in seconds."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def floor_per_transition(
    states: Sequence[State], edges: Sequence[tuple[int, int]]
) -> tuple[float, float, float]:
    """Seconds per transition to copy its source with one slot changed (the
    first slot its target differs in), to fingerprint its target and to
    look the target's fingerprint up among every state's."""
    changes = []
    for source, target in edges:
        before, after = states[source], states[target]
        slot = next((i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b), 0)
        changes.append((before, slot, after[slot]))
    targets = [states[target] for _source, target in edges]

    def copy() -> None:
        for before, slot, value in changes:
            values = list(before)
            values[slot] = value
            tuple(values)

    def hashing() -> None:
        for state in targets:
            fingerprint(state)

    store: FingerprintStore[State] = FingerprintStore(in_order=False)
    for sid, state in enumerate(states):
        store.add(state, sid)
    keys = [fingerprint(state) for state in targets]
    find = store.find_fingerprint

    def lookup() -> None:
        for key in keys:
            find(key)

    count = len(edges)
    return fastest(copy) / count, fastest(hashing) / count, fastest(lookup) / count


def searched(model: KernelModel, limit: int, reduce: bool) -> Stats:
    """A search of ``model`` with fingerprints, stopped at ``limit`` states."""
    options = Options(exact=False, reduce=reduce, max_states=limit)
    return Search(model, options).run().stats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", default=list(DEFAULTS))
    parser.add_argument("--states", type=int, default=50_000, help="states explored per scenario")
    args = parser.parse_args()
    print(
        f"{'scenario':<32} {'copy us':>7} {'fprint us':>9} {'probe us':>8} {'floor us':>8} "
        f"{'search':>10} {'trans/state':>11} {'ceiling/s':>10} {'measured/s':>10}"
    )
    for name in args.scenarios:
        try:
            model = model_of(name)
        except (UnknownName, ModelError) as error:
            parser.error(str(error))
        states, edges = transitions_of(model, args.states)
        copy, hashing, probe = floor_per_transition(states, edges)
        floor = copy + hashing + probe
        short = name.rsplit(":", 1)[-1]
        for reduce in (False, True):
            stats = searched(model_of(name), args.states, reduce)
            per_state = stats.transitions / stats.states
            label = "reduced" if reduce else "full"
            print(
                f"{short:<32} {copy * 1e6:>7.2f} {hashing * 1e6:>9.2f} {probe * 1e6:>8.2f} "
                f"{floor * 1e6:>8.2f} {label:>10} {per_state:>11.2f} "
                f"{1 / (floor * per_state):>10,.0f} {stats.states / stats.seconds:>10,.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
