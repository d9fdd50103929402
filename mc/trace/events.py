"""What a counterexample is made of: the steps of a trace, what each did,
and the waits-for edges of a deadlock."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs


@attrs.frozen
class Event:
    """What a step did: acquire, wait, release, branch, assign, call, effect, error."""

    kind: str
    text: str
    lock: str | None = None
    mode: str | None = None


@attrs.frozen
class Step:
    """One step of a counterexample."""

    thread: str
    branch: int
    chained: bool
    operation: str
    label: str
    event: Event
    source: str
    function: str
    changed: dict[str, str]
    rewritten: frozenset[str] = attrs.field(default=frozenset(), eq=False)
    """The register in ``changed`` that the step computed and set to the
    value it held (``f = files_lookup_fd_locked()`` finding NULL again; a
    call's return value is shown only when it changes): shown, as the step
    set it, though the state is the same (not saved; a trace saved without
    it replays alike)."""


HANDED_OFF = "handed off"
"""The holder of a lock its thread handed off and no thread took over (a
frozen superblock's ``sb_writers``, an AIO write's ``i_rwsem``)."""
INTERRUPTED_CPU = "its CPU (interrupted)"
"""What a thread an interrupt handler runs over waits for: its CPU, which
the handler holds until it returns (``T1 waits for its CPU (interrupted)
held by T2``)."""


@attrs.frozen
class Edge:
    """``waiter`` waits for ``resource``, held by ``holder``."""

    waiter: str
    resource: str
    holder: str
    queued: bool = False
    """``holder`` does not hold the lock yet: it is a writer queued for it
    ahead of ``waiter`` (an rw_semaphore keeps new readers out behind it)."""
    held: bool = True
    """``holder`` holds ``resource``; False: it is a thread whose steps
    could end the wait (a condition such as a bio in flight)."""
    spinning: bool = False
    """``waiter`` does not sleep: it retries a trylock of ``resource`` in a
    loop (``while (!spin_trylock(...)) cpu_relax();``), so it always has a
    step and makes no progress while ``holder`` holds it."""

    def text(self) -> str:
        """The wait as people read it: ``T1 waits for i_rwsem(/f) held by
        T2``, behind a writer queued first, for a lock handed off that no
        thread took it over, or for a condition who could end it."""
        return self.text_of(self.holder)

    def text_of(self, holders: str) -> str:
        """``text`` with ``holders`` (several, as ``T1, T2``) for the holder."""
        if not self.held:
            return f"{self.waiter} waits for {self.resource}, which {holders} could end"
        if self.holder == HANDED_OFF:
            return (
                f"{self.waiter} waits for {self.resource}, which a thread handed off and no "
                "thread has taken over"
            )
        if self.queued:
            return f"{self.waiter} waits for {self.resource} behind {holders}, queued for it first"
        if self.spinning:
            return f"{self.waiter} spins on {self.resource} held by {holders}"
        return f"{self.waiter} waits for {self.resource} held by {holders}"


def waits_text(edges: Sequence[Edge], why: Callable[[Edge], str]) -> list[str]:
    """Each wait of ``edges`` as people read it, with what ``why`` adds to
    it; the waits of one thread for one resource that ``why`` adds nothing
    to are one text naming every holder (``T4 waits for a bio in flight,
    which T1, T2 could end``)."""
    found: list[Edge | str] = []
    holders: dict[Edge, list[str]] = {}
    for edge in edges:
        said = why(edge)
        if said or edge.holder == HANDED_OFF:
            found.append(edge.text() + said)
            continue
        key = attrs.evolve(edge, holder="")
        if key not in holders:
            holders[key] = []
            found.append(key)
        holders[key].append(edge.holder)
    return [
        entry if isinstance(entry, str) else entry.text_of(", ".join(holders[entry]))
        for entry in found
    ]


def closes_cycle(edges: list[Edge] | tuple[Edge, ...]) -> bool:
    """Whether each wait's holder is the next wait's waiter, the last's the first's."""
    following = [*edges[1:], *edges[:1]]
    return bool(edges) and all(
        edge.holder == after.waiter for edge, after in zip(edges, following, strict=True)
    )


def waits_chain(edges: list[Edge] | tuple[Edge, ...]) -> str:
    """The waits of a deadlock as one line: ``cycle: T1 -> L -> T2 -> M -> T1``
    when they close a cycle, else each wait with who could end it
    (``waits: T2 -> L -> T1``, T1 waiting for nothing: it has returned)."""
    if closes_cycle(edges):
        chain = " -> ".join(f"{e.waiter} -> {e.resource}" for e in edges)
        return f"cycle: {chain} -> {edges[0].waiter}"
    return "waits: " + "; ".join(f"{e.waiter} -> {e.resource} -> {e.holder}" for e in edges)
