/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The device table and the stock wrappers: sip, softphone (real baresip and linphonec
 * processes, checked by talking SIP to them) and http (a click-to-dial request served
 * by a listener in this process). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "device/device-private.h"
#include "wrappers/http/http.h"
#include "wrappers/softphone/softphone.h"

static struct ev_loop *loop;
static char rundir[] = "/tmp/sipsvc-devtest-XXXXXX";

static struct config *load(const char *xml)
{
	struct config *c = NULL;
	char err[512];

	ck_assert_msg(config_load_buffer(xml, strlen(xml), "test.xml", &c, err, sizeof(err)) == 0,
		      "%s", err);
	c->runtime_dir = strdup(rundir);
	return c;
}

static struct device_table *table(const struct config *c)
{
	struct device_table *t = NULL;

	ck_assert_int_eq(device_table_new(loop, c, "/nonexistent", &t), 0);
	return t;
}

/* Run the loop until *flag is set; fail after @p secs. */
static void run_until(const int *flag, double secs)
{
	ev_tstamp end = ev_time() + secs;

	while (!*flag && ev_time() < end)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_msg(*flag, "timed out after %.0f s", secs);
}

struct result {
	int done, err;
	char why[160];
};

static void on_done(void *arg, int err, const char *why)
{
	struct result *r = arg;

	r->done = 1;
	r->err = err;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
}

static const char devices_xml[] =
	"<sipsvc>"
	"<device id=\"desk\" wrapper=\"sip\" uri=\"sip:desk@192.0.2.1\" default=\"true\">"
	"<param name=\"auto-answer\" value=\"yes\"/></device>"
	"<device id=\"norefer\" wrapper=\"sip\" uri=\"sip:m@192.0.2.2\" mode=\"loop\">"
	"<param name=\"refer\" value=\"false\"/></device>"
	"<device id=\"click\" wrapper=\"http\"><param name=\"url\" value=\"http://127.0.0.1:9/d\"/>"
	"</device>"
	"<device id=\"nosuch\" wrapper=\"nosuch\"/>"
	"<device id=\"nouri\" wrapper=\"sip\"/>"
	"<device id=\"badparam\" wrapper=\"sip\" uri=\"sip:x@y\"><param name=\"refer\" value=\"maybe\"/>"
	"</device>"
	"</sipsvc>";

START_TEST(table_from_config)
{
	struct config *c = load(devices_xml);
	struct device_table *t = table(c);
	char buf[128];

	ck_assert_uint_eq(device_table_count(t), 6);
	ck_assert_str_eq(device_id(device_default(t)), "desk");
	ck_assert(device_is_default(device_find(t, "desk")));
	ck_assert(!device_is_default(device_find(t, "click")));
	ck_assert_uint_eq(device_caps(device_find(t, "desk")),
			  SIPSVC_CAP_LOOP | SIPSVC_CAP_AUTO_ANSWER | SIPSVC_CAP_REFER);
	ck_assert_uint_eq(device_caps(device_find(t, "norefer")), SIPSVC_CAP_LOOP);
	ck_assert_uint_eq(device_caps(device_find(t, "click")), SIPSVC_CAP_DIALS);
	ck_assert_int_eq(device_mode(device_find(t, "norefer")), DEVICE_MODE_LOOP);
	ck_assert_int_eq(device_available(device_find(t, "desk")), -1);
	ck_assert_int_eq(device_available(device_find(t, "nosuch")), 0);
	ck_assert_int_eq(device_available(device_find(t, "nouri")), 0);
	ck_assert_int_eq(device_available(device_find(t, "badparam")), 0);
	ck_assert_int_eq(device_contact(device_find(t, "desk"), buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "sip:desk@192.0.2.1");
	ck_assert_int_eq(device_contact(device_find(t, "click"), buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(device_prepare(device_find(t, "nosuch"), on_done, NULL), -ENODEV);
	ck_assert_int_eq(device_dial(device_find(t, "desk"), "sip:a@b", on_done, NULL),
			 -EOPNOTSUPP);
	ck_assert_ptr_null(device_find(t, "other"));
	device_table_free(t);
	config_free(c);
}
END_TEST

START_TEST(sip_prepare_is_deferred)
{
	struct config *c = load(devices_xml);
	struct device_table *t = table(c);
	struct result r = { 0 };

	ck_assert_int_eq(device_prepare(device_find(t, "desk"), on_done, &r), 0);
	ck_assert_int_eq(r.done, 0); /* never from inside prepare() */
	run_until(&r.done, 2);
	ck_assert_int_eq(r.err, 0);
	device_table_free(t);
	config_free(c);
}
END_TEST

START_TEST(reload_keeps_unchanged_devices)
{
	static const char changed[] =
		"<sipsvc>"
		"<device id=\"desk\" wrapper=\"sip\" uri=\"sip:desk@192.0.2.1\">"
		"<param name=\"auto-answer\" value=\"yes\"/></device>"
		"<device id=\"norefer\" wrapper=\"sip\" uri=\"sip:other@192.0.2.9\"/>"
		"<device id=\"new\" wrapper=\"sip\" uri=\"sip:n@192.0.2.3\" default=\"true\"/>"
		"</sipsvc>";
	struct config *c = load(devices_xml), *c2 = load(changed);
	struct device_table *t = table(c);
	struct device *desk = device_find(t, "desk");

	ck_assert_int_eq(device_table_reload(t, c2), 0);
	config_free(c);
	ck_assert_uint_eq(device_table_count(t), 3);
	ck_assert_ptr_eq(device_find(t, "desk"), desk); /* same settings: kept open */
	ck_assert_str_eq(device_uri(device_find(t, "norefer")), "sip:other@192.0.2.9");
	ck_assert_str_eq(device_id(device_default(t)), "new");
	ck_assert_ptr_null(device_find(t, "click"));
	device_table_free(t);
	config_free(c2);
}
END_TEST

/* A module built for another ABI is refused; the device stays, unavailable. */
START_TEST(loader_checks_abi)
{
	struct config *c = load("<sipsvc><device id=\"x\" wrapper=\"badabi\"/>"
				"<device id=\"y\" wrapper=\"absent\"/></sipsvc>");
	struct device_table *t = NULL;
	char dir[4096];

	const char *build = getenv("BUILDDIR");

	snprintf(dir, sizeof(dir), "%s/tests/unit/.libs", build ? build : ".");
	ck_assert_int_eq(device_table_new(loop, c, dir, &t), 0);
	ck_assert_int_eq(device_available(device_find(t, "x")), 0);
	ck_assert_int_eq(device_available(device_find(t, "y")), 0);
	ck_assert_uint_eq(t->n_mods, 0); /* nothing stays loaded */
	device_table_free(t);
	config_free(c);
}
END_TEST

/* ---- softphone ------------------------------------------------------------------- */

/* A SIP UA answers an OPTIONS (RFC 3261 §11) with a SIP/2.0 response; rport (RFC 3581)
 * sends it back to this socket. */
static void check_sip_answers(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 3, 0 };
	char msg[512], buf[2048];
	int fd = socket(AF_INET, SOCK_DGRAM, 0), n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = snprintf(msg, sizeof(msg),
		     "OPTIONS sip:sipsvc@127.0.0.1:%d SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKdevtest%d\r\n"
		     "Max-Forwards: 70\r\nFrom: <sip:test@127.0.0.1>;tag=1\r\n"
		     "To: <sip:sipsvc@127.0.0.1>\r\nCall-ID: devtest%d@127.0.0.1\r\n"
		     "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port, port, port);
	ck_assert_int_eq(send(fd, msg, (size_t)n, 0), n);
	n = (int)recv(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_msg(n > 0, "no SIP answer from the softphone on port %d", port);
	buf[n] = '\0';
	ck_assert_msg(strncmp(buf, "SIP/2.0 ", 8) == 0, "not SIP: %.40s", buf);
	close(fd);
}

static struct softphone *softphone_of(struct device *d)
{
	return d->state;
}

static void softphone_lifecycle(const char *program, const char *audio)
{
	char xml[512], contact[128];
	struct config *c;
	struct device_table *t;
	struct device *d;
	struct result r = { 0 };
	pid_t first;
	int port;

	snprintf(xml, sizeof(xml), "<sipsvc><device id=\"soft\" wrapper=\"softphone\">"
		 "<param name=\"program\" value=\"%s\"/>%s</device></sipsvc>", program, audio);
	c = load(xml);
	t = table(c);
	d = device_find(t, "soft");
	ck_assert_int_eq(device_available(d), 1); /* the program is installed */
	ck_assert_int_eq(device_contact(d, contact, sizeof(contact)), -ENOTCONN);
	ck_assert_int_eq(device_prepare(d, on_done, &r), 0);
	run_until(&r.done, 20);
	ck_assert_msg(r.err == 0, "prepare: %s", r.why);
	ck_assert_int_eq(device_contact(d, contact, sizeof(contact)), 0);
	ck_assert_int_eq(sscanf(contact, "sip:sipsvc@127.0.0.1:%d", &port), 1);
	check_sip_answers(port);

	/* Killed: it comes back by itself (after the 1 s back-off). */
	first = softphone_of(d)->pid;
	kill(first, SIGKILL);
	for (ev_tstamp end = ev_time() + 30;
	     softphone_of(d)->pid == first || softphone_of(d)->state != SOFTPHONE_READY;) {
		ck_assert_msg(ev_time() < end, "%s was not restarted", program);
		ev_run(loop, EVRUN_ONCE);
	}
	ck_assert_int_ne(softphone_of(d)->pid, first);
	check_sip_answers(softphone_of(d)->port);
	first = softphone_of(d)->pid;

	/* Closed: the process is gone once the table is freed. */
	device_table_free(t);
	ck_assert_int_eq(kill(first, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	config_free(c);
}

START_TEST(softphone_baresip)
{
	softphone_lifecycle("baresip", "<param name=\"audio-source\" value=\"ausine,\"/>"
				       "<param name=\"audio-player\" value=\"aufile,/dev/null\"/>");
}
END_TEST

START_TEST(softphone_linphonec)
{
	softphone_lifecycle("linphonec", "");
}
END_TEST

START_TEST(softphone_bad_params)
{
	static const char *const bad[] = {
		"<param name=\"program\" value=\"skype\"/>",
		"<param name=\"port\" value=\"70000\"/>",
		"<param name=\"audio-source\" value=\"../../x,\"/>",
		"<param name=\"start-timeout-ms\" value=\"abc\"/>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char xml[512];
		struct config *c;
		struct device_table *t;

		snprintf(xml, sizeof(xml), "<sipsvc><device id=\"s\" wrapper=\"softphone\">%s"
			 "</device></sipsvc>", bad[i]);
		c = load(xml);
		t = table(c);
		ck_assert_msg(device_available(device_find(t, "s")) == 0, "%s accepted", bad[i]);
		device_table_free(t);
		config_free(c);
	}
}
END_TEST

START_TEST(softphone_missing_program)
{
	struct config *c = load("<sipsvc><device id=\"s\" wrapper=\"softphone\">"
				"<param name=\"command\" value=\"/nonexistent/baresip\"/>"
				"</device></sipsvc>");
	struct device_table *t = table(c);
	struct device *d = device_find(t, "s");
	struct result r = { 0 };

	ck_assert_int_eq(device_available(d), 0);
	ck_assert_int_lt(device_prepare(d, on_done, &r), 0);
	device_table_free(t);
	config_free(c);
}
END_TEST

/* Each test runs in its own process (check's fork mode): the loop, and libev's
 * SIGCHLD handling, are made there. */
static void setup(void)
{
	loop = ev_default_loop(0);
}

#include "test-device-http.c"

int main(void)
{
	Suite *s = suite_create("device");
	TCase *tc = tcase_create("table"), *sp = tcase_create("softphone");
	TCase *http = tcase_create("http");
	SRunner *sr;
	int failed;

	if (!mkdtemp(rundir)) {
		perror("mkdtemp");
		return 1;
	}
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_checked_fixture(sp, setup, NULL);
	tcase_add_checked_fixture(http, setup, NULL);
	tcase_add_test(tc, table_from_config);
	tcase_add_test(tc, sip_prepare_is_deferred);
	tcase_add_test(tc, reload_keeps_unchanged_devices);
	tcase_add_test(tc, loader_checks_abi);
	tcase_add_test(sp, softphone_baresip);
	tcase_add_test(sp, softphone_linphonec);
	tcase_add_test(sp, softphone_bad_params);
	tcase_add_test(sp, softphone_missing_program);
	tcase_set_timeout(sp, 90);
	http_add_tests(http);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, sp);
	suite_add_tcase(s, http);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
