"""Symbolic integers: terms, path conditions and the solver behind them."""

from __future__ import annotations

import pytest

from mc.engine.symbolic import (
    TRUE,
    Const,
    Solver,
    Symbol,
    Undecided,
    compare,
    conjoin,
    eq,
    evaluate,
    le,
    lt,
    negate,
    render,
    variables,
)

PAGE = 4096
SIZE = Symbol("new_size", 0, 3 * PAGE)
POS = Symbol("pos", 0, 4 * PAGE - 1)


def test_terms_are_structural_and_fold_constants() -> None:
    size = SIZE.var
    assert size // PAGE == size // PAGE
    assert hash(lt(size, POS.var)) == hash(lt(size, POS.var))
    assert Const(2) + 3 == Const(5)
    assert variables(lt(size // PAGE, POS.var % PAGE)) == {"new_size", "pos"}
    assert evaluate(lt(size // PAGE, 2), {"new_size": 5000}) is True
    assert negate(negate(eq(size, 1))) == eq(size, 1)


def test_path_conditions_are_canonical() -> None:
    a, b = lt(SIZE.var, 100), le(POS.var, 7)
    assert conjoin(conjoin(TRUE, a), b) == conjoin(conjoin(TRUE, b), a)
    assert conjoin((a,), a) == (a,)
    assert render(TRUE) == "true"


def test_split_keeps_only_feasible_branches() -> None:
    solver = Solver([SIZE, POS])
    beyond = lt(SIZE.var, POS.var)
    both = solver.split(TRUE, beyond)
    assert [taken for taken, _ in both] == [True, False]
    path = both[0][1]
    assert solver.split(path, beyond) == [(True, path)]
    never = compare(">", SIZE.var, 3 * PAGE)
    assert [taken for taken, _ in solver.split(TRUE, never)] == [False]


def test_an_undecided_answer_cuts_no_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    """z3's ``unknown`` (it gave up, or a Ctrl-C reached it) is no
    ``unsat``: the split raises instead of dropping the branch, and
    nothing is cached as infeasible."""
    import z3

    solver = Solver([SIZE, POS])
    beyond = lt(SIZE.var, POS.var)
    monkeypatch.setattr(z3, "Z3_solver_check_assumptions", lambda *_args: z3.Z3_L_UNDEF)
    with pytest.raises(Undecided, match="z3 could not decide a path condition"):
        solver.split(TRUE, beyond)
    monkeypatch.undo()
    assert [taken for taken, _ in solver.split(TRUE, beyond)] == [True, False]


def test_concrete_conditions_need_no_solver_call() -> None:
    solver = Solver([SIZE])
    assert solver.split(TRUE, lt(1, 2)) == [(True, TRUE)]
    assert solver.calls == 0


def test_values_enumerates_page_indices() -> None:
    solver = Solver([SIZE, POS])
    path = conjoin(TRUE, le(POS.var, SIZE.var))
    assert solver.values(TRUE, POS.var // PAGE) == [0, 1, 2, 3]
    assert solver.values(path, SIZE.var // PAGE) == [0, 1, 2, 3]
    tail = conjoin(TRUE, eq(SIZE.var % PAGE, 0))
    assert solver.values(tail, SIZE.var // PAGE) == [0, 1, 2, 3]
    assert solver.values(TRUE, SIZE.var, limit=5) == sorted(solver.values(TRUE, SIZE.var, limit=5))
    assert len(solver.values(TRUE, SIZE.var, limit=5)) == 5


def test_witness_satisfies_the_path() -> None:
    solver = Solver([SIZE, POS])
    path = conjoin(conjoin(TRUE, lt(SIZE.var, POS.var)), eq(SIZE.var // PAGE, POS.var // PAGE))
    witness = solver.witness(path)
    assert all(evaluate(c, witness) for c in path)
    assert SIZE.low <= witness["new_size"] <= SIZE.high
    with pytest.raises(ValueError, match="infeasible"):
        solver.witness(conjoin(path, negate(path[0])))


def test_feasibility_answers_are_cached() -> None:
    solver = Solver([SIZE])
    path = conjoin(TRUE, lt(SIZE.var, 10))
    solver.feasible(path)
    calls = solver.calls
    solver.feasible(path)
    assert solver.calls == calls


def test_bad_symbols_are_rejected() -> None:
    with pytest.raises(ValueError, match="empty range"):
        Symbol("x", 5, 1)
    with pytest.raises(ValueError, match="unknown symbol"):
        Solver([SIZE]).feasible(conjoin(TRUE, lt(POS.var, 1)))


@pytest.mark.parametrize("divisor", [-3, -2, 2, 3, None])
def test_division_and_remainder_round_as_python_does(divisor: int | None) -> None:
    """The solver's ``//`` and ``%`` are Python's (toward minus infinity),
    which ``evaluate`` and the models use, for a negative divisor too: for
    each value of x (and of a symbolic divisor d, when ``divisor`` is
    None) the quotient and remainder Python gives are the only feasible
    ones."""
    x, d = Symbol("x", -7, 7), Symbol("d", -3, -1)
    solver = Solver([x] if divisor is not None else [x, d])
    for value in range(-7, 8):
        for k in [divisor] if divisor is not None else [-3, -2, -1]:
            path = conjoin(TRUE, eq(x.var, value))
            by = k if divisor is not None else d.var
            if divisor is None:
                path = conjoin(path, eq(d.var, k))
            for term, expected in ((x.var // by, value // k), (x.var % by, value % k)):
                assert [taken for taken, _ in solver.split(path, eq(term, expected))] == [True]


def test_a_divisor_that_may_be_0_is_refused() -> None:
    """Python raises on a division by 0, where z3 leaves the quotient free:
    a condition dividing by a symbol that may be 0 on the path is an
    error, and one whose path rules 0 out is decided."""
    x, d = Symbol("x", -7, 7), Symbol("d", -1, 1)
    solver = Solver([x, d])
    with pytest.raises(ZeroDivisionError, match="divides by d, which may be 0 here"):
        solver.split(TRUE, eq(x.var // d.var, 3))
    with pytest.raises(ZeroDivisionError):
        solver.values(TRUE, x.var % d.var)
    nonzero = conjoin(TRUE, compare("!=", d.var, 0))
    assert [taken for taken, _ in solver.split(nonzero, eq(x.var // d.var, 7))] == [True, False]


def test_a_comparison_of_symbols_has_no_truth_value_of_its_own() -> None:
    """``if at_least(i_size, 8192):`` on a symbolic size would take one
    branch silently: the comparison refuses to be a bool and says how to
    decide it; a comparison of numbers stays a bool."""
    from mc.engine.symbolic import UndecidedComparison, Var
    from mc.kernel.pathcond import at_least, negated

    with pytest.raises(UndecidedComparison, match=r"decide\(scratch, cond\)"):
        bool(at_least(Var("size"), 8192))
    with pytest.raises(UndecidedComparison):
        bool(negated(at_least(Var("size"), 8192)))
    assert at_least(8192, 4096) is True
