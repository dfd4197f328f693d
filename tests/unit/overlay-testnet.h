/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A hand-driven network for overlay unit tests: a few nodes, a FIFO of messages the test
 * pumps, a clock the test advances. Unlike bench/overlay-sim it has no latency or loss:
 * tests decide exactly what is delivered and when. */
#ifndef SIPSVC_OVERLAY_TESTNET_H
#define SIPSVC_OVERLAY_TESTNET_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "core/core.h"
#include "overlay/overlay.h"

#define TN_NODES 16
#define TN_QUEUE 4096

enum tn_type { TN_PEERS, TN_QUERY, TN_HIT };

struct tn_msg {
	enum tn_type type;
	int src, dst;
	overlay_send_done_h *done;
	void *arg;
	union {
		struct overlay_peers peers;
		struct overlay_query q;
		struct overlay_hit h;
	} u;
};

struct tn_node {
	struct overlay *ov;
	struct overlay_peer self;
	bool dead;	/* sends to it fail, it receives nothing */
	uint64_t armed; /* its overlay's deadline */
	unsigned match_calls;
	const char *holds; /* keyword it answers, or NULL */
};

static struct tn_node tn[TN_NODES];
static struct tn_msg *tn_q;
static size_t tn_head, tn_tail;
static uint64_t tn_now_ms = 1000000;
static size_t tn_counts[3]; /* messages sent by type */

static int tn_index(const char *contact)
{
	int i;

	if (sscanf(contact, "t%d:", &i) != 1 || i < 0 || i >= TN_NODES)
		return -1;
	return i;
}

static int tn_send(void *ctx, enum tn_type type, const struct overlay_peer *to, const void *m,
		   size_t len, overlay_send_done_h *done, void *arg)
{
	struct tn_msg *x;

	ck_assert_uint_lt(tn_tail - tn_head, TN_QUEUE);
	x = &tn_q[tn_tail++ % TN_QUEUE];
	x->type = type;
	x->src = (int)(intptr_t)ctx;
	x->dst = tn_index(to->contact);
	x->done = done;
	x->arg = arg;
	memcpy(&x->u, m, len);
	tn_counts[type]++;
	return 0;
}

static int tn_send_peers(void *ctx, const struct overlay_peer *to, const struct overlay_peers *m,
			 overlay_send_done_h *done, void *arg)
{
	return tn_send(ctx, TN_PEERS, to, m, sizeof(*m), done, arg);
}

static int tn_send_query(void *ctx, const struct overlay_peer *to, const struct overlay_query *q,
			 overlay_send_done_h *done, void *arg)
{
	return tn_send(ctx, TN_QUERY, to, q, sizeof(*q), done, arg);
}

static int tn_send_hit(void *ctx, const struct overlay_peer *to, const struct overlay_hit *h,
		       overlay_send_done_h *done, void *arg)
{
	return tn_send(ctx, TN_HIT, to, h, sizeof(*h), done, arg);
}

static uint64_t tn_clock_now(void *ctx)
{
	return tn_now_ms;
}

static void tn_clock_arm(void *ctx, struct overlay *ov, uint64_t at)
{
	tn[(intptr_t)ctx].armed = at;
}

static int tn_match(const char *keywords, struct overlay_file *files, size_t max, void *arg)
{
	struct tn_node *n = arg;

	n->match_calls++;
	if (!n->holds || strcmp(keywords, n->holds) != 0)
		return 0;
	snprintf(files[0].name, sizeof(files[0].name), "%s.txt", n->holds);
	files[0].size = 42;
	return 1;
}

/* Node @p i with min/max neighbours; its id is i+1 in the last byte. */
static void tn_node_cfg(int i, struct overlay_config *c, unsigned min, unsigned max)
{
	overlay_config_defaults(c);
	c->min_neighbours = min;
	c->max_neighbours = max;
	snprintf(tn[i].self.contact, sizeof(tn[i].self.contact), "t%d:5060", i);
	memset(&tn[i].self.id, 0, sizeof(tn[i].self.id));
	tn[i].self.id.b[15] = (uint8_t)(i + 1);
	c->contact = tn[i].self.contact;
	c->id = &tn[i].self.id;
	c->seed = (uint64_t)i + 1;
}

static void tn_node_new_cfg(int i, const struct overlay_config *c)
{
	struct overlay_transport t = {tn_send_peers, tn_send_query, tn_send_hit,
				      (void *)(intptr_t)i};
	struct overlay_clock k = {tn_clock_now, tn_clock_arm, (void *)(intptr_t)i};

	tn[i].armed = UINT64_MAX;
	ck_assert_int_eq(overlay_new(c, &t, &k, tn_match, &tn[i], &tn[i].ov), 0);
	overlay_start(tn[i].ov);
}

static void tn_node_new(int i, unsigned min, unsigned max)
{
	struct overlay_config c;

	tn_node_cfg(i, &c, min, max);
	tn_node_new_cfg(i, &c);
}

static void tn_setup(void)
{
	memset(tn, 0, sizeof(tn));
	tn_q = calloc(TN_QUEUE, sizeof(*tn_q));
	ck_assert_ptr_nonnull(tn_q);
	tn_head = tn_tail = 0;
	tn_now_ms = 1000000;
	memset(tn_counts, 0, sizeof(tn_counts));
}

/* Deliver one message; a dead or unknown destination fails the sender's send. */
static void tn_deliver(struct tn_msg *x)
{
	bool ok = x->dst >= 0 && tn[x->dst].ov && !tn[x->dst].dead;

	if (ok && x->type == TN_PEERS)
		overlay_recv_peers(tn[x->dst].ov, &x->u.peers);
	else if (ok && x->type == TN_QUERY)
		overlay_recv_query(tn[x->dst].ov, &tn[x->src].self, &x->u.q);
	else if (ok)
		overlay_recv_hit(tn[x->dst].ov, &tn[x->src].self, &x->u.h);
	if (x->done)
		x->done(ok ? 0 : -ETIMEDOUT, x->arg);
}

/* Run the timers that are due, then deliver until nothing is left (bounded). */
static void tn_pump(void)
{
	for (int round = 0; round < 1000; round++) {
		bool any = false;

		for (int i = 0; i < TN_NODES; i++)
			if (tn[i].ov && !tn[i].dead && tn[i].armed <= tn_now_ms) {
				tn[i].armed = UINT64_MAX;
				overlay_timers_run(tn[i].ov);
				any = true;
			}
		while (tn_head != tn_tail) {
			struct tn_msg x = tn_q[tn_head++ % TN_QUEUE];

			tn_deliver(&x);
			any = true;
		}
		if (!any)
			return;
	}
	ck_abort_msg("the test network does not settle");
}

/* Advance the clock by @p ms in steps of @p step, pumping at each. */
static void tn_advance(uint64_t ms, uint64_t step)
{
	for (uint64_t t = 0; t < ms; t += step) {
		tn_now_ms += step;
		tn_pump();
	}
}

static void tn_teardown(void)
{
	for (int i = 0; i < TN_NODES; i++) {
		overlay_free(tn[i].ov);
		tn[i].ov = NULL;
	}
	/* what is still queued: its senders hear of the cancellation */
	while (tn_head != tn_tail) {
		struct tn_msg *x = &tn_q[tn_head++ % TN_QUEUE];

		if (x->done)
			x->done(-ECANCELED, x->arg);
	}
	free(tn_q);
	overlay_body_done();
	ck_assert_uint_eq(mem_live_objects(), 0);
}

/* Is @p b a live neighbour of @p a? */
static bool tn_linked(int a, int b)
{
	const struct overlay_peer *p;

	for (size_t k = 0; (p = overlay_neighbour(tn[a].ov, k)); k++)
		if (overlay_id_cmp(&p->id, &tn[b].self.id) == 0)
			return true;
	return false;
}

/* Give @p a the bootstrap peer @p b (by contact only, like --bootstrap). */
static void tn_bootstrap(int a, int b)
{
	struct overlay_peer p = {0};

	snprintf(p.contact, sizeof(p.contact), "%s", tn[b].self.contact);
	ck_assert_int_eq(overlay_bootstrap_add(tn[a].ov, &p), 0);
}

#endif
