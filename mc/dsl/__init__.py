"""The language kernel operations are written in: one import gives a model
file everything it needs.

::

    from mc.dsl import EXCL, Op, operation, scenario, variant

- operations: ``operation`` (``Cite`` names its kernel functions), ``Op`` (its
  methods emit the steps), ``Invocation``;
- declarations: ``scenario``, ``variant``, ``flag_variant``, ``replaces``, ``inserts``,
  ``invariant``, ``step_invariant`` (one that steps break with ``scratch.violate``),
  ``lock_order`` (a documented lock order for ``vfsmc lockorder``);
- programs, for variants: ``Program`` and its steps (``Step``, ``LockStep``;
  ``model_line()``, the ``source`` of a step a transform copies;
  ``never_blocks`` marks the ``compile`` of a step class of one's own whose
  step always has an outcome, which partial-order reduction then knows);
- lock modes and kinds: ``EXCL``, ``SHARED``, ``LockKind``;
- conditions: ``negative``, ``positive``, ``is_dir``, ``same``, ``same_inode``,
  ``differ``, ``below``, ``is_error``, ``not_``, ``all_of``, ``any_of``, ``const``,
  ``state_expr``, ``handed_off``, and of the tree ``dead_dir``, ``unlinked``, ``ancestor_of``,
  ``is_empty``;
- the address order of locks of one rank (``lock_two_inodes()``):
  ``address_below(op, name, label, left, right)``, a register saying whether
  ``left``'s address is below ``right``'s, the run forking over every order
  not fixed yet;
- errors: ``E`` (the errno numbers), ``ModelError``;
- the state, for invariants and effects: ``State``, ``Scratch``, ``World``;
- files with a page cache: ``File`` (its address_space is ``Op.mapping``);
- symbolic sizes and offsets: ``Symbol`` (``Symbol("new_size", 0, 8192)``);
  arithmetic on them, ``add``, ``sub``, ``mul``, ``div``, ``mod`` (``PAGE_SIZE``),
  and decisions, ``less``, ``at_most``, ``at_least``, ``equal`` (``negated``),
  taken in a step that may fork the run (``fork_effect``, ``fork_compute``,
  ``fork_when``) with ``decide(scratch, cond)``, ``pick(scratch, value)``,
  ``smaller`` and ``larger``; ``argument(op, value)`` is an operation's
  own ``Symbol`` argument as a term to compute with while the thread is
  built;
- VMA flags, for ``mc.models.mmap.MappedFile``: ``VM_WRITE``, ``VM_PFNMAP``;
- footprints, for partial-order reduction: ``touches`` (what an effect or a
  filesystem method reads and writes, given its arguments).

The shipped operations, and the objects and constants their arguments take
(``OpenFile``, ``SEEK_CUR``, the file-lock ``READ`` and ``WRITE``,
``Quotas``, ``QuotaFile``, ``MappedFile``), are in the shipped models, the
layer above this one: ``from mc.models.file import OpenFile``; the README's
"The model-writing API" lists each one's module.
"""

from mc.dsl.addresses import address_below
from mc.dsl.operation import Cite, Holders, Invocation, Op, Operation, model_line, operation
from mc.dsl.program import Program
from mc.dsl.scenario import (
    BASE_PROPERTIES,
    Scenario,
    Variant,
    flag_variant,
    goal,
    inserts,
    invariant,
    lock_order,
    replaces,
    scenario,
    step_invariant,
    variant,
)
from mc.dsl.steps import WAIT_AS_LOCK, LockStep, Step, never_blocks
from mc.dsl.symbolic_steps import argument, fork_compute, fork_effect, fork_when
from mc.engine.symbolic import Symbol
from mc.kernel import errno as E
from mc.kernel.expr import (
    Expr,
    State,
    all_of,
    among,
    any_of,
    below,
    const,
    differ,
    handed_off,
    is_dir,
    is_error,
    negative,
    not_,
    positive,
    same,
    same_inode,
    state_expr,
)
from mc.kernel.locks import EXCL, SHARED
from mc.kernel.locks import Kind as LockKind
from mc.kernel.pagecache import PAGE_SIZE, File
from mc.kernel.pathcond import (
    add,
    at_least,
    at_most,
    decide,
    div,
    equal,
    larger,
    less,
    mod,
    mul,
    negated,
    pick,
    smaller,
    sub,
)
from mc.kernel.superblock import SB_FREEZE_FS, SB_FREEZE_PAGEFAULT, SB_FREEZE_WRITE, sb_writers
from mc.kernel.vfs import ancestor_of, dead_dir, is_empty, unlinked
from mc.kernel.vma import VM_PFNMAP, VM_WRITE
from mc.kernel.world import LOCK_PROTOCOL, ModelError, Scratch, World, touches

__all__ = [
    "BASE_PROPERTIES",
    "EXCL",
    "LOCK_PROTOCOL",
    "PAGE_SIZE",
    "SB_FREEZE_FS",
    "SB_FREEZE_PAGEFAULT",
    "SB_FREEZE_WRITE",
    "SHARED",
    "VM_PFNMAP",
    "VM_WRITE",
    "WAIT_AS_LOCK",
    "Cite",
    "E",
    "Expr",
    "File",
    "Holders",
    "Invocation",
    "LockKind",
    "LockStep",
    "ModelError",
    "Op",
    "Operation",
    "Program",
    "Scenario",
    "Scratch",
    "State",
    "Step",
    "Symbol",
    "Variant",
    "World",
    "add",
    "address_below",
    "all_of",
    "among",
    "ancestor_of",
    "any_of",
    "argument",
    "at_least",
    "at_most",
    "below",
    "const",
    "dead_dir",
    "decide",
    "differ",
    "div",
    "equal",
    "flag_variant",
    "fork_compute",
    "fork_effect",
    "fork_when",
    "goal",
    "handed_off",
    "inserts",
    "invariant",
    "is_dir",
    "is_empty",
    "is_error",
    "larger",
    "less",
    "lock_order",
    "mod",
    "model_line",
    "mul",
    "negated",
    "negative",
    "never_blocks",
    "not_",
    "operation",
    "pick",
    "positive",
    "replaces",
    "same",
    "same_inode",
    "sb_writers",
    "scenario",
    "smaller",
    "state_expr",
    "step_invariant",
    "sub",
    "touches",
    "unlinked",
    "variant",
]
