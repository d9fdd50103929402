"""Options and helpers the vfsmc commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from mc.check import usermodels
from mc.cli.errors import F
from mc.dsl.scenario import Registry


def registry() -> Registry:
    """The registry with every shipped model loaded."""
    return usermodels.registry()


models_option: Callable[[F], F] = click.option(
    "--models",
    "models",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Load model files: a .py file or a directory of them (repeatable).",
)

por_option: Callable[[F], F] = click.option(
    "--por/--no-por",
    "reduce",
    default=True,
    show_default=True,
    help="Partial-order reduction: explore one order of steps that commute.",
)
