/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The share subsystem: its lifecycle, the roots the user shares, loading the index
 * file, Status. Walking (scan.c), hashing (queue.c), change detection (change.c),
 * saving (save.c) and the lookups (entry.c) run beside it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xml.h"
#include "core/worker.h"
#include "share/share-private.h"

/* Entries of a withdrawn root removed per loop iteration (about 1.5 ms). */
#define REAP_SLICE 2048

void share_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- roots ------------------------------------------------------------------------- */

static void root_destroy(void *data)
{
	struct share_root *r = data;

	free(r->path);
	free(r->real);
}

/* @p inner is @p outer or below it. */
static bool path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	if (strcmp(outer, "/") == 0)
		return true;
	return strncmp(inner, outer, n) == 0 && (inner[n] == '\0' || inner[n] == '/');
}

bool share_path_shared(const struct share *s, const char *path)
{
	for (size_t i = 0; i < s->n_roots; i++)
		if (path_within(path, s->roots[i]->real))
			return true;
	return false;
}

static int check_place(struct share *s, const char *real, struct share_root **ret)
{
	if ((s->state_real && path_within(real, s->state_real)) ||
	    (s->runtime_real && path_within(real, s->runtime_real)))
		return -EPERM;
	for (size_t i = 0; i < s->n_roots; i++) {
		if (strcmp(s->roots[i]->real, real) == 0) {
			*ret = s->roots[i];
			return -EEXIST;
		}
		if (path_within(real, s->roots[i]->real) || path_within(s->roots[i]->real, real)) {
			*ret = s->roots[i];
			return -EBUSY;
		}
	}
	return s->n_roots >= s->max_roots ? -ENOSPC : 0;
}

static bool on_pseudo_fs(const char *path)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	bool r = fd >= 0 && share_pseudo_fs(fd);

	if (fd >= 0)
		close(fd);
	return r;
}

/* Resolve and check @p path; the new root is not yet in the table. */
static int root_new(struct share *s, const char *path, struct share_root **ret)
{
	_cleanup_(freep) char *real = NULL;
	struct share_root *r;
	struct stat sb;
	int e;

	if (path[0] != '/')
		return -EINVAL;
	if (strlen(path) >= SHARE_MAX_PATH)
		return -ENAMETOOLONG;
	real = realpath(path, NULL);
	if (!real || stat(real, &sb) < 0)
		return -errno;
	if ((!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) || on_pseudo_fs(real))
		return -EBADFD;
	if (access(real, S_ISDIR(sb.st_mode) ? R_OK | X_OK : R_OK) < 0)
		return -errno;
	e = check_place(s, real, ret);
	if (e < 0)
		return e;
	r = mem_zalloc(sizeof(*r), root_destroy);
	if (!r)
		return -ENOMEM;
	r->path = strdup(path);
	r->real = real;
	real = NULL;
	if (!r->path) {
		mem_deref(r);
		return -ENOMEM;
	}
	r->is_dir = S_ISDIR(sb.st_mode);
	r->ino = sb.st_ino;
	r->dev = sb.st_dev;
	*ret = r;
	return 0;
}

static int root_insert(struct share *s, const char *path, struct share_root **ret)
{
	struct share_root *r = NULL;
	int e = root_new(s, path, &r);

	if (e < 0) {
		if (ret && (e == -EEXIST || e == -EBUSY))
			*ret = r;
		return e;
	}
	s->roots[s->n_roots++] = r;
	if (ret)
		*ret = r;
	return 0;
}

int share_add(struct share *s, const char *path, struct share_root **ret)
{
	struct share_root *r = NULL;
	int e = root_insert(s, path, &r);

	if (ret && r)
		*ret = r;
	if (e < 0)
		return e;
	log_info("share: sharing %s", path);
	scan_root(s, r);
	share_roots_changed(s);
	return 0;
}

/* Remove up to @p max entries of @p r; true when it is empty. */
static bool empty_root(struct share *s, struct share_root *r, size_t max)
{
	for (size_t n = 0; r->first && n < max; n++)
		queue_remove_entry(s, r->first);
	return !r->first;
}

/* Removing 100,000 entries takes ~75 ms: a large withdrawn root is emptied in slices.
 * Until then its entries are no longer found (share_entry_live()). */
static void on_reap(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct share *s = w->data;
	struct share_root *r = s->dying;

	if (r && empty_root(s, r, REAP_SLICE)) {
		s->dying = r->dnext;
		mem_deref(r);
	}
	if (!s->dying)
		ev_idle_stop(loop, w);
}

static void root_withdraw(struct share *s, size_t i)
{
	struct share_root *r = s->roots[i];

	r->removed = true;
	share_watch_forget_root(&s->watch, r);
	scan_forget_root(s, r);
	memmove(&s->roots[i], &s->roots[i + 1], (s->n_roots - i - 1) * sizeof(*s->roots));
	s->n_roots--;
	if (s->closing || empty_root(s, r, REAP_SLICE)) {
		empty_root(s, r, SIZE_MAX);
		mem_deref(r);
		return;
	}
	r->dnext = s->dying; /* the table's reference goes with it */
	s->dying = r;
	ev_idle_start(s->loop, &s->reap_idle);
}

int share_remove(struct share *s, const char *path)
{
	_cleanup_(freep) char *real = path[0] == '/' ? realpath(path, NULL) : NULL;

	for (size_t i = 0; i < s->n_roots; i++)
		if (strcmp(s->roots[i]->path, path) == 0 ||
		    (real && strcmp(s->roots[i]->real, real) == 0)) {
			log_info("share: withdrawing %s", s->roots[i]->path);
			root_withdraw(s, i);
			share_roots_changed(s);
			return 0;
		}
	return -ENOENT;
}

int share_set_limits(struct share *s, size_t max_files, unsigned max_roots)
{
	max_files = max_files ? max_files : SHARE_DEFAULT_MAX_FILES;
	max_roots = max_roots ? max_roots : SHARE_DEFAULT_MAX_ROOTS;
	if (max_roots > s->roots_cap) {
		struct share_root **v = realloc(s->roots, max_roots * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->roots = v;
		s->roots_cap = max_roots;
	}
	/* Lower limits refuse new files and shares; what is indexed stays until the
	 * next rescan of its root. */
	s->max_roots = max_roots;
	s->max_files = s->idx.max_files = max_files;
	return 0;
}

size_t share_root_count(const struct share *s)
{
	return s->n_roots;
}

struct share_root *share_root_get(const struct share *s, size_t i)
{
	return i < s->n_roots ? s->roots[i] : NULL;
}

void share_root_get_info(const struct share_root *r, struct share_root_info *ret)
{
	*ret = (struct share_root_info){
	    .path = r->path,
	    .is_dir = r->is_dir,
	    .indexing = r->walking || r->busy,
	    .files = r->files,
	    .hashed_files = r->hashed_files,
	    .bytes = r->bytes,
	};
}

const struct share_entry *share_root_first(const struct share_root *r)
{
	return r->first;
}

const struct share_entry *share_entry_next(const struct share_entry *e)
{
	return e->rnext;
}

/* ---- Status ------------------------------------------------------------------------ */

static void on_status(struct xml_writer *w, enum status_part part, void *arg)
{
	struct share *s = arg;

	if (part != STATUS_COUNTS)
		return;
	xml_attrf(w, "shares", "%zu", s->n_roots);
	xml_attrf(w, "shared-files", "%zu", s->idx.files);
	xml_attrf(w, "hash-pending", "%zu", s->n_queued + s->n_hashing);
	xml_attrf(w, "hashed", "%llu", (unsigned long long)s->hash_runs);
}

/* ---- loading ----------------------------------------------------------------------- */

static void load_files(struct share *s, const struct store_data *d, struct share_root **map)
{
	for (size_t i = 0; i < d->n_files; i++) {
		const struct store_file *f = &d->files[i];
		struct share_root *r = map[f->root];
		char path[SHARE_MAX_PATH + 2];
		struct share_entry *e;
		bool file_root = strcmp(f->rel, ".") == 0;

		if (!r || file_root == r->is_dir)
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", r->real, file_root ? "" : "/",
			     file_root ? "" : f->rel) >= SHARE_MAX_PATH ||
		    share_index_add(&s->idx, r, path, &f->st, &e) < 0)
			continue;
		share_index_set_hash(&s->idx, e, f->sha256, f->sha1);
		e->confirmed = false; /* until the rescan sees the file */
		s->loaded++;
	}
}

static void load_roots(struct share *s, const struct store_data *d, bool with_files)
{
	struct share_root **map = calloc(d->n_roots ? d->n_roots : 1, sizeof(*map));

	if (!map) {
		log_err("share: out of memory loading the index");
		return;
	}
	for (size_t i = 0; i < d->n_roots; i++) {
		int r = root_insert(s, d->roots[i], &map[i]);

		if (r < 0) {
			log_warn("share: %s is no longer shared: %s", d->roots[i],
				 r == -EEXIST || r == -EBUSY ? "it overlaps another share"
							     : strerror(-r));
			map[i] = NULL;
		}
	}
	if (with_files)
		load_files(s, d, map);
	free(map);
}

/* A corrupt or hostile shares.idx is refused, never half-trusted: its roots (those
 * before the bad line) are kept and re-indexed from scratch. */
static void load(struct share *s)
{
	_cleanup_(freep) char *buf = NULL;
	struct store_data d;
	char err[256];
	size_t len;
	int r = share_store_read(s->state_dir, SHARE_INDEX_FILE,
				 SHARE_STORE_MAX_BYTES(s->max_files), &buf, &len);

	if (r == -ENOENT)
		return;
	if (r < 0) {
		log_warn("share: cannot read %s/%s: %s; starting with no shares", s->state_dir,
			 SHARE_INDEX_FILE, strerror(-r));
		return;
	}
	r = share_store_parse(buf, len, s->max_roots, s->max_files, &d, err, sizeof(err));
	if (r < 0)
		log_warn("share: %s/%s refused (line %s); re-indexing its %zu shares from scratch",
			 s->state_dir, SHARE_INDEX_FILE, err, d.n_roots);
	load_roots(s, &d, r == 0);
	share_store_data_done(&d);
	log_info("share: %zu shares, %zu files with their hashes from %s/%s", s->n_roots, s->loaded,
		 s->state_dir, SHARE_INDEX_FILE);
}

/* ---- lifecycle --------------------------------------------------------------------- */

static void share_destroy(void *data)
{
	struct share *s = data;

	share_index_done(&s->idx);
	pthread_mutex_destroy(&s->save_lock);
	free(s->roots);
	free(s->state_dir);
	free(s->state_real);
	free(s->runtime_real);
}

/* Never index our own state and runtime files, whatever is shared around them. */
static void add_skip(struct share *s, const char *dir, char **real)
{
	struct stat sb;

	if (!dir)
		return;
	*real = realpath(dir, NULL);
	if (*real && stat(*real, &sb) == 0 && s->skip.n_skip < ARRAY_SIZE(s->skip.skip)) {
		s->skip.skip[s->skip.n_skip].ino = sb.st_ino;
		s->skip.skip[s->skip.n_skip++].dev = sb.st_dev;
	}
	if (!*real)
		*real = strdup(dir); /* not there yet: the prefix check still applies */
}

static int init(struct share *s, struct ev_loop *loop, struct worker_pool *pool,
		const struct share_config *cfg)
{
	int r;

	s->loop = loop;
	s->pool = pool;
	s->max_files = cfg->max_files ? cfg->max_files : SHARE_DEFAULT_MAX_FILES;
	s->max_roots = cfg->max_roots ? cfg->max_roots : SHARE_DEFAULT_MAX_ROOTS;
	pthread_mutex_init(&s->save_lock, NULL);
	save_init(s);
	ev_idle_init(&s->reap_idle, on_reap);
	s->reap_idle.data = s;
	ev_timer_init(&s->retry_timer, queue_on_retry, 0.1, 0.);
	s->retry_timer.data = s;
	scan_init_idle(s);
	s->roots = calloc(s->max_roots, sizeof(*s->roots));
	s->roots_cap = s->max_roots;
	if (!s->roots || share_index_init(&s->idx, s->max_files) < 0)
		return -ENOMEM;
	if (cfg->state_dir && !(s->state_dir = strdup(cfg->state_dir)))
		return -ENOMEM;
	/* Made now, so that it can be recognised (and refused) as a share from the start. */
	if (s->state_dir && (r = paths_make_private_dir(s->state_dir)) < 0)
		log_warn("share: state dir %s: %s; the index will not be saved", s->state_dir,
			 strerror(-r));
	add_skip(s, cfg->state_dir, &s->state_real);
	add_skip(s, cfg->runtime_dir, &s->runtime_real);
	r = share_watch_init(&s->watch, loop, SHARE_MAX_WATCHES, change_on_event, s);
	if (r < 0)
		log_warn("share: inotify: %s; changes are seen only when a file is served",
			 strerror(-r));
	return 0;
}

int share_new(struct ev_loop *loop, struct worker_pool *pool, const struct share_config *cfg,
	      struct share **ret)
{
	struct share *s = mem_zalloc(sizeof(*s), share_destroy);
	int r;

	if (!s)
		return -ENOMEM;
	s->watch.fd = -1;
	r = init(s, loop, pool, cfg);
	if (r < 0) {
		share_free(s);
		return r;
	}
	if (s->state_dir)
		load(s);
	for (size_t i = 0; i < s->n_roots; i++)
		scan_root(s, s->roots[i]);
	status_register(on_status, s);
	*ret = s;
	return 0;
}

void share_free(struct share *s)
{
	if (!s)
		return;
	status_unregister(on_status, s);
	/* Jobs still in the pool see `closing` in their done call and only let go. */
	if ((s->dirty || s->formatting) && s->loop)
		share_save_now(s);
	s->closing = true;
	if (s->loop) {
		ev_timer_stop(s->loop, &s->save_timer);
		ev_timer_stop(s->loop, &s->retry_timer);
		scan_stop(s);
	}
	share_watch_done(&s->watch);
	while (s->n_roots)
		root_withdraw(s, s->n_roots - 1);
	while (s->dying) {
		struct share_root *r = s->dying;

		empty_root(s, r, SIZE_MAX);
		s->dying = r->dnext;
		mem_deref(r);
	}
	if (s->loop)
		ev_idle_stop(s->loop, &s->reap_idle);
	mem_deref(s);
}
