/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checking and normalising the URIs a desktop or a web page hands us. They come from
 * untrusted places (a link on a page), so anything unusual is refused. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sipsvc-client.h"

#define URI_MAX 1024

static bool bad_char(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\\';
}

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       isxdigit((unsigned char)c) ? tolower((unsigned char)c) - 'a' + 10 : -1;
}

/* sip:/sips: (RFC 3261 §19.1.1). URI headers ("?Replaces=…") are dropped: a link must
 * not be able to make the service send arbitrary header fields. */
static int sip_uri(const char *scheme, const char *rest, char *out, size_t size)
{
	size_t n = strcspn(rest, "?");
	const char *at, *host;

	if (strncmp(rest, "//", 2) == 0) /* "sip://bob@host" from careless links */
		rest += 2, n -= 2;
	at = memchr(rest, '@', n);
	host = at ? at + 1 : rest;
	if (n == 0 || host >= rest + n || *host == ';' || *host == ':' || (at && at == rest))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (bad_char((unsigned char)rest[i]))
			return -EINVAL;
	if ((size_t)snprintf(out, size, "%s:%.*s", scheme, (int)n, rest) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static bool tel_digit(char c, bool global)
{
	if (isdigit((unsigned char)c))
		return true;
	return !global && (isxdigit((unsigned char)c) || c == '*' || c == '#');
}

/* The telephone-subscriber part of a tel: URI (RFC 3966 §5.1): percent-decoded, visual
 * separators removed (§5.1.1); global numbers are '+' and digits, local ones may also
 * hold hex digits, '*' and '#' (phonedigit-hex). */
static int tel_number(const char *p, size_t n, char *out, size_t size)
{
	size_t o = 0, digits = 0;
	bool global = n > 0 && p[0] == '+';

	for (size_t i = global; i < n; i++) {
		char c = p[i];

		if (c == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			c = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			i += 2;
		}
		if (c == '-' || c == '.' || c == '(' || c == ')' || c == ' ')
			continue;
		if (!tel_digit(c, global))
			return -EINVAL;
		if (o + 2 >= size)
			return -ENAMETOOLONG;
		out[o++] = (char)toupper((unsigned char)c);
		digits++;
	}
	if (digits == 0 || digits > 32)
		return -EINVAL;
	out[o] = '\0';
	return (int)o;
}

static int tel_uri(const char *rest, char *out, size_t size)
{
	size_t n = strcspn(rest, ";"), o;
	char num[40];
	int r = tel_number(rest, n, num, sizeof(num));

	if (r < 0)
		return r;
	o = (size_t)snprintf(out, size, "tel:%s%s", rest[0] == '+' ? "+" : "", num);
	if (o >= size)
		return -ENAMETOOLONG;
	/* Parameters (;phone-context=…, ;ext=…) are kept, their case-insensitive names in
	 * lower case (RFC 3966 §3). */
	bool in_name = false;

	for (const char *p = rest + n; *p; p++) {
		if (bad_char((unsigned char)*p) || *p == '?')
			return -EINVAL;
		if (o + 1 >= size)
			return -ENAMETOOLONG;
		in_name = *p == ';' || (in_name && *p != '=');
		out[o++] = in_name ? (char)tolower((unsigned char)*p) : *p;
	}
	out[o] = '\0';
	return 0;
}

int sipsvc_uri_normalise(const char *in, char *out, size_t size)
{
	char copy[URI_MAX + 1];
	const char *colon;
	size_t len;

	while (isspace((unsigned char)*in))
		in++;
	len = strlen(in);
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (len == 0 || len > URI_MAX)
		return -EINVAL;
	memcpy(copy, in, len);
	copy[len] = '\0';
	colon = strchr(copy, ':');
	if (!colon)
		return -EINVAL;
	if (colon - copy == 3 && strncasecmp(copy, "sip", 3) == 0)
		return sip_uri("sip", colon + 1, out, size);
	if (colon - copy == 4 && strncasecmp(copy, "sips", 4) == 0)
		return sip_uri("sips", colon + 1, out, size);
	if (colon - copy == 3 && strncasecmp(copy, "tel", 3) == 0)
		return tel_uri(colon + 1, out, size);
	return -EPROTONOSUPPORT;
}
