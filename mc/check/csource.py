"""The lock calls and filesystem-method calls of kernel C functions, read
with tree-sitter's C grammar.

A ``Reading`` of a set of cited functions lists their calls in source
order (``calls``) and the acquisitions along each path (``orders``: both
arms of a branch, a loop body once or not at all, ``return`` ending a
path, and a ``goto`` going on at its label, each label entered by a
``goto`` once per path: a jump back to a label the path already jumped to
ends it).  A call of another cited function is read as that
function's calls, a call of a static helper of the caller's file as the
helper's own calls (one level down), and a method call a cited function
implements (``Cite.method``) as that function's calls too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import attrs
import tree_sitter_c
from tree_sitter import Language, Node, Parser, Tree

from mc.check import guards

C = Language(tree_sitter_c.language())

LOCK_CALL = re.compile(
    r"""^(?!\w*_init$)(?!\w*assert)(?:
        inode_(?:un)?lock\w* | (?:un)?lock_rename\w* | (?:un)?lock_two_\w+
      | filemap_invalidate_(?:un)?lock\w* | (?:__)?folio_(?:un|try)?lock\w* | __folio_set_locked
      | (?:un)?lock_page | trylock_page
      | mmap_\w*(?:un|try)?lock\w* | i_mmap_(?:un)?lock\w*
      | down(?:_\w+)? | up(?:_\w+)? | percpu_(?:down|up)_\w+
      | mutex_(?:un|try)?lock\w* | spin_(?:un|try)?lock\w* | raw_spin_(?:un|try)?lock\w*
      | read_(?:un)?lock(?:_\w+)? | write_(?:un)?lock(?:_\w+)?
      | write_seq(?:un)?lock\w* | read_seq(?:un)?lock\w*
      | xa_(?:un)?lock\w* | xas_(?:un)?lock\w*
      | sb_start_(?:write|pagefault|intwrite)\w* | sb_end_(?:write|pagefault|intwrite)
      | file_(?:start|end)_write
    )$""",
    re.VERBOSE,
)
"""The calls that take or release a lock (not an initializer such as
``spin_lock_init()``, an assertion such as ``mmap_assert_locked()``, nor
``sb_start_ro_state_change()``, which flags a remount and takes no lock)."""

RELEASE = re.compile(r"unlock|^up$|^up_|percpu_up_|^sb_end_|^file_end_")

OPERATIONS_FIELDS = {
    "i_op": "inode_operations",
    "a_ops": "address_space_operations",
    "aops": "address_space_operations",
    "f_op": "file_operations",
    "vm_ops": "vm_operations_struct",
    "s_op": "super_operations",
    "d_op": "dentry_operations",
    "fops": "file_operations",
}
"""The pointers to a table of filesystem methods, and the table's type."""

GENDISK_NAMES = frozenset({"disk", "bd_disk"})
"""The names of a ``struct gendisk``, whose ``fops`` are its
``block_device_operations`` (a character device's ``fops`` are
``file_operations``)."""

POINTER_FIELDS = {"b_end_io": "buffer_head", "bi_end_io": "bio"}
"""Methods that are a function pointer of their own, and the struct's type."""

LOCK_CLASS = re.compile(r"\b(?:I_MUTEX_\w+|SINGLE_DEPTH_NESTING|[A-Z][A-Z0-9]*_NESTING)\b")


class CSourceError(ValueError):
    """A file that is not C source."""


@attrs.frozen
class KernelCall:
    """A lock call or a filesystem-method call found in kernel code."""

    kind: str
    """``lock``, ``unlock`` or ``method``."""
    key: str
    """What the model is compared on: ``inode_lock_nested(I_MUTEX_PARENT)``,
    ``inode_operations.rename``."""
    file: str
    line: int
    function: str
    """The function whose body holds the call."""
    text: str
    cited: str
    """The cited function whose reading found the call (the caller of the
    static helper ``function``, when it is one)."""
    call: str = ""
    """The call as written, spaces removed (``inode_lock(source)``)."""

    @property
    def name(self) -> str:
        """The called function (``inode_lock_nested``) or method."""
        return self.key.split("(")[0]

    def where(self) -> str:
        return f"{self.file}:{self.line}"


SLOW_PATHS = {"__folio_lock": "folio_lock", "__folio_lock_killable": "folio_lock"}
"""Calls that are the sleeping half of an inline lock call (killable or
not: the same lock), compared as it."""


WRAPPERS = {"file_start_write": "sb_start_write", "file_end_write": "sb_end_write"}
"""Inline wrappers of include/linux/fs.h around a lock call (the freeze
protection of a regular file's superblock), compared as the call they
wrap where no definition of theirs is read."""


def lock_key(name: str, arguments: str) -> str:
    """The call's name (an inline lock call's, for its sleeping half; a
    header wrapper's, for the call it wraps), with the lockdep class its
    arguments name if any."""
    name = SLOW_PATHS.get(name, WRAPPERS.get(name, name))
    classes = LOCK_CLASS.findall(arguments)
    return f"{name}({', '.join(classes)})" if classes else name


def lock_kind(name: str) -> str:
    """``unlock`` for a release, else ``lock``."""
    return "unlock" if RELEASE.search(name) else "lock"


@attrs.frozen
class Function:
    """A function definition of a file."""

    name: str
    file: str
    line: int
    static: bool
    body: Node = attrs.field(eq=False, repr=False)


class SourceFile:
    """One parsed C file of a kernel tree (``path`` relative to the tree)."""

    def __init__(self, path: str, source: bytes) -> None:
        if b"\0" in source:
            raise CSourceError(f"{path} is not a text file")
        self.path = path
        self.tree = Parser(C).parse(source)
        text = source.decode("utf-8", "replace")
        self.guards = guards.definitions(text, path)
        """The guard classes the file defines."""
        self.macros = guards.macros(text)
        """The function-like macros the file defines."""
        self.functions: dict[str, Function] = {}
        for node in _definitions(self.tree.root_node):
            function = _function(node, path)
            if function is not None:
                self.functions.setdefault(function.name, function)
        if source.strip() and not self.functions and self.tree.root_node.has_error:
            raise CSourceError(f"{path} does not parse as C")


def _definitions(node: Node) -> Iterator[Node]:
    for child in node.children:
        if child.type == "function_definition":
            yield child
        elif child.type in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif"):
            yield from _definitions(child)


def _function(node: Node, path: str) -> Function | None:
    declarator = node.child_by_field_name("declarator")
    body = node.child_by_field_name("body")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator")
    if declarator is None or body is None:
        return None
    name = declarator.child_by_field_name("declarator")
    if name is None or name.type != "identifier":
        return None
    static = any(
        child.type == "storage_class_specifier" and _text(child) == "static"
        for child in node.children
    )
    return Function(_text(name), path, node.start_point[0] + 1, static, body)


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _calls(node: Node) -> Iterator[Node]:
    """The call expressions under ``node``, in source order (a call's
    arguments before the call itself, as they are evaluated)."""
    for child in node.children:
        yield from _calls(child)
    if node.type == "call_expression":
        yield node


TABLES = frozenset(OPERATIONS_FIELDS.values())
"""The types of the tables of filesystem methods."""


def _declared_name(declarator: Node | None) -> str:
    """The identifier a (pointer, init, function pointer) declarator
    declares."""
    while declarator is not None and declarator.type != "identifier":
        if declarator.type == "parenthesized_declarator" and declarator.named_child_count:
            declarator = declarator.named_children[0]
        else:
            declarator = declarator.child_by_field_name("declarator")
    return _text(declarator) if declarator is not None else ""


def local_tables(function: Function) -> dict[str, str]:
    """The local variables and parameters of ``function`` declared as
    pointers to a table of methods (``const struct super_operations *sop =
    sb->s_op``), and the table's type."""
    found: dict[str, str] = {}
    definition = function.body.parent
    stack = [definition if definition is not None else function.body]
    while stack:
        node = stack.pop()
        if node.type in ("declaration", "parameter_declaration"):
            kind = node.child_by_field_name("type")
            name = kind.child_by_field_name("name") if kind is not None else None
            if (
                kind is not None
                and kind.type == "struct_specifier"
                and name is not None
                and _text(name) in TABLES
            ):
                for declarator in node.children_by_field_name("declarator"):
                    if variable := _declared_name(declarator):
                        found[variable] = _text(name)
        stack.extend(node.children)
    return found


def local_methods(function: Function, tables: dict[str, str]) -> dict[str, str]:
    """The local function pointers of ``function`` given a method of a
    table (``free_folio = mapping->a_ops->free_folio``, or as the
    initializer of their declaration), and the method (``table.method``)."""
    found: dict[str, str] = {}
    stack = [function.body]
    while stack:
        node = stack.pop()
        target = value = None
        if node.type == "assignment_expression":
            target, value = node.child_by_field_name("left"), node.child_by_field_name("right")
        elif node.type == "init_declarator":
            target = node.child_by_field_name("declarator")
            value = node.child_by_field_name("value")
        if target is not None and value is not None:
            variable = _text(target) if target.type == "identifier" else _declared_name(target)
            method = _method(value, tables)
            if variable and method is not None:
                found[variable] = method
        stack.extend(node.children)
    return found


def _method(callee: Node, tables: dict[str, str] | None = None) -> str | None:
    """``table.method`` when ``callee`` is ``...->i_op->rename``,
    ``a_ops->write_begin`` or ``sop->put_super`` where ``sop`` is declared a
    pointer to the table (``tables``: variable to table)."""
    if callee.type == "parenthesized_expression" and callee.named_child_count == 1:
        callee = callee.named_children[0]
    if callee.type != "field_expression":
        return None
    field = callee.child_by_field_name("field")
    holder = callee.child_by_field_name("argument")
    if field is None or holder is None:
        return None
    if _text(field) in POINTER_FIELDS:
        return f"{POINTER_FIELDS[_text(field)]}.{_text(field)}"
    if holder.type == "identifier" and tables and _text(holder) in tables:
        return f"{tables[_text(holder)]}.{_text(field)}"
    owner = None
    if holder.type == "field_expression":
        owner = holder.child_by_field_name("argument")
        holder = holder.child_by_field_name("field")
    if holder is None or holder.type not in ("identifier", "field_identifier"):
        return None
    table = OPERATIONS_FIELDS.get(_text(holder))
    if _text(holder) == "fops" and owner is not None and _last_name(owner) in GENDISK_NAMES:
        table = "block_device_operations"
    return f"{table}.{_text(field)}" if table else None


def _last_name(node: Node) -> str:
    """The identifier or the last field of ``disk`` or ``bdev->bd_disk``."""
    if node.type == "field_expression":
        field = node.child_by_field_name("field")
        return _text(field) if field is not None else ""
    return _text(node)


class Acquisition(NamedTuple):
    """One acquisition on a path: the call as written (name and arguments,
    spaces removed), its key, and where it is (``file:line``)."""

    call: str
    key: str
    where: str


Orders = frozenset[tuple[Acquisition, ...]]
"""The acquisitions along each path of a function, in order."""

Jumps = frozenset[tuple[str, tuple[Acquisition, ...]]]
"""Paths that end in ``goto LABEL``: the label and the acquisitions before."""

MAX_PATHS = 2048
"""Paths kept per statement; a function with more is read in part."""


def then(first: Orders, second: Orders) -> Orders:
    """Each path of ``first`` followed by each of ``second`` (at most
    ``MAX_PATHS``)."""
    if len(first) * len(second) <= MAX_PATHS:
        return frozenset(a + b for a in first for b in second)
    joined: set[tuple[Acquisition, ...]] = set()
    for a in sorted(first):
        for b in sorted(second):
            joined.add(a + b)
            if len(joined) >= MAX_PATHS:
                return frozenset(joined)
    return frozenset(joined)


def call_text(name: str, arguments: str) -> str:
    """``name(arguments)`` without spaces or comments."""
    arguments = re.sub(r"/\*.*?\*/", "", arguments)
    return name + re.sub(r"\s+", "", arguments)


def jumped(first: Orders, jumps: Jumps) -> Jumps:
    """Each path of ``first`` followed by each jump of ``jumps`` (at most
    ``MAX_PATHS``)."""
    joined: set[tuple[str, tuple[Acquisition, ...]]] = set()
    for label, path in sorted(jumps):
        for start in then(first, frozenset({path})):
            joined.add((label, start))
            if len(joined) >= MAX_PATHS:
                return frozenset(joined)
    return frozenset(joined)


EMPTY: Orders = frozenset({()})
NONE: Orders = frozenset()
NO_JUMPS: Jumps = frozenset()
BLOCKS = frozenset(
    {
        "compound_statement",
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "case_statement",
    }
)
"""Statements that hold a sequence of statements."""
LEFT = frozenset({"while_statement", "for_statement", "do_statement", "switch_statement"})
"""Statements a ``break`` leaves."""


class Extractor:
    """The kernel tree at ``root``, its files parsed as they are needed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, SourceFile | None] = {}
        self._classes: dict[str, guards.Classes] = {}
        self._snippets: dict[tuple[str, int], Tree] = {}

    def classes(self, path: str) -> guards.Classes:
        """The guard classes the headers of the tree's ``include/`` and of
        the directory of file ``path`` (``fs/mount.h`` for ``fs/namespace.c``)
        define."""
        directory = str(Path(path).parent)
        if directory not in self._classes:
            defined: dict[str, guards.GuardClass] = {}
            include = self.root / "include"
            headers = sorted(include.rglob("*.h")) if include.is_dir() else []
            headers += sorted((self.root / directory).glob("*.h"))
            for header in headers:
                if header.is_file():
                    text = header.read_bytes().decode("utf-8", "replace")
                    defined.update(guards.definitions(text, str(header.relative_to(self.root))))
            self._classes[directory] = guards.Classes(defined)
        return self._classes[directory]

    def snippet(self, statements: str, line: int) -> Node:
        """``statements`` parsed as a block that starts at ``line`` (what a
        guard stands for, read where the guard is)."""
        key = (statements, line)
        if key not in self._snippets:
            source = "\n" * (line - 1) + "void guarded(void) {" + statements + "\n;}"
            self._snippets[key] = Parser(C).parse(source.encode())
        definition = self._snippets[key].root_node.children[-1]
        body = definition.child_by_field_name("body")
        return body if body is not None else definition

    def file(self, path: str) -> SourceFile | None:
        """The parsed file, or None when the tree has no such file."""
        if path not in self._files:
            full = self.root / path
            self._files[path] = SourceFile(path, full.read_bytes()) if full.is_file() else None
        return self._files[path]


class Reading:
    """The calls of a set of cited functions of one tree: a call of a cited
    function is read as that function's calls, a call of a static helper
    of the caller's file as the helper's own calls (not its helpers');
    ``leaves_out`` maps a cited function to the call names, keys or calls
    as written (``spin_lock(&wb->list_lock)``) dropped from it and its
    helpers (a dropped method call is still read as the cited function
    that implements it)."""

    def __init__(
        self,
        tree: Extractor,
        cited: dict[str, Function],
        leaves_out: dict[str, frozenset[str]] | None = None,
        methods: dict[str, str] | None = None,
    ) -> None:
        self.tree = tree
        self.cited = cited
        self.leaves_out = leaves_out or {}
        self.methods = {method: name for method, name in (methods or {}).items() if name in cited}
        """A method (``address_space_operations.write_begin``) and the cited
        function read where the kernel calls it."""
        self._orders: dict[tuple[str, str, bool], Orders] = {}
        self._local_tables: dict[tuple[str, str], dict[str, str]] = {}
        self._local_methods: dict[tuple[str, str], dict[str, str]] = {}
        self._stack: set[str] = set()

    def _resolve(self, function: Function, name: str, *, helpers: bool) -> Function | None:
        """The function a call of ``name`` in ``function`` is read as."""
        if name in self.cited:
            return self.cited[name]
        source = self.tree.file(function.file)
        local = source.functions.get(name) if source is not None else None
        if helpers and local is not None and local.static:
            return local
        return None

    def _tables(self, function: Function) -> dict[str, str]:
        key = (function.file, function.name)
        if key not in self._local_tables:
            self._local_tables[key] = local_tables(function)
        return self._local_tables[key]

    def _methods(self, function: Function) -> dict[str, str]:
        key = (function.file, function.name)
        if key not in self._local_methods:
            self._local_methods[key] = local_methods(function, self._tables(function))
        return self._local_methods[key]

    def _dropped(self, cited: str, call: KernelCall) -> bool:
        left = self.leaves_out.get(cited, frozenset())
        return call.key in left or call.name in left or (bool(call.call) and call.call in left)

    def _call(self, function: Function, cited: str, node: Node) -> KernelCall | None:
        callee = node.child_by_field_name("function")
        if callee is None:
            return None
        line = node.start_point[0] + 1
        text = " ".join(_text(node).split())
        method = _method(callee, self._tables(function))
        if method is None and callee.type == "identifier":
            method = self._methods(function).get(_text(callee))
        found: KernelCall | None = None
        if method is not None:
            found = KernelCall("method", method, function.file, line, function.name, text, cited)
        elif callee.type == "identifier" and LOCK_CALL.match(_text(callee)):
            name = _text(callee)
            arguments = node.child_by_field_name("arguments")
            args = _text(arguments) if arguments is not None else ""
            found = KernelCall(
                lock_kind(name),
                lock_key(name, args),
                function.file,
                line,
                function.name,
                text,
                cited,
                call_text(name, args),
            )
        return found

    def calls(self, function: Function) -> tuple[list[KernelCall], set[str]]:
        """The lock and method calls of ``function`` in source order (both
        arms of each branch), each cited function read once; with the
        cited functions read."""
        read: set[str] = {function.name}
        try:
            return list(self._walk(function, function.name, read, helpers=True)), read
        except RecursionError:
            raise CSourceError(
                f"{function.file}: {function.name}() nests its statements deeper than vfsmc reads C"
            ) from None

    def _walk(
        self, function: Function, cited: str, read: set[str], *, helpers: bool
    ) -> Iterator[KernelCall]:
        for node, guarded in self._flat(function, function.body):
            callee = node.child_by_field_name("function")
            name = _text(callee) if callee is not None and callee.type == "identifier" else ""
            if name in self._methods(function):
                name = ""
            target = self._resolve(function, name, helpers=helpers or guarded) if name else None
            if target is None:
                call = self._call(function, cited, node)
                if call is not None:
                    if not self._dropped(cited, call):
                        yield call
                    implementation = self.methods.get(call.key, "")
                    if call.kind == "method" and implementation and implementation not in read:
                        read.add(implementation)
                        yield from self._walk(
                            self.cited[implementation], implementation, read, helpers=True
                        )
            elif name in self.cited:
                if name not in read:
                    read.add(name)
                    yield from self._walk(target, name, read, helpers=True)
            elif target.name not in read:
                yield from self._walk(target, cited, read | {target.name}, helpers=False)

    def orders(self, function: Function) -> Orders:
        """The acquisitions along each path through ``function`` (a loop
        body taken once or not at all, a ``goto`` going on at its label,
        once per path)."""
        return self._function_orders(function, function.name, helpers=True)

    def _function_orders(self, function: Function, cited: str, *, helpers: bool) -> Orders:
        memo = (function.name, cited, helpers)
        if memo in self._orders:
            return self._orders[memo]
        if function.name in self._stack:
            return EMPTY
        self._stack.add(function.name)
        try:
            flow = self._statement(function.body, function, cited, helpers)
            labels = Labels(self, function, cited, helpers)
            self._orders[memo] = flow.opened | flow.closed | flow.broken | labels.go(flow.jumps)
        finally:
            self._stack.discard(function.name)
        return self._orders[memo]

    def _expression(self, node: Node, function: Function, cited: str, helpers: bool) -> Orders:
        paths = EMPTY
        for call in _calls(node):
            callee = call.child_by_field_name("function")
            name = _text(callee) if callee is not None and callee.type == "identifier" else ""
            target = self._resolve(function, name, helpers=helpers) if name else None
            if target is not None:
                owner = name if name in self.cited else cited
                deeper = name in self.cited
                paths = then(paths, self._function_orders(target, owner, helpers=deeper))
                continue
            found = self._call(function, cited, call)
            if found is not None and found.kind == "lock" and not self._dropped(cited, found):
                step = Acquisition(found.call, found.key, found.where())
                paths = then(paths, frozenset({(step,)}))
            elif found is not None and found.key in self.methods:
                name = self.methods[found.key]
                paths = then(paths, self._function_orders(self.cited[name], name, helpers=True))
        return paths

    def _sequence(
        self, children: Iterable[Node], function: Function, cited: str, helpers: bool
    ) -> Flow:
        flow = Flow(EMPTY)
        statements = [c for c in children if c.type not in ("comment", "preproc_arg")]
        body: set[int] = set()
        for index, child in enumerate(statements):
            if child.id in body:
                continue
            guarded = self._guard(function, child)
            if guarded is None:
                flow = flow.then(self._statement(child, function, cited, helpers))
                continue
            taken = Flow(self._expression(guarded.lock, function, cited, True))
            scope = guarded.inside
            if guarded.scoped and scope is None and index + 1 < len(statements):
                scope = statements[index + 1]
                body.add(scope.id)
            if not guarded.scoped or scope is None:
                flow = flow.then(taken)
                continue
            inner = self._statement(scope, function, cited, helpers).left()
            if guarded.fail is not None:
                inner = inner | self._statement(guarded.fail, function, cited, helpers).left()
            elif guarded.conditional:
                inner = inner | Flow(EMPTY)
            flow = flow.then(taken.then(inner))
        return flow

    def _guard(self, function: Function, statement: Node) -> Guarded | None:
        """What a guard statement of ``function`` stands for: ``guard(C)(x);``,
        ``scoped_guard(C, x)`` and ``scoped_cond_guard(C, FAIL, x)`` (the
        statement after them their scope), or a macro of the file declaring
        a ``__cleanup`` variable; None for any other statement."""
        inside: Node | None = None
        merged = _merged_scope(statement)
        if merged is not None:
            callee_name, values, body, body_line = merged
            inside = self.tree.snippet(body, body_line)
            ends = statement.end_point[0] + 1
            return self._class_guard(function, statement, callee_name, values, inside, ends)
        if statement.type == "function_definition":
            callee = statement.child_by_field_name("type")
            arguments = statement.child_by_field_name("declarator")
            inside = statement.child_by_field_name("body")
            if callee is None or _text(callee) not in SCOPED:
                return None
        elif statement.type == "expression_statement" and statement.named_children:
            call = statement.named_children[0]
            callee = call.child_by_field_name("function")
            arguments = call.child_by_field_name("arguments")
            if call.type != "call_expression":
                return None
        else:
            return None
        if callee is None or arguments is None:
            return None
        values, _ = guards.split_arguments(_text(arguments), 0)
        source = self.tree.file(function.file)
        line = statement.start_point[0] + 1
        if callee.type == "call_expression":
            inner = callee.child_by_field_name("function")
            held = callee.child_by_field_name("arguments")
            if inner is None or held is None or _text(inner) != "guard":
                return None
            return self._class_guard(
                function, statement, "guard", [_text(held).strip("() \t\n"), *values], None
            )
        if _text(callee) in SCOPED:
            return self._class_guard(function, statement, _text(callee), values, inside)
        if callee.type == "identifier" and source is not None:
            expanded = guards.expand(_text(callee), values, source.macros)
            if expanded is None:
                return None
            statements, releases = expanded
            return Guarded(
                self.tree.snippet(statements + ";", line),
                self.tree.snippet("".join(f"{r};" for r in releases), _end_line(statement)),
                scoped=False,
            )
        return None

    def _class_guard(
        self,
        function: Function,
        statement: Node,
        form: str,
        values: list[str],
        inside: Node | None,
        ends: int = 0,
    ) -> Guarded | None:
        """``guard(C)(x)`` (``values`` the class and the arguments),
        ``scoped_guard(C, x)`` or ``scoped_cond_guard(C, FAIL, x)``, its
        scope ``inside`` the statement (ending on line ``ends`` where it
        is read apart from it) or the statement after it."""
        if not values:
            return None
        source = self.tree.file(function.file)
        local = source.guards if source is not None else {}
        line = statement.start_point[0] + 1
        name, scoped, values = values[0], form != "guard", values[1:]
        fail: str | None = None
        if form == "scoped_cond_guard":
            if not values:
                return None
            fail, values = values[0], values[1:]
        found = self.tree.classes(function.file).get(name, local)
        if found is None:
            return None
        lock, unlock = found.calls(values)
        scope = inside or statement.next_named_sibling
        while scope is not None and scope.type == "comment":
            scope = scope.next_named_sibling
        end = scope.end_point[0] + 1 if scoped and scope is not None else _end_line(statement)
        end = ends or end
        return Guarded(
            self.tree.snippet(lock + ";", line),
            self.tree.snippet(unlock + ";", end),
            scoped=scoped,
            conditional=found.conditional,
            inside=inside,
            fail=self.tree.snippet(fail + ";", line) if fail is not None else None,
        )

    def _flat(self, function: Function, node: Node) -> Iterator[tuple[Node, bool]]:
        """The call expressions under ``node`` in source order (a call's
        arguments before it), a guard read as its lock's calls where it
        stands and its release's where its scope ends (the block's end for
        ``guard()``, the end of the statement after ``scoped_guard()``);
        each with whether a guard's definition makes it (a static helper
        it calls is what the guard does, read even in a helper)."""
        if node.type not in BLOCKS:
            for child in node.children:
                yield from self._flat(function, child)
            if node.type == "call_expression":
                yield node, False
            return
        closing: list[Node] = []
        after: dict[int, Node] = {}
        statements = [c for c in node.children if c.type not in ("comment", "preproc_arg")]
        for index, child in enumerate(statements):
            guarded = self._guard(function, child)
            if guarded is None:
                yield from self._flat(function, child)
                if child.id in after:
                    yield from _made(after.pop(child.id))
                continue
            yield from _made(guarded.lock)
            if guarded.fail is not None:
                yield from self._flat(function, guarded.fail)
            scope = statements[index + 1] if index + 1 < len(statements) else None
            if guarded.inside is not None:
                yield from self._flat(function, guarded.inside)
                yield from _made(guarded.unlock)
            elif guarded.scoped and scope is not None:
                after[scope.id] = guarded.unlock
            else:
                closing.append(guarded.unlock)
        for unlock in reversed(closing):
            yield from _made(unlock)

    def _statement(self, node: Node, function: Function, cited: str, helpers: bool) -> Flow:
        """The paths through ``node``: those that go on after it, those that
        end in it (``return``), those that leave the loop or switch around
        it (``break``; ``continue`` is taken as a break) and those that jump
        to a label (``goto``)."""
        kind = node.type

        def statement(child: Node | None) -> Flow:
            if child is None:
                return Flow(EMPTY)
            return self._statement(child, function, cited, helpers)

        def expression(child: Node | None) -> Orders:
            return EMPTY if child is None else self._expression(child, function, cited, helpers)

        if kind in BLOCKS:
            return self._sequence(_statements(node), function, cited, helpers)
        if kind == "if_statement":
            test = Flow(expression(node.child_by_field_name("condition")))
            other = node.child_by_field_name("alternative")
            if other is not None and other.type == "else_clause" and other.named_children:
                other = other.named_children[-1]
            arms = statement(node.child_by_field_name("consequence")) | statement(other)
            return test.then(arms)
        if kind in ("while_statement", "for_statement", "do_statement"):
            test = Flow(expression(node.child_by_field_name("condition")))
            body = statement(node.child_by_field_name("body"))
            once = body.then(test) if kind == "do_statement" else test.then(body)
            skipped = NONE if kind == "do_statement" else test.opened
            return once.left() | Flow(skipped)
        if kind == "switch_statement":
            test = Flow(expression(node.child_by_field_name("condition")))
            block = node.child_by_field_name("body")
            cases = Flow(EMPTY)
            for case in block.named_children if block is not None else ():
                if case.type == "case_statement":
                    cases = cases | statement(case)
            return test.then(cases).left()
        if kind == "return_statement":
            return Flow(NONE, expression(node))
        if kind == "goto_statement":
            label = node.child_by_field_name("label")
            return Flow(NONE, jumps=frozenset({(_text(label) if label else "", ())}))
        if kind in ("break_statement", "continue_statement"):
            return Flow(NONE, NONE, EMPTY)
        if kind == "labeled_statement":
            inner = [child for child in node.named_children if child.type != "statement_identifier"]
            return statement(inner[-1]) if inner else Flow(EMPTY)
        return Flow(expression(node))


SCOPED = ("scoped_guard", "scoped_cond_guard")
SCOPED_START = re.compile(r"^(scoped_guard|scoped_cond_guard)\s*\(")


def _merged_scope(statement: Node) -> tuple[str, list[str], str, int] | None:
    """A ``scoped_guard(C, x) STATEMENT`` the grammar parsed as one
    statement (a declaration of ``STATEMENT``'s variable, an assignment
    holding an error): the form, its arguments, the text of its scope and
    the line the scope starts on."""
    if statement.type not in ("declaration", "expression_statement"):
        return None
    text = _text(statement)
    start = SCOPED_START.match(text)
    if start is None:
        return None
    values, end = guards.split_arguments(text, start.end() - 1)
    rest = text[end + 1 :]
    if not rest.strip(" \t\n;"):
        return None
    line = statement.start_point[0] + 1 + text[: end + 1].count("\n")
    return start.group(1), values, rest, line


@attrs.frozen
class Guarded:
    """What a guard statement stands for: a block holding its lock's
    calls, one holding its release's, whether the statement after it is
    its scope, whether its lock may fail, and the statement run when it
    does (``scoped_cond_guard``)."""

    lock: Node = attrs.field(eq=False)
    unlock: Node = attrs.field(eq=False)
    scoped: bool
    conditional: bool = False
    fail: Node | None = attrs.field(default=None, eq=False)
    inside: Node | None = attrs.field(default=None, eq=False)
    """The scope, where the statement holds it (``scoped_guard(C) {...}``
    with one argument parses as a definition of a function)."""


def _made(block: Node) -> Iterator[tuple[Node, bool]]:
    """The calls a guard's definition makes."""
    return ((call, True) for call in _calls(block))


def _end_line(node: Node) -> int:
    """The line of the end of the block around ``node``."""
    block = node.parent
    return (block if block is not None else node).end_point[0] + 1


def _statements(node: Node) -> list[Node]:
    """The statements of a block (a case's, without its value)."""
    value = node.child_by_field_name("value") if node.type == "case_statement" else None
    return [child for child in node.named_children if value is None or child.id != value.id]


class Labels:
    """Where a ``goto`` goes on in one function: the statement its label
    names and every statement after it, out of the blocks around it to the
    end of the function (out of a loop or switch, past it)."""

    def __init__(self, reading: Reading, function: Function, cited: str, helpers: bool) -> None:
        self.reading = reading
        self.function = function
        self.cited = cited
        self.helpers = helpers
        self.labels: dict[str, Node] = {}
        for node in _labeled(function.body):
            label = node.child_by_field_name("label")
            if label is not None:
                self.labels.setdefault(_text(label), node)
        self._from: dict[tuple[str, frozenset[str]], Orders] = {}

    def go(self, jumps: Jumps, entered: frozenset[str] = frozenset()) -> Orders:
        """Each jump followed on from its label: a label entered already on
        the path (or one the function lacks) ends it."""
        paths: set[tuple[Acquisition, ...]] = set()
        for label in sorted({label for label, _ in jumps}):
            before = frozenset(path for name, path in jumps if name == label)
            if label in entered or label not in self.labels:
                paths |= before
            else:
                paths |= then(before, self.onwards(label, entered | {label}))
        return frozenset(paths)

    def onwards(self, label: str, entered: frozenset[str]) -> Orders:
        """The paths from ``label`` to the end of the function."""
        memo = (label, entered)
        if memo not in self._from:
            node = self.labels[label]
            flow = self.reading._statement(node, self.function, self.cited, self.helpers)
            while node.parent is not None and node.id != self.function.body.id:
                parent = node.parent
                if parent.type in BLOCKS:
                    after = [
                        child
                        for child in _statements(parent)
                        if child.start_byte > node.end_byte - 1
                    ]
                    flow = flow.then(
                        self.reading._sequence(after, self.function, self.cited, self.helpers)
                    )
                elif parent.type in LEFT:
                    flow = flow.left()
                node = parent
            self._from[memo] = (
                flow.opened | flow.closed | flow.broken | self.go(flow.jumps, entered)
            )
        return self._from[memo]


def _labeled(node: Node) -> Iterator[Node]:
    for child in node.named_children:
        if child.type == "labeled_statement":
            yield child
        yield from _labeled(child)


@attrs.frozen
class Flow:
    """Paths through a statement: ``opened`` go on after it, ``closed``
    end in it, ``broken`` leave the enclosing loop or switch, ``jumps`` go
    to a label."""

    opened: Orders
    closed: Orders = NONE
    broken: Orders = NONE
    jumps: Jumps = NO_JUMPS

    def then(self, after: Flow) -> Flow:
        """This statement followed by ``after``."""
        return Flow(
            then(self.opened, after.opened),
            self.closed | then(self.opened, after.closed),
            self.broken | then(self.opened, after.broken),
            self.jumps | jumped(self.opened, after.jumps),
        )

    def left(self) -> Flow:
        """The paths out of the loop or switch this is the body of: a
        ``break`` goes on after it."""
        return Flow(self.opened | self.broken, self.closed, NONE, self.jumps)

    def __or__(self, other: Flow) -> Flow:
        return Flow(
            self.opened | other.opened,
            self.closed | other.closed,
            self.broken | other.broken,
            self.jumps | other.jumps,
        )
