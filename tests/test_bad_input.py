"""Malformed counterexamples, specs and expectations, unmeetable bounds and
untrusted text: one line naming the file and the field, exit 2, never a
traceback; bounds that end a search as INCOMPLETE with statistics."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import ABBA, python_in

from mc import atomic_write
from mc.check import checkable
from mc.cli import options
from mc.dsl.kernel_model import KernelModel
from mc.engine import explore
from mc.engine.explore import Options, default_memory_limit
from mc.spec.document import parse
from mc.text import printable
from mc.trace import graph
from mc.trace.graph import LAID_OUT_AT_MOST

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
EXCERPT = str(ROOT / "tests" / "fixtures" / "locking-excerpt.rst")
SHIPPED = ROOT / "counterexamples" / "dirops-opposite-renames--no-rename-mutex.json"


def one_line(result: Result, *fragments: str, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("vfsmc: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _base() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SHIPPED.read_text())
    return data


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_set("cycle", None), "field 'cycle' must be list"),
        (_set("threads", []), "field 'threads' must name at least one thread"),
        (_set("steps.0.branch", -1), "steps[0]: field 'branch' must be at least 0"),
        (_set("steps.0.branch", True), "steps[0]: field 'branch' must be int"),
        (_set("version", True), "field 'version': unsupported version True"),
        (_set("steps.0.thread", "T9"), "steps[0]: field 'thread' names no thread of field "),
        (_set("steps.0.thread", "T9"), "'threads': 'T9' is none of T1, T2"),
        (_set("property", "nosuch"), "field 'property': 'nosuch' is not among"),
        (_set("extra", 1), "unknown field 'extra'"),
        (_set("steps.0.event.kind", "teleport"), "steps[0].event: field 'kind' must be one of"),
        (_set("steps.0.event.lock", 3), "steps[0].event: field 'lock' must be a string or null"),
        (_set("witness", {"size": "big"}), "witness: field 'size' must be an integer"),
        (
            _set("cycle.0.holder", "T7"),
            "cycle[0]: field 'waiter' must name a thread, and 'holder' a thread or",
        ),
        (_set("cycle.0.queued", "yes"), "cycle[0]: field 'queued' must be bool"),
        (_set("steps.1.thread", "T2"), "steps[1]: a chained step runs in the thread of the step"),
        (_set("steps.2.branch", 3), "steps[2]: branch 3, but a chained step (run along with"),
        (_set("addresses", "junk"), "field 'addresses' must be chains of distinct paths in"),
        (_set("addresses", "/a < /a"), "field 'addresses' must be chains of distinct paths in"),
        (_set("addresses", "/a < /b; /c"), "field 'addresses' must be chains of distinct paths"),
        (_set("steps.3.label", "a\x00b"), "steps[3].label: a NUL character is no text"),
        (_set("message", "\ud800"), "counterexample.message: an unpaired surrogate is no text"),
        (_set("steps.0.changed", {"x\x00": "1"}), "a field name: a NUL character is no text"),
        (
            _set("properties", ["deadlock", "namespace", "deadlock"]),
            "field 'properties' names 'deadlock' twice",
        ),
        (
            _set("properties", ["deadlock", "no-lost-write"]),
            "field 'properties': no-lost-write needs a block device; dirops/opposite-renames has",
        ),
    ],
)
def test_a_malformed_counterexample_names_the_file_and_the_field(
    vfsmc: Run, tmp_path: Path, change: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    data = copy.deepcopy(_base())
    change(data)
    (tmp_path / "bad.json").write_text(json.dumps(data))
    for command in ("replay", "graph"):
        args = ["bad.json"] if command == "replay" else ["bad.json", "-o", "x.svg"]
        one_line(vfsmc(command, *args), "bad.json: ", fragment)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            _set("threads.0.operation", "unlink(/zzz)"),
            "its thread T1 runs unlink(/zzz), but dirops/opposite-renames's T1 runs rename(",
        ),
        (
            _set("scenario", "dirops/rename-rmdir-link"),
            "its thread T1 runs rename(/a/x -> /b/y), but dirops/rename-rmdir-link's T1 runs",
        ),
    ],
)
def test_a_counterexample_of_other_threads_than_its_scenario_s_is_an_error(
    vfsmc: Run, tmp_path: Path, change: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    """Not a replay that fails (exit 0, as a fix would): the file does not
    record the scenario it names."""
    data = copy.deepcopy(_base())
    change(data)
    (tmp_path / "other.json").write_text(json.dumps(data))
    one_line(vfsmc("replay", "other.json"), "other.json: ", fragment)
    one_line(vfsmc("graph", "other.json", "-o", "x.svg"), "other.json: ", fragment)
    one_line(vfsmc("report", "other.json", "-o", "x.html"), "other.json: ", fragment)


def test_unreadable_counterexamples(vfsmc: Run, tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    one_line(vfsmc("replay", "deep.json"), "deep.json: not a counterexample (nested too deeply)")
    (tmp_path / "latin1.json").write_bytes(b'{"format": "caf\xe9"}')
    one_line(vfsmc("replay", "latin1.json"), "latin1.json: not UTF-8 text (byte 15)")
    (tmp_path / "long.json").write_text('{"version": ' + "1" * 5000 + "}")
    one_line(vfsmc("replay", "long.json"), "long.json: not JSON (Exceeds the limit")


@pytest.mark.parametrize(
    "command", [("replay",), ("graph", "-o", "out.svg"), ("report", "-o", "out.html")]
)
def test_a_file_no_counterexample_can_be_is_not_read(
    vfsmc: Run, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A FIFO would hang the read, a device or a file of 30 GB exhaust
    memory: neither is read."""
    name, *output = command
    os.mkfifo(tmp_path / "fifo.json")
    one_line(vfsmc(name, "fifo.json", *output), "fifo.json: not a counterexample file (not a")
    one_line(vfsmc(name, "/dev/zero", *output), "/dev/zero: not a counterexample file (not a")
    with (tmp_path / "huge.json").open("wb") as sparse:
        sparse.truncate(30 << 30)
    one_line(
        vfsmc(name, "huge.json", *output),
        "huge.json: not a counterexample file (32,212,254,720 bytes; a counterexample file is",
    )
    one_line(vfsmc(name, "", *output), "an empty path names no counterexample file")


@pytest.mark.parametrize(
    "args",
    [
        ("spec", "lint", "{bad}"),
        ("spec", "check", "{bad}"),
        ("spec", "diff", "{bad}", str(ROOT / "specs" / "locking.toml")),
        ("spec", "import", "{bad}"),
        ("spec", "import", EXCERPT, "--vocabulary", "{bad}"),
    ],
    ids=lambda args: " ".join(a for a in args if "/" not in a),
)
@pytest.mark.parametrize("bad", ["/dev/zero", "fifo"])
def test_a_spec_or_rules_file_that_is_no_file_is_not_read(
    vfsmc: Run, tmp_path: Path, args: tuple[str, ...], bad: str
) -> None:
    """/dev/zero would exhaust memory and a FIFO nobody writes to hang the
    read: neither is read, whichever file of a command it is."""
    if bad == "fifo":
        os.mkfifo(tmp_path / "fifo")
    result = vfsmc(*(arg.format(bad=bad) for arg in args))
    one_line(result, f"{bad}: not a", "(not a regular file)")


def test_replay_of_a_user_scenario_without_its_model_says_to_pass_it(
    vfsmc: Run, tmp_path: Path
) -> None:
    data = _base()
    data["scenario"] = "mine/not-shipped"
    (tmp_path / "mine.json").write_text(json.dumps(data))
    one_line(
        vfsmc("replay", "mine.json"),
        "mine.json: unknown scenario 'mine/not-shipped'",
        "pass the file with --models FILE",
    )
    data = _base()
    data["variants"] = ["nosuch"]
    (tmp_path / "variant.json").write_text(json.dumps(data))
    one_line(vfsmc("replay", "variant.json"), "variant.json: unknown variant 'nosuch'")


def test_control_characters_from_a_file_are_escaped(vfsmc: Run, tmp_path: Path) -> None:
    data = _base()
    data["message"] = "owned\x1b]0;title\x07"
    data["steps"][0]["label"] = "\x1b[31mred\x1b[0m\nsecond line"
    (tmp_path / "ctrl.json").write_text(json.dumps(data))
    edited = vfsmc("replay", "ctrl.json")
    assert edited.exit_code == 2 and "\x1b" not in edited.output
    assert "\\x1b[31mred\\x1b[0m\\nsecond line" in edited.output
    del data["digest"]
    (tmp_path / "ctrl.json").write_text(json.dumps(data))
    result = vfsmc("replay", "ctrl.json")
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "owned\\x1b]0;title\\x07" in result.output
    assert "\\x1b[31mred\\x1b[0m\\nsecond line" in result.output
    assert printable("a\u202eb\tc") == "a\\u202eb\\tc"
    assert printable("plain (text) -> ok") == "plain (text) -> ok"


def test_graph_into_a_path_below_a_file_names_it(vfsmc: Run, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("a file")
    (tmp_path / "cx.json").write_text(SHIPPED.read_text())
    one_line(vfsmc("graph", "cx.json", "-o", "README.md/x.svg"), "README.md is not a directory")


def _document(columns: int, cells: int) -> str:
    heads = "\n\n".join(f"c{i}" for i in range(columns))
    values = "\n\n".join("yes" for _ in range(cells))
    return (
        "T\n\nt_operations\n\nprototypes:\n\nint (*m)(void);\n\nlocking rules:\n\n"
        f"ops\n\n{heads}\n\nm:\n\n{values}\n"
    )


def test_cell_placement_is_polynomial(vfsmc: Run, tmp_path: Path) -> None:
    text = _document(40, 20)
    assert len(text.encode()) < 400
    (tmp_path / "wide.txt").write_text(text)
    result = vfsmc("spec", "lint", "wide.txt", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert any("cannot tell which columns" in f["message"] for f in report["dubious"])


def test_malformed_tables_are_findings_not_crashes() -> None:
    no_columns = (
        "T\n\nt_operations\n\nprototypes:\n\nint (*m)(void);\n\nlocking rules:\n\n"
        "ops\n\nm:\n\nyes (ref-walk)\n"
    )
    messages = [f.message for f in parse(no_columns, "doc").findings]
    assert "table without columns after 'ops'" in messages
    assert "1 cells in a table without columns" in messages
    rst = (
        "T\n=\n\nt_operations\n============\n\nprototypes::\n\n\tint (*m)(void);\n\n"
        "locking rules:\n\n===== =====\n===== =====\nm:    yes\n===== =====\n"
    )
    document = parse(rst, "doc")
    assert any("cells in a table without column names" in f.message for f in document.findings)


def test_a_renamed_column_with_a_recorded_placement_is_a_finding(
    vfsmc: Run, tmp_path: Path
) -> None:
    text = Path("/work/shared/locking.txt")
    source = text.read_text() if text.exists() else None
    if source is None:
        pytest.skip("the flattened locking.rst is not on this machine")
    lines = source.splitlines()
    index = next(
        i
        for i in range(len(lines))
        if lines[i].strip() == "invalidate_lock"
        and any(line.strip() == "ops" for line in lines[max(0, i - 8) : i])
    )
    lines[index] = "invalidation_lock"
    (tmp_path / "renamed.txt").write_text("\n".join(lines))
    result = vfsmc("spec", "lint", "renamed.txt")
    assert result.exit_code == 1
    assert "names column 'invalidate_lock', which the table does not have" in result.output


def test_deep_toml_nesting(vfsmc: Run, tmp_path: Path) -> None:
    nested = "a = " + "[" * 3000 + "]" * 3000 + "\n"
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "locking.toml").write_text(nested)
    one_line(vfsmc("spec", "show", "--specs", "specs"), "locking.toml: not TOML vfsmc can read")
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "m.py").write_text('"""Nothing."""\n')
    (tmp_path / "suite" / "expectations.toml").write_text(nested)
    one_line(vfsmc("regress", "--models", "suite"), "expectations.toml: not TOML vfsmc can read")


def test_bounds_that_are_usage_errors(vfsmc: Run) -> None:
    for value in ("nan", "inf", "-1", "0", "soon"):
        one_line(
            vfsmc("check", "dirops/opposite-renames", "--time-limit", value),
            "Invalid value for '--time-limit'",
        )
    one_line(
        vfsmc("check", "dirops/opposite-renames", "--max-memory", "lots"),
        "Invalid value for '--max-memory'",
    )
    with pytest.raises(ValueError, match="positive number"):
        Options(time_limit=float("nan"))


def test_two_searches_at_once_is_a_usage_error_and_a_name_given_twice_counts_once(
    vfsmc: Run,
) -> None:
    for order in (("--bfs", "--dfs"), ("--dfs", "--bfs")):
        one_line(vfsmc("check", "dirops/opposite-renames", *order), "--bfs and --dfs")
    for order in (("--por", "--no-por"), ("--no-por", "--por")):
        one_line(vfsmc("check", "dirops/opposite-renames", *order), "--por and --no-por")
    one_line(vfsmc("ops", "--json", "--markdown"), "--json and --markdown")
    twice = vfsmc(
        "check",
        "dirops/opposite-renames",
        *("-V", "no-rename-mutex", "-V", "no-rename-mutex"),
        *("-p", "deadlock", "-p", "deadlock"),
        "--json",
    )
    data = json.loads(twice.stdout)
    assert "given more than once: taken once" in twice.output
    assert data["variants"] == ["no-rename-mutex"] and data["properties"] == ["deadlock"]
    assert Path(data["counterexample"]).name.startswith(
        "dirops-opposite-renames--no-rename-mutex--only-deadlock~"
    )


def test_a_memory_limit_below_what_vfsmc_holds_at_the_start_is_a_usage_error(vfsmc: Run) -> None:
    """A limit the search would reach before its first state cannot be
    met: one line naming what vfsmc holds, exit 2."""
    for value in ("1K", "1M"):
        one_line(
            vfsmc("check", "dirops/opposite-renames", "--max-memory", value),
            "Invalid value for '--max-memory'",
            "MiB vfsmc holds before it explores anything",
        )


def test_a_memory_limit_under_what_the_search_starts_with_is_bad_input(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the check of the option (what vfsmc holds as it reads it), the
    model built: a limit under what vfsmc holds as the search begins can
    never be met, and says so (exit 2), not INCOMPLETE."""
    monkeypatch.setattr(options, "resident_bytes", lambda: 0)
    one_line(
        vfsmc("check", "dirops/opposite-renames", "--max-memory", "1M"),
        "memory limit 1 MiB is under the ",
        "MiB vfsmc held as the search began: no search fits in it",
    )
    limit = default_memory_limit()
    assert limit is None or limit > 0


def test_the_memory_held_as_the_search_begins_counts_what_the_first_steps_load(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symbolic scenario loads z3 with its first step: measured before,
    a limit between the two sizes gave INCOMPLETE (exit 3) after one
    state; it is bad input (exit 2), as in a scenario without z3."""
    probed: list[bool] = []
    probe = explore.probe_determinism

    def probing(model: Any, deadline: float | None = None) -> None:
        probe(model, deadline=deadline)
        probed.append(True)

    monkeypatch.setattr(options, "resident_bytes", lambda: 0)
    monkeypatch.setattr(explore, "probe_determinism", probing)
    monkeypatch.setattr(explore, "resident_bytes", lambda: (64 if probed else 8) << 20)
    one_line(
        vfsmc("check", "truncate/punch-vs-fault", "--max-memory", "32M"),
        "memory limit 32 MiB is under the 64 MiB vfsmc held as the search began",
    )


def test_a_memory_limit_is_said_as_given_not_rounded_to_a_mebibyte() -> None:
    """--max-memory 39.2M is said as 39.2 MiB, not as 39 MiB, which the
    peak reported beside it could exceed."""
    said = str(explore.MemoryLimitTooLow(int(39.2 * 2**20), 64 << 20))
    assert said.startswith("memory limit 39.2 MiB is under the 64 MiB"), said
    assert str(explore.MemoryLimitTooLow(32 << 20, 64 << 20)).startswith("memory limit 32 MiB ")


def test_running_out_of_memory_is_incomplete(vfsmc: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    original = KernelModel.successors_of
    calls = [0]

    def successors_of(self: KernelModel, state: tuple[object, ...], actor: Hashable) -> object:
        calls[0] += 1
        if calls[0] == 10:
            raise MemoryError
        return original(self, state, actor)

    monkeypatch.setattr(KernelModel, "successors_of", successors_of)
    result = vfsmc("check", "dirops/rename-rmdir-link", "--json")
    assert result.exit_code == 3
    assert json.loads(result.output)["incomplete_reason"] == "out of memory"


@pytest.fixture
def slow_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A clock that moves one second each time the search looks at it."""
    now = [0.0]

    def tick() -> float:
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(explore.time, "perf_counter", tick)
    yield


@pytest.mark.parametrize("strategy", ["--bfs", "--dfs"])
def test_the_time_limit_is_checked_on_the_clock(
    vfsmc: Run, slow_clock: None, strategy: str
) -> None:
    result = vfsmc(
        "check", "writeback/two-writers-flusher", strategy, "--time-limit", "5", "--json"
    )
    assert result.exit_code == 3
    report = json.loads(result.output)
    assert report["incomplete_reason"] == "time limit 5 s reached"
    assert report["states"] < 50, "stopped within a few states, not after 1024"


def test_a_time_limit_shorter_than_the_clock_s_period_holds(vfsmc: Run) -> None:
    """The bounds are looked at every 50 ms, and at the time limit when it
    comes sooner: a search of seconds given a millisecond stops."""
    result = vfsmc("check", "writeback/two-writers-flusher", "--time-limit", "0.001", "--json")
    assert result.exit_code == 3, result.output
    assert json.loads(result.output)["incomplete_reason"] == "time limit 0.001 s reached"


def test_a_transform_that_never_returns_is_stopped_by_the_time_limit(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the search, the notes on a user's variant build the scenario
    under it: within the time limit too, and the first build that runs
    out of it ends the check (the transform runs once, not again for the
    check after the bound of a build without a limit)."""
    monkeypatch.setattr(checkable, "LEAST_BUILD_SECONDS", 0.2)
    monkeypatch.setattr(checkable, "BUILD_SECONDS", 1.0)
    (tmp_path / "spin.py").write_text(
        "from pathlib import Path\n"
        "from mc.dsl import variant\n\n"
        "@variant('spin', 'a transform that loops')\n"
        "def spin(program, invocation):\n"
        "    with Path('started').open('a') as started:\n"
        "        started.write('spin\\n')\n"
        "    while True:\n"
        "        pass\n"
    )
    one_line(
        vfsmc(
            "check",
            "quota/alloc-vs-chown",
            "--models",
            "spin.py",
            "-V",
            "spin",
            "--time-limit",
            "0.1",
        ),
        "building the model of quota/alloc-vs-chown took longer than 0.2 s",
    )
    assert (tmp_path / "started").read_text() == "spin\n"


SPINNING_TRANSFORM = (
    "from mc.dsl import variant\n\n"
    "@variant('spin', 'a transform that loops')\n"
    "def spin(program, invocation):\n"
    "    while True:\n"
    "        pass\n"
)


def test_a_trace_whose_variant_never_returns_is_one_line_for_every_reader(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace of a user's variant whose transform never returns: replay
    and lockorder end with the build's error, report and graph draw the
    steps as recorded, show and list (which ask what the variant changes)
    end with the transform's error; none waits for ever.  The scenario is
    built once first, so that the second is not spent on what a first
    build in the process pays (imports, the shipped registry); a shipped
    scenario builds in a tenth of it on a quiet machine (``list`` builds
    them all, also while other tests load the machine)."""
    assert vfsmc("show", "dirops/opposite-renames").exit_code == 0
    monkeypatch.setattr(checkable, "BUILD_SECONDS", 1.0)
    (tmp_path / "spin.py").write_text(SPINNING_TRANSFORM)
    trace = _base()
    trace["variants"] = ["spin"]
    (tmp_path / "cx.json").write_text(json.dumps(trace))
    models = ("--models", "spin.py")
    too_long = "building the model of dirops/opposite-renames took longer than 1 s"
    one_line(vfsmc("replay", "cx.json", *models), too_long, "spin.py:5")
    one_line(vfsmc("lockorder", *models, "-V", "spin"), "took longer than 1 s", "spin.py:5")
    for listing in (("show", "dirops/opposite-renames"), ("list",)):
        applying = "applying variant spin to "
        one_line(vfsmc(*listing, *models), applying, "took longer than 1 s", "spin.py:5")
    for command, output in (("report", "cx.html"), ("graph", "cx.dot")):
        drawn = vfsmc(command, "cx.json", *models, "-o", output)
        assert drawn.exit_code == 0, drawn.output
        assert too_long in drawn.output
        assert (tmp_path / output).stat().st_size > 0


def test_an_output_file_in_a_directory_that_does_not_exist_is_refused(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A typo in -o's directory is one line, not a new tree of directories."""
    shipped = Path(__file__).resolve().parent.parent / "counterexamples"
    trace = str(shipped / "dirops-opposite-renames--no-rename-mutex.json")
    missing = tmp_path / "no" / "such"
    for command in (("graph", trace), ("report", trace)):
        suffix = ".png" if command[0] == "graph" else ".html"
        one_line(vfsmc(*command, "-o", str(missing / f"x{suffix}")), "does not exist")
    assert not (tmp_path / "no").exists()


def test_a_body_that_never_returns_in_a_user_scenario_is_stopped(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a file builds its scenarios (to widen their properties):
    that build is bounded too, for check and show alike."""
    monkeypatch.setattr(checkable, "BUILD_SECONDS", 0.2)
    (tmp_path / "loop.py").write_text(
        "from mc.dsl import operation, scenario\n\n"
        "@operation(models='a body that never returns')\n"
        "def spin(op):\n"
        "    while True:\n"
        "        pass\n\n"
        "scenario('my/loop', 'a body that never returns', tree=['/a/'], threads=[spin()])\n"
    )
    target = f"{tmp_path / 'loop.py'}:my/loop"
    for command in (("check", target, "--no-save"), ("show", target)):
        one_line(vfsmc(*command), "building the model of my/loop took longer than 0.2 s")


def test_the_build_loading_a_user_scenario_makes_keeps_to_the_time_limit(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check --time-limit`` bounds the build that loading the file makes
    as it bounds the scenario's own (it got the 30 s of a build without a
    limit)."""
    monkeypatch.setattr(checkable, "LEAST_BUILD_SECONDS", 0.2)
    (tmp_path / "loop2.py").write_text(
        "from mc.dsl import operation, scenario\n\n"
        "@operation(models='a body that never returns')\n"
        "def spin(op):\n"
        "    while True:\n"
        "        pass\n\n"
        "scenario('my/loop2', 'a body that never returns', tree=['/a/'], threads=[spin()])\n"
    )
    one_line(
        vfsmc("check", f"{tmp_path / 'loop2.py'}:my/loop2", "--no-save", "--time-limit", "0.1"),
        "building the model of my/loop2 took longer than 0.2 s (the time limit",
    )


FINE_AND_LOOPING = (
    "from mc.dsl import operation, scenario\n"
    "from mc.models.dirops import link\n\n"
    "@operation(models='a body that never returns')\n"
    "def spin(op):\n"
    "    while True:\n"
    "        pass\n\n"
    "scenario('my/fine', 'a link', tree=['/a/', '/c', '/b/'], threads=[link('/c', '/b/f')])\n"
    "scenario('{loop}', 'a body that never returns', tree=['/a/'], threads=[spin()])\n"
)
"""A model file with a scenario that builds and one (``loop``) whose build
never returns, at line 6."""


def test_a_build_too_long_names_the_scenario_and_the_line_it_was_running(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a file builds all its scenarios, each within half the time
    the load has left: one that never returns holds up no other scenario
    (of its file, or checked with it as --models), and checking it names
    it, with the model line it was at, within the time limit."""
    monkeypatch.setattr(checkable, "LEAST_BUILD_SECONDS", 0.4)
    (tmp_path / "two.py").write_text(FINE_AND_LOOPING.format(loop="my/loop3"))
    for command, checked in (
        (("check", "two.py:my/fine", "--no-save", "--time-limit", "0.1"), "my/fine: OK"),
        (
            ("check", "dirops/opposite-renames", "--models", "two.py", "--time-limit", "0.1"),
            "dirops/opposite-renames: OK",
        ),
    ):
        result = vfsmc(*command)
        assert result.exit_code == 0 and checked in result.output, result.output
    expected = "building the model of my/loop3 took longer than 0.4 s (the time limit"
    line = one_line(vfsmc("check", "two.py:my/loop3", "--no-save", "--time-limit", "0.1"), expected)
    assert "two.py:6 in spin)" in line, line


def test_list_names_a_scenario_that_never_builds_and_lists_the_others(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``list --models`` of a file with a scenario whose build never returns
    lists the file's other scenarios, with a note naming the one that does
    not build and its model line once."""
    monkeypatch.setattr(checkable, "SET_ASIDE_SECONDS", 0.3)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "both.py").write_text(FINE_AND_LOOPING.format(loop="my/loop4"))
    listed = vfsmc("list", "--models", "both.py", "my/")
    assert listed.exit_code == 0, listed.output
    assert "my/fine" in listed.output and "my/loop4" in listed.output
    [note] = [line for line in listed.output.splitlines() if "does not build" in line]
    assert "scenario my/loop4 does not build" in note and note.count("both.py:6") == 1, note


def test_a_shipped_model_file_given_as_the_user_s_is_one_clear_line(vfsmc: Run) -> None:
    """The shipped models are loaded by every run: given again, each of their
    declarations was "declared twice (first at)" the same line."""
    shipped = ROOT / "models"
    for command in (
        ("check", "dirops/opposite-renames", "--models", str(shipped / "dirops_scenarios.py")),
        ("check", "dirops/opposite-renames", "--models", str(shipped)),
        ("check", f"{shipped / 'dirops_scenarios.py'}:dirops/opposite-renames"),
    ):
        one_line(vfsmc(*command, "--no-save"), "shipped models, which every run loads")


def test_an_integer_too_long_to_read_names_the_file(vfsmc: Run, tmp_path: Path) -> None:
    row = '[[expect]]\nscenario = "a/b"\nverdict = "OK"\nstates = ' + "1" * 5000 + "\n"
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "m.py").write_text('"""Nothing."""\n')
    (tmp_path / "suite" / "expectations.toml").write_text(row)
    one_line(
        vfsmc("regress", "--models", "suite"),
        "suite/expectations.toml: not TOML vfsmc can read: Exceeds the limit",
    )
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "locking.toml").write_text(row)
    one_line(vfsmc("spec", "show", "--specs", "specs"), "specs/locking.toml: not TOML")


def test_a_full_disk_names_the_file(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cx.json").write_text(SHIPPED.read_text())

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "fsync", full)
    one_line(vfsmc("graph", "cx.json", "-o", "chart.dot"), "chart.dot: No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cx.json"]


def test_leaving_out_every_property_is_a_usage_error(vfsmc: Run) -> None:
    """A search that checks nothing has no verdict: an OK would say a
    deadlocking variant is fine."""
    args = ("check", "dirops/opposite-renames", "-V", "no-rename-mutex", "--no-save")
    one_line(
        vfsmc(*args, "-p", "deadlock", "--no-property", "deadlock"),
        "--no-property leaves no property to check (of deadlock)",
    )


def test_leaving_out_a_property_not_checked_says_so(vfsmc: Run) -> None:
    result = vfsmc("check", "dirops/opposite-renames", "--no-property", "no-lost-write")
    assert result.exit_code == 0
    note = result.output.splitlines()[0]
    assert note.startswith("vfsmc: note: no-lost-write: not among the properties checked (")


def test_a_property_asked_of_a_scenario_without_what_it_reads_names_the_operation(
    vfsmc: Run,
) -> None:
    """filelock's delegations are leases: deleg-vs-xattr reads what the
    xattr model's delegation(path) caches, and says so, not that the
    scenario has no delegation."""
    one_line(
        vfsmc("check", "filelock/chmod-vs-delegation", "-p", "deleg-vs-xattr", "--no-save"),
        "deleg-vs-xattr needs a thread running mc.models.xattr's delegation(path)",
        "filelock/chmod-vs-delegation has none",
    )


def test_a_chart_of_an_edited_trace_that_does_not_replay_says_it_was_edited(
    vfsmc: Run, tmp_path: Path
) -> None:
    """graph and report draw a trace that no longer replays as recorded;
    one whose digest its fields no longer give is said to be edited, as
    replay refuses it for."""
    trace = _base()
    trace["scenario"] = "dirops/renamed-away"
    (tmp_path / "edited.json").write_text(json.dumps(trace))
    for command, output in (("graph", "edited.svg"), ("report", "edited.html")):
        drawn = vfsmc(command, "edited.json", "-o", output)
        assert drawn.exit_code == 0, drawn.output
        assert "unknown scenario 'dirops/renamed-away'" in drawn.output, drawn.output
        assert "the file was edited since it was saved" in drawn.output, drawn.output


def test_a_trace_too_long_to_lay_out_is_refused_as_a_picture_and_written_as_dot(
    vfsmc: Run, tmp_path: Path
) -> None:
    """graphviz takes minutes over a chart of thousands of steps: graph
    refuses an SVG or PNG of one in a line (exit 2, nothing written), still
    writes its DOT source, and report writes the page without the chart."""
    trace = _base()
    trace["steps"] = (trace["steps"] * (1 + LAID_OUT_AT_MOST // len(trace["steps"])))[
        : LAID_OUT_AT_MOST + 1
    ]
    (tmp_path / "long.json").write_text(json.dumps(trace))
    refused = vfsmc("graph", "long.json", "-o", "long.svg")
    assert refused.exit_code == 2, refused.output
    assert f"the trace has {LAID_OUT_AT_MOST + 1:,} steps" in refused.output.splitlines()[-1]
    assert not (tmp_path / "long.svg").exists()
    assert vfsmc("graph", "long.json", "-o", "long.dot").exit_code == 0
    assert (tmp_path / "long.dot").read_text().startswith("digraph")
    page = vfsmc("report", "long.json", "-o", "long.html")
    assert page.exit_code == 0, page.output
    assert "no chart: the trace has" in page.output
    assert (tmp_path / "long.html").exists()


def test_check_saves_a_trace_too_long_to_lay_out_with_its_dot_and_no_picture(
    vfsmc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verdict and the trace of a check stand when its chart is too long
    to lay out: the JSON and the DOT source are saved, the SVG is not, and
    a warning says why."""
    monkeypatch.setattr(graph, "LAID_OUT_AT_MOST", 3)
    found = vfsmc("check", "dirops/opposite-renames", "--variant", "no-rename-mutex")
    assert found.exit_code == 1, found.output
    saved = Path("counterexamples/dirops-opposite-renames--no-rename-mutex")
    assert saved.with_suffix(".json").exists() and saved.with_suffix(".dot").exists()
    assert not saved.with_suffix(".svg").exists()
    assert "warning: not saved: " in found.output and "lays out at most 3" in found.output


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("cycle.0.resource", "i_rwsem(/zzz)", "but it records T1 -> i_rwsem(/zzz)"),
        ("message", "all is fine", "but it records another message: all is fine"),
    ],
)
def test_a_trace_whose_steps_reproduce_but_whose_words_are_edited_is_refused(
    vfsmc: Run, tmp_path: Path, field: str, value: str, said: str
) -> None:
    """replay, graph and report recompute a violation's message and cycle
    from the state its steps reach: a file that records others (edited by
    hand, its digest dropped) is refused in one line, not printed or drawn
    as it says."""
    trace = _base()
    _set(field, value)(trace)
    del trace["digest"]
    (tmp_path / "words.json").write_text(json.dumps(trace))
    for command, *output in (("replay",), ("graph", "-o", "w.svg"), ("report", "-o", "w.html")):
        one_line(vfsmc(command, "words.json", *output), said)
    assert not (tmp_path / "w.svg").exists() and not (tmp_path / "w.html").exists()


def test_a_trace_that_no_longer_replays_while_its_bug_remains_is_stale_not_a_fix(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A step's label reworded since the trace was saved stops the replay;
    replay then checks the scenario under the trace's variants, and a
    violation of its property still there is said to make the trace stale
    (exit 1, as the bug remains), not a fix (exit 0).  A file without its
    digest may have been cut or written by hand: it is not said to be
    stale; a trace as vfsmc saved it whose model's step was reworded is."""
    trace = _base()
    trace["steps"][3]["label"] = "mutex_lock(&reworded)"
    del trace["digest"]
    (tmp_path / "stale.json").write_text(json.dumps(trace))
    replayed = vfsmc("replay", "stale.json")
    assert replayed.exit_code == 1, replayed.output
    assert "does not reproduce on variants no-rename-mutex: step 4" in replayed.output
    assert replayed.output.splitlines()[-1] == (
        "but vfsmc check dirops/opposite-renames -V no-rename-mutex still finds deadlock: the "
        "trace, which records no digest (written or edited by hand), does not lead there as "
        "it stands, or its steps changed since; not a fix; that check saves one that does"
    )
    model = tmp_path / "abba.py"
    model.write_text(ABBA)
    assert vfsmc("check", "abba.py:my/abba", "--out", "cx").exit_code == 1
    own = (
        '    own = op.world.shared_lock(f"own-{first}", LockKind.MUTEX)\n'
        '    op.lock(own, EXCL, "mutex_lock(own)")\n'
        '    op.unlock(own, "mutex_unlock(own)")\n'
    )
    first_lock = '    op.lock(one, EXCL, f"mutex_lock({first})")\n'
    model.write_text(ABBA.replace(first_lock, own + first_lock))
    [saved] = (tmp_path / "cx").glob("*.json")
    stale = python_in(tmp_path, "-m", "mc", "replay", str(saved))  # reads the file afresh
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert stale.stdout.splitlines()[-1] == (
        f"but vfsmc check {model}:my/abba still finds deadlock: the trace is stale (its "
        "steps changed since it was saved), not a fix; that check saves a new one"
    ), "the command runs as printed"
    report = json.loads(vfsmc("replay", "stale.json", "--json").stdout)
    assert report["reproduced"] is False and report["still_violated_by_check"] is True


def test_a_trace_under_a_variant_that_changes_nothing_is_drawn_by_nothing(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A trace whose variants name one that changes nothing in its scenario
    (child-first moves no lock of a rename) is refused by graph and report
    as by replay (exit 2, nothing written), and regress fails it, saying
    so."""
    data = _base()
    data["variants"] = [*data["variants"], "child-first"]
    del data["digest"]
    suite = tmp_path / "suite"
    (suite / "counterexamples").mkdir(parents=True)
    trace = suite / "counterexamples" / "idle.json"
    trace.write_text(json.dumps(data))
    for args in (("replay",), ("graph", "-o", "idle.svg"), ("report", "-o", "idle.html")):
        line = one_line(vfsmc(args[0], str(trace), *args[1:]))
        assert "variant child-first changes nothing in dirops/opposite-renames" in line
    assert not (tmp_path / "idle.svg").exists() and not (tmp_path / "idle.html").exists()
    (suite / "expectations.toml").write_text(
        '[[expect]]\nscenario = "dirops/opposite-renames"\nverdict = "OK"\n'
    )
    result = vfsmc("regress", "--models", str(suite))
    assert result.exit_code == 1, result.output
    assert "FAIL  idle.json: with no-rename-mutex, child-first: reproduces (deadlock), but " in (
        result.output
    )
    assert "variant child-first changes nothing in dirops/opposite-renames" in result.output


def test_a_file_whose_own_code_never_returns_is_stopped_by_every_command(
    vfsmc: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading a model file is bounded for list, show, explain and mutate
    as for check: a module that loops is one line naming its line."""
    monkeypatch.setattr(checkable, "BUILD_SECONDS", 0.5)
    (tmp_path / "loop.py").write_text("while True:\n    pass\n")
    for command in (
        ("list", "--models", "loop.py"),
        ("show", "dirops/opposite-renames", "--models", "loop.py"),
        ("explain", "deadlock", "--models", "loop.py"),
        ("mutate", "dirops/opposite-renames", "--models", "loop.py", "--no-save"),
    ):
        one_line(vfsmc(*command), "loading loop.py took longer than 0.5 s", "loop.py:")


def test_a_mistaken_describe_is_a_model_error_for_every_command(vfsmc: Run, tmp_path: Path) -> None:
    """describe= given a string, or a function giving no string or
    raising, is the model's error (exit 2) where the file is loaded, for
    show and list as for check (it was an internal error there)."""
    body = (
        "from mc.dsl import operation, scenario\n\n"
        "@operation(models='nothing', describe={describe})\n"
        "def noop(op, path: str):\n"
        "    pass\n\n"
        "scenario('my/desc', 'one thread', tree=['/a/'], threads=[noop('/a')])\n"
    )
    for name, describe, message in (
        ("text", "'my op'", "describe= is a function of the operation's arguments"),
        ("number", "lambda path: 42", "noop(): its describe= gave int 42"),
        ("raising", "lambda path: 1 / 0", "in <lambda>: ZeroDivisionError"),
    ):
        (tmp_path / f"{name}.py").write_text(body.replace("{describe}", describe))
        for command in (("show", f"{name}.py:my/desc"), ("list", "--models", f"{name}.py")):
            one_line(vfsmc(*command), message, f"{name}.py:")
        one_line(vfsmc("check", f"{name}.py:my/desc", "--no-save"), message)


def test_a_keyboard_interrupt_a_file_raises_as_it_loads_or_builds_is_its_error(
    vfsmc: Run, tmp_path: Path
) -> None:
    """No Ctrl-C came: a model file raising KeyboardInterrupt at its top
    level, or in an operation's body, is a model error (exit 2) naming its
    line, not an interruption (exit 130)."""
    (tmp_path / "top.py").write_text("raise KeyboardInterrupt\n")
    (tmp_path / "body.py").write_text(
        "from mc.dsl import operation, scenario\n\n"
        "@operation(models='a body raising KeyboardInterrupt')\n"
        "def stop(op):\n"
        "    raise KeyboardInterrupt\n\n"
        "scenario('my/stop', 'one thread', tree=['/a/'], threads=[stop()])\n"
    )
    raised = "RaisedByModel: KeyboardInterrupt raised by the model"
    one_line(vfsmc("list", "--models", "top.py"), "top.py:1", raised)
    one_line(vfsmc("check", "dirops/opposite-renames", "--models", "top.py", "--no-save"), raised)
    for command in (("check", "body.py:my/stop", "--no-save"), ("show", "body.py:my/stop")):
        one_line(vfsmc(*command), "body.py:5", raised)
