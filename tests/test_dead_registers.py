"""Dead registers: a thread's registers no step it may still take reads
are reset as it comes to a program counter (``KernelModel.dead_registers``).
Resetting them must commute with every step and leave every property's
answer as it is (the model with resets is a quotient of the one without),
and a register a model holds the slot number of is never reset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import first_reachable

from mc.check.checker import check_scenario
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry
from mc.engine.model import PropertyKind

Run = Callable[..., Result]

SCENARIOS = [
    ("journal/write-vs-writeback-commit", ()),
    ("journal/write-vs-writeback-commit", ("handle-under-folio-lock",)),
    ("mmap/two-files-store-write", ()),
    ("inode/symlink", ()),
    ("writeback/two-writers-flusher", ()),
]


def _without_resets(model: KernelModel) -> KernelModel:
    """The same model with no register reset before its thread returns."""
    model._dead = [[() for _ in thread.steps] for thread in model.threads]
    return model


@pytest.mark.parametrize(("scenario", "variants"), SCENARIOS)
def test_resetting_dead_registers_commutes_with_every_step(
    shipped: Registry, scenario: str, variants: tuple[str, ...]
) -> None:
    found = shipped.scenario(scenario)
    reset = shipped.build(found, variants)
    plain = _without_resets(shipped.build(found, variants))
    quotient = reset._without_dead
    invariants = [p for p in reset.properties() if p.kind is PropertyKind.ALWAYS and not p.terminal]
    apart = 0
    for state in first_reachable(plain, 3000):
        same = quotient(state)
        apart += same != state
        assert reset.successors(same) == [
            (action, quotient(after)) for action, after in plain.successors(state)
        ]
        for prop in invariants:
            assert prop.check(same) == prop.check(state), prop.name
    assert apart, "no reachable state holds a dead register"


@pytest.mark.parametrize(("scenario", "variants"), SCENARIOS[:3])
def test_resets_keep_the_verdict_and_never_add_states(
    shipped: Registry, scenario: str, variants: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    reset = check_scenario(shipped, scenario, variants).result
    monkeypatch.setattr(
        KernelModel, "_dead_registers", lambda self: [[() for _ in t.steps] for t in self.threads]
    )
    plain = check_scenario(shipped, scenario, variants).result
    assert reset.verdict is plain.verdict
    assert (reset.violation is None) == (plain.violation is None)
    if reset.violation is not None and plain.violation is not None:
        assert reset.violation.property == plain.violation.property
    assert reset.stats.states < plain.stats.states


def test_a_register_whose_slot_the_model_holds_is_never_reset(shipped: Registry) -> None:
    """``op.register`` gives the slot number (a folio reference, read by
    number by the page cache's reference counts): such registers keep
    their values until the thread returns."""
    model = shipped.build(shipped.scenario("writeback/two-writers-flusher"), ())
    for tid, thread in enumerate(model.threads):
        dead = {slot for pc in range(len(thread.steps)) for slot in model.dead_registers(tid, pc)}
        assert not dead & model.world.escaped
        names = {model.world.slots[slot].name for slot in dead}
        if thread.name == "T3":
            assert "T3.fbatch" in names
            assert "T3.folio.0" not in names


HIDDEN_READ = """\
from mc.dsl import EXCL, LockKind, Op, invariant, operation, scenario


@operation(models="no kernel code: a register set to 7", describe=lambda: "seven()")
def seven(op: Op) -> None:
    lock = op.world.shared_lock("my_lock", LockKind.MUTEX)
    op.let("n", 7, "n = 7")
    op.lock(lock, EXCL, "mutex_lock(&my_lock)")
    op.unlock(lock, "mutex_unlock(&my_lock)")


def _n_small(model):
    slot = next(i for i, s in enumerate(model.world.slots) if s.name == "T1.n")
    return lambda state: None if state[slot] in (None, 0) else f"n = {state[slot]}"


@invariant("n-small", "n is never set (reads= leaves out returned)", reads=["dentry"])
def n_small(model):
    return _n_small(model)


scenario("hidden/read", "one thread setting n", tree=[], threads=[seven()], properties=["n-small"])
"""


def test_a_property_reading_a_register_it_does_not_declare_is_caught_by_the_audit(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A property that reads a register without naming its thread's
    ``returned`` never sees it once the register is reset (here at once:
    no later step reads ``n``); the audit keeps every register, so there
    the check sees the 7."""
    (tmp_path / "hidden.py").write_text(HIDDEN_READ)
    unaudited = vfsmc("check", "hidden.py:hidden/read", "--no-save")
    assert unaudited.exit_code == 0, unaudited.output
    audited = vfsmc("check", "hidden.py:hidden/read", "--no-save", "--audit-reads")
    assert audited.exit_code == 1, audited.output
    assert "n-small in hidden/read\nn = 7" in audited.output
