/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the share subsystem shared between its files (and its unit tests). */
#ifndef SIPSVC_SHARE_PRIVATE_H
#define SIPSVC_SHARE_PRIVATE_H

#include <pthread.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "share/share.h"

/** Longest path we index (the kernel's PATH_MAX, NUL included). */
#define SHARE_MAX_PATH 4096
/** Deepest directory nesting below a root that is walked. */
#define SHARE_MAX_DEPTH 64
/** Keywords kept per entry; a longer path contributes its first ones. */
#define SHARE_MAX_KEYWORDS 32
/** Words in a query; more are refused. */
#define SHARE_MAX_QUERY_WORDS 16
/** Bytes one hash job reads before it yields the worker back (then it is resubmitted). */
#define SHARE_HASH_CHUNK (32u << 20)
/** The read buffer of a hash job. */
#define SHARE_HASH_BUF (1u << 20)
/** Hash jobs in the pool at once: leave room for other subsystems' work. */
#define SHARE_HASH_JOBS 2
/** inotify watches (each directory below a root takes one). */
#define SHARE_MAX_WATCHES 16384

/* ---- htab.c: an intrusive chained hash table --------------------------------------- */

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **b;
	size_t n_b, count;
};

/** 64-bit FNV-1a of @p n bytes. */
uint64_t htab_hash(const void *p, size_t n);
/** An empty table with @p n_b buckets (rounded up to a power of two). 0 or -ENOMEM. */
int htab_init(struct htab *t, size_t n_b);
/** Free the buckets (not the nodes). */
void htab_done(struct htab *t);
/** Insert @p n under @p hash; grows the table when it is fuller than one per bucket. */
void htab_insert(struct htab *t, struct hnode *n, uint64_t hash);
/** Unlink @p n, which must be in @p t. */
void htab_remove(struct htab *t, struct hnode *n);
/** The first node of @p hash's bucket; walk ->next and compare ->hash yourself. */
struct hnode *htab_bucket(const struct htab *t, uint64_t hash);

/* ---- fold.c: keywords ----------------------------------------------------------- */

/**
 * Fold UTF-8 @p in to lower case without accents (ASCII, Latin-1 Supplement, Latin
 * Extended-A; other characters are kept as they are) into @p out, with every byte that
 * is not a letter or digit turned into a space. Returns the length written (always
 * NUL-terminated, truncated to @p size - 1).
 */
size_t share_fold(const char *in, char *out, size_t size);
/**
 * Split the folded @p s in place into words; store up to @p max pointers in @p words,
 * skipping duplicates. Returns the number of words.
 */
size_t share_words(char *s, const char **words, size_t max);

/* ---- index.c: entries, roots, lookups ------------------------------------------- */

/** What identifies a file version: a change in any means its hash is stale. */
struct share_stat {
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino, dev;
};

struct keyword;

struct posting {
	struct posting *prev, *next;
	struct share_entry *e;
	struct keyword *kw;
};

struct share_entry {
	struct hnode by_path, by_sha;
	struct share_entry *rprev, *rnext; /* the root's list */
	struct share_entry *qprev, *qnext; /* the hash queue */
	struct share_root *root;
	char *path;
	const char *name; /* inside path */
	struct share_stat st;
	uint8_t sha256[SHARE_SHA256_LEN], sha1[SHARE_SHA1_LEN];
	bool hashed, removed, queued, hashing, seen;
	bool confirmed;	  /* seen on disk since start (not only in shares.idx) */
	unsigned version; /* bumped at every stat change */
	unsigned retries; /* hashes spoilt by a concurrent write */
	size_t n_posts;
	struct posting *posts;
};

struct share_root {
	char *path; /* as given (for Shares and Unshare) */
	char *real; /* realpath(path) */
	bool is_dir;
	bool removed;
	uint64_t ino, dev;
	struct share_entry *first, *last;
	size_t files, hashed_files;
	uint64_t bytes;
	struct share_root *dnext; /* share.c's list of withdrawn roots still being emptied */
	/* share.c's state */
	unsigned walking; /* walks of this root running or being merged */
	size_t busy;	  /* its entries queued for hashing or being hashed */
	bool rescan;	  /* another walk wanted once this one is merged */
};

struct share_index {
	struct htab by_path, by_sha, by_word;
	size_t files, hashed_files, max_files;
	uint64_t bytes;
};

/** An empty index that holds at most @p max_files entries. 0 or -ENOMEM. */
int share_index_init(struct share_index *idx, size_t max_files);
/** Free the tables; the owner removes every entry first (share_index_remove). */
void share_index_done(struct share_index *idx);
/**
 * Add the file @p path of @p root (its keywords come from @p path below the root).
 * Returns 0, -ENOSPC (full), -EEXIST (path indexed already), -ENAMETOOLONG, -ENOMEM.
 */
int share_index_add(struct share_index *idx, struct share_root *root, const char *path,
		    const struct share_stat *st, struct share_entry **ret);
/** Unlink @p e from every table and its root; drops the index's reference. */
void share_index_remove(struct share_index *idx, struct share_entry *e);
/** New size/mtime/inode for @p e: it loses its hash. */
void share_index_restat(struct share_index *idx, struct share_entry *e,
			const struct share_stat *st);
/** Give @p e its hashes (it becomes findable by SHA-256). */
void share_index_set_hash(struct share_index *idx, struct share_entry *e,
			  const uint8_t sha256[SHARE_SHA256_LEN],
			  const uint8_t sha1[SHARE_SHA1_LEN]);
/** Take @p e out of the SHA-256 table. */
void share_index_clear_hash(struct share_index *idx, struct share_entry *e);
/** The entry for @p path, or NULL. */
struct share_entry *share_index_by_path(const struct share_index *idx, const char *path);
/** A hashed entry with this content, or NULL. */
struct share_entry *share_index_by_sha256(const struct share_index *idx, const uint8_t *sha256);
/** See share_search(). */
size_t share_index_search(const struct share_index *idx, const char *query,
			  const struct share_entry **out, size_t max);
/** Compare versions of a file. */
bool share_stat_equal(const struct share_stat *a, const struct share_stat *b);
/** Fill @p ret from a struct stat. */
void share_stat_from(const struct stat *sb, struct share_stat *ret);

/* ---- walk.c: the directory walker (worker thread) ---------------------------------- */

struct walk_item {
	char *rel; /* path below the root ("" for a file root) */
	bool is_dir;
	struct share_stat st;
};

struct walk_params {
	const char *root; /* absolute, resolved */
	size_t max_files; /* stop after this many files */
	unsigned max_depth;
	struct {
		uint64_t ino, dev;
	} skip[2]; /* directories never entered (state, runtime) */
	size_t n_skip;
	bool watch; /* add an inotify watch to watch_fd for each directory before reading it */
	int watch_fd;
};

struct walk_result {
	struct walk_item *items;
	size_t n, cap, files;
	size_t hidden, symlinks, special, too_deep, too_long, errors;
	bool truncated; /* max_files reached */
	int error;	/* the root itself could not be read: -errno */
};

/**
 * Walk @p p->root without following any symlink (openat O_NOFOLLOW, fstatat
 * AT_SYMLINK_NOFOLLOW), skipping names that begin with '.', special files and the
 * skip directories; collects regular files and directories. Thread-safe. Returns 0
 * or -errno (root unreadable: also in r->error); -ENOMEM leaves a partial result.
 */
int share_walk(const struct walk_params *p, struct walk_result *r);
/** Free the items. */
void share_walk_result_done(struct walk_result *r);
/** @p fd is on a kernel pseudo file system (/proc, /sys, debugfs, cgroup, …). */
bool share_pseudo_fs(int fd);

/* ---- hash.c: hashing a file in chunks (worker thread) ------------------------------ */

struct hash_job {
	char *path;
	struct share_stat st; /* what was hashed (set by the first step) */
	int fd;
	void *c256, *c1; /* EVP_MD_CTX */
	uint8_t *buf;
	uint64_t done_bytes;
	bool finished;
	int result; /* 0, -ESTALE (changed while hashed), -errno */
	uint8_t sha256[SHARE_SHA256_LEN], sha1[SHARE_SHA1_LEN];
};

/** Prepare to hash @p path. 0 or -ENOMEM. */
int share_hash_init(struct hash_job *j, const char *path);
/** Read up to @p max bytes (opening the file on the first call); sets finished. */
void share_hash_step(struct hash_job *j, uint64_t max);
/** Release the job's resources (not @p j itself). */
void share_hash_done(struct hash_job *j);
/** Hash a whole file synchronously (tests). 0 or -errno. */
int share_hash_file(const char *path, uint8_t sha256[SHARE_SHA256_LEN],
		    uint8_t sha1[SHARE_SHA1_LEN], struct share_stat *ret_st);

/* ---- store.c: the index file ------------------------------------------------------ */

struct store_file {
	size_t root; /* index into roots */
	char *rel;
	struct share_stat st;
	uint8_t sha256[SHARE_SHA256_LEN], sha1[SHARE_SHA1_LEN];
};

struct store_data {
	char **roots;
	size_t n_roots;
	struct store_file *files;
	size_t n_files, cap_files;
};

/** Largest index file read: ~1 KiB per file line (a line holds ~170 bytes and a
 * percent-encoded path) and room for the root lines. */
#define SHARE_STORE_MAX_BYTES(max_files) ((size_t)(max_files)*1024 + 65536 * 64)

/**
 * Parse an index file. Bounded: at most @p max_roots roots and @p max_files files,
 * every field checked. On error returns -EINVAL with "LINE: problem" in @p err, and
 * @p ret keeps the roots read before the bad line (so they can be re-indexed).
 */
int share_store_parse(const char *buf, size_t len, size_t max_roots, size_t max_files,
		      struct store_data *ret, char *err, size_t errlen);
/** Free what share_store_parse() filled. */
void share_store_data_done(struct store_data *d);
/** A growing output buffer. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

/** Serialising in steps, so that 100,000 entries never hold the loop at once. */
struct store_fmt {
	struct sbuf b;
	struct share_root **roots; /* referenced */
	size_t n_roots, root_i;
	struct share_entry *cursor; /* referenced: the next entry to write */
};

/** Serialise @p roots and every hashed entry under them. 0 or -ENOMEM. */
int share_store_format(struct share_root *const *roots, size_t n_roots, char **ret,
		       size_t *ret_len);
/** Start serialising @p roots: the header and root lines. 0 or -ENOMEM. */
int share_store_format_begin(struct store_fmt *f, struct share_root *const *roots, size_t n_roots);
/**
 * Write the next @p max entries: 1 if more remain, 0 when done (the text is in f->b),
 * -ESTALE if the entry or root to continue from was removed meanwhile (begin again),
 * -ENOMEM. Entries changed between steps are written as they are when reached.
 */
int share_store_format_step(struct store_fmt *f, size_t max);
/** Release the references and the buffer. */
void share_store_format_done(struct store_fmt *f);
/** Atomically replace @p dir/@p name with @p len bytes of @p buf (temp, fsync, rename,
 * fsync dir). 0 or -errno. */
/** Read @p dir/@p name, at most @p max bytes (-EFBIG beyond). 0 or -errno. */
int share_store_read(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len);

/** What a directory below a root is watched for (the walker adds these too). */
#define SHARE_WATCH_DIR_MASK                                                                       \
	(IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_CREATE | IN_ATTRIB |        \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | IN_ONLYDIR)

/* ---- watch.c: inotify ------------------------------------------------------------- */

/** A change the loop must look at: @p name (or NULL for the directory itself) in @p dir. */
typedef void(watch_h)(struct share_root *root, const char *dir, const char *name, uint32_t mask,
		      void *arg);

struct share_watch {
	struct ev_loop *loop;
	int fd;
	ev_io io;
	struct htab by_wd;
	size_t n, max;
	bool full_logged;
	watch_h *h;
	void *arg;
};

/** Open the inotify fd and start reading it. 0 or -errno. */
int share_watch_init(struct share_watch *w, struct ev_loop *loop, size_t max, watch_h *h,
		     void *arg);
/** Stop and close; accepts a zeroed one. */
void share_watch_done(struct share_watch *w);
/** Watch directory @p path of @p root, or the root itself if it is a file (never
 * following symlinks). 0 or -errno. */
int share_watch_add(struct share_watch *w, struct share_root *root, const char *path);
/** Drop every watch of @p root. */
void share_watch_forget_root(struct share_watch *w, const struct share_root *root);

/* ---- the subsystem (share.c entry.c save.c scan.c queue.c change.c) ---------------- */

struct walk_job;

struct share {
	struct ev_loop *loop;
	struct worker_pool *pool;
	char *state_dir;		 /* NULL: nothing persisted */
	char *state_real, *runtime_real; /* resolved, for the "never share these" check */
	struct walk_params skip;	 /* their dev/ino, copied into every walk */
	size_t max_files;
	unsigned max_roots;
	struct share_index idx;
	struct share_root **roots;
	size_t n_roots, roots_cap;
	struct share_entry *qhead, *qtail; /* files waiting to be hashed */
	size_t n_queued, n_hashing, n_walks;
	struct walk_job *merge_head, *merge_tail;
	struct share_watch watch;
	ev_idle merge_idle;
	ev_timer save_timer, retry_timer;
	bool closing, dirty;
	ev_tstamp dirty_since;	  /* first change the armed save timer covers */
	bool save_soon;		  /* the armed save timer is for a root change */
	struct share_root *dying; /* withdrawn roots whose entries are removed in slices */
	ev_idle reap_idle;
	ev_idle save_idle; /* serialises the index in slices */
	struct store_fmt fmt;
	bool formatting;
	unsigned saving;	   /* save jobs in the pool */
	pthread_mutex_t save_lock; /* orders writers of shares.idx (pool and loop) */
	uint64_t save_gen, saved_gen;
	uint64_t roots_ver;	   /* counts root changes */
	uint64_t fmt_roots_ver;	   /* roots_ver when the snapshot under way began */
	uint64_t ended_roots_ver;  /* the newest one a save that ended held */
	share_saved_h *saved_h;
	void *saved_arg;
	uint64_t hash_runs, hash_bytes;
	size_t loaded;
};

/* scan.c */
/** Prepare the merge watcher. */
void scan_init_idle(struct share *s);
/** Walk @p root in the pool (or once the walk under way is merged). */
void scan_root(struct share *s, struct share_root *root);
/** Stop merging walks of @p root (it is being removed). */
void scan_forget_root(struct share *s, const struct share_root *root);
/** Drop every pending merge (closing). */
void scan_stop(struct share *s);

/* queue.c */
/** Queue @p e for hashing if it needs it and is not queued or being hashed. */
void queue_entry(struct share *s, struct share_entry *e);
/** Start hash jobs up to SHARE_HASH_JOBS. */
void queue_kick(struct share *s);
/** The retry timer's callback. */
void queue_on_retry(struct ev_loop *loop, ev_timer *t, int revents);
/** Remove @p e from the queue and the index. */
void queue_remove_entry(struct share *s, struct share_entry *e);

/* change.c */
/** The inotify callback. */
void change_on_event(struct share_root *root, const char *dir, const char *name, uint32_t mask,
		     void *arg);

/** @p e is in the index and its root still shared (not being emptied). */
static inline bool share_entry_live(const struct share_entry *e)
{
	return !e->removed && !e->root->removed;
}

/* share.c */
/** @p path is a live root or below one. */
bool share_path_shared(const struct share *s, const char *path);

/* save.c */
/** Prepare the save timer and idle watcher. */
void save_init(struct share *s);
/** Mark the index changed; it is saved a moment later. */
void share_changed(struct share *s);
/** A root came or went: saved at once (a few tens of milliseconds), not postponed by
 * the changes that follow. */
void share_roots_changed(struct share *s);

#endif
