/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Locating SIP servers (RFC 3263) for a request whose target (first Route, else the
 * Request-URI) names a host, and failing over between them (4.3).
 *
 * We do not look up NAPTR (RFC 3263 4.1 lets a client that knows its transports go
 * straight to SRV). Without a port: SRV for the transport preferred (the transport
 * parameter, else TCP for a request the caller wants on TCP or that is too big for
 * UDP, RFC 3261 18.1.1, else UDP), then for the other one unless a transport parameter
 * fixed it; the records are ordered by priority and weight (RFC 2782) and their
 * targets looked up (A, AAAA). Without SRV records, or with an explicit port, the host's
 * own A and AAAA records at the port (default 5060) are used (RFC 3263 4.2).
 *
 * The request then goes to each address in turn, each time in a new client
 * transaction with a new branch, until one gives an answer other than 503 or a local
 * 408 (timeout) or 503 (transport error), RFC 3263 4.3. After a provisional response
 * the server has the request in hand: its final answer is final. The sender's handler
 * only sees the responses of the attempt that counts.
 */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip-private.h"

/* One name to look up (an SRV target, or the host itself) and what it gave. */
struct lname {
	char name[SIP_DNS_NAME_MAX];
	uint16_t port;
	struct sip_dns_rr addr[2][SIP_LOCATE_PER_FAMILY]; /* [0] A, [1] AAAA */
	unsigned n[2];
};

struct slot {
	struct sip_locate *l;
	unsigned idx; /* lname */
	unsigned fam; /* 0: A, 1: AAAA */
};

struct target {
	union sip_sockaddr addr;
	socklen_t len;
};

struct sip_locate {
	struct sip *sip;
	struct sip_locate *next, *prev;
	bool linked, provisional, tried_other;
	bool cancelled;  /* the sender gave up (CANCEL before any answer): no new attempt */
	bool tcp;        /* transport of the targets */
	bool prefer_tcp; /* the sender's wish or the size rule (RFC 3261 18.1.1) */
	int fixed; /* transport parameter: -1 none, 0 UDP, 1 TCP */
	unsigned flags;
	osip_message_t *req; /* without our Via; each attempt sends a copy */
	sip_response_h *h;
	void *arg;
	char host[SIP_DNS_NAME_MAX];
	int port;	  /* explicit port, or 0 */
	unsigned pending; /* queries in flight, +1 while they are issued */
	struct lname names[SIP_LOCATE_MAX_SRV];
	unsigned n_names;
	struct slot slots[SIP_LOCATE_MAX_SRV * 2];
	struct target targets[SIP_LOCATE_MAX_TARGETS];
	unsigned n_targets, next_target;
	ev_timer start; /* the first step runs from the loop, never in the caller */
};

/* ---- RFC 2782 ordering ------------------------------------------------------------ */

static int by_priority(const void *a, const void *b)
{
	const struct sip_dns_rr *x = a, *y = b;

	return (int)x->priority - (int)y->priority;
}

/* RFC 2782 "Usage rules": among the records of one priority not yet ordered (those of
 * weight 0 first), a random number in [0, sum of weights] picks the first whose
 * running sum reaches it. */
static void order_group(struct sip_dns_rr *rr, unsigned n, sip_random_h *rnd, void *arg)
{
	for (unsigned done = 0; done + 1 < n; done++) {
		unsigned sum = 0, pick = done, r;

		for (unsigned i = done; i < n; i++)
			if (rr[i].weight == 0 && i != done) {
				struct sip_dns_rr t = rr[i];

				memmove(&rr[done + 1], &rr[done], (i - done) * sizeof(t));
				rr[done] = t;
			}
		for (unsigned i = done; i < n; i++)
			sum += rr[i].weight;
		r = rnd(sum, arg);
		for (unsigned i = done, run = 0; i < n; i++) {
			run += rr[i].weight;
			if (run >= r) {
				pick = i;
				break;
			}
		}
		if (pick != done) {
			struct sip_dns_rr t = rr[pick];

			rr[pick] = rr[done];
			rr[done] = t;
		}
	}
}

void sip_srv_order(struct sip_dns_rr *rr, unsigned n, sip_random_h *rnd, void *arg)
{
	unsigned start = 0;

	qsort(rr, n, sizeof(*rr), by_priority);
	for (unsigned i = 1; i <= n; i++)
		if (i == n || rr[i].priority != rr[start].priority) {
			order_group(rr + start, i - start, rnd, arg);
			start = i;
		}
}

static unsigned random_below(unsigned bound, void *arg)
{
	return bound ? (unsigned)(random() % (bound + 1UL)) : 0;
}

/* ---- life ------------------------------------------------------------------------ */

static void locate_destroy(void *data)
{
	struct sip_locate *l = data;

	osip_message_free(l->req);
}

static void unlink_locate(struct sip_locate *l)
{
	struct sip *s = l->sip;

	if (!l->linked)
		return;
	ev_timer_stop(s->loop, &l->start);
	if (l->prev)
		l->prev->next = l->next;
	else
		s->locates = l->next;
	if (l->next)
		l->next->prev = l->prev;
	s->n_locates--;
	l->linked = false;
	mem_deref(l);
}

/* Nothing (more) to try: the sender hears @p status without a transaction. */
static void fail(struct sip_locate *l, int status)
{
	sip_response_h *h = l->h;

	if (!l->linked)
		return;
	if (status != 487)
		log_info("sip: no server for %s answered (%d)", l->host, status);
	l->h = NULL;
	unlink_locate(l);
	if (h)
		h(NULL, status, NULL, l->arg);
}

void sip_locate_cancel(struct sip *s, sip_response_h *h, void *arg)
{
	for (struct sip_locate *l = s->locates; l; l = l->next)
		if (l->h == h && l->arg == arg) {
			l->cancelled = true;
			return;
		}
}

void sip_locates_free(struct sip *s)
{
	while (s->locates)
		fail(s->locates, 503);
}

/* ---- attempts ---------------------------------------------------------------------- */

static void try_next(struct sip_locate *l);

static bool retryable(int status, const osip_message_t *resp)
{
	/* RFC 3263 4.3: a transport error or timeout (local 503, 408) or a 503. */
	return status == 503 || (status == 408 && !resp);
}

static void on_attempt(struct sip_tx *tx, int status, const osip_message_t *resp, void *arg)
{
	struct sip_locate *l = arg;
	sip_response_h *h = l->h;

	if (status < 200) {
		l->provisional = true;
		if (h)
			h(tx, status, resp, l->arg);
		return;
	}
	if (l->linked && retryable(status, resp) && !l->provisional && !l->cancelled &&
	    !l->sip->closing && l->next_target < l->n_targets) {
		log_info("sip: %s: %s answered %d; trying the next server", l->host,
			 tx ? tx->src.ip : "?", status);
		try_next(l);
		mem_deref(l); /* the attempt's reference */
		return;
	}
	l->h = NULL;
	unlink_locate(l);
	if (h)
		h(tx, status, resp, l->arg);
	mem_deref(l);
}

static void try_next(struct sip_locate *l)
{
	while (l->next_target < l->n_targets) {
		const struct target *t = &l->targets[l->next_target++];
		osip_message_t *m = NULL;
		int r;

		if (osip_message_clone(l->req, &m) < 0) {
			fail(l, 503);
			return;
		}
		r = sip_client_send(l->sip, m, &t->addr, t->len, l->tcp, l->flags, on_attempt,
				    mem_ref(l), NULL);
		if (r == 0)
			return;
		mem_deref(l);
		log_debug("sip: %s: cannot send: %s", l->host, strerror(-r));
	}
	fail(l, 503);
}

static bool have_family(const struct sip *s, int family)
{
	for (unsigned i = 0; i < s->n_udp; i++)
		if (s->udp[i].family == family)
			return true;
	return !s->loop; /* unit tests: no sockets */
}

/* Every lookup is in: the addresses in SRV order, IPv4 before IPv6 for each target. */
static void lookups_done(struct sip_locate *l)
{
	if (l->cancelled) {
		fail(l, 487); /* nothing was sent: nothing to cancel (RFC 3261 9.1) */
		return;
	}
	for (unsigned i = 0; i < l->n_names; i++)
		for (unsigned f = 0; f < 2; f++)
			for (unsigned k = 0; k < l->names[i].n[f]; k++) {
				struct target *t = &l->targets[l->n_targets];
				const struct sip_dns_rr *a = &l->names[i].addr[f][k];

				if (l->n_targets == SIP_LOCATE_MAX_TARGETS ||
				    !have_family(l->sip, a->addr.sa.sa_family))
					continue;
				t->addr = a->addr;
				t->len = a->addr_len;
				if (f == 0)
					t->addr.in.sin_port = htons(l->names[i].port);
				else
					t->addr.in6.sin6_port = htons(l->names[i].port);
				l->n_targets++;
			}
	try_next(l);
}

static void query_done(struct sip_locate *l)
{
	if (--l->pending == 0 && l->linked)
		lookups_done(l);
	mem_deref(l);
}

static void on_addr(int err, const struct sip_dns_rr *rr, unsigned n, void *arg)
{
	struct slot *sl = arg;
	struct lname *ln = &sl->l->names[sl->idx];

	for (unsigned i = 0; err == 0 && i < n && ln->n[sl->fam] < SIP_LOCATE_PER_FAMILY; i++)
		ln->addr[sl->fam][ln->n[sl->fam]++] = rr[i];
	if (err < 0 && err != -ECANCELED)
		log_debug("sip: dns: %s %s: %s", sl->fam ? "AAAA" : "A", ln->name, strerror(-err));
	query_done(sl->l);
}

static void start_addrs(struct sip_locate *l)
{
	l->pending = 1; /* answers from the cache come at once: wait for the loop's end */
	mem_ref(l);
	for (unsigned i = 0; i < l->n_names; i++)
		for (unsigned f = 0; f < 2; f++) {
			struct slot *sl = &l->slots[i * 2 + f];

			*sl = (struct slot){.l = l, .idx = i, .fam = f};
			l->pending++;
			mem_ref(l);
			if (sip_dns_query(l->sip, f ? T_AAAA : T_A, l->names[i].name, on_addr, sl) <
			    0) {
				l->pending--;
				mem_deref(l);
			}
		}
	query_done(l);
}

/* RFC 3263 4.2: no SRV records: the host itself, at the port or 5060. */
static void use_host(struct sip_locate *l)
{
	struct lname *ln = &l->names[0];

	memset(ln, 0, sizeof(*ln));
	snprintf(ln->name, sizeof(ln->name), "%s", l->host);
	ln->port = l->port ? l->port : 5060;
	l->n_names = 1;
	/* RFC 3263 4.2: the transport parameter, else UDP for sip: (unless the request
	 * wants TCP), whichever SRV lookup ran last. */
	l->tcp = l->fixed >= 0 ? l->fixed : l->prefer_tcp;
	start_addrs(l);
}

static void start_srv(struct sip_locate *l, bool tcp);

static void on_srv(int err, const struct sip_dns_rr *rr, unsigned n, void *arg)
{
	struct sip_locate *l = arg;
	struct sip_dns_rr tmp[SIP_DNS_MAX_ANSWERS];
	unsigned k = 0;

	/* RFC 2782: a single record with target "." says the service is not offered. */
	for (unsigned i = 0; err == 0 && i < n && i < SIP_DNS_MAX_ANSWERS; i++)
		if (strcmp(rr[i].target, ".") != 0 && rr[i].target[0])
			tmp[k++] = rr[i];
	if (!l->linked) {
		/* shut down meanwhile */
	} else if (err == -ECANCELED || err == -ETIMEDOUT) {
		/* Shutting down, or no DNS server answers: the next lookups would only
		 * wait as long again. */
		fail(l, 503);
	} else if (k > 0) {
		sip_srv_order(tmp, k, random_below, NULL);
		for (unsigned i = 0; i < k && i < SIP_LOCATE_MAX_SRV; i++) {
			memset(&l->names[i], 0, sizeof(l->names[i]));
			snprintf(l->names[i].name, sizeof(l->names[i].name), "%s", tmp[i].target);
			l->names[i].port = tmp[i].port;
		}
		l->n_names = k < SIP_LOCATE_MAX_SRV ? k : SIP_LOCATE_MAX_SRV;
		start_addrs(l);
	} else if (l->fixed < 0 && !l->tried_other) {
		l->tried_other = true;
		start_srv(l, !l->tcp);
	} else {
		use_host(l);
	}
	mem_deref(l);
}

static void start_srv(struct sip_locate *l, bool tcp)
{
	char name[SIP_DNS_NAME_MAX + 16];
	int r;

	l->tcp = tcp;
	snprintf(name, sizeof(name), "_sip._%s.%s", tcp ? "tcp" : "udp", l->host);
	r = sip_dns_query(l->sip, T_SRV, name, on_srv, mem_ref(l));
	if (r < 0) {
		mem_deref(l);
		log_warn("sip: dns: cannot look up %s: %s", name, strerror(-r));
		fail(l, 503);
	}
}

/* ---- start ------------------------------------------------------------------------ */

static int read_target(struct sip_locate *l)
{
	const osip_route_t *rt = osip_list_get(&l->req->routes, 0);
	const osip_uri_t *u = rt && rt->url ? rt->url : l->req->req_uri;
	osip_uri_param_t *tp = NULL;
	union sip_sockaddr a;
	socklen_t len;

	if (!u || !u->host || !u->host[0] || strlen(u->host) >= sizeof(l->host))
		return -EHOSTUNREACH; /* tel: and the like: nowhere to send it */
	/* No TLS here: sips: cannot be served (RFC 3263 4.1 would pick TLS). */
	if (u->scheme && strcasecmp(u->scheme, "sips") == 0)
		return -EPROTONOSUPPORT;
	snprintf(l->host, sizeof(l->host), "%s", u->host);
	l->port = u->port ? atoi(u->port) : 0;
	if ((u->port && (l->port <= 0 || l->port > 65535)) ||
	    sip_addr_parse(l->host, 5060, &a, &len) == 0)
		return -EINVAL; /* a bad port, or a numeric host with one */
	l->fixed = -1;
	osip_uri_uparam_get_byname((osip_uri_t *)u, "transport", &tp);
	if (tp && tp->gvalue && strcasecmp(tp->gvalue, "udp") == 0)
		l->fixed = 0;
	else if (tp && tp->gvalue && strcasecmp(tp->gvalue, "tcp") == 0)
		l->fixed = 1;
	else if (tp && tp->gvalue)
		return -EPROTONOSUPPORT; /* tls, sctp, ws: not ours */
	return 0;
}

static void on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sip_locate *l = w->data;

	mem_ref(l); /* the first step may end the request */
	if (l->port)
		use_host(l);
	else
		start_srv(l, l->tcp);
	mem_deref(l);
}

int sip_locate_start(struct sip *s, osip_message_t *req, bool tcp, unsigned flags,
		     sip_response_h *h, void *arg)
{
	struct sip_locate *l;
	int r;

	/* Without a loop (unit tests, fuzzing) there is no resolver. */
	r = !s->loop || !s->dns ? -EHOSTUNREACH : s->n_locates >= SIP_LOCATE_MAX ? -EBUSY : 0;
	if (r < 0) {
		osip_message_free(req);
		return r;
	}
	l = mem_zalloc(sizeof(*l), locate_destroy);
	if (!l) {
		osip_message_free(req);
		return -ENOMEM;
	}
	*l = (struct sip_locate){.sip = s, .req = req, .flags = flags, .h = h, .arg = arg};
	r = read_target(l);
	if (r < 0) {
		mem_deref(l);
		return r;
	}
	l->linked = true;
	l->next = s->locates;
	if (s->locates)
		s->locates->prev = l;
	s->locates = l;
	s->n_locates++;
	/* The sender's wish for TCP and the size rule count as preferences; only the
	 * transport parameter is binding (RFC 3263 4.1). */
	l->prefer_tcp = tcp;
	l->tcp = l->fixed >= 0 ? l->fixed : tcp;
	/* The sender hears of the request only from the loop, after we return: answers
	 * from the cache and failures would otherwise reach it before it is ready. */
	ev_timer_init(&l->start, on_start, 0., 0.);
	l->start.data = l;
	ev_timer_start(s->loop, &l->start);
	return 0;
}
