/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Our wrapper of libosip2 transactions: indexed by the RFC 3261 17.2.3 key, refcounted
 * so that a subsystem holding one survives its end, fed events that the pump runs.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip-private.h"

static void tx_destroy(void *data)
{
	struct sip_tx *tx = data;

	free(tx->key);
	free(tx->mkey);
}

int sip_tx_event(struct sip_tx *tx, osip_event_t *evt)
{
	struct sip *s = tx->sip;

	if (!tx->tr || tx->dead) {
		osip_event_free(evt);
		return -ENOENT;
	}
	/* osip_transaction_execute() must not run inside an osip callback, so the event
	 * waits in the transaction's FIFO until the pump drains the pending queue. */
	osip_transaction_add_event(tx->tr, evt);
	if (!tx->pending) {
		tx->pending = true;
		tx->pnext = NULL;
		if (s->pending_tail)
			s->pending_tail->pnext = tx;
		else
			s->pending_head = tx;
		s->pending_tail = tx;
	}
	return 0;
}

static struct sip_tx *tx_alloc(struct sip *s, const struct sip_src *src, char *key, char *mkey)
{
	struct sip_tx *tx = mem_zalloc(sizeof(*tx), tx_destroy);

	if (!tx) {
		free(key);
		free(mkey);
		return NULL;
	}
	tx->sip = s;
	tx->key = key;
	tx->mkey = mkey;
	tx->src = *src;
	sip_token(tx->tag);
	return tx;
}

int sip_tx_new_server(struct sip *s, osip_event_t *evt, const struct sip_src *src, char *key,
		      char *mkey, struct sip_tx **ret)
{
	osip_fsm_type_t type = strcmp(evt->sip->sip_method, "INVITE") == 0 ? IST : NIST;
	struct sip_tx *tx = tx_alloc(s, src, key, mkey);
	osip_transaction_t *tr = NULL;
	int r;

	r = tx ? sip_txindex_add(&s->ix, tx) : -ENOMEM;
	if (r == 0) {
		/* The shard follows the key's hash, so each shard's list stays short. */
		tx->osip = s->osip[(tx->hash >> 32) % SIP_SHARDS];
		r = osip_transaction_init(&tr, type, tx->osip, evt->sip) < 0 ? -ENOMEM : 0;
		if (r < 0)
			sip_txindex_remove(&s->ix, tx);
	}
	if (r < 0) {
		mem_deref(tx);
		osip_event_free(evt);
		return r;
	}
	osip_transaction_set_reserved1(tr, tx);
	osip_transaction_set_in_socket(tr, src->fd);
	osip_transaction_set_out_socket(tr, src->fd);
	tx->tr = tr;
	tx->req = evt->sip; /* becomes the transaction's orig_request */
	s->n_tx++;
	sip_tx_event(tx, evt);
	sip_pump_kick(s);
	*ret = tx;
	return 0;
}

int sip_tx_new_client(struct sip *s, osip_message_t *req, const struct sip_src *dst, char *key,
		      const char *host, int port, sip_response_h *h, void *arg,
		      struct sip_tx **ret)
{
	bool invite = strcmp(req->sip_method, "INVITE") == 0;
	struct sip_tx *tx = key ? tx_alloc(s, dst, key, NULL) : NULL;
	osip_transaction_t *tr = NULL;
	osip_event_t *evt;
	int r;

	r = tx ? sip_txindex_add(&s->ix, tx) : -ENOMEM;
	if (r == 0) {
		tx->osip = s->osip[(tx->hash >> 32) % SIP_SHARDS];
		r = osip_transaction_init(&tr, invite ? ICT : NICT, tx->osip, req) < 0 ? -ENOMEM
											: 0;
		if (r < 0)
			sip_txindex_remove(&s->ix, tx);
	}
	evt = r == 0 ? osip_new_outgoing_sipmessage(req) : NULL;
	if (!evt) {
		if (tr) {
			osip_remove_transaction(tx->osip, tr);
			osip_transaction_free2(tr);
		}
		mem_deref(tx);
		osip_message_free(req);
		return r < 0 ? r : -ENOMEM;
	}
	/* libosip2 took the destination from the request; set what we resolved. */
	if (invite) {
		osip_ict_set_destination(tr->ict_context, osip_strdup(host), port);
	} else {
		osip_nict_set_destination(tr->nict_context, osip_strdup(host), port);
		/* RFC 3261 17.1.2.2: Timer K (T4 = 5 s over UDP) only keeps the transaction
		 * to swallow retransmitted final responses. Without it they reach the core
		 * as strays (18.1.2), which counts and drops them: the same outcome, without
		 * holding a 15 KiB osip_transaction_t for 5 s per request we sent (a BYE per
		 * call leg: 40 MB at 800 calls/s). */
		tr->nict_context->timer_k_length = 0;
	}
	osip_transaction_set_reserved1(tr, tx);
	osip_transaction_set_out_socket(tr, -1);
	tx->tr = tr;
	tx->req = req;
	tx->client = true;
	tx->resp_h = h;
	tx->resp_arg = arg;
	s->n_tx++;
	sip_tx_event(tx, evt);
	sip_pump_kick(s);
	if (ret)
		*ret = tx;
	return 0;
}

int sip_tx_send(struct sip_tx *tx, osip_message_t *resp)
{
	osip_event_t *evt;

	if (!tx->tr || tx->dead) {
		osip_message_free(resp);
		return -ENOENT;
	}
	if (tx->final_sent) {
		osip_message_free(resp);
		return -EALREADY;
	}
	evt = osip_new_outgoing_sipmessage(resp);
	if (!evt) {
		osip_message_free(resp);
		return -ENOMEM;
	}
	if (resp->status_code >= 200)
		tx->final_sent = true;
	return sip_tx_event(tx, evt);
}

int sip_tx_reply(struct sip_tx *tx, int status, const char *reason)
{
	osip_message_t *resp;

	if (!tx->tr || tx->dead)
		return -ENOENT;
	if (tx->final_sent)
		return -EALREADY;
	resp = sip_response_new(tx->req, status, reason, tx->tag);
	return resp ? sip_tx_send(tx, resp) : -ENOMEM;
}

int sip_tx_respond(struct sip_tx *tx, int status, const char *reason, const char *headers,
		   const char *ctype, const char *body)
{
	osip_message_t *resp;
	int r;

	if (!tx->tr || tx->dead)
		return -ENOENT;
	if (tx->final_sent)
		return -EALREADY;
	resp = sip_response_new(tx->req, status, reason, tx->tag);
	if (!resp)
		return -ENOMEM;
	r = sip_message_add_headers(resp, headers);
	if (r == 0 && ctype) {
		osip_content_length_free(resp->content_length);
		resp->content_length = NULL;
		r = sip_message_set_body(resp, ctype, body ? body : "");
	}
	if (r < 0) {
		osip_message_free(resp);
		return r;
	}
	return sip_tx_send(tx, resp);
}

int sip_tx_source(const struct sip_tx *tx, char *buf, size_t size)
{
	bool v6 = strchr(tx->src.ip, ':') != NULL;
	int n = snprintf(buf, size, "%s:%s%s%s:%d", tx->src.is_tcp ? "tcp" : "udp",
			 v6 ? "[" : "", tx->src.ip, v6 ? "]" : "", tx->src.port);

	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

void sip_tx_on_cancel(struct sip_tx *tx, sip_cancel_h *h, void *arg)
{
	tx->cancel_h = h;
	tx->cancel_arg = arg;
}

const char *sip_tx_method(const struct sip_tx *tx)
{
	return tx->tr && !tx->dead ? tx->req->sip_method : NULL;
}

const struct osip_message *sip_tx_request(const struct sip_tx *tx)
{
	return tx->tr && !tx->dead ? tx->req : NULL;
}

char *sip_message_body(const struct osip_message *m, char **ret_ctype)
{
	const osip_body_t *b = m ? osip_list_get(&m->bodies, 0) : NULL;
	char *ct = NULL, *body;

	if (!b || !b->body)
		return NULL;
	body = strndup(b->body, b->length);
	if (body && ret_ctype) {
		*ret_ctype = NULL;
		if (m->content_type && osip_content_type_to_str(m->content_type, &ct) == 0) {
			*ret_ctype = strdup(ct);
			osip_free(ct);
		}
	}
	return body;
}

char *sip_tx_body(const struct sip_tx *tx, char **ret_ctype)
{
	if (!tx->tr || tx->dead)
		return NULL;
	return sip_message_body(tx->req, ret_ctype);
}

char *sip_tx_header(const struct sip_tx *tx, const char *name)
{
	osip_header_t *h = NULL;

	if (!tx->tr || tx->dead ||
	    osip_message_header_get_byname(tx->req, name, 0, &h) < 0 || !h || !h->hvalue)
		return NULL;
	return strdup(h->hvalue);
}

char *sip_tx_party(const struct sip_tx *tx, bool to)
{
	const osip_from_t *f;
	char *uri = NULL, *r;

	if (!tx->tr || tx->dead)
		return NULL;
	f = to ? tx->req->to : tx->req->from;
	if (!f || !f->url || osip_uri_to_str(f->url, &uri) < 0)
		return NULL;
	r = strdup(uri);
	osip_free(uri);
	return r;
}
