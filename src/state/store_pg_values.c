/*
 * store_pg_values: app_values on PostgreSQL, the small per-app facts other
 * modules keep under their own keys (store_get_value, store_put_value).
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_pg_int.h"

#include <string.h>

int
pg_get_value(void *db, const char *app, const char *key, char **out)
{
	struct pg_params p;
	PGresult *r;
	int found;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_text(&p, key);
	r = pg_run(db, "get value", "SELECT value FROM app_values WHERE app = $1::text"
	    " AND key = $2::text", &p);
	if (r == NULL)
		return -1;
	found = PQntuples(r) > 0;
	if (found)
		*out = pg_get_dup(r, 0, 0);
	PQclear(r);
	return found;
}

int
pg_put_value(void *db, const char *app, const char *key, const char *value)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_text(&p, key);
	pg_text(&p, value);
	pg_int(&p, util_now_ms());
	return pg_run_done(db, "put value", "INSERT INTO app_values (app, key, value, updated_ms)"
	    " VALUES ($1::text, $2::text, $3::text, $4::bigint) ON CONFLICT (app, key) DO UPDATE"
	    " SET value = excluded.value, updated_ms = excluded.updated_ms", &p, NULL);
}

int
pg_list_values(void *db, const char *app, const char *prefix, size_t max,
    struct store_value **out, size_t *n)
{
	struct pg_params p;
	PGresult *r;
	int i, rows;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_text(&p, prefix);
	pg_int(&p, (int64_t)max);
	/* A prefix compared as such, not a LIKE pattern (it may hold % and _). */
	r = pg_run(db, "list values", "SELECT key, value, app FROM app_values"
	    " WHERE ($1::text IS NULL OR app = $1::text) AND left(key, length($2::text)) = $2::text"
	    " ORDER BY updated_ms DESC, key, app LIMIT $3::bigint", &p);
	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	for (i = 0; i < rows && *n < max; i++) {
		(*out)[*n].key = pg_get_dup(r, i, 0);
		(*out)[*n].app = pg_get_dup(r, i, 2);
		(*out)[(*n)++].value = pg_get_dup(r, i, 1);
	}
	PQclear(r);
	return 0;
}
