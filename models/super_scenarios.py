"""Scenarios of the superblock's life (``super/<name>``) and the protocol
variants they catch."""

from __future__ import annotations

from mc.dsl import Invocation, Program, variant
from mc.dsl.scenario import BASE_PROPERTIES, scenario
from mc.kernel.pagecache import File
from mc.kernel.pagecache_properties import PAGECACHE_PROPERTIES
from mc.kernel.superblock import SUPER_PROPERTIES
from mc.models.super import freeze, fs_transaction, sync, thaw
from mc.models.truncate import mmap_store
from mc.models.writeback import io_completion, write

FREEZE_PROPERTIES = (*BASE_PROPERTIES, *PAGECACHE_PROPERTIES, *SUPER_PROPERTIES)
WRITE_IGNORES_FREEZE = "write-ignores-freeze"
MKWRITE_IGNORES_FREEZE = "mkwrite-ignores-freeze"
TRANSACTION_IGNORES_FREEZE = "transaction-ignores-freeze"


def _without_level(program: Program, tag: str) -> Program:
    """Without the steps tagged ``tag``: a writer's acquisition and release
    of its freeze level (the freezer's steps stay)."""
    return program.drop(lambda step: tag in step.tags)


@variant(
    WRITE_IGNORES_FREEZE,
    "write(2) does not take the SB_FREEZE_WRITE level (no file_start_write()): it does not "
    "check the frozen state",
)
def write_ignores_freeze(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not write:
        return program
    return _without_level(program, "sb-start-write")


@variant(
    MKWRITE_IGNORES_FREEZE,
    "->page_mkwrite does not take the SB_FREEZE_PAGEFAULT level (no sb_start_pagefault())",
)
def mkwrite_ignores_freeze(program: Program, _invocation: Invocation) -> Program:
    return _without_level(program, "sb-start-pagefault")


@variant(
    TRANSACTION_IGNORES_FREEZE,
    "an internal transaction does not take the SB_FREEZE_FS level (no sb_start_intwrite())",
)
def transaction_ignores_freeze(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not fs_transaction:
        return program
    return _without_level(program, "sb-intwrite")


ONE_PAGE = File("/f", pages=1, cached=(0,))

scenario(
    "super/freeze-vs-writer",
    "FIFREEZE racing a write(2) of a cached page, FITHAW once the freeze returned",
    tree=["/f"],
    threads=[write(ONE_PAGE, 0), freeze(ONE_PAGE), thaw(ONE_PAGE), io_completion(ONE_PAGE)],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/freeze-vs-fault",
    "FIFREEZE racing a store through a shared mapping that write-faults (->page_mkwrite), "
    "FITHAW once the freeze returned",
    tree=["/f"],
    threads=[mmap_store(ONE_PAGE, 0), freeze(ONE_PAGE), thaw(ONE_PAGE), io_completion(ONE_PAGE)],
    properties=FREEZE_PROPERTIES,
)

scenario(
    "super/freeze-vs-sync",
    "sync(2) and an internal filesystem transaction racing FIFREEZE, FITHAW once the freeze "
    "returned",
    tree=["/f"],
    threads=[
        sync(ONE_PAGE),
        fs_transaction(ONE_PAGE),
        freeze(ONE_PAGE),
        thaw(ONE_PAGE),
        io_completion(ONE_PAGE),
    ],
    properties=FREEZE_PROPERTIES,
)
