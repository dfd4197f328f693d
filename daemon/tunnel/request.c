/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Building the SIP request a client asked for, with libosip2's setters so that nothing
 * the client sends is pasted into message text. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "tunnel/tunnel-private.h"

/* Methods that make or belong to a dialog (RFC 3261 12, RFC 6665, RFC 3262, RFC 3311,
 * RFC 6086): out of dialog the tunnel would leave the far end with a dialog nobody
 * ends, and a listener could not answer them as a UAS of a dialog. Calls go through
 * Join. */
static const char *const dialog_methods[] = { "INVITE", "ACK", "CANCEL", "BYE", "PRACK",
					      "UPDATE", "SUBSCRIBE", "NOTIFY", "INFO", NULL };

/* What a client may send inside a call's dialog: RFC 6086 INFO, RFC 3428 MESSAGE, a
 * re-INVITE or UPDATE (RFC 3261 14, RFC 3311) with its offer, RFC 3515 REFER, and
 * OPTIONS (RFC 3261 11). BYE is Hangup's; ACK, CANCEL and PRACK belong to the stack. */
static const char *const in_dialog_methods[] = { "INFO", "MESSAGE", "INVITE", "UPDATE",
						 "REFER", "OPTIONS", NULL };

/* Headers the stack writes itself (full and compact forms, RFC 3261 7.3.3). */
static const char *const owned_headers[] = { "via", "v", "from", "f", "to", "t", "call-id",
					     "i", "cseq", "content-length", "l",
					     "content-type", "c", "max-forwards", NULL };

/* Inside a dialog the dialog writes these too: RFC 3261 12.2.1.1 (Route set, remote
 * target) and our Contact on target refreshes. */
static const char *const dialog_headers[] = { "route", "record-route", "contact", "m", NULL };

/* In a response: RFC 3261 8.2.6.2, copied from the request, and our To tag. */
static const char *const response_headers[] = { "via", "v", "from", "f", "to", "t",
						"call-id", "i", "cseq", "content-length", "l",
						"content-type", "c", NULL };

static bool in_list(const char *const *list, const char *s, bool nocase)
{
	for (size_t i = 0; list[i]; i++)
		if (nocase ? strcasecmp(list[i], s) == 0 : strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* Headers and body within bounds, none of them one the stack writes. */
static int check_parts(const struct tunnel_header *h, size_t n, const char *body,
		       const char *const *owned, const char *const *owned2, char *err,
		       size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (in_list(owned, h[i].name, true) || (owned2 && in_list(owned2, h[i].name, true))) {
			snprintf(err, errlen, "the %s header is written by the service", h[i].name);
			return -EINVAL;
		}
		if (strpbrk(h[i].value, "\r\n")) { /* no header injection (RFC 3261 7.3.1) */
			snprintf(err, errlen, "the %s header has a line break", h[i].name);
			return -EINVAL;
		}
		if (strlen(h[i].name) + 2 + strlen(h[i].value) > TUNNEL_MAX_LINE) {
			snprintf(err, errlen, "the %s header is over %d characters", h[i].name,
				 TUNNEL_MAX_LINE);
			return -E2BIG;
		}
	}
	if (body && strlen(body) > TUNNEL_MAX_BODY) {
		snprintf(err, errlen, "the body is over %d bytes", TUNNEL_MAX_BODY);
		return -E2BIG;
	}
	return 0;
}

static int check_in_dialog(const struct tunnel_request *rq, char *err, size_t errlen)
{
	if (!in_list(in_dialog_methods, rq->method, false)) {
		snprintf(err, errlen, "%s cannot be sent inside a call's dialog (INFO, MESSAGE, "
			 "INVITE, UPDATE, REFER and OPTIONS can; Hangup ends a call)", rq->method);
		return -EINVAL;
	}
	/* The dialog layer ACKs a re-INVITE's 2xx itself (RFC 3261 13.2.2.4) and so cannot
	 * carry the answer an offerless re-INVITE asks for (RFC 3264 5). */
	if (strcmp(rq->method, "INVITE") == 0 && (!rq->body_type || !rq->body[0])) {
		snprintf(err, errlen, "a re-INVITE needs the client's SDP offer as its <Body>");
		return -EINVAL;
	}
	return check_parts(rq->headers, rq->n_headers, rq->body_type ? rq->body : NULL,
			   owned_headers, dialog_headers, err, errlen);
}

int tunnel_check(const struct tunnel_request *rq, char *err, size_t errlen)
{
	if (rq->dialog)
		return check_in_dialog(rq, err, errlen);
	if (in_list(dialog_methods, rq->method, false)) {
		snprintf(err, errlen, "%s makes or belongs to a dialog: use Join for calls, or "
			 "call= leg= to send inside one", rq->method);
		return -EINVAL;
	}
	return check_parts(rq->headers, rq->n_headers, rq->body_type ? rq->body : NULL,
			   owned_headers, NULL, err, errlen);
}

int tunnel_check_response(const struct tunnel_response *rs, char *err, size_t errlen)
{
	/* RFC 4320 4.1: no provisional response to a non-INVITE request (all a listener
	 * gets) but 100 Trying, which is the transaction layer's, not the client's. */
	if (rs->status < 200 || rs->status > 699) {
		snprintf(err, errlen, "status %d: answer with a final status (200-699); a "
			 "request a listener gets takes no provisional response (RFC 4320 4.1)",
			 rs->status);
		return -EINVAL;
	}
	return check_parts(rs->headers, rs->n_headers, rs->body_type ? rs->body : NULL,
			   response_headers, NULL, err, errlen);
}

int tunnel_check_listen(const char *method, char *err, size_t errlen)
{
	/* RFC 3261: the transaction layer answers ACK and CANCEL, the service OPTIONS;
	 * dialog methods would need a UAS dialog the client cannot hold. */
	if (in_list(dialog_methods, method, false) || strcmp(method, "OPTIONS") == 0) {
		snprintf(err, errlen, "%s cannot be listened to: the service answers it (dialog "
			 "methods, OPTIONS); MESSAGE, PUBLISH, REFER and other standalone "
			 "methods can", method);
		return -EINVAL;
	}
	return 0;
}

int tunnel_header_lines(const struct tunnel_header *headers, size_t n, char **ret)
{
	size_t len = 1, at = 0;
	char *s;

	*ret = NULL;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(headers[i].name) + strlen(headers[i].value) + 4;
	s = malloc(len);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(s + at, len - at, "%s%s: %s", i ? "\r\n" : "",
				       headers[i].name, headers[i].value);
	*ret = s;
	return 0;
}

/* 16 random hex digits: tags and Call-IDs (RFC 3261 19.3 wants them unguessable). */
static void token(char buf[17])
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)buf;
	snprintf(buf, 17, "%016llx", (unsigned long long)v);
}

static int set_line(osip_message_t *m, const struct tunnel_request *rq)
{
	osip_uri_t *uri = NULL;

	if (osip_uri_init(&uri) != 0)
		return -ENOMEM;
	if (osip_uri_parse(uri, rq->uri) != 0) {
		osip_uri_free(uri);
		return -EINVAL;
	}
	osip_message_set_uri(m, uri);
	osip_message_set_method(m, osip_strdup(rq->method));
	osip_message_set_version(m, osip_strdup("SIP/2.0"));
	return 0;
}

static int set_dialogless(osip_message_t *m, const struct tunnel_request *rq, const char *from)
{
	char tag[17], callid[17], buf[1200];

	token(tag);
	token(callid);
	snprintf(buf, sizeof(buf), "<%s>;tag=%s", from, tag);
	if (osip_message_set_from(m, buf) != 0)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "<%s>", rq->uri);
	if (osip_message_set_to(m, buf) != 0 || osip_message_set_call_id(m, callid) != 0)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "1 %s", rq->method);
	if (osip_message_set_cseq(m, buf) != 0 || osip_message_set_max_forwards(m, "70") != 0)
		return -EINVAL;
	return 0;
}

static int set_rest(osip_message_t *m, const struct tunnel_request *rq)
{
	char len[24];

	for (size_t i = 0; i < rq->n_headers; i++)
		if (osip_message_set_header(m, rq->headers[i].name, rq->headers[i].value) != 0)
			return -EINVAL;
	if (rq->body_type) {
		if (osip_message_set_content_type(m, rq->body_type) != 0 ||
		    osip_message_set_body(m, rq->body, strlen(rq->body)) != 0)
			return -EINVAL;
	}
	snprintf(len, sizeof(len), "%zu", rq->body_type ? strlen(rq->body) : (size_t)0);
	return osip_message_set_content_length(m, len) == 0 ? 0 : -ENOMEM;
}

int tunnel_build(const struct tunnel_request *rq, const char *from, osip_message_t **ret,
		 char *err, size_t errlen)
{
	osip_message_t *m = NULL;
	int r;

	if (osip_message_init(&m) != 0)
		return -ENOMEM;
	r = set_line(m, rq);
	if (r < 0)
		snprintf(err, errlen, "\"%s\" is not a SIP URI the stack can send to", rq->uri);
	if (r == 0 && (r = set_dialogless(m, rq, from)) < 0)
		snprintf(err, errlen, "cannot build From/To for \"%s\"", rq->uri);
	if (r == 0 && (r = set_rest(m, rq)) < 0)
		snprintf(err, errlen, "a header or the body was refused by the SIP parser");
	if (r < 0) {
		osip_message_free(m);
		return r;
	}
	*ret = m;
	return 0;
}
