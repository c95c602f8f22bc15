/*
 * http_chunked: a strict decoder of a chunked request body (RFC 9112
 * section 7.1), fed as its bytes arrive.  Chunk extensions are skipped,
 * trailer fields read and dropped; a bare LF, a size that is not hex or a
 * body over the limit ends the request.  Bytes only: no sockets.
 */
#ifndef REKEY_LIB_HTTP_CHUNKED_H
#define REKEY_LIB_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

enum http_chunked_result {
	HTTP_CHUNKED_MORE,	/* the body has not ended yet */
	HTTP_CHUNKED_DONE,	/* the last chunk and the trailer have been read */
	HTTP_CHUNKED_BAD,	/* malformed: answer 400 and close */
	HTTP_CHUNKED_TOO_LARGE	/* the decoded body is over the limit: 413 */
};

struct http_chunked {
	int state;
	uint64_t left;		/* bytes of the current chunk still to come */
	int digits;		/* hex digits of the size line so far */
	size_t line;		/* bytes of the current extension or trailer line */
	size_t max;		/* the decoded body's limit */
	enum http_chunked_result result;
	const char *bad;	/* why, when BAD or TOO_LARGE (a static string) */
	char *data;		/* the decoded body so far, NUL-terminated when not NULL */
	size_t len;
	size_t cap;
};

void http_chunked_init(struct http_chunked *c, size_t max);
/*
 * Decodes the next n bytes.  *used is how many belong to the body: all n
 * while MORE, up to the trailer's end on DONE, up to the offending byte on
 * BAD or TOO_LARGE.  Once it is not MORE, further calls change nothing.
 */
enum http_chunked_result http_chunked_feed(struct http_chunked *c, const char *p, size_t n,
    size_t *used);
/* Takes the decoded body (caller frees; never NULL) and its length; c is cleared. */
char *http_chunked_take(struct http_chunked *c, size_t *len);
void http_chunked_clear(struct http_chunked *c);

#endif
