/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Requests claimed by features (RFC 3261 8.2): the overlay takes SUBSCRIBE and NOTIFY
 * of its event package, file transfer takes INVITEs that offer a file, Tunnel
 * listeners take what nobody else does. Claimers are asked in order (features before
 * listeners, then in the order they claimed); the first that takes a request answers
 * it. What nobody takes gets the service's own answer.
 *
 * The Allow header (RFC 3261 20.5) lists the service's methods plus the claimed ones,
 * so a peer learns from OPTIONS what it may send.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sip/sip-private.h"

static const char *const builtin[] = { "INVITE", "ACK", "CANCEL", "OPTIONS", "BYE" };

bool sip_builtin_method(const char *method)
{
	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		if (strcmp(method, builtin[i]) == 0)
			return true;
	return false;
}

/* RFC 3261 25.1: a method is a token; ours are at most SIP_METHOD_MAX characters. */
static bool valid_method(const char *m)
{
	size_t n = m ? strlen(m) : 0;

	return n > 0 && n <= SIP_METHOD_MAX &&
	       strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			 "-.!%*_+`'~") == n;
}

/* Requests that only the transaction and dialog layers may handle. */
static bool reserved(const char *m)
{
	return strcmp(m, "ACK") == 0 || strcmp(m, "CANCEL") == 0 || strcmp(m, "BYE") == 0 ||
	       strcmp(m, "OPTIONS") == 0;
}

/* Whether claims[0..i) or the built-in methods already name claims[i]'s method. */
static bool listed_before(const struct sip *s, unsigned i)
{
	for (size_t k = 0; k < ARRAY_SIZE(builtin); k++)
		if (strcmp(builtin[k], s->claims[i].method) == 0)
			return true;
	for (unsigned k = 0; k < i; k++)
		if (strcmp(s->claims[k].method, s->claims[i].method) == 0)
			return true;
	return false;
}

static void rebuild_allow(struct sip *s)
{
	size_t n = 0;

	s->allow[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		n += (size_t)snprintf(s->allow + n, sizeof(s->allow) - n, "%s%s", n ? ", " : "",
				      builtin[i]);
	for (unsigned i = 0; i < s->n_claims && n < sizeof(s->allow); i++)
		if (!listed_before(s, i))
			n += (size_t)snprintf(s->allow + n, sizeof(s->allow) - n, ", %s",
					      s->claims[i].method);
}

const char *sip_allow(const struct sip *s)
{
	return s->allow[0] ? s->allow : SIP_ALLOW;
}

int sip_claim(struct sip *s, const char *method, enum sip_claim_order order, sip_request_h *h,
	      void *arg)
{
	unsigned at;

	if (!valid_method(method) || reserved(method) || !h)
		return -EINVAL;
	for (unsigned i = 0; i < s->n_claims; i++)
		if (s->claims[i].h == h && s->claims[i].arg == arg &&
		    strcmp(s->claims[i].method, method) == 0)
			return -EEXIST;
	if (s->n_claims == SIP_MAX_CLAIMS)
		return -ENOSPC;
	/* After every claim of the same or an earlier order: first come, first asked. */
	for (at = 0; at < s->n_claims && s->claims[at].order <= order; at++)
		;
	memmove(&s->claims[at + 1], &s->claims[at], (s->n_claims - at) * sizeof(s->claims[0]));
	snprintf(s->claims[at].method, sizeof(s->claims[at].method), "%s", method);
	s->claims[at].order = order;
	s->claims[at].h = h;
	s->claims[at].arg = arg;
	s->n_claims++;
	rebuild_allow(s);
	return 0;
}

void sip_unclaim(struct sip *s, const char *method, sip_request_h *h, void *arg)
{
	for (unsigned i = 0; i < s->n_claims; i++) {
		struct sip_claim *c = &s->claims[i];

		if (c->h != h || c->arg != arg || (method && strcmp(c->method, method) != 0))
			continue;
		memmove(c, c + 1, (s->n_claims - i - 1) * sizeof(*c));
		s->n_claims--;
		i--;
	}
	rebuild_allow(s);
}

bool sip_claimed(const struct sip *s, const char *method)
{
	for (unsigned i = 0; i < s->n_claims; i++)
		if (strcmp(s->claims[i].method, method) == 0)
			return true;
	return false;
}

bool sip_claims_offer(struct sip *s, struct sip_tx *tx)
{
	/* A claimer may claim or unclaim while it runs: walk a copy. */
	struct sip_claim list[SIP_MAX_CLAIMS];
	unsigned n = s->n_claims;

	memcpy(list, s->claims, n * sizeof(list[0]));
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(list[i].method, tx->req->sip_method) != 0)
			continue;
		if (list[i].h(tx, list[i].arg))
			return true;
		if (!tx->tr || tx->dead)
			return true;
	}
	return false;
}
