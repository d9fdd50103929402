"""mc.testing: the verdict assertions a developer's own tests use, with the
counterexample in the failure message."""

from __future__ import annotations

from pathlib import Path

import pytest

import mc.testing
from mc.dsl.scenario import UnknownName
from mc.engine.result import Verdict
from mc.kernel.world import ModelError


def test_expected_verdicts_pass_and_return_the_outcome() -> None:
    outcome = mc.testing.check("dirops/opposite-renames")
    assert outcome.result.verdict is Verdict.OK
    broken = mc.testing.check(
        "dirops/opposite-renames", variants=["no-rename-mutex"], expect="deadlock"
    )
    assert broken.counterexample is not None
    mc.testing.check("dirops/opposite-renames", ["no-rename-mutex"], "VIOLATED")
    mc.testing.check("dirops/rename-rmdir-link", expect="INCOMPLETE", max_states=5)


def test_a_failed_expectation_prints_the_counterexample() -> None:
    with pytest.raises(mc.testing.CheckFailed) as failed:
        mc.testing.check("dirops/opposite-renames", variants=["no-rename-mutex"])
    message = str(failed.value)
    assert isinstance(failed.value, AssertionError)
    assert message.startswith(
        "dirops/opposite-renames with no-rename-mutex: expected OK, got VIOLATED (deadlock)"
    )
    assert "deadlock in dirops/opposite-renames with variant no-rename-mutex" in message
    assert "cycle: T1 -> i_rwsem(/a) -> T2 -> i_rwsem(/b) -> T1" in message
    with pytest.raises(mc.testing.CheckFailed, match="expected namespace, got VIOLATED"):
        mc.testing.check(
            "dirops/opposite-renames", variants=["no-rename-mutex"], expect="namespace"
        )
    with pytest.raises(mc.testing.CheckFailed, match="expected deadlock, got OK"):
        mc.testing.check("dirops/opposite-renames", expect="deadlock")


def test_bad_arguments_are_not_assertion_failures(tmp_path: Path) -> None:
    with pytest.raises(UnknownName, match="unknown scenario"):
        mc.testing.check("dirops/nope")
    with pytest.raises(UnknownName, match="unknown expectation 'deadlocks'"):
        mc.testing.check("dirops/opposite-renames", expect="deadlocks")
    with pytest.raises(ModelError, match="no such file"):
        mc.testing.check(f"{tmp_path}/missing.py:x")
    with pytest.raises(TypeError, match=r"variants is a list, not 'no-rename-mutex'"):
        mc.testing.check("dirops/opposite-renames", variants="no-rename-mutex")


def test_model_files_load_from_a_path(tmp_path: Path) -> None:
    model = tmp_path / "mine.py"
    model.write_text(
        "from mc.dsl.scenario import scenario\n"
        "from mc.models.dirops import rename\n\n"
        "scenario('testing-api/rename', 'one rename', tree=['/a/', '/a/x', '/b/'],\n"
        "         threads=[rename('/a/x', '/b/y')])\n"
    )
    assert mc.testing.load_models(model) == ["testing-api/rename"]
    assert mc.testing.load_models(model) == ["testing-api/rename"]
    mc.testing.check(f"{model}:testing-api/rename")
    mc.testing.check("testing-api/rename", models=[model])


def test_the_outcome_has_verdict_and_message() -> None:
    ok = mc.testing.check("dirops/opposite-renames")
    assert (ok.verdict, ok.message) == ("OK", None)
    broken = mc.testing.check("dirops/opposite-renames", ["no-rename-mutex"], "deadlock")
    assert broken.verdict == "VIOLATED"
    assert broken.message is not None and broken.message.startswith("deadlock: T1 waits for")
    bounded = mc.testing.check("dirops/rename-rmdir-link", expect="INCOMPLETE", max_states=5)
    assert bounded.verdict == "INCOMPLETE" and bounded.message


def test_a_model_file_is_found_beside_the_calling_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "mine.py").write_text(
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import rename\n"
        'scenario("beside/r", "a rename", tree=["/a/", "/a/x", "/b/"],\n'
        '         threads=[rename("/a/x", "/b/y")])\n'
    )
    (suite / "test_mine.py").write_text(
        'import mc.testing\n\ndef run():\n    return mc.testing.check("mine.py:beside/r")\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    namespace: dict[str, object] = {}
    test_file = suite / "test_mine.py"
    exec(compile(test_file.read_text(), str(test_file), "exec"), namespace)
    outcome = namespace["run"]()  # type: ignore[operator]
    assert outcome.verdict == "OK"
    with pytest.raises(ModelError):
        mc.testing.check("mine.py:beside/r")
