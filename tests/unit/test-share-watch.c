/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Change detection: inotify re-hashes a modified file, drops a deleted one, picks up
 * a new directory; share_verify() and share_entry_open() catch a change that inotify
 * has not reported yet; lookups by hash and keyword through the subsystem. */
#include "config.h"

#include "share-util.h"

struct fixture {
	char *tmp, *data;
	struct su_env env;
};

static struct fixture fx;

static void setup(void)
{
	fx.tmp = su_tmpdir();
	fx.data = su_path(fx.tmp, "data");
	su_write(fx.data, "song one.mp3", "one");
	su_write(fx.data, "Été/Chanson Deux.ogg", "two");
	su_start(&fx.env, NULL, 0); /* nothing persisted */
	ck_assert_int_eq(share_add(fx.env.s, fx.data, NULL), 0);
	su_settle(&fx.env);
}

static void teardown(void)
{
	su_done(&fx.env);
	su_rmtree(fx.tmp);
	free(fx.data);
	free(fx.tmp);
}

/* Spin until @p path has a hash of a file of @p size (or is gone, for size -1). */
static const struct share_entry *wait_for(const char *rel, long size)
{
	char *p = su_path(fx.data, rel);
	const struct share_entry *e = NULL;

	for (int i = 0; i < 500; i++) {
		e = su_entry(&fx.env, p);
		if (size < 0 ? !e
			     : e && share_entry_hashed(e) && share_entry_size(e) == (uint64_t)size)
			break;
		su_spin(&fx.env, 0.01);
	}
	free(p);
	if (size < 0)
		ck_assert_ptr_null(e);
	else
		ck_assert_msg(e && share_entry_hashed(e) && share_entry_size(e) == (uint64_t)size,
			      "%s not (re)hashed", rel);
	return e;
}

START_TEST(modified_file_rehashed)
{
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];
	char *p = su_path(fx.data, "song one.mp3");
	const struct share_entry *e;
	struct share_stats st;

	share_get_stats(fx.env.s, &st);
	ck_assert_uint_eq(st.hash_runs, 2);
	ck_assert_uint_ge(st.watches, 2);
	su_write(fx.data, "song one.mp3", "one, longer");
	e = wait_for("song one.mp3", 11);
	ck_assert_int_eq(share_hash_file(p, h256, h1, NULL), 0);
	ck_assert_mem_eq(share_entry_sha256(e), h256, SHARE_SHA256_LEN);
	ck_assert_ptr_eq(share_find(fx.env.s, h256), e);
	share_get_stats(fx.env.s, &st);
	ck_assert_uint_eq(st.hash_runs, 3);
	free(p);
}
END_TEST

START_TEST(deleted_file_gone)
{
	char *p = su_path(fx.data, "Été/Chanson Deux.ogg");
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];

	ck_assert_int_eq(share_hash_file(p, h256, h1, NULL), 0);
	ck_assert_ptr_nonnull(share_find(fx.env.s, h256));
	ck_assert_int_eq(unlink(p), 0);
	wait_for("Été/Chanson Deux.ogg", -1);
	ck_assert_ptr_null(share_find(fx.env.s, h256));
	free(p);
}
END_TEST

START_TEST(new_directory_picked_up)
{
	su_write(fx.data, "new/dir/file.txt", "new file");
	wait_for("new/dir/file.txt", 8);
	/* A file moved in from outside, and a hidden one that is not. */
	su_write(fx.tmp, "outside.txt", "moved");
	{
		char *from = su_path(fx.tmp, "outside.txt"), *to = su_path(fx.data, "moved.txt");

		ck_assert_int_eq(rename(from, to), 0);
		free(from);
		free(to);
	}
	su_write(fx.data, ".hidden.txt", "h");
	wait_for("moved.txt", 5);
	wait_for(".hidden.txt", -1);
}
END_TEST

START_TEST(verify_catches_unreported_change)
{
	char *p = su_path(fx.data, "song one.mp3");
	const struct share_entry *e = su_entry(&fx.env, p);
	int fd;

	ck_assert_int_eq(share_verify(fx.env.s, e), 0);
	fd = share_entry_open(fx.env.s, e);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* Changed behind our back, before the loop hears of it. */
	su_write(fx.data, "song one.mp3", "changed!");
	mem_ref((void *)e);
	ck_assert_int_eq(share_verify(fx.env.s, e), -ESTALE);
	ck_assert(!share_entry_hashed(e));
	ck_assert_int_eq(share_entry_open(fx.env.s, e), -ESTALE);
	mem_deref((void *)e);
	wait_for("song one.mp3", 8);
	ck_assert_int_eq(unlink(p), 0);
	e = su_entry(&fx.env, p);
	if (e) /* inotify may have dropped it already */
		ck_assert_int_eq(share_verify(fx.env.s, e), -ENOENT);
	free(p);
}
END_TEST

START_TEST(search_through_subsystem)
{
	const struct share_entry *out[4];
	char id[80];

	ck_assert_uint_eq(share_search(fx.env.s, "chanson ETE", out, 4), 1);
	ck_assert_str_eq(share_entry_name(out[0]), "Chanson Deux.ogg");
	share_entry_file_id(out[0], id, sizeof(id));
	ck_assert_uint_eq(strlen(id), 7 + 64);
	ck_assert(strncmp(id, "sha256:", 7) == 0);
	ck_assert_uint_eq(share_search(fx.env.s, "song", out, 4), 1);
	ck_assert_int_eq(share_remove(fx.env.s, fx.data), 0);
	ck_assert_uint_eq(share_search(fx.env.s, "song", out, 4), 0);
	ck_assert_int_eq(share_remove(fx.env.s, fx.data), -ENOENT);
}
END_TEST

/* A shared file (not a directory) is watched too: rewritten in place or replaced by
 * rename, it is hashed again. */
START_TEST(file_root_watched)
{
	char *file = su_path(fx.tmp, "single.txt"), *tmp = su_path(fx.tmp, "single.new");
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];
	const struct share_entry *e = NULL;

	su_write(fx.tmp, "single.txt", "first");
	ck_assert_int_eq(share_add(fx.env.s, file, NULL), 0);
	su_settle(&fx.env);
	su_write(fx.tmp, "single.txt", "second!");
	for (int i = 0; i < 500 && !(e && share_entry_hashed(e) && share_entry_size(e) == 7); i++) {
		su_spin(&fx.env, 0.01);
		e = su_entry(&fx.env, file);
	}
	ck_assert_int_eq(share_hash_file(file, h256, h1, NULL), 0);
	ck_assert_ptr_eq(share_find(fx.env.s, h256), e);
	su_write(fx.tmp, "single.new", "third, by rename");
	ck_assert_int_eq(rename(tmp, file), 0);
	ck_assert_int_eq(share_hash_file(file, h256, h1, NULL), 0);
	for (int i = 0; i < 500 && !share_find(fx.env.s, h256); i++)
		su_spin(&fx.env, 0.01);
	ck_assert_ptr_nonnull(share_find(fx.env.s, h256));
	free(file);
	free(tmp);
}
END_TEST

/* A file larger than one hash job's chunk is hashed over several jobs. */
START_TEST(large_file_in_chunks)
{
	char *p = su_path(fx.data, "large.bin");
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];
	const struct share_entry *e;
	struct share_stats st;
	FILE *f = fopen(p, "w");

	ck_assert_ptr_nonnull(f);
	for (unsigned i = 0; i < SHARE_HASH_CHUNK / 4096 * 2 + 3; i++) {
		char block[4096];

		memset(block, (int)(i * 13), sizeof(block));
		ck_assert_uint_eq(fwrite(block, 1, sizeof(block), f), sizeof(block));
	}
	ck_assert_int_eq(fclose(f), 0);
	e = wait_for("large.bin", (long)SHARE_HASH_CHUNK * 2 + 3 * 4096);
	ck_assert_int_eq(share_hash_file(p, h256, h1, NULL), 0);
	ck_assert_mem_eq(share_entry_sha256(e), h256, SHARE_SHA256_LEN);
	ck_assert_mem_eq(share_entry_sha1(e), h1, SHARE_SHA1_LEN);
	share_get_stats(fx.env.s, &st);
	ck_assert_uint_ge(st.hash_bytes, (uint64_t)SHARE_HASH_CHUNK * 2);
	free(p);
}
END_TEST

/* Rewritten with the same size within one tick of the mtime clock: size, mtime and
 * inode may all be unchanged, yet the new content is what gets hashed. */
START_TEST(same_size_rewrite_rehashed)
{
	char *p = su_path(fx.data, "song one.mp3");
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];
	struct timespec keep[2];
	struct stat sb;

	ck_assert_int_eq(stat(p, &sb), 0);
	keep[0] = sb.st_atim;
	keep[1] = sb.st_mtim;
	su_write(fx.data, "song one.mp3", "ONE");
	ck_assert_int_eq(utimensat(AT_FDCWD, p, keep, 0), 0); /* as if in the same tick */
	ck_assert_int_eq(share_hash_file(p, h256, h1, NULL), 0);
	for (int i = 0; i < 500 && !share_find(fx.env.s, h256); i++)
		su_spin(&fx.env, 0.01);
	ck_assert_ptr_nonnull(share_find(fx.env.s, h256));
	free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("share-watch");
	TCase *tc = tcase_create("watch");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, modified_file_rehashed);
	tcase_add_test(tc, deleted_file_gone);
	tcase_add_test(tc, new_directory_picked_up);
	tcase_add_test(tc, verify_catches_unreported_change);
	tcase_add_test(tc, search_through_subsystem);
	tcase_add_test(tc, file_root_watched);
	tcase_add_test(tc, large_file_in_chunks);
	tcase_add_test(tc, same_size_rewrite_rehashed);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
