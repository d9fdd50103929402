"""Model files written outside the repository, and errors in any model
reported at the model's own line.

A model file is plain Python that imports the DSL (``mc.kernel``) and the
shipped models (``models``) and declares operations, variants, properties
and scenarios; loading it registers them next to the shipped ones.
``vfsmc check FILE.py:SCENARIO`` and ``--models FILE_OR_DIR`` load files.

A mistake in a model (a syntax error, an unknown path or lock, a step that
raises while the scenario is built or explored) becomes a ``ModelError``
whose message starts with the model file and line, so the command line can
print it as one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import CodeType, ModuleType

import attrs

from mc.check import checkable, expectations
from mc.check.replay import ThreadsDiffer
from mc.dsl.scenario import DeclaredTwice, Registry, Scenario, UnknownName
from mc.dsl.steps import Context, Source, Step
from mc.engine.model import DeclarationError
from mc.kernel.world import LocatedModelError, ModelError
from mc.project import SHIPPED_MODELS, Terminated, shown
from mc.trace import format as counterexample
from mc.trace import graph as render_graph

SHOW_TRACEBACK = "VFSMC_TRACEBACK"
"""Set this environment variable to get the Python traceback instead."""

_loaded: dict[Path, ModuleType] = {}
_model_files: set[str] = set()
PASSED_THROUGH = (
    UnknownName,
    ThreadsDiffer,
    DeclarationError,
    counterexample.FormatError,
    expectations.ExpectationError,
    render_graph.GraphError,
)


def load(path: Path) -> list[ModuleType]:
    """Load a model file, or every ``*.py`` file of a directory (in name
    order, skipping names that start with ``_`` or ``test_``).  A file is
    run once per process; its declarations stay in its module.  Its folder
    joins the end of ``sys.path``, so that it can import the files beside
    it, as a script can."""
    path = Path(os.path.expanduser(path))
    if is_shipped(path):
        raise ModelError(
            f"{path}: shipped models, which every run loads: --models and FILE.py:NAME "
            "take model files of your own (name a shipped scenario alone)"
        )
    if path.is_dir():
        files = sorted(p for p in path.glob("*.py") if not p.name.startswith(("_", "test_")))
        if not files:
            raise ModelError(f"{path}: no .py model files in this directory")
    elif path.is_file() and path.suffix == ".py":
        files = [path]
    elif not path.exists():
        raise ModelError(f"{path}: no such file or directory")
    else:
        raise ModelError(f"{path}: not a .py model file or a directory of them")
    return [_load_file(file.resolve()) for file in files]


def is_shipped(path: Path) -> bool:
    """Whether ``path`` is the shipped models' folder or in it."""
    shipped = (Path(__file__).resolve().parent.parent / "models").resolve()
    return path.resolve().is_relative_to(shipped)


def add(registry: Registry, module: ModuleType) -> list[str]:
    """Add what ``module`` declares to ``registry``; returns the names of
    the scenarios it declares."""
    try:
        declared = registry.add_module(module)
    except DeclaredTwice as error:
        if error.declared is None:
            raise
        raise LocatedModelError(f"{_at(error.declared)}: {error}") from None
    registry.unwidened += [
        item.name for item in declared if isinstance(item, Scenario) and not item.properties_given
    ]
    registry.unwidened = [
        name
        for name in registry.unwidened
        if not _check_what_it_can(registry, registry.scenarios[name], set_aside=True)
    ]
    return sorted(item.name for item in declared if isinstance(item, Scenario))


def _check_what_it_can(registry: Registry, scenario: Scenario, *, set_aside: bool = False) -> bool:
    """A scenario declared without ``properties=`` checks the base
    properties and every one its operations make checkable (a dentry's
    invariants for dcache operations, the page-cache ones for writes), so
    a bug they would find is not passed over.  False for one that does not
    build yet, left as it is: a file loaded later may declare a variant of
    its protocol, and else the check reports why; and, ``set_aside``, for
    one that takes longer than ``checkable.SET_ASIDE_SECONDS`` to build
    while its file is loaded, so that it holds up no other scenario of the
    file: it is built again when it is named (``resolve``); else one that
    never finishes building is reported at once."""
    bound = (
        checkable.at_most(f"building the model of {scenario.name}")
        if set_aside
        else contextlib.nullcontext()
    )
    try:
        with bound:
            omitted = checkable.omitted_properties(registry, scenario)
    except checkable.LeftAside:
        return False
    except checkable.BuildTooLong:
        raise
    except Exception:
        return False
    if omitted:
        widened = attrs.evolve(scenario, properties=(*scenario.properties, *omitted))
        registry.scenarios[scenario.name] = widened
    return True


def _compiled(file: Path) -> CodeType:
    """The code of model file ``file``, compiled from its text as it is now:
    never from a ``__pycache__`` file, which Python takes as current by the
    source's size and modification second, so an edit that keeps the size
    within the second of the last load (``"/a", "/b"`` swapped) would run the
    old code; and none is written beside a user's file."""
    return compile(file.read_bytes(), str(file), "exec", dont_inherit=True)


def _load_file(file: Path) -> ModuleType:
    if file in _loaded:
        return _loaded[file]
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", file.stem)
    name = f"vfsmc_models_{digest}_{stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ModelError(f"{file}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    _model_files.add(str(file))
    if str(file.parent) not in sys.path:
        sys.path.append(str(file.parent))
    sys.modules[name] = module
    try:
        with reported(), checkable.building_within(None, f"loading {shown(str(file))}"):
            exec(_compiled(file), module.__dict__)
    except (SyntaxError, ValueError) as error:
        del sys.modules[name]
        if isinstance(error, (LocatedModelError, *PASSED_THROUGH)):
            raise
        raise ModelError(f"{shown(str(file))}: cannot be loaded as Python: {error}") from None
    except BaseException:
        del sys.modules[name]
        raise
    if sys.stdout.closed:
        raise ModelError(f"{shown(str(file))}: closes standard output, where vfsmc prints")
    _loaded[file] = module
    return module


def resolve(spec: str, registry: Registry) -> str:
    """``FILE.py:SCENARIO`` loads FILE.py into ``registry`` and names
    SCENARIO; ``FILE:SCENARIO`` with FILE an existing file or directory, or
    a name with a suffix other than .py, is a model error; any other
    spelling is a scenario name as it stands."""
    if ".py:" in spec:
        file, name = spec.split(".py:", 1)
    elif spec.endswith(".py"):
        file, name = spec[:-3], ""
    else:
        _not_a_model_file(spec, registry)
        return spec
    declared = [s for module in load(Path(file + ".py")) for s in add(registry, module)]
    registry.model_files.append(shown(file + ".py"))
    listed = ", ".join(declared) or "none"
    if not name:
        raise ModelError(
            f"name a scenario after the file: {file}.py:SCENARIO (it declares: {listed})"
        )
    if name not in declared:
        also = (
            f"; {name} is a scenario of its own: name it alone, with --models {file}.py for "
            "the file's variants"
            if name in registry.scenarios
            else ""
        )
        raise UnknownName(f"{file}.py declares no scenario {name!r} (it declares: {listed}){also}")
    if name in registry.unwidened and _check_what_it_can(registry, registry.scenarios[name]):
        registry.unwidened.remove(name)
    return name


def _not_a_model_file(spec: str, registry: Registry) -> None:
    """A ``ModelError`` when ``spec``, no scenario's name, is ``FILE:NAME``
    with FILE not a Python model file: an existing file or directory, or
    a name with a suffix (``notes.txt``)."""
    if ":" not in spec or spec in registry.scenarios:
        return
    file = spec.split(":", 1)[0]
    if not file:
        raise ModelError(
            f"{spec!r} names no model file before the colon (FILE.py:SCENARIO names a "
            "scenario a .py model file declares)"
        )
    path = Path(os.path.expanduser(file))
    if path.is_dir():
        raise ModelError(
            f"{file}: a directory, not a Python model file: load its models with "
            f"--models {file} and name the scenario alone"
        )
    if path.exists() or re.fullmatch(r"\.[A-Za-z0-9]+", path.suffix):
        raise ModelError(
            f"{file}: not a Python model file (FILE.py:SCENARIO names a scenario "
            "a .py model file declares)"
        )


def _is_model_file(filename: str) -> bool:
    path = os.path.realpath(filename)
    return path in _model_files or os.path.dirname(path) == str(SHIPPED_MODELS)


def locate(error: BaseException) -> list[Source]:
    """The model lines an error comes from, innermost first: frames in
    model files, and the steps being compiled or run when it was raised."""
    if isinstance(error, SyntaxError) and error.filename:
        return [Source(error.filename, error.lineno or 0, "<module>")]
    found: list[Source] = []
    for frame, line in reversed(list(traceback.walk_tb(error.__traceback__))):
        if _is_model_file(frame.f_code.co_filename):
            found.append(
                Source(os.path.realpath(frame.f_code.co_filename), line, frame.f_code.co_name)
            )
        step = _step_source(frame.f_locals)
        if step is not None and step not in found:
            found.append(step)
    return found


def _step_source(names: dict[str, object]) -> Source | None:
    context = names.get("context")
    if isinstance(context, Context) and context.source is not None:
        return context.source
    for key in ("step", "self"):
        step = names.get(key)
        if isinstance(step, Step):
            return step.source
    scenario = names.get("scenario")
    if isinstance(scenario, Scenario) and scenario.declared is not None:
        return scenario.declared
    return None


def _at(source: Source) -> str:
    where = source.function if source.function not in ("<module>", "?") else ""
    return f"{shown(source.file)}:{source.line}" + (f": in {where}" if where else "")


def describe(error: BaseException, sources: Sequence[Source]) -> str:
    """One line: the innermost line of a user's model file (else of any
    model), what went wrong, and where it was raised when elsewhere."""
    if isinstance(error, SyntaxError):
        what = f"SyntaxError: {error.msg}"
    elif isinstance(error, ModelError):
        what = str(error)
    else:
        what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    users = _in_users_files(sources)
    lead = users[0] if users else sources[0]
    raised = "" if lead == sources[0] else f" (raised at {_at(sources[0])})"
    return f"{_at(lead)}: {what}{raised}"


def located(error: Exception) -> BaseException:
    """``error`` as ``reported`` would raise it: a ``ModelError`` naming the
    model line it comes from when it has one (for a worker of a parallel
    search to send, since the traceback stays in the worker)."""
    if isinstance(error, (LocatedModelError, checkable.BuildTooLong, *PASSED_THROUGH)):
        return error
    sources = locate(error)
    if not sources:
        return error
    if os.environ.get(SHOW_TRACEBACK):
        traceback.print_exception(error, file=sys.stderr)
    return LocatedModelError(describe(error, sources))


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn an exception raised by model code into a ``ModelError`` naming
    the model file and line.  Errors of the tool's own input (unknown
    names, malformed files) pass unchanged; so does an error no model line
    can be found for (a bug in vfsmc itself).  With the environment
    variable VFSMC_TRACEBACK set, the traceback of an error turned into a
    ``ModelError`` is printed on stderr first (the exit code is the same)."""
    try:
        yield
    except (KeyboardInterrupt, Terminated):
        raise
    except MemoryError as error:
        raise _from_users_files(error) from error
    except Exception as error:
        explained = located(error)
        if explained is error:
            raise
        raise explained from error
    except BaseException as error:  # SystemExit, GeneratorExit, a model's own kind
        raise _from_users_files(error) from error


def _from_users_files(error: BaseException) -> BaseException:
    """``error`` as a ``LocatedModelError`` when it was raised in a user's
    model file (one that is no ``Exception``: SystemExit, GeneratorExit,
    MemoryError), else itself."""
    users = _in_users_files(locate(error))
    if not users:
        return error
    if os.environ.get(SHOW_TRACEBACK):
        traceback.print_exception(error, file=sys.stderr)
    return LocatedModelError(describe(error, users))


def _in_users_files(sources: Sequence[Source]) -> list[Source]:
    """The ``sources`` in model files of the user's own."""
    return [s for s in sources if os.path.abspath(s.file) in _model_files]
