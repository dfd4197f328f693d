/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <Tunnel><Request method uri [call leg]><Header/>*<Body/>?</Request></Tunnel>: an
 * out-of-dialog SIP request through the service's stack (PROTOCOL.md "Tunnel"). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "control/control-private.h"
#include "tunnel/tunnel.h"

static xmlNodePtr first_element(xmlNodePtr n)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

/* Borrowed pointers into the request document, valid while the handler runs. */
static const char *prop(xmlNodePtr n, const char *name)
{
	xmlAttrPtr a = xmlHasProp(n, BAD_CAST name);

	return a && a->children ? (const char *)a->children->content : NULL;
}

static int read_request(xmlNodePtr rq, struct tunnel_request *out)
{
	*out = (struct tunnel_request){ .method = prop(rq, "method"), .uri = prop(rq, "uri") };
	for (xmlNodePtr c = rq->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrEqual(c->name, BAD_CAST "Header")) {
			if (out->n_headers == TUNNEL_MAX_HEADERS)
				return -E2BIG;
			out->headers[out->n_headers].name = prop(c, "name");
			out->headers[out->n_headers++].value = prop(c, "value");
		} else if (xmlStrEqual(c->name, BAD_CAST "Body")) {
			out->body_type = prop(c, "type");
			out->body = c->children && c->children->type == XML_TEXT_NODE ?
					    (const char *)c->children->content : "";
		}
	}
	/* RFC 3261 18.1.1: a request that would not fit a datagram goes over TCP. */
	out->tcp = out->body && strlen(out->body) > 1000;
	return 0;
}

static xmlNodePtr send_request(struct request *req, xmlNodePtr rq)
{
	struct tunnel_request tr;
	char err[256];
	int r;

	if (prop(rq, "call"))
		return reply_error(req, CONTROL_ERROR_UNKNOWN_REQUEST,
				   "in-dialog tunnelled requests (call=) are not available yet");
	if (read_request(rq, &tr) < 0)
		return reply_error(req, CONTROL_ERROR_LIMIT, "at most %d headers",
				   TUNNEL_MAX_HEADERS);
	r = tunnel_send(req->ctl->tunnel, &req->origin, &tr, err, sizeof(err));
	if (r == -EBUSY)
		return reply_error(req, CONTROL_ERROR_BUSY, "%s", err);
	if (r == -EINVAL)
		return reply_error(req, CONTROL_ERROR_INVALID, "%s", err);
	if (r < 0)
		return reply_error(req, CONTROL_ERROR_SIP_ERROR, "%s", err);
	return reply_ok(req);
}

xmlNodePtr handle_tunnel(struct request *req)
{
	xmlNodePtr what = first_element(req->node);

	if (what && xmlStrEqual(what->name, BAD_CAST "Request"))
		return req->ctl->tunnel ? send_request(req, what) :
		       reply_error(req, CONTROL_ERROR_INTERNAL, "the SIP stack is not running");
	return reply_error(req, CONTROL_ERROR_UNKNOWN_REQUEST,
			   "<Tunnel><%s> is not available in sipsvcd %s yet",
			   what ? (const char *)what->name : "?", PACKAGE_VERSION);
}
