"""Options and helpers the vfsmc commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from mc.check.registry import shipped
from mc.cli.errors import F
from mc.dsl.scenario import Registry


def registry() -> Registry:
    """The registry with every shipped model loaded."""
    return shipped()


models_option: Callable[[F], F] = click.option(
    "--models",
    "models",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Load model files: a .py file or a directory of them (repeatable).",
)
