/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The overlay at 200 nodes on the simulated network (bench/overlay-sim/sim.c): degrees
 * within bounds, a file found at TTL 4, each node handling a query once, TTL 1 not
 * reaching a holder 3 hops away. */
#include "config.h"

#include <check.h>

#include "core/core.h"
#include "sim.h"
#include "testutil.h"

#define NODES 200

static struct sim *build(uint64_t seed)
{
	struct sim_config c;
	struct sim *s;

	sim_config_defaults(&c, NODES);
	c.seed = seed;
	ck_assert_int_eq(sim_new(&c, &s), 0);
	ck_assert_int_eq(sim_build(s, 120000), 0);
	return s;
}

START_TEST(degrees_within_bounds_and_connected)
{
	struct sim *s = build(1);

	for (size_t i = 0; i < NODES; i++) {
		size_t d = overlay_neighbour_count(sim_overlay(s, i));

		ck_assert_msg(d >= 4 && d <= 8, "node %zu has %zu neighbours", i, d);
	}
	ck_assert_uint_eq(sim_reachable(s, 0), NODES);
	sim_free(s);
	ck_assert_uint_eq(mem_live_objects(), 0);
}
END_TEST

static bool not_self(struct sim *s, size_t i, void *arg)
{
	return i == *(size_t *)arg;
}

START_TEST(file_found_at_ttl_4)
{
	struct sim *s = build(2);

	for (uint32_t f = 1; f <= 10; f++) {
		size_t holder = sim_random_alive(s, NULL, NULL);
		size_t from = sim_random_alive(s, not_self, &holder);
		struct sim_result r;
		int d = sim_distance(s, from, holder);

		ck_assert_int_eq(sim_share(s, holder, f), 0);
		ck_assert_int_ge(d, 1);
		/* a 200-node overlay of degree 4-8 is a few hops across: about 98 % of
		 * the pairs are within 4 (overlay-sim --nodes 200), the rest within 5 */
		ck_assert_msg(d <= 5, "%zu is %d hops from %zu", holder, d, from);
		ck_assert_int_eq(sim_search(s, from, f, d <= 4 ? 4 : 5, 5000, &r), 0);
		ck_assert_uint_eq(r.holders, 1);
		ck_assert_uint_eq(r.found, 1);
		/* the first copy to arrive may have taken a longer but faster way */
		ck_assert_uint_ge(r.first_hops, (unsigned)d);
	}
	sim_free(s);
}
END_TEST

START_TEST(each_node_handles_a_query_once)
{
	struct sim *s = build(3);
	uint64_t before[NODES];
	struct sim_result r;

	for (size_t i = 0; i < NODES; i++)
		before[i] = sim_match_calls(s, i);
	sim_counters_reset(s);
	ck_assert_int_eq(sim_search(s, 0, 424242, 7, 5000, &r), 0);
	for (size_t i = 1; i < NODES; i++)
		ck_assert_msg(sim_match_calls(s, i) - before[i] == 1,
			      "node %zu handled it %llu times", i,
			      (unsigned long long)(sim_match_calls(s, i) - before[i]));
	ck_assert_uint_eq(sim_match_calls(s, 0), before[0]);
	/* every delivery beyond the first at each node is a duplicate, dropped */
	ck_assert_uint_eq(sim_counters(s)->query_deliveries - sim_counters(s)->query_dups,
			  NODES - 1);
	sim_free(s);
}
END_TEST

START_TEST(ttl_1_does_not_reach_3_hops)
{
	struct sim *s = build(4);
	size_t from = 0, holder = SIZE_MAX;
	struct sim_result r;

	for (size_t i = 1; i < NODES && holder == SIZE_MAX; i++)
		if (sim_distance(s, from, i) == 3)
			holder = i;
	ck_assert_uint_ne(holder, SIZE_MAX);
	ck_assert_int_eq(sim_share(s, holder, 7), 0);
	for (unsigned ttl = 1; ttl <= 2; ttl++) {
		ck_assert_int_eq(sim_search(s, from, 7, ttl, 5000, &r), 0);
		ck_assert_uint_eq(r.found, 0);
		ck_assert_uint_eq(r.results, 0);
	}
	ck_assert_int_eq(sim_search(s, from, 7, 3, 5000, &r), 0);
	ck_assert_uint_eq(r.found, 1);
	ck_assert_uint_ge(r.first_hops, 3);
	sim_free(s);
}
END_TEST

START_TEST(survives_churn)
{
	struct sim *s = build(5);
	size_t holder, from;
	struct sim_result r;

	/* 20 % leave (half without a word), 20 % join; then a 2-minute repair */
	for (size_t k = 0; k < NODES / 5; k++) {
		sim_leave(s, sim_random_alive(s, NULL, NULL), k % 2);
		ck_assert_int_ge(sim_join(s), 0);
		sim_run_until(s, sim_now(s) + 500);
	}
	sim_run_until(s, sim_now(s) + 120000);
	for (size_t i = 0; i < sim_size(s); i++) {
		struct overlay *ov = sim_overlay(s, i);

		if (ov)
			ck_assert_uint_le(overlay_neighbour_count(ov), 8);
	}
	holder = sim_random_alive(s, NULL, NULL);
	from = sim_random_alive(s, not_self, &holder);
	ck_assert_int_eq(sim_share(s, holder, 99), 0);
	ck_assert_int_eq(sim_search(s, from, 99, 7, 5000, &r), 0);
	ck_assert_uint_eq(r.found, 1);
	sim_free(s);
	ck_assert_uint_eq(mem_live_objects(), 0);
}
END_TEST

/* 5 % of transmissions lost: SIP's retransmissions hide it, the overlay still forms
 * and still finds a file, only later. */
START_TEST(lossy_links)
{
	struct sim_config c;
	struct sim *s;
	struct sim_result r;
	size_t holder, from;

	sim_config_defaults(&c, NODES);
	c.seed = 6;
	c.loss = 0.05;
	ck_assert_int_eq(sim_new(&c, &s), 0);
	ck_assert_int_eq(sim_build(s, 120000), 0);
	for (size_t i = 0; i < NODES; i++)
		ck_assert_uint_ge(overlay_neighbour_count(sim_overlay(s, i)), 4);
	holder = sim_random_alive(s, NULL, NULL);
	from = sim_random_alive(s, not_self, &holder);
	ck_assert_int_eq(sim_share(s, holder, 5), 0);
	ck_assert_int_eq(sim_search(s, from, 5, 7, 10000, &r), 0);
	ck_assert_uint_eq(r.found, 1);
	ck_assert_uint_gt(sim_counters(s)->lost, 0);
	sim_free(s);
	ck_assert_uint_eq(mem_live_objects(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("overlay-sim");
	TCase *tc = tcase_create("sim");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, degrees_within_bounds_and_connected);
	tcase_add_test(tc, file_found_at_ttl_4);
	tcase_add_test(tc, each_node_handles_a_query_once);
	tcase_add_test(tc, ttl_1_does_not_reach_3_hops);
	tcase_add_test(tc, survives_churn);
	tcase_add_test(tc, lossy_links);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
