"""flock(2) of an open file two threads share (fs/locks.c,
``flock_lock_inode()``): one flock per struct file, replaced under
``flc_lock``."""

from __future__ import annotations

import pytest

from mc.check.registry import shipped
from mc.dsl import Scenario
from mc.kernel.world import ModelError
from mc.models.filelock import FLOCK_DROPS_FLC_LOCK, context, exclusion_violation, flock_lock
from mc.models.filelock_scenarios import FILELOCK_PROPERTIES
from mc.testing import check


def test_a_child_sharing_the_open_file_converts_its_lock_and_never_adds_a_second() -> None:
    """The correct protocol keeps one flock for the shared file; letting
    flc_lock go mid-way (before 267f11285830) lets the child's LOCK_SH in
    beside the parent's LOCK_EX."""
    assert check("filelock/flock-shared-file").verdict == "OK"
    found = check("filelock/flock-shared-file", [FLOCK_DROPS_FLC_LOCK], "filelock-exclusion")
    assert found.message == (
        "filelock-exclusion: open file filp holds two flocks, LOCK_EX and LOCK_SH: its next "
        "flock(2) or close replaces or removes one of them only"
    )


def test_two_flocks_of_one_file_are_an_exclusion_violation_whatever_their_types() -> None:
    registry = shipped()
    model = registry.build(registry.scenario("filelock/flock-shared-file"))
    ctx = context(model.world, "/f")
    state = list(model.initial)
    state[ctx.flock] = (("filp", "LOCK_SH"), ("filp", "LOCK_SH"))
    assert exclusion_violation(tuple(state), ctx) is not None
    state[ctx.flock] = (("T1", "LOCK_SH"), ("T2", "LOCK_SH"))
    assert exclusion_violation(tuple(state), ctx) is None


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        (("/f", "LOCK_UN"), "kind 'LOCK_UN' is none of LOCK_SH, LOCK_EX"),
        (("/f", "LOCK_SH", "T2"), "open file 'T2' is a thread's name"),
    ],
)
def test_a_flock_of_no_kind_or_of_another_thread_s_own_file_is_refused(
    arguments: tuple[str, ...], refusal: str
) -> None:
    registry = shipped()
    scenario = Scenario(
        "test/flock-refused",
        "",
        ("/f",),
        (flock_lock(*arguments), flock_lock("/f", "LOCK_SH")),
        FILELOCK_PROPERTIES,
    )
    with pytest.raises(ModelError, match=refusal):
        registry.build(scenario)
