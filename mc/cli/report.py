"""``vfsmc report FILE.json -o report.html``: a counterexample as one
self-contained HTML page to step through in a browser."""

from __future__ import annotations

from pathlib import Path

import click

from mc.atomic_write import write_atomically
from mc.check import usermodels
from mc.check.checkable import built
from mc.check.marks import variant_marks
from mc.check.recorded import does_not_replay, load_recorded, refuse_inapplicable_properties
from mc.check.registry import with_files
from mc.cli.errors import one_line_errors, wrote
from mc.cli.options import (
    in_existing_directory,
    models_option,
    not_the_input,
    output_file,
    trace_file,
)
from mc.dsl.scenario import UnknownName
from mc.kernel.world import ModelError
from mc.text import printable
from mc.trace import format as cx_format
from mc.trace import graph as render_graph
from mc.trace import report as render_report
from mc.trace.graph import VariantMarks

REPORT_SUFFIXES = ("", ".html", ".htm")
"""What ``report -o`` may be called: an HTML file, or a name without a
suffix (a pipe, ``/dev/stdout``)."""


@click.command("report")
@click.argument("file", type=trace_file())
@click.option(
    "-o",
    "--output",
    type=output_file(),
    required=True,
    callback=in_existing_directory,
    help="The HTML file to write.",
)
@models_option
@one_line_errors
def report_command(file: Path, output: Path, models: tuple[Path, ...]) -> None:
    """Write FILE (a saved counterexample) as one HTML page: the chart, the
    numbered steps, and the whole state after the step clicked or reached
    with the arrow keys, with what it changed highlighted."""
    not_the_input(output, file, "counterexample")
    if output.suffix.lower() not in REPORT_SUFFIXES:
        raise click.BadParameter(
            f"{output}: a report is one HTML page; name it .html "
            "(`vfsmc graph` draws the chart as .png, .svg or .dot)",
            param_hint="-o",
        )
    counterexample = cx_format.load(file)
    reg = with_files(models)
    initial: dict[str, str] | None = None
    locks: set[str] = set()
    marks = VariantMarks()
    note = ""
    try:
        with usermodels.reported():
            load_recorded(reg, file, counterexample, given=bool(models))
            refuse_inapplicable_properties(reg, file, counterexample)
            scenario = reg.scenario(counterexample.scenario)
            model = built(reg, scenario, counterexample.variants, counterexample.properties)
            initial = model.render_state(model.initial)
            locks = {lock.name for lock in model.world.locks}
            marks = variant_marks(reg, counterexample)
    except (UnknownName, ModelError) as error:
        note = (
            f"the scenario could not be built ({error}); the state shows only the fields "
            "the steps changed"
        )
    else:
        unreplayed = does_not_replay(reg, counterexample, refuse_misfit=file)
        if unreplayed is not None:
            note = (
                f"this trace does not replay on today's models ({unreplayed}): the steps are "
                "shown as recorded"
            )
    if note:
        note = counterexample.edit_said(note)
        click.echo(printable(f"vfsmc: warning: {file}: {note}"), err=True)
    try:
        render_graph.refuse_unwieldy(counterexample)
        svg: str | None = render_graph.pipe(
            render_graph.to_dot(counterexample, marks, note or None), "svg"
        ).decode()
    except render_graph.GraphError as error:
        click.echo(f"vfsmc: warning: no chart: {error}", err=True)
        svg = None
    changed = {**marks.after_removed, **marks.changed}
    data = render_report.report_data(counterexample, initial, locks, changed, note)
    write_atomically(output, render_report.render_html(data, svg), errors="backslashreplace")
    wrote(output)
