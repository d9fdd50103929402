"""A small TOML writer for the rules file: strings, booleans, integers,
lists of strings and inline tables of strings, laid out for people to read.
``tomllib`` reads back exactly what it writes."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mc.spec.model import FORMAT, VERSION, Rule, Spec, Table

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
HEADER = """\
# The locking rules of the Linux VFS, imported from the kernel's
# Documentation/filesystems/locking.rst by `vfsmc spec import`.
# Regenerate it from the document rather than editing it: what the values
# mean lives in specs/vocabulary.toml, which objects they concern in
# specs/conformance.toml.
"""


def string(text: str) -> str:
    """A TOML basic string."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def key(name: str) -> str:
    """A TOML key, bare when it can be."""
    return name if BARE_KEY.match(name) else string(name)


def strings(values: Sequence[str], indent: str = "") -> str:
    """A list of strings: inline when short, one per line otherwise."""
    inline = "[" + ", ".join(string(v) for v in values) + "]"
    if len(inline) <= 80 or not values:
        return inline
    inner = "".join(f"{indent}    {string(v)},\n" for v in values)
    return f"[\n{inner}{indent}]"


def inline_table(pairs: Sequence[tuple[str, str]]) -> str:
    """An inline table of strings."""
    if not pairs:
        return "{}"
    return "{ " + ", ".join(f"{key(k)} = {string(v)}" for k, v in pairs) + " }"


def _rule(table: str, rule: Rule) -> list[str]:
    lines = ["", f"[[tables.{key(table)}.rules]]", f"methods = {strings(rule.methods)}"]
    for name in ("lock", "mode", "object", "when", "context"):
        value = getattr(rule, name)
        if value is not None:
            lines.append(f"{name} = {string(value)}")
    if rule.may_block is not None:
        lines.append(f"may_block = {'true' if rule.may_block else 'false'}")
    lines.append(f"text = {string(rule.text)}")
    return lines


def _table(table: Table) -> list[str]:
    name = key(table.name)
    lines = ["", f"[tables.{name}]", f"title = {string(table.title)}"]
    lines.append(f"columns = {strings(table.columns)}")
    if table.blocking is not None:
        lines.append(f"blocking = {string(table.blocking)}")
    if table.notes:
        lines.append(f"notes = {strings(table.notes)}")
    if table.footnotes:
        lines.append(f"footnotes = {inline_table(table.footnotes)}")
    for rule in table.rules:
        lines.extend(_rule(table.name, rule))
    for method in table.methods:
        lines.append("")
        lines.append(f"[tables.{name}.methods.{key(method.name)}]")
        if method.prototype is not None:
            lines.append(f"prototype = {string(method.prototype)}")
        if method.cells is not None:
            lines.append(f"cells = {inline_table(method.cells)}")
    return lines


def render(spec: Spec) -> str:
    """The rules file for ``spec``."""
    lines = [
        HEADER.rstrip("\n"),
        "",
        f"format = {string(FORMAT)}",
        f"version = {VERSION}",
        f"source = {string(spec.source)}",
        f"title = {string(spec.title)}",
        f"preamble = {strings(spec.preamble)}",
        f"dubious = {strings(spec.dubious)}",
    ]
    for table in spec.tables:
        lines.extend(_table(table))
    return "\n".join(lines) + "\n"
