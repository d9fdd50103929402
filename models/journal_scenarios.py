"""Journal scenarios (``journal/<name>``): ext4's journal handles against
the jbd2 commit (models/journal.py)."""

from __future__ import annotations

from mc.dsl import BASE_PROPERTIES, scenario
from mc.kernel.pagecache import File
from mc.models.journal import ext4_write, ext4_writepages, jbd2_commit

CACHED = File("/f", pages=1, cached=(0,), dirty=(0,))

scenario(
    "journal/write-vs-writeback-commit",
    "a write(2) through ext4_write_begin() (nodelalloc, or delalloc fallen back by "
    "ext4_nonda_switch()) of a dirty cached page, the writeback of that folio mapping its "
    "blocks under a handle, "
    "and a jbd2 commit that waits for the handles",
    tree=["/f"],
    threads=[ext4_write(CACHED, 0), ext4_writepages(CACHED, 0), jbd2_commit(CACHED, 0)],
    properties=BASE_PROPERTIES,
)
