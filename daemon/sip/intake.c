/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * From bytes to a transaction: parse, validate, stamp the top Via (RFC 3261 18.2.1,
 * RFC 3581), match our index (RFC 3261 17.2.3) or create a server transaction, answer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sip/sip-private.h"

static bool is_blank(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\r' && buf[i] != '\n' && buf[i] != ' ' && buf[i] != '\t' && buf[i])
			return false;
	return true;
}

/* Bytes after the empty line that ends the headers. */
static size_t body_length(const char *buf, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++)
		if (buf[i] == '\r' && memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return len - i - 4;
	return 0;
}

static void reply_stateless(struct sip *s, const struct sip_src *src, const osip_message_t *req,
			    int status, const char *reason, const char *name, const char *value)
{
	char tag[17];
	osip_message_t *r;

	sip_token(tag);
	r = sip_response_new(req, status, reason, tag);
	if (r && name && sip_response_add(r, name, value) < 0) {
		osip_message_free(r);
		r = NULL;
	}
	if (r)
		sip_send_stateless(s, src, r);
}

/* An ACK matches the INVITE transaction of a non-2xx answer; a 2xx ACK matches none. */
static void on_ack(struct sip *s, osip_event_t *evt)
{
	char *key = sip_txkey_server(evt->sip, "ACK");
	struct sip_tx *tx = key ? sip_txindex_find(&s->ix, key) : NULL;

	free(key);
	if (tx && sip_tx_event(tx, evt) == 0)
		return;
	if (tx)
		return; /* sip_tx_event freed it */
	/* RFC 3261 13.3.1.4: the ACK for a 2xx we resend from a dialog. */
	if (!sip_dialog_ack(s, evt->sip))
		s->stats.rx_stray++;
	osip_event_free(evt);
}

/* A request no transaction has seen: check limits and merges, then answer it. */
static void on_new_request(struct sip *s, const struct sip_src *src, osip_event_t *evt,
			   char *key)
{
	const osip_message_t *m = evt->sip;
	osip_generic_param_t *tag = NULL;
	struct sip_tx *tx;
	char *mkey = NULL;
	bool merged = false;

	if (s->n_tx >= SIP_MAX_TRANSACTIONS) {
		/* RFC 3261 21.5.4: overloaded; try again shortly. */
		s->stats.overload++;
		reply_stateless(s, src, m, 503, NULL, "Retry-After", "5");
		free(key);
		osip_event_free(evt);
		return;
	}
	/* RFC 3261 8.2.2.2: no To tag, and From tag, Call-ID and CSeq equal to a live
	 * transaction that this one does not match: the request forked and merged. */
	osip_to_get_tag(m->to, &tag);
	if (!tag && strcmp(m->sip_method, "CANCEL") != 0) {
		mkey = sip_txkey_merge(m);
		merged = mkey && sip_txindex_find_merge(&s->ix, mkey);
		if (merged) {
			free(mkey);
			mkey = NULL;
		}
	}
	if (sip_tx_new_server(s, evt, src, key, mkey, &tx) < 0)
		return;
	tx->merged = merged;
	if (strcmp(tx->req->sip_method, "CANCEL") == 0)
		sip_server_cancel(s, tx);
	else
		sip_server_request(s, tx);
}

static void on_request(struct sip *s, const struct sip_src *src, osip_event_t *evt,
		       size_t body_len)
{
	osip_message_t *m = evt->sip;
	const char *reason = NULL;
	struct sip_tx *tx;
	int status = 400;
	char *key;

	switch (sip_validate_request(m, body_len, &status, &reason)) {
	case SIP_VERDICT_DROP:
		s->stats.rx_dropped++;
		osip_event_free(evt);
		return;
	case SIP_VERDICT_REJECT:
		s->stats.rx_invalid++;
		osip_message_fix_last_via_header(m, src->ip, src->port);
		/* RFC 3261 17: an ACK is never answered. */
		if (strcmp(m->sip_method, "ACK") != 0)
			reply_stateless(s, src, m, status, reason, NULL, NULL);
		osip_event_free(evt);
		return;
	case SIP_VERDICT_OK:
		break;
	}
	/* RFC 3261 18.2.1 received, RFC 3581 rport: where the answer must go. */
	osip_message_fix_last_via_header(m, src->ip, src->port);
	if (strcmp(m->sip_method, "ACK") == 0) {
		on_ack(s, evt);
		return;
	}
	key = sip_txkey_server(m, m->sip_method);
	tx = key ? sip_txindex_find(&s->ix, key) : NULL;
	if (tx) {
		/* A retransmission: the transaction answers it again (RFC 3261 17.2.2). */
		s->stats.rx_retrans++;
		free(key);
		sip_tx_event(tx, evt);
		return;
	}
	if (key && strcmp(m->sip_method, "INVITE") == 0 && sip_dialog_absorb_invite(s, m, key)) {
		s->stats.rx_retrans++;
		free(key);
		osip_event_free(evt);
		return;
	}
	if (!key || sip_server_stateless(s, src, m, key)) {
		free(key);
		osip_event_free(evt);
		return;
	}
	on_new_request(s, src, evt, key);
}

static void on_response(struct sip *s, osip_event_t *evt)
{
	if (sip_validate_response(evt->sip) != SIP_VERDICT_OK) {
		s->stats.rx_dropped++;
		osip_event_free(evt);
		return;
	}
	sip_client_response(s, evt);
}

void sip_input(struct sip *s, bool is_tcp, int fd, const struct sockaddr *peer,
	       socklen_t peer_len, const char *buf, size_t len)
{
	struct sip_src src = { .is_tcp = is_tcp, .fd = fd, .peer_len = peer_len };
	osip_event_t *evt;

	/* RFC 5626 4.4.1: CRLF keep-alives on UDP are silently ignored. */
	if (len == 0 || is_blank(buf, len))
		return;
	if (peer_len > sizeof(src.peer))
		return;
	memcpy(&src.peer, peer, peer_len);
	sip_addr_split(peer, src.ip, sizeof(src.ip), &src.port);
	if (!sip_flood_admit(s, &src, buf, len))
		return;
	evt = osip_parse(buf, len);
	if (!evt || !evt->sip) {
		s->stats.rx_garbage++;
		if (evt)
			osip_event_free(evt);
		return;
	}
	s->stats.rx_messages++;
	if (MSG_IS_RESPONSE(evt->sip))
		on_response(s, evt);
	else
		on_request(s, &src, evt, body_length(buf, len));
}
