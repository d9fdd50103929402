"""How every vfsmc command reports bad input: one line on stderr, exit 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mc.dsl.program import ProgramError
from mc.dsl.scenario import UnknownName
from mc.kernel.world import ModelError
from mc.trace import format as cx_format
from mc.trace import graph as render_graph

EXIT_USAGE = 2
F = TypeVar("F", bound=Callable[..., Any])
INPUT_ERRORS = (
    UnknownName,
    cx_format.FormatError,
    render_graph.GraphError,
    ModelError,
    ProgramError,
    ValueError,
    OSError,
)


def one_line_errors(command: F) -> F:
    """Report bad input as one line on stderr with exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except INPUT_ERRORS as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            click.echo(f"vfsmc: error: {message}", err=True)
            sys.exit(EXIT_USAGE)

    return wrapper  # type: ignore[return-value]
