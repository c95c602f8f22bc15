#include "lib/keyset.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* 0 marks a free slot. */
static uint64_t
nonzero(uint64_t h)
{
	return h != 0 ? h : 1;
}

uint64_t
keyset_digest(const void *p, size_t n)
{
	return nonzero(fnv1a(FNV_OFFSET, p, n));
}

uint64_t
keyset_digest2(const char *a, const char *b)
{
	uint64_t h = fnv1a(FNV_OFFSET, a, strlen(a) + 1);

	return nonzero(fnv1a(h, b, strlen(b)));
}

/*
 * The slot holding d, or the free slot where it would go; cap > 0.  FNV's
 * low bits mix poorly: the slot comes from the digest's high bits, mixed.
 */
static size_t
find(const uint64_t *slots, size_t cap, uint64_t d)
{
	size_t i = (size_t)((d * 0x9e3779b97f4a7c15ULL) >> 32) & (cap - 1);

	while (slots[i] != 0 && slots[i] != d)
		i = (i + 1) & (cap - 1);
	return i;
}

static void
grow(struct keyset *s)
{
	size_t cap = s->cap ? 2 * s->cap : 64, i;
	uint64_t *slots = xcalloc(cap, sizeof(*slots));

	for (i = 0; i < s->cap; i++)
		if (s->slots[i] != 0)
			slots[find(slots, cap, s->slots[i])] = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
}

int
keyset_add(struct keyset *s, uint64_t d)
{
	size_t i;

	d = nonzero(d);
	if (2 * (s->n + 1) > s->cap)
		grow(s);
	i = find(s->slots, s->cap, d);
	if (s->slots[i] == d)
		return 0;
	s->slots[i] = d;
	s->n++;
	return 1;
}

int
keyset_has(const struct keyset *s, uint64_t d)
{
	return s->cap > 0 && s->slots[find(s->slots, s->cap, nonzero(d))] != 0;
}

void
keyset_clear(struct keyset *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}
