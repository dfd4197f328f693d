/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <Subscribe events="…"/> and <Unsubscribe events="…"/>: which event types a
 * connection receives besides the events of its own requests. */
#include "config.h"

#include <string.h>

#include "control/control-private.h"

/* The schema has checked every token; unknown ones cannot reach here. */
static uint32_t parse_types(xmlNodePtr n)
{
	xmlChar *list = xmlGetProp(n, BAD_CAST "events");
	uint32_t mask = 0;
	char *save = NULL;

	for (char *t = list ? strtok_r((char *)list, " \t\r\n", &save) : NULL; t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		enum event_type et = event_type_from_string(t);

		if (et >= 0)
			mask |= 1u << et;
	}
	xmlFree(list);
	return mask;
}

xmlNodePtr handle_subscribe(struct request *req)
{
	req->conn->subs |= parse_types(req->node);
	return reply_ok(req);
}

xmlNodePtr handle_unsubscribe(struct request *req)
{
	req->conn->subs &= ~parse_types(req->node);
	return reply_ok(req);
}
