"""``vfsmc spec``: import, lint, show, diff and coverage as a user runs
them, exit codes, JSON, and one-line errors on bad input."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mc.dsl.scenario import Registry
from mc.spec import load
from mc.spec.load import SpecError

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FLATTENED = ROOT.parent / "shared" / "locking.txt"
EXCERPT = ROOT / "tests" / "fixtures" / "locking-excerpt.rst"

needs_document = pytest.mark.skipif(
    not FLATTENED.exists(), reason="the flattened locking.txt is not beside the project"
)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (
            ('cells = { "i_rwsem(inode)" = "exclusive" }', 'cells = { "i_rwsem(inode)" = 3 }'),
            "table inode_operations, method create, field cells: must be a table of strings",
        ),
        (
            (
                '[tables.inode_operations.methods.rename]\nprototype = "int (*rename)',
                '[tables.inode_operations.methods.rename]\nprototype = "int (*renam)',
            ),
            "table inode_operations, method rename, field prototype: does not declare (*rename)",
        ),
        (
            ('mode = "exclusive"\nobject = "victim"', 'mode = "sideways"\nobject = "victim"'),
            "table inode_operations, rule 1, field mode: must be one of",
        ),
        (("version = 1", "version = 7"), "unsupported version 7"),
    ],
)
def test_a_malformed_rules_file_is_one_line_naming_the_place(
    vfsmc: Run, tmp_path: Path, edit: tuple[str, str], fragment: str
) -> None:
    text = (SPECS / "locking.toml").read_text()
    assert edit[0] in text
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("vocabulary.toml", "conformance.toml", "coverage.toml"):
        (specs / name).write_text((SPECS / name).read_text())
    (specs / "locking.toml").write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(SpecError) as raised:
        load.load(specs / "locking.toml")
    assert fragment in str(raised.value)
    result = vfsmc("spec", "show", "--specs", str(specs))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vfsmc: error: ") and fragment in lines[0]
    assert str(specs / "locking.toml") in lines[0]


def test_cli_import_writes_the_rules_and_reports(vfsmc: Run, tmp_path: Path) -> None:
    result = vfsmc("spec", "import", str(EXCERPT), "-o", "rules.toml")
    assert result.exit_code == 0, result.output
    assert "imported locking-excerpt.rst: 5 tables, 20 methods" in result.output
    rules = load.load(tmp_path / "rules.toml")
    assert rules.table("file_lock_operations").footnotes[0][0] == "1"  # type: ignore[union-attr]
    report = json.loads(vfsmc("spec", "import", str(EXCERPT), "--json").output)
    assert report["methods"] == 20 and report["toml"].startswith("# The locking rules")


def test_cli_import_of_something_else_is_a_one_line_error(vfsmc: Run, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing about locking here\n")
    for path in ("notes.txt", "missing.rst"):
        result = vfsmc("spec", "import", path)
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1


@needs_document
def test_cli_lint_exits_1_with_the_dubious_list(vfsmc: Run) -> None:
    result = vfsmc("spec", "lint", str(FLATTENED))
    assert result.exit_code == 1
    assert "dentry_operations.d_prune: a row but no prototype" in result.output
    report = json.loads(vfsmc("spec", "lint", str(FLATTENED), "--json").output)
    assert any(d["where"] == "inode_operations.truncate" for d in report["dubious"])


def test_cli_show_tables_a_table_and_a_method(vfsmc: Run) -> None:
    listing = vfsmc("spec", "show")
    assert listing.exit_code == 0 and "139 methods" in listing.output
    table = vfsmc("spec", "show", "super_operations")
    assert "statfs" in table.output and "maybe(read)" in table.output
    method = json.loads(vfsmc("spec", "show", "inode_operations.rename", "--json").output)
    ids = {(n["id"], tuple(n["conditions"])) for n in method["needs"]}
    assert ("i_rwsem(target)", ("not exchange",)) in ids
    assert ("s_vfs_rename_sem", ("cross-directory",)) in ids
    unknown = vfsmc("spec", "show", "inode_operations.frobnicate")
    assert unknown.exit_code == 2 and "has no method 'frobnicate'" in unknown.output


def test_cli_diff_of_a_file_with_itself_and_with_the_excerpt(vfsmc: Run) -> None:
    same = vfsmc("spec", "diff", str(SPECS / "locking.toml"), str(SPECS / "locking.toml"))
    assert same.exit_code == 0 and "no changes" in same.output
    changed = vfsmc("spec", "diff", str(SPECS / "locking.toml"), str(EXCERPT), "--json")
    assert changed.exit_code == 1
    report = json.loads(changed.output)
    removed = {c["where"] for c in report["changes"] if c["kind"] == "method-removed"}
    assert "inode_operations.create" in removed and "xattr_handler" not in removed


def test_cli_coverage_explains_every_method_not_modelled(vfsmc: Run) -> None:
    result = vfsmc("spec", "coverage", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["total"] == 139 and report["unexplained"] == 0
    assert report["percent_covered"] == 100.0
    by_name = {f"{m['table']}.{m['method']}": m for m in report["methods"]}
    setattr_ = by_name["inode_operations.setattr"]
    assert setattr_["status"] == "modelled" and "i_rwsem(inode)" in setattr_["checked"]
    assert by_name["inode_operations.truncate"]["status"] == "explained"
    assert len(by_name["inode_operations.rename"]["scenarios"]) >= 4
    text = vfsmc("spec", "coverage").output
    assert "100.0% modelled or explained" in text.splitlines()[-1]
    end_io = by_name["buffer_head.b_end_io"]
    checking = end_io["checked_in"]["BH_Lock(bh)"]
    assert 0 < checking < len(end_io["scenarios"]), end_io
    assert f"checks BH_Lock(bh) (in {checking})" in text
    [unchecked] = [u for u in end_io["unchecked"] if u["need"] == "BH_Lock(bh)"]
    assert unchecked["kind"] == "lock-not-modelled"
    write_dquot = by_name["dquot_operations.write_dquot"]
    assert write_dquot["checked"] == []
    assert [u["need"] for u in write_dquot["unchecked"] if u["kind"] == "note"] == [
        "Held locks when called: dqonoff_sem or dqptr_sem"
    ]


def test_spec_show_names_the_notes_nothing_checks(vfsmc: Run) -> None:
    """A row's text columns are notes: show lists them as not checked
    rather than saying the method needs no lock."""
    shown = vfsmc("spec", "show", "dquot_operations.write_dquot").output
    assert "  no lock it must hold or must not hold" in shown
    assert "  a note, not checked: Held locks when called: dqonoff_sem or dqptr_sem" in shown
    data = json.loads(vfsmc("spec", "show", "dquot_operations.write_dquot", "--json").output)
    assert "Held locks when called: dqonoff_sem or dqptr_sem" in data["notes"]


def test_coverage_reports_a_method_neither_modelled_nor_explained(
    vfsmc: Run, tmp_path: Path
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("locking.toml", "vocabulary.toml", "conformance.toml"):
        (specs / name).write_text((SPECS / name).read_text())
    reasons = (SPECS / "coverage.toml").read_text()
    (specs / "coverage.toml").write_text(reasons + '\n[tables.xattr_handler]\nx = "y"\n')
    bad = vfsmc("spec", "coverage", "--specs", str(specs))
    assert bad.exit_code == 2 and "table xattr_handler: holds only reason and methods" in bad.output
    assert reasons.count("\ntruncate = ") == 1
    (specs / "coverage.toml").write_text(reasons.replace("\ntruncate = ", "\n# truncate = "))
    result = vfsmc("spec", "coverage", "--specs", str(specs))
    assert result.exit_code == 1
    assert "truncate               NOT MODELLED AND NOT EXPLAINED" in result.output


@needs_document
def test_spec_check_lists_what_the_models_do_that_new_rules_forbid(
    vfsmc: Run, tmp_path: Path
) -> None:
    """A document in which ->create must not block: the directory scenario
    that creates breaks it.  One in which ->create's i_rwsem is "no" does
    not: "no" in that column is "the caller need not hold it"."""
    text = FLATTENED.read_text()
    table = "all may block\n\nops\n\ni_rwsem(inode)\n\nlookup:"
    assert text.count(table) == 1
    new = tmp_path / "locking.txt"
    new.write_text(text.replace(table, table.replace("all may", "all except create may")))
    result = vfsmc("spec", "check", str(new), "--filter", "dirops/rmdir-vs")
    assert result.exit_code == 1, result.output
    assert (
        "dirops/rmdir-vs-create: T2 calls inode_operations.create and it blocks, which the "
        "rules forbid (rules: all except create may block)"
    ) in result.output
    assert "1 scenarios: 1 break the rules" in result.output
    assert text.count("create:\n\nexclusive") == 1
    new.write_text(text.replace("create:\n\nexclusive", "create:\n\nno"))
    unrequired = vfsmc("spec", "check", str(new), "--filter", "dirops/rmdir-vs")
    assert unrequired.exit_code == 0, unrequired.output
    assert "dirops/rmdir-vs-create: conforms" in unrequired.output
    same = vfsmc("spec", "check", str(FLATTENED), "--filter", "dirops/rmdir-vs")
    assert same.exit_code == 0, same.output
    assert "dirops/rmdir-vs-create: conforms" in same.output


def test_coverage_of_another_version_warns_about_what_it_lacks(vfsmc: Run, tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    coverage = specs / "coverage.toml"
    text = coverage.read_text()
    assert text.count("[tables.inode_operations.methods]\n") == 1
    coverage.write_text(
        text.replace(
            "[tables.inode_operations.methods]\n",
            '[tables.inode_operations.methods]\nfrobnicate = "gone in this version"\n',
        )
    )
    result = vfsmc("spec", "coverage", "--specs", str(specs))
    assert result.exit_code in (0, 1), result.output
    assert "explains inode_operations.frobnicate, which these rules do not have" in result.output


VFS_EXCERPT = ROOT / "tests" / "fixtures" / "spec" / "locking-vfs-excerpt.rst"


def test_spec_diff_against_a_newer_kernel_document(vfsmc: Run) -> None:
    """Sections of the vfs tree's locking.rst after 6.18 against the
    shipped rules: ->writepage, ->mount and ->remount_fs are gone,
    ->error_remove_page is ->error_remove_folio; dquot's ``-`` cell is the
    empty cell the rendered text has."""
    result = vfsmc("spec", "diff", str(SPECS / "locking.toml"), str(VFS_EXCERPT))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    for line in (
        "- super_operations.remount_fs: s_umount = write [method-removed]",
        "- file_system_type.mount: may block = yes [method-removed]",
        "- address_space_operations.writepage: folio locked = yes, unlocks (see below) "
        "[method-removed]",
        "~ address_space_operations.error_remove_page: error_remove_page -> "
        "error_remove_folio [method-renamed]",
        "~ address_space_operations.write_begin folio locked: locks the page -> "
        "locks the folio [cell-changed]",
        "~ dquot_operations (prose): More details about quota locking can be found in "
        "fs/dquot.c. -> More details about quota locking can be found in fs/quota/dquot.c. "
        "[prose-changed]",
    ):
        assert line in lines
    assert not any(line.startswith("~ dquot_operations.mark_dirty") for line in lines)
    assert not any("super_operations.statfs" in line for line in lines)


def test_spec_check_against_a_newer_kernel_document(vfsmc: Run) -> None:
    result = vfsmc("spec", "check", str(VFS_EXCERPT), "--filter", "writeback/write-vs-fsync")
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        "writeback/write-vs-fsync: T4 calls address_space_operations.writepage, "
        "which these rules lack (method-removed)",
        f"1 scenarios: 1 break the rules of {VFS_EXCERPT}; 0 changed rules no model exercises",
    ]
    renamed = vfsmc("spec", "check", str(VFS_EXCERPT), "--filter", "aops/memory-failure-vs-read")
    assert renamed.exit_code == 1, renamed.output
    assert renamed.output.splitlines()[0] == (
        "aops/memory-failure-vs-read: T1 calls address_space_operations.error_remove_page, "
        "which these rules lack (method-renamed to error_remove_folio)"
    )


def test_spec_check_says_a_table_the_document_lacks_is_missing(vfsmc: Run) -> None:
    """The excerpt has no dentry_operations table: the first call of one
    of its methods (->d_manage, ->d_real) says the table is missing (not
    "not a method of them"), and the table gets one line of its own,
    however many of its methods are called."""
    result = vfsmc("spec", "check", str(VFS_EXCERPT), "--filter", "dcache/")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    first = re.compile(
        r"dcache/automount: T\d calls dentry_operations\.d_\w+, but these rules lack the "
        r"dentry_operations table \(table-removed\)"
    )
    assert any(first.fullmatch(line) for line in lines), lines
    assert not any("not a method of them" in line for line in lines)
    missing = [line for line in lines if line.startswith("these rules lack")]
    assert missing == [
        "these rules lack the dentry_operations table (table-removed): "
        "10 scenarios call its methods",
        "these rules lack the inode_operations table (table-removed): 4 scenarios call its methods",
    ]
    one = vfsmc("spec", "check", str(VFS_EXCERPT), "--filter", "dcache/automount", "--json")
    assert json.loads(one.output)["missing_tables"] == [
        {"table": "dentry_operations", "scenarios": ["dcache/automount"]}
    ]


def test_the_readme_says_what_spec_diff_and_check_print_on_the_excerpt(
    vfsmc: Run, shipped: Registry
) -> None:
    """The README's run of spec check on the excerpt is what it prints:
    its lines in order, its counts, and the summary of spec diff."""
    readme = (ROOT / "README.md").read_text()
    flat = " ".join(readme.replace("`", "").split())
    typed = "tests/fixtures/spec/locking-vfs-excerpt.rst"
    block = readme.split(f"$ vfsmc spec check {typed}\n", 1)[1].split("```", 1)[0]
    result = vfsmc("spec", "check", str(VFS_EXCERPT))
    assert result.exit_code == 1, result.output
    out = result.output.replace(str(VFS_EXCERPT), typed).splitlines()
    shown = block.splitlines()
    assert [line for line in shown if not line.startswith("...")] == [
        line for line in out if line in shown
    ]
    last = max(i for i, line in enumerate(shown) if line.startswith("..."))
    assert shown[last + 1 :] == out[-len(shown[last + 1 :]) :]
    removed = sum("(method-re" in line for line in out)
    missing = sum("(table-removed)" in line and ": T" in line for line in out)
    conforming = sum(line.endswith(": conforms") for line in out)
    assert (
        f"({removed} scenarios whose first call these rules forbid is ->writepage, ->mount, "
        f"->remount_fs or ->error_remove_page, {missing} one of a missing table, "
        f"{conforming} conforming)"
    ) in block
    renamed = {
        "address_space_operations.writepage",
        "file_system_type.mount",
        "super_operations.remount_fs",
        "address_space_operations.error_remove_page",
    }
    calling = [
        name
        for name, scenario in shipped.scenarios.items()
        if any(
            renamed & step.tags
            for thread in shipped.build(scenario).threads
            for step in thread.program.steps
        )
    ]
    assert (
        f"{len(calling)} of the {len(shipped.scenarios)} scenarios have a step that calls "
        f"->writepage, ->mount, ->remount_fs or ->error_remove_page"
    ) in flat
    diffed = vfsmc("spec", "diff", str(SPECS / "locking.toml"), str(VFS_EXCERPT))
    summary = diffed.output.splitlines()[-1]
    total = sum(int(count.split(": ")[1]) for count in summary.split(", "))
    assert f"finds {total} changes ({summary}" in flat


def test_spec_check_names_the_rules_it_cannot_read(vfsmc: Run, tmp_path: Path) -> None:
    """A value the vocabulary does not know, in a row a model calls, is
    listed as not checked rather than passed over."""
    text = VFS_EXCERPT.read_text()
    row = "write_begin:\t\tlocks the folio\t\t exclusive\n"
    assert text.count(row) == 1
    new = tmp_path / "locking.rst"
    new.write_text(text.replace(row, "write_begin:\t\tlocks the folio\t\t exclusiv\n"))
    result = vfsmc("spec", "check", str(new), "--filter", "writeback/write-vs-fsync")
    assert (
        "not checked: address_space_operations.write_begin: "
        "i_rwsem = exclusiv (not in the vocabulary)"
    ) in result.output.splitlines(), result.output
    assert result.output.endswith("; 1 rules not checked\n")


@needs_document
def test_spec_check_names_a_rule_it_cannot_place_on_the_call(vfsmc: Run, tmp_path: Path) -> None:
    """A rule NEW gives ->link on an object the role map places on none of
    link's arguments is listed as not checked, not passed over."""
    text = FLATTENED.read_text()
    sentence = "->unlink() and ->rename() have ->i_rwsem exclusive on all non-directories involved."
    assert text.count(sentence) == 1
    new = tmp_path / "locking.txt"
    new.write_text(text.replace(sentence, f"->link(), {sentence}"))
    result = vfsmc("spec", "check", str(new), "--filter", "dirops/rename-rmdir-link")
    assert (
        "not checked: inode_operations.link: ->link(), ->unlink() and ->rename() have ->i_rwsem "
        "exclusive on all non-directories involved. (object 'all non-directories involved' not "
        "in specs/conformance.toml)"
    ) in result.output.splitlines(), result.output
    assert result.output.endswith("; 1 rules not checked\n")


def test_a_column_the_vocabulary_does_not_describe_is_not_checked_not_passed(
    vfsmc: Run, tmp_path: Path
) -> None:
    """An empty vocabulary understands no column: every rule is listed as
    not checked, none is passed over as if it held."""
    (tmp_path / "empty.toml").write_text("")
    rules = str(ROOT / "specs" / "locking.toml")
    result = vfsmc("spec", "check", rules, "--filter", "namei", "--vocabulary", "empty.toml")
    assert result.exit_code == 0, result.output
    assert (
        "not checked: xattr_handler.set: i_rwsem(inode) = exclusive (column not in the vocabulary)"
        in result.output.splitlines()
    )
    summary = result.output.splitlines()[-1]
    assert summary.endswith("rules not checked") and " 0 rules not checked" not in summary


def test_spec_errors_name_the_specs_file_they_come_from(vfsmc: Run, tmp_path: Path) -> None:
    """With an empty conformance.toml the models' roles are unknown, and
    with an empty vocabulary the waivers waive nothing: each error names
    the file of the --specs directory it comes from."""
    expected = {
        "conformance": "'s roles in conformance/conformance.toml: none)",
        "vocabulary": "vfsmc: error: vocabulary/conformance.toml: waivers, variant ",
    }
    for name, words in expected.items():
        shutil.copytree(ROOT / "specs", tmp_path / name)
        (tmp_path / name / f"{name}.toml").write_text("")
        result = vfsmc("spec", "coverage", "--specs", name)
        assert result.exit_code == 2, result.output
        assert words in result.output, result.output


def test_spec_check_takes_the_scenarios_of_model_files_too(vfsmc: Run, tmp_path: Path) -> None:
    """A scenario of one's own is checked against another version of the
    document as the shipped ones are: against an excerpt without the
    inode_operations table, its create breaks the rules."""
    (tmp_path / "mine.py").write_text(
        "from mc.dsl import scenario\n"
        "from mc.models.dirops import create\n"
        'scenario("my/create", "one create", tree=["/a/"], threads=[create("/a/x")])\n'
    )
    result = vfsmc("spec", "check", str(VFS_EXCERPT), "--models", "mine.py", "--filter", "my/")
    assert result.exit_code == 1, result.output
    assert (
        "my/create: T1 calls inode_operations.create, but these rules lack the "
        "inode_operations table (table-removed)"
    ) in result.output
    assert "1 scenarios: 1 break the rules" in result.output


@pytest.mark.parametrize(
    ("file", "edit", "words"),
    [
        ("conformance", "columns = 'i_rwsem'\n", "field columns: must be a table, not str"),
        ("conformance", "[columns]\nxattr_handler = 'i_rwsem'\n", "field columns.xattr_handler"),
        ("conformance", "objects = 3\n", "field objects: must be a table, not int"),
        ("conformance", "waivers = [1]\n", "field waivers: must be a table, not list"),
        ("coverage", "tables = 'none'\n", "field tables: must be a table"),
        (
            "coverage",
            "[tables.inode_operations]\nmethods = 'truncate'\n",
            "table inode_operations, field methods: must be a table",
        ),
        (
            "vocabulary",
            "[tables.inode_operations.columns.i_rwsem]\nkind = ['lock']\n",
            "field kind: must be one of",
        ),
        ("vocabulary", "[tables.inode_operations]\ncolumns = 1\n", "field columns: must be a"),
        ("vocabulary", "[tables.inode_operations]\nplacement = 'x'\n", "field placement"),
    ],
)
def test_a_spec_file_whose_table_is_of_another_type_is_one_line(
    vfsmc: Run, tmp_path: Path, file: str, edit: str, words: str
) -> None:
    """A field that must be a table but holds a string, a number or a list
    is bad input: one line naming the file and the field, exit 2 (it was
    an internal error)."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    (tmp_path / "specs" / f"{file}.toml").write_text(edit)
    result = vfsmc("spec", "coverage", "--specs", "specs")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"specs/{file}.toml" in lines[0], result.output
    assert words in lines[0], result.output
