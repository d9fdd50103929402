"""A scenario built into a model the explorer can search: threads running
compiled programs over one world, with the kernel's properties."""

from __future__ import annotations

import difflib
import fnmatch
import functools
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, ClassVar

import attrs

from mc.dsl.guards import guarded_parts, guarding_locks, thread_tokens
from mc.dsl.interrupts import handler_families, interrupts_of, split_unsafe_sections
from mc.dsl.operation import Invocation, Op, Operation
from mc.dsl.program import CompiledStep, Program, compile_program, reading_registers
from mc.dsl.steps import (
    CallStep,
    EffectStep,
    Fire,
    LockStep,
    Regions,
    Resolver,
    Step,
    ThreadSlots,
    Wait,
    assigned,
    slot_mask,
)
from mc.dsl.uncontended import (
    on_private_lock,
    private_locks,
    read_only_families,
    uncontended,
)
from mc.dsl.wait_steps import HandOffStep
from mc.engine.model import Check, Footprint, Model, Pending, Property, PropertyKind, declare
from mc.engine.model import PropertyDef as EnginePropertyDef
from mc.engine.reduction import turned_off_by
from mc.kernel import errno, locks
from mc.kernel.expr import InodeExpr, State
from mc.kernel.locks import Kind
from mc.kernel.world import (
    DONE,
    ERROR_SLOT,
    LOCK_PROTOCOL,
    LocatedModelError,
    ModelError,
    World,
    is_wide,
    reported_error,
    wide_refused,
)
from mc.project import defined_at
from mc.text import briefly
from mc.trace.events import HANDED_OFF as HANDED_OFF_HOLDER
from mc.trace.events import INTERRUPTED_CPU, Edge, Event, closes_cycle, waits_text
from mc.trace.events import Step as TraceStep

Action = tuple[int, int]
StepFootprint = Callable[[int, int, Step, Regions], Footprint]
"""The footprint of thread ``tid``'s step at ``pc`` (see ``KernelModel._footprints``)."""


@attrs.frozen
class Thread:
    """One thread of a built scenario."""

    slots: ThreadSlots
    invocation: Invocation
    program: Program
    steps: tuple[CompiledStep, ...]
    changed_by: tuple[Callable[[Program, Invocation], Program], ...] = attrs.field(
        default=(), eq=False
    )
    """The variant transforms that changed this thread's program."""
    asked: frozenset[str] = frozenset()
    """The variant names the operation asked about (``op.variant``) while building."""
    replaced: frozenset[str] = frozenset()
    """The operations whose body a variant replaced and this thread ran."""
    registers: frozenset[int] = frozenset()
    """The slots of the thread's own registers."""
    ran: frozenset[Operation] = attrs.field(default=frozenset(), eq=False)
    """Every operation whose body this thread ran (nested ones included)."""

    @property
    def name(self) -> str:
        return self.slots.name


PropertyDef = EnginePropertyDef[State, "KernelModel"]
"""A property of kernel models: its check is made from the built model."""


class ScenarioLacks(ModelError):
    """A deadlock of the scenario rather than of the protocol: a thread
    waits for what only a thread the scenario lacks could end (the one
    completing bios, ``Wait.unheld``)."""


class ReadsMissingSlots(ModelError):
    """A property made slots of its own (``World.shared_slot`` of a name
    the scenario's operations never made): it reads what the scenario
    does not have, so it has nothing to check there."""

    def __init__(self, prop: str, slots: Sequence[str]) -> None:
        self.prop = prop
        self.slots = tuple(slots)
        super().__init__(self.said_of("the scenario"))

    def said_of(self, scenario: str) -> str:
        """The error, naming ``scenario``."""
        return (
            f"{self.prop} reads {', '.join(self.slots)}, which no thread of {scenario} "
            "makes: it has nothing to check there"
        )


def make_property(prop: PropertyDef, model: KernelModel) -> Property[State]:
    """Property ``prop`` of ``model``; ``ReadsMissingSlots`` when making it
    added slots to the model's world, whose states have none of them (the
    slots are taken away again)."""
    world = model.world
    before = len(world.slots)
    made = prop.make(model, model.locations, model.misnamed)
    if len(world.slots) > before:
        raise ReadsMissingSlots(prop.name, world.forget_slots_from(before))
    return made


def shown_briefly(value: object, longest: int = 80) -> str:
    """``repr(value)``, cut to ``longest`` characters, with its type."""
    if value is None:
        return "None"
    return f"{briefly(value, longest)} (a {type(value).__name__})"


def _cycle_through(
    by_waiter: dict[str, list[Edge]],
    node: str,
    path: list[Edge],
    on_path: dict[str, int],
    explored: set[str],
) -> list[Edge] | None:
    """A cycle of waits reached from ``node`` along ``path`` (a wait for a
    lock several threads could hold has an edge to each: a dead end
    through one, a returned thread, leaves the others to follow)."""
    for edge in by_waiter.get(node, ()):
        if edge.holder in on_path:
            return [*path, edge][on_path[edge.holder] :]
        if edge.holder in by_waiter and edge.holder not in explored:
            explored.add(edge.holder)
            on_path[edge.holder] = len(path) + 1
            found = _cycle_through(by_waiter, edge.holder, [*path, edge], on_path, explored)
            if found is not None:
                return found
            del on_path[edge.holder]
    return None


class KernelModel(Model[State, Action]):
    """Threads of kernel operations over one world.

    An action is ``(thread, branch)``: the thread whose current step runs and
    which of that step's outcomes is taken.
    """

    def __init__(
        self,
        world: World,
        threads: Sequence[Thread],
        properties: Sequence[PropertyDef],
        *,
        every_acquisition: bool = False,
    ) -> None:
        self.world = world
        self.threads = tuple(threads)
        self._pcs = [thread.slots.pc for thread in self.threads]
        self._interrupts = interrupts_of(world)
        self._landing = [] if self._interrupts is None else sorted(self._interrupts.landing.items())
        self._fires = [[step.fire for step in thread.steps] for thread in self.threads]
        self._unblocked = [
            [step.step.never_blocked for step in thread.steps] for thread in self.threads
        ]
        self._forgotten: list[tuple[int, ...]] = [() for _ in self.threads]
        """For each thread, the registers reset to their initial values
        as it returns (``_forget``)."""
        self._dead: list[list[tuple[int, ...]]] = [[() for _ in t.steps] for t in self.threads]
        """For each thread and program counter, the registers reset to
        their initial values as the thread comes there (``_dead_registers``)."""
        self._blank = world.initial_state()
        self.initial: State = self._blank
        self._exposing = self._writes_exposed()
        self._reading_others = self._reads_others()
        programs = [[step.step for step in thread.steps] for thread in self.threads]
        observed = self._lock_slots_read()
        every_acquisition = every_acquisition or world.opaque_reads
        read_only = (
            frozenset() if every_acquisition else read_only_families(world, programs, observed)
        )
        private = {} if every_acquisition else self._private_locks(observed)
        self._start(read_only, properties, private=private)
        watched = _watched(self._properties)
        unwatched = read_only & read_only_families(
            world, programs, None if watched is None else watched | observed
        )
        private_unwatched = (
            {}
            if watched is None
            else {slot: tid for slot, tid in private.items() if not watched >> slot & 1}
        )
        threads_watched = self._threads_watched(watched)
        if unwatched != read_only or threads_watched or private_unwatched != private:
            self._start(unwatched, properties, threads_watched, private_unwatched)
        declared_reads = self.registers_read_across_threads | world.counted
        world.unread_slots = {
            **{lock.slot: None for lock in world.locks if lock.family in unwatched},
            **private_unwatched,
            **{
                slot: tid
                for tid, thread in enumerate(self.threads)
                for slot in thread.registers
                if slot not in declared_reads
            },
        }
        initial = self.initial
        self._forgotten = self._forgettable()
        self._dead = self._dead_registers()
        self._settled = initial
        self.initial = self._without_dead(initial)
        self._pending: list[list[Pending]] | None = None
        """The footprints partial-order reduction reads, made on first use."""
        self._resolving: list[_Resolving | None] = []
        """For each thread with steps whose footprint the state refines,
        what refines them (made with ``_pending``)."""
        self._cyclic: list[list[bool]] = []
        """For each thread and program counter, whether its step there or
        a local step chained to it may go back in the thread's program
        (made with ``_pending``)."""
        self._queueing: list[list[bool]] = []
        """For each thread and program counter, whether its step there is a
        lock step: the only steps that leave their thread where it was only
        to join a lock's queue of writers, which the thread leaves by
        taking the lock and moving on."""

    def _writes_exposed(self) -> list[list[bool]]:
        """For each thread and program counter, whether the step there
        writes a register another thread's step reads (through an
        expression, ``_read_by_others``, or a ``touches`` declaration): it
        is no local step, so the value it writes is there to be read before
        the thread's next step.  The folio references a migration counts
        are left out: a thread takes one from a batch that holds it already
        (``folio = fbatch.folios[i]`` after ``filemap_get_folios_tag()``),
        and running that step with the one before is what keeps the count
        of references right between the two."""
        exposed = slot_mask(self._read_by_others) | self._declared_foreign_reads()
        if self.world.opaque_reads:
            exposed |= slot_mask(self.world.register_slots)
        return [
            [bool(c.step.footprint(regions).writes & exposed) for c in thread.steps]
            for thread, regions in zip(self.threads, self._thread_regions, strict=True)
        ]

    def _reads_others(self) -> list[list[bool]]:
        """For each thread and program counter, whether the step there reads
        a register of another thread (through an expression, ``op.published``,
        or a ``touches`` declaration): it is no local step, so the other
        thread may write that register between it and the step before it."""
        return [
            [
                bool(compiled.registers_read - thread.registers) or bool(declared)
                for compiled, declared in zip(
                    thread.steps, self._foreign_declared[tid], strict=True
                )
            ]
            for tid, thread in enumerate(self.threads)
        ]

    @functools.cached_property
    def _read_by_number(self) -> int:
        """The registers of other threads an effect that does not say what
        it reads may read by number: the folio references, when a step of
        the scenario counts them (``World.refs_counted``; the others only
        avoid the folio objects they name, whichever they are).  Any other
        register another thread's step reads is read through an expression
        (``op.published``) or a ``touches`` declaration, as the README asks."""
        world = self.world
        return slot_mask(world.counted) if world.refs_counted else 0

    @functools.cached_property
    def _thread_regions(self) -> list[Regions]:
        """``regions`` of each thread, made once."""
        return [self.regions(tid) for tid in range(len(self.threads))]

    @functools.cached_property
    def _declared(self) -> list[list[Footprint | None]]:
        """For each thread and program counter, what the effect there
        declares it touches (``EffectStep.declared``), or None."""
        return [
            [
                c.step.declared(regions)
                if isinstance(c.step, EffectStep) and c.step.touches is not None
                else None
                for c in thread.steps
            ]
            for thread, regions in zip(self.threads, self._thread_regions, strict=True)
        ]

    @functools.cached_property
    def _foreign_declared(self) -> list[list[int]]:
        """For each thread and program counter, the private slots of other
        threads the ``touches`` declaration of the effect there says it
        reads."""
        private = [regions.own for regions in self._thread_regions]
        everyone = _union(private)
        return [
            [
                0 if footprint is None else footprint.reads & everyone & ~private[tid]
                for footprint in declared
            ]
            for tid, declared in enumerate(self._declared)
        ]

    def _declared_foreign_reads(self) -> int:
        """The registers of other threads the steps' ``touches``
        declarations say they read."""
        return _union(mask for masks in self._foreign_declared for mask in masks)

    def _lock_slots_read(self) -> int:
        """The lock slots steps other than lock steps say they read (an
        effect's ``touches``, every lock's when it cannot be evaluated
        before the run; an expression's ``reads``).  An effect that
        does not say what it reads is refused the slots of the read sides
        that run with the step before them (``Scratch``, ``unread_slots``);
        an expression that does not say is taken to read none (the README
        asks one that reads a lock's slot to say so)."""
        found = 0
        for tid in range(len(self.threads)):
            for step, footprint in self._lock_footprints(tid):
                if getattr(step, "lock", None) is None:
                    found |= footprint.reads
        return found

    def _lock_footprints(self, tid: int) -> Iterator[tuple[Step, Footprint]]:
        """Each step of thread ``tid`` with the lock slots it says it reads
        and writes: its footprint's, with an effect that declares what it
        touches taken at its word (every lock when the declaration cannot
        be evaluated before the run), and one that does not, and an
        expression, taken to read the data slots only."""
        locks = slot_mask(lock.slot for lock in self.world.locks)
        regions = self._thread_regions[tid]
        said = attrs.evolve(regions, shared=regions.data)
        for compiled, declared in zip(self.threads[tid].steps, self._declared[tid], strict=True):
            step = compiled.step
            if isinstance(step, EffectStep) and step.touches is not None:
                found = Footprint(locks, locks) if declared is None else declared
            else:
                found = step.footprint(said)
            yield step, Footprint(found.reads & locks, found.writes & locks)

    def _private_locks(self, observed: int) -> dict[int, int]:
        """The slots of the locks one thread alone names, each with that
        thread (``private_locks``), but those ``observed`` (read by steps
        other than lock steps), those of a thread an interrupt handler may
        land on or that is a handler.  An effect of another thread that
        reads one without saying so is a ``ModelError`` (``Scratch``,
        ``World.unread_slots``)."""
        part = self._interrupts
        touched = []
        for tid in range(len(self.threads)):
            mask = 0
            for _step, footprint in self._lock_footprints(tid):
                mask |= footprint.reads | footprint.writes
            touched.append(mask)
        return {
            slot: tid
            for slot, tid in private_locks(self.world, touched, observed).items()
            if part is None or (not part.may_land_on(tid) and tid not in part.landing)
        }

    def _threads_watched(self, watched: int | None) -> frozenset[int]:
        """The threads whose registers, return value or program counter a
        property checked on every state reads (``registers(T)``; every
        thread when one does not say what it reads), or, for an interrupt
        handler, where it runs (its landing slot, which its local entry
        and return write): their local steps do not run with the step
        before them, so the property sees the states between."""
        landing = dict(self._landing)
        return frozenset(
            tid
            for tid, thread in enumerate(self.threads)
            if watched is None
            or watched & self._thread_regions[tid].own
            or (tid in landing and watched >> landing[tid] & 1)
        )

    def _start(
        self,
        read_only: frozenset[str],
        properties: Sequence[PropertyDef],
        watched: frozenset[int] = frozenset(),
        private: Mapping[int, int] | None = None,
    ) -> None:
        """Decide which steps are local (``Step.local``; the read sides of
        ``read_only``, ``uncontended``; the plain acquisitions and releases
        of the locks ``private`` gives the thread, ``on_private_lock``; an
        interrupt entry that lands on idle CPUs only; none of a thread in
        ``watched``, whose private slots a property reads, nor one that
        writes a register another thread reads, ``_writes_exposed``, or
        reads one, ``_reads_others``), run
        each thread's local steps from the start (``initial``), and make
        the properties, which may read it."""
        world = self.world
        part = self._interrupts
        counted = () if part is None else part.irqs_off
        self._local = [
            [
                tid not in watched
                and not self._exposing[tid][pc]
                and not self._reading_others[tid][pc]
                and (
                    step.step.local_in(world)
                    or uncontended(step.step, read_only)
                    or on_private_lock(step.step, tid, private or {}, tid in counted)
                )
                for pc, step in enumerate(thread.steps)
            ]
            for tid, thread in enumerate(self.threads)
        ]
        initial = self._blank
        self._run_at_start: set[tuple[int, int]] = set()
        """The positions (thread, program counter) whose steps ran in
        settling the initial state."""
        for tid in range(len(self.threads)):
            initial = self._settle(initial, tid, starting=True, passed=self._run_at_start)
        self.initial = initial
        self._properties: list[Property[State]] = [make_property(prop, self) for prop in properties]

    def init_states(self) -> Sequence[State]:
        return (self.initial,)

    def _forgettable(self) -> list[tuple[int, ...]]:
        """For each thread, its registers, unless a property reads them once
        it has returned: one that says it reads ``returned`` (of that
        thread), or one that does not say what it reads; and except those
        another thread reads (``registers_read_across_threads``: through an
        expression or a ``touches`` declaration, as the README asks of a
        read of another thread's register; ``World.counted``: a folio
        reference the page cache counts).  Nothing reads the others once
        their thread has returned, so states that differ in them alone
        are one state to every property and every step (a register is a
        dead variable once its thread has returned: resetting it is the
        dead-variable reduction of SPIN, Holzmann, *The SPIN Model Checker*,
        2003, section 9.1, at the one point where liveness needs no analysis
        of the program)."""
        elsewhere = self.registers_read_across_threads | self.world.counted
        return [tuple(self._unread(tid, elsewhere)) for tid in range(len(self.threads))]

    @functools.cached_property
    def registers_read_across_threads(self) -> set[int]:
        """The registers another thread's step reads: through an expression
        (``_read_by_others``, ``op.published``) or a ``touches`` declaration."""
        declared = self._declared_foreign_reads()
        found = {slot for slot in range(declared.bit_length()) if declared >> slot & 1}
        return self._read_by_others | found

    def _unread(self, tid: int, elsewhere: set[int]) -> list[int]:
        """The registers of thread ``tid`` but those read ``elsewhere`` (none
        when a checked property reads them, ``_property_reads``)."""
        base = len(self.world.slots)
        kept = self._property_reads
        if kept >> (base + tid) & 1:
            return []
        return [
            slot
            for slot in sorted(self.threads[tid].registers)
            if slot not in elsewhere and not kept >> slot & 1
        ]

    @functools.cached_property
    def _property_reads(self) -> int:
        """What the checked properties read, as a mask (every thread's
        ``returned`` for one that does not say)."""
        kept = 0
        for prop in self._properties:
            kept |= self._returned_bits if prop.reads is None else prop.reads
        return kept

    @functools.cached_property
    def _read_by_others(self) -> set[int]:
        """The registers an expression of another thread's step reads."""
        owner = {slot: tid for tid, thread in enumerate(self.threads) for slot in thread.registers}
        return {
            slot
            for tid, thread in enumerate(self.threads)
            for compiled in thread.steps
            for slot in compiled.registers_read
            if owner.get(slot) != tid
        }

    def _dead_registers(self) -> list[list[tuple[int, ...]]]:
        """For each thread and program counter, the registers of the thread
        that no step it may still take reads (no step there or after it
        compiles an expression reading them, ``CompiledStep.registers_read``)
        among those only its own steps read, through the expressions they
        compile (not another thread's, ``registers_read_across_threads``,
        nor by number, ``World.escaped``).  States that
        differ in such registers alone are one state to every step and
        property from there on: resetting them as the thread comes there is
        SPIN's dead-variable reduction (Holzmann, *The SPIN Model Checker*,
        2003, section 9.1), with liveness taken over the steps a program
        counter leads to, which no write ends (a register written again
        later stays live up to the write)."""
        table: list[list[tuple[int, ...]]] = []
        for tid, thread in enumerate(self.threads):
            tracked = self._unread(tid, self.registers_read_across_threads | self.world.escaped)
            if not tracked:
                table.append([() for _ in thread.steps])
                continue
            after = [
                tuple(pc for pc in (c.context.next_pc, c.context.target) if pc not in (None, DONE))
                for c in thread.steps
            ]
            live = Reach(after).union([slot_mask(c.registers_read) for c in thread.steps])
            table.append(
                [
                    tuple(slot for slot in tracked if not live[pc] >> slot & 1)
                    for pc in range(len(after))
                ]
            )
        return table

    def keep_registers(self) -> None:
        """Reset no register before or as its thread returns (what
        ``--audit-reads`` checks against: a property that reads a register
        without saying so then answers otherwise once the register is
        reset, where forgetting it would have hidden the read).  The local
        steps still run with the step before them, so a property that
        reads a thread's program counter unsaid is not seen between them."""
        self._forgotten = [() for _ in self.threads]
        self._dead = [[() for _ in thread.steps] for thread in self.threads]
        self.__dict__.pop("_thread_outcomes", None)
        self.initial = self._settled

    def reads_before_set(self) -> set[tuple[str, str, str]]:
        """Each read of a thread's own register (by a step's expressions)
        that some path from the thread's first step reaches with no step
        setting that register (a step whose ``result`` it is): the thread,
        the step's label and the register, by name.  The value read there is
        the register's initial None, which a variant that drops or moves
        the step setting it leaves a thread reading silently.  A register
        of the task (``Op.thread_wide``: ``current->journal_info``) starts
        None by design and is left out."""
        found: set[tuple[str, str, str]] = set()
        task = self.world.task_slots
        for thread in self.threads:
            steps = thread.steps
            if not steps:
                continue
            assigned: list[frozenset[int] | None] = [None] * len(steps)
            assigned[0] = frozenset()
            waiting = [0]
            while waiting:
                pc = waiting.pop()
                before = assigned[pc]
                assert before is not None
                result = getattr(steps[pc].step, "result", None)
                after = before if result is None else before | {result}
                context = steps[pc].context
                for following in (context.next_pc, context.target):
                    if following is None or following == DONE:
                        continue
                    known = assigned[following]
                    met = after if known is None else known & after
                    if met != known:
                        assigned[following] = met
                        waiting.append(following)
            for pc, compiled in enumerate(steps):
                held = assigned[pc]
                if held is None:
                    continue
                for slot in (compiled.registers_read & thread.registers) - held - task:
                    register = self.world.slots[slot].name
                    found.add((thread.name, compiled.step.label, register))
        return found

    def dead_registers(self, tid: int, pc: int) -> tuple[int, ...]:
        """The registers thread ``tid`` resets as it comes to ``pc`` (none
        at DONE, where it forgets them, ``_forgettable``).  They are the
        thread's own, which no other thread reads, so the footprints leave
        the resets out."""
        return () if pc == DONE else self._dead[tid][pc]

    def _resolver(self, compiled: CompiledStep, regions: Regions) -> Resolver | None:
        """The step's resolver (``Step.resolver``), which must read no
        register its ``fire`` does not (those are live where it runs)."""
        resolver, read = reading_registers(
            self.world, functools.partial(compiled.step.resolver, compiled.context, regions)
        )
        if read - compiled.registers_read:
            unread = sorted(read - compiled.registers_read)
            names = ", ".join(self.world.slots[slot].name for slot in unread)
            raise ModelError(
                f"'{compiled.step.label}' ({compiled.step.source}) finds its footprint from "
                f"{names}, which running it does not read"
            )
        return resolver

    def _without_dead(self, state: State) -> State:
        """``state`` with each thread's dead registers reset (``_dead``),
        and those of a thread that returned forgotten (``_forget``)."""
        for tid, pc_slot in enumerate(self._pcs):
            pc = state[pc_slot]
            if pc == DONE:
                state = self._forget(state, tid)
            elif self._dead[tid][pc]:
                state = self._reset(state, self._dead[tid][pc])
        return state

    def _reset(self, state: State, slots: Sequence[int]) -> State:
        """``state`` with ``slots`` at their initial values."""
        blank = self._blank
        values = None
        for slot in slots:
            initial = blank[slot]
            if state[slot] != initial:
                if values is None:
                    values = list(state)
                values[slot] = initial
        return state if values is None else tuple(values)

    def _forget(self, state: State, tid: int) -> State:
        """``state`` with the registers of thread ``tid``, which has
        returned, reset as ``_forgettable`` says."""
        return self._reset(state, self._forgotten[tid])

    def locations(self, names: Sequence[str]) -> int:
        """The mask of what a property declares it reads (``reads=``): slot
        families by name or shell pattern (``dentry`` is every ``dentry(...)``
        slot, a slot without a ``(`` is a family of its own, ``block *``
        every block), single slots by name or pattern (``i_rwsem(/a/x)``,
        ``dentry(/a/*)``), ``returned`` for whether each thread has returned
        and, once it has, its return value and registers (``returned(T2)``
        for one thread's), ``registers(T2)`` for a thread's registers, return
        value and program counter while it runs (every step of it is then
        visible to the property), ``error`` for the protocol errors steps
        record (no location: a step that records one halts the run, see
        ``pending``).  A name no slot of the world has reads nothing of it.
        Where an interrupt handler runs (``T2.cpu``) is read only by that
        name, not by a pattern (``*``): reading it makes the handler's
        entry and return visible steps (``_threads_watched``)."""
        families: dict[str, int] = {}
        slots: dict[str, int] = {}
        for index, name in self._nameable():
            family = name.split("(", 1)[0]
            families[family] = families.get(family, 0) | 1 << index
            slots[name] = slots.get(name, 0) | 1 << index
        base = len(self.world.slots)
        landing = slot_mask(slot for _handler, slot in self._landing)
        returned = {thread.name: 1 << base + tid for tid, thread in enumerate(self.threads)}
        private = {
            thread.name: slot_mask({thread.slots.pc, thread.slots.ret, *thread.registers})
            for thread in self.threads
        }
        mask = 0
        for name in names:
            if name == "returned":
                mask |= self._returned_bits
            elif name.startswith("returned(") and name.endswith(")"):
                mask |= _matching(returned, name.removeprefix("returned(")[:-1])
            elif name.startswith("registers(") and name.endswith(")"):
                mask |= _matching(private, name.removeprefix("registers(")[:-1])
            elif name != "error":
                found = _matching(families, name) | _matching(slots, name)
                mask |= found & ~landing | slots.get(name, 0) & landing
        return mask

    def _nameable(self) -> list[tuple[int, str]]:
        """The slots ``reads=`` can name (every slot but the threads' own
        and the error slot), with their names, in the world's order."""
        private = {t.slots.pc for t in self.threads} | {t.slots.ret for t in self.threads}
        for thread in self.threads:
            private |= thread.registers
        return [
            (index, slot.name)
            for index, slot in enumerate(self.world.slots)
            if index != ERROR_SLOT and index not in private
        ]

    def slot_names(self) -> list[str]:
        """The names of the slots ``reads=`` can name, in the world's order."""
        return [name for _index, name in self._nameable()]

    def misnamed(self, name: str) -> str | None:
        """Why ``name``, which locates nothing here, cannot be meant: a
        thread the scenario lacks (``returned(T9)``), a slot of a family
        the world has but no slot of it (``dentry(/b/nn)``), or a near
        miss of a family it has (``dentryy``); None for what may be a family
        this world lacks (``block *`` where there is no block device)."""
        names = self.slot_names()
        families = sorted({known.split("(", 1)[0] for known in names})
        for thread in self.threads:
            private = {thread.slots.pc, thread.slots.ret, *thread.registers}
            if any(self.world.slots[slot].name == name for slot in private):
                return f"which is {thread.name}'s own: name registers({thread.name})"
        if name.startswith(("returned(", "registers(")) and name.endswith(")"):
            threads = ", ".join(thread.name for thread in self.threads)
            return f"but the threads are {threads}"
        family = name.split("(", 1)[0]
        if "(" in name and family in families:
            known = [slot for slot in names if slot.startswith(f"{family}(")]
            shown = ", ".join(known[:6]) + (", ..." if len(known) > 6 else "")
            return f"but no {family} slot is called so (they are {shown})"
        close = difflib.get_close_matches(family, [*families, "returned", "error"], n=1, cutoff=0.8)
        if close:
            return f"which no slot is called: did you mean {close[0]!r}?"
        return None

    @property
    def _returned_bits(self) -> int:
        """One location past the slots per thread: whether it has returned."""
        return ((1 << len(self.threads)) - 1) << len(self.world.slots)

    def project(self, state: State, initial: State, reads: int) -> State:
        """``state`` with every slot ``reads`` leaves out reset to its value in
        ``initial``; the error slot is kept, and the private slots of a
        thread that has returned when ``reads`` has its ``returned``
        location."""
        values = [state[i] if reads >> i & 1 else initial[i] for i in range(len(state))]
        values[ERROR_SLOT] = state[ERROR_SLOT]
        base = len(self.world.slots)
        for tid, thread in enumerate(self.threads):
            if reads >> (base + tid) & 1 and state[thread.slots.pc] == DONE:
                for slot in (thread.slots.pc, thread.slots.ret, *thread.registers):
                    values[slot] = state[slot]
        return tuple(values)

    def location_name(self, index: int) -> str:
        """The slot's name; a thread's private slot says how ``reads=``
        names it (``registers(T1)``)."""
        name = self.world.slots[index].name
        for thread in self.threads:
            if index in (thread.slots.pc, thread.slots.ret) or index in thread.registers:
                return f"{name} (reads= names it registers({thread.name}))"
        return name

    def register(self, thread: str, name: str) -> int:
        """The slot of thread ``thread``'s register ``name`` (as ``op.let``,
        ``op.compute`` or ``op.register`` named it), for a property's check;
        a ``ModelError`` naming the thread's registers when it has none so
        called."""
        for candidate in self.threads:
            if candidate.name != thread:
                continue
            found = {self.world.slots[slot].name: slot for slot in candidate.registers}
            slot = found.get(f"{thread}.{name}")
            if slot is None:
                known = ", ".join(sorted(found)) or "none"
                raise ModelError(f"{thread} has no register {name!r} (its registers: {known})")
            return slot
        threads = ", ".join(t.name for t in self.threads)
        raise ModelError(f"no thread {thread!r} (the threads are {threads})")

    def part_read(self, reads: int) -> Callable[[State], Hashable]:
        """The error slot, the slots in ``reads``, and for each thread
        whose ``returned`` location is in it, its return value and
        registers once it has returned (what ``project`` keeps)."""
        base = len(self.world.slots)
        slots = itemgetter(ERROR_SLOT, *_members(reads & ((1 << base) - 1)))
        returned = [
            (thread.slots.pc, itemgetter(thread.slots.ret, *sorted(thread.registers)))
            for tid, thread in enumerate(self.threads)
            if reads >> (base + tid) & 1
        ]
        if not returned:
            return slots
        if len(returned) == 1:
            [(pc, private)] = returned

            def one_thread_part(state: State) -> Hashable:
                return slots(state), (private(state) if state[pc] == DONE else None,)

            return one_thread_part

        def part(state: State) -> Hashable:
            ended = [private(state) if state[pc] == DONE else None for pc, private in returned]
            return slots(state), tuple(ended)

        return part

    def regions(self, tid: int) -> Regions:
        """The slot regions of the world as thread ``tid`` sees them."""
        private = [frozenset((t.slots.pc, t.slots.ret)) | t.registers for t in self.threads]
        everything = (1 << len(self.world.slots)) - 1
        owned = 0
        for slots in private:
            owned |= slot_mask(slots)
        shared = everything & ~owned & ~(1 << ERROR_SLOT) | self._returned_bits
        families: dict[str, int] = {}
        bit_locks = 0
        lock_only = 0
        for lock in self.world.locks:
            families[lock.family] = families.get(lock.family, 0) | 1 << lock.slot
            if lock.kind is Kind.BIT_LOCK:
                bit_locks |= 1 << lock.slot
            else:
                lock_only |= 1 << lock.slot
        names = slot_mask(d.slot for d in self.world.dentries.values())
        data = shared & ~lock_only
        order = self.world.parts.get("addresses")
        addresses = 0 if order is None else 1 << order.slot
        part = self._interrupts
        landing = 0 if part is None else part.landing_mask()
        irqs_off = 0 if part is None or tid not in part.irqs_off else 1 << part.irqs_off[tid]
        return Regions(
            slot_mask(private[tid]),
            shared,
            data,
            families,
            bit_locks,
            names,
            addresses,
            landing,
            irqs_off,
            slot_mask(self.threads[tid].registers),
            self._returned_bits,
            self.world,
        )

    def _footprints(self, step_footprint: StepFootprint | None = None) -> list[list[Pending]]:
        """For each thread and program counter, what the thread may do next
        (its step there with the local steps chained to it) and from there
        on; a step that may end the thread also reads its bit locks (the
        check that it returns holding none) and writes its ``returned``
        location (see ``locations``).  The registers a returning thread
        forgets (``_forgettable``) are left out: no step of it runs again,
        and no other thread's step nor any checked property reads them.
        Every step of a thread an interrupt handler may land on reads where
        the handlers run (it is disabled while one runs on its CPU).  A
        step that reads another thread's register (a value ``op.publish``
        gave) reads that slot, which the other thread's steps write; an
        effect that does not say what it reads may read another thread's
        register by number (``_read_by_number``).
        ``step_footprint(tid, pc, step, regions)`` replaces the steps' own
        ``Step.footprint`` (a benchmark measuring other footprints); without
        it, the steps' resolvers (``Step.resolver``) refine the footprints
        state by state (``pending``)."""
        table = []
        self._resolving = []
        self._cyclic = []
        self._queueing = []
        base = len(self.world.slots)
        part = self._interrupts
        regions = [self.regions(tid) for tid in range(len(self.threads))]
        owns: list[list[Footprint]] = []
        extras: list[list[Footprint]] = []
        afters: list[list[tuple[int, ...]]] = []
        for tid, thread in enumerate(self.threads):
            frozen = Footprint(
                regions[tid].interrupts if part is not None and part.may_land_on(tid) else 0, 0
            )
            own: list[Footprint] = []
            extra_of: list[Footprint] = []
            after: list[tuple[int, ...]] = []
            for at, compiled in enumerate(thread.steps):
                context = compiled.context
                targets = tuple(pc for pc in (context.next_pc, context.target) if pc is not None)
                foreign = slot_mask(compiled.registers_read - thread.registers)
                if _by_number(compiled.step):
                    foreign |= self._read_by_number & ~regions[tid].own
                extra = frozen | Footprint(foreign, 0)
                if DONE in targets:
                    extra = extra | Footprint(regions[tid].bit_locks, 1 << (base + tid))
                footprint = (
                    compiled.step.footprint(regions[tid])
                    if step_footprint is None
                    else step_footprint(tid, at, compiled.step, regions[tid])
                )
                own.append(footprint | extra)
                extra_of.append(extra)
                after.append(tuple(pc for pc in targets if pc != DONE))
            owns.append(own)
            extras.append(extra_of)
            afters.append(after)
        writes = [_union(footprint.writes for footprint in own) for own in owns]
        programs = [[compiled.step for compiled in thread.steps] for thread in self.threads]
        eligible = guarding_locks(self.world.locks, programs, owns)
        for tid, thread in enumerate(self.threads):
            own, after, local = owns[tid], afters[tid], self._local[tid]
            chains = [_reached(pc, after, local.__getitem__) for pc in range(len(own))]
            reaches = Reach(after)
            self._cyclic.append([reaches.loops(chain) for chain in chains])
            self._queueing.append([isinstance(c.step, LockStep) for c in thread.steps])
            guards, blocks = thread_tokens(
                thread.program.entry(),
                programs[tid],
                [(c.context.next_pc, c.context.target) for c in thread.steps],
                own,
                eligible,
            )
            free, parts = guarded_parts(own, guards, reaches.footprints)
            table.append(
                [
                    Pending(
                        tid,
                        _union_footprints(own[at] for at in chain),
                        rest,
                        blocks[pc],
                        parts[pc],
                        free[pc] if parts[pc] else None,
                    )
                    for pc, (chain, rest) in enumerate(
                        zip(chains, reaches.footprints(own), strict=True)
                    )
                ]
            )
            resolvers = [
                None if step_footprint is not None else self._resolver(c, regions[tid])
                for c in thread.steps
            ]
            if not any(r is not None for r in resolvers):
                self._resolving.append(None)
                continue
            others = _union(mask for other, mask in enumerate(writes) if other != tid)
            resolving = _Resolving(
                tid, regions[tid], own, extras[tid], chains, reaches, resolvers, (guards, blocks)
            )
            resolving.predicted = _predicted(thread, regions[tid], resolving, others, self.initial)
            self._resolving.append(resolving)
        return table

    def _table(self) -> list[list[Pending]]:
        """The footprints of every thread and program counter (with the
        tables made beside them), made on first use."""
        if self._pending is None:
            self._pending = self._footprints()
        return self._pending

    def may_close_cycle(self, state: State, actor: Hashable, after: State) -> bool:
        """Whether the step may lie on a cycle of the state graph: it (or a
        local step chained to it) may take a back edge of its thread's
        program (``Reach.loops``: a way on back to a step on the path a
        depth-first search of the program from its first step took), or
        it leaves the thread where it was other than by joining a lock's
        queue.  A cycle of states brings every thread back where it was:
        a thread that moves on it goes round a loop of its program, which
        holds a back edge; a cycle on which no thread moves would be made
        of steps that leave their thread where it was, and queues only
        grow by those (their thread leaves one by moving on), so it holds
        a step of the second kind.  (Kurshan, Levin, Minea, Peled and
        Yenigun, *Static partial order reduction*, TACAS 1998: a transition
        of each cycle of a program is marked, and no ample set holds one;
        the back edges are such a set, and fewer than every way on within
        a loop.)"""
        assert isinstance(actor, int)
        if self._pending is None:
            self._table()
        pc_slot = self._pcs[actor]
        pc = state[pc_slot]
        stays = after[pc_slot] == pc and not self._queueing[actor][pc]
        return stays or self._cyclic[actor][pc]

    def affinity(self) -> Callable[[State], Hashable]:
        """The program counters of the first half of the threads (the
        larger half).  All the program counters decide every thread's
        footprints (but for those a state refines), so states alike in
        them go to one worker, and the workers of a parallel search that
        reduces do not each work out the closed sets of actors
        (``Reduction.closures_of``) of one combination; a step of a thread
        of the other half leaves its successor with the worker that took
        it, which sends it nowhere (on bench/scale's dirops-7 without
        reduction, two workers sent each other 402,000 states instead of
        564,000 with every program counter, for 9% less CPU)."""
        half = self._pcs[: (len(self._pcs) + 1) // 2]
        return itemgetter(*half)

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
        found = []
        for pc_slot, known, resolving in self._pending_rows:
            pc = state[pc_slot]
            if pc == DONE:
                continue
            if resolving is None or not resolving.resolving[pc]:
                found.append(known[pc])
            else:
                found.append(resolving.pending(pc, state))
        return found

    @functools.cached_property
    def _pending_rows(self) -> list[tuple[int, list[Pending], _Resolving | None]]:
        """For each thread, its program counter's slot, its footprints by
        program counter and what finds them state by state (``pending``)."""
        table = self._table()
        return [
            (pc_slot, table[tid], self._resolving[tid]) for tid, pc_slot in enumerate(self._pcs)
        ]

    def stored_by_fingerprint(self, fingerprinted: bool) -> None:
        """Refuse, over fingerprints, an initial state that holds an int
        Python's hash folds (``wide_refused``); the steps refuse to write
        one from then on."""
        self.world.fingerprinted = fingerprinted
        if not fingerprinted:
            return
        for slot, value in enumerate(self.initial):
            if is_wide(value):
                raise wide_refused(value, self.world.slots[slot].name)

    def successors(self, state: State) -> list[tuple[Action, State]]:
        if state[ERROR_SLOT] is not None:
            return []
        found: list[tuple[Action, State]] = []
        if self._landing:
            busy = {state[slot] for _handler, slot in self._landing}
            for tid, outcomes in enumerate(self._thread_outcomes):
                if tid not in busy:
                    found.extend(outcomes(state))
            return found
        for outcomes in self._thread_outcomes:
            found.extend(outcomes(state))
        return found

    def watch(
        self, positions: Iterable[tuple[int, int]], *, taken: bool = False
    ) -> set[tuple[int, int]]:
        """Record which ``positions`` (thread, program counter) the search
        runs the step of, in some state: the set returned fills as it goes
        (the other steps run as they did), and holds at once the positions
        whose steps ran in settling the initial state.  ``taken``: only
        where the step has an outcome (a lock step that waits is not
        taken)."""
        reached: set[tuple[int, int]] = set()
        for tid, pc in positions:
            fire = self._fires[tid][pc]
            at = (tid, pc)
            if at in self._run_at_start:
                reached.add(at)
                continue

            def watched(
                state: State, fire: Fire = fire, at: tuple[int, int] = at
            ) -> tuple[State, ...]:
                outcomes = fire(state)
                if outcomes or not taken:
                    reached.add(at)
                return outcomes

            self._fires[tid][pc] = watched
        return reached

    def every_step(self) -> list[tuple[int, int]]:
        """Every step of every thread, as (thread, program counter)."""
        return [
            (tid, pc) for tid, thread in enumerate(self.threads) for pc in range(len(thread.steps))
        ]

    def successors_of(self, state: State, actor: Hashable) -> list[tuple[Action, State]]:
        """The outcomes of thread ``actor``'s step (``pending`` names threads
        by number), each with the local steps chained to it; none once it
        returned, while an interrupt handler runs over it, or in an error
        state."""
        if not self._may_run(state, actor):
            return []
        assert isinstance(actor, int)
        return self._thread_outcomes[actor](state)

    def surely_enabled(self, state: State, actor: Hashable) -> bool:
        """The thread has not returned, its next step is never blocked
        (``Step.never_blocked``), no interrupt handler runs over it and no
        error ended the run."""
        assert isinstance(actor, int)
        pc = state[self._pcs[actor]]
        return pc != DONE and self._unblocked[actor][pc] and self._may_run(state, actor)

    def _may_run(self, state: State, actor: Hashable) -> bool:
        """No error ended the run and no interrupt handler runs over the
        thread."""
        if state[ERROR_SLOT] is not None:
            return False
        return not self._landing or all(state[slot] != actor for _handler, slot in self._landing)

    @functools.cached_property
    def _thread_outcomes(self) -> list[Callable[[State], list[tuple[Action, State]]]]:
        """For each thread, ``successors_of`` in a state without an error
        where no handler runs over it, made once the steps it chains are
        known."""
        return [self._outcomes_of(tid) for tid in range(len(self.threads))]

    def _outcomes_of(self, actor: int) -> Callable[[State], list[tuple[Action, State]]]:
        """Thread ``actor``'s ``_thread_outcomes``, with what it looks up bound once."""
        pc_slot, fires = self._pcs[actor], self._fires[actor]
        chained = [*self._local[actor], False]
        forgotten, dead, reset, hops_at_most = (
            self._forgotten[actor],
            self._dead[actor],
            self._reset,
            len(self._fires[actor]),
        )

        def outcomes(state: State) -> list[tuple[Action, State]]:
            pc = state[pc_slot]
            if pc == DONE:
                return []
            found = []
            for branch, after in enumerate(fires[pc](state)):
                pc = after[pc_slot]
                hops = hops_at_most
                while chained[pc] and after[ERROR_SLOT] is None and hops:
                    after = fires[pc](after)[0]
                    pc = after[pc_slot]
                    hops -= 1
                if pc == DONE:
                    if forgotten:
                        after = reset(after, forgotten)
                elif dead[pc]:
                    after = reset(after, dead[pc])
                found.append(((actor, branch), after))
            return found

        return outcomes

    def interrupted(self, state: State) -> dict[int, int]:
        """Each thread an interrupt handler runs over in ``state``, with the
        handler (it makes no progress until the handler returns)."""
        if not self._landing:
            return {}
        found = {}
        for handler, slot in self._landing:
            cpu = state[slot]
            if cpu is not None and cpu >= 0:
                found[cpu] = handler
        return found

    def _settle(
        self,
        state: State,
        tid: int,
        *,
        starting: bool = False,
        passed: set[tuple[int, int]] | None = None,
    ) -> State:
        """Run thread ``tid``'s local steps from ``state`` on (and forget its
        registers if it returns, as ``_thread_outcomes`` does); ``starting`` as
        ``_chain``.  ``passed`` gains the position of each step run."""
        chain = self._chain(state, tid, starting=starting)
        if passed is not None:
            passed.update((tid, passing[self._pcs[tid]]) for passing in chain[:-1])
        settled = chain[-1]
        pc = settled[self._pcs[tid]]
        if pc == DONE:
            return self._forget(settled, tid) if self._forgotten[tid] else settled
        return self._reset(settled, self._dead[tid][pc])

    def _chain(self, state: State, tid: int, *, starting: bool = False) -> list[State]:
        """The states thread ``tid``'s local steps pass through from ``state``
        (``state`` first): at most as many as the thread has steps, so a
        loop of local steps alone stops where it would come round again
        (the state there is stored, and the loop is a cycle of the graph,
        which ``livelock`` sees), as ``_thread_outcomes`` chains them.  As the
        thread ``starting`` (the initial state), they stop before a step
        that records an error, which then is the first step of a trace
        rather than a fact of the initial state."""
        pc_slot, fires, local = self._pcs[tid], self._fires[tid], self._local[tid]
        states = [state]
        pc = state[pc_slot]
        while pc != DONE and local[pc] and state[ERROR_SLOT] is None and len(states) <= len(fires):
            after = fires[pc](state)[0]
            if starting and after[ERROR_SLOT] is not None:
                break
            state = after
            states.append(state)
            pc = state[pc_slot]
        return states

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
        interrupted = self.interrupted(state)
        for tid in range(len(self.threads)):
            current = self.current_step(state, tid)
            if current is None:
                continue
            if tid in interrupted:
                handler = names[interrupted[tid]]
                edges.append(Edge(names[tid], INTERRUPTED_CPU, handler))
                continue
            wait = current.step.waiting(current.context, state)
            if wait is None:
                edges.append(Edge(names[tid], "something that never happens", names[tid]))
                continue
            for h in wait.holders:
                takers = self._takers(state, wait.resource) if h == locks.HANDED_OFF else ()
                edges.extend(Edge(names[tid], wait.resource, taker, held=False) for taker in takers)
                if not takers:
                    edges.append(
                        Edge(
                            names[tid],
                            wait.resource,
                            locks.thread_name(names, h),
                            queued=h in wait.queued,
                            held=wait.held,
                        )
                    )
        return edges

    def _taking_over(self, state: State, resource: str) -> str:
        """Who could end a wait for ``resource``, handed off: the threads
        left to run that take it over, or that none does."""
        takers = self._takers(state, resource)
        if not takers:
            return "nobody left to run (a hand-off no thread takes over)"
        return f"{', '.join(takers)} (taking over its hand-off)"

    def _takers(self, state: State, resource: str) -> list[str]:
        """The threads left to run that take over lock ``resource`` when it
        is handed off (a thaw after a freeze): those that could end a
        wait for it."""
        found = []
        for thread, pc_slot in zip(self.threads, self._pcs, strict=True):
            pc = state[pc_slot]
            if pc == DONE:
                continue
            for compiled in thread.steps[pc:]:
                step = compiled.step
                if isinstance(step, HandOffStep) and step.take:
                    lock = step.lock.compile(self.world)(state)
                    if lock is not None and lock.name == resource:
                        found.append(thread.name)
                        break
        return found

    def deadlock_cycle(self, state: State) -> list[Edge]:
        """A cycle of the waits-for graph, or every edge if there is none;
        a thread that took a sleeping lock it holds is a cycle of its own."""
        error = state[ERROR_SLOT]
        if error is not None and len(error) == 4:
            _prop, _message, thread, lock = error
            return [Edge(thread, lock, thread)]
        edges = self.waits_for(state)
        by_waiter: dict[str, list[Edge]] = {}
        for edge in edges:
            by_waiter.setdefault(edge.waiter, []).append(edge)
        for start in by_waiter:
            cycle = _cycle_through(by_waiter, start, [], {start: 0}, set())
            if cycle is not None:
                return cycle
        return edges

    def explain_deadlock(self, state: State) -> str | None:
        """None unless ``state`` is a deadlock, else the waits-for cycle (a
        thread that took a sleeping lock it holds waits for itself; that is
        a lock-protocol error too)."""
        error = state[ERROR_SLOT]
        if error is not None and len(error) == 4:
            _prop, _message, thread, lock = error
            return (
                f"{thread} waits for {lock} held by {thread}: it took a lock it holds "
                "(also a lock-protocol error)"
            )
        if error is not None or self.finished(state):
            return None
        returned = {
            thread.name
            for thread, pc in zip(self.threads, self._pcs, strict=True)
            if state[pc] == DONE
        }
        cycle = self.deadlock_cycle(state)
        stuck = [] if closes_cycle(cycle) else self._unended_waits(state)
        why = functools.partial(self._why_unended, state, returned=returned)
        return "; ".join(stuck + waits_text(cycle, why))

    def _why_unended(self, state: State, edge: Edge, *, returned: set[str]) -> str:
        """What keeps ``edge``'s wait from ending, when it is plain: its
        holder returned, or no thread left to run takes over the lock
        handed off (a freeze no thaw follows)."""
        if edge.holder in returned:
            return ", which has returned: nothing ends the wait"
        if edge.holder != HANDED_OFF_HOLDER or self._takers(state, edge.resource):
            return ""
        return " (and no thread left to run will: a freeze with no thaw after it?)"

    def explain_livelock(self, state: State) -> str:
        """What the threads do in ``state``, from which no interleaving
        reaches a state where no thread can move: the steps of those that
        can only go round, and who waits for whom among the others."""
        names = self.world.thread_names
        moving = self._moving(state)
        going = ", ".join(
            f"{names[tid]} at '{self.threads[tid].steps[state[self._pcs[tid]]].step.label}'"
            for tid in moving
        )
        waits = waits_text(self.stuck_waits(state, moving), lambda _edge: "")
        return "; ".join([f"{going} can only go round, never returning", *waits])

    def stuck_waits(self, state: State, moving: list[int] | None = None) -> list[Edge]:
        """Who waits for whom among the threads that cannot move in
        ``state`` while others (``moving``, by number) can, after what
        those spin on (a trylock retried in a loop, ``Step.spinning``):
        the waits a livelock's chart draws."""
        names = self.world.thread_names
        moving = self._moving(state) if moving is None else moving
        going = {names[tid] for tid in moving}
        spins: list[Edge] = []
        for tid in moving:
            current = self.current_step(state, tid)
            wait = None if current is None else current.step.spinning(current.context, state)
            if wait is not None:
                spins.extend(
                    Edge(names[tid], wait.resource, locks.thread_name(names, h), spinning=True)
                    for h in wait.holders
                )
        return spins + [edge for edge in self.waits_for(state) if edge.waiter not in going]

    def _moving(self, state: State) -> list[int]:
        """The threads that have a step enabled in ``state``."""
        return [tid for tid in range(len(self.threads)) if self.successors_of(state, tid)]

    def may_cycle(self) -> bool:
        """Whether some thread's program has a loop: only then may a state
        come back (a thread otherwise only moves forward or joins a lock's
        queue, which it leaves by moving forward; see ``may_close_cycle``)."""
        self._table()
        return any(any(cyclic) for cyclic in self._cyclic)

    def refuse_scenario_lacks(self, state: State) -> None:
        """``ScenarioLacks`` when a blocked thread of ``state`` waits for
        what only a thread the scenario lacks could end."""
        self._unended_waits(state)

    def _unended_waits(self, state: State) -> list[str]:
        """The waits of blocked threads that no thread could end (no holder):
        where a deadlock without a cycle starts."""
        found = []
        interrupted = self.interrupted(state)
        for tid, thread in enumerate(self.threads):
            current = self.current_step(state, tid)
            if current is None or tid in interrupted:
                continue
            wait = current.step.waiting(current.context, state)
            if wait is not None and wait.lost:
                found.append(f"{thread.name} {lost_wakeup(wait)}")
            elif wait is not None and not wait.holders:
                unended = f"{thread.name} waits for {wait.resource}, which no thread could end"
                if wait.unheld:
                    raise ScenarioLacks(
                        f"{unended}: {wait.unheld} (without it the scenario deadlocks whatever "
                        "the protocol)"
                    )
                found.append(unended)
        return found

    def blocked_steps(self, state: State) -> list[TraceStep]:
        """The step each thread that has not returned would take next in
        ``state`` but cannot, with what it waits for and who could end the
        wait (a condition no thread holds is not said to be one nobody could
        end while some thread can still move: a livelock's last state)."""
        if state[ERROR_SLOT] is not None:
            return []
        found = []
        names = self.world.thread_names
        interrupted = self.interrupted(state)
        currents = [self.current_step(state, tid) for tid in range(len(self.threads))]
        moving = {
            tid
            for tid, current in enumerate(currents)
            if current is not None and tid not in interrupted and current.fire(state)
        }
        for tid, thread in enumerate(self.threads):
            current = currents[tid]
            if current is None or tid in moving:
                continue
            wait = current.step.waiting(current.context, state)
            if tid in interrupted:
                handler = names[interrupted[tid]]
                text = f"is interrupted: waits for {handler}'s handler to return on its CPU"
                wait = Wait(INTERRUPTED_CPU, (interrupted[tid],))
            elif wait is None:
                text = "waits for something that never happens"
            elif wait.lost:
                text = lost_wakeup(wait)
            elif not wait.holders and moving:
                text = f"waits for {wait.resource}"
            else:
                others = [h for h in wait.holders if h != tid] or list(wait.holders)
                holding = [h for h in others if h not in wait.queued] or others
                who = (
                    ", ".join(
                        self._taking_over(state, wait.resource)
                        if h == locks.HANDED_OFF
                        else names[h]
                        for h in holding
                    )
                    or "nobody"
                )
                text = f"waits for {wait.resource}, which {who} could end"
                ahead = [names[h] for h in others if h not in holding]
                if ahead:
                    text += f" (behind {', '.join(ahead)}, queued for it first)"
            found.append(
                TraceStep(
                    thread=thread.name,
                    branch=0,
                    chained=False,
                    operation=str(thread.invocation),
                    label=current.step.label,
                    event=Event("wait", text, wait.resource if wait else None),
                    source=str(current.step.source),
                    function=current.step.source.function,
                    changed={},
                )
            )
        return found

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

    def positions(self, before: State, action: Action) -> list[int]:
        """The program counters of the steps ``action`` takes from
        ``before`` (``records``' steps): its thread's step, then the local
        steps run along with it."""
        tid, branch = action
        current = self.current_step(before, tid)
        assert current is not None
        pc_slot = self._pcs[tid]
        chain = self._chain(current.fire(before)[branch], tid)
        return [before[pc_slot], *(state[pc_slot] for state in chain[:-1])]

    def started_records(self) -> list[TraceStep]:
        """Describe the local steps each thread runs as it starts, which
        the initial state holds the effects of (``records`` of no action)."""
        state = self.world.initial_state()
        found = []
        for tid in range(len(self.threads)):
            chain = self._chain(state, tid, starting=True)
            found += [
                self._record(tid, 0, a, b, chained=False) for a, b in itertools.pairwise(chain)
            ]
            state = chain[-1]
        return found

    def started_positions(self) -> list[tuple[str, int]]:
        """The thread and program counter of each of ``started_records``."""
        state = self.world.initial_state()
        found = []
        for tid, thread in enumerate(self.threads):
            chain = self._chain(state, tid, starting=True)
            found += [(thread.name, before[self._pcs[tid]]) for before in chain[:-1]]
            state = chain[-1]
        return found

    def step(self, state: State, action: Action) -> State | None:
        """The state ``action`` leads to (local steps included), or None
        when the thread cannot take that outcome now."""
        tid, branch = action
        current = self.current_step(state, tid)
        if current is None or state[ERROR_SLOT] is not None or tid in self.interrupted(state):
            return None
        outcomes = current.fire(state)
        return self._settle(outcomes[branch], tid) if branch < len(outcomes) else None

    def _record(
        self, tid: int, branch: int, before: State, after: State, *, chained: bool
    ) -> TraceStep:
        thread = self.threads[tid]
        current = self.current_step(before, tid)
        assert current is not None
        step = current.step
        result = (
            step.result if isinstance(step, EffectStep) and not isinstance(step, CallStep) else None
        )
        changed = {
            slot.name: slot.render(after[i])
            for i, slot in enumerate(self.world.slots)
            if (before[i] != after[i] or i == result) and not slot.hidden
        }
        rewritten = (
            frozenset({self.world.slots[result].name}) & changed.keys()
            if result is not None and before[result] == after[result]
            else frozenset()
        )
        return TraceStep(
            thread=thread.name,
            branch=branch,
            chained=chained,
            operation=str(thread.invocation),
            label=step.label,
            event=step.event(current.context, before, after),
            source=str(step.source),
            function=step.source.function,
            changed=changed,
            rewritten=rewritten,
        )

    def statistics(self, states: Sequence[State]) -> dict[str, int]:
        """Symbolic states and solver calls, when the scenario has symbols;
        the address orders explored, when it compares addresses."""
        found: dict[str, int] = {}
        for name in ("symbolic", "addresses"):
            part = self.world.parts.get(name)
            if part is not None:
                found.update(part.statistics(states))
        return found

    def combine_statistics(self, parts: Sequence[dict[str, int]]) -> dict[str, int]:
        """Symbolic states and solver calls (every worker's solver) add up;
        the address orders explored do not (two workers may meet one), and
        are left out."""
        combined = super().combine_statistics(parts)
        combined.pop("address_orders", None)
        return combined

    def witness(self, state: State) -> dict[str, int]:
        """Concrete values of the scenario's symbolic arguments under which
        ``state`` is reached (empty when it has none)."""
        part = self.world.parts.get("symbolic")
        return {} if part is None else dict(part.witness(state))

    def witness_problem(self, witness: dict[str, object]) -> str | None:
        """What makes a counterexample's ``witness`` none of this
        scenario's (``SymbolicPart.witness_problem``; an empty one gives its
        symbolic arguments no value), or None."""
        part = self.world.parts.get("symbolic")
        if part is None:
            return (
                "it has a witness, but the scenario has no symbolic arguments" if witness else None
            )
        problem = part.witness_problem(witness)
        return None if problem is None else str(problem)

    def check_witness(self, state: State, witness: dict[str, object]) -> str | None:
        """None when ``witness`` satisfies the path condition of ``state``,
        else what does not hold."""
        part = self.world.parts.get("symbolic")
        if part is None:
            return "the scenario has no symbolic arguments" if witness else None
        message = part.check_witness(state, witness)
        return None if message is None else str(message)

    def addresses(self, state: State) -> str:
        """The address order ``state`` holds (empty when the scenario
        compares no addresses or has not yet)."""
        part = self.world.parts.get("addresses")
        if part is None or not state[part.slot]:
            return ""
        return str(part.render(state[part.slot]))

    def render_state(self, state: State) -> dict[str, str]:
        """Every visible field of ``state``, rendered."""
        return {
            slot.name: slot.render(state[i])
            for i, slot in enumerate(self.world.slots)
            if not slot.hidden
        }


@declare(
    LOCK_PROTOCOL,
    "no unlock of a lock not held, no return with a lock held, no re-acquiring a held lock "
    "(a trylock of one fails), no sleeping while holding a spinlock or in interrupt context",
    reads=["error"],
)
def lock_protocol(model: KernelModel) -> Check[State]:
    return lambda state: reported_error(state, LOCK_PROTOCOL)


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


@declare(
    "deadlock",
    "no state where some thread has not returned and none can move (reported with the "
    "waits-for cycle)",
    PropertyKind.DEADLOCK_FREE,
    reads=[],
)
def deadlock(model: KernelModel) -> Check[State]:
    return model.explain_deadlock


@declare(
    "completes",
    "some interleaving lets every thread return (the scenario is not vacuous)",
    PropertyKind.SOMETIMES,
    reads=[],
    terminal=True,
)
def completes(model: KernelModel) -> Check[State]:
    def reached(state: State) -> str | None:
        if state[ERROR_SLOT] is not None:
            return None
        if model.finished(state):
            return "every thread returned"
        model.refuse_scenario_lacks(state)
        return None

    return reached


@declare(
    "livelock",
    "from every state some interleaving still reaches a state where no thread can move (every "
    "thread returned, or a deadlock): no thread spins forever in a loop no other thread can "
    "break (a livelock, or a deadlock through a trylock retried in a loop)",
    PropertyKind.CAN_END,
    reads=[],
)
def livelock(model: KernelModel) -> Check[State]:
    return model.explain_livelock


BASE = (lock_protocol, deadlock, completes, livelock)
"""The properties every kernel model can check, spec-conformance aside."""


class Reading(tuple):  # type: ignore[type-arg]
    """A state that notes the slots read from it by index, as a mask in
    ``Reading.read`` (which the reader resets)."""

    read: ClassVar[int] = 0

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int):
            Reading.read |= 1 << index
        return tuple.__getitem__(self, index)


class _Resolving:
    """One thread's footprints refined by the state (``Step.resolver``).

    A step's resolver is asked on the state the thread is in, and its answer
    stands for the step's future runs from there as long as it read
    nothing but the thread's registers and none of those it read is
    written by a step the thread may still take: the step will then find
    the values it found now.  The step about to run always finds them.
    The answers are kept by program counter and the values of the
    thread's registers."""

    def __init__(
        self,
        tid: int,
        regions: Regions,
        own: Sequence[Footprint],
        extras: Sequence[Footprint],
        chain: Sequence[tuple[int, ...]],
        reach: Reach,
        resolvers: Sequence[Resolver | None],
        tokens: tuple[Sequence[int], Sequence[int]],
    ) -> None:
        self.tid = tid
        self.registers = regions.registers
        slots = list(_members(self.registers))
        getter = itemgetter(*slots) if slots else (lambda _state: ())
        self.values: Callable[[State], Any] = getter
        self.own = own
        self.extras = extras
        self.resolvers = resolvers
        writes = [footprint.writes & self.registers for footprint in own]
        self.following = [
            _union_footprints(own[at] for at in steps if at != pc) for pc, steps in enumerate(chain)
        ]
        """The footprint of the local steps chained to each program
        counter's step."""
        self.reach = reach.steps()
        """The steps the thread may take from each program counter, as a mask."""
        self.written = reach.union(writes)
        self.resolving = reach.union([int(r is not None) << at for at, r in enumerate(resolvers)])
        """The steps with a resolver the thread may take from each program
        counter, as a mask."""
        self.guards, self.blocks = tokens
        self.fixed, self.guarded = guarded_parts(
            [Footprint() if r is not None else f for f, r in zip(own, resolvers, strict=True)],
            self.guards,
            reach.footprints,
        )
        """The footprint of the steps without a resolver the thread may
        take from each program counter, those it takes holding no lock
        (``mc.dsl.guards``) and those it takes holding some, by guard."""
        self.answers: dict[tuple[int, Any], Pending] = {}
        self.step_bits = len(resolvers).bit_length()
        self.numbered: dict[Any, int] = {}
        """Each combination of the registers' values met, numbered."""
        self.asked: dict[int, tuple[Footprint | None, int]] = {}
        """Each resolver's answer by its step and the number of the
        registers' values (``_number``): a resolver that reads nothing else
        finds the same on the same values, and one that does is not used
        either way."""
        self.predicted: dict[int, Any] = {}
        """Registers whose one writer is known to write a value known
        before the program runs (``_predicted``), with that value."""

    def pending(self, pc: int, state: State) -> Pending:
        """What the thread at ``pc`` may still do from ``state``."""
        registers = self.values(state)
        key = (pc, registers)
        found = self.answers.get(key)
        if found is None:
            found = self.answers[key] = self._resolve(pc, state, registers)
        return found

    def _number(self, registers: Any) -> int:
        """The number of a combination of the registers' values."""
        return self.numbered.setdefault(registers, len(self.numbered))

    def _resolve(self, pc: int, state: State, registers: Any) -> Pending:
        written = self.written[pc]
        ahead = [register for register in self.predicted if written >> register & 1]
        changing = written & ~slot_mask(ahead)
        valuations = [(Reading(state), self._number(registers))]
        for count in range(1, len(ahead) + 1):
            for chosen in itertools.combinations(ahead, count):
                values = list(state)
                for register in chosen:
                    values[register] = self.predicted[register]
                valuations.append((Reading(values), self._number(self.values(tuple(values)))))
        fixed = self.fixed[pc]
        reads, writes = fixed.reads, fixed.writes
        resolved: dict[int, Footprint] = {}
        now = self.own[pc]
        for at in _members(self.resolving[pc]):
            resolver = self.resolvers[at]
            assert resolver is not None
            asked = [self._ask(at, resolver, *valuation) for valuation in valuations]
            current = asked[0][0]
            if at == pc and current is not None:
                now = current | self.extras[at]
            footprint = self.own[at]
            known = [answer for answer, read in asked if answer is not None]
            if len(known) == len(asked) and not any(read & changing for _, read in asked):
                footprint = _union_footprints(known) | self.extras[at]
            guard = self.guards[at]
            if guard:
                resolved[guard] = resolved.get(guard, Footprint()) | footprint
            else:
                reads |= footprint.reads
                writes |= footprint.writes
        unguarded = Footprint(reads, writes)
        parts = self.guarded[pc]
        if resolved:
            for guard, part in parts:
                resolved[guard] = resolved.get(guard, Footprint()) | part
            parts = tuple(sorted(resolved.items(), key=itemgetter(0)))
        rest = _union_footprints([unguarded, *(part for _guard, part in parts)])
        return Pending(
            self.tid,
            now | self.following[pc],
            rest,
            self.blocks[pc],
            parts,
            unguarded if parts else None,
        )

    def _ask(
        self, at: int, resolver: Resolver, state: Reading, registers: int
    ) -> tuple[Footprint | None, int]:
        """The answer of step ``at``'s resolver on ``state``, whose
        registers have the values numbered ``registers``, if it read
        nothing but registers (else None), with the slots it read."""
        key = registers << self.step_bits | at
        found = self.asked.get(key)
        if found is None:
            Reading.read = 0
            answer = resolver(state)
            read = Reading.read
            found = self.asked[key] = (None if read & ~self.registers else answer), read
        return found


def _predicted(
    thread: Thread, regions: Regions, resolving: _Resolving, others: int, initial: State
) -> dict[int, Any]:
    """The registers of ``thread`` whose value is known before the program
    runs: those only one step writes, an assignment of a name
    (``op.lookup``) that no other thread writes and that the thread
    writes only where it cannot come back to the assignment.  The name
    holds its initial value until then, and so does the register after."""
    found: dict[int, Any] = {}
    own, reach = resolving.own, resolving.reach
    registers = slot_mask(thread.registers)
    once = twice = 0
    for footprint in own:
        written = footprint.writes & registers
        twice |= once & written
        once |= written
    for register in _members(once & ~twice):
        writers = [at for at, footprint in enumerate(own) if footprint.writes >> register & 1]
        step = thread.steps[writers[0]].step
        if not isinstance(step, EffectStep) or step.effect is not assigned:
            continue
        value = step.args[0] if len(step.args) == 1 else None
        name = value.held_in if isinstance(value, InodeExpr) else None
        if name is None or not regions.names >> name & 1 or others >> name & 1:
            continue
        if any(own[at].writes >> name & 1 for at in range(len(own)) if reach[at] >> writers[0] & 1):
            continue
        found[register] = initial[name]
    return found


def _reached(
    start: int, after: Sequence[tuple[int, ...]], through: Callable[[int], bool]
) -> tuple[int, ...]:
    """Step ``start`` and every step reached from it through steps
    ``through`` accepts."""
    seen = {start}
    todo = [start]
    while todo:
        for pc in after[todo.pop()]:
            if pc not in seen and through(pc):
                seen.add(pc)
                todo.append(pc)
    return tuple(sorted(seen))


class Reach:
    """Which steps of a thread each step leads to (itself included), from
    the steps each one may go to next (``after``): the strongly connected
    components of that graph (Tarjan's algorithm, which gives each one
    after every component it leads to), so that anything summed over
    the steps reached is summed once a component."""

    def __init__(self, after: Sequence[tuple[int, ...]]) -> None:
        self.after = after
        self.components: list[list[int]] = []
        """The components, each after every component it leads to."""
        self.where: dict[int, int] = {}
        """Each step's component, by its position in ``components``."""
        index: dict[int, int] = {}
        low: dict[int, int] = {}
        stack: list[int] = []
        on_stack: set[int] = set()
        for root in range(len(after)):
            if root in index:
                continue
            work = [(root, 0)]
            while work:
                node, next_edge = work.pop()
                if next_edge == 0:
                    index[node] = low[node] = len(index)
                    stack.append(node)
                    on_stack.add(node)
                edges = after[node]
                while next_edge < len(edges):
                    target = edges[next_edge]
                    next_edge += 1
                    if target not in index:
                        work.append((node, next_edge))
                        work.append((target, 0))
                        break
                    if target in on_stack:
                        low[node] = min(low[node], index[target])
                else:
                    if low[node] == index[node]:
                        component = []
                        while True:
                            member = stack.pop()
                            on_stack.discard(member)
                            component.append(member)
                            if member == node:
                                break
                        for member in component:
                            self.where[member] = len(self.components)
                        self.components.append(component)
                    if work:
                        parent = work[-1][0]
                        low[parent] = min(low[parent], low[node])

    def loops(self, steps: Sequence[int]) -> bool:
        """Whether a way on from one of ``steps`` is a back edge of a
        depth-first search of the steps from the first (``back_edges``):
        every loop of the program holds one, and a way on that leaves its
        loop for good, or goes round to the loop's back edge, is none."""
        back = self.back_edges
        return any((step, target) in back for step in steps for target in self.after[step])

    @functools.cached_property
    def back_edges(self) -> frozenset[tuple[int, int]]:
        """The ways on, (step, next step), that go back to a step on the
        path a depth-first search from the first step took to reach them:
        every cycle of the graph holds one (its first step the search
        reached is an ancestor of every other one of its steps)."""
        after = self.after
        colour = [0] * len(after)
        back: set[tuple[int, int]] = set()
        for root in range(len(after)):
            if colour[root]:
                continue
            colour[root] = 1
            path = [(root, iter(after[root]))]
            while path:
                node, ways = path[-1]
                for target in ways:
                    if colour[target] == 1:
                        back.add((node, target))
                    elif colour[target] == 0:
                        colour[target] = 1
                        path.append((target, iter(after[target])))
                        break
                else:
                    colour[node] = 2
                    path.pop()
        return frozenset(back)

    def union(self, values: Sequence[int]) -> list[int]:
        """For each step, the union of ``values`` (masks, one a step) over
        the steps it leads to."""
        total = [0] * len(values)
        after = self.after
        for component in self.components:
            mask = 0
            for node in component:
                mask |= values[node]
                for target in after[node]:
                    mask |= total[target]
            for node in component:
                total[node] = mask
        return total

    def footprints(self, footprints: Sequence[Footprint]) -> list[Footprint]:
        """For each step, the union of ``footprints`` (one a step) over the
        steps it leads to."""
        reads = self.union([footprint.reads for footprint in footprints])
        writes = self.union([footprint.writes for footprint in footprints])
        return [Footprint(read, write) for read, write in zip(reads, writes, strict=True)]

    def steps(self) -> list[int]:
        """For each step, the mask of the steps it leads to."""
        return self.union([1 << pc for pc in range(len(self.after))])


def _members(mask: int) -> Iterator[int]:
    """The positions of the bits set in ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _matching(masks: dict[str, int], pattern: str) -> int:
    """The union of the masks whose names ``pattern`` is or matches."""
    found = masks.get(pattern, 0)
    for name in fnmatch.filter(masks, pattern):
        found |= masks[name]
    return found


def _union(masks: Iterable[int]) -> int:
    total = 0
    for mask in masks:
        total |= mask
    return total


def _union_footprints(footprints: Iterable[Footprint]) -> Footprint:
    reads = writes = 0
    for footprint in footprints:
        reads |= footprint.reads
        writes |= footprint.writes
    return Footprint(reads, writes)


def transformed(
    transform: Callable[[Program, Invocation], Program],
    program: Program,
    invocation: Invocation,
    name: str,
) -> Program:
    """``transform`` applied to thread ``name``'s ``program``: a label it
    looks for and does not find is named with the thread, and a result
    that is no Program, or a program left without steps, is a model error
    at the transform."""
    try:
        result = transform(program, invocation)
    except ValueError as error:
        if error.args and isinstance(error.args[0], str):
            guard = (
                "; a transform is given every thread's program: where this thread does not "
                "run the operation with that step, test invocation.runs(operation) first"
                if error.args[0].startswith("no step is labelled")
                else ""
            )
            error.args = (f"{error.args[0]} in {name}'s program ({invocation}{guard})",)
        raise
    if not isinstance(result, Program):
        raise LocatedModelError(
            f"{defined_at(transform)}: a variant's transform returned "
            f"{shown_briefly(result)}, not a Program (return the program, changed or not)"
        )
    if program.steps and not result.steps:
        raise LocatedModelError(
            f"{defined_at(transform)}: a variant's transform left {name} "
            f"({invocation}) with no steps: a thread that does nothing checks nothing "
            "(leave it out of the scenario instead)"
        )
    return result


def build_threads(
    world: World,
    invocations: Sequence[Invocation],
    variants: frozenset[str],
    transforms: Sequence[Callable[[Program, Invocation], Program]],
    bodies: Mapping[Operation, Callable[..., None]] | None = None,
) -> list[Thread]:
    """Build, transform and compile each invocation's program; ``bodies``
    replace the bodies of operations wherever they run."""
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
        asked: set[str] = set()
        op = Op(world, slots, _Asked(variants, asked), bodies or {})
        op.invocation = invocation
        op.run_body(invocation.operation, *invocation.args)
        program = op.program()
        invocation = attrs.evolve(invocation, ran=frozenset(op.ran))
        changed_by = []
        for transform in transforms:
            before, program = program, transformed(transform, program, invocation, name)
            if differ(before, program):
                changed_by.append(transform)
        replaced = frozenset(operation.name for operation in op.replaced)
        built.append(
            (
                slots,
                invocation,
                program,
                tuple(changed_by),
                frozenset(asked),
                replaced,
                op.register_slots,
                frozenset(op.ran),
            )
        )
    part = interrupts_of(world)
    if part is not None:
        handlers = set(part.landing)
        families: set[str] = set()
        for entry in built:
            if entry[0].tid in handlers:
                families |= handler_families(entry[2].steps)
        part.add_threads(entry[0].tid for entry in built)
        built = [
            (
                entry[0],
                entry[1],
                entry[2]
                if entry[0].tid in handlers
                else entry[2].replace_steps(
                    lambda step: split_unsafe_sections(step, families, world)
                ),
                *entry[3:],
            )
            for entry in built
        ]
        programs = {entry[0].tid: entry[2].steps for entry in built if entry[0].tid not in handlers}
        part.refuse_unpaired_irqs(programs)
        part.note_landable(programs)
    threads = [
        Thread(
            slots,
            invocation,
            program,
            tuple(compile_program(program, world, slots)),
            changed_by,
            asked,
            replaced,
            registers,
            ran,
        )
        for slots, invocation, program, changed_by, asked, replaced, registers, ran in built
    ]
    for thread in threads:
        world.initial[thread.slots.pc] = thread.program.entry()
    for check in world.scenario_checks:
        lacking = check(world)
        if lacking:
            raise ModelError(lacking)
    return threads


class _Asked(frozenset[str]):
    """The variant names of a build, noting each name asked about."""

    asked: set[str]

    def __new__(cls, names: frozenset[str], asked: set[str]) -> _Asked:
        made = super().__new__(cls, names)
        made.asked = asked
        return made

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return super().__contains__(name)


def differ(before: Program, after: Program) -> bool:
    """Whether a transform changed a program: any item added, removed or
    replaced (unchanged items are the same objects)."""
    return len(before.items) != len(after.items) or any(
        a is not b for a, b in zip(before.items, after.items, strict=True)
    )


def lost_wakeup(wait: Wait) -> str:
    """What a thread waits for when no thread holds what it waited for any
    more and only a holder's wake-up would end the wait."""
    return (
        f"waits for a wake-up that never comes: no thread holds {wait.resource} any more "
        "(a lost wake-up)"
    )


def _watched(properties: Sequence[Property[State]]) -> int | None:
    """The slots the properties checked on every state read, or None when
    one does not say (it may read any, ``turned_off_by``)."""
    if turned_off_by(properties):
        return None
    return _union(prop.reads or 0 for prop in properties if prop.on_every_state)


def _by_number(step: Step) -> bool:
    """Whether ``step`` runs an effect that does not say what it reads,
    which may read any slot by number."""
    return isinstance(step, EffectStep) and step.kind != "assign" and step.touches is None
