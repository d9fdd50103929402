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
      "models": ["../link_order.py"]         # optional: model files outside vfsmc
    }

Each step is one atomic step of a model.  A step with ``"chained": false``
is a scheduling choice: thread ``thread`` runs outcome ``branch`` of its
current step; the ``"chained": true`` steps after it are local steps of the
same thread that run along with it.  ``changed`` holds only the state fields
the step changed, rendered as text.  ``cycle`` is empty unless the property
is ``deadlock``.  ``models`` (optional, absent when only shipped models
were used) names the model files the scenario or a variant came from,
relative to the counterexample file's directory, so replay loads them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mc.atomic_write import write_atomically
from mc.trace.events import Edge, Event, Step

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
    models: tuple[str, ...] = ()
    """Model files outside vfsmc it needs, relative to the file's directory."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this counterexample."""
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
            "steps": [attrs.asdict(step) for step in self.steps],
            "cycle": [attrs.asdict(edge) for edge in self.cycle],
            **({"models": list(self.models)} if self.models else {}),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1) + "\n"

    def save(self, path: Path) -> None:
        """Write the counterexample to ``path`` atomically."""
        write_atomically(path, self.dumps())


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise FormatError(f"{where}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise FormatError(f"{where}: field {name!r} must be {expected}")
    return value


def _strings(values: Any, where: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise FormatError(f"{where} must be a list of strings")
    return tuple(values)


def from_json(data: Any) -> Counterexample:
    """Parse and validate a counterexample object."""
    if not isinstance(data, dict):
        raise FormatError("not a JSON object")
    if data.get("format") != FORMAT:
        raise FormatError(f"field 'format' must be {FORMAT!r}")
    if data.get("version") != VERSION:
        raise FormatError(
            f"unsupported version {data.get('version')!r} (this vfsmc reads {VERSION})"
        )
    threads = []
    for i, thread in enumerate(_field(data, "threads", list, "counterexample")):
        where = f"threads[{i}]"
        if not isinstance(thread, dict):
            raise FormatError(f"{where} must be an object")
        threads.append(
            (_field(thread, "name", str, where), _field(thread, "operation", str, where))
        )
    steps = []
    for i, raw in enumerate(_field(data, "steps", list, "counterexample")):
        where = f"steps[{i}]"
        if not isinstance(raw, dict):
            raise FormatError(f"{where} must be an object")
        event = _field(raw, "event", dict, where)
        changed = _field(raw, "changed", dict, where)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in changed.items()):
            raise FormatError(f"{where}: 'changed' must map names to strings")
        steps.append(
            Step(
                thread=_field(raw, "thread", str, where),
                branch=_field(raw, "branch", int, where),
                chained=_field(raw, "chained", bool, where),
                operation=_field(raw, "operation", str, where),
                label=_field(raw, "label", str, where),
                event=Event(
                    _field(event, "kind", str, f"{where}.event"),
                    _field(event, "text", str, f"{where}.event"),
                    event.get("lock"),
                    event.get("mode"),
                ),
                source=_field(raw, "source", str, where),
                function=_field(raw, "function", str, where),
                changed=dict(changed),
            )
        )
    if steps and steps[0].chained:
        raise FormatError("steps[0] cannot be chained")
    cycle = []
    for i, edge in enumerate(data.get("cycle", [])):
        where = f"cycle[{i}]"
        if not isinstance(edge, dict):
            raise FormatError(f"{where} must be an object")
        cycle.append(Edge(*(_field(edge, k, str, where) for k in ("waiter", "resource", "holder"))))
    witness = data.get("witness", {})
    if not isinstance(witness, dict):
        raise FormatError("field 'witness' must be an object")
    return Counterexample(
        scenario=_field(data, "scenario", str, "counterexample"),
        variants=_strings(data.get("variants", []), "field 'variants'"),
        properties=_strings(
            _field(data, "properties", list, "counterexample"), "field 'properties'"
        ),
        property=_field(data, "property", str, "counterexample"),
        message=_field(data, "message", str, "counterexample"),
        threads=tuple(threads),
        steps=tuple(steps),
        witness=witness,
        cycle=tuple(cycle),
        models=_strings(data.get("models", []), "field 'models'"),
    )


def load(path: Path) -> Counterexample:
    """Read a counterexample file; ``FormatError`` names what is wrong."""
    try:
        text = path.read_text()
    except OSError as error:
        raise FormatError(f"cannot read {path}: {error.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise FormatError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    try:
        return from_json(data)
    except FormatError as error:
        raise FormatError(f"{path}: {error}") from None
