/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file share.h
 * The share index (DESIGN.md "Peer-to-peer overlay", issue 6 "Share index"): the roots
 * the user shares (files or directories) and the regular files under them, each with
 * its SHA-256 and SHA-1, size, mtime, inode and search keywords. Directories are
 * walked and files hashed in the worker pool; the loop only merges results. The index
 * is persisted in STATE/shares.idx so that a restart re-hashes nothing unchanged, and
 * inotify keeps it current while the daemon runs.
 *
 * Symlink policy: symlinks below a root are never followed (neither to files nor to
 * directories, whether they point inside or outside the root). The root path itself
 * is resolved with realpath(3) once, when the user shares it.
 *
 * Entries handed out by lookups stay valid until the next return to the loop; a caller
 * that keeps one longer takes a reference with mem_ref() and checks share_entry_gone().
 */
#ifndef SIPSVC_SHARE_H
#define SIPSVC_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "core/core.h"

struct worker_pool;
struct share;
struct share_root;
struct share_entry;

#define SHARE_SHA256_LEN	32
#define SHARE_SHA1_LEN		20
#define SHARE_DEFAULT_MAX_FILES 100000
#define SHARE_DEFAULT_MAX_ROOTS 64
/** The index file in the state dir. */
#define SHARE_INDEX_FILE "shares.idx"

/** Settings of the share subsystem. */
struct share_config {
	const char *state_dir;	 /* where shares.idx lives; NULL: nothing persisted */
	const char *runtime_dir; /* never shared, nor anything inside it (may be NULL) */
	size_t max_files;	 /* files in the whole index (0: default) */
	unsigned max_roots;	 /* shared roots (0: default) */
};

/** Counters for Status and tests. */
struct share_stats {
	size_t roots;
	size_t files;	     /* entries in the index (with a withdrawn share's until emptied) */
	size_t hashed_files; /* entries with a current hash */
	uint64_t bytes;	     /* total size of the entries */
	size_t pending;	     /* files waiting to be (re)hashed, or being hashed */
	size_t walks;	     /* directory walks running */
	uint64_t hash_runs;  /* files hashed since start */
	uint64_t hash_bytes; /* bytes hashed since start */
	size_t loaded;	     /* entries taken from the index file at start */
	size_t watches;	     /* inotify watches */
};

/** What <Shares/> says about one root. */
struct share_root_info {
	const char *path; /* as the user gave it */
	bool is_dir;
	bool indexing; /* a walk or hashing of its files is under way */
	size_t files, hashed_files;
	uint64_t bytes;
};

/**
 * Start the subsystem: load STATE/shares.idx (a corrupt file is refused with a log
 * line and its roots re-indexed) and rescan every root in the background.
 * Returns 0 or -errno.
 */
int share_new(struct ev_loop *loop, struct worker_pool *pool, const struct share_config *cfg,
	      struct share **ret);
/** Save the index if it changed, stop watching, free; accepts NULL. Jobs still in the
 * pool keep what they use alive until their done call. */
void share_free(struct share *s);

/**
 * Share @p path (absolute; a file or a directory). Indexing continues in the
 * background. Returns 0, or -EINVAL (relative or too long), -ENOENT/-EACCES/… (the
 * stat error), -EPERM (the state or runtime dir, or inside it), -EEXIST (already
 * shared: *ret is that root), -EBUSY (inside or around another root), -ENOSPC (too
 * many roots), -ENOMEM.
 */
int share_add(struct share *s, const char *path, struct share_root **ret);
/** Withdraw the root shared as @p path (or resolving to the same place). 0 or -ENOENT. */
int share_remove(struct share *s, const char *path);
/**
 * New limits (a config reload; 0: the default). Lower ones refuse new files and
 * shares; nothing indexed is dropped until its root is rescanned. 0 or -ENOMEM.
 */
int share_set_limits(struct share *s, size_t max_files, unsigned max_roots);
/** Number of roots. */
size_t share_root_count(const struct share *s);
/** The @p i-th root in the order they were shared. */
struct share_root *share_root_get(const struct share *s, size_t i);
/** Fill @p ret with what the root looks like now. */
void share_root_get_info(const struct share_root *r, struct share_root_info *ret);
/** The root's first entry (walk order), or NULL; then share_entry_next(). */
const struct share_entry *share_root_first(const struct share_root *r);
/** The next entry of the same root, or NULL. */
const struct share_entry *share_entry_next(const struct share_entry *e);

/** The entry whose content has this SHA-256 (hashed and current), or NULL. O(1). */
const struct share_entry *share_find(const struct share *s, const uint8_t sha256[SHARE_SHA256_LEN]);
/**
 * Entries matching every word of @p query (case- and accent-insensitive, whole words
 * of the file name and of the path below the root). Writes at most @p max hashed
 * entries to @p out; returns how many.
 */
size_t share_search(const struct share *s, const char *query, const struct share_entry **out,
		    size_t max);
/**
 * Before serving @p e: re-stat its file. 0 if size, mtime, inode and device are those
 * it was hashed with; -ESTALE if it changed (the entry loses its hash and is queued
 * for re-hashing), -ENOENT if it is gone, another -errno if it cannot be checked.
 */
int share_verify(struct share *s, const struct share_entry *e);
/**
 * Open @p e for reading (O_NOFOLLOW) and check with fstat that it is the content that
 * was hashed: an fd, or -ESTALE (re-hash queued) or -errno. Race-free form of
 * share_verify() for the transfer code.
 */
int share_entry_open(struct share *s, const struct share_entry *e);

const char *share_entry_path(const struct share_entry *e);
/** The file name (last path component). */
const char *share_entry_name(const struct share_entry *e);
uint64_t share_entry_size(const struct share_entry *e);
/** True once the entry has a hash matching its current size/mtime/inode. */
bool share_entry_hashed(const struct share_entry *e);
/** True once the entry was removed from the index (for callers holding a ref). */
bool share_entry_gone(const struct share_entry *e);
const uint8_t *share_entry_sha256(const struct share_entry *e);
const uint8_t *share_entry_sha1(const struct share_entry *e);
/** "sha256:" + 64 lowercase hex digits (PROTOCOL.md "Identifiers"); @p buf ≥ 72 bytes. */
void share_entry_file_id(const struct share_entry *e, char *buf, size_t size);

/** Counters. */
void share_get_stats(const struct share *s, struct share_stats *ret);
/** True while walks, merges, hashing or a save are under way (tests wait on it). */
bool share_busy(const struct share *s);
/** Write the index file now (normally done a moment after each change). 0 or -errno. */
int share_save_now(struct share *s);

/** Called on the loop when a save of the index ends (written, or failed with a log
 * line); @p version is the newest version of the roots (below) such a save held. */
typedef void share_saved_h(uint64_t version, void *arg);
/** Set (or with NULL clear) the handler of ended saves. */
void share_set_saved_handler(struct share *s, share_saved_h *h, void *arg);
/**
 * The roots' version (it counts Share and Unshare) not yet on disk, or 0 if the
 * current roots are there already (or nothing is persisted). A Share or Unshare is
 * answered once a save of this version has ended: a client told "Ok" can rely on it
 * surviving a kill -9 of the daemon right after.
 */
uint64_t share_roots_unsaved(const struct share *s);

/** Lower-case hex of @p n bytes into @p out (2n+1 bytes). */
void share_hex(const uint8_t *in, size_t n, char *out);

#endif
