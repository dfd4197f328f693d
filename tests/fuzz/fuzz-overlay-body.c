/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the overlay's bodies (application/sipsvc-peers+xml and
 * application/sipsvc-query+xml): what any peer on the network may send us. The first
 * byte picks the parser (0: peer list, 1: query, 2: hit); the rest is the body.
 * Whatever parses must serialise and parse back to the same thing, within the limits. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "overlay/overlay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_peers(const struct overlay_peers *m)
{
	struct overlay_peers back;
	char *buf;
	size_t len;

	if (m->n > OVERLAY_PEERLIST_MAX || !overlay_contact_valid(m->from.contact))
		abort();
	if (overlay_peers_to_xml(m, &buf, &len) < 0)
		abort();
	if (overlay_peers_from_xml(buf, len, &back) < 0 || back.n != m->n || back.kind != m->kind ||
	    overlay_id_cmp(&back.from.id, &m->from.id) != 0)
		abort();
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(back.peers[i].contact, m->peers[i].contact) != 0)
			abort();
	free(buf);
}

static void check_query(const struct overlay_query *q)
{
	struct overlay_query back;
	char *buf;
	size_t len;

	if (q->ttl == 0 || q->ttl > OVERLAY_TTL_MAX || !q->keywords[0])
		abort();
	if (overlay_query_to_xml(q, &buf, &len) < 0)
		abort();
	if (overlay_query_from_xml(buf, len, &back) < 0 || back.ttl != q->ttl ||
	    strcmp(back.keywords, q->keywords) != 0)
		abort();
	free(buf);
}

static void check_hit(const struct overlay_hit *h)
{
	struct overlay_hit *back = malloc(sizeof(*back));
	char *buf;
	size_t len;

	if (!back || h->n == 0 || h->n > OVERLAY_HIT_FILES_MAX)
		abort();
	if (overlay_hit_to_xml(h, &buf, &len) < 0)
		abort();
	if (overlay_hit_from_xml(buf, len, back) < 0 || back->n != h->n)
		abort();
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(back->files[i].name, h->files[i].name) != 0 ||
		    back->files[i].size != h->files[i].size)
			abort();
	free(back);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct overlay_peers m;
	static struct overlay_query q;
	static struct overlay_hit h;
	const char *body = (const char *)data + 1;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (overlay_peers_from_xml(body, size - 1, &m) == 0)
			check_peers(&m);
		break;
	case 1:
		if (overlay_query_from_xml(body, size - 1, &q) == 0)
			check_query(&q);
		break;
	default:
		if (overlay_hit_from_xml(body, size - 1, &h) == 0)
			check_hit(&h);
	}
	return 0;
}
