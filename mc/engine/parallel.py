"""Breadth-first search over several worker processes.

Each worker owns the states whose fingerprint falls in its partition
(fingerprint modulo the number of workers), or whose fingerprint of the
part the model names (``Model.affinity``: a kernel model's program
counters, so one worker works out the ample-set candidates of each
combination of them): it stores them and numbers them.  The search goes
level by level, three round trips of the coordinator a level:

1. ``round``: every worker admits its share of the level (stores it and
   checks the invariants on it), expands it and routes each successor to
   the worker that owns it.  A successor the expanding worker owns and
   already stores is not sent; one it owns but does not store stays in
   its memory unpickled.  A stop the coordinator then decides (a
   violation, a bound) only discards the expansion.
2. ``plan``: every owner orders the successors routed to it as its share
   of the next level, in the order of the senders (so the run is
   deterministic), each it did not know once, with the parent giving it
   the fewest context switches.  Over fingerprints, on workers forked
   from one process (which hash alike), successors are announced by
   fingerprint, with their parents, and the owner asks the senders for
   the states it neither stores nor found itself in the same level (on
   bench/scale's dirops-7 without reduction, 2,431 of 402,138 announced;
   sent in full, pickling them cost the two workers a tenth more CPU than
   one process).  Over full states and on Ray they travel in full.
3. ``give``: the senders give the states asked for, and a worker whose
   share of the level is the larger lends states of it to another, which
   checks and expands them in the next round (``balance``): the shares of
   a partition by program counters are uneven (on bench/scale's
   writeback-3, three states to five), and every level waits for the
   slowest worker.

Levels are those of the sequential search, so the verdict, the number of
states of an exhaustive search and the length of a shortest
counterexample are the same, and each state keeps, of its parents in the
level before, one that gives it the fewest context switches, as in the
sequential search; a state is numbered ``local * workers + worker``, and a
trace is rebuilt from the workers' parent links by re-executing the moves,
as in the sequential search.  The CPU time the workers' processes used is
reported (``worker_cpu_ms``): Ray actors are not children of the command,
so no other measure counts it.

Workers are forked from the process that built the model, so they share it
(properties are closures, which need not be pickled); what they send each
other travels pickled through the coordinator.  Partial-order reduction
applies as in the sequential search: the ample set of a state depends on
the state alone (``mc.engine.ample``), so the workers explore the reduced
graph the sequential search explores, and whether to go on looking for
ample sets is decided between levels from the workers' counts, as the
sequential breadth-first search decides it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any, Generic, Protocol, TypeVar

import attrs

from mc.engine.ample import AmpleSets, enabled_indices
from mc.engine.collector import Collector
from mc.engine.ctrl_c import RaisedByModel, one_interrupt_per_press, telling_models_apart
from mc.engine.endings import Edges, cannot_end_violation, keeps_edges
from mc.engine.explore import (
    INTERRUPTED,
    PROGRESS_AFTER_SECONDS,
    PROGRESS_INTERVAL_SECONDS,
    STEP_GRACE_SECONDS,
    MemoryBound,
    MemoryLimitTooLow,
    Options,
    StepOverran,
    at_dead_end,
    default_memory_limit,
    endings_bounds,
    memory_reached,
    overran_reason,
    probe_determinism,
    replay_moves,
    resident_bytes,
    steps_cut_at,
)
from mc.engine.invariants import Invariants
from mc.engine.model import Model, PropertyKind
from mc.engine.reduction import Reduction
from mc.engine.result import Result, Stats, Strategy, Verdict, Violation
from mc.engine.store import (
    INITIAL_CAPACITY,
    ExactStore,
    FingerprintStore,
    NumberedFingerprints,
    Store,
    array_bytes,
    fingerprint,
    omission_probability,
)

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")

Lent = tuple[S, int, int, Hashable | None]
"""A state of the level lent to another worker to expand: the state, its
number, the context switches of the path to it and the actor of its last
step."""

Found = tuple[str, str, int]
"""A violation a worker found: property, message, state number."""

Sent = tuple[S | None, int, int, int | None, int, Hashable | None]
"""A successor on its way to its owner: the state (None while only
announced), its parent's number, the move from the parent, its fingerprint
when the sender's is the owner's, the context switches of the path to it
and the actor of its last step."""


PSS_REFRESH_SECONDS = 1.0
"""How often a process measures its proportional set size: reading
``/proc/self/smaps_rollup`` walks its page tables (0.3 ms for a process of
60 MB, once a level in every worker and in the coordinator, between the
levels the workers wait for)."""
_measured: tuple[int, float, int, int] | None = None
"""This process's last measure: its pid (a forked worker measures its
own), when, its proportional and its resident bytes then."""


def proportional_bytes() -> int:
    """This process's share of the memory it holds (the proportional set
    size: a page it shares with the coordinator or another worker, as
    forked workers share the model, counts in part in each), so that the
    shares of every process of a search add up to what they hold
    together; the resident bytes where the system does not say.  Measured
    every ``PSS_REFRESH_SECONDS``; in between, the last measure and what
    the resident bytes grew by since (pages taken since are this
    process's own)."""
    global _measured
    now, resident, pid = time.monotonic(), resident_bytes(), os.getpid()
    if _measured is not None and _measured[0] == pid and now - _measured[1] < PSS_REFRESH_SECONDS:
        return max(0, _measured[2] + resident - _measured[3])
    share = resident
    try:
        with open("/proc/self/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    share = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    _measured = (pid, now, share, resident)
    return share


class WorkerDied(RuntimeError):
    """A worker ended without being told to (killed, say by the kernel's
    out-of-memory killer): the states it owned are lost, and the search
    ends INCOMPLETE with the figures of the levels done."""


class _Worker(Generic[S, A]):
    """One partition of the search, in its own process."""

    def __init__(
        self,
        model: Model[S, A],
        index: int,
        workers: int,
        exact: bool,
        partition: Callable[[Hashable], int] = fingerprint,
    ) -> None:
        self.model = model
        self.hashed_alike = partition is fingerprint
        """Whether the workers partition by the store's ``fingerprint``,
        hence were forked from one process and hash alike: a successor
        then travels with its fingerprint, which its owner does not
        compute again."""
        self.owner = owner_of(model, partition, workers)
        self.index = index
        self.workers = workers
        self.edges: Edges | None = Edges(typecode="q") if keeps_edges(model) else None
        """The edges from the states this worker expanded whose targets it
        knew (by number), and its dead ends (``mc.engine.endings``)."""
        self.by_key = self.hashed_alike and not exact
        """Whether ``unresolved`` holds fingerprints (which only workers
        that hash alike share)."""
        self.stable_numbers: NumberedFingerprints | None = (
            NumberedFingerprints(INITIAL_CAPACITY)
            if self.edges is not None and not self.hashed_alike and not exact
            else None
        )
        """The number of each state this worker stored by its
        ``stable_fingerprint``, when ``unresolved`` holds those: workers
        that do not hash alike (Ray actors) and store fingerprints, which
        would otherwise keep every such edge's target in full until the
        search is done."""
        self.unresolved: list[tuple[array[int], Any]] = [
            (array("q"), array("Q") if self.by_key or self.stable_numbers else [])
            for _ in range(workers)
        ]
        """For each owner, the edges to successors it owns that this worker
        could not number: their sources, and the states they lead to (their
        fingerprints, when ``by_key``; their ``stable_fingerprint``, with
        ``stable_numbers``), which the owner numbers once the search is
        done (``number``)."""
        self.store: Store[S] = (
            ExactStore()
            if exact
            else FingerprintStore(in_order=False, numbered=self.edges is not None)
        )
        model.stored_by_fingerprint(not self.store.exact)
        self.stored = 0
        self.parent = array("q")
        self.move = array("i")
        self.level: list[int] = []
        self.switches: dict[int, tuple[int, Hashable | None]] = {}
        """For each state of the level: the fewest context switches of a
        shortest path to it, and the actor of that path's last step."""
        self.kept: list[Sent[S]] = []
        self.announces = self.hashed_alike and not exact
        """Whether successors for another worker are announced by
        fingerprint, and only those their owner does not know are sent in
        full (``plan``, ``give``, ``fill``)."""
        self.offered: list[dict[Hashable, Sent[S]]] = []
        """The successors announced to each worker, by fingerprint, until
        their owners asked for the ones they lacked."""
        self.planned: list[list[Any]] | None = None
        """The next level as ``plan`` ordered it: a mutable ``Sent`` per
        successor the worker did not know, the state None until given."""
        self.wanted: list[list[int]] = []
        """The fingerprints asked of each worker by the last ``plan``."""
        self.borrowed: list[Lent[S]] = []
        """States of other workers' shares of the level that this worker
        expands for them (``give``)."""
        self.collector = Collector()
        """Collects cyclic garbage between levels (see ``round``)."""
        self.transitions_per_state = 1.0
        """Of the states of its own share this worker expanded last (not
        those it borrowed): what ``balance`` weighs a state of its share
        by."""
        self.halted_states: list[S] = []
        """The states this worker stored where the model halts."""
        self.baseline = resident_bytes()
        properties = list(model.properties())
        self.invariants = [
            p for p in properties if p.kind is PropertyKind.ALWAYS and not p.terminal
        ]
        self.checked = Invariants(model, self.invariants)
        self.deadlock_checks = [p for p in properties if p.failed_at_dead_ends]
        self.goals = [p for p in properties if p.kind is PropertyKind.SOMETIMES]
        self.ample_sets: AmpleSets[S, A] | None = None
        """The moves explored from each state, made at the first round
        (which says whether to reduce)."""

    def gid(self, sid: int) -> int:
        return sid * self.workers + self.index

    def plan(self, batches: list[bytes | None]) -> tuple[list[list[int]], int, int, float]:
        """Order the successors sent or announced to this worker (None in
        ``batches`` stands for those it kept from its own expansion) as
        the next level: in the order of the senders, each it did not know
        once, with the parent giving it the fewest context switches.  The
        fingerprints of those only announced and not found by this worker
        itself, asked of each sender; how many states its share of the
        level has, how many of them it holds, which it may lend (``give``),
        and what expanding one of them is expected to take
        (``transitions_per_state``)."""
        planned: list[list[Any]] = []
        by_key: dict[Hashable, list[Any]] = {}
        wanted: list[list[int]] = [[] for _ in range(self.workers)]
        exact = self.store.exact
        find = self.store.find
        find_announced = (
            self.store.find_fingerprint if isinstance(self.store, FingerprintStore) else None
        )
        own = {sent[3]: sent[0] for sent in self.kept} if self.announces else {}
        for sender, blob in enumerate(batches):
            for sent in self.kept if blob is None else pickle.loads(blob):
                state, parent, move, key, cost, actor = sent
                if key is None:
                    key = fingerprint(state)
                elif state is None:
                    state = own.get(key)
                entry = by_key.get(state if exact else key)
                if entry is not None:
                    if cost < entry[4]:
                        entry[1], entry[2], entry[4], entry[5] = parent, move, cost, actor
                    continue
                if state is None:
                    assert find_announced is not None, "announced to a worker with full states"
                    known = find_announced(key)
                else:
                    known = find(state, key)
                if known is not None:
                    continue
                entry = [state, parent, move, key, cost, actor, False]
                by_key[state if exact else key] = entry
                planned.append(entry)
                if state is None:
                    wanted[sender].append(key)
        self.kept = []
        self.planned = planned
        self.wanted = wanted
        held = len(planned) - sum(len(keys) for keys in wanted)
        return wanted, len(planned), held, self.transitions_per_state

    def give(
        self, asked: list[list[int]], lend: list[int]
    ) -> tuple[list[bytes | None], list[bytes | None]]:
        """The successors each worker asked for (by fingerprint) of those
        this worker announced to it, pickled in the order asked; and for
        each worker, the states of this worker's planned share of the
        level it lends it to expand (``lend``: how many, taken from the
        end of the share among the states this worker holds), with the
        numbers they will have (``Lent``)."""
        given: list[bytes | None] = [
            pickle.dumps([box[key][0] for key in keys], pickle.HIGHEST_PROTOCOL) if keys else None
            for box, keys in zip(self.offered or [{}] * self.workers, asked, strict=True)
        ]
        self.offered = []
        planned = self.planned or []
        held = [at for at in range(len(planned)) if planned[at][0] is not None]
        lent: list[bytes | None] = []
        for count in lend:
            chosen, held = held[len(held) - count :], held[: len(held) - count]
            for at in chosen:
                planned[at][6] = True
            lent.append(
                pickle.dumps(
                    [
                        (planned[at][0], self.gid(self.stored + at), *planned[at][4:6])
                        for at in chosen
                    ],
                    pickle.HIGHEST_PROTOCOL,
                )
                if chosen
                else None
            )
        return given, lent

    def fill(self, given: list[bytes | None], borrowed: list[bytes | None]) -> None:
        """Put the states the senders gave into the planned level, and take
        the states the other workers lent this one to expand."""
        planned = {entry[3]: entry for entry in self.planned or () if entry[0] is None}
        for keys, blob in zip(self.wanted, given, strict=True):
            if blob is not None:
                for key, state in zip(keys, pickle.loads(blob), strict=True):
                    planned[key][0] = state
        self.wanted = []
        self.borrowed = [
            lent for blob in borrowed if blob is not None for lent in pickle.loads(blob)
        ]

    def admit(self) -> tuple[int, Found | None, list[str], int]:
        """Store the planned level: its share of the next level, but for the
        states lent to other workers (``give``), which they check, as this
        worker checks those it borrowed.  With it, a violation among the
        states checked, the goals not reached yet and the bytes the worker
        holds."""
        found: Found | None = None
        fresh: list[int] = []
        switches: dict[int, tuple[int, Hashable | None]] = {}
        for state, parent, move, key, cost, actor, lent in self.planned or ():
            sid = self.stored
            self.store.add(state, sid, key)
            if self.stable_numbers is not None:
                self.stable_numbers.put(stable_fingerprint(state), sid)
            self.stored += 1
            self.parent.append(parent)
            self.move.append(move)
            if lent:
                self.store.take(sid)
                continue
            fresh.append(sid)
            switches[sid] = (cost, actor)
            found = self._check(state, self.gid(sid), found)
        for state, gid, _cost, _actor in self.borrowed:
            found = self._check(state, gid, found)
        admitted = len(self.planned or ())
        self.level = fresh
        self.switches = switches
        self.planned = None
        return admitted, found, [goal.name for goal in self.goals], proportional_bytes()

    def _check(self, state: S, gid: int, found: Found | None) -> Found | None:
        """Check the invariants and goals on a state of the level (of this
        worker's share, or borrowed): the violation ``found`` so far, or
        the first one in this state."""
        if self.model.halted(state):
            self.halted_states.append(state)
        if found is None:
            failed = self.checked.violated(state)
            if failed is not None:
                found = (*failed, gid)
        if self.goals:
            self.goals = [g for g in self.goals if g.terminal or g.check(state) is None]
        return found

    def expand(
        self, cut: bool, deadline: float | None = None
    ) -> tuple[list[bytes | None], int, Found | None, bool, tuple[int, int], list[str]] | None:
        """Expand this worker's share of the current level (or only look
        for dead ends when ``cut`` by the depth bound): the successors by
        owner, pickled, except its own, which it keeps unpickled (None in
        their place); the transitions taken, a deadlock found, whether
        the depth bound cut anything, how many states so far it looked
        for an ample set of and explored one of, and the goals not reached
        yet (a goal evaluated at dead ends may be reached here).  None once
        ``deadline`` (``time.monotonic``) passes: the search ends at the
        time limit."""
        outgoing: list[dict[Hashable, Sent[S]]] = [{} for _ in range(self.workers)]
        exact = self.store.exact
        transitions = 0
        found: Found | None = None
        depth_cut = False
        find = self.store.find
        actor_of = self.model.actor
        edges = self.edges
        assert self.ample_sets is not None
        moves = self.ample_sets.moves
        count = 0
        owned = len(self.level)
        owned_transitions = 0
        for state, parent, switched, last in self._to_expand():
            if deadline is not None and not count % DEADLINE_EVERY and time.monotonic() >= deadline:
                return None
            count += 1
            enabled = moves(state, cut)
            if not enabled:
                if edges is not None:
                    edges.dead_end(parent)
                failed, self.goals = at_dead_end(
                    self.model, state, self.deadlock_checks, self.goals
                )
                if failed is not None and found is None:
                    found = (*failed, parent)
                continue
            if cut:
                depth_cut = True
                continue
            transitions += len(enabled)
            if count <= owned:
                owned_transitions += len(enabled)
            for move, action, nxt in enabled:
                key = fingerprint(nxt)
                owner = self.owner(nxt, key)
                if owner == self.index:
                    known = find(nxt, key)
                    if known is not None:
                        if edges is not None:
                            edges.edge(parent, self.gid(known))
                        continue
                box = outgoing[owner]
                actor = actor_of(action)
                cost = switched + (last is not None and last != actor)
                slot = nxt if exact else key
                if edges is not None:
                    sources, targets = self.unresolved[owner]
                    sources.append(parent)
                    if self.by_key:
                        targets.append(key)
                    elif self.stable_numbers is not None:
                        targets.append(stable_fingerprint(nxt))
                    else:
                        targets.append(nxt)
                sent = box.get(slot)
                if sent is None or cost < sent[4]:
                    box[slot] = (nxt, parent, move, key if self.hashed_alike else None, cost, actor)
        self.kept = list(outgoing[self.index].values())
        if self.announces:
            self.offered = outgoing
        blobs: list[bytes | None] = [
            None
            if owner == self.index
            else pickle.dumps(
                [(None, *sent[1:]) for sent in box.values()]
                if self.announces
                else list(box.values()),
                pickle.HIGHEST_PROTOCOL,
            )
            for owner, box in enumerate(outgoing)
        ]
        reduction = (self.ample_sets.tried, self.ample_sets.reduced)
        if owned:
            self.transitions_per_state = max(owned_transitions, 1) / min(count, owned)
        return blobs, transitions, found, depth_cut, reduction, [goal.name for goal in self.goals]

    def number(self, targets: Sequence[Hashable]) -> list[int]:
        """The numbers (``gid``) of the states this worker owns that
        ``targets`` are (their fingerprints, when ``by_key``)."""
        store = self.store
        if isinstance(store, FingerprintStore) and self.by_key:
            found = [store.find_fingerprint(key) for key in targets]  # type: ignore[arg-type]
        elif self.stable_numbers is not None:
            found = [self.stable_numbers.get(key) for key in targets]  # type: ignore[arg-type]
        else:
            found = [store.find(state) for state in targets]  # type: ignore[arg-type]
        numbers = []
        for sid in found:
            if sid is None:
                raise ValueError("a successor sent to its owner is not stored there")
            numbers.append(self.gid(sid))
        return numbers

    def _to_expand(self) -> Iterator[Lent[S]]:
        """This worker's share of the level, then the states it borrowed."""
        switches = self.switches
        for sid in self.level:
            yield (self.store.take(sid), self.gid(sid), *switches[sid])
        yield from self.borrowed
        self.borrowed = []

    def round(
        self,
        batches: list[bytes | None],
        borrowed: list[bytes | None],
        cut: bool,
        budget: int | None,
        reduce: bool,
        seconds_left: float | None = None,
    ) -> tuple[tuple[int, Found | None, list[str], int], Any]:
        """Admit the successors sent to this worker (``batches``: in full,
        as ``plan`` takes them, or, once a ``plan`` ordered them, the
        states the senders gave, as ``fill`` takes them, with the states
        other workers lent it, ``borrowed``), then expand them, unless
        they hold a violation; past the state ``budget`` alone, only
        look for dead ends among them (the search stops after this level
        then, having checked every state it stored, as a sequential
        search expands the states it holds once it is full; a level the
        others also admitted less than ``budget`` of would not go past
        it; a search whose states reach the bound exactly goes on, and
        ends incomplete only where the next level holds a state).  The
        worker collects cyclic garbage here, between levels
        (``mc.engine.collector``), instead of as it allocates: the
        collector's passes over the level's states it holds cost a worker
        a third more CPU, and a collection every level cost two workers
        4.2 s of CPU on bench/scale's dirops-8, 7% of the search, finding
        nothing.  Setting aside what survived a collection matters most
        to a worker with full states: two workers over the full states of
        bench/scale's dirops-7 took 14.4 s of CPU with a full collection
        every level, 8.7 s with this.  The worker's growth is counted
        from its first level.  ``reduce``: look for ample sets (``AmpleSets``); once
        it is False, the worker stops looking for good, as a sequential
        search does between two levels.  ``seconds_left``: of the time
        limit, as the request was sent; the expansion is dropped (None)
        once they have passed."""
        deadline = None if seconds_left is None else time.monotonic() + seconds_left
        if self.collector.pause():
            self.baseline = resident_bytes()
        self.collector.round_ended()
        if self.planned is None:
            self.plan(batches)
        else:
            self.fill(batches, borrowed)
        admitted = self.admit()
        if self.ample_sets is None:
            properties = self.model.properties()
            self.ample_sets = AmpleSets(
                self.model, Reduction(self.model, properties) if reduce else None
            )
        elif not reduce and self.ample_sets.reducing:
            self.ample_sets.stop(self.stored)
        if self.ample_sets.reduction is not None:
            self.ample_sets.reduction.turn()
        new, found, _goals, _held = admitted
        if found is not None:
            return admitted, None
        over = budget is not None and new > budget
        return admitted, self.expand(cut or over, deadline)

    def handle(self, request: tuple[Any, ...]) -> Any:
        """Answer one request of the coordinator."""
        if request[0] == "round":
            return self.round(*request[1:])
        if request[0] == "plan":
            return self.plan(request[1])
        if request[0] == "give":
            return self.give(request[1], request[2])
        if request[0] == "memory":
            stored = self.store.memory_bytes()
            if stored is not None:
                stored += array_bytes(self.parent, self.move)
                if self.edges is not None:
                    stored += self.edges.memory_bytes()
                    if self.stable_numbers is not None:
                        stored += self.stable_numbers.memory_bytes()
                    for sources, targets in self.unresolved:
                        listed = 8 * len(targets) if isinstance(targets, list) else 0
                        stored += array_bytes(sources) + listed
                        stored += 0 if listed else array_bytes(targets)
            figures = self.model.statistics(self.store.kept())
            return (
                resident_bytes() - self.baseline,
                proportional_bytes(),
                time.process_time(),
                stored,
                figures,
                self.halted_states,
                self.checked.unvaried(),
                self.checked.varied(),
            )
        if request[0] == "edges":
            return self.edges, self.unresolved
        if request[0] == "number":
            return self.number(request[1])
        if request[0] == "links":
            chosen = self.ample_sets
            lazy_before = None if chosen is None else chosen.lazy_before
            if chosen is not None and chosen.lazy:
                lazy_before = self.stored
            return (self.parent.tobytes(), self.move.tobytes(), lazy_before)
        raise ValueError(f"unknown request {request[0]!r}")


def _unvaried(replies: Sequence[Any]) -> set[str]:
    """The invariants that read one part of every state (``Invariants.unvaried``)
    of every worker: none of them saw two, and they all saw the same."""
    varied = {name for reply in replies for name in reply[7]}
    parts: dict[str, set[Hashable]] = {}
    for reply in replies:
        for name, part in reply[6].items():
            parts.setdefault(name, set()).add(part)
    return {name for name, seen in parts.items() if name not in varied and len(seen) == 1}


def owner_of(
    model: Model[Any, Any], partition: Callable[[Hashable], int], workers: int
) -> Callable[[Any, int], int]:
    """Which worker owns a state, given the state and its ``fingerprint``:
    by ``partition`` of the model's ``affinity`` of it, or of the whole
    state (the fingerprint itself when ``partition`` is ``fingerprint``, and
    of the affinity Python's hash, which ``fingerprint`` refines only to
    tell -1 from -2 apart, of no matter to where a state goes)."""
    place = model.affinity()
    if place is not None:
        if partition is fingerprint:
            return lambda state, key: hash(place(state)) % workers
        return lambda state, key: partition(place(state)) % workers
    if partition is fingerprint:
        return lambda state, key: key % workers
    return lambda state, key: partition(state) % workers


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """SIGINT held back while the coordinator sends requests or takes an
    answer and notes it (a Ctrl-C in between would leave an answer in a
    pipe that the next request would take for its own); it is delivered
    when the block ends.  Waiting for an answer stays interruptible."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def stable_fingerprint(state: Hashable) -> int:
    """A fingerprint every process computes alike (Python's hash of None
    and of strings differs between processes that were not forked): the
    first 8 bytes of BLAKE2b over the pickled state, pickled without the
    memo of objects seen (``Pickler.fast``), so that a state holding one
    object twice and an equal state holding two equal objects pickle
    alike."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, 4)
    pickler.fast = True
    pickler.dump(state)
    digest = hashlib.blake2b(buffer.getvalue(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


BALANCE_AT_LEAST = 64
"""The fewest states one worker lends another: fewer are not worth a
round of pickling."""


OWNING = 0.1
"""What a worker spends on each state of its share besides expanding it,
in transitions expanded: storing it, which stays with the owner of a
state it lends (the borrower checks the state).  Fitted over the rounds of
bench/scale's dirops-9 on two workers, a round took 29 us a transition and
under 2 us more a state.  Weighing a state by 1.0 lent too much: the
rounds of a run waited 0.36-0.49 s in all for the slower worker, against
0.13-0.20 s with 0.1."""


def balance(
    shares: Sequence[int], held: Sequence[int], weights: Sequence[float]
) -> list[list[int]]:
    """How many states of its share of a level each worker lends each
    other so that they have alike work: worker ``i``'s share is
    ``shares[i]`` states, each expected to take ``OWNING`` and
    ``weights[i]`` (the transitions per state of its share of the level
    before) to expand, which the worker that borrows it takes on; it may
    lend of the ``held[i]`` states of it it holds (not those it asked
    other workers for).  A function of the counts, so a run's lending,
    and with it its state numbers, are the same every time."""
    workers = len(shares)
    held = list(held)
    work = [count * (OWNING + weight) for count, weight in zip(shares, weights, strict=True)]
    even = sum(work) / workers
    lend = [[0] * workers for _ in range(workers)]
    takers = [j for j in range(workers) if work[j] < even]
    for giver in sorted(range(workers), key=lambda i: -work[i]):
        for taker in takers:
            surplus, room = work[giver] - even, even - work[taker]
            count = min(int(min(surplus, room) / weights[giver]), held[giver])
            if count < BALANCE_AT_LEAST:
                continue
            lend[giver][taker] = count
            held[giver] -= count
            work[giver] -= count * weights[giver]
            work[taker] += count * weights[giver]
    return lend


class Pool(Protocol):
    """The workers of one search: ``ask`` sends each its request and
    returns the answers in worker order."""

    hashes_alike: bool
    """Whether the workers hash as this process does (forked from it), so
    that a fingerprint names one state to all of them."""

    def partition(self, state: Hashable) -> int:
        """The fingerprint the workers partition states by."""
        ...

    def ask(self, requests: Sequence[tuple[Any, ...]], patience: float | None = None) -> list[Any]:
        """The answers, waited for at most ``patience`` seconds: a worker
        that has not answered by then is killed and counts as one that
        died (``WorkerDied``)."""
        ...

    def settle(self, patience: float | None = None) -> None:
        """Wait for the answers to a request ``ask`` was interrupted
        waiting for (and drop them), so that the workers take requests
        again; a worker silent for ``patience`` seconds (stuck in a step)
        is killed, its states lost."""
        ...

    def close(self) -> None: ...


@attrs.frozen
class WorkerFailed:
    """A worker's request ended in ``error`` (as ``Explain`` made it, so
    that it travels and says where it was raised); the coordinator raises
    it."""

    error: BaseException


Explain = Callable[[Exception], BaseException]
"""What a worker sends of an exception its model raised: an exception that
pickles and keeps what the traceback said (the model line it came from);
the traceback itself stays in the worker."""


def answer(worker: _Worker[Any, Any], request: tuple[Any, ...], explain: Explain) -> Any:
    """The worker's answer to ``request``, or ``WorkerFailed`` with the
    error it raised (a ``KeyboardInterrupt`` the model's own: a worker
    ignores SIGINT, ``_serve``)."""
    try:
        return worker.handle(request)
    except Exception as error:
        return failure(error, explain)
    except KeyboardInterrupt as error:
        raised = RaisedByModel("KeyboardInterrupt raised by the model")
        return failure(raised.with_traceback(error.__traceback__), explain)


def failure(error: Exception, explain: Explain) -> WorkerFailed:
    """``error`` as a worker's answer: ``explain``ed, and plain text when
    that cannot be sent back."""
    explained = explain(error)
    try:
        pickle.dumps(explained)
    except Exception:
        explained = RuntimeError(f"{type(error).__name__}: {error}")
    return WorkerFailed(explained)


def raise_failed(replies: list[Any], died: set[int], obituary: Callable[[int], str]) -> list[Any]:
    """``replies``, unless a worker ``died`` while they were awaited: then
    ``WorkerDied`` with the ``obituary`` of the first; or unless one is
    ``WorkerFailed``: then its error."""
    if died:
        raise WorkerDied(obituary(min(died)))
    for reply in replies:
        if isinstance(reply, WorkerFailed):
            raise reply.error
    return replies


def silent_obituary(index: int, workers: int) -> str:
    """Why a search ended whose worker ``index`` did not answer in time."""
    return (
        f"worker {index + 1} of {workers} did not answer within "
        f"{ANSWER_GRACE_SECONDS:g} s of the time limit and was killed; its states are lost"
    )


def _as_it_is(error: Exception) -> BaseException:
    return error


PR_SET_PDEATHSIG = 1
"""prctl(2)'s option: the signal the process gets when its parent ends."""


def _die_with(parent: int) -> None:
    """Have the kernel end this process when the process that forked it
    ends, however it ends (``PR_SET_PDEATHSIG``; Linux only): a worker
    whose coordinator was killed would otherwise wait for it for ever,
    holding its share of the states."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _serve(
    worker: _Worker[Any, Any],
    conn: Connection,
    explain: Explain,
    parent: int,
    inherited: Sequence[Connection] = (),
) -> None:
    """Answer the coordinator until it says stop.  Ctrl-C is the
    coordinator's to handle (the terminal sends it to every process of the
    command): the worker goes on until told to stop, or is ended; it ends
    with the coordinator.  The coordinator's ends of the pipes of the
    workers forked before this one (``inherited``) are closed here, so
    that a worker's pipe breaks when the coordinator is gone."""
    _die_with(parent)
    for other in inherited:
        other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(EOFError):
        while True:
            request = conn.recv()
            if request[0] == "stop":
                conn.close()
                return
            conn.send(answer(worker, request, explain))


STOP_SECONDS = 5.0
"""How long the workers of a search that ended are given to stop."""

DEADLINE_EVERY = 32
"""How many states a worker expands between two looks at the clock."""

ANSWER_GRACE_SECONDS = STEP_GRACE_SECONDS
"""How long after the time limit the workers are waited for: one still
silent then (stopped, say, or stuck in a step) is killed, and the search
ends without its states."""


class ForkPool:
    """Workers forked from this process, each behind a pipe; they share the
    model this process built.  ``partition``: what the workers partition
    states by; by default the store's ``fingerprint``, which forked
    processes compute alike (``stable_fingerprint`` has them work as
    processes that do not, Ray actors, do)."""

    def __init__(
        self,
        model: Model[Any, Any],
        workers: int,
        exact: bool,
        explain: Explain = _as_it_is,
        partition: Callable[[Hashable], int] = fingerprint,
    ) -> None:
        self.hashes_alike = partition is fingerprint
        self._partition = partition
        context = multiprocessing.get_context("fork")
        self.conns: list[Connection] = []
        self.awaited: list[int] = []
        """The workers whose answer to the last request is still to come."""
        self.processes: list[Any] = []
        self.dead: set[int] = set()
        """The workers that ended without being told to."""
        self.silent: set[int] = set()
        """The workers killed for not answering in time."""
        for index in range(workers):
            ours, theirs = context.Pipe()
            worker = _Worker(model, index, workers, exact, partition)
            arguments = (worker, theirs, explain, os.getpid(), list(self.conns))
            process = context.Process(target=_serve, args=arguments, daemon=True)
            process.start()
            theirs.close()
            self.conns.append(ours)
            self.processes.append(process)

    def partition(self, state: Hashable) -> int:
        return self._partition(state)

    def ask(self, requests: Sequence[tuple[Any, ...]], patience: float | None = None) -> list[Any]:
        """The workers' answers; ``WorkerDied`` when one ended (the others'
        answers are received first), or did not answer within ``patience``
        seconds (it is killed); a worker that ended before answers None."""
        died: set[int] = set()
        self.awaited = []
        with _ctrl_c_held():
            for index, (conn, request) in enumerate(zip(self.conns, requests, strict=True)):
                if index in self.dead:
                    continue
                try:
                    conn.send(request)
                except OSError:
                    died.add(index)
                    continue
                self.awaited.append(index)
        replies: list[Any] = [None] * len(self.conns)
        give_up = None if patience is None else time.monotonic() + patience
        while self.awaited:
            index = self.awaited[0]
            conn = self.conns[index]
            wait = None if give_up is None else max(0.0, give_up - time.monotonic())
            if not conn.poll(wait):
                self.processes[index].kill()
                self.silent.add(index)
                died.add(index)
                self.awaited.pop(0)
                continue
            with _ctrl_c_held():
                try:
                    replies[index] = conn.recv()
                except (EOFError, OSError):
                    died.add(index)
                self.awaited.pop(0)
        self.dead |= died
        return raise_failed(replies, died, self._obituary)

    def _obituary(self, index: int) -> str:
        if index in self.silent:
            return silent_obituary(index, len(self.processes))
        process = self.processes[index]
        process.join(timeout=1)
        code = process.exitcode
        if code is not None and code < 0:
            how = f"was killed ({signal.Signals(-code).name}"
            how += ": out of memory?)" if code == -signal.SIGKILL else ")"
        else:
            how = "ended" if code is None else f"exited with status {code}"
        return f"worker {index + 1} of {len(self.processes)} {how}; its states are lost"

    def settle(self, patience: float | None = None) -> None:
        give_up = None if patience is None else time.monotonic() + patience
        while self.awaited:
            index = self.awaited.pop(0)
            wait = None if give_up is None else max(0.0, give_up - time.monotonic())
            if not self.conns[index].poll(wait):
                self.processes[index].kill()
                self.silent.add(index)
                self.dead.add(index)
                continue
            with contextlib.suppress(EOFError, OSError):
                self.conns[index].recv()

    def close(self) -> None:
        """End the workers: those waiting for a request are told to stop;
        those still working on one (the search ended abnormally: a second
        Ctrl-C, SIGTERM, an error) are killed at once, as are those that do
        not stop within ``STOP_SECONDS`` (a stopped process, say, which
        neither reads nor takes SIGTERM)."""
        for index, conn in enumerate(self.conns):
            if index in self.awaited:
                self.processes[index].kill()
                continue
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("stop",))
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


class ParallelSearch(Generic[S, A]):
    """A breadth-first search of ``model`` over ``workers`` processes."""

    def __init__(
        self, model: Model[S, A], options: Options, workers: int, explain: Explain = _as_it_is
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if options.strategy is not Strategy.BFS:
            raise ValueError("the parallel search is breadth-first")
        self.model = model
        self.options = options
        self.workers = workers
        self.explain = explain
        """What the forked workers send of an error their model raises."""
        self.started = 0.0
        self.counts = (0, 0, 0)
        """The states, transitions and depth of the levels done so far."""
        self.peak = 0
        """The most memory the coordinator and the workers held together
        as a level ended (``proportional_bytes``): what ``--max-memory``
        is compared with, and the peak reported."""
        self.last_progress = 0.0
        self.overran = False
        """Whether a step of the determinism probe still ran
        ``STEP_GRACE_SECONDS`` past the time limit."""
        self.halted_states: list[S] = []
        """The stored states where the model halts (see ``Model.halted``),
        every worker's, once the search is done."""

    def run(self, pool: Pool | None = None) -> Result[S, A]:
        """Search until a violation, exhaustion or a bound, on ``pool``
        (by default workers forked from this process); the pool is closed.
        Ctrl-C ends it after the level being expanded (the workers ignore
        it; a second one ends the command), with the statistics of the
        levels done."""
        started = time.perf_counter()
        limit = self.options.time_limit
        deadline = None if limit is None else started + limit
        try:
            with steps_cut_at(deadline), telling_models_apart(self.options.interruptible):
                probe_determinism(self.model, deadline=deadline)
        except StepOverran:
            self.overran = True
        except BaseException:
            if pool is not None:
                pool.close()
            raise
        chosen: Pool = pool or ForkPool(self.model, self.workers, self.options.exact, self.explain)
        with one_interrupt_per_press(self.options.interruptible):
            try:
                return self._search(chosen, started)
            finally:
                chosen.close()

    def _ask(self, pool: Pool, request: tuple[Any, ...]) -> list[Any]:
        return pool.ask([request] * self.workers)

    def _search(self, pool: Pool, started: float) -> Result[S, A]:
        model, options, workers = self.model, self.options, self.workers
        names = [p.name for p in model.properties()]
        goals = [p for p in model.properties() if p.kind is PropertyKind.SOMETIMES]
        inits: list[list[Sent[S]]] = [[] for _ in range(workers)]
        owner = owner_of(model, pool.partition, workers)
        for position, state in enumerate(model.init_states()):
            inits[owner(state, fingerprint(state))].append((state, -1, position, None, 0, None))
        batches: list[list[bytes | None]] = [[pickle.dumps(share)] for share in inits]
        unreached = {goal.name for goal in goals}
        self.started = started
        reduction: AmpleSets[S, A] = AmpleSets(
            model, Reduction(model, model.properties()) if options.reduce else None
        )
        """What the workers' reductions did, summed (their ``AmpleSets``)."""
        memory_limit = options.max_memory or default_memory_limit()
        try:
            reason, found, depth_cut, counts = self._levels(
                pool, batches, reduction, memory_limit, unreached
            )
        except KeyboardInterrupt:
            if not options.interruptible:
                raise
            reason, found, depth_cut, counts = INTERRUPTED, None, False, self.counts
            pool.settle(self._patience())
        except WorkerDied as died:
            reason, found, depth_cut, counts = str(died), None, False, self.counts
        states, transitions, max_depth = counts
        memory = [reply for reply in self._ask(pool, ("memory",)) if reply is not None]
        peak = max(self.peak, proportional_bytes() + sum(reply[1] for reply in memory))
        growth = sum(max(0, reply[0], reply[3] or 0) for reply in memory)
        self.halted_states = [state for reply in memory for state in reply[5]]
        violation: Violation[S, A] | None = None
        if self.overran and found is None:
            assert options.time_limit is not None
            reason = overran_reason(options.time_limit)
        if found is not None:
            violation = Violation(found[0], found[1], self._path(pool, found[2]))
        elif reason is None and depth_cut:
            reason = f"max depth {options.max_depth} reached"
        elif reason is None and keeps_edges(model):
            try:
                violation = self._cannot_end(pool, memory_limit)
            except MemoryBound as bound:
                reason = str(bound)
        elif reason is None and unreached:
            goal = next(g for g in goals if g.name in unreached)
            violation = Violation(goal.name, f"never reached: {goal.description}", None)
        seconds = time.perf_counter() - started
        stats = Stats(
            states=states,
            transitions=transitions,
            max_depth=max_depth,
            seconds=seconds,
            peak_memory_bytes=peak,
            bytes_per_state=growth / states if states else 0.0,
            extra={
                **model.combine_statistics([reply[4] for reply in memory]),
                **reduction.statistics(),
                **({} if options.exact else {"fingerprint_bits": 64}),
                "workers": workers,
                "worker_cpu_ms": round(1000 * sum(reply[2] for reply in memory)),
            },
            omission_probability=None if options.exact else omission_probability(states),
            store_bytes_per_state=(
                None
                if options.exact or not states or len(memory) < workers
                else sum(reply[3] for reply in memory) / states
            ),
        )
        if violation is not None:
            verdict = Verdict.VIOLATED
        elif reason is not None:
            verdict = Verdict.INCOMPLETE
        else:
            verdict = Verdict.OK
        unvaried: tuple[str, ...] = ()
        if verdict is Verdict.OK and len(memory) == workers:
            single = _unvaried(memory)
            unvaried = tuple(name for name in names if name in single)
        return Result(verdict, stats, violation, reason, tuple(names), unvaried)

    def _levels(
        self,
        pool: Pool,
        batches: list[list[bytes | None]],
        reduction: AmpleSets[S, A],
        memory_limit: int | None,
        unreached: set[str],
    ) -> tuple[str | None, Found | None, bool, tuple[int, int, int]]:
        """Search level by level until a violation, exhaustion or a bound:
        why it stopped early, the violation found, whether the depth bound
        cut, and the states, transitions and depth reached (also kept in
        ``counts`` as the levels complete, for a search Ctrl-C ends).  A
        bound that stops the search after a level is admitted drops that
        level's expansion, done in the same round trip, and its
        transitions: the figures are those of a search cut at that depth."""
        options, workers = self.options, self.workers
        states = transitions = depth = max_depth = 0
        reason: str | None = None
        found: Found | None = None
        depth_cut = False
        borrowed: list[list[bytes | None]] = [[] for _ in range(workers)]
        while True:
            cut = options.max_depth is not None and depth >= options.max_depth
            budget = None if options.max_states is None else options.max_states - states
            reduce = reduction.keep_reducing(states)
            left = self._seconds_left()
            rounds = pool.ask(
                [
                    ("round", batch, lent, cut, budget, reduce, left)
                    for batch, lent in zip(batches, borrowed, strict=True)
                ],
                self._patience(),
            )
            replies = [admitted for admitted, _expanded in rounds]
            new = sum(reply[0] for reply in replies)
            states += new
            if new:
                max_depth = depth
            unreached &= set.intersection(*(set(reply[2]) for reply in replies))
            found = next((reply[1] for reply in replies if reply[1] is not None), None)
            if found is not None or not new:
                break
            if options.max_states is not None and states > options.max_states:
                reason = f"max states {options.max_states} reached"
                looked = [reply for _admitted, reply in rounds if reply is not None]
                found = next((reply[2] for reply in looked if reply[2] is not None), None)
                break
            elapsed = time.perf_counter() - self.started
            if options.time_limit is not None and elapsed >= options.time_limit:
                reason = f"time limit {options.time_limit:g} s reached"
                break
            held = sum(reply[3] for reply in replies) + proportional_bytes()
            self.peak = max(self.peak, held)
            if memory_limit is not None and held >= memory_limit:
                if depth == 0 and options.max_memory is not None:
                    raise MemoryLimitTooLow(memory_limit, held)
                reason = memory_reached(memory_limit)
                break
            self.counts = (states, transitions, max_depth)
            self._progress(states, transitions, max_depth)
            expanded = [reply for _admitted, reply in rounds]
            transitions += sum(reply[1] for reply in expanded)
            reduction.tried = sum(reply[4][0] for reply in expanded)
            reduction.reduced = sum(reply[4][1] for reply in expanded)
            depth_cut = depth_cut or any(reply[3] for reply in expanded)
            unreached &= set.intersection(*(set(reply[5]) for reply in expanded))
            found = next((reply[2] for reply in expanded if reply[2] is not None), None)
            if found is not None or cut:
                break
            depth += 1
            routed = [[reply[0][target] for reply in expanded] for target in range(workers)]
            batches, borrowed = self._exchange(pool, routed)
        return reason, found, depth_cut, (states, transitions, max_depth)

    def _seconds_left(self) -> float | None:
        """Of the time limit, if any."""
        limit = self.options.time_limit
        return None if limit is None else max(0.0, limit - (time.perf_counter() - self.started))

    def _patience(self) -> float | None:
        """How long the workers are waited for: until the time limit, and
        ``ANSWER_GRACE_SECONDS`` more."""
        left = self._seconds_left()
        return None if left is None else left + ANSWER_GRACE_SECONDS

    def _exchange(
        self, pool: Pool, routed: list[list[bytes | None]]
    ) -> tuple[list[list[bytes | None]], list[list[bytes | None]]]:
        """The successors routed to each worker (sent or announced), which
        it orders as its share of the next level (``_Worker.plan``); then
        what each asked of the senders and the states each lends another
        to even out the work of expanding the level (``balance``), as the
        next round takes them."""
        plans = pool.ask([("plan", batch) for batch in routed], self._patience())
        lend = balance([p[1] for p in plans], [p[2] for p in plans], [p[3] for p in plans])
        workers = range(self.workers)
        asked = [("give", [p[0][sender] for p in plans], lend[sender]) for sender in workers]
        replies = pool.ask(asked, self._patience())
        given = [[replies[sender][0][owner] for sender in workers] for owner in workers]
        borrowed = [[replies[lender][1][owner] for lender in workers] for owner in workers]
        return given, borrowed

    def _progress(self, states: int, transitions: int, depth: int) -> None:
        """Report progress as a level ends, as often as one process does."""
        sink = self.options.progress
        if sink is None:
            return
        now = time.perf_counter()
        elapsed = now - self.started
        if (
            elapsed >= PROGRESS_AFTER_SECONDS
            and now - self.last_progress >= PROGRESS_INTERVAL_SECONDS
        ):
            self.last_progress = now
            sink(states, transitions, depth, elapsed)

    def _cannot_end(self, pool: Pool, memory_limit: int | None) -> Violation[S, A] | None:
        """The violation of the first ``CAN_END`` property at a state of
        least depth from which no state without enabled actions is
        reachable, if any, from the edges the workers kept (those to a
        successor another worker owns numbered by their owner); a
        ``MemoryBound`` when this process has no room for the pass."""
        replies = self._ask(pool, ("edges",))
        graph = Edges(typecode="q")
        for edges, _unresolved in replies:
            graph.extend(edges)
        for owner in range(self.workers):
            targets = [target for _edges, unresolved in replies for target in unresolved[owner][1]]
            numbered = pool.ask(
                [("number", targets if worker == owner else []) for worker in range(self.workers)]
            )[owner]
            for _edges, unresolved in replies:
                graph.sources.extend(unresolved[owner][0])
            graph.targets.extend(numbered)
        links = self._links(pool)
        parents = links[0]
        stored = [len(parent) for parent in parents]
        everyone = (
            sid * self.workers + worker
            for worker in range(self.workers)
            for sid in range(stored[worker])
        )
        prop = next(p for p in self.model.properties() if p.kind is PropertyKind.CAN_END)
        bounds = endings_bounds(graph, sum(stored), memory_limit, prop.name)
        stuck = graph.cannot_end(everyone, bounds)
        if not stuck:
            return None

        def depth(gid: int) -> int:
            steps = 0
            while gid >= 0:
                gid = parents[gid % self.workers][gid // self.workers]
                steps += 1
            return steps

        first = min(stuck, key=lambda gid: (depth(gid), gid))
        message, path = cannot_end_violation(self.model, prop, self._path(pool, first, links))
        return Violation(prop.name, message, path)

    def _links(self, pool: Pool) -> tuple[list[array[int]], list[array[int]], list[int]]:
        """Every worker's parent links and moves, and where its lazy moves
        end (-1: none are)."""
        parents = []
        moves = []
        lazy_before = []
        for parent_bytes, move_bytes, lazy in self._ask(pool, ("links",)):
            parent, move = array("q"), array("i")
            parent.frombytes(parent_bytes)
            move.frombytes(move_bytes)
            parents.append(parent)
            moves.append(move)
            lazy_before.append(-1 if lazy is None else lazy)
        return parents, moves, lazy_before

    def _path(
        self,
        pool: Pool,
        gid: int,
        links: tuple[list[array[int]], list[array[int]], list[int]] | None = None,
    ) -> Any:
        parents, moves, lazy_before = links or self._links(pool)
        chain = []
        while gid >= 0:
            owner, sid = gid % self.workers, gid // self.workers
            chain.append((owner, sid))
            gid = parents[owner][sid]
        chain.reverse()
        init = moves[chain[0][0]][chain[0][1]]
        path = [moves[o][s] for o, s in chain[1:]]
        lazy_moves = [s < lazy_before[o] for o, s in chain[1:]]
        if any(lazy_moves):
            path = enabled_indices(self.model, init, path, lazy_moves)
        return replay_moves(self.model, init, path)
