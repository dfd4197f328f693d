/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The progress line of `sipsvc fetch` on a terminal: bar, percentage, rate, ETA, redrawn
 * in place from the daemon's `transfer` progress events (at most four a second). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human_bytes(double b, char *buf, size_t size)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	int u = 0;

	while (b >= 1000 && u < 4) {
		b /= 1000;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

void progress_init(struct progress *p)
{
	memset(p, 0, sizeof(*p));
	p->t0 = now();
}

/* Rate over the whole transfer so far: steadier than the last interval, and what the
 * user compares with other tools. */
void progress_show(struct progress *p, FILE *f, unsigned long long bytes,
		   unsigned long long total)
{
	double dt = now() - p->t0, rate = dt > 0 ? (double)(bytes - p->start) / dt : 0;
	int width = 30, fill = total ? (int)((double)bytes / (double)total * width) : 0;
	char done[24], all[24], speed[24], eta[24] = "--:--";

	if (!p->started) {
		p->start = bytes; /* a resumed transfer starts above 0 */
		p->started = true;
	}
	human_bytes((double)bytes, done, sizeof(done));
	human_bytes((double)total, all, sizeof(all));
	human_bytes(rate, speed, sizeof(speed));
	if (rate > 0 && total >= bytes) {
		long s = (long)((double)(total - bytes) / rate);

		snprintf(eta, sizeof(eta), "%ld:%02ld", s / 60, s % 60);
	}
	fprintf(f, "\r[%-*.*s] %3d%%  %s / %s  %s/s  ETA %s ", width, fill,
		"##############################", total ? (int)(bytes * 100 / total) : 0, done,
		all, speed, eta);
	fflush(f);
	p->drawn = true;
}

void progress_end(struct progress *p, FILE *f)
{
	if (p->drawn)
		fputc('\n', f);
	p->drawn = false;
}
