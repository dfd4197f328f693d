/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The http wrapper against an HTTP listener on this test's own loop (included by
 * test-device.c). A phone's click-to-dial API is plain HTTP: the request line, headers
 * and body it receives are what is checked. */

enum reply_mode { REPLY_200, REPLY_500, REPLY_NEVER };

static struct {
	int lfd, cfd;
	ev_io accept_io, read_io;
	char req[8192];
	size_t len;
	int got;
	enum reply_mode mode;
} srv;

static bool request_complete(void)
{
	const char *end = strstr(srv.req, "\r\n\r\n");
	const char *cl = strcasestr(srv.req, "Content-Length:");

	if (!end)
		return false;
	return !cl || cl > end || srv.len >= (size_t)(end + 4 - srv.req) + strtoul(cl + 15, NULL, 10);
}

static void on_srv_read(struct ev_loop *l, ev_io *w, int revents)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const char err[] = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
	ssize_t n = read(srv.cfd, srv.req + srv.len, sizeof(srv.req) - 1 - srv.len);

	if (n <= 0) {
		ev_io_stop(l, w);
		return;
	}
	srv.len += (size_t)n;
	srv.req[srv.len] = '\0';
	if (!request_complete())
		return;
	srv.got = 1;
	if (srv.mode == REPLY_200)
		ck_assert_int_eq(write(srv.cfd, ok, sizeof(ok) - 1), sizeof(ok) - 1);
	else if (srv.mode == REPLY_500)
		ck_assert_int_eq(write(srv.cfd, err, sizeof(err) - 1), sizeof(err) - 1);
}

static void on_srv_accept(struct ev_loop *l, ev_io *w, int revents)
{
	srv.cfd = accept(srv.lfd, NULL, NULL);
	ck_assert_int_ge(srv.cfd, 0);
	ev_io_init(&srv.read_io, on_srv_read, srv.cfd, EV_READ);
	ev_io_start(l, &srv.read_io);
}

static int srv_start(enum reply_mode mode)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	memset(&srv, 0, sizeof(srv));
	srv.mode = mode;
	srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(srv.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(srv.lfd, 4), 0);
	ck_assert_int_eq(getsockname(srv.lfd, (struct sockaddr *)&sa, &len), 0);
	ev_io_init(&srv.accept_io, on_srv_accept, srv.lfd, EV_READ);
	ev_io_start(loop, &srv.accept_io);
	return ntohs(sa.sin_port);
}

static struct device_table *http_table(const char *params, struct config **cfg)
{
	char xml[4096];

	snprintf(xml, sizeof(xml), "<sipsvc><device id=\"click\" wrapper=\"http\">%s</device>"
		 "</sipsvc>", params);
	*cfg = load(xml);
	return table(*cfg);
}

START_TEST(http_get)
{
	char params[256];
	struct config *c;
	struct device_table *t;
	struct result r = { 0 };
	int port = srv_start(REPLY_200);

	snprintf(params, sizeof(params), "<param name=\"url\" value=\"http://127.0.0.1:%d/dial?"
		 "to={target}&amp;dev={device}\"/>", port);
	t = http_table(params, &c);
	ck_assert_int_eq(device_dial(device_find(t, "click"), "sip:bob@example.com", on_done, &r), 0);
	run_until(&r.done, 10);
	ck_assert_msg(r.err == 0, "%s", r.why);
	ck_assert_msg(strncmp(srv.req, "GET /dial?to=sip%3Abob%40example.com&dev=click HTTP/1.1\r\n",
			      56) == 0, "request: %.80s", srv.req);
	device_table_free(t);
	config_free(c);
}
END_TEST

START_TEST(http_post_with_auth)
{
	char params[2048], pwfile[300];
	struct config *c;
	struct device_table *t;
	struct result r = { 0 };
	FILE *f;
	int port = srv_start(REPLY_200);

	snprintf(pwfile, sizeof(pwfile), "%s/pw", rundir);
	f = fopen(pwfile, "w");
	fputs("s3cret\n", f);
	fclose(f);
	chmod(pwfile, 0600);
	snprintf(params, sizeof(params),
		 "<param name=\"url\" value=\"http://127.0.0.1:%d/api/call\"/>"
		 "<param name=\"method\" value=\"POST\"/>"
		 "<param name=\"body\" value=\"{&quot;number&quot;:&quot;{target}&quot;}\"/>"
		 "<param name=\"content-type\" value=\"application/json\"/>"
		 "<param name=\"user\" value=\"alice\"/>"
		 "<param name=\"password-file\" value=\"%s\"/>", port, pwfile);
	t = http_table(params, &c);
	ck_assert_int_eq(device_dial(device_find(t, "click"), "tel:+15551234", on_done, &r), 0);
	run_until(&r.done, 10);
	ck_assert_msg(r.err == 0, "%s", r.why);
	ck_assert_msg(strncmp(srv.req, "POST /api/call HTTP/1.1\r\n", 25) == 0, "%.60s", srv.req);
	ck_assert_ptr_nonnull(strstr(srv.req, "Content-Type: application/json\r\n"));
	/* base64("alice:s3cret") */
	ck_assert_ptr_nonnull(strstr(srv.req, "Authorization: Basic YWxpY2U6czNjcmV0\r\n"));
	ck_assert_ptr_nonnull(strstr(srv.req, "\r\n\r\n{\"number\":\"tel:+15551234\"}"));
	device_table_free(t);
	config_free(c);
}
END_TEST

START_TEST(http_error_status)
{
	char params[256];
	struct config *c;
	struct device_table *t;
	struct result r = { 0 };
	int port = srv_start(REPLY_500);

	snprintf(params, sizeof(params), "<param name=\"url\" value=\"http://127.0.0.1:%d/d\"/>",
		 port);
	t = http_table(params, &c);
	ck_assert_int_eq(device_dial(device_find(t, "click"), "sip:b@example.com", on_done, &r), 0);
	run_until(&r.done, 10);
	ck_assert_int_eq(r.err, -EIO);
	ck_assert_str_eq(r.why, "the phone answered HTTP 500");
	device_table_free(t);
	config_free(c);
}
END_TEST

START_TEST(http_timeout_and_cancel)
{
	char params[256];
	struct config *c;
	struct device_table *t;
	struct result r = { 0 }, r2 = { 0 };
	int port = srv_start(REPLY_NEVER);

	snprintf(params, sizeof(params), "<param name=\"url\" value=\"http://127.0.0.1:%d/d\"/>"
		 "<param name=\"timeout-ms\" value=\"300\"/>", port);
	t = http_table(params, &c);
	ck_assert_int_eq(device_dial(device_find(t, "click"), "sip:b@example.com", on_done, &r), 0);
	run_until(&r.done, 10);
	ck_assert_int_eq(r.err, -ETIMEDOUT);
	/* A request still in flight when the device closes is reported cancelled. */
	ck_assert_int_eq(device_dial(device_find(t, "click"), "sip:c@example.com", on_done, &r2), 0);
	device_table_free(t);
	ck_assert_int_eq(r2.done, 1);
	ck_assert_int_eq(r2.err, -ECANCELED);
	config_free(c);
}
END_TEST

START_TEST(http_refused_and_bad_config)
{
	char params[1024], pwfile[300];
	struct config *c;
	struct device_table *t;
	struct result r = { 0 };
	FILE *f;
	int port = srv_start(REPLY_200);

	close(srv.lfd); /* nobody listens there now */
	ev_io_stop(loop, &srv.accept_io);
	snprintf(params, sizeof(params), "<param name=\"url\" value=\"http://127.0.0.1:%d/d\"/>",
		 port);
	t = http_table(params, &c);
	ck_assert_int_eq(device_dial(device_find(t, "click"), "sip:b@example.com", on_done, &r), 0);
	run_until(&r.done, 10);
	ck_assert_int_eq(r.err, -EIO);
	device_table_free(t);
	config_free(c);

	/* A password file others can read, a file: URL, a bad method: the device is unusable. */
	snprintf(pwfile, sizeof(pwfile), "%s/pw-open", rundir);
	f = fopen(pwfile, "w");
	fputs("x", f);
	fclose(f);
	chmod(pwfile, 0644);
	snprintf(params, sizeof(params), "<param name=\"url\" value=\"http://127.0.0.1:1/\"/>"
		 "<param name=\"user\" value=\"u\"/><param name=\"password-file\" value=\"%s\"/>",
		 pwfile);
	for (int i = 0; i < 3; i++) {
		t = http_table(i == 0 ? params :
			       i == 1 ? "<param name=\"url\" value=\"file:///etc/passwd\"/>" :
					"<param name=\"url\" value=\"http://x/\"/>"
					"<param name=\"method\" value=\"DELETE\"/>", &c);
		ck_assert_int_eq(device_available(device_find(t, "click")), 0);
		device_table_free(t);
		config_free(c);
	}
}
END_TEST

START_TEST(http_templates)
{
	char *s = http_expand("a{target}b{device}{x}{", "sip:a b@c", "d/1", true);

	ck_assert_str_eq(s, "asip%3Aa%20b%40cbd%2F1{x}{");
	free(s);
	s = http_expand("{\"n\":\"{target}\"}", "tel:+1", "d", false);
	ck_assert_str_eq(s, "{\"n\":\"tel:+1\"}");
	free(s);
	ck_assert_ptr_null(http_expand("{target}", "sip:\"evil\"", "d", false));
	s = http_expand("", "x", "y", true);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

static void http_add_tests(TCase *tc)
{
	tcase_add_test(tc, http_get);
	tcase_add_test(tc, http_post_with_auth);
	tcase_add_test(tc, http_error_status);
	tcase_add_test(tc, http_timeout_and_cancel);
	tcase_add_test(tc, http_refused_and_bad_config);
	tcase_add_test(tc, http_templates);
}
