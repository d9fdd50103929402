"""What changed between two versions of the rules: tables and methods
added or removed, prototypes changed, cells changed (lock modes among
them), prose rules added or removed."""

from __future__ import annotations

import attrs

from mc.spec.model import Spec, Table
from mc.spec.vocabulary import Vocabulary


@attrs.frozen
class Change:
    """One difference.  ``kind`` is table-added, table-removed,
    method-added, method-removed, prototype-changed, row-added, row-removed,
    cell-changed, lock-mode-changed, blocking-changed, columns-changed,
    rule-added or rule-removed."""

    kind: str
    where: str
    before: str | None = None
    after: str | None = None

    def __str__(self) -> str:
        mark = {"added": "+", "removed": "-"}.get(self.kind.rsplit("-", 1)[-1], "~")
        if self.before is not None and self.after is not None:
            return f"{mark} {self.where}: {self.before} -> {self.after} [{self.kind}]"
        detail = self.after if self.after is not None else self.before
        return f"{mark} {self.where}{': ' + detail if detail else ''} [{self.kind}]"


def _cells(cells: tuple[tuple[str, str], ...] | None) -> str:
    if cells is None:
        return "no row"
    return ", ".join(f"{c} = {v}" for c, v in cells) or "empty row"


def _table(old: Table, new: Table, vocabulary: Vocabulary) -> list[Change]:
    changes = []
    if old.columns != new.columns:
        changes.append(
            Change("columns-changed", new.name, ", ".join(old.columns), ", ".join(new.columns))
        )
    if old.blocking != new.blocking:
        changes.append(
            Change("blocking-changed", new.name, old.blocking or "none", new.blocking or "none")
        )
    before = {m.name: m for m in old.methods}
    after = {m.name: m for m in new.methods}
    for name, method in before.items():
        if name not in after:
            changes.append(Change("method-removed", f"{new.name}.{name}", _cells(method.cells)))
    for name, method in after.items():
        where = f"{new.name}.{name}"
        if name not in before:
            changes.append(Change("method-added", where, after=_cells(method.cells)))
            continue
        was = before[name]
        if was.prototype != method.prototype:
            before_text, after_text = was.prototype or "none", method.prototype or "none"
            changes.append(Change("prototype-changed", where, before_text, after_text))
        if (was.cells is None) != (method.cells is None):
            kind = "row-added" if was.cells is None else "row-removed"
            changes.append(Change(kind, where, _cells(was.cells), _cells(method.cells)))
            continue
        old_cells, new_cells = dict(was.cells or ()), dict(method.cells or ())
        for column in dict.fromkeys([*old_cells, *new_cells]):
            a, b = old_cells.get(column), new_cells.get(column)
            if a == b:
                continue
            known = vocabulary.column(new.name, column)
            lock = known is not None and known.kind == "lock"
            kind = "lock-mode-changed" if lock else "cell-changed"
            changes.append(Change(kind, f"{where} {column}", a or "empty", b or "empty"))
    old_rules = {r.text: r for r in old.rules}
    new_rules = {r.text: r for r in new.rules}
    for text in old_rules:
        if text not in new_rules:
            changes.append(Change("rule-removed", new.name, text))
    for text in new_rules:
        if text not in old_rules:
            changes.append(Change("rule-added", new.name, after=text))
    return changes


def diff(old: Spec, new: Spec, vocabulary: Vocabulary) -> list[Change]:
    """The differences from ``old`` to ``new``."""
    changes: list[Change] = []
    for table in old.tables:
        if new.table(table.name) is None:
            changes.append(Change("table-removed", table.name, f"{len(table.methods)} methods"))
    for table in new.tables:
        was = old.table(table.name)
        if was is None:
            changes.append(Change("table-added", table.name, after=f"{len(table.methods)} methods"))
        else:
            changes.extend(_table(was, table, vocabulary))
    return changes


def summary(changes: list[Change]) -> str:
    """``method-added: 3, lock-mode-changed: 2, ...``"""
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    if not counts:
        return "no changes"
    return ", ".join(f"{kind}: {n}" for kind, n in counts.items())
