"""Addresses of kernel objects, as a partial order explored in every way a
scenario can observe.

The kernel orders locks of one rank by the objects' addresses
(``lock_two_inodes()`` and ``lock_two_nondirectories()`` in fs/inode.c,
Linux 6.6: ``if (inode1 > inode2) swap(inode1, inode2)``).  Addresses are
arbitrary, so a checker that fixes them (inode numbers given out in tree
order make a child sort above its parent) can miss a deadlock another
order shows.  Here the world keeps the order the run has observed so far
(``addresses``: a set of pairs ``(a, b)`` meaning ``a < b``, closed under
transitivity); comparing two objects it does not order yet forks the
exploration, one run per order, and the order stays consistent for the
rest of that run.  Variant ``fixed-addresses`` compares inode numbers
instead (one order, as a checker with fixed addresses would).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from mc.dsl.callers import caller_source
from mc.dsl.operation import Op, as_expr
from mc.dsl.steps import Context, EffectStep, Fire, Regions
from mc.engine.model import Footprint
from mc.kernel.expr import Expr, InodeExpr, State, slot_value
from mc.kernel.world import World

ADDRESSES = "addresses"
FIXED_ADDRESSES = "fixed-addresses"
Order = frozenset[tuple[int, int]]


class AddressOrder:
    """The address-order part of a world: the slot holding the order."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.slot = world.add_slot(ADDRESSES, frozenset(), self.render)

    def render(self, order: Order) -> str:
        """The order as chains people read: ``/x/a < /c < /x``."""
        return render_order(order, self.world.inode_name)

    def statistics(self, states: Sequence[State]) -> dict[str, int]:
        """How many address orders the run explored: the distinct orders
        the explored states hold (nothing when the run kept no states, as
        with fingerprint storage)."""
        if not states:
            return {}
        return {"address_orders": len({state[self.slot] for state in states})}


def address_part(world: World) -> AddressOrder:
    """The address-order part of ``world``, laid out on first use."""
    part = world.parts.get(ADDRESSES)
    if not isinstance(part, AddressOrder):
        part = AddressOrder(world)
        world.parts[ADDRESSES] = part
    return part


def closure(order: Iterable[tuple[int, int]]) -> Order:
    """The transitive closure of ``order``."""
    pairs = set(order)
    changed = True
    while changed:
        changed = False
        for a, b in list(pairs):
            for c, d in list(pairs):
                if b == c and (a, d) not in pairs:
                    pairs.add((a, d))
                    changed = True
    return frozenset(pairs)


def render_order(order: Order, name: Any) -> str:
    """The covering pairs of ``order`` joined into chains."""
    covering = {
        (a, b)
        for a, b in order
        if not any((a, c) in order and (c, b) in order for c in {x for _, x in order})
    }
    chains: list[list[int]] = []
    for a, b in sorted(covering):
        for chain in chains:
            if chain[-1] == a:
                chain.append(b)
                break
        else:
            chains.append([a, b])
    joined = True
    while joined:
        joined = False
        for before, after in itertools.permutations(chains, 2):
            if before[-1] == after[0]:
                before.extend(after[1:])
                chains.remove(after)
                joined = True
                break
    return "; ".join(" < ".join(name(x) for x in chain) for chain in chains) or "none"


@attrs.frozen(kw_only=True)
class AddressCompareStep(EffectStep):
    """``left < right`` by address into register ``result``: decided by the
    order observed so far, else one outcome per order (left first, then
    right first), each recorded in the order."""

    fixed: bool = False

    def footprint(self, regions: Regions) -> Footprint:
        if not regions.addresses:
            return super().footprint(regions)
        reads = regions.addresses
        for arg in self.args:
            reads |= regions.read(arg)
        result = 0 if self.result is None else 1 << self.result
        return Footprint(reads, regions.addresses | regions.control | result)

    def compile(self, context: Context) -> Fire:
        left, right = (a.compile(context.world) for a in self.args)
        slot = address_part(context.world).slot
        result, next_pc, fixed = self.result, context.next_pc, self.fixed
        assert result is not None

        def outcome(state: State, below: bool, order: Order) -> State:
            values = list(state)
            values[result] = below
            values[slot] = order
            return context.advance(values, next_pc)

        def fire(state: State) -> tuple[State, ...]:
            a, b = left(state), right(state)
            order = state[slot]
            if fixed or a == b:
                return (outcome(state, a < b, order),)
            if (a, b) in order:
                return (outcome(state, True, order),)
            if (b, a) in order:
                return (outcome(state, False, order),)
            return (
                outcome(state, True, closure(order | {(a, b)})),
                outcome(state, False, closure(order | {(b, a)})),
            )

        return fire


def address_below(op: Op, name: str, label: str, left: InodeExpr, right: InodeExpr) -> Expr:
    """Register ``name`` = whether ``left``'s address is below ``right``'s
    (``inode1 < inode2``): forks over the orders not fixed yet."""
    address_part(op.world)
    slot = op.register(name, str)
    op.emit(
        AddressCompareStep(
            label=label,
            source=caller_source(),
            effect=lambda _scratch, _values: None,
            args=(as_expr(left), as_expr(right)),
            result=slot,
            fixed=op.variant(FIXED_ADDRESSES),
        )
    )
    return slot_value(slot, name, local=True)
