/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reference-counted memory: the destructor runs once, on the last reference. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include <check.h>

#include "core/core.h"
#include "testutil.h"

static unsigned destroyed;
static void *destroyed_ptr;

static void count_destroy(void *data)
{
	destroyed++;
	destroyed_ptr = data;
}

START_TEST(test_ref_deref)
{
	size_t live = mem_live_objects();
	unsigned char *p = mem_zalloc(100, count_destroy);

	destroyed = 0;
	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(p[i], 0);
	ck_assert_uint_eq(mem_live_objects(), live + 1);
	ck_assert_ptr_eq(mem_ref(p), p);
	ck_assert_ptr_eq(mem_ref(p), p);
	ck_assert_ptr_null(mem_deref(p));
	ck_assert_ptr_null(mem_deref(p));
	ck_assert_uint_eq(destroyed, 0);
	ck_assert_uint_eq(mem_live_objects(), live + 1);
	ck_assert_ptr_null(mem_deref(p));
	ck_assert_uint_eq(destroyed, 1);
	ck_assert_ptr_eq(destroyed_ptr, p);
	ck_assert_uint_eq(mem_live_objects(), live);
}
END_TEST

START_TEST(test_null_and_no_destructor)
{
	size_t live = mem_live_objects();
	void *p = mem_zalloc(1, NULL);

	ck_assert_ptr_null(mem_ref(NULL));
	ck_assert_ptr_null(mem_deref(NULL));
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(mem_live_objects(), live + 1);
	mem_deref(p);
	ck_assert_uint_eq(mem_live_objects(), live);
}
END_TEST

START_TEST(test_alignment)
{
	void *p[8];

	for (size_t i = 0; i < ARRAY_SIZE(p); i++) {
		p[i] = mem_zalloc(i + 1, NULL);
		ck_assert_uint_eq((uintptr_t)p[i] % _Alignof(max_align_t), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(p); i++)
		mem_deref(p[i]);
}
END_TEST

static Suite *mem_suite(void)
{
	Suite *s = suite_create("core-mem");
	TCase *tc = tcase_create("mem");

	tcase_add_test(tc, test_ref_deref);
	tcase_add_test(tc, test_null_and_no_destructor);
	tcase_add_test(tc, test_alignment);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(mem_suite());
}
