/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The index file: round trip, atomic replacement, hostile files refused; and the
 * subsystem across a restart: unchanged files are not hashed again, a corrupt index
 * is refused and rebuilt. */
#include "config.h"

#include <dirent.h>

#include "share-util.h"

#define H256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define H1   "a9993e364706816aba3e25717850c26c9cd0d89d"

static int parse(const char *text, struct store_data *d, char *err)
{
	return share_store_parse(text, strlen(text), 4, 3, d, err, 128);
}

START_TEST(round_trip)
{
	struct share_index idx;
	struct share_root *rp = mem_zalloc(sizeof(*rp), NULL), *roots[] = {rp};
	struct share_stat st = {.size = 3, .mtime_ns = 1234567890123456789, .ino = 42, .dev = 2049};
	uint8_t h256[SHARE_SHA256_LEN] = {0xba, 0x78}, h1[SHARE_SHA1_LEN] = {0xa9};
	struct share_entry *e;
	struct store_data d;
	char *buf, err[128];
	size_t len;

	*rp = (struct share_root){.path = "/m", .real = "/m", .is_dir = true};
	ck_assert_int_eq(share_index_init(&idx, 10), 0);
	/* Spaces, '%', a newline and UTF-8 survive the escaping. */
	ck_assert_int_eq(share_index_add(&idx, rp, "/m/dir x/100%\nÉté.txt", &st, &e), 0);
	share_index_set_hash(&idx, e, h256, h1);
	ck_assert_int_eq(share_index_add(&idx, rp, "/m/unhashed", &st, NULL), 0);
	ck_assert_int_eq(share_store_format(roots, 1, &buf, &len), 0);
	ck_assert_int_eq(share_store_parse(buf, len, 4, 10, &d, err, sizeof(err)), 0);
	ck_assert_uint_eq(d.n_roots, 1);
	ck_assert_str_eq(d.roots[0], "/m");
	ck_assert_uint_eq(d.n_files, 1); /* only hashed files are kept */
	ck_assert_str_eq(d.files[0].rel, "dir x/100%\nÉté.txt");
	ck_assert(share_stat_equal(&d.files[0].st, &st));
	ck_assert_mem_eq(d.files[0].sha256, h256, SHARE_SHA256_LEN);
	ck_assert_mem_eq(d.files[0].sha1, h1, SHARE_SHA1_LEN);
	share_store_data_done(&d);
	free(buf);
	while (rp->first)
		share_index_remove(&idx, rp->first);
	share_index_done(&idx);
	mem_deref(rp);
}
END_TEST

START_TEST(hostile_files_refused)
{
	static const char *const bad[] = {
	    "",
	    "sipsvc-shares 2\n",
	    "sipsvc-shares 1\nroot relative\n",
	    "sipsvc-shares 1\nroot /a\nfile 1 1 1 1 1 " H256 " " H1 " x\n", /* no root 1 */
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " ../etc/passwd\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " /etc/passwd\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " a/.ssh/id\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " a//b\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " a%00b\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " a%2\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 "
	    "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD " H1 " x\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 "\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 99999999999999999999 1 1 1 " H256 " " H1 " x\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 -1 1 1 1 " H256 " " H1 " x\n",
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " x", /* unterminated */
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1
	    " x\nroot /b\n",						      /* root after files */
	    "sipsvc-shares 1\nroot /a\nroot /b\nroot /c\nroot /d\nroot /e\n", /* > 4 roots */
	    "sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " a\nfile 0 1 1 1 1 " H256
	    " " H1 " b\nfile 0 1 1 1 1 " H256 " " H1 " c\nfile 0 1 1 1 1 " H256 " " H1
	    " d\n", /* > 3 files */
	    "sipsvc-shares 1\nunknown\n",
	};
	struct store_data d;
	char err[128];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(parse(bad[i], &d, err) == -EINVAL, "accepted bad file %zu", i);
		share_store_data_done(&d);
	}
	/* The roots before the bad line are kept, so they can be re-indexed. */
	ck_assert_int_eq(parse("sipsvc-shares 1\nroot /a\nroot /b\nfile 0 x\n", &d, err), -EINVAL);
	ck_assert_uint_eq(d.n_roots, 2);
	ck_assert_str_eq(err, "4: unknown record");
	share_store_data_done(&d);
	ck_assert_int_eq(
	    parse("sipsvc-shares 1\nroot /a\nfile 0 1 1 1 1 " H256 " " H1 " .\n", &d, err), 0);
	share_store_data_done(&d);
}
END_TEST

/* Serialising in steps gives the one-go text; a removed cursor asks to begin again. */
START_TEST(format_in_steps)
{
	struct share_index idx;
	struct share_root *r1 = mem_zalloc(sizeof(*r1), NULL), *r2 = mem_zalloc(sizeof(*r2), NULL);
	struct share_root *roots[] = {r1, r2};
	struct store_fmt f;
	char *whole;
	size_t len;
	int r, steps = 0;

	*r1 = (struct share_root){.path = "/a", .real = "/a", .is_dir = true};
	*r2 = (struct share_root){.path = "/b", .real = "/b", .is_dir = true};
	ck_assert_int_eq(share_index_init(&idx, 100), 0);
	for (int i = 0; i < 10; i++) {
		uint8_t h[SHARE_SHA256_LEN] = {(uint8_t)i}, h1[SHARE_SHA1_LEN] = {0};
		struct share_stat st = {.size = (uint64_t)i};
		struct share_entry *e;
		char p[32];

		snprintf(p, sizeof(p), "%s/f%d", i < 6 ? "/a" : "/b", i);
		ck_assert_int_eq(share_index_add(&idx, i < 6 ? r1 : r2, p, &st, &e), 0);
		if (i != 3)
			share_index_set_hash(&idx, e, h, h1);
	}
	ck_assert_int_eq(share_store_format(roots, 2, &whole, &len), 0);
	ck_assert_int_eq(share_store_format_begin(&f, roots, 2), 0);
	while ((r = share_store_format_step(&f, 3)) == 1)
		steps++;
	ck_assert_int_eq(r, 0);
	ck_assert_int_ge(steps, 3);
	ck_assert_uint_eq(f.b.len, len);
	ck_assert(memcmp(f.b.p, whole, len) == 0);
	share_store_format_done(&f);
	/* The entry to continue from goes away between steps. */
	ck_assert_int_eq(share_store_format_begin(&f, roots, 2), 0);
	ck_assert_int_eq(share_store_format_step(&f, 2), 1);
	share_index_remove(&idx, f.cursor);
	ck_assert_int_eq(share_store_format_step(&f, 2), -ESTALE);
	share_store_format_done(&f);
	free(whole);
	while (r1->first)
		share_index_remove(&idx, r1->first);
	while (r2->first)
		share_index_remove(&idx, r2->first);
	share_index_done(&idx);
	mem_deref(r1);
	mem_deref(r2);
}
END_TEST

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.' || (de->d_name[1] && de->d_name[1] != '.');
	closedir(d);
	return n;
}

START_TEST(atomic_replace)
{
	char *dir = su_tmpdir(), *buf;
	size_t len;

	ck_assert_int_eq(paths_write_atomic(dir, "x.idx", "one\n", 4), 0);
	ck_assert_int_eq(paths_write_atomic(dir, "x.idx", "two!\n", 5), 0);
	ck_assert_int_eq(share_store_read(dir, "x.idx", 100, &buf, &len), 0);
	ck_assert_str_eq(buf, "two!\n");
	free(buf);
	ck_assert_uint_eq(count_files(dir), 1); /* no temporary file left behind */
	ck_assert_int_eq(share_store_read(dir, "x.idx", 3, &buf, &len), -EFBIG);
	ck_assert_int_eq(share_store_read(dir, "none", 100, &buf, &len), -ENOENT);
	ck_assert_int_eq(paths_write_atomic("/nonexistent-dir", "x", "a", 1), -ENOENT);
	su_rmtree(dir);
	free(dir);
}
END_TEST

/* ---- across restarts ------------------------------------------------------------- */

static struct share_root *share_dir(struct su_env *env, const char *dir)
{
	struct share_root *r;

	ck_assert_int_eq(share_add(env->s, dir, &r), 0);
	su_settle(env);
	return r;
}

START_TEST(restart_rehashes_nothing_unchanged)
{
	char *tmp = su_tmpdir(), *data = su_path(tmp, "data"), *state = su_path(tmp, "state");
	char *changed = su_path(data, "b.txt");
	struct su_env env = {0};
	struct share_stats st;

	su_write(data, "a.txt", "aaa");
	su_write(data, "b.txt", "bbb");
	su_write(data, "sub/c.txt", "ccc");
	su_start(&env, state, 0);
	share_dir(&env, data);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.hash_runs, 3);
	ck_assert_uint_eq(st.hashed_files, 3);
	su_stop_share(&env);

	su_start(&env, state, 0);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.loaded, 3);
	su_settle(&env);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.hash_runs, 0);
	ck_assert_uint_eq(st.hashed_files, 3);
	ck_assert_uint_eq(share_root_count(env.s), 1);
	su_stop_share(&env);

	/* Changed while we were down: exactly that file is hashed again. */
	su_write(data, "b.txt", "bbbb");
	su_start(&env, state, 0);
	su_settle(&env);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.hash_runs, 1);
	ck_assert_uint_eq(share_entry_size(su_entry(&env, changed)), 4);
	su_done(&env);
	su_rmtree(tmp);
	free(changed);
	free(data);
	free(state);
	free(tmp);
}
END_TEST

START_TEST(corrupt_index_refused_and_rebuilt)
{
	char *tmp = su_tmpdir(), *data = su_path(tmp, "data"), *state = su_path(tmp, "state");
	char *text, *buf;
	struct su_env env = {0};
	struct share_stats st;
	size_t len;

	su_write(data, "a.txt", "aaa");
	su_write(data, "b.txt", "bbb");
	ck_assert_int_ge(asprintf(&text, "sipsvc-shares 1\nroot %s\nfile 0 zz\n", data), 0);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	ck_assert_int_eq(paths_write_atomic(state, SHARE_INDEX_FILE, text, strlen(text)), 0);
	su_start(&env, state, 0);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.loaded, 0);
	ck_assert_uint_eq(st.roots, 1); /* the root before the bad line survives */
	su_settle(&env);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.hash_runs, 2);
	ck_assert_uint_eq(st.hashed_files, 2);
	/* ... and the file was rewritten, valid. */
	ck_assert_int_eq(share_store_read(state, SHARE_INDEX_FILE, 1 << 20, &buf, &len), 0);
	ck_assert_ptr_null(strstr(buf, "zz"));
	ck_assert_ptr_nonnull(strstr(buf, " a.txt\n"));
	free(buf);
	su_done(&env);
	su_rmtree(tmp);
	free(text);
	free(data);
	free(state);
	free(tmp);
}
END_TEST

/* The limits: roots, files (a clear log line, the rest of the files left out), the
 * state dir never shared, overlapping shares refused. */
START_TEST(subsystem_limits)
{
	char *tmp = su_tmpdir(), *data = su_path(tmp, "data"), *state = su_path(tmp, "state");
	char *sub = su_path(data, "sub"), *rel = su_path(tmp, "data/../data");
	struct su_env env = {0};
	struct share_root *r;
	struct share_stats st;

	for (int i = 0; i < 10; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		su_write(data, name, name);
	}
	su_write(data, "sub/x", "x");
	ck_assert_int_eq(mkdir(state, 0700), 0);
	su_start(&env, state, 5);
	ck_assert_int_eq(share_add(env.s, "relative", &r), -EINVAL);
	ck_assert_int_eq(share_add(env.s, state, &r), -EPERM);
	ck_assert_int_eq(share_add(env.s, "/nonexistent/x", &r), -ENOENT);
	ck_assert_int_eq(share_add(env.s, "/dev/null", &r), -EBADFD);
	ck_assert_int_eq(share_add(env.s, "/proc", &r), -EBADFD);
	ck_assert_int_eq(share_add(env.s, "/proc/self/status", &r), -EBADFD);
	share_dir(&env, data);
	ck_assert_int_eq(share_add(env.s, rel, &r), -EEXIST);
	ck_assert_int_eq(share_add(env.s, sub, &r), -EBUSY);
	ck_assert_int_eq(share_add(env.s, tmp, &r), -EBUSY);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.files, 5);
	ck_assert_int_eq(share_remove(env.s, sub), -ENOENT);
	ck_assert_int_eq(share_remove(env.s, rel), 0); /* by where it resolves to */
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.files, 0);
	ck_assert_uint_eq(st.roots, 0);
	su_done(&env);
	su_rmtree(tmp);
	free(sub);
	free(rel);
	free(data);
	free(state);
	free(tmp);
}
END_TEST

START_TEST(root_limit)
{
	char *tmp = su_tmpdir(), *a = su_path(tmp, "a"), *b = su_path(tmp, "b");
	struct su_env env = {.loop = ev_loop_new(0)};
	struct share_config cfg = {.max_roots = 1};

	su_write(tmp, "a/x", "x");
	su_write(tmp, "b/y", "y");
	ck_assert_int_eq(worker_pool_new(env.loop, 1, 8, &env.pool), 0);
	ck_assert_int_eq(share_new(env.loop, env.pool, &cfg, &env.s), 0);
	ck_assert_int_eq(share_add(env.s, a, NULL), 0);
	ck_assert_int_eq(share_add(env.s, b, NULL), -ENOSPC);
	ck_assert_int_eq(share_remove(env.s, a), 0);
	ck_assert_int_eq(share_add(env.s, b, NULL), 0);
	su_settle(&env);
	ck_assert_uint_eq(share_root_count(env.s), 1);
	su_done(&env);
	su_rmtree(tmp);
	free(a);
	free(b);
	free(tmp);
}
END_TEST

/* A large share is emptied in slices after Unshare; its files are not found from the
 * moment it is withdrawn, and sharing it again at once works. */
START_TEST(withdraw_large_share)
{
	char *tmp = su_tmpdir(), *data = su_path(tmp, "data"), *one = su_path(data, "d7/f77");
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];
	const struct share_entry *out[2];
	struct su_env env = {0};
	struct share_stats st;

	su_write(data, "d0/f0", "file 0");
	for (int i = 1; i < 10; i++) {
		char *d;

		ck_assert_int_ge(asprintf(&d, "%s/d%d", data, i), 0);
		ck_assert_int_eq(mkdir(d, 0700), 0);
		free(d);
	}
	for (int i = 1; i < 3000; i++) { /* no shell per file: quick under valgrind too */
		char *p;
		FILE *f;

		ck_assert_int_ge(asprintf(&p, "%s/d%d/f%d", data, i % 10, i), 0);
		f = fopen(p, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "file %d", i);
		ck_assert_int_eq(fclose(f), 0);
		free(p);
	}
	ck_assert_int_eq(share_hash_file(one, h256, h1, NULL), 0);
	su_start(&env, NULL, 0);
	share_dir(&env, data);
	ck_assert_ptr_nonnull(share_find(env.s, h256));
	ck_assert_int_eq(share_remove(env.s, data), 0);
	share_get_stats(env.s, &st);
	ck_assert_uint_gt(st.files, 0); /* not all removed in one go */
	ck_assert_uint_eq(st.roots, 0);
	ck_assert_ptr_null(share_find(env.s, h256));
	ck_assert_uint_eq(share_search(env.s, "f77", out, 2), 0);
	/* Shared again before the old entries are gone (the reaper held back): the new
	 * walk takes their paths over. */
	ev_idle_stop(env.loop, &env.s->reap_idle);
	ck_assert_int_eq(share_add(env.s, data, NULL), 0);
	for (int i = 0; i < 2000; i++) {
		struct share_root_info info;

		share_root_get_info(share_root_get(env.s, 0), &info);
		if (info.files == 3000 && info.hashed_files == 3000 && !info.indexing)
			break;
		su_spin(&env, 0.01);
	}
	ck_assert_ptr_nonnull(env.s->dying);
	ev_idle_start(env.loop, &env.s->reap_idle);
	su_settle(&env);
	ck_assert_ptr_null(env.s->dying);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.files, 3000);
	ck_assert_uint_eq(st.hashed_files, 3000);
	ck_assert_ptr_nonnull(share_find(env.s, h256));
	ck_assert_uint_eq(share_search(env.s, "f77", out, 2), 1);
	ck_assert_int_eq(share_remove(env.s, data), 0);
	su_settle(&env);
	share_get_stats(env.s, &st);
	ck_assert_uint_eq(st.files, 0);
	su_done(&env);
	su_rmtree(tmp);
	free(one);
	free(data);
	free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("share-store");
	TCase *tc = tcase_create("store");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, hostile_files_refused);
	tcase_add_test(tc, format_in_steps);
	tcase_add_test(tc, atomic_replace);
	tcase_add_test(tc, restart_rehashes_nothing_unchanged);
	tcase_add_test(tc, corrupt_index_refused_and_rebuilt);
	tcase_add_test(tc, subsystem_limits);
	tcase_add_test(tc, root_limit);
	tcase_add_test(tc, withdraw_large_share);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
