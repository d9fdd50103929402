"""Expressions over a state: what steps read when they run.

An expression is data (its text, for labels and traces) plus a builder that,
given the world, returns a fast function of the state.  Models combine them
with the helpers below and never see slot numbers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

import attrs

from mc.kernel import locks
from mc.kernel.locks import Lock
from mc.kernel.world import Inode, ModelError, World, asked_by_the_models

State = tuple[Any, ...]
Eval = Callable[[State], Any]


OTHERS_RETURNED = -1
"""In an expression's ``reads``: whether the other threads have returned
(``mc.kernel.world.others_returned``), which is one location per thread,
written by its last step, not a slot."""


@attrs.frozen
class Expr:
    """A value computed from the state."""

    text: str
    build: Callable[[World], Eval] = attrs.field(eq=False, repr=False)
    local: bool = False
    """True when the value depends only on the thread's own registers, so
    evaluating it commutes with every other thread's steps."""
    reads: frozenset[int] | None = attrs.field(default=None, eq=False, repr=False)
    """The shared slots the value depends on, when known before the program
    runs (None: any shared slot); partial-order reduction reads it."""
    values: tuple[Any, ...] | None = attrs.field(default=None, eq=False, repr=False)
    """Every value it may take, when known before the program runs (a
    condition's ``TRUTH``); see ``possible_values``."""

    def compile(self, world: World) -> Eval:
        return self.build(world)

    def __str__(self) -> str:
        return self.text


@attrs.frozen
class Const(Expr):
    """A value that does not depend on the state."""

    value: Any = attrs.field(default=None, eq=False, repr=False)


def const(value: Any, text: str | None = None) -> Const:
    """A value that does not depend on the state."""
    return Const(
        text or repr(value),
        lambda _world: lambda _state: value,
        local=True,
        reads=frozenset(),
        value=value,
    )


TRUTH = (False, True)
"""The values a condition takes."""


def possible_values(expr: Expr, world: World) -> tuple[Any, ...] | None:
    """Every value ``expr`` may take in ``world``, when that is known
    before the program runs: a constant's own, a condition's ``TRUTH``, a
    known inode's number, any inode's number or None for an inode found at
    run time; else None."""
    if isinstance(expr, Const):
        return (expr.value,)
    if expr.values is not None:
        return expr.values
    if isinstance(expr, InodeExpr):
        if expr.inode is not None:
            return (expr.inode.ino,)
        return (None, *(inode.ino for inode in world.inodes))
    return None


def slot_value(slot: int, text: str, local: bool = False) -> Expr:
    """The value held in ``slot``; ``local`` when the slot is the thread's own."""
    return Expr(text, _slot_reader(slot, local), local, _slot_reads(slot, local))


def _slot_reads(slot: int, local: bool) -> frozenset[int]:
    return frozenset() if local else frozenset((slot,))


def _slot_reader(slot: int, local: bool) -> Callable[[World], Eval]:
    """What reads ``slot``, built for a world; a register (``local``) tells
    the world, which notes which steps read it (``World.register_read``)."""

    def build(world: World) -> Eval:
        if local:
            world.register_read(slot)
        return itemgetter(slot)

    return build


def joint_reads(*exprs: Expr) -> frozenset[int] | None:
    """What the expressions read together (None when one does not say)."""
    found: frozenset[int] = frozenset()
    for expr in exprs:
        if expr.reads is None:
            return None
        found |= expr.reads
    return found


@attrs.frozen
class InodeExpr(Expr):
    """An expression whose value is an inode number (or None)."""

    inode: Inode | None = attrs.field(default=None, eq=False, repr=False)
    """The inode, when it is known before the program runs."""
    held_in: int | None = attrs.field(default=None, eq=False, repr=False)
    """The slot whose value the expression is, when it is one slot's."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(
            f"an inode ({self.text}) has no {name} in the models: op.inode(path) has i_rwsem "
            "alone; i_lock is inode_i_lock(op.world, path) from mc.models.dcache, and a lock "
            "of one's own op.world.shared_lock(name, LockKind...)"
        )

    @property
    def i_rwsem(self) -> LockExpr:
        text = f"i_rwsem({self.text})"
        if self.inode is not None:
            return lock_const(self.inode.i_rwsem, text)
        return LockExpr(text, "i_rwsem", _lock_of_inode(self, "i_rwsem"), local=self.local)


def inode_const(inode: Inode) -> InodeExpr:
    """A fixed inode (one the thread's path walk already resolved)."""
    return InodeExpr(
        inode.path,
        lambda _world: lambda _state: inode.ino,
        local=True,
        reads=frozenset(),
        inode=inode,
    )


def inode_in_slot(slot: int, text: str, local: bool = False) -> InodeExpr:
    """The inode number held in ``slot`` (a register when ``local``, a dentry)."""
    return InodeExpr(
        text,
        _slot_reader(slot, local),
        local,
        _slot_reads(slot, local),
        held_in=slot,
    )


@attrs.frozen
class LockExpr:
    """A lock, fixed or found through the state (``victim.i_rwsem``)."""

    text: str
    family: str
    build: Callable[[World], Callable[[State], Lock | None]] = attrs.field(eq=False, repr=False)
    fixed: Lock | None = attrs.field(default=None, eq=False, repr=False)
    """The lock, when it is known before the program runs."""
    local: bool = attrs.field(default=False, eq=False, repr=False)
    """True when which lock it is depends only on the thread's own registers."""

    def compile(self, world: World) -> Callable[[State], Lock | None]:
        return self.build(world)

    def __str__(self) -> str:
        return self.text


def lock_const(lock: Lock, text: str | None = None) -> LockExpr:
    """A lock known when the program is built (``text`` spells it as the
    program does, its name by default)."""
    return LockExpr(text or lock.name, lock.family, lambda _world: lambda _state: lock, lock, True)


def _lock_of_inode(inode: Expr, field: str) -> Callable[[World], Callable[[State], Lock | None]]:
    def build(world: World) -> Callable[[State], Lock | None]:
        value = inode.compile(world)
        by_ino = [getattr(i, field) for i in world.inodes]

        def lock(state: State) -> Lock | None:
            ino = value(state)
            return None if ino is None else by_ino[ino]

        return lock

    return build


def _unary(text: str, expr: Expr, test: Callable[[World, Any], bool]) -> Expr:
    """The condition ``test(world, value)`` of ``expr``'s value."""

    def build(world: World) -> Eval:
        value = expr.compile(world)
        return lambda state: test(world, value(state))

    return Expr(text, build, expr.local, expr.reads, TRUTH)


def _binary(text: str, left: Expr, right: Expr, test: Callable[[Any, Any], bool]) -> Expr:
    """The condition ``test(a, b)`` of the two values."""

    def build(world: World) -> Eval:
        a, b = left.compile(world), right.compile(world)
        return lambda state: test(a(state), b(state))

    return Expr(text, build, left.local and right.local, joint_reads(left, right), TRUTH)


def negative(expr: Expr) -> Expr:
    """True when ``expr`` names no inode."""
    return _unary(f"d_is_negative({expr})", expr, lambda _w, v: v is None)


def handed_off(lock: Lock | LockExpr) -> Expr:
    """True while ``lock`` is held by no thread, handed off (a frozen
    superblock's ``sb_writers``)."""
    found = lock if isinstance(lock, LockExpr) else lock_const(lock)

    def build(world: World) -> Eval:
        lock_of = found.compile(world)

        def check(state: State) -> bool:
            current = lock_of(state)
            return current is not None and locks.holds(
                current.kind, state[current.slot], locks.HANDED_OFF
            )

        return check

    return Expr(f"handed_off({found})", build)


def is_error(expr: Expr) -> Expr:
    """True when ``expr``, a return value, is a negative errno."""
    return _unary(f"IS_ERR_VALUE({expr})", expr, lambda _w, v: isinstance(v, int) and v < 0)


def positive(expr: Expr) -> Expr:
    """True when ``expr`` names an inode."""
    return _unary(f"d_is_positive({expr})", expr, lambda _w, v: v is not None)


def is_dir(expr: InodeExpr) -> Expr:
    """True when ``expr`` names a directory."""
    return _unary(f"d_is_dir({expr})", expr, lambda w, v: v is not None and w.inodes[v].is_dir)


def same(left: Expr, right: Expr) -> Expr:
    """True when both expressions have the same value."""
    return _binary(f"{left} == {right}", left, right, lambda a, b: a == b)


def same_inode(left: Expr, right: Expr) -> Expr:
    """True when both name the same inode (never when either names none)."""
    return _binary(f"{left} == {right}", left, right, lambda a, b: a is not None and a == b)


def differ(left: Expr, right: Expr) -> Expr:
    """True when the expressions have different values."""
    return _binary(f"{left} != {right}", left, right, lambda a, b: a != b)


def among(item: Expr, collection: Expr) -> Expr:
    """True when ``item`` is one of the values ``collection`` holds (a
    tuple or frozenset slot: the threads in a list)."""
    return _binary(f"{item} in {collection}", item, collection, lambda a, b: a in b)


def below(left: Expr, right: Expr) -> Expr:
    """True when ``left`` < ``right``: for inodes, the kernel's address order."""
    return _binary(f"{left} < {right}", left, right, lambda a, b: a < b)


def not_(cond: Expr) -> Expr:
    """Logical negation."""
    return _unary(f"!({cond})", cond, lambda _w, v: not v)


def all_of(*conds: Expr) -> Expr:
    """True when every condition holds."""

    def build(world: World) -> Eval:
        parts = [c.compile(world) for c in conds]
        return lambda state: all(p(state) for p in parts)

    return Expr(
        " && ".join(str(c) for c in conds),
        build,
        all(c.local for c in conds),
        joint_reads(*conds),
        TRUTH,
    )


def any_of(*conds: Expr) -> Expr:
    """True when some condition holds."""

    def build(world: World) -> Eval:
        parts = [c.compile(world) for c in conds]
        return lambda state: any(p(state) for p in parts)

    return Expr(
        " || ".join(str(c) for c in conds),
        build,
        all(c.local for c in conds),
        joint_reads(*conds),
        TRUTH,
    )


def _slot_numbers(text: str, reads: Iterable[int]) -> tuple[int, ...]:
    """``reads`` as slot numbers, or a ``ModelError`` saying how to get
    one from a slot's name."""
    items = (reads,) if isinstance(reads, str) else tuple(reads)
    for item in items:
        if type(item) is not int:
            raise ModelError(
                f"state_expr({text!r}): reads= takes slot numbers, not {item!r}: "
                "op.world.slot(name) gives the number of a slot vfsmc show SCENARIO --steps "
                "lists (reads=[op.world.slot('s_writers.frozen')])"
            )
    return items


def state_expr(
    text: str,
    function: Callable[[State], Any],
    local: bool = False,
    reads: Iterable[int] | None = None,
) -> Expr:
    """An expression computed by ``function`` from the state; ``reads``,
    the slots it reads.  Without it, any: partial-order reduction takes it
    to read every shared slot, and one written in a user's file makes every
    lock acquisition of the scenario a step of its own (``World.opaque_reads``:
    a lock one thread alone takes, or a read side no step contends, no
    longer runs with the step before it), and every step that writes a
    register a step of its own, since it may read a lock's slot or another
    thread's register; the shipped models name what they read where it is
    a lock's.  A register ``reads`` names is read as ``op.reg`` reads it.
    ``local``: the value depends on the thread's own registers alone, so
    its test runs with the thread's step before it, unseen by the others;
    ``reads`` naming a slot that is no register is then a model error (the
    other threads' writes to it would never interleave with the test)."""
    unsaid = reads is None and not asked_by_the_models(sys._getframe(1).f_code.co_filename)
    if reads is not None:
        reads = _slot_numbers(text, reads)

    def build(world: World) -> Eval:
        if unsaid:
            world.opaque_reads = True
        for slot in reads or ():
            if slot in world.register_slots:
                world.register_read(slot)
            elif local:
                raise ModelError(
                    f"state_expr({text!r}): local=True (the third argument) says it reads the "
                    f"thread's own registers alone, but reads= names {world.slots[slot].name}, "
                    "a shared slot; drop local=True"
                )
        return function

    return Expr(text, build, local, None if reads is None else frozenset(reads))
