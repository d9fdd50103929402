/* The lock skeleton of bench/scale/dirops.py:scale/dirops-7 for SPIN: the
 * locks each of the seven operations takes, in the order models/dirops.py
 * takes them, with the branches where a lookup or a check fails and the
 * operation unlocks early.  Data (dentries, link counts) is left out: a
 * branch is a nondeterministic choice.  The question is the one vfsmc's
 * deadlock property answers: does every interleaving end with every
 * process at its end (no invalid end state)?
 *
 *   spin -a dirops7.pml && gcc -O2 -o pan pan.c && ./pan
 */

#define lock(l)   atomic { l == 0 -> l = _pid + 1 }
#define unlock(l) assert(l == _pid + 1); l = 0

byte sb;          /* s_vfs_rename_sem */
byte rename_lock; /* write_seqlock(&rename_lock) around d_move() */
byte i_a, i_ax, i_ad, i_b, i_bz, i_c, i_ce;

/* rename(/a/x -> /b/y): lock_rename(new_dir=/b, old_dir=/a), both unrelated */
active proctype rename_ax_by() {
    lock(sb); lock(i_b); lock(i_a);
    if
    :: lock(i_ax); lock(rename_lock); unlock(rename_lock); unlock(i_ax)
    :: skip   /* source gone, trap, or ->rename fails before d_move */
    fi;
    unlock(i_b); unlock(i_a); unlock(sb)
}

/* rename(/b/z -> /a/w): lock_rename(new_dir=/a, old_dir=/b) */
active proctype rename_bz_aw() {
    lock(sb); lock(i_a); lock(i_b);
    if
    :: lock(i_bz); lock(rename_lock); unlock(rename_lock); unlock(i_bz)
    :: skip
    fi;
    unlock(i_a); unlock(i_b); unlock(sb)
}

/* rmdir(/a/d): parent, lookup, victim */
active proctype rmdir_ad() {
    lock(i_a);
    if
    :: lock(i_ad); unlock(i_ad)
    :: skip   /* -ENOENT, -ENOTDIR */
    fi;
    unlock(i_a)
}

/* link(/c/e -> /a/d/f): filename_create() locks /a/d, vfs_link() the source */
active proctype link_ce_adf() {
    lock(i_ad);
    if
    :: lock(i_ce); unlock(i_ce)
    :: skip   /* -ENOENT (dead directory), -EEXIST */
    fi;
    unlock(i_ad)
}

/* create(/b/n) */
active proctype create_bn() {
    lock(i_b); unlock(i_b)
}

/* unlink(/c/e): parent, lookup, victim */
active proctype unlink_ce() {
    lock(i_c);
    if
    :: lock(i_ce); unlock(i_ce)
    :: skip   /* -ENOENT */
    fi;
    unlock(i_c)
}

/* mkdir(/b/m) */
active proctype mkdir_bm() {
    lock(i_b); unlock(i_b)
}
