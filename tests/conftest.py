"""Shared fixtures: the shipped registry and an in-process CLI runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mc.check import lockorder, usermodels
from mc.check.registry import shipped_modules
from mc.cli.main import main
from mc.cli.options import registry
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry, Scenario, Variant
from mc.dsl.symmetry import representative
from mc.engine.explore import Options, Search

ROOT = Path(__file__).resolve().parent.parent

shipped_modules()
"""The shipped operations ask about variants the scenario modules declare
(``op.variant``): imported here, a registry of ``base()`` alone builds them
in whatever order the tests run."""

RAISING_READS = """\
from mc.dsl import invariant, scenario
from mc.models.dirops import create


def bad_reads(model):
    raise KeyError("no such slot family")


@invariant("my-bad", "reads raises", reads=bad_reads)
def bad(model):
    return lambda state: None


scenario("my/ok", "x", tree=["/a/"], threads=[create("/a/x")], properties=["deadlock"])
scenario("my/bad", "x", tree=["/a/"], threads=[create("/a/x")], properties=["deadlock", "my-bad"])
"""


FSYNC_HOOKS_UNDER_A_FLAG = """
from mc.dsl import EXCL, LockKind, flag_variant, inserts
from mc.models.writeback import fsync

SPIN = "fsync-waits-under-spinlock"
flag_variant(SPIN, "myfs_fsync() holds ei->i_sync_lock across folio_wait_writeback()")


def sync_lock(op, file):
    return op.world.shared_lock(f"i_sync_lock({file.path})", LockKind.SPINLOCK)


def take(op, file):
    if op.variant(SPIN):
        op.lock(sync_lock(op, file), EXCL, "spin_lock(&ei->i_sync_lock)")


def drop(op, file):
    if op.variant(SPIN):
        op.unlock(sync_lock(op, file), "spin_unlock(&ei->i_sync_lock)")


inserts(fsync, "myfs-fsync-hooks", "myfs's fsync hooks", every=True,
        before={"folio_wait_writeback(folio)": take}, after={"folio_wait_writeback(folio)": drop})
"""
"""A model file: hooks inserted into fsync around folio_wait_writeback() that
take a spinlock only under the flag variant fsync-waits-under-spinlock."""

INSERTS_INTO_ONE_STORE = """
from mc.dsl import EXCL, LockKind, inserts
from mc.models.truncate import mmap_store

MKWRITE = "do_page_mkwrite(): ret = vmf->vma->vm_ops->page_mkwrite(vmf)"


def lock(op):
    return op.world.shared_lock("my_lock", LockKind.MUTEX)


inserts(mmap_store, "my-mkwrite", "->page_mkwrite takes my_lock", every=True,
        before={MKWRITE: lambda op, *args: op.lock(lock(op), EXCL, "mutex_lock(&my_lock)")},
        after={MKWRITE: lambda op, *args: op.unlock(lock(op), "mutex_unlock(&my_lock)")})
"""
"""A model file: ->page_mkwrite takes a mutex of its own, inserted into
mmap_store alone (scenarios whose threads run mmap_stores have the step
too, out of its reach)."""

ABBA = """\
from mc.dsl import EXCL, LockKind, Op, operation, scenario


@operation(models="takes two mutexes in the order given")
def both(op: Op, first: str, second: str) -> None:
    one = op.world.shared_lock(first, LockKind.MUTEX)
    two = op.world.shared_lock(second, LockKind.MUTEX)
    op.lock(one, EXCL, f"mutex_lock({first})")
    op.lock(two, EXCL, f"mutex_lock({second})")
    op.unlock(two, f"mutex_unlock({second})")
    op.unlock(one, f"mutex_unlock({first})")


scenario("my/abba", "two orders", tree=[], threads=[both("a", "b"), both("b", "a")],
         properties=["deadlock"])
"""
"""A user's model file: my/abba, two threads taking mutexes a and b in
opposite orders (a deadlock)."""


@pytest.fixture
def raising_reads() -> Callable[[Path], Path]:
    """Writes, into a directory, ``mine.py``: scenarios my/ok and my/bad,
    my/bad checking a property whose reads= function raises; its path."""

    def write(directory: Path) -> Path:
        path = directory / "mine.py"
        path.write_text(RAISING_READS)
        return path

    return write


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say the order's seed even under ``-q``, so that an order a run
    failed in can be run again (``pytest --randomly-seed=N``)."""
    seed = session.config.getoption("randomly_seed", None)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if seed is not None and reporter is not None:
        reporter.write_line(f"test order: --randomly-seed={seed}")


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What vfsmc caches (``vfsmc list``'s applicable variants) goes to a
    folder of the test session's, for the commands run in process and
    those run as child processes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def shipped() -> Registry:
    """The registry with every shipped model."""
    return registry()


def registry_with(
    shipped: Registry, *variants: Variant, scenarios: Sequence[Scenario] = ()
) -> Registry:
    """A registry with the shipped properties and the way shipped variants
    are found, and a test's own ``variants`` and ``scenarios``."""
    registry = Registry()
    registry.properties.update(shipped.properties)
    registry.variant_resolvers.extend(shipped.variant_resolvers)
    for variant in variants:
        registry.add_variant(variant)
    for scenario in scenarios:
        registry.add_scenario(scenario)
    return registry


@pytest.fixture(scope="session")
def shipped_lock_edges(shipped: Registry) -> list[lockorder.Explored]:
    """The lock-class edges of every shipped scenario on the correct
    protocol (``lockorder.explore``), explored once for the tests that
    read them all."""
    return lockorder.explore(shipped, sorted(shipped.scenarios))


EndStates = Callable[[str], tuple[dict[str, int], list[tuple[object, ...]]]]


def python_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """This Python run with ``args`` in ``folder``, importing this vfsmc
    (a process of its own: it reads model files afresh), its output
    captured as text (two minutes at most)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )


def reachable_states(model: KernelModel) -> set[tuple[object, ...]]:
    """Every state of ``model`` reachable from its initial ones, by a
    plain search of its whole graph."""
    seen, frontier = set(model.init_states()), list(model.init_states())
    while frontier:
        for _action, after in model.successors(frontier.pop()):
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    return seen


def first_reachable(model: KernelModel, limit: int) -> list[tuple[object, ...]]:
    """The first ``limit`` states of ``model`` a breadth-first search of it
    stores, the initial one first."""
    seen = {model.initial}
    order = [model.initial]
    for state in order:
        for _action, after in model.successors(state):
            if after not in seen and len(order) < limit:
                seen.add(after)
                order.append(after)
    return order


def representatives_reachable(model: KernelModel) -> bool:
    """Whether ``--symmetry``'s representative of every state ``model``
    reaches is one it reaches too (the representative is in the state's
    orbit, which is all symmetry reduction needs)."""
    normalise = representative(model)
    assert normalise is not None
    search = Search(model, Options(reduce=False, exact=True))
    search.run()
    reachable = set(search.states)
    return all(normalise(state)[0] in reachable for state in search.states)


@pytest.fixture
def end_states(shipped: Registry) -> EndStates:
    """Every final state of a shipped scenario on the correct protocol
    (every thread returned), found by a plain search of its whole graph,
    with the slot of each name."""

    def ends(scenario: str) -> tuple[dict[str, int], list[tuple[object, ...]]]:
        model = shipped.build(shipped.scenario(scenario), properties=())
        slots = {slot.name: index for index, slot in enumerate(model.world.slots)}
        found = [state for state in reachable_states(model) if model.finished(state)]
        assert found, f"{scenario} has no final state"
        return slots, found

    return ends


@pytest.fixture
def vfsmc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the vfsmc CLI in-process, in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), catch_exceptions=False)

    return run


@pytest.fixture(scope="module")
def own_models() -> Iterator[None]:
    """Forget the model files a test module loads once it is done, so that
    the shipped registry other modules see stays the shipped one."""
    reg = registry()
    tables = (reg.scenarios, reg.variants, reg.properties)
    saved = [dict(table) for table in tables]
    loaded = dict(usermodels._loaded)
    yield
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)
    usermodels._loaded.clear()
    usermodels._loaded.update(loaded)


def as_from_a_terminal() -> None:
    """Ctrl-C as a terminal delivers it, for a child that a test signals
    (``preexec_fn``): a test run started in the background by a shell
    inherits SIGINT ignored, and so would vfsmc."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
