"""The locking rules of Documentation/filesystems/locking.rst as data:
importing them from the document, loading and checking them, and what the
models do with them (conformance at every call, coverage of every table)."""
