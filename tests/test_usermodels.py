"""Model files outside the repository: a variant and a whole new operation
checked with FILE.py:SCENARIO and --models, and every kind of mistake in a
model reported as one line naming the file and line, exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import FSYNC_HOOKS_UNDER_A_FLAG, INSERTS_INTO_ONE_STORE

from mc.check import usermodels
from mc.project import ROOT

Run = Callable[..., Result]

NEW_OPERATION = '''\
"""A new operation: lock two directories in the order given."""

from mc.dsl.operation import Op, operation
from mc.kernel.locks import EXCL
from mc.dsl.scenario import scenario


@operation(models="two inode_lock() calls", describe=lambda a, b: f"lock_both({a}, {b})")
def lock_both(op: Op, first: str, second: str) -> None:
    """Lock ``first`` then ``second``, then unlock both."""
    a, b = op.inode(first), op.inode(second)
    op.lock(a.i_rwsem, EXCL, "inode_lock(a)")
    op.lock(b.i_rwsem, EXCL, "inode_lock(b)")
    op.unlock(b.i_rwsem, "inode_unlock(b)")
    op.unlock(a.i_rwsem, "inode_unlock(a)")


scenario(
    "{name}/same-order",
    "both threads lock /a then /b",
    tree=["/a/", "/b/"],
    threads=[lock_both("/a", "/b"), lock_both("/a", "/b")],
)
scenario(
    "{name}/opposite-order",
    "the threads lock /a and /b in opposite orders",
    tree=["/a/", "/b/"],
    threads=[lock_both("/a", "/b"), lock_both("/b", "/a")],
)
'''


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_a_new_operation_in_a_file_of_its_own(vfsmc: Run, tmp_path: Path) -> None:
    _write(tmp_path / "mine", "order.py", NEW_OPERATION.replace("{name}", "newop"))
    ok = vfsmc("check", "mine/order.py:newop/same-order", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["verdict"] == "OK"
    bad = vfsmc("check", "mine/order.py:newop/opposite-order")
    assert bad.exit_code == 1
    assert "cycle: T1 -> i_rwsem(/b) -> T2 -> i_rwsem(/a) -> T1" in bad.output
    assert "mine/order.py:" in bad.output
    listed = vfsmc("list", "--models", "mine", "--json")
    assert "newop/opposite-order" in json.loads(listed.output)["scenarios"]
    saved = Path("mine/counterexamples/newop-opposite-order.json")
    assert json.loads(saved.read_text())["models"] == ["../order.py"]
    replayed = vfsmc("replay", str(saved))
    assert replayed.exit_code == 1, replayed.output
    Path("mine").rename("moved")
    assert vfsmc("replay", "moved/counterexamples/newop-opposite-order.json").exit_code == 1
    Path("elsewhere").mkdir()
    alone = Path("elsewhere/one.json")
    alone.write_text(Path("moved/counterexamples/newop-opposite-order.json").read_text())
    missing = vfsmc("replay", str(alone))
    assert missing.exit_code == 2
    assert "records model file ../order.py" in missing.output
    assert "pass the file with --models FILE" in missing.output
    for given in ("moved/order.py", "moved"):
        assert vfsmc("replay", str(alone), "--models", given).exit_code == 1


FOLIO_ORDER = '''\
"""An operation of a filesystem that locks a cached folio and i_rwsem."""

from mc.dsl import EXCL, File, Op, not_, operation, scenario
from mc.dsl.folio import find_folio, put_folio
from mc.models.writeback import write

FILE = File("/f", pages=1, cached=(0,))


@operation(models="myfs_scrub() (fs/myfs/scrub.c)")
def scrub(op: Op, file: File, inode_first: bool) -> None:
    inode = op.inode(file.path)
    if inode_first:
        op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)")
    ref = find_folio(op, op.mapping(file).page(0), "folio = filemap_get_folio(mapping, 0)")
    op.goto_if(not_(ref.found), "out", "if (!folio) goto out")
    op.lock(ref.lock, EXCL, "folio_lock(folio)")
    if not inode_first:
        op.lock(inode.i_rwsem, EXCL, "inode_lock(inode)")
        op.unlock(inode.i_rwsem, "inode_unlock(inode)")
    op.unlock(ref.lock, "folio_unlock(folio)")
    put_folio(op, ref)
    op.label("out")
    if inode_first:
        op.unlock(inode.i_rwsem, "inode_unlock(inode)")


scenario("scrub/folio-first", "the folio lock, then i_rwsem, against a write",
         tree=["/f"], threads=[scrub(FILE, False), write(FILE, 0)])
scenario("scrub/inode-first", "i_rwsem, then the folio lock, against a write",
         tree=["/f"], threads=[scrub(FILE, True), write(FILE, 0)])
'''


def test_an_operation_of_a_users_file_takes_a_folio_lock(vfsmc: Run, tmp_path: Path) -> None:
    """The folio API the README documents (``find_folio``, ``ref.lock``,
    ``put_folio``): against a write, which takes i_rwsem before the folio
    lock, the opposite order deadlocks and the same order passes."""
    _write(tmp_path, "scrub.py", FOLIO_ORDER)
    opposite = vfsmc("check", "scrub.py:scrub/folio-first", "--json", "--no-save")
    report = json.loads(opposite.output)
    assert (report["verdict"], report["property"]) == ("VIOLATED", "deadlock"), opposite.output
    assert "PG_locked(/f:0#0)" in report["message"] and "i_rwsem(/f)" in report["message"]
    same = vfsmc("check", "scrub.py:scrub/inode-first", "--json", "--no-save")
    assert json.loads(same.output)["verdict"] == "OK", same.output


def test_models_given_replace_the_recorded_file_still_in_place(vfsmc: Run, tmp_path: Path) -> None:
    """A changed copy of a recorded model file, declaring the same names,
    is what the trace replays against: the recorded file is not loaded."""
    original = NEW_OPERATION.replace("{name}", "replaced")
    _write(tmp_path / "mine", "order.py", original)
    assert vfsmc("check", "mine/order.py:replaced/opposite-order").exit_code == 1
    saved = "mine/counterexamples/replaced-opposite-order.json"
    in_order = "op.inode(min(first, second)), op.inode(max(first, second))"
    changed = original.replace("op.inode(first), op.inode(second)", in_order)
    assert changed != original
    _write(tmp_path / "mine" / "alt", "order.py", changed)
    replayed = vfsmc("replay", saved, "--models", "mine/alt/order.py")
    assert replayed.exit_code == 0, replayed.output
    assert "declared twice" not in replayed.output
    assert "does not reproduce on the correct protocol (no variants): step 2" in replayed.output
    assert f"replayed on the models of vfsmc in {ROOT}" in replayed.output.splitlines()
    reproduced = vfsmc("replay", saved, "--models", "mine/order.py")
    assert reproduced.exit_code == 1, reproduced.output
    assert f"replayed on the models of vfsmc in {ROOT}" in reproduced.output.splitlines()
    for command, output in (("graph", "chart.dot"), ("report", "page.html")):
        drawn = vfsmc(command, saved, "--models", "mine/alt", "-o", output)
        assert drawn.exit_code == 0, drawn.output
        assert "declared twice" not in drawn.output
        assert "does not replay on today's models" in drawn.output
    _write(tmp_path / "mine" / "alt", "broken.py", changed + "\nraise ValueError('no')\n")
    broken = vfsmc("replay", saved, "--models", "mine/alt/broken.py")
    assert broken.exit_code == 2
    assert broken.output.startswith("vfsmc: error: mine/alt/broken.py:"), broken.output
    _write(tmp_path / "mine" / "alt", "none.py", "from mc.dsl.scenario import scenario\n")
    missing = vfsmc("replay", saved, "--models", "mine/alt/none.py")
    assert missing.exit_code == 2
    assert "none of the model files given declares it" in missing.output
    assert "--models replaces the model files the trace records (../order.py)" in missing.output


def test_a_model_file_imports_the_files_beside_it(vfsmc: Run, tmp_path: Path) -> None:
    """As a script can: an operation in one file, scenarios in another."""
    operation, scenarios = NEW_OPERATION.split("\n\nscenario(", 1)
    _write(tmp_path / "split", "lock_both_op.py", operation)
    uses = "from lock_both_op import lock_both\nfrom mc.dsl.scenario import scenario\n\n"
    _write(
        tmp_path / "split",
        "scenarios.py",
        uses + "scenario(" + scenarios.replace("{name}", "split"),
    )
    bad = vfsmc("check", "split/scenarios.py:split/opposite-order", "--no-save")
    assert bad.exit_code == 1, bad.output
    assert "cycle: T1 -> i_rwsem(/b) -> T2 -> i_rwsem(/a) -> T1" in bad.output


def test_a_variant_only_an_imported_file_declares_is_named_with_the_file_to_load(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A variant declared in a file a model file imports (and that is not
    loaded itself) is unknown, and the error names that file and line;
    loaded, it is known (and here changes nothing)."""
    _write(
        tmp_path / "imported",
        "declares_flag.py",
        "from mc.dsl import flag_variant\n\n"
        "flag_variant('imported-only-flag', 'declared where it is imported')\n",
    )
    _write(
        tmp_path / "imported",
        "uses_it.py",
        "import declares_flag  # noqa: F401\n"
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import mkdir\n\n"
        "scenario('imported/mkdir', 'a mkdir', tree=['/a/'], threads=[mkdir('/a/d')])\n",
    )
    spec = "imported/uses_it.py:imported/mkdir"
    result = vfsmc("check", spec, "-V", "imported-only-flag", "--no-save")
    assert result.exit_code == 2, result.output
    assert result.output == (
        "vfsmc: error: unknown variant 'imported-only-flag': imported/declares_flag.py:3 "
        "declares it, in a module a model file imports, and a declaration counts only in a "
        "file loaded itself: add --models imported/declares_flag.py\n"
    )
    loaded = vfsmc(
        "check", spec, "-V", "imported-only-flag", "--models", "imported/declares_flag.py"
    )
    assert (
        loaded.output
        == "vfsmc: error: variant imported-only-flag changes nothing in imported/mkdir\n"
    )


def test_a_variant_of_a_shipped_operation_on_a_shipped_scenario(vfsmc: Run, tmp_path: Path) -> None:
    _write(
        tmp_path,
        "victim.py",
        "from mc.dsl.scenario import variant\n"
        "from mc.models.dirops import rmdir\n\n\n"
        '@variant("mine-rmdir-unlocked-victim", "no victim lock in rmdir")\n'
        "def unlocked(program, invocation):\n"
        "    if invocation.operation is not rmdir:\n"
        "        return program\n"
        '    return program.drop_lock("i_rwsem(victim)")\n',
    )
    result = vfsmc(
        "check",
        "dirops/rename-rmdir-link",
        "--models",
        "victim.py",
        "-V",
        "mine-rmdir-unlocked-victim",
        "-p",
        "namespace",
        "--json",
    )
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["property"] == "namespace"


ERRORS = {
    "syntax": ("x = (\n", "{file}:1: SyntaxError: "),
    "unknown-path": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "@operation(models='test')\n"
        "def walk(op):\n"
        "    op.inode('/nope')\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[walk()])\n",
        "{file}:6: in walk: /nope is not in the scenario's tree",
    ),
    "not-a-lock": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "@operation(models='test')\n"
        "def grab(op):\n"
        "    op.lock('i_rwsem(/a)')\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[grab()])\n",
        "{file}:6: in grab: not a lock: 'i_rwsem(/a)'",
    ),
    "shared-spinlock": (
        "from mc.dsl import SHARED, LockKind, operation, scenario\n\n"
        "@operation(models='test')\n"
        "def grab(op):\n"
        "    op.lock(op.world.shared_lock('my_spin(/a)', LockKind.SPINLOCK), SHARED)\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[grab()])\n",
        "{file}:5: in grab: my_spin(/a) is a spinlock, which has no shared mode: take it EXCL",
    ),
    "unknown-lock": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "@operation(models='test')\n"
        "def grab(op):\n"
        "    op.lock(op.world.superblock.s_nope)\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[grab()])\n",
        "{file}:6: in grab: AttributeError: 'Superblock' object has no attribute 's_nope'",
    ),
    "raises-at-run-time": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "def boom(fs, ino):\n"
        "    return dict()[ino]\n\n"
        "@operation(models='test')\n"
        "def run(op):\n"
        "    a = op.inode('/a')\n"
        "    op.lock(a.i_rwsem)\n"
        "    op.effect('boom', boom, a)\n"
        "    op.unlock(a.i_rwsem)\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[run()])\n",
        "{file}:5: in boom: KeyError: 1",
    ),
    "unhashable-slot-value": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "def put(scratch, slot):\n"
        "    scratch[slot] = [1, 2]\n\n"
        "@operation(models='test')\n"
        "def keep(op):\n"
        "    op.effect('put', put, op.world.shared_slot('kept', 0))\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[keep()])\n",
        "{file}:5: in put: slot kept cannot hold [1, 2]: a list has no hash; a slot holds "
        "ints, floats",
    ),
    "unhashable-initial-value": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "@operation(models='test')\n"
        "def keep(op):\n"
        "    op.world.shared_slot('kept', {'a': 1})\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[keep()])\n",
        "{file}:6: in keep: slot kept cannot hold {{'a': 1}}: a dict has no hash; a slot holds",
    ),
    "identity-slot-value": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "def put(scratch, slot):\n"
        "    scratch[slot] = (1, object())\n\n"
        "@operation(models='test')\n"
        "def keep(op):\n"
        "    op.effect('put', put, op.world.shared_slot('kept', 0))\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[keep()])\n",
        "{file}:5: in put: slot kept cannot hold (1, <object object at ",
    ),
    "nan-slot-value": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "def put(scratch, slot):\n"
        "    scratch[slot] = float('nan')\n\n"
        "@operation(models='test')\n"
        "def keep(op):\n"
        "    op.effect('put', put, op.world.shared_slot('kept', 0))\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[keep()])\n",
        "{file}:5: in put: slot kept cannot hold nan: a float that equals nothing, not even",
    ),
    "minus-one-inside-a-tuple": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "def put(scratch, slot):\n"
        "    scratch[slot] = (0, (-1,))\n\n"
        "@operation(models='test')\n"
        "def keep(op):\n"
        "    op.effect('put', put, op.world.shared_slot('kept', 0))\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[keep()])\n",
        "{file}:5: in put: slot kept cannot hold (0, (-1,)): -1 inside a tuple or frozenset "
        "hashes as -2 does",
    ),
    "hash-unlike-its-copy": (
        "import itertools\n"
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "hashes = itertools.count()\n\n"
        "class Drifting:\n"
        "    def __eq__(self, other):\n"
        "        return isinstance(other, Drifting)\n\n"
        "    def __hash__(self):\n"
        "        return next(hashes)\n\n"
        "def put(scratch, slot):\n"
        "    scratch[slot] = Drifting()\n\n"
        "@operation(models='test')\n"
        "def keep(op):\n"
        "    op.effect('put', put, op.world.shared_slot('kept', 0))\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[keep()])\n",
        "{file}:15: in put: slot kept cannot hold <",
    ),
    "no-property": (
        "from mc.dsl.scenario import scenario\n"
        "from mc.models.dirops import create\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')], properties=[])\n",
        "{file}:4: scenario {name} checks no property: a search without properties has no verdict",
    ),
    "not-deterministic": (
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n\n"
        "calls = [0]\n\n"
        "def count(scratch, slot):\n"
        "    calls[0] += 1\n"
        "    scratch[slot] = calls[0]\n\n"
        "@operation(models='test')\n"
        "def counts(op):\n"
        "    op.effect('count', count, op.world.shared_slot('calls', 0))\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[counts()], properties=['deadlock'])\n",
        "the model is not deterministic: run twice from one state, T1 'count', {file}:12 "
        "reached two states: calls is 2, was 1; models must be functions of the state",
    ),
    "threads-one-invocation": (
        "from mc.dsl.scenario import scenario\n"
        "from mc.models.dirops import create\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=create('/a/f'))\n",
        "{file}:4: threads is a list of invocations, not the one invocation create(/a/f): "
        "[create(/a/f)]",
    ),
    "scenario-name-not-text": (
        "from mc.dsl.scenario import scenario\n\nscenario(42, 'x', tree=['/a/'], threads=[])\n",
        "{file}:3: a scenario's name is text, not 42",
    ),
    "bad-tree": (
        "from mc.dsl.scenario import scenario\n\n"
        "scenario('{name}', 'x', tree=['/a/x/y'], threads=[])\n",
        "{file}:3: ValueError: /a/x is not in the scenario's tree",
    ),
    "tree-path-not-absolute": (
        "from mc.dsl.scenario import scenario\n\n"
        "scenario('{name}', 'x', tree=['a/', '//'], threads=[])\n",
        "{file}:3: ValueError: tree path 'a/' is not an absolute path below /",
    ),
    "declared-twice": (
        "from mc.dsl.scenario import scenario\n"
        "import mc.models\n\n"
        "scenario('dirops/opposite-renames', 'x', tree=[], threads=[])\n",
        "{file}:4: scenario dirops/opposite-renames is declared twice",
    ),
    "symbol-name": (
        "from mc.dsl import Symbol\n\nSIZE = Symbol('a b=c', 0, 8192)\n",
        "{file}:3: ValueError: symbol name 'a b=c' is not a name",
    ),
    "symbol-bound": (
        "from mc.dsl import Symbol\n\nSIZE = Symbol('size', 0.5, 8192)\n",
        "{file}:3: ValueError: symbol size: bound 0.5 is not an integer",
    ),
    "property-declared-twice": (
        "from mc.dsl import invariant\n\n"
        "@invariant('deadlock', 'my own deadlock check')\n"
        "def mine(model):\n"
        "    return lambda state: None\n",
        "{file}:3: in mine: property deadlock is declared twice",
    ),
    "system-exit": ("raise SystemExit('bye')\n", "{file}:1: SystemExit: bye"),
    "memory-error": ("raise MemoryError\n", "{file}:1: MemoryError"),
    "null-bytes": ("x = 1\x00\n", "{file}: cannot be loaded as Python: "),
    "check-returns-no-message": (
        "from mc.dsl import invariant, scenario\n"
        "from mc.models.dirops import create\n\n"
        "@invariant('p-{kind}', 'x', reads=['dentry'])\n"
        "def answer(model):\n"
        "    return lambda state: 42\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')],\n"
        "         properties=['p-{kind}'])\n",
        "{file}:4: invariant p-{kind}'s check returned 42: None when it holds, else a message",
    ),
    "invariant-gives-no-check": (
        "from mc.dsl import invariant, scenario\n"
        "from mc.models.dirops import create\n\n"
        "@invariant('p-{kind}', 'x', reads=['dentry'])\n"
        "def answer(model):\n"
        "    return 5\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')],\n"
        "         properties=['p-{kind}'])\n",
        "{file}:4: invariant p-{kind} gives 5, not a function of the state",
    ),
    "variant-returns-nothing": (
        "from mc.dsl import scenario, variant\n"
        "from mc.models.dirops import create\n\n"
        "@variant('v-{kind}', 'x')\n"
        "def forgets(program, invocation):\n"
        "    program.steps\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')])\n",
        "{file}:4: in forgets: a variant's transform returned None, not a Program",
    ),
    "variant-returns-a-list": (
        "from mc.dsl import scenario, variant\n"
        "from mc.models.dirops import create\n\n"
        "@variant('v-{kind}', 'x')\n"
        "def listing(program, invocation):\n"
        "    return list(program.steps) * 40\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')])\n",
        "{file}:4: in listing: a variant's transform returned [",
    ),
    "control-character-in-a-name": (
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import create\n\n"
        "scenario('{name}\\x1b[31m', 'x', tree=['/a/'], threads=[create('/a/f')])\n",
        "{file}:4: the scenario name '{name}\\x1b[31m' holds a control character",
    ),
    "hidden-name": (
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import create\n\n"
        "scenario('..{name}', 'x', tree=['/a/'], threads=[create('/a/f')])\n",
        "{file}:4: the scenario name '..{name}' starts with a dot",
    ),
    "empty-name": (
        "from mc.dsl import variant\n\n"
        "@variant('', 'x')\n"
        "def nothing(program, invocation):\n"
        "    return program\n",
        "{file}:3: the variant name '' is empty",
    ),
    "argument-of-the-wrong-type": (
        "from mc.dsl import scenario\n"
        "from mc.models.xattr import setxattr\n\n"
        "scenario('{name}', 'x', tree=['/a/f'], threads=[setxattr('/a/f', 3)])\n",
        "{file}:4: setxattr(): name must be str, not int 3",
    ),
    "argument-missing": (
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import create\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create()])\n",
        "{file}:4: create(): missing a required argument: 'path'",
    ),
    "file-laid-out-twice": (
        "from mc.dsl import File, scenario\n"
        "from mc.models.writeback import fsync, write\n\n"
        "scenario('{name}', 'x', tree=['/f'],\n"
        "         threads=[write(File('/f', pages=2), 0), fsync(File('/f', pages=3))])\n",
        "{file}:4: /f is laid out twice, as File(path='/f', pages=2",
    ),
    "variant-waives-no-rule": (
        "from mc.dsl import flag_variant, scenario\n"
        "from mc.models.dirops import unlink\n\n"
        "flag_variant('v-{kind}', 'x', waives=['inode_operations.unlink i_rwsem(nothing)'])\n"
        "scenario('{name}', 'x', tree=['/a/', '/a/f'], threads=[unlink('/a/f')])\n",
        "{file}:4: variant v-variant-waives-no-rule waives 'inode_operations.unlink i_rwsem("
        "nothing)'",
    ),
    "variant-takes-one-argument": (
        "from mc.dsl import scenario, variant\n"
        "from mc.models.dirops import create\n\n"
        "@variant('v-{kind}', 'x')\n"
        "def one(program):\n"
        "    return program\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')])\n",
        "{file}:4: variant v-variant-takes-one-argument: 'one' must take (program, invocation)",
    ),
    "empty-last-component": (
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import mkdir\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[mkdir('/')])\n",
        "{file}:4: /: '' is not a name an operation can make or look up in /",
    ),
    "page-outside-the-file": (
        "from mc.dsl import File, scenario\n"
        "from mc.models.writeback import write\n\n"
        "scenario('{name}', 'x', tree=['/f'], threads=[write(File('/f', pages=2), 5)])\n",
        "{file}:4: /f has pages 0 to 1 (File(pages=2)): page 5 is not one of them",
    ),
    "dax-file-truncated": (
        "from mc.dsl import File, scenario\n"
        "from mc.models.dax import dax_store\n"
        "from mc.models.truncate import truncate\n"
        "F = File('/f', pages=1)\n"
        "scenario('{name}', 'x', tree=['/f'], threads=[dax_store(F, 0, 1), truncate(F, 0)])\n",
        "{file}:5: /f is a DAX file: the page-cache operations",
    ),
    "label-not-text": (
        "from mc.dsl import EXCL, Op, operation, scenario\n\n"
        "@operation(models='x')\n"
        "def labelled(op: Op) -> None:\n"
        "    op.lock(op.world.superblock.s_umount, EXCL, 42)\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[labelled()])\n",
        "{file}:5: in labelled: a step's label is text, not int 42",
    ),
    "property-not-a-name": (
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import create\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')],\n"
        "         properties=['deadlock', 5])\n",
        "{file}:4: properties is a list of property names, strings; it holds 5",
    ),
    "lseek-unknown-whence": (
        "from mc.dsl import scenario\n"
        "from mc.models.file import OpenFile, lseek\n\n"
        "scenario('{name}', 'x', tree=['/f'], threads=[lseek(OpenFile('/f'), 7, 1)])\n",
        "{file}:4: lseek(file(/f), 7, 1): whence must be SEEK_SET, SEEK_CUR or SEEK_END "
        "(from mc.models.file), and the arguments come in lseek(2)'s order",
    ),
    "read-without-io-completion": (
        "from mc.dsl import File, scenario\n"
        "from mc.models.file import OpenFile, read_fd\n\n"
        "F = OpenFile('/f', cache=File('/f', pages=1))\n"
        "scenario('{name}', 'x', tree=['/f'], threads=[read_fd(F)])\n",
        "{file}:5: the scenario reads page 0 of /f from the device but has no thread completing "
        "I/O: add io_completion(FILE) to its threads",
    ),
    "reread-without-io-completion": (
        "from mc.dsl import File, scenario\n"
        "from mc.models.file import OpenFile, remap\n"
        "from mc.models.truncate import mmap_store\n\n"
        "B = File('/b', pages=1, cached=(0,))\n"
        "scenario('{name}', 'x', tree=['/a', '/b'], threads=[\n"
        "    remap(OpenFile('/a', cache=File('/a', pages=1)), OpenFile('/b', cache=B)),\n"
        "    mmap_store(B, 0)])\n",
        "{file}:6: the scenario reads page 0 of /b from the device but has no thread completing "
        "I/O: add io_completion(FILE) to its threads (from mc.models.writeback import "
        "io_completion; FILE is the File of /b), since page 0, cached at the start, was dropped",
    ),
    "swap-slot-outside": (
        "from mc.dsl import scenario\n"
        "from mc.models.bdev import free_swap_slot\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[free_swap_slot(-1)])\n",
        "{file}:4: free_swap_slot(-1): the swap area has slots 0 to 1",
    ),
    "declared-property-with-nothing-to-check": (
        "from mc.dsl import File, scenario\n"
        "from mc.models.super import freeze, thaw\n\n"
        "F = File('/f', pages=1)\n"
        "scenario('{name}', 'x', tree=['/f'], threads=[freeze(F), thaw(F)],\n"
        "         properties=['bdev-exclusive'])\n",
        "{name} declares bdev-exclusive, which needs a block device",
    ),
    "goto-unknown-label": (
        "from mc.dsl import EXCL, Op, operation, scenario\n\n"
        "@operation(models='x')\n"
        "def jumps(op: Op) -> None:\n"
        "    op.lock(op.world.superblock.s_umount, EXCL, 'down_write(&sb->s_umount)')\n"
        "    op.goto('unlokc')\n"
        "    op.label('unlock')\n"
        "    op.unlock(op.world.superblock.s_umount, 'up_write(&sb->s_umount)')\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[jumps()])\n",
        "{file}:10: ProgramError: jump to unknown label unlokc (written at {file}:6)",
    ),
    "variant-description-not-text": (
        "from mc.dsl import flag_variant, scenario\n"
        "from mc.models.dirops import create\n\n"
        "flag_variant('v-{kind}', 42)\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')])\n",
        "{file}:4: variant v-variant-description-not-text: its description is text, not 42",
    ),
    "section-on-a-sleeping-lock": (
        "from mc.dsl import Op, operation, scenario\n\n"
        "@operation(models='x')\n"
        "def section(op: Op) -> None:\n"
        "    op.section(op.world.superblock.s_umount, 'x', lambda scratch: 0)\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[section()])\n",
        "{file}:5: in section: op.section() holds a lock that never sleeps",
    ),
    "quota-file-missing": (
        "from mc.dsl import scenario\n"
        "from mc.models.quota import QuotaFile, Quotas, alloc_block\n\n"
        "FS = Quotas((QuotaFile('/a', 'alice'),))\n"
        "scenario('{name}', 'x', tree=['/a', '/b'], threads=[alloc_block(FS, '/b')])\n",
        "{file}:5: the quota setup has no file /b: add QuotaFile('/b', owner)",
    ),
    "thread-not-an-invocation": (
        "from mc.dsl import scenario\n\nscenario('{name}', 'x', tree=['/a/'], threads=[42])\n",
        "{file}:3: threads must be invocations such as create('/a/x'), not int 42",
    ),
    "unknown-property": (
        "from mc.dsl.scenario import scenario\n"
        "from mc.models.dirops import create\n\n"
        "scenario('{name}', 'x', tree=['/a/'], threads=[create('/a/f')],\n"
        "         properties=['deadlock', 'no-such-property'])\n",
        "{file}:4: {name}'s properties: unknown property 'no-such-property'",
    ),
}


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_model_mistakes_are_one_line_with_file_and_line(
    vfsmc: Run, tmp_path: Path, kind: str
) -> None:
    text, message = ERRORS[kind]
    name = f"err-{kind}/{tmp_path.name}"
    _write(
        tmp_path / "models-of-mine",
        f"{kind.replace('-', '_')}.py",
        text.replace("{name}", name).replace("{kind}", kind),
    )
    file = f"models-of-mine/{kind.replace('-', '_')}.py"
    variants = ["-V", f"v-{kind}"] if kind.startswith("variant") else []
    result = vfsmc("check", f"{file}:{name}", *variants)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    expected = message.format(file=file, name=name, kind=kind)
    assert lines[0].startswith(f"vfsmc: error: {expected}"), lines[0]
    assert len(lines[0]) < 400, lines[0]
    if "transform" in message:
        listed = vfsmc("list", "--models", file)
        assert listed.exit_code == 2, listed.output
        assert listed.output.startswith(f"vfsmc: error: {expected}"), listed.output


def test_a_step_that_raises_inside_the_tool_names_the_model_step(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(
        tmp_path,
        "wrong_arguments.py",
        "from mc.dsl.operation import operation\n"
        "from mc.dsl.scenario import scenario\n"
        "from mc.models import libfs\n\n"
        "@operation(models='test')\n"
        "def unlink_nothing(op):\n"
        "    a = op.inode('/a')\n"
        "    op.call('inode_operations.unlink', libfs.unlink, a, None, a)\n\n"
        f"scenario('raise/{tmp_path.name}', 'x', tree=['/a/'], threads=[unlink_nothing()])\n",
    )
    result = vfsmc("check", f"wrong_arguments.py:raise/{tmp_path.name}")
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith("vfsmc: error: wrong_arguments.py:8: in unlink_nothing: "), line
    assert "AttributeError" in line and "(raised at models/libfs.py:" in line
    monkeypatch.setenv("VFSMC_TRACEBACK", "1")
    shown = vfsmc("check", f"wrong_arguments.py:raise/{tmp_path.name}")
    assert shown.exit_code == 2, "the traceback asked for does not change the exit code"
    assert "Traceback (most recent call last)" in shown.output
    assert shown.output.strip().splitlines()[-1] == line


def test_file_without_a_scenario_name_lists_what_it_declares(vfsmc: Run, tmp_path: Path) -> None:
    _write(tmp_path, "order.py", NEW_OPERATION.replace("{name}", "listed"))
    result = vfsmc("check", "order.py")
    assert result.exit_code == 2
    assert "order.py:SCENARIO (it declares: listed/opposite-order, listed/same-order)" in (
        result.output
    )
    colon = vfsmc("check", "order.py:")
    assert colon.exit_code == 2
    assert ": order.py:SCENARIO (it declares:" in colon.output
    missing = vfsmc("check", "nowhere.py:x")
    assert missing.exit_code == 2
    assert "nowhere.py: no such file or directory" in missing.output
    text = vfsmc("check", "notpy.txt:my/s")
    assert text.exit_code == 2
    assert text.output.strip().splitlines() == [
        "vfsmc: error: notpy.txt: not a Python model file (FILE.py:SCENARIO names a scenario "
        "a .py model file declares)"
    ]
    (tmp_path / "notes.txt").write_text("not python\n")
    existing = vfsmc("show", "notes.txt:my/s")
    assert existing.exit_code == 2
    assert existing.output.strip().startswith("vfsmc: error: notes.txt: not a Python model file")
    (tmp_path / "models-dir").mkdir()
    directory = vfsmc("check", "models-dir:my/s")
    assert directory.exit_code == 2
    assert "models-dir: a directory, not a Python model file: load its models with --models" in (
        directory.output
    )
    nameless = vfsmc("check", ":my/s")
    assert nameless.exit_code == 2
    assert nameless.output.startswith("vfsmc: error: ':my/s' names no model file before the colon")
    undeclared = vfsmc("check", "order.py:listed/nope")
    assert undeclared.exit_code == 2
    assert undeclared.output.strip() == (
        "vfsmc: error: order.py declares no scenario 'listed/nope' "
        "(it declares: listed/opposite-order, listed/same-order)"
    )


def test_model_directories_skip_tests_and_private_files(vfsmc: Run, tmp_path: Path) -> None:
    _write(tmp_path / "d", "order.py", NEW_OPERATION.replace("{name}", "skipping"))
    _write(tmp_path / "d", "test_order.py", "raise SystemExit('a test file was loaded')\n")
    _write(tmp_path / "d", "_helper.py", "raise SystemExit('a private file was loaded')\n")
    result = vfsmc("list", "--models", "d")
    assert result.exit_code == 0, result.output
    assert "skipping/same-order" in result.output


def test_listing_a_scenario_that_does_not_build_blames_the_scenario(
    vfsmc: Run, tmp_path: Path
) -> None:
    """``list`` builds every scenario to find the variants that change it:
    a scenario that fails to build alone is named in a note with its
    error, not the variants, and the rest is listed."""
    text, _message = ERRORS["tree-path-not-absolute"]
    _write(tmp_path / "d", "tree.py", text.replace("{name}", "listed/bad-tree"))
    result = vfsmc("list", "--models", "d")
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "does not build" in line]
    assert line.startswith(
        "vfsmc: note: scenario listed/bad-tree does not build, so no variant is listed for it "
        "(d/tree.py:3: ValueError: tree path 'a/' "
    ), line
    assert "dirops/opposite-renames" in result.output


LINK_COUNTS = '''\
"""An invariant over link counts whose reads= names the files' only."""

from mc.dsl import invariant, scenario
from mc.models.dirops import mkdir, rmdir


def files(model):
    return [f"nlink({{inode.path}})" for inode in model.world.inodes if not inode.is_dir]


@invariant("links-kept", "no link count changes", reads={reads})
def links_kept(model):
    initial = model.initial
    slots = [inode.nlink for inode in model.world.inodes{which}]
    changed = lambda state: [s for s in slots if state[s] != initial[s]]
    return lambda state: f"slots {{changed(state)}} changed" if changed(state) else None


scenario(
    "links/mkdir-rmdir",
    "a mkdir beside an rmdir",
    tree=["/a/", "/b/"],
    threads=[mkdir("/a/d"), rmdir("/b")],
    properties=["links-kept", "deadlock"],
)
'''


def test_audit_reads_names_the_slot_a_property_reads_undeclared(vfsmc: Run, tmp_path: Path) -> None:
    files = {
        "every.py": LINK_COUNTS.format(reads="files", which=""),
        "family.py": LINK_COUNTS.format(reads="lambda model: ['nlink']", which=""),
        "files.py": LINK_COUNTS.format(reads="files", which=" if not inode.is_dir"),
    }
    for name, text in files.items():
        _write(tmp_path / "mine", name, text)
    unaudited = vfsmc("check", "mine/every.py:links/mkdir-rmdir", "--no-save")
    assert unaudited.exit_code == 1, unaudited.output
    audited = vfsmc("check", "mine/every.py:links/mkdir-rmdir", "--no-save", "--audit-reads")
    assert audited.exit_code == 2, audited.output
    assert audited.output.strip().splitlines()[-1] == (
        "vfsmc: error: property links-kept reads nlink(/a), nlink(/a/d), which its reads= "
        "declaration leaves out (its answer changes when any one is reset alone)"
    )
    found = vfsmc("check", "mine/family.py:links/mkdir-rmdir", "--no-save", "--audit-reads")
    assert found.exit_code == 1, found.output
    kept = vfsmc("check", "mine/files.py:links/mkdir-rmdir", "--no-save", "--audit-reads")
    assert kept.exit_code == 0, kept.output
    spread = vfsmc("check", "mine/files.py:links/mkdir-rmdir", "--audit-reads", "--workers", "2")
    assert spread.exit_code == 2 and "--audit-reads searches in one process" in spread.output


def test_a_fixed_reads_name_of_a_family_the_scenario_lacks_reads_nothing(
    vfsmc: Run, tmp_path: Path
) -> None:
    """``block *`` names the blocks of a device, which a scenario of
    directories lacks: no error, and the check runs as with ``nlink``
    alone (the property's answer changes: a violation, exit 1)."""
    _write(
        tmp_path / "mine", "other.py", LINK_COUNTS.format(reads="['nlink', 'block *']", which="")
    )
    result = vfsmc("check", "mine/other.py:links/mkdir-rmdir", "--no-save")
    assert result.exit_code == 1, result.output
    assert "links-kept" in result.output


@pytest.mark.parametrize(
    ("reads", "message"),
    [
        ("lambda model: 'nlink'", "its reads= function gave 'nlink': it must give a list"),
        ("lambda model: None", "its reads= function gave None: it must give a list"),
        ("lambda model: [1]", "its reads= function gave [1]: it must give a list"),
        ("lambda model: ['nlinks']", "function names 'nlinks', which no slot is called: did "),
        ("lambda model: ['nlink(/a/q)']", "names 'nlink(/a/q)', but no nlink slot is called so"),
        ("lambda model: ['returned(T9)']", "names 'returned(T9)', but the threads are T1, T2"),
        ("lambda model: ['i_sizes']", "function names 'i_sizes', which is no slot of this"),
        ("'nlink'", "reads= gave 'nlink': it must give a list of slot names"),
        ("['nlinks']", "reads= names 'nlinks', which no slot is called: did you mean 'nlink'?"),
        ("['nlink(/a/q)']", "reads= names 'nlink(/a/q)', but no nlink slot is called so (they"),
        ("['returned(T9)']", "reads= names 'returned(T9)', but the threads are T1, T2"),
    ],
)
def test_a_reads_declaration_that_cannot_be_right_is_one_line(
    vfsmc: Run, tmp_path: Path, reads: str, message: str
) -> None:
    _write(tmp_path / "mine", "wrong.py", LINK_COUNTS.format(reads=reads, which=""))
    result = vfsmc("check", "mine/wrong.py:links/mkdir-rmdir", "--no-save")
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("vfsmc: error")]
    assert line.startswith("vfsmc: error: mine/wrong.py:"), line
    assert ": in links_kept: property links-kept: " in line and message in line, line


NAMES_ONE_FILE = """
from mc.dsl import invariant, scenario
from mc.models.dirops import unlink


@invariant("x-named", "nothing unlinks /d/x", reads=["dentry(/d/x)"])
def x_named(model):
    slot = model.world.dentry(model.world.inode_by_path["/d"], "x").slot
    return lambda state: "/d/x is gone" if state[slot] is None else None


scenario("my/has-x", "an unlink of /d/x", tree=["/d/", "/d/x"], threads=[unlink("/d/x")])
"""

NO_SUCH_FILE = """
from mc.dsl import scenario
from mc.models.dirops import rmdir

scenario("my/no-x", "an rmdir", tree=["/a/", "/a/b/"], threads=[rmdir("/a/b")])
"""


def test_an_invariant_naming_a_slot_of_another_file_s_scenario_holds_up_no_other_scenario(
    vfsmc: Run, tmp_path: Path
) -> None:
    """The invariant of one file names dentry(/d/x), which a scenario of
    another file declared without properties= lacks: that scenario is
    checked without it, with a note saying why; its own file's scenario
    checks it (and finds the unlink); asked for by name it is the error."""
    (tmp_path / "has.py").write_text(NAMES_ONE_FILE)
    (tmp_path / "other.py").write_text(NO_SUCH_FILE)
    own = vfsmc("check", "has.py:my/has-x", "--no-save")
    assert own.exit_code == 1 and "/d/x is gone" in own.output, own.output
    other = vfsmc("check", "other.py:my/no-x", "--models", "has.py", "--no-save")
    assert other.exit_code == 0, other.output
    assert (
        "note: property x-named is not checked on my/no-x: reads= names 'dentry(/d/x)', "
        "but no dentry slot is called so"
    ) in other.output
    asked = vfsmc("check", "other.py:my/no-x", "--models", "has.py", "-p", "x-named", "--no-save")
    assert asked.exit_code == 2 and "but no dentry slot is called so" in asked.output


UNMADE_FLAG = """
from mc.dsl import invariant, scenario
from mc.models.dirops import unlink


@invariant("flag-clear", "no step of mine raised my flag", reads=["my flag"])
def flag_clear(model):
    flag = model.world.shared_slot("my flag", None)
    return lambda state: state[flag]


scenario("my/unlink", "an unlink of /d/x", tree=["/d/", "/d/x"], threads=[unlink("/d/x")])
"""


def test_an_invariant_of_the_scenario_s_file_reading_a_slot_no_thread_makes_gets_a_note(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A file's invariant over a slot only a step of the file's own would
    make (a recomputed test has no op to make it): its own scenario,
    declared without properties=, says why the invariant is not checked,
    where it said nothing; another file's scenario still says nothing."""
    (tmp_path / "flag.py").write_text(UNMADE_FLAG)
    (tmp_path / "other.py").write_text(NO_SUCH_FILE)
    own = vfsmc("check", "flag.py:my/unlink", "--no-save")
    assert own.exit_code == 0, own.output
    assert (
        "note: property flag-clear is not checked on my/unlink: flag-clear reads my flag, which "
        "no thread of my/unlink makes: it has nothing to check there (a slot only a step makes: "
        "make it in an operation's body or an inserts() hook, op.world.shared_slot(name, initial))"
    ) in " ".join(own.output.split())
    other = vfsmc("check", "other.py:my/no-x", "--models", "flag.py", "--no-save")
    assert other.exit_code == 0 and "flag-clear" not in other.output, other.output


@pytest.mark.parametrize(
    ("reads", "raised"),
    [("lambda model: {}['no such family']", "KeyError"), ("exit_5", "SystemExit")],
)
def test_a_reads_function_that_raises_holds_up_only_the_scenarios_that_check_it(
    vfsmc: Run, tmp_path: Path, reads: str, raised: str
) -> None:
    """A scenario of the file that does not check the failing property
    gets its verdict, and the note on properties it could check still
    names the failing one; the scenario that checks it is one line."""
    text = "import sys\n\ndef exit_5(model):\n    sys.exit(5)\n\n" + LINK_COUNTS.format(
        reads=reads, which=""
    )
    text += (
        '\nscenario("links/mkdir-only", "a mkdir", tree=["/a/"], '
        'threads=[mkdir("/a/d")], properties=["deadlock"])\n'
    )
    _write(tmp_path / "mine", "raising.py", text)
    other = vfsmc("check", "mine/raising.py:links/mkdir-only", "--no-save")
    assert other.exit_code == 0, other.output
    assert "links/mkdir-only: OK" in other.output
    assert "also make links-kept" in other.output
    checked = vfsmc("check", "mine/raising.py:links/mkdir-rmdir", "--no-save")
    assert checked.exit_code == 2, checked.output
    (line,) = [line for line in checked.output.splitlines() if line.startswith("vfsmc: error")]
    assert line.startswith("vfsmc: error: mine/raising.py:") and raised in line, line
    shown = vfsmc("show", "mine/raising.py:links/mkdir-only")
    assert shown.exit_code == 0, shown.output


def test_a_property_without_reads_says_the_reduction_is_off(vfsmc: Run, tmp_path: Path) -> None:
    _write(tmp_path / "mine", "opaque.py", LINK_COUNTS.format(reads="None", which=""))
    result = vfsmc("check", "mine/opaque.py:links/mkdir-rmdir", "--no-save")
    note = "note: no partial-order reduction: links-kept does not say what it reads (reads=)"
    assert note in result.output, result.output
    unreduced = vfsmc("check", "mine/opaque.py:links/mkdir-rmdir", "--no-save", "--no-por")
    assert "no partial-order reduction" not in unreduced.output
    _write(tmp_path / "mine", "declared.py", LINK_COUNTS.format(reads="files", which=""))
    declared = vfsmc("check", "mine/declared.py:links/mkdir-rmdir", "--no-save")
    assert "no partial-order reduction" not in declared.output


def test_a_recorded_model_file_that_is_a_symlink_loop_is_not_there(
    vfsmc: Run, tmp_path: Path
) -> None:
    _write(tmp_path / "mine", "order.py", NEW_OPERATION.replace("{name}", "looped"))
    assert vfsmc("check", "mine/order.py:looped/opposite-order").exit_code == 1
    text = Path("mine/order.py").read_text()
    Path("mine/order.py").unlink()
    Path("mine/order.py").symlink_to("order.py")
    try:
        result = vfsmc("replay", "mine/counterexamples/looped-opposite-order.json")
    finally:  # the module loaded from the file stays in sys.modules: give it its file back
        Path("mine/order.py").unlink()
        Path("mine/order.py").write_text(text)
    assert result.exit_code == 2, result.output
    assert "records model file ../order.py, which is not at" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_trace_copied_away_from_its_model_file_says_the_file_is_not_there(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A trace copied to another directory records its model file relative
    to where it was saved: where that path now leads there is no file, and
    the error says so (it offered ``--models`` with that missing path)."""
    _write(tmp_path / "mine", "order.py", NEW_OPERATION.replace("{name}", "copied"))
    assert vfsmc("check", "mine/order.py:copied/opposite-order").exit_code == 1
    (tmp_path / "away" / "deeper").mkdir(parents=True)
    trace = Path("mine/counterexamples/copied-opposite-order.json")
    moved = tmp_path / "away" / "deeper" / trace.name
    moved.write_text(trace.read_text())
    os.chdir(tmp_path / "away" / "deeper")
    result = vfsmc("replay", trace.name)
    assert result.exit_code == 2, result.output
    missing = tmp_path / "away" / "order.py"
    assert f"records model file ../order.py, which is not at {missing}" in result.output
    assert "lies outside" not in result.output


def test_a_thread_whose_later_body_fails_is_no_namespace_breach(vfsmc: Run, tmp_path: Path) -> None:
    """A thread that runs a create and then a body that fails (the create
    again, -EEXIST; an rmdir of the file, -ENOTDIR) returns the last
    body's error, which says nothing of the first create's inode."""
    _write(
        tmp_path,
        "twice.py",
        "from mc.dsl import Op, replaces, scenario\n"
        "from mc.models.dirops import create, rmdir\n\n"
        f"@replaces(create, 'create-twice-{tmp_path.name}', 'create, then again')\n"
        "def create_twice(op: Op, path: str) -> None:\n"
        "    op.run(create.build, path)\n"
        "    op.run(create.build, path)\n\n"
        f"@replaces(create, 'create-rmdir-{tmp_path.name}', 'create, then rmdir of it')\n"
        "def create_rmdir(op: Op, path: str) -> None:\n"
        "    op.run(create.build, path)\n"
        "    op.run(rmdir.build, path)\n\n"
        f"scenario('twice/{tmp_path.name}', 'one create', tree=['/a/'], "
        "threads=[create('/a/x')])\n",
    )
    for variant in (f"create-twice-{tmp_path.name}", f"create-rmdir-{tmp_path.name}"):
        result = vfsmc("check", f"twice.py:twice/{tmp_path.name}", "-V", variant, "--no-save")
        assert result.exit_code == 0, result.output
        assert "OK" in result.output.splitlines()[0]


def test_a_counterexample_saved_through_a_linked_directory_replays(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A suite whose counterexamples directory is a link to one elsewhere:
    the model file is recorded and found from the directory the link
    leads to, so the path ``check`` printed replays."""
    _write(tmp_path / "proj", "order.py", NEW_OPERATION.replace("{name}", "linked"))
    (tmp_path / "results" / "a" / "b").mkdir(parents=True)
    Path("proj/counterexamples").symlink_to("../results/a/b")
    assert vfsmc("check", "proj/order.py:linked/opposite-order").exit_code == 1
    saved = Path("proj/counterexamples/linked-opposite-order.json")
    assert json.loads(saved.read_text())["models"] == ["../../../proj/order.py"]
    replayed = vfsmc("replay", str(saved))
    assert replayed.exit_code == 1, replayed.output
    assert vfsmc("replay", "results/a/b/linked-opposite-order.json").exit_code == 1


BUILDS_ON_A_BODY = """
from mc.dsl import SHARED, File, Invocation, Op, Program, replaces, variant
from mc.models.writeback import write


@replaces(write, "write-takes-invalidate", "write(2) also holds invalidate_lock shared")
def write_takes_invalidate(op: Op, file: File, index: int) -> None:
    lock = op.mapping(file).invalidate_lock
    op.lock(lock, SHARED, "myfs_write_begin(): filemap_invalidate_lock_shared(mapping)")
    op.run(write.build, file, index)
    op.unlock(lock, "myfs_write_end(): filemap_invalidate_unlock_shared(mapping)")


@variant("invalidate-under-folio", "and takes it only once the folio is locked")
def invalidate_under_folio(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not write:
        return program
    lock = program.step("myfs_write_begin(): filemap_invalidate_lock_shared(mapping)")
    anchor = program.step(
        "__block_write_begin_int(): create_empty_buffers(); "
        "if (!buffer_mapped(bh)) err = get_block(inode, block, bh, 1)"
    )
    return program.move_before(lock, anchor)
"""


def test_a_transform_that_builds_on_a_body_variant_composes(vfsmc: Run, tmp_path: Path) -> None:
    """A transform that moves a step another variant's body adds cannot
    be applied alone: with both, the check runs (the note on variants
    that change one step leaves it out), and lockorder sees the move."""
    _write(tmp_path / "mine", "compose.py", BUILDS_ON_A_BODY)
    both = ("-V", "write-takes-invalidate", "-V", "invalidate-under-folio")
    given = ("--models", "mine/compose.py")
    checked = vfsmc("check", "writeback/write-vs-fsync", *given, *both, "--no-save")
    assert checked.exit_code == 0, checked.output
    assert "with write-takes-invalidate, invalidate-under-folio: OK" in checked.output
    order = vfsmc("lockorder", "--filter", "writeback/write-vs-fsync", *given, *both)
    assert "PG_locked -> invalidate_lock" in order.output


INSERTS_AT_A_FLAG_VARIANT_S_STEP = """
from mc.dsl import EXCL, Invocation, LockKind, Program, inserts, variant
from mc.models.xattr import setxattr

LOCK_XATTR = "ext4_xattr_set_handle(): ext4_write_lock_xattr(inode, &no_expand)"


def take(op, path, name):
    op.compute("credits", "credits = ext4_xattr_set_credits()", lambda scratch: 9)
    op.lock(op.world.shared_lock("my_handle", LockKind.MUTEX), EXCL, "handle = my_start()")


def drop(op, path, name):
    op.unlock(op.world.shared_lock("my_handle", LockKind.MUTEX), "my_stop(handle)")


inserts(setxattr, "my-handle", "a handle around ext4's xattr_sem",
        before={LOCK_XATTR: take}, after={"ext4_write_unlock_xattr(inode, &no_expand)": drop})


@variant("my-credits-late", "the credits computed once the handle is started")
def credits_late(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(setxattr):
        return program
    return program.move_after(
        program.step("credits = ext4_xattr_set_credits()"), program.step("handle = my_start()")
    )
"""


@pytest.mark.parametrize("first", ["ext4-set-takes-xattr-sem", "my-handle"])
def test_an_insertion_at_a_step_a_flag_variant_adds_runs_with_it_in_either_order(
    vfsmc: Run, tmp_path: Path, first: str
) -> None:
    """An ``inserts()`` variant placed at a step a shipped flag variant
    adds builds only with that variant: given both with ``-V`` (in either
    order, and with a transform moving an inserted step after them), the
    check, ``show`` and ``lockorder`` take each variant's changes over
    the others instead of failing on the variant applied alone."""
    _write(tmp_path / "mine", "ext4.py", INSERTS_AT_A_FLAG_VARIANT_S_STEP)
    second = "my-handle" if first != "my-handle" else "ext4-set-takes-xattr-sem"
    given = ("--models", "mine/ext4.py", "-V", first, "-V", second)
    checked = vfsmc("check", "xattr/two-sets", *given, "--no-save")
    assert checked.exit_code == 0, checked.output
    assert f"with {first}, {second}: OK" in checked.output
    moved = vfsmc("check", "xattr/two-sets", *given, "-V", "my-credits-late", "--no-save")
    assert moved.exit_code == 0, moved.output
    shown = vfsmc("show", "xattr/two-sets", *given)
    assert shown.exit_code == 0 and "fails on this scenario" not in shown.output, shown.output
    assert "T1 added    handle = my_start() [exclusive]" in shown.output
    moved_first = ("-V", "my-credits-late", "-V", first, "-V", second)
    shown = vfsmc("show", "xattr/two-sets", "--models", "mine/ext4.py", *moved_first)
    assert shown.exit_code == 0 and "fails on this scenario" not in shown.output, shown.output
    order = vfsmc("lockorder", "--filter", "xattr/two-sets", *given)
    assert "my_handle -> xattr_sem" in order.output, order.output
    dropped = "mutant:drop@setxattr:deleg_locked:retry_deleg: inode_lock(inode)"
    broken = vfsmc("check", "xattr/two-sets", *given, "-V", dropped, "--out", "cx")
    assert broken.exit_code == 1, broken.output
    saved = sorted(path.suffix for path in (tmp_path / "cx").iterdir())
    assert saved == [".dot", ".json", ".svg"], broken.output
    alone = vfsmc("check", "xattr/two-sets", "--models", "mine/ext4.py", "-V", "my-handle")
    assert alone.exit_code == 2
    assert f"no step of setxattr is labelled {LOCK_XATTR!r}" in alone.output


LOCK_XATTR = "ext4_xattr_set_handle(): ext4_write_lock_xattr(inode, &no_expand)"


MOVES_AN_INSERTED_STEP = """
from mc.dsl import EXCL, LockKind, Invocation, Program, inserts, scenario, variant
from mc.models.dirops import link


def take(op, old, new):
    op.lock(op.world.shared_lock("my_sem(/c/e)", LockKind.MUTEX), EXCL, "down(&my_sem)")


def drop(op, old, new):
    op.unlock(op.world.shared_lock("my_sem(/c/e)", LockKind.MUTEX), "up(&my_sem)")


inserts(link, "my-link", "link takes my_sem around ->link",
        before={"error = dir->i_op->link(old_dentry, dir, new_dentry)": take},
        after={"error = dir->i_op->link(old_dentry, dir, new_dentry)": drop})


@variant("my-sem-first", "link releases my_sem before taking it")
def my_sem_first(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(link):
        return program
    return program.move_before(program.step("up(&my_sem)"), program.step("down(&my_sem)"))


scenario("my/link", "a link", tree=["/a/", "/c/", "/c/e"], threads=[link("/c/e", "/a/f")],
         properties=["lock-protocol", "deadlock", "completes"])
"""


def test_a_violation_of_a_transform_that_moves_an_inserted_step_is_saved(
    vfsmc: Run, tmp_path: Path
) -> None:
    """The counterexample of a transform that moves a step an inserts()
    variant adds is saved (each variant's changes are taken over the
    variants before it), with the moved step marked on the chart."""
    model = _write(tmp_path, "dep.py", MOVES_AN_INSERTED_STEP)
    checked = vfsmc("check", f"{model}:my/link", "-V", "my-link", "-V", "my-sem-first")
    assert checked.exit_code == 1, checked.output
    saved = tmp_path / "counterexamples" / "my-link--my-link--my-sem-first"
    dot = saved.with_suffix(".dot").read_text()
    unlock = next(line for line in dot.splitlines() if 'label="up(&my_sem)"' in line)
    row = unlock.split()[0].split("_")[1]
    number = next(line for line in dot.splitlines() if line.strip().startswith(f"step_{row} "))
    assert 'style="filled", fillcolor="#fff2b3"' in number
    assert vfsmc("replay", str(saved.with_suffix(".json"))).exit_code == 1


def test_a_scenario_made_with_a_variant_has_it_in_its_correct_protocol(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A scenario whose protocol is made with ``inserts()`` variants
    (``variants=``) has them whenever it is built: ``-V`` adds a change on
    top, ``replay --correct`` replays on the protocol with them, ``show``
    names them, and a name no variant has is one line naming the line."""
    made = MOVES_AN_INSERTED_STEP.replace(
        'properties=["lock-protocol", "deadlock", "completes"])',
        'properties=["lock-protocol", "deadlock", "completes"], variants=["my-link"])',
    )
    model = _write(tmp_path, "made.py", made)
    correct = vfsmc("check", f"{model}:my/link", "--no-save")
    assert correct.exit_code == 0 and "my/link: OK" in correct.output, correct.output
    assert vfsmc("check", f"{model}:my/link", "-V", "my-sem-first").exit_code == 1
    saved = tmp_path / "counterexamples" / "my-link--my-sem-first.json"
    replayed = vfsmc("replay", str(saved), "--correct")
    assert replayed.exit_code == 0, replayed.output
    assert "T1 is at 'down(&my_sem)' instead of 'up(&my_sem)'" in replayed.output
    shown = vfsmc("show", f"{model}:my/link")
    assert "protocol made with variant my-link: link takes my_sem around ->link" in shown.output
    again = vfsmc("check", f"{model}:my/link", "-V", "my-link", "--no-save")
    assert again.exit_code == 2
    assert "variant my-link is part of my/link's protocol already" in again.output
    listed = vfsmc("list", "--models", str(model), "--json", "my/link")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["applicable_variants"]["my/link"] == ["my-sem-first"]
    _write(tmp_path, "unknown.py", made.replace('variants=["my-link"]', 'variants=["my-lnik"]'))
    unknown = vfsmc("check", f"{tmp_path / 'unknown.py'}:my/link")
    assert unknown.exit_code == 2
    assert re.search(r"unknown.py:\d+: my/link's variants: .*my-lnik.*my-link", unknown.output)


def test_a_flag_variant_a_scenario_is_made_with_is_not_listed_as_applying_to_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """``list`` offers no variant that ``check -V`` refuses as part of the
    scenario's protocol already: a flag variant its operations ask about
    (``op.variant``) included."""
    _write(
        tmp_path,
        "cold.py",
        "from mc.dsl import scenario\n"
        "from mc.kernel.pagecache import File\n"
        "from mc.models.truncate import mmap_load, truncate\n"
        "from mc.models.writeback import io_completion\n\n"
        "COLD = File('/f', pages=1)\n"
        "scenario('my/cold-fault', 'a load faulting ->fault in, a truncate', tree=['/f'],\n"
        "         threads=[mmap_load(COLD, 0), truncate(COLD, 0), io_completion(COLD)],\n"
        "         variants=['no-fault-around'])\n",
    )
    listed = vfsmc("list", "--models", "cold.py", "--json", "my/cold-fault")
    assert listed.exit_code == 0, listed.output
    offered = json.loads(listed.output)["applicable_variants"]["my/cold-fault"]
    assert offered and "no-fault-around" not in offered, offered


RUNS_PUNCH_HOLE = """
from mc.dsl import Invocation, Program, variant
from mc.models.truncate import punch_hole


@variant("punch-no-invalidate-lock", "ext4_punch_hole() forgets filemap_invalidate_lock()")
def punch_no_invalidate_lock(program: Program, invocation: Invocation) -> Program:
    if not invocation.{test}:
        return program
    return program.drop_acquisitions(lambda step: "invalidate-lock" in step.tags)
"""


def test_a_transform_applies_where_the_body_runs_inside_another_operation(
    vfsmc: Run, tmp_path: Path
) -> None:
    """fallocate(2)'s PUNCH_HOLE runs punch_hole's body with ``op.run``:
    ``invocation.runs(punch_hole)`` holds there, ``invocation.operation is
    punch_hole`` does not."""
    _write(tmp_path / "runs", "v.py", RUNS_PUNCH_HOLE.replace("{test}", "runs(punch_hole)"))
    args = ("file/fallocate-modes", "-V", "punch-no-invalidate-lock", "--no-save")
    runs = vfsmc("check", *args, "--models", "runs/v.py")
    assert runs.exit_code == 1, runs.output
    assert "with punch-no-invalidate-lock: VIOLATED" in runs.output
    only_own = RUNS_PUNCH_HOLE.replace("{test}", "operation is punch_hole")
    _write(tmp_path / "own", "v.py", only_own)
    own = vfsmc("check", *args, "--models", "own/v.py")
    assert own.exit_code == 2
    assert "variant punch-no-invalidate-lock changes nothing in file/fallocate-modes" in own.output


def test_a_transform_s_missing_label_names_the_thread_whose_program_lacks_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A transform is given every thread's program: a label only the fault
    has, looked up in the hole punch's program, names that thread and says
    how to guard the transform; a label inside a longer one is offered."""
    _write(
        tmp_path,
        "noguard.py",
        "from mc.dsl import variant\n\n"
        "@variant('noguard', 'a label of the fault only')\n"
        "def noguard(program, invocation):\n"
        "    return program.drop(lambda s: s is program.step('rcu_read_lock()'))\n",
    )
    result = vfsmc("check", "truncate/punch-vs-fault", "--models", "noguard.py", "-V", "noguard")
    assert result.exit_code == 2
    line = result.output.strip()
    assert "no step is labelled 'rcu_read_lock()'" in line, line
    assert "in T1's program (fallocate(/f, PUNCH_HOLE, offset, 4096);" in line, line
    assert "test invocation.runs(operation) first" in line, line


def test_a_scenario_without_properties_checks_what_its_operations_make_checkable(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Left without properties=, a dput against d_find_alias checks the
    dentry invariants too: a lock_for_kill() that does not look at the
    count again is caught, where the base properties alone pass it."""
    _write(
        tmp_path,
        "noprops.py",
        "from mc.dsl import scenario\n"
        "from mc.models.dcache import d_find_alias, dput\n"
        'scenario("my/noprops", "dput vs d_find_alias", tree=["/a/", "/a/x"],\n'
        '         threads=[dput("/a/x"), d_find_alias("/a/x")])\n'
        'scenario("my/base", "dput vs d_find_alias, base properties", tree=["/a/", "/a/x"],\n'
        '         threads=[dput("/a/x"), d_find_alias("/a/x")],\n'
        '         properties=["lock-protocol", "deadlock"])\n',
    )
    result = vfsmc("check", "noprops.py:my/noprops", "--json", "--no-save")
    assert result.exit_code == 0, result.output
    properties = json.loads(result.output)["properties"]
    assert {"dentry-killed-referenced", "dentry-freed-under-rcu", "namespace"} <= set(properties)
    assert properties[:5] == [
        "lock-protocol",
        "spec-conformance",
        "deadlock",
        "completes",
        "livelock",
    ]
    named = vfsmc("check", "noprops.py:my/base", "--json", "--no-save")
    assert json.loads(named.output)["properties"] == ["lock-protocol", "deadlock"]


def test_a_scenario_made_with_a_variant_a_later_file_declares_checks_what_it_can(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A folder loads its files in name order: a scenario without
    properties= whose protocol variant a later file declares gets the
    properties its operations make checkable all the same (it had the base
    ones alone, and a bug the dentry invariants find passed)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    _write(
        folder,
        "a_scen.py",
        "from mc.dsl import scenario\n"
        "from mc.models.dcache import d_find_alias, dput\n"
        'scenario("my/later", "dput vs d_find_alias", tree=["/a/", "/a/x"],\n'
        '         threads=[dput("/a/x"), d_find_alias("/a/x")], variants=["my-later"])\n',
    )
    _write(
        folder,
        "b_variant.py",
        "from mc.dsl import variant\n"
        '@variant("my-later", "leaves the protocol as it is")\n'
        "def later(program, invocation):\n"
        "    return program\n",
    )
    result = vfsmc("check", "my/later", "--models", "mine", "--json", "--no-save")
    assert result.exit_code == 0, result.output
    properties = json.loads(result.output)["properties"]
    assert {"dentry-killed-referenced", "dentry-freed-under-rcu"} <= set(properties)


def test_regress_replays_a_trace_of_a_scenario_declared_without_properties(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Loading the model file a trace records, into a registry that holds
    the scenario with its checkable properties added, is the same
    declaration again, not one declared twice."""
    _write(tmp_path / "mine", "order.py", NEW_OPERATION.replace("{name}", "newop"))
    (tmp_path / "mine" / "expectations.toml").write_text(
        '[[expect]]\nscenario = "newop/opposite-order"\nverdict = "VIOLATED"\n'
        'property = "deadlock"\n'
    )
    saved = vfsmc("check", "mine/order.py:newop/opposite-order")
    assert saved.exit_code == 1, saved.output
    result = vfsmc("regress", "--models", "mine")
    assert result.exit_code == 0, result.output
    assert "1/1 counterexamples replay as recorded" in result.output


def test_list_names_the_scenario_a_variant_fails_on(vfsmc: Run, tmp_path: Path) -> None:
    """A transform that works on one scenario and raises on another: list
    leaves it out there, with a note naming the scenario it raised on."""
    _write(
        tmp_path,
        "amb.py",
        "from mc.dsl import variant\n"
        "from mc.models.writeback import write\n\n"
        '@variant("amb", "a step chosen by a label many steps have")\n'
        "def amb(program, invocation):\n"
        "    if not invocation.runs(write):\n"
        "        return program\n"
        '    return program.drop(lambda s: s is program.step("folio_unlock(folio)"))\n',
    )
    result = vfsmc("list", "--models", "amb.py")
    assert result.exit_code == 0, result.output
    assert re.search(
        r"note: variant amb does not build on \S+ and \d+ others?, so it is not listed there "
        r"\(amb.py:8: .*steps are labelled 'folio_unlock\(folio\)'",
        result.output,
    )


def test_list_notes_a_variant_that_fails_on_the_user_s_own_scenario(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A user's transform that raises on a scenario of the same file is a
    note in list, as on a shipped scenario, not an error that hides the
    listing; check of that scenario with the variant still fails."""
    _write(
        tmp_path,
        "own.py",
        "from mc.dsl import File, scenario, variant\n"
        "from mc.models.writeback import fsync, write\n\n"
        'F = File("/f")\n'
        'scenario("own/write-fsync", "a write and an fsync", tree=["/f"], '
        "threads=[write(F, 0), fsync(F)], properties=['lock-protocol'])\n\n"
        '@variant("own-missing", "a step by a label no step has")\n'
        "def own_missing(program, invocation):\n"
        "    if not invocation.runs(write):\n"
        "        return program\n"
        '    return program.drop(lambda s: s is program.step("no such label"))\n',
    )
    listed = vfsmc("list", "--models", "own.py")
    assert listed.exit_code == 0, listed.output
    assert "note: variant own-missing does not build on " in listed.output
    assert "own/write-fsync" in listed.output
    checked = vfsmc("check", "own/write-fsync", "--models", "own.py", "-V", "own-missing")
    assert checked.exit_code == 2, checked.output
    assert "no such label" in checked.output


HOLDS_A_MUTEX_ACROSS_WRITEPAGES = """
from mc.dsl import EXCL, File, LockKind, flag_variant, inserts, scenario
from mc.models.writeback import flusher, io_completion, write

WRITE_BEGIN = "status = a_ops->write_begin(file, mapping, pos, bytes, &folio, &fsdata)"
WRITE_END = "status = a_ops->write_end(file, mapping, pos, bytes, copied, folio, fsdata)"
GET_BLOCK = (
    "__block_write_begin_int(): create_empty_buffers(); "
    "if (!buffer_mapped(bh)) err = get_block(inode, block, bh, 1)"
)
WRITEPAGES = "do_writepages(): ret = mapping->a_ops->writepages(mapping, wbc) /* WB_SYNC_NONE */"
END = "return ret /* ->writepages, WB_SYNC_NONE */"
LATE = "myfs-locks-after-folio"
flag_variant(LATE, "myfs_write_begin() takes alloc_mutex with the folio locked")


def mutex(op):
    return op.world.shared_lock("alloc_mutex(/f)", LockKind.MUTEX)


def take(op, file, index):
    op.lock(mutex(op), EXCL, "mutex_lock(&alloc_mutex)")


def early(op, file, index):
    if not op.variant(LATE):
        take(op, file, index)


def late(op, file, index):
    if op.variant(LATE):
        take(op, file, index)


inserts(write, "myfs-write", "myfs_write_begin() allocates under alloc_mutex",
        before={WRITE_BEGIN: early, GET_BLOCK: late,
                WRITE_END: lambda op, f, i: op.unlock(mutex(op), "unlock")})
inserts(flusher, "myfs-writepages", "myfs_writepages() holds alloc_mutex across the loop",
        after={WRITEPAGES: lambda op, f: take(op, f, 0)},
        before={END: lambda op, f: op.unlock(mutex(op), "mutex_unlock(&alloc_mutex)")})

F = File("/f", pages=1, cached=(0,), dirty=(0,))
scenario("my/write-vs-flusher", "write(2) of page 0 while the flusher writes /f back",
         tree=["/f"], threads=[write(F, 0), flusher(F), io_completion(F)],
         properties=["lock-protocol", "deadlock", "completes"],
         variants=["myfs-write", "myfs-writepages"])
"""


def test_a_lock_held_across_writepages_is_released_at_its_end(vfsmc: Run, tmp_path: Path) -> None:
    """``->writepages`` has one last step, ``return ret``, whatever the
    batch held: a filesystem's lock taken as it begins is released there,
    on every path (an empty batch too), and the order against the folio
    lock is checked."""
    model = _write(tmp_path, "wp.py", HOLDS_A_MUTEX_ACROSS_WRITEPAGES)
    correct = vfsmc("check", f"{model}:my/write-vs-flusher", "--no-save")
    assert correct.exit_code == 0 and "my/write-vs-flusher: OK" in correct.output, correct.output
    late = vfsmc(
        "check", f"{model}:my/write-vs-flusher", "-V", "myfs-locks-after-folio", "--no-save"
    )
    assert late.exit_code == 1, late.output
    assert "deadlock" in late.output and "alloc_mutex(/f)" in late.output


def test_replay_names_the_scenario_s_own_variants_and_a_renamed_scenario(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The correct protocol of a scenario made of variants of its own keeps
    them, and replay --correct says so; once the file renames the
    scenario, replay says the file the trace records no longer declares
    it and names what it declares, not to pass the file with --models."""
    model = _write(tmp_path, "wp.py", HOLDS_A_MUTEX_ACROSS_WRITEPAGES)
    broken = vfsmc("check", f"{model}:my/write-vs-flusher", "-V", "myfs-locks-after-folio")
    assert broken.exit_code == 1, broken.output
    saved = tmp_path / "counterexamples" / "my-write-vs-flusher--myfs-locks-after-folio.json"
    correct = vfsmc("replay", str(saved), "--correct")
    assert correct.exit_code == 0, correct.output
    assert (
        "does not reproduce on the correct protocol (the scenario's own myfs-write, "
        "myfs-writepages, no other variant)"
    ) in correct.output, correct.output
    model.write_text(
        HOLDS_A_MUTEX_ACROSS_WRITEPAGES.replace('"my/write-vs-flusher"', '"my/write-vs-flush"')
    )
    monkeypatch.setattr(usermodels, "_loaded", {})  # a new process reads the file again
    renamed = vfsmc("replay", str(saved))
    assert renamed.exit_code == 2, renamed.output
    assert "declares no scenario of that name today" in renamed.output
    assert "it declares my/write-vs-flush" in renamed.output
    assert "--models" not in renamed.output


def test_a_trace_saved_beside_its_model_file_replays_from_anywhere(
    vfsmc: Run, tmp_path: Path
) -> None:
    """check saves a FILE.py:NAME trace into counterexamples/ beside the
    file: replayed by the path check printed, from another directory, the
    file it records one folder up is the trace's own suite's."""
    _write(tmp_path / "proj", "order.py", NEW_OPERATION.replace("{name}", "beside"))
    assert vfsmc("check", f"{tmp_path / 'proj' / 'order.py'}:beside/opposite-order").exit_code == 1
    saved = tmp_path / "proj" / "counterexamples" / "beside-opposite-order.json"
    (tmp_path / "elsewhere").mkdir()
    os.chdir(tmp_path / "elsewhere")
    result = vfsmc("replay", str(saved))
    assert result.exit_code == 1, result.output
    assert "deadlock in beside/opposite-order\n" in result.output, result.output[:300]


def test_a_trace_runs_no_model_file_outside_its_trees(vfsmc: Run, tmp_path: Path) -> None:
    """A trace is data: a model file it records outside the current
    directory's tree and its own directory's tree is refused, naming the
    file and how to allow it, before anything is loaded (the file is
    never run), by replay, graph, report and regress alike."""
    _write(tmp_path / "proj", "order.py", NEW_OPERATION.replace("{name}", "fenced"))
    assert vfsmc("check", "proj/order.py:fenced/opposite-order").exit_code == 1
    saved = tmp_path / "proj" / "counterexamples" / "fenced-opposite-order.json"
    ran = tmp_path / "ran"
    evil = _write(tmp_path / "outside", "evil.py", f"open({str(ran)!r}, 'w').write('ran')\n")
    (tmp_path / "work").mkdir()
    data = json.loads(saved.read_text())
    data.pop("digest")
    for name, models in (("absolute.json", [str(evil)]), ("up.json", ["../../outside/evil.py"])):
        (tmp_path / "work" / "traces").mkdir(exist_ok=True)
        (tmp_path / "work" / "traces" / name).write_text(json.dumps({**data, "models": models}))
    os.chdir(tmp_path / "work")
    for name in ("absolute.json", "up.json"):
        for command in (["replay"], ["graph", "-o", "c.svg"], ["report", "-o", "c.html"]):
            result = vfsmc(command[0], f"traces/{name}", *command[1:])
            assert result.exit_code == 2, result.output
            assert len(result.output.strip().splitlines()) == 1, result.output
            assert "which lies outside the current directory and the trace's folder" in (
                result.output
            )
            assert f"pass it with --models {evil}" in result.output
            assert not ran.exists()
    assert not Path("c.svg").exists() and not Path("c.html").exists()
    _write(tmp_path / "work" / "suite", "order.py", NEW_OPERATION.replace("{name}", "fenced2"))
    _write(tmp_path / "work" / "suite", "expectations.toml", "")
    (tmp_path / "work" / "suite" / "expectations.toml").write_text(
        '[[expect]]\nscenario = "fenced2/same-order"\nverdict = "OK"\n'
    )
    (tmp_path / "work" / "suite" / "counterexamples").mkdir()
    (tmp_path / "work" / "suite" / "counterexamples" / "up.json").write_text(
        json.dumps({**data, "models": ["../../../outside/evil.py"]})
    )
    suite = vfsmc("regress", "--models", "suite")
    assert suite.exit_code == 2, suite.output
    assert "cannot replay: " in suite.output and "which lies outside" in suite.output
    assert not ran.exists()
    os.chdir(tmp_path)
    trusted = vfsmc("replay", "work/traces/up.json")
    assert trusted.exit_code == 2 and "which lies outside" not in trusted.output
    assert ran.exists()


ASKS_A_SHIPPED_FLAG = """
from mc.dsl import scenario
from mc.models.xattr import setxattr

scenario(
    "flagged/two-sets",
    "two setxattrs of /a/f, on a protocol where ext4's set takes xattr_sem",
    tree=["/a/", "/a/f"],
    threads=[setxattr("/a/f", "user.a"), setxattr("/a/f", "user.b")],
    properties=["lock-protocol", "deadlock", "completes"],
    variants=["ext4-set-takes-xattr-sem"],
)
"""


def test_a_variant_of_the_scenario_s_protocol_asked_again_changes_nothing(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A variant an operation asks about (``op.variant``), already in a
    scenario's ``variants=[...]``: ``check -V`` of it and a regress row
    naming it say it is part of the protocol already, as for any other
    kind of variant, instead of an OK that says nothing of it."""
    _write(tmp_path / "suite", "flagged.py", ASKS_A_SHIPPED_FLAG)
    again = vfsmc("check", "suite/flagged.py:flagged/two-sets", "-V", "ext4-set-takes-xattr-sem")
    assert again.exit_code == 2, again.output
    assert (
        "variant ext4-set-takes-xattr-sem is part of flagged/two-sets's protocol already"
        in again.output
    )
    (tmp_path / "suite" / "expectations.toml").write_text(
        '[[expect]]\nscenario = "flagged/two-sets"\nverdict = "OK"\n\n'
        '[[expect]]\nscenario = "flagged/two-sets"\n'
        'variants = ["ext4-set-takes-xattr-sem"]\nverdict = "OK"\n'
    )
    suite = vfsmc("regress", "--models", "suite")
    assert suite.exit_code == 2, suite.output
    assert "NO CHANGE" in suite.output
    assert (
        "not checked: flagged/two-sets [ext4-set-takes-xattr-sem]: variant "
        "ext4-set-takes-xattr-sem is part of flagged/two-sets's protocol already"
    ) in suite.output


OWN_INVARIANT = '''\
"""A counter two threads bump under a lock of the file's own, and an
invariant of the file that reads what a bump records of an update lost."""

from mc.dsl import EXCL, LockKind, Op, Scratch, flag_variant, invariant, operation, scenario

UNLOCKED = "bump-unlocked"
flag_variant(UNLOCKED, "the bump reads and writes the counter without my_lock")


def read(scratch: Scratch, counter: int) -> int:
    return scratch[counter]


def write(scratch: Scratch, counter: int, lost: int, seen: int) -> None:
    if scratch[counter] != seen:
        scratch[lost] = f"a bump overwrote {scratch[counter]} with {seen + 1}"
    scratch[counter] = seen + 1


@operation(models="my_bump()")
def bump(op: Op) -> None:
    counter = op.world.shared_slot("my counter", 0)
    lost = op.world.shared_slot("my lost bump", None)
    lock = op.world.shared_lock("my_lock", LockKind.MUTEX)
    locked = not op.variant(UNLOCKED)
    if locked:
        op.lock(lock, EXCL, "mutex_lock(&my_lock)")
    seen = op.compute("seen", "seen = my_counter", read, counter)
    op.effect("my_counter = seen + 1", write, counter, lost, seen)
    if locked:
        op.unlock(lock, "mutex_unlock(&my_lock)")


@invariant("my-bumps-kept", "no bump of the counter is lost", reads=["my lost bump"])
def bumps_kept(model):
    lost = model.world.shared_slot("my lost bump", None)
    return lambda state: state[lost]


scenario("my/two-bumps", "two threads bump the counter", tree=[], threads=[bump(), bump()])
'''


def test_a_files_own_invariant_is_checked_where_its_operations_make_its_slots(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A scenario declared without properties= checks an @invariant of its
    file that needs no part of the kernel world, when its operations make
    what the invariant reads: the bump without its lock loses an update."""
    _write(tmp_path, "counter.py", OWN_INVARIANT)
    correct = vfsmc("check", "counter.py:my/two-bumps", "--json", "--no-save")
    assert correct.exit_code == 0, correct.output
    assert "my-bumps-kept" in json.loads(correct.stdout)["properties"]
    broken = vfsmc("check", "counter.py:my/two-bumps", "-V", "bump-unlocked", "--no-save")
    assert broken.exit_code == 1, broken.output
    assert "my-bumps-kept in my/two-bumps with variant bump-unlocked" in broken.output
    assert "a bump overwrote 1 with 1" in broken.output


def test_an_invariant_asked_of_a_scenario_without_its_slots_has_nothing_to_check(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Asked of a shipped scenario whose threads never make the slot the
    invariant reads, it is one line and exit 2 (the slot it would have
    made lies past every state's end), and show does not offer it there."""
    _write(tmp_path, "counter.py", OWN_INVARIANT)
    asked = vfsmc(
        "check", "dirops/opposite-renames", "--models", "counter.py", "-p", "my-bumps-kept"
    )
    assert asked.exit_code == 2, asked.output
    assert asked.output.strip().splitlines() == [
        "vfsmc: error: my-bumps-kept reads my lost bump, which no thread of "
        "dirops/opposite-renames makes: it has nothing to check there"
    ]
    shown = vfsmc("show", "dirops/opposite-renames", "--models", "counter.py", "--json")
    assert shown.exit_code == 0, shown.output
    assert "my-bumps-kept" not in json.loads(shown.stdout)["available_properties"]


def test_a_step_a_transform_copies_names_the_line_model_line_gives(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A copy made with ``attrs.evolve(step, source=model_line())`` cites the
    variant's file and line, not the shipped line of the step copied."""
    _write(tmp_path / "mine", "copied_order.py", NEW_OPERATION.replace("{name}", "copied"))
    _write(
        tmp_path / "mine",
        "copy.py",
        "import attrs\n"
        "from mc.dsl import model_line, variant\n"
        "from copied_order import lock_both\n"
        '@variant("unlock-b-twice", "inode_unlock(b) copied before itself")\n'
        "def twice(program, invocation):\n"
        "    if not invocation.runs(lock_both):\n"
        "        return program\n"
        "    def change(step):\n"
        '        if step.label != "inode_unlock(b)":\n'
        "            return [step]\n"
        '        return [attrs.evolve(step, label="inode_unlock(b) /* copy */", '
        "source=model_line()), step]\n"
        "    return program.replace_steps(change)\n",
    )
    shown = vfsmc("show", "copied/same-order", "--models", "mine", "-V", "unlock-b-twice")
    assert shown.exit_code == 0, shown.output
    assert "T1 added    inode_unlock(b) /* copy */  (mine/copy.py:11)" in shown.output, shown.output


def test_a_flag_asked_whose_answer_changes_nothing_is_a_variant_that_changes_nothing(
    vfsmc: Run, tmp_path: Path
) -> None:
    """An operation that asks about a flag but builds the same steps either
    way (the bump drops its lock only for a big counter, and the scenario's
    is not) is refused as changing nothing, not checked as OK under the
    flag's name; where the answer changes a value a step's function closes
    over, the flag changes the model."""
    text = OWN_INVARIANT.replace(
        "locked = not op.variant(UNLOCKED)", "locked = not (op.variant(UNLOCKED) and big)"
    ).replace("def bump(op: Op) -> None:", "def bump(op: Op, big: bool = False) -> None:")
    text += (
        'scenario("my/two-big-bumps", "two big bumps", tree=[], threads=[bump(True), bump(True)])\n'
        'flag_variant("bump-by-two", "the bump adds two")\n'
        '@operation(models="my_add()")\n'
        "def add(op: Op) -> None:\n"
        '    counter = op.world.shared_slot("my added", 0)\n'
        '    step = 2 if op.variant("bump-by-two") else 1\n'
        '    op.effect("my_added += step", lambda scratch, at: scratch.__setitem__(at, step), '
        "counter)\n"
        '@invariant("my-counter-small", "the counter stays below 2", reads=["my added"])\n'
        "def small(model):\n"
        '    at = model.world.shared_slot("my added", 0)\n'
        '    return lambda state: "too big" if state[at] >= 2 else None\n'
        'scenario("my/add", "one add", tree=[], threads=[add()])\n'
    )
    _write(tmp_path, "counter.py", text)
    small = vfsmc("check", "counter.py:my/two-bumps", "-V", "bump-unlocked", "--no-save")
    assert small.exit_code == 2, small.output
    assert small.output.strip() == (
        "vfsmc: error: variant bump-unlocked changes nothing in my/two-bumps"
    )
    big = vfsmc("check", "counter.py:my/two-big-bumps", "-V", "bump-unlocked", "--no-save")
    assert big.exit_code == 1, big.output
    assert vfsmc("check", "counter.py:my/add", "--no-save").exit_code == 0
    by_two = vfsmc("check", "counter.py:my/add", "-V", "bump-by-two", "--no-save")
    assert by_two.exit_code == 1, by_two.output
    assert "too big" in by_two.output


def test_a_chart_of_a_trace_whose_model_file_now_fails_says_why(vfsmc: Run, tmp_path: Path) -> None:
    """graph draws the steps as recorded and names the model file's error,
    not the unknown scenario that error left behind (in a process of its
    own: this one keeps the file it loaded before the edit)."""
    original = NEW_OPERATION.replace("{name}", "failing")
    _write(tmp_path / "mine", "failing_order.py", original)
    assert vfsmc("check", "mine/failing_order.py:failing/opposite-order").exit_code == 1
    saved = "mine/counterexamples/failing-opposite-order.json"
    _write(tmp_path / "mine", "failing_order.py", original + "\nraise RuntimeError('x')\n")
    drawn = subprocess.run(
        [sys.executable, "-m", "mc", "graph", saved, "-o", "chart.dot"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert drawn.returncode == 0, drawn.stderr
    assert f"vfsmc: warning: {saved}: its models could not be loaded (" in drawn.stderr
    line = len(original.splitlines()) + 2
    assert f"mine/failing_order.py:{line}: RuntimeError: x)" in drawn.stderr, drawn.stderr
    assert "unknown scenario" not in drawn.stderr


REGROUPED = '''\
"""A lock only T1 takes on the correct protocol, which a variant makes T2 take too."""

from mc.dsl import EXCL, Op, flag_variant, operation, scenario

BOTH = "t2-takes-a"
flag_variant(BOTH, "T2 takes /a inside /b")


@operation(models="inode_lock() calls", describe=lambda first, second: f"lock({first}, {second})")
def lock_pair(op: Op, first: str, second: str | None) -> None:
    """Lock ``first`` then, if given, ``second``."""
    outer = op.inode(first).i_rwsem
    op.lock(outer, EXCL, f"inode_lock({first})")
    if second is not None:
        inner = op.inode(second).i_rwsem
        op.lock(inner, EXCL, f"inode_lock({second})")
        op.unlock(inner, f"inode_unlock({second})")
    op.unlock(outer, f"inode_unlock({first})")


@operation(models="inode_lock() calls", describe=lambda: "lock(/b)")
def lock_b(op: Op) -> None:
    """Lock /b, and under the variant /a inside it."""
    b = op.inode("/b").i_rwsem
    op.lock(b, EXCL, "inode_lock(/b)")
    if op.variant(BOTH):
        a = op.inode("/a").i_rwsem
        op.lock(a, EXCL, "inode_lock(/a) /* under /b */")
        op.unlock(a, "inode_unlock(/a)")
    op.unlock(b, "inode_unlock(/b)")


scenario(
    "my/pair",
    "T1 locks /a then /b; T2 locks /b",
    tree=["/a/", "/b/"],
    threads=[lock_pair("/a", "/b"), lock_b()],
)
'''


def test_a_trace_replays_on_the_correct_protocol_where_its_locks_run_together(
    vfsmc: Run, tmp_path: Path
) -> None:
    """On the correct protocol only T1 takes /a, so its inode_lock(/a)
    runs as T1 starts; the variant's trace takes it as a step of its own.
    ``replay --correct`` passes over it rather than stopping at step 1,
    and stops at the variant's own step."""
    model = _write(tmp_path, "pair.py", REGROUPED)
    found = vfsmc("check", f"{model}:my/pair", "-V", "t2-takes-a")
    assert found.exit_code == 1 and "deadlock" in found.output, found.output
    saved = tmp_path / "counterexamples" / "my-pair--t2-takes-a.json"
    assert json.loads(saved.read_text())["steps"][0]["label"] == "inode_lock(/a)"
    correct = vfsmc("replay", str(saved), "--correct", "--json")
    assert correct.exit_code == 0, correct.output
    report = json.loads(correct.output)
    assert report["stopped_at"] == 3, report
    assert report["reason"] == (
        "T2 is at 'inode_unlock(/b)' instead of 'inode_lock(/a) /* under /b */'"
    )
    again = vfsmc("replay", str(saved))
    assert again.exit_code == 1, again.output


OWN_BASE_EXCEPTION = '''\
from mc.dsl import Op, operation, scenario


class Mine(BaseException):
    """An exception of the model's own that is no Exception."""


def boom(scratch, slot):
    raise Mine("the model's own")


@operation(models="an effect that raises")
def bump(op: Op) -> None:
    op.effect("x++", boom, op.world.shared_slot("x", 0))


scenario("my/boom", "x", tree=["/a/"], threads=[bump(), bump()], properties=["deadlock"])
'''


@pytest.mark.parametrize(
    ("text", "target", "said"),
    [
        ("raise GeneratorExit\n", "dirops/opposite-renames", "ge.py:1: GeneratorExit"),
        (OWN_BASE_EXCEPTION, "ge.py:my/boom", "ge.py:9: in boom: Mine: the model's own"),
    ],
)
def test_a_model_raising_what_is_no_exception_is_one_line(
    vfsmc: Run, tmp_path: Path, text: str, target: str, said: str
) -> None:
    """A model file raising a BaseException that is no Exception
    (GeneratorExit, a class of its own) as it loads or as a step runs is
    a model error naming its line, exit 2, not a traceback and exit 1."""
    _write(tmp_path, "ge.py", text)
    extra = ("--models", "ge.py") if target.startswith("dirops/") else ()
    ran = vfsmc("check", target, "--no-save", *extra)
    assert ran.exit_code == 2, ran.output
    assert ran.output.strip() == f"vfsmc: error: {said}"


FAULT_TAKES_IOLOCK = '''\
"""->fault taking the faulted file's inode lock shared, as XFS's
xfs_filemap_fault() took the IOLOCK before 653c60b633a9."""

from mc.dsl import SHARED, File, Op, inserts, scenario
from mc.models.usercopy import write_from_other_mapping
from mc.models.writeback import io_completion

CALL_FAULT = "__do_fault(): ret = vma->vm_ops->fault(vmf)"
AFTER_FAULT = (
    "if (unlikely(ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY))) return ret"
)


def lock(op: Op, file: File, index: int, source_file: File, source: int) -> None:
    op.lock(op.inode(source_file.path).i_rwsem, SHARED, "xfs_ilock(ip, XFS_IOLOCK_SHARED)")


def unlock(op: Op, file: File, index: int, source_file: File, source: int) -> None:
    op.unlock(op.inode(source_file.path).i_rwsem, "xfs_iunlock(ip, XFS_IOLOCK_SHARED)")


inserts(write_from_other_mapping, "fault-takes-iolock", "->fault takes the inode lock shared",
        before={CALL_FAULT: lock, AFTER_FAULT: unlock})

A, B = File("/a", pages=1), File("/b", pages=1)
scenario(
    "my/cross-mapped-cold",
    "write(2) of /b from a mapping of /a, and of /a from a mapping of /b, neither cached",
    tree=["/a", "/b"],
    threads=[write_from_other_mapping(B, 0, A, 0), write_from_other_mapping(A, 0, B, 0),
             io_completion(A)],
    properties=["lock-protocol", "deadlock", "completes"],
)
'''


def test_a_deadlock_the_correct_protocol_escapes_says_who_goes_on(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Each write holds its own i_rwsem on the correct protocol alone, so
    the lock runs as it starts; the trace of the variant, which takes the
    other file's too, replays there step for step, and the replay says
    which threads can go on where the variant deadlocked."""
    model = _write(tmp_path, "iolock.py", FAULT_TAKES_IOLOCK)
    found = vfsmc("check", f"{model}:my/cross-mapped-cold", "-V", "fault-takes-iolock")
    assert found.exit_code == 1 and "deadlock" in found.output, found.output
    saved = tmp_path / "counterexamples" / "my-cross-mapped-cold--fault-takes-iolock.json"
    correct = vfsmc("replay", str(saved), "--correct", "--json")
    assert correct.exit_code == 0, correct.output
    reason = json.loads(correct.output)["reason"]
    assert reason.startswith(
        "every step replays but the last state does not violate deadlock: T1 at"
    ), reason
    assert reason.endswith("can go on"), reason


def test_an_insertion_whose_steps_a_flag_turns_on_changes_the_scenario_with_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Hooks inserted into a shipped operation that add steps only under a
    flag variant: the two given together change the shipped scenario
    (check finds the sleep under the spinlock, show lists the steps);
    the hooks alone change nothing, and say so."""
    model = _write(tmp_path, "hooks.py", FSYNC_HOOKS_UNDER_A_FLAG)
    both = ("-V", "myfs-fsync-hooks", "-V", "fsync-waits-under-spinlock")
    for variants in (both, (*both[2:], *both[:2])):
        result = vfsmc(
            "check", "writeback/write-vs-fsync", "--models", model, *variants, "--no-save"
        )
        assert result.exit_code == 1, result.output
        assert "lock-protocol" in result.output and "i_sync_lock" in result.output
    shown = vfsmc("show", "writeback/write-vs-fsync", "--models", model, *both)
    assert shown.exit_code == 0, shown.output
    assert "added    spin_lock(&ei->i_sync_lock)" in shown.output
    alone = vfsmc("check", "writeback/write-vs-fsync", "--models", model, *both[:2], "--no-save")
    assert alone.exit_code == 2
    assert "variant myfs-fsync-hooks changes nothing in writeback/write-vs-fsync" in alone.output


DECIDES_ON_A_SYMBOLIC_SIZE = """
from mc.dsl import (
    File, Op, PAGE_SIZE, Symbol, at_most, decide, fork_when, operation, scenario, step_invariant,
)
from mc.models.truncate import truncate

SMALL = "small-file-seen"
F = File("/f", pages=2, cached=(0, 1))


def refuse(scratch):
    scratch.violate(SMALL, "the file is at most one page long")


step_invariant(SMALL, "the check below never sees a file of one page or less")


@operation(models="myfs_check_size()")
def check_size(op: Op, file: File) -> None:
    op.run(truncate, file, Symbol("size", 0, 8192))
    with fork_when(op, "small", "if (i_size_read(inode) <= PAGE_SIZE)",
                   lambda scratch, m: at_most(scratch[m.i_size], PAGE_SIZE), op.mapping(file)):
        op.effect("WARN_ON(small)", refuse)


scenario("my/size", "truncate to a symbolic size, then a check of it", tree=["/f"],
         threads=[check_size(F)], properties=["lock-protocol", SMALL])
"""


def test_a_step_of_one_s_own_decides_on_a_symbolic_size(vfsmc: Run, tmp_path: Path) -> None:
    """fork_when with a comparison from mc.dsl forks the run into the
    outcomes z3 finds feasible: the check sees a size of at most a page,
    with a witness that says so; a plain op.effect cannot decide."""
    model = _write(tmp_path, "size.py", DECIDES_ON_A_SYMBOLIC_SIZE)
    result = vfsmc("check", f"{model}:my/size", "--no-save", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["property"] == "small-file-seen"
    assert 0 <= report["trace"]["witness"]["size"] <= 4096
    plain = _write(
        tmp_path / "plain",
        "size.py",
        DECIDES_ON_A_SYMBOLIC_SIZE.replace(
            "    with fork_when(",
            "    op.effect('decide', lambda s, m: decide(s, at_most(s[m.i_size], PAGE_SIZE)),"
            " op.mapping(file))\n    with fork_when(",
        ),
    )
    error = vfsmc("check", f"{plain}:my/size", "--no-save")
    assert error.exit_code == 2
    assert "depends on a symbolic value in a step that cannot fork" in error.output


COMPLETION_TAKES_I_RWSEM = """
from mc.dsl import EXCL, inserts
from mc.models.dio import dio_worker

END_IO = (
    "dops->end_io(iocb, dio->size, ret, dio->flags) = ext4_dio_write_end_io(): pos += size; "
    "if (pos > i_size_read(inode))"
)


def lock(op, file, index):
    op.lock(op.inode(file.path).i_rwsem, EXCL, "myfs_dio_write_end_io(): inode_lock(inode)")


def unlock(op, file, index):
    op.unlock(op.inode(file.path).i_rwsem, "myfs_dio_write_end_io(): inode_unlock(inode)")


inserts(dio_worker, "end-io-takes-i-rwsem", "the AIO completion takes i_rwsem for i_size",
        before={END_IO: lock}, after={END_IO: unlock})
"""


def test_a_wait_for_direct_io_names_the_thread_that_would_end_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """Hole punch waits in inode_dio_wait() under i_rwsem; an AIO
    completion worker that takes i_rwsem before its inode_dio_end() is the
    thread the wait is for: the deadlock is the cycle between the two, not
    a wait nobody could end."""
    model = _write(tmp_path, "endio.py", COMPLETION_TAKES_I_RWSEM)
    result = vfsmc(
        "check",
        "dio/aio-write-vs-punch",
        "--models",
        model,
        "-V",
        "end-io-takes-i-rwsem",
        "--no-save",
    )
    assert result.exit_code == 1, result.output
    assert "T2 waits for i_dio_count(/f) held by T3; T3 waits for i_rwsem(/f) held by T2" in (
        result.output
    )
    assert "cycle: T2 -> i_dio_count(/f) -> T3 -> i_rwsem(/f) -> T2" in result.output
    assert "which no thread could end" not in result.output


def test_an_insertion_into_another_operation_than_the_one_with_the_step_says_which(
    vfsmc: Run, tmp_path: Path
) -> None:
    """writeback/mmap-store-flusher's thread runs mmap_stores, not
    mmap_store: the insertion changes nothing, and the error names the
    operation whose program has the labelled step."""
    model = _write(tmp_path, "hook.py", INSERTS_INTO_ONE_STORE)
    result = vfsmc(
        "check", "writeback/mmap-store-flusher", "--models", model, "-V", "my-mkwrite", "--no-save"
    )
    assert result.exit_code == 2
    assert (
        "(it inserts into mmap_store, but the step it names is in mmap_stores (T1): "
        "inserts((mmap_store, mmap_stores), ...) reaches it there too)"
    ) in result.output


A_SYMBOL_ARGUMENT = """
from mc.dsl import Op, PAGE_SIZE, Symbol, at_least, fork_when, mul, operation, scenario
from mc.dsl import step_invariant

PAST = "past-the-end-seen"
step_invariant(PAST, "the check never sees a position past the end")


def refuse(scratch):
    scratch.violate(PAST, "a position at or past 8192")


@operation(models="myfs_check_pos()")
def check_pos(op: Op, pos) -> None:
    with fork_when(op, "past", "if (pos * PAGE_SIZE >= 8192)",
                   lambda scratch, p: at_least(mul(p, PAGE_SIZE), 8192), pos):
        op.effect("WARN_ON(past)", refuse)


scenario("my/pos", "a check of a symbolic position", tree=["/f"],
         threads=[check_pos(Symbol("pos", 0, 3))], properties=["lock-protocol", PAST])
"""


def test_a_fork_step_takes_an_operation_s_own_symbol_argument(vfsmc: Run, tmp_path: Path) -> None:
    """A Symbol an operation is given, passed to fork_when as it is, is the
    term it stands for: the run forks, and the witness names the symbol."""
    model = _write(tmp_path, "pos.py", A_SYMBOL_ARGUMENT)
    result = vfsmc("check", f"{model}:my/pos", "--no-save", "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["trace"]["witness"]["pos"] in (2, 3)


RAISES_INTERRUPT = """
from mc.dsl import Op, Scratch, operation, scenario


def interrupt(scratch: Scratch) -> None:
    raise KeyboardInterrupt


@operation(models="an effect that raises KeyboardInterrupt")
def raiser(op: Op) -> None:
    op.effect("raise KeyboardInterrupt", interrupt)


scenario("mine/interrupt", "a model raising KeyboardInterrupt", tree=[], threads=[raiser()],
         properties=["deadlock"])
"""


def test_a_keyboard_interrupt_the_model_raises_is_its_error_not_ctrl_c(
    vfsmc: Run, tmp_path: Path
) -> None:
    """No Ctrl-C came: the search does not end as interrupted (exit 130)
    but names the model line, exit 2."""
    _write(tmp_path / "mine", "interrupt.py", RAISES_INTERRUPT)
    result = vfsmc("check", "mine/interrupt.py:mine/interrupt", "--no-save")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("vfsmc: error: mine/interrupt.py:6: in interrupt: ")
    assert "KeyboardInterrupt raised by the model" in result.output


def test_a_file_scenario_spec_names_the_file_s_own_scenarios(vfsmc: Run, tmp_path: Path) -> None:
    """FILE.py:NAME names a scenario FILE.py declares: a shipped one named
    so is refused with how to name it; an unknown variant's hint knows the
    file is loaded."""
    _write(tmp_path / "mine", "own.py", RAISES_INTERRUPT)
    shipped = vfsmc("check", "mine/own.py:dirops/opposite-renames", "--no-save")
    assert shipped.exit_code == 2, shipped.output
    assert "mine/own.py declares no scenario 'dirops/opposite-renames'" in shipped.output
    assert "name it alone, with --models mine/own.py" in shipped.output
    unknown = vfsmc("check", "mine/own.py:mine/interrupt", "-V", "nope", "--no-save")
    assert unknown.exit_code == 2, unknown.output
    assert "the model files loaded (mine/own.py) declare none such" in unknown.output


STEP_BROKEN_INVARIANT = """
from mc.dsl import Op, Scratch, invariant, operation, scenario

COUNTED = "my-counted"


@invariant(COUNTED, "the counter stays below 2", reads=["my counter"])
def counted(model):
    slot = model.world.shared_slot("my counter", 0)
    return lambda state: "the counter reached 2" if state[slot] >= 2 else None


def _bump(scratch: Scratch) -> None:
    slot = scratch.world.shared_slot("my counter", 0)
    if scratch[slot] == 1:
        scratch.violate(COUNTED, "a second bump while the first is not undone")
        return
    scratch[slot] = scratch[slot] + 1


@operation(models="a bump of the counter")
def bump(op: Op) -> None:
    op.world.shared_slot("my counter", 0)
    op.effect("counter++", _bump)


scenario("my/bumps", "two bumps", tree=["/a/"], threads=[bump(), bump()],
         properties=["deadlock", COUNTED])
"""


def test_an_invariant_reports_the_error_a_step_recorded_against_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A step that records a violation of an ``@invariant`` (not a
    ``step_invariant``) with ``scratch.violate`` ends the run with it
    reported, though the invariant's own check does not look for it."""
    (tmp_path / "bumps.py").write_text(STEP_BROKEN_INVARIANT)
    result = vfsmc("check", f"{tmp_path / 'bumps.py'}:my/bumps", "--no-save")
    assert result.exit_code == 1, result.output
    assert "my-counted in my/bumps" in result.output
    assert "my-counted in my/bumps\na second bump while the first is not undone" in result.output


DAX_AND_TRUNCATE_CHANGES = """
from mc.dsl import Invocation, Program, variant
from mc.models.dax import dax_punch_hole, dax_truncate
from mc.models.truncate import truncate


@variant("delete-no-wait", "dax_delete_mapping_entry() does not wait for a locked entry")
def delete_no_wait(program: Program, invocation: Invocation) -> Program:
    if not (invocation.runs(dax_truncate) or invocation.runs(dax_punch_hole)):
        return program
    return program.drop_acquisitions(
        lambda s: "dax_delete_mapping_entry" in s.label or "dax_is_locked(entry)" in s.label
    )


@variant("holes-late", "truncate_pagecache() works out its pages after it unmaps them")
def holes_late(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(truncate):
        return program
    holes = next(s for s in program.steps if s.label.startswith("truncate_pagecache(inode"))
    last = [s for s in program.steps if s.label == "i_mmap_unlock_read(mapping)"][-1]
    return program.move_after([holes], last)
"""


def test_a_dax_entry_deleted_under_its_writeback_s_lock_is_a_protocol_error(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A truncate that deletes a DAX entry without waiting for its lock
    pulls it from under dax_writeback_one(), which would store it back and
    flush its block: a lock-protocol error, where the model failed on the
    missing entry before."""
    (tmp_path / "changes.py").write_text(DAX_AND_TRUNCATE_CHANGES)
    args = ("dax/truncate-vs-store-fsync", "--models", str(tmp_path / "changes.py"), "--no-save")
    result = vfsmc("check", *args, "-V", "delete-no-wait")
    assert result.exit_code == 1, result.output
    assert "lock-protocol in dax/truncate-vs-store-fsync" in result.output
    assert "dax_writeback_one() holds the entry lock of /f:0, but the entry was deleted" in (
        result.output
    )


def test_a_model_step_that_fails_only_under_a_variant_says_so(vfsmc: Run, tmp_path: Path) -> None:
    """A variant that moves the step filling a register a later model
    function reads makes that function fail: one line naming the model
    line, the variant, and what most often causes it."""
    (tmp_path / "changes.py").write_text(DAX_AND_TRUNCATE_CHANGES)
    args = ("truncate/truncate-vs-write-fault", "--models", str(tmp_path / "changes.py"))
    result = vfsmc("check", *args, "-V", "holes-late", "--no-save")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if "error" in line]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("vfsmc: error: models/truncate_mm.py:"), result.output
    assert (
        ", under holes-late: a step that fails only under a variant has most often "
        "lost a step before it whose result it needs, moved or dropped (vfsmc show "
        "truncate/truncate-vs-write-fault -V holes-late lists the steps it changes)"
    ) in lines[0]


def test_a_step_invariant_declared_twice_names_both_lines(vfsmc: Run, tmp_path: Path) -> None:
    """step_invariant's check is vfsmc's own function: the error names the
    model lines that called it, as for an @invariant."""
    body = (
        "from mc.dsl import scenario, step_invariant\n"
        "from mc.models.dirops import rmdir\n"
        'step_invariant("mine-broken", "a step of mine says so")\n'
        'scenario("{name}", "x", tree=["/a/", "/a/b/"], threads=[rmdir("/a/b")])\n'
    )
    (tmp_path / "one.py").write_text(body.format(name="my/one"))
    (tmp_path / "two.py").write_text(body.format(name="my/two"))
    twice = vfsmc("check", "one.py:my/one", "--models", "two.py", "--no-save")
    assert twice.exit_code == 2
    assert (
        "one.py:3: property mine-broken is declared twice (first at two.py:3)" in (twice.output)
        or "two.py:3: property mine-broken is declared twice (first at one.py:3)" in twice.output
    )


RAISES_INTERRUPT_LATE = """
from mc.dsl import Op, Scratch, operation, scenario


def count_then_interrupt(scratch: Scratch, slot: int) -> None:
    if scratch[slot] >= {depth}:
        raise KeyboardInterrupt
    scratch[slot] = scratch[slot] + 1


@operation(models="effects that count, then raise KeyboardInterrupt")
def counter(op: Op) -> None:
    slot = op.world.shared_slot("count", 0)
    for step in range(8):
        op.effect(f"count {{step}}", count_then_interrupt, slot)


scenario("mine/late-interrupt", "x", tree=[], threads=[counter(), counter(), counter()],
         properties=["deadlock"])
"""


@pytest.mark.parametrize("depth", [2, 12])
def test_a_keyboard_interrupt_the_model_raises_over_workers_is_its_error(
    vfsmc: Run, tmp_path: Path, depth: int
) -> None:
    """Over workers, a KeyboardInterrupt no Ctrl-C raised is the model's,
    one line naming its model line and exit 2, as in one process: in the
    first steps the command runs itself (it was exit 130, interrupted) and
    in a worker, which ignores SIGINT (it ended the worker with a
    traceback, and the run INCOMPLETE)."""
    _write(tmp_path / "mine", "late.py", RAISES_INTERRUPT_LATE.format(depth=depth))
    result = vfsmc("check", "mine/late.py:mine/late-interrupt", "--no-save", "--workers", "2")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("vfsmc: error: mine/late.py:7: in count_then_interrupt: ")
    assert "KeyboardInterrupt raised by the model" in result.output
    assert len(result.output.strip().splitlines()) == 1


PAGEFAULT_AS_WRITE = """
from mc.dsl import SB_FREEZE_WRITE, SHARED, File, inserts, sb_writers, scenario
from mc.models.super import freeze, thaw
from mc.models.truncate import mmap_store, munmap
from mc.models.usercopy import write_from_other_mapping
from mc.models.writeback import io_completion

START = "ext4_page_mkwrite(): sb_start_pagefault(inode->i_sb)"
END = "sb_end_pagefault(inode->i_sb)"


def take(op, file, pos):
    op.lock(sb_writers(op.world, SB_FREEZE_WRITE), SHARED, "sb_start_write(inode->i_sb)")


def release(op, file, pos):
    op.unlock(sb_writers(op.world, SB_FREEZE_WRITE), "sb_end_write(inode->i_sb)")


inserts(mmap_store, "mkwrite-write-level", "ext4_page_mkwrite() enters SB_FREEZE_WRITE",
        instead={START: take, END: release}, every=True)

A = File("/a", pages=1, cached=(0,))
B = File("/b", pages=1, cached=(0,))
scenario("my/mkwrite-vs-write-from-mapping", "a write fault of /a, write(2) of /b from /a's "
         "mapping, munmap(2) of /a, FIFREEZE, FITHAW", tree=["/a", "/b"],
         threads=[mmap_store(A, 0), write_from_other_mapping(B, 0, A, 0), munmap(A), freeze(A),
                  thaw(A), io_completion(B)])
"""


def test_an_insertion_instead_of_a_step_takes_its_place(vfsmc: Run, tmp_path: Path) -> None:
    """``inserts(..., instead={LABEL: f})`` puts f's steps in the labelled
    step's place: ->page_mkwrite entering SB_FREEZE_WRITE rather than
    SB_FREEZE_PAGEFAULT, in one variant, deadlocks with a write(2) copying
    from the mapping once a freezer and an mmap_lock writer queue (the
    inversion 5accdf82ba25 gave faults a level of their own for)."""
    _write(tmp_path, "level.py", PAGEFAULT_AS_WRITE)
    shown = vfsmc("show", "level.py:my/mkwrite-vs-write-from-mapping", "-V", "mkwrite-write-level")
    assert shown.exit_code == 0, shown.output
    changes = [line.split()[1:3] for line in shown.output.splitlines() if "  T1 " in line]
    assert ["removed", "ext4_page_mkwrite():"] in changes and [
        "added",
        "sb_start_write(inode->i_sb)",
    ] in changes
    assert "sb_end_pagefault" in shown.output and "sb_end_write(inode->i_sb)" in shown.output
    found = vfsmc(
        "check",
        "level.py:my/mkwrite-vs-write-from-mapping",
        "-V",
        "mkwrite-write-level",
        "--no-save",
    )
    assert found.exit_code == 1, found.output
    assert "deadlock" in found.output and "sb_writers" in found.output


COUNTING_CREATES = """
from mc.dsl import inserts, invariant, scenario
from mc.models.dirops import create

PART = "my-counter"


def count(op, path):
    slot = op.world.shared_slot("my_count", 0)
    op.world.parts.setdefault(PART, set()).add(op.thread.tid)
    op.effect("my_count++", lambda scratch: scratch.__setitem__(slot, scratch[slot] + 1))


inserts(create, "count-creates", "each create counts itself",
        after={"inode_lock_nested(path->dentry->d_inode, I_MUTEX_PARENT)": count})


@invariant("at-most-one-count", "the counter stays below 2", reads=["my_count"],
           needs=(PART, "a counting create"))
def at_most_one(model):
    slot = model.world.slot("my_count")
    return lambda state: None if state[slot] < 2 else f"my_count is {state[slot]}"


scenario("my/two-creates", "creates of two names", tree=["/a/"],
         threads=[create("/a/x"), create("/a/y")])
"""


def test_a_property_a_variant_s_steps_make_checkable_is_checked_under_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A property whose ``needs=`` part only a variant's steps make is among
    the defaults of a scenario declared without ``properties=`` when it is
    checked under that variant, and may be asked for by name there: it
    was left out (OK, a violation passed over) or refused."""
    _write(tmp_path, "part.py", COUNTING_CREATES)
    for asked in ((), ("-p", "at-most-one-count")):
        result = vfsmc("check", "part.py:my/two-creates", "-V", "count-creates", *asked)
        assert result.exit_code == 1, result.output
        assert "at-most-one-count" in result.output and "my_count is 2" in result.output
    alone = vfsmc("check", "part.py:my/two-creates", "--no-save")
    assert alone.exit_code == 0 and "at-most-one-count" not in alone.output, alone.output
