/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What an inotify event means for the index. A file written and closed, or moved in,
 * is re-stat'ed (lstat: a symlink is never indexed) and queued for hashing if it is
 * new or changed; a file deleted or moved out is dropped. Anything that happens to a
 * directory (created, moved, deleted) or a lost event queue makes us rescan the root:
 * the walk keeps every unchanged file's hash, so a rescan costs stats, not hashing.
 * Files are picked up at IN_CLOSE_WRITE, not IN_CREATE, so that a file being copied
 * is hashed once, complete. A shared file (not directory) is watched itself, and any
 * event on it rescans it; the rescan watches whatever file is at its path now.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "share/share-private.h"

static void file_gone(struct share *s, const char *path)
{
	struct share_entry *e = share_index_by_path(&s->idx, path);

	if (!e)
		return;
	log_debug("share: %s removed", path);
	queue_remove_entry(s, e);
	share_changed(s);
}

/* @p written: closed after writing. The mtime clock is coarse (a few ms), so a
 * rewrite of the same size can leave size, mtime and inode as they were: trust the
 * event, not the stat, and hash it again. */
static void file_changed(struct share *s, struct share_root *root, const char *path, bool written)
{
	struct share_entry *e = share_index_by_path(&s->idx, path);
	struct share_stat st;
	struct stat sb;

	if (fstatat(AT_FDCWD, path, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode)) {
		file_gone(s, path);
		return;
	}
	share_stat_from(&sb, &st);
	if (e && e->root->removed) { /* left by a withdrawn root still being emptied */
		queue_remove_entry(s, e);
		e = NULL;
	}
	if (e && !written && share_stat_equal(&e->st, &st))
		return;
	if (e) {
		share_index_restat(&s->idx, e, &st);
		e->retries = 0;
	} else if (share_index_add(&s->idx, root, path, &st, &e) < 0) {
		log_warn("share: %s not indexed: the index is full (max-files %zu)", path,
			 s->max_files);
		return;
	}
	e->seen = true; /* a walk being merged must not sweep it */
	log_debug("share: %s changed; hashing it again", path);
	queue_entry(s, e);
	share_changed(s);
}

static void rescan_all(struct share *s)
{
	log_notice("share: inotify lost events; rescanning every share");
	for (size_t i = 0; i < s->n_roots; i++)
		scan_root(s, s->roots[i]);
}

void change_on_event(struct share_root *root, const char *dir, const char *name, uint32_t mask,
		     void *arg)
{
	struct share *s = arg;
	char path[SHARE_MAX_PATH + 2];

	if (!root && (mask & IN_Q_OVERFLOW)) {
		rescan_all(s);
		return;
	}
	if (!root) { /* from a directory a walk watched: walk again after it */
		for (size_t i = 0; i < s->n_roots; i++)
			if (s->roots[i]->walking)
				s->roots[i]->rescan = true;
		return;
	}
	if (root->removed || (name && name[0] == '.'))
		return;
	/* During a walk (and until its merge has refreshed the watches' paths) an event
	 * may be missed by the walk or come with the old path of a renamed directory:
	 * walk again afterwards. */
	if (root->walking)
		root->rescan = true;
	if (!root->is_dir) {
		scan_root(s, root); /* the shared file itself: walking it is one fstatat */
	} else if (!name || (mask & IN_ISDIR)) {
		if (mask & (IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF |
			    IN_MOVE_SELF))
			scan_root(s, root);
	} else if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= SHARE_MAX_PATH) {
		return;
	} else if (mask & (IN_DELETE | IN_MOVED_FROM)) {
		file_gone(s, path);
	} else if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB)) {
		file_changed(s, root, path, mask & IN_CLOSE_WRITE);
	}
	queue_kick(s);
}
