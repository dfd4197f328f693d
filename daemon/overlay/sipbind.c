/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The overlay over SIP (the binding overlay.h describes): a neighbour link is one
 * "sipsvc-peers" subscription dialog, a query one short "sipsvc-query;id=QID"
 * subscription whose NOTIFYs carry the hits back (RFC 6665 throughout; the dialogs are
 * sip/subscription.c's). Bodies are parsed and checked here; what overlay_recv_*()
 * returns becomes the status of the answer.
 *
 * A message the overlay sends while it handles a received one (the NOTIFY answering
 * a SUBSCRIBE, the hit answering a query) waits in a small stash until the request
 * that caused it is answered: the 200 comes first, then the NOTIFY, in the dialog the
 * 200 made.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "overlay/overlay.h"
#include "sip/sip.h"

#define PEERS_EVENT	 "sipsvc-peers"
#define QUERY_EVENT	 "sipsvc-query"
#define LINKS_MAX	 (2 * OVERLAY_NEIGHBOURS_MAX + 16) /* both sides, and stragglers */
#define QUERIES_OUT_MAX	 512 /* query dialogs we subscribed (forwarded queries) */
#define QUERIES_IN_MAX	 512 /* query dialogs we notify (queries we took) */
#define STASH_MAX	 4
#define HOLDERS_MAX	 128 /* recent hit holders, for overlay_sip_peer_find() */
#define RETRY_AFTER	 "Retry-After: 1"

/* One subscription dialog of ours: a link (peers) or a query. */
struct bsub {
	struct bsub *next, *prev;
	struct overlay_sip *b;
	struct sip_sub *sub;
	struct overlay_peer peer; /* the other end */
	struct overlay_id qid;	  /* queries */
	bool notifier;		  /* we NOTIFY, they SUBSCRIBEd */
	bool query;
};

struct stash_item {
	char *body;
	const char *state; /* NULL: active; else a terminated state */
	overlay_send_done_h *done;
	void *arg;
};

/* Messages for the dialog being answered (see above). */
struct stash {
	bool active, query;
	struct overlay_peer peer;
	struct overlay_id qid;
	size_t n;
	struct stash_item it[STASH_MAX];
};

struct overlay_sip {
	struct sip *sip;
	struct overlay *ov;
	struct overlay_ev_clock clk;
	char uri[OVERLAY_ID_HEX_LEN + OVERLAY_CONTACT_MAX + 8]; /* sip:ID@CONTACT */
	unsigned refresh_s, route_ttl_s;
	struct bsub *subs;
	unsigned n_links, n_qout, n_qin;
	struct stash stash;
	struct overlay_peer holders[HOLDERS_MAX];
	unsigned holders_next;
	overlay_neighbour_h *nh;
	void *nh_arg;
};

/* ---- helpers --------------------------------------------------------------------------- */

static bool peer_same(const struct overlay_peer *a, const struct overlay_peer *b)
{
	if (!overlay_id_is_zero(&a->id) && !overlay_id_is_zero(&b->id))
		return overlay_id_cmp(&a->id, &b->id) == 0;
	return strcmp(a->contact, b->contact) == 0;
}

static void peer_uri(const struct overlay_peer *p, char *buf, size_t size)
{
	char hex[OVERLAY_ID_HEX_LEN + 1];

	if (overlay_id_is_zero(&p->id)) {
		snprintf(buf, size, "sip:%s", p->contact);
		return;
	}
	overlay_id_to_hex(&p->id, hex);
	snprintf(buf, size, "sip:%s@%s", hex, p->contact);
}

/* The *_to_xml() buffers are counted, not terminated: SIP bodies here are strings. */
static int body_str(int r, char **body, size_t len)
{
	char *t;

	if (r < 0)
		return r;
	t = realloc(*body, len + 1);
	if (!t)
		return -ENOMEM;
	t[len] = '\0';
	*body = t;
	return 0;
}

/* The overlay's errno from a SIP final status (overlay.h, overlay_send_done_h). */
static int status_errno(int status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 0: return -ECANCELED;
	case 481: return -ENOENT;
	case 408: return -ETIMEDOUT;
	case 503: return -ECONNREFUSED;
	default: return -EPROTO;
	}
}

/* overlay.h: what overlay_recv_*() returns becomes the answer. */
static void respond_errno(struct sip_tx *tx, int r)
{
	if (r < 0 && r != -EHOSTUNREACH)
		log_debug("overlay: %s refused: %s", sip_tx_method(tx), strerror(-r));
	switch (r) {
	case 0:
	case -EHOSTUNREACH: /* the holder did its part */
		sip_tx_respond(tx, 200, NULL, NULL, NULL, NULL);
		break;
	case -EINVAL: sip_tx_respond(tx, 400, NULL, NULL, NULL, NULL); break;
	case -EMSGSIZE: sip_tx_respond(tx, 413, NULL, NULL, NULL, NULL); break;
	case -EPERM: sip_tx_respond(tx, 403, "Not A Neighbour", NULL, NULL, NULL); break;
	case -EALREADY: sip_tx_respond(tx, 482, NULL, NULL, NULL, NULL); break;
	case -EBUSY:
	case -ENOBUFS: sip_tx_respond(tx, 503, NULL, RETRY_AFTER, NULL, NULL); break;
	case -ENOENT: sip_tx_respond(tx, 481, NULL, NULL, NULL, NULL); break;
	default: sip_tx_respond(tx, 500, NULL, NULL, NULL, NULL); break;
	}
}

/* The body of @p tx if it has media type @p ctype: -ENODATA without one, -EINVAL for
 * another type, -EMSGSIZE over OVERLAY_BODY_MAX. */
static int body_take(struct sip_tx *tx, const char *ctype, char **ret)
{
	_cleanup_(freep) char *type = NULL;
	char *body = sip_tx_body(tx, &type);

	if (!body)
		return -ENODATA;
	if (!type || strncasecmp(type, ctype, strlen(ctype)) != 0) {
		free(body);
		return -EINVAL;
	}
	if (strlen(body) > OVERLAY_BODY_MAX) {
		free(body);
		return -EMSGSIZE;
	}
	*ret = body;
	return 0;
}

/* The sender as its From URI names it: sip:ID@host:port, the id required. */
static int sender_of(struct sip_tx *tx, struct overlay_peer *ret)
{
	_cleanup_(freep) char *from = sip_tx_party(tx, false);

	if (!from || overlay_peer_from_uri(from, ret) < 0 || overlay_id_is_zero(&ret->id))
		return -EPERM;
	return 0;
}

/* ---- the dialogs we keep ---------------------------------------------------------------- */

static struct bsub *bsub_new(struct overlay_sip *b, const struct overlay_peer *p, bool query,
			     bool notifier)
{
	struct bsub *e;
	unsigned *n = !query ? &b->n_links : notifier ? &b->n_qin : &b->n_qout;
	unsigned max = !query ? LINKS_MAX : notifier ? QUERIES_IN_MAX : QUERIES_OUT_MAX;

	if (*n >= max)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	*e = (struct bsub){ .b = b, .peer = *p, .notifier = notifier, .query = query,
			    .next = b->subs };
	if (b->subs)
		b->subs->prev = e;
	b->subs = e;
	(*n)++;
	return e;
}

static void bsub_free(struct bsub *e)
{
	struct overlay_sip *b = e->b;

	if (e->prev)
		e->prev->next = e->next;
	else
		b->subs = e->next;
	if (e->next)
		e->next->prev = e->prev;
	if (!e->query)
		b->n_links--;
	else if (e->notifier)
		b->n_qin--;
	else
		b->n_qout--;
	sip_sub_free(e->sub);
	free(e);
}

static struct bsub *link_find(struct overlay_sip *b, const struct overlay_peer *p, bool notifier)
{
	for (struct bsub *e = b->subs; e; e = e->next)
		if (!e->query && e->notifier == notifier && peer_same(&e->peer, p) &&
		    sip_sub_alive(e->sub))
			return e;
	return NULL;
}

/* A new dialog from a peer replaces the old ones it had with us (a restart, say). */
static void link_drop_others(struct overlay_sip *b, const struct overlay_peer *p,
			     const struct bsub *keep)
{
	struct bsub *next;

	for (struct bsub *e = b->subs; e; e = next) {
		next = e->next; /* freeing e calls no one who touches the list */
		if (e != keep && !e->query && e->notifier && peer_same(&e->peer, p))
			bsub_free(e);
	}
}

static struct bsub *query_find_in(struct overlay_sip *b, const struct overlay_id *qid,
				  const struct overlay_peer *to)
{
	for (struct bsub *e = b->subs; e; e = e->next)
		if (e->query && e->notifier && overlay_id_cmp(&e->qid, qid) == 0 &&
		    peer_same(&e->peer, to) && sip_sub_alive(e->sub))
			return e;
	return NULL;
}

/* ---- sending ---------------------------------------------------------------------------- */

struct bdone {
	overlay_send_done_h *done;
	void *arg;
};

/* Needs nothing of the binding: it may come after the binding is gone. */
static void on_done(struct sip_sub *sub, int status, void *arg)
{
	struct bdone *d = arg;

	if (status >= 300 || status == 0)
		log_debug("overlay: %s: our request failed: %d", sip_sub_event(sub), status);
	if (d->done)
		d->done(status_errno(status), d->arg);
	free(d);
}

static struct bdone *bdone_new(overlay_send_done_h *done, void *arg)
{
	struct bdone *d = malloc(sizeof(*d));

	if (d)
		*d = (struct bdone){ .done = done, .arg = arg };
	return d;
}

static int notify(struct bsub *e, const char *state, const char *ctype, const char *body,
		  overlay_send_done_h *done, void *arg)
{
	struct bdone *d = bdone_new(done, arg);
	int r = d ? sip_sub_notify(e->sub, state, ctype, body, on_done, d) : -ENOMEM;

	if (r < 0)
		free(d);
	return r;
}

static int stash_add(struct stash *st, const char *body, const char *state,
		     overlay_send_done_h *done, void *arg)
{
	char *copy;

	if (st->n >= STASH_MAX)
		return -ENOBUFS;
	copy = strdup(body);
	if (!copy)
		return -ENOMEM;
	st->it[st->n++] = (struct stash_item){ .body = copy, .state = state, .done = done,
					       .arg = arg };
	return 0;
}

static void stash_begin(struct overlay_sip *b, const struct overlay_peer *p,
			const struct overlay_id *qid)
{
	b->stash = (struct stash){ .active = true, .query = qid != NULL, .peer = *p };
	if (qid)
		b->stash.qid = *qid;
}

/* Send what waited (in @p e, the dialog just answered) or, with NULL, drop it. */
static void stash_end(struct overlay_sip *b, struct bsub *e)
{
	struct stash st = b->stash;
	const char *ctype = st.query ? OVERLAY_QUERY_MEDIA_TYPE : OVERLAY_PEERS_MEDIA_TYPE;

	b->stash.active = false;
	b->stash.n = 0;
	for (size_t i = 0; i < st.n; i++) {
		int r = e ? notify(e, st.it[i].state, ctype, st.it[i].body, st.it[i].done,
				   st.it[i].arg)
			  : -ECANCELED;

		if (r < 0 && st.it[i].done)
			st.it[i].done(r, st.it[i].arg);
		free(st.it[i].body);
	}
}

static void link_h(struct sip_sub *sub, enum sip_sub_event ev, int status, struct sip_tx *tx,
		   void *arg);

static int subscribe_peers(struct overlay_sip *b, const struct overlay_peer *to,
			   const struct overlay_peers *m, const char *body,
			   overlay_send_done_h *done, void *arg)
{
	struct bsub *e = link_find(b, to, false);
	struct bdone *d = bdone_new(done, arg);
	unsigned expires = m->kind == OVERLAY_PEERS_LEAVE ? 0 : 2 * m->expires_s;
	char uri[OVERLAY_ID_HEX_LEN + OVERLAY_CONTACT_MAX + 8];
	int r;

	if (!d)
		return -ENOMEM;
	if (e) {
		/* RFC 6665 4.1.2.1: a refresh in the dialog; the list rides along */
		r = sip_sub_refresh(e->sub, expires, OVERLAY_PEERS_MEDIA_TYPE, body, on_done, d);
	} else if (expires == 0) {
		r = -ENOTCONN;
	} else if (!(e = bsub_new(b, to, false, false))) {
		r = -ENOBUFS;
	} else {
		peer_uri(to, uri, sizeof(uri));
		r = sip_sub_subscribe(b->sip, b->uri, uri, PEERS_EVENT, expires,
				      OVERLAY_PEERS_MEDIA_TYPE, body, link_h, e, on_done, d,
				      &e->sub);
		if (r < 0)
			bsub_free(e);
	}
	if (r < 0)
		free(d);
	return r;
}

/* A refusal or a goodbye from the notifier side ends that dialog (RFC 6665 4.2.2). */
static const char *notify_state(enum overlay_peers_kind k)
{
	switch (k) {
	case OVERLAY_PEERS_REJECT: return "terminated;reason=rejected";
	case OVERLAY_PEERS_LEAVE: return "terminated;reason=deactivated";
	default: return NULL;
	}
}

static int peers_body_send(struct overlay_sip *b, const struct overlay_peer *to,
			   const struct overlay_peers *m, const char *body,
			   overlay_send_done_h *done, void *arg)
{
	struct bsub *e;

	if (m->kind != OVERLAY_PEERS_SUBSCRIBE && b->stash.active && !b->stash.query &&
	    peer_same(&b->stash.peer, to))
		return stash_add(&b->stash, body, notify_state(m->kind), done, arg);
	if (m->kind == OVERLAY_PEERS_SUBSCRIBE)
		return subscribe_peers(b, to, m, body, done, arg);
	if (m->kind == OVERLAY_PEERS_LEAVE && link_find(b, to, false)) {
		e = link_find(b, to, true);
		if (e) /* both dialogs: each side hears it once */
			(void)notify(e, notify_state(m->kind), OVERLAY_PEERS_MEDIA_TYPE, body,
				     NULL, NULL);
		return subscribe_peers(b, to, m, body, done, arg);
	}
	e = link_find(b, to, true);
	if (!e)
		return -ENOTCONN;
	return notify(e, notify_state(m->kind), OVERLAY_PEERS_MEDIA_TYPE, body, done, arg);
}

static int send_peers(void *ctx, const struct overlay_peer *to, const struct overlay_peers *m,
		      overlay_send_done_h *done, void *arg)
{
	char *body = NULL;
	size_t len;
	int r = overlay_peers_to_xml(m, &body, &len);

	r = body_str(r, &body, len);
	if (r == 0)
		r = peers_body_send(ctx, to, m, body, done, arg);
	free(body);
	return r;
}

static void query_h(struct sip_sub *sub, enum sip_sub_event ev, int status, struct sip_tx *tx,
		    void *arg);

static int query_body_send(struct overlay_sip *b, const struct overlay_peer *to,
			   const struct overlay_query *q, const char *body,
			   overlay_send_done_h *done, void *arg)
{
	char uri[OVERLAY_ID_HEX_LEN + OVERLAY_CONTACT_MAX + 8], hex[OVERLAY_ID_HEX_LEN + 1];
	char event[sizeof(QUERY_EVENT) + OVERLAY_ID_HEX_LEN + 8];
	struct bdone *d;
	struct bsub *e;
	int r;

	e = bsub_new(b, to, true, false);
	d = bdone_new(done, arg);
	if (!e || !d) {
		if (e)
			bsub_free(e);
		free(d);
		return -ENOBUFS;
	}
	e->qid = q->qid;
	overlay_id_to_hex(&q->qid, hex);
	/* RFC 6665 7.2.3: the id parameter tells this query's dialog from the others */
	snprintf(event, sizeof(event), "%s;id=%s", QUERY_EVENT, hex);
	peer_uri(to, uri, sizeof(uri));
	r = sip_sub_subscribe(b->sip, b->uri, uri, event, q->expires_s ? q->expires_s : 1,
			      OVERLAY_QUERY_MEDIA_TYPE, body, query_h, e, on_done, d, &e->sub);
	if (r < 0) {
		bsub_free(e);
		free(d);
	}
	return r;
}

static int send_query(void *ctx, const struct overlay_peer *to, const struct overlay_query *q,
		      overlay_send_done_h *done, void *arg)
{
	char *body = NULL;
	size_t len;
	int r = overlay_query_to_xml(q, &body, &len);

	r = body_str(r, &body, len);
	if (r == 0)
		r = query_body_send(ctx, to, q, body, done, arg);
	free(body);
	return r;
}

static int send_hit(void *ctx, const struct overlay_peer *to, const struct overlay_hit *h,
		    overlay_send_done_h *done, void *arg)
{
	struct overlay_sip *b = ctx;
	char *body = NULL;
	struct bsub *e;
	size_t len;
	int r = overlay_hit_to_xml(h, &body, &len);

	r = body_str(r, &body, len);
	if (r < 0)
		return r;
	if (b->stash.active && b->stash.query && overlay_id_cmp(&b->stash.qid, &h->qid) == 0 &&
	    peer_same(&b->stash.peer, to)) {
		r = stash_add(&b->stash, body, NULL, done, arg);
	} else {
		e = query_find_in(b, &h->qid, to);
		r = e ? notify(e, NULL, OVERLAY_QUERY_MEDIA_TYPE, body, done, arg) : -ENOENT;
	}
	free(body);
	return r;
}

/* ---- receiving: peer lists -------------------------------------------------------------- */

/* Parse a peer-list body; the From URI, if it names a node, must name the same one. */
static int peers_read(struct sip_tx *tx, struct overlay_peers *m)
{
	_cleanup_(freep) char *body = NULL, *from = NULL;
	struct overlay_peer fp;
	int r = body_take(tx, OVERLAY_PEERS_MEDIA_TYPE, &body);

	if (r < 0)
		return r == -ENODATA ? -EINVAL : r;
	r = overlay_peers_from_xml(body, strlen(body), m);
	if (r < 0)
		return r;
	from = sip_tx_party(tx, false);
	if (from && overlay_peer_from_uri(from, &fp) == 0 && !overlay_id_is_zero(&fp.id) &&
	    overlay_id_cmp(&fp.id, &m->from.id) != 0)
		return -EPERM;
	return 0;
}

static bool peers_new(struct sip_tx *tx, const char *id, void *arg)
{
	struct overlay_sip *b = arg;
	struct overlay_peers m;
	struct bsub *e = NULL;
	int r = peers_read(tx, &m);

	if (r == 0 && m.kind != OVERLAY_PEERS_SUBSCRIBE)
		r = -EINVAL;
	if (r < 0) {
		respond_errno(tx, r);
		return true;
	}
	stash_begin(b, &m.from, NULL);
	r = overlay_recv_peers(b->ov, &m);
	if (r == 0) {
		e = bsub_new(b, &m.from, false, true);
		if (!e || sip_sub_accept(tx, 2 * b->refresh_s, link_h, e, &e->sub) < 0)
			r = -EBUSY;
	}
	if (r != 0 || !e) {
		if (e)
			bsub_free(e);
		stash_end(b, NULL);
		respond_errno(tx, r);
		return true;
	}
	link_drop_others(b, &m.from, e);
	stash_end(b, e);
	return true;
}

/* A request in a link's dialog: a refresh (we notify) or a NOTIFY (we subscribed). */
static void link_request(struct bsub *e, struct sip_tx *tx)
{
	struct overlay_sip *b = e->b;
	struct overlay_peers m;
	int r = peers_read(tx, &m);

	if (r == -ENODATA) /* a bodiless NOTIFY (the final one of a lapsed dialog) */
		return;
	if (r == 0 && !overlay_id_is_zero(&e->peer.id) &&
	    overlay_id_cmp(&e->peer.id, &m.from.id) != 0)
		r = -EPERM;
	if (r == 0 && e->notifier && m.kind != OVERLAY_PEERS_SUBSCRIBE &&
	    m.kind != OVERLAY_PEERS_LEAVE)
		r = -EINVAL;
	if (r == 0 && !e->notifier && m.kind == OVERLAY_PEERS_SUBSCRIBE)
		r = -EINVAL;
	if (r < 0) {
		respond_errno(tx, r);
		return;
	}
	e->peer = m.from; /* a bootstrap peer's id becomes known here */
	stash_begin(b, &m.from, NULL);
	r = overlay_recv_peers(b->ov, &m);
	if (r < 0) {
		stash_end(b, NULL);
		respond_errno(tx, r);
		return;
	}
	if (e->notifier)
		sip_sub_answer(e->sub, tx, 200);
	else
		sip_tx_respond(tx, 200, NULL, NULL, NULL, NULL);
	stash_end(b, sip_sub_alive(e->sub) ? e : NULL);
}

static void link_h(struct sip_sub *sub, enum sip_sub_event ev, int status, struct sip_tx *tx,
		   void *arg)
{
	struct bsub *e = arg;

	if (ev == SIP_SUB_REQUEST)
		link_request(e, tx);
	else if (ev == SIP_SUB_TERMINATED)
		bsub_free(e); /* the overlay hears of it from its send results or silence */
}

/* ---- receiving: queries and hits ------------------------------------------------------ */

static int query_read(struct overlay_sip *b, struct sip_tx *tx, const char *id,
		      struct overlay_query *q)
{
	_cleanup_(freep) char *body = NULL, *expires = NULL;
	char hex[OVERLAY_ID_HEX_LEN + 1];
	unsigned long ex;
	int r = body_take(tx, OVERLAY_QUERY_MEDIA_TYPE, &body);

	if (r < 0)
		return r == -ENODATA ? -EINVAL : r;
	r = overlay_query_from_xml(body, strlen(body), q);
	if (r < 0)
		return r;
	overlay_id_to_hex(&q->qid, hex);
	if (!id || strcasecmp(id, hex) != 0)
		return -EINVAL; /* the Event id names the query in the body */
	expires = sip_tx_header(tx, "Expires");
	ex = expires ? strtoul(expires, NULL, 10) : b->route_ttl_s;
	q->expires_s = (uint32_t)(ex > b->route_ttl_s ? b->route_ttl_s : ex);
	return q->expires_s ? 0 : -EINVAL;
}

static bool query_new(struct sip_tx *tx, const char *id, void *arg)
{
	struct overlay_sip *b = arg;
	struct overlay_query q;
	struct overlay_peer from;
	struct bsub *e = NULL;
	int r = sender_of(tx, &from);

	if (r == 0)
		r = query_read(b, tx, id, &q);
	if (r == 0 && b->n_qin >= QUERIES_IN_MAX)
		r = -EBUSY; /* before the overlay marks the id seen */
	if (r < 0) {
		respond_errno(tx, r);
		return true;
	}
	stash_begin(b, &from, &q.qid);
	r = overlay_recv_query(b->ov, &from, &q);
	log_debug("overlay: query %s ttl %u from %s: %d", id, q.ttl, from.contact, r);
	if (r == 0) {
		e = bsub_new(b, &from, true, true);
		if (e)
			e->qid = q.qid;
		if (!e || sip_sub_accept(tx, q.expires_s, query_h, e, &e->sub) < 0)
			r = -EBUSY;
	}
	if (r != 0 || !e) {
		if (e)
			bsub_free(e);
		stash_end(b, NULL);
		respond_errno(tx, r);
		return true;
	}
	/* RFC 6665 4.2.1: a NOTIFY at once; a hit of ours is that NOTIFY */
	if (b->stash.n == 0)
		(void)notify(e, NULL, NULL, NULL, NULL, NULL);
	stash_end(b, e);
	return true;
}

static void holder_note(struct overlay_sip *b, const struct overlay_peer *p)
{
	for (unsigned i = 0; i < HOLDERS_MAX; i++)
		if (overlay_id_cmp(&b->holders[i].id, &p->id) == 0) {
			b->holders[i] = *p;
			return;
		}
	b->holders[b->holders_next] = *p;
	b->holders_next = (b->holders_next + 1) % HOLDERS_MAX;
}

/* A NOTIFY in a query dialog we subscribed: hits coming back. */
static void query_notify(struct bsub *e, struct sip_tx *tx)
{
	_cleanup_(freep) char *body = NULL;
	struct overlay_hit h;
	int r = body_take(tx, OVERLAY_QUERY_MEDIA_TYPE, &body);

	if (r == -ENODATA)
		return; /* the first NOTIFY, or the last: 200 */
	if (r == 0)
		r = overlay_hit_from_xml(body, strlen(body), &h);
	if (r == 0 && overlay_id_cmp(&h.qid, &e->qid) != 0)
		r = -EINVAL;
	if (r == 0) {
		holder_note(e->b, &h.holder);
		r = overlay_recv_hit(e->b->ov, &e->peer, &h);
	}
	log_debug("overlay: hit from %s: %d", e->peer.contact, r);
	respond_errno(tx, r);
}

static void query_h(struct sip_sub *sub, enum sip_sub_event ev, int status, struct sip_tx *tx,
		    void *arg)
{
	struct bsub *e = arg;

	if (ev == SIP_SUB_REQUEST && !e->notifier)
		query_notify(e, tx);
	else if (ev == SIP_SUB_REQUEST) /* a refresh of a query: no such thing */
		sip_tx_respond(tx, 400, "Queries Are Not Refreshed", NULL, NULL, NULL);
	else if (ev == SIP_SUB_TERMINATED)
		bsub_free(e);
}

/* ---- the object ------------------------------------------------------------------------ */

static void on_neighbour(const struct overlay_peer *p, bool up, void *arg)
{
	struct overlay_sip *b = arg;

	if (b->nh)
		b->nh(p, up, b->nh_arg);
}

int overlay_sip_new(struct sip *s, struct ev_loop *loop, const struct overlay_config *cfg,
		    overlay_match_h *match, void *match_arg, struct overlay_sip **ret)
{
	const struct overlay_transport tp = {
		.send_peers = send_peers, .send_query = send_query, .send_hit = send_hit
	};
	struct overlay_transport t = tp;
	struct overlay_sip *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->sip = s;
	b->refresh_s = cfg->refresh_s;
	b->route_ttl_s = cfg->route_ttl_s;
	overlay_ev_clock_init(&b->clk, loop);
	t.ctx = b;
	r = overlay_new(cfg, &t, &b->clk.clock, match, match_arg, &b->ov);
	if (r == 0)
		r = overlay_node_uri(b->ov, b->uri, sizeof(b->uri));
	if (r == 0)
		r = sip_sub_listen(s, PEERS_EVENT, peers_new, b);
	if (r == 0)
		r = sip_sub_listen(s, QUERY_EVENT, query_new, b);
	if (r < 0) {
		overlay_sip_free(b);
		return r;
	}
	overlay_set_neighbour_handler(b->ov, on_neighbour, b);
	*ret = b;
	return 0;
}

void overlay_sip_free(struct overlay_sip *b)
{
	if (!b)
		return;
	sip_sub_unlisten(b->sip, PEERS_EVENT);
	sip_sub_unlisten(b->sip, QUERY_EVENT);
	if (b->ov)
		overlay_set_neighbour_handler(b->ov, NULL, NULL);
	/* the overlay first: the done calls of dropped sends then find it dead */
	overlay_free(b->ov);
	overlay_ev_clock_stop(&b->clk);
	for (struct bsub *e = b->subs, *next; e; e = next) {
		next = e->next;
		sip_sub_free(e->sub); /* its sends' done calls need none of this */
		free(e);
	}
	free(b);
}

struct overlay *overlay_sip_overlay(const struct overlay_sip *b)
{
	return b->ov;
}

void overlay_sip_set_neighbour_handler(struct overlay_sip *b, overlay_neighbour_h *h, void *arg)
{
	b->nh = h;
	b->nh_arg = arg;
}

size_t overlay_sip_dialogs(const struct overlay_sip *b)
{
	return b->n_links + b->n_qin + b->n_qout;
}

int overlay_sip_peer_find(const struct overlay_sip *b, const struct overlay_id *id,
			  struct overlay_peer *ret)
{
	if (overlay_peer_find(b->ov, id, ret) == 0)
		return 0;
	for (unsigned i = 0; i < HOLDERS_MAX; i++)
		if (!overlay_id_is_zero(id) && overlay_id_cmp(&b->holders[i].id, id) == 0) {
			*ret = b->holders[i];
			return 0;
		}
	return -ENOENT;
}
