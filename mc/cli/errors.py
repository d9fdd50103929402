"""How every vfsmc command ends: its exit code, and one line on stderr for
bad input, an interruption or an error in vfsmc itself.

Exit codes: 0 OK, 1 violation found, 2 bad input or usage, 3 incomplete
(a bound or Ctrl-C stopped the search), 4 an internal error (a bug in
vfsmc; the traceback with ``VFSMC_TRACEBACK=1``), 130 interrupted outside a
search, 141 standard output closed early (``vfsmc ... | head``), 143
terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from mc.atomic_write import stream_of
from mc.check.usermodels import SHOW_TRACEBACK
from mc.cli.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_INCOMPLETE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
)
from mc.dsl.program import ProgramError
from mc.dsl.scenario import UnknownName
from mc.kernel.world import ModelError
from mc.project import Terminated
from mc.text import printable
from mc.trace import format as cx_format
from mc.trace import graph as render_graph

__all__ = ["EXIT_INCOMPLETE", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_USAGE"]
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


def say(kind: str, message: str) -> None:
    """``vfsmc: KIND: MESSAGE`` as one line on stderr, control characters
    escaped."""
    click.echo(f"vfsmc: {kind}: {printable(message)}", err=True)


def wrote(output: Path) -> None:
    """Say that ``output`` was written: on stderr when ``output`` is this
    process's standard output (``-o /dev/stdout``), which holds the file."""
    click.echo(f"wrote {output}", err=stream_of(output) == 1)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """End the command with one error line."""
    say("error", message)
    sys.exit(code)


def message_of(error: BaseException) -> str:
    """What an exception says (an operating system error: the file and the
    reason), or its type when it says nothing."""
    if isinstance(error, OSError) and error.strerror:
        files = [str(f) for f in (error.filename, error.filename2) if f is not None]
        return ": ".join([*files, error.strerror]) if files else error.strerror
    return str(error) or type(error).__name__


OUTPUT_FAILURES = frozenset({errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG})
"""The errors of a write to standard output that no reader caused (a full
disk or ``/dev/full``), as against a reader that went away (EPIPE)."""


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


_JSON_STREAMS: list[Any] = []
"""The standard output of each command running with ``--json`` (innermost
last), which ``json_on_stdout_only`` keeps for its JSON."""


@contextlib.contextmanager
def json_on_stdout_only(enabled: bool) -> Iterator[None]:
    """With ``enabled`` (``--json``): what else is printed (a model file's
    own ``print()``) goes to stderr, so standard output holds the JSON
    alone (``echo_json``)."""
    if not enabled:
        yield
        return
    _JSON_STREAMS.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _JSON_STREAMS.pop()


def echo_json(text: str) -> None:
    """Print a command's JSON on its standard output."""
    click.echo(text, file=_JSON_STREAMS[-1] if _JSON_STREAMS else None)


def one_line_errors(command: F) -> F:
    """Report bad input as one line on stderr with exit code 2; with
    ``--json``, keep standard output for the JSON (``json_on_stdout_only``)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with json_on_stdout_only(bool(kwargs.get("as_json"))):
                return command(*args, **kwargs)
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except OSError as error:
            if error.filename is None and error.errno in OUTPUT_FAILURES:
                _silence_stdout()
                fail(f"cannot write standard output: {error.strerror}")
            fail(message_of(error))
        except INPUT_ERRORS as error:
            fail(message_of(error))

    return wrapper  # type: ignore[return-value]


class Group(click.Group):
    """A click group whose usage errors are one line, whose Ctrl-C exits
    130 and whose internal errors exit 4 with one line (the traceback when
    ``VFSMC_TRACEBACK`` is set).  Commands added with ``add_lazy`` are
    imported only when they run or help lists them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}

    def add_lazy(self, name: str, where: str) -> None:
        """Add command ``name``, the object ``module:attribute`` names."""
        self.lazy[name] = where

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            value = super().main(
                args, prog_name or "vfsmc", complete_var, standalone_mode=False, **extra
            )
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.ctx.get_help() if error.ctx is not None else "", err=True)
            sys.exit(EXIT_USAGE)
        except click.UsageError as error:
            hint = ""
            if error.ctx is not None:
                hint = f" (see {error.ctx.command_path} --help)"
            fail(f"{error.format_message()}{hint}".replace("\n", " "))
        except click.ClickException as error:
            fail(error.format_message(), error.exit_code)
        except (click.Abort, KeyboardInterrupt):
            say("error", "interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except Terminated:
            say("error", "terminated (SIGTERM)")
            raise
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except Exception as error:
            if os.environ.get(SHOW_TRACEBACK):
                traceback.print_exc()
                sys.exit(EXIT_INTERNAL)
            fail(
                f"internal error: {type(error).__name__}: {message_of(error)} "
                f"(a bug in vfsmc; set {SHOW_TRACEBACK}=1 for the traceback)",
                EXIT_INTERNAL,
            )
        if not standalone_mode:
            return value
        sys.exit(value if isinstance(value, int) else 0)
