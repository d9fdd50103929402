"""Symbolic integers and path conditions, with z3 behind this one module.

Scenario arguments such as a new file size or a fault offset may be
symbolic: a named integer with a range.  Arithmetic on them builds terms;
comparisons build conditions.  Terms and conditions are immutable and
hashable, so a path condition (a canonically ordered tuple of conditions)
can live in a state.  ``Solver`` decides which branches of a condition are
feasible under a path condition, enumerates the values a term can take
(page indices), and gives a concrete witness; z3 is imported only when a
solver is created, so concrete scenarios never load it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

import attrs

ARITHMETIC: dict[str, Callable[[int, int], int]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
}
COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}


Item = TypeVar("Item")
_INTERNED: dict[Any, Any] = {}
"""One object for each distinct term and condition made in this process
(terms are few: a scenario's symbols and what its steps compute from
them), so that states holding equal ones hold the same one and compare by
identity, after a trip through a pickle too."""


def _interned(item: Item) -> Item:
    found: Item = _INTERNED.setdefault(item, item)
    return found


def _rebuilt(kind: type, *fields: Any) -> Any:
    """An unpickled term or condition, as the one object this process has."""
    return _interned(kind(*fields))


class _Interned:
    """Pickled as the fields to rebuild from, through ``_rebuilt``."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), *attrs.astuple(cast(Any, self), recurse=False)))


class _Arithmetic(_Interned):
    """Operators shared by terms; comparisons are the functions below, so
    that ``==`` keeps meaning structural equality."""

    def __add__(self, other: TermLike) -> Term:
        return binary("+", self, other)  # type: ignore[arg-type]

    def __radd__(self, other: TermLike) -> Term:
        return binary("+", other, self)  # type: ignore[arg-type]

    def __sub__(self, other: TermLike) -> Term:
        return binary("-", self, other)  # type: ignore[arg-type]

    def __rsub__(self, other: TermLike) -> Term:
        return binary("-", other, self)  # type: ignore[arg-type]

    def __mul__(self, other: TermLike) -> Term:
        return binary("*", self, other)  # type: ignore[arg-type]

    def __rmul__(self, other: TermLike) -> Term:
        return binary("*", other, self)  # type: ignore[arg-type]

    def __floordiv__(self, other: TermLike) -> Term:
        return binary("//", self, other)  # type: ignore[arg-type]

    def __mod__(self, other: TermLike) -> Term:
        return binary("%", self, other)  # type: ignore[arg-type]


@attrs.frozen(cache_hash=True)
class Var(_Arithmetic):
    """A symbolic integer named ``name``."""

    name: str

    def __str__(self) -> str:
        return self.name


@attrs.frozen(cache_hash=True)
class Const(_Arithmetic):
    """An integer constant."""

    value: int
    minus_one: bool = attrs.field(
        default=attrs.Factory(lambda const: const.value == -1, takes_self=True), repr=False
    )
    """Whether ``value`` is -1, which Python hashes as -2: hashed with it,
    so that ``Const(-1)`` and ``Const(-2)`` (and the terms and states that
    hold them) hash apart, as a fingerprint needs."""

    def __str__(self) -> str:
        return str(self.value)


@attrs.frozen(cache_hash=True)
class BinOp(_Arithmetic):
    """``left op right`` for op in + - * // %."""

    op: str
    left: Term
    right: Term

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


Term = Var | Const | BinOp
TermLike = Term | int


class UndecidedComparison(TypeError):
    """A comparison of symbolic values asked for its truth (``if cond:``)
    where only a forking step can decide it."""


class _Condition(_Interned):
    """A condition has no truth value of its own: a step decides it."""

    def __bool__(self) -> bool:
        raise UndecidedComparison(
            f"{self} compares symbolic values: it is true in some runs and false in others, so "
            "`if` cannot test it; decide it with decide(scratch, cond) in a step that may fork "
            "(fork_effect, fork_compute, fork_when)"
        )


@attrs.frozen(cache_hash=True)
class Compare(_Condition):
    """``left op right`` for op in < <= == != >= >."""

    op: str
    left: Term
    right: Term

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@attrs.frozen(cache_hash=True)
class Not(_Condition):
    """The negation of a condition."""

    cond: Cond

    def __str__(self) -> str:
        return f"!({self.cond})"


Cond = Compare | Not
TERM_KINDS: tuple[type, ...] = (Var, Const, BinOp, Compare, Not)
"""The classes of terms and conditions: values fit for a state's slot as
they are (they hash -1 apart, and a copy rebuilds the one object)."""
PathCondition = tuple[Cond, ...]
TRUE: PathCondition = ()


def term(value: TermLike) -> Term:
    """An integer as a constant term; terms pass through."""
    return _interned(Const(value)) if isinstance(value, int) else value


def binary(op: str, left: TermLike, right: TermLike) -> Term:
    """``left op right``, folded when both sides are constants."""
    a, b = term(left), term(right)
    if isinstance(a, Const) and isinstance(b, Const):
        return term(ARITHMETIC[op](a.value, b.value))
    return _interned(BinOp(op, a, b))


def compare(op: str, left: TermLike, right: TermLike) -> Cond:
    """The condition ``left op right``."""
    if op not in COMPARISONS:
        raise ValueError(f"unknown comparison {op!r}")
    return _interned(Compare(op, term(left), term(right)))


def lt(left: TermLike, right: TermLike) -> Cond:
    return compare("<", left, right)


def le(left: TermLike, right: TermLike) -> Cond:
    return compare("<=", left, right)


def eq(left: TermLike, right: TermLike) -> Cond:
    return compare("==", left, right)


def negate(cond: Cond) -> Cond:
    """The negation of ``cond`` (double negations removed)."""
    return cond.cond if isinstance(cond, Not) else _interned(Not(cond))


def variables(item: Term | Cond) -> set[str]:
    """The names of the symbolic integers ``item`` mentions."""
    if isinstance(item, Var):
        return {item.name}
    if isinstance(item, Const):
        return set()
    if isinstance(item, Not):
        return variables(item.cond)
    return variables(item.left) | variables(item.right)


def symbolic_divisors(item: Term | Cond) -> set[Term]:
    """The divisors of ``item``'s ``//`` and ``%`` that mention a symbol."""
    if isinstance(item, Var | Const):
        return set()
    if isinstance(item, Not):
        return symbolic_divisors(item.cond)
    found = symbolic_divisors(item.left) | symbolic_divisors(item.right)
    if isinstance(item, BinOp) and item.op in ("//", "%") and variables(item.right):
        found.add(item.right)
    return found


def evaluate(item: Term | Cond, env: Mapping[str, int]) -> Any:
    """The concrete value of a term (int) or condition (bool) under ``env``."""
    if isinstance(item, Var):
        return env[item.name]
    if isinstance(item, Const):
        return item.value
    if isinstance(item, Not):
        return not evaluate(item.cond, env)
    if isinstance(item, Compare):
        return COMPARISONS[item.op](evaluate(item.left, env), evaluate(item.right, env))
    return ARITHMETIC[item.op](evaluate(item.left, env), evaluate(item.right, env))


def conjoin(path: PathCondition, cond: Cond) -> PathCondition:
    """``path`` and ``cond``, in canonical order (so equal sets of
    constraints give equal states)."""
    if cond in path:
        return path
    return tuple(sorted((*path, cond), key=str))


def render(path: PathCondition) -> str:
    """A path condition as people read it."""
    return " && ".join(str(c) for c in path) or "true"


@attrs.frozen
class Symbol:
    """A symbolic scenario argument: ``name`` ranges over ``low..high``."""

    name: str
    low: int
    high: int

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                f"symbol name {self.name!r} is not a name (letters, digits and _, as a "
                "variable of C or Python): it is printed in witnesses as name=value"
            )
        for bound in (self.low, self.high):
            if type(bound) is not int:
                raise ValueError(
                    f"symbol {self.name}: bound {bound!r} is not an integer (sizes and "
                    "offsets are whole numbers)"
                )
        if self.low > self.high:
            raise ValueError(f"symbol {self.name}: empty range {self.low}..{self.high}")

    @property
    def var(self) -> Var:
        return Var(self.name)


class Undecided(RuntimeError):
    """z3 answered neither sat nor unsat (it gave up): no branch may be cut
    on such an answer, so the search cannot go on."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"z3 could not decide a path condition ({reason})")


class Solver:
    """Feasibility, value enumeration and witnesses for path conditions over
    a fixed set of symbols; answers are cached and solver calls counted."""

    def __init__(self, symbols: Iterable[Symbol]) -> None:
        import z3

        self._z3 = z3
        self.symbols = {symbol.name: symbol for symbol in symbols}
        self._vars = {name: z3.Int(name) for name in self.symbols}
        self._domain = [
            bound
            for name, symbol in self.symbols.items()
            for bound in (self._vars[name] >= symbol.low, self._vars[name] <= symbol.high)
        ]
        self.calls = 0
        self._feasible: dict[frozenset[Cond], bool] = {}
        self._values: dict[tuple[frozenset[Cond], Term, int], list[int]] = {}
        self._encoded: dict[Term | Cond, Any] = {}
        self._incremental = self._solver()
        self._incremental.add(*self._domain)

    def _solver(self) -> Any:
        """A z3 solver that leaves SIGINT to Python: z3's own handler would
        turn a Ctrl-C into an ``unknown`` answer and swallow it."""
        solver = self._z3.Solver()
        solver.set("ctrl_c", False)
        return solver

    def _encode(self, item: Term | Cond) -> Any:
        encoded = self._encoded.get(item)
        if encoded is None:
            encoded = self._encoded[item] = self._encode_new(item)
        return encoded

    def _encode_new(self, item: Term | Cond) -> Any:
        z3 = self._z3
        if isinstance(item, Var):
            if item.name not in self._vars:
                raise ValueError(f"unknown symbol {item.name!r}")
            return self._vars[item.name]
        if isinstance(item, Const):
            return z3.IntVal(item.value)
        if isinstance(item, Not):
            return z3.Not(self._encode(item.cond))
        left, right = self._encode(item.left), self._encode(item.right)
        if isinstance(item, Compare):
            return COMPARISONS[item.op](left, right)
        if item.op in ("//", "%"):
            quotient = self._floor_division(item.right, left, right)
            return quotient if item.op == "//" else left - right * quotient
        return ARITHMETIC[item.op](left, right)

    def _floor_division(self, divisor: Term, left: Any, right: Any) -> Any:
        """Python's ``left // right`` (rounding toward minus infinity): z3's
        integer division rounds so that the remainder is never negative,
        which is the same for a positive divisor only.  A divisor that may
        be 0 is refused before it is asked (``refuse_zero_divisors``)."""
        if isinstance(divisor, Const):
            if divisor.value == 0:
                raise ZeroDivisionError(f"{divisor} is a divisor")
            return left / right if divisor.value > 0 else (-left) / (-right)
        return self._z3.If(right > 0, left / right, (-left) / (-right))

    def _check(self, constraints: Iterable[Cond]) -> Any:
        solver = self._solver()
        solver.add(*self._domain, *(self._encode(c) for c in constraints))
        self.calls += 1
        return solver

    def _satisfiable(self, path: PathCondition) -> bool:
        """One call of the incremental solver, with ``path`` as assumptions
        (cheaper than asserting it in a scope of its own); its model is the
        solver's until the next call."""
        found = self._assuming([self._encode(c) for c in path])
        self._feasible[frozenset(path)] = found
        return found

    def _assuming(self, assumptions: Sequence[Any]) -> bool:
        """Whether the incremental solver's assertions and ``assumptions``
        (encoded conditions) are satisfiable: ``z3.Solver.check`` without
        its conversion of every assumption, which are Boolean already."""
        z3, solver = self._z3, self._incremental
        self.calls += 1
        array = (z3.Ast * len(assumptions))(*(a.as_ast() for a in assumptions))
        answer = z3.Z3_solver_check_assumptions(
            solver.ctx.ref(), solver.solver, len(assumptions), array
        )
        if answer == z3.Z3_L_UNDEF:
            raise Undecided(z3.Z3_solver_get_reason_unknown(solver.ctx.ref(), solver.solver))
        return bool(answer == z3.Z3_L_TRUE)

    def feasible(self, path: PathCondition) -> bool:
        """Whether some values of the symbols satisfy ``path``."""
        key = frozenset(path)
        if key not in self._feasible:
            self._satisfiable(path)
        return self._feasible[key]

    def split(self, path: PathCondition, cond: Cond) -> list[tuple[bool, PathCondition]]:
        """The feasible outcomes of ``cond`` under ``path``: (True, path and
        cond) and/or (False, path and not cond).  A condition without
        symbols is decided without the solver."""
        if not variables(cond):
            return [(bool(evaluate(cond, {})), path)]
        self.refuse_zero_divisors(path, cond)
        outcomes = []
        for taken, branch in ((True, cond), (False, negate(cond))):
            extended = conjoin(path, branch)
            if self.feasible(extended):
                outcomes.append((taken, extended))
        return outcomes

    def refuse_zero_divisors(self, path: PathCondition, item: Term | Cond) -> None:
        """``ZeroDivisionError`` when a divisor of ``item`` may be 0 under
        ``path``, as Python's division would raise for that value (z3 would
        leave the quotient unconstrained instead)."""
        for divisor in symbolic_divisors(item):
            if self.feasible(conjoin(path, eq(divisor, 0))):
                raise ZeroDivisionError(f"{item} divides by {divisor}, which may be 0 here")

    def values(self, path: PathCondition, item: TermLike, limit: int = 64) -> list[int]:
        """Every value ``item`` can take under ``path`` (ascending), at most
        ``limit`` of them."""
        value = term(item)
        if not variables(value):
            return [evaluate(value, {})] if self.feasible(path) else []
        key = (frozenset(path), value, limit)
        if key not in self._values:
            self.refuse_zero_divisors(path, value)
            self._values[key] = self._enumerate(path, value, limit)
        return list(self._values[key])

    def _enumerate(self, path: PathCondition, value: Term, limit: int) -> list[int]:
        solver = self._incremental
        assumptions = [self._encode(c) for c in path]
        encoded = self._encode(value)
        found: list[int] = []
        solver.push()
        try:
            while len(found) < limit and self._assuming(assumptions):
                current = solver.model().eval(encoded, model_completion=True).as_long()
                found.append(current)
                solver.add(encoded != current)
        finally:
            solver.pop()
        return sorted(found)

    def model(self, path: PathCondition) -> dict[str, int] | None:
        """Values of every symbol satisfying ``path``, or None when it is
        infeasible: one incremental solver call, whose answer also settles
        ``feasible(path)``."""
        if not self._satisfiable(path):
            return None
        model = self._incremental.model()
        return {
            name: model.eval(var, model_completion=True).as_long()
            for name, var in self._vars.items()
        }

    def witness(self, path: PathCondition) -> dict[str, int]:
        """Concrete values of every symbol satisfying ``path`` (the smallest
        ones z3 finds first are not promised)."""
        solver = self._check(path)
        answer = solver.check()
        if answer == self._z3.unknown:
            raise Undecided(solver.reason_unknown())
        if answer != self._z3.sat:
            raise ValueError(f"path condition is infeasible: {render(path)}")
        model = solver.model()
        return {
            name: model.eval(var, model_completion=True).as_long()
            for name, var in self._vars.items()
        }
