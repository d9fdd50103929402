"""Which properties a scenario's operations make checkable: those whose
needs (a page cache, a block device, a tree of directories...) the world
its operations build has."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from mc.dsl.kernel_model import KernelModel, PropertyDef, ReadsMissingSlots, Thread, make_property
from mc.dsl.scenario import BASE_PROPERTIES, Registry, Scenario, checker_source
from mc.dsl.steps import EffectStep
from mc.engine.ctrl_c import telling_models_apart
from mc.engine.explore import LONGEST_TIMER_SECONDS
from mc.engine.model import DeclarationError
from mc.kernel import superblock
from mc.kernel.world import ERROR_SLOT, ModelError
from mc.project import shown

LEAST_BUILD_SECONDS = 10.0
"""The least time building a model gets when a time limit is given: a
build takes well under a second, so a limit shorter than a search bounds
the search alone."""

BUILD_SECONDS = 30.0
"""The time building a model gets without a time limit."""


REPEAT_SECONDS = 1.0
"""Past the bound, the alarm comes again this often until the error is
raised where it ends the build: one raised inside a destructor (a z3
term's ``__del__``) is printed and dropped by Python."""


class BuildTooLong(ModelError):
    """Building a model took longer than it may (``building_within``)."""


@contextlib.contextmanager
def building_within(limit: float | None, what: str) -> Iterator[None]:
    """Bound ``what`` is being done (``building the model of NAME``,
    ``loading FILE``) by the search's time limit ``limit``, or
    ``LEAST_BUILD_SECONDS`` when that is longer, or ``BUILD_SECONDS``
    without a limit: past it, a ``ModelError`` naming the line of a model
    file it was running (a transform or a body that never returns).  In
    the main thread only, where a signal can interrupt it; inside another
    bound, that one holds, and the error names the innermost ``what``.  A
    ``KeyboardInterrupt`` the model raises itself is its error
    (``telling_models_apart``), not Ctrl-C."""
    seconds = BUILD_SECONDS if limit is None else max(limit, LEAST_BUILD_SECONDS)
    bound = "" if limit is None else f" (the time limit, and at least {LEAST_BUILD_SECONDS:g} s)"

    def expire(_signal: int, frame: FrameType | None) -> None:
        doing = _DOING[-1]
        guess = (
            "the file's own code that does not return?"
            if doing.startswith("loading ")
            else "a variant's transform or an operation's body that does not return?"
        )
        raise BuildTooLong(
            f"{doing} took longer than {seconds:g} s{bound}{_model_line(frame)}: {guess}"
        )

    running = signal.getitimer(signal.ITIMER_REAL)[0] > 0
    alarm = (
        contextlib.nullcontext()
        if running or threading.current_thread() is not threading.main_thread()
        else _alarm(min(seconds, LONGEST_TIMER_SECONDS), expire)
    )
    _DOING.append(what)
    try:
        with alarm, telling_models_apart():
            yield
    finally:
        _DOING.pop()


class LeftAside(BuildTooLong):
    """A build given a shorter bound (``at_most``) took longer."""


SET_ASIDE_SECONDS = 3.0
"""How long building one user's scenario may take where others wait for it
(loading its file, listing what applies to it: a build takes
milliseconds): one that takes longer is set aside there (``at_most``)."""


@contextlib.contextmanager
def at_most(what: str) -> Iterator[None]:
    """Bound ``what`` by ``SET_ASIDE_SECONDS``, or by half the time the
    running ``building_within`` bound has left when that is less: past it
    ``LeftAside``, and the outer bound goes on with the time it had left.
    In the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seconds = SET_ASIDE_SECONDS
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    if left > 0:
        seconds = min(seconds, left / 2)

    def expire(_signal: int, frame: FrameType | None) -> None:
        raise LeftAside(f"{what} took longer than {seconds:g} s{_model_line(frame)}")

    with _alarm(seconds, expire):
        yield


@contextlib.contextmanager
def _alarm(seconds: float, expire: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``expire`` called by SIGALRM after ``seconds``, and every
    ``REPEAT_SECONDS`` after that until it raises where it ends the work;
    then the handler and a timer running before are put back, the timer
    with the time it had left."""
    left, every = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if left > 0:
            signal.setitimer(
                signal.ITIMER_REAL, max(left - (time.monotonic() - started), 0.001), every
            )


_DOING: list[str] = []
"""What the bounds of ``building_within`` are given to do, innermost last:
the one running when the time is up names itself."""


def _model_line(frame: FrameType | None) -> str:
    """`` (at FILE:LINE in FUNCTION)``: the innermost frame of ``frame``'s
    stack that runs a model file (a file outside the ``mc`` package, or a
    shipped model), or nothing."""
    engine = Path(__file__).resolve().parent.parent
    shipped = (engine / "models").resolve()
    while frame is not None:
        file = Path(frame.f_code.co_filename).resolve()
        model = file.is_relative_to(shipped) or not file.is_relative_to(engine)
        if model and file.is_file():
            return f" (at {shown(str(file))}:{frame.f_lineno} in {frame.f_code.co_name})"
        frame = frame.f_back
    return ""


def built(
    registry: Registry,
    scenario: Scenario,
    variants: Sequence[str] = (),
    properties: Sequence[str] | None = (),
) -> KernelModel:
    """``scenario`` built under ``variants`` with ``properties`` (by default
    none: nothing explored; None: the scenario's own), within
    ``BUILD_SECONDS`` unless a bound holds already: a user's transform or
    body that never returns is an error, not a command that never ends."""
    with building_within(None, f"building the model of {scenario.name}"):
        return registry.build(scenario, variants, properties)


def built_threads(
    registry: Registry, scenario: Scenario, variants: Sequence[str] = ()
) -> list[Thread]:
    """The threads of ``scenario`` built under ``variants`` alone
    (``Registry.threads``), within ``BUILD_SECONDS`` as ``built``."""
    with building_within(None, f"building the model of {scenario.name}"):
        return registry.threads(scenario, variants)


def world_parts(model: KernelModel) -> set[str]:
    """The parts of the world the scenario's operations created."""
    parts = set(model.world.parts)
    if any(inode.is_dir for inode in model.world.inodes[1:]) or _changes_names(model):
        parts.add("tree")
    if any(slot.name == superblock.FROZEN_SLOT for slot in model.world.slots):
        parts.add("freezing")
    return parts


def _changes_names(model: KernelModel) -> bool:
    """Whether a thread runs a step that writes names (an effect marked
    ``given_names_only`` on dentries it is given: a create in /)."""
    return any(
        isinstance(step, EffectStep) and step.names
        for thread in model.threads
        for step in thread.program.steps
    )


def available_properties(registry: Registry, scenario: Scenario) -> list[str]:
    """The properties that have something to check in ``scenario``: the
    world part each needs is there, and what each reads too (a property
    of a model file that makes slots of its own reads none of them)."""
    model = built(registry, scenario)
    return [
        name
        for name in _available(registry, world_parts(model))
        if not _reads_missing(registry, model, name)
    ]


def _available(registry: Registry, parts: set[str]) -> list[str]:
    return [name for name, prop in sorted(registry.properties.items()) if _has(prop.needs, parts)]


def _reads_of(registry: Registry, model: KernelModel, name: str) -> int | None:
    """What property ``name`` reads in ``model``, as a mask of slots: None
    when it does not say, refuses the model or fails on it (a model file's
    ``reads=`` function raising: it says why when it is checked, and a
    scenario that does not check it is not held up by it);
    ``ReadsMissingSlots`` when it reads slots no thread of the model
    makes; ``DeclarationError`` when its ``reads=`` names a slot the model
    lacks (``dentry(/upper/d/f)`` in a scenario without that file)."""
    try:
        return make_property(registry.properties[name], model).reads
    except (ReadsMissingSlots, DeclarationError, KeyboardInterrupt):
        raise
    except BaseException:  # a model file's own code: SystemExit(5) as much as a KeyError
        return None


def _reads_missing(registry: Registry, model: KernelModel, name: str) -> bool:
    try:
        _reads_of(registry, model, name)
    except (ReadsMissingSlots, DeclarationError):
        return True
    return False


def _may_change(model: KernelModel, reads: int | None) -> bool:
    """Whether some step of ``model`` may write what a property that reads
    ``reads`` reads (one that does not say may read anything, and one
    that reads only the errors steps record, ``reads=["error"]``, sees
    what any step may record)."""
    if not reads or reads >> ERROR_SLOT & 1:
        return True
    written = 0
    for state in model.init_states():
        for pending in model.pending(state):
            written |= pending.rest.writes
    return bool(reads & written)


def _has(needs: tuple[str, str] | None, parts: set[str]) -> bool:
    return needs is None or needs[0] in parts


def left_out(
    registry: Registry, scenario: Scenario, model: KernelModel | None = None
) -> tuple[list[str], dict[str, str]]:
    """The properties ``scenario``'s operations make available that its
    declaration does not check, but the base ones (``BASE_PROPERTIES``),
    which a declaration leaves out only on purpose: those of the kernel
    world its operations build and those of model files that need no part
    of it (an ``@invariant`` of the slots a file's operations make).
    First those some step may change what they read (else the check could
    only pass; one that refuses the model says why when it is checked),
    then, each with why, those whose ``reads=`` names a slot the scenario
    lacks (a typo, or an object of another scenario: ``check`` says so,
    and checks one asked for by name with the error), and those of the
    scenario's own model file that read slots no thread of the scenario
    makes (only a step of the file's own would); one of another file
    that reads such slots is in neither.  ``model``: the
    scenario built under variants, whose steps may make parts of the
    world the scenario alone does not."""
    model = model or built(registry, scenario)
    omitted, unlocated = [], {}
    for name in _available(registry, world_parts(model)):
        if name in BASE_PROPERTIES or name in scenario.properties:
            continue
        try:
            reads = _reads_of(registry, model, name)
        except DeclarationError as error:
            unlocated[name] = f"{error} (a slot of another scenario, or a typo)"
            continue
        except ReadsMissingSlots as error:
            if _same_file(registry.properties[name], scenario):
                unlocated[name] = (
                    f"{error.said_of(scenario.name)} (a slot only a step makes: make it in an "
                    "operation's body or an inserts() hook, op.world.shared_slot(name, initial))"
                )
            continue
        if _may_change(model, reads):
            omitted.append(name)
    return omitted, unlocated


def _same_file(prop: PropertyDef, scenario: Scenario) -> bool:
    """Whether ``prop`` is declared in the model file that declares
    ``scenario``: a property a file writes for its own scenario, not one
    of another file's objects."""
    source = checker_source(prop)
    return (
        source is not None
        and scenario.declared is not None
        and Path(source.file).resolve() == Path(scenario.declared.file).resolve()
    )


def omitted_properties(registry: Registry, scenario: Scenario) -> list[str]:
    """The first list of ``left_out``: the properties a scenario declared
    without ``properties=`` is widened with."""
    return left_out(registry, scenario)[0]


def refuse_reads_of_unset_registers(
    model: KernelModel, correct: KernelModel, variants: Sequence[str]
) -> None:
    """A ``ModelError`` when under ``variants`` a step reads one of its
    thread's registers on a path where no step has set it, and no step of
    that thread with its label does so on the correct protocol
    (``KernelModel.reads_before_set``; a fault's ``tried``, None on the
    first attempt, is read so by design, under a name of its own in each
    body that faults): a transform dropped or moved the step that sets it,
    and the thread would go on with the register's initial None."""
    shipped = {(thread, label) for thread, label, _register in correct.reads_before_set()}
    added = sorted(read for read in model.reads_before_set() if read[:2] not in shipped)
    if not added:
        return
    thread, label, register = added[0]
    more = f" (and {len(added) - 1} more)" if len(added) > 1 else ""
    raise ModelError(
        f"under {', '.join(variants)}, {thread}'s step '{label}' reads register {register} "
        f"where no step has set it{more}: the variant dropped the step that sets it, or moved "
        "one of the two so that this step may come first (this step above it, it below this "
        "step or onto a path that skips it); to change what the register holds, change what "
        "that step computes instead of dropping it"
    )
