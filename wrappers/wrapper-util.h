/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers the stock wrappers share; header-only so each module stays one .so
 * with no dependency on the others or on the daemon. */
#ifndef SIPSVC_WRAPPER_UTIL_H
#define SIPSVC_WRAPPER_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "device/sipsvc-wrapper.h"

/* A completion that runs on the next loop turn: the ABI promises prepare() and dial()
 * never call their callback from inside themselves. */
struct deferred {
	ev_timer t;
	sipsvc_done_h *done;
	void *arg;
	int err;
	const char *why;
};

static void deferred_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct deferred *d = (struct deferred *)w;

	d->done(d->arg, d->err, d->why);
	free(d);
}

static inline int wrapper_defer(struct ev_loop *loop, sipsvc_done_h *done, void *arg, int err,
				const char *why)
{
	struct deferred *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->done = done;
	d->arg = arg;
	d->err = err;
	d->why = why;
	ev_timer_init(&d->t, deferred_fire, 0., 0.);
	ev_timer_start(loop, &d->t);
	return 0;
}

/* A boolean <param>: "true"/"yes"/"1" or "false"/"no"/"0"; @p dflt when absent.
 * Returns -EINVAL for anything else. */
static inline int wrapper_bool(const char *v, bool dflt, bool *ret)
{
	if (!v)
		*ret = dflt;
	else if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*ret = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

#endif
