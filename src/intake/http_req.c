/*
 * http_req: a request's head, body and added answer headers.  See
 * http_req.h.  The head has passed http_head's strict check, so its line
 * ends are CRLF, no line is folded and every field name is a token: only the
 * request line is left to check here.
 */
#include "intake/http_req.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static enum http_method
method_of(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return HTTP_GET;
	if (strcmp(m, "POST") == 0)
		return HTTP_POST;
	if (strcmp(m, "HEAD") == 0)
		return HTTP_HEAD;
	return HTTP_OTHER;
}

/*
 * The path of a request target: origin form ("/p?q") as it is; absolute
 * form ("http://host/p?q", which a proxy may send) from its path on.
 */
static char *
target_path(char *target)
{
	char *p;

	if (*target == '/')
		return target;
	if (strncasecmp(target, "http://", 7) != 0 && strncasecmp(target, "https://", 8) != 0)
		return NULL;
	p = strchr(strchr(target, ':') + 3, '/');
	return p;	/* NULL: "http://host" alone, with no path */
}

/* "METHOD SP target SP HTTP/1.x"; 0 or -1 and *why. */
static int
request_line(struct http_req *hr, char *line, const char **why)
{
	char *target = strchr(line, ' '), *version, *path, *q;

	*why = "malformed request line";
	if (target == NULL || target == line)
		return -1;
	*target++ = '\0';
	version = strchr(target, ' ');
	if (version == NULL || version == target)
		return -1;
	*version++ = '\0';
	if (strncmp(version, "HTTP/1.", 7) != 0 || version[7] < '0' || version[7] > '9' ||
	    version[8] != '\0') {
		*why = "unsupported HTTP version";
		return -1;
	}
	hr->minor = version[7] - '0';
	hr->method = method_of(line);
	path = target_path(target);
	if (path == NULL)
		return -1;
	q = strchr(path, '?');
	if (q != NULL)
		*q++ = '\0';
	hr->path = path;
	hr->query = q;
	return 0;
}

/* "name: value": the value without the whitespace around it. */
static void
field(struct http_field *f, char *line)
{
	char *colon = strchr(line, ':'), *v, *end;

	*colon = '\0';	/* http_head saw the colon */
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	f->name = line;
	f->value = v;
}

int
http_req_take_head(struct http_req *hr, char *head, size_t len, const char **why)
{
	char *line, *eol;
	size_t n = 0, i;

	hr->head = head;
	hr->head_len = len;
	/* The head ends in CRLF CRLF: each CRLF ends a line, and the last line is empty. */
	for (i = 0; i + 1 < len; i++)
		n += head[i] == '\r' && head[i + 1] == '\n';
	hr->fields = xcalloc(n + 1, sizeof(*hr->fields));
	line = head;
	eol = strstr(line, "\r\n");
	*eol = '\0';
	if (request_line(hr, line, why) == -1)
		return -1;
	for (line = eol + 2; (eol = strstr(line, "\r\n")) != NULL && eol != line; line = eol + 2) {
		*eol = '\0';
		field(&hr->fields[hr->n_fields++], line);
	}
	return 0;
}

const char *
http_header(const struct http_req *hr, const char *name)
{
	size_t i;

	for (i = 0; i < hr->n_fields; i++)
		if (strcasecmp(hr->fields[i].name, name) == 0)
			return hr->fields[i].value;
	return NULL;
}

/* in[0..n) form-decoded into a new string (never longer than in). */
static char *
decoded(const char *in, size_t n)
{
	char *out = xmalloc(n + 1);
	long len = util_form_decode(in, n, out, n + 1);

	out[len < 0 ? 0 : len] = '\0';
	return out;
}

char *
http_query_param(const struct http_req *hr, const char *name)
{
	size_t nlen = strlen(name), len;
	const char *p = hr->query, *end;

	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
			return decoded(p + nlen + 1, len - nlen - 1);
		p = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

const char *
http_body(const struct http_req *hr, size_t *len)
{
	*len = hr->body_len;
	return hr->body != NULL ? hr->body : "";
}

void
http_add_header(struct http_req *hr, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);

	if (strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n: ") != NULL) {
		log_error("answer header %s dropped: its value has a line break", name);
		return;
	}
	hr->out_fields = xrealloc(hr->out_fields, hr->out_len + n + v + 5);
	memcpy(hr->out_fields + hr->out_len, name, n);
	memcpy(hr->out_fields + hr->out_len + n, ": ", 2);
	memcpy(hr->out_fields + hr->out_len + n + 2, value, v);
	memcpy(hr->out_fields + hr->out_len + n + 2 + v, "\r\n", 3);
	hr->out_len += n + v + 4;
}

/* p moved from the old head to the same place in the new one. */
static const char *
rebase(const char *p, const char *from, char *to)
{
	return p != NULL ? to + (p - from) : NULL;
}

struct http_req *
http_req_copy(const struct http_req *hr)
{
	struct http_req *c = xmalloc(sizeof(*c));
	size_t i;

	*c = *hr;
	c->conn = NULL;
	c->head = xmalloc(hr->head_len + 1);
	memcpy(c->head, hr->head, hr->head_len);
	c->head[hr->head_len] = '\0';
	c->path = rebase(hr->path, hr->head, c->head);
	c->query = rebase(hr->query, hr->head, c->head);
	c->fields = xcalloc(hr->n_fields + 1, sizeof(*c->fields));
	for (i = 0; i < hr->n_fields; i++) {
		c->fields[i].name = rebase(hr->fields[i].name, hr->head, c->head);
		c->fields[i].value = rebase(hr->fields[i].value, hr->head, c->head);
	}
	c->body = xmalloc(hr->body_len + 1);
	if (hr->body_len > 0)
		memcpy(c->body, hr->body, hr->body_len);
	c->body[hr->body_len] = '\0';
	c->out_fields = hr->out_len > 0 ? xstrndup(hr->out_fields, hr->out_len) : NULL;
	return c;
}

void
http_req_free(struct http_req *hr)
{
	if (hr == NULL)
		return;
	free(hr->head);
	free(hr->fields);
	free(hr->body);
	free(hr->out_fields);
	free(hr);
}
