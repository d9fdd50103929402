"""Scenarios, protocol variants and named properties as model files
declare them, and the registry a run is built from.

A model file declares with ``scenario``, ``variant``, ``flag_variant`` and
``invariant``; each declaration is kept in the module that makes it (never
in a shared table), and ``Registry.add_module`` collects a module's
declarations.  The registry of a run is built explicitly from the shipped
models and the user's files (``mc.check.registry``) and passed down.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar

import attrs

from mc.dsl.callers import caller_source
from mc.dsl.kernel_model import (
    KernelModel,
    PropertyDef,
    ReadsMissingSlots,
    Thread,
    build_threads,
)
from mc.dsl.operation import Invocation, Operation
from mc.dsl.program import Program, nearest_label
from mc.dsl.steps import Source, Step
from mc.engine.model import Check, PropertyKind, declared_reads
from mc.kernel.expr import State
from mc.kernel.world import LocatedModelError, ModelError, World, reported_error
from mc.project import shown
from mc.text import briefly

T = TypeVar("T")
Transform = Callable[[Program, Invocation], Program]
Prepare = Callable[[World, frozenset[str]], None]

BASE_PROPERTIES = ("lock-protocol", "spec-conformance", "deadlock", "completes", "livelock")
DECLARATIONS = "__vfsmc_declarations__"
"""The module attribute that lists what a model file declared, in order."""


class UnknownName(ValueError):
    """An unknown scenario, variant or property was asked for."""


class NotApplicable(UnknownName):
    """A property asked of a scenario that has nothing for it to check (an
    unknown name as far as that scenario goes: bad input, exit code 2)."""


class DeclaredTwice(ModelError):
    """Two declarations of one name; ``declared`` is the second one's line."""

    def __init__(self, message: str, declared: Source | None) -> None:
        super().__init__(message)
        self.declared = declared


@attrs.frozen
class Scenario:
    """A small tree plus one operation per thread."""

    name: str
    description: str
    tree: tuple[str, ...]
    threads: tuple[Invocation, ...]
    properties: tuple[str, ...] = BASE_PROPERTIES
    declared: Source | None = attrs.field(default=None, eq=False)
    """The model line that declared the scenario."""
    variants: tuple[str, ...] = ()
    """The variants the scenario's protocol is made of (a filesystem's own
    steps put into shipped operations with ``inserts``): applied whenever
    it is built, before those asked for; its correct protocol has them."""
    properties_given: bool = attrs.field(default=True, eq=False)
    """Whether the declaration named its properties; a scenario of a
    user's file that did not checks every property its operations make
    checkable too (``mc.check.usermodels``)."""

    @property
    def thread_names(self) -> tuple[str, ...]:
        return tuple(f"T{i + 1}" for i in range(len(self.threads)))


@attrs.frozen
class Variant:
    """A named protocol change.  ``transform`` rewrites each thread's
    program; operations may also ask ``op.variant(name)`` while building.
    ``waives`` names the locking rules the change knowingly breaks, as
    ``table.method need`` with the need as the rules name it
    (``"inode_operations.unlink i_rwsem(victim)"``; a spec-conformance
    violation says which one it breaks), which spec-conformance then does
    not report; a name that is no rule is an error."""

    name: str
    description: str
    transform: Transform | None = attrs.field(default=None, eq=False)
    waives: tuple[str, ...] = ()
    declared: Source | None = attrs.field(default=None, eq=False)
    bodies: tuple[tuple[Operation, Callable[..., None]], ...] = attrs.field(default=(), eq=False)
    """Operations whose body the variant replaces, wherever they run."""
    asked_where: str = attrs.field(default="", eq=False)
    """Where the operations ask a flag variant at all (``flag_variant(...,
    asked_where=...)``), said when it changes nothing in a scenario."""

    def __call__(self, program: Program, invocation: Invocation) -> Program:
        """The variant's ``transform`` of ``program`` (unchanged without
        one), so that another variant can build on it:
        ``return other(no_rename_mutex(program, invocation), invocation)``."""
        return program if self.transform is None else self.transform(program, invocation)


@attrs.frozen
class LockOrder:
    """A documented lock order a model file adds to ``specs/lockorder.toml``
    (``lock_order``): lock classes, outermost first, and where the order is
    written down."""

    classes: tuple[str, ...]
    source: str
    declared: Source | None = attrs.field(default=None, eq=False)
    by: str | None = None
    """How two locks of a class nested in itself are ordered: ``"inode"``,
    by increasing inode number (the scenario's tree order), or None (any
    order the model takes them in)."""


Declaration = Scenario | Variant | PropertyDef | LockOrder


class Registry:
    """The scenarios, variants and properties a run can name."""

    def __init__(self) -> None:
        self.scenarios: dict[str, Scenario] = {}
        self.variants: dict[str, Variant] = {}
        self.properties: dict[str, PropertyDef] = {}
        self.preparers: dict[str, Prepare] = {}
        """Called with the world and the variants' names before the threads
        are built, for a property checked as steps compile (spec-conformance)."""
        self.lock_orders: list[LockOrder] = []
        """The lock orders model files declared (``lock_order``)."""
        self.variant_resolvers: list[Callable[[Registry, str], Variant | None]] = []
        """Functions that make a variant from a name no model declares
        (``mutant:...`` names a program mutation)."""
        self.model_files: list[str] = []
        """The model files (or directories) loaded, as the user named them."""
        self.unwidened: list[str] = []
        """Scenarios of model files declared without ``properties=`` whose
        properties could not be worked out yet (a variant of their protocol
        a file loaded later declares): tried again as each file is added."""

    def add_module(self, module: ModuleType) -> list[Declaration]:
        """Add everything ``module`` declared; returns it."""
        found = list(getattr(module, DECLARATIONS, ()))
        for item in found:
            self.add(item)
        return found

    def add(self, item: Declaration) -> None:
        if isinstance(item, Scenario):
            self.add_scenario(item)
        elif isinstance(item, Variant):
            self.add_variant(item)
        elif isinstance(item, LockOrder):
            self.lock_orders.append(item)
        else:
            self.add_property(item)

    def add_scenario(self, scenario: Scenario) -> Scenario:
        _unique(self.scenarios, scenario, "scenario", scenario.declared)
        self.scenarios[scenario.name] = scenario
        return scenario

    def add_variant(self, variant: Variant) -> Variant:
        _unique(self.variants, variant, "variant", variant.declared)
        self.variants[variant.name] = variant
        return variant

    def add_property(self, prop: PropertyDef, prepare: Prepare | None = None) -> PropertyDef:
        _unique(self.properties, prop, "property", checker_source(prop))
        self.properties[prop.name] = prop
        if prepare is not None:
            self.preparers[prop.name] = prepare
        return prop

    def elsewhere(self) -> str:
        """Where a name this registry lacks may be declared: in a model file
        to give with --models, or, once some are loaded, not in them."""
        if not self.model_files:
            return "one a model file declares needs --models FILE"
        return f"the model files loaded ({', '.join(self.model_files)}) declare none such"

    def scenario(self, name: str) -> Scenario:
        return _find(self.scenarios, name, "scenario", self.elsewhere())

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            for resolve in self.variant_resolvers:
                made = resolve(self, name)
                if made is not None:
                    return made
        return _find(self.variants, name, "variant", self.elsewhere())

    def property(self, name: str) -> PropertyDef:
        return _find(self.properties, name, "property", self.elsewhere())

    def _protocol(self, scenario: Scenario) -> list[Variant]:
        """The variants ``scenario``'s protocol is made of."""
        try:
            return [self.variant(name) for name in scenario.variants]
        except UnknownName as error:
            raise _located(scenario, "variants", error) from None

    def build(
        self,
        scenario: Scenario,
        variants: Iterable[str] = (),
        properties: Sequence[str] | None = None,
        *,
        every_acquisition: bool = False,
    ) -> KernelModel:
        """The model of ``scenario`` under ``variants``, checking
        ``properties`` (default: the scenario's own list); with
        ``every_acquisition``, every lock acquisition is a step a stored
        state may stand before (none runs with the step before it, see
        ``mc.dsl.uncontended``), as ``lockorder`` needs."""
        wanted = scenario.properties if properties is None else tuple(properties)
        try:
            defs = [self.property(name) for name in wanted]
        except UnknownName as error:
            if properties is not None:
                raise
            raise _located(scenario, "properties", error) from None
        world, threads = self._threads(scenario, variants, wanted)
        try:
            return KernelModel(world, threads, defs, every_acquisition=every_acquisition)
        except ReadsMissingSlots as error:
            raise NotApplicable(error.said_of(scenario.name)) from None

    def threads(self, scenario: Scenario, variants: Iterable[str] = ()) -> list[Thread]:
        """The threads of ``scenario`` under ``variants``, built, transformed
        and compiled, without the model around them (what tells the
        programs of two builds apart; ``build`` for one to explore)."""
        return self._threads(scenario, variants, ())[1]

    def _threads(
        self, scenario: Scenario, variants: Iterable[str], wanted: Sequence[str]
    ) -> tuple[World, list[Thread]]:
        """The world and threads of ``scenario`` under ``variants``, the
        properties ``wanted`` prepared."""
        chosen = self._protocol(scenario) + [
            self.variant(name) for name in variants if name not in scenario.variants
        ]
        world = World(scenario.thread_names)
        if scenario.declared is not None:
            world.declared_at = f"{shown(scenario.declared.file)}:{scenario.declared.line}"
        world.build_tree(scenario.tree)
        world.invocations = tuple(scenario.threads)
        world.known_variants = frozenset(DECLARED_VARIANTS | set(self.variants))
        world.nesting_orders = {
            a: order.by
            for order in self.lock_orders
            if order.by is not None
            for a, b in itertools.pairwise(order.classes)
            if a == b
        }
        names = frozenset(v.name for v in chosen)
        world.waivers = {w: _declarer(v) for v in chosen for w in v.waives}
        for name in wanted:
            prepare = self.preparers.get(name)
            if prepare is not None:
                prepare(world, names)
        threads = build_threads(
            world,
            scenario.threads,
            names,
            [v.transform for v in chosen if v.transform is not None],
            _bodies(chosen),
        )
        return world, threads


def _located(scenario: Scenario, field: str, error: UnknownName) -> UnknownName:
    """``error`` of a name ``scenario`` lists in ``field``, naming the line
    that declared it."""
    if scenario.declared is None:
        return error
    where = f"{shown(scenario.declared.file)}:{scenario.declared.line}"
    return UnknownName(f"{where}: {scenario.name}'s {field}: {error}")


def _bodies(chosen: Sequence[Variant]) -> dict[Operation, Callable[..., None]]:
    """The bodies ``chosen`` put in place of operations: the body of a
    ``replaces`` (or the operation's own), with the steps of each
    ``inserts`` into the operation added in turn; a ``ModelError`` when
    two of them replace one operation's body, since only one body can run
    in its place."""
    replaced: dict[Operation, tuple[Variant, Callable[..., None]]] = {}
    inserted: dict[Operation, list[Insertion]] = {}
    for variant in chosen:
        for operation, body in variant.bodies:
            if isinstance(body, Insertion):
                inserted.setdefault(operation, []).append(body)
                continue
            if operation in replaced:
                error = LocatedModelError if variant.declared is not None else ModelError
                raise error(
                    f"{_declarer(variant)} puts a body in place of {operation.name}'s, as "
                    f"{_declarer(replaced[operation][0])} does (replaces): apply one of them "
                    "at a time, or declare one variant that makes both changes"
                )
            replaced[operation] = (variant, body)
    bodies = {operation: body for operation, (_variant, body) in replaced.items()}
    for operation, insertions in inserted.items():
        body = bodies.get(operation, operation.build)
        for insertion in insertions:
            body = insertion.around(body)
        bodies[operation] = body
    return bodies


def _declarer(variant: Variant) -> str:
    """``models/mine.py:12: variant v``, or ``variant v`` where not known."""
    where = variant.declared
    if where is None:
        return f"variant {variant.name}"
    return f"{shown(where.file)}:{where.line}: variant {variant.name}"


def checker_source(prop: PropertyDef) -> Source | None:
    """Where the property is declared: its checker's decorator's line, or
    the ``step_invariant`` call's (whose check is this module's)."""
    code = getattr(inspect.unwrap(prop.checker), "__code__", None)
    if code is not None and code.co_filename != __file__:
        return Source(code.co_filename, code.co_firstlineno, code.co_name)
    declared: Source | None = getattr(prop.checker, "declared_at", None)
    return declared


def _widened(known: Any, item: Any) -> bool:
    """Whether ``known`` is ``item`` with the properties its operations
    make checkable added (a scenario declared without ``properties=``, the
    same declaration loaded again)."""
    return (
        isinstance(known, Scenario)
        and isinstance(item, Scenario)
        and not item.properties_given
        and attrs.evolve(known, properties=item.properties) == item
        and known.declared == item.declared
    )


def _unique(table: Mapping[str, Any], item: Any, what: str, declared: Source | None) -> None:
    known = table.get(item.name)
    if known is None or known is item or _widened(known, item):
        return
    first = known.declared if isinstance(known, Scenario | Variant) else checker_source(known)
    before = "" if first is None else f" (first at {shown(first.file)}:{first.line})"
    hint = (
        ": a change inserting steps into several operations is one inserts((op1, op2, ...), "
        "name, ..., optional=True), each label found in the bodies that have it"
        if _inserts_only(known) and _inserts_only(item)
        else ""
    )
    raise DeclaredTwice(f"{what} {item.name} is declared twice{before}{hint}", declared)


def _inserts_only(item: Any) -> bool:
    """Whether ``item`` is a variant ``inserts`` declared."""
    return (
        isinstance(item, Variant)
        and bool(item.bodies)
        and all(isinstance(body, Insertion) for _operation, body in item.bodies)
    )


def _find(table: Mapping[str, T], name: str, what: str, elsewhere: str) -> T:
    try:
        return table[name]
    except KeyError:
        pass
    parts = [part.strip() for part in name.split(",")]
    if len(parts) > 1 and all(part in table for part in parts):
        raise UnknownName(
            f"unknown {what} {name!r}: a list is no name; repeat the option, once for each of "
            f"{', '.join(parts)}"
        )
    unloaded = _declared_unloaded(name)
    if unloaded is not None:
        raise UnknownName(
            f"unknown {what} {name!r}: {shown(unloaded.file)}:{unloaded.line} declares it, "
            f"in a module a model file imports, and a declaration counts only in a file "
            f"loaded itself: add --models {shown(unloaded.file)}"
        )
    raise UnknownName(f"unknown {what} {name!r} ({_known(table, name, elsewhere)})")


def _declared_unloaded(name: str) -> Source | None:
    """Where a module imported in this process (by a model file, with a
    plain ``import``) declares a scenario or variant ``name``."""
    for module in list(sys.modules.values()):
        for item in getattr(module, DECLARATIONS, ()):
            if isinstance(item, Scenario | Variant) and item.name == name and item.declared:
                return item.declared
    return None


def _known(table: Mapping[str, T], name: str, elsewhere: str) -> str:
    """What the names of ``table`` offer in place of ``name``: them all when
    they are a few, else the nearest, with where to find the rest
    (``elsewhere``: one of a model file is known once the file is loaded)."""
    if len(table) <= 12:
        return f"known: {', '.join(sorted(table)) or 'none'}"
    area, slash, _rest = name.partition("/")
    if slash and not any(known.startswith(f"{area}/") for known in table):
        return (
            f"none is in {area}/; {elsewhere}"
            f"{' or FILE.py:' + name if elsewhere.endswith('FILE') else ''}; "
            f"vfsmc list names all {len(table)}"
        )
    if slash and not _rest:
        members = sorted(known for known in table if known.startswith(name))
        shown_members = ", ".join(members[:8]) + (", ..." if len(members) > 8 else "")
        return f"{name} is an area of {len(members)}: {shown_members}"
    rest = f"vfsmc list names all {len(table)}; {elsewhere}"
    if not slash:
        near = difflib.get_close_matches(name, table, n=3, cutoff=0.6)
        return f"did you mean {' or '.join(near)}? {rest}" if near else rest
    members = sorted(known for known in table if known.startswith(f"{area}/"))
    by_rest = {known.partition("/")[2]: known for known in members}
    near = [by_rest[n] for n in difflib.get_close_matches(_rest, by_rest, n=3, cutoff=0.6)]
    if near:
        return f"did you mean {' or '.join(near)}? {rest}"
    shown = ", ".join(members[:8]) + (", ..." if len(members) > 8 else "")
    return f"{area}/ has {len(members)}: {shown}; {rest}"


LONGEST_NAME = 100
"""The most characters a declared name has (it names files)."""


def _declare(item: T) -> T:
    """Record ``item`` in the module whose top level (or function) called
    the declaring function (the first caller outside this module), once
    its name is one a command line and a file name can carry: not empty,
    no control character, not starting with a dot (its files would be
    hidden), at most ``LONGEST_NAME`` characters."""
    name = getattr(item, "name", "")
    kind = type(item).__name__.lower().removesuffix("def")
    if not isinstance(name, str):
        raise ModelError(f"a {kind}'s name is text, not {briefly(name)}")
    problem = (
        "is empty"
        if not name
        else "holds a control character"
        if not name.isprintable()
        else "starts with a dot (the files named after it would be hidden)"
        if name.startswith(".")
        else f"is longer than {LONGEST_NAME} characters"
        if len(name) > LONGEST_NAME
        else None
    )
    if problem is not None:
        raise ModelError(f"the {kind} name {name[:LONGEST_NAME]!r} {problem}")
    description = getattr(item, "description", "")
    if not isinstance(description, str):
        raise ModelError(f"{kind} {name}: its description is text, not {description!r}")
    frame = sys._getframe(2)
    while frame.f_code.co_filename == __file__ and frame.f_back is not None:
        frame = frame.f_back
    frame.f_globals.setdefault(DECLARATIONS, []).append(item)
    if isinstance(item, Variant):
        DECLARED_VARIANTS.add(name)
    return item


DECLARED_VARIANTS: set[str] = set()
"""The name of every variant this process declared (shipped or of a model
file, in any registry): ``op.variant`` refuses a name outside them."""


NESTING_RULES = ("inode", "address", "address-descending")
"""The orders ``lock_order(..., by=...)`` knows for a class nested in itself."""


def lock_order(*classes: str, source: str, by: str | None = None) -> LockOrder:
    """Declare that lock ``classes`` are taken in this order, outermost
    first (``lock_order("i_rwsem", "invalidate_lock", "i_gc_rwsem",
    source="fs/f2fs/file.c: ...")``), as a chain of ``specs/lockorder.toml``
    says it: ``vfsmc lockorder`` checks the observed edges against both.
    A class is a lock's family, the part of its name before a parenthesis
    (``i_gc_rwsem`` for ``i_gc_rwsem(/f)``); ``source`` says where the
    order is written down (a comment, a document, a commit).  One class
    given twice in a row, ``lock_order("ip_lock", "ip_lock", source=...)``
    or ``lock_order("i_rwsem", "ip_lock", "ip_lock", ...)``, nests the
    class in itself (two of its locks held at once, in an order a rule
    of the filesystem fixes, as ``mutex_lock_nested()`` tells lockdep);
    ``by="inode"`` says the rule: the two are taken by increasing inode
    number (``xfs_lock_two_inodes()``), here the order of the scenario's
    tree, the path inside the lock's name (``xfs_ilock(/a)`` before
    ``xfs_ilock(/b)``), and ``vfsmc lockorder`` reports an acquisition
    that breaks it; ``by="address"`` by increasing address and
    ``by="address-descending"`` by decreasing address
    (``btrfs_double_mmap_lock()``), in the order the run observed
    (``address_below()`` forks the run on a first comparison)."""
    if len(classes) < 2 or not all(isinstance(c, str) and c for c in classes):
        raise ModelError(f"lock_order takes two or more lock class names, not {classes!r}")
    if not isinstance(source, str) or not source.strip():
        raise ModelError("lock_order needs source=: where the order is written down")
    if by is not None and by not in NESTING_RULES:
        raise ModelError(f"lock_order's by= is one of {', '.join(NESTING_RULES)}, not {by!r}")
    nested = any(a == b for a, b in itertools.pairwise(classes))
    if by is not None and not nested:
        raise ModelError(
            f"lock_order(..., by={by!r}) orders a class nested in itself: give the class twice "
            f"in a row, not {classes!r}"
        )
    order = LockOrder(tuple(classes), source, caller_source(), by)
    sys._getframe(1).f_globals.setdefault(DECLARATIONS, []).append(order)
    return order


def scenario(
    name: str,
    description: str,
    tree: Sequence[str] = (),
    threads: Sequence[Invocation] = (),
    properties: Sequence[str] | None = None,
    variants: Sequence[str] = (),
) -> Scenario:
    """Declare a scenario: a tree (``/a/`` a directory, ``/a/x`` a file;
    none for a scenario of no files, a block device's),
    one invocation per thread, the properties it checks by default
    (``BASE_PROPERTIES`` when not given, and in a user's file every
    property its operations make checkable too), and the variants its
    protocol is made of (``Scenario.variants``: a filesystem's own steps
    in shipped operations, ``inserts``)."""
    if isinstance(threads, Invocation):
        raise ModelError(
            f"threads is a list of invocations, not the one invocation {threads}: [{threads}]"
        )
    if isinstance(threads, str) or not isinstance(threads, Iterable):
        raise ModelError(
            f"threads is a list of invocations such as [create('/a/x')], not {briefly(threads)}"
        )
    threads = tuple(threads)
    for position, thread in enumerate(threads):
        if isinstance(thread, Operation):
            raise ModelError(
                f"threads[{position}] is the operation {thread.name} itself: "
                f"call it with its arguments, {thread.name}(...)"
            )
        if not isinstance(thread, Invocation):
            raise ModelError(
                f"threads must be invocations such as create('/a/x'), not "
                f"{type(thread).__name__} {briefly(thread)} (threads[{position}])"
            )
    return _declare(
        Scenario(
            name,
            description,
            _names(tree, "tree", "paths"),
            tuple(threads),
            _names(
                BASE_PROPERTIES if properties is None else properties,
                "properties",
                "property names",
            ),
            caller_source(),
            _names(variants, "variants", "variant names"),
            properties is not None,
        )
    )


def _names(given: Sequence[str], what: str, items: str) -> tuple[str, ...]:
    """``given`` as a tuple, refusing a lone string (its letters would be
    taken for the names) and a name given twice."""
    if isinstance(given, str):
        raise ModelError(f"{what} is a list of {items}, not the string {given!r}: [{given!r}]")
    try:
        found = tuple(given)
    except TypeError:
        raise ModelError(f"{what} is a list of {items}, not {given!r}") from None
    for item in found:
        if not isinstance(item, str):
            raise ModelError(f"{what} is a list of {items}, strings; it holds {item!r}")
    twice = next((item for at, item in enumerate(found) if item in found[:at]), None)
    if twice is not None:
        raise ModelError(f"{what} names {twice!r} twice")
    return found


def variant(
    name: str, description: str, waives: Sequence[str] = ()
) -> Callable[[Transform], Variant]:
    """Declare a variant whose transform is the decorated function
    ``f(program, invocation) -> program``."""

    def wrap(transform: Transform) -> Variant:
        waived = _names(waives, "waives", "rules")
        try:
            inspect.signature(transform).bind(None, None)
        except TypeError:
            raise ModelError(
                f"variant {name}: {getattr(transform, '__name__', transform)!r} must take "
                "(program, invocation)"
            ) from None
        except ValueError:
            pass
        return _declare(Variant(name, description, transform, waived, caller_source()))

    return wrap


def flag_variant(
    name: str, description: str, waives: Sequence[str] = (), asked_where: str = ""
) -> Variant:
    """Declare a variant that operations consult with ``op.variant(name)``;
    ``asked_where`` says where they ask it at all (a scenario that runs a
    worker thread), which ``check`` says of a scenario it changes nothing in."""
    return _declare(
        Variant(
            name,
            description,
            None,
            _names(waives, "waives", "rules"),
            caller_source(),
            asked_where=asked_where,
        )
    )


def replaces(
    operation: Operation, name: str, description: str, waives: Sequence[str] = ()
) -> Callable[[Callable[..., None]], Variant]:
    """Declare a variant that replaces ``operation``'s body with the
    decorated ``f(op, *args)`` wherever it runs (``op.run(operation.build,
    ...)`` inside it runs the shipped body)."""

    def wrap(body: Callable[..., None]) -> Variant:
        variant = Variant(
            name,
            description,
            None,
            _names(waives, "waives", "rules"),
            caller_source(),
            ((operation, body),),
        )
        return _declare(variant)

    return wrap


Snippet = Callable[..., None]
"""Steps to add to an operation's body: ``f(op, *args)`` with its arguments."""


def inserts(
    operation: Operation | Sequence[Operation],
    name: str,
    description: str,
    *,
    before: Mapping[str, Snippet] | None = None,
    after: Mapping[str, Snippet] | None = None,
    instead: Mapping[str, Snippet] | None = None,
    every: bool = False,
    within: str | Sequence[str] | None = None,
    optional: bool = False,
    waives: Sequence[str] = (),
) -> Variant:
    """Declare a variant that adds steps inside ``operation``'s body wherever
    it runs: for each label of ``before``, the steps its ``f(op, *args)``
    emits come right before the step with that label (after a jump target
    there, so every way to the step runs them first); for each label of
    ``after``, right after that step; for each label of ``instead``, in
    its place (the step left out: a lock taken at another level or of
    another object, ``instead={"sb_start_pagefault(inode->i_sb)":
    take_write_level}``).  Each label names one step of the
    body, or with ``every`` each step with that label (a fault unrolled
    for its retries releases a lock at several places); the functions run
    once the body is built, with its arguments, once for each place, in
    the operation's own scope (its registers and labels, also where the
    labelled step is one of a body it runs with ``op.run``) (a
    filesystem's own lock taken inside a shipped operation:
    ``after={"filemap_invalidate_lock(mapping)": take_gc_lock}``).
    ``operation`` may be several operations that run the same helper (the
    fault path of ``mmap_load`` and ``mmap_store``): the steps go into
    each, whose body must have each label, and each function is called
    with that operation's arguments.  ``within`` counts only the steps the
    model function of that name wrote (``step.source.function``, as
    ``vfsmc show SCENARIO --steps`` prints it), where helpers of one body
    share a label (``spin_lock(&blocked_lock_lock)`` in
    ``posix_lock_attempt`` and in ``wake_up_blocks``), or those of several
    (a tuple of names); ``every`` matching steps of more than one function
    without it is a model error, which names them (a label two helpers
    share is more often a slip than a wish).  ``optional`` adds
    nothing to a run of the body that has no step of a label, where its
    arguments take another path (fallocate(2)'s PUNCH_HOLE has no
    allocation step); without it that is a model error, the mark of a
    misspelt label (a label no thread of a scenario has leaves the variant
    changing nothing, which ``check`` refuses either way)."""
    declared = caller_source()
    if within is not None and not isinstance(within, str):
        within = tuple(within)
    operations = (operation,) if isinstance(operation, Operation) else tuple(operation)
    if not operations or not all(isinstance(one, Operation) for one in operations):
        raise ModelError(
            f"variant {name}: inserts takes an operation or a sequence of them, "
            f"not {briefly(operation)}"
        )
    points = [
        (label, f, where)
        for where, given in ((BEFORE, before), (AFTER, after), (INSTEAD, instead))
        for label, f in (given or {}).items()
    ]
    if not points:
        raise ModelError(
            f"variant {name}: inserts takes before=, after= or instead= {{label: f(op, ...)}}"
        )
    for one in operations:
        for label, snippet, _where in points:
            _check_snippet(name, one, label, snippet)
    bodies = tuple(
        (one, Insertion(one, tuple(points), declared, name, every, one.build, within, optional))
        for one in operations
    )
    variant = Variant(name, description, None, _names(waives, "waives", "rules"), declared, bodies)
    return _declare(variant)


BEFORE, INSTEAD, AFTER = 1, 0, 2
"""Where ``inserts`` puts a point's steps; at one place of the body, the
labelled step is replaced first, then steps go before it, then after the
one before it (``Insertion.__call__`` works from the end)."""


@attrs.frozen
class Insertion:
    """The body ``inserts`` puts in an operation's place: ``build`` (the
    operation's own body, or the body another variant put there), then
    the steps of each point added at its place.  ``around`` makes it
    wrap another body, so that several insertions into one operation
    compose."""

    operation: Operation
    points: tuple[tuple[str, Snippet, int], ...]
    """Each label, the function emitting the steps, and where they go
    (``BEFORE``, ``AFTER`` or ``INSTEAD`` of the labelled step)."""
    declared: Source
    name: str
    every: bool
    build: Callable[..., None]
    within: str | tuple[str, ...] | None = None
    optional: bool = False

    def around(self, build: Callable[..., None]) -> Insertion:
        """This insertion into the body ``build``."""
        return attrs.evolve(self, build=build)

    def __call__(self, op: Any, *args: Any) -> None:
        start = len(op.items)
        self.build(op, *args)
        end = len(op.items)
        places: list[tuple[int, int, list[Any]]] = []
        for label, snippet, where in self.points:
            spots = _places(
                op.items,
                start,
                end,
                label,
                self.operation,
                self.declared,
                self.name,
                self.every,
                self.within,
                self.optional,
            )
            _count_places(op, self.name, label, spots, start, end)
            for at in spots:
                mark = len(op.items)
                op._pending_else = None
                snippet(op, *args)
                places.append((at + (where == AFTER), where, op.items[mark:]))
                del op.items[mark:]
        for at, where, added in sorted(places, key=lambda place: (-place[0], place[1])):
            op.items[at : at + (where == INSTEAD)] = added


def _count_places(
    op: Any, name: str, label: str, spots: Sequence[int], start: int, end: int
) -> None:
    """Add the steps labelled ``label`` one body of variant ``name`` has to
    ``op.world.insertions``, with the nearest label of a body that has none."""
    count, close = op.world.insertions.get((name, label), (0, None))
    if not spots and close is None:
        labels = [item.label for item in op.items[start:end] if isinstance(item, Step)]
        close = nearest_label(label, labels)
    op.world.insertions[(name, label)] = (count + len(spots), close)


def _check_snippet(name: str, operation: Operation, label: str, snippet: Any) -> None:
    """A ``ModelError`` unless ``snippet`` can be called as ``inserts``
    calls it: ``snippet(op, *args)`` with the arguments of ``operation``."""
    parameters = inspect.signature(operation.build).parameters.values()
    shipped = [p.name for p in parameters]
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    try:
        signature = inspect.signature(snippet)
    except (TypeError, ValueError):
        return
    for given in (required, shipped):
        try:
            signature.bind(*given)
            return
        except TypeError as error:
            problem = error
    raise ModelError(
        f"variant {name}: the function for {label!r} is called as "
        f"f({', '.join(shipped)}), with {operation.name}'s arguments: {problem}"
    )


def _places(
    items: Sequence[Any],
    start: int,
    end: int,
    label: str,
    operation: Operation,
    declared: Source,
    name: str,
    every: bool,
    within: str | tuple[str, ...] | None = None,
    optional: bool = False,
) -> list[int]:
    """Where in ``items`` (the body ``operation`` emitted between ``start``
    and ``end``) the step labelled ``label`` is (every such step, with
    ``every``), of the model function or functions ``within`` when given."""
    functions_kept = (within,) if isinstance(within, str) else within
    steps = [
        at
        for at in range(start, end)
        if isinstance(items[at], Step)
        and (functions_kept is None or items[at].source.function in functions_kept)
    ]
    found = [at for at in steps if items[at].label == label]
    functions = sorted({items[at].source.function for at in found})
    where = f"{shown(declared.file)}:{declared.line}: variant {name}"
    if every and within is None and len(functions) > 1:
        raise LocatedModelError(
            f"{where}: every=True finds {label!r} in {len(functions)} model functions of "
            f"{operation.name}: {', '.join(functions)}; pass within= the one meant (or a tuple "
            "of those meant)"
        )
    if len(found) == 1 or (found and every) or (optional and not found):
        return found
    if found:
        choose = (
            f"; or within= one of the functions that wrote them: {', '.join(functions)}"
            if len(functions) > 1 and within is None
            else ""
        )
        raise LocatedModelError(
            f"{where}: {len(found)} steps of {operation.name} are labelled {label!r} "
            "(a body unrolled for its retries or pages): pass every=True to add the steps "
            f"at each of them{choose}"
        )
    labels = [items[at].label for at in steps]
    close = nearest_label(label, labels)
    hint = (
        f" (did you mean {close!r}?)"
        if close
        else f" (none is close; vfsmc show SCENARIO --steps lists the labels of a scenario "
        f"that runs {operation.name})"
    )
    named = within if isinstance(within, str) or within is None else " or ".join(within)
    of = f"{operation.name}'s function {named}" if within else operation.name
    raise LocatedModelError(f"{where}: no step of {of} is labelled {label!r}{hint}")


def invariant(
    name: str,
    description: str,
    *,
    reads: Sequence[str] | Callable[[KernelModel], Sequence[str]] | None = None,
    terminal: bool = False,
    needs: tuple[str, str] | None = None,
) -> Callable[[Callable[[KernelModel], Check[State]]], PropertyDef]:
    """Declare an invariant: the decorated ``f(model)`` returns the check of
    one state (None when it holds, else what is wrong).  ``reads`` names
    the slot families or slots the check reads (``["dentry", "nlink"]``; see
    ``KernelModel.locations``), or is a function of the model giving those
    names (``lambda model: [...]``, when the check reads some objects of a
    family and not others); without it partial-order reduction is off
    in every run that checks the invariant.  ``terminal`` checks it only
    on states where no thread can move (every thread returned, or a
    deadlock) and none recorded an error.  ``needs`` is the world part a
    scenario's operations must create for the check to see anything, and
    the same in words (``("xattrs", "an inode's extended attributes")``):
    a scenario without it cannot be asked for the invariant (exit 2,
    naming what it lacks)."""
    return _property_of(PropertyKind.ALWAYS, name, description, reads, terminal, needs)


def goal(
    name: str,
    description: str,
    *,
    reads: Sequence[str] | Callable[[KernelModel], Sequence[str]] | None = None,
    terminal: bool = False,
    needs: tuple[str, str] | None = None,
) -> Callable[[Callable[[KernelModel], Check[State]]], PropertyDef]:
    """Declare a goal: the decorated ``f(model)`` returns the test of one
    state (None while the goal is not reached there, else what was
    reached); a check of it is VIOLATED ("never reached: ...") when no
    reachable state reaches it, so a scenario that cannot do what it is
    meant to (a race window it never opens) is not passed as OK.
    ``reads``, ``terminal`` and ``needs`` as ``invariant``'s (a goal that
    says what it reads keeps partial-order reduction on, which reaches a
    goal exactly when the full search does)."""

    return _property_of(PropertyKind.SOMETIMES, name, description, reads, terminal, needs)


def _property_of(
    kind: PropertyKind,
    name: str,
    description: str,
    reads: Sequence[str] | Callable[[KernelModel], Sequence[str]] | None,
    terminal: bool,
    needs: tuple[str, str] | None,
) -> Callable[[Callable[[KernelModel], Check[State]]], PropertyDef]:
    """The decorator ``invariant`` and ``goal`` give: a property of ``kind``
    whose check the decorated ``f(model)`` makes, declared where it is."""

    def wrap(checker: Callable[[KernelModel], Check[State]]) -> PropertyDef:
        declared = declared_reads(name, _with_errors(reads), checker)
        where = caller_source()
        prop = PropertyDef(
            name, description, kind, _checked(name, where, checker), declared, terminal, needs
        )
        return _declare(prop)

    return wrap


def step_invariant(
    name: str, description: str, *, needs: tuple[str, str] | None = None
) -> PropertyDef:
    """Declare an invariant that steps break themselves, with
    ``scratch.violate(name, message)`` (as the kernel's WARN_ON): it reads
    only the error slot, so it makes no step visible to partial-order
    reduction, and reports the message the step recorded.  ``needs`` as
    for ``invariant``."""
    return invariant(name, description, reads=["error"], needs=needs)(
        lambda _model: lambda state: reported_error(state, name)
    )


def _with_errors(
    reads: Sequence[str] | Callable[[KernelModel], Sequence[str]] | None,
) -> Sequence[str] | Callable[[KernelModel], Sequence[str]] | None:
    """``reads`` with the error slot, which every invariant reads: it
    reports the error a step recorded against it (``_checked``)."""
    if reads is None:
        return None
    if callable(reads):
        given = reads
        return lambda model: _plus_error(given(model))
    return _plus_error(reads)


def _plus_error(names: Sequence[str]) -> Sequence[str]:
    """``names`` and ``error`` (what is not a list of names stays, for its
    declaration's own error)."""
    if not isinstance(names, (list, tuple)) or "error" in names:
        return names
    if not all(isinstance(name, str) for name in names):
        return names
    return [*names, "error"]


def _checked(
    name: str, where: Source, checker: Callable[[KernelModel], Check[State]]
) -> Callable[[KernelModel], Check[State]]:
    """``checker`` whose check is a function of the state answering None or
    a message (anything else is a ``ModelError`` naming the invariant and
    the line that declared it, not a failure inside the checker), and
    that reports the error a step recorded against the invariant
    (``scratch.violate(name, ...)``) where the check itself finds none."""
    at = f"{shown(where.file)}:{where.line}"

    def make(model: KernelModel) -> Check[State]:
        check = checker(model)
        if not callable(check):
            raise LocatedModelError(
                f"{at}: invariant {name} gives {check!r}, not a function of the state "
                "(the decorated function returns the check of one state)"
            )

        def answered(state: State) -> str | None:
            message = check(state)
            if message is None:
                return reported_error(state, name)
            if isinstance(message, str):
                return message
            raise LocatedModelError(
                f"{at}: invariant {name}'s check returned {message!r}: None when it holds, "
                "else a message (str)"
            )

        return answered

    make.__wrapped__ = checker  # type: ignore[attr-defined]
    make.declared_at = where  # type: ignore[attr-defined]
    return make
