"""Scenarios, protocol variants and named properties, and the registry
that the command line, tests and user model files share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

import attrs

from mc.dsl import kernel_model as system
from mc.dsl.kernel_model import KernelModel, PropertyMaker, build_threads
from mc.dsl.operation import Invocation, caller_source
from mc.dsl.program import Program
from mc.dsl.steps import Source
from mc.kernel.world import World
from mc.spec import conformance

T = TypeVar("T")
Transform = Callable[[Program, Invocation], Program]

BASE_PROPERTIES = ("lock-protocol", "spec-conformance", "deadlock", "completes")


class UnknownName(ValueError):
    """An unknown scenario, variant or property was asked for."""


@attrs.frozen
class Scenario:
    """A small tree plus one operation per thread."""

    name: str
    description: str
    tree: tuple[str, ...]
    threads: tuple[Invocation, ...]
    properties: tuple[str, ...] = BASE_PROPERTIES
    declared: Source | None = attrs.field(default=None, eq=False)
    """The model line that declared the scenario."""

    @property
    def thread_names(self) -> tuple[str, ...]:
        return tuple(f"T{i + 1}" for i in range(len(self.threads)))


@attrs.frozen
class Variant:
    """A named protocol change.  ``transform`` rewrites each thread's
    program; operations may also ask ``op.variant(name)`` while building."""

    name: str
    description: str
    transform: Transform | None = attrs.field(default=None, eq=False)


@attrs.frozen
class PropertyDef:
    """A property any scenario may check, by name."""

    name: str
    description: str
    make: PropertyMaker = attrs.field(eq=False)
    prepare: Callable[[World, frozenset[str]], None] | None = attrs.field(eq=False, default=None)
    """Called with the world and the variants' names before the threads are
    built, for a property checked as steps compile (spec-conformance)."""


class Registry:
    """Everything a model file declares."""

    def __init__(self) -> None:
        self.scenarios: dict[str, Scenario] = {}
        self.variants: dict[str, Variant] = {}
        self.properties: dict[str, PropertyDef] = {}
        self.variant_resolvers: list[Callable[[str], Variant | None]] = []
        """Functions that make a variant from a name no model declares
        (``mutant:...`` names a program mutation)."""
        for make in (system.lock_protocol, system.deadlock, system.completes):
            name = make.__name__.replace("_", "-")
            self.add_property(PropertyDef(name, " ".join((make.__doc__ or "").split()), make))
        self.add_property(
            PropertyDef(
                conformance.SPEC_CONFORMANCE,
                conformance.DESCRIPTION,
                conformance.spec_conformance,
                conformance.prepare,
            )
        )

    def add_scenario(self, scenario: Scenario) -> Scenario:
        if scenario.name in self.scenarios:
            raise ValueError(f"scenario {scenario.name} is declared twice")
        self.scenarios[scenario.name] = scenario
        return scenario

    def add_variant(self, variant: Variant) -> Variant:
        if variant.name in self.variants:
            raise ValueError(f"variant {variant.name} is declared twice")
        self.variants[variant.name] = variant
        return variant

    def add_property(self, prop: PropertyDef) -> PropertyDef:
        if prop.name in self.properties:
            raise ValueError(f"property {prop.name} is declared twice")
        self.properties[prop.name] = prop
        return prop

    def scenario(self, name: str) -> Scenario:
        return _find(self.scenarios, name, "scenario")

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            for resolve in self.variant_resolvers:
                made = resolve(name)
                if made is not None:
                    return made
        return _find(self.variants, name, "variant")

    def property(self, name: str) -> PropertyDef:
        return _find(self.properties, name, "property")

    def build(
        self,
        scenario: Scenario,
        variants: Iterable[str] = (),
        properties: Sequence[str] | None = None,
    ) -> KernelModel:
        """The model of ``scenario`` under ``variants``, checking
        ``properties`` (default: the scenario's own list)."""
        chosen = [self.variant(name) for name in variants]
        wanted = scenario.properties if properties is None else tuple(properties)
        makers = [self.property(name).make for name in wanted]
        world = World(scenario.thread_names)
        world.build_tree(scenario.tree)
        for name in wanted:
            prepare = self.property(name).prepare
            if prepare is not None:
                prepare(world, frozenset(v.name for v in chosen))
        threads = build_threads(
            world,
            scenario.threads,
            frozenset(v.name for v in chosen),
            [v.transform for v in chosen if v.transform is not None],
        )
        return KernelModel(world, threads, makers)


def _find(table: Mapping[str, T], name: str, what: str) -> T:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise UnknownName(f"unknown {what} {name!r} (known: {known})") from None


REGISTRY = Registry()


def scenario(
    name: str,
    description: str,
    tree: Sequence[str],
    threads: Sequence[Invocation],
    properties: Sequence[str] = BASE_PROPERTIES,
) -> Scenario:
    """Declare a scenario in the shared registry."""
    return REGISTRY.add_scenario(
        Scenario(name, description, tuple(tree), tuple(threads), tuple(properties), caller_source())
    )


def variant(name: str, description: str) -> Callable[[Transform], Variant]:
    """Declare a variant whose transform is the decorated function."""

    def wrap(transform: Transform) -> Variant:
        return REGISTRY.add_variant(Variant(name, description, transform))

    return wrap


def flag_variant(name: str, description: str) -> Variant:
    """Declare a variant that operations consult with ``op.variant(name)``."""
    return REGISTRY.add_variant(Variant(name, description))


def property_def(name: str, description: str) -> Callable[[PropertyMaker], PropertyDef]:
    """Declare a named property; the decorated function makes it for a model."""

    def wrap(make: PropertyMaker) -> PropertyDef:
        return REGISTRY.add_property(PropertyDef(name, description, make))

    return wrap
