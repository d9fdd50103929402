"""The interface between the explorer and whatever it explores.

A model is a transition system: initial states, the actions enabled in a
state (in a deterministic order) and the state each action leads to, plus
named properties.  The explorer knows nothing else about it; Peterson's
algorithm and the VFS locking protocol are models alike.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

import attrs

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")
M = TypeVar("M", contravariant=True)
N = TypeVar("N")


class PropertyKind(enum.Enum):
    """How the explorer evaluates a property."""

    ALWAYS = "always"
    """An invariant, checked on every reachable state."""
    DEADLOCK_FREE = "deadlock-free"
    """Checked on every state with no enabled action; the check tells an
    ordinary end from a deadlock."""
    SOMETIMES = "sometimes"
    """Must hold on at least one reachable state; checked once the search is
    exhaustive, so a vacuous scenario cannot pass silently."""


Check = Callable[[S], "str | None"]


@attrs.frozen
class Property(Generic[S]):
    """A named property: ``check(state)`` returns None when the state is
    fine, else a one-line description of what is wrong (for ``ALWAYS`` and
    ``DEADLOCK_FREE``) or of what was reached (for ``SOMETIMES``, where a
    non-None answer means the goal is reached)."""

    name: str
    kind: PropertyKind
    check: Check[S] = attrs.field(eq=False)
    description: str = ""


def always(name: str, check: Check[S], description: str = "") -> Property[S]:
    """An invariant: ``check`` returns a message on a state that breaks it."""
    return Property(name, PropertyKind.ALWAYS, check, description)


def deadlock_free(name: str, explain: Check[S], description: str = "") -> Property[S]:
    """No reachable state without enabled actions is a deadlock: ``explain``
    is called on such states and returns a message when it is one."""
    return Property(name, PropertyKind.DEADLOCK_FREE, explain, description)


def sometimes(name: str, reached: Check[S], description: str = "") -> Property[S]:
    """Some reachable state satisfies ``reached`` (which returns a message
    naming what was reached, or None)."""
    return Property(name, PropertyKind.SOMETIMES, reached, description)


@attrs.frozen
class PropertyDef(Generic[S, M]):
    """A property as scenarios name it: its name, what it checks and how it
    is evaluated, with ``checker``, which makes the check of one built model
    (``checker(model)`` returns a ``Check``)."""

    name: str
    description: str
    kind: PropertyKind
    checker: Callable[[M], Check[S]] = attrs.field(eq=False)

    def make(self, model: M) -> Property[S]:
        """The property of ``model``."""
        return Property(self.name, self.kind, self.checker(model), self.description)


def declare(
    name: str, description: str, kind: PropertyKind = PropertyKind.ALWAYS
) -> Callable[[Callable[[N], Check[S]]], PropertyDef[S, N]]:
    """Declare a property on the function that makes its check for a
    model: ``@declare("mutex", "at most one thread in the section")``."""

    def wrap(checker: Callable[[N], Check[S]]) -> PropertyDef[S, N]:
        return PropertyDef(name, description, kind, checker)

    return wrap


class Model(ABC, Generic[S, A]):
    """A finite transition system the explorer can search.

    Subclasses give ``init_states`` and ``successors``, what the explorer
    calls; they may override ``actor`` to let breadth-first search prefer
    traces with fewer context switches among those of equal length.
    """

    @abstractmethod
    def init_states(self) -> Sequence[S]:
        """The initial states, in a deterministic order."""

    @abstractmethod
    def successors(self, state: S) -> Sequence[tuple[A, S]]:
        """Each action enabled in ``state`` with the state it leads to, in a
        deterministic order."""

    def properties(self) -> Sequence[Property[S]]:
        """The properties to check."""
        return ()

    def actor(self, action: A) -> Hashable | None:
        """Who performs ``action`` (a thread, a process), or None when the
        model does not say."""
        return None

    def describe_action(self, action: A) -> str:
        """A short human-readable name for ``action``."""
        return str(action)

    def statistics(self, states: Sequence[S]) -> dict[str, int]:
        """Figures of the model's own about a finished search over the
        stored ``states`` (reported next to the explorer's)."""
        return {}
