"""d_alloc_parallel()'s in-lookup dentry as a model of your own uses it
(mc.models.dentry): one lookup of a name at a time, none left behind, and
a step that may sleep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Run = Callable[..., Result]

LOOKUP = """
from mc.dsl import EXCL, SHARED, LockKind, Op, operation, scenario
from mc.models.dentry import d_alloc_parallel, d_lookup_done


@operation(models="a lookup of /a/x of a filesystem of its own")
def my_lookup(op: Op) -> None:
    directory = op.inode("/a")
    spin = op.world.shared_lock("my_spin", LockKind.SPINLOCK)
    op.lock(directory.i_rwsem, SHARED, "inode_lock_shared(dir)")
{before}    looked_up = d_alloc_parallel(op, "/a/x")
{after}{done}    op.label(looked_up)
    op.unlock(directory.i_rwsem, "inode_unlock_shared(dir)")


scenario("my/lookup", "one lookup", tree=["/a/"], threads=[my_lookup()],
         properties=["lock-protocol", "deadlock", "one-lookup-per-name"])
"""
DONE = '    d_lookup_done(op, "/a/x")\n'
SPIN = '    op.lock(spin, EXCL, "spin_lock(&my_spin)")\n'
UNSPIN = '    op.unlock(spin, "spin_unlock(&my_spin)")\n'


def _check(vfsmc: Run, tmp_path: Path, before: str = "", after: str = "", done: str = DONE):
    model = tmp_path / "lookup.py"
    model.write_text(LOOKUP.format(before=before, after=after, done=done))
    return vfsmc("check", f"{model}:my/lookup", "--no-save")


def test_a_lookup_that_ends_its_in_lookup_dentry_passes(vfsmc: Run, tmp_path: Path) -> None:
    result = _check(vfsmc, tmp_path)
    assert result.exit_code == 0 and "my/lookup: OK" in result.output, result.output


def test_returning_with_an_in_lookup_dentry_is_caught(vfsmc: Run, tmp_path: Path) -> None:
    """Every later lookup of the name would wait for it for ever."""
    result = _check(vfsmc, tmp_path, done="")
    assert result.exit_code == 1, result.output
    assert "T1 returned with an in-lookup dentry of /a/x it never ended" in result.output


def test_d_alloc_parallel_under_a_spinlock_is_a_sleep_in_atomic(vfsmc: Run, tmp_path: Path) -> None:
    result = _check(vfsmc, tmp_path, before=SPIN, after=UNSPIN)
    assert result.exit_code == 1, result.output
    assert "lock-protocol" in result.output and "my_spin" in result.output


SELF = """
from mc.dsl import SHARED, Op, operation, scenario
from mc.models.dentry import d_alloc_parallel, d_lookup_done


@operation(models="a ->lookup that looks its own name up again")
def selfwalk(op: Op) -> None:
    directory = op.inode("/a")
    op.lock(directory.i_rwsem, SHARED, "inode_lock_shared(dir)")
    outer = d_alloc_parallel(op, "{name}")
    inner = d_alloc_parallel(op, "{name}")
    d_lookup_done(op, "{name}")
    op.label(inner)
    d_lookup_done(op, "{name}")
    op.label(outer)
    op.unlock(directory.i_rwsem, "inode_unlock_shared(dir)")


scenario("my/self", "self", tree=["/a/"], threads=[selfwalk()], properties=["lock-protocol"])
"""


def test_a_lookup_of_a_name_its_own_in_lookup_dentry_holds_waits_for_itself(
    vfsmc: Run, tmp_path: Path
) -> None:
    model = tmp_path / "self.py"
    model.write_text(SELF.format(name="/a/x"))
    result = vfsmc("check", f"{model}:my/self", "--no-save")
    assert result.exit_code == 1, result.output
    assert "T1 looks up a name its own in-lookup dentry holds" in result.output


def test_an_in_lookup_name_outside_the_tree_is_a_model_error(vfsmc: Run, tmp_path: Path) -> None:
    model = tmp_path / "self.py"
    model.write_text(SELF.format(name="/zz/x"))
    result = vfsmc("check", f"{model}:my/self", "--no-save")
    assert result.exit_code == 2 and "/zz is not in the scenario's tree" in result.output


def test_a_returned_label_never_placed_says_to_place_it(vfsmc: Run, tmp_path: Path) -> None:
    model = tmp_path / "self.py"
    model.write_text(SELF.format(name="/a/x").replace("    op.label(outer)\n", ""))
    result = vfsmc("check", f"{model}:my/self", "--no-save")
    assert result.exit_code == 2
    assert "a label a helper returned" in result.output and "op.label()" in result.output


FLAKY = """
from mc.dsl import SHARED, Op, Scratch, invariant, operation, scenario
from mc.models.dentry import d_alloc_parallel, d_lookup_done


def ask(scratch: Scratch, asked: int, cached: int) -> int:
    \"\"\"The server fails the first LOOKUP (-EIO); a later one d_add()s /a/x.\"\"\"
    scratch[asked] += 1
    if scratch[asked] == 1:
        return -5
    scratch[cached] = True
    return 0


def use(scratch: Scratch, ret: int | None, cached: int, wrong: int, thread: str) -> None:
    \"\"\"A waiter never ran ->lookup: its ret is None, and it goes on with the dentry.\"\"\"
    if (ret or 0) >= 0 and not scratch[cached]:
        scratch[wrong] = f"{{thread}} returns 0 with a dentry of /a/x no ->lookup hashed"


@operation(models="a walk of /a/x whose ->lookup asks a server that fails the first request")
def walk(op: Op) -> None:
    directory = op.inode("/a")
    asked = op.world.shared_slot("requests", 0)
    cached = op.world.shared_slot("x cached", False)
    wrong = op.world.shared_slot("myfs wrong dentry", None)
    op.lock(directory.i_rwsem, SHARED, "inode_lock_shared(dir)")
    looked_up = d_alloc_parallel(op, "/a/x")
    op.call("inode_operations.lookup", ask, asked, cached, label="->lookup(dir, dentry)",
            roles={{"dir": directory}})
    d_lookup_done(op, "/a/x"{failed})
    op.label(looked_up)
    op.effect("d_inode(dentry)", use, op.ret, cached, wrong, op.thread.name)
    op.unlock(directory.i_rwsem, "inode_unlock_shared(dir)")


@invariant("myfs-hashed", "a walk that returns 0 has a hashed dentry",
           reads=["myfs wrong dentry"])
def hashed(model):
    wrong = model.world.shared_slot("myfs wrong dentry", None)
    return lambda state: state[wrong]


scenario("my/flaky", "two walks of /a/x, the server fails the first", tree=["/a/"],
         threads=[walk(), walk()],
         properties=["lock-protocol", "deadlock", "one-lookup-per-name", "myfs-hashed"])
"""


def test_a_waiter_for_a_failed_lookup_looks_the_name_up_itself(vfsmc: Run, tmp_path: Path) -> None:
    """d_alloc_parallel()'s mismatch retry: the dentry a failed ->lookup
    leaves unhashed sends its waiter back to take one of its own.  A lookup
    that does not say it failed leaves the waiter with the unhashed dentry,
    which the user's property catches."""
    model = tmp_path / "flaky.py"
    model.write_text(
        FLAKY.format(failed=", failed=is_error(op.ret)").replace(
            "invariant, operation", "invariant, is_error, operation"
        )
    )
    result = vfsmc("check", f"{model}:my/flaky", "--no-save")
    assert result.exit_code == 0 and "my/flaky: OK" in result.output, result.output
    unsaid = tmp_path / "unsaid.py"
    unsaid.write_text(FLAKY.format(failed=""))
    result = vfsmc("check", f"{unsaid}:my/flaky", "--no-save")
    assert result.exit_code == 1, result.output
    assert "returns 0 with a dentry of /a/x no ->lookup hashed" in result.output


FOUND = "d_alloc_parallel(): if (another thread's in-lookup dentry of the name is hashed)"
SKIPS_WAIT = """
from mc.dsl import Invocation, Program, scenario, variant
from mc.models.dirops import lookup

FOUND = "d_alloc_parallel(): if (another thread's in-lookup dentry of the name is hashed)"


@variant("in-lookup-match-ignored", "d_alloc_parallel() goes on past another's in-lookup dentry")
def ignored(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(lookup):
        return program
    return program.force(FOUND, False)


scenario("my/two-lookups", "two lookups of one name", tree=["/a/", "/a/x"],
         threads=[lookup("/a/x"), lookup("/a/x")])
"""


def test_a_lookup_run_on_another_thread_s_in_lookup_dentry_is_caught(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A lookup that goes on to ->lookup with the in-lookup dentry another
    thread holds, instead of waiting for it, runs ->lookup of a name it
    holds no in-lookup dentry of: caught where it calls ->lookup, though
    only one thread ever holds the name's in-lookup dentry."""
    (tmp_path / "skips.py").write_text(SKIPS_WAIT)
    ok = vfsmc("check", "skips.py:my/two-lookups", "--no-save")
    assert ok.exit_code == 0, ok.output
    result = vfsmc("check", "skips.py:my/two-lookups", "-V", "in-lookup-match-ignored", "--no-save")
    assert result.exit_code == 1, result.output
    assert "one-lookup-per-name in my/two-lookups" in result.output
    assert (
        "T2 calls ->lookup of /a/x holding no in-lookup dentry of it (T1's is in lookup)"
        in result.output
    )
    assert f"{FOUND} /* never */  skips.py:12" in result.output


def test_replay_on_the_correct_protocol_names_the_test_the_variant_forced(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A trace through a forced test stops on the correct protocol at that
    test, named as the test the variant forced, not as an unknown step."""
    (tmp_path / "skips.py").write_text(SKIPS_WAIT)
    found = vfsmc("check", "skips.py:my/two-lookups", "-V", "in-lookup-match-ignored")
    assert found.exit_code == 1, found.output
    saved = tmp_path / "counterexamples" / "my-two-lookups--in-lookup-match-ignored.json"
    replayed = vfsmc("replay", str(saved), "--correct")
    assert replayed.exit_code == 0, replayed.output
    assert (
        f"is at the test '{FOUND}', which the trace's variant made never hold (program.force) "
        "and which this protocol evaluates" in replayed.output
    )


ENDS_EARLY = """
from mc.dsl import Invocation, Program, scenario, variant
from mc.models.dirops import lookup


@variant("lookup-done-early", "__lookup_slow() calls d_lookup_done() before ->lookup")
def early(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(lookup):
        return program
    done = program.step("d_lookup_done(dentry)")
    call = program.step("old = inode->i_op->lookup(inode, dentry, flags)")
    return program.move_before([done], call)


scenario("my/two-lookups", "two lookups of one name", tree=["/a/", "/a/x"],
         threads=[lookup("/a/x"), lookup("/a/x")])
"""


def test_a_lookup_that_ends_its_in_lookup_dentry_before_lookup_is_caught(
    vfsmc: Run, tmp_path: Path
) -> None:
    """d_lookup_done() moved before ->lookup wakes the waiters while
    ->lookup has yet to run: the thread calls ->lookup holding no in-lookup
    dentry, and another lookup of the name may run ->lookup beside it."""
    (tmp_path / "early.py").write_text(ENDS_EARLY)
    result = vfsmc("check", "early.py:my/two-lookups", "-V", "lookup-done-early", "--no-save")
    assert result.exit_code == 1, result.output
    assert "one-lookup-per-name in my/two-lookups" in result.output
    assert "calls ->lookup of /a/x holding no in-lookup dentry of it" in result.output
