"""Where the project's data lives: the repository root and its folders."""

import inspect
import os
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
COUNTEREXAMPLES = ROOT / "counterexamples"
SHIPPED_MODELS = ROOT / "models"


def shown(path: str) -> str:
    """An absolute ``path`` relative to the working directory when it is
    below it, else to the project (``models/dirops.py``, as traces name
    model lines); a relative one as it is."""
    if not os.path.isabs(path):
        return path
    for base in (os.getcwd(), str(ROOT)):
        relative = os.path.relpath(path, base)
        if not relative.startswith(".."):
            return relative
    return path


def shown_source(source: str) -> str:
    """A model line ``FILE:LINE`` (or several joined by ``+``, as a swap of
    two steps names them) with each absolute file ``shown``."""
    parts = []
    for part in source.split("+"):
        file, colon, line = part.rpartition(":")
        parts.append(f"{shown(file)}:{line}" if colon and os.path.isabs(file) else part)
    return "+".join(parts)


def defined_at(function: Callable[..., object]) -> str:
    """Where ``function`` (or the function it wraps, ``__wrapped__``) is
    defined: ``FILE:LINE: in NAME``."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    if code is None:
        return repr(function)
    return f"{shown(code.co_filename)}:{code.co_firstlineno}: in {code.co_name}"


def shipped_code(function: Callable[..., object]) -> bool:
    """Whether ``function`` (or the function it wraps) is defined in
    vfsmc's own code, ``mc/`` or ``models/``."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    if code is None:
        return False
    path = Path(code.co_filename).resolve()
    return path.is_relative_to(ROOT / "mc") or path.is_relative_to(SHIPPED_MODELS)


class Terminated(SystemExit):
    """The command was told to end (SIGTERM): it exits with ``code``
    wherever it was, in a model's own code too, which reports any other
    ``SystemExit`` it raises as a model error."""
