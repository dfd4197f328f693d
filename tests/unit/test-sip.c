/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the SIP subsystem's pure parts: digest, stream framing, the
 * transaction index, validation. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "sip/sip-private.h"

/* ---- auth.c: RFC 7616 3.9.1 test vectors ------------------------------------------------ */

static void digest_case(enum sip_auth_alg alg, const char *want)
{
	struct sip_auth_params p = {
		.alg = alg, .user = "Mufasa", .realm = "http-auth@example.org",
		.password = "Circle of Life", .method = "GET", .uri = "/dir/index.html",
		.nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
		.cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", .nc = 1, .qop = "auth",
	};
	char out[SIP_AUTH_HEX_MAX];

	ck_assert_int_eq(sip_auth_digest(&p, out), 0);
	ck_assert_str_eq(out, want);
}

START_TEST(test_digest_md5)
{
	digest_case(SIP_AUTH_MD5, "8ca523f5e9506fed4657c9700eebdbec");
}
END_TEST

START_TEST(test_digest_sha256)
{
	digest_case(SIP_AUTH_SHA256,
		    "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}
END_TEST

START_TEST(test_digest_names)
{
	ck_assert_int_eq(sip_auth_alg_from_string(NULL), SIP_AUTH_MD5);
	ck_assert_int_eq(sip_auth_alg_from_string("sha-256"), SIP_AUTH_SHA256);
	ck_assert_int_eq(sip_auth_alg_from_string("SHA-512-256"), _SIP_AUTH_ALG_INVALID);
	ck_assert_str_eq(sip_auth_alg_to_string(SIP_AUTH_SHA256_SESS), "SHA-256-sess");
}
END_TEST

static osip_message_t *parse(const char *text)
{
	osip_event_t *e = osip_parse(text, strlen(text));
	osip_message_t *m;

	ck_assert_ptr_nonnull(e);
	m = e->sip;
	e->sip = NULL;
	osip_event_free(e);
	return m;
}

START_TEST(test_challenge_pick)
{
	/* RFC 8760: the topmost supported; an unknown algorithm is skipped. */
	osip_message_t *m = parse(
		"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
		"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
		"WWW-Authenticate: Digest realm=\"r\", nonce=\"n1\", algorithm=SHA-512-256, qop=\"auth\"\r\n"
		"WWW-Authenticate: Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth\", stale=TRUE\r\n"
		"WWW-Authenticate: Digest realm=\"r\", nonce=\"n3\", algorithm=MD5, qop=\"auth\"\r\n"
		"Content-Length: 0\r\n\r\n");
	struct sip_auth_challenge c;
	char *h;

	ck_assert_int_eq(sip_auth_challenge_pick(m, &c), 0);
	ck_assert_int_eq(c.alg, SIP_AUTH_SHA256);
	ck_assert_str_eq(c.nonce, "n2");
	ck_assert(c.stale && c.qop_auth);
	h = sip_auth_header(&c, "alice", "secret", "REGISTER", "sip:h");
	ck_assert_ptr_nonnull(strstr(h, "algorithm=SHA-256"));
	ck_assert_ptr_nonnull(strstr(h, "nc=00000001"));
	ck_assert_ptr_nonnull(strstr(h, "username=\"alice\""));
	free(h);
	sip_auth_challenge_clear(&c);
	osip_message_free(m);
}
END_TEST

/* ---- tcpframe.c ----------------------------------------------------------------------- */

START_TEST(test_frame)
{
	static const char two[] = "OPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabc"
				  "BYE sip:a SIP/2.0\r\nl: 0\r\n\r\n";
	size_t skip;

	ck_assert_int_eq(sip_frame_find(two, sizeof(two) - 1, 1000, &skip), 47);
	ck_assert_int_eq(skip, 0);
	ck_assert_int_eq(sip_frame_find(two + 47, sizeof(two) - 48, 1000, &skip), 27);
	/* incomplete body, incomplete headers */
	ck_assert_int_eq(sip_frame_find(two, 46, 1000, &skip), 0);
	ck_assert_int_eq(sip_frame_find(two, 20, 1000, &skip), 0);
	/* keep-alive CRLFs before a message are skipped */
	ck_assert_int_eq(sip_frame_find("\r\n\r\nX: 1\r\n\r\n", 12, 1000, &skip), 8);
	ck_assert_int_eq(skip, 4);
	/* limits and garbage */
	ck_assert_int_eq(sip_frame_find(two, sizeof(two) - 1, 40, &skip), -EMSGSIZE);
	ck_assert_int_eq(sip_frame_find("A\r\nContent-Length: x\r\n\r\n", 25, 100, &skip),
			 -EBADMSG);
	ck_assert_int_eq(sip_frame_find("A\r\nl: 1\r\nContent-Length: 2\r\n\r\n", 31, 100,
					&skip), -EBADMSG);
	/* folded value (RFC 3261 7.3.1) */
	ck_assert_int_eq(sip_frame_find("A\r\nContent-Length:\r\n 2\r\n\r\nab", 28, 100, &skip),
			 28);
}
END_TEST

/* ---- txindex.c ------------------------------------------------------------------------ */

START_TEST(test_txindex)
{
	struct sip_txindex ix;
	struct sip_tx *tx = calloc(5000, sizeof(*tx));
	char key[64], tag1[17], tag2[17];

	ck_assert_int_eq(sip_txindex_init(&ix), 0);
	/* past the initial bucket count: the table grows and keeps everything */
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "z9hG4bK%d|h:5060|INVITE", i);
		tx[i].key = strdup(key);
		tx[i].mkey = i % 2 ? strdup(key + 7) : NULL;
		ck_assert_int_eq(sip_txindex_add(&ix, &tx[i]), 0);
	}
	ck_assert_ptr_eq(sip_txindex_find(&ix, "z9hG4bK4321|h:5060|INVITE"), &tx[4321]);
	ck_assert_ptr_eq(sip_txindex_find_merge(&ix, "4321|h:5060|INVITE"), &tx[4321]);
	ck_assert_ptr_null(sip_txindex_find(&ix, "z9hG4bK4321|h:5060|ACK"));
	sip_txindex_remove(&ix, &tx[4321]);
	sip_txindex_remove(&ix, &tx[4321]);
	ck_assert_ptr_null(sip_txindex_find(&ix, "z9hG4bK4321|h:5060|INVITE"));
	ck_assert_int_eq(ix.n, 4999);
	sip_txindex_tag(&ix, "a", tag1);
	sip_txindex_tag(&ix, "a", tag2);
	ck_assert_str_eq(tag1, tag2);
	for (int i = 0; i < 5000; i++) {
		free(tx[i].key);
		free(tx[i].mkey);
	}
	free(tx);
	sip_txindex_done(&ix);
}
END_TEST

/* ---- validate.c ----------------------------------------------------------------------- */

static const char base[] = "OPTIONS sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bKx\r\n"
			   "Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:s@h>\r\n"
			   "Call-ID: c@h\r\nCSeq: 1 OPTIONS\r\n";

static enum sip_verdict verdict(const char *extra, const char *drop, const char **reason)
{
	char text[2048];
	const char *cut = strstr(base, drop ? drop : "\x01");
	osip_message_t *m;
	enum sip_verdict v;
	int status = 0;

	if (cut)
		snprintf(text, sizeof(text), "%.*s%s%s\r\n", (int)(cut - base), base,
			 strchr(cut, '\n') + 1, extra);
	else
		snprintf(text, sizeof(text), "%s%s\r\n", base, extra);
	m = parse(text);
	*reason = NULL;
	v = sip_validate_request(m, 0, &status, reason);
	osip_message_free(m);
	return v;
}

START_TEST(test_validate)
{
	const char *why;

	ck_assert_int_eq(verdict("Content-Length: 0\r\n", NULL, &why), SIP_VERDICT_OK);
	ck_assert_int_eq(verdict("", "Call-ID", &why), SIP_VERDICT_REJECT);
	ck_assert_str_eq(why, "Missing Call-ID");
	ck_assert_int_eq(verdict("", "Max-Forwards", &why), SIP_VERDICT_REJECT);
	ck_assert_str_eq(why, "Missing Max-Forwards");
	ck_assert_int_eq(verdict("", "Via", &why), SIP_VERDICT_DROP);
	ck_assert_int_eq(verdict("Content-Length: 10\r\n", NULL, &why), SIP_VERDICT_REJECT);
	ck_assert_str_eq(why, "Content-Length Too Large");
	ck_assert_int_eq(verdict("Max-Forwards: 1\r\n", NULL, &why), SIP_VERDICT_REJECT);
	ck_assert_str_eq(why, "Multiple Max-Forwards");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sip");
	TCase *tc = tcase_create("pure");
	SRunner *sr;
	int failed;

	parser_init();
	tcase_add_test(tc, test_digest_md5);
	tcase_add_test(tc, test_digest_sha256);
	tcase_add_test(tc, test_digest_names);
	tcase_add_test(tc, test_challenge_pick);
	tcase_add_test(tc, test_frame);
	tcase_add_test(tc, test_txindex);
	tcase_add_test(tc, test_validate);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
