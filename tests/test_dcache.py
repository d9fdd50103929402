"""The dentry cache's use-after-free and kill properties (models/dcache.py,
models/dcache_scenarios.py): a protocol without an RCU read-side section
is caught, not left unchecked; lockref_get_not_dead() waits for d_lock;
d_path() is kept consistent by rename_lock;
an unknown path is a model error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mc.check.registry import shipped as shipped_registry
from mc.engine.explore import Options, Search
from mc.testing import check

Run = Callable[..., Result]

WALK_RCU = "mutant:drop@rcu_walk:rcu_walk:path_init(): rcu_read_lock() /* LOOKUP_RCU */"
DPUT_RCU = "mutant:drop@dput:_dput:dput(): rcu_read_lock()"

EARLY_UNLOCK = """
from mc.dsl import Invocation, Program, variant
from mc.models.dcache import dput


@variant("d-lock-before-mark-dead", "__dentry_kill() drops d_lock before lockref_mark_dead()")
def early(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not dput:
        return program
    unlock = program.step("dentry_unlink_inode(): spin_unlock(&dentry->d_lock)")
    return program.move_before(unlock, "lockref_mark_dead(&dentry->d_lockref)")
"""

KILL_ORDERS = """
from mc.dsl import Invocation, Program, variant
from mc.models.dcache import dput

MARK_DEAD = "lockref_mark_dead(&dentry->d_lockref)"


@variant("drop-then-mark-dead", "__d_drop() before lockref_mark_dead(), both under d_lock")
def swapped(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not dput:
        return program
    return program.move_after(program.step(MARK_DEAD), "__d_drop(dentry) /* unhashed */")


@variant("mark-dead-after-unlock", "lockref_mark_dead() after dentry_unlink_inode() drops d_lock")
def late(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not dput:
        return program
    unlock = "dentry_unlink_inode(): spin_unlock(&dentry->d_lock)"
    return program.move_after(program.step(MARK_DEAD), unlock)
"""

UNKNOWN_PATHS = """
from mc.dsl import scenario
from mc.models.dcache import dput, rcu_walk, shrink_dcache

scenario(
    "my/dput-nope",
    "dput of a name the tree lacks",
    tree=["/a/"],
    threads=[dput("/a/nope")],
    properties=["deadlock"],
)

scenario(
    "my/shrink-nope",
    "the shrinker and an rcu-walk on a name the tree lacks",
    tree=["/a/", "/a/x"],
    threads=[shrink_dcache("/zz/q"), rcu_walk("/zz/q")],
    properties=["deadlock"],
)

scenario(
    "my/walk-nope",
    "an rcu-walk of a name the tree lacks",
    tree=["/a/"],
    threads=[rcu_walk("/a/q")],
    properties=["deadlock"],
)
"""


def _violation(vfsmc: Run, *args: str) -> str:
    result = vfsmc("check", *args, "--json", "--no-save")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["verdict"] == "VIOLATED", report
    return str(report["property"]) + ": " + str(report["message"])


def test_a_dentry_on_a_shrink_list_is_the_shrinker_s_to_free(vfsmc: Run) -> None:
    """A kill by dput() of a dentry the shrinker has on its dispose list
    leaves freeing it to the shrinker (DCACHE_SHRINK_LIST): without that
    the dentry is freed while the shrinker will still take its d_lock."""
    assert check("dcache/dput-vs-shrink").result.stats.states > 1000
    found = _violation(vfsmc, "dcache/dput-vs-shrink", "-V", "kill-ignores-shrink-list")
    assert found.startswith(
        "shrink-list-owned: dentry_free() of /a/x while it is on a shrinker's dispose list"
    ), found


def test_an_rcu_walk_without_rcu_read_lock_is_a_use_after_free(vfsmc: Run) -> None:
    """Without path_init()'s rcu_read_lock() the walk uses the pointer
    __d_lookup_rcu() gave it after call_rcu() freed the dentry."""
    found = _violation(vfsmc, "dcache/dput-vs-rcu-walk", "-V", WALK_RCU)
    assert found.startswith("dentry-freed-under-rcu: /a/x is freed while T2"), found
    assert "is not in an RCU read-side section" in found


def test_the_walks_rcu_read_lock_is_needed(vfsmc: Run) -> None:
    """vfsmc mutate no longer lists path_init()'s rcu_read_lock() as not
    needed."""
    result = vfsmc("mutate", "dcache/dput-vs-rcu-walk", "--json", "--no-save")
    assert result.exit_code in (0, 1), result.output
    rows = [row for row in json.loads(result.output)["mutations"] if row["name"] == WALK_RCU]
    assert len(rows) == 1 and rows[0]["verdict"] == "VIOLATED", rows
    assert rows[0]["property"] == "dentry-freed-under-rcu", rows


@pytest.mark.parametrize("scenario", ["dcache/dput-vs-shrink", "dcache/dput-vs-rcu-walk"])
def test_a_dput_without_rcu_read_lock_is_a_use_after_free(vfsmc: Run, scenario: str) -> None:
    """fast_dput() reads the dentry after lockref_put_return() gave 0; only
    dput()'s rcu_read_lock() keeps a concurrent kill from freeing it."""
    found = _violation(vfsmc, scenario, "-V", DPUT_RCU)
    assert found.startswith("dentry-freed-under-rcu: /a/x is freed while "), found
    assert "dput(), which dropped the last reference" in found
    assert "is not in an RCU read-side section" in found


def test_d_lock_dropped_before_lockref_mark_dead_lets_a_reference_in(
    vfsmc: Run, tmp_path: Path
) -> None:
    """lockref_get_not_dead() cannot succeed while d_lock is held; dropped
    before lockref_mark_dead(), the rcu-walk takes a reference on a dentry
    about to be killed."""
    (tmp_path / "early.py").write_text(EARLY_UNLOCK)
    args = ("dcache/dput-vs-rcu-walk", "--models", "early.py", "-V", "d-lock-before-mark-dead")
    found = _violation(vfsmc, *args, "--no-property", "spec-conformance")
    assert found.startswith("dentry-killed-referenced: /a/x is dead with 1 reference"), found


@pytest.mark.parametrize("scenario", ["dput-vs-rcu-walk", "dput-vs-d-lookup", "dput-vs-shrink"])
def test_a_kill_dropping_the_hash_before_marking_it_dead_under_d_lock_is_harmless(
    vfsmc: Run, tmp_path: Path, scenario: str
) -> None:
    """Nobody sees the dentry between the two under d_lock: the kill ends
    with it unhashed and dead either way (the life slot does not go back
    to hashed)."""
    (tmp_path / "orders.py").write_text(KILL_ORDERS)
    args = (f"dcache/{scenario}", "--models", "orders.py", "-V", "drop-then-mark-dead")
    result = vfsmc("check", *args, "--no-save")
    assert result.exit_code == 0, result.output


def test_a_dropped_dentry_not_yet_dead_gives_an_rcu_walk_a_reference(
    vfsmc: Run, tmp_path: Path
) -> None:
    """__d_drop() under d_lock, lockref_mark_dead() after it is dropped: an
    rcu-walk that found the dentry hashed gets its reference through
    lockref_get_not_dead(), which asks only whether it is dead."""
    (tmp_path / "orders.py").write_text(KILL_ORDERS)
    args = ("dcache/dput-vs-rcu-walk", "--models", "orders.py", "-V", "mark-dead-after-unlock")
    found = _violation(vfsmc, *args, "--no-property", "spec-conformance")
    assert found.startswith("dentry-killed-referenced: /a/x is dropped with 1 reference"), found


def test_the_shipped_dcache_scenarios_hold_with_the_new_invariant() -> None:
    for scenario in ("dcache/dput-vs-rcu-walk", "dcache/dput-vs-shrink"):
        check(scenario, properties=["dentry-freed-under-rcu", "dentry-killed-referenced"])


@pytest.mark.parametrize(
    ("scenario", "path", "where"),
    [
        ("my/dput-nope", "/a/nope", "in dput"),
        ("my/shrink-nope", "/zz/q", "in shrink_dcache"),
        ("my/walk-nope", "/a/q", "in rcu_walk"),
    ],
)
def test_an_unknown_path_is_a_model_error(
    vfsmc: Run, tmp_path: Path, scenario: str, path: str, where: str
) -> None:
    (tmp_path / "nope.py").write_text(UNKNOWN_PATHS)
    result = vfsmc("check", f"nope.py:{scenario}", "--no-save")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("vfsmc: error: nope.py:"), lines
    assert f"{path} is not in the scenario's tree" in lines[0]
    assert where in lines[0]


NAME_CHANGES = """
from mc.dsl import BASE_PROPERTIES, scenario
from mc.models.dcache import ci_lookup, d_path, lookup_splice
from mc.models.dirops import lookup, unlink
from mc.models.inode_methods import open_creat

scenario("my/d-path-vs-unlink", "d_path() of a file racing its unlink", tree=["/a/", "/a/f"],
         threads=[unlink("/a/f"), d_path("/a/f")], properties=(*BASE_PROPERTIES, "d-path"))
scenario("my/ci-lookup-vs-unlink", "a casefolded lookup racing an unlink of its name",
         tree=["/d/", "/d/Foo"], threads=[ci_lookup("/d/foo"), unlink("/d/Foo")],
         properties=(*BASE_PROPERTIES, "ci-lookup"))
scenario("my/ci-lookup-vs-open-creat", "a casefolded lookup racing an O_CREAT open beside it",
         tree=["/d/"], threads=[ci_lookup("/d/foo"), open_creat("/d/FOO")],
         properties=(*BASE_PROPERTIES, "ci-lookup"))
scenario("my/ci-lookup-beside-lookup", "a casefolded lookup and a plain lookup of another name",
         tree=["/d/", "/d/Foo", "/d/bar"], threads=[ci_lookup("/d/foo"), lookup("/d/bar")],
         properties=(*BASE_PROPERTIES, "ci-lookup"))
scenario("my/d-path-of-root", "d_path() of the root", tree=["/a/"], threads=[d_path("/")],
         properties=(*BASE_PROPERTIES, "d-path"))
scenario("my/splice-of-a-file", "lookup_splice() of a regular file", tree=["/d/", "/d/f"],
         threads=[lookup_splice("/d/f")])
"""


@pytest.mark.parametrize(
    ("scenario", "said"),
    [
        ("my/d-path-vs-unlink", "d_path() of /a/f while the file has no name"),
        ("my/ci-lookup-vs-unlink", "T2 changes names in /d"),
        ("my/ci-lookup-vs-open-creat", "T2 changes names in /d (inode_lock(dir->d_inode)"),
        ("my/splice-of-a-file", "/d/f is not a directory"),
    ],
)
def test_a_name_change_these_models_cannot_follow_is_a_model_error(
    vfsmc: Run, tmp_path: Path, scenario: str, said: str
) -> None:
    """d_path() walks the file's one name, not the open dentry (which an
    unlink leaves with " (deleted)"), and ``ci-lookup`` judges a result
    against the names after the lookup returned: a scenario that changes
    those names is refused in one line, not a false alarm."""
    (tmp_path / "names.py").write_text(NAME_CHANGES)
    result = vfsmc("check", f"names.py:{scenario}", "--no-save")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert said in result.output


@pytest.mark.parametrize("scenario", ["my/ci-lookup-beside-lookup", "my/d-path-of-root"])
def test_what_changes_no_name_is_checked(vfsmc: Run, tmp_path: Path, scenario: str) -> None:
    """A plain lookup beside ``ci_lookup`` (the directory's i_rwsem shared)
    changes no name, and the root has no name to lose: both are checked."""
    (tmp_path / "unnamed.py").write_text(NAME_CHANGES)
    result = vfsmc("check", f"unnamed.py:{scenario}", "--no-save")
    assert result.exit_code == 0, result.output


D_MOVE_RENAME_LOCK = "mutant:drop@rename:vfs_rename:write_seqlock(&rename_lock)"
D_PATH_LOCKED_WALK = (
    "mutant:drop@d_path:d_path:read_seqbegin_or_lock(&rename_lock, &seq): read_seqlock_excl()"
)


def test_d_path_racing_a_rename_returns_a_path_that_named_the_file() -> None:
    outcome = check("dcache/d-path-vs-rename", properties=["d-path", "deadlock", "livelock"])
    assert outcome.result.stats.states > 100


def test_a_d_move_outside_rename_lock_gives_d_path_a_path_that_never_existed(vfsmc: Run) -> None:
    """The lockless walk reads the moved directory's parent and its name
    in two steps; with d_move() outside write_seqlock(&rename_lock) the
    sequence does not move and the mixed path is returned."""
    found = _violation(vfsmc, "dcache/d-path-vs-rename", "-V", "d-move-without-rename-lock")
    prefix = "d-path: d_path() of /a/d/f returned "
    assert found.startswith(prefix), found
    returned = found.removeprefix(prefix).split(",", 1)[0]
    assert returned not in ("/a/d/f", "/b/e/f"), found
    assert found.endswith("(as it began and when it was validated): /a/d/f and /b/e/f"), found


def test_mutate_finds_rename_lock_needed_by_d_path(vfsmc: Run) -> None:
    """Dropping the rename's write_seqlock(), or the second walk's
    read_seqlock_excl() (so the walk after a retry is reached), breaks
    d-path."""
    result = vfsmc("mutate", "dcache/d-path-vs-rename", "--json", "--no-save")
    assert result.exit_code in (0, 1), result.output
    verdicts = {
        row["name"]: (row["verdict"], row["property"])
        for row in json.loads(result.output)["mutations"]
    }
    assert verdicts[D_MOVE_RENAME_LOCK] == ("VIOLATED", "d-path"), verdicts
    assert verdicts[D_PATH_LOCKED_WALK] == ("VIOLATED", "d-path"), verdicts


I_LOCK_ACQUISITIONS = (
    "mutant:drop@dput:lock_for_kill:lock_for_kill(): "
    "if (!inode || likely(spin_trylock(&inode->i_lock))) return true",
    "mutant:drop@dput:lock_for_kill:spin_lock(&inode->i_lock)",
    "mutant:drop@d_find_alias:d_find_alias:d_find_alias(): spin_lock(&inode->i_lock)",
)


def test_mutate_finds_each_i_lock_acquisition_needed_by_the_alias_walk(vfsmc: Run) -> None:
    """The kill takes the dentry off the alias list under i_lock and then
    queues it on call_rcu(), whose rcu_head overlays d_u.d_alias: without
    either side's i_lock, d_find_alias() steps through that rcu_head."""
    result = vfsmc("mutate", "dcache/dput-vs-find-alias", "--json", "--no-save")
    assert result.exit_code in (0, 1), result.output
    verdicts = {
        row["name"]: (row["verdict"], row["property"])
        for row in json.loads(result.output)["mutations"]
    }
    for name in I_LOCK_ACQUISITIONS:
        assert verdicts[name] == ("VIOLATED", "alias-walk-intact"), (name, verdicts)


def test_a_walk_without_i_lock_follows_the_rcu_head(vfsmc: Run) -> None:
    found = _violation(vfsmc, "dcache/dput-vs-find-alias", "-V", "find-alias-without-i-lock")
    assert found.startswith(
        "alias-walk-intact: d_find_alias() reads alias->d_u.d_alias.next of /a/x after "
        "dentry_free() queued it on call_rcu()"
    ), found


UAF_PROBE = """
from mc.dsl import EXCL, SHARED, Op, Scratch, const, operation, same, scenario
from mc.models.dcache import dput
from mc.models.dentry import dentry_object


def _nothing(scratch: Scratch) -> None:
    pass


@operation(models="myfs touching a dentry it holds no reference to")
def touch(op: Op, path: str) -> None:
    d_lock = dentry_object(op.world, path).d_lock
    op.lock(d_lock, EXCL, "spin_lock(&dentry->d_lock)")
    op.unlock(d_lock, "spin_unlock(&dentry->d_lock)")


@operation(models="myfs trying a dentry's d_lock with no reference")
def try_touch(op: Op, path: str) -> None:
    d_lock = dentry_object(op.world, path).d_lock
    op.trylock(d_lock, "busy", "if (!spin_trylock(&dentry->d_lock)) goto busy")
    op.unlock(d_lock, "spin_unlock(&dentry->d_lock)")
    op.label("busy")


@operation(models="myfs: one short d_lock section with no reference")
def section_touch(op: Op, path: str) -> None:
    d_lock = dentry_object(op.world, path).d_lock
    op.section(d_lock, "spin_lock(&dentry->d_lock); ...; spin_unlock(&dentry->d_lock)", _nothing)


@operation(models="myfs: rcu_read_lock(), then d_lock of a dentry it kept no reference to")
def rcu_touch(op: Op, path: str) -> None:
    d_lock = dentry_object(op.world, path).d_lock
    rcu = op.world.rcu_read_lock
    op.lock(rcu, SHARED, "rcu_read_lock()")
    op.lock(d_lock, EXCL, "spin_lock(&dentry->d_lock)")
    op.unlock(d_lock, "spin_unlock(&dentry->d_lock)")
    op.unlock(rcu, "rcu_read_unlock()")


def _hashed(scratch: Scratch, life: int) -> bool:
    return bool(scratch[life] == "hashed")


@operation(models="myfs: finds the dentry hashed under rcu_read_lock(), then takes its d_lock")
def rcu_lookup(op: Op, path: str) -> None:
    d_lock = dentry_object(op.world, path).d_lock
    rcu = op.world.rcu_read_lock
    op.lock(rcu, SHARED, "rcu_read_lock()")
    found = op.compute("found", "dentry = myfs_hash_lookup(name)", _hashed,
                       op.world.slot(f"d_life({path})"))
    op.goto_if(same(found, const(False)), "out", "if (!dentry) goto out")
    op.lock(d_lock, EXCL, "spin_lock(&dentry->d_lock)")
    op.unlock(d_lock, "spin_unlock(&dentry->d_lock)")
    op.label("out")
    op.unlock(rcu, "rcu_read_unlock()")


scenario("my/uaf-probe", "d_lock of a dentry with no reference vs its last dput()",
         tree=["/a/", "/a/x"], threads=[dput("/a/x"), touch("/a/x")])
scenario("my/uaf-try", "a trylock of d_lock with no reference vs the last dput()",
         tree=["/a/", "/a/x"], threads=[dput("/a/x"), try_touch("/a/x")])
scenario("my/uaf-section", "a d_lock section with no reference vs the last dput()",
         tree=["/a/", "/a/x"], threads=[dput("/a/x"), section_touch("/a/x")])
scenario("my/rcu-touch", "d_lock under an RCU section, with no reference, vs the last dput()",
         tree=["/a/", "/a/x"], threads=[dput("/a/x"), rcu_touch("/a/x")])
scenario("my/rcu-lookup", "a lookup under RCU that takes d_lock vs the last dput()",
         tree=["/a/", "/a/x"], threads=[dput("/a/x"), rcu_lookup("/a/x")])
"""

FREED_BY_DPUT = (
    "/a/x was freed: __dentry_kill() -> dentry_free() queued "
    "call_rcu(&dentry->d_u.d_rcu, __d_free), and __d_free() ran after the grace period; "
    "its d_lock is freed memory (a use after free)"
)


@pytest.mark.parametrize(
    ("scenario", "taking"),
    [
        ("my/uaf-probe", "T2 takes d_lock(/a/x) at 'spin_lock(&dentry->d_lock)'"),
        (
            "my/uaf-try",
            "T2 tries to take d_lock(/a/x) at 'if (!spin_trylock(&dentry->d_lock)) goto busy'",
        ),
        (
            "my/uaf-section",
            "T2 takes d_lock(/a/x) at "
            "'spin_lock(&dentry->d_lock); ...; spin_unlock(&dentry->d_lock)'",
        ),
    ],
)
def test_a_user_operation_taking_the_d_lock_of_a_freed_dentry_is_a_use_after_free(
    vfsmc: Run, tmp_path: Path, scenario: str, taking: str
) -> None:
    """A thread of the user's own that holds no reference takes (or tries,
    or takes in one section) the d_lock of the dentry the last dput() has
    freed once the grace period ended: dentry-use-after-free, naming the
    thread, the lock, the step and how the dentry was freed; under the
    default partial-order reduction, in a scenario that names no
    properties."""
    (tmp_path / "probe.py").write_text(UAF_PROBE)
    found = _violation(vfsmc, f"probe.py:{scenario}")
    assert found == f"dentry-use-after-free: {taking}: {FREED_BY_DPUT}", found


def test_an_rcu_section_entered_after_the_free_was_queued_keeps_nothing(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A thread that enters rcu_read_lock() and then takes the d_lock of a
    dentry it kept no reference to: a section that begins after call_rcu()
    holds no grace period back, and may begin after __d_free() (the
    interleaving reported)."""
    (tmp_path / "probe.py").write_text(UAF_PROBE)
    found = _violation(vfsmc, "probe.py:my/rcu-touch")
    assert found == (
        f"dentry-use-after-free: T2 takes d_lock(/a/x) at 'spin_lock(&dentry->d_lock)': "
        f"{FREED_BY_DPUT}"
    ), found


def test_a_lookup_that_finds_the_dentry_hashed_under_rcu_takes_a_live_d_lock(
    tmp_path: Path,
) -> None:
    """The correct shape of the probe: the dentry found hashed inside the
    read-side section, whose grace period the free waits for, then its
    d_lock: no alarm."""
    (tmp_path / "probe.py").write_text(UAF_PROBE)
    outcome = check(f"{tmp_path / 'probe.py'}:my/rcu-lookup")
    assert outcome.result.stats.states > 20


@pytest.mark.parametrize("variant", ["d-lookup-without-rcu", "dentry-free-without-rcu"])
def test_d_lookup_taking_d_lock_after_the_free_is_a_use_after_free(
    vfsmc: Run, variant: str
) -> None:
    """__d_lookup() takes a candidate's d_lock holding no reference: only
    its rcu_read_lock(), entered while the dentry was hashed, and the
    grace period call_rcu() waits for keep the memory.  Without either the
    lookup takes the d_lock of the dentry the last dput() freed."""
    found = _violation(vfsmc, "dcache/dput-vs-d-lookup", "-V", variant)
    assert found.startswith(
        "dentry-use-after-free: T2 takes d_lock(/a/x) at "
        "'__d_lookup(): spin_lock(&dentry->d_lock)': /a/x was freed: __dentry_kill() -> "
    ), found
    how = (
        "dentry_free() freed it at once, with no RCU grace period"
        if variant == "dentry-free-without-rcu"
        else "dentry_free() queued call_rcu(&dentry->d_u.d_rcu, __d_free), and __d_free() ran "
        "after the grace period"
    )
    assert how in found, found


@pytest.mark.parametrize(
    "scenario",
    [
        "dcache/dput-vs-d-lookup",
        "dcache/dput-vs-rcu-walk",
        "dcache/dput-vs-shrink",
        "dcache/dput-vs-find-alias",
        "dcache/dput-shrink-vs-find-alias",
        "dcache/shrink-vs-find-alias",
    ],
)
def test_the_correct_protocol_takes_no_freed_d_lock(scenario: str) -> None:
    """lock_for_kill()'s slow path, d_find_alias() under i_lock, the
    shrinker's dispose list, rcu-walks and __d_lookup() under RCU take
    d_lock of dentries they may hold no reference to, never of a freed one."""
    outcome = check(scenario, properties=["dentry-use-after-free", "deadlock"])
    assert outcome.result.stats.states > 50


TWO_CHILDREN = """
from mc.dsl import scenario
from mc.models.dcache import dput

scenario(
    "my/two-children",
    "the last dput()s of two dentries of one directory",
    tree=["/a/", "/a/x", "/a/y"],
    threads=[dput("/a/x"), dput("/a/y")],
    properties=["deadlock", "parent-updates-kept"],
)
"""


def test_two_kills_unlisting_without_the_parent_s_d_lock_lose_a_removal(
    vfsmc: Run, tmp_path: Path
) -> None:
    """dentry_unlist()'s __hlist_del() reads the neighbours and writes them:
    without the parent's d_lock two sibling kills both read the list with
    both children on it, and the second write puts the first child back."""
    (tmp_path / "two.py").write_text(TWO_CHILDREN)
    found = _violation(vfsmc, "two.py:my/two-children", "-V", "kill-without-parent-lock")
    assert found.startswith("parent-updates-kept: dentry_unlist() of /a/"), found
    assert "left the parent's d_children" in found and "is on the list again" in found, found
    assert check(f"{tmp_path / 'two.py'}:my/two-children").result.stats.states > 100


def test_a_kill_putting_the_parent_s_count_without_its_d_lock_loses_a_put(vfsmc: Run) -> None:
    """--parent->d_lockref.count is a load and a store: without the
    parent's d_lock, the directory's own dput() (lockref's cmpxchg, which
    succeeds while that d_lock is free) or a sibling's kill comes between."""
    found = _violation(vfsmc, "dcache/sibling-kills", "-V", "kill-without-parent-lock")
    assert found.startswith("parent-updates-kept: "), found
    assert "d_lockref.count stored" in found or "d_children" in found, found


def test_mutate_finds_the_parent_s_d_lock_needed_by_the_kill(vfsmc: Run) -> None:
    """vfsmc mutate reports dropping __dentry_kill()'s spin_lock(&parent->d_lock),
    and fast_dput()'s d_lock on its slow path, as breaking parent-updates-kept."""
    result = vfsmc("mutate", "dcache/sibling-kills", "--json", "--no-save")
    assert result.exit_code in (0, 1), result.output
    rows = {row["name"]: row for row in json.loads(result.output)["mutations"]}
    parent = next(name for name in rows if "spin_lock(&parent->d_lock)" in name)
    assert rows[parent]["verdict"] == "VIOLATED", rows[parent]
    assert rows[parent]["property"] == "parent-updates-kept", rows[parent]
    slow = next(name for name in rows if "lockref_put_return() < 0" in name)
    assert rows[slow]["property"] == "parent-updates-kept", rows[slow]


def _parent_killed_by_a_child(scenario: str) -> bool:
    """Whether, in some reachable state, a child's kill went on to kill its
    parent: a thread marked two dentries dead (``lockref_mark_dead()``, its
    own and the parent it returned to dput()'s loop)."""
    registry = shipped_registry()
    model = registry.build(registry.scenario(scenario), (), None)
    marks = {
        (tid, pc)
        for tid, thread in enumerate(model.threads)
        for pc, compiled in enumerate(thread.steps)
        if compiled.step.label == "lockref_mark_dead(&dentry->d_lockref)"
    }
    reached = model.watch(marks, taken=True)
    Search(model, Options()).run()
    threads = [tid for tid, _pc in reached]
    return any(threads.count(tid) > 1 for tid in threads)


def test_the_last_child_s_kill_goes_on_to_kill_the_parent() -> None:
    """dput()'s loop: a kill whose put brings the parent's count to 0 kills
    the parent next, when the directory's own dput() came first."""
    assert _parent_killed_by_a_child("dcache/sibling-kills")


def test_a_parent_nobody_puts_is_never_killed_by_its_child_s_kill() -> None:
    """A parent the scenario runs no dput() on is pinned: its child's kill
    leaves it a reference."""
    assert not _parent_killed_by_a_child("dcache/dput-vs-rcu-walk")
