/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The overlay's insides, shared by its files only. */
#ifndef SIPSVC_OVERLAY_PRIVATE_H
#define SIPSVC_OVERLAY_PRIVATE_H

#include "overlay/overlay.h"

enum link_state {
	LINK_FREE,
	LINK_PENDING, /* our SUBSCRIBE is out, no NOTIFY yet */
	LINK_UP,
};

/* One neighbour link (one sipsvc-peers subscription dialog). */
struct link {
	struct overlay_peer peer;
	enum link_state state;
	bool we_subscribe;   /* we refresh it; the other side NOTIFYs */
	uint64_t since_ms;   /* when it went pending */
	uint64_t heard_ms;   /* last message from the peer */
	uint64_t refresh_ms; /* subscriber: next SUBSCRIBE refresh */
	uint64_t tokens;     /* query token bucket, in thousandths of a query */
	uint64_t tokens_ms;
};

/* A peer we know of (from bootstrap or peer lists), candidate for a link. */
struct known {
	struct overlay_peer peer;
	uint64_t retry_ms; /* not before: after a failure or a refusal */
	bool bootstrap;
};

/* A query id we handled: once only, and where its hits go back to. */
struct qentry {
	struct overlay_id qid;
	struct overlay_id prev; /* the hop it came from; zero if ours */
	uint32_t route_until_s; /* way back kept until then (clock seconds) */
	int32_t next;		/* hash chain, -1 ends */
	uint16_t hits;		/* hit messages relayed for it */
	bool mine;
};

/* A bounded ring of query ids with a hash index; grows on demand up to cap. */
struct qcache {
	struct qentry *e;
	uint32_t cap, alloc, used, head; /* head: next slot to reuse once full */
	int32_t *bucket;
	uint32_t nbuckets; /* a power of two */
};

struct search_seen {
	struct overlay_id holder;
	uint64_t name_hash;
};

struct overlay_search {
	struct overlay *ov;
	struct overlay_id qid;
	uint64_t deadline_ms;
	size_t max_results, results;
	struct search_seen *seen; /* max_results entries: the dedupe set */
	overlay_search_hit_h *hh;
	overlay_search_done_h *dh;
	void *arg;
	bool ending;
};

struct overlay {
	struct overlay_config cfg;
	char contact[OVERLAY_CONTACT_MAX + 1];
	char *state_dir;
	struct overlay_transport tp;
	struct overlay_clock clk;
	overlay_match_h *match;
	void *match_arg;
	struct overlay_id id;
	uint64_t rng;
	struct link *links; /* max_neighbours slots */
	struct known *known;
	size_t n_known;
	bool known_dirty, list_dirty, started, dead;
	uint64_t list_at_ms; /* coalesced "NOTIFY again on change" */
	uint64_t armed_ms;   /* the one deadline asked of the clock */
	uint64_t save_ms;    /* next save of the known peers */
	uint64_t grow_ms;    /* next link beyond min (neighbours.c links_wanted) */
	struct qcache qc;
	struct overlay_search *searches[OVERLAY_SEARCHES_MAX];
	struct overlay_stats st;
	overlay_neighbour_h *nh;
	void *nh_arg;
};

/* Equality and zero tests on ids are the hot path of every table lookup (the
 * simulator spends most of its time here): two 64-bit words, no memcmp call. */
static inline bool id_eq(const struct overlay_id *a, const struct overlay_id *b)
{
	uint64_t x[2], y[2];

	__builtin_memcpy(x, a->b, sizeof(x));
	__builtin_memcpy(y, b->b, sizeof(y));
	return x[0] == y[0] && x[1] == y[1];
}

static inline bool id_zero(const struct overlay_id *a)
{
	uint64_t x[2];

	__builtin_memcpy(x, a->b, sizeof(x));
	return (x[0] | x[1]) == 0;
}

/* overlay.c */
uint64_t ov_now(const struct overlay *ov);
uint64_t ov_random(struct overlay *ov);
void ov_arm_at(struct overlay *ov, uint64_t at);

/* neighbours.c */
struct link *link_find(struct overlay *ov, const struct overlay_id *id, const char *contact);
size_t links_count(const struct overlay *ov, enum link_state s);
void known_add(struct overlay *ov, const struct overlay_peer *p, bool bootstrap);
int known_load(struct overlay *ov);
int known_save(struct overlay *ov);
void neighbours_tick(struct overlay *ov, uint64_t now, uint64_t *next);
void neighbours_leave(struct overlay *ov);

/* query.c */
int qcache_init(struct qcache *qc, uint32_t cap);
void qcache_free(struct qcache *qc);
struct qentry *qcache_find(struct qcache *qc, const struct overlay_id *qid);
struct qentry *qcache_add(struct qcache *qc, const struct overlay_id *qid);
bool link_take_token(struct overlay *ov, struct link *l, uint64_t now);
void searches_tick(struct overlay *ov, uint64_t now, uint64_t *next);
void searches_free(struct overlay *ov);

#endif
