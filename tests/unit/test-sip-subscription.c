/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Subscription dialogs (daemon/sip/subscription.c): two SIP stacks on loopback, one
 * subscribing to the other, and a raw UDP socket playing a notifier whose NOTIFY
 * overtakes its 2xx (RFC 6665 4.1.2.4) and whose CSeqs go backwards.
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
static struct sip *a, *b; /* a subscribes, b notifies */

/* What each side saw. */
static struct side {
	int requests, terminated, term_status, done, done_status;
	char body[256];
	struct sip_sub *sub;
} sa, sb;

static void run_until(const int *v, int want)
{
	for (int i = 0; i < 1000 && *v < want; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(5000);
	}
	ck_assert_msg(*v >= want, "waited for %d, have %d", want, *v);
}

static void on_event(struct sip_sub *sub, enum sip_sub_event ev, int status, struct sip_tx *tx,
		     void *arg)
{
	struct side *s = arg;

	if (ev == SIP_SUB_REQUEST) {
		char *body = sip_tx_body(tx, NULL);

		s->requests++;
		snprintf(s->body, sizeof(s->body), "%s", body ? body : "");
		free(body);
	} else {
		s->terminated++;
		s->term_status = status;
	}
}

static void on_done(struct sip_sub *sub, int status, void *arg)
{
	struct side *s = arg;

	s->done++;
	s->done_status = status;
}

static unsigned accept_expires = 60;

static bool on_new(struct sip_tx *tx, const char *id, void *arg)
{
	ck_assert_str_eq(id, "x1");
	ck_assert_int_eq(sip_sub_accept(tx, accept_expires, on_event, &sb, &sb.sub), 0);
	ck_assert_int_eq(sip_sub_notify(sb.sub, NULL, "text/plain", "first", on_done, &sb), 0);
	return true;
}

static void setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	cfg = config_new_defaults();
	ck_assert_ptr_nonnull(cfg);
	cfg->sip_port = 0;
	cfg->sip_addr = strdup("127.0.0.1");
	ck_assert_int_eq(sip_new(loop, cfg, &a), 0);
	ck_assert_int_eq(sip_new(loop, cfg, &b), 0);
	ck_assert_int_eq(sip_sub_listen(b, "test-pkg", on_new, NULL), 0);
	memset(&sa, 0, sizeof(sa));
	memset(&sb, 0, sizeof(sb));
	accept_expires = 60;
}

static void teardown(void)
{
	sip_sub_free(sa.sub);
	sip_sub_free(sb.sub);
	sip_free(a);
	sip_free(b);
	config_free(cfg);
	ev_loop_destroy(loop);
	ck_assert_int_eq(mem_live_objects(), 0);
}

static void subscribe_a_to_b(void)
{
	char to[64];

	snprintf(to, sizeof(to), "sip:b@127.0.0.1:%d", sip_port(b));
	ck_assert_int_eq(sip_sub_subscribe(a, "sip:a@127.0.0.1", to, "test-pkg;id=x1", 60,
					   "text/plain", "hello", on_event, &sa, on_done, &sa,
					   &sa.sub),
			 0);
	run_until(&sa.requests, 1);
	run_until(&sa.done, 1);
	ck_assert_int_eq(sa.done_status, 200);
	ck_assert_str_eq(sa.body, "first");
	ck_assert_int_eq(sip_sub_count(a), 1);
	ck_assert_int_eq(sip_sub_count(b), 1);
}

START_TEST(test_subscribe_notify_refresh_unsubscribe)
{
	subscribe_a_to_b();
	/* NOTIFYs queue behind each other and arrive in order */
	ck_assert_int_eq(sip_sub_notify(sb.sub, NULL, "text/plain", "second", NULL, NULL), 0);
	ck_assert_int_eq(sip_sub_notify(sb.sub, NULL, "text/plain", "third", NULL, NULL), 0);
	run_until(&sa.requests, 3);
	ck_assert_str_eq(sa.body, "third");
	/* a refresh reaches the notifier in the dialog */
	ck_assert_int_eq(sip_sub_refresh(sa.sub, 60, "text/plain", "again", on_done, &sa), 0);
	run_until(&sb.requests, 1);
	ck_assert_str_eq(sb.body, "again");
	run_until(&sa.done, 2);
	ck_assert_int_eq(sa.done_status, 200);
	/* unsubscribe: the notifier's subscription ends, after its final NOTIFY */
	ck_assert_int_eq(sip_sub_refresh(sa.sub, 0, NULL, NULL, on_done, &sa), 0);
	run_until(&sb.terminated, 1);
	ck_assert_int_eq(sb.term_status, 0);
	run_until(&sa.done, 3);
	ck_assert(!sip_sub_alive(sa.sub));
	/* the owner hears the end once: from the notifier's last NOTIFY (0) or, if the
	 * 200 to the unsubscribe comes first, from that (200) */
	ck_assert_int_eq(sa.terminated, 1);
	ck_assert(sa.term_status == 0 || sa.term_status == 200);
	ck_assert_int_eq(sip_sub_refresh(sa.sub, 60, NULL, NULL, NULL, NULL), -ENOTCONN);
	ck_assert_int_eq(sip_sub_count(a), 0);
	ck_assert_int_eq(sip_sub_count(b), 0);
}
END_TEST

START_TEST(test_notifier_expiry_final_notify)
{
	accept_expires = 1; /* the notifier grants 1 s, whatever was asked */
	subscribe_a_to_b();
	run_until(&sb.terminated, 1);
	ck_assert_int_eq(sb.term_status, 408);
	/* the subscriber hears "terminated" in a last NOTIFY and ends too */
	run_until(&sa.terminated, 1);
	ck_assert_int_eq(sa.term_status, 0);
	ck_assert_int_eq(sip_sub_count(a), 0);
}
END_TEST

START_TEST(test_unknown_package_and_stray_notify)
{
	char to[64];

	snprintf(to, sizeof(to), "sip:b@127.0.0.1:%d", sip_port(b));
	/* no listener for it: the SIP layer's 501 ends the subscription at once */
	ck_assert_int_eq(sip_sub_subscribe(a, "sip:a@127.0.0.1", to, "other-pkg", 60, NULL, NULL,
					   on_event, &sa, on_done, &sa, &sa.sub),
			 0);
	run_until(&sa.done, 1);
	ck_assert_int_eq(sa.done_status, 501);
	ck_assert_int_eq(sa.terminated, 1);
	ck_assert_int_eq(sip_sub_count(a), 0);
}
END_TEST

/* ---- a raw notifier ------------------------------------------------------------------ */

static int raw_open(struct sockaddr_in *me)
{
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(*me);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&any, sizeof(any)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)me, &len), 0);
	return fd;
}

static char *raw_recv(int fd)
{
	static char buf[4096];

	for (int i = 0; i < 500; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		ev_run(loop, EVRUN_NOWAIT);
		if (poll(&p, 1, 10) == 1) {
			ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

			ck_assert_int_gt(n, 0);
			buf[n] = '\0';
			if (strncmp(buf, "SIP/2.0 1", 9) != 0)
				return buf;
		}
	}
	ck_abort_msg("nothing received");
	return NULL;
}

static void raw_send(int fd, const char *msg)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons((uint16_t)sip_port(a)) };

	ck_assert_int_eq(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)strlen(msg));
}

/* The value of header @p name in @p msg (up to the line end) into @p out. */
static void hdr(const char *msg, const char *name, char *out, size_t size)
{
	const char *p = strstr(msg, name);

	ck_assert_msg(p != NULL, "no %s in %s", name, msg);
	p += strlen(name);
	snprintf(out, size, "%.*s", (int)strcspn(p, "\r\n"), p);
}

static void raw_notify(int fd, const struct sockaddr_in *me, const char *from, const char *to,
		       const char *cid, int cseq, const char *branch)
{
	char msg[1024];

	snprintf(msg, sizeof(msg),
		 "NOTIFY sip:a@127.0.0.1:%d SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\n"
		 "Max-Forwards: 70\r\nFrom: %s;tag=raw\r\nTo: %s\r\nCall-ID: %s\r\n"
		 "CSeq: %d NOTIFY\r\nContact: <sip:raw@127.0.0.1:%d>\r\n"
		 "Event: test-pkg\r\nSubscription-State: active;expires=60\r\n"
		 "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nearly",
		 sip_port(a), ntohs(me->sin_port), branch, to, from, cid, cseq,
		 ntohs(me->sin_port));
	raw_send(fd, msg);
}

START_TEST(test_notify_before_200_and_cseq_order)
{
	struct sockaddr_in me;
	int fd = raw_open(&me);
	char to[64], *m, via[256], from[256], tohdr[256], cid[128], resp[2048];

	snprintf(to, sizeof(to), "sip:raw@127.0.0.1:%d", ntohs(me.sin_port));
	ck_assert_int_eq(sip_sub_subscribe(a, "sip:a@127.0.0.1", to, "test-pkg", 60, NULL, NULL,
					   on_event, &sa, on_done, &sa, &sa.sub),
			 0);
	m = raw_recv(fd);
	ck_assert_msg(strncmp(m, "SUBSCRIBE ", 10) == 0, "%.40s", m);
	hdr(m, "\nVia: ", via, sizeof(via));
	hdr(m, "\nFrom: ", from, sizeof(from));
	hdr(m, "\nTo: ", tohdr, sizeof(tohdr));
	hdr(m, "\nCall-ID: ", cid, sizeof(cid));
	/* RFC 6665 4.1.2.4: the NOTIFY first; it makes the dialog */
	raw_notify(fd, &me, from, tohdr, cid, 5, "n1");
	m = raw_recv(fd);
	ck_assert_msg(strncmp(m, "SIP/2.0 200", 11) == 0, "%.60s", m);
	ck_assert_int_eq(sa.requests, 1);
	ck_assert_str_eq(sa.body, "early");
	/* then the 2xx */
	snprintf(resp, sizeof(resp),
		 "SIP/2.0 200 OK\r\nVia: %s\r\nFrom: %s\r\nTo: %s;tag=raw\r\nCall-ID: %s\r\n"
		 "CSeq: 1 SUBSCRIBE\r\nContact: <sip:raw@127.0.0.1:%d>\r\nExpires: 60\r\n"
		 "Content-Length: 0\r\n\r\n",
		 via, from, tohdr, cid, ntohs(me.sin_port));
	raw_send(fd, resp);
	run_until(&sa.done, 1);
	ck_assert_int_eq(sa.done_status, 200);
	/* RFC 3261 12.2.2: an older CSeq is out of order */
	raw_notify(fd, &me, from, tohdr, cid, 4, "n2");
	m = raw_recv(fd);
	ck_assert_msg(strncmp(m, "SIP/2.0 500", 11) == 0, "%.60s", m);
	ck_assert_int_eq(sa.requests, 1);
	/* the refresh goes in the dialog the NOTIFY made: its tag, its Contact */
	ck_assert_int_eq(sip_sub_refresh(sa.sub, 60, NULL, NULL, NULL, NULL), 0);
	m = raw_recv(fd);
	ck_assert_msg(strncmp(m, "SUBSCRIBE sip:raw@127.0.0.1:", 28) == 0, "%.60s", m);
	ck_assert_ptr_nonnull(strstr(m, ";tag=raw"));
	ck_assert_ptr_nonnull(strstr(m, "CSeq: 2 SUBSCRIBE"));
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sip-subscription");
	TCase *tc = tcase_create("sub");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_subscribe_notify_refresh_unsubscribe);
	tcase_add_test(tc, test_notifier_expiry_final_notify);
	tcase_add_test(tc, test_unknown_package_and_stray_notify);
	tcase_add_test(tc, test_notify_before_200_and_cseq_order);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
