"""Ctrl-C delivered twice at once is one Ctrl-C."""

from __future__ import annotations

import os
import signal
import time

from mc.engine.ctrl_c import REPEATED_WITHIN_SECONDS, one_interrupt_per_press


def _interrupted() -> bool:
    """Whether a SIGINT sent to this process now raises KeyboardInterrupt."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
    except KeyboardInterrupt:
        return True
    return False


def test_a_sigint_repeated_at_once_is_dropped_and_a_later_one_is_not() -> None:
    """``timeout -s INT`` signals the command and then its process group:
    the second comes at once and is dropped; one sent after
    ``REPEATED_WITHIN_SECONDS`` interrupts again; outside, Python's own
    handler is back."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with one_interrupt_per_press():
            assert _interrupted()
            assert not _interrupted()
            time.sleep(REPEATED_WITHIN_SECONDS)
            assert _interrupted()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with one_interrupt_per_press(interruptible=False):
            assert _interrupted() and _interrupted()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_sigint_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with one_interrupt_per_press():
            assert not _interrupted()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
