/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers of the share unit tests: scratch directories and files, running a loop with
 * the share subsystem until it is idle. */
#ifndef SIPSVC_SHARE_UTIL_H
#define SIPSVC_SHARE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "core/worker.h"
#include "testutil.h"
#include "share/share-private.h"

/* A fresh directory under $TMPDIR; removed by su_rmtree(). */
static inline char *su_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/sipsvc-share-XXXXXX", t ? t : "/tmp"), 0);
	ck_assert_ptr_nonnull(mkdtemp(p));
	return p;
}

static inline void su_rmtree(const char *dir)
{
	char *cmd;

	ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

/* Write @p text to DIR/REL, making the parent directories. */
static inline void su_write(const char *dir, const char *rel, const char *text)
{
	char *p, *cmd;
	FILE *f;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, rel), 0);
	ck_assert_int_ge(asprintf(&cmd, "mkdir -p \"$(dirname '%s')\"", p), 0);
	ck_assert_int_eq(system(cmd), 0);
	f = fopen(p, "w");
	ck_assert_msg(f != NULL, "cannot write %s: %s", p, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	free(cmd);
	free(p);
}

static inline char *su_path(const char *dir, const char *rel)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, rel), 0);
	return p;
}

/* A loop, a worker pool and a share subsystem on @p state. */
struct su_env {
	struct ev_loop *loop;
	struct worker_pool *pool;
	struct share *s;
};

static inline void su_start(struct su_env *env, const char *state, size_t max_files)
{
	struct share_config cfg = {.state_dir = state, .max_files = max_files};

	if (!env->loop) {
		env->loop = ev_loop_new(EVFLAG_AUTO);
		ck_assert_int_eq(worker_pool_new(env->loop, 2, 64, &env->pool), 0);
	}
	ck_assert_int_eq(share_new(env->loop, env->pool, &cfg, &env->s), 0);
}

/* Run the loop until the subsystem is idle (a save pending counts as busy). */
static inline void su_settle(struct su_env *env)
{
	ev_tstamp end = ev_time() + 20;

	while (share_busy(env->s)) {
		ck_assert_msg(ev_time() < end, "share subsystem still busy after 20 s");
		ev_run(env->loop, EVRUN_ONCE);
	}
}

static inline void su_wake(struct ev_loop *l, ev_timer *t, int revents)
{
}

/* Run the loop for @p sec seconds (inotify events arrive). */
static inline void su_spin(struct su_env *env, double sec)
{
	ev_tstamp end = ev_time() + sec;

	while (ev_time() < end) {
		ev_timer t;

		ev_timer_init(&t, su_wake, 0.01, 0.);
		ev_timer_start(env->loop, &t);
		ev_run(env->loop, EVRUN_ONCE);
		ev_timer_stop(env->loop, &t);
	}
}

static inline void su_stop_share(struct su_env *env)
{
	share_free(env->s);
	env->s = NULL;
}

static inline void su_done(struct su_env *env)
{
	su_stop_share(env);
	worker_pool_free(env->pool);
	ev_loop_destroy(env->loop);
	*env = (struct su_env){0};
}

static inline const struct share_entry *su_entry(struct su_env *env, const char *path)
{
	return share_index_by_path(&env->s->idx, path);
}

#endif
