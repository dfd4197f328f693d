/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The directory walker: symlinks never followed (not even inside the root), hidden
 * names, special files and skip directories left out, the file limit and the depth
 * limit enforced. And the hasher: known digests, chunked = whole. */
#include "config.h"

#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "share-util.h"

static bool has(const struct walk_result *r, const char *rel, bool is_dir)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->items[i].rel, rel) == 0 && r->items[i].is_dir == is_dir)
			return true;
	return false;
}

static char *dir;

static void setup(void)
{
	char *p;

	dir = su_tmpdir();
	su_write(dir, "root/a.txt", "a");
	su_write(dir, "root/sub/b.txt", "bb");
	su_write(dir, "root/sub/deeper/c.txt", "ccc");
	su_write(dir, "root/.hidden", "h");
	su_write(dir, "root/.hiddendir/x.txt", "x");
	su_write(dir, "outside/secret.txt", "s");
	p = su_path(dir, "root/link-out");
	ck_assert_int_eq(symlink("../outside", p), 0);
	free(p);
	p = su_path(dir, "root/link-file");
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	free(p);
	p = su_path(dir, "root/link-in");
	ck_assert_int_eq(symlink("sub", p), 0);
	free(p);
	p = su_path(dir, "root/fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	free(p);
}

static void teardown(void)
{
	su_rmtree(dir);
	free(dir);
}

START_TEST(files_dirs_and_what_is_skipped)
{
	char *root = su_path(dir, "root");
	struct walk_params p = {.root = root, .max_files = 100, .max_depth = 64};
	struct walk_result r;

	ck_assert_int_eq(share_walk(&p, &r), 0);
	ck_assert_uint_eq(r.files, 3);
	ck_assert(has(&r, "", true));
	ck_assert(has(&r, "a.txt", false));
	ck_assert(has(&r, "sub", true));
	ck_assert(has(&r, "sub/b.txt", false));
	ck_assert(has(&r, "sub/deeper/c.txt", false));
	ck_assert(!has(&r, "link-out/secret.txt", false));
	ck_assert(!has(&r, "link-in/b.txt", false));
	ck_assert(!has(&r, "link-file", false));
	ck_assert(!has(&r, ".hidden", false));
	ck_assert(!has(&r, ".hiddendir/x.txt", false));
	ck_assert(!has(&r, "fifo", false));
	ck_assert_uint_eq(r.symlinks, 3);
	ck_assert_uint_eq(r.hidden, 2);
	ck_assert_uint_eq(r.special, 1);
	ck_assert(!r.truncated);
	share_walk_result_done(&r);
	free(root);
}
END_TEST

START_TEST(file_limit)
{
	char *root = su_path(dir, "root");
	struct walk_params p = {.root = root, .max_files = 2, .max_depth = 64};
	struct walk_result r;

	ck_assert_int_eq(share_walk(&p, &r), 0);
	ck_assert_uint_eq(r.files, 2);
	ck_assert(r.truncated);
	share_walk_result_done(&r);
	free(root);
}
END_TEST

START_TEST(depth_limit_and_skip_dir)
{
	char *root = su_path(dir, "root"), *sub = su_path(dir, "root/sub");
	struct walk_params p = {.root = root, .max_files = 100, .max_depth = 1};
	struct walk_result r;
	struct stat sb;

	ck_assert_int_eq(share_walk(&p, &r), 0);
	ck_assert(has(&r, "sub/b.txt", false));
	ck_assert(!has(&r, "sub/deeper/c.txt", false));
	ck_assert_uint_eq(r.too_deep, 1);
	share_walk_result_done(&r);
	/* A skip dir (the daemon's state dir) is never entered. */
	ck_assert_int_eq(stat(sub, &sb), 0);
	p.max_depth = 64;
	p.skip[0].ino = sb.st_ino;
	p.skip[0].dev = sb.st_dev;
	p.n_skip = 1;
	ck_assert_int_eq(share_walk(&p, &r), 0);
	ck_assert_uint_eq(r.files, 1);
	ck_assert(has(&r, "a.txt", false));
	share_walk_result_done(&r);
	free(root);
	free(sub);
}
END_TEST

START_TEST(root_is_file_or_missing_or_link)
{
	char *file = su_path(dir, "root/a.txt"), *missing = su_path(dir, "nope");
	char *link = su_path(dir, "root/link-out");
	struct walk_params p = {.root = file, .max_files = 100, .max_depth = 64};
	struct walk_result r;

	ck_assert_int_eq(share_walk(&p, &r), 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert(has(&r, "", false));
	ck_assert_uint_eq(r.items[0].st.size, 1);
	share_walk_result_done(&r);
	p.root = missing;
	ck_assert_int_eq(share_walk(&p, &r), -ENOENT);
	ck_assert_int_eq(r.error, -ENOENT);
	share_walk_result_done(&r);
	p.root = "/proc"; /* kernel interfaces are not files */
	ck_assert_int_eq(share_walk(&p, &r), -EBADFD);
	share_walk_result_done(&r);
	p.root = link; /* a root that became a symlink is not followed either */
	ck_assert_int_eq(share_walk(&p, &r), -ELOOP);
	share_walk_result_done(&r);
	free(file);
	free(missing);
	free(link);
}
END_TEST

START_TEST(hash_known_digests)
{
	char *p = su_path(dir, "abc");
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];
	char hex[65];

	su_write(dir, "abc", "abc");
	ck_assert_int_eq(share_hash_file(p, h256, h1, NULL), 0);
	share_hex(h256, SHARE_SHA256_LEN, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	share_hex(h1, SHARE_SHA1_LEN, hex);
	ck_assert_str_eq(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	free(p);
}
END_TEST

/* 3 MiB + 5 bytes hashed one 1 MiB step at a time gives the one-go digest. */
START_TEST(hash_in_chunks)
{
	char *p = su_path(dir, "big");
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];
	struct hash_job j;
	int steps = 0;
	FILE *f = fopen(p, "w");

	for (int i = 0; i < (3 << 20) + 5; i++)
		fputc(i * 7 & 0xff, f);
	fclose(f);
	ck_assert_int_eq(share_hash_file(p, h256, h1, NULL), 0);
	ck_assert_int_eq(share_hash_init(&j, p), 0);
	while (!j.finished) {
		share_hash_step(&j, 1 << 20);
		steps++;
	}
	ck_assert_int_eq(j.result, 0);
	ck_assert_int_eq(steps, 4);
	ck_assert_mem_eq(j.sha256, h256, SHARE_SHA256_LEN);
	ck_assert_mem_eq(j.sha1, h1, SHARE_SHA1_LEN);
	ck_assert_uint_eq(j.st.size, (3 << 20) + 5);
	share_hash_done(&j);
	free(p);
}
END_TEST

START_TEST(hash_refuses_links_and_fifos)
{
	char *link = su_path(dir, "root/link-file"), *fifo = su_path(dir, "root/fifo");
	uint8_t h256[SHARE_SHA256_LEN], h1[SHARE_SHA1_LEN];

	ck_assert_int_eq(share_hash_file(link, h256, h1, NULL), -ELOOP);
	ck_assert_int_eq(share_hash_file(fifo, h256, h1, NULL), -EBADFD);
	free(link);
	free(fifo);
}
END_TEST

/* Paths of SHARE_MAX_PATH bytes or more are left out (and counted), not truncated. */
START_TEST(path_length_limit)
{
	char *root = su_path(dir, "root"), name[251];
	struct walk_params p = {.root = root, .max_files = 100, .max_depth = 64};
	struct walk_result r;
	int fd = open(root, O_RDONLY | O_DIRECTORY);

	memset(name, 'n', 250);
	name[250] = '\0';
	for (int i = 0; i < 17; i++) { /* 17 × 251 bytes: past 4096 below the root */
		int next;

		ck_assert_int_eq(mkdirat(fd, name, 0700), 0);
		next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
	}
	close(openat(fd, "deep.txt", O_WRONLY | O_CREAT, 0600));
	close(fd);
	ck_assert_int_eq(share_walk(&p, &r), 0);
	ck_assert_uint_eq(r.too_long, 1);
	for (size_t i = 0; i < r.n; i++)
		ck_assert_uint_lt(strlen(root) + 1 + strlen(r.items[i].rel), SHARE_MAX_PATH);
	ck_assert_uint_eq(r.files, 3);
	share_walk_result_done(&r);
	free(root);
}
END_TEST

/* The walker watches each directory before reading it: a file written there right
 * after the walk is reported, even before the loop has registered the watch. */
START_TEST(walk_adds_watches)
{
	char *root = su_path(dir, "root");
	struct walk_params p = {.root = root, .max_files = 100, .max_depth = 64, .watch = true};
	struct walk_result r;
	char buf[4096];
	ssize_t n;

	p.watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ck_assert_int_ge(p.watch_fd, 0);
	ck_assert_int_eq(share_walk(&p, &r), 0);
	share_walk_result_done(&r);
	su_write(dir, "root/sub/deeper/new.txt", "new");
	n = read(p.watch_fd, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_ptr_nonnull(memmem(buf, (size_t)n, "new.txt", 7));
	close(p.watch_fd);
	free(root);
}
END_TEST

static void no_event(struct share_root *root, const char *d, const char *name, uint32_t mask,
		     void *arg)
{
}

/* inotify watches are bounded; past the bound, adding one fails (and is logged once). */
START_TEST(watch_limit)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct share_root *r = mem_zalloc(sizeof(*r), NULL);
	char *root = su_path(dir, "root"), *sub = su_path(dir, "root/sub");
	struct share_watch w;

	r->is_dir = true;
	ck_assert_int_eq(share_watch_init(&w, loop, 1, no_event, NULL), 0);
	ck_assert_int_eq(share_watch_add(&w, r, root), 0);
	ck_assert_int_eq(share_watch_add(&w, r, root), 0); /* the same one again: refreshed */
	ck_assert_int_eq(share_watch_add(&w, r, sub), -ENOSPC);
	ck_assert_uint_eq(w.n, 1);
	share_watch_forget_root(&w, r);
	ck_assert_uint_eq(w.n, 0);
	ck_assert_int_eq(share_watch_add(&w, r, sub), 0);
	share_watch_done(&w);
	mem_deref(r);
	ev_loop_destroy(loop);
	free(root);
	free(sub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("share-walk");
	TCase *tc = tcase_create("walk");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, files_dirs_and_what_is_skipped);
	tcase_add_test(tc, file_limit);
	tcase_add_test(tc, depth_limit_and_skip_dir);
	tcase_add_test(tc, root_is_file_or_missing_or_link);
	tcase_add_test(tc, path_length_limit);
	tcase_add_test(tc, watch_limit);
	tcase_add_test(tc, walk_adds_watches);
	tcase_add_test(tc, hash_known_digests);
	tcase_add_test(tc, hash_in_chunks);
	tcase_add_test(tc, hash_refuses_links_and_fifos);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
