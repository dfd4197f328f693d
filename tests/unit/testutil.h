/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the unit tests: finding and reading tests/data. */
#ifndef SIPSVC_TESTUTIL_H
#define SIPSVC_TESTUTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

/* tests/data/REL under $SRCDIR (set by `make check`; "." when run by hand). */
static inline char *tu_data_path(const char *rel)
{
	const char *src = getenv("SRCDIR");
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/tests/data/%s", src ? src : ".", rel), 0);
	return p;
}

/* The whole file, NUL-terminated; fails the test if it cannot be read. */
static inline char *tu_read(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

static inline int tu_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted full paths of the *.xml files in tests/data/REL; NULL-terminated. */
static inline char **tu_list(const char *rel, size_t *ret_n)
{
	char *dir = tu_data_path(rel), **v = NULL;
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	ck_assert_msg(d != NULL, "cannot open %s (is SRCDIR set?)", dir);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l < 5 || strcmp(e->d_name + l - 4, ".xml") != 0)
			continue;
		v = realloc(v, (n + 2) * sizeof(*v));
		ck_assert_ptr_nonnull(v);
		ck_assert_int_ge(asprintf(&v[n++], "%s/%s", dir, e->d_name), 0);
	}
	closedir(d);
	free(dir);
	ck_assert_uint_gt(n, 0);
	qsort(v, n, sizeof(*v), tu_cmp);
	v[n] = NULL;
	*ret_n = n;
	return v;
}

static inline void tu_free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Run suite @p s in check's default (fork) mode; the exit status for main(). */
static inline int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
