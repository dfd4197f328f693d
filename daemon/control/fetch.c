/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <Fetch file="sha256:…" from="PEER" to="DIR"/>: a download (transfer/transfer.h), then
 * transfer events. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/control-private.h"
#include "transfer/transfer.h"

static int unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static xmlNodePtr reply_transfer(struct request *req, unsigned id)
{
	xmlNodePtr ok = reply_ok(req);

	if (ok && xml_set_propf(ok, "transfer", "t%u", id) < 0) {
		xmlFreeNode(ok);
		return NULL;
	}
	return ok;
}

xmlNodePtr handle_fetch(struct request *req)
{
	_cleanup_(freep) char *file = (char *)xmlGetProp(req->node, BAD_CAST "file");
	_cleanup_(freep) char *from = (char *)xmlGetProp(req->node, BAD_CAST "from");
	_cleanup_(freep) char *to = (char *)xmlGetProp(req->node, BAD_CAST "to");
	uint8_t sha[TRANSFER_SHA256_LEN];
	unsigned id = 0;
	int r;

	if (!req->ctl->transfers)
		return reply_error(req, CONTROL_ERROR_INTERNAL, "file transfer is not running");
	/* the schema has checked file (sha256: and 64 hex digits) and from (PeerId) */
	if (!file || !from || strlen(file) != 7 + 2 * TRANSFER_SHA256_LEN ||
	    unhex(file + 7, sha, sizeof(sha)) < 0)
		return reply_error(req, CONTROL_ERROR_INVALID, "file is sha256: and 64 hex digits");
	r = transfer_fetch(req->ctl->transfers, &req->origin, sha, from, to, &id);
	switch (r) {
	case 0:
		return reply_transfer(req, id);
	case -EALREADY:
		return reply_error(req, CONTROL_ERROR_BUSY,
				   "%s is being fetched already (transfer t%u)", file, id);
	case -ENOENT:
		return reply_error(req, CONTROL_ERROR_NOT_FOUND,
				   "peer %s is not known: search first, or name it in the "
				   "config (<overlay><peer uri=\"sip:ID@host:port\"/>)",
				   from);
	case -EBUSY:
		return reply_error(req, CONTROL_ERROR_LIMIT,
				   "too many transfers (<transfer max-concurrent max-per-peer>)");
	default:
		return NULL;
	}
}
