"""The ``livelock`` property (``PropertyKind.CAN_END``, ``mc.engine.endings``):
a state from which no state without enabled actions is reachable, found by
every search and backend, reduced or not, and replayed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st
from test_por import Instr, Threads, going_round, programs

from mc.engine.endings import Edges, GraphMismatch, can_end_from
from mc.engine.explore import Options, Search
from mc.engine.model import Model, Property, can_end
from mc.engine.parallel import ParallelSearch
from mc.engine.result import Strategy, Verdict

Run = Callable[..., Result]

SPIN = """
from mc.engine.endings import Edges
from mc.dsl import EXCL, Op, const, operation, scenario, state_expr, touches
from mc.kernel.locks import Kind


def locks(op: Op):
    return op.world.shared_lock("A", Kind.SPINLOCK), op.world.shared_lock("B", Kind.SPINLOCK)


@operation(models="spins for B holding A", describe=lambda: "spin_a_then_b")
def spinner(op: Op) -> None:
    a, b = locks(op)
    op.lock(a, EXCL, "spin_lock(&A)")
    op.label("again")
    op.trylock(b, "again", "while (!spin_trylock(&B)) cpu_relax()")
    op.unlock(b, "spin_unlock(&B)")
    op.unlock(a, "spin_unlock(&A)")


@operation(models="drops A while B is busy", describe=lambda: "polite")
def polite(op: Op) -> None:
    a, b = locks(op)
    op.label("again")
    op.lock(a, EXCL, "spin_lock(&A)")
    op.trylock(b, "busy", "if (!spin_trylock(&B))")
    op.unlock(b, "spin_unlock(&B)")
    op.unlock(a, "spin_unlock(&A)")
    op.goto("done")
    op.label("busy")
    op.unlock(a, "spin_unlock(&A); cpu_relax()")
    op.goto("again")
    op.label("done")


@operation(models="takes B then A", describe=lambda: "b_then_a")
def other(op: Op) -> None:
    a, b = locks(op)
    op.lock(b, EXCL, "spin_lock(&B)")
    op.lock(a, EXCL, "spin_lock(&A)")
    op.unlock(a, "spin_unlock(&A)")
    op.unlock(b, "spin_unlock(&B)")


@operation(models="for (;;) r = 1;", describe=lambda: "local_loop")
def local_loop(op: Op) -> None:
    op.label("top")
    op.let("r", const(1), "r = 1")
    op.goto("top")


@operation(models="for (;;) { spin_lock(&A); spin_unlock(&A); }", describe=lambda: "lock_loop")
def lock_loop(op: Op) -> None:
    a, _b = locks(op)
    op.label("top")
    op.lock(a, EXCL, "spin_lock(&A)")
    op.unlock(a, "spin_unlock(&A)")
    op.goto("top")


@operation(models="for (;;) { wait_event(token == mine); token = theirs; }",
           describe=lambda mine, theirs: f"pingpong({mine})")
def pingpong(op: Op, mine: int, theirs: int) -> None:
    token = op.world.shared_slot("token", 0)
    op.effect("start", lambda scratch: None)
    op.label("loop")
    op.wait_until(
        state_expr(f"token == {mine}", lambda state: state[token] == mine, reads=(token,)),
        f"wait_event(token == {mine})", "token")
    op.effect(f"token = {theirs}", put_token, token, theirs)
    op.goto("loop")


@touches(lambda world, token, value: ((), (token,)))
def put_token(scratch, token: int, value: int) -> None:
    scratch[token] = value


PROPERTIES = ["lock-protocol", "deadlock", "completes", "livelock"]
scenario("spin/abba", "a spinner against B then A", tree=[], threads=[spinner(), other()],
         properties=PROPERTIES)
scenario("spin/polite", "a retrier that backs off against B then A", tree=[],
         threads=[polite(), other()], properties=PROPERTIES)
scenario("spin/local-loop", "a loop of a register's steps alone beside B then A", tree=[],
         threads=[local_loop(), other()], properties=PROPERTIES)
scenario("spin/pingpong", "two threads passing a token for ever", tree=[],
         threads=[pingpong(0, 1), pingpong(1, 0)], properties=PROPERTIES)
scenario("spin/lock-loop", "a loop taking and dropping A", tree=[], threads=[lock_loop()],
         properties=PROPERTIES)
scenario("spin/abba-no-livelock", "the spinner, without the livelock check", tree=[],
         threads=[spinner(), other()], properties=["lock-protocol", "deadlock", "completes"])
"""

MODES = ([], ["--dfs"], ["--exact"], ["--no-por"], ["--workers", "2"])


@pytest.fixture
def spin_file(tmp_path: Path) -> Path:
    path = tmp_path / "spin.py"
    path.write_text(SPIN)
    return path


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: " ".join(mode) or "default")
def test_a_trylock_retried_holding_the_lock_the_holder_waits_for_is_a_livelock(
    vfsmc: Run, spin_file: Path, mode: list[str]
) -> None:
    """The spinner always has a step, so no state is a dead end and
    ``deadlock`` sees nothing; ``livelock`` reports the state where T2
    waits for A and T1 can only go round its trylock of B, which T2
    holds: both halves of the ABBA are its cycle."""
    found = vfsmc("check", f"{spin_file}:spin/abba", "--no-save", *mode)
    assert found.exit_code == 1, found.output
    assert "livelock in spin/abba" in found.output
    assert (
        "T1 at 'while (!spin_trylock(&B)) cpu_relax()' can only go round, never returning; "
        "T1 spins on B held by T2; T2 waits for A held by T1"
    ) in found.output
    assert "cycle: T1 -> B -> T2 -> A -> T1" in found.output
    unseen = vfsmc("check", f"{spin_file}:spin/abba-no-livelock", "--no-save", *mode)
    assert unseen.exit_code == 0, unseen.output
    backs_off = vfsmc("check", f"{spin_file}:spin/polite", "--no-save", *mode)
    assert backs_off.exit_code == 0, backs_off.output


def test_a_loop_of_local_steps_alone_is_a_livelock_not_a_hang(vfsmc: Run, spin_file: Path) -> None:
    """Local steps run along with the step before them, at most as many
    as the thread has steps: a loop of them alone comes round as a cycle
    of stored states, never as one step that does not end."""
    found = vfsmc("check", f"{spin_file}:spin/local-loop", "--no-save")
    assert found.exit_code == 1, found.output
    assert "T1 at 'r = 1' can only go round, never returning" in found.output


def test_a_livelock_s_counterexample_replays_and_is_drawn(vfsmc: Run, spin_file: Path) -> None:
    found = vfsmc("check", f"{spin_file}:spin/abba", "--json")
    assert found.exit_code == 1
    report = json.loads(found.output)
    assert report["property"] == "livelock"
    assert Path(report["graph"]).read_text().startswith("<?xml")
    saved = Path(report["counterexample"])
    replayed = vfsmc("replay", str(saved))
    assert replayed.exit_code == 1, replayed.output
    assert "reproduces" in replayed.output and "livelock" in replayed.output
    data = json.loads(saved.read_text())
    assert data["cycle"] == [
        {"waiter": "T1", "resource": "B", "holder": "T2", "spinning": True},
        {"waiter": "T2", "resource": "A", "holder": "T1"},
    ]
    drawn = saved.with_suffix(".dot").read_text()
    assert "livelock: T1 at" in drawn and "deadlock," not in drawn
    assert 'headlabel="T1 spins"' in drawn and 'headlabel="T2 waits"' in drawn
    assert "the trace ends going round: its last move leads back" in replayed.output
    data["steps"] = data["steps"][:1]
    saved.write_text(json.dumps(data))
    shorter = vfsmc("replay", str(saved))
    assert "the last state does not violate livelock" in shorter.output


def test_a_livelock_s_trace_marks_where_its_loop_begins(vfsmc: Run, spin_file: Path) -> None:
    """The counterexample says after which step the trace goes round
    (``loop``), and its text marks the place: the spinner's loop is its
    last step, back to the state after the one before; a thread taking
    and dropping a lock forever goes round from the initial state."""
    spins = vfsmc("check", f"{spin_file}:spin/abba", "--json")
    saved = json.loads(Path(json.loads(spins.stdout)["counterexample"]).read_text())
    steps = len(saved["steps"])
    assert saved["loop"] == steps - 1
    shown = vfsmc("replay", json.loads(spins.stdout)["counterexample"]).output
    assert f"-- the loop: step {steps} leads back to the state after step {steps - 1} --" in shown
    loops = vfsmc("check", f"{spin_file}:spin/lock-loop", "--json")
    assert loops.exit_code == 1, loops.output
    path = Path(json.loads(loops.stdout)["counterexample"])
    assert json.loads(path.read_text())["loop"] == 0
    lines = vfsmc("replay", str(path)).output.splitlines()
    steps = len(json.loads(path.read_text())["steps"])
    marker = lines.index(f"     -- the loop: steps 1 to {steps} lead back to the initial state --")
    assert lines[marker + 1].startswith("  1  T1  spin_lock(&A)")
    data = json.loads(path.read_text())
    data["loop"] = steps - 1
    path.write_text(json.dumps(data))
    elsewhere = vfsmc("replay", str(path))
    assert elsewhere.exit_code == 2, elsewhere.output
    assert (
        f"its steps go round back to the initial state, but it records loop {steps - 1}"
        in elsewhere.output
    )
    data["loop"] = -1
    path.write_text(json.dumps(data))
    refused = vfsmc("replay", str(path))
    assert refused.exit_code == 2
    assert "field 'loop' must be a count of steps, 0 or more" in refused.output


def test_a_livelock_s_blocked_line_claims_no_end_while_a_thread_moves(
    vfsmc: Run, spin_file: Path
) -> None:
    """At the end of a livelock the other thread still moves and will end
    the wait: the blocked line names what it waits for and does not say
    nobody could end it."""
    found = vfsmc("check", f"{spin_file}:spin/pingpong", "--no-save")
    assert found.exit_code == 1, found.output
    assert "livelock in spin/pingpong" in found.output
    assert "blocked: waits for token\n" in found.output
    assert "nobody could end" not in found.output


def spin_model(back_off: bool) -> Threads:
    """The two threads of ``SPIN`` in the random models' instructions:
    T0 takes lock 0 and waits for lock 1 (a jump back while v0 is 0,
    which only T1 could set, after taking both locks); ``back_off``
    releases lock 0 on each round."""
    hold = [Instr("lock", 0), Instr("jump", 0, 0, 1), Instr("unlock", 0)]
    polite = [Instr("lock", 0), Instr("unlock", 0), Instr("jump", 0, 0, 0)]
    other = [Instr("lock", 1), Instr("lock", 0), Instr("write", 0, 1), Instr("unlock", 0)]
    threads = [polite if back_off else hold, other]
    return Threads(threads, [can_end("livelock", going_round)])


@pytest.mark.parametrize("strategy", [Strategy.BFS, Strategy.DFS])
@pytest.mark.parametrize("exact", [True, False])
def test_the_engine_finds_a_state_that_cannot_end(strategy: Strategy, exact: bool) -> None:
    stuck = Search(spin_model(False), Options(strategy=strategy, exact=exact)).run()
    assert stuck.verdict is Verdict.VIOLATED
    assert stuck.violation is not None and stuck.violation.path is not None
    last = stuck.violation.path.states[-1]
    assert not can_end_from(spin_model(False), last)
    assert can_end_from(spin_model(False), stuck.violation.path.states[0])
    fine = Search(spin_model(True), Options(strategy=strategy, exact=exact)).run()
    assert fine.verdict is Verdict.OK


def test_the_edges_kept_in_order_and_by_pairs_give_the_same_answer() -> None:
    graph = {0: [1, 2], 1: [1], 2: [3], 3: [], 4: [4, 1]}
    in_order, pairs = Edges(in_order=True), Edges()
    for source, targets in graph.items():
        if not targets:
            in_order.dead_end(source)
            pairs.dead_end(source)
            continue
        in_order.leaving(source, targets)
        for target in targets:
            pairs.edge(source, target)
    assert in_order.cannot_end(range(5)) == pairs.cannot_end(range(5)) == [1, 4]
    only_a_source = Edges()
    only_a_source.edge(2, 0)
    only_a_source.edge(0, 1)
    only_a_source.dead_end(1)
    assert only_a_source.cannot_end(range(3)) == []


def test_edges_in_order_keep_far_targets_and_states_with_many_edges() -> None:
    """A target further than two bytes reach from its source, and a state
    with more edges than a byte counts, are kept as they are."""
    far = 100_000
    graph: dict[int, list[int]] = {0: [far, 1], 1: list(range(2, 302)), far: [far]}
    graph.update((state, [0]) for state in range(2, 301))
    in_order, pairs = Edges(in_order=True), Edges()
    for source in sorted(graph):
        in_order.leaving(source, graph[source])
        for target in graph[source]:
            pairs.edge(source, target)
    in_order.dead_end(301)
    pairs.dead_end(301)
    everyone = [*range(302), far]
    assert in_order.cannot_end(everyone) == pairs.cannot_end(everyone) == [far]


@settings(max_examples=25, deadline=None)
@given(programs(), st.booleans())
def test_two_workers_agree_with_one_on_random_models(
    threads: list[list[Instr]], exact: bool
) -> None:
    """The verdict and the length of the trace to the first state that
    cannot end, with the edges to other workers' states numbered by
    their owners at the end.  Both searches stop at a state of least depth
    that cannot end, but not always the same one, so the moves that go
    round from there may differ in number."""
    model = Threads(threads, [can_end("livelock", going_round)])
    one = Search(model, Options(exact=exact)).run()
    two = ParallelSearch(model, Options(exact=exact), 2).run()
    assert two.verdict is one.verdict, threads
    assert two.stats.states == one.stats.states
    if one.violation is not None:
        assert one.violation.path is not None and two.violation is not None
        assert two.violation.path is not None

        def first_stuck(states: tuple[Any, ...]) -> int:
            return next(at for at, state in enumerate(states) if not can_end_from(model, state))

        assert first_stuck(two.violation.path.states) == first_stuck(one.violation.path.states)
        assert not can_end_from(model, two.violation.path.states[-1])


def test_a_fingerprint_clash_that_hides_an_end_is_an_error_not_a_crash() -> None:
    """Python hashes -1 as -2, so two states that swap them inside two
    slots' tuples share a fingerprint; the stored graph then has a state no end
    is reachable from that the model ends from. The search says so and
    names --exact instead of failing while it draws the loop."""
    from mc.engine.endings import GraphMismatch
    from mc.engine.explore import Options, Search
    from mc.engine.model import Model, can_end
    from mc.engine.store import fingerprint

    first, swapped = (1, (-1,), (-2,)), (1, (-2,), (-1,))
    edges = {(0, (0,), (0,)): [first], first: [swapped], swapped: [(2, (0,), (0,))]}

    class Swapped(Model[tuple[Any, ...], int]):
        def init_states(self) -> list[tuple[Any, ...]]:
            return [(0, (0,), (0,))]

        def successors(self, state: tuple[Any, ...]) -> list[tuple[int, tuple[Any, ...]]]:
            return list(enumerate(edges.get(state, [])))

        def properties(self) -> list[Any]:
            return [can_end("livelock", lambda _state: None)]

    assert fingerprint(first) == fingerprint(swapped)
    assert Search(Swapped(), Options(exact=True, reduce=False)).run().verdict.name == "OK"
    with pytest.raises(GraphMismatch, match="shared a fingerprint"):
        Search(Swapped(), Options(exact=False, reduce=False)).run()


@attrs.frozen(hash=False)
class _Named:
    """A state whose hash clashes for ``v`` and ``w``, as two 64-bit
    fingerprints may."""

    name: str

    def __hash__(self) -> int:
        return 12345 if self.name in ("v", "w") else hash(self.name)


_CLASHING = {"S0": ["w"], "w": ["u"], "u": ["w", "v"], "v": ["x", "END"], "x": ["w"], "END": []}


class _Clashing(Model[_Named, str]):
    def init_states(self) -> tuple[_Named, ...]:
        return (_Named("S0"),)

    def successors(self, state: _Named) -> list[tuple[str, _Named]]:
        return [(f"{state.name}->{to}", _Named(to)) for to in _CLASHING[state.name]]

    def properties(self) -> list[Property[_Named]]:
        return [can_end("livelock", lambda state: None)]


def test_a_livelock_a_fingerprint_clash_makes_up_is_an_error_not_a_verdict() -> None:
    """v and w share a fingerprint, so the stored graph loses v's way to
    the end: the search that keeps fingerprints finds a loop going round
    while an end lies on another way from it, and says the graph and the
    model disagree instead of reporting a livelock."""
    exact = Search(_Clashing(), Options(strategy=Strategy.BFS, exact=True)).run()
    assert exact.verdict is Verdict.OK
    with pytest.raises(GraphMismatch, match="two states shared a fingerprint"):
        Search(_Clashing(), Options(strategy=Strategy.BFS, exact=False)).run()


@pytest.mark.parametrize("mode", [[], ["--workers", "2"]], ids=["one process", "two workers"])
def test_the_livelock_pass_keeps_to_the_memory_limit(
    vfsmc: Run, spin_file: Path, mode: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass over the stored graph that finds a livelock allocates
    beyond the search (``Edges.pass_bytes``): with no room for it under
    --max-memory the run is incomplete, saying so, not a verdict."""
    monkeypatch.setattr(Edges, "pass_bytes", lambda _edges, _states: 2**40)
    found = vfsmc("check", f"{spin_file}:spin/abba", "--no-save", "--max-memory", "8G", *mode)
    assert found.exit_code == 3, found.output
    assert "memory limit 8,192 MiB reached: livelock's pass over the stored graph needs" in (
        found.output
    )


SELF_SPIN = """
from mc.dsl import EXCL, Op, operation, scenario

@operation(models="a trylock retried on a lock the thread holds")
def spin_on_own(op: Op) -> None:
    lock = op.inode("/a").i_rwsem
    op.lock(lock, EXCL, "down_write(&sem)")
    op.label("again")
    op.trylock(lock, "again", "while (!down_write_trylock(&sem)) cpu_relax()")
    op.unlock(lock, "up_write(&sem)")
    op.unlock(lock, "up_write(&sem) /* second */")

scenario("spin/own", "x", tree=["/a/"], threads=[spin_on_own()],
         properties=["deadlock", "livelock", "lock-protocol"])
"""


def test_a_trylock_retried_on_a_lock_its_thread_holds_spins_on_itself(
    vfsmc: Run, tmp_path: Path
) -> None:
    """The kernel's trylock of a lock its caller holds fails, so a retry
    loop on it never ends: the livelock names the thread as the holder it
    spins on, the AA recursion."""
    (tmp_path / "own.py").write_text(SELF_SPIN)
    found = vfsmc("check", f"{tmp_path / 'own.py'}:spin/own", "--no-save")
    assert found.exit_code == 1, found.output
    assert "T1 spins on i_rwsem(/a) held by T1" in found.output
