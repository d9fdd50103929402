"""Reductions that must not hide a state a property or a step can see:
partial-order reduction with a step that reads another thread's register
or a lock's slot, a read side run with the step before it under an effect
that reads the lock, local steps under a property that reads the thread's
registers, a lock one thread alone takes under an effect of another
thread that reads it, a lock held on one path only (``mc.dsl.guards``),
and symmetry with interrupt handlers.  Each model
gives the same verdict with and without ``--no-por``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import representatives_reachable

from mc.check.checker import check_scenario
from mc.check.registry import with_files
from mc.dsl.symmetry import interchangeable

Run = Callable[..., Result]

MODELS = """
from mc.dsl import (EXCL, SHARED, LockKind, Op, Scratch, const, invariant, operation, scenario,
                    state_expr, step_invariant, touches)

step_invariant("saw", "a step saw what it must not")


def _slot_touches(world, slot, *rest):
    return [slot], [slot]


@touches(_slot_touches)
def put(scratch: Scratch, slot: int, value: int) -> None:
    scratch[slot] = value


@touches(lambda world, slot: ([slot], []))
def read(scratch: Scratch, slot: int):
    return scratch[slot]


def register_is_one(scratch: Scratch, value) -> None:
    if value == 1:
        scratch.violate("saw", "T1's r is 1")


def lock_held(scratch: Scratch, lock: int) -> None:
    if scratch[lock] is not None:
        scratch.violate("saw", "the mutex is held")


def flag_without_reader(scratch: Scratch, flag: int, lock: int) -> None:
    if scratch[flag] == 1 and scratch[lock] is None:
        scratch.violate("saw", "the flag is up and no reader holds the rwsem")


@touches(lambda world, flag, lock: ([flag, lock], []))
def declared_flag_without_reader(scratch: Scratch, flag: int, lock: int) -> None:
    flag_without_reader(scratch, flag, lock)


@operation(models="r is 1 while it holds m, published to the next thread")
def publisher(op: Op) -> None:
    m = op.world.shared_lock("m", LockKind.MUTEX)
    op.lock(m, EXCL, "lock")
    r = op.let("r", const(1), "r = 1")
    op.publish("T1.r", r)
    op.unlock(m, "unlock")
    op.let("r", const(0), "r = 0")
    op.lock(m, EXCL, "lock again")
    op.unlock(m, "unlock again")


@operation(models="reads T1's r")
def reader(op: Op) -> None:
    op.effect("check(T1.r)", register_is_one, op.published("T1.r"))


def slot_is_one(scratch: Scratch, slot: int) -> None:
    if scratch[slot] == 1:
        scratch.violate("saw", "T1's r is 1")


@operation(models="r is 1, then 0, its slot number published")
def slot_publisher(op: Op) -> None:
    op.publish("T1.r slot", op.register("r"))
    op.effect("z = 1", put, op.world.shared_slot("z", 0), 1)
    op.let("r", const(1), "r = 1")
    op.let("r", const(0), "r = 0")
    op.effect("z = 2", put, op.world.shared_slot("z", 0), 2)


@operation(models="reads T1's r by its slot number, not saying so")
def slot_reader(op: Op) -> None:
    op.effect("check(T1.r)", slot_is_one, op.published("T1.r slot"))


def saw_if(scratch: Scratch, seen: object) -> None:
    if seen:
        scratch.violate("saw", "the mutex is held")


@operation(models="looks at m's slot through an expression that does not say so")
def expr_peeker(op: Op) -> None:
    m = op.world.shared_lock("m", LockKind.MUTEX)
    seen = op.let("seen", state_expr("m is held", lambda s: s[m.slot] is not None))
    op.effect("if (seen) saw()", saw_if, seen)


@operation(models="looks at rw's slot through an expression that does not say so")
def expr_read_side_peeker(op: Op) -> None:
    rw = op.world.shared_lock("rw", LockKind.RWSEM)
    flag = op.world.shared_slot("flag", 0)
    seen = op.let(
        "seen",
        state_expr(
            "flag && !readers", lambda s: s[flag] == 1 and (s[rw.slot] or (None, ()))[1] == ()
        ),
    )
    op.effect("if (seen) saw()", saw_if, seen)


def saw_one(scratch: Scratch, seen: object) -> None:
    if seen:
        scratch.violate("saw", "T1's r is 1")


@operation(models="tests T1's register by slot number in an expression, not saying so")
def slot_expr_reader(op: Op) -> None:
    r = op.published("T1.r slot")
    seen = op.let("seen", state_expr("T1.r == 1", lambda s: s[r] == 1))
    op.effect("if (seen) saw()", saw_one, seen)


@operation(models="tests T1's register by slot number in an expression that says so")
def slot_expr_declared_reader(op: Op) -> None:
    r = op.published("T1.r slot")
    seen = op.let("seen", state_expr("T1.r == 1", lambda s: s[r] == 1, reads=[r]))
    op.effect("if (seen) saw()", saw_one, seen)


@operation(models="holds m, then writes z")
def holder(op: Op) -> None:
    m = op.world.shared_lock("m", LockKind.MUTEX)
    op.lock(m, EXCL, "lock")
    op.unlock(m, "unlock")
    op.effect("z = 1", put, op.world.shared_slot("z", 0), 1)


@operation(models="looks at m's slot")
def peeker(op: Op) -> None:
    op.effect("peek(m)", lock_held, op.world.shared_lock("m", LockKind.MUTEX).slot)


@touches(lambda world, lock: ([lock], []))
def declared_lock_held(scratch: Scratch, lock: int) -> None:
    lock_held(scratch, lock)


@operation(models="looks at m's slot, saying so")
def declared_peeker(op: Op) -> None:
    m = op.world.shared_lock("m", LockKind.MUTEX)
    op.effect("peek(m)", declared_lock_held, m.slot)


@operation(models="raises a flag, takes the read side, lowers the flag")
def flagger(op: Op) -> None:
    rw = op.world.shared_lock("rw", LockKind.RWSEM)
    flag = op.world.shared_slot("flag", 0)
    op.effect("flag = 1", put, flag, 1)
    op.lock(rw, SHARED, "down_read(&rw)")
    op.effect("flag = 0", put, flag, 0)
    op.unlock(rw, "up_read(&rw)")


@operation(models="checks the flag against the readers, saying it reads the rwsem")
def declared_checker(op: Op) -> None:
    rw = op.world.shared_lock("rw", LockKind.RWSEM)
    op.effect("check", declared_flag_without_reader, op.world.shared_slot("flag", 0), rw.slot)


@operation(models="checks the flag against the readers, not saying what it reads")
def undeclared_checker(op: Op) -> None:
    rw = op.world.shared_lock("rw", LockKind.RWSEM)
    op.effect("check", flag_without_reader, op.world.shared_slot("flag", 0), rw.slot)


def saw(scratch: Scratch) -> None:
    scratch.violate("saw", "the flag is up and no reader holds the rwsem")


@operation(models="checks the flag against the readers in a condition that names its reads")
def expr_checker(op: Op) -> None:
    rw = op.world.shared_lock("rw", LockKind.RWSEM)
    flag = op.world.shared_slot("flag", 0)
    unread = state_expr("flag && !rwsem_is_locked(&rw)",
                        lambda state: state[flag] == 1 and state[rw.slot] is None,
                        reads=[flag, rw.slot])
    with op.when(unread, "if (flag && !rwsem_is_locked(&rw))"):
        op.effect("saw it", saw)


@touches(lambda world, r: ([], []))
def register_is_one_declared(scratch: Scratch, value) -> None:
    register_is_one(scratch, value)


@operation(models="r is 1 for one local step, published to the next thread")
def brief_publisher(op: Op) -> None:
    a = op.world.shared_slot("a", 0)
    op.effect("a = 1", put, a, 1)
    r = op.let("r", const(1), "r = 1")
    op.publish("T1.r", r)
    op.let("r", const(0), "r = 0")
    op.effect("a = 2", put, a, 2)


@operation(models="reads T1's r, saying it reads nothing shared")
def brief_reader(op: Op) -> None:
    op.effect("check(T1.r)", register_is_one_declared, op.published("T1.r"))


@touches(lambda world, flag, lock, seen: ([flag, lock], []))
def flag_without_reader_seen(scratch: Scratch, flag: int, lock: int, seen) -> None:
    flag_without_reader(scratch, flag, lock)


@operation(models="checks the flag against the readers, declared, with a register argument")
def register_checker(op: Op) -> None:
    rw = op.world.shared_lock("rw", LockKind.RWSEM)
    flag = op.world.shared_slot("flag", 0)
    seen = op.compute("seen", "seen = flag", read, flag)
    op.effect("check", flag_without_reader_seen, flag, rw.slot, seen)


@operation(models="r goes 1 then 0 between shared steps")
def flipper(op: Op) -> None:
    z = op.world.shared_slot("z", 0)
    op.effect("z = 1", put, z, 1)
    op.let("r", const(1), "r = 1")
    op.let("r", const(0), "r = 0")
    op.effect("z = 2", put, z, 2)


@operation(models="writes w")
def bystander(op: Op) -> None:
    op.effect("w = 1", put, op.world.shared_slot("w", 0), 1)


@invariant("r-never-1", "T1's r is never 1", reads=["registers(T1)"])
def r_never_1(model):
    r = model.register("T1", "r")
    return lambda state: "T1's r is 1" if state[r] == 1 else None


@operation(models="an interrupt handler writing z")
def handler(op: Op) -> None:
    op.holds_no_file()
    op.interrupt("irq_enter()")
    op.effect("z = 1", put, op.world.shared_slot("z", 0), 1)
    op.interrupt_return("irq_exit()")


@operation(models="an interrupt handler taking the spinlock")
def spinning_handler(op: Op) -> None:
    op.holds_no_file()
    s = op.world.shared_lock("s", LockKind.SPINLOCK)
    op.interrupt("irq_enter()")
    op.lock(s, EXCL, "spin_lock(&s)", irq=False)
    op.unlock(s, "spin_unlock(&s)", irq=False)
    op.interrupt_return("irq_exit()")


@operation(models="holds a spinlock with interrupts on")
def spinner(op: Op) -> None:
    s = op.world.shared_lock("s", LockKind.SPINLOCK)
    op.lock(s, EXCL, "spin_lock(&s)", irq=False)
    op.unlock(s, "spin_unlock(&s)", irq=False)


def z_unset(scratch: Scratch, z: int) -> None:
    if scratch[z] == 0:
        scratch.violate("saw", "T2 read z before T1 wrote it")


@touches(lambda world, z: ([z], []))
def declared_z_unset(scratch: Scratch, z: int) -> None:
    z_unset(scratch, z)


@operation(models="takes m only when the flag is up, writes z, lets m go if held")
def maybe_locker(op: Op) -> None:
    m = op.world.shared_lock("m", LockKind.MUTEX)
    flag = op.world.shared_slot("flag", 0)
    with op.when(state_expr("flag", lambda s: s[flag] == 1, reads=[flag]), "if (flag)"):
        op.lock(m, EXCL, "lock")
    op.effect("z = 1", put, op.world.shared_slot("z", 0), 1)
    op.unlock(m, "unlock if held", if_held=True)


@operation(models="reads z holding m")
def locked_reader(op: Op) -> None:
    m = op.world.shared_lock("m", LockKind.MUTEX)
    op.lock(m, EXCL, "lock")
    op.effect("check(z)", declared_z_unset, op.world.shared_slot("z", 0))
    op.unlock(m, "unlock")


scenario("sound/foreign-register", "a thread reads another's register", tree=[],
         threads=[publisher(), reader()], properties=["saw", "deadlock"])
scenario("sound/foreign-register-slot", "reads another's register by slot number", tree=[],
         threads=[slot_publisher(), slot_reader()], properties=["saw", "deadlock"])
scenario("sound/peek-mutex-expr", "an expression reads a mutex's slot unsaid", tree=[],
         threads=[holder(), expr_peeker()], properties=["saw", "deadlock"])
scenario("sound/read-side-expr-unsaid", "an expression reads a read side's rwsem unsaid",
         tree=[], threads=[flagger(), expr_read_side_peeker()], properties=["saw", "deadlock"])
scenario("sound/foreign-register-expr", "an expression reads another's register unsaid",
         tree=[], threads=[slot_publisher(), slot_expr_reader()], properties=["saw", "deadlock"])
scenario("sound/foreign-register-expr-reads", "an expression says it reads another's register",
         tree=[], threads=[slot_publisher(), slot_expr_declared_reader()],
         properties=["saw", "deadlock"])
scenario("sound/peek-mutex", "an effect reads a mutex's slot", tree=[],
         threads=[holder(), peeker()], properties=["saw", "deadlock"])
scenario("sound/peek-mutex-declared", "an effect says it reads a mutex's slot", tree=[],
         threads=[holder(), declared_peeker()], properties=["saw", "deadlock"])
scenario("sound/read-side-declared", "an effect that says it reads a read side's rwsem", tree=[],
         threads=[flagger(), declared_checker()], properties=["saw", "deadlock"])
scenario("sound/read-side-undeclared", "an effect that reads a read side's rwsem unsaid",
         tree=[], threads=[flagger(), undeclared_checker()], properties=["saw", "deadlock"])
scenario("sound/read-side-expr", "a condition that says it reads a read side's rwsem", tree=[],
         threads=[flagger(), expr_checker()], properties=["saw", "deadlock"])
scenario("sound/published-briefly", "a register one local step holds at 1, read elsewhere",
         tree=[], threads=[brief_publisher(), brief_reader()], properties=["saw", "deadlock"])
scenario("sound/read-side-declared-register", "a declared read of the rwsem, a register argument",
         tree=[], threads=[flagger(), register_checker()], properties=["saw", "deadlock"])
scenario("sound/registers-watched", "a property reads a register local steps flip", tree=[],
         threads=[flipper(), bystander()], properties=["r-never-1", "deadlock"])
scenario("sound/two-handlers", "two identical handlers and a spinlock holder", tree=[],
         threads=[spinner(), handler(), handler()], properties=["deadlock", "lock-protocol"])
scenario("sound/two-handlers-spin", "two identical handlers spinning on the holder's lock",
         tree=[], threads=[spinner(), spinning_handler(), spinning_handler()],
         properties=["deadlock", "lock-protocol"])
scenario("sound/lock-on-one-path", "a mutex held on one path only, against a reader under it",
         tree=[], threads=[maybe_locker(), locked_reader()], properties=["saw", "deadlock"])
"""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "sound.py"
    path.write_text(MODELS)
    return path


@pytest.mark.parametrize(
    "scenario",
    [
        "sound/foreign-register",
        "sound/peek-mutex-declared",
        "sound/read-side-declared",
        "sound/read-side-expr",
        "sound/peek-mutex-expr",
        "sound/foreign-register-expr",
        "sound/foreign-register-expr-reads",
        "sound/read-side-expr-unsaid",
        "sound/read-side-declared-register",
        "sound/published-briefly",
        "sound/registers-watched",
        "sound/lock-on-one-path",
    ],
)
@pytest.mark.parametrize("options", [(), ("--no-por",)], ids=["reduced", "unreduced"])
def test_each_reduction_keeps_the_violation(
    vfsmc: Run, models: Path, scenario: str, options: tuple[str, ...]
) -> None:
    result = vfsmc("check", f"{models}:{scenario}", "--no-save", *options)
    assert result.exit_code == 1, result.output
    assert f"{scenario}: VIOLATED" in result.output


def test_an_effect_reading_a_read_side_it_does_not_declare_is_a_model_error(
    vfsmc: Run, models: Path
) -> None:
    """The read side runs with the step before it, so an effect that reads
    its rwsem unsaid would miss the state between: it must say so."""
    result = vfsmc("check", f"{models}:sound/read-side-undeclared", "--no-save")
    assert result.exit_code == 2, result.output
    assert "an effect reads rw" in result.output and "@touches" in result.output


def test_an_effect_reading_another_thread_s_own_lock_unsaid_is_a_model_error(
    vfsmc: Run, models: Path
) -> None:
    """A lock only T1 takes runs with the step before it, so T2's effect
    that reads its slot unsaid would miss the state between: it must say so."""
    result = vfsmc("check", f"{models}:sound/peek-mutex", "--no-save")
    assert result.exit_code == 2, result.output
    assert "an effect reads m, the slot of a lock only T1 takes" in result.output
    assert "@touches" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("options", [(), ("--no-por",)], ids=["reduced", "unreduced"])
def test_an_effect_reading_another_thread_s_register_by_number_unsaid_is_a_model_error(
    vfsmc: Run, models: Path, options: tuple[str, ...]
) -> None:
    """T1's register steps run with the step before them, reduced or not:
    T2's effect that reads the register by its slot number unsaid would
    never see r = 1, and the check said OK; it must say so."""
    result = vfsmc("check", f"{models}:sound/foreign-register-slot", "--no-save", *options)
    assert result.exit_code == 2, result.output
    assert "a step of T2 reads T1.r, a register of T1, through its slot number" in result.output
    assert "@touches" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("scenario", ["sound/two-handlers", "sound/two-handlers-spin"])
def test_two_handlers_swap_with_the_cpus_they_run_on(models: Path, scenario: str) -> None:
    """Two identical handlers are interchangeable: a permutation moves
    where each runs with it, and leaves in place a thread one runs over.
    Every representative of a reachable state is reachable, and the
    verdict is the one without symmetry."""
    registry = with_files([models])
    model = registry.build(registry.scenario(scenario))
    assert interchangeable(model) == [[1, 2]]
    assert representatives_reachable(model)
    alone = check_scenario(registry, scenario, ())
    reduced = check_scenario(registry, scenario, (), symmetry=True)
    assert alone.verdict == reduced.verdict
    assert alone.message == reduced.message
