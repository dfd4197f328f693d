/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The share index: keyword folding, lookups by path, content hash and keywords, the
 * bounds, and that removal leaves nothing behind. */
#include "config.h"

#include "share-util.h"

static struct share_root *root_new(const char *real)
{
	struct share_root *r = mem_zalloc(sizeof(*r), NULL);

	r->real = (char *)real;
	r->path = (char *)real;
	r->is_dir = true;
	return r;
}

static struct share_entry *add(struct share_index *idx, struct share_root *r, const char *path,
			       uint8_t tag)
{
	struct share_stat st = {.size = tag, .mtime_ns = 1, .ino = tag, .dev = 1};
	uint8_t h256[SHARE_SHA256_LEN] = {tag, 0x55}, h1[SHARE_SHA1_LEN] = {tag};
	struct share_entry *e;

	ck_assert_int_eq(share_index_add(idx, r, path, &st, &e), 0);
	share_index_set_hash(idx, e, h256, h1);
	return e;
}

START_TEST(fold_case_and_accents)
{
	char out[256];

	share_fold("BEYONCÉ - Déjà Vu.MP3", out, sizeof(out));
	ck_assert_str_eq(out, "beyonce   deja vu mp3");
	share_fold("Straße Œuvre Ærø Łódź Čšž ĳ þorn", out, sizeof(out));
	ck_assert_str_eq(out, "strasse oeuvre aero lodz csz ij thorn");
	share_fold("ÀÁÂÃÄÅ àáâãäå ÇçÑñ ÿŸ", out, sizeof(out));
	ck_assert_str_eq(out, "aaaaaa aaaaaa ccnn yy");
	/* Other scripts pass through; × and ÷ separate words. */
	share_fold("日本×語÷x", out, sizeof(out));
	ck_assert_str_eq(out, "日本 語 x");
	/* Truncation keeps the string terminated. */
	ck_assert_uint_eq(share_fold("ÆÆÆÆ", out, 4), 3);
	ck_assert_str_eq(out, "aea");
}
END_TEST

START_TEST(words_split_and_dedup)
{
	char s[] = "  the  cat the dog  ";
	const char *w[8];

	ck_assert_uint_eq(share_words(s, w, 8), 3);
	ck_assert_str_eq(w[0], "the");
	ck_assert_str_eq(w[1], "cat");
	ck_assert_str_eq(w[2], "dog");
}
END_TEST

START_TEST(lookup_by_path_and_hash)
{
	struct share_index idx;
	struct share_root *r = root_new("/music");
	struct share_entry *a, *b;
	uint8_t h[SHARE_SHA256_LEN] = {2, 0x55};

	ck_assert_int_eq(share_index_init(&idx, 100), 0);
	a = add(&idx, r, "/music/a.mp3", 1);
	b = add(&idx, r, "/music/sub/b.mp3", 2);
	ck_assert_ptr_eq(share_index_by_path(&idx, "/music/a.mp3"), a);
	ck_assert_ptr_null(share_index_by_path(&idx, "/music/c.mp3"));
	ck_assert_ptr_eq(share_index_by_sha256(&idx, h), b);
	ck_assert_str_eq(b->name, "b.mp3");
	ck_assert_uint_eq(r->files, 2);
	ck_assert_uint_eq(r->bytes, 3);
	/* A changed file loses its hash until hashed again. */
	share_index_restat(&idx, b, &(struct share_stat){.size = 9});
	ck_assert_ptr_null(share_index_by_sha256(&idx, h));
	ck_assert_uint_eq(idx.hashed_files, 1);
	ck_assert_uint_eq(r->bytes, 10);
	ck_assert_int_eq(share_index_add(&idx, r, "/music/a.mp3", &a->st, NULL), -EEXIST);
	share_index_remove(&idx, a);
	share_index_remove(&idx, b);
	ck_assert_uint_eq(idx.files, 0);
	ck_assert_uint_eq(idx.by_word.count, 0);
	ck_assert_uint_eq(idx.by_path.count, 0);
	ck_assert_uint_eq(idx.by_sha.count, 0);
	ck_assert_ptr_null(r->first);
	share_index_done(&idx);
	mem_deref(r);
}
END_TEST

START_TEST(search_all_words_folded)
{
	struct share_index idx;
	struct share_root *r = root_new("/home/u/Music");
	const struct share_entry *out[8];
	struct share_entry *e1, *e2;

	ck_assert_int_eq(share_index_init(&idx, 100), 0);
	e1 = add(&idx, r, "/home/u/Music/Beyoncé/Déjà Vu.mp3", 1);
	e2 = add(&idx, r, "/home/u/Music/Beyoncé/Halo.flac", 2);
	add(&idx, r, "/home/u/Music/Other/deja-vu.ogg", 3);
	ck_assert_uint_eq(share_index_search(&idx, "BEYONCE deja", out, 8), 1);
	ck_assert_ptr_eq(out[0], e1);
	ck_assert_uint_eq(share_index_search(&idx, "beyoncé", out, 8), 2);
	ck_assert_uint_eq(share_index_search(&idx, "Déjà VU", out, 8), 2);
	ck_assert_uint_eq(share_index_search(&idx, "deja vu", out, 1), 1); /* at most N */
	ck_assert_uint_eq(share_index_search(&idx, "halo nothere", out, 8), 0);
	ck_assert_uint_eq(share_index_search(&idx, "", out, 8), 0);
	/* The root's own path is not a keyword: everything would match "music". */
	ck_assert_uint_eq(share_index_search(&idx, "music", out, 8), 0);
	/* Unhashed entries are not offered. */
	share_index_clear_hash(&idx, e2);
	ck_assert_uint_eq(share_index_search(&idx, "halo", out, 8), 0);
	while (r->first)
		share_index_remove(&idx, r->first);
	share_index_done(&idx);
	mem_deref(r);
}
END_TEST

START_TEST(bounds)
{
	struct share_index idx;
	struct share_root *r = root_new("/d");
	struct share_stat st = {0};
	char *longp = malloc(SHARE_MAX_PATH + 10);

	ck_assert_int_eq(share_index_init(&idx, 3), 0);
	for (int i = 0; i < 3; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/d/f%d", i);
		ck_assert_int_eq(share_index_add(&idx, r, p, &st, NULL), 0);
	}
	ck_assert_int_eq(share_index_add(&idx, r, "/d/f3", &st, NULL), -ENOSPC);
	share_index_remove(&idx, r->first);
	memset(longp, 'a', SHARE_MAX_PATH + 5);
	longp[0] = '/';
	longp[SHARE_MAX_PATH + 5] = '\0';
	ck_assert_int_eq(share_index_add(&idx, r, longp, &st, NULL), -ENAMETOOLONG);
	/* Many words: only the first SHARE_MAX_KEYWORDS are kept. */
	ck_assert_int_eq(share_index_add(&idx, r,
					 "/d/a b c d e f g h i j k l m n o p q r s t u v "
					 "w x y z 1 2 3 4 5 6 7 8 9",
					 &st, NULL),
			 0);
	ck_assert_uint_eq(r->last->n_posts, SHARE_MAX_KEYWORDS);
	while (r->first)
		share_index_remove(&idx, r->first);
	free(longp);
	share_index_done(&idx);
	mem_deref(r);
}
END_TEST

/* The tables grow; 20,000 entries are all found again by hash and by path. */
START_TEST(many_entries)
{
	struct share_index idx;
	struct share_root *r = root_new("/d");
	const struct share_entry *out[4];

	ck_assert_int_eq(share_index_init(&idx, 20000), 0);
	for (unsigned i = 0; i < 20000; i++) {
		struct share_stat st = {.size = i};
		uint8_t h[SHARE_SHA256_LEN] = {0}, h1[SHARE_SHA1_LEN] = {0};
		struct share_entry *e;
		char p[64];

		snprintf(p, sizeof(p), "/d/dir%u/file %u.bin", i % 100, i);
		memcpy(h, &i, sizeof(i));
		ck_assert_int_eq(share_index_add(&idx, r, p, &st, &e), 0);
		share_index_set_hash(&idx, e, h, h1);
	}
	ck_assert_uint_ge(idx.by_path.n_b, 16384);
	for (unsigned i = 0; i < 20000; i += 7) {
		uint8_t h[SHARE_SHA256_LEN] = {0};
		const struct share_entry *e;

		memcpy(h, &i, sizeof(i));
		e = share_index_by_sha256(&idx, h);
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e->st.size, i);
	}
	ck_assert_uint_eq(share_index_search(&idx, "file 12345", out, 4), 1);
	ck_assert_uint_eq(share_index_search(&idx, "dir7 bin", out, 4), 4);
	while (r->first)
		share_index_remove(&idx, r->first);
	ck_assert_uint_eq(idx.by_word.count, 0);
	share_index_done(&idx);
	mem_deref(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("share-index");
	TCase *tc = tcase_create("index");

	tcase_add_test(tc, fold_case_and_accents);
	tcase_add_test(tc, words_split_and_dedup);
	tcase_add_test(tc, lookup_by_path_and_hash);
	tcase_add_test(tc, search_all_words_folded);
	tcase_add_test(tc, bounds);
	tcase_add_test(tc, many_entries);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
