/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The event sink: subsystems report here; the control layer, registered as the sink,
 * routes each event to its origin connection and to subscribers. */
#include "config.h"

#include <string.h>

#include "core.h"

static event_sink_h *sink;
static void *sink_arg;

static const char *const type_names[_EVENT_TYPE_MAX] = {
	[EVENT_CALL] = "call",
	[EVENT_CONFERENCE] = "conference",
	[EVENT_INCOMING] = "incoming",
	[EVENT_TUNNEL] = "tunnel",
	[EVENT_OVERLAY] = "overlay",
	[EVENT_SEARCH] = "search",
	[EVENT_TRANSFER] = "transfer",
	[EVENT_DEVICE_CHOICE] = "device-choice",
	[EVENT_LOG] = "log",
};

const char *event_type_to_string(enum event_type t)
{
	return t >= 0 && t < _EVENT_TYPE_MAX ? type_names[t] : NULL;
}

enum event_type event_type_from_string(const char *s)
{
	for (int i = 0; s && i < _EVENT_TYPE_MAX; i++)
		if (strcmp(s, type_names[i]) == 0)
			return i;
	return _EVENT_TYPE_INVALID;
}

void event_sink_set(event_sink_h *h, void *arg)
{
	sink = h;
	sink_arg = arg;
}

xmlNodePtr event_new(enum event_type t, const struct origin *o)
{
	xmlNodePtr ev = xmlNewNode(NULL, BAD_CAST "Event");

	if (!ev)
		return NULL;
	if (!xmlNewProp(ev, BAD_CAST "type", BAD_CAST event_type_to_string(t)) ||
	    (o && o->ref[0] && !xmlNewProp(ev, BAD_CAST "ref", BAD_CAST o->ref))) {
		xmlFreeNode(ev);
		return NULL;
	}
	return ev;
}

void event_emit(enum event_type t, const struct origin *o, xmlNodePtr ev)
{
	if (!ev)
		return;
	if (!sink) {
		xmlFreeNode(ev);
		return;
	}
	sink(t, o, ev, sink_arg);
}
