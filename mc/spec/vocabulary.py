"""What vfsmc understands of the document's tables (``specs/vocabulary.toml``):
the kind of each column, the values it may hold and what each requires, and
where the flattened text leaves a cell's column open, the column it is in."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mc.project import SPECS
from mc.spec.load import SpecError, read_toml
from mc.spec.model import parse_cell

DEFAULT_PATH = SPECS / "vocabulary.toml"

LOCK_NEEDS = {
    "held",
    "exclusive",
    "not-held",
    "not-exclusive",
    "not-shared",
    "not-required",
    "any",
    "on-exit",
}
BLOCKING = {"may-block", "never-blocks", "blocks-only-in-ref-walk", "unknown"}
RCU_WALK = {"rcu-walk-ok", "no-rcu-walk"}
KINDS: dict[str, set[str]] = {
    "lock": LOCK_NEEDS | BLOCKING,
    "may-block": BLOCKING,
    "rcu-walk": RCU_WALK,
    "text": BLOCKING | LOCK_NEEDS | {"text"},
}
CONDITIONS = (
    "directory",
    "non-directory",
    "cross-directory",
    "exchange",
    "not exchange",
    "O_CREAT",
)
"""What a rule may depend on, of the call's objects and arguments: the
object a directory or not, the call across directories (``old_dir`` and
``new_dir`` differ), RENAME_EXCHANGE in ``flags``, O_CREAT in
``open_flag``."""


def parse_token(token: str) -> tuple[str, tuple[str, ...]]:
    """``exclusive if O_CREAT`` -> the meaning and the conditions under
    which it applies."""
    meaning, _, rest = token.partition(" if ")
    conditions = tuple(c.strip() for c in rest.split(" and ")) if rest else ()
    return meaning.strip(), conditions


@attrs.frozen
class Column:
    """A column of a table: its kind and the meaning of each known value,
    and where a method's value means something else than the column's (the
    document's "no" is "not required" in a column, "must not be held" for
    a method that takes the lock itself), that method's meanings."""

    kind: str
    values: Mapping[str, tuple[str, ...]]
    methods: Mapping[str, Mapping[str, tuple[str, ...]]] = attrs.field(factory=dict)

    def meaning(self, value: str, method: str | None = None) -> tuple[str, ...] | None:
        if method is not None and value in self.methods.get(method, {}):
            return self.methods[method][value]
        return self.values.get(value)


@attrs.frozen
class Vocabulary:
    """Every table's columns, and the placement of cells the flattened text
    cannot tell."""

    columns: Mapping[tuple[str, str], Column]
    placements: Mapping[tuple[str, str], tuple[str, ...]]

    def column(self, table: str, column: str) -> Column | None:
        return self.columns.get((table, column))

    def fit(self, table: str, column: str, text: str) -> int:
        """How well a cell's text fits a column: 2 a known value, 1 a column
        of free text, 0 not at all."""
        known = self.column(table, column)
        if known is None:
            return 1
        value = parse_cell(text).value
        if not value or value in known.values:
            return 2
        return 1 if known.kind == "text" else 0

    def placement(self, table: str, method: str) -> tuple[str, ...] | None:
        """The columns a row's cells are in, when recorded."""
        return self.placements.get((table, method))

    def is_known_value(self, table: str, text: str) -> bool:
        """Whether ``text`` is a known value of some column of ``table``."""
        value = parse_cell(text).value
        return any(value in c.values for (t, _), c in self.columns.items() if t == table)


EMPTY = Vocabulary({}, {})


def _meaning(raw: Any, kind: str, fail: Any) -> tuple[str, ...]:
    tokens = (raw,) if isinstance(raw, str) else raw
    if not isinstance(tokens, list | tuple) or not all(isinstance(t, str) for t in tokens):
        raise fail("must be a meaning or a list of meanings")
    for token in tokens:
        meaning, conditions = parse_token(token)
        if meaning not in KINDS[kind]:
            raise fail(f"unknown meaning {token!r} for a {kind} column")
        for condition in conditions:
            if condition not in CONDITIONS:
                raise fail(f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})")
    return tuple(tokens)


def from_data(data: Mapping[str, Any], path: Path | str) -> Vocabulary:
    """Validate parsed TOML as a vocabulary."""
    unknown = set(data) - {"tables"}
    if unknown:
        raise SpecError(f"{path}: unknown field {sorted(unknown)[0]!r}")
    tables = data.get("tables", {})
    if not isinstance(tables, dict):
        raise SpecError(f"{path}: field tables must be a table")
    columns: dict[tuple[str, str], Column] = {}
    placements: dict[tuple[str, str], tuple[str, ...]] = {}
    for table, raw in tables.items():
        t = f"table {table}"
        if not isinstance(raw, dict) or set(raw) - {"columns", "placement"}:
            raise SpecError(f"{path}: {t}: holds only columns and placement")
        raw_columns = raw.get("columns", {})
        if not isinstance(raw_columns, dict):
            raise SpecError(f"{path}: {t}, field columns: must be a table")
        for name, col in raw_columns.items():
            c = f"column {name}"

            def fail(problem: str, *more: str, t: str = t, c: str = c) -> SpecError:
                return SpecError(f"{path}: {', '.join((t, c, *more))}: {problem}")

            if not isinstance(col, dict) or set(col) - {"kind", "values", "methods"}:
                raise fail("holds only kind, values and methods")
            kind = col.get("kind")
            if not isinstance(kind, str) or kind not in KINDS:
                raise fail(f"must be one of {', '.join(sorted(KINDS))}", "field kind")
            values = col.get("values", {})
            if not isinstance(values, dict):
                raise fail("must be a table", "field values")
            by_method: dict[str, dict[str, tuple[str, ...]]] = {}
            raw_methods = col.get("methods", {})
            if not isinstance(raw_methods, dict):
                raise fail("must be a table", "field methods")
            for method, overrides in raw_methods.items():
                if not isinstance(overrides, dict):
                    raise fail("must be a table of values", f"method {method}")
                for value in overrides:
                    if value not in values:
                        raise fail(f"{value!r} is not a value of the column", f"method {method}")
                by_method[method] = {
                    value: _meaning(
                        meaning,
                        kind,
                        lambda problem, m=method, v=value: fail(
                            problem, f"method {m}", f"value {v!r}"
                        ),
                    )
                    for value, meaning in overrides.items()
                }
            columns[(table, name)] = Column(
                kind,
                {
                    value: _meaning(
                        meaning,
                        kind,
                        lambda problem, v=value: fail(problem, f"value {v!r}"),
                    )
                    for value, meaning in values.items()
                },
                by_method,
            )
        raw_placement = raw.get("placement", {})
        if not isinstance(raw_placement, dict):
            raise SpecError(f"{path}: {t}, field placement: must be a table")
        for method, placed in raw_placement.items():
            if not isinstance(placed, list) or not all(isinstance(p, str) for p in placed):
                raise SpecError(f"{path}: {t}, placement {method}: must be a list of columns")
            for name in placed:
                if (table, name) not in columns:
                    raise SpecError(
                        f"{path}: {t}, placement {method}: {name!r} is not a column of the table"
                    )
            placements[(table, method)] = tuple(placed)
    return Vocabulary(columns, placements)


def load(path: Path = DEFAULT_PATH) -> Vocabulary:
    """Read and validate the vocabulary."""
    return from_data(read_toml(path), path)
