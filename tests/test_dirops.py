"""The directory-operation models: every scenario x variant gets the
verdict specs/expectations.toml records, and the traces are the kernel's."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from conftest import registry_with

from mc.check.checker import Spread, check_scenario
from mc.dsl.operation import Invocation
from mc.dsl.scenario import NotApplicable, Registry, Scenario, Variant
from mc.engine.explore import Options
from mc.engine.result import Verdict
from mc.kernel.properties import created_violation
from mc.kernel.world import DONE, ModelError
from mc.models.dirops import create, link, rename, rmdir


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
    (new parent first, as do_renameat2 calls lock_rename), source, victim
    (every acquisition a step of its own, though the rename's mutex is its alone)."""
    model = shipped.build(shipped.scenario("dirops/rename-rmdir-link"), every_acquisition=True)
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
    counted = []
    for spread in (None, Spread(2)):
        outcome = check_scenario(
            shipped,
            "dirops/rename-rmdir-link",
            [RMDIR_WITHOUT_PARENT],
            properties=["deadlock"],
            spread=spread,
        )
        assert outcome.result.verdict is Verdict.OK
        counted.append(outcome.unchecked_errors["namespace"])
    assert counted[0] > 0 and counted[1] == counted[0]
    assert check_scenario(shipped, "dirops/rename-rmdir-link").unchecked_errors == {}


def test_namespace_sees_a_lost_or_duplicated_create(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("dirops/two-creates"))
    world = model.world
    first, second = (inode for inode in world.inodes if inode.path == "/a/f")
    dentry = next(d for d in world.dentries.values() if d.path == "/a/f")
    t1, t2 = (thread.slots for thread in model.threads)
    assert created_violation(world, model.initial) is None
    values = list(model.initial)
    values[first.nlink] = 1
    values[dentry.slot] = first.ino
    assert created_violation(world, values) is None
    values[second.nlink] = 1
    values[dentry.slot] = second.ino
    message = created_violation(world, values)
    assert message is not None and "two inodes were made for one name" in message
    assert "T1's create of /a/f" in message
    values[second.nlink] = 0
    values[t2.pc] = DONE
    values[t2.ret] = -17
    values[first.nlink] = 0
    failed = created_violation(world, values)
    assert failed is not None and "T2's create" in failed and "returned an error" in failed
    values[t2.ret] = 0
    values[second.nlink] = 2
    assert created_violation(world, values) == "/a/f has 2 link(s) but 1 name(s)"
    assert t1.name == "T1"


def test_dropping_creates_parent_lock_is_caught(shipped: Registry) -> None:
    assert check_scenario(shipped, "dirops/two-creates").result.verdict is Verdict.OK
    outcome = check_scenario(shipped, "dirops/two-creates", ["create-no-parent-lock"])
    violation = outcome.result.violation
    assert violation is not None and violation.property == "namespace"


def test_a_rename_without_its_victim_s_lock_is_caught_by_the_race_not_alone(
    shipped: Registry,
) -> None:
    """->rename drops the victim's link before d_move() moves the name over
    it: a window every rename has, which the victim's i_rwsem closes to
    link(2).  Without that lock the rename alone is still a rename (its
    window is not a violation); racing link(2), inc_nlink() brings the
    victim back from 0 links (vfs_link()'s i_nlink check raced)."""
    no_victim_lock = Variant(
        "rename-no-victim-lock",
        "vfs_rename() locks the source but not the target",
        transform=lambda program, invocation: (
            program.drop_acquisitions(lambda step: "lock-target" in step.tags)
            if invocation.operation is rename
            else program
        ),
    )
    racing = shipped.scenario("dirops/rename-over-file-vs-link")
    alone = Scenario(
        "t/rename-alone",
        "a rename over a file",
        ("/a/", "/a/x", "/a/y"),
        (rename("/a/x", "/a/y"),),
        properties=racing.properties,
    )
    assert "namespace" in alone.properties
    registry = registry_with(shipped, no_victim_lock, scenarios=(alone, racing))
    variants = ("rename-no-victim-lock",)
    assert check_scenario(registry, alone.name, variants).result.verdict is Verdict.OK
    raced = check_scenario(registry, racing.name, variants).result
    assert raced.verdict is Verdict.VIOLATED and raced.violation is not None
    assert raced.violation.property == "namespace"
    assert raced.violation.message == "inc_nlink() brings /a/y back from a link count of 0"
    assert check_scenario(registry, racing.name).result.verdict is Verdict.OK


@pytest.mark.parametrize(
    ("racer", "made"),
    [
        (lambda: create("/a/b/f"), "ramfs_mknod() makes /a/b/f"),
        (lambda: link("/a/x", "/a/b/f"), "simple_link() makes /a/b/f"),
        (lambda: rename("/a/x", "/a/b/f"), "simple_rename() moves /a/x"),
    ],
)
def test_a_name_made_in_a_directory_rmdir_removed_is_found_without_s_dead(
    shipped: Registry, racer: Callable[[], Invocation], made: str
) -> None:
    """An rmdir that leaves S_DEAD unset lets a create, a link or a rename
    that waited for the directory's i_rwsem put a name in it once removed:
    ``namespace`` sees the name made in a directory whose link count is 0,
    not only a name below a directory marked S_DEAD."""
    no_s_dead = Variant(
        "rmdir-no-s-dead",
        "vfs_rmdir() does not mark the removed directory S_DEAD",
        transform=lambda program, invocation: (
            program.drop(lambda step: step.label == "dentry->d_inode->i_flags |= S_DEAD")
            if invocation.operation is rmdir
            else program
        ),
    )
    scenario = Scenario(
        "t/rmdir-vs-maker",
        "rmdir of /a/b while a name is made in it",
        ("/a/", "/a/b/", "/a/x"),
        (rmdir("/a/b"), racer()),
        properties=("deadlock", "namespace"),
    )
    registry = registry_with(shipped, no_s_dead, scenarios=(scenario,))
    assert check_scenario(registry, scenario.name).result.verdict is Verdict.OK
    broken = check_scenario(registry, scenario.name, ("rmdir-no-s-dead",)).result
    assert broken.verdict is Verdict.VIOLATED and broken.violation is not None
    assert broken.violation.property == "namespace"
    assert broken.violation.message == (
        f"{made} inside removed directory /a/b (its link count is 0)"
    )


def test_a_rename_without_its_old_parent_s_lock_lets_an_unlink_drop_the_renamed_file(
    shipped: Registry,
) -> None:
    """The unlink looks the old name up under the old parent's i_rwsem; a
    rename that does not take it moves the file meanwhile, and the unlink
    drops the link count of a file that keeps its new name."""
    dropped = (
        "mutant:drop@rename:lock_two_directories:inode_lock_nested(p2->d_inode, I_MUTEX_PARENT2)"
    )
    properties = ["lock-protocol", "deadlock", "namespace"]
    correct = check_scenario(shipped, "dirops/rename-vs-unlink-source", properties=properties)
    assert correct.result.verdict is Verdict.OK
    broken = check_scenario(
        shipped,
        "dirops/rename-vs-unlink-source",
        [dropped],
        properties=properties,
        options=Options(exact=False),
    )
    assert broken.result.verdict is Verdict.VIOLATED and broken.result.violation is not None
    assert broken.result.violation.property == "namespace"
    assert broken.result.violation.message == "/c/f has 0 link(s) but 1 name(s)"


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (4, "RENAME_WHITEOUT): the whiteout left at the old name is not modelled"),
        (0x99, "bits 0x98 are no renameat2(2) flag the model knows"),
        (3, "RENAME_EXCHANGE | RENAME_NOREPLACE): do_renameat2() returns -EINVAL"),
    ],
)
def test_renameat2_flags_the_model_does_not_follow_are_a_model_error(flags: int, said: str) -> None:
    """A whiteout, an unknown bit or EXCHANGE with NOREPLACE would otherwise
    run as a plain rename."""
    registry = Registry()
    registry.add_scenario(
        Scenario("t/flags", "test", ("/a/", "/b/", "/a/x"), (rename("/a/x", "/b/x", flags),))
    )
    with pytest.raises(ModelError, match=re.escape(said)):
        registry.build(registry.scenario("t/flags"), (), ())


def test_rename_noreplace_holds_the_system_call_to_its_flag_whatever_body_runs(
    shipped: Registry,
) -> None:
    """``rename-noreplace`` follows the thread's invocation: a body in
    place of rename's that tests the flag too early and renames without it
    is caught, and a plain rename over the created name is not its
    business (the property needs a RENAME_NOREPLACE rename)."""
    scenario = shipped.scenario("dirops/noreplace-vs-create")
    assert check_scenario(shipped, scenario.name).result.violation is None
    early = check_scenario(shipped, scenario.name, ["noreplace-test-unlocked"]).result.violation
    assert early is not None and early.property == "rename-noreplace"
    assert early.message.startswith(
        "rename(/a/x -> /b/y, RENAME_NOREPLACE) replaces the inode /b/y names"
    )
    plain = Scenario(
        "test/plain-rename-vs-create",
        "a rename without the flag",
        ("/a/", "/a/x", "/b/"),
        (rename("/a/x", "/b/y"), create("/b/y")),
        ("deadlock", "namespace"),
    )
    registry = registry_with(shipped, scenarios=(plain,))
    assert check_scenario(registry, plain.name).result.violation is None
    with pytest.raises(
        NotApplicable, match="rename-noreplace needs a rename with RENAME_NOREPLACE"
    ):
        check_scenario(registry, plain.name, (), ["rename-noreplace"])
