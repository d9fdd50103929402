"""Steps the search runs together (a local step with the step before it),
registers it forgets, threads it takes as interchangeable: each is sound
only while no other thread's step and no property can tell.  These models
tell: a step reading another thread's register, a bit lock another thread
clears, a register another thread's effect declares it reads, a thread
reading one of two otherwise interchangeable threads' registers, a
property reading where an interrupt handler runs.  Each reaches its
violation under every search."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]

HEADER = """\
from mc.dsl import E, EXCL, LockKind, Op, const, invariant, operation, same, scenario
from mc.dsl import state_expr, touches


def put(scratch, slot, value):
    scratch[slot] = value


@invariant("no-eperm", "no thread returns -EPERM", reads=["returned"])
def no_eperm(model):
    rets = [thread.slots.ret for thread in model.threads]
    return lambda s: "a thread returned -EPERM" if -E.EPERM in [s[r] for r in rets] else None
"""

PUBLISHED_AT_START = """
@operation(models="a choice, published")
def pick(op: Op) -> None:
    op.publish(f"{op.thread.name}.x", op.choose("x", const((1, 2)), "x = pick()"))


@operation(models="a test of both choices")
def watch(op: Op) -> None:
    both = same(op.published("T1.x"), const(2))
    op.fail_if(both, E.EPERM, "out", "if (T1.x == 2) return -EPERM")
    op.label("out")


scenario("t/published", "a pick watched", tree=[], threads=[pick(), watch()],
         properties=["no-eperm"])
"""

PUBLISHED_MID_PROGRAM = """
@operation(models="sets r once flag is set")
def setter(op: Op) -> None:
    flag = op.world.shared_slot("flag", 0)
    op.wait_until(state_expr("flag == 1", lambda s: s[flag] == 1, reads=[flag]), "wait", "flag")
    op.publish("T1.r", op.let("r", const(2), "r = 2"))


@operation(models="sets flag, then copies r")
def reader(op: Op) -> None:
    op.effect("flag = 1", put, op.world.shared_slot("flag", 0), 1)
    copied = op.let("c", op.published("T1.r"), "c = T1.r")
    op.fail_if(same(copied, const(2)), E.EPERM, "out", "if (c == 2) return -EPERM")
    op.label("out")


scenario("t/published", "a copy of a register set later", tree=[],
         threads=[setter(), reader()], properties=["no-eperm"])
"""

BIT_LOCK_CLEARED = """
@operation(models="locks B, asserts it holds B")
def holder(op: Op) -> None:
    b = op.world.shared_lock("B", LockKind.BIT_LOCK)
    op.lock(b, EXCL, "folio_lock(folio)")
    op.effect("x = 1", put, op.world.shared_slot("x", 0), 1)
    op.assert_held(b, "VM_BUG_ON_FOLIO(!folio_test_locked(folio))")
    op.unlock(b, "folio_unlock(folio)")


@operation(models="clears B once x is set")
def clearer(op: Op) -> None:
    b = op.world.shared_lock("B", LockKind.BIT_LOCK)
    x = op.world.shared_slot("x", 0)
    op.wait_until(state_expr("x == 1", lambda s: s[x] == 1, reads=[x]), "wait x", "x")
    op.effect("folio_unlock(folio)", put, b.slot, None)


scenario("t/bit-lock", "a bit lock cleared by another thread", tree=[],
         threads=[holder(), clearer()], properties=["lock-protocol"])
"""

DECLARED_FOREIGN_READ = """
@touches(lambda world, r, seen: ([r], [seen]))
def look(scratch, r, seen):
    if scratch[r] == 1:
        scratch[seen] = "T2 saw T1's r == 1"


@operation(models="sets its register r")
def setter(op: Op) -> None:
    r = op.register("r")
    op.publish("T1.r.slot", r)
    op.effect("r = 1", put, r, 1)


@operation(models="looks at T1's r")
def looker(op: Op) -> None:
    seen = op.world.shared_slot("seen", None)
    op.effect("look at T1's r", look, op.published("T1.r.slot"), seen)


@invariant("never-seen", "T2 never sees T1's r == 1", reads=["seen"])
def never_seen(model):
    seen = model.world.shared_slot("seen", None)
    return lambda s: s[seen]


scenario("t/declared", "a register another thread's effect reads", tree=[],
         threads=[setter(), looker()], properties=["never-seen"])
"""

TWO_OF_A_KIND_READ_APART = (
    PUBLISHED_AT_START.replace("def watch", "def watch_apart")
    .replace(
        'both = same(op.published("T1.x"), const(2))',
        'both = all_of(same(op.published("T1.x"), const(2)), same(op.published("T2.x"), const(1)))',
    )
    .replace("threads=[pick(), watch()]", "threads=[pick(), pick(), watch_apart()]")
    .replace("a pick watched", "two picks watched apart")
)

HANDLER_WATCHED = """
@operation(models="a plain thread")
def plain(op: Op) -> None:
    op.effect("y = 1", put, op.world.shared_slot("y", 0), 1)


@operation(models="an interrupt handler setting flag")
def handler(op: Op) -> None:
    op.interrupt()
    op.effect("flag = 1", put, op.world.shared_slot("flag", 0), 1)
    op.interrupt_return()


@invariant("not-running-after-flag", "the handler never runs with flag set",
           reads=["T2.cpu", "flag"])
def not_running(model):
    cpu = next(i for i, s in enumerate(model.world.slots) if s.name == "T2.cpu")
    flag = model.world.shared_slot("flag", 0)
    return lambda s: "the handler runs with flag set" if s[cpu] is not None and s[flag] else None


scenario("t/handler", "a handler whose landing a property reads", tree=[],
         threads=[plain(), handler()], properties=["not-running-after-flag"])
"""


@pytest.mark.parametrize(
    ("model", "name", "options", "violated"),
    [
        (PUBLISHED_AT_START, "t/published", (), "no-eperm"),
        (PUBLISHED_MID_PROGRAM, "t/published", (), "no-eperm"),
        (BIT_LOCK_CLEARED, "t/bit-lock", (), "lock-protocol"),
        (DECLARED_FOREIGN_READ, "t/declared", (), "never-seen"),
        (TWO_OF_A_KIND_READ_APART, "t/published", ("--symmetry",), "no-eperm"),
        (HANDLER_WATCHED, "t/handler", (), "not-running-after-flag"),
    ],
    ids=[
        "a-register-read-as-the-reader-starts",
        "a-register-copied-by-a-local-step",
        "a-bit-lock-another-thread-clears",
        "a-register-a-touches-declaration-reads",
        "interchangeable-threads-read-apart",
        "a-handler-s-landing-read-by-a-property",
    ],
)
@pytest.mark.parametrize(
    "search", [(), ("--no-por",), ("--exact",)], ids=["por", "no-por", "exact"]
)
def test_the_violation_is_reached_by_every_search(
    vfsmc: Run,
    model: str,
    name: str,
    options: tuple[str, ...],
    violated: str,
    search: tuple[str, ...],
) -> None:
    Path("hidden.py").write_text(HEADER.replace("E, EXCL", "E, EXCL, all_of") + model)
    result = vfsmc("check", f"hidden.py:{name}", "--no-save", *options, *search)
    assert result.exit_code == 1, result.output
    assert f"{violated} in {name}" in result.output, result.output


def test_an_effect_changing_a_bit_lock_another_thread_holds_is_named(vfsmc: Run) -> None:
    """The clearing effect is the error, where it runs: a bit lock changes
    only by its holder's steps (its release, or the I/O it hands it to)."""
    Path("hidden.py").write_text(HEADER + BIT_LOCK_CLEARED)
    result = vfsmc("check", "hidden.py:t/bit-lock", "--no-save")
    assert "T2 changes B, which T1 holds" in result.output, result.output
