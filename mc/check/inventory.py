"""What a registry holds, as a user asks about it: the steps of a
scenario's threads, which variants change which of them, which properties
a scenario's operations make checkable, and the shipped operations with
the tags their acquisitions carry."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import inspect
import itertools
import json
import os
import re
import site
import sys
import sysconfig
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

import mc.models
from mc.atomic_write import write_atomically
from mc.check import side_by_side, usermodels
from mc.check.checkable import (
    BuildTooLong,
    at_most,
    available_properties,
    building_within,
    built,
    built_threads,
    refuse_reads_of_unset_registers,
    world_parts,
)
from mc.dsl.kernel_model import KernelModel, Thread, differ, transformed
from mc.dsl.operation import Operation
from mc.dsl.program import Jump, Program, forced_label, label_name
from mc.dsl.scenario import NotApplicable, Registry, Scenario, Variant
from mc.dsl.steps import BranchStep, EffectStep, LockStep, Step, UnlockStep
from mc.dsl.wait_steps import SectionStep
from mc.kernel.expr import Expr
from mc.kernel.locks import EXCL, SHARED
from mc.kernel.world import DONE, LocatedModelError
from mc.project import ROOT, SPECS
from mc.text import clipped, counted
from mc.text_files import read_text


@attrs.frozen
class Change:
    """One step a variant changed in one thread: ``kind`` is ``removed``,
    ``added``, ``changed`` (``step`` is the variant's, ``was`` the correct
    protocol's) or ``moved`` (the same step elsewhere in the thread)."""

    thread: str
    kind: str
    step: Step
    was: Step | None = None
    before: Step | None = None
    """For a step ``added`` or ``moved``: the first step after it in the
    variant's program that was there before (the anchor of a
    ``move_before`` of several steps; None at the program's end); for a
    step ``removed``: the step that now runs where it ran."""
    next: Step | None = None
    """For a step ``moved``: the step moved too that is now right after
    it and came before it in the correct protocol (two steps swapped);
    None otherwise (steps moved together keep their order)."""
    unguarded: tuple[str, ...] = ()
    """For a step ``moved``: the labels of the tests that guarded it (it
    ran in one of their cases only, ``Program.guards``) and guard it no
    more: a block moved out of an ``op.when`` now runs in both cases."""
    guarded: tuple[str, ...] = ()
    """For a step ``moved``: the labels of the tests that guard it now and
    did not (``Program.guards``): a step moved into an ``op.when`` runs in
    one of its cases only."""
    left_goto: str | None = None
    """For a step ``moved``: the label of the ``op.goto`` that came right
    after it and stayed where it was (a move takes a step's following goto
    only with a block that jumps there), so the step now goes on to the
    step after it instead."""


def check_applicable(
    registry: Registry,
    scenario: Scenario,
    properties: Iterable[str] | None = None,
    correct: KernelModel | None = None,
    under: KernelModel | None = None,
) -> None:
    """Raise ``NotApplicable`` for the first of ``properties`` (default:
    those the scenario declares) that ``scenario`` gives nothing to check;
    ``correct`` is the scenario built without variants, if the caller has
    it, and ``under`` built under the variants checked, whose steps may
    make a part of the world the scenario alone does not."""
    declared = properties is None
    names = scenario.properties if properties is None else properties
    if declared:
        names = [name for name in names if name in registry.properties]
    wanted = [(name, needs) for name in names if (needs := registry.property(name).needs)]
    if not wanted:
        return
    parts = world_parts(correct or built(registry, scenario))
    if under is not None:
        parts |= world_parts(under)
    for name, (part, words) in wanted:
        if part not in parts and declared:
            raise NotApplicable(
                f"{scenario.name} declares {name}, which needs {words}, and has none: leave it "
                f"out (vfsmc show {scenario.name} lists what it can check)"
            )
        if part not in parts:
            raise NotApplicable(
                f"{name} needs {words}; {scenario.name} has none "
                f"(properties it can check: {', '.join(available_properties(registry, scenario))})"
            )


def user_declared(declared: Scenario | Variant) -> bool:
    """Whether a scenario or variant comes from a model file outside the
    shipped models."""
    return declared.declared is not None and not declared.declared.file.startswith("models/")


def step_key(step: Step) -> tuple[object, ...]:
    """What tells two steps apart across two builds of a scenario: the
    class, label, source, a lock step's mode (not a release's, which
    follows its acquisitions: ``Program.with_release_modes``), a branch's condition (a
    variant that replaced a condition changes the key), and an effect's
    function and whether it sleeps (a flag an operation asks about may
    change either and nothing else), and whether a release or hand-off
    happens only if held (``drop_acquisitions``), without the scopes and numbers a
    build gives registers (``beyond_eof.0``), which differ when a variant
    moves steps.  An effect's arguments are left out: a register among
    them is a slot a build numbers."""
    mode = step.mode.value if isinstance(step, LockStep) else None
    cond = getattr(step, "cond", None)
    shown = _SCOPED.sub("", cond.text) if isinstance(cond, Expr) else None
    effect = getattr(step, "effect", None)
    function = None if effect is None else _function_name(inspect.unwrap(effect))
    sleeps = getattr(step, "sleeps", None)
    if_held = getattr(step, "if_held", None)
    return (
        type(step).__name__,
        step.label,
        str(step.source),
        mode,
        shown,
        function,
        sleeps,
        if_held,
    )


def _function_name(function: object) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


_SCOPED = re.compile(r"\.\w+")
"""The scope or number a build appends to a register's name."""


def differing_fields(was: Step, now: Step) -> list[str]:
    """What of ``step_key`` two steps with one label differ in, as ``name:
    old -> new`` (what a variant changed in a step it kept)."""
    found = []
    if type(was) is not type(now):
        found.append(f"kind: {_kind_of(was)} -> {_kind_of(now)}")
    if isinstance(was, LockStep) and isinstance(now, LockStep) and was.mode != now.mode:
        found.append(f"mode: {was.mode.value} -> {now.mode.value}")
    old, new = step_key(was), step_key(now)
    for at, name in ((4, "condition"), (5, "function"), (6, "sleeps"), (7, "only if held")):
        if old[at] != new[at]:
            found.append(f"{name}: {old[at]} -> {new[at]}")
    return found


def _kind_of(step: Step) -> str:
    """What a step does, as ``differing_fields`` names it (a trylock, a
    lock that waits)."""
    return {"TryLockStep": "trylock", "LockStep": "lock that waits"}.get(
        type(step).__name__, type(step).__name__
    )


def variant_changes(
    registry: Registry,
    scenario: Scenario,
    variant: str,
    correct: KernelModel | None = None,
    beside: Sequence[str] = (),
) -> list[Change]:
    """The steps ``variant`` changes in ``scenario``'s threads (empty when
    it does not apply) on top of the variants ``beside`` (an insertion
    that finds a step another variant adds); ``correct`` is the scenario
    built under ``beside`` alone."""
    correct = correct or built(registry, scenario, beside)
    return thread_changes(correct.threads, built_threads(registry, scenario, (*beside, variant)))


def changes_among(
    registry: Registry,
    scenario: Scenario,
    variant: str,
    among: Sequence[str],
    correct: KernelModel | None = None,
) -> list[Change]:
    """``variant_changes`` of ``variant`` alone, or, where it fails alone
    (an insertion or a transform that finds a step another variant of
    ``among`` adds), on top of the variants of ``among`` given before it,
    then of the others, then of fewer of them (one that needs ``variant``
    itself cannot be beside it); the error of the build alone when none
    works.  One that changes nothing alone is tried on top of all the
    others (an insertion whose steps a flag of another turns on)."""
    try:
        changes = variant_changes(registry, scenario, variant, correct)
    except BuildTooLong:
        raise
    except Exception as alone:
        before = list(among[: among.index(variant)]) if variant in among else list(among)
        others = [other for other in among if other != variant]
        fewer = itertools.islice(
            (
                list(chosen)
                for size in range(len(others) - 1, 0, -1)
                for chosen in itertools.combinations(others, size)
            ),
            MAX_BASES_TRIED,
        )
        for beside in (before, others, *fewer):
            if beside:
                try:
                    return variant_changes(registry, scenario, variant, beside=beside)
                except BuildTooLong:
                    raise
                except Exception:
                    continue
        raise alone
    others = [other for other in among if other != variant]
    if changes or not others:
        return changes
    try:
        return variant_changes(registry, scenario, variant, beside=others)
    except BuildTooLong:
        raise
    except Exception:  # it builds alone but not beside the others: what it changes alone
        return changes


MAX_BASES_TRIED = 30
"""How many sets of the other variants ``changes_among`` tries a variant on
top of, at most, before it gives the error of the variant alone."""


def unguarding_notes(registry: Registry, scenario: Scenario, variants: Sequence[str]) -> list[str]:
    """A note for each step a variant of a user's model file moves out of
    a test that guarded it (``Change.unguarded``), under a test that did
    not (``Change.guarded``), or away from the goto
    after it (``Change.left_goto``): a block moved out of an ``op.when``
    runs whichever way the test goes, and a step moved without its goto
    goes on where it used to jump, which a transform seldom means (the
    shipped variants were reviewed, and are not looked at; nor are a flag
    variant's or a replaced body's steps, which their author wrote in that
    order), and for each ``op.when`` test a variant drops: the block it
    guarded then always runs and its other case never (``Program.force``
    keeps both)."""
    moved: dict[tuple[str, str, str], list[str]] = {}
    under: dict[tuple[str, str, str], list[str]] = {}
    dropped: dict[tuple[str, str], list[str]] = {}
    left: list[str] = []
    for name, changes, correct in _user_transform_changes(registry, scenario, variants):
        for change in changes:
            if change.kind == "removed" and isinstance(change.step, BranchStep):
                forced = {forced_label(change.step.label, holds) for holds in (True, False)}
                if not any(other.step.label in forced for other in changes) and not (
                    _block_dropped_too(correct, change, changes)
                ):
                    dropped.setdefault((name, change.step.label), []).append(change.thread)
            for test in change.unguarded:
                moved.setdefault((name, change.thread, test), []).append(change.step.label)
            for test in change.guarded:
                under.setdefault((name, change.thread, change.step.label), []).append(test)
            if change.left_goto is not None:
                left.append(
                    f"{name} moves {change.thread}'s step {change.step.label!r} without the "
                    f"{change.left_goto} after it, which stays where it was: the step "
                    "now goes on to the step after it"
                )
    out_of: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for (name, thread, test), labels in moved.items():
        out_of.setdefault((name, thread, tuple(labels)), []).append(test)
    notes = []
    for (name, thread, steps), tests in out_of.items():
        if len(steps) == 1:
            what, verb = f"{thread}'s step {steps[0]!r}", "it now runs"
        else:
            what = f"{len(steps)} of {thread}'s steps ({steps[0]!r} to {steps[-1]!r})"
            verb = "they now run"
        if len(tests) == 1:
            notes.append(f"{name} moves {what} out of {tests[0]!r}: {verb} whichever way it goes")
        else:
            listed = ", ".join(repr(test) for test in tests)
            notes.append(
                f"{name} moves {what} out of {len(tests)} tests ({listed}): {verb} whichever "
                "way they go"
            )
    for (name, thread, label), tests in under.items():
        which = f"{tests[0]!r}" if len(tests) == 1 else f"{len(tests)} tests ({tests[0]!r}, ...)"
        lets = "the test lets" if len(tests) == 1 else "they let"
        notes.append(
            f"{name} moves {thread}'s step {label!r} under {which} it was not under: it now "
            f"runs only where {lets} it"
        )
    for (name, label), threads in dropped.items():
        notes.append(
            f"{name} drops the test {label!r} ({', '.join(dict.fromkeys(threads))}): the block "
            "it guarded now always runs and its other case, if it has one, never "
            "(program.force(test, holds) makes a test hold always or never and keeps both cases)"
        )
    return [*notes, *dict.fromkeys(left)]


def _block_dropped_too(correct: KernelModel, test: Change, changes: Sequence[Change]) -> bool:
    """Whether the variant removed every step the dropped test ``test``
    jumped over in its thread, the block with it (an ``if`` deleted
    whole, which leaves nothing that now always runs)."""
    thread = next(t for t in correct.threads if t.name == test.thread)
    linked = thread.program.link()
    at = next((i for i, (step, _n, _t) in enumerate(linked) if step is test.step), None)
    if at is None:
        return False
    target = linked[at][2]
    end = len(linked) if target is None or target == DONE else target
    removed = [c.step for c in changes if c.kind == "removed" and c.thread == test.thread]
    block = [step for step, _n, _t in linked[at + 1 : end]]
    return bool(block) and all(any(step is gone for gone in removed) for step in block)


def _user_transform_changes(
    registry: Registry, scenario: Scenario, variants: Sequence[str]
) -> Iterable[tuple[str, list[Change], KernelModel]]:
    """The steps each of ``variants`` that a user's model file declares
    with a transform changes (``changes_among``), by variant, with the
    correct protocol's model they were found against; one whose
    change cannot be worked out is passed over (the build under every
    variant says what is wrong)."""
    correct: KernelModel | None = None
    for name in variants:
        declared = registry.variant(name)
        if not user_declared(declared) or declared.transform is None:
            continue
        correct = correct or built(registry, scenario)
        try:
            changes = changes_among(registry, scenario, name, variants, correct)
        except BuildTooLong:
            raise
        except Exception:
            continue
        yield name, list(changes), correct


def unlocked_section_notes(
    registry: Registry, scenario: Scenario, variants: Sequence[str]
) -> list[str]:
    """A note for each spinlock section (``op.section``) a variant of a
    user's model file drops the lock of (``drop_lock``,
    ``drop_acquisitions``): its effect still runs as one step, so no
    interleaving inside it is explored, and a race the lock kept out of
    it cannot show; an OK says nothing of that race."""
    threads: dict[tuple[str, str, str], list[str]] = {}
    for name, changes, _correct in _user_transform_changes(registry, scenario, variants):
        for change in changes:
            was = change.was
            if change.kind != "changed" or not isinstance(was, SectionStep):
                continue
            if isinstance(change.step, SectionStep):
                continue
            found = threads.setdefault((name, was.lock.text, was.label), [])
            if change.thread not in found:
                found.append(change.thread)
    return [
        f"{name} drops {lock} from {' and '.join(names)}'s one-step "
        f"section {label!r}: its effect still runs as one step, so no interleaving inside it "
        "is explored and a race that lock kept out of it cannot show (write its reads and "
        "writes as steps of their own to see one)"
        for (name, lock, label), names in threads.items()
    ]


def dropped_lock_notes(
    registry: Registry, scenario: Scenario, variants: Sequence[str]
) -> list[str]:
    """A note for each acquisition a variant of a user's model file
    removes, or makes shared where it was exclusive, around steps that read
    or write shared state (effects, calls, computations) up to the
    thread's release of that lock: each such step runs as one step with
    the lock or without it, so no interleaving inside it is explored, and
    a race the lock kept out of it (a test of i_size and the store after
    it, in one step) cannot show; an OK says nothing of that race.  A
    section of one such step and no other lock is named as that step; in
    a longer one (whose other steps the change does interleave), the
    steps whose label tests something (``if (``) and acts on it."""
    found: dict[tuple[str, str, str, tuple[str, str]], list[str]] = {}
    for name, changes, correct in _user_transform_changes(registry, scenario, variants):
        for change in changes:
            taken = _dropped_or_weakened(change)
            if taken is None:
                continue
            verb, lock = taken
            thread = next(t for t in correct.threads if t.slots.name == change.thread)
            program = thread.program
            alone = [s for s in _critical_section(program, lock) if not s.local_in(correct.world)]
            if len(alone) == 1 and isinstance(alone[0], EffectStep):
                around = ("", f"'s one step {alone[0].label!r}")
            else:
                tests = [
                    s
                    for s in _critical_section(program, lock, other_locks=True)
                    if isinstance(s, EffectStep)
                    and not s.local_in(correct.world)
                    and "if (" in s.label
                ]
                if not tests:
                    continue
                named = ", ".join(repr(clipped(step.label, 90)) for step in tests[:2])
                around = (
                    f"{counted(len(tests), 'step')} of ",
                    " that test shared state and act on it in one step "
                    f"({named}{', ...' if len(tests) > 2 else ''})",
                )
            names = found.setdefault((name, verb, lock.lock.text, around), [])
            if change.thread not in names:
                names.append(change.thread)
    return [
        f"{name} {verb} {lock} around {before}{' and '.join(names)}{after}: each runs "
        "as one step with the lock or without it, so no interleaving inside one is explored "
        "and a race that lock kept out of it cannot show (a test and the store it decides, "
        "in one step: write its reads and writes as steps of their own to see one)"
        for (name, verb, lock, (before, after)), names in found.items()
    ]


def _dropped_or_weakened(change: Change) -> tuple[str, LockStep] | None:
    """The acquisition of the correct protocol ``change`` removes, or makes
    shared where it was exclusive, with what it does to it."""
    if change.kind == "removed" and isinstance(change.step, LockStep):
        return "drops", change.step
    was, now = change.was, change.step
    if (
        change.kind == "changed"
        and isinstance(was, LockStep)
        and isinstance(now, LockStep)
        and was.mode == EXCL
        and now.mode == SHARED
    ):
        return "makes shared", was
    return None


def _critical_section(
    program: Program, taken: LockStep, *, other_locks: bool = False
) -> list[Step]:
    """The steps that can run after ``taken`` (following the program's
    branches and jumps) before a release of its lock, in program order:
    none when no way from it reaches a release, or when another lock step
    can come first, unless ``other_locks``."""
    linked = program.link()
    at = next((i for i, (step, _after, _jump) in enumerate(linked) if step is taken), None)
    if at is None:
        return []
    inside: set[int] = set()
    released = False
    work = [at]
    seen = {at}
    while work:
        index = work.pop()
        _step, after, jump = linked[index]
        for following in (after, jump):
            if following is None or following == DONE or following in seen:
                continue
            seen.add(following)
            step = linked[following][0]
            if isinstance(step, UnlockStep) and step.lock.text == taken.lock.text:
                released = True
                continue
            if not other_locks and isinstance(step, LockStep | UnlockStep | SectionStep):
                return []
            inside.add(following)
            work.append(following)
    return [linked[i][0] for i in sorted(inside)] if released else []


def variant_overlaps(registry: Registry, scenario: Scenario, variants: Sequence[str]) -> list[str]:
    """A note for each two of ``variants`` that change one step of the
    correct protocol (both remove, change or move it): applied together,
    one's change may undo or hide the other's, and the model is neither
    variant's.  A variant that cannot be applied alone (a transform that
    looks for a step another of ``variants`` adds) builds on the others,
    and changes nothing of the correct protocol on its own: no note names
    it (the build under every variant says what is wrong, if anything)."""
    if len(variants) < 2:
        return []
    correct = built(registry, scenario)
    occurrence = _occurrences(correct)
    touched: dict[str, dict[tuple[object, ...], Change]] = {}
    for name in variants:
        keys: dict[tuple[object, ...], Change] = {}
        try:
            alone = variant_changes(registry, scenario, name, correct)
        except BuildTooLong:
            raise
        except Exception:  # a transform of a user's file, applied alone
            alone = []
        for change in alone:
            original = change.was if change.kind == "changed" else change.step
            if change.kind != "added" and original is not None:
                at = occurrence.get((change.thread, id(original)))
                keys.setdefault((change.thread, at, *step_key(original)), change)
        touched[name] = keys
    notes = []
    for first, second in itertools.combinations(variants, 2):
        shared = [touched[first][key] for key in touched[first] if key in touched[second]]
        if not shared:
            continue
        step = shared[0].was or shared[0].step
        more = f" and {len(shared) - 1} more" if len(shared) > 1 else ""
        notes.append(
            f"{first} and {second} both change {shared[0].thread}'s step {step.label!r} "
            f"({step.source}){more}: together one may undo or hide the other, so the "
            "result may be neither's (check each alone too)"
        )
    return notes


def _occurrences(model: KernelModel) -> dict[tuple[str, int], int]:
    """For each step of each thread (by thread name and identity), how many
    steps before it in its program look the same (``step_key``): a body
    run twice (a cache invalidated before and after an I/O) has two steps
    of one label and line, which two variants may change one each."""
    found = {}
    for thread in model.threads:
        seen: dict[tuple[object, ...], int] = {}
        for step in thread.program.steps:
            key = step_key(step)
            found[(thread.name, id(step))] = seen.get(key, 0)
            seen[key] = seen.get(key, 0) + 1
    return found


def program_changes(correct: KernelModel, changed: KernelModel) -> list[Change]:
    """The steps in which the threads of ``changed`` (a scenario under
    variants) differ from those of ``correct`` (it without them)."""
    return thread_changes(correct.threads, changed.threads)


def thread_changes(correct: Sequence[Thread], changed: Sequence[Thread]) -> list[Change]:
    """``program_changes`` of the threads of two builds."""
    found: list[Change] = []
    partners: list[Change] = []
    for before, after in zip(correct, changed, strict=True):
        old, new = before.program.steps, after.program.steps
        opcodes = _opcodes(old, new)
        partners += [
            Change(before.name, "moved", new[j], old[i], new[j + 1] if j + 1 < len(new) else None)
            for i, j in _swap_partners(old, new, opcodes)
        ]
        for tag, i1, i2, j1, j2 in _differences(opcodes):
            if tag == "replace" and all(
                old[i].source == new[j].source
                for i, j in zip(range(i1, i2), range(j1, j2), strict=False)
            ):
                paired = min(i2 - i1, j2 - j1)
                found += [
                    Change(before.name, "changed", new[j1 + k], old[i1 + k]) for k in range(paired)
                ]
                i1, j1 = i1 + paired, j1 + paired
            found += [
                Change(before.name, "removed", old[i], None, new[j2] if j2 < len(new) else None)
                for i in range(i1, i2)
            ]
            found += [
                Change(
                    before.name,
                    "added",
                    new[j],
                    None,
                    new[j2] if j2 < len(new) else None,
                    new[j + 1] if j + 1 < len(new) else None,
                )
                for j in range(j1, j2)
            ]
    programs = {
        before.name: (before.program, after.program)
        for before, after in zip(correct, changed, strict=True)
    }
    changes = _moves(found) + partners
    was_of = {id(c.step): c.was for c in changes if c.kind == "moved" and c.was is not None}
    places = {
        name: {id(step): at for at, step in enumerate(old.steps)}
        for name, (old, _new) in programs.items()
    }
    return [
        _goto_left(
            _unguarded(_swapped(change, was_of, places[change.thread]), *programs[change.thread]),
            *programs[change.thread],
        )
        for change in changes
    ]


def _swapped(change: Change, was_of: Mapping[int, Step], place: Mapping[int, int]) -> Change:
    """``change`` with ``next`` kept only where two steps swapped: the step
    now right after a moved one was moved too (``was_of`` gives a moved
    step's step in the correct protocol, ``place`` where each of those
    steps stood) and came before it there."""
    if change.kind != "moved" or change.next is None or change.was is None:
        return attrs.evolve(change, next=None)
    follower = was_of.get(id(change.next))
    if follower is None or place.get(id(follower), -1) >= place.get(id(change.was), -1):
        return attrs.evolve(change, next=None)
    return change


def _goto_after(program: Program, step: Step) -> tuple[Jump, frozenset[tuple[object, ...]]] | None:
    """The ``op.goto`` right after the run of steps (no label, jump or step
    that may jump between) that holds ``step``, with the steps of that run
    (``step_key``: two builds make distinct step objects); None when a
    label or a step that may jump (the test of an ``op.when``, whose body
    the goto ends) comes after the run."""
    items = program.items
    at = next(k for k, item in enumerate(items) if item is step)
    start = at
    while start > 0 and _falls_through(items[start - 1]):
        start -= 1
    end = at
    while end + 1 < len(items) and _falls_through(items[end + 1]):
        end += 1
    if end + 1 >= len(items) or not isinstance(jump := items[end + 1], Jump):
        return None
    run = items[start : end + 1]
    return jump, frozenset(step_key(item) for item in run if isinstance(item, Step))


def _falls_through(item: object) -> bool:
    """Whether ``item`` is a step that always goes on to the item after it."""
    return isinstance(item, Step) and item.jump_label is None


def _goto_left(change: Change, old: Program, new: Program) -> Change:
    """``change`` with the goto a moved step left behind: the one right
    after it, which ended the run of steps it came in, when the steps
    after it in the new program, of that run, end otherwise (it moved out
    of the run; two steps of one run swapped keep its goto).  A step
    moved from inside a run left no goto: the one after the run still
    follows the run's last step."""
    if change.kind != "moved" or change.was is None:
        return change
    items = old.items
    at = next(k for k, item in enumerate(items) if item is change.was)
    if at + 1 >= len(items) or not isinstance(items[at + 1], Jump):
        return change
    found = _goto_after(old, change.was)
    if found is None:
        return change
    jump, run = found
    items = new.items
    at = next(k for k, item in enumerate(items) if item is change.step) + 1
    while at < len(items) and isinstance(step := items[at], Step) and step_key(step) in run:
        at += 1
    if at < len(items) and isinstance(after := items[at], Jump) and after.target == jump.target:
        return change
    return attrs.evolve(change, left_goto=_goto_text(old, jump))


def _goto_text(program: Program, jump: Jump) -> str:
    """``goto out`` as a note names it: with the step it lands on, since
    the labels ``op.when`` makes (``end.27``) say nothing."""
    landing = program.landing(jump)
    where = "the end of the program" if landing is None else repr(landing.label)
    return f"goto {label_name(jump.target)} (to {where})"


def _unguarded(change: Change, old: Program, new: Program) -> Change:
    """``change`` with the tests that no longer guard a moved step: a test
    is still there when a guard of the new program has its label or tests
    its condition (a replaced body that words the test anew), and a moved
    test that leaves to where a lost one leaves (two early returns in
    another order) lost nothing the program relies on."""
    if change.kind != "moved" or change.was is None:
        return change
    now, before = new.guards(change.step), old.guards(change.was)
    exit_to = change.step.jump_label
    return attrs.evolve(
        change,
        unguarded=_guards_apart(before, now, exit_to),
        guarded=_guards_apart(now, before, exit_to),
    )


def _guards_apart(
    guards: Sequence[Step], others: Sequence[Step], exit_to: str | None
) -> tuple[str, ...]:
    """The labels of ``guards`` none of ``others`` is (by label or by the
    condition it tests), but those that leave to ``exit_to``, where the
    step itself leaves."""
    known = {step.label for step in others} | {_tested(step) for step in others}
    return tuple(
        sorted(
            {
                step.label
                for step in guards
                if step.label not in known
                and _tested(step) not in known
                and (exit_to is None or step.jump_label != exit_to)
            }
        )
    )


def _tested(step: Step) -> str:
    """What a test tests, as text (its label for a step with no condition)."""
    cond = getattr(step, "cond", None)
    return step.label if cond is None else f"{type(step).__name__}: {cond}"


Opcode = tuple[str, int, int, int, int]


def _opcodes(old: Sequence[Step], new: Sequence[Step]) -> Sequence[Opcode]:
    """How the steps ``new`` stand against ``old`` (``difflib`` opcodes),
    steps compared by ``step_key``."""
    matcher = difflib.SequenceMatcher(
        a=[step_key(s) for s in old], b=[step_key(s) for s in new], autojunk=False
    )
    return matcher.get_opcodes()


def _differences(opcodes: Sequence[Opcode]) -> list[Opcode]:
    """``opcodes`` but ``equal``: where the steps differ."""
    return [opcode for opcode in opcodes if opcode[0] != "equal"]


def _swap_partners(
    old: Sequence[Step], new: Sequence[Step], opcodes: Sequence[Opcode]
) -> list[tuple[int, int]]:
    """The steps of ``old`` that stayed in ``new`` (``opcodes``) but changed
    places with a step moved past them alone (``Program.swap`` of two
    neighbours, which ``difflib`` tells as one step taken out and put back
    on the other side): the index of each in ``old`` and in ``new``."""
    stayed = [
        (i1 + k, j1 + k) for tag, i1, i2, j1, _ in opcodes if tag == "equal" for k in range(i2 - i1)
    ]
    taken = [i for tag, i1, i2, _, _ in opcodes if tag != "equal" for i in range(i1, i2)]
    put = [j for tag, _, _, j1, j2 in opcodes if tag != "equal" for j in range(j1, j2)]
    partners = []
    for i in taken:
        key = _key_but_source(old[i])
        for j in put:
            if _key_but_source(new[j]) != key:
                continue
            crossed = [(a, b) for a, b in stayed if (a < i) != (b < j)]
            if len(crossed) == 1 and crossed[0] not in partners:
                partners.append(crossed[0])
            break
    return partners


def changed_positions(
    correct: KernelModel, changed: KernelModel
) -> dict[tuple[int, int], str] | None:
    """Each thread and program counter of ``changed`` (a scenario under
    variants) at a step the variants added, changed or moved there, with
    its label, and at the step that comes to steps they removed
    (``_place_of_removal``, labelled ``LABEL removed``, or ``LABEL moved
    away`` when the step, or one alike but for its model line, is among
    those added elsewhere, every step of the gap named), else at the step
    after them (which a thread may reach by other ways too: it stands for
    the gap, reached at least as often); None when the gap ends the
    program after a jump or a label."""
    found: dict[tuple[int, int], str] = {}
    for tid, (before, after) in enumerate(zip(correct.threads, changed.threads, strict=True)):
        old, new = before.program.steps, after.program.steps
        opcodes = _opcodes(old, new)
        differences = _differences(opcodes)
        added = {
            _key_but_source(new[j]) for _tag, _i1, _i2, j1, j2 in differences for j in range(j1, j2)
        }
        for _tag, i1, i2, j1, j2 in differences:
            for j in range(j1, j2):
                found.setdefault((tid, j), new[j].label)
            if i2 > i1 and j2 == j1:
                place = _place_of_removal(before, after, i1, j1)
                if place is None and j1 < len(new):
                    place = j1
                if place is None:
                    return None
                gone = [
                    f"{old[i].label} "
                    + ("moved away" if _key_but_source(old[i]) in added else "removed")
                    for i in range(i1, i2)
                ]
                found.setdefault((tid, place), "; ".join(gone))
        for _i, j in _swap_partners(old, new, opcodes):
            found.setdefault((tid, j), new[j].label)
    return found


def _place_of_removal(before: Thread, after: Thread, removed: int, at: int) -> int | None:
    """A step of ``after`` that runs whenever the place of the steps of
    ``before`` from ``removed`` on (gone in ``after``, whose step ``at``
    follows the gap) is reached: the step before the gap, when in
    ``before`` it led to the first removed step and nothing else did (no
    jump or label between them); None otherwise (a program that started
    with them comes there at once)."""
    if removed == 0:
        return None
    previous = before.steps[removed - 1]
    if previous.context.next_pc != removed or step_key(previous.step) != step_key(
        after.steps[at - 1].step
    ):
        return None
    items = before.program.items
    first = next(n for n, item in enumerate(items) if item is previous.step)
    last = next(n for n, item in enumerate(items) if item is before.steps[removed].step)
    if any(not isinstance(item, Step) for item in items[first + 1 : last]):
        return None
    return at - 1


def _moves(changes: list[Change]) -> list[Change]:
    """``changes`` with each step a thread lost in one place and gained in
    another as one ``moved`` change: the very step (``Program.swap``,
    ``move_before``), else a step alike but for its model line (an
    operation whose flag variant takes the same lock on another line
    of an ``if``)."""
    moved: dict[int, Change] = {}
    dropped: set[int] = set()
    for key in (step_key, _key_but_source):
        added: dict[tuple[str, tuple[object, ...]], list[int]] = {}
        for at, change in enumerate(changes):
            if change.kind == "added" and at not in dropped:
                added.setdefault((change.thread, key(change.step)), []).append(at)
        for at, change in enumerate(changes):
            if change.kind != "removed" or at in moved:
                continue
            places = added.get((change.thread, key(change.step)))
            if places:
                arrived = changes[places[0]]
                moved[at] = Change(
                    change.thread, "moved", arrived.step, change.step, arrived.before, arrived.next
                )
                dropped.add(places.pop(0))
    return [moved.get(at, change) for at, change in enumerate(changes) if at not in dropped]


def _key_but_source(step: Step) -> tuple[object, ...]:
    """``step_key`` without the model line."""
    key = step_key(step)
    return key[:2] + key[3:]


def applicable_variants(
    registry: Registry, scenario: Scenario, failing: dict[str, str] | None = None
) -> dict[str, list[Change]]:
    """Each declared variant that changes a step of ``scenario``, with its
    changes, and each a thread's operation asks about (``op.variant``)
    with no step changed that ``step_key`` shows (an empty list: what a
    step computes may differ); with ``failing``, a variant whose
    transform or build fails on the scenario is recorded there with the
    error and left out (else the error is raised)."""
    return named_variants(registry, scenario, sorted(registry.variants), failing, together=False)


def named_variants(
    registry: Registry,
    scenario: Scenario,
    names: Sequence[str],
    failing: dict[str, str] | None = None,
    together: bool = True,
) -> dict[str, list[Change]]:
    """``applicable_variants`` among ``names``, which may name variants made
    on demand (a ``mutant:`` name) as well as declared ones, but for those
    the scenario's protocol is made of (``variants=``); ``together``:
    the names were given together (``show -V``), so one that fails alone
    is tried on top of the others (``changes_among``), else each alone."""
    result = {}
    correct = built(registry, scenario)
    for name in names:
        if name in scenario.variants:
            continue
        try:
            try:
                with building_within(None, f"applying variant {name} to {scenario.name}"):
                    changing = could_change(registry.variant(name), correct)
            except BuildTooLong:
                raise
            except Exception:  # a transform that needs another of names: changes_among says
                if not together:
                    raise
                changing = True
            if not changing:
                continue
            changes = (
                changes_among(registry, scenario, name, names, correct)
                if together
                else variant_changes(registry, scenario, name, correct)
            )
            if failing is not None and changes and not together:
                refuse_reads_of_unset_registers(
                    built(registry, scenario, (name,)), correct, (name,)
                )
        except BuildTooLong:
            raise
        except Exception as error:
            if failing is None:
                raise
            failing[name] = str(usermodels.located(error))
            continue
        if changes or asked_about(correct, name):
            result[name] = changes
    return result


def asked_about(model: KernelModel, name: str) -> bool:
    """Whether an operation of ``model`` asked about variant ``name``
    (``op.variant``) while building."""
    return any(name in thread.asked for thread in model.threads)


def could_change(variant: Variant, correct: KernelModel) -> bool:
    """Whether ``variant`` may change a thread of ``correct`` (the scenario
    built without it): a flag the build asked about, a replaced body the
    build ran, or a transform that rewrites a thread's program.  False
    means the variant certainly changes nothing."""
    if variant.transform is not None:
        transform = variant.transform
        if any(
            differ(
                thread.program,
                transformed(transform, thread.program, thread.invocation, thread.name),
            )
            for thread in correct.threads
        ):
            return True
    ran = {operation for thread in correct.threads for operation in thread.ran}
    ran_replaced = any(operation in ran for operation, _body in variant.bodies)
    return ran_replaced or asked_about(correct, variant.name)


def _shown_parameter(parameter: inspect.Parameter) -> str:
    """A parameter as a signature shows it: ``*positions`` for one that
    takes any number of arguments."""
    if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
        return f"*{parameter.name}"
    if parameter.kind is inspect.Parameter.VAR_KEYWORD:
        return f"**{parameter.name}"
    return parameter.name


@attrs.frozen
class OperationInfo:
    """A shipped operation as ``vfsmc ops`` lists it."""

    operation: Operation
    module: str
    signature: str
    tags: dict[str, list[str]]
    """Each tag its steps carry, with the labels of the tagged steps, as
    the scenarios that run it build it."""
    scenarios: list[str]


def shipped_operations(registry: Registry, modules: Iterable[object]) -> list[OperationInfo]:
    """Every ``Operation`` the ``modules`` define, with the tags its steps
    carry in the scenarios of ``registry`` that run it."""
    seen: dict[int, tuple[Operation, str]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Operation) and id(value) not in seen:
                defined = getattr(module, "__name__", "?")
                seen[id(value)] = (value, defined)
    owners = _defining_modules(seen.values())
    tags: dict[int, dict[str, list[str]]] = {key: {} for key in seen}
    users: dict[int, list[str]] = {key: [] for key in seen}
    for scenario in sorted(registry.scenarios.values(), key=lambda s: s.name):
        ops = {id(inv.operation) for inv in scenario.threads}
        if not ops & set(seen):
            continue
        model = built(registry, scenario)
        for thread in model.threads:
            key = id(thread.invocation.operation)
            if key not in seen:
                continue
            if scenario.name not in users[key]:
                users[key].append(scenario.name)
            for step in thread.program.steps:
                for tag in sorted(step.tags):
                    labels = tags[key].setdefault(tag, [])
                    if step.label not in labels:
                        labels.append(step.label)
    infos = []
    for key, (op, _module) in seen.items():
        parameters = list(inspect.signature(op.build).parameters.values())[1:]
        signature = f"{op.name}({', '.join(map(_shown_parameter, parameters))})"
        infos.append(OperationInfo(op, owners[key], signature, tags[key], users[key]))
    return sorted(infos, key=lambda info: (info.module, info.operation.name))


def _defining_modules(found: Iterable[tuple[Operation, str]]) -> dict[int, str]:
    owners = {}
    for op, module in found:
        defined = getattr(op.build, "__module__", None) or module
        owners[id(op)] = defined.removeprefix(f"{mc.models.__name__}.")
    return owners


def model_file(module: str) -> str:
    """The path of a shipped model module, relative to the repository."""
    return f"models/{module}.py" if (ROOT / "models" / f"{module}.py").exists() else module


KEPT_ANSWERS = 8
"""How many sets of sources ``applicable_variant_names`` remembers its
answer for (listing with and without a user's model files alternately
finds both); the answer for the shipped sources alone, which every set
with a user's files starts from, is kept however many others come after
it."""


SHIPPED_ANSWER = SPECS / "applicable-variants.json"
"""The answer for the shipped sources, shipped with them (``{"key":
shipped_sources_key(), "applies": ...}``, written by
``write_shipped_answer``, ``make counterexamples``): a first listing on a
fresh machine starts from it instead of building every scenario under
every variant.  Used only while its key is the sources' (an edit of vfsmc
or of its models leaves it aside)."""


SIDE_BY_SIDE_FROM = 24
"""How many scenarios ``applicable_variant_names`` works out anew before it
works them out in two processes side by side (without a user's variants:
their transforms are timed build by build, ``building_within``, which a
second process on the same cores would make slower)."""


def applicable_variant_names(
    registry: Registry,
    failing: dict[str, dict[str, str]] | None = None,
    only: Collection[str] | None = None,
    unbuilt: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """For each scenario of ``registry``, the variants that change a step of
    it (``applicable_variants``), remembered in ``cache_file`` for the
    sources this process loaded (the last ``KEPT_ANSWERS`` sets of
    sources): working them out builds every scenario once per variant
    that may change it, seconds over the shipped models.  With a user's
    model files, the shipped scenarios' shipped variants are those
    remembered for the shipped sources (``shipped_sources_key``), so an
    edit of the user's file works out its own scenarios and variants only.
    A user's variant that fails to build on a scenario, shipped or the
    user's (a label or a path its body lacks), changes nothing there; where ``failing`` is
    given, it gains the variant's name with each such scenario and the
    error, when the answer is worked out rather than remembered.  Any
    other failure is an error.  ``only``: the scenarios asked about (a
    ``list`` of some words); unless the whole answer is remembered, only
    theirs is worked out, and not remembered.  ``unbuilt``: a user's
    scenario that does not build alone (within ``checkable.SET_ASIDE_SECONDS``) gets
    no variants and its error there, and the answer is not remembered;
    without it such a scenario is an error."""
    key = sources_key()
    path = cache_file()
    entries = _remembered(path)
    shipped = _remembered_in(SHIPPED_ANSWER)
    found = _answer([*entries, *shipped], key, set(registry.scenarios))
    if found is not None:
        return found
    partial = only is not None and set(only) < set(registry.scenarios)
    users_variants = sorted(name for name, v in registry.variants.items() if user_declared(v))
    shipped_scenarios = {name for name, s in registry.scenarios.items() if not user_declared(s)}
    theirs = bool(users_variants) or len(shipped_scenarios) < len(registry.scenarios)
    base_key = shipped_sources_key()
    base = _answer([*entries, *shipped], base_key, shipped_scenarios) if theirs else None
    scenarios = [
        scenario
        for name, scenario in registry.scenarios.items()
        if not partial or name in (only or ())
    ]

    def work_out(index: int) -> tuple[list[str], dict[str, str]]:
        scenario = scenarios[index]
        tolerated: dict[str, str] = {}
        failed = tolerated if users_variants else None
        if unbuilt is not None and user_declared(scenario):
            try:
                with at_most(f"building the model of {scenario.name}"):
                    built(registry, scenario)
            except Exception as error:
                return [], {UNBUILT: str(usermodels.located(error))}
        try:
            if base is not None and scenario.name in base:
                applies = set(base[scenario.name])
                if users_variants:
                    applies.update(
                        named_variants(registry, scenario, users_variants, failed, together=False)
                    )
                names = [v for v in sorted(registry.variants) if v in applies]
            else:
                names = list(applicable_variants(registry, scenario, failed))
        except Exception as error:
            raise _blamed(registry, scenario, error) from None
        for name, why in tolerated.items():
            if name not in users_variants:
                raise LocatedModelError(f"{why} (scenario {scenario.name})")
        return names, tolerated

    unknown = sum(base is None or s.name not in base for s in scenarios)
    side_by_side_ok = unknown >= SIDE_BY_SIDE_FROM and not users_variants
    processes = min(os.cpu_count() or 1, 2) if side_by_side_ok else 1
    answers = side_by_side.each(len(scenarios), work_out, processes)
    worked_out = {s.name: names for s, (names, _) in zip(scenarios, answers, strict=True)}
    for scenario, (_names, tolerated) in zip(scenarios, answers, strict=True):
        if UNBUILT in tolerated and unbuilt is not None:
            unbuilt[scenario.name] = tolerated[UNBUILT]
        elif failing is not None:
            for name, why in tolerated.items():
                failing.setdefault(name, {})[scenario.name] = why
    if partial or unbuilt:
        return worked_out
    kept: list[dict[str, Any]] = [{"key": key, "applies": worked_out}]
    if theirs and base is None:
        shipped_answer = {
            name: [v for v in worked_out[name] if v not in users_variants]
            for name in sorted(shipped_scenarios)
        }
        kept.append({"key": base_key, "applies": shipped_answer})
    written = {entry["key"] for entry in kept}
    older = [entry for entry in entries if entry.get("key") not in written]
    older.sort(key=lambda entry: entry.get("key") != base_key)
    kept += older[: KEPT_ANSWERS - len(kept)]
    if path.is_file() or not path.exists():  # a FIFO by its name would block the writer
        with contextlib.suppress(OSError):
            write_atomically(path, json.dumps({"entries": kept}))
    return worked_out


UNBUILT = ""
"""The key under which ``work_out`` tells a scenario that does not build."""


def _remembered(path: Path) -> list[dict[str, Any]]:
    """The answers ``cache_file`` keeps, those that have the form of one."""
    with contextlib.suppress(OSError, ValueError, RecursionError):
        remembered = json.loads(read_text(path, "the applicable-variants cache"))
        listed = remembered.get("entries") if isinstance(remembered, dict) else None
        return [
            entry
            for entry in (listed if isinstance(listed, list) else ())
            if isinstance(entry, dict) and isinstance(entry.get("applies"), dict)
        ]
    return []


def _remembered_in(path: Path) -> list[dict[str, Any]]:
    """The one answer ``path`` holds (``SHIPPED_ANSWER``), if it has the form
    of one."""
    with contextlib.suppress(OSError, ValueError, RecursionError):
        entry = json.loads(read_text(path, "the shipped applicable-variants answer"))
        if isinstance(entry, dict) and isinstance(entry.get("applies"), dict):
            return [entry]
    return []


def write_shipped_answer(registry: Registry, path: Path = SHIPPED_ANSWER) -> int:
    """Work out the answer for the shipped scenarios and variants of
    ``registry`` (the shipped registry) and write it to ``path`` with the
    key of the shipped sources; returns how many scenarios it covers."""
    applies = {
        scenario.name: list(applicable_variants(registry, scenario))
        for scenario in registry.scenarios.values()
    }
    entry = {"key": shipped_sources_key(), "applies": dict(sorted(applies.items()))}
    write_atomically(path, json.dumps(entry, indent=1, sort_keys=True) + "\n")
    return len(applies)


def _answer(
    entries: Sequence[dict[str, Any]], key: str, scenarios: set[str]
) -> dict[str, list[str]] | None:
    """The answer remembered for ``key`` about exactly ``scenarios``, if any."""
    for entry in entries:
        applies = entry["applies"]
        if (
            entry.get("key") == key
            and set(applies) == scenarios
            and all(isinstance(names, list) for names in applies.values())
        ):
            return {name: [str(variant) for variant in applies[name]] for name in scenarios}
    return None


def _blamed(registry: Registry, scenario: Scenario, error: Exception) -> LocatedModelError:
    """Why working out the variants of ``scenario`` raised ``error``: the
    scenario's own build when it fails alone, else a variant's transform."""
    try:
        built(registry, scenario)
    except Exception as own:
        return LocatedModelError(f"{usermodels.located(own)} (scenario {scenario.name})")
    return LocatedModelError(
        f"{usermodels.located(error)} (on scenario {scenario.name}: a variant's transform is "
        f"given every thread of every scenario; vfsmc show {scenario.name} names the variants "
        "that fail there)"
    )


def cache_file() -> Path:
    """Where ``applicable_variant_names`` keeps its answer:
    ``$XDG_CACHE_HOME/vfsmc/applicable-variants.json`` (``~/.cache`` by
    default, and where it is relative, which the XDG base directory
    specification says to ignore)."""
    home = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(home):
        home = str(Path.home() / ".cache")
    return Path(home) / "vfsmc" / "applicable-variants.json"


def shipped_sources_key() -> str:
    """A digest of the Python source of vfsmc and its models alone: what
    the shipped scenarios and variants are built from."""
    return _digest(_shipped_sources())


def _shipped_sources() -> set[Path]:
    return {
        file.resolve() for folder in (ROOT / "mc", ROOT / "models") for file in folder.rglob("*.py")
    }


def sources_key() -> str:
    """A digest of the Python source of vfsmc and its models, and of every
    module this process loaded from outside the interpreter's own libraries
    and installed packages (the user's model files and what they import):
    what the scenarios and variants are built from."""
    libraries = {
        Path(p).resolve()
        for p in (sysconfig.get_paths()["stdlib"], *site.getsitepackages(), sys.base_prefix)
    }
    files = _shipped_sources()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name or not name.endswith(".py"):
            continue
        file = Path(os.path.realpath(name))
        if not any(file.is_relative_to(library) for library in libraries):
            files.add(file)
    return _digest(files)


def _digest(files: Iterable[Path]) -> str:
    """A digest of ``files``, each by its path (relative to the repository
    for vfsmc's own, so that a clone elsewhere has the same) and content."""
    digest = hashlib.sha256()
    root = ROOT.resolve()
    for file in sorted(files):
        named = file.relative_to(root) if file.is_relative_to(root) else file
        digest.update(str(named).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(file.read_bytes())
    return digest.hexdigest()


def unmatched_insertions(model: KernelModel) -> list[str]:
    """A note for each label of an ``inserts(..., optional=True)`` variant
    that no body of the scenario has a step of: the steps meant for it are
    in no thread, which a misspelt label does as quietly as a body whose
    arguments take another path."""
    notes = []
    for (name, label), (count, close) in model.world.insertions.items():
        if count:
            continue
        hint = f"; did you mean {close!r}?" if close else ""
        notes.append(
            f"{name} inserts nothing at {label!r}: no step of this scenario's threads has "
            f"that label (optional=True lets a body without it pass{hint})"
        )
    return notes
