"""How far partial-order reduction could go on a scenario if every step's
footprint were exact, against what the declared footprints give.

The reduction is only as strong as the footprints: ``Step.footprint``,
refined state by state by ``Step.resolver`` (a lock found through a
register, an effect whose ``touches`` declaration names its slots in terms
of its arguments).  An effect or a filesystem method call that declares
nothing counts as reading and writing every data slot, and a lock found
through a register whose value is not known yet as any lock of its
family.  This script explores the scenario once without reduction,
recording for each thread and program counter the slots its step actually
read and wrote over every state of the full graph
(``mc.dsl.audit.record_footprints``).  It then searches with the reduction
using those recorded footprints instead of the declared ones, with and
without the properties that read the namespace (whose reads make steps
visible, condition C2).

The recorded footprints are exact for this scenario only because the full
graph was explored first, but they are per step, merged over every state:
coarser than a declaration the state refines (a resolver), so a scenario
whose steps resolve their footprints can come out with more states here
than with its declarations (dirops/rename-rmdir-link: 271 against 229).
They are no sound reduction, and no bound of what declarations could
give; the script reports states, never verdicts.  As the declared footprints do, reads of lock slots
by steps other than lock steps are left out (they ask what the step's own
thread holds, which no other thread changes).

    python bench/por_ceiling.py [SCENARIO] [--recorded-steps {all,effects,locks}]

``--recorded-steps effects`` uses the recorded footprints of effects and
calls into filesystem methods only, ``locks`` those of lock and unlock
steps only (the other steps keep their declared footprints).

SCENARIO is a registered name or FILE.py:NAME (default: the six-operation
directory scenario of bench/scale/dirops.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mc.check import usermodels
from mc.check.checker import build
from mc.check.registry import with_files
from mc.dsl.audit import lock_slots, record_footprints
from mc.dsl.kernel_model import KernelModel, StepFootprint
from mc.dsl.scenario import UnknownName
from mc.dsl.steps import EffectStep, LockStep, Regions, Step, UnlockStep
from mc.engine.explore import Options, Search
from mc.engine.model import Footprint
from mc.kernel.world import ERROR_SLOT, ModelError

DEFAULT = "bench/scale/dirops.py:scale/dirops-6"


RECORDED_STEPS: dict[str, tuple[type[Step], ...]] = {
    "all": (Step,),
    "effects": (EffectStep,),
    "locks": (LockStep, UnlockStep),
}


def recorded_footprint(
    model: KernelModel,
    reads: dict[tuple[int, int], int],
    writes: dict[tuple[int, int], int],
    kinds: tuple[type[Step], ...] = (Step,),
) -> StepFootprint:
    """The footprints recorded for the steps of ``kinds``, the declared ones
    of the others, for ``KernelModel._footprints``."""
    locks = lock_slots(model)

    def footprint(tid: int, pc: int, step: Step, regions: Regions) -> Footprint:
        declared = step.footprint(regions)
        if not isinstance(step, kinds):
            return declared
        read = reads[tid, pc] & ~(1 << ERROR_SLOT) & ~(locks & ~declared.reads)
        return Footprint(read, writes[tid, pc] & ~(1 << ERROR_SLOT))

    return footprint


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", nargs="?", default=DEFAULT)
    parser.add_argument("--recorded-steps", choices=sorted(RECORDED_STEPS), default="all")
    args = parser.parse_args()
    file = args.scenario.split(".py:", 1)[0] + ".py" if ".py:" in args.scenario else None
    try:
        registry = with_files([Path(file)] if file else [])
        scenario = registry.scenario(usermodels.resolve(args.scenario, registry))
    except (UnknownName, ModelError) as error:
        parser.error(str(error))

    def model(without: str | None = None) -> KernelModel:
        built = build(registry, scenario)
        if without is not None:
            built._properties = [p for p in built._properties if p.name != without]
        return built

    started = time.perf_counter()
    reads, writes = record_footprints(model())
    print(f"recorded the footprints over the full graph in {time.perf_counter() - started:.1f} s")
    full = Search(model(), Options(reduce=False)).run().stats
    print(f"{'footprints':<10} {'properties':<22} {'states':>9} {'transitions':>12} {'x fewer':>8}")
    print(f"{'-':<10} {'no reduction':<22} {full.states:>9,} {full.transitions:>12,} {1:>8.1f}")
    names = [p.name for p in model().properties()]
    for without in (None, "namespace") if "namespace" in names else (None,):
        label = "all" if without is None else f"all but {without}"
        for kind in ("declared", "recorded"):
            checked = model(without)
            if kind == "recorded":
                kinds = RECORDED_STEPS[args.recorded_steps]
                recorded = recorded_footprint(checked, reads, writes, kinds)
                checked._pending = checked._footprints(recorded)
            stats = Search(checked, Options()).run().stats
            print(
                f"{kind:<10} {label:<22} {stats.states:>9,} {stats.transitions:>12,} "
                f"{full.states / stats.states:>8.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
