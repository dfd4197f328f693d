/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Native messaging framing: every message, both ways, is a 32-bit length in native byte
 * order followed by that many bytes of UTF-8 JSON. The length from the browser is checked
 * before a byte of the body is awaited, and the buffer is fixed, so a hostile length costs
 * nothing. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"

int frame_read(struct frame_reader *fr, int fd)
{
	ssize_t n;

	/* Compact first: what frame_next handed out has been used by now. */
	memmove(fr->buf, fr->buf + fr->start, fr->len - fr->start);
	fr->len -= fr->start;
	fr->start = 0;
	if (fr->len == sizeof(fr->buf))
		return -ENOBUFS; /* cannot happen: a full buffer holds a complete message */
	do
		n = read(fd, fr->buf + fr->len, sizeof(fr->buf) - fr->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 1 : -errno;
	fr->len += (size_t)n;
	return n > 0;
}

int frame_next(struct frame_reader *fr, const char **ret, size_t *ret_len)
{
	size_t avail = fr->len - fr->start;
	uint32_t n;

	if (avail < sizeof(n))
		return 0;
	memcpy(&n, fr->buf + fr->start, sizeof(n));
	if (n > RELAY_IN_MAX)
		return -EMSGSIZE;
	if (avail - sizeof(n) < n)
		return 0;
	*ret = (const char *)fr->buf + fr->start + sizeof(n);
	*ret_len = n;
	fr->start += sizeof(n) + n;
	return 1;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int frame_write(int fd, const char *json, size_t len)
{
	uint32_t n = (uint32_t)len;
	int r;

	if (len > RELAY_OUT_MAX)
		return -EMSGSIZE;
	r = write_all(fd, &n, sizeof(n));
	return r < 0 ? r : write_all(fd, json, len);
}

int frame_write_json(int fd, json_object *o)
{
	size_t len;
	const char *s;
	int r;

	if (!o)
		return -ENOMEM;
	s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	r = s ? frame_write(fd, s, len) : -ENOMEM;
	json_object_put(o);
	return r;
}
