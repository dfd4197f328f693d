/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hashing a file in the worker pool, in chunks of SHARE_HASH_CHUNK bytes so that one
 * large file never holds a worker for long and an Unshare can stop it between chunks.
 * SHA-256 (our file ids) and SHA-1 (RFC 5547 file-selector, which deployed MSRP
 * clients expect) come from one read of the file, through OpenSSL's EVP interface.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "share/share-private.h"

int share_hash_init(struct hash_job *j, const char *path)
{
	*j = (struct hash_job){.fd = -1};
	j->path = strdup(path);
	j->buf = malloc(SHARE_HASH_BUF);
	j->c256 = EVP_MD_CTX_new();
	j->c1 = EVP_MD_CTX_new();
	if (!j->path || !j->buf || !j->c256 || !j->c1 ||
	    EVP_DigestInit_ex(j->c256, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(j->c1, EVP_sha1(), NULL) != 1) {
		share_hash_done(j);
		return -ENOMEM;
	}
	return 0;
}

void share_hash_done(struct hash_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	EVP_MD_CTX_free(j->c256);
	EVP_MD_CTX_free(j->c1);
	free(j->buf);
	free(j->path);
	j->fd = -1;
	j->c256 = j->c1 = NULL;
	j->buf = NULL;
	j->path = NULL;
}

static void finish(struct hash_job *j, int result)
{
	j->finished = true;
	j->result = result;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

/* O_NOFOLLOW: a file replaced by a symlink is not read; O_NONBLOCK: nor is a FIFO
 * swapped in for it waited on. */
static int open_file(struct hash_job *j)
{
	struct stat sb;

	j->fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (j->fd < 0)
		return -errno;
	if (fstat(j->fd, &sb) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return -EBADFD;
	share_stat_from(&sb, &j->st);
	return 0;
}

/* The file must still be the version we began with, or the digest means nothing. */
static int check_unchanged(struct hash_job *j)
{
	struct share_stat now;
	struct stat sb;

	if (fstat(j->fd, &sb) < 0)
		return -errno;
	share_stat_from(&sb, &now);
	return share_stat_equal(&now, &j->st) && j->done_bytes == j->st.size ? 0 : -ESTALE;
}

/* Read and digest up to @p max bytes: 1 while there is more, else the result. */
static int step(struct hash_job *j, uint64_t max)
{
	unsigned len = 0;
	uint64_t n = 0;
	int r;

	if (j->fd < 0 && (r = open_file(j)) < 0)
		return r;
	while (n < max) {
		ssize_t got = read(j->fd, j->buf, SHARE_HASH_BUF);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		if (EVP_DigestUpdate(j->c256, j->buf, (size_t)got) != 1 ||
		    EVP_DigestUpdate(j->c1, j->buf, (size_t)got) != 1)
			return -EIO;
		j->done_bytes += (uint64_t)got;
		n += (uint64_t)got;
	}
	if (n >= max)
		return 1;
	r = check_unchanged(j);
	if (r == 0 && (EVP_DigestFinal_ex(j->c256, j->sha256, &len) != 1 ||
		       EVP_DigestFinal_ex(j->c1, j->sha1, &len) != 1))
		r = -EIO;
	return r;
}

void share_hash_step(struct hash_job *j, uint64_t max)
{
	int r = step(j, max);

	if (r <= 0)
		finish(j, r);
}

int share_hash_file(const char *path, uint8_t sha256[SHARE_SHA256_LEN],
		    uint8_t sha1[SHARE_SHA1_LEN], struct share_stat *ret_st)
{
	struct hash_job j;
	int r = share_hash_init(&j, path);

	if (r < 0)
		return r;
	while (!j.finished)
		share_hash_step(&j, UINT64_MAX);
	r = j.result;
	if (r == 0) {
		memcpy(sha256, j.sha256, SHARE_SHA256_LEN);
		memcpy(sha1, j.sha1, SHARE_SHA1_LEN);
		if (ret_st)
			*ret_st = j.st;
	}
	share_hash_done(&j);
	return r;
}
