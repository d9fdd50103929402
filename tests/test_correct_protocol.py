"""Scenarios of the correct protocol that a property once reported: each
builds only on shipped operations, and the kernel behaves correctly there,
so each must pass (a property stronger than the kernel promises, or one
that misreads the initial state, is a bug of the tool)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mc.testing
from mc.check.registry import with_files
from mc.dsl.scenario import Scenario
from mc.kernel.dio import COMPLETED
from mc.kernel.pagecache import File, pagecache
from mc.kernel.world import ModelError
from mc.models.dio import dio_write
from mc.models.truncate import mmap_store
from mc.models.writeback import fsync, io_completion

SCENARIOS = """\
from mc.dsl import BASE_PROPERTIES, File, Symbol, scenario
from mc.kernel import truncate_properties as _registers  # noqa: F401
from mc.models.aops import memory_failure, migrate, write_block
from mc.models.dio import dio_worker, dio_write
from mc.models.file import OpenFile, copy_file_range_splice, getdents
from mc.models.inode import iget, inode_flusher
from mc.models.filelock import (
    READ,
    delegate_then_setattr,
    lease_never_answered,
    unlink_breaking_delegation,
)
from mc.models.mount import fsync_inode, write_touch_umount
from mc.models.journal import ext4_write, jbd2_commit
from mc.models.quota import QuotaFile, Quotas, chown
from mc.models.truncate import mmap_load, mmap_store, punch_hole, readahead, truncate
from mc.models.usercopy import read_to_mapping, write_from_mapping
from mc.models.writeback import flusher, fsync, io_completion, read, write
from mc.models.mmap import MappedFile, fork_exit, munmap_range, ptrace_peek, vma_load
from mc.kernel.vma import VM_PFNMAP, VM_WRITE

HOLE_CACHED = File("/f", pages=1, cached=(0,), holes=(0,))
COLD = File("/f", pages=1)
CACHED = File("/f", pages=1, cached=(0,))
TWO = File("/f", pages=2, cached=(0, 1), dirty=(1,))
FULL = File("/f", pages=1, holes=(0,), spare_blocks=0)
HOLE = File("/f", pages=1, holes=(0,))
TWO_CACHED = File("/f", pages=2, cached=(0, 1))

scenario("fine/cached-hole", "a read and a write of a cached hole", tree=["/f"],
         threads=[read(HOLE_CACHED, 0), write(HOLE_CACHED, 0), io_completion(HOLE_CACHED)],
         properties=(*BASE_PROPERTIES, "dirty-coherent", "folio-data-current"))
scenario("fine/read-vs-punch", "a read racing a hole punch of the page", tree=["/f"],
         threads=[read(COLD, 0), punch_hole(COLD, 0, 4096), io_completion(COLD)],
         properties=(*BASE_PROPERTIES, "folio-data-current"))
scenario("fine/readahead-vs-truncate", "readahead racing a truncate to 0", tree=["/f"],
         threads=[readahead(COLD, 0), truncate(COLD, 0), io_completion(COLD)],
         properties=(*BASE_PROPERTIES, "folio-data-current"))
scenario("fine/read-vs-dio", "a buffered read racing a direct write", tree=["/f"],
         threads=[read(COLD, 0), dio_write(COLD, 0, False), io_completion(COLD)],
         properties=(*BASE_PROPERTIES, "folio-data-current", "dio-coherent"))
scenario("fine/two-truncates", "a mapped load beside a truncate to 0 and one to 4196",
         tree=["/f"],
         threads=[mmap_load(TWO, 10), truncate(TWO, 0), truncate(TWO, 4196), io_completion(TWO)],
         properties=(*BASE_PROPERTIES, "no-map-beyond-eof"))
scenario("fine/memory-failure-vs-write", "a memory error on the folio a write dirties, a read",
         tree=["/f"],
         threads=[write(CACHED, 0), memory_failure(CACHED, 0), read(CACHED, 0),
                  io_completion(CACHED)],
         properties=(*BASE_PROPERTIES, "folio-data-current"))
scenario("fine/partial-punch", "a punch inside a clean cached page", tree=["/f"],
         threads=[punch_hole(CACHED, 100, 200), read(CACHED, 0), io_completion(CACHED)],
         properties=(*BASE_PROPERTIES, "dirty-coherent", "folio-data-current"))
scenario("fine/partial-punch-vs-store", "a punch zeroing the first byte of page 1 while a "
         "store write-faults a byte of the cached file", tree=["/f"],
         threads=[punch_hole(TWO_CACHED, Symbol("offset", 0, 4096), 4096),
                  mmap_store(TWO_CACHED, Symbol("pos", 0, 8191)), io_completion(TWO_CACHED)],
         properties=(*BASE_PROPERTIES, "folio-data-current"))
scenario("fine/dio-enospc", "a direct write to a hole of a full device, a read",
         tree=["/f"], threads=[dio_write(FULL, 0, False), read(FULL, 0), io_completion(FULL)],
         properties=(*BASE_PROPERTIES, "folio-data-current", "dio-coherent", "no-lost-write"))
scenario("fine/aio-enospc", "an AIO direct write to a hole of a full device",
         tree=["/f"], threads=[dio_write(FULL, 0, True), dio_worker(FULL, 0), io_completion(FULL)])
scenario("fine/write-block-vs-truncate", "a block's write racing a truncate to 0", tree=["/f"],
         threads=[write_block(COLD, 0), truncate(COLD, 0), io_completion(COLD)],
         properties=(*BASE_PROPERTIES, "no-stale-data", "no-write-to-freed-block"))
scenario("fine/write-block-vs-read", "a block's write and a read of the whole page",
         tree=["/f"], threads=[read(COLD, 0), write_block(COLD, 0), io_completion(COLD)],
         properties=(*BASE_PROPERTIES, "folio-data-current", "dirty-coherent"))
scenario("fine/write-block-vs-short-truncate", "a block's write into a hole beside a truncate "
         "to 100 bytes", tree=["/f"],
         threads=[write_block(HOLE, 0), truncate(HOLE, 100), io_completion(HOLE)])
scenario("fine/write-block-enospc", "a block's write to a hole of a full device, an fsync",
         tree=["/f"], threads=[write_block(FULL, 0), fsync(FULL), io_completion(FULL)])
scenario("fine/getdents", "one getdents64(2) of a directory", tree=["/a/", "/a/x"],
         threads=[getdents(OpenFile("/a", name="dirfile"))],
         properties=(*BASE_PROPERTIES, "no-lost-f-pos"))
scenario("fine/fsync-vs-iget", "an fsync beside an iget of the inode", tree=["/f"],
         threads=[fsync_inode(CACHED), iget(CACHED)],
         properties=(*BASE_PROPERTIES, "no-post-eof-exposure"))
scenario("fine/two-truncates-vs-flusher", "a truncate to 0, one to 4196 and the flusher",
         tree=["/f"],
         threads=[truncate(TWO, 0), truncate(TWO, 4196), flusher(TWO), io_completion(TWO)],
         properties=(*BASE_PROPERTIES, "folio-data-current"))
scenario("fine/journal-vs-truncate", "a commit and an ext4 write beside a truncate to 0",
         tree=["/f"],
         threads=[jbd2_commit(CACHED, 0), ext4_write(CACHED, 0), truncate(CACHED, 0),
                  io_completion(CACHED)])
OWNED = Quotas((QuotaFile("/qa", "alice", blocks=1), QuotaFile("/qb", "alice", blocks=1)))
scenario("fine/two-chowns", "chowns of two files of one owner to another", tree=["/qa", "/qb"],
         threads=[chown(OWNED, "/qa", "bob"), chown(OWNED, "/qb", "bob")],
         properties=(*BASE_PROPERTIES, "quota-released-clean", "quota-usage-exact"))
COPY_A, COPY_B = File("/a", pages=1, cached=(0,)), File("/b", pages=1)
FILE_A = OpenFile("/a", cache=COPY_A, name="fa")
FILE_B = OpenFile("/b", cache=COPY_B, name="fb")
scenario("fine/copies-vs-store", "copies both ways between two files through the page cache "
         "and a store into one",
         tree=["/a", "/b"],
         threads=[copy_file_range_splice(FILE_B, FILE_A), copy_file_range_splice(FILE_A, FILE_B),
                  mmap_store(COPY_A, 10), io_completion(COPY_A)],
         properties=(*BASE_PROPERTIES, "folio-data-current"))
scenario("fine/two-copies-vs-write", "two copies of /a into /b racing a write to /a",
         tree=["/a", "/b"],
         threads=[write(COPY_A, 0), copy_file_range_splice(FILE_A, FILE_B),
                  copy_file_range_splice(FILE_A, FILE_B)],
         properties=(*BASE_PROPERTIES, "copy-coherent"))
scenario("fine/unlink-vs-delegation-and-lease", "an unlink breaking a delegation beside a "
         "plain lease taken meanwhile and never answered", tree=["/f"],
         threads=[delegate_then_setattr("/f"), unlink_breaking_delegation("/f"),
                  lease_never_answered("/f", READ)])
scenario("fine/dio-truncate-read-into-mapping", "a direct write of page 1 and a truncate to "
         "one page while a read copies page 0 into a mapping of page 1", tree=["/f"],
         threads=[dio_write(TWO_CACHED, 1, False), truncate(TWO_CACHED, 4096),
                  io_completion(TWO_CACHED), read_to_mapping(TWO_CACHED, 0, 4096)],
         properties=(*BASE_PROPERTIES, "dirty-coherent", "dio-coherent"))
scenario("fine/symbolic-truncate-vs-dio", "a truncate to a symbolic size beside an extending "
         "direct write and a buffered write", tree=["/f"],
         threads=[truncate(TWO_CACHED, Symbol("size", 0, 8192)), dio_write(TWO_CACHED, 1, False),
                  write(TWO_CACHED, 1), io_completion(TWO_CACHED)])
scenario("fine/write-from-mapping-vs-truncate", "write(2) of a page from a mapping of itself "
         "while a truncate to 0 takes the source away", tree=["/f"],
         threads=[write_from_mapping(COLD, 0, 0), truncate(COLD, 0), io_completion(COLD)])
UMOUNT_PROPERTIES = (*BASE_PROPERTIES, "no-lost-write", "no-use-after-evict", "clean-unmount")
scenario("fine/umount-vs-writer", "a program unmounting while another writes the file",
         tree=["/f"],
         threads=[write_touch_umount(CACHED), write(CACHED, 0), inode_flusher(CACHED, True),
                  io_completion(CACHED)],
         properties=UMOUNT_PROPERTIES)
scenario("fine/umount-vs-short-truncate", "a program unmounting beside a truncate to 100 bytes",
         tree=["/f"],
         threads=[write_touch_umount(CACHED), truncate(CACHED, 100), inode_flusher(CACHED, True),
                  io_completion(CACHED)],
         properties=UMOUNT_PROPERTIES)
scenario("fine/umount-vs-migrate", "a program unmounting while compaction migrates the folio",
         tree=["/f"],
         threads=[write_touch_umount(CACHED), migrate(CACHED, 0), io_completion(CACHED)],
         properties=UMOUNT_PROPERTIES)
scenario("fine/umount-vs-iget", "a program unmounting while another opens the file by handle",
         tree=["/f"],
         threads=[write_touch_umount(CACHED), iget(CACHED), io_completion(CACHED)],
         properties=UMOUNT_PROPERTIES)
scenario("fine/dio-vs-load-and-punch", "a direct write into a page a punch frees while a "
         "mapped load reads it", tree=["/f"],
         threads=[dio_write(COLD, 0, False), mmap_load(COLD, 0), punch_hole(COLD, 0, 4096),
                  io_completion(COLD)],
         properties=(*BASE_PROPERTIES, "dirty-coherent"))
scenario("fine/store-vs-partial-truncate", "a store at byte 4097 and a truncate to 4097 bytes",
         tree=["/f"],
         threads=[mmap_store(TWO_CACHED, 4097), truncate(TWO_CACHED, 4097),
                  io_completion(TWO_CACHED)],
         properties=(*BASE_PROPERTIES, "folio-data-current"))
WITH_DEVMEM = MappedFile(TWO_CACHED, vmas=((0, 2, VM_WRITE), (8, 10, VM_PFNMAP)))
scenario("fine/fork-with-devmem", "fork of a task with a file VMA and a /dev/mem one",
         tree=["/f"], threads=[fork_exit(WITH_DEVMEM), vma_load(WITH_DEVMEM, 0)],
         properties=(*BASE_PROPERTIES, "vma-open-close", "ptes-within-vmas"))
scenario("fine/split-devmem", "munmap of half a /dev/mem VMA while a debugger peeks at the "
         "other", tree=["/f"], threads=[munmap_range(WITH_DEVMEM, 8, 9),
                                        ptrace_peek(WITH_DEVMEM, 9)],
         properties=(*BASE_PROPERTIES, "vma-open-close", "ptes-within-vmas"))
"""

FIXED = {
    "fine/cached-hole": "a cached hole held the initial data, not zeroes",
    "fine/read-vs-punch": "a page read after a punch holds zeroes: the punch was not noted",
    "fine/readahead-vs-truncate": "the same after a truncate of an uncached page",
    "fine/read-vs-dio": "the page cache before iomap_dio_complete() invalidates it again",
    "fine/two-truncates": "a pte beyond the EOF a truncate under way has set",
    "fine/memory-failure-vs-write": "dirty data a memory error throws away (and reports)",
    "fine/partial-punch": "ext4 zeroes a partial block dirty, not truncate_inode_partial_folio()",
    "fine/dio-enospc": "a bio to no block (a Python error): the write returns -ENOSPC",
    "fine/aio-enospc": "the same, and the dio worker waited for a bio never submitted",
    "fine/write-block-vs-truncate": "write_block took no i_rwsem, so it raced the truncate",
    "fine/write-block-enospc": "write_block mapped no block to a hole (an assertion in writeback)",
    "fine/write-block-vs-read": "->read_folio read the uptodate block again over its new data",
    "fine/write-block-vs-short-truncate": "block_truncate_page() read the uptodate block again "
    "(and a block never written read as no data: a Python error zeroing it)",
    "fine/getdents": "f_pos moved by getdents64(2) was not counted as moved",
    "fine/fsync-vs-iget": "a property's reads= of a slot this scenario lacks was refused",
    "fine/copies-vs-store": "the same data, runs of bytes, was taken for other data",
    "fine/two-truncates-vs-flusher": "block_write_full_page() zeroed from an i_size read again",
    "fine/journal-vs-truncate": "the journal's operations locked a folio a truncate removed",
    "fine/two-chowns": "dqput()'s look under dq_list_lock was two steps: both saw a count of 2",
    "fine/two-copies-vs-write": "the older copy landing last in /b was taken for a lost copy",
    "fine/unlink-vs-delegation-and-lease": "break_deleg_wait() broke and waited on a plain lease",
    "fine/dio-truncate-read-into-mapping": "zeroes read from the hole a truncate left were taken "
    "for data newer than the direct write that followed",
    "fine/symbolic-truncate-vs-dio": "the i_size updates of write_end() and of the direct "
    "write's completion compared a symbolic size in steps that cannot fork (a TypeError, a "
    "model error)",
    "fine/write-from-mapping-vs-truncate": "the prefault's SIGBUS past EOF did not end the write "
    "(-EFAULT): the short copy went round for ever",
    "fine/umount-vs-writer": "umount tore the filesystem down under an open file (an assertion)",
    "fine/umount-vs-short-truncate": "the zeroes past EOF on the device were taken for a lost "
    "write",
    "fine/umount-vs-migrate": "evict() removed the folios without their locks, under migration "
    "(an assertion)",
    "fine/umount-vs-iget": "the same under the descriptor open_by_handle_at() returned",
    "fine/dio-vs-load-and-punch": "the block the punch freed and the direct write allocated "
    "again (unwritten, reading as zeroes) was taken to hold its stale data for the zero folio",
    "fine/store-vs-partial-truncate": "the store's byte past the new EOF, which "
    "truncate_inode_partial_folio() zeroed, was looked for in the folio",
    "fine/fork-with-devmem": "dup_mmap() and exit_mmap() called the file's ->open and ->close "
    "for a /dev/mem VMA too (mmap_mem_ops has none) and took the file's i_mmap_rwsem",
    "fine/split-devmem": "__split_vma() of a /dev/mem VMA called the file's ->open",
}


def test_a_direct_write_beside_a_writer_through_the_cache_is_a_collision(scenarios: Path) -> None:
    """A direct write is done when its ki_complete runs, and on a page a
    store also writes it collides: fsync is not held to it (writeback of
    the store's stale folio may land over it, which the kernel warns of),
    as dio-coherent does not check such a page; beside a read, it is."""
    registry = with_files([scenarios])
    page = File("/f", pages=1)
    threads = (dio_write(page, 0, False), mmap_store(page, 0), fsync(page), io_completion(page))
    registry.add_scenario(Scenario("test/dio-store", "x", ("/f",), threads, ("no-lost-write",)))
    for name, collides in (("test/dio-store", True), ("fine/read-vs-dio", False)):
        cache = pagecache(registry.build(registry.scenario(name)).world)
        [direct] = [write for write in cache.writes if write.completed is not None]
        assert direct.completed is not None and direct.completed[1] == COMPLETED
        assert cache.collides(direct.version, direct.page) is collides


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fine") / "fine.py"
    path.write_text(SCENARIOS)
    return path


@pytest.mark.parametrize("name", sorted(FIXED))
def test_the_correct_protocol_passes(scenarios: Path, name: str) -> None:
    """What each once reported: ``FIXED[name]``; the check runs every
    thread to its end (a one-thread scenario's lock steps run with the
    step before them, so it may store a handful of states)."""
    outcome = mc.testing.check(name, models=[scenarios])
    assert outcome.verdict == "OK" and outcome.result.stats.states > 3


def test_a_dirty_page_over_a_hole_is_refused() -> None:
    """A dirty page has a block (a write allocates it in ->write_begin);
    delayed allocation at writeback is not modelled, so a file laid out so
    is a model error, not an assertion deep in writeback."""
    with pytest.raises(ModelError, match=r"dirty pages \[0\] are holes"):
        File("/f", pages=1, cached=(0,), holes=(0,), dirty=(0,))


MAPPED = """\
from mc.dsl import VM_WRITE, File, scenario
from mc.models.dcache import d_path, nfsd_rename
from mc.models.dio import dio_worker, dio_write
from mc.models.filelock import laundromat, lock_range, lockd_deferred, take_lease
from mc.models.inode import iget, iput_last
from mc.models.mmap import MappedFile, fork_exit, mprotect_readonly
from mc.models.mount import umount
from mc.models.quota import QuotaFile, Quotas, chown
from mc.models.truncate import mmap_store, shrink_store_extend
from mc.models.dax import dax_store
from mc.models.mmap import mmap_file, vma_store
from mc.models.usercopy import read_to_mapping
from mc.models.writeback import io_completion, write
from mc.models.xattr import delegation

Q = Quotas((QuotaFile("/q", "alice", blocks=1),))
M = MappedFile(File("/f", pages=3, cached=(0, 1, 2)), vmas=((0, 3, VM_WRITE),))
G = File("/g", pages=2, cached=(0, 1))
scenario("refused/{name}", "x", tree=["/f", "/g", "/a/", "/a/x", "/b/", "/q"],
         threads=[{threads}])
"""


@pytest.mark.parametrize(
    ("threads", "refusal"),
    [
        ("mprotect_readonly(M, 1, 2)", "covers part of the VMA over pages [0, 3)"),
        ("fork_exit(M), fork_exit(M)", "T2 forks the process that maps /f too, as T1 does"),
        (
            "d_path('/a/x'), nfsd_rename('/a/x', '/b/y')",
            "T1 holds /a/x, which pins the dentry of /a",
        ),
        ("chown(Q, '/q', 'bob'), chown(Q, '/q', 'bob')", "T2 chowns /q too, as T1 does"),
        ("io_completion(G), io_completion(G)", "T2 completes the device's I/O too, as T1 does"),
        (
            "laundromat('/f'), laundromat('/f')",
            "T2 runs the laundromat for the courtesy client too, as T1 does",
        ),
        ("iget(G), iget(G)", "T2 igets /g too, as T1 does"),
        ("iput_last(G), iput_last(G)", "T2 drops the last reference to /g too, as T1 does"),
        ("iput_last(G), write(G, 0)", "T2 holds /g open while T1 drops the last reference"),
        ("write(G, 1), iput_last(G)", "T1 holds /g open while T2 drops the last reference"),
        ("umount(G), umount(G)", "T2 unmounts the filesystem too, as T1 does"),
        ("mmap_store(G, 10), umount(G)", "T2 unmounts the filesystem while the scenario maps"),
        ("umount(G), mmap_store(G, 10)", "T1 unmounts the filesystem while the scenario maps"),
        (
            "shrink_store_extend(G, 100, 50, 8192), shrink_store_extend(G, 100, 50, 8192)",
            "no-post-eof-exposure: T1's pread of bytes [100, 8192) expects zeroes past the size it "
            "truncated to, but T2 may change",
        ),
        (
            "dio_write(G, 0, True), dio_worker(G, 0), dio_worker(G, 0)",
            "(T2 completes T1's): one dio_worker completes one write",
        ),
        (
            "dio_write(G, 0, True), io_completion(G)",
            "no dio_worker completes T1's AIO direct write of /g:0: add dio_worker(F, 0) after it",
        ),
        (
            "dio_write(G, 0, False)",
            "the direct writes of /g submit bios that no thread completes: add io_completion(F)",
        ),
        (
            "lock_range('/f', (0, 9)), lockd_deferred('/f', (0, 9))",
            "T1 locks /f locally (fs/locks.c) and T2 through the cluster's lock manager",
        ),
        ("take_lease('/a', 'F_RDLCK')", "a lease of /a, a directory: generic_setlease()"),
        ("lock_range('/a', (0, 9))", "a write lock of /a, a directory"),
        ("dax_store(File('/g', pages=1), 0, 1), write(File('/g', pages=1), 0)", "is a DAX file"),
        (
            "dax_store(File('/g', pages=1), 0, 1), dax_store(File('/f', pages=1), 0, 1)",
            "/f is a second DAX file beside /g: the DAX model follows one file per scenario",
        ),
        (
            "vma_store(M, 1), vma_store(MappedFile(G, vmas=((0, 2, VM_WRITE),)), 1)",
            "the VMAs map one file: /g is a second file beside /f",
        ),
        (
            "mmap_file(MappedFile(G), 0, 1, True), vma_store(M, 1)",
            "the VMAs map one file: /f is a second file beside /g",
        ),
        ("vma_store(M, 1), read_to_mapping(M.file, 0, 4096)", "and by a MappedFile's VMAs"),
        ("read_to_mapping(M.file, 0, 4096), vma_store(M, 1)", "and by a MappedFile's VMAs"),
        (
            "delegation('/a/x'), delegation('/a/x')",
            "T2 hands out a delegation of /a/x too, as T1 does",
        ),
        ("*[io_completion(G)] * 300", "has 300 threads: partial-order reduction tells at most"),
    ],
)
def test_what_the_model_does_not_have_is_refused(
    tmp_path: Path, threads: str, refusal: str
) -> None:
    """An mprotect of part of a VMA (which would split it), two forks of
    one mapped file (one child mm), a directory an NFS rename finds
    disconnected above a file another thread holds (which pins it), a
    second thread doing what the model does once (complete the device's
    I/O, expire the courtesy client, iget into the one spare inode, drop
    the last reference, unmount, truncate-and-read-back, complete one AIO
    write), a second DAX file or a second file with VMAs (whose parts
    are of one file), a last iput beside a process holding the file open (its
    reference), an unmount beside a mapping (which pins the mount) and more
    threads than the reduction tells apart are model errors, not wrong
    verdicts or errors deep in the search."""
    path = tmp_path / "mapped.py"
    path.write_text(MAPPED.replace("{name}", "x").replace("{threads}", threads))
    with pytest.raises(ModelError, match=re.escape(refusal)):
        mc.testing.check("refused/x", models=[path])


ALONE = """\
from mc.dsl import scenario
from mc.models.filelock import laundromat, lockd_deferred

scenario("alone/x", "a wait no thread of the scenario ends", tree=["/f"], threads=[{threads}])
"""


@pytest.mark.parametrize(
    ("threads", "hint"),
    [
        ("lockd_deferred('/f', (0, 10))", "add plock_callback('/f', 'T1', (0, 10))"),
        ("laundromat('/f')", "as lock_range('/f', (0, 9)) does"),
    ],
)
def test_a_wait_no_thread_of_the_scenario_could_end_says_what_to_add(
    tmp_path: Path, threads: str, hint: str
) -> None:
    """A deferred lockd request with no thread answering for the cluster,
    a laundromat with no lock request to make the client EXPIRABLE
    would deadlock whatever the protocol: a model error that says which
    thread to add, not a verdict."""
    path = tmp_path / "alone.py"
    path.write_text(ALONE.replace("{threads}", threads))
    with pytest.raises(ModelError, match=re.escape(hint)):
        mc.testing.check("alone/x", models=[path])


DAX_FSYNCS = """\
from mc.dsl import BASE_PROPERTIES, File, scenario
from mc.models.dax import dax_store_fsync

HOLE = File("/f", pages=1, holes=(0,))
scenario("dax-race/two-store-fsyncs", "two programs store to one DAX page, then fsync",
         tree=["/f"], threads=[dax_store_fsync(HOLE, 0), dax_store_fsync(HOLE, 0)],
         properties=(*BASE_PROPERTIES, "no-lost-write"))
"""


def test_two_fsyncs_of_a_dax_file_can_return_before_the_store_they_cover_is_flushed(
    tmp_path: Path,
) -> None:
    """The kernel's window (README, Mappings, direct I/O and DAX): the
    second fsync finds the entry's TOWRITE mark already cleared by the
    first, which has not flushed yet, and returns."""
    path = tmp_path / "dax_race.py"
    path.write_text(DAX_FSYNCS)
    outcome = mc.testing.check("dax-race/two-store-fsyncs", models=[path], expect="no-lost-write")
    assert outcome.message is not None
    assert "T2's fsync returned" in outcome.message or "T1's fsync returned" in outcome.message
    assert "is not on the device" in outcome.message


NO_DIO_BEGIN = """\
from mc.dsl import Invocation, Program, variant
from mc.models.dio import dio_write


@variant("dio-no-dio-begin", "the direct write does not call inode_dio_begin()")
def dio_no_begin(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(dio_write):
        return program
    return program.drop(lambda step: step.label.startswith("inode_dio_begin(inode)"))
"""


def test_an_inode_dio_end_without_its_begin_is_a_lock_protocol_error(tmp_path: Path) -> None:
    """i_dio_count below zero is reported where it happens, not as the
    deadlock of an inode_dio_wait() that never sees zero again."""
    path = tmp_path / "no_dio_begin.py"
    path.write_text(NO_DIO_BEGIN)
    outcome = mc.testing.check(
        "dio/write-vs-truncate",
        variants=["dio-no-dio-begin"],
        models=[path],
        expect="lock-protocol",
    )
    assert outcome.message is not None
    assert "drops i_dio_count below zero" in outcome.message
