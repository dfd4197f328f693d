/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <Cancel ref="R"/>: stop what the request with ref R on this connection started. */
#include "config.h"

#include "control/control-private.h"
#include "transfer/transfer.h"

xmlNodePtr handle_cancel(struct request *req)
{
	_cleanup_(freep) char *ref = (char *)xmlGetProp(req->node, BAD_CAST "ref");

	if (ref && req->ctl->transfers &&
	    transfer_cancel_ref(req->ctl->transfers, req->origin.conn, ref) == 0)
		return reply_ok(req);
	return reply_error(req, CONTROL_ERROR_NOT_FOUND,
			   "no running search or transfer was started by ref \"%s\" on this "
			   "connection",
			   ref ? ref : "");
}
