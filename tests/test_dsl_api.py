"""The model-writing surface of mc.dsl: jumps, composition with scoped
labels and registers, and values passed between threads at build time."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import Result

import mc.testing
from mc.check.registry import base, with_files
from mc.check.replay import same_changes
from mc.dsl import (
    EXCL,
    SHARED,
    E,
    File,
    LockKind,
    ModelError,
    Op,
    Scenario,
    World,
    const,
    handed_off,
    is_error,
    operation,
    scenario,
)
from mc.dsl.program import Jump, Label, Program
from mc.dsl.scenario import Registry, Variant
from mc.dsl.steps import BranchStep, JumpStep, LockStep, Source
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.kernel.expr import Const, LockExpr
from mc.kernel.locks import Mode
from mc.models.dirops import create
from mc.models.truncate import truncate
from mc.models.writeback import io_completion

TREE = ("/a/", "/b/")


def _registry(*threads: object) -> Registry:
    registry = base()
    registry.add_scenario(Scenario("api/s", "test", TREE, tuple(threads)))  # type: ignore[arg-type]
    return registry


def _model(  # type: ignore[no-untyped-def]
    *threads: object,
    properties: tuple[str, ...] = ("lock-protocol", "deadlock"),
    every_acquisition: bool = False,
):
    registry = _registry(*threads)
    return registry.build(
        registry.scenario("api/s"), properties=properties, every_acquisition=every_acquisition
    )


@operation(models="a helper with a label of its own")
def fails_once(op: Op) -> None:
    a = op.inode("/a")
    op.lock(a.i_rwsem, EXCL, "inode_lock(a)")
    op.fail_if(const(True), E.ENOENT, "unlock", "if (!found) return -ENOENT")
    op.label("unlock")
    op.unlock(a.i_rwsem, "inode_unlock(a)")


@operation(models="the helper run twice in one thread")
def twice(op: Op) -> None:
    op.run(fails_once)
    op.goto_if(is_error(op.ret), "out")
    op.run(fails_once)
    op.label("out")


@operation(models="two creates in one thread")
def two_creates(op: Op) -> None:
    op.run(create, "/a/x")
    op.run(create, "/b/x")


def test_a_body_run_twice_has_labels_of_its_own() -> None:
    model = _model(twice())
    labels = [step.label for step in model.threads[0].program.steps]
    assert labels.count("inode_lock(a)") == 2
    result = check(model)
    assert result.verdict is Verdict.OK


def test_goto_if_jumps_when_its_condition_holds() -> None:
    model = _model(twice(), every_acquisition=True)
    jump = next(s for s in model.threads[0].program.steps if isinstance(s, JumpStep))
    assert jump.label == "if (IS_ERR_VALUE(error)) goto out"
    state = model.initial
    taken = []
    thread = model.threads[0]
    while not model.finished(state):
        taken.append(thread.steps[state[thread.slots.pc]].step.label)
        [(_action, state)] = model.successors(state)
    locks = [label for label in taken if label == "inode_lock(a)"]
    assert locks == ["inode_lock(a)"], "the second run is skipped after the first failed"


@operation(models="a goto over a lock, in a body run twice")
def skips_lock(op: Op) -> None:
    a = op.inode("/a")
    op.goto("out")
    op.lock(a.i_rwsem, EXCL, "inode_lock(a)")
    op.unlock(a.i_rwsem, "inode_unlock(a)")
    op.label("out")


@operation(models="the goto over a lock, twice")
def skips_twice(op: Op) -> None:
    op.run(skips_lock)
    op.run(skips_lock)


def test_a_transform_drops_the_gotos_to_a_label_in_every_body() -> None:
    program = _model(skips_twice()).threads[0].program
    kept = program.drop_gotos("out")
    assert [i for i in kept.items if isinstance(i, Jump)] == []
    assert kept.steps == program.steps
    taken = _walk(_model(skips_twice(), every_acquisition=True))
    assert "inode_lock(a)" not in taken
    with pytest.raises(ValueError, match=r"no goto jumps to 'done' \(the gotos jump to: 'out'\)"):
        program.drop_gotos("done")


def test_dropping_a_goto_makes_the_thread_fall_through(tmp_path: Path) -> None:
    (tmp_path / "fall.py").write_text(
        "from mc.dsl import EXCL, Invocation, Op, Program, operation, scenario, variant\n\n"
        "@operation(models='a goto over a lock')\n"
        "def skipping(op: Op) -> None:\n"
        "    a = op.inode('/a')\n"
        "    op.goto('out')\n"
        "    op.lock(a.i_rwsem, EXCL, 'inode_lock(a)')\n"
        "    op.unlock(a.i_rwsem, 'inode_unlock(a)')\n"
        "    op.label('out')\n\n"
        "@variant('no-skip', 'the lock is taken')\n"
        "def no_skip(program: Program, invocation: Invocation) -> Program:\n"
        "    return program.drop_gotos('out')\n\n"
        "scenario('api/skip', 'one skip', tree=['/a/'], threads=[skipping()],\n"
        "         properties=['lock-protocol'])\n"
    )
    registry = with_files([tmp_path / "fall.py"])
    scenario = registry.scenario("api/skip")
    assert _walk(registry.build(scenario, every_acquisition=True)) == []
    assert _walk(registry.build(scenario, ["no-skip"], every_acquisition=True)) == [
        "inode_lock(a)",
        "inode_unlock(a)",
    ]


def test_move_after_puts_steps_before_the_goto_that_follows_the_anchor(tmp_path: Path) -> None:
    (tmp_path / "after.py").write_text(
        "from mc.dsl import EXCL, Invocation, Op, Program, operation, scenario, variant\n\n"
        "@operation(models='a goto after a lock')\n"
        "def jumping(op: Op) -> None:\n"
        "    a, b = op.inode('/a'), op.inode('/b')\n"
        "    op.lock(a.i_rwsem, EXCL, 'inode_lock(a)')\n"
        "    op.goto('out')\n"
        "    op.unlock(a.i_rwsem, 'never')\n"
        "    op.label('out')\n"
        "    op.unlock(a.i_rwsem, 'inode_unlock(a)')\n"
        "    op.lock(b.i_rwsem, EXCL, 'inode_lock(b)')\n"
        "    op.unlock(b.i_rwsem, 'inode_unlock(b)')\n\n"
        "@variant('b-first', 'b taken under a')\n"
        "def b_first(program: Program, invocation: Invocation) -> Program:\n"
        "    return program.move_after('inode_lock(b)', 'inode_lock(a)')\n\n"
        "scenario('api/jumping', 'one jump', tree=['/a/', '/b/'], threads=[jumping()],\n"
        "         properties=['lock-protocol'])\n"
    )
    registry = with_files([tmp_path / "after.py"])
    scenario = registry.scenario("api/jumping")
    assert _walk(registry.build(scenario, ["b-first"], every_acquisition=True)) == [
        "inode_lock(a)",
        "inode_lock(b)",
        "inode_unlock(a)",
        "inode_unlock(b)",
    ]


def test_a_variant_that_drops_the_step_setting_a_register_is_refused(tmp_path: Path) -> None:
    """Dropping d_path()'s need_seqretry step, which sets the register the
    next step tests, would leave the test reading None on every path: a
    model error naming the register, not a silent OK."""
    (tmp_path / "retry.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n"
        "from mc.models.dcache import d_path\n\n"
        "@variant('drop-retry', 'the seqretry test dropped')\n"
        "def drop_retry(program: Program, invocation: Invocation) -> Program:\n"
        "    if not invocation.runs(d_path):\n"
        "        return program\n"
        "    return program.drop(lambda s: s.label.startswith('if (need_seqretry('))\n"
    )
    with pytest.raises(ModelError, match=r"reads register T2\.seen where no step has set it"):
        mc.testing.check("dcache/d-path-vs-rename", ["drop-retry"], models=[tmp_path / "retry.py"])


HELPER_AND_EMPTY = """\
from mc.dsl import Invocation, Program, variant
from mc.models.filelock import break_lease, open_for_write

@variant("asks-a-helper", "tests a helper")
def asks_a_helper(program: Program, invocation: Invocation) -> Program:
    return program if invocation.runs(break_lease) else program

@variant("drops-everything", "every step dropped")
def drops_everything(program: Program, invocation: Invocation) -> Program:
    return program.drop(lambda step: True) if invocation.runs(open_for_write) else program

@variant("drops-a-conditional-goto", "drop_gotos of a label only a goto_if jumps to")
def drops_a_conditional_goto(program: Program, invocation: Invocation) -> Program:
    return program.drop_gotos("restart") if invocation.runs(open_for_write) else program
"""


@pytest.mark.parametrize(
    ("variant", "refusal"),
    [
        ("asks-a-helper", "break_lease is a helper, not an operation (@operation)"),
        ("drops-everything", "left T2 (open(/f, O_WRONLY), close) with no steps"),
        (
            "drops-a-conditional-goto",
            "the step 'if (any_leases_conflict(inode, new_fl)) goto restart' jumps there",
        ),
    ],
)
def test_a_transform_that_cannot_mean_what_it_says_is_refused(
    tmp_path: Path, variant: str, refusal: str
) -> None:
    """A transform testing a helper (which no thread is said to run), one
    that leaves a thread with nothing to do, and a drop_gotos of a label
    only a conditional jump goes to are errors that say so, not a quiet
    "changes nothing" or OK."""
    (tmp_path / "odd.py").write_text(HELPER_AND_EMPTY)
    with pytest.raises(Exception, match=re.escape(refusal)):
        mc.testing.check("filelock/lease-vs-open", [variant], models=[tmp_path / "odd.py"])


def test_recompute_changes_what_an_effect_step_computes(tmp_path: Path) -> None:
    """d_path() trusting its lockless walk (need_seqretry never says retry)
    returns a path no rename ever made; recompute keeps the step's
    arguments and result register, and refuses a step that is no effect."""
    (tmp_path / "trust.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n"
        "from mc.models.dcache import d_path, locked_path\n\n"
        "NEED = 'if (need_seqretry(&rename_lock, seq)) { seq = 1; goto restart; }'\n\n"
        "def trust(scratch, seq, rename_lock, ino):\n"
        "    return locked_path(scratch, ino)\n\n"
        "@variant('trust-walk', 'need_seqretry() never asks for a retry')\n"
        "def trust_walk(program: Program, invocation: Invocation) -> Program:\n"
        "    return program.recompute(NEED, trust) if invocation.runs(d_path) else program\n\n"
        "@variant('recompute-a-lock', 'recompute given a lock step')\n"
        "def recompute_a_lock(program: Program, invocation: Invocation) -> Program:\n"
        "    if not invocation.runs(d_path):\n"
        "        return program\n"
        "    return program.recompute('d_path(): rcu_read_lock()', trust)\n"
    )
    models = [tmp_path / "trust.py"]
    mc.testing.check("dcache/d-path-vs-rename", ["trust-walk"], "d-path", models=models)
    with pytest.raises(Exception, match="is not an effect step"):
        mc.testing.check("dcache/d-path-vs-rename", ["recompute-a-lock"], models=models)


def test_recompute_gives_a_method_call_another_implementation(tmp_path: Path) -> None:
    """A filesystem whose ->d_delete keeps unused dentries (returns 0): the
    call stays where the locking rules check it, its implementation is the
    variant's, and the last dput() no longer kills the dentry; an
    op.enter call, whose body is the steps after it, is refused."""
    (tmp_path / "keep.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n"
        "from mc.models.dcache import dput\n"
        "from mc.models.writeback import fsync\n\n"
        "DELETE = ('retain_dentry(dentry, true): '\n"
        "          'if (dentry->d_op->d_delete(dentry)) return false')\n\n"
        "@variant('keeps-unused', '->d_delete returns 0')\n"
        "def keeps(program: Program, invocation: Invocation) -> Program:\n"
        "    if not invocation.runs(dput):\n"
        "        return program\n"
        "    return program.recompute(DELETE, lambda scratch, dentry: 0)\n\n"
        "@variant('recompute-an-entry', 'recompute given an op.enter call')\n"
        "def entry(program: Program, invocation: Invocation) -> Program:\n"
        "    if not invocation.runs(fsync):\n"
        "        return program\n"
        "    step = next(s for s in program.steps if 'a_ops->writepages' in s.label)\n"
        "    return program.recompute(step, lambda scratch: 0)\n"
    )
    models = [tmp_path / "keep.py"]
    plain = mc.testing.check("dcache/dput-vs-rcu-walk", models=models)
    kept = mc.testing.check("dcache/dput-vs-rcu-walk", ["keeps-unused"], models=models)
    assert kept.result.stats.states < plain.result.stats.states
    with pytest.raises(Exception, match=r"the body of an op\.enter call is the steps after it"):
        mc.testing.check("writeback/write-vs-fsync", ["recompute-an-entry"], models=models)


def _walk(model: Any) -> list[str]:
    """The labels of the steps the model's one thread takes, in order (of
    a model built with ``every_acquisition``: its lock steps do not run
    with the step before them, though its lock is its alone)."""
    state, taken, thread = model.initial, [], model.threads[0]
    while not model.finished(state):
        taken.append(thread.steps[state[thread.slots.pc]].step.label)
        [(_action, state)] = model.successors(state)
    return taken


def test_a_shipped_body_runs_twice_with_registers_of_its_own() -> None:
    model = _model(two_creates(), properties=("lock-protocol", "deadlock", "namespace"))
    registers = [slot.name for slot in model.world.slots if slot.name.startswith("T1.create#")]
    assert any(name.startswith("T1.create#1/") for name in registers)
    assert any(name.startswith("T1.create#2/") for name in registers)
    assert check(model).verdict is Verdict.OK


@operation(models="publishes its directory")
def publisher(op: Op) -> None:
    op.publish("dir", op.inode("/a"))


@operation(models="locks what an earlier thread published")
def consumer(op: Op) -> None:
    directory = op.published("dir")
    op.lock(directory.i_rwsem, EXCL, "inode_lock(dir)")
    op.unlock(directory.i_rwsem, "inode_unlock(dir)")


def test_values_pass_between_threads_in_build_order() -> None:
    model = _model(publisher(), consumer())
    assert check(model).verdict is Verdict.OK
    with pytest.raises(ModelError, match="nothing is published as 'dir' before T1"):
        _model(consumer(), publisher())


@operation(models="freeze_super(): sb_writers held until thaw")
def freeze(op: Op) -> None:
    sb_writers = op.world.shared_lock("sb_writers", LockKind.PERCPU_RWSEM)
    op.lock(sb_writers, EXCL, "percpu_down_write(sb_writers)")
    op.hand_off(sb_writers, "percpu_rwsem_release(sb_writers)")


@operation(models="thaw_super(), once the freeze is done (as an administrator would)")
def thaw(op: Op) -> None:
    sb_writers = op.world.shared_lock("sb_writers", LockKind.PERCPU_RWSEM)
    op.wait_until(handed_off(sb_writers), "wait for fsfreeze -f to return", "the freeze")
    op.take_over(sb_writers, "percpu_rwsem_acquire(sb_writers)")
    op.unlock(sb_writers, "percpu_up_write(sb_writers)")


@operation(models="sb_start_write() ... sb_end_write()")
def writer(op: Op) -> None:
    sb_writers = op.world.shared_lock("sb_writers", LockKind.PERCPU_RWSEM)
    op.lock(sb_writers, SHARED, "sb_start_write(sb)")
    op.unlock(sb_writers, "sb_end_write(sb)")


def test_a_freeze_holds_its_lock_until_another_thread_thaws() -> None:
    """freeze returns holding sb_writers (no lock-protocol error), a writer
    waits for the thaw, and the thaw in another thread releases it."""
    properties = ("lock-protocol", "deadlock", "completes")
    assert check(_model(freeze(), writer(), thaw(), properties=properties)).verdict is Verdict.OK


def test_a_freeze_nobody_thaws_blocks_writers_for_good() -> None:
    model = _model(freeze(), writer())
    result = check(model)
    assert result.violation is not None and result.violation.property == "deadlock"
    assert (
        "T2 waits for sb_writers, which a thread handed off and no thread has taken over "
        "(and no thread left to run will: a freeze with no thaw after it?)"
        in result.violation.message
    )
    assert result.violation.path is not None
    [blocked] = model.blocked_steps(result.violation.path.states[-1])
    assert blocked.event.text == (
        "waits for sb_writers, which nobody left to run (a hand-off no thread takes over) could end"
    )


def test_a_wait_for_other_threads_names_them_in_one_wait_none_holds() -> None:
    """The device's completion waits for a bio or for every other thread
    to return: it is ended by the writers, not held by them."""
    registry = base()
    threads = (freeze(), writer(), writer(), io_completion(File("/f", pages=1)))
    registry.add_scenario(Scenario("api/f", "test", ("/f",), threads))
    result = check(registry.build(registry.scenario("api/f"), properties=("deadlock",)))
    assert result.violation is not None and result.violation.property == "deadlock"
    assert result.violation.message.endswith(
        "; T4 waits for a bio in flight, or every other thread's return, which T2, T3 could end"
    ), result.violation.message


@operation(models="a thaw that forgets to check that the superblock is frozen")
def careless_thaw(op: Op) -> None:
    sb_writers = op.world.shared_lock("sb_writers", LockKind.PERCPU_RWSEM)
    op.take_over(sb_writers, "percpu_rwsem_acquire(sb_writers)")
    op.unlock(sb_writers, "percpu_up_write(sb_writers)")


def test_taking_over_a_lock_nobody_handed_off_is_a_protocol_error() -> None:
    result = check(_model(careless_thaw()))
    assert result.violation is not None and result.violation.property == "lock-protocol"
    assert result.violation.message == "T1 takes over sb_writers, which nobody handed off"


def test_a_variant_replaces_a_body_wherever_it_runs(tmp_path: Path) -> None:
    """A replacement body runs in the threads of the operation and where
    another body runs it; it may run the shipped body itself."""
    model_file = tmp_path / "replaced.py"
    model_file.write_text(
        "from mc.dsl import EXCL, Op, replaces, scenario\n"
        "from mc.models.dirops import create\n\n\n"
        "@replaces(create, 'create-holds-root', 'create(2) under the root directory lock')\n"
        "def create_holding_root(op: Op, path: str) -> None:\n"
        "    root = op.inode('/')\n"
        "    op.lock(root.i_rwsem, EXCL, 'inode_lock(root)')\n"
        "    op.run(create.build, path)\n"
        "    op.unlock(root.i_rwsem, 'inode_unlock(root)')\n\n\n"
        "scenario('api/create', 'one create', tree=['/a/'], threads=[create('/a/x')])\n"
    )
    registry = with_files([model_file])
    scenario = registry.scenario("api/create")
    plain = registry.build(scenario).threads[0].program.steps
    replaced = registry.build(scenario, ["create-holds-root"]).threads[0].program.steps
    assert replaced[0].label == "inode_lock(root)"
    assert replaced[0].source.file == str(model_file)
    assert [s.label for s in replaced[1:-1]] == [s.label for s in plain]
    assert check(registry.build(scenario, ["create-holds-root"])).verdict is Verdict.OK


INSERTED = """
from mc.dsl import EXCL, File, LockKind, Op, inserts, operation, scenario
from mc.models.truncate import punch_hole


def _gc(op: Op, file: File):
    return op.world.shared_lock(f"i_gc_rwsem({file.path})", LockKind.RWSEM)


def take(op: Op, file: File, *_args) -> None:
    op.lock(_gc(op, file), EXCL, "down_write(&i_gc_rwsem)")


def drop(op: Op, file: File, *_args) -> None:
    op.unlock(_gc(op, file), "up_write(&i_gc_rwsem)")


inserts(
    punch_hole,
    "punch-takes-gc",
    "punch takes i_gc_rwsem inside invalidate_lock",
    after={"filemap_invalidate_lock(mapping) /* no page faults may reinstantiate pages */": take},
    before={"filemap_invalidate_unlock(mapping)": drop},
)


@operation(models="a GC worker taking i_gc_rwsem, then invalidate_lock")
def gc_worker(op: Op, file: File) -> None:
    mapping = op.mapping(file)
    op.lock(_gc(op, file), EXCL, "down_write(&i_gc_rwsem)")
    op.lock(mapping.invalidate_lock, EXCL, "filemap_invalidate_lock(mapping)")
    op.unlock(mapping.invalidate_lock, "filemap_invalidate_unlock(mapping)")
    op.unlock(_gc(op, file), "up_write(&i_gc_rwsem)")


F = File("/f", pages=1, cached=(0,))
scenario("api/punch-vs-gc", "x", tree=["/f"], threads=[punch_hole(F, 0, 4096), gc_worker(F)],
         properties=["deadlock", "lock-protocol"])
"""


def test_a_variant_inserts_steps_inside_a_shipped_body(tmp_path: Path) -> None:
    """inserts() puts a filesystem's own lock inside the shipped hole
    punch, right after the step labelled by after= and right before the
    one labelled by before=, and nothing else moves; against a worker
    that takes that lock outside invalidate_lock it deadlocks, which the
    body without it does not."""
    model_file = tmp_path / "inserted.py"
    model_file.write_text(INSERTED)
    registry = with_files([model_file])
    scenario = registry.scenario("api/punch-vs-gc")
    plain = [s.label for s in registry.build(scenario).threads[0].program.steps]
    changed = [
        s.label for s in registry.build(scenario, ["punch-takes-gc"]).threads[0].program.steps
    ]
    taken = plain.index(
        "filemap_invalidate_lock(mapping) /* no page faults may reinstantiate pages */"
    )
    dropped = plain.index("filemap_invalidate_unlock(mapping)")
    assert changed == [
        *plain[: taken + 1],
        "down_write(&i_gc_rwsem)",
        *plain[taken + 1 : dropped],
        "up_write(&i_gc_rwsem)",
        *plain[dropped:],
    ]
    assert check(registry.build(scenario)).verdict is Verdict.OK
    deadlock = check(registry.build(scenario, ["punch-takes-gc"]))
    assert deadlock.violation is not None and deadlock.violation.property == "deadlock"


@pytest.mark.parametrize(
    ("module", "operation", "label", "scenario", "meant"),
    [
        (
            "truncate",
            "punch_hole",
            "filemap_invalidate_lock(mapping)",
            "truncate/punch-vs-fault",
            "filemap_invalidate_lock(mapping) /* no page faults",
        ),
        ("xattr", "setxattr", "inode_lock(inode)", "xattr/two-sets", "retry_deleg: inode_lock"),
    ],
    ids=["label-begins-one", "label-ends-one"],
)
def test_an_insertion_at_a_label_the_body_lacks_is_a_located_error(
    tmp_path: Path, module: str, operation: str, label: str, scenario: str, meant: str
) -> None:
    """The label suggested is one that contains the label given, as
    ``Program.step`` suggests, wherever it contains it."""
    model_file = tmp_path / "nowhere.py"
    model_file.write_text(
        "from mc.dsl import inserts\n"
        f"from mc.models.{module} import {operation}\n\n"
        f"inserts({operation}, 'nowhere', 'x', after={{{label!r}: print}})\n"
    )
    registry = with_files([model_file])
    with pytest.raises(
        ModelError,
        match=re.escape(
            f"nowhere.py:4: variant nowhere: no step of {operation} is labelled {label!r} "
            f"(did you mean '{meant}"
        ),
    ):
        registry.build(registry.scenario(scenario), ["nowhere"])


def test_an_insertion_at_a_label_nothing_is_close_to_says_where_the_labels_are(
    tmp_path: Path,
) -> None:
    model_file = tmp_path / "far.py"
    model_file.write_text(
        "from mc.dsl import inserts\n"
        "from mc.models.super import freeze\n\n"
        "inserts(freeze, 'far', 'x', before={'no such label here': print})\n"
    )
    registry = with_files([model_file])
    with pytest.raises(
        ModelError,
        match=re.escape(
            "far.py:4: variant far: no step of freeze is labelled 'no such label here' (none is "
            "close; vfsmc show SCENARIO --steps lists the labels of a scenario that runs freeze)"
        ),
    ):
        registry.build(registry.scenario("super/freeze-vs-writer"), ["far"])


def test_an_insertion_whose_function_takes_other_arguments_is_a_located_error(
    tmp_path: Path,
) -> None:
    """The function ``inserts`` calls as ``f(op, *args)`` with the
    operation's arguments is checked where ``inserts`` is called."""
    model_file = tmp_path / "signature.py"
    model_file.write_text(
        "from mc.dsl import inserts\n"
        "from mc.models.truncate import punch_hole\n\n"
        "def take(op, file):\n"
        "    pass\n\n"
        "inserts(punch_hole, 'two', 'x', after={'filemap_invalidate_lock(mapping)': take})\n"
    )
    with pytest.raises(
        ModelError,
        match=r"signature.py:7: variant two: the function for 'filemap_invalidate_lock\(mapping\)' "
        r"is called as f\(op, file, offset, length\), with punch_hole's arguments: too many",
    ):
        with_files([model_file])


@operation(models="a filesystem ioctl taking invalidate_lock before i_rwsem")
def invalidate_then_inode_lock(op: Op, file: File) -> None:
    invalidate_lock = op.mapping(file).invalidate_lock
    inode = op.inode(file.path)
    op.lock(invalidate_lock, EXCL, "filemap_invalidate_lock(inode->i_mapping)")
    op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)")
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.unlock(invalidate_lock, "filemap_invalidate_unlock(inode->i_mapping)")


@operation(models="the same, naming the lock instead of asking the file for it")
def invalidate_lock_by_name(op: Op, file: File) -> None:
    invalidate_lock = op.world.shared_lock(f"invalidate_lock({file.path})", LockKind.RWSEM)
    op.lock(invalidate_lock, EXCL, "filemap_invalidate_lock(inode->i_mapping)")
    op.unlock(invalidate_lock, "filemap_invalidate_unlock(inode->i_mapping)")


def _file_scenario(*threads: object) -> Registry:
    registry = base()
    scenario = Scenario("api/file", "test", ("/f",), tuple(threads))  # type: ignore[arg-type]
    registry.add_scenario(scenario)
    return registry


@pytest.mark.parametrize("ioctl_first", [False, True])
def test_a_file_s_own_locks_are_one_whichever_thread_asks_first(ioctl_first: bool) -> None:
    """``op.mapping(file)`` gives the locks truncate takes, so the ABBA
    against truncate's i_rwsem -> invalidate_lock is found in both thread
    orders."""
    page = File("/f", pages=1, cached=(0,))
    threads = [truncate(page, 100), invalidate_then_inode_lock(page), io_completion(page)]
    if ioctl_first:
        threads[:2] = threads[1::-1]
    registry = _file_scenario(*threads)
    model = registry.build(registry.scenario("api/file"), properties=("deadlock",))
    result = check(model)
    assert result.verdict is Verdict.VIOLATED and result.violation is not None
    assert result.violation.property == "deadlock"


def test_a_lock_named_before_the_object_that_owns_it_is_a_model_error() -> None:
    """A lock ``shared_lock`` made by a file's lock's name before the page
    cache lays the file out would be a second lock of that name."""
    page = File("/f", pages=1, cached=(0,))
    registry = _file_scenario(invalidate_lock_by_name(page), truncate(page, 100))
    with pytest.raises(ModelError, match=r"two locks are named invalidate_lock\(/f\)"):
        registry.build(registry.scenario("api/file"), properties=("deadlock",))


def test_a_variant_builds_on_another_by_calling_it(shipped: Registry) -> None:
    """A declared variant is its transform: one variant can apply another's."""
    no_mutex = shipped.variants["no-rename-mutex"]
    model = shipped.build(shipped.scenario("dirops/opposite-renames"))
    [thread, *_] = model.threads
    changed = no_mutex(thread.program, thread.invocation)
    assert changed.steps != thread.program.steps
    assert len(changed.steps) < len(thread.program.steps)
    flag = shipped.variants["freeze-skips-pagefaults"]
    assert flag.transform is None
    assert flag(thread.program, thread.invocation) is thread.program


@operation(models="a lock taken in a mode given as a string")
def lock_by_word(op: Op) -> None:
    a = op.inode("/a")
    op.lock(a.i_rwsem, "shared", "inode_lock_shared(a)")  # type: ignore[arg-type]
    op.unlock(a.i_rwsem, "inode_unlock_shared(a)")


def test_a_lock_mode_that_is_no_mode_is_a_model_error() -> None:
    """``"shared"`` for ``SHARED`` was taken as exclusive, silently."""
    with pytest.raises(ModelError, match="'shared' is not a lock mode: use EXCL or SHARED"):
        _model(lock_by_word())


def test_scenario_arguments_given_as_one_string_or_an_uncalled_operation_are_refused() -> None:
    """A string's letters were taken for property names or paths, and an
    operation not called failed with an AttributeError."""
    with pytest.raises(
        ModelError, match=r"properties is a list of property names, not the string 'deadlock'"
    ):
        scenario("api/props", "x", tree=["/a/"], threads=[create("/a/x")], properties="deadlock")
    with pytest.raises(ModelError, match=r"tree is a list of paths, not the string '/a/'"):
        scenario("api/tree", "x", tree="/a/", threads=[create("/a/x")])
    with pytest.raises(ModelError, match=r"threads\[0\] is the operation create itself"):
        scenario("api/uncalled", "x", tree=["/a/"], threads=[create])  # type: ignore[list-item]
    with pytest.raises(
        ModelError, match=r"threads must be invocations such as create\('/a/x'\), not int 42"
    ):
        scenario("api/int", "x", tree=["/a/"], threads=[42])  # type: ignore[list-item]
    with pytest.raises(ModelError, match=r"threads is a list of invocations"):
        scenario("api/lone", "x", tree=["/a/"], threads=create("/a/x"))  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"properties names 'deadlock' twice"):
        scenario(
            "api/twice", "x", tree=["/a/"], threads=[create("/a/x")], properties=["deadlock"] * 2
        )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: File("/f", pages=0), r"pages=0, not 1 or more"),
        (lambda: File("/f", pages=2, cached=(5,)), r"cached holds \[5\], outside pages 0 to 1"),
        (lambda: File("/f", pages=2, dirty=(1,)), r"dirty pages \[1\] are not cached"),
    ],
)
def test_a_file_whose_pages_do_not_fit_is_a_model_error(make: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        make()


def test_arguments_the_kernel_refuses_at_once_are_model_errors() -> None:
    """A negative size, offset or length (-EINVAL before any lock), one a
    loff_t cannot hold, a punched range ending past one (-EFBIG), or a
    byte outside the mapping checked nothing and passed."""
    from mc.engine.symbolic import Symbol
    from mc.models.truncate import mmap_load, punch_hole

    two = File("/f", pages=2, cached=(0, 1))
    cases = [
        (mmap_load(two, -5), "byte -5 is outside the mapping of /f"),
        (mmap_load(two, 100000), "byte 100000 is outside the mapping of /f"),
        (truncate(two, -1), "size -1 may be under 0: do_sys_ftruncate"),
        (truncate(two, Symbol("s", -100, 100)), "size s may be under 0"),
        (punch_hole(two, 0, -4096), "length -4096 may be under 1: vfs_fallocate"),
        (truncate(two, 2**63), "size 9223372036854775808 may be over 9223372036854775807"),
        (truncate(two, Symbol("n", 0, 2**70)), "size n may be over 9223372036854775807"),
        (punch_hole(two, Symbol("o", 0, 2**63 - 1), 4096), r"offset o \+ length 4096 .*EFBIG"),
    ]
    for invocation, message in cases:
        registry = base()
        registry.add_scenario(Scenario("api/f", "test", ("/f",), (invocation, io_completion(two))))
        with pytest.raises(ModelError, match=message):
            registry.build(registry.scenario("api/f"), properties=("lock-protocol",))


def test_file_lock_arguments_that_cannot_be_meant_are_model_errors() -> None:
    """A path outside the tree, a range given backwards or as text, and a
    lease type that is none were accepted and checked something else."""
    from mc.models.filelock import lock_range, take_lease

    cases = [
        (("/g",), lock_range("/f", (0, 9)), r"/f is not in the scenario's tree"),
        (("/f",), lock_range("/f", (9, 0)), r"byte range \(9, 0\): give \(first, last\)"),
        (("/f",), lock_range("/f", "0-9"), r"byte range '0-9'"),  # type: ignore[arg-type]
        (("/f",), take_lease("/f", "READ"), r"lease type 'READ': F_SETLEASE takes"),
    ]
    for tree, invocation, message in cases:
        registry = base()
        registry.add_scenario(Scenario("api/l", "test", tree, (invocation,)))
        with pytest.raises(ModelError, match=message):
            registry.build(registry.scenario("api/l"), properties=("lock-protocol",))


@operation(models="a branch on a Python bool")
def branch_on_bool(op: Op) -> None:
    with op.when(True, "if (true)"):  # type: ignore[arg-type]
        op.effect("nothing", lambda _scratch: None)


@operation(models="a lock of a kind given as a word")
def lock_of_a_word(op: Op) -> None:
    op.lock(op.world.shared_lock("mylock", "mutex"), EXCL, "mutex_lock(&mylock)")  # type: ignore[arg-type]


def test_a_condition_or_lock_kind_of_the_wrong_type_is_a_model_error() -> None:
    """Both failed with an AttributeError from inside the tool."""
    with pytest.raises(ModelError, match="the condition True is no expression of the state"):
        _model(branch_on_bool())
    with pytest.raises(ModelError, match="lock mylock: 'mutex' is no lock kind"):
        _model(lock_of_a_word())


def _update_time(_scratch: object, _inode: object) -> int:
    return 0


@operation(models="generic_file_write_iter() -> file_modified() -> ->update_time")
def write_mtime(op: Op) -> None:
    inode = op.inode("/a/f")
    op.lock(inode.i_rwsem, EXCL, "generic_file_write_iter(): inode_lock(inode)")
    op.call(
        "inode_operations.update_time",
        _update_time,
        inode,
        label="file_modified() -> inode_update_time(): inode->i_op->update_time()",
        roles={"inode": inode},
    )
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")


def test_update_time_under_the_write_path_s_i_rwsem_conforms() -> None:
    """generic_file_write_iter() calls ->update_time under i_rwsem
    exclusive, where the table's "no" was read as "must not hold": a false
    spec-conformance violation; the rule is a departure now."""
    registry = base()
    registry.add_scenario(Scenario("api/mtime", "test", ("/a/", "/a/f"), (write_mtime(),)))
    model = registry.build(registry.scenario("api/mtime"), properties=("spec-conformance",))
    assert check(model).verdict is Verdict.OK


def test_an_insertion_at_a_repeated_label_needs_every(tmp_path: Path) -> None:
    """The label "folio = fbatch.folios[i]" is on four steps of the hole punch's
    writeback: inserts() refuses to pick one, and with every=True adds
    its steps before each of them."""
    model_file = tmp_path / "repeated.py"
    model_file.write_text(
        "from mc.dsl import Op, inserts\n"
        "from mc.models.truncate import punch_hole\n\n"
        "def note(op: Op, *_args) -> None:\n"
        "    op.effect('trace_folio(folio)', lambda scratch: None)\n\n"
        "inserts(punch_hole, 'one', 'x', before={'folio = fbatch.folios[i]': note})\n"
        "inserts(punch_hole, 'each', 'x', before={'folio = fbatch.folios[i]': note}, every=True)\n"
    )
    registry = with_files([model_file])
    scenario = registry.scenario("truncate/punch-vs-fault")
    with pytest.raises(ModelError, match=r"4 steps of punch_hole are labelled 'folio = fbatch"):
        registry.build(scenario, ["one"])
    plain = [s.label for s in registry.build(scenario).threads[0].program.steps]
    each = [s.label for s in registry.build(scenario, ["each"]).threads[0].program.steps]
    assert each.count("trace_folio(folio)") == 4
    assert [label for label in each if label != "trace_folio(folio)"] == plain
    assert all(
        each[at + 1] == "folio = fbatch.folios[i]"
        for at, label in enumerate(each)
        if label == "trace_folio(folio)"
    )


def test_insertions_into_one_body_compose_and_two_replacements_are_refused(
    tmp_path: Path,
) -> None:
    """Two inserts() into the hole punch apply alone and together (each
    adds its step, the second finding the first's anchor where the body
    has it), also around a body a replaces() put there; two replaces()
    of one operation are a model error naming both, not the second one
    silently dropping the first."""
    model_file = tmp_path / "two.py"
    model_file.write_text(
        "from mc.dsl import Op, inserts, replaces\n"
        "from mc.models.truncate import punch_hole\n\n"
        "def note(op: Op, *_args) -> None:\n"
        "    op.effect('trace()', lambda scratch: None)\n\n"
        "inserts(punch_hole, 'a', 'x', before={'filemap_invalidate_unlock(mapping)': note})\n"
        "inserts(punch_hole, 'b', 'x', after={'filemap_invalidate_unlock(mapping)': note})\n"
        "@replaces(punch_hole, 'c', 'x')\n"
        "def c(op, *args):\n"
        "    op.run(punch_hole.build, *args)\n"
        "@replaces(punch_hole, 'd', 'x')\n"
        "def d(op, *args):\n"
        "    op.run(punch_hole.build, *args)\n"
    )
    registry = with_files([model_file])
    scenario = registry.scenario("truncate/punch-vs-fault")

    def labels(*variants: str) -> list[str]:
        return [s.label for s in registry.build(scenario, variants).threads[0].program.steps]

    for alone in ("a", "b"):
        assert labels(alone).count("trace()") == 1
    both = labels("a", "b")
    unlock = both.index("filemap_invalidate_unlock(mapping)")
    assert both[unlock - 1 : unlock + 2] == [
        "trace()",
        "filemap_invalidate_unlock(mapping)",
        "trace()",
    ]
    assert labels("c", "a", "b").count("trace()") == 2
    with pytest.raises(
        ModelError,
        match=r"two.py:12: variant d puts a body in place of "
        r"punch_hole's, as .*two.py:9: variant c does",
    ):
        registry.build(scenario, ["c", "d"])


def test_a_shared_lock_s_class_is_the_part_before_its_parenthesis() -> None:
    """i_gc_rwsem(/f) is of class i_gc_rwsem; a name whose class would be
    empty or end in a space is refused."""
    world = World(["T1"])
    assert world.shared_lock("i_gc_rwsem(/f)", LockKind.RWSEM).family == "i_gc_rwsem"
    assert world.shared_lock("my_lock_inner", LockKind.MUTEX).family == "my_lock_inner"
    for name in ("(/f)", "my_lock (x)"):
        with pytest.raises(ModelError, match="the part of its name before '\\(' is its class"):
            world.shared_lock(name, LockKind.MUTEX)


MOVES_A_TEST_WITH_ITS_BODY = """
from mc.dsl import Invocation, Program, variant
from mc.models.writeback import invalidate


@variant("unmap-before-lock", "invalidate unmaps the folio before folio_lock()")
def unmap_before_lock(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(invalidate):
        return program
    steps = list(program.steps)
    start = next(
        i for i, s in enumerate(steps) if s.label.startswith("if (folio_mapped(folio))")
    )
    return program.move_before(steps[start : start + 4], program.step("folio_lock(folio)"))
"""


def test_a_test_moved_with_its_body_takes_the_label_past_them_along(tmp_path: Path) -> None:
    """Moving invalidate's ``if (folio_mapped(folio))`` with its body before
    ``folio_lock()`` moves the label its other case jumps to as well: that
    case now goes to ``folio_lock()``, the step after the block, and the
    scenario builds."""
    model_file = tmp_path / "moved_test.py"
    model_file.write_text(MOVES_A_TEST_WITH_ITS_BODY)
    registry = with_files([model_file])
    model = registry.build(
        registry.scenario("writeback/invalidate-vs-stores"), ["unmap-before-lock"]
    )
    [steps] = [
        t.steps for t in model.threads if any("folio_mapped" in c.step.label for c in t.steps)
    ]
    labels = [c.step.label for c in steps]
    test = next(i for i, label in enumerate(labels) if label.startswith("if (folio_mapped(folio))"))
    assert labels[test + 4] == "folio_lock(folio)"
    assert steps[test].context.target == test + 4


GUARDED_BLOCK = """
from mc.dsl import EXCL, Invocation, Op, Program, const, operation, scenario, variant


@operation(models="a guarded block before a lock")
def guarded(op: Op, taken: bool) -> None:
    a, b = op.inode("/a"), op.inode("/b")
    with op.when(const(taken, "taken"), "if (taken)"):
        op.lock(b.i_rwsem, EXCL, "inode_lock(b)")
        op.unlock(b.i_rwsem, "inode_unlock(b)")
    op.lock(a.i_rwsem, EXCL, "inode_lock(a)")
    op.unlock(a.i_rwsem, "inode_unlock(a)")


@variant("block-under-a", "the guarded block runs under a's lock")
def block_under_a(program: Program, invocation: Invocation) -> Program:
    return program.move_after(list(program.steps[:3]), "inode_lock(a)")


@variant("test-under-a", "the test alone moved under a's lock")
def test_under_a(program: Program, invocation: Invocation) -> Program:
    return program.move_after("if (taken)", "inode_lock(a)")


@variant("twice", "one step given twice")
def twice(program: Program, invocation: Invocation) -> Program:
    return program.move_after(["inode_lock(b)", "inode_lock(b)"], "inode_lock(a)")


scenario("api/guarded-taken", "taken", tree=["/a/", "/b/"], threads=[guarded(True)],
         properties=["lock-protocol"])
scenario("api/guarded-skipped", "skipped", tree=["/a/", "/b/"], threads=[guarded(False)],
         properties=["lock-protocol"])
"""


def test_moving_a_guarded_block_moves_its_labels_with_it(tmp_path: Path) -> None:
    """A ``when`` block moved after a step keeps its own control flow: the
    test's other case goes past the block in its new place, not back to
    the label left where the block was (which made a correct refactor a
    self-deadlock: the lock taken again).  The test, a thread-local step,
    runs with the step before it, so the walk does not show it."""
    (tmp_path / "guarded_block.py").write_text(GUARDED_BLOCK)
    registry = with_files([tmp_path / "guarded_block.py"])
    taken = registry.build(
        registry.scenario("api/guarded-taken"), ["block-under-a"], every_acquisition=True
    )
    skipped = registry.build(
        registry.scenario("api/guarded-skipped"), ["block-under-a"], every_acquisition=True
    )
    assert _walk(taken) == ["inode_lock(a)", "inode_lock(b)", "inode_unlock(b)", "inode_unlock(a)"]
    assert _walk(skipped) == ["inode_lock(a)", "inode_unlock(a)"]


def test_a_step_given_twice_to_a_move_is_refused(tmp_path: Path) -> None:
    (tmp_path / "guarded_twice.py").write_text(GUARDED_BLOCK)
    registry = with_files([tmp_path / "guarded_twice.py"])
    with pytest.raises(ValueError, match=r"cannot move 'inode_lock\(b\)' twice"):
        registry.build(registry.scenario("api/guarded-taken"), ["twice"])


JUMPING_OUT = """
from mc.dsl import EXCL, Invocation, Op, Program, const, operation, scenario, variant


@operation(models="a test whose body jumps out")
def jumping_out(op: Op) -> None:
    a, b = op.inode("/a"), op.inode("/b")
    op.goto_if(const(False, "early"), "out", "if (early) goto out")
    with op.when(const(True, "err"), "if (err)"):
        op.lock(b.i_rwsem, EXCL, "inode_lock(b)")
        op.unlock(b.i_rwsem, "inode_unlock(b)")
        op.goto("out")
    op.label("out")
    op.lock(a.i_rwsem, EXCL, "inode_lock(a)")
    op.unlock(a.i_rwsem, "inode_unlock(a)")


@variant("err-under-a", "the err block moved under a's lock")
def err_under_a(program: Program, invocation: Invocation) -> Program:
    steps = list(program.steps)
    first = next(i for i, s in enumerate(steps) if s.label == "if (err)")
    return program.move_after(steps[first : first + 3], "inode_lock(a)")


scenario("api/jumping-out", "one test", tree=["/a/", "/b/"], threads=[jumping_out()],
         properties=["lock-protocol"])
"""


def test_a_block_holding_a_goto_out_of_it_is_refused(tmp_path: Path) -> None:
    """The body's ``goto out`` would jump back to ``out`` once the block is
    moved past it: refused, naming the goto, not a loop."""
    (tmp_path / "jumping_out.py").write_text(JUMPING_OUT)
    registry = with_files([tmp_path / "jumping_out.py"])
    with pytest.raises(ValueError, match=r"it holds goto 'out', to a label outside it"):
        registry.build(registry.scenario("api/jumping-out"), ["err-under-a"])


def test_guards_names_the_tests_over_a_step_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    (tmp_path / "jumping_guards.py").write_text(JUMPING_OUT)
    registry = with_files([tmp_path / "jumping_guards.py"])
    program = registry.build(registry.scenario("api/jumping-out")).threads[0].program
    assert [s.label for s in program.guards("inode_lock(b)")] == ["if (early) goto out", "if (err)"]
    assert program.guards("inode_lock(a)") == []
    stranger = Program(program.items[1:]).steps[0]
    with pytest.raises(ValueError, match="is not a step of this program"):
        Program(tuple(i for i in program.items if i is not stranger)).guards(stranger)


def test_moving_a_test_past_where_it_jumps_is_refused(tmp_path: Path) -> None:
    """The test alone moved after the step its other case goes to would
    jump back to that step: refused, not a loop."""
    (tmp_path / "guarded_test.py").write_text(GUARDED_BLOCK)
    registry = with_files([tmp_path / "guarded_test.py"])
    with pytest.raises(
        ValueError, match=r"moving 'if \(taken\)' past 'inode_lock\(a\)', where it jumps"
    ):
        registry.build(registry.scenario("api/guarded-skipped"), ["test-under-a"])


STEP_INVARIANT = """
from mc.dsl import EXCL, LockKind, Op, Scratch, operation, scenario, step_invariant

NEGATIVE = "counter-never-negative"
step_invariant(NEGATIVE, "the counter never goes below zero (a WARN_ON in put())")


def put(scratch: Scratch, counter: int) -> None:
    if scratch[counter] == 0:
        scratch.violate(NEGATIVE, "put() of a counter already at 0")
        return
    scratch[counter] = scratch[counter] - 1


def last(scratch: Scratch, counter: int) -> bool:
    return bool(scratch[counter] > 0)


@operation(models="a put of a counter tested first")
def tested_put(op: Op, locked: bool) -> None:
    counter = op.world.shared_slot("counter", 1)
    lock = op.world.shared_lock("counter_lock", LockKind.SPINLOCK) if locked else None
    if lock is not None:
        op.lock(lock, EXCL, "spin_lock(&counter_lock)")
    some = op.compute("some", "if (counter > 0)", last, counter)
    with op.when(some, "if (counter > 0)"):
        op.effect("counter--", put, counter)
    if lock is not None:
        op.unlock(lock, "spin_unlock(&counter_lock)")


scenario("my/racy-puts", "two puts", [], [tested_put(False), tested_put(False)],
         properties=["deadlock", NEGATIVE])
scenario("my/locked-puts", "two puts", [], [tested_put(True), tested_put(True)],
         properties=["deadlock", NEGATIVE])
"""


def test_a_step_invariant_reports_what_a_step_recorded(tmp_path: Path) -> None:
    """A user's ``step_invariant`` is declared in the user's file, reads
    only the error slot, and reports the message ``scratch.violate`` gave."""
    (tmp_path / "counter.py").write_text(STEP_INVARIANT)
    registry = with_files([tmp_path / "counter.py"])
    assert registry.properties["counter-never-negative"].reads == ("error",)
    racy = registry.build(registry.scenario("my/racy-puts"))
    result = check(racy)
    assert result.verdict is Verdict.VIOLATED and result.violation is not None
    assert result.violation.property == "counter-never-negative"
    assert result.violation.message == "put() of a counter already at 0"
    locked = registry.build(registry.scenario("my/locked-puts"))
    assert check(locked).verdict is Verdict.OK


NESTED_LABEL = """
from mc.dsl import Op, inserts, state_expr
from mc.models.dcache import dput

TRY = "lock_for_kill(): if (!inode || likely(spin_trylock(&inode->i_lock))) return true"


def first_test(op: Op, path: str) -> None:
    count = op.world.slot(f"d_count({{path}})")
    op.goto_if(state_expr("count", lambda s: s[count] > 0), "{target}", "if (count) return false")


inserts(dput, "count-test-{name}", "the count tested first", before={{TRY: first_test}})
"""


def test_a_jump_to_a_label_of_a_body_run_inside_names_its_scoped_spelling(tmp_path: Path) -> None:
    """Steps inserted into dput are built in dput's scope: the labels of
    the _dput body it runs with op.run are spelt with that body's scope,
    which the error for the bare name gives."""
    bare = tmp_path / "bare.py"
    bare.write_text(NESTED_LABEL.format(target="busy", name="bare"))
    registry = with_files([bare])
    with pytest.raises(Exception, match=r"jump to unknown label busy .*: _dput#1/busy$"):
        registry.build(registry.scenario("dcache/dput-vs-find-alias"), ["count-test-bare"])
    scoped = tmp_path / "scoped.py"
    scoped.write_text(NESTED_LABEL.format(target="_dput#1/busy", name="scoped"))
    registry = with_files([scoped])
    model = registry.build(registry.scenario("dcache/dput-vs-find-alias"), ["count-test-scoped"])
    assert check(model).verdict is Verdict.OK


def test_a_directory_spelt_with_its_trailing_slash_says_how_to_spell_it() -> None:
    """The tree lists a directory as ``/a/``; ``op.inode("/a/")`` names no
    inode, and the error says the path is ``/a``."""
    from mc.kernel.world import World

    world = World(("T1",))
    world.build_tree(["/a/", "/a/f"])
    with pytest.raises(ValueError, match=r"/a/ is not in the scenario's tree \(a path has no "):
        world.lookup_path("/a/")
    with pytest.raises(ValueError, match=r"^/b is not in the scenario's tree$"):
        world.lookup_path("/b")


def test_a_shared_slot_cannot_take_the_name_of_a_slot_the_models_made() -> None:
    """``shared_slot`` gives every thread asking by one name one slot; a
    name the models gave a slot of their own (the inode life's
    ``->kill_sb returned``, a lock's) is refused rather than shared, as a
    user's flag by that name would change the model's state unseen."""
    from mc.kernel.inode_life import inode_life
    from mc.kernel.world import ModelError, World

    world = World(("T1",))
    world.build_tree(["/f"])
    mine = world.shared_slot("my flag", False)
    assert world.shared_slot("my flag", False) == mine
    inode_life(world, "/f")
    with pytest.raises(ModelError, match=r"shared_slot\('->kill_sb returned'\): the models hold"):
        world.shared_slot("->kill_sb returned", False)
    lock = world.add_lock("my_lock", LockKind.MUTEX)
    with pytest.raises(ModelError, match="a slot of yours needs a name of its own"):
        world.shared_slot(world.slots[lock.slot].name, None)


def test_a_shared_slot_of_the_models_name_is_refused_whoever_asks_first() -> None:
    """Whichever thread is built first: a user's slot named as one the
    models make for themselves (``add_slot``) or share among their own
    threads (``flag_slot``'s ``SB_DYING``) is refused, not merged with it
    (the user's initial value once replaced the models' own)."""
    from mc.kernel.inode_life import inode_life
    from mc.kernel.world import ModelError, World
    from mc.models.super import flag_slot

    def fresh() -> World:
        world = World(("T1",))
        world.build_tree(["/f"])
        return world

    first = fresh()
    first.shared_slot("->kill_sb returned", True)
    with pytest.raises(ModelError, match="a slot of yours needs a name of its own"):
        inode_life(first, "/f")
    models_first = fresh()
    flag_slot(models_first, "SB_DYING", False)
    assert flag_slot(models_first, "SB_DYING", False) == models_first.slot("SB_DYING")
    with pytest.raises(ModelError, match="a slot of yours needs a name of its own"):
        models_first.shared_slot("SB_DYING", False)
    users_first = fresh()
    users_first.shared_slot("SB_DYING", True)
    with pytest.raises(ModelError, match="a slot of yours needs a name of its own"):
        flag_slot(users_first, "SB_DYING", False)


def test_a_users_effect_reads_the_models_own_state_by_slot_name() -> None:
    """``World.slot`` finds a slot the models made by the name ``show``
    lists, and names the closest one for a misspelt name."""
    from mc.kernel.inode_life import inode_life
    from mc.kernel.world import ModelError, World

    world = World(("T1",))
    world.build_tree(["/f"])
    part = inode_life(world, "/f")
    assert world.slot("->kill_sb returned") == part.killed
    assert world.slot("i_count(/f)") == part.inode.i_count
    with pytest.raises(ModelError, match=r"no slot is named 'i_cout\(/f\)' yet \(the closest is "):
        world.slot("i_cout(/f)")


@pytest.mark.parametrize("slot", [-1, 10_000, "my flag"])
def test_an_effect_s_slot_the_state_does_not_have_is_a_model_error(slot: object) -> None:
    """An effect reading or writing a slot number no ``add_slot`` returned
    is told so, naming the scenario's range: a negative number once read
    another slot from the end of the state, a too large one said only
    ``IndexError``."""
    from mc.kernel.world import ModelError, Scratch, World

    world = World(("T1",))
    world.build_tree(["/f"])
    mine = world.shared_slot("my flag", False)
    scratch = Scratch(world, world.initial_state(), tid=0)
    assert scratch[mine] is False
    last = len(world.slots) - 1
    expected = rf"the state has no slot {slot!r}: .* 0 to {last} in this scenario"
    with pytest.raises(ModelError, match=expected):
        scratch[slot]  # type: ignore[index]
    with pytest.raises(ModelError, match=expected):
        scratch[slot] = True  # type: ignore[index]
    assert scratch.values == list(world.initial_state())


@operation(models="two inode locks, the second a trylock that backs off")
def lock_then_try(op: Op, first: str, second: str) -> None:
    """Lock ``first``, then trylock ``second``: on failure drop ``first``."""
    outer, inner = op.inode(first).i_rwsem, op.inode(second).i_rwsem
    op.lock(outer, EXCL, f"inode_lock({first})")
    op.trylock(inner, "back_off", f"if (!inode_trylock({second})) goto back_off")
    op.unlock(inner, f"inode_unlock({second})")
    op.label("back_off")
    op.unlock(outer, f"inode_unlock({first})")


def test_a_trylock_made_blocking_waits_and_can_deadlock() -> None:
    """Two threads taking /a and /b in opposite orders, each backing off
    when the second lock is busy, never deadlock; with ``Program.block``
    the trylocks wait, and they do."""
    trying = _model(lock_then_try("/a", "/b"), lock_then_try("/b", "/a"))
    assert check(trying).verdict is Verdict.OK
    program = trying.threads[0].program
    blocking = program.block(lambda step: "inode_trylock" in step.label)
    [waits] = [step for step in blocking.steps if "inode_trylock" in step.label]
    assert isinstance(waits, LockStep) and waits.source == program.steps[1].source
    assert [s.label for s in blocking.steps] == [s.label for s in program.steps]
    renamed = program.block(lambda step: "inode_trylock" in step.label, lambda label: "waits")
    assert [s.label for s in renamed.steps].count("waits") == 1
    registry = _registry(lock_then_try("/a", "/b"), lock_then_try("/b", "/a"))
    variant_name = "api-blocking-trylock"
    registry.add_variant(
        Variant(
            variant_name,
            "the trylocks wait",
            lambda p, _invocation: p.block(lambda s: "inode_trylock" in s.label),
        )
    )
    blocked = registry.build(
        registry.scenario("api/s"), (variant_name,), properties=("lock-protocol", "deadlock")
    )
    found = check(blocked)
    assert found.verdict is Verdict.VIOLATED and found.violation is not None
    assert found.violation.property == "deadlock"


@operation(models="a remount reclaiming memory: super_cache_scan() under s_umount")
def remount_reclaims(op: Op, blocking: bool) -> None:
    """Hold the directory's i_rwsem for writing, as reconfigure_super()'s
    caller holds s_umount, and reclaim: super_trylock_shared() backs off
    from the lock it holds; the variant taking it blocks on itself."""
    lock = op.inode("/a").i_rwsem
    op.lock(lock, EXCL, "down_write(&sb->s_umount)")
    if blocking:
        op.lock(lock, SHARED, "super_cache_scan(): down_read(&sb->s_umount)")
        op.unlock(lock, "up_read(&sb->s_umount)")
    else:
        op.trylock(lock, "stop", "if (!super_trylock_shared(sb)) return SHRINK_STOP", mode=SHARED)
        op.unlock(lock, "super_unlock_shared(sb)")
        op.label("stop")
    op.unlock(lock, "up_write(&sb->s_umount)")


@pytest.mark.parametrize("mode", [EXCL, SHARED])
def test_a_trylock_of_a_lock_its_thread_holds_for_writing_fails(mode: Mode) -> None:
    """The kernel's trylock of a lock the caller holds exclusively fails,
    and lockdep does not check trylocks for recursion: the thread takes the
    failure branch, where the blocking acquisition waits for itself."""

    @operation(models="a trylock under the same lock")
    def again(op: Op) -> None:
        lock = op.inode("/a").i_rwsem
        op.lock(lock, EXCL, "down_write(&sem)")
        op.trylock(lock, "busy", "if (!trylock(&sem)) goto busy", mode=mode)
        op.effect("taken twice", lambda scratch: scratch.violate("lock-protocol", "taken twice"))
        op.label("busy")
        op.unlock(lock, "up_write(&sem)")

    assert check(_model(again())).verdict is Verdict.OK
    assert check(_model(remount_reclaims(False))).verdict is Verdict.OK
    found = check(_model(remount_reclaims(True)))
    assert found.violation is not None and found.violation.property == "lock-protocol"
    assert "which it already holds: it waits for itself" in found.violation.message


def test_a_read_trylock_of_a_lock_held_for_reading_is_refused_as_a_second_hold() -> None:
    @operation(models="a read trylock under the same read hold")
    def reread(op: Op) -> None:
        lock = op.inode("/a").i_rwsem
        op.lock(lock, SHARED, "down_read(&sem)")
        op.trylock(lock, "busy", "if (!down_read_trylock(&sem)) goto busy", mode=SHARED)
        op.unlock(lock, "up_read(&sem)")
        op.label("busy")
        op.unlock(lock, "up_read(&sem)")

    found = check(_model(reread()))
    assert found.violation is not None and found.violation.property == "lock-protocol"
    assert "for reading, which it already holds for reading" in found.violation.message


def test_an_insertion_into_several_operations_goes_into_each(tmp_path: Path) -> None:
    """inserts() given the operations that run the fault path adds its
    steps at the label in each; anything but operations is refused."""
    model_file = tmp_path / "faults.py"
    model_file.write_text(
        "from mc.dsl import File, Op, inserts, scenario\n"
        "from mc.models.truncate import mmap_load, mmap_store\n\n"
        "def note(op: Op, *_args) -> None:\n"
        "    op.effect('trace_fault(vmf)', lambda scratch: None)\n\n"
        "inserts((mmap_load, mmap_store), 'traced', 'x',\n"
        "        before={'__do_fault(): ret = vma->vm_ops->fault(vmf)': note}, every=True)\n\n"
        "F = File('/f', pages=1, cached=(0,))\n"
        "scenario('api/load-store', 'x', tree=['/f'], threads=[mmap_load(F, 0), "
        "mmap_store(F, 0)], properties=['deadlock'])\n"
    )
    registry = with_files([model_file])
    scenario = registry.scenario("api/load-store")
    fault = "__do_fault(): ret = vma->vm_ops->fault(vmf)"
    plain = registry.build(scenario).threads
    traced = registry.build(scenario, ["traced"]).threads
    for before, after in zip(plain, traced, strict=True):
        labels = [s.label for s in after.program.steps]
        faults = [s.label for s in before.program.steps].count(fault)
        assert faults and labels.count("trace_fault(vmf)") == faults, before.invocation
        added = [at for at, label in enumerate(labels) if label == "trace_fault(vmf)"]
        assert all(labels[at + 1] == fault for at in added)
    bad = tmp_path / "bad.py"
    bad.write_text("from mc.dsl import inserts\n\ninserts('load', 'b', 'x', after={'x': print})\n")
    with pytest.raises(ModelError, match="inserts takes an operation or a sequence of them"):
        with_files([bad])


GUARDED = """
from mc.dsl import EXCL, LockKind, Op, Scratch, operation, scenario, step_invariant

step_invariant("myfs-lock-after-teardown", "no thread takes myfs's lock once it is torn down")


def gone(world):
    slot = world.shared_slot("myfs torn down", False)
    lock = world.shared_lock("myfs_lock", LockKind.SPINLOCK)
    world.guard_acquisitions(
        lock.name, "myfs-lock-after-teardown", [slot],
        lambda state, tid: "the lock's object is torn down" if state[slot] else None,
    )
    return slot, lock


def tear_down(scratch: Scratch, slot: int) -> None:
    scratch[slot] = True


@operation(models="myfs's teardown")
def teardown(op: Op) -> None:
    slot, _lock = gone(op.world)
    op.effect("myfs_free(obj)", tear_down, slot)


@operation(models="myfs taking the object's lock")
def take(op: Op) -> None:
    _slot, lock = gone(op.world)
    op.lock(lock, EXCL, "spin_lock(&obj->lock)")
    op.unlock(lock, "spin_unlock(&obj->lock)")


scenario("my/guarded", "a lock taken beside the teardown of its object", tree=["/a/"],
         threads=[teardown(), take()],
         properties=["lock-protocol", "deadlock", "myfs-lock-after-teardown"])
"""


def test_an_acquisition_guard_of_the_model_s_own_reports_the_taker(tmp_path: Path) -> None:
    """``World.guard_acquisitions`` on a lock of the model's own: its
    acquisition after the teardown is a violation of the guard's property,
    naming the thread, the lock and the step, under partial-order
    reduction; the acquisition before it is fine."""
    (tmp_path / "guarded.py").write_text(GUARDED)
    outcome = mc.testing.check(
        f"{tmp_path / 'guarded.py'}:my/guarded", expect="myfs-lock-after-teardown"
    )
    assert outcome.message == (
        "myfs-lock-after-teardown: T2 takes myfs_lock at 'spin_lock(&obj->lock)': "
        "the lock's object is torn down"
    ), outcome.message


def test_an_inode_lock_the_models_do_not_give_an_inode_says_where_it_is() -> None:
    """op.inode(path) has i_rwsem alone: asking it for i_lock names
    inode_i_lock(), as the README's API table does."""
    from mc.kernel.expr import inode_in_slot

    inode = inode_in_slot(0, "/f")
    with pytest.raises(AttributeError, match=r"i_lock is inode_i_lock\(op.world, path\)"):
        _ = inode.i_lock
    assert getattr(inode, "i_mutex", None) is None


def test_force_makes_a_test_hold_as_its_label_reads() -> None:
    """``force`` makes a test constant as its label reads it: a branch whose
    label says the negation of what it tests gets the opposite value;
    the label says it was forced, and a step that is no test is refused."""
    source = Source("m.py", 1, "f")
    mapped = BranchStep(
        label="if (!folio->mapping) goto truncated",
        source=source,
        cond=const(True, "folio->mapping"),
        target="truncated",
        label_negates=True,
    )
    lock = LockStep(
        label="folio_lock(folio)",
        source=source,
        lock=LockExpr("PG_locked(f)", "PG_locked", lambda _world: lambda _state: None),
    )
    program = Program((lock, mapped, Label("truncated")))
    always = program.force("if (!folio->mapping) goto truncated", True).steps[1]
    assert isinstance(always, BranchStep) and isinstance(always.cond, Const)
    assert always.label == "if (!folio->mapping) goto truncated /* always */"
    assert always.cond.value is False
    never = program.force(mapped, False).steps[1]
    assert isinstance(never, BranchStep) and isinstance(never.cond, Const)
    assert never.cond.value is True
    assert never.label.endswith("/* never */")
    with pytest.raises(ValueError, match="is not a test"):
        program.force("folio_lock(folio)", True)
    recheck = JumpStep(
        label="if (likely(!dentry->d_lockref.count)) return true",
        source=source,
        cond=const(True, "dentry->d_lockref.count"),
        target="busy",
        label_negates=True,
    )
    jumping = Program((recheck, Label("busy")))
    kept = jumping.force(recheck, True).steps[0]
    assert isinstance(kept, JumpStep) and isinstance(kept.cond, Const)
    assert kept.cond.value is False, "the label's !count holds: the jump to busy is never taken"


WITHIN = """
from mc.dsl import inserts, scenario
from mc.models.filelock import lock_range

def note(op, path, first):
    op.effect("trace_wake(fl)", lambda scratch: None)

inserts(lock_range, "traced-wake", "x", before={"spin_lock(&blocked_lock_lock)": note},
        within="wake_up_blocks")
inserts(lock_range, "traced-any", "x", before={"spin_lock(&blocked_lock_lock)": note})
scenario("api/lock", "x", tree=["/f"], threads=[lock_range("/f", (0, 9))],
         properties=["deadlock"])
"""


def test_an_insertion_within_a_function_picks_its_step_of_a_shared_label(
    tmp_path: Path,
) -> None:
    """posix_lock_attempt() and wake_up_blocks() both take blocked_lock_lock
    in lock_range(): within= names the function whose step is meant, and
    without it the label is ambiguous, and the error names both functions."""
    model_file = tmp_path / "within.py"
    model_file.write_text(WITHIN)
    registry = with_files([model_file])
    scenario = registry.scenario("api/lock")
    [thread] = registry.build(scenario, ["traced-wake"]).threads
    labels = [step.label for step in thread.program.steps]
    at = labels.index("trace_wake(fl)")
    assert labels[at + 1] == "spin_lock(&blocked_lock_lock)"
    assert thread.program.steps[at + 1].source.function == "wake_up_blocks"
    with pytest.raises(ModelError, match="posix_lock_attempt, wake_up_blocks"):
        registry.build(scenario, ["traced-any"])


GOALS = """
from mc.dsl import EXCL, LockKind, Op, Scratch, goal, operation, scenario, touches


@touches(lambda world, slot: ([slot], [slot]))
def bump(scratch: Scratch, slot: int) -> None:
    scratch[slot] = scratch[slot] + 1


@operation(models="x++ under m")
def inc(op: Op) -> None:
    m = op.world.shared_lock("m", LockKind.MUTEX)
    op.lock(m, EXCL, "lock")
    op.effect("x++", bump, op.world.shared_slot("x", 0))
    op.unlock(m, "unlock")


@goal("x-reaches", "x reaches 2", reads=["x"])
def x_reaches(model):
    x = model.world.slot("x")
    return lambda s: "x is 2" if s[x] == 2 else None


scenario("g/two", "two increments", tree=[], threads=[inc(), inc()],
         properties=["x-reaches", "deadlock"])
scenario("g/one", "one increment", tree=[], threads=[inc()],
         properties=["x-reaches", "deadlock"])
"""


@pytest.mark.parametrize("options", [(), ("--no-por",), ("--dfs",)])
def test_a_goal_is_met_where_a_state_reaches_it_and_violated_where_none_does(
    vfsmc: Callable[..., Result], tmp_path: Path, options: tuple[str, ...]
) -> None:
    (tmp_path / "goals.py").write_text(GOALS)
    met = vfsmc("check", "goals.py:g/two", "--no-save", *options)
    assert met.exit_code == 0, met.output
    unmet = vfsmc("check", "goals.py:g/one", "--no-save", *options)
    assert unmet.exit_code == 1, unmet.output
    assert "x-reaches: never reached: x reaches 2" in unmet.output


I_LOCK_CLASH = """
from mc.dsl import EXCL, LockKind, Op, operation, scenario
from mc.models.dcache import inode_i_lock


@operation(models="spin_lock(&inode->i_lock)")
def vfs_i_lock(op: Op, path: str) -> None:
    lock = inode_i_lock(op.world, path)
    op.lock(lock, EXCL, "spin_lock(&inode->i_lock)")
    op.unlock(lock, "spin_unlock(&inode->i_lock)")


@operation(models="a filesystem's rwsem named after ip->i_lock")
def own_i_lock(op: Op, path: str) -> None:
    lock = op.world.shared_lock(f"i_lock({path})", LockKind.RWSEM)
    op.lock(lock, EXCL, "xfs_ilock(ip, XFS_ILOCK_EXCL)")
    op.unlock(lock, "xfs_iunlock(ip, XFS_ILOCK_EXCL)")


scenario("my/vfs-first", "", tree=["/f"], threads=[vfs_i_lock("/f"), own_i_lock("/f")])
scenario("my/own-first", "", tree=["/f"], threads=[own_i_lock("/f"), vfs_i_lock("/f")])
"""


@pytest.mark.parametrize("scenario", ["my/vfs-first", "my/own-first"])
def test_a_lock_of_one_s_own_named_as_the_vfs_inode_s_i_lock_is_refused_either_way(
    vfsmc: Callable[..., Result], tmp_path: Path, scenario: str
) -> None:
    """Whichever thread is built first, a rw_semaphore named i_lock(/f)
    and the VFS inode's i_lock spinlock of that name are one model error."""
    (tmp_path / "clash.py").write_text(I_LOCK_CLASH)
    result = vfsmc("check", f"clash.py:{scenario}", "--no-save")
    assert result.exit_code == 2, result.output
    assert re.search(r"lock i_lock\(/f\) is a (spinlock|rw_semaphore), not a", result.output)


ALLOCATE_ONLY = """
from mc.dsl import inserts
from mc.models.file import fallocate


def note(op, *args):
    op.effect("trace_alloc()", lambda scratch: None)


inserts(fallocate, "traced-alloc", "the allocation traces its start", optional={optional},
        before={{"inode_lock(inode) /* allocate the range */": note}})
"""


@pytest.mark.parametrize("optional", [True, False])
def test_an_optional_insertion_passes_over_a_run_of_the_body_without_its_step(
    vfsmc: Callable[..., Result], tmp_path: Path, optional: bool
) -> None:
    """fallocate(2)'s PUNCH_HOLE takes no allocation step: an insertion at
    that step is made in the KEEP_SIZE thread, and with optional=True the
    PUNCH_HOLE thread gets nothing; without it, that thread's build is a
    model error naming the label."""
    (tmp_path / "alloc.py").write_text(ALLOCATE_ONLY.format(optional=optional))
    result = vfsmc("show", "file/fallocate-modes", "--models", "alloc.py", "-V", "traced-alloc")
    if optional:
        assert result.exit_code == 0, result.output
        assert re.search(r"T1 added +trace_alloc\(\)", result.output), result.output
        assert "T2 added" not in result.output
    else:
        assert result.exit_code == 2, result.output
        assert "no step of fallocate is labelled 'inode_lock(inode) /* allocate" in result.output


def test_an_optional_label_no_thread_has_is_named_in_a_note(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """With optional=True a misspelt label passes every body: check names
    it and the label it meant beside the labels that did match, whatever
    the verdict; a variant whose every label is misspelt changes nothing,
    which the refusal says why; a label one thread has (the KEEP_SIZE
    allocation) gets no note."""
    right = ALLOCATE_ONLY.format(optional=True)
    (tmp_path / "alloc.py").write_text(right)
    (tmp_path / "typo.py").write_text(right.replace("allocate the range */", "alocate */"))
    both = right.replace(
        '"inode_lock(inode) /* allocate the range */": note',
        '"inode_lock(inode) /* allocate the range */": note, "inode_unlock(inode) TYPO": note',
    )
    (tmp_path / "both.py").write_text(both)
    args = ("check", "file/fallocate-modes", "--no-save", "-V", "traced-alloc")
    partly = vfsmc(*args, "--models", str(tmp_path / "both.py"))
    assert partly.exit_code == 0, partly.output
    assert (
        "note: traced-alloc inserts nothing at 'inode_unlock(inode) TYPO': no step of this "
        "scenario's threads has that label (optional=True lets a body without it pass; did "
        "you mean 'inode_unlock(inode)'?)"
    ) in partly.output
    typo = vfsmc(*args, "--models", str(tmp_path / "typo.py"))
    assert typo.exit_code == 2, typo.output
    assert (
        "variant traced-alloc changes nothing in file/fallocate-modes (no step has the label "
        "it inserts at, which optional=True lets pass: 'inode_lock(inode) /* alocate */' "
        "(did you mean 'inode_lock(inode) /* allocate the range */'?))"
    ) in typo.output
    right_run = vfsmc(*args, "--models", str(tmp_path / "alloc.py"))
    assert right_run.exit_code == 0, right_run.output
    assert "inserts nothing" not in right_run.output


TWO_INSERTS = """
from mc.dsl import inserts
from mc.models.truncate import mmap_load, punch_hole


def note(op, *args):
    op.effect("trace()", lambda scratch: None)


inserts(punch_hole, "two-places", "x", before={"inode_unlock(inode)": note})
inserts(mmap_load, "two-places", "x", every=True,
        before={"__do_fault(): ret = vma->vm_ops->fault(vmf)": note})
"""


def test_two_inserts_of_one_name_are_refused_with_the_way_to_write_them(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    (tmp_path / "twice.py").write_text(TWO_INSERTS)
    args = ("check", "truncate/punch-vs-fault", "--no-save", "-V", "two-places")
    result = vfsmc(*args, "--models", str(tmp_path / "twice.py"))
    assert result.exit_code == 2, result.output
    assert "twice.py:11: variant two-places is declared twice (first at " in result.output
    assert "is one inserts((op1, op2, ...), name, ..., optional=True)" in result.output
    (tmp_path / "once.py").write_text(
        TWO_INSERTS.split("inserts(punch_hole")[0]
        + 'inserts((punch_hole, mmap_load), "two-places", "x", every=True, optional=True,\n'
        + '        before={"inode_unlock(inode)": note,\n'
        + '                "__do_fault(): ret = vma->vm_ops->fault(vmf)": note})\n'
    )
    once = vfsmc(
        "show", "truncate/punch-vs-fault", "-V", "two-places", "--models", str(tmp_path / "once.py")
    )
    assert once.exit_code == 0, once.output
    assert re.search(r"T1 added +trace\(\)", once.output), once.output
    assert re.search(r"T2 added +trace\(\)", once.output), once.output


UNDECLARED_FLAG = """
from mc.dsl import EXCL, flag_variant, inserts
from mc.models.truncate import truncate

flag_variant("my-flag", "takes invalidate_lock at i_size_write")


def hook(op, file, size):
    if op.variant("my-flga"):
        op.lock(op.mapping(file).invalidate_lock, EXCL, "x")


inserts(truncate, "flag-hook", "asks the flag", before={"i_size_write(inode, attr->ia_size)": hook})
"""


def test_a_flag_no_variant_declares_is_a_model_error_at_the_question(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """op.variant() of a misspelt flag would never be on: the build names
    the line and the flag it meant."""
    (tmp_path / "flag.py").write_text(UNDECLARED_FLAG)
    args = ("check", "truncate/truncate-vs-write-fault", "--models", "flag.py", "--no-save")
    result = vfsmc(*args, "-V", "flag-hook", "-V", "my-flag")
    assert result.exit_code == 2, result.output
    assert "flag.py:9: in hook: op.variant('my-flga'): no variant is named so (did you mean " in (
        result.output
    )


LOCAL_TEST_OF_SHARED = """
from mc.dsl import Op, operation, scenario, state_expr


@operation(models="a test of a flag another thread sets")
def waiter(op: Op, path: str) -> None:
    flag = op.world.shared_slot(f"flag({path})", False)
    op.goto_if(state_expr("!flag", lambda s: not s[flag], True, (flag,)), "out", "if (!flag)")
    op.label("out")


scenario("my/local-test", "a local test of a shared flag", tree=["/f"], threads=[waiter("/f")])
"""


def test_a_local_test_that_reads_a_shared_slot_is_a_model_error(tmp_path: Path) -> None:
    """``local=True`` lets a test run with the step before it, unseen by
    the other threads: naming a shared slot in its ``reads=`` would hide
    every write to that slot from it, so the build refuses it."""
    mine = tmp_path / "mine.py"
    mine.write_text(LOCAL_TEST_OF_SHARED)
    registry = with_files([mine])
    with pytest.raises(Exception, match=r"local=True .* names flag\(/f\), a shared slot"):
        registry.build(registry.scenario("my/local-test"))
    shared = tmp_path / "shared.py"
    shared.write_text(LOCAL_TEST_OF_SHARED.replace(", True, (flag,)", ", reads=(flag,)"))
    registry = with_files([shared])
    assert check(registry.build(registry.scenario("my/local-test"))).verdict is Verdict.OK


def test_a_state_expr_reads_naming_a_slot_by_its_name_says_how_to_get_its_number(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """``reads=`` takes slot numbers; a slot's name there (which
    ``@invariant(reads=...)`` takes) is one line naming
    ``op.world.slot(name)``, and that form checks."""
    named = LOCAL_TEST_OF_SHARED.replace(", True, (flag,)", ', reads=[f"flag({path})"]')
    (tmp_path / "named.py").write_text(named)
    result = vfsmc("check", "named.py:my/local-test", "--no-save")
    assert result.exit_code == 2, result.output
    assert "state_expr('!flag'): reads= takes slot numbers, not 'flag(/f)': " in result.output
    assert "op.world.slot(name) gives the number" in result.output
    (tmp_path / "numbered.py").write_text(
        LOCAL_TEST_OF_SHARED.replace(", True, (flag,)", ', reads=[op.world.slot(f"flag({path})")]')
    )
    assert vfsmc("check", "numbered.py:my/local-test", "--no-save").exit_code == 0


SHARED_BY_TWO_HELPERS = """
from mc.dsl import File, Op, inserts, scenario
from mc.models.truncate import mmap_store


def note(op: Op, *_args) -> None:
    op.effect("trace_unlock(mapping)", lambda scratch: None)


inserts(mmap_store, "traced", "x", after={{"filemap_invalidate_unlock_shared(mapping)": note}},
        every=True{within})

F = File("/f", pages=1)
scenario("api/store", "x", tree=["/f"], threads=[mmap_store(F, 0)], properties=["deadlock"])
"""


def test_every_finding_a_label_in_two_model_functions_asks_for_within(tmp_path: Path) -> None:
    """The store's fault reads the page in (readahead_page) and
    ext4_page_mkwrite() (page_mkwrite) then runs: both drop
    invalidate_lock with one label.  every=True there names the two
    functions; within= one of them, or both, picks the steps."""
    both = tmp_path / "both.py"
    both.write_text(SHARED_BY_TWO_HELPERS.format(within=""))
    registry = with_files([both])
    with pytest.raises(
        Exception,
        match=r"every=True finds .* in 2 model functions of mmap_store: " + ", ".join(FUNCTIONS),
    ):
        registry.build(registry.scenario("api/store"), ["traced"])
    counts = {}
    for name, within in (("one", "'page_mkwrite'"), ("two", f"{tuple(FUNCTIONS)!r}")):
        chosen = tmp_path / f"{name}.py"
        chosen.write_text(SHARED_BY_TWO_HELPERS.format(within=f", within={within}"))
        registry = with_files([chosen])
        model = registry.build(registry.scenario("api/store"), ["traced"])
        traced = [s for s in model.threads[0].program.steps if s.label == "trace_unlock(mapping)"]
        counts[name] = len(traced)
    assert 0 < counts["one"] < counts["two"]


FUNCTIONS = ("page_mkwrite", "readahead_page")


RENDERED_LATE = """
from mc.dsl import EXCL, Op, operation, scenario


def numbered(scratch):
    return 7


@operation(models="a register named before the step that computes it")
def late(op: Op) -> None:
    early = op.reg("n")
    op.compute("n", "n = numbered()", numbered, render=lambda n: f"#{n}")
    a = op.inode("/a").i_rwsem
    op.lock(a, EXCL, "inode_lock(/a)")
    op.lock(a, EXCL, "inode_lock(/a) /* again */")


scenario("my/late", "x", tree=["/a/"], threads=[late()])
"""


def test_a_register_named_before_its_computation_prints_as_the_computation_says(
    tmp_path: Path,
) -> None:
    """``op.reg`` names a register with the inode names' rendering; the
    ``render=`` of the compute that sets it later is the one its values
    print with (a number printed as a path was the first one's)."""
    (tmp_path / "late.py").write_text(RENDERED_LATE)
    outcome = mc.testing.check(f"{tmp_path / 'late.py'}:my/late", expect="lock-protocol")
    assert outcome.counterexample is not None
    [step] = [step for step in outcome.counterexample.steps if step.label == "n = numbered()"]
    assert step.changed == {"T1.n": "#7"}, step.changed


A_SET_COMPUTED = """
from mc.dsl import EXCL, Op, operation, scenario


def names(scratch):
    return (frozenset(f"entry-{i}" for i in range(9)), 0)


@operation(models="a register computed as a set")
def listed(op: Op) -> None:
    op.compute("seen", "seen = read_dirblock()", names)
    a = op.inode("/a").i_rwsem
    op.lock(a, EXCL, "inode_lock(/a)")
    op.lock(a, EXCL, "inode_lock(/a) /* again */")


scenario("my/listed", "x", tree=["/a/"], threads=[listed()])
"""


def test_a_computed_set_prints_its_items_in_sorted_order(tmp_path: Path) -> None:
    """A register's set prints sorted, as a slot's does: Python orders a
    set of strings by hashes that differ from one process to the next."""
    (tmp_path / "listed.py").write_text(A_SET_COMPUTED)
    outcome = mc.testing.check(f"{tmp_path / 'listed.py'}:my/listed", expect="lock-protocol")
    assert outcome.counterexample is not None
    [step] = [s for s in outcome.counterexample.steps if s.label == "seen = read_dirblock()"]
    entries = ", ".join(f"'entry-{i}'" for i in range(9))
    assert step.changed == {"T1.seen": f"(frozenset({{{entries}}}), 0)"}, step.changed


@operation(models="a lookup that finds nothing, then one that finds something")
def looks_up_twice(op: Op) -> None:
    a = op.inode("/a")
    op.lock(a.i_rwsem, EXCL, "inode_lock(a)")
    op.compute("g", "g = lookup(a) /* NULL */", lambda scratch: None)
    op.compute("h", "h = lookup(b)", lambda scratch: 1)
    op.unlock(a.i_rwsem, "inode_unlock(a)")


def test_a_trace_shows_a_register_set_to_the_value_it_held() -> None:
    """``g = lookup()`` finding NULL leaves the state as it was, yet the
    trace says the step set g; a trace saved before it did so replays."""
    model = _model(looks_up_twice())
    state, records = model.initial, []
    while successors := model.successors(state):
        ((action, after),) = successors
        records += model.records(state, action)
        state = after
    by_label = {record.label: record for record in records}
    nothing = by_label["g = lookup(a) /* NULL */"]
    assert nothing.changed == {"T1.g": "None"} and nothing.rewritten == {"T1.g"}
    found = by_label["h = lookup(b)"]
    assert found.changed == {"T1.h": "1"} and not found.rewritten
    saved_before = attrs.evolve(nothing, changed={}, rewritten=frozenset())
    assert same_changes(nothing, saved_before)
    assert not same_changes(found, attrs.evolve(found, changed={}))
