/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the device subsystem. */
#ifndef SIPSVC_DEVICE_PRIVATE_H
#define SIPSVC_DEVICE_PRIVATE_H

#include "device/device.h"

/* The host side of one device: what sipsvc_host_api calls get. */
struct sipsvc_host {
	struct device *dev;
};

struct device {
	struct device_table *table;
	struct sipsvc_host host;
	struct config_device conf;   /* deep copy: survives config reloads */
	const struct sipsvc_wrapper *w; /* NULL: the wrapper could not be loaded */
	void *state;                 /* the wrapper's */
	char *dir;                   /* the wrapper's private directory, made on demand */
	int up;                      /* last availability reported by the wrapper */
};

struct loaded_module {
	char *name;
	void *handle;
};

struct device_table {
	struct ev_loop *loop;
	char *wrapper_dir;
	char *runtime_dir;
	struct device **devs;
	size_t n;
	struct loaded_module *mods;
	size_t n_mods;
	const struct sipsvc_wrapper *used[16]; /* distinct wrappers opened, for shutdown() */
	size_t n_used;
};

/* host.c */
extern const struct sipsvc_host_api device_host_api;

/* loader.c */
/** Find wrapper @p name: built in, or NAME.so in the wrapper dir (ABI checked). */
int loader_find(struct device_table *t, const char *name, const struct sipsvc_wrapper **ret);
/** Call shutdown() of every wrapper that was used (built in or loaded). */
void loader_shutdown_all(struct device_table *t);
/** dlclose everything loaded. */
void loader_unload_all(struct device_table *t);

/* conf.c */
/** Deep-copy a config device; 0 or -ENOMEM. */
int conf_copy(struct config_device *dst, const struct config_device *src);
/** Free the copy's strings. */
void conf_clear(struct config_device *c);
/** Same settings (so a reload can keep the device running)? */
bool conf_equal(const struct config_device *a, const struct config_device *b);

#endif
