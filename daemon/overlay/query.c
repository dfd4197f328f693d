/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Searches: Gnutella-style flooding with a once-only query id cache, per-neighbour rate
 * limits, and hits routed back along the path the query came (DESIGN.md "Search"). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "overlay/overlay-private.h"

#define QCACHE_INITIAL 64

/* ---- the query id cache -------------------------------------------------------------- */

static uint32_t qid_hash(const struct overlay_id *qid, uint32_t nbuckets)
{
	uint32_t h;

	/* query ids are random: their first bytes are a fine hash */
	memcpy(&h, qid->b, sizeof(h));
	return h & (nbuckets - 1);
}

int qcache_init(struct qcache *qc, uint32_t cap)
{
	uint32_t nb = 16;

	while (nb < cap / 2)
		nb <<= 1;
	*qc = (struct qcache){.cap = cap, .nbuckets = nb};
	qc->bucket = malloc(nb * sizeof(*qc->bucket));
	if (!qc->bucket)
		return -ENOMEM;
	for (uint32_t i = 0; i < nb; i++)
		qc->bucket[i] = -1;
	return 0;
}

void qcache_free(struct qcache *qc)
{
	free(qc->e);
	free(qc->bucket);
	qc->e = NULL;
	qc->bucket = NULL;
	qc->alloc = qc->used = 0;
}

struct qentry *qcache_find(struct qcache *qc, const struct overlay_id *qid)
{
	for (int32_t i = qc->bucket[qid_hash(qid, qc->nbuckets)]; i >= 0; i = qc->e[i].next)
		if (id_eq(&qc->e[i].qid, qid))
			return &qc->e[i];
	return NULL;
}

static void unlink_entry(struct qcache *qc, int32_t idx)
{
	int32_t *p = &qc->bucket[qid_hash(&qc->e[idx].qid, qc->nbuckets)];

	while (*p >= 0 && *p != idx)
		p = &qc->e[*p].next;
	if (*p == idx)
		*p = qc->e[idx].next;
}

/* The slot for a new id: a fresh one while growing, else the oldest (a ring). */
static int32_t take_slot(struct qcache *qc)
{
	int32_t idx;

	if (qc->used == qc->alloc && qc->alloc < qc->cap) {
		uint32_t n = qc->alloc ? qc->alloc * 2 : QCACHE_INITIAL;
		struct qentry *e;

		if (n > qc->cap)
			n = qc->cap;
		e = realloc(qc->e, n * sizeof(*e));
		if (!e)
			return -1;
		qc->e = e;
		qc->alloc = n;
	}
	if (qc->used < qc->alloc)
		return (int32_t)qc->used++;
	idx = (int32_t)qc->head;
	qc->head = (qc->head + 1) % qc->cap;
	unlink_entry(qc, idx);
	return idx;
}

struct qentry *qcache_add(struct qcache *qc, const struct overlay_id *qid)
{
	int32_t idx = take_slot(qc);
	uint32_t b;

	if (idx < 0)
		return NULL;
	b = qid_hash(qid, qc->nbuckets);
	qc->e[idx] = (struct qentry){.qid = *qid, .next = qc->bucket[b]};
	qc->bucket[b] = idx;
	return &qc->e[idx];
}

/* ---- rate limit: a token bucket per neighbour --------------------------------------- */

bool link_take_token(struct overlay *ov, struct link *l, uint64_t now)
{
	uint64_t cap = (uint64_t)ov->cfg.query_burst * 1000;

	if (now > l->tokens_ms) {
		l->tokens += (now - l->tokens_ms) * ov->cfg.query_rate;
		l->tokens_ms = now;
	}
	if (l->tokens > cap)
		l->tokens = cap;
	if (l->tokens < 1000)
		return false;
	l->tokens -= 1000;
	return true;
}

/* ---- forwarding and answering ------------------------------------------------------- */

static size_t forward(struct overlay *ov, const struct overlay_query *q,
		      const struct overlay_id *except)
{
	size_t sent = 0;

	for (unsigned i = 0; i < ov->cfg.max_neighbours; i++) {
		const struct link *l = &ov->links[i];

		if (l->state != LINK_UP || (except && id_eq(&l->peer.id, except)))
			continue;
		if (ov->tp.send_query(ov->tp.ctx, &l->peer, q, NULL, NULL) == 0)
			sent++;
	}
	ov->st.queries_forwarded += sent;
	return sent;
}

static void answer(struct overlay *ov, const struct overlay_peer *to, const struct overlay_query *q)
{
	struct overlay_hit h = {.qid = q->qid, .hops = q->hops};
	int n;

	if (!ov->match)
		return;
	n = ov->match(q->keywords, h.files, ov->cfg.max_files_per_hit, ov->match_arg);
	if (n <= 0)
		return;
	h.n = (size_t)n > ov->cfg.max_files_per_hit ? ov->cfg.max_files_per_hit : (size_t)n;
	h.holder.id = ov->id;
	snprintf(h.holder.contact, sizeof(h.holder.contact), "%s", ov->contact);
	ov->st.queries_answered++;
	(void)ov->tp.send_hit(ov->tp.ctx, to, &h, NULL, NULL);
}

static bool query_valid(const struct overlay_query *q)
{
	return !overlay_id_is_zero(&q->qid) && q->ttl > 0 &&
	       memchr(q->keywords, '\0', sizeof(q->keywords)) && q->keywords[0];
}

/* The way back is kept while the originator waits, never longer than route_ttl_s:
 * a peer's Expires must not pin our memory. */
static uint32_t route_keep_s(const struct overlay *ov, const struct overlay_query *q)
{
	uint32_t s = q->expires_s ? q->expires_s : ov->cfg.route_ttl_s;

	return s < ov->cfg.route_ttl_s ? s : ov->cfg.route_ttl_s;
}

int overlay_recv_query(struct overlay *ov, const struct overlay_peer *from,
		       const struct overlay_query *q)
{
	uint64_t now;
	struct link *l;
	struct qentry *e;
	struct overlay_query fwd;

	if (ov->dead || !query_valid(q))
		return -EINVAL;
	l = link_find(ov, &from->id, NULL);
	if (!l || l->state != LINK_UP)
		return -EPERM; /* queries travel on neighbour links only */
	now = ov_now(ov);
	if (!link_take_token(ov, l, now)) {
		ov->st.queries_limited++;
		return -EBUSY;
	}
	if (qcache_find(&ov->qc, &q->qid)) {
		ov->st.queries_dup++;
		return -EALREADY;
	}
	e = qcache_add(&ov->qc, &q->qid);
	if (!e)
		return -ENOMEM;
	e->prev = from->id;
	e->route_until_s = (uint32_t)(now / 1000) + route_keep_s(ov, q);
	ov->st.queries_seen++;
	fwd = *q;
	/* DESIGN.md: TTL capped at 7 whatever a peer sends */
	if (fwd.ttl > OVERLAY_TTL_MAX)
		fwd.ttl = OVERLAY_TTL_MAX;
	fwd.hops = (uint8_t)(q->hops < 255 ? q->hops + 1 : 255);
	answer(ov, &l->peer, &fwd);
	if (--fwd.ttl > 0)
		forward(ov, &fwd, &from->id);
	return 0;
}

/* ---- hits ---------------------------------------------------------------------------- */

static struct overlay_search *search_find(struct overlay *ov, const struct overlay_id *qid)
{
	for (size_t i = 0; i < OVERLAY_SEARCHES_MAX; i++)
		if (ov->searches[i] && overlay_id_cmp(&ov->searches[i]->qid, qid) == 0)
			return ov->searches[i];
	return NULL;
}

/* FNV-1a: names only need telling apart within one search. */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

static bool search_seen_add(struct overlay_search *s, const struct overlay_id *holder, uint64_t nh)
{
	for (size_t i = 0; i < s->results; i++)
		if (s->seen[i].name_hash == nh && overlay_id_cmp(&s->seen[i].holder, holder) == 0)
			return false;
	s->seen[s->results++] = (struct search_seen){.holder = *holder, .name_hash = nh};
	return true;
}

static void search_end(struct overlay_search *s);

static void search_deliver(struct overlay_search *s, const struct overlay_hit *h)
{
	for (size_t i = 0; i < h->n && !s->ending; i++) {
		uint64_t nh = name_hash(h->files[i].name);

		if (h->files[i].has_sha256) /* same name, other content: another result */
			for (size_t k = 0; k < sizeof(h->files[i].sha256); k++)
				nh = (nh ^ h->files[i].sha256[k]) * 0x100000001b3ULL;
		if (!search_seen_add(s, &h->holder.id, nh))
			continue;
		if (s->hh)
			s->hh(s, h, &h->files[i], s->arg);
		if (s->results >= s->max_results)
			search_end(s);
	}
}

static bool hit_valid(const struct overlay_hit *h)
{
	if (overlay_id_is_zero(&h->qid) || overlay_id_is_zero(&h->holder.id) || h->n == 0 ||
	    h->n > OVERLAY_HIT_FILES_MAX || !overlay_contact_valid(h->holder.contact))
		return false;
	for (size_t i = 0; i < h->n; i++)
		if (!memchr(h->files[i].name, '\0', sizeof(h->files[i].name)) ||
		    !h->files[i].name[0])
			return false;
	return true;
}

int overlay_recv_hit(struct overlay *ov, const struct overlay_peer *from,
		     const struct overlay_hit *h)
{
	struct qentry *e;
	struct overlay_search *s;
	struct link *l;

	if (ov->dead || !hit_valid(h))
		return -EINVAL;
	e = qcache_find(&ov->qc, &h->qid);
	if (!e)
		return -ENOENT; /* never saw that query: nobody to route to */
	if (e->mine) {
		s = search_find(ov, &h->qid);
		if (s)
			search_deliver(s, h);
		return s ? 0 : -ENOENT;
	}
	l = link_find(ov, &e->prev, NULL);
	if (!l || l->state != LINK_UP || ov_now(ov) / 1000 > e->route_until_s) {
		ov->st.hits_unroutable++;
		return -EHOSTUNREACH;
	}
	/* a holder (or a liar) sending hits without end must not use us as an amplifier */
	if (e->hits >= OVERLAY_HITS_PER_QUERY_MAX) {
		ov->st.hits_dropped++;
		return -EBUSY;
	}
	e->hits++;
	ov->st.hits_routed++;
	return ov->tp.send_hit(ov->tp.ctx, &l->peer, h, NULL, NULL);
}

/* ---- searches (originator side) ------------------------------------------------------- */

static void search_end(struct overlay_search *s)
{
	s->ending = true;
	s->deadline_ms = 0; /* the next timer run reports it, outside any callback */
	ov_arm_at(s->ov, ov_now(s->ov));
}

static void search_destroy(struct overlay *ov, size_t i)
{
	struct overlay_search *s = ov->searches[i];

	ov->searches[i] = NULL;
	if (s->dh)
		s->dh(s, s->results, s->arg);
	free(s->seen);
	free(s);
}

void searches_tick(struct overlay *ov, uint64_t now, uint64_t *next)
{
	for (size_t i = 0; i < OVERLAY_SEARCHES_MAX; i++) {
		struct overlay_search *s = ov->searches[i];

		if (!s)
			continue;
		if (now >= s->deadline_ms)
			search_destroy(ov, i);
		else if (s->deadline_ms < *next)
			*next = s->deadline_ms;
	}
}

void searches_free(struct overlay *ov)
{
	for (size_t i = 0; i < OVERLAY_SEARCHES_MAX; i++)
		if (ov->searches[i]) {
			ov->searches[i]->dh = NULL; /* freeing is not an end the caller hears of */
			search_destroy(ov, i);
		}
}

static int search_slot(struct overlay *ov)
{
	for (int i = 0; i < OVERLAY_SEARCHES_MAX; i++)
		if (!ov->searches[i])
			return i;
	return -ENOSPC;
}

static void query_new(struct overlay *ov, const char *keywords, unsigned ttl, unsigned timeout_ms,
		      struct overlay_query *q)
{
	uint64_t a = ov_random(ov), b = ov_random(ov);

	memset(q, 0, sizeof(*q));
	memcpy(q->qid.b, &a, sizeof(a));
	memcpy(q->qid.b + sizeof(a), &b, sizeof(b));
	q->ttl = (uint8_t)(ttl == 0		   ? OVERLAY_TTL_DEFAULT
			   : ttl > OVERLAY_TTL_MAX ? OVERLAY_TTL_MAX
						   : ttl);
	q->origin.id = ov->id;
	snprintf(q->origin.contact, sizeof(q->origin.contact), "%s", ov->contact);
	snprintf(q->keywords, sizeof(q->keywords), "%s", keywords);
	q->expires_s = (timeout_ms + 999) / 1000;
}

int overlay_search_start(struct overlay *ov, const char *keywords, unsigned ttl,
			 unsigned timeout_ms, unsigned max_results, overlay_search_hit_h *hh,
			 overlay_search_done_h *dh, void *arg, struct overlay_search **ret)
{
	struct overlay_search *s;
	struct overlay_query q;
	struct qentry *e;
	int slot = search_slot(ov);

	if (!keywords || !*keywords || strlen(keywords) > OVERLAY_KEYWORDS_MAX || max_results == 0)
		return -EINVAL;
	if (slot < 0)
		return slot;
	if (overlay_neighbour_count(ov) == 0)
		return -ENOTCONN;
	if (max_results > OVERLAY_SEARCH_RESULTS_MAX)
		max_results = OVERLAY_SEARCH_RESULTS_MAX;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->seen = calloc(max_results, sizeof(*s->seen)))) {
		free(s);
		return -ENOMEM;
	}
	query_new(ov, keywords, ttl, timeout_ms, &q);
	e = qcache_add(&ov->qc, &q.qid);
	if (!e) {
		free(s->seen);
		free(s);
		return -ENOMEM;
	}
	e->mine = true;
	*s = (struct overlay_search){.ov = ov,
				     .qid = q.qid,
				     .max_results = max_results,
				     .seen = s->seen,
				     .hh = hh,
				     .dh = dh,
				     .arg = arg,
				     .deadline_ms = ov_now(ov) + timeout_ms};
	ov->searches[slot] = s;
	forward(ov, &q, NULL);
	ov_arm_at(ov, s->deadline_ms);
	if (ret)
		*ret = s;
	return 0;
}

void overlay_search_cancel(struct overlay_search *s)
{
	if (s && !s->ending)
		search_end(s);
}

const struct overlay_id *overlay_search_qid(const struct overlay_search *s)
{
	return &s->qid;
}
