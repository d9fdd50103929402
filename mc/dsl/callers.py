"""Which line of a model file a step comes from: the first frame of the
call stack outside the language's own modules (``mc.dsl``, ``mc.kernel``)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from pathlib import Path

from mc.dsl.steps import Source
from mc.project import ROOT

TOOL_DIRS = {
    str(Path(__file__).resolve().parent),
    str(Path(__file__).resolve().parents[1] / "kernel"),
}


SKIPPED_FILES = {os.path.abspath(contextlib.__file__)}


@functools.cache
def _inside_dsl(filename: str) -> bool:
    path = os.path.abspath(filename)
    return os.path.dirname(path) in TOOL_DIRS or path in SKIPPED_FILES


@functools.cache
def _shown_path(filename: str) -> str:
    path = Path(filename).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def caller_source() -> Source:
    """The first frame outside mc.dsl and mc.kernel: the model line being built."""
    frame = sys._getframe(1)
    while frame is not None and _inside_dsl(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return Source("?", 0, "?")
    return Source(_shown_path(frame.f_code.co_filename), frame.f_lineno, frame.f_code.co_name)
