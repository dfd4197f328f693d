/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The in-memory index: entries reachable by path, by SHA-256 and by keyword, each
 * through a hash table, and by root through a list. A keyword keeps a list of
 * postings (one per entry that has it) so that removing an entry costs O(its
 * keywords), and a search walks only the postings of its rarest word: O(matches).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "share/share-private.h"

struct keyword {
	struct hnode node;
	struct posting *head;
	size_t count;
	char word[];
};

bool share_stat_equal(const struct share_stat *a, const struct share_stat *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ino == b->ino &&
	       a->dev == b->dev;
}

void share_stat_from(const struct stat *sb, struct share_stat *ret)
{
	*ret = (struct share_stat){
	    .size = (uint64_t)sb->st_size,
	    .mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec,
	    .ino = sb->st_ino,
	    .dev = sb->st_dev,
	};
}

int share_index_init(struct share_index *idx, size_t max_files)
{
	*idx = (struct share_index){.max_files = max_files};
	if (htab_init(&idx->by_path, 1024) < 0 || htab_init(&idx->by_sha, 1024) < 0 ||
	    htab_init(&idx->by_word, 1024) < 0) {
		share_index_done(idx);
		return -ENOMEM;
	}
	return 0;
}

/* ---- keywords ---------------------------------------------------------------------- */

static struct keyword *word_find(const struct share_index *idx, const char *w, uint64_t h)
{
	for (struct hnode *n = idx->by_word.b ? htab_bucket(&idx->by_word, h) : NULL; n;
	     n = n->next) {
		struct keyword *k = (struct keyword *)n;

		if (n->hash == h && strcmp(k->word, w) == 0)
			return k;
	}
	return NULL;
}

static int post(struct share_index *idx, struct posting *p, struct share_entry *e, const char *w)
{
	uint64_t h = htab_hash(w, strlen(w));
	struct keyword *k = word_find(idx, w, h);

	if (!k) {
		k = calloc(1, sizeof(*k) + strlen(w) + 1);
		if (!k)
			return -ENOMEM;
		strcpy(k->word, w);
		htab_insert(&idx->by_word, &k->node, h);
	}
	*p = (struct posting){.next = k->head, .e = e, .kw = k};
	if (k->head)
		k->head->prev = p;
	k->head = p;
	k->count++;
	return 0;
}

static void unpost(struct share_index *idx, struct posting *p)
{
	struct keyword *k = p->kw;

	if (p->prev)
		p->prev->next = p->next;
	else /* every posting is made with its keyword (index_add) */
		k->head = p->next; // NOLINT(clang-analyzer-core.NullDereference)
	if (p->next)
		p->next->prev = p->prev;
	if (--k->count == 0) {
		htab_remove(&idx->by_word, &k->node);
		free(k);
	}
}

/* Keywords: the words of the path below the root (for a file root, its name). */
static int add_keywords(struct share_index *idx, struct share_entry *e)
{
	const char *rel = e->path + strlen(e->root->real);
	const char *words[SHARE_MAX_KEYWORDS];
	char folded[SHARE_MAX_PATH * 2];
	size_t n;

	if (!e->root->is_dir || *rel == '\0')
		rel = e->name;
	share_fold(rel, folded, sizeof(folded));
	n = share_words(folded, words, ARRAY_SIZE(words));
	e->posts = calloc(n ? n : 1, sizeof(*e->posts));
	if (!e->posts)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (post(idx, &e->posts[i], e, words[i]) < 0)
			return -ENOMEM;
		e->n_posts++;
	}
	return 0;
}

/* ---- entries ----------------------------------------------------------------------- */

static void entry_destroy(void *data)
{
	struct share_entry *e = data;

	free(e->posts);
	free(e->path);
	mem_deref(e->root);
}

static void root_link(struct share_root *r, struct share_entry *e)
{
	e->rprev = r->last;
	if (r->last)
		r->last->rnext = e;
	else
		r->first = e;
	r->last = e;
	r->files++;
	r->bytes += e->st.size;
}

static void root_unlink(struct share_root *r, struct share_entry *e)
{
	if (e->rprev)
		e->rprev->rnext = e->rnext;
	else
		r->first = e->rnext;
	if (e->rnext)
		e->rnext->rprev = e->rprev;
	else
		r->last = e->rprev;
	e->rprev = e->rnext = NULL;
	r->files--;
	r->bytes -= e->st.size;
}

struct share_entry *share_index_by_path(const struct share_index *idx, const char *path)
{
	uint64_t h = htab_hash(path, strlen(path));

	for (struct hnode *n = htab_bucket(&idx->by_path, h); n; n = n->next) {
		struct share_entry *e =
		    (struct share_entry *)((char *)n - offsetof(struct share_entry, by_path));

		if (n->hash == h && strcmp(e->path, path) == 0)
			return e;
	}
	return NULL;
}

int share_index_add(struct share_index *idx, struct share_root *root, const char *path,
		    const struct share_stat *st, struct share_entry **ret)
{
	struct share_entry *e;
	size_t len = strlen(path);

	if (len >= SHARE_MAX_PATH)
		return -ENAMETOOLONG;
	if (idx->files >= idx->max_files)
		return -ENOSPC;
	if (share_index_by_path(idx, path))
		return -EEXIST;
	e = mem_zalloc(sizeof(*e), entry_destroy);
	if (!e)
		return -ENOMEM;
	e->path = strdup(path);
	e->root = mem_ref(root);
	if (!e->path) {
		mem_deref(e);
		return -ENOMEM;
	}
	e->name = strrchr(e->path, '/') ? strrchr(e->path, '/') + 1 : e->path;
	e->st = *st;
	e->confirmed = true;
	if (add_keywords(idx, e) < 0) {
		for (size_t i = 0; i < e->n_posts; i++)
			unpost(idx, &e->posts[i]);
		mem_deref(e);
		return -ENOMEM;
	}
	htab_insert(&idx->by_path, &e->by_path, htab_hash(path, len));
	root_link(root, e);
	idx->files++;
	idx->bytes += st->size;
	if (ret)
		*ret = e;
	return 0;
}

void share_index_clear_hash(struct share_index *idx, struct share_entry *e)
{
	if (!e->hashed)
		return;
	htab_remove(&idx->by_sha, &e->by_sha);
	e->hashed = false;
	e->root->hashed_files--;
	idx->hashed_files--;
}

void share_index_remove(struct share_index *idx, struct share_entry *e)
{
	if (e->removed)
		return;
	share_index_clear_hash(idx, e);
	for (size_t i = 0; i < e->n_posts; i++)
		unpost(idx, &e->posts[i]);
	e->n_posts = 0;
	htab_remove(&idx->by_path, &e->by_path);
	root_unlink(e->root, e);
	idx->files--;
	idx->bytes -= e->st.size;
	e->removed = true;
	mem_deref(e);
}

void share_index_restat(struct share_index *idx, struct share_entry *e, const struct share_stat *st)
{
	share_index_clear_hash(idx, e);
	e->root->bytes += st->size - e->st.size;
	idx->bytes += st->size - e->st.size;
	e->st = *st;
	e->version++;
}

void share_index_set_hash(struct share_index *idx, struct share_entry *e,
			  const uint8_t sha256[SHARE_SHA256_LEN],
			  const uint8_t sha1[SHARE_SHA1_LEN])
{
	share_index_clear_hash(idx, e);
	memcpy(e->sha256, sha256, SHARE_SHA256_LEN);
	memcpy(e->sha1, sha1, SHARE_SHA1_LEN);
	/* SHA-256 is uniformly distributed already: its first bytes are the hash. */
	htab_insert(&idx->by_sha, &e->by_sha, htab_hash(sha256, 8));
	e->hashed = true;
	e->root->hashed_files++;
	idx->hashed_files++;
}

struct share_entry *share_index_by_sha256(const struct share_index *idx, const uint8_t *sha256)
{
	uint64_t h = htab_hash(sha256, 8);

	for (struct hnode *n = htab_bucket(&idx->by_sha, h); n; n = n->next) {
		struct share_entry *e =
		    (struct share_entry *)((char *)n - offsetof(struct share_entry, by_sha));

		if (n->hash == h && memcmp(e->sha256, sha256, SHARE_SHA256_LEN) == 0)
			return e;
	}
	return NULL;
}

/* ---- search ------------------------------------------------------------------------ */

static bool has_word(const struct share_entry *e, const struct keyword *k)
{
	for (size_t i = 0; i < e->n_posts; i++)
		if (e->posts[i].kw == k)
			return true;
	return false;
}

static bool has_all(const struct share_entry *e, struct keyword *const *kws, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!has_word(e, kws[i]))
			return false;
	return true;
}

size_t share_index_search(const struct share_index *idx, const char *query,
			  const struct share_entry **out, size_t max)
{
	const char *words[SHARE_MAX_QUERY_WORDS];
	struct keyword *kws[SHARE_MAX_QUERY_WORDS], *rarest = NULL;
	char folded[1024];
	size_t n, found = 0;

	share_fold(query, folded, sizeof(folded));
	n = share_words(folded, words, ARRAY_SIZE(words));
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		kws[i] = word_find(idx, words[i], htab_hash(words[i], strlen(words[i])));
		if (!kws[i])
			return 0; /* a word nobody has: no match, without walking anything */
		if (!rarest || kws[i]->count < rarest->count)
			rarest = kws[i];
	}
	for (struct posting *p = rarest->head; p && found < max; p = p->next)
		if (p->e->hashed && p->e->confirmed && !p->e->root->removed &&
		    has_all(p->e, kws, n))
			out[found++] = p->e;
	return found;
}

void share_index_done(struct share_index *idx)
{
	/* Entries are removed through their roots by the owner; what is left here are
	 * the tables themselves. */
	htab_done(&idx->by_path);
	htab_done(&idx->by_sha);
	htab_done(&idx->by_word);
}
