/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SameDeviceJoin: give a connected loop-mode call a new far end while the device's
 * dialog (Call-ID, tags) stays as it is and the device never gets a BYE.
 *
 * The new target is INVITEd without an offer (RFC 3725 4.1's first step, applied to
 * the far side; RFC 3264 5): its 2xx carries an offer, which goes to the device in a
 * re-INVITE under the origin the device knows with a new version (RFC 3264 8, sdp.c);
 * the device's answer goes in the ACK to the new target. Offering the device's current
 * SDP instead would make the new target's answer the device's next offer, an answer
 * the device never asked for; the offerless INVITE gives one clean offer/answer on each
 * leg. The old far end keeps talking to the device until the device has accepted the
 * new description, and only then gets its BYE: the gap the device hears is the
 * re-INVITE's round trip. A new target that fails (busy, 404, timeout) or a device that
 * refuses the new description leaves the old far end connected, and the failure is
 * reported with its sip-status.
 *
 * Rapid switching: a new SameDeviceJoin supersedes a new target that has not answered
 * yet (CANCEL, or ACK and BYE when its 2xx crosses). One whose offer is already on its
 * way to the device finishes first (RFC 3261 14.1: one INVITE transaction at a time on
 * the device's dialog), then the newest target asked for is called. Legs given up or
 * replaced wait in the manager's list for their CANCEL/BYE to settle, bounded by
 * CALL_LINGER.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call/call-private.h"

static void resume_soon(struct call *c);

/* ---- switch legs ---------------------------------------------------------------------- */

static void swleg_unlink(struct call_swleg *s)
{
	struct call_mgr *m = s->mgr;

	if (!m)
		return;
	ev_timer_stop(m->loop, &s->linger);
	if (s->prev)
		s->prev->next = s->next;
	else
		m->swlegs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->mgr = NULL;
	mem_deref(s); /* the list's reference */
}

static void swleg_destroy(void *data)
{
	struct call_swleg *s = data;

	call_leg_drop(&s->leg);
	free(s->leg.uri);
}

static void on_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call_swleg *s = w->data;

	log_warn("call: released leg %s did not settle in %.0f s; dropping it",
		 s->leg.uri ? s->leg.uri : "", CALL_LINGER);
	swleg_unlink(s);
}

static struct call_swleg *swleg_new(struct call *c)
{
	struct call_mgr *m = c->mgr;
	struct call_swleg *s = mem_zalloc(sizeof(*s), swleg_destroy);

	if (!s)
		return NULL;
	s->leg.call = c;
	s->leg.kind = CALL_LEG_REMOTE;
	s->leg.state = _CALL_STATE_INVALID;
	s->mgr = m;
	ev_timer_init(&s->linger, on_linger, CALL_LINGER, 0.);
	s->linger.data = s;
	s->next = m->swlegs;
	if (m->swlegs)
		m->swlegs->prev = s;
	m->swlegs = s;
	return s;
}

/* A released leg's dialog: cleaned up like a leg of an ended call, then gone. */
static void on_released(struct sip_dialog *d, enum sip_dialog_event ev, int status,
			struct sip_tx *tx, void *arg)
{
	struct call_swleg *s = arg;

	mem_ref(s);
	call_leg_cleanup_event(&s->leg, ev, tx);
	if (s->leg.settled)
		swleg_unlink(s);
	mem_deref(s);
}

/* The leg belongs to no call any more: CANCEL or ACK+BYE it, and let it settle. */
static void swleg_release(struct call_swleg *s)
{
	s->leg.call = NULL;
	if (s->leg.dlg)
		sip_dialog_set_handler(s->leg.dlg, on_released, s);
	call_leg_end(&s->leg);
	if (!s->leg.dlg || s->leg.settled) {
		swleg_unlink(s);
		return;
	}
	ev_timer_start(s->mgr->loop, &s->linger);
}

bool call_switch_owns(const struct call *c, const struct call_leg *l)
{
	return c->sw.leg && l == &c->sw.leg->leg;
}

bool call_switch_pending(const struct call *c)
{
	return c->sw.target || c->sw.leg;
}

/* ---- the switch ----------------------------------------------------------------------- */

/* The new far end did not make it: report why, keep what the device has. */
static void switch_failed(struct call *c, int status, const char *reason)
{
	struct call_swleg *s = c->sw.leg;

	ev_timer_stop(c->mgr->loop, &c->sw.timer);
	c->sw.leg = NULL;
	c->sw.committed = false;
	log_warn("call c%u: switch to %s failed (%s %d)", c->id, s->leg.uri, reason, status);
	call_leg_report(&s->leg, CALL_STATE_FAILED, status, reason);
	swleg_release(s);
	if (c->legs[CALL_LEG_REMOTE].settled && !c->sw.target)
		/* The old far end hung up meanwhile: nobody is left for the device. */
		call_finish(c, CALL_STATE_FAILED, reason, status);
	else
		resume_soon(c);
}

/* The device took the new description: the new leg becomes the remote leg, the old
 * one is released (BYE). */
static void switch_done(struct call *c, const char *ctype, const char *answer)
{
	struct call_swleg *s = c->sw.leg;
	struct call_leg *rem = &c->legs[CALL_LEG_REMOTE];
	struct call_leg tmp;
	char *t;

	c->sw.leg = NULL;
	if (sip_dialog_send_ack(s->leg.dlg, ctype, answer) < 0) {
		c->sw.leg = s;
		switch_failed(c, 500, "cannot-ack-new-target");
		return;
	}
	if (!rem->settled)
		call_leg_report(rem, CALL_STATE_ENDED, 0, "switched");
	tmp = *rem;
	*rem = s->leg;
	s->leg = tmp;
	rem->kind = CALL_LEG_REMOTE;
	call_leg_rebind(rem);
	if (rem->uri && (t = strdup(rem->uri))) {
		free(c->target);
		c->target = t;
	}
	log_info("call c%u: switched to %s", c->id, rem->uri);
	call_leg_report(rem, CALL_STATE_CONNECTED, 0, "switched");
	swleg_release(s);
	resume_soon(c);
}

static void on_device_reinvite(struct sip_tx *tx, int status, const struct osip_message *resp,
			       void *arg)
{
	struct call *c = arg;
	char *ct = NULL, *answer = NULL;

	if (status < 200)
		return;
	c->relaying = false;
	c->sw.committed = false;
	if (!c->ended && c->sw.leg && status < 300) {
		answer = sip_message_body(resp, &ct);
		if (answer && ct)
			switch_done(c, ct, answer);
		else
			switch_failed(c, 488, "device-sent-no-answer");
	} else if (!c->ended && c->sw.leg) {
		/* RFC 3261 14.1: the device keeps its old session; so does the call. */
		switch_failed(c, status, "device-refused-switch");
	} else if (!c->ended && status < 300) {
		/* The new target gave up while the device was taking its description. */
		log_warn("call c%u: the device took the description of a far end that has "
			 "gone; its media go nowhere until the next switch or re-INVITE", c->id);
	}
	free(ct);
	free(answer);
	call_check_gone(c);
	mem_deref(c);
}

/* The new target answered with its offer: on to the device, when its dialog is free. */
static void commit(struct call *c)
{
	struct call_swleg *s = c->sw.leg;
	const char *ct = NULL;
	const char *offer = sip_dialog_remote_body(s->leg.dlg, &ct);
	char *mine;
	int r;

	if (!offer || !ct) {
		/* RFC 3264 5: a 2xx to an offerless INVITE must carry an offer. */
		switch_failed(c, 488, "target-sent-no-offer");
		return;
	}
	/* Another far end: a new version even if its o= line happens to equal the last. */
	c->far_o[0] = '\0';
	mine = call_sdp_for_device(c, offer);
	mem_ref(c);
	r = mine ? sip_dialog_request(c->legs[CALL_LEG_DEVICE].dlg, "INVITE", ct, mine,
				      on_device_reinvite, c)
		 : -ENOMEM;
	free(mine);
	if (r < 0) {
		mem_deref(c);
		switch_failed(c, 500, "cannot-reinvite-device");
		return;
	}
	s->ready = false;
	c->sw.committed = true;
	c->relaying = true; /* one offer at a time on the device's dialog (RFC 3261 14.2) */
}

static void on_switch_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	mem_ref(c);
	if (!c->ended && c->sw.leg && !c->sw.committed)
		switch_failed(c, 408, "timeout"); /* CANCELs it (RFC 3261 9.1) */
	call_check_gone(c);
	mem_deref(c);
}

/* Call the newest target asked for: offerless (see the top of the file). */
static void call_new_target(struct call *c)
{
	struct call_swleg *s = swleg_new(c);
	char *target = c->sw.target;

	c->sw.target = NULL;
	if (s && call_leg_invite(&s->leg, target, NULL, true, NULL, NULL) < 0) {
		/* call_leg_invite() logged why. */
		c->sw.leg = s;
		switch_failed(c, 500, "cannot-call-target");
		s = NULL;
	} else if (!s) {
		log_warn("call c%u: cannot call %s: out of memory", c->id, target);
	}
	free(target);
	if (!s)
		return;
	c->sw.leg = s;
	ev_set_cb(&c->sw.timer, on_switch_timeout);
	c->sw.timer.data = c;
	ev_timer_stop(c->mgr->loop, &c->sw.timer);
	ev_timer_set(&c->sw.timer, c->mgr->cfg->answer_timeout, 0.);
	ev_timer_start(c->mgr->loop, &c->sw.timer);
}

/* Next step, whatever the state: supersede, call, or send a waiting offer. */
static void step(struct call *c)
{
	struct call_swleg *s = c->sw.leg;

	if (c->ended || (s && c->sw.committed))
		return;
	if (s && c->sw.target) {
		c->sw.leg = NULL;
		ev_timer_stop(c->mgr->loop, &c->sw.timer);
		call_leg_report(&s->leg, CALL_STATE_ENDED, 0, "superseded");
		swleg_release(s);
		s = NULL;
	}
	if (!s && c->sw.target)
		call_new_target(c);
	else if (s && s->ready && !c->relaying)
		commit(c);
}

static void on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct call *c = w->data;

	mem_ref(c);
	step(c);
	call_check_gone(c);
	mem_deref(c);
}

/* On the next loop turn: after the request's reply, out of any dialog callback. */
static void resume_soon(struct call *c)
{
	if (c->ended || !c->mgr)
		return;
	ev_set_cb(&c->sw.start, on_start);
	c->sw.start.data = c;
	ev_timer_stop(c->mgr->loop, &c->sw.start);
	ev_timer_set(&c->sw.start, 0., 0.);
	ev_timer_start(c->mgr->loop, &c->sw.start);
}

void call_switch_resume(struct call *c)
{
	if (c->sw.leg && c->sw.leg->ready)
		resume_soon(c);
}

void call_switch_dialog(struct call_leg *l, enum sip_dialog_event ev, int status,
			struct sip_tx *tx)
{
	struct call *c = l->call;
	struct call_swleg *s = c->sw.leg;
	const char *m;

	switch (ev) {
	case SIP_DIALOG_PROGRESS:
		if (status > 100)
			call_leg_set_state(l, CALL_STATE_RINGING, 0);
		break;
	case SIP_DIALOG_ESTABLISHED:
		l->answered = true;
		ev_timer_stop(c->mgr->loop, &c->sw.timer);
		s->ready = true;
		step(c);
		break;
	case SIP_DIALOG_FAILED:
		call_leg_settle(l);
		switch_failed(c, status, "target-failed");
		break;
	case SIP_DIALOG_TERMINATED:
		call_leg_settle(l);
		switch_failed(c, 0, "target-bye");
		break;
	case SIP_DIALOG_REQUEST:
		/* Not bridged yet: no offer can go through (RFC 3261 14.2: 491). */
		m = sip_tx_method(tx);
		sip_tx_reply(tx, m && (!strcmp(m, "INVITE") || !strcmp(m, "UPDATE")) ? 491 : 200,
			     NULL);
		break;
	default:
		break;
	}
}

void call_switch_stop(struct call *c)
{
	struct call_swleg *s = c->sw.leg;

	free(c->sw.target);
	c->sw.target = NULL;
	c->sw.leg = NULL;
	c->sw.committed = false;
	if (c->mgr) {
		ev_timer_stop(c->mgr->loop, &c->sw.timer);
		ev_timer_stop(c->mgr->loop, &c->sw.start);
	}
	if (s)
		swleg_release(s);
}

void call_switch_free_all(struct call_mgr *m)
{
	while (m->swlegs)
		swleg_unlink(m->swlegs);
}

/* ---- the request ---------------------------------------------------------------------- */

static bool switchable(const struct call *c)
{
	/* A conference call's far end is the focus its subscription and REFERs belong
	 * to: it is not switched away. */
	return !c->ended && !c->hangup && c->ops == &call_loop_ops && !c->conf &&
	       c->state == CALL_STATE_CONNECTED;
}

int call_same_device_join(struct call_mgr *m, const char *target, unsigned id, bool prompt,
			  const struct origin *o, unsigned *ret_id, char *err, size_t errlen)
{
	struct call *c = NULL;
	char *t;

	if (id) {
		c = call_find(m, id);
		if (!c) {
			snprintf(err, errlen, "no active call c%u; <Calls/> lists them", id);
			return -ENOENT;
		}
		if (!switchable(c)) {
			snprintf(err, errlen, "call c%u is not a connected loop-mode call; "
				 "SameDeviceJoin needs one", id);
			return -ENOTCONN;
		}
	}
	for (struct call *i = m->calls; !id && i && !c; i = i->next)
		if (switchable(i))
			c = i; /* the table is newest first */
	if (!c)
		/* PROTOCOL.md: without an active device call, an ExternalJoin. */
		return call_external_join(m, target, prompt, o, ret_id, err, errlen);
	t = strdup(target);
	if (!t)
		return -ENOMEM;
	free(c->sw.target);
	c->sw.target = t;
	c->origin = *o; /* the switch's events go to who asked for it */
	log_info("call c%u: switching to %s", c->id, target);
	resume_soon(c);
	*ret_id = c->id;
	return 0;
}
