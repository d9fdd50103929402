"""vfsmc: a model checker for the Linux VFS locking protocol.

Layers, from the bottom: ``mc.engine`` (models, search, results, symbolic
values; nothing of kernels), ``mc.trace.events``, ``mc.kernel`` (the kernel
world), ``mc.dsl`` (the language operations are written in), ``mc.models``
(the shipped operations and scenarios), ``mc.spec`` (the locking rules),
``mc.trace`` (counterexamples), ``mc.check`` (checking, replay, regress,
mutate) and ``mc.cli``.
"""
