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
import difflib
import functools
import inspect
import itertools
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from mc.dsl.callers import caller_source
from mc.dsl.interrupts import InterruptReturnStep, InterruptStep, interrupts
from mc.dsl.program import Item, Jump, Label, Program
from mc.dsl.steps import (
    AssertHeldStep,
    BranchStep,
    CallStep,
    DowngradeStep,
    EffectStep,
    FailStep,
    JumpStep,
    LockStep,
    Source,
    Step,
    ThreadSlots,
    UnlockStep,
    assigned,
    lock_mode,
    spread,
)
from mc.dsl.wait_steps import (
    CheckedUnlockStep,
    ChooseStep,
    EntryCallStep,
    HandOffStep,
    SectionStep,
    TryLockStep,
    WaitStep,
)
from mc.kernel import errno as errnos
from mc.kernel.dax import PAGE_CACHE_USERS, refuse_page_cache_on_dax
from mc.kernel.expr import (
    Expr,
    InodeExpr,
    LockExpr,
    State,
    const,
    inode_const,
    inode_in_slot,
    lock_const,
    slot_value,
)
from mc.kernel.locks import Kind, Lock, Mode
from mc.kernel.mm import Mm, mm_of, note_mapped
from mc.kernel.pagecache import File, pagecache
from mc.kernel.pagecache import Mapping as AddressSpace
from mc.kernel.world import (
    Dentry,
    ModelError,
    World,
    given_names,
    plain,
    touched_by,
    touches,
)

ONE_THREAD = "one thread"
"""The world part of ``Op.one_thread``: the thread that does each thing."""
HOLDING_NO_FILE = "holding no file"
"""The world part of ``Op.holds_no_file``: the threads of kernel context."""
KEEPING_FILE_OPEN = "keeping a file open"
"""The world part of ``Op.keeps_file_open``: the threads whose process
keeps a file open after they return."""
LAST_REFERENCE = "last reference"
"""The world part of ``Op.drops_last_reference``: by inode number, the
thread that drops the inode's last reference (its number and name) and
the file's path."""


def model_line() -> Source:
    """The line of the model file that calls it, as a step's ``source``: a
    transform that adds a step copied from another
    (``attrs.evolve(step, label=..., source=model_line())``) makes the
    copy name that line, where traces, ``show`` and ``mutate`` cite it."""
    return caller_source()


LockLike = Lock | LockExpr
Holders = Callable[[State], tuple[int, ...]]


@touches(lambda _world, *_args: ([], []))
def _entered(_scratch: object, *_args: object) -> int:
    return 0


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


def as_expr(value: Any) -> Expr:
    """Expressions pass through; anything else (a dentry, a flag) is a
    constant."""
    return value if isinstance(value, Expr) else const(value, str(value))


def _maybe_dentry(value: Any) -> bool:
    """Whether an argument is computed at run time and may be a dentry
    (an inode expression names an inode)."""
    return isinstance(value, Expr) and not isinstance(value, InodeExpr)


def _refuse_open_beside_last_reference(world: World, tid: int, ino: int) -> None:
    """A ``ModelError`` when thread ``tid``, a process that reached inode
    ``ino``'s page cache, runs beside another thread's last iput of it."""
    last = world.parts.get(LAST_REFERENCE, {}).get(ino)
    if last is None or last[0] == tid or tid in world.parts.get(HOLDING_NO_FILE, ()):
        return
    raise ModelError(
        f"{world.thread_names[tid]} holds {last[2]} open while {last[1]} drops the last "
        "reference to its inode: an open file holds a reference the model does not count "
        "(the last iput() follows the close; run the two in one program, or leave one out)"
    )


class Op:
    """Builds one thread's program; see the module docstring."""

    def __init__(
        self,
        world: World,
        thread: ThreadSlots,
        variants: frozenset[str],
        bodies: Mapping[Operation, Callable[..., None]] | None = None,
    ) -> None:
        self.world = world
        self.thread = thread
        self.variants = variants
        self.bodies = dict(bodies or {})
        """Operation bodies a variant replaced (``replaces``)."""
        self.replaced: set[Operation] = set()
        """The operations whose replaced body this thread ran."""
        self.ran: set[Operation] = set()
        """Every operation whose body (or replacement) this thread ran."""
        self.invocation: Invocation | None = None
        """The invocation the thread runs: the system call as the scenario
        asked for it (its operation and arguments), whatever body a variant
        put in place of the operation's; None outside a scenario's thread."""
        self.items: list[Item] = []
        self._placed: set[str] = set()
        self._labels = itertools.count(1)
        self._pending_else: tuple[Jump, Label, Label] | None = None
        self._registers: dict[str, int] = {}
        self._rendered: dict[str, bool] = {}
        """Whether a register was made with a ``render`` of its own."""
        self._scope = ""
        self._task_wide = False
        self._runs = itertools.count(1)
        self._movable_entries: dict[str, Step] = {}

    @property
    def ret(self) -> Expr:
        """The operation's return value so far."""
        slot = self.thread.ret
        return Expr("error", lambda _w: lambda state: state[slot], local=True)

    def program(self) -> Program:
        """The program built so far."""
        return Program(tuple(self.items)).with_release_modes()

    def variant(self, name: str) -> bool:
        """Whether protocol variant ``name`` is applied to this build; a
        name no variant has is a ``ModelError`` (a misspelt flag would
        never be on, and the variant it means would change nothing)."""
        known = self.world.known_variants
        if known and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ModelError(
                f"op.variant({name!r}): no variant is named so{hint}; declare it with "
                "flag_variant(name, description)"
            )
        return name in self.variants

    def one_thread(self, does: str, subject: object, because: str) -> None:
        """Refuse, with a ``ModelError``, a scenario in which a second thread
        ``does`` (a verb: ``"chowns"``) ``subject``: for an operation the
        model can run only once per subject (it has one spare inode, one
        child mm, one completion interrupt).  ``because`` says why, for the
        message "T2 chowns /a too, as T1 does: ``because``"."""
        taken = self.world.parts.setdefault(ONE_THREAD, {})
        other = taken.setdefault((does, str(subject)), self.thread.name)
        if other != self.thread.name:
            raise ModelError(f"{self.thread.name} {does} {subject} too, as {other} does: {because}")

    def completes_io(self) -> None:
        """The thread completes a device's I/O and returns once every other
        thread has and nothing is in flight (``World.completers``): another
        such thread, of another device, does not wait for it to return."""
        self.world.completers.add(self.thread.tid)

    def check_scenario(self, check: Callable[[World], str]) -> None:
        """Once every thread of the scenario is built, ``check(world)``
        names what the scenario lacks for this thread's operation to mean
        anything (a thread that completes its work, a peer it waits for):
        a ``ModelError``, so the check stops with that line instead of
        passing over work that never runs.  It returns "" when nothing is
        lacking."""
        if check not in self.world.scenario_checks:
            self.world.scenario_checks.append(check)

    def holds_no_file(self) -> None:
        """Say that this thread runs in kernel context (the flusher, an I/O
        completion, a worker, reclaim, sync(2) without a descriptor): it
        holds no file of the filesystem open, so it keeps no mount busy.
        Every other thread is a process with the file open until it
        returns, which an unmount's -EBUSY (``umount``) sees."""
        self.world.parts.setdefault(HOLDING_NO_FILE, set()).add(self.thread.tid)

    def keeps_file_open(self) -> None:
        """Say that this thread's process keeps a file of the filesystem open
        after the thread returns (the descriptor ``open_by_handle_at()``
        returned): the mount stays busy to the end (``umount`` gets
        -EBUSY)."""
        self.world.parts.setdefault(KEEPING_FILE_OPEN, set()).add(self.thread.tid)

    def drops_last_reference(self, file: File) -> None:
        """Say that this thread drops the last reference to ``file``'s inode
        (``iput_last``): a ``ModelError`` when another thread of the
        scenario that is a process (not ``holds_no_file``) reaches the
        file's page cache (``mapping``), in either order of building, as
        that process holds the file open and so a reference the model does
        not count."""
        ino = self.mapping(file).ino
        last = (self.thread.tid, self.thread.name, file.path)
        self.world.parts.setdefault(LAST_REFERENCE, {})[ino] = last
        for tid in self.world.parts.get(PAGE_CACHE_USERS, {}).get(ino, ()):
            _refuse_open_beside_last_reference(self.world, tid, ino)

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

    def mapping(self, file: File) -> AddressSpace:
        """The address_space of ``file`` (a ``File`` of the page cache), laid
        out on first use as the page-cache operations lay it out: its
        ``xa_lock``, ``invalidate_lock`` and ``i_mmap_rwsem``, ``i_size``
        and ``pages``.  The locks are those every operation on the file
        takes."""
        try:
            mapping = pagecache(self.world).attach(file)
        except ValueError as error:
            raise ModelError(str(error)) from None
        refuse_page_cache_on_dax(self.world, mapping, self.thread.tid)
        _refuse_open_beside_last_reference(self.world, self.thread.tid, mapping.ino)
        return mapping

    def mm(self, file: File) -> Mm:
        """The mm of the scenario's process over ``file``'s mapping, laid out
        on first use as the fault and mmap operations lay it out (a VMA
        over the file, its ptes): ``op.mm(file).mmap_lock`` is the
        process's ``mmap_lock``, and ``roles={"mm": op.mm(file)}`` names it
        to a ``vm_operations_struct`` call, whose rules need it held."""
        mapping = self.mapping(file)
        note_mapped(self.world, mapping)
        return mm_of(self.world, mapping)

    def dentry(self, parent: InodeExpr, name: str) -> Dentry:
        """The dentry ``name`` in the fixed directory ``parent``."""
        inode = self.world.inode_by_path.get(parent.text)
        if inode is None or not inode.is_dir:
            raise ModelError(f"{parent} is not a directory of the scenario")
        return self.world.dentry(inode, name)

    def new_inode(self, path: str, *, is_dir: bool) -> InodeExpr:
        """An inode this thread may allocate, labelled ``path``."""
        inode = self.world.add_inode(path, is_dir=is_dir, linked=False)
        self.world.creators[inode.ino] = (self.thread.name, self.thread.pc, self.thread.ret)
        return inode_const(inode)

    # locks -----------------------------------------------------------------

    def lock(
        self,
        lock: LockLike,
        mode: Mode = Mode.EXCL,
        label: str | None = None,
        tag: str | Sequence[str] | None = None,
        *,
        irq: bool | None = None,
    ) -> Step:
        """Take ``lock`` (blocking); ``irq=True`` with interrupts disabled
        until its release (``spin_lock_irq``), ``irq=False`` with them on,
        None as the lock is declared (see ``op.interrupt``)."""
        lock_expr = as_lock(lock)
        text = label or f"lock {lock_expr} {lock_mode(mode).value}"
        kinds = _kinds(self.world, lock_expr)
        if mode is Mode.SHARED and kinds and kinds <= EXCLUSIVE_ONLY:
            names = " or ".join(sorted(kind.value for kind in kinds))
            raise ModelError(
                f"{lock_expr} is a {names}, which has no shared mode: take it EXCL "
                "(a reader-writer lock is LockKind.RWSEM)"
            )
        return self.emit(
            LockStep(
                label=text,
                source=caller_source(),
                tags=self._tags(tag),
                lock=lock_expr,
                mode=mode,
                irq=irq,
            )
        )

    def unlock(
        self,
        lock: LockLike,
        label: str | None = None,
        tag: str | Sequence[str] | None = None,
        *,
        irq: bool | None = None,
        if_held: bool = False,
    ) -> Step:
        """Release ``lock``; ``irq`` as its acquisition said.  ``if_held``:
        a thread that does not hold it moves on (one of a set of locks the
        thread may hold, released all at once: ``vma_end_write_all()``)."""
        lock_expr = as_lock(lock)
        return self.emit(
            UnlockStep(
                label=label or f"unlock {lock_expr}",
                source=caller_source(),
                tags=self._tags(tag),
                lock=lock_expr,
                irq=irq,
                if_held=if_held,
            )
        )

    def downgrade(self, lock: LockLike, label: str, tag: str | Sequence[str] | None = None) -> Step:
        """``downgrade_write(lock)``: the lock this thread holds for writing
        is held for reading from here on, with no writer between."""
        return self.emit(
            DowngradeStep(
                label=label,
                source=caller_source(),
                tags=self._tags(tag),
                lock=as_lock(lock),
            )
        )

    def interrupt(self, label: str = "irq_enter()") -> Step:
        """The thread's next steps, up to ``interrupt_return``, are an
        interrupt handler: it lands on an idle CPU or on the CPU of a thread
        that has interrupts enabled, which then waits until the handler
        returns (``mc.dsl.interrupts``)."""
        interrupts(self.world).add_handler(self.thread.tid)
        return self.emit(InterruptStep(label=label, source=caller_source()))

    def interrupt_return(self, label: str = "irq_exit()") -> Step:
        """The interrupt handler returns; the thread it interrupted runs on."""
        interrupts(self.world).add_handler(self.thread.tid)
        return self.emit(InterruptReturnStep(label=label, source=caller_source()))

    # control flow ----------------------------------------------------------

    def fresh_label(self, what: str) -> str:
        """A label name no other place of this thread uses (``what.N``), for
        a helper that places a label and may run more than once in one
        body without ``op.run``."""
        return f"{what}.{next(self._labels)}"

    @contextlib.contextmanager
    def when(
        self, cond: Expr, label: str | None = None, *, label_negates: bool = False
    ) -> Iterator[None]:
        """Steps in the block run only when ``cond`` holds at this point.
        ``label_negates`` says that the kernel condition on ``label`` is the
        negation of ``cond`` (``if (!folio->mapping) goto truncated`` around
        the block the model runs when the folio is mapped), so that traces
        print whether the condition as written holds."""
        orelse, end = self.fresh_label("else"), self.fresh_label("end")
        self.emit(
            BranchStep(
                label=label or f"if ({cond})",
                source=caller_source(),
                cond=cond,
                target=orelse,
                label_negates=label_negates,
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
        """Mark a place ``goto``/``fail_if`` can jump to (once per body: a
        body run with ``op.run`` has labels of its own)."""
        name = self._scope + name
        if name in self._placed:
            raise ModelError(f"label {name!r} is placed twice ({caller_source()})")
        self._placed.add(name)
        self.items.append(Label(name))
        self._pending_else = None

    def goto(self, name: str) -> None:
        """Continue at label ``name`` (not a step of its own)."""
        self.items.append(Jump(self._scope + name, caller_source()))
        self._pending_else = None

    def goto_if(
        self, cond: Expr, name: str, label: str | None = None, *, label_negates: bool = False
    ) -> Step:
        """``if (cond) goto name;``, one step.  ``label_negates``: the
        kernel's test on ``label`` is ``!cond`` (``if (likely(!count))
        return true`` where the jump goes to what runs when the count is
        not 0), so that traces and ``Program.force`` read the label."""
        return self.emit(
            JumpStep(
                label=label or f"if ({cond}) goto {name}",
                source=caller_source(),
                cond=cond,
                target=self._scope + name,
                label_negates=label_negates,
            )
        )

    def run(self, body: Operation | Callable[..., None], *args: Any) -> None:
        """Run another operation's body, or a helper ``f(op, *args)``, here
        in this thread, as a call would: its labels and registers are its
        own, so the same body may run any number of times in one program.
        Its return value is ``op.ret`` afterwards.  An operation runs the
        body a variant put in its place; ``op.run(rename.build, ...)`` runs
        the shipped body itself."""
        name = body.name if isinstance(body, Operation) else body.__name__
        self.world.composed.add(self.thread.name)
        outer = self._scope
        self._scope = f"{outer}{name}#{next(self._runs)}/"
        try:
            self.run_body(body, *args)
        finally:
            self._scope = outer
            self._pending_else = None

    def run_body(self, body: Operation | Callable[..., None], *args: Any) -> None:
        """Emit ``body``'s steps here, in this body's scope: an operation's
        (or the body a variant put in its place), or a helper's."""
        if isinstance(body, Operation):
            self.ran.add(body)
            if body in self.bodies:
                self.replaced.add(body)
            self.bodies.get(body, body.build)(self, *args)
        else:
            body(self, *args)

    def publish(self, name: str, value: Any) -> None:
        """Give a value decided while this thread is built (a new inode, a
        lock of its own) to the threads built after it, by ``name``."""
        if name in self.world.published:
            raise ModelError(f"{name!r} is published twice ({caller_source()})")
        self.world.published[name] = value

    def published(self, name: str) -> Any:
        """The value an earlier thread published as ``name`` (threads are
        built in order, T1 first)."""
        if name not in self.world.published:
            known = ", ".join(sorted(self.world.published)) or "none"
            raise ModelError(
                f"nothing is published as {name!r} before {self.thread.name} is built "
                f"(published: {known})"
            )
        return self.world.published[name]

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
                target=self._scope + goto,
            )
        )

    def fail(self, errno: int, goto: str, label: str | None = None) -> Step:
        """``error = -errno; goto <goto>;``"""
        text = label or f"return -{errnos.NAMES.get(errno, errno)}"
        return self.emit(
            FailStep(
                label=text,
                source=caller_source(),
                cond=const(True),
                errno=-errno,
                target=self._scope + goto,
            )
        )

    # data ------------------------------------------------------------------

    def register(self, name: str, render: Callable[[Any], str] | None = None) -> int:
        """The slot of this thread's register ``name`` (created on first use;
        ``render`` prints its values, inode names by default).  A register
        whose slot number the model has may be read by this thread's
        effects and by properties, so it keeps its value until the thread
        returns; another thread's effect that reads it says so in its
        ``touches`` declaration.  One read only through the expressions
        ``op.let``, ``op.compute``, ``op.choose`` and ``op.reg`` give is
        reset where no later step reads it (``KernelModel`` dead
        registers)."""
        slot = self._register(name, render)
        self.world.escaped.add(slot)
        return slot

    def _register(
        self,
        name: str,
        render: Callable[[Any], str] | None = None,
        default: Callable[[Any], str] | None = None,
    ) -> int:
        """``register`` for a register read only through expressions, made
        with ``render``, else ``default``, else inode names; one first named
        without ``render`` (``op.reg``, by a hook built before the step that
        computes it) takes the ``render`` given later."""
        name = self._scope + name
        if name not in self._registers:
            self._registers[name] = self.world.add_slot(
                f"{self.thread.name}.{name}", None, render or default or self.world.inode_name
            )
            self.world.register_slots.add(self._registers[name])
            if self._task_wide:
                self.world.task_slots.add(self._registers[name])
            self._rendered[name] = render is not None
        elif render is not None and not self._rendered[name]:
            slot = self._registers[name]
            self.world.slots[slot] = attrs.evolve(self.world.slots[slot], render=render)
            self._rendered[name] = True
        return self._registers[name]

    @contextlib.contextmanager
    def thread_wide(self) -> Iterator[None]:
        """Registers named inside the block (``op.register``, ``op.reg``,
        ``op.let``) are the thread's own, the same in every body it runs
        (``op.run``, a variant's hooks), as ``current->journal_info`` is:
        the body that starts a journal handle and the one that stops it see
        one count.  Outside the block, a body run with ``op.run`` has
        registers of its own."""
        outer, wide = self._scope, self._task_wide
        self._scope, self._task_wide = "", True
        try:
            yield
        finally:
            self._scope, self._task_wide = outer, wide

    @property
    def register_slots(self) -> frozenset[int]:
        """The slots of this thread's registers."""
        return frozenset(self._registers.values())

    def reg(self, name: str) -> InodeExpr:
        """Register ``name`` as an expression."""
        return inode_in_slot(self._register(name), name, local=True)

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
        value: Any,
        label: str | None = None,
        render: Callable[[Any], str] | None = None,
        tag: str | Sequence[str] | None = None,
    ) -> InodeExpr:
        """Store ``value`` (an expression, or a constant) into register ``name``."""
        value = as_expr(value)
        slot = self._register(name, render)
        self.emit(
            EffectStep(
                label=label or f"{name} = {value}",
                source=caller_source(),
                tags=self._tags(tag),
                effect=assigned,
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
                effect=spread(effect),
                args=tuple(as_expr(a) for a in args),
                sleeps=sleeps,
                names=given_names(effect, args, _maybe_dentry),
                touches=touched_by(effect),
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
                effect=spread(implementation),
                args=tuple(as_expr(a) for a in args),
                result=self.thread.ret,
                method=method,
                roles=tuple((name, as_expr(value)) for name, value in (roles or {}).items()),
                sleeps=sleeps,
                names=given_names(implementation, args, _maybe_dentry),
                touches=touched_by(implementation),
            )
        )

    # waiting, sections, trylock, entry into a method ------------------------

    def wait_until(
        self,
        cond: Expr,
        label: str,
        resource: str,
        holders: Holders | None = None,
        tag: str | Sequence[str] | None = None,
        woken_by_holders: bool = False,
        unheld: Callable[[World], str] | None = None,
    ) -> Step:
        """Sleep until ``cond`` holds; ``resource`` names what is awaited.
        The wait ends in any state where ``cond`` holds, as if whoever made
        it true woke the sleeper: a waker that changes the condition and
        forgets ``wake_up()`` is not seen by the condition alone (give the
        wake-up a slot of its own that the waker sets, and wait for both).
        ``woken_by_holders``: ``holders`` are the wakers, so a deadlock with
        none of them left is reported as a lost wake-up rather than a wait
        for them.  ``unheld`` says what the scenario lacks when no thread
        could end the wait."""
        return self.emit(
            WaitStep(
                label=label,
                source=caller_source(),
                tags=self._tags(tag),
                cond=cond,
                resource=resource,
                holders=holders,
                woken_by_holders=woken_by_holders,
                unheld=unheld,
            )
        )

    def choose(
        self,
        name: str,
        values: Expr,
        label: str,
        render: Callable[[Any], str] | None = None,
        resource: str = "something to happen",
    ) -> Expr:
        """Register ``name`` takes each of the values ``values`` yields, one
        outcome each (``render`` prints them, ``str`` by default, with the
        items of sets in sorted order); the step waits while there is none."""
        slot = self._register(name, render, plain)
        self.emit(
            ChooseStep(
                label=label, source=caller_source(), values=values, result=slot, resource=resource
            )
        )
        return slot_value(slot, name, local=True)

    def section(
        self,
        lock: LockLike,
        label: str,
        effect: Callable[..., Any],
        *args: Any,
        result: int | None = None,
        tag: str | Sequence[str] | None = None,
        irq: bool | None = None,
    ) -> Step:
        """A spinlock section: ``effect(scratch, *values)`` under ``lock``, as
        one step; its value goes to register slot ``result`` if given.
        ``irq``: taken with interrupts off or not; None as the lock is
        declared (see ``op.interrupt``)."""
        if isinstance(lock, Lock) and lock.kind.sleeps:
            raise ModelError(
                f"op.section() holds a lock that never sleeps (a spinlock) for one step; "
                f"{lock.name} is a {lock.kind.name}: take it with op.lock() and op.unlock()"
            )
        return self.emit(
            SectionStep(
                label=label,
                source=caller_source(),
                tags=self._tags(tag),
                effect=spread(effect),
                args=tuple(as_expr(a) for a in args),
                result=result,
                lock=as_lock(lock),
                irq=irq,
                touches=touched_by(effect),
            )
        )

    def trylock(
        self,
        lock: LockLike,
        fail: str,
        label: str,
        mode: Mode = Mode.EXCL,
        tag: str | Sequence[str] | None = None,
        irq: bool | None = None,
    ) -> Step:
        """``if (!trylock(lock)) goto fail``; ``irq`` as ``op.lock``'s (a
        lock taken so is held with interrupts off until its release)."""
        return self.emit(
            TryLockStep(
                label=label,
                source=caller_source(),
                tags=self._tags(tag),
                lock=as_lock(lock),
                target=self._scope + fail,
                mode=mode,
                irq=irq,
            )
        )

    def enter(
        self,
        method: str,
        *args: Any,
        label: str,
        roles: dict[str, Any],
        sleeps: bool = True,
        tag: str | Sequence[str] | None = None,
    ) -> Step:
        """Call filesystem method ``method`` whose body the caller emits next
        (the callee's steps); the call itself is ``self.call``'s dispatch point."""
        self.call(method, _entered, *args, label=label, roles=roles, sleeps=sleeps, tag=tag)
        called = self.items.pop()
        assert isinstance(called, CallStep)
        fields = {field.name: getattr(called, field.name) for field in attrs.fields(CallStep)}
        return self.emit(EntryCallStep(**fields))

    @contextlib.contextmanager
    def entering(
        self, method: str, *args: Any, label: str, roles: dict[str, Any]
    ) -> Iterator[None]:
        """``enter(method, ...)`` for a body run inside the ``with`` that
        makes steps of its own before the kernel calls ``method``: where
        that body says ``op.entered_here(method)``, the entry moves (as
        ``vfs_write()``'s ``file_start_write()`` comes before
        ``->write_iter``); a body that does not say it keeps the entry
        first."""
        self._movable_entries[method] = self.enter(method, *args, label=label, roles=roles)
        try:
            yield
        finally:
            self._movable_entries.pop(method, None)

    def entered_here(self, method: str) -> None:
        """The place in this body where the kernel calls ``method``: the
        entry a caller made with ``entering`` moves here; nothing when the
        body runs without one."""
        step = self._movable_entries.pop(method, None)
        if step is None:
            return
        del self.items[next(at for at, item in enumerate(self.items) if item is step)]
        self.emit(step)

    def hand_off(self, lock: LockLike, label: str) -> Step:
        """Return, or go on, with ``lock`` still held but by no thread (a
        freeze that holds ``sb_writers`` until thaw); ``take_over`` in any
        thread makes it the holder."""
        return self.emit(HandOffStep(label=label, source=caller_source(), lock=as_lock(lock)))

    def take_over(self, lock: LockLike, label: str) -> Step:
        """Become the holder of a lock another thread handed off."""
        return self.emit(
            HandOffStep(label=label, source=caller_source(), lock=as_lock(lock), take=True)
        )

    def assert_held(self, lock: LockExpr | Lock, label: str, mode: Mode | None = None) -> Step:
        """``lockdep_assert_held(lock)``: a lock-protocol error unless the
        thread holds ``lock`` when it gets here; ``mode`` EXCL:
        ``lockdep_assert_held_write(lock)``, held for reading is an error too."""
        return self.emit(
            AssertHeldStep(label=label, source=caller_source(), lock=as_lock(lock), mode=mode)
        )

    def unlock_checked(
        self, lock: LockLike, label: str, check: Callable[[State], str | None], prop: str
    ) -> Step:
        """Release ``lock``; ``check`` names what is wrong with releasing it
        now (a violation of ``prop``), or returns None."""
        return self.emit(
            CheckedUnlockStep(
                label=label, source=caller_source(), lock=as_lock(lock), check=check, prop=prop
            )
        )

    def compute(
        self,
        name: str,
        label: str,
        effect: Callable[..., Any],
        *args: Any,
        render: Callable[[Any], str] | None = None,
        sleeps: bool = False,
        under: LockLike | None = None,
    ) -> Expr:
        """Register ``name`` = ``effect(scratch, *values)``, a read of shared
        state (a lockless lookup); ``sleeps``: it may block (an allocation
        with GFP_KERNEL), an error in atomic context.  ``under``: a spinlock
        held around it, as ``op.section`` holds one (a lookup under
        ``private_lock``): the step waits while another thread holds it; with
        ``sleeps``, the lock is taken and released in steps of their own
        around the computation, so that its sleep is seen under the lock;
        ``render`` prints its values, ``str`` by default, with the items of
        sets in sorted order (``mc.kernel.world.plain``)."""
        slot = self._register(name, render, plain)
        if under is not None and not sleeps:
            self.section(under, label, effect, *args, result=slot)
            return slot_value(slot, name, local=True)
        if under is not None:
            self.lock(under, Mode.EXCL, f"spin_lock(&{under})")
            computed = self.compute(name, label, effect, *args, render=render, sleeps=True)
            self.unlock(under, f"spin_unlock(&{under})")
            return computed
        self.emit(
            EffectStep(
                label=label,
                source=caller_source(),
                effect=spread(effect),
                args=tuple(as_expr(a) for a in args),
                result=slot,
                sleeps=sleeps,
                names=given_names(effect, args, _maybe_dentry),
                touches=touched_by(effect),
            )
        )
        return slot_value(slot, name, local=True)


@attrs.frozen
class Cite:
    """A kernel function an operation follows: the ``file`` of the kernel
    tree that defines ``function``, and the kernel ``version`` read.
    ``leaves_out`` names the lock and method calls of that function (and
    of the static helpers it calls) the model knowingly does without
    (``spin_lock``, ``address_space_operations.readahead``), which
    ``vfsmc drift`` does not report; ``because`` says why.  ``method``
    names the filesystem method the function is the model's implementation
    of (``address_space_operations.write_begin``), read where the kernel
    calls that method."""

    file: str
    function: str
    version: str
    leaves_out: tuple[str, ...] = ()
    because: str = ""
    method: str = ""

    def __str__(self) -> str:
        return f"{self.function}() ({self.file}, {self.version})"


@attrs.frozen
class Operation:
    """A kernel operation written with the DSL.  Calling it with arguments
    gives an ``Invocation`` a scenario runs in one thread.  ``cites`` are
    the kernel functions it follows, as data (``vfsmc drift`` reads them)."""

    name: str
    models: str
    build: Callable[..., None] = attrs.field(eq=False)
    describe: Callable[..., str] | None = attrs.field(eq=False, default=None)
    doc: str = ""
    cites: tuple[Cite, ...] = ()

    def __call__(self, *args: Any, **keywords: Any) -> Invocation:
        """The operation run with these arguments, a thread of a scenario;
        arguments given by keyword are passed by position."""
        if keywords:
            args = _positional(self.name, self.build, args, keywords)
        _check_arguments(self.name, self.build, args)
        if self.describe is not None:
            described = self.describe(*args)
            if not isinstance(described, str):
                raise ModelError(
                    f"{self.name}(): its describe= gave {type(described).__name__} "
                    f"{described!r}: it must give the thread's name, a string"
                )
        return Invocation(self, args)


def _positional(
    name: str, build: Callable[..., None], args: tuple[Any, ...], keywords: dict[str, Any]
) -> tuple[Any, ...]:
    """``args`` and ``keywords`` as the positional arguments of the
    operation's body (after ``op``)."""
    signature, _hints = _parameters(build)
    try:
        bound = signature.bind(None, *args, **keywords)
    except TypeError as mismatch:
        raise ModelError(f"{name}(): {mismatch}") from None
    if bound.kwargs:
        raise ModelError(
            f"{name}(): {', '.join(bound.kwargs)} can only be given by keyword, "
            "and an operation's arguments are passed by position"
        )
    return tuple(bound.args[1:])


def _check_arguments(name: str, build: Callable[..., None], args: tuple[Any, ...]) -> None:
    """A ``ModelError`` when ``args`` do not fit the operation's parameters
    (after ``op``): their number, and each one annotated with plain classes
    (``str``, ``int``, ``File``, a union of such) an instance of one."""
    signature, hints = _parameters(build)
    try:
        bound = signature.bind(None, *args)
    except TypeError as mismatch:
        raise ModelError(f"{name}(): {mismatch}") from None
    for parameter, value in list(bound.arguments.items())[1:]:
        expected = hints.get(parameter)
        kind = signature.parameters[parameter].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            continue
        for each in value if kind is inspect.Parameter.VAR_POSITIONAL else (value,):
            if expected and not isinstance(each, expected):
                wanted = " or ".join(cls.__name__ for cls in expected)
                raise ModelError(
                    f"{name}(): {parameter} must be {wanted}, not {type(each).__name__} {each!r}"
                )


@functools.cache
def _parameters(
    build: Callable[..., None],
) -> tuple[inspect.Signature, dict[str, tuple[type, ...]]]:
    """The signature of an operation's body and, for each parameter whose
    annotation is a plain class or a union of them, those classes."""
    try:
        annotations = typing.get_type_hints(build)
    except Exception:
        annotations = {}
    hints = {}
    for parameter, annotation in annotations.items():
        kinds = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
        if all(_plain(kind) for kind in kinds):
            hints[parameter] = (*kinds, int) if float in kinds else tuple(kinds)
    return inspect.signature(build), hints


def _plain(annotation: object) -> bool:
    return (
        isinstance(annotation, type)
        and not isinstance(annotation, types.GenericAlias)
        and not getattr(annotation, "_is_protocol", False)
    )


def _is_union(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


@attrs.frozen
class Invocation:
    """An operation with its arguments."""

    operation: Operation
    args: tuple[Any, ...]
    ran: frozenset[Operation] = attrs.field(default=frozenset(), eq=False, repr=False)
    """The operations whose bodies ran when the thread was built (its own,
    and those it ran with ``op.run``), as a variant's transform is given
    it; empty before."""

    def runs(self, operation: Operation) -> bool:
        """Whether the thread runs ``operation``'s body: it is the
        invocation's operation, or ran inside it (fallocate(2)'s
        PUNCH_HOLE runs ``punch_hole``'s body), so a transform that
        rewrites that body's steps applies (``if not
        invocation.runs(punch_hole): return program``).  A helper (a plain
        function an operation calls, not declared with ``@operation``) is
        a ``ModelError``: no thread is said to run one."""
        if not isinstance(operation, Operation):
            name = getattr(operation, "__name__", repr(operation))
            raise ModelError(
                f"invocation.runs({name}): {name} is a helper, not an operation (@operation): "
                "test the operations that call it (vfsmc ops lists the operations), or pick "
                f"its steps wherever they run by step.source.function == {name!r}"
            )
        return operation is self.operation or operation in self.ran

    def __str__(self) -> str:
        if self.operation.describe is not None:
            return self.operation.describe(*self.args)
        return f"{self.operation.name}({', '.join(str(a) for a in self.args)})"


def operation(
    models: str, describe: Callable[..., str] | None = None, cites: Sequence[Cite] = ()
) -> Callable[[Callable[..., None]], Operation]:
    """Declare an operation; ``models`` names the kernel functions it
    follows (``vfs_rename (fs/namei.c)``), ``cites`` the same as data
    (``Cite("fs/namei.c", "vfs_rename", "6.12")``), the entry point first."""

    if describe is not None and not callable(describe):
        raise ModelError(
            f"@operation(describe={describe!r}): describe= is a function of the operation's "
            "arguments giving the thread's name (describe=lambda path: f'my_op({path})')"
        )

    def wrap(build: Callable[..., None]) -> Operation:
        doc = (build.__doc__ or "").strip()
        return Operation(build.__name__, models, build, describe, doc, tuple(cites))

    return wrap


EXCLUSIVE_ONLY = frozenset((Kind.MUTEX, Kind.SPINLOCK, Kind.BIT_LOCK))
"""The kinds of lock that have no shared mode (an RCU read-side section
and a seqlock's reader are taken SHARED)."""


def _kinds(world: World, lock: LockExpr) -> set[Kind]:
    """The kinds of lock ``lock`` may be: its own when it is known, else
    those of the locks of its family the world has so far."""
    if lock.fixed is not None:
        return {lock.fixed.kind}
    return {known.kind for known in world.locks if known.family == lock.family}
