/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the config loader: parse, schema check, conversion, checks. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a loaded config promises its users, whatever the file said. */
static void check_config(const struct config *c)
{
	if (c->log_level < 0 || c->log_level >= _LOG_LEVEL_MAX ||
	    c->control_port < 0 || c->control_port > 65535 || c->sip_port < 0 ||
	    c->sip_port > 65535 || c->limits.max_message < 1024 || c->limits.max_depth < 2 ||
	    c->limits.max_depth > 256 || c->limits.max_connections < 1 ||
	    c->limits.max_queue < 16)
		abort();
	for (size_t i = 0; i < c->n_devices; i++) {
		const struct config_device *d = &c->devices[i];

		if (!d->id || !d->wrapper || !device_mode_to_string(d->mode) ||
		    config_find_device(c, d->id) != d)
			abort();
		for (size_t j = 0; j < d->n_params; j++)
			if (!d->params[j].name || !d->params[j].value)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	char err[512];
	int r;

	r = config_load_buffer((const char *)data, size, "fuzz.xml", &c, err, sizeof(err));
	/* The contract of config_load_buffer(): a config or a "NAME:LINE: …" message. */
	if (r == 0 && !c)
		abort();
	if (r < 0 && strncmp(err, "fuzz.xml:", 9) != 0)
		abort();
	if (c)
		check_config(c);
	config_free(c);
	return 0;
}
