/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The overlay object: creation, the one deadline, the libev clock, Status. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml.h"
#include "core/core.h"
#include "overlay/overlay-private.h"

void overlay_config_defaults(struct overlay_config *c)
{
	*c = (struct overlay_config){
	    .min_neighbours = 4,
	    .max_neighbours = 8,
	    .refresh_s = 60,
	    .connect_timeout_ms = 5000,
	    .known_max = 256,
	    .qcache_max = 4096,
	    .route_ttl_s = 120,
	    .query_rate = 10,
	    .query_burst = 20,
	    .max_files_per_hit = OVERLAY_HIT_FILES_MAX,
	};
}

static int config_check(const struct overlay_config *c)
{
	if (c->min_neighbours > c->max_neighbours || c->max_neighbours == 0 ||
	    c->max_neighbours > OVERLAY_NEIGHBOURS_MAX)
		return -EINVAL;
	if (c->known_max == 0 || c->known_max > OVERLAY_KNOWN_MAX || c->qcache_max < 16 ||
	    c->qcache_max > (1u << 20) || c->refresh_s == 0 || c->query_burst == 0)
		return -EINVAL;
	if (c->max_files_per_hit == 0 || c->max_files_per_hit > OVERLAY_HIT_FILES_MAX)
		return -EINVAL;
	if (!overlay_contact_valid(c->contact))
		return -EINVAL;
	return 0;
}

uint64_t ov_now(const struct overlay *ov)
{
	return ov->clk.now_ms(ov->clk.ctx);
}

/* xorshift64*: neighbour choice needs no cryptography, and a seeded run must be
 * reproducible in the simulator. */
uint64_t ov_random(struct overlay *ov)
{
	uint64_t x = ov->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	ov->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static int identity_init(struct overlay *ov, const struct overlay_config *cfg)
{
	int r = 0;

	if (cfg->id)
		ov->id = *cfg->id;
	else if (cfg->state_dir)
		r = overlay_node_id_load(cfg->state_dir, &ov->id);
	else
		r = overlay_id_random(&ov->id);
	if (r < 0)
		return r;
	if (overlay_id_is_zero(&ov->id))
		return -EINVAL;
	if (cfg->seed) {
		ov->rng = cfg->seed;
	} else {
		struct overlay_id s;

		r = overlay_id_random(&s);
		if (r < 0)
			return r;
		memcpy(&ov->rng, s.b, sizeof(ov->rng));
	}
	ov->rng |= 1; /* xorshift must not start at 0 */
	return 0;
}

static int overlay_init(struct overlay *ov, const struct overlay_config *cfg)
{
	int r;

	ov->cfg = *cfg;
	snprintf(ov->contact, sizeof(ov->contact), "%s", cfg->contact);
	ov->cfg.contact = ov->contact;
	ov->cfg.id = NULL;
	if (cfg->state_dir) {
		ov->state_dir = strdup(cfg->state_dir);
		if (!ov->state_dir)
			return -ENOMEM;
	}
	ov->cfg.state_dir = ov->state_dir;
	r = identity_init(ov, cfg);
	if (r < 0)
		return r;
	ov->links = calloc(cfg->max_neighbours, sizeof(*ov->links));
	ov->known = calloc(cfg->known_max, sizeof(*ov->known));
	if (!ov->links || !ov->known)
		return -ENOMEM;
	r = qcache_init(&ov->qc, cfg->qcache_max);
	if (r < 0)
		return r;
	if (ov->state_dir)
		(void)known_load(ov); /* a corrupt file is ignored: bootstrap peers remain */
	return 0;
}

/* The husk stays while sends are out (their done callbacks hold references). */
static void overlay_destroy(void *data)
{
	struct overlay *ov = data;

	free(ov->state_dir);
}

int overlay_new(const struct overlay_config *cfg, const struct overlay_transport *tp,
		const struct overlay_clock *clk, overlay_match_h *match, void *match_arg,
		struct overlay **ret)
{
	struct overlay *ov;
	int r;

	if (!cfg || !tp || !clk || !tp->send_peers || !tp->send_query || !tp->send_hit ||
	    !clk->now_ms || !clk->arm || !ret)
		return -EINVAL;
	r = config_check(cfg);
	if (r < 0)
		return r;
	ov = mem_zalloc(sizeof(*ov), overlay_destroy);
	if (!ov)
		return -ENOMEM;
	ov->tp = *tp;
	ov->clk = *clk;
	ov->match = match;
	ov->match_arg = match_arg;
	ov->armed_ms = UINT64_MAX;
	r = overlay_init(ov, cfg);
	if (r < 0) {
		overlay_free(ov);
		return r;
	}
	*ret = ov;
	return 0;
}

void overlay_free(struct overlay *ov)
{
	if (!ov)
		return;
	searches_free(ov);
	if (ov->state_dir && ov->known_dirty)
		(void)known_save(ov);
	qcache_free(&ov->qc);
	free(ov->links);
	free(ov->known);
	ov->links = NULL;
	ov->known = NULL;
	ov->n_known = 0;
	ov->dead = true;
	ov->clk.arm(ov->clk.ctx, ov, UINT64_MAX);
	mem_deref(ov);
}

void overlay_start(struct overlay *ov)
{
	ov->started = true;
	ov_arm_at(ov, ov_now(ov));
}

void overlay_timers_run(struct overlay *ov)
{
	uint64_t now, next = UINT64_MAX;

	if (ov->dead)
		return;
	now = ov_now(ov);
	ov->armed_ms = UINT64_MAX;
	neighbours_tick(ov, now, &next);
	searches_tick(ov, now, &next);
	if (next <= now)
		next = now + 1;
	ov_arm_at(ov, next);
}

/* One deadline per overlay: move it earlier if @p at comes first. */
void ov_arm_at(struct overlay *ov, uint64_t at)
{
	if (ov->dead || !ov->started || at >= ov->armed_ms)
		return;
	ov->armed_ms = at;
	ov->clk.arm(ov->clk.ctx, ov, at);
}

void overlay_leave(struct overlay *ov)
{
	neighbours_leave(ov);
}

const struct overlay_id *overlay_node_id(const struct overlay *ov)
{
	return &ov->id;
}

int overlay_node_uri(const struct overlay *ov, char *buf, size_t size)
{
	char hex[OVERLAY_ID_HEX_LEN + 1];
	int n;

	overlay_id_to_hex(&ov->id, hex);
	n = snprintf(buf, size, "sip:%s@%s", hex, ov->contact);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

const struct overlay_stats *overlay_stats(const struct overlay *ov)
{
	return &ov->st;
}

size_t overlay_memory(const struct overlay *ov)
{
	size_t n = sizeof(*ov) + ov->cfg.max_neighbours * sizeof(struct link) +
		   ov->cfg.known_max * sizeof(struct known) + ov->qc.alloc * sizeof(struct qentry) +
		   ov->qc.nbuckets * sizeof(int32_t);

	for (size_t i = 0; i < OVERLAY_SEARCHES_MAX; i++)
		if (ov->searches[i])
			n += sizeof(struct overlay_search) +
			     ov->searches[i]->max_results * sizeof(struct search_seen);
	return n;
}

void overlay_status(struct xml_writer *w, const struct overlay *ov, size_t dialogs)
{
	char hex[OVERLAY_ID_HEX_LEN + 1], uri[OVERLAY_ID_HEX_LEN + OVERLAY_CONTACT_MAX + 8];

	xml_begin(w, "Overlay");
	overlay_id_to_hex(&ov->id, hex);
	xml_attr(w, "node-id", hex);
	if (overlay_node_uri(ov, uri, sizeof(uri)) == 0)
		xml_attr(w, "node-uri", uri);
	xml_attrf(w, "neighbours", "%zu", overlay_neighbour_count(ov));
	xml_attrf(w, "known-peers", "%zu", ov->n_known);
	xml_attrf(w, "queries-seen", "%llu", (unsigned long long)ov->st.queries_seen);
	xml_attrf(w, "queries-forwarded", "%llu", (unsigned long long)ov->st.queries_forwarded);
	xml_attrf(w, "queries-answered", "%llu", (unsigned long long)ov->st.queries_answered);
	xml_attrf(w, "dialogs", "%zu", dialogs);
	for (size_t i = 0; i < overlay_neighbour_count(ov); i++) {
		const struct overlay_peer *p = overlay_neighbour(ov, i);

		xml_begin(w, "Neighbour");
		overlay_id_to_hex(&p->id, hex);
		xml_attr(w, "peer", hex);
		xml_attrf(w, "uri", "sip:%s@%s", hex, p->contact);
		xml_end(w);
	}
	xml_end(w);
}

/* ---- the real clock: libev ---------------------------------------------------------- */

static uint64_t ev_clock_now(void *ctx)
{
	struct overlay_ev_clock *c = ctx;

	return (uint64_t)(ev_now(c->loop) * 1000.0);
}

static void ev_clock_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct overlay_ev_clock *c = w->data;

	if (c->ov)
		overlay_timers_run(c->ov);
}

static void ev_clock_arm(void *ctx, struct overlay *ov, uint64_t at_ms)
{
	struct overlay_ev_clock *c = ctx;
	uint64_t now = ev_clock_now(c);

	ev_timer_stop(c->loop, &c->timer);
	if (at_ms == UINT64_MAX) {
		c->ov = NULL;
		return;
	}
	c->ov = ov;
	ev_timer_set(&c->timer, at_ms > now ? (double)(at_ms - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(c->loop, &c->timer);
}

void overlay_ev_clock_init(struct overlay_ev_clock *c, struct ev_loop *loop)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	ev_timer_init(&c->timer, ev_clock_cb, 0.0, 0.0);
	c->timer.data = c;
	c->clock = (struct overlay_clock){.now_ms = ev_clock_now, .arm = ev_clock_arm, .ctx = c};
}

void overlay_ev_clock_stop(struct overlay_ev_clock *c)
{
	ev_timer_stop(c->loop, &c->timer);
	c->ov = NULL;
}
