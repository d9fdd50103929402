"""Reading Documentation/filesystems/locking.rst into sections of
prototypes, a table and prose, from either form it comes in:

- the reStructuredText of a kernel tree, whose simple tables align each
  cell under its column;
- the flattened text (each table cell on its own line, empty cells gone),
  where a row with fewer cells than columns leaves open which columns they
  are in: the vocabulary's known values decide, and where two columns take
  the same values, its recorded placement.

Whatever cannot be read exactly is a ``Finding``: reported, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from mc.spec.vocabulary import EMPTY, Vocabulary

PROTOTYPE_START = re.compile(r"\(\*\s*(\w+)\s*\)\s*\(")
ROW_NAME = re.compile(r"^([A-Za-z_]\w*)(:?)$")
RST_BORDER = re.compile(r"^=+(?:[ ]+=+)+[ ]*$")
RST_UNDERLINE = re.compile(r"^(=+|-+|~+|\^+)$")
RST_FOOTNOTE = re.compile(r"^\.\.\s+\[(\w+)\]:?\s*(.*)$")
METHOD_REFERENCE = re.compile(r"->(\w+)\(\)")
BLOCKING_NOTE = re.compile(r"\bmay block\b", re.IGNORECASE)
DUBIOUS = "dubious stuff"
DOCUMENT_LINK = re.compile(r"\bDocumentation/(?:[\w-]+/)*([\w-]+)\.rst\b")
"""A path to another document, which the documentation site renders as a
link named by that document's title (``directory-locking.rst``: Directory
Locking): the file name stands for the title."""
RST_EMPTY_CELLS = frozenset({"-", "*", "+"})
"""Cells that are an empty bullet list in reStructuredText (``mark_dirty``'s
``-``): rendered as nothing, so the flattened text has no cell there."""


@attrs.frozen
class Finding:
    """Something the reader could not take exactly as written."""

    line: int
    where: str
    message: str

    def __str__(self) -> str:
        place = f" {self.where}:" if self.where else ""
        return f"line {self.line}:{place} {self.message}"


@attrs.frozen
class Prototype:
    name: str
    text: str
    line: int


@attrs.frozen
class Row:
    """A row of a table: ``label`` as written (``d_hash``, ``lookup:``) and
    its non-empty cells as (column, text)."""

    name: str
    label: str
    cells: tuple[tuple[str, str], ...]
    line: int


@attrs.frozen
class Paragraph:
    line: int
    text: str


@attrs.frozen
class Section:
    """One table's part of the document (``inode_operations``)."""

    name: str
    title: str
    line: int
    prototypes: tuple[Prototype, ...]
    blocking: str | None
    columns: tuple[str, ...]
    rows: tuple[Row, ...] | None
    """None when the section has no table."""
    paragraphs: tuple[Paragraph, ...]
    footnotes: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Document:
    """The document read, and what could not be read exactly."""

    source: str
    title: str
    preamble: tuple[str, ...]
    sections: tuple[Section, ...]
    dubious: tuple[str, ...]
    findings: tuple[Finding, ...]


def normalise(text: str) -> str:
    """Whitespace collapsed, reStructuredText inline markup taken off."""
    text = re.sub(r"``(.+?)``", r"\1", text)
    text = re.sub(r"(?<![\w*`])\*(\w[^*]*?\w|\w)\*(?![\w*])", r"\1", text)
    return " ".join(text.split())


def _balanced(text: str) -> bool:
    return text.count("(") <= text.count(")")


def parse_prototypes(lines: Sequence[tuple[int, str]]) -> list[Prototype]:
    """Prototypes from literal lines: a line declaring ``(*name)(`` starts
    one; indented lines and lines while parentheses are open continue it."""
    found: list[tuple[int, str, list[str]]] = []
    for number, line in lines:
        if not line.strip():
            continue
        start = PROTOTYPE_START.search(line)
        if start is not None:
            found.append((number, start.group(1), [line.strip()]))
        elif found:
            found[-1][2].append(line.strip())
    return [Prototype(name, " ".join(parts), number) for number, name, parts in found]


def _is_prose(text: str) -> bool:
    stripped = text.strip()
    return (
        stripped.endswith(".")
        or METHOD_REFERENCE.search(stripped) is not None
        or len(stripped.split()) > 12
    )


class _Placer:
    def __init__(self, vocabulary: Vocabulary, findings: list[Finding]) -> None:
        self.vocabulary = vocabulary
        self.findings = findings

    def place(
        self, table: str, row: str, line: int, columns: tuple[str, ...], cells: list[str]
    ) -> tuple[tuple[str, str], ...]:
        where = f"{table}.{row}"
        n, k = len(columns), len(cells)
        if n == 0:
            if k:
                self.findings.append(Finding(line, where, f"{k} cells in a table without columns"))
            return ()
        if k > n:
            self.findings.append(
                Finding(
                    line,
                    where,
                    f"{k} cells for {n} columns; the last {k - n + 1} are kept together in "
                    f"column {columns[-1]!r}",
                )
            )
            cells = [*cells[: n - 1], " ".join(cells[n - 1 :])]
            k = n
        if k == n or k == 0:
            return tuple(zip(columns, cells, strict=False))
        fit = [[self.vocabulary.fit(table, column, cell) for cell in cells] for column in columns]
        best, winners = best_placements(fit, k)
        hint = self.vocabulary.placement(table, row)
        missing = [column for column in hint or () if column not in columns]
        if missing:
            self.findings.append(
                Finding(
                    line,
                    where,
                    f"the placement recorded in the vocabulary names column {missing[0]!r}, "
                    "which the table does not have; ignored",
                )
            )
            hint = None
        if hint is not None and len(hint) == k:
            combo = tuple(columns.index(c) for c in hint)
            if sum(fit[c][i] for i, c in enumerate(combo)) < best:
                self.findings.append(
                    Finding(line, where, f"recorded placement {list(hint)} fits the values worse")
                )
            self.findings.append(
                Finding(
                    line,
                    where,
                    f"cells {cells} could be in columns "
                    f"{_options(columns, winners)}; placed in "
                    f"{list(hint)} as recorded in the vocabulary",
                )
                if len(winners) > 1
                else Finding(line, where, f"cells placed in {list(hint)} as recorded")
            )
            chosen = combo
        elif len(winners) == 1:
            chosen = winners[0]
        else:
            chosen = winners[0]
            options = _options(columns, winners)
            self.findings.append(
                Finding(
                    line,
                    where,
                    f"cannot tell which columns cells {cells} are in ({options}); placed in the "
                    "first; record a placement in the vocabulary",
                )
            )
        if best < 2 * k and hint is None:
            odd = [
                cell
                for c, cell in zip(chosen, cells, strict=True)
                if self.vocabulary.fit(table, columns[c], cell) == 0
            ]
            if odd:
                self.findings.append(
                    Finding(line, where, f"cells {odd} fit no column's known values")
                )
        return tuple((columns[c], cell) for c, cell in zip(chosen, cells, strict=True))


SHOWN_OPTIONS = 4
"""How many of the equally good placements a finding lists."""


def _options(columns: tuple[str, ...], winners: list[tuple[int, ...]]) -> str:
    shown = " or ".join(str([columns[c] for c in w]) for w in winners[:SHOWN_OPTIONS])
    return shown + (" or ..." if len(winners) > SHOWN_OPTIONS else "")


def best_placements(fit: list[list[int]], k: int) -> tuple[int, list[tuple[int, ...]]]:
    """Place ``k`` cells, in order, in ``k`` of the columns (in order) so
    that the sum of ``fit[column][cell]`` is greatest: the best sum and the
    first placements (column indices, lexicographic order) that reach it,
    at most ``SHOWN_OPTIONS + 1`` of them.  Dynamic programming over
    (cell, column): polynomial in the number of columns and cells, where
    trying every combination grows without bound."""
    n = len(fit)
    lowest = -(10**9)
    # best[i][c]: the greatest sum for cells i.. in columns c.. (lowest if impossible)
    best = [[lowest] * (n + 1) for _ in range(k + 1)]
    for c in range(n + 1):
        best[k][c] = 0
    for i in range(k - 1, -1, -1):
        for c in range(n - 1, -1, -1):
            if n - c < k - i:
                continue
            take = fit[c][i] + best[i + 1][c + 1]
            best[i][c] = max(take, best[i][c + 1])
    found: list[tuple[int, ...]] = []

    def walk(i: int, c: int, chosen: tuple[int, ...]) -> None:
        if len(found) > SHOWN_OPTIONS:
            return
        if i == k:
            found.append(chosen)
            return
        for column in range(c, n - (k - i) + 1):
            if fit[column][i] + best[i + 1][column + 1] == best[i][c]:
                walk(i + 1, column + 1, (*chosen, column))

    walk(0, 0, ())
    return best[0][0], found


# --- the flattened text ------------------------------------------------------


def parse_flattened(text: str, source: str, vocabulary: Vocabulary = EMPTY) -> Document:
    """Read the flattened document (each table cell on its own line)."""
    findings: list[Finding] = []
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines())]
    nonblank = [(n, line) for n, line in lines if line.strip()]
    heads = [
        k
        for k in range(len(nonblank) - 1)
        if nonblank[k + 1][1].strip() in ("prototypes:", "prototypes::")
    ]
    dubious_at = next(
        (k for k, (_, line) in enumerate(nonblank) if line.strip().lower() == DUBIOUS),
        len(nonblank),
    )
    if not heads:
        findings.append(Finding(1, "", "no section with 'prototypes:' found"))
    first = heads[0] if heads else dubious_at
    title = nonblank[0][1].strip() if nonblank and first > 0 else ""
    preamble = tuple(normalise(line) for _, line in nonblank[1 if title else 0 : first])
    placer = _Placer(vocabulary, findings)
    sections = []
    for index, k in enumerate(heads):
        end = heads[index + 1] if index + 1 < len(heads) else dubious_at
        body = nonblank[k + 2 : min(end, dubious_at) if k < dubious_at else end]
        sections.append(_flat_section(nonblank[k], body, lines, placer, findings))
    dubious = tuple(normalise(line) for _, line in nonblank[dubious_at + 1 :])
    return Document(source, title, preamble, tuple(sections), dubious, tuple(findings))


def _flat_section(
    head: tuple[int, str],
    body: list[tuple[int, str]],
    lines: list[tuple[int, str]],
    placer: _Placer,
    findings: list[Finding],
) -> Section:
    line, title = head[0], head[1].strip()
    name = title.split()[0]
    # Prototypes: the raw lines (with their indentation) up to the first
    # line that neither starts nor continues one.
    position = 0
    literal: list[tuple[int, str]] = []
    current = ""
    while position < len(body):
        number = body[position][0]
        raw = lines[number - 1][1]
        if PROTOTYPE_START.search(raw) is not None:
            current = raw
        elif literal and (raw[:1].isspace() or not _balanced(current)):
            current += raw
        else:
            break
        literal.append((number, raw))
        position += 1
    prototypes = parse_prototypes(literal)
    names = {p.name for p in prototypes}
    blocking = None
    columns: tuple[str, ...] = ()
    rows: list[Row] | None = None
    paragraphs: list[Paragraph] = []
    after_rules = False
    while position < len(body):
        number, text = body[position]
        stripped = text.strip()
        position += 1
        if stripped == "locking rules:":
            after_rules = True
            continue
        if after_rules and blocking is None and BLOCKING_NOTE.search(stripped):
            blocking = stripped
            after_rules = False
            continue
        after_rules = False
        if stripped == "ops" and rows is None:
            columns, rows, position = _flat_table(name, body, position, names, placer, findings)
            continue
        paragraphs.append(Paragraph(number, normalise(stripped)))
    return Section(
        name, title, line, tuple(prototypes), blocking, columns,
        None if rows is None else tuple(rows), tuple(paragraphs),
    )  # fmt: skip


def _flat_table(
    table: str,
    body: list[tuple[int, str]],
    position: int,
    prototypes: set[str],
    placer: _Placer,
    findings: list[Finding],
) -> tuple[tuple[str, ...], list[Row], int]:
    header: list[str] = []
    while position < len(body):
        number, text = body[position]
        match = ROW_NAME.match(text.strip())
        if _is_prose(text) or (match and (match.group(2) or match.group(1) in prototypes)):
            break
        header.append(text.strip())
        position += 1
    columns = tuple(header)
    if not columns:
        findings.append(Finding(body[position - 1][0], table, "table without columns after 'ops'"))
    pending: list[tuple[int, str, str, list[str]]] = []
    while position < len(body):
        number, text = body[position]
        stripped = text.strip()
        if _is_prose(stripped):
            break
        position += 1
        match = ROW_NAME.match(stripped)
        full = bool(pending) and len(pending[-1][3]) >= len(columns)
        if match and (match.group(2) or match.group(1) in prototypes or full or not pending):
            pending.append((number, match.group(1), stripped, []))
        elif pending:
            pending[-1][3].append(stripped)
        else:
            findings.append(Finding(number, table, f"cell {stripped!r} before any row"))
    rows = [
        Row(name, label, placer.place(table, name, number, columns, cells), number)
        for number, name, label, cells in pending
    ]
    return columns, rows, position


# --- reStructuredText ----------------------------------------------------------


def parse_rst(text: str, source: str) -> Document:
    """Read the reStructuredText of Documentation/filesystems/locking.rst."""
    findings: list[Finding] = []
    lines = [(i + 1, line.expandtabs(8).rstrip()) for i, line in enumerate(text.splitlines())]
    headings = []
    for k in range(len(lines) - 1):
        line = lines[k][1]
        underline = lines[k + 1][1]
        if (
            line.strip()
            and not line[:1].isspace()
            and RST_UNDERLINE.match(underline)
            and len(underline) >= len(line.strip())
            and not RST_UNDERLINE.match(line)
        ):
            headings.append(k)
    dubious_at = next(
        (k for k, (_, line) in enumerate(lines) if line.strip().lower() == DUBIOUS), len(lines)
    )
    title = ""
    section_heads = headings
    if headings and headings[0] > 0 and RST_UNDERLINE.match(lines[headings[0] - 1][1]):
        title = lines[headings[0]][1].strip()
        section_heads = headings[1:]
    top = headings[0] + 2 if title else 0
    first = section_heads[0] if section_heads else dubious_at
    preamble = tuple(p.text for p in _rst_paragraphs(lines[top:first]))
    sections = []
    for index, k in enumerate(section_heads):
        end = section_heads[index + 1] if index + 1 < len(section_heads) else len(lines)
        end = min(end, dubious_at) if k < dubious_at else end
        sections.append(_rst_section(lines[k], lines[k + 2 : end], findings))
    dubious = tuple(p.text for p in _rst_paragraphs(lines[dubious_at + 1 :]))
    return Document(source, title, preamble, tuple(sections), dubious, tuple(findings))


def _link_title(match: re.Match[str]) -> str:
    return match.group(1).replace("-", " ").replace("_", " ").title()


def _rst_paragraphs(lines: Sequence[tuple[int, str]]) -> list[Paragraph]:
    paragraphs: list[Paragraph] = []
    current: list[tuple[int, str]] = []
    for number, line in [*lines, (0, "")]:
        if line.strip() and not re.match(r"^-{4,}$", line.strip()):
            current.append((number, line))
            continue
        if current:
            text = DOCUMENT_LINK.sub(_link_title, " ".join(t for _, t in current))
            paragraphs.append(Paragraph(current[0][0], normalise(text)))
            current = []
    return paragraphs


def _rst_section(
    head: tuple[int, str], body: list[tuple[int, str]], findings: list[Finding]
) -> Section:
    line, title = head[0], head[1].strip()
    name = title.split()[0]
    prototypes: list[Prototype] = []
    blocking = None
    columns: tuple[str, ...] = ()
    rows: list[Row] | None = None
    paragraphs: list[Paragraph] = []
    footnotes: list[tuple[str, str]] = []
    position = 0
    after_rules = False
    while position < len(body):
        text = body[position][1]
        stripped = text.strip()
        if not stripped:
            position += 1
            continue
        if stripped.startswith("prototypes:"):
            position += 1
            block = []
            while position < len(body) and (
                not body[position][1].strip() or body[position][1][:1].isspace()
            ):
                block.append(body[position])
                position += 1
            prototypes.extend(parse_prototypes(block))
            continue
        if stripped == "locking rules:":
            after_rules = True
            position += 1
            continue
        if RST_BORDER.match(text):
            columns, table_rows, position = _rst_table(name, body, position, findings)
            rows = (rows or []) + table_rows
            after_rules = False
            continue
        footnote = RST_FOOTNOTE.match(stripped)
        if footnote:
            position += 1
            parts = [footnote.group(2)] if footnote.group(2) else []
            while position < len(body) and body[position][1][:1].isspace():
                parts.append(body[position][1].strip())
                position += 1
            footnotes.append((footnote.group(1), normalise(" ".join(parts))))
            continue
        block = []
        indented = text[:1].isspace()
        while position < len(body):
            text = body[position][1]
            if not text.strip() or RST_BORDER.match(text) or text[:1].isspace() != indented:
                break
            if text.strip() == "locking rules:" or text.strip().startswith("prototypes:"):
                break
            block.append(body[position])
            position += 1
        read = _rst_paragraphs(block)
        if not read:
            position += 0 if block else 1
            continue
        paragraph = read[0]
        if after_rules and blocking is None and BLOCKING_NOTE.search(paragraph.text):
            blocking = paragraph.text
        else:
            paragraphs.append(paragraph)
        after_rules = False
    return Section(
        name, title, line, tuple(prototypes), blocking, columns,
        None if rows is None else tuple(rows), tuple(paragraphs), tuple(footnotes),
    )  # fmt: skip


def _spans(border: str) -> list[int]:
    return [m.start() for m in re.finditer(r"=+", border)]


def _slice(line: str, starts: list[int]) -> list[str]:
    ends = [*starts[1:], max(len(line), starts[-1])]
    return [line[a:b].strip() for a, b in zip(starts, ends, strict=True)]


def _rst_table(
    table: str, body: list[tuple[int, str]], position: int, findings: list[Finding]
) -> tuple[tuple[str, ...], list[Row], int]:
    starts = _spans(body[position][1])
    position += 1
    header: list[str] = []
    while position < len(body) and not RST_BORDER.match(body[position][1]):
        cells = _slice(body[position][1], starts)
        header = (
            cells
            if not header
            else [f"{a} {b}".strip() for a, b in zip(header, cells, strict=False)]
        )
        position += 1
    columns = tuple(header[1:])
    position += 1
    pending: list[tuple[int, str, list[str]]] = []
    while position < len(body) and not RST_BORDER.match(body[position][1]):
        number, text = body[position]
        position += 1
        if not text.strip():
            continue
        for boundary in starts[1:]:
            if 0 < boundary < len(text) and text[boundary - 1] != " " and text[boundary] != " ":
                findings.append(
                    Finding(number, table, f"text crosses a column boundary: {text.strip()!r}")
                )
                break
        cells = _slice(text, starts)
        if cells[0]:
            pending.append((number, cells[0], cells[1:]))
        elif pending:
            previous = pending[-1][2]
            pending[-1] = (
                pending[-1][0],
                pending[-1][1],
                [f"{a} {b}".strip() for a, b in zip(previous, cells[1:], strict=True)],
            )
        else:
            findings.append(Finding(number, table, "continuation line before any row"))
    position += 1
    rows = []
    for number, label, cells in pending:
        match = ROW_NAME.match(label)
        if match is None:
            findings.append(Finding(number, table, f"row name {label!r} is not an identifier"))
            name = label.rstrip(":")
        else:
            name = match.group(1)
        if len(cells) != len(columns):
            what = "a table without column names" if not columns else f"{len(columns)} columns"
            findings.append(Finding(number, table, f"{len(cells)} cells in {what}"))
        placed = tuple(
            (column, normalise(cell))
            for column, cell in zip(columns, cells, strict=False)
            if cell and cell not in RST_EMPTY_CELLS
        )
        rows.append(Row(name, label, placed, number))
    return columns, rows, position


def parse(text: str, source: str, vocabulary: Vocabulary = EMPTY) -> Document:
    """Read either form: reStructuredText when it has simple tables or
    underlined headings, else the flattened text (a byte-order mark is
    not part of the text)."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    rst = any(RST_BORDER.match(line.expandtabs(8)) for line in lines) or any(
        line.strip() and RST_UNDERLINE.match(lines[i + 1].strip()) and not RST_UNDERLINE.match(line)
        for i, line in enumerate(lines[:-1])
    )
    return parse_rst(text, source) if rst else parse_flattened(text, source, vocabulary)
