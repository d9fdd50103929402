"""Where a search keeps the states it has seen.

``ExactStore`` keeps every state in full, keyed by itself.  ``FingerprintStore``
keeps a 64-bit fingerprint per state in an open-addressing table of two flat
arrays (the fingerprint and the state's number), plus the full states not yet
expanded; as in SPIN's hash-compact mode and TLC, two states with one
fingerprint count as one, with a probability ``omission_probability`` gives.
Both number states in the order they were stored; a search keeps parents
and moves by number, so traces are rebuilt by re-execution either way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from array import array
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

S = TypeVar("S", bound=Hashable)

MASK64 = (1 << 64) - 1
INITIAL_CAPACITY = 1 << 16
MAX_LOAD = 0.75


def fingerprint(state: Hashable) -> int:
    """The state's 64-bit fingerprint (never 0, the table's empty mark):
    Python's hash, which mixes a tuple's items with xxHash's rounds."""
    return (hash(state) & MASK64) or 1


def omission_probability(stored: int) -> float:
    """The probability that a state was taken for another one stored before
    it (two fingerprints equal), for ``stored`` states under uniform 64-bit
    hashing: the birthday bound n(n-1)/2^65."""
    return stored * (stored - 1) / 2.0**65


class Store(ABC, Generic[S]):
    """The seen states of one search."""

    exact: bool

    @abstractmethod
    def find(self, state: S) -> int | None:
        """The number of ``state`` if it was stored."""

    @abstractmethod
    def add(self, state: S, sid: int) -> None:
        """Store ``state`` as number ``sid``."""

    @abstractmethod
    def state(self, sid: int) -> S:
        """The full state ``sid``; only until ``release(sid)`` unless exact."""

    def release(self, sid: int) -> None:
        """State ``sid`` has been expanded; its full value is no longer needed."""

    def kept(self) -> Sequence[S]:
        """Every stored state in full (empty unless exact)."""
        return ()


class ExactStore(Store[S]):
    """Every state in full."""

    exact = True

    def __init__(self) -> None:
        self.index: dict[S, int] = {}
        self.states: list[S] = []

    def find(self, state: S) -> int | None:
        return self.index.get(state)

    def add(self, state: S, sid: int) -> None:
        self.index[state] = sid
        self.states.append(state)

    def state(self, sid: int) -> S:
        return self.states[sid]

    def kept(self) -> Sequence[S]:
        return self.states


class FingerprintStore(Store[S]):
    """64-bit fingerprints in an open-addressing table (linear probing),
    and the full states waiting to be expanded."""

    exact = False

    def __init__(self, capacity: int = INITIAL_CAPACITY) -> None:
        self._allocate(capacity)
        self.size = 0
        self.waiting: dict[int, S] = {}

    def _allocate(self, capacity: int) -> None:
        self.mask = capacity - 1
        self.limit = int(capacity * MAX_LOAD)
        self.keys = array("Q", bytes(8 * capacity))
        self.values = array("I", bytes(4 * capacity))

    def find(self, state: S) -> int | None:
        return self.find_fingerprint(fingerprint(state))

    def find_fingerprint(self, key: int) -> int | None:
        """The number stored under fingerprint ``key``, if any."""
        keys, mask = self.keys, self.mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self.values[slot]
            if found == 0:
                return None
            slot = (slot + 1) & mask

    def add(self, state: S, sid: int) -> None:
        self.add_fingerprint(fingerprint(state), sid)
        self.waiting[sid] = state

    def add_fingerprint(self, key: int, sid: int) -> None:
        """Store number ``sid`` under fingerprint ``key``."""
        if self.size >= self.limit:
            self._grow()
        self._put(key, sid)
        self.size += 1

    def _put(self, key: int, sid: int) -> None:
        keys, mask = self.keys, self.mask
        slot = key & mask
        while keys[slot] != 0:
            slot = (slot + 1) & mask
        keys[slot] = key
        self.values[slot] = sid

    def _grow(self) -> None:
        old_keys, old_values = self.keys, self.values
        self._allocate(2 * len(old_keys))
        for key, sid in zip(old_keys, old_values, strict=True):
            if key:
                self._put(key, sid)

    def state(self, sid: int) -> S:
        return self.waiting[sid]

    def release(self, sid: int) -> None:
        del self.waiting[sid]

    @property
    def table_bytes(self) -> int:
        """The size of the fingerprint table."""
        return self.keys.itemsize * len(self.keys) + self.values.itemsize * len(self.values)
