/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device choice for ExternalJoin (PROTOCOL.md "Device choice"), the first that
 * applies: a prompt to clients subscribed to device-choice, answered by ChooseDevice
 * within CALL_PROMPT_TIMEOUT; (a chooser program: not yet); the default device;
 * otherwise declined.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "call/call-private.h"
#include "device/device.h"

static int add_device(xmlNodePtr ev, const struct device *d)
{
	xmlNodePtr n = xmlNewChild(ev, NULL, BAD_CAST "Device", NULL);

	if (!n || !xmlNewProp(n, BAD_CAST "id", BAD_CAST device_id(d)) ||
	    !xmlNewProp(n, BAD_CAST "mode", BAD_CAST device_mode_to_string(device_mode(d))) ||
	    !xmlNewProp(n, BAD_CAST "default",
			BAD_CAST(device_is_default(d) ? "true" : "false")))
		return -ENOMEM;
	return 0;
}

/* The prompt goes to subscribers only: it is not an answer to the requester. */
static int send_prompt(struct call *c)
{
	struct device_table *t = c->mgr->devs;
	struct origin none = { 0 };
	xmlNodePtr ev = event_new(EVENT_DEVICE_CHOICE, &none);

	if (!ev || xml_set_propf(ev, "prompt", "p%u", c->prompt) < 0 ||
	    !xmlNewProp(ev, BAD_CAST "target", BAD_CAST c->target)) {
		xmlFreeNode(ev);
		return -ENOMEM;
	}
	for (size_t i = 0; i < device_table_count(t); i++)
		if (device_available(device_table_get(t, i)) != 0 &&
		    add_device(ev, device_table_get(t, i)) < 0) {
			xmlFreeNode(ev);
			return -ENOMEM;
		}
	event_emit(EVENT_DEVICE_CHOICE, &none, ev);
	return 0;
}

/* Steps 3 and 4: the default device, else nothing. */
static int use_default(struct call *c, char *err, size_t errlen)
{
	struct device *d = device_default(c->mgr->devs);

	if (!d) {
		snprintf(err, errlen, "nobody chose a device and there is no default device; "
			 "mark one default=\"true\" in sipsvc.xml");
		return -ECANCELED;
	}
	return call_use_device(c, device_id(d), _DEVICE_MODE_INVALID, err, errlen);
}

static void on_prompt_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;
	char err[256];

	log_info("call c%u: no answer to prompt p%u in %.0f s", c->id, c->prompt,
		 CALL_PROMPT_TIMEOUT);
	c->prompt = 0;
	mem_ref(c);
	if (use_default(c, err, sizeof(err)) < 0)
		call_finish(c, CALL_STATE_FAILED, "declined", 0);
	else
		call_begin(c);
	mem_deref(c);
}

void call_prompt_send(struct call *c)
{
	struct call_mgr *m = c->mgr;

	if (send_prompt(c) < 0)
		log_err("call c%u: out of memory sending prompt p%u", c->id, c->prompt);
	ev_timer_init(&c->prompt_timer, on_prompt_timeout, CALL_PROMPT_TIMEOUT, 0.);
	c->prompt_timer.data = c;
	ev_timer_start(m->loop, &c->prompt_timer);
}

int call_choose_start(struct call *c, bool prompt, char *err, size_t errlen)
{
	int r;

	if (prompt) {
		c->prompt = ++c->mgr->next_prompt;
		call_begin(c); /* sends the prompt after the reply */
		return 0;
	}
	r = use_default(c, err, errlen);
	if (r < 0)
		return r;
	call_begin(c);
	return 0;
}

void call_choose_stop(struct call *c)
{
	if (c->mgr)
		ev_timer_stop(c->mgr->loop, &c->prompt_timer);
	c->prompt = 0;
}

int call_choose(struct call_mgr *m, unsigned prompt, const char *dev, char *err, size_t errlen)
{
	struct call *c = m->calls;
	int r;

	while (c && (c->ended || c->prompt != prompt || prompt == 0))
		c = c->next;
	if (!c) {
		snprintf(err, errlen, "no prompt p%u is waiting (answered, timed out, or never "
			 "sent)", prompt);
		return -ENOENT;
	}
	if (!dev[0]) {
		call_finish(c, CALL_STATE_FAILED, "declined", 0);
		return 0;
	}
	r = call_use_device(c, dev, _DEVICE_MODE_INVALID, err, errlen);
	if (r < 0)
		return r;
	call_choose_stop(c);
	call_begin(c);
	return 0;
}
