/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Status contributors: each subsystem adds its own facts to <Status/>, so the control
 * layer needs no knowledge of them. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core.h"

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

void status_fill(xmlNodePtr status)
{
	for (size_t i = 0; i < n_contributors; i++)
		contributors[i].h(status, contributors[i].arg);
}

int xml_set_propf(xmlNodePtr n, const char *name, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* xmlNewProp: contributors set distinct names, so no search for an old value. */
	return xmlNewProp(n, BAD_CAST name, BAD_CAST buf) ? 0 : -ENOMEM;
}
