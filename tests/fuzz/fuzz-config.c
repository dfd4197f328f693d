/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the config loader: parse, schema check, conversion, checks. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	if (c && c->n_devices > 0 && !config_find_device(c, c->devices[0].id))
		abort();
	config_free(c);
	return 0;
}
