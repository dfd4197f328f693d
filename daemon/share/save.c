/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Saving the index to STATE/shares.idx (format: store.c): a moment after changes
 * settle (or at the latest SAVE_MAX_DELAY after the first one), serialised in
 * slices on the loop, written and fsync'ed in the worker pool. Writers are ordered
 * by a generation number, so an older snapshot never replaces a newer one.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/worker.h"
#include "share/share-private.h"

/* Seconds after the last change before the index is written. */
#define SAVE_DELAY 1.0
/* ... but no later than this after the first unsaved change: a long indexing run
 * keeps changing the index, and a crash should not lose all of it. */
#define SAVE_MAX_DELAY 10.0
/* A Share or Unshare is answered once it is on disk, saved this soon whatever
 * hashing goes on meanwhile (Shares in a row within it share one write). */
#define SAVE_ROOTS_DELAY 0.01
/* Entries serialised per loop iteration (about two milliseconds). */
#define SAVE_SLICE 2048

struct save_job {
	struct share *s;
	char *buf;
	size_t len;
	uint64_t gen;
	uint64_t roots_ver; /* the roots this snapshot holds */
	int result;
};

/* Saves of @p roots_ver ended: whoever waits for it is told (the user was told "Ok"
 * only once the roots were on disk; a failure has its own log line). */
static void roots_saved(struct share *s, uint64_t roots_ver)
{
	if (roots_ver <= s->ended_roots_ver)
		return;
	s->ended_roots_ver = roots_ver;
	if (s->saved_h)
		s->saved_h(roots_ver, s->saved_arg);
}

/* Under save_lock, so that an older snapshot never replaces a newer one. */
static int write_gen(struct share *s, const char *buf, size_t len, uint64_t gen)
{
	int r = 0;

	pthread_mutex_lock(&s->save_lock);
	if (gen > s->saved_gen) {
		r = paths_write_atomic(s->state_dir, SHARE_INDEX_FILE, buf, len);
		if (r == 0)
			s->saved_gen = gen;
	}
	pthread_mutex_unlock(&s->save_lock);
	return r;
}

static void save_work(void *arg)
{
	struct save_job *j = arg;

	j->result = write_gen(j->s, j->buf, j->len, j->gen);
}

static void save_done(void *arg, int status)
{
	struct save_job *j = arg;

	j->s->saving--;
	if (status == 0 && j->result < 0)
		log_err("share: cannot write %s/%s: %s", j->s->state_dir, SHARE_INDEX_FILE,
			strerror(-j->result));
	roots_saved(j->s, j->roots_ver);
	mem_deref(j->s);
	free(j->buf);
	free(j);
}

static void arm_save(struct share *s)
{
	if (!ev_is_active(&s->save_timer)) {
		s->dirty_since = ev_now(s->loop);
		ev_timer_set(&s->save_timer, SAVE_DELAY, 0.);
		ev_timer_start(s->loop, &s->save_timer);
	}
}

/* The write and the fsyncs go to the pool; @p buf passes to the job. */
static void save_submit(struct share *s, char *buf, size_t len)
{
	struct save_job *j = calloc(1, sizeof(*j));
	int r = -ENOMEM;

	if (j) {
		*j = (struct save_job){.s = mem_ref(s),
				       .buf = buf,
				       .len = len,
				       .gen = ++s->save_gen,
				       .roots_ver = s->fmt_roots_ver};
		r = worker_submit(s->pool, save_work, save_done, j);
	}
	if (r < 0) {
		log_err("share: cannot save the index: %s", strerror(-r));
		if (j)
			mem_deref(j->s);
		free(buf);
		free(j);
		s->dirty = true;
		roots_saved(s, s->fmt_roots_ver); /* no one waits for what will not come */
		return;
	}
	s->saving++;
}

static void save_abort(struct share *s)
{
	if (!s->formatting)
		return;
	ev_idle_stop(s->loop, &s->save_idle);
	share_store_format_done(&s->fmt);
	s->formatting = false;
}

static void save_begin(struct share *s)
{
	int r = paths_make_private_dir(s->state_dir);

	if (r == 0)
		r = share_store_format_begin(&s->fmt, s->roots, s->n_roots);
	if (r < 0) {
		share_store_format_done(&s->fmt);
		log_err("share: cannot save the index: %s", strerror(-r));
		roots_saved(s, s->roots_ver);
		return;
	}
	s->dirty = false; /* changes from now on need another save */
	s->fmt_roots_ver = s->roots_ver;
	s->formatting = true;
	ev_idle_start(s->loop, &s->save_idle);
}

/* A root came or went: saved at once (a client waits for its "Ok"), not postponed
 * by the changes that follow. */
static void save_roots_soon(struct share *s)
{
	if (!s->state_dir || s->closing || s->save_soon)
		return;
	s->save_soon = true;
	ev_timer_stop(s->loop, &s->save_timer);
	ev_timer_set(&s->save_timer, SAVE_ROOTS_DELAY, 0.);
	ev_timer_start(s->loop, &s->save_timer);
}

/* Serialising 100,000 entries takes ~100 ms: done in slices between other events. */
static void on_save_slice(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct share *s = w->data;
	int r = share_store_format_step(&s->fmt, SAVE_SLICE);

	if (r == 1)
		return;
	if (r == -ESTALE) { /* the entry to go on from was removed: start over */
		save_abort(s);
		save_begin(s);
		return;
	}
	if (r == 0) {
		save_submit(s, s->fmt.b.p, s->fmt.b.len);
		s->fmt.b.p = NULL;
	} else {
		log_err("share: cannot save the index: %s", strerror(-r));
		s->dirty = true;
		roots_saved(s, s->fmt_roots_ver);
	}
	save_abort(s);
	if (s->roots_ver > s->fmt_roots_ver)
		save_roots_soon(s); /* a Share came during the snapshot and waits for it */
	else if (s->dirty)
		arm_save(s);
}

static void on_save(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct share *s = t->data;

	s->save_soon = false;
	/* A snapshot under way re-arms the timer when it ends if more changed. */
	if (!s->formatting)
		save_begin(s);
}

void share_changed(struct share *s)
{
	if (!s->state_dir || s->closing)
		return;
	s->dirty = true;
	/* An expired timer is pending, not active, until its callback runs later in
	 * this loop turn: restarting it then would put the roots' save off by a second. */
	if (s->save_soon)
		return; /* the roots' save comes at once and takes this change too */
	if (!ev_is_active(&s->save_timer) && !ev_is_pending(&s->save_timer))
		s->dirty_since = ev_now(s->loop);
	else if (ev_now(s->loop) - s->dirty_since > SAVE_MAX_DELAY)
		return; /* let the armed timer fire */
	/* Restarted by every change: one write when a burst of changes settles. */
	ev_timer_stop(s->loop, &s->save_timer);
	ev_timer_set(&s->save_timer, SAVE_DELAY, 0.);
	ev_timer_start(s->loop, &s->save_timer);
}

void share_roots_changed(struct share *s)
{
	share_changed(s);
	s->roots_ver++;
	save_roots_soon(s);
}

uint64_t share_roots_unsaved(const struct share *s)
{
	return s->state_dir && s->ended_roots_ver < s->roots_ver ? s->roots_ver : 0;
}

void share_set_saved_handler(struct share *s, share_saved_h *h, void *arg)
{
	s->saved_h = h;
	s->saved_arg = arg;
}

int share_save_now(struct share *s)
{
	_cleanup_(freep) char *buf = NULL;
	size_t len;
	int r;

	if (!s->state_dir)
		return 0;
	ev_timer_stop(s->loop, &s->save_timer);
	save_abort(s);
	r = paths_make_private_dir(s->state_dir);
	if (r == 0)
		r = share_store_format(s->roots, s->n_roots, &buf, &len);
	if (r == 0) {
		s->dirty = false;
		r = write_gen(s, buf, len, ++s->save_gen);
	}
	roots_saved(s, s->roots_ver);
	if (r < 0) {
		s->dirty = true;
		log_err("share: cannot write %s/%s: %s", s->state_dir, SHARE_INDEX_FILE,
			strerror(-r));
	}
	return r;
}

void save_init(struct share *s)
{
	ev_timer_init(&s->save_timer, on_save, SAVE_DELAY, 0.);
	s->save_timer.data = s;
	ev_idle_init(&s->save_idle, on_save_slice);
	/* An idle watcher of normal priority starves while hash jobs keep finishing, and
	 * a Share's reply waits for this save: one slice every loop turn instead. */
	ev_set_priority(&s->save_idle, EV_MAXPRI);
	s->save_idle.data = s;
}
