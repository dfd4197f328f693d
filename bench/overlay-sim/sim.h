/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A simulated network for the overlay: thousands of real overlay objects in one process,
 * a discrete-event clock, per-link latency, loss with SIP-style retransmission, churn.
 * Used by bench/overlay-sim and by tests/unit/test-overlay-sim. See README. */
#ifndef SIPSVC_OVERLAY_SIM_H
#define SIPSVC_OVERLAY_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overlay/overlay.h"

struct sim;

struct sim_config {
	size_t nodes; /* initial nodes */
	size_t extra; /* room for nodes joining later (churn) */
	uint64_t seed;
	unsigned access_mean_ms;    /* mean one-way access delay per node (exponential) */
	unsigned access_min_ms;	    /* plus this floor; link latency = a(i) + a(j) */
	double loss;		    /* per transmission; SIP retransmits (T1 = 500 ms, 7 tries) */
	unsigned bootstrap;	    /* bootstrap peers given to a joining node */
	unsigned join_gap_ms;	    /* time between two initial joins */
	struct overlay_config ocfg; /* contact, id and seed are set per node */
};

/** Defaults: 20 ms mean access delay + 2 ms, no loss, 3 bootstrap peers. */
void sim_config_defaults(struct sim_config *c, size_t nodes);

/** Network-wide message counters (reset with sim_counters_reset()). */
struct sim_counters {
	uint64_t queries, query_deliveries, query_dups, hits, peers, lost, failed;
};

/** One search's outcome as the originator saw it. */
struct sim_result {
	size_t holders, found; /* holders alive at the start; distinct holders that answered */
	size_t results;
	uint64_t first_ms, last_ms; /* simulated latency from the start; 0 without hits */
	unsigned first_hops, last_hops;
};

int sim_new(const struct sim_config *c, struct sim **ret);
void sim_free(struct sim *s);
/** Join the initial nodes one by one (join_gap_ms apart), then run @p settle_ms more. */
int sim_build(struct sim *s, uint64_t settle_ms);
/** Run events until simulated time @p t_ms. */
void sim_run_until(struct sim *s, uint64_t t_ms);
uint64_t sim_now(const struct sim *s);
/** Add a new node (bootstrapped from random live nodes). Returns its index or -errno. */
int sim_join(struct sim *s);
/** Node @p i leaves: politely (LEAVE to its neighbours) or by vanishing. */
void sim_leave(struct sim *s, size_t i, bool polite);
bool sim_alive(const struct sim *s, size_t i);
/** Number of node slots used (alive or not). */
size_t sim_size(const struct sim *s);
size_t sim_alive_count(const struct sim *s);
/** A random live node index, excluding those with @p skip(i) true (may be NULL). */
size_t sim_random_alive(struct sim *s, bool (*skip)(struct sim *s, size_t i, void *arg), void *arg);
uint64_t sim_random(struct sim *s);
struct overlay *sim_overlay(struct sim *s, size_t i);
/** Node @p i holds file @p file (its keyword is "f<file>"). */
int sim_share(struct sim *s, size_t i, uint32_t file);
bool sim_holds(const struct sim *s, size_t i, uint32_t file);
/** How many times node @p i was asked to match a query (its index lookups). */
uint64_t sim_match_calls(const struct sim *s, size_t i);
/** Search from @p from for @p file with @p ttl; runs the simulation until it ends. */
int sim_search(struct sim *s, size_t from, uint32_t file, unsigned ttl, unsigned timeout_ms,
	       struct sim_result *r);
/** Hop distance between two live nodes over the current links; -1 if unreachable. */
int sim_distance(struct sim *s, size_t a, size_t b);
const struct sim_counters *sim_counters(const struct sim *s);
void sim_counters_reset(struct sim *s);
/** Number of live nodes reachable from @p a over the current links (a included). */
size_t sim_reachable(struct sim *s, size_t a);
/** Count live nodes by hop distance from @p a: @p hist[h] for h < @p max, the rest
 * (and the unreachable) in hist[max]. */
void sim_hop_histogram(struct sim *s, size_t a, size_t *hist, unsigned max);
/** Average degree over live nodes. */
double sim_mean_degree(struct sim *s);

#endif
