"""Symmetry reduction (``vfsmc check --symmetry``): which threads are
interchangeable, that every representative is a state of the model itself
(the permutation it applies is a true symmetry), and that the verdicts and
violated properties of the shipped scenarios with interchangeable threads
are those of the search without it, with counterexamples that replay on
the unreduced model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import representatives_reachable

from mc.check.checker import check_scenario
from mc.check.registry import with_files
from mc.dsl import symmetry
from mc.dsl.scenario import Registry
from mc.dsl.symmetry import interchangeable, representative
from mc.engine.explore import Options, Search
from mc.engine.result import Strategy, Verdict
from mc.kernel.world import ModelError

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
SYMMETRIC = {
    "dcache/automount": ((), ("automount-no-recheck",)),
    "dcache/parallel-lookups": ((), ("no-in-lookup-wait",)),
    "filelock/flock-upgrade": ((), ("flock-upgrade-in-place",)),
    "filelock/ofd-threads": ((), ("ofd-owner-is-files",)),
    "file/two-reads-shared-file": ((), ("no-fdget-pos",)),
    "file/two-seeks-chrdev": ((), ("seek-cur-without-f-lock",)),
    "file/two-seeks-regular": ((), ("f-lock-only-without-f-pos-lock", "no-fdget-pos")),
    "super/two-thaws": ((), ("thaw-s_umount-shared",)),
}
"""Shipped scenarios with two threads running one operation alike, and
their rows in specs/expectations.toml."""

ALWAYS_NAMED = {"dcache/parallel-lookups"}
"""Scenarios whose interchangeable threads a lock names in every state but
those where they are alike anyway (the two lookups hold i_rwsem(/a)
shared from their first step to their last): no representative moves
them, which loses reduction, not states."""


def test_every_shipped_scenario_with_interchangeable_threads_is_tested(shipped: Registry) -> None:
    """The tests below check each of them: their representatives are
    reachable and their verdicts those of the search without symmetry."""
    found = {
        name
        for name, scenario in shipped.scenarios.items()
        if interchangeable(shipped.build(scenario, ()))
    }
    assert found == set(SYMMETRIC)


def test_interchangeable_threads(shipped: Registry) -> None:
    for name in SYMMETRIC:
        model = shipped.build(shipped.scenario(name), ())
        (pair,) = interchangeable(model)
        assert len(pair) == 2 and pair[1] == pair[0] + 1, name
    writers = shipped.build(shipped.scenario("writeback/write-vs-fsync"), ())
    first, second = writers.threads[0], writers.threads[1]
    assert first.invocation == second.invocation
    assert interchangeable(writers) == []  # each write stores its own data version


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
def test_representatives_are_reachable(shipped: Registry, name: str) -> None:
    model = shipped.build(shipped.scenario(name), ())
    normalise = representative(model)
    assert normalise is not None
    search = Search(model, Options(reduce=False, exact=True))
    search.run()
    reachable = set(search.states)
    moved = 0
    for state in search.states:
        image, perm = normalise(state)
        assert image in reachable
        if perm != tuple(range(len(model.threads))):
            moved += 1
            assert normalise(image)[0] == image
    assert (moved == 0) == (name in ALWAYS_NAMED)


@pytest.mark.parametrize(
    ("name", "variants"), [(name, rows) for name, both in SYMMETRIC.items() for rows in both]
)
def test_same_verdicts_with_and_without(
    shipped: Registry, name: str, variants: tuple[str, ...]
) -> None:
    options = Options(reduce=False, exact=True)
    alone = check_scenario(shipped, name, variants, options=options)
    reduced = check_scenario(shipped, name, variants, options=options, symmetry=True)
    assert reduced.result.verdict is alone.result.verdict
    assert reduced.result.stats.states <= alone.result.stats.states
    if alone.result.verdict is Verdict.VIOLATED:
        first, second = alone.result.violation, reduced.result.violation
        assert first is not None and second is not None
        assert second.property == first.property
        assert reduced.counterexample is not None  # check_scenario replayed it unreduced
        assert second.path is not None and first.path is not None
        assert len(second.path) == len(first.path)


def test_symmetry_turns_the_reduction_off() -> None:
    """The quotient names no footprints, so the report says nothing of a
    reduction looked for and given up (every property of this scenario
    says what it reads, so the search without symmetry reduces)."""
    registry = with_files([ROOT / "bench" / "scale" / "symmetry.py"])
    name = "scale/lookups-beside-creates"
    reducing = {"reduced_states", "reduction_stopped_after"}
    assert reducing & set(check_scenario(registry, name).result.stats.extra)
    outcome = check_scenario(registry, name, symmetry=True)
    assert not reducing & set(outcome.result.stats.extra)


def test_symmetry_from_the_command_line(vfsmc: Run) -> None:
    args = ("check", "dcache/automount", "--json", "--no-save", "--no-por")
    plain, reduced = vfsmc(*args), vfsmc(*args, "--symmetry")
    assert plain.exit_code == reduced.exit_code == 0
    assert json.loads(reduced.output)["states"] < json.loads(plain.output)["states"]
    spread = vfsmc("check", "dcache/automount", "--symmetry", "--workers", "2")
    assert spread.exit_code == 2 and spread.output.startswith("vfsmc: error:")


def test_symmetry_where_no_threads_are_interchangeable_says_it_changes_nothing(
    vfsmc: Run,
) -> None:
    args = ("check", "dirops/rename-rmdir-link", "--json", "--no-save")
    plain, asked = vfsmc(*args), vfsmc(*args, "--symmetry")
    assert plain.exit_code == asked.exit_code == 0
    assert asked.stderr.strip() == (
        "vfsmc: note: no threads of dirops/rename-rmdir-link are interchangeable: no two "
        "threads run one operation with the same arguments, which name what a thread works "
        "on; --symmetry changes nothing here (partial-order reduction applies as without it)"
    )
    report = json.loads(asked.stdout)
    assert report["states"] == json.loads(plain.stdout)["states"]
    noted = vfsmc("check", "dcache/automount", "--json", "--no-save", "--symmetry")
    assert "interchangeable" not in noted.stderr


NOT_DETERMINISTIC = """\
from mc.dsl import invariant, scenario
from mc.models.dirops import link, rename

calls = [0]


@invariant("p-seventh", "violated the seventh time it is asked, whatever the state")
def p_seventh(model):
    def check(state):
        calls[0] += 1
        return "the seventh call" if calls[0] == 7 else None

    return check


scenario("sym/not-deterministic", "a link racing a rename", tree=["/a/", "/c/", "/c/e"],
         threads=[link("/c/e", "/a/f"), rename("/c/e", "/a/x")])
"""


def test_where_no_threads_are_interchangeable_a_bad_trace_does_not_blame_the_symmetry(
    vfsmc: Run, tmp_path: Path
) -> None:
    """With no interchangeable threads --symmetry changes nothing: a trace
    that does not re-execute is the property's (not deterministic), not
    the symmetry's."""
    (tmp_path / "seventh.py").write_text(NOT_DETERMINISTIC)
    found = vfsmc(
        "check", "seventh.py:sym/not-deterministic", "-p", "p-seventh", "--symmetry", "--no-save"
    )
    assert found.exit_code == 2, found.output
    assert "is not deterministic" in found.output and "took as interchangeable" not in found.output


def test_a_reduced_path_that_is_no_path_of_the_model_blames_the_symmetry(
    shipped: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were threads taken as interchangeable that are not, the violation
    found on the quotient is no violation of the scenario: the check says
    so and suggests checking without --symmetry, instead of blaming the
    model or failing inside the search."""
    monkeypatch.setattr(symmetry, "_names", lambda value, tid_of, into: None)
    with pytest.raises(ModelError, match=r"--symmetry on filelock/ofd-threads: .* check without"):
        check_scenario(shipped, "filelock/ofd-threads", symmetry=True)
    with pytest.raises(ModelError, match=r"--symmetry on filelock/ofd-threads: .* check without"):
        check_scenario(
            shipped, "filelock/ofd-threads", options=Options(strategy=Strategy.DFS), symmetry=True
        )


T1_LOSES = """\
from mc.dsl import invariant, scenario
from mc.dsl.kernel_model import DONE
from mc.models.dirops import rmdir


@invariant("t1-loses", "x"{reads}, terminal=True)
def t1_loses(model):
    t = model.threads[0]
    return lambda s: "T1 won" if s[t.slots.pc] == DONE and s[t.slots.ret] == 0 else None


scenario("my/two-rmdirs", "x", tree=["/a/", "/a/b/"],
         threads=[rmdir("/a/b"), rmdir("/a/b")], properties=["t1-loses", "deadlock"])
"""
"""Two rmdirs of one directory and an invariant that T1 loses, which looks
at T1 alone ({reads}: its reads= declaration, or nothing)."""


@pytest.mark.parametrize("form", ["returned", "registers"])
def test_a_property_reading_one_interchangeable_thread_is_refused(
    vfsmc: Run, tmp_path: Path, form: str
) -> None:
    """Reading returned(T1) (or registers(T1)) and not T2's tells the two
    rmdirs apart: --symmetry would prune the state where T1 wins; it is
    refused."""
    (tmp_path / "one.py").write_text(T1_LOSES.format(reads=f", reads=['{form}(T1)']"))
    plain = vfsmc("check", "one.py:my/two-rmdirs", "--no-save")
    assert plain.exit_code == 1 and "T1 won" in plain.output
    refused = vfsmc("check", "one.py:my/two-rmdirs", "--symmetry", "--no-save")
    assert refused.exit_code == 2
    assert f"property t1-loses reads {form}(T1) and not the same of T2" in refused.output


def test_a_property_of_ones_own_reading_every_interchangeable_thread_is_refused(
    vfsmc: Run, tmp_path: Path
) -> None:
    """An invariant whose reads= names the registers and returns of both
    rmdirs but whose test looks at T1 alone: nothing shows it, so
    --symmetry, which would store one of the two states where one rmdir
    won and say OK, is refused."""
    both = "'returned(T1)', 'returned(T2)', 'registers(T1)', 'registers(T2)'"
    (tmp_path / "both.py").write_text(T1_LOSES.format(reads=f", reads=[{both}]"))
    plain = vfsmc("check", "both.py:my/two-rmdirs", "--no-save")
    assert plain.exit_code == 1 and "T1 won" in plain.output
    refused = vfsmc("check", "both.py:my/two-rmdirs", "--symmetry", "--no-save")
    assert refused.exit_code == 2, refused.output
    assert "property t1-loses reads returned(T1), returned(T2), threads --symmetry" in (
        refused.output
    )


def test_a_property_that_does_not_say_what_it_reads_is_refused(vfsmc: Run, tmp_path: Path) -> None:
    """An invariant without reads= that looks at T1 alone: --symmetry
    would prune the state where T2 ran first and say OK."""
    (tmp_path / "undeclared.py").write_text(T1_LOSES.format(reads=""))
    plain = vfsmc("check", "undeclared.py:my/two-rmdirs", "--no-save")
    assert plain.exit_code == 1 and "T1 won" in plain.output
    refused = vfsmc("check", "undeclared.py:my/two-rmdirs", "--symmetry", "--no-save")
    assert refused.exit_code == 2, refused.output
    assert "property t1-loses does not say what it reads (reads=)" in refused.output


TWO_READS = """\
from mc.dsl import BASE_PROPERTIES, File, scenario
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.models.writeback import io_completion, read

HOLE = File("/f", pages=2, cached=(0,), holes=(1,))
scenario("sym/two-reads", "two reads of a hole page", tree=["/f"],
         threads=[read(HOLE, 1), read(HOLE, 1), io_completion(HOLE)],
         properties=(*BASE_PROPERTIES, *PAGECACHE_PROPERTIES))
"""


def test_two_reads_that_add_a_folio_are_interchangeable(tmp_path: Path) -> None:
    """A read adds a folio its thread locks: the step takes the thread's
    number from the scratch it runs in (no constant of the program) and the
    wait for the lock names the thread's register (a bound method of its
    folio reference), which is renamed, so the reads are interchangeable,
    and every representative of a reachable state is reachable."""
    (tmp_path / "reads.py").write_text(TWO_READS)
    registry = with_files([tmp_path / "reads.py"])
    model = registry.build(registry.scenario("sym/two-reads"), ())
    assert interchangeable(model) == [[0, 1]]
    assert representatives_reachable(model)
    options = Options(reduce=False, exact=True)
    alone = check_scenario(registry, "sym/two-reads", (), options=options)
    reduced = check_scenario(registry, "sym/two-reads", (), options=options, symmetry=True)
    assert alone.result.verdict is reduced.result.verdict is Verdict.OK
    assert reduced.result.stats.states < alone.result.stats.states


FAST_PATH = """\
from mc.dsl import Op, const, invariant, not_, operation, same, scenario


def claim(scratch, owner, me):
    if scratch[owner] == me:
        scratch[owner] = None
        return me
    return None


def tick(scratch, slot):
    scratch[slot] = scratch[slot] + 1


def recheck(scratch, token, me, flag):
    if token == me:
        scratch[flag] = 1


@invariant("never-flagged", "the owner's recheck never passes", reads=["flag"])
def never_flagged(model):
    flag = model.world.shared_slot("flag", 0)
    return lambda s: "the owner passed its recheck" if s[flag] else None


@operation(models="the thread whose number owner holds takes the fast path")
def contender(op: Op) -> None:
    owner = op.world.shared_slot("owner", 0)
    flag = op.world.shared_slot("flag", 0)
    ticks = op.world.shared_slot("ticks", 0)
    me = op.thread.tid
    token = op.compute("token", "token = claim(&owner)", claim, owner, me)
    op.goto_if(not_(same(token, const(None))), "fast", "if (token) goto fast")
    op.effect("ticks++", tick, ticks)
    op.effect("ticks++ again", tick, ticks)
    op.goto("out")
    op.label("fast")
    op.effect("if (token == me) flag = 1", recheck, token, me, flag)
    op.label("out")


scenario("sym/fast-path", "two contenders, the first owns at the start", tree=[],
         threads=[contender(), contender()], properties=["never-flagged"])
"""


def test_threads_whose_programs_hold_their_own_numbers_are_not_interchangeable(
    tmp_path: Path,
) -> None:
    """A program given its thread's number as a constant may store it in
    data (an owner field), where no permutation renames it: the two
    contenders differ only by that number and are not grouped, and
    ``--symmetry`` finds the violation the search without it finds."""
    (tmp_path / "fast.py").write_text(FAST_PATH)
    registry = with_files([tmp_path / "fast.py"])
    model = registry.build(registry.scenario("sym/fast-path"), ())
    assert interchangeable(model) == []
    for use in (False, True):
        outcome = check_scenario(registry, "sym/fast-path", (), symmetry=use)
        assert outcome.result.verdict is Verdict.VIOLATED


IGRAB_TWICE = """\
from mc.dsl import EXCL, operation, scenario
from mc.kernel.inode_life import I_FREEING, I_WILL_FREE, state_has
from mc.kernel.pagecache import File, pagecache
from mc.models.inode import _iget_ref, iput, iput_last, part_of


@operation(models="igrab() then iput() (fs/inode.c)", describe=lambda f: f"igrab+iput({f})")
def grab_drop(op, file):
    part = part_of(op, file)
    inode = part.inode
    mapping = pagecache(op.world).attach(file)
    op.lock(inode.i_lock, EXCL, "igrab(): spin_lock(&inode->i_lock)")
    with op.when(
        state_has(inode, I_FREEING | I_WILL_FREE, "inode->i_state & (I_FREEING|I_WILL_FREE)"),
        "if (inode->i_state & (I_FREEING|I_WILL_FREE))",
    ):
        op.unlock(inode.i_lock, "spin_unlock(&inode->i_lock); return NULL")
        op.goto("grabbed_none")
    op.effect("__iget(inode)", _iget_ref, inode)
    op.unlock(inode.i_lock, "spin_unlock(&inode->i_lock)")
    iput(op, part, mapping, drops=True)
    op.label("grabbed_none")
    op.effect("/* later: read the on-disk inode count */", _peek, inode)
    op.effect("/* later: read it again */", _peek, inode)
    op.effect("/* later: and again */", _peek, inode)


def _peek(scratch, inode):
    return scratch[inode.on_disk]


F = File("/f", pages=1, cached=(0,))

scenario(
    "my/igrab-twice",
    "two igrab()+iput() of an unlinked file's inode while the last dentry reference is dropped",
    tree=["/f"],
    threads=[iput_last(F), grab_drop(F), grab_drop(F)],
    properties=("no-use-after-evict",),
)
"""


def test_two_interchangeable_threads_that_may_each_evict_keep_the_evictor_named(
    tmp_path: Path,
) -> None:
    """The thread in ->evict_inode is recorded by name, which pins it in
    place: with two interchangeable igrab()+iput() threads, either of which
    may drop the last reference, every representative is reachable and
    --symmetry gives the verdict the search without it gives."""
    (tmp_path / "igrab.py").write_text(IGRAB_TWICE)
    registry = with_files([tmp_path / "igrab.py"])
    model = registry.build(registry.scenario("my/igrab-twice"), ())
    assert interchangeable(model) == [[1, 2]]
    assert representatives_reachable(model)
    for use in (False, True):
        outcome = check_scenario(registry, "my/igrab-twice", (), symmetry=use)
        assert outcome.result.verdict is Verdict.OK


NAMED_AFTER_THE_THREAD = """
from mc.dsl import Op, Scratch, operation, scenario, touches


@touches(lambda world, slot: ([], [slot]))
def put(scratch: Scratch, slot: int) -> None:
    scratch[slot] = 1


@operation(models="sets a flag named after its thread")
def flagger(op: Op) -> None:
    op.effect("flag = 1", put, op.world.shared_slot(f"flag {op.thread.name}", 0))


scenario("my/named", "", tree=[], threads=[flagger(), flagger()], properties=["deadlock"])
"""


def test_symmetry_says_why_two_threads_of_one_invocation_are_not_interchangeable(
    vfsmc: Run, tmp_path: Path
) -> None:
    (tmp_path / "named.py").write_text(NAMED_AFTER_THE_THREAD)
    asked = vfsmc("check", "named.py:my/named", "--symmetry", "--no-save")
    assert asked.exit_code == 0, asked.output
    assert (
        "T1 and T2 run flagger(), but their programs differ once each one's own registers "
        "are renamed: a slot or lock named after the thread"
    ) in asked.output
