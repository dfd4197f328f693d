/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The conference-info parser and roster (RFC 4575): full and partial notifications,
 * version order, endpoint status, and the bounds on what a focus may send. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "call/call-private.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
	     "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" " \
	     "entity=\"sip:conf@127.0.0.1\" "

/* The changes a notification made, as "+alice -bob ". */
static char changes[4096];

static void on_change(const char *entity, bool joined, void *arg)
{
	size_t n = strlen(changes);

	(void)arg;
	snprintf(changes + n, sizeof(changes) - n, "%c%s ", joined ? '+' : '-', entity);
}

static int apply(struct confinfo *roster, const char *xml)
{
	struct confinfo *doc = NULL;
	int r = call_confinfo_parse(xml, strlen(xml), &doc);

	changes[0] = '\0';
	if (r < 0)
		return r;
	r = call_confinfo_apply(roster, doc, on_change, NULL);
	free(doc);
	return r;
}

static const char full1[] =
	HEAD "state=\"full\" version=\"1\"><users>"
	"<user entity=\"sip:alice@x\" state=\"full\"><endpoint entity=\"sip:a1@x\">"
	"<status>connected</status></endpoint></user>"
	"<user entity=\"sip:bob@x\" state=\"full\"><endpoint entity=\"sip:b1@x\">"
	"<status>dialing-out</status></endpoint></user>"
	"</users></conference-info>";

START_TEST(test_full_then_partial)
{
	struct confinfo *roster = calloc(1, sizeof(*roster));

	ck_assert_int_eq(apply(roster, full1), 0);
	ck_assert_str_eq(changes, "+sip:alice@x ");
	/* Partial: bob's endpoint is now connected (RFC 4575 4.6). */
	ck_assert_int_eq(apply(roster, HEAD "state=\"partial\" version=\"2\"><users>"
			       "<user entity=\"sip:bob@x\" state=\"partial\">"
			       "<endpoint entity=\"sip:b1@x\" state=\"partial\">"
			       "<status>connected</status></endpoint></user>"
			       "</users></conference-info>"), 0);
	ck_assert_str_eq(changes, "+sip:bob@x ");
	/* Partial: alice deleted, carol (users only, no endpoint) added. */
	ck_assert_int_eq(apply(roster, HEAD "state=\"partial\" version=\"3\"><users>"
			       "<user entity=\"sip:alice@x\" state=\"deleted\"/>"
			       "<user entity=\"sip:carol@x\" state=\"full\"/>"
			       "</users></conference-info>"), 0);
	ck_assert_str_eq(changes, "-sip:alice@x +sip:carol@x ");
	/* Partial: bob's endpoint disconnected. */
	ck_assert_int_eq(apply(roster, HEAD "state=\"partial\" version=\"4\"><users>"
			       "<user entity=\"sip:bob@x\" state=\"partial\">"
			       "<endpoint entity=\"sip:b1@x\" state=\"partial\">"
			       "<status>disconnected</status></endpoint></user>"
			       "</users></conference-info>"), 0);
	ck_assert_str_eq(changes, "-sip:bob@x ");
	ck_assert_uint_eq(roster->version, 4);
	free(roster);
}
END_TEST

START_TEST(test_version_order)
{
	struct confinfo *roster = calloc(1, sizeof(*roster));

	/* A partial before any full state cannot be applied. */
	ck_assert_int_eq(apply(roster, HEAD "state=\"partial\" version=\"1\"/>"), -EAGAIN);
	ck_assert_int_eq(apply(roster, full1), 0);
	/* Repeated and old versions are ignored, with no change. */
	ck_assert_int_eq(apply(roster, full1), -ESTALE);
	ck_assert_str_eq(changes, "");
	/* A gap (version 3 after 1): a notification was lost. */
	ck_assert_int_eq(apply(roster, HEAD "state=\"partial\" version=\"3\"><users>"
			       "<user entity=\"sip:dave@x\"/></users></conference-info>"),
			 -EAGAIN);
	ck_assert_str_eq(changes, "");
	/* A full state with a higher version replaces the roster. */
	ck_assert_int_eq(apply(roster, HEAD "version=\"7\"><users>"
			       "<user entity=\"sip:dave@x\"/></users></conference-info>"), 0);
	ck_assert_str_eq(changes, "-sip:alice@x +sip:dave@x ");
	/* The conference itself deleted: everyone left. */
	ck_assert_int_eq(apply(roster, HEAD "state=\"deleted\" version=\"8\"/>"), 0);
	ck_assert_str_eq(changes, "-sip:dave@x ");
	free(roster);
}
END_TEST

START_TEST(test_refuses_bad_documents)
{
	struct confinfo *doc = NULL;
	static const char *const bad[] = {
		"",
		"<conference-info",
		/* No namespace, wrong root, no version, bad version, bad state. */
		"<conference-info entity=\"sip:c@x\" version=\"1\"/>",
		"<x xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"sip:c@x\" "
		"version=\"1\"/>",
		HEAD "/>",
		HEAD "version=\"-1\"/>",
		HEAD "version=\"99999999999\"/>",
		HEAD "version=\"1\" state=\"odd\"/>",
		"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]>"
		"<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" "
		"entity=\"sip:c@x\" version=\"1\"/>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = NULL;
		ck_assert_msg(call_confinfo_parse(bad[i], strlen(bad[i]), &doc) == -EINVAL,
			      "refused: %s", bad[i]);
		ck_assert_ptr_null(doc);
	}
}
END_TEST

START_TEST(test_bounds)
{
	size_t cap = CONFINFO_BODY_MAX + 4096, n;
	char *big = malloc(cap);
	struct confinfo *doc = NULL;
	char longuri[CONFINFO_URI_MAX + 32];

	/* More users than the bound: the first CONFINFO_USERS_MAX, marked truncated. */
	n = (size_t)snprintf(big, cap, HEAD "version=\"1\"><users>");
	for (int i = 0; i < CONFINFO_USERS_MAX + 10; i++)
		n += (size_t)snprintf(big + n, cap - n, "<user entity=\"sip:u%d@x\"/>", i);
	n += (size_t)snprintf(big + n, cap - n, "</users></conference-info>");
	ck_assert_int_eq(call_confinfo_parse(big, n, &doc), 0);
	ck_assert_uint_eq(doc->n_users, CONFINFO_USERS_MAX);
	ck_assert(doc->truncated);
	free(doc);
	/* A body over the size bound is not parsed at all. */
	memset(big, ' ', cap);
	ck_assert_int_eq(call_confinfo_parse(big, CONFINFO_BODY_MAX + 1, &doc), -E2BIG);
	/* An entity longer than the bound is skipped, the rest kept. */
	memset(longuri, 'a', sizeof(longuri));
	memcpy(longuri, "sip:", 4);
	longuri[sizeof(longuri) - 1] = '\0';
	n = (size_t)snprintf(big, cap, HEAD "version=\"1\"><users><user entity=\"%s\"/>"
			     "<user entity=\"sip:ok@x\"/></users></conference-info>", longuri);
	ck_assert_int_eq(call_confinfo_parse(big, n, &doc), 0);
	ck_assert_uint_eq(doc->n_users, 1);
	ck_assert_str_eq(doc->users[0].entity, "sip:ok@x");
	free(doc);
	free(big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("call-confinfo");
	TCase *tc = tcase_create("confinfo");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_full_then_partial);
	tcase_add_test(tc, test_version_order);
	tcase_add_test(tc, test_refuses_bad_documents);
	tcase_add_test(tc, test_bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
