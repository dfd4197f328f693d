/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where the daemon keeps things (DESIGN.md "Files", PROTOCOL.md "Endpoints"). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && h[0] == '/')
		return h;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

/* $VAR/SUFFIX if VAR is an absolute path, else $HOME/FALLBACK/SUFFIX (XDG base dirs). */
static char *xdg_path(const char *var, const char *fallback, const char *suffix)
{
	const char *v = getenv(var);
	char *p = NULL;
	int r;

	if (v && v[0] == '/')
		r = asprintf(&p, "%s/%s", v, suffix);
	else
		r = asprintf(&p, "%s/%s/%s", home_dir(), fallback, suffix);
	return r < 0 ? NULL : p;
}

char *paths_default_config(void)
{
	return xdg_path("XDG_CONFIG_HOME", ".config", "sipsvc/sipsvc.xml");
}

static int default_runtime_dir(char **ret)
{
	const char *v = getenv("XDG_RUNTIME_DIR");
	int r;

	if (v && v[0] == '/')
		r = asprintf(ret, "%s/sipsvc", v);
	else
		r = asprintf(ret, "/tmp/sipsvc-%u", (unsigned)getuid());
	return r < 0 ? -ENOMEM : 0;
}

static int default_download_dir(char **ret)
{
	const char *v = getenv("XDG_DOWNLOAD_DIR");

	if (v && v[0] == '/')
		*ret = strdup(v);
	else if (asprintf(ret, "%s/Downloads", home_dir()) < 0)
		*ret = NULL;
	return *ret ? 0 : -ENOMEM;
}

int paths_resolve(struct config *c)
{
	int r;

	if (!c->state_dir && !(c->state_dir = xdg_path("XDG_STATE_HOME", ".local/state", "sipsvc")))
		return -ENOMEM;
	if (!c->runtime_dir && (r = default_runtime_dir(&c->runtime_dir)) < 0)
		return r;
	if (!c->download_dir && (r = default_download_dir(&c->download_dir)) < 0)
		return r;
	return 0;
}

/* Check an existing directory is ours alone: a shared /tmp path could be pre-created by
 * another user to capture our socket (PROTOCOL.md "Endpoints"). */
static int check_private(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != getuid() || (st.st_mode & 0022))
		return -EPERM;
	return 0;
}

int paths_make_private_dir(const char *dir)
{
	char *tmp, *slash;
	int r = 0;

	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return check_private(dir);
	if (errno != ENOENT)
		return -errno;
	/* Create the parents (ordinary permissions), then the directory itself. */
	tmp = strdup(dir);
	if (!tmp)
		return -ENOMEM;
	for (slash = strchr(tmp + 1, '/'); slash && r == 0; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			r = -errno;
		*slash = '/';
	}
	free(tmp);
	if (r < 0)
		return r;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return check_private(dir);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int paths_write_atomic(const char *dir, const char *name, const char *buf, size_t len)
{
	_cleanup_(freep) char *tmp = NULL, *dst = NULL;
	int fd, dfd, r;

	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, name) < 0 ||
	    asprintf(&dst, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	/* The data reaches the disk before the rename makes it visible. */
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = fsync(dfd) < 0 ? -errno : 0;
	close(dfd);
	return r;
}
