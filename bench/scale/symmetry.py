"""Scenarios whose threads are interchangeable (the same operation with the
same arguments), for the symmetry reduction in ``bench/scale.py``: walks
that trigger one autofs mount point, and processes that upgrade a shared
flock of one file to exclusive (which name each other in their registers
and the file's lock list most of the time, so few states have a
permutation the reduction may apply), and two lookups of one name beside
two creates and a mkdir, whose steps mostly commute: partial-order
reduction, which ``--symmetry`` turns off, prunes more of them than the
symmetry of the lookups does."""

from mc.dsl.scenario import BASE_PROPERTIES, scenario
from mc.models.dcache import walk_automount
from mc.models.dcache_scenarios import ONE_AUTOMOUNT
from mc.models.dirops import create, lookup, mkdir
from mc.models.filelock import flock_upgrade
from mc.models.filelock_scenarios import FILELOCK_PROPERTIES

for count in (3, 4):
    scenario(
        f"scale/automount-{count}",
        f"{count} walks triggering one autofs mount point",
        tree=["/auto/"],
        threads=[walk_automount("/auto") for _ in range(count)],
        properties=(*BASE_PROPERTIES, "namespace", ONE_AUTOMOUNT),
    )
scenario(
    "scale/flock-upgrade-3",
    "three processes take a shared flock of one file and upgrade it to exclusive",
    tree=["/f"],
    threads=[flock_upgrade("/f") for _ in range(3)],
    properties=FILELOCK_PROPERTIES,
)
scenario(
    "scale/lookups-beside-creates",
    "two lookups of /b/q while it is made, beside two creates of /a/x",
    tree=["/a/", "/b/"],
    threads=[create("/a/x"), create("/a/x"), lookup("/b/q"), lookup("/b/q"), mkdir("/b/q")],
    properties=(*BASE_PROPERTIES, "namespace"),
)
