/*
 * http_head: a strict check of an HTTP/1.1 request head, fed as its bytes
 * arrive (intake/conn), before the head is split into a request
 * (intake/http_req).  A proxy in front may read leniently what rekey must
 * not (bare LF line ends, folded lines, a duplicate or signed
 * Content-Length, Transfer-Encoding beside Content-Length), and two parsers
 * that disagree on where a request ends let one request hide inside another:
 * so such a head is refused.  This module knows nothing of sockets: it sees
 * bytes only.
 */
#ifndef REKEY_LIB_HTTP_HEAD_H
#define REKEY_LIB_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

enum http_head_result {
	HTTP_HEAD_MORE,		/* the head has not ended yet */
	HTTP_HEAD_DONE,		/* the head ended and is acceptable */
	HTTP_HEAD_BAD		/* the head is malformed: answer 400 and close */
};

/* The checker's state; zeroed by http_head_init, no resources held. */
struct http_head {
	int state;		/* where in the head the next byte falls */
	int field;		/* the field whose value is being read */
	enum http_head_result result;
	const char *bad;	/* why, when result is HTTP_HEAD_BAD (a static string) */
	int too_large;		/* BAD because Content-Length is over 18 digits: a 413 */
	char name[20];		/* the field name so far, lower case, truncated */
	size_t name_len;
	char te[12];		/* the Transfer-Encoding value so far, lower case */
	size_t te_len;
	int n_content_length;
	int n_transfer_encoding;
	int digits;		/* digits of the Content-Length value so far */
	int after_digits;	/* whitespace seen after them */
	int64_t content_length;	/* -1 when absent */
};

void http_head_init(struct http_head *h);
/*
 * Checks the next n bytes of the head.  *used is how many belong to it: all
 * n while the result is HTTP_HEAD_MORE, up to and including the blank line
 * on HTTP_HEAD_DONE, up to the offending byte on HTTP_HEAD_BAD.  Once DONE or
 * BAD, further calls change nothing until http_head_init.
 */
enum http_head_result http_head_feed(struct http_head *h, const char *p, size_t n,
    size_t *used);

#endif
