"""Footprints declared by what effects touch (``mc.kernel.world.touches``)
and resolved from the state (``Step.resolver``): every shipped step they
cover stays inside them over its scenario's whole graph, a declaration
that leaves a slot out is caught, and the reduced search reaches every
end and deadlock state the full search reaches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from mc.check.registry import shipped as fresh_registry
from mc.dsl.audit import audit_footprints
from mc.dsl.kernel_model import KernelModel, PropertyDef, Reach
from mc.dsl.operation import Invocation, Op, operation
from mc.dsl.scenario import BASE_PROPERTIES, Registry, scenario
from mc.dsl.steps import EffectStep, LockStep
from mc.dsl.wait_steps import SectionStep, TryLockStep
from mc.engine.explore import Options, Search
from mc.engine.model import PropertyKind
from mc.kernel.expr import InodeExpr, State, positive
from mc.kernel.locks import EXCL
from mc.kernel.world import ERROR_SLOT, World, touches
from mc.models import libfs


def _refined(model: KernelModel) -> bool:
    """Whether some step of ``model`` has a footprint declared by what it
    touches or resolved from the state."""
    return any(
        (isinstance(c.step, EffectStep) and c.step.touches is not None)
        or c.step.resolver(c.context, model.regions(tid)) is not None
        for tid, thread in enumerate(model.threads)
        for c in thread.steps
    )


def test_every_shipped_step_stays_inside_its_declared_and_resolved_footprints(
    shipped: Registry,
) -> None:
    """Every shipped scenario whose steps use declared or resolved
    footprints (inode locks found by lookups, the libfs methods, folio
    locks...), explored whole: no step reads or writes outside them."""
    audited = []
    for name in sorted(shipped.scenarios):
        model = shipped.build(shipped.scenario(name), ())
        if _refined(model):
            assert audit_footprints(model) == [], name
            audited.append(name)
    assert len(audited) >= 60
    assert {"dirops/rename-rmdir-link", "writeback/write-fsync-reclaim"} <= set(audited)


def _registry_with_link_declaring(declared: object) -> Registry:
    """A registry with one scenario: two links of one file, whose ->link
    implementation declares ``declared`` as what it touches."""
    implementation = touches(declared)(  # type: ignore[arg-type]
        lambda scratch, source, directory, dentry: libfs.link(scratch, source, directory, dentry)
    )

    @operation(models="a link whose method declares what it touches")
    def declared_link(op: Op, old: str, new: str) -> None:
        source = op.inode(old)
        directory = op.inode("/d")
        dentry = op.dentry(directory, new.rsplit("/", 1)[1])
        op.lock(directory.i_rwsem, EXCL, "inode_lock(dir)")
        op.call("inode_operations.link", implementation, source, directory, dentry)
        op.unlock(directory.i_rwsem, "inode_unlock(dir)")

    registry = fresh_registry()
    made = scenario(
        "footprints/two-links",
        "two links of one file",
        tree=["/d/", "/f"],
        threads=[declared_link("/f", "/d/a"), declared_link("/f", "/d/b")],
    )
    registry.add_scenario(made)
    return registry


def _links_and_name(world: World, source: int, directory: int, dentry: object) -> tuple:  # type: ignore[type-arg]
    slots = [world.inodes[source].nlink, dentry.slot]  # type: ignore[attr-defined]
    return [*slots, world.inodes[directory].nlink], slots


def _name_only(world: World, source: int, directory: int, dentry: object) -> tuple:  # type: ignore[type-arg]
    slots = [dentry.slot]  # type: ignore[attr-defined]
    return [*slots, world.inodes[directory].nlink], slots


def test_a_declaration_that_leaves_out_a_write_is_caught() -> None:
    right = _registry_with_link_declaring(_links_and_name)
    model = right.build(right.scenario("footprints/two-links"), ())
    assert audit_footprints(model) == []
    wrong = _registry_with_link_declaring(_name_only)
    model = wrong.build(wrong.scenario("footprints/two-links"), ())
    found = audit_footprints(model)
    assert found
    assert all("nlink(/f)" in line and "leaves out" in line for line in found)


def test_a_declaration_narrows_the_footprint_to_what_it_names(shipped: Registry) -> None:
    right = _registry_with_link_declaring(_links_and_name)
    model = right.build(right.scenario("footprints/two-links"), ())
    calls = [
        (tid, c.step)
        for tid, thread in enumerate(model.threads)
        for c in thread.steps
        if isinstance(c.step, EffectStep) and c.step.kind == "call"
    ]
    assert len(calls) == 2
    for tid, step in calls:
        regions = model.regions(tid)
        footprint = step.footprint(regions)
        assert footprint.writes & regions.data != regions.data
        names = [s.name for i, s in enumerate(model.world.slots) if footprint.writes >> i & 1]
        assert "nlink(/f)" in names


def _ends(
    registry: Registry, name: str, variants: tuple[str, ...], reduce: bool
) -> tuple[set[State], set[object]]:
    """The states without enabled steps (ends and deadlocks) of a search
    checking no property, so that none stops it, and the protocol errors
    its steps recorded (a reduced search reaches each error, not each
    state where it is recorded: the other threads may stand elsewhere)."""
    model = registry.build(registry.scenario(name), variants)
    model._properties = []
    search = Search(model, Options(reduce=reduce, exact=True))
    assert search.run().stats.states > 0
    kept = search.store.kept()
    errors = {state[ERROR_SLOT] for state in kept if model.halted(state)}
    ends = {s for s in kept if not model.halted(s) and not model.successors(s)}
    return ends, errors


@pytest.mark.parametrize(
    ("name", "variants"),
    [
        ("dirops/rename-rmdir-link", ()),
        ("dirops/rename-rmdir-link", ("child-first",)),
        ("dirops/opposite-renames", ("no-rename-mutex",)),
        ("dirops/exchange", ()),
        ("dirops/rmdir-vs-create", ("rmdir-no-victim-lock",)),
        ("dirops/rename-up-vs-rmdir", ("parents-by-address",)),
    ],
)
def test_the_reduced_search_reaches_every_end_deadlock_and_error(
    shipped: Registry, name: str, variants: tuple[str, ...]
) -> None:
    reduced = _ends(shipped, name, variants, reduce=True)
    full = _ends(shipped, name, variants, reduce=False)
    assert reduced == full
    assert full[0]


RETURNS_KEPT = PropertyDef(
    "returns-kept",
    "reads what every thread returned, with its registers; checks nothing",
    PropertyKind.ALWAYS,
    lambda model: lambda state: None,
    ("returned",),
)


def _ends_agree(
    name: str, describe: str, tree: list[str], threads: list[Invocation]
) -> tuple[set[State], KernelModel]:
    """The ends of scenario ``name`` (``threads`` over ``tree``), which the
    reduced search and the full one reach alike, with its model.  The
    scenario checks a property that reads what every thread returned, so
    the threads' registers are kept as they return (else they are
    forgotten) and the ends tell apart what each thread saw."""
    registry = fresh_registry()
    registry.add_property(RETURNS_KEPT)
    properties = (*BASE_PROPERTIES, RETURNS_KEPT.name)
    registry.add_scenario(
        scenario(name, describe, tree=tree, threads=threads, properties=properties)
    )
    reduced, _ = _ends(registry, name, (), reduce=True)
    full, _ = _ends(registry, name, (), reduce=False)
    assert reduced == full
    return full, registry.build(registry.scenario(name), ())


@operation(models="a register looked up twice, each inode locked in turn")
def _relock(op: Op) -> None:
    directory = op.inode("/d")
    first = op.lookup(op.dentry(directory, "a"), "r")
    op.lock(first.i_rwsem, EXCL, "inode_lock(r)")
    op.unlock(first.i_rwsem, "inode_unlock(r)")
    second = op.lookup(op.dentry(directory, "b"), "r")
    op.lock(second.i_rwsem, EXCL, "inode_lock(r)")
    op.call("inode_operations.link", libfs.link, second, directory, op.dentry(directory, "n"))
    op.unlock(second.i_rwsem, "inode_unlock(r)")


@operation(models="a look for the link under the second inode's lock, then the first's lock")
def _look(op: Op) -> None:
    directory = op.inode("/d")
    locked = op.inode("/d/b")
    op.lock(locked.i_rwsem, EXCL, "inode_lock(/d/b)")
    op.lookup(op.dentry(directory, "n"), "seen")
    op.unlock(locked.i_rwsem, "inode_unlock(/d/b)")
    other = op.inode("/d/a")
    op.lock(other.i_rwsem, EXCL, "inode_lock(/d/a)")
    op.unlock(other.i_rwsem, "inode_unlock(/d/a)")


def test_a_register_written_again_ends_what_its_value_resolved() -> None:
    """Thread T1 locks the inode its register names, then looks up another
    into the same register and locks that one: until the second lookup,
    T1's future lock of it is any inode's, or T2's lock of /d/b would
    pass for independent of it where T1's next step (the lock of /d/a)
    conflicts with T2's last ones, and the run where T1 links /d/n
    before T2 looks would be lost."""
    full, model = _ends_agree(
        "footprints/relock",
        "a register looked up twice against a look under the second inode's lock",
        ["/d/", "/d/a", "/d/b"],
        [_relock(), _look()],
    )
    seen = next(slot for slot in model.threads[1].registers)
    assert {state[seen] is None for state in full} == {True, False}


def _lock_named_around_look(op: Op, directory: InodeExpr) -> None:
    """Look up /d/n into ``r`` and, if positive, lock it around a look at
    /d/m into ``seen``."""
    named = op.lookup(op.dentry(directory, "n"), "r")
    with op.when(positive(named), "if (r)"):
        op.lock(named.i_rwsem, EXCL, "inode_lock(r)")
        op.lookup(op.dentry(directory, "m"), "seen")
        op.unlock(named.i_rwsem, "inode_unlock(r)")


@operation(models="a lock of the inode a name holds, if any, around a look at another name")
def _look_under_named_lock(op: Op) -> None:
    _lock_named_around_look(op, op.inode("/d"))


@operation(models="links of /d/a as n, then as m under its lock, then n unlinked")
def _link_twice(op: Op) -> None:
    directory = op.inode("/d")
    source = op.inode("/d/a")
    first, second = op.dentry(directory, "n"), op.dentry(directory, "m")
    op.call("inode_operations.link", libfs.link, source, directory, first)
    op.lock(source.i_rwsem, EXCL, "inode_lock(/d/a)")
    op.call("inode_operations.link", libfs.link, source, directory, second)
    op.unlock(source.i_rwsem, "inode_unlock(/d/a)")
    op.call("inode_operations.unlink", libfs.unlink, directory, first, source)


def test_a_name_another_thread_writes_predicts_nothing() -> None:
    """T1 looks up a name T2 links and unlinks, and locks what it finds:
    the register's value is not the name's initial one (negative), so
    T1's future lock is any inode's until it looks, and the run where T1
    holds /d/a before T2 links m is kept."""
    full, model = _ends_agree(
        "footprints/named-lock",
        "a lock of what a name holds against links and an unlink of that name",
        ["/d/", "/d/a"],
        [_look_under_named_lock(), _link_twice()],
    )
    named, seen = sorted(model.threads[0].registers)
    assert {(state[named] is None, state[seen] is None) for state in full} >= {
        (False, True),
        (False, False),
    }


@operation(models="a link of /d/a as n, then a lock of what n holds around a look at m")
def _link_then_lock_named(op: Op) -> None:
    directory = op.inode("/d")
    op.call(
        "inode_operations.link", libfs.link, op.inode("/d/a"), directory, op.dentry(directory, "n")
    )
    _lock_named_around_look(op, directory)


@operation(models="a link of /d/a as m under its lock")
def _link_under_lock(op: Op) -> None:
    directory = op.inode("/d")
    source = op.inode("/d/a")
    op.lock(source.i_rwsem, EXCL, "inode_lock(/d/a)")
    op.call("inode_operations.link", libfs.link, source, directory, op.dentry(directory, "m"))
    op.unlock(source.i_rwsem, "inode_unlock(/d/a)")


def test_a_name_the_thread_writes_before_its_lookup_predicts_nothing() -> None:
    """T1 links n itself, then looks it up: the register does not get the
    name's initial value (negative), so T1's later lock is any inode's
    until it looks, and both orders of the two locked sections are kept."""
    full, model = _ends_agree(
        "footprints/own-link",
        "a thread that links a name and locks what it holds, against a link under that lock",
        ["/d/", "/d/a"],
        [_link_then_lock_named(), _link_under_lock()],
    )
    _named, seen = sorted(model.threads[0].registers)
    assert {state[seen] is None for state in full} == {True, False}


@given(
    st.lists(st.lists(st.integers(0, 11), max_size=3).map(tuple), min_size=1, max_size=12),
    st.data(),
)
def test_the_steps_reached_and_their_unions_are_those_of_a_walk(
    edges: list[tuple[int, ...]], data: st.DataObject
) -> None:
    """``Reach`` on random step graphs (loops, jumps back, steps reached
    from nowhere): each step's mask of the steps it leads to, and unions
    over them, are those of walking the graph from that step."""
    after = [tuple(target % len(edges) for target in targets) for targets in edges]
    values = data.draw(st.lists(st.integers(0, 255), min_size=len(after), max_size=len(after)))
    reach = Reach(after)
    sizes = sorted(member for component in reach.components for member in component)
    assert sizes == list(range(len(after)))
    for start, (mask, total) in enumerate(zip(reach.steps(), reach.union(values), strict=True)):
        walked = {start}
        todo = [start]
        while todo:
            for target in after[todo.pop()]:
                if target not in walked:
                    walked.add(target)
                    todo.append(target)
        assert mask == sum(1 << pc for pc in walked)
        expected = 0
        for pc in walked:
            expected |= values[pc]
        assert total == expected


def test_a_run_that_records_an_error_is_not_audited(shipped: Registry) -> None:
    """The freeze that returns holding the levels (freeze-failure-keeps-
    levels) makes its last step record a lock-protocol error, which copies
    every slot into the error state: that run halts every thread, the
    reduction never takes it in an ample set, and the audit leaves it."""
    model = shipped.build(
        shipped.scenario("super/freeze-fs-fails"), ("freeze-failure-keeps-levels",)
    )
    assert audit_footprints(model) == []


def test_a_call_reads_the_flags_its_locking_rules_read(shipped: Registry) -> None:
    """->release_folio's rule reads the folio's PG_writeback, which other
    threads set and clear: the call's footprint includes that slot under a
    declared effect too, so the reduction never puts the call and the end
    of writeback in one order only."""
    model = shipped.build(shipped.scenario("writeback/write-invalidate-fsync"), ())
    [(tid, call)] = [
        (tid, c.step)
        for tid, thread in enumerate(model.threads)
        for c in thread.steps
        if isinstance(c.step, EffectStep)
        and getattr(c.step, "method", "").endswith("release_folio")
    ]
    folio = next(i for i, s in enumerate(model.world.slots) if s.name == "folio(/f:0)")
    declared = attrs.evolve(call, touches=lambda _world, _page: ([], []))
    regions = model.regions(tid)
    assert call.guard_reads(regions) >> folio & 1
    assert declared.footprint(regions).reads >> folio & 1
    without = shipped.build(
        shipped.scenario("writeback/write-invalidate-fsync"), (), ("lock-protocol",)
    )
    assert not call.guard_reads(without.regions(tid))


def test_an_acquisition_reads_what_its_guard_reads(shipped: Registry) -> None:
    """The acquisition guard of a dentry's d_lock (dentry-use-after-free)
    reads the dentry's life, which the kill's __d_free() writes: every
    acquisition of that d_lock, plain, by trylock or in a section, has the
    slot in its footprint, so the reduction never runs it in one order
    only against the free; a lock no guard watches reads nothing more."""
    model = shipped.build(shipped.scenario("dcache/dput-vs-d-lookup"), ())
    life = next(i for i, s in enumerate(model.world.slots) if s.name == "d_life(/a/x)")
    taking = [
        (tid, c.step)
        for tid, thread in enumerate(model.threads)
        for c in thread.steps
        if isinstance(c.step, LockStep | SectionStep | TryLockStep)
    ]
    guarded = [(tid, step) for tid, step in taking if step.lock.family == "d_lock"]
    assert {type(step) for _tid, step in guarded} == {LockStep, SectionStep}
    for tid, step in taking:
        reads = step.footprint(model.regions(tid)).reads
        watched = step.lock.fixed is not None and step.lock.fixed.name == "d_lock(/a/x)"
        assert bool(reads >> life & 1) == watched, step.label


TOUCHES_LEAVE_OUT = """
from mc.dsl import Op, Scratch, invariant, operation, scenario, touches


@touches(lambda world, slot, v: ([slot], [slot] if {declared} else []))
def setv(scratch: Scratch, slot: int, v: int) -> None:
    scratch[slot] = v


@touches(lambda world, x, bad: ([x], [bad]))
def judge(scratch: Scratch, x: int, bad: int) -> None:
    if scratch[x] == 1:
        scratch[bad] = 1


@operation(models="x = 1; x = 0")
def flip(op: Op) -> None:
    x = op.world.shared_slot("x", 0)
    op.effect("x = 1", setv, x, 1)
    op.effect("x = 0", setv, x, 0)


@operation(models="if (x) bad = 1")
def look(op: Op) -> None:
    op.effect("if (x) bad = 1", judge, op.world.shared_slot("x", 0), op.world.shared_slot("bad", 0))


@invariant("not-bad", "nobody sees x == 1", reads=["bad"])
def not_bad(model):
    bad = model.world.shared_slot("bad", 0)
    return lambda state: "saw x == 1" if state[bad] else None


scenario("my/touch", "x = 1 seen by another thread", tree=["/f"], threads=[flip(), look()],
         properties=["not-bad"])
"""


def test_check_refuses_a_users_declaration_that_leaves_out_a_write(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """Partial-order reduction trusts @touches: with x's write left out, the
    reduced search ran x = 1 and x = 0 together and said OK.  check audits
    a user's declarations first and says what one leaves out (exit 2);
    declared right, or with --no-por, the violation is found."""
    (tmp_path / "wrong.py").write_text(TOUCHES_LEAVE_OUT.replace("{declared}", "False"))
    (tmp_path / "right.py").write_text(TOUCHES_LEAVE_OUT.replace("{declared}", "True"))
    refused = vfsmc("check", f"{tmp_path / 'wrong.py'}:my/touch", "--no-save")
    assert refused.exit_code == 2, refused.output
    assert "step 'x = 1'" in refused.output and "writes x, which its footprint leaves out" in (
        refused.output
    )
    assert len(refused.output.strip().splitlines()) == 1
    unreduced = vfsmc("check", f"{tmp_path / 'wrong.py'}:my/touch", "--no-save", "--no-por")
    assert unreduced.exit_code == 1, unreduced.output
    right = vfsmc("check", f"{tmp_path / 'right.py'}:my/touch", "--no-save")
    assert right.exit_code == 1, right.output
    assert "saw x == 1" in right.output
    partial = TOUCHES_LEAVE_OUT.replace("{declared}", "False").replace(
        "@touches(lambda world, slot, v: ([slot], [slot] if False else []))",
        "@touches(functools.partial(lambda extra, world, slot, v: ([slot], []), None))",
    )
    (tmp_path / "partial.py").write_text("import functools\n" + partial)
    declared_by_partial = vfsmc("check", f"{tmp_path / 'partial.py'}:my/touch", "--no-save")
    assert declared_by_partial.exit_code == 2, declared_by_partial.output
    assert "writes x, which its footprint leaves out" in declared_by_partial.output
