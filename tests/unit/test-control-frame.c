/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control stream framer (PROTOCOL.md "Framing"): boundaries, limits, refusals. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "control/control-private.h"
#include "testutil.h"

#define MAX_MSGS 32

/* What the handler saw. */
struct seen {
	char *msg[MAX_MSGS];
	size_t n;
	int stop_after; /* return -1 after this many messages; 0: never */
};

static int collect(const char *msg, size_t len, void *arg)
{
	struct seen *s = arg;

	ck_assert_uint_lt(s->n, MAX_MSGS);
	s->msg[s->n] = strndup(msg, len);
	ck_assert_uint_eq(strlen(s->msg[s->n]), len); /* no NUL inside */
	s->n++;
	return s->stop_after && s->n >= (size_t)s->stop_after ? -1 : 0;
}

static void seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->msg[i]);
	*s = (struct seen){ 0 };
}

static const struct control_limits dflt = {
	.max_message = 65536, .max_depth = 32, .max_connections = 64, .max_queue = 1024,
};

/* Feed @p text in one piece with limits @p lim; returns the frame result. */
static int feed_all(const struct control_limits *lim, const char *text, struct seen *s)
{
	struct frame f;
	int r;

	frame_init(&f, lim);
	r = frame_feed(&f, text, strlen(text), collect, s);
	frame_done(&f);
	return r;
}

/* Everything the framer must pass through untouched, with its expected messages. */
static const char stream[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<Status ref=\"a>b\"/>\n"
	"<!-- a comment at the top with <Status/> in it -->\r\n"
	"<Search query=\"x /> y\" ref='q\"1>'><!-- </Search> --></Search>  \t"
	"<Tunnel><Request method=\"MESSAGE\" uri=\"sip:b@example.com\"><Body type=\"text/plain\">"
	"<![CDATA[</Body> <x> ]] ]]]]></Body></Request></Tunnel>\n"
	"<Status><?pi a > b ?></Status>"
	"<\xc3\xa9l\xc3\xa8ve nom=\"\xc3\xa9/>\"/>\n"
	"<a><b><c/></b>text &amp; more</a>\n";

static const char *const stream_msgs[] = {
	"<Status ref=\"a>b\"/>",
	"<Search query=\"x /> y\" ref='q\"1>'><!-- </Search> --></Search>",
	("<Tunnel><Request method=\"MESSAGE\" uri=\"sip:b@example.com\"><Body type=\"text/plain\">"
	 "<![CDATA[</Body> <x> ]] ]]]]></Body></Request></Tunnel>"),
	"<Status><?pi a > b ?></Status>",
	"<\xc3\xa9l\xc3\xa8ve nom=\"\xc3\xa9/>\"/>",
	"<a><b><c/></b>text &amp; more</a>",
};

static void check_stream_msgs(struct seen *s, const char *how)
{
	ck_assert_msg(s->n == ARRAY_SIZE(stream_msgs), "%s: %zu messages", how, s->n);
	for (size_t i = 0; i < s->n; i++)
		ck_assert_msg(strcmp(s->msg[i], stream_msgs[i]) == 0, "%s: message %zu is «%s»",
			      how, i, s->msg[i]);
}

START_TEST(test_stream_one_feed)
{
	struct seen s = { 0 };

	ck_assert_int_eq(feed_all(&dflt, stream, &s), FRAME_OK);
	check_stream_msgs(&s, "one feed");
	seen_clear(&s);
}
END_TEST

/* TCP may cut the stream anywhere: every cut must give the same messages. */
START_TEST(test_stream_every_split)
{
	const size_t len = sizeof(stream) - 1;

	for (size_t cut = 0; cut <= len; cut++) {
		struct seen s = { 0 };
		struct frame f;
		char how[32];

		frame_init(&f, &dflt);
		ck_assert_int_eq(frame_feed(&f, stream, cut, collect, &s), FRAME_OK);
		ck_assert_int_eq(frame_feed(&f, stream + cut, len - cut, collect, &s), FRAME_OK);
		frame_done(&f);
		snprintf(how, sizeof(how), "cut at %zu", cut);
		check_stream_msgs(&s, how);
		seen_clear(&s);
	}
}
END_TEST

START_TEST(test_stream_byte_by_byte)
{
	struct seen s = { 0 };
	struct frame f;

	frame_init(&f, &dflt);
	for (size_t i = 0; i < sizeof(stream) - 1; i++)
		ck_assert_int_eq(frame_feed(&f, stream + i, 1, collect, &s), FRAME_OK);
	frame_done(&f);
	check_stream_msgs(&s, "byte by byte");
	seen_clear(&s);
}
END_TEST

START_TEST(test_many_in_one_feed)
{
	struct seen s = { 0 };
	char buf[MAX_MSGS * 24] = "";

	for (int i = 0; i < MAX_MSGS; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "<Status ref=\"%d\"/>", i);
	ck_assert_int_eq(feed_all(&dflt, buf, &s), FRAME_OK);
	ck_assert_uint_eq(s.n, MAX_MSGS);
	ck_assert_str_eq(s.msg[0], "<Status ref=\"0\"/>");
	ck_assert_str_eq(s.msg[31], "<Status ref=\"31\"/>");
	seen_clear(&s);
}
END_TEST

/* "<a b=\"xxx…\"/>" of exactly @p len bytes. */
static char *msg_of_size(size_t len)
{
	char *m = malloc(len + 1);

	ck_assert_uint_ge(len, 8);
	memset(m, 'x', len);
	memcpy(m, "<a b=\"", 6);
	memcpy(m + len - 3, "\"/>", 3);
	m[len] = '\0';
	return m;
}

/* The size limit counts the message's own bytes, not the blanks or comments around it. */
static void check_size_limit(size_t max, size_t piece)
{
	const struct control_limits lim = { .max_message = max, .max_depth = 32 };
	char *fit = msg_of_size(max), *over = msg_of_size(max + 1);
	struct seen s = { 0 };
	struct frame f;
	int r = FRAME_OK;

	frame_init(&f, &lim);
	ck_assert_int_eq(frame_feed(&f, "  <!-- c -->\n", 13, collect, &s), FRAME_OK);
	for (size_t i = 0; i < max; i += piece)
		ck_assert_int_eq(frame_feed(&f, fit + i, i + piece > max ? max - i : piece,
					    collect, &s), FRAME_OK);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(strlen(s.msg[0]), max);
	for (size_t i = 0; i <= max && r == FRAME_OK; i += piece)
		r = frame_feed(&f, over + i, i + piece > max + 1 ? max + 1 - i : piece, collect, &s);
	ck_assert_int_eq(r, FRAME_TOO_LARGE);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_nonnull(strstr(f.err, "larger than"));
	frame_done(&f);
	seen_clear(&s);
	free(fit);
	free(over);
}

START_TEST(test_size_limit)
{
	check_size_limit(65536, 65536 + 1);
	check_size_limit(65536, 4096);
	check_size_limit(100, 1);
	check_size_limit(100, 7);
}
END_TEST

/* @p n nested elements: "<e><e>…</e></e>", innermost empty if @p empty. */
static char *nested(unsigned n, bool empty)
{
	char *m = calloc(n * 7 + 8, 1);

	for (unsigned i = 0; i + (empty ? 1 : 0) < n; i++)
		strcat(m, "<e>");
	if (empty)
		strcat(m, "<e/>");
	for (unsigned i = 0; i + (empty ? 1 : 0) < n; i++)
		strcat(m, "</e>");
	return m;
}

static void check_depth(unsigned n, bool empty, int want)
{
	const struct control_limits lim = { .max_message = 65536, .max_depth = 32 };
	struct seen s = { 0 };
	char *m = nested(n, empty);

	ck_assert_msg(feed_all(&lim, m, &s) == want, "depth %u%s", n, empty ? " (empty)" : "");
	ck_assert_uint_eq(s.n, want == FRAME_OK ? 1 : 0);
	seen_clear(&s);
	free(m);
}

START_TEST(test_depth_limit)
{
	check_depth(32, false, FRAME_OK);
	check_depth(32, true, FRAME_OK);
	check_depth(33, false, FRAME_TOO_DEEP);
	/* An empty element is nested as deep as any other (PROTOCOL.md: nesting depth 32). */
	check_depth(33, true, FRAME_TOO_DEEP);
}
END_TEST

static void check_refused(const char *text, int want, size_t want_msgs)
{
	struct seen s = { 0 };

	ck_assert_msg(feed_all(&dflt, text, &s) == want, "«%s» not refused with %d", text, want);
	ck_assert_msg(s.n == want_msgs, "«%s»: %zu messages before the error", text, s.n);
	seen_clear(&s);
}

START_TEST(test_markup_declarations)
{
	check_refused("<!DOCTYPE Status [<!ENTITY x \"y\">]><Status/>", FRAME_NOT_WELL_FORMED, 0);
	check_refused("<?xml version=\"1.0\"?><!DOCTYPE Status SYSTEM \"file:///etc/passwd\">",
		      FRAME_NOT_WELL_FORMED, 0);
	check_refused("<Status/><!ENTITY x SYSTEM \"file:///etc/passwd\">", FRAME_NOT_WELL_FORMED, 1);
	check_refused("<Status><!ENTITY x \"y\"></Status>", FRAME_NOT_WELL_FORMED, 0);
	check_refused("<Status><!ELEMENT Status ANY></Status>", FRAME_NOT_WELL_FORMED, 0);
	check_refused("<!ELEMENT Status ANY>", FRAME_NOT_WELL_FORMED, 0);
	check_refused("<!-x-><Status/>", FRAME_NOT_WELL_FORMED, 0);
	/* CDATA only inside a message. */
	check_refused("<![CDATA[x]]><Status/>", FRAME_NOT_WELL_FORMED, 0);
}
END_TEST

START_TEST(test_not_xml)
{
	check_refused("GET / HTTP/1.1\r\n\r\n", FRAME_NOT_XML, 0);
	check_refused(" \r\n\tPOST /", FRAME_NOT_XML, 0);
	check_refused("\x16\x03\x01", FRAME_NOT_XML, 0);
}
END_TEST

START_TEST(test_stream_errors)
{
	check_refused("<Status/>oops<Status/>", FRAME_NOT_WELL_FORMED, 1);
	check_refused("<!-- c -->x", FRAME_NOT_WELL_FORMED, 0);
	check_refused("<Status/><?xml version=\"1.0\"?><Status/>", FRAME_NOT_WELL_FORMED, 1);
	check_refused("<?xml version=\"1.0\"?><?xml version=\"1.0\"?>", FRAME_NOT_WELL_FORMED, 0);
	check_refused("</x>", FRAME_NOT_WELL_FORMED, 0);
	check_refused("<Status/></Status>", FRAME_NOT_WELL_FORMED, 1);
	check_refused("< Status/>", FRAME_NOT_WELL_FORMED, 0);
	check_refused("<Status <x/>", FRAME_NOT_WELL_FORMED, 0);
}
END_TEST

START_TEST(test_top_comment_skipped)
{
	struct seen s = { 0 };

	ck_assert_int_eq(feed_all(&dflt, "<!-- <x> -- -> --><Status/><!---->\n<Devices/>", &s),
			 FRAME_OK);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.msg[0], "<Status/>");
	ck_assert_str_eq(s.msg[1], "<Devices/>");
	seen_clear(&s);
}
END_TEST

START_TEST(test_handler_stops)
{
	struct seen s = { .stop_after = 2 };

	ck_assert_int_eq(feed_all(&dflt, "<a/><b/><c/>", &s), FRAME_STOPPED);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.msg[1], "<b/>");
	seen_clear(&s);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("control-frame");
	TCase *tc = tcase_create("frame");

	tcase_add_test(tc, test_stream_one_feed);
	tcase_add_test(tc, test_stream_every_split);
	tcase_add_test(tc, test_stream_byte_by_byte);
	tcase_add_test(tc, test_many_in_one_feed);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_markup_declarations);
	tcase_add_test(tc, test_not_xml);
	tcase_add_test(tc, test_stream_errors);
	tcase_add_test(tc, test_top_comment_skipped);
	tcase_add_test(tc, test_handler_stops);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(frame_suite());
}
