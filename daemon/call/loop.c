/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loop mode: third-party call control (RFC 3725). The device is called first without
 * an offer; its 2xx carries its offer, which goes in the INVITE to the target; the
 * target's answer goes back in the ACK to the device (RFC 3725 4.1; RFC 3264 5: an
 * INVITE without a body makes the 2xx carry the offer and the ACK the answer). Both
 * dialogs stay with the service: a BYE on one leg ends the other, a failure on one
 * cleans up the other, a Hangup before the answer CANCELs.
 *
 * Re-INVITEs and UPDATEs with an offer are passed to the other leg, and its answer
 * back (RFC 3725 7, continued processing: the controller relays offers and answers).
 * A re-INVITE without an offer goes on without one too: the other leg's 2xx has its
 * offer, which our 2xx carries back; the answer then comes in the ACK, and goes on in
 * the ACK we owe the other leg (RFC 3264 5, RFC 3725 5).
 *
 * The device's 2xx waits for its ACK while the target rings: RFC 3261 13.3.1.4 gives
 * it 64*T1 = 32 s, so a target that rings longer than that loses the device (which
 * BYEs); RFC 3725 4.1 accepts this for devices that answer at once.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call/call-private.h"
#include "device/device.h"

static int loop_start(struct call *c)
{
	struct call_leg *dev = &c->legs[CALL_LEG_DEVICE];
	/* RFC 5373: ask an auto-answering device to pick up by itself. */
	const char *hdr = c->caps & SIPSVC_CAP_AUTO_ANSWER ? "Answer-Mode: Auto" : NULL;
	int r = call_leg_invite(dev, c->contact, hdr, true, NULL, NULL);

	if (r == 0)
		call_arm_timeout(c);
	return r;
}

static void progress(struct call_leg *l, int status)
{
	/* 180 Ringing and 183 Session Progress; 100 Trying says nothing of the callee. */
	if (status > 100)
		call_leg_set_state(l, CALL_STATE_RINGING, 0);
}

/* The device answered with its offer: carry it to the target. */
static void device_answered(struct call_leg *l)
{
	struct call *c = l->call;
	const char *ct = NULL;
	const char *offer = sip_dialog_remote_body(l->dlg, &ct);

	l->answered = true;
	call_leg_set_state(l, CALL_STATE_CONNECTED, 0);
	if (!offer || !ct) {
		/* RFC 3264 5: a 2xx to an offerless INVITE must carry an offer. */
		log_warn("call c%u: the device's 2xx carries no offer", c->id);
		call_finish(c, CALL_STATE_FAILED, "device-sent-no-offer", 0);
		return;
	}
	if (call_leg_invite(&c->legs[CALL_LEG_REMOTE], c->target, NULL, false, ct, offer) < 0)
		call_finish(c, CALL_STATE_FAILED, "cannot-call-target", 0);
	else
		call_arm_timeout(c);
}

/* The target answered: its answer goes in the ACK to the device (RFC 3725 4.1). */
static void remote_answered(struct call_leg *l)
{
	struct call *c = l->call;
	struct call_leg *dev = &c->legs[CALL_LEG_DEVICE];
	const char *ct = NULL;
	const char *answer = sip_dialog_remote_body(l->dlg, &ct);
	char *mine;
	int r;

	l->answered = true;
	call_leg_set_state(l, CALL_STATE_CONNECTED, 0);
	if (!answer || !ct) {
		log_warn("call c%u: the target's 2xx carries no answer", c->id);
		call_finish(c, CALL_STATE_FAILED, "target-sent-no-answer", 0);
		return;
	}
	mine = call_sdp_for_device(c, answer);
	r = mine ? sip_dialog_send_ack(dev->dlg, ct, mine) : -ENOMEM;
	free(mine);
	if (r < 0) {
		call_finish(c, CALL_STATE_FAILED, "internal", 0);
		return;
	}
	ev_timer_stop(c->mgr->loop, &c->timer);
	call_set_state(c, CALL_STATE_CONNECTED);
}

/* A re-INVITE or UPDATE from one leg, on its way through the other. */
struct relay {
	struct call_leg *from; /* the other leg is where it goes: other_leg() */
	struct sip_tx *tx;
	bool offerless; /* a re-INVITE without an offer: the answer comes in an ACK */
};

static struct call_leg *other_leg(struct call_leg *l)
{
	return &l->call->legs[l->kind == CALL_LEG_DEVICE ? CALL_LEG_REMOTE : CALL_LEG_DEVICE];
}

static void relay_free(struct relay *r)
{
	struct call *c = r->from->call;

	if (c->ack_relay == r)
		c->ack_relay = NULL;
	c->relaying = false;
	mem_deref(r->tx);
	free(r);
	call_loop_device_free(c);
	call_check_gone(c);
	mem_deref(c);
}

void call_loop_device_free(struct call *c)
{
	if (!c->ended && !c->relaying)
		call_switch_resume(c);
}

/* The ACK owed to the leg whose 2xx had an offer we could not pass on: it refuses
 * every stream (RFC 3264 6), and the session on that leg ends or stays as it was. */
static void ack_refusing(struct call_leg *l, const char *ct, const char *offer)
{
	char *no = offer && ct ? call_sdp_refuse(offer) : NULL;

	if (sip_dialog_send_ack(l->dlg, no ? ct : NULL, no) < 0)
		log_warn("call c%u: cannot ACK the re-INVITE's 2xx", l->call->id);
	free(no);
}

/* The other leg's 2xx to our offerless re-INVITE has its offer: ours to the leg that
 * asked, whose ACK will have the answer (call_loop_acked()). */
static void relay_offer_back(struct relay *r, int status, const struct osip_message *resp)
{
	struct call *c = r->from->call;
	char *ct = NULL, *offer = NULL, *mine = NULL;
	bool to_device = r->from->kind == CALL_LEG_DEVICE;
	int err = 0;

	if (status >= 200 && status < 300)
		offer = sip_message_body(resp, &ct);
	if (status >= 300)
		err = status;
	else if (c->ended)
		err = 487;
	else if (!offer || !ct) /* RFC 3264 5: it had to carry one */
		err = 488;
	else if (to_device && !(mine = call_sdp_for_device(c, offer)))
		err = 500;
	else if (sip_dialog_answer(r->from->dlg, r->tx, ct, mine ? mine : offer) < 0)
		err = 500;
	if (err && status < 300)
		ack_refusing(other_leg(r->from), ct, offer);
	free(ct);
	free(offer);
	free(mine);
	if (err) {
		sip_tx_reply(r->tx, err, NULL);
		relay_free(r);
		return;
	}
	c->ack_relay = r;
}

void call_loop_acked(struct call_leg *l)
{
	struct call *c = l->call;
	struct relay *r = c->ack_relay;
	struct call_leg *to = other_leg(l);
	const char *ct = NULL, *answer;
	char *mine = NULL;
	int e;

	if (!r || r->from != l)
		return; /* the ACK of a 2xx that had an answer */
	answer = sip_dialog_remote_body(l->dlg, &ct);
	if (answer && ct && to->kind == CALL_LEG_DEVICE)
		mine = call_sdp_for_device(c, answer);
	if (!answer || !ct || (to->kind == CALL_LEG_DEVICE && !mine)) {
		/* The other leg has an offer and no answer: that session cannot go on. */
		log_warn("call c%u: the ACK of an offerless re-INVITE has no answer", c->id);
		sip_dialog_send_ack(to->dlg, NULL, NULL);
		relay_free(r);
		call_finish(c, CALL_STATE_ENDED, "no-answer-in-ack", 0);
		return;
	}
	e = sip_dialog_send_ack(to->dlg, ct, mine ? mine : answer);
	if (e < 0)
		log_warn("call c%u: cannot send the answer in the ACK: %s", c->id, strerror(-e));
	free(mine);
	relay_free(r);
}

void call_loop_stop(struct call *c)
{
	struct relay *r = c->ack_relay;

	if (r) { /* the ACK it waited for will not come: the legs get their BYEs */
		sip_dialog_send_ack(other_leg(r->from)->dlg, NULL, NULL);
		relay_free(r);
	}
}

/* The other leg's answer goes back as ours (RFC 3725 7: the controller passes offers
 * and answers through); its refusal is passed on as it is. */
static void on_relay_response(struct sip_tx *tx, int status, const struct osip_message *resp,
			      void *arg)
{
	struct relay *r = arg;
	char *ct = NULL, *answer = NULL, *mine = NULL;
	bool to_device = r->from->kind == CALL_LEG_DEVICE;

	if (status < 200)
		return;
	if (r->offerless) {
		relay_offer_back(r, status, resp);
		return;
	}
	if (r->from->call->ended)
		sip_tx_reply(r->tx, 487, NULL);
	else if (status >= 300)
		sip_tx_reply(r->tx, status, NULL);
	else if (!(answer = sip_message_body(resp, &ct)) || !ct)
		sip_tx_reply(r->tx, 488, NULL);
	else if (to_device && !(mine = call_sdp_for_device(r->from->call, answer)))
		sip_tx_reply(r->tx, 500, NULL);
	else if (sip_dialog_answer(r->from->dlg, r->tx, ct, mine ? mine : answer) < 0)
		log_warn("call c%u: cannot answer the re-INVITE", r->from->call->id);
	free(ct);
	free(answer);
	free(mine);
	relay_free(r);
}

/* A re-INVITE goes on with its offer, or without one; an UPDATE always has one here. */
static int relay_send(struct relay *r, const char *method, const char *ct, const char *offer)
{
	struct sip_dialog *d = other_leg(r->from)->dlg;

	if (strcmp(method, "INVITE") != 0)
		return sip_dialog_request(d, method, ct, offer, on_relay_response, r);
	return sip_dialog_reinvite(d, r->offerless ? NULL : ct, r->offerless ? NULL : offer,
				   on_relay_response, r);
}

static int relay_offer(struct call_leg *l, struct sip_tx *tx, const char *method)
{
	struct call *c = l->call;
	struct call_leg *other = other_leg(l);
	char *ct = NULL, *offer = sip_tx_body(tx, &ct), *mine = NULL;
	struct relay *r = NULL;
	int err = 488;

	/* An offer from the far end reaches the device under the device's origin. */
	if (offer && other->kind == CALL_LEG_DEVICE) {
		mine = call_sdp_for_device(c, offer);
		free(offer);
		offer = mine;
	}

	/* RFC 3261 14.2: one offer at a time (491), and only once both legs are up. An
	 * UPDATE always has one here (call_loop_request() answers the others). */
	if (c->relaying || c->state != CALL_STATE_CONNECTED)
		err = 491;
	else if (((offer && ct) || strcmp(method, "INVITE") == 0) &&
		 (r = calloc(1, sizeof(*r))))
		err = 0;
	if (err == 0) {
		*r = (struct relay){
		    .from = l, .tx = mem_ref(tx), .offerless = !offer || !ct};
		mem_ref(c);
		c->relaying = true;
		if (relay_send(r, method, ct, offer) < 0) {
			relay_free(r);
			err = 500;
		}
	}
	free(ct);
	free(offer);
	return err;
}

static bool has_body(const struct sip_tx *tx)
{
	char *b = sip_tx_body(tx, NULL);
	bool some = b != NULL;

	free(b);
	return some;
}

void call_loop_request(struct call_leg *l, struct sip_tx *tx)
{
	const char *m = sip_tx_method(tx);
	int err;

	/* A conference focus's NOTIFYs (RFC 4575, RFC 3515) in the conference dialog. */
	if (l->kind == CALL_LEG_REMOTE && call_conf_request(l->call, tx))
		return;
	if (m && strcmp(m, "UPDATE") == 0 && !has_body(tx)) {
		/* RFC 3311 5.2, RFC 4028 9: an UPDATE without an offer refreshes this leg's
		 * session only; each leg of the service is its own session. */
		sip_tx_reply(tx, 200, NULL);
	} else if (m && (strcmp(m, "INVITE") == 0 || strcmp(m, "UPDATE") == 0)) {
		err = relay_offer(l, tx, m);
		if (err)
			sip_tx_reply(tx, err, NULL);
	} else if (m && strcmp(m, "INFO") == 0) {
		sip_tx_reply(tx, 200, NULL);
	} else {
		sip_tx_reply(tx, 501, NULL);
	}
}

/* The far end hung up while a SameDeviceJoin is on its way: the device stays for the
 * new far end (switch.c ends the call if that one fails too). */
static void remote_gone(struct call_leg *l)
{
	call_leg_settle(l);
	call_leg_report(l, CALL_STATE_ENDED, 0, "remote-bye");
}

static void loop_dialog(struct call_leg *l, enum sip_dialog_event ev, int status,
			struct sip_tx *tx)
{
	bool device = l->kind == CALL_LEG_DEVICE;

	if (call_switch_owns(l->call, l)) {
		call_switch_dialog(l, ev, status, tx);
		return;
	}
	switch (ev) {
	case SIP_DIALOG_PROGRESS:
		progress(l, status);
		break;
	case SIP_DIALOG_ESTABLISHED:
		if (device)
			device_answered(l);
		else
			remote_answered(l);
		break;
	case SIP_DIALOG_FAILED:
		call_leg_failed(l, status, device ? "device-failed" : "remote-failed");
		break;
	case SIP_DIALOG_TERMINATED:
		if (!device && call_switch_pending(l->call))
			remote_gone(l);
		else
			call_leg_bye(l, device ? "device-bye" : "remote-bye");
		break;
	case SIP_DIALOG_REQUEST:
		call_loop_request(l, tx);
		break;
	case SIP_DIALOG_ACKED:
		call_loop_acked(l);
		break;
	default:
		break;
	}
}

const struct call_ops call_loop_ops = {
	.start = loop_start,
	.dialog = loop_dialog,
};
