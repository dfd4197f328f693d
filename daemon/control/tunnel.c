/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <Tunnel> (PROTOCOL.md "Tunnel"): <Request method uri [call leg]> through the
 * service's stack, out of dialog or inside a call leg's dialog; <Listen method>,
 * <Unlisten method>; <Response to status [reason]> answering an inbound request. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call/call.h"
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

/* <Header>* and <Body>? of a Request or Response; -E2BIG past TUNNEL_MAX_HEADERS. */
static int read_parts(xmlNodePtr el, struct tunnel_header *headers, size_t *n,
		      const char **body_type, const char **body)
{
	for (xmlNodePtr c = el->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrEqual(c->name, BAD_CAST "Header")) {
			if (*n == TUNNEL_MAX_HEADERS)
				return -E2BIG;
			headers[*n].name = prop(c, "name");
			headers[(*n)++].value = prop(c, "value");
		} else if (xmlStrEqual(c->name, BAD_CAST "Body")) {
			*body_type = prop(c, "type");
			*body = c->children && c->children->type == XML_TEXT_NODE ?
					(const char *)c->children->content : "";
		}
	}
	return 0;
}

static int read_request(xmlNodePtr rq, struct tunnel_request *out)
{
	*out = (struct tunnel_request){ .method = prop(rq, "method"), .uri = prop(rq, "uri") };
	if (read_parts(rq, out->headers, &out->n_headers, &out->body_type, &out->body) < 0)
		return -E2BIG;
	/* RFC 3261 18.1.1: a request that would not fit a datagram goes over TCP. */
	out->tcp = out->body && strlen(out->body) > 1000;
	return 0;
}

/* tunnel.h's -errno values as the protocol's error codes. */
static xmlNodePtr tunnel_error(struct request *req, int r, const char *err)
{
	switch (r) {
	case -EBUSY: return reply_error(req, CONTROL_ERROR_BUSY, "%s", err);
	case -EINVAL: return reply_error(req, CONTROL_ERROR_INVALID, "%s", err);
	case -E2BIG: return reply_error(req, CONTROL_ERROR_TOO_LARGE, "%s", err);
	case -ENOSPC: return reply_error(req, CONTROL_ERROR_LIMIT, "%s", err);
	case -ENOENT: return reply_error(req, CONTROL_ERROR_NOT_FOUND, "%s", err);
	case -ENOMEM: return reply_error(req, CONTROL_ERROR_INTERNAL, "out of memory");
	default: return reply_error(req, CONTROL_ERROR_SIP_ERROR, "%s", err);
	}
}

/* call="c7" leg="device|remote": the leg's dialog (sipsvc.xsd: both or neither). */
static xmlNodePtr find_dialog(struct request *req, xmlNodePtr rq, struct tunnel_request *tr)
{
	const char *call = prop(rq, "call"), *leg = prop(rq, "leg");
	char *end = NULL;
	unsigned long id = call && call[0] == 'c' ? strtoul(call + 1, &end, 10) : 0;
	int r;

	if (!call || !leg)
		return reply_error(req, CONTROL_ERROR_INVALID, "call= and leg= go together");
	if (!req->ctl->calls)
		return reply_error(req, CONTROL_ERROR_INTERNAL, "calls are not available");
	if (id == 0 || id > 0xffffffffUL || !end || *end)
		return reply_error(req, CONTROL_ERROR_NO_SUCH_CALL, "no call %s", call);
	r = call_leg_dialog(req->ctl->calls, (unsigned)id, leg, &tr->dialog);
	if (r == -ENOENT)
		return reply_error(req, CONTROL_ERROR_NO_SUCH_CALL, "no active call %s (see "
				   "<Calls/>)", call);
	if (r < 0)
		return reply_error(req, CONTROL_ERROR_INVALID, "the %s leg of %s has no "
				   "established dialog (yet, or any more)", leg, call);
	tr->call = call;
	tr->leg = leg;
	return NULL;
}

static xmlNodePtr send_request(struct request *req, xmlNodePtr rq)
{
	struct tunnel_request tr;
	char err[256] = "";
	int r;

	if (read_request(rq, &tr) < 0)
		return reply_error(req, CONTROL_ERROR_LIMIT, "at most %d headers",
				   TUNNEL_MAX_HEADERS);
	if (prop(rq, "call") || prop(rq, "leg")) {
		xmlNodePtr e = find_dialog(req, rq, &tr);

		if (e)
			return e;
	}
	r = tunnel_send(req->ctl->tunnel, &req->origin, &tr, err, sizeof(err));
	return r < 0 ? tunnel_error(req, r, err) : reply_ok(req);
}

static xmlNodePtr listen_method(struct request *req, xmlNodePtr l)
{
	char err[256] = "";
	int r = tunnel_listen(req->ctl->tunnel, req->ctl->loop, &req->origin, prop(l, "method"),
			      err, sizeof(err));

	return r < 0 ? tunnel_error(req, r, err) : reply_ok(req);
}

static xmlNodePtr unlisten_method(struct request *req, xmlNodePtr l)
{
	const char *method = prop(l, "method");

	if (tunnel_unlisten(req->ctl->tunnel, req->origin.conn, method) < 0)
		return reply_error(req, CONTROL_ERROR_NOT_FOUND,
				   "this connection does not listen to %s", method);
	return reply_ok(req);
}

static xmlNodePtr respond(struct request *req, xmlNodePtr el)
{
	struct tunnel_response rs = { .to = prop(el, "to"), .reason = prop(el, "reason") };
	const char *status = prop(el, "status");
	char err[256] = "";
	int r;

	rs.status = status ? atoi(status) : 0;
	if (read_parts(el, rs.headers, &rs.n_headers, &rs.body_type, &rs.body) < 0)
		return reply_error(req, CONTROL_ERROR_LIMIT, "at most %d headers",
				   TUNNEL_MAX_HEADERS);
	r = tunnel_respond(req->ctl->tunnel, req->origin.conn, &rs, err, sizeof(err));
	return r < 0 ? tunnel_error(req, r, err) : reply_ok(req);
}

xmlNodePtr handle_tunnel(struct request *req)
{
	static const struct {
		const char *name;
		xmlNodePtr (*h)(struct request *req, xmlNodePtr el);
	} what[] = {
		{ "Request", send_request },
		{ "Listen", listen_method },
		{ "Unlisten", unlisten_method },
		{ "Response", respond },
	};
	xmlNodePtr el = first_element(req->node);

	if (!req->ctl->tunnel)
		return reply_error(req, CONTROL_ERROR_INTERNAL, "the SIP stack is not running");
	for (size_t i = 0; el && i < ARRAY_SIZE(what); i++)
		if (xmlStrEqual(el->name, BAD_CAST what[i].name))
			return what[i].h(req, el);
	return reply_error(req, CONTROL_ERROR_INVALID, "<Tunnel> carries one of Request, "
			   "Listen, Unlisten, Response");
}

void control_tunnel_conn_gone(struct conn *cn)
{
	if (cn->ctl->tunnel)
		tunnel_conn_gone(cn->ctl->tunnel, cn->id);
}
