/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The call table: numbering (c1, c2... for the daemon's lifetime, PROTOCOL.md
 * "Identifiers"), the limit on concurrent calls, `call` events, Hangup, Calls, and the
 * end of a call: the final event first, then every leg cleaned up, and the object
 * freed once its dialogs have settled (or after CALL_LINGER), whatever way it ended.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml.h"
#include "call/call-private.h"
#include "device/device.h"

static const char *const state_names[_CALL_STATE_MAX] = {
	[CALL_STATE_TRYING] = "trying",
	[CALL_STATE_RINGING] = "ringing",
	[CALL_STATE_CONNECTED] = "connected",
	[CALL_STATE_TRANSFERRING] = "transferring",
	[CALL_STATE_TRANSFERRED] = "transferred",
	[CALL_STATE_HELD] = "held",
	[CALL_STATE_ENDED] = "ended",
	[CALL_STATE_FAILED] = "failed",
};

static const char *const leg_names[_CALL_LEG_MAX] = {
	[CALL_LEG_DEVICE] = "device",
	[CALL_LEG_REMOTE] = "remote",
};

const char *call_state_to_string(enum call_state s)
{
	return s >= 0 && s < _CALL_STATE_MAX ? state_names[s] : NULL;
}

const char *call_leg_kind_to_string(enum call_leg_kind k)
{
	return k < _CALL_LEG_MAX ? leg_names[k] : NULL;
}

const char *call_identity(const struct call *c)
{
	const struct config *cfg = c->mgr ? c->mgr->cfg : NULL;

	return cfg && cfg->identity_uri ? cfg->identity_uri : "sip:sipsvc@invalid";
}

/* ---- events -------------------------------------------------------------------------- */

static xmlNodePtr call_event(const struct call *c, enum call_state st)
{
	xmlNodePtr ev = event_new(EVENT_CALL, &c->origin);

	if (ev && (xml_set_propf(ev, "call", "c%u", c->id) < 0 ||
		   !xmlNewProp(ev, BAD_CAST "state", BAD_CAST call_state_to_string(st)))) {
		xmlFreeNode(ev);
		return NULL;
	}
	return ev;
}

void call_leg_set_state(struct call_leg *l, enum call_state st, int sip_status)
{
	if (l->state == st && st != CALL_STATE_FAILED)
		return;
	call_leg_report(l, st, sip_status, NULL);
}

void call_leg_report(struct call_leg *l, enum call_state st, int sip_status,
		     const char *reason)
{
	struct call *c = l->call;
	xmlNodePtr ev;

	l->state = st;
	if (sip_status)
		l->sip_status = sip_status;
	log_info("call c%u: %s leg %s%s%.0d", c->id, call_leg_kind_to_string(l->kind),
		 call_state_to_string(st), sip_status ? " " : "", sip_status);
	ev = call_event(c, st);
	if (ev)
		xmlNewProp(ev, BAD_CAST "leg", BAD_CAST call_leg_kind_to_string(l->kind));
	if (ev && sip_status)
		xml_set_propf(ev, "sip-status", "%d", sip_status);
	if (ev && reason)
		xmlNewProp(ev, BAD_CAST "reason", BAD_CAST reason);
	event_emit(EVENT_CALL, &c->origin, ev);
}

void call_set_state(struct call *c, enum call_state st)
{
	if (c->state == st || c->ended)
		return;
	c->state = st;
	log_info("call c%u: %s", c->id, call_state_to_string(st));
	event_emit(EVENT_CALL, &c->origin, call_event(c, st));
	if (st == CALL_STATE_CONNECTED)
		call_conf_connected(c);
}

/* ---- lifetime ---------------------------------------------------------------------- */

static void call_destroy(void *data)
{
	struct call *c = data;

	for (int i = 0; i < _CALL_LEG_MAX; i++) {
		call_leg_drop(&c->legs[i]);
		free(c->legs[i].uri);
	}
	free(c->target);
	device_unref(c->dev);
	free(c->dev_spec);
	free(c->sw.target);
	call_conf_free(c->conf);
}

static void unlink_call(struct call *c)
{
	struct call_mgr *m = c->mgr;

	if (!m)
		return;
	ev_timer_stop(m->loop, &c->timer);
	ev_timer_stop(m->loop, &c->prompt_timer);
	ev_timer_stop(m->loop, &c->start);
	ev_timer_stop(m->loop, &c->sw.start);
	ev_timer_stop(m->loop, &c->sw.timer);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->mgr = NULL;
	mem_deref(c); /* the table's reference */
}

void call_check_gone(struct call *c)
{
	if (!c->ended || c->preparing)
		return;
	for (int i = 0; i < _CALL_LEG_MAX; i++)
		if (c->legs[i].dlg && !c->legs[i].settled)
			return;
	unlink_call(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	mem_ref(c);
	if (!c->ended) {
		/* Nobody answered in time: the pending INVITE is CANCELled (RFC 3261 9.1). */
		call_finish(c, CALL_STATE_FAILED, "timeout", 408);
	} else {
		/* The far ends did not answer our BYE/CANCEL: forget the dialogs. */
		log_warn("call c%u: legs did not settle in %.0f s; dropping them", c->id,
			 CALL_LINGER);
		for (int i = 0; i < _CALL_LEG_MAX; i++)
			call_leg_drop(&c->legs[i]);
		call_check_gone(c);
	}
	mem_deref(c);
}

void call_arm_timeout(struct call *c)
{
	struct call_mgr *m = c->mgr;

	if (!m || c->ended)
		return;
	ev_timer_stop(m->loop, &c->timer);
	ev_timer_set(&c->timer, m->cfg->answer_timeout, 0.);
	ev_timer_start(m->loop, &c->timer);
}

void call_finish(struct call *c, enum call_state st, const char *reason, int sip_status)
{
	struct call_mgr *m = c->mgr;
	xmlNodePtr ev;

	if (c->ended)
		return;
	c->ended = true;
	c->state = st;
	if (m)
		m->n_active--;
	log_info("call c%u: %s (%s)", c->id, call_state_to_string(st), reason);
	ev = call_event(c, st);
	if (ev && reason)
		xmlNewProp(ev, BAD_CAST "reason", BAD_CAST reason);
	if (ev && sip_status)
		xml_set_propf(ev, "sip-status", "%d", sip_status);
	event_emit(EVENT_CALL, &c->origin, ev);
	call_choose_stop(c);
	mem_ref(c);
	call_loop_stop(c);
	call_switch_stop(c);
	call_conf_stop(c);
	for (int i = 0; i < _CALL_LEG_MAX; i++)
		call_leg_end(&c->legs[i]);
	m = c->mgr; /* ending the legs may have unlinked the call */
	if (m) {
		ev_timer_stop(m->loop, &c->timer);
		ev_timer_set(&c->timer, CALL_LINGER, 0.);
		ev_timer_start(m->loop, &c->timer);
	}
	call_check_gone(c);
	mem_deref(c);
}

static void on_start(struct ev_loop *loop, ev_timer *w, int revents);

struct call *call_new(struct call_mgr *m, const char *target, const struct origin *o)
{
	struct call *c = mem_zalloc(sizeof(*c), call_destroy);

	if (!c)
		return NULL;
	c->target = strdup(target);
	if (!c->target) {
		mem_deref(c);
		return NULL;
	}
	c->mgr = m;
	c->id = ++m->next_id;
	c->origin = *o;
	c->state = CALL_STATE_TRYING;
	for (int i = 0; i < _CALL_LEG_MAX; i++) {
		c->legs[i].call = c;
		c->legs[i].kind = (enum call_leg_kind)i;
		c->legs[i].state = _CALL_STATE_INVALID;
	}
	ev_init(&c->timer, on_timer);
	c->timer.data = c;
	ev_init(&c->prompt_timer, NULL);
	ev_init(&c->start, on_start);
	c->start.data = c;
	ev_init(&c->sw.start, NULL);
	ev_init(&c->sw.timer, NULL);
	c->next = m->calls;
	if (m->calls)
		m->calls->prev = c;
	m->calls = c;
	m->n_active++;
	return c;
}

/* ---- starting a call ---------------------------------------------------------------- */

static bool is_uri(const char *s)
{
	return strncmp(s, "sip:", 4) == 0 || strncmp(s, "sips:", 5) == 0 ||
	       strncmp(s, "tel:", 4) == 0;
}

int call_use_device(struct call *c, const char *dev, enum device_mode mode, char *err,
		    size_t errlen)
{
	struct device_table *t = c->mgr->devs;

	free(c->dev_spec);
	c->dev_spec = strdup(dev);
	if (!c->dev_spec)
		return -ENOMEM;
	if (is_uri(dev)) {
		/* An ad-hoc sip device: what the sip wrapper assumes by default. */
		c->dev = device_unref(c->dev);
		c->caps = SIPSVC_CAP_LOOP | SIPSVC_CAP_REFER;
		snprintf(c->contact, sizeof(c->contact), "%s", dev);
		c->mode = mode == _DEVICE_MODE_INVALID ? DEVICE_MODE_LOOP : mode;
	} else {
		device_unref(c->dev);
		c->dev = device_ref(t ? device_find(t, dev) : NULL);
		if (!c->dev) {
			snprintf(err, errlen, "no device \"%s\" in the config; <Devices/> lists them",
				 dev);
			return -ENODEV;
		}
		if (device_available(c->dev) == 0) {
			snprintf(err, errlen, "device \"%s\" is unavailable (see the log); try "
				 "another device", dev);
			return -EHOSTDOWN;
		}
		c->caps = device_caps(c->dev);
		c->mode = mode == _DEVICE_MODE_INVALID ? device_mode(c->dev) : mode;
	}
	c->ops = c->mode == DEVICE_MODE_LOOP ? &call_loop_ops : &call_transfer_ops;
	if (c->mode == DEVICE_MODE_LOOP && !(c->caps & SIPSVC_CAP_LOOP)) {
		snprintf(err, errlen, "device \"%s\" cannot be used in loop mode; use "
			 "mode=\"transfer\"", dev);
		return -EINVAL;
	}
	if (c->mode == DEVICE_MODE_TRANSFER &&
	    !(c->caps & (SIPSVC_CAP_REFER | SIPSVC_CAP_DIALS))) {
		snprintf(err, errlen, "device \"%s\" does not accept REFER (its config says "
			 "so); use mode=\"loop\", which works with it", dev);
		return -EINVAL;
	}
	return 0;
}

static void on_prepared(void *arg, int err, const char *why)
{
	struct call *c = arg;

	c->preparing = false;
	if (!c->ended && err < 0) {
		log_warn("call c%u: device %s not ready: %s", c->id, c->dev_spec, why ? why : "");
		call_finish(c, CALL_STATE_FAILED, "device-unavailable", 0);
	} else if (!c->ended && !(c->caps & SIPSVC_CAP_DIALS) &&
		   device_contact(c->dev, c->contact, sizeof(c->contact)) < 0) {
		call_finish(c, CALL_STATE_FAILED, "device-has-no-contact", 0);
	} else if (!c->ended && c->ops->start(c) < 0) {
		call_finish(c, CALL_STATE_FAILED, "internal", 0);
	}
	call_check_gone(c);
	mem_deref(c);
}

static void begin_now(struct call *c)
{
	int r;

	if (!c->dev) {
		if (c->ops->start(c) < 0)
			call_finish(c, CALL_STATE_FAILED, "internal", 0);
		return;
	}
	/* A softphone may have to be started first (sipsvc-wrapper.h prepare); a wrapper
	 * without prepare() has nothing to start. */
	c->preparing = true;
	r = device_prepare(c->dev, on_prepared, mem_ref(c));
	if (r == -EOPNOTSUPP) {
		on_prepared(c, 0, NULL);
	} else if (r < 0) {
		c->preparing = false;
		mem_deref(c);
		call_finish(c, CALL_STATE_FAILED, "device-unavailable", 0);
	}
}

void call_discard(struct call *c)
{
	if (!c->ended && c->mgr)
		c->mgr->n_active--;
	c->ended = true;
	unlink_call(c);
}

static void on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	mem_ref(c);
	if (!c->ended && c->hangup)
		call_finish(c, CALL_STATE_ENDED, "hangup", 0);
	else if (!c->ended && c->prompt)
		call_prompt_send(c);
	else if (!c->ended)
		begin_now(c);
	call_check_gone(c);
	mem_deref(c);
}

void call_begin(struct call *c)
{
	if (c->ended || !c->mgr)
		return;
	ev_timer_set(&c->start, 0., 0.);
	ev_timer_start(c->mgr->loop, &c->start);
}

int call_check_limit(struct call_mgr *m, char *err, size_t errlen)
{
	if (m->n_active < m->cfg->max_calls)
		return 0;
	snprintf(err, errlen, "%zu calls are active, the limit (<calls max> in the config); "
		 "hang one up first", m->n_active);
	return -EBUSY;
}

int call_join(struct call_mgr *m, const char *target, const char *dev, enum device_mode mode,
	      const struct origin *o, unsigned *ret_id, char *err, size_t errlen)
{
	struct call *c;
	int r = call_check_limit(m, err, errlen);

	if (r < 0)
		return r;
	c = call_new(m, target, o);
	if (!c)
		return -ENOMEM;
	r = call_use_device(c, dev, mode, err, errlen);
	if (r < 0) {
		/* Refused before it began: no event, the Error says it all. */
		call_discard(c);
		return r;
	}
	*ret_id = c->id;
	log_info("call c%u: %s with %s in %s mode", c->id, target, dev,
		 device_mode_to_string(c->mode));
	call_begin(c);
	return 0;
}

int call_external_join(struct call_mgr *m, const char *target, bool prompt,
		       const struct origin *o, unsigned *ret_id, char *err, size_t errlen)
{
	struct call *c;
	int r = call_check_limit(m, err, errlen);

	if (r < 0)
		return r;
	if (!m->devs || device_table_count(m->devs) == 0) {
		snprintf(err, errlen, "no device is configured; add a <device> to sipsvc.xml");
		return -ENXIO;
	}
	c = call_new(m, target, o);
	if (!c)
		return -ENOMEM;
	*ret_id = c->id;
	r = call_choose_start(c, prompt, err, errlen);
	if (r < 0)
		call_discard(c);
	return r;
}

/* ---- the table ---------------------------------------------------------------------- */

static void on_status(struct xml_writer *w, enum status_part part, void *arg)
{
	struct call_mgr *m = arg;

	if (part == STATUS_COUNTS)
		xml_attrf(w, "calls", "%zu", m->n_active);
}

int call_mgr_new(struct ev_loop *loop, const struct config *cfg, struct sip *sip,
		 struct device_table *devs, struct call_mgr **ret)
{
	struct call_mgr *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->cfg = cfg;
	m->sip = sip;
	m->devs = devs;
	if (status_register(on_status, m) < 0) {
		free(m);
		return -ENOMEM;
	}
	call_incoming_install(m, true);
	*ret = m;
	return 0;
}

void call_mgr_free(struct call_mgr *m)
{
	if (!m)
		return;
	status_unregister(on_status, m);
	call_incoming_install(m, false);
	while (m->calls) {
		struct call *c = m->calls;

		mem_ref(c);
		call_finish(c, CALL_STATE_ENDED, "shutdown", 0);
		for (int i = 0; i < _CALL_LEG_MAX; i++)
			call_leg_drop(&c->legs[i]);
		if (c->mgr)
			unlink_call(c);
		mem_deref(c);
	}
	call_switch_free_all(m);
	free(m);
}

void call_mgr_set_config(struct call_mgr *m, const struct config *cfg)
{
	m->cfg = cfg;
}

size_t call_mgr_count(const struct call_mgr *m)
{
	return m->n_active;
}

struct call *call_find(struct call_mgr *m, unsigned id)
{
	for (struct call *c = m->calls; c; c = c->next)
		if (c->id == id && !c->ended)
			return c;
	return NULL;
}

/* The call ends on the next loop turn, so that the Hangup's Ok goes out before the
 * call's final event. */
static void hangup_soon(struct call *c)
{
	if (c->ended || c->hangup)
		return;
	c->hangup = true;
	ev_timer_stop(c->mgr->loop, &c->start);
	ev_timer_set(&c->start, 0., 0.);
	ev_timer_start(c->mgr->loop, &c->start);
}

int call_hangup(struct call_mgr *m, unsigned id)
{
	struct call *c;

	if (id) {
		c = call_find(m, id);
		if (!c || c->hangup)
			return -ENOENT;
		hangup_soon(c);
		return 0;
	}
	for (c = m->calls; c; c = c->next)
		hangup_soon(c);
	return 0;
}

int call_leg_dialog(struct call_mgr *m, unsigned id, const char *leg,
		    struct sip_dialog **ret)
{
	struct call *c = call_find(m, id);
	const struct call_leg *l = NULL;

	if (!c)
		return -ENOENT;
	for (enum call_leg_kind k = 0; k < _CALL_LEG_MAX; k++)
		if (strcmp(leg, call_leg_kind_to_string(k)) == 0)
			l = &c->legs[k];
	if (!l)
		return -EINVAL;
	if (!l->dlg || !l->answered || l->settled)
		return -ENOTCONN;
	*ret = l->dlg;
	return 0;
}

static int add_leg(xmlNodePtr call, const struct call_leg *l)
{
	xmlNodePtr n;

	if (l->state == _CALL_STATE_INVALID)
		return 0;
	n = xmlNewChild(call, NULL, BAD_CAST "Leg", NULL);
	if (!n || !xmlNewProp(n, BAD_CAST "leg", BAD_CAST call_leg_kind_to_string(l->kind)) ||
	    !xmlNewProp(n, BAD_CAST "state", BAD_CAST call_state_to_string(l->state)) ||
	    (l->uri && !xmlNewProp(n, BAD_CAST "uri", BAD_CAST l->uri)) ||
	    (l->sip_status && xml_set_propf(n, "sip-status", "%d", l->sip_status) < 0))
		return -ENOMEM;
	return 0;
}

static int add_call(xmlNodePtr parent, const struct call *c)
{
	xmlNodePtr n = xmlNewChild(parent, NULL, BAD_CAST "Call", NULL);

	if (!n || xml_set_propf(n, "call", "c%u", c->id) < 0 ||
	    (c->origin.ref[0] && !xmlNewProp(n, BAD_CAST "ref", BAD_CAST c->origin.ref)) ||
	    !xmlNewProp(n, BAD_CAST "state", BAD_CAST call_state_to_string(c->state)) ||
	    (c->ops && !xmlNewProp(n, BAD_CAST "mode",
				   BAD_CAST device_mode_to_string(c->mode))) ||
	    (c->dev_spec && !xmlNewProp(n, BAD_CAST "device", BAD_CAST c->dev_spec)))
		return -ENOMEM;
	for (int i = 0; i < _CALL_LEG_MAX; i++)
		if (add_leg(n, &c->legs[i]) < 0)
			return -ENOMEM;
	return 0;
}

int call_mgr_list(struct call_mgr *m, xmlNodePtr parent)
{
	/* Oldest first: the table is a stack. */
	struct call *last = m->calls;

	while (last && last->next)
		last = last->next;
	for (struct call *c = last; c; c = c->prev)
		if (!c->ended && add_call(parent, c) < 0)
			return -ENOMEM;
	return 0;
}
