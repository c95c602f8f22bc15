/*
 * store_sqlite_rotations: the rotations table, one row per rotation of an
 * app's secret, written whole at every step.
 */
#include "lib/log.h"
#include "state/store_sqlite_int.h"

#include <stdio.h>

static const char rotation_columns[] = "id, app, state, reason, incident_id, dry_run, approved,"
    " old_key_id, new_key_id, new_hint, new_end, secret_ct, lifetime, attempts, next_at,"
    " last_error, created_at, updated_at, published_at, retire_at, test_ok, test_since";

int
sqlite_put_rotation(void *db, const struct store_rotation *r)
{
	struct sqlite_db *s = db;
	char sql[512];
	sqlite3_stmt *st;

	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO rotations (%s) VALUES (?1, ?2, ?3, ?4,"
	    " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
	    rotation_columns);
	if ((st = sqlite_prepare(s, sql)) == NULL)
		return -1;
	bind_text(st, 1, r->id);
	bind_text(st, 2, r->app);
	bind_text(st, 3, r->state);
	bind_text(st, 4, r->reason);
	bind_text(st, 5, r->incident_id);
	sqlite3_bind_int(st, 6, r->dry_run);
	sqlite3_bind_int(st, 7, r->approved);
	bind_text(st, 8, r->old_key_id);
	bind_text(st, 9, r->new_key_id);
	bind_text(st, 10, r->new_hint);
	sqlite3_bind_int64(st, 11, r->new_end);
	if (r->secret_ct != NULL)
		sqlite3_bind_blob(st, 12, r->secret_ct, (int)r->secret_ct_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_int64(st, 13, r->lifetime);
	sqlite3_bind_int(st, 14, r->attempts);
	sqlite3_bind_int64(st, 15, r->next_at);
	bind_text(st, 16, r->last_error);
	sqlite3_bind_int64(st, 17, r->created_at);
	sqlite3_bind_int64(st, 18, r->updated_at);
	sqlite3_bind_int64(st, 19, r->published_at);
	sqlite3_bind_int64(st, 20, r->retire_at);
	sqlite3_bind_int(st, 21, r->test_ok);
	sqlite3_bind_int64(st, 22, r->test_since);
	return sqlite_run_done(s, st, "put rotation");
}

static void
read_rotation(sqlite3_stmt *st, struct store_rotation *r)
{
	const void *ct = sqlite3_column_blob(st, 11);

	r->id = column_dup(st, 0);
	r->app = column_dup(st, 1);
	r->state = column_dup(st, 2);
	r->reason = column_dup(st, 3);
	r->incident_id = column_dup(st, 4);
	r->dry_run = sqlite3_column_int(st, 5);
	r->approved = sqlite3_column_int(st, 6);
	r->old_key_id = column_dup(st, 7);
	r->new_key_id = column_dup(st, 8);
	r->new_hint = column_dup(st, 9);
	r->new_end = sqlite3_column_int64(st, 10);
	r->secret_ct_len = (size_t)sqlite3_column_bytes(st, 11);
	if (ct != NULL && r->secret_ct_len > 0) {
		r->secret_ct = xmalloc(r->secret_ct_len);
		memcpy(r->secret_ct, ct, r->secret_ct_len);
	} else {
		r->secret_ct_len = 0;
	}
	r->lifetime = sqlite3_column_int64(st, 12);
	r->attempts = sqlite3_column_int(st, 13);
	r->next_at = sqlite3_column_int64(st, 14);
	r->last_error = column_dup(st, 15);
	r->created_at = sqlite3_column_int64(st, 16);
	r->updated_at = sqlite3_column_int64(st, 17);
	r->published_at = sqlite3_column_int64(st, 18);
	r->retire_at = sqlite3_column_int64(st, 19);
	r->test_ok = sqlite3_column_int(st, 20);
	r->test_since = sqlite3_column_int64(st, 21);
}

int
sqlite_get_rotation(void *db, const char *id, struct store_rotation *out)
{
	struct sqlite_db *s = db;
	char sql[512];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT %s FROM rotations WHERE id = ?1", rotation_columns);
	if ((st = sqlite_prepare(s, sql)) == NULL)
		return -1;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_rotation(st, out);
	else if (rc != SQLITE_DONE)
		log_error("store: get rotation: %s", sqlite3_errmsg(s->db));
	sqlite_finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sqlite_list_rotations(void *db, const char *app, int unfinished, size_t max,
    struct store_rotation **out, size_t *n)
{
	struct sqlite_db *s = db;
	char sql[640];
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	snprintf(sql, sizeof(sql), "SELECT %s FROM rotations WHERE (?1 IS NULL OR app = ?1)"
	    " AND (?2 = 0 OR state NOT IN ('done', 'failed')) ORDER BY created_at DESC, id"
	    " LIMIT ?3", rotation_columns);
	if ((st = sqlite_prepare(s, sql)) == NULL)
		return -1;
	bind_text(st, 1, app);
	sqlite3_bind_int(st, 2, unfinished);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_rotation(st, &(*out)[(*n)++]);
	sqlite_finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}
