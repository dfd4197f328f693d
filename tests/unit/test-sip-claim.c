/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Claimed methods (daemon/sip/claim.c): the SIP layer on a loopback port, requests sent
 * over a real UDP socket, the answers read back from it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "core/core.h"
#include "sip/sip.h"

static struct ev_loop *loop;
static struct config *cfg;
static struct sip *sip;
static int sock;
static unsigned seq;

/* What the test claimer saw and does. */
static struct {
	int calls;
	bool take;
	char source[64];
} claimer;

static bool on_message(struct sip_tx *tx, void *arg)
{
	(void)arg;
	claimer.calls++;
	if (!claimer.take)
		return false;
	ck_assert_int_eq(sip_tx_source(tx, claimer.source, sizeof(claimer.source)), 0);
	ck_assert_int_eq(sip_tx_respond(tx, 202, NULL, "Expires: 60\r\nX-Claim: yes", "text/plain",
					"taken"),
			 0);
	return true;
}

static bool decline(struct sip_tx *tx, void *arg)
{
	(void)tx;
	(*(int *)arg)++;
	return false;
}

static void setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	loop = ev_loop_new(EVFLAG_AUTO);
	cfg = config_new_defaults();
	ck_assert_ptr_nonnull(cfg);
	cfg->sip_port = 0;
	cfg->sip_addr = strdup("127.0.0.1");
	ck_assert_int_eq(sip_new(loop, cfg, &sip), 0);
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(sock, 0);
	ck_assert_int_eq(bind(sock, (struct sockaddr *)&a, sizeof(a)), 0);
	memset(&claimer, 0, sizeof(claimer));
}

static void teardown(void)
{
	close(sock);
	sip_free(sip);
	config_free(cfg);
	ev_loop_destroy(loop);
	ck_assert_int_eq(mem_live_objects(), 0);
}

/* Send @p method (with a To tag when @p to_tag) and return the first line and headers. */
static char *exchange(const char *method, const char *to_tag)
{
	struct sockaddr_in me, to = { .sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				      .sin_port = htons((uint16_t)sip_port(sip)) };
	socklen_t len = sizeof(me);
	char req[1024], *buf = calloc(1, 4096);
	int n;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(getsockname(sock, (struct sockaddr *)&me, &len), 0);
	seq++;
	n = snprintf(req, sizeof(req),
		     "%s sip:user@127.0.0.1 SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKclaim%u\r\n"
		     "Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=f%u\r\n"
		     "To: <sip:user@127.0.0.1>%s%s\r\nCall-ID: claim%u\r\nCSeq: 1 %s\r\n"
		     "Content-Length: 0\r\n\r\n",
		     method, ntohs(me.sin_port), seq, seq, to_tag ? ";tag=" : "",
		     to_tag ? to_tag : "", seq, method);
	ck_assert_int_eq(sendto(sock, req, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to)), n);
	/* Run the loop until the answer arrives (a final one: skip 100 Trying), 5 s at most. */
	for (int i = 0; i < 500; i++) {
		struct pollfd p = { .fd = sock, .events = POLLIN };

		ev_run(loop, EVRUN_NOWAIT);
		if (poll(&p, 1, 10) == 1) {
			n = (int)recv(sock, buf, 4095, 0);
			ck_assert_int_gt(n, 0);
			buf[n] = '\0';
			if (strncmp(buf, "SIP/2.0 1", 9) != 0)
				return buf;
		}
	}
	ck_abort_msg("no answer to %s", method);
	return NULL;
}

static void expect(const char *method, const char *to_tag, const char *status)
{
	char *r = exchange(method, to_tag);

	ck_assert_msg(strncmp(r, status, strlen(status)) == 0, "%s: got %.40s", method, r);
	free(r);
}

START_TEST(test_unclaimed_405)
{
	char *r = exchange("MESSAGE", NULL);

	ck_assert_msg(strncmp(r, "SIP/2.0 405", 11) == 0, "%.40s", r);
	ck_assert_ptr_nonnull(strstr(r, "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n"));
	free(r);
}
END_TEST

START_TEST(test_claimed_answered)
{
	char *r, want[64];

	claimer.take = true;
	ck_assert_int_eq(sip_claim(sip, "MESSAGE", SIP_CLAIM_LISTENER, on_message, NULL), 0);
	r = exchange("MESSAGE", NULL);
	ck_assert_msg(strncmp(r, "SIP/2.0 202", 11) == 0, "%.40s", r);
	ck_assert_ptr_nonnull(strstr(r, "X-Claim: yes\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "\r\n\r\ntaken"));
	ck_assert_int_eq(claimer.calls, 1);
	snprintf(want, sizeof(want), "udp:127.0.0.1:");
	ck_assert_msg(strncmp(claimer.source, want, strlen(want)) == 0, "%s", claimer.source);
	free(r);
	/* OPTIONS now lists it (RFC 3261 11.2). */
	r = exchange("OPTIONS", NULL);
	ck_assert_ptr_nonnull(strstr(r, "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, MESSAGE\r\n"));
	free(r);
	sip_unclaim(sip, NULL, on_message, NULL);
	expect("MESSAGE", NULL, "SIP/2.0 405");
	ck_assert_int_eq(claimer.calls, 1);
}
END_TEST

START_TEST(test_order_and_decline)
{
	int declined = 0;

	claimer.take = true;
	/* The listener claimed first but features are asked first. */
	ck_assert_int_eq(sip_claim(sip, "NOTIFY", SIP_CLAIM_LISTENER, on_message, NULL), 0);
	ck_assert_int_eq(sip_claim(sip, "NOTIFY", SIP_CLAIM_FEATURE, decline, &declined), 0);
	expect("NOTIFY", NULL, "SIP/2.0 202");
	ck_assert_int_eq(declined, 1);
	ck_assert_int_eq(claimer.calls, 1);
	/* A To tag of no dialog of ours still reaches the claimers (their subscriptions). */
	expect("NOTIFY", "abc", "SIP/2.0 202");
	ck_assert_int_eq(declined, 2);
	/* Nobody takes it: 481 with a To tag, 501 without. */
	claimer.take = false;
	expect("NOTIFY", "abc", "SIP/2.0 481");
	expect("NOTIFY", NULL, "SIP/2.0 501");
	ck_assert_int_eq(declined, 4);
	ck_assert_int_eq(claimer.calls, 4);
}
END_TEST

START_TEST(test_claim_limits)
{
	char m[16];
	int n = 0;

	ck_assert_int_eq(sip_claim(sip, "ACK", SIP_CLAIM_FEATURE, decline, &n), -EINVAL);
	ck_assert_int_eq(sip_claim(sip, "BYE", SIP_CLAIM_FEATURE, decline, &n), -EINVAL);
	ck_assert_int_eq(sip_claim(sip, "OPTIONS", SIP_CLAIM_FEATURE, decline, &n), -EINVAL);
	ck_assert_int_eq(sip_claim(sip, "BAD METHOD", SIP_CLAIM_FEATURE, decline, &n), -EINVAL);
	ck_assert_int_eq(sip_claim(sip, "", SIP_CLAIM_FEATURE, decline, &n), -EINVAL);
	ck_assert_int_eq(sip_claim(sip, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", SIP_CLAIM_FEATURE,
				   decline, &n),
			 -EINVAL);
	ck_assert_int_eq(sip_claim(sip, "INFO", SIP_CLAIM_FEATURE, decline, &n), 0);
	ck_assert_int_eq(sip_claim(sip, "INFO", SIP_CLAIM_FEATURE, decline, &n), -EEXIST);
	for (int i = 1;; i++) {
		int r;

		snprintf(m, sizeof(m), "M%d", i);
		r = sip_claim(sip, m, SIP_CLAIM_LISTENER, decline, &n);
		if (r == -ENOSPC)
			break;
		ck_assert_int_eq(r, 0);
		ck_assert_int_lt(i, 1000);
	}
	/* The longest Allow still fits and names every claim. */
	ck_assert_ptr_nonnull(strstr(sip_allow(sip), ", INFO, M1, "));
	sip_unclaim(sip, NULL, decline, &n);
	ck_assert_str_eq(sip_allow(sip), "INVITE, ACK, CANCEL, OPTIONS, BYE");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sip-claim");
	TCase *tc = tcase_create("claim");
	SRunner *sr;
	int failed;

	log_set_level(LOG_LEVEL_WARNING);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_unclaimed_405);
	tcase_add_test(tc, test_claimed_answered);
	tcase_add_test(tc, test_order_and_decline);
	tcase_add_test(tc, test_claim_limits);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
