"""Independent checks side by side in forked processes (mc.check.side_by_side)."""

from __future__ import annotations

import os
import signal

import pytest

from mc.check import side_by_side


def test_results_come_back_in_the_order_asked() -> None:
    squares = [index * index for index in range(7)]
    seen: dict[int, int] = {}
    assert side_by_side.each(7, lambda at: squares[at], 2, seen.__setitem__) == squares
    assert seen == dict(enumerate(squares))
    assert side_by_side.each(3, lambda at: os.getpid(), 1) == [os.getpid()] * 3


def test_a_child_s_exception_is_raised_in_the_parent() -> None:
    def work(at: int) -> int:
        if at == 2:
            raise ValueError("mutant 2 is malformed")
        return at

    with pytest.raises(ValueError, match="mutant 2 is malformed"):
        side_by_side.each(4, work, 2)


def test_a_child_that_dies_is_one_error() -> None:
    def work(at: int) -> int:
        if at == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return at

    with pytest.raises(side_by_side.ChildDied, match="ended without an answer"):
        side_by_side.each(3, work, 2)


def test_work_meanwhile_answers_from_another_process() -> None:
    """``meanwhile`` runs the work in a forked process while this one goes
    on: its answer, or the exception it raised, comes back; one that dies
    is ChildDied; a cancelled one is ended."""
    assert side_by_side.meanwhile(os.getpid).result() not in (os.getpid(), None)

    def malformed() -> int:
        raise ValueError("no such lock")

    with pytest.raises(ValueError, match="no such lock"):
        side_by_side.meanwhile(malformed).result()

    def dies() -> int:
        os.kill(os.getpid(), signal.SIGKILL)
        return 0

    with pytest.raises(side_by_side.ChildDied, match="ended without an answer"):
        side_by_side.meanwhile(dies).result()
    sleeping = side_by_side.meanwhile(lambda: signal.pause())
    sleeping.cancel()
    assert not sleeping.running
