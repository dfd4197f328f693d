/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Filling the configured URL and body templates with the call's target. */
#include "config.h"

#include <stdio.h>

#include "wrappers/http/http.h"

struct sbuf {
	char *s;
	size_t len, cap;
	bool bad;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->bad || n == 0)
		return;
	if (!b->s || b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->s, cap);

		if (!p) {
			b->bad = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* RFC 3986 §2.3 unreserved characters pass; everything else is %XX. */
static void put_encoded(struct sbuf *b, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			put(b, (const char *)p, 1);
		else
			put(b, esc, 3);
	}
}

static bool body_safe(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == '"' || *p == '\'' || *p == '<' || *p == '>' ||
		    *p == '&' || *p == '\\')
			return false;
	return true;
}

static void put_value(struct sbuf *b, const char *v, bool url)
{
	if (url)
		put_encoded(b, v);
	else if (body_safe(v))
		put(b, v, strlen(v));
	else
		b->bad = true;
}

char *http_expand(const char *tmpl, const char *target, const char *device, bool url)
{
	struct sbuf b = { 0 };

	while (*tmpl && !b.bad) {
		const char *open = strchr(tmpl, '{');

		if (!open) {
			put(&b, tmpl, strlen(tmpl));
			break;
		}
		put(&b, tmpl, (size_t)(open - tmpl));
		if (strncmp(open, "{target}", 8) == 0) {
			put_value(&b, target, url);
			tmpl = open + 8;
		} else if (strncmp(open, "{device}", 8) == 0) {
			put_value(&b, device, url);
			tmpl = open + 8;
		} else {
			put(&b, "{", 1);
			tmpl = open + 1;
		}
	}
	if (b.bad) {
		free(b.s);
		return NULL;
	}
	return b.s ? b.s : strdup("");
}
