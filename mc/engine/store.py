"""Where a search keeps the states it has seen.

``ExactStore`` keeps every state in full, keyed by itself.  ``FingerprintStore``
keeps a 64-bit fingerprint per state in an open-addressing table of 8-byte
slots, and the full states not yet taken for expansion: as in SPIN's
hash-compact mode and TLC, two states with one fingerprint count as one,
with a probability ``omission_probability`` gives.  A breadth-first search
takes the states in the order stored: they wait pickled in temporary files
(``SpillQueue``, as TLC's state queue), and the numbers of the states of
about two levels are kept by fingerprint (``NumberTable``).  Both stores
number states in the order stored; a search keeps parents and moves by
number, so traces are rebuilt by re-execution either way.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from array import array
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

from mc.engine.spill import SpillQueue

S = TypeVar("S", bound=Hashable)

MASK64 = (1 << 64) - 1
INITIAL_CAPACITY = 1 << 10
MAX_LOAD = 0.75
MIN_NUMBERS = 1 << 10
SEEN = -1
"""What ``find`` answers for a stored state whose number the store no longer
keeps: below every number, so a state taken before compares as one."""


def fingerprint(state: Hashable) -> int:
    """The state's 64-bit fingerprint (never 0, the table's empty mark):
    Python's hash, which mixes a tuple's items with xxHash's rounds, of the
    state and, for a tuple holding -2, of where it holds it.  Python
    hashes -1 as -2 (-1 is its error code), so two states that differ only
    by -1 against -2 in some slots (-EPERM against -ENOENT in a return
    value, or the two swapped between two threads) would otherwise have
    one fingerprint, which no uniform hash would give them.  Of two such
    states, one holds -2 where the other does not: a state without -2 is
    hashed alone (one scan, ``tuple.count``, tells), and the positions of
    the -2s tell apart the states that hold some.  A -1 inside a slot's
    tuple (an item of an item) would still hash as -2, so a kernel model's
    slot may not hold one (``mc.kernel.world.MINUS_ONE_INSIDE``)."""
    if type(state) is not tuple:
        return (hash(state) & MASK64) or 1
    minus_twos = state.count(-2)
    if not minus_twos:
        return (hash(state) & MASK64) or 1
    where = [hash(state)]
    at = -1
    for _ in range(minus_twos):
        at = state.index(-2, at + 1)
        where.append(at)
    return (hash(tuple(where)) & MASK64) or 1


def omission_probability(stored: int) -> float:
    """The probability that a state was taken for another one stored before
    it (two fingerprints equal), for ``stored`` states under uniform 64-bit
    hashing: the birthday bound n(n-1)/2^65."""
    return stored * (stored - 1) / 2.0**65


class Store(ABC, Generic[S]):
    """The seen states of one search."""

    exact: bool

    @abstractmethod
    def find(self, state: S, key: int | None = None) -> int | None:
        """None when ``state`` was never stored; else its number, or ``SEEN``
        for a state a fingerprint store has given out (``take``) and no
        longer numbers.  A state not yet taken from an exact store or one
        that gives states in order always has its number.  ``key``: the
        state's ``fingerprint`` when the caller has it already."""

    @abstractmethod
    def add(self, state: S, sid: int, key: int | None = None) -> None:
        """Store ``state`` as number ``sid`` (``key``: its ``fingerprint``,
        when the caller has it)."""

    @abstractmethod
    def take(self, sid: int) -> S:
        """The full state ``sid``, to be expanded: from a fingerprint store
        only once (in the order stored when it is ``in_order``)."""

    def kept(self) -> Sequence[S]:
        """Every stored state in full (empty unless exact)."""
        return ()

    def memory_bytes(self) -> int | None:
        """The bytes the store holds to know which states it has seen and
        their numbers (None for an exact store, whose states are Python
        objects of their own).  The states waiting to be taken are not
        counted: a breadth-first search keeps them in temporary files."""
        return None

    def close(self) -> None:
        """The search is over: give back what the store holds outside memory."""


class ExactStore(Store[S]):
    """Every state in full."""

    exact = True

    def __init__(self) -> None:
        self.index: dict[S, int] = {}
        self.states: list[S] = []

    def find(self, state: S, key: int | None = None) -> int | None:
        return self.index.get(state)

    def add(self, state: S, sid: int, key: int | None = None) -> None:
        self.index[state] = sid
        self.states.append(state)

    def take(self, sid: int) -> S:
        return self.states[sid]

    def kept(self) -> Sequence[S]:
        return self.states

    def least_bytes(self) -> int:
        """The bytes the index and the state tuples themselves take (their
        items, mostly shared between states, left out): the least the
        store holds."""
        tuples = sum(sys.getsizeof(state) for state in self.states)
        return sys.getsizeof(self.index) + sys.getsizeof(self.states) + tuples


def array_bytes(*arrays: array[int]) -> int:
    """The bytes the items of ``arrays`` take."""
    return sum(items.itemsize * len(items) for items in arrays)


def _zeros(typecode: str, length: int) -> array[int]:
    return array(typecode, [0]) * length


class NumberTable:
    """Numbers by fingerprint in an open-addressing table (linear probing)
    of 8-byte fingerprints and 4-byte numbers."""

    def __init__(self, capacity: int) -> None:
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self.mask = capacity - 1
        self.limit = int(capacity * MAX_LOAD)
        self.keys = _zeros("Q", capacity)
        self.values = _zeros("I", capacity)
        self.size = 0

    def get(self, key: int) -> int | None:
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

    def put(self, key: int, sid: int) -> None:
        """Number ``sid`` under fingerprint ``key``."""
        if self.size >= self.limit:
            old_keys, old_values = self.keys, self.values
            self._allocate(2 * len(old_keys))
            for old, number in zip(old_keys, old_values, strict=True):
                if old:
                    self.put(old, number)
        keys, mask = self.keys, self.mask
        slot = key & mask
        while keys[slot] != 0:
            slot = (slot + 1) & mask
        keys[slot] = key
        self.values[slot] = sid
        self.size += 1


class NumberedFingerprints:
    """Every state's fingerprint by number (8 bytes a state, in the order
    numbered) and an open-addressing table (linear probing) of numbers
    (4 bytes a slot) that finds a fingerprint's number: a third less than
    a table of fingerprints and numbers side by side, at the load a
    doubling table keeps."""

    def __init__(self, capacity: int) -> None:
        self.by_number = array("Q")
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self.mask = capacity - 1
        self.limit = int(capacity * MAX_LOAD)
        self.slots = _zeros("I", capacity)
        """Each slot empty (0) or a number plus one."""

    def get(self, key: int) -> int | None:
        """The number of fingerprint ``key``, if it has one."""
        slots, mask, by_number = self.slots, self.mask, self.by_number
        slot = key & mask
        while True:
            held = slots[slot]
            if held == 0:
                return None
            if by_number[held - 1] == key:
                return held - 1
            slot = (slot + 1) & mask

    def put(self, key: int, sid: int) -> None:
        """Number ``sid``, the next number, is fingerprint ``key``'s."""
        by_number = self.by_number
        if sid != len(by_number):
            raise ValueError(f"state {sid} numbered out of order (next is {len(by_number)})")
        by_number.append(key)
        if len(by_number) > self.limit:
            self._allocate(2 * len(self.slots))
            for number, known in enumerate(by_number):
                self._place(known, number)
            return
        self._place(key, sid)

    def _place(self, key: int, sid: int) -> None:
        slots, mask = self.slots, self.mask
        slot = key & mask
        while slots[slot] != 0:
            slot = (slot + 1) & mask
        slots[slot] = sid + 1

    def memory_bytes(self) -> int:
        return array_bytes(self.by_number, self.slots)


class FingerprintStore(Store[S]):
    """64-bit fingerprints in an open-addressing table (linear probing),
    and the full states not yet taken: with ``in_order`` (a breadth-first
    search, which takes them in the order stored) in a ``SpillQueue`` with
    their numbers in two generations of ``NumberTable``, else in memory.
    ``numbered``: the number of every state is kept with its fingerprint
    (``NumberedFingerprints``, states stored in the order of their
    numbers), so ``find`` never answers ``SEEN`` (a search that keeps the
    graph's edges, ``mc.engine.endings``)."""

    exact = False

    def __init__(
        self, capacity: int = INITIAL_CAPACITY, in_order: bool = True, numbered: bool = False
    ) -> None:
        self.numbered = numbered
        self.numbers = NumberedFingerprints(capacity if numbered else 1)
        self._allocate(1 if numbered else capacity)
        self.size = 0
        self.in_order = in_order
        self.queue: SpillQueue[S] = SpillQueue()
        self.older = NumberTable(MIN_NUMBERS)
        self.newer = NumberTable(MIN_NUMBERS)
        self.newer_from = 0
        """The numbers of the states stored since the last turn (from
        ``newer_from`` on), and of those stored in the turn before it.  The
        store turns when the first state of the newer generation is taken,
        as every state of the older one has been: breadth-first, a
        generation is about a level, so the numbers of two levels are kept."""
        self.waiting: dict[int, S] = {}
        self.next_taken = 0
        self.missed: tuple[S | None, int] = (None, 0)
        """The last state ``find`` looked for, with its fingerprint, which
        ``add`` does not compute again when it stores that state."""

    def _allocate(self, capacity: int) -> None:
        self.mask = capacity - 1
        self.limit = int(capacity * MAX_LOAD)
        self.keys = _zeros("Q", capacity)

    def find(self, state: S, key: int | None = None) -> int | None:
        if key is None:
            key = fingerprint(state)
        self.missed = (state, key)
        if self.numbered:
            return self.numbers.get(key)
        return self.find_fingerprint(key)

    def find_fingerprint(self, key: int) -> int | None:
        """``find`` of the state whose ``fingerprint`` is ``key``."""
        if self.numbered:
            return self.numbers.get(key)
        keys, mask = self.keys, self.mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                break
            if found == 0:
                return None
            slot = (slot + 1) & mask
        if not self.in_order:
            return SEEN
        sid = self.newer.get(key)
        if sid is None:
            sid = self.older.get(key)
            if sid is None:
                return SEEN
        return sid

    def add(self, state: S, sid: int, key: int | None = None) -> None:
        if key is None:
            missed, key = self.missed
            if missed is not state:
                key = fingerprint(state)
        if self.numbered:
            self.numbers.put(key, sid)
        else:
            if self.size >= self.limit:
                self._grow()
            self._put(key)
        self.size += 1
        if self.in_order:
            self.queue.put(state)
            if not self.numbered:
                self.newer.put(key, sid)
        else:
            self.waiting[sid] = state

    def _put(self, key: int) -> None:
        keys, mask = self.keys, self.mask
        slot = key & mask
        while keys[slot] != 0:
            slot = (slot + 1) & mask
        keys[slot] = key

    def _grow(self) -> None:
        old_keys = self.keys
        self._allocate(2 * len(old_keys))
        for key in old_keys:
            if key:
                self._put(key)

    def take(self, sid: int) -> S:
        if not self.in_order:
            return self.waiting.pop(sid)
        if sid != self.next_taken:
            raise ValueError(f"state {sid} taken out of order (next is {self.next_taken})")
        self.next_taken = sid + 1
        if sid >= self.newer_from:
            self._turn()
        return self.queue.take()

    def _turn(self) -> None:
        capacity = MIN_NUMBERS
        while capacity * MAX_LOAD < self.newer.size:
            capacity *= 2
        self.older, self.newer = self.newer, NumberTable(capacity)
        self.newer_from = self.size

    def close(self) -> None:
        self.queue.close()

    def memory_bytes(self) -> int:
        """The fingerprint table and the two generations of numbers (or
        every state's number)."""
        numbers = (self.older.keys, self.older.values, self.newer.keys, self.newer.values)
        held = self.numbers.memory_bytes() if self.numbered else 0
        return held + array_bytes(self.keys, *numbers)
