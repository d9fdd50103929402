"""Which properties a scenario's operations make checkable: those whose
needs (a page cache, a block device, a tree of directories...) the world
its operations build has."""

from __future__ import annotations

from collections.abc import Sequence

from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry, Scenario
from mc.dsl.steps import EffectStep
from mc.kernel import superblock


def built(registry: Registry, scenario: Scenario, variants: Sequence[str] = ()) -> KernelModel:
    """``scenario`` built under ``variants`` with no property (nothing explored)."""
    return registry.build(scenario, variants, ())


def world_parts(model: KernelModel) -> set[str]:
    """The parts of the world the scenario's operations created."""
    parts = set(model.world.parts)
    if any(inode.is_dir for inode in model.world.inodes[1:]) or _changes_names(model):
        parts.add("tree")
    if any(slot.name == superblock.FROZEN_SLOT for slot in model.world.slots):
        parts.add("freezing")
    return parts


def _changes_names(model: KernelModel) -> bool:
    """Whether a thread runs a step that writes names (an effect marked
    ``given_names_only`` on dentries it is given: a create in /)."""
    return any(
        isinstance(step, EffectStep) and step.names
        for thread in model.threads
        for step in thread.program.steps
    )


def available_properties(registry: Registry, scenario: Scenario) -> list[str]:
    """The properties that have something to check in ``scenario``."""
    parts = world_parts(built(registry, scenario))
    return [name for name, prop in sorted(registry.properties.items()) if _has(prop.needs, parts)]


def _has(needs: tuple[str, str] | None, parts: set[str]) -> bool:
    return needs is None or needs[0] in parts


def omitted_properties(registry: Registry, scenario: Scenario) -> list[str]:
    """Properties of the kernel world that ``scenario``'s operations make
    available but its declaration does not check."""
    available = available_properties(registry, scenario)
    return [
        name
        for name in available
        if registry.properties[name].needs is not None and name not in scenario.properties
    ]
