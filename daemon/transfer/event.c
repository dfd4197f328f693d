/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Transfer events for clients (PROTOCOL.md "Events": type="transfer", states started
 * progress paused done failed cancelled, a done one with the verified sha256), and the
 * mapping from a session's end status to those states. The SIP layer, which owns the
 * transfer ids and the origin of each Fetch, calls these. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "transfer/transfer.h"

static const char *const state_names[_TRANSFER_STATE_MAX] = {
	[TRANSFER_STATE_STARTED] = "started",	[TRANSFER_STATE_PROGRESS] = "progress",
	[TRANSFER_STATE_PAUSED] = "paused",	[TRANSFER_STATE_DONE] = "done",
	[TRANSFER_STATE_FAILED] = "failed",	[TRANSFER_STATE_CANCELLED] = "cancelled",
};

const char *transfer_state_to_string(enum transfer_state s)
{
	return s >= 0 && s < _TRANSFER_STATE_MAX ? state_names[s] : NULL;
}

enum transfer_state transfer_state_of(int status)
{
	switch (status) {
	case 0:
		return TRANSFER_STATE_DONE;
	case -ECANCELED:
		return TRANSFER_STATE_CANCELLED;
	case -ECONNRESET:
	case -ETIMEDOUT:
	case -ECONNABORTED:
		/* the part is kept and the holder may come back: resumable (RFC 5547 §8) */
		return TRANSFER_STATE_PAUSED;
	default:
		return TRANSFER_STATE_FAILED;
	}
}

const char *transfer_status_reason(int status)
{
	switch (status) {
	case 0:
		return "verified";
	case -ECANCELED:
		return "cancelled";
	case -ECONNRESET:
		return "the peer closed the connection";
	case -ETIMEDOUT:
		return "the connection stalled";
	case -ECONNABORTED:
		return "the sender aborted the transfer";
	case -EPROTO:
		return "the peer broke the MSRP or file-transfer rules";
	case -EBADMSG:
		return "the received file does not match its SHA-256";
	case -ENOSPC:
		return "the download dir is full";
	case -EDQUOT:
		return "disk quota exceeded in the download dir";
	case -EACCES:
	case -EPERM:
	case -EROFS:
		return "no permission to write in the download dir";
	default:
		return "transfer failed";
	}
}

static int set_hex(xmlNodePtr n, const char *attr, const char *prefix, const uint8_t *h)
{
	char hex[2 * TRANSFER_SHA256_LEN + 1];

	for (int i = 0; i < TRANSFER_SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	return xml_set_propf(n, attr, "%s%s", prefix, hex);
}

static int fill(xmlNodePtr ev, const struct transfer_event *e)
{
	int r = xml_set_propf(ev, "transfer", "%s", e->transfer);

	if (r == 0)
		r = xml_set_propf(ev, "state", "%s", transfer_state_to_string(e->state));
	if (r == 0 && e->state != TRANSFER_STATE_STARTED)
		r = xml_set_propf(ev, "bytes", "%llu", (unsigned long long)e->bytes);
	if (r == 0)
		r = xml_set_propf(ev, "total", "%llu", (unsigned long long)e->total);
	if (r == 0 && e->file)
		r = set_hex(ev, "file", "sha256:", e->file);
	if (r == 0 && e->peer)
		r = xml_set_propf(ev, "peer", "%s", e->peer);
	if (r == 0 && e->name)
		r = xml_set_propf(ev, "name", "%s", e->name);
	if (r == 0 && e->state == TRANSFER_STATE_DONE && e->sha256)
		r = set_hex(ev, "sha256", "", e->sha256);
	if (r == 0 && e->reason && e->state != TRANSFER_STATE_DONE)
		r = xml_set_propf(ev, "reason", "%s", e->reason);
	return r;
}

xmlNodePtr transfer_event_new(const struct origin *o, const struct transfer_event *e)
{
	xmlNodePtr ev;

	if (!e->transfer || !transfer_state_to_string(e->state))
		return NULL;
	ev = event_new(EVENT_TRANSFER, o);
	if (ev && fill(ev, e) < 0) {
		xmlFreeNode(ev);
		ev = NULL;
	}
	return ev;
}

int transfer_event_emit(const struct origin *o, const struct transfer_event *e)
{
	xmlNodePtr ev = transfer_event_new(o, e);

	if (!ev)
		return -ENOMEM;
	event_emit(EVENT_TRANSFER, o, ev);
	return 0;
}
