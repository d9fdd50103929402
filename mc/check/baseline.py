"""Rewriting the ``states`` baseline of an expectations file in place.

Only the ``states = N`` line of each ``[[expect]]`` table changes (or is
added after the table's last field); comments, blank lines, field order and
every other row stay as they are.  The file is read afresh, the result is
parsed again and compared with the original before it replaces the file
atomically, so rows someone added meanwhile survive; the directory is
locked meanwhile, so two updates at once both land.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

from mc.atomic_write import write_atomically
from mc.check import expectations
from mc.check.expectations import Expectation, ExpectationError
from mc.text_files import TOML_LARGEST, UnreadableText, read_text

Key = tuple[str, tuple[str, ...], str, str | None, tuple[str, ...] | None, tuple[str, ...]]

HEADER = re.compile(r"^\s*\[\[\s*expect\s*\]\]\s*(#.*)?$")
OTHER_TABLE = re.compile(r"^\s*\[")
STATES = re.compile(
    r"""^(\s*(?:states|"states"|'states')\s*=\s*)([+]?(?:0[xob][0-9a-fA-F_]+|[0-9_]+))(.*)$"""
)
FIELD = re.compile(r"^\s*[^#\s]")


def key(row: Expectation) -> Key:
    """What identifies a row across edits of the file."""
    return (
        row.scenario,
        row.variants,
        row.verdict.value,
        row.violated,
        row.properties,
        row.without,
    )


def rewrite_states(path: Path, states: Mapping[Key, int]) -> int:
    """Set ``states`` on the rows of ``path`` that ``states`` names; returns
    how many rows changed.  The file's directory is locked from reading to
    replacing, so two updates at once both land."""
    with locked(path.parent):
        return _rewrite_states(path, states)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (every update of a file in it
    takes the same lock; the file itself is replaced, so it cannot be the
    lock)."""
    try:
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise ExpectationError(f"cannot lock {directory}: {error.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _rewrite_states(path: Path, states: Mapping[Key, int]) -> int:
    try:
        text = read_text(path, "an expectations file", TOML_LARGEST)
    except UnreadableText as error:
        raise ExpectationError(str(error)) from None
    rows = expectations.parse(text, path)
    lines = text.splitlines(keepends=True)
    headers = [i for i, line in enumerate(lines) if HEADER.match(line)]
    if len(headers) != len(rows):
        raise ExpectationError(
            f"{path}: cannot update the baseline: write every row as its own [[expect]] table"
        )
    changed = 0
    for index in reversed(range(len(rows))):
        row = rows[index]
        wanted = states.get(key(row))
        if wanted is None or wanted == row.states:
            continue
        start = headers[index] + 1
        end = _table_end(lines, start)
        _set_states(lines, start, end, wanted)
        changed += 1
    if not changed:
        return 0
    updated = "".join(lines)
    _verify(path, rows, updated, states)
    write_atomically(path, updated)
    return changed


def _table_end(lines: list[str], start: int) -> int:
    for i in range(start, len(lines)):
        if OTHER_TABLE.match(lines[i]):
            return i
    return len(lines)


def _set_states(lines: list[str], start: int, end: int, states: int) -> None:
    last_field = start - 1
    for i in range(start, end):
        found = STATES.match(lines[i].rstrip("\n"))
        if found:
            newline = "\n" if lines[i].endswith("\n") else ""
            lines[i] = f"{found.group(1)}{states}{found.group(3)}{newline}"
            return
        if FIELD.match(lines[i]):
            last_field = i
    if not lines[last_field].endswith("\n"):
        lines[last_field] += "\n"
    lines.insert(last_field + 1, f"states = {states}\n")


def _verify(path: Path, before: list[Expectation], text: str, states: Mapping[Key, int]) -> None:
    after = expectations.parse(text, path)
    expected = [attrs.evolve(r, states=states.get(key(r), r.states)) for r in before]
    if after != expected:
        raise ExpectationError(f"{path}: updating the baseline would change more than 'states'")
