/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The device table and the operations the call logic uses on a device. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device/device-private.h"

/* The last reference gone: a call may hold a device that a reload removed from the
 * table, and uses it until it ends. */
static void device_destroy(void *data)
{
	struct device *d = data;

	if (d->w)
		d->w->close(d->state);
	conf_clear(&d->conf);
	free(d->dir);
}

struct device *device_ref(struct device *d)
{
	return d ? mem_ref(d) : NULL;
}

struct device *device_unref(struct device *d)
{
	if (d)
		mem_deref(d);
	return NULL;
}

/* A device whose wrapper fails stays in the table, unavailable: the user sees it in
 * <Devices/> with available="false" and the log says why. */
static int device_open(struct device_table *t, const struct config_device *c,
		       struct device **ret)
{
	struct device *d = mem_zalloc(sizeof(*d), device_destroy);
	int r;

	if (!d)
		return -ENOMEM;
	if (conf_copy(&d->conf, c) < 0) {
		mem_deref(d);
		return -ENOMEM;
	}
	d->table = t;
	d->host.dev = d;
	d->up = -1;
	r = loader_find(t, c->wrapper, &d->w);
	if (r == 0 && (r = d->w->open(&device_host_api, &d->host, &d->state)) < 0) {
		log_err("device %s: wrapper %s cannot open it: %s", c->id, c->wrapper,
			strerror(-r));
		d->w = NULL;
	}
	if (!d->w)
		d->up = 0;
	*ret = d;
	return 0;
}

static int open_all(struct device_table *t, const struct config *cfg, struct device **keep,
		    size_t n_keep)
{
	t->devs = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof(struct device *));
	if (!t->devs)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_devices; i++, t->n++) {
		const struct config_device *c = &cfg->devices[i];

		for (size_t k = 0; k < n_keep && !t->devs[i]; k++)
			if (keep[k] && conf_equal(&keep[k]->conf, c)) {
				t->devs[i] = keep[k];
				keep[k] = NULL;
				/* default= may change without reopening the device */
				t->devs[i]->conf.is_default = c->is_default;
			}
		if (!t->devs[i] && device_open(t, c, &t->devs[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

int device_table_new(struct ev_loop *loop, const struct config *cfg, const char *wrapper_dir,
		     struct device_table **ret)
{
	struct device_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->wrapper_dir = strdup(wrapper_dir);
	t->runtime_dir = strdup(cfg->runtime_dir);
	if (!t->wrapper_dir || !t->runtime_dir || open_all(t, cfg, NULL, 0) < 0) {
		device_table_free(t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

static void close_devices(struct device **devs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		device_unref(devs[i]);
	free(devs);
}

void device_table_free(struct device_table *t)
{
	if (!t)
		return;
	close_devices(t->devs, t->n);
	loader_shutdown_all(t);
	loader_unload_all(t);
	free(t->wrapper_dir);
	free(t->runtime_dir);
	free(t);
}

int device_table_reload(struct device_table *t, const struct config *cfg)
{
	struct device **old = t->devs;
	size_t n_old = t->n;
	int r;

	t->devs = NULL;
	t->n = 0;
	r = open_all(t, cfg, old, n_old);
	close_devices(old, n_old); /* those not kept */
	return r;
}

size_t device_table_count(const struct device_table *t)
{
	return t->n;
}

struct device *device_table_get(const struct device_table *t, size_t i)
{
	return i < t->n ? t->devs[i] : NULL;
}

struct device *device_find(const struct device_table *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->devs[i]->conf.id, id) == 0)
			return t->devs[i];
	return NULL;
}

struct device *device_default(const struct device_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->devs[i]->conf.is_default)
			return t->devs[i];
	return t->n == 1 ? t->devs[0] : NULL;
}

const char *device_id(const struct device *d)
{
	return d->conf.id;
}

const char *device_wrapper(const struct device *d)
{
	return d->conf.wrapper;
}

const char *device_uri(const struct device *d)
{
	return d->conf.uri;
}

enum device_mode device_mode(const struct device *d)
{
	return d->conf.mode;
}

bool device_is_default(const struct device *d)
{
	return d == device_default(d->table);
}

int device_available(const struct device *d)
{
	int a;

	if (!d->w)
		return 0;
	a = d->w->available ? d->w->available(d->state) : -1;
	return a >= 0 ? a : d->up;
}

unsigned device_caps(const struct device *d)
{
	return d->w && d->w->caps ? d->w->caps(d->state) : 0;
}

int device_prepare(struct device *d, sipsvc_done_h *done, void *arg)
{
	if (!d->w)
		return -ENODEV;
	if (!d->w->prepare)
		return -EOPNOTSUPP;
	return d->w->prepare(d->state, done, arg);
}

int device_contact(struct device *d, char *buf, size_t size)
{
	if (!d->w)
		return -ENODEV;
	return d->w->contact ? d->w->contact(d->state, buf, size) : -ENOENT;
}

int device_dial(struct device *d, const char *target, sipsvc_done_h *done, void *arg)
{
	if (!d->w)
		return -ENODEV;
	return d->w->dial ? d->w->dial(d->state, target, done, arg) : -EOPNOTSUPP;
}
