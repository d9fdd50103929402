"""``vfsmc drift --kernel PATH [OPERATION ...]``: whether the models are in
step with a kernel tree.

Exit codes: 0 in step, 1 drift found (one line per finding), 2 bad input
(no such directory, a file that is not C, an unknown operation).
``--summary`` prints one line per operation instead: in step, drifted, a
cited function missing, or not compared, with how many kernel functions it
cites (how many of them are missing) and how many findings it has; then the
operations counted by status and the kernel functions by whether the tree
has them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mc.check import drift as drifts
from mc.check.registry import shipped_modules, with_files
from mc.cli.errors import one_line_errors
from mc.cli.options import models_option


@click.command("drift")
@click.option(
    "--kernel",
    "kernel",
    required=True,
    type=click.Path(path_type=Path),
    help="The root of a kernel source tree.",
)
@click.option(
    "--summary",
    is_flag=True,
    help="One line per operation: in step, drifted, cited function missing or not "
    "compared, with the kernel functions it cites and its findings counted; then the "
    "totals.",
)
@models_option
@click.argument("operations", nargs=-1)
@one_line_errors
def drift_command(
    kernel: Path, summary: bool, models: tuple[Path, ...], operations: tuple[str, ...]
) -> None:
    """Compare the kernel functions each OPERATION cites (all operations by
    default) with what its model does: one line per finding, exit 1 on drift."""
    registry = with_files(models)
    reports = drifts.drift(registry, kernel, tuple(dict.fromkeys(operations)), shipped_modules())
    if summary:
        _summary(reports)
    found = 0
    for report in reports:
        if report.note:
            click.echo(f"{report.operation}: not compared: {report.note}")
            continue
        for finding in report.findings:
            click.echo(str(finding))
        found += len(report.findings)
        if not report.findings:
            functions = ", ".join(f"{name}()" for name in report.functions)
            click.echo(
                f"{report.operation}: in step: {report.kernel_calls} kernel calls in "
                f"{functions}; {report.model_calls} model steps"
            )
    findings = f"{found} finding{'s' if found != 1 else ''}"
    count = len(reports)
    click.echo(f"{findings} in {count} operation{'s' if count != 1 else ''}")
    sys.exit(1 if found else 0)


def _counted(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def summary_line(report: drifts.Report) -> str:
    """One operation's line of ``--summary``: its status, how many kernel
    functions it cites (and of those, how many the tree lacks, named), and
    how many findings the full run prints for it."""
    if report.note:
        return f"{report.operation}: {report.status} ({report.note})"
    cited = _counted(len(report.cited), "cited function")
    if report.missing:
        cited = f"{len(report.missing_functions)} of {cited}"
    counts = [cited]
    if report.findings:
        counts.append(_counted(len(report.findings), "finding"))
    line = f"{report.operation}: {report.status} ({', '.join(counts)})"
    if report.missing:
        line += ": " + ", ".join(report.missing)
    return line


def totals_lines(reports: list[drifts.Report]) -> list[str]:
    """The closing lines of ``--summary``: the operations by status, then
    the kernel functions the compared ones cite (each counted once, however
    many operations cite it), how many of those the tree lacks, and the
    findings."""
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.status] = counts.get(report.status, 0) + 1
    order = ("in step", "drifted", "cited function missing", "not compared")
    statuses = ", ".join(f"{counts.get(status, 0)} {status}" for status in order)
    compared = [report for report in reports if not report.note]
    cited = {name for report in compared for name in report.cited}
    missing = {name for report in compared for name in report.missing_functions}
    found = sum(len(report.findings) for report in compared)
    return [
        f"{_counted(len(reports), 'operation')}: {statuses}",
        f"{_counted(len(cited), 'kernel function')} cited by the "
        f"{_counted(len(compared), 'operation')} compared: {len(missing)} missing; "
        f"{_counted(found, 'finding')}",
    ]


def _summary(reports: list[drifts.Report]) -> None:
    """One line per operation, then the count of operations in each status
    and of the kernel functions they cite; exit 1 when any operation is not
    in step."""
    for report in reports:
        click.echo(summary_line(report))
    for line in totals_lines(reports):
        click.echo(line)
    sys.exit(1 if any(report.findings for report in reports) else 0)
