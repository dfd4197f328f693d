/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The config loader: defaults, every file in tests/data/config, refusals, lookups. */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "core/core.h"
#include "testutil.h"

static struct config *load_str(const char *text, int want, char *err, size_t errlen)
{
	struct config *c = NULL;
	int r = config_load_buffer(text, strlen(text), "mem.xml", &c, err, errlen);

	ck_assert_msg(r == want, "«%s»: %d (%s)", text, r, r < 0 ? err : "");
	ck_assert(r == 0 ? c != NULL : c == NULL);
	return c;
}

/* "NAME:LINE: problem" with LINE a number and a non-empty problem. */
static void assert_err_form(const char *err, const char *name)
{
	size_t n = strlen(name);
	const char *p = err + n + 1;

	ck_assert_msg(strncmp(err, name, n) == 0 && err[n] == ':', "«%s» does not name %s", err,
		      name);
	ck_assert_msg(*p >= '0' && *p <= '9', "«%s»: no line number", err);
	while (*p >= '0' && *p <= '9')
		p++;
	ck_assert_msg(p[0] == ':' && p[1] == ' ' && p[2] != '\0', "«%s»: no problem text", err);
}

START_TEST(test_defaults)
{
	struct config *c = config_new_defaults();

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->control_port, 7060);
	ck_assert_uint_eq(c->limits.max_message, 65536);
	ck_assert_uint_eq(c->limits.max_depth, 32);
	ck_assert_uint_eq(c->limits.max_connections, 64);
	ck_assert_uint_eq(c->limits.max_queue, 1024);
	ck_assert_int_eq(c->sip_port, 5060);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_ptr_null(c->path);
	ck_assert_ptr_null(c->runtime_dir);
	ck_assert_uint_eq(c->n_devices, 0);
	ck_assert_ptr_null(config_default_device(c));
	config_free(c);
	config_free(NULL);
}
END_TEST

START_TEST(test_empty_file_keeps_defaults)
{
	char err[256];
	struct config *c = load_str("<sipsvc/>", 0, err, sizeof(err));

	ck_assert_int_eq(c->control_port, 7060);
	ck_assert_uint_eq(c->limits.max_message, 65536);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_str_eq(c->path, "mem.xml");
	config_free(c);
}
END_TEST

START_TEST(test_valid_files)
{
	size_t n;
	char **files = tu_list("config/valid", &n);

	for (size_t i = 0; i < n; i++) {
		struct config *c = NULL;
		char err[512] = "";
		int r = config_load(files[i], &c, err, sizeof(err));

		ck_assert_msg(r == 0, "%s: %s", files[i], err);
		ck_assert_str_eq(c->path, files[i]);
		config_free(c);
	}
	tu_free_list(files);
}
END_TEST

START_TEST(test_invalid_files)
{
	size_t n;
	char **files = tu_list("config/invalid", &n);

	for (size_t i = 0; i < n; i++) {
		struct config *c = NULL;
		char err[512] = "";
		int r = config_load(files[i], &c, err, sizeof(err));

		ck_assert_msg(r == -EINVAL, "%s: loaded (%d)", files[i], r);
		ck_assert_ptr_null(c);
		assert_err_form(err, files[i]);
	}
	tu_free_list(files);
}
END_TEST

START_TEST(test_overlay_values)
{
	char *path = tu_data_path("config/valid/overlay-all.xml"), err[512];
	struct config *c = NULL, *d = config_new_defaults();

	ck_assert(d->overlay_enable);
	ck_assert_uint_eq(d->overlay_min, 4);
	ck_assert_uint_eq(d->overlay_max, 8);
	ck_assert_uint_eq(d->overlay_refresh, 60);
	ck_assert_uint_eq(d->overlay_ttl, 4);
	ck_assert_uint_eq(d->n_overlay_bootstrap, 0);
	ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), 0);
	ck_assert(!c->overlay_enable);
	ck_assert_uint_eq(c->overlay_min, 2);
	ck_assert_uint_eq(c->overlay_max, 12);
	ck_assert_uint_eq(c->overlay_refresh, 30);
	ck_assert_uint_eq(c->overlay_ttl, 5);
	ck_assert_str_eq(c->overlay_contact, "192.0.2.7:5070");
	ck_assert_uint_eq(c->n_overlay_bootstrap, 2);
	ck_assert_str_eq(c->overlay_bootstrap[0], "sip:192.0.2.9:5060");
	ck_assert_str_eq(c->overlay_bootstrap[1],
			 "sip:0123456789abcdef0123456789abcdef@192.0.2.10:5062");
	/* --bootstrap adds to them, up to the bound */
	for (int i = 2; i < CONFIG_OVERLAY_BOOTSTRAP_MAX; i++)
		ck_assert_int_eq(config_overlay_bootstrap_add(c, "sip:192.0.2.1:5060"), 0);
	ck_assert_int_eq(config_overlay_bootstrap_add(c, "sip:192.0.2.1:5060"), -ENOSPC);
	config_free(c);
	config_free(d);
	free(path);
}
END_TEST

START_TEST(test_full_values)
{
	char *path = tu_data_path("config/valid/full.xml"), err[512];
	const struct config_device *d;
	struct config *c = NULL;

	ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c->control_port, 7060);
	ck_assert_uint_eq(c->limits.max_message, 65536);
	ck_assert_uint_eq(c->limits.max_depth, 32);
	ck_assert_uint_eq(c->limits.max_connections, 64);
	ck_assert_uint_eq(c->limits.max_queue, 1024);
	ck_assert_int_eq(c->sip_port, 5060);
	ck_assert_str_eq(c->sip_addr, "0.0.0.0");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_str_eq(c->state_dir, "/home/alice/.local/state/sipsvc");
	ck_assert_str_eq(c->runtime_dir, "/run/user/1000/sipsvc");
	ck_assert_str_eq(c->download_dir, "/home/alice/Downloads");
	ck_assert_str_eq(c->identity_uri, "sip:alice@example.com");
	ck_assert_str_eq(c->display_name, "Alice Example");
	ck_assert_str_eq(c->conference_server, "sip:conf.example.com");
	ck_assert_str_eq(c->conference_method, "refer-focus");
	ck_assert_uint_eq(c->n_devices, 2);
	d = &c->devices[0];
	ck_assert_str_eq(d->id, "desk");
	ck_assert_str_eq(d->wrapper, "sip");
	ck_assert_str_eq(d->uri, "sip:desk@192.0.2.1");
	ck_assert_int_eq(d->mode, DEVICE_MODE_TRANSFER);
	ck_assert(d->is_default);
	ck_assert_uint_eq(d->n_params, 1);
	ck_assert_str_eq(d->params[0].name, "answer-mode");
	ck_assert_str_eq(d->params[0].value, "auto");
	d = &c->devices[1];
	ck_assert_str_eq(d->id, "softphone");
	ck_assert_int_eq(d->mode, DEVICE_MODE_LOOP);
	ck_assert(!d->is_default);
	ck_assert_uint_eq(d->n_params, 3);
	ck_assert_str_eq(d->params[2].name, "arg");
	ck_assert_str_eq(d->params[2].value, "/home/alice/.baresip");
	config_free(c);
	free(path);
}
END_TEST

START_TEST(test_control_values)
{
	char err[256];
	struct config *c = load_str("<sipsvc><control port=\"0\" max-message=\"1024\" max-depth=\"2\" "
				    "max-connections=\"1\" max-queue=\"16\"/>"
				    "<sip port=\"5070\"/><log level=\"debug\"/></sipsvc>",
				    0, err, sizeof(err));

	ck_assert_int_eq(c->control_port, 0);
	ck_assert_uint_eq(c->limits.max_message, 1024);
	ck_assert_uint_eq(c->limits.max_depth, 2);
	ck_assert_uint_eq(c->limits.max_connections, 1);
	ck_assert_uint_eq(c->limits.max_queue, 16);
	ck_assert_int_eq(c->sip_port, 5070);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	config_free(c);
}
END_TEST

START_TEST(test_sip_location_values)
{
	char err[256];
	struct config *c = load_str("<sipsvc><sip addr=\"192.0.2.7\" "
				    "outbound-proxy=\"sip:proxy.example.com:5070;lr\">"
				    "<dns server=\"127.0.0.1:5353,[::1]:53\"/></sip></sipsvc>",
				    0, err, sizeof(err));

	ck_assert_str_eq(c->sip_outbound_proxy, "sip:proxy.example.com:5070;lr");
	ck_assert_str_eq(c->sip_dns_servers, "127.0.0.1:5353,[::1]:53");
	config_free(c);
	/* Only sip: URIs; a server list is addresses and ports only. */
	ck_assert_ptr_null(load_str("<sipsvc><sip outbound-proxy=\"http://x\"/></sipsvc>", -EINVAL,
				    err, sizeof(err)));
	ck_assert_ptr_null(load_str("<sipsvc><sip><dns server=\"ns.example.com\"/></sip></sipsvc>",
				    -EINVAL, err, sizeof(err)));
}
END_TEST

START_TEST(test_default_identity)
{
	struct passwd *pw = getpwuid(getuid());
	struct config *c = config_new_defaults();
	char want[512];

	ck_assert_ptr_nonnull(pw);
	/* The login name at the SIP address, IPv6 in brackets. */
	c->sip_addr = strdup("::1");
	ck_assert_int_eq(config_default_identity(c), 0);
	snprintf(want, sizeof(want), "sip:%s@[::1]", pw->pw_name);
	ck_assert_str_eq(c->identity_uri, want);
	/* A configured identity stays. */
	ck_assert_int_eq(config_default_identity(c), 0);
	ck_assert_str_eq(c->identity_uri, want);
	free(c->identity_uri);
	c->identity_uri = NULL;
	/* A wildcard address says nothing: the host name. */
	free(c->sip_addr);
	c->sip_addr = strdup("0.0.0.0");
	ck_assert_int_eq(config_default_identity(c), 0);
	ck_assert_ptr_null(strstr(c->identity_uri, "0.0.0.0"));
	ck_assert_int_eq(strncmp(c->identity_uri, want, strlen("sip:") + strlen(pw->pw_name) + 1), 0);
	config_free(c);
}
END_TEST

START_TEST(test_two_defaults)
{
	char err[256];

	load_str("<sipsvc><device id=\"a\" wrapper=\"sip\" default=\"true\"/>"
		 "<device id=\"b\" wrapper=\"sip\" default=\"1\"/></sipsvc>",
		 -EINVAL, err, sizeof(err));
	assert_err_form(err, "mem.xml");
	ck_assert_ptr_nonnull(strstr(err, "default"));
}
END_TEST

START_TEST(test_duplicate_ids)
{
	char err[256];

	load_str("<sipsvc>\n<device id=\"a\" wrapper=\"sip\"/>\n<device id=\"a\" wrapper=\"x\"/>"
		 "</sipsvc>", -EINVAL, err, sizeof(err));
	assert_err_form(err, "mem.xml");
	ck_assert_msg(strstr(err, "mem.xml:3: ") != NULL, "«%s»: not line 3", err);
}
END_TEST

/*
 * xs:token and xs:boolean values are valid with blanks around them; the loader must
 * read them as the schema does (" loop " was stored as an invalid mode, -1).
 */
START_TEST(test_token_whitespace)
{
	char err[256];
	struct config *c = load_str("<sipsvc><log level=\" debug\n\"/>"
				    "<device id=\"a\" wrapper=\"sip\" mode=\"\tloop \" default=\" true \"/>"
				    "<device id=\"b\" wrapper=\"sip\" mode=\" transfer\" default=\" 0\"/>"
				    "<conference server=\"sip:c@example.com\" method=\" refer-focus \"/>"
				    "</sipsvc>", 0, err, sizeof(err));

	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(c->devices[0].mode, DEVICE_MODE_LOOP);
	ck_assert(c->devices[0].is_default);
	ck_assert_int_eq(c->devices[1].mode, DEVICE_MODE_TRANSFER);
	ck_assert(!c->devices[1].is_default);
	ck_assert_str_eq(c->conference_method, "refer-focus");
	ck_assert_ptr_eq(config_default_device(c), &c->devices[0]);
	config_free(c);
}
END_TEST

/* sipsvc-config.xsd: every element but <device> at most once, checked by the daemon. */
START_TEST(test_element_twice)
{
	char err[256];

	load_str("<sipsvc>\n<control port=\"1\"/>\n<log level=\"info\"/><control port=\"2\"/>"
		 "</sipsvc>", -EINVAL, err, sizeof(err));
	ck_assert_str_eq(err, "mem.xml:3: <control> appears twice (first on line 2); merge them");
	load_str("<sipsvc><paths state-dir=\"/a\"/><paths state-dir=\"/b\"/></sipsvc>", -EINVAL,
		 err, sizeof(err));
	assert_err_form(err, "mem.xml");
}
END_TEST

/* A temporary file with @p len bytes of @p text repeated; the path is malloc'd. */
static char *temp_file(const char *text, size_t len)
{
	char *path = strdup("/tmp/sipsvc-test-XXXXXX");
	size_t tl = strlen(text);
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	for (size_t off = 0; off < len; off += tl)
		ck_assert_int_eq(write(fd, text, len - off < tl ? len - off : tl),
				 (ssize_t)(len - off < tl ? len - off : tl));
	close(fd);
	return path;
}

START_TEST(test_too_big)
{
	/* Valid XML all the way: only the size is wrong. */
	size_t len = 1024 * 1024 + 1;
	char *path = temp_file("<!-- 0123456789abcdef0123456789abcdef -->", len), err[512];
	struct config *c = NULL;

	ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_null(c);
	assert_err_form(err, path);
	ck_assert_ptr_nonnull(strstr(err, "1 MiB"));
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_missing_file)
{
	struct config *c = NULL;
	char err[512];

	ck_assert_int_eq(config_load("/nonexistent/sipsvc.xml", &c, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(c);
	assert_err_form(err, "/nonexistent/sipsvc.xml");
}
END_TEST

/* An external entity must never be read: not into a value, not into the message. */
static void check_xxe(const char *target, const char *secret)
{
	char doc[512], err[512] = "";
	struct config *c = NULL;
	int r;

	snprintf(doc, sizeof(doc),
		 "<?xml version=\"1.0\"?>\n<!DOCTYPE sipsvc [<!ENTITY x SYSTEM \"file://%s\">]>\n"
		 "<sipsvc><identity display-name=\"&x;\"/><sip addr=\"&x;\"/></sipsvc>", target);
	r = config_load_buffer(doc, strlen(doc), "xxe.xml", &c, err, sizeof(err));
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(c);
	assert_err_form(err, "xxe.xml");
	ck_assert_msg(strstr(err, secret) == NULL, "«%s» leaks the file", err);
}

START_TEST(test_xxe_refused)
{
	static const char secret[] = "sipsvc-secret-7f3a";
	char *path = temp_file(secret, sizeof(secret) - 1);

	check_xxe("/etc/passwd", "root:");
	check_xxe(path, secret);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_device_lookup)
{
	char err[256];
	struct config *c = load_str("<sipsvc><device id=\"a\" wrapper=\"sip\"/>"
				    "<device id=\"b\" wrapper=\"sip\" default=\"true\"/>"
				    "<device id=\"c\" wrapper=\"sip\"/></sipsvc>", 0, err, sizeof(err));

	ck_assert_ptr_eq(config_find_device(c, "a"), &c->devices[0]);
	ck_assert_ptr_eq(config_find_device(c, "c"), &c->devices[2]);
	ck_assert_ptr_null(config_find_device(c, "d"));
	ck_assert_ptr_null(config_find_device(c, "A"));
	ck_assert_ptr_eq(config_default_device(c), &c->devices[1]);
	config_free(c);
}
END_TEST

START_TEST(test_default_device_rules)
{
	char err[256];
	struct config *c;

	/* The only device is the default even when not marked. */
	c = load_str("<sipsvc><device id=\"solo\" wrapper=\"sip\"/></sipsvc>", 0, err, sizeof(err));
	ck_assert_ptr_eq(config_default_device(c), &c->devices[0]);
	config_free(c);
	/* Two, none marked: no default (ExternalJoin falls through to no-devices/declined). */
	c = load_str("<sipsvc><device id=\"a\" wrapper=\"sip\"/><device id=\"b\" wrapper=\"sip\"/>"
		     "</sipsvc>", 0, err, sizeof(err));
	ck_assert_ptr_null(config_default_device(c));
	config_free(c);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("core-config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_file_keeps_defaults);
	tcase_add_test(tc, test_valid_files);
	tcase_add_test(tc, test_invalid_files);
	tcase_add_test(tc, test_full_values);
	tcase_add_test(tc, test_overlay_values);
	tcase_add_test(tc, test_control_values);
	tcase_add_test(tc, test_sip_location_values);
	tcase_add_test(tc, test_default_identity);
	tcase_add_test(tc, test_two_defaults);
	tcase_add_test(tc, test_duplicate_ids);
	tcase_add_test(tc, test_element_twice);
	tcase_add_test(tc, test_token_whitespace);
	tcase_add_test(tc, test_too_big);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_xxe_refused);
	tcase_add_test(tc, test_device_lookup);
	tcase_add_test(tc, test_default_device_rules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(config_suite());
}
