"""The xattr/, dcache/ and inode/ models reach the kernel paths they are
there for: the rename branch for parents with no common ancestor, both
modes of the rcu-walk methods, the dentry's death and RCU-delayed free."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from click.testing import Result
from conftest import registry_with

from mc.check.checker import check_scenario
from mc.dsl import Invocation, Program
from mc.dsl.scenario import Registry, Variant
from mc.dsl.steps import CallStep
from mc.kernel import errno
from mc.kernel.world import DONE
from mc.spec import conformance


def _states(shipped: Registry, name: str) -> Iterator[tuple[Any, ...]]:
    model = shipped.build(shipped.scenario(name), (), ())
    seen = {model.initial}
    order = [model.initial]
    for state in order:
        yield state
        for _action, after in model.successors(state):
            if after not in seen:
                seen.add(after)
                order.append(after)


def _slot(shipped: Registry, scenario: str, name: str) -> int:
    model = shipped.build(shipped.scenario(scenario), (), ())
    return next(n for n, slot in enumerate(model.world.slots) if slot.name == name)


def test_a_disconnected_parent_has_no_common_ancestor_unless_reconnected(
    shipped: Registry,
) -> None:
    scenario = "dcache/disconnected-rename"
    model = shipped.build(shipped.scenario(scenario), (), ())
    pc, ret = model.threads[0].slots.pc, model.threads[0].slots.ret
    outcomes = {state[ret] for state in _states(shipped, scenario) if state[pc] == DONE}
    assert outcomes == {0, -errno.EXDEV}


def test_the_rcu_walk_methods_are_called_in_both_modes(shipped: Registry) -> None:
    """FUSE caches its ACLs: rcu-walk reads ``inode->i_acl`` and calls no
    ``->get_inode_acl`` (one call, in ref-walk); the call in rcu-walk is
    that of an ACL_DONT_CACHE filesystem, which the variant makes."""
    for scenario, method, count, variants in (
        ("inode/symlink", "inode_operations.get_link", 2, ()),
        ("xattr/acl-walk", "inode_operations.get_inode_acl", 1, ()),
        ("xattr/acl-walk", "inode_operations.get_inode_acl", 2, ("get-inode-acl-blocks-in-rcu",)),
        ("xattr/acl-walk", "inode_operations.permission", 2, ()),
        ("dcache/automount", "dentry_operations.d_manage", 2, ()),
    ):
        model = shipped.build(shipped.scenario(scenario), variants, ())
        labels = [
            compiled.step.label
            for compiled in model.threads[0].steps
            if isinstance(compiled.step, CallStep) and compiled.step.method == method
        ]
        assert len(labels) == count, (scenario, labels)


def test_the_dentry_dies_and_is_freed_in_some_interleaving(shipped: Registry) -> None:
    scenario = "dcache/dput-vs-rcu-walk"
    life = _slot(shipped, scenario, "d_life(/a/x)")
    assert "freed" in {state[life] for state in _states(shipped, scenario)}


def test_two_sets_keep_both_names(shipped: Registry) -> None:
    scenario = "xattr/two-sets"
    stored = _slot(shipped, scenario, "xattrs(/a/f)")
    model = shipped.build(shipped.scenario(scenario), (), ())
    finals = [
        state[stored]
        for state in _states(shipped, scenario)
        if all(state[thread.slots.pc] == DONE for thread in model.threads)
    ]
    assert finals and all(names == {"user.a", "user.b"} for names in finals)


def test_every_call_of_these_models_checks_every_rule_it_has(shipped: Registry) -> None:
    rules = conformance.rules_at()
    for name in shipped.scenarios:
        if not name.startswith(("xattr/", "dcache/", "inode/", "namei/")):
            continue
        model = shipped.build(shipped.scenario(name), (), ())
        for thread in model.threads:
            for compiled in thread.steps:
                if isinstance(compiled.step, CallStep):
                    plan = conformance.plan(compiled.step, model.world, rules)
                    unexplained = [u for u in plan.unchecked if u.kind != "kernel-departs"]
                    assert not unexplained, (name, compiled.step.method, plan.unchecked)


def test_the_acl_walk_reaches_each_way_through_the_acl_cache(shipped: Registry) -> None:
    """The walk finishes in rcu-walk once getfacl has cached the ACL and
    leaves it otherwise; setfacl invalidates the attributes, and a
    sentinel of __get_acl() is seen in place."""
    scenario = "xattr/acl-walk"
    model = shipped.build(shipped.scenario(scenario), (), ())
    cache = _slot(shipped, scenario, "i_acl(/a)")
    stale = _slot(shipped, scenario, "inval_mask(/a)")
    walker = model.threads[0]
    labels = {
        n: compiled.step.label for n, compiled in enumerate(walker.steps) if compiled.step.label
    }
    ref_walk = {n for n, label in labels.items() if "try_to_unlazy" in label}
    in_rcu_done = {n for n, label in labels.items() if "complete_walk" in label}
    values, stales, walked = set(), set(), set()
    for state in _states(shipped, scenario):
        values.add(type(state[cache]).__name__)
        stales.add(state[stale])
        walked.add(
            "ref"
            if state[walker.slots.pc] in ref_walk
            else "rcu"
            if state[walker.slots.pc] in in_rcu_done
            else None
        )
    assert values == {"NoneType", "str", "int"}
    assert stales == {False, True}
    assert {"ref", "rcu"} <= walked


def test_no_stale_acl_stays_cached_after_setfacl(shipped: Registry) -> None:
    """__get_acl() caches what it read only while its sentinel is still in
    place: once setfacl has returned, a cached ACL is the server's."""
    scenario = "xattr/acl-walk"
    model = shipped.build(shipped.scenario(scenario), (), ())
    cache = _slot(shipped, scenario, "i_acl(/a)")
    server = _slot(shipped, scenario, "acl(/a)")
    setter = next(t for t in model.threads if "setfacl" in str(t.invocation))
    finished = [state for state in _states(shipped, scenario) if state[setter.slots.pc] == DONE]
    assert finished
    cached = [state for state in finished if isinstance(state[cache], int)]
    assert cached and all(state[cache] == state[server] for state in cached)


def test_a_set_checks_permission_under_i_rwsem_before_the_delegation_break(
    shipped: Registry,
) -> None:
    """__vfs_setxattr_locked() and __vfs_removexattr_locked(): xattr_permission()
    -> inode_permission() -> ->permission and ->get_inode_acl between
    inode_lock() and try_break_deleg() (a user.* name)."""
    model = shipped.build(shipped.scenario("xattr/remove-deleg"), (), ())
    for thread in model.threads:
        if not str(thread.invocation).startswith(("setxattr(", "removexattr(")):
            continue
        labels = [compiled.step.label for compiled in thread.steps]
        locked = labels.index("retry_deleg: inode_lock(inode)")
        broken = next(at for at, label in enumerate(labels) if "try_break_deleg" in label)
        methods = {
            compiled.step.method
            for compiled in thread.steps[locked:broken]
            if isinstance(compiled.step, CallStep)
        }
        assert methods == {
            "inode_operations.permission",
            "inode_operations.get_inode_acl",
        }, thread.invocation


def test_a_removal_of_an_absent_name_returns_enodata(shipped: Registry) -> None:
    scenario = "xattr/remove-deleg"
    model = shipped.build(shipped.scenario(scenario), (), ())
    remover = next(t for t in model.threads if "removexattr" in str(t.invocation))
    pc, ret = remover.slots.pc, remover.slots.ret
    outcomes = {state[ret] for state in _states(shipped, scenario) if state[pc] == DONE}
    assert outcomes == {0, -errno.ENODATA}


REMOVE_ABSENT = """\
from mc.dsl import Invocation, Program, scenario, variant
from mc.models.xattr import removexattr, setxattr
from mc.models.xattr_scenarios import XATTR_PROPERTIES


@variant(
    "remove-unlocked",
    "vfs_removexattr() calls handler->set without i_rwsem",
    waives=["xattr_handler.set i_rwsem(inode)"],
)
def remove_unlocked(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not removexattr:
        return program
    return program.drop(lambda step: "xattr-lock" in step.tags)


scenario(
    "remove-absent",
    "a removexattr of a name never set races a setxattr of another name",
    tree=["/a/", "/a/f"],
    threads=[setxattr("/a/f", "user.b"), removexattr("/a/f", "user.a")],
    properties=XATTR_PROPERTIES,
)
"""


def test_an_unlocked_removal_of_an_absent_name_loses_no_set(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """__vfs_removexattr() sets with XATTR_REPLACE: ext4 returns -ENODATA
    for a name it does not hold and writes nothing, so even without i_rwsem
    the removal cannot write back a list that lacks a concurrent set."""
    (tmp_path / "absent.py").write_text(REMOVE_ABSENT)
    result = vfsmc("check", "absent.py:remove-absent", "--variant", "remove-unlocked", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["verdict"] == "OK"


def _no_uncached_test(program: Program, _invocation: Invocation) -> Program:
    tests = [
        step for step in program.steps if step.label == "if (is_uncached_acl(acl)) return -ECHILD"
    ]
    for test in tests:
        program = program.force(test, False)
    return program


def test_an_rcu_walk_that_skips_is_uncached_acl_hands_a_sentinel_to_posix_acl_permission(
    shipped: Registry,
) -> None:
    """check_acl() in rcu-walk returns -ECHILD for ACL_NOT_CACHED or a
    fetcher's sentinel; without the test, posix_acl_permission() reads the
    entries of something that is no ACL."""
    skipped = Variant(
        "no-uncached-test", "check_acl() without is_uncached_acl()", transform=_no_uncached_test
    )
    scenario = shipped.scenario("xattr/acl-walk")
    registry = registry_with(shipped, skipped, scenarios=(scenario,))
    assert check_scenario(registry, scenario.name).result.violation is None
    violation = check_scenario(registry, scenario.name, ("no-uncached-test",)).result.violation
    assert violation is not None and violation.property == "acl-walk-reads-an-acl"
    assert violation.message.startswith(
        "the rcu-walk permission check of /a hands posix_acl_permission() ACL_NOT_CACHED, "
        "which is no ACL"
    ), violation.message


def test_ext4s_set_takes_xattr_sem_inside_its_journal_handle(shipped: Registry) -> None:
    """ext4_xattr_set(): the credits under xattr_sem read, dropped, the
    handle started, then xattr_sem for writing inside it, and the handle
    stopped after: i_rwsem, jbd2_handle, xattr_sem, as lockorder.toml has."""
    model = shipped.build(shipped.scenario("xattr/two-sets"), ("ext4-set-takes-xattr-sem",))
    labels = [step.label for step in model.threads[0].program.steps]
    order = [
        "ext4_xattr_set_credits(): down_read(&EXT4_I(inode)->xattr_sem)",
        "ext4_xattr_set_credits(): up_read(&EXT4_I(inode)->xattr_sem)",
        "ext4_xattr_set_handle(): ext4_write_lock_xattr(inode, &no_expand)",
        "ext4_write_unlock_xattr(inode, &no_expand)",
    ]
    at = [labels.index(label) for label in order]
    assert at == sorted(at)
    started = labels.index("ext4_xattr_set(): handle = ext4_journal_start(inode, EXT4_HT_XATTR)")
    stopped = labels.index("ext4_xattr_set(): ext4_journal_stop(handle)")
    assert at[1] < started < at[2] and at[3] < stopped
    outcome = check_scenario(shipped, "xattr/two-sets", ["ext4-set-takes-xattr-sem"])
    assert outcome.result.violation is None, outcome.result.violation
