"""``vfsmc drift --kernel PATH [OPERATION ...]``: whether the models are in
step with a kernel tree.

Exit codes: 0 in step, 1 drift found (one line per finding), 2 bad input
(no such directory, a file that is not C, an unknown operation).
``--summary`` prints one line per operation instead: in step, drifted, a
cited function missing, or not compared.
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
    help="One line per operation: in step, drifted, cited function missing, not compared.",
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


def _summary(reports: list[drifts.Report]) -> None:
    """One line per operation, then the count of each status; exit 1 when
    any operation is not in step."""
    counts: dict[str, int] = {}
    for report in reports:
        status = report.status
        counts[status] = counts.get(status, 0) + 1
        line = f"{report.operation}: {status}"
        if report.note:
            line += f" ({report.note})"
        elif report.findings:
            line += f" ({len(report.findings)} finding{'s' if len(report.findings) != 1 else ''})"
        if report.missing:
            line += ": " + ", ".join(report.missing)
        click.echo(line)
    order = ("in step", "drifted", "cited function missing", "not compared")
    click.echo(", ".join(f"{counts.get(status, 0)} {status}" for status in order))
    sys.exit(1 if any(report.findings for report in reports) else 0)
