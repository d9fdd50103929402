"""The remaining inode methods against the kernel paths they follow
(mc.models.inode_methods)."""

from __future__ import annotations

import pytest

from mc.check.registry import base
from mc.dsl import ModelError, Op, Scenario, operation
from mc.dsl.scenario import Registry
from mc.dsl.steps import CallStep, LockStep, UnlockStep
from mc.engine.explore import check
from mc.engine.result import Verdict
from mc.models.dirops import unlink
from mc.models.inode_methods import follow
from mc.models.mnt_write import open_creat_want_write
from mc.models.xattr import getxattr, removexattr, setxattr


def _program(shipped: Registry, scenario: str, thread: str) -> list[object]:
    model = shipped.build(shipped.scenario(scenario), ())
    [found] = [t for t in model.threads if t.name == thread]
    return [compiled.step for compiled in found.steps]


def test_getdents_updates_the_atime_under_the_directory_lock(shipped: Registry) -> None:
    """iterate_dir() calls file_accessed() -> touch_atime() -> ->update_time
    before it drops the directory's i_rwsem (fs/readdir.c, 6.17-rc3)."""
    steps = _program(shipped, "inode/fileattr", "T3")
    [locked] = [i for i, s in enumerate(steps) if isinstance(s, LockStep) and "i_rwsem" in s.label]
    [unlocked] = [
        i for i, s in enumerate(steps) if isinstance(s, UnlockStep) and "inode_unlock" in s.label
    ]
    updates = [
        i
        for i, s in enumerate(steps)
        if isinstance(s, CallStep) and s.method == "inode_operations.update_time"
    ]
    assert updates and all(locked < i < unlocked for i in updates), steps


@operation(models="unlink(2) of a symbolic link, then a walk of its name")
def unlink_then_follow(op: Op, path: str) -> None:
    op.run(unlink, path)
    op.run(follow, path)


def test_a_walk_does_not_follow_a_link_already_unlinked() -> None:
    """A walk that finds the link's dentry negative fails with -ENOENT and
    never calls ->get_link (fs/namei.c: the rcu lookup misses,
    lookup_slow() finds no name)."""
    registry = base()
    registry.add_scenario(
        Scenario(
            "test/gone", "a walk after the unlink", ("/a/", "/a/l"), (unlink_then_follow("/a/l"),)
        )
    )
    model = registry.build(registry.scenario("test/gone"), ())
    [thread] = model.threads
    calls = [
        (0, pc)
        for pc, compiled in enumerate(thread.steps)
        if isinstance(compiled.step, CallStep) and compiled.step.method.endswith("get_link")
    ]
    assert len(calls) == 2
    reached = model.watch(calls, taken=True)
    result = check(model)
    assert result.verdict is Verdict.OK
    assert reached == set()


def test_an_open_of_a_cached_name_takes_no_write_access_and_no_lock() -> None:
    """open_last_lookups() (6.17-rc3): lookup_fast_for_open() finds the
    cached positive dentry of an existing name and goes to finish_lookup,
    before mnt_want_write() and the directory's i_rwsem, so a frozen
    filesystem does not hold such an open back."""
    registry = base()
    registry.add_scenario(
        Scenario(
            "test/cached",
            "an O_CREAT open of a name",
            ("/a/", "/a/f"),
            (open_creat_want_write("/a/f"),),
        )
    )
    model = registry.build(registry.scenario("test/cached"), ())
    [thread] = model.threads
    locks = [
        (0, pc) for pc, compiled in enumerate(thread.steps) if isinstance(compiled.step, LockStep)
    ]
    assert len(locks) == 2
    reached = model.watch(locks, taken=True)
    assert check(model).verdict is Verdict.OK
    assert reached == set()


def test_names_an_operation_does_not_take_are_refused(shipped: Registry) -> None:
    """follow() of a directory, and a POSIX ACL's name through the xattr
    handler path (fs/xattr.c sends it to the ACL code), are model errors:
    both checked something the kernel never does."""
    cases = (
        (follow("/a/d"), "is a directory, not a symbolic link"),
        (setxattr("/a", "system.posix_acl_access"), "use setfacl"),
        (removexattr("/a", "system.posix_acl_default"), "use setfacl"),
        (getxattr("/a", "system.posix_acl_access"), "use getfacl"),
    )
    for thread, said in cases:
        registry = base()
        registry.add_scenario(Scenario("t/refused", "x", ("/a/", "/a/d/"), (thread,)))
        with pytest.raises(ModelError, match=said):
            registry.build(registry.scenario("t/refused"))
