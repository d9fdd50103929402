"""Partial-order reduction on small programs with exact footprints: the
reduced search agrees with the full one on every property, reaches every
deadlock, and its traces replay on the unreduced model.  Programs are
threads of lock, unlock and shared-variable steps (with loops, so the cycle
proviso is exercised), drawn at random by Hypothesis."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from mc.engine.endings import can_end_from
from mc.engine.explore import Options, Search, replay_moves
from mc.engine.model import (
    Footprint,
    Model,
    Pending,
    Property,
    PropertyKind,
    always,
    can_end,
    deadlock_free,
    sometimes,
)
from mc.engine.result import Path, Strategy, Verdict

LOCKS = 2
VARIABLES = 3
VALUES = 3
DONE = -1

# A state: (pcs, lock holders, variables, error flag)
State = tuple[tuple[int, ...], tuple[int | None, ...], tuple[int, ...], bool]
Action = tuple[int, int]


@attrs.frozen
class Instr:
    """``lock l``, ``unlock l``, ``write v k``, ``inc v`` (mod VALUES),
    ``wait v k`` (blocks until v == k), ``jump v k t`` (to t when v == k),
    ``skip`` (touches nothing shared)."""

    op: str
    a: int = 0
    b: int = 0
    target: int = 0

    def footprint(self) -> Footprint:
        lock, var = 1 << self.a, 1 << (LOCKS + self.a)
        return {
            "lock": Footprint(lock, lock),
            "unlock": Footprint(lock, lock),
            "write": Footprint(0, var),
            "inc": Footprint(var, var),
            "wait": Footprint(var, 0),
            "jump": Footprint(var, 0),
            "skip": Footprint(),
        }[self.op]


class Threads(Model[State, Action]):
    """Threads running ``programs`` over shared locks and variables; an
    unlock of a lock not held is an error state (like a kernel model's)."""

    def __init__(
        self, programs: Sequence[Sequence[Instr]], props: Sequence[Property[State]]
    ) -> None:
        self.programs = [tuple(p) for p in programs]
        self.props = props
        self.table = [
            [self._pending(tid, pc) for pc in range(len(program))]
            for tid, program in enumerate(self.programs)
        ]

    def init_states(self) -> Sequence[State]:
        pcs = tuple(0 if program else DONE for program in self.programs)
        return ((pcs, (None,) * LOCKS, (0,) * VARIABLES, False),)

    def successors(self, state: State) -> list[tuple[Action, State]]:
        pcs, error = state[0], state[3]
        if error:
            return []
        found: list[tuple[Action, State]] = []
        for tid, pc in enumerate(pcs):
            if pc == DONE:
                continue
            after = self._fire(tid, state)
            if after is not None:
                found.append(((tid, 0), after))
        return found

    def actions(self, state: State) -> list[Action]:
        return [action for action, _ in self.successors(state)]

    def next_state(self, state: State, action: Action) -> State:
        return dict(self.successors(state))[action]

    def actor(self, action: Action) -> int:
        return action[0]

    def properties(self) -> Sequence[Property[State]]:
        return self.props

    def halted(self, state: State) -> bool:
        return state[3]

    def may_close_cycle(self, state: State, actor: Hashable, after: State) -> bool:
        """A step that does not move its thread to a later instruction
        (a jump back): every cycle of states holds one."""
        assert isinstance(actor, int)
        moved = after[0][actor]
        return moved != DONE and moved <= state[0][actor]

    def _fire(self, tid: int, state: State) -> State | None:
        pcs, locks, variables, _ = state
        program = self.programs[tid]
        instr = program[pcs[tid]]
        locks_list, variables_list = list(locks), list(variables)
        nxt = pcs[tid] + 1
        if instr.op == "lock":
            if locks[instr.a] is not None:
                return None
            locks_list[instr.a] = tid
        elif instr.op == "unlock":
            if locks[instr.a] != tid:
                return (_move(pcs, tid, DONE), locks, variables, True)
            locks_list[instr.a] = None
        elif instr.op == "write":
            variables_list[instr.a] = instr.b
        elif instr.op == "inc":
            variables_list[instr.a] = (variables[instr.a] + 1) % VALUES
        elif instr.op == "wait":
            if variables[instr.a] != instr.b:
                return None
        elif instr.op == "jump" and variables[instr.a] == instr.b:
            nxt = instr.target
        pc = nxt if nxt < len(program) else DONE
        return (_move(pcs, tid, pc), tuple(locks_list), tuple(variables_list), False)

    def _pending(self, tid: int, start: int) -> Pending:
        program = self.programs[tid]
        rest = Footprint()
        seen, todo = {start}, [start]
        while todo:
            pc = todo.pop()
            instr = program[pc]
            rest = rest | instr.footprint()
            for after in (pc + 1, instr.target if instr.op == "jump" else None):
                if after is not None and after < len(program) and after not in seen:
                    seen.add(after)
                    todo.append(after)
        return Pending(tid, program[start].footprint(), rest)

    def pending(self, state: State) -> list[Pending]:
        pcs = state[0]
        return [self.table[tid][pc] for tid, pc in enumerate(pcs) if pc != DONE]


def _move(pcs: tuple[int, ...], tid: int, pc: int) -> tuple[int, ...]:
    return (*pcs[:tid], pc, *pcs[tid + 1 :])


def error_free(state: State) -> str | None:
    return "unlock of a lock not held" if state[3] else None


def stuck(state: State) -> str | None:
    return None if state[3] or all(pc == DONE for pc in state[0]) else "threads are stuck"


def going_round(state: State) -> str:
    return f"the threads at {state[0]} can only go round"


def finished(state: State) -> str | None:
    return "every thread returned" if not state[3] and all(pc == DONE for pc in state[0]) else None


def differs(var: int, value: int) -> Property[State]:
    return always(
        f"v{var} != {value}",
        lambda state: f"v{var} == {value}" if state[2][var] == value else None,
        reads=1 << (LOCKS + var),
    )


def agree(programs: Sequence[Sequence[Instr]], props: Sequence[Property[State]]) -> None:
    """Each property alone: the same verdict with and without reduction,
    and the reduced trace replays on the full model to a violating state."""
    for prop in props:
        model = Threads(programs, [prop])
        for strategy in (Strategy.BFS, Strategy.DFS):
            full = Search(model, Options(strategy=strategy, reduce=False)).run()
            reduced_search = Search(model, Options(strategy=strategy))
            reduced = reduced_search.run()
            assert reduced.verdict is full.verdict, (prop.name, strategy, programs)
            if full.verdict is Verdict.OK:
                assert reduced.stats.states <= full.stats.states
            if reduced.violation is None or reduced.violation.path is None:
                continue
            assert full.violation is not None
            assert reduced.violation.property == full.violation.property
            replays_to_violation(model, prop, reduced.violation.path)


def replays_to_violation(
    model: Threads, prop: Property[State], path: Path[State, tuple[int, int]]
) -> None:
    """``path`` replays on ``model`` state for state and ends where ``prop``
    fails (a dead end, for a deadlock)."""
    replayed = replay_moves(model, path.init, path.moves)
    assert replayed.states == path.states
    last = replayed.states[-1]
    if prop.kind is PropertyKind.DEADLOCK_FREE:
        assert model.successors(last) == []
    if prop.kind is PropertyKind.CAN_END:
        assert not can_end_from(model, last)
    assert prop.check(last) is not None


def instructions(length: int) -> st.SearchStrategy[Instr]:
    lock = st.integers(0, LOCKS - 1)
    var = st.integers(0, VARIABLES - 1)
    value = st.integers(0, VALUES - 1)
    return st.one_of(
        st.builds(Instr, st.just("lock"), lock),
        st.builds(Instr, st.just("unlock"), lock),
        st.builds(Instr, st.just("write"), var, value),
        st.builds(Instr, st.just("inc"), var),
        st.builds(Instr, st.just("wait"), var, value),
        st.builds(Instr, st.just("jump"), var, value, st.integers(0, max(0, length - 1))),
        st.just(Instr("skip")),
    )


@st.composite
def programs(draw: st.DrawFn) -> list[list[Instr]]:
    threads = draw(st.integers(2, 3))
    made = []
    for _ in range(threads):
        length = draw(st.integers(1, 5))
        made.append(draw(st.lists(instructions(length), min_size=length, max_size=length)))
    return made


def random_properties(invariants: list[tuple[int, int]]) -> list[Property[State]]:
    """The properties the random-model tests check: the lock protocol, deadlock,
    completion, that every state can end (jumps make loops), and
    ``var != value`` for each of ``invariants``."""
    return [
        always("no-bad-unlock", error_free, reads=0),
        deadlock_free("deadlock", stuck),
        sometimes("completes", finished, terminal=True),
        can_end("livelock", going_round),
        *(differs(var, value) for var, value in invariants),
    ]


@settings(max_examples=150, deadline=None)
@given(programs(), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=2))
def test_the_reduced_search_agrees_with_the_full_one(
    threads: list[list[Instr]], invariants: list[tuple[int, int]]
) -> None:
    agree(threads, random_properties(invariants))


def weighed(first: int, second: int, value: int) -> Property[State]:
    """``v_first + 2 v_second != value`` (mod 5): an invariant over two
    variables, whose violation may depend on the order two threads write
    them in."""

    def check(state: State) -> str | None:
        variables = state[2]
        total = (variables[first] + 2 * variables[second]) % 5
        return f"v{first} + 2 v{second} == {value}" if total == value else None

    return always(
        f"v{first} + 2 v{second} != {value}",
        check,
        reads=1 << (LOCKS + first) | 1 << (LOCKS + second),
    )


def two_variable_invariants() -> st.SearchStrategy[list[Property[State]]]:
    """Up to two ``weighed`` invariants, each over two distinct variables."""
    one = st.builds(
        lambda a, b, k: weighed(a, (a + b) % VARIABLES, k),
        st.integers(0, 2),
        st.integers(1, 2),
        st.integers(0, 4),
    )
    return st.lists(one, max_size=2)


@settings(max_examples=200, deadline=None)
@given(programs(), two_variable_invariants())
def test_the_reduced_search_agrees_on_invariants_over_two_variables(
    threads: list[list[Instr]], invariants: list[Property[State]]
) -> None:
    agree(threads, invariants)


def test_a_set_with_one_invisible_step_is_explored_alone_beside_a_visible_one() -> None:
    """T2's next step reads what T1 writes later, so T1 and T2 form the
    least closed set holding T2; T1's next step is visible, T2's is not,
    and T3 outside it acts visibly later.  The set is explored alone (C2
    needs one invisible action), and T3's write of v2 before T1's write of
    v0 is still found, after T2's step."""
    first = [Instr("write", 0, 1), Instr("write", 1, 1)]
    second = [Instr("wait", 1, 0)]
    third = [Instr("write", 2, 1)]
    model = Threads([first, second, third], [weighed(0, 2, 2)])
    found = Search(model, Options()).run()
    assert found.verdict is Verdict.VIOLATED
    assert found.violation is not None and found.violation.path is not None
    assert [model.actor(action) for action in found.violation.path.actions] == [1, 2]
    assert found.violation.path.states[-1][2] == (0, 0, 1)
    holds = Threads([first, second, third], [weighed(0, 2, 4)])
    full = Search(holds, Options(reduce=False)).run()
    reduced = Search(holds, Options()).run()
    assert full.verdict is reduced.verdict is Verdict.OK
    assert reduced.stats.states < full.stats.states


def test_a_property_reading_an_error_and_data_sees_the_data_the_error_met() -> None:
    """T2's unlock of a lock it does not hold is an error; the invariant
    fails when that error meets v0 at 0.  T1's write of v0 is visible and
    T2 has no visible step, so a set holding every thread that may act
    visibly (T1 alone) would write v0 first and miss it; the reduction
    needs an invisible step in the set, and finds it."""
    programs = [[Instr("write", 0, 1)], [Instr("unlock", 0)]]

    def met_at_zero(state: State) -> str | None:
        return "the error met v0 == 0" if state[3] and state[2][0] == 0 else None

    prop = always("error-before-write", met_at_zero, reads=1 << LOCKS)
    for strategy in (Strategy.BFS, Strategy.DFS):
        found = Search(Threads(programs, [prop]), Options(strategy=strategy)).run()
        assert found.verdict is Verdict.VIOLATED


def test_a_terminal_invariant_is_not_evaluated_where_a_thread_erred() -> None:
    """The reduction reaches T2's error after T1's write only, so a
    terminal invariant over v0 is not asked where a thread erred: with and
    without reduction it holds, and it is asked at the ordinary ends."""
    programs = [[Instr("write", 0, 1)], [Instr("unlock", 0)]]
    at_end = Property(
        "v0 written at the end",
        PropertyKind.ALWAYS,
        lambda state: "v0 == 1" if state[2][0] == 1 else None,
        reads=0,
        terminal=True,
    )
    for reduce in (True, False):
        held = Search(Threads(programs, [at_end]), Options(reduce=reduce)).run()
        assert held.verdict is Verdict.OK
    ended = Search(Threads([[Instr("write", 0, 1)]], [at_end]), Options()).run()
    assert ended.verdict is Verdict.VIOLATED


def test_a_deadlock_check_reading_data_is_not_asked_where_a_thread_erred() -> None:
    """T2's unlock always errs, so every end of the run is an error; the
    reduction reaches it after T1's write only.  A deadlock check that
    reads v0 (``reads`` None) is not asked there, with or without
    reduction; one that reads no location is, and reports the error."""
    programs = [[Instr("write", 0, 1)], [Instr("unlock", 0)]]
    before_the_write = deadlock_free(
        "stuck before the write", lambda state: "v0 == 0" if state[2][0] == 0 else None, reads=None
    )
    for reduce in (True, False):
        held = Search(Threads(programs, [before_the_write]), Options(reduce=reduce)).run()
        assert held.verdict is Verdict.OK
    erred = deadlock_free("erred", lambda state: "a thread erred" if state[3] else None, reads=0)
    for reduce in (True, False):
        found = Search(Threads(programs, [erred]), Options(reduce=reduce)).run()
        assert found.verdict is Verdict.VIOLATED


def test_independent_threads_are_explored_in_one_order() -> None:
    programs = [[Instr("write", v, 1), Instr("inc", v)] for v in range(3)]
    full = Search(Threads(programs, []), Options(reduce=False)).run()
    reduced = Search(Threads(programs, []), Options()).run()
    assert full.stats.states == 27
    assert reduced.stats.states == 7
    assert full.verdict is reduced.verdict is Verdict.OK


def test_a_thread_spinning_invisibly_cannot_hide_another_threads_violation() -> None:
    spinner = [Instr("skip"), Instr("jump", 2, 0, 0)]
    writer = [Instr("write", 1, 2)]
    model = Threads([spinner, writer], [differs(1, 2)])
    result = Search(model, Options()).run()
    assert result.verdict is Verdict.VIOLATED
    assert result.violation is not None and result.violation.property == "v1 != 2"


def test_a_deadlock_is_found_with_the_reduction() -> None:
    first = [Instr("lock", 0), Instr("write", 2, 1), Instr("lock", 1), Instr("unlock", 1)]
    second = [Instr("lock", 1), Instr("write", 2, 2), Instr("lock", 0), Instr("unlock", 0)]
    model = Threads([first, second], [deadlock_free("deadlock", stuck)])
    result = Search(model, Options()).run()
    assert result.verdict is Verdict.VIOLATED
    assert result.violation is not None and result.violation.property == "deadlock"


def test_a_property_that_does_not_say_what_it_reads_turns_the_reduction_off() -> None:
    programs = [[Instr("write", v, 1), Instr("inc", v)] for v in range(3)]
    opaque = always("opaque", lambda state: None)
    reduced = Search(Threads(programs, [opaque]), Options()).run()
    assert reduced.stats.states == 27


class NoProviso(Threads):
    """``Threads`` claiming no step may close a cycle (wrongly, for a
    program that jumps back)."""

    def may_close_cycle(self, state: State, actor: Hashable, after: State) -> bool:
        return False


def test_the_cycle_proviso_keeps_a_thread_that_spins_from_hiding_the_others() -> None:
    spinning = [Instr("jump", 0, 0, target=0)]
    writer = [Instr("write", 1, 1)]
    prop = differs(1, 1)
    for strategy in (Strategy.BFS, Strategy.DFS):
        found = Search(Threads([spinning, writer], [prop]), Options(strategy=strategy)).run()
        assert found.verdict is Verdict.VIOLATED
        missed = Search(NoProviso([spinning, writer], [prop]), Options(strategy=strategy)).run()
        assert missed.verdict is Verdict.OK


class Counting(Threads):
    """Threads that note each instruction (thread, program counter) run to
    an outcome, in any state the search asks about."""

    def __init__(
        self, programs: Sequence[Sequence[Instr]], props: Sequence[Property[State]]
    ) -> None:
        super().__init__(programs, props)
        self.ran: set[tuple[int, int]] = set()

    def _fire(self, tid: int, state: State) -> State | None:
        after = super()._fire(tid, state)
        if after is not None:
            self.ran.add((tid, state[0][tid]))
        return after


@settings(max_examples=150, deadline=None)
@given(programs())
def test_the_reduced_search_runs_every_instruction_the_full_one_runs(
    threads: list[list[Instr]],
) -> None:
    """Persistent sets with the cycle proviso keep every local state
    reachable, so ``check --coverage`` lists the same steps either way."""
    anything = always("anything", lambda _state: None, reads=0)
    for strategy in (Strategy.BFS, Strategy.DFS):
        full, reduced = Counting(threads, [anything]), Counting(threads, [anything])
        assert Search(full, Options(strategy=strategy, reduce=False)).run().verdict is Verdict.OK
        assert Search(reduced, Options(strategy=strategy)).run().verdict is Verdict.OK
        assert reduced.ran == full.ran, (strategy, threads)
