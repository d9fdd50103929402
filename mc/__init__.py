"""vfsmc: a model checker for the Linux VFS locking protocol.

The engine (``mc.engine.model``, ``mc.engine.explore``, ``mc.engine.result``) knows nothing about
kernels; ``mc.kernel`` provides the kernel world and the DSL operations are
written in; ``models`` holds the operations, scenarios and variants.
"""
