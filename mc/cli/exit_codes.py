"""How the vfsmc program ends, beyond a verdict's 0 (OK), 1 (violated)
and 3 (incomplete)."""

EXIT_USAGE = 2
"""Bad input or usage: one line on stderr."""
EXIT_INCOMPLETE = 3
"""A bound, the memory limit or Ctrl-C stopped a search before a verdict."""
EXIT_INTERNAL = 4
"""An error in vfsmc itself."""
EXIT_INTERRUPTED = 130
"""Ctrl-C outside a search."""
EXIT_BROKEN_PIPE = 141
"""The output was closed early (``vfsmc ... | head``)."""
EXIT_TERMINATED = 143
"""SIGTERM."""
