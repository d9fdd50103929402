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


@attrs.frozen
class Edge:
    """``waiter`` waits for ``resource``, held by ``holder``."""

    waiter: str
    resource: str
    holder: str
