"""The locking rules as data: for every table of the document, its methods
(prototype and the cells of their row) and the rules its prose states."""

from __future__ import annotations

import re

import attrs

FORMAT = "vfsmc-locking-rules"
VERSION = 1

SEE_BELOW = re.compile(r"\s*\(see below\)")
FOOTNOTE_MARK = re.compile(r"\[(\w+)\]_")


@attrs.frozen
class Cell:
    """One cell of a method's row, as the document writes it.  ``value`` is
    the text without ``(see below)`` and footnote marks: what the
    vocabulary gives a meaning to."""

    text: str
    value: str
    see_below: bool
    footnotes: tuple[str, ...]


def parse_cell(text: str) -> Cell:
    """Split a cell's text into its value, its ``(see below)`` and its
    footnote references (``maybe[1]_``)."""
    see_below = bool(SEE_BELOW.search(text))
    footnotes = tuple(FOOTNOTE_MARK.findall(text))
    value = FOOTNOTE_MARK.sub("", SEE_BELOW.sub("", text))
    return Cell(text, " ".join(value.split()), see_below, footnotes)


@attrs.frozen
class Rule:
    """A rule the prose states about some methods of a table, in the
    document's words: ``lock`` held in ``mode`` on ``object`` (``when``
    something holds), or a calling ``context`` (interrupt, rcu) and whether
    the method may block there."""

    methods: tuple[str, ...]
    text: str
    lock: str | None = None
    mode: str | None = None
    object: str | None = None
    when: str | None = None
    context: str | None = None
    may_block: bool | None = None


@attrs.frozen
class Method:
    """A method of a table: its prototype (None when the document gives
    none) and its row (None when the table has no row for it)."""

    name: str
    prototype: str | None
    cells: tuple[tuple[str, str], ...] | None

    def cell(self, column: str) -> Cell | None:
        """The cell in ``column``, or None when empty."""
        for name, text in self.cells or ():
            if name == column:
                return parse_cell(text)
        return None


@attrs.frozen
class Table:
    """One table of the document (``inode_operations``)."""

    name: str
    title: str
    columns: tuple[str, ...]
    blocking: str | None
    """The line under "locking rules:" (``all may block``)."""
    methods: tuple[Method, ...]
    rules: tuple[Rule, ...] = ()
    notes: tuple[str, ...] = ()
    """Prose kept as text: what no rule was recognised in."""
    footnotes: tuple[tuple[str, str], ...] = ()

    def method(self, name: str) -> Method | None:
        for method in self.methods:
            if method.name == name:
                return method
        return None


@attrs.frozen
class Spec:
    """The locking rules of one version of the document."""

    source: str
    title: str
    tables: tuple[Table, ...]
    preamble: tuple[str, ...] = ()
    dubious: tuple[str, ...] = ()

    def table(self, name: str) -> Table | None:
        for table in self.tables:
            if table.name == name:
                return table
        return None

    def methods(self) -> list[tuple[Table, Method]]:
        """Every method of every table, in document order."""
        return [(table, method) for table in self.tables for method in table.methods]
