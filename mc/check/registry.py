"""The registry of a run, built in one place: the base properties, the
locking rules' spec-conformance, the kernel world's invariants, every
shipped model and the user's model files, and ``mutant:...`` variants."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

import mc.models
from mc.check import mutants, usermodels
from mc.dsl import kernel_model
from mc.dsl.kernel_model import KernelModel
from mc.dsl.scenario import Registry
from mc.kernel import (
    dax,
    inode_life,
    pagecache_properties,
    properties,
    superblock,
    truncate_properties,
)
from mc.project import shown
from mc.spec import conformance


def shipped_modules() -> list[ModuleType]:
    """Every module of the shipped models, in name order."""
    return [
        importlib.import_module(f"{mc.models.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(mc.models.__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]


def base() -> Registry:
    """A new registry holding every property vfsmc ships, and no scenario."""
    registry = Registry()
    for prop in (
        *kernel_model.BASE,
        *properties.DEFINITIONS,
        *pagecache_properties.DEFINITIONS,
        *truncate_properties.DEFINITIONS,
        *superblock.DEFINITIONS,
        *inode_life.DEFINITIONS,
        *dax.DEFINITIONS,
    ):
        registry.add_property(prop)
    registry.add_property(conformance.spec_conformance, prepare=conformance.prepare)
    registry.variant_resolvers.append(mutants.resolve)
    return registry


def shipped() -> Registry:
    """A new registry holding what vfsmc ships."""
    registry = base()
    for module in shipped_modules():
        registry.add_module(module)
    return registry


def with_files(paths: Iterable[Path]) -> Registry:
    """A new registry holding what vfsmc ships and what ``paths`` declare
    (model files, or directories of them)."""
    registry = shipped()
    for path in paths:
        registry.model_files.append(shown(str(path)))
        for module in usermodels.load(path):
            usermodels.add(registry, module)
    return registry


def build_model(
    sources: Sequence[Path],
    scenario: str,
    variants: Sequence[str],
    properties: Sequence[str] | None,
) -> KernelModel:
    """The model of ``scenario``, built in a fresh process after loading
    the model files ``sources`` (what a Ray actor runs)."""
    registry = with_files(sources)
    return registry.build(registry.scenario(scenario), variants, properties)
