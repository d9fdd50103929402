"""Truncate and hole punch over symbolic sizes and offsets: every row's
verdict, the symbolic run agreeing with an exhaustive concrete one, the
witnesses of the shipped counterexamples, the invariants on hand-built
states, and the correct protocol reaching the racy windows it must handle."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import registry_with

from mc.check import expectations
from mc.check.checker import changes_something, check_scenario
from mc.check.replay import replay
from mc.dsl.kernel_model import KernelModel
from mc.dsl.operation import Invocation
from mc.dsl.program import Program
from mc.dsl.scenario import Registry, Scenario, Variant
from mc.dsl.symbolic_steps import scenario_symbols, substitute
from mc.engine.explore import Options, Search, check
from mc.engine.result import Verdict
from mc.engine.symbolic import TRUE, Symbol, conjoin, evaluate, le, lt
from mc.kernel.device import READ, WRITE, ZEROES, Bio
from mc.kernel.pagecache import PAGE_SIZE, PG_DIRTY, File
from mc.kernel.pathcond import forget_answers, symbolic_part
from mc.kernel.truncate_properties import (
    NO_LOSS_OUTSIDE_RANGE,
    TRUNCATE_PROPERTIES,
    map_beyond_eof_violation,
    post_eof_exposure_violation,
    stale_data_violation,
    truncation,
    write_to_freed_block_violation,
)
from mc.kernel.world import Scratch, reported_error
from mc.models.blockfs import past_eof as read_finds_past_eof
from mc.models.blockfs_truncate import _truncated as mkwrite_finds_truncated
from mc.models.blockfs_truncate import punch_plan
from mc.models.truncate import mmap_store, munmap, truncate
from mc.models.writeback import io_completion, read
from mc.trace import format as cx_format

ROOT = Path(__file__).resolve().parent.parent
ROWS = [row for row in expectations.load() if row.scenario.startswith("truncate/")]
VARIANTS = (
    "pre-invalidate-lock",
    "no-tail-zeroing",
    "mkwrite-no-truncate-check",
    "truncate-skips-writeback",
    "punch-rounds-out",
)
CONCRETE = {"truncate/unaligned-clean"}
"""Scenarios whose arguments are concrete on purpose (one exact size)."""
SHIPPED = [
    path
    for path in sorted((ROOT / "counterexamples").glob("truncate-*.json"))
    if not any(path.stem.startswith(name.replace("/", "-") + "--") for name in CONCRETE)
]
STEM_MKWRITE = "truncate-truncate-vs-write-fault--mkwrite-no-truncate-check"


def test_every_scenario_and_variant_that_changes_it_has_a_recorded_verdict(
    shipped: Registry,
) -> None:
    names = sorted(name for name in shipped.scenarios if name.startswith("truncate/"))
    assert len(names) >= 4
    recorded = {(row.scenario, row.variants) for row in ROWS}
    for name in names:
        if name not in CONCRETE:
            assert scenario_symbols(shipped.scenario(name)), f"{name} has no symbolic argument"
        assert (name, ()) in recorded
        for variant in VARIANTS:
            scenario = shipped.scenario(name)
            changes = changes_something(
                shipped, shipped.build(scenario, [variant]), variant, scenario
            )
            assert ((name, (variant,)) in recorded) == changes, (name, variant)


def test_every_variant_and_every_invariant_is_caught() -> None:
    caught = {v for row in ROWS if row.violated for v in row.variants}
    assert set(VARIANTS) <= caught
    assert set(TRUNCATE_PROPERTIES) <= {row.violated for row in expectations.load()}


# --- the symbolic run against the concrete enumeration -----------------------------

AGREEMENT = [
    (
        "truncate/shrink-store-extend",
        "no-tail-zeroing",
        "no-post-eof-exposure",
        {"size": (4094, 4099), "pos": (4094, 4100)},
    ),
    (
        "truncate/truncate-vs-write-fault",
        "mkwrite-no-truncate-check",
        "no-map-beyond-eof",
        {"new_size": (4094, 4098), "pos": (4094, 4099)},
    ),
    (
        "truncate/punch-vs-fault",
        "pre-invalidate-lock",
        "no-stale-data",
        {"offset": (4092, 4096), "pos": (4094, 4099)},
    ),
    (
        "truncate/truncate-vs-writeback",
        "truncate-skips-writeback",
        "no-write-to-freed-block",
        {"new_size": (4094, 4098)},
    ),
    (
        "truncate/punch-vs-fault",
        "punch-rounds-out",
        "no-loss-outside-range",
        {"offset": (4093, 4096), "pos": (0, 1)},
    ),
]


def _every_value(ranges: dict[str, tuple[int, int]]) -> list[dict[str, int]]:
    names = list(ranges)
    spans = [range(low, high + 1) for low, high in ranges.values()]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*spans)]


def _concrete_failures(
    shipped: Registry, name: str, variants: list[str], prop: str, values: list[dict[str, int]]
) -> list[dict[str, int]]:
    scenario = shipped.scenario(name)
    failing = []
    for env in values:
        model = shipped.build(substitute(scenario, env), variants, [prop])
        result = check(model)
        assert "z3" not in json.dumps(result.stats.extra)
        if result.verdict is Verdict.VIOLATED:
            failing.append(env)
    return failing


@pytest.mark.parametrize(("name", "variant", "prop", "ranges"), AGREEMENT)
def test_symbolic_run_agrees_with_every_concrete_value(
    shipped: Registry,
    name: str,
    variant: str,
    prop: str,
    ranges: dict[str, tuple[int, int]],
) -> None:
    scenario = shipped.scenario(name)
    narrow = substitute(scenario, {n: Symbol(n, low, high) for n, (low, high) in ranges.items()})
    values = _every_value(ranges)
    failing = _concrete_failures(shipped, name, [variant], prop, values)
    assert failing, "the range must hold failing values"

    first = check(shipped.build(narrow, [variant], [prop]))
    assert first.verdict is Verdict.VIOLATED
    assert first.violation is not None and first.violation.path is not None
    model = shipped.build(narrow, [variant], [prop])
    witness = model.witness(first.violation.path.states[-1])
    assert witness in failing

    whole = shipped.build(narrow, [variant], [prop])
    whole._properties = []  # every state, none stopping the search, with what prop reads kept
    search = Search(whole)
    assert search.run().verdict is Verdict.OK
    invariant = shipped.build(narrow, [variant], [prop]).properties()[0]
    part = symbolic_part(whole.world)
    assert part is not None
    violating = {s[part.path] for s in search.states if invariant.check(s) is not None}
    witness_part = symbolic_part(model.world)
    assert witness_part is not None
    witness_path = first.violation.path.states[-1][witness_part.path]
    assert all(evaluate(cond, witness) for cond in witness_path)
    covered = [env for env in values if any(all(evaluate(c, env) for c in p) for p in violating)]
    assert covered == failing


@pytest.mark.parametrize(("name", "variant", "prop", "ranges"), AGREEMENT)
def test_the_correct_protocol_passes_both_ways(
    shipped: Registry,
    name: str,
    variant: str,
    prop: str,
    ranges: dict[str, tuple[int, int]],
) -> None:
    scenario = shipped.scenario(name)
    narrow = substitute(scenario, {n: Symbol(n, low, high) for n, (low, high) in ranges.items()})
    assert check(shipped.build(narrow, [], [prop])).verdict is Verdict.OK
    assert _concrete_failures(shipped, name, [], prop, _every_value(ranges)) == []


def test_a_truncate_without_invalidate_lock_is_safe_against_readahead(shipped: Registry) -> None:
    """Before 5.15 a truncate had no invalidate_lock against readahead, and
    needed none: it shrinks i_size before it truncates the page cache, and
    the read (do_mpage_readpage(), block_read_full_folio()) maps no block
    at or past i_size_read(), so a folio readahead adds past the new EOF
    holds zeroes, not the freed block's data; a hole punch, which leaves
    i_size, does need the lock."""
    ranges = {"new_size": (4094, 4098), "pos": (4094, 4099)}
    scenario = shipped.scenario("truncate/truncate-vs-readahead")
    narrow = substitute(scenario, {n: Symbol(n, low, high) for n, (low, high) in ranges.items()})
    variants = ["pre-invalidate-lock"]
    assert check(shipped.build(narrow, variants, ["no-stale-data"])).verdict is Verdict.OK
    values = _every_value(ranges)
    assert _concrete_failures(shipped, scenario.name, variants, "no-stale-data", values) == []
    punch = check_scenario(shipped, "truncate/punch-vs-fault", variants, ["no-stale-data"])
    assert punch.result.verdict is Verdict.VIOLATED


def test_truncate_pagecache_before_i_size_write_truncates_by_the_old_size(
    shipped: Registry,
) -> None:
    """``i_size_write()`` and ``truncate_pagecache(inode, inode->i_size)``
    are two steps, the second reading i_size: moved after the page cache
    is truncated, the size write leaves truncate_pagecache() the old size,
    so it unmaps nothing and a pte maps page 1 past the new EOF once the
    truncate returned.  Between the two, on the correct protocol, a fault
    sees the new size with the pages still there (the kernel's window)."""

    def size_late(program: Program, invocation: Invocation) -> Program:
        if not invocation.runs(truncate):
            return program
        size = program.step("i_size_write(inode, attr->ia_size)")
        last = [s for s in program.steps if s.label == "i_mmap_unlock_read(mapping)"][-1]
        return program.move_after([size], last)

    late = Variant("size-late", "i_size_write() after truncate_pagecache()", transform=size_late)
    faults = shipped.scenario("truncate/truncate-vs-write-fault")
    registry = registry_with(shipped, late, scenarios=(faults,))
    broken = check_scenario(registry, "truncate/truncate-vs-write-fault", ["size-late"]).result
    assert broken.verdict is Verdict.VIOLATED and broken.violation is not None
    assert broken.violation.property == "no-map-beyond-eof"
    assert "pte(/f:1) maps page 1 (bytes from 4096) beyond EOF" in broken.violation.message
    correct = check_scenario(registry, "truncate/truncate-vs-write-fault").result
    assert correct.verdict is Verdict.OK


def test_a_folio_wholly_past_eof_need_not_hold_the_newest_data(shipped: Registry) -> None:
    """Mid-truncate, with i_size already down, readahead reads a page past
    the new EOF as zeroes (do_mpage_readpage()) before truncate_pagecache()
    removes it: that folio holds none of the file's data, so
    ``folio-data-current`` does not ask it for the newest version written
    (it did, a false alarm under ``pre-invalidate-lock``)."""
    outcome = check_scenario(
        shipped, "truncate/truncate-vs-readahead", ["pre-invalidate-lock"], ["folio-data-current"]
    )
    assert outcome.result.verdict is Verdict.OK


def test_a_read_completing_on_a_folio_nobody_locked_is_a_lock_protocol_error(
    shipped: Registry,
) -> None:
    """A fault that reads a page in without taking the folio lock leaves
    the I/O completion to unlock a folio no one locked for it: a
    lock-protocol violation (folio_unlock()'s VM_BUG_ON_FOLIO), not a
    model error blamed on the shipped completion handler."""
    mutant = "mutant:drop@mmap_load:find_lock_folio:__folio_lock_killable(folio)"
    outcome = check_scenario(
        shipped, "truncate/punch-vs-fault", [mutant], ["lock-protocol", "deadlock"]
    )
    assert outcome.result.verdict is Verdict.VIOLATED
    assert outcome.result.violation is not None
    assert "completes with no folio locked for it" in outcome.result.violation.message


def test_symbolic_states_and_solver_calls_are_reported(shipped: Registry) -> None:
    """Symbolic states are counted over the states a run keeps in full
    (--exact); with fingerprints only the solver calls are.  A second run
    of the symbols asks none of the questions the first asked."""
    forget_answers()
    outcome = check_scenario(shipped, "truncate/truncate-vs-readahead", options=Options(exact=True))
    extra = outcome.result.stats.extra
    assert 0 < extra["symbolic_states"] <= outcome.result.stats.states
    assert extra["solver_calls"] > 0
    assert "symbolic states" in outcome.result.stats.summary()
    compact = check_scenario(
        shipped, "truncate/truncate-vs-readahead", options=Options(exact=False)
    ).result.stats
    assert compact.states == outcome.result.stats.states
    assert "symbolic_states" not in compact.extra and compact.extra["solver_calls"] == 0
    forget_answers()
    again = check_scenario(shipped, "truncate/truncate-vs-readahead").result.stats
    assert again.states == compact.states
    assert again.extra["solver_calls"] == extra["solver_calls"]
    assert compact.extra["fingerprint_bits"] == 64
    concrete = check_scenario(shipped, "writeback/write-fsync-reclaim")
    assert not {"symbolic_states", "solver_calls"} & set(concrete.result.stats.extra)
    assert "symbolic states" not in concrete.result.stats.summary()


def test_a_concrete_scenario_never_loads_z3() -> None:
    program = (
        "import sys\n"
        "from mc.cli.options import registry\n"
        "from mc.engine.explore import check\n"
        "from mc.dsl.symbolic_steps import substitute\n"
        "reg = registry()\n"
        "scenario = substitute(reg.scenario('truncate/shrink-store-extend'), "
        "{'size': 5000, 'pos': 6000})\n"
        "result = check(reg.build(scenario, ['no-tail-zeroing']))\n"
        "print(result.verdict.value, 'z3' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    assert done.stdout.split() == ["VIOLATED", "False"]


# --- witnesses ------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_a_witness_is_concrete_and_replays(shipped: Registry, path: Path) -> None:
    counterexample = cx_format.load(path)
    scenario = shipped.scenario(counterexample.scenario)
    symbols = {symbol.name: symbol for symbol in scenario_symbols(scenario)}
    assert set(counterexample.witness) == set(symbols)
    for name, value in counterexample.witness.items():
        assert isinstance(value, int) and symbols[name].low <= value <= symbols[name].high
    model = shipped.build(scenario, counterexample.variants, counterexample.properties)
    report = replay(model, counterexample)
    assert report.reproduced and "satisfies the path condition" in report.reason
    concrete = shipped.build(
        substitute(scenario, counterexample.witness),
        counterexample.variants,
        [counterexample.property],
    )
    assert check(concrete).verdict is Verdict.VIOLATED


def test_a_witness_outside_the_path_condition_does_not_replay(shipped: Registry) -> None:
    path = ROOT / "counterexamples" / "truncate-shrink-store-extend--no-tail-zeroing.json"
    counterexample = cx_format.load(path)
    wrong = dict(counterexample.witness, pos=counterexample.witness["size"] - 1)
    edited = attrs.evolve(counterexample, witness=wrong)
    scenario = shipped.scenario(edited.scenario)
    report = replay(shipped.build(scenario, edited.variants, edited.properties), edited)
    assert not report.reproduced
    assert "does not satisfy" in report.reason


def test_the_witness_is_printed_and_drawn(vfsmc: Any) -> None:
    path = ROOT / "counterexamples" / f"{STEM_MKWRITE}.json"
    result = vfsmc("replay", str(path))
    assert result.exit_code == 1
    assert "witness: new_size=" in result.output
    assert "satisfies the path condition" in result.output
    assert "witness: new_size=" in path.with_suffix(".dot").read_text()


# --- the invariants on hand-built states ------------------------------------------------


def _model(shipped: Registry, name: str) -> KernelModel:
    return shipped.build(shipped.scenario(name))


def _set(model: KernelModel, state: tuple[Any, ...], **fields: Any) -> tuple[Any, ...]:
    values = list(state)
    names = {slot.name: i for i, slot in enumerate(model.world.slots)}
    for name, value in fields.items():
        values[names[name]] = value
    return tuple(values)


def test_no_stale_data_on_hand_built_states(shipped: Registry) -> None:
    model = _model(shipped, "truncate/punch-vs-fault")
    part, cache = truncation(model.world), model.world.parts["pagecache"]
    start = model.initial
    assert stale_data_violation(part, cache, start) is None
    stale = _set(model, start, **{"stale(/f:0)": 0, "folio(/f:0)": (0, 1)})
    message = stale_data_violation(part, cache, stale)
    assert message is not None and "holding v0" in message and "block 0" in message
    reading = _set(model, start, **{"stale(/f:0)": 0, "folio(/f:0)": (None, 0)})
    assert "read of block 0 still in flight" in (stale_data_violation(part, cache, reading) or "")
    removed = _set(model, start, **{"stale(/f:0)": 0, "folio(/f:0)": None})
    assert stale_data_violation(part, cache, removed) is None
    past_eof = _set(model, stale, **{"i_size(/f)": 0})
    assert stale_data_violation(part, cache, past_eof) is None
    grown = _set(model, past_eof, **{"i_size(/f)": 1})
    assert stale_data_violation(part, cache, grown) is not None


def test_no_map_beyond_eof_on_hand_built_states(shipped: Registry) -> None:
    model = _model(shipped, "truncate/truncate-vs-write-fault")
    part, mm = truncation(model.world), model.world.parts["mm"]
    symbolic = symbolic_part(model.world)
    size = Symbol("new_size", 0, 8192).var
    mapped = _set(model, model.initial, **{"pte(/f:1)": 0, "i_size(/f)": 4096})
    assert map_beyond_eof_violation(part, mm, symbolic, mapped) is None  # truncate running
    done = _set(model, mapped, **{"T1.truncated": True})
    message = map_beyond_eof_violation(part, mm, symbolic, done)
    assert message is not None and "pte(/f:1)" in message and "T1's truncate" in message
    inside = _set(model, done, **{"i_size(/f)": 4097})
    assert map_beyond_eof_violation(part, mm, symbolic, inside) is None
    below = conjoin(TRUE, le(size, 4096))
    symbolic_state = _set(model, done, **{"i_size(/f)": size, "path condition": below})
    assert map_beyond_eof_violation(part, mm, symbolic, symbolic_state) is not None
    above = conjoin(TRUE, lt(4096, size))
    fine = _set(model, symbolic_state, **{"path condition": above})
    assert map_beyond_eof_violation(part, mm, symbolic, fine) is None


def test_no_write_to_freed_block_on_hand_built_states(shipped: Registry) -> None:
    model = _model(shipped, "truncate/truncate-vs-writeback")
    cache = model.world.parts["pagecache"]
    write = Bio(WRITE, 1, 1, 1, "/f", 0, "end_buffer_async_write")
    in_flight = _set(model, model.initial, **{"bios in flight": (write,)})
    assert write_to_freed_block_violation(cache, in_flight) is None
    freed = _set(model, in_flight, **{"free blocks": (1, 2)})
    message = write_to_freed_block_violation(cache, freed)
    assert message is not None and "block 1 was freed" in message
    read = Bio(READ, 1, 1, 1, "/f", None, "mpage_read_end_io")
    reading = _set(model, freed, **{"bios in flight": (read,)})
    assert write_to_freed_block_violation(cache, reading) is None


def test_no_post_eof_exposure_on_hand_built_states(shipped: Registry) -> None:
    model = _model(shipped, "truncate/shrink-store-extend")
    part, cache = truncation(model.world), model.world.parts["pagecache"]
    assert post_eof_exposure_violation(part, cache, model.initial) is None
    zeroes = _set(model, model.initial, **{"T1.read.back": frozenset({ZEROES})})
    assert post_eof_exposure_violation(part, cache, zeroes) is None
    exposed = _set(model, model.initial, **{"T1.read.back": frozenset({ZEROES, 1})})
    message = post_eof_exposure_violation(part, cache, exposed)
    assert message is not None and "v1 (T1's write)" in message and "not zeroes" in message


# --- the correct protocol meets the races it must handle -------------------------------


def _reached(shipped: Registry, name: str, field: str, wanted: Any) -> bool:
    model = _model(shipped, name)
    slot = next(i for i, s in enumerate(model.world.slots) if s.name == field)
    search = Search(model)
    assert search.run().verdict is Verdict.OK
    return any(state[slot] == wanted for state in search.states)


def test_page_mkwrite_sees_the_truncation_and_the_fault_retries(shipped: Registry) -> None:
    assert _reached(
        shipped, "truncate/truncate-vs-write-fault", "T2.truncated.1.shared_mkwrite", True
    )
    assert _reached(shipped, "truncate/truncate-vs-write-fault", "T2.beyond_eof_locked.1", True)


def test_page_mkwrite_takes_a_folio_that_starts_at_eof_as_truncated(shipped: Registry) -> None:
    """block_page_mkwrite() of 6.6 rechecks ``folio_pos(folio) >= size``: the
    folio at 4096 of a file 4096 bytes long lies wholly past EOF."""
    model = _model(shipped, "truncate/truncate-vs-write-fault")
    (mapping,) = model.world.parts["pagecache"].mappings.values()
    page = mapping.pages[1]
    for size, truncated in ((4095, True), (4096, True), (4097, False), (8192, False)):
        scratch = Scratch(model.world, _set(model, model.initial, **{"i_size(/f)": size}), 0)
        assert mkwrite_finds_truncated(scratch, mapping, page, scratch[page.ident]) is truncated


def test_a_punch_past_eof_reaches_the_end_of_the_eof_page(shipped: Registry) -> None:
    """ext4_punch_hole() of 6.6: a hole past i_size ends with the page i_size
    falls in (``length = inode->i_size + PAGE_SIZE - (inode->i_size &
    (PAGE_SIZE - 1)) - offset``), so that page is freed whole; a hole
    inside i_size is the range asked."""
    model = _model(shipped, "truncate/truncate-vs-write-fault")
    (mapping,) = model.world.parts["pagecache"].mappings.values()
    cases = (
        (5000, 0, 5001, ((0, 1), ())),
        (5000, 100, 4000, ((), ((0, 100, 4096), (1, 0, 4)))),
        (8192, 4096, 4097, ((1,), ())),
        (5000, 6000, 1, ((), ())),
    )
    for size, offset, length, planned in cases:
        scratch = Scratch(model.world, _set(model, model.initial, **{"i_size(/f)": size}), 0)
        assert punch_plan(scratch, mapping, offset, length) == planned, (size, offset, length)


def test_a_fault_after_the_punch_reads_the_hole(shipped: Registry) -> None:
    assert _reached(shipped, "truncate/punch-vs-fault", "T2.loaded.0", frozenset({ZEROES}))


def test_readahead_after_the_truncate_reads_the_hole(shipped: Registry) -> None:
    assert _reached(shipped, "truncate/truncate-vs-readahead", "folio(/f:1)", (ZEROES, 1))


def test_munmap_hands_a_dirty_pte_to_its_folio(shipped: Registry) -> None:
    file = File("/f", pages=2, cached=(0, 1))
    scenario = Scenario(
        "test/store-vs-munmap",
        "",
        ("/f",),
        (mmap_store(file, 100), munmap(file)),
        ("lock-protocol", "spec-conformance", "deadlock", "completes"),
    )
    model = shipped.build(scenario)
    search = Search(model)
    assert search.run().verdict is Verdict.OK
    names = {slot.name: i for i, slot in enumerate(model.world.slots)}
    finished = [s for s in search.states if model.finished(s)]
    assert finished
    for state in finished:
        version, flags = state[names["folio(/f:0)"]]
        assert isinstance(version, tuple) and 1 in dict(version).values()
        assert flags & PG_DIRTY
    zapped_dirty = [s for s in search.states if s[names["T2.munmapped"]] == (0,)]
    assert zapped_dirty, "munmap never found the pte dirty"


def _loss(model: KernelModel, state: tuple[Any, ...], page: int, does: str) -> str | None:
    """What ``Truncation.outside`` records when T1 ``does`` page ``page`` in ``state``."""
    scratch = Scratch(model.world, state, 0)
    (mapping,) = model.world.parts["pagecache"].mappings.values()
    truncation(model.world).outside(scratch, mapping, mapping.pages[page], does)
    return reported_error(tuple(scratch.values), NO_LOSS_OUTSIDE_RANGE)


def test_a_truncation_may_drop_only_what_its_range_holds(shipped: Registry) -> None:
    """A truncate to a symbolic size frees page 1 only where the size is at
    most 4096, and never page 0 unless the size is 0; a punch of one page at
    a symbolic offset frees a page only where the hole holds all of it, or
    all of it up to EOF."""
    model = _model(shipped, "truncate/truncate-vs-writeback")
    size = Symbol("new_size", 0, 8192).var
    small = _set(model, model.initial, **{"path condition": conjoin(TRUE, le(size, 4096))})
    assert _loss(model, small, 1, "frees the block of") is None
    message = _loss(model, small, 0, "frees the block of")
    assert message == (
        "T1 frees the block of /f:0, which lies in part outside the new size new_size: the data "
        "of its bytes outside is lost (a page in part in the range keeps its folio and block, "
        "the part inside zeroed)"
    )
    large = _set(model, model.initial, **{"path condition": conjoin(TRUE, lt(4096, size))})
    assert _loss(model, large, 1, "drops the dirty folio of") is not None

    punch = _model(shipped, "truncate/punch-vs-fault")
    offset = Symbol("offset", 0, 4096).var
    aligned = _set(punch, punch.initial, **{"path condition": conjoin(TRUE, le(offset, 0))})
    assert _loss(punch, aligned, 0, "frees the block of") is None
    assert _loss(punch, aligned, 1, "frees the block of") is not None
    inside = _set(punch, punch.initial, **{"path condition": conjoin(TRUE, lt(0, offset))})
    assert "[offset, (offset + 4096))" in (_loss(punch, inside, 0, "frees the block of") or "")
    assert _loss(punch, inside, 1, "frees the block of") is not None
    to_eof = _set(punch, inside, **{"i_size(/f)": 4096})
    assert _loss(punch, to_eof, 1, "frees the block of") is None


def test_a_read_racing_a_truncate_to_zero_copies_nothing_past_the_new_eof(
    shipped: Registry,
) -> None:
    """filemap_read() tests ki_pos against i_size before the lookup and once
    the folio is uptodate (``read_finds_past_eof``): a read at 0 of a file
    truncated to 0 copies nothing; a read racing the truncate is OK."""
    file = File("/f", pages=1, cached=(0,))
    scenario = Scenario(
        "test/read-vs-truncate",
        "",
        ("/f",),
        (read(file, 0), truncate(file, 0), io_completion(file)),
        ("lock-protocol", "deadlock", "completes"),
    )
    model = shipped.build(scenario)
    assert Search(model).run().verdict is Verdict.OK
    (mapping,) = model.world.parts["pagecache"].mappings.values()
    steps = [step.label for step in model.threads[0].program.steps]
    assert (
        steps.index("filemap_read(): if (unlikely(iocb->ki_pos >= i_size_read(inode))) break")
        < (
            steps.index(
                "isize = i_size_read(inode); if (unlikely(iocb->ki_pos >= isize)) goto put_folios"
            )
        )
        < steps.index("copied = copy_folio_to_iter(folio, offset, bytes, iter)")
    )
    for size, past in ((0, True), (1, False), (PAGE_SIZE, False)):
        scratch = Scratch(model.world, _set(model, model.initial, **{"i_size(/f)": size}), 0)
        assert read_finds_past_eof(scratch, mapping, mapping.pages[0]) is past
