"""The dentry cache's operations (models/dcache.py): an unknown path is a
model error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

Run = Callable[..., Result]

UNKNOWN_PATHS = """
from mc.dsl import scenario
from mc.models.dcache import dput, rcu_walk, shrink_dcache

scenario(
    "my/dput-nope",
    "dput of a name the tree lacks",
    tree=["/a/"],
    threads=[dput("/a/nope")],
    properties=["deadlock"],
)

scenario(
    "my/shrink-nope",
    "the shrinker and an rcu-walk on a name the tree lacks",
    tree=["/a/", "/a/x"],
    threads=[shrink_dcache("/zz/q"), rcu_walk("/zz/q")],
    properties=["deadlock"],
)

scenario(
    "my/walk-nope",
    "an rcu-walk of a name the tree lacks",
    tree=["/a/"],
    threads=[rcu_walk("/a/q")],
    properties=["deadlock"],
)
"""


@pytest.mark.parametrize(
    ("scenario", "path", "where"),
    [
        ("my/dput-nope", "/a/nope", "in dput"),
        ("my/shrink-nope", "/zz/q", "in shrink_dcache"),
        ("my/walk-nope", "/a/q", "in rcu_walk"),
    ],
)
def test_an_unknown_path_is_a_model_error(
    vfsmc: Run, tmp_path: Path, scenario: str, path: str, where: str
) -> None:
    (tmp_path / "nope.py").write_text(UNKNOWN_PATHS)
    result = vfsmc("check", f"nope.py:{scenario}", "--no-save")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("vfsmc: error: nope.py:"), lines
    assert f"{path} is not in the scenario's tree" in lines[0]
    assert where in lines[0]
