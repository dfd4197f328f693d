/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Listen (PROTOCOL.md "Tunnel"): inbound out-of-dialog requests of a method that no
 * feature claims go to the one connection listening to it, as a `tunnel` event with a
 * tx id; the client answers with <Tunnel><Response to=tx>. The SIP transaction waits
 * meanwhile (RFC 3261 17.2.2 absorbs the UAC's retransmissions). One listener per
 * method, so that exactly one client is responsible for the answer.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sip/sip.h"
#include "tunnel/tunnel-private.h"

/** An inbound request waiting for its listener's answer. */
struct inbound {
	struct tunnel *t;
	struct sip_tx *tx; /* our reference */
	uint64_t conn;
	char id[48];
	ev_timer timer;
	struct inbound *next, *prev;
};

static struct tunnel_listen *find_listen(struct tunnel *t, const char *method)
{
	for (size_t i = 0; i < t->n_listens; i++)
		if (strcmp(t->listens[i].method, method) == 0)
			return &t->listens[i];
	return NULL;
}

static void drop_inbound(struct inbound *in)
{
	struct tunnel *t = in->t;

	ev_timer_stop(t->loop, &in->timer);
	if (in->prev)
		in->prev->next = in->next;
	else
		t->inbound = in->next;
	if (in->next)
		in->next->prev = in->prev;
	mem_deref(in->tx);
	free(in);
}

/* The service's own final answer, when the listener gives none. */
static void answer(struct inbound *in, int status, const char *reason, const char *why)
{
	const char *m = sip_tx_method(in->tx);

	if (m)
		log_info("tunnel: %s %s answered %d: %s", m, in->id, status, why);
	(void)sip_tx_respond(in->tx, status, reason, NULL, NULL, NULL);
	drop_inbound(in);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct inbound *in = (struct inbound *)((char *)w - offsetof(struct inbound, timer));

	(void)loop;
	(void)revents;
	/* PROTOCOL.md "Tunnel": no answer within 5 s → 408 (RFC 3261 21.4.9). RFC 4320 4.2
	 * forbids a 408 to a non-INVITE request because it would come after the UAC's own
	 * timeout; this one comes at 5 s, well inside its Timer F (64*T1 = 32 s). */
	answer(in, 408, NULL, "the listening client did not answer in time");
}

static size_t waiting_on(const struct tunnel *t, uint64_t conn)
{
	size_t n = 0;

	for (const struct inbound *in = t->inbound; in; in = in->next)
		n += in->conn == conn;
	return n;
}

/* Unique (a counter) and unguessable (64 random bits), so that no other client can
 * answer for the listener even if it saw an earlier id. */
static void make_id(struct tunnel *t, char *buf, size_t size)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r ^= (uint64_t)(uintptr_t)buf * 0x9e3779b97f4a7c15ULL ^ (uint64_t)time(NULL);
	snprintf(buf, size, "x%" PRIx64 ".%016" PRIx64, ++t->next_tx, r);
}

static bool has_to_tag(const osip_message_t *req)
{
	osip_generic_param_t *tag = NULL;

	return req->to && osip_to_get_tag(req->to, &tag) == 0 && tag;
}

static struct inbound *new_inbound(struct tunnel *t, struct sip_tx *tx, uint64_t conn)
{
	struct inbound *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->t = t;
	in->tx = mem_ref(tx);
	in->conn = conn;
	make_id(t, in->id, sizeof(in->id));
	ev_timer_init(&in->timer, on_timeout, TUNNEL_ANSWER_SECS, 0.);
	ev_timer_start(t->loop, &in->timer);
	in->next = t->inbound;
	if (t->inbound)
		t->inbound->prev = in;
	t->inbound = in;
	return in;
}

static size_t body_size(const osip_message_t *req)
{
	size_t n = 0;

	for (int i = 0; i < osip_list_size(&req->bodies); i++) {
		const osip_body_t *b = osip_list_get(&req->bodies, i);

		n += b ? b->length : 0;
	}
	return n;
}

/* sip_request_h: after every feature has declined the request. */
static bool on_request(struct sip_tx *tx, void *arg)
{
	struct tunnel *t = arg;
	const osip_message_t *req = sip_tx_request(tx);
	struct tunnel_listen *l = req ? find_listen(t, req->sip_method) : NULL;
	struct inbound *in;
	xmlNodePtr ev;

	/* Out of dialog only: with a To tag the SIP layer answers 481 (RFC 3261 12.2.2). */
	if (!l || has_to_tag(req))
		return false;
	if (body_size(req) > TUNNEL_MAX_BODY) {
		/* RFC 3261 21.4.11: more than a listener takes (the same bound as its own). */
		(void)sip_tx_respond(tx, 413, NULL, NULL, NULL, NULL);
		return true;
	}
	if (waiting_on(t, l->o.conn) >= TUNNEL_MAX_INBOUND) {
		/* RFC 3261 21.5.4: overloaded for now; the client is behind on answers. */
		(void)sip_tx_respond(tx, 503, NULL, "Retry-After: 5", NULL, NULL);
		return true;
	}
	in = new_inbound(t, tx, l->o.conn);
	ev = in ? tunnel_request_event(&l->o, in->id, req) : NULL;
	if (!ev) {
		(void)sip_tx_respond(tx, 500, "Out Of Memory", NULL, NULL, NULL);
		if (in)
			drop_inbound(in);
		return true;
	}
	event_emit(EVENT_TUNNEL, &l->o, ev);
	return true;
}

int tunnel_listen(struct tunnel *t, struct ev_loop *loop, const struct origin *o,
		  const char *method, char *err, size_t errlen)
{
	struct tunnel_listen *l = find_listen(t, method);
	int r;

	if (l && l->o.conn == o->conn)
		return 0;
	if (l) {
		snprintf(err, errlen, "another connection listens to %s already (one listener "
			 "per method); it must Unlisten or disconnect first", method);
		return -EBUSY;
	}
	r = tunnel_check_listen(method, err, errlen);
	if (r < 0)
		return r;
	if (t->n_listens == TUNNEL_MAX_LISTENS) {
		snprintf(err, errlen, "%d methods are listened to already", TUNNEL_MAX_LISTENS);
		return -ENOSPC;
	}
	t->loop = loop;
	r = sip_claim(t->sip, method, SIP_CLAIM_LISTENER, on_request, t);
	if (r == -ENOSPC)
		snprintf(err, errlen, "the SIP stack's table of claimed methods is full");
	else if (r < 0)
		snprintf(err, errlen, "%s cannot be claimed: %s", method, strerror(-r));
	if (r < 0)
		return r;
	l = &t->listens[t->n_listens++];
	snprintf(l->method, sizeof(l->method), "%s", method);
	l->o = *o;
	log_info("tunnel: connection %" PRIu64 " listens to %s", o->conn, method);
	return 0;
}

static void remove_listen(struct tunnel *t, struct tunnel_listen *l)
{
	sip_unclaim(t->sip, l->method, on_request, t);
	log_info("tunnel: connection %" PRIu64 " no longer listens to %s", l->o.conn, l->method);
	*l = t->listens[--t->n_listens];
}

int tunnel_unlisten(struct tunnel *t, uint64_t conn, const char *method)
{
	struct tunnel_listen *l = find_listen(t, method);

	if (!l || l->o.conn != conn)
		return -ENOENT;
	/* Requests delivered already stay answerable until their 5 s are up. */
	remove_listen(t, l);
	return 0;
}

void tunnel_conn_gone(struct tunnel *t, uint64_t conn)
{
	struct inbound *in, *next;

	for (size_t i = t->n_listens; i-- > 0;)
		if (t->listens[i].o.conn == conn)
			remove_listen(t, &t->listens[i]);
	/* RFC 3261 21.4.18: the user's end system was reached but is not available now;
	 * a 408 would claim that time ran out, which it did not. */
	for (in = t->inbound; in; in = next) {
		next = in->next;
		if (in->conn == conn)
			answer(in, 480, NULL, "the listening client went away");
	}
}

void tunnel_listen_stop(struct tunnel *t)
{
	struct inbound *in, *next;

	while (t->n_listens)
		remove_listen(t, &t->listens[0]);
	/* RFC 3261 21.5.4: the service is shutting down. */
	for (in = t->inbound; in; in = next) {
		next = in->next;
		answer(in, 503, NULL, "the service is stopping");
	}
}

static struct inbound *find_inbound(struct tunnel *t, uint64_t conn, const char *id)
{
	for (struct inbound *in = t->inbound; in; in = in->next)
		if (in->conn == conn && strcmp(in->id, id) == 0)
			return in;
	return NULL;
}

int tunnel_respond(struct tunnel *t, uint64_t conn, const struct tunnel_response *rs,
		   char *err, size_t errlen)
{
	struct inbound *in = find_inbound(t, conn, rs->to);
	_cleanup_(freep) char *headers = NULL;
	int r;

	if (!in) {
		snprintf(err, errlen, "no request waits for an answer as tx=\"%s\" on this "
			 "connection: answered already, or answered 408 after %g s", rs->to,
			 TUNNEL_ANSWER_SECS);
		return -ENOENT;
	}
	r = tunnel_check_response(rs, err, errlen);
	if (r == 0 && (r = tunnel_header_lines(rs->headers, rs->n_headers, &headers)) < 0)
		snprintf(err, errlen, "out of memory");
	if (r < 0)
		return r;
	r = sip_tx_respond(in->tx, rs->status, rs->reason, headers, rs->body_type,
			   rs->body_type ? rs->body : NULL);
	if (r == -EINVAL)
		snprintf(err, errlen, "a header was refused by the SIP parser");
	else if (r == -ENOENT || r == -EALREADY)
		snprintf(err, errlen, "the SIP transaction of tx=\"%s\" has ended", rs->to);
	else if (r < 0)
		snprintf(err, errlen, "cannot send the response: %s", strerror(-r));
	if (r == -ENOENT || r == -EALREADY || r == 0)
		drop_inbound(in);
	return r == -EALREADY ? -ENOENT : r;
}
