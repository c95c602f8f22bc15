/*
 * secret: the one type that holds secret material.  Wiped on free, never
 * formatted into a log line or an error message, compared in constant time.
 */
#ifndef REKEY_LIB_SECRET_H
#define REKEY_LIB_SECRET_H

#include <stddef.h>

struct secret {
	size_t len;
	unsigned char *data;	/* len bytes, NUL-terminated for convenience */
};

struct secret *secret_new(const void *data, size_t len);
/* Wipes and frees; NULL is a no-op. */
void secret_free(struct secret *s);
/* 1 when equal (constant time in the shorter length), else 0. */
int secret_equal(const struct secret *a, const void *data, size_t len);

/*
 * Checks that path is a regular file, readable, with no access for others
 * and at most read access for its group, and that a group-readable file is
 * owned by root or by the effective user (the service user).  On failure
 * returns -1 and sets *err (caller frees), naming the accepted modes.
 */
int secret_file_check(const char *path, char **err);

/* Reads the first line of path (a trailing newline is not part of it). */
struct secret *secret_read_file(const char *path, char **err);

/* Reads every non-empty line of path into *out (caller frees each and the array). */
int secret_read_lines(const char *path, struct secret ***out, size_t *n, char **err);
void secret_list_free(struct secret **list, size_t n);

#endif
