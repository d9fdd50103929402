"""Cyclic garbage collected in rounds of a search instead of as it
allocates.

A search allocates a state tuple and its values per transition and keeps
most of them; Python's collector, counting allocations, passes over the
young ones every few hundred and over the kept states now and again,
finding nothing: the kernel models leave no cyclic garbage.  A search
instead turns the collector off, collects at the end of a round (a level
of a worker, a clock tick of a sequential search) and sets aside what
survived (``gc.freeze``), so no later collection passes over it again.  A
collection that finds no garbage doubles the rounds to the next one (up
to ``AT_MOST_EVERY``), one that finds some makes it the next round.  Time
in collections (``gc.callbacks``), one process: writeback/two-writers-
flusher 0.083 s in 49 collections before, 0.017 s in 10 now, of a 3 s
search; bench/scale's dirops-6 with full states and no reduction 0.39 s
in 248, 0.17 s in 11, of 4.6 s.
"""

from __future__ import annotations

import gc

AT_MOST_EVERY = 16
"""The most rounds that pass without a collection."""


class Collector:
    """The collector's state over one search, once ``pause`` took it over."""

    def __init__(self) -> None:
        self.owned = False
        self.rounds_uncollected = 0
        self.every = 1

    def pause(self) -> bool:
        """Turn automatic collection off and set aside what lives now,
        unless it is off already (taken over before, or by a caller that
        manages it); whether this call took it over."""
        if not gc.isenabled():
            return False
        gc.disable()
        gc.freeze()
        self.owned = True
        return True

    def round_ended(self) -> None:
        """Collect if enough rounds passed since the last collection."""
        if not self.owned:
            return
        self.rounds_uncollected += 1
        if self.rounds_uncollected < self.every:
            return
        garbage = gc.collect()
        gc.freeze()
        self.rounds_uncollected = 0
        self.every = 1 if garbage else min(2 * self.every, AT_MOST_EVERY)

    def resume(self) -> None:
        """Give the objects set aside back to the collector and turn
        automatic collection on again, if ``pause`` turned it off."""
        if self.owned:
            gc.unfreeze()
            gc.enable()
            self.owned = False
