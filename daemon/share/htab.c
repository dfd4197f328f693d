/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A chained hash table whose nodes live inside the objects they index, so lookups by
 * content hash, path, keyword and inotify wd are O(1) without extra allocations. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "share/share-private.h"

uint64_t htab_hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int htab_init(struct htab *t, size_t n_b)
{
	size_t n = 16;

	while (n < n_b)
		n <<= 1;
	t->b = calloc(n, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->n_b = n;
	t->count = 0;
	return 0;
}

void htab_done(struct htab *t)
{
	free(t->b);
	*t = (struct htab){0};
}

/* Doubling keeps chains short; if memory is short we keep the longer chains. */
static void grow(struct htab *t)
{
	size_t n = t->n_b * 2;
	struct hnode **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->n_b; i++)
		for (struct hnode *x = t->b[i], *next; x; x = next) {
			next = x->next;
			x->next = b[x->hash & (n - 1)];
			b[x->hash & (n - 1)] = x;
		}
	free(t->b);
	t->b = b;
	t->n_b = n;
}

void htab_insert(struct htab *t, struct hnode *n, uint64_t hash)
{
	struct hnode **head;

	if (t->count >= t->n_b)
		grow(t);
	head = &t->b[hash & (t->n_b - 1)];
	n->hash = hash;
	n->next = *head;
	*head = n;
	t->count++;
}

void htab_remove(struct htab *t, struct hnode *n)
{
	for (struct hnode **pp = &t->b[n->hash & (t->n_b - 1)]; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
}

struct hnode *htab_bucket(const struct htab *t, uint64_t hash)
{
	return t->b[hash & (t->n_b - 1)];
}
