/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The directory walker, run in the worker pool (DESIGN.md "Work off the event loop").
 * Symlinks are never followed: every directory is opened with openat(O_NOFOLLOW |
 * O_DIRECTORY) relative to its parent's fd and every name is examined with
 * fstatat(AT_SYMLINK_NOFOLLOW), so a symlink (or a directory swapped for one during
 * the walk) can never lead out of the root. Hidden names, special files, kernel
 * pseudo file systems (/proc, /sys, …) and the daemon's own state and runtime dirs
 * are skipped; depth, path length and the file count are bounded.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "share/share-private.h"

bool share_pseudo_fs(int fd)
{
	/* Kernel interfaces, not files: /proc/kcore alone is 128 TiB of kernel memory. */
	static const unsigned long magic[] = {
	    PROC_SUPER_MAGIC, SYSFS_MAGIC,    DEBUGFS_MAGIC,	  TRACEFS_MAGIC,
	    SECURITYFS_MAGIC, SELINUX_MAGIC,  CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC,
	    BPF_FS_MAGIC,     PSTOREFS_MAGIC, EFIVARFS_MAGIC,	  DEVPTS_SUPER_MAGIC,
	    BINFMTFS_MAGIC,
	};
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(magic); i++)
		if ((unsigned long)sf.f_type == magic[i])
			return true;
	return false;
}

static int push(struct walk_result *r, const char *rel, bool is_dir, const struct stat *sb)
{
	struct walk_item *it;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct walk_item *v = realloc(r->items, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->items = v;
		r->cap = cap;
	}
	it = &r->items[r->n];
	it->rel = strdup(rel);
	if (!it->rel)
		return -ENOMEM;
	it->is_dir = is_dir;
	share_stat_from(sb, &it->st);
	r->n++;
	r->files += !is_dir;
	return 0;
}

static bool skipped_dir(const struct walk_params *p, const struct stat *sb)
{
	for (size_t i = 0; i < p->n_skip; i++)
		if (p->skip[i].ino == sb->st_ino && p->skip[i].dev == sb->st_dev)
			return true;
	return false;
}

/* Watch a directory before reading it, so that nothing written into it after the
 * read goes unnoticed (the loop registers the watch when it merges the walk). */
static void watch_dir(const struct walk_params *p, const char *rel)
{
	char full[SHARE_MAX_PATH + 2];

	if (p->watch &&
	    snprintf(full, sizeof(full), "%s%s%s", p->root, *rel ? "/" : "", rel) < SHARE_MAX_PATH)
		(void)inotify_add_watch(p->watch_fd, full, SHARE_WATCH_DIR_MASK);
}

static int walk_dir(const struct walk_params *p, struct walk_result *r, int dfd, char *rel,
		    size_t rel_len, unsigned depth);

/* One name inside a directory: a file is collected, a directory descended into. */
static int visit(const struct walk_params *p, struct walk_result *r, int dfd, const char *name,
		 char *rel, size_t rel_len, unsigned depth)
{
	size_t nlen = strlen(name), len = rel_len + (rel_len ? 1 : 0) + nlen;
	struct stat sb;
	int r2;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if (name[0] == '.') {
		r->hidden++;
		return 0;
	}
	if (strlen(p->root) + 1 + len >= SHARE_MAX_PATH) {
		r->too_long++;
		return 0;
	}
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		r->errors++; /* vanished meanwhile, or unreadable: not ours to report */
		return 0;
	}
	if (S_ISLNK(sb.st_mode)) {
		r->symlinks++;
		return 0;
	}
	if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
		r->special++;
		return 0;
	}
	if (S_ISREG(sb.st_mode) && r->files >= p->max_files) {
		r->truncated = true;
		return 0;
	}
	if (rel_len)
		rel[rel_len] = '/';
	memcpy(rel + rel_len + (rel_len ? 1 : 0), name, nlen + 1);
	if (S_ISREG(sb.st_mode)) {
		r2 = push(r, rel, false, &sb);
	} else if (skipped_dir(p, &sb)) {
		r2 = 0;
	} else if (depth + 1 > p->max_depth) {
		r->too_deep++;
		r2 = 0;
	} else {
		r2 = walk_dir(p, r, dfd, rel, len, depth + 1);
	}
	rel[rel_len] = '\0';
	return r2;
}

/* @p rel (a SHARE_MAX_PATH buffer) names the directory to open relative to @p parent,
 * which has the name as its last component. */
static int walk_dir(const struct walk_params *p, struct walk_result *r, int parent, char *rel,
		    size_t rel_len, unsigned depth)
{
	const char *name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (fd < 0 || fstat(fd, &sb) < 0) {
		r->errors++;
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (share_pseudo_fs(fd)) {
		r->special++; /* a /proc or /sys mounted below the root */
		close(fd);
		return 0;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		r->errors++;
		return 0;
	}
	watch_dir(p, rel);
	ret = push(r, rel, true, &sb);
	while (ret == 0 && (de = readdir(d)))
		ret = visit(p, r, dirfd(d), de->d_name, rel, rel_len, depth);
	closedir(d);
	return ret;
}

int share_walk(const struct walk_params *p, struct walk_result *r)
{
	char *rel = malloc(SHARE_MAX_PATH);
	struct stat sb;
	int fd, ret;

	*r = (struct walk_result){0};
	if (!rel)
		return r->error = -ENOMEM;
	rel[0] = '\0';
	/* The root was resolved when shared; O_NOFOLLOW guards against it becoming a link. */
	fd = open(p->root, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		ret = -errno;
	} else if (share_pseudo_fs(fd)) {
		ret = -EBADFD; /* /proc, /sys and the like: not shared */
	} else if (S_ISREG(sb.st_mode)) {
		ret = push(r, "", false, &sb);
	} else if (S_ISDIR(sb.st_mode)) {
		watch_dir(p, "");
		ret = push(r, "", true, &sb);
		for (DIR *d = ret == 0 ? fdopendir(fd) : NULL; d; d = NULL) {
			struct dirent *de;

			fd = -1; /* closedir() closes it */
			while (ret == 0 && (de = readdir(d)))
				ret = visit(p, r, dirfd(d), de->d_name, rel, 0, 0);
			closedir(d);
		}
	} else {
		ret = -EBADFD; /* neither file nor directory any more */
	}
	if (fd >= 0)
		close(fd);
	free(rel);
	if (ret < 0)
		r->error = ret;
	return ret;
}

void share_walk_result_done(struct walk_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->items[i].rel);
	free(r->items);
	*r = (struct walk_result){0};
}
