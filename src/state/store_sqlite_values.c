/*
 * store_sqlite_values: app_values, the small per-app facts other modules
 * keep under their own keys (store_get_value, store_put_value).
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_sqlite_int.h"

int
sqlite_get_value(void *db, const char *app, const char *key, char **out)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT value FROM app_values WHERE app = ?1 AND key = ?2");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = column_dup(st, 0);
	else if (rc != SQLITE_DONE)
		log_error("store: get value: %s", sqlite3_errmsg(s->db));
	sqlite_finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sqlite_put_value(void *db, const char *app, const char *key, const char *value)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT OR REPLACE INTO app_values (app, key, value,"
	    " updated_ms) VALUES (?1, ?2, ?3, ?4)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, key);
	bind_text(st, 3, value);
	sqlite3_bind_int64(st, 4, util_now_ms());
	return sqlite_run_done(s, st, "put value");
}

int
sqlite_list_values(void *db, const char *app, const char *prefix, size_t max,
    struct store_value **out, size_t *n)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT key, value, app FROM app_values"
	    " WHERE (?1 IS NULL OR app = ?1) AND substr(key, 1, length(?2)) = ?2"
	    " ORDER BY updated_ms DESC, key, app LIMIT ?3");
	int rc = SQLITE_DONE;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, prefix);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		(*out)[*n].key = column_dup(st, 0);
		(*out)[*n].app = column_dup(st, 2);
		(*out)[(*n)++].value = column_dup(st, 1);
	}
	sqlite_finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}
