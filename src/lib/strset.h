/*
 * strset: a set of strings, for the few thousand keys a thread must look up
 * faster than a query (store_sqlite_later.c: the grants waiting to be
 * listed).  Open addressing with linear probing, FNV-1a; the set copies its
 * keys.  Not thread-safe; grows, never shrinks but on strset_clear.
 */
#ifndef REKEY_LIB_STRSET_H
#define REKEY_LIB_STRSET_H

#include <stddef.h>

struct strset {
	char **slots;		/* NULL: free */
	size_t cap;		/* a power of two, or 0 */
	size_t n;
};

#define STRSET_INIT { NULL, 0, 0 }

/* Adds a copy of the n bytes at key: 1, or 0 when they were in the set already. */
int strset_add(struct strset *s, const char *key, size_t n);
/* Whether the n bytes at key are in the set. */
int strset_has(const struct strset *s, const char *key, size_t n);
/* Empties the set (its memory goes back too). */
void strset_clear(struct strset *s);

#endif
