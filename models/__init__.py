"""The kernel operations vfsmc checks, written with mc.kernel's DSL, and the
scenarios and protocol variants built from them.  Importing this package
registers them all."""

from mc.models import (
    conformance_scenarios,
    dirops,
    dirops_scenarios,
    truncate,
    truncate_scenarios,
    writeback,
    writeback_scenarios,
)

__all__ = [
    "conformance_scenarios",
    "dirops",
    "dirops_scenarios",
    "truncate",
    "truncate_scenarios",
    "writeback",
    "writeback_scenarios",
]
