"""What a counterexample is made of: the steps of a trace, what each did,
and the waits-for edges of a deadlock."""

from __future__ import annotations

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


HANDED_OFF = "handed off"
"""The holder of a lock its thread handed off and no thread took over (a
frozen superblock's ``sb_writers``, an AIO write's ``i_rwsem``)."""


@attrs.frozen
class Edge:
    """``waiter`` waits for ``resource``, held by ``holder``."""

    waiter: str
    resource: str
    holder: str
    queued: bool = False
    """``holder`` does not hold the lock yet: it is a writer queued for it
    ahead of ``waiter`` (an rw_semaphore keeps new readers out behind it)."""

    def text(self) -> str:
        """The wait as people read it: ``T1 waits for i_rwsem(/f) held by
        T2``, behind a writer queued first, or, for a lock handed off, that
        no thread took it over."""
        if self.holder == HANDED_OFF:
            return (
                f"{self.waiter} waits for {self.resource}, which a thread handed off and no "
                "thread has taken over"
            )
        if self.queued:
            return (
                f"{self.waiter} waits for {self.resource} behind {self.holder}, queued for it first"
            )
        return f"{self.waiter} waits for {self.resource} held by {self.holder}"


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
