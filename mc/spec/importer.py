"""Building the rules file from the document: every method of every table
(prototype and row), the rules the prose states, and the rest of the prose
kept as text, with a report of everything not taken exactly as written."""

from __future__ import annotations

from pathlib import Path

import attrs

from mc.spec import document, prose
from mc.spec.document import Document, Finding, Section
from mc.spec.load import SpecError
from mc.spec.model import Method, Rule, Spec, Table
from mc.spec.vocabulary import Vocabulary
from mc.text_files import DOCUMENT_LARGEST, UnreadableText, read_text


@attrs.frozen
class Imported:
    """The rules read from a document, and the report of the import."""

    spec: Spec
    findings: tuple[Finding, ...]
    kept_as_text: tuple[Finding, ...]
    """Prose about locking in which no rule was recognised."""


def _methods(section: Section, findings: list[Finding]) -> tuple[Method, ...]:
    prototypes: dict[str, str] = {}
    for prototype in section.prototypes:
        if prototype.name in prototypes:
            findings.append(
                Finding(prototype.line, section.name, f"second prototype of {prototype.name}")
            )
            continue
        prototypes[prototype.name] = prototype.text
    rows: dict[str, tuple[tuple[str, str], ...]] = {}
    for row in section.rows or ():
        if row.name in rows:
            findings.append(Finding(row.line, section.name, f"second row for {row.name}"))
            continue
        rows[row.name] = row.cells
    names = list(prototypes) + [name for name in rows if name not in prototypes]
    return tuple(Method(name, prototypes.get(name), rows.get(name)) for name in names)


def _table(section: Section, findings: list[Finding], kept: list[Finding]) -> Table:
    methods = _methods(section, findings)
    names = [m.name for m in methods]
    rules: list[Rule] = []
    notes: list[str] = []
    for paragraph in section.paragraphs:
        found, left = prose.rules_in(paragraph.text, names)
        rules.extend(found)
        if left:
            notes.append(left)
            if prose.speaks_of_locks(left):
                excerpt = left if len(left) <= 70 else left[:67] + "..."
                kept.append(Finding(paragraph.line, section.name, f"kept as text: {excerpt}"))
    return Table(
        name=section.name,
        title=section.title,
        columns=section.columns,
        blocking=section.blocking,
        methods=methods,
        rules=tuple(rules),
        notes=tuple(notes),
        footnotes=section.footnotes,
    )


def from_document(doc: Document) -> Imported:
    """The rules of a document already read."""
    findings = list(doc.findings)
    kept: list[Finding] = []
    seen: set[str] = set()
    tables = []
    for section in doc.sections:
        if section.name in seen:
            findings.append(Finding(section.line, section.name, "second section of that name"))
            continue
        seen.add(section.name)
        tables.append(_table(section, findings, kept))
    spec = Spec(doc.source, doc.title, tuple(tables), doc.preamble, doc.dubious)
    return Imported(spec, tuple(findings), tuple(kept))


def read_document(path: Path, vocabulary: Vocabulary) -> Document:
    """Read the document at ``path`` (flattened text or reStructuredText)."""
    try:
        text = read_text(path, "a locking document", DOCUMENT_LARGEST)
    except UnreadableText as error:
        raise SpecError(str(error)) from None
    doc = document.parse(text, path.name, vocabulary)
    if not doc.sections:
        raise SpecError(f"{path}: no table of locking rules found (no 'prototypes:' section)")
    return doc


def import_path(path: Path, vocabulary: Vocabulary) -> Imported:
    """Import the rules of the document at ``path``."""
    return from_document(read_document(path, vocabulary))
