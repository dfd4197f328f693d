/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Change detection with inotify: one watch per shared directory, read through an
 * ev_io on the inotify fd. Events are passed on by directory path and name; the
 * subsystem decides what to re-stat, re-hash, drop or rescan. The number of watches is
 * bounded; past the bound, share_verify() before serving still catches changes.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "share/share-private.h"

/* A root that is a file is watched itself: its events carry no name. */
#define FILE_MASK (IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW)

struct wdir {
	struct hnode node;
	int wd;
	struct share_root *root;
	char path[];
};

static struct wdir *find_wd(const struct share_watch *w, int wd)
{
	uint64_t h = (uint64_t)wd;

	for (struct hnode *n = htab_bucket(&w->by_wd, h); n; n = n->next)
		if (n->hash == h && ((struct wdir *)n)->wd == wd)
			return (struct wdir *)n;
	return NULL;
}

static void drop(struct share_watch *w, struct wdir *d)
{
	htab_remove(&w->by_wd, &d->node);
	mem_deref(d->root);
	free(d);
	w->n--;
}

static void dispatch(struct share_watch *w, const struct inotify_event *ev)
{
	struct wdir *d;

	if (ev->mask & IN_Q_OVERFLOW) {
		w->h(NULL, NULL, NULL, ev->mask, w->arg); /* lost events: rescan everything */
		return;
	}
	d = find_wd(w, ev->wd);
	if (!d && !(ev->mask & IN_IGNORED)) {
		/* A watch a walker added that its merge has not registered yet. */
		w->h(NULL, NULL, NULL, ev->mask, w->arg);
		return;
	}
	if (!d)
		return;
	if (ev->mask & IN_IGNORED) {
		drop(w, d); /* the directory is gone or the watch was removed */
		return;
	}
	w->h(d->root, d->path, ev->len ? ev->name : NULL, ev->mask, w->arg);
}

static void on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
	struct share_watch *w = io->data;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	/* One read per wakeup: a storm of events cannot hold the loop. */
	ssize_t n = read(w->fd, buf, sizeof(buf));

	for (ssize_t off = 0; n > 0 && off < n;) {
		const struct inotify_event *ev = (const struct inotify_event *)(buf + off);

		dispatch(w, ev);
		off += (ssize_t)(sizeof(*ev) + ev->len);
	}
}

int share_watch_init(struct share_watch *w, struct ev_loop *loop, size_t max, watch_h *h, void *arg)
{
	*w = (struct share_watch){.loop = loop, .max = max, .h = h, .arg = arg};
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	if (htab_init(&w->by_wd, 256) < 0) {
		close(w->fd);
		w->fd = -1;
		return -ENOMEM;
	}
	ev_io_init(&w->io, on_readable, w->fd, EV_READ);
	w->io.data = w;
	ev_io_start(loop, &w->io);
	return 0;
}

void share_watch_done(struct share_watch *w)
{
	if (!w->loop)
		return;
	ev_io_stop(w->loop, &w->io);
	for (size_t i = 0; w->by_wd.b && i < w->by_wd.n_b; i++)
		while (w->by_wd.b[i])
			drop(w, (struct wdir *)w->by_wd.b[i]);
	htab_done(&w->by_wd);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->loop = NULL;
}

static int full(struct share_watch *w, int wd)
{
	inotify_rm_watch(w->fd, wd);
	if (!w->full_logged)
		log_warn("share: %zu directories watched already; changes in others are "
			 "seen only when a file is served or the share rescanned",
			 w->n);
	w->full_logged = true;
	return -ENOSPC;
}

int share_watch_add(struct share_watch *w, struct share_root *root, const char *path)
{
	struct wdir *d;
	int wd;

	if (w->fd < 0)
		return -EBADF;
	wd = inotify_add_watch(w->fd, path, root->is_dir ? SHARE_WATCH_DIR_MASK : FILE_MASK);
	if (wd < 0)
		return -errno;
	d = find_wd(w, wd);
	if (d)
		drop(w, d); /* the same directory seen again (rescan, rename): refresh it */
	else if (w->n >= w->max)
		return full(w, wd);
	d = malloc(sizeof(*d) + strlen(path) + 1);
	if (!d) {
		inotify_rm_watch(w->fd, wd);
		return -ENOMEM;
	}
	d->wd = wd;
	d->root = mem_ref(root);
	strcpy(d->path, path);
	htab_insert(&w->by_wd, &d->node, (uint64_t)wd);
	w->n++;
	return 0;
}

void share_watch_forget_root(struct share_watch *w, const struct share_root *root)
{
	for (size_t i = 0; w->by_wd.b && i < w->by_wd.n_b; i++)
		for (struct hnode *n = w->by_wd.b[i], *next; n; n = next) {
			struct wdir *d = (struct wdir *)n;

			next = n->next;
			if (d->root != root)
				continue;
			inotify_rm_watch(w->fd, d->wd);
			drop(w, d);
		}
}
