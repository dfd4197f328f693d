/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the tunnel. */
#ifndef SIPSVC_TUNNEL_PRIVATE_H
#define SIPSVC_TUNNEL_PRIVATE_H

#include <sys/time.h>
#include <time.h>

#include <osip2/osip.h>

#include "tunnel/tunnel.h"

/* request.c */
/** Refuse what the tunnel does not carry; 0 or -EINVAL with the reason in @p err. */
int tunnel_check(const struct tunnel_request *rq, char *err, size_t errlen);
/** Build the out-of-dialog request From @p from. 0 or -errno with the reason. */
int tunnel_build(const struct tunnel_request *rq, const char *from, osip_message_t **ret,
		 char *err, size_t errlen);

/* event.c */
/** The `tunnel` event for one response (@p resp NULL: a local 408/503). */
xmlNodePtr tunnel_response_event(const struct origin *o, int status,
				 const osip_message_t *resp);

#endif
