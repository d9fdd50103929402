"""Steps over symbolic scenario arguments: a scenario's symbols given to an
operation, and effects that fork into the outcomes z3 finds feasible
(``decide`` and ``pick`` inside them)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from mc.dsl.callers import caller_source
from mc.dsl.operation import Op, as_expr
from mc.dsl.scenario import Scenario
from mc.dsl.steps import Context, EffectStep, Fire
from mc.engine.symbolic import Symbol
from mc.kernel.expr import Expr, State, slot_value
from mc.kernel.pathcond import (
    SYMBOLIC,
    Decision,
    ForkScratch,
    Symbolic,
    Value,
    decide,
    is_true,
    symbolic_part,
)
from mc.kernel.world import ModelError


def argument(op: Op, value: int | Symbol) -> Value:
    """A scenario argument as an operation uses it: an int stays an int, a
    ``Symbol`` becomes a term (and the world gets its path condition)."""
    if isinstance(value, bool) or not isinstance(value, int | Symbol):
        raise ModelError(f"{value!r} is neither an integer nor a Symbol")
    if isinstance(value, int):
        return value
    part = symbolic_part(op.world)
    if part is None:
        part = Symbolic(op.world)
        op.world.parts[SYMBOLIC] = part
    return part.declare(value)


def scenario_symbols(scenario: Scenario) -> list[Symbol]:
    """The symbols a scenario's threads take as arguments, in order."""
    found: list[Symbol] = []
    for invocation in scenario.threads:
        for value in invocation.args:
            if isinstance(value, Symbol) and value not in found:
                found.append(value)
    return found


def substitute(scenario: Scenario, values: Mapping[str, int | Symbol]) -> Scenario:
    """``scenario`` with the symbols ``values`` names replaced: by an int
    (inside the symbol's range), or by another range."""
    known = {symbol.name: symbol for symbol in scenario_symbols(scenario)}
    for name, value in values.items():
        symbol = known.get(name)
        if symbol is None:
            raise ValueError(f"{scenario.name} has no symbolic argument {name!r}")
        if isinstance(value, int) and not symbol.low <= value <= symbol.high:
            raise ValueError(f"{name}={value} is outside {symbol.low}..{symbol.high}")

    def replaced(value: Any) -> Any:
        if isinstance(value, Symbol) and value.name in values:
            return values[value.name]
        return value

    threads = tuple(
        attrs.evolve(invocation, args=tuple(replaced(a) for a in invocation.args))
        for invocation in scenario.threads
    )
    return attrs.evolve(scenario, threads=threads)


@attrs.frozen(kw_only=True)
class ForkStep(EffectStep):
    """An effect that may ``decide`` and ``pick``: one outcome per feasible
    combination of decisions, in a fixed order (first outcomes first)."""

    def compile(self, context: Context) -> Fire:
        world = context.world
        args = [a.compile(world) for a in self.args]
        effect, result, next_pc, sleeps = self.effect, self.result, context.next_pc, self.sleeps

        def fire(state: State) -> tuple[State, ...]:
            if sleeps:
                forbidden = context.sleep_check(state, self.label)
                if forbidden is not None:
                    return (forbidden,)
            part = symbolic_part(world)
            values = [a(state) for a in args]
            outcomes = []
            queue: list[tuple[int, ...]] = [()]
            while queue:
                scratch = ForkScratch(world, state, part, queue.pop(0), context.tid)
                value = effect(scratch, values)
                if result is not None:
                    scratch[result] = value
                queue.extend(scratch.branches)
                outcomes.append(context.advance(scratch.values, next_pc))
            return tuple(outcomes)

        return fire


def fork_effect(
    op: Op,
    label: str,
    effect: Callable[..., Any],
    *args: Any,
    result: int | None = None,
    sleeps: bool = False,
    tag: str | Sequence[str] | None = None,
) -> ForkStep:
    """An atomic change ``effect(scratch, *values)`` that may decide on
    symbolic values; its value goes to register slot ``result`` if given.
    A ``Symbol`` among ``args`` (an operation's own argument) is passed as
    the term it stands for (``argument``)."""
    args = tuple(argument(op, a) if isinstance(a, Symbol) else a for a in args)
    step = ForkStep(
        label=label,
        source=caller_source(),
        tags=frozenset(() if tag is None else (tag,) if isinstance(tag, str) else tag),
        effect=lambda scratch, values: effect(scratch, *values),
        args=tuple(as_expr(a) for a in args),
        result=result,
        sleeps=sleeps,
    )
    op.emit(step)
    return step


def fork_compute(
    op: Op,
    name: str,
    label: str,
    effect: Callable[..., Any],
    *args: Any,
    render: Callable[[Any], str] = str,
    tag: str | Sequence[str] | None = None,
) -> Expr:
    """Register ``name`` = ``effect(scratch, *values)``, which may decide."""
    slot = op._register(name, render)
    fork_effect(op, label, effect, *args, result=slot, tag=tag)
    return slot_value(slot, name, local=True)


@contextlib.contextmanager
def fork_when(
    op: Op,
    name: str,
    label: str,
    cond: Callable[..., Decision],
    *args: Any,
    tag: str | Sequence[str] | None = None,
) -> Iterator[None]:
    """``if (cond)`` where ``cond(scratch, *values)`` may be symbolic: the
    steps in the block run on the outcomes where it holds."""
    test = fork_compute(
        op,
        name,
        label,
        lambda scratch, *values: decide(scratch, cond(scratch, *values)),
        *args,
        tag=tag,
    )
    with op.when(is_true(test), f"{name}?"):
        yield
