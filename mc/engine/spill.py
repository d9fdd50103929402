"""A first-in first-out queue of states kept out of memory, as TLC's state
queue: the states put last wait in memory in a chunk; a full chunk stays
in memory while the queue holds fewer than ``MEMORY_ITEMS`` states there
(a small search never pickles), else it is pickled (protocol 5) to the end
of a temporary file, and read back in one piece when its turn comes.  A
file holds chunks up to ``SEGMENT_BYTES``, then a new one is started; a
file is deleted once each of its chunks has been read, and every file when
the queue is closed (the files have no name, so they go with the process
too)."""

from __future__ import annotations

import pickle
import tempfile
from collections import deque
from typing import IO, Generic, TypeVar

T = TypeVar("T")

CHUNK_ITEMS = 64
SEGMENT_BYTES = 1 << 26
MEMORY_ITEMS = 4096
"""How many states full chunks may hold in memory before they are pickled."""


class _Segment:
    """One temporary file of pickled chunks, written at its end and read
    from its start."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="vfsmc-queue-")  # noqa: SIM115
        self.written = 0
        self.read = 0
        self.read_offset = 0
        self.size = 0

    def write(self, chunk: list[T]) -> None:
        self.file.seek(self.size)
        self.size += self.file.write(pickle.dumps(chunk, protocol=5))
        self.written += 1

    def clear(self) -> None:
        self.file.truncate(0)
        self.written = self.read = self.read_offset = self.size = 0

    def next_chunk(self) -> list[T]:
        self.file.seek(self.read_offset)
        chunk: list[T] = pickle.load(self.file)
        self.read_offset = self.file.tell()
        self.read += 1
        return chunk


class SpillQueue(Generic[T]):
    """Items taken in the order put, all but the newest ``chunk_items``
    waiting pickled in temporary files."""

    def __init__(
        self,
        chunk_items: int = CHUNK_ITEMS,
        segment_bytes: int = SEGMENT_BYTES,
        memory_items: int = MEMORY_ITEMS,
    ) -> None:
        self.chunk_items = chunk_items
        self.segment_bytes = segment_bytes
        self.memory_items = memory_items
        self.writing: list[T] = []
        self.reading: list[T] = []
        self.read_at = 0
        self.chunks: deque[list[T] | None] = deque()
        """The full chunks in order: a list held in memory, or None for the
        next chunk of the files."""
        self.held = 0
        self.segments: deque[_Segment] = deque()
        self.size = 0
        self.spilled_bytes = 0

    def __len__(self) -> int:
        return self.size

    def put(self, item: T) -> None:
        """Add ``item`` at the end."""
        self.writing.append(item)
        self.size += 1
        if len(self.writing) >= self.chunk_items:
            self._spill()

    def take(self) -> T:
        """The oldest item, removed; IndexError when empty."""
        if self.read_at == len(self.reading):
            self._refill()
        item = self.reading[self.read_at]
        self.read_at += 1
        self.size -= 1
        return item

    def close(self) -> None:
        """Delete every file and forget every item."""
        for segment in self.segments:
            segment.file.close()
        self.segments.clear()
        self.chunks.clear()
        self.writing, self.reading, self.read_at, self.size, self.held = [], [], 0, 0, 0

    def _spill(self) -> None:
        if self.held + len(self.writing) <= self.memory_items:
            self.chunks.append(self.writing)
            self.held += len(self.writing)
            self.writing = []
            return
        self.chunks.append(None)
        if not self.segments or self.segments[-1].size >= self.segment_bytes:
            self.segments.append(_Segment())
        segment = self.segments[-1]
        before = segment.size
        segment.write(self.writing)
        self.spilled_bytes += segment.size - before
        self.writing = []

    def _refill(self) -> None:
        self.read_at = 0
        if self.chunks:
            chunk = self.chunks.popleft()
            if chunk is not None:
                self.held -= len(chunk)
                self.reading = chunk
                return
        while self.segments:
            oldest = self.segments[0]
            if oldest.read < oldest.written:
                self.reading = oldest.next_chunk()
                return
            if len(self.segments) == 1:
                oldest.clear()
                break
            self.segments.popleft().file.close()
        if not self.writing:
            self.reading = []
            raise IndexError("take from an empty queue")
        self.reading, self.writing = self.writing, []
