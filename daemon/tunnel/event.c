/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A SIP response as a `tunnel` event: status, reason, each header as <Header name value/>
 * in the order received, and the body as <Body type>. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tunnel/tunnel-private.h"

#define MAX_HEADERS 64
#define MAX_VALUE 8192 /* sipsvc.xsd's bound on a Header value */

/* XML 1.0 carries valid UTF-8 only; a body that is not is left out (and said so). */
static bool utf8_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 :
			     (c >> 3) == 30 ? 4 : 0;

		if (len == 0 || i + len > n || (c < 0x20 && c != '\t' && c != '\r' && c != '\n'))
			return false;
		for (size_t k = 1; k < len; k++)
			if (((unsigned char)s[i + k] >> 6) != 2)
				return false;
		i += len;
	}
	return true;
}

static void add_header(xmlNodePtr ev, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	char name[65], value[MAX_VALUE + 1]; /* sipsvc.xsd: names of 1-64 */
	xmlNodePtr h;
	size_t n, v;

	if (!colon || colon == line || (size_t)(colon - line) >= sizeof(name))
		return;
	n = (size_t)(colon - line);
	memcpy(name, line, n);
	name[n] = '\0';
	for (colon++; colon < line + len && (*colon == ' ' || *colon == '\t'); colon++)
		;
	v = (size_t)(line + len - colon);
	if (v > MAX_VALUE || !utf8_ok(colon, v))
		return;
	memcpy(value, colon, v);
	value[v] = '\0';
	h = xmlNewChild(ev, NULL, BAD_CAST "Header", NULL);
	if (h) {
		xmlNewProp(h, BAD_CAST "name", BAD_CAST name);
		xmlNewProp(h, BAD_CAST "value", BAD_CAST value);
	}
}

static void add_body(xmlNodePtr ev, const osip_message_t *m, const char *body, size_t len)
{
	const osip_content_type_t *ct = m->content_type;
	char type[160];
	xmlNodePtr b;

	if (len == 0)
		return;
	if (!utf8_ok(body, len)) {
		char note[80];

		snprintf(note, sizeof(note), "body omitted: %zu bytes that are not UTF-8 text", len);
		xmlNodeAddContent(ev, BAD_CAST note);
		return;
	}
	snprintf(type, sizeof(type), "%s/%s", ct && ct->type ? ct->type : "application",
		 ct && ct->subtype ? ct->subtype : "octet-stream");
	b = xmlNewChild(ev, NULL, BAD_CAST "Body", NULL);
	if (!b)
		return;
	xmlNewProp(b, BAD_CAST "type", BAD_CAST type);
	xmlNodeAddContentLen(b, BAD_CAST body, (int)len);
}

/* The wire form, split at CRLFs: what the client sees is what the peer sent, after the
 * stack's parsing and re-serialising. At most MAX_HEADERS headers; the body is
 * bounded by the stack's message size. */
static void add_message(xmlNodePtr ev, const osip_message_t *m)
{
	char *text = NULL, *p, *end;
	size_t len = 0;
	int n = 0;

	if (osip_message_to_str((osip_message_t *)m, &text, &len) != 0 || !text)
		return;
	end = text + len;
	p = strstr(text, "\r\n"); /* skip the start line */
	for (p = p ? p + 2 : end; p < end && n < MAX_HEADERS; n++) {
		char *eol = strstr(p, "\r\n");

		if (!eol || eol == p) {
			p = eol ? eol + 2 : end;
			break;
		}
		add_header(ev, p, (size_t)(eol - p));
		p = eol + 2;
	}
	if (n < MAX_HEADERS)
		add_body(ev, m, p, (size_t)(end - p));
	osip_free(text);
}

xmlNodePtr tunnel_response_event(const struct origin *o, int status,
				 const osip_message_t *resp, const char *call, const char *leg)
{
	xmlNodePtr ev = event_new(EVENT_TUNNEL, o);
	const char *reason = resp ? osip_message_get_reason_phrase(resp) : NULL;

	if (!ev)
		return NULL;
	if (call && leg) {
		xmlNewProp(ev, BAD_CAST "call", BAD_CAST call);
		xmlNewProp(ev, BAD_CAST "leg", BAD_CAST leg);
	}
	xml_set_propf(ev, "status", "%d", status);
	if (!resp)
		reason = status == 408 ? "no response (timer F, RFC 3261 17.1.2.2)" :
					 "could not be sent (transport error)";
	xml_set_propf(ev, "reason", "%s", reason ? reason : "");
	if (resp)
		add_message(ev, resp);
	return ev;
}

/* sipsvc.xsd's Uri: scheme ":" rest, no whitespace, controls, <, > or ", ≤ 1024. */
static bool uri_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0, scheme = s ? strspn(s, "abcdefghijklmnopqrstuvwxyz"
							"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-") : 0;

	if (n == 0 || n > 1024 || scheme == 0 || s[scheme] != ':' || !s[scheme + 1] ||
	    !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || strchr("<>\"", s[i]))
			return false;
	return utf8_ok(s, n);
}

static void add_uri(xmlNodePtr ev, const char *attr, osip_uri_t *uri)
{
	char *s = NULL;

	if (uri && osip_uri_to_str(uri, &s) == 0 && uri_ok(s))
		xmlNewProp(ev, BAD_CAST attr, BAD_CAST s);
	osip_free(s);
}

xmlNodePtr tunnel_request_event(const struct origin *o, const char *tx,
				const osip_message_t *req)
{
	xmlNodePtr ev = event_new(EVENT_TUNNEL, o);

	if (!ev)
		return NULL;
	xmlNewProp(ev, BAD_CAST "tx", BAD_CAST tx);
	xmlNewProp(ev, BAD_CAST "method", BAD_CAST req->sip_method);
	add_uri(ev, "uri", req->req_uri);
	add_uri(ev, "from", req->from ? req->from->url : NULL);
	add_uri(ev, "to", req->to ? req->to->url : NULL);
	add_message(ev, req);
	return ev;
}
