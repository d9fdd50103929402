"""The bytes of one page when they are not all of one data version: runs
of bytes whose boundaries may be symbolic offsets.

The contents of a folio (and of a block) are a data version (``0``, ``v1``,
``ZEROES``) when every byte of the page holds the same, or a tuple of runs
``((0, v0), (new_size % 4096, ZEROES))``: run ``k`` holds its version from
its start up to the start of the next run (the last one up to
``PAGE_SIZE``).  Starts are ints or terms of ``mc.engine.symbolic``; writing and
reading a byte range decides how its ends compare with the starts
(``pathcond.decide``), so these functions run inside forking steps.  A run
may be empty (a write at offset 0 of a page of one version leaves the run
before it empty): reading decides which runs hold bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mc.kernel.device import ZEROES, render_version
from mc.kernel.pagecache import PAGE_SIZE, Page
from mc.kernel.pathcond import Decision, Value, at_least, decide, larger, less
from mc.kernel.world import Scratch

Runs = tuple[tuple[Value, int], ...]
Content = Any
"""A data version (int), runs (``Runs``) or None (never read)."""


def runs_of(content: Content) -> list[tuple[Value, int]]:
    """The runs of ``content`` (one run for a whole-page version)."""
    if isinstance(content, tuple):
        return list(content)
    return [(0, content)]


def normal(runs: list[tuple[Value, int]]) -> Content:
    """Adjacent runs of the same version merged; a single run is its version."""
    merged: list[tuple[Value, int]] = []
    for start, version in runs:
        if merged and merged[-1][1] == version:
            continue
        merged.append((start, version))
    if len(merged) == 1:
        return merged[0][1]
    first = merged[0]
    return ((0, first[1]), *merged[1:])


def _ends(runs: list[tuple[Value, int]]) -> list[Value]:
    return [start for start, _ in runs[1:]] + [PAGE_SIZE]


def fill(scratch: Scratch, content: Content, start: Value, end: Value, version: int) -> Content:
    """``content`` with bytes ``[start, end)`` holding ``version`` (the
    caller keeps ``0 <= start`` and ``end <= PAGE_SIZE``).  Writing into a
    page of one version decides nothing: its runs may be empty."""
    if content is None:
        raise ValueError("writing into a page that holds no data yet")
    if not isinstance(content, tuple):
        at_end = isinstance(end, int) and end >= PAGE_SIZE
        tail = [] if at_end else [(end, content)]
        return normal([(0, content), (start, version), *tail])
    if not decide(scratch, less(start, end)):
        return content
    runs = runs_of(content)
    ends = _ends(runs)
    before = [(s, v) for s, v in runs if decide(scratch, less(s, start))]
    after = [
        (larger(scratch, s, end), v)
        for (s, v), e in zip(runs, ends, strict=True)
        if decide(scratch, less(end, e))
    ]
    return normal([*before, (start, version), *after])


def zero(scratch: Scratch, content: Content, start: Value, end: Value = PAGE_SIZE) -> Content:
    """``folio_zero_range()`` / ``folio_zero_segment()``: bytes ``[start,
    end)`` become zeroes."""
    return fill(scratch, content, start, end, ZEROES)


def zero_folio(
    scratch: Scratch,
    page: Page,
    start: Value,
    end: Value = PAGE_SIZE,
    asked: tuple[Value, Value] | None = None,
) -> None:
    """``zero`` on the folio cached at ``page`` (none: nothing to do), and the
    versions none of its runs holds any more noted as erased (``Page.erased``):
    those the range the operation was ``asked`` to zero (the bytes past the
    new EOF, the hole; by default ``start`` to ``end``) overwrites whole.  A
    zeroing wider than asked (a bug) erases no version the asked range
    leaves, so ``no-lost-write`` still wants it on the device."""
    folio = scratch[page.folio]
    if folio is None or folio[0] is None:
        return
    content, flags = folio
    zeroed = zero(scratch, content, start, end)
    scratch[page.folio] = (zeroed, flags)
    gone = {v for _, v in runs_of(content)} - {v for _, v in runs_of(zeroed)} - {ZEROES}
    if gone and asked is not None and asked != (start, end):
        kept = zero(scratch, content, *asked)
        gone &= {v for _, v in runs_of(content)} - {v for _, v in runs_of(kept)}
    if gone:
        scratch[page.erased] = scratch[page.erased] | gone


def versions_in(scratch: Scratch, content: Content, start: Value, end: Value) -> frozenset[int]:
    """The data versions of bytes ``[start, end)`` (none when the range is
    empty)."""
    if content is None or not decide(scratch, less(start, end)):
        return frozenset()
    runs = runs_of(content)
    return frozenset(
        v
        for (s, v), e in zip(runs, _ends(runs), strict=True)
        if decide(scratch, less(s, e))
        and decide(scratch, less(s, end))
        and decide(scratch, less(start, e))
    )


def render_versions(versions: frozenset[int] | None) -> str:
    """What a read returned: ``zeroes``, ``v0, v1``..."""
    if versions is None:
        return "nothing yet"
    if not versions:
        return "no bytes"
    return ", ".join(render_version(v) for v in sorted(versions))


def _below(content: Content, limit: Value, proves: Callable[[Decision], bool]) -> Content:
    """``content`` cut to bytes ``[0, limit)``: the runs that start below
    ``limit`` (a run is dropped only when ``proves`` shows it starts at or
    past it)."""
    kept = [(s, v) for s, v in runs_of(content) if not proves(at_least(s, limit))]
    return normal(kept) if kept else ()


def agree_below(a: Content, b: Content, limit: Value, proves: Callable[[Decision], bool]) -> bool:
    """Whether contents ``a`` and ``b`` hold the same data versions in bytes
    ``[0, limit)`` (``limit`` within the page; ``proves(cond)`` says whether a
    comparison holds in the state at hand).  A run whose start cannot be
    placed against ``limit`` counts as below it, so a difference that may
    lie below ``limit`` is never missed."""
    if a == b:
        return True
    if proves(at_least(0, limit)):
        return True
    return bool(_below(a, limit, proves) == _below(b, limit, proves))
