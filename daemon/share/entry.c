/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The public lookups and the entries they return: by content hash and by keyword
 * (index.c), and the checks before serving that catch a file changed since it was
 * hashed (share_verify(), share_entry_open()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "share/share-private.h"

const struct share_entry *share_find(const struct share *s, const uint8_t sha256[SHARE_SHA256_LEN])
{
	uint64_t h = htab_hash(sha256, 8);

	/* Entries only read from shares.idx are served once a walk has seen them. */
	for (const struct hnode *n = htab_bucket(&s->idx.by_sha, h); n; n = n->next) {
		const struct share_entry *e =
		    (const struct share_entry *)((const char *)n -
						 offsetof(struct share_entry, by_sha));

		if (n->hash == h && e->confirmed && share_entry_live(e) &&
		    memcmp(e->sha256, sha256, SHARE_SHA256_LEN) == 0)
			return e;
	}
	return NULL;
}

size_t share_search(const struct share *s, const char *query, const struct share_entry **out,
		    size_t max)
{
	return share_index_search(&s->idx, query, out, max);
}

/* The file changed under a hashed entry: it loses its hash until hashed again. */
static void stale(struct share *s, struct share_entry *e, const struct share_stat *st)
{
	if (st)
		share_index_restat(&s->idx, e, st);
	else
		share_index_clear_hash(&s->idx, e);
	queue_entry(s, e);
	queue_kick(s);
	share_changed(s);
}

static int check_stat(struct share *s, struct share_entry *e, const struct stat *sb)
{
	struct share_stat st;

	if (!S_ISREG(sb->st_mode)) {
		stale(s, e, NULL); /* the hash job finds out and drops it */
		return -ENOENT;
	}
	share_stat_from(sb, &st);
	if (!share_stat_equal(&st, &e->st)) {
		log_info("share: %s changed since it was hashed; hashing it again", e->path);
		stale(s, e, &st);
		return -ESTALE;
	}
	return e->hashed ? 0 : -ESTALE;
}

int share_verify(struct share *s, const struct share_entry *ce)
{
	struct share_entry *e = (struct share_entry *)ce;
	struct stat sb;

	if (!share_entry_live(e))
		return -ENOENT;
	if (fstatat(AT_FDCWD, e->path, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		int r = -errno;

		if (r == -ENOENT || r == -ENOTDIR)
			stale(s, e, NULL);
		return r == -ENOTDIR ? -ENOENT : r;
	}
	return check_stat(s, e, &sb);
}

int share_entry_open(struct share *s, const struct share_entry *ce)
{
	struct share_entry *e = (struct share_entry *)ce;
	struct stat sb;
	int fd, r;

	if (!share_entry_live(e))
		return -ENOENT;
	fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ELOOP)
			stale(s, e, NULL);
		return r == -ELOOP ? -ENOENT : r;
	}
	r = fstat(fd, &sb) < 0 ? -errno : check_stat(s, e, &sb);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

const char *share_entry_path(const struct share_entry *e)
{
	return e->path;
}
const char *share_entry_name(const struct share_entry *e)
{
	return e->name;
}
uint64_t share_entry_size(const struct share_entry *e)
{
	return e->st.size;
}
bool share_entry_hashed(const struct share_entry *e)
{
	return e->hashed;
}
bool share_entry_gone(const struct share_entry *e)
{
	return e->removed;
}
const uint8_t *share_entry_sha256(const struct share_entry *e)
{
	return e->sha256;
}
const uint8_t *share_entry_sha1(const struct share_entry *e)
{
	return e->sha1;
}

void share_entry_file_id(const struct share_entry *e, char *buf, size_t size)
{
	char hex[SHARE_SHA256_LEN * 2 + 1];

	share_hex(e->sha256, SHARE_SHA256_LEN, hex);
	snprintf(buf, size, "sha256:%s", hex);
}

void share_get_stats(const struct share *s, struct share_stats *ret)
{
	*ret = (struct share_stats){
	    .roots = s->n_roots,
	    .files = s->idx.files,
	    .hashed_files = s->idx.hashed_files,
	    .bytes = s->idx.bytes,
	    .pending = s->n_queued + s->n_hashing,
	    .walks = s->n_walks + (s->merge_head != NULL),
	    .hash_runs = s->hash_runs,
	    .hash_bytes = s->hash_bytes,
	    .loaded = s->loaded,
	    .watches = s->watch.n,
	};
}

bool share_busy(const struct share *s)
{
	return s->n_walks || s->merge_head || s->n_queued || s->n_hashing || s->saving ||
	       s->formatting || s->dying || ev_is_active(&s->save_timer);
}
