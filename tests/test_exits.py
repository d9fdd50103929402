"""How every command ends: one line and a documented exit code for usage
errors, internal errors, Ctrl-C and SIGTERM, never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import as_from_a_terminal, python_in

from mc.cli import main as cli_main
from mc.dsl.kernel_model import KernelModel
from mc.engine import explore
from mc.engine.ctrl_c import Interrupt

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
MANY_THREADS = """\
from mc.dsl.scenario import scenario
from mc.models.dirops import lookup

scenario("many/lookups", "twelve lookups of twelve names", tree=["/a/"],
         threads=[lookup(f"/a/x{n}") for n in range(12)])
"""


def one_line(result: Result, code: int, fragment: str) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("vfsmc: error:") and fragment in lines[0], lines[0]
    return lines[0]


def test_usage_errors_are_one_line(vfsmc: Run) -> None:
    one_line(
        vfsmc("check", "--max-states", "x", "s"), 2, "'--max-states': 'x' is not a whole number"
    )
    one_line(vfsmc("check", "--max-depth", "1.5", "s"), 2, "'--max-depth': '1.5' is not a whole")
    one_line(vfsmc("check", "--workers", "0", "s"), 2, "'0' is not a whole number of 1 or more")
    one_line(vfsmc("mutate", "s", "--max-states", "abc"), 2, "'abc' is not a whole number")
    one_line(vfsmc("check"), 2, "Missing argument 'SCENARIO'")
    one_line(vfsmc("nosuch"), 2, "No such command 'nosuch'")
    one_line(vfsmc("check", "s", "--nosuch"), 2, "No such option '--nosuch'")


def test_an_internal_error_exits_4_in_one_line(vfsmc: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the engine broke")

    monkeypatch.setattr(cli_main, "check_scenario", broken)
    monkeypatch.delenv("VFSMC_TRACEBACK", raising=False)
    line = one_line(vfsmc("check", "dirops/opposite-renames"), 4, "internal error")
    assert "RuntimeError: the engine broke" in line and "VFSMC_TRACEBACK=1" in line
    monkeypatch.setenv("VFSMC_TRACEBACK", "1")
    shown = vfsmc("check", "dirops/opposite-renames")
    assert shown.exit_code == 4, "the traceback asked for does not change the exit code"
    assert "Traceback (most recent call last)" in shown.output
    assert "RuntimeError: the engine broke" in shown.output


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, calls: int) -> None:
    original = KernelModel.successors_of
    count = [0]

    def successors_of(self: KernelModel, state: tuple[object, ...], actor: Hashable) -> object:
        count[0] += 1
        if count[0] == calls:
            raise Interrupt
        return original(self, state, actor)

    monkeypatch.setattr(KernelModel, "successors_of", successors_of)


def test_ctrl_c_during_a_check_gives_incomplete_with_statistics(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 60)
    result = vfsmc("check", "dirops/rename-rmdir-link", "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.output)
    assert report["verdict"] == "INCOMPLETE"
    assert report["incomplete_reason"] == "interrupted (Ctrl-C)"
    assert report["states"] >= 20
    _interrupt_after(monkeypatch, 60)
    text = vfsmc("check", "dirops/rename-rmdir-link")
    assert text.exit_code == 3
    assert "dirops/rename-rmdir-link: INCOMPLETE" in text.output
    assert "incomplete: interrupted (Ctrl-C)" in text.output


def test_ctrl_c_during_mutate_prints_what_was_done_and_exits_3(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C ends ``mutate`` as it ends ``check``: the table of the
    mutations checked so far, the rest listed as undecided, exit 3."""
    from mc.check import mutate

    original = mutate._check
    calls = [0]

    def interrupted_third(*args: object, **kwargs: object) -> mutate.MutantResult:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mutate, "_check", interrupted_third)
    result = vfsmc("mutate", "dirops/rename-rmdir-link", "--no-save")
    assert result.exit_code == 3, result.output
    rows = [line for line in result.output.splitlines() if line.startswith(("drop ", "weaken "))]
    assert len(rows) == 2, result.output
    assert "interrupted (Ctrl-C) before it was checked here or on the other" in result.output
    assert "incomplete: interrupted (Ctrl-C) after" in result.output
    assert "2 mutations checked here" in result.output
    calls[0] = 0
    report = json.loads(vfsmc("mutate", "dirops/rename-rmdir-link", "--no-save", "--json").output)
    assert report["interrupted"] is True and len(report["mutations"]) == 2
    assert report["unfinished"]


def test_mutate_stopped_by_a_bound_before_any_mutation_exits_3(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = one_line(
        vfsmc("mutate", "dirops/rename-rmdir-link", "--time-limit", "1e-9"),
        3,
        "dirops/rename-rmdir-link is INCOMPLETE before any mutation (time limit",
    )
    assert "so no mutation was checked" in line
    from mc.check import mutate

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mutate._Baselines, "get", interrupted)
    one_line(
        vfsmc("mutate", "dirops/rename-rmdir-link"),
        3,
        "interrupted (Ctrl-C) while searching it unmutated, before any mutation was checked",
    )


def test_ctrl_c_outside_a_single_check_exits_130(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 20)
    result = vfsmc("regress", "--filter", "dirops/opposite-renames", "--json")
    assert result.exit_code == 130
    assert result.output.strip().splitlines()[-1] == "vfsmc: error: interrupted"
    assert "Traceback" not in result.output


def _child(*args: str, cwd: Path, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mc", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        preexec_fn=as_from_a_terminal,
        **kwargs,  # type: ignore[call-overload]
    )


def _signal_once_searching(child: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    """Send ``signum`` once the child's progress line starts (once the
    search runs for a second); a child silent for two minutes, or still
    running two minutes after the signal, is made to print where it is
    (faulthandler, on SIGABRT)."""
    assert child.stderr is not None
    started, _, _ = select.select([child.stderr], [], [], 120)
    first = child.stderr.read(1) if started else "nothing"
    child.send_signal(signum)
    try:
        return child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGABRT)
        _out, err = child.communicate(timeout=60)
        where = f"stderr from {first!r}: {err[-4000:]}"
        raise AssertionError(f"no exit after the signal; {where}") from None


def test_real_sigint_and_sigterm_during_a_search(tmp_path: Path) -> None:
    (tmp_path / "many.py").write_text(MANY_THREADS)
    args = ("check", "many.py:many/lookups", "--progress", "--json")
    out, err = _signal_once_searching(_child(*args, cwd=tmp_path), signal.SIGINT)
    report = json.loads(out)
    assert report["verdict"] == "INCOMPLETE" and report["states"] > 0
    assert "Traceback" not in err
    child = _child(*args, cwd=tmp_path)
    out, err = _signal_once_searching(child, signal.SIGTERM)
    assert child.returncode == 143 and "Traceback" not in err
    assert err.rstrip().endswith("vfsmc: error: terminated (SIGTERM)"), err


SPINS_IN_ITS_OWN_CODE = """
import time

from mc.dsl import Op, Scratch, operation, scenario


def wait_for_ever(scratch: Scratch) -> None:
    while True:
        time.sleep(0.01)


@operation(models="an effect that never returns")
def stuck(op: Op) -> None:
    op.effect("for (;;) cpu_relax()", wait_for_ever)


scenario("own/stuck", "one thread", tree=[], threads=[stuck()], properties=["deadlock"])
"""


def test_sigterm_in_a_model_s_own_code_exits_143_not_as_a_model_error(tmp_path: Path) -> None:
    """A model's code that raises ``SystemExit`` is a model error, but the
    ``SystemExit`` SIGTERM raises there ends the command as anywhere."""
    (tmp_path / "own.py").write_text(SPINS_IN_ITS_OWN_CODE)
    child = _child("check", "own.py:own/stuck", "--no-save", cwd=tmp_path)
    time.sleep(2)
    child.send_signal(signal.SIGTERM)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert "model" not in err and "Traceback" not in err
    assert err.strip() == "vfsmc: error: terminated (SIGTERM)", err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_effect_that_never_returns_ends_at_the_time_limit_as_incomplete(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_models: None, workers: str
) -> None:
    """The step runs first in the determinism probe, which the signal cuts
    ``STEP_GRACE_SECONDS`` after the limit: INCOMPLETE, exit 3, with why."""
    monkeypatch.setattr(explore, "STEP_GRACE_SECONDS", 0.3)
    (tmp_path / "own.py").write_text(SPINS_IN_ITS_OWN_CODE)
    result = vfsmc(
        *("check", "own.py:own/stuck", "--time-limit", "0.2", "--no-save", "--json"),
        *("--workers", workers),
    )
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "INCOMPLETE"
    assert "a step still ran 0.3 s past it" in report["incomplete_reason"]


STUCK_DEEP = """
from mc.dsl import Op, operation, scenario


def bump(scratch, slot):
    while scratch[slot] >= 10:
        pass
    scratch[slot] += 1


@operation(models="six bumps of a counter that loop for ever once it reaches 10")
def bumps(op: Op) -> None:
    slot = op.world.shared_slot("count", 0)
    for n in range(6):
        op.effect(f"bump {n}", bump, slot)


scenario("my/deep", "two threads bumping", tree=[], threads=[bumps(), bumps()],
         properties=["deadlock"])
"""


def test_ctrl_c_over_workers_kills_a_worker_stuck_past_the_time_limit(tmp_path: Path) -> None:
    """A worker stuck in a step past the probe's states: after Ctrl-C the
    coordinator waits for it until the time limit and ``ANSWER_GRACE_SECONDS``
    more, then kills it and reports INCOMPLETE (exit 3), where it used to
    wait for ever."""
    (tmp_path / "deep.py").write_text(STUCK_DEEP)
    args = ("check", "deep.py:my/deep", "--time-limit", "0.5", "--workers", "2", "--no-save")
    child = _child(*args, "--json", cwd=tmp_path)
    time.sleep(3)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 3, err
    assert json.loads(out)["verdict"] == "INCOMPLETE" and "Traceback" not in err


def test_ctrl_c_while_importing_exits_130_without_a_traceback(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mc.check':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from mc.cli.launch import run\n"
        "run()\n"
    )
    done = python_in(tmp_path, "-c", program, "list")
    assert done.returncode == 130
    assert done.stderr == "vfsmc: error: interrupted\n"


def test_a_reader_that_stops_early_does_not_cost_the_counterexample(tmp_path: Path) -> None:
    """``vfsmc check ... | head -1``: the pipe is closed by the time the
    verdict is printed (here before the command starts, so the test does
    not race it), the command exits 141 as a killed writer does, and the
    counterexample it found is saved all the same."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "mc", "check", "dirops/opposite-renames"),
                *("--variant", "no-rename-mutex", "--out", str(tmp_path / "cx")),
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr
    saved = sorted(path.name for path in (tmp_path / "cx").iterdir())
    stem = "dirops-opposite-renames--no-rename-mutex"
    assert saved == [f"{stem}.dot", f"{stem}.json", f"{stem}.svg"]


def test_ctrl_c_ends_a_search_over_workers_with_its_statistics(tmp_path: Path) -> None:
    """The terminal sends Ctrl-C to every process of the command: the
    workers leave it to the coordinator, which ends the search after the
    level it waits for, as INCOMPLETE with the figures of the levels done
    (the workers' too), exit 3."""
    (tmp_path / "many.py").write_text(MANY_THREADS)
    args = ("check", "many.py:many/lookups", "--json", "--workers", "2")
    child = _child(*args, cwd=tmp_path, start_new_session=True)
    time.sleep(4)
    os.killpg(child.pid, signal.SIGINT)
    try:
        out, err = child.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 3, err
    report = json.loads(out)
    assert report["verdict"] == "INCOMPLETE"
    assert report["incomplete_reason"] == "interrupted (Ctrl-C)"
    assert report["states"] > 0 and report["worker_cpu_ms"] > 0
    assert "Traceback" not in err


def test_output_to_standard_output_by_name(tmp_path: Path) -> None:
    """``-o /dev/stdout``: standard output holds the file alone (what the
    command says goes to stderr), a closed pipe exits 141 as for anything
    printed, and a command started with standard output closed says so
    (exit 2) instead of printing into nothing."""
    spec = Path(__file__).resolve().parent / "fixtures" / "spec" / "locking-vfs-excerpt.rst"
    command = [sys.executable, "-m", "mc", "spec", "import", str(spec), "-o", "/dev/stdout"]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert tomllib.loads(done.stdout.decode())
    assert b"imported locking-vfs-excerpt.rst" in done.stderr
    assert b"wrote /dev/stdout" in done.stderr
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        closed = subprocess.run(
            command, stdout=write_end, stderr=subprocess.PIPE, timeout=120, check=False
        )
    finally:
        os.close(write_end)
    assert closed.returncode == 141, closed.stderr
    nothing = subprocess.run(
        [sys.executable, "-m", "mc", "list"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert nothing.returncode == 2
    assert b"standard output is closed" in nothing.stderr


def test_a_reader_that_stops_mid_output_gets_141_even_unbuffered() -> None:
    """``PYTHONUNBUFFERED=1 vfsmc ops --json | head -c 10``: the write the
    reader cuts short is partial, which unbuffered output took for done
    and exited 0 with the rest lost; the command now exits 141."""
    done = subprocess.Popen(
        [sys.executable, "-m", "mc", "ops", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.stdout is not None and done.stderr is not None
    assert done.stdout.read(10) == b'[\n {\n  "op'
    done.stdout.close()
    assert done.wait(timeout=120) == 141, done.stderr.read()
    assert b"Traceback" not in done.stderr.read()
    done.stderr.close()


@pytest.mark.parametrize("stderr", ["full", "closed", "closed pipe"])
def test_standard_error_that_cannot_be_written_loses_no_verdict(
    tmp_path: Path, stderr: str
) -> None:
    """The progress line and the notes go to standard error on a best
    effort: where it is full, closed or a pipe nobody reads, the verdict
    still reaches standard output and the exit code is the verdict's (a
    violation's 1 once came from the failed write, and ``2>&-`` was an
    internal error)."""
    command = [sys.executable, "-m", "mc", "check", "dirops/opposite-renames", "--no-save"]
    read_end, write_end = os.pipe()
    os.close(read_end)
    streams: dict[str, Any] = {
        "full": {"stderr": open("/dev/full", "w")},  # noqa: SIM115
        "closed": {"stderr": subprocess.DEVNULL, "preexec_fn": lambda: os.close(2)},
        "closed pipe": {"stderr": write_end},
    }[stderr]
    try:
        for extra in (["--progress"], ["-V", "no-rename-mutex"]):
            done = subprocess.run(
                [*command, *extra],
                stdout=subprocess.PIPE,
                timeout=120,
                check=False,
                cwd=tmp_path,
                **streams,
            )
            verdict = "OK" if extra == ["--progress"] else "VIOLATED"
            assert done.returncode == (0 if verdict == "OK" else 1), done.stdout
            shown = "" if verdict == "OK" else " with no-rename-mutex"
            assert f"dirops/opposite-renames{shown}: {verdict}" in done.stdout.decode()
        unknown = subprocess.run(
            [sys.executable, "-m", "mc", "check", "nope/x"],
            stdout=subprocess.PIPE,
            timeout=120,
            check=False,
            cwd=tmp_path,
            **streams,
        )
        assert unknown.returncode == 2
    finally:
        os.close(write_end)
        if stderr == "full":
            streams["stderr"].close()


def test_a_model_file_that_closes_standard_output_is_named(tmp_path: Path) -> None:
    """A model file that closes standard output leaves vfsmc nowhere to
    print: that is the file's error, one line naming it, exit 2."""
    (tmp_path / "closes.py").write_text("import sys\nsys.stdout.close()\n")
    done = python_in(
        tmp_path, "-m", "mc", "check", "dirops/opposite-renames", "--models", "closes.py"
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == "vfsmc: error: closes.py: closes standard output, where vfsmc prints\n"


def test_a_removed_working_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    program = (
        f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
        "sys.argv = ['vfsmc', 'list']; from mc.cli.launch import run; run()"
    )
    done = python_in(tmp_path, "-c", program)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "vfsmc: error: the working directory was removed: cd to one that exists"
    ]


SURROGATE = """\
from mc.dsl import invariant, scenario
from mc.models.dirops import link, rename


@invariant("p-surr", "a message no UTF-8 encodes", reads=[])
def p_surr(model):
    return lambda state: "bad \\udcff name"


scenario("my/surr", "link vs rename \\ud800", tree=["/a/", "/c/", "/c/e"],
         threads=[link("/c/e", "/a/x"), rename("/c/e", "/a/y")])
"""


def test_a_lone_surrogate_of_a_model_is_escaped_in_output_and_files(tmp_path: Path) -> None:
    """A model's string made from bytes that are no UTF-8 (``os.fsdecode``)
    costs neither the verdict, the report nor the saved trace: printed and
    written, it is escaped, and the saved file replays (reproduces: exit 1)."""
    (tmp_path / "surr.py").write_text(SURROGATE)
    done = python_in(tmp_path, "-m", "mc", "check", "surr.py:my/surr", "-p", "p-surr", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["verdict"] == "VIOLATED" and "\\udcff" not in done.stderr
    (saved,) = (tmp_path / "counterexamples").glob("*.json")
    assert saved.with_suffix(".svg").exists()
    replayed = python_in(tmp_path, "-m", "mc", "replay", str(saved))
    assert replayed.returncode == 1 and "bad \\udcff name" in replayed.stdout, replayed


ENDS_THE_PROCESS = """
import os

from mc.dsl import Op, Scratch, operation, scenario


def end(scratch: Scratch) -> None:
    os._exit(0)


@operation(models="an effect that ends the process")
def ends(op: Op) -> None:
    op.effect("os._exit(0)", end)


scenario("own/ends", "one thread", tree=[], threads=[ends()], properties=["deadlock"])
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_model_s_os_exit_is_a_model_error_not_a_silent_exit_0(
    tmp_path: Path, workers: str
) -> None:
    """os._exit() skips every clean-up and would end vfsmc with the code it
    names and no verdict (exit 0 read as OK): in vfsmc's process it is
    refused, a model error at the model's line."""
    (tmp_path / "own.py").write_text(ENDS_THE_PROCESS)
    child = _child("check", "own.py:own/ends", "--no-save", "--workers", workers, cwd=tmp_path)
    _out, err = child.communicate(timeout=120)
    assert child.returncode == 2, err
    assert "own.py:8: in end: ProcessExitRefused: os._exit(0) would end vfsmc" in err, err
