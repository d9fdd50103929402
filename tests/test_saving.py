"""Results that are never lost: the verdict comes before any file, a file
that cannot be written is a warning, two updates at once both land, files
get the umask's permissions, and temporary files never stay behind."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result
from conftest import as_from_a_terminal

from mc import atomic_write
from mc.atomic_write import WriteError, sweep, write_atomically
from mc.check import baseline, expectations, recorded
from mc.check.checker import file_stem
from mc.trace import format as cx_format
from mc.trace import graph as render_graph

Run = Callable[..., Result]
SCENARIO, VARIANT = "dirops/opposite-renames", "no-rename-mutex"
STEM = file_stem(SCENARIO, [VARIANT])


def test_an_unwritable_out_directory_is_a_warning_after_the_verdict(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An --out that cannot be a directory is refused before the search;
    one that fails once the search is done (a full disk) costs the file,
    not the verdict."""
    (tmp_path / "blocker").write_text("a file, not a directory")
    refused = vfsmc("check", SCENARIO, "-V", VARIANT, "--out", "blocker/sub")
    assert refused.exit_code == 2 and "blocker is not a directory" in refused.output

    def full(*_args: object, **_kwargs: object) -> None:
        raise WriteError(errno.ENOSPC, "No space left on device", "out/x.json")

    monkeypatch.setattr(recorded, "save_recorded", full)
    result = vfsmc("check", SCENARIO, "-V", VARIANT, "--out", "out")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{SCENARIO} with {VARIANT}: VIOLATED"
    warnings = [line for line in lines if line.startswith("vfsmc: warning: not saved: ")]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    report = vfsmc("check", SCENARIO, "-V", VARIANT, "--out", "out", "--json")
    assert report.exit_code == 1
    printed = report.output[report.output.index("{") :]
    assert json.loads(printed)["counterexample"] is None


def test_output_closed_while_the_files_are_said_stops_the_saying_not_the_saving(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``vfsmc check ... | head``: standard output closes as check says
    the first file it saved; the charts are saved all the same, and the
    run ends 141 (only the counterexample was saved)."""
    echo = click.echo

    def closing(message: object = None, *args: Any, **kwargs: Any) -> None:
        if isinstance(message, str) and message.startswith("counterexample: "):
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
        echo(message, *args, **kwargs)

    monkeypatch.setattr(click, "echo", closing)
    result = vfsmc("check", SCENARIO, "-V", VARIANT, "--out", "out")
    assert result.exit_code == 141, result.output
    assert sorted(path.suffix for path in Path("out").iterdir()) == [".dot", ".json", ".svg"]


def test_no_chart_is_saved_without_its_counterexample(vfsmc: Run) -> None:
    """A counterexample's name taken by a directory: its charts are not
    saved either, so no chart is left without the file it draws."""
    Path(f"counterexamples/{STEM}.json").mkdir(parents=True)
    result = vfsmc("check", SCENARIO, "-V", VARIANT)
    assert result.exit_code == 1
    assert result.output.count("vfsmc: warning: not saved: ") == 1
    assert sorted(p.name for p in Path("counterexamples").iterdir()) == [f"{STEM}.json"]


def test_dot_missing_is_a_warning(vfsmc: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_graph.shutil, "which", lambda name: None)
    result = vfsmc("check", SCENARIO, "-V", VARIANT)
    assert result.exit_code == 1
    assert f"counterexample: counterexamples/{STEM}.json" in result.output
    assert "vfsmc: warning: not saved: counterexamples/" in result.output
    assert "'dot' program is not installed" in result.output


def test_a_chart_that_cannot_be_drawn_leaves_no_older_one_beside_the_new_counterexample(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SVG of an earlier run, of another version of the model, would
    draw a trace the JSON beside it no longer holds."""
    assert vfsmc("check", SCENARIO, "-V", VARIANT).exit_code == 1
    saved = Path("counterexamples")
    assert (saved / f"{STEM}.svg").exists()
    monkeypatch.setattr(render_graph.shutil, "which", lambda name: None)
    result = vfsmc("check", SCENARIO, "-V", VARIANT)
    assert result.exit_code == 1
    assert sorted(p.name for p in saved.iterdir()) == [f"{STEM}.dot", f"{STEM}.json"]


def test_a_dot_that_dies_is_one_line_never_a_killed_vfsmc(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text("#!/bin/sh\nexit 1\n")
    (fake / "dot").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mc", *args]
        return subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    checked = run("check", "writeback/write-vs-fsync", "-V", "no-wait-writeback")
    assert checked.returncode == 1, checked.stderr
    assert "VIOLATED" in checked.stdout and "vfsmc: warning: not saved:" in checked.stderr
    saved = tmp_path / "counterexamples" / "writeback-write-vs-fsync--no-wait-writeback.json"
    data = json.loads(saved.read_text())
    data["steps"] = data["steps"] * (render_graph.LAID_OUT_AT_MOST // len(data["steps"]))
    (tmp_path / "long.json").write_text(json.dumps(data))
    source = render_graph.to_dot(cx_format.load(tmp_path / "long.json"))
    assert len(source) > 8 * 65536  # far more than a pipe holds
    drawn = run("graph", "long.json", "-o", "long.svg")
    assert drawn.returncode == 2
    warning, error = drawn.stderr.splitlines()
    assert warning.startswith("vfsmc: warning: long.json: this trace does not replay on today's")
    assert error.startswith("vfsmc: error: long.svg: dot failed")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_drawing_leaves_no_older_chart_beside_the_new_trace(
    tmp_path: Path, signum: int
) -> None:
    """Ctrl-C or SIGTERM while dot draws the chart of a new trace: the
    charts of an earlier run of that name, which draw another trace, are
    removed with the one being drawn; the new trace stays."""
    fake = tmp_path / "bin"
    fake.mkdir()
    drawing = tmp_path / "dot-started"
    (fake / "dot").write_text(f"#!/bin/sh\ntouch '{drawing}'\nexec sleep 60\n")
    (fake / "dot").chmod(0o755)
    saved = tmp_path / "counterexamples"
    saved.mkdir()
    for suffix in ("dot", "svg"):
        (saved / f"{STEM}.{suffix}").write_text("an earlier run's chart\n")
    child = subprocess.Popen(
        [sys.executable, "-m", "mc", "check", SCENARIO, "-V", VARIANT],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    trace = saved / f"{STEM}.json"
    for _ in range(1200):  # until dot runs: the .dot written, the .svg being drawn
        if drawing.exists():
            break
        time.sleep(0.05)
    assert drawing.exists(), "dot was never run"
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    assert child.returncode == (130 if signum == signal.SIGINT else 143), (out, err)
    assert json.loads(trace.read_text())["variants"] == [VARIANT]
    assert "digraph" in (saved / f"{STEM}.dot").read_text()
    assert not (saved / f"{STEM}.svg").exists()


def test_a_dot_that_writes_nothing_draws_no_empty_chart(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text("#!/bin/sh\ncat >/dev/null\nexit 0\n")
    (fake / "dot").chmod(0o755)
    shipped = Path(__file__).resolve().parent.parent / "counterexamples" / f"{STEM}.json"
    drawn = subprocess.run(
        [sys.executable, "-m", "mc", "graph", str(shipped), "-o", "chart.svg"],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert drawn.returncode == 2, drawn.stderr
    assert drawn.stderr.strip() == "vfsmc: error: chart.svg: dot failed: it wrote nothing"
    assert not (tmp_path / "chart.svg").exists()


def test_a_label_longer_than_dot_accepts_is_cut(vfsmc: Run, tmp_path: Path) -> None:
    vfsmc("check", SCENARIO, "-V", VARIANT)
    data = json.loads((tmp_path / "counterexamples" / f"{STEM}.json").read_text())
    data["steps"][0]["label"] = "x" * 20000
    (tmp_path / "huge.json").write_text(json.dumps(data))
    result = vfsmc("graph", "huge.json", "-o", "huge.svg")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "huge.svg").read_text().lstrip().startswith("<?xml")


def test_mutate_and_check_share_one_naming_rule(vfsmc: Run) -> None:
    result = vfsmc("mutate", "dirops/rename-rmdir-link", "--json", "--no-progress")
    assert result.exit_code == 0
    report = json.loads(result.output)
    saved = {m["name"]: m["counterexample"] for m in report["mutations"] if m["counterexample"]}
    assert len(saved) > 3 and len(set(saved.values())) == len(saved)
    name, path = next(iter(saved.items()))
    assert Path(path).name == f"{file_stem('dirops/rename-rmdir-link', [name])}.json"
    checked = vfsmc("check", "dirops/rename-rmdir-link", "-V", name, "--out", "by-hand", "--json")
    assert Path(json.loads(checked.output)["counterexample"]).name == Path(path).name


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask) and None
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_respect_the_umask_and_keep_their_mode(
    tmp_path: Path, umask: Callable[[int], None]
) -> None:
    umask(0o027)
    write_atomically(tmp_path / "new.json", "{}")
    assert _mode(tmp_path / "new.json") == 0o640
    umask(0o022)
    write_atomically(tmp_path / "new.json", "{}")
    assert _mode(tmp_path / "new.json") == 0o640, "a replaced file keeps its mode"
    write_atomically(tmp_path / "other.json", "{}")
    assert _mode(tmp_path / "other.json") == 0o644


def test_a_file_the_process_may_not_write_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only file (for root, os.access says writable, as open()
    finds it) is refused as open() would refuse it, and stays as it was."""
    kept = tmp_path / "old.svg"
    kept.write_text("old")
    kept.chmod(0o444)
    writable = os.access

    def as_a_user(path: object, mode: int) -> bool:
        return not (Path(str(path)) == kept and mode == os.W_OK) and writable(path, mode)

    monkeypatch.setattr(atomic_write.os, "access", as_a_user)
    with pytest.raises(WriteError, match=r"cannot write .*old\.svg: Permission denied"):
        write_atomically(kept, "new")
    assert kept.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["old.svg"]


def test_sigterm_while_writing_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")

    def terminated(fd: int) -> None:
        raise SystemExit(143)  # what the SIGTERM handler of mc.cli.launch raises

    monkeypatch.setattr(atomic_write.os, "fsync", terminated)
    with pytest.raises(SystemExit):
        write_atomically(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_leftovers_of_killed_processes_are_swept_on_the_next_save(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f".x.json.{gone.pid}.abcd1234"
    alive = tmp_path / f".x.json.{os.getppid()}.abcd1234"
    other = tmp_path / f".x.json.5.{gone.pid}.abcd1234"  # a file named x.json.5
    for leftover in (dead, alive, other):
        leftover.write_text("half")
    write_atomically(tmp_path / "x.json", "{}")
    assert not dead.exists() and alive.exists() and other.exists()
    assert sweep(tmp_path / "x.json") == []


ROWS = "".join(
    f'[[expect]]\nscenario = "s/{name}"\nverdict = "OK"\nstates = 1\n\n' for name in "ab"
)


def _update_many(path: str, name: str, rounds: int) -> None:
    for count in range(2, rounds + 2):
        baseline.rewrite_states(Path(path), {(f"s/{name}", (), "OK", None, None, ()): count})


def test_two_updates_at_once_both_land(tmp_path: Path) -> None:
    path = tmp_path / "expectations.toml"
    path.write_text(ROWS)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_update_many, args=(str(path), name, 40)) for name in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    states = {row.scenario: row.states for row in expectations.load(path)}
    assert states == {"s/a": 41, "s/b": 41}


def test_a_failing_chart_writer_never_costs_the_json_verdict(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> str:
        raise RuntimeError("chart bug")

    monkeypatch.setattr(render_graph, "to_dot", broken)
    result = vfsmc("check", SCENARIO, "-V", VARIANT, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["verdict"] == "VIOLATED" and report["counterexample"].endswith(".json")
    assert report["graph"] is None
    assert "not saved: counterexamples/" in result.stderr and "RuntimeError: chart bug" in (
        result.stderr
    )


def test_a_narrowed_run_s_file_says_how_it_was_narrowed(vfsmc: Run) -> None:
    """Named properties read ``--only-...``; properties left out read
    ``--without-...``, not the long list of those kept; both end in a
    hash of the exact names, so neither replaces the default run's file."""
    left_out = vfsmc("check", SCENARIO, "-V", VARIANT, "--no-property", "namespace", "--json")
    named = vfsmc("check", SCENARIO, "-V", VARIANT, "-p", "deadlock", "--json")
    assert left_out.exit_code == named.exit_code == 1
    without = Path(json.loads(left_out.output)["counterexample"]).name
    only = Path(json.loads(named.output)["counterexample"]).name
    assert re.fullmatch(rf"{STEM}--without-namespace~[0-9a-f]{{12}}\.json", without), without
    assert re.fullmatch(rf"{STEM}--only-deadlock~[0-9a-f]{{12}}\.json", only), only
    assert file_stem(SCENARIO, [VARIANT], None, ["namespace"]) == without.removesuffix(".json")
    idle = vfsmc("check", SCENARIO, "-V", VARIANT, "--no-property", "no-lost-write", "--json")
    assert "no-lost-write: not among the properties checked" in idle.stderr
    assert Path(json.loads(idle.stdout)["counterexample"]).name == f"{STEM}.json"


def test_a_long_name_is_cut_and_hashed_to_fit_a_file_name() -> None:
    """A file name has at most 255 bytes; a mutant's name, made of a
    step's label, can be longer."""
    long = "mutant:drop@rename:" + "x" * 300
    stem = file_stem(SCENARIO, [long])
    assert len(f"{stem}.json".encode()) < 255
    assert stem != file_stem(SCENARIO, [long + "y"])
    assert file_stem(SCENARIO, [VARIANT]) == "dirops-opposite-renames--no-rename-mutex"
    accented = "my/ünï-" + "é" * 95
    for name in (accented, "my/" + "界" * 97):
        stem = file_stem(name, [])
        assert len(f"{stem}.svg".encode()) < 255, stem
        assert stem != file_stem(name + "é", [])


def test_a_file_written_through_a_symbolic_link_is_the_link_s_target(tmp_path: Path) -> None:
    """As ``open()`` writes: the link stays a link, and its target gets the
    data (a dangling link's target is made)."""
    (tmp_path / "target.svg").write_text("old")
    (tmp_path / "via.svg").symlink_to("target.svg")
    write_atomically(tmp_path / "via.svg", "new")
    assert (tmp_path / "via.svg").is_symlink()
    assert (tmp_path / "target.svg").read_text() == "new"
    (tmp_path / "dangling.svg").symlink_to("made.svg")
    write_atomically(tmp_path / "dangling.svg", "made")
    assert (tmp_path / "made.svg").read_text() == "made"
    assert (tmp_path / "dangling.svg").is_symlink()
    (tmp_path / "astray.svg").symlink_to(tmp_path / "nowhere" / "x.svg")
    with pytest.raises(WriteError, match="in a directory that does not exist"):
        write_atomically(tmp_path / "astray.svg", "x")
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "loop1.svg").symlink_to("loop2.svg")
    (tmp_path / "loop2.svg").symlink_to("loop1.svg")
    with pytest.raises(WriteError, match="Too many levels of symbolic links"):
        write_atomically(tmp_path / "loop1.svg", "x")
    assert (tmp_path / "loop1.svg").is_symlink() and (tmp_path / "loop2.svg").is_symlink()


def test_a_fifo_is_written_into_never_replaced(tmp_path: Path) -> None:
    """A FIFO a viewer reads (or a device, ``-o /dev/stdout``): the data
    goes into it and it stays what it was; a write it refuses (its reader
    went away) is a ``WriteError``."""
    fifo = tmp_path / "chart.svg"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomically(fifo, "<svg/>")
    reader.join(timeout=10)
    assert read == [b"<svg/>"]

    def read_one_byte() -> None:
        with open(fifo, "rb") as out:
            read.append(out.read(1))

    reader = threading.Thread(target=read_one_byte, daemon=True)
    reader.start()
    with pytest.raises(atomic_write.WriteError, match=f"cannot write {fifo}"):
        write_atomically(fifo, b"x" * (1 << 22))
    reader.join(timeout=10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert list(tmp_path.iterdir()) == [fifo]


def test_a_descriptor_of_this_process_is_written_as_it_was_opened(tmp_path: Path) -> None:
    """``-o /dev/stdout`` under ``>> file``: the data is appended where the
    descriptor points, the file is not replaced; a pipe gets it too."""
    log = tmp_path / "log.html"
    log.write_text("PRIOR\n")
    inode = log.stat().st_ino
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        (tmp_path / "out.html").symlink_to(f"/dev/fd/{descriptor}")
        assert atomic_write.stream_of(tmp_path / "out.html") == descriptor
        write_atomically(tmp_path / "out.html", "<html/>")
        write_atomically(Path(f"/proc/self/fd/{descriptor}"), "\n")
    finally:
        os.close(descriptor)
    assert log.read_text() == "PRIOR\n<html/>\n"
    assert log.stat().st_ino == inode
    reading, writing = os.pipe()
    try:
        write_atomically(Path(f"/proc/{os.getpid()}/fd/{writing}"), "<svg/>")
        assert os.read(reading, 100) == b"<svg/>"
    finally:
        os.close(reading)
        os.close(writing)
    assert atomic_write.stream_of(Path("/proc/1/fd/1")) is None
    assert atomic_write.stream_of(tmp_path / "log.html") is None


SAVED_TO_FU = ("-V", "no-rename-mutex", "--out", "fu")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_standard_output_still_saves_the_counterexample(tmp_path: Path) -> None:
    """Standard output on a full disk: the counterexample is saved anyway,
    and the error is one line, exit 2 (no 'Exception ignored' at exit)."""
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "mc", "check", "dirops/opposite-renames", *SAVED_TO_FU],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr == "vfsmc: error: cannot write standard output: No space left on device\n"
    assert (tmp_path / "fu" / "dirops-opposite-renames--no-rename-mutex.json").is_file()


def test_a_file_name_keeps_letters_of_any_script_and_never_starts_with_a_dash() -> None:
    """A name that starts with ``-`` would be read as an option by the
    commands given it (``vfsmc replay -n...json``)."""
    stem = file_stem("ünï/cødé", ["ünï\u2013cødé variant"])
    assert not stem.startswith(("-", ".")) and "ünï" in stem and "cødé" in stem
    assert file_stem("-x/y", []).startswith("x-y~")
    assert file_stem("ünï/cødé", ["a"]) != file_stem("ünï/cødé", ["b"])


def test_a_file_in_a_directory_that_takes_no_new_file_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file is written through a new one beside it: where none can be
    made (/proc), the error says so rather than "No such file or
    directory" of a file that exists."""
    target = tmp_path / "existing.json"
    target.write_text("{}")

    def refused(*_args: object, **_kwargs: object) -> None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))

    monkeypatch.setattr(atomic_write.tempfile, "mkstemp", refused)
    with pytest.raises(WriteError) as raised:
        write_atomically(target, "[]")
    assert str(raised.value) == (
        f"cannot write {target}: no file can be made in {tmp_path} to write it through "
        "(No such file or directory)"
    )
    assert target.read_text() == "{}"
