/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stopping a softphone without blocking the loop: it gets SIGTERM now and SIGKILL if it
 * is still there 3 s later; the loop reaps it either way. */
#include "config.h"

#include <signal.h>

#include "wrappers/softphone/softphone.h"

#include <errno.h>
#include <sys/wait.h>
#include <time.h>

struct reaper {
	ev_child child;
	ev_timer kill;
	struct ev_loop *loop;
	struct reaper *next, **pprev;
};

static struct reaper *reapers; /* still running, for softphone_shutdown() */

static void reaper_free(struct reaper *r)
{
	ev_child_stop(r->loop, &r->child);
	ev_timer_stop(r->loop, &r->kill);
	*r->pprev = r->next;
	if (r->next)
		r->next->pprev = r->pprev;
	free(r);
}

static void on_exit_child(struct ev_loop *loop, ev_child *w, int revents)
{
	reaper_free(w->data);
}

static void on_kill(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reaper *r = w->data;

	kill(r->child.pid, SIGKILL);
}

void softphone_reap(struct ev_loop *loop, pid_t pid, const char *name)
{
	struct reaper *r = calloc(1, sizeof(*r));

	kill(pid, SIGTERM);
	if (!r)
		return; /* the child stays a zombie until the daemon exits: harmless */
	r->loop = loop;
	ev_child_init(&r->child, on_exit_child, pid, 0);
	ev_timer_init(&r->kill, on_kill, 3., 0.);
	r->child.data = r->kill.data = r;
	ev_child_start(loop, &r->child);
	ev_timer_start(loop, &r->kill);
	r->next = reapers;
	r->pprev = &reapers;
	if (reapers)
		reapers->pprev = &r->next;
	reapers = r;
}

/* At exit: wait for each stopping softphone, 3 s at most, then kill it. */
void softphone_shutdown(struct ev_loop *loop)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	while (reapers) {
		struct reaper *r = reapers;
		/* reaper_free() below unlinks r (clang-analyzer cannot follow pprev). */
		pid_t pid = r->child.pid; // NOLINT(clang-analyzer-unix.Malloc)
		int st;

		for (int i = 0; i < 300 && waitpid(pid, &st, WNOHANG) == 0; i++)
			nanosleep(&tick, NULL);
		if (kill(pid, SIGKILL) == 0)
			waitpid(pid, &st, 0);
		reaper_free(r);
	}
}
