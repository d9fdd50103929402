"""Programs: an operation's steps as data, the transforms that variants and
mutations apply to them, and linking into compiled form."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import attrs

from mc.dsl.callers import caller_source
from mc.dsl.steps import (
    BranchStep,
    ConditionalStep,
    Context,
    DowngradeStep,
    EffectStep,
    Fire,
    JumpStep,
    LockStep,
    OneLockStep,
    Source,
    Step,
    ThreadSlots,
    UnlockStep,
    spread,
)
from mc.dsl.wait_steps import EntryCallStep, HandOffStep, SectionStep, TryLockStep
from mc.kernel.expr import LockExpr, const
from mc.kernel.locks import Mode
from mc.kernel.world import DONE, World, touched_by
from mc.project import shown

T = TypeVar("T")


@attrs.frozen
class Label:
    """A jump target in a program."""

    name: str


@attrs.frozen
class Jump:
    """An unconditional jump; not a step of its own."""

    target: str
    source: Source | None = attrs.field(default=None, eq=False)
    """Where the model wrote it (``op.goto``), for errors."""


Item = Step | Label | Jump


def label_name(label: str) -> str:
    """A label as the operation named it, without the scope of the body
    that wrote it (``_dput#1/out`` is ``out``), as ``drop_gotos`` takes it."""
    return label.rsplit("/", 1)[-1]


def nearest_label(wanted: str, labels: Sequence[str]) -> str | None:
    """The label a mistyped ``wanted`` most likely meant: the first of
    ``labels`` that contains it (``retry: inode_lock(inode)`` for
    ``inode_lock(inode)``), else the closest spelling, if any is close."""
    containing = [label for label in labels if wanted in label]
    close = containing or difflib.get_close_matches(wanted, labels, n=1)
    return close[0] if close else None


class ProgramError(ValueError):
    """A program that cannot be linked (unknown label, a loop without steps)."""


LOCK_STEPS = (OneLockStep, TryLockStep, SectionStep, HandOffStep)
"""The steps that take, release, hand off or check a lock."""

ACQUISITIONS = (LockStep, TryLockStep, SectionStep)
"""The steps that take a lock: ``drop_acquisitions`` offers each."""


def _unlocked(section: SectionStep) -> EffectStep:
    """A spinlock section's effect without its lock, still one step."""
    return EffectStep(
        **{field.name: getattr(section, field.name) for field in attrs.fields(EffectStep)}
    )


def _next_acquisition(
    linked: Sequence[tuple[Step, int, int | None]], start: int, entries: Sequence[set[int]]
) -> LockStep | None:
    """The acquisition every path from step ``start`` (an acquisition)
    reaches next through steps that touch no lock (``acquisitions_in_turn``),
    or None; ``entries`` are the steps each step is entered from."""
    found: int | None = None
    region: set[int] = set()
    todo = [linked[start][1]]
    while todo:
        at = todo.pop()
        if at in (DONE, start):
            return None
        step, after, jump = linked[at]
        if isinstance(step, LockStep):
            if found is not None and found != at:
                return None
            found = at
            continue
        if isinstance(step, LOCK_STEPS):
            return None
        if at not in region:
            region.add(at)
            todo += [after] if jump is None else [after, jump]
    if found is None:
        return None
    second = linked[found][0]
    assert isinstance(second, LockStep)
    if region and second.lock.fixed is None:
        return None
    return second if entries[found] <= region | {start} else None


Held = dict[str, frozenset[Mode]]
EITHER_MODE = frozenset((Mode.SHARED, Mode.EXCL))


def _held_modes(linked: Sequence[tuple[Step, int, int | None]], entry: int) -> list[Held | None]:
    """For each step of a linked program, the modes the thread may hold
    each lock in (by its text) when the step runs, over every path from
    ``entry``; None for a step no path reaches."""
    held: list[Held | None] = [None] * len(linked)
    if entry == DONE:
        return held
    held[entry] = {}
    work = [entry]
    while work:
        index = work.pop()
        step, after, jump = linked[index]
        before = held[index]
        assert before is not None
        for target, out in zip((after, jump), _held_after(step, before), strict=True):
            if target is None or target == DONE:
                continue
            known = held[target]
            merged = (
                dict(out)
                if known is None
                else {
                    text: known.get(text, frozenset()) | out.get(text, frozenset())
                    for text in known.keys() | out.keys()
                }
            )
            if merged != known:
                held[target] = merged
                work.append(target)
    return held


def _held_after(step: Step, before: Held) -> tuple[Held, Held]:
    """What ``step`` leaves held on the way to the step after it and on the
    way to its jump target."""
    lock: LockExpr | None = getattr(step, "lock", None)
    if lock is None or isinstance(step, SectionStep):
        return before, before
    text, after = lock.text, dict(before)
    if isinstance(step, LockStep | TryLockStep):
        after[text] = frozenset((step.mode,))
        return after, before
    if isinstance(step, DowngradeStep):
        if text in after:
            after[text] = frozenset((Mode.SHARED,))
        return after, before
    if isinstance(step, UnlockStep) or (isinstance(step, HandOffStep) and not step.take):
        after.pop(text, None)
        return after, before
    if isinstance(step, HandOffStep):
        after[text] = EITHER_MODE
    return after, before


def forced_label(label: str, holds: bool) -> str:
    """The label ``Program.force`` gives the test labelled ``label``."""
    return f"{label} /* {'always' if holds else 'never'} */"


@attrs.frozen
class Program:
    """The items of one thread's program, in order."""

    items: tuple[Item, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(item for item in self.items if isinstance(item, Step))

    def replace_steps(self, change: Callable[[Step], Sequence[Step]]) -> Program:
        """A program where each step ``s`` is replaced by ``change(s)``."""
        items: list[Item] = []
        for item in self.items:
            items.extend(change(item) if isinstance(item, Step) else (item,))
        return Program(tuple(items))

    def recompute(self, which: Step | str, function: Callable[..., Any]) -> Program:
        """The effect step ``which`` (an ``op.effect``, ``op.compute`` or
        ``op.let`` step, or the label of one) computing ``function(scratch,
        *values)`` instead, with the same arguments and result register;
        or the method call ``which`` (``op.call``) running ``function`` as
        the filesystem's implementation (the locking rules are checked at
        the call as before; an ``op.enter`` call, whose body is steps of its
        own, is refused).  What partial-order reduction takes it to read and
        write is ``function``'s ``@touches`` declaration, or every slot when
        it has none (not the old effect's: a stale declaration would be
        unsound)."""
        step = self.step(which)
        if not isinstance(step, EffectStep) or isinstance(step, EntryCallStep):
            raise ValueError(
                f"{step.label!r} is not an effect step (op.effect, op.compute, op.let) or a "
                "method call (op.call): recompute changes what such a step computes"
                + (
                    "; the body of an op.enter call is the steps after it"
                    if isinstance(step, EntryCallStep)
                    else ""
                )
            )
        changed = attrs.evolve(
            step, effect=spread(function), touches=touched_by(function), names=None
        )
        return self.replace_steps(lambda s: (changed,) if s is step else (s,))

    def force(self, which: Step | str, holds: bool) -> Program:
        """The test ``which`` (an ``op.when``, ``op.fail_if`` or
        ``op.goto_if`` step, or the label of one) made to hold always
        (``holds=True``) or never, whatever the state: the condition as its
        label shows it, so a branch whose label says the negation of what it
        tests (``label_negates``) is forced as the label reads.  Its label
        gains ``/* always */`` or ``/* never */`` and its source is the
        line of the transform that forced it."""
        step = self.step(which)
        if not isinstance(step, ConditionalStep):
            raise ValueError(
                f"{step.label!r} is not a test (op.when, op.fail_if, op.goto_if): "
                "force makes a test's condition constant"
            )
        negated = isinstance(step, BranchStep | JumpStep) and step.label_negates
        value = holds != negated
        changed = attrs.evolve(
            step,
            cond=const(value, "true" if value else "false"),
            label=forced_label(step.label, holds),
            source=caller_source(),
        )
        return self.replace_steps(lambda s: (changed,) if s is step else (s,))

    def drop(self, chosen: Callable[[Step], bool]) -> Program:
        """Without the steps ``chosen`` picks."""
        return self.replace_steps(lambda step: () if chosen(step) else (step,))

    def drop_lock(self, text: str) -> Program:
        """Without any acquisition (a trylock's too, which then always
        succeeds) or release of the lock spelt ``text``
        (``s_vfs_rename_sem``, ``i_rwsem(victim)``) or of that lock family;
        a spinlock section of it (``op.section``) becomes its effect alone,
        still one step, and its hand-offs and take-overs (``op.hand_off``,
        ``op.take_over``) hand off only a lock held and take over only one
        handed off, as ``drop_acquisitions`` leaves them."""

        def of_it(step: Step) -> bool:
            lock = getattr(step, "lock", None)
            return lock is not None and text in (lock.text, lock.family)

        def change(step: Step) -> Sequence[Step]:
            if isinstance(step, SectionStep) and of_it(step):
                return (_unlocked(step),)
            if isinstance(step, LockStep | UnlockStep | TryLockStep) and of_it(step):
                return ()
            if isinstance(step, HandOffStep) and of_it(step):
                return (attrs.evolve(step, if_held=True),)
            return (step,)

        return self.replace_steps(change)

    def drop_acquisitions(self, chosen: Callable[[Step], bool]) -> Program:
        """Without the lock acquisitions ``chosen`` picks (it is given each
        ``LockStep``, ``TryLockStep`` and spinlock section, with its
        ``label``, ``tags`` and ``lock``, and no other step): a trylock
        dropped always succeeds, a section becomes its effect alone (still
        one step); the releases of those locks, and their hand-offs
        (``op.hand_off``), become releases- and hand-offs-if-held, so a
        path that still takes the lock elsewhere stays balanced and one that
        skipped it releases or hands off nothing."""
        picked = [s for s in self.steps if isinstance(s, ACQUISITIONS) and chosen(s)]
        texts = {step.lock.text for step in picked if not isinstance(step, SectionStep)}

        def change(step: Step) -> Sequence[Step]:
            if any(step is p for p in picked):
                return (_unlocked(step),) if isinstance(step, SectionStep) else ()
            if isinstance(step, UnlockStep) and step.lock.text in texts:
                return (attrs.evolve(step, if_held=True),)
            if isinstance(step, HandOffStep) and not step.take and step.lock.text in texts:
                return (attrs.evolve(step, if_held=True),)
            return (step,)

        return self.replace_steps(change)

    def take_overs_if_handed_off(self) -> Program:
        """The take-overs (``op.take_over``) become take-overs-if-handed-off,
        and the releases of the locks taken over releases-if-held: the other
        end of a hand-off that a dropped acquisition in another operation
        made a hand-off-if-held (``drop_acquisitions``), so the thread that
        would take the lock over (a thaw after a freeze) stays balanced when
        nothing was handed off."""
        texts = {
            step.lock.text for step in self.steps if isinstance(step, HandOffStep) and step.take
        }

        def change(step: Step) -> Sequence[Step]:
            if isinstance(step, HandOffStep) and step.take and step.lock.text in texts:
                return (attrs.evolve(step, if_held=True),)
            if isinstance(step, UnlockStep) and step.lock.text in texts:
                return (attrs.evolve(step, if_held=True),)
            return (step,)

        return self.replace_steps(change) if texts else self

    def acquisitions_in_turn(self) -> list[tuple[LockStep, LockStep]]:
        """Pairs of lock acquisitions whose second is the next lock step on
        every path from the first: the steps between them (effects, calls,
        branches, waits for conditions) take, release and wait for no lock,
        none ends the program or leads back to the first, and the second is
        reached only through them; with any step between, the second's lock
        is one known before the program runs (not found through a register
        those steps may set)."""
        linked = self.link()
        entries: list[set[int]] = [set() for _ in linked]
        for index, (_step, after, jump) in enumerate(linked):
            for target in (after, jump):
                if target is not None and target != DONE:
                    entries[target].add(index)
        pairs: list[tuple[LockStep, LockStep]] = []
        for index, (first, _after, _jump) in enumerate(linked):
            if isinstance(first, LockStep):
                second = _next_acquisition(linked, index, entries)
                if second is not None:
                    pairs.append((first, second))
        return pairs

    def weaken(
        self, chosen: Callable[[Step], bool], relabel: Callable[[str], str] = str
    ) -> Program:
        """Exclusive acquisitions ``chosen`` picks become shared: those of a
        reader-writer lock, or of one found through the state (a spinlock,
        a mutex, a bit lock has no shared mode, so its acquisitions stay);
        ``relabel`` rewrites their labels (``lambda label:
        label.replace("inode_lock(", "inode_lock_shared(")``; by default they
        keep theirs, which other variants may find them by)."""

        def change(step: Step) -> Sequence[Step]:
            if isinstance(step, LockStep) and step.mode is Mode.EXCL and chosen(step):
                fixed = step.lock.fixed
                if fixed is None or fixed.kind.shared_mode:
                    return (attrs.evolve(step, mode=Mode.SHARED, label=relabel(step.label)),)
            return (step,)

        return self._with_modes_changed(change)

    def strengthen(
        self, chosen: Callable[[Step], bool], relabel: Callable[[str], str] = str
    ) -> Program:
        """Shared acquisitions ``chosen`` picks become exclusive
        (``inode_lock_shared()`` made ``inode_lock()``), their releases with
        them (``inode_unlock_shared()`` made ``inode_unlock()``:
        ``with_release_modes``); ``relabel`` as for ``weaken``."""

        def change(step: Step) -> Sequence[Step]:
            if isinstance(step, LockStep) and step.mode is Mode.SHARED and chosen(step):
                return (attrs.evolve(step, mode=Mode.EXCL, label=relabel(step.label)),)
            return (step,)

        return self._with_modes_changed(change)

    def _with_modes_changed(self, change: Callable[[Step], Sequence[Step]]) -> Program:
        changed = self.replace_steps(change)
        texts = {
            old.lock.text
            for old, new in zip(self.steps, changed.steps, strict=True)
            if isinstance(old, LockStep) and old != new
        }
        return changed.with_release_modes(texts) if texts else changed

    def with_release_modes(self, texts: Collection[str] | None = None) -> Program:
        """This program with each release (``op.unlock``) given the mode
        the thread holds its lock in wherever the release is reached, where
        that is one mode on every path from the program's start (an
        ``up_read()`` after ``down_read()``, after ``downgrade_write()``; a
        release reached holding it either way is left to release what is
        held).  A release given a mode, of a reader-writer lock held in the
        other, is a lock-protocol error where it runs: a variant that drops
        a ``downgrade_write()`` leaves an ``up_read()`` of a write-held
        lock.  The operations' programs are built so
        (``Op.program``), before any variant changes them; ``weaken`` and
        ``strengthen`` give the releases of the locks whose acquisitions
        they change the modes again.  ``texts``: only the releases of the
        locks spelt so."""
        linked = self.link()
        modes = _held_modes(linked, self.entry())
        stamped: list[Step] = []
        for (step, _after, _jump), held in zip(linked, modes, strict=True):
            if (
                isinstance(step, UnlockStep)
                and not isinstance(step, DowngradeStep)
                and (texts is None or step.lock.text in texts)
                and held is not None
            ):
                known = held.get(step.lock.text, frozenset())
                mode = next(iter(known)) if len(known) == 1 else None
                if step.mode is not mode:
                    step = attrs.evolve(step, mode=mode)
            stamped.append(step)
        if all(new is old for new, (old, _a, _j) in zip(stamped, linked, strict=True)):
            return self
        replaced = iter(stamped)
        return Program(
            tuple(next(replaced) if isinstance(item, Step) else item for item in self.items)
        )

    def block(self, chosen: Callable[[Step], bool], relabel: Callable[[str], str] = str) -> Program:
        """The trylocks ``chosen`` picks (``op.trylock``; it is given each
        ``TryLockStep`` and no other step) wait for their lock instead of
        jumping to their fail label (``mutex_trylock()`` made
        ``mutex_lock()``), with their source and mode and their label
        rewritten by ``relabel``; the fail path stays for whatever else
        jumps there."""

        def change(step: Step) -> Sequence[Step]:
            if isinstance(step, TryLockStep) and chosen(step):
                return (
                    LockStep(
                        label=relabel(step.label),
                        source=step.source,
                        tags=step.tags,
                        lock=step.lock,
                        mode=step.mode,
                    ),
                )
            return (step,)

        return self.replace_steps(change)

    def spin(self, chosen: Callable[[Step], bool]) -> Program:
        """The trylocks ``chosen`` picks (``op.trylock``; it is given each
        ``TryLockStep`` and no other step) retry in place while the lock is
        busy instead of jumping to their fail label: ``while
        (!spin_trylock(&lock)) cpu_relax();``, every lock the thread holds
        kept, so the thread may spin for ever.  Each jumps back to a label
        put just before it (``retry:`` and its position, which no model
        spells)."""
        items: list[Item] = []
        for position, item in enumerate(self.items):
            if isinstance(item, TryLockStep) and chosen(item):
                retry = f"retry:{position}"
                items += [Label(retry), attrs.evolve(item, target=retry)]
            else:
                items.append(item)
        return Program(tuple(items))

    def irqs_on(
        self, chosen: Callable[[Step], bool], relabel: Callable[[str], str] = str
    ) -> Program:
        """The lock acquisitions, releases and spinlock sections ``chosen``
        picks take their lock with interrupts left on (``spin_lock``
        instead of ``spin_lock_irq``), their labels rewritten by ``relabel``."""

        def change(step: Step) -> Sequence[Step]:
            if isinstance(step, LockStep | UnlockStep | SectionStep) and chosen(step):
                return (attrs.evolve(step, irq=False, label=relabel(step.label)),)
            return (step,)

        return self.replace_steps(change)

    def step(self, which: Step | str) -> Step:
        """``which``: a step of the program, or the label of exactly one
        (a ``ValueError`` naming the labels when none or several have it)."""
        if isinstance(which, Step):
            return which
        if not isinstance(which, str):
            raise ValueError(
                f"expected a step of the program or its label, not {type(which).__name__} {which!r}"
            )
        found = [step for step in self.steps if step.label == which]
        if len(found) > 1:
            raise ValueError(
                f"{len(found)} steps are labelled {which!r}: pass the step (from steps or "
                "tagged(tag))"
            )
        if not found:
            close = nearest_label(which, [step.label for step in self.steps])
            hint = f"did you mean {close!r}? " if close else ""
            raise ValueError(
                f"no step is labelled {which!r} ({hint}variants change the program in the "
                "order -V gives them: a step another variant adds is there only when that "
                "variant comes first, and one another removes or relabels is gone once it has)"
            )
        return found[0]

    def swap(self, first: Step | str, second: Step | str) -> Program:
        """``first`` and ``second`` (steps, or the labels of single steps)
        trade places."""
        one, other = self.step(first), self.step(second)
        items = list(self.items)
        i, j = _position(items, one), _position(items, other)
        items[i], items[j] = other, one
        return Program(tuple(items))

    def move_before(self, moved: Step | str | Sequence[Step | str], anchor: Step | str) -> Program:
        """``moved`` (a step or several, in order; steps or the labels of
        single steps) taken out and put just before ``anchor``."""
        return self._moved(moved, anchor, "before")

    def move_after(self, moved: Step | str | Sequence[Step | str], anchor: Step | str) -> Program:
        """``moved`` (as ``move_before``) taken out and put just after
        ``anchor``: before a jump (``op.goto``) or label that follows it,
        so the steps run whenever ``anchor`` ran and went on."""
        return self._moved(moved, anchor, "after")

    def _moved(
        self, moved: Step | str | Sequence[Step | str], anchor: Step | str, side: str
    ) -> Program:
        several = moved if isinstance(moved, Sequence) and not isinstance(moved, str) else [moved]
        steps = [self.step(m) for m in several]
        for at, step in enumerate(steps):
            if any(step is other for other in steps[:at]):
                raise ValueError(f"cannot move {step.label!r} twice: it is given more than once")
        beside = self.step(anchor)
        if any(beside is m for m in steps):
            raise ValueError(f"cannot move steps {side} {beside.label!r}: it is one of them")
        for step in steps:
            _position(self.items, step)
        carried = _carried(self.items, steps)
        rest = [item for item in self.items if not any(item is m for m in carried)]
        at = _position(rest, beside) + (side == "after")
        moved_program = Program((*rest[:at], *carried, *rest[at:]))
        _same_targets(self, moved_program, steps)
        _same_skips(self, moved_program, steps)
        return moved_program

    def drop_gotos(self, label: str) -> Program:
        """Without the jumps ``op.goto(label)`` wrote (in the operation or a
        body it runs): the thread falls through to what follows them.  A
        ``ValueError`` naming the labels jumped to when none goes to
        ``label`` (a conditional jump, ``op.goto_if``, is a step:
        ``drop`` removes it)."""
        if not isinstance(label, str):
            raise ValueError(f"drop_gotos takes a label's name, not {type(label).__name__}")

        gotos = [item for item in self.items if isinstance(item, Jump) and item.source is not None]

        def going(item: Item) -> bool:
            return (
                isinstance(item, Jump)
                and item.source is not None
                and (item.target == label or item.target.endswith("/" + label))
            )

        if not any(going(item) for item in gotos):
            targets = sorted({label_name(goto.target) for goto in gotos})
            named = ", ".join(repr(t) for t in targets) if targets else "none"
            tests = [
                step.label
                for step in self.steps
                if isinstance(step, ConditionalStep) and label_name(step.target) == label
            ]
            hint = (
                f"; the step {tests[0]!r} jumps there (an op.goto_if or a failure, a step: "
                "program.drop removes it)"
                if tests
                else ""
            )
            raise ValueError(f"no goto jumps to {label!r} (the gotos jump to: {named}{hint})")
        return Program(tuple(item for item in self.items if not going(item)))

    def guards(self, step: Step | str) -> list[Step]:
        """The steps that may jump (the test of an ``op.when``, a
        ``goto_if``, a failure) and jump forward over ``step`` (a step of the
        program, or the label of one): it runs only in their other case."""
        step = self.step(step)
        linked = self.link()
        at = next((i for i, (each, _next, _target) in enumerate(linked) if each is step), None)
        if at is None:
            raise ValueError(f"{step.label!r} is not a step of this program")
        return [
            each
            for i, (each, _next, target) in enumerate(linked)
            if target is not None and i < at < (len(linked) if target == DONE else target)
        ]

    def tagged(self, tag: str) -> list[Step]:
        """The steps carrying ``tag``."""
        return [step for step in self.steps if tag in step.tags]

    def link(self) -> list[tuple[Step, int, int | None]]:
        """Each step with the index of the step after it and of its jump
        target (``DONE`` for the end of the program)."""
        linker = _Linker(self.items)
        linked = []
        for i, item in enumerate(self.items):
            if isinstance(item, Step):
                target = item.jump_label
                linked.append(
                    (
                        item,
                        linker.resolve(i + 1),
                        None if target is None else linker.resolve(linker.label(target, item)),
                    )
                )
        return linked

    def landing(self, jump: Step | Jump) -> Step | None:
        """The step ``jump`` (a goto, or a step that jumps) goes to, or None
        at the end of the program."""
        linker = _Linker(self.items)
        target = jump.target if isinstance(jump, Jump) else jump.jump_label
        assert target is not None
        landing = linker.resolve(linker.label(target, jump))
        return None if landing == DONE else self.steps[landing]

    def entry(self) -> int:
        """The index of the step the program starts with (not the first
        when a goto comes before it; ``DONE`` when no step is reached)."""
        return _Linker(self.items).resolve(0)


class _Linker:
    """Where each position of a program's items leads: the index of the
    step run from there, through labels and jumps."""

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = items
        self.labels = {item.name: i for i, item in enumerate(items) if isinstance(item, Label)}
        self.step_index: dict[int, int] = {}
        for i, item in enumerate(items):
            if isinstance(item, Step):
                self.step_index[i] = len(self.step_index)

    def resolve(self, position: int, seen: frozenset[int] = frozenset()) -> int:
        """The index of the step run from ``position`` on, or ``DONE``."""
        while position < len(self.items):
            item = self.items[position]
            if isinstance(item, Step):
                return self.step_index[position]
            if isinstance(item, Jump):
                if position in seen:
                    raise ProgramError(f"jump to {item.target} loops without a step")
                return self.resolve(self.label(item.target, item), seen | {position})
            position += 1
        return DONE

    def label(self, name: str, jump: Step | Jump) -> int:
        """The position of label ``name``, which ``jump`` jumps to."""
        try:
            return self.labels[name]
        except KeyError:
            source = jump.source
            at = "" if source is None else f" (written at {shown(source.file)}:{source.line})"
            inner = sorted(known for known in self.labels if label_name(known) == label_name(name))
            nested = (
                f"; a body run with op.run has labels of its own: {', '.join(inner)}"
                if inner
                else ""
            )
            if not inner and re.fullmatch(r".+\.\d+", name):
                nested = (
                    "; it is a label a helper returned (op.fresh_label(), d_alloc_parallel()): "
                    "place it with op.label()"
                )
            raise ProgramError(f"jump to unknown label {name}{at}{nested}") from None


def _skipped(program: Program, jump: Step) -> tuple[Step | None, list[Step]]:
    """The step ``jump`` (a step that may jump) jumps to, and the steps it
    jumps over going forward (none when it jumps back)."""
    linked = program.link()
    steps = [step for step, _next, _target in linked]
    at = next(i for i, step in enumerate(steps) if step is jump)
    target = linked[at][2]
    if target is None or target == DONE:
        return None, steps[at + 1 :] if target == DONE else []
    return steps[target], steps[at + 1 : target] if target > at else []


def _carried(items: Sequence[Item], steps: Sequence[Step]) -> list[Item]:
    """What moving ``steps`` takes along: when they are consecutive steps
    of the program, given in its order, a block: every item from the first
    to the last (the labels and jumps of its tests and loops) and, of the
    labels and jumps that follow the last before the next step, those up to
    the last label the block jumps to (where a test of the block goes past
    it), short of a label a jump from outside goes to (``out``, which stays
    where it is); else the steps alone.  A ``ValueError`` when a jump from
    outside the block goes to a label inside it, or a ``goto`` of the block
    to a label outside it."""
    at = [_position(items, step) for step in steps]
    if not at or at != sorted(at):
        return list(steps)
    first, last = at[0], at[-1]
    inside = items[first : last + 1]
    if sum(isinstance(item, Step) for item in inside) != len(steps):
        return list(steps)
    following = last + 1
    while following < len(items) and not isinstance(items[following], Step):
        following += 1

    def outside_jumps(block: Sequence[Item]) -> list[Step | Jump]:
        return [
            item
            for item in items
            if isinstance(item, Step | Jump)
            and _jump_target(item) is not None
            and not any(item is mine for mine in block)
        ]

    def labels(block: Sequence[Item]) -> set[str]:
        return {item.name for item in block if isinstance(item, Label)}

    from_outside = {_jump_target(j) for j in outside_jumps(items[first:following])}
    targets = {
        target
        for item in inside
        if isinstance(item, Step | Jump) and (target := _jump_target(item)) is not None
    }
    end = last + 1
    for place in range(last + 1, following):
        item = items[place]
        if isinstance(item, Jump):
            targets.add(item.target)
        elif isinstance(item, Label) and item.name in from_outside:
            break
        elif isinstance(item, Label) and item.name in targets:
            end = place + 1
    inside = items[first:end]
    leaving = [j for j in inside if isinstance(j, Jump) and j.target not in labels(inside)]
    if leaving:
        raise ValueError(
            f"cannot move the steps from {steps[0].label!r} as a block: it holds "
            f"goto {label_name(leaving[0].target)!r}, to a label outside it, which the move "
            "would make jump elsewhere than past the steps it skipped (move the steps alone, "
            "or drop that goto with program.drop_gotos)"
        )
    into = [j for j in outside_jumps(inside) if _jump_target(j) in labels(inside)]
    if into:
        jump = into[0]
        name = jump.label if isinstance(jump, Step) else f"goto {label_name(jump.target)}"
        raise ValueError(
            f"cannot move the steps from {steps[0].label!r}: {name!r}, not moved, jumps to "
            f"{label_name(str(_jump_target(jump)))!r} among them"
        )
    return list(inside)


def _jump_target(item: Step | Jump) -> str | None:
    """The label a step that may jump, or a jump, goes to."""
    return item.target if isinstance(item, Jump) else item.jump_label


def _same_targets(before: Program, after: Program, moved: Sequence[Step]) -> None:
    """A ``ValueError`` when a moved step that may jump now jumps to a step
    it did not (one it jumped to, or, for a jump past the moved steps, the
    step after them in their new place, is where it must go), or back
    where it jumped forward."""
    old_steps, new_steps = before.link(), after.link()
    old_targets = {id(step): target for step, _next, target in old_steps}
    new_targets = {id(step): target for step, _next, target in new_steps}
    moved_ids = {id(step) for step in moved}

    def step_at(linked: Sequence[tuple[Step, int, int | None]], index: int | None) -> Step | None:
        return None if index is None or index == DONE else linked[index][0]

    def forward(
        linked: Sequence[tuple[Step, int, int | None]], step: Step, target: Step | None
    ) -> bool:
        order = [id(each) for each, _n, _t in linked]
        return target is None or order.index(id(target)) > order.index(id(step))

    def after_block(linked: Sequence[tuple[Step, int, int | None]]) -> Step | None:
        last = max(i for i, (step, _n, _t) in enumerate(linked) if id(step) in moved_ids)
        return step_at(linked, linked[last][1])

    for step in moved:
        if step.jump_label is None:
            continue
        went = step_at(old_steps, old_targets[id(step)])
        goes = step_at(new_steps, new_targets[id(step)])
        where = "the end" if went is None else repr(went.label)
        if goes is went or (went is after_block(old_steps) and goes is after_block(new_steps)):
            if forward(old_steps, step, went) == forward(new_steps, step, goes):
                continue
            raise ValueError(
                f"moving {step.label!r} past {where}, where it jumps, would make it jump back: "
                "move every step from the test to the end of what it guards, in one piece"
            )
        now = "the end" if goes is None else repr(goes.label)
        raise ValueError(
            f"moving {step.label!r} leaves behind the label {label_name(step.jump_label)!r} "
            f"it jumps to: it would go to {now}, not {where}; move every step from the "
            "test to the end of what it guards, in one piece"
        )


def _same_skips(before: Program, after: Program, moved: Sequence[Step]) -> None:
    """A ``ValueError`` when a moved step that may jump (the test of an
    ``op.when``, a ``goto_if``) now jumps over a step it did not jump over:
    its other case still goes where it went (the step after the block), so
    moving a test with its body before a step makes that case skip it."""
    for step in moved:
        if step.jump_label is None:
            continue
        target, was = _skipped(before, step)
        _target, now = _skipped(after, step)
        newly = [s for s in now if not any(s is old for old in was)]
        if newly:
            where = "the end" if target is None else repr(target.label)
            raise ValueError(
                f"moving {step.label!r} moves a test whose other case still goes to {where}, "
                f"now past {', '.join(repr(s.label) for s in newly[:3])}"
                f"{' ...' if len(newly) > 3 else ''}: move the steps it guards alone (and "
                "drop the test with program.drop), or the test after them"
            )


def _position(items: Sequence[Item], wanted: Item) -> int:
    for i, item in enumerate(items):
        if item is wanted:
            return i
    name = wanted.label if isinstance(wanted, Step) else wanted
    raise ValueError(f"{name!r} is not in the program")


@attrs.frozen
class CompiledStep:
    """A step compiled for one thread: its ``fire`` function and context."""

    step: Step
    fire: Fire
    context: Context
    registers_read: frozenset[int] = frozenset()
    """The registers the step's expressions read (of any thread)."""


def compile_program(program: Program, world: World, thread: ThreadSlots) -> list[CompiledStep]:
    """Compile every step of ``program`` for ``thread``, noting the
    registers each one's expressions read."""
    compiled = []
    for step, next_pc, target in program.link():
        context = Context(world, thread, next_pc, target, step.source)
        fire, read = reading_registers(world, functools.partial(step.compile, context))
        compiled.append(CompiledStep(step, fire, context, read))
    return compiled


def reading_registers(world: World, make: Callable[[], T]) -> tuple[T, frozenset[int]]:
    """What ``make()`` makes, with the registers the expressions it
    compiles read (``World.register_read``)."""
    world.registers_read = set()
    try:
        made = make()
        return made, frozenset(world.registers_read)
    finally:
        world.registers_read = None
