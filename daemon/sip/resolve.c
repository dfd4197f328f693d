/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DNS lookups for RFC 3263 (SRV, A, AAAA) with c-ares on the libev loop: one ev_io per
 * socket c-ares opens (its sock-state callback says which), one ev_timer for its next
 * timeout. Nothing blocks. Answers are cached for their TTL (RFC 1035 3.2.1), capped;
 * the number of queries in flight, of answers kept per name and of cached names are
 * bounded.
 */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "sip/sip-private.h"

struct sip_dns {
	struct sip *sip;
	ares_channel ch;
	ev_io io[SIP_DNS_MAX_SOCKS];
	ev_timer timer;
	unsigned pending;
	bool closing; /* ares_destroy() is answering the pending queries */
	struct sip_dns_entry cache[SIP_DNS_CACHE];
	unsigned hits, misses;
};

struct query {
	struct sip_dns *dns;
	int type;
	char name[SIP_DNS_NAME_MAX];
	sip_dns_h *h;
	void *arg;
};

/* ---- answers --------------------------------------------------------------------- */

static int skip_name(const unsigned char *p, const unsigned char *abuf, size_t alen, size_t *off)
{
	char *name = NULL;
	long enclen = 0;

	if (ares_expand_name(p, abuf, (int)alen, &name, &enclen) != ARES_SUCCESS)
		return -EBADMSG;
	ares_free_string(name);
	*off += (size_t)enclen;
	return 0;
}

int sip_dns_answer_ttl(const unsigned char *abuf, size_t alen, uint32_t *ret_ttl)
{
	size_t off = 12;
	uint32_t best = UINT32_MAX;
	unsigned qd, an;

	if (alen < 12 || alen > SIP_DNS_MAX_PACKET)
		return -EBADMSG;
	qd = (unsigned)abuf[4] << 8 | abuf[5];
	an = (unsigned)abuf[6] << 8 | abuf[7];
	/* RFC 1035 4.1: the question section, then the answers; a few of each suffice. */
	if (qd > 4 || an > 64)
		return -EBADMSG;
	for (unsigned i = 0; i < qd; i++)
		if (off >= alen || skip_name(abuf + off, abuf, alen, &off) < 0 || (off += 4) > alen)
			return -EBADMSG;
	for (unsigned i = 0; i < an; i++) {
		uint32_t ttl;
		size_t rdlen;

		if (off >= alen || skip_name(abuf + off, abuf, alen, &off) < 0 || off + 10 > alen)
			return -EBADMSG;
		ttl = (uint32_t)abuf[off + 4] << 24 | (uint32_t)abuf[off + 5] << 16 |
		      (uint32_t)abuf[off + 6] << 8 | abuf[off + 7];
		rdlen = (size_t)abuf[off + 8] << 8 | abuf[off + 9];
		off += 10 + rdlen;
		if (off > alen)
			return -EBADMSG;
		/* RFC 2181 8: a TTL with the top bit set counts as zero. */
		best = ttl > INT32_MAX ? 0 : ttl < best ? ttl : best;
	}
	*ret_ttl = best == UINT32_MAX ? 0 : best;
	return 0;
}

static int parse_srv(const unsigned char *abuf, size_t alen, struct sip_dns_entry *e)
{
	struct ares_srv_reply *srv = NULL;

	if (ares_parse_srv_reply(abuf, (int)alen, &srv) != ARES_SUCCESS)
		return -EBADMSG;
	for (struct ares_srv_reply *p = srv; p && e->n < SIP_DNS_MAX_ANSWERS; p = p->next) {
		struct sip_dns_rr *rr = &e->rr[e->n];

		if (strlen(p->host) >= sizeof(rr->target))
			continue;
		memset(rr, 0, sizeof(*rr));
		rr->priority = p->priority;
		rr->weight = p->weight;
		rr->port = p->port;
		snprintf(rr->target, sizeof(rr->target), "%s", p->host);
		e->n++;
	}
	ares_free_data(srv);
	return 0;
}

static int parse_addr(int type, const unsigned char *abuf, size_t alen, struct sip_dns_entry *e)
{
	struct ares_addrttl a4[SIP_DNS_MAX_ANSWERS];
	struct ares_addr6ttl a6[SIP_DNS_MAX_ANSWERS];
	int n = SIP_DNS_MAX_ANSWERS;

	if (type == T_A ? ares_parse_a_reply(abuf, (int)alen, NULL, a4, &n) != ARES_SUCCESS
			: ares_parse_aaaa_reply(abuf, (int)alen, NULL, a6, &n) != ARES_SUCCESS)
		return -EBADMSG;
	for (int i = 0; i < n && e->n < SIP_DNS_MAX_ANSWERS; i++) {
		struct sip_dns_rr *rr = &e->rr[e->n++];

		memset(rr, 0, sizeof(*rr));
		if (type == T_A) {
			rr->addr.in.sin_family = AF_INET;
			rr->addr.in.sin_addr = a4[i].ipaddr;
			rr->addr_len = sizeof(rr->addr.in);
		} else {
			rr->addr.in6.sin6_family = AF_INET6;
			memcpy(&rr->addr.in6.sin6_addr, &a6[i].ip6addr, sizeof(struct in6_addr));
			rr->addr_len = sizeof(rr->addr.in6);
		}
	}
	return 0;
}

int sip_dns_parse(int type, const unsigned char *abuf, size_t alen, struct sip_dns_entry *e)
{
	uint32_t ttl = 0;
	int r = sip_dns_answer_ttl(abuf, alen, &ttl);

	e->n = 0;
	if (r == 0)
		r = type == T_SRV ? parse_srv(abuf, alen, e) : parse_addr(type, abuf, alen, e);
	if (r < 0)
		return r;
	e->ttl = ttl > SIP_DNS_MAX_TTL ? SIP_DNS_MAX_TTL : ttl;
	return 0;
}

/* ---- cache ----------------------------------------------------------------------- */

struct sip_dns_entry *sip_dns_cache_find(struct sip_dns_entry *cache, size_t n, int type,
					 const char *name, ev_tstamp now)
{
	for (size_t i = 0; i < n; i++)
		if (cache[i].type == type && cache[i].expires > now &&
		    strcasecmp(cache[i].name, name) == 0)
			return &cache[i];
	return NULL;
}

struct sip_dns_entry *sip_dns_cache_slot(struct sip_dns_entry *cache, size_t n, int type,
					 const char *name, ev_tstamp now)
{
	struct sip_dns_entry *best = &cache[0];

	/* The same name again, else a free or expired slot, else the one expiring first. */
	for (size_t i = 0; i < n; i++) {
		struct sip_dns_entry *e = &cache[i];

		if (e->type == type && strcasecmp(e->name, name) == 0)
			return e;
		if (best->expires > now && e->expires < best->expires)
			best = e;
	}
	return best;
}

/* ---- c-ares on libev ------------------------------------------------------------- */

static void arm_timer(struct sip_dns *d)
{
	struct ev_loop *loop = d->sip->loop;
	struct timeval tv, *t;

	ev_timer_stop(loop, &d->timer);
	if (!d->pending)
		return;
	t = ares_timeout(d->ch, NULL, &tv);
	ev_timer_set(&d->timer, t ? t->tv_sec + t->tv_usec / 1e6 : 1.0, 0.);
	ev_timer_start(loop, &d->timer);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sip_dns *d = w->data;
	int fd = w->fd;

	ares_process_fd(d->ch, revents & EV_READ ? fd : ARES_SOCKET_BAD,
			revents & EV_WRITE ? fd : ARES_SOCKET_BAD);
	arm_timer(d);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_dns *d = w->data;

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_timer(d);
}

/* c-ares opens, watches and closes its sockets; we mirror that with ev_io watchers. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct sip_dns *d = data;
	struct ev_loop *loop = d->sip->loop;
	ev_io *slot = NULL;

	for (int i = 0; i < SIP_DNS_MAX_SOCKS; i++) {
		if (d->io[i].fd == fd) {
			slot = &d->io[i];
			break;
		}
		if (!slot && d->io[i].fd == -1)
			slot = &d->io[i];
	}
	if (!slot) {
		log_warn("sip: dns: more than %d resolver sockets", SIP_DNS_MAX_SOCKS);
		return;
	}
	ev_io_stop(loop, slot);
	if (!readable && !writable) {
		ev_io_set(slot, -1, 0);
		return;
	}
	ev_io_set(slot, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	ev_io_start(loop, slot);
}

static int errno_of(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
		return 0; /* no such name or no such record: an empty answer */
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return -ECANCELED;
	case ARES_ENOMEM:
		return -ENOMEM;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	default:
		return -EHOSTUNREACH;
	}
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct query *q = arg;
	struct sip_dns *d = q->dns;
	struct sip_dns_entry tmp = {0}, *e = &tmp;
	int r = errno_of(status);

	d->pending--;
	if (status == ARES_SUCCESS && abuf && alen > 0)
		r = sip_dns_parse(q->type, abuf, (size_t)alen, &tmp);
	else if (r == 0)
		tmp.ttl = SIP_DNS_NEG_TTL; /* RFC 2308: remember that nothing is there */
	if (r == 0 && status != ARES_EDESTRUCTION) {
		ev_tstamp now = ev_now(d->sip->loop);

		e = sip_dns_cache_slot(d->cache, SIP_DNS_CACHE, q->type, q->name, now);
		*e = tmp;
		e->type = q->type;
		snprintf(e->name, sizeof(e->name), "%s", q->name);
		e->expires = now + e->ttl;
	}
	q->h(r, r == 0 ? e->rr : NULL, r == 0 ? e->n : 0, q->arg);
	free(q);
}

/*
 * Names of the hosts file (/etc/hosts, or $CARES_HOSTS) come first, as for any other
 * program of the machine (nsswitch's usual "files dns"): a small local file, read the
 * way the config is, never the network.
 */
static bool from_hosts_file(struct sip_dns *d, int type, const char *name, sip_dns_h *h,
			    void *arg)
{
	struct sip_dns_rr rr[SIP_DNS_MAX_ANSWERS];
	struct hostent *he = NULL;
	int family = type == T_A ? AF_INET : AF_INET6;
	unsigned n = 0;

	if ((type != T_A && type != T_AAAA) ||
	    ares_gethostbyname_file(d->ch, name, family, &he) != ARES_SUCCESS || !he)
		return false;
	for (char **a = he->h_addr_list; *a && n < SIP_DNS_MAX_ANSWERS; a++, n++) {
		memset(&rr[n], 0, sizeof(rr[n]));
		rr[n].addr.sa.sa_family = family;
		if (family == AF_INET)
			memcpy(&rr[n].addr.in.sin_addr, *a, sizeof(struct in_addr));
		else
			memcpy(&rr[n].addr.in6.sin6_addr, *a, sizeof(struct in6_addr));
		rr[n].addr_len = family == AF_INET ? sizeof(rr[n].addr.in) : sizeof(rr[n].addr.in6);
	}
	ares_free_hostent(he);
	h(0, rr, n, arg);
	return true;
}

int sip_dns_query(struct sip *s, int type, const char *name, sip_dns_h *h, void *arg)
{
	struct sip_dns *d = s->dns;
	struct sip_dns_entry *e;
	struct query *q;

	if (!d || d->closing)
		return -ECANCELED;
	if (strlen(name) >= SIP_DNS_NAME_MAX)
		return -ENAMETOOLONG;
	if (from_hosts_file(d, type, name, h, arg))
		return 0;
	e = sip_dns_cache_find(d->cache, SIP_DNS_CACHE, type, name, ev_now(s->loop));
	if (e) {
		d->hits++;
		h(0, e->rr, e->n, arg);
		return 0;
	}
	if (d->pending >= SIP_DNS_MAX_PENDING)
		return -EBUSY;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	*q = (struct query){.dns = d, .type = type, .h = h, .arg = arg};
	snprintf(q->name, sizeof(q->name), "%s", name);
	d->misses++;
	d->pending++;
	ares_query(d->ch, name, C_IN, type, on_answer, q);
	arm_timer(d);
	return 0;
}

static int dns_configure(struct sip_dns *d, const struct config *cfg)
{
	struct ares_options o = {
	    .sock_state_cb = on_sock_state,
	    .sock_state_cb_data = d,
	    .timeout = 2000, /* ms per try; two tries per server */
	    .tries = 2,
	};
	int r = ares_init_options(&d->ch, &o,
				  ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);

	if (r != ARES_SUCCESS) {
		log_err("sip: dns: cannot start the resolver: %s; host names cannot be located",
			ares_strerror(r));
		return r == ARES_ENOMEM ? -ENOMEM : -EIO;
	}
	/* Without servers in the config c-ares took those of /etc/resolv.conf. */
	if (cfg->sip_dns_servers &&
	    (r = ares_set_servers_ports_csv(d->ch, cfg->sip_dns_servers)) != ARES_SUCCESS) {
		log_err("sip: dns: bad server list \"%s\": %s; host names cannot be located",
			cfg->sip_dns_servers, ares_strerror(r));
		return -EINVAL;
	}
	return 0;
}

void sip_dns_set_config(struct sip *s, const struct config *old, const struct config *cfg)
{
	const char *a = old->sip_dns_servers, *b = cfg->sip_dns_servers;
	int r;

	if (!s->dns || (a && b ? strcmp(a, b) == 0 : a == b))
		return;
	if (!b) {
		log_notice("sip: dns: /etc/resolv.conf takes over at the next start");
		return;
	}
	/* Queries in flight finish with the servers they started with. */
	r = ares_set_servers_ports_csv(s->dns->ch, b);
	if (r != ARES_SUCCESS)
		log_err("sip: dns: bad server list \"%s\": %s", b, ares_strerror(r));
	else
		log_info("sip: dns: servers now %s", b);
}

int sip_dns_start(struct sip *s)
{
	struct sip_dns *d;
	int r = ares_library_init(ARES_LIB_INIT_ALL);

	if (r != ARES_SUCCESS)
		return -ENOMEM;
	d = calloc(1, sizeof(*d));
	if (!d) {
		ares_library_cleanup();
		return -ENOMEM;
	}
	d->sip = s;
	for (int i = 0; i < SIP_DNS_MAX_SOCKS; i++) {
		ev_io_init(&d->io[i], on_io, -1, 0);
		d->io[i].data = d;
	}
	ev_init(&d->timer, on_timer);
	d->timer.data = d;
	s->dns = d;
	r = dns_configure(d, s->cfg);
	if (r < 0)
		sip_dns_stop(s);
	return r;
}

void sip_dns_stop(struct sip *s)
{
	struct sip_dns *d = s->dns;

	if (!d)
		return;
	/* Pending queries are answered -ECANCELED (ARES_EDESTRUCTION) from here; their
	 * handlers cannot start new ones. */
	d->closing = true;
	if (d->ch)
		ares_destroy(d->ch);
	for (int i = 0; i < SIP_DNS_MAX_SOCKS; i++)
		ev_io_stop(s->loop, &d->io[i]);
	ev_timer_stop(s->loop, &d->timer);
	s->dns = NULL;
	free(d);
	ares_library_cleanup();
}

void sip_dns_counts(const struct sip *s, unsigned *pending, unsigned *hits, unsigned *misses)
{
	const struct sip_dns *d = s->dns;

	*pending = d ? d->pending : 0;
	*hits = d ? d->hits : 0;
	*misses = d ? d->misses : 0;
}
