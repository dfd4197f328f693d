/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the MSRP chunk parser (daemon/transfer/msrp.c), fed the way a
 * receiver feeds it: bytes appended to a bounded buffer, unconsumed bytes kept in front.
 * The first input byte picks the piece size (0: byte by byte, n: 2^(n%16)), so the fuzzer
 * explores split points as well as content. Checks: every event stays inside the buffer,
 * nothing is consumed twice, body bytes never exceed the input.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transfer/transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BUF (2 * TRANSFER_MSRP_HEAD_MAX)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[BUF];
	struct transfer_msrp_parser p;
	size_t piece, off = 1, fill = 0, body = 0;

	if (size < 1)
		return 0;
	piece = (size_t)1 << (data[0] % 16);
	transfer_msrp_parser_init(&p);
	while (off < size || fill > 0) {
		size_t take = size - off < piece ? size - off : piece, pos = 0;

		if (take > BUF - fill)
			take = BUF - fill;
		memcpy(buf + fill, data + off, take);
		fill += take;
		off += take;
		for (;;) {
			struct transfer_msrp_event ev;
			ssize_t n = transfer_msrp_parse(&p, buf + pos, fill - pos, &ev);

			if (n < 0)
				return 0; /* refused: a receiver closes the connection */
			if ((size_t)n > fill - pos)
				abort();
			if (ev.type == TRANSFER_MSRP_EV_DATA) {
				if (ev.data != buf + pos || ev.len != (size_t)n || ev.len == 0)
					abort();
				body += ev.len;
			}
			if (ev.type == TRANSFER_MSRP_EV_END && ev.flag != '$' && ev.flag != '+' &&
			    ev.flag != '#')
				abort();
			pos += (size_t)n;
			if (ev.type == TRANSFER_MSRP_EV_NONE && n == 0)
				break;
		}
		memmove(buf, buf + pos, fill - pos);
		fill -= pos;
		if (take == 0)
			break; /* the rest is a head too big for the buffer, or a held-back tail */
	}
	if (body > size)
		abort();
	return 0;
}
