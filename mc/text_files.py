"""Reading the text files a user names (counterexamples, specs, rules,
expectations): a FIFO, a device or a directory is refused before it is
read, so ``/dev/zero`` or a pipe nobody writes to is one line of error, not
memory without end or a hang, and so is a file larger than the reader
takes or one that is not UTF-8."""

from __future__ import annotations

import stat
from pathlib import Path

LARGEST = 256 << 20
"""The most bytes a text file is read for."""
TOML_LARGEST = 16 << 20
"""The most bytes a TOML file (rules, expectations, lock order) is read
for: the shipped ones are under 200 KiB."""
DOCUMENT_LARGEST = 16 << 20
"""The most bytes a locking document is read for: locking.rst is under
100 KiB."""


class UnreadableText(ValueError):
    """A file that is no text file of the kind asked for; the message is
    one line naming it."""


def read_text(path: Path, what: str, largest: int = LARGEST) -> str:
    """The text of the regular file ``path``, ``what`` it should be (``a
    counterexample file``) naming it in an ``UnreadableText`` otherwise:
    one that cannot be read, is no regular file, holds more than
    ``largest`` bytes (when stated, or once read) or is not UTF-8."""
    try:
        found = path.stat()
        if not stat.S_ISREG(found.st_mode):
            kind = "a directory" if stat.S_ISDIR(found.st_mode) else "not a regular file"
            raise UnreadableText(f"{path}: not {what} ({kind})")
        if found.st_size > largest:
            raise UnreadableText(
                f"{path}: not {what} ({found.st_size:,} bytes; {what} is under {_size(largest)})"
            )
        with path.open("rb") as handle:
            raw = handle.read(largest + 1)
    except OSError as error:
        raise UnreadableText(f"cannot read {path}: {error.strerror}") from None
    if len(raw) > largest:
        raise UnreadableText(f"{path}: not {what} (it grew past {_size(largest)})")
    try:
        return raw.decode()
    except UnicodeDecodeError as error:
        raise UnreadableText(f"{path}: not UTF-8 text (byte {error.start})") from None


def _size(count: int) -> str:
    return f"{count >> 20} MiB" if count >= 1 << 20 else f"{count:,} bytes"
