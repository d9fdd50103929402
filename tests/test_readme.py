"""The worked examples of the README run as written, from a fresh directory:
its files are written where it says, its commands run in a shell, and
their output is the README's (``...`` stands for left-out lines; numbers
and runs of blanks may differ)."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from mc.check import lockorder
from mc.check.registry import base, shipped
from mc.dsl import Op, Scenario, Scratch, operation

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FILE_MARK = re.compile(r"<!-- example-file: (\S+) -->\n```\w*\n(.*?)```", re.S)
SESSION_MARK = re.compile(r"<!-- example-session -->\n```console\n(.*?)```", re.S)


def example_files(text: str) -> dict[str, str]:
    return dict(FILE_MARK.findall(text))


def session(text: str) -> list[tuple[str, list[str]]]:
    """The commands of the example sessions, in order, each with its
    expected output."""
    found = SESSION_MARK.findall(text)
    assert found, "the README has no example session"
    commands: list[tuple[str, list[str]]] = []
    for block in found:
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            else:
                commands[-1][1].append(line)
    return commands


VARIABLE = re.compile(r"(\d+\.\d+|(?<![\S:])\d+(?!\S)|\s+)")


def _pattern(line: str) -> re.Pattern[str]:
    """Decimals (times) match any decimal; a run of blanks matches any run
    of blanks.  Whole numbers (step numbers, state counts) and model lines
    (``models/dirops.py:174``) are matched as written, so the README shows
    what today's models print."""
    regex = "".join(
        r"\s+"
        if part.isspace()
        else r"\d+\.\d+"
        if re.fullmatch(r"\d+\.\d+", part)
        else re.escape(part)
        for part in VARIABLE.split(line.strip())
        if part
    )
    return re.compile(regex)


def matches(expected: list[str], actual: list[str]) -> str | None:
    """None when ``actual`` is ``expected`` with each ``...`` standing for
    any lines, else what is missing."""
    chunks: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == "...":
            chunks.append([])
        else:
            chunks[-1].append(line)
    position = 0
    for index, chunk in enumerate(chunks):
        anchored = index == 0
        last = index == len(chunks) - 1
        found = None
        for start in range(position, len(actual) - len(chunk) + 1):
            window = actual[start : start + len(chunk)]
            if all(_pattern(e).fullmatch(a.strip()) for e, a in zip(chunk, window, strict=True)):
                if last and chunk and start + len(chunk) != len(actual):
                    continue
                found = start
                break
            if anchored:
                break
        if found is None:
            return f"lines not found in order: {chunk}"
        position = found + len(chunk)
    return None


def test_the_matcher_reads_dots_numbers_and_blanks() -> None:
    assert matches(["a 22", "...", "c"], ["a   22", "b", "c"]) is None
    assert matches(["a 1", "...", "c"], ["a   22", "b", "c"]) is not None, "counts are exact"
    assert matches(["T1 x.py:12 0.50s"], ["T1  x.py:12 1.25s"]) is None
    assert matches(["T1 x.py:12"], ["T1 x.py:9"]) is not None, "model lines must be current"
    assert matches(["T1 waits"], ["T2 waits"]) is not None
    assert matches(["a", "c"], ["a", "b", "c"]) is not None
    assert matches(["...", "b"], ["a", "b"]) is None
    assert matches(["a", "..."], ["a", "b"]) is None
    assert matches(["a"], ["a", "b"]) is not None


def test_the_worked_example_runs_as_written(tmp_path: Path) -> None:
    text = README.read_text()
    files = example_files(text)
    assert {"my-change/link_order.py", "my-change/expectations.toml"} <= set(files)
    assert len(files["my-mirror/mirror.py"].splitlines()) <= 60
    for name, content in files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("VFSMC_TRACEBACK", None)
    commands = session(text)
    assert len(commands) >= 3
    for command, expected in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        output = done.stdout.splitlines()
        assert "Traceback" not in done.stdout, done.stdout
        problem = matches(expected, output)
        assert problem is None, f"$ {command}\n{problem}\n--- got:\n{done.stdout}"


def _api_section(text: str) -> str:
    start = text.index("### The model-writing API")
    return text[start : text.index("\n### ", start + 1)]


def _python_blocks(text: str) -> list[str]:
    return [
        textwrap.dedent(block)
        for block in re.findall(r"^ *```python\n(.*?)^ *```", text, re.S | re.M)
    ]


def test_the_api_names_where_each_model_name_a_scenario_needs_lives() -> None:
    """The names a scenario takes from the shipped models (mc.dsl cannot
    export them: it is the layer below) are in the module the README's
    table says, and the imports under it run."""
    section = _api_section(README.read_text())
    table = section.split("<!-- model-imports -->\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("| `")]
    assert len(rows) >= 7
    found: dict[str, str] = {}
    for row in rows:
        names, module = (re.findall(r"`([\w.]+)`", cell) for cell in row.split("|")[1:3])
        assert len(module) == 1, row
        for name in names:
            found[name] = module[0]
            assert hasattr(importlib.import_module(module[0]), name), (name, module[0])
    for name in ("OpenFile", "Quotas", "QuotaFile", "READ", "WRITE", "SEEK_CUR", "MappedFile"):
        assert name in found, name
    imports = next(block for block in _python_blocks(section) if block.startswith("from mc.models"))
    exec(compile(imports, "README.md", "exec"), {})


def test_the_api_s_effect_example_writes_its_slot() -> None:
    """An effect changes the state by ``scratch[slot] = value``: the
    README's example, run as an operation, counts."""
    (block,) = [b for b in _python_blocks(_api_section(README.read_text())) if "scratch[" in b]
    definition, call = block.rsplit("\n\n", 1)
    names: dict[str, object] = {"Scratch": Scratch}
    exec(compile(definition, "README.md", "exec"), names)

    @operation(models="the README's effect")
    def counts(op: Op) -> None:
        exec(compile(call, "README.md", "exec"), {**names, "op": op})

    registry = base()
    registry.add_scenario(Scenario("readme/count", "x", ("/a/",), (counts(),)))
    model = registry.build(registry.scenario("readme/count"), properties=("lock-protocol",))
    state = model.initial
    while not model.finished(state):
        [(_action, state)] = model.successors(state)
    assert state[model.world.shared_slot("counter", 0)] == 1


TABLE_ROW = re.compile(r"^\| `([\w./-]+)` \| ([^|]*)\| ([^|]*)\| ([\d,]+) \|$", re.M)


def test_the_scenario_tables_give_today_s_state_counts() -> None:
    """Each README row ``| scenario | variants | verdict | states |`` of a
    shipped scenario gives the states ``vfsmc check`` counts: the row's
    baseline in specs/expectations.toml, or a check of it when no row of
    the suite has those variants."""
    from mc.check import expectations
    from mc.testing import check

    baselines = {(r.scenario, frozenset(r.variants)): r for r in expectations.load()}
    scenarios = shipped().scenarios
    seen = 0
    for found in TABLE_ROW.finditer(README.read_text()):
        name, variants_cell, verdict_cell, states = found.groups()
        if name not in scenarios:
            continue
        variants = re.sub(r"\(waives [^)]*\)", "", variants_cell)
        key = (name, frozenset(re.findall(r"`([^`]+)`", variants)))
        count = int(states.replace(",", ""))
        seen += 1
        row = baselines.get(key)
        if row is not None:
            assert row.states == count, f"{found.group(0)}: the baseline is {row.states}"
            continue
        expect = "OK" if verdict_cell.strip().startswith("OK") else "VIOLATED"
        outcome = check(name, sorted(key[1]), expect)
        got = outcome.result.stats.states
        assert got == count, f"{found.group(0)}: vfsmc check counts {got}"
    assert seen >= 30


def test_the_drift_section_s_moved_counts_name_today_s_baseline() -> None:
    """The 6.17-rc3 drift section's "State counts that moved" ends with
    what each scenario counts today."""
    from mc.check import expectations

    text = README.read_text()
    start = text.index("State counts that moved:")
    paragraph = text[start : text.index("\n\n", start)]
    today = {r.scenario: r.states for r in expectations.load() if not r.variants}
    for name in re.findall(r"`(\w+/[\w-]+)`", paragraph):
        assert re.search(rf"\b{today[name]}\b", paragraph), (name, today[name])


def test_the_rcu_walk_example_runs(tmp_path: Path) -> None:
    """The API's own rcu-walk with d_lock and roles= is OK, and calling
    ->d_delete in rcu-walk is a spec-conformance violation."""
    from mc.testing import check

    text = example_files(README.read_text())["my-walk/walk.py"]
    (tmp_path / "walk.py").write_text(text)
    check(f"{tmp_path / 'walk.py'}:my/two-walks", expect="OK")
    bad = check(f"{tmp_path / 'walk.py'}:my/two-walks", ["d-delete-in-rcu-walk"], "VIOLATED")
    assert bad.message is not None and "in rcu-walk (rules: rcu-walk: no)" in bad.message


def test_the_inode_methods_table_lists_every_inode_scenario() -> None:
    text = README.read_text()
    start = text.index("## The remaining inode methods")
    table = text[start : text.index("\n\n", text.index("| scenario |", start))]
    listed = {found.group(1) for found in TABLE_ROW.finditer(table)}
    inode = {name for name in shipped().scenarios if name.startswith("inode/")}
    assert inode <= listed, sorted(inode - listed)


def test_the_lockorder_section_shows_today_s_report(
    shipped_lock_edges: list[lockorder.Explored],
) -> None:
    """The lockorder section's report of the shipped models is what
    ``vfsmc lockorder`` prints today."""
    text = README.read_text()
    start = text.index("```\n", text.index("### lockorder")) + 4
    shown = text[start : text.index("```", start)]
    report = lockorder.merge(shipped_lock_edges, lockorder.load_documented(), every_scenario=True)
    assert shown == "\n".join(lockorder.render(report)) + "\n"


def test_the_contents_link_to_headings_that_exist() -> None:
    """Every link of the Contents names a heading of the README (GitHub's
    anchors: lower case, punctuation dropped, spaces as hyphens), and every
    top-level section is linked."""
    text = README.read_text()
    headings = re.findall(r"^#{2,4} (.+)$", text, re.M)
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    contents = text[text.index("## Contents") : text.index("## Quick start")]
    linked = re.findall(r"\]\(#([^)]+)\)", contents)
    assert linked and set(linked) <= anchors, set(linked) - anchors
    sections = re.findall(r"^## (.+)$", text, re.M)
    top = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in sections}
    assert top - {"contents"} <= set(linked), top - set(linked)
