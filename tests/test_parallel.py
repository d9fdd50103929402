"""The breadth-first search over several workers: the verdict, the number of
states of an exhaustive search and the length of the shortest trace are
those of the sequential search, and its traces replay.  The Ray backend's
tests start a local Ray instance (marked ``ray``: ``pytest -m ray``)."""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from test_por import VARIABLES, Instr, Threads

from mc.check.checker import Spread, check_scenario
from mc.check.registry import build_model
from mc.check.replay import replay
from mc.cli import options
from mc.dsl.scenario import Registry
from mc.engine import ample, collector, parallel, ray_pool
from mc.engine.explore import MemoryLimitTooLow, Options, Search, resident_bytes
from mc.engine.model import always
from mc.engine.parallel import ForkPool, ParallelSearch, owner_of, proportional_bytes
from mc.engine.ray_pool import RayUnavailable
from mc.engine.result import Verdict
from mc.engine.store import fingerprint
from mc.kernel.pathcond import forget_answers
from mc.trace.format import Counterexample

Run = Callable[..., Result]
UNREDUCED = Options(reduce=False)
ROWS = [
    ("dirops/rename-rmdir-link", ()),
    ("dirops/rename-rmdir-link", ("child-first",)),
    ("dirops/opposite-renames", ("no-rename-mutex",)),
    ("writeback/write-fsync-reclaim", ("writepage-drops-page",)),
    ("namei/stat-unlink-create", ()),
]


def _switches(counterexample: Counterexample) -> int:
    """How often a counterexample's steps change thread."""
    threads = [step.thread for step in counterexample.steps]
    return sum(before != after for before, after in itertools.pairwise(threads))


def _agree(
    shipped: Registry,
    scenario: str,
    variants: tuple[str, ...],
    spread: Spread,
    options: Options = UNREDUCED,
) -> None:
    alone = check_scenario(shipped, scenario, variants, options=options)
    spread_out = check_scenario(shipped, scenario, variants, options=options, spread=spread)
    assert spread_out.result.verdict is alone.result.verdict
    assert spread_out.result.stats.extra["workers"] == spread.workers
    reduced = {"reduced_states", "reduction_stopped_after"}
    assert {k: v for k, v in spread_out.result.stats.extra.items() if k in reduced} == {
        k: v for k, v in alone.result.stats.extra.items() if k in reduced
    } or alone.result.verdict is not Verdict.OK
    if alone.result.verdict is Verdict.OK:
        assert spread_out.result.stats.states == alone.result.stats.states
        assert spread_out.result.stats.transitions == alone.result.stats.transitions
        assert spread_out.result.stats.max_depth == alone.result.stats.max_depth
        return
    first, second = alone.result.violation, spread_out.result.violation
    assert first is not None and second is not None
    assert second.property == first.property
    assert first.path is not None and second.path is not None
    assert len(second.path) == len(first.path)
    assert alone.counterexample is not None and spread_out.counterexample is not None
    assert _switches(spread_out.counterexample) == _switches(alone.counterexample), (
        "the workers keep the parent with the fewest context switches, as one process does"
    )
    assert spread_out.counterexample is not None
    model = shipped.build(shipped.scenario(scenario), variants)
    assert replay(model, spread_out.counterexample).reproduced


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("reduce", [False, True])
@pytest.mark.parametrize(("scenario", "variants"), ROWS)
def test_two_workers_agree_with_one(
    shipped: Registry, scenario: str, variants: tuple[str, ...], reduce: bool, exact: bool
) -> None:
    """With partial-order reduction too: the ample set of a state depends
    on the state alone, so the workers explore the reduced graph the
    sequential search explores.  Over fingerprints, successors for
    another worker are announced by fingerprint, and only those their
    owner lacks are sent."""
    _agree(shipped, scenario, variants, Spread(2), Options(reduce=reduce, exact=exact))


def test_workers_stop_reducing_where_one_process_does(
    shipped: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search that finds no ample set in its first states stops looking
    between the same two levels, one process or two (the workers are
    forked with the trial's length)."""
    monkeypatch.setattr(ample, "REDUCTION_TRIAL", 30)
    scenario, variants = "writeback/completion-irq", ()
    alone = check_scenario(shipped, scenario, variants).result
    assert alone.stats.extra["reduction_stopped_after"] >= 30
    _agree(shipped, scenario, variants, Spread(2), Options())


def test_workers_own_states_by_their_program_counters(shipped: Registry) -> None:
    """A kernel model's states go to the worker their program counters
    name (``Model.affinity``), so one worker works out the ample-set
    candidates of each combination; the states of a search still spread
    over both workers."""
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"))
    search = Search(model, Options(reduce=False, exact=True))
    search.run()
    states = search.store.kept()
    owner = owner_of(model, fingerprint, 2)
    place = model.affinity()
    owners: dict[Hashable, set[int]] = {}
    for state in states:
        owners.setdefault(place(state), set()).add(owner(state, fingerprint(state)))
    assert len(owners) > 50
    assert all(len(found) == 1 for found in owners.values())
    first = sum(owner(state, fingerprint(state)) == 0 for state in states)
    assert 0.3 < first / len(states) < 0.7


def test_the_model_s_own_figures_over_workers(shipped: Registry) -> None:
    """Symbolic states add up over the workers' shares; the solver calls
    are every worker's; the address orders explored, which two workers may
    both meet, are left out."""
    exact = Options(exact=True)
    forget_answers()
    alone = check_scenario(shipped, "truncate/punch-vs-fault", options=exact).result.stats.extra
    forget_answers()
    spread = check_scenario(
        shipped, "truncate/punch-vs-fault", options=exact, spread=Spread(2)
    ).result.stats.extra
    assert spread["symbolic_states"] == alone["symbolic_states"] > 0
    assert spread["solver_calls"] >= alone["solver_calls"] > 0
    ordered = check_scenario(shipped, "dirops/rename-rmdir-link", options=exact).result.stats
    assert ordered.extra["address_orders"] >= 1
    over = check_scenario(shipped, "dirops/rename-rmdir-link", options=exact, spread=Spread(2))
    assert "address_orders" not in over.result.stats.extra


class _CountingPool(ForkPool):
    """Workers whose announced and given successors, and lent states, are
    counted."""

    announced = given = lent = 0

    def ask(self, requests: Sequence[tuple[Any, ...]], patience: float | None = None) -> list[Any]:
        replies = super().ask(requests, patience)
        for request, reply in zip(requests, replies, strict=True):
            if request[0] == "round" and reply[1] is not None:
                self.announced += sum(len(pickle.loads(blob)) for blob in reply[1][0] if blob)
            if request[0] == "give":
                self.given += sum(len(pickle.loads(blob)) for blob in reply[0] if blob)
                self.lent += sum(len(pickle.loads(blob)) for blob in reply[1] if blob)
        return replies


def test_workers_send_in_full_only_the_successors_their_owner_lacks(shipped: Registry) -> None:
    """Many successors one worker finds for another, the other finds
    itself in the same level (on bench/scale's dirops-7, all but 2,431 of
    402,138): they are announced by fingerprint, and the owner asks for
    the rest, each of which it stores."""
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"), (), None)
    options = Options(reduce=False, exact=False)
    pool = _CountingPool(model, 2, False)
    result = ParallelSearch(model, options, 2).run(pool)
    alone = Search(model, options).run()
    assert result.stats.states == alone.stats.states
    assert 0 < pool.given < pool.announced / 2
    assert pool.given < result.stats.states


@pytest.mark.parametrize(
    ("scenario", "variants", "violated"),
    [
        ("writeback/write-fsync-reclaim", (), None),
        ("dcache/dput-vs-find-alias", ("lock-for-kill-spins",), "livelock"),
    ],
)
def test_workers_that_hash_unalike_keep_edges_to_each_other_by_stable_fingerprint(
    shipped: Registry, scenario: str, variants: tuple[str, ...], violated: str | None
) -> None:
    """Workers that do not hash alike (Ray actors) keep the edge to a
    successor another worker owns, for ``livelock``, by the successor's
    ``stable_fingerprint``, which its owner numbers its states by too, not
    by the successor in full: on bench/scale's dirops-8 each worker held
    3 GB after a minute that way, against 0.2 GB.  The verdict and the
    counts are those one process finds."""
    model = shipped.build(shipped.scenario(scenario), variants, None)
    options = Options(reduce=False, exact=False)
    alone = Search(model, options).run()
    pool = ForkPool(model, 2, False, partition=parallel.stable_fingerprint)
    spread = ParallelSearch(model, options, 2).run(pool)
    assert spread.verdict is alone.verdict
    assert (spread.violation and spread.violation.property) == violated
    assert (alone.violation and alone.violation.property) == violated
    assert spread.stats.states == alone.stats.states
    worker = parallel._Worker(model, 0, 2, False, parallel.stable_fingerprint)
    assert worker.stable_numbers is not None
    assert all(isinstance(targets, array) for _sources, targets in worker.unresolved)


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize(("scenario", "variants"), [ROWS[0], ROWS[3]])
def test_states_lent_to_even_out_the_work_give_the_same_search(
    shipped: Registry,
    monkeypatch: pytest.MonkeyPatch,
    scenario: str,
    variants: tuple[str, ...],
    exact: bool,
) -> None:
    """A worker lends states of its share of a level to another to expand
    (here as soon as the shares differ by a state): the lender stores
    them, the borrower checks and expands them; the verdict, counts and
    counterexample are those one process finds, and a run lends alike
    every time."""
    monkeypatch.setattr(parallel, "BALANCE_AT_LEAST", 1)
    model = shipped.build(shipped.scenario(scenario), variants, None)
    options = Options(reduce=False, exact=exact)
    alone = Search(model, options).run()
    runs = []
    for _ in range(2):
        pool = _CountingPool(model, 2, exact)
        runs.append((ParallelSearch(model, options, 2).run(pool), pool.lent))
    (spread, lent), (again, lent_again) = runs
    assert lent > 0 and lent_again == lent
    assert spread.verdict is again.verdict is alone.verdict
    assert spread.stats.states == again.stats.states
    if alone.verdict is Verdict.OK:
        assert spread.stats.states == alone.stats.states
        assert spread.stats.transitions == alone.stats.transitions
    else:
        assert spread.violation is not None and alone.violation is not None
        assert spread.violation.property == alone.violation.property
        assert spread.violation.path is not None and alone.violation.path is not None
        assert len(spread.violation.path) == len(alone.violation.path)
        assert again.violation is not None and again.violation.path is not None
        assert again.violation.path.states == spread.violation.path.states


def test_balance_lends_the_surplus_of_work() -> None:
    """A lent state moves its expansion; storing it stays with its owner
    (``OWNING`` of a transition's work).  A share counts every state of
    it, but only those its owner holds can be lent."""
    assert parallel.OWNING == 0.1
    assert parallel.balance([1000, 1000], [1000, 1000], [3.0, 3.0]) == [[0, 0], [0, 0]]
    # 3000 * 3.1 against 1000 * 3.1: 3100 of work, 1033 expansions of 3, lent
    assert parallel.balance([3000, 1000], [3000, 1000], [3.0, 3.0]) == [[0, 1033], [0, 0]]
    # the same shares, but the owner holds 500 of its 3000 (the rest it asked for)
    assert parallel.balance([3000, 1000], [500, 1000], [3.0, 3.0]) == [[0, 500], [0, 0]]
    # 1000 * 7.1 against 1000 * 1.1: 3000 of work, 428 expansions of 7
    assert parallel.balance([1000, 1000], [1000, 1000], [7.0, 1.0]) == [[0, 428], [0, 0]]
    three = parallel.balance([4000, 1000, 1000], [4000, 1000, 1000], [2.0] * 3)
    assert three == [[0, 1050, 1050], [0] * 3, [0] * 3]
    assert parallel.balance([100, 90], [100, 90], [1.0, 1.0]) == [[0, 0], [0, 0]]  # under 64


def test_a_process_measures_its_share_of_memory_once_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between two measures of its proportional set size, a process adds
    what its resident bytes grew by; a forked process measures its own."""
    monkeypatch.setattr(parallel, "_measured", (os.getpid(), time.monotonic(), 1000, 4000))
    monkeypatch.setattr(parallel, "resident_bytes", lambda: 5000)
    assert proportional_bytes() == 2000
    for pid, when in (
        (os.getpid() + 1, time.monotonic()),
        (os.getpid(), time.monotonic() - 2 * parallel.PSS_REFRESH_SECONDS),
    ):
        monkeypatch.setattr(parallel, "_measured", (pid, when, 1000, 4000))
        share = proportional_bytes()
        assert parallel._measured is not None
        assert parallel._measured[:2] != (pid, when) and parallel._measured[2] == share


class _InProcess:
    """Workers in this process, asked in turn (to look at them after; one
    worker's collection of garbage collects the others' too)."""

    hashes_alike = True

    def __init__(self, model: Any, workers: int) -> None:
        self.workers = [parallel._Worker(model, index, workers, False) for index in range(workers)]

    def partition(self, state: Hashable) -> int:
        return fingerprint(state)

    def ask(self, requests: Sequence[tuple[Any, ...]], patience: float | None = None) -> list[Any]:
        return [
            worker.handle(request) for worker, request in zip(self.workers, requests, strict=True)
        ]

    def settle(self) -> None:
        pass

    def close(self) -> None:
        pass


def _garbage(state: Any) -> None:
    """A check that leaves a cycle of garbage behind."""
    cycle: list[Any] = []
    cycle.append(cycle)


@pytest.mark.parametrize("leaves_garbage", [False, True])
def test_workers_collect_garbage_less_often_while_there_is_none(leaves_garbage: bool) -> None:
    """Every level until a collection finds nothing, then after twice as
    many levels each time (up to ``collector.AT_MOST_EVERY``)."""
    programs = [[Instr("inc", v % VARIABLES)] * 6 for v in range(4)]
    properties = [always("litter", _garbage, reads=0)] if leaves_garbage else []
    model = Threads(programs, properties)
    pool = _InProcess(model, 1)
    try:
        result = ParallelSearch(model, UNREDUCED, 1).run(pool)
    finally:
        gc.unfreeze()
        gc.enable()
    assert result.verdict is Verdict.OK and result.stats.max_depth == 24
    every = pool.workers[0].collector.every
    assert every == (1 if leaves_garbage else collector.AT_MOST_EVERY)


def test_three_workers_over_full_states(shipped: Registry) -> None:
    options = Options(reduce=False, exact=True)
    alone = check_scenario(shipped, "dirops/two-creates", options=options)
    spread = check_scenario(shipped, "dirops/two-creates", options=options, spread=Spread(3))
    assert spread.result.stats.states == alone.result.stats.states
    assert spread.result.stats.omission_probability is None


def test_bounds_stop_at_a_whole_level(shipped: Registry) -> None:
    """A depth bound gives the sequential search's states and transitions;
    a state bound stops after the level that reaches it, counting every
    state of that level and only the transitions that led to it (the
    expansion of the last level, done in the same round trip, is
    dropped)."""
    scenario = "dirops/rename-rmdir-link"

    def run(spread: Spread | None, **bound: int) -> tuple[Verdict, int, int, str | None, int]:
        options = Options(reduce=False, **bound)  # type: ignore[arg-type]
        result = check_scenario(shipped, scenario, options=options, spread=spread).result
        stats = result.stats
        return (
            result.verdict,
            stats.states,
            stats.transitions,
            result.incomplete_reason,
            stats.max_depth,
        )

    assert run(Spread(2), max_depth=6) == run(None, max_depth=6)
    verdict, states, transitions, reason, depth = run(Spread(2), max_states=500)
    assert verdict is Verdict.INCOMPLETE and reason == "max states 500 reached"
    assert states >= 500
    assert run(Spread(2), max_depth=depth)[1:3] == (states, transitions)
    assert run(Spread(2), max_depth=depth - 1)[1] < 500


@pytest.mark.parametrize("reduce", [False, True])
@pytest.mark.parametrize("scenario", ["dirops/opposite-renames", "truncate/unaligned-clean"])
def test_bounds_the_search_meets_exactly_give_the_verdict_of_one_process(
    shipped: Registry, scenario: str, reduce: bool
) -> None:
    """A depth bound at the deepest level and a state bound at the state
    count leave the search complete, over workers as in one process (a
    goal reached only at the dead ends of the last level is reached); one
    less of either leaves both incomplete."""
    whole = check_scenario(shipped, scenario, options=Options(reduce=reduce)).result
    assert whole.verdict is Verdict.OK
    depth, states = whole.stats.max_depth, whole.stats.states
    for bound, exact in (
        ({"max_depth": depth}, True),
        ({"max_states": states}, True),
        ({"max_depth": depth - 1}, False),
        ({"max_states": states - 1}, False),
    ):
        options = Options(reduce=reduce, **bound)  # type: ignore[arg-type]
        alone = check_scenario(shipped, scenario, options=options).result
        spread = check_scenario(shipped, scenario, options=options, spread=Spread(2)).result
        assert alone.verdict is (Verdict.OK if exact else Verdict.INCOMPLETE), bound
        assert (spread.verdict, spread.violation) == (alone.verdict, alone.violation), bound


@pytest.mark.parametrize(("reduce", "bound"), [(False, 32), (True, 26)])
def test_a_full_search_finds_the_deadlock_among_the_states_it_holds(
    shipped: Registry, reduce: bool, bound: int
) -> None:
    """Stopped by a state bound before the deadlock's state is expanded,
    one process goes on expanding the states it holds, and workers look
    for dead ends in the level that went past the bound: both find it."""
    whole = check_scenario(
        shipped, "dirops/opposite-renames", ("no-rename-mutex",), options=Options(reduce=reduce)
    ).result
    assert whole.violation is not None and bound < whole.stats.states
    for spread in (None, Spread(2)):
        options = Options(reduce=reduce, max_states=bound)
        result = check_scenario(
            shipped, "dirops/opposite-renames", ("no-rename-mutex",), options=options, spread=spread
        ).result
        assert result.violation is not None and result.violation.property == "deadlock", spread


def test_a_memory_stop_gives_the_figures_of_a_search_cut_at_its_depth(
    shipped: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process says it holds one byte more at every level; the limit
    is reached as the third level is admitted, and the expansion done in
    the same round trip is dropped with its transitions."""
    calls = [0]

    def growing() -> int:
        calls[0] += 1
        return calls[0]

    monkeypatch.setattr(parallel, "proportional_bytes", growing)
    scenario = "dirops/rename-rmdir-link"
    stopped = check_scenario(
        shipped, scenario, options=Options(reduce=False, max_memory=9), spread=Spread(2)
    ).result
    assert stopped.incomplete_reason == "memory limit 9 bytes reached"
    cut = check_scenario(shipped, scenario, options=Options(reduce=False, max_depth=2)).result
    assert stopped.stats.max_depth == cut.stats.max_depth == 2
    assert (stopped.stats.states, stopped.stats.transitions) == (
        cut.stats.states,
        cut.stats.transitions,
    )


def test_a_memory_limit_the_workers_exceed_as_they_start_is_bad_input(
    shipped: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in one process: a limit under what the search holds before it
    expands anything can never be met (``MemoryLimitTooLow``, exit 2 on
    the command line), not a search stopped incomplete."""
    monkeypatch.setattr(parallel, "proportional_bytes", lambda: 2**20)
    options = Options(max_memory=2**21)
    with pytest.raises(MemoryLimitTooLow, match="memory limit 2 MiB is under the 3 MiB"):
        check_scenario(shipped, "dirops/opposite-renames", options=options, spread=Spread(2))


def test_workers_from_the_command_line(vfsmc: Run) -> None:
    for reduce in ("--por", "--no-por"):
        args = ("check", "dirops/rename-rmdir-link", reduce, "--json", "--no-save")
        done, alone = vfsmc(*args, "--workers", "2"), vfsmc(*args)
        assert done.exit_code == alone.exit_code == 0
        spread, one = json.loads(done.output), json.loads(alone.output)
        assert spread["states"] == one["states"]
        assert spread["fingerprint_bits"] == one["fingerprint_bits"] == 64


class _KillingPool(ForkPool):
    """Workers of which the second is killed before the third level."""

    rounds = 0

    def ask(self, requests: Sequence[tuple[Any, ...]], patience: float | None = None) -> list[Any]:
        if requests[0][0] == "round":
            self.rounds += 1
            if self.rounds == 3:
                self.processes[1].kill()
                self.processes[1].join()
        return super().ask(requests, patience)


def test_a_worker_that_dies_ends_the_search_incomplete_with_its_figures(
    shipped: Registry,
) -> None:
    """Its states are lost, so the search cannot go on; it ends as Ctrl-C
    ends it, with the figures of the levels done, and names the worker."""
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"), (), None)
    options = Options(reduce=False, exact=False)
    result = ParallelSearch(model, options, 2).run(_KillingPool(model, 2, False))
    assert result.verdict is Verdict.INCOMPLETE
    assert result.incomplete_reason == (
        "worker 2 of 2 was killed (SIGKILL: out of memory?); its states are lost"
    )
    assert result.stats.states > 1 and result.stats.max_depth >= 1
    assert result.stats.store_bytes_per_state is None  # the dead worker's store is not known


class _StoppingPool(ForkPool):
    """Workers of which the second is stopped (SIGSTOP) before the third
    level: it neither answers nor ends."""

    rounds = 0

    def ask(self, requests: Sequence[tuple[Any, ...]], patience: float | None = None) -> list[Any]:
        if requests[0][0] == "round":
            self.rounds += 1
            if self.rounds == 3:
                os.kill(self.processes[1].pid, signal.SIGSTOP)
        return super().ask(requests, patience)


def test_a_worker_silent_past_the_time_limit_is_killed_and_named(
    shipped: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "ANSWER_GRACE_SECONDS", 0.2)
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"), (), None)
    pool = _StoppingPool(model, 2, False)
    options = Options(reduce=False, exact=False, time_limit=1.5)
    result = ParallelSearch(model, options, 2).run(pool)
    assert result.verdict is Verdict.INCOMPLETE
    assert result.incomplete_reason == (
        "worker 2 of 2 did not answer within 0.2 s of the time limit and was killed; "
        "its states are lost"
    )
    assert result.stats.max_depth >= 1
    assert not pool.processes[1].is_alive()


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """A worker's round stops the cyclic garbage collector of its process;
    this one is pytest's."""
    yield
    gc.unfreeze()
    gc.enable()


@pytest.mark.usefixtures("collector_restored")
def test_a_worker_drops_its_expansion_once_the_time_limit_has_passed(shipped: Registry) -> None:
    """Over workers, the time limit holds within a level: a worker whose
    share of the time is spent expands nothing, and the coordinator ends
    the search at the depth reached."""
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"), (), None)
    initial = [
        (state, -1, position, None, 0, None) for position, state in enumerate(model.init_states())
    ]
    batch: list[bytes | None] = [pickle.dumps(initial)]
    late, timely = parallel._Worker(model, 0, 1, False), parallel._Worker(model, 0, 1, False)
    admitted, expansion = late.round(batch, [], False, None, False, 0.0)
    assert admitted[0] == len(initial) and expansion is None
    admitted, expansion = timely.round(batch, [], False, None, False, 60.0)
    assert admitted[0] == len(initial) and expansion is not None and expansion[1] > 0


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _ended(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_workers_end_with_a_killed_coordinator() -> None:
    """Killed by SIGKILL (as the out-of-memory killer does), the command
    leaves no worker behind holding its share of the states."""
    vfsmc = Path(sys.executable).parent / "vfsmc"
    scenario = "bench/scale/dirops.py:scale/dirops-7"
    args = [str(vfsmc), "check", scenario, "--no-por", "--workers", "2", "--no-save"]
    root = Path(__file__).resolve().parent.parent
    command = subprocess.Popen(args, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(workers := _children(command.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        command.kill()
        command.wait()
        deadline = time.monotonic() + 10
        while not all(map(_ended, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(map(_ended, workers))
    finally:
        command.kill()


def test_progress_over_workers(shipped: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress line is reported as levels end, as often as one
    process reports it."""
    monkeypatch.setattr(parallel, "PROGRESS_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(parallel, "PROGRESS_INTERVAL_SECONDS", 0.0)
    seen: list[tuple[int, int, int, float]] = []
    options = Options(reduce=False, progress=lambda *figures: seen.append(figures))
    result = check_scenario(shipped, "dirops/rename-rmdir-link", options=options, spread=Spread(2))
    assert len(seen) == result.result.stats.max_depth + 1
    assert [depth for _states, _transitions, depth, _seconds in seen] == list(range(len(seen)))
    assert all(a[0] < b[0] for a, b in itertools.pairwise(seen))
    assert seen[-1][0] <= result.result.stats.states


def test_a_process_s_share_of_memory_is_at_most_what_it_holds() -> None:
    assert 0 < proportional_bytes() <= resident_bytes()


def test_bad_combinations_are_one_line_errors(vfsmc: Run) -> None:
    for args in (("--workers", "2", "--dfs"), ("--address", "auto")):
        done = vfsmc("check", "dirops/rename-rmdir-link", *args)
        assert done.exit_code == 2
        assert done.output.count("\n") == 1 and done.output.startswith("vfsmc: error:")


def test_more_workers_than_the_machine_can_run_is_a_one_line_error(vfsmc: Run) -> None:
    """check, and the commands that run checks side by side (mutate,
    regress), take at most 4 workers a core."""
    most = 4 * (os.cpu_count() or 1)
    done = vfsmc("check", "dirops/rename-rmdir-link", "--workers", str(most + 1), "--no-save")
    assert done.exit_code == 2
    assert done.output.startswith(
        f"vfsmc: error: --workers {most + 1}: at most {most} on this machine (4 a core; more "
        "only share the cores), or --backend ray --address on a cluster"
    )
    assert done.output.count("\n") == 1
    for command in (("mutate", "dirops/rename-rmdir-link"), ("regress",)):
        side_by_side = vfsmc(*command, "--workers", str(most + 1))
        assert side_by_side.exit_code == 2, side_by_side.output
        assert f"{most + 1}: at most {most} on this machine" in side_by_side.output
        assert side_by_side.output.count("\n") == 1


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("bogus", "give auto or HOST:PORT"),
        ("127.0.0.1:99999", "give auto or HOST:PORT"),
        ("name.invalid:6379", "cannot reach a Ray cluster at name.invalid:6379: "),
    ],
)
def test_a_ray_address_nobody_answers_at_fails_at_once(address: str, why: str) -> None:
    """Before Ray is asked to join (which it keeps trying for minutes)."""
    with pytest.raises(RayUnavailable, match=re.escape(why)):
        ray_pool._reachable(address)


def test_a_closed_port_is_no_ray_cluster() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    with pytest.raises(RayUnavailable, match=f"at 127.0.0.1:{port}: Connection refused"):
        ray_pool._reachable(f"127.0.0.1:{port}")


@pytest.mark.parametrize("reply", [b"HTTP/1.0 400 Bad request\r\n\r\n", b""])
def test_a_server_that_is_not_ray_is_no_ray_cluster(
    reply: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that answers the HTTP/2 preface otherwise than gRPC does
    (an HTTP/1 server), or not at all, is not waited for as Ray would."""
    monkeypatch.setattr(ray_pool, "CONNECT_SECONDS", 0.5)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def serve() -> None:
            connection, _peer = listener.accept()
            with connection:
                connection.recv(64)
                if reply:
                    connection.sendall(reply)
                time.sleep(1)

        server = threading.Thread(target=serve)
        server.start()
        try:
            with pytest.raises(RayUnavailable, match="it answers, but not as a Ray cluster does"):
                ray_pool._reachable(f"127.0.0.1:{port}")
        finally:
            server.join(timeout=10)


def test_the_memory_bound_holds_over_workers(vfsmc: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers say what they hold at every level; the bound counts
    theirs and the coordinator's, and a limit under what they hold with
    the first level is refused as one process refuses it (exit 2; a
    limit reached later: ``test_a_memory_stop_gives_the_figures...``)."""
    monkeypatch.setattr(options, "resident_bytes", lambda: 0)
    args = ("check", "dirops/rename-rmdir-link", "--json", "--no-save", "--max-memory", "1M")
    done = vfsmc(*args, "--workers", "2")
    assert done.exit_code == 2, done.output
    assert "memory limit 1 MiB is under the " in done.output
    assert "no search fits in it" in done.output


RAISING = """\
from mc.dsl import invariant, scenario
from mc.models.dirops import link, rename


@invariant("raises", "divides by zero", reads=["dentry"])
def raises(model):
    return lambda state: 1 // 0


scenario("mine/raises", "a property that raises", tree=["/a/", "/c/", "/c/e"],
         threads=[link("/c/e", "/a/f"), rename("/c/e", "/a/x")], properties=["raises"])
"""


def test_an_error_of_a_model_in_a_worker_is_the_one_line_of_one_process(
    vfsmc: Run, tmp_path: Path
) -> None:
    (tmp_path / "raising.py").write_text(RAISING)
    alone = vfsmc("check", "raising.py:mine/raises", "--no-save")
    spread = vfsmc("check", "raising.py:mine/raises", "--no-save", "--workers", "2")
    assert alone.exit_code == spread.exit_code == 2
    assert spread.output == alone.output
    assert alone.output.startswith("vfsmc: error: raising.py:")
    assert alone.output.endswith("ZeroDivisionError: integer division or modulo by zero\n")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray instance with two CPUs (each actor asks for one), shut
    down after the module's tests."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


@pytest.mark.ray
def test_ray_workers_find_the_shortest_violation(shipped: Registry, local_ray: None) -> None:
    on_ray = Spread(2, ray=True, build=functools.partial(build_model, ()))
    _agree(shipped, "dirops/opposite-renames", ("no-rename-mutex",), on_ray)


@pytest.mark.ray
def test_a_ray_cluster_s_address_answers_as_one(local_ray: None) -> None:
    """The check of an address before joining passes a real cluster's GCS."""
    import ray

    ray_pool._reachable(ray.get_runtime_context().gcs_address)


@pytest.mark.ray
def test_ray_from_the_command_line(vfsmc: Run, local_ray: None) -> None:
    """The exhaustive case, through the command (its actors load the model
    files and build the model themselves)."""
    args = ("check", "dirops/rename-rmdir-link", "--json", "--no-save")
    done = vfsmc(*args, "--backend", "ray", "--workers", "2")
    alone = vfsmc(*args)
    assert done.exit_code == alone.exit_code == 0
    on_ray, sequential = json.loads(done.output), json.loads(alone.output)
    assert on_ray["workers"] == 2
    assert on_ray["worker_cpu_ms"] > 0
    assert on_ray["reduced_states"] == sequential["reduced_states"] > 0
    assert (on_ray["states"], on_ray["transitions"]) == (
        sequential["states"],
        sequential["transitions"],
    )


@pytest.mark.ray
def test_a_model_file_an_actor_cannot_load_is_its_error_not_an_incomplete_search(
    vfsmc: Run, local_ray: None, tmp_path: Path
) -> None:
    """A node with another checkout or another Python may fail to load the
    user's model file: the error it raised is the check's, in one line
    naming the file's line (it was an INCOMPLETE search, the error lost)."""
    (tmp_path / "elsewhere.py").write_text(
        "import os\n"
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import link, rename\n"
        f"if os.getpid() != {os.getpid()}:\n"
        "    raise RuntimeError('no such module on this node')\n"
        "scenario('r/x', 'x', tree=['/a/', '/c/', '/c/e'],\n"
        "         threads=[link('/c/e', '/a/f'), rename('/c/e', '/a/x')])\n"
    )
    args = (f"{tmp_path / 'elsewhere.py'}:r/x", "--backend", "ray", "--workers", "2", "--no-save")
    result = vfsmc("check", *args)
    assert result.exit_code == 2, result.output
    assert "elsewhere.py:5: RuntimeError: no such module on this node" in result.output
    assert "INCOMPLETE" not in result.output


@pytest.mark.ray
def test_more_ray_workers_than_the_cluster_has_cpus_is_an_error(
    shipped: Registry, local_ray: None
) -> None:
    """Each actor asks for a CPU: more would wait for ever."""
    on_ray = Spread(3, ray=True, build=functools.partial(build_model, ()))
    with pytest.raises(RayUnavailable, match="3 workers need as many CPUs, and the local Ray "):
        check_scenario(shipped, "dirops/opposite-renames", spread=on_ray)


@pytest.mark.ray
def test_a_ray_instance_the_check_starts_itself_prints_no_notice() -> None:
    """Without ``--address`` the check starts a local Ray instance of its
    own: Ray's notice about its token authentication is nothing a user can
    act on, and stays off the terminal."""
    pytest.importorskip("ray")
    vfsmc = Path(sys.executable).parent / "vfsmc"
    args = ["check", "dirops/opposite-renames", "--backend", "ray", "--workers", "2", "--no-save"]
    done = subprocess.run([str(vfsmc), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "dirops/opposite-renames: OK" in done.stdout
    assert "Token authentication" not in done.stderr


@pytest.mark.ray
def test_sigterm_ends_a_search_on_ray_as_it_ends_one_process() -> None:
    """Ray replaces the command's signal handlers as it starts; the
    command puts its own back, so SIGTERM exits 143 (not 15, nor Ray's
    abort)."""
    pytest.importorskip("ray")
    vfsmc = Path(sys.executable).parent / "vfsmc"
    scenario = "bench/scale/dirops.py:scale/dirops-7"
    args = [str(vfsmc), "check", scenario, "--no-por", "--backend", "ray", "--workers", "2"]
    root = Path(__file__).resolve().parent.parent
    command = subprocess.Popen(
        [*args, "--no-save", "--progress"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stderr is not None
    seen = ""
    while " transitions, depth " not in seen:  # the progress line: the search runs
        chunk = os.read(command.stderr.fileno(), 4096).decode(errors="replace")
        assert chunk, f"the command ended before its search ran: {seen}"
        seen += chunk
    command.send_signal(signal.SIGTERM)
    try:
        command.communicate(timeout=60)
    finally:
        command.kill()
    assert command.returncode == 143


def test_equal_states_get_one_stable_fingerprint_however_their_parts_are_shared() -> None:
    """Pickle's memo writes an object met twice as a reference: the stable
    fingerprint pickles without it, so a state holding one string twice
    and an equal state holding two equal strings are one state on Ray."""
    from mc.engine.parallel import stable_fingerprint

    one, other = "lock-" + str(7), "lock-" + str(7)
    assert one is not other
    assert stable_fingerprint((one, one)) == stable_fingerprint((one, other))
    pair = (1, 2)
    assert stable_fingerprint((pair, pair)) == stable_fingerprint((pair, (1, 2 + int("0"))))
    assert stable_fingerprint((one, 1)) != stable_fingerprint((one, 2))
