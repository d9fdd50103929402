"""A counterexample as one self-contained HTML page: the chart, the
numbered steps with their kernel code and model line, and for the step
clicked (or reached with the arrow keys) the whole state after it, grouped
(locks with holders and waiters, threads, tree, page cache, mappings,
device, path condition), with what the step changed highlighted, the
fields no step has set yet shown as unset, and those the trace never
changes folded away in each section.

Nothing is loaded from the network: the chart is inline SVG, the styles and
the script are in the page, and the data is one JSON object in it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from mc.text import printable
from mc.trace.format import Counterexample
from mc.trace.text import headline

SECTIONS = (
    "locks",
    "threads",
    "tree",
    "page cache",
    "mappings",
    "device",
    "path condition",
    "other",
)
_PATTERNS = (
    ("threads", re.compile(r"^T\d+\.")),
    ("tree", re.compile(r"^(dentry|d_parent|nlink|S_DEAD)\(")),
    (
        "page cache",
        re.compile(r"^(folio|folio references|xa|xa_marks|dax_entry|i_block|i_size|stale)\("),
    ),
    ("mappings", re.compile(r"^(pte|dax_pte)\(")),
    ("device", re.compile(r"^(block \d+|free blocks|bios in flight( ?\(.*\))?)$")),
    ("path condition", re.compile(r"^path condition$")),
)
_LOCK_VALUE = re.compile(r"^(free|seq \d+.*|T\d+( .*)?|.*waiting.*)$")
_THREAD_SLOT = re.compile(r"^T\d+\.(?!ret$)")
"""A thread's registers and its other slots but ``ret``: each starts as
None, whatever its renderer makes of that (``negative``, ``nothing yet``,
``none (every task returned)``)."""
EMPTY = frozenset({"None", "none", "NULL", "-"})
"""How the models render None, the initial value of a slot that holds
nothing yet."""


def section_of(name: str, locks: Collection[str]) -> str:
    """The section of the state a field is shown in."""
    if name in locks:
        return "locks"
    for section, pattern in _PATTERNS:
        if pattern.match(name):
            return section
    return "other"


def states_of(
    counterexample: Counterexample, initial: Mapping[str, str] | None
) -> list[dict[str, str]]:
    """The rendered state before the first step and after each step:
    ``initial`` (the scenario's initial state, when the model could be
    built) with each step's changes applied in turn.  Without it, the
    fields no step changed are unknown and the others start as ``?``."""
    state = dict(initial or {})
    if initial is None:
        for step in counterexample.steps:
            for name in step.changed:
                state.setdefault(name, "?")
    states = [dict(state)]
    for step in counterexample.steps:
        state.update(step.changed)
        states.append(dict(state))
    return states


def unset_until(
    counterexample: Counterexample, initial: Mapping[str, str] | None
) -> dict[str, int]:
    """The fields that start unset, each with the number of the first step
    that sets it (one past the last step if none does): a thread's slot but
    its ``ret``, or another slot rendered as one of ``EMPTY``, that no step
    run as the threads start sets.  Without the initial state, none."""
    if initial is None:
        return {}
    started = {name for step in counterexample.started for name in step.changed}
    until = {
        name: len(counterexample.steps) + 1
        for name, value in initial.items()
        if name not in started and (_THREAD_SLOT.match(name) or value in EMPTY)
    }
    for number, step in reversed(list(enumerate(counterexample.steps, start=1))):
        for name in step.changed:
            if name in until:
                until[name] = number
    return until


def unchanged(counterexample: Counterexample, names: Collection[str]) -> list[str]:
    """Those of ``names`` no step of the trace changes, in their order: at
    their initial value throughout (a step run as the threads start
    counts, though the state shown before the first step has its change)."""
    steps = (*counterexample.started, *counterexample.steps)
    changed = {name for step in steps for name in step.changed}
    return [name for name in names if name not in changed]


def report_data(
    counterexample: Counterexample,
    initial: Mapping[str, str] | None,
    locks: Collection[str] = (),
    marked: Mapping[int, str] | None = None,
    model_note: str = "",
) -> dict[str, Any]:
    """The data the page's script shows, every text in it with its control
    and format characters escaped (``printable``)."""
    states = states_of(counterexample, initial)
    names = list(states[-1])
    lock_names = set(locks) or {
        n
        for n in names
        if any(s.event.lock == n for s in counterexample.steps)
        or (_LOCK_VALUE.match(states[0].get(n, "")) is not None and not n.startswith("T"))
    }
    marked = marked or {}
    data = {
        "title": headline(counterexample),
        "scenario": counterexample.scenario,
        "variants": list(counterexample.variants),
        "property": counterexample.property,
        "message": counterexample.message,
        "witness": counterexample.witness,
        "threads": [{"name": n, "operation": o} for n, o in counterexample.threads],
        "cycle": [e.text() for e in counterexample.cycle],
        "note": model_note,
        "sections": {name: section_of(name, lock_names) for name in names},
        "order": list(SECTIONS),
        "states": states,
        "unsetUntil": unset_until(counterexample, initial),
        "unchanged": unchanged(counterexample, names),
        "started": [f"{step.thread} {step.label}" for step in counterexample.started],
        "steps": [
            {
                "number": number,
                "thread": step.thread,
                "chained": step.chained,
                "branch": step.branch,
                "operation": step.operation,
                "label": step.label,
                "kind": step.event.kind,
                "event": step.event.text,
                "source": step.source,
                "function": step.function,
                "changed": sorted(step.changed),
                "variant": marked.get(number, ""),
            }
            for number, step in enumerate(counterexample.steps, start=1)
        ],
    }
    shown: dict[str, Any] = _printable(data)
    return shown


def _printable(value: Any) -> Any:
    """``value`` with ``printable`` applied to every string in it, keys too."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


STYLE = """
body { font-family: sans-serif; margin: 0; color: #222; height: 100vh; overflow: hidden;
       display: flex; flex-direction: column; }
header { padding: 8px 16px; background: #f4f4f4; border-bottom: 1px solid #ccc; }
header h1 { font-size: 18px; margin: 4px 0; }
header p { margin: 2px 0; font-size: 13px; }
.violation { color: #b00; }
main { display: flex; flex: 1; min-height: 0; }
#steps { flex: 0 0 46%; overflow: auto; border-right: 1px solid #ccc; }
#state { flex: 1; overflow: auto; padding: 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
td, th { padding: 2px 6px; vertical-align: top; text-align: left; }
#steps tr.step { cursor: pointer; border-top: 1px solid #eee; }
#steps tr.step:hover { background: #f0f6ff; }
#steps tr.selected { background: #cfe3ff; }
#steps tr.chained td.thread { color: #999; }
#steps tr.kind-error td { color: #b00; }
td.num { text-align: right; color: #666; }
td.code { font-family: monospace; }
td.source { font-family: monospace; color: #666; white-space: nowrap; }
.variant { background: #fff2b3; border: 1px solid #d9b300; border-radius: 3px;
           font-size: 11px; padding: 0 3px; }
#state h2 { font-size: 14px; margin: 12px 0 4px; }
#state h3 { font-size: 13px; margin: 10px 0 2px; color: #555; }
#state td.name { font-family: monospace; white-space: nowrap; }
#state td.value { font-family: monospace; }
#state tr.changed { background: #ffe08a; font-weight: bold; }
#state td.was { color: #888; font-weight: normal; }
#state .unset { color: #aaa; font-weight: normal; }
#state details.unchanged { padding: 0 0 0 4px; font-size: 12px; color: #555; }
#state details.unchanged summary { cursor: pointer; }
#chart { overflow: auto; max-height: 38vh; border-bottom: 1px solid #ccc; }
#chart svg { height: auto; }
#chart g.current text { fill: #0057d9; font-weight: bold; font-size: 16px; }
#state table { width: auto; }
details { padding: 4px 16px; }
"""

SCRIPT = """
const data = JSON.parse(document.getElementById('report-data').textContent);
let current = data.steps.length;
function esc(text) {
  const span = document.createElement('span');
  span.textContent = text;
  return span.innerHTML;
}
function attr(text) {
  return esc(text).replace(/"/g, '&quot;');
}
function stepRows() {
  const body = document.getElementById('step-rows');
  const started = data.started.map(s => '<br><small>as it starts: ' + esc(s) + '</small>');
  const rows = ['<tr class="step" data-step="0"><td class="num">0</td><td></td>' +
    '<td class="code" colspan="2">initial state' + started.join('') + '</td><td></td></tr>'];
  for (const s of data.steps) {
    const mark = s.variant ? ' <span class="variant" title="' + esc(s.variant) +
      '">variant</span>' : '';
    rows.push('<tr class="step kind-' + s.kind + (s.chained ? ' chained' : '') +
      '" data-step="' + s.number + '"><td class="num">' + s.number + '</td>' +
      '<td class="thread">' + esc(s.thread) + '</td>' +
      '<td class="code">' + esc(s.label) + mark +
      (s.event !== s.label ? '<br><small>' + esc(s.event) + '</small>' : '') +
      '</td><td class="source">' + esc(s.source) + '<br><small>' +
      esc(s.function) + '</small></td></tr>');
  }
  body.innerHTML = rows.join('');
  for (const row of body.querySelectorAll('tr.step')) {
    row.addEventListener('click', () => select(Number(row.dataset.step)));
  }
}
const unchanged = new Set(data.unchanged);
const openUnchanged = new Set();
function shownValue(state, name, n, cls) {
  const until = data.unsetUntil[name];
  if (until !== undefined && n < until) {
    const title = 'unset: no step has set it yet (its renderer shows ' + state[name] + ')';
    return '<span class="' + cls + ' unset" title="' + attr(title) + '">\u2014</span>';
  }
  return '<span class="' + cls + '">' + esc(state[name]) + '</span>';
}
function fieldRows(names, n, changed) {
  const state = data.states[n];
  const rows = [];
  for (const name of names) {
    const isChanged = changed.has(name);
    const was = isChanged && n > 0 && data.states[n - 1][name] !== undefined ?
      'was ' + shownValue(data.states[n - 1], name, n - 1, 'before') : '';
    rows.push('<tr class="field' + (isChanged ? ' changed' : '') + '" data-name="' +
      attr(name) + '"><td class="name">' + esc(name) + '</td><td class="value">' +
      shownValue(state, name, n, 'now') + '</td><td class="was">' + was + '</td></tr>');
  }
  return rows.join('');
}
function showState(n) {
  const state = data.states[n];
  const changed = new Set(n > 0 ? data.steps[n - 1].changed : []);
  const groups = {};
  for (const name of Object.keys(state)) {
    const section = data.sections[name] || 'other';
    (groups[section] = groups[section] || []).push(name);
  }
  const step = n > 0 ? data.steps[n - 1] : null;
  const parts = ['<h2 id="state-title">' + (step ? 'after step ' + n + ': ' +
    esc(step.thread) + ' ' + esc(step.label) : 'initial state') + '</h2>'];
  for (const section of data.order) {
    if (!groups[section]) continue;
    const moved = groups[section].filter(name => !unchanged.has(name));
    const still = groups[section].filter(name => unchanged.has(name));
    parts.push('<h3>' + section + '</h3>');
    if (moved.length) {
      parts.push('<table class="section" data-section="' + section + '">' +
        fieldRows(moved, n, changed) + '</table>');
    }
    if (still.length) {
      parts.push('<details class="unchanged" data-section="' + section + '"' +
        (openUnchanged.has(section) ? ' open' : '') + '><summary>unchanged by this trace (' +
        still.length + ')</summary><table class="section-unchanged">' +
        fieldRows(still, n, changed) + '</table></details>');
    }
  }
  const panel = document.getElementById('state');
  panel.innerHTML = parts.join('');
  for (const details of panel.querySelectorAll('details.unchanged')) {
    details.addEventListener('toggle', () => {
      if (details.open) openUnchanged.add(details.dataset.section);
      else openUnchanged.delete(details.dataset.section);
    });
  }
}
function select(n) {
  current = Math.max(0, Math.min(data.steps.length, n));
  for (const row of document.querySelectorAll('#step-rows tr.step')) {
    row.classList.toggle('selected', Number(row.dataset.step) === current);
  }
  const row = document.querySelector('#step-rows tr[data-step="' + current + '"]');
  if (row) row.scrollIntoView({block: 'nearest'});
  for (const g of document.querySelectorAll('#chart g.current')) g.classList.remove('current');
  const node = document.getElementById('chart-step-' + current);
  if (node) { node.classList.add('current'); node.scrollIntoView({block: 'nearest'}); }
  else if (current === 0) document.getElementById('chart').scrollTop = 0;
  showState(current);
  document.getElementById('position').textContent = current + ' / ' + data.steps.length;
}
document.addEventListener('keydown', (event) => {
  if (event.key === 'ArrowDown' || event.key === 'ArrowRight' || event.key === 'j') {
    select(current + 1); event.preventDefault();
  } else if (event.key === 'ArrowUp' || event.key === 'ArrowLeft' || event.key === 'k') {
    select(current - 1); event.preventDefault();
  } else if (event.key === 'Home') { select(0); event.preventDefault(); }
  else if (event.key === 'End') { select(data.steps.length); event.preventDefault(); }
});
stepRows();
select(data.steps.length);
"""


def render_html(data: Mapping[str, Any], svg: str | None) -> str:
    """The page for ``data`` (``report_data``) with the chart ``svg``."""
    payload = json.dumps(data).replace("<", "\\u003c")
    variants = ", ".join(data["variants"]) or "none (the correct protocol)"
    threads = "".join(
        f"<li>{html.escape(t['name'])}: {html.escape(t['operation'])}</li>" for t in data["threads"]
    )
    witness = ", ".join(f"{k}={v}" for k, v in data["witness"].items())
    witnessed = f"; witness: {html.escape(witness)}" if witness else ""
    message = f"{html.escape(data['property'])}: {html.escape(data['message'])}"
    chart = _strip_prolog(svg) if svg else "<p>(no chart: graphviz is not installed)</p>"
    note = f"<p>{html.escape(data['note'])}</p>" if data["note"] else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(data["title"])}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1 id="headline">{html.escape(data["title"])}</h1>
<p class="violation" id="message">{message}</p>
<p>scenario {html.escape(data["scenario"])}; variants: {html.escape(variants)}{witnessed};
step <span id="position"></span> (click a step, or use the arrow keys)</p>
{note}
</header>
<details open><summary>threads and chart</summary>
<ul>{threads}</ul>
<div id="chart">{chart}</div>
</details>
<main>
<div id="steps"><table><thead><tr><th>#</th><th>thread</th><th>kernel code / what it did</th>
<th>model line</th></tr></thead><tbody id="step-rows"></tbody></table></div>
<div id="state"></div>
</main>
<script type="application/json" id="report-data">{payload}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _strip_prolog(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
