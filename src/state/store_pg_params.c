/*
 * store_pg_params: a statement's parameters (as text, bytea binary) and
 * reading its results, for the files of the PostgreSQL backend.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
param(struct pg_params *p, const char *v, int len, int format)
{
	if (p->n >= PG_PARAMS_MAX)
		fatal("store: more than %d parameters in a statement", PG_PARAMS_MAX);
	p->values[p->n] = v;
	p->lengths[p->n] = len;
	p->formats[p->n] = format;
	p->n++;
}

void
pg_text(struct pg_params *p, const char *v)
{
	param(p, v, 0, 0);
}

void
pg_int(struct pg_params *p, int64_t v)
{
	char *buf = p->numbers[p->n < PG_PARAMS_MAX ? p->n : 0];

	snprintf(buf, sizeof(p->numbers[0]), "%lld", (long long)v);
	param(p, buf, 0, 0);
}

void
pg_opt_int(struct pg_params *p, int64_t v)
{
	if (v < 0)
		param(p, NULL, 0, 0);
	else
		pg_int(p, v);
}

void
pg_bytea(struct pg_params *p, const void *data, size_t len)
{
	if (len > INT32_MAX)
		fatal("store: a value of %zu bytes", len);
	param(p, data != NULL ? data : "", (int)len, 1);
}

char *
pg_get_dup(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

int64_t
pg_get_int(const PGresult *r, int row, int col)
{
	const char *v;
	char *end;
	long long n;

	if (PQntuples(r) <= row || PQgetisnull(r, row, col))
		return 0;
	v = PQgetvalue(r, row, col);
	n = strtoll(v, &end, 10);
	/* Booleans come as t and f. */
	if (end == v)
		return *v == 't';
	return n;
}

int64_t
pg_get_opt_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? -1 : pg_get_int(r, row, col);
}

char *
pg_get_bytea(const PGresult *r, int row, int col, size_t *len)
{
	unsigned char *raw;
	char *out;
	size_t n = 0;

	*len = 0;
	if (PQgetisnull(r, row, col))
		return NULL;
	raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
	if (raw == NULL)
		fatal("out of memory");
	out = xmalloc(n + 1);
	memcpy(out, raw, n);
	out[n] = '\0';
	*len = n;
	PQfreemem(raw);
	return out;
}
