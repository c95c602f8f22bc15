/*
 * wbuf: a growable byte buffer for request bodies that carry secrets (a
 * client secret in a token request, a connector update, a subscription's
 * clientState).  Every byte it ever held is wiped: when it grows the old
 * block is cleansed before it is freed, and wbuf_clear cleanses the rest.
 * Encoders append a value form-encoded or as a JSON string, so that a
 * secret never passes through an allocator that does not wipe.
 */
#ifndef REKEY_LIB_WBUF_H
#define REKEY_LIB_WBUF_H

#include <stddef.h>

struct secret;

struct wbuf {
	unsigned char *data;	/* NUL-terminated when not NULL */
	size_t len;
	size_t cap;
};

#define WBUF_INIT { NULL, 0, 0 }

void wbuf_add(struct wbuf *b, const void *p, size_t n);
void wbuf_add_str(struct wbuf *b, const char *s);
/* Percent-encodes every byte but RFC 3986's unreserved ones (ALPHA DIGIT - . _ ~). */
void wbuf_add_escaped(struct wbuf *b, const void *p, size_t n);
/* Appends p as a quoted JSON string (", \ and control characters escaped). */
void wbuf_add_json_string(struct wbuf *b, const void *p, size_t n);
/* Moves the content into a new secret (an empty one when nothing was added) and clears b. */
struct secret *wbuf_to_secret(struct wbuf *b);
/* Returns the content as a string (caller frees) and clears b: for text that is not secret. */
char *wbuf_to_str(struct wbuf *b);
/* Wipes and frees the content; b can be reused. */
void wbuf_clear(struct wbuf *b);

#endif
