/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Invite: conferences on the configured conference server (<conference server method>).
 *
 * With no conference active, an ad-hoc one is made the RFC 4579 way: a new URI on the
 * server, sip:USER-RANDOM@server, which the focus creates on the first INVITE (RFC 4579
 * 5.3, "ad-hoc conference creation"); the user's default device is joined to it in loop
 * mode. Each invitee is then added by REFER (RFC 4579 5.5 and 5.6): to the invitee with
 * Refer-To: the conference ("refer-invitee"), or to the focus, inside the conference
 * dialog, with Refer-To: the invitee ("refer-focus"). The REFER's implicit subscription
 * reports how it went (RFC 3515 2.4.4, message/sipfrag): per invitee `invited` (the
 * REFER accepted), `joined` (a 2xx in the sipfrag) or `failed` with the sip-status.
 *
 * The roster comes from the conference event package (RFC 4575): a SUBSCRIBE to the
 * conference URI, sent inside the conference dialog so that the focus knows which
 * participant asks (one dialog for the invite and the subscription usages, RFC 5057
 * 5), refreshed before it expires, ended with Expires: 0 when the call ends. Each
 * NOTIFY (full or partial, in version order; confinfo.c) becomes `conference` events,
 * joined or left per user.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "call/call-private.h"
#include "device/device.h"

/* RFC 4575 3.3: a default of 3600 s; we ask for less, and refresh before the end. */
#define CONF_EXPIRES 600

static const char sub_headers[] = "Event: conference\r\n"
				  "Accept: application/conference-info+xml";

/* ---- events --------------------------------------------------------------------------- */

static void conf_event(const struct call *c, const struct origin *o, const char *user,
		       const char *action, int sip_status)
{
	xmlNodePtr ev = event_new(EVENT_CONFERENCE, o);

	if (ev && (xml_set_propf(ev, "call", "c%u", c->id) < 0 ||
		   !xmlNewProp(ev, BAD_CAST "conference", BAD_CAST c->conf->uri) ||
		   !xmlNewProp(ev, BAD_CAST "user", BAD_CAST user) ||
		   !xmlNewProp(ev, BAD_CAST "action", BAD_CAST action) ||
		   (sip_status && xml_set_propf(ev, "sip-status", "%d", sip_status) < 0))) {
		xmlFreeNode(ev);
		return;
	}
	log_info("call c%u: conference %s: %s %s", c->id, c->conf->uri, user, action);
	event_emit(EVENT_CONFERENCE, o, ev);
}

static struct call_invitee *find_invitee(struct call_conf *cf, const char *uri)
{
	for (size_t i = 0; i < cf->n_invitees; i++)
		if (strcmp(cf->inv[i].uri, uri) == 0)
			return &cf->inv[i];
	return NULL;
}

/* An invitee's outcome; `joined` once, whether the sipfrag or the roster said it. */
static void invitee_set(struct call_invitee *inv, enum call_invitee_state st, int status)
{
	struct call *c = inv->conf->call;

	if (inv->state == st || inv->state == CALL_INVITEE_JOINED ||
	    inv->state == CALL_INVITEE_FAILED)
		return;
	/* A sipfrag 2xx may overtake the REFER's 2xx (the NOTIFY is looked at at once, the
	 * response waits in its transaction's queue): it was accepted all the same. */
	if (st == CALL_INVITEE_JOINED && inv->state == CALL_INVITEE_QUEUED)
		invitee_set(inv, CALL_INVITEE_INVITED, 0);
	inv->state = st;
	conf_event(c, &inv->origin, inv->uri,
		   st == CALL_INVITEE_INVITED ? "invited"
		   : st == CALL_INVITEE_JOINED ? "joined" : "failed", status);
}

/* ---- the REFER's subscription (RFC 3515) ------------------------------------------------ */

/* "SIP/2.0 200 OK" → 200; 0 if the body is not a status line (RFC 3420). */
static int sipfrag_status(const char *body)
{
	int status = 0;

	if (!body || sscanf(body, "SIP/2.0 %3d", &status) != 1 || status < 100 || status > 699)
		return 0;
	return status;
}

static bool terminated(const char *state)
{
	return state && strncmp(state, "terminated", 10) == 0;
}

static void refer_notify(struct call_invitee *inv, struct sip_tx *tx)
{
	char *state = sip_tx_header(tx, "Subscription-State");
	char *body = sip_tx_body(tx, NULL);
	int status = sipfrag_status(body);

	sip_tx_reply(tx, 200, NULL);
	if (status >= 200 && status < 300)
		invitee_set(inv, CALL_INVITEE_JOINED, 0);
	else if (status >= 300)
		invitee_set(inv, CALL_INVITEE_FAILED, status);
	else if (terminated(state) && inv->state == CALL_INVITEE_INVITED)
		invitee_set(inv, CALL_INVITEE_FAILED, 0); /* RFC 3515 2.4.7: no outcome */
	if (terminated(state) && inv->dlg) {
		sip_dialog_set_handler(inv->dlg, NULL, NULL);
		inv->dlg = mem_deref(inv->dlg);
	}
	free(state);
	free(body);
}

/* refer-invitee: the dialog of the REFER sent to the invitee. */
static void on_invitee_dialog(struct sip_dialog *d, enum sip_dialog_event ev, int status,
			      struct sip_tx *tx, void *arg)
{
	struct call_invitee *inv = arg;
	struct call *c = mem_ref(inv->conf->call);
	const char *m;

	switch (ev) {
	case SIP_DIALOG_ESTABLISHED:
		invitee_set(inv, CALL_INVITEE_INVITED, 0);
		break;
	case SIP_DIALOG_FAILED:
		invitee_set(inv, CALL_INVITEE_FAILED, status);
		sip_dialog_set_handler(inv->dlg, NULL, NULL);
		inv->dlg = mem_deref(inv->dlg);
		break;
	case SIP_DIALOG_REQUEST:
		m = sip_tx_method(tx);
		if (m && strcmp(m, "NOTIFY") == 0)
			refer_notify(inv, tx);
		else
			sip_tx_reply(tx, 501, NULL);
		break;
	default:
		break;
	}
	mem_deref(c);
}

/* refer-focus: the answer to the REFER in the conference dialog. */
static void on_focus_refer(struct sip_tx *tx, int status, const struct osip_message *resp,
			   void *arg)
{
	struct call_invitee *inv = arg;
	struct call *c = inv->conf->call;

	if (status < 200)
		return;
	if (!c->ended)
		invitee_set(inv, status < 300 ? CALL_INVITEE_INVITED : CALL_INVITEE_FAILED,
			    status < 300 ? 0 : status);
	call_check_gone(c);
	mem_deref(c);
}

static int refer(struct call *c, struct call_invitee *inv)
{
	struct call_conf *cf = c->conf;
	struct sip_dialog *focus = c->legs[CALL_LEG_REMOTE].dlg;
	char hdr[2 * CALL_URI_MAX + 64];
	int r;

	/* RFC 3515 2.1 Refer-To; RFC 3892 Referred-By: us. */
	snprintf(hdr, sizeof(hdr), "Refer-To: <%s>\r\nReferred-By: <%s>",
		 cf->refer_focus ? inv->uri : cf->uri, call_identity(c));
	if (!cf->refer_focus)
		return sip_dialog_subscribe(c->mgr->sip, "REFER", call_identity(c), inv->uri, hdr,
					    false, on_invitee_dialog, inv, &inv->dlg);
	mem_ref(c); /* the answer's: on_focus_refer() drops it */
	r = sip_dialog_request_with(focus, "REFER", hdr, NULL, NULL, on_focus_refer, inv);
	if (r < 0) {
		mem_deref(c);
		return r;
	}
	inv->refer_id = sip_dialog_local_cseq(focus);
	return 0;
}

static void send_refers(struct call *c)
{
	struct call_conf *cf = c->conf;

	for (size_t i = 0; i < cf->n_invitees; i++) {
		struct call_invitee *inv = &cf->inv[i];
		int r;

		if (inv->state != CALL_INVITEE_QUEUED || inv->sent)
			continue;
		inv->sent = true;
		r = refer(c, inv);
		if (r < 0) {
			log_warn("call c%u: cannot REFER for %s: %s", c->id, inv->uri, strerror(-r));
			invitee_set(inv, CALL_INVITEE_FAILED, 0);
		}
	}
}

/* ---- the conference subscription (RFC 4575) -------------------------------------------- */

static void subscribe(struct call *c, int expires);

static void on_refresh(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	if (!c->ended)
		subscribe(c, CONF_EXPIRES);
}

/* RFC 6665 4.1.2.2: refresh before the expiry the notifier granted. */
static void arm_refresh(struct call *c, int expires)
{
	struct call_conf *cf = c->conf;
	double at = expires > 64 ? expires - 32 : expires * 0.9;

	ev_timer_stop(c->mgr->loop, &cf->refresh);
	if (expires <= 0)
		return;
	ev_timer_set(&cf->refresh, at, 0.);
	ev_timer_start(c->mgr->loop, &cf->refresh);
}

static void on_subscribe_response(struct sip_tx *tx, int status,
				  const struct osip_message *resp, void *arg)
{
	struct call *c = arg;

	if (status < 200)
		return;
	if (!c->ended && status >= 300) {
		/* The focus does not offer its roster: the call goes on without it. */
		log_warn("call c%u: the focus refused SUBSCRIBE (%d): no conference events",
			 c->id, status);
		c->conf->subscribed = false;
		ev_timer_stop(c->mgr->loop, &c->conf->refresh);
	}
	call_check_gone(c);
	mem_deref(c);
}

static void subscribe(struct call *c, int expires)
{
	struct call_conf *cf = c->conf;
	char hdr[sizeof(sub_headers) + 32];
	int r;

	snprintf(hdr, sizeof(hdr), "%s\r\nExpires: %d", sub_headers, expires);
	r = sip_dialog_request_with(c->legs[CALL_LEG_REMOTE].dlg, "SUBSCRIBE", hdr, NULL, NULL,
				    on_subscribe_response, mem_ref(c));
	if (r < 0) {
		mem_deref(c);
		log_warn("call c%u: cannot SUBSCRIBE to %s: %s", c->id, cf->uri, strerror(-r));
		return;
	}
	cf->subscribed = expires > 0;
	arm_refresh(c, expires);
}

static void on_roster_change(const char *entity, bool joined, void *arg)
{
	struct call *c = arg;
	struct call_invitee *inv = find_invitee(c->conf, entity);

	if (joined && inv) {
		invitee_set(inv, CALL_INVITEE_JOINED, 0);
		return;
	}
	conf_event(c, &c->origin, entity, joined ? "joined" : "left", 0);
}

/* "active;expires=590" → 590; -1 without. */
static int expires_param(const char *state)
{
	const char *p = state ? strstr(state, "expires=") : NULL;

	return p ? atoi(p + 8) : -1;
}

static void conference_notify(struct call *c, struct sip_tx *tx)
{
	struct call_conf *cf = c->conf;
	char *state = sip_tx_header(tx, "Subscription-State");
	char *body = sip_tx_body(tx, NULL);
	struct confinfo *doc = NULL;
	int r = body ? call_confinfo_parse(body, strlen(body), &doc) : -ENODATA;

	/* RFC 6665 4.1.3: 200 whatever the body; a body we cannot read is logged. */
	sip_tx_reply(tx, 200, NULL);
	if (r == 0)
		r = call_confinfo_apply(cf->roster, doc, on_roster_change, c);
	if (r == -EAGAIN && cf->subscribed) {
		/* RFC 4575 4.6: a notification was lost; a refresh brings the full state. */
		log_info("call c%u: conference-info version gap; asking for the full state",
			 c->id);
		subscribe(c, CONF_EXPIRES);
	} else if (r < 0 && r != -ESTALE && r != -ENODATA) {
		log_warn("call c%u: unusable conference-info from %s: %s", c->id, cf->uri,
			 strerror(-r));
	}
	if (terminated(state)) {
		cf->subscribed = false;
		ev_timer_stop(c->mgr->loop, &cf->refresh);
	} else if (expires_param(state) > 0) {
		arm_refresh(c, expires_param(state));
	}
	free(doc);
	free(state);
	free(body);
}

/* RFC 3515 2.4.6: the refer subscription a NOTIFY belongs to is named by id=, the
 * CSeq of its REFER; the first REFER's may carry none. */
static struct call_invitee *invitee_of(struct call_conf *cf, const char *event)
{
	const char *p = strstr(event, "id=");
	int id = p ? atoi(p + 3) : 0;

	for (size_t i = 0; i < cf->n_invitees; i++)
		if (cf->inv[i].refer_id && (id == 0 || cf->inv[i].refer_id == id))
			return &cf->inv[i];
	return NULL;
}

bool call_conf_request(struct call *c, struct sip_tx *tx)
{
	const char *m = sip_tx_method(tx);
	char *event;
	struct call_invitee *inv;

	if (!c->conf || !m || strcmp(m, "NOTIFY") != 0)
		return false;
	event = sip_tx_header(tx, "Event");
	if (event && strncmp(event, "conference", 10) == 0) {
		conference_notify(c, tx);
	} else if (event && strncmp(event, "refer", 5) == 0 &&
		   (inv = invitee_of(c->conf, event))) {
		refer_notify(inv, tx);
	} else {
		/* RFC 6665 4.1.3: a NOTIFY for no subscription of ours. */
		sip_tx_reply(tx, 481, NULL);
	}
	free(event);
	return true;
}

/* ---- the conference --------------------------------------------------------------------- */

void call_conf_connected(struct call *c)
{
	if (!c->conf || c->ended)
		return;
	subscribe(c, CONF_EXPIRES);
	send_refers(c);
}

void call_conf_stop(struct call *c)
{
	struct call_conf *cf = c->conf;
	struct call_leg *focus = &c->legs[CALL_LEG_REMOTE];

	if (!cf)
		return;
	if (c->mgr) {
		ev_timer_stop(c->mgr->loop, &cf->refresh);
		ev_timer_stop(c->mgr->loop, &cf->kick);
	}
	/* RFC 6665 4.1.2.3: Expires: 0 ends the subscription (before the BYE). */
	if (cf->subscribed && focus->dlg && focus->answered && !focus->settled)
		subscribe(c, 0);
	cf->subscribed = false;
	for (size_t i = 0; i < cf->n_invitees; i++)
		if (cf->inv[i].dlg) {
			sip_dialog_set_handler(cf->inv[i].dlg, NULL, NULL);
			cf->inv[i].dlg = mem_deref(cf->inv[i].dlg);
		}
}

void call_conf_free(struct call_conf *cf)
{
	if (!cf)
		return;
	for (size_t i = 0; i < cf->n_invitees; i++) {
		if (cf->inv[i].dlg) {
			sip_dialog_set_handler(cf->inv[i].dlg, NULL, NULL);
			mem_deref(cf->inv[i].dlg);
		}
		free(cf->inv[i].uri);
	}
	free(cf->roster);
	free(cf->uri);
	free(cf);
}

static int conf_attach(struct call *c, const char *uri)
{
	struct call_conf *cf = calloc(1, sizeof(*cf));
	const char *method = c->mgr->cfg->conference_method;

	if (!cf || !(cf->uri = strdup(uri)) || !(cf->roster = calloc(1, sizeof(*cf->roster)))) {
		call_conf_free(cf);
		return -ENOMEM;
	}
	cf->call = c;
	cf->refer_focus = method && strcmp(method, "refer-focus") == 0;
	ev_init(&cf->refresh, on_refresh);
	cf->refresh.data = c;
	ev_init(&cf->kick, NULL);
	c->conf = cf;
	return 0;
}

/* sip:USER-RANDOM@server: USER from our identity, the host part of the server's URI. */
static int adhoc_uri(const struct call_mgr *m, char *buf, size_t len)
{
	const char *id = m->cfg->identity_uri ? m->cfg->identity_uri : "sip:sipsvc@invalid";
	const char *srv = m->cfg->conference_server;
	const char *user = strchr(id, ':') ? strchr(id, ':') + 1 : id;
	const char *host = strchr(srv, ':') ? strchr(srv, ':') + 1 : srv;
	size_t ulen = strcspn(user, "@;>");
	unsigned char rnd[4];

	if (strchr(host, '@'))
		host = strchr(host, '@') + 1;
	if (ulen == strlen(user) || ulen > 64)
		ulen = 0; /* no user part: none in the room's name either */
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	if ((size_t)snprintf(buf, len, "sip:%.*s%s%02x%02x%02x%02x@%s", (int)ulen, user,
			     ulen ? "-" : "", rnd[0], rnd[1], rnd[2], rnd[3], host) >= len)
		return -EINVAL;
	return 0;
}

/* No conference active: make one and join the user's default device to it. */
static int conf_create(struct call_mgr *m, const struct origin *o, struct call **ret,
		       char *err, size_t errlen)
{
	struct device *d = m->devs ? device_default(m->devs) : NULL;
	char uri[CALL_URI_MAX];
	struct call *c;
	int r = call_check_limit(m, err, errlen);

	if (r < 0)
		return r;
	if (!d) {
		snprintf(err, errlen, "a new conference needs a default device; mark one "
			 "default=\"true\" in sipsvc.xml");
		return -ENXIO;
	}
	r = adhoc_uri(m, uri, sizeof(uri));
	if (r < 0)
		return r;
	c = call_new(m, uri, o);
	if (!c)
		return -ENOMEM;
	r = call_use_device(c, device_id(d), DEVICE_MODE_LOOP, err, errlen);
	if (r == 0)
		r = conf_attach(c, uri);
	if (r < 0) {
		call_discard(c);
		return r;
	}
	log_info("call c%u: conference %s with %s", c->id, uri, device_id(d));
	call_begin(c);
	*ret = c;
	return 0;
}

static struct call *current_conf(struct call_mgr *m, unsigned id, char *err, size_t errlen,
				 int *ret_err)
{
	struct call *c;

	*ret_err = 0;
	if (!id) {
		for (c = m->calls; c; c = c->next) /* newest first */
			if (!c->ended && !c->hangup && c->conf)
				return c;
		return NULL;
	}
	c = call_find(m, id);
	if (!c) {
		snprintf(err, errlen, "no active call c%u; <Calls/> lists them", id);
		*ret_err = -ENOENT;
	} else if (c->ops != &call_loop_ops || c->hangup) {
		snprintf(err, errlen, "call c%u is not a loop-mode call; a conference needs one",
			 id);
		*ret_err = -ENOTCONN;
		c = NULL;
	} else if (!c->conf && conf_attach(c, c->target) < 0) {
		*ret_err = -ENOMEM;
		c = NULL;
	} else if (c->state == CALL_STATE_CONNECTED && !c->conf->subscribed) {
		/* An ordinary call to a conference URI becomes one now. */
		subscribe(c, CONF_EXPIRES);
	}
	return c;
}

/* Send the queued REFERs after the request's reply (PROTOCOL.md "Replies"). */
static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	mem_ref(c);
	if (!c->ended && c->state == CALL_STATE_CONNECTED)
		send_refers(c);
	call_check_gone(c);
	mem_deref(c);
}

static int add_invitees(struct call *c, const char *const *uris, size_t n,
			const struct origin *o, char *err, size_t errlen)
{
	struct call_conf *cf = c->conf;

	if (cf->n_invitees + n > CALL_INVITEES_MAX) {
		snprintf(err, errlen, "a conference takes at most %d invitees from sipsvcd",
			 CALL_INVITEES_MAX);
		return -EBUSY;
	}
	for (size_t i = 0; i < n; i++) {
		struct call_invitee *inv = &cf->inv[cf->n_invitees];

		memset(inv, 0, sizeof(*inv));
		inv->uri = strdup(uris[i]);
		if (!inv->uri)
			return -ENOMEM;
		inv->conf = cf;
		inv->origin = *o;
		inv->state = CALL_INVITEE_QUEUED;
		cf->n_invitees++;
	}
	ev_set_cb(&cf->kick, on_kick);
	cf->kick.data = c;
	ev_timer_stop(c->mgr->loop, &cf->kick);
	ev_timer_set(&cf->kick, 0., 0.);
	ev_timer_start(c->mgr->loop, &cf->kick);
	return 0;
}

int call_invite(struct call_mgr *m, unsigned id, const char *const *uris, size_t n,
		const struct origin *o, unsigned *ret_id, char *err, size_t errlen)
{
	struct call *c;
	int r;

	if (!m->cfg->conference_server) {
		snprintf(err, errlen, "no conference server is configured; add <conference "
			 "server=\"sip:…\"/> to sipsvc.xml");
		return -EDESTADDRREQ;
	}
	c = current_conf(m, id, err, errlen, &r);
	if (r < 0)
		return r;
	if (!c && n > CALL_INVITEES_MAX) {
		snprintf(err, errlen, "a conference takes at most %d invitees from sipsvcd",
			 CALL_INVITEES_MAX);
		return -EBUSY;
	}
	if (!c && (r = conf_create(m, o, &c, err, errlen)) < 0)
		return r;
	r = add_invitees(c, uris, n, o, err, errlen);
	if (r < 0)
		return r;
	*ret_id = c->id;
	return 0;
}
