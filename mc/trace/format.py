"""The counterexample file format (``vfsmc-counterexample``, version 1).

A counterexample is a JSON object::

    {
      "format": "vfsmc-counterexample",
      "version": 1,
      "scenario": "dirops/opposite-renames",
      "variants": ["no-rename-mutex"],       # protocol variants applied
      "properties": ["lock-protocol", ...],   # properties the run checked
      "property": "deadlock",                 # the one violated
      "message": "T1 waits for i_rwsem(/a) held by T2; ...",
      "witness": {"new_size": 5000},          # concrete values of symbolic arguments
      "threads": [{"name": "T1", "operation": "rename(/a/x -> /b/y)"}, ...],
      "steps": [
        {"thread": "T1", "branch": 0, "chained": false,
         "operation": "rename(/a/x -> /b/y)",
         "label": "inode_lock_nested(p1->d_inode, I_MUTEX_PARENT)",
         "event": {"kind": "acquire", "text": "lock i_rwsem(/b) excl",
                   "lock": "i_rwsem(/b)", "mode": "excl"},
         "source": "models/dirops.py:204", "function": "lock_two_directories",
         "changed": {"i_rwsem(/b)": "T1 excl"}},
        ...
      ],
      "cycle": [{"waiter": "T1", "resource": "i_rwsem(/a)", "holder": "T2"}, ...],
      "blocked": [...],                       # optional: the step each waiting thread waits at
      "started": [...],                       # optional: steps run as the threads start
      "models": ["../link_order.py"],        # optional: model files outside vfsmc
      "loop": 5,                              # optional: where a livelock's loop begins
      "digest": "9f2c..."                     # optional: what vfsmc saved (see below)
    }

Each step is one atomic step of a model.  A step with ``"chained": false``
is a scheduling choice: thread ``thread`` runs outcome ``branch`` of its
current step; the ``"chained": true`` steps after it are local steps of the
same thread that run along with it.  ``changed`` holds only the state fields
the step changed, rendered as text.  ``cycle`` is empty unless the property
is ``deadlock`` (its waits-for cycle) or ``livelock`` (who waits for whom
among the threads that cannot move while others go round); an edge has
``"queued": true`` when its holder does not hold the resource yet but is
a writer queued for it first, ``"held": false`` when the resource is
no lock but a condition its holder's steps could bring about, and
``"spinning": true`` when the waiter of a livelock does not sleep but
retries a trylock of the lock in a loop.  ``started``
(optional, absent when empty) holds the local steps the threads run as
they start, before any scheduling choice (a read side of a percpu
rw_semaphore no thread contends, at the top of a program): the initial
state holds their effects.  ``models`` (optional,
absent when only shipped models were used) names the model files the
scenario or a variant came from, relative to the counterexample file's
directory, so replay loads them.  ``loop`` (optional, only for a
violation of a property no run may break by going round forever,
``livelock`` or ``completes``) is the number of steps after which the
trace's last steps go round: its last step leads back to the state after
step ``loop`` (0: the initial state; a trace cut short of it has no loop
to show).  ``digest`` (optional) is the SHA-256 of
the other fields as vfsmc saved them (``canonical_digest``): a file whose fields
no longer give it was edited since (``Counterexample.edited``), and a
replay of it that fails is no evidence of a fix; a trace edited on
purpose drops the field.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mc.atomic_write import write_atomically
from mc.text_files import UnreadableText, read_text
from mc.trace.events import HANDED_OFF, Edge, Event, Step

FORMAT = "vfsmc-counterexample"
VERSION = 1


class FormatError(ValueError):
    """A counterexample file that is not of this format."""


@attrs.frozen
class Counterexample:
    """A violation with the steps that lead to it."""

    scenario: str
    variants: tuple[str, ...]
    properties: tuple[str, ...]
    property: str
    message: str
    threads: tuple[tuple[str, str], ...]
    steps: tuple[Step, ...]
    witness: dict[str, Any] = attrs.field(factory=dict)
    cycle: tuple[Edge, ...] = ()
    blocked: tuple[Step, ...] = ()
    """The step each thread still running at the end would take next but
    cannot (it waits), for the reader; replay does not run them."""
    started: tuple[Step, ...] = ()
    """The steps the threads run as they start, before any scheduling
    choice (local steps at the top of a program, such as a read side of a
    percpu rw_semaphore no thread contends): the initial state holds their
    effects; replay does not run them."""
    addresses: str = ""
    """The address order the run needed (``/x/a < /c < /x``), if any."""
    models: tuple[str, ...] = ()
    """Model files outside vfsmc it needs, relative to the file's directory."""
    loop: int | None = None
    """For a run that goes round forever: its last step leads back to the
    state after this many steps."""
    edited: bool = attrs.field(default=False, eq=False)
    """Read from a file whose ``digest`` its other fields no longer give."""
    undigested: bool = attrs.field(default=False, eq=False)
    """Read from a file with no ``digest``: one written or edited by hand
    (and its digest dropped), not as vfsmc saved it."""

    def edit_said(self, caveat: str) -> str:
        """``caveat`` on the trace, with whether the file was edited since
        vfsmc saved it (its ``digest`` no longer given by its fields)."""
        if not self.edited:
            return caveat
        return f"{caveat}; the file was edited since it was saved (its digest does not match)"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this counterexample, with its ``digest``; a
        lone surrogate in its text (a model's string made from bytes that
        are no UTF-8) is written as its escape, ``\\udcff``, which the format
        reads back as text."""
        data = _as_text(self._fields())
        return {**data, "digest": canonical_digest(data)}

    def _fields(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "scenario": self.scenario,
            "variants": list(self.variants),
            "properties": list(self.properties),
            "property": self.property,
            "message": self.message,
            "witness": self.witness,
            "threads": [{"name": name, "operation": op} for name, op in self.threads],
            "steps": [_step_data(step) for step in self.steps],
            "cycle": [_edge(edge) for edge in self.cycle],
            "blocked": [_step_data(step) for step in self.blocked],
            **({"started": [_step_data(step) for step in self.started]} if self.started else {}),
            "addresses": self.addresses,
            **({"models": list(self.models)} if self.models else {}),
            **({"loop": self.loop} if self.loop is not None else {}),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1) + "\n"

    def save(self, path: Path) -> None:
        """Write the counterexample to ``path`` atomically."""
        write_atomically(path, self.dumps())


def as_saved(text: str) -> str:
    """``text`` as a counterexample file saves it (``_as_text``)."""
    saved: str = _as_text(text)
    return saved


def _as_text(value: Any) -> Any:
    """``value`` with every string UTF-8 can encode: a lone surrogate is
    replaced by its backslash escape."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode()
        return value
    if isinstance(value, dict):
        return {_as_text(key): _as_text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_text(item) for item in value]
    return value


def canonical_digest(data: Mapping[str, Any]) -> str:
    """The SHA-256 of ``data`` (a counterexample's fields but ``digest``)
    as JSON with sorted keys and no spaces."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


EVENT_KINDS = ("acquire", "wait", "release", "branch", "assign", "call", "effect", "error")
TOP_FIELDS = {
    "format": True,
    "version": True,
    "scenario": True,
    "variants": False,
    "properties": True,
    "property": True,
    "message": True,
    "witness": False,
    "threads": True,
    "steps": True,
    "cycle": False,
    "blocked": False,
    "started": False,
    "addresses": False,
    "models": False,
    "loop": False,
    "digest": False,
}
"""The fields of a counterexample object and whether each is required."""
STEP_FIELDS = (
    "thread",
    "branch",
    "chained",
    "operation",
    "label",
    "event",
    "source",
    "function",
    "changed",
)


EDGE_FIELDS = ("waiter", "resource", "holder")


def _edge(edge: Edge) -> dict[str, Any]:
    """A waits-for edge as the file holds it: ``queued`` only when true."""
    found: dict[str, Any] = {
        "waiter": edge.waiter,
        "resource": edge.resource,
        "holder": edge.holder,
    }
    if edge.queued:
        found["queued"] = True
    if not edge.held:
        found["held"] = False
    if edge.spinning:
        found["spinning"] = True
    return found


def _object(value: Any, where: str, fields: Mapping[str, bool]) -> Mapping[str, Any]:
    """``value`` as an object with exactly the known ``fields`` (those
    mapped to True are required)."""
    if not isinstance(value, dict):
        raise FormatError(f"{where} must be an object")
    for name in value:
        if name not in fields:
            raise FormatError(f"{where}: unknown field {name!r}")
    for name, required in fields.items():
        if required and name not in value:
            raise FormatError(f"{where}: missing field {name!r}")
    return value


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise FormatError(f"{where}: missing field {name!r}")
    value = obj[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise FormatError(f"{where}: field {name!r} must be {expected}")
    return value


def _optional(obj: Mapping[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise FormatError(f"{where}: field {name!r} must be a string or null")
    return value


def _strings(values: Any, where: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise FormatError(f"{where} must be a list of strings")
    return tuple(values)


def _distinct(values: tuple[str, ...], field: str) -> tuple[str, ...]:
    twice = next((v for v in values if values.count(v) > 1), None)
    if twice is not None:
        raise FormatError(f"field {field!r} names {twice!r} twice")
    return values


def _threads(raw: list[Any]) -> tuple[tuple[str, str], ...]:
    if not raw:
        raise FormatError("field 'threads' must name at least one thread")
    threads: list[tuple[str, str]] = []
    for i, thread in enumerate(raw):
        where = f"threads[{i}]"
        _object(thread, where, {"name": True, "operation": True})
        name = _field(thread, "name", str, where)
        if not name or any(name == known for known, _ in threads):
            raise FormatError(f"{where}: field 'name' must be a new, non-empty name")
        threads.append((name, _field(thread, "operation", str, where)))
    return tuple(threads)


def _step(raw: Any, where: str, threads: set[str]) -> Step:
    _object(raw, where, dict.fromkeys(STEP_FIELDS, True))
    thread = _field(raw, "thread", str, where)
    if thread not in threads:
        raise FormatError(
            f"{where}: field 'thread' names no thread of field 'threads': {thread!r} is none of "
            f"{', '.join(sorted(threads))}"
        )
    branch = _field(raw, "branch", int, where)
    if branch < 0:
        raise FormatError(f"{where}: field 'branch' must be at least 0")
    event = _object(
        raw["event"], f"{where}.event", {"kind": True, "text": True, "lock": False, "mode": False}
    )
    kind = _field(event, "kind", str, f"{where}.event")
    if kind not in EVENT_KINDS:
        raise FormatError(f"{where}.event: field 'kind' must be one of {', '.join(EVENT_KINDS)}")
    changed = _field(raw, "changed", dict, where)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in changed.items()):
        raise FormatError(f"{where}: field 'changed' must map names to strings")
    return Step(
        thread=thread,
        branch=branch,
        chained=_field(raw, "chained", bool, where),
        operation=_field(raw, "operation", str, where),
        label=_field(raw, "label", str, where),
        event=Event(
            kind,
            _field(event, "text", str, f"{where}.event"),
            _optional(event, "lock", f"{where}.event"),
            _optional(event, "mode", f"{where}.event"),
        ),
        source=_field(raw, "source", str, where),
        function=_field(raw, "function", str, where),
        changed=dict(changed),
    )


def _step_data(step: Step) -> dict[str, Any]:
    """``step`` as saved: its fields but ``rewritten``, which its
    ``changed`` already shows."""
    return attrs.asdict(step, filter=lambda field, _value: field.name != "rewritten")


def _text_only(data: Any) -> None:
    """``FormatError`` naming a string of ``data`` that is no text."""
    pending: list[tuple[Any, str]] = [(data, "counterexample")]
    while pending:
        value, where = pending.pop()
        if isinstance(value, dict):
            pending += [(key, f"{where}: a field name") for key in value]
            pending += [(item, f"{where}.{key}") for key, item in value.items()]
        elif isinstance(value, list):
            pending += [(item, f"{where}[{i}]") for i, item in enumerate(value)]
        elif isinstance(value, str):
            if "\x00" in value:
                raise FormatError(f"{where}: a NUL character is no text")
            try:
                value.encode()
            except UnicodeEncodeError:
                raise FormatError(f"{where}: an unpaired surrogate is no text") from None


def from_json(data: Any) -> Counterexample:
    """Parse and validate a counterexample object against the format: every
    field of the right type, no unknown field, every step and cycle edge
    naming a thread of ``threads``, the violated property among
    ``properties``, and every string text (no NUL, no unpaired surrogate,
    which no chart or page can show)."""
    if not isinstance(data, dict):
        raise FormatError("not a JSON object")
    _text_only(data)
    if data.get("format") != FORMAT:
        raise FormatError(f"field 'format' must be {FORMAT!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != VERSION:
        shown = repr(version) if len(repr(version)) < 40 else f"{repr(version)[:37]}..."
        raise FormatError(f"field 'version': unsupported version {shown} (this vfsmc reads 1)")
    _object(data, "counterexample", TOP_FIELDS)
    threads = _threads(_field(data, "threads", list, "counterexample"))
    names = {name for name, _ in threads}
    steps = tuple(
        _step(raw, f"steps[{i}]", names)
        for i, raw in enumerate(_field(data, "steps", list, "counterexample"))
    )
    if steps and steps[0].chained:
        raise FormatError("steps[0]: field 'chained' cannot be true on the first step")
    for i, (before, step) in enumerate(itertools.pairwise(steps), start=1):
        if step.chained and step.thread != before.thread:
            raise FormatError(
                f"steps[{i}]: a chained step runs in the thread of the step before it "
                f"({before.thread}), not {step.thread}"
            )
        if step.chained and step.branch != 0:
            raise FormatError(
                f"steps[{i}]: branch {step.branch}, but a chained step (run along with the "
                "step before it) has one outcome, branch 0"
            )
    blocked, started = (
        tuple(
            _step(raw, f"{field}[{i}]", names)
            for i, raw in enumerate(_field(data, field, list, "counterexample"))
        )
        if field in data
        else ()
        for field in ("blocked", "started")
    )
    addresses = _field(data, "addresses", str, "counterexample") if "addresses" in data else ""
    chains = [chain.split(" < ") for chain in addresses.split("; ")] if addresses else []
    if any(
        len(chain) < 2
        or len(set(chain)) < len(chain)
        or not all(path.startswith("/") for path in chain)
        for chain in chains
    ):
        raise FormatError(
            "field 'addresses' must be chains of distinct paths in address order, each two "
            "or more, joined by '; ', as '/a < /b/c' or '/a < /b; /a < /c'"
        )
    models = (
        _strings(_field(data, "models", list, "counterexample"), "field 'models'")
        if "models" in data
        else ()
    )
    cycle = []
    for i, edge in enumerate(
        _field(data, "cycle", list, "counterexample") if "cycle" in data else []
    ):
        where = f"cycle[{i}]"
        _object(
            edge,
            where,
            {
                "waiter": True,
                "resource": True,
                "holder": True,
                "queued": False,
                "held": False,
                "spinning": False,
            },
        )
        waiter, resource, holder = (_field(edge, k, str, where) for k in EDGE_FIELDS)
        queued = _field(edge, "queued", bool, where) if "queued" in edge else False
        held = _field(edge, "held", bool, where) if "held" in edge else True
        spinning = _field(edge, "spinning", bool, where) if "spinning" in edge else False
        found = Edge(waiter, resource, holder, queued=queued, held=held, spinning=spinning)
        if found.waiter not in names or found.holder not in (*names, HANDED_OFF):
            raise FormatError(
                f"{where}: field 'waiter' must name a thread, and 'holder' a thread or "
                f"{HANDED_OFF!r}"
            )
        cycle.append(found)
    witness = _field(data, "witness", dict, "counterexample") if "witness" in data else {}
    for name, value in witness.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise FormatError(f"witness: field {name!r} must be an integer")
    scenario = _field(data, "scenario", str, "counterexample")
    if not scenario:
        raise FormatError("field 'scenario' must not be empty")
    properties = _distinct(
        _strings(_field(data, "properties", list, "counterexample"), "field 'properties'"),
        "properties",
    )
    prop = _field(data, "property", str, "counterexample")
    if prop not in properties:
        raise FormatError(f"field 'property': {prop!r} is not among field 'properties'")
    loop = _field(data, "loop", int, "counterexample") if "loop" in data else None
    if loop is not None and (isinstance(loop, bool) or loop < 0):
        raise FormatError(
            "field 'loop' must be a count of steps, 0 or more: those after which the trace "
            "goes round"
        )
    return Counterexample(
        scenario=scenario,
        variants=_distinct(_strings(data.get("variants", []), "field 'variants'"), "variants"),
        properties=properties,
        property=prop,
        message=_field(data, "message", str, "counterexample"),
        threads=threads,
        steps=steps,
        witness=dict(witness),
        cycle=tuple(cycle),
        blocked=blocked,
        started=started,
        addresses=addresses,
        models=models,
        loop=loop,
        edited=_edited(data),
        undigested=data.get("digest") is None,
    )


def _edited(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` has a ``digest`` its other fields do not give."""
    digest = data.get("digest")
    if digest is None:
        return False
    if not isinstance(digest, str):
        raise FormatError("field 'digest' must be a string")
    return digest != canonical_digest({k: v for k, v in data.items() if k != "digest"})


def load(path: Path) -> Counterexample:
    """Read a counterexample file; ``FormatError`` names the file and what
    is wrong with it, in one line: also a file that is no regular file (a
    FIFO, a device) or larger than ``mc.text_files.LARGEST`` bytes, which no
    counterexample is, before reading it (``mc.text_files.read_text``)."""
    try:
        text = read_text(path, "a counterexample file")
    except UnreadableText as error:
        raise FormatError(str(error)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        what = error.msg.removesuffix(" at")
        where = f"line {error.lineno}, column {error.colno}"
        raise FormatError(f"{path}: not JSON ({what} at {where})") from None
    except RecursionError:
        raise FormatError(f"{path}: not a counterexample (nested too deeply)") from None
    except ValueError as error:
        raise FormatError(f"{path}: not JSON ({str(error).split(':')[0]})") from None
    try:
        return from_json(data)
    except FormatError as error:
        raise FormatError(f"{path}: {error}") from None
