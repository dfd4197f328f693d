/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The simulated network: a binary heap of events in simulated milliseconds. Every node
 * is a real struct overlay whose transport puts messages on the heap and whose clock
 * is the heap's. Nothing here reaches into the overlay's insides. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "sim.h"

#define SIP_T1_MS      500 /* RFC 3261 17.1.2.2: first retransmission */
#define SIP_TRIES      7   /* Timer F = 64*T1 covers about seven transmissions */
#define SIP_TIMER_F_MS (64 * SIP_T1_MS)

enum ev_type { SIM_TIMER, SIM_PEERS, SIM_QUERY, SIM_HIT, SIM_DONE };

struct event {
	uint64_t t, seq;
	enum ev_type type;
	uint32_t node, gen;
	void *p;
};

struct msg {
	uint32_t src;
	overlay_send_done_h *done;
	void *arg;
	int err; /* SIM_DONE */
	union {
		struct overlay_peers peers;
		struct overlay_query q;
		struct overlay_hit h;
	} u;
};

struct node {
	struct sim *sim;
	uint32_t idx, gen;
	bool alive;
	struct overlay *ov;
	struct overlay_peer self;
	uint64_t timer_at;
	unsigned access_ms;
	uint32_t *files;
	size_t n_files;
	uint64_t match_calls;
};

struct search_ctx {
	struct sim *s;
	uint64_t start;
	uint32_t file;
	struct sim_result *r;
	size_t *found_nodes; /* distinct holders seen */
	bool done;
};

struct sim {
	struct sim_config cfg;
	uint64_t now, seq, rng;
	struct event *heap;
	size_t n_ev, cap_ev;
	struct node *nodes;
	size_t n_nodes, cap_nodes;
	struct sim_counters ctr;
};

/* ---- random numbers and the heap ---------------------------------------------------- */

uint64_t sim_random(struct sim *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double uniform(struct sim *s)
{
	return (double)(sim_random(s) >> 11) / 9007199254740992.0;
}

static bool ev_less(const struct event *a, const struct event *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int push(struct sim *s, uint64_t t, enum ev_type type, uint32_t node, void *p)
{
	size_t i;

	if (s->n_ev == s->cap_ev) {
		size_t cap = s->cap_ev ? s->cap_ev * 2 : 4096;
		struct event *h = realloc(s->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		s->heap = h;
		s->cap_ev = cap;
	}
	i = s->n_ev++;
	s->heap[i] = (struct event){.t = t,
				    .seq = s->seq++,
				    .type = type,
				    .node = node,
				    .gen = node < s->n_nodes ? s->nodes[node].gen : 0,
				    .p = p};
	while (i > 0 && ev_less(&s->heap[i], &s->heap[(i - 1) / 2])) {
		struct event tmp = s->heap[i];

		s->heap[i] = s->heap[(i - 1) / 2];
		s->heap[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
	return 0;
}

static struct event pop(struct sim *s)
{
	struct event top = s->heap[0];
	size_t i = 0;

	s->heap[0] = s->heap[--s->n_ev];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->n_ev && ev_less(&s->heap[l], &s->heap[m]))
			m = l;
		if (r < s->n_ev && ev_less(&s->heap[r], &s->heap[m]))
			m = r;
		if (m == i)
			break;
		struct event tmp = s->heap[i];

		s->heap[i] = s->heap[m];
		s->heap[m] = tmp;
		i = m;
	}
	return top;
}

/* ---- the transport ------------------------------------------------------------------ */

static int contact_node(struct sim *s, const char *contact)
{
	unsigned long i;
	char *end;

	if (contact[0] != 'h')
		return -1;
	i = strtoul(contact + 1, &end, 10);
	if (*end != ':' || i >= s->n_nodes)
		return -1;
	return (int)i;
}

/* One-way delay including retransmissions of lost copies; UINT64_MAX if all are lost. */
static uint64_t transit(struct sim *s, const struct node *a, const struct node *b)
{
	uint64_t d = a->access_ms + b->access_ms, backoff = SIP_T1_MS;

	for (int tries = 0; tries < SIP_TRIES; tries++) {
		if (s->cfg.loss <= 0 || uniform(s) >= s->cfg.loss)
			return d;
		s->ctr.lost++;
		d += backoff;
		backoff *= 2;
	}
	return UINT64_MAX;
}

static int send_msg(struct node *from, const struct overlay_peer *to, enum ev_type type,
		    const void *body, size_t body_len, overlay_send_done_h *done, void *arg)
{
	struct sim *s = from->sim;
	int dst = contact_node(s, to->contact);
	struct msg *m;
	uint64_t d;

	if (dst < 0)
		return -EHOSTUNREACH;
	m = malloc(offsetof(struct msg, u) + body_len);
	if (!m)
		return -ENOMEM;
	m->src = from->idx;
	m->done = done;
	m->arg = arg;
	m->err = 0;
	memcpy(&m->u, body, body_len);
	d = transit(s, from, &s->nodes[dst]);
	if (d == UINT64_MAX) {
		s->ctr.failed++;
		if (!done) {
			free(m);
			return 0;
		}
		m->err = -ETIMEDOUT;
		return push(s, s->now + SIP_TIMER_F_MS, SIM_DONE, from->idx, m);
	}
	return push(s, s->now + d, type, (uint32_t)dst, m);
}

static int tp_send_peers(void *ctx, const struct overlay_peer *to, const struct overlay_peers *m,
			 overlay_send_done_h *done, void *arg)
{
	struct node *n = ctx;

	n->sim->ctr.peers++;
	/* only the entries in use travel: refreshes are most of the traffic */
	return send_msg(n, to, SIM_PEERS, m,
			offsetof(struct overlay_peers, peers) + m->n * sizeof(m->peers[0]), done,
			arg);
}

static int tp_send_query(void *ctx, const struct overlay_peer *to, const struct overlay_query *q,
			 overlay_send_done_h *done, void *arg)
{
	struct node *n = ctx;

	n->sim->ctr.queries++;
	return send_msg(n, to, SIM_QUERY, q, sizeof(*q), done, arg);
}

static int tp_send_hit(void *ctx, const struct overlay_peer *to, const struct overlay_hit *h,
		       overlay_send_done_h *done, void *arg)
{
	struct node *n = ctx;

	n->sim->ctr.hits++;
	/* only the files actually in it travel */
	return send_msg(n, to, SIM_HIT, h,
			offsetof(struct overlay_hit, files) + h->n * sizeof(h->files[0]), done,
			arg);
}

static uint64_t clk_now(void *ctx)
{
	struct node *n = ctx;

	return n->sim->now;
}

static void clk_arm(void *ctx, struct overlay *ov, uint64_t at)
{
	struct node *n = ctx;

	n->timer_at = at;
	if (at != UINT64_MAX)
		(void)push(n->sim, at < n->sim->now ? n->sim->now : at, SIM_TIMER, n->idx, NULL);
}

/* ---- the share index: file ids as keywords "f<id>" -------------------------------------- */

static int match(const char *keywords, struct overlay_file *files, size_t max, void *arg)
{
	struct node *n = arg;
	unsigned long id;

	n->match_calls++;
	if (keywords[0] != 'f' || max == 0)
		return 0;
	id = strtoul(keywords + 1, NULL, 10);
	for (size_t i = 0; i < n->n_files; i++)
		if (n->files[i] == id) {
			snprintf(files[0].name, sizeof(files[0].name), "file-%lu.dat", id);
			files[0].size = 1000 + id;
			return 1;
		}
	return 0;
}

/* ---- events --------------------------------------------------------------------------- */

static void done_later(struct sim *s, struct msg *m, uint64_t delay, int err)
{
	m->err = err;
	if (push(s, s->now + delay, SIM_DONE, m->src, m) < 0) {
		m->done(err, m->arg);
		free(m);
	}
}

static void deliver(struct sim *s, const struct event *e)
{
	struct node *n = &s->nodes[e->node];
	struct msg *m = e->p;
	struct overlay_peer *from = &s->nodes[m->src].self;

	if (!n->alive || n->gen != e->gen) {
		/* nobody there: the sender's transaction times out (Timer F) */
		if (m->done)
			done_later(s, m, SIP_TIMER_F_MS, -ETIMEDOUT);
		else
			free(m);
		return;
	}
	if (e->type == SIM_PEERS)
		(void)overlay_recv_peers(n->ov, &m->u.peers);
	else if (e->type == SIM_QUERY) {
		s->ctr.query_deliveries++;
		if (overlay_recv_query(n->ov, from, &m->u.q) == -EALREADY)
			s->ctr.query_dups++;
	} else
		(void)overlay_recv_hit(n->ov, from, &m->u.h);
	if (m->done) /* the 200 OK travels back */
		done_later(s, m, n->access_ms + s->nodes[m->src].access_ms, 0);
	else
		free(m);
}

static void step(struct sim *s)
{
	struct event e = pop(s);
	struct node *n;

	s->now = e.t > s->now ? e.t : s->now;
	switch (e.type) {
	case SIM_TIMER:
		n = &s->nodes[e.node];
		if (n->alive && n->gen == e.gen && n->timer_at <= s->now) {
			n->timer_at = UINT64_MAX;
			overlay_timers_run(n->ov);
		}
		break;
	case SIM_DONE: {
		struct msg *m = e.p;

		m->done(m->err, m->arg);
		free(m);
		break;
	}
	default:
		deliver(s, &e);
	}
}

void sim_run_until(struct sim *s, uint64_t t_ms)
{
	while (s->n_ev > 0 && s->heap[0].t <= t_ms)
		step(s);
	if (s->now < t_ms)
		s->now = t_ms;
}

uint64_t sim_now(const struct sim *s)
{
	return s->now;
}

/* ---- nodes ---------------------------------------------------------------------------- */

void sim_config_defaults(struct sim_config *c, size_t nodes)
{
	*c = (struct sim_config){.nodes = nodes,
				 .extra = nodes / 5 + 8,
				 .seed = 1,
				 .access_mean_ms = 20,
				 .access_min_ms = 2,
				 .bootstrap = 3,
				 .join_gap_ms = 10};
	overlay_config_defaults(&c->ocfg);
	c->ocfg.known_max = 64;
	c->ocfg.qcache_max = 1024;
}

static void node_bootstrap(struct sim *s, struct node *n)
{
	size_t alive = sim_alive_count(s);

	for (unsigned b = 0; b < s->cfg.bootstrap && alive > 1; b++) {
		size_t j = (size_t)(sim_random(s) % s->n_nodes);
		struct overlay_peer p = {0};

		if (j == n->idx || !s->nodes[j].alive)
			continue;
		/* by contact only, as `sipsvcd --bootstrap sip:HOST:PORT` gives them */
		snprintf(p.contact, sizeof(p.contact), "%s", s->nodes[j].self.contact);
		(void)overlay_bootstrap_add(n->ov, &p);
	}
}

int sim_join(struct sim *s)
{
	static const struct overlay_transport tp = {tp_send_peers, tp_send_query, tp_send_hit,
						    NULL};
	struct overlay_transport t = tp;
	struct overlay_clock clk = {clk_now, clk_arm, NULL};
	struct overlay_config oc = s->cfg.ocfg;
	struct node *n;
	int r;

	if (s->n_nodes == s->cap_nodes)
		return -ENOSPC;
	n = &s->nodes[s->n_nodes];
	*n = (struct node){.sim = s, .idx = (uint32_t)s->n_nodes, .gen = 1, .timer_at = UINT64_MAX};
	for (size_t i = 0; i < OVERLAY_ID_LEN; i += 8) {
		uint64_t x = sim_random(s);

		memcpy(n->self.id.b + i, &x, 8);
	}
	snprintf(n->self.contact, sizeof(n->self.contact), "h%zu:5060", s->n_nodes);
	n->access_ms =
	    s->cfg.access_min_ms + (unsigned)(-log(1.0 - uniform(s)) * s->cfg.access_mean_ms);
	oc.contact = n->self.contact;
	oc.id = &n->self.id;
	oc.seed = sim_random(s) | 1;
	oc.state_dir = NULL;
	t.ctx = n;
	clk.ctx = n;
	r = overlay_new(&oc, &t, &clk, match, n, &n->ov);
	if (r < 0)
		return r;
	s->n_nodes++;
	node_bootstrap(s, n);
	n->alive = true;
	overlay_start(n->ov);
	return (int)n->idx;
}

void sim_leave(struct sim *s, size_t i, bool polite)
{
	struct node *n = &s->nodes[i];

	if (!n->alive)
		return;
	if (polite)
		overlay_leave(n->ov);
	n->alive = false;
	n->gen++;
	overlay_free(n->ov);
	n->ov = NULL;
}

int sim_new(const struct sim_config *c, struct sim **ret)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cfg = *c;
	s->rng = c->seed * 0x9E3779B97F4A7C15ULL | 1;
	s->cap_nodes = c->nodes + c->extra;
	s->nodes = calloc(s->cap_nodes, sizeof(*s->nodes));
	if (!s->nodes) {
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

int sim_build(struct sim *s, uint64_t settle_ms)
{
	for (size_t i = 0; i < s->cfg.nodes; i++) {
		int r = sim_join(s);

		if (r < 0)
			return r;
		sim_run_until(s, s->now + s->cfg.join_gap_ms);
	}
	sim_run_until(s, s->now + settle_ms);
	return 0;
}

void sim_free(struct sim *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_nodes; i++) {
		sim_leave(s, i, false);
		free(s->nodes[i].files);
	}
	/* what is still in flight: senders hear of the cancellation, payloads go */
	while (s->n_ev > 0) {
		struct event e = pop(s);
		struct msg *m = e.p;

		if (m && m->done)
			m->done(-ECANCELED, m->arg);
		free(m);
	}
	free(s->heap);
	free(s->nodes);
	free(s);
}

bool sim_alive(const struct sim *s, size_t i)
{
	return i < s->n_nodes && s->nodes[i].alive;
}

size_t sim_size(const struct sim *s)
{
	return s->n_nodes;
}

size_t sim_alive_count(const struct sim *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_nodes; i++)
		n += s->nodes[i].alive;
	return n;
}

size_t sim_random_alive(struct sim *s, bool (*skip)(struct sim *s, size_t i, void *arg), void *arg)
{
	for (;;) {
		size_t i = (size_t)(sim_random(s) % s->n_nodes);

		if (s->nodes[i].alive && !(skip && skip(s, i, arg)))
			return i;
	}
}

struct overlay *sim_overlay(struct sim *s, size_t i)
{
	return sim_alive(s, i) ? s->nodes[i].ov : NULL;
}

int sim_share(struct sim *s, size_t i, uint32_t file)
{
	struct node *n = &s->nodes[i];
	uint32_t *f = realloc(n->files, (n->n_files + 1) * sizeof(*f));

	if (!f)
		return -ENOMEM;
	n->files = f;
	n->files[n->n_files++] = file;
	return 0;
}

bool sim_holds(const struct sim *s, size_t i, uint32_t file)
{
	const struct node *n = &s->nodes[i];

	for (size_t k = 0; k < n->n_files; k++)
		if (n->files[k] == file)
			return true;
	return false;
}

uint64_t sim_match_calls(const struct sim *s, size_t i)
{
	return s->nodes[i].match_calls;
}

const struct sim_counters *sim_counters(const struct sim *s)
{
	return &s->ctr;
}

void sim_counters_reset(struct sim *s)
{
	memset(&s->ctr, 0, sizeof(s->ctr));
}

double sim_mean_degree(struct sim *s)
{
	size_t sum = 0, n = 0;

	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].alive) {
			sum += overlay_neighbour_count(s->nodes[i].ov);
			n++;
		}
	return n ? (double)sum / (double)n : 0.0;
}

/* ---- searches ------------------------------------------------------------------------- */

static void on_hit(struct overlay_search *os, const struct overlay_hit *h,
		   const struct overlay_file *f, void *arg)
{
	struct search_ctx *c = arg;
	struct sim_result *r = c->r;
	int holder = contact_node(c->s, h->holder.contact);
	uint64_t t = c->s->now - c->start;

	r->results++;
	if (r->results == 1) {
		r->first_ms = t;
		r->first_hops = h->hops;
	}
	r->last_ms = t;
	r->last_hops = h->hops;
	if (holder < 0 || !sim_holds(c->s, (size_t)holder, c->file))
		return;
	for (size_t i = 0; i < r->found; i++)
		if (c->found_nodes[i] == (size_t)holder)
			return;
	if (r->found < r->holders)
		c->found_nodes[r->found++] = (size_t)holder;
}

static void on_done(struct overlay_search *os, size_t results, void *arg)
{
	struct search_ctx *c = arg;

	c->done = true;
}

int sim_search(struct sim *s, size_t from, uint32_t file, unsigned ttl, unsigned timeout_ms,
	       struct sim_result *r)
{
	struct search_ctx c = {.s = s, .start = s->now, .file = file, .r = r};
	char kw[32];
	int ret;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < s->n_nodes; i++)
		r->holders += s->nodes[i].alive && i != from && sim_holds(s, i, file);
	c.found_nodes = calloc(r->holders + 1, sizeof(size_t));
	if (!c.found_nodes)
		return -ENOMEM;
	snprintf(kw, sizeof(kw), "f%u", file);
	ret = overlay_search_start(s->nodes[from].ov, kw, ttl, timeout_ms,
				   OVERLAY_SEARCH_RESULTS_MAX, on_hit, on_done, &c, NULL);
	while (ret == 0 && !c.done && s->n_ev > 0) {
		step(s);
		if (!s->nodes[from].alive)
			break;
	}
	free(c.found_nodes);
	return ret;
}

/* Breadth-first over the live links from @p a; fills dist (-1: unreached). */
static size_t bfs(struct sim *s, size_t a, int *dist, size_t *queue)
{
	size_t head = 0, tail = 0;

	for (size_t i = 0; i < s->n_nodes; i++)
		dist[i] = -1;
	dist[a] = 0;
	queue[tail++] = a;
	while (head < tail) {
		size_t u = queue[head++];
		const struct overlay_peer *p;

		for (size_t k = 0; (p = overlay_neighbour(s->nodes[u].ov, k)); k++) {
			int v = contact_node(s, p->contact);

			if (v < 0 || !s->nodes[v].alive || dist[v] >= 0)
				continue;
			dist[v] = dist[u] + 1;
			queue[tail++] = (size_t)v;
		}
	}
	return tail;
}

int sim_distance(struct sim *s, size_t a, size_t b)
{
	int *dist = malloc(s->n_nodes * sizeof(int));
	size_t *queue = malloc(s->n_nodes * sizeof(size_t));
	int d = -1;

	if (dist && queue) {
		bfs(s, a, dist, queue);
		d = dist[b];
	}
	free(dist);
	free(queue);
	return d;
}

size_t sim_reachable(struct sim *s, size_t a)
{
	int *dist = malloc(s->n_nodes * sizeof(int));
	size_t *queue = malloc(s->n_nodes * sizeof(size_t));
	size_t n = 0;

	if (dist && queue)
		n = bfs(s, a, dist, queue);
	free(dist);
	free(queue);
	return n;
}

void sim_hop_histogram(struct sim *s, size_t a, size_t *hist, unsigned max)
{
	int *dist = malloc(s->n_nodes * sizeof(int));
	size_t *queue = malloc(s->n_nodes * sizeof(size_t));

	memset(hist, 0, (max + 1) * sizeof(*hist));
	if (dist && queue) {
		bfs(s, a, dist, queue);
		for (size_t i = 0; i < s->n_nodes; i++)
			if (s->nodes[i].alive)
				hist[dist[i] >= 0 && (unsigned)dist[i] < max ? (unsigned)dist[i]
									     : max]++;
	}
	free(dist);
	free(queue);
}
