/* SPDX-License-Identifier: LGPL-2.1-or-later */
/**
 * @file tunnel.h
 * Raw SIP for clients (PROTOCOL.md "Tunnel"): an out-of-dialog request built from a
 * client's method, URI, headers and body, sent through the service's own stack
 * (transactions, retransmission, authentication), each response relayed to the client
 * as a `tunnel` event.
 */
#ifndef SIPSVC_TUNNEL_H
#define SIPSVC_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

struct sip;
struct tunnel;

#define TUNNEL_MAX_HEADERS 32
#define TUNNEL_MAX_PENDING 256 /* requests waiting for their final response */

/** A request as the client described it. */
struct tunnel_request {
	const char *method;
	const char *uri;
	struct {
		const char *name, *value;
	} headers[TUNNEL_MAX_HEADERS];
	size_t n_headers;
	const char *body_type; /* NULL: no body */
	const char *body;
	bool tcp;
};

/** Start the tunnel over @p sip, sending From the identity of @p cfg. 0 or -ENOMEM. */
int tunnel_new(struct sip *sip, const struct config *cfg, struct tunnel **ret);
/** Stop; requests still pending are forgotten (their responses are dropped). NULL ok. */
void tunnel_free(struct tunnel *t);
/** Use @p cfg (its identity) for new requests. */
void tunnel_set_config(struct tunnel *t, const struct config *cfg);
/**
 * Send @p rq out of dialog; every response becomes an event for @p o. Returns 0, or
 * -EINVAL (a method the tunnel does not carry, a header the stack owns, a URI that does
 * not parse) / -EBUSY (too many pending) / -errno from the stack, with the reason for
 * the client in @p err.
 */
int tunnel_send(struct tunnel *t, const struct origin *o, const struct tunnel_request *rq,
		char *err, size_t errlen);
/** Requests waiting for a final response. */
size_t tunnel_pending(const struct tunnel *t);

#endif
