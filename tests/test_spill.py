"""The spilled state queue gives back what it was given, in order, through
chunks, files and interleaved takes, and deletes its files."""

from __future__ import annotations

import pytest

from mc.engine.spill import SpillQueue


def test_items_come_back_in_order_through_several_files() -> None:
    queue: SpillQueue[tuple[int, str]] = SpillQueue(
        chunk_items=7, segment_bytes=200, memory_items=0
    )
    items = [(i, str(i) * (i % 5)) for i in range(1000)]
    taken = []
    for at, item in enumerate(items):
        queue.put(item)
        if at % 3 == 0:
            taken.append(queue.take())
    assert len(queue.segments) > 1
    while len(queue):
        taken.append(queue.take())
    assert taken == items
    assert len(queue.segments) == 1 and queue.spilled_bytes > 0
    with pytest.raises(IndexError):
        queue.take()


def test_a_queue_that_catches_up_reuses_its_file() -> None:
    queue: SpillQueue[int] = SpillQueue(chunk_items=4, memory_items=0)
    for round_ in range(50):
        for i in range(10):
            queue.put(round_ * 10 + i)
        assert [queue.take() for _ in range(10)] == list(range(round_ * 10, round_ * 10 + 10))
    assert queue.segments[0].size < 100


def test_closing_deletes_the_files() -> None:
    queue: SpillQueue[int] = SpillQueue(chunk_items=2, memory_items=0)
    for i in range(10):
        queue.put(i)
    files = [segment.file for segment in queue.segments]
    queue.close()
    assert files and all(file.closed for file in files)
    assert len(queue) == 0


def test_chunks_held_in_memory_and_in_files_keep_their_order() -> None:
    """Full chunks stay in memory up to ``memory_items`` states, the rest go
    to the files; as the queue drains and fills again, the two interleave
    and every item still comes back in the order it was put."""
    queue: SpillQueue[int] = SpillQueue(chunk_items=3, segment_bytes=64, memory_items=9)
    taken, put = [], 0
    for round_ in range(40):
        for _ in range(round_ % 7 * 5):
            queue.put(put)
            put += 1
        for _ in range(min(len(queue), round_ % 5 * 4)):
            taken.append(queue.take())
        assert queue.held <= 9
    while len(queue):
        taken.append(queue.take())
    assert taken == list(range(put))
    assert queue.spilled_bytes > 0


def test_a_small_queue_never_pickles() -> None:
    queue: SpillQueue[int] = SpillQueue(chunk_items=4, memory_items=100)
    for i in range(90):
        queue.put(i)
    assert [queue.take() for _ in range(90)] == list(range(90))
    assert queue.spilled_bytes == 0 and not queue.segments
