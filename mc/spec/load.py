"""Reading a rules file back, checked against its schema: a malformed file
gives one ``SpecError`` naming the file, the table, the method and the
field."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mc.project import SPECS
from mc.spec.model import FORMAT, VERSION, Method, Rule, Spec, Table
from mc.text_files import TOML_LARGEST, UnreadableText, read_text

DEFAULT_PATH = SPECS / "locking.toml"

TABLE_FIELDS = {"title", "columns", "blocking", "notes", "footnotes", "rules", "methods"}
METHOD_FIELDS = {"prototype", "cells"}
RULE_FIELDS = {"methods", "text", "lock", "mode", "object", "when", "context", "may_block"}
RULE_MODES = {"exclusive", "shared", "held", "clear"}
"""How a rule needs its lock held, or ``clear``: a flag of the object is not set."""
RULE_CONTEXTS = {"interrupt", "rcu"}


class SpecError(ValueError):
    """A rules file (or one of the files beside it) that does not follow its
    schema; the message is one line naming the place."""


class _Checker:
    def __init__(self, path: Path | str) -> None:
        self.path = path

    def fail(self, problem: str, *parts: str) -> SpecError:
        place = ", ".join(p for p in parts if p)
        return SpecError(f"{self.path}: {place}: {problem}" if place else f"{self.path}: {problem}")

    def string(self, value: Any, *parts: str) -> str:
        if not isinstance(value, str):
            raise self.fail(f"must be a string, not {_kind(value)}", *parts)
        return value

    def strings(self, value: Any, *parts: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail("must be a list of strings", *parts)
        return tuple(value)

    def pairs(self, value: Any, *parts: str) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.fail("must be a table of strings", *parts)
        return tuple(value.items())

    def table_of(self, value: Any, *parts: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"must be a table, not {_kind(value)}", *parts)
        return value

    def known(self, value: Mapping[str, Any], allowed: set[str], *parts: str) -> None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"unknown field {unknown[0]!r}", *parts)


def _kind(value: Any) -> str:
    return {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; unreadable or malformed files are ``SpecError``."""
    try:
        text = read_text(path, "a TOML file", TOML_LARGEST)
    except UnreadableText as error:
        raise SpecError(str(error)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not TOML: {error}") from None
    except RecursionError:
        raise SpecError(f"{path}: not TOML vfsmc can read: nested too deeply") from None
    except ValueError as error:
        reason = str(error).split(":")[0]
        raise SpecError(f"{path}: not TOML vfsmc can read: {reason}") from None


def _rule(check: _Checker, raw: Any, table: str, index: int, methods: set[str]) -> Rule:
    t = f"table {table}"
    r = f"rule {index + 1}"
    data = check.table_of(raw, t, r)
    check.known(data, RULE_FIELDS, t, r)
    if "methods" not in data or "text" not in data:
        missing = "methods" if "methods" not in data else "text"
        raise check.fail("missing", t, r, f"field {missing}")
    names = check.strings(data["methods"], t, r, "field methods")
    for name in names:
        if name not in methods:
            raise check.fail(f"names {name!r}, which is not a method of the table", t, r)
    optional = {}
    for name in ("lock", "mode", "object", "when", "context"):
        if name in data:
            optional[name] = check.string(data[name], t, r, f"field {name}")
    if "mode" in optional and optional["mode"] not in RULE_MODES:
        raise check.fail(f"must be one of {', '.join(sorted(RULE_MODES))}", t, r, "field mode")
    if "context" in optional and optional["context"] not in RULE_CONTEXTS:
        allowed = ", ".join(sorted(RULE_CONTEXTS))
        raise check.fail(f"must be one of {allowed}", t, r, "field context")
    if ("lock" in optional) != ("mode" in optional):
        raise check.fail("a rule gives both lock and mode, or neither", t, r)
    may_block = data.get("may_block")
    if may_block is not None and not isinstance(may_block, bool):
        raise check.fail("must be true or false", t, r, "field may_block")
    if "lock" not in optional and "context" not in optional and may_block is None:
        raise check.fail("a rule needs a lock, a context or may_block", t, r)
    return Rule(
        methods=names,
        text=check.string(data["text"], t, r, "field text"),
        may_block=may_block,
        **optional,
    )


def _method(check: _Checker, raw: Any, table: str, name: str, columns: set[str]) -> Method:
    t, m = f"table {table}", f"method {name}"
    data = check.table_of(raw, t, m)
    check.known(data, METHOD_FIELDS, t, m)
    prototype = data.get("prototype")
    if prototype is not None:
        check.string(prototype, t, m, "field prototype")
        if f"{name})" not in prototype.replace(" ", ""):
            raise check.fail(f"does not declare (*{name})", t, m, "field prototype")
    cells = None
    if "cells" in data:
        cells = check.pairs(data["cells"], t, m, "field cells")
        for column, _ in cells:
            if column not in columns:
                raise check.fail(f"names column {column!r}, not one of the table's", t, m)
    if prototype is None and cells is None:
        raise check.fail("has neither a prototype nor a row", t, m)
    return Method(name, prototype, cells)


def _table(check: _Checker, raw: Any, name: str) -> Table:
    t = f"table {name}"
    data = check.table_of(raw, t)
    check.known(data, TABLE_FIELDS, t)
    for required in ("title", "columns", "methods"):
        if required not in data:
            raise check.fail("missing", t, f"field {required}")
    columns = check.strings(data["columns"], t, "field columns")
    raw_methods = check.table_of(data["methods"], t, "field methods")
    methods = tuple(
        _method(check, value, name, method, set(columns)) for method, value in raw_methods.items()
    )
    names = {m.name for m in methods}
    rules_raw = data.get("rules", [])
    if not isinstance(rules_raw, list):
        raise check.fail("must be an array of tables", t, "field rules")
    blocking = data.get("blocking")
    return Table(
        name=name,
        title=check.string(data["title"], t, "field title"),
        columns=columns,
        blocking=None if blocking is None else check.string(blocking, t, "field blocking"),
        methods=methods,
        rules=tuple(_rule(check, r, name, i, names) for i, r in enumerate(rules_raw)),
        notes=check.strings(data.get("notes", []), t, "field notes"),
        footnotes=check.pairs(data.get("footnotes", {}), t, "field footnotes"),
    )


def from_data(data: Mapping[str, Any], path: Path | str) -> Spec:
    """Validate parsed TOML as a rules file."""
    check = _Checker(path)
    check.known(data, {"format", "version", "source", "title", "preamble", "dubious", "tables"})
    if data.get("format") != FORMAT:
        raise check.fail(f"field format must be {FORMAT!r}")
    if data.get("version") != VERSION:
        raise check.fail(
            f"unsupported version {data.get('version')!r} (this vfsmc reads {VERSION})"
        )
    tables = check.table_of(data.get("tables"), "field tables")
    return Spec(
        source=check.string(data.get("source"), "field source"),
        title=check.string(data.get("title", ""), "field title"),
        tables=tuple(_table(check, raw, name) for name, raw in tables.items()),
        preamble=check.strings(data.get("preamble", []), "field preamble"),
        dubious=check.strings(data.get("dubious", []), "field dubious"),
    )


def load(path: Path = DEFAULT_PATH) -> Spec:
    """Read and validate a rules file."""
    return from_data(read_toml(path), path)
