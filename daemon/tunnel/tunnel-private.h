/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the tunnel. */
#ifndef SIPSVC_TUNNEL_PRIVATE_H
#define SIPSVC_TUNNEL_PRIVATE_H

#include <sys/time.h>
#include <time.h>

#include <osip2/osip.h>

#include "tunnel/tunnel.h"

struct pending;
struct inbound;

/** A method one connection listens to. */
struct tunnel_listen {
	char method[33];
	struct origin o; /* the connection and the Listen's ref */
};

struct tunnel {
	struct sip *sip;
	struct ev_loop *loop; /* set by the first Listen: the control layer's loop */
	char *from;
	struct pending *head;
	size_t n;
	struct tunnel_listen listens[TUNNEL_MAX_LISTENS];
	size_t n_listens;
	struct inbound *inbound;
	uint64_t next_tx;
};

/* listen.c */
/** Unclaim every listen and answer every inbound request still waiting (503). */
void tunnel_listen_stop(struct tunnel *t);

/* request.c */
/** Refuse what the tunnel does not carry; 0 or -EINVAL/-E2BIG with the reason in @p err. */
int tunnel_check(const struct tunnel_request *rq, char *err, size_t errlen);
/** The same for a response to an inbound request. */
int tunnel_check_response(const struct tunnel_response *rs, char *err, size_t errlen);
/** Whether a listener may take @p method (0) or not (-EINVAL, reason in @p err). */
int tunnel_check_listen(const char *method, char *err, size_t errlen);
/**
 * @p headers as "Name: value" lines separated by CRLF (sip_dialog_request_with(),
 * sip_tx_respond()), malloc'd in *@p ret (NULL when there are none). 0 or -ENOMEM.
 */
int tunnel_header_lines(const struct tunnel_header *headers, size_t n, char **ret);
/** Build the out-of-dialog request From @p from. 0 or -errno with the reason. */
int tunnel_build(const struct tunnel_request *rq, const char *from, osip_message_t **ret,
		 char *err, size_t errlen);

/* event.c */
/**
 * The `tunnel` event for one response (@p resp NULL: a local 408/503); @p call and
 * @p leg (may be NULL) name the leg of an in-dialog request.
 */
xmlNodePtr tunnel_response_event(const struct origin *o, int status,
				 const osip_message_t *resp, const char *call, const char *leg);
/** The `tunnel` event delivering inbound request @p req as @p tx to a listener. */
xmlNodePtr tunnel_request_event(const struct origin *o, const char *tx,
				const osip_message_t *req);

#endif
