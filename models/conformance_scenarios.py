"""Scenarios whose operations call the filesystem methods the locking rules
speak of beyond the directory operations (``attr/``, ``namei/``), and the
protocol variants that break those rules, which spec-conformance catches."""

from __future__ import annotations

from mc.dsl.operation import Invocation
from mc.dsl.program import Program
from mc.dsl.scenario import BASE_PROPERTIES, flag_variant, scenario, variant
from mc.models.attr import chmod
from mc.models.dirops import create, link, mknod, symlink, unlink
from mc.models.namei import stat

PROPERTIES = (*BASE_PROPERTIES, "namespace")


@variant("setattr-unlocked", "chmod_common() calls notify_change() without the inode's i_rwsem")
def setattr_unlocked(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not chmod:
        return program
    return program.drop(lambda step: "inode-lock" in step.tags)


flag_variant(
    "revalidate-blocks-in-rcu",
    "fuse_dentry_revalidate() asks its server (and sleeps) under LOOKUP_RCU instead of "
    "returning -ECHILD",
)

scenario(
    "attr/chmod-link-unlink",
    "chmod of a file while it is linked elsewhere and unlinked",
    tree=["/a/", "/a/x", "/b/"],
    threads=[chmod("/a/x", 0o600), link("/a/x", "/b/y"), unlink("/a/x")],
    properties=PROPERTIES,
)

scenario(
    "namei/stat-unlink-create",
    "stat of a name in rcu-walk while it is unlinked and created again",
    tree=["/a/", "/a/x"],
    threads=[stat("/a/x"), unlink("/a/x"), create("/a/x")],
    properties=PROPERTIES,
)

scenario(
    "namei/mknod-symlink-stat",
    "a device node and a symlink created under the same name while stat walks to it",
    tree=["/a/"],
    threads=[mknod("/a/n"), symlink("/a/n"), stat("/a/n")],
    properties=PROPERTIES,
)
