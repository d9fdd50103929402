"""A scenario built into a model the explorer can search: threads running
compiled programs over one world, with the kernel's properties."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import attrs

from mc.dsl.operation import Invocation, Op
from mc.dsl.program import CompiledStep, Program, compile_program
from mc.dsl.steps import DONE, LOCK_PROTOCOL, Regions, ThreadSlots
from mc.engine.model import (
    Footprint,
    Model,
    Pending,
    Property,
    always,
    deadlock_free,
    sometimes,
)
from mc.kernel import errno
from mc.kernel.expr import State
from mc.kernel.locks import Kind
from mc.kernel.world import ERROR_SLOT, World
from mc.trace.format import Edge
from mc.trace.format import Step as TraceStep

Action = tuple[int, int]


@attrs.frozen
class Thread:
    """One thread of a built scenario."""

    slots: ThreadSlots
    invocation: Invocation
    program: Program
    steps: tuple[CompiledStep, ...]
    registers: frozenset[int] = frozenset()

    @property
    def name(self) -> str:
        return self.slots.name


PropertyMaker = Callable[["KernelModel"], Property[State]]


class KernelModel(Model[State, Action]):
    """Threads of kernel operations over one world.

    An action is ``(thread, branch)``: the thread whose current step runs and
    which of that step's outcomes is taken.
    """

    def __init__(
        self,
        world: World,
        threads: Sequence[Thread],
        property_makers: Sequence[PropertyMaker],
    ) -> None:
        self.world = world
        self.threads = tuple(threads)
        self._pcs = [thread.slots.pc for thread in self.threads]
        self._fires = [[step.fire for step in thread.steps] for thread in self.threads]
        self._local = [[step.step.local for step in thread.steps] for thread in self.threads]
        initial = world.initial_state()
        for tid in range(len(self.threads)):
            initial = self._settle(initial, tid)
        self.initial = initial
        self._properties = [make(self) for make in property_makers]
        self._pending = self._footprints()

    def init_states(self) -> Sequence[State]:
        return (self.initial,)

    def regions(self, tid: int) -> Regions:
        """The slot regions of the world as thread ``tid`` sees them."""
        private = [frozenset((t.slots.pc, t.slots.ret)) | t.registers for t in self.threads]
        everything = (1 << len(self.world.slots)) - 1
        owned = 0
        for slots in private:
            owned |= _mask(slots)
        shared = everything & ~owned & ~(1 << ERROR_SLOT)
        families: dict[str, int] = {}
        bit_locks = 0
        lock_only = 0
        for lock in self.world.locks:
            families[lock.family] = families.get(lock.family, 0) | 1 << lock.slot
            if lock.kind is Kind.BIT_LOCK:
                bit_locks |= 1 << lock.slot
            else:
                lock_only |= 1 << lock.slot
        return Regions(_mask(private[tid]), shared, shared & ~lock_only, families, bit_locks)

    def _footprints(self) -> list[list[Pending]]:
        """For each thread and program counter, what the thread may do next
        (its step there with the local steps chained to it) and from there
        on; a step that may end the thread also reads its bit locks (the
        check that it returns holding none)."""
        table = []
        for tid, thread in enumerate(self.threads):
            regions = self.regions(tid)
            steps = thread.steps
            own: list[Footprint] = []
            after: list[tuple[int, ...]] = []
            for compiled in steps:
                context = compiled.context
                targets = tuple(pc for pc in (context.next_pc, context.target) if pc is not None)
                footprint = compiled.step.footprint(regions)
                if DONE in targets:
                    footprint = footprint | Footprint(regions.bit_locks, 0)
                own.append(footprint)
                after.append(tuple(pc for pc in targets if pc != DONE))
            local = self._local[tid]
            table.append(
                [
                    Pending(
                        tid,
                        _reach(pc, own, after, local.__getitem__),
                        _reach(pc, own, after, lambda _at: True),
                    )
                    for pc in range(len(steps))
                ]
            )
        return table

    def halted(self, state: State) -> bool:
        """An error state: a step recorded a protocol error and the run ends."""
        return state[ERROR_SLOT] is not None

    def pending(self, state: State) -> list[Pending]:
        """What each thread that has not returned may still do.

        The footprints leave out the error slot: a step that records an
        error stops the whole run, and whether it does is decided by what
        the step reads, so a protocol error is an assertion of the thread
        that takes the step, which the reduction preserves (see
        ``mc.engine.reduction``).  Properties read the error slot only
        to report those errors."""
        table = self._pending
        return [table[tid][state[pc]] for tid, pc in enumerate(self._pcs) if state[pc] != DONE]

    def successors(self, state: State) -> list[tuple[Action, State]]:
        if state[ERROR_SLOT] is not None:
            return []
        found = []
        for tid, fires in enumerate(self._fires):
            pc_slot = self._pcs[tid]
            pc = state[pc_slot]
            if pc != DONE:
                local = self._local[tid]
                for branch, after in enumerate(fires[pc](state)):
                    pc = after[pc_slot]
                    while pc != DONE and local[pc] and after[ERROR_SLOT] is None:
                        after = fires[pc](after)[0]
                        pc = after[pc_slot]
                    found.append(((tid, branch), after))
        return found

    def _settle(self, state: State, tid: int) -> State:
        """Run thread ``tid``'s local steps from ``state`` on."""
        return self._chain(state, tid)[-1]

    def _chain(self, state: State, tid: int) -> list[State]:
        """The states thread ``tid``'s local steps pass through from ``state``
        (``state`` first)."""
        pc_slot, fires, local = self._pcs[tid], self._fires[tid], self._local[tid]
        states = [state]
        pc = state[pc_slot]
        while pc != DONE and local[pc] and state[ERROR_SLOT] is None:
            state = fires[pc](state)[0]
            states.append(state)
            pc = state[pc_slot]
        return states

    def actions(self, state: State) -> list[Action]:
        return [action for action, _ in self.successors(state)]

    def next_state(self, state: State, action: Action) -> State:
        for candidate, after in self.successors(state):
            if candidate == action:
                return after
        raise ValueError(f"action {action} is not enabled")

    def actor(self, action: Action) -> int:
        return action[0]

    def properties(self) -> Sequence[Property[State]]:
        return self._properties

    def describe_action(self, action: Action) -> str:
        return self.threads[action[0]].name

    # queries used by properties and traces -----------------------------------

    def current_step(self, state: State, tid: int) -> CompiledStep | None:
        """The step thread ``tid`` runs next, or None once it returned."""
        pc = state[self._pcs[tid]]
        return None if pc == DONE else self.threads[tid].steps[pc]

    def finished(self, state: State) -> bool:
        """Whether every thread has returned."""
        return all(state[pc] == DONE for pc in self._pcs)

    def waits_for(self, state: State) -> list[Edge]:
        """Who waits for whom among the threads that cannot move."""
        names = self.world.thread_names
        edges = []
        for tid in range(len(self.threads)):
            current = self.current_step(state, tid)
            if current is None:
                continue
            wait = current.step.waiting(current.context, state)
            if wait is None:
                edges.append(Edge(names[tid], "something that never happens", names[tid]))
                continue
            edges.extend(Edge(names[tid], wait.resource, names[h]) for h in wait.holders)
        return edges

    def deadlock_cycle(self, state: State) -> list[Edge]:
        """A cycle of the waits-for graph, or every edge if there is none."""
        edges = self.waits_for(state)
        by_waiter: dict[str, list[Edge]] = {}
        for edge in edges:
            by_waiter.setdefault(edge.waiter, []).append(edge)
        for start in by_waiter:
            path: list[Edge] = []
            seen: dict[str, int] = {}
            node = start
            while node in by_waiter and node not in seen:
                seen[node] = len(path)
                edge = by_waiter[node][0]
                path.append(edge)
                node = edge.holder
            if node in seen:
                return path[seen[node] :]
        return edges

    def explain_deadlock(self, state: State) -> str | None:
        """None unless ``state`` is a deadlock, else the waits-for cycle."""
        if state[ERROR_SLOT] is not None or self.finished(state):
            return None
        cycle = self.deadlock_cycle(state)
        return "; ".join(f"{e.waiter} waits for {e.resource} held by {e.holder}" for e in cycle)

    def records(self, before: State, action: Action) -> list[TraceStep]:
        """Describe the steps ``action`` takes from ``before``: the step of the
        thread it names, then the local steps run along with it."""
        tid, branch = action
        current = self.current_step(before, tid)
        assert current is not None
        first = current.fire(before)[branch]
        chain = self._chain(first, tid)
        records = [self._record(tid, branch, before, first, chained=False)]
        records.extend(
            self._record(tid, 0, a, b, chained=True) for a, b in itertools.pairwise(chain)
        )
        return records

    def step(self, state: State, action: Action) -> State | None:
        """The state ``action`` leads to (local steps included), or None
        when the thread cannot take that outcome now."""
        tid, branch = action
        current = self.current_step(state, tid)
        if current is None or state[ERROR_SLOT] is not None:
            return None
        outcomes = current.fire(state)
        return self._settle(outcomes[branch], tid) if branch < len(outcomes) else None

    def _record(
        self, tid: int, branch: int, before: State, after: State, *, chained: bool
    ) -> TraceStep:
        thread = self.threads[tid]
        current = self.current_step(before, tid)
        assert current is not None
        changed = {
            slot.name: slot.render(after[i])
            for i, slot in enumerate(self.world.slots)
            if before[i] != after[i] and not slot.hidden
        }
        return TraceStep(
            thread=thread.name,
            branch=branch,
            chained=chained,
            operation=str(thread.invocation),
            label=current.step.label,
            event=current.step.event(current.context, before, after),
            source=str(current.step.source),
            function=current.step.source.function,
            changed=changed,
        )

    def statistics(self, states: Sequence[State]) -> dict[str, int]:
        """Symbolic states and solver calls, when the scenario has symbols."""
        part = self.world.parts.get("symbolic")
        return {} if part is None else dict(part.statistics(states))

    def witness(self, state: State) -> dict[str, int]:
        """Concrete values of the scenario's symbolic arguments under which
        ``state`` is reached (empty when it has none)."""
        part = self.world.parts.get("symbolic")
        return {} if part is None else dict(part.witness(state))

    def check_witness(self, state: State, witness: dict[str, object]) -> str | None:
        """None when ``witness`` satisfies the path condition of ``state``,
        else what does not hold."""
        part = self.world.parts.get("symbolic")
        if part is None:
            return "the scenario has no symbolic arguments" if witness else None
        message = part.check_witness(state, witness)
        return None if message is None else str(message)

    def render_state(self, state: State) -> dict[str, str]:
        """Every visible field of ``state``, rendered."""
        return {
            slot.name: slot.render(state[i])
            for i, slot in enumerate(self.world.slots)
            if not slot.hidden
        }


def lock_protocol(model: KernelModel) -> Property[State]:
    """no unlock of a lock not held, no return with a lock held, no re-acquiring a held
    lock, no sleeping while holding a spinlock or in interrupt context"""
    return _error_property(
        model,
        LOCK_PROTOCOL,
        "no unlock of a lock not held, no return with a lock held, no re-acquiring a held "
        "lock, no sleeping in atomic context",
    )


def reported_error(state: State, name: str) -> str | None:
    """The message of the error a step recorded against property ``name``
    in ``state``, if any."""
    error = state[ERROR_SLOT]
    return str(error[1]) if error is not None and error[0] == name else None


def _error_property(model: KernelModel, name: str, description: str) -> Property[State]:
    return always(name, lambda state: reported_error(state, name), description, reads=0)


def unchecked_errors(states: Iterable[State], checked: Iterable[str]) -> dict[str, int]:
    """How many of ``states`` end in an error against a property outside
    ``checked``: such states have no successors, so a run that does not
    check that property must say so."""
    names = set(checked)
    counts: dict[str, int] = {}
    for state in states:
        error = state[ERROR_SLOT]
        if error is not None and error[0] not in names:
            counts[error[0]] = counts.get(error[0], 0) + 1
    return counts


def deadlock(model: KernelModel) -> Property[State]:
    """no state where some thread has not returned and none can move (reported with the
    waits-for cycle)"""
    return deadlock_free(
        "deadlock", model.explain_deadlock, "some thread has not finished and no step is enabled"
    )


def completes(model: KernelModel) -> Property[State]:
    """some interleaving lets every thread return (the scenario is not vacuous)"""

    def reached(state: State) -> str | None:
        if state[ERROR_SLOT] is None and model.finished(state):
            return "every thread returned"
        return None

    return sometimes(
        "completes", reached, "every thread returns in some interleaving", terminal=True
    )


def _reach(
    start: int,
    own: Sequence[Footprint],
    after: Sequence[tuple[int, ...]],
    through: Callable[[int], bool],
) -> Footprint:
    """The footprint of step ``start`` and of every step reached from it
    through steps ``through`` accepts."""
    seen = {start}
    todo = [start]
    total = own[start]
    while todo:
        for pc in after[todo.pop()]:
            if pc not in seen and through(pc):
                seen.add(pc)
                todo.append(pc)
                total = total | own[pc]
    return total


def _mask(slots: Iterable[int]) -> int:
    mask = 0
    for slot in slots:
        mask |= 1 << slot
    return mask


def build_threads(
    world: World,
    invocations: Sequence[Invocation],
    variants: frozenset[str],
    transforms: Sequence[Callable[[Program, Invocation], Program]],
) -> list[Thread]:
    """Build, transform and compile each invocation's program."""
    built = []
    for tid, invocation in enumerate(invocations):
        name = world.thread_names[tid]
        slots = ThreadSlots(
            tid,
            name,
            pc=world.add_slot(f"{name}.pc", 0, hidden=True),
            ret=world.add_slot(f"{name}.ret", 0, errno.render),
        )
        world.pc_slots.append(slots.pc)
        op = Op(world, slots, variants)
        invocation.operation.build(op, *invocation.args)
        program = op.program()
        for transform in transforms:
            program = transform(program, invocation)
        built.append((slots, invocation, program, op.register_slots))
    return [
        Thread(slots, invocation, program, tuple(compile_program(program, world, slots)), registers)
        for slots, invocation, program, registers in built
    ]
