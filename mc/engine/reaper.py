"""Ends the processes a command started when the command itself is killed.

A local Ray instance is a tree of processes (the GCS server, the raylet,
the agents the raylet starts, the actors).  Ray ends them when the command
shuts it down, and the GCS server and the raylet die with the command, but
the raylet's agents outlive a command killed by SIGKILL: they are orphaned,
and wait for nothing.  ``watch()`` starts this module as a process of its
own session, which records, twice a second, every descendant of the
command; when the command's end closes the pipe to it, it kills those that
are still the processes it recorded (same pid, same start time).

    python -m mc.engine.reaper PID    (its standard input a pipe from PID)
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

POLL_SECONDS = 0.5
PROC = Path("/proc")


def watch() -> subprocess.Popen[bytes] | None:
    """Start the reaper of this process's descendants (None where there is
    no ``/proc`` to find them in)."""
    if not (PROC / str(os.getpid()) / "stat").exists():
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "mc.engine.reaper", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stat(pid: int) -> tuple[int, int] | None:
    """``pid``'s parent and start time, or None once it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Each process below ``root``, with its start time."""
    parents: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        found = _stat(int(entry.name))
        if found is not None:
            parents.setdefault(found[0], []).append(int(entry.name))
            started[int(entry.name)] = found[1]
    below: dict[int, int] = {}
    frontier = [root]
    while frontier:
        for child in parents.get(frontier.pop(), ()):
            if child not in below:
                below[child] = started[child]
                frontier.append(child)
    return below


def reap(recorded: dict[int, int]) -> list[int]:
    """Kill the ``recorded`` processes still running as recorded; the pids killed."""
    killed = []
    for pid, start in recorded.items():
        now = _stat(pid)
        if now is not None and now[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
            killed.append(pid)
    return killed


def main(root: int) -> None:
    """Record ``root``'s descendants until standard input ends, then reap them."""
    recorded: dict[int, int] = {}
    me = os.getpid()
    while True:
        recorded.update({pid: start for pid, start in descendants(root).items() if pid != me})
        ready, _, _ = select.select([sys.stdin.buffer], [], [], POLL_SECONDS)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break
    reap(recorded)


if __name__ == "__main__":
    main(int(sys.argv[1]))
