"""Conformance to the locking rules at every call into a filesystem method:
the shipped scenarios pass on the correct protocol, each conformance
variant is caught, and each kind of breach is reported."""

from __future__ import annotations

import json
import re
import shutil
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import Result

from mc.check import expectations
from mc.check.checker import check_scenario
from mc.check.registry import base
from mc.check.registry import shipped as shipped_registry
from mc.dsl import const
from mc.dsl.operation import Op, operation
from mc.dsl.scenario import BASE_PROPERTIES, Registry, Scenario
from mc.dsl.steps import CallStep
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.kernel import locks
from mc.kernel.locks import EXCL, SHARED, Kind
from mc.kernel.world import LocatedModelError, ModelError, Scratch
from mc.models.buffer import meta_block
from mc.spec import conformance, semantics
from mc.spec.load import SpecError

TREE = ("/a/", "/a/x")


def test_conformance_is_a_base_property_and_every_scenario_checks_it(shipped: Registry) -> None:
    assert "spec-conformance" in BASE_PROPERTIES
    for name, scenario in shipped.scenarios.items():
        assert "spec-conformance" in scenario.properties, name


def test_each_conformance_variant_is_caught_with_a_counterexample(shipped: Registry) -> None:
    caught = {
        variant
        for row in expectations.load()
        if row.violated == "spec-conformance"
        for variant in row.variants
    }
    assert {"setattr-unlocked", "revalidate-blocks-in-rcu"} <= caught


def test_setattr_without_i_rwsem_names_the_rule(shipped: Registry) -> None:
    """The message names the rule and the need as a variant waives it."""
    outcome = check_scenario(shipped, "attr/chmod-link-unlink", ["setattr-unlocked"])
    violation = outcome.result.violation
    assert violation is not None
    assert violation.message == (
        "T1 calls inode_operations.setattr without i_rwsem(/a/x) exclusive "
        "(rules: i_rwsem(inode): exclusive; waive with inode_operations.setattr i_rwsem(inode))"
    )


def _with_variant(name: str, waives: tuple[str, ...]) -> Registry:
    """A new registry of what vfsmc ships with ``setattr-unlocked`` again
    as ``name``, waiving ``waives``."""
    registry = shipped_registry()
    flagged = registry.variant("setattr-unlocked")
    registry.add_variant(attrs.evolve(flagged, name=name, waives=waives))
    return registry


def test_a_waiver_of_conformance_toml_that_is_no_need_is_a_spec_error(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(conformance.SPECS, specs)
    roles = specs / "conformance.toml"
    text = roles.read_text()
    good = 'no-rename-mutex = ["inode_operations.rename s_vfs_rename_sem"]'
    assert good in text
    roles.write_text(text.replace(good, good.replace("s_vfs_rename_sem", "s_vfs_rename_mutex")))
    with pytest.raises(SpecError, match="variant no-rename-mutex: it waives 'inode_operations"):
        conformance.rules_at(specs)


def test_a_variant_that_waives_the_need_it_breaks_passes() -> None:
    """The need the message names, waived by the variant, is not reported."""
    registry = _with_variant("setattr-waived", ("inode_operations.setattr i_rwsem(inode)",))
    outcome = check_scenario(
        registry, "attr/chmod-link-unlink", ["setattr-waived"], ["spec-conformance"]
    )
    assert outcome.result.verdict is Verdict.OK


@pytest.mark.parametrize(
    ("waiver", "problem"),
    [
        ("inode_operations.setattr i_rwsem(victim)", "the needs of inode_operations.setattr are"),
        ("inode_operations.setatr i_rwsem(inode)", "the rules have no method"),
        ("inode_operations.setattr", "the needs of inode_operations.setattr are"),
    ],
)
def test_a_waiver_that_is_no_need_is_an_error(waiver: str, problem: str) -> None:
    registry = _with_variant("setattr-misnamed", (waiver,))
    with pytest.raises(ModelError) as raised:
        check_scenario(registry, "attr/chmod-link-unlink", ["setattr-misnamed"])
    declared = registry.variant("setattr-misnamed").declared
    assert declared is not None
    where = f"models/conformance_scenarios.py:{declared.line}"
    assert str(raised.value).startswith(
        f"{where}: variant setattr-misnamed waives {waiver!r}, but "
    )
    assert problem in str(raised.value)


def test_revalidate_may_block_only_in_ref_walk(shipped: Registry) -> None:
    outcome = check_scenario(shipped, "namei/stat-unlink-create", ["revalidate-blocks-in-rcu"])
    assert outcome.counterexample is not None
    steps = outcome.counterexample.steps
    assert steps[0].event.lock == "rcu_read_lock"
    assert "in rcu-walk and it blocks" in outcome.counterexample.message


def _labels_reached(shipped: Registry, scenario: str, thread: int) -> set[str]:
    model = shipped.build(shipped.scenario(scenario))
    seen = {model.initial}
    queue = deque([model.initial])
    labels = set()
    while queue:
        state = queue.popleft()
        current = model.current_step(state, thread)
        if current is not None:
            labels.add(current.step.label)
        for _action, after in model.successors(state):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    return labels


def test_the_rcu_walk_falls_back_to_ref_walk_on_every_path(shipped: Registry) -> None:
    labels = _labels_reached(shipped, "namei/stat-unlink-create", 0)
    assert "status = d_revalidate(dentry, nd->flags) /* ref-walk */" in labels
    assert "path_lookupat(nd, flags): dentry = __d_lookup(parent, &nd->last)" in labels
    assert "old = inode->i_op->lookup(inode, dentry, flags)" in labels
    assert "return inode->i_op->getattr(idmap, path, stat, request_mask, query_flags)" in labels


def _ignoring_waivers(shipped: Registry) -> Registry:
    """The shipped scenarios, variants and properties, with spec-conformance
    checking every rule whatever the variants waive."""
    strict = Registry()
    strict.scenarios = shipped.scenarios
    strict.variants = shipped.variants
    strict.properties = shipped.properties
    strict.preparers = {
        "spec-conformance": lambda world, variants: world.call_guards.append(
            conformance.make_guard(conformance.rules_at(), frozenset())
        )
    }
    return strict


def test_waived_rules_let_a_variant_show_its_consequence(shipped: Registry) -> None:
    """rmdir-no-victim-lock knowingly departs from the victim rule: with
    the waiver the check finds what it leads to (a name in a removed
    directory); without it, the call itself breaks the rules."""
    waived = check_scenario(shipped, "dirops/rename-rmdir-link", ["rmdir-no-victim-lock"])
    assert waived.result.violation is not None
    assert waived.result.violation.property == "namespace"
    strict = _ignoring_waivers(shipped)
    unwaived = check(
        strict.build(strict.scenario("dirops/rename-rmdir-link"), ["rmdir-no-victim-lock"])
    )
    assert unwaived.violation is not None
    assert unwaived.violation.property == "spec-conformance"
    assert "inode_operations.rmdir without i_rwsem(/a/b) exclusive" in unwaived.violation.message


def test_every_call_of_the_directory_models_checks_all_it_names(shipped: Registry) -> None:
    """No rule on a call of dirops/, attr/ or namei/ goes unchecked for want
    of a role; the only unchecked rules are about locks the models do not
    have (a dentry's d_lock)."""
    rules = conformance.rules_at()
    for name in shipped.scenarios:
        if not name.startswith(("dirops/", "attr/", "namei/")):
            continue
        model = shipped.build(shipped.scenario(name), properties=())
        for thread in model.threads:
            for compiled in thread.steps:
                if isinstance(compiled.step, CallStep):
                    plan = conformance.plan(compiled.step, model.world, rules)
                    kinds = {u.kind for u in plan.unchecked}
                    assert kinds <= {"lock-not-modelled"}, (name, compiled.step.method, plan)


# --- the checker on small programs ---------------------------------------------


def _nothing(_fs: Scratch, *_args: object) -> int:
    return 0


@operation(models="a method of /a/x called under the inode's i_rwsem")
def called_locked(op: Op, method: str, exclusive: bool = False) -> None:
    inode = op.inode("/a/x")
    op.lock(inode.i_rwsem, EXCL if exclusive else SHARED)
    op.call(method, _nothing, inode, roles={"inode": inode})
    op.unlock(inode.i_rwsem)


@operation(models="may_create() -> inode_permission(dir) under I_MUTEX_PARENT")
def permission_on_locked_dir(op: Op) -> None:
    directory = op.inode("/a")
    op.lock(directory.i_rwsem, EXCL, "inode_lock_nested(dir, I_MUTEX_PARENT)")
    op.call("inode_operations.permission", _nothing, directory, roles={"inode": directory})
    op.call("inode_operations.get_inode_acl", _nothing, directory, roles={"inode": directory})
    op.unlock(directory.i_rwsem)


O_CREAT = 0o100


def _atomic_open(mode: object, roles: dict[str, object]) -> object:
    @operation(models="lookup_open() -> ->atomic_open")
    def atomic_open(op: Op) -> None:
        directory = op.inode("/a")
        op.lock(directory.i_rwsem, mode)  # type: ignore[arg-type]
        found = {name: directory if value == "dir" else value for name, value in roles.items()}
        op.call("inode_operations.atomic_open", _nothing, directory, roles=found)
        op.unlock(directory.i_rwsem)

    return atomic_open()


@pytest.mark.parametrize(
    ("thread", "message"),
    [
        (permission_on_locked_dir(), None),
        (called_locked("inode_operations.getattr"), None),
        (called_locked("xattr_handler.get", True), None),  # file_remove_privs()
        (_atomic_open(SHARED, {"dir": "dir", "open_flag": 0}), None),
        (_atomic_open(EXCL, {"dir": "dir", "open_flag": O_CREAT}), None),
        (
            _atomic_open(SHARED, {"dir": "dir", "open_flag": O_CREAT}),
            "T1 calls inode_operations.atomic_open with i_rwsem(/a) only shared "
            "(rules: i_rwsem(inode): shared (exclusive if O_CREAT is set in open flags); "
            "waive with inode_operations.atomic_open i_rwsem(dir))",
        ),
    ],
)
def test_no_is_not_required_and_o_creat_needs_the_directory_exclusive(
    thread: object, message: str | None
) -> None:
    """The table's "no" does not forbid the lock: ->permission and
    ->get_inode_acl on a directory under its i_rwsem (may_create()),
    ->getattr and xattr_handler->get under the inode's; ->atomic_open is
    called with the directory shared, exclusive when O_CREAT is set in
    open_flag."""
    outcome = check_scenario(_registry(thread), "test/s")
    violation = outcome.result.violation
    if message is None:
        assert violation is None, violation.message if violation else None
    else:
        assert violation is not None
        assert (violation.property, violation.message) == ("spec-conformance", message)


def test_o_creat_unknown_to_the_call_is_listed_as_not_checked() -> None:
    """An ->atomic_open call that names no open_flag cannot be checked for
    O_CREAT's exclusive lock: the plan says so, the shared need is still
    checked."""
    registry = _registry(_atomic_open(SHARED, {"dir": "dir"}))
    model = registry.build(registry.scenario("test/s"), properties=())
    steps = [c.step for t in model.threads for c in t.steps if isinstance(c.step, CallStep)]
    plan = conformance.plan(steps[0], model.world, conformance.rules_at())
    assert [c.need.need for c in plan.checked] == ["held"]
    assert [(u.need, u.kind, u.reason) for u in plan.unchecked] == [
        ("i_rwsem(dir)", "condition-not-modelled", "the call names no open_flag")
    ]


def test_atomic_open_shared_for_o_creat_breaks_the_rules_unless_waived(shipped: Registry) -> None:
    """atomic-open-shared waives the rule to show what it leads to (two
    inodes for one name): the second opener calls ->atomic_open only once
    the first one's in-lookup dentry is done (fuse_lookup() hashed it and
    woke the waiters, d_alloc_parallel()), and both create.  Without the
    waiver the call itself is caught."""
    waived = check_scenario(shipped, "inode/open-creat", ["atomic-open-shared"])
    assert waived.result.violation is not None
    assert waived.result.violation.property == "namespace"
    assert waived.counterexample is not None
    steps = [(step.thread, step.label) for step in waived.counterexample.steps]
    woken = [i for i, (_, label) in enumerate(steps) if label.startswith("fuse_lookup(): d_splice")]
    calls = [i for i, (_, label) in enumerate(steps) if "i_op->atomic_open" in label]
    assert woken and len(calls) == 2 and woken[0] < calls[1], steps
    strict = _ignoring_waivers(shipped)
    unwaived = check(strict.build(strict.scenario("inode/open-creat"), ["atomic-open-shared"]))
    assert unwaived.violation is not None
    assert unwaived.violation.property == "spec-conformance"
    assert "inode_operations.atomic_open with i_rwsem(/a) only shared" in unwaived.violation.message


@operation(models="->getattr holding rename_lock")
def getattr_atomic(op: Op) -> None:
    inode = op.inode("/a/x")
    op.lock(op.world.rename_lock, EXCL)
    op.call("inode_operations.getattr", _nothing, inode, roles={"inode": inode}, sleeps=False)
    op.unlock(op.world.rename_lock)


@operation(models="->dirty_folio that sleeps")
def dirty_folio_sleeps(op: Op) -> None:
    op.call("address_space_operations.dirty_folio", _nothing, sleeps=True)


@operation(models="->d_weak_revalidate in rcu-walk")
def weak_revalidate_in_rcu(op: Op) -> None:
    op.lock(op.world.rcu_read_lock, SHARED)
    op.call("dentry_operations.d_weak_revalidate", _nothing, sleeps=False)
    op.unlock(op.world.rcu_read_lock)


@operation(models="->rmdir with the parent locked shared")
def rmdir_shared(op: Op) -> None:
    directory, victim = op.inode("/a"), op.inode("/a/x")
    op.lock(directory.i_rwsem, SHARED)
    op.lock(victim.i_rwsem, EXCL)
    op.call("inode_operations.rmdir", _nothing, roles={"dir": directory, "victim": victim})
    op.unlock(victim.i_rwsem)
    op.unlock(directory.i_rwsem)


@operation(models="a method the rules do not have")
def unknown_method(op: Op) -> None:
    op.call("inode_operations.frobnicate", _nothing)


@operation(models="->permission with a misspelled role")
def misspelled_role(op: Op) -> None:
    directory = op.inode("/a")
    op.call("inode_operations.permission", _nothing, directory, roles={"inod": directory})


def _registry(*threads: object) -> Registry:
    registry = base()
    registry.add_scenario(Scenario("test/s", "test", TREE, tuple(threads)))  # type: ignore[arg-type]
    return registry


@pytest.mark.parametrize(
    ("thread", "message"),
    [
        (
            lambda: called_locked("inode_operations.fiemap"),
            "T1 calls inode_operations.fiemap holding i_rwsem(/a/x) shared "
            "(rules: i_rwsem(inode): no; waive with inode_operations.fiemap i_rwsem(inode))",
        ),
        (
            getattr_atomic,
            "T1 calls inode_operations.getattr holding rename_lock, but it may block "
            "(rules: all may block)",
        ),
        (
            dirty_folio_sleeps,
            "T1 calls address_space_operations.dirty_folio and it blocks, which the rules "
            "forbid (rules: All except dirty_folio and free_folio may block)",
        ),
        (
            weak_revalidate_in_rcu,
            "T1 calls dentry_operations.d_weak_revalidate in rcu-walk (rules: rcu-walk: no)",
        ),
        (
            rmdir_shared,
            "T1 calls inode_operations.rmdir with i_rwsem(/a) only shared "
            "(rules: i_rwsem(inode): exclusive (both); "
            "waive with inode_operations.rmdir i_rwsem(dir))",
        ),
    ],
)
def test_each_kind_of_breach_is_a_violation(thread: object, message: str) -> None:
    outcome = check_scenario(_registry(thread()), "test/s")  # type: ignore[operator]
    violation = outcome.result.violation
    assert violation is not None
    assert (violation.property, violation.message) == ("spec-conformance", message)
    assert outcome.counterexample is not None
    assert outcome.counterexample.steps[-1].event.kind == "error"


def test_without_the_property_nothing_is_checked() -> None:
    properties = [p for p in BASE_PROPERTIES if p != "spec-conformance"]
    outcome = check_scenario(
        _registry(called_locked("inode_operations.fiemap")), "test/s", properties=properties
    )
    assert outcome.result.verdict is Verdict.OK


def test_calling_a_method_the_rules_do_not_have_is_a_model_error() -> None:
    """Named once at the line of the call (the message is located, so no
    caller puts the line in front of it again)."""
    with pytest.raises(LocatedModelError) as raised:
        check_scenario(_registry(unknown_method()), "test/s")
    assert re.fullmatch(
        r"tests/test_conformance\.py:\d+: inode_operations\.frobnicate is not a method of the "
        r"locking rules \(.*\)",
        str(raised.value),
    )


def test_a_role_the_rules_of_the_method_do_not_name_is_a_model_error_at_the_call() -> None:
    """A misspelled role would leave the rule unchecked: it is a model
    error at the line of the call, naming the roles of the method."""
    with pytest.raises(ModelError) as raised:
        check_scenario(_registry(misspelled_role()), "test/s")
    source = Path(__file__).read_text().splitlines()
    line = 1 + next(i for i, text in enumerate(source) if 'roles={"inod": directory}' in text)
    assert str(raised.value) == (
        f"tests/test_conformance.py:{line}: unknown role 'inod' "
        "(inode_operations.permission's roles in specs/conformance.toml: inode)"
    )


def test_every_role_the_shipped_models_name_is_known(shipped: Registry) -> None:
    """The roles of rename include those its conditions read; a role no
    rule names is declared under other_roles."""
    roles = conformance.rules_at().roles
    assert set(roles.method_roles("inode_operations", "rename")) == {
        "old_dir",
        "new_dir",
        "target",
        "source",
        "flags",
    }
    assert "wbc" in roles.method_roles("address_space_operations", "writepage")
    assert roles.method_roles("file_operations", "read") == ("file", "inode")
    rules = conformance.rules_at()
    for name in shipped.scenarios:
        model = shipped.build(shipped.scenario(name), properties=())
        for thread in model.threads:
            for compiled in thread.steps:
                if isinstance(compiled.step, CallStep):
                    conformance.plan(compiled.step, model.world, rules)


def test_rcu_read_lock_never_blocks_and_forbids_sleeping() -> None:
    value = locks.initial(Kind.RCU)
    outcome, value = locks.acquire(Kind.RCU, value, 0, SHARED)
    outcome2, value = locks.acquire(Kind.RCU, value, 1, SHARED)
    assert (outcome, outcome2, value) == (locks.Outcome.TAKEN, locks.Outcome.TAKEN, (0, 1))
    assert Kind.RCU.atomic and not Kind.RCU.sleeps
    assert locks.render(Kind.RCU, value, ("T1", "T2")) == "T1,T2"
    assert locks.release(Kind.RCU, value, 0) == (True, (1,))
    assert locks.release(Kind.RCU, (1,), 1) == (True, None)


def test_a_malformed_conformance_map_names_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "conformance.toml"
    bad.write_text('[columns.t."c"]\nlock = "l"\nroles = ["dir if upside-down"]\n')
    with pytest.raises(SpecError, match=r"table t, column c, field roles: unknown condition"):
        semantics.load_role_map(bad)
    bad.write_text('[waivers]\nsome-variant = ["rename without anything"]\n')
    with pytest.raises(SpecError, match="waivers, variant some-variant"):
        semantics.load_role_map(bad)


def test_malformed_other_roles_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "conformance.toml"
    bad.write_text('[other_roles]\n"a.b.c" = ["x"]\n')
    with pytest.raises(SpecError, match=r"field other_roles: maps 'table\.method' or 'table'"):
        semantics.load_role_map(bad)


def test_a_malformed_departure_names_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "conformance.toml"
    bad.write_text('[departures]\n"quota_write s_umount" = "the kernel holds it"\n')
    with pytest.raises(SpecError, match="departures: 'quota_write s_umount'"):
        semantics.load_role_map(bad)
    bad.write_text('[departures]\n"super_operations.quota_write s_umount" = ""\n')
    with pytest.raises(SpecError, match="must say what the kernel does"):
        semantics.load_role_map(bad)


def test_a_rule_the_kernel_departs_from_is_not_checked_and_says_why(shipped: Registry) -> None:
    """->quota_write under s_umount (Q_SYNC) passes because the kernel makes
    that call: the plan lists the rule as kernel-departs, with the kernel
    code; the other rules of the same calls are still checked, and without
    the departure the same call is a violation."""
    rules = conformance.rules_at()
    model = shipped.build(shipped.scenario("quota/alloc-vs-sync"), properties=())
    plans = [
        conformance.plan(compiled.step, model.world, rules)
        for thread in model.threads
        for compiled in thread.steps
        if isinstance(compiled.step, CallStep)
        and compiled.step.method == "super_operations.quota_write"
    ]
    assert plans
    for plan in plans:
        departs = [u for u in plan.unchecked if u.kind == "kernel-departs"]
        assert [u.need for u in departs] == ["s_umount"]
        assert "dquot_writeback_dquots()" in departs[0].reason
    assert check_scenario(shipped, "quota/alloc-vs-sync", []).result.violation is None
    strict_roles = attrs.evolve(rules.roles, departures={})
    strict = Registry()
    strict.scenarios = shipped.scenarios
    strict.variants = shipped.variants
    strict.properties = shipped.properties
    strict.preparers = {
        "spec-conformance": lambda world, variants: world.call_guards.append(
            conformance.make_guard(attrs.evolve(rules, roles=strict_roles), frozenset())
        )
    }
    unwaived = check(strict.build(strict.scenario("quota/alloc-vs-sync"), []))
    assert unwaived.violation is not None
    assert unwaived.violation.property == "spec-conformance"
    assert "super_operations.quota_write holding s_umount shared" in unwaived.violation.message


MKWRITE_CALL = """
from mc.dsl import SHARED, File, Op, flag_variant, operation, scenario

flag_variant("mkwrite-unlocked", "->page_mkwrite called after mmap_read_unlock()")


def mkwrite(scratch, *args) -> int:
    return 0


@operation(models="do_page_mkwrite()")
def fault(op: Op, file: File) -> None:
    mm = op.mm(file)
    op.lock(mm.mmap_lock, SHARED, "mmap_read_lock(mm)")
    if op.variant("mkwrite-unlocked"):
        op.unlock(mm.mmap_lock, "mmap_read_unlock(mm)")
    op.call("vm_operations_struct.page_mkwrite", mkwrite, label="->page_mkwrite(vmf)"{roles})
    if not op.variant("mkwrite-unlocked"):
        op.unlock(mm.mmap_lock, "mmap_read_unlock(mm)")


F = File("/f", pages=1, cached=(0,))
scenario("my/mkwrite", "x", tree=["/f"], threads=[fault(F)], properties=["spec-conformance"])
"""


def test_a_need_a_user_s_call_leaves_unchecked_is_said(vfsmc: Any) -> None:
    """A ->page_mkwrite call of a model file that names no mm: its
    mmap_lock need goes unchecked, which check notes (and --json lists),
    and spec coverage --models lists with the call's model line though
    the shipped calls check it; named with roles={"mm": op.mm(file)}, it
    is checked, and the variant that calls it unlocked breaks it."""
    Path("unnamed.py").write_text(MKWRITE_CALL.format(roles=""))
    unnamed = vfsmc("check", "unnamed.py:my/mkwrite", "-V", "mkwrite-unlocked", "--no-save")
    assert unnamed.exit_code == 0, unnamed.output
    assert (
        "note: spec-conformance cannot check vm_operations_struct.page_mkwrite mmap_lock(mm) "
        "at unnamed.py:17: the call names no mm" in unnamed.output
    )
    data = json.loads(vfsmc("check", "unnamed.py:my/mkwrite", "--no-save", "--json").output)
    assert data["unchecked_needs"] == [
        "vm_operations_struct.page_mkwrite mmap_lock(mm) at unnamed.py:17: the call names no mm"
    ]
    listed = vfsmc("spec", "coverage", "--models", "unnamed.py")
    assert (
        "not checked: mmap_lock(mm) (missing-role: the call names no mm at unnamed.py:17)"
        in listed.output
    )
    assert "(missing-role: the call names no mm)" not in listed.output
    Path("named.py").write_text(MKWRITE_CALL.format(roles=', roles={"mm": mm}'))
    named = vfsmc("check", "named.py:my/mkwrite", "--no-save")
    assert named.exit_code == 0 and "cannot check" not in named.output, named.output
    broken = vfsmc("check", "named.py:my/mkwrite", "-V", "mkwrite-unlocked", "--no-save")
    assert broken.exit_code == 1
    assert "T1 calls vm_operations_struct.page_mkwrite without mmap_lock" in broken.output
    shipped_only = vfsmc("spec", "coverage")
    assert "missing-role: the call names no mm" not in shipped_only.output


@operation(models="a buffer's I/O completion: bh->b_end_io with or without its lock bit")
def buffer_completion(op: Op, locked: bool) -> None:
    block = meta_block(op.world)
    if locked:
        op.lock(block.bh_lock, EXCL, "lock_buffer(bh)")
    op.call("buffer_head.b_end_io", _nothing, roles={"bh": const(block, "bh")}, sleeps=False)
    if locked:
        op.unlock(block.bh_lock, "unlock_buffer(bh)")


@pytest.mark.parametrize("locked", [True, False])
def test_b_end_io_is_called_on_a_locked_buffer(locked: bool) -> None:
    """The buffer_head table's "bh is locked": ->b_end_io without the
    buffer's BH_Lock breaks the rule, with it the call is fine (the shipped
    completions hold the lock their submitter handed over)."""
    outcome = check_scenario(_registry(buffer_completion(locked)), "test/s")
    violation = outcome.result.violation
    if locked:
        assert violation is None, violation.message if violation else None
    else:
        assert violation is not None and violation.property == "spec-conformance"
        assert "buffer_head.b_end_io without BH_Lock(block 7)" in violation.message, violation


@pytest.mark.parametrize("variants", [(), ("invalidate-skips-writeback-wait",)])
def test_release_folio_is_called_on_a_folio_not_under_writeback(
    shipped: Registry, variants: tuple[str, ...]
) -> None:
    """->release_folio's "The folio is locked and not under writeback.":
    invalidate_inode_pages2_range() waits for the locked folio's writeback
    first; without the wait an fsync's writeback may be in flight at the
    call, which breaks the rule (PG_writeback is read at the call)."""
    outcome = check_scenario(shipped, "writeback/write-invalidate-fsync", variants)
    violation = outcome.result.violation
    if not variants:
        assert violation is None, violation.message if violation else None
        return
    assert violation is not None and violation.property == "spec-conformance"
    assert "calls address_space_operations.release_folio with PG_writeback set" in (
        violation.message
    )
    assert (
        "waive with address_space_operations.release_folio PG_writeback(folio)" in violation.message
    )


D_LOOKUP_UNDER_D_LOCK = """
from mc.dsl import EXCL, SHARED, Op, operation, scenario
from mc.models.dcache import ci_compare
from mc.models.dentry import dentry_object


@operation(models="__d_lookup(): ->d_compare under the candidate's d_lock")
def d_lookup_ci(op: Op, path: str, name: str) -> None:
    dentry = dentry_object(op.world, path)
    op.lock(op.world.rcu_read_lock, SHARED, "__d_lookup(): rcu_read_lock()")
    op.lock(dentry.d_lock, EXCL, "spin_lock(&dentry->d_lock)")
    op.call(
        "dentry_operations.d_compare",
        ci_compare,
        path,
        name,
        False,
        label="d_same_name(): parent->d_op->d_compare(dentry, ...)",
        roles={"dentry": dentry},
        sleeps=False,
    )
    op.unlock(dentry.d_lock, "spin_unlock(&dentry->d_lock)")
    op.unlock(op.world.rcu_read_lock, "rcu_read_unlock()")


scenario("mine/d-lookup", "x", tree=["/d/", "/d/Foo"], threads=[d_lookup_ci("/d/Foo", "foo")])
"""


def test_d_compare_under_the_dentry_s_d_lock_is_a_departure_of_the_kernel(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """__d_lookup() calls ->d_compare (d_same_name()) with the candidate's
    d_lock held, where the table says d_lock "no": the rule is a recorded
    departure, so the kernel's own call passes spec-conformance."""
    (tmp_path / "mine.py").write_text(D_LOOKUP_UNDER_D_LOCK)
    result = vfsmc("check", "mine.py:mine/d-lookup", "--no-save")
    assert result.exit_code == 0, result.output
    assert "spec-conformance" in result.output
