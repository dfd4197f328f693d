/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* core/xml.c: parsing untrusted input, and making text that quotes it fit for XML. */
#include "config.h"

#include <check.h>

#include "core/core.h"
#include "core/xml.h"
#include "testutil.h"

static void check_sanitize(const char *in, const char *want)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%s", in);
	xml_text_sanitize(buf);
	ck_assert_str_eq(buf, want);
}

START_TEST(test_valid_text_kept)
{
	check_sanitize("", "");
	check_sanitize("abc \t\r\n<&>\x7f", "abc \t\r\n<&>\x7f");
	check_sanitize("a\xc3\xa9", "a\xc3\xa9");
	check_sanitize("\xe2\x82\xac\xef\xbf\xbd", "\xe2\x82\xac\xef\xbf\xbd");
	check_sanitize("x\xf0\x9f\x98\x80", "x\xf0\x9f\x98\x80");
	check_sanitize("\xf4\x8f\xbf\xbd", "\xf4\x8f\xbf\xbd"); /* U+10FFFD */
}
END_TEST

START_TEST(test_bad_bytes_replaced)
{
	check_sanitize("a\xc3", "a?");             /* cut inside a character */
	check_sanitize("ab\xe2\x82", "ab??");
	check_sanitize("<!--\xac\"/>", "<!--?\"/>"); /* a stray continuation byte */
	check_sanitize("\xff\xfe", "??");
	check_sanitize("\xc0\xaf", "??");             /* overlong '/' */
	check_sanitize("\xe0\x80\xaf", "???");        /* overlong, 3 bytes */
	check_sanitize("\xed\xa0\x80", "???");        /* a surrogate */
	check_sanitize("\xf4\x90\x80\x80", "????");   /* beyond U+10FFFF */
	check_sanitize("\xef\xbf\xbe\xef\xbf\xbf", "??????"); /* U+FFFE, U+FFFF */
	check_sanitize("a\x01\x13\x1b" "b", "a???b"); /* C0 controls XML 1.0 forbids */
}
END_TEST

/* What snprintf() leaves in a buffer of @p size bytes, then sanitised. */
static __attribute__((noinline)) void check_cut(const char *in, size_t size, const char *want)
{
	char buf[16];

	ck_assert_uint_le(size, sizeof(buf));
	snprintf(buf, size, "%s", in);
	xml_text_sanitize(buf);
	ck_assert_str_eq(buf, want);
}

START_TEST(test_snprintf_cut)
{
	check_cut("ab\xe2\x82\xac\xe2\x82\xac", 6, "ab\xe2\x82\xac");
	check_cut("ab\xe2\x82\xac", 5, "ab??");
	check_cut("abc\xe2\x82\xac", 6, "abc??");
	check_cut("abc\xe2\x82\xac", 7, "abc\xe2\x82\xac");
}
END_TEST

static void check_refused(const char *doc, const char *want_in_err)
{
	char err[256] = "";
	xmlDocPtr d = xml_parse_untrusted(doc, strlen(doc), err, sizeof(err));

	ck_assert_msg(d == NULL, "«%s» parsed", doc);
	ck_assert_msg(strstr(err, want_in_err) != NULL, "«%s»: «%s»", doc, err);
	ck_assert_msg(strstr(err, "root:") == NULL, "«%s» leaks a file: «%s»", doc, err);
}

START_TEST(test_parse_untrusted)
{
	char err[256] = "";
	xmlDocPtr d = xml_parse_untrusted("<a b=\"&amp;\">x</a>", 18, err, sizeof(err));

	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq((const char *)xmlDocGetRootElement(d)->name, "a");
	xmlFreeDoc(d);
	check_refused("<!DOCTYPE a><a/>", "DOCTYPE");
	check_refused("<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>", "");
	check_refused("<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a/>", "DOCTYPE");
	check_refused("<a>", "1: ");
	check_refused("<a b=\"\xff\"/>", "1: ");
}
END_TEST

static Suite *xml_suite(void)
{
	Suite *s = suite_create("core-xml");
	TCase *tc = tcase_create("xml");

	tcase_add_test(tc, test_valid_text_kept);
	tcase_add_test(tc, test_bad_bytes_replaced);
	tcase_add_test(tc, test_snprintf_cut);
	tcase_add_test(tc, test_parse_untrusted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(xml_suite());
}
