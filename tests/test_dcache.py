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
    assert found.endswith("when its walk was validated was /b/e/f"), found


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
