"""The ``vfsmc`` program: the command line, with Ctrl-C and SIGTERM
handled from the first import on."""

from __future__ import annotations

import io
import signal
import sys
from types import FrameType

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


def run() -> None:
    """Import and run the command line; an interruption while importing
    exits 130 without a traceback, SIGTERM exits 143 after the usual
    clean-up (a file being written is removed).  Started with its
    standard output closed (``>&-``), where what it prints would be lost,
    it says so and exits 2."""
    if sys.stdout is None:
        if sys.stderr is not None:
            sys.stderr.write("vfsmc: error: standard output is closed: what it prints is lost\n")
        sys.exit(EXIT_USAGE)
    _buffer_output()
    try:
        signal.signal(signal.SIGTERM, _terminated)
        from mc.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("vfsmc: error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()
