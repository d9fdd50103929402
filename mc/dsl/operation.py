"""The vocabulary operations are written in.

An operation is a Python function ``f(op, *args)`` that, run once when a
scenario is built, emits the labelled atomic steps of one thread's program
through ``op``.  Python control flow in it is resolved at build time (on the
scenario's fixed arguments); ``op.when``/``op.otherwise`` and
``op.fail_if`` branch at run time, on the state.  Every step records the
model's source line and function, so traces name it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from mc.dsl.program import Item, Jump, Label, Program
from mc.dsl.steps import (
    BranchStep,
    CallStep,
    EffectStep,
    FailStep,
    LockStep,
    Source,
    Step,
    ThreadSlots,
    UnlockStep,
)
from mc.kernel import errno as errnos
from mc.kernel.expr import Expr, InodeExpr, LockExpr, const, inode_const, inode_in_slot, lock_const
from mc.kernel.locks import Lock, Mode
from mc.kernel.world import Dentry, Inode, World
from mc.project import ROOT

TOOL_DIRS = {
    str(Path(__file__).resolve().parent),
    str(Path(__file__).resolve().parents[1] / "kernel"),
}


class ModelError(Exception):
    """A mistake in a model (an unknown path, a misplaced ``otherwise``),
    reported with the model's source line."""


SKIPPED_FILES = {os.path.abspath(contextlib.__file__)}


def _inside_dsl(filename: str) -> bool:
    path = os.path.abspath(filename)
    return os.path.dirname(path) in TOOL_DIRS or path in SKIPPED_FILES


def caller_source() -> Source:
    """The first frame outside mc.dsl and mc.kernel: the model line being built."""
    frame = sys._getframe(1)
    while frame is not None and _inside_dsl(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return Source("?", 0, "?")
    path = Path(frame.f_code.co_filename).resolve()
    try:
        shown = str(path.relative_to(ROOT))
    except ValueError:
        shown = str(path)
    return Source(shown, frame.f_lineno, frame.f_code.co_name)


LockLike = Lock | LockExpr


def as_lock(lock: LockLike) -> LockExpr:
    """A lock of the world as an expression; anything else is a model error."""
    if isinstance(lock, LockExpr):
        return lock
    if isinstance(lock, Lock):
        return lock_const(lock)
    raise ModelError(
        f"not a lock: {lock!r} (take an object's lock, such as dir.i_rwsem or "
        "op.world.superblock.s_vfs_rename_sem)"
    )


def as_inode(inode: Inode | InodeExpr) -> InodeExpr:
    return inode if isinstance(inode, InodeExpr) else inode_const(inode)


def as_expr(value: Any) -> Expr:
    """Expressions pass through; anything else (a dentry, a flag) is a
    constant."""
    return value if isinstance(value, Expr) else const(value, str(value))


class Op:
    """Builds one thread's program; see the module docstring."""

    def __init__(self, world: World, thread: ThreadSlots, variants: frozenset[str]) -> None:
        self.world = world
        self.thread = thread
        self.variants = variants
        self.items: list[Item] = []
        self._labels = itertools.count(1)
        self._pending_else: tuple[Jump, Label, Label] | None = None
        self._registers: dict[str, int] = {}

    @property
    def ret(self) -> Expr:
        """The operation's return value so far."""
        slot = self.thread.ret
        return Expr("error", lambda _w: lambda state: state[slot], local=True)

    def program(self) -> Program:
        """The program built so far."""
        return Program(tuple(self.items))

    def variant(self, name: str) -> bool:
        """Whether protocol variant ``name`` is applied to this build."""
        return name in self.variants

    def emit(self, step: Step) -> Step:
        """Append ``step`` to the program."""
        self._pending_else = None
        self.items.append(step)
        return step

    def _tags(self, tag: str | Sequence[str] | None) -> frozenset[str]:
        if tag is None:
            return frozenset()
        return frozenset((tag,) if isinstance(tag, str) else tag)

    # objects ---------------------------------------------------------------

    def inode(self, path: str) -> InodeExpr:
        """The inode at ``path`` in the initial tree (resolved by the
        thread's path walk before it starts)."""
        try:
            return inode_const(self.world.lookup_path(path))
        except ValueError as error:
            raise ModelError(str(error)) from None

    def dentry(self, parent: InodeExpr, name: str) -> Dentry:
        """The dentry ``name`` in the fixed directory ``parent``."""
        inode = self.world.inode_by_path.get(parent.text)
        if inode is None or not inode.is_dir:
            raise ModelError(f"{parent} is not a directory of the scenario")
        return self.world.dentry(inode, name)

    def new_inode(self, path: str, *, is_dir: bool) -> InodeExpr:
        """An inode this thread may allocate, labelled ``path``."""
        return inode_const(self.world.add_inode(path, is_dir=is_dir, linked=False))

    # locks -----------------------------------------------------------------

    def lock(
        self,
        lock: LockLike,
        mode: Mode = Mode.EXCL,
        label: str | None = None,
        tag: str | Sequence[str] | None = None,
    ) -> Step:
        """Take ``lock`` (blocking)."""
        lock_expr = as_lock(lock)
        text = label or f"lock {lock_expr} {mode.value}"
        return self.emit(
            LockStep(
                label=text, source=caller_source(), tags=self._tags(tag), lock=lock_expr, mode=mode
            )
        )

    def unlock(
        self, lock: LockLike, label: str | None = None, tag: str | Sequence[str] | None = None
    ) -> Step:
        """Release ``lock``."""
        lock_expr = as_lock(lock)
        return self.emit(
            UnlockStep(
                label=label or f"unlock {lock_expr}",
                source=caller_source(),
                tags=self._tags(tag),
                lock=lock_expr,
            )
        )

    # control flow ----------------------------------------------------------

    def _fresh(self, what: str) -> str:
        return f"{what}.{next(self._labels)}"

    @contextlib.contextmanager
    def when(self, cond: Expr, label: str | None = None) -> Iterator[None]:
        """Steps in the block run only when ``cond`` holds at this point."""
        orelse, end = self._fresh("else"), self._fresh("end")
        self.emit(
            BranchStep(
                label=label or f"if ({cond})", source=caller_source(), cond=cond, target=orelse
            )
        )
        yield
        jump, else_label, end_label = Jump(end), Label(orelse), Label(end)
        self.items.extend((jump, else_label, end_label))
        self._pending_else = (jump, else_label, end_label)

    @contextlib.contextmanager
    def otherwise(self) -> Iterator[None]:
        """The else part of the ``when`` block just closed."""
        pending = self._pending_else
        if pending is None or tuple(self.items[-3:]) != pending:
            raise ModelError(f"otherwise() must follow a when() block ({caller_source()})")
        end_label = self.items.pop()
        yield
        self.items.append(end_label)
        self._pending_else = None

    def label(self, name: str) -> None:
        """Mark a place ``goto``/``fail_if`` can jump to (once per program)."""
        if any(isinstance(item, Label) and item.name == name for item in self.items):
            raise ModelError(f"label {name!r} is placed twice ({caller_source()})")
        self.items.append(Label(name))
        self._pending_else = None

    def goto(self, name: str) -> None:
        """Continue at label ``name`` (not a step of its own)."""
        self.items.append(Jump(name))
        self._pending_else = None

    def fail_if(
        self,
        cond: Expr,
        errno: int,
        goto: str,
        label: str | None = None,
        tag: str | Sequence[str] | None = None,
    ) -> Step:
        """``if (cond) { error = -errno; goto <goto>; }``"""
        text = label or f"if ({cond}) return -{errnos.NAMES.get(errno, errno)}"
        return self.emit(
            FailStep(
                label=text,
                source=caller_source(),
                tags=self._tags(tag),
                cond=cond,
                errno=-errno,
                target=goto,
            )
        )

    def fail(self, errno: int, goto: str, label: str | None = None) -> Step:
        """``error = -errno; goto <goto>;``"""
        text = label or f"return -{errnos.NAMES.get(errno, errno)}"
        return self.emit(
            FailStep(
                label=text, source=caller_source(), cond=const(True), errno=-errno, target=goto
            )
        )

    # data ------------------------------------------------------------------

    def register(self, name: str, render: Callable[[Any], str] | None = None) -> int:
        """The slot of this thread's register ``name`` (created on first use;
        ``render`` prints its values, inode names by default)."""
        if name not in self._registers:
            self._registers[name] = self.world.add_slot(
                f"{self.thread.name}.{name}", None, render or self.world.inode_name
            )
        return self._registers[name]

    @property
    def register_slots(self) -> frozenset[int]:
        """The slots of this thread's registers."""
        return frozenset(self._registers.values())

    def reg(self, name: str) -> InodeExpr:
        """Register ``name`` as an expression."""
        return inode_in_slot(self.register(name), name, local=True)

    def lookup(
        self, dentry: Dentry, name: str, label: str | None = None, tag: str | None = None
    ) -> InodeExpr:
        """Read the inode ``dentry`` points to (None when negative) into a
        register named ``name``."""
        value = inode_in_slot(dentry.slot, dentry.path)
        return self.let(name, value, label or f"{name} = lookup({dentry})", tag=tag)

    def let(
        self,
        name: str,
        value: Expr,
        label: str | None = None,
        render: Callable[[Any], str] | None = None,
        tag: str | Sequence[str] | None = None,
    ) -> InodeExpr:
        """Store ``value`` into register ``name``."""
        slot = self.register(name, render)
        self.emit(
            EffectStep(
                label=label or f"{name} = {value}",
                source=caller_source(),
                tags=self._tags(tag),
                effect=lambda _scratch, args: args[0],
                args=(value,),
                result=slot,
                kind="assign",
            )
        )
        return inode_in_slot(slot, name, local=True)

    def effect(
        self,
        label: str,
        effect: Callable[..., Any],
        *args: Any,
        sleeps: bool = False,
        tag: str | Sequence[str] | None = None,
    ) -> Step:
        """An atomic change of the world made by ``effect(scratch, *values)``."""
        return self.emit(
            EffectStep(
                label=label,
                source=caller_source(),
                tags=self._tags(tag),
                effect=lambda scratch, values: effect(scratch, *values),
                args=tuple(as_expr(a) for a in args),
                sleeps=sleeps,
            )
        )

    def call(
        self,
        method: str,
        implementation: Callable[..., int],
        *args: Any,
        label: str | None = None,
        tag: str | Sequence[str] | None = None,
        roles: Mapping[str, Any] | None = None,
        sleeps: bool = True,
    ) -> Step:
        """Call filesystem method ``method`` (``inode_operations.rename``);
        ``implementation(scratch, *values)`` is what the filesystem does and
        returns 0 or -errno, stored as the operation's return value.
        ``roles`` names the objects the locking rules speak of (``dir``,
        ``victim``...); ``sleeps`` says whether the method may block."""
        return self.emit(
            CallStep(
                label=label or f"{method}({', '.join(str(a) for a in args)})",
                source=caller_source(),
                tags=self._tags(tag) | {method},
                effect=lambda scratch, values: implementation(scratch, *values),
                args=tuple(as_expr(a) for a in args),
                result=self.thread.ret,
                method=method,
                roles=tuple((name, as_expr(value)) for name, value in (roles or {}).items()),
                sleeps=sleeps,
            )
        )


@attrs.frozen
class Operation:
    """A kernel operation written with the DSL.  Calling it with arguments
    gives an ``Invocation`` a scenario runs in one thread."""

    name: str
    models: str
    build: Callable[..., None] = attrs.field(eq=False)
    describe: Callable[..., str] | None = attrs.field(eq=False, default=None)
    doc: str = ""

    def __call__(self, *args: Any) -> Invocation:
        return Invocation(self, args)


@attrs.frozen
class Invocation:
    """An operation with its arguments."""

    operation: Operation
    args: tuple[Any, ...]

    def __str__(self) -> str:
        if self.operation.describe is not None:
            return self.operation.describe(*self.args)
        return f"{self.operation.name}({', '.join(str(a) for a in self.args)})"


def operation(
    models: str, describe: Callable[..., str] | None = None
) -> Callable[[Callable[..., None]], Operation]:
    """Declare an operation; ``models`` names the kernel functions it
    follows (``vfs_rename (fs/namei.c)``)."""

    def wrap(build: Callable[..., None]) -> Operation:
        return Operation(build.__name__, models, build, describe, (build.__doc__ or "").strip())

    return wrap
