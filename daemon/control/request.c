/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The request table (PROTOCOL.md "Requests"): each message is parsed on its own,
 * looked up by element name, validated against sipsvc.xsd, then handed to its
 * handler. Exactly one reply per request, in order.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control-private.h"
#include "core/xml.h"

struct request_def {
	const char *name;
	request_h *handler; /* NULL: part of the protocol, not in this version yet */
};

/* Every request of PROTOCOL.md; later subsystems fill in their handlers. */
static const struct request_def requests[] = {
	{ "Calls", handle_calls },
	{ "Cancel", handle_cancel },
	{ "ChooseDevice", handle_choose_device },
	{ "Devices", handle_devices },
	{ "ExternalJoin", handle_external_join },
	{ "Fetch", handle_fetch },
	{ "Hangup", handle_hangup },
	{ "Invite", handle_invite },
	{ "Join", handle_join },
	{ "SameDeviceJoin", handle_same_device_join },
	{ "Search", handle_search },
	{ "Share", handle_share },
	{ "Shares", handle_shares },
	{ "Status", handle_status },
	{ "Subscribe", handle_subscribe },
	{ "Tunnel", handle_tunnel },
	{ "Unshare", handle_unshare },
	{ "Unsubscribe", handle_unsubscribe },
};

static int cmp_def(const void *key, const void *elem)
{
	return strcmp(key, ((const struct request_def *)elem)->name);
}

static const struct request_def *find_def(const char *name)
{
	return bsearch(name, requests, ARRAY_SIZE(requests), sizeof(requests[0]), cmp_def);
}

/* sipsvc.xsd caps Error/@request at 64 characters; an unknown name may be longer. */
#define REQUEST_NAME_MAX 64

/*
 * Whether an unknown name can be echoed in Error/@request (xs:Name, at most 64
 * characters). The parser accepts names by the XML 1.0 5th edition rules, the schema
 * checks xs:Name by the older tables, so "élˈve" parses but may not be echoed.
 */
static bool echoable(const char *name)
{
	return name && xmlUTF8Strlen(BAD_CAST name) <= REQUEST_NAME_MAX &&
	       xmlValidateName(BAD_CAST name, 0) == 0;
}

static xmlNodePtr reply_new(const struct request *req, const char *elem)
{
	xmlNodePtr n = xmlNewNode(NULL, BAD_CAST elem);
	bool echo = echoable(req->name);

	if (!n)
		return NULL;
	if ((req->origin.ref[0] && !xmlNewProp(n, BAD_CAST "ref", BAD_CAST req->origin.ref)) ||
	    (echo && !xmlNewProp(n, BAD_CAST "request", BAD_CAST req->name))) {
		xmlFreeNode(n);
		return NULL;
	}
	return n;
}

xmlNodePtr reply_ok(const struct request *req)
{
	return reply_new(req, "Ok");
}

int reply_writer_ok(const struct request *req, struct xml_writer *w)
{
	if (conn_writer_init(w) < 0)
		return -ENOMEM;
	xml_begin(w, "Ok");
	if (req->origin.ref[0])
		xml_attr(w, "ref", req->origin.ref);
	if (echoable(req->name))
		xml_attr(w, "request", req->name);
	return 0;
}

void reply_writer_send(struct request *req, struct xml_writer *w)
{
	int r;

	xml_end(w);
	r = conn_send_writer(req->conn, w);
	if (r == -ENOMEM || r == -EINVAL)
		r = conn_send(req->conn, reply_error(req, CONTROL_ERROR_INTERNAL,
						     r == -EINVAL ? "the reply was malformed"
								  : "out of memory"), false);
	req->replied = true;
	req->reply_r = r;
}

xmlNodePtr reply_error(const struct request *req, enum control_error code, const char *fmt, ...)
{
	xmlNodePtr n = reply_new(req, "Error");
	char msg[512];
	va_list ap;

	if (!n)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xml_text_sanitize(msg); /* it quotes client input */
	if (!xmlNewProp(n, BAD_CAST "code", BAD_CAST control_error_to_string(code))) {
		xmlFreeNode(n);
		return NULL;
	}
	xmlNodeAddContent(n, BAD_CAST msg);
	return n;
}

/* ref: 1–64 printable ASCII characters (sipsvc.xsd RefToken); echoed only if valid. */
static void take_ref(struct request *req)
{
	xmlChar *ref = xmlGetProp(req->node, BAD_CAST "ref");
	size_t n = ref ? strlen((const char *)ref) : 0;
	bool ok = n >= 1 && n <= ORIGIN_REF_MAX;

	for (size_t i = 0; ok && i < n; i++)
		ok = ref[i] > ' ' && ref[i] < 0x7f;
	if (ok)
		memcpy(req->origin.ref, ref, n + 1);
	xmlFree(ref);
}

/* Schema messages quote line 1 of a one-message document; drop that noise. */
static const char *strip_line(const char *err)
{
	const char *p = strchr(err, ':');

	return p && p[1] == ' ' ? p + 2 : err;
}

/*
 * Whether each request, written bare as <Name/>, is valid (1), invalid (-1) or not
 * yet known (0). Most requests a client repeats are bare (<Status/>, <Calls/>):
 * once one has passed the schema, the same bytes need neither libxml2's parser nor
 * the validator again, which were two thirds of the cost of a <Status/>.
 */
static signed char bare_valid[ARRAY_SIZE(requests)];

/* The request table entry of a message that is exactly "<Name/>" or "<Name />". */
static const struct request_def *bare_def(const char *msg, size_t len, char *name,
					  size_t size)
{
	size_t n = 0;

	if (len < 4 || msg[0] != '<' || msg[len - 2] != '/' || msg[len - 1] != '>')
		return NULL;
	for (size_t i = 1; i < len - 2; i++) {
		char c = msg[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
			if (i != n + 1 || n + 1 >= size)
				return NULL; /* a letter after the blank */
			name[n++] = c;
		} else if (c != ' ' || n == 0) {
			return NULL;
		}
	}
	name[n] = '\0';
	return n ? find_def(name) : NULL;
}

/* A document for a bare request already known valid, built without parsing. */
static xmlDocPtr bare_doc(const char *msg, size_t len)
{
	char name[REQUEST_NAME_MAX + 1];
	const struct request_def *def = bare_def(msg, len, name, sizeof(name));
	xmlDocPtr doc;
	xmlNodePtr n;

	if (!def || bare_valid[def - requests] != 1)
		return NULL;
	doc = xmlNewDoc(BAD_CAST "1.0");
	n = doc ? xmlNewDocNode(doc, NULL, BAD_CAST def->name, NULL) : NULL;
	if (!n) {
		xmlFreeDoc(doc);
		return NULL;
	}
	xmlDocSetRootElement(doc, n);
	return doc;
}

static int schema_check(struct request *req, const struct request_def *def, xmlDocPtr doc,
			const char *msg, size_t len, char *err, size_t size)
{
	char name[REQUEST_NAME_MAX + 1];
	int r;

	if (req->bare)
		return 0;
	r = xml_schema_check(req->ctl->vctxt, doc, err, size);
	if (bare_def(msg, len, name, sizeof(name)) == def)
		bare_valid[def - requests] = r < 0 ? -1 : 1;
	return r;
}

static xmlNodePtr dispatch(struct request *req, xmlDocPtr doc, const char *msg, size_t len)
{
	const struct request_def *def = find_def(req->name);
	char err[512];

	if (!def)
		return reply_error(req, CONTROL_ERROR_UNKNOWN_REQUEST,
				   "<%s> is not a request; see sipsvc.xsd for the list", req->name);
	if (schema_check(req, def, doc, msg, len, err, sizeof(err)) < 0)
		return reply_error(req, CONTROL_ERROR_INVALID, "%s", strip_line(err));
	if (!def->handler)
		return reply_error(req, CONTROL_ERROR_UNKNOWN_REQUEST,
				   "<%s> is not available in sipsvcd %s yet", req->name,
				   PACKAGE_VERSION);
	return def->handler(req);
}

int request_handle(struct conn *cn, const char *msg, size_t len)
{
	struct request req = { .ctl = cn->ctl, .conn = cn, .origin.conn = cn->id };
	xmlNodePtr reply;
	xmlDocPtr doc;
	char err[512];

	cn->ctl->stats.requests++;
	doc = bare_doc(msg, len);
	req.bare = doc != NULL;
	if (!doc)
		doc = xml_parse_untrusted(msg, len, err, sizeof(err));
	if (!doc) {
		/* The framer saw a complete element, but the stream cannot be trusted further. */
		cn->closing = true;
		reply = reply_error(&req, CONTROL_ERROR_NOT_WELL_FORMED,
				    "line %s; the connection is closed", err);
		return conn_send(cn, reply, false) < 0 ? -1 : 0;
	}
	req.node = xmlDocGetRootElement(doc);
	req.name = (const char *)req.node->name;
	take_ref(&req);
	log_debug("control: %s: request %s%s%s", cn->peer, req.name,
		  req.origin.ref[0] ? " ref=" : "", req.origin.ref);
	reply = dispatch(&req, doc, msg, len);
	if (req.deferred || req.replied) {
		xmlFreeDoc(doc);
		return req.reply_r < 0 ? -1 : 0;
	}
	if (!reply)
		reply = reply_error(&req, CONTROL_ERROR_INTERNAL, "out of memory");
	if (reply && xmlStrEqual(reply->name, BAD_CAST "Error"))
		cn->ctl->stats.errors++;
	xmlFreeDoc(doc);
	return conn_send(cn, reply, false) < 0 ? -1 : 0;
}
