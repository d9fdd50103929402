"""Metadata buffers (models/buffer.py): each variant breaks what the buffer
cache's protocol protects, with a message naming the lost update or the
freed buffer_head, and the correct protocol keeps every update."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mc.check.checker import check_scenario
from mc.dsl import ModelError
from mc.dsl.scenario import Registry
from mc.models.buffer import update_block

BROKEN = [
    (
        "buffer/two-updaters",
        "bread-skips-uptodate-recheck",
        "metadata-update-durable",
        "alice's update of block 7 is lost: the block holds no bits set, the buffer holds {bob}",
    ),
    (
        "buffer/update-vs-reclaim",
        "free-buffers-ignores-b_count",
        "bh-no-use-after-free",
        "touches buffer_head #1 of block 7, which try_to_free_buffers() freed",
    ),
    (
        "buffer/sync-update-vs-flusher",
        "writeback-skips-redirty",
        "metadata-update-durable",
        "bob's update of block 7 is lost: the block holds {alice}, the buffer holds "
        "{alice, bob} (cached, clean, buffer Uptodate|Dirty)",
    ),
    (
        "buffer/sync-update-vs-syncfs",
        "sync-writeback-trylocks",
        "metadata-synced",
        "T3's sync_blockdev() returns with alice's update of block 7, dirty in the folio when "
        "it began, not on the device",
    ),
]


@pytest.mark.parametrize(("scenario", "variant", "prop", "words"), BROKEN)
def test_each_variant_breaks_what_the_buffer_protocol_protects(
    shipped: Registry, scenario: str, variant: str, prop: str, words: str
) -> None:
    assert check_scenario(shipped, scenario, []).result.violation is None
    found = check_scenario(shipped, scenario, [variant]).result.violation
    assert found is not None
    assert found.property == prop
    assert words in found.message


def test_every_end_state_has_every_update_on_disk_or_in_a_dirty_buffer(
    shipped: Registry,
) -> None:
    """What metadata-update-durable asks, read off every final state of the
    flusher scenario: both bits are in the buffer, and a bit the block
    lacks is in a dirty buffer of a dirty folio; some final states have
    bob's bit only in the buffer (the flusher found alice's write holding
    the buffer lock and redirtied the folio)."""
    model = shipped.build(shipped.scenario("buffer/sync-update-vs-flusher"), properties=())
    slots = {slot.name: index for index, slot in enumerate(model.world.slots)}
    seen, frontier = set(model.init_states()), list(model.init_states())
    while frontier:
        for _action, after in model.successors(frontier.pop()):
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    ends = [state for state in seen if model.finished(state)]
    assert ends
    pending = 0
    for state in ends:
        on_disk = state[slots["on disk(block 7)"]]
        assert state[slots["updates made(block 7)"]] == {"alice", "bob"}
        assert state[slots["b_count(block 7)"]] == 0
        if on_disk != {"alice", "bob"}:
            pending += 1
            assert state[slots["b_data(block 7)"]] == {"alice", "bob"}
            assert state[slots["folio(bdev:0)"]] & 1
            assert state[slots["b_state(block 7)"]] & 2
    assert pending


def test_an_operation_takes_its_arguments_by_keyword_too() -> None:
    assert update_block("alice", sync=True) == update_block("alice", True)
    assert update_block(bit="alice") == update_block("alice")
    with pytest.raises(ModelError, match=r"update_block\(\): got an unexpected keyword"):
        update_block("alice", synchronous=True)


@pytest.mark.usefixtures("own_models")
def test_buffer_io_without_a_completion_thread_says_what_is_missing(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """The read sb_bread() submits is never completed: the deadlock names
    the thread to add, and the other updater waits for the first."""
    (tmp_path / "mine.py").write_text(
        "from mc.dsl import scenario\n"
        "from mc.models.buffer import update_block\n"
        'scenario("mine/alone", "updates nobody completes the reads of", tree=[],\n'
        '         threads=[update_block("alice"), update_block("bob")])\n'
    )
    result = vfsmc("check", "mine.py:mine/alone", "--no-save")
    assert result.exit_code == 1, result.output
    assert (
        "waits for BH_Lock(block 7), which no thread could end (no thread of the scenario "
        "completes bios: add a bh_io_completion() thread)"
    ) in result.output


SUBMIT_UNLOCKED = """
from mc.dsl import Invocation, Program, variant
from mc.models.buffer import update_block

@variant("sync-without-lock-buffer", "__sync_dirty_buffer() submits without lock_buffer()")
def sync_without_lock(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(update_block):
        return program
    return program.drop_acquisitions(
        lambda step: step.label == "sync_dirty_buffer(bh): lock_buffer(bh)"
    )
"""


@pytest.mark.usefixtures("own_models")
def test_io_submitted_on_a_buffer_the_thread_did_not_lock_is_a_protocol_error(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """submit_bh_wbc()'s BUG_ON(!buffer_locked(bh)): a sync write without
    lock_buffer() is reported where it submits, blaming its own thread."""
    (tmp_path / "mine.py").write_text(SUBMIT_UNLOCKED)
    args = ("--models", "mine.py", "-V", "sync-without-lock-buffer", "--no-save")
    result = vfsmc("check", "buffer/sync-update-vs-flusher", *args)
    assert result.exit_code == 1, result.output
    assert "lock-protocol in buffer/sync-update-vs-flusher" in result.output
    assert (
        "T1 submits I/O of the buffer of block 7 without holding its BH_Lock (nobody holds it)"
    ) in result.output
