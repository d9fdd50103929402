"""The reaper ends what a command started when the command is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mc.engine import reaper

COMMAND = """
import subprocess, sys, time
from mc.engine import reaper
kept = reaper.watch()
time.sleep(0.2)
# a raylet: it lives as long as the command, and its agent outlives both
raylet = subprocess.Popen(
    [sys.executable, "-c", "import subprocess, sys; "
     "p = subprocess.Popen(['sleep', '60'], start_new_session=True); print(p.pid, flush=True); "
     "sys.stdin.read()"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
)
print(raylet.stdout.readline().strip(), flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    return reaper._stat(pid) is not None and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return text[text.rindex(")") + 2 :].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_helper_orphaned_by_a_killed_command_is_ended() -> None:
    command = subprocess.Popen(
        [sys.executable, "-c", COMMAND], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    assert command.stdout is not None
    orphan = int(command.stdout.readline())
    time.sleep(2 * reaper.POLL_SECONDS + 0.5)
    assert _alive(orphan)
    command.send_signal(signal.SIGKILL)
    command.wait()
    deadline = time.monotonic() + 10
    while _alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(orphan)


def test_reap_leaves_a_process_whose_pid_was_reused_alone() -> None:
    """A recorded pid with another start time is another process now."""
    with subprocess.Popen(["sleep", "30"]) as other:
        start = reaper._stat(other.pid)
        assert start is not None
        assert reaper.reap({other.pid: start[1] - 1}) == []
        assert other.poll() is None
        assert reaper.reap({other.pid: start[1]}) == [other.pid]
        other.wait(5)
