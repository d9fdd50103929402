"""vfsmc report: one self-contained HTML page per counterexample, stepped
through in a real browser (headless Chromium from the system's packages,
driven by Selenium), and the chart's marks, branches and folds."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from mc.check.marks import variant_marks
from mc.check.registry import with_files
from mc.dsl.scenario import Registry
from mc.trace import format as cx_format
from mc.trace.graph import FOLD_AFTER, to_dot

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "counterexamples"
CHILD_FIRST = SHIPPED / "dirops-rename-rmdir-link--child-first.json"
PUNCH = SHIPPED / "truncate-punch-vs-fault--pre-invalidate-lock.json"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _page(vfsmc: Run, source: Path) -> tuple[Path, dict[str, object]]:
    out = Path("report.html")
    result = vfsmc("report", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    found = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S
    )
    assert found is not None
    return out.resolve(), json.loads(found.group(1))


def test_text_of_a_trace_cannot_end_the_data_block() -> None:
    """A label or message holding ``<!--<script>`` or ``</script>`` stays
    data: the page keeps its two script elements and the data reads back."""
    from mc.trace.report import render_html

    hostile = "x <!--<script> </script> y"
    data = {"variants": [hostile], "threads": [], "title": hostile, "scenario": "s", "note": ""}
    data.update(witness={}, property="p", message=hostile)
    page = render_html(data, None)
    assert page.count("<script") == 2 and page.count("</script>") == 2
    found = re.search(r'id="report-data">(.*?)</script>', page, re.S)
    assert found is not None
    assert json.loads(found.group(1))["title"] == hostile


def test_the_page_is_self_contained(vfsmc: Run) -> None:
    page, _ = _page(vfsmc, CHILD_FIRST)
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text
    assert "<svg" in text, "the chart is inline"


def test_the_state_is_whole_and_grouped(vfsmc: Run) -> None:
    _, data = _page(vfsmc, PUNCH)
    states = data["states"]
    assert isinstance(states, list) and len(states) == len(data["steps"]) + 1  # type: ignore[arg-type]
    sections = data["sections"]
    assert isinstance(sections, dict)
    assert sections["pte(/f:0)"] == "mappings"
    assert sections["block 0"] == "device" and sections["bios in flight"] == "device"
    assert sections["folio(/f:0)"] == "page cache"
    assert sections["path condition"] == "path condition"
    assert sections["invalidate_lock(/f)"] == "locks"
    assert states[0]["folio(/f:0)"] == "absent"  # type: ignore[index]


def test_variant_steps_are_marked(shipped: Registry) -> None:
    counterexample = cx_format.load(CHILD_FIRST)
    marks = variant_marks(shipped, counterexample)
    assert marks.changed == {19: "added by child-first"}
    assert counterexample.steps[18].label == "inode_lock(victim) /* child first */"
    assert any("inode_lock(dentry->d_inode)" in text for text in marks.removed)
    dot = to_dot(counterexample, marks)
    assert 'id="chart-step-19"' in dot and 'fillcolor="#fff2b3"' in dot
    assert "the variant removed: T2 inode_lock(dentry->d_inode)" in dot


def test_a_thread_waiting_at_a_step_the_variant_added_is_marked(shipped: Registry) -> None:
    """The wait ``lease-break-without-timeout`` puts in place of the timed
    one is where T2 stays: its dashed box is yellow, and the title says
    what yellow means though no step run was changed."""
    path = CHILD_FIRST.parent / "filelock-lease-timeout--lease-break-without-timeout.json"
    counterexample = cx_format.load(path)
    marks = variant_marks(shipped, counterexample)
    assert marks.changed == {}
    assert marks.blocked == {"T2": "added by lease-break-without-timeout"}
    dot = to_dot(counterexample, marks)
    assert 'style="dashed,rounded,filled"' in dot and 'fillcolor="#fff2b3"' in dot
    assert "yellow: steps the variant added or changed" in dot


QUOTA_ORDER = """\
from mc.dsl import Invocation, Program, scenario, variant
from mc.models.quota import Quotas, QuotaFile, chown, quota_sync, alloc_block

FS = Quotas((QuotaFile("/a", "alice", blocks=1),))


@variant("commit-dqio-first", "dquot_commit() takes dqio_sem before dq_lock")
def dqio_first(program: Program, invocation: Invocation) -> Program:
    if invocation.operation is not chown:
        return program
    steps = program.steps
    lock = [s for s in steps if s.label.startswith("dquot_commit(): mutex_lock")][0]
    dqio = [s for s in steps[steps.index(lock):] if "down_write(&dqopt->dqio_sem)" in s.label]
    return program.move_before([dqio[0]], lock)


scenario(
    "my/chown-vs-sync",
    "chown(2) while Q_SYNC writes dirty dquots back",
    tree=["/a"],
    threads=[alloc_block(FS, "/a"), chown(FS, "/a", "bob"), quota_sync(FS)],
    properties=["lock-protocol", "deadlock"],
)
"""


def test_only_the_step_the_variant_moved_is_marked(vfsmc: Run, tmp_path: Path) -> None:
    """The moved down_write(dqio_sem) shares its model line and label with
    the one dquot_acquire() runs earlier, which the variant left alone:
    only the moved one is marked."""
    (tmp_path / "quota_order.py").write_text(QUOTA_ORDER)
    result = vfsmc(
        "check", "quota_order.py:my/chown-vs-sync", "-V", "commit-dqio-first", "--out", "cx"
    )
    assert result.exit_code == 1, result.output
    counterexample = cx_format.load(next(Path("cx").glob("*.json")))
    registry = with_files([tmp_path / "quota_order.py"])
    marks = variant_marks(registry, counterexample)
    same = [
        number
        for number, step in enumerate(counterexample.steps, start=1)
        if "down_write(&dqopt->dqio_sem)" in step.label and step.thread == "T2"
    ]
    assert len(same) >= 2, "the trace runs the line twice in T2"
    assert [number for number in same if number in marks.changed] == [same[-1]]


def test_branches_are_drawn_and_arrows_carry_no_labels() -> None:
    counterexample = cx_format.load(CHILD_FIRST)
    dot = to_dot(counterexample)
    assert 'label="if (is_dir)\\nyes"' in dot, "the branch and the way it went"
    edge = re.compile(r"^\s+\w+ -> \w+ \[.*\blabel=")
    edges = [line for line in dot.splitlines() if edge.match(line)]
    assert edges == [], edges


def test_the_last_row_shows_the_steps_the_deadlocked_threads_wait_at() -> None:
    """The journal deadlock: the write and the writeback wait at steps the
    trace does not run, drawn dashed in the last row with what they wait
    for; the commit's wait, a step the trace ran (its queueing behind the
    handles), is not drawn twice."""
    journal = cx_format.load(
        SHIPPED / "journal-write-vs-writeback-commit--handle-under-folio-lock.json"
    )
    dot = to_dot(journal)
    dashed = [line for line in dot.splitlines() if "dashed,rounded" in line]
    assert len(dashed) == 2, dashed
    assert any("waits for jbd2_handle, which T3 could end" in line for line in dashed)
    assert any("waits for PG_locked(/f:0#0), which T1 could" in line for line in dashed)
    assert not any("T_LOCKED" in line for line in dashed)


def test_a_long_chart_folds_runs_of_one_thread() -> None:
    longest = max(
        (cx_format.load(path) for path in SHIPPED.glob("*.json")), key=lambda c: len(c.steps)
    )
    assert len(longest.steps) > FOLD_AFTER
    dot = to_dot(longest)
    folded = re.findall(r'step_\d+ \[shape="plaintext", label="(\d+)-(\d+)"', dot)
    assert folded, "runs of steps folded into one row"
    rows = len(re.findall(r"step_\d+ \[", dot))
    assert rows < len(longest.steps)


CHROMIUM_OFFLINE = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
"""Headless, as root, and asking the network for nothing: a machine
without one refuses, or never answers, what Chromium asks by default."""


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "headless Chromium is not installed "
            "(make setup installs it: apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_OFFLINE:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_stepping_through_a_deadlock_in_the_browser(
    vfsmc: Run, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    page, _ = _page(vfsmc, CHILD_FIRST)
    browser.get(page.as_uri())
    assert browser.title == "deadlock in dirops/rename-rmdir-link with variant child-first"
    assert browser.find_element(By.ID, "position").text == "22 / 22"

    def shown() -> tuple[str, dict[str, str]]:
        title = browser.find_element(By.ID, "state-title").text
        changed = {
            row.find_element(By.CSS_SELECTOR, "td.name").text: row.find_element(
                By.CSS_SELECTOR, "td.value"
            ).text
            for row in browser.find_elements(By.CSS_SELECTOR, "#state tr.changed")
        }
        return title, changed

    title, changed = shown()
    assert title.startswith("after step 22: T3 inode_lock_nested(")
    assert changed == {"i_rwsem(/a/b)": "T2 excl, T1,T3 waiting"}
    browser.find_element(By.CSS_SELECTOR, '#step-rows tr[data-step="4"]').click()
    title, changed = shown()
    assert title == "after step 4: T1 inode_lock_nested(p1->d_inode, I_MUTEX_PARENT)"
    assert changed == {"i_rwsem(/a)": "T1 excl"}
    was = browser.find_element(By.CSS_SELECTOR, "#state tr.changed td.was").text
    assert was == "was free"
    assert "current" in (browser.find_element(By.ID, "chart-step-4").get_attribute("class") or "")
    body = browser.find_element(By.TAG_NAME, "body")
    for _ in range(15):
        body.send_keys(Keys.ARROW_DOWN)
    title, changed = shown()
    assert title == "after step 19: T2 inode_lock(victim) /* child first */"
    assert changed == {"i_rwsem(/a/b)": "T2 excl"}
    selected = browser.find_element(By.CSS_SELECTOR, "#step-rows tr.selected")
    assert selected.get_attribute("data-step") == "19"
    assert selected.find_element(By.CSS_SELECTOR, ".variant").text == "variant"
    locks = browser.find_element(By.CSS_SELECTOR, 'table[data-section="locks"]').text
    assert "i_rwsem(/a/b) T2 excl" in locks and "i_rwsem(/c/d) T1 excl" in locks
    body.send_keys(Keys.ARROW_UP)
    assert shown()[0].startswith("after step 18: T1 if (target")
    body.send_keys(Keys.HOME)
    title, changed = shown()
    assert (title, changed) == ("initial state", {})
    tree = browser.find_element(By.CSS_SELECTOR, 'details.unchanged[data-section="tree"]')
    assert "dentry(/a/b)" not in tree.text, "the fields the trace never changes are folded"
    tree.find_element(By.TAG_NAME, "summary").click()
    assert "dentry(/a/b) /a/b" in tree.text
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_every_shipped_scenario_s_whole_initial_state_renders(shipped: Registry) -> None:
    """The report shows every slot of the state, registers included before
    any step set them (None): no renderer of a shipped model fails on it."""
    for name in sorted(shipped.scenarios):
        model = shipped.build(shipped.scenario(name), ())
        rendered = model.render_state(model.initial)
        registers = [model.world.slots[slot].name for t in model.threads for slot in t.registers]
        assert rendered["error"] == "none" and set(registers) <= set(rendered), name


FORCED_TEST = """
from mc.dsl import Invocation, Program, variant
from mc.models.xattr import walk


@variant("no-uncached-test", "check_acl() without is_uncached_acl()")
def no_uncached_test(program: Program, invocation: Invocation) -> Program:
    if not invocation.runs(walk):
        return program
    return program.force("if (is_uncached_acl(acl)) return -ECHILD", False)
"""


def test_a_forced_test_is_marked_changed_not_removed(vfsmc: Run, tmp_path: Path) -> None:
    """``force`` rewrites a test in place (its label gains ``/* never */``):
    the chart marks it as changed, and its title does not say the variant
    removed it."""
    (tmp_path / "forced.py").write_text(FORCED_TEST)
    result = vfsmc(
        "check", "xattr/acl-walk", "--models", "forced.py", "-V", "no-uncached-test", "--out", "cx"
    )
    assert result.exit_code == 1, result.output
    counterexample = cx_format.load(next(Path("cx").glob("*.json")))
    marks = variant_marks(with_files([tmp_path / "forced.py"]), counterexample)
    assert marks.removed == ()
    forced = [
        number
        for number, step in enumerate(counterexample.steps, start=1)
        if step.label.endswith("/* never */")
    ]
    assert forced and all(number in marks.changed for number in forced)
    assert "the variant removed" not in to_dot(counterexample, marks)


def test_the_page_cache_xarray_is_in_the_page_cache() -> None:
    from mc.trace.report import section_of

    assert section_of("xa(/f:0)", ()) == "page cache"
    assert section_of("xa_lock(/f)", {"xa_lock(/f)"}) == "locks"
    assert section_of("dax_entry(/f:0)", ()) == "page cache"
    assert section_of("dax_pte(/f:0)", ()) == "mappings"
    assert section_of("bios in flight(block 7)", ()) == "device"


def test_fields_no_step_set_yet_are_unset_and_untouched_ones_folded(vfsmc: Run) -> None:
    """Unset registers and empty slots, whatever their renderers make of
    None, are told apart from values a step set (``T1.punch_partial`` set
    to ``none``); the fields no step changes are listed to fold away."""
    _, data = _page(vfsmc, PUNCH)
    steps = data["steps"]
    assert isinstance(steps, list)
    past = len(steps) + 1
    until = data["unsetUntil"]
    assert isinstance(until, dict)
    for name in ("T1.writepages", "T1.eof_case.0", "T1.added.0", "T3.bio", "xa(/f:1)"):
        assert until[name] == past, name
    first = {}
    for step in reversed(steps):
        first.update(dict.fromkeys(step["changed"], step["number"]))
    for name in ("T1.punch_partial", "T2.index", "xa(/f:0)", "bios in flight"):
        assert until[name] == first[name], name
    assert data["states"][first["T1.punch_partial"]]["T1.punch_partial"] == "none"  # type: ignore[index]
    for name in ("T1.ret", "folio(/f:0)", "sb_writers", "block 0", "free blocks"):
        assert name not in until, name
    unchanged = data["unchanged"]
    assert isinstance(unchanged, list)
    for name in ("s_vfs_rename_sem", "rename_lock", "PG_locked(/f:0#1)", "T1.writepages"):
        assert name in unchanged, name
    for name in ("PG_locked(/f:0#0)", "rcu_read_lock", "sb_writers", "xa(/f:0)", "T2.index"):
        assert name not in unchanged, name


def test_a_lock_taken_as_the_threads_start_is_not_folded(vfsmc: Run) -> None:
    """``s_vfs_rename_sem``, which T1 takes before the first step shown, is
    not at its initial value: it stays in view."""
    _, data = _page(vfsmc, CHILD_FIRST)
    assert data["states"][0]["s_vfs_rename_sem"] == "T1"  # type: ignore[index]
    assert "s_vfs_rename_sem" not in data["unchanged"]  # type: ignore[operator]


def test_a_completion_that_chose_to_stop_shows_it(vfsmc: Run) -> None:
    """``none (every task returned)`` is the completion thread's choice to
    stop once a step set it; before that the register is unset."""
    _, data = _page(vfsmc, SHIPPED / "buffer-two-updaters--bread-skips-uptodate-recheck.json")
    steps, states = data["steps"], data["states"]
    assert isinstance(steps, list) and isinstance(states, list)
    (stop,) = [
        s["number"]
        for s in steps
        if "T3.bio" in s["changed"] and states[s["number"]]["T3.bio"].startswith("none")
    ]
    assert states[stop]["T3.bio"] == "none (every task returned)"
    assert data["unsetUntil"]["T3.bio"] < stop  # type: ignore[index]


def test_the_panel_shows_unset_fields_alike_and_folds_untouched_ones(
    vfsmc: Run, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    page, _ = _page(vfsmc, PUNCH)
    browser.get(page.as_uri())

    def row(name: str) -> tuple[str, str, str]:
        cell = browser.find_element(By.CSS_SELECTOR, f'#state tr[data-name="{name}"] td.value span')
        return (
            cell.get_attribute("textContent") or "",
            cell.get_attribute("class") or "",
            (cell.get_attribute("title") or ""),
        )

    assert row("T1.writepages") == (
        "\u2014",
        "now unset",
        "unset: no step has set it yet (its renderer shows None)",
    )
    assert (
        row("T3.bio")[:2] == row("xa(/f:1)")[:2] == row("T1.added.0")[:2] == ("\u2014", "now unset")
    )
    assert row("T1.punch_partial") == ("none", "now", "")
    assert row("xa(/f:0)") == ("#0", "now", "")
    cache = browser.find_element(By.CSS_SELECTOR, 'table[data-section="page cache"]').text
    assert "xa(/f:0) #0" in cache
    locks = browser.find_element(By.CSS_SELECTOR, 'details.unchanged[data-section="locks"]')
    assert (
        locks.get_attribute("open") is None
        and not locks.find_element(By.CSS_SELECTOR, 'tr[data-name="rename_lock"]').is_displayed()
    )
    locks.find_element(By.TAG_NAME, "summary").click()
    assert "s_vfs_rename_sem free" in locks.text and "PG_locked(/f:0#1) free" in locks.text
    browser.find_element(By.CSS_SELECTOR, '#step-rows tr[data-step="1"]').click()
    assert row("xa(/f:0)") == (
        "\u2014",
        "now unset",
        "unset: no step has set it yet (its renderer shows NULL)",
    )
    reopened = browser.find_element(By.CSS_SELECTOR, 'details.unchanged[data-section="locks"]')
    assert reopened.get_attribute("open") is not None, "a group opened stays open"
