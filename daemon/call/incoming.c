/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Incoming calls (DESIGN.md "SIP flows"): an INVITE to the user is offered to
 * subscribed clients as an `incoming` event and bridged in loop mode to the default
 * device; with no device it gets 480 (RFC 3261 21.4.18). The caller's offer goes in
 * the INVITE to the device and the device's answer in our 200 to the caller, so both
 * dialogs stay with the service as in loop mode: a BYE on either ends the other, and
 * re-INVITEs are relayed the same way.
 *
 * A CANCEL from the caller (answered 200 and 487 by the SIP layer, RFC 3261 9.2)
 * CANCELs the ringing device at once.
 *
 * An INVITE without an offer (RFC 3261 13.2.1, RFC 3264 5) goes to the device without
 * one; the device's offer goes in our 200 to the caller, whose ACK brings the answer,
 * and only then is the device's 200 ACKed, with that answer (RFC 3725 flow I run
 * backwards).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call/call-private.h"
#include "core/xml.h"
#include "device/device.h"

static void emit_incoming(struct call *c, const char *from, const char *to)
{
	xmlNodePtr ev = event_new(EVENT_INCOMING, &c->origin);

	if (ev && (xml_set_propf(ev, "call", "c%u", c->id) < 0 ||
		   (from && !xmlNewProp(ev, BAD_CAST "from", BAD_CAST from)) ||
		   (to && !xmlNewProp(ev, BAD_CAST "to", BAD_CAST to)))) {
		xmlFreeNode(ev);
		return;
	}
	event_emit(EVENT_INCOMING, &c->origin, ev);
}

/* The caller gave up before the device answered: it has its 487; the device stops
 * ringing now rather than at its answer or the answer timeout. */
static void on_caller_cancel(struct sip_tx *tx, void *arg)
{
	struct call_leg *l = arg;

	(void)tx;
	call_leg_drop_tx(l);
	call_leg_set_state(l, CALL_STATE_ENDED, 487);
	call_finish(l->call, CALL_STATE_ENDED, "caller-cancelled", 487);
}

/* The caller's From or To URI, if sipsvc.xsd's Uri takes it: it goes into events and
 * <Calls/> (libosip2 passes URIs of schemes it does not know through unescaped). */
static char *party(struct sip_tx *tx, bool to)
{
	char *uri = sip_tx_party(tx, to);

	if (uri && !xml_uri_ok(uri)) {
		free(uri);
		uri = NULL;
	}
	return uri;
}

/* The call for one incoming INVITE, or a final answer saying why there is none. */
static void take_invite(struct call_mgr *m, struct sip_tx *tx)
{
	struct device *d = m->devs ? device_default(m->devs) : NULL;
	struct origin none = { 0 };
	char *from = party(tx, false), *to = party(tx, true), err[256];
	struct call *c = NULL;

	if (!d || device_available(d) == 0)
		sip_tx_reply(tx, 480, NULL);
	else if (m->n_active >= m->cfg->max_calls)
		sip_tx_reply(tx, 486, NULL); /* RFC 3261 21.4.24: we take no more calls */
	else if (!(c = call_new(m, from ? from : "sip:anonymous@anonymous.invalid", &none)))
		sip_tx_reply(tx, 500, NULL);
	else if (call_use_device(c, device_id(d), DEVICE_MODE_LOOP, err, sizeof(err)) < 0) {
		log_warn("call c%u: cannot bridge an incoming call: %s", c->id, err);
		sip_tx_reply(tx, 480, NULL);
		call_discard(c);
	} else {
		c->ops = &call_incoming_ops;
		c->legs[CALL_LEG_REMOTE].tx = mem_ref(tx);
		sip_tx_on_cancel(tx, on_caller_cancel, &c->legs[CALL_LEG_REMOTE]);
		c->legs[CALL_LEG_REMOTE].uri = from;
		from = NULL;
		log_info("call c%u: incoming from %s, to device %s", c->id, c->target,
			 device_id(d));
		emit_incoming(c, c->target, to);
		call_leg_set_state(&c->legs[CALL_LEG_REMOTE], CALL_STATE_RINGING, 0);
		call_begin(c);
	}
	free(from);
	free(to);
}

static void on_invite(struct sip_tx *tx, void *arg)
{
	take_invite(arg, tx);
}

void call_incoming_install(struct call_mgr *m, bool on)
{
	if (m->sip)
		sip_set_invite_handler(m->sip, on ? on_invite : NULL, on ? m : NULL);
}

/* The caller's offer to the device, which rings: no Answer-Mode here. */
static int incoming_start(struct call *c)
{
	struct call_leg *remote = &c->legs[CALL_LEG_REMOTE];
	char *ct = NULL, *offer = remote->tx ? sip_tx_body(remote->tx, &ct) : NULL;
	int r = 0;

	c->offerless = !offer || !ct;
	r = call_leg_invite(&c->legs[CALL_LEG_DEVICE], c->contact, NULL, c->offerless,
			    c->offerless ? NULL : ct, c->offerless ? NULL : offer);
	if (r == 0)
		call_arm_timeout(c);
	free(ct);
	free(offer);
	return r;
}

static void device_event(struct call_leg *l, enum sip_dialog_event ev, int status)
{
	struct call *c = l->call;
	struct call_leg *remote = &c->legs[CALL_LEG_REMOTE];
	const char *ct = NULL, *answer;

	switch (ev) {
	case SIP_DIALOG_PROGRESS:
		if (status > 100 && remote->tx) {
			call_leg_set_state(l, CALL_STATE_RINGING, 0);
			sip_tx_reply(remote->tx, 180, NULL);
		}
		break;
	case SIP_DIALOG_ESTABLISHED:
		l->answered = true;
		call_leg_set_state(l, CALL_STATE_CONNECTED, 0);
		/* The device's answer, or its offer after an offerless INVITE. */
		answer = sip_dialog_remote_body(l->dlg, &ct);
		if (!answer || !ct)
			call_finish(c, CALL_STATE_FAILED,
				    c->offerless ? "device-sent-no-offer" : "device-sent-no-answer",
				    0);
		else if (call_leg_accept(remote, ct, answer) < 0)
			call_finish(c, CALL_STATE_ENDED, "caller-gone", 0);
		break;
	case SIP_DIALOG_FAILED:
		call_leg_settle(l);
		call_leg_set_state(l, CALL_STATE_FAILED, status);
		/* The device's refusal is the caller's answer (486 busy, 603 decline...). */
		if (remote->tx && status >= 300)
			sip_tx_reply(remote->tx, status, NULL);
		call_finish(c, CALL_STATE_FAILED, "device-failed", status);
		break;
	case SIP_DIALOG_TERMINATED:
		call_leg_bye(l, "device-bye");
		break;
	default:
		break;
	}
}

/* The device's deferred ACK with the caller's answer; -EPROTO if the ACK had none
 * (the call then ends: the device's ACK refuses every stream, then a BYE). */
static int ack_device(struct call *c)
{
	const char *ct = NULL;
	const char *answer = sip_dialog_remote_body(c->legs[CALL_LEG_REMOTE].dlg, &ct);

	if (!answer || !ct)
		return -EPROTO;
	return sip_dialog_send_ack(c->legs[CALL_LEG_DEVICE].dlg, ct, answer);
}

static void remote_event(struct call_leg *l, enum sip_dialog_event ev, int status)
{
	struct call *c = l->call;

	switch (ev) {
	case SIP_DIALOG_ESTABLISHED:
		/* The caller's ACK for our 200; after an offerless INVITE it carries the
		 * answer to the device's offer, which the device's ACK now takes. */
		if (c->offerless && ack_device(c) < 0) {
			call_finish(c, CALL_STATE_FAILED, "caller-sent-no-answer", 0);
			break;
		}
		call_leg_set_state(l, CALL_STATE_CONNECTED, 0);
		ev_timer_stop(c->mgr->loop, &c->timer);
		call_set_state(c, CALL_STATE_CONNECTED);
		break;
	case SIP_DIALOG_FAILED:
		/* RFC 3261 13.3.1.4: no ACK came; the dialog layer sends the BYE. */
		call_leg_failed(l, status, "remote-failed");
		break;
	case SIP_DIALOG_TERMINATED:
		call_leg_bye(l, "remote-bye");
		break;
	default:
		break;
	}
}

static void incoming_dialog(struct call_leg *l, enum sip_dialog_event ev, int status,
			    struct sip_tx *tx)
{
	if (ev == SIP_DIALOG_REQUEST)
		call_loop_request(l, tx);
	else if (ev == SIP_DIALOG_ACKED)
		call_loop_acked(l);
	else if (l->kind == CALL_LEG_DEVICE)
		device_event(l, ev, status);
	else
		remote_event(l, ev, status);
}

const struct call_ops call_incoming_ops = {
	.start = incoming_start,
	.dialog = incoming_dialog,
};
