/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Node ids: 128 random bits, made once and kept in the state dir (DESIGN.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "overlay/overlay-private.h"

#define NODE_ID_FILE "overlay-node-id"

int overlay_id_random(struct overlay_id *id)
{
	size_t got = 0;

	while (got < sizeof(id->b)) {
		ssize_t n = getrandom(id->b + got, sizeof(id->b) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	return 0;
}

bool overlay_id_is_zero(const struct overlay_id *id)
{
	return id_zero(id);
}

int overlay_id_cmp(const struct overlay_id *a, const struct overlay_id *b)
{
	return memcmp(a->b, b->b, sizeof(a->b));
}

void overlay_id_to_hex(const struct overlay_id *id, char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < sizeof(id->b); i++) {
		buf[2 * i] = hex[id->b[i] >> 4];
		buf[2 * i + 1] = hex[id->b[i] & 15];
	}
	buf[OVERLAY_ID_HEX_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int overlay_id_from_hex(const char *s, struct overlay_id *id)
{
	struct overlay_id t;

	if (!s || strlen(s) != OVERLAY_ID_HEX_LEN)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(t.b); i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		t.b[i] = (uint8_t)(hi << 4 | lo);
	}
	*id = t;
	return 0;
}

bool overlay_contact_valid(const char *s)
{
	size_t n;
	const char *colon;

	if (!s)
		return false;
	n = strnlen(s, OVERLAY_CONTACT_MAX + 1);
	if (n == 0 || n > OVERLAY_CONTACT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '<' || s[i] == '>' || s[i] == '"' ||
		    s[i] == '@' || s[i] == ';')
			return false;
	/* host:port with a port of 1-65535 */
	colon = strrchr(s, ':');
	if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5)
		return false;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return atoi(colon + 1) > 0 && atoi(colon + 1) <= 65535;
}

/* "host" or "[v6]" without a port gets SIP's default one. */
static bool has_port(const char *hp)
{
	const char *colon = strrchr(hp, ':');

	return colon && (hp[0] != '[' || colon > strchr(hp, ']'));
}

int overlay_peer_from_uri(const char *uri, struct overlay_peer *p)
{
	struct overlay_peer t = {0};
	char hp[OVERLAY_CONTACT_MAX + 1];
	const char *at, *host;
	size_t n;

	if (!uri || strncasecmp(uri, "sip:", 4) != 0)
		return -EINVAL;
	uri += 4;
	at = strchr(uri, '@');
	host = at ? at + 1 : uri;
	if (at) {
		char hex[OVERLAY_ID_HEX_LEN + 1];

		if (at - uri != OVERLAY_ID_HEX_LEN)
			return -EINVAL;
		memcpy(hex, uri, OVERLAY_ID_HEX_LEN);
		hex[OVERLAY_ID_HEX_LEN] = '\0';
		if (overlay_id_from_hex(hex, &t.id) < 0 || overlay_id_is_zero(&t.id))
			return -EINVAL;
	}
	n = strcspn(host, ";?>");
	if (n == 0 || n >= sizeof(hp))
		return -EINVAL;
	memcpy(hp, host, n);
	hp[n] = '\0';
	if (snprintf(t.contact, sizeof(t.contact), has_port(hp) ? "%s" : "%s:5060", hp) >=
	    (int)sizeof(t.contact))
		return -EINVAL;
	if (!overlay_contact_valid(t.contact))
		return -EINVAL;
	*p = t;
	return 0;
}

/* Read a small file whole (at most @p max bytes); -EFBIG if larger. */
static int read_small(const char *path, char *buf, size_t max, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + got, max - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == max) {
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	*ret_len = got;
	return 0;
}

int overlay_node_id_load(const char *dir, struct overlay_id *id)
{
	_cleanup_(freep) char *path = NULL;
	char buf[OVERLAY_ID_HEX_LEN + 2], hex[OVERLAY_ID_HEX_LEN + 2];
	size_t len = 0;
	int r;

	if (asprintf(&path, "%s/%s", dir, NODE_ID_FILE) < 0)
		return -ENOMEM;
	r = read_small(path, buf, sizeof(buf), &len);
	if (r == -ENOENT) {
		r = overlay_id_random(id);
		if (r < 0)
			return r;
		overlay_id_to_hex(id, hex);
		hex[OVERLAY_ID_HEX_LEN] = '\n';
		return paths_write_atomic(dir, NODE_ID_FILE, hex, OVERLAY_ID_HEX_LEN + 1);
	}
	if (r == -EFBIG)
		return -EBADMSG;
	if (r < 0)
		return r;
	/* Exactly 32 hex digits and a newline: anything else is damage, and a node
	 * that quietly took a new identity would look like a stranger to its peers. */
	if (len != OVERLAY_ID_HEX_LEN + 1 || buf[OVERLAY_ID_HEX_LEN] != '\n')
		return -EBADMSG;
	buf[OVERLAY_ID_HEX_LEN] = '\0';
	if (overlay_id_from_hex(buf, id) < 0 || overlay_id_is_zero(id))
		return -EBADMSG;
	return 0;
}
