/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libsipsvc-client: the incremental reader, URI normalisation. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "sipsvc-client.h"

/* A stream as the daemon writes it: one message per line, text newlines as &#10;. */
static const char stream[] =
	"<Ok ref=\"r1\" request=\"Status\"><Status version=\"0.1.0\"/></Ok>\n"
	"<Event type=\"log\" level=\"info\">a &lt;b&gt; &#10;c \xc3\xa9</Event>\n"
	"<Error ref=\"r2\" request=\"Join\" code=\"invalid\">no</Error>\n"
	"<Event type=\"call\" ref=\"r3\" call=\"c1\" state=\"ended\"/>\n";

static const char *const names[] = { "Ok", "Event", "Error", "Event" };

struct pair {
	struct sipsvc_client *c;
	int peer;
};

static struct pair pair_new(void)
{
	int sv[2];
	struct pair p;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(sipsvc_client_new_fd(sv[0], &p.c), 0);
	p.peer = sv[1];
	return p;
}

static void pair_free(struct pair *p)
{
	sipsvc_client_free(p->c);
	close(p->peer);
}

/* Every message, in order, with its content intact. */
static void check_messages(struct sipsvc_client *c)
{
	for (size_t i = 0; i < 4; i++) {
		xmlDocPtr d = sipsvc_client_next(c);

		ck_assert_ptr_nonnull(d);
		ck_assert_str_eq(sipsvc_msg_name(d), names[i]);
		if (i == 1) {
			xmlChar *t = xmlNodeGetContent(xmlDocGetRootElement(d));

			ck_assert_str_eq((const char *)t, "a <b> \nc \xc3\xa9");
			xmlFree(t);
		}
		if (i == 3)
			ck_assert_str_eq(sipsvc_msg_attr(d, "call"), "c1");
		xmlFreeDoc(d);
	}
	ck_assert_ptr_null(sipsvc_client_next(c));
}

START_TEST(split_at_every_byte)
{
	size_t len = strlen(stream);

	for (size_t cut = 0; cut <= len; cut++) {
		struct pair p = pair_new();
		int r;

		ck_assert_int_eq(write(p.peer, stream, cut), (ssize_t)cut);
		r = sipsvc_client_process(p.c);
		ck_assert_int_ge(r, 0);
		ck_assert_int_eq(write(p.peer, stream + cut, len - cut), (ssize_t)(len - cut));
		ck_assert_int_eq(sipsvc_client_process(p.c), 4);
		check_messages(p.c);
		pair_free(&p);
	}
}
END_TEST

START_TEST(one_byte_at_a_time)
{
	struct pair p = pair_new();

	for (size_t i = 0; stream[i]; i++) {
		ck_assert_int_eq(write(p.peer, stream + i, 1), 1);
		ck_assert_int_ge(sipsvc_client_process(p.c), 0);
	}
	check_messages(p.c);
	pair_free(&p);
}
END_TEST

START_TEST(eof_and_garbage)
{
	struct pair p = pair_new();

	ck_assert_int_eq(write(p.peer, "<Ok/>\n", 6), 6);
	close(p.peer);
	ck_assert_int_eq(sipsvc_client_process(p.c), 1);
	xmlFreeDoc(sipsvc_client_next(p.c));
	ck_assert_int_eq(sipsvc_client_process(p.c), -EPIPE);
	sipsvc_client_free(p.c);

	p = pair_new();
	ck_assert_int_eq(write(p.peer, "<Ok>\n", 5), 5);
	ck_assert_int_eq(sipsvc_client_process(p.c), -EBADMSG);
	pair_free(&p);

	p = pair_new();
	ck_assert_int_eq(write(p.peer, "<!DOCTYPE x [<!ENTITY e \"x\">]><x>&e;</x>\n", 41), 41);
	ck_assert_int_eq(sipsvc_client_process(p.c), -EBADMSG);
	pair_free(&p);
}
END_TEST

/* call() returns the reply to its own request and keeps earlier events queued. */
START_TEST(call_keeps_events)
{
	struct pair p = pair_new();
	const char answer[] = "<Event type=\"log\">x</Event>\n<Ok ref=\"r1\" request=\"Status\"/>\n";
	char req[64] = "";
	xmlDocPtr reply, ev;

	ck_assert_int_eq(write(p.peer, answer, sizeof(answer) - 1), (ssize_t)sizeof(answer) - 1);
	ck_assert_int_eq(sipsvc_client_call(p.c, sipsvc_request_new("Status"), 1000, &reply), 0);
	ck_assert_str_eq(sipsvc_msg_name(reply), "Ok");
	ck_assert_str_eq(sipsvc_msg_attr(reply, "ref"), "r1");
	xmlFreeDoc(reply);
	ev = sipsvc_client_next(p.c);
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(sipsvc_msg_name(ev), "Event");
	xmlFreeDoc(ev);
	ck_assert_int_eq(read(p.peer, req, sizeof(req) - 1), 18);
	ck_assert_str_eq(req, "<Status ref=\"r1\"/>");
	pair_free(&p);
}
END_TEST

START_TEST(call_times_out)
{
	struct pair p = pair_new();
	xmlDocPtr reply = NULL;

	ck_assert_int_eq(sipsvc_client_call(p.c, sipsvc_request_new("Status"), 50, &reply),
			 -ETIMEDOUT);
	ck_assert_ptr_null(reply);
	pair_free(&p);
}
END_TEST

START_TEST(uri_normalise)
{
	static const struct {
		const char *in, *out;
		int r;
	} cases[] = {
		{ "sip:bob@example.com", "sip:bob@example.com", 0 },
		{ " SIPS:a@b ", "sips:a@b", 0 },
		{ "sip:a@b?Replaces=x", "sip:a@b", 0 },
		{ "tel:+1 (555) 12-34", "tel:+15551234", 0 },
		{ "tel:+1%2d2", "tel:+12", 0 },
		{ "tel:%", NULL, -EINVAL },
		{ "tel:+1%", NULL, -EINVAL },
		{ "tel:+1%4", NULL, -EINVAL },
		{ "mailto:a@b", NULL, -EPROTONOSUPPORT },
		{ "sip:a@b\x01", NULL, -EINVAL },
		{ "sip:a@", NULL, -EINVAL },
		{ "nocolon", NULL, -EINVAL },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = sipsvc_uri_normalise(cases[i].in, out, sizeof(out));

		ck_assert_msg(r == cases[i].r, "%s: %d", cases[i].in, r);
		if (r == 0)
			ck_assert_str_eq(out, cases[i].out);
	}
	memset(out, 'a', sizeof(out));
	memcpy(out, "sip:", 4);
	out[sizeof(out) - 1] = '\0';
	ck_assert_int_eq(sipsvc_uri_normalise(out, out, sizeof(out) - 1), -ENAMETOOLONG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("reader");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, split_at_every_byte);
	tcase_add_test(tc, one_byte_at_a_time);
	tcase_add_test(tc, eof_and_garbage);
	tcase_add_test(tc, call_keeps_events);
	tcase_add_test(tc, call_times_out);
	tcase_add_test(tc, uri_normalise);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
