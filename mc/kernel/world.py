"""The kernel objects of one scenario and the layout of its state vector.

A state is a flat tuple; every field of every object (a lock, a dentry's
inode, an inode's link count, a thread's program counter...) owns one slot
of it.  The world names the slots, so a trace can print exactly the fields
a step changed, and steps are compiled against fixed slot numbers.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import os
import pickle
import posixpath
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs

from mc.engine import symbolic
from mc.kernel import locks
from mc.kernel.locks import Kind, Lock
from mc.text import briefly

Render = Callable[[Any], str]


def plain(value: Any) -> str:
    """``str(value)``, but the items of a set or frozenset, at any depth of
    tuples, lists and dicts, in sorted order: Python orders a set of
    strings by their hashes, which differ from one process to the next, so
    a trace that prints one would not read the same when replayed."""
    if isinstance(value, tuple | list | dict | set | frozenset):
        return _canonical(value)
    return str(value)


def _canonical(value: Any) -> str:
    if isinstance(value, set | frozenset):
        items = ", ".join(sorted(_canonical(item) for item in value))
        if isinstance(value, set):
            return f"{{{items}}}" if items else "set()"
        return f"frozenset({{{items}}})" if items else "frozenset()"
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        parts = [_canonical(item) for item in value]
        return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"
    if isinstance(value, list):
        return f"[{', '.join(_canonical(item) for item in value)}]"
    if isinstance(value, dict):
        return f"{{{', '.join(f'{_canonical(k)}: {_canonical(v)}' for k, v in value.items())}}}"
    return repr(value)


ERROR_SLOT = 0
DONE = -1
"""The program counter of a thread that has returned."""
LOCK_PROTOCOL = "lock-protocol"


def reported_error(state: tuple[Any, ...], name: str) -> str | None:
    """The message of the error a step recorded against property ``name``
    in ``state``, if any."""
    error = state[ERROR_SLOT]
    return str(error[1]) if error is not None and error[0] == name else None


F = TypeVar("F", bound=Callable[..., Any])

GIVEN_NAMES_ONLY = "_writes_given_names_only"


def given_names_only(effect: F) -> F:
    """Mark an effect or filesystem method implementation that writes no
    name (dentry slot) but those of the dentries passed to it: partial-order
    reduction then lets steps reading other names commute with it."""
    setattr(effect, GIVEN_NAMES_ONLY, True)
    return effect


def given_names(
    effect: Callable[..., Any], args: Iterable[Any], opaque: Callable[[Any], bool]
) -> frozenset[int] | None:
    """The dentry slots among ``args`` when ``effect`` writes only those
    names, else None (also when an argument is ``opaque``: a value computed
    at run time that may be a dentry)."""
    if not getattr(effect, GIVEN_NAMES_ONLY, False):
        return None
    given = tuple(args)
    if any(opaque(arg) for arg in given):
        return None
    return frozenset(arg.slot for arg in given if isinstance(arg, Dentry))


Slots = Iterable[int]
Touches = Callable[..., tuple[Slots, Slots]]
"""What an effect reads and writes, called as ``touches(world, *args)``."""
TOUCHES = "_touches"


def touches(declared: Touches) -> Callable[[F], F]:
    """Declare what an effect or filesystem method implementation reads and
    writes: ``declared(world, *args)``, with the arguments the effect is
    called with, gives the slots it may read and the slots it may write
    (the protocol-error slot aside, which any effect may set; it writes no
    register but through its result).  Partial-order reduction uses it
    where the arguments are known, instead of counting the effect as
    reading and writing every data slot, so it must cover every state the
    effect may run in: ``mc.dsl.audit.audit_footprints`` checks it against
    what the effect does over a whole search."""

    def mark(effect: F) -> F:
        setattr(effect, TOUCHES, declared)
        return effect

    return mark


def touched_by(effect: Callable[..., Any]) -> Touches | None:
    """What ``effect`` declared it touches (``touches``), if it did."""
    declared: Touches | None = getattr(effect, TOUCHES, None)
    return declared


class ModelError(Exception):
    """A mistake in a model (an unknown path, a misplaced ``otherwise``),
    reported with the model's source line."""


class LocatedModelError(ModelError):
    """A model error whose message starts with the model file and line."""


def held(value: Any, slot: str) -> Any:
    """``value``, which slot ``slot`` is to hold: a ``ModelError`` when it
    is not a value a state can hold.  A state is stored by its hash and
    copied between processes, so a slot holds values equal to their
    copies: ints and floats (not NaN, which equals nothing; no other kind
    of number, which Python hashes modulo 2**61-1), strings, None,
    enumerations, tuples and frozensets of them and frozen classes that
    compare by value, not lists, sets or dicts, which do not hash, nor
    functions, locks or plain objects, which equal only themselves."""
    problem = _unfit(value)
    if problem is WIDE_INSIDE:
        return value
    if problem == MINUS_ONE_INSIDE:
        raise ModelError(f"slot {slot} cannot hold {_short(value)}: {problem}")
    if problem is not None:
        raise ModelError(
            f"slot {slot} cannot hold {_short(value)}: {problem}; a slot holds ints, "
            "floats, strings, None, enumerations, tuples and frozensets of them, and frozen "
            "classes that compare by value"
        )
    return value


_FIT: set[type] = {int, str, bool, bytes, type(None), *symbolic.TERM_KINDS}
"""Types whose values a slot may hold as they are (floats are looked at;
the symbolic terms hash -1 apart and are copied as the one object each
process has, ``mc.engine.symbolic``)."""
_COPIED: set[type] = set()
"""Types a value of which was seen to equal its copy, with the same hash."""


MINUS_ONE_INSIDE = (
    "-1 inside a tuple or frozenset hashes as -2 does (Python's error code is -1), so two "
    "states that differ only there would share a fingerprint: hold another value"
)


WIDE = sys.hash_info.modulus
"""From this magnitude on, Python hashes an int modulo it (2**61 - 1 on a
64-bit build): LLONG_MAX hashes as 3 does."""
WIDE_INSIDE = "a number Python's hash folds inside"
"""What ``_unfit`` says of a float that is no whole number, and of a tuple
or frozenset with an int from ``WIDE`` on or such a float inside (nothing
wrong with it in full states: ``wide_refused``)."""


def is_wide(value: Any) -> bool:
    """Whether ``value`` is, or holds in its tuples and frozensets, a number
    Python's hash folds onto another's: an int from ``WIDE`` on, or a float
    that is no whole number (``hash(0.5) == hash(2**60)``; a whole float
    equals, and hashes as, the int it is)."""
    kind = type(value)
    if kind is int:
        return not -WIDE < value < WIDE
    if kind is float:
        return not value.is_integer()
    if kind is tuple or kind is frozenset:
        return any(is_wide(item) for item in value)
    return False


def wide_refused(value: Any, slot: str) -> ModelError:
    """Why a search over 64-bit fingerprints cannot hold ``value`` in
    ``slot``: states are fingerprinted by Python's hash, which folds an int
    from ``WIDE`` on modulo it and a float that is no whole number onto an
    int, so two states that differ only by LLONG_MAX against 3, or 0.5
    against 2**60, would be one and a violation could be missed; full
    states (``--exact``) tell them apart."""
    return ModelError(
        f"slot {slot} cannot hold {_short(value)} in a search over fingerprints: Python hashes "
        f"an int from 2**61-1 on modulo 2**61-1 (LLONG_MAX as 3) and a float that is no whole "
        f"number as an int (0.5 as 2**60), so two states that differ only there would be one; "
        f"check with --exact (full states)"
    )


def _unfit(value: Any, inside: bool = False) -> str | None:
    """Why a slot cannot hold ``value`` (the innermost part of a tuple or
    frozenset that is to blame), or None: it must hash, equal itself, and
    equal a copy of it made as another process would receive it, with the
    same hash (looked at for the first value of each type); and no -1 may
    be inside a tuple or frozenset of it (``MINUS_ONE_INSIDE``: a state's
    own items are fingerprinted apart, ``mc.engine.store.fingerprint``,
    the items of its items are not; the fields of a model file's frozen
    dataclass or attrs class are looked into as items, vfsmc's own are
    not, which would cost a walk of every symbolic term written, and the
    symbolic constants hash -1 apart themselves,
    ``mc.engine.symbolic.Const``); no number but an int or a float (every
    other kind Python hashes modulo 2**61-1, with no check of its own).
    ``inside``: ``value`` is an item of a slot's value."""
    kind = type(value)
    if kind in _FIT:
        if not inside or kind is not int:
            return None
        if value == -1:
            return MINUS_ONE_INSIDE
        return None if -WIDE < value < WIDE else WIDE_INSIDE
    if isinstance(value, tuple | frozenset):
        wide = False
        for item in value:
            problem = _unfit(item, True)
            if problem is WIDE_INSIDE:
                wide = True
            elif problem is not None:
                return problem
        if kind is tuple or kind is frozenset:
            return WIDE_INSIDE if wide else None
    try:
        hashed = hash(value)
    except TypeError:
        return f"{_a(kind.__name__)} has no hash"
    if value != value:
        return f"{_a(kind.__name__)} that equals nothing, not even itself (a NaN)"
    if kind is float:
        if inside and value == -1:
            return MINUS_ONE_INSIDE
        return None if value.is_integer() else WIDE_INSIDE
    if isinstance(value, int):
        if inside and value == -1:
            return MINUS_ONE_INSIDE
        if not -WIDE < value < WIDE:
            return WIDE_INSIDE
    elif isinstance(value, numbers.Number):
        return (
            f"{_a(kind.__name__)}: Python hashes every number modulo 2**61-1 and -1 as -2, so "
            "two states that differ only there could share a fingerprint: hold an int"
        )
    if inside and hashed == -2 and value != -2:
        return f"{_a(kind.__name__)} that hashes as -2 does: " + MINUS_ONE_INSIDE
    for name in _fields_looked_into(kind):
        problem = _unfit(getattr(value, name), True)
        if problem is not None and problem is not WIDE_INSIDE:
            return f"field {name} of {_a(kind.__name__)}: {problem}"
    if kind in _COPIED:
        return None
    try:
        copy = pickle.loads(pickle.dumps(value))
    except Exception:
        return f"{_a(kind.__name__)} cannot be copied to another process"
    if copy != value:
        return f"{_a(kind.__name__)} equals only itself, not a copy of it"
    if hash(copy) != hash(value):
        return f"{_a(kind.__name__)} hashes otherwise than a copy of it"
    _COPIED.add(kind)
    return None


def _fields_looked_into(kind: type) -> tuple[str, ...]:
    """The fields of a frozen dataclass or attrs class of a model file,
    whose hash is that of a tuple of them (so a -1 among them hashes as -2
    does); vfsmc's own classes are not looked into (its symbolic terms
    hash -1 apart themselves, and a walk of each written would cost)."""
    found = _FIELDS.get(kind)
    if found is None:
        if kind.__module__.split(".")[0] == "mc":
            found = ()
        elif dataclasses.is_dataclass(kind):
            found = tuple(field.name for field in dataclasses.fields(kind))
        elif attrs.has(kind):
            found = tuple(field.name for field in attrs.fields(kind))
        else:
            found = ()
        _FIELDS[kind] = found
    return found


_FIELDS: dict[type, tuple[str, ...]] = {}


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in tuple("aeiou") else f"a {noun}"


def _short(value: Any) -> str:
    return briefly(value, 40)


_MODELS_ROOTS = tuple(
    os.path.realpath(root) + os.sep
    for root in (
        Path(__file__).resolve().parent.parent,
        Path(__file__).resolve().parent.parent / "models",
    )
)


def asked_by_the_models(file: str) -> bool:
    """Whether code in ``file`` is vfsmc's or its shipped models'."""
    return os.path.realpath(file).startswith(_MODELS_ROOTS)


def _taken_name(name: str) -> str:
    return (
        f"shared_slot({name!r}): the models hold their own state in a slot of that name; a "
        "slot of yours needs a name of its own"
    )


class Scratch:
    """A state being changed by an effect, with the world to read it by."""

    def __init__(self, world: World, state: tuple[Any, ...], tid: int | None = None) -> None:
        self.world = world
        self.values = list(state)
        self.tid = tid
        """The thread whose step changes the state (None: not said)."""

    def __getitem__(self, slot: int) -> Any:
        unread = self.world.unread_slots
        if slot in unread and unread[slot] != self.tid:
            self._unsaid_read(slot, unread[slot])
        if type(slot) is not int or slot < 0:
            raise ModelError(self._no_slot(slot))
        try:
            return self.values[slot]
        except IndexError:
            raise ModelError(self._no_slot(slot)) from None

    def _unsaid_read(self, slot: int, owner: int | None) -> None:
        """Refuse a read of ``slot``, one of ``World.unread_slots``, by a
        step of another thread than ``owner`` (a register read by a step
        that names no thread is let through)."""
        names = self.world.thread_names
        if slot in self.world.register_slots:
            if self.tid is None or owner is None:
                return
            raise ModelError(
                f"a step of {names[self.tid]} reads {self.world.slots[slot].name}, a register "
                f"of {names[owner]}, through its slot number: the owner's steps on its "
                "registers run with the step before them, taken to commute with every other "
                "thread's, so declare the read with @touches (mc.kernel.world.touches) or pass "
                "the register as an expression (op.published, op.reg)"
            )
        what = (
            "a read side no step of the scenario contends"
            if owner is None
            else f"a lock only {names[owner]} takes"
        )
        raise ModelError(
            f"an effect reads {self.world.slots[slot].name}, the slot of {what}: its "
            "acquisitions and releases run with the step before them, so declare the "
            "read with @touches (mc.kernel.world.touches)"
        )

    def _no_slot(self, slot: object) -> str:
        return (
            f"the state has no slot {slot!r}: a slot is a number World.add_slot() or "
            f"World.shared_slot() returned, 0 to {len(self.values) - 1} in this scenario"
        )

    def __setitem__(self, slot: int, value: Any) -> None:
        if type(slot) is not int or not 0 <= slot < len(self.values):
            raise ModelError(self._no_slot(slot))
        kind = type(value)
        if kind is int:
            if not -WIDE < value < WIDE and self.world.fingerprinted:
                raise wide_refused(value, self.world.slots[slot].name)
        elif kind not in _FIT and (problem := _unfit(value)) is not None:
            if problem is not WIDE_INSIDE:
                held(value, self.world.slots[slot].name)
            elif self.world.fingerprinted:
                raise wide_refused(value, self.world.slots[slot].name)
        if slot in self.world.bit_lock_slots:
            self._check_bit_lock(slot, value)
        self.values[slot] = value

    def _check_bit_lock(self, slot: int, value: Any) -> None:
        """A bit lock another thread holds changes only by that thread's
        steps: its holder releases it, or makes a thread that completes
        I/O its holder (a read's submitter hands its folio lock to the
        completion, ``folio_end_read()`` unlocks it).  An effect of a
        thread that changes it anyway is a lock-protocol error, which is
        also what lets a step that asks whether its thread holds a bit lock
        run with the step before it (``AssertHeldStep``, ``EntryCallStep``)."""
        holder = self.values[slot]
        if (
            self.tid is None
            or value == holder
            or not isinstance(holder, int)
            or holder in (self.tid, locks.HANDED_OFF)
            or not 0 <= holder < len(self.world.thread_names)
        ):
            return
        names = self.world.thread_names
        self.violate(
            LOCK_PROTOCOL,
            f"{names[self.tid]} changes {self.world.slots[slot].name}, which {names[holder]} "
            "holds: a bit lock changes only by its holder's steps (its release, or the I/O "
            "it hands the lock to)",
        )

    def violate(self, prop: str, message: str) -> None:
        """Record that property ``prop`` is violated, with ``message``, as
        the kernel's WARN_ON would flag it: the step ends the run in an
        error state the search reports (a violation already recorded by
        the same step is kept)."""
        if self.values[ERROR_SLOT] is None:
            self.values[ERROR_SLOT] = (prop, message)


AcquireCheck = Callable[[Sequence[Any], int], str | None]


@attrs.frozen
class AcquireGuard:
    """A check a model attaches to every acquisition of one lock
    (``World.guard_acquisitions``): taking the lock, or trying to (a
    trylock, a spinlock section), reads the lock's memory, which the model
    may know is gone (a dentry freed after its grace period: taking its
    ``d_lock`` is a use after free).  ``check(state, tid)`` answers None
    where thread ``tid`` may touch the lock, else what is wrong, reported
    as a violation of ``prop``; it reads the slots ``reads`` alone, which
    the acquisition's footprint then includes, so partial-order reduction
    orders the acquisition against their writers."""

    prop: str
    reads: tuple[int, ...]
    check: AcquireCheck = attrs.field(eq=False)


@attrs.frozen
class Slot:
    """One named field of the state vector."""

    name: str
    render: Render = attrs.field(eq=False)
    hidden: bool = False


@attrs.frozen
class Inode:
    """An inode of the scenario; ``ino`` doubles as its address, which is
    what the kernel orders unrelated inodes by."""

    ino: int
    path: str
    is_dir: bool
    i_rwsem: Lock
    nlink: int
    dead: int | None
    """Slot of the S_DEAD flag (directories only)."""
    d_parent: int | None
    """Slot of the parent of the directory's one dentry (directories only);
    like the kernel's d_parent it is kept when the directory is removed."""
    renamed_over: int | None = None
    """Slot of whether a rename's ->rename has dropped the link of this
    inode, the victim of its new name, and its d_move() has not yet moved
    the name over it (non-directories only): the one window in which a
    name points to an inode whose link it no longer counts."""

    def __str__(self) -> str:
        return self.path


@attrs.frozen
class Dentry:
    """The name ``name`` in directory ``parent``; its slot holds the inode
    number it points to, or None when negative."""

    parent: Inode
    name: str
    slot: int

    @property
    def path(self) -> str:
        return posixpath.join(self.parent.path, self.name)

    def __str__(self) -> str:
        return self.path


@attrs.frozen
class Superblock:
    """The superblock shared by the scenario's files."""

    s_vfs_rename_sem: Lock
    s_umount: Lock


class World:
    """The objects of one scenario and the slots of its states.

    Objects are created while the threads' programs are built; the layout is
    final once ``initial_state`` has been called.
    """

    def __init__(self, thread_names: Iterable[str]) -> None:
        self.thread_names = tuple(thread_names)
        self.slots: list[Slot] = []
        self.initial: list[Any] = []
        self.locks: list[Lock] = []
        self._slot_named: dict[str, int] = {}
        """The first slot of each name (``shared_slot``)."""
        self._lock_named: dict[str, Lock] = {}
        """The first lock of each name (``shared_lock``)."""
        self.shared_names: set[str] = set()
        """The names of the locks ``shared_lock`` made."""
        self._shared_slots: dict[int, bool] = {}
        """The slots ``shared_slot`` made, each with whether a user's file
        asked for it (else the models did)."""
        self.inodes: list[Inode] = []
        self.inode_by_path: dict[str, Inode] = {}
        self.dentries: dict[tuple[int, str], Dentry] = {}
        self.compiled: dict[object, Any] = {}
        """Functions made once per world while steps compile (each thread's
        lock tests), by whatever key their maker chooses."""
        self.parts: dict[str, Any] = {}
        """Objects other kernel modules attach (the page cache, the block
        device), by the name of the module that owns them."""
        self.scenario_checks: list[Callable[[World], str]] = []
        self.insertions: dict[tuple[str, str], tuple[int, str | None]] = {}
        """For each variant's ``inserts`` label (variant name, label) the
        bodies built looked for, how many steps they found with it, and
        the nearest label of a body that had none."""
        self.nesting_orders: dict[str, str] = {}
        """The classes model files nest in themselves with a rule
        (``lock_order(..., by=...)``), with the rule."""
        self.known_variants: frozenset[str] = frozenset()
        """The names of every variant declared where the scenario is built
        (``op.variant`` refuses another); empty where none are known."""
        self.invocations: tuple[Any, ...] = ()
        """The scenario's threads, an invocation each (``mc.dsl.operation.Invocation``),
        for an operation whose program depends on what the others do (a
        dentry's kill goes on with its parent only where a thread drops the
        parent's last reference)."""
        """Checks of the whole scenario once every thread is built
        (``Op.check_scenario``): each names what the scenario lacks, or
        returns ""."""
        self.creators: dict[int, tuple[str, int, int]] = {}
        """The inodes threads may allocate: each one's thread name, and
        that thread's program-counter and return-value slots."""
        self.composed: set[str] = set()
        """The threads that run a body of another operation or a helper
        (``Op.run``) besides their own: their return value is the last
        body's, not that of each create they run."""
        self.pc_slots: list[int] = []
        """The program-counter slot of each thread, in thread order."""
        self.completers: set[int] = set()
        """The threads that complete a device's I/O and return once every
        other thread has and nothing is in flight (``Op.completes_io``):
        none of them waits for another to return."""
        self.registers_read: set[int] | None = None
        """While a step compiles, the registers its expressions read
        (``register_read``); None otherwise."""
        self.escaped: set[int] = set()
        """The registers whose slot number a model was given
        (``Op.register``): an effect or a function of the model may read
        them by number, so no analysis knows where they are read."""
        self.counted: set[int] = set()
        """The registers other threads' steps read by number (the folio
        references the page cache counts): kept as their thread returns."""
        self.refs_counted = False
        """Whether a step of the scenario counts the ``counted`` references
        (the ``folio_ref_freeze()`` of a migration or of reclaim), not only
        avoids the folio objects they name (``free_identity``)."""
        self.bit_lock_slots: frozenset[int] = frozenset()
        """The slots of the bit locks, once the layout is final
        (``initial_state``): what ``Scratch`` checks an effect's writes to."""
        self.register_slots: set[int] = set()
        """The slots of every thread's registers."""
        self.task_slots: set[int] = set()
        """The registers named in ``Op.thread_wide`` blocks: the task's own
        state (``current->journal_info``), whose initial None means
        something (no handle), unlike a local's."""
        self.fingerprinted = False
        """Whether the search running keeps states as fingerprints, which an
        int from ``WIDE`` on would fool (``wide_refused``)."""
        self.opaque_reads = False
        """Whether a step of the scenario evaluates an expression of a
        user's file that does not say what it reads (``state_expr`` without
        ``reads=``): it may read any slot, a lock's or another thread's
        register too, so no lock acquisition and no register step runs with
        the step before it."""
        self.unread_slots: dict[int, int | None] = {}
        """The slots an effect may not read through ``Scratch`` without
        declaring it (``touches``), with the one thread whose effects may
        (None: none): the locks whose acquisitions and releases run with the
        step before them (``mc.dsl.uncontended``), the rw_semaphores no step
        takes but for reading and the locks one thread alone takes; and
        each thread's registers no other thread's step says it reads
        (through an expression or ``touches``), which a step of another
        thread reading one anyway through its slot number would take to
        commute with the owner's register steps."""
        self.add_slot("error", None, _render_error)
        self.superblock = Superblock(
            self.add_lock("s_vfs_rename_sem", Kind.MUTEX),
            self.add_lock("s_umount", Kind.RWSEM),
        )
        self.rename_lock = self.add_lock("rename_lock", Kind.SEQLOCK)
        self.rcu_read_lock = self.add_lock("rcu_read_lock", Kind.RCU)
        self.call_guards: list[Callable[..., Any]] = []
        """Checks of the calls into filesystem methods, made when each call
        step compiles (``guard(step, context)`` gives a function of the
        state returning an error state or None); spec-conformance adds one."""
        self.call_guard_reads: list[Callable[[Any, World], Sequence[Any]]] = []
        """For each guard that reads state other threads change (a folio's
        PG_writeback, not the caller's own locks), the expressions it reads
        at a call step (``reads(step, world)``): the step's footprint
        includes them, so the reduction orders it against their writers."""
        self.acquire_guards: dict[str, dict[str, AcquireGuard]] = {}
        """The checks of each lock's acquisitions, by the lock's name and the
        property each reports (``guard_acquisitions``)."""
        self.waivers: dict[str, str] = {}
        """The locking rules the chosen variants knowingly break (``table.method
        need``), each with the variant that waives it and where it is
        declared (``models/mine.py:12: variant v``)."""
        self.unchecked_needs: dict[str, None] = {}
        """The needs of the locking rules a call guard could not check at a
        call of a model file outside the shipped models, each said once
        (``vm_operations_struct.page_mkwrite mmap_lock(mm): held at
        my.py:47: the call names no mm``)."""
        self.published: dict[str, Any] = {}
        """Values threads give the threads built after them (``op.publish``)."""
        self.declared_at = ""
        """Where the scenario was declared (``models/mine.py:12``), for an
        error of the scenario itself found while it is explored; empty when
        not known."""
        self.root = self.add_inode("/", is_dir=True, linked=True, parent=0)

    def register_read(self, slot: int) -> None:
        """A thread's expression reading register ``slot`` is being
        compiled: note it for the step compiling (``registers_read``)."""
        if self.registers_read is not None:
            self.registers_read.add(slot)

    def add_slot(
        self, name: str, initial: Any, render: Render = plain, hidden: bool = False
    ) -> int:
        """A new slot holding ``initial`` in the initial state (a name a
        user's file took with ``shared_slot`` is a ``ModelError``)."""
        if self._shared_slots.get(self._slot_named.get(name, -1), False):
            raise ModelError(_taken_name(name))
        self.initial.append(held(initial, name))
        self.slots.append(Slot(name, render, hidden))
        self._slot_named.setdefault(name, len(self.slots) - 1)
        return len(self.slots) - 1

    def add_lock(
        self, name: str, kind: Kind, family: str | None = None, *, irqs_off: bool = False
    ) -> Lock:
        """A new lock; ``family`` names the field it is an instance of
        (``i_rwsem`` for ``i_rwsem(/a)``); ``irqs_off``: process context
        takes it with interrupts disabled (see ``Lock.irqs_off``).  A lock
        ``shared_lock`` made is the only one of its name: another (a
        file's lock the page cache lays out after a thread asked
        ``shared_lock`` for it by name, say) would make the verdict depend
        on the threads' order, so it is a ``ModelError``."""
        if not isinstance(kind, Kind):
            raise ModelError(f"lock {name}: {kind!r} is no lock kind: use LockKind (from mc.dsl)")
        if name in self.shared_names:
            raise ModelError(
                f"two locks are named {name}: shared_lock made one by that name before "
                "the model made the object's own (an object's locks come from the object: "
                "op.mapping(file).invalidate_lock, op.inode(path).i_rwsem)"
            )
        slot = len(self.slots)
        lock = Lock(name, kind, slot, family or name, irqs_off)
        self.add_slot(name, locks.initial(kind), self._lock_renderer(kind))
        self.locks.append(lock)
        self._lock_named.setdefault(name, lock)
        return lock

    def shared_lock(self, name: str, kind: Kind) -> Lock:
        """The lock ``name`` of the world, made on first use: every thread
        that asks for it by name gets the same lock.  A name ``f(x)`` is
        the lock of family ``f`` of ``x`` (``i_gc_rwsem(/f)``: a
        filesystem's own per-inode lock), as the page cache's locks are
        (``invalidate_lock(/f)``): the lock order and mutation analysis
        know it by its family (locks meant as classes of their own take
        names without a parenthesis: ``my_lock_inner``, ``my_lock_outer``)."""
        if not isinstance(kind, Kind):
            raise ModelError(f"lock {name}: {kind!r} is no lock kind: use LockKind (from mc.dsl)")
        lock = self._lock_named.get(name)
        if lock is not None:
            if lock.kind is not kind:
                raise ModelError(f"lock {name} is a {lock.kind.value}, not a {kind.value}")
            return lock
        family = name.split("(", 1)[0]
        if not family or family != family.strip():
            raise ModelError(
                f"lock {name!r}: the part of its name before '(' is its class, which may be "
                "neither empty nor end in a space (i_gc_rwsem(/f) is class i_gc_rwsem)"
            )
        lock = self.add_lock(name, kind, family)
        self.shared_names.add(name)
        return lock

    def guard_acquisitions(
        self, lock: str, prop: str, reads: Iterable[int], check: AcquireCheck
    ) -> None:
        """Check every acquisition of the lock named ``lock`` (made yet or
        not) with ``check``, which reads the slots ``reads`` (see
        ``AcquireGuard``): ``op.lock``, ``op.trylock`` and ``op.section``
        of it, in shipped operations and a user's alike, become a violation
        of ``prop`` in the states where ``check`` gives a message, reported
        as ``T2 takes LOCK at 'LABEL': MESSAGE``.  One guard per lock and
        property: the first declared stands."""
        self.acquire_guards.setdefault(lock, {}).setdefault(
            prop, AcquireGuard(prop, tuple(reads), check)
        )

    def forget_slots_from(self, count: int) -> list[str]:
        """Take away the slots made after the first ``count`` (and their
        locks); the names of those taken, in the order made."""
        taken = [slot.name for slot in self.slots[count:]]
        del self.slots[count:], self.initial[count:]
        self._slot_named = {name: at for name, at in self._slot_named.items() if at < count}
        gone = {lock.name for lock in self.locks if lock.slot >= count}
        self.locks = [lock for lock in self.locks if lock.slot < count]
        self._lock_named = {
            name: lock for name, lock in self._lock_named.items() if lock.slot < count
        }
        self.shared_names -= gone
        self.acquire_guards = {
            name: kept
            for name, guards in self.acquire_guards.items()
            if (kept := {p: g for p, g in guards.items() if all(r < count for r in g.reads)})
        }
        self._shared_slots = {
            slot: users for slot, users in self._shared_slots.items() if slot < count
        }
        return taken

    def slot(self, name: str) -> int:
        """The slot named ``name``, one the models made (``SB_DYING``,
        ``->kill_sb returned``, ``i_count(/f)``: ``vfsmc show --steps``
        lists them under "slots"), for an effect or property of a user's
        file to read the models' own state; its first, where two have the
        name.  Slots are made as the threads are built, so a step reads it
        from the state it runs on (``scratch.world.slot(name)``); a name
        no slot has is a ``ModelError`` naming the closest there is."""
        index = self._slot_named.get(name)
        if index is not None:
            return index
        close = difflib.get_close_matches(name, list(self._slot_named), n=1, cutoff=0.6)
        hint = f" (the closest is {close[0]!r})" if close else ""
        raise ModelError(
            f"no slot is named {name!r} yet{hint}: no model made one of that name (a misspelt "
            "name, or a path the scenario's tree lacks: vfsmc show SCENARIO --steps lists the "
            "slots), or the lookup came before the threads that make it were built (look it up "
            "when the step runs: scratch.world.slot(name)); a slot no model makes is made while "
            "the threads are built, by an operation's body or an inserts() hook "
            "(op.world.shared_slot(name, initial)): a step's or a transform's function only "
            "looks one up"
        )

    def shared_slot(self, name: str, initial: Any, render: Render = plain) -> int:
        """The slot ``name`` of the world, made on first use with ``initial``:
        every thread that asks for it by name gets the same slot.  A name
        the models use for their own state (``s_active``, ``->kill_sb
        returned``, a lock's) asked for from a user's file, or one a user's
        file asked for first that the models then make, is a
        ``ModelError`` whichever thread is built first: two meanings would
        share one slot (a shipped helper that shares a slot by name, as
        ``flag_slot``, is the models' own asking)."""
        users = not asked_by_the_models(sys._getframe(1).f_code.co_filename)
        index = self._slot_named.get(name)
        if index is None:
            index = self.add_slot(name, initial, render)
            self._shared_slots[index] = users
            return index
        if self._shared_slots.get(index, False) != users:
            raise ModelError(_taken_name(name))
        return index

    def _lock_renderer(self, kind: Kind) -> Render:
        return lambda value: locks.render(kind, value, self.thread_names)

    def add_inode(
        self, path: str, *, is_dir: bool, linked: bool, parent: int | None = None
    ) -> Inode:
        """A new inode labelled ``path`` below directory ``parent``; unlinked
        ones are not yet in the tree (an inode a create will allocate)."""
        ino = len(self.inodes)
        inode = Inode(
            ino=ino,
            path=path,
            is_dir=is_dir,
            i_rwsem=self.add_lock(f"i_rwsem({path})", Kind.RWSEM, "i_rwsem"),
            nlink=self.add_slot(f"nlink({path})", (2 if is_dir else 1) if linked else 0),
            dead=self.add_slot(f"S_DEAD({path})", False, yes_no) if is_dir else None,
            d_parent=(
                self.add_slot(f"d_parent({path})", parent if linked else None, self.inode_name)
                if is_dir
                else None
            ),
            renamed_over=(
                None if is_dir else self.add_slot(f"renamed_over({path})", False, yes_no, True)
            ),
        )
        self.inodes.append(inode)
        self.inode_by_path.setdefault(path, inode)
        return inode

    def dentry(self, parent: Inode, name: str) -> Dentry:
        """The dentry ``name`` in ``parent``, negative unless the tree put an
        inode there."""
        key = (parent.ino, name)
        if key not in self.dentries and (name in ("", ".", "..") or "/" in name):
            shown = posixpath.join(parent.path, name) if name else parent.path.rstrip("/") + "/"
            raise ModelError(
                f"{shown}: {name!r} is not a name an operation can make or look up in "
                f"{parent.path} (a path's last component, such as /a/f; the kernel's "
                "filename_create() gets -EEXIST for / and never sees an empty, '.' or '..' one)"
            )
        if key not in self.dentries:
            slot = self.add_slot(
                f"dentry({posixpath.join(parent.path, name)})", None, self.inode_name
            )
            self.dentries[key] = Dentry(parent, name, slot)
        return self.dentries[key]

    def build_tree(self, paths: Iterable[str]) -> None:
        """Create the initial tree: ``/a/`` is a directory, ``/a/x`` a file."""
        for spec in paths:
            path = spec.rstrip("/") or "/"
            names = path.split("/")
            if names[0] or any(name in ("", ".", "..") for name in names[1:]):
                raise ValueError(
                    f"tree path {spec!r} is not an absolute path below / without empty, "
                    "'.' or '..' names (/a/ a directory, /a/x a file)"
                )
            if path in self.inode_by_path:
                raise ValueError(f"tree lists {path} twice")
            parent = self.lookup_path(posixpath.dirname(path))
            if not parent.is_dir:
                raise ValueError(f"tree puts {path} below {parent.path}, which is not a directory")
            inode = self.add_inode(path, is_dir=spec.endswith("/"), linked=True, parent=parent.ino)
            dentry = self.dentry(parent, posixpath.basename(path))
            self.initial[dentry.slot] = inode.ino
            if inode.is_dir:
                self.initial[parent.nlink] += 1

    def lookup_path(self, path: str) -> Inode:
        """The inode the initial tree has at ``path``."""
        try:
            inode = self.inode_by_path[path]
        except KeyError:
            raise ValueError(f"{path} is not in the scenario's tree{self._spelt(path)}") from None
        if self.initial[inode.nlink] == 0:
            raise ValueError(f"{path} is not in the scenario's tree")
        return inode

    def _spelt(self, path: str) -> str:
        """A hint when ``path`` is in the tree spelt otherwise (``/a/``, a
        directory as the tree lists it, for ``/a``)."""
        other = path.rstrip("/") or "/"
        if other != path and other in self.inode_by_path:
            return f" (a path has no trailing /: {other!r})"
        return ""

    def inode_name(self, ino: int | None) -> str:
        """An inode number as people read it (a value that numbers no inode,
        as a register of a model's own may hold, as it is)."""
        if ino is None:
            return "negative"
        if type(ino) is int and 0 <= ino < len(self.inodes):
            return self.inodes[ino].path
        return plain(ino)

    def children(self, directory: Inode) -> Iterator[Dentry]:
        """The dentries that can name a child of ``directory``."""
        return (d for d in self.dentries.values() if d.parent is directory)

    @property
    def atomic_locks(self) -> tuple[Lock, ...]:
        """The locks whose holders are in atomic context."""
        return tuple(lock for lock in self.locks if lock.kind.atomic)

    def initial_state(self) -> tuple[Any, ...]:
        """The initial state; the layout is frozen from here on."""
        self.bit_lock_slots = frozenset(
            lock.slot for lock in self.locks if lock.kind is Kind.BIT_LOCK
        )
        return tuple(self.initial)


def yes_no(flag: bool | None) -> str:
    """How a flag slot or register renders: yes, no, or none before it is set."""
    return "none" if flag is None else "yes" if flag else "no"


def others_returned(world: World, completer: int) -> Callable[[Sequence[Any]], bool]:
    """Whether, in a state, every thread has returned but ``completer`` and
    the other threads that complete I/O (``World.completers``)."""
    others = [
        pc
        for tid, pc in enumerate(world.pc_slots)
        if tid != completer and tid not in world.completers
    ]
    return lambda state: all(state[pc] == DONE for pc in others)


def _render_error(error: tuple[str, str] | None) -> str:
    return "none" if error is None else f"{error[0]}: {error[1]}"


class Built(Protocol):
    """A scenario built into a model, as the kernel's properties read it."""

    @property
    def world(self) -> World: ...

    def locations(self, names: Sequence[str]) -> int:
        """The mask of the locations ``names`` name (what ``reads=`` names)."""
        ...
