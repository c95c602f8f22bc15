/*
 * store_pg_graph: the Graph side's state on PostgreSQL: each app's
 * subscription, what rekey last saw of directory users (graph_users), the
 * user-side evidence (user_events) and the validationTokens of Graph's
 * batches (graph_tokens).  Replacing a row is an upsert on its key.
 */
#include "lib/log.h"
#include "state/store_pg_int.h"

#include <string.h>

int
pg_get_subscription(void *db, const char *app, struct store_subscription *out)
{
	struct pg_params p;
	PGresult *r;
	int found;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	r = pg_run(db, "get subscription", "SELECT app, id, resource, notification_url, expiration,"
	    " created_at, renewed_at, resync_at FROM subscriptions WHERE app = $1::text", &p);
	if (r == NULL)
		return -1;
	found = PQntuples(r) > 0;
	if (found) {
		out->app = pg_get_dup(r, 0, 0);
		out->id = pg_get_dup(r, 0, 1);
		out->resource = pg_get_dup(r, 0, 2);
		out->notification_url = pg_get_dup(r, 0, 3);
		out->expiration = pg_get_int(r, 0, 4);
		out->created_at = pg_get_int(r, 0, 5);
		out->renewed_at = pg_get_int(r, 0, 6);
		out->resync_at = pg_get_int(r, 0, 7);
	}
	PQclear(r);
	return found;
}

int
pg_put_subscription(void *db, const struct store_subscription *sub)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, sub->app);
	pg_text(&p, sub->id);
	pg_text(&p, sub->resource);
	pg_text(&p, sub->notification_url);
	pg_int(&p, sub->expiration);
	pg_int(&p, sub->created_at);
	pg_int(&p, sub->renewed_at);
	pg_int(&p, sub->resync_at);
	return pg_run_done(db, "put subscription", "INSERT INTO subscriptions (app, id, resource,"
	    " notification_url, expiration, created_at, renewed_at, resync_at) VALUES ($1::text,"
	    " $2::text, $3::text, $4::text, $5::bigint, $6::bigint, $7::bigint, $8::bigint)"
	    " ON CONFLICT (app) DO UPDATE SET id = excluded.id, resource = excluded.resource,"
	    " notification_url = excluded.notification_url, expiration = excluded.expiration,"
	    " created_at = excluded.created_at, renewed_at = excluded.renewed_at,"
	    " resync_at = excluded.resync_at", &p, NULL);
}

int
pg_delete_subscription(void *db, const char *app)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	return pg_run_done(db, "delete subscription", "DELETE FROM subscriptions"
	    " WHERE app = $1::text", &p, NULL);
}

int
pg_get_user(void *db, const char *app, const char *user_id, struct store_user *out)
{
	struct pg_params p;
	PGresult *r;
	int found;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_text(&p, user_id);
	r = pg_run(db, "get user", "SELECT app, user_id, mail, upn, account_enabled, deleted,"
	    " sessions_valid_from, last_password_change, updated_ms FROM graph_users"
	    " WHERE app = $1::text AND user_id = $2::text", &p);
	if (r == NULL)
		return -1;
	found = PQntuples(r) > 0;
	if (found) {
		out->app = pg_get_dup(r, 0, 0);
		out->user_id = pg_get_dup(r, 0, 1);
		out->mail = pg_get_dup(r, 0, 2);
		out->upn = pg_get_dup(r, 0, 3);
		out->account_enabled = (int)pg_get_opt_int(r, 0, 4);
		out->deleted = (int)pg_get_int(r, 0, 5);
		out->sessions_valid_from = pg_get_int(r, 0, 6);
		out->last_password_change = pg_get_int(r, 0, 7);
		out->updated_ms = pg_get_int(r, 0, 8);
	}
	PQclear(r);
	return found;
}

int
pg_put_user(void *db, const struct store_user *u)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, u->app);
	pg_text(&p, u->user_id);
	pg_text(&p, u->mail);
	pg_text(&p, u->upn);
	pg_opt_int(&p, u->account_enabled);
	pg_int(&p, u->deleted);
	pg_int(&p, u->sessions_valid_from);
	pg_int(&p, u->last_password_change);
	pg_int(&p, u->updated_ms);
	return pg_run_done(db, "put user", "INSERT INTO graph_users (app, user_id, mail, upn,"
	    " account_enabled, deleted, sessions_valid_from, last_password_change, updated_ms)"
	    " VALUES ($1::text, $2::text, $3::text, $4::text, $5::integer, $6::integer,"
	    " $7::bigint, $8::bigint, $9::bigint) ON CONFLICT (app, user_id) DO UPDATE SET"
	    " mail = excluded.mail, upn = excluded.upn, account_enabled = excluded.account_enabled,"
	    " deleted = excluded.deleted, sessions_valid_from = excluded.sessions_valid_from,"
	    " last_password_change = excluded.last_password_change,"
	    " updated_ms = excluded.updated_ms", &p, NULL);
}

int
pg_put_graph_tokens(void *db, const char *digest, const char *tokens, size_t len,
    int64_t now_ms, int64_t keep_ms)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, digest);
	pg_bytea(&p, tokens, len);
	pg_int(&p, now_ms);
	if (pg_run_done(db, "put graph tokens", "INSERT INTO graph_tokens (digest, tokens,"
	    " created_ms) VALUES ($1::text, $2::bytea, $3::bigint) ON CONFLICT (digest) DO NOTHING",
	    &p, NULL) == -1)
		return -1;
	memset(&p, 0, sizeof(p));
	pg_int(&p, now_ms - keep_ms);
	return pg_run_done(db, "prune graph tokens", "DELETE FROM graph_tokens"
	    " WHERE created_ms < $1::bigint", &p, NULL);
}

int
pg_get_graph_tokens(void *db, const char *digest, char **out, size_t *len)
{
	struct pg_params p;
	PGresult *r;
	int found;

	memset(&p, 0, sizeof(p));
	pg_text(&p, digest);
	r = pg_run(db, "get graph tokens", "SELECT tokens FROM graph_tokens WHERE digest = $1::text",
	    &p);
	if (r == NULL)
		return -1;
	found = PQntuples(r) > 0;
	if (found)
		*out = pg_get_bytea(r, 0, 0, len);
	PQclear(r);
	return found;
}

int
pg_add_user_event(void *db, const struct store_user_event *ev)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, ev->app);
	pg_text(&p, ev->user_id);
	pg_text(&p, ev->email);
	pg_text(&p, ev->kind);
	pg_int(&p, ev->observed_ms);
	pg_int(&p, ev->changed_at);
	pg_opt_int(&p, ev->source_event);
	pg_text(&p, ev->evidence);
	return pg_run_done(db, "add user event", "INSERT INTO user_events (app, user_id, email,"
	    " kind, observed_ms, changed_at, source_event, evidence) VALUES ($1::text, $2::text,"
	    " $3::text, $4::text, $5::bigint, $6::bigint, $7::bigint, $8::text)", &p, NULL);
}

int64_t
pg_count_user_events(void *db, const char *app, const char *kind)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_text(&p, kind);
	return pg_run_count(db, "count user events", "SELECT count(*) FROM user_events"
	    " WHERE ($1::text IS NULL OR app = $1::text) AND ($2::text IS NULL OR kind = $2::text)",
	    &p);
}

int64_t
pg_recent_user_event(void *db, const char *app, const char *email, int64_t since_ms,
    char **kind, char **evidence)
{
	struct pg_params p;
	PGresult *r;
	int64_t at = 0;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_text(&p, email);
	pg_int(&p, since_ms);
	r = pg_run(db, "recent user event", "SELECT observed_ms, kind, evidence FROM user_events"
	    " WHERE app = $1::text AND lower(email) = lower($2::text) AND observed_ms >= $3::bigint"
	    " ORDER BY observed_ms DESC LIMIT 1", &p);
	if (r == NULL)
		return -1;
	if (PQntuples(r) > 0) {
		at = pg_get_int(r, 0, 0);
		*kind = pg_get_dup(r, 0, 1);
		*evidence = pg_get_dup(r, 0, 2);
	}
	PQclear(r);
	return at;
}
