/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Legs: the dialogs a call holds, their events handed to the call's mode, and the
 * ways a leg ends (RFC 3261 9.1 CANCEL before the final response, 13.2.2.4 ACK of a
 * 2xx even when the call is already over, 15.1.1 BYE after it).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call/call-private.h"

void call_leg_settle(struct call_leg *l)
{
	l->settled = true;
}

/* A leg of a call that is already over: only its clean-up matters. */
void call_leg_cleanup_event(struct call_leg *l, enum sip_dialog_event ev, struct sip_tx *tx)
{
	switch (ev) {
	case SIP_DIALOG_ESTABLISHED:
		/* A 2xx that crossed our CANCEL (RFC 3261 9.1): ACK it, then BYE. */
		l->answered = true;
		call_leg_end(l);
		break;
	case SIP_DIALOG_FAILED:
	case SIP_DIALOG_TERMINATED:
		call_leg_settle(l);
		break;
	case SIP_DIALOG_REQUEST:
		sip_tx_reply(tx, 481, NULL);
		break;
	default:
		break;
	}
}

static void on_dialog(struct sip_dialog *d, enum sip_dialog_event ev, int status,
		      struct sip_tx *tx, void *arg)
{
	struct call_leg *l = arg;
	struct call *c = mem_ref(l->call);

	if (c->ended)
		call_leg_cleanup_event(l, ev, tx);
	else
		c->ops->dialog(l, ev, status, tx);
	call_check_gone(c);
	mem_deref(c);
}

int call_leg_invite(struct call_leg *l, const char *uri, const char *headers, bool defer_ack,
		    const char *ctype, const char *body)
{
	struct call *c = l->call;
	int r;

	free(l->uri);
	l->uri = strdup(uri);
	if (!l->uri)
		return -ENOMEM;
	r = sip_dialog_invite_with(c->mgr->sip, call_identity(c), uri, headers, defer_ack, ctype,
				   body, false, on_dialog, l, &l->dlg);
	if (r < 0) {
		log_warn("call c%u: cannot INVITE %s: %s", c->id, uri, strerror(-r));
		return r;
	}
	call_leg_set_state(l, CALL_STATE_TRYING, 0);
	return 0;
}

/* The ACK a deferred 2xx still waits for, with every stream refused (RFC 3264 6). */
static void ack_refusing(struct call_leg *l)
{
	const char *ct = NULL;
	const char *offer = sip_dialog_remote_body(l->dlg, &ct);
	char *answer = offer ? call_sdp_refuse(offer) : NULL;

	sip_dialog_send_ack(l->dlg, answer ? ct : NULL, answer);
	free(answer);
}

int call_leg_accept(struct call_leg *l, const char *ctype, const char *body)
{
	int r;

	if (!l->tx)
		return -ENOENT;
	r = sip_dialog_accept(l->tx, ctype, body, on_dialog, l, &l->dlg);
	call_leg_drop_tx(l);
	if (r == 0)
		l->answered = true;
	return r;
}

void call_leg_end(struct call_leg *l)
{
	if (l->tx) {
		/* RFC 3261 21.4.18: the callee cannot be reached now (the device did not take
		 * the call); -EALREADY when the caller CANCELled and got its 487. */
		sip_tx_reply(l->tx, 480, NULL);
		call_leg_drop_tx(l);
	}
	if (!l->dlg || l->settled)
		return;
	if (!l->answered) {
		if (sip_dialog_cancel(l->dlg) < 0)
			call_leg_settle(l);
		return;
	}
	ack_refusing(l); /* -EALREADY unless the ACK was deferred and not sent yet */
	if (sip_dialog_bye(l->dlg) < 0)
		call_leg_settle(l);
}

void call_leg_rebind(struct call_leg *l)
{
	if (l->dlg)
		sip_dialog_set_handler(l->dlg, on_dialog, l);
}

void call_leg_drop_tx(struct call_leg *l)
{
	if (l->tx)
		sip_tx_on_cancel(l->tx, NULL, NULL);
	l->tx = mem_deref(l->tx);
}

void call_leg_drop(struct call_leg *l)
{
	call_leg_drop_tx(l);
	if (!l->dlg)
		return;
	sip_dialog_set_handler(l->dlg, NULL, NULL);
	l->dlg = mem_deref(l->dlg);
	l->settled = true;
}

/* Replace the port of every m= line with 0: "m=audio 49170 RTP/AVP 0" → "m=audio 0
 * RTP/AVP 0". The rest of the offer stays as it is. */
char *call_sdp_refuse(const char *offer)
{
	size_t n = strlen(offer);
	char *out = malloc(n + 1), *o = out;
	const char *p = offer;

	if (!out)
		return NULL;
	while (*p) {
		const char *eol = p + strcspn(p, "\n");
		const char *sp = strncmp(p, "m=", 2) == 0 ? memchr(p, ' ', (size_t)(eol - p)) : NULL;
		size_t digits = sp ? strspn(sp + 1, "0123456789") : 0;

		/* Only a port of at least one digit is replaced: the answer is never longer. */
		if (digits > 0) {
			size_t media = (size_t)(sp - p) + 1;

			memcpy(o, p, media);
			o += media;
			*o++ = '0';
			p = sp + 1 + digits;
		}
		eol = p + strcspn(p, "\n");
		eol += *eol == '\n';
		memcpy(o, p, (size_t)(eol - p));
		o += eol - p;
		p = eol;
	}
	*o = '\0';
	return out;
}

void call_leg_failed(struct call_leg *l, int status, const char *reason)
{
	call_leg_settle(l);
	call_leg_set_state(l, CALL_STATE_FAILED, status);
	call_finish(l->call, CALL_STATE_FAILED, reason, status);
}

void call_leg_bye(struct call_leg *l, const char *reason)
{
	call_leg_settle(l);
	call_leg_set_state(l, CALL_STATE_ENDED, 0);
	call_finish(l->call, CALL_STATE_ENDED, reason, 0);
}
