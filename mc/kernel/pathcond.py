"""Symbolic scenario arguments in the kernel world: byte sizes and offsets
that range over an interval instead of taking one value.

A scenario passes a ``Symbol`` (``Symbol("new_size", 0, 8192)``) where an
operation expects a size or an offset; the operation turns it into a term
with ``argument``.  Arithmetic on terms and ints (``div``, ``mod``, ``add``
...) stays symbolic, comparisons (``less``, ``at_least`` ...) give a
condition, and a step decides a condition with ``decide``: the exploration
forks into the outcomes z3 finds feasible under the path condition so far.
The path condition is a slot of the state, so two orders that reach the
same locks and data under different constraints stay distinct.  ``pick``
enumerates the values of a term with few of them (a page index), so that
code can index pages by it while the offset within the page stays
symbolic.

Only steps built with ``fork_effect`` (or the ``fork_when`` and
``fork_pick`` helpers) may decide; they run their effect once per feasible
combination of outcomes.  Without a symbol the world has no path condition,
every comparison is a plain bool and z3 is never imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mc.engine.symbolic import (
    TRUE,
    Compare,
    Cond,
    Const,
    Not,
    PathCondition,
    Solver,
    Symbol,
    Term,
    binary,
    compare,
    conjoin,
    eq,
    evaluate,
    negate,
    render,
    variables,
)
from mc.kernel.expr import Expr, State
from mc.kernel.world import ModelError, Scratch, World

SYMBOLIC = "symbolic"
VALUES_LIMIT = 64
"""The most values ``pick`` enumerates: a term with more (a byte offset
rather than a page index) is a model error."""

Value = int | Term
Decision = bool | Cond


class Answers:
    """The solver of one set of symbols and what it answered: the same
    questions get the same answers in every world declaring those
    symbols (a check and the look after it build the scenario twice)."""

    def __init__(self, symbols: tuple[Symbol, ...]) -> None:
        self.solver = Solver(symbols)
        self.splits: dict[tuple[PathCondition, Cond], list[tuple[bool, PathCondition]]] = {}
        self.values: dict[tuple[PathCondition, Term], list[int]] = {}
        self.models: dict[PathCondition, dict[str, int]] = {}
        """A satisfying assignment of each feasible path condition met."""


ANSWERS_KEPT = 2
"""How many symbol sets' ``Answers`` a process keeps (the latest ones)."""

_answers: dict[tuple[Symbol, ...], Answers] = {}


def answers_for(symbols: tuple[Symbol, ...]) -> Answers:
    """The ``Answers`` of ``symbols`` (in declaration order): kept from
    an earlier world, or new."""
    found = _answers.pop(symbols, None) or Answers(symbols)
    _answers[symbols] = found
    while len(_answers) > ANSWERS_KEPT:
        del _answers[next(iter(_answers))]
    return found


def forget_answers() -> None:
    """Drop every kept ``Answers``: the next world asks its solver anew."""
    _answers.clear()


class Symbolic:
    """The symbolic part of a world: the scenario's symbols, the path
    condition slot and the solver (created on first need, so that z3 is
    loaded only by scenarios that have symbols; shared with other worlds
    of the same symbols, ``answers_for``)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.symbols: dict[str, Symbol] = {}
        self.path = world.add_slot("path condition", TRUE, render_path)
        self._answers: Answers | None = None
        self._calls_before = 0

    def declare(self, symbol: Symbol) -> Term:
        """Register ``symbol`` (the same name must keep the same range)."""
        known = self.symbols.get(symbol.name)
        if known is not None and known != symbol:
            raise ModelError(
                f"symbol {symbol.name} is declared as {known.low}..{known.high} and as "
                f"{symbol.low}..{symbol.high}"
            )
        if self._answers is not None and known is None:
            raise ModelError(f"symbol {symbol.name} is declared after the exploration began")
        self.symbols[symbol.name] = symbol
        return symbol.var

    @property
    def answers(self) -> Answers:
        if self._answers is None:
            self._answers = answers_for(tuple(self.symbols.values()))
            self._calls_before = self._answers.solver.calls
        return self._answers

    @property
    def solver(self) -> Solver:
        return self.answers.solver

    @property
    def calls(self) -> int:
        """Solver calls this world's questions made so far."""
        return 0 if self._answers is None else self._answers.solver.calls - self._calls_before

    def _model_of(self, path: PathCondition) -> dict[str, int]:
        models = self.answers.models
        known = models.get(path)
        if known is None:
            known = self.solver.model(path)
            if known is None:
                raise ModelError(f"the path condition {render(path)} is infeasible")
            models[path] = known
        return known

    def split(self, path: PathCondition, cond: Cond) -> list[tuple[bool, PathCondition]]:
        """The feasible outcomes of ``cond`` under ``path``, true first
        (cached).  A known assignment of ``path`` settles one outcome
        without the solver; an outcome ``path`` implies leaves it as it is,
        so equal sets of assignments keep equal path conditions wherever the
        order of decisions allows."""
        key = (path, cond)
        answers = self.answers
        found = answers.splits.get(key)
        if found is not None:
            return found
        answers.solver.refuse_zero_divisors(path, cond)
        known = self._model_of(path)
        holds = bool(evaluate(cond, known))
        other = conjoin(path, negate(cond) if holds else cond)
        other_model = answers.solver.model(other)
        if other_model is None:
            found = [(holds, path)]
        else:
            this = conjoin(path, cond if holds else negate(cond))
            answers.models.setdefault(this, known)
            answers.models.setdefault(other, other_model)
            found = [(True, this), (False, other)] if holds else [(True, other), (False, this)]
        answers.splits[key] = found
        return found

    def values(self, path: PathCondition, value: Term) -> list[int]:
        """Every value ``value`` takes under ``path``, ascending (cached)."""
        key = (path, value)
        known = self.answers.values
        found = known.get(key)
        if found is None:
            found = self.solver.values(path, value, VALUES_LIMIT + 1)
            if len(found) > VALUES_LIMIT:
                raise ModelError(
                    f"{value} takes more than {VALUES_LIMIT} values: enumerate page indices, "
                    "keep offsets symbolic"
                )
            known[key] = found
        return found

    def implies(self, path: PathCondition, cond: Decision) -> bool:
        """Whether every assignment satisfying ``path`` satisfies ``cond``."""
        if isinstance(cond, bool):
            return cond
        if not variables(cond):
            return bool(evaluate(cond, {}))
        return [taken for taken, _ in self.split(path, cond)] == [True]

    def witness(self, state: State) -> dict[str, int]:
        """Concrete values of the symbols that satisfy the path condition of
        ``state`` (z3's model, symbols in declaration order)."""
        if not self.symbols:
            return {}
        found = self.solver.witness(state[self.path])
        return {name: found[name] for name in self.symbols}

    def witness_problem(self, witness: dict[str, Any]) -> str | None:
        """What makes ``witness`` (a counterexample's) no witness of these
        symbols: a name that is none of them, a symbol it
        gives no value, a value outside the symbol's range; None when it
        is one."""
        unknown = sorted(set(witness) - set(self.symbols))
        if unknown:
            known = ", ".join(self.symbols) or "none"
            return f"its witness names {', '.join(unknown)}, not a symbolic argument ({known})"
        for name, symbol in self.symbols.items():
            value = witness.get(name)
            if value is None:
                return f"its witness gives {name} no value"
            if not symbol.low <= value <= symbol.high:
                return f"its witness {name}={value} is outside {symbol.low}..{symbol.high}"
        return None

    def check_witness(self, state: State, witness: dict[str, Any]) -> str | None:
        """None when ``witness`` gives every symbol a value in its range
        that satisfies the path condition of ``state``, else what fails."""
        for name, symbol in self.symbols.items():
            value = witness.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                return f"the witness gives {name} no integer value"
            if not symbol.low <= value <= symbol.high:
                return f"witness {name}={value} is outside {symbol.low}..{symbol.high}"
        env = {name: witness[name] for name in self.symbols}
        for cond in state[self.path]:
            if not evaluate(cond, env):
                shown = ", ".join(f"{k}={v}" for k, v in env.items())
                return f"the witness {shown} does not satisfy {cond}"
        return None

    def statistics(self, states: Sequence[State]) -> dict[str, int]:
        """Symbolic states (stored states under a path condition other than
        true; not counted when the run kept no states, as with fingerprint
        storage) and solver calls."""
        if not self.symbols:
            return {}
        if not states:
            return {"solver_calls": self.calls}
        slot = self.path
        return {
            "symbolic_states": sum(1 for state in states if state[slot]),
            "solver_calls": self.calls,
        }


FLIPPED = {"<": ">=", "<=": ">", "==": "!=", "!=": "==", ">=": "<", ">": "<="}


def readable(cond: Cond) -> Cond:
    """``cond`` with a negated comparison written as the opposite one."""
    if isinstance(cond, Not) and isinstance(cond.cond, Compare):
        inner = cond.cond
        return Compare(FLIPPED[inner.op], inner.left, inner.right)
    return cond


def render_path(path: PathCondition) -> str:
    """A path condition as people read it: ``new_size >= 4096 && ...``."""
    return render(tuple(readable(cond) for cond in path))


def symbolic_part(world: World) -> Symbolic | None:
    """The symbolic part of ``world``, if a symbol was declared."""
    part = world.parts.get(SYMBOLIC)
    return part if isinstance(part, Symbolic) else None


def describe(value: int | Symbol) -> str:
    """A scenario argument as a trace names it: ``5000`` or ``new_size``."""
    return value.name if isinstance(value, Symbol) else str(value)


# --- arithmetic and comparisons on ints and terms ------------------------------


def _plain(value: Value) -> Value:
    return value.value if isinstance(value, Const) else value


def _arith(op: str, left: Value, right: Value) -> Value:
    if isinstance(left, int) and isinstance(right, int):
        return evaluate(binary(op, left, right), {})  # type: ignore[no-any-return]
    return _plain(binary(op, left, right))


def add(left: Value, right: Value) -> Value:
    return _arith("+", left, right)


def sub(left: Value, right: Value) -> Value:
    return _arith("-", left, right)


def mul(left: Value, right: Value) -> Value:
    return _arith("*", left, right)


def div(left: Value, right: Value) -> Value:
    """Floor division (page index of a byte offset)."""
    return _arith("//", left, right)


def mod(left: Value, right: Value) -> Value:
    return _arith("%", left, right)


def _compare(op: str, left: Value, right: Value) -> Decision:
    if isinstance(left, int) and isinstance(right, int):
        return bool(evaluate(compare(op, left, right), {}))
    return compare(op, left, right)


def less(left: Value, right: Value) -> Decision:
    return _compare("<", left, right)


def at_most(left: Value, right: Value) -> Decision:
    return _compare("<=", left, right)


def at_least(left: Value, right: Value) -> Decision:
    return _compare(">=", left, right)


def equal(left: Value, right: Value) -> Decision:
    return _compare("==", left, right)


def differ(left: Value, right: Value) -> Decision:
    return _compare("!=", left, right)


# --- deciding inside a step ----------------------------------------------------


class ForkScratch(Scratch):
    """A state being changed by a forking effect: each decision that has
    two feasible outcomes records the other one for a later run."""

    def __init__(
        self,
        world: World,
        state: State,
        part: Symbolic | None,
        forced: tuple[int, ...],
        tid: int | None = None,
    ) -> None:
        super().__init__(world, state, tid)
        self.part = part
        self.forced = forced
        self.taken: list[int] = []
        self.branches: list[tuple[int, ...]] = []

    def choose(self, options: Sequence[tuple[Any, PathCondition]]) -> Any:
        """Take one of ``options`` (a value with the path condition it
        implies): the first, or the one this run is forced to take."""
        assert self.part is not None
        position = len(self.taken)
        if position < len(self.forced):
            index = self.forced[position]
        else:
            index = 0
            self.branches.extend((*self.taken, other) for other in range(1, len(options)))
        self.taken.append(index)
        value, path = options[index]
        self[self.part.path] = path
        return value


def _forking(scratch: Scratch, what: object) -> ForkScratch:
    if not isinstance(scratch, ForkScratch) or scratch.part is None:
        raise ModelError(f"{what} depends on a symbolic value in a step that cannot fork")
    return scratch


def decide(scratch: Scratch, cond: Decision) -> bool:
    """The outcome of ``cond`` in this run of a forking step."""
    if isinstance(cond, bool):
        return cond
    if not variables(cond):
        return bool(evaluate(cond, {}))
    scratch = _forking(scratch, cond)
    assert scratch.part is not None
    return bool(scratch.choose(scratch.part.split(scratch[scratch.part.path], cond)))


def pick(scratch: Scratch, value: Value) -> int:
    """The value of ``value`` in this run of a forking step: one run per
    value it can take."""
    if isinstance(value, int):
        return value
    if not variables(value):
        return int(evaluate(value, {}))
    scratch = _forking(scratch, value)
    part = scratch.part
    assert part is not None
    path = scratch[part.path]
    options = [(found, conjoin(path, eq(value, found))) for found in part.values(path, value)]
    return int(scratch.choose(options))


def smaller(scratch: Scratch, left: Value, right: Value) -> Value:
    """``min(left, right)``."""
    return left if decide(scratch, at_most(left, right)) else right


def larger(scratch: Scratch, left: Value, right: Value) -> Value:
    """``max(left, right)``."""
    return left if decide(scratch, at_least(left, right)) else right


def holds_in(part: Symbolic | None, state: State, cond: Decision) -> bool:
    """Whether ``cond`` holds in every concrete state ``state`` stands for."""
    if isinstance(cond, bool):
        return cond
    if part is None:
        return bool(evaluate(cond, {}))
    return part.implies(state[part.path], cond)


def negated(cond: Decision) -> Decision:
    return (not cond) if isinstance(cond, bool) else negate(cond)


def is_true(value: Expr) -> Expr:
    """A register holding a bool, as a condition."""

    def build(world: World) -> Callable[[State], Any]:
        get = value.compile(world)
        return lambda state: get(state) is True

    return Expr(value.text, build, value.local)


def equals(value: Expr, wanted: Any) -> Expr:
    """A register's value is ``wanted``."""

    def build(world: World) -> Callable[[State], Any]:
        get = value.compile(world)
        return lambda state: get(state) == wanted

    return Expr(f"{value} == {wanted}", build, value.local)


__all__ = [
    "TRUE",
    "Decision",
    "ForkScratch",
    "Symbol",
    "Symbolic",
    "Value",
    "add",
    "at_least",
    "at_most",
    "decide",
    "describe",
    "differ",
    "div",
    "equal",
    "equals",
    "holds_in",
    "is_true",
    "larger",
    "less",
    "mod",
    "mul",
    "negated",
    "pick",
    "smaller",
    "sub",
    "symbolic_part",
]
