"""The lock order the models take, merged across scenarios as lockdep
merges what it sees across a whole boot, against the order the kernel
documents (``specs/lockorder.toml``).

An exploration observes an edge ``A -> B`` between lock classes (a lock's
family: ``i_rwsem`` for ``i_rwsem(/a)``) in every reachable state where a
thread holding a lock of class A is about to take one of class B (a
blocking acquisition or a spinlock section; a trylock cannot deadlock and
adds none).  Entering a section of a lock kind that never waits, an RCU
read-side section (``Kind.never_waits``), adds none either:
``rcu_read_lock()`` never waits, so an edge into it is in no wait cycle,
and lockdep orders nothing into it (``rcu_lock_acquire()``,
include/linux/rcupdate.h, a recursive read of ``rcu_lock_map`` with
``check=0``).  The locks taken inside such a section can wait: its edges
out stay.  Merging the edges of every scenario gives a graph in which a
cycle is a deadlock no single scenario needs to show, and an edge the
documented order does not allow is a protocol change to look at.

An edge inside one class (``i_rwsem -> i_rwsem``) is allowed when the
class nests in itself by a rule (``[nested]``); where the model can tell
whether an acquisition keeps that rule, it is checked on each one, as
lockdep checks it through its subclasses (``nesting_checks``): holding a
non-directory's i_rwsem while taking a directory's, or a descendant's
while taking its ancestor's, puts the edge out of the documented order.
Two locks of one class taken both ways by acquisitions that share no lock
keeping them apart put it out of order too, whatever rule would order
them (``InstanceOrders``).

Lockdep's interrupt check is made the same way: a class some scenario
takes in interrupt context (``op.interrupt``) and some scenario takes with
interrupts on in process context (a spinning lock taken without
``irq=True`` while the thread holds nothing that disabled them) is
reported: an interrupt landing on the CPU of a thread holding it spins
forever ("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage"), though no
scenario needs to show the two together.
"""

from __future__ import annotations

import difflib
import itertools
import re
import tomllib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from mc.check import checkable
from mc.check.checker import IneffectiveVariant, under_changing
from mc.dsl.addresses import ADDRESSES, AddressOrder
from mc.dsl.interrupts import SPINNING, interrupts_of
from mc.dsl.kernel_model import KernelModel, unchecked_errors
from mc.dsl.program import CompiledStep
from mc.dsl.scenario import LockOrder, Registry
from mc.dsl.steps import LockStep, disables_irqs
from mc.dsl.wait_steps import SectionStep
from mc.engine.explore import Options, Search
from mc.kernel.locks import Lock, holders, holds_exclusively
from mc.kernel.vfs import directories_above
from mc.kernel.world import ERROR_SLOT, World
from mc.project import SPECS, shown
from mc.text_files import TOML_LARGEST, read_text

LOCKORDER = SPECS / "lockorder.toml"
Edge = tuple[str, str]
IN_IRQ = "in interrupt context"
IRQS_ON = "with interrupts on"
Usage = tuple[str, str]
"""A lock class and how it is taken: ``IN_IRQ`` or ``IRQS_ON``."""


@attrs.frozen
class Documented:
    """The documented order: chains of classes (outermost first), classes
    nested in their own class by a rule, and innermost classes."""

    chains: tuple[tuple[str, tuple[str, ...]], ...]
    nested: dict[str, str]
    innermost: dict[str, str]
    declared: tuple[LockOrder, ...] = ()
    """The chains among ``chains`` that model files declared."""
    unmodelled: dict[str, str] = attrs.field(factory=dict)
    """Classes the chains name that no model takes, each with why
    (``[unmodelled]``): not reported as unmatched."""

    @property
    def where(self) -> str:
        """Where the order is written: the file, and the model lines that
        declared more of it."""
        if not self.declared:
            return "specs/lockorder.toml"
        return "specs/lockorder.toml and " + ", ".join(_where(o) for o in self.declared)

    @property
    def after(self) -> dict[str, set[str]]:
        """For each class, the classes the order lets it hold while taking."""
        below: dict[str, set[str]] = {}
        for _source, order in self.chains:
            for i, outer in enumerate(order):
                below.setdefault(outer, set()).update(order[i + 1 :])
        changed = True
        while changed:
            changed = False
            for inner in below.values():
                reach = set().union(*(below.get(c, set()) for c in inner)) - inner
                if reach:
                    inner |= reach
                    changed = True
        return below

    def places(self, held: str, taken: str) -> bool:
        """Whether the order says whether taking ``taken`` while holding
        ``held`` is in order: one class, an innermost one, or classes a
        chain (or chains in turn) order one way or the other.  Of classes
        it does not place (a filesystem's own lock no ``lock_order``
        places) it says nothing."""
        return held == taken or self.allows(held, taken) or self.allows(taken, held)

    def allows(self, held: str, taken: str) -> bool:
        """Whether taking ``taken`` while holding ``held`` is in order."""
        if held == taken:
            return held in self.nested
        if taken in self.innermost:
            return True
        return taken in self.after.get(held, set())

    @property
    def classes(self) -> frozenset[str]:
        """Every class the order names."""
        named = {c for _source, order in self.chains for c in order}
        return frozenset(named | self.nested.keys() | self.innermost.keys())

    def declared_by(self, orders: Sequence[LockOrder]) -> Documented:
        """This order with the chains model files declared (``lock_order``),
        each cited by its source and model line, and the classes a
        ``lock_order`` names twice in a row nests in themselves (as
        ``[nested]``: ``lock_order("i_rwsem", "ip_lock", "ip_lock")``); a
        ``ValueError`` when they order a class before itself, with the
        chains of the file."""
        if not orders:
            return self
        nesting = {
            held: f"{order.source} ({_where(order)})"
            for order in orders
            for held, taken in itertools.pairwise(order.classes)
            if held == taken
        }
        orders = [
            attrs.evolve(order, classes=tuple(c for c, _ in itertools.groupby(order.classes)))
            for order in orders
            if len(set(order.classes)) > 1
        ]
        if not orders:
            return attrs.evolve(self, nested={**self.nested, **nesting})
        added = tuple((f"{order.source} ({_where(order)})", order.classes) for order in orders)
        chains = self.chains + added
        names = [*self.chain_names, *(_where(order) for order in orders)]
        declared = ", ".join(_where(order) for order in orders)
        for order in orders:
            inner = next((c for c in order.classes[:-1] if c in self.innermost), None)
            if inner is not None:
                raise ValueError(
                    f"{_where(order)} orders a class after {inner}, which specs/lockorder.toml "
                    f"says is innermost ({self.innermost[inner]})"
                )
        contradiction = _contradiction(chains, names)
        if contradiction is not None:
            against = "specs/lockorder.toml" if "specs/lockorder.toml" in contradiction else None
            with_what = (
                f"{'contradict' if len(orders) > 1 else 'contradicts'} {against}"
                if against
                else "contradict each other"
                if len(orders) > 1
                else "contradicts itself"
            )
            orders_declared = "lock orders declared" if len(orders) > 1 else "lock order declared"
            raise ValueError(f"the {orders_declared} ({declared}) {with_what}: {contradiction}")
        return attrs.evolve(
            self,
            chains=chains,
            declared=self.declared + tuple(orders),
            nested={**self.nested, **nesting},
        )

    @property
    def chain_names(self) -> list[str]:
        """A short name for each chain, in order: ``specs/lockorder.toml's
        chain 5``, or the model line of a ``lock_order`` that declared it."""
        filed = len(self.chains) - len(self.declared)
        names = [f"specs/lockorder.toml's chain {n}" for n in range(1, filed + 1)]
        return names + [_where(order) for order in self.declared]

    def why(self, held: str, taken: str) -> str:
        """Why the order lets a thread holding ``held`` take ``taken``, in
        one line: the shortest way from one to the other through the
        chains, each step named by its chain (``i_rwsem before mmap_lock
        (specs/lockorder.toml's chain 5), mmap_lock before sb_pagefaults
        (specs/lockorder.toml's chain 11)``), else the rule that makes
        ``taken`` innermost; or that the order does not give it."""
        steps = self._steps(held, taken)
        if steps:
            names = self.chain_names
            return ", ".join(f"{a} before {b} ({names[n]})" for a, b, n in steps)
        if taken in self.innermost:
            return f"{taken} is innermost (specs/lockorder.toml's [innermost])"
        return f"the documented order does not put {held} before {taken}"

    def _steps(self, held: str, taken: str) -> list[tuple[str, str, int]]:
        """The fewest chain steps from ``held`` to ``taken``: each two
        classes and the index of the first chain that orders them; empty
        when no chains do."""
        direct: dict[str, dict[str, int]] = {}
        for number, (_source, order) in enumerate(self.chains):
            for i, outer in enumerate(order):
                for inner in order[i + 1 :]:
                    direct.setdefault(outer, {}).setdefault(inner, number)
        came: dict[str, str] = {held: held}
        queue = deque([held])
        while queue and taken not in came:
            node = queue.popleft()
            for nxt in direct.get(node, {}):
                if nxt not in came:
                    came[nxt] = node
                    queue.append(nxt)
        if held == taken or taken not in came:
            return []
        path = [taken]
        while path[-1] != held:
            path.append(came[path[-1]])
        path.reverse()
        return [(a, b, direct[a][b]) for a, b in itertools.pairwise(path)]


def _chain_name(names: Sequence[str], number: int) -> str:
    return names[number - 1] if names else f"chain {number}"


def unknown_declared(
    registry: Registry, orders: Sequence[LockOrder], explored: Iterable[str] = ()
) -> list[str]:
    """For each class a model file's ``lock_order`` names that no lock of
    any scenario of ``registry`` belongs to, nor any of the ``explored``
    classes (those of the scenarios explored under their variants): a
    misspelling; what to say: the declaration, the class and the closest
    class there is."""
    if not orders:
        return []
    known: set[str] = set(explored)
    for scenario in registry.scenarios.values():
        world = registry.build(scenario, (), ()).world
        known.update(lock.family for lock in world.locks)
    found = []
    for order in orders:
        for name in dict.fromkeys(order.classes):
            if name in known:
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            found.append(f"{_where(order)} names {name}, which no scenario's lock is of{hint}")
    return found


def _where(order: LockOrder) -> str:
    """The model line that declared ``order``: ``lock_order at FILE:LINE``."""
    where = order.declared
    return "lock_order" if where is None else f"lock_order at {shown(where.file)}:{where.line}"


def load_documented(path: Path = LOCKORDER) -> Documented:
    """Read ``specs/lockorder.toml``; a malformed file is a ``ValueError``."""
    try:
        data = tomllib.loads(read_text(path, "a lock order file", TOML_LARGEST))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: {error}") from None
    chains = []
    for i, chain in enumerate(data.get("chain", [])):
        order, source = chain.get("order"), chain.get("source")
        if not isinstance(source, str) or not isinstance(order, list) or len(order) < 2:
            raise ValueError(f"{path}: chain {i + 1} needs a source and an order of 2+ classes")
        if not all(isinstance(c, str) for c in order):
            raise ValueError(f"{path}: chain {i + 1}: the order lists class names")
        chains.append((source, tuple(order)))
    tables = {}
    for name in ("nested", "innermost", "unmodelled"):
        table = data.get(name, {})
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ValueError(f"{path}: [{name}] maps class names to the rule's source")
        tables[name] = dict(table)
    contradiction = _contradiction(chains)
    if contradiction is not None:
        raise ValueError(f"{path}: {contradiction}")
    return Documented(
        tuple(chains), tables["nested"], tables["innermost"], unmodelled=tables["unmodelled"]
    )


def _contradiction(
    chains: Sequence[tuple[str, tuple[str, ...]]], names: Sequence[str] = ()
) -> str | None:
    """Why the chains order some class before itself (a cycle through
    them, with the chains that make each step: ``names`` them, else by
    number), or None."""
    edges: dict[str, dict[str, int]] = {}
    for number, (_source, order) in enumerate(chains, 1):
        for outer, inner in itertools.pairwise(order):
            edges.setdefault(outer, {}).setdefault(inner, number)
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, {}):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found is not None:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in list(edges):
        if start not in state:
            cycle = visit(start)
            if cycle is not None:
                steps = ", ".join(
                    f"{a} before {b} ({_chain_name(names, edges[a][b])})"
                    for a, b in itertools.pairwise(cycle)
                )
                return f"the chains order a class before itself: {steps}"
    return None


@attrs.frozen
class Witness:
    """Where an edge was seen: the scenario, the thread about to take the
    second lock, its step, and the thread's lock operations on the way
    there."""

    scenario: str
    thread: str
    label: str
    source: str
    trace: tuple[str, ...]
    breaks: str | None = None
    """For an edge inside one class, the documented nesting rule the
    acquisition breaks, in one line (``nesting_checks``); None when it
    keeps it or no rule is checked."""


Acquisition = tuple[int, Any, int, CompiledStep, Lock]
"""A state number, the state, a thread and its current step, and the lock
that step takes."""


def _acquisitions(model: KernelModel, search: Search[Any, Any]) -> Iterator[Acquisition]:
    """Each explored state without an error, in search order, with each
    thread whose current step takes a lock (``LockStep``, ``SectionStep``)
    and the lock it takes there."""
    compiled: dict[int, Callable[[Any], Lock | None]] = {}
    for sid, state in enumerate(search.states):
        if state[ERROR_SLOT] is not None:
            continue
        for tid in range(len(model.threads)):
            current = model.current_step(state, tid)
            if current is None or not isinstance(current.step, LockStep | SectionStep):
                continue
            key = id(current)
            if key not in compiled:
                compiled[key] = current.step.lock.compile(model.world)
            taken = compiled[key](state)
            if taken is not None:
                yield sid, state, tid, current, taken


NestingCheck = Callable[[Sequence[Any], Lock, Lock], str | None]
"""Given a state, a lock the thread holds and one of the same class it is
about to take: the nesting rule the acquisition breaks, or None."""
ANCESTORS_FIRST = "ancestors before descendants"
DIRECTORIES_FIRST = "directories before non-directories"
NONDIRECTORIES_BY_ADDRESS = "non-directories by increasing address"
UNRELATED_UNDER_RENAME_MUTEX = "two unrelated directories only under s_vfs_rename_mutex"


def _held_together(state: Sequence[Any], held: Lock, other: Lock) -> bool:
    """Whether the thread holding ``held`` exclusively holds ``other`` too."""
    return any(
        holds_exclusively(held.kind, state[held.slot], tid)
        and holds_exclusively(other.kind, state[other.slot], tid)
        for tid in holders(held.kind, state[held.slot])
    )


def nesting_checks(world: World) -> dict[str, NestingCheck]:
    """For each class nested in its own class by a rule the model can check
    on one acquisition, that check (``i_rwsem``: ``directory_order``,
    ``d_lock``: ``dentry_order``), and those model files declare
    (``lock_order(..., by="inode")``: ``inode_number_order``)."""
    checks = {
        family: inode_number_order(world) if by == "inode" else address_order(world, by)
        for family, by in world.nesting_orders.items()
    }
    return {**checks, "i_rwsem": directory_order(world), "d_lock": dentry_order}


NAMED_PATH = re.compile(r"^[^(]*\((?P<path>/.*)\)$")


def inode_number_order(world: World) -> NestingCheck:
    """Two locks of a class a model file nests by inode number, named after
    their inodes' paths (``xfs_ilock(/a)``): taking one of a lower number
    than one held breaks the rule (the inode numbers are the scenario's
    tree order); a lock named after no inode of the tree is not checked."""
    numbers = {inode.path: inode.ino for inode in world.inodes}

    def check(_state: Sequence[Any], held: Lock, taken: Lock) -> str | None:
        holder, wanted = NAMED_PATH.match(held.name), NAMED_PATH.match(taken.name)
        if holder is None or wanted is None:
            return None
        first, second = numbers.get(holder["path"]), numbers.get(wanted["path"])
        if first is None or second is None or second > first:
            return None
        return (
            f"holding {held}, takes {taken}: breaks {INODE_NUMBERS} "
            f"({wanted['path']} is numbered before {holder['path']})"
        )

    return check


INODE_NUMBERS = "increasing inode number (lock_order(..., by='inode'))"


def address_order(world: World, by: str) -> NestingCheck:
    """Two locks of a class a model file nests by address, named after
    their inodes' paths (``btrfs_i_mmap_lock(/a)``), checked where the run
    has compared the two inodes' addresses (``mc.dsl.addresses``: a model
    that orders them with ``address_below()`` locks in every order the
    scenario can observe): by increasing address (``by="address"``, as
    ``lock_two_nondirectories()``) or decreasing (``by="address-descending"``,
    as btrfs's ``btrfs_double_mmap_lock()``).  A pair the run never
    compared, or a lock named after no inode of the tree, is not checked."""
    numbers = {inode.path: inode.ino for inode in world.inodes}
    descending = by == "address-descending"
    rule = f"{'decreasing' if descending else 'increasing'} address (lock_order(..., by={by!r}))"

    def check(state: Sequence[Any], held: Lock, taken: Lock) -> str | None:
        holder, wanted = NAMED_PATH.match(held.name), NAMED_PATH.match(taken.name)
        if holder is None or wanted is None:
            return None
        first, second = numbers.get(holder["path"]), numbers.get(wanted["path"])
        if first is None or second is None:
            return None
        lower, higher = (first, second) if descending else (second, first)
        return _below_in_run(world, state, held, taken, (lower, higher), rule)

    return check


def _below_in_run(
    world: World,
    state: Sequence[Any],
    held: Lock,
    taken: Lock,
    pair: tuple[int, int],
    rule: str,
) -> str | None:
    """That taking ``taken`` while holding ``held`` breaks ``rule``, when
    the run's address order (``mc.dsl.addresses``) puts inode ``pair[0]``
    below ``pair[1]``; None where it does not order them so."""
    order = world.parts.get(ADDRESSES)
    if not isinstance(order, AddressOrder) or pair not in state[order.slot]:
        return None
    lower, higher = (world.inode_name(ino) for ino in pair)
    return (
        f"holding {held}, takes {taken}: breaks {rule} "
        f"({lower} < {higher} in this run's address order)"
    )


DENTRY_LOCK = re.compile(r"^d_lock\((?P<path>/.*)\)$")


def dentry_order(_state: Sequence[Any], held: Lock, taken: Lock) -> str | None:
    """The order of two dentries' d_lock (fs/dcache.c: a parent's before
    its child's, ``spin_lock_nested()``), by the paths the locks are
    named after (``d_lock(/a/x)``): taking an ancestor's while holding a
    descendant's breaks it; two dentries neither above the other are not
    checked."""
    holder, wanted = DENTRY_LOCK.match(held.name), DENTRY_LOCK.match(taken.name)
    if holder is None or wanted is None:
        return None
    below = holder["path"]
    above = wanted["path"].rstrip("/") + "/"
    if not below.startswith(above) or below == wanted["path"]:
        return None
    return (
        f"holding {held}, takes {taken}: breaks {ANCESTORS_FIRST} "
        f"({wanted['path']} is an ancestor of {below})"
    )


def directory_order(world: World) -> NestingCheck:
    """The order of two inodes' i_rwsem, checked where the state tells it:
    a directory's i_rwsem is not taken while a non-directory's is held
    (directories before non-directories), nor while a descendant's is held
    (ancestors before descendants; a non-directory is below each directory
    one of its names is in); nor a non-directory's while one at a higher
    address is held (non-directories by increasing address, as
    ``lock_two_nondirectories()`` takes them), where the run has compared
    the two addresses (``mc.dsl.addresses``: the models lock in every order
    the scenario can observe, and a pair never compared is left alone);
    nor a directory's while another directory neither above nor below it
    is held, unless the thread holds ``s_vfs_rename_mutex`` ("NOTE: WE
    ONLY LOCK UNRELATED DIRECTORIES IN CROSS-DIRECTORY CASE.  NEVER, EVER
    DO THAT WITHOUT ->s_vfs_rename_mutex", ``vfs_rename()`` since
    22e111ed6c83: an order of unrelated directories by address is not
    transitive with the ancestor rule, so three threads can close a cycle
    each of whose edges keeps a rule).

    Lockdep checks it through the subclasses of inode_lock_nested()
    (include/linux/fs.h, Linux 6.12: "parent[2] -> child -> grandchild ->
    normal -> xattr -> second non-directory"): lock_rename() and
    lock_two_directories() (fs/namei.c) take the parents I_MUTEX_PARENT,
    I_MUTEX_PARENT2, the ancestor first; vfs_rename() a moved subdirectory
    I_MUTEX_CHILD before the non-directories; lock_two_nondirectories()
    (fs/inode.c) warns on a directory and takes the second I_MUTEX_NONDIR2.
    The rules are those of Documentation/filesystems/directory-locking.rst
    (Linux 6.12): its deadlock proof ranks every directory's i_rwsem
    before any non-directory's, and rename locks the parents "ancestors
    first"."""
    inodes = {inode.i_rwsem.slot: inode for inode in world.inodes}
    rename_mutex = world.superblock.s_vfs_rename_sem

    def check(state: Sequence[Any], held: Lock, taken: Lock) -> str | None:
        holder, wanted = inodes.get(held.slot), inodes.get(taken.slot)
        if holder is None or wanted is None:
            return None
        if not wanted.is_dir:
            return by_address(state, held, taken, holder.ino, wanted.ino, holder.is_dir)
        broken = []
        if wanted.ino in directories_above(world, state, holder.ino):
            broken.append(f"{ANCESTORS_FIRST} ({wanted} is an ancestor of {holder})")
        elif (
            holder.is_dir
            and holder.ino not in directories_above(world, state, wanted.ino)
            and not _held_together(state, held, rename_mutex)
        ):
            broken.append(
                f"{UNRELATED_UNDER_RENAME_MUTEX} ({holder} and {wanted}, neither above the "
                f"other, without {rename_mutex})"
            )
        if not holder.is_dir:
            broken.append(f"{DIRECTORIES_FIRST} ({holder} is not a directory, {wanted} is)")
        if not broken:
            return None
        return f"holding {held}, takes {taken}: breaks {' and '.join(broken)}"

    def by_address(
        state: Sequence[Any], held: Lock, taken: Lock, first: int, second: int, is_dir: bool
    ) -> str | None:
        if is_dir:
            return None
        return _below_in_run(world, state, held, taken, (second, first), NONDIRECTORIES_BY_ADDRESS)

    return check


def observed_edges(
    scenario: str, model: KernelModel, search: Search[Any, Any]
) -> dict[Edge, Witness]:
    """The lock-class edges the explored states of ``search`` show, each
    with the first state (in search order) that shows it (none into a lock
    that never waits: ``Kind.never_waits``); for an edge
    inside a class with a nesting check, the first that breaks the rule,
    if one does (``Witness.breaks``; taking a lock the thread holds
    already is a recursion the checker reports, not an order)."""
    checks = nesting_checks(model.world)
    found: dict[Edge, tuple[int, int, str, str]] = {}
    broken: dict[Edge, tuple[tuple[int, int, str, str], str]] = {}
    both_ways = InstanceOrders(model)
    for sid, state, tid, current, taken in _acquisitions(model, search):
        if taken.kind.never_waits:
            continue
        holding = current.context.held(state)
        again = any(held is taken for held in holding)
        for held in holding:
            if held is taken:
                continue
            edge = (held.family, taken.family)
            where = (sid, tid, held.name, taken.name)
            if edge not in found:
                found[edge] = where
            if held.family != taken.family or again:
                continue
            both_ways.see(state, tid, holding, held, taken, where)
            check = checks.get(taken.family)
            if check is not None and edge not in broken:
                why = check(state, held, taken)
                if why is not None:
                    broken[edge] = (where, why)
    for edge, inversion in both_ways.unguarded().items():
        broken.setdefault(edge, inversion)
    edges = {}
    for edge, where in sorted(found.items()):
        if edge in broken:
            first, why = broken[edge]
            edges[edge] = attrs.evolve(_witness(scenario, model, search, *first), breaks=why)
        else:
            edges[edge] = _witness(scenario, model, search, *where)
    return edges


class InstanceOrders:
    """The two locks of one class each acquisition nested, in the order
    taken, with the locks the thread held beside them (its gates: two
    acquisitions that hold one lock, in modes that exclude each other,
    never run at once).  Two locks taken in both orders by acquisitions
    that share no gate deadlock when two threads take them so at once,
    whatever rule would order them (an instance-level ABBA, the cycle
    lockdep's classes cannot show); acquisitions of two inodes' locks whose
    addresses the run compared (``mc.dsl.addresses``) are left to the
    address rules, which judge each in the order the run fixed."""

    KEPT = 8
    """The distinct gate sets kept for a pair of locks."""

    def __init__(self, model: KernelModel) -> None:
        world = model.world
        self.threads = [thread.name for thread in model.threads]
        self.inodes = {inode.i_rwsem.slot: inode.ino for inode in world.inodes}
        self.numbers = {inode.path: inode.ino for inode in world.inodes}
        part = world.parts.get(ADDRESSES)
        self.addresses = part.slot if isinstance(part, AddressOrder) else None
        self.seen: dict[tuple[str, str], dict[Gates, tuple[int, int, str, str]]] = {}
        self.families: dict[tuple[str, str], str] = {}

    def see(
        self,
        state: Sequence[Any],
        tid: int,
        holding: Sequence[Lock],
        held: Lock,
        taken: Lock,
        where: tuple[int, int, str, str],
    ) -> None:
        """Thread ``tid``, holding ``holding``, takes ``taken`` inside ``held``."""
        if self._compared(state, held, taken):
            return
        gates = frozenset(
            (lock.name, holds_exclusively(lock.kind, state[lock.slot], tid))
            for lock in holding
            if lock is not held
        )
        pair = (held.name, taken.name)
        by_gates = self.seen.setdefault(pair, {})
        if len(by_gates) < self.KEPT:
            by_gates.setdefault(gates, where)
        self.families[pair] = held.family

    def _compared(self, state: Sequence[Any], held: Lock, taken: Lock) -> bool:
        if self.addresses is None:
            return False
        first, second = self._inode(held), self._inode(taken)
        if first is None or second is None:
            return False
        order = state[self.addresses]
        return (first, second) in order or (second, first) in order

    def _inode(self, lock: Lock) -> int | None:
        ino = self.inodes.get(lock.slot)
        if ino is not None:
            return ino
        named = NAMED_PATH.match(lock.name)
        return None if named is None else self.numbers.get(named["path"])

    def unguarded(self) -> dict[Edge, tuple[tuple[int, int, str, str], str]]:
        """For each class two of whose locks were taken both ways with no
        gate between, the acquisition of the later-named order with why
        it can deadlock."""
        found: dict[Edge, tuple[tuple[int, int, str, str], str]] = {}
        for (first, second), by_gates in sorted(self.seen.items()):
            back = self.seen.get((second, first))
            family = self.families[(first, second)]
            if back is None or first > second or (family, family) in found:
                continue
            for gates, where in by_gates.items():
                other = next(
                    (at for back_gates, at in back.items() if not _excludes(gates, back_gates)),
                    None,
                )
                if other is not None:
                    found[(family, family)] = (other, self._why(where, other))
                    break
        return found

    def _why(self, one: tuple[int, int, str, str], other: tuple[int, int, str, str]) -> str:
        return (
            f"holding {other[2]}, takes {other[3]}, where {self.threads[one[1]]} holding "
            f"{one[2]} takes {one[3]}, and no lock held by both keeps them apart: two threads "
            "taking them so at once wait for each other, whatever order a rule gives them"
        )


Gates = frozenset[tuple[str, bool]]
"""The locks a thread holds beside the two an acquisition nests, each with
whether it holds it exclusively."""


def _excludes(one: Gates, other: Gates) -> bool:
    """Whether two acquisitions holding these gates never run at once: they
    hold one lock, at least one of them exclusively."""
    exclusive = {name for name, alone in one if alone}
    shared = {name for name, alone in one if not alone}
    return any(name in exclusive or (alone and name in shared) for name, alone in other)


def observed_usage(
    scenario: str, model: KernelModel, search: Search[Any, Any]
) -> dict[Usage, Witness]:
    """The lock classes the explored states show taken in interrupt context
    (by a handler that has landed) or, for spinning locks, with interrupts
    on in process context, each with the first state that shows it."""
    part = interrupts_of(model.world)
    landing = {} if part is None else part.landing
    counted = {} if part is None else part.irqs_off
    found: dict[Usage, tuple[int, int, str, str]] = {}
    for sid, state, tid, current, taken in _acquisitions(model, search):
        step = current.step
        assert isinstance(step, LockStep | SectionStep)
        if tid in landing:
            how = IN_IRQ if state[landing[tid]] is not None else None
        elif taken.kind in SPINNING and not disables_irqs(step.irq, taken):
            held = current.context.held(state)
            off = state[counted[tid]] > 0 if tid in counted else any(h.irqs_off for h in held)
            how = None if off else IRQS_ON
        else:
            how = None
        if how is not None and (taken.family, how) not in found:
            found[(taken.family, how)] = (sid, tid, how, taken.name)
    return {
        usage: _witness(scenario, model, search, *where, taking=True)
        for usage, where in sorted(found.items())
    }


def _witness(
    scenario: str,
    model: KernelModel,
    search: Search[Any, Any],
    sid: int,
    tid: int,
    held: str,
    taken: str,
    *,
    taking: bool = False,
) -> Witness:
    path = search.path_to(sid)
    thread = model.threads[tid]
    lock_names = {lock.name for lock in model.world.locks}
    trace = []
    for before, action in zip(path.states, path.actions, strict=False):
        for record in model.records(before, action):
            if record.thread != thread.name:
                continue
            if record.event.kind in ("acquire", "release"):
                trace.append(f"{record.event.text}  ({record.source})")
                continue
            handed = [name for name in record.changed if name in lock_names]
            if handed:
                what = ", ".join(f"{name} = {record.changed[name]}" for name in handed)
                trace.append(f"{record.label}: {what}  ({record.source})")
    current = model.current_step(path.states[-1], tid)
    assert current is not None
    what = f"takes {taken} {held}" if taking else f"holding {held}, takes {taken}"
    trace.append(f"{what}: {current.step.label}  ({current.step.source})")
    return Witness(
        scenario,
        thread.name,
        current.step.label,
        str(current.step.source),
        tuple(trace),
    )


@attrs.frozen
class Report:
    """The merged graph: every edge with the first witness found, the
    scenarios explored, the cycles and the edges out of order."""

    edges: dict[Edge, Witness]
    scenarios: tuple[str, ...]
    cycles: tuple[tuple[Edge, ...], ...]
    undocumented: tuple[Edge, ...]
    """The edges the documented order places and does not allow."""
    documented: Documented
    usage: dict[Usage, Witness] = attrs.field(factory=dict)
    """How each class is taken with respect to interrupts (``observed_usage``)."""
    variants: tuple[str, ...] = ()
    """The protocol variants the scenarios were explored under."""
    incomplete: dict[str, str] = attrs.field(factory=dict)
    """The scenarios whose exploration a bound stopped, and why: their
    edges are those of the states explored."""
    under: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    """The variants each scenario was explored under: those of
    ``variants`` that change it."""
    classes: frozenset[str] = frozenset()
    """The lock classes of the explored scenarios' worlds."""
    every_scenario: bool = False
    """Whether every registered scenario was explored: then the classes
    of the documented order none of them has are reported (``unmatched``)."""
    unplaced: tuple[Edge, ...] = ()
    """The edges between classes the documented order does not place
    (``Documented.places``): listed, not judged."""
    ended: dict[str, dict[str, int]] = attrs.field(factory=dict)
    """The scenarios where a step's error ended some runs
    (``Explored.ended``): their edges are those of the runs up to it."""

    @property
    def unmatched(self) -> dict[str, str | None]:
        """The classes the documented order names that no explored
        scenario has (a misspelling, or a lock no model takes), each with
        the closest class the scenarios have, if one is close; nothing
        unless every scenario was explored.  A class the order names
        elsewhere is no candidate: the name is not a misspelling of it."""
        if not self.every_scenario:
            return {}
        candidates = sorted(self.classes - self.documented.classes)
        return {
            name: next(iter(difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)), None)
            for name in sorted(self.documented.classes - self.classes)
            if name not in self.documented.unmodelled
        }

    @property
    def changed_by(self) -> dict[str, tuple[str, ...]]:
        """For each of ``variants``, the scenarios it changes (the others
        were explored without it)."""
        return {
            variant: tuple(name for name in self.scenarios if variant in self.under.get(name, ()))
            for variant in self.variants
        }

    @property
    def irq_unsafe(self) -> tuple[str, ...]:
        """The classes taken in interrupt context and with interrupts on."""
        return tuple(
            sorted(c for c, how in self.usage if how == IN_IRQ and (c, IRQS_ON) in self.usage)
        )

    @property
    def clean(self) -> bool:
        return not self.cycles and not self.undocumented and not self.irq_unsafe


@attrs.frozen
class Explored:
    """One scenario's exploration: its edges and its interrupt usage;
    unpacks as ``(name, edges)``."""

    name: str
    edges: dict[Edge, Witness]
    usage: dict[Usage, Witness] = attrs.field(factory=dict)
    incomplete: str | None = None
    """Why the exploration stopped before every state (a bound), if it did."""
    variants: tuple[str, ...] = ()
    """The variants it was explored under."""
    classes: frozenset[str] = frozenset()
    """The lock classes of its world, taken or not."""
    ended: dict[str, int] = attrs.field(factory=dict)
    """How many states a step's error ended the run in, by the property
    it violates (``unchecked_errors``): no edge past them is seen."""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.name, self.edges))


def merge(
    explored: Iterable[Explored],
    documented: Documented,
    variants: Sequence[str] = (),
    every_scenario: bool = False,
) -> Report:
    """Merge the edges and interrupt usage of several explorations (the
    first witness of each is kept, but the first that breaks a nesting
    rule before one that does not) and report cycles, edges the order does
    not allow (a nesting rule broken too), classes taken both in
    interrupt context and with interrupts on, and, when the explorations
    are of ``every_scenario`` registered, the classes of the order that
    none of them has."""
    edges: dict[Edge, Witness] = {}
    usage: dict[Usage, Witness] = {}
    names = []
    incomplete = {}
    ended = {}
    under = {}
    classes: set[str] = set()
    for one in explored:
        names.append(one.name)
        classes |= one.classes
        under[one.name] = one.variants
        if one.incomplete is not None:
            incomplete[one.name] = one.incomplete
        if one.ended:
            ended[one.name] = one.ended
        for edge, witness in one.edges.items():
            kept = edges.get(edge)
            if kept is None or (kept.breaks is None and witness.breaks is not None):
                edges[edge] = witness
        for how, witness in one.usage.items():
            usage.setdefault(how, witness)
    undocumented = tuple(
        sorted(
            e
            for e, w in edges.items()
            if (documented.places(*e) and not documented.allows(*e)) or w.breaks is not None
        )
    )
    unplaced = tuple(
        sorted(e for e, w in edges.items() if w.breaks is None and not documented.places(*e))
    )
    cycles = find_cycles(list(edges))
    return Report(
        edges,
        tuple(names),
        cycles,
        undocumented,
        documented,
        usage,
        tuple(variants),
        incomplete,
        under,
        frozenset(classes),
        every_scenario,
        unplaced,
        ended,
    )


def find_cycles(edges: Sequence[Edge]) -> tuple[tuple[Edge, ...], ...]:
    """Cycles between two or more classes (self-edges are nesting, not
    cycles), shortest first: the shortest cycle through each class not on
    a cycle already given, so a direct inversion (``a -> b -> a``) is named
    rather than a longer way round through the same classes."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, []).append(b)
            graph.setdefault(b, [])
    shortest = [path for start in sorted(graph) if (path := _cycle_from(graph, start))]
    cycles = []
    covered: set[str] = set()
    for path in sorted(shortest, key=len):
        if path[0][0] in covered:
            continue
        covered.update(a for a, _ in path)
        cycles.append(tuple(path))
    return tuple(cycles)


def _cycle_from(graph: dict[str, list[str]], start: str) -> list[Edge] | None:
    """The shortest cycle through ``start`` (breadth-first), if any."""
    queue: deque[tuple[str, list[Edge]]] = deque([(start, [])])
    seen = {start}
    while queue:
        node, path = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*path, (node, nxt)]
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, [*path, (node, nxt)]))
    return None


def explore(
    registry: Registry,
    names: Sequence[str],
    options: Options | None = None,
    variants: Sequence[str] = (),
    properties: Sequence[str] = (),
) -> list[Explored]:
    """Explore each scenario on the correct protocol, or under those of
    ``variants`` that change it (``under_changing``: the others leave it as
    it is), and collect its edges (from every interleaving: the edges are
    read off the stored states, so partial-order reduction is off, and no
    acquisition runs together with the step before it).  A
    variant that changes none of the scenarios is an ``IneffectiveVariant``,
    raised before any is explored.  ``properties``: those checked on the
    way, whose first violation ends its search (default: none, so a bug
    the change makes elsewhere hides none of its edges; a step that
    records an error still ends the run it is on, ``Explored.ended``)."""
    full = attrs.evolve(options or Options(), reduce=False)
    built = [
        (
            name,
            *under_changing(
                registry, registry.scenario(name), variants, properties, every_acquisition=True
            ),
        )
        for name in names
    ]
    for variant in variants:
        if not any(variant in changing for _name, _model, changing in built):
            where = names[0] if len(names) == 1 else f"the {len(names)} scenarios explored"
            raise IneffectiveVariant(f"variant {variant} changes nothing in {where}")
    return [_explored(name, model, changing, full) for name, model, changing in built]


def _explored(
    name: str, model: KernelModel, changing: tuple[str, ...], options: Options
) -> Explored:
    """Scenario ``name`` explored as ``explore`` explores it, built as
    ``model`` under the variants ``changing``."""
    search = Search(model, options)
    result = search.run()
    edges, usage = observed_edges(name, model, search), observed_usage(name, model, search)
    classes = frozenset(lock.family for lock in model.world.locks)
    ended = unchecked_errors(search.halted_states, ())
    return Explored(name, edges, usage, result.incomplete_reason, changing, classes, ended)


AGAINST_ORDER_STATES = 2_000
"""How many states ``against_documented`` explores at most (its edges are
those of the states explored: a note it gives is evidence, its silence
is none)."""


@attrs.frozen
class AgainstOrder:
    """What ``against_documented`` found: the edges against the documented
    order, each with its witness and why, and why its search stopped
    before every state, if it did (a note it gives is evidence, its
    silence is none)."""

    found: tuple[tuple[Edge, Witness, str], ...]
    stopped: str | None = None


def against_documented(
    registry: Registry, name: str, variants: Sequence[str], time_limit: float | None = None
) -> AgainstOrder:
    """The lock-class edges scenario ``name`` takes under ``variants`` in
    the order the documented one (with the model files' ``lock_order``s)
    reverses, in its first ``AGAINST_ORDER_STATES`` states (and whether
    that was every one): each with its witness and the chain that orders the two
    classes the other way, or, for an edge inside one class, the nesting
    rule it breaks (``Witness.breaks``: a directory's i_rwsem taken under
    a non-directory's).  A change that passes its own scenario may
    still take two locks against an order other code keeps (``check``
    says so of an OK); classes no chain orders are not reported.
    ``variants`` are those ``check`` accepted: each changes the scenario
    (``explore`` works that out for variants given to several)."""
    documented = load_documented().declared_by(registry.lock_orders)
    options = Options(max_states=AGAINST_ORDER_STATES, time_limit=time_limit, reduce=False)
    with checkable.building_within(None, f"building the model of {name}"):
        model = registry.build(registry.scenario(name), variants, (), every_acquisition=True)
    explored = _explored(name, model, tuple(variants), options)
    found = tuple(
        (edge, witness, witness.breaks or documented.why(edge[1], edge[0]))
        for edge, witness in sorted(explored.edges.items())
        if witness.breaks is not None
        or (documented.allows(edge[1], edge[0]) and not documented.allows(*edge))
    )
    return AgainstOrder(found, explored.incomplete)


def render(report: Report) -> list[str]:
    """The report as text: the merged edges, then cycles and edges out of
    order, each with the scenario and the trace that shows it."""
    under = f" under {', '.join(report.variants)}" if report.variants else ""
    count = len(report.scenarios)
    observed = (
        f"{len(report.edges)} lock-class edges observed in {count} "
        f"scenario{'s' if count != 1 else ''}"
    )
    lines = [f"{observed}{under}:"]
    for (a, b), witness in sorted(report.edges.items()):
        mark = (
            "   NOT IN THE DOCUMENTED ORDER"
            if (a, b) in report.undocumented
            else "   (classes the documented order does not place)"
            if (a, b) in report.unplaced
            else ""
        )
        lines.append(f"  {a} -> {b}  ({witness.scenario}, {witness.thread}){mark}")
    lines.append("")
    if report.cycles:
        for number, cycle in enumerate(report.cycles, start=1):
            chain = " -> ".join([cycle[0][0], *(b for _, b in cycle)])
            lines.append(f"cycle {number}: {chain}")
            for edge in cycle:
                lines += _shown(edge, report.edges[edge])
    else:
        lines.append("no cycle in the merged lock-class graph")
    lines.append("")
    if report.undocumented:
        lines.append(f"edges the documented order ({report.documented.where}) does not allow:")
        for edge in report.undocumented:
            lines += _shown(edge, report.edges[edge])
        nested = sorted(
            a for a, b in report.undocumented if a == b and report.edges[(a, b)].breaks is None
        )
        lines += [
            f"  ({name} -> {name}: two locks of one class held at once; where a rule of the "
            f'filesystem orders them, lock_order("{name}", "{name}", source=...) says so)'
            for name in nested
        ]
    elif report.unplaced:
        lines.append("no observed edge goes against the documented order")
    else:
        lines.append("every observed edge is in the documented order")
    if report.unplaced:
        lines.append(
            "edges between classes the documented order does not place, not judged "
            '(a model file places its own lock with lock_order("i_rwsem", "my_lock", ...)):'
        )
        lines += [
            f"  {a} -> {b}: {report.edges[(a, b)].scenario}, {report.edges[(a, b)].thread}"
            for a, b in report.unplaced
        ]
    if report.unmatched:
        lines.append(
            f"classes the documented order ({report.documented.where}) names that no "
            "scenario has (a misspelling, "
            "or a lock no model takes): "
            + ", ".join(
                name if close is None else f"{name} (did you mean {close}?)"
                for name, close in report.unmatched.items()
            )
        )
    lines.append("")
    if report.irq_unsafe:
        lines.append(
            "lock classes taken in interrupt context and with interrupts on (an interrupt "
            "landing on the holder's CPU spins forever):"
        )
        for name in report.irq_unsafe:
            for how in (IN_IRQ, IRQS_ON):
                witness = report.usage[(name, how)]
                lines.append(
                    f"  {name} taken {how}: {witness.scenario}, {witness.thread} "
                    f"at {witness.source}"
                )
                lines += [f"      {line}" for line in witness.trace]
    else:
        lines.append("no lock class is taken both in interrupt context and with interrupts on")
    if report.incomplete:
        lines += ["", "explored in part (their edges are those of the states explored):"]
        lines += [f"  {name}: {why}" for name, why in sorted(report.incomplete.items())]
    if report.ended:
        lines += [
            "",
            "runs a step's error ended (no edge past the error is seen; check the "
            "scenario for what it is):",
        ]
        lines += [
            f"  {name}: " + ", ".join(f"{count} {prop}" for prop, count in sorted(by.items()))
            for name, by in sorted(report.ended.items())
        ]
    total = len(report.scenarios)
    for variant, names in report.changed_by.items():
        if len(names) < total:
            lines += [
                "",
                f"{variant} changes {len(names)} of the {total} scenarios (the others were "
                "explored as they are); explored under it:",
                *(f"  {name}" for name in names),
            ]
    return lines


def _shown(edge: Edge, witness: Witness) -> list[str]:
    head = f"  {edge[0]} -> {edge[1]}: {witness.scenario}, {witness.thread} at {witness.source}"
    rule = [] if witness.breaks is None else [f"    {witness.breaks}"]
    return [head, *rule, *(f"      {line}" for line in witness.trace)]


def to_json(report: Report) -> dict[str, Any]:
    """The report as one JSON object."""

    def edge(e: Edge) -> dict[str, Any]:
        return {"held": e[0], "taken": e[1], **attrs.asdict(report.edges[e])}

    return {
        "scenarios": list(report.scenarios),
        "variants": list(report.variants),
        "incomplete": dict(sorted(report.incomplete.items())),
        "ended_by_errors": dict(sorted(report.ended.items())),
        "changed_by": {variant: list(names) for variant, names in report.changed_by.items()},
        "edges": [edge(e) for e in sorted(report.edges)],
        "cycles": [[edge(e) for e in cycle] for cycle in report.cycles],
        "undocumented": [edge(e) for e in report.undocumented],
        "unplaced": [edge(e) for e in report.unplaced],
        "unmatched_classes": [
            {"class": name, "closest": close} for name, close in report.unmatched.items()
        ],
        "irq_unsafe": [
            {
                "class": name,
                "in_irq": attrs.asdict(report.usage[(name, IN_IRQ)]),
                "irqs_on": attrs.asdict(report.usage[(name, IRQS_ON)]),
            }
            for name in report.irq_unsafe
        ],
    }
