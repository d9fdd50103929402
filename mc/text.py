"""Text from outside vfsmc (a counterexample file, a model's labels) made
safe to print on a terminal."""

from __future__ import annotations

import shutil

_SHOWN = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with control and format characters (escape sequences, line
    breaks, bidirectional overrides) written as escapes, so that it prints
    as what it is and on one line."""
    if text.isprintable():
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char in _SHOWN:
        return _SHOWN[char]
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def counted(number: int, noun: str) -> str:
    """``1 step``, ``3 steps``, ``1,024 steps``: ``number`` (its thousands
    grouped) and ``noun``, plural unless one."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def briefly(value: object, longest: int = 80) -> str:
    """``repr(value)`` cut to ``longest`` characters."""
    text = repr(value)
    return text if len(text) <= longest else text[: longest - 3] + "..."


ECHOED = 200
"""The most characters of a label from a file that a message repeats."""


def clipped(text: str, longest: int = ECHOED) -> str:
    """``text`` (a label a message repeats from a file) cut to ``longest``
    characters with an ellipsis and how long it is, when it is longer."""
    if len(text) <= longest:
        return text
    return f"{text[: longest - 1]}\u2026 ({len(text):,} characters)"


def status_line(text: str) -> str:
    """``text`` as a line that overwrites the one before it on a terminal:
    after a carriage return, cut and padded to the terminal's width less a
    column, so that it never wraps (a wrapped line is not overwritten)."""
    width = max(shutil.get_terminal_size().columns - 1, 1)
    return f"\r{text[:width]:<{width}}"
