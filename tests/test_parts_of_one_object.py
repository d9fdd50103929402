"""A world part laid out for one object (a swap file, the courtesy client,
a file's VMAs, a pipe, the inode whose life is modelled) is never handed
to a second object, nor laid out twice in two ways: the second is a model
error, where it used to take the first's slots and locks (a truncate of
another file returned -ETXTBSY, a second laundromat livelocked, a VMA
layout listed second was dropped); and state kept per object (lockd's
deferred requests) is kept per object."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mc.testing
from mc.kernel.world import ModelError

SCENARIO = """\
from mc.dsl import VM_WRITE, File, scenario
from mc.models.aops import swap_cycle, truncate_swapfile
from mc.models.file import OpenFile, Pipe, splice_read, splice_write
from mc.models.filelock import laundromat, lock_range
from mc.models.mmap import MappedFile, vma_store

F = File("/f", pages=2, cached=(0, 1))
G = File("/g", pages=1)
OPEN = OpenFile("/f", cache=F, name="filp")
scenario("parts/x", "x", tree=["/f", "/g"], threads=[{threads}])
"""


@pytest.mark.parametrize(
    ("threads", "refusal"),
    [
        (
            "swap_cycle(G), truncate_swapfile(F)",
            "T2 asks whether /f is a swap file beside /g: the swap model follows one file",
        ),
        (
            "lock_range('/f', (0, 9)), laundromat('/f'), laundromat('/g')",
            "T3 runs the laundromat for the courtesy client too, as T2 does",
        ),
        (
            "vma_store(MappedFile(F, vmas=((0, 2, VM_WRITE),)), 0), vma_store(MappedFile(F), 1)",
            "/f is given two layouts of the task's VMAs when the scenario starts",
        ),
        (
            "splice_read(OPEN, Pipe('p', buffers=2), 0), "
            "splice_write(Pipe('p', buffers=0), OPEN, 0)",
            "pipe p is given two layouts, 2 of 2 buffers full and 0 of 2",
        ),
    ],
    ids=["swap-file", "laundromat", "vma-layouts", "pipe-layouts"],
)
def test_a_second_object_or_layout_is_refused(tmp_path: Path, threads: str, refusal: str) -> None:
    path = tmp_path / "parts.py"
    path.write_text(SCENARIO.format(threads=threads))
    with pytest.raises(ModelError, match=re.escape(refusal)):
        mc.testing.check("parts/x", models=[path])


DEFERRED = """\
from mc.dsl import invariant, scenario
from mc.models.filelock import lockd_deferred, plock_callback
from mc.models.filelock_scenarios import FILELOCK_PROPERTIES


@invariant("granted-after-queued", "the cluster grants T3's lock of /g after T3 queued it",
           reads=["flc_posix(/g)", "registers(T3)"])
def granted_after_queued(model):
    posix = next(i for i, s in enumerate(model.world.slots) if s.name == "flc_posix(/g)")
    pc = model.threads[2].slots.pc
    return lambda s: (
        "T3's lock of /g is granted before T3 queued it"
        if any(lock[0] == "T3" for lock in s[posix]) and s[pc] == 0 else None
    )


scenario("parts/deferred", "two deferred NLM_LOCKs, of /f and of /g", tree=["/f", "/g"],
         threads=[lockd_deferred("/f", (0, 9)), plock_callback("/f", "T1", (0, 9)),
                  lockd_deferred("/g", (0, 9)), plock_callback("/g", "T3", (0, 9))],
         properties=(*FILELOCK_PROPERTIES, "granted-after-queued"))
"""


def test_the_cluster_answers_each_file_s_deferred_request_once_it_is_queued(
    tmp_path: Path,
) -> None:
    """dlm's queued requests are kept per file and owner: T1's request of
    /f no longer lets the callback of /g grant T3's before T3 asked."""
    path = tmp_path / "deferred.py"
    path.write_text(DEFERRED)
    mc.testing.check("parts/deferred", models=[path])


SYNC_AND_IPUT = """\
from mc.dsl import BASE_PROPERTIES, File, scenario
from mc.models.inode import iput_last
from mc.models.mount import sync_inode
from mc.models.writeback import io_completion

F = File("/f", pages=1, cached=(0,))
scenario("parts/sync-first", "x", tree=["/f"],
         threads=[sync_inode(F), iput_last(F), io_completion(F)])
scenario("parts/iput-first", "x", tree=["/f"],
         threads=[iput_last(F), sync_inode(F), io_completion(F)])
"""


def test_the_inode_starts_alike_whichever_thread_is_listed_first(tmp_path: Path) -> None:
    """sync(2) with the inode and the last iput lay the inode out alike
    (its metadata dirty), so listing one or the other first explores the
    same states: the inode started clean when sync came first."""
    path = tmp_path / "inode.py"
    path.write_text(SYNC_AND_IPUT)
    first = mc.testing.check("parts/sync-first", models=[path])
    second = mc.testing.check("parts/iput-first", models=[path])
    assert first.result.stats.states == second.result.stats.states
