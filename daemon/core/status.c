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

/* Decimal digits of @p v, ending at @p end (exclusive); returns the first. */
static char *utoa(unsigned long long v, char *end)
{
	*--end = '\0';
	do
		*--end = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return end;
}

/*
 * Status contributors set dozens of attributes per <Status/>; vsnprintf was a tenth
 * of its cost. The formats they use most ("%s" and the unsigned ones) skip it.
 */
int xml_set_propf(xmlNodePtr n, const char *name, const char *fmt, ...)
{
	char buf[512];
	const char *v = buf;
	va_list ap;

	va_start(ap, fmt);
	if (strcmp(fmt, "%s") == 0)
		v = va_arg(ap, const char *);
	else if (strcmp(fmt, "%u") == 0)
		v = utoa(va_arg(ap, unsigned), buf + sizeof(buf));
	else if (strcmp(fmt, "%zu") == 0)
		v = utoa(va_arg(ap, size_t), buf + sizeof(buf));
	else if (strcmp(fmt, "%llu") == 0)
		v = utoa(va_arg(ap, unsigned long long), buf + sizeof(buf));
	else
		vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* xmlNewProp: contributors set distinct names, so no search for an old value. */
	return xmlNewProp(n, BAD_CAST name, BAD_CAST v) ? 0 : -ENOMEM;
}
