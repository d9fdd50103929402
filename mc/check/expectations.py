"""Recorded expectations: scenario x variants -> verdict (and the violated
property), with a baseline of distinct states, read from
``specs/expectations.toml``."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from mc.engine.result import Verdict
from mc.project import SPECS
from mc.text_files import TOML_LARGEST, UnreadableText, read_text

DEFAULT_PATH = SPECS / "expectations.toml"


class ExpectationError(ValueError):
    """A malformed expectations file."""


@attrs.frozen
class Expectation:
    """One row: checking ``scenario`` under ``variants`` gives ``verdict``."""

    scenario: str
    variants: tuple[str, ...]
    verdict: Verdict
    violated: str | None = None
    """The property a VIOLATED row expects to be violated."""
    states: int | None = None
    """The baseline: distinct states the check stored (None until recorded)."""
    properties: tuple[str, ...] | None = None
    """The properties checked (None: the scenario's own)."""
    without: tuple[str, ...] = ()
    """Properties of the scenario's own the row leaves out (with
    ``properties`` None): ``without = ["spec-conformance"]`` for a
    variant that breaks the rule table, to see what it leads to."""

    @property
    def label(self) -> str:
        checked = f" ({', '.join(self.properties)})" if self.properties is not None else ""
        if self.without:
            checked = f" (without {', '.join(self.without)})"
        return f"{self.scenario} [{', '.join(self.variants) or 'correct'}]{checked}"

    def checked(self, own: Sequence[str]) -> tuple[str, ...] | None:
        """The properties the row checks of a scenario whose own are
        ``own``: its ``properties``, the scenario's less ``without``, or
        None (the scenario's own)."""
        if self.without:
            return tuple(name for name in own if name not in self.without)
        return self.properties


def _row(raw: Any, where: str) -> Expectation:
    if not isinstance(raw, dict):
        raise ExpectationError(f"{where}: must be a table")
    unknown = set(raw) - {
        "scenario",
        "variants",
        "verdict",
        "property",
        "states",
        "properties",
        "without",
    }
    if unknown:
        raise ExpectationError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    for field in ("scenario", "verdict"):
        if field not in raw:
            raise ExpectationError(f"{where}: field {field!r} is missing")
    scenario = raw.get("scenario")
    if not isinstance(scenario, str):
        raise ExpectationError(f"{where}: field 'scenario' must be a string")
    variants = raw.get("variants", [])
    if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
        raise ExpectationError(f"{where}: field 'variants' must be a list of strings")
    twice = sorted({v for v in variants if variants.count(v) > 1})
    if twice:
        raise ExpectationError(f"{where}: field 'variants' names {twice[0]!r} twice")
    if raw.get("verdict") not in (Verdict.OK.value, Verdict.VIOLATED.value):
        raise ExpectationError(f"{where}: field 'verdict' must be OK or VIOLATED")
    verdict = Verdict(raw["verdict"])
    prop = raw.get("property")
    if verdict is Verdict.VIOLATED and not isinstance(prop, str):
        raise ExpectationError(f"{where}: a VIOLATED row needs field 'property'")
    if verdict is not Verdict.VIOLATED and prop is not None:
        raise ExpectationError(f"{where}: only a VIOLATED row has a 'property'")
    states = raw.get("states")
    if states is not None and (not isinstance(states, int) or isinstance(states, bool)):
        raise ExpectationError(f"{where}: field 'states' must be an integer")
    if states is not None and states < 1:
        raise ExpectationError(f"{where}: field 'states' must be at least 1")
    properties = raw.get("properties")
    if properties is not None and (
        not isinstance(properties, list)
        or not properties
        or not all(isinstance(p, str) for p in properties)
    ):
        raise ExpectationError(f"{where}: field 'properties' must be a non-empty list of strings")
    if properties is not None and prop is not None and prop not in properties:
        raise ExpectationError(f"{where}: property {prop!r} is not among the 'properties' checked")
    without = raw.get("without", [])
    if not isinstance(without, list) or not all(isinstance(p, str) for p in without):
        raise ExpectationError(f"{where}: field 'without' must be a list of strings")
    if without and properties is not None:
        raise ExpectationError(
            f"{where}: give 'properties' (what the row checks) or 'without' (what it leaves "
            "out of the scenario's own), not both"
        )
    if prop is not None and prop in without:
        raise ExpectationError(f"{where}: property {prop!r} is among those 'without' leaves out")
    chosen = None if properties is None else tuple(properties)
    return Expectation(scenario, tuple(variants), verdict, prop, states, chosen, tuple(without))


def load(path: Path = DEFAULT_PATH) -> list[Expectation]:
    """Read and validate the expectations file."""
    try:
        text = read_text(path, "an expectations file", TOML_LARGEST)
    except UnreadableText as error:
        raise ExpectationError(str(error)) from None
    return parse(text, path)


def parse(text: str, path: Path = DEFAULT_PATH) -> list[Expectation]:
    """Validate the text of an expectations file (``path`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ExpectationError(f"{path}: {error}") from None
    except RecursionError:
        raise ExpectationError(f"{path}: not TOML vfsmc can read: nested too deeply") from None
    except ValueError as error:
        reason = str(error).split(":")[0]
        raise ExpectationError(f"{path}: not TOML vfsmc can read: {reason}") from None
    rows = data.get("expect", [])
    if not isinstance(rows, list):
        raise ExpectationError(f"{path}: 'expect' must be an array of tables")
    found = [_row(raw, f"{path}: expect[{i}]") for i, raw in enumerate(rows)]
    first: dict[tuple[object, ...], int] = {}
    for i, row in enumerate(found):
        key = (row.scenario, frozenset(row.variants), row.properties, frozenset(row.without))
        if key in first:
            raise ExpectationError(
                f"{path}: expect[{i}] checks what expect[{first[key]}] checks ({row.label}): "
                "one row each"
            )
        first[key] = i
    return found
