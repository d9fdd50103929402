"""Branch results in traces are the truth of the kernel condition written on
the line: every shipped ``when`` label is listed here with its polarity, as
reviewed against the model condition it labels, and every ``goto_if`` label
that says the negation of its jump's condition."""

from __future__ import annotations

import re

import pytest

from mc.check.checker import check_scenario
from mc.check.inventory import could_change
from mc.dsl.scenario import Registry
from mc.dsl.steps import BranchStep, JumpStep

LABEL_NEGATES = {
    "if (err == -EEXIST) goto repeat",
    "nfsdN_delegreturn(): if (dp->dl_stid.sc_status & SC_STATUS_REVOKED) "
    "status = nfserr_deleg_revoked",
    "if (!state_expired(&lt, dp->dl_time)) break; unhash_delegation_locked(dp, "
    "SC_STATUS_REVOKED); revoke_delegation(dp)",
    "if (unlikely(folio->mapping != mapping)) /* truncated */",
    "folio = xa_load(&mapping->i_pages, index+i); if (folio) { read_pages(); continue; }",
    "if (!buffer_mapped(bh)) goto unlock /* hole */",
    "if (!folio->mapping) goto truncated",
    "if (!folio_test_dirty(folio)) goto continue_unlock /* someone wrote it for us */",
    "if (unlikely(folio->mapping != mapping)) goto continue_unlock",
    # quota
    "extN_file_open(): dquot_file_open() -> __dquot_initialize(): if (dquots[cnt]) continue; "
    "/* dqinit_needed() */",
    # __get_acl(): the block runs for an uncached ACL (models/xattr.py)
    "if (!is_uncached_acl(acl)) return acl",
    # super_trylock_shared(): the block drops s_umount on a dying or unborn superblock
    "if (!(sb->s_flags & SB_DYING) && sb->s_root && (sb->s_flags & SB_BORN)) return true",
}
"""Labels whose condition is the negation of the model's (``label_negates``)."""

JUMP_LABEL_NEGATES = {
    "if (likely(!dentry->d_lockref.count)) return true",
    "if (!hlist_empty(&inode->i_dentry)) /* else return NULL */",
    "while (dentry != root->dentry)",
    "if (delegated_inode)",
}
"""The ``goto_if`` labels whose condition is the negation of the jump's:
the code the label's test guards is what the jump skips."""

LABEL_AS_MODELLED = {
    # dio_complete(): ->end_io raises i_size of a write past it (models/dio.py)
    "if (pos > i_size_read(inode))",
    # evict(): inode_io_list_del() of an inode still on a wb list (models/inode.py)
    "if (!list_empty(&inode->i_io_list))",
    # read(): the copy runs where the second i_size test finds ki_pos inside the file
    "if (ki_pos < isize) /* not truncated meanwhile */",
    # start_handle()/stop_handle(): the nested handle's reference count (models/quota.py)
    "jbdN__journal_start(): handle = journal_current_handle(); if (handle)",
    "jbdN_journal_stop(): if (--handle->h_ref > N)",
    # bd_prepare_to_claim(): the block returns -EBUSY (models/bdev.py)
    "if (!bd_may_claim(bdev, holder, hops))",
    "if (!bdev->bd_holders)",
    "while ((error = xchk_fsfreeze(sc)) == -EBUSY)",
    "if (likely(can_free)) dentry_free(dentry)",
    "if (can_free) /* the RCU callback queued */",
    "__locks_delete_block(&new_fl->c): if (smp_load_acquire(&waiter->flc_blocker) || "
    "!list_empty(&waiter->flc_blocked_requests)) /* timed out, still blocked */",
    "if (can_free) dentry_free(dentry)",
    # __dentry_kill()'s put of the parent: the count left is not 0 (models/dcache.py)
    "if (parent && --parent->d_lockref.count) { spin_unlock(&parent->d_lock); return NULL; }",
    "d_alloc_parallel(): if (another thread's in-lookup dentry of the name is hashed)",
    "d_alloc_parallel(): if (unlikely(d_unhashed(dentry))) goto mismatch /* its ->lookup failed */",
    "if (!atomic_dec_and_test(&s->s_active)) /* a freeze came first */",
    "vN_write_dquot(): if (!dquot->dq_off) /* alloc = true */",
    "if (newly_dirty)",
    "if (folio)",
    "if (!IS_ERR(folio))",
    "if (pN < pN)",
    "if (r != pN && r != p)",
    "if (inodeN < inodeN) /* by address */",
    "if (unlikely(copied == N)) /* the source faulted */",
    "if (!folio) goto no_page",
    "if (folio_batch has /f:N)",
    "if (folio_batch has /g:N)",
    # ext4_evict_inode() of an unlinked inode (models/inode.py)
    "if (!extN_journal_current_handle())",
    "if (freeze_protected)",
    "dispose_list(&dispose): evict(inode)",
    "if (!drop && (sb->s_flags & SB_ACTIVE)) { __inode_add_lru(inode, true); "
    "spin_unlock(&inode->i_lock); return; }",
    "if (dirty & ~I_DIRTY_PAGES)",
    # filemap_fault(): a folio locked with mmap_lock dropped was truncated meanwhile
    "if (unlikely(folio->mapping != mapping)) /* truncated meanwhile */",
    # writeback_single_inode() under fsync's i_rwsem: the block waits for I_SYNC
    "while (inode->i_state & I_SYNC)",
    "if (inode) /* /f */",
    "if (inode->i_state & (I_FREEING|I_WILL_FREE))",
    "if (sb->s_flags & SB_DYING) /* died meanwhile */",
    "if (sb->s_writers.frozen != SB_UNFROZEN)",
    "if (the last reference) iput_final(inode)",
    "if (unlikely(!tmp || (tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)))) return tmp",
    "if (unlikely(ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY))) return ret",
    "/* /f:N */",
    "/* /f:N in part in the hole */",
    "/* from is in /f:N */",
    "/* the read covers /f:N */",
    "else if (new_is_dir)",
    "folio = __filemap_get_folio(mapping, N, FGP_LOCK)",
    "folio = fbatch.folios[i] /* /f:N */",
    "do_launder_folio(): if (folio_test_dirty(folio) && mapping->a_ops->launder_folio)",
    "if (!bio) /* idle */",
    "if (!error)",
    "if (!folio || !folio_test_uptodate(folio))",
    "if (!folio_batch_count(fbatch)) page_cache_sync_ra(&ractl, last_index - index)",
    "if (!folio_test_uptodate(folio) && !buffer_uptodate(bh))",
    "if (!folio_test_uptodate(folio))",
    "if (!inodeN)",
    "if (!is_dir || lock_old_subdir)",
    "if (!shrink)",
    "if (!status) d_invalidate(dentry) /* -> lookup_slow() */",
    "if (attr->ia_size <= oldsize) extN_truncate(inode)",
    "if (bio->bi_end_io == mpage_read_end_io)",
    "if (error == AOP_WRITEPAGE_ACTIVATE)",
    "if (fault & VM_FAULT_SIGBUS) force_sig_fault(SIGBUS, BUS_ADRERR, addr)",
    "if (filemap_range_uptodate(...))",
    "if (folio->mapping == mapping)",
    "if (folio->mapping == mapping) /* not truncated */",
    "if (folio_clear_dirty_for_io(folio))",
    "if (folio_clear_dirty_for_io(folio)) /* without the folio lock */",
    "if (folio_needs_release(folio)) filemap_release_folio(folio, sc->gfp_mask)",
    "if (folio_needs_release(folio)) folio_invalidate(folio, N, folio_size(folio))",
    "if (folio_needs_release(folio)) folio_invalidate(folio, offset, length)",
    "if (folio_test_dirty(folio)) switch (pageout(folio, mapping, &plug))",
    "if (folio_test_writeback(folio)) goto continue_unlock /* WB_SYNC_ALL, not waiting */",
    "if (folio_test_writeback(folio)) goto continue_unlock /* WB_SYNC_NONE */",
    "if (index <= end_index)",
    "if (index >= max_idx)",
    "if (inodeN < inodeN)",
    "if (is_dir)",
    "if (pte_dirty(ptent)) /* /f:N */",
    "if (pte_none(vmf->orig_pte)) return do_fault(vmf)",
    "if (r != pN && r != p) /* no common ancestor */",
    "if (r == pN) /* pN is an ancestor of pN */",
    "if (removed)",
    "if (ret & VM_FAULT_NOPAGE)",
    "if (ret) return ret /* fault-around mapped it */",
    "if (status == -ECHILD) /* redo in non-rcu mode */",
    "if (target && (!new_is_dir || lock_new_subdir))",
    "if (target && is_dir)",
    "if (the pte allows the access)",
    "if (tmp & VM_FAULT_NOPAGE)",
    "if (unlikely(!folio_test_uptodate(folio))) goto page_not_uptodate",
    "if (unlikely(ret < N)) goto out_unlock",
    "if (vmf->flags & FAULT_FLAG_WRITE && !pte_write(entry)) return do_wp_page(vmf)",
    "partial page N: /f:N in part in range",
    "read_pages(ractl)",
    "ret = -EFAULT /* page got truncated */",
    "truncate page N: /f:N in range",
    # file locks and leases (models/filelock.py)
    "if (conflicting fl)",
    "if (fl->fl_lmops && fl->fl_lmops->lm_lock_expirable)",
    "if ((*fl->fl_lmops->lm_lock_expirable)(fl))",
    "if (likely(!posix_locks_deadlock(request, fl)))",
    "if (!deadlock) /* always: nothing looked for one */",
    "if (the last reference) __fput(file): locks_remove_flock(file)",
    "if (!list_empty(&blocker->fl_blocked_requests))",
    "if (waiter->fl_lmops && waiter->fl_lmops->lm_notify)",
    "if (!list_empty(dispose))",
    "if (found)",
    "smp_mb(); error = check_conflicting_open(filp, arg, lease->fl_flags); if (error)",
    "status = nfsdN_check_conflicting_opens(clp, fp); if (status)",
    "if (lease->fl_lmops->lm_breaker_owns_lease)",
    # jbd2_journal_cancel_revoke(): the block looks the revoked buffer's alias up
    "if (need_cancel)",
    # locks_remove_lease(): the block removes the closed file's lease
    "if (filp == fl->c.flc_file) lease_modify(fl, F_UNLCK, &dispose)",
    # check_for_locks(): the block takes flc_lock when the POSIX list is not empty
    "if (flctx && !list_empty_careful(&flctx->flc_posix))",
    # quota
    "if (!test_bit(DQ_ACTIVE_B, &dquot->dq_flags))",
    "if (info_dirty(&dqopt->info[dquot->dq_id.type]))",
    "if (dquot_dirty(dquot))",
    "if (test_bit(DQ_ACTIVE_B, &dquot->dq_flags))",
    "if (dquot_active(dquot))",
    "if (sb_has_quota_active(sb, cnt) && info_dirty(&dqopt->info[cnt]))",
    "if (dquot) /* cnt = USRQUOTA: dquots[cnt] is alice's dquot? */",
    "if (dquot) /* cnt = USRQUOTA: dquots[cnt] is bob's dquot? */",
    "if (dq) /* alice's dquot? */",
    "if (dq) /* bob's dquot? */",
    "while (!list_empty(&dirty)) /* alice grabbed */",
    "while (!list_empty(&dirty)) /* bob grabbed */",
    "if (!test_bit(DQ_READ_B, &dquot->dq_flags))",
    "if (!dquot_active(dquot) && !dquot->dq_off) /* instantiate */",
    "if (dquot_active(dquot)) ret = dqopt->ops[type]->commit_dqblk(dquot); else ret = -EIO",
    "qtree_release_dquot(): if (test_bit(DQ_FAKE_B, &dquot->dq_flags) && "
    "!(dquot->dq_dqb.dqb_curinodes | dquot->dq_dqb.dqb_curspace))",
    # block devices
    "if (whole->bd_claiming) /* another claim in progress */",
    "if (test_bit(GD_NEED_PART_SCAN, &disk->state))",
    # address_space_operations
    "if (!err) /* added */",
    "if (rc == MIGRATEPAGE_SUCCESS)",
    "identify_page_state(): me_pagecache_dirty() /* folio dirty */",
    # mappings, direct I/O and DAX
    "if (!vma || access_error(error_code, vma)) bad_area_access_error() /* SIGSEGV */",
    "if (extend) extN_handle_inode_extension(inode, ...)",
    "if (pmd_none(*vmf.pmd) && hugepage_vma_check(vma, vm_flags, false, true, true)) "
    "/* N.N; thp_vma_allowable_order(..., PMD_ORDER) since N.N */",
    "for_each_vma(old_vmi, mpnt) /* VMA slot N */",
    "if (wait_for_completion) /* is_sync_kiocb(iocb) || IOMAP_DIO_FORCE_WAIT: wait for the "
    "bio, then iomap_dio_complete() */",
    "if (!(vma->vm_flags & VM_PFNMAP)) /* a file VMA */",
    "if (new->vm_ops && new->vm_ops->open)",
    "if (!inodeN || !inodeN) goto lock",
    "if (S_ISDIR(inodeN) == S_ISDIR(inodeN))",
    "if (S_ISDIR(inodeN->i_mode)) /* the directory first */",
    "if (unlikely(ret)) /* bio_iov_iter_get_pages(): -EFAULT, the source past EOF */",
    "if (tmp->vm_ops && tmp->vm_ops->open)",
    "if (vma->vm_ops && vma->vm_ops->close)",
    "if (!pte_write(entry)) return do_wp_page(vmf): wp_pfn_shared(vmf)",
    "do { remove_vma(vma, true); } /* VMA slot N */",
    "free_pgtables(): for each vma /* VMA slot N */",
    "if (!vma)",
    "if (pos >= i_size_read(iter.inode))",
    "if (!vma) return N",
    "if (!vma) { if (unlock) mmap_write_unlock(mm); return N; }",
    "if (!vma) goto inval",
    "if (!usable)",
    "do_read_fault(): if (ret) return ret /* mapped */",
    "vma_start_write(vma): if (!__is_vma_write_locked(vma, &mm_lock_seq)) /* not yet */",
    "xas_for_each_marked(&xas, entry, end_index, PAGECACHE_TAG_TOWRITE) /* /f:N */",
    "if (bio->bi_end_io == iomap_dio_bio_end_io)",
    "if (!vma) return -ENOMEM; madvise_remove(): "
    "if ((vma->vm_flags & (VM_SHARED|VM_WRITE)) != (VM_SHARED|VM_WRITE)) return -EACCES",
    "if (!write && (iomap->type == IOMAP_UNWRITTEN || iomap->type == IOMAP_HOLE)) "
    "return dax_load_hole(xas, vmf, iter, entry)",
    "if (start > vma->vm_start) error = __split_vma(vmi, vma, start, N)",
    "if (!vma) return -ENOMEM; madvise_dontneed_free(): "
    "if (!madvise_dontneed_free_valid_vma(vma, start, &end, behavior)) return -EINVAL",
    "if (!vma) goto out /* -ENOMEM */",
    "if (dio->wait_for_completion) /* no work: a synchronous or failed write */",
    "if (ret < N) /* -ENOSPC: iomap_iter() stops, no bio; iomap_dio_rw() returns it */",
    "if (unlikely(err)) /* -ENOSPC */",
    "if (test_bit(DQ_ACTIVE_B, &dquot->dq_flags)) /* no new look */",
    "if (!folio) /* FGP_CREAT: a truncate removed it */",
    "if (unlikely(folio->mapping != mapping)) /* truncated: repeat */",
    "if (unlikely(folio->mapping != mapping)) /* truncated: skip it */",
    "if (*ilock_shared && (*extend || !extN_overwrite_io(inode, offset, count))) "
    "{ inode_unlock_shared(inode); *ilock_shared = false; inode_lock(inode); goto restart; }",
    "if (vma && vma->vm_ops && vma->vm_ops->access)",
    "if (next->vm_end > end) error = __split_vma(vmi, next, end, N)",
    "if (shrink)",
    "if (err == -ECHILD) /* try_to_unlazy(nd), inode_permission() again */",
    "if (lockref_get_not_dead(&dentry->d_lockref))",
    "if (dentry) /* the caller's dput(dentry) */",
    "if (!d_compare(...)) return dentry /* Foo */",
    "if (res == ERR_PTR(-ECHILD) && try_to_unlazy(nd))",
    "__fput(): if (unlikely(file->f_flags & FASYNC))",
    "if (pos == N * PAGE_SIZE)",
    "if (src < dest) /* by address */",
    # metadata buffers (models/buffer.py)
    "if (!bh)",
    "if (likely(bh) && !buffer_uptodate(bh))",
    "if (buffer_uptodate(bh))",
    "if (!test_set_buffer_dirty(bh))",
    "if (test_clear_buffer_dirty(bh))",
    "if (!test_clear_buffer_dirty(bh))",
    "if (!filemap_get_folios_tag(mapping, &index, end, PAGECACHE_TAG_DIRTY, &fbatch))",
    "if (!filemap_get_folios_tag(mapping, &index, end, PAGECACHE_TAG_TOWRITE, &fbatch))",
    "if (!folio_buffers(folio))",
    "if (folio_test_writeback(folio))",
    "if (buffer_async_write(bh))",
    "if (nr_underway == N)",
    "if (!folio) /* not on the LRU: not cached */",
    "if (folio_test_writeback(folio) || folio_test_dirty(folio)) goto keep_locked",
    "if (!filemap_release_folio(folio, gfp))",
    # freeze holders and ->freeze_fs failure (models/super.py)
    "if (sb->s_writers.frozen == SB_FREEZE_COMPLETE)",
    "if (ret) /* VFS:Filesystem freeze failed */",
    "if (sb->s_writers.freeze_holders & ~who) /* shared with someone else */",
    "if (error) return error /* not frozen */",
    # freeze_bdev()/thaw_bdev(): the count taken back on a failed freeze or thaw
    "if (error)",
    "if (!was_dirty)",
    # punch hole's write-back and the truncate restart loop (models/blockfs_truncate.py,
    # models/truncate_mm.py)
    "if (mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)) "
    "filemap_write_and_wait_range(mapping, offset, offset+length-N)",
    "if (find_get_entries(mapping, &start, end - N, &fbatch, indices)) "
    "/* a folio is left in the range: restart from start */",
    # block_write_full_page() and i_size (models/blockfs.py)
    "if (page->index >= end_index+N || !offset) /* truncate in progress */",
    "if (the page straddles i_size)",
    "if (folio_mapped(folio)) try_to_unmap(folio, flags)",
    "if (folio_mapped(folio)) unmap_mapping_folio(folio)",
    "if (folio_mapped(src)) try_to_migrate(src, N) /* establish migration ptes */",
    "hwpoison_user_mappings(): if (folio_mapped(folio)) try_to_unmap(folio, ttu)",
    "generic_error_remove_page() -> truncate_inode_folio() -> truncate_cleanup_folio(): "
    "if (folio_mapped(folio)) unmap_mapping_folio(folio)",
    "if (ret & VM_FAULT_LOCKED)",
    "if (unlikely(!(ret & VM_FAULT_LOCKED))) /* and no error */",
    "if (!folio->mapping) /* truncated */",
    "if (unlikely(fault & VM_FAULT_RETRY)) { flags |= FAULT_FLAG_TRIED; goto retry; } "
    "/* mmap_lock already released */",
    "if (folio_mapped(folio)) rmap_walk(folio, &rwc)",
    # file/clone-vs-write, file/copy-splice-vs-write: the writeback and truncation of /a and /b
    "if (folio_batch has /a:N)",
    "if (folio_batch has /b:N)",
    # swapon's inode_drain_writes() of /swap, ext4's writeback of a folio cleaned
    # meanwhile, a walk that finds its link unlinked
    "if (folio_batch has /swap:N)",
    "if (!folio_test_dirty(folio)) { folio_unlock(folio); continue; }",
    "if (!dentry || d_is_negative(dentry)) /* unlinked */",
    "if (pte_dirty(ptent)) /* /b:N */",
    # ptrace of an unmapped address, an AIO write that turned synchronous (models/mmap.py,
    # models/dio.py)
    "if (!vma_lookup(mm, addr) && !expand_stack(mm, addr)) return N",
    "aio_rw_done(req, ret): if (ret != -EIOCBQUEUED) req->ki_complete(req, ret)",
    "if (!ilock_shared) inode_lock(inode)",
    # a DAX block replacing the zero page; the PMD fault past EOF; writeback's recheck;
    # DAX truncate and hole punch (models/dax.py)
    "*entry = dax_insert_entry(xas, vmf, iter, *entry, pfn, N): "
    "if (shared || (dax_is_zero_entry(entry) && !(flags & DAX_ZERO_PAGE))) "
    "/* we are replacing a zero page with block mapping */",
    "if (xas.xa_index >= max_pgoff)",
    "ret = create_huge_pmd(&vmf); if (!(ret & VM_FAULT_FALLBACK)) return ret",
    "/* /f:N is marked TOWRITE */",
    "/* punched out, reallocated or done by another fsync */",
    "xas_for_each(&xas, entry, end_idx) /* /f:N */",
    "truncate_inode_pages_range(): find_lock_entries(): if (xa_is_value(folio)) "
    "/* /f:N, in the range */",
    "extN_punch_hole(): if (mapping_tagged(mapping, PAGECACHE_TAG_DIRTY)) "
    "filemap_write_and_wait_range(mapping, offset, offset+length-N) "
    "/* do_writepages(): extN_dax_writepages(); no folio to wait on */",
    "if (offset >= inode->i_size)",
    # ext4's journal handles (models/journal.py): the block runs when full holds
    "if (the running transaction is full or the log short of space)",
    # the I/O completion interrupt (models/writeback.py)
    "if (op_is_write(bio_op(bio)))",
    # unlink's delegation break (models/filelock.py)
    "any_leases_conflict(inode, new_fl) /* a delegation */",
    "if (status) goto out_unlock",
    # filemap_fault() releasing mmap_lock around read I/O (models/fault.py)
    "if (!fpin && fault_flag_allow_retry_first(flags)) /* first attempt */",
    "if (IS_ERR(folio)) /* no page in the page cache at all */",
    "if (fpin) goto out_retry",
    "if (fpin) { folio_unlock(folio); goto out_retry; }",
    "if (!fault_flag_allow_retry_first(flags)) /* FAULT_FLAG_TRIED: "
    "maybe_unlock_mmap_for_io() keeps mmap_lock */",
    "if (!folio) /* __filemap_get_folio(): no_page */",
    # do_user_addr_fault() after a fault under the VMA lock (models/fault.py, 6.7+)
    "if (fault & VM_FAULT_RETRY) { if (fault & VM_FAULT_MAJOR) flags |= FAULT_FLAG_TRIED; "
    "goto lock_mmap; } /* the fault released the VMA lock */",
    "if (!(fault & (VM_FAULT_RETRY | VM_FAULT_COMPLETED)))",
    "done: if (fault & VM_FAULT_SIGBUS) do_sigbus(): force_sig_fault(SIGBUS, BUS_ADRERR, addr)",
    # the pages of two mapped files (models/two_files_scenarios.py)
    "/* /a:N */",
    "/* /b:N */",
    # fuse_permission()'s refresh of invalidated attributes (models/xattr.py)
    "if (perm_mask & READ_ONCE(fi->inval_mask) || time_beforeN(fi->i_time, get_jiffies_N()))",
    # nfs4_set_delegation() withdrawing a delegation a break met (models/xattr.py)
    "if (fp->fi_had_conflict) goto out_unlock",
    # blkdev_put()'s early sync and last close, kill_bdev()'s truncation (models/bdev.py,
    # models/buffer.py)
    "if (bdev->bd_openers == N)",
    "if (atomic_dec_and_test(&bdev->bd_openers))",
    "if (mapping_empty(mapping)) return",
    "truncate_inode_folio(): if (folio->mapping != mapping)",
    "if (folio_buffers(folio))",
}
"""Labels whose condition is the model's own (or that name the case the block
handles, such as ``/* /f:N */``)."""


def _shape(label: str) -> str:
    return re.sub(r"\d+", "N", label)


def test_every_shipped_branch_label_has_a_reviewed_polarity(shipped: Registry) -> None:
    seen: dict[str, bool] = {}
    jumps: set[str] = set()
    for scenario in shipped.scenarios.values():
        correct = shipped.build(scenario, ())
        models = [correct]
        for variant in shipped.variants.values():
            if could_change(variant, correct):
                try:
                    models.append(shipped.build(scenario, (variant.name,)))
                except Exception:  # a variant that cannot apply to this scenario
                    continue
        for model in models:
            for thread in model.threads:
                for step in thread.program.steps:
                    if isinstance(step, BranchStep):
                        seen[_shape(step.label)] = step.label_negates
                    if isinstance(step, JumpStep) and step.label_negates:
                        jumps.add(step.label)
    assert LABEL_NEGATES.isdisjoint(LABEL_AS_MODELLED)
    unreviewed = set(seen) - LABEL_NEGATES - LABEL_AS_MODELLED
    assert not unreviewed, f"review the polarity of these labels and list them here: {unreviewed}"
    wrong = {label for label, negates in seen.items() if negates != (label in LABEL_NEGATES)}
    assert not wrong, f"label_negates disagrees with the reviewed polarity: {wrong}"
    assert set(seen) >= LABEL_NEGATES
    assert jumps == JUMP_LABEL_NEGATES


@pytest.mark.parametrize(
    ("variants", "label", "holds"),
    [
        (
            ("no-wait-writeback",),
            "if (unlikely(folio->mapping != mapping)) goto continue_unlock",
            "no",
        ),
    ],
)
def test_a_trace_prints_the_truth_of_the_kernel_condition(
    shipped: Registry, variants: tuple[str, ...], label: str, holds: str
) -> None:
    outcome = check_scenario(shipped, "writeback/write-vs-fsync", variants)
    assert outcome.counterexample is not None
    shown = [s.event.text for s in outcome.counterexample.steps if s.label == label]
    assert shown and set(shown) == {holds}


def test_an_error_return_that_falls_through_to_its_target_says_it_returned(
    shipped: Registry,
) -> None:
    """``op.fail`` right before the label it goes to: the thread's next step
    is the same either way, so the trace tells the return by its test."""
    outcome = check_scenario(shipped, "xattr/setfacl-deleg", ("get-acl-caches-unconditionally",))
    assert outcome.counterexample is not None
    label = "return -EAGAIN /* no delegation handed out */"
    shown = [s.event.text for s in outcome.counterexample.steps if s.label == label]
    assert shown == ["yes: return -EAGAIN"]
