"""A disk-quota scenario for ``bench/scale.py``: the deadlock of
``release-dquot-locks-before-handle`` needs four threads (two chowns, a
quotactl(Q_SYNC) and a jbd2 commit), more than the shipped
``quota/sync-release-vs-chown`` has."""

from mc.dsl.scenario import BASE_PROPERTIES, scenario
from mc.models.journal import jbd2_commit_metadata
from mc.models.quota import QuotaFile, Quotas, chown, quota_sync
from mc.models.quota_scenarios import RECORD, RELEASED, USAGE

SWAP = Quotas((QuotaFile("/a", "alice", blocks=1), QuotaFile("/b", "bob", blocks=1)))

scenario(
    "scale/quota-release-vs-commit",
    "chown(2) gives alice's file to bob while quotactl(Q_SYNC) writes "
    "alice's dirty dquot and releases it as its last dqput(), a second chown(2) gives bob's "
    "file to alice (dqget() inside its handle) and a jbd2 commit waits for the handles",
    tree=["/a", "/b"],
    threads=[
        chown(SWAP, "/a", "bob"),
        chown(SWAP, "/b", "alice"),
        quota_sync(SWAP),
        jbd2_commit_metadata(),
    ],
    properties=(*BASE_PROPERTIES, USAGE, RECORD, RELEASED),
)
