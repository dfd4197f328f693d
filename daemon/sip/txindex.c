/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Our own index of transactions. libosip2's osip_find_transaction_and_add_event()
 * compares the message against every live transaction of its kind; at thousands of
 * requests per second (a UDP NIST lives 32 s) that is a scan of 100,000 entries per
 * message. Here a hash of the RFC 3261 17.2.3 matching key finds it in O(1).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sip/sip-private.h"

#define INITIAL_BUCKETS 1024

static uint64_t hash_key(uint64_t seed, const char *k)
{
	uint64_t h = 1469598103934665603ULL ^ seed;

	for (; *k; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ULL;
	}
	/* Finalise (splitmix64) so that the low bits used for buckets are mixed. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

int sip_txindex_init(struct sip_txindex *ix)
{
	*ix = (struct sip_txindex){ .n_buckets = INITIAL_BUCKETS };
	/* A random seed so that a peer cannot aim many branches at one bucket. */
	if (getrandom(&ix->seed, sizeof(ix->seed), GRND_NONBLOCK) != sizeof(ix->seed))
		ix->seed = (uint64_t)(uintptr_t)ix ^ (uint64_t)time(NULL);
	ix->b = calloc(ix->n_buckets, sizeof(*ix->b));
	ix->m = calloc(ix->n_buckets, sizeof(*ix->m));
	if (!ix->b || !ix->m) {
		sip_txindex_done(ix);
		return -ENOMEM;
	}
	return 0;
}

void sip_txindex_done(struct sip_txindex *ix)
{
	free(ix->b);
	free(ix->m);
	ix->b = ix->m = NULL;
}

static const char *via_param(const osip_via_t *via, const char *name)
{
	osip_generic_param_t *p = NULL;

	osip_via_param_get_byname((osip_via_t *)via, (char *)name, &p);
	return p ? p->gvalue : NULL;
}

static const char *from_tag(const osip_from_t *f)
{
	osip_generic_param_t *p = NULL;

	if (f)
		osip_from_get_tag((osip_from_t *)f, &p);
	return p && p->gvalue ? p->gvalue : "";
}

static char *printf_key(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printf_key(const char *fmt, ...)
{
	va_list ap;
	char *k;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&k, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : k;
}

char *sip_txkey_server(const osip_message_t *req, const char *method)
{
	const osip_via_t *via = osip_list_get(&req->vias, 0);
	const char *branch, *port;

	if (!via || !via->host)
		return NULL;
	branch = via_param(via, "branch");
	port = via->port ? via->port : "";
	/* RFC 3261 17.2.3: ACK belongs to the INVITE transaction; CANCEL has its own. */
	if (strcmp(method, "ACK") == 0)
		method = "INVITE";
	if (branch && strncmp(branch, "z9hG4bK", 7) == 0)
		return printf_key("%s|%s:%s|%s", branch, via->host, port, method);
	/* RFC 2543 peers: Request-URI, From tag, Call-ID, CSeq number and top Via. */
	return printf_key("2543|%s@%s|%s|%s|%s|%s:%s|%s|%s",
			  req->req_uri && req->req_uri->username ? req->req_uri->username : "",
			  req->req_uri && req->req_uri->host ? req->req_uri->host : "",
			  from_tag(req->from), req->call_id->number,
			  req->call_id->host ? req->call_id->host : "", via->host, port,
			  req->cseq->number, method);
}

char *sip_txkey_merge(const osip_message_t *req)
{
	return printf_key("%s|%s@%s|%s|%s", from_tag(req->from), req->call_id->number,
			  req->call_id->host ? req->call_id->host : "", req->cseq->number,
			  req->cseq->method);
}

static int grow(struct sip_txindex *ix)
{
	size_t nb = ix->n_buckets * 2;
	struct sip_tx **b = calloc(nb, sizeof(*b)), **m = calloc(nb, sizeof(*m));

	if (!b || !m) {
		free(b);
		free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ix->n_buckets; i++) {
		for (struct sip_tx *t = ix->b[i], *next; t; t = next) {
			next = t->hnext;
			t->hnext = b[t->hash & (nb - 1)];
			b[t->hash & (nb - 1)] = t;
		}
		for (struct sip_tx *t = ix->m[i], *next; t; t = next) {
			next = t->mnext;
			t->mnext = m[t->mhash & (nb - 1)];
			m[t->mhash & (nb - 1)] = t;
		}
	}
	free(ix->b);
	free(ix->m);
	ix->b = b;
	ix->m = m;
	ix->n_buckets = nb;
	return 0;
}

struct sip_tx *sip_txindex_find(struct sip_txindex *ix, const char *key)
{
	uint64_t h = hash_key(ix->seed, key);

	for (struct sip_tx *t = ix->b[h & (ix->n_buckets - 1)]; t; t = t->hnext)
		if (t->hash == h && strcmp(t->key, key) == 0)
			return t;
	return NULL;
}

struct sip_tx *sip_txindex_find_merge(struct sip_txindex *ix, const char *mkey)
{
	uint64_t h = hash_key(ix->seed, mkey);

	for (struct sip_tx *t = ix->m[h & (ix->n_buckets - 1)]; t; t = t->mnext)
		if (t->mhash == h && strcmp(t->mkey, mkey) == 0)
			return t;
	return NULL;
}

int sip_txindex_add(struct sip_txindex *ix, struct sip_tx *tx)
{
	size_t i;

	/* Keep chains short: at most one entry per bucket on average. */
	if (ix->n >= ix->n_buckets && grow(ix) < 0 && ix->n >= 4 * ix->n_buckets)
		return -ENOMEM;
	tx->hash = hash_key(ix->seed, tx->key);
	i = tx->hash & (ix->n_buckets - 1);
	tx->hnext = ix->b[i];
	ix->b[i] = tx;
	ix->n++;
	if (tx->mkey) {
		tx->mhash = hash_key(ix->seed, tx->mkey);
		i = tx->mhash & (ix->n_buckets - 1);
		tx->mnext = ix->m[i];
		ix->m[i] = tx;
		ix->n_merge++;
	}
	return 0;
}

static bool unlink_from(struct sip_tx **head, struct sip_tx *tx, bool merge)
{
	for (struct sip_tx **pp = head; *pp; pp = merge ? &(*pp)->mnext : &(*pp)->hnext) {
		if (*pp != tx)
			continue;
		*pp = merge ? tx->mnext : tx->hnext;
		return true;
	}
	return false;
}

void sip_txindex_remove(struct sip_txindex *ix, struct sip_tx *tx)
{
	if (tx->key && unlink_from(&ix->b[tx->hash & (ix->n_buckets - 1)], tx, false))
		ix->n--;
	if (tx->mkey && unlink_from(&ix->m[tx->mhash & (ix->n_buckets - 1)], tx, true))
		ix->n_merge--;
}

void sip_txindex_tag(const struct sip_txindex *ix, const char *key, char tag[17])
{
	/* Another seed than the buckets', so that tags say nothing about the table. */
	snprintf(tag, 17, "%016llx", (unsigned long long)hash_key(~ix->seed, key));
}
