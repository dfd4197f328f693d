/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-user native messaging host manifests. Chromium looks in its user data directory
 * ($XDG_CONFIG_HOME/chromium, or --user-data-dir) under NativeMessagingHosts/, Chrome in
 * google-chrome/, Firefox in ~/.mozilla/native-messaging-hosts/. A manifest names the
 * absolute path of the host and the only extension allowed to start it. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay.h"

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Write, then rename: a browser starting now reads the old manifest or the new one. */
static int write_file(const char *dir, const char *text)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;
	int r = mkdir_p(dir);

	if (r < 0)
		return r;
	if (snprintf(path, sizeof(path), "%s/%s.json", dir, RELAY_HOST_NAME) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "we")))
		return -errno;
	r = fputs(text, f) < 0 || fputc('\n', f) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	else
		printf("%s\n", path);
	return r;
}

static int add(json_object *o, const char *key, json_object *v)
{
	if (v && json_object_object_add(o, key, v) == 0)
		return 0;
	json_object_put(v);
	return -ENOMEM;
}

static json_object *list_of(const char *s)
{
	json_object *list = json_object_new_array(), *v = json_object_new_string(s);

	if (list && v && json_object_array_add(list, v) == 0)
		return list;
	json_object_put(list);
	json_object_put(v);
	return NULL;
}

/* "chrome-extension://ID/" for Chromium and Chrome, the add-on id for Firefox. */
static json_object *manifest_new(const char *path, const char *key, const char *allowed)
{
	json_object *o = json_object_new_object();

	if (!o || add(o, "name", json_object_new_string(RELAY_HOST_NAME)) < 0 ||
	    add(o, "description", json_object_new_string("sipsvc: calls from the browser")) < 0 ||
	    add(o, "path", json_object_new_string(path)) < 0 ||
	    add(o, "type", json_object_new_string("stdio")) < 0 ||
	    add(o, key, list_of(allowed)) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int install(const char *dir, const char *path, const char *key, const char *allowed)
{
	json_object *o = manifest_new(path, key, allowed);
	const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	int r = s ? write_file(dir, s) : -ENOMEM;

	json_object_put(o);
	if (r < 0)
		fprintf(stderr, "sipsvc-relay: cannot write the manifest in %s: %s\n", dir,
			strerror(-r));
	return r;
}

/* Chrome's extension ids are 32 letters a-p (a SHA-256 prefix written in base 16 with a-p). */
static int check_ids(const struct manifest_opts *o)
{
	size_t n = strspn(o->extension_id, "abcdefghijklmnop");

	if (strlen(o->extension_id) != 32 || n != 32) {
		fprintf(stderr, "sipsvc-relay: \"%s\" is not a Chromium extension id\n",
			o->extension_id);
		return -EINVAL;
	}
	if (!*o->gecko_id || strpbrk(o->gecko_id, " \"\\/")) {
		fprintf(stderr, "sipsvc-relay: \"%s\" is not a Firefox add-on id\n", o->gecko_id);
		return -EINVAL;
	}
	return 0;
}

int relay_install_manifests(const struct manifest_opts *o)
{
	const char *home = getenv("HOME"), *cfg = getenv("XDG_CONFIG_HOME");
	char self[PATH_MAX], dir[PATH_MAX], origin[64];
	const char *path = o->path;
	int r = check_ids(o);

	if (r < 0)
		return r;
	if (!path && !(path = realpath("/proc/self/exe", self)))
		return -errno;
	if (path[0] != '/' || !home || home[0] != '/') {
		fprintf(stderr, "sipsvc-relay: the host path and $HOME must be absolute\n");
		return -EINVAL;
	}
	snprintf(origin, sizeof(origin), "chrome-extension://%s/", o->extension_id);
	if (!cfg || cfg[0] != '/')
		cfg = NULL;
	snprintf(dir, sizeof(dir), "%s%s/chromium/NativeMessagingHosts", cfg ? cfg : home,
		 cfg ? "" : "/.config");
	if ((r = install(dir, path, "allowed_origins", origin)) < 0)
		return r;
	snprintf(dir, sizeof(dir), "%s%s/google-chrome/NativeMessagingHosts", cfg ? cfg : home,
		 cfg ? "" : "/.config");
	if ((r = install(dir, path, "allowed_origins", origin)) < 0)
		return r;
	snprintf(dir, sizeof(dir), "%s/.mozilla/native-messaging-hosts", home);
	return install(dir, path, "allowed_extensions", o->gecko_id);
}
