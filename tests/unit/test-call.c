/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure parts of the call subsystem: the answer that refuses every stream of an offer
 * (RFC 3264 6), and the call state names used in events and <Calls/>. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "call/call-private.h"

START_TEST(test_sdp_refuse_zeroes_every_port)
{
	const char *offer = "v=0\r\n"
			    "o=a 1 1 IN IP4 127.0.0.1\r\n"
			    "c=IN IP4 127.0.0.1\r\n"
			    "m=audio 49170 RTP/AVP 0 8\r\n"
			    "a=rtpmap:0 PCMU/8000\r\n"
			    "m=video 51372 RTP/AVP 31\r\n";
	char *r = call_sdp_refuse(offer);

	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r, "v=0\r\n"
			    "o=a 1 1 IN IP4 127.0.0.1\r\n"
			    "c=IN IP4 127.0.0.1\r\n"
			    "m=audio 0 RTP/AVP 0 8\r\n"
			    "a=rtpmap:0 PCMU/8000\r\n"
			    "m=video 0 RTP/AVP 31\r\n");
	free(r);
}
END_TEST

START_TEST(test_sdp_refuse_odd_input)
{
	char *r = call_sdp_refuse("m=audio\nm=\nx=m=audio 5 y\nm=audio x\n");

	/* No port to replace: the lines stay as they are, nothing is read past the end,
	 * and the answer is never longer than the offer. */
	ck_assert_str_eq(r, "m=audio\nm=\nx=m=audio 5 y\nm=audio x\n");
	free(r);
	r = call_sdp_refuse("m=audio 1234 RTP/AVP 0");
	ck_assert_str_eq(r, "m=audio 0 RTP/AVP 0");
	free(r);
	r = call_sdp_refuse("");
	ck_assert_str_eq(r, "");
	free(r);
}
END_TEST

START_TEST(test_state_names)
{
	ck_assert_str_eq(call_state_to_string(CALL_STATE_TRANSFERRED), "transferred");
	ck_assert_str_eq(call_state_to_string(CALL_STATE_FAILED), "failed");
	ck_assert_ptr_null(call_state_to_string(_CALL_STATE_MAX));
	ck_assert_ptr_null(call_state_to_string(_CALL_STATE_INVALID));
	ck_assert_str_eq(call_leg_kind_to_string(CALL_LEG_REMOTE), "remote");
}
END_TEST

/* RFC 3264 8: what the device gets keeps one origin; the version grows per change. */
START_TEST(test_sdp_for_device_keeps_origin)
{
	struct call *c = calloc(1, sizeof(*c));
	const char *a = "v=0\r\no=alice 11 5 IN IP4 10.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n";
	const char *a2 = "v=0\r\no=alice 11 6 IN IP4 10.0.0.1\r\ns=-\r\nm=audio 4002 RTP/AVP 0\r\n";
	const char *b = "v=0\r\no=bob 99 1 IN IP4 10.0.0.2\r\ns=-\r\nm=audio 5000 RTP/AVP 0\r\n";
	char *r;

	r = call_sdp_for_device(c, a); /* the first one sets the origin */
	ck_assert_str_eq(r, a);
	free(r);
	r = call_sdp_for_device(c, a); /* unchanged: same version */
	ck_assert_str_eq(r, a);
	free(r);
	r = call_sdp_for_device(c, b); /* another far end: alice's origin, version 6 */
	ck_assert_str_eq(r, "v=0\r\no=alice 11 6 IN IP4 10.0.0.1\r\ns=-\r\n"
			    "m=audio 5000 RTP/AVP 0\r\n");
	free(r);
	r = call_sdp_for_device(c, b); /* bob again, unchanged: still 6 */
	ck_assert_str_eq(r, "v=0\r\no=alice 11 6 IN IP4 10.0.0.1\r\ns=-\r\n"
			    "m=audio 5000 RTP/AVP 0\r\n");
	free(r);
	r = call_sdp_for_device(c, a2); /* back to alice's new version: 7 */
	ck_assert_str_eq(r, "v=0\r\no=alice 11 7 IN IP4 10.0.0.1\r\ns=-\r\n"
			    "m=audio 4002 RTP/AVP 0\r\n");
	free(r);
	r = call_sdp_for_device(c, "v=0\r\nm=audio 1 RTP/AVP 0\r\n"); /* no o=: as it is */
	ck_assert_str_eq(r, "v=0\r\nm=audio 1 RTP/AVP 0\r\n");
	free(r);
	free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("call");
	TCase *tc = tcase_create("pure");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_sdp_refuse_zeroes_every_port);
	tcase_add_test(tc, test_sdp_refuse_odd_input);
	tcase_add_test(tc, test_state_names);
	tcase_add_test(tc, test_sdp_for_device_keeps_origin);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
