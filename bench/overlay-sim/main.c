/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* overlay-sim: the real overlay code on a simulated network of N nodes; prints recall,
 * messages, duplicates, hops, latency and memory per TTL, then the same under churn.
 * See bench/overlay-sim/README for the model. */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define CLASSES 3
static const unsigned class_holders[CLASSES] = {1, 10, 100};

struct opts {
	size_t nodes;
	unsigned queries, timeout_ms, churn_pct;
	double loss;
	uint64_t seed;
	uint64_t settle_ms;
};

/* Sums over the queries of one TTL (and one phase). */
struct acc {
	double recall[CLASSES];
	unsigned n[CLASSES];
	double msgs, dups, hitmsgs;
	unsigned nq;
	double first_ms, last_ms, first_hops, last_hops;
	unsigned with_hits;
	double *firsts, *lasts; /* per search with hits: the latency distribution */
};

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: overlay-sim [--nodes N] [--queries Q] [--timeout-ms MS] [--loss P]\n"
		"                   [--churn PCT] [--seed S] [--settle-s S]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"nodes", required_argument, NULL, 'n'},	  {"queries", required_argument, NULL, 'q'},
	    {"timeout-ms", required_argument, NULL, 't'}, {"loss", required_argument, NULL, 'l'},
	    {"churn", required_argument, NULL, 'c'},	  {"seed", required_argument, NULL, 's'},
	    {"settle-s", required_argument, NULL, 'S'},	  {NULL, 0, NULL, 0}};
	int c;

	*o = (struct opts){.nodes = 1000,
			   .queries = 10,
			   .timeout_ms = 5000,
			   .churn_pct = 10,
			   .loss = 0.01,
			   .seed = 1,
			   .settle_ms = 120000};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->nodes = strtoul(optarg, NULL, 10);
			break;
		case 'q':
			o->queries = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			o->timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			o->loss = strtod(optarg, NULL);
			break;
		case 'c':
			o->churn_pct = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 10);
			break;
		case 'S':
			o->settle_ms = strtoull(optarg, NULL, 10) * 1000;
			break;
		default:
			usage();
		}
	}
	if (o->nodes < 200 || o->queries == 0)
		usage();
}

/* File ids: class c, number q. Holders are distinct random nodes. */
static uint32_t file_id(unsigned c, unsigned q)
{
	return c * 100000u + q;
}

static void place_files(struct sim *s, const struct opts *o)
{
	for (unsigned c = 0; c < CLASSES; c++)
		for (unsigned q = 0; q < o->queries; q++)
			for (unsigned k = 0; k < class_holders[c];) {
				size_t i = sim_random_alive(s, NULL, NULL);

				if (sim_holds(s, i, file_id(c, q)))
					continue;
				sim_share(s, i, file_id(c, q));
				k++;
			}
}

static bool holds_arg(struct sim *s, size_t i, void *arg)
{
	return sim_holds(s, i, *(uint32_t *)arg);
}

static void one_query(struct sim *s, const struct opts *o, unsigned ttl, unsigned c, unsigned q,
		      struct acc *a)
{
	uint32_t f = file_id(c, q);
	size_t from = sim_random_alive(s, holds_arg, &f);
	const struct sim_counters *ctr = sim_counters(s);
	struct sim_result r;

	sim_counters_reset(s);
	if (sim_search(s, from, f, ttl, o->timeout_ms, &r) < 0)
		return; /* an originator without neighbours: counted as nothing sent */
	if (r.holders > 0) {
		a->recall[c] += (double)r.found / (double)r.holders;
		a->n[c]++;
	}
	a->msgs += (double)ctr->queries;
	a->dups += (double)ctr->query_dups;
	a->hitmsgs += (double)ctr->hits;
	a->nq++;
	if (r.results > 0) {
		a->first_ms += (double)r.first_ms;
		a->last_ms += (double)r.last_ms;
		a->first_hops += r.first_hops;
		a->last_hops += r.last_hops;
		a->firsts[a->with_hits] = (double)r.first_ms;
		a->lasts[a->with_hits] = (double)r.last_ms;
		a->with_hits++;
	}
}

static double analytic(double d, unsigned ttl, size_t n)
{
	double sum = 0, term = d, cap;

	for (unsigned h = 1; h <= ttl; h++) {
		sum += term;
		term *= d - 1;
	}
	/* the origin sends d, every other node at most d-1 (never back to its sender) */
	cap = d + (d - 1) * (double)(n - 1);
	return sum < cap ? sum : cap;
}

static void print_header(void)
{
	printf("%3s %7s %7s %7s %9s %9s %8s %7s %11s %11s\n", "TTL", "rec@1", "rec@10", "rec@100",
	       "msgs/q", "analytic", "dups/q", "hits/q", "first ms/h", "last ms/h");
}

static void print_row(unsigned ttl, const struct acc *a, double d, size_t n)
{
	double w = a->with_hits ? a->with_hits : 1, nq = a->nq ? a->nq : 1;

	printf("%3u", ttl);
	for (unsigned c = 0; c < CLASSES; c++)
		printf(" %7.3f", a->n[c] ? a->recall[c] / a->n[c] : 0.0);
	printf(" %9.0f %9.0f %8.0f %7.1f %6.0f/%-4.1f %6.0f/%-4.1f\n", a->msgs / nq,
	       analytic(d, ttl, n), a->dups / nq, a->hitmsgs / nq, a->first_ms / w,
	       a->first_hops / w, a->last_ms / w, a->last_hops / w);
}

static void degree_report(struct sim *s, const char *when)
{
	size_t lo = SIZE_MAX, hi = 0, out = 0, alive = 0, first = SIZE_MAX;
	const struct overlay_config *oc = NULL;
	size_t mem = 0;

	(void)oc;
	for (size_t i = 0; i < sim_size(s); i++) {
		struct overlay *ov = sim_overlay(s, i);
		size_t d;

		if (!ov)
			continue;
		if (first == SIZE_MAX)
			first = i;
		alive++;
		d = overlay_neighbour_count(ov);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		out += d < 4 || d > 8;
		mem += overlay_memory(ov);
	}
	printf("%s: %zu nodes, degree min/mean/max %zu/%.2f/%zu, %zu outside [4,8], "
	       "%zu reachable from one node, overlay memory %.0f bytes/node\n",
	       when, alive, lo, sim_mean_degree(s), hi, out, sim_reachable(s, first),
	       (double)mem / (double)alive);
}

/* How far the network reaches: share of nodes within h hops, averaged over a few
 * random starts. A flood with TTL h can reach no more than this. */
static void reach_report(struct sim *s)
{
	size_t hist[OVERLAY_TTL_MAX + 2], sum[OVERLAY_TTL_MAX + 2] = {0},
								alive = sim_alive_count(s);
	const unsigned starts = 10;

	for (unsigned k = 0; k < starts; k++) {
		sim_hop_histogram(s, sim_random_alive(s, NULL, NULL), hist, OVERLAY_TTL_MAX + 1);
		for (unsigned h = 0; h <= OVERLAY_TTL_MAX + 1; h++)
			sum[h] += hist[h];
	}
	printf("share of nodes within h hops (mean of %u starts):", starts);
	for (unsigned h = 1, cum = 0; h <= OVERLAY_TTL_MAX; h++) {
		cum += (unsigned)(sum[h] + (h == 1 ? sum[0] : 0));
		printf(" %u:%.3f", h, (double)cum / starts / (double)alive);
	}
	printf("\n");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The value below which a share @p p of the sorted @p v lies (nearest rank). */
static double pct(double *v, unsigned n, double p)
{
	unsigned i = (unsigned)(p * n + 0.999999);

	return n ? v[i == 0 ? 0 : i - 1] : 0.0;
}

static void print_latency(struct acc *acc)
{
	printf("latency of the first / last hit over the searches with hits (ms): "
	       "p50 p90 max\n");
	for (unsigned ttl = 2; ttl <= OVERLAY_TTL_MAX; ttl++) {
		struct acc *a = &acc[ttl];

		qsort(a->firsts, a->with_hits, sizeof(double), cmp_double);
		qsort(a->lasts, a->with_hits, sizeof(double), cmp_double);
		printf(
		    "  TTL %u (%2u searches): first %5.0f %5.0f %5.0f   last %5.0f %5.0f %5.0f\n",
		    ttl, a->with_hits, pct(a->firsts, a->with_hits, 0.5),
		    pct(a->firsts, a->with_hits, 0.9), pct(a->firsts, a->with_hits, 1.0),
		    pct(a->lasts, a->with_hits, 0.5), pct(a->lasts, a->with_hits, 0.9),
		    pct(a->lasts, a->with_hits, 1.0));
	}
}

static void run_phase(struct sim *s, const struct opts *o, bool churn)
{
	struct acc acc[OVERLAY_TTL_MAX + 1];
	size_t total_churn = churn ? o->nodes * o->churn_pct / 100 : 0;
	unsigned steps = OVERLAY_TTL_MAX * CLASSES * o->queries, step = 0;
	size_t churned = 0;
	double d = sim_mean_degree(s);

	memset(acc, 0, sizeof(acc));
	for (unsigned ttl = 1; ttl <= OVERLAY_TTL_MAX; ttl++) {
		acc[ttl].firsts = calloc((size_t)CLASSES * o->queries, sizeof(double));
		acc[ttl].lasts = calloc((size_t)CLASSES * o->queries, sizeof(double));
		if (!acc[ttl].firsts || !acc[ttl].lasts)
			abort();
	}
	/* TTLs interleaved so that each sees the same network (and, here, the same churn) */
	for (unsigned q = 0; q < o->queries; q++)
		for (unsigned c = 0; c < CLASSES; c++)
			for (unsigned ttl = 1; ttl <= OVERLAY_TTL_MAX; ttl++) {
				size_t due = total_churn * ++step / steps;

				for (; churned < due; churned++) {
					sim_leave(s, sim_random_alive(s, NULL, NULL), churned % 2);
					(void)sim_join(s);
				}
				one_query(s, o, ttl, c, q, &acc[ttl]);
			}
	print_header();
	for (unsigned ttl = 1; ttl <= OVERLAY_TTL_MAX; ttl++)
		print_row(ttl, &acc[ttl], d, o->nodes);
	print_latency(acc);
	for (unsigned ttl = 1; ttl <= OVERLAY_TTL_MAX; ttl++) {
		free(acc[ttl].firsts);
		free(acc[ttl].lasts);
	}
}

int main(int argc, char **argv)
{
	struct sim_config sc;
	struct opts o;
	struct sim *s;
	double t0 = wall(), t1;

	parse(argc, argv, &o);
	sim_config_defaults(&sc, o.nodes);
	sc.seed = o.seed;
	sc.loss = o.loss;
	sc.extra = o.nodes * o.churn_pct / 100 + 8;
	if (sim_new(&sc, &s) < 0 || sim_build(s, o.settle_ms) < 0) {
		fprintf(stderr, "overlay-sim: cannot build the overlay\n");
		return 1;
	}
	t1 = wall();
	printf(
	    "== %zu nodes, min/max neighbours %u/%u, refresh %u s, latency %u+exp(%u) ms per end, "
	    "loss %.1f%%, %u queries per TTL and class, timeout %u ms, seed %llu\n",
	    o.nodes, sc.ocfg.min_neighbours, sc.ocfg.max_neighbours, sc.ocfg.refresh_s,
	    sc.access_min_ms, sc.access_mean_ms, o.loss * 100, o.queries, o.timeout_ms,
	    (unsigned long long)o.seed);
	degree_report(s, "after joining and settling");
	reach_report(s);
	place_files(s, &o);
	printf("-- stable network (recall = holders found / holders; msgs = query messages;"
	       " analytic = sum d(d-1)^(h-1), capped at d+(N-1)(d-1))\n");
	run_phase(s, &o, false);
	degree_report(s, "after the searches");
	printf("-- %u%% churn during the searches (%zu leave, half politely, %zu join)\n",
	       o.churn_pct, o.nodes * o.churn_pct / 100, o.nodes * o.churn_pct / 100);
	run_phase(s, &o, true);
	degree_report(s, "after churn");
	sim_run_until(s, sim_now(s) + 120000);
	degree_report(s, "2 minutes later");
	printf("simulated %.0f s in %.1f s wall (build %.1f s)\n", (double)sim_now(s) / 1000.0,
	       wall() - t0, t1 - t0);
	sim_free(s);
	return 0;
}
