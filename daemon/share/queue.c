/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hash queue: files waiting for their SHA-256/SHA-1, hashed by at most
 * SHARE_HASH_JOBS jobs in the worker pool at once, each job a chunk of one file
 * resubmitted until the file is done. A job holds references to the subsystem and its
 * entry, so neither goes away under it; a result for an entry that changed meanwhile
 * is thrown away and the entry hashed again.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/worker.h"
#include "share/share-private.h"

/* A file rewritten while we hash it is tried this often before we wait for inotify. */
#define MAX_RETRIES 3

struct hjob {
	struct hash_job h;
	struct share *s;
	struct share_entry *e;
	unsigned version;
	uint64_t counted; /* bytes already added to s->hash_bytes */
};

static void unlink_q(struct share *s, struct share_entry *e)
{
	if (e->qprev)
		e->qprev->qnext = e->qnext;
	else
		s->qhead = e->qnext;
	if (e->qnext)
		e->qnext->qprev = e->qprev;
	else
		s->qtail = e->qprev;
	e->qprev = e->qnext = NULL;
	e->queued = false;
	s->n_queued--;
}

static void link_q(struct share *s, struct share_entry *e)
{
	e->qprev = s->qtail;
	e->qnext = NULL;
	if (s->qtail)
		s->qtail->qnext = e;
	else
		s->qhead = e;
	s->qtail = e;
	e->queued = true;
	s->n_queued++;
}

void queue_entry(struct share *s, struct share_entry *e)
{
	if (e->removed || e->hashed || e->queued || e->hashing)
		return;
	link_q(s, e);
	e->root->busy++;
}

void queue_remove_entry(struct share *s, struct share_entry *e)
{
	if (e->queued) {
		unlink_q(s, e);
		e->root->busy--;
	}
	share_index_remove(&s->idx, e);
}

static void hjob_free(struct hjob *j)
{
	share_hash_done(&j->h);
	mem_deref(j->e);
	mem_deref(j->s);
	free(j);
}

static void hash_work(void *arg)
{
	struct hjob *j = arg;

	share_hash_step(&j->h, SHARE_HASH_CHUNK);
}

static void hash_done(void *arg, int status);

/* The result of a finished job, for an entry still in the index. */
static void apply(struct share *s, struct hjob *j)
{
	struct share_entry *e = j->e;

	if (e->version != j->version) {
		queue_entry(s, e); /* changed while we hashed: the result is for an old file */
	} else if (j->h.result == 0) {
		if (!share_stat_equal(&e->st, &j->h.st))
			share_index_restat(&s->idx, e, &j->h.st); /* we hashed a newer version */
		share_index_set_hash(&s->idx, e, j->h.sha256, j->h.sha1);
		e->retries = 0;
		s->hash_runs++;
		share_changed(s);
	} else if (j->h.result == -ESTALE && ++e->retries < MAX_RETRIES) {
		queue_entry(s, e);
	} else if (j->h.result == -ENOENT || j->h.result == -EBADFD || j->h.result == -ELOOP) {
		log_debug("share: %s is gone or no longer a regular file", e->path);
		queue_remove_entry(s, e);
		share_changed(s);
	} else if (j->h.result != -ESTALE) {
		/* Unreadable (EACCES, EIO, …): not shared, and not retried until it changes. */
		log_warn("share: cannot hash %s: %s; it is not shared", e->path,
			 strerror(-j->h.result));
		queue_remove_entry(s, e);
		share_changed(s);
	}
}

static void hash_done(void *arg, int status)
{
	struct hjob *j = arg;
	struct share *s = j->s;

	s->hash_bytes += j->h.done_bytes - j->counted;
	j->counted = j->h.done_bytes;
	if (status == 0 && !s->closing && share_entry_live(j->e) && !j->h.finished &&
	    worker_submit(s->pool, hash_work, hash_done, j) == 0)
		return; /* next chunk */
	j->e->hashing = false;
	j->e->root->busy--;
	s->n_hashing--;
	if (status == 0 && !s->closing && share_entry_live(j->e)) {
		if (j->h.finished)
			apply(s, j);
		else
			queue_entry(s, j->e); /* the pool was full: try again later */
	}
	if (!s->closing)
		queue_kick(s);
	hjob_free(j); /* may drop the last reference to s */
}

static int start(struct share *s, struct share_entry *e)
{
	struct hjob *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	r = share_hash_init(&j->h, e->path);
	if (r < 0) {
		free(j);
		return r;
	}
	j->s = mem_ref(s);
	j->e = mem_ref(e);
	j->version = e->version;
	r = worker_submit(s->pool, hash_work, hash_done, j);
	if (r < 0) {
		hjob_free(j);
		return r;
	}
	e->hashing = true;
	s->n_hashing++;
	return 0;
}

void queue_on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	queue_kick(t->data);
}

void queue_kick(struct share *s)
{
	while (!s->closing && s->qhead && s->n_hashing < SHARE_HASH_JOBS) {
		struct share_entry *e = s->qhead;

		unlink_q(s, e);
		if (e->root->removed) { /* being emptied (share.c reaps it): not worth hashing */
			e->root->busy--;
			continue;
		}
		if (start(s, e) < 0) {
			/* Pool full or out of memory: keep it queued and retry soon. */
			link_q(s, e);
			if (!ev_is_active(&s->retry_timer))
				ev_timer_start(s->loop, &s->retry_timer);
			return;
		}
	}
}
