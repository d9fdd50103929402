"""Options and helpers the vfsmc commands share."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from mc.atomic_write import stream_of
from mc.check.registry import shipped
from mc.cli.completion import complete_property, complete_variant
from mc.cli.errors import F, say
from mc.dsl.scenario import Registry
from mc.engine.explore import LONGEST_TIMER_SECONDS, resident_bytes


def registry() -> Registry:
    """The registry with every shipped model loaded."""
    return shipped()


class NamedPath(click.Path):
    """A path that must name something: an empty one is refused with
    ``refusal``; one that must be a directory is refused where it, or a
    directory above it, is something else (a FIFO, ``/dev/null``, a file),
    and where the directory it would be made in does not exist (a mistyped
    path makes no tree of directories)."""

    def __init__(self, refusal: str, *, file_okay: bool = True, dir_okay: bool = True) -> None:
        super().__init__(file_okay=file_okay, dir_okay=dir_okay, path_type=Path)
        self.refusal = refusal

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "":
            self.fail(self.refusal, param, ctx)
        found = super().convert(value, param, ctx)
        if not self.file_okay and isinstance(found, Path):
            blocking = next(
                (p for p in (found, *found.parents) if p.exists() and not p.is_dir()), None
            )
            if blocking is not None:
                self.fail(f"{found}: {blocking} is not a directory", param, ctx)
            parent = found.absolute().parent
            if not found.exists() and not parent.is_dir():
                self.fail(
                    f"{found}: there is no directory {parent} to make it in "
                    "(vfsmc makes the directory, not those above it)",
                    param,
                    ctx,
                )
        return found


models_option: Callable[[F], F] = click.option(
    "--models",
    "models",
    multiple=True,
    type=NamedPath("an empty path names no model file or directory"),
    help="Load model files: a .py file or a directory of them (repeatable).",
)


def trace_file() -> NamedPath:
    """A counterexample file to read."""
    return NamedPath("an empty path names no counterexample file", dir_okay=False)


def output_file() -> NamedPath:
    """A file to write."""
    return NamedPath("an empty path names no file to write", dir_okay=False)


def out_directory() -> NamedPath:
    """A directory to write into (``.`` names this one)."""
    return NamedPath("an empty path names no directory (give . for this one)", file_okay=False)


class Seconds(click.ParamType[float]):
    """A positive, finite number of seconds (``nan`` and ``inf`` are not),
    at most ``LONGEST_TIMER_SECONDS``."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} is not a positive, finite number of seconds", param, ctx)
        if seconds > LONGEST_TIMER_SECONDS:
            self.fail(
                f"{value!r} seconds is longer than vfsmc times "
                f"(at most {LONGEST_TIMER_SECONDS:,.0f}, about eleven days)",
                param,
                ctx,
            )
        return seconds


class Count(click.ParamType[int]):
    """A whole number of 1 or more (states, depth, workers): ``10``, ``1_000``."""

    name = "count"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            count = value
        else:
            text = str(value).strip()
            if not re.fullmatch(r"[+-]?\d+(?:_\d+)*", text) or len(text) > 30:
                self.fail(f"{value!r} is not a whole number", param, ctx)
            count = int(text)
        if count < 1:
            self.fail(f"{value!r} is not a whole number of 1 or more", param, ctx)
        return count


UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class MemorySize(click.ParamType[int]):
    """Bytes, or a number with a unit: ``512M``, ``2G``, ``1.5g``."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(value))
        if found is None or len(found.group(1)) > 30:
            self.fail(f"{value!r} is not a size (bytes, or a number with K, M, G or T)", param, ctx)
        size = int(float(found.group(1)) * UNITS[found.group(2).lower()])
        if size < 1:
            self.fail(f"{value!r} is less than one byte", param, ctx)
        held = resident_bytes()
        if size <= held:
            self.fail(
                f"{value!r} is less than the {held / 2**20:.0f} MiB vfsmc holds before it "
                "explores anything: a search would stop at once",
                param,
                ctx,
            )
        return size


def time_limit_option(help_text: str) -> Callable[[F], F]:
    """``--time-limit SECONDS``."""
    return click.option("--time-limit", type=Seconds(), help=help_text)


def no_scenario_starting(prefix: str) -> str:
    """What a command filtering scenarios by ``prefix`` says when none is
    left."""
    return f"no scenario starts with {prefix!r} (one a model file declares needs --models FILE)"


WORKERS_PER_CORE = 4
"""How many worker processes a command may have per core of this machine."""


def most_workers() -> int:
    """The most worker processes on this machine (``WORKERS_PER_CORE`` a core)."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def _on_this_machine(_ctx: click.Context, _param: click.Parameter, workers: int) -> int:
    if workers > most_workers():
        raise click.BadParameter(
            f"{workers}: at most {most_workers()} on this machine ({WORKERS_PER_CORE} a core; "
            "more only share the cores)"
        )
    return workers


def processes_option(help_text: str) -> Callable[[F], F]:
    """``--workers COUNT`` of a command whose checks run side by side, each
    in a process of its own (``mc.check.side_by_side``), at most
    ``most_workers``."""
    return click.option(
        "--workers",
        type=Count(),
        default=1,
        show_default=True,
        callback=_on_this_machine,
        help=help_text,
    )


max_memory_option: Callable[[F], F] = click.option(
    "--max-memory",
    type=MemorySize(),
    help="Stop a search (INCOMPLETE) when vfsmc holds this much memory (512M, 2G; default: "
    "what it holds at the start plus 90% of the memory available).",
)


def distinct(
    _context: click.Context, parameter: click.Parameter, given: tuple[str, ...]
) -> tuple[str, ...]:
    """The values of a repeatable option, each once, in the order first
    given; one given twice is said to be taken once."""
    once = tuple(dict.fromkeys(given))
    if len(once) < len(given):
        twice = sorted({value for value in given if given.count(value) > 1})
        option = parameter.opts[0] if parameter.opts else parameter.name
        say("note", f"{option} {', '.join(twice)} given more than once: taken once")
    return once


def in_existing_directory(
    _context: click.Context, _parameter: click.Parameter, path: Path | None
) -> Path | None:
    """An output file's path, whose directory must exist: a typo in it is
    an error, not a new tree of directories."""
    if path is None or stream_of(path) is not None or path.parent.is_dir():
        return path
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise click.BadParameter(f"{path}: {blocking} is not a directory")
    raise click.BadParameter(f"{path}: the directory {path.parent} does not exist")


def not_the_input(output: Path | None, source: Path, what: str) -> None:
    """A usage error when ``output`` is the file ``source`` (``what``) read
    from, or a link to it: writing it would destroy what is read."""
    if output is None or stream_of(output) is not None:
        return
    try:
        same = os.path.samefile(output, source)
    except OSError:  # the output does not exist yet
        return
    if same:
        named = "" if output == source else f" ({source})"
        raise click.BadParameter(
            f"{output} is the {what} being read{named}: writing it would replace it",
            param_hint="-o",
        )


def variant_option(help_text: str) -> Callable[[F], F]:
    """``--variant/-V V``, repeatable, each variant once."""
    return click.option(
        "--variant",
        "-V",
        "variants",
        multiple=True,
        callback=distinct,
        shell_complete=complete_variant,
        help=help_text,
    )


no_property_option: Callable[[F], F] = click.option(
    "--no-property",
    "excluded",
    multiple=True,
    callback=distinct,
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
    idle = [name for name in excluded if name not in base]
    if idle:
        say("note", f"{', '.join(idle)}: not among the properties checked ({', '.join(base)})")
    left = tuple(name for name in base if name not in excluded)
    if not left:
        raise click.UsageError(
            f"--no-property leaves no property to check (of {', '.join(base)}): "
            "a search without properties has no verdict"
        )
    return left


def _reduction_flag(ctx: click.Context, param: click.Parameter, given: bool) -> None:
    """Set ``reduce`` from ``--por`` or ``--no-por``; both given is a usage error."""
    chosen = ctx.meta.setdefault("vfsmc.reduction flags", [])
    if given:
        chosen.append(param.name)
    if len(chosen) > 1:
        raise click.UsageError("--por and --no-por contradict each other; give one")
    ctx.params["reduce"] = chosen[0] == "por" if chosen else True


def por_option(command: F) -> F:
    """``--por`` (the default) and ``--no-por``, given to ``command`` as
    ``reduce``."""
    for name, text in (
        ("no_por", "Explore every order of steps (no partial-order reduction)."),
        ("por", "Partial-order reduction: explore one order of steps that commute (default)."),
    ):
        flag = "--" + name.replace("_", "-")
        command = click.option(
            flag, name, is_flag=True, expose_value=False, callback=_reduction_flag, help=text
        )(command)
    return command
