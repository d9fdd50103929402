"""Shell completion of scenario, variant and property names (click's
completion: ``eval "$(_VFSMC_COMPLETE=bash_source vfsmc)"``)."""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem

from mc.check.registry import shipped


def _items(names: dict[str, str], incomplete: str) -> list[CompletionItem]:
    return [
        CompletionItem(name, help=description)
        for name, description in sorted(names.items())
        if name.startswith(incomplete)
    ]


def complete_scenario(
    _ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The shipped scenarios whose names start with ``incomplete``."""
    return _items({n: s.description for n, s in shipped().scenarios.items()}, incomplete)


def complete_variant(
    _ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The shipped variants whose names start with ``incomplete``."""
    return _items({n: v.description for n, v in shipped().variants.items()}, incomplete)


def complete_property(
    _ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The properties whose names start with ``incomplete``."""
    return _items({n: p.description for n, p in shipped().properties.items()}, incomplete)
