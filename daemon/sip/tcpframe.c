/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stream framing (RFC 3261 18.3): on TCP a message ends Content-Length bytes after the
 * empty line. libosip2 would parse two pipelined messages as one, so we cut them here.
 * Pure code on untrusted bytes: no logging, no allocation.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "sip/sip-private.h"

static const char *find_blank_line(const char *p, size_t len)
{
	const char *end = p + len;

	for (; p + 4 <= end; p++) {
		p = memchr(p, '\r', end - p);
		if (!p || p + 4 > end)
			return NULL;
		if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
			return p + 4;
	}
	return NULL;
}

/* Linear white space may fold a value onto the next line (RFC 3261 7.3.1). */
static const char *skip_lws(const char *p, const char *end)
{
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p + 2 < end && p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' || p[2] == '\t'))
			p += 2;
		else
			return p;
	}
}

/* Value of a Content-Length (or compact "l") header at @p line, or -1 if not one. */
static long content_length_at(const char *line, const char *end)
{
	const char *p = line;
	size_t n;
	long v = 0;

	while (p < end && *p != ':' && *p != ' ' && *p != '\t' && *p != '\r')
		p++;
	n = p - line;
	if (!((n == 14 && strncasecmp(line, "Content-Length", 14) == 0) ||
	      (n == 1 && (*line == 'l' || *line == 'L'))))
		return -1;
	p = skip_lws(p, end);
	if (p >= end || *p != ':')
		return -2;
	p = skip_lws(p + 1, end);
	if (p >= end || *p < '0' || *p > '9')
		return -2;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > SIP_MAX_MESSAGE * 16L)
			return -2;
	}
	return v;
}

/* The Content-Length of the header block [p, end); 0 if absent, -EBADMSG if bad. */
static long header_content_length(const char *p, const char *end)
{
	long cl = -1, v;

	while (p < end) {
		const char *eol = memchr(p, '\n', end - p);

		if (!eol)
			break;
		if (*p != ' ' && *p != '\t') {
			v = content_length_at(p, end);
			if (v == -2 || (v >= 0 && cl >= 0 && v != cl))
				return -EBADMSG;
			if (v >= 0)
				cl = v;
		}
		p = eol + 1;
	}
	return cl < 0 ? 0 : cl;
}

ssize_t sip_frame_find(const char *buf, size_t len, size_t max, size_t *ret_skip)
{
	const char *start, *hend;
	size_t skip = 0;
	long cl;

	while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n'))
		skip++;
	*ret_skip = skip;
	start = buf + skip;
	hend = find_blank_line(start, len - skip);
	if (!hend)
		return len - skip > max ? -EMSGSIZE : 0;
	cl = header_content_length(start, hend);
	if (cl < 0)
		return -EBADMSG;
	if ((size_t)(hend - start) + (size_t)cl > max)
		return -EMSGSIZE;
	if (len - skip < (size_t)(hend - start) + (size_t)cl)
		return 0;
	return (hend - start) + cl;
}
