/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A SIP response as a `tunnel` event: status, reason, each header as <Header name value/>
 * in the order received, and the body as <Body type>. */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml.h"
#include "tunnel/tunnel-private.h"

#define MAX_HEADERS 64
#define MAX_VALUE 8192 /* sipsvc.xsd's bound on a Header value */
#define TOKEN_CHARS                                                                        \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~"

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
	/* RFC 3261 25.1: a header name is a token (sipsvc.xsd HeaderName). */
	if (strspn(name, TOKEN_CHARS) != n)
		return;
	for (colon++; colon < line + len && (*colon == ' ' || *colon == '\t'); colon++)
		;
	v = (size_t)(line + len - colon);
	/* sipsvc.xsd HeaderValue: one line (a bare CR or LF survives libosip2). */
	if (v > MAX_VALUE || !xml_text_ok(colon, v) || memchr(colon, '\r', v) ||
	    memchr(colon, '\n', v))
		return;
	memcpy(value, colon, v);
	value[v] = '\0';
	h = xmlNewChild(ev, NULL, BAD_CAST "Header", NULL);
	if (h) {
		xmlNewProp(h, BAD_CAST "name", BAD_CAST name);
		xmlNewProp(h, BAD_CAST "value", BAD_CAST value);
	}
}

/* What an event leaves out, as its text content ("; " between notes). */
static void __attribute__((format(printf, 2, 3))) note(xmlNodePtr ev, const char *fmt, ...)
{
	char buf[120];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (ev->last && ev->last->type == XML_TEXT_NODE)
		xmlNodeAddContent(ev, BAD_CAST "; ");
	xmlNodeAddContent(ev, BAD_CAST buf);
}

static bool mime_token(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n < 64 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			 "!#$&^_.+-") == n;
}

static void add_body(xmlNodePtr ev, const osip_message_t *m, const char *body, size_t len)
{
	const osip_content_type_t *ct = m->content_type;
	char type[160];
	xmlNodePtr b;

	if (len == 0)
		return;
	if (!xml_text_ok(body, len)) {
		note(ev, "body left out: %zu bytes that are not XML text", len);
		return;
	}
	/* sipsvc.xsd MimeType (RFC 2045 tokens); what is not one is unknown content. */
	if (!ct || !mime_token(ct->type) || !mime_token(ct->subtype))
		snprintf(type, sizeof(type), "application/octet-stream");
	else
		snprintf(type, sizeof(type), "%s/%s", ct->type, ct->subtype);
	b = xmlNewChild(ev, NULL, BAD_CAST "Body", NULL);
	if (!b)
		return;
	xmlNewProp(b, BAD_CAST "type", BAD_CAST type);
	xmlNodeAddContentLen(b, BAD_CAST body, (int)len);
}

/* The wire form, split at CRLFs: what the client sees is what the peer sent, after the
 * stack's parsing and re-serialising. At most MAX_HEADERS headers and a body of
 * TUNNEL_MAX_BODY bytes; what is left out is said in the event's text. */
static void add_message(xmlNodePtr ev, const osip_message_t *m)
{
	char *text = NULL, *p, *end;
	size_t len = 0, n = 0;

	if (osip_message_to_str((osip_message_t *)m, &text, &len) != 0 || !text)
		return;
	end = text + len;
	p = strstr(text, "\r\n"); /* skip the start line */
	for (p = p ? p + 2 : end; p < end; n++) {
		char *eol = strstr(p, "\r\n");

		if (!eol || eol == p) {
			p = eol ? eol + 2 : end;
			break;
		}
		if (n < MAX_HEADERS)
			add_header(ev, p, (size_t)(eol - p));
		p = eol + 2;
	}
	if (n > MAX_HEADERS)
		note(ev, "%zu headers left out (at most %d)", n - MAX_HEADERS, MAX_HEADERS);
	if ((size_t)(end - p) > TUNNEL_MAX_BODY)
		note(ev, "body left out: %zu bytes (at most %d)", (size_t)(end - p),
		     TUNNEL_MAX_BODY);
	else
		add_body(ev, m, p, (size_t)(end - p));
	osip_free(text);
}

/* sipsvc.xsd TextLine: at most 1024 characters of XML text on one line. */
static void set_text(xmlNodePtr ev, const char *attr, const char *s)
{
	char buf[1025];

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *p = buf; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	xml_text_sanitize(buf); /* also a character cut at the bound */
	xmlNewProp(ev, BAD_CAST attr, BAD_CAST buf);
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
	if (status >= 100 && status <= 699) /* sipsvc.xsd SipStatus; the parser's range */
		xml_set_propf(ev, "status", "%d", status);
	if (!resp)
		reason = status == 408 ? "no response (timer F, RFC 3261 17.1.2.2)" :
					 "could not be sent (transport error)";
	set_text(ev, "reason", reason ? reason : "");
	if (resp)
		add_message(ev, resp);
	return ev;
}

static void add_uri(xmlNodePtr ev, const char *attr, osip_uri_t *uri)
{
	char *s = NULL;

	if (uri && osip_uri_to_str(uri, &s) == 0 && xml_uri_ok(s))
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
	/* The SIP layer took it as a token of at most 32 (sipsvc.xsd SipMethod). */
	if (strlen(req->sip_method) <= 32 && strspn(req->sip_method, TOKEN_CHARS) ==
						     strlen(req->sip_method))
		xmlNewProp(ev, BAD_CAST "method", BAD_CAST req->sip_method);
	add_uri(ev, "uri", req->req_uri);
	add_uri(ev, "from", req->from ? req->from->url : NULL);
	add_uri(ev, "to", req->to ? req->to->url : NULL);
	add_message(ev, req);
	return ev;
}
