/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reference-counted allocations: a header before the object holds the count and destructor. */
#include "config.h"

#include <stdlib.h>

#include "core.h"

struct mem_hdr {
	size_t refs;
	mem_destroy_h *dh;
	max_align_t align[]; /* the object starts here, suitably aligned */
};

static size_t live;

static struct mem_hdr *hdr_of(void *data)
{
	return (struct mem_hdr *)((char *)data - offsetof(struct mem_hdr, align));
}

void *mem_zalloc(size_t size, mem_destroy_h *dh)
{
	struct mem_hdr *h = calloc(1, sizeof(*h) + size);

	if (!h)
		return NULL;
	h->refs = 1;
	h->dh = dh;
	live++;
	/* The object is the tail of h; mem_deref() finds h again through hdr_of(). */
	// cppcheck-suppress memleak
	return h->align;
}

void *mem_ref(void *data)
{
	if (data)
		hdr_of(data)->refs++;
	return data;
}

void *mem_deref(void *data)
{
	struct mem_hdr *h;

	if (!data)
		return NULL;
	h = hdr_of(data);
	if (--h->refs > 0)
		return NULL;
	if (h->dh)
		h->dh(data);
	live--;
	free(h);
	return NULL;
}

size_t mem_live_objects(void)
{
	return live;
}
