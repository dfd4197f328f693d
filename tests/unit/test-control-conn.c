/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Connections under a real event loop: the listeners (Unix and loopback TCP, same-uid
 * check), the cross-protocol close, back-pressure on a client that does not read, a
 * not-well-formed Error flushed before the close, and a doomed connection reaped on
 * the next loop turn (PROTOCOL.md "Endpoints", "Framing").
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include "control/control-private.h"
#include "testutil.h"

static struct ev_loop *loop;
static struct config *cfg;
static struct control *ctl;
static char rundir[64];

static void setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	cfg = config_new_defaults();
	ck_assert_ptr_nonnull(loop);
	snprintf(rundir, sizeof(rundir), "/tmp/sipsvc-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rundir));
	cfg->runtime_dir = strdup(rundir);
	cfg->control_port = 0; /* any free port: tests run in parallel */
	ck_assert_int_eq(control_new(loop, cfg, &ctl), 0);
}

static void teardown(void)
{
	control_free(ctl);
	rmdir(rundir);
	config_free(cfg);
	ev_loop_destroy(loop);
}

static void turn(int n)
{
	for (int i = 0; i < n; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

static int connect_unix(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control", rundir);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/*
 * Read what arrives while the loop turns: until @p want is in it, EOF, or (without
 * @p want) 50 ms with nothing new.
 */
static char *read_until(int fd, const char *want, bool *eof)
{
	static char buf[1 << 20];
	size_t n = 0;
	int idle = 0;

	*eof = false;
	buf[0] = '\0';
	for (int i = 0; i < 5000 && !*eof && !(want && strstr(buf, want)); i++) {
		ssize_t r;

		turn(1);
		r = recv(fd, buf + n, sizeof(buf) - 1 - n, MSG_DONTWAIT);
		*eof = r == 0;
		if (r > 0) {
			n += (size_t)r;
			buf[n] = '\0';
			idle = 0;
		} else if (r < 0 && (usleep(1000), ++idle >= 50) && !want) {
			break;
		}
	}
	return buf;
}

START_TEST(test_unix_request)
{
	int fd = connect_unix();
	bool eof;
	char *r;

	ck_assert_int_eq(send(fd, "<Status ref=\"u\"/>\n", 18, 0), 18);
	r = read_until(fd, "</Ok>\n", &eof);
	ck_assert_msg(strncmp(r, "<Ok ref=\"u\" request=\"Status\">", 29) == 0, "«%s»", r);
	ck_assert_uint_eq(ctl->n_conns, 1);
	close(fd);
	turn(5);
	ck_assert_uint_eq(ctl->n_conns, 0);
}
END_TEST

START_TEST(test_tcp_request)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool eof;
	char *r;

	ck_assert_int_gt(control_tcp_port(ctl), 0);
	sa.sin_port = htons(control_tcp_port(ctl));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* The PROTOCOL.md example: `echo '<Status/>' | nc -q1 127.0.0.1 7060`. */
	ck_assert_int_eq(send(fd, "<Status/>\n", 10, 0), 10);
	r = read_until(fd, "</Ok>\n", &eof);
	ck_assert_msg(strncmp(r, "<Ok request=\"Status\">", 21) == 0, "«%s»", r);
	close(fd);
}
END_TEST

/* A browser's POST: closed without a byte written. */
START_TEST(test_cross_protocol_closed)
{
	static const char post[] = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n<Status/>";
	int fd = connect_unix();
	bool eof;
	char *r;

	ck_assert_int_eq(send(fd, post, sizeof(post) - 1, 0), (ssize_t)sizeof(post) - 1);
	r = read_until(fd, NULL, &eof);
	ck_assert(eof);
	ck_assert_str_eq(r, "");
	ck_assert_uint_eq(ctl->n_conns, 0);
	close(fd);
}
END_TEST

/* A connection on a socketpair whose daemon side has a small send buffer. */
static struct conn *pair_conn(int *peer)
{
	struct conn *cn;
	int sv[2], small = 4096;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(conn_new(ctl, sv[0], true, "pair", &cn), 0);
	*peer = sv[1];
	return cn;
}

/* Feed requests directly until the socket is full and replies queue up. */
static void fill(struct conn *cn, size_t queued)
{
	for (int i = 0; i < 100000 && cn->q_len < queued; i++)
		ck_assert_int_eq(conn_input(cn, "<Status/>", 9), 0);
	ck_assert_uint_ge(cn->q_len, queued);
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/* The Error is queued behind unread replies; it must still arrive before the close. */
START_TEST(test_not_well_formed_flushed)
{
	int peer;
	struct conn *cn = pair_conn(&peer);
	bool eof;
	char *r;

	fill(cn, 3);
	ck_assert_int_eq(conn_input(cn, "<a x='1' x='2'/>", 16), 0);
	ck_assert(cn->closing);
	r = read_until(peer, NULL, &eof);
	ck_assert(eof);
	ck_assert_uint_eq(count(r, "<Error"), 1);
	r = strstr(r, "<Error");
	ck_assert_int_eq(strncmp(r, "<Error code=\"not-well-formed\">", 30), 0);
	ck_assert_ptr_eq(strchr(r, '\n') + 1, r + strlen(r)); /* it is the last line */
	ck_assert_uint_eq(ctl->n_conns, 0);
	close(peer);
}
END_TEST

static size_t count(const char *s, const char *what);

/* A client that sends but does not read stops being read; reading again resumes it. */
START_TEST(test_back_pressure)
{
	int peer;
	size_t sent = 0, got = 0;
	struct conn *cn = pair_conn(&peer);
	bool eof = false;

	for (int i = 0; i < 50000 && !cn->read_paused; i++) {
		if (send(peer, "<Status/>", 9, MSG_DONTWAIT) == 9)
			sent++;
		turn(1);
	}
	ck_assert(cn->read_paused);
	ck_assert_uint_ge(cn->q_len, cfg->limits.max_queue / 2);
	/* One line per reply; every request sent is answered once the client reads. */
	for (int i = 0; i < 1000 && got < sent && !eof; i++)
		got += count(read_until(peer, NULL, &eof), "\n");
	ck_assert(!eof);
	ck_assert_uint_eq(got, sent);
	ck_assert(!cn->read_paused);
	ck_assert_uint_eq(cn->q_len, 0);
	close(peer);
}
END_TEST

/* An event finding the queue full dooms the connection; the loop frees it. */
START_TEST(test_doomed_reaped)
{
	int peer;
	struct conn *cn = pair_conn(&peer);
	uint64_t id = cn->id;

	cfg->limits.max_queue = 16;
	ck_assert_int_eq(conn_input(cn, "<Subscribe events=\"call\"/>", 26), 0);
	for (int i = 0; i < 100000 && !cn->doomed; i++)
		event_emit(EVENT_CALL, NULL, event_new(EVENT_CALL, NULL));
	ck_assert(cn->doomed);
	ck_assert_ptr_eq(control_find_conn(ctl, id), cn); /* not freed under the caller */
	ck_assert_uint_eq(ctl->stats.dropped_slow, 1);
	turn(2);
	ck_assert_ptr_null(control_find_conn(ctl, id));
	ck_assert_uint_eq(ctl->n_conns, 0);
	close(peer);
}
END_TEST

static Suite *conn_suite(void)
{
	Suite *s = suite_create("control-conn");
	TCase *tc = tcase_create("conn");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unix_request);
	tcase_add_test(tc, test_tcp_request);
	tcase_add_test(tc, test_cross_protocol_closed);
	tcase_add_test(tc, test_not_well_formed_flushed);
	tcase_add_test(tc, test_back_pressure);
	tcase_add_test(tc, test_doomed_reaped);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(conn_suite());
}
