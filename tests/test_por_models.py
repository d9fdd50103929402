"""Partial-order reduction on the kernel models: a representative row of
every area, verdict and violated property gets the same verdict and
violated property with and without it, with every property's declared
reads audited on every state, and the reduced counterexample replays on
the model (every row's verdict with and without the reduction is checked
by test_expectations.py); the footprints the steps declare hold on the
states the models reach: a step changes only slots its footprint writes,
and steps whose footprints do not conflict commute.  A property that does
not declare what it reads turns the reduction off; one that reads more
than it declares is caught by the audit."""

from __future__ import annotations

import pytest
from conftest import first_reachable

from mc.check import expectations
from mc.check.checker import check_scenario
from mc.check.registry import shipped as fresh_registry
from mc.check.replay import replay
from mc.dsl.kernel_model import KernelModel, PropertyDef
from mc.dsl.scenario import Registry
from mc.dsl.steps import BranchStep, Context, Fire, Source
from mc.engine.explore import Options, Search, UndeclaredRead
from mc.engine.model import Check, PropertyKind
from mc.engine.reduction import Reduction
from mc.engine.result import Strategy, Verdict
from mc.kernel.expr import State, const
from mc.kernel.world import DONE, ERROR_SLOT, ModelError

STATES_CAP = 3000
SOURCE = Source("models/x.py", 1, "f")


def _representatives(rows: list[expectations.Expectation]) -> list[expectations.Expectation]:
    """One row per area, verdict and violated property: the largest under
    ``STATES_CAP`` stored states (else the smallest), so every kind of
    verdict of every area and every property's reads are exercised."""
    groups: dict[tuple[str, str, str | None], list[expectations.Expectation]] = {}
    for row in rows:
        key = (row.scenario.split("/")[0], row.verdict.name, row.violated)
        groups.setdefault(key, []).append(row)
    chosen = []
    for group in groups.values():
        small = [row for row in group if (row.states or 0) <= STATES_CAP]
        if small:
            chosen.append(max(small, key=lambda row: row.states or 0))
        else:
            chosen.append(min(group, key=lambda row: row.states or 0))
    return chosen


ROWS = _representatives(expectations.load())
AUDITED = Options(audit_reads=True)
"""The reduced search, checking on every state that each property reads
only what its ``reads=`` declares."""


@pytest.mark.parametrize("row", ROWS, ids=[row.label for row in ROWS])
def test_the_reduction_keeps_every_verdict(
    shipped: Registry, row: expectations.Expectation
) -> None:
    kept = Options(reduce=False, audit_reads=True)  # every register kept, as the audit keeps them
    full = check_scenario(shipped, row.scenario, row.variants, options=kept)
    reduced = check_scenario(shipped, row.scenario, row.variants, options=AUDITED)
    assert reduced.result.verdict is full.result.verdict is row.verdict
    if full.result.verdict is Verdict.OK:
        assert reduced.result.stats.states <= full.result.stats.states
        return
    assert reduced.result.violation is not None and full.result.violation is not None
    assert reduced.result.violation.property == full.result.violation.property
    found = reduced.counterexample
    if found is None:
        return
    scenario = shipped.scenario(row.scenario)
    unreduced = shipped.build(scenario, row.variants, found.properties)
    report = replay(unreduced, found)
    assert report.reproduced, report.reason


FOOTPRINT_SCENARIOS = [
    ("dirops/rename-rmdir-link", ()),
    ("dirops/exchange", ()),
    ("dirops/rmdir-vs-create", ("rmdir-no-victim-lock",)),
    ("namei/stat-unlink-create", ()),
    ("attr/chmod-link-unlink", ()),
    ("writeback/write-fsync-reclaim", ()),
    ("truncate/punch-vs-fault", ()),
    ("filelock/unlink-vs-delegation-revoked", ()),
    ("super/two-freezers", ()),
]


@pytest.mark.parametrize(("scenario", "variants"), FOOTPRINT_SCENARIOS)
def test_steps_stay_inside_their_footprints(
    shipped: Registry, scenario: str, variants: tuple[str, ...]
) -> None:
    model = shipped.build(shipped.scenario(scenario), variants)
    commuted = 0
    for state in first_reachable(model, 1500):
        pending = {p.actor: p for p in model.pending(state)}
        moves: dict[int, list[State]] = {}
        for (tid, _branch), after in model.successors(state):
            moves.setdefault(tid, []).append(after)
            pairs = enumerate(zip(state, after, strict=True))
            changed = sum(1 << i for i, (a, b) in pairs if a != b)
            thread = model.threads[tid]
            forgotten = sum(1 << slot for slot in model.dead_registers(tid, after[thread.slots.pc]))
            if after[thread.slots.pc] == DONE:  # the registers it forgets, which nothing reads
                forgotten = sum(1 << slot for slot in thread.registers)
            assert not changed & ~(pending[tid].next.writes | 1 << ERROR_SLOT | forgotten), (
                model.threads[tid].name,
                model.current_step(state, tid),
            )
        for p, p_after in moves.items():
            for q, q_after in moves.items():
                if p >= q or pending[p].next.conflicts(pending[q].next):
                    continue
                if any(model.halted(s) for s in (*p_after, *q_after)):
                    continue
                commuted += 1
                p_then_q = {t for s in p_after for t in _moves_of(model, s, q)}
                q_then_p = {t for s in q_after for t in _moves_of(model, s, p)}
                assert p_then_q == q_then_p
    assert commuted > 0


@pytest.mark.parametrize(("scenario", "variants"), FOOTPRINT_SCENARIOS)
def test_a_thread_said_to_be_surely_enabled_can_act(
    shipped: Registry, scenario: str, variants: tuple[str, ...]
) -> None:
    model = shipped.build(shipped.scenario(scenario), variants)
    told = 0
    for state in first_reachable(model, 1500):
        for pending in model.pending(state):
            if model.surely_enabled(state, pending.actor):
                told += 1
                assert model.successors_of(state, pending.actor), (
                    model.threads[pending.actor].name,
                    model.current_step(state, pending.actor),
                )
    assert told > 0


def test_a_step_class_that_compiles_its_own_fire_is_not_known_never_blocked() -> None:
    class Waiting(BranchStep):
        def compile(self, context: Context) -> Fire:
            return lambda state: ()

    branch = BranchStep(label="b", source=SOURCE, cond=const(True), target="end")
    waiting = Waiting(label="w", source=SOURCE, cond=const(True), target="end")
    assert branch.never_blocked
    assert not waiting.never_blocked


def _moves_of(model: KernelModel, state: State, tid: int) -> list[State]:
    return [after for (who, _branch), after in model.successors(state) if who == tid]


def _new_link(model: KernelModel) -> Check[State]:
    """A check that reads link counts: it fails once a new inode has one."""
    initial = model.initial
    slots = [inode.nlink for inode in model.world.inodes]

    def check(state: State) -> str | None:
        changed = [slot for slot in slots if state[slot] != initial[slot]]
        return "a link count changed" if changed else None

    return check


def _registry_with(prop: PropertyDef) -> Registry:
    registry = fresh_registry()
    registry.add_property(prop)
    return registry


def test_a_property_that_does_not_say_what_it_reads_turns_the_reduction_off() -> None:
    registry = _registry_with(PropertyDef("new-link", "", PropertyKind.ALWAYS, _new_link))
    scenario = registry.scenario("dirops/two-creates")
    model = registry.build(scenario, (), ("lock-protocol", "deadlock", "new-link"))
    assert not Reduction(model, model.properties()).active
    declared = registry.build(scenario, (), ("lock-protocol", "deadlock"))
    assert Reduction(declared, declared.properties()).active
    found = check_scenario(registry, "dirops/two-creates", properties=("new-link",))
    assert found.result.verdict is Verdict.VIOLATED
    assert "reduced_states" not in found.result.stats.extra


def test_a_property_that_reads_more_than_it_declares_is_caught() -> None:
    wrong = PropertyDef("new-link", "", PropertyKind.ALWAYS, _new_link, ("dentry",))
    registry = _registry_with(wrong)
    with pytest.raises(UndeclaredRead, match=r"new-link reads nlink\(/a/\w+\), which") as caught:
        check_scenario(registry, "dirops/two-creates", options=AUDITED, properties=("new-link",))
    assert caught.value.locations and all(n.startswith("nlink(") for n in caught.value.locations)
    right = PropertyDef("new-link", "", PropertyKind.ALWAYS, _new_link, ("nlink",))
    found = check_scenario(
        _registry_with(right), "dirops/two-creates", options=AUDITED, properties=("new-link",)
    )
    assert found.result.verdict is Verdict.VIOLATED


def _bits(model: KernelModel, name: str) -> int:
    """The mask of the world's slots called ``name``."""
    return sum(1 << i for i, slot in enumerate(model.world.slots) if slot.name == name)


def test_reads_name_single_slots_patterns_and_one_thread_returned(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("namei/stat-unlink-create"))
    assert bin(_bits(model, "nlink(/a/x)")).count("1") == 2
    assert model.locations(["nlink(/a/x)"]) == _bits(model, "nlink(/a/x)")
    assert model.locations(["nlink(/a/*)"]) == _bits(model, "nlink(/a/x)")
    every_link_count = [slot.name for slot in model.world.slots if slot.name.startswith("nlink(")]
    assert model.locations(["nlink"]) == sum(_bits(model, name) for name in set(every_link_count))
    assert model.locations(["dentry(/nowhere)"]) == 0
    every = model.locations(["returned"])
    second = model.locations(["returned(T2)"])
    assert bin(every).count("1") == len(model.threads) and bin(second).count("1") == 1
    assert second & every and model.locations(["returned(T*)"]) == every


def test_registers_name_a_running_thread_s_private_slots(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("dcache/dput-vs-rcu-walk"))
    first = model.threads[0]
    private = {first.slots.pc, first.slots.ret, *first.registers}
    assert model.locations(["registers(T1)"]) == sum(1 << slot for slot in private)
    assert model.locations(["registers(T*)"]) & model.locations(["registers(T2)"])
    assert model.misnamed("registers(T9)") == "but the threads are T1, T2"
    table = model._table()
    visible = model.locations(["registers(T1)"])
    assert all(pending.next.writes & visible for pending in table[0])
    found = model.register("T2", "found")
    assert model.world.slots[found].name == "T2.found"
    assert model.location_name(found) == "T2.found (reads= names it registers(T2))"
    assert model.misnamed("T2.found") == "which is T2's own: name registers(T2)"
    with pytest.raises(ModelError, match=r"T2 has no register 'lost' \(its registers: "):
        model.register("T2", "lost")


def _new_link_of_files(model: KernelModel) -> list[str]:
    return [f"nlink({inode.path})" for inode in model.world.inodes if not inode.is_dir]


def test_a_property_may_name_what_it_reads_from_the_model() -> None:
    def files_only(model: KernelModel) -> Check[State]:
        initial = model.initial
        slots = [inode.nlink for inode in model.world.inodes if not inode.is_dir]
        return lambda state: (
            "a file's link count changed"
            if any(state[slot] != initial[slot] for slot in slots)
            else None
        )

    right = PropertyDef("new-link", "", PropertyKind.ALWAYS, files_only, _new_link_of_files)
    found = check_scenario(
        _registry_with(right), "dirops/two-creates", options=AUDITED, properties=("new-link",)
    )
    assert found.result.verdict is Verdict.VIOLATED
    model = _registry_with(right).build(
        fresh_registry().scenario("dirops/two-creates"), (), ("new-link",)
    )
    (prop,) = model.properties()
    directories = sum(_bits(model, f"nlink({i.path})") for i in model.world.inodes if i.is_dir)
    assert prop.reads and not prop.reads & directories
    dentries_only = PropertyDef(
        "new-link", "", PropertyKind.ALWAYS, files_only, lambda model: ["dentry"]
    )
    with pytest.raises(UndeclaredRead, match="new-link"):
        check_scenario(
            _registry_with(dentries_only),
            "dirops/two-creates",
            options=AUDITED,
            properties=("new-link",),
        )


def test_namespace_reads_no_lock(shipped: Registry) -> None:
    """Its one window, a rename's between ->rename and d_move(), is a flag
    of the victim's (``renamed_over``), so taking an i_rwsem is invisible."""
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"), (), ("namespace",))
    (prop,) = model.properties()
    assert prop.reads is not None
    for inode in model.world.inodes:
        assert not prop.reads & _bits(model, f"i_rwsem({inode.path})"), inode.path
        if not inode.is_dir:
            assert prop.reads & _bits(model, f"renamed_over({inode.path})"), inode.path


CYCLE_SCENARIOS = [
    ("dax/store-fsync-vs-load", ("dax-no-entry-lock",), True),
    ("filelock/posix-abba", (), False),
    ("writeback/write-vs-fsync", (), False),
    ("truncate/punch-vs-fault", (), False),
    ("dirops/rename-rmdir-link", (), False),
]
"""Scenarios whose threads' programs loop, and one whose states do (a
load that retries while a store it does not wait for is under way)."""


def _acyclic(edges: list[list[int]]) -> bool:
    into = [0] * len(edges)
    for targets in edges:
        for target in targets:
            into[target] += 1
    ready = [at for at, count in enumerate(into) if count == 0]
    for at in ready:
        for target in edges[at]:
            into[target] -= 1
            if into[target] == 0:
                ready.append(target)
    return len(ready) == len(edges)


@pytest.mark.parametrize(("scenario", "variants", "cycles"), CYCLE_SCENARIOS)
def test_every_cycle_of_states_holds_a_step_that_may_close_one(
    shipped: Registry, scenario: str, variants: tuple[str, ...], cycles: bool
) -> None:
    """The cycle proviso's premise on the states a scenario reaches: with
    every step ``may_close_cycle`` marks taken out, no cycle is left."""
    model = shipped.build(shipped.scenario(scenario), variants)
    states = first_reachable(model, 3000)
    number = {state: at for at, state in enumerate(states)}
    every: list[list[int]] = [[] for _ in states]
    unmarked: list[list[int]] = [[] for _ in states]
    for at, state in enumerate(states):
        for (tid, _branch), after in model.successors(state):
            if after in number:
                every[at].append(number[after])
                if not model.may_close_cycle(state, tid, after):
                    unmarked[at].append(number[after])
    assert _acyclic(every) is not cycles
    assert _acyclic(unmarked)


@pytest.mark.parametrize(
    ("scenario", "variants"),
    [("dirops/rename-rmdir-link", ()), ("dirops/exchange", ()), ("attr/chmod-link-unlink", ())],
)
def test_the_reduced_graph_is_the_same_in_every_search_order(
    shipped: Registry, scenario: str, variants: tuple[str, ...]
) -> None:
    """The ample set of a state depends on the state alone (the cycle
    proviso asks nothing of what was stored), so breadth- and depth-first
    searches store the same states."""
    counts = set()
    for strategy in (Strategy.BFS, Strategy.DFS):
        found = check_scenario(shipped, scenario, variants, options=Options(strategy=strategy))
        assert found.result.verdict is Verdict.OK
        assert found.result.stats.extra.get("reduced_states")
        counts.add(found.result.stats.states)
    assert len(counts) == 1


def test_a_returned_thread_s_registers_are_forgotten_unless_a_property_reads_them(
    shipped: Registry,
) -> None:
    """The flusher's registers (the folios it looked up) are reset as it
    returns, so states that differ in them alone are one; the fsync's,
    which no-lost-write reads once it has returned (what it promised), are
    kept; and so are the flusher's when a property does not say what it
    reads."""
    model = shipped.build(shipped.scenario("writeback/mmap-store-flusher"))
    writer, fsync = model.threads[1], model.threads[2]
    assert "flusher" in str(writer.invocation) and "fsync" in str(fsync.invocation)
    search = Search(model, Options(exact=True))
    assert search.run().verdict is Verdict.OK
    blank = model.world.initial_state()
    ended = [s for s in search.states if s[writer.slots.pc] == DONE]
    assert ended and all(s[r] == blank[r] for s in ended for r in writer.registers)
    promised = [s for s in search.states if s[fsync.slots.pc] == DONE]
    assert any(s[r] != blank[r] for s in promised for r in fsync.registers)
    undeclared = PropertyDef("anything", "", PropertyKind.ALWAYS, lambda model: lambda s: None)
    registry = _registry_with(undeclared)
    kept = registry.build(registry.scenario("writeback/mmap-store-flusher"), (), ("anything",))
    search = Search(kept, Options(exact=True))
    assert search.run().verdict is Verdict.OK
    ended = [s for s in search.states if s[writer.slots.pc] == DONE]
    assert any(s[r] != blank[r] for s in ended for r in writer.registers)


def test_a_reduced_search_s_invariant_violation_gets_the_shortest_trace(shipped: Registry) -> None:
    """The reduced search reaches rmdir-no-victim-lock's namespace violation
    in more steps than the full one, running steps of threads the
    violation does not need; the search for a shorter trace finds the
    full search's, and says how long the reduced one was."""
    scenario, variants = "dirops/rename-rmdir-link", ("rmdir-no-victim-lock",)
    reduced = check_scenario(shipped, scenario, variants)
    full = check_scenario(shipped, scenario, variants, options=Options(reduce=False))
    shorter, shortest = reduced.result.violation, full.result.violation
    assert shorter is not None and shorter.path is not None
    assert shortest is not None and shortest.path is not None
    assert shorter.property == shortest.property == "namespace"
    assert reduced.shortened is not None and full.shortened is None
    steps = len(shorter.path.actions)
    assert steps == len(shortest.path.actions) < reduced.shortened.steps_before
    assert reduced.counterexample is not None
    assert replay(reduced.model, reduced.counterexample).reproduced
