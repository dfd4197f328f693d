/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for what we read of DNS answers ourselves (daemon/sip/resolve.c):
 * the TTL walk over the answer section, then c-ares's SRV/A/AAAA parsers into our
 * bounded records. Whatever parses must stay within the bounds we keep.
 */
#include "config.h"

#include <arpa/nameser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { T_SRV, T_A, T_AAAA };
	struct sip_dns_entry e;

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (sip_dns_parse(types[i], data, size, &e) < 0)
			continue;
		if (e.n > SIP_DNS_MAX_ANSWERS || e.ttl > SIP_DNS_MAX_TTL)
			abort();
		for (unsigned k = 0; k < e.n; k++)
			if (types[i] == T_SRV ? !memchr(e.rr[k].target, '\0', sizeof(e.rr[k].target))
					      : e.rr[k].addr_len == 0)
				abort();
	}
	return 0;
}
