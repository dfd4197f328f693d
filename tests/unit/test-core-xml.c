/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* utf8_trim_partial(): what a truncating snprintf() leaves is cut back to whole characters. */
#include "config.h"

#include <check.h>

#include "core/core.h"
#include "testutil.h"

static void check_trim(const char *in, const char *want)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%s", in);
	utf8_trim_partial(buf);
	ck_assert_str_eq(buf, want);
}

START_TEST(test_whole_characters_kept)
{
	check_trim("", "");
	check_trim("abc", "abc");
	check_trim("a\xc3\xa9", "a\xc3\xa9");
	check_trim("\xe2\x82\xac", "\xe2\x82\xac");
	check_trim("x\xf0\x9f\x98\x80", "x\xf0\x9f\x98\x80");
}
END_TEST

START_TEST(test_partial_cut)
{
	check_trim("a\xc3", "a");
	check_trim("ab\xe2", "ab");
	check_trim("ab\xe2\x82", "ab");
	check_trim("\xf0\x9f\x98", "");
	check_trim("\xc3\xa9\xf0\x9f", "\xc3\xa9");
}
END_TEST

/* What snprintf() leaves in a buffer of @p size bytes, then trimmed. */
static __attribute__((noinline)) void check_cut(const char *in, size_t size, const char *want)
{
	char buf[16];

	ck_assert_uint_le(size, sizeof(buf));
	snprintf(buf, size, "%s", in);
	utf8_trim_partial(buf);
	ck_assert_str_eq(buf, want);
}

START_TEST(test_snprintf_cut)
{
	check_cut("ab\xe2\x82\xac\xe2\x82\xac", 6, "ab\xe2\x82\xac");
	check_cut("abc\xe2\x82\xac", 6, "abc");
	check_cut("abc\xe2\x82\xac", 7, "abc\xe2\x82\xac");
}
END_TEST

static Suite *utf8_suite(void)
{
	Suite *s = suite_create("core-utf8");
	TCase *tc = tcase_create("utf8");

	tcase_add_test(tc, test_whole_characters_kept);
	tcase_add_test(tc, test_partial_cut);
	tcase_add_test(tc, test_snprintf_cut);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(utf8_suite());
}
