/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where received bytes go (DESIGN.md "Security model", Files): a name from the network
 * becomes one safe path component, the bytes land in NAME.part inside the download dir
 * opened once as a directory fd, and a verified part becomes NAME, or "NAME (1).ext" …
 * when NAME exists: a complete file is never replaced (renameat2 RENAME_NOREPLACE). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "transfer/transfer-private.h"

#define PART_SUFFIX ".part"
#define XATTR_HASH "user.sipsvc.sha256"
#define MAX_VARIANTS 100

/* Length of the valid UTF-8 sequence at @p s (at most @p n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF; C1 controls are controls too */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

int transfer_name_sanitize(const char *in, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;

	if (size < 16)
		return -EINVAL;
	for (size_t i = 0; i < n && o + 4 < size && o + 4 <= TRANSFER_NAME_MAX;) {
		size_t l = utf8_len(s + i, n - i);

		/* a path separator, a control or a broken sequence becomes '_' */
		if (l == 0 || (l == 1 && (s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' ||
					  s[i] == '\\'))) {
			out[o++] = '_';
			i += l ? l : 1;
			continue;
		}
		memcpy(out + o, s + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	/* no hidden files, no "." or "..": a leading dot becomes '_' */
	if (out[0] == '.')
		out[0] = '_';
	/* trailing spaces would make names that look alike */
	while (o > 0 && out[o - 1] == ' ')
		out[--o] = '\0';
	if (o == 0)
		snprintf(out, size, "download");
	return 0;
}

/* "NAME" for i == 0, else "STEM (i).EXT" (the extension after the last dot). */
static void variant(const char *name, unsigned i, const char *suffix, char *out, size_t size)
{
	const char *dot = strrchr(name, '.');

	if (i == 0)
		snprintf(out, size, "%s%s", name, suffix);
	else if (dot && dot != name)
		snprintf(out, size, "%.*s (%u)%s%s", (int)(dot - name), name, i, dot, suffix);
	else
		snprintf(out, size, "%s (%u)%s", name, i, suffix);
}

static void hex(const uint8_t *h, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Whether an existing part file belongs to this content: its xattr names the hash.
 * A file system without user xattrs cannot tell; the part is then trusted by name and
 * the final hash check still catches a mix-up. */
static int part_matches(int fd, const uint8_t sha256[TRANSFER_SHA256_LEN])
{
	char want[2 * TRANSFER_SHA256_LEN + 1], got[2 * TRANSFER_SHA256_LEN + 1];
	ssize_t n;

	hex(sha256, TRANSFER_SHA256_LEN, want);
	n = fgetxattr(fd, XATTR_HASH, got, sizeof(got) - 1);
	if (n < 0)
		return errno == ENOTSUP ? 1 : 0;
	got[n] = '\0';
	return strcmp(got, want) == 0;
}

static int mark_part(int fd, const uint8_t sha256[TRANSFER_SHA256_LEN])
{
	char h[2 * TRANSFER_SHA256_LEN + 1];

	hex(sha256, TRANSFER_SHA256_LEN, h);
	if (fsetxattr(fd, XATTR_HASH, h, strlen(h), 0) < 0 && errno != ENOTSUP)
		return -errno;
	return 0;
}

/* Open an existing candidate; the fd if it is a part of this content, 0 if not ours. */
static int adopt_part(struct transfer_part *p, const char *pname, const uint8_t *sha256)
{
	struct stat st;
	int fd, r;

	/* O_NONBLOCK: a FIFO planted under the name must not hang the loop */
	fd = openat(p->dirfd, pname, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP || errno == EISDIR || errno == ENXIO || errno == ENOENT
			       ? 0
			       : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || !part_matches(fd, sha256)) {
		close(fd);
		return 0;
	}
	return fd;
}

/* Create one candidate, or resume it if it is ours; 1 if it is, 0 if the name is taken. */
static int try_part(struct transfer_part *p, const char *pname, const uint8_t *sha256)
{
	struct stat st = { 0 };
	int fd, r;

	/* a file we did not create is never taken over: only a part marked with this hash */
	fd = openat(p->dirfd, pname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return -errno;
	if (fd < 0) {
		fd = adopt_part(p, pname, sha256);
		if (fd <= 0)
			return fd;
	}
	r = mark_part(fd, sha256);
	if (r == 0 && (fcntl(fd, F_SETFL, 0) < 0 || fstat(fd, &st) < 0))
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	p->fd = fd;
	p->have = (uint64_t)st.st_size;
	snprintf(p->part_name, sizeof(p->part_name), "%s", pname);
	return 1;
}

int transfer_part_open(const char *dir, const char *offered, const uint8_t *sha256,
		       struct transfer_part *p)
{
	char pname[sizeof(p->part_name)];
	int r;

	*p = (struct transfer_part){ .fd = -1, .dirfd = -1 };
	r = transfer_name_sanitize(offered, p->name, sizeof(p->name));
	if (r < 0)
		return r;
	p->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0)
		return -errno;
	for (unsigned i = 0; i < MAX_VARIANTS; i++) {
		variant(p->name, i, PART_SUFFIX, pname, sizeof(pname));
		r = try_part(p, pname, sha256);
		if (r != 0)
			break;
	}
	if (r <= 0) {
		transfer_part_close(p);
		return r < 0 ? r : -EEXIST;
	}
	return 0;
}

/* renameat2(RENAME_NOREPLACE), or link+unlink where the file system lacks it. */
static int no_replace_rename(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -errno;
	unlinkat(dirfd, from, 0);
	return 0;
}

int transfer_part_commit(struct transfer_part *p, char *final, size_t size)
{
	char fname[sizeof(p->part_name)];
	int r;

	for (unsigned i = 0; i < MAX_VARIANTS; i++) {
		variant(p->name, i, "", fname, sizeof(fname));
		r = no_replace_rename(p->dirfd, p->part_name, fname);
		if (r == 0) {
			snprintf(final, size, "%s", fname);
			fremovexattr(p->fd, XATTR_HASH);
			return 0;
		}
		if (r != -EEXIST)
			return r;
	}
	return -EEXIST;
}

int transfer_part_remove(struct transfer_part *p)
{
	return unlinkat(p->dirfd, p->part_name, 0) < 0 ? -errno : 0;
}

void transfer_part_close(struct transfer_part *p)
{
	if (p->fd >= 0)
		close(p->fd);
	if (p->dirfd >= 0)
		close(p->dirfd);
	p->fd = p->dirfd = -1;
}
