/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Building the SIP request a client asked for, with libosip2's setters so that nothing
 * the client sends is pasted into message text. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "tunnel/tunnel-private.h"

/* Methods that make or belong to a dialog (RFC 3261 12, RFC 6665, RFC 3262, RFC 3311,
 * RFC 6086): the tunnel would leave the far end with a dialog nobody ends. Calls go
 * through Join; in-dialog requests through call= (later). */
static const char *const dialog_methods[] = { "INVITE", "ACK", "CANCEL", "BYE", "PRACK",
					      "UPDATE", "SUBSCRIBE", "NOTIFY", "INFO", NULL };

/* Headers the stack writes itself (full and compact forms, RFC 3261 7.3.3). */
static const char *const owned_headers[] = { "via", "v", "from", "f", "to", "t", "call-id",
					     "i", "cseq", "content-length", "l",
					     "content-type", "c", "max-forwards", NULL };

static bool in_list(const char *const *list, const char *s, bool nocase)
{
	for (size_t i = 0; list[i]; i++)
		if (nocase ? strcasecmp(list[i], s) == 0 : strcmp(list[i], s) == 0)
			return true;
	return false;
}

int tunnel_check(const struct tunnel_request *rq, char *err, size_t errlen)
{
	if (in_list(dialog_methods, rq->method, false)) {
		snprintf(err, errlen, "%s makes or belongs to a dialog: use Join for calls",
			 rq->method);
		return -EINVAL;
	}
	for (size_t i = 0; i < rq->n_headers; i++)
		if (in_list(owned_headers, rq->headers[i].name, true)) {
			snprintf(err, errlen, "the %s header is written by the service",
				 rq->headers[i].name);
			return -EINVAL;
		}
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
