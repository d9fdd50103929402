"""Which threads of a built scenario are interchangeable, and the
representative of a state under their permutations (for
``mc.engine.symmetry``; ``vfsmc check --symmetry``).

Two threads are interchangeable when they run the same operation with the
same arguments, built alike (the same variant transforms, variants asked
about and replaced bodies), and the second's program is the first's with
the first thread's private slots and name renamed to its own (``alike``:
a write that stores its own data version is not the same program as
another write of the page).  A program that holds its thread's number as
a constant (``op.thread.tid`` given to a step) is the same as no other
thread's: the number could be stored anywhere in data, where no
permutation renames it; a step that needs the number of the thread
running it reads ``scratch.tid``, which names the thread in lock values
only in the shipped models.  A thread that allocates an object
of its own (a create's new inode) is interchangeable with none: swapping
it would mean swapping the objects too, which is not done.

A permutation of interchangeable threads moves their private slots
(program counter, return value, registers, and where there are interrupt
handlers the thread's count of locks held with interrupts off and, for a
handler, where it runs) and renames them wherever the state names
threads: by number in lock values (holders, queued writers, RCU readers;
a page's lock bit names the thread that added the folio; a handler's CPU
names the thread it interrupted),
by name in data (a file lock's owner, ``T1:fd``) and in other threads'
registers.
The representative is restricted to what is sound without renaming: among
the interchangeable threads the state names nowhere (no lock value holds
or queues them, no slot holds their name), the private slots are sorted;
the others stay where they are.  The permutation applied is then a true
symmetry of the state, so the representative is in the state's orbit,
which is all soundness needs (Ip and Dill, *Better verification through
symmetry*, 1996: a normalisation need not be canonical; a thread a lock
names is left in place, which loses reduction, not states).  A state with
a recorded error (its message names a thread) is its own representative.
The restriction rests on thread numbers being stored only in lock values
(``mc.kernel.locks``), which tests/test_symmetry.py checks on the shipped
scenarios with interchangeable threads: every representative of every
reachable state is reachable.

What is not known here is whether the checked properties are symmetric:
one that looks at one thread of a group and not at the other (the second
walker's return value, say) would see a permuted state differently.
Emerson and Sistla (*Symmetry and model checking*, 1996) make the
reduction exact for properties invariant under the permutations; that is a
claim about each property.  The shipped properties make it (those that
read threads' registers or returns read every thread's; tests compare the
verdicts with and without symmetry); a model's own property that reads a
grouped thread's registers or return is refused (``telling_apart``), as
its test may look at one thread alone, which no declaration shows.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType, MethodType
from typing import Any

import attrs

from mc.dsl.interrupts import Interrupts, interrupts_of
from mc.dsl.kernel_model import Action, KernelModel, Thread
from mc.kernel import locks
from mc.kernel.expr import State
from mc.kernel.world import ERROR_SLOT

Representative = Callable[[State], tuple[State, tuple[int, ...]]]


def interchangeable(model: KernelModel) -> list[list[int]]:
    """The groups (two threads or more) of interchangeable threads: each
    thread's program equals the first one's of its group once the first
    thread's private slots and name are renamed to its own
    (``alike``), and no other thread reads a register of one of them
    (``op.published``, a ``touches`` declaration): a program that reads
    T1's register and not T2's tells them apart."""
    creators = {made[0] for made in model.world.creators.values()}
    slot_names = [slot.name for slot in model.world.slots]
    candidates: dict[object, list[int]] = {}
    for tid, thread in enumerate(model.threads):
        if thread.name in creators:
            continue
        registers = tuple(
            slot_names[slot].removeprefix(f"{thread.name}.") for slot in sorted(thread.registers)
        )
        key = (
            thread.invocation,
            tuple(id(transform) for transform in thread.changed_by),
            thread.asked,
            thread.replaced,
            registers,
        )
        candidates.setdefault(key, []).append(tid)
    groups = []
    for members in candidates.values():
        first = model.threads[members[0]]
        group = [members[0]]
        for tid in members[1:]:
            other = model.threads[tid]
            if alike(first.program, other.program, _renaming(first, other)):
                group.append(tid)
        if len(group) > 1 and not _read_from_outside(model, group):
            groups.append(group)
    return groups


def why_none(model: KernelModel) -> str:
    """Why ``interchangeable`` finds no group in ``model``: the nearest a
    pair of threads came, in words."""
    threads = model.threads
    by_invocation: dict[object, list[int]] = {}
    for tid, thread in enumerate(threads):
        by_invocation.setdefault(thread.invocation, []).append(tid)
    pairs = [members[:2] for members in by_invocation.values() if len(members) > 1]
    if not pairs:
        return (
            "no two threads run one operation with the same arguments, which name what a "
            "thread works on"
        )
    first, second = (threads[tid] for tid in pairs[0])
    if not alike(first.program, second.program, _renaming(first, second)):
        return (
            f"{first.name} and {second.name} run {first.invocation}, but their programs differ "
            "once each one's own registers are renamed: a slot or lock named after the thread, "
            "or a step that asks which thread it is, tells them apart"
        )
    return f"another thread reads a register of {first.name} or {second.name}"


def _read_from_outside(model: KernelModel, group: list[int]) -> bool:
    """Whether another thread reads a register of a member of ``group``."""
    registers = {slot for tid in group for slot in model.threads[tid].registers}
    return bool(registers & model.registers_read_across_threads)


def _renaming(first: Thread, other: Thread) -> dict[object, object]:
    mapping: dict[object, object] = {
        first.slots.pc: other.slots.pc,
        first.slots.ret: other.slots.ret,
        first.name: other.name,
    }
    for mine, theirs in zip(sorted(first.registers), sorted(other.registers), strict=True):
        mapping[mine] = theirs
    return mapping


def alike(first: object, other: object, renaming: dict[object, object]) -> bool:
    """Whether ``other`` is ``first`` with the integers and strings of
    ``renaming`` renamed (its one string key is the first thread's name,
    which is also replaced inside strings, and a string of digits is the
    integer it spells, as a constant's text spells its value): attrs
    objects field by field, containers item by item, functions by their
    code and the values they close over, bound methods by their function
    and object, anything else by equality."""
    seen: set[tuple[int, int]] = set()
    name, renamed = next(
        (key, str(value)) for key, value in renaming.items() if isinstance(key, str)
    )

    def same(a: object, b: object) -> bool:
        if a is b:
            return True
        if type(a) is not type(b):
            return False
        if isinstance(a, bool) or a is None:
            return a == b
        if isinstance(a, int | str):
            if a == b or renaming.get(a) == b:
                return True
            if isinstance(a, str) and a.isdigit() and isinstance(b, str) and b.isdigit():
                return renaming.get(int(a)) == int(b)
            return isinstance(a, str) and a.replace(name, renamed) == b
        pair = (id(a), id(b))
        if pair in seen:
            return True
        seen.add(pair)
        if isinstance(a, tuple | list):
            assert isinstance(b, tuple | list)
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, frozenset | set):
            assert isinstance(b, frozenset | set)
            return {renaming.get(x, x) for x in a} == b
        if isinstance(a, dict):
            assert isinstance(b, dict)
            return len(a) == len(b) and all(
                renaming.get(k, k) in b and same(v, b[renaming.get(k, k)]) for k, v in a.items()
            )
        if isinstance(a, MethodType):
            assert isinstance(b, MethodType)
            return a.__func__ is b.__func__ and same(a.__self__, b.__self__)
        if isinstance(a, FunctionType):
            assert isinstance(b, FunctionType)
            cells_a, cells_b = a.__closure__ or (), b.__closure__ or ()
            return (
                a.__code__ is b.__code__
                and same(a.__defaults__, b.__defaults__)
                and len(cells_a) == len(cells_b)
                and all(
                    same(x.cell_contents, y.cell_contents)
                    for x, y in zip(cells_a, cells_b, strict=True)
                )
            )
        if attrs.has(type(a)):
            return all(
                same(getattr(a, field.name), getattr(b, field.name))
                for field in attrs.fields(type(a))  # type: ignore[arg-type]
            )
        return a == b

    return same(first, other)


def _names(value: Any, tid_of: dict[str, int], into: set[int]) -> None:
    """The threads a data value names (by name, as a file lock's owner
    ``T1:fd`` does: a string that contains a thread's name names it, as
    ``alike`` renames a name inside strings; ``T10`` names ``T1`` too,
    which leaves a thread in place and loses reduction, not states)."""
    if isinstance(value, str):
        for name, tid in tid_of.items():
            if name in value:
                into.add(tid)
    elif isinstance(value, tuple | frozenset | list):
        for item in value:
            _names(item, tid_of, into)


def telling_apart(model: KernelModel) -> str | None:
    """Why the checked properties may not be symmetric in the
    interchangeable threads, as far as their ``reads=`` tells: one reads
    whether some threads of a group returned (and their registers) and not
    the others (``returned(T1)``), or the registers of some of them as
    they run (``registers(T1)``, which holds the thread's program
    counter); or one of a model's own (not ``remembered``: its ``reads=``
    is not audited) does not say what it reads, or reads those of a
    grouped thread at all, since whether its test looks at them alike is
    not known (it may look at T1's return alone); or None."""
    base = len(model.world.slots)
    names = [thread.name for thread in model.threads]
    for prop in model.properties():
        if prop.reads is None:
            return (
                f"property {prop.name} does not say what it reads (reads=), so nothing tells "
                "whether it looks at the threads --symmetry takes as interchangeable alike; "
                "declare its reads= or check without --symmetry"
            )
        if not prop.reads:
            continue
        for group in interchangeable(model):
            for form, bit in (
                ("returned", lambda tid: base + tid),
                ("registers", lambda tid: model.threads[tid].slots.pc),
            ):
                read = [tid for tid in group if prop.reads >> bit(tid) & 1]
                seen = ", ".join(f"{form}({names[t]})" for t in read)
                if read and len(read) < len(group):
                    others = ", ".join(names[t] for t in group if t not in read)
                    return (
                        f"property {prop.name} reads {seen} and not the same of {others}: it "
                        "tells threads --symmetry takes as interchangeable apart; check without "
                        "--symmetry"
                    )
                if read and not prop.remembered:
                    return (
                        f"property {prop.name} reads {seen}, threads --symmetry takes as "
                        "interchangeable: whether its test looks at them alike (and not at "
                        f"{names[read[0]]}'s alone) is not known; check without --symmetry"
                    )
    return None


def representative(model: KernelModel) -> Representative | None:
    """The representative of a state and the permutation that makes it
    (``perm[t]``: the thread whose private slots the representative's
    thread ``t`` holds), or None when no threads are interchangeable."""
    groups = interchangeable(model)
    if not groups:
        return None
    part = interrupts_of(model.world)
    cpus = {} if part is None else part.landing
    private = [
        (thread.slots.pc, thread.slots.ret, *sorted(thread.registers), *_cpu_slots(part, tid))
        for tid, thread in enumerate(model.threads)
    ]
    landing = sorted(cpus.values())
    lock_slots = [(lock.kind, lock.slot) for lock in model.world.locks]
    lock_slot_set = {slot for _, slot in lock_slots}
    data_slots = [
        slot
        for slot in range(len(model.world.slots))
        if slot not in lock_slot_set and slot != ERROR_SLOT
    ]
    tid_of = {thread.name: tid for tid, thread in enumerate(model.threads)}
    identity = tuple(range(len(model.threads)))

    def normalise(state: State) -> tuple[State, tuple[int, ...]]:
        if state[ERROR_SLOT] is not None:
            return state, identity
        named: set[int] = set()
        for kind, slot in lock_slots:
            value = state[slot]
            if value is not None:
                named.update(locks.holders(kind, value), locks.queued(kind, value))
        for slot in data_slots:
            _names(state[slot], tid_of, named)
        for slot in landing:
            cpu = state[slot]
            if cpu is not None and cpu >= 0:
                named.add(cpu)
        values: list[Any] | None = None
        perm = list(identity)
        for group in groups:
            free = [tid for tid in group if tid not in named]
            if len(free) < 2:
                continue
            parts = [tuple(state[slot] for slot in private[tid]) for tid in free]
            order = sorted(range(len(free)), key=lambda k: repr(parts[k]))
            if order == list(range(len(free))):
                continue
            if values is None:
                values = list(state)
            for position, source in enumerate(order):
                target = free[position]
                for slot, value in zip(private[target], parts[source], strict=True):
                    values[slot] = value
                perm[target] = free[source]
        if values is None:
            return state, identity
        return tuple(values), tuple(perm)

    return normalise


def _cpu_slots(part: Interrupts | None, tid: int) -> tuple[int, ...]:
    """Thread ``tid``'s slots of interrupt context: its count of locks held
    with interrupts off, and where it runs when it is a handler (the
    thread it interrupted, which names that thread)."""
    if part is None:
        return ()
    return tuple(slots[tid] for slots in (part.irqs_off, part.landing) if tid in slots)


def rename(action: Action, perm: tuple[int, ...]) -> Action:
    """An action of a representative as the actual thread's action."""
    return (perm[action[0]], action[1])
