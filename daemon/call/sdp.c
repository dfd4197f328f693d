/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One session as the device sees it. In loop mode the device's peer is the service,
 * whatever far end is behind it: after a SameDeviceJoin the new far end's SDP has its
 * own origin, but RFC 3264 8 wants a changed session description to keep the o= line
 * of the previous one with the version one higher (a device may otherwise take it for
 * another session, or ignore it). So every SDP on its way to the device gets the
 * origin the device already knows; only the version moves, and only when the far end's
 * description changed (RFC 3264 8: an unchanged one keeps its version).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call-private.h"

/* The value of the first o= line of @p sdp and its length; NULL if there is none. */
static const char *find_origin(const char *sdp, size_t *ret_len)
{
	for (const char *p = sdp; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (p[0] == 'o' && p[1] == '=') {
			*ret_len = strcspn(p + 2, "\r\n");
			return p + 2;
		}
	return NULL;
}

/* "user sess-id version nettype addrtype addr" (RFC 4566 5.2) with the version + 1. */
static int bump_version(const char *o, char *out, size_t outlen)
{
	char user[CALL_O_MAX], sess[CALL_O_MAX], rest[CALL_O_MAX];
	uint64_t version;

	if (sscanf(o, "%255s %255s %" SCNu64 " %255[^\r\n]", user, sess, &version, rest) != 4)
		return -EINVAL;
	if ((size_t)snprintf(out, outlen, "%s %s %" PRIu64 " %s", user, sess, version + 1,
			     rest) >= outlen)
		return -EINVAL;
	return 0;
}

/* @p sdp with its o= value (at @p o, @p olen long) replaced by @p mine. */
static char *replace_origin(const char *sdp, const char *o, size_t olen, const char *mine)
{
	size_t head = (size_t)(o - sdp), n = strlen(sdp) - olen + strlen(mine) + 1;
	char *out = malloc(n);

	if (out)
		snprintf(out, n, "%.*s%s%s", (int)head, sdp, mine, o + olen);
	return out;
}

char *call_sdp_for_device(struct call *c, const char *sdp)
{
	size_t olen = 0;
	const char *o = find_origin(sdp, &olen);
	char next[CALL_O_MAX];

	if (!o || olen >= CALL_O_MAX)
		return strdup(sdp); /* nothing we can keep consistent */
	if (!c->dev_o[0]) {
		/* The device's first description: its origin is the one to keep. */
		snprintf(c->dev_o, sizeof(c->dev_o), "%.*s", (int)olen, o);
		snprintf(c->far_o, sizeof(c->far_o), "%.*s", (int)olen, o);
		return strdup(sdp);
	}
	if (strlen(c->far_o) != olen || strncmp(c->far_o, o, olen) != 0) {
		if (bump_version(c->dev_o, next, sizeof(next)) < 0)
			return strdup(sdp);
		memcpy(c->dev_o, next, sizeof(next));
		snprintf(c->far_o, sizeof(c->far_o), "%.*s", (int)olen, o);
	}
	return replace_origin(sdp, o, olen, c->dev_o);
}
