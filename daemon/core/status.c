/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Status contributors: each subsystem writes its own facts into <Status/>, so the
 * control layer needs no knowledge of them. */
#include "config.h"

#include <errno.h>

#include "core.h"
#include "xml.h"

#define STATUS_MAX_CONTRIBUTORS 32

static struct {
	status_h *h;
	void *arg;
} contributors[STATUS_MAX_CONTRIBUTORS];
static size_t n_contributors;

int status_register(status_h *h, void *arg)
{
	if (n_contributors == STATUS_MAX_CONTRIBUTORS)
		return -ENOSPC;
	contributors[n_contributors].h = h;
	contributors[n_contributors].arg = arg;
	n_contributors++;
	return 0;
}

void status_unregister(status_h *h, void *arg)
{
	for (size_t i = 0; i < n_contributors; i++) {
		if (contributors[i].h != h || contributors[i].arg != arg)
			continue;
		contributors[i] = contributors[--n_contributors];
		return;
	}
}

static void each(struct xml_writer *w, enum status_part part)
{
	for (size_t i = 0; i < n_contributors; i++)
		contributors[i].h(w, part, contributors[i].arg);
}

/* sipsvc.xsd's StatusInfo fixes the order of the parts; <Counts> gathers everyone's
 * counters in one element. */
void status_write(struct xml_writer *w)
{
	xml_begin(w, "Status");
	each(w, STATUS_ATTRS);
	for (enum status_part p = STATUS_CONTROL; p < _STATUS_PARTS; p++) {
		if (p == STATUS_COUNTS)
			xml_begin(w, "Counts");
		each(w, p);
		if (p == STATUS_COUNTS)
			xml_end(w);
	}
	xml_end(w);
}
