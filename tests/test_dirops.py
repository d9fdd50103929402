"""The directory-operation models: every scenario x variant gets the
verdict specs/expectations.toml records, and the traces are the kernel's."""

from __future__ import annotations

from mc.check.checker import check_scenario
from mc.dsl.scenario import Registry
from mc.engine.result import Verdict


def test_opposite_renames_deadlock_is_the_classic_abba(shipped: Registry) -> None:
    outcome = check_scenario(shipped, "dirops/opposite-renames", ["no-rename-mutex"])
    assert outcome.counterexample is not None
    lock_events = [
        (s.thread, s.event.kind, s.event.lock)
        for s in outcome.counterexample.steps
        if s.event.kind in ("acquire", "wait")
    ]
    assert lock_events == [
        ("T1", "acquire", "i_rwsem(/b)"),
        ("T2", "acquire", "i_rwsem(/a)"),
        ("T2", "wait", "i_rwsem(/b)"),
        ("T1", "wait", "i_rwsem(/a)"),
    ]
    cycle = [(e.waiter, e.resource, e.holder) for e in outcome.counterexample.cycle]
    assert cycle == [("T1", "i_rwsem(/a)", "T2"), ("T2", "i_rwsem(/b)", "T1")]


def test_cross_directory_rename_takes_the_mutex_then_parents_then_children(
    shipped: Registry,
) -> None:
    """The lock order of a cross-directory rename of a directory over an
    empty directory, read off the model: s_vfs_rename_sem, both parents
    (new parent first, as do_renameat2 calls lock_rename), source, victim."""
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"))
    state = model.initial
    acquired = []
    while model.current_step(state, 0) is not None:
        for record in model.records(state, (0, 0)):
            if record.event.kind == "acquire" and record.event.lock != "rename_lock":
                acquired.append(record.event.lock)
        next_state = model.step(state, (0, 0))
        assert next_state is not None
        state = next_state
    assert acquired == [
        "s_vfs_rename_sem",
        "i_rwsem(/a)",
        "i_rwsem(/c)",
        "i_rwsem(/c/d)",
        "i_rwsem(/a/b)",
    ]


def test_rename_into_own_descendant_fails_with_einval(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("dirops/rename-into-descendant"))
    state = model.initial
    while model.current_step(state, 0) is not None:
        next_state = model.step(state, (0, 0))
        assert next_state is not None
        state = next_state
    assert (
        model.world.slots[model.threads[0].slots.ret].render(state[model.threads[0].slots.ret])
        == "-EINVAL"
    )


RMDIR_WITHOUT_PARENT = (
    "mutant:drop@rmdir:_remove:inode_lock_nested(path.dentry->d_inode, I_MUTEX_PARENT)"
)


def test_rmdir_without_its_parent_lock_trips_drop_nlink(shipped: Registry) -> None:
    """Without the parent's lock, rmdir can look its victim up before a
    rename replaces it and call ->rmdir on the directory the rename already
    unlinked: drop_nlink() warns about a link count already at 0."""
    source = shipped.build(shipped.scenario("dirops/rename-rmdir-link")).threads[1]
    assert (
        source.program.steps[0].label == "inode_lock_nested(path.dentry->d_inode, I_MUTEX_PARENT)"
    )
    properties = ["lock-protocol", "deadlock", "namespace"]
    outcome = check_scenario(
        shipped, "dirops/rename-rmdir-link", [RMDIR_WITHOUT_PARENT], properties=properties
    )
    violation = outcome.result.violation
    assert violation is not None and violation.property == "namespace"
    assert violation.message == "drop_nlink() of /a/b, whose link count is already 0"


def test_errors_of_unchecked_properties_are_counted(shipped: Registry) -> None:
    outcome = check_scenario(
        shipped, "dirops/rename-rmdir-link", [RMDIR_WITHOUT_PARENT], properties=["deadlock"]
    )
    assert outcome.result.verdict is Verdict.OK
    assert outcome.unchecked_errors["namespace"] > 0
    assert check_scenario(shipped, "dirops/rename-rmdir-link").unchecked_errors == {}
