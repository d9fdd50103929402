"""Explicit-state search: what every strategy shares (the store of
states, the checks of properties, the bounds, traces); the strategies are
``mc.engine.bfs`` (breadth-first, shortest traces) and ``mc.engine.dfs``.

States are stored once, keyed by themselves; each stored state records its
parent and the index of the action that reached it, so a trace is rebuilt
by re-executing those actions from the initial state.
"""

from __future__ import annotations

import contextlib
import itertools
import resource
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import attrs

from mc.engine.ample import AmpleSets, Moves, enabled_indices
from mc.engine.bfs import breadth_first
from mc.engine.collector import Collector
from mc.engine.ctrl_c import telling_models_apart
from mc.engine.dfs import depth_first
from mc.engine.endings import Edges, cannot_end_violation, keeps_edges
from mc.engine.invariants import Invariants
from mc.engine.model import Model, Property, PropertyKind
from mc.engine.reduction import Reduction
from mc.engine.result import Path, Result, Stats, Strategy, Verdict, Violation
from mc.engine.store import (
    ExactStore,
    FingerprintStore,
    Store,
    array_bytes,
    omission_probability,
)

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")

TICK_SECONDS = 0.05
"""How often the bounds (time, memory) and the progress line are looked at:
on the clock, before each state is expanded, whatever a state costs."""
MEMORY_HEADROOM = 0.9
"""The default memory limit: what the process holds when the search starts
plus this share of the memory the machine has available."""
PROGRESS_AFTER_SECONDS = 1.0
PROGRESS_INTERVAL_SECONDS = 0.5

INTERRUPTED = "interrupted (Ctrl-C)"
LONGEST_TIMER_SECONDS = 1e6
"""The longest time limit a search takes (about eleven days): a longer one
is past what the waits for workers hold (milliseconds in a C int)."""
STEP_GRACE_SECONDS = 10.0
"""How long past the time limit a step that is still running (an effect
that does not return) is let run before the search is cut inside it."""

ProgressSink = Callable[[int, int, int, float], None]


@attrs.frozen
class Options:
    """How to search: order and bounds.  A bound that stops the search makes
    the verdict INCOMPLETE, never OK."""

    strategy: Strategy = Strategy.BFS
    max_states: int | None = None
    max_depth: int | None = None
    time_limit: float | None = None
    progress: ProgressSink | None = None
    max_memory: int | None = None
    """Resident bytes at which the search stops (INCOMPLETE); by default
    ``default_memory_limit()`` when the search starts."""
    interruptible: bool = False
    """Ctrl-C ends the search as INCOMPLETE (with its statistics) instead of
    raising KeyboardInterrupt."""
    reduce: bool = True
    """Partial-order reduction, for models that declare footprints."""
    exact: bool = True
    """Keep every state in full; else 64-bit fingerprints (see ``store``)."""
    audit_reads: bool = False
    """Check on every stored state that each property with declared reads
    gives the same answer when every location it does not declare holds
    its initial value (``UndeclaredRead`` when not): a test of the
    declarations partial-order reduction relies on."""

    def __attrs_post_init__(self) -> None:
        for name in ("max_states", "max_depth"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be a positive number, not {self.time_limit}")
        if self.max_memory is not None and self.max_memory < 1:
            raise ValueError(f"max_memory must be at least 1 byte, not {self.max_memory}")


class NotDeterministic(Exception):
    """Re-executing a stored path reached a state other than the one stored:
    the model's steps are not functions of the state.  ``position`` is the
    index of the state in the path (0: the initial state), ``previous`` the
    state the step ran from and ``action`` the step (None for position 0).
    ``twice``: not a path, but one step run twice from ``previous``
    (``probe_determinism``), ``position`` its index among the actions
    enabled there."""

    def __init__(
        self,
        position: int,
        stored: Hashable,
        replayed: Hashable | None,
        previous: Hashable | None = None,
        action: object = None,
        twice: bool = False,
    ) -> None:
        what = "running a step twice" if twice else f"re-executing step {position} of a path"
        super().__init__(f"{what} reached another state")
        self.position = position
        self.stored = stored
        self.replayed = replayed
        self.previous = previous
        self.action = action
        self.twice = twice


DETERMINISM_PROBES = 32
"""How many states, the first in breadth-first order, a search runs every
enabled action of twice before it starts (``probe_determinism``)."""


def probe_determinism(
    model: Model[S, A], limit: int | None = None, deadline: float | None = None
) -> None:
    """Compute the successors of the first ``limit`` states (breadth-first
    from the initial ones; ``DETERMINISM_PROBES`` by default) twice:
    ``NotDeterministic`` (``twice``) where the two differ.  A model whose
    steps read something besides the state (a random number, the clock, a
    counter of its own) is caught here before it can give a verdict, or
    later, when its counterexample is re-executed; one that behaves only
    in states past these is caught only then.  The probe stops early once
    ``time.perf_counter()`` passes ``deadline`` (a search's time limit)."""
    limit = DETERMINISM_PROBES if limit is None else limit
    waiting = list(dict.fromkeys(model.init_states()))[:limit]
    seen = set(waiting)
    for state in waiting:
        if deadline is not None and time.perf_counter() >= deadline:
            return
        first, again = model.successors(state), model.successors(state)
        for index, (one, two) in enumerate(itertools.zip_longest(first, again)):
            if one is None or two is None or one[1] != two[1]:
                action = (one or two)[0]
                stored = None if one is None else one[1]
                replayed = None if two is None else two[1]
                raise NotDeterministic(index, stored, replayed, state, action, twice=True)
            after = one[1]
            if after not in seen and len(waiting) < limit:
                seen.add(after)
                waiting.append(after)


class UndeclaredRead(Exception):
    """A property's answer on a state depends on a location its ``reads``
    leave out: the declaration is wrong, and partial-order reduction would
    not be sound with it."""

    def __init__(self, prop: str, state: Hashable, locations: Sequence[str] = ()) -> None:
        super().__init__(
            f"property {prop} reads {', '.join(locations)}, which its reads= declaration "
            f"leaves out (its answer changes when {'any one' if len(locations) > 1 else 'it'} "
            "is reset alone)"
            if locations
            else f"property {prop} reads a location its reads= declaration leaves out "
            "(its answer changes when the undeclared locations are reset)"
        )
        self.prop = prop
        self.state = state
        self.locations = tuple(locations)
        """The undeclared locations whose reset alone changes the answer."""


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Going(Exception):
    """A ``CAN_END`` violation, with its path going round."""

    def __init__(self, violation: Violation[Any, Any]) -> None:
        self.violation = violation


class StepOverran(BaseException):
    """The time limit passed ``STEP_GRACE_SECONDS`` ago inside one step:
    raised by a signal wherever the step was, past ``except Exception``."""


def overran_reason(limit: float) -> str:
    """Why a search cut inside a step stopped."""
    return (
        f"time limit {limit:g} s reached, and a step still ran {STEP_GRACE_SECONDS:g} s "
        "past it: an effect that does not return?"
    )


@contextlib.contextmanager
def steps_cut_at(deadline: float | None) -> Iterator[None]:
    """Within it, raise ``StepOverran`` once ``time.perf_counter()`` passes
    ``deadline`` plus ``STEP_GRACE_SECONDS``, whatever runs then (the clock
    is otherwise only looked at between states).  In the main thread only,
    where a signal can interrupt it; inside another interval timer, that
    one holds."""
    if (
        deadline is None
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0] > 0
    ):
        yield
        return

    def expire(_signal: int, _frame: object) -> None:
        raise StepOverran

    previous = signal.signal(signal.SIGALRM, expire)
    seconds = deadline + STEP_GRACE_SECONDS - time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, min(max(seconds, 0.001), LONGEST_TIMER_SECONDS))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Found(Exception):
    def __init__(self, prop: str, message: str, sid: int) -> None:
        self.prop = prop
        self.message = message
        self.sid = sid


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def default_memory_limit() -> int | None:
    """The resident bytes a search may reach by default: what the process
    holds now plus ``MEMORY_HEADROOM`` of the memory available to it (None
    when the system does not say)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    return resident_bytes() + int(available * MEMORY_HEADROOM)
    except (OSError, ValueError, IndexError):
        return None
    return None


class MemoryBound(Exception):
    """The memory limit stopped a pass over the stored graph: why."""


def endings_bounds(
    edges: Edges, states: int, limit: int | None, checking: str
) -> Callable[[], None]:
    """The look at the memory ``limit`` that ``Edges.cannot_end`` over
    ``states`` states makes as it goes, for property ``checking``: a
    ``MemoryBound`` at once when the pass has no room (``pass_bytes``),
    else when the process reaches the limit."""
    if limit is None:
        return lambda: None
    needed = edges.pass_bytes(states)
    where = f"{checking}'s pass over the stored graph"
    if resident_bytes() + needed > limit:
        raise MemoryBound(f"{memory_reached(limit)}: {where} needs {_size(needed)} more")

    def bounds() -> None:
        if resident_bytes() >= limit:
            raise MemoryBound(f"{memory_reached(limit)} in {where}")

    return bounds


def memory_reached(limit: int) -> str:
    """Why a search that reached the memory ``limit`` stopped."""
    return f"memory limit {_size(limit)} reached"


def _size(limit: int) -> str:
    if limit < 2**20:
        return f"{limit:,} bytes"
    mib = limit / 2**20
    return f"{mib:,.0f} MiB" if mib == round(mib) else f"{mib:,.1f} MiB"


class MemoryLimitTooLow(ValueError):
    """A memory limit under what the process holds as the search begins:
    no search can meet it (bad input, not a search that ran out)."""

    def __init__(self, limit: int, held: int) -> None:
        super().__init__(
            f"memory limit {_size(limit)} is under the {held / 2**20:,.0f} MiB vfsmc held as "
            "the search began: no search fits in it"
        )


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Search(Generic[S, A]):
    """One search of one model; ``run`` returns its result."""

    def __init__(self, model: Model[S, A], options: Options | None = None) -> None:
        self.model = model
        self.options = options or Options()
        properties = list(model.properties())
        self.endable = [p for p in properties if p.kind is PropertyKind.CAN_END]
        in_order = self.options.strategy is Strategy.BFS
        self.edges: Edges | None = Edges(in_order=in_order) if keeps_edges(model) else None
        """The graph explored, kept to decide the ``CAN_END`` properties
        once the search is exhaustive (None when none is checked, or the
        model has no cycle, so every state can end)."""
        self.store: Store[S] = (
            ExactStore()
            if self.options.exact
            else FingerprintStore(in_order=in_order, numbered=self.edges is not None)
        )
        model.stored_by_fingerprint(not self.store.exact)
        self.stored = 0
        self.capacity = sys.maxsize if self.options.max_states is None else self.options.max_states
        """The most states the search stores: once it holds as many, it
        leaves new states unstored (``dropped``) but still expands those
        it holds, so a violation among them is found (its verdict is then
        incomplete, "max states N reached", unless one is)."""
        self.dropped = False
        self.halted_states: list[S] = []
        """The stored states where the model halts (see ``Model.halted``)."""
        self.parent = array("i")
        self.move = array("H")
        self.transitions = 0
        self.max_depth = 0
        self.invariants = [
            p for p in properties if p.kind is PropertyKind.ALWAYS and not p.terminal
        ]
        self.checked = Invariants(model, self.invariants)
        self.deadlock_checks = [p for p in properties if p.failed_at_dead_ends]
        self.goals = [p for p in properties if p.kind is PropertyKind.SOMETIMES]
        audit = self.options.audit_reads
        self.audited = [p for p in properties if p.reads is not None and p.on_every_state]
        if not audit:
            self.audited = []
        self.property_names = [p.name for p in properties]
        self.ample_sets: AmpleSets[S, A] = AmpleSets(
            model, Reduction(model, properties) if self.options.reduce else None
        )
        """The moves explored from each state (``AmpleSets``)."""
        self.moves: Callable[[S, bool], Moves[A, S]] = self.ample_sets.moves
        """The moves to explore from a state (``AmpleSets.moves``, bound
        once: the explorers call it for every state)."""
        self.started = 0.0
        self.last_progress = 0.0
        self.next_tick = 0.0
        self.collector = Collector()
        """Collects cyclic garbage at the clock's ticks (``tick``)."""
        self.memory_limit: int | None = None
        self.depth_cut = False

    @property
    def states(self) -> Sequence[S]:
        """Every stored state, in the order stored (empty with fingerprints)."""
        return self.store.kept()

    def run(self) -> Result[S, A]:
        """Search until a violation, exhaustion or a bound.  The memory held
        before searching is measured once the first steps have run
        (``probe_determinism``), which loads what they use (z3, for a
        model with symbolic values); the time limit counts from before it."""
        begun = time.perf_counter()
        deadline = self.deadline(begun)
        overran = False
        try:
            with steps_cut_at(deadline), telling_models_apart(self.options.interruptible):
                probe_determinism(self.model, deadline=deadline)
        except StepOverran:
            overran = True
        baseline = resident_bytes()
        self.memory_limit = self.options.max_memory or default_memory_limit()
        if self.memory_limit is not None and baseline >= self.memory_limit:
            raise MemoryLimitTooLow(self.memory_limit, baseline)
        self.started = begun
        self.last_progress = self.started
        self.next_tick = self.started
        self.collector.pause()
        violation: Violation[S, A] | None = None
        reason: str | None = None
        try:
            with (
                steps_cut_at(None if overran else deadline),
                telling_models_apart(self.options.interruptible),
            ):
                self._search()
        except _Found as found:
            violation = Violation(found.prop, found.message, self.path_to(found.sid))
        except _Going as going:
            violation = going.violation
        except _Stop as stop:
            reason = stop.reason
        except StepOverran:
            overran = True
        except KeyboardInterrupt:
            if not self.options.interruptible:
                raise
            reason = INTERRUPTED
        except MemoryError:
            reason = "out of memory"
        finally:
            self.collector.resume()
            self.store.close()
        seconds = time.perf_counter() - self.started
        if overran and violation is None:
            assert self.options.time_limit is not None
            reason = overran_reason(self.options.time_limit)
        if violation is None and reason is None and self.dropped:
            reason = f"max states {self.capacity} reached"
        if violation is None and reason is None and self.depth_cut:
            reason = f"max depth {self.options.max_depth} reached"
        if violation is None and reason is None and self.goals:
            unreached = self.goals[0]
            violation = Violation(unreached.name, f"never reached: {unreached.description}", None)
        stored = self.stored
        held = self._store_bytes_per_state() or 0.0
        least = self.store.least_bytes() if isinstance(self.store, ExactStore) else held * stored
        growth = max(resident_bytes() - baseline, least, 0)
        extra = dict(self.model.statistics(self.store.kept()))
        extra.update(self.ample_sets.statistics())
        if not self.store.exact:
            extra["fingerprint_bits"] = 64
        stats = Stats(
            states=stored,
            transitions=self.transitions,
            max_depth=self.max_depth,
            seconds=seconds,
            peak_memory_bytes=_peak_bytes(),
            bytes_per_state=growth / stored if stored else 0.0,
            extra=extra,
            omission_probability=None if self.store.exact else omission_probability(stored),
            store_bytes_per_state=held or None,
        )
        if violation is not None:
            verdict = Verdict.VIOLATED
        elif reason is not None:
            verdict = Verdict.INCOMPLETE
        else:
            verdict = Verdict.OK
        unvaried = tuple(self.checked.unvaried()) if verdict is Verdict.OK else ()
        return Result(verdict, stats, violation, reason, tuple(self.property_names), unvaried)

    def _search(self) -> None:
        """Store the initial states, search from them, then look for states
        from which the search cannot end."""
        for position, state in enumerate(self.model.init_states()):
            if self.store.find(state) is None:
                self.add(state, -1, position)
        if self.options.strategy is Strategy.BFS:
            breadth_first(self)
        else:
            depth_first(self)
        if not self.dropped and not self.depth_cut:
            self._check_endings()

    def _store_bytes_per_state(self) -> float | None:
        """What the store and the parent links hold per stored state (None
        for an exact store)."""
        held = self.store.memory_bytes()
        if held is None or not self.stored:
            return None
        if self.edges is not None:
            held += self.edges.memory_bytes()
        return (held + array_bytes(self.parent, self.move)) / self.stored

    def _check_endings(self) -> None:
        """Raise ``_Going`` with the violation of the first ``CAN_END``
        property at the first stored state from which no state without
        enabled actions is reachable, if any."""
        if self.edges is None:
            return
        prop = self.endable[0]
        try:
            bounds = endings_bounds(self.edges, self.stored, self.memory_limit, prop.name)
            stuck = self.edges.cannot_end(range(self.stored), bounds)
        except MemoryBound as bound:
            raise _Stop(str(bound)) from None
        if stuck:
            message, path = cannot_end_violation(self.model, prop, self.path_to(stuck[0]))
            raise _Going(Violation(prop.name, message, path))

    def add(self, state: S, parent: int, move: int) -> int:
        """Store ``state``, reached from ``parent`` by ``move``, and check the
        invariants on it; its number."""
        sid = self.stored
        if sid >= self.capacity:
            raise _Stop(f"max states {self.capacity} reached")
        self.store.add(state, sid)
        self.stored += 1
        self.parent.append(parent)
        self.move.append(move)
        if self.model.halted(state):
            self.halted_states.append(state)
        if self.audited:
            self._audit(state)
        failed = self.checked.violated(state)
        if failed is not None:
            raise _Found(*failed, sid)
        if self.goals:
            self.goals = [goal for goal in self.goals if goal.terminal or goal.check(state) is None]
        return sid

    def _audit(self, state: S) -> None:
        initial = self.model.init_states()[0]
        for prop in self.audited:
            projected = self.model.project(state, initial, prop.reads or 0)
            if projected is not None and prop.check(projected) != prop.check(state):
                raise UndeclaredRead(prop.name, state, self._undeclared(prop, state, initial))

    def _undeclared(self, prop: Property[S], state: S, initial: S) -> list[str]:
        """The locations ``prop`` does not declare whose reset alone
        changes its answer on ``state``, by name."""
        answer = prop.check(state)
        reads = prop.reads or 0
        found = []
        for index in range(len(state) if isinstance(state, tuple) else 0):
            if reads >> index & 1:
                continue
            alone = self.model.project(state, initial, ~(1 << index))
            if alone is not None and alone != state and prop.check(alone) != answer:
                found.append(self.model.location_name(index))
        return found

    def dead_end(self, state: S, sid: int) -> None:
        """Check a state without enabled actions."""
        if self.edges is not None:
            self.edges.dead_end(sid)
        failed, self.goals = at_dead_end(self.model, state, self.deadlock_checks, self.goals)
        if failed is not None:
            raise _Found(*failed, sid)

    def deadline(self, begun: float) -> float | None:
        """When the time limit of a search begun at ``begun`` ends."""
        limit = self.options.time_limit
        return None if limit is None else begun + limit

    def tick(self, depth: int) -> None:
        """Look at the bounds and report progress (the clock said so)."""
        now = time.perf_counter()
        self.next_tick = now + TICK_SECONDS
        self.collector.round_ended()
        elapsed = now - self.started
        limit = self.options.time_limit
        if limit is not None:
            if elapsed >= limit:
                raise _Stop(f"time limit {limit:g} s reached")
            self.next_tick = min(self.next_tick, self.started + limit)
        if self.memory_limit is not None and resident_bytes() >= self.memory_limit:
            raise _Stop(memory_reached(self.memory_limit))
        sink = self.options.progress
        if (
            sink is not None
            and elapsed >= PROGRESS_AFTER_SECONDS
            and now - self.last_progress >= PROGRESS_INTERVAL_SECONDS
        ):
            self.last_progress = now
            sink(self.stored, self.transitions, depth, elapsed)

    @property
    def reduction(self) -> Reduction | None:
        """The reduction the search applies (None when it does not, or no
        longer does)."""
        return self.ample_sets.reduction

    @property
    def lazy(self) -> bool:
        """Whether the moves stored are lazy ones (``AmpleSets.lazy``)."""
        return self.ample_sets.lazy

    def keep_reducing(self) -> bool:
        """Whether to go on looking for ample sets (``AmpleSets.keep_reducing``)."""
        return self.ample_sets.keep_reducing(self.stored)

    def path_to(self, sid: int) -> Path[S, A]:
        """The stored path from an initial state to state ``sid``."""
        chain = []
        while sid >= 0:
            chain.append(sid)
            sid = self.parent[sid]
        chain.reverse()
        moves = [self.move[s] for s in chain[1:]]
        lazy_before = self.stored if self.lazy else self.ample_sets.lazy_before
        if lazy_before is not None:
            lazy = [s < lazy_before for s in chain[1:]]
            moves = enabled_indices(self.model, self.move[chain[0]], moves, lazy)
        kept = self.states
        stored = [kept[s] for s in chain] if kept else None
        return replay_moves(self.model, self.move[chain[0]], moves, stored)


def at_dead_end(
    model: Model[S, A],
    state: S,
    checks: Sequence[Property[S]],
    goals: list[Property[S]],
) -> tuple[tuple[str, str] | None, list[Property[S]]]:
    """At ``state``, which has no enabled action: the first of ``checks``
    (``Property.failed_at_dead_ends``) it fails, as its name and message,
    and the ``goals`` still unreached, each evaluated where
    ``Property.evaluated_at_dead_end`` says."""
    halted = model.halted(state)
    failed = None
    for prop in checks:
        if prop.evaluated_at_dead_end(halted):
            message = prop.check(state)
            if message is not None:
                failed = (prop.name, message)
                break
    if goals:
        goals = [
            g for g in goals if not (g.evaluated_at_dead_end(halted) and g.check(state) is not None)
        ]
    return failed, goals


def replay_moves(
    model: Model[S, A], init: int, moves: Sequence[int], expected: Sequence[S] | None = None
) -> Path[S, A]:
    """Re-execute ``moves`` (indices into the enabled actions) from the
    initial state at position ``init`` of ``init_states()``; with
    ``expected`` (the states the path is known to pass through), raise
    ``NotDeterministic`` where re-execution reaches another state."""
    state = model.init_states()[init]
    if expected is not None and state != expected[0]:
        raise NotDeterministic(0, expected[0], state)
    states = [state]
    actions = []
    for position, move in enumerate(moves, start=1):
        previous = state
        enabled = model.successors(state)
        if move >= len(enabled):
            if expected is None:
                raise IndexError(f"step {position}: action {move} is not enabled")
            raise NotDeterministic(position, expected[position], None, previous)
        action, state = enabled[move]
        if expected is not None and state != expected[position]:
            raise NotDeterministic(position, expected[position], state, previous, action)
        states.append(state)
        actions.append(action)
    return Path(init, tuple(states), tuple(actions), tuple(moves))


def check(model: Model[S, A], options: Options | None = None) -> Result[S, A]:
    """Search ``model`` with ``options`` and return the result."""
    return Search(model, options).run()
