"""What the rules require of a call, in terms the models speak.

The rules file says, in the document's words, which lock a method's caller
holds ("i_rwsem(inode): exclusive (both)").  ``specs/vocabulary.toml`` says
what each value requires (held exclusive), and ``specs/conformance.toml``
which objects of a call the column or the prose names: the call's *roles*
(``dir``, ``victim``... named after the prototype's parameters), each with
the lock *family* (the object's field, ``i_rwsem``).  Together they give,
for every method, its ``Requirements``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mc.project import SPECS, shown
from mc.spec.load import SpecError, read_toml
from mc.spec.model import Method, Spec, Table
from mc.spec.vocabulary import CONDITIONS, Vocabulary, parse_token

DEFAULT_PATH = SPECS / "conformance.toml"
SCOPES = ("sb", "world")
"""Roles that are not objects of the call: the superblock, the whole world."""
RULE_NEEDS = {"exclusive": "exclusive", "shared": "held", "held": "held", "clear": "clear"}
CONDITION_ROLES: Mapping[str, tuple[str, ...]] = {
    "cross-directory": ("old_dir", "new_dir"),
    "exchange": ("flags",),
    "not exchange": ("flags",),
    "O_CREAT": ("open_flag",),
}
"""The roles of a call a condition reads, besides the object it is about."""
ALL_MAY_BLOCK = re.compile(r"^all(?: except (?P<except>.+?))? may block", re.IGNORECASE)


@attrs.frozen
class Need:
    """The caller holds (or not) lock ``lock`` of ``role`` as ``need``
    says, when every condition holds."""

    lock: str
    need: str
    role: str
    conditions: tuple[str, ...]
    source: str
    """Where the rules say so: the column and value, or the prose."""

    @property
    def id(self) -> str:
        """``i_rwsem(victim)``, or the lock alone for the superblock's and
        the world's locks; variants waive needs by this name."""
        return self.lock if self.role in SCOPES else f"{self.lock}({self.role})"


@attrs.frozen
class Requirements:
    """Everything the rules require of a call of one method."""

    table: str
    method: str
    needs: tuple[Need, ...]
    unmapped: tuple[str, ...]
    """Rules whose objects specs/conformance.toml does not name."""
    blocking: str
    """may-block, never-blocks, blocks-only-in-ref-walk or unknown."""
    blocking_source: str
    rcu_walk: str | None
    """rcu-walk-ok or no-rcu-walk for tables with an rcu-walk column."""
    context: str | None
    """interrupt or rcu when the prose says the method is called there."""
    notes: tuple[str, ...] = ()
    """The cells of the row's text columns (``column: value``), which
    the vocabulary reads as notes and nothing checks."""

    @property
    def name(self) -> str:
        return f"{self.table}.{self.method}"


@attrs.frozen
class RoleMap:
    """``specs/conformance.toml``: the objects each column and each prose
    object names, the scope of locks that are not per object, and the rules
    each protocol variant knowingly departs from."""

    columns: Mapping[tuple[str, str], tuple[str, tuple[str, ...], Mapping[str, tuple[str, ...]]]]
    objects: Mapping[tuple[str, str], Mapping[str, tuple[str, ...]]]
    scopes: Mapping[str, str]
    waivers: Mapping[str, tuple[str, ...]]
    departures: Mapping[str, str] = attrs.field(factory=dict)
    """Rules the kernel itself does not follow (``table.method lock(role)``
    -> the kernel code that calls the method otherwise): not checked, and
    `vfsmc spec coverage` says why."""
    rcu_walk: Mapping[str, str] = attrs.field(factory=dict)
    """Methods (``table.method``) the kernel also calls in rcu-walk, with an
    argument that says so, although their table has no rcu-walk column: why
    (they may block only in ref-walk)."""
    other_roles: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Roles the models name on calls of a method (``table.method``) or of
    every method of a table (``table``) that no rule speaks of: arguments
    the method's implementation or the models read (``wbc``)."""
    source: str = "specs/conformance.toml"
    """The file the map was read from, for messages."""

    def method_roles(self, table: str, method: str) -> tuple[str, ...]:
        """The roles a call of ``table.method`` may name: those the columns
        and prose objects of its table name for it, those their conditions
        read, and its other roles."""
        entries: list[str] = []
        for (t, _), (_, roles, by_method) in self.columns.items():
            if t == table:
                entries.extend(by_method.get(method, roles))
        for (t, _), by_method in self.objects.items():
            if t == table:
                entries.extend(by_method.get(method, ()))
        found: list[str] = []
        for entry in entries:
            role, conditions = parse_role(entry)
            found.append(role)
            for condition in conditions:
                found.extend(CONDITION_ROLES.get(condition, ()))
        found.extend(self.other_roles.get(table, ()))
        found.extend(self.other_roles.get(f"{table}.{method}", ()))
        return tuple(dict.fromkeys(found))

    def column_roles(self, table: str, column: str, method: str) -> tuple[str, ...] | None:
        entry = self.columns.get((table, column))
        if entry is None:
            return None
        _, roles, by_method = entry
        return by_method.get(method, roles)

    def column_lock(self, table: str, column: str) -> str | None:
        entry = self.columns.get((table, column))
        return None if entry is None else entry[0]

    def waived(self, variants: frozenset[str]) -> frozenset[str]:
        """The needs (``table.method id``) the variants waive."""
        return frozenset(w for v in variants for w in self.waivers.get(v, ()))


def parse_role(entry: str) -> tuple[str, tuple[str, ...]]:
    """``target if directory and cross-directory`` -> role and conditions."""
    return parse_token(entry)


def _roles(raw: Any, fail: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise fail("must be a list of roles")
    for entry in raw:
        for condition in parse_role(entry)[1]:
            if condition not in CONDITIONS:
                raise fail(f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})")
    return tuple(raw)


def _table_of(data: Mapping[str, Any], field: str, path: Path | str) -> Mapping[str, Any]:
    """``data[field]`` (empty when absent), which must be a table."""
    raw = data.get(field, {})
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: field {field}: must be a table, not {type(raw).__name__}")
    return raw


def _tables_of(data: Mapping[str, Any], field: str, path: Path | str) -> Mapping[str, Any]:
    """``_table_of`` whose every value is a table too."""
    raw = _table_of(data, field, path)
    for name, inner in raw.items():
        if not isinstance(inner, dict):
            raise SpecError(
                f"{path}: field {field}.{name}: must be a table, not {type(inner).__name__}"
            )
    return raw


def role_map_from_data(data: Mapping[str, Any], path: Path | str) -> RoleMap:
    """Validate parsed TOML as the conformance map."""
    unknown = set(data) - {
        "columns",
        "objects",
        "scopes",
        "waivers",
        "departures",
        "rcu_walk",
        "other_roles",
    }
    if unknown:
        raise SpecError(f"{path}: unknown field {sorted(unknown)[0]!r}")
    columns: dict[tuple[str, str], tuple[str, tuple[str, ...], Mapping[str, tuple[str, ...]]]] = {}
    for table, raw_columns in _tables_of(data, "columns", path).items():
        for column, raw in raw_columns.items():
            place = f"{path}: table {table}, column {column}"

            def fail(problem: str, field: str = "", place: str = place) -> SpecError:
                return SpecError(f"{place}{', field ' + field if field else ''}: {problem}")

            if not isinstance(raw, dict) or set(raw) - {"lock", "roles", "methods"}:
                raise fail("holds only lock, roles and methods")
            lock = raw.get("lock")
            if not isinstance(lock, str):
                raise fail("must be a string", "lock")
            roles = _roles(raw.get("roles", []), lambda p, f=fail: f(p, "roles"))
            methods = raw.get("methods", {})
            if not isinstance(methods, dict):
                raise fail("must be a table", "methods")
            by_method = {
                m: _roles(r, lambda p, f=fail, m=m: f(p, f"methods.{m}"))
                for m, r in methods.items()
            }
            columns[(table, column)] = (lock, roles, by_method)
    objects: dict[tuple[str, str], Mapping[str, tuple[str, ...]]] = {}
    for table, raw_objects in _tables_of(data, "objects", path).items():
        for phrase, raw in raw_objects.items():
            place = f"{path}: table {table}, object {phrase!r}"
            if not isinstance(raw, dict):
                raise SpecError(f"{place}: must be a table of methods")
            objects[(table, phrase)] = {
                m: _roles(r, lambda p, m=m, place=place: SpecError(f"{place}, method {m}: {p}"))
                for m, r in raw.items()
            }
    scopes = data.get("scopes", {})
    if not isinstance(scopes, dict) or not all(v in SCOPES for v in scopes.values()):
        raise SpecError(f"{path}: field scopes: each lock's scope is one of {', '.join(SCOPES)}")
    waivers = {}
    for variant, raw in _table_of(data, "waivers", path).items():
        if not isinstance(raw, list) or not all(isinstance(w, str) for w in raw):
            raise SpecError(f"{path}: waivers, variant {variant}: must be a list of strings")
        for waiver in raw:
            if len(waiver.split()) != 2 or waiver.split()[0].count(".") != 1:
                raise SpecError(
                    f"{path}: waivers, variant {variant}: {waiver!r} is not "
                    "'table.method lock(role)'"
                )
        waivers[variant] = tuple(raw)
    departures = _table_of(data, "departures", path)
    for rule, evidence in departures.items():
        if len(rule.split()) != 2 or rule.split()[0].count(".") != 1:
            raise SpecError(f"{path}: departures: {rule!r} is not 'table.method lock(role)'")
        if not isinstance(evidence, str) or not evidence:
            raise SpecError(f"{path}: departures, {rule}: must say what the kernel does")
    rcu_walk = data.get("rcu_walk", {})
    if not isinstance(rcu_walk, dict) or not all(
        isinstance(k, str) and k.count(".") == 1 and isinstance(v, str) for k, v in rcu_walk.items()
    ):
        raise SpecError(f"{path}: field rcu_walk: maps 'table.method' to the reason, a string")
    other_roles = data.get("other_roles", {})
    if not isinstance(other_roles, dict) or not all(
        isinstance(k, str)
        and k.count(".") <= 1
        and isinstance(v, list)
        and all(isinstance(r, str) for r in v)
        for k, v in other_roles.items()
    ):
        raise SpecError(
            f"{path}: field other_roles: maps 'table.method' or 'table' to a list of roles"
        )
    return RoleMap(
        columns,
        objects,
        dict(scopes),
        waivers,
        dict(departures),
        dict(rcu_walk),
        {k: tuple(v) for k, v in other_roles.items()},
        shown(str(path)),
    )


def load_role_map(path: Path = DEFAULT_PATH) -> RoleMap:
    """Read and validate ``specs/conformance.toml``."""
    return role_map_from_data(read_toml(path), path)


def _table_blocking(table: Table, method: str) -> tuple[str, str] | None:
    if table.blocking is None:
        return None
    match = ALL_MAY_BLOCK.match(table.blocking)
    if match is None:
        return None
    excepted = re.findall(r"\w+", match["except"] or "")
    if method in excepted:
        return "never-blocks", table.blocking
    return "may-block", table.blocking


def requirements(
    spec: Spec, vocabulary: Vocabulary, roles: RoleMap, table: Table, method: Method
) -> Requirements:
    """What the rules require of a call of ``method``."""
    needs: list[Need] = []
    unmapped: list[str] = []
    notes: list[str] = []
    blocking: tuple[str, str] | None = _table_blocking(table, method.name)
    rcu_walk = None
    context = None
    for column in table.columns:
        known = vocabulary.column(table.name, column)
        cell = method.cell(column)
        if cell is None or not cell.value:
            continue
        if known is None:
            unmapped.append(f"{column} = {cell.value} (column not in the vocabulary)")
            continue
        meaning = known.meaning(cell.value, method.name)
        if meaning is None:
            unmapped.append(f"{column} = {cell.value} (not in the vocabulary)")
            continue
        source = f"{column}: {cell.value}"
        if known.kind == "text" and meaning == ("text",) and cell.value != "-":
            notes.append(source)
        for entry in meaning:
            token, when = parse_token(entry)
            if known.kind == "rcu-walk":
                rcu_walk = token
            elif token in ("may-block", "never-blocks", "blocks-only-in-ref-walk", "unknown"):
                blocking = (token, source)
            elif token == "not-required":
                continue
            elif token in RULE_NEEDS.values() or token.startswith("not-"):
                lock = roles.column_lock(table.name, column)
                columns = roles.column_roles(table.name, column, method.name)
                if lock is None or columns is None:
                    unmapped.append(f"{source} (column not in specs/conformance.toml)")
                    continue
                scope = roles.scopes.get(lock)
                for placed_on in (scope,) if scope else columns:
                    role, conditions = parse_role(placed_on)
                    needs.append(Need(lock, token, role, conditions + when, source))
    for rule in table.rules:
        if method.name not in rule.methods:
            continue
        if rule.may_block is False:
            blocking = ("never-blocks", rule.text)
        if rule.context is not None:
            context = rule.context
        if rule.lock is None or rule.mode is None:
            continue
        when = (rule.when,) if rule.when else ()
        scope = roles.scopes.get(rule.lock)
        if scope is not None:
            placed: tuple[str, ...] | None = (scope,)
        else:
            placed = roles.objects.get((table.name, rule.object or ""), {}).get(method.name)
        if placed is None:
            unmapped.append(f"{rule.text} (object {rule.object!r} not in specs/conformance.toml)")
            continue
        for entry in placed:
            role, conditions = parse_role(entry)
            needs.append(Need(rule.lock, RULE_NEEDS[rule.mode], role, conditions + when, rule.text))
    called_in_rcu_walk = roles.rcu_walk.get(f"{table.name}.{method.name}")
    if called_in_rcu_walk is not None:
        rcu_walk = "rcu-walk-ok"
        blocking = ("blocks-only-in-ref-walk", f"specs/conformance.toml: {called_in_rcu_walk}")
    decided = blocking or ("unknown", "the document does not say")
    return Requirements(
        table.name,
        method.name,
        tuple(needs),
        tuple(unmapped),
        decided[0],
        decided[1],
        rcu_walk,
        context,
        tuple(notes),
    )


@attrs.frozen
class Rules:
    """The requirements of every method, found by ``table.method``."""

    spec: Spec
    by_name: Mapping[str, Requirements]
    roles: RoleMap

    def get(self, name: str) -> Requirements | None:
        return self.by_name.get(name)

    def waiver_problem(self, waiver: str) -> str | None:
        """Why ``waiver`` names no need of the rules, or None when it names
        one: a waiver is ``table.method need``, the need as the rules name
        it (``inode_operations.unlink i_rwsem(victim)``)."""
        method, _, need = waiver.partition(" ")
        requirements = self.get(method)
        if requirements is None:
            return (
                f"but the rules have no method {method!r} (a waiver is 'table.method need', "
                "such as 'inode_operations.unlink i_rwsem(victim)')"
            )
        needs = list(dict.fromkeys(n.id for n in requirements.needs))
        if need in needs:
            return None
        if not needs:
            return f"but the rules give {method} no lock to hold"
        return f"but the needs of {method} are {', '.join(needs)}"


def compile_rules(spec: Spec, vocabulary: Vocabulary, roles: RoleMap) -> Rules:
    """The requirements of every method of ``spec``."""
    by_name = {
        f"{table.name}.{method.name}": requirements(spec, vocabulary, roles, table, method)
        for table, method in spec.methods()
    }
    return Rules(spec, by_name, roles)


def check_waivers(rules: Rules) -> Rules:
    """``rules``, once every waiver of its role map names one of its needs
    (``SpecError`` for the first that does not).  For the rules the role
    map was written for: another document may lack a method it waives."""
    for variant, waivers in rules.roles.waivers.items():
        for waiver in waivers:
            problem = rules.waiver_problem(waiver)
            if problem is not None:
                raise SpecError(
                    f"{rules.roles.source}: waivers, variant {variant}: it waives {waiver!r}, "
                    f"{problem} (as the rules read with their vocabulary)"
                )
    return rules
