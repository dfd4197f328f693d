/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* core/xml.c: parsing untrusted input, and making text that quotes it fit for XML. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* What the writer made, checked against @p want, then parsed back by libxml2. */
static void check_written(struct xml_writer *w, const char *want)
{
	char err[256] = "", *out;
	size_t len;
	xmlDocPtr d;

	ck_assert_int_eq(xml_writer_finish(w, 4, &out, &len), 0);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(out + 4, want, len);
	d = xml_parse_untrusted(out + 4, len, err, sizeof(err));
	ck_assert_msg(d != NULL, "%s does not parse: %s", want, err);
	xmlFreeDoc(d);
	free(out);
}

START_TEST(test_writer)
{
	struct xml_writer w;

	ck_assert_int_eq(xml_writer_init(&w, 4), 0);
	xml_begin(&w, "Ok");
	xml_attr(&w, "ref", "a\"b<c>&\td\ne");
	xml_begin(&w, "Empty");
	xml_attrf(&w, "n", "%zu", (size_t)18446744073709551615ULL);
	xml_attrf(&w, "u", "%u", 0u);
	xml_attrf(&w, "f", "%.3f", 1.5);
	xml_end(&w);
	xml_begin(&w, "Text");
	xml_text(&w, "x<y & \"z\"\n\x01");
	xml_end(&w);
	xml_end(&w);
	check_written(&w, "<Ok ref=\"a&quot;b&lt;c&gt;&amp;&#9;d&#10;e\">"
			  "<Empty n=\"18446744073709551615\" u=\"0\" f=\"1.500\"/>"
			  "<Text>x&lt;y &amp; \"z\"&#10;\xef\xbf\xbd</Text></Ok>\n");
}
END_TEST

/* Misuse is refused at the end, never written as broken XML. */
START_TEST(test_writer_misuse)
{
	struct xml_writer w;
	char *out = NULL;
	size_t len;

	ck_assert_int_eq(xml_writer_init(&w, 0), 0);
	xml_begin(&w, "a");
	ck_assert_int_eq(xml_writer_finish(&w, 0, &out, &len), -EINVAL); /* left open */
	ck_assert_int_eq(xml_writer_init(&w, 0), 0);
	xml_begin(&w, "a");
	xml_text(&w, "t");
	xml_attr(&w, "late", "1");
	xml_end(&w);
	ck_assert_int_eq(xml_writer_finish(&w, 0, &out, &len), -EINVAL);
	ck_assert_int_eq(xml_writer_init(&w, 0), 0);
	xml_end(&w);
	ck_assert_int_eq(xml_writer_finish(&w, 0, &out, &len), -EINVAL);
	ck_assert_int_eq(xml_writer_init(&w, 0), 0);
	for (int i = 0; i <= XML_WRITER_DEPTH; i++)
		xml_begin(&w, "d");
	for (int i = 0; i <= XML_WRITER_DEPTH; i++)
		xml_end(&w);
	ck_assert_int_eq(xml_writer_finish(&w, 0, &out, &len), -EINVAL);
	ck_assert_ptr_null(out);
}
END_TEST

/* Text of @n bytes, not NUL-terminated: the bound, not what follows, decides. */
START_TEST(test_text_ok)
{
	ck_assert(xml_text_ok("ab\xe2\x82\xac", 5));
	ck_assert(!xml_text_ok("ab\xe2\x82\xac", 4)); /* cut by the length */
	ck_assert(!xml_text_ok("ab\xe2\x82\xac", 3));
	ck_assert(xml_text_ok("a\xc2\x85\tb\r\n", 7)); /* C1 and these C0 are Chars */
	ck_assert(!xml_text_ok("a\0b", 3));
	ck_assert(!xml_text_ok("a\x01", 2));
	ck_assert(!xml_text_ok("\xef\xbf\xbe", 3)); /* U+FFFE */
	ck_assert(!xml_text_ok("\xc0\x80", 2));      /* overlong NUL */
	ck_assert(xml_text_ok("", 0));
}
END_TEST

/* sipsvc.xsd's Uri: [A-Za-z][A-Za-z0-9+.\-]*:[^\s\p{Cc}<>"]+, at most 1024. */
START_TEST(test_uri_ok)
{
	char longest[1026];

	ck_assert(xml_uri_ok("sip:alice@example.com;transport=tcp"));
	ck_assert(xml_uri_ok("tel:+1-555"));
	ck_assert(xml_uri_ok("im:caf\xc3\xa9"));
	ck_assert(xml_uri_ok("x:\xc2\xa0")); /* U+00A0 is no control */
	ck_assert(!xml_uri_ok("x:a\xc2\x80"));
	ck_assert(!xml_uri_ok("x:a\xc2\x9f"));
	ck_assert(!xml_uri_ok("x:a\x7f"));
	ck_assert(!xml_uri_ok("x:a\x01"));
	ck_assert(!xml_uri_ok("x:a b"));
	ck_assert(!xml_uri_ok("x:a\"b"));
	ck_assert(!xml_uri_ok("x:<a>"));
	ck_assert(!xml_uri_ok("x:\xc3"));     /* cut UTF-8 */
	ck_assert(!xml_uri_ok("x:\xed\xa0\x80")); /* a surrogate */
	ck_assert(!xml_uri_ok("x:"));
	ck_assert(!xml_uri_ok(":a"));
	ck_assert(!xml_uri_ok("1x:a"));
	ck_assert(!xml_uri_ok(""));
	ck_assert(!xml_uri_ok(NULL));
	memset(longest, 'a', sizeof(longest) - 1);
	memcpy(longest, "x:", 2);
	longest[1024] = '\0';
	ck_assert(xml_uri_ok(longest));
	longest[1024] = 'a';
	longest[1025] = '\0';
	ck_assert(!xml_uri_ok(longest));
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
	tcase_add_test(tc, test_writer);
	tcase_add_test(tc, test_writer_misuse);
	tcase_add_test(tc, test_text_ok);
	tcase_add_test(tc, test_uri_ok);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(xml_suite());
}
