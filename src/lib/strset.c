#include "lib/strset.h"
#include "lib/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each slot holds a key as its length (size_t) then its bytes, so that keys
 * may hold any byte, NUL included.
 */
static size_t
key_len(const char *slot)
{
	size_t n;

	memcpy(&n, slot, sizeof(n));
	return n;
}

static uint64_t
fnv1a(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The slot holding key, or the free slot where it would go; cap > 0. */
static size_t
find(char *const *slots, size_t cap, const char *key, size_t n)
{
	size_t i = (size_t)fnv1a(key, n) & (cap - 1);

	while (slots[i] != NULL && (key_len(slots[i]) != n ||
	    memcmp(slots[i] + sizeof(size_t), key, n) != 0))
		i = (i + 1) & (cap - 1);
	return i;
}

/* Doubles the table (at least 64 slots), keeping every key. */
static void
grow(struct strset *s)
{
	size_t cap = s->cap ? 2 * s->cap : 64, i;
	char **slots = xcalloc(cap, sizeof(*slots));

	for (i = 0; i < s->cap; i++)
		if (s->slots[i] != NULL)
			slots[find(slots, cap, s->slots[i] + sizeof(size_t),
			    key_len(s->slots[i]))] = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
}

int
strset_add(struct strset *s, const char *key, size_t n)
{
	size_t i;
	char *slot;

	/* At most half full: probes stay short. */
	if (2 * (s->n + 1) > s->cap)
		grow(s);
	i = find(s->slots, s->cap, key, n);
	if (s->slots[i] != NULL)
		return 0;
	slot = xmalloc(sizeof(size_t) + n);
	memcpy(slot, &n, sizeof(n));
	memcpy(slot + sizeof(size_t), key, n);
	s->slots[i] = slot;
	s->n++;
	return 1;
}

int
strset_has(const struct strset *s, const char *key, size_t n)
{
	return s->cap > 0 && s->slots[find(s->slots, s->cap, key, n)] != NULL;
}

void
strset_clear(struct strset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}
