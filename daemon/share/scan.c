/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scanning a root: the walk runs in the worker pool; its result is merged into the
 * index on the loop in slices of MERGE_SLICE items from an ev_idle watcher, so that
 * even a 100,000-file walk never holds the loop for long. An entry whose (path, size,
 * mtime, inode, device) is unchanged keeps its hash; new and changed files are queued
 * for hashing; entries the walk did not see are dropped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/worker.h"
#include "share/share-private.h"

/* Items merged per loop iteration (about a millisecond of work). */
#define MERGE_SLICE 512

struct walk_job {
	struct walk_job *next;
	struct share *s;
	struct share_root *root;
	struct walk_params p;
	struct walk_result res;
	size_t pos;	/* next item to merge */
	size_t dropped; /* files the index had no room for */
	bool started;	/* entries of the root marked unseen */
};

/* The walker watched the directories of a root that is gone before its merge could
 * register them: take those watches back (adding returns the existing wd). */
static void unwatch(struct walk_job *j)
{
	char path[SHARE_MAX_PATH + 2];

	for (size_t i = 0; i < j->res.n; i++) {
		const struct walk_item *it = &j->res.items[i];
		int wd;

		if (!it->is_dir ||
		    snprintf(path, sizeof(path), "%s%s%s", j->p.root, *it->rel ? "/" : "",
			     it->rel) >= SHARE_MAX_PATH ||
		    share_path_shared(j->s, path))
			continue; /* shared again meanwhile: the watch is the new root's */
		wd = inotify_add_watch(j->p.watch_fd, path, SHARE_WATCH_DIR_MASK);
		if (wd >= 0)
			inotify_rm_watch(j->p.watch_fd, wd);
	}
}

static void job_free(struct walk_job *j)
{
	if (j->p.watch && j->root->removed && !j->s->closing)
		unwatch(j);
	if (j->p.watch)
		close(j->p.watch_fd);
	share_walk_result_done(&j->res);
	mem_deref(j->root);
	mem_deref(j->s);
	free(j);
}

static void walk_work(void *arg)
{
	struct walk_job *j = arg;

	share_walk(&j->p, &j->res);
}

static void log_walk(const struct walk_job *j)
{
	const struct walk_result *r = &j->res;

	if (r->error)
		log_warn("share: cannot read %s: %s; its files are withdrawn", j->root->path,
			 strerror(-r->error));
	if (r->truncated)
		log_warn("share: %s: the index is full (%zu files, <share max-files>); files "
			 "beyond that are not shared",
			 j->root->path, j->s->max_files);
	log_info("share: walked %s: %zu files; skipped %zu hidden, %zu symlinks, %zu special, "
		 "%zu too deep, %zu too long, %zu unreadable",
		 j->root->path, r->files, r->hidden, r->symlinks, r->special, r->too_deep,
		 r->too_long, r->errors);
}

static void walk_done(void *arg, int status)
{
	struct walk_job *j = arg;
	struct share *s = j->s;

	s->n_walks--;
	if (status < 0 || s->closing || j->root->removed) {
		if (!j->root->removed)
			j->root->walking = 0;
		job_free(j);
		return;
	}
	log_walk(j);
	if (s->merge_tail)
		s->merge_tail->next = j;
	else
		s->merge_head = j;
	s->merge_tail = j;
	ev_idle_start(s->loop, &s->merge_idle);
}

static void fill_params(struct share *s, struct walk_job *j)
{
	size_t others = s->idx.files - j->root->files;

	j->p = s->skip;
	j->p.root = j->root->real;
	j->p.max_depth = SHARE_MAX_DEPTH;
	/* The room left for this root: everything but what the other roots hold. */
	j->p.max_files = s->max_files > others ? s->max_files - others : 0;
	/* Its own descriptor of the inotify instance: the job may outlive share_free(). */
	if (j->root->is_dir && s->watch.fd >= 0)
		j->p.watch_fd = fcntl(s->watch.fd, F_DUPFD_CLOEXEC, 3);
	j->p.watch = j->root->is_dir && s->watch.fd >= 0 && j->p.watch_fd >= 0;
}

void scan_root(struct share *s, struct share_root *root)
{
	struct walk_job *j;

	if (root->walking) {
		root->rescan = true;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		log_err("share: out of memory scanning %s", root->path);
		return;
	}
	j->s = mem_ref(s);
	j->root = mem_ref(root);
	fill_params(s, j);
	if (worker_submit(s->pool, walk_work, walk_done, j) < 0) {
		log_err("share: the worker pool is full; %s will be scanned at the next change",
			root->path);
		job_free(j);
		return;
	}
	root->walking = 1;
	root->rescan = false;
	s->n_walks++;
}

/* ---- merging ----------------------------------------------------------------------- */

static void merge_file(struct walk_job *j, const char *path, const struct share_stat *st)
{
	struct share *s = j->s;
	struct share_entry *e = share_index_by_path(&s->idx, path);

	if (e && e->root->removed) { /* left by a withdrawn root still being emptied */
		queue_remove_entry(s, e);
		e = NULL;
	}
	if (e && e->root != j->root)
		return; /* another root's (cannot happen: roots never overlap) */
	if (!e) {
		if (share_index_add(&s->idx, j->root, path, st, &e) < 0) {
			j->dropped++;
			return;
		}
		share_changed(s);
	} else if (!share_stat_equal(&e->st, st)) {
		share_index_restat(&s->idx, e, st);
		share_changed(s);
	}
	e->seen = true;
	e->confirmed = true;
	queue_entry(s, e);
}

static void merge_item(struct walk_job *j, const struct walk_item *it)
{
	char path[SHARE_MAX_PATH + 2];
	int n = snprintf(path, sizeof(path), "%s%s%s", j->root->real, *it->rel ? "/" : "", it->rel);

	if (n < 0 || (size_t)n >= SHARE_MAX_PATH)
		return;
	if (it->is_dir || !j->root->is_dir)
		(void)share_watch_add(&j->s->watch, j->root, path);
	if (!it->is_dir)
		merge_file(j, path, &it->st);
}

static void unmark(struct share_root *root)
{
	for (struct share_entry *e = root->first; e; e = e->rnext)
		e->seen = false;
}

/* What the walk did not see is gone (or beyond the limit): drop it. */
static void sweep(struct walk_job *j)
{
	struct share *s = j->s;
	size_t n = 0;

	for (struct share_entry *e = j->root->first, *next; e; e = next) {
		next = e->rnext;
		if (!e->seen) {
			queue_remove_entry(s, e);
			n++;
		}
	}
	if (n)
		share_changed(s);
	if (j->dropped)
		log_warn("share: %s: %zu files not indexed (index full: max-files %zu)",
			 j->root->path, j->dropped, s->max_files);
}

static void merge_finish(struct share *s, struct walk_job *j)
{
	struct share_root *root = j->root;

	sweep(j);
	s->merge_head = j->next;
	if (!s->merge_head)
		s->merge_tail = NULL;
	root->walking = 0;
	log_info("share: %s indexed: %zu files, %zu to hash", root->path, root->files,
		 root->files - root->hashed_files);
	job_free(j);
	if (root->rescan)
		scan_root(s, root);
}

/* One slice of the first pending merge. */
static void on_merge(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct share *s = w->data;
	struct walk_job *j = s->merge_head;
	size_t end;

	if (!j) {
		ev_idle_stop(loop, w);
		return;
	}
	if (!j->started) {
		unmark(j->root);
		j->started = true;
	}
	end = j->pos + MERGE_SLICE < j->res.n ? j->pos + MERGE_SLICE : j->res.n;
	for (; j->pos < end; j->pos++)
		merge_item(j, &j->res.items[j->pos]);
	if (j->pos == j->res.n)
		merge_finish(s, j);
	queue_kick(s);
}

void scan_init_idle(struct share *s)
{
	ev_idle_init(&s->merge_idle, on_merge);
	s->merge_idle.data = s;
}

void scan_forget_root(struct share *s, const struct share_root *root)
{
	struct walk_job **pp = &s->merge_head, *prev = NULL;

	while (*pp) {
		struct walk_job *j = *pp;

		if (j->root != root) {
			prev = j;
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		job_free(j);
	}
	s->merge_tail = prev;
	if (!s->merge_head)
		ev_idle_stop(s->loop, &s->merge_idle);
}

void scan_stop(struct share *s)
{
	while (s->merge_head) {
		struct walk_job *j = s->merge_head;

		s->merge_head = j->next;
		job_free(j);
	}
	s->merge_tail = NULL;
	ev_idle_stop(s->loop, &s->merge_idle);
}
