/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Join, ExternalJoin, ChooseDevice, Hangup and Calls: the call subsystem's requests. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call/call.h"
#include "control/control-private.h"

/* call.h's -errno values as the protocol's error codes. */
static enum control_error error_code(int r)
{
	switch (r) {
	case -EBUSY: return CONTROL_ERROR_LIMIT;
	case -ENODEV: return CONTROL_ERROR_NO_SUCH_DEVICE;
	case -EHOSTDOWN: return CONTROL_ERROR_DEVICE_UNAVAILABLE;
	case -ENOENT: return CONTROL_ERROR_NO_SUCH_CALL;
	case -ENXIO: return CONTROL_ERROR_NO_DEVICES;
	case -ECANCELED: return CONTROL_ERROR_DECLINED;
	case -EINVAL: return CONTROL_ERROR_INVALID;
	case -ENOTCONN: return CONTROL_ERROR_NO_ACTIVE_CALL;
	case -EDESTADDRREQ: return CONTROL_ERROR_NO_CONFERENCE_SERVER;
	default: return CONTROL_ERROR_INTERNAL;
	}
}

static xmlNodePtr no_calls(struct request *req)
{
	return reply_error(req, CONTROL_ERROR_INTERNAL, "calls are not available (the SIP "
			   "service did not start; see the log)");
}

static xmlNodePtr reply_call(struct request *req, unsigned id)
{
	xmlNodePtr ok = reply_ok(req);

	if (ok && xml_set_propf(ok, "call", "c%u", id) < 0) {
		xmlFreeNode(ok);
		return NULL;
	}
	return ok;
}

static xmlNodePtr reply_failure(struct request *req, int r, const char *err)
{
	if (r == -ENOMEM)
		return reply_error(req, CONTROL_ERROR_INTERNAL, "out of memory");
	return reply_error(req, error_code(r), "%s", err[0] ? err : strerror(-r));
}

/* The first <Use> child: the schema makes it required and unique. */
static xmlNodePtr use_element(xmlNodePtr join)
{
	for (xmlNodePtr n = join->children; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST "Use"))
			return n;
	return NULL;
}

xmlNodePtr handle_join(struct request *req)
{
	xmlNodePtr use = use_element(req->node);
	xmlChar *id = xmlGetProp(req->node, BAD_CAST "id");
	xmlChar *dev = use ? xmlGetProp(use, BAD_CAST "dev") : NULL;
	xmlChar *mode = use ? xmlGetProp(use, BAD_CAST "mode") : NULL;
	enum device_mode m = mode ? device_mode_from_string((const char *)mode)
				  : _DEVICE_MODE_INVALID;
	char err[512] = "";
	unsigned call = 0;
	xmlNodePtr reply;
	int r = -ENOMEM;

	if (!req->ctl->calls)
		reply = no_calls(req);
	else if (id && dev &&
		 (r = call_join(req->ctl->calls, (const char *)id, (const char *)dev, m,
				&req->origin, &call, err, sizeof(err))) == 0)
		reply = reply_call(req, call);
	else
		reply = reply_failure(req, r, err);
	xmlFree(id);
	xmlFree(dev);
	xmlFree(mode);
	return reply;
}

xmlNodePtr handle_external_join(struct request *req)
{
	xmlChar *id = xmlGetProp(req->node, BAD_CAST "id");
	bool prompt = control_has_subscriber(req->ctl, EVENT_DEVICE_CHOICE);
	char err[512] = "";
	unsigned call = 0;
	xmlNodePtr reply;
	int r = -ENOMEM;

	if (!req->ctl->calls)
		reply = no_calls(req);
	else if (id && (r = call_external_join(req->ctl->calls, (const char *)id, prompt,
					       &req->origin, &call, err, sizeof(err))) == 0)
		reply = reply_call(req, call);
	else
		reply = reply_failure(req, r, err);
	xmlFree(id);
	return reply;
}

/* "p12" → 12, "c7" → 7 (the schema checked the shape). */
static unsigned number_of(xmlNodePtr n, const char *attr)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST attr);
	unsigned long id = v ? strtoul((const char *)v + 1, NULL, 10) : 0;

	xmlFree(v);
	return id > 0xffffffffUL ? 0 : (unsigned)id;
}

xmlNodePtr handle_choose_device(struct request *req)
{
	xmlChar *dev = xmlGetProp(req->node, BAD_CAST "dev");
	char err[512] = "";
	int r = -ENOMEM;
	xmlNodePtr reply;

	if (!req->ctl->calls)
		reply = no_calls(req);
	else if (dev && (r = call_choose(req->ctl->calls, number_of(req->node, "prompt"),
					 (const char *)dev, err, sizeof(err))) == 0)
		reply = reply_ok(req);
	else if (r == -ENOENT)
		reply = reply_error(req, CONTROL_ERROR_NOT_FOUND, "%s", err);
	else
		reply = reply_failure(req, r, err);
	xmlFree(dev);
	return reply;
}

xmlNodePtr handle_same_device_join(struct request *req)
{
	xmlChar *id = xmlGetProp(req->node, BAD_CAST "id");
	unsigned which = number_of(req->node, "call");
	bool prompt = control_has_subscriber(req->ctl, EVENT_DEVICE_CHOICE);
	char err[512] = "";
	unsigned call = 0;
	xmlNodePtr reply;
	int r = -ENOMEM;

	if (!req->ctl->calls)
		reply = no_calls(req);
	else if (id && (r = call_same_device_join(req->ctl->calls, (const char *)id, which,
						  prompt, &req->origin, &call, err,
						  sizeof(err))) == 0)
		reply = reply_call(req, call);
	else
		reply = reply_failure(req, r, err);
	xmlFree(id);
	return reply;
}

/* At most this many <Add>s are read; call_invite() says what its limit is. */
#define INVITE_ADDS_MAX 64

xmlNodePtr handle_invite(struct request *req)
{
	const char *uris[INVITE_ADDS_MAX];
	xmlChar *vals[INVITE_ADDS_MAX];
	size_t n = 0;
	unsigned which = number_of(req->node, "call"), call = 0;
	char err[512] = "";
	xmlNodePtr reply;
	int r = -ENOMEM;

	for (xmlNodePtr a = req->node->children; a && n < INVITE_ADDS_MAX; a = a->next) {
		if (a->type != XML_ELEMENT_NODE || !xmlStrEqual(a->name, BAD_CAST "Add"))
			continue;
		vals[n] = xmlGetProp(a, BAD_CAST "id");
		if (vals[n]) {
			uris[n] = (const char *)vals[n];
			n++;
		}
	}
	if (!req->ctl->calls)
		reply = no_calls(req);
	else if (n > 0 && (r = call_invite(req->ctl->calls, which, uris, n, &req->origin, &call,
					   err, sizeof(err))) == 0)
		reply = reply_call(req, call);
	else if (r == -EBUSY)
		reply = reply_error(req, CONTROL_ERROR_LIMIT, "%s", err);
	else
		reply = reply_failure(req, r, err);
	for (size_t i = 0; i < n; i++)
		xmlFree(vals[i]);
	return reply;
}

xmlNodePtr handle_hangup(struct request *req)
{
	xmlChar *attr = xmlGetProp(req->node, BAD_CAST "call");
	bool has = attr != NULL;
	unsigned id = has ? number_of(req->node, "call") : 0;

	xmlFree(attr);
	if (!req->ctl->calls)
		return no_calls(req);
	if (has && (id == 0 || call_hangup(req->ctl->calls, id) < 0))
		return reply_error(req, CONTROL_ERROR_NO_SUCH_CALL,
				   "no active call c%u; <Calls/> lists them", id);
	if (!has)
		call_hangup(req->ctl->calls, 0);
	return reply_ok(req);
}

xmlNodePtr handle_calls(struct request *req)
{
	xmlNodePtr ok = reply_ok(req);

	if (ok && req->ctl->calls && call_mgr_list(req->ctl->calls, ok) < 0) {
		xmlFreeNode(ok);
		return NULL;
	}
	return ok;
}
