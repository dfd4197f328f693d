/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What sessions share: the upload token bucket and the count of running transfers in
 * total and per peer (issue 7: bounded concurrency, a configurable upload rate). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "transfer/transfer-private.h"

struct transfer_bucket {
	double rate, burst, tokens;
	ev_tstamp last;
	bool started;
};

int transfer_bucket_new(double rate, double burst, struct transfer_bucket **ret)
{
	struct transfer_bucket *b;

	if (rate < 0 || burst < 1)
		return -EINVAL;
	b = mem_zalloc(sizeof(*b), NULL);
	if (!b)
		return -ENOMEM;
	b->rate = rate;
	b->burst = b->tokens = burst;
	*ret = b;
	return 0;
}

void transfer_bucket_set_rate(struct transfer_bucket *b, double rate, double burst)
{
	b->rate = rate;
	b->burst = burst >= 1 ? burst : 1;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
}

static void refill(struct transfer_bucket *b, ev_tstamp now)
{
	if (b->started && now > b->last)
		b->tokens += (now - b->last) * b->rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last = now;
	b->started = true;
}

size_t transfer_bucket_take(struct transfer_bucket *b, ev_tstamp now, size_t want)
{
	size_t got;

	if (b->rate == 0)
		return want; /* unlimited */
	refill(b, now);
	got = b->tokens >= (double)want ? want : (size_t)b->tokens;
	b->tokens -= (double)got;
	return got;
}

void transfer_bucket_put_back(struct transfer_bucket *b, size_t n)
{
	if (b->rate > 0)
		b->tokens += (double)n;
}

ev_tstamp transfer_bucket_wait(const struct transfer_bucket *b, ev_tstamp now, size_t want)
{
	double need = (double)want < b->burst ? (double)want : b->burst;

	/* wait for a useful amount (a 64 KiB minimum) rather than wake for every byte */
	if (need > 65536)
		need = 65536 < b->burst ? 65536 : b->burst;
	if (b->rate == 0 || b->tokens >= need)
		return 0;
	return (need - b->tokens) / b->rate;
}

struct peer_count {
	char *peer;
	unsigned n;
};

struct transfer_limits {
	unsigned max_total, max_per_peer, running;
	struct peer_count *peers; /* at most max_total entries in use */
};

static void limits_destroy(void *data)
{
	struct transfer_limits *l = data;

	for (unsigned i = 0; i < l->max_total; i++)
		free(l->peers[i].peer);
	free(l->peers);
}

int transfer_limits_new(unsigned max_total, unsigned max_per_peer, struct transfer_limits **ret)
{
	struct transfer_limits *l;

	if (max_total == 0 || max_per_peer == 0 || max_total > 4096)
		return -EINVAL;
	l = mem_zalloc(sizeof(*l), limits_destroy);
	if (!l)
		return -ENOMEM;
	l->max_total = max_total;
	l->max_per_peer = max_per_peer;
	l->peers = calloc(max_total, sizeof(*l->peers));
	if (!l->peers) {
		mem_deref(l);
		return -ENOMEM;
	}
	*ret = l;
	return 0;
}

static struct peer_count *find(struct transfer_limits *l, const char *peer)
{
	for (unsigned i = 0; i < l->max_total; i++)
		if (l->peers[i].peer && strcmp(l->peers[i].peer, peer) == 0)
			return &l->peers[i];
	return NULL;
}

int transfer_limits_acquire(struct transfer_limits *l, const char *peer)
{
	struct peer_count *p = find(l, peer);

	if (l->running >= l->max_total || (p && p->n >= l->max_per_peer))
		return -EBUSY;
	if (!p) {
		for (unsigned i = 0; i < l->max_total && !p; i++)
			if (!l->peers[i].peer)
				p = &l->peers[i];
		if (!p) /* cannot happen: fewer peers than running transfers */
			return -EBUSY;
		p->peer = strdup(peer);
		if (!p->peer)
			return -ENOMEM;
	}
	p->n++;
	l->running++;
	return 0;
}

void transfer_limits_release(struct transfer_limits *l, const char *peer)
{
	struct peer_count *p = find(l, peer);

	if (!p)
		return;
	l->running--;
	if (--p->n == 0) {
		free(p->peer);
		p->peer = NULL;
	}
}

unsigned transfer_limits_running(const struct transfer_limits *l)
{
	return l->running;
}
