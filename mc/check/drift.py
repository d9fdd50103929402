"""Whether the models are in step with a kernel tree.

Each operation cites the kernel functions it follows (``Cite``).  In the
user's kernel tree the lock calls and filesystem-method calls of those
functions are read (``mc.check.csource``) and compared with what the
operation's model does in the shipped scenarios that run it: the kernel
call each lock step's label names, and the method each call step calls.
First anywhere (a lock call or method on one side only), then path by
path: every path of the model must take its locks as some path of the
kernel does, and a kernel path that extends a model path with locks no
model path takes has them added.  A finding is a cited file or function
gone (or renamed: read in its place), a lock call added, removed or
reordered, a method call on one side only.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import attrs

from mc.check.csource import (
    EMPTY,
    LOCK_CALL,
    OPERATIONS_FIELDS,
    POINTER_FIELDS,
    WRAPPERS,
    Acquisition,
    CSourceError,
    Extractor,
    Function,
    KernelCall,
    Orders,
    Reading,
    call_text,
    lock_key,
    lock_kind,
    then,
)
from mc.dsl.operation import Operation
from mc.dsl.program import Program
from mc.dsl.scenario import Registry, UnknownName
from mc.dsl.steps import CallStep, LockStep, Source, Step, UnlockStep
from mc.dsl.wait_steps import HandOffStep, SectionStep, TryLockStep
from mc.project import ROOT

T = TypeVar("T")
LOCK_STEPS = (LockStep, UnlockStep, TryLockStep, SectionStep, HandOffStep)
CALL_IN_LABEL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
KNOWN_TABLES = (
    frozenset(OPERATIONS_FIELDS.values())
    | frozenset(POINTER_FIELDS.values())
    | {"block_device_operations"}
)


class DriftInputError(ValueError):
    """A kernel tree or an operation drift cannot read."""


@attrs.frozen
class ModelCall:
    """A lock call or method call a model step makes."""

    kind: str
    key: str
    source: Source
    label: str
    call: str = ""
    implied: bool = False
    """The release a spinlock section makes without naming it."""


@attrs.frozen
class Finding:
    """One way an operation's model and the kernel tree differ."""

    operation: str
    kind: str
    kernel: str
    """The kernel file and line (``fs/namei.c:3120``), or the file alone."""
    message: str
    model: str
    """The model line (``models/dirops.py:300``)."""

    def __str__(self) -> str:
        return f"{self.operation}: {self.kind}: {self.kernel}: {self.message} [model {self.model}]"


@attrs.frozen
class Report:
    """The findings of one operation, and what was compared."""

    operation: str
    findings: tuple[Finding, ...]
    kernel_calls: int
    model_calls: int
    functions: tuple[str, ...]
    note: str = ""
    missing: tuple[str, ...] = ()
    """The cited functions the tree lacks under their cited names: gone
    (``f()``, ``f() (no fs/x.c)``) or renamed (``f() -> g()``)."""
    cited: tuple[str, ...] = ()
    """The kernel functions the operation cites, each once, by their cited
    names."""

    @property
    def missing_functions(self) -> tuple[str, ...]:
        """The cited names of the functions ``missing`` lists."""
        return tuple(dict.fromkeys(entry.split("()", 1)[0] for entry in self.missing))

    @property
    def status(self) -> str:
        """``in step``, ``drifted``, ``cited function missing`` (a cited
        function or file is not in the tree under its name: the model is
        stale whatever else it finds) or ``not compared``."""
        if self.note:
            return "not compared"
        if self.missing:
            return "cited function missing"
        return "drifted" if self.findings else "in step"


def _arguments(label: str, start: int) -> str:
    depth = 0
    for index in range(start, len(label)):
        if label[index] == "(":
            depth += 1
        elif label[index] == ")":
            depth -= 1
            if depth == 0:
                return label[start : index + 1]
    return label[start:]


def label_calls(label: str) -> Iterator[tuple[str, str, str]]:
    """The lock calls a step's label names: (kind, key, the call as
    written) each; a header wrapper named with the call it wraps
    (``file_start_write(file): sb_start_write(sb)``) counts once."""
    found = []
    for match in CALL_IN_LABEL.finditer(label):
        name = match.group(1)
        if LOCK_CALL.match(name):
            arguments = _arguments(label, match.end() - 1)
            found.append(
                (name, lock_kind(name), lock_key(name, arguments), call_text(name, arguments))
            )
    wrapped = {key for name, _, key, _ in found if name not in WRAPPERS}
    for name, kind, key, call in found:
        if name not in WRAPPERS or key not in wrapped:
            yield kind, key, call


def release_of(name: str) -> str:
    """The call that releases what lock call ``name`` takes
    (``xa_lock_irq`` -> ``xa_unlock_irq``, ``spin_lock_irqsave`` ->
    ``spin_unlock_irqrestore``, ``down_read`` -> ``up_read``)."""
    name = name.replace("_nested", "").replace("irqsave", "irqrestore")
    if name.startswith("down_"):
        return "up_" + name.removeprefix("down_")
    return re.sub(r"(?<!un)lock", "unlock", name, count=1)


def step_calls(step: Step) -> Iterator[ModelCall]:
    """What ``step`` stands for in the kernel's terms: the lock calls its
    label names (for a step on a lock), or the filesystem method it calls.
    A spinlock section (one step: lock, effect, unlock) stands for the
    release of each lock its label names too."""
    if isinstance(step, CallStep):
        if step.method.split(".")[0] in KNOWN_TABLES:
            yield ModelCall("method", step.method, step.source, step.label)
    elif isinstance(step, LOCK_STEPS):
        for kind, key, call in label_calls(step.label):
            yield ModelCall(kind, key, step.source, step.label, call)
            release = release_of(call.split("(")[0])
            if isinstance(step, SectionStep) and kind == "lock" and LOCK_CALL.match(release):
                yield ModelCall(
                    "unlock", lock_key(release, ""), step.source, step.label, release, implied=True
                )


def programs_of(registry: Registry, names: Iterable[str]) -> dict[str, list[Program]]:
    """The programs each named operation builds in the scenarios that run
    it (the shipped protocol: no variant), each scenario built once."""
    wanted = set(names)
    found: dict[str, list[Program]] = {name: [] for name in wanted}
    for scenario in registry.scenarios.values():
        if not any(inv.operation.name in wanted for inv in scenario.threads):
            continue
        model = registry.build(scenario, properties=())
        for thread in model.threads:
            if thread.invocation.operation.name in wanted:
                found[thread.invocation.operation.name].append(thread.program)
    return found


def declared_at(operation: Operation) -> str:
    """The model line where the operation's body starts."""
    code = getattr(operation.build, "__code__", None)
    if code is None:
        return "?"
    path = Path(inspect.getfile(operation.build)).resolve()
    try:
        shown = str(path.relative_to(ROOT))
    except ValueError:
        shown = str(path)
    return f"{shown}:{code.co_firstlineno}"


def kernel_tree(path: Path) -> Extractor:
    """The extractor of the kernel tree at ``path``; bad input otherwise."""
    if path.exists() and not path.is_dir():
        raise DriftInputError(f"{path}: not a directory (--kernel is the root of a kernel tree)")
    if not path.is_dir():
        raise DriftInputError(f"{path}: no such directory")
    return Extractor(path)


class Comparison:
    """Compares one operation with a kernel tree."""

    def __init__(
        self,
        tree: Extractor,
        operation: Operation,
        programs: Sequence[Program],
        cited_anywhere: frozenset[str] = frozenset(),
    ):
        self.tree = tree
        self.operation = operation
        self.programs = programs
        self.cited_anywhere = cited_anywhere
        """Functions some operation cites: never taken for a renamed one."""
        self.model_line = declared_at(operation)
        self.findings: list[Finding] = []
        self.files_found = 0
        self.reported: set[str] = set()
        self.first_file = ""
        self.actual: dict[str, str] = {}
        self.missing: list[str] = []
        """A cited function's name in the tree (another when renamed)."""
        """Keys a presence finding already names."""

    def finding(self, kind: str, kernel: str, message: str, model: str | None = None) -> None:
        """Record a finding, unless one of its kind names the same kernel
        and model lines (seen on another path)."""
        found = Finding(self.operation.name, kind, kernel, message, model or self.model_line)
        if kind.startswith("function-") or (kind, kernel, found.model) not in {
            (f.kind, f.kernel, f.model) for f in self.findings
        }:
            self.findings.append(found)

    def cited_functions(self) -> dict[str, Function]:
        """The cited functions the tree defines, by their name in the tree:
        a function that is gone is a finding, and one whose name is close to
        a function of the same file that is not cited is taken as renamed
        to it and read in its place."""
        found: dict[str, Function] = {}
        cited = {cite.function for cite in self.operation.cites} | self.cited_anywhere
        missing: set[str] = set()
        for cite in self.operation.cites:
            try:
                source = self.tree.file(cite.file)
            except (CSourceError, OSError) as error:
                raise DriftInputError(f"{self.tree.root / cite.file}: {error}") from None
            if source is None:
                if cite.file not in missing:
                    missing.add(cite.file)
                    self.finding("function-gone", cite.file, f"no such file (read {cite})")
                self.missing.append(f"{cite.function}() (no {cite.file})")
                continue
            self.files_found += 1
            self.first_file = self.first_file or cite.file
            function = source.functions.get(cite.function)
            if function is None:
                others = [name for name in source.functions if name not in cited]
                close = difflib.get_close_matches(cite.function, others, n=1, cutoff=0.8)
                if close:
                    function = source.functions[close[0]]
                    self.missing.append(f"{cite.function}() -> {function.name}()")
                    self.finding(
                        "function-renamed",
                        f"{cite.file}:{function.line}",
                        f"{cite.function}() (read in {cite.version}) is gone; "
                        f"read {function.name}() in its place",
                    )
                else:
                    self.finding(
                        "function-gone",
                        cite.file,
                        f"{cite.function}() (read in {cite.version}) is not defined",
                    )
                    self.missing.append(f"{cite.function}()")
                    continue
            self.actual[cite.function] = function.name
            found[function.name] = function
        return found

    def reading(self, functions: dict[str, Function]) -> Reading:
        cites = [cite for cite in self.operation.cites if cite.function in self.actual]
        return Reading(
            self.tree,
            functions,
            {self.actual[cite.function]: frozenset(cite.leaves_out) for cite in cites},
            {cite.method: self.actual[cite.function] for cite in cites if cite.method},
        )

    def entry_points(self, reading: Reading, functions: dict[str, Function]) -> list[Function]:
        """The cited functions no other cited function calls, in cite order."""
        entries: list[Function] = []
        read: set[str] = set()
        for cite in self.operation.cites:
            name = self.actual.get(cite.function, "")
            if name not in functions or name in read:
                continue
            read |= reading.calls(functions[name])[1]
            entries.append(functions[name])
        return entries

    def compare(self) -> Report:
        functions = self.cited_functions()
        reading = self.reading(functions)
        try:
            entries = self.entry_points(reading, functions)
            kernel = [call for entry in entries for call in reading.calls(entry)[0]]
        except CSourceError as error:
            raise DriftInputError(f"{self.tree.root}/{error}") from None
        model = [call for p in self.programs for step in p.steps for call in step_calls(step)]
        self.presence(kernel, model, functions)
        kernel_orders = frozenset(o for entry in entries for o in reading.orders(entry))
        model_orders = frozenset(o for p in self.programs for o in program_orders(p))
        if functions and not any(f.kind == "function-gone" for f in self.findings):
            self.paths(kernel_orders, model_orders)
        return Report(
            self.operation.name,
            tuple(_unique(self.findings, lambda f: f)),
            len(kernel),
            len(_unique([c for c in model if not c.implied], lambda c: (c.key, c.source))),
            tuple(functions),
            missing=tuple(dict.fromkeys(self.missing)),
            cited=tuple(dict.fromkeys(cite.function for cite in self.operation.cites)),
        )

    def presence(
        self, kernel: list[KernelCall], model: list[ModelCall], functions: dict[str, Function]
    ) -> None:
        """Lock calls (by name and lockdep class) and methods one side
        makes somewhere and the other nowhere.  A model step is taken as
        removed only when every cited function was found: one that is gone
        may be where the kernel makes it."""
        kernel_keys = {call.key for call in kernel}
        complete = bool(functions) and not any(f.kind == "function-gone" for f in self.findings)
        model_keys = {call.key for call in model}
        for call in _unique(kernel, lambda c: c.key):
            if call.key in model_keys:
                continue
            what = "method-missing" if call.kind == "method" else "lock-added"
            self.finding(what, call.where(), f"{call.text} in {call.function}() has no model step")
        for step in _unique(model, lambda c: c.key):
            if step.key in kernel_keys or not complete:
                continue
            what = "method-removed" if step.kind == "method" else "lock-removed"
            cited = ", ".join(f"{name}()" for name in functions)
            self.finding(
                what,
                _files(functions.values()),
                f"no {step.key} in {cited}; the model does {step.label!r}",
                str(step.source),
            )
        self.reported = kernel_keys ^ model_keys

    def paths(self, kernel_orders: Orders, model_orders: Orders) -> None:
        """Each path of the model must take the acquisitions of some path
        of the kernel, in its order: for one that does not, the nearest
        kernel path says what was added, removed or reordered.  And a kernel
        path that is a model path (or the start of one) with acquisitions
        no model path makes has those added.  A run of one acquisition
        repeated (the rounds of a loop, which the kernel side reads once and
        a model may take for each page) counts once.  Calls are compared as written
        (``inode_lock(source)``), except that a call each side writes in its
        own way compares by name and lockdep class."""
        model_calls = {a.call for order in model_orders for a in order}
        kernel_calls = {a.call for order in kernel_orders for a in order}
        paraphrased = {
            a.key for order in model_orders for a in order if a.call not in kernel_calls
        } & {a.key for order in kernel_orders for a in order if a.call not in model_calls}

        def name(step: Acquisition) -> str:
            return step.key if step.key in paraphrased else step.call

        kernel_once = sorted({once(order, name) for order in kernel_orders})
        model_once = sorted({once(order, name) for order in model_orders})
        kernel_paths = {tuple(map(name, order)): order for order in kernel_once}
        model_paths = {tuple(map(name, order)): order for order in model_once}
        for names, order in model_paths.items():
            if names in kernel_paths or not kernel_paths:
                continue
            nearest = _nearest(kernel_paths, names)
            self.explain(kernel_paths[nearest], nearest, order, names)
        taken = {name for names in model_paths for name in names}
        for names, order in kernel_paths.items():
            extra = [i for i, name in enumerate(names) if name not in taken]
            rest = tuple(name for name in names if name in taken)
            if names in model_paths or not extra:
                continue
            model = next((m for m in sorted(model_paths) if m[: len(rest)] == rest), None)
            if model is None:
                continue
            for index in extra:
                if order[index].key in self.reported:
                    continue
                before = sum(1 for i in range(index) if i not in extra)
                self.finding(
                    "lock-added",
                    order[index].where,
                    f"{order[index].call} after "
                    f"{names[index - 1] if index else 'the start'}: no model path takes it",
                    model_paths[model][before - 1].where if before else self.model_line,
                )

    def explain(
        self,
        kernel: tuple[Acquisition, ...],
        kernel_names: tuple[str, ...],
        model: tuple[Acquisition, ...],
        model_names: tuple[str, ...],
    ) -> None:
        """Findings for the differences between a model path and the
        kernel path nearest it."""
        matcher = difflib.SequenceMatcher(a=kernel_names, b=model_names, autojunk=False)
        added: list[int] = []
        removed: list[int] = []
        model_at: dict[int, str] = {}
        kernel_at: dict[int, str] = {}
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                added.extend(range(i1, i2))
                removed.extend(range(j1, j2))
                model_at.update(
                    (i, model[j1 - 1].where if j1 else self.model_line) for i in range(i1, i2)
                )
                if i1:
                    kernel_at.update((j, kernel[i1 - 1].where) for j in range(j1, j2))
        moved = {kernel_names[i] for i in added} & {model_names[j] for j in removed}

        def before(names: tuple[str, ...], index: int) -> str:
            return names[index - 1] if index else "the start"

        for name in sorted(moved):
            i = next(i for i in added if kernel_names[i] == name)
            j = next(j for j in removed if model_names[j] == name)
            self.finding(
                "lock-reordered",
                kernel[i].where,
                f"{name} comes after {before(kernel_names, i)} in the kernel, "
                f"after {before(model_names, j)} in the model",
                model[j].where,
            )
        for i in added:
            if kernel_names[i] in moved or kernel[i].key in self.reported:
                continue
            self.finding(
                "lock-added",
                kernel[i].where,
                f"{kernel[i].call} after {before(kernel_names, i)}: no model path takes it there",
                model_at[i],
            )
        for j in removed:
            if model_names[j] in moved or model[j].key in self.reported:
                continue
            self.finding(
                "lock-removed",
                kernel_at.get(j, self.first_file),
                f"{model[j].call} after {before(model_names, j)}: no kernel path takes it there",
                model[j].where,
            )


def once(
    order: tuple[Acquisition, ...], name: Callable[[Acquisition], str]
) -> tuple[Acquisition, ...]:
    """``order`` with each run of one acquisition (by ``name``) kept once."""
    kept: list[Acquisition] = []
    for step in order:
        if not kept or name(kept[-1]) != name(step):
            kept.append(step)
    return tuple(kept)


def _nearest(paths: Iterable[tuple[str, ...]], names: tuple[str, ...]) -> tuple[str, ...]:
    """The path nearest ``names``: the same calls in another order first,
    then the fewest edits, then the most of ``names`` kept in order (a lock
    added rather than one replaced), then the longest common start."""
    best: tuple[tuple[bool, int, int, int, tuple[str, ...]], tuple[str, ...]] | None = None
    for path in sorted(paths, key=lambda p: (abs(len(p) - len(names)), p)):
        if best is not None and abs(len(path) - len(names)) > best[0][1]:
            break
        key = (
            sorted(path) != sorted(names),
            _distance(path, names),
            -_common_subsequence(path, names),
            -_common_prefix(path, names),
            path,
        )
        if best is None or key < best[0]:
            best = (key, path)
    assert best is not None
    return best[1]


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def _common_subsequence(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """The length of the longest common subsequence of two paths."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """The edit distance between two paths (insertions, deletions,
    replacements)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def program_orders(program: Program) -> Orders:
    """The acquisitions along each path of a model program (a loop taken
    once at most)."""
    linked = program.link()
    memo: dict[int, Orders] = {}
    on_path: set[int] = set()

    def from_step(index: int) -> Orders:
        if index >= len(linked) or index < 0 or index in on_path:
            return EMPTY
        if index in memo:
            return memo[index]
        on_path.add(index)
        step, next_index, target = linked[index]
        taken = tuple(
            Acquisition(c.call, c.key, str(c.source)) for c in step_calls(step) if c.kind == "lock"
        )
        after = from_step(next_index)
        if target is not None:
            after = after | from_step(target)
        on_path.discard(index)
        memo[index] = then(frozenset({taken}), after)
        return memo[index]

    return from_step(0) if linked else EMPTY


def _unique(items: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
    """The first item of each key, in order."""
    seen: set[Hashable] = set()
    found = []
    for item in items:
        mark = key(item)
        if mark not in seen:
            seen.add(mark)
            found.append(item)
    return found


def _files(functions: Iterable[Function]) -> str:
    return ", ".join(dict.fromkeys(function.file for function in functions))


def select(
    registry: Registry, names: Sequence[str], modules: Iterable[ModuleType] = ()
) -> list[Operation]:
    """The operations named (when none is, every operation the modules
    define or a scenario of the registry runs, in name order)."""
    known: dict[str, Operation] = {}
    for operation in _operations(registry, modules):
        known.setdefault(operation.name, operation)
    if not names:
        return [known[name] for name in sorted(known)]
    missing = [name for name in names if name not in known]
    if missing:
        raise UnknownName(_unknown_operation(missing[0], known))
    return [known[name] for name in names]


def _unknown_operation(name: str, known: Iterable[str]) -> str:
    """One short line for an operation no model defines: the nearest names
    (as for other unknown names), and where to find the rest."""
    names = sorted(known)
    near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    offered = f"did you mean {' or '.join(near)}? " if near else ""
    return (
        f"unknown operation {name!r} ({offered}vfsmc ops lists the shipped ones; "
        f"{len(names)} operations are known here)"
    )


def _operations(registry: Registry, modules: Iterable[ModuleType]) -> Iterator[Operation]:
    for module in modules:
        yield from (value for value in vars(module).values() if isinstance(value, Operation))
    for scenario in registry.scenarios.values():
        for invocation in scenario.threads:
            yield invocation.operation


def drift(
    registry: Registry,
    kernel: Path,
    names: Sequence[str] = (),
    modules: Iterable[ModuleType] = (),
) -> list[Report]:
    """Compare the named operations (all, by default: those of ``modules``
    and of the registry's scenarios) with the kernel tree at ``kernel``."""
    tree = kernel_tree(kernel)
    reports = []
    cited_files = 0
    operations = select(registry, names, modules)
    everything = select(registry, (), modules)
    cited_anywhere = frozenset(c.function for operation in everything for c in operation.cites)
    programs = programs_of(registry, (operation.name for operation in operations))
    for operation in operations:
        if not operation.cites:
            reports.append(Report(operation.name, (), 0, 0, (), "cites no kernel function"))
            continue
        if not programs[operation.name]:
            reports.append(Report(operation.name, (), 0, 0, (), "no scenario runs it"))
            continue
        comparison = Comparison(tree, operation, programs[operation.name], cited_anywhere)
        reports.append(comparison.compare())
        cited_files += comparison.files_found
    if cited_files == 0:
        raise DriftInputError(f"{kernel} holds none of the cited files: is it a kernel tree?")
    return reports
