/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding a wrapper: linked in, or NAME.so from the wrapper directory (dlopen), whose
 * descriptor must carry our ABI version and its own name. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device-private.h"

static const struct sipsvc_wrapper *builtin(const char *name)
{
	for (size_t i = 0; device_builtin_wrappers[i]; i++)
		if (strcmp(device_builtin_wrappers[i]->name, name) == 0)
			return device_builtin_wrappers[i];
	return NULL;
}

static const struct sipsvc_wrapper *already_loaded(struct device_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_mods; i++)
		if (strcmp(t->mods[i].name, name) == 0)
			return dlsym(t->mods[i].handle, "sipsvc_wrapper_export");
	return NULL;
}

static int check_descriptor(const struct sipsvc_wrapper *w, const char *name, const char *path)
{
	if (!w) {
		log_err("device: %s exports no sipsvc_wrapper_export", path);
		return -ENOEXEC;
	}
	if (w->abi != SIPSVC_WRAPPER_ABI) {
		log_err("device: %s has wrapper ABI %u, sipsvcd needs %u; rebuild it", path,
			w->abi, SIPSVC_WRAPPER_ABI);
		return -EPROTO;
	}
	if (!w->name || strcmp(w->name, name) != 0 || !w->open || !w->close) {
		log_err("device: %s does not describe a wrapper named \"%s\"", path, name);
		return -EPROTO;
	}
	return 0;
}

static int remember(struct device_table *t, const char *name, void *handle)
{
	struct loaded_module *m = realloc(t->mods, (t->n_mods + 1) * sizeof(*m));

	if (!m)
		return -ENOMEM;
	t->mods = m;
	m[t->n_mods].name = strdup(name);
	m[t->n_mods].handle = handle;
	if (!m[t->n_mods].name)
		return -ENOMEM;
	t->n_mods++;
	return 0;
}

/* Names come from the (schema-checked) config: [a-z0-9_-]{1,32}, never a path. */
static int load(struct device_table *t, const char *name, const struct sipsvc_wrapper **ret)
{
	char path[4096];
	const struct sipsvc_wrapper *w;
	void *h;
	int r;

	snprintf(path, sizeof(path), "%s/%s.so", t->wrapper_dir, name);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		log_err("device: cannot load wrapper \"%s\": %s", name, dlerror());
		return -ENOENT;
	}
	w = dlsym(h, "sipsvc_wrapper_export");
	r = check_descriptor(w, name, path);
	if (r == 0)
		r = remember(t, name, h);
	if (r < 0) {
		dlclose(h);
		return r;
	}
	log_debug("device: loaded wrapper %s from %s", name, path);
	*ret = w;
	return 0;
}

static void note_used(struct device_table *t, const struct sipsvc_wrapper *w)
{
	for (size_t i = 0; i < t->n_used; i++)
		if (t->used[i] == w)
			return;
	if (t->n_used < ARRAY_SIZE(t->used))
		t->used[t->n_used++] = w;
}

int loader_find(struct device_table *t, const char *name, const struct sipsvc_wrapper **ret)
{
	const struct sipsvc_wrapper *w = builtin(name);
	int r = 0;

	if (!w)
		w = already_loaded(t, name);
	if (!w && (strchr(name, '/') || name[0] == '.'))
		return -EINVAL;
	if (!w)
		r = load(t, name, &w);
	if (r < 0)
		return r;
	note_used(t, w);
	*ret = w;
	return 0;
}

void loader_shutdown_all(struct device_table *t)
{
	for (size_t i = 0; i < t->n_used; i++)
		if (t->used[i]->shutdown)
			t->used[i]->shutdown(t->loop);
	t->n_used = 0;
}

void loader_unload_all(struct device_table *t)
{
	for (size_t i = 0; i < t->n_mods; i++) {
		dlclose(t->mods[i].handle);
		free(t->mods[i].name);
	}
	free(t->mods);
	t->mods = NULL;
	t->n_mods = 0;
}
