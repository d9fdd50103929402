"""The model files a counterexample came from: recorded when it is saved
(relative to the file, so a suite can move), loaded when it is replayed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import attrs

from mc.check import usermodels
from mc.check.checkable import built
from mc.check.checker import IneffectiveVariant, refuse_ineffective
from mc.check.inventory import check_applicable
from mc.check.replay import ThreadsDiffer, replay
from mc.dsl.scenario import NotApplicable, Registry, Scenario, UnknownName
from mc.kernel.world import ModelError
from mc.project import ROOT
from mc.trace.format import Counterexample, FormatError


def _user_file(declared_file: str) -> Path | None:
    if declared_file.startswith("models/") or declared_file == "?":
        return None
    path = Path(declared_file)
    return path if path.is_absolute() else ROOT / path


def model_files(registry: Registry, scenario: Scenario, variants: Sequence[str]) -> list[Path]:
    """The model files outside the shipped models that declared ``scenario``
    or one of ``variants`` or of the variants its protocol is made of."""
    declared = [scenario.declared] + [
        registry.variants[name].declared
        for name in (*scenario.variants, *variants)
        if name in registry.variants
    ]
    found: list[Path] = []
    for source in declared:
        path = None if source is None else _user_file(source.file)
        if path is not None and path not in found:
            found.append(path)
    return found


def recording(
    counterexample: Counterexample, files: Sequence[Path], saved_in: Path
) -> Counterexample:
    """``counterexample`` naming ``files`` relative to the directory it is
    saved in, both with symbolic links resolved (``load_recorded`` resolves
    them too, so a directory reached through a link finds the files)."""
    if not files:
        return counterexample
    base = saved_in.resolve()
    named = tuple(os.path.relpath(path.resolve(), base) for path in files)
    return attrs.evolve(counterexample, models=named)


def recorded_in(
    registry: Registry,
    scenario: Scenario,
    variants: Sequence[str],
    counterexample: Counterexample,
    directory: Path,
) -> Counterexample:
    """``counterexample`` (of ``scenario`` under ``variants``) as a file in
    ``directory`` holds it: naming the model files outside the shipped
    models that declared them (``model_files``, ``recording``)."""
    return recording(counterexample, model_files(registry, scenario, variants), directory)


def save_recorded(
    registry: Registry,
    scenario: Scenario,
    variants: Sequence[str],
    counterexample: Counterexample,
    path: Path,
) -> None:
    """Save ``counterexample`` (of ``scenario`` under ``variants``) at
    ``path`` atomically, recording the model files outside the shipped
    models that declared them, so ``vfsmc replay`` and ``vfsmc graph``
    load them without ``--models``."""
    recorded_in(registry, scenario, variants, counterexample, path.parent).save(path)


SAVED_IN = ("counterexamples", "mutations")
"""The folders ``default_out`` saves traces into, beside their model file."""


class RefusedModelFile(FormatError):
    """A counterexample naming a model file outside the trees vfsmc loads
    a trace's model files from: a trace is data, and the file it names is
    Python that loading would run."""


def _inside(file: Path, roots: Sequence[Path]) -> bool:
    """Whether ``file`` (symbolic links resolved) is one of ``roots`` or
    lies in the tree of one of them."""
    real = Path(os.path.realpath(file))
    return any(real == root or real.is_relative_to(root) for root in roots)


def recorded_files(
    path: Path, counterexample: Counterexample, allowed: Sequence[Path] = ()
) -> list[Path]:
    """The model files ``counterexample`` (saved at ``path``) records,
    before any is loaded.  Each must lie in the current directory's tree,
    in the tree of ``path``'s directory (of the folder holding it, when
    that is a ``counterexamples/`` or ``mutations/`` folder, where check
    and mutate save a trace beside its model file), or in one of
    ``allowed`` (the files and directories given with ``--models``),
    symbolic links resolved: else ``RefusedModelFile``, since a trace
    someone sent is data and must not run a file elsewhere on this
    machine.  A recorded file that is no longer where it was (the
    counterexample was moved, or the file) is a ``ModelError``."""
    saved_in = path.parent.parent if path.parent.name in SAVED_IN else path.parent
    roots = [Path(os.path.realpath(p)) for p in (Path.cwd(), saved_in, *allowed)]
    found: list[Path] = []
    for name in counterexample.models:
        file = Path(os.path.abspath(path.parent.resolve() / name))
        if not file.exists():
            file = Path(os.path.abspath(path.parent / name))
        if not file.exists():
            raise ModelError(
                f"{path}: records model file {name}, which is not at {file} "
                "(pass the file with --models FILE)"
            )
        if not _inside(file, roots):
            raise RefusedModelFile(
                f"{path}: records model file {name}, which lies outside the current "
                "directory and the trace's folder, so it is not run: if you trust it, "
                f"run vfsmc from a directory above it or pass it with --models {file}"
            )
        found.append(file)
    return found


def load_recorded(
    registry: Registry,
    path: Path,
    counterexample: Counterexample,
    given: bool = False,
    allowed: Sequence[Path] = (),
) -> None:
    """Add the model files ``counterexample`` (saved at ``path``) records to
    ``registry``, each checked by ``recorded_files`` before any is loaded.
    When model files were ``given`` (``--models``, already in ``registry``)
    they stand in for the recorded ones, which are not loaded, whether
    they are still there or not: a changed copy of a recorded file
    declares the same names, and replaying a trace against the copy is
    what it is for."""
    if given:
        return
    for file in recorded_files(path, counterexample, allowed):
        for module in usermodels.load(file):
            usermodels.add(registry, module)


def refuse_inapplicable_properties(
    registry: Registry, path: Path, counterexample: Counterexample
) -> None:
    """A ``FormatError`` naming ``path`` when ``counterexample`` records a
    property its scenario gives nothing to check (no-lost-write of a
    scenario without a block device): no search saves one, so the file
    was edited or names another scenario's properties."""
    if counterexample.scenario not in registry.scenarios:
        return
    try:
        check_applicable(
            registry, registry.scenario(counterexample.scenario), counterexample.properties
        )
    except NotApplicable as error:
        raise FormatError(f"{path}: field 'properties': {error}") from None


def default_out(scenario: str) -> Path:
    """Where ``vfsmc check`` saves counterexamples: beside the model file
    for ``FILE.py:NAME`` (its suite's ``counterexamples/``, which
    ``regress --models`` replays), else ``counterexamples``; ``vfsmc
    mutate`` saves into ``mutations`` beside it."""
    if ".py:" in scenario:
        return Path(scenario.split(".py:", 1)[0] + ".py").parent / "counterexamples"
    return Path("counterexamples")


def does_not_replay(
    registry: Registry, counterexample: Counterexample, refuse_misfit: Path | None = None
) -> str | None:
    """Why ``counterexample`` does not reach its violation on today's
    models of ``registry`` (its scenario gone, a step that differs, a trace
    cut short), or None when it does.  With ``refuse_misfit`` (the file's
    path), a file that does not fit its scenario (other threads, a witness
    outside a symbol's range: ``ThreadsDiffer``) is raised naming the
    file, as ``vfsmc replay`` refuses it, instead of being one more
    reason, and so is one under a variant that changes nothing in its
    scenario today (``IDLE_VARIANT``)."""
    try:
        with usermodels.reported():
            scenario = registry.scenario(counterexample.scenario)
            model = built(registry, scenario, counterexample.variants, counterexample.properties)
            report = replay(model, counterexample)
            if refuse_misfit is not None:
                refuse_ineffective(registry, model, scenario, counterexample.variants)
    except ThreadsDiffer as error:
        if refuse_misfit is not None:
            raise ThreadsDiffer(f"{refuse_misfit}: {error}") from None
        return str(error)
    except IneffectiveVariant as error:
        raise IneffectiveVariant(f"{refuse_misfit}: {error}: {IDLE_VARIANT}") from None
    except (UnknownName, ModelError) as error:
        return str(error)
    if report.reproduced:
        return None
    where = f"at step {report.stopped_at}: " if report.stopped_at is not None else ""
    return f"{where}{report.reason}"


IDLE_VARIANT = (
    "a trace recorded under a variant that changes nothing owes nothing to it, and check "
    "refuses such a variant: drop it from the trace's variants"
)


def edited_since_saved(file: Path) -> str:
    """What is said of ``file``, a counterexample edited since vfsmc saved
    it (``Counterexample.edited``)."""
    return f"{file}: edited since vfsmc saved it (its digest no longer matches its fields)"


def edited_and_lost(file: Path, stopped_at: int | None, reason: str) -> str:
    """Why an edited counterexample (``file``) that does not reproduce is
    refused, not counted as a fix or a lost counterexample: a replay of
    an edited file that fails is no evidence (one line, control
    characters left to the caller to escape)."""
    where = f"step {stopped_at}: " if stopped_at is not None else ""
    return (
        f"{edited_since_saved(file)}, and it does not reproduce ({where}{reason}): an edited "
        "file is no evidence of a fix; drop its 'digest' field to replay it as a trace of "
        "your own"
    )
