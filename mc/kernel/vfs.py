"""The dcache and inode vocabulary: questions about the tree that steps
ask (is this an ancestor? is the directory empty? was it removed?) as plain
functions of the state and as expressions for programs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mc.kernel.expr import Eval, Expr, InodeExpr, State, joint_reads
from mc.kernel.world import Dentry, Scratch, Slots, World, given_names_only, touches

Values = Sequence[Any]


def parent_of(world: World, values: Values, ino: int) -> int | None:
    """``d_parent`` of directory ``ino``: the root is its own parent, a
    directory never linked has none."""
    slot = world.inodes[ino].d_parent
    return None if slot is None else values[slot]


def ancestors(world: World, values: Values, ino: int) -> list[int]:
    """``ino``'s proper ancestors, nearest first, up to the root of its tree
    (stopping should the tree loop)."""
    chain: list[int] = []
    node: int | None = ino
    while True:
        parent = parent_of(world, values, node) if node is not None else None
        if parent is None or parent in (node, ino) or parent in chain:
            return chain
        chain.append(parent)
        node = parent


def is_ancestor(world: World, values: Values, ancestor: int, descendant: int) -> bool:
    """Whether ``ancestor`` is a proper ancestor of ``descendant``."""
    return ancestor in ancestors(world, values, descendant)


def directories_above(world: World, values: Values, ino: int) -> set[int]:
    """The directories above inode ``ino`` in the tree of ``values``: a
    directory's proper ancestors; for a non-directory, each directory a
    name of it is in (a hard link gives several) and their ancestors."""
    if world.inodes[ino].is_dir:
        return set(ancestors(world, values, ino))
    above: set[int] = set()
    for dentry in world.dentries.values():
        parent = dentry.parent.ino
        if values[dentry.slot] == ino and parent not in above:
            above.add(parent)
            above.update(ancestors(world, values, parent))
    return above


def child_toward(world: World, values: Values, ancestor: int, descendant: int) -> int | None:
    """The child of ``ancestor`` on the path down to ``descendant`` (what
    ``d_ancestor()`` returns), or None if ``ancestor`` is not above it."""
    node = descendant
    for parent in ancestors(world, values, descendant):
        if parent == ancestor:
            return node
        node = parent
    return None


def tree_root(world: World, values: Values, ino: int) -> int:
    """The top of ``ino``'s tree: the root, or a directory never linked."""
    chain = ancestors(world, values, ino)
    return chain[-1] if chain else ino


def has_loop(world: World, values: Values, ino: int) -> bool:
    """Whether following ``d_parent`` up from ``ino`` comes back to it."""
    seen = {ino}
    node = parent_of(world, values, ino)
    while node is not None and node not in seen:
        seen.add(node)
        parent = parent_of(world, values, node)
        if parent == node:
            return False
        node = parent
    return node is not None and node in seen and node != world.root.ino


def is_empty(world: World, values: Values, directory: int) -> bool:
    """Whether no name in ``directory`` is positive (``simple_empty()``)."""
    inode = world.inodes[directory]
    return all(values[d.slot] is None for d in world.children(inode))


def is_dead(world: World, values: Values, directory: int) -> bool:
    """``IS_DEADDIR()``: the directory was removed."""
    slot = world.inodes[directory].dead
    return slot is not None and bool(values[slot])


def _tree_expr(
    text: str, function: Callable[..., Any], *args: Expr, reads: frozenset[int] | None = None
) -> Expr:
    def build(world: World) -> Eval:
        parts = [a.compile(world) for a in args]

        def evaluate(state: State) -> Any:
            values = [p(state) for p in parts]
            if any(v is None for v in values):
                return None
            return function(world, state, *values)

        return evaluate

    return Expr(text, build, reads=reads)


P2_ABOVE = "p2 is an ancestor of p1"
P1_ABOVE = "p1 is an ancestor of p2"
UNRELATED = "unrelated"
NO_COMMON_ANCESTOR = "no common ancestor"


def rename_walk(world: World, values: Values, p1: int, p2: int) -> tuple[str, int | None]:
    """The walk of lock_two_directories(): how ``p1`` and ``p2`` are
    related, and the trap (the child of the ancestor on the path to the
    other directory)."""
    if is_ancestor(world, values, p2, p1):
        return P2_ABOVE, child_toward(world, values, p2, p1)
    if is_ancestor(world, values, p1, p2):
        return P1_ABOVE, child_toward(world, values, p1, p2)
    if tree_root(world, values, p1) == tree_root(world, values, p2):
        return UNRELATED, None
    return NO_COMMON_ANCESTOR, None


def relation(p1: InodeExpr, p2: InodeExpr, world: World | None = None) -> Expr:
    """The result of lock_two_directories()'s walk up from ``p1``; given
    the ``world``, the expression says it reads only the directories'
    parents."""
    known = joint_reads(p1, p2)
    reads = None
    if world is not None and known is not None:
        reads = known | {i.d_parent for i in world.inodes if i.d_parent is not None}
    return _tree_expr(f"walk up from {p1} to {p2}", rename_walk, p1, p2, reads=reads)


def render_walk(walk: tuple[str, int | None] | None, world: World) -> str:
    """A walk result as people read it."""
    if walk is None:
        return "none"
    kind, trap = walk
    return kind if trap is None else f"{kind}, trap {world.inode_name(trap)}"


def walk_is(walk: Expr, kind: str) -> Expr:
    """The walk found relation ``kind``."""
    return Expr(
        f"{walk} == {kind}", lambda w: _project(walk, w, lambda v: v[0] == kind), walk.local
    )


def walk_trap(walk: Expr) -> InodeExpr:
    """The trap the walk found (None when the parents are unrelated)."""
    return InodeExpr("trap", lambda w: _project(walk, w, lambda v: v[1]), walk.local)


def _project(walk: Expr, world: World, part: Callable[[Any], Any]) -> Eval:
    value = walk.compile(world)
    return lambda state: None if value(state) is None else part(value(state))


def ancestor_of(ancestor: InodeExpr, descendant: InodeExpr) -> Expr:
    """``ancestor`` is a proper ancestor of ``descendant``."""
    return _tree_expr(
        f"{ancestor} is an ancestor of {descendant}", is_ancestor, ancestor, descendant
    )


def unlinked(inode: InodeExpr) -> Expr:
    """``inode->i_nlink == 0``."""

    def no_links(world: World, values: Values, ino: int) -> bool:
        return bool(values[world.inodes[ino].nlink] == 0)

    known = None if inode.inode is None else joint_reads(inode)
    reads = None if known is None or inode.inode is None else known | {inode.inode.nlink}
    return _tree_expr(f"{inode}->i_nlink == 0", no_links, inode, reads=reads)


def dead_dir(directory: InodeExpr) -> Expr:
    """``IS_DEADDIR(directory)``."""

    fixed = directory.inode
    known = joint_reads(directory)
    reads = None
    if fixed is not None and known is not None:
        reads = known if fixed.dead is None else known | {fixed.dead}
    return _tree_expr(f"IS_DEADDIR({directory})", is_dead, directory, reads=reads)


def _moved_names(world: World, *dentries: Dentry) -> tuple[Slots, Slots]:
    """What ``d_move`` and ``d_exchange`` of ``dentries`` touch: their names
    and the parent of every directory (the one they move is known only
    when they run)."""
    slots = [d.slot for d in dentries]
    parents = [inode.d_parent for inode in world.inodes if inode.d_parent is not None]
    victims = [inode.renamed_over for inode in world.inodes if inode.renamed_over is not None]
    return slots, slots + parents + victims


@touches(lambda world, old, new: _moved_names(world, old, new))
@given_names_only
def d_move(scratch: Scratch, old: Dentry, new: Dentry) -> None:
    """__d_move() of a rename: ``new``'s name now points to what ``old``
    pointed to, ``old`` turns negative, a moved directory changes parent;
    the victim the name pointed to is no longer renamed over (its link
    and its name are gone)."""
    inode = scratch[old.slot]
    victim = scratch[new.slot]
    if victim is not None and scratch.world.inodes[victim].renamed_over is not None:
        scratch[scratch.world.inodes[victim].renamed_over] = False
    scratch[new.slot] = inode
    scratch[old.slot] = None
    _reparent(scratch, inode, new.parent.ino)


RENAME_NOREPLACE_KEPT = "rename-noreplace"
"""The property ``d_move_noreplace`` breaks: renameat2(RENAME_NOREPLACE)
replaced a name."""


@touches(lambda world, old, new: _moved_names(world, old, new))
@given_names_only
def d_move_noreplace(scratch: Scratch, old: Dentry, new: Dentry) -> None:
    """``d_move()`` of a renameat2(2) with RENAME_NOREPLACE: the move of a
    positive name breaks the flag's promise (``do_renameat2()`` tests
    ``d_is_positive(new_dentry)`` under ``lock_rename()`` and returns
    -EEXIST), a violation of ``rename-noreplace``; else ``d_move()``."""
    if scratch[new.slot] is not None:
        scratch.violate(
            RENAME_NOREPLACE_KEPT,
            f"rename({old} -> {new}, RENAME_NOREPLACE) replaces the inode {new} names: "
            "renameat2(2) promises -EEXIST for a target that exists (do_renameat2() tests "
            "d_is_positive(new_dentry) under lock_rename())",
        )
        return
    d_move(scratch, old, new)


@touches(lambda world, first, second: _moved_names(world, first, second))
@given_names_only
def d_exchange(scratch: Scratch, first: Dentry, second: Dentry) -> None:
    """__d_move(..., exchange=true): the two names swap inodes."""
    a, b = scratch[first.slot], scratch[second.slot]
    scratch[first.slot], scratch[second.slot] = b, a
    _reparent(scratch, a, second.parent.ino)
    _reparent(scratch, b, first.parent.ino)


def _dead_flag(world: World, ino: int) -> list[int]:
    slot = world.inodes[ino].dead
    return [] if slot is None else [slot]


def _reparent(scratch: Scratch, ino: int | None, parent: int) -> None:
    slot = None if ino is None else scratch.world.inodes[ino].d_parent
    if slot is not None:
        scratch[slot] = parent


@touches(lambda world, ino: ((), [] if ino is None else _dead_flag(world, ino)))
@given_names_only
def mark_dead(scratch: Scratch, ino: int) -> None:
    """``inode->i_flags |= S_DEAD`` on a removed directory."""
    slot = scratch.world.inodes[ino].dead
    if slot is not None:
        scratch[slot] = True
