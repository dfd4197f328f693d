/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Requests end to end without a listener: a control object without a loop, a
 * connection on a socketpair; bytes go in through conn_input() and the replies are
 * read back from the other end (PROTOCOL.md "Framing", "Requests", "Replies").
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <libxml/parser.h>

#include "control/control-private.h"
#include "device/device.h"
#include "core/xml.h"
#include "testutil.h"
#include "status-facts.h"

static const char devices_cfg[] =
	"<sipsvc>"
	"<device id=\"desk\" wrapper=\"sip\" uri=\"sip:desk@192.0.2.1\"/>"
	"<device id=\"soft\" wrapper=\"softphone\" mode=\"loop\" default=\"true\"/>"
	"</sipsvc>";

static struct config *cfg;
static struct device_table *devices;
static struct control *ctl;
static struct conn *cn;
static int peer = -1;

static void open_conn(void)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(conn_new(ctl, sv[0], true, "test", &cn), 0);
	peer = sv[1];
}

static void close_conn(void)
{
	conn_free(cn);
	cn = NULL;
	close(peer);
	peer = -1;
}

static void setup(void)
{
	char err[256];

	ck_assert_int_eq(config_load_buffer(devices_cfg, sizeof(devices_cfg) - 1, "test.xml",
					    &cfg, err, sizeof(err)), 0);
	cfg->runtime_dir = strdup("/nonexistent");
	ck_assert_int_eq(control_new(NULL, cfg, &ctl), 0);
	/* The stock wrappers are linked in (libwrappers-static); none starts anything. */
	ck_assert_int_eq(device_table_new(ev_default_loop(0), cfg, "/nonexistent", &devices), 0);
	control_set_devices(ctl, devices);
	ck_assert_int_eq(status_register(status_facts, cfg), 0);
	open_conn();
}

static void teardown(void)
{
	if (cn)
		close_conn();
	status_unregister(status_facts, cfg);
	control_free(ctl);
	device_table_free(devices);
	config_free(cfg);
}

/* Everything the daemon has written so far (replies are written at once). */
static char *replies(void)
{
	static char buf[1 << 20];
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(buf) - 1 &&
	       (r = recv(peer, buf + n, sizeof(buf) - 1 - n, MSG_DONTWAIT)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return buf;
}

/*
 * Every reply line must be well-formed XML for the client, whatever we were sent, and
 * match sipsvc.xsd: the schema is the contract clients are written against.
 */
static void assert_lines_parse(const char *text, const char *what)
{
	for (const char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		xmlDocPtr doc = xmlReadMemory(p, (int)(nl - p), NULL, "UTF-8",
					      XML_PARSE_NONET | XML_PARSE_NOERROR |
						      XML_PARSE_NOWARNING);
		char err[512];

		/* %.300s: check refuses overlong failure messages. */
		ck_assert_msg(doc != NULL, "%.300s: reply is not well-formed: «%.*s»", what,
			      (int)(nl - p < 300 ? nl - p : 300), p);
		ck_assert_msg(xml_schema_check(ctl->vctxt, doc, err, sizeof(err)) == 0,
			      "%.300s: reply «%.*s» does not match sipsvc.xsd: %.300s", what,
			      (int)(nl - p < 300 ? nl - p : 300), p, err);
		xmlFreeDoc(doc);
	}
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Send @p text, expect exactly one reply line, return it. */
static char *one_reply(const char *text, size_t len)
{
	char *r;

	ck_assert_int_eq(conn_input(cn, text, len), 0);
	r = replies();
	ck_assert_msg(count_lines(r) == 1, "«%.*s» got «%s»", (int)len, text, r);
	assert_lines_parse(r, text);
	return r;
}

static bool has_handler(const char *name)
{
	static const char *const handled[] = { "Status", "Devices", "Subscribe", "Unsubscribe",
						"Shares", "Calls" };

	for (size_t i = 0; i < ARRAY_SIZE(handled); i++)
		if (strcmp(name, handled[i]) == 0)
			return true;
	return false;
}

/* Requests that are handled, but fail here: no share subsystem or overlay runs in this
 * test, and nothing was started that could be cancelled. */
static const char *handled_error(const char *name)
{
	if (strcmp(name, "Share") == 0)
		return "internal";
	if (strcmp(name, "Unshare") == 0)
		return "not-shared";
	if (strcmp(name, "Search") == 0) /* no overlay runs here */
		return "invalid";
	if (strcmp(name, "Fetch") == 0)
		return "internal"; /* no transfer subsystem either */
	if (strcmp(name, "Cancel") == 0)
		return "not-found"; /* nothing was started with that ref */
	return NULL;
}

/* Handled by the call subsystem, which this test does not start: an internal error. */
static bool needs_calls(const char *name)
{
	static const char *const names[] = { "Join", "ExternalJoin", "ChooseDevice", "Hangup",
					     "SameDeviceJoin", "Invite" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Root element name and ref= of a test file, read with libxml2 directly. */
static void root_of(const char *buf, size_t len, char *name, size_t nlen, char *ref, size_t rlen)
{
	xmlDocPtr doc = xmlReadMemory(buf, (int)len, NULL, NULL, XML_PARSE_NONET);
	xmlNodePtr root;
	xmlChar *r;

	ck_assert_ptr_nonnull(doc);
	root = xmlDocGetRootElement(doc);
	snprintf(name, nlen, "%s", (const char *)root->name);
	r = xmlGetProp(root, BAD_CAST "ref");
	snprintf(ref, rlen, "%s", r ? (const char *)r : "");
	xmlFree(r);
	xmlFreeDoc(doc);
}

#define assert_prefix(s, p) \
	ck_assert_msg(strncmp((s), (p), strlen(p)) == 0, "«%.200s» does not start with «%s»", \
		      (s), (p))

static void assert_contains(const char *hay, const char *needle, const char *file)
{
	ck_assert_msg(strstr(hay, needle) != NULL, "%s: «%s» not in «%s»", file, needle, hay);
}

START_TEST(test_valid_requests)
{
	size_t n;
	char **files = tu_list("control/valid", &n);

	for (size_t i = 0; i < n; i++) {
		char name[64], ref[80], want[160], *reply;
		size_t len;
		char *buf = tu_read(files[i], &len);

		root_of(buf, len, name, sizeof(name), ref, sizeof(ref));
		reply = one_reply(buf, len);
		if (handled_error(name)) {
			snprintf(want, sizeof(want), "code=\"%s\"", handled_error(name));
			assert_contains(reply, "<Error", files[i]);
			assert_contains(reply, want, files[i]);
		} else if (has_handler(name)) {
			snprintf(want, sizeof(want), "request=\"%s\"", name);
			ck_assert_msg(strncmp(reply, "<Ok", 3) == 0, "%s: «%s»", files[i], reply);
			assert_contains(reply, want, files[i]);
		} else if (strcmp(name, "Tunnel") == 0) {
			/* Request, Listen, Response: the SIP stack, which this test does not
			 * start. */
			assert_contains(reply, "code=\"internal\">the SIP stack is not running",
					files[i]);
		} else if (needs_calls(name)) {
			assert_contains(reply, "<Error", files[i]);
			assert_contains(reply, "code=\"internal\"", files[i]);
		} else {
			assert_contains(reply, "<Error", files[i]);
			assert_contains(reply, "code=\"unknown-request\"", files[i]);
		}
		snprintf(want, sizeof(want), "ref=\"%s\"", ref);
		if (ref[0])
			assert_contains(reply, want, files[i]);
		else
			ck_assert_ptr_null(strstr(reply, "ref="));
		free(buf);
		/* A fresh connection each time: a Subscribe must not colour the next file. */
		close_conn();
		open_conn();
	}
	tu_free_list(files);
}
END_TEST

/* What the Error for some invalid files must name, so a user can fix the request. */
static const struct {
	const char *file, *needle;
} invalid_names[] = {
	{ "unknown-attribute.xml", "verbose" },
	{ "ref-65-chars.xml", "'ref'" },
	{ "ref-with-space.xml", "'ref'" },
	{ "search-timeout-abc.xml", "'timeout-ms'" },
	{ "subscribe-missing-events.xml", "events" },
	{ "join-without-use.xml", "Join" },
	{ "tunnel-bad-leg.xml", "'leg'" },
	{ "status-with-child.xml", "content type is empty" },
	{ "unknown-request.xml", "&lt;Dial&gt;" },
	{ "wrong-case.xml", "&lt;status&gt;" },
};

static void check_invalid_names(const char *path, const char *reply)
{
	const char *base = strrchr(path, '/') + 1;

	for (size_t i = 0; i < ARRAY_SIZE(invalid_names); i++)
		if (strcmp(base, invalid_names[i].file) == 0)
			assert_contains(reply, invalid_names[i].needle, path);
}

START_TEST(test_invalid_requests)
{
	size_t n;
	char **files = tu_list("control/invalid", &n);

	for (size_t i = 0; i < n; i++) {
		char name[128], ref[80], want[160], *reply;
		size_t len;
		char *buf = tu_read(files[i], &len);
		bool known;

		root_of(buf, len, name, sizeof(name), ref, sizeof(ref));
		/* "Status" in a foreign namespace is still looked up as Status. */
		known = strcmp(name, "Ok") != 0 && strcmp(name, "Use") != 0 &&
			strcmp(name, "Dial") != 0 && strcmp(name, "status") != 0;
		reply = one_reply(buf, len);
		assert_contains(reply, "<Error", files[i]);
		assert_contains(reply, known ? "code=\"invalid\"" : "code=\"unknown-request\"",
				files[i]);
		/* The text names the element it is about (the root or a child). */
		snprintf(want, sizeof(want), "&lt;%s&gt;", name);
		assert_contains(reply, known ? "Element '" : want, files[i]);
		check_invalid_names(files[i], reply);
		snprintf(want, sizeof(want), "ref=\"%s\"", ref);
		if (ref[0] && strlen(ref) <= 64 && !strchr(ref, ' '))
			assert_contains(reply, want, files[i]);
		else
			ck_assert_ptr_null(strstr(reply, "ref="));
		/* A schema error keeps the connection open. */
		ck_assert(!cn->closing);
		free(buf);
	}
	tu_free_list(files);
}
END_TEST

START_TEST(test_ref_echoed)
{
	static const char req[] = "<Status ref=\"r-42\"/>";
	char *reply = one_reply(req, sizeof(req) - 1);

	ck_assert_ptr_nonnull(strstr(reply, "<Ok ref=\"r-42\" request=\"Status\"><Status"));
}
END_TEST

START_TEST(test_devices_reply)
{
	static const char req[] = "<Devices ref=\"d\"/>";
	char *reply = one_reply(req, sizeof(req) - 1);

	ck_assert_ptr_nonnull(strstr(reply, "<Device id=\"desk\" wrapper=\"sip\" mode=\"transfer\" "
					    "uri=\"sip:desk@192.0.2.1\" default=\"false\""));
	ck_assert_ptr_nonnull(strstr(reply, "<Device id=\"soft\" wrapper=\"softphone\" "
					    "mode=\"loop\" default=\"true\""));
}
END_TEST

/* Several requests in one read: one reply each, in order. */
START_TEST(test_replies_in_order)
{
	static const char req[] = "<Status ref=\"1\"/>\n<Dial/>  <Devices ref=\"3\"/><Status x=\"\"/>";
	char *r;

	ck_assert_int_eq(conn_input(cn, req, sizeof(req) - 1), 0);
	r = replies();
	ck_assert_uint_eq(count_lines(r), 4);
	assert_lines_parse(r, "in order");
	ck_assert_ptr_nonnull(strstr(r, "<Ok ref=\"1\" request=\"Status\">"));
	r = strchr(r, '\n') + 1;
	assert_prefix(r, "<Error request=\"Dial\" code=\"unknown-request\">");
	r = strchr(r, '\n') + 1;
	assert_prefix(r, "<Ok ref=\"3\" request=\"Devices\">");
	r = strchr(r, '\n') + 1;
	assert_prefix(r, "<Error request=\"Status\" code=\"invalid\">");
}
END_TEST

/* Bare requests skip the parser once the schema passed them: the same replies. */
START_TEST(test_bare_requests_twice)
{
	static const char *const reqs[] = { "<Devices/>", "<Devices />", "<Join/>", "<Join/>",
					    "<Devices ref=\"x\"/>" };
	static const char *const want[] = {
		"<Ok request=\"Devices\"><Device id=\"desk\"",
		"<Ok request=\"Devices\"><Device id=\"desk\"",
		/* Join needs id=: invalid both times, never taken for valid. */
		"<Error request=\"Join\" code=\"invalid\">",
		"<Error request=\"Join\" code=\"invalid\">",
		/* Not bare: parsed and validated as always. */
		"<Ok ref=\"x\" request=\"Devices\"><Device id=\"desk\"",
	};

	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
		ck_assert_int_eq(conn_input(cn, reqs[i], strlen(reqs[i])), 0);
		assert_prefix(replies(), want[i]);
	}
}
END_TEST

/* PROTOCOL.md: one <Error code="not-well-formed"> and the connection is closed. */
START_TEST(test_not_well_formed)
{
	static const char req[] = "<Status ref=\"a\" ref=\"b\"/><Status ref=\"after\"/>";
	char *r;
	int ret = conn_input(cn, req, sizeof(req) - 1);

	ck_assert_int_lt(ret, 0);
	ck_assert(cn->closing);
	r = replies();
	ck_assert_uint_eq(count_lines(r), 1);
	assert_lines_parse(r, "not-well-formed");
	assert_prefix(r, "<Error code=\"not-well-formed\">");
	ck_assert_ptr_null(strstr(r, "after"));
	/* Nothing more is read. */
	ck_assert_int_eq(conn_input(cn, "<Status/>", 9), 0);
	ck_assert_str_eq(replies(), "");
}
END_TEST

static void check_stream_error(const char *text, size_t len, const char *code)
{
	char *r;

	ck_assert_int_lt(conn_input(cn, text, len), 0);
	r = replies();
	ck_assert_msg(count_lines(r) == 1, "«%s»", r);
	assert_lines_parse(r, code);
	ck_assert_ptr_nonnull(strstr(r, code));
	ck_assert_ptr_nonnull(strstr(r, "the connection is closed"));
}

START_TEST(test_doctype_refused)
{
	static const char req[] = "<!DOCTYPE Status [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
				  "<Status ref=\"&x;\"/>";

	check_stream_error(req, sizeof(req) - 1, "code=\"not-well-formed\"");
}
END_TEST

/* Error texts quote client input; a line feed in it must not split the reply line. */
START_TEST(test_reply_is_one_line)
{
	static const char req[] = "<Search ref=\"n\" query=\"x\" timeout-ms=\"1&#10;&lt;Ok/&gt;\"/>";
	char *r = one_reply(req, sizeof(req) - 1);

	assert_prefix(r, "<Error ref=\"n\" request=\"Search\" code=\"invalid\">");
	ck_assert_ptr_nonnull(strstr(r, "'1&#10;&lt;Ok/&gt;'"));
}
END_TEST

/* "é" repeated @p n times inside @p before … @p after. */
static char *repeat_e(const char *before, unsigned n, const char *after)
{
	char *m = malloc(strlen(before) + 2 * n + strlen(after) + 1);

	strcpy(m, before);
	for (unsigned i = 0; i < n; i++)
		strcat(m, "\xc3\xa9");
	strcat(m, after);
	return m;
}

/* Error texts are cut to a fixed size; never inside a UTF-8 character. */
START_TEST(test_reply_utf8_cut)
{
	for (unsigned n = 300; n < 304; n++) {
		char *m = repeat_e("<Search query=\"x\" timeout-ms=\"", n, "\"/>");
		char *r = one_reply(m, strlen(m));

		ck_assert_ptr_nonnull(strstr(r, "code=\"invalid\""));
		free(m);
	}
}
END_TEST

/* The same for `log` events, whose lines quote element names sent by the client. */
START_TEST(test_log_event_utf8_cut)
{
	static const char sub[] = "<Subscribe events=\"log\"/>";
	char *r, *m = repeat_e("<", 700, "/>");

	one_reply(sub, sizeof(sub) - 1);
	log_set_level(LOG_LEVEL_DEBUG);
	ck_assert_int_eq(conn_input(cn, m, strlen(m)), 0);
	r = replies();
	ck_assert_ptr_nonnull(strstr(r, "<Event type=\"log\" level=\"debug\">"));
	ck_assert_ptr_nonnull(strstr(r, "code=\"unknown-request\""));
	assert_lines_parse(r, "log event");
	free(m);
}
END_TEST

/*
 * Found by fuzz-control: libxml2's messages quote the raw input, so the
 * not-well-formed Error carried a stray 0xAC byte and was itself not well-formed.
 */
START_TEST(test_error_quoting_bad_bytes)
{
	static const char *const reqs[] = {
		"<\xc3\xa9l\xc3\xa8ve a=\"\xe2\x42odyun><!--\xac\"/>", /* \x42: 'B' */
		"<Status ref=\"\x01\x13\"/>",
		"<Status>\xff\xfe</Status>",
		"<Status><!--\xed\xa0\x80 --></Status>",
	};

	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
		int ret = conn_input(cn, reqs[i], strlen(reqs[i]));
		char *r = replies();

		ck_assert_int_lt(ret, 0);
		ck_assert_uint_eq(count_lines(r), 1);
		assert_prefix(r, "<Error code=\"not-well-formed\">");
		assert_lines_parse(r, reqs[i]);
		close_conn();
		open_conn();
	}
}
END_TEST

/* Error/@request echoes an unknown name only up to the 64 characters sipsvc.xsd allows. */
START_TEST(test_unknown_name_echo)
{
	static const char odd[] = "<\xc3\xa9l\xcb\xa8ve/>";
	char *m64 = repeat_e("<", 64, "/>"), *m65 = repeat_e("<", 65, "/>"), *r;

	r = one_reply(m64, strlen(m64));
	/* The serialiser writes UTF-8 as it is (xmlNodeDump would write &#xE9;). */
	ck_assert_ptr_nonnull(strstr(r, "<Error request=\"\xc3\xa9"));
	ck_assert_ptr_nonnull(strstr(r, "code=\"unknown-request\""));
	r = one_reply(m65, strlen(m65));
	assert_prefix(r, "<Error code=\"unknown-request\">");
	/* Found by fuzz-control: a name libxml2 parses but xs:Name refuses (U+02E8). */
	r = one_reply(odd, sizeof(odd) - 1);
	assert_prefix(r, "<Error code=\"unknown-request\">");
	free(m64);
	free(m65);
}
END_TEST

START_TEST(test_too_large)
{
	size_t len = cfg->limits.max_message + 1;
	char *m = malloc(len);

	memset(m, 'x', len);
	memcpy(m, "<Status ref=\"", 13);
	check_stream_error(m, len, "code=\"too-large\"");
	free(m);
}
END_TEST

START_TEST(test_too_deep)
{
	char m[33 * 3 + 1] = "";

	for (int i = 0; i < 33; i++)
		strcat(m, "<a>");
	check_stream_error(m, strlen(m), "code=\"limit\"");
}
END_TEST

/* Cross-protocol bytes: closed without a byte written. */
START_TEST(test_not_xml_no_reply)
{
	static const char req[] = "POST / HTTP/1.1\r\n";

	ck_assert_int_lt(conn_input(cn, req, sizeof(req) - 1), 0);
	ck_assert_str_eq(replies(), "");
}
END_TEST

START_TEST(test_subscribed_events)
{
	static const char sub[] = "<Subscribe events=\"call\"/>";
	struct conn *subscriber = cn;
	int subscriber_peer = peer;
	xmlNodePtr ev;
	char *r;

	one_reply(sub, sizeof(sub) - 1);
	open_conn(); /* a second connection, not subscribed */
	ev = event_new(EVENT_CALL, NULL);
	xmlNewProp(ev, BAD_CAST "call", BAD_CAST "c1");
	event_emit(EVENT_CALL, NULL, ev);
	ck_assert_str_eq(replies(), "");
	close_conn();
	cn = subscriber;
	peer = subscriber_peer;
	r = replies();
	ck_assert_str_eq(r, "<Event type=\"call\" call=\"c1\"/>\n");
	assert_lines_parse(r, "event");
	one_reply("<Unsubscribe events=\"call\"/>", 28);
	event_emit(EVENT_CALL, NULL, event_new(EVENT_CALL, NULL));
	ck_assert_str_eq(replies(), "");
}
END_TEST

/*
 * Found by fuzz-control: a `log` subscriber whose queue is full was freed by event
 * delivery while its own request was being handled (use-after-free). It must be
 * dropped, reported by conn_input(), and left for its owner to free.
 */
START_TEST(test_full_queue_log_subscriber)
{
	static const char sub[] = "<Subscribe events=\"log\"/>";
	int small = 4096, ret = 0;

	cfg->limits.max_queue = 4;
	ck_assert_int_eq(setsockopt(cn->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	one_reply(sub, sizeof(sub) - 1);
	log_set_level(LOG_LEVEL_DEBUG);
	/* The peer reads nothing: replies pile up, then a log event finds the queue full. */
	for (int i = 0; i < 2000 && ret == 0; i++)
		ret = conn_input(cn, "<Status/>", 9);
	ck_assert_int_eq(ret, -ECONNRESET);
	ck_assert_ptr_eq(control_find_conn(ctl, cn->id), cn);
	ck_assert(cn->doomed);
	ck_assert_uint_eq(cn->q_len, 0);
	ck_assert_uint_eq(ctl->stats.dropped_slow, 1);
	/* Doomed: no more events, no more input. */
	event_emit(EVENT_LOG, NULL, event_new(EVENT_LOG, NULL));
	ck_assert_uint_eq(cn->q_len, 0);
	ck_assert_int_eq(conn_input(cn, "<Status/>", 9), -ECONNRESET);
}
END_TEST

static Suite *request_suite(void)
{
	Suite *s = suite_create("control-request");
	TCase *tc = tcase_create("request");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid_requests);
	tcase_add_test(tc, test_invalid_requests);
	tcase_add_test(tc, test_ref_echoed);
	tcase_add_test(tc, test_bare_requests_twice);
	tcase_add_test(tc, test_devices_reply);
	tcase_add_test(tc, test_replies_in_order);
	tcase_add_test(tc, test_not_well_formed);
	tcase_add_test(tc, test_doctype_refused);
	tcase_add_test(tc, test_reply_is_one_line);
	tcase_add_test(tc, test_reply_utf8_cut);
	tcase_add_test(tc, test_log_event_utf8_cut);
	tcase_add_test(tc, test_error_quoting_bad_bytes);
	tcase_add_test(tc, test_unknown_name_echo);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_too_deep);
	tcase_add_test(tc, test_not_xml_no_reply);
	tcase_add_test(tc, test_subscribed_events);
	tcase_add_test(tc, test_full_queue_log_subscriber);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(request_suite());
}
