/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A device keeps its own copy of its config: the config object is replaced on reload. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device/device-private.h"

static int dup_str(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -ENOMEM : 0;
}

void conf_clear(struct config_device *c)
{
	free(c->id);
	free(c->wrapper);
	free(c->uri);
	for (size_t i = 0; c->params && i < c->n_params; i++) {
		free(c->params[i].name);
		free(c->params[i].value);
	}
	free(c->params);
	memset(c, 0, sizeof(*c));
}

int conf_copy(struct config_device *dst, const struct config_device *src)
{
	*dst = (struct config_device){ .mode = src->mode, .is_default = src->is_default };
	if (dup_str(&dst->id, src->id) < 0 || dup_str(&dst->wrapper, src->wrapper) < 0 ||
	    dup_str(&dst->uri, src->uri) < 0)
		goto oom;
	if (src->n_params) {
		dst->params = calloc(src->n_params, sizeof(*dst->params));
		if (!dst->params)
			goto oom;
	}
	for (size_t i = 0; i < src->n_params; i++, dst->n_params++)
		if (dup_str(&dst->params[i].name, src->params[i].name) < 0 ||
		    dup_str(&dst->params[i].value, src->params[i].value) < 0)
			goto oom;
	return 0;
oom:
	conf_clear(dst);
	return -ENOMEM;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool conf_equal(const struct config_device *a, const struct config_device *b)
{
	if (!str_eq(a->id, b->id) || !str_eq(a->wrapper, b->wrapper) || !str_eq(a->uri, b->uri) ||
	    a->mode != b->mode || a->n_params != b->n_params)
		return false;
	for (size_t i = 0; i < a->n_params; i++)
		if (!str_eq(a->params[i].name, b->params[i].name) ||
		    !str_eq(a->params[i].value, b->params[i].value))
			return false;
	return true;
}
