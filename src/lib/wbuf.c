#include "lib/wbuf.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const char hexdigits[] = "0123456789ABCDEF";

/* Makes room for n more bytes plus the terminator, wiping the block it leaves. */
static void
reserve(struct wbuf *b, size_t n)
{
	unsigned char *p;
	size_t cap;

	if (n > SIZE_MAX / 2 - b->len)
		abort();
	if (b->len + n + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = xmalloc(cap);
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
}

void
wbuf_add(struct wbuf *b, const void *p, size_t n)
{
	reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
wbuf_add_str(struct wbuf *b, const char *s)
{
	wbuf_add(b, s, strlen(s));
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_' || c == '~';
}

void
wbuf_add_escaped(struct wbuf *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned char enc[3];
	size_t i;

	for (i = 0; i < n; i++) {
		if (unreserved(s[i])) {
			wbuf_add(b, &s[i], 1);
			continue;
		}
		enc[0] = '%';
		enc[1] = (unsigned char)hexdigits[s[i] >> 4];
		enc[2] = (unsigned char)hexdigits[s[i] & 0xf];
		wbuf_add(b, enc, sizeof(enc));
	}
	/* enc held a piece of the value, which may be a secret. */
	OPENSSL_cleanse(enc, sizeof(enc));
}

/* The two-character escape of c, or NULL when c needs \u00XX or nothing. */
static const char *
json_short_escape(unsigned char c)
{
	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\b': return "\\b";
	case '\f': return "\\f";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	default: return NULL;
	}
}

void
wbuf_add_json_string(struct wbuf *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned char u[6] = { '\\', 'u', '0', '0', 0, 0 };
	const char *esc;
	size_t i;

	wbuf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		esc = json_short_escape(s[i]);
		if (esc != NULL) {
			wbuf_add(b, esc, 2);
		} else if (s[i] < 0x20) {
			u[4] = (unsigned char)hexdigits[s[i] >> 4];
			u[5] = (unsigned char)hexdigits[s[i] & 0xf];
			wbuf_add(b, u, sizeof(u));
		} else {
			wbuf_add(b, &s[i], 1);
		}
	}
	wbuf_add(b, "\"", 1);
	OPENSSL_cleanse(u, sizeof(u));
}

struct secret *
wbuf_to_secret(struct wbuf *b)
{
	struct secret *s = secret_new(b->data != NULL ? (const void *)b->data : "", b->len);

	wbuf_clear(b);
	return s;
}

char *
wbuf_to_str(struct wbuf *b)
{
	char *s = xstrndup(b->data != NULL ? (const char *)b->data : "", b->len);

	wbuf_clear(b);
	return s;
}

void
wbuf_clear(struct wbuf *b)
{
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}
