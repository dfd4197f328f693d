/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Searches: the query id cache is bounded and a query is handled once; the TTL is capped;
 * a hit finds its way back along a path whose ends are not neighbours; rate limits. */
#include "config.h"

#include <check.h>

#include "overlay/overlay-private.h"
#include "overlay-testnet.h"
#include "testutil.h"

static struct overlay_id qid_n(unsigned n)
{
	struct overlay_id id = {0};

	id.b[0] = (uint8_t)(n * 37 + 1);
	id.b[1] = (uint8_t)(n >> 8);
	id.b[2] = (uint8_t)n;
	id.b[15] = 0xaa;
	return id;
}

START_TEST(qcache_is_a_bounded_ring)
{
	struct qcache qc;
	unsigned cap = 64, total = 200;

	ck_assert_int_eq(qcache_init(&qc, cap), 0);
	for (unsigned i = 0; i < total; i++) {
		struct overlay_id id = qid_n(i);

		ck_assert_ptr_null(qcache_find(&qc, &id));
		ck_assert_ptr_nonnull(qcache_add(&qc, &id));
		ck_assert_ptr_nonnull(qcache_find(&qc, &id));
		ck_assert_uint_le(qc.alloc, cap);
	}
	ck_assert_uint_eq(qc.used, cap);
	/* the newest cap ids are remembered, the older ones made room */
	for (unsigned i = 0; i < total; i++) {
		struct overlay_id id = qid_n(i);

		if (i < total - cap)
			ck_assert_ptr_null(qcache_find(&qc, &id));
		else
			ck_assert_ptr_nonnull(qcache_find(&qc, &id));
	}
	qcache_free(&qc);
}
END_TEST

/* 0 - 1 - 2 in a line: 1 accepts, 0 and 2 each want one neighbour and know only 1. */
static void line3(void)
{
	tn_node_new(1, 0, 8);
	tn_node_new(0, 1, 8);
	tn_node_new(2, 1, 8);
	tn_bootstrap(0, 1);
	tn_bootstrap(2, 1);
	tn_pump();
	ck_assert(tn_linked(0, 1) && tn_linked(1, 0));
	ck_assert(tn_linked(2, 1) && tn_linked(1, 2));
	ck_assert(!tn_linked(0, 2) && !tn_linked(2, 0));
}

struct got {
	unsigned hits, done;
	struct overlay_peer holder;
	unsigned hops;
	size_t results;
};

static void on_hit(struct overlay_search *s, const struct overlay_hit *h,
		   const struct overlay_file *f, void *arg)
{
	struct got *g = arg;

	g->hits++;
	g->holder = h->holder;
	g->hops = h->hops;
}

static void on_done(struct overlay_search *s, size_t results, void *arg)
{
	struct got *g = arg;

	g->done++;
	g->results = results;
}

START_TEST(hit_routed_back_along_the_path)
{
	struct got g = {0};

	tn_setup();
	line3();
	tn[2].holds = "song";
	ck_assert_int_eq(
	    overlay_search_start(tn[0].ov, "song", 2, 5000, 10, on_hit, on_done, &g, NULL), 0);
	tn_pump();
	/* 2 answered to 1, which relayed to 0: 0 and 2 never exchanged a message */
	ck_assert_uint_eq(g.hits, 1);
	ck_assert_int_eq(overlay_id_cmp(&g.holder.id, &tn[2].self.id), 0);
	ck_assert_str_eq(g.holder.contact, "t2:5060");
	ck_assert_uint_eq(g.hops, 2);
	ck_assert_uint_eq(overlay_stats(tn[1].ov)->hits_routed, 1);
	ck_assert_uint_eq(g.done, 0);
	tn_advance(5000, 1000);
	ck_assert_uint_eq(g.done, 1);
	ck_assert_uint_eq(g.results, 1);
	tn_teardown();
}
END_TEST

START_TEST(ttl_too_small_finds_nothing)
{
	struct got g = {0};

	tn_setup();
	line3();
	tn[2].holds = "song";
	ck_assert_int_eq(
	    overlay_search_start(tn[0].ov, "song", 1, 3000, 10, on_hit, on_done, &g, NULL), 0);
	tn_pump();
	tn_advance(3000, 1000);
	ck_assert_uint_eq(g.hits, 0);
	ck_assert_uint_eq(g.done, 1);
	ck_assert_uint_eq(tn[2].match_calls, 0);
	tn_teardown();
}
END_TEST

/* A triangle: every node hears the query twice and handles it once. */
START_TEST(each_node_handles_a_query_once)
{
	struct got g = {0};

	tn_setup();
	tn_node_new(0, 0, 8);
	tn_node_new(1, 1, 8);
	tn_node_new(2, 2, 8);
	tn_bootstrap(1, 0);
	tn_pump();
	tn_bootstrap(2, 0);
	tn_bootstrap(2, 1);
	tn_pump();
	ck_assert(tn_linked(0, 1) && tn_linked(1, 2) && tn_linked(0, 2));
	ck_assert_int_eq(
	    overlay_search_start(tn[0].ov, "x", 7, 1000, 10, on_hit, on_done, &g, NULL), 0);
	tn_pump();
	ck_assert_uint_eq(tn[0].match_calls, 0); /* the originator asks its own index elsewhere */
	for (int i = 1; i <= 2; i++) {
		ck_assert_uint_eq(tn[i].match_calls, 1);
		ck_assert_uint_eq(overlay_stats(tn[i].ov)->queries_seen, 1);
		ck_assert_uint_eq(overlay_stats(tn[i].ov)->queries_dup, 1);
	}
	/* 0 sent 2; 1 and 2 each forwarded once, to each other, never back to 0 */
	ck_assert_uint_eq(tn_counts[TN_QUERY], 4);
	tn_advance(1000, 1000);
	tn_teardown();
}
END_TEST

static struct overlay_query query_from(int origin, unsigned n, unsigned ttl)
{
	struct overlay_query q = {.qid = qid_n(n), .ttl = (uint8_t)ttl};

	q.origin = tn[origin].self;
	snprintf(q.keywords, sizeof(q.keywords), "k%u", n);
	return q;
}

START_TEST(ttl_is_capped_whatever_a_peer_sends)
{
	struct overlay_query q;

	tn_setup();
	line3();
	q = query_from(0, 1, 255);
	ck_assert_int_eq(overlay_recv_query(tn[1].ov, &tn[0].self, &q), 0);
	/* what 1 sends on to 2 carries at most OVERLAY_TTL_MAX - 1 */
	ck_assert_uint_eq(tn_tail - tn_head, 1);
	ck_assert_int_eq(tn_q[tn_head % TN_QUEUE].type, TN_QUERY);
	ck_assert_int_eq(tn_q[tn_head % TN_QUEUE].dst, 2);
	ck_assert_uint_eq(tn_q[tn_head % TN_QUEUE].u.q.ttl, OVERLAY_TTL_MAX - 1);
	ck_assert_uint_eq(tn_q[tn_head % TN_QUEUE].u.q.hops, 1);
	tn_pump();
	/* and a node never forwards what it has seen */
	ck_assert_int_eq(overlay_recv_query(tn[1].ov, &tn[2].self, &q), -EALREADY);
	ck_assert_uint_eq(tn_tail - tn_head, 0);
	tn_teardown();
}
END_TEST

START_TEST(queries_from_strangers_are_refused)
{
	struct overlay_query q;

	tn_setup();
	line3();
	q = query_from(2, 1, 4);
	ck_assert_int_eq(overlay_recv_query(tn[0].ov, &tn[2].self, &q), -EPERM);
	q.ttl = 0;
	ck_assert_int_eq(overlay_recv_query(tn[1].ov, &tn[2].self, &q), -EINVAL);
	tn_teardown();
}
END_TEST

START_TEST(rate_limit_per_neighbour)
{
	struct overlay_config c;
	struct overlay_query q;

	tn_setup();
	tn_node_cfg(1, &c, 0, 8);
	c.query_rate = 2;
	c.query_burst = 3;
	tn_node_new_cfg(1, &c);
	tn_node_new(0, 1, 8);
	tn_bootstrap(0, 1);
	tn_pump();
	ck_assert(tn_linked(1, 0));
	for (unsigned i = 0; i < 3; i++) {
		q = query_from(0, i, 1);
		ck_assert_int_eq(overlay_recv_query(tn[1].ov, &tn[0].self, &q), 0);
	}
	q = query_from(0, 3, 1);
	ck_assert_int_eq(overlay_recv_query(tn[1].ov, &tn[0].self, &q), -EBUSY);
	ck_assert_uint_eq(overlay_stats(tn[1].ov)->queries_limited, 1);
	/* 2 per second: half a second later, one more */
	tn_now_ms += 500;
	ck_assert_int_eq(overlay_recv_query(tn[1].ov, &tn[0].self, &q), 0);
	q = query_from(0, 4, 1);
	ck_assert_int_eq(overlay_recv_query(tn[1].ov, &tn[0].self, &q), -EBUSY);
	ck_assert_uint_eq(tn[1].match_calls, 4);
	tn_pump();
	tn_teardown();
}
END_TEST

START_TEST(results_deduplicated_and_bounded)
{
	struct got g = {0};
	struct overlay_search *s;
	struct overlay_hit h = {0};

	tn_setup();
	line3();
	ck_assert_int_eq(
	    overlay_search_start(tn[0].ov, "many", 1, 5000, 3, on_hit, on_done, &g, &s), 0);
	tn_pump();
	h.qid = *overlay_search_qid(s);
	h.holder = tn[1].self;
	h.n = 2;
	snprintf(h.files[0].name, sizeof(h.files[0].name), "a");
	snprintf(h.files[1].name, sizeof(h.files[1].name), "a");
	ck_assert_int_eq(overlay_recv_hit(tn[0].ov, &tn[1].self, &h), 0);
	ck_assert_uint_eq(g.hits, 1); /* the same file of the same holder once */
	snprintf(h.files[1].name, sizeof(h.files[1].name), "b");
	ck_assert_int_eq(overlay_recv_hit(tn[0].ov, &tn[1].self, &h), 0);
	ck_assert_uint_eq(g.hits, 2);
	h.holder = tn[2].self;
	h.n = 2;
	ck_assert_int_eq(overlay_recv_hit(tn[0].ov, &tn[1].self, &h), 0);
	/* max_results 3: the third result ends the search */
	ck_assert_uint_eq(g.hits, 3);
	tn_pump();
	ck_assert_uint_eq(g.done, 1);
	ck_assert_uint_eq(g.results, 3);
	/* a hit for a query nobody asked is dropped */
	h.qid = qid_n(99);
	ck_assert_int_eq(overlay_recv_hit(tn[0].ov, &tn[1].self, &h), -ENOENT);
	tn_teardown();
}
END_TEST

/* A holder sending hits without end: a relay passes on a bounded number per query. */
START_TEST(relayed_hits_bounded)
{
	struct got g = {0};
	struct overlay_search *s;
	struct overlay_hit h = {.n = 1};
	int ok = 0;

	tn_setup();
	line3();
	ck_assert_int_eq(
	    overlay_search_start(tn[0].ov, "x", 2, 5000, 1000, on_hit, on_done, &g, &s), 0);
	tn_pump();
	h.qid = *overlay_search_qid(s);
	h.holder = tn[2].self;
	for (unsigned i = 0; i < OVERLAY_HITS_PER_QUERY_MAX + 10; i++) {
		snprintf(h.files[0].name, sizeof(h.files[0].name), "f%u", i);
		ok += overlay_recv_hit(tn[1].ov, &tn[2].self, &h) == 0;
	}
	ck_assert_int_eq(ok, OVERLAY_HITS_PER_QUERY_MAX);
	ck_assert_uint_eq(overlay_stats(tn[1].ov)->hits_dropped, 10);
	tn_pump();
	ck_assert_uint_eq(g.hits, OVERLAY_HITS_PER_QUERY_MAX);
	tn_teardown();
}
END_TEST

/* The way back lasts as long as the originator waits (the query's Expires). */
START_TEST(route_expires_with_the_search)
{
	struct got g = {0};
	struct overlay_search *s;
	struct overlay_hit h = {.n = 1};

	tn_setup();
	line3();
	ck_assert_int_eq(overlay_search_start(tn[0].ov, "x", 2, 3000, 10, on_hit, on_done, &g, &s),
			 0);
	ck_assert_uint_eq(tn_q[tn_head % TN_QUEUE].u.q.expires_s, 3);
	tn_pump();
	h.qid = *overlay_search_qid(s);
	h.holder = tn[2].self;
	snprintf(h.files[0].name, sizeof(h.files[0].name), "late");
	tn_now_ms += 5000;
	ck_assert_int_eq(overlay_recv_hit(tn[1].ov, &tn[2].self, &h), -EHOSTUNREACH);
	ck_assert_uint_eq(overlay_stats(tn[1].ov)->hits_unroutable, 1);
	tn_pump();
	tn_teardown();
}
END_TEST

START_TEST(searches_are_bounded)
{
	struct got g = {0};
	int r = 0;
	unsigned n = 0;

	tn_setup();
	line3();
	while ((r = overlay_search_start(tn[0].ov, "x", 1, 5000, 1, on_hit, on_done, &g, NULL)) ==
	       0)
		n++;
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_eq(n, OVERLAY_SEARCHES_MAX);
	tn_pump();
	tn_teardown();
	ck_assert_uint_eq(g.done, 0); /* freeing is not an end the caller hears of */
}
END_TEST

/* The real clock: libev. A search ends on time without any message. */
START_TEST(ev_clock_drives_timers)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct overlay_ev_clock clk;
	struct overlay_config c;
	struct got g = {0};
	struct overlay_transport t = {tn_send_peers, tn_send_query, tn_send_hit,
				      (void *)(intptr_t)0};
	struct overlay_peers m = {.kind = OVERLAY_PEERS_SUBSCRIBE, .expires_s = 60};
	double t0;

	tn_setup();
	overlay_ev_clock_init(&clk, loop);
	tn_node_cfg(0, &c, 0, 8);
	ck_assert_int_eq(overlay_new(&c, &t, &clk.clock, tn_match, &tn[0], &tn[0].ov), 0);
	overlay_start(tn[0].ov);
	/* a neighbour subscribes, so that there is someone to search */
	m.from = (struct overlay_peer){.contact = "t1:5060"};
	m.from.id.b[15] = 2;
	ck_assert_int_eq(overlay_recv_peers(tn[0].ov, &m), 0);
	ck_assert_uint_eq(overlay_neighbour_count(tn[0].ov), 1);
	/* ev_now() is the loop's cached time: fresh inside callbacks, as the daemon calls us */
	ev_now_update(loop);
	t0 = ev_now(loop);
	ck_assert_int_eq(overlay_search_start(tn[0].ov, "x", 1, 50, 10, on_hit, on_done, &g, NULL),
			 0);
	while (!g.done && ev_time() - t0 < 2.0)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_uint_eq(g.done, 1);
	ck_assert(ev_time() - t0 >= 0.04);
	overlay_free(tn[0].ov);
	tn[0].ov = NULL;
	overlay_ev_clock_stop(&clk);
	ck_assert(!ev_is_active(&clk.timer));
	ev_loop_destroy(loop);
	tn_teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("overlay-query");
	TCase *tc = tcase_create("query");

	tcase_add_test(tc, qcache_is_a_bounded_ring);
	tcase_add_test(tc, hit_routed_back_along_the_path);
	tcase_add_test(tc, ttl_too_small_finds_nothing);
	tcase_add_test(tc, each_node_handles_a_query_once);
	tcase_add_test(tc, ttl_is_capped_whatever_a_peer_sends);
	tcase_add_test(tc, queries_from_strangers_are_refused);
	tcase_add_test(tc, rate_limit_per_neighbour);
	tcase_add_test(tc, results_deduplicated_and_bounded);
	tcase_add_test(tc, searches_are_bounded);
	tcase_add_test(tc, relayed_hits_bounded);
	tcase_add_test(tc, route_expires_with_the_search);
	tcase_add_test(tc, ev_clock_drives_timers);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
