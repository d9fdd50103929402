"""Options and helpers the vfsmc commands share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click

from mc.check.registry import shipped
from mc.cli.completion import complete_property
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


no_property_option: Callable[[F], F] = click.option(
    "--no-property",
    "excluded",
    multiple=True,
    shell_complete=complete_property,
    help="Leave this property out of the ones checked (repeatable).",
)


def without(
    reg: Registry, scenario: str, properties: Sequence[str], excluded: Sequence[str]
) -> tuple[str, ...] | None:
    """The properties to check: ``properties`` (default: the scenario's
    own, None for each scenario's own when ``scenario`` is empty) less
    ``excluded``; an unknown excluded name is an error."""
    for name in excluded:
        reg.property(name)
    if not excluded:
        return tuple(properties) or None
    base = tuple(properties) or (reg.scenario(scenario).properties if scenario else ())
    if not base:
        return None
    return tuple(name for name in base if name not in excluded)
