"""Conformance to the locking rules at every call into a filesystem method.

Every such call goes through ``op.call`` (a ``CallStep``).  When a scenario
checks ``spec-conformance``, each call step compiles, next to its effect, a
check of what the rules require of the call: for each object the rules name
(a role of the call), the lock its caller holds and in which mode; whether
the caller may be in rcu-walk (holding ``rcu_read_lock``) or atomic context
(holding a spinlock) given that the method may block; and whether the
method's implementation, which the model says may sleep, is allowed to.  A
breach stops the thread in an error state: a violation with a counterexample
like any other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from mc.dsl.kernel_model import KernelModel
from mc.dsl.steps import CallStep, Context
from mc.engine.model import Check, declare
from mc.kernel import locks
from mc.kernel.expr import Expr, LockExpr, State
from mc.kernel.locks import Lock, Mode
from mc.kernel.world import LocatedModelError, ModelError, World, reported_error
from mc.project import SPECS, shown
from mc.spec import load, semantics, vocabulary
from mc.spec.semantics import CONDITION_ROLES, SCOPES, Need, Requirements, Rules

SPEC_CONFORMANCE = "spec-conformance"
DESCRIPTION = (
    "every call into a filesystem method is made as the locking rules (specs/) say: the locks "
    "held on the objects they name, no blocking method in atomic context or rcu-walk"
)
RENAME_EXCHANGE = 2
O_CREAT = 0o100

NEEDS: Mapping[str, Callable[[Mode | None], bool]] = {
    "held": lambda mode: mode is not None,
    "exclusive": lambda mode: mode is Mode.EXCL,
    "not-held": lambda mode: mode is None,
    "not-exclusive": lambda mode: mode is not Mode.EXCL,
    "not-shared": lambda mode: mode is not Mode.SHARED,
}

FLAG_CLEAR = "clear"
"""The need of a flag of the object that is not set when the method is
called (``PG_writeback``: "not under writeback")."""

RoleValue = Callable[[State], Any]
Condition = Callable[[State, Any], bool]


def rules_at(specs: Path = SPECS) -> Rules:
    """The compiled rules of the files in ``specs`` (read once a process
    for each directory, however it is named)."""
    return _rules_in(specs.resolve(), specs)


@functools.cache
def _rules_in(_resolved: Path, specs: Path) -> Rules:
    return semantics.check_waivers(
        semantics.compile_rules(
            load.load(specs / "locking.toml"),
            vocabulary.load(specs / "vocabulary.toml"),
            semantics.load_role_map(specs / "conformance.toml"),
        )
    )


def held_mode(lock: Lock, value: Any, tid: int) -> Mode | None:
    """How thread ``tid`` holds ``lock``: exclusive, shared, or not at all."""
    if not locks.holds(lock.kind, value, tid):
        return None
    if lock.kind.shared_mode:
        return Mode.EXCL if value[0] == tid else Mode.SHARED
    if lock.kind is locks.Kind.RCU:
        return Mode.SHARED
    return Mode.EXCL


@attrs.frozen
class Checked:
    """A need compiled for one call step."""

    need: Need
    value: RoleValue | None
    lock: Callable[[State], Lock | None]
    conditions: tuple[Condition, ...]
    flag: Callable[[State], bool] | None = None
    """Of a ``clear`` need: whether the object's flag is set (``lock`` unused)."""


@attrs.frozen
class Unchecked:
    """A need a call step cannot check, and why."""

    need: str
    reason: str
    kind: str
    """missing-role (the call does not name the object), lock-not-modelled,
    condition-not-modelled, unmapped, waived or kernel-departs (the kernel
    calls the method otherwise than the rule says)."""


@attrs.frozen
class Plan:
    """What the checker checks at one call step."""

    requirements: Requirements
    checked: tuple[Checked, ...]
    unchecked: tuple[Unchecked, ...]


def _condition(
    name: str, roles: Mapping[str, Expr], world: World
) -> tuple[Condition | None, str | None]:
    if name in ("directory", "non-directory"):
        want = name == "directory"
        return (
            lambda _state, value: value is not None and world.inodes[value].is_dir == want
        ), None
    if name == "cross-directory":
        if "old_dir" not in roles or "new_dir" not in roles:
            return None, "the call names no old_dir and new_dir"
        old, new = roles["old_dir"].compile(world), roles["new_dir"].compile(world)
        return (lambda state, _value: old(state) != new(state)), None
    if name in ("exchange", "not exchange"):
        if "flags" not in roles:
            return None, "the call names no flags"
        flags = roles["flags"].compile(world)
        want = name == "exchange"
        return (lambda state, _value: bool((flags(state) or 0) & RENAME_EXCHANGE) == want), None
    if name == "O_CREAT":
        if "open_flag" not in roles:
            return None, "the call names no open_flag"
        open_flag = roles["open_flag"].compile(world)
        return (lambda state, _value: bool((open_flag(state) or 0) & O_CREAT)), None
    return None, f"condition {name!r} is not modelled"


def _resolve_lock(
    need: Need, roles: Mapping[str, Expr], world: World
) -> tuple[Callable[[State], Lock | None] | None, RoleValue | None, Unchecked | None]:
    if need.role in SCOPES:
        owner: Any = world.superblock if need.role == "sb" else world
        fixed = getattr(owner, need.lock, None)
        if fixed is None and need.role == "world":
            fixed = next((lock for lock in world.locks if lock.name == need.lock), None)
        if not isinstance(fixed, Lock):
            reason = f"the {'superblock' if need.role == 'sb' else 'world'} has no {need.lock}"
            return None, None, Unchecked(need.id, reason, "lock-not-modelled")
        return (lambda _state: fixed), None, None
    expr = roles.get(need.role)
    if expr is None:
        return None, None, Unchecked(need.id, f"the call names no {need.role}", "missing-role")
    lock_expr = getattr(expr, need.lock, None)
    if isinstance(lock_expr, LockExpr):
        return lock_expr.compile(world), expr.compile(world), None
    owned = _lock_of_object(_probe(expr, world), need.lock)
    if owned is None:
        reason = f"the {need.role} object has no {need.lock} in the models"
        return None, None, Unchecked(need.id, reason, "lock-not-modelled")
    return (lambda _state: owned), None, None


def _resolve_flag(
    need: Need, roles: Mapping[str, Expr], world: World
) -> tuple[Callable[[State], bool] | None, Unchecked | None]:
    if need.role not in roles:
        return None, Unchecked(need.id, f"the call names no {need.role}", "missing-role")
    flag = _flag_of(need, roles)
    if flag is None:
        reason = f"the {need.role} object has no {need.lock} in the models"
        return None, Unchecked(need.id, reason, "lock-not-modelled")
    return flag.compile(world), None


def _flag_of(need: Need, roles: Mapping[str, Expr]) -> Expr | None:
    """The test of the flag a ``clear`` need names on its role's object
    (``FolioRef.PG_writeback``), if the call names the role and the object
    has it."""
    flag = getattr(roles.get(need.role), need.lock, None)
    return flag if isinstance(flag, Expr) else None


def _probe(expr: Expr, world: World) -> Any:
    """The value of a role that is an object fixed when the program is
    built (a mapping, a page), or None."""
    if not expr.local:
        return None
    try:
        return expr.compile(world)(tuple(world.initial))
    except (IndexError, KeyError, TypeError, AttributeError):
        return None


def _lock_of_object(obj: Any, family: str) -> Lock | None:
    """The lock of family ``family`` an object of the models carries, as an
    attribute of that name or as any attribute that is such a lock."""
    if obj is None or isinstance(obj, int | str | bool):
        return None
    direct = getattr(obj, family, None)
    if isinstance(direct, Lock):
        return direct
    fields = attrs.fields(type(obj)) if attrs.has(type(obj)) else ()
    values = [getattr(obj, f.name) for f in fields] or list(getattr(obj, "__dict__", {}).values())
    for value in values:
        if isinstance(value, Lock) and value.family == family:
            return value
    return None


def _where(step: CallStep) -> str:
    """The model line of ``step``, as errors name it (relative when below
    the working directory)."""
    return f"{shown(step.source.file)}:{step.source.line}"


def plan(step: CallStep, world: World, rules: Rules, waived: frozenset[str] = frozenset()) -> Plan:
    """What a call step checks, and what it cannot check."""
    requirements = rules.get(step.method)
    if requirements is None:
        raise LocatedModelError(
            f"{_where(step)}: {step.method} is not a method of the locking rules "
            "(call methods as table.method, e.g. inode_operations.rename)"
        )
    roles = dict(step.roles)
    known = rules.roles.method_roles(requirements.table, requirements.method)
    read = (r for n in requirements.needs for c in n.conditions for r in CONDITION_ROLES.get(c, ()))
    known = tuple(dict.fromkeys((*known, *read)))
    for name in roles:
        if name not in known:
            raise LocatedModelError(
                f"{_where(step)}: unknown role {name!r} ({requirements.name}'s roles in "
                f"{rules.roles.source}: {', '.join(known) or 'none'})"
            )
    checked: list[Checked] = []
    unchecked = [
        Unchecked(text, "not placed on the call's objects", "unmapped")
        for text in requirements.unmapped
    ]
    for need in requirements.needs:
        if need.need not in NEEDS and need.need != FLAG_CLEAR:
            continue
        departure = rules.roles.departures.get(f"{requirements.name} {need.id}")
        if departure is not None:
            unchecked.append(Unchecked(need.id, departure, "kernel-departs"))
            continue
        if f"{requirements.name} {need.id}" in waived:
            unchecked.append(Unchecked(need.id, "waived by the variant", "waived"))
            continue
        if need.need == FLAG_CLEAR:
            flag, problem = _resolve_flag(need, roles, world)
            if problem is not None or flag is None:
                unchecked.append(problem or Unchecked(need.id, "unresolved", "lock-not-modelled"))
            else:
                checked.append(Checked(need, None, lambda _state: None, (), flag))
            continue
        lock_of, value, problem = _resolve_lock(need, roles, world)
        if problem is not None or lock_of is None:
            unchecked.append(problem or Unchecked(need.id, "unresolved", "lock-not-modelled"))
            continue
        conditions: list[Condition] = []
        for name in need.conditions:
            condition, why = _condition(name, roles, world)
            if condition is None:
                unchecked.append(Unchecked(need.id, why or name, "condition-not-modelled"))
                break
            conditions.append(condition)
        else:
            checked.append(Checked(need, value, lock_of, tuple(conditions)))
    return Plan(requirements, tuple(checked), tuple(unchecked))


def _breach(need: Need, lock: Lock, mode: Mode | None) -> str:
    held = {None: "", Mode.SHARED: " shared", Mode.EXCL: " exclusive"}[mode]
    if need.need == "exclusive":
        return f"without {lock.name} exclusive" if mode is None else f"with {lock.name} only shared"
    if need.need == "held":
        return f"without {lock.name}"
    return f"holding {lock.name}{held}"


SHIPPED_MODELS = "models/"
"""Where the shipped models' steps say they come from: their calls' gaps
are listed by ``vfsmc spec coverage``, a user's are noted by ``check``."""


def make_guard(
    rules: Rules, waived: frozenset[str]
) -> Callable[[CallStep, Context], Callable[[State], State | None] | None]:
    """The call guard spec-conformance installs in a world."""

    def guard(step: CallStep, context: Context) -> Callable[[State], State | None] | None:
        world = context.world
        checks = plan(step, world, rules, waived)
        requirements = checks.requirements
        if not step.source.file.startswith(SHIPPED_MODELS):
            for unchecked in checks.unchecked:
                if unchecked.kind == "missing-role":
                    where = f"{shown(step.source.file)}:{step.source.line}"
                    world.unchecked_needs[
                        f"{step.method} {unchecked.need} at {where}: {unchecked.reason}"
                    ] = None
        tid, name = context.tid, context.thread.name
        rcu = world.rcu_read_lock
        atomic = [lock for lock in world.atomic_locks if lock.kind is not locks.Kind.RCU]
        may_block = requirements.blocking == "may-block"
        sleeps = step.sleeps
        method = step.method

        def error(state: State, message: str) -> State:
            return context.error(state, SPEC_CONFORMANCE, f"{name} calls {method} {message}")

        def check(state: State) -> State | None:
            for item in checks.checked:
                value = item.value(state) if item.value is not None else None
                if item.value is not None and value is None:
                    continue
                if not all(condition(state, value) for condition in item.conditions):
                    continue
                if item.flag is not None:
                    if item.flag(state):
                        rule, waiver = item.need.source, f"{requirements.name} {item.need.id}"
                        set_ = f"with {item.need.lock} set"
                        return error(state, f"{set_} (rules: {rule}; waive with {waiver})")
                    continue
                lock = item.lock(state)
                if lock is None:
                    continue
                mode = held_mode(lock, state[lock.slot], tid)
                if not NEEDS[item.need.need](mode):
                    rule = item.need.source
                    waiver = f"{requirements.name} {item.need.id}"
                    breach = _breach(item.need, lock, mode)
                    return error(state, f"{breach} (rules: {rule}; waive with {waiver})")
            in_rcu = locks.holds(rcu.kind, state[rcu.slot], tid)
            if in_rcu and requirements.rcu_walk == "no-rcu-walk":
                return error(state, "in rcu-walk (rules: rcu-walk: no)")
            if may_block:
                for lock in atomic:
                    if locks.holds(lock.kind, state[lock.slot], tid):
                        rule = requirements.blocking_source
                        return error(
                            state, f"holding {lock.name}, but it may block (rules: {rule})"
                        )
                if in_rcu and requirements.rcu_walk is None:
                    rule = requirements.blocking_source
                    return error(state, f"under rcu_read_lock, but it may block (rules: {rule})")
            if sleeps and requirements.blocking == "never-blocks":
                rule = requirements.blocking_source
                return error(state, f"and it blocks, which the rules forbid (rules: {rule})")
            if sleeps and in_rcu and requirements.blocking == "blocks-only-in-ref-walk":
                rule = requirements.blocking_source
                return error(
                    state, f"in rcu-walk and it blocks; only ref-walk may block (rules: {rule})"
                )
            return None

        return check

    return guard


def prepare(world: World, variants: frozenset[str]) -> None:
    """Make every call step of ``world`` check the rules (waiving those the
    variants name in specs/conformance.toml or declare themselves)."""
    rules = rules_at()
    world.call_guards.append(make_guard(rules, waived_in(world, rules, variants)))
    world.call_guard_reads.append(lambda step, _world: flags_read(step, rules))


def flags_read(step: CallStep, rules: Rules) -> list[Expr]:
    """The flags of the call's objects its ``clear`` needs read (other
    threads set and clear them, unlike the locks the caller holds)."""
    requirements = rules.get(step.method)
    roles = dict(step.roles)
    needs = requirements.needs if requirements is not None else ()
    flags = [_flag_of(need, roles) for need in needs if need.need == FLAG_CLEAR]
    return [flag for flag in flags if flag is not None]


def waived_in(world: World, rules: Rules, variants: frozenset[str]) -> frozenset[str]:
    """The needs ``variants`` waive in specs/conformance.toml and those the
    variants of ``world`` waive themselves; ``ModelError`` for one of the
    latter that is no need of ``rules``."""
    for waiver, declarer in world.waivers.items():
        problem = rules.waiver_problem(waiver)
        if problem is not None:
            located = not declarer.startswith("variant ")
            error = LocatedModelError if located else ModelError
            raise error(f"{declarer} waives {waiver!r}, {problem}")
    return rules.roles.waived(variants) | frozenset(world.waivers)


@declare(SPEC_CONFORMANCE, DESCRIPTION, reads=["error"])
def spec_conformance(model: KernelModel) -> Check[State]:
    return lambda state: reported_error(state, SPEC_CONFORMANCE)
