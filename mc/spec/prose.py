"""The rules a machine can check, recognised in the document's prose.

Each recogniser matches one way the document states a rule ("->rmdir(),
->unlink() and ->rename() have ->i_rwsem exclusive on victim.") and gives
the rule in the document's own words; a sentence no recogniser matches is
kept as text (and reported by the import when it speaks of locks)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from mc.spec.model import Rule

METHOD = re.compile(r"->(\w+)\(\)")
SENTENCE_END = re.compile(r"(?<=\.)\s+(?=\S)")
ABBREVIATIONS = ("e.g.", "i.e.", "etc.")
LOCK_WORDS = re.compile(
    r"(?:\b|_)(lock|locked|locks|held|hold|holds|mutex|sem|rwsem|rcu|block)\b", re.I
)
"""Words of locking, alone or ending a lock's name (``s_vfs_rename_sem``, ``d_lock``)."""

MODES = {
    "exclusive": "exclusive",
    "exclusively": "exclusive",
    "for writing": "exclusive",
    "write-locked": "exclusive",
    "shared": "shared",
    "for reading": "shared",
    "at least shared": "shared",
}

Recogniser = Callable[[str, Sequence[str]], list[Rule] | None]


def sentences(paragraph: str) -> list[str]:
    """The sentences of a paragraph."""
    parts: list[str] = []
    for piece in SENTENCE_END.split(paragraph):
        if parts and parts[-1].endswith(ABBREVIATIONS):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


def _named(match: re.Match[str]) -> tuple[str, ...]:
    """The methods a recogniser's ``methods`` group names (``->a(), ->b()``)."""
    return tuple(METHOD.findall(match["methods"]))


def _have_lock_on(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """->a(), ->b() and ->c() have ->LOCK MODE on OBJECT."""
    match = re.match(
        r"^(?:Additionally, )?(?P<methods>->\w+\(\)(?:(?:, | and )->\w+\(\))*) (?:have|has) "
        r"->(?P<lock>\w+) (?P<mode>exclusive|shared) on (?P<object>[^.]+)\.$",
        sentence,
    )
    if match is None:
        return None
    return [
        Rule(
            methods=_named(match),
            text=sentence,
            lock=match["lock"],
            mode=MODES[match["mode"]],
            object=match["object"],
        )
    ]


def _conditional_lock(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """cross-directory ->rename() has (per-superblock) ->s_vfs_rename_sem."""
    match = re.match(
        r"^(?P<when>[\w-]+) ->(?P<method>\w+)\(\) has \((?P<object>[^)]+)\) ->(?P<lock>\w+)\.$",
        sentence,
    )
    if match is None:
        return None
    return [
        Rule(
            methods=(match["method"],),
            text=sentence,
            lock=match["lock"],
            mode="held",
            object=match["object"],
            when=match["when"],
        )
    ]


def _has_lock_when(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """->statfs() has s_umount (shared) when called by ustat(2) ..."""
    match = re.match(
        r"^->(?P<method>\w+)\(\) has (?P<lock>\w+) \((?P<mode>shared|exclusive)\) "
        r"when (?P<when>[^,;]+)",
        sentence,
    )
    if match is None:
        return None
    return [
        Rule(
            methods=(match["method"],),
            text=sentence,
            lock=match["lock"],
            mode=MODES[match["mode"]],
            when=match["when"].strip(),
        )
    ]


def _called_with(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """->m() is called with LOCK held for reading, and with the file LOCK2
    held exclusively; ->m() is called with LOCK exclusive."""
    mode = r"(?:held )?(?:for reading|for writing|exclusively|exclusive|at least shared|shared)"
    match = re.match(
        rf"^->(?P<method>\w+)\(\) is called with (?P<lock>\w+) (?P<mode>{mode})"
        rf"(?:, and with the file (?P<lock2>\w+) (?P<mode2>{mode}))?\.?$",
        sentence,
    )
    if match is None:
        return None
    rules = [
        Rule(
            methods=(match["method"],),
            text=sentence,
            lock=match["lock"],
            mode=MODES[match["mode"].removeprefix("held ")],
        )
    ]
    if match["lock2"]:
        rules.append(
            Rule(
                methods=(match["method"],),
                text=sentence,
                lock=match["lock2"],
                mode=MODES[match["mode2"].removeprefix("held ")],
                object="the file",
            )
        )
    return rules


def _must_not_block(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """->map_pages() is called with the RCU lock held and must not block."""
    match = re.match(
        r"^->(?P<method>\w+)\(\) is called with (?P<what>.+?) (?:held|locked) and must not block",
        sentence,
    )
    if match is None:
        return None
    rcu = "RCU" in match["what"]
    return [
        Rule(
            methods=(match["method"],),
            text=sentence,
            context="rcu" if rcu else None,
            may_block=False,
        )
    ]


def _from_interrupts(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """called from interrupts. (buffer_head: the section's one method)"""
    if not re.match(r"^called from interrupts\.", sentence, re.I) or len(methods) != 1:
        return None
    return [Rule(methods=(methods[0],), text=sentence, context="interrupt", may_block=False)]


def _only_ones_via(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """->a() and ->b() functions are both guaranteed to be the only ones
    operating on the quota file by the quota code (via LOCK) ..."""
    match = re.match(
        r"^(?P<methods>->\w+\(\)(?: and ->\w+\(\))*) functions are (?:both )?guaranteed "
        r"to be the only ones operating on [^(]+\(via (?P<lock>\w+)\)",
        sentence,
    )
    if match is None:
        return None
    return [Rule(methods=_named(match), text=sentence, lock=match["lock"], mode="held")]


LOCKED_OBJECTS = {"bh": "BH_Lock"}
"""The lock a sentence means by "OBJECT is locked": a buffer head's lock
bit (``lock_buffer()``)."""


def _object_is_locked(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """bh is locked, but that's all ... (buffer_head: the section's one
    method is called with its object's lock held)."""
    match = re.match(r"^(?P<object>\w+) is locked\b", sentence)
    if match is None or match["object"] not in LOCKED_OBJECTS or len(methods) != 1:
        return None
    lock = LOCKED_OBJECTS[match["object"]]
    return [
        Rule(methods=(methods[0],), text=sentence, lock=lock, mode="held", object=match["object"])
    ]


def _called_with_spinlock(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """m is called with LOCK and sometimes the page lock held."""
    match = re.match(r"^(?P<method>\w+) is called with (?P<lock>\w+) and sometimes ", sentence)
    if match is None or match["method"] not in methods:
        return None
    return [Rule(methods=(match["method"],), text=sentence, lock=match["lock"], mode="held")]


def _takes_locked_superblock(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """->kill_sb() takes a write-locked superblock, ..."""
    match = re.match(r"^->(?P<method>\w+)\(\) takes a write-locked superblock", sentence)
    if match is None:
        return None
    return [
        Rule(
            methods=(match["method"],),
            text=sentence,
            lock="s_umount",
            mode="exclusive",
            object="superblock",
        )
    ]


def _subject_not_under_writeback(sentence: str, methods: Sequence[str]) -> list[Rule] | None:
    """The folio is locked and not under writeback. (a sentence of a
    paragraph about one method: the folio's PG_writeback is clear when it
    is called; the lock is the table's column already)."""
    match = re.match(r"^The (?P<object>folio|page) is locked and not under writeback\.$", sentence)
    if match is None or len(methods) != 1:
        return None
    return [
        Rule(
            methods=(methods[0],),
            text=sentence,
            lock="PG_writeback",
            mode="clear",
            object=match["object"],
        )
    ]


RECOGNISERS: tuple[Recogniser, ...] = (
    _have_lock_on,
    _conditional_lock,
    _has_lock_when,
    _called_with,
    _must_not_block,
    _from_interrupts,
    _object_is_locked,
    _called_with_spinlock,
    _takes_locked_superblock,
    _only_ones_via,
)


SUBJECT_RECOGNISERS: tuple[Recogniser, ...] = (_subject_not_under_writeback,)
"""Recognisers of sentences that name no method, about the method the
paragraph begins with (``->release_folio() is called when ...``)."""


def rules_in(paragraph: str, methods: Sequence[str]) -> tuple[list[Rule], str]:
    """The rules a paragraph states about ``methods`` (those of its table),
    and what is left of it as text (empty when every sentence was a rule)."""
    found: list[Rule] = []
    left: list[str] = []
    opening = re.match(r"^->(\w+)\(\) ", paragraph)
    subject = (opening[1],) if opening and opening[1] in methods else None
    recognisers = [(recognise, methods) for recognise in RECOGNISERS]
    if subject is not None:
        recognisers += [(recognise, subject) for recognise in SUBJECT_RECOGNISERS]
    for sentence in sentences(paragraph):
        for recognise, about in recognisers:
            rules = recognise(sentence, about)
            if rules and all(m in methods for r in rules for m in r.methods):
                found.extend(rules)
                break
        else:
            left.append(sentence)
    return found, " ".join(left)


def speaks_of_locks(text: str) -> bool:
    """Whether text kept as a note mentions locking at all."""
    return LOCK_WORDS.search(text) is not None
