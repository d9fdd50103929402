"""The ``vfsmc`` program: the command line, with Ctrl-C and SIGTERM
handled from the first import on."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from mc.cli.exit_codes import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(EXIT_TERMINATED)


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
    try:
        signal.signal(signal.SIGTERM, _terminated)
        from mc.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("vfsmc: error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()
