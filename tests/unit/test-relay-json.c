/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sipsvc-relay's pieces without a browser or a daemon: the framing reader at every split,
 * the JSON → request table, and the daemon's messages → JSON, events included (the daemon
 * sends none to the relay yet, so only this test sees them converted). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "relay.h"

static xmlDocPtr doc_of(const char *xml)
{
	xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), NULL, "UTF-8", XML_PARSE_NONET);

	ck_assert_ptr_nonnull(d);
	return d;
}

/* The message as compact JSON text, to compare whole. */
static char *json_of(const char *xml)
{
	xmlDocPtr d = doc_of(xml);
	json_object *o = NULL;
	char *s;

	ck_assert_int_eq(relay_json_from_message(d, &o), 0);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	xmlFreeDoc(d);
	return s;
}

#define ck_json(xml, expected)                                                                     \
	do {                                                                                       \
		char *got_ = json_of(xml);                                                         \
		ck_assert_str_eq(got_, expected);                                                  \
		free(got_);                                                                        \
	} while (0)

START_TEST(event_call)
{
	ck_json("<Event type=\"call\" call=\"c7\" ref=\"x2\" leg=\"device\" state=\"ringing\"/>",
		"{\"event\":\"call\",\"ref\":\"x2\",\"attrs\":{\"call\":\"c7\",\"leg\":\"device\","
		"\"state\":\"ringing\"}}");
	ck_json("<Event type=\"call\" call=\"c7\" state=\"ended\" reason=\"remote-bye\"/>",
		"{\"event\":\"call\",\"attrs\":{\"call\":\"c7\",\"state\":\"ended\","
		"\"reason\":\"remote-bye\"}}");
}
END_TEST

START_TEST(event_children_and_text)
{
	ck_json("<Event type=\"device-choice\" prompt=\"p1\" target=\"sip:a@b\">"
		"<Device id=\"desk\"/><Device id=\"cell\">mobile &amp; <b>x</b></Device></Event>",
		"{\"event\":\"device-choice\",\"attrs\":{\"prompt\":\"p1\",\"target\":\"sip:a@b\"},"
		"\"children\":[{\"name\":\"Device\",\"attrs\":{\"id\":\"desk\"}},"
		"{\"name\":\"Device\",\"attrs\":{\"id\":\"cell\"},\"text\":\"mobile & \","
		"\"children\":[{\"name\":\"b\",\"attrs\":{},\"text\":\"x\"}]}]}");
	ck_json("<Event type=\"log\" level=\"debug\">a \"quoted\"\nline</Event>",
		"{\"event\":\"log\",\"attrs\":{\"level\":\"debug\"},\"text\":\"a \\\"quoted\\\"\\nline\"}");
}
END_TEST

START_TEST(replies)
{
	ck_json("<Ok ref=\"x1\" request=\"Join\" call=\"c7\"/>",
		"{\"reply\":\"Ok\",\"request\":\"Join\",\"ref\":\"x1\",\"attrs\":{\"call\":\"c7\"}}");
	ck_json("<Error request=\"Join\" code=\"no-such-device\">no device \"desk\"</Error>",
		"{\"reply\":\"Error\",\"request\":\"Join\",\"attrs\":{\"code\":\"no-such-device\"},"
		"\"text\":\"no device \\\"desk\\\"\"}");
	ck_json("<Ok request=\"Status\">\n  <Status version=\"1\"/>\n</Ok>",
		"{\"reply\":\"Ok\",\"request\":\"Status\",\"attrs\":{},"
		"\"children\":[{\"name\":\"Status\",\"attrs\":{\"version\":\"1\"}}]}");
}
END_TEST

START_TEST(not_a_message)
{
	xmlDocPtr d = doc_of("<Status/>");
	json_object *o = NULL;

	ck_assert_int_eq(relay_json_from_message(d, &o), -EBADMSG);
	ck_assert_ptr_null(o);
	xmlFreeDoc(d);
	d = doc_of("<Event call=\"c1\"/>"); /* an event needs its type */
	ck_assert_int_eq(relay_json_from_message(d, &o), -EBADMSG);
	xmlFreeDoc(d);
}
END_TEST

START_TEST(too_deep)
{
	char xml[1024] = "<Event type=\"x\">";
	json_object *o = NULL;
	xmlDocPtr d;

	for (int i = 0; i < 40; i++)
		strcat(xml, "<a>");
	for (int i = 0; i < 40; i++)
		strcat(xml, "</a>");
	strcat(xml, "</Event>");
	d = doc_of(xml);
	ck_assert_int_eq(relay_json_from_message(d, &o), -EBADMSG);
	xmlFreeDoc(d);
}
END_TEST

static int parse(const char *json, char **ret_xml)
{
	struct request_meta meta;
	xmlNodePtr n = NULL;
	char err[256];
	int r = relay_request_parse(json, strlen(json), &meta, &n, err, sizeof(err));

	if (r == 0) {
		xmlBufferPtr b = xmlBufferCreate();

		xmlNodeDump(b, NULL, n, 0, 0);
		*ret_xml = strdup((const char *)xmlBufferContent(b));
		xmlBufferFree(b);
		xmlFreeNode(n);
	}
	return r;
}

START_TEST(requests_built)
{
	static const char *const cases[][2] = {
		{ "{\"request\":\"ExternalJoin\",\"id\":\"sip:bob@example.com\",\"ref\":\"x1\"}",
		  "<ExternalJoin id=\"sip:bob@example.com\" ref=\"x1\"/>" },
		{ "{\"request\":\"SameDeviceJoin\",\"id\":\"sip:a&b@c\",\"origin\":\"https://f.org\"}",
		  "<SameDeviceJoin id=\"sip:a&amp;b@c\"/>" },
		{ "{\"request\":\"Hangup\",\"call\":\"c12\"}", "<Hangup call=\"c12\"/>" },
		{ "{\"request\":\"Subscribe\",\"events\":\"conference call\"}",
		  "<Subscribe events=\"conference call\"/>" },
		{ " {\"request\" : \"Status\"}\n", "<Status/>" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *xml = NULL;

		ck_assert_int_eq(parse(cases[i][0], &xml), 0);
		ck_assert_str_eq(xml, cases[i][1]);
		free(xml);
	}
}
END_TEST

START_TEST(requests_refused)
{
	static const char *const cases[] = {
		"{\"request\":\"ExternalJoin\",\"id\":\"sip:a@b\",\"id2\":\"x\"}",
		"{\"request\":\"ExternalJoin\",\"id\":\"sip:a@b\"",
		"{\"request\":\"Status\",\"ref\":\"\\u0000\"}",
		"{\"request\":\"ExternalJoin\",\"id\":\"sip:a@b\\u0000x\"}",
		"{\"request\":\"ExternalJoin\",\"id\":\"sip:\\u00e9\"}",
		"{\"request\":\"Subscribe\",\"events\":\"call  call\"}",
		"{\"request\":\"Hangup\",\"call\":\"c1x\"}",
		("{\"request\":\"Status\",\"ref\":\"12345678901234567890123456789012345678901234567890"
		 "123456789012345\"}"),
		"{\"request\":[[[[\"Status\"]]]]}",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *xml = NULL;

		ck_assert_msg(parse(cases[i], &xml) == -EINVAL, "accepted: %s", cases[i]);
	}
}
END_TEST

/* Frames written through a pipe one split at a time: the reader returns each whole message
 * once, and never before it is complete. */
static void feed(struct frame_reader *fr, int fds[2], const unsigned char *p, size_t n)
{
	ck_assert_int_eq(write(fds[1], p, n), (ssize_t)n);
	ck_assert_int_eq(frame_read(fr, fds[0]), 1);
}

START_TEST(frames_split_everywhere)
{
	const char *body = "{\"request\":\"Status\"}";
	unsigned char wire[64];
	uint32_t n = (uint32_t)strlen(body);
	size_t len = sizeof(n) + n;

	memcpy(wire, &n, sizeof(n));
	memcpy(wire + sizeof(n), body, n);
	for (size_t split = 1; split < len; split++) {
		static struct frame_reader fr;
		const char *msg;
		size_t mlen;
		int fds[2];

		memset(&fr, 0, sizeof(fr));
		ck_assert_int_eq(pipe(fds), 0);
		feed(&fr, fds, wire, split);
		ck_assert_int_eq(frame_next(&fr, &msg, &mlen), 0);
		feed(&fr, fds, wire + split, len - split);
		ck_assert_int_eq(frame_next(&fr, &msg, &mlen), 1);
		ck_assert_uint_eq(mlen, n);
		ck_assert_int_eq(memcmp(msg, body, n), 0);
		ck_assert_int_eq(frame_next(&fr, &msg, &mlen), 0);
		close(fds[1]);
		ck_assert_int_eq(frame_read(&fr, fds[0]), 0);
		close(fds[0]);
	}
}
END_TEST

START_TEST(frame_lengths)
{
	static struct frame_reader fr;
	uint32_t lens[] = { RELAY_IN_MAX + 1, 1u << 30, 0xFFFFFFFFu };
	const char *msg;
	size_t mlen;

	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
		memset(&fr, 0, sizeof(fr));
		memcpy(fr.buf, &lens[i], sizeof(lens[i]));
		fr.len = sizeof(lens[i]);
		ck_assert_int_eq(frame_next(&fr, &msg, &mlen), -EMSGSIZE);
	}
	memset(&fr, 0, sizeof(fr));
	lens[0] = RELAY_IN_MAX; /* the limit itself fits the fixed buffer */
	memcpy(fr.buf, &lens[0], sizeof(lens[0]));
	fr.len = sizeof(fr.buf);
	ck_assert_int_eq(frame_next(&fr, &msg, &mlen), 1);
	ck_assert_uint_eq(mlen, RELAY_IN_MAX);
}
END_TEST

START_TEST(frame_out_limit)
{
	char *big = malloc(RELAY_OUT_MAX + 1);
	int fd = open("/dev/null", O_WRONLY);

	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(frame_write(fd, big, RELAY_OUT_MAX + 1), -EMSGSIZE);
	close(fd);
	free(big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("json");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, event_call);
	tcase_add_test(tc, event_children_and_text);
	tcase_add_test(tc, replies);
	tcase_add_test(tc, not_a_message);
	tcase_add_test(tc, too_deep);
	tcase_add_test(tc, requests_built);
	tcase_add_test(tc, requests_refused);
	tcase_add_test(tc, frames_split_everywhere);
	tcase_add_test(tc, frame_lengths);
	tcase_add_test(tc, frame_out_limit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	xmlCleanupParser();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
