"""Shell completion of scenario, variant and property names (click's
completion: ``eval "$(_VFSMC_COMPLETE=bash_source vfsmc)"``), with those
the ``--models`` files given before the word declare."""

from __future__ import annotations

from pathlib import Path

import click
from click.shell_completion import CompletionItem

from mc.check.registry import with_files
from mc.check.usermodels import add, load
from mc.dsl.scenario import Registry


def _items(names: dict[str, str], incomplete: str) -> list[CompletionItem]:
    return [
        CompletionItem(name, help=description)
        for name, description in sorted(names.items())
        if name.startswith(incomplete)
    ]


def _registry(ctx: click.Context) -> Registry:
    """What vfsmc ships and what the ``--models`` files given so far
    declare (a file that does not load adds nothing: completion says no
    more than what it can)."""
    try:
        return with_files(ctx.params.get("models") or ())
    except Exception:
        return with_files(())


def complete_scenario(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The scenarios whose names start with ``incomplete``; after
    ``FILE.py:``, the scenarios that file declares, as ``FILE.py:NAME``."""
    file, colon, _name = incomplete.rpartition(":")
    if colon and file.endswith(".py"):
        mine = with_files(())
        try:
            declared = [name for module in load(Path(file)) for name in add(mine, module)]
        except Exception:
            return []
        found = {f"{file}:{name}": mine.scenarios[name].description for name in declared}
        return _items(found, incomplete)
    return _items({n: s.description for n, s in _registry(ctx).scenarios.items()}, incomplete)


def complete_variant(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The variants whose names start with ``incomplete``."""
    return _items({n: v.description for n, v in _registry(ctx).variants.items()}, incomplete)


def complete_property(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The properties whose names start with ``incomplete``."""
    return _items({n: p.description for n, p in _registry(ctx).properties.items()}, incomplete)


def complete_explained(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The properties, then the variants, whose names start with
    ``incomplete`` (``explain`` takes either)."""
    reg = _registry(ctx)
    named = {n: p.description for n, p in reg.properties.items()}
    named.update({n: v.description for n, v in reg.variants.items() if n not in named})
    return _items(named, incomplete)
