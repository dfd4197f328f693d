/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <Cancel ref="TOKEN"/> (PROTOCOL.md): stop what the request with that ref started on
 * this connection. Each kind of cancellable work has one entry in the table below;
 * the first that finds the ref wins. The work reports its own end by its events.
 */
#include "config.h"

#include "control/control-private.h"
#include "transfer/transfer.h"

/** Stop the work started on @p conn by the request with @p ref; true if found. */
typedef bool(cancel_h)(struct control *ctl, uint64_t conn, const char *ref);

static bool transfer_cancel(struct control *ctl, uint64_t conn, const char *ref)
{
	return ctl->transfers && transfer_cancel_ref(ctl->transfers, conn, ref) == 0;
}

static cancel_h *const cancellers[] = {
	search_cancel_ref,
	transfer_cancel,
};

xmlNodePtr handle_cancel(struct request *req)
{
	/* the schema requires ref here: it names the target, echoed in the reply */
	const char *ref = req->origin.ref;

	for (size_t i = 0; i < ARRAY_SIZE(cancellers); i++)
		if (cancellers[i](req->ctl, req->conn->id, ref))
			return reply_ok(req);
	return reply_error(req, CONTROL_ERROR_NOT_FOUND,
			   "no running search or transfer was started by ref \"%s\" on this "
			   "connection",
			   ref);
}
