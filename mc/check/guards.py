"""The lock guards of include/linux/cleanup.h, as the calls they stand for.

``guard(NAME)(args);`` takes the lock of the class ``NAME`` where it
stands and releases it at every exit of the enclosing block;
``scoped_guard(NAME, args) BODY`` takes it before ``BODY`` and releases it
after, a ``break`` in ``BODY`` leaving the scope;
``scoped_cond_guard(NAME, FAIL, args) BODY`` runs ``FAIL`` and skips
``BODY`` when a conditional lock fails.  A class is read from its
definition where the tree has one (``DEFINE_GUARD``,
``DEFINE_GUARD_COND``, ``DEFINE_LOCK_GUARD_0``, ``DEFINE_LOCK_GUARD_1``,
``DEFINE_LOCK_GUARD_1_COND``, ``DEFINE_CLASS``, in the file read or under
``include/``), else from ``GENERIC``, the definitions of
include/linux/{mutex,rwsem,spinlock,rcupdate,fs}.h as the copies and
patches in the search index show them (6.5 to after 6.18: ``rwsem_*``
moved from ``DEFINE_GUARD`` to ``DEFINE_LOCK_GUARD_1`` there, the same
calls).  Semantics from include/linux/cleanup.h (6.12 and later):
``scoped_guard()`` is a one-round ``for`` left by ``break``,
``scoped_cond_guard()`` runs ``_fail`` and breaks when the lock fails.
A function-like macro of the file whose expansion declares
a variable with ``__cleanup(fn)`` (fs/namespace.c's ``LOCK_MOUNT()``) is
read as its expansion, ``fn`` releasing at the end of the block.
"""

from __future__ import annotations

import re

import attrs


@attrs.frozen
class GuardClass:
    """A guard class: its lock and unlock statements as written in its
    definition (``_T`` the guard's argument, ``_T->lock`` for a
    ``DEFINE_LOCK_GUARD_1`` class), and how its arguments fill them."""

    name: str
    lock: str
    unlock: str
    shape: str
    """``guard`` (DEFINE_GUARD: ``_T`` is the argument), ``lock1``
    (``_T->lock`` is the argument), ``lock0`` (no argument) or ``class``
    (DEFINE_CLASS: the constructor's parameters are the arguments)."""
    parameters: tuple[str, ...] = ()
    conditional: bool = False
    """A trylock or interruptible lock (``DEFINE_GUARD_COND``): a
    ``scoped_guard`` of it may skip its body."""
    where: str = "cleanup.h"

    def calls(self, arguments: list[str]) -> tuple[str, str]:
        """The lock and unlock statements with ``arguments`` in place."""
        return self._fill(self.lock, arguments), self._fill(self.unlock, arguments)

    def _fill(self, text: str, arguments: list[str]) -> str:
        first = arguments[0] if arguments else ""
        if self.shape == "lock1":
            text = re.sub(r"\b_T\s*->\s*lock\b", lambda _: first, text)
            text = re.sub(r"\b_T\s*->\s*(\w+)", r"\1", text)
        elif self.shape == "guard":
            text = re.sub(r"\b_T\b", lambda _: first, text)
        elif self.shape == "class":
            text = substitute(text, self.parameters, arguments)
        return text


def substitute(text: str, parameters: tuple[str, ...], arguments: list[str]) -> str:
    """``text`` with each parameter name replaced by its argument."""
    for parameter, argument in zip(parameters, arguments, strict=False):
        text = re.sub(rf"\b{re.escape(parameter)}\b", argument.replace("\\", r"\\"), text)
    return text


def _generic() -> dict[str, GuardClass]:
    table: dict[str, GuardClass] = {}

    def add(name: str, lock: str, unlock: str, shape: str, conditional: bool = False) -> None:
        table[name] = GuardClass(name, lock, unlock, shape, conditional=conditional)

    add("mutex", "mutex_lock(_T)", "mutex_unlock(_T)", "guard")
    add("mutex_try", "mutex_trylock(_T)", "mutex_unlock(_T)", "guard", True)
    add("mutex_intr", "mutex_lock_interruptible(_T) == 0", "mutex_unlock(_T)", "guard", True)
    add("rwsem_read", "down_read(_T)", "up_read(_T)", "guard")
    add("rwsem_read_try", "down_read_trylock(_T)", "up_read(_T)", "guard", True)
    add("rwsem_read_intr", "down_read_interruptible(_T) == 0", "up_read(_T)", "guard", True)
    add("rwsem_write", "down_write(_T)", "up_write(_T)", "guard")
    add("rwsem_write_try", "down_write_trylock(_T)", "up_write(_T)", "guard", True)
    add("rwsem_write_kill", "down_write_killable(_T) == 0", "up_write(_T)", "guard", True)
    add("super_write", "sb_start_write(_T)", "sb_end_write(_T)", "guard")
    for prefix, call in (
        ("spinlock", "spin"),
        ("raw_spinlock", "raw_spin"),
        ("read_lock", "read"),
        ("write_lock", "write"),
    ):
        add(prefix, f"{call}_lock(_T->lock)", f"{call}_unlock(_T->lock)", "lock1")
        add(f"{prefix}_irq", f"{call}_lock_irq(_T->lock)", f"{call}_unlock_irq(_T->lock)", "lock1")
        add(
            f"{prefix}_irqsave",
            f"{call}_lock_irqsave(_T->lock, _T->flags)",
            f"{call}_unlock_irqrestore(_T->lock, _T->flags)",
            "lock1",
        )
    add("spinlock_bh", "spin_lock_bh(_T->lock)", "spin_unlock_bh(_T->lock)", "lock1")
    add("spinlock_try", "spin_trylock(_T->lock)", "spin_unlock(_T->lock)", "lock1", True)
    add(
        "raw_spinlock_try", "raw_spin_trylock(_T->lock)", "raw_spin_unlock(_T->lock)", "lock1", True
    )
    add("rcu", "rcu_read_lock()", "rcu_read_unlock()", "lock0")
    return table


GENERIC = _generic()
"""The generic guard classes of the kernel's headers, used where the tree
does not define them."""

DEFINITION = re.compile(
    r"^(?!\s*#\s*define)[^\n]*?\b(DEFINE_GUARD|DEFINE_GUARD_COND|DEFINE_LOCK_GUARD_0"
    r"|DEFINE_LOCK_GUARD_1|DEFINE_LOCK_GUARD_1_COND|DEFINE_CLASS)\s*\(",
    re.MULTILINE,
)


def uncommented(text: str) -> str:
    """``text`` without comments and with continued lines joined (line
    count kept)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)
    text = re.sub(r"//[^\n]*", "", text)
    return text.replace("\\\n", " \n")


def split_arguments(text: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments of the parenthesis opened at
    ``start``, stripped, and where the closing one is."""
    depth = 0
    arguments: list[str] = []
    current = start + 1
    for index in range(start, len(text)):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                arguments.append(text[current:index])
                return [" ".join(a.split()) for a in arguments], index
        elif char == "," and depth == 1:
            arguments.append(text[current:index])
            current = index + 1
    return [" ".join(a.split()) for a in arguments], len(text)


def _parameter_name(declaration: str) -> str:
    names = re.findall(r"[A-Za-z_]\w*", declaration)
    return names[-1] if names else ""


def definitions(text: str, where: str) -> dict[str, GuardClass]:
    """The guard classes ``text`` (a C file) defines; a conditional class's
    release is its base class's, filled in by ``Classes``."""
    text = uncommented(text)
    found: dict[str, GuardClass] = {}
    for match in DEFINITION.finditer(text):
        macro = match.group(1)
        arguments, _ = split_arguments(text, match.end() - 1)
        line = text.count("\n", 0, match.start()) + 1
        at = f"{where}:{line}"
        if macro == "DEFINE_GUARD" and len(arguments) >= 4:
            name, lock, unlock = arguments[0], arguments[2], arguments[3]
            found[name] = GuardClass(name, lock, unlock, "guard", where=at)
        elif macro == "DEFINE_LOCK_GUARD_1" and len(arguments) >= 4:
            name, lock, unlock = arguments[0], arguments[2], arguments[3]
            found[name] = GuardClass(name, lock, unlock, "lock1", where=at)
        elif macro == "DEFINE_LOCK_GUARD_0" and len(arguments) >= 3:
            name, lock, unlock = arguments[0], arguments[1], arguments[2]
            found[name] = GuardClass(name, lock, unlock, "lock0", where=at)
        elif macro == "DEFINE_CLASS" and len(arguments) >= 4:
            name, unlock, lock = arguments[0], arguments[2], arguments[3]
            parameters = tuple(_parameter_name(a) for a in arguments[4:])
            found[name] = GuardClass(name, lock, unlock, "class", parameters, where=at)
        elif macro in ("DEFINE_GUARD_COND", "DEFINE_LOCK_GUARD_1_COND") and len(arguments) >= 3:
            name = arguments[0] + arguments[1]
            shape = "guard" if macro == "DEFINE_GUARD_COND" else "lock1"
            found[name] = GuardClass(
                name, arguments[2], arguments[0], shape, conditional=True, where=at
            )
    return found


class Classes:
    """The guard classes known to one reading: the tree's own, then
    ``GENERIC``."""

    def __init__(self, defined: dict[str, GuardClass]) -> None:
        self.defined = defined

    def get(self, name: str, local: dict[str, GuardClass] | None = None) -> GuardClass | None:
        """The class ``name``, a definition of the file read (``local``)
        first; a conditional class takes its base's release."""
        found = (local or {}).get(name) or self.defined.get(name) or GENERIC.get(name)
        if found is not None and found.conditional and found.unlock.isidentifier():
            base = self.get(found.unlock, local)
            if base is None:
                return None
            return attrs.evolve(found, unlock=base.unlock)
        return found


@attrs.frozen
class CleanupMacro:
    """A function-like macro of a file that declares a variable released
    by ``__cleanup(fn)`` at the end of the block (``LOCK_MOUNT(mp, path)``)."""

    name: str
    parameters: tuple[str, ...]
    body: str


CLEANUP = re.compile(r"(?:struct\s+)?[\w\s\*]*?\b(\w+)\s+__cleanup\s*\(\s*(\w+)\s*\)[^;]*;")


def macros(text: str) -> dict[str, CleanupMacro]:
    """The function-like macros of ``text`` (a C file)."""
    text = uncommented(text).replace(" \n", " ")
    found: dict[str, CleanupMacro] = {}
    for match in re.finditer(r"^\s*#\s*define\s+(\w+)\(([^)]*)\)([^\n]*)", text, re.MULTILINE):
        parameters = tuple(p.strip() for p in match.group(2).split(",") if p.strip())
        found[match.group(1)] = CleanupMacro(match.group(1), parameters, match.group(3).strip())
    return found


def expand(
    name: str, arguments: list[str], known: dict[str, CleanupMacro], depth: int = 0
) -> tuple[str, list[str]] | None:
    """The statements a call of macro ``name`` expands to, without the
    ``__cleanup`` declarations, and the releases those make at the end
    of the block (``unlock_mount(&mp)``); None unless the expansion
    declares such a variable."""
    macro = known.get(name)
    if macro is None or depth > 4:
        return None
    body = substitute(macro.body, macro.parameters, arguments)
    releases = [f"{fn}(&{var})" for var, fn in CLEANUP.findall(body)]
    statements = CLEANUP.sub("", body).strip()
    inner = re.match(r"^(\w+)\s*\(", statements)
    if not releases and inner is not None and inner.group(1) in known:
        inner_arguments, end = split_arguments(statements, inner.end() - 1)
        if statements[end + 1 :].strip(" ;"):
            return None
        return expand(inner.group(1), inner_arguments, known, depth + 1)
    if not releases:
        return None
    return statements, releases
