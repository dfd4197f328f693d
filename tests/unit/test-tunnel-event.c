/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tunnel/event.c: the `tunnel` events made from what a SIP peer sent carry only
 * what sipsvc.xsd allows; a URI it does not is left out rather than sent broken. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "core/xml.h"
#include "testutil.h"
#include "tunnel/tunnel-private.h"

static const struct origin o = { .conn = 1, .ref = "r1" };

/* The event for a MESSAGE to @p ruri; its uri= attribute, or NULL. */
static xmlChar *uri_of_request(const char *ruri)
{
	char buf[512];
	osip_message_t *m = NULL;
	xmlNodePtr ev;
	xmlChar *v;
	int n = snprintf(buf, sizeof(buf),
			 "MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
			 "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\n"
			 "CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n", ruri);

	ck_assert_int_eq(osip_message_init(&m), 0);
	ck_assert_int_eq(osip_message_parse(m, buf, (size_t)n), 0);
	ev = tunnel_request_event(&o, "x1.00000000000000ff", m);
	ck_assert_ptr_nonnull(ev);
	v = xmlGetProp(ev, BAD_CAST "uri");
	xmlFreeNode(ev);
	osip_message_free(m);
	return v;
}

/* libosip2 %-escapes a sip: URI's user part but passes other schemes through: the
 * event's check is what keeps controls out (fuzz-tunnel-event's finding). */
START_TEST(test_request_uri)
{
	xmlChar *v = uri_of_request("im:caf\xc3\xa9");

	ck_assert_str_eq((char *)v, "im:caf\xc3\xa9"); /* é is a letter */
	xmlFree(v);
	/* U+0084 and U+009F, C1 controls: \p{Cc} in sipsvc.xsd's Uri pattern. */
	ck_assert_ptr_null(uri_of_request("im:a\xc2\x84"));
	ck_assert_ptr_null(uri_of_request("im:a\xc2\x9f"));
	v = uri_of_request("im:a\xc2\xa0"); /* U+00A0 is not a control */
	ck_assert_str_eq((char *)v, "im:a\xc2\xa0");
	xmlFree(v);
	v = uri_of_request("sip:a\xc2\x84@h");
	ck_assert_str_eq((char *)v, "sip:a%C2%84@h");
	xmlFree(v);
}
END_TEST

static Suite *tunnel_event_suite(void)
{
	Suite *s = suite_create("tunnel-event");
	TCase *tc = tcase_create("event");

	tcase_add_test(tc, test_request_uri);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	parser_init();
	return tu_run(tunnel_event_suite());
}
