/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RFC 5547 SDP: the §10.1 example offer and answer parsed into hand-checked fields, our
 * own offer written exactly as expected, and the file-selector grammar's edge cases. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <check.h>

#include "testutil.h"
#include "transfer/transfer.h"

/* RFC 5547 §10.1, the offer (the RFC folds the file-selector line for print only). */
static const char rfc5547_offer[] =
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n"
	"s=\r\n"
	"c=IN IP4 host.atlanta.example.com\r\n"
	"t=0 0\r\n"
	"m=message 7654 TCP/MSRP *\r\n"
	"i=This is my latest picture\r\n"
	"a=sendonly\r\n"
	"a=accept-types:message/cpim\r\n"
	"a=accept-wrapped-types:*\r\n"
	"a=path:msrp://atlanta.example.com:7654/jshA7we;tcp\r\n"
	"a=file-selector:name:\"My cool picture.jpg\" type:image/jpeg size:32349 "
	"hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E\r\n"
	"a=file-transfer-id:vBnG916bdberum2fFEABR1FR3ExZMUrd\r\n"
	"a=file-disposition:attachment\r\n"
	"a=file-date:creation:\"Mon, 15 May 2006 15:01:31 +0300\"\r\n"
	"a=file-icon:cid:id2@alicepc.example.com\r\n"
	"a=file-range:1-32349\r\n";

/* RFC 5547 §10.1, the answer. */
static const char rfc5547_answer[] =
	"v=0\r\n"
	"o=bob 2890844656 2890844656 IN IP4 host.biloxi.example.com\r\n"
	"s=\r\n"
	"c=IN IP4 host.biloxi.example.com\r\n"
	"t=0 0\r\n"
	"m=message 8888 TCP/MSRP *\r\n"
	"a=recvonly\r\n"
	"a=accept-types:message/cpim\r\n"
	"a=accept-wrapped-types:*\r\n"
	"a=path:msrp://bob.example.com:8888/9di4ea;tcp\r\n"
	"a=file-selector:name:\"My cool picture.jpg\" type:image/jpeg size:32349 "
	"hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E\r\n"
	"a=file-transfer-id:vBnG916bdberum2fFEABR1FR3ExZMUrd\r\n"
	"a=file-disposition:attachment\r\n"
	"a=file-range:1-32349\r\n";

static const uint8_t picture_sha1[20] = { 0x72, 0x24, 0x5F, 0xE8, 0x65, 0x3D, 0xDA,
					  0xF3, 0x71, 0x36, 0x2F, 0x86, 0xD4, 0x71,
					  0x91, 0x3E, 0xE4, 0xA2, 0xCE, 0x2E };

START_TEST(rfc5547_example_offer)
{
	struct transfer_sdp s;

	ck_assert_int_eq(transfer_sdp_parse(rfc5547_offer, strlen(rfc5547_offer), &s), 0);
	ck_assert_str_eq(s.origin_user, "alice");
	ck_assert_uint_eq(s.session_id, 2890844526ULL);
	ck_assert_str_eq(s.addr, "host.atlanta.example.com");
	ck_assert(!s.ipv6);
	ck_assert_uint_eq(s.port, 7654);
	ck_assert_int_eq(s.direction, TRANSFER_DIRECTION_SENDONLY);
	ck_assert_str_eq(s.accept_types, "message/cpim");
	ck_assert_str_eq(s.path, "msrp://atlanta.example.com:7654/jshA7we;tcp");
	ck_assert(!s.has_setup);
	ck_assert_int_eq(s.setup, TRANSFER_SETUP_ACTIVE);
	ck_assert_uint_eq(s.sel.has, TRANSFER_SEL_NAME | TRANSFER_SEL_TYPE | TRANSFER_SEL_SIZE |
					     TRANSFER_SEL_SHA1);
	ck_assert_str_eq(s.sel.name, "My cool picture.jpg");
	ck_assert_str_eq(s.sel.type, "image/jpeg");
	ck_assert_uint_eq(s.sel.size, 32349);
	ck_assert(memcmp(s.sel.sha1, picture_sha1, 20) == 0);
	ck_assert_str_eq(s.transfer_id, "vBnG916bdberum2fFEABR1FR3ExZMUrd");
	ck_assert_str_eq(s.disposition, "attachment");
	ck_assert(s.has_range);
	ck_assert_uint_eq(s.range_start, 1);
	ck_assert_uint_eq(s.range_stop, 32349);
}
END_TEST

START_TEST(rfc5547_example_answer)
{
	struct transfer_sdp offer, ans, mine = { 0 };

	ck_assert_int_eq(transfer_sdp_parse(rfc5547_offer, strlen(rfc5547_offer), &offer), 0);
	ck_assert_int_eq(transfer_sdp_parse(rfc5547_answer, strlen(rfc5547_answer), &ans), 0);
	ck_assert_int_eq(ans.direction, TRANSFER_DIRECTION_RECVONLY);
	ck_assert_uint_eq(ans.port, 8888);
	ck_assert_str_eq(ans.path, "msrp://bob.example.com:8888/9di4ea;tcp");
	/* our answer to the same offer keeps what §10.1's answer keeps */
	ck_assert_int_eq(transfer_sdp_answer(&offer, &mine), 0);
	ck_assert_int_eq(mine.direction, ans.direction);
	ck_assert(memcmp(&mine.sel, &ans.sel, sizeof(mine.sel)) == 0);
	ck_assert_str_eq(mine.transfer_id, ans.transfer_id);
	ck_assert_str_eq(mine.disposition, ans.disposition);
	ck_assert_uint_eq(mine.range_stop, ans.range_stop);
	/* no a=setup in the offer means active (RFC 4145 §4): we answer passive */
	ck_assert_int_eq(mine.setup, TRANSFER_SETUP_PASSIVE);
}
END_TEST

/* Our fetch offer (receiver asks, resuming), byte for byte as hand-written here. */
static const char expected_offer[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 127.0.0.1\r\n"
	"s=-\r\n"
	"c=IN IP4 127.0.0.1\r\n"
	"t=0 0\r\n"
	"m=message 40000 TCP/MSRP *\r\n"
	"a=recvonly\r\n"
	"a=accept-types:*\r\n"
	"a=path:msrp://127.0.0.1:40000/s3ss10n;tcp\r\n"
	"a=setup:actpass\r\n"
	"a=file-selector:name:\"a %22quoted%22 100%25 name \xc3\xa9.txt\" type:text/plain "
	"size:3 hash:sha-256:BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:"
	"17:7A:9C:B4:10:FF:61:F2:00:15:AD\r\n"
	"a=file-transfer-id:t1\r\n"
	"a=file-disposition:attachment\r\n"
	"a=file-range:2-3\r\n";

START_TEST(build_offer_exactly)
{
	static const uint8_t abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
					 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
					 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
					 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	struct transfer_sdp s = { .session_id = 1, .session_version = 1, .port = 40000,
				  .direction = TRANSFER_DIRECTION_RECVONLY,
				  .setup = TRANSFER_SETUP_ACTPASS, .has_setup = true,
				  .has_range = true, .range_start = 2, .range_stop = 3 };
	struct transfer_sdp back;
	char buf[2048];
	int n;

	strcpy(s.addr, "127.0.0.1");
	strcpy(s.path, "msrp://127.0.0.1:40000/s3ss10n;tcp");
	strcpy(s.transfer_id, "t1");
	strcpy(s.disposition, "attachment");
	s.sel.has = TRANSFER_SEL_NAME | TRANSFER_SEL_TYPE | TRANSFER_SEL_SIZE | TRANSFER_SEL_SHA256;
	strcpy(s.sel.name, "a \"quoted\" 100% name \xc3\xa9.txt");
	strcpy(s.sel.type, "text/plain");
	s.sel.size = 3;
	memcpy(s.sel.sha256, abc, 32);
	n = transfer_sdp_format(buf, sizeof(buf), &s);
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(buf, expected_offer);
	ck_assert_int_eq(transfer_sdp_parse(buf, (size_t)n, &back), 0);
	ck_assert(memcmp(&back.sel, &s.sel, sizeof(s.sel)) == 0);
	ck_assert_int_eq(back.setup, TRANSFER_SETUP_ACTPASS);
	ck_assert_uint_eq(back.range_start, 2);
	ck_assert_int_eq(transfer_sdp_format(buf, 100, &s), -ENOSPC);
	ck_assert_int_eq(transfer_sdp_answer(&back, &s), 0);
	ck_assert_int_eq(s.setup, TRANSFER_SETUP_ACTIVE); /* RFC 4145 §4.1, RFC 6135 */
	ck_assert_int_eq(s.direction, TRANSFER_DIRECTION_SENDONLY);
}
END_TEST

static int sel(const char *s, struct transfer_file_selector *out)
{
	return transfer_file_selector_parse(s, strlen(s), out);
}

START_TEST(file_selector_edges)
{
	struct transfer_file_selector f;
	char buf[64];

	ck_assert_int_eq(sel("name:\"a%20b\"", &f), 0);
	ck_assert_str_eq(f.name, "a b");
	ck_assert_int_eq(sel("name:\"x y  z\" size:0", &f), 0);
	ck_assert_str_eq(f.name, "x y  z");
	ck_assert_uint_eq(f.size, 0);
	ck_assert_int_eq(sel("", &f), 0);
	ck_assert_uint_eq(f.has, 0);
	/* lower-case hex accepted on input; unknown algorithms parsed and ignored */
	ck_assert_int_eq(
	    sel("hash:sha-1:72:24:5f:e8:65:3d:da:f3:71:36:2f:86:d4:71:91:3e:e4:a2:ce:2e "
		"hash:md5:00:11",
		&f),
	    0);
	ck_assert_uint_eq(f.has, TRANSFER_SEL_SHA1);
	/* refused: */
	ck_assert_int_eq(sel("name:\"unterminated", &f), -EBADMSG);
	ck_assert_int_eq(sel("name:\"\"", &f), -EBADMSG);
	ck_assert_int_eq(sel("name:\"nul%00\"", &f), -EBADMSG);
	ck_assert_int_eq(sel("name:\"bad%2\"", &f), -EBADMSG);
	ck_assert_int_eq(sel("name:\"bad%zz\"", &f), -EBADMSG);
	ck_assert_int_eq(sel("name:\"cr\rlf\"", &f), -EBADMSG);
	ck_assert_int_eq(sel("name:\"a\" name:\"b\"", &f), -EBADMSG);
	ck_assert_int_eq(sel("name:\"a\"size:1", &f), -EBADMSG);
	ck_assert_int_eq(sel("name:\"a\" ", &f), -EBADMSG);
	ck_assert_int_eq(sel("size:-1", &f), -EBADMSG);
	ck_assert_int_eq(sel("size:99999999999999999999", &f), -EBADMSG);
	ck_assert_int_eq(sel("type:image", &f), -EBADMSG);
	ck_assert_int_eq(sel("hash:sha-1:72:24", &f), -EBADMSG);
	ck_assert_int_eq(sel("hash:sha-256:7", &f), -EBADMSG);
	ck_assert_int_eq(sel("hash:sha-256:72:", &f), -EBADMSG);
	ck_assert_int_eq(sel("hash:sha-256:7224", &f), -EBADMSG);
	ck_assert_int_eq(sel("bogus:1", &f), -EBADMSG);
	memset(buf, 'a', sizeof(buf));
	{
		char big[TRANSFER_NAME_MAX + 20];

		memcpy(big, "name:\"", 6);
		memset(big + 6, 'n', TRANSFER_NAME_MAX + 5);
		strcpy(big + 6 + TRANSFER_NAME_MAX + 5, "\"");
		ck_assert_int_eq(sel(big, &f), -EMSGSIZE);
	}
}
END_TEST

START_TEST(hostile_sdp)
{
	struct transfer_sdp s;
	char big[TRANSFER_SDP_MAX + 2];

	ck_assert_int_eq(transfer_sdp_parse("", 0, &s), -EBADMSG);
	ck_assert_int_eq(transfer_sdp_parse("v=0\r\nc=IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\n", 36, &s),
			 -ENOMSG);
	ck_assert_int_eq(transfer_sdp_parse("v=1\r\n", 5, &s), -EBADMSG);
	ck_assert_int_eq(transfer_sdp_parse("v=0\r\nm=message 99999 TCP/MSRP *\r\n", 33, &s),
			 -EBADMSG);
	ck_assert_int_eq(transfer_sdp_parse("v=0\r\nm=message 1 TCP/MSRP *\r\na=setup:x\r\n", 40,
					    &s),
			 -EBADMSG);
	ck_assert_int_eq(transfer_sdp_parse("v=0\r\nm=message 1 TCP/MSRP *\r\na=file-range:0-3\r\n",
					    47, &s),
			 -EBADMSG);
	ck_assert_int_eq(transfer_sdp_parse("v=0\r\ngarbage\r\n", 14, &s), -EBADMSG);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(transfer_sdp_parse(big, sizeof(big), &s), -EMSGSIZE);
	/* an audio stream first, then ours: its attributes do not leak into ours */
	{
		static const char two[] =
		    "v=0\r\nc=IN IP4 h\r\nm=audio 5 RTP/AVP 0\r\na=sendonly\r\n"
		    "a=path:wrong\r\nm=message 9 TCP/MSRP *\r\na=path:right\r\n";

		ck_assert_int_eq(transfer_sdp_parse(two, strlen(two), &s), 0);
		ck_assert_str_eq(s.path, "right");
		ck_assert_int_eq(s.direction, TRANSFER_DIRECTION_SENDRECV);
	}
}
END_TEST


START_TEST(setup_levels_ipv6_and_open_range)
{
	static const char sdp[] = "v=0\r\n"
				  "o=- 7 8 IN IP6 ::1\r\n"
				  "s=-\r\n"
				  "a=setup:passive\r\n" /* session level (RFC 4145 §4) */
				  "c=IN IP6 ::1\r\n"
				  "t=0 0\r\n"
				  "m=message 9 TCP/MSRP *\r\n"
				  "a=recvonly\r\n"
				  "a=path:msrp://[::1]:9/x;tcp\r\n"
				  "a=file-selector:type:text/plain;charset=\"utf-8\" size:10\r\n"
				  "a=file-range:4-*\r\n";
	struct transfer_sdp s, ans = { 0 };
	char buf[1024];

	ck_assert_int_eq(transfer_sdp_parse(sdp, strlen(sdp), &s), 0);
	ck_assert(s.ipv6);
	ck_assert_str_eq(s.addr, "::1");
	ck_assert_int_eq(s.setup, TRANSFER_SETUP_PASSIVE);
	ck_assert_str_eq(s.sel.type, "text/plain;charset=\"utf-8\"");
	ck_assert_uint_eq(s.range_start, 4);
	ck_assert_uint_eq(s.range_stop, TRANSFER_RANGE_UNKNOWN);
	ck_assert_int_gt(transfer_sdp_format(buf, sizeof(buf), &s), 0);
	ck_assert_ptr_nonnull(strstr(buf, "a=file-range:4-*\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "c=IN IP6 ::1\r\n"));
	/* a passive offerer gets an active answerer; holdconn and sendrecv are no transfer */
	ck_assert_int_eq(transfer_sdp_answer(&s, &ans), 0);
	ck_assert_int_eq(ans.setup, TRANSFER_SETUP_ACTIVE);
	s.setup = TRANSFER_SETUP_HOLDCONN;
	ck_assert_int_eq(transfer_sdp_answer(&s, &ans), -EPROTO);
	s.setup = TRANSFER_SETUP_ACTPASS;
	s.direction = TRANSFER_DIRECTION_SENDRECV;
	ck_assert_int_eq(transfer_sdp_answer(&s, &ans), -EPROTO);
	/* LF-only line ends are taken too (RFC 4566 §5 recommends tolerating them) */
	{
		static const char lf[] = "v=0\nc=IN IP4 h\nm=message 1 TCP/MSRP *\na=sendonly\n";

		ck_assert_int_eq(transfer_sdp_parse(lf, strlen(lf), &s), 0);
		ck_assert_int_eq(s.direction, TRANSFER_DIRECTION_SENDONLY);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transfer-sdp");
	TCase *tc = tcase_create("sdp");

	tcase_add_test(tc, rfc5547_example_offer);
	tcase_add_test(tc, rfc5547_example_answer);
	tcase_add_test(tc, build_offer_exactly);
	tcase_add_test(tc, file_selector_edges);
	tcase_add_test(tc, hostile_sdp);
	tcase_add_test(tc, setup_levels_ipv6_and_open_range);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
