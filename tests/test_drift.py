"""``vfsmc drift``: the models against a kernel tree.  The trees are the
project's own small C files in the kernel's shapes (tests/fixtures/kernel):
``in-step`` follows what the rename and write models do, ``drifted`` has
five planted changes, and single changes are planted here in a copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mc.check import csource, drift, guards
from mc.check.registry import shipped_modules
from mc.dsl.operation import Operation
from mc.dsl.scenario import Registry

KERNEL = Path(__file__).resolve().parent / "fixtures" / "kernel"
IN_STEP = KERNEL / "in-step"
DRIFTED = KERNEL / "drifted"


def findings(result: Result) -> set[tuple[str, str, str]]:
    """(operation, kind, kernel location) of each finding line."""
    found = set()
    for line in result.output.splitlines():
        parts = line.split(": ", 3)
        if len(parts) == 4 and parts[1] not in ("in step", "not compared"):
            found.add((parts[0], parts[1], parts[2]))
    return found


def test_the_in_step_tree_is_in_step(vfsmc: Callable[..., Result]) -> None:
    result = vfsmc("drift", "--kernel", str(IN_STEP), "rename", "write")
    assert result.exit_code == 0, result.output
    assert findings(result) == set()
    assert "rename: in step: 23 kernel calls in do_renameat2()" in result.output
    assert (
        "write: in step: 26 kernel calls in vfs_write(), generic_file_write_iter()" in result.output
    )
    assert result.output.endswith("0 findings in 2 operations\n")


def test_each_planted_change_is_found_and_nothing_else(vfsmc: Callable[..., Result]) -> None:
    result = vfsmc("drift", "--kernel", str(DRIFTED), "rename", "write")
    assert result.exit_code == 1, result.output
    assert findings(result) == {
        ("rename", "function-renamed", "fs/inode.c:3"),
        ("rename", "lock-removed", "fs/namei.c:64"),
        ("rename", "lock-reordered", "fs/namei.c:61"),
        ("write", "lock-added", "mm/filemap.c:56"),
        ("write", "method-missing", "mm/filemap.c:43"),
    }
    lines = result.output.splitlines()
    assert any(
        "lock_two_nondirectories() (read in 6.12) is gone; read lock_two_nondirs()" in line
        for line in lines
    )
    assert any(
        line.startswith("rename: lock-removed") and "inode_lock(source) after" in line
        for line in lines
    )
    assert any(
        line.startswith("write: lock-added: mm/filemap.c:56: sb_start_write(inode->i_sb) after")
        for line in lines
    )
    assert any("inode->i_op->update_time(" in line for line in lines)


PLANTS = {
    "removed lock": (
        "fs/namei.c",
        "\t\tinode_lock_nested(target, I_MUTEX_CHILD);\n\t\tinode_lock(source);\n",
        "\t\tinode_lock_nested(target, I_MUTEX_CHILD);\n",
        {("rename", "lock-removed")},
    ),
    "added lock": (
        "fs/dcache.c",
        "\twrite_seqlock(&rename_lock);\n\t__d_move(dentry, target, false);",
        "\twrite_seqlock(&rename_lock);\n\tinode_lock(target->d_inode);\n"
        "\t__d_move(dentry, target, false);",
        {("rename", "lock-added")},
    ),
    "reordering": (
        "fs/inode.c",
        "\tif (inode1)\n\t\tinode_lock(inode1);\n"
        "\tif (inode2 && inode2 != inode1)\n\t\tinode_lock_nested(inode2, I_MUTEX_NONDIR2);\n",
        "\tif (inode2 && inode2 != inode1)\n\t\tinode_lock_nested(inode2, I_MUTEX_NONDIR2);\n"
        "\tif (inode1)\n\t\tinode_lock(inode1);\n",
        {("rename", "lock-reordered")},
    ),
    "renamed function": (
        "mm/filemap.c",
        "generic_perform_write(",
        "generic_perform_buffered_write(",
        {("write", "function-renamed")},
    ),
    "gone function": (
        "fs/libfs.c",
        "int simple_write_end(",
        "int libfs_commit_write(",
        {("write", "function-gone")},
    ),
    "missing method call": (
        "mm/filemap.c",
        "\tinode_lock(inode);\n",
        "\tinode_lock(inode);\n\tinode->i_op->update_time(inode, S_MTIME);\n",
        {("write", "method-missing")},
    ),
    "prefault under the folio lock": (
        "mm/filemap.c",
        "\t\tif (unlikely(status < 0))\n\t\t\tbreak;\n\t\tcopied =",
        "\t\tif (unlikely(status < 0))\n\t\t\tbreak;\n"
        "\t\tmmap_read_lock(current->mm);\n\t\tcopied =",
        {("write", "lock-added")},
    ),
    "a second inode lock where only a goto goes": (
        "mm/filemap.c",
        "\t\tfolio_mark_accessed(folio);\n\nno_page:\n",
        "\t\tfolio_mark_accessed(folio);\n\treturn folio;\n\nno_page:\n"
        "\tinode_lock(mapping->host);\n",
        {("write", "lock-added")},
    ),
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_one_planted_change_one_kind_of_finding(
    plant: str, tmp_path: Path, vfsmc: Callable[..., Result]
) -> None:
    path, old, new, expected = PLANTS[plant]
    tree = tmp_path / "tree"
    shutil.copytree(IN_STEP, tree)
    text = (tree / path).read_text()
    assert old in text
    (tree / path).write_text(text.replace(old, new))
    result = vfsmc("drift", "--kernel", str(tree), "rename", "write")
    assert result.exit_code == 1, result.output
    assert {(op, kind) for op, kind, _ in findings(result)} == expected, result.output
    assert len(findings(result)) == 1, result.output


def test_code_only_a_goto_reaches_is_read(tmp_path: Path, vfsmc: Callable[..., Result]) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(IN_STEP, tree)
    path = tree / "mm" / "filemap.c"
    old = "\t\tfolio_mark_accessed(folio);\n\nno_page:\n"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, old.replace("\n\n", "\n\treturn folio;\n\n")))
    result = vfsmc("drift", "--kernel", str(tree), "write")
    assert result.exit_code == 0, result.output
    assert result.output.endswith("0 findings in 1 operation\n")


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, vfsmc: Callable[..., Result]) -> None:
    missing = vfsmc("drift", "--kernel", str(tmp_path / "nowhere"), "rename")
    assert missing.exit_code == 2
    assert missing.output == f"vfsmc: error: {tmp_path / 'nowhere'}: no such directory\n"
    (tmp_path / "notes.txt").write_text("not a tree\n")
    a_file = vfsmc("drift", "--kernel", str(tmp_path / "notes.txt"), "rename")
    assert a_file.exit_code == 2
    assert a_file.output == (
        f"vfsmc: error: {tmp_path / 'notes.txt'}: not a directory "
        "(--kernel is the root of a kernel tree)\n"
    )
    empty = vfsmc("drift", "--kernel", str(tmp_path), "rename")
    assert empty.exit_code == 2
    assert "holds none of the cited files" in empty.output
    unknown = vfsmc("drift", "--kernel", str(IN_STEP), "renamex")
    assert unknown.exit_code == 2
    assert "unknown operation 'renamex'" in unknown.output
    typo = vfsmc("drift", "--kernel", str(IN_STEP), "renmae")
    assert typo.exit_code == 2
    assert typo.output.count("\n") == 1 and len(typo.output) < 200
    assert "did you mean rename" in typo.output and "vfsmc ops" in typo.output
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "namei.c").write_bytes(b"\x7fELF\0\0binary")
    binary = vfsmc("drift", "--kernel", str(tmp_path), "rename")
    assert binary.exit_code == 2
    assert binary.output.count("\n") == 1
    assert "fs/namei.c" in binary.output and "not a text file" in binary.output


def test_every_shipped_operation_cites_its_kernel_functions(shipped: Registry) -> None:
    operations = drift.select(shipped, (), shipped_modules())
    assert len(operations) > 20
    for operation in operations:
        assert isinstance(operation, Operation)
        assert operation.cites, f"{operation.name} cites no kernel function"
        for cite in operation.cites:
            assert cite.file.endswith((".c", ".h")) and "/" in cite.file, cite
            assert cite.function.isidentifier(), cite
            assert cite.version[0].isdigit(), cite


def _reading(
    tmp_path: Path, source: str, cited: tuple[str, ...] = ("f",)
) -> tuple[csource.Reading, csource.SourceFile]:
    (tmp_path / "a.c").write_text(source)
    tree = csource.Extractor(tmp_path)
    parsed = tree.file("a.c")
    assert parsed is not None
    return csource.Reading(tree, {name: parsed.functions[name] for name in cited}), parsed


def test_static_helpers_are_followed_one_level_down(tmp_path: Path) -> None:
    reading, parsed = _reading(
        tmp_path,
        """
static void deeper(struct inode *i) { spin_lock(&i->i_lock); }
static void helper(struct inode *i) { mutex_lock(&i->m); deeper(i); }
void exported(struct inode *i) { down_write(&i->s); }
void f(struct inode *i)
{
	inode_lock(i);
	helper(i);
	exported(i);
	i->i_op->rename(i);
	mapping->a_ops->write_begin(i);
	inode_unlock(i);
}
""",
    )
    calls, _ = reading.calls(parsed.functions["f"])
    assert [(c.kind, c.key, c.function) for c in calls] == [
        ("lock", "inode_lock", "f"),
        ("lock", "mutex_lock", "helper"),
        ("method", "inode_operations.rename", "f"),
        ("method", "address_space_operations.write_begin", "f"),
        ("unlock", "inode_unlock", "f"),
    ]


def test_paths_keep_branches_apart(tmp_path: Path) -> None:
    reading, parsed = _reading(
        tmp_path,
        """
void f(struct inode *a, struct inode *b)
{
	if (a < b) {
		inode_lock(a);
		inode_lock_nested(b, I_MUTEX_NONDIR2);
	} else {
		inode_lock(b);
		inode_lock_nested(a, I_MUTEX_NONDIR2);
	}
	if (!a)
		return;
	down_read(&a->sem);
}
""",
    )
    orders = {tuple(step.call for step in path) for path in reading.orders(parsed.functions["f"])}
    assert orders == {
        ("inode_lock(a)", "inode_lock_nested(b,I_MUTEX_NONDIR2)"),
        ("inode_lock(b)", "inode_lock_nested(a,I_MUTEX_NONDIR2)"),
        ("inode_lock(a)", "inode_lock_nested(b,I_MUTEX_NONDIR2)", "down_read(&a->sem)"),
        ("inode_lock(b)", "inode_lock_nested(a,I_MUTEX_NONDIR2)", "down_read(&a->sem)"),
    }


def test_what_a_cite_leaves_out_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "a.c").write_text("void f(void) { spin_lock(&l); inode_lock(i); spin_unlock(&l); }")
    tree = csource.Extractor(tmp_path)
    parsed = tree.file("a.c")
    assert parsed is not None
    reading = csource.Reading(
        tree, {"f": parsed.functions["f"]}, {"f": frozenset({"spin_lock", "spin_unlock"})}
    )
    assert [c.key for c in reading.calls(parsed.functions["f"])[0]] == ["inode_lock"]


def test_a_model_step_names_its_kernel_call() -> None:
    assert list(drift.label_calls("done_path_create(): inode_unlock(path->dentry->d_inode)")) == [
        ("unlock", "inode_unlock", "inode_unlock(path->dentry->d_inode)")
    ]
    assert list(drift.label_calls("inode_lock_nested(p1->d_inode, I_MUTEX_PARENT) /* x */")) == [
        (
            "lock",
            "inode_lock_nested(I_MUTEX_PARENT)",
            "inode_lock_nested(p1->d_inode,I_MUTEX_PARENT)",
        )
    ]
    assert list(drift.label_calls("copied = copy_folio_from_iter_atomic(folio)")) == []


def test_the_readme_shows_the_fixture_runs_as_they_are(vfsmc: Callable[..., Result]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for tree in ("in-step", "drifted"):
        command = f"$ vfsmc drift --kernel tests/fixtures/kernel/{tree} rename write\n"
        assert command in readme
        shown = readme.split(command, 1)[1].split("$ ", 1)[0].split("```", 1)[0]
        result = vfsmc("drift", "--kernel", str(KERNEL / tree), "rename", "write")
        assert result.output == shown


def _paths(tmp_path: Path, source: str) -> set[tuple[str, ...]]:
    reading, parsed = _reading(tmp_path, source)
    return {tuple(step.call for step in path) for path in reading.orders(parsed.functions["f"])}


def test_a_goto_goes_on_at_its_label(tmp_path: Path) -> None:
    assert _paths(
        tmp_path,
        """
int f(struct inode *dir, struct inode *inode)
{
	int err;

	inode_lock(dir);
	err = may_create(dir);
	if (err)
		goto out_unlock;
	inode_lock_nested(inode, I_MUTEX_CHILD);
	err = do_it(inode);
	if (err)
		goto out_undo;
	inode_unlock(inode);
	inode_unlock(dir);
	return 0;

out_undo:
	spin_lock(&inode->i_lock);
	inode->i_state |= I_DIRTY;
	spin_unlock(&inode->i_lock);
	inode_unlock(inode);
out_unlock:
	inode_unlock(dir);
	return err;
}
""",
    ) == {
        ("inode_lock(dir)",),
        ("inode_lock(dir)", "inode_lock_nested(inode,I_MUTEX_CHILD)"),
        ("inode_lock(dir)", "inode_lock_nested(inode,I_MUTEX_CHILD)", "spin_lock(&inode->i_lock)"),
    }


def test_a_jump_back_is_taken_once_per_path(tmp_path: Path) -> None:
    assert _paths(
        tmp_path,
        """
struct folio *f(struct address_space *mapping, pgoff_t index)
{
	struct folio *folio;

repeat:
	folio = filemap_get_entry(mapping, index);
	folio_lock(folio);
	if (unlikely(folio->mapping != mapping)) {
		folio_unlock(folio);
		folio_put(folio);
		goto repeat;
	}
	return folio;
}
""",
    ) == {("folio_lock(folio)",), ("folio_lock(folio)", "folio_lock(folio)")}


def test_labels_that_jump_to_each_other_end(tmp_path: Path) -> None:
    assert _paths(
        tmp_path,
        """
void f(struct super_block *sb)
{
again:
	spin_lock(&sb_lock);
	if (busy(sb)) {
		spin_unlock(&sb_lock);
		goto retry;
	}
	spin_unlock(&sb_lock);
retry:
	down_read(&sb->s_umount);
	if (dying(sb)) {
		up_read(&sb->s_umount);
		goto again;
	}
	up_read(&sb->s_umount);
}
""",
    ) == {
        ("spin_lock(&sb_lock)", "down_read(&sb->s_umount)"),
        ("spin_lock(&sb_lock)", "down_read(&sb->s_umount)", "spin_lock(&sb_lock)"),
        (
            "spin_lock(&sb_lock)",
            "down_read(&sb->s_umount)",
            "spin_lock(&sb_lock)",
            "down_read(&sb->s_umount)",
        ),
    }


def test_a_label_in_a_loop_goes_on_after_the_loop(tmp_path: Path) -> None:
    assert _paths(
        tmp_path,
        """
void f(struct folio_batch *fbatch, struct address_space *mapping)
{
	int i;

	for (i = 0; i < folio_batch_count(fbatch); i++) {
		struct folio *folio = fbatch->folios[i];

		if (!folio_trylock(folio))
			goto next;
		folio_lock(folio);
next:
		folio_put(folio);
	}
	mutex_lock(&mapping->i_mmap_rwsem);
}
""",
    ) == {
        ("mutex_lock(&mapping->i_mmap_rwsem)",),
        ("folio_trylock(folio)", "mutex_lock(&mapping->i_mmap_rwsem)"),
        ("folio_trylock(folio)", "folio_lock(folio)", "mutex_lock(&mapping->i_mmap_rwsem)"),
    }


def test_a_local_pointer_to_the_address_space_operations_is_a_method_table(
    tmp_path: Path,
) -> None:
    reading, parsed = _reading(
        tmp_path,
        """
void f(struct folio *folio, size_t offset, size_t length)
{
	const struct address_space_operations *aops = folio->mapping->a_ops;

	if (aops->invalidate_folio)
		aops->invalidate_folio(folio, offset, length);
}
""",
    )
    calls, _ = reading.calls(parsed.functions["f"])
    assert [(c.kind, c.key) for c in calls] == [
        ("method", "address_space_operations.invalidate_folio")
    ]


def test_a_disks_fops_are_its_block_device_operations(tmp_path: Path) -> None:
    reading, parsed = _reading(
        tmp_path,
        """
int f(struct block_device *bdev, struct cdev *cdev, struct file *file)
{
	struct gendisk *disk = bdev->bd_disk;

	disk->fops->open(disk, 0);
	bdev->bd_disk->fops->release(disk);
	return cdev->fops->open(NULL, file);
}
""",
    )
    calls, _ = reading.calls(parsed.functions["f"])
    assert [(c.kind, c.key) for c in calls] == [
        ("method", "block_device_operations.open"),
        ("method", "block_device_operations.release"),
        ("method", "file_operations.open"),
    ]


def test_the_rounds_of_a_loop_count_once() -> None:
    def step(call: str) -> csource.Acquisition:
        return csource.Acquisition(call, call.split("(")[0], "a.c:1")

    order = tuple(
        map(
            step, ["inode_lock(i)", "folio_lock(f)", "folio_lock(f)", "xa_lock(x)", "folio_lock(f)"]
        )
    )
    kept = drift.once(order, lambda a: a.call)
    assert [a.call for a in kept] == [
        "inode_lock(i)",
        "folio_lock(f)",
        "xa_lock(x)",
        "folio_lock(f)",
    ]
    assert drift.once((step("inode_lock(a)"), step("inode_lock(b)")), lambda a: a.call) == (
        step("inode_lock(a)"),
        step("inode_lock(b)"),
    )


def test_a_cite_may_leave_out_one_call_as_written(tmp_path: Path) -> None:
    (tmp_path / "a.c").write_text(
        "void f(void) { spin_lock(&wb->list_lock); spin_lock(&inode->i_lock); }"
    )
    tree = csource.Extractor(tmp_path)
    parsed = tree.file("a.c")
    assert parsed is not None
    reading = csource.Reading(
        tree, {"f": parsed.functions["f"]}, {"f": frozenset({"spin_lock(&wb->list_lock)"})}
    )
    assert [c.call for c in reading.calls(parsed.functions["f"])[0]] == [
        "spin_lock(&inode->i_lock)"
    ]
    assert {tuple(a.call for a in o) for o in reading.orders(parsed.functions["f"])} == {
        ("spin_lock(&inode->i_lock)",)
    }


def test_the_sleeping_half_of_folio_lock_is_read_as_folio_lock(tmp_path: Path) -> None:
    reading, parsed = _reading(
        tmp_path,
        """
int f(struct vm_fault *vmf, struct folio *folio)
{
	if (folio_trylock(folio))
		return 1;
	if (vmf->flags & FAULT_FLAG_KILLABLE) {
		if (__folio_lock_killable(folio))
			return 0;
	} else
		__folio_lock(folio);
	return 1;
}
""",
    )
    calls, _ = reading.calls(parsed.functions["f"])
    assert [(c.key, c.call) for c in calls] == [
        ("folio_trylock", "folio_trylock(folio)"),
        ("folio_lock", "__folio_lock_killable(folio)"),
        ("folio_lock", "__folio_lock(folio)"),
    ]


def test_the_summary_gives_each_operation_one_status(vfsmc: Callable[..., Result]) -> None:
    drifted = vfsmc("drift", "--summary", "--kernel", str(DRIFTED), "rename", "write")
    assert drifted.exit_code == 1, drifted.output
    assert drifted.output.splitlines() == [
        "rename: cited function missing (1 of 8 cited functions, 3 findings): "
        "lock_two_nondirectories() -> lock_two_nondirs()",
        "write: drifted (12 cited functions, 2 findings)",
        "2 operations: 0 in step, 1 drifted, 1 cited function missing, 0 not compared",
        "20 kernel functions cited by the 2 operations compared: 1 missing; 5 findings",
    ]
    in_step = vfsmc("drift", "--summary", "--kernel", str(IN_STEP), "rename", "write")
    assert in_step.exit_code == 0, in_step.output
    assert in_step.output.splitlines() == [
        "rename: in step (8 cited functions)",
        "write: in step (12 cited functions)",
        "2 operations: 2 in step, 0 drifted, 0 cited function missing, 0 not compared",
        "20 kernel functions cited by the 2 operations compared: 0 missing; 0 findings",
    ]


def test_the_summary_counts_kernel_functions_once_each(vfsmc: Callable[..., Result]) -> None:
    """A file the tree lacks is one finding however many cited functions
    it holds: the summary counts the functions, and a function two
    operations cite once in the totals; an operation not compared cites
    none of them."""
    names = ("rename", "rename_want_write", "write_fd", "create_want_write")
    result = vfsmc("drift", "--summary", "--kernel", str(DRIFTED), *names)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[1] == (
        "rename_want_write: cited function missing (3 of 10 cited functions, 2 findings): "
        "mnt_want_write() (no fs/namespace.c), mnt_drop_write() (no fs/namespace.c), "
        "lock_two_nondirectories() -> lock_two_nondirs()"
    )
    assert lines[3] == "create_want_write: not compared (no scenario runs it)"
    assert lines[-2:] == [
        "4 operations: 0 in step, 0 drifted, 3 cited function missing, 1 not compared",
        "25 kernel functions cited by the 3 operations compared: 6 missing; 8 findings",
    ]


def test_a_cited_file_the_tree_lacks_is_missing(
    tmp_path: Path, vfsmc: Callable[..., Result]
) -> None:
    tree = tmp_path / "linux"
    shutil.copytree(IN_STEP, tree)
    (tree / "fs" / "inode.c").unlink()
    result = vfsmc("drift", "--summary", "--kernel", str(tree), "rename")
    assert result.exit_code == 1, result.output
    assert result.output.startswith(
        "rename: cited function missing (1 of 8 cited functions, 2 findings): "
        "lock_two_nondirectories() (no fs/inode.c)"
    )
    full = vfsmc("drift", "--kernel", str(tree), "rename")
    assert findings(full) == {
        ("rename", "function-gone", "fs/inode.c"),
        ("rename", "lock-added", "fs/namei.c:67"),
    }, "the model's inode_lock(source) may be in the function that is gone: not removed"


def test_a_header_wrapper_is_read_as_the_call_it_wraps(tmp_path: Path) -> None:
    """``file_start_write()`` is an inline of include/linux/fs.h: where the
    tree defines no function of that name (``wrappers/``, in the shape of
    ``vfs_fallocate()``) it is read as ``sb_start_write()``; a static helper
    of that name (``in-step/``'s ``vfs_write()``) is followed."""
    tree = csource.Extractor(KERNEL / "wrappers")
    parsed = tree.file("fs/open.c")
    assert parsed is not None
    function = parsed.functions["vfs_fallocate"]
    reading = csource.Reading(tree, {"vfs_fallocate": function})
    calls, _ = reading.calls(function)
    assert [(c.kind, c.key, c.call) for c in calls] == [
        ("lock", "sb_start_write", "file_start_write(file)"),
        ("method", "file_operations.fallocate", ""),
        ("unlock", "sb_end_write", "file_end_write(file)"),
    ]
    reading, parsed = _reading(
        tmp_path,
        """
static void file_start_write(struct file *file) { down_read(&file->f_lock); }
long f(struct file *file) { file_start_write(file); return 0; }
""",
    )
    assert [c.key for c in reading.calls(parsed.functions["f"])[0]] == ["down_read"]


def test_a_label_naming_a_wrapper_and_its_call_counts_once() -> None:
    label = "vfs_write(): file_start_write(file): sb_start_write(file_inode(file)->i_sb)"
    assert list(drift.label_calls(label)) == [
        ("lock", "sb_start_write", "sb_start_write(file_inode(file)->i_sb)")
    ]
    assert list(drift.label_calls("file_end_write(file)")) == [
        ("unlock", "sb_end_write", "file_end_write(file)")
    ]


def test_the_readme_shows_the_summary_as_it_is(vfsmc: Callable[..., Result]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    command = "$ vfsmc drift --summary --kernel tests/fixtures/kernel/drifted rename write\n"
    assert command in readme
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    result = vfsmc("drift", "--summary", "--kernel", str(DRIFTED), "rename", "write")
    assert result.output == shown


def test_a_local_pointer_to_a_method_table_is_read_as_the_table() -> None:
    """``sop->put_super()``, ``sop`` a local ``const struct
    super_operations *`` (``tables/``, in the shape of
    ``generic_shutdown_super()``), or a parameter of that type, is the
    method call ``super_operations.put_super``."""
    tree = csource.Extractor(KERNEL / "tables")
    parsed = tree.file("fs/super.c")
    assert parsed is not None
    cited = {
        name: parsed.functions[name] for name in ("generic_shutdown_super", "alloc_inode_with")
    }
    reading = csource.Reading(tree, cited)
    shutdown, _ = reading.calls(cited["generic_shutdown_super"])
    assert [(c.kind, c.key) for c in shutdown] == [
        ("method", "super_operations.put_super"),
        ("lock", "spin_lock"),
        ("unlock", "spin_unlock"),
    ]
    alloc, _ = reading.calls(cited["alloc_inode_with"])
    assert [(c.kind, c.key) for c in alloc] == [("method", "super_operations.alloc_inode")]


def test_a_spinlock_section_stands_for_the_release_of_its_lock(shipped: Registry) -> None:
    """A section step (lock, effect, unlock as one step) whose label names
    ``xa_lock_irq(&mapping->i_pages)`` is also the ``xa_unlock_irq()`` the
    kernel makes after the effect (``__remove_mapping()`` in reclaim)."""
    assert drift.release_of("xa_lock_irq") == "xa_unlock_irq"
    assert drift.release_of("spin_lock_irqsave") == "spin_unlock_irqrestore"
    assert drift.release_of("spin_lock_nested") == "spin_unlock"
    assert drift.release_of("write_seqlock") == "write_sequnlock"
    assert drift.release_of("down_read") == "up_read"
    (program, *_) = drift.programs_of(shipped, ["reclaim"])["reclaim"]
    calls = [
        (call.kind, call.key)
        for step in program.steps
        if "__remove_mapping(): xa_lock_irq" in step.label
        for call in drift.step_calls(step)
    ]
    assert calls == [("lock", "xa_lock_irq"), ("unlock", "xa_unlock_irq")]


def test_a_local_function_pointer_to_a_method_is_read_as_the_method() -> None:
    """``release(folio)``, ``release`` a local function pointer given
    ``mapping->a_ops->free_folio`` (``tables/mm/vmscan.c``, in the shape
    of ``__remove_mapping()``), or declared with ``inode->i_op->get_link``
    as its initializer, is the method call."""
    tree = csource.Extractor(KERNEL / "tables")
    parsed = tree.file("mm/vmscan.c")
    assert parsed is not None
    cited = {name: parsed.functions[name] for name in ("drop_folio", "link_body")}
    reading = csource.Reading(tree, cited)
    dropped, _ = reading.calls(cited["drop_folio"])
    assert [(c.kind, c.key) for c in dropped] == [
        ("lock", "xa_lock_irq"),
        ("unlock", "xa_unlock_irq"),
        ("method", "address_space_operations.free_folio"),
    ]
    body, _ = reading.calls(cited["link_body"])
    assert [(c.kind, c.key) for c in body] == [("method", "inode_operations.get_link")]


def test_initializers_and_flag_changes_are_not_lock_calls() -> None:
    """``spin_lock_init()`` initializes a lock and
    ``sb_start_ro_state_change()`` flags a remount (``notlocks/``, in the
    shapes of ``alloc_super()`` and ``reconfigure_super()``): neither is a
    lock call; ``down_write_nested()`` beside them is."""
    tree = csource.Extractor(KERNEL / "notlocks")
    parsed = tree.file("fs/super.c")
    assert parsed is not None
    cited = {name: parsed.functions[name] for name in ("new_super", "change_ro")}
    reading = csource.Reading(tree, cited)
    made, _ = reading.calls(cited["new_super"])
    assert [(c.kind, c.key) for c in made] == [("lock", "down_write_nested(SINGLE_DEPTH_NESTING)")]
    changed, _ = reading.calls(cited["change_ro"])
    assert changed == []
    assert not csource.LOCK_CALL.match("mmap_assert_locked")
    assert csource.LOCK_CALL.match("sb_start_write_trylock")


GUARDS = KERNEL / "guards"


def _guarded(name: str) -> tuple[list[tuple[str, str, int]], set[tuple[str, ...]]]:
    """The calls (kind, call, line) and the paths of ``name`` in
    ``guards/fs/mount.c``."""
    tree = csource.Extractor(GUARDS)
    parsed = tree.file("fs/mount.c")
    assert parsed is not None
    function = parsed.functions[name]
    reading = csource.Reading(tree, {name: function})
    calls = [(c.kind, c.call, c.line) for c in reading.calls(function)[0]]
    return calls, {tuple(step.call for step in path) for path in reading.orders(function)}


def test_a_guard_holds_its_lock_to_every_exit_of_its_block() -> None:
    """``guard(table_excl)();``, a class the file defines with
    ``DEFINE_LOCK_GUARD_0`` as a static helper's calls, is read as that
    helper's ``down_write()`` where it stands: on the early return's path
    and on the path that goes on; its release ends the block."""
    calls, paths = _guarded("set_flags")
    assert calls == [
        ("lock", "down_write(&table_sem)", 9),
        ("lock", "mutex_lock(&mnt->m)", 42),
        ("unlock", "mutex_unlock(&mnt->m)", 43),
        ("unlock", "up_write(&table_sem)", 14),
    ]
    assert paths == {
        ("down_write(&table_sem)",),
        ("down_write(&table_sem)", "mutex_lock(&mnt->m)"),
    }


def test_a_scoped_guard_is_left_by_a_goto_and_at_its_end() -> None:
    """``scoped_guard(table_shared) {...}`` takes ``down_read()`` before
    its body and releases it after; a ``goto out`` inside it skips what
    follows the scope."""
    calls, paths = _guarded("count_mounts")
    assert calls == [
        ("lock", "down_read(&table_sem)", 51),
        ("lock", "spin_lock(&table->lock)", 55),
        ("unlock", "spin_unlock(&table->lock)", 56),
        ("unlock", "up_read(&table_sem)", 57),
        ("lock", "mutex_lock(&table->m)", 58),
        ("unlock", "mutex_unlock(&table->m)", 59),
    ]
    assert paths == {
        ("down_read(&table_sem)",),
        ("down_read(&table_sem)", "spin_lock(&table->lock)", "mutex_lock(&table->m)"),
    }


def test_a_class_the_tree_defines_is_read_from_its_definition() -> None:
    """``include/linux/fs.h`` of the fixture defines ``super_write`` and
    ``inode_excl`` (``DEFINE_GUARD``) and ``inode_excl_try``
    (``DEFINE_GUARD_COND``, released as ``inode_excl``); a scoped guard of a
    conditional class may skip its body."""
    calls, paths = _guarded("truncate_file")
    assert calls == [
        ("lock", "sb_start_write(inode->i_sb)", 70),
        ("unlock", "sb_end_write(inode->i_sb)", 71),
    ]
    assert paths == {(), ("sb_start_write(inode->i_sb)",)}
    calls, paths = _guarded("touch_inode")
    assert calls == [
        ("lock", "down_write_trylock(&inode->i_rwsem)", 95),
        ("unlock", "up_write(&inode->i_rwsem)", 98),
        ("lock", "down_write(&inode->i_rwsem)", 99),
        ("unlock", "up_write(&inode->i_rwsem)", 102),
    ]
    assert paths == {
        ("down_write_trylock(&inode->i_rwsem)",),
        ("down_write_trylock(&inode->i_rwsem)", "down_write(&inode->i_rwsem)"),
    }


def test_a_scoped_cond_guard_runs_its_failure_statement_instead_of_its_body() -> None:
    calls, paths = _guarded("wait_for_table")
    assert calls == [
        ("lock", "mutex_lock_interruptible(&table->m)", 76),
        ("lock", "spin_lock(&table->lock)", 77),
        ("unlock", "spin_unlock(&table->lock)", 78),
        ("unlock", "mutex_unlock(&table->m)", 79),
    ]
    assert paths == {
        ("mutex_lock_interruptible(&table->m)",),
        ("mutex_lock_interruptible(&table->m)", "spin_lock(&table->lock)"),
    }


def test_a_macro_declaring_a_cleanup_variable_is_read_as_its_expansion() -> None:
    """``PIN_POINT(pin, path)`` (the shape of fs/namespace.c's
    ``LOCK_MOUNT()``) expands to a ``__cleanup(unpin_point)`` variable and
    a call of ``pin_point()``: the helper's lock where it stands, the
    cleanup's release at the end of the block."""
    calls, paths = _guarded("attach")
    assert calls == [
        ("lock", "inode_lock(path->dentry->d_inode)", 22),
        ("lock", "down_write(&mnt->sem)", 88),
        ("unlock", "up_write(&mnt->sem)", 89),
        ("unlock", "inode_unlock(pin->point->d_inode)", 28),
    ]
    assert paths == {
        ("inode_lock(path->dentry->d_inode)",),
        ("inode_lock(path->dentry->d_inode)", "down_write(&mnt->sem)"),
    }


def test_guard_classes_fill_their_arguments_in() -> None:
    """The generic classes of the kernel's headers, and definitions read
    from text: ``_T`` is a ``DEFINE_GUARD``'s argument, ``_T->lock`` a
    ``DEFINE_LOCK_GUARD_1``'s, a conditional class released as its base."""
    assert guards.GENERIC["spinlock_irqsave"].calls(["&wb->list_lock"]) == (
        "spin_lock_irqsave(&wb->list_lock, flags)",
        "spin_unlock_irqrestore(&wb->list_lock, flags)",
    )
    assert guards.GENERIC["rwsem_write"].calls(["&sb->s_umount"]) == (
        "down_write(&sb->s_umount)",
        "up_write(&sb->s_umount)",
    )
    defined = guards.definitions(
        "#define DEFINE_GUARD(_name, _type, _lock, _unlock) \\\n\tnothing\n"
        "DEFINE_GUARD(sem, struct rw_semaphore *,\n\tdown_write(_T), up_write(_T))\n"
        "DEFINE_GUARD_COND(sem, _kill, down_write_killable(_T) == 0)\n",
        "x.h",
    )
    assert set(defined) == {"sem", "sem_kill"}
    classes = guards.Classes(defined)
    killable = classes.get("sem_kill")
    assert killable is not None and killable.conditional
    assert killable.calls(["&s"]) == ("down_write_killable(&s) == 0", "up_write(&s)")
    assert classes.get("no_such_class") is None


def test_a_guard_in_a_static_helper_is_read_as_its_definition() -> None:
    """A static helper is read one level down, its own helpers not; the
    static helpers a guard's definition calls (``table_lock()``) or a
    cleanup macro expands to (``pin_point()``) are what the guard does, and
    are read in a helper too."""
    calls, paths = _guarded("add_mount")
    assert calls == [
        ("lock", "down_write(&table_sem)", 9),
        ("lock", "inode_lock(path->dentry->d_inode)", 22),
        ("unlock", "inode_unlock(pin->point->d_inode)", 28),
        ("unlock", "up_write(&table_sem)", 14),
    ]
    assert paths == {("down_write(&table_sem)", "inode_lock(path->dentry->d_inode)")}


def test_a_scoped_guard_without_braces_holds_its_one_statement() -> None:
    """``scoped_guard(C) x = f();`` parses as a declaration of ``x`` and
    ``scoped_guard(C, y) v = 1;`` as an assignment holding an error: each
    is read as the guard around its one statement."""
    calls, paths = _guarded("look_twice")
    assert calls == [
        ("lock", "down_read(&table_sem)", 120),
        ("unlock", "up_read(&table_sem)", 121),
        ("lock", "spin_lock(&table->lock)", 122),
        ("unlock", "spin_unlock(&table->lock)", 123),
        ("lock", "mutex_lock(&table->m)", 124),
        ("unlock", "mutex_unlock(&table->m)", 125),
    ]
    assert paths == {("down_read(&table_sem)", "spin_lock(&table->lock)", "mutex_lock(&table->m)")}


def test_a_function_nested_deeper_than_vfsmc_reads_is_one_line(
    tmp_path: Path, vfsmc: Callable[..., Result]
) -> None:
    """A cited function whose blocks nest thousands deep (no kernel's do)
    is bad input, not a RecursionError."""
    tree = tmp_path / "deep"
    shutil.copytree(IN_STEP, tree)
    namei = tree / "fs" / "namei.c"
    deep = "{" * 3000 + "lock_rename(a, b);" + "}" * 3000
    namei.write_text(
        namei.read_text().replace("int vfs_rename(", "int vfs_rename_unused(")
        + (f"\nint vfs_rename(struct renamedata *rd)\n{{\n{deep}\n}}\n")
    )
    result = vfsmc("drift", "--kernel", str(tree), "rename")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"vfsmc: error: {tree}/fs/namei.c: ")
    assert result.output.endswith("() nests its statements deeper than vfsmc reads C\n")
