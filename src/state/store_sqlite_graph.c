/*
 * store_sqlite_graph: the Graph worker's and the subscription manager's
 * state: the subscription of each app, what rekey last saw of directory
 * users (graph_users), the user-side evidence (user_events) and the
 * validationTokens of Graph's batches (graph_tokens).  Few rows, so plain
 * statements.
 */
#include "lib/log.h"
#include "state/store_sqlite_int.h"

int
sqlite_get_subscription(void *db, const char *app, struct store_subscription *out)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT app, id, resource, notification_url, expiration,"
	    " created_at, renewed_at, resync_at FROM subscriptions WHERE app = ?1");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->app = column_dup(st, 0);
		out->id = column_dup(st, 1);
		out->resource = column_dup(st, 2);
		out->notification_url = column_dup(st, 3);
		out->expiration = sqlite3_column_int64(st, 4);
		out->created_at = sqlite3_column_int64(st, 5);
		out->renewed_at = sqlite3_column_int64(st, 6);
		out->resync_at = sqlite3_column_int64(st, 7);
	} else if (rc != SQLITE_DONE) {
		log_error("store: get subscription: %s", sqlite3_errmsg(s->db));
	}
	sqlite_finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sqlite_put_subscription(void *db, const struct store_subscription *sub)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT OR REPLACE INTO subscriptions (app, id, resource,"
	    " notification_url, expiration, created_at, renewed_at, resync_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, sub->app);
	bind_text(st, 2, sub->id);
	bind_text(st, 3, sub->resource);
	bind_text(st, 4, sub->notification_url);
	sqlite3_bind_int64(st, 5, sub->expiration);
	sqlite3_bind_int64(st, 6, sub->created_at);
	sqlite3_bind_int64(st, 7, sub->renewed_at);
	sqlite3_bind_int64(st, 8, sub->resync_at);
	return sqlite_run_done(s, st, "put subscription");
}

int
sqlite_delete_subscription(void *db, const char *app)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "DELETE FROM subscriptions WHERE app = ?1");

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	return sqlite_run_done(s, st, "delete subscription");
}

int
sqlite_get_user(void *db, const char *app, const char *user_id, struct store_user *out)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT app, user_id, mail, upn, account_enabled, deleted,"
	    " sessions_valid_from, last_password_change, updated_ms FROM graph_users"
	    " WHERE app = ?1 AND user_id = ?2");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, user_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->app = column_dup(st, 0);
		out->user_id = column_dup(st, 1);
		out->mail = column_dup(st, 2);
		out->upn = column_dup(st, 3);
		out->account_enabled = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 :
		    sqlite3_column_int(st, 4);
		out->deleted = sqlite3_column_int(st, 5);
		out->sessions_valid_from = sqlite3_column_int64(st, 6);
		out->last_password_change = sqlite3_column_int64(st, 7);
		out->updated_ms = sqlite3_column_int64(st, 8);
	} else if (rc != SQLITE_DONE) {
		log_error("store: get user: %s", sqlite3_errmsg(s->db));
	}
	sqlite_finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sqlite_put_user(void *db, const struct store_user *u)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT OR REPLACE INTO graph_users (app, user_id, mail, upn,"
	    " account_enabled, deleted, sessions_valid_from, last_password_change, updated_ms)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, u->app);
	bind_text(st, 2, u->user_id);
	bind_text(st, 3, u->mail);
	bind_text(st, 4, u->upn);
	bind_opt_int(st, 5, u->account_enabled);
	sqlite3_bind_int(st, 6, u->deleted);
	sqlite3_bind_int64(st, 7, u->sessions_valid_from);
	sqlite3_bind_int64(st, 8, u->last_password_change);
	sqlite3_bind_int64(st, 9, u->updated_ms);
	return sqlite_run_done(s, st, "put user");
}

int
sqlite_put_graph_tokens(void *db, const char *digest, const char *tokens, size_t len,
    int64_t now_ms, int64_t keep_ms)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT OR IGNORE INTO graph_tokens (digest, tokens,"
	    " created_ms) VALUES (?1, ?2, ?3)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, digest);
	sqlite3_bind_blob(st, 2, tokens, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	if (sqlite_run_done(s, st, "put graph tokens") == -1)
		return -1;
	st = sqlite_prepare(s, "DELETE FROM graph_tokens WHERE created_ms < ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms - keep_ms);
	return sqlite_run_done(s, st, "prune graph tokens");
}

int
sqlite_get_graph_tokens(void *db, const char *digest, char **out, size_t *len)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT tokens FROM graph_tokens WHERE digest = ?1");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, digest);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = column_blob_dup(st, 0, len);
	else if (rc != SQLITE_DONE)
		log_error("store: get graph tokens: %s", sqlite3_errmsg(s->db));
	sqlite_finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sqlite_add_user_event(void *db, const struct store_user_event *ev)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT INTO user_events (app, user_id, email, kind,"
	    " observed_ms, changed_at, source_event, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, ev->app);
	bind_text(st, 2, ev->user_id);
	bind_text(st, 3, ev->email);
	bind_text(st, 4, ev->kind);
	sqlite3_bind_int64(st, 5, ev->observed_ms);
	sqlite3_bind_int64(st, 6, ev->changed_at);
	bind_opt_int(st, 7, ev->source_event);
	bind_text(st, 8, ev->evidence);
	return sqlite_run_done(s, st, "add user event");
}

int64_t
sqlite_count_user_events(void *db, const char *app, const char *kind)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT count(*) FROM user_events"
	    " WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR kind = ?2)");

	if (st != NULL) {
		bind_text(st, 1, app);
		bind_text(st, 2, kind);
	}
	return sqlite_run_count(s, st);
}

int64_t
sqlite_recent_user_event(void *db, const char *app, const char *email, int64_t since_ms,
    char **kind, char **evidence)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT observed_ms, kind, evidence FROM user_events"
	    " WHERE app = ?1 AND email = ?2 COLLATE NOCASE AND observed_ms >= ?3"
	    " ORDER BY observed_ms DESC LIMIT 1");
	int64_t at = 0;
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, email);
	sqlite3_bind_int64(st, 3, since_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		at = sqlite3_column_int64(st, 0);
		*kind = column_dup(st, 1);
		*evidence = column_dup(st, 2);
	} else if (rc != SQLITE_DONE) {
		log_error("store: recent user event: %s", sqlite3_errmsg(s->db));
		at = -1;
	}
	sqlite_finish(s, st);
	return at;
}
