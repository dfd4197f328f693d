/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file tunnel.h
 * Raw SIP for clients (PROTOCOL.md "Tunnel"): a request built from a client's method,
 * URI, headers and body, sent out of dialog or inside the dialog of a call's leg
 * through the service's own stack (transactions, retransmission, authentication),
 * each response relayed to the client as a `tunnel` event; and Listen: inbound
 * out-of-dialog requests of a method nobody else claims, delivered to one client as
 * a `tunnel` event with a tx id, answered by its Response (else 408 after 5 s).
 */
#ifndef SIPSVC_TUNNEL_H
#define SIPSVC_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "core/core.h"

struct sip;
struct sip_dialog;
struct tunnel;

#define TUNNEL_MAX_HEADERS 32
#define TUNNEL_MAX_PENDING 256   /* requests waiting for their final response */
#define TUNNEL_MAX_BODY 32768    /* bytes of a client's body: fits SIP's 64 KiB message */
#define TUNNEL_MAX_LINE 1000     /* "Name: value" of one header a client sets */
#define TUNNEL_MAX_LISTENS 16    /* methods listened to (SIP_MAX_CLAIMS is 32, shared) */
#define TUNNEL_MAX_INBOUND 64    /* inbound requests waiting for one connection's answers */
#define TUNNEL_ANSWER_SECS 5.0   /* PROTOCOL.md: no answer within 5 s → 408 */

/** One header field as the client wrote it. */
struct tunnel_header {
	const char *name, *value;
};

/** A request as the client described it. */
struct tunnel_request {
	const char *method;
	const char *uri;
	struct tunnel_header headers[TUNNEL_MAX_HEADERS];
	size_t n_headers;
	const char *body_type; /* NULL: no body */
	const char *body;
	bool tcp;
	/* Inside a dialog (call= leg=): the leg's dialog and the names for the events. */
	struct sip_dialog *dialog;
	const char *call, *leg;
};

/** A client's answer to an inbound request (<Tunnel><Response to status reason>). */
struct tunnel_response {
	const char *to; /* the tx id of the event */
	int status;
	const char *reason; /* NULL: the RFC 3261 phrase */
	struct tunnel_header headers[TUNNEL_MAX_HEADERS];
	size_t n_headers;
	const char *body_type; /* NULL: no body */
	const char *body;
};

/** Start the tunnel over @p sip, sending From the identity of @p cfg. 0 or -ENOMEM. */
int tunnel_new(struct sip *sip, const struct config *cfg, struct tunnel **ret);
/**
 * Stop: listens are unclaimed, inbound requests still waiting are answered 503,
 * outbound ones are forgotten (their responses are dropped). NULL ok.
 */
void tunnel_free(struct tunnel *t);
/** Use @p cfg (its identity) for new requests. */
void tunnel_set_config(struct tunnel *t, const struct config *cfg);
/**
 * Send @p rq out of dialog, or inside rq->dialog when set (INFO, MESSAGE, a re-INVITE
 * with an SDP offer, REFER, UPDATE, OPTIONS; the dialog's Request-URI, Route set,
 * tags and CSeq are used, RFC 3261 12.2.1.1); every response becomes an event for
 * @p o. Returns 0, or -EINVAL (a method the tunnel does not carry, a header the stack
 * owns, a URI that does not parse) / -E2BIG (a body over TUNNEL_MAX_BODY) / -EBUSY
 * (too many pending) / -errno from the stack, with the reason for the client in @p err.
 */
int tunnel_send(struct tunnel *t, const struct origin *o, const struct tunnel_request *rq,
		char *err, size_t errlen);
/** Requests waiting for a final response. */
size_t tunnel_pending(const struct tunnel *t);

/**
 * Deliver inbound out-of-dialog requests of @p method that no feature claims to
 * connection o->conn (events carry o->ref), until tunnel_unlisten() or
 * tunnel_conn_gone(). Timers run on @p loop. 0 (also when that connection listens
 * already), -EINVAL (a method the tunnel does not take), -EBUSY (another connection
 * listens), -ENOSPC (TUNNEL_MAX_LISTENS), with the reason in @p err.
 */
int tunnel_listen(struct tunnel *t, struct ev_loop *loop, const struct origin *o,
		  const char *method, char *err, size_t errlen);
/** Stop listening to @p method on connection @p conn. 0 or -ENOENT. */
int tunnel_unlisten(struct tunnel *t, uint64_t conn, const char *method);
/**
 * Answer the inbound request rs->to with the client's final response; only the
 * connection it was delivered to may. 0, -ENOENT (no such request waiting on @p conn),
 * -EINVAL (a provisional status, a header the stack owns), -E2BIG (a body or header
 * over the bounds), with @p err.
 */
int tunnel_respond(struct tunnel *t, uint64_t conn, const struct tunnel_response *rs,
		   char *err, size_t errlen);
/** Connection @p conn has closed: its listens go, its waiting requests get 480. */
void tunnel_conn_gone(struct tunnel *t, uint64_t conn);

#endif
