/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-source admission of requests: a token bucket per source address, so one peer
 * flooding OPTIONS or SUBSCRIBE cannot take the loop from everyone else (issue 9).
 * The default budget (config <sip source-rate>, 0 = none) is a small share of what
 * the daemon answers (bench/sip) and above any honest peer of a desktop service.
 * Requests over the budget are dropped before they are parsed and counted with the
 * dropped messages; each source is logged at most once a minute. Responses are not
 * counted: they belong to our own transactions.
 *
 * The table is bounded (SIP_FLOOD_SOURCES): a source hashes to a run of
 * FLOOD_PROBES slots and takes the one seen longest ago when the run is full, so a
 * spoofed-address flood only recycles slots and never grows memory.
 */
#include "config.h"

#include <string.h>

#include "sip/sip-private.h"

#define FLOOD_PROBES	 8
#define FLOOD_LOG_PERIOD 60.0

/* The address bytes that identify a source (the port does not). */
static size_t source_key(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		return 16;
	}
	memcpy(key, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	return 4;
}

static unsigned key_hash(const uint8_t *key, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

static struct sip_flood_slot *slot_of(struct sip *s, const uint8_t *key, size_t n,
				      ev_tstamp now)
{
	unsigned h = key_hash(key, n);
	struct sip_flood_slot *oldest = NULL;

	for (unsigned i = 0; i < FLOOD_PROBES; i++) {
		struct sip_flood_slot *e = &s->flood[(h + i) % SIP_FLOOD_SOURCES];

		if (e->len == n && memcmp(e->key, key, n) == 0)
			return e;
		if (!oldest || e->last < oldest->last)
			oldest = e;
	}
	/* A new source starts with a full bucket. */
	*oldest = (struct sip_flood_slot){ .len = (uint8_t)n, .tokens = s->cfg->sip_source_rate,
					   .last = now, .logged = -FLOOD_LOG_PERIOD };
	memcpy(oldest->key, key, n);
	return oldest;
}

bool sip_flood_admit(struct sip *s, const struct sip_src *src, const char *buf, size_t len)
{
	unsigned rate = s->cfg->sip_source_rate;
	struct sip_flood_slot *e;
	uint8_t key[16];
	ev_tstamp now;
	size_t n;

	if (rate == 0 || !s->loop || (len >= 8 && memcmp(buf, "SIP/2.0 ", 8) == 0))
		return true;
	now = ev_now(s->loop);
	n = source_key(&src->peer.sa, key);
	e = slot_of(s, key, n, now);
	/* Refill for the time since the last request; at most one second's worth. */
	e->tokens += (now - e->last) * rate;
	if (e->tokens > rate)
		e->tokens = rate;
	e->last = now;
	if (e->tokens >= 1.0) {
		e->tokens -= 1.0;
		return true;
	}
	s->stats.rx_flood++;
	if (now - e->logged >= FLOOD_LOG_PERIOD) {
		e->logged = now;
		log_warn("sip: %s sends more than %u requests/s; dropping the excess "
			 "(logged once a minute)", src->ip, rate);
	}
	return false;
}
