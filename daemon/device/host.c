/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host table: all a wrapper may use of the daemon. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device-private.h"

static void host_log(struct sipsvc_host *h, enum sipsvc_log level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void host_log(struct sipsvc_host *h, enum sipsvc_log level, const char *fmt, ...)
{
	char line[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg((enum log_level)level, "device %s: %s", h->dev->conf.id, line);
}

static struct ev_loop *host_loop(struct sipsvc_host *h)
{
	return h->dev->table->loop;
}

static const char *host_param(struct sipsvc_host *h, const char *name)
{
	const struct config_device *c = &h->dev->conf;

	for (size_t i = 0; i < c->n_params; i++)
		if (strcmp(c->params[i].name, name) == 0)
			return c->params[i].value;
	return NULL;
}

static const char *host_id(struct sipsvc_host *h)
{
	return h->dev->conf.id;
}

static const char *host_uri(struct sipsvc_host *h)
{
	return h->dev->conf.uri;
}

/* RUNTIME/devices/ID, private to the user; made on first use. */
static const char *host_dir(struct sipsvc_host *h)
{
	struct device *d = h->dev;

	if (!d->dir && asprintf(&d->dir, "%s/devices/%s", d->table->runtime_dir, d->conf.id) < 0)
		d->dir = NULL;
	if (d->dir && paths_make_private_dir(d->dir) < 0) {
		log_err("device %s: cannot create %s", d->conf.id, d->dir);
		return NULL;
	}
	return d->dir;
}

static void host_availability(struct sipsvc_host *h, int up, const char *why)
{
	struct device *d = h->dev;

	if (d->up == up)
		return;
	d->up = up;
	log_info("device %s: %s%s%s", d->conf.id, up ? "available" : "unavailable",
		 why ? ": " : "", why ? why : "");
}

const struct sipsvc_host_api device_host_api = {
	.abi = SIPSVC_WRAPPER_ABI,
	.log = host_log,
	.loop = host_loop,
	.param = host_param,
	.id = host_id,
	.uri = host_uri,
	.dir = host_dir,
	.availability = host_availability,
};
