"""The lock order as data: the documented order, the edges explorations
observe, and the merged graph's cycles and out-of-order edges."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ABBA

from mc.check import lockorder
from mc.dsl.operation import Op, operation
from mc.dsl.scenario import BASE_PROPERTIES, Registry, Scenario
from mc.kernel.locks import EXCL, SHARED
from mc.kernel.pagecache import File
from mc.models.dcache import d_find_alias, inode_i_lock, shrink_dcache, shrink_rcu
from mc.models.dcache_scenarios import DCACHE_PROPERTIES
from mc.models.dentry import dentry_object
from mc.models.truncate import file_parts

SOURCE = "writeback/write-from-own-mapping"
COLD = File("/f", pages=1)


@operation(models="a path taking i_rwsem inside mmap_lock, the reverse of write(2)'s prefault")
def inverted(op: Op, file: File) -> None:
    _mapping, mm, inode = file_parts(op, file)
    op.lock(mm.mmap_lock, SHARED, "mmap_read_lock(mm)")
    op.lock(inode.i_rwsem, EXCL, "inode_lock(inode) /* under mmap_lock */")
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.unlock(mm.mmap_lock, "mmap_read_unlock(mm)")


@operation(models="i_lock taken inside an RCU section entered under d_lock: d_lock before i_lock")
def d_lock_rcu_i_lock(op: Op, path: str) -> None:
    dentry = dentry_object(op.world, path)
    i_lock, rcu = inode_i_lock(op.world, path), shrink_rcu(op.world)
    op.lock(dentry.d_lock, EXCL, "spin_lock(&dentry->d_lock)")
    op.lock(rcu, SHARED, "rcu_read_lock()")
    op.lock(i_lock, EXCL, "spin_lock(&inode->i_lock) /* under d_lock */")
    op.unlock(i_lock, "spin_unlock(&inode->i_lock)")
    op.unlock(rcu, "rcu_read_unlock()")
    op.unlock(dentry.d_lock, "spin_unlock(&dentry->d_lock)")


def _registry(shipped: Registry, *scenarios: Scenario) -> Registry:
    reg = Registry()
    for name, prop in shipped.properties.items():
        if name not in reg.properties:
            reg.add_property(prop)
    for scenario in scenarios:
        reg.add_scenario(scenario)
    return reg


def test_the_documented_order_is_transitive() -> None:
    documented = lockorder.load_documented()
    assert documented.allows("i_rwsem", "mmap_lock")
    assert documented.allows("i_rwsem", "PG_locked")
    assert documented.allows("mmap_lock", "xa_lock")
    assert documented.allows("i_rwsem", "i_rwsem")
    assert documented.allows("dq_lock", "xa_lock")
    assert documented.allows("namespace_sem", "d_lock")
    assert not documented.allows("d_lock", "rename_lock")
    assert documented.allows("flc_lock", "fasync_lock")
    assert not documented.allows("fasync_lock", "f_lock")
    assert documented.allows("rcu_read_lock", "d_lock")
    assert not documented.allows("mmap_lock", "i_rwsem")
    assert not documented.allows("PG_locked", "invalidate_lock")
    assert not documented.allows("invalidate_lock", "mmap_lock")
    assert documented.allows("mmap_lock", "mmap_lock")
    assert documented.why("i_rwsem", "mmap_lock") == (
        "i_rwsem before mmap_lock (specs/lockorder.toml's chain 1)"
    )


def test_why_names_each_chain_of_an_order_the_chains_give_together() -> None:
    """No one chain puts i_rwsem before sb_pagefaults; the order is the
    closure of the chains, and two of them do: the reason is those two
    steps, each named by its chain in one line, not a chain's source."""
    documented = lockorder.load_documented()
    assert documented.allows("i_rwsem", "sb_pagefaults")
    why = documented.why("i_rwsem", "sb_pagefaults")
    assert why == (
        "i_rwsem before mmap_lock (specs/lockorder.toml's chain 1), "
        "mmap_lock before sb_pagefaults (specs/lockorder.toml's chain 11)"
    )
    assert documented.why("i_rwsem", "xa_lock").count(" before ") == 1
    assert not documented.allows("xa_lock", "i_rwsem")
    assert documented.why("xa_lock", "i_rwsem") == (
        "the documented order does not put xa_lock before i_rwsem"
    )


def test_a_malformed_order_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "lockorder.toml"
    bad.write_text('[[chain]]\nsource = "x"\norder = ["a"]\n')
    with pytest.raises(ValueError, match="needs a source and an order of 2"):
        lockorder.load_documented(bad)


def test_chains_that_order_a_class_before_itself_are_an_error(tmp_path: Path) -> None:
    """Two chains that contradict each other, directly or through a third
    class, would let every edge between them pass either way."""
    bad = tmp_path / "lockorder.toml"
    bad.write_text(
        '[[chain]]\nsource = "a"\norder = ["i_rwsem", "PG_locked", "xa_lock"]\n'
        '[[chain]]\nsource = "b"\norder = ["xa_lock", "i_rwsem"]\n'
    )
    with pytest.raises(ValueError) as raised:
        lockorder.load_documented(bad)
    message = str(raised.value)
    assert "the chains order a class before itself: " in message
    assert "xa_lock before i_rwsem (chain 2)" in message
    assert "i_rwsem before PG_locked (chain 1)" in message


def test_the_write_prefault_takes_mmap_lock_under_i_rwsem(shipped: Registry) -> None:
    ((name, edges),) = lockorder.explore(shipped, [SOURCE])
    assert name == SOURCE
    witness = edges[("i_rwsem", "mmap_lock")]
    assert witness.thread == "T1" and "mmap_read_lock" in witness.label
    assert [line.split("  (")[0] for line in witness.trace[:2]] == [
        "lock sb_writers shared",
        "lock i_rwsem(/f) excl",
    ]
    # the fault under mmap_lock looks the folio up in rcu_read_lock(), which never waits: no edge
    assert ("mmap_lock", "rcu_read_lock") not in edges
    assert ("sb_writers", "mmap_lock") in edges


def test_a_witness_shows_a_lock_an_effect_takes_or_hands_on(shipped: Registry) -> None:
    """``__folio_set_locked()`` takes the new folio's lock inside an effect:
    the witness of the edge out of it shows that step and the holder it
    leaves, not a release with no acquisition before it."""
    ((_name, edges),) = lockorder.explore(shipped, ["writeback/read-write-reclaim"])
    witness = edges[("PG_locked", "xa_lock")]
    taken = [line for line in witness.trace if "__folio_set_locked(folio)" in line]
    assert taken and taken[0].split("  (")[0].endswith(f": PG_locked(/f:0#0) = {witness.thread}")


def test_an_inverted_edge_makes_a_cycle_and_leaves_the_documented_order(
    shipped: Registry,
) -> None:
    planted = Scenario("planted/inverted", "the inversion alone", ("/f",), (inverted(COLD),))
    reg = _registry(shipped, shipped.scenario(SOURCE), planted)
    alone = lockorder.merge(lockorder.explore(reg, [SOURCE]), lockorder.load_documented())
    assert alone.clean
    report = lockorder.merge(
        lockorder.explore(reg, [SOURCE, "planted/inverted"]), lockorder.load_documented()
    )
    assert report.undocumented == (("mmap_lock", "i_rwsem"),)
    ((first, second),) = [c for c in report.cycles if len(c) == 2]
    assert {first, second} == {("i_rwsem", "mmap_lock"), ("mmap_lock", "i_rwsem")}
    text = "\n".join(lockorder.render(report))
    assert "cycle 1: " in text and "planted/inverted, T1" in text and f"{SOURCE}, T1" in text
    assert "NOT IN THE DOCUMENTED ORDER" in text
    assert "holding mmap_lock, takes i_rwsem(/f)" in text
    assert planted.properties == BASE_PROPERTIES


def test_the_command_reports_the_shipped_models(vfsmc: Callable[..., Any]) -> None:
    result = vfsmc("lockorder", "--filter", SOURCE)
    assert result.exit_code == 0, result.output
    assert "i_rwsem -> mmap_lock  (writeback/write-from-own-mapping, T1)" in result.output
    assert "every observed edge is in the documented order" in result.output
    bad = vfsmc("lockorder", "--filter", "nothing/")
    assert bad.exit_code == 2


def test_every_shipped_scenario_respects_the_documented_order(
    shipped_lock_edges: list[lockorder.Explored],
) -> None:
    report = lockorder.merge(shipped_lock_edges, lockorder.load_documented())
    assert report.clean, "\n".join(lockorder.render(report))
    assert report.unplaced == (), "a shipped lock's class is placed in specs/lockorder.toml"
    assert report.edges[("i_rwsem", "i_rwsem")].breaks is None
    assert ("i_rwsem", "mmap_lock") in report.edges
    assert ("mmap_lock", "PG_locked") in report.edges


def test_entering_an_rcu_section_is_no_ordering_edge(shipped: Registry) -> None:
    """The shrinker enters its RCU section under d_lock and its
    lock_for_kill() takes i_lock, then d_lock, inside it (against
    d_find_alias(), which holds i_lock): rcu_read_lock() never waits, so
    d_lock -> rcu_read_lock is no edge and closes no cycle; the
    edges out of the section stay."""
    planted = Scenario(
        "planted/shrink-vs-find-alias",
        "the shrinker's lock_for_kill() slow path",
        ("/a/", "/a/x"),
        (shrink_dcache("/a/x"), d_find_alias("/a/x")),
        DCACHE_PROPERTIES,
    )
    reg = _registry(shipped, planted)
    ((_name, edges),) = lockorder.explore(reg, [planted.name])
    assert ("d_lock", "rcu_read_lock") not in edges
    assert not any(taken.startswith("rcu_read_lock") for _held, taken in edges)
    assert {("rcu_read_lock", "i_lock"), ("rcu_read_lock", "d_lock")} <= set(edges)
    assert ("i_lock", "d_lock") in edges
    report = lockorder.merge(lockorder.explore(reg, [planted.name]), lockorder.load_documented())
    assert report.clean, "\n".join(lockorder.render(report))


def test_a_cycle_through_locks_that_wait_is_still_found(shipped: Registry) -> None:
    """d_lock then i_lock, with an RCU section between them, against
    d_find_alias()'s i_lock then d_lock: the RCU section adds no edge, the
    cycle d_lock -> i_lock -> d_lock is found."""
    planted = Scenario(
        "planted/d-lock-then-i-lock",
        "d_lock, an RCU section, i_lock, against d_find_alias()",
        ("/a/", "/a/x"),
        (d_lock_rcu_i_lock("/a/x"), d_find_alias("/a/x")),
    )
    reg = _registry(shipped, planted)
    report = lockorder.merge(lockorder.explore(reg, [planted.name]), lockorder.load_documented())
    assert ("d_lock", "rcu_read_lock") not in report.edges
    assert ("rcu_read_lock", "i_lock") in report.edges
    assert report.undocumented == (("d_lock", "i_lock"),)
    (cycle,) = report.cycles
    assert set(cycle) == {("d_lock", "i_lock"), ("i_lock", "d_lock")}


def test_a_variant_s_lock_order_is_checked_as_lockdep_would(vfsmc: Callable[..., Any]) -> None:
    """truncate with invalidate_lock moved above i_rwsem: the edge
    invalidate_lock -> i_rwsem leaves the documented order and closes a
    cycle with hole punch's i_rwsem -> invalidate_lock."""
    Path("inverted.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n"
        "from mc.models.truncate import truncate\n\n\n"
        '@variant("invalidate-first", "truncate takes invalidate_lock before i_rwsem")\n'
        "def invalidate_first(program: Program, invocation: Invocation) -> Program:\n"
        "    if invocation.operation is not truncate:\n"
        "        return program\n"
        '    taken = [s for s in program.tagged("invalidate-lock") if "unlock" not in s.label]\n'
        '    inode_lock = next(s for s in program.steps if "inode_lock(dentry" in s.label)\n'
        "    return program.move_before(taken, inode_lock)\n"
    )
    args = ("lockorder", "--filter", "truncate/", "--models", "inverted.py")
    assert vfsmc(*args).exit_code == 0
    result = vfsmc(*args, "-V", "invalidate-first")
    assert result.exit_code == 1, result.output
    assert re.search(r"observed in \d+ scenarios under invalidate-first:", result.output)
    assert "cycle 1: i_rwsem -> invalidate_lock -> i_rwsem" in result.output
    assert "invalidate_lock -> i_rwsem  (truncate/" in result.output
    unknown = vfsmc("lockorder", "-V", "no-such-variant")
    assert unknown.exit_code == 2 and "unknown variant 'no-such-variant'" in unknown.output


def test_child_first_breaks_the_directory_order(vfsmc: Callable[..., Any]) -> None:
    """rmdir and unlink locking the victim before its parent: every edge is
    i_rwsem -> i_rwsem, allowed between classes, but the victim is below
    the parent it then takes (and a file's i_rwsem goes after any
    directory's), which lockdep tells apart by inode_lock_nested()'s
    subclasses; the correct protocol keeps both rules."""
    scenario = ("--filter", "dirops/rename-rmdir-link")
    assert vfsmc("lockorder", *scenario).exit_code == 0
    rmdir = vfsmc("lockorder", *scenario, "-V", "child-first")
    assert rmdir.exit_code == 1, rmdir.output
    assert (
        "i_rwsem -> i_rwsem  (dirops/rename-rmdir-link, T2)   NOT IN THE DOCUMENTED" in rmdir.output
    )
    assert (
        "    holding i_rwsem(/a/b), takes i_rwsem(/a): breaks ancestors before descendants "
        "(/a is an ancestor of /a/b)\n" in rmdir.output
    )
    dirops = vfsmc("lockorder", "--filter", "dirops/", "-V", "child-first", "--json")
    assert dirops.exit_code == 1
    (edge,) = json.loads(dirops.output)["undocumented"]
    assert (edge["held"], edge["taken"], edge["scenario"]) == (
        "i_rwsem",
        "i_rwsem",
        "dirops/exchange",
    )
    assert edge["breaks"] == (
        "holding i_rwsem(/b/y), takes i_rwsem(/b): breaks ancestors before descendants "
        "(/b is an ancestor of /b/y) and directories before non-directories "
        "(/b/y is not a directory, /b is)"
    )


def test_a_non_directory_before_a_directory_is_out_of_order(vfsmc: Callable[..., Any]) -> None:
    """link(2) locking the file it links before the directory of the new
    name, which is not above the file: directories before non-directories."""
    Path("source_first.py").write_text(
        "from mc.dsl import Invocation, Program, variant\n"
        "from mc.models.dirops import link\n\n\n"
        '@variant("link-source-first", "link locks its source before the new parent")\n'
        "def link_source_first(program: Program, invocation: Invocation) -> Program:\n"
        "    if invocation.operation is not link:\n"
        "        return program\n"
        '    parent = program.tagged("lock-parent")[0]\n'
        '    return program.move_before(program.tagged("lock-source"), parent)\n'
    )
    args = ("lockorder", "--filter", "dirops/rename-rmdir-link", "--models", "source_first.py")
    assert vfsmc(*args).exit_code == 0
    result = vfsmc(*args, "-V", "link-source-first")
    assert result.exit_code == 1, result.output
    assert (
        "    holding i_rwsem(/c/e), takes i_rwsem(/a/b): breaks directories before "
        "non-directories (/c/e is not a directory, /a/b is)\n" in result.output
    )
    assert "ancestors before descendants" not in result.output


def test_two_non_directories_out_of_address_order_are_out_of_order(
    vfsmc: Callable[..., Any],
) -> None:
    """vfs_rename() taking the exchanged non-directories source first, not
    by address as lock_two_nondirectories() does: where the run compared
    their addresses, the later acquisition breaks the documented order."""
    Path("nondir.py").write_text(
        "from mc.dsl import File, Invocation, Program, scenario, variant\n"
        "from mc.models.dirops import RENAME_EXCHANGE, rename\n"
        "from mc.models.file import OpenFile, copy_file_range\n\n"
        "@variant('nondir-source-first', 'x')\n"
        "def source_first(program: Program, invocation: Invocation) -> Program:\n"
        "    if invocation.operation is not rename:\n"
        "        return program\n"
        "    first = program.step('inode_lock(inode1) /* swapped */')\n"
        "    second = [s for s in program.steps if s.label == "
        "'inode_lock_nested(inode2, I_MUTEX_NONDIR2)' and 'lock-source' in s.tags]\n"
        "    return program.swap(first, second[0])\n\n"
        "scenario('my/exchange-vs-copy', 'x', tree=['/a', '/b'],\n"
        "         threads=[rename('/a', '/b', RENAME_EXCHANGE),\n"
        "                  copy_file_range(OpenFile('/a', name='fa'),\n"
        "                                  OpenFile('/b', name='fb'))],\n"
        "         properties=['deadlock'])\n"
    )
    args = ("lockorder", "--models", "nondir.py", "--filter", "my/")
    assert vfsmc(*args).exit_code == 0
    result = vfsmc(*args, "-V", "nondir-source-first")
    assert result.exit_code == 1, result.output
    assert "breaks non-directories by increasing address (/b < /a in this run's" in result.output


def test_the_directory_order_reads_the_tree_of_the_state(shipped: Registry) -> None:
    """Whether one inode is above another is asked of the state the thread
    takes the lock in: the tree the renames have made, not the initial one;
    two unrelated directories, of the locks the holder holds too."""
    model = shipped.build(shipped.scenario("dirops/rename-into-descendant"))
    world = model.world
    check = lockorder.directory_order(world)
    a, b, c = (world.lookup_path(p) for p in ("/a", "/a/b", "/c"))
    state = world.initial_state()
    assert check(state, b.i_rwsem, a.i_rwsem) == (
        "holding i_rwsem(/a/b), takes i_rwsem(/a): breaks ancestors before descendants "
        "(/a is an ancestor of /a/b)"
    )
    assert check(state, a.i_rwsem, b.i_rwsem) is None
    unrelated = "breaks two unrelated directories only under s_vfs_rename_mutex (/c and /a"
    assert unrelated in (check(state, c.i_rwsem, a.i_rwsem) or "")
    renaming = list(state)
    renaming[c.i_rwsem.slot] = (0, (), ())
    renaming[world.superblock.s_vfs_rename_sem.slot] = 0
    assert check(tuple(renaming), c.i_rwsem, a.i_rwsem) is None
    assert b.d_parent is not None
    moved = list(state)
    moved[b.d_parent] = c.ino
    after = check(tuple(moved), b.i_rwsem, a.i_rwsem) or ""
    assert "ancestor" not in after and "unrelated directories" in after
    assert "/c is an ancestor of /a/b" in (check(tuple(moved), b.i_rwsem, c.i_rwsem) or "")


def test_a_dentry_s_d_lock_nests_inside_its_parent_s(shipped: Registry) -> None:
    """__dentry_kill() takes the parent's d_lock, then the dentry's nested:
    the dcache scenarios show the edge d_lock -> d_lock in that order, and
    the other order breaks ancestors before descendants."""
    model = shipped.build(shipped.scenario("dcache/dput-vs-shrink"))
    world = model.world
    parent, child = dentry_object(world, "/a"), dentry_object(world, "/a/x")
    state = world.initial_state()
    assert lockorder.dentry_order(state, parent.d_lock, child.d_lock) is None
    assert lockorder.dentry_order(state, child.d_lock, parent.d_lock) == (
        "holding d_lock(/a/x), takes d_lock(/a): breaks ancestors before descendants "
        "(/a is an ancestor of /a/x)"
    )
    sibling = dentry_object(world, "/ab")
    assert lockorder.dentry_order(state, sibling.d_lock, parent.d_lock) is None
    [explored] = lockorder.explore(shipped, ["dcache/dput-vs-shrink"])
    assert ("d_lock", "d_lock") in explored.edges


def test_an_exploration_a_bound_stopped_is_no_clean_result(vfsmc: Callable[..., Any]) -> None:
    """Edges read off part of the states may miss the one that closes a
    cycle: the report names the scenarios explored in part, exit 3."""
    cut = vfsmc("lockorder", "--filter", "dirops/opposite", "--time-limit", "1e-9")
    assert cut.exit_code == 3, cut.output
    assert "explored in part (their edges are those of the states explored):" in cut.output
    assert "  dirops/opposite-renames: time limit 1e-09 s reached" in cut.output
    data = json.loads(
        vfsmc("lockorder", "--filter", "dirops/opposite", "--time-limit", "1e-9", "--json").output
    )
    assert data["incomplete"] == {"dirops/opposite-renames": "time limit 1e-09 s reached"}
    whole = vfsmc("lockorder", "--filter", "dirops/opposite", "--json")
    assert whole.exit_code == 0 and json.loads(whole.output)["incomplete"] == {}
    assert vfsmc("lockorder", "--time-limit", "nan").exit_code == 2


CHMOD_PARENT_AFTER = """\
from mc.dsl import EXCL, Op, replaces
from mc.models.attr import chmod


@replaces(chmod, "chmod-locks-parent-after", "chmod takes the parent's i_rwsem after the inode's")
def chmod_parent_after(op: Op, path: str, mode: int) -> None:
    inode = op.inode(path)
    parent = op.inode(path.rsplit("/", 1)[0] or "/")
    op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)")
    op.lock(parent.i_rwsem, EXCL, "inode_lock(parent) /* after the child */")
    op.unlock(parent.i_rwsem, "inode_unlock(parent)")
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")
"""


def test_a_variant_applies_where_it_changes_a_scenario(vfsmc: Callable[..., Any]) -> None:
    """A variant is applied to the scenarios it changes, the others are
    explored as they are; one that changes none of those explored is an
    error, not a clean result under its name."""
    Path("parent_after.py").write_text(CHMOD_PARENT_AFTER)
    args = ("lockorder", "--models", "parent_after.py", "-V", "chmod-locks-parent-after")
    nowhere = vfsmc(*args, "--filter", "dirops/")
    assert nowhere.exit_code == 2, nowhere.output
    assert re.fullmatch(
        r"vfsmc: error: variant chmod-locks-parent-after changes nothing in the \d+ "
        r"scenarios explored\n",
        nowhere.output,
    )
    one = vfsmc(*args, "--filter", "dirops/rename-rmdir-link")
    assert one.output == (
        "vfsmc: error: variant chmod-locks-parent-after changes nothing in "
        "dirops/rename-rmdir-link\n"
    )
    also = vfsmc(*args, "-V", "no-trap-check", "--filter", "attr/")
    assert also.exit_code == 2
    assert "variant no-trap-check changes nothing in" in also.output
    some = vfsmc(*args, "--filter", "a")
    assert some.exit_code == 1, some.output
    assert "i_rwsem -> i_rwsem  (attr/chmod-link-unlink, T1)   NOT IN THE DOCUMENTED" in some.output
    assert re.search(
        r"\nchmod-locks-parent-after changes 1 of the \d+ scenarios \(the others were "
        r"explored as they are\); explored under it:\n  attr/chmod-link-unlink\n",
        some.output,
    )
    data = json.loads(vfsmc(*args, "--filter", "a", "--json").output)
    assert data["changed_by"] == {"chmod-locks-parent-after": ["attr/chmod-link-unlink"]}
    assert "aops/direct-write-vs-write" in data["scenarios"]


def test_a_misspelt_class_in_the_order_is_named_with_the_closest_class(
    shipped: Registry, tmp_path: Path
) -> None:
    """A chain naming a class no scenario has orders nothing; with every
    scenario explored, the report names it and the class it is closest to."""
    order = tmp_path / "lockorder.toml"
    order.write_text('[[chain]]\nsource = "typo"\norder = ["i_rwsem", "mmap_lok"]\n')
    documented = lockorder.load_documented(order)
    explored = lockorder.explore(shipped, [SOURCE])
    report = lockorder.merge(explored, documented, every_scenario=True)
    assert report.unmatched == {"mmap_lok": "mmap_lock"}
    assert "mmap_lok (did you mean mmap_lock?)" in "\n".join(lockorder.render(report))
    assert lockorder.to_json(report)["unmatched_classes"] == [
        {"class": "mmap_lok", "closest": "mmap_lock"}
    ]
    assert lockorder.merge(explored, documented).unmatched == {}


def test_a_class_the_order_names_elsewhere_is_not_offered_for_a_missing_one(
    shipped: Registry, tmp_path: Path
) -> None:
    """A documented class no scenario has is not said to be a misspelling
    of a class the same order names and the scenarios take: pte_lock is
    not private_lock mistyped."""
    order = tmp_path / "lockorder.toml"
    order.write_text(
        '[[chain]]\nsource = "rmap"\norder = ["PG_locked", "pte_lock", "private_lock"]\n'
    )
    explored = lockorder.explore(shipped, ["buffer/update-vs-reclaim"])
    report = lockorder.merge(explored, lockorder.load_documented(order), every_scenario=True)
    assert report.unmatched == {"pte_lock": None}


def test_a_class_the_order_says_no_model_takes_is_not_listed(
    shipped: Registry, tmp_path: Path
) -> None:
    """``[unmodelled]`` names a class on purpose: the shipped order says
    pte_lock is one, and no run lists it as a possible misspelling."""
    order = tmp_path / "lockorder.toml"
    order.write_text(
        '[[chain]]\nsource = "rmap"\norder = ["PG_locked", "pte_lock", "private_lock"]\n'
        '[unmodelled]\npte_lock = "a pte is set in one step"\n'
    )
    explored = lockorder.explore(shipped, ["buffer/update-vs-reclaim"])
    report = lockorder.merge(explored, lockorder.load_documented(order), every_scenario=True)
    assert report.unmatched == {}
    assert "pte_lock" in lockorder.load_documented().unmodelled


PRIVATE_LOCK = """
from mc.dsl import EXCL, SHARED, File, LockKind, Op, lock_order, operation, scenario

{order}


def _gc(op: Op, file: File):
    return op.world.shared_lock(f"i_gc_rwsem({{file.path}})", LockKind.RWSEM)


@operation(models="myfs_punch_hole()")
def punch(op: Op, file: File) -> None:
    inode = op.inode(file.path)
    op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)")
    op.lock(_gc(op, file), EXCL, "down_write(&i_gc_rwsem)")
    op.unlock(_gc(op, file), "up_write(&i_gc_rwsem)")
    op.unlock(inode.i_rwsem, "inode_unlock(inode)")


@operation(models="myfs_page_mkwrite()")
def mkwrite(op: Op, file: File) -> None:
    mapping = op.mapping(file)
    op.lock(mapping.invalidate_lock, SHARED, "filemap_invalidate_lock_shared(mapping)")
    op.lock(_gc(op, file), SHARED, "down_read(&i_gc_rwsem)")
    op.unlock(_gc(op, file), "up_read(&i_gc_rwsem)")
    op.unlock(mapping.invalidate_lock, "filemap_invalidate_unlock_shared(mapping)")


F = File("/f", pages=1)
scenario("myfs/gc", "x", tree=["/f"], threads=[punch(F), mkwrite(F)], properties=["deadlock"])
"""


def test_a_model_file_documents_the_order_of_its_own_lock(vfsmc: Callable[..., Any]) -> None:
    """A filesystem's per-inode lock named i_gc_rwsem(/f) is of class
    i_gc_rwsem: its edges are listed, not judged, until the file's
    lock_order() places it (as check's notes do not judge them); then they
    are judged; a lock_order() that contradicts specs/lockorder.toml is bad
    input."""

    def lockorder(name: str, order: str) -> Any:
        Path(f"{name}.py").write_text(PRIVATE_LOCK.format(order=order))
        return vfsmc("lockorder", "--models", f"{name}.py", "--filter", "myfs/")

    alone = lockorder("alone", "")
    assert alone.exit_code == 0, alone.output
    unplaced = "   (classes the documented order does not place)"
    assert f"i_rwsem -> i_gc_rwsem  (myfs/gc, T1){unplaced}" in alone.output
    assert f"invalidate_lock -> i_gc_rwsem  (myfs/gc, T2){unplaced}" in alone.output
    assert "no observed edge goes against the documented order" in alone.output
    assert "edges between classes the documented order does not place, not judged" in (alone.output)
    placed = 'lock_order("i_rwsem", "invalidate_lock", "i_gc_rwsem", source="myfs/file.c")'
    documented = lockorder("placed", placed)
    assert documented.exit_code == 0, documented.output
    assert "every observed edge is in the documented order" in documented.output
    inverted = lockorder("inverted", 'lock_order("i_gc_rwsem", "i_rwsem", source="myfs/x.c")')
    assert inverted.exit_code == 1, inverted.output
    assert "i_rwsem -> i_gc_rwsem  (myfs/gc, T1)   NOT IN THE DOCUMENTED ORDER" in (inverted.output)
    contradicts = lockorder("wrong", 'lock_order("invalidate_lock", "i_rwsem", source="x")')
    assert contradicts.exit_code == 2
    assert contradicts.output.count("\n") == 1 and "Traceback" not in contradicts.output
    assert "lock_order at wrong.py:4) contradicts specs/lockorder.toml" in contradicts.output
    assert "invalidate_lock before i_rwsem (lock_order at wrong.py:4)" in contradicts.output
    assert "i_rwsem before mmap_lock (specs/lockorder.toml's chain 1)" in contradicts.output
    after_innermost = lockorder("inner", 'lock_order("xa_lock", "i_gc_rwsem", source="x")')
    assert after_innermost.exit_code == 2
    assert "lock_order at inner.py:4 orders a class after xa_lock, which" in after_innermost.output
    both = (
        'lock_order("i_gc_rwsem", "my_a", source="x")\nlock_order("my_a", "i_gc_rwsem", source="y")'
    )
    each_other = lockorder("both", both)
    assert each_other.exit_code == 2
    assert "both.py:5) contradict each other: " in each_other.output
    typo = lockorder("typo", 'lock_order("i_rwsem", "i_gc_rwsm", source="x")')
    assert typo.exit_code == 0
    assert (
        "note: lock_order at typo.py:4 names i_gc_rwsm, which no scenario's lock is of "
        "(did you mean i_gc_rwsem?)" in typo.output
    )
    lonely = lockorder("lonely", 'lock_order("i_rwsem", source="x")')
    assert lonely.exit_code == 2 and "lock_order takes two or more lock class names" in (
        lonely.output
    )


def test_vma_start_write_under_i_mmap_rwsem_is_the_cycle_lockdep_reported(
    shipped: Registry,
) -> None:
    """33313a747e81 took vma_start_write() in mmap_region() under
    i_mmap_lock_write(); the check finds no deadlock (the new VMA is in no
    tree a fault reads), the merged order finds the cycle 1c7873e33645 fixed."""
    names = ["mmap/mmap-vs-split", "mmap/fork-vs-munmap"]
    documented = lockorder.load_documented()
    correct = lockorder.merge(lockorder.explore(shipped, names), documented)
    assert correct.clean
    assert ("mmap_lock", "vm_lock") in correct.edges
    assert ("vm_lock", "i_mmap_rwsem") in correct.edges
    variant = "vma-lock-under-i-mmap"
    report = lockorder.merge(lockorder.explore(shipped, names, variants=[variant]), documented)
    assert report.undocumented == (("i_mmap_rwsem", "vm_lock"),)
    ((first, second),) = [c for c in report.cycles if len(c) == 2]
    assert {first, second} == {("i_mmap_rwsem", "vm_lock"), ("vm_lock", "i_mmap_rwsem")}


def test_the_direct_inversion_is_named_before_a_longer_way_round() -> None:
    """a -> b -> a is the inversion a deadlock of two threads needs; the
    cycle a -> c -> b -> a through the same classes comes after it."""
    edges = [("a", "c"), ("c", "b"), ("b", "a"), ("a", "b")]
    cycles = lockorder.find_cycles(edges)
    assert cycles[0] == (("a", "b"), ("b", "a"))
    assert all(len(cycle) >= 2 for cycle in cycles)


def test_an_ok_under_variants_says_when_they_take_locks_against_the_order(
    vfsmc: Callable[..., Any],
) -> None:
    """mmap/mmap-vs-split under vma-lock-under-i-mmap finds no deadlock in
    its own threads, but takes vm_lock under i_mmap_rwsem, the other way
    from mm/rmap.c's order: the OK says so, and --no-lock-order does not
    look."""
    args = ("check", "mmap/mmap-vs-split", "-V", "vma-lock-under-i-mmap", "--no-save")
    ran = vfsmc(*args, "--json")
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.output)
    assert report["verdict"] == "OK"
    [edge] = report["against_lock_order"]
    assert (edge["held"], edge["taken"], edge["thread"]) == ("i_mmap_rwsem", "vm_lock", "T1")
    assert edge["order"] == "vm_lock before i_mmap_rwsem (specs/lockorder.toml's chain 1)"
    text = vfsmc(*args).output
    assert "note: OK here, but under the variants T1 takes vm_lock while holding i_mmap_rwsem" in (
        text
    )
    quiet = vfsmc(*args, "--no-lock-order", "--json")
    assert json.loads(quiet.output)["against_lock_order"] is None
    correct = vfsmc("check", "mmap/mmap-vs-split", "--no-save", "--json")
    assert json.loads(correct.output)["against_lock_order"] is None


MKWRITE_I_RWSEM = """
from mc.dsl import SHARED, inserts
from mc.models.truncate import mmap_store
from mc.models.two_files import mmap_store_two_files


def take(op, file, pos, *rest):
    op.lock(op.inode(file.path).i_rwsem, SHARED, "inode_lock_shared(inode)")


def drop(op, file, pos, *rest):
    op.unlock(op.inode(file.path).i_rwsem, "inode_unlock_shared(inode)")


inserts((mmap_store, mmap_store_two_files), "mkwrite-takes-i_rwsem", "i_rwsem under it",
        after={"ext4_page_mkwrite(): filemap_invalidate_lock_shared(mapping)": take},
        before={"sb_end_pagefault(inode->i_sb)": drop}, every=True)
"""


def test_a_note_against_the_order_names_its_steps_in_one_line(
    vfsmc: Callable[..., Any], tmp_path: Path, own_models: None
) -> None:
    """i_rwsem taken in ext4_page_mkwrite() under sb_pagefaults is against
    the order two chains give together (i_rwsem before mmap_lock before
    sb_pagefaults): its note gives those two steps, not "no documented
    chain orders them", and no note repeats a chain's source."""
    model = tmp_path / "mkwrite_ilock.py"
    model.write_text(MKWRITE_I_RWSEM)
    ran = vfsmc(
        "check", "mmap/two-files-store-write", "--models", str(model),
        "-V", "mkwrite-takes-i_rwsem", "--no-save",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    lines = ran.output.splitlines()
    assert sum("note: OK here, but" in line for line in lines) == 1
    notes = [line for line in lines if " takes " in line and "while holding" in line]
    held = {re.search(r"while holding (\S+)", note)[1]: note for note in notes}  # type: ignore[index]
    assert set(held) == {"invalidate_lock", "mmap_lock", "sb_pagefaults"}
    assert "no documented chain" not in ran.output
    assert "header comment" not in ran.output
    assert (
        "against the documented order (i_rwsem before mmap_lock (specs/lockorder.toml's chain 1), "
        "mmap_lock before sb_pagefaults (specs/lockorder.toml's chain 11))"
    ) in held["sb_pagefaults"]


def test_a_scenario_whose_model_raises_is_an_error_after_the_others(
    vfsmc: Callable[..., Any], tmp_path: Path, raising_reads: Callable[[Path], Path]
) -> None:
    """A model file's property whose reads= raises: its scenario is named
    as not explored (exit 2) once the others' report is printed."""
    raising_reads(tmp_path)
    result = vfsmc("lockorder", "--models", "mine.py", "--filter", "my/")
    assert result.exit_code == 2, result.output
    assert "observed in 1 scenario" in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("vfsmc: error: my/bad not explored: mine.py:") and "KeyError" in last


MKDIR_LOCKS_FIRST = """
from mc.dsl import File, Invocation, Program, scenario, variant
from mc.models.mnt_write import mkdir_want_write
from mc.models.super import freeze, thaw


@variant("mkdir-lock-before-want-write", "the parent locked before mnt_want_write()")
def mkdir_lock_first(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(mkdir_want_write):
        return program
    want_write = program.tagged("sb-start-write")[0]
    return program.move_before(program.tagged("lock-parent")[0], want_write)


F = File("/f", pages=1, cached=(0,))
scenario("my/mkdir-vs-freeze", "mkdir racing a freeze", tree=["/f", "/a/"],
         threads=[mkdir_want_write("/a/d"), freeze(F), thaw(F)])
"""


def test_the_command_a_note_on_the_order_gives_runs_as_printed(
    vfsmc: Callable[..., Any], tmp_path: Path
) -> None:
    """A user's variant that takes sb_writers under i_rwsem is OK against a
    freeze alone; the note on the documented order it breaks gives the
    lockorder command with the model file, which names the edge."""
    (tmp_path / "mkdir_order.py").write_text(MKDIR_LOCKS_FIRST)
    checked = vfsmc(
        "check", "mkdir_order.py:my/mkdir-vs-freeze", "-V", "mkdir-lock-before-want-write"
    )
    assert checked.exit_code == 0, checked.output
    command = re.search(r"\(vfsmc (lockorder [^)]*)\)", checked.output)
    assert command is not None, checked.output
    assert "--models mkdir_order.py" in command.group(1)
    ordered = vfsmc(*command.group(1).split())
    assert ordered.exit_code == 1, ordered.output
    assert "holding i_rwsem(/a), takes sb_writers" in ordered.output


@operation(models="an ioctl whose error path returns with i_rwsem held")
def leaking_ioctl(op: Op, path: str) -> None:
    op.lock(op.inode(path).i_rwsem, EXCL, "inode_lock(inode) /* never unlocked */")


def test_another_bug_of_the_change_hides_none_of_its_edges(shipped: Registry) -> None:
    """A thread that returns holding i_rwsem (a lock-protocol error one
    step in) beside the mmap_lock -> i_rwsem inversion: the error ends the
    runs it is on, not the exploration, so the inversion is still found,
    and the report says how many runs the error ended."""
    planted = Scenario(
        "planted/leak-and-inversion",
        "a leaking ioctl on /g beside a path taking i_rwsem inside mmap_lock",
        ("/f", "/g"),
        (leaking_ioctl("/g"), inverted(COLD)),
        BASE_PROPERTIES,
    )
    reg = _registry(shipped, planted)
    report = lockorder.merge(lockorder.explore(reg, [planted.name]), lockorder.load_documented())
    assert ("mmap_lock", "i_rwsem") in report.undocumented
    assert set(report.ended) == {planted.name}
    assert set(report.ended[planted.name]) == {"lock-protocol"}
    rendered = "\n".join(lockorder.render(report))
    assert "runs a step's error ended" in rendered and f"{planted.name}: " in rendered
    assert lockorder.to_json(report)["ended_by_errors"] == report.ended


def test_an_ok_under_variants_says_when_they_break_a_nesting_rule(
    vfsmc: Callable[..., Any],
) -> None:
    """child-first takes the child's i_rwsem before its parent's: with the
    properties that would catch it left out, the OK's note names the
    directory-locking rule it breaks, as lockorder does."""
    ran = vfsmc(
        "check",
        "dirops/rename-rmdir-link",
        "-V",
        "child-first",
        "--no-property",
        "spec-conformance",
        "--no-property",
        "deadlock",
        "--no-save",
        "--json",
    )
    assert ran.exit_code == 0, ran.output
    [edge] = json.loads(ran.output)["against_lock_order"]
    assert (edge["held"], edge["taken"]) == ("i_rwsem", "i_rwsem")
    assert "breaks ancestors before descendants (/a is an ancestor of /a/b)" in edge["order"]


def test_a_model_file_nests_its_own_lock_class_in_itself() -> None:
    """lock_order(c, c, source=...) says the filesystem takes two locks of
    class c at once in an order it fixes: an edge c -> c is then in the
    documented order, as a class of [nested] is, and is judged otherwise;
    so does c twice in a row in a longer chain, whose order stands."""
    from mc.dsl.scenario import LockOrder
    from mc.dsl.steps import Source

    documented = lockorder.load_documented()
    assert not documented.allows("ip_lock", "ip_lock")
    nesting = LockOrder(("ip_lock", "ip_lock"), "myfs_rename()", Source("myfs.py", 9, "<module>"))
    placed = LockOrder(("i_rwsem", "ip_lock"), "myfs", Source("myfs.py", 8, "<module>"))
    declared = documented.declared_by([placed, nesting])
    assert declared.allows("ip_lock", "ip_lock") and declared.allows("i_rwsem", "ip_lock")
    assert "myfs_rename()" in declared.nested["ip_lock"]
    assert declared.declared == (placed,)
    chain = LockOrder(("i_rwsem", "ip_lock", "ip_lock"), "myfs", Source("myfs.py", 7, "<module>"))
    in_one = documented.declared_by([chain])
    assert in_one.allows("ip_lock", "ip_lock") and in_one.allows("i_rwsem", "ip_lock")
    assert in_one.declared[0].classes == ("i_rwsem", "ip_lock")
    itself = LockOrder(("ip_lock", "i_rwsem", "ip_lock"), "myfs", Source("myfs.py", 6, "<module>"))
    with pytest.raises(ValueError, match=r"the lock order declared \(.*\) contradicts itself"):
        documented.declared_by([itself])


@operation(models="two locks of one class of a filesystem's own, /a's then /b's")
def two_of_one_class(op: Op) -> None:
    from mc.kernel.locks import Kind

    first, second = (op.world.shared_lock(f"my_lock({p})", Kind.MUTEX) for p in ("/a", "/b"))
    op.lock(first, EXCL, "mutex_lock(&a->my_lock)")
    op.lock(second, EXCL, "mutex_lock_nested(&b->my_lock, 1)")
    op.unlock(second, "mutex_unlock(&b->my_lock)")
    op.unlock(first, "mutex_unlock(&a->my_lock)")


def test_two_locks_of_one_class_of_one_s_own_say_how_to_document_the_nesting(
    shipped: Registry,
) -> None:
    planted = Scenario("planted/nested", "two of my_lock", ("/a", "/b"), (two_of_one_class(),))
    report = lockorder.merge(
        lockorder.explore(_registry(shipped, planted), [planted.name]), lockorder.load_documented()
    )
    assert report.undocumented == (("my_lock", "my_lock"),)
    assert (
        "  (my_lock -> my_lock: two locks of one class held at once; where a rule of the "
        'filesystem orders them, lock_order("my_lock", "my_lock", source=...) says so)'
    ) in lockorder.render(report)


TWO_ORDERS = (
    ABBA
    + 'scenario("my/ab", "a then b", tree=[], threads=[both("my_a", "my_b")])\n'
    + 'scenario("my/ba", "b then a", tree=[], threads=[both("my_b", "my_a")])\n'
)
"""A model file: ``my/abba`` and each of its two orders as a scenario alone."""


def test_scenarios_named_as_check_names_them_are_explored_alone(
    vfsmc: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "orders.py").write_text(TWO_ORDERS)
    one = vfsmc("lockorder", f"{tmp_path / 'orders.py'}:my/ab")
    assert one.exit_code == 0, one.output
    assert one.output.startswith("1 lock-class edges observed in 1 scenario:\n")
    both = vfsmc("lockorder", f"{tmp_path / 'orders.py'}:my/ab", f"{tmp_path / 'orders.py'}:my/ba")
    assert both.exit_code == 1, both.output
    assert "cycle 1: my_a -> my_b -> my_a" in both.output
    unknown = vfsmc("lockorder", "nope/x")
    assert unknown.exit_code == 2
    assert "unknown scenario 'nope/x'" in unknown.output


BY_INODE = """
from mc.dsl import EXCL, LockKind, Op, lock_order, operation, scenario

lock_order("my_ilock", "my_ilock", by="inode", source="my_lock_two_inodes(): by i_ino")


@operation(models="takes two inodes' my_ilock, first the one named first")
def lock_two(op: Op, first: str, second: str) -> None:
    one = op.world.shared_lock(f"my_ilock({first})", LockKind.RWSEM)
    two = op.world.shared_lock(f"my_ilock({second})", LockKind.RWSEM)
    op.lock(one, EXCL, "my_ilock(first)")
    op.lock(two, EXCL, "my_ilock(second)")
    op.unlock(two, "my_iunlock(second)")
    op.unlock(one, "my_iunlock(first)")


scenario("my/by-number", "", tree=["/a", "/b"], threads=[lock_two("/a", "/b")],
         properties=["deadlock"])
scenario("my/against-number", "", tree=["/a", "/b"], threads=[lock_two("/b", "/a")],
         properties=["deadlock"])
"""


def test_a_class_nested_by_inode_number_is_checked_in_that_order(
    vfsmc: Callable[..., Any], tmp_path: Path
) -> None:
    """lock_order(X, X, by="inode"): two of X's locks are taken by
    increasing inode number (the tree's order), which lockorder checks
    as it checks i_rwsem's rules."""
    (tmp_path / "by_inode.py").write_text(BY_INODE)
    kept = vfsmc("lockorder", "--models", "by_inode.py", "--filter", "my/by-number")
    assert kept.exit_code == 0, kept.output
    broken = vfsmc("lockorder", "--models", "by_inode.py", "--filter", "my/against-number")
    assert broken.exit_code == 1, broken.output
    assert (
        "holding my_ilock(/b), takes my_ilock(/a): breaks increasing inode number "
        "(lock_order(..., by='inode')) (/a is numbered before /b)"
    ) in broken.output
    (tmp_path / "bad_by.py").write_text(BY_INODE.replace('by="inode"', 'by="size"'))
    refused = vfsmc("lockorder", "--models", "bad_by.py")
    assert refused.exit_code == 2, refused.output
    assert (
        "lock_order's by= is one of inode, address, address-descending, not 'size'"
    ) in refused.output


BY_ADDRESS = """
from mc.dsl import EXCL, LockKind, Op, address_below, const, lock_order, operation, same
from mc.dsl import scenario

lock_order("my_mlock", "my_mlock", by="{by}", source="my_double_lock(): by address")


@operation(models="takes two inodes' my_mlock, the lower address first")
def lock_two(op: Op, a: str, b: str) -> None:
    locks = {{p: op.world.shared_lock(f"my_mlock({{p}})", LockKind.RWSEM) for p in (a, b)}}
    low = address_below(op, "a_low", "if (a > b) swap(a, b)", op.inode(a), op.inode(b))
    with op.when(same(low, const(True)), "if (a < b)"):
        op.lock(locks[a], EXCL, "down_write(&a->my_mlock)")
        op.lock(locks[b], EXCL, "down_write_nested(&b->my_mlock, 1)")
    with op.otherwise():
        op.lock(locks[b], EXCL, "down_write(&b->my_mlock)")
        op.lock(locks[a], EXCL, "down_write_nested(&a->my_mlock, 1)")
    op.unlock(locks[a], "up_write(&a->my_mlock)")
    op.unlock(locks[b], "up_write(&b->my_mlock)")


scenario("my/by-address", "", tree=["/a", "/b"],
         threads=[lock_two("/a", "/b"), lock_two("/b", "/a")], properties=["deadlock"])
"""


def test_a_class_nested_by_address_is_checked_in_the_run_s_address_order(
    vfsmc: Callable[..., Any], tmp_path: Path
) -> None:
    """lock_order(X, X, by="address"): two of X's locks are taken by
    increasing address, in the order address_below() observed in the run
    (both orders are explored); the operation, lower address first, keeps
    it, and breaks by="address-descending" (btrfs_double_mmap_lock()'s
    rule) in one of the two orders."""
    (tmp_path / "up.py").write_text(BY_ADDRESS.format(by="address"))
    kept = vfsmc("lockorder", "--models", "up.py", "--filter", "my/by-address")
    assert kept.exit_code == 0, kept.output
    (tmp_path / "down.py").write_text(BY_ADDRESS.format(by="address-descending"))
    broken = vfsmc("lockorder", "--models", "down.py", "--filter", "my/by-address")
    assert broken.exit_code == 1, broken.output
    assert re.search(
        r"holding my_mlock\((/[ab])\), takes my_mlock\((/[ab])\): breaks decreasing address "
        r"\(lock_order\(\.\.\., by='address-descending'\)\) \(\1 < \2 in this run's "
        r"address order\)",
        broken.output,
    ), broken.output


def test_check_refuses_a_lock_order_that_contradicts_the_documented_one(
    vfsmc: Callable[..., Any], tmp_path: Path
) -> None:
    """A model file's lock_order against specs/lockorder.toml is one line
    and exit 2 from check too, not only from lockorder."""
    (tmp_path / "against.py").write_text(
        'from mc.dsl import lock_order\nlock_order("invalidate_lock", "i_rwsem", source="x")\n'
    )
    result = vfsmc("check", "dirops/two-creates", "--models", "against.py", "--no-save")
    assert result.exit_code == 2, result.output
    assert "contradicts specs/lockorder.toml" in result.output
    assert len(result.output.strip().splitlines()) == 1


IN_ARGUMENT_ORDER = """
from mc.dsl import EXCL, SHARED, LockKind, Op, lock_order, operation, scenario

lock_order("my_ilock", "my_ilock", source="my_move_range(): source, then destination")


@operation(models="takes the source's my_ilock, then the destination's, under my_gate")
def move_range(op: Op, src: str, dst: str) -> None:
    gate = op.world.shared_lock("my_gate", LockKind.{kind})
    locks = {{p: op.world.shared_lock(f"my_ilock({{p}})", LockKind.MUTEX) for p in (src, dst)}}
    op.lock(gate, {mode}, "lock(&sbi->my_gate)")
    op.lock(locks[src], EXCL, "mutex_lock(&src->my_ilock)")
    op.lock(locks[dst], EXCL, "mutex_lock_nested(&dst->my_ilock, 1)")
    op.unlock(locks[dst], "mutex_unlock(&dst->my_ilock)")
    op.unlock(locks[src], "mutex_unlock(&src->my_ilock)")
    op.unlock(gate, "unlock(&sbi->my_gate)")


scenario("my/opposite-moves", "", tree=["/a", "/b"],
         threads=[move_range("/a", "/b"), move_range("/b", "/a")], properties=["deadlock"])
"""


@pytest.mark.parametrize(
    ("kind", "mode", "kept"),
    [("MUTEX", "EXCL", True), ("RWSEM", "SHARED", False), ("RWSEM", "EXCL", True)],
)
def test_two_locks_of_one_class_taken_both_ways_with_no_gate_are_out_of_order(
    vfsmc: Callable[..., Any], tmp_path: Path, kind: str, mode: str, kept: bool
) -> None:
    """Two locks of a class a rule nests, taken in both orders by two
    threads: a deadlock whatever the rule, unless a lock both hold, in
    modes that exclude each other, keeps them apart (a shared rw_semaphore
    does not)."""
    (tmp_path / "moves.py").write_text(IN_ARGUMENT_ORDER.format(kind=kind, mode=mode))
    result = vfsmc("lockorder", "--models", "moves.py", "--filter", "my/opposite-moves")
    if kept:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1, result.output
    assert re.search(
        r"holding my_ilock\((/[ab])\), takes my_ilock\((/[ab])\), where T\d holding "
        r"my_ilock\(\2\) takes my_ilock\(\1\), and no lock held by both keeps them apart",
        result.output,
    ), result.output


def test_two_unrelated_directories_locked_without_the_rename_mutex_are_out_of_order(
    vfsmc: Callable[..., Any],
) -> None:
    """vfs_rename() since 22e111ed6c83 locks two directories neither above
    the other only under s_vfs_rename_mutex: lock_rename() without it is
    reported, as lockdep's classes never could, and with it passes."""
    args = ("lockorder", "dirops/opposite-renames")
    assert vfsmc(*args).exit_code == 0
    result = vfsmc(*args, "-V", "no-rename-mutex")
    assert result.exit_code == 1, result.output
    assert re.search(
        r"holding i_rwsem\((/[ab])\), takes i_rwsem\((/[ab])\): breaks two unrelated "
        r"directories only under s_vfs_rename_mutex \(\1 and \2, neither above the other, "
        r"without s_vfs_rename_sem\)",
        result.output,
    ), result.output


def test_several_edges_against_the_order_make_one_note(vfsmc: Callable[..., Any]) -> None:
    """fault-under-vma-lock takes three classes under the per-VMA lock in
    ext4's ->page_mkwrite: one note, an indented line per edge."""
    args = ("check", "mmap/mmap-vs-store-dontneed", "-V", "fault-under-vma-lock", "--no-save")
    edges = json.loads(vfsmc(*args, "--json").output)["against_lock_order"]
    assert len(edges) > 1
    lines = vfsmc(*args).output.splitlines()
    at = next(i for i, line in enumerate(lines) if "lock-class edges go against" in line)
    assert lines[at].startswith(f"  note: OK here, but under the variants {len(edges)} lock-")
    listed = lines[at + 1 : at + 1 + len(edges)]
    assert all(line.startswith("    T2 takes ") for line in listed)
    assert {(e["taken"], e["held"]) for e in edges} == {
        (line.split()[2], line.split()[5]) for line in listed
    }
    assert sum("note: OK here" in line for line in lines) == 1
