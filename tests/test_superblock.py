"""The superblock models: freezing, sync(2), internal transactions, the
inode's life, unmount and mount get the verdicts specs/expectations.toml
records, the properties hold or fail on hand-built states as their
definitions say, writeback write-protects
a mapped folio, and which read sides are uncontended (of rw_semaphores
no step takes for writing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import reachable_states, registry_with

from mc.check import expectations, lockorder
from mc.check.checker import check_scenario
from mc.check.registry import shipped as shipped_registry
from mc.check.registry import with_files
from mc.dsl import SHARED, E, Invocation, Op, Program, operation
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry, Scenario, Variant
from mc.dsl.uncontended import read_only_families
from mc.engine.result import Verdict
from mc.kernel.device import WRITE, Bio
from mc.kernel.inode_life import (
    EVICTED,
    InodeLife,
    begin_evict,
    clean_unmount_violation,
    no_use_after_evict_violation,
    touch,
)
from mc.kernel.locks import HANDED_OFF
from mc.kernel.pagecache import PG_DIRTY, PG_UPTODATE, File, pagecache
from mc.kernel.superblock import (
    SB_FREEZE_COMPLETE,
    SB_FREEZE_FS,
    SB_UNFROZEN,
    find_slot,
    no_write_while_frozen_violation,
    sb_writers,
)
from mc.kernel.world import DONE, ModelError, Scratch
from mc.models.inode import inode_flusher, iput, iput_last, part_of
from mc.models.mnt_write import (
    create_want_write,
    link_want_write,
    mkdir_want_write,
    mknod_want_write,
    open_creat_want_write,
    symlink_want_write,
    tmpfile_want_write,
)
from mc.models.mount import mount, sync_inode, umount
from mc.models.quota import start_handle, stop_handle
from mc.models.super import freeze, kernel_freeze, sync, syncfs, thaw
from mc.models.super_scenarios import FREEZE_PROPERTIES, INODE_FILE
from mc.models.truncate import mmap_store, munmap
from mc.models.writeback import fsync, io_completion, write

FROZEN_FILE = File("/f", pages=1, cached=(0,))
COLD_FILE = File("/f", pages=1)

ROWS = [row for row in expectations.load() if row.scenario.startswith("super/")]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.label)
def test_each_row_gets_its_recorded_verdict(shipped: Registry, row: expectations.Row) -> None:
    outcome = check_scenario(shipped, row.scenario, row.variants)
    assert outcome.result.verdict is row.verdict
    violation = outcome.result.violation
    assert (violation.property if violation is not None else None) == row.violated


def test_four_variants_each_caught_and_the_protocol_passes_every_scenario() -> None:
    caught = {row.variants for row in ROWS if row.violated is not None}
    assert len(caught) >= 4
    correct = {row.scenario for row in ROWS if not row.variants and row.verdict is Verdict.OK}
    assert correct == {row.scenario for row in ROWS}


def _frozen_state(shipped: Registry) -> tuple[KernelModel, list[object]]:
    model = shipped.build(shipped.scenario("super/freeze-vs-writer"))
    state = list(model.initial)
    frozen = find_slot(model.world, "s_writers.frozen")
    assert frozen is not None
    state[frozen] = SB_FREEZE_COMPLETE
    return model, state


def test_a_frozen_filesystem_with_nothing_dirty_holds(shipped: Registry) -> None:
    model, state = _frozen_state(shipped)
    assert no_write_while_frozen_violation(model.world, tuple(state)) is None


def test_a_dirty_folio_while_frozen_is_a_violation(shipped: Registry) -> None:
    model, state = _frozen_state(shipped)
    world = model.world
    page = pagecache(world).mappings[world.lookup_path("/f").ino].pages[0]
    state[page.folio] = (1, PG_UPTODATE | PG_DIRTY)
    message = no_write_while_frozen_violation(world, tuple(state))
    assert message is not None and "folio /f:0 is dirty" in message
    frozen = find_slot(world, "s_writers.frozen")
    assert frozen is not None
    state[frozen] = SB_FREEZE_FS
    assert no_write_while_frozen_violation(world, tuple(state)) is None


def test_a_write_in_flight_or_dirty_metadata_while_frozen_is_a_violation(
    shipped: Registry,
) -> None:
    model = shipped.build(shipped.scenario("super/freeze-vs-sync"))
    world = model.world
    state = list(model.initial)
    frozen, meta = find_slot(world, "s_writers.frozen"), find_slot(world, "metadata")
    assert frozen is not None and meta is not None
    state[frozen] = SB_FREEZE_COMPLETE
    state[meta] = True
    message = no_write_while_frozen_violation(world, tuple(state))
    assert message is not None and "metadata" in message
    state[meta] = False
    device = pagecache(world).device
    assert device is not None
    state[device.bios] = (Bio(WRITE, 0, 1, 0, "/f", 1, "end_buffer_async_write"),)
    message = no_write_while_frozen_violation(world, tuple(state))
    assert message is not None and "in flight" in message


def test_the_freeze_returns_with_every_level_handed_off(shipped: Registry) -> None:
    outcome = check_scenario(shipped, "super/freeze-vs-writer", ["write-ignores-freeze"])
    violation = outcome.result.violation
    assert violation is not None and violation.path is not None
    model = outcome.model
    final = violation.path.states[-1]
    freezer = model.threads[1]
    while final[freezer.slots.pc] != DONE:
        final = next(after for (tid, _), after in model.successors(final) if tid == 1)
    world = model.world
    levels = [lock for lock in world.locks if lock.name.startswith("sb_")]
    assert {lock.name for lock in levels} == {"sb_writers", "sb_pagefaults", "sb_internal"}
    for lock in levels:
        assert final[lock.slot] == (HANDED_OFF, (), ())


def test_read_sides_are_uncontended_only_without_a_freezer(shipped: Registry) -> None:
    plain = shipped.build(shipped.scenario("writeback/write-vs-fsync"))
    steps = [[step.step for step in thread.steps] for thread in plain.threads]
    found = read_only_families(plain.world, steps)
    assert {"sb_writers", "i_mmap_rwsem", "invalidate_lock"} <= found
    assert "i_rwsem" not in found
    frozen = shipped.build(shipped.scenario("super/freeze-vs-writer"))
    steps = [[step.step for step in thread.steps] for thread in frozen.threads]
    assert "sb_writers" not in read_only_families(frozen.world, steps)


def test_a_read_side_a_property_reads_is_not_run_with_the_step_before(
    shipped: Registry,
) -> None:
    plain = shipped.build(shipped.scenario("writeback/write-vs-fsync"))
    steps = [[step.step for step in thread.steps] for thread in plain.threads]
    sb_writers = next(lock.slot for lock in plain.world.locks if lock.name == "sb_writers")
    watched = read_only_families(plain.world, steps, 1 << sb_writers)
    assert "sb_writers" not in watched and "i_mmap_rwsem" in watched
    assert read_only_families(plain.world, steps, None) == frozenset()


def test_use_after_evict_and_clean_unmount_on_hand_built_states(shipped: Registry) -> None:
    model = shipped.build(shipped.scenario("super/umount-vs-writeback"))
    part = model.world.parts["inode_life"]
    assert isinstance(part, InodeLife)
    state = list(model.initial)
    assert no_use_after_evict_violation(part, tuple(state)) is None
    assert clean_unmount_violation(part, tuple(state)) is None
    scratch = Scratch(model.world, tuple(state))
    touch(scratch, part.inode, "->write_inode")
    assert no_use_after_evict_violation(part, tuple(scratch.values)) is None
    scratch[part.inode.stage] = EVICTED
    touch(scratch, part.inode, "->write_inode")
    message = no_use_after_evict_violation(part, tuple(scratch.values))
    assert message == "->write_inode on /f after ->evict_inode done"
    state[part.killed] = True
    message = clean_unmount_violation(part, tuple(state))
    assert message is not None and "I_DIRTY_SYNC" in message
    state[part.inode.i_state] = 0
    message = clean_unmount_violation(part, tuple(state))
    assert message is not None and "referenced" in message
    state[part.inode.i_count] = 0
    message = clean_unmount_violation(part, tuple(state))
    assert message is not None and "metadata" in message
    state[part.inode.on_disk] = state[part.inode.change]
    assert clean_unmount_violation(part, tuple(state)) is None


def test_only_the_evicting_thread_uses_an_inode_inside_evict_inode(shipped: Registry) -> None:
    """From ``->evict_inode``'s start the inode is the evicting thread's
    until ``clear_inode()``: another thread's use then is a use after
    evict (the flusher's ``->write_inode`` of 2.6.36 to 3.0)."""
    model = shipped.build(shipped.scenario("super/umount-vs-writeback"))
    part = model.world.parts["inode_life"]
    assert isinstance(part, InodeLife)
    scratch = Scratch(model.world, model.initial, 0)
    begin_evict(scratch, part.inode)
    touch(scratch, part.inode, "truncate_inode_pages_final()")
    assert no_use_after_evict_violation(part, tuple(scratch.values)) is None
    other = Scratch(model.world, tuple(scratch.values), 1)
    touch(other, part.inode, "->write_inode")
    message = no_use_after_evict_violation(part, tuple(other.values))
    assert message == f"->write_inode on /f while {model.threads[0].name} is in ->evict_inode"


def _checked(threads: tuple[object, ...], tree: tuple[str, ...] = ("/f",)) -> Verdict:
    registry = shipped_registry()
    registry.add_scenario(Scenario("super/probe", "test", tree, threads, FREEZE_PROPERTIES))
    return check_scenario(registry, "super/probe").result.verdict


def test_a_store_zapped_by_munmap_is_dirty_before_the_freeze_finds_the_folio_unmapped() -> None:
    """``zap_pte_range()`` clears a dirty pte and marks its folio dirty
    under the page-table lock that ``folio_mkclean()``'s walk takes: a
    freeze's writeback finds the folio mapped, or dirty, never clean and
    unmapped with the store's dirt still to come (which would leave it
    dirty while frozen)."""
    threads = (
        mmap_store(FROZEN_FILE, 0),
        munmap(FROZEN_FILE),
        freeze(FROZEN_FILE),
        thaw(FROZEN_FILE),
        io_completion(FROZEN_FILE),
    )
    assert _checked(threads) is Verdict.OK


def test_a_freeze_writes_back_every_file_of_the_superblock() -> None:
    """``sync_filesystem()`` writes back every inode of the superblock, not
    only the file the freeze was given; a file first used by a thread
    listed after the freeze is refused, not left dirty while frozen."""
    other = File("/g", pages=1, cached=(0,))
    tree = ("/f", "/g")
    ends = (thaw(FROZEN_FILE), io_completion(FROZEN_FILE))
    assert _checked((write(other, 0), freeze(FROZEN_FILE), *ends), tree) is Verdict.OK
    with pytest.raises(ModelError, match="/g, first used by a thread listed after it"):
        _checked((freeze(FROZEN_FILE), write(other, 0), *ends), tree)


def test_no_step_label_holds_the_mutant_name_separator(shipped: Registry) -> None:
    for name in sorted(shipped.scenarios):
        model = shipped.build(shipped.scenario(name))
        for thread in model.threads:
            for step in thread.steps:
                assert " + " not in step.step.label, (name, step.step.label)


MODIFYING_CALLS = [
    ("super/freeze-vs-fallocate", "fallocate-ignores-freeze"),
    ("super/freeze-vs-copy", "copy-ignores-freeze"),
    ("super/freeze-vs-clone", "clone-ignores-freeze"),
]


@pytest.mark.parametrize(("scenario", "variant"), MODIFYING_CALLS)
def test_fallocate_copy_and_clone_mark_the_file_modified_under_sb_freeze_write(
    shipped: Registry, scenario: str, variant: str
) -> None:
    """fallocate(2), copy_file_range(2) and FICLONE call file_modified()
    (ext4_fallocate(), cifs_file_copychunk_range(),
    __generic_remap_file_range_prep() of Linux 6.6) inside their
    file_start_write(): without it, the inode's times join the journal of
    a frozen filesystem, which no-write-while-frozen reports (a user trial
    found all three OK when the model left file_modified() out)."""
    model = shipped.build(shipped.scenario(scenario), (), ())
    labels = [compiled.step.label for compiled in model.threads[0].steps]
    tags = [compiled.step.tags for compiled in model.threads[0].steps]
    modified = [i for i, label in enumerate(labels) if label.startswith("file_modified(")]
    bracket = [i for i, tagged in enumerate(tags) if "sb-start-write" in tagged]
    assert len(modified) == 1 and len(bracket) == 2
    assert bracket[0] < modified[0] < bracket[1]
    outcome = check_scenario(shipped, scenario, [variant])
    violation = outcome.result.violation
    assert violation is not None and violation.property == "no-write-while-frozen"
    assert "metadata" in violation.message
    found = outcome.counterexample
    assert found is not None
    assert any(
        step.thread == "T1" and step.label.startswith("file_modified(") for step in found.steps
    )


def test_a_thaw_waiting_for_the_freeze_names_the_freezer(shipped: Registry) -> None:
    """FITHAW waits for FIFREEZE to return: while the freezer runs, it is
    the thread that could end the wait (it was "nobody")."""
    model = shipped.build(shipped.scenario("super/freeze-vs-writer"), properties=())
    freezer = model.threads[1].slots.pc
    state = model.initial
    assert state[freezer] != DONE
    waiting = [step for step in model.blocked_steps(state) if step.thread == "T3"]
    assert waiting and "the FIFREEZE ioctl to return, which T2 could end" in waiting[0].event.text


SYNC_WITHOUT_S_UMOUNT = """\
from mc.dsl import Invocation, Program, variant
from mc.models.super import sync


@variant("sync-no-s-umount", "sync(2)'s passes over the superblocks take no s_umount")
def sync_no_s_umount(program: Program, invocation: Invocation) -> Program:
    return program.drop_lock("s_umount") if invocation.operation is sync else program
"""


def test_sync_inodes_sb_without_s_umount_trips_its_warn(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """sync_filesystem(), sync_inodes_sb() and wait_sb_inodes() WARN unless
    s_umount is held (fs/sync.c, fs/fs-writeback.c): a sync(2) whose passes
    take none is a lock-protocol error there, also with the locking rules'
    own check (spec-conformance) left out."""
    (tmp_path / "nosumount.py").write_text(SYNC_WITHOUT_S_UMOUNT)
    args = ("check", "super/freeze-vs-sync", "--models", "nosumount.py", "--no-save")
    found = vfsmc(*args, "-V", "sync-no-s-umount", "--no-property", "spec-conformance")
    assert found.exit_code == 1, found.output
    assert "reaches 'WARN_ON(!rwsem_is_locked(&sb->s_umount))' without holding s_umount" in (
        found.output
    )
    assert vfsmc(*args).exit_code == 0


def _end_states(registry: Registry, threads: tuple[object, ...]) -> tuple[KernelModel, set]:
    """Every state reachable from a scenario of ``threads`` on /f, and its model."""
    registry.add_scenario(Scenario("super/probe", "test", ("/f",), threads))
    model = registry.build(registry.scenario("super/probe"), properties=())
    return model, reachable_states(model)


def test_an_unmount_of_a_frozen_filesystem_leaves_the_superblock_active() -> None:
    """freeze_super() takes an active reference (atomic_inc(&sb->s_active))
    that thaw drops: umount2() once FIFREEZE returned only drops the
    mount's (deactivate_super()'s atomic_add_unless()) and returns 0, so
    ->kill_sb never runs on the frozen superblock (while FIFREEZE runs,
    the unmount is -EBUSY)."""
    registry = shipped_registry()
    model, seen = _end_states(registry, (freeze(FROZEN_FILE), umount(FROZEN_FILE)))
    slots = {slot.name: i for i, slot in enumerate(model.world.slots)}
    killed, active = slots["->kill_sb returned"], slots["s_active"]
    frozen = find_slot(model.world, "s_writers.frozen")
    unmounter = model.threads[1].slots.ret
    ends = [state for state in seen if model.finished(state)]
    assert not any(state[killed] for state in seen)
    unmounted = [state for state in ends if state[unmounter] == 0]
    assert unmounted and all(
        state[frozen] == SB_FREEZE_COMPLETE and state[active] == 1 for state in unmounted
    )
    assert any(state[unmounter] == -E.EBUSY for state in ends)


def test_a_scrub_retries_the_kernel_freeze_another_scrub_holds() -> None:
    """xchk_fscounters_freeze() calls freeze_super() again while it returns
    -EBUSY (fs/xfs/scrub/fscounters.c, 6.6): of two scrubs, the second
    freezes once the first has thawed, and neither ends with -EBUSY; both
    end thawed and every end state is unfrozen."""
    registry = shipped_registry()
    model, seen = _end_states(registry, (kernel_freeze(FROZEN_FILE), kernel_freeze(FROZEN_FILE)))
    frozen = find_slot(model.world, "s_writers.frozen")
    ends = [state for state in seen if model.finished(state)]
    returns = {state[thread.slots.ret] for state in ends for thread in model.threads}
    assert ends and returns == {0}
    assert all(state[frozen] == SB_UNFROZEN for state in ends)
    assert any(
        state[frozen] == SB_FREEZE_COMPLETE and state[model.threads[1].slots.ret] == -E.EBUSY
        for state in seen
    )


def test_a_scrub_that_shares_fifreeze_s_freeze_after_a_busy_round_returns_0() -> None:
    """freeze_super() on a superblock FIFREEZE holds shares the freeze and
    returns 0: a scrub whose first round got -EBUSY (another scrub held it)
    goes on then, rather than reading the -EBUSY of that round and waiting
    for its own freeze to go (a deadlock the kernel does not have)."""
    registry = shipped_registry()
    threads = (kernel_freeze(FROZEN_FILE), kernel_freeze(FROZEN_FILE))
    registry.add_scenario(
        Scenario("super/probe", "test", ("/f",), (*threads, freeze(FROZEN_FILE), thaw(FROZEN_FILE)))
    )
    outcome = check_scenario(registry, "super/probe", (), ("deadlock", "completes"))
    assert outcome.result.verdict is Verdict.OK, outcome.result.violation


def test_a_freeze_waits_for_the_mount_to_be_born() -> None:
    """freeze_super()'s super_lock_excl() waits for SB_BORN (fs/super.c,
    6.6): no state has the superblock frozen before mount(2) set it."""
    registry = shipped_registry()
    model, seen = _end_states(registry, (mount(COLD_FILE), freeze(COLD_FILE), thaw(COLD_FILE)))
    born = next(i for i, slot in enumerate(model.world.slots) if slot.name == "SB_BORN")
    frozen = find_slot(model.world, "s_writers.frozen")
    assert any(state[frozen] == SB_FREEZE_COMPLETE for state in seen)
    assert not any(state[frozen] != SB_UNFROZEN and not state[born] for state in seen)


def test_fithaw_without_a_fifreeze_finds_nothing_frozen() -> None:
    """thaw_super_locked(): -EINVAL when the superblock is not frozen; a
    scenario that issues no FIFREEZE thaws at once and gets it."""
    model, seen = _end_states(shipped_registry(), (thaw(FROZEN_FILE),))
    ends = [state for state in seen if model.finished(state)]
    assert ends and all(state[model.threads[0].slots.ret] == -E.EINVAL for state in ends)


@pytest.mark.parametrize(
    "creators",
    [
        (open_creat_want_write("/a/x"), tmpfile_want_write("/a")),
        (mkdir_want_write("/a/d"), mknod_want_write("/a/n"), symlink_want_write("/a/s")),
    ],
    ids=["open-creat-and-tmpfile", "mkdir-mknod-and-symlink"],
)
def test_creators_take_the_freeze_level_before_the_directory(
    creators: tuple[Invocation, ...],
) -> None:
    """open_last_lookups() takes mnt_want_write() before inode_lock(dir) for
    O_CREAT, do_tmpfile() around vfs_tmpfile(), and filename_create()
    before the parent's i_rwsem for do_mkdirat(), do_mknodat() and
    do_symlinkat(): a freeze waits for them, and without it
    (dirop-ignores-freeze) their metadata lands in a frozen filesystem."""
    registry = shipped_registry()
    threads = (freeze(FROZEN_FILE), *creators, thaw(FROZEN_FILE))
    registry.add_scenario(Scenario("super/creators-probe", "test", ("/f", "/a/"), threads))
    checked = ("lock-protocol", "deadlock", "no-write-while-frozen")
    outcome = check_scenario(registry, "super/creators-probe", properties=checked)
    assert outcome.result.verdict is Verdict.OK
    broken = check_scenario(
        registry, "super/creators-probe", ["dirop-ignores-freeze"], properties=checked
    )
    violation = broken.result.violation
    assert violation is not None and violation.property == "no-write-while-frozen"


@pytest.mark.parametrize(
    "creator",
    [
        create_want_write("/a/c"),
        mkdir_want_write("/a/d"),
        mknod_want_write("/a/n"),
        symlink_want_write("/a/s"),
        link_want_write("/f", "/a/l"),
    ],
    ids=lambda invocation: invocation.operation.name,
)
def test_a_creator_taking_the_freeze_level_under_the_directory_deadlocks_with_a_freeze(
    creator: Invocation,
) -> None:
    """Every filename_create() caller takes mnt_want_write() before the
    parent's i_rwsem (fs/namei.c, 6.12).  Under want-write-under-parent-lock
    it takes the level inside that lock instead, and with an O_CREAT open
    of the same directory (which holds the level and waits for the
    directory) a freeze (pending on the open's level, so the creator queues
    behind it) closes a cycle."""
    registry = shipped_registry()
    threads = (creator, open_creat_want_write("/a/x"), freeze(FROZEN_FILE), thaw(FROZEN_FILE))
    registry.add_scenario(Scenario("super/creator-probe", "test", ("/f", "/a/"), threads))
    checked = ("lock-protocol", "deadlock", "no-write-while-frozen")
    assert check_scenario(registry, "super/creator-probe", properties=checked).result.verdict is (
        Verdict.OK
    )
    broken = check_scenario(
        registry, "super/creator-probe", ["want-write-under-parent-lock"], properties=checked
    )
    violation = broken.result.violation
    assert violation is not None and violation.property == "deadlock"
    assert {"sb_writers", "i_rwsem(/a)"} <= set(violation.message.split())


THAW_WITHOUT_HOLDER_CHECK = """\
from mc.dsl import File, Invocation, Program, scenario, variant
from mc.models.super import kernel_freeze, thaw

F = File("/f", pages=1, cached=(0,))


@variant("thaw-skips-holder-check", "thaw_super_locked() does not check freeze_holders & who")
def thaw_skips_holder_check(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(thaw):
        return program
    return program.drop(
        lambda step: step.label.startswith("if (!(sb->s_writers.freeze_holders & who))")
    )


scenario("my/scrub-vs-fithaw", "a scrub's freeze and a stray FITHAW", tree=["/f"],
         threads=[kernel_freeze(F), thaw(F)])
"""


def test_a_thaw_dropping_a_reference_no_freeze_took_is_a_lock_protocol_error(
    vfsmc: Callable[..., Result], tmp_path: Path
) -> None:
    """A FITHAW that skips the holder check drops the scrub's active
    reference, and the scrub's thaw then drops the mounted superblock's
    last one: a violation with its trace (the run once ended as a model
    error, "->kill_sb from thaw_super() is not modelled"); the correct
    protocol passes."""
    (tmp_path / "stray.py").write_text(THAW_WITHOUT_HOLDER_CHECK)
    scenario = "stray.py:my/scrub-vs-fithaw"
    found = vfsmc("check", scenario, "-V", "thaw-skips-holder-check", "--no-save")
    assert found.exit_code == 1, found.output
    assert "drops the mounted superblock's last active reference" in found.output
    assert vfsmc("check", scenario, "--no-save").exit_code == 0


def test_drop_lock_of_a_freeze_level_leaves_the_freezer_s_hand_off_if_held(
    shipped: Registry,
) -> None:
    """drop_lock() of the page-fault level drops the freezer's acquisition
    of it too; its hand-off to thaw then hands off nothing, and the store
    that no longer waits for the freeze is what the check finds."""
    dropped = Variant(
        "no-pagefault-level",
        "nobody takes sb_writers' page-fault level",
        transform=lambda program, _invocation: program.drop_lock("sb_pagefaults"),
    )
    scenario = shipped.scenario("super/freeze-vs-fault")
    registry = registry_with(shipped, dropped, scenarios=(scenario,))
    violation = check_scenario(registry, scenario.name, ("no-pagefault-level",)).result.violation
    assert violation is not None
    assert violation.property == "no-write-while-frozen", violation.message


UNHASH = "remove_inode_hash(inode): spin_lock(&inode_hash_lock)"
EVICT_TEST = (
    "if (op->evict_inode) /* the filesystem tears the inode down: no one else may use it */"
)


def _unhash_early(program: Program, _invocation: Invocation) -> Program:
    steps = program.steps
    unhashes = [steps[at : at + 3] for at, step in enumerate(steps) if step.label == UNHASH]
    tests = [step for step in steps if step.label == EVICT_TEST]
    for unhash, test in zip(unhashes, tests, strict=True):
        assert unhash[-1].label == "spin_unlock(&inode_hash_lock)"
        program = program.move_before(list(unhash), test)
    return program


def test_iget_and_evict_nest_the_inode_list_locks_as_fs_inode_c_orders_them(
    shipped: Registry,
) -> None:
    """``evict()`` of a dirty inode takes the wb's list lock, then i_lock
    (``inode_io_list_del()``), and ``__remove_inode_hash()`` i_lock inside
    inode_hash_lock; ``iget_locked()`` adds the new inode to the
    superblock's list inside inode_hash_lock; ``evict_inodes()`` takes each
    inode's i_lock under ``s_inode_list_lock``."""
    alone = Scenario("planted/evict", "the last iput alone", ("/f",), (iput_last(INODE_FILE),))
    ((_name, evicting),) = lockorder.explore(
        registry_with(shipped, scenarios=(alone,)), [alone.name]
    )
    assert evicting[("wb->list_lock", "i_lock")].label.startswith(
        "spin_lock(&inode->i_lock); inode->i_state &= ~I_SYNC_QUEUED; list_del_init("
    )
    assert evicting[("inode_hash_lock", "i_lock")].label.startswith(
        "spin_lock(&inode->i_lock); hlist_del_init_rcu(&inode->i_hash)"
    )
    ((_name, lookup),) = lockorder.explore(shipped, ["super/evict-vs-lookup"])
    assert lookup[("inode_hash_lock", "s_inode_list_lock")].label.startswith(
        "inode_sb_list_add(inode)"
    )
    ((_name, umount),) = lockorder.explore(shipped, ["super/umount-vs-writeback"])
    assert umount[("s_inode_list_lock", "i_lock")].label.startswith(
        "list_for_each_entry_safe(inode, next, &sb->s_inodes"
    )
    assert ("s_umount", "s_inode_list_lock") in umount


def test_an_evict_that_unhashes_before_evict_inode_lets_iget_set_up_a_second_inode(
    shipped: Registry,
) -> None:
    """evict() keeps the I_FREEING inode hashed until ->evict_inode is done,
    so that iget() waits for it; unhashed first, iget() sets up another
    in-core inode of the number while ->evict_inode frees the on-disk one."""
    early = Variant(
        "unhash-early", "evict() unhashes before ->evict_inode", transform=_unhash_early
    )
    scenario = shipped.scenario("super/evict-vs-lookup")
    registry = registry_with(shipped, early, scenarios=(scenario,))
    assert check_scenario(registry, scenario.name).result.verdict is Verdict.OK
    violation = check_scenario(registry, scenario.name, ("unhash-early",)).result.violation
    assert violation is not None and violation.property == "no-use-after-evict"
    assert violation.message.startswith(
        "/f' is in the inode hash for /f's inode number while T1 is in ->evict_inode on /f"
    ), violation.message


def test_sync_writes_the_inode_where_the_scenario_models_its_life(shipped: Registry) -> None:
    """sync(2) writes pages alone, so a scenario with the inode's life
    refuses it, whichever thread comes first; sync_inode() writes the
    inode under I_SYNC with ->write_inode, which an evict() that does not
    wait for writeback races."""
    file = File("/f", pages=1, cached=(0,), dirty=(0,))
    for threads in ((iput_last(file), sync(file)), (sync(file), iput_last(file))):
        scenario = Scenario("test/sync-beside-iput", "", ("/f",), (*threads, io_completion(file)))
        with pytest.raises(ModelError, match=r"sync\(2\) writes the pages back without"):
            registry_with(shipped, scenarios=(scenario,)).build(scenario)
    scenario = Scenario(
        "test/iput-vs-sync",
        "",
        ("/f",),
        (iput_last(file), sync_inode(file), io_completion(file)),
        ("lock-protocol", "deadlock", "completes", "no-use-after-evict"),
    )
    registry = shipped_registry()
    registry.add_scenario(scenario)
    assert check_scenario(registry, scenario.name).result.verdict is Verdict.OK
    raced = check_scenario(registry, scenario.name, ("evict-skips-writeback-wait",)).result
    assert raced.violation is not None and raced.violation.property == "no-use-after-evict"
    assert raced.violation.message == "->write_inode on /f while T1 is in ->evict_inode"


def test_put_super_before_evict_inodes_calls_evict_inode_on_freed_fs_info() -> None:
    """generic_shutdown_super() calls ->put_super after evict_inodes():
    ext4_put_super() frees sbi, which ->evict_inode reads.  Moved first,
    the eviction's call is reported where it is made."""
    from mc.testing import check

    found = check("super/umount-vs-writeback", ["put-super-before-evict"], "fs-info-live")
    assert found.message is not None
    assert "calls ->evict_inode at 'op->evict_inode(inode)' after ->put_super" in found.message
    check("super/umount-vs-writeback", properties=["fs-info-live", "deadlock"])


EVICT_IN_HANDLE = """
from mc.dsl import SHARED, File, Op, const, flag_variant, not_, operation, positive, scenario
from mc.kernel.superblock import SB_FREEZE_FS, sb_writers
from mc.models.quota import journal_current_handle, start_handle, stop_handle
from mc.models.super import freeze, thaw

flag_variant("intwrite-in-handle", "ext4_evict_inode() takes sb_start_intwrite() in a handle")


@operation(models="ext4_xattr_set() in a handle opened under no freeze level, whose "
           "ext4_xattr_set_entry() drops an EA inode's last reference (46e294efc355)")
def evict_in_handle(op: Op, path: str) -> None:
    internal = sb_writers(op.world, SB_FREEZE_FS)
    start_handle(op, "ext4_xattr_set(): ext4_journal_start()")
    outside = not_(positive(journal_current_handle(op)))
    if op.variant("intwrite-in-handle"):
        outside = const(True)
    with op.when(outside, "ext4_evict_inode(): if (!ext4_journal_current_handle())"):
        op.lock(internal, SHARED, "sb_start_intwrite()")
        op.unlock(internal, "sb_end_intwrite()")
    stop_handle(op, "ext4_xattr_set(): ext4_journal_stop()")


F = File("/f", pages=1, cached=(0,))
scenario("my/evict-in-handle-vs-freeze", "an eviction inside a handle racing FIFREEZE, FITHAW",
         tree=["/f", "/a"], threads=[evict_in_handle("/a"), freeze(F), thaw(F)])
"""


def test_the_freeze_waits_for_the_open_journal_handles(tmp_path: Path) -> None:
    """ext4_freeze()'s jbd2_journal_lock_updates() waits for every open
    handle with the three freeze levels held: a handle that then asks for
    the internal level (46e294efc355) deadlocks against it, and one that
    does not passes."""
    mine = tmp_path / "evict_in_handle.py"
    mine.write_text(EVICT_IN_HANDLE)
    registry = with_files([mine])
    scenario = "my/evict-in-handle-vs-freeze"
    broken = check_scenario(registry, scenario, ["intwrite-in-handle"])
    assert broken.result.verdict is Verdict.VIOLATED
    assert broken.result.violation is not None
    assert broken.result.violation.property == "deadlock"
    assert "jbd2_handle" in broken.result.violation.message
    fixed = check_scenario(registry, scenario)
    assert fixed.result.verdict is Verdict.OK


@operation(models="an eviction inside a running handle (an EA inode's, in its parent's deletion)")
def _evict_in_handle(op: Op, file: File) -> None:
    op.one_thread("drops the last reference to", file.path, "a last reference is dropped once")
    op.drops_last_reference(file)
    internal = sb_writers(op.world, SB_FREEZE_FS)
    op.lock(internal, SHARED, "ext4_evict_inode(parent): sb_start_intwrite(parent->i_sb)")
    start_handle(op, "handle = ext4_journal_start(parent, ...)")
    iput(op, part_of(op, file), None, drops=True)
    stop_handle(op)
    op.unlock(internal, "sb_end_intwrite(parent->i_sb)")


def test_the_deletion_of_an_unlinked_inode_takes_the_internal_level_outside_a_handle_only(
    shipped: Registry,
) -> None:
    """ext4_evict_inode() takes sb_start_intwrite() before its handle, so
    a freeze waits for the deletion or the deletion for the thaw, and its
    metadata never dirties a frozen filesystem; inside a running handle
    (46e294efc355) it takes no level, which would wait for a freezer that
    waits for the handle."""
    alone = Scenario("planted/evict", "the last iput alone", ("/f",), (iput_last(INODE_FILE),))
    ((_name, evicting),) = lockorder.explore(
        registry_with(shipped, scenarios=(alone,)), [alone.name]
    )
    assert evicting[("sb_internal", "jbd2_handle")].label.startswith(
        "handle = ext4_journal_start(inode, EXT4_HT_TRUNCATE"
    )
    nested = Scenario(
        "planted/evict-in-handle-vs-freeze",
        "an eviction inside a running handle against FIFREEZE, FITHAW once it returned",
        ("/f", "/g"),
        (_evict_in_handle(INODE_FILE), freeze(File("/g")), thaw(File("/g"))),
        ("lock-protocol", "deadlock", "completes", "no-write-while-frozen"),
    )
    registry = registry_with(shipped, scenarios=(nested,))
    assert check_scenario(registry, nested.name).result.verdict is Verdict.OK
    ((_name, inside),) = lockorder.explore(registry, [nested.name])
    assert ("jbd2_handle", "sb_internal") not in inside


def _without_teardown_calls(program: Program, _invocation: Invocation) -> Program:
    torn = {"super_operations.evict_inode", "super_operations.destroy_inode"}
    return program.drop(lambda step: getattr(step, "method", None) in torn)


def test_free_inode_after_put_super_reads_no_fs_info() -> None:
    """->free_inode runs from the RCU callback i_callback(), which may come
    after ->put_super, and ext4_free_in_core_inode() reads no sbi: with
    ->put_super moved before evict_inodes() and the calls that read sbi
    left out, the ->free_inode left after it is no use of freed info."""
    registry = shipped_registry()
    quiet = Variant("no-teardown-calls", "", transform=_without_teardown_calls)
    registry.add_variant(quiet)
    result = check_scenario(
        registry,
        "super/umount-vs-writeback",
        ["put-super-before-evict", "no-teardown-calls"],
        ["fs-info-live"],
    ).result
    assert result.verdict is Verdict.OK, result.violation


def test_the_refusals_beside_the_inode_s_life_name_the_call_and_the_files(
    shipped: Registry,
) -> None:
    """syncfs(2) is refused as itself, not as sync(2), and a second file's
    inode life names both files."""
    other = File("/g", pages=1)
    refused = {
        "syncfs(2) writes the pages back without": (iput_last(INODE_FILE), syncfs(other)),
        "fsync(2) writes the pages back without the inode's I_SYNC and ->write_inode, and "
        "this scenario models the inode's life (iget, the last iput, eviction): "
        "fsync_inode(file) (mc.models.mount) is fsync(2) with them": (
            fsync(INODE_FILE),
            inode_flusher(INODE_FILE, True),
        ),
        "/f's inode has its life modelled, so /g's cannot too": (
            iput_last(INODE_FILE),
            iput_last(other),
        ),
    }
    for message, threads in refused.items():
        scenario = Scenario("test/refused", "", ("/f", "/g"), threads)
        with pytest.raises((ModelError, ValueError), match=re.escape(message)):
            registry_with(shipped, scenarios=(scenario,)).build(scenario)


def test_an_unmount_after_the_last_close_of_an_unlinked_file_leaves_nothing_unwritten(
    shipped: Registry,
) -> None:
    """umount2(2) opens no file, so it may race the last iput() of an
    unlinked file (and gets -EBUSY until that process has closed it); the
    deleted inode's last change is superseded by its deletion, written by
    the commit the unmount's sync makes, so clean-unmount holds."""
    scenario = Scenario(
        "test/iput-vs-umount",
        "",
        ("/f",),
        (iput_last(INODE_FILE), umount(INODE_FILE)),
        ("lock-protocol", "deadlock", "completes", "no-use-after-evict", "clean-unmount"),
    )
    registry = registry_with(shipped, scenarios=(scenario,))
    outcome = check_scenario(registry, scenario.name)
    assert outcome.result.verdict is Verdict.OK, outcome.result.violation


def test_fsync_with_the_inode_syncs_its_metadata_holding_i_rwsem(shipped: Registry) -> None:
    """__generic_file_fsync() runs sync_inode_metadata() under i_rwsem:
    it waits there for the flusher's I_SYNC and for the page under
    writeback, and calls ->write_inode; a ->write_inode that takes
    i_rwsem deadlocks (fsync's own call of it, or the flusher's, which
    fsync waits for), and without the metadata sync under i_rwsem no
    interleaving would show it."""
    ((_name, edges),) = lockorder.explore(shipped, ["super/fsync-vs-flusher"])
    assert edges[("i_rwsem", "i_lock")].label.startswith("writeback_single_inode(): spin_lock")
    assert ("i_rwsem", "wb->list_lock") in edges
    model = shipped.build(shipped.scenario("super/fsync-vs-flusher"))
    [fsyncer] = [tid for tid, t in enumerate(model.threads) if t.name == "T2"]
    waits = [
        (fsyncer, pc)
        for pc, step in enumerate(model.threads[fsyncer].program.steps)
        if step.label.startswith(("__inode_wait_for_writeback(inode)", "folio_wait_writeback"))
    ]
    assert len(waits) == 3, waits
    checked = check_scenario(shipped, "super/fsync-vs-flusher", coverage=True)
    assert checked.result.verdict is Verdict.OK and checked.coverage is not None
    assert not set(waits) & set(checked.coverage.never_ran)
    broken = check_scenario(shipped, "super/fsync-vs-flusher", ("write-inode-takes-i_rwsem",))
    assert broken.result.verdict is Verdict.VIOLATED
    assert "takes i_rwsem(/f), which it already holds" in broken.result.violation.message
