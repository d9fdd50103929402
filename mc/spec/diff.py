"""What changed between two versions of the rules, in one vocabulary of
change kinds (``KINDS``): tables and methods added, removed or renamed,
prototypes changed (whitespace aside), rows added or removed, columns
renamed (reported once, the cells then compared under the new name),
cells changed, the blocking line changed, prose rules added, removed,
changed or reworded (paired by the methods and lock they name), and prose
kept as text that changed, by the method it names."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

import attrs

from mc.spec.model import Method, Rule, Spec, Table, parse_cell
from mc.spec.vocabulary import Vocabulary

KINDS = (
    "table-added",
    "table-removed",
    "column-renamed",
    "columns-changed",
    "blocking-changed",
    "method-added",
    "method-removed",
    "method-renamed",
    "prototype-changed",
    "row-added",
    "row-removed",
    "cell-changed",
    "rule-added",
    "rule-removed",
    "rule-changed",
    "prose-changed",
)
"""Every kind of change, in the order a table's changes are listed."""

RENAMED_PROTOTYPE = 0.6
"""How alike two prototypes must be (difflib's ratio) for a method removed
and one added with the same row to be taken for a rename."""
METHOD_MENTION = re.compile(r"->\s*(\w+)\s*\(|\b(\w+)\(\)")


@attrs.frozen
class Change:
    """One difference; ``kind`` is one of ``KINDS``; ``detail`` qualifies it
    (``lock mode`` when a cell's lock mode changed)."""

    kind: str
    where: str
    before: str | None = None
    after: str | None = None
    detail: str | None = None

    def __str__(self) -> str:
        mark = {"added": "+", "removed": "-"}.get(self.kind.rsplit("-", 1)[-1], "~")
        kind = f"{self.kind}, {self.detail}" if self.detail else self.kind
        if self.before is not None and self.after is not None:
            return f"{mark} {self.where}: {self.before} -> {self.after} [{kind}]"
        text = self.after if self.after is not None else self.before
        return f"{mark} {self.where}{': ' + text if text else ''} [{kind}]"


def _cells(cells: tuple[tuple[str, str], ...] | None) -> str:
    if cells is None:
        return "no row"
    return ", ".join(f"{c} = {v}" for c, v in cells) or "empty row"


def _prototype(text: str | None) -> str:
    """A prototype with whitespace normalised: runs collapsed, none next to
    punctuation."""
    if text is None:
        return ""
    collapsed = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s*([(),*;])\s*", r"\1", collapsed)


def column_renames(old: Table, new: Table) -> dict[str, str]:
    """Old column -> new column for the columns only one side has, paired
    when the cells under them agree on at least half of the methods both
    tables have (or, with no such method, by position)."""
    gone = [c for c in old.columns if c not in new.columns]
    came = [c for c in new.columns if c not in old.columns]
    shared = [m.name for m in new.methods if old.method(m.name) is not None]
    scores = []
    for a in gone:
        for b in came:
            agree = sum(_cell(old.method(name), a) == _cell(new.method(name), b) for name in shared)
            positional = old.columns.index(a) == new.columns.index(b)
            score = agree / len(shared) if shared else float(positional)
            if score >= 0.5:
                scores.append((score, positional, a, b))
    renames: dict[str, str] = {}
    for _score, _positional, a, b in sorted(scores, key=lambda s: (-s[0], not s[1], s[2], s[3])):
        if a not in renames and b not in renames.values():
            renames[a] = b
    return renames


def _cell(method: Method | None, column: str) -> str | None:
    return None if method is None else dict(method.cells or ()).get(column)


def _method_renames(old: Table, new: Table) -> dict[str, str]:
    """Old name -> new name for a method removed and one added whose rows
    say the same and whose prototypes are alike."""
    gone = [m for m in old.methods if new.method(m.name) is None]
    came = [m for m in new.methods if old.method(m.name) is None]
    pairs: list[tuple[float, str, str]] = []
    for a in gone:
        for b in came:
            if a.cells is not None and b.cells is not None and a.cells != b.cells:
                continue
            likeness = difflib.SequenceMatcher(
                None,
                _prototype(a.prototype).replace(a.name, "#"),
                _prototype(b.prototype).replace(b.name, "#"),
            ).ratio()
            if likeness >= RENAMED_PROTOTYPE:
                pairs.append((likeness, a.name, b.name))
    renames: dict[str, str] = {}
    for _likeness, before, after in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        if before not in renames and after not in renames.values():
            renames[before] = after
    return renames


def _mentioned(text: str, methods: Iterable[str]) -> tuple[str, ...]:
    names = set(methods)
    found = []
    for match in METHOD_MENTION.finditer(text):
        name = match.group(1) or match.group(2)
        if name in names and name not in found:
            found.append(name)
    return tuple(found)


def _prose(old: Table, new: Table, renamed: Mapping[str, str]) -> list[Change]:
    """Paragraphs of prose kept as text, paired by the methods they name."""
    methods = {m.name for m in (*old.methods, *new.methods)}
    before: dict[tuple[str, ...], list[str]] = {}
    after: dict[tuple[str, ...], list[str]] = {}
    for note in old.notes:
        key = tuple(renamed.get(name, name) for name in _mentioned(note, methods))
        before.setdefault(key, []).append(" ".join(note.split()))
    for note in new.notes:
        after.setdefault(_mentioned(note, methods), []).append(" ".join(note.split()))
    changes = []
    for key in dict.fromkeys([*before, *after]):
        was, now = before.get(key, []), after.get(key, [])
        if sorted(was) == sorted(now):
            continue
        where = ", ".join(f"{new.name}.{name}" for name in key) or f"{new.name} (prose)"
        removed = [text for text in was if text not in now]
        added = [text for text in now if text not in was]
        changes.append(
            Change(
                "prose-changed", where, " / ".join(removed) or "none", " / ".join(added) or "none"
            )
        )
    return changes


def _table(old: Table, new: Table, vocabulary: Vocabulary) -> list[Change]:
    changes: list[Change] = []
    columns = column_renames(old, new)
    for a, b in columns.items():
        changes.append(Change("column-renamed", new.name, a, b))
    remaining_old = [c for c in old.columns if c not in columns]
    remaining_new = [c for c in new.columns if c not in columns.values()]
    if sorted(remaining_old) != sorted(remaining_new):
        changes.append(
            Change("columns-changed", new.name, ", ".join(old.columns), ", ".join(new.columns))
        )
    if old.blocking != new.blocking:
        changes.append(
            Change("blocking-changed", new.name, old.blocking or "none", new.blocking or "none")
        )
    renamed = _method_renames(old, new)
    for was_name, name in renamed.items():
        changes.append(Change("method-renamed", f"{new.name}.{was_name}", was_name, name))
    for method in old.methods:
        if new.method(method.name) is None and method.name not in renamed:
            changes.append(
                Change("method-removed", f"{new.name}.{method.name}", _cells(method.cells))
            )
    earlier = {renamed.get(m.name, m.name): m for m in old.methods}
    for method in new.methods:
        where = f"{new.name}.{method.name}"
        was = earlier.get(method.name)
        if was is None:
            changes.append(Change("method-added", where, after=_cells(method.cells)))
            continue
        if _prototype(was.prototype) != _prototype(method.prototype):
            before_text, after_text = was.prototype or "none", method.prototype or "none"
            changes.append(Change("prototype-changed", where, before_text, after_text))
        if (was.cells is None) != (method.cells is None):
            kind = "row-added" if was.cells is None else "row-removed"
            changes.append(Change(kind, where, _cells(was.cells), _cells(method.cells)))
            continue
        changes.extend(_row(new.name, where, was, method, columns, vocabulary))
    changes.extend(_rules(old, new, renamed))
    changes.extend(_prose(old, new, renamed))
    return changes


def _rule_key(rule: Rule, renamed: Mapping[str, str]) -> tuple[object, ...]:
    methods = tuple(renamed.get(name, name) for name in rule.methods)
    return (methods, rule.lock, rule.object, rule.context)


def _rule_text(rule: Rule) -> str:
    parts = [f"{rule.lock} {rule.mode}" if rule.lock else "", rule.object or "", rule.when or ""]
    if rule.context:
        parts.append(f"in {rule.context}, may block: {rule.may_block}")
    return " ".join(p for p in parts if p) or rule.text


def _rules(old: Table, new: Table, renamed: Mapping[str, str]) -> list[Change]:
    """Prose rules paired by the methods, lock, object and context they
    name: what they require changed, only their wording, or they came or went."""
    before = {_rule_key(r, renamed): r for r in old.rules}
    after = {_rule_key(r, {}): r for r in new.rules}
    shared = {
        " ".join(text.split())
        for rules in (old.rules, new.rules)
        for text in {r.text for r in rules if sum(o.text == r.text for o in rules) > 1}
    }

    def said(rule: Rule) -> str:
        """The rule's text, with what it requires first when its sentence
        states other rules too."""
        text = " ".join(rule.text.split())
        return f"{_rule_text(rule)}: {rule.text}" if text in shared else rule.text

    changes = []
    for key, rule in before.items():
        now = after.get(key)
        where = ", ".join(f"{new.name}.{name}" for name in rule.methods) or new.name
        if now is None:
            changes.append(Change("rule-removed", where, said(rule)))
        elif (rule.mode, rule.when, rule.may_block) != (now.mode, now.when, now.may_block):
            changes.append(Change("rule-changed", where, _rule_text(rule), _rule_text(now)))
        elif " ".join(rule.text.split()) != " ".join(now.text.split()):
            changes.append(Change("prose-changed", where, rule.text, now.text, "rule reworded"))
    for key, rule in after.items():
        if key not in before:
            where = ", ".join(f"{new.name}.{name}" for name in rule.methods) or new.name
            changes.append(Change("rule-added", where, after=said(rule)))
    return changes


def _row(
    table: str,
    where: str,
    was: Method,
    method: Method,
    columns: Mapping[str, str],
    vocabulary: Vocabulary,
) -> list[Change]:
    old_cells = {columns.get(c, c): v for c, v in was.cells or ()}
    new_cells = dict(method.cells or ())
    changes = []
    for column in dict.fromkeys([*old_cells, *new_cells]):
        a, b = old_cells.get(column), new_cells.get(column)
        if a == b or (a and b and " ".join(a.split()) == " ".join(b.split())):
            continue
        known = vocabulary.column(table, column)
        detail = None
        if known is not None and known.kind == "lock" and a and b:
            modes = [known.values.get(parse_cell(v).value) for v in (a, b)]
            if None not in modes and modes[0] != modes[1]:
                detail = "lock mode"
        changes.append(
            Change("cell-changed", f"{where} {column}", a or "empty", b or "empty", detail)
        )
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
    """``method-added: 3, cell-changed: 2, ...`` in the order of ``KINDS``."""
    counts = {kind: sum(c.kind == kind for c in changes) for kind in KINDS}
    shown = [f"{kind}: {n}" for kind, n in counts.items() if n]
    return ", ".join(shown) if shown else "no changes"
