"""Breadth-first search: shortest traces, fewest context switches among them."""

from __future__ import annotations

import time
from array import array
from collections.abc import Hashable
from typing import TypeVar

from mc.engine.model import Model
from mc.engine.strategy import Expansion

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")


def breadth_first(search: Expansion[S, A]) -> None:
    """Expand the stored states in the order stored: level by level, so
    every state is first reached by a shortest path; among those, the one
    with fewest context switches is kept when the model names actors (the
    switches and last actor of each state are kept for the level being
    expanded and the next one only).  Whether to go on looking for ample
    sets is decided between levels, as the parallel search decides it."""
    store = search.store
    find = store.find
    add = search.add
    moves = search.moves
    max_depth = search.options.max_depth
    capacity = search.capacity
    clock = time.perf_counter
    prefer_fewer_switches = type(search.model).actor is not Model.actor
    switches = array("I", bytes(4 * search.stored))
    last_actor = array("h", [-1] * search.stored)
    next_switches, next_last_actor = array("I"), array("h")
    codes: dict[Hashable, int] = {}
    actor = search.model.actor
    edges = search.edges
    depth = 0
    layer_start = 0
    layer_end = search.stored
    sid = 0
    while sid < search.stored:
        if sid == layer_end:
            depth += 1
            layer_start, layer_end = layer_end, search.stored
            switches, last_actor = next_switches, next_last_actor
            next_switches, next_last_actor = array("I"), array("h")
            reduction = search.reduction if search.keep_reducing() else None
            if reduction is not None:
                reduction.turn()
        if clock() >= search.next_tick:
            search.tick(depth)
        state = store.take(sid)
        cut = max_depth is not None and depth >= max_depth
        chosen = moves(state, cut)
        if not chosen:
            search.dead_end(state, sid)
        elif cut:
            search.depth_cut = True
        else:
            search.transitions += len(chosen)
            targets: list[int] = []
            keep = edges is not None
            if prefer_fewer_switches:
                at = sid - layer_start
                switched, came_by = switches[at], last_actor[at]
            for move, action, nxt in chosen:
                known = find(nxt)
                if known is None and search.stored >= capacity:
                    search.dropped = True
                    continue
                if prefer_fewer_switches:
                    name = actor(action)
                    who = -1 if name is None else codes.setdefault(name, len(codes))
                    cost = switched + (came_by not in (-1, who))
                    if known is None:
                        search.max_depth = depth + 1
                        known = add(nxt, sid, move)
                        next_switches.append(cost)
                        next_last_actor.append(who)
                    elif known >= layer_end and cost < next_switches[known - layer_end]:
                        search.parent[known] = sid
                        search.move[known] = move
                        next_switches[known - layer_end] = cost
                        next_last_actor[known - layer_end] = who
                elif known is None:
                    search.max_depth = depth + 1
                    known = add(nxt, sid, move)
                if keep:
                    targets.append(known)
            if edges is not None:
                edges.leaving(sid, targets)
        sid += 1
