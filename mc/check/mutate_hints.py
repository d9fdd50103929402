"""What mutation analysis cannot see: for a lock that is "not needed
within these bounds" or where "shared would do", the kind of scenario that
would decide it, and a scenario of that kind to paste into a model file.

A dropped acquisition of lock family F in operation O can only matter when
some thread runs beside O and takes F too (or a second thread runs O); a
weakened one only when some thread takes F shared beside it (or a second
thread runs O, now also shared).  The scenarios that checked the mutation
are searched for such a pair; when none has one, the takers of F that the
scenarios loaded (shipped and the user's) run are offered as a new
pairing, one whose threads, built together, take the very lock the
mutated step takes (not each a lock of F of its own)."""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

import mc.dsl as dsl
from mc.check import checkable
from mc.dsl.kernel_model import KernelModel
from mc.dsl.operation import Invocation
from mc.dsl.program import ACQUISITIONS
from mc.dsl.scenario import Registry, Scenario
from mc.dsl.wait_steps import SectionStep
from mc.kernel.locks import Mode
from mc.kernel.pagecache import File
from mc.kernel.world import ModelError


@attrs.frozen
class Taker:
    """A thread of a shipped scenario that takes a lock family."""

    scenario: str
    invocation: Invocation
    family: str
    mode: Mode
    object_kind: str | None = None
    """``directory`` or ``file`` when the lock taken is an object's of the
    scenario's tree (``i_rwsem(/d)``), else None (found through the state)."""
    lock: str | None = None
    """The lock's name when the step names it (``i_rwsem(/a/f)``), else
    None (found through the state)."""

    def contends(self, other: Taker) -> bool:
        """Whether the two may take the same lock: one is found through
        the state, or both name the same."""
        return self.lock is None or other.lock is None or self.lock == other.lock


@attrs.frozen
class Hint:
    """Why a finding is undecided, and a scenario that could decide it."""

    missing: str
    offer: str | None = None


def takers(registry: Registry, variants: Sequence[str] = ()) -> list[Taker]:
    """Every (scenario, thread, lock family, mode) the registry's scenarios
    build, under ``variants`` where a scenario builds with them (the locks
    a variant adds inside an operation, ``inserts``), else as they are: a
    lock step, a trylock or a spinlock section (exclusive) takes it."""
    found: list[Taker] = []
    for name, scenario in sorted(registry.scenarios.items()):
        try:
            model = checkable.built(registry, scenario, variants)
        except ModelError:
            model = checkable.built(registry, scenario)
        for thread in model.threads:
            seen: set[tuple[str, Mode, str | None]] = set()
            for step in thread.program.steps:
                if not isinstance(step, ACQUISITIONS):
                    continue
                mode = Mode.EXCL if isinstance(step, SectionStep) else step.mode
                fixed = step.lock.fixed
                kind = None if fixed is None else object_kind(fixed.name, scenario.tree)
                named = None if fixed is None else fixed.name
                if (step.lock.family, mode, named) not in seen:
                    seen.add((step.lock.family, mode, named))
                    found.append(
                        Taker(name, thread.invocation, step.lock.family, mode, kind, named)
                    )
    return found


def object_kind(lock: str, tree: Sequence[str]) -> str | None:
    """``directory`` or ``file`` for the lock of an object of ``tree``
    (``i_rwsem(/a/)`` or ``i_rwsem(/a)``), else None."""
    inside = lock.partition("(")[2].removesuffix(")")
    if f"{inside.rstrip('/')}/" in tree:
        return "directory"
    return "file" if inside in tree else None


RCU_FAMILY = "rcu_read_lock"
"""The class of every RCU read-side section."""


def _family_of(lock: str) -> str:
    return lock.split("(", 1)[0]


def hint(
    registry: Registry,
    all_takers: Sequence[Taker],
    operation: str,
    lock: str,
    weakened: bool,
    checked_in: Iterable[str],
    label: str = "",
) -> Hint:
    """What kind of scenario would decide whether ``operation`` needs its
    acquisition of ``lock`` (exclusive, when ``weakened``) at the step
    ``label`` names.  A scenario is offered only when, built, another of
    its threads takes the very lock that step takes there: a rival taking
    a lock of the family on another object (its own open file's
    ``f_lock``) cannot decide it."""
    family = _family_of(lock)
    site = _Site(operation, family, label, weakened)
    if family == RCU_FAMILY:
        return Hint(
            f"an RCU read-side section keeps out only a grace period: what {operation} reads "
            "under it is not freed until it leaves; a thread that frees what "
            f"{operation} reads after a grace period (synchronize_rcu(), call_rcu()) would "
            "decide, not another reader"
        )
    checked = set(checked_in)
    analysed = next(iter(checked_in), None)
    kind = None if analysed is None else object_kind(lock, registry.scenario(analysed).tree)
    of_family = [
        t for t in all_takers if t.family == family and kind in (None, t.object_kind or kind)
    ]
    own = [t for t in of_family if t.invocation.operation.name == operation]
    shared_only = not weakened and bool(own) and all(t.mode is Mode.SHARED for t in own)
    others = [
        t
        for t in of_family
        if t.invocation.operation.name != operation
        and (not weakened or t.mode is Mode.SHARED)
        and (not shared_only or t.mode is not Mode.SHARED)
    ]
    rival_words = (
        f"takes {family} shared"
        if weakened
        else f"takes {family} exclusive"
        if shared_only
        else f"takes {family}"
    )
    twice = [
        name
        for name in sorted(checked)
        if not shared_only
        and sum(inv.operation.name == operation for inv in registry.scenario(name).threads) > 1
    ]
    if not others:
        ran = f" (two threads of {operation} ran in {', '.join(twice)})" if twice else ""
        missing = (
            f"no operation other than {operation} {rival_words} in the scenarios loaded: "
            f"whatever {family} keeps out of {operation} is not modelled{ran}; a model of it, "
            f"run beside {operation}, would decide"
        )
        if twice or not own or shared_only:
            return Hint(missing)
        meanwhile = _offer(registry, own[:1] * 2, site)
        if isinstance(meanwhile, _Apart):
            return Hint(missing + meanwhile.said(1))
        return Hint(missing + f"; meanwhile two threads of {operation}", meanwhile)
    beside = sorted(
        {
            t.scenario
            for t in others
            if t.scenario in checked
            and any(mine.scenario == t.scenario and mine.contends(t) for mine in own)
        }
    )
    other_ops = sorted({t.invocation.operation.name for t in others})
    if beside:
        return Hint(
            f"{', '.join(beside)} {'runs' if len(beside) == 1 else 'run'} {operation} beside a "
            f"thread that {rival_words} and nothing "
            f"broke: the race may need another tree or larger bounds, or a model that "
            "splits what the lock keeps whole (an effect is one step: an update the model makes "
            "in one cannot be torn)"
        )
    missing = (
        f"no checked scenario runs {operation} beside a thread that {rival_words} "
        f"({', '.join(other_ops)} {'does' if len(other_ops) == 1 else 'do'})"
    )
    now = ", each now taking it shared" if weakened else ""
    if twice:
        missing += (
            f"; two threads of {operation}{now}{',' if now else ''} ran in {', '.join(twice)} "
            "and nothing broke: "
            "on the same objects (one name, one file) they may"
        )
    elif own and not shared_only:
        missing += f", nor two threads of {operation}{now}"
    mine = next(
        (t for t in own if t.scenario == analysed),
        next((t for t in own if t.scenario in checked), own[0] if own else None),
    )
    if mine is None:
        return Hint(missing)
    tree = registry.scenario(mine.scenario).tree
    taken = Taker(mine.scenario, mine.invocation, family, mine.mode, kind, lock)
    contending = [t for t in others if taken.contends(t)]
    if not contending:
        return Hint(missing + f": each on another object than {lock}, which it would have to take")
    rivals = sorted(contending, key=lambda t: -_overlap(t.invocation, tree))[:OFFERS_TRIED]
    pairs = [[mine, rival] for rival in rivals] + ([] if twice or shared_only else [[mine, mine]])
    apart: list[_Apart] = []
    for pair in pairs:
        offer = _offer(registry, pair, site)
        if isinstance(offer, str):
            return Hint(missing, offer)
        if offer is not None:
            apart.append(offer)
    if apart:
        return Hint(missing + apart[0].said(len(apart)))
    return Hint(missing)


@attrs.frozen
class _Site:
    """The mutated acquisition: ``operation``'s step ``label`` (any of its
    acquisitions of ``family`` when no step has that label) taking a lock
    of ``family``, weakened to shared or dropped."""

    operation: str
    family: str
    label: str
    weakened: bool


@attrs.frozen
class _Apart:
    """A pairing whose threads never take the same lock at the site: the
    lock the operation takes there, and those of the family the others
    take."""

    taken: tuple[str, ...]
    theirs: tuple[str, ...]

    def said(self, pairings: int) -> str:
        """Why no scenario is offered, after ``pairings`` were tried."""
        tried = "the pairing tried" if pairings == 1 else f"the {pairings} pairings tried"
        theirs = f" (they take {', '.join(self.theirs)})" if self.theirs else ""
        lock = f"{' or '.join(self.taken)}, the lock" if self.taken else "the lock"
        return (
            f"; in {tried} no other thread takes {lock} the step takes there{theirs}, so no "
            "scenario of the operations loaded is offered: one that decides it needs a thread "
            "sharing that lock's object"
        )


def _contention(model: KernelModel, site: _Site) -> _Apart | None:
    """None when a thread of ``model`` other than the first (which runs
    ``site.operation``) takes the lock the first takes at ``site`` (shared,
    for a weakening, unless it runs the operation too, whose step the
    weakening changes as well); a lock found through the state, not named
    by the step, may be any; else what each side takes."""
    first, *others = model.threads
    acquisitions = [
        step
        for step in first.program.steps
        if isinstance(step, ACQUISITIONS) and step.lock.family == site.family
    ]
    at_site = [step for step in acquisitions if step.label == site.label] or acquisitions
    taken = {None if step.lock.fixed is None else step.lock.fixed.name for step in at_site}
    theirs: list[str] = []
    for thread in others:
        same_operation = thread.invocation.operation.name == site.operation
        for step in thread.program.steps:
            if not isinstance(step, ACQUISITIONS) or step.lock.family != site.family:
                continue
            mode = Mode.EXCL if isinstance(step, SectionStep) else step.mode
            if site.weakened and mode is not Mode.SHARED and not same_operation:
                continue
            name = None if step.lock.fixed is None else step.lock.fixed.name
            if name is None or None in taken or name in taken:
                return None
            if name not in theirs:
                theirs.append(name)
    return _Apart(tuple(sorted(n for n in taken if n is not None)), tuple(theirs))


OFFERS_TRIED = 8
"""The rivals, those working on the most of the same objects first, whose
pairing with the operation is tried as a scenario to offer (a pairing
whose trees disagree, or that builds no checkable scenario, is passed
over)."""


def _overlap(invocation: Invocation, tree: Sequence[str]) -> int:
    """How many of ``invocation``'s path arguments, or their directories,
    ``tree`` has: a rival that works on the same objects contends."""
    names = {path.rstrip("/") for path in tree}
    paths = [arg for arg in invocation.args if isinstance(arg, str) and arg.startswith("/")]
    return sum((path in names) + (path.rsplit("/", 1)[0] in names) for path in paths)


USER_MODULE = "vfsmc_models_"
"""The start of the internal module name of a user's model file
(``usermodels``), which a pasted file cannot import."""


def _offer(registry: Registry, pair: Sequence[Taker], site: _Site) -> str | _Apart | None:
    """A scenario declaration running ``pair``'s invocations over the union
    of their scenarios' trees (None when the trees disagree or it builds no
    checkable scenario), as a model file that checks as printed: it
    imports every name it uses, and runs the I/O completion thread of the
    pair's scenarios when they have one.  When built, its threads never
    take the lock the first takes at ``site``, what each takes instead."""
    tree: list[str] = []
    for taker in pair:
        for path in registry.scenario(taker.scenario).tree:
            if path not in tree:
                tree.append(path)
    if len({path.rstrip("/") for path in tree}) != len(tree):
        return None
    invocations = _one_layout([t.invocation for t in pair])
    completion = next(
        (
            inv
            for taker in pair
            for inv in registry.scenario(taker.scenario).threads
            if inv.operation.name == IO_COMPLETION
        ),
        None,
    )
    threads = [*invocations, *([completion] if completion is not None else [])]
    imports: dict[str, list[str]] = {"mc.dsl": ["scenario"]}
    for inv in threads:
        _need(imports, inv.operation.build.__module__, inv.operation.name)
        for arg in inv.args:
            _imports_of(arg, imports)
    calls = ", ".join(
        f"{inv.operation.name}({', '.join(repr(a) for a in inv.args)})" for inv in threads
    )
    title = "-vs-".join(inv.operation.name for inv in invocations)
    lines = [f"# beside {path}, which it imports" for path in sorted(_user_files(imports))]
    lines += [
        f"from {_home(module)} import {', '.join(names)}" for module, names in imports.items()
    ]
    properties = list(registry.scenario(pair[0].scenario).properties)
    for taker in pair[1:]:
        properties += [
            p for p in registry.scenario(taker.scenario).properties if p not in properties
        ]
    protocol: list[str] = []
    for taker in pair:
        protocol += [v for v in registry.scenario(taker.scenario).variants if v not in protocol]
    offered = Scenario(
        f"my/{title}", "offered", tuple(tree), tuple(threads), variants=tuple(protocol)
    )
    try:
        apart = _contention(checkable.built(registry, offered), site)
        available = set(checkable.available_properties(registry, offered))
    except ModelError:
        return None
    if apart is not None:
        return apart
    properties = [p for p in properties if p in available]
    lines += [
        "",
        f'scenario("my/{title}", "{" beside ".join(str(i) for i in invocations)}",',
        f"         tree={tree!r},",
        f"         threads=[{calls}],",
        f"         properties={properties!r}"
        + (f",\n         variants={protocol!r})" if protocol else ")"),
    ]
    return "\n".join(lines)


def _one_layout(invocations: Sequence[Invocation]) -> list[Invocation]:
    """``invocations`` with every file laid out as the first one that
    names its path lays it out (a scenario declares each ``File`` once)."""
    layouts: dict[str, File] = {}
    laid = []
    for invocation in invocations:
        args = tuple(
            layouts.setdefault(arg.path, arg) if isinstance(arg, File) else arg
            for arg in invocation.args
        )
        laid.append(attrs.evolve(invocation, args=args))
    return laid


IO_COMPLETION = "io_completion"
"""The operation completing the bios a scenario's page cache submits."""


def _home(module: str) -> str:
    """Where a pasted file imports from ``module``: a user's model file by
    its own name (the pasted file goes beside it), any other as it is."""
    if module.startswith(USER_MODULE):
        found = sys.modules.get(module)
        path = getattr(found, "__file__", None)
        if path:
            return Path(path).stem
        return module[len(USER_MODULE) :].split("_", 1)[-1]
    return module


def _user_files(modules: Iterable[str]) -> set[str]:
    """The paths of the user's model files among ``modules``."""
    paths = set()
    for module in modules:
        path = getattr(sys.modules.get(module), "__file__", None)
        if module.startswith(USER_MODULE) and path:
            paths.add(path)
    return paths


def _need(imports: dict[str, list[str]], module: str, name: str) -> None:
    if name not in imports.setdefault(module, []):
        imports[module].append(name)


def _imports_of(value: object, imports: dict[str, list[str]]) -> None:
    """Record the classes ``repr(value)`` names, from ``mc.dsl`` where it
    exports them, else from the module that defines them."""
    if isinstance(value, tuple | list | frozenset | set):
        for item in value:
            _imports_of(item, imports)
        return
    if isinstance(value, dict):
        for item in (*value.keys(), *value.values()):
            _imports_of(item, imports)
        return
    cls = type(value)
    if cls.__module__ == "builtins":
        return
    _need(imports, _source_module(cls), cls.__name__)
    if attrs.has(cls) and not isinstance(value, enum.Enum):
        for field in attrs.fields(cls):
            if field.repr is not False:
                _imports_of(getattr(value, field.name), imports)


def _source_module(cls: type) -> str:
    if getattr(dsl, cls.__name__, None) is cls:
        return "mc.dsl"
    return cls.__module__
