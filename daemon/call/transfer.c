/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Transfer mode: the service makes the device call the target, then leaves. The
 * device is INVITEd (Answer-Mode: Auto when it honours it, RFC 5373), and once it
 * answers it gets an in-dialog REFER with Refer-To: the target (RFC 3515 2.1). The
 * implicit `refer` subscription's NOTIFYs carry message/sipfrag status lines (RFC 3515
 * 2.4.4): a 2xx means the device reached the target (transferred), a final error
 * means it did not (failed). Then the transferor ends its own dialog with BYE (RFC
 * 5589 5). Click-to-dial devices (SIPSVC_CAP_DIALS) are asked to dial instead, and
 * devices that take an out-of-dialog REFER without a subscription get just that
 * (RFC 4488 4, the RFC 5359 2.18 click-to-dial flow): no INVITE to the device, and
 * its 2xx is all the service learns.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call/call-private.h"
#include "device/device.h"

/* The device's INVITE offers a stream that goes nowhere (c=0.0.0.0, inactive): the
 * device must not play or send anything to us in the moment before it is referred
 * (the "black hole" offer of RFC 3725 4.4; a=inactive, RFC 4566 6). */
static const char hold_sdp[] = "v=0\r\n"
			       "o=sipsvc 1 1 IN IP4 0.0.0.0\r\n"
			       "s=-\r\n"
			       "c=IN IP4 0.0.0.0\r\n"
			       "t=0 0\r\n"
			       "m=audio 9 RTP/AVP 0 8\r\n"
			       "a=inactive\r\n";

static void on_dialed(void *arg, int err, const char *why)
{
	struct call *c = arg;
	struct call_leg *l = &c->legs[CALL_LEG_DEVICE];

	if (!c->ended && err < 0) {
		log_warn("call c%u: device %s did not dial: %s", c->id, c->dev_spec,
			 why ? why : strerror(-err));
		call_leg_set_state(l, CALL_STATE_FAILED, 0);
		call_finish(c, CALL_STATE_FAILED, "device-did-not-dial", 0);
	} else if (!c->ended) {
		call_leg_set_state(l, CALL_STATE_TRANSFERRED, 0);
		call_set_state(c, CALL_STATE_TRANSFERRED);
		call_finish(c, CALL_STATE_ENDED, "transferred", 0);
	}
	mem_deref(c);
}

static void refused(struct call *c, int status)
{
	/* RFC 3515 2.4.2: the REFER was refused; say what would work instead. */
	log_warn("call c%u: device %s refused REFER (%d); loop mode would work", c->id,
		 c->dev_spec, status);
	call_leg_set_state(&c->legs[CALL_LEG_DEVICE], CALL_STATE_FAILED, status);
	call_finish(c, CALL_STATE_FAILED,
		    "the device refused REFER; use mode=\"loop\", which works with it", status);
}

static void on_nosub_response(struct sip_tx *tx, int status, const struct osip_message *resp,
			      void *arg)
{
	struct call *c = arg;

	if (status < 200)
		return;
	if (!c->ended && status >= 300) {
		refused(c, status);
	} else if (!c->ended) {
		/* RFC 4488 4: no subscription, so no NOTIFY will tell how the call went; the
		 * device has taken the job. */
		call_leg_set_state(&c->legs[CALL_LEG_DEVICE], CALL_STATE_TRANSFERRED, 0);
		call_set_state(c, CALL_STATE_TRANSFERRED);
		call_finish(c, CALL_STATE_ENDED, "transferred", 0);
	}
	call_check_gone(c);
	mem_deref(c);
}

/* RFC 4488 4: Refer-Sub: false asks for no implicit subscription; norefersub says we
 * understand the answer's Refer-Sub. */
static int send_refer_nosub(struct call *c)
{
	char hdr[2 * CALL_URI_MAX + 128];
	int r;

	snprintf(hdr, sizeof(hdr), "Refer-To: <%s>\r\nReferred-By: <%s>\r\nRefer-Sub: false\r\n"
		 "Supported: norefersub", c->target, call_identity(c));
	r = sip_request_out(c->mgr->sip, "REFER", call_identity(c), c->contact, hdr, NULL, NULL,
			    false, on_nosub_response, mem_ref(c));
	if (r < 0) {
		mem_deref(c);
		return r;
	}
	call_leg_set_state(&c->legs[CALL_LEG_DEVICE], CALL_STATE_TRANSFERRING, 0);
	call_set_state(c, CALL_STATE_TRANSFERRING);
	call_arm_timeout(c);
	return 0;
}

static int transfer_start(struct call *c)
{
	const char *hdr = c->caps & SIPSVC_CAP_AUTO_ANSWER ? "Answer-Mode: Auto" : NULL;
	int r;

	if (c->caps & SIPSVC_CAP_DIALS) {
		call_leg_set_state(&c->legs[CALL_LEG_DEVICE], CALL_STATE_TRYING, 0);
		r = device_dial(c->dev, c->target, on_dialed, mem_ref(c));
		if (r < 0)
			mem_deref(c);
		return r;
	}
	if (c->caps & SIPSVC_CAP_REFER_NOSUB)
		return send_refer_nosub(c);
	r = call_leg_invite(&c->legs[CALL_LEG_DEVICE], c->contact, hdr, false,
			    "application/sdp", hold_sdp);
	if (r == 0)
		call_arm_timeout(c);
	return r;
}

static void on_refer_response(struct sip_tx *tx, int status, const struct osip_message *resp,
			      void *arg)
{
	struct call *c = arg;

	if (status < 200)
		return;
	if (!c->ended && status >= 300)
		refused(c, status);
	else if (!c->ended)
		c->subscribed = true;
	call_check_gone(c);
	mem_deref(c);
}

static int send_refer(struct call *c)
{
	struct call_leg *l = &c->legs[CALL_LEG_DEVICE];
	char hdr[2 * CALL_URI_MAX + 64];
	int r;

	/* RFC 3515 2.1: Refer-To names the target; RFC 3892: Referred-By names us. */
	snprintf(hdr, sizeof(hdr), "Refer-To: <%s>\r\nReferred-By: <%s>", c->target,
		 call_identity(c));
	r = sip_dialog_request_with(l->dlg, "REFER", hdr, NULL, NULL, on_refer_response,
				    mem_ref(c));
	if (r < 0)
		mem_deref(c);
	return r;
}

/* "SIP/2.0 200 OK" → 200; 0 if the body is not a status line (RFC 3420). */
static int sipfrag_status(const char *body)
{
	int status = 0;

	if (!body || sscanf(body, "SIP/2.0 %3d", &status) != 1 || status < 100 || status > 699)
		return 0;
	return status;
}

static void on_sipfrag(struct call *c, int status, bool terminated)
{
	struct call_leg *l = &c->legs[CALL_LEG_DEVICE];

	if (status >= 200 && status < 300) {
		call_leg_set_state(l, CALL_STATE_TRANSFERRED, 0);
		call_set_state(c, CALL_STATE_TRANSFERRED);
		call_finish(c, CALL_STATE_ENDED, "transferred", 0);
	} else if (status >= 300) {
		call_leg_set_state(l, CALL_STATE_FAILED, status);
		call_finish(c, CALL_STATE_FAILED, "target-failed", status);
	} else if (terminated) {
		/* RFC 3515 2.4.7: the subscription ended without a final status. */
		call_finish(c, CALL_STATE_FAILED, "transfer-outcome-unknown", 0);
	}
}

/* RFC 3515 2.4.4: each NOTIFY of the refer subscription carries a sipfrag. */
static void on_notify(struct call *c, struct sip_tx *tx)
{
	char *event = sip_tx_header(tx, "Event");
	char *state = sip_tx_header(tx, "Subscription-State");
	char *body = sip_tx_body(tx, NULL);
	bool refer = event && strncmp(event, "refer", 5) == 0;

	/* RFC 6665 4.1.3: a NOTIFY for a package we did not ask for is refused (489). */
	sip_tx_reply(tx, refer ? 200 : 489, NULL);
	if (refer)
		on_sipfrag(c, sipfrag_status(body),
			   state && strncmp(state, "terminated", 10) == 0);
	free(event);
	free(state);
	free(body);
}

static void transfer_dialog(struct call_leg *l, enum sip_dialog_event ev, int status,
			    struct sip_tx *tx)
{
	struct call *c = l->call;
	const char *m;

	switch (ev) {
	case SIP_DIALOG_PROGRESS:
		if (status > 100)
			call_leg_set_state(l, CALL_STATE_RINGING, 0);
		break;
	case SIP_DIALOG_ESTABLISHED:
		l->answered = true;
		call_leg_set_state(l, CALL_STATE_CONNECTED, 0);
		if (send_refer(c) < 0) {
			call_finish(c, CALL_STATE_FAILED, "internal", 0);
			break;
		}
		call_leg_set_state(l, CALL_STATE_TRANSFERRING, 0);
		call_set_state(c, CALL_STATE_TRANSFERRING);
		call_arm_timeout(c); /* bounds the wait for the final NOTIFY too */
		break;
	case SIP_DIALOG_FAILED:
		call_leg_failed(l, status, "device-failed");
		break;
	case SIP_DIALOG_TERMINATED:
		call_leg_bye(l, "device-bye");
		break;
	case SIP_DIALOG_REQUEST:
		m = sip_tx_method(tx);
		if (m && strcmp(m, "NOTIFY") == 0)
			on_notify(c, tx);
		else
			sip_tx_reply(tx, 501, NULL);
		break;
	default:
		break;
	}
}

const struct call_ops call_transfer_ops = {
	.start = transfer_start,
	.dialog = transfer_dialog,
};
