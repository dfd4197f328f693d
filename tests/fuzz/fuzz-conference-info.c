/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the conference-info parser and roster (daemon/call/confinfo.c,
 * RFC 4575 bodies from a conference focus). The input is parsed; what parses is
 * applied to a fresh roster and then again (a repeat must be refused as stale), and
 * every reported change must name a user the roster knew before or knows after.
 * Oracle besides crashes and leaks: the bounds (users, endpoints, URI length) hold.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call/call-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_change(const char *entity, bool joined, void *arg)
{
	size_t *n = arg;

	if (!entity[0] || strlen(entity) >= CONFINFO_URI_MAX)
		abort();
	(*n)++;
	(void)joined;
}

static void check_bounds(const struct confinfo *ci)
{
	if (ci->n_users > CONFINFO_USERS_MAX)
		abort();
	for (size_t i = 0; i < ci->n_users; i++)
		if (ci->users[i].n_endpoints > CONFINFO_ENDPOINTS_MAX || !ci->users[i].entity[0])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct confinfo *doc = NULL, *roster;
	size_t changes = 0;
	int r;

	if (call_confinfo_parse((const char *)data, size, &doc) < 0)
		return 0;
	check_bounds(doc);
	roster = calloc(1, sizeof(*roster));
	if (!roster)
		abort();
	r = call_confinfo_apply(roster, doc, on_change, &changes);
	if (r == 0) {
		check_bounds(roster);
		/* Joined users only, from an empty roster; at most one event per user. */
		if (changes > roster->n_users)
			abort();
		if (call_confinfo_apply(roster, doc, on_change, &changes) != -ESTALE)
			abort();
	} else if (r != -EAGAIN) {
		abort(); /* an empty roster takes any full state, refuses partials */
	}
	free(roster);
	free(doc);
	return 0;
}
