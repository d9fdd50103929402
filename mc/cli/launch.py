"""The ``vfsmc`` program: the command line, with Ctrl-C and SIGTERM
handled from the first import on."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from types import FrameType
from typing import NoReturn, TextIO

from mc.cli.exit_codes import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from mc.project import Terminated


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(EXIT_TERMINATED)


def _buffer_output() -> None:
    """Put a buffer under standard output when ``PYTHONUNBUFFERED`` left it
    without one: unbuffered, a write cut short by a reader that exited
    (``vfsmc ops --json | head -c 10``) loses the rest without an error,
    where a buffer raises BrokenPipeError (exit 141).  Lines still go out
    as they are printed."""
    stdout = sys.stdout
    if isinstance(stdout, io.TextIOWrapper) and isinstance(stdout.buffer, io.RawIOBase):
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(stdout.buffer),
            encoding=stdout.encoding,
            errors=stdout.errors,
            line_buffering=True,
        )


class _BestEffort(io.TextIOBase):
    """Standard error as vfsmc writes it: diagnostics and the progress
    line, which are lost rather than fatal where they cannot be written
    (``2>/dev/full``, a closed pipe, ``2>&-``), so the verdict still
    reaches standard output and the exit code still says it."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self._stream = stream

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "errors", None) or "backslashreplace"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._stream is not None:
            with contextlib.suppress(OSError, ValueError):
                self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(OSError, ValueError):
                self._stream.flush()

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation("standard error is closed")
        return self._stream.fileno()


class ProcessExitRefused(Exception):
    """``os._exit()`` called in vfsmc's own process: by a model's code,
    which would end the run with the exit code it names and no verdict."""


def _refuse_process_exit() -> None:
    """Make ``os._exit()`` in this process raise ``ProcessExitRefused``
    (a model error where a model's code calls it) instead of ending it
    without a verdict, clean-up or message; the processes vfsmc forks
    (the workers) end by it as before."""
    real, pid = os._exit, os.getpid()

    def refused(status: int) -> NoReturn:
        if os.getpid() != pid:
            real(status)
        raise ProcessExitRefused(f"os._exit({status}) would end vfsmc without a verdict")

    os._exit = refused


def run() -> None:
    """Import and run the command line; an interruption while importing
    exits 130 without a traceback, SIGTERM exits 143 after the usual
    clean-up (a file being written is removed).  Started with its
    standard output closed (``>&-``), where what it prints would be lost,
    or in a working directory that was removed, it says so and exits 2;
    standard error is written on a best effort (``_BestEffort``), and a
    character neither stream can encode (a lone surrogate of a model's
    string) is escaped.  ``os._exit()`` is refused in this process
    (``_refuse_process_exit``)."""
    if sys.stdout is None:
        if sys.stderr is not None:
            sys.stderr.write("vfsmc: error: standard output is closed: what it prints is lost\n")
        sys.exit(EXIT_USAGE)
    _buffer_output()
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    sys.stderr = _BestEffort(sys.stderr)
    try:
        os.getcwd()
    except FileNotFoundError:
        sys.stderr.write("vfsmc: error: the working directory was removed: cd to one that exists\n")
        sys.exit(EXIT_USAGE)
    try:
        signal.signal(signal.SIGTERM, _terminated)
        _refuse_process_exit()
        from mc.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("vfsmc: error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        sys.stderr.write("vfsmc: error: terminated (SIGTERM)\n")
        raise
    main()
