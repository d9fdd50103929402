"""Where the document disagrees with itself: the list its "Dubious stuff"
section asks for.

- a method with a prototype but no row in its table, a row with no
  prototype;
- a cell whose value is not one the column is known to hold
  (``specs/vocabulary.toml``);
- a footnote referred to but not given, a prototype that does not parse
  (unbalanced parentheses, no ``;``), prose speaking of a method ``->m()``
  that no table declares, a row written without its ``:``;
- a section with prototypes but no table, and what the reader could not
  place.
"""

from __future__ import annotations

import re

import attrs

from mc.spec.document import METHOD_REFERENCE, Document, Section
from mc.spec.model import parse_cell
from mc.spec.vocabulary import Vocabulary


@attrs.frozen
class Dubious:
    """One place where the document disagrees with itself."""

    kind: str
    line: int
    where: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.where}: {self.message} [{self.kind}]"


def _prototypes_and_rows(section: Section) -> list[Dubious]:
    found = []
    rows = {row.name: row for row in section.rows or ()}
    prototypes = {p.name: p for p in section.prototypes}
    for prototype in section.prototypes:
        if prototype.name not in rows:
            found.append(
                Dubious(
                    "no-row",
                    prototype.line,
                    f"{section.name}.{prototype.name}",
                    "a prototype but no row in the table",
                )
            )
        text = re.sub(r"\s*/\*.*?\*/\s*$", "", prototype.text)
        if text.count("(") != text.count(")"):
            found.append(
                Dubious(
                    "prototype",
                    prototype.line,
                    f"{section.name}.{prototype.name}",
                    f"unbalanced parentheses in {text!r}",
                )
            )
        elif not text.endswith(";"):
            found.append(
                Dubious(
                    "prototype",
                    prototype.line,
                    f"{section.name}.{prototype.name}",
                    f"no ';' after {text!r}",
                )
            )
    for row in section.rows or ():
        where = f"{section.name}.{row.name}"
        if row.name not in prototypes:
            found.append(Dubious("no-prototype", row.line, where, "a row but no prototype"))
        if not row.label.endswith(":"):
            found.append(Dubious("format", row.line, where, f"row written {row.label!r}, no ':'"))
    return found


def _values(section: Section, vocabulary: Vocabulary) -> list[Dubious]:
    found = []
    footnotes = dict(section.footnotes)
    for row in section.rows or ():
        where = f"{section.name}.{row.name}"
        for column, text in row.cells:
            cell = parse_cell(text)
            for mark in cell.footnotes:
                if mark not in footnotes:
                    found.append(
                        Dubious(
                            "footnote",
                            row.line,
                            where,
                            f"column {column!r} refers to footnote [{mark}], which the document "
                            "does not give",
                        )
                    )
            known = vocabulary.column(section.name, column)
            if known is None:
                found.append(
                    Dubious(
                        "unknown-column",
                        row.line,
                        where,
                        f"column {column!r} is not in the vocabulary",
                    )
                )
                continue
            if cell.value and known.meaning(cell.value) is None:
                values = ", ".join(repr(v) for v in known.values) or "none"
                found.append(
                    Dubious(
                        "unknown-value",
                        row.line,
                        where,
                        f"column {column!r} holds {cell.value!r}, not a known value ({values})",
                    )
                )
    return found


def _methods(count: int) -> str:
    return f"{count} method" + ("s" if count != 1 else "")


def lint(doc: Document, vocabulary: Vocabulary) -> list[Dubious]:
    """Everything dubious in the document, in document order."""
    found: list[Dubious] = []
    declared = {p.name for s in doc.sections for p in s.prototypes}
    declared |= {r.name for s in doc.sections for r in s.rows or ()}
    for section in doc.sections:
        if section.rows is None:
            if section.prototypes:
                found.append(
                    Dubious(
                        "no-table",
                        section.line,
                        section.name,
                        f"no table: {_methods(len(section.prototypes))} with prose only",
                    )
                )
        else:
            found.extend(_prototypes_and_rows(section))
            found.extend(_values(section, vocabulary))
        for paragraph in section.paragraphs:
            for name in dict.fromkeys(METHOD_REFERENCE.findall(paragraph.text)):
                if name not in declared:
                    found.append(
                        Dubious(
                            "reference",
                            paragraph.line,
                            section.name,
                            f"the prose speaks of ->{name}(), which no table declares",
                        )
                    )
    for finding in doc.findings:
        if "as recorded" not in finding.message:
            found.append(Dubious("reading", finding.line, finding.where, finding.message))
    return sorted(found, key=lambda d: d.line)
