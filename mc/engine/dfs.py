"""Depth-first search: the newest state first."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import TypeVar

from mc.engine.strategy import Expansion

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")


def depth_first(search: Expansion[S, A]) -> None:
    """Expand the newest state first."""
    store = search.store
    find = store.find
    add = search.add
    max_depth = search.options.max_depth
    clock = time.perf_counter
    edges = search.edges
    stack = [(sid, 0) for sid in reversed(range(search.stored))]
    while stack:
        sid, depth = stack.pop()
        if clock() >= search.next_tick:
            search.tick(depth)
        state = store.take(sid)
        cut = max_depth is not None and depth >= max_depth
        search.keep_reducing()
        chosen = search.moves(state, cut)
        if not chosen:
            search.dead_end(state, sid)
            continue
        if cut:
            search.depth_cut = True
            continue
        search.transitions += len(chosen)
        fresh = []
        for move, _action, nxt in chosen:
            known = find(nxt)
            if known is None:
                if search.stored >= search.capacity:
                    search.dropped = True
                    continue
                search.max_depth = max(search.max_depth, depth + 1)
                known = add(nxt, sid, move)
                fresh.append(known)
            if edges is not None:
                edges.edge(sid, known)
        stack.extend((new, depth + 1) for new in reversed(fresh))
