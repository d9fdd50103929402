"""The locking rules as data: importing the document (flattened and
reStructuredText), the rules file and its schema, lint, show, diff and
coverage, through the command line as a user runs them."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mc.spec import document, importer, lint, load, prose, toml_writer, vocabulary
from mc.spec.diff import diff
from mc.spec.load import SpecError
from mc.spec.model import parse_cell

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FLATTENED = ROOT.parent / "shared" / "locking.txt"
EXCERPT = ROOT / "tests" / "fixtures" / "locking-excerpt.rst"
TABLES = (
    "dentry_operations",
    "inode_operations",
    "xattr_handler",
    "super_operations",
    "file_system_type",
    "address_space_operations",
    "file_lock_operations",
    "lock_manager_operations",
    "buffer_head",
    "block_device_operations",
    "file_operations",
    "dquot_operations",
    "vm_operations_struct",
)
METHODS_PER_TABLE = (13, 25, 3, 17, 2, 19, 2, 7, 1, 8, 29, 5, 8)

needs_document = pytest.mark.skipif(
    not FLATTENED.exists(), reason="the flattened locking.txt is not beside the project"
)


@pytest.fixture(scope="module")
def known() -> vocabulary.Vocabulary:
    return vocabulary.load()


@pytest.fixture(scope="module")
def shipped_spec() -> load.Spec:
    return load.load()


def test_a_cell_splits_into_value_see_below_and_footnotes() -> None:
    cell = parse_cell("exclusive (both)(see below)")
    assert (cell.value, cell.see_below, cell.footnotes) == ("exclusive (both)", True, ())
    cell = parse_cell("maybe[1]_")
    assert (cell.value, cell.see_below, cell.footnotes) == ("maybe", False, ("1",))


def test_the_shipped_rules_hold_every_method_of_the_thirteen_tables(
    shipped_spec: load.Spec,
) -> None:
    assert tuple(t.name for t in shipped_spec.tables) == TABLES
    assert tuple(len(t.methods) for t in shipped_spec.tables) == METHODS_PER_TABLE
    assert sum(METHODS_PER_TABLE) == 139
    rename = shipped_spec.table("inode_operations").method("rename")  # type: ignore[union-attr]
    assert rename is not None and rename.prototype is not None
    assert rename.cell("i_rwsem(inode)").value == "exclusive (both parents, some children)"  # type: ignore[union-attr]


@needs_document
def test_importing_the_flattened_document_reproduces_specs_exactly(
    known: vocabulary.Vocabulary,
) -> None:
    imported = importer.import_path(FLATTENED, known)
    assert toml_writer.render(imported.spec) == (SPECS / "locking.toml").read_text()
    counts = [len(t.methods) for t in imported.spec.tables]
    assert [t.name for t in imported.spec.tables] == list(TABLES)
    assert counts == list(METHODS_PER_TABLE)


@needs_document
def test_the_import_reports_what_it_could_not_take_as_written(
    known: vocabulary.Vocabulary,
) -> None:
    imported = importer.import_path(FLATTENED, known)
    placed = [f for f in imported.findings if "as recorded" in f.message]
    assert {f.where for f in placed} == {
        "address_space_operations.write_begin",
        "address_space_operations.write_end",
        "address_space_operations.invalidate_folio",
    }
    assert any("Everything else (statfs()" in str(f) for f in imported.kept_as_text)
    assert not any("->quota_read() and ->quota_write()" in str(f) for f in imported.kept_as_text)
    rules = {
        (rule.methods, rule.lock, rule.object)
        for table in imported.spec.tables
        for rule in table.rules
        if rule.lock
    }
    assert (("quota_read", "quota_write"), "dqio_sem", None) in rules
    assert (("b_end_io",), "BH_Lock", "bh") in rules
    without = importer.from_document(document.parse_flattened(FLATTENED.read_text(), "locking.txt"))
    assert any("cannot tell which columns" in f.message for f in without.findings)


def test_the_rules_file_reads_back_what_the_writer_wrote(shipped_spec: load.Spec) -> None:
    text = toml_writer.render(shipped_spec)
    assert load.from_data(tomllib.loads(text), "again") == shipped_spec


def test_the_rst_excerpt_agrees_with_the_shipped_rules(
    known: vocabulary.Vocabulary, shipped_spec: load.Spec
) -> None:
    """The aligned tables of the reStructuredText put every cell in the
    column the flattened import put it in (the vocabulary's placements
    included), with the same prototypes and prose rules."""
    excerpt = importer.import_path(EXCERPT, known)
    assert excerpt.findings == ()
    compared = 0
    for table in excerpt.spec.tables:
        shipped = shipped_spec.table(table.name)
        assert shipped is not None
        assert table.columns == shipped.columns
        for method in table.methods:
            assert shipped.method(method.name) == method, f"{table.name}.{method.name}"
            compared += 1
            mine = [r for r in table.rules if method.name in r.methods]
            theirs = [r for r in shipped.rules if method.name in r.methods]
            assert mine == theirs, f"{table.name}.{method.name}"
    assert compared == 20
    placed = excerpt.spec.table("address_space_operations")
    assert placed is not None and placed.method("write_begin") is not None
    assert dict(placed.method("write_begin").cells or ())["i_rwsem"] == "exclusive"  # type: ignore[union-attr]


def test_a_sentence_naming_a_lock_it_cannot_read_is_reported() -> None:
    """A lock named only by its identifier (``s_vfs_rename_sem``) is
    locking prose: kept as text, and reported."""
    rules, left = prose.rules_in(
        "->rename() has ->i_rwsem exclusive on victim. ->rename() has s_vfs_rename_sem.",
        ["rename"],
    )
    assert len(rules) == 1 and left == "->rename() has s_vfs_rename_sem."
    assert prose.speaks_of_locks(left)
    assert prose.speaks_of_locks("takes d_lock") and not prose.speaks_of_locks("returns 0")


def test_a_sentence_about_the_paragraph_s_method_is_its_rule() -> None:
    """ "The folio is locked and not under writeback." names no method: it
    is a rule of the method its paragraph begins with, and only there."""
    about = "->release_folio() is called when the MM wants to make a change. "
    sentence = "The folio is locked and not under writeback."
    rules, left = prose.rules_in(about + sentence, ["writepage", "release_folio"])
    assert [(r.methods, r.lock, r.mode, r.object) for r in rules] == [
        (("release_folio",), "PG_writeback", "clear", "folio")
    ]
    assert left == about.strip()
    elsewhere, kept = prose.rules_in("The MM calls it. " + sentence, ["release_folio", "x"])
    assert not elsewhere and kept.endswith(sentence)


def test_prose_rules_of_the_document(shipped_spec: load.Spec) -> None:
    rules = {(r.lock, r.object, r.mode): r.methods for t in shipped_spec.tables for r in t.rules}
    assert rules[("i_rwsem", "victim", "exclusive")] == ("rmdir", "unlink", "rename")
    assert rules[("i_rwsem", "any subdirectory that changes parent", "exclusive")] == ("rename",)
    assert rules[("s_umount", None, "shared")] == ("statfs",)
    assert rules[("s_vfs_rename_sem", "per-superblock", "held")] == ("rename",)
    contexts = {(r.context, r.methods) for t in shipped_spec.tables for r in t.rules if r.context}
    assert ("interrupt", ("b_end_io",)) in contexts and ("rcu", ("map_pages",)) in contexts


@needs_document
def test_lint_lists_where_the_document_disagrees_with_itself(
    known: vocabulary.Vocabulary,
) -> None:
    found = lint.lint(importer.read_document(FLATTENED, known), known)
    seen = {(d.kind, d.where) for d in found}
    assert ("no-prototype", "dentry_operations.d_prune") in seen
    assert ("no-row", "inode_operations.truncate") in seen
    assert ("footnote", "file_lock_operations.fl_release_private") in seen
    assert ("prototype", "dentry_operations.d_dname") in seen
    assert ("reference", "file_operations") in seen
    assert not any(d.kind == "unknown-value" for d in found)


def test_lint_names_an_unknown_value(known: vocabulary.Vocabulary) -> None:
    text = EXCERPT.read_text().replace("put_super:\t\twrite", "put_super:\t\twrite-ish")
    found = lint.lint(document.parse_rst(text, "changed.rst"), known)
    unknown = [d for d in found if d.kind == "unknown-value"]
    assert [d.where for d in unknown] == ["super_operations.put_super"]
    assert "'write-ish'" in unknown[0].message


def test_diff_names_methods_added_removed_and_cells_changed(
    known: vocabulary.Vocabulary, shipped_spec: load.Spec
) -> None:
    old = importer.import_path(EXCERPT, known).spec
    text = (
        EXCERPT.read_text()
        .replace(
            "exclusive (both parents, some children)\t(see below)", "exclusive (all)\t(see below)"
        )
        .replace("swap_activate:\t\tno\n", "")
        .replace("d_prune:           no\t\tyes\t\tno\t\tno\n", "")
    )
    new = importer.from_document(document.parse_rst(text, "new.rst")).spec
    found = diff(old, new, known)
    changes = {(c.kind, c.where) for c in found}
    assert ("cell-changed", "inode_operations.rename i_rwsem(inode)") in changes
    assert ("method-removed", "dentry_operations.d_prune") in changes
    assert ("row-removed", "address_space_operations.swap_activate") in changes
    assert diff(shipped_spec, shipped_spec, known) == []


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (
            ('cells = { "i_rwsem(inode)" = "exclusive" }', 'cells = { "i_rwsem(inode)" = 3 }'),
            "table inode_operations, method create, field cells: must be a table of strings",
        ),
        (
            (
                "[[tables.inode_operations.rules]]\nmethods = [",
                "[[tables.inode_operations.rules]]\nx = 1\nmethods = [",
            ),
            "table inode_operations, rule 1: unknown field 'x'",
        ),
        (("version = 1", 'version = "1"'), "unsupported version '1'"),
    ],
)
def test_a_malformed_rules_file_names_file_table_method_and_field(
    tmp_path: Path, edit: tuple[str, str], fragment: str
) -> None:
    text = (SPECS / "locking.toml").read_text()
    assert edit[0] in text
    path = tmp_path / "locking.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(SpecError) as raised:
        load.load(path)
    assert str(raised.value) == f"{path}: {fragment}" or str(raised.value).startswith(
        f"{path}: {fragment}"
    )
    assert "\n" not in str(raised.value)


def test_a_malformed_vocabulary_names_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "vocabulary.toml"
    bad.write_text('[tables.x.columns.y]\nkind = "lock"\nvalues = { no = "sometimes" }\n')
    with pytest.raises(SpecError, match="table x, column y, value 'no': unknown meaning"):
        vocabulary.load(bad)
    bad.write_text("[tables.x.placement]\nrow = ['nowhere']\n")
    with pytest.raises(SpecError, match="placement row: 'nowhere' is not a column"):
        vocabulary.load(bad)
    bad.write_text('[tables.x.columns.y]\nkind = "lock"\nvalues = { no = "held if upside-down" }\n')
    with pytest.raises(SpecError, match="value 'no': unknown condition 'upside-down'"):
        vocabulary.load(bad)
    bad.write_text(
        '[tables.x.columns.y]\nkind = "lock"\nvalues = { no = "not-required" }\n'
        'methods = { m = { yes = "held" } }\n'
    )
    with pytest.raises(SpecError, match="column y, method m: 'yes' is not a value of the column"):
        vocabulary.load(bad)


def test_no_in_the_i_rwsem_columns_is_not_required_but_for_a_method_taking_it(
    known: vocabulary.Vocabulary,
) -> None:
    """locking.rst's "no" under inode_operations' and xattr_handler's
    i_rwsem(inode) is "the caller need not hold it" (->permission is called
    on a directory under its i_rwsem by may_create()); ->fiemap, which
    takes the lock itself (XFS, btrfs), must be called without it; the
    spinlock columns keep "must not be held"."""
    inode = known.column("inode_operations", "i_rwsem(inode)")
    assert inode is not None
    assert inode.meaning("no", "permission") == ("not-required",)
    assert inode.meaning("no (may not block if called in rcu-walk mode)", "permission") == (
        "not-required",
        "blocks-only-in-ref-walk",
    )
    assert inode.meaning("no", "fiemap") == ("not-held",)
    assert inode.meaning("shared (exclusive if O_CREAT is set in open flags)", "atomic_open") == (
        "held",
        "exclusive if O_CREAT",
    )
    xattr = known.column("xattr_handler", "i_rwsem(inode)")
    assert xattr is not None and xattr.meaning("no", "get") == ("not-required",)
    d_lock = known.column("dentry_operations", "->d_lock")
    assert d_lock is not None and d_lock.meaning("no") == ("not-held",)


def _edited(*edits: tuple[str, str]) -> str:
    text = EXCERPT.read_text()
    for before, after in edits:
        assert before in text, before
        text = text.replace(before, after)
    return text


def test_diff_reports_a_renamed_column_once_then_the_real_change(
    known: vocabulary.Vocabulary,
) -> None:
    """lock_manager's ``inode->i_lock`` became ``flc_lock`` (and one cell
    under it changed): one column-renamed and one cell-changed."""
    old = importer.from_document(document.parse(_edited(), "old.rst")).spec
    new_text = _edited(
        ("ops\t\t\tinode->i_lock\tmay block", "ops\t\t\tflc_lock\tmay block"),
        ("fl_copy_lock:\t\tyes\t\tno", "fl_copy_lock:\t\tno\t\tno"),
    )
    new = importer.from_document(document.parse(new_text, "new.rst")).spec
    found = [str(c) for c in diff(old, new, known)]
    assert found == [
        "~ file_lock_operations: inode->i_lock -> flc_lock [column-renamed]",
        "~ file_lock_operations.fl_copy_lock flc_lock: yes -> no [cell-changed]",
    ]


def test_diff_pairs_renamed_methods_and_ignores_whitespace(known: vocabulary.Vocabulary) -> None:
    old_text = _edited(
        (
            "int (*read_folio)(struct file *, struct folio *);",
            "int (*readpage)(struct file *, struct page *);",
        ),
        ("read_folio:\t\tyes, unlocks", "readpage:\t\tyes, unlocks"),
    )
    new_text = _edited(
        (
            "void (*invalidate_folio) (struct folio *, size_t start, size_t len);",
            "void (*invalidate_folio)(struct folio *,\n\t\t\tsize_t start, size_t len);",
        ),
    )
    old = importer.from_document(document.parse(old_text, "old.rst")).spec
    new = importer.from_document(document.parse(new_text, "new.rst")).spec
    found = [(c.kind, c.where) for c in diff(old, new, known)]
    assert ("method-renamed", "address_space_operations.readpage") in found
    assert not any(kind in ("method-added", "method-removed") for kind, _ in found)
    assert ("prototype-changed", "address_space_operations.read_folio") in found
    assert ("prototype-changed", "address_space_operations.invalidate_folio") not in found


def test_diff_pairs_prose_rules_and_prose_by_the_methods_they_name(
    known: vocabulary.Vocabulary,
) -> None:
    note = "->invalidate_folio() is called when the filesystem must drop {} buffers.\n\n"
    anchor = "file_lock_operations\n===================="
    old_text = _edited((anchor, note.format("some") + anchor))
    new_text = _edited(
        (anchor, note.format("some or all of the") + anchor),
        ("dev_t given us by userland", "dev_t handed to us by userland"),
        ("->statfs() has s_umount (shared)", "->statfs() has s_umount (exclusive)"),
    )
    old = importer.from_document(document.parse(old_text, "old.rst")).spec
    new = importer.from_document(document.parse(new_text, "new.rst")).spec
    found = {(c.kind, c.where): c for c in diff(old, new, known)}
    assert set(found) == {
        ("rule-changed", "super_operations.statfs"),
        ("prose-changed", "address_space_operations.invalidate_folio"),
    }
    changed = found[("rule-changed", "super_operations.statfs")]
    assert (changed.before, changed.after) == (
        "s_umount shared called by ustat(2) (native or compat)",
        "s_umount exclusive called by ustat(2) (native or compat)",
    )
    reworded = _edited(("dev_t given us by userland", "dev_t handed to us by userland"))
    again = importer.from_document(document.parse(reworded, "new.rst")).spec
    [change] = diff(importer.from_document(document.parse(_edited(), "o.rst")).spec, again, known)
    assert (change.kind, change.detail) == ("prose-changed", "rule reworded")


def test_a_byte_order_mark_makes_no_table(known: vocabulary.Vocabulary) -> None:
    plain = importer.from_document(document.parse(_edited(), "plain.rst")).spec
    marked = importer.from_document(document.parse("\ufeff" + _edited(), "marked.rst")).spec
    assert diff(plain, marked, known) == []


def test_both_forms_read_alike_where_the_rendering_changes_the_text() -> None:
    """The documentation site renders a path to another document as a link
    named by its title, and a cell that is only ``-`` as an empty bullet:
    the reStructuredText is read as the flattened text of the same
    document reads."""
    rst = """dquot_operations
================

prototypes::

\tint (*mark_dirty) (struct dquot *);

==============\t============\t=========================
ops\t\tFS recursion\tHeld locks when called
==============\t============\t=========================
mark_dirty:\tno\t\t-
==============\t============\t=========================

See Documentation/filesystems/directory-locking.rst for more detailed discussion.
"""
    flat = """dquot_operations

prototypes:

int (*mark_dirty) (struct dquot *);

ops

FS recursion

Held locks when called

mark_dirty:

no

See Directory Locking for more detailed discussion.
"""
    [from_rst] = document.parse(rst, "a.rst").sections
    [from_text] = document.parse(flat, "a.txt").sections
    assert from_rst.rows is not None and from_text.rows is not None
    assert [row.cells for row in from_rst.rows] == [(("FS recursion", "no"),)]
    assert [row.cells for row in from_text.rows] == [(("FS recursion", "no"),)]
    assert [p.text for p in from_rst.paragraphs] == [p.text for p in from_text.paragraphs]
    assert [p.text for p in from_rst.paragraphs] == [
        "See Directory Locking for more detailed discussion."
    ]


def test_a_rule_gone_from_a_sentence_of_two_rules_says_which(
    known: vocabulary.Vocabulary,
) -> None:
    """Newer documents say ->iterate_shared() holds i_rwsem shared and the
    file's f_pos_lock exclusive in one sentence; older ones only the first.
    The removed rule is the f_pos_lock one, and it says so."""

    def spec(sentence: str) -> load.Spec:
        text = (
            "file_operations\n===============\n\nprototypes::\n\n"
            "\tint (*iterate_shared) (struct file *, struct dir_context *);\n\n"
            f"locking rules:\n\tAll may block.\n\n{sentence}\n"
        )
        return importer.from_document(document.parse(text, "a.rst")).spec

    newer = spec(
        "->iterate_shared() is called with i_rwsem held for reading, and with the\n"
        "file f_pos_lock held exclusively"
    )
    older = spec("->iterate_shared() is called with i_rwsem at least shared.")
    removed = [c for c in diff(newer, older, known) if c.kind == "rule-removed"]
    assert [(c.where, (c.before or "").split(": ")[0]) for c in removed] == [
        ("file_operations.iterate_shared", "f_pos_lock exclusive the file")
    ]
