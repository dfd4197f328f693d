/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the RFC 5547 SDP parser and the file-selector grammar
 * (daemon/transfer/sdp.c). Whatever parses must write back and parse again to the same
 * values (the writer percent-encodes what the parser decodes).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transfer/transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void selector_round_trip(const struct transfer_file_selector *sel)
{
	struct transfer_file_selector back;
	char buf[2048];
	int n = transfer_file_selector_format(buf, sizeof(buf), sel);

	if (n < 0)
		abort(); /* a parsed selector always fits */
	if (transfer_file_selector_parse(buf, (size_t)n, &back) < 0)
		abort();
	if (back.has != sel->has || strcmp(back.name, sel->name) || strcmp(back.type, sel->type) ||
	    back.size != sel->size || memcmp(back.sha256, sel->sha256, sizeof(back.sha256)) ||
	    memcmp(back.sha1, sel->sha1, sizeof(back.sha1)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct transfer_file_selector sel;
	struct transfer_sdp s, ans = { 0 };
	char out[TRANSFER_SDP_MAX * 2];

	if (transfer_file_selector_parse((const char *)data, size, &sel) == 0)
		selector_round_trip(&sel);
	if (transfer_sdp_parse((const char *)data, size, &s) < 0)
		return 0;
	selector_round_trip(&s.sel);
	if (transfer_sdp_format(out, sizeof(out), &s) < 0)
		abort();
	transfer_sdp_answer(&s, &ans);
	return 0;
}
