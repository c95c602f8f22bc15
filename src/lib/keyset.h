/*
 * keyset: a set of 64-bit digests of keys (keyset_digest, FNV-1a), for the
 * few thousand keys a thread must look up faster than a query, in a few
 * bytes each and no allocation per key (store_sqlite_later.c: the grants
 * waiting to be listed).  A digest can collide: a caller that must be exact
 * confirms a hit elsewhere.  Open addressing, linear probing, at most half
 * full.  Not thread-safe.
 */
#ifndef REKEY_LIB_KEYSET_H
#define REKEY_LIB_KEYSET_H

#include <stddef.h>
#include <stdint.h>

struct keyset {
	uint64_t *slots;	/* 0: free (a digest of 0 is stored as 1) */
	size_t cap;		/* a power of two, or 0 */
	size_t n;
};

#define KEYSET_INIT { NULL, 0, 0 }

/* The digest of the n bytes at p (never 0). */
uint64_t keyset_digest(const void *p, size_t n);
/* The digest of a then b, as if a NUL stood between them. */
uint64_t keyset_digest2(const char *a, const char *b);
/* Adds d: 1, or 0 when it was there already. */
int keyset_add(struct keyset *s, uint64_t d);
int keyset_has(const struct keyset *s, uint64_t d);
/* Empties the set and gives its memory back. */
void keyset_clear(struct keyset *s);

#endif
