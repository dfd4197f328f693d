/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The overlay's bodies: what we write we read back; what a hostile peer writes
 * (oversize, deep, bad ids, TTL 255, too many entries, DTDs) is refused or capped. */
#include "config.h"

#include <errno.h>

#include <check.h>

#include "core/core.h"
#include "overlay/overlay.h"
#include "testutil.h"

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"

static struct overlay_peer peer(unsigned n)
{
	struct overlay_peer p = {0};

	p.id.b[0] = (uint8_t)n;
	p.id.b[15] = 0x5a;
	snprintf(p.contact, sizeof(p.contact), "10.0.0.%u:5060", n);
	return p;
}

START_TEST(peers_round_trip)
{
	struct overlay_peers m = {.kind = OVERLAY_PEERS_REJECT, .expires_s = 600}, back;
	char *buf;
	size_t len;

	m.from = peer(1);
	m.n = OVERLAY_PEERLIST_MAX;
	for (size_t i = 0; i < m.n; i++)
		m.peers[i] = peer((unsigned)i + 2);
	snprintf(m.peers[3].contact, sizeof(m.peers[3].contact), "[2001:db8::1]:5070");
	ck_assert_int_eq(overlay_peers_to_xml(&m, &buf, &len), 0);
	ck_assert_int_eq(overlay_peers_from_xml(buf, len, &back), 0);
	free(buf);
	ck_assert_int_eq(back.kind, m.kind);
	ck_assert_uint_eq(back.expires_s, 600);
	ck_assert_uint_eq(back.n, m.n);
	ck_assert_int_eq(overlay_id_cmp(&back.from.id, &m.from.id), 0);
	ck_assert_str_eq(back.from.contact, m.from.contact);
	for (size_t i = 0; i < m.n; i++) {
		ck_assert_int_eq(overlay_id_cmp(&back.peers[i].id, &m.peers[i].id), 0);
		ck_assert_str_eq(back.peers[i].contact, m.peers[i].contact);
	}
}
END_TEST

START_TEST(query_and_hit_round_trip)
{
	struct overlay_query q = {.ttl = 4, .hops = 2}, qb;
	struct overlay_hit h = {.hops = 3, .n = OVERLAY_HIT_FILES_MAX}, hb;
	char *buf;
	size_t len;

	q.qid = peer(9).id;
	q.origin = peer(1);
	snprintf(q.keywords, sizeof(q.keywords), "Beethoven <9> & \"choral\"");
	ck_assert_int_eq(overlay_query_to_xml(&q, &buf, &len), 0);
	ck_assert_int_eq(overlay_query_from_xml(buf, len, &qb), 0);
	free(buf);
	ck_assert_int_eq(overlay_id_cmp(&qb.qid, &q.qid), 0);
	ck_assert_uint_eq(qb.ttl, 4);
	ck_assert_uint_eq(qb.hops, 2);
	ck_assert_str_eq(qb.keywords, q.keywords);
	ck_assert_str_eq(qb.origin.contact, q.origin.contact);

	h.qid = q.qid;
	h.holder = peer(7);
	for (size_t i = 0; i < h.n; i++) {
		snprintf(h.files[i].name, sizeof(h.files[i].name), "f\xc3\xa9te %zu.ogg", i);
		h.files[i].size = UINT64_MAX - i;
	}
	ck_assert_int_eq(overlay_hit_to_xml(&h, &buf, &len), 0);
	ck_assert_int_eq(overlay_hit_from_xml(buf, len, &hb), 0);
	free(buf);
	ck_assert_uint_eq(hb.n, h.n);
	ck_assert_uint_eq(hb.hops, 3);
	for (size_t i = 0; i < h.n; i++) {
		ck_assert_str_eq(hb.files[i].name, h.files[i].name);
		ck_assert(hb.files[i].size == h.files[i].size);
	}
	/* a query body is not a hit body and the other way round */
	ck_assert_int_eq(overlay_query_to_xml(&q, &buf, &len), 0);
	ck_assert_int_eq(overlay_hit_from_xml(buf, len, &hb), -EINVAL);
	free(buf);
	overlay_body_done();
}
END_TEST

static int parse_query(const char *s, struct overlay_query *q)
{
	return overlay_query_from_xml(s, strlen(s), q);
}

START_TEST(ttl_255_capped)
{
	struct overlay_query q;

	ck_assert_int_eq(parse_query("<query id=\"" ID1 "\" ttl=\"255\" hops=\"0\" origin-id=\"" ID2
				     "\" origin=\"h:1\"><keywords>a</keywords></query>",
				     &q),
			 0);
	ck_assert_uint_eq(q.ttl, OVERLAY_TTL_MAX);
	ck_assert_int_eq(parse_query("<query id=\"" ID1 "\" ttl=\"0\" hops=\"0\" origin-id=\"" ID2
				     "\" origin=\"h:1\"><keywords>a</keywords></query>",
				     &q),
			 -EINVAL);
	ck_assert_int_eq(parse_query("<query id=\"" ID1 "\" ttl=\"256\" hops=\"0\" origin-id=\"" ID2
				     "\" origin=\"h:1\"><keywords>a</keywords></query>",
				     &q),
			 -EINVAL);
	ck_assert_int_eq(parse_query("<query id=\"" ID1 "\" ttl=\"-1\" hops=\"0\" origin-id=\"" ID2
				     "\" origin=\"h:1\"><keywords>a</keywords></query>",
				     &q),
			 -EINVAL);
}
END_TEST

START_TEST(bad_ids_refused)
{
	static const char *const bad[] = {
	    "0123456789abcdef0123456789abcde",	 /* 31 digits */
	    "0123456789abcdef0123456789abcdef0", /* 33 */
	    "0123456789abcdef0123456789abcdeg",	 /* not hex */
	    "00000000000000000000000000000000",	 /* zero: "unknown" is not an id */
	    "",
	};
	struct overlay_query q;
	struct overlay_peers m;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char doc[512];

		snprintf(doc, sizeof(doc),
			 "<query id=\"%s\" ttl=\"3\" hops=\"0\" origin-id=\"" ID2
			 "\" origin=\"h:1\"><keywords>a</keywords></query>",
			 bad[i]);
		ck_assert_int_eq(parse_query(doc, &q), -EINVAL);
		snprintf(doc, sizeof(doc),
			 "<peers kind=\"notify\" id=\"%s\" contact=\"h:1\" expires=\"60\"/>",
			 bad[i]);
		ck_assert_int_eq(overlay_peers_from_xml(doc, strlen(doc), &m), -EINVAL);
	}
}
END_TEST

START_TEST(hostile_bodies_refused)
{
	static const char *const bad[] = {
	    "",
	    "<peers",
	    "<!DOCTYPE peers [<!ENTITY x \"y\">]><peers kind=\"notify\" id=\"" ID1
	    "\" contact=\"h:1\" expires=\"60\"/>",
	    "<peers kind=\"gossip\" id=\"" ID1 "\" contact=\"h:1\" expires=\"60\"/>",
	    "<peers kind=\"notify\" id=\"" ID1 "\" contact=\"h\" expires=\"60\"/>",
	    "<peers kind=\"notify\" id=\"" ID1 "\" contact=\"h:1\" expires=\"99999999\"/>",
	    "<peers kind=\"notify\" id=\"" ID1 "\" contact=\"u@h:1\" expires=\"60\"/>",
	    "<peers kind=\"notify\" id=\"" ID1 "\" contact=\"h:1\" expires=\"60\"><x/></peers>",
	    "<query id=\"" ID1 "\" ttl=\"3\" hops=\"0\" origin-id=\"" ID2 "\" origin=\"h:1\"/>",
	};
	struct overlay_peers m;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(overlay_peers_from_xml(bad[i], strlen(bad[i]), &m) < 0,
			      "accepted #%zu", i);
}
END_TEST

START_TEST(oversize_and_deep_refused)
{
	size_t n = OVERLAY_BODY_MAX + 1, depth = 5000;
	char *big = malloc(n + 1), *deep = malloc(depth * 7 + 64), *p;
	struct overlay_peers m;
	struct overlay_query q;

	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_nonnull(deep);
	memset(big, ' ', n);
	memcpy(big, "<peers", 6);
	big[n] = '\0';
	ck_assert_int_eq(overlay_peers_from_xml(big, n, &m), -EMSGSIZE);
	ck_assert_int_eq(overlay_query_from_xml(big, n, &q), -EMSGSIZE);
	/* deep nesting within the size limit: libxml2's depth limit and the schema */
	p = deep;
	for (size_t i = 0; i < depth; i++)
		p += sprintf(p, "<peer>");
	ck_assert_int_eq(
	    overlay_peers_from_xml(
		deep, (size_t)(p - deep) > OVERLAY_BODY_MAX ? OVERLAY_BODY_MAX : (size_t)(p - deep),
		&m),
	    -EINVAL);
	free(big);
	free(deep);
}
END_TEST

START_TEST(too_many_entries_refused)
{
	char doc[OVERLAY_BODY_MAX], *p = doc;
	struct overlay_peers m;
	struct overlay_hit h;

	p += sprintf(p, "<peers kind=\"notify\" id=\"" ID1 "\" contact=\"h:1\" expires=\"60\">");
	for (int i = 0; i < OVERLAY_PEERLIST_MAX + 1; i++)
		p += sprintf(p, "<peer id=\"" ID2 "\" contact=\"h:%d\"/>", i + 1);
	p += sprintf(p, "</peers>");
	ck_assert_int_eq(overlay_peers_from_xml(doc, (size_t)(p - doc), &m), -EINVAL);

	p = doc;
	p += sprintf(p, "<hits query=\"" ID1 "\" hops=\"1\" holder-id=\"" ID2 "\" holder=\"h:1\">");
	for (int i = 0; i < OVERLAY_HIT_FILES_MAX + 1; i++)
		p += sprintf(p, "<file name=\"f%d\" size=\"1\"/>", i);
	p += sprintf(p, "</hits>");
	ck_assert_int_eq(overlay_hit_from_xml(doc, (size_t)(p - doc), &h), -EINVAL);
}
END_TEST

START_TEST(hit_names_are_names)
{
	static const char *const bad[] = {"../etc/passwd", "a/b", "..", "."};
	struct overlay_hit h;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char doc[512];

		snprintf(doc, sizeof(doc),
			 "<hits query=\"" ID1 "\" hops=\"1\" holder-id=\"" ID2
			 "\" holder=\"h:1\"><file name=\"%s\" size=\"1\"/></hits>",
			 bad[i]);
		ck_assert_int_eq(overlay_hit_from_xml(doc, strlen(doc), &h), -EINVAL);
	}
}
END_TEST

/* A hit names each file's content (the FILE-ID of search events) when it has one. */
START_TEST(hit_sha256_round_trip_and_checked)
{
	static const char *const bad[] = {"0A", "0g", "0a0", ""};
	struct overlay_hit h = {.n = 2}, back;
	char *buf, doc[512];
	size_t len;

	memset(h.qid.b, 1, sizeof(h.qid.b));
	memset(h.holder.id.b, 2, sizeof(h.holder.id.b));
	snprintf(h.holder.contact, sizeof(h.holder.contact), "10.0.0.1:5060");
	snprintf(h.files[0].name, sizeof(h.files[0].name), "hashed");
	h.files[0].has_sha256 = true;
	for (size_t i = 0; i < sizeof(h.files[0].sha256); i++)
		h.files[0].sha256[i] = (uint8_t)(i * 7);
	snprintf(h.files[1].name, sizeof(h.files[1].name), "not yet");
	ck_assert_int_eq(overlay_hit_to_xml(&h, &buf, &len), 0);
	ck_assert_int_eq(overlay_hit_from_xml(buf, len, &back), 0);
	free(buf);
	ck_assert(back.files[0].has_sha256 && !back.files[1].has_sha256);
	ck_assert_mem_eq(back.files[0].sha256, h.files[0].sha256, sizeof(h.files[0].sha256));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char hex[80];

		/* 64 digits but for the first two: upper case, not hex, or wrong lengths */
		snprintf(hex, sizeof(hex), "%s%.*s", bad[i], 62,
			 "00000000000000000000000000000000000000000000000000000000000000");
		snprintf(doc, sizeof(doc),
			 "<hits query=\"" ID1 "\" hops=\"1\" holder-id=\"" ID2
			 "\" holder=\"h:1\"><file name=\"x\" size=\"1\" sha256=\"%s\"/></hits>",
			 hex);
		ck_assert_int_eq(overlay_hit_from_xml(doc, strlen(doc), &back), -EINVAL);
	}
}
END_TEST

START_TEST(serialiser_refuses_what_it_cannot_write)
{
	struct overlay_hit h = {0};
	struct overlay_peers m = {.kind = _OVERLAY_PEERS_KIND_MAX};
	char *buf = NULL;
	size_t len;

	ck_assert_int_eq(overlay_hit_to_xml(&h, &buf, &len), -EINVAL);
	ck_assert_int_eq(overlay_peers_to_xml(&m, &buf, &len), -EINVAL);
	m.kind = OVERLAY_PEERS_NOTIFY;
	m.n = OVERLAY_PEERLIST_MAX + 1;
	ck_assert_int_eq(overlay_peers_to_xml(&m, &buf, &len), -EINVAL);
	ck_assert_ptr_null(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("overlay-body");
	TCase *tc = tcase_create("body");

	tcase_add_test(tc, peers_round_trip);
	tcase_add_test(tc, query_and_hit_round_trip);
	tcase_add_test(tc, ttl_255_capped);
	tcase_add_test(tc, bad_ids_refused);
	tcase_add_test(tc, hostile_bodies_refused);
	tcase_add_test(tc, oversize_and_deep_refused);
	tcase_add_test(tc, too_many_entries_refused);
	tcase_add_test(tc, hit_names_are_names);
	tcase_add_test(tc, hit_sha256_round_trip_and_checked);
	tcase_add_test(tc, serialiser_refuses_what_it_cannot_write);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
