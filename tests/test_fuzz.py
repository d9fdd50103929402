"""Fuzzing kept in the suite: every reader (counterexample JSON, the locking
document flattened and as reStructuredText, expectations files) given
generated and mutated input answers with exit 0, 1 or 2 and, on bad input,
one line naming the file; never a traceback.  And a differential test:
breadth-first and depth-first search agree on random small models.

The example counts are bounded so the whole suite stays well under ten
minutes; the deadline is a guard against a hang (an input that makes a
reader run away), not a measure of speed."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mc.cli.main import main
from mc.engine.explore import Options, Search
from mc.engine.model import Model, Property, always, deadlock_free, sometimes
from mc.engine.result import Strategy, Verdict

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("own_models")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
HANG = timedelta(seconds=20)
FUZZ = settings(
    deadline=HANG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
COUNTEREXAMPLES = sorted((ROOT / "counterexamples").glob("*.json"))[:4]


def _run(args: list[str], cwd: Path) -> Result:
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        return runner.invoke(main, args, catch_exceptions=False)


def _answered(result: Result, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    """Exit 0, 1 or 2; bad input is one line on stderr naming the file."""
    event(f"exit {result.exit_code}")
    assert result.exit_code in allowed, (result.exit_code, result.output[-2000:])
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vfsmc: error: "), result.stderr
        assert "\x1b" not in lines[0]


# --- counterexample JSON ---------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def counterexamples(draw: st.DrawFn) -> str:
    """A shipped counterexample with a few of its values replaced, removed
    or given company; or raw text that is barely JSON."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(alphabet='{}[]":,0123456789truefalsnl \\\n\x00\xe9', max_size=80))
    data = json.loads(draw(st.sampled_from(COUNTEREXAMPLES)).read_text())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        if not path:
            continue
        *parents, last = path
        target = data
        for key in parents:
            target = target[key]
        action = draw(st.integers(0, 2))
        if action == 0:
            target[last] = draw(JSON_VALUES)
        elif action == 1 and isinstance(target, dict):
            del target[last]
        elif isinstance(target, dict):
            target[draw(st.text(max_size=5))] = draw(JSON_VALUES)
    return json.dumps(data)


@settings(FUZZ, max_examples=150)
@given(text=counterexamples())
def test_fuzz_counterexample_readers(tmp_path: Path, text: str) -> None:
    (tmp_path / "cx.json").write_text(text)
    _answered(_run(["replay", "cx.json"], tmp_path))
    _answered(_run(["graph", "cx.json", "-o", "cx.dot"], tmp_path), (0, 2))


# --- the locking document ---------------------------------------------------

DOCUMENTS = [
    (FIXTURES / "locking-excerpt.rst").read_text(),
    (
        "Locking\n\ndentry_operations\n\nprototypes:\n\nint (*d_revalidate)(struct dentry *);\n"
        "int (*d_hash)(const struct dentry *, struct qstr *);\n\nlocking rules:\n\nops\n\n"
        "rename_lock\n\n->d_lock\n\nmay block\n\nd_revalidate:\n\nno\n\nno\n\nyes\n\n"
        "d_hash\n\nno\n\nno\n\nno\n\nDubious stuff\n\nnothing\n"
    ),
]
TOKENS = st.sampled_from(
    [
        "ops",
        "prototypes:",
        "prototypes::",
        "locking rules:",
        "m:",
        "yes",
        "no",
        "exclusive (both)",
        "==== ====",
        "=====",
        "int (*m)(void);",
        "Dubious stuff",
        "\t",
        "",
        "->d_lock",
        "(see below)",
    ]
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(DOCUMENTS)).splitlines()
    for _ in range(draw(st.integers(1, 8))):
        where = draw(st.integers(0, max(len(lines) - 1, 0)))
        action = draw(st.integers(0, 3))
        if action == 0 and lines:
            del lines[where]
        elif action == 1:
            lines.insert(where, draw(TOKENS | st.text(max_size=20)))
        elif action == 2 and lines:
            lines[where] = lines[where][: draw(st.integers(0, len(lines[where])))]
        elif lines:
            lines.insert(where, lines[draw(st.integers(0, len(lines) - 1))])
    return "\n".join(lines)


@settings(FUZZ, max_examples=100)
@given(text=documents())
def test_fuzz_locking_document_readers(tmp_path: Path, text: str) -> None:
    (tmp_path / "locking.txt").write_text(text)
    _answered(_run(["spec", "lint", "locking.txt"], tmp_path))
    _answered(_run(["spec", "import", "locking.txt", "-o", "out.toml"], tmp_path))


# --- expectations files -------------------------------------------------------

FIELD_VALUES: dict[str, Any] = {
    "scenario": st.sampled_from(['"fuzz/tiny"'] * 12 + ['"nosuch/x"', '""', "1", "[]"]),
    "variants": st.sampled_from(["[]"] * 12 + ['["nosuch"]', '["no-rename-mutex"]', '"x"', "[1]"]),
    "verdict": st.sampled_from(['"OK"'] * 12 + ['"VIOLATED"', '"INCOMPLETE"', '"ok"', "true"]),
    "property": st.sampled_from(['"deadlock"', '"completes"', "3", '"nosuch"']),
    "states": st.sampled_from(["1", "7", "12_000", "0", "-4", "2.5", "true", '"9"', "1" * 30]),
    "other": st.sampled_from(["1", '"x"']),
}
CHANCE = {"scenario": 95, "verdict": 95, "variants": 40, "states": 40, "property": 8, "other": 4}
"""How often (in 100) a row has each field: most files get as far as checking."""


@st.composite
def expectation_files(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(alphabet='[]{}="expct\n .,#', max_size=60))
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        fields = [name for name, chance in CHANCE.items() if draw(st.integers(0, 99)) < chance]
        body = "".join(f"{name} = {draw(FIELD_VALUES[name])}\n" for name in fields)
        rows.append(f"[[expect]]\n{body}")
    return "\n".join(rows)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for every example (a model file is loaded once per path)."""
    directory = tmp_path_factory.mktemp("suite")
    shutil.copy(FIXTURES / "fuzz" / "tiny.py", directory / "tiny.py")
    return directory


@settings(FUZZ, max_examples=150)
@given(text=expectation_files(), update=st.booleans())
def test_fuzz_expectations_reader(suite: Path, text: str, update: bool) -> None:
    (suite / "expectations.toml").write_text(text)
    args = ["regress", "--models", str(suite), "--json", *(["--update"] if update else [])]
    _answered(_run(args, suite))


# --- breadth-first and depth-first agree --------------------------------------


class RandomModel(Model[int, int]):
    """States 0..n-1 from state 0; ``edges[s]`` the successors of ``s``."""

    def __init__(self, edges: list[list[int]], bad: set[int], stuck: set[int], goal: int) -> None:
        self.edges, self.bad, self.stuck, self.goal = edges, bad, stuck, goal

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, state: int) -> list[int]:
        return list(range(len(self.edges[state])))

    def next_state(self, state: int, action: int) -> int:
        return self.edges[state][action]

    def successors(self, state: int) -> list[tuple[Any, int]]:
        return [(action, self.next_state(state, action)) for action in self.actions(state)]

    def properties(self) -> list[Property[int]]:
        return [
            always("safe", lambda s: "bad" if s in self.bad else None),
            deadlock_free("deadlock", lambda s: "stuck" if s in self.stuck else None),
            sometimes("reaches-goal", lambda s: "goal" if s == self.goal else None),
        ]


@st.composite
def random_models(draw: st.DrawFn) -> RandomModel:
    n = draw(st.integers(1, 12))
    edges = [draw(st.lists(st.integers(0, n - 1), max_size=3)) for _ in range(n)]
    bad = set(draw(st.lists(st.integers(0, n - 1), max_size=2)))
    stuck = set(draw(st.lists(st.integers(0, n - 1), max_size=3)))
    return RandomModel(edges, bad, stuck, draw(st.integers(0, n - 1)))


def _reachable(model: RandomModel) -> set[int]:
    seen, todo = {0}, [0]
    while todo:
        for nxt in model.edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@settings(max_examples=300, deadline=HANG, derandomize=True)
@given(model=random_models())
def test_bfs_and_dfs_agree_on_random_models(model: RandomModel) -> None:
    results = {strategy: Search(model, Options(strategy=strategy)).run() for strategy in Strategy}
    reachable = _reachable(model)
    violated = (
        any(s in model.bad for s in reachable)
        or any(s in model.stuck and not model.edges[s] for s in reachable)
        or model.goal not in reachable
    )
    for result in results.values():
        assert (result.verdict is Verdict.VIOLATED) == violated
        if result.verdict is Verdict.OK:
            assert result.stats.states == len(reachable)
        violation = result.violation
        if violation is not None and violation.path is not None:
            last = violation.path.states[-1]
            assert last in reachable
            assert last in (model.bad if violation.property == "safe" else model.stuck)
    assert len({r.verdict for r in results.values()}) == 1
