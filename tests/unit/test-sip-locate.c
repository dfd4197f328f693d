/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of RFC 3263 location: SRV ordering (RFC 2782), the DNS answer parser and
 * TTLs, the bounded cache, the bound on queries in flight. */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "sip/sip-private.h"

/* ---- SRV ordering ------------------------------------------------------------------ */

static struct sip_dns_rr srv(uint16_t prio, uint16_t weight, const char *target)
{
	struct sip_dns_rr rr = { .priority = prio, .weight = weight, .port = 5060 };

	snprintf(rr.target, sizeof(rr.target), "%s", target);
	return rr;
}

static unsigned rnd_zero(unsigned bound, void *arg)
{
	return 0;
}

static unsigned rnd_max(unsigned bound, void *arg)
{
	return bound;
}

/* A fixed sequence of draws, so the test does not depend on random(). */
static unsigned rnd_lcg(unsigned bound, void *arg)
{
	unsigned *state = arg;

	*state = *state * 1103515245u + 12345u;
	return (*state >> 8) % (bound + 1u);
}

START_TEST(test_srv_priority)
{
	struct sip_dns_rr rr[] = { srv(30, 5, "c"), srv(10, 0, "a"), srv(20, 100, "b"),
				   srv(10, 0, "a2") };

	sip_srv_order(rr, 4, rnd_max, NULL);
	/* Lower priority first, whatever the weights and draws. */
	ck_assert_int_eq(rr[0].priority, 10);
	ck_assert_int_eq(rr[1].priority, 10);
	ck_assert_str_eq(rr[2].target, "b");
	ck_assert_str_eq(rr[3].target, "c");
}
END_TEST

START_TEST(test_srv_weight_zero)
{
	struct sip_dns_rr rr[] = { srv(10, 60, "heavy"), srv(10, 0, "zero"), srv(10, 40, "light") };

	/* RFC 2782: weight-0 records go first in the list the draw walks, so a draw of 0
	 * picks one; a draw of the whole sum never does while others remain. */
	sip_srv_order(rr, 3, rnd_zero, NULL);
	ck_assert_str_eq(rr[0].target, "zero");
	rr[0] = srv(10, 60, "heavy");
	rr[1] = srv(10, 0, "zero");
	rr[2] = srv(10, 40, "light");
	sip_srv_order(rr, 3, rnd_max, NULL);
	ck_assert_str_eq(rr[2].target, "zero");
}
END_TEST

START_TEST(test_srv_weight_share)
{
	unsigned state = 12345, first_b = 0, runs = 20000;

	/* Weights 10 and 50: the heavier one comes first 50/60 of the time. */
	for (unsigned i = 0; i < runs; i++) {
		struct sip_dns_rr rr[] = { srv(1, 10, "a"), srv(1, 50, "b"), srv(2, 0, "z") };

		sip_srv_order(rr, 3, rnd_lcg, &state);
		first_b += strcmp(rr[0].target, "b") == 0;
		ck_assert_str_eq(rr[2].target, "z");
	}
	ck_assert_uint_gt(first_b, runs * 80 / 100);
	ck_assert_uint_lt(first_b, runs * 87 / 100);
}
END_TEST

START_TEST(test_srv_one_and_none)
{
	struct sip_dns_rr rr[] = { srv(1, 0, "only") };

	sip_srv_order(rr, 1, rnd_max, NULL);
	ck_assert_str_eq(rr[0].target, "only");
	sip_srv_order(rr, 0, rnd_max, NULL);
}
END_TEST

/* ---- DNS answers -------------------------------------------------------------------- */

struct pkt {
	unsigned char b[512];
	size_t n;
};

static void put(struct pkt *p, const void *data, size_t n)
{
	ck_assert_uint_le(p->n + n, sizeof(p->b));
	memcpy(p->b + p->n, data, n);
	p->n += n;
}

static void put16(struct pkt *p, unsigned v)
{
	unsigned char b[2] = { v >> 8, v & 0xff };

	put(p, b, 2);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

static void put_name(struct pkt *p, const char *name)
{
	while (*name) {
		size_t n = strcspn(name, ".");
		unsigned char len = (unsigned char)n;

		put(p, &len, 1);
		put(p, name, n);
		name += n + (name[n] == '.');
	}
	put(p, "", 1);
}

/* A response with the question @p qname/@p type and @p an answers to be added. */
static void header(struct pkt *p, const char *qname, int type, unsigned an)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180); /* response, RD, RA, NOERROR */
	put16(p, 1);
	put16(p, an);
	put16(p, 0);
	put16(p, 0);
	put_name(p, qname);
	put16(p, type);
	put16(p, C_IN);
}

static void answer_srv(struct pkt *p, uint32_t ttl, unsigned prio, unsigned weight,
		       unsigned port, const char *target)
{
	put16(p, 0xc00c); /* the question's name */
	put16(p, T_SRV);
	put16(p, C_IN);
	put32(p, ttl);
	put16(p, 6 + strlen(target) + 2);
	put16(p, prio);
	put16(p, weight);
	put16(p, port);
	put_name(p, target);
}

static void answer_a(struct pkt *p, uint32_t ttl, const char *ip)
{
	struct in_addr a;

	ck_assert_int_eq(inet_pton(AF_INET, ip, &a), 1);
	put16(p, 0xc00c);
	put16(p, T_A);
	put16(p, C_IN);
	put32(p, ttl);
	put16(p, 4);
	put(p, &a, 4);
}

START_TEST(test_parse_srv)
{
	struct pkt p;
	struct sip_dns_entry e;
	uint32_t ttl = 0;

	header(&p, "_sip._udp.test.example", T_SRV, 2);
	answer_srv(&p, 300, 10, 50, 5070, "one.test.example");
	answer_srv(&p, 120, 20, 0, 5080, "two.test.example");
	ck_assert_int_eq(sip_dns_answer_ttl(p.b, p.n, &ttl), 0);
	ck_assert_uint_eq(ttl, 120);
	ck_assert_int_eq(sip_dns_parse(T_SRV, p.b, p.n, &e), 0);
	ck_assert_uint_eq(e.n, 2);
	ck_assert_uint_eq(e.ttl, 120);
	ck_assert_str_eq(e.rr[0].target, "one.test.example");
	ck_assert_uint_eq(e.rr[0].port, 5070);
	ck_assert_uint_eq(e.rr[0].weight, 50);
	ck_assert_uint_eq(e.rr[1].priority, 20);
	/* Truncated anywhere: refused, never read past the end. */
	for (size_t cut = 0; cut < p.n; cut++)
		ck_assert_int_eq(sip_dns_parse(T_SRV, p.b, cut, &e), -EBADMSG);
}
END_TEST

START_TEST(test_parse_a_bounds)
{
	struct pkt p;
	struct sip_dns_entry e;
	char ip[32];

	/* More records than we keep, a TTL above the cap. */
	header(&p, "many.test.example", T_A, 12);
	for (int i = 0; i < 12; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		answer_a(&p, 86400, ip);
	}
	ck_assert_int_eq(sip_dns_parse(T_A, p.b, p.n, &e), 0);
	ck_assert_uint_eq(e.n, SIP_DNS_MAX_ANSWERS);
	ck_assert_uint_eq(e.ttl, SIP_DNS_MAX_TTL);
	ck_assert_int_eq(e.rr[0].addr.sa.sa_family, AF_INET);
	ck_assert_str_eq(inet_ntop(AF_INET, &e.rr[1].addr.in.sin_addr, ip, sizeof(ip)),
			 "192.0.2.2");
	/* RFC 2181 8: a TTL with the top bit set is zero. */
	header(&p, "one.test.example", T_A, 1);
	answer_a(&p, 0x80000000u, "192.0.2.1");
	ck_assert_int_eq(sip_dns_parse(T_A, p.b, p.n, &e), 0);
	ck_assert_uint_eq(e.ttl, 0);
	/* A header claiming more answers than are there. */
	p.b[7] = 3;
	ck_assert_int_eq(sip_dns_parse(T_A, p.b, p.n, &e), -EBADMSG);
}
END_TEST

/* ---- cache --------------------------------------------------------------------------- */

static void fill(struct sip_dns_entry *e, int type, const char *name, ev_tstamp expires)
{
	memset(e, 0, sizeof(*e));
	e->type = type;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->expires = expires;
	e->n = 1;
}

START_TEST(test_cache)
{
	struct sip_dns_entry cache[4] = { 0 }, *e;

	fill(&cache[1], T_A, "a.test.example", 100.0);
	fill(&cache[2], T_SRV, "_sip._udp.test.example", 50.0);
	/* Found by type and name (case-insensitively) until it expires. */
	ck_assert_ptr_eq(sip_dns_cache_find(cache, 4, T_A, "A.Test.Example", 99.0), &cache[1]);
	ck_assert_ptr_null(sip_dns_cache_find(cache, 4, T_AAAA, "a.test.example", 99.0));
	ck_assert_ptr_null(sip_dns_cache_find(cache, 4, T_A, "a.test.example", 100.0));
	/* The same name reuses its slot, expired or not. */
	ck_assert_ptr_eq(sip_dns_cache_slot(cache, 4, T_SRV, "_sip._udp.test.example", 60.0),
			 &cache[2]);
	/* Otherwise a free (never used) or expired slot. */
	e = sip_dns_cache_slot(cache, 4, T_A, "new.test.example", 10.0);
	ck_assert(e == &cache[0] || e == &cache[3]);
	/* Full of live entries: the one expiring first goes. */
	fill(&cache[0], T_A, "x", 300.0);
	fill(&cache[3], T_A, "y", 200.0);
	ck_assert_ptr_eq(sip_dns_cache_slot(cache, 4, T_A, "new.test.example", 10.0), &cache[2]);
}
END_TEST

/* ---- the resolver on a loop ------------------------------------------------------------- */

static unsigned answered, cancelled;

static void on_answer(int err, const struct sip_dns_rr *rr, unsigned n, void *arg)
{
	answered++;
	cancelled += err == -ECANCELED;
}

START_TEST(test_pending_bound)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct config *cfg = config_new_defaults();
	union sip_sockaddr a = { 0 };
	socklen_t len = sizeof(a);
	struct sip *sip = NULL;
	char name[300], servers[64];
	int silent = socket(AF_INET, SOCK_DGRAM, 0);

	/* A DNS server that never answers: every query stays in flight. */
	a.in.sin_family = AF_INET;
	a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(silent, &a.sa, sizeof(a.in)), 0);
	ck_assert_int_eq(getsockname(silent, &a.sa, &len), 0);
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", ntohs(a.in.sin_port));
	cfg->sip_port = 0;
	cfg->sip_addr = strdup("127.0.0.1");
	cfg->sip_dns_servers = strdup(servers);
	ck_assert_int_eq(sip_new(loop, cfg, &sip), 0);
	answered = cancelled = 0;
	for (int i = 0; i < SIP_DNS_MAX_PENDING; i++) {
		snprintf(name, sizeof(name), "n%d.test.example", i);
		ck_assert_int_eq(sip_dns_query(sip, T_A, name, on_answer, NULL), 0);
	}
	ck_assert_int_eq(sip_dns_query(sip, T_A, "over.test.example", on_answer, NULL), -EBUSY);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_int_eq(sip_dns_query(sip, T_A, name, on_answer, NULL), -ENAMETOOLONG);
	ck_assert_uint_eq(answered, 0);
	/* Stopping answers each one, once. */
	sip_free(sip);
	ck_assert_uint_eq(answered, SIP_DNS_MAX_PENDING);
	ck_assert_uint_eq(cancelled, SIP_DNS_MAX_PENDING);
	config_free(cfg);
	close(silent);
	ev_loop_destroy(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sip-locate");
	TCase *tc = tcase_create("pure");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_srv_priority);
	tcase_add_test(tc, test_srv_weight_zero);
	tcase_add_test(tc, test_srv_weight_share);
	tcase_add_test(tc, test_srv_one_and_none);
	tcase_add_test(tc, test_parse_srv);
	tcase_add_test(tc, test_parse_a_bounds);
	tcase_add_test(tc, test_cache);
	tcase_add_test(tc, test_pending_bound);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
