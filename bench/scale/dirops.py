"""Directory-operation scenarios that grow one thread at a time, for
``bench/scale.py``: six operations (two opposite cross-directory renames, an
rmdir, a link, a create and an unlink), then a mkdir, a lookup, a second
create and a second lookup (the nine- and ten-thread scenarios are checked
with reduction only: without it they take minutes)."""

from mc.dsl.scenario import BASE_PROPERTIES, scenario
from mc.models.dirops import create, link, lookup, mkdir, rename, rmdir, unlink

TREE = ["/a/", "/a/x", "/a/d/", "/b/", "/b/z", "/c/", "/c/e"]
SIX = [
    rename("/a/x", "/b/y"),
    rename("/b/z", "/a/w"),
    rmdir("/a/d"),
    link("/c/e", "/a/d/f"),
    create("/b/n"),
    unlink("/c/e"),
]
PROPERTIES = (*BASE_PROPERTIES, "namespace")

scenario(
    "scale/dirops-6",
    "two opposite renames, an rmdir, a link into the removed directory, a create, an unlink",
    tree=TREE,
    threads=SIX,
    properties=PROPERTIES,
)
scenario(
    "scale/dirops-7",
    "the six directory operations and a mkdir",
    tree=TREE,
    threads=[*SIX, mkdir("/b/m")],
    properties=PROPERTIES,
)
scenario(
    "scale/dirops-8",
    "the seven directory operations and a lookup",
    tree=TREE,
    threads=[*SIX, mkdir("/b/m"), lookup("/a/x")],
    properties=PROPERTIES,
)
scenario(
    "scale/dirops-9",
    "the eight directory operations and a create in a third directory",
    tree=TREE,
    threads=[*SIX, mkdir("/b/m"), lookup("/a/x"), create("/c/q")],
    properties=PROPERTIES,
)
scenario(
    "scale/dirops-10",
    "the nine directory operations and a lookup of the file one rename moves",
    tree=TREE,
    threads=[*SIX, mkdir("/b/m"), lookup("/a/x"), create("/c/q"), lookup("/b/z")],
    properties=PROPERTIES,
)
