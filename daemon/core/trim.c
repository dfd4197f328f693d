/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Giving freed heap back after a burst. glibc returns memory to the kernel only from
 * the top of a heap; a burst of calls or searches leaves free chunks under live ones,
 * so RSS would stay at the peak for the daemon's whole life. Every TRIM_INTERVAL,
 * when glibc holds more than TRIM_SLACK free, malloc_trim() releases the free pages
 * wherever they are (madvise). The check costs a walk of the malloc bins: nothing
 * at this interval.
 */
#include "config.h"

#include <malloc.h>

#include "core/core.h"

#define TRIM_INTERVAL 10.0             /* seconds */
#define TRIM_SLACK    (1024 * 1024)    /* bytes glibc may keep free */
#define TRIM_PAD      (128 * 1024)     /* kept at the top of the heap for the next burst */

static void on_trim(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
#if defined(HAVE_MALLINFO2) && defined(HAVE_MALLOC_TRIM)
	struct mallinfo2 mi = mallinfo2();

	if (mi.fordblks > TRIM_SLACK) {
		size_t before = mi.fordblks;

		malloc_trim(TRIM_PAD);
		log_debug("memory: gave back free heap (%zu KiB were free)", before / 1024);
	}
#endif
}

void trim_start(struct ev_loop *loop, ev_timer *w)
{
	ev_timer_init(w, on_trim, TRIM_INTERVAL, TRIM_INTERVAL);
	ev_timer_start(loop, w);
}

void trim_stop(struct ev_loop *loop, ev_timer *w)
{
	ev_timer_stop(loop, w);
}
