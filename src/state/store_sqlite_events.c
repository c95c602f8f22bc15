/*
 * store_sqlite_events: the statements of the event journal (the events
 * table): the insert the journal's writer batches, reading the events not
 * yet processed, marking them processed, counting.  The insert and the
 * count of all events are prepared when the connection opens (prepare_all).
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_sqlite_int.h"

enum store_result
sqlite_add_event(void *db, const struct store_event *ev)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = s->insert_event;
	int rc;

	bind_text(st, 1, ev->source);
	bind_text(st, 2, ev->app);
	bind_text(st, 3, ev->event_id);
	bind_text(st, 4, ev->type);
	sqlite3_bind_int64(st, 5, ev->received_ms);
	bind_text(st, 6, ev->remote_addr);
	bind_text(st, 7, ev->grant_id);
	bind_text(st, 8, ev->email);
	bind_text(st, 9, ev->provider);
	bind_text(st, 10, ev->integration_id);
	bind_opt_int(st, 11, ev->code);
	bind_opt_int(st, 12, ev->reauth_flag);
	bind_opt_int(st, 13, ev->event_time);
	bind_opt_int(st, 14, ev->grant_updated_at);
	sqlite3_bind_blob(st, 15, ev->body, (int)ev->body_len, SQLITE_STATIC);
	bind_opt_int(st, 16, ev->result != NULL ? ev->processed_ms : -1);
	bind_text(st, 17, ev->result);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_error("store: insert event: %s", sqlite3_errmsg(s->db));
		return STORE_ERROR;
	}
	return sqlite3_changes(s->db) > 0 ? STORE_STORED : STORE_DUPLICATE;
}

int64_t
sqlite_count_events(void *db, const char *source)
{
	struct sqlite_db *s = db;
	int64_t n = -1;

	bind_text(s->count_events, 1, source);
	if (sqlite3_step(s->count_events) == SQLITE_ROW)
		n = sqlite3_column_int64(s->count_events, 0);
	sqlite3_reset(s->count_events);
	return n;
}

int
sqlite_unprocessed(void *db, const char *source, int64_t after, size_t max, int with_body,
    struct store_pending **out, size_t *n)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT id, source, app, event_id, type, received_ms,"
	    " CASE WHEN ?4 THEN body END, grant_id, email, provider, code, reauth_flag,"
	    " event_time FROM events WHERE processed_at IS NULL AND id > ?1 AND (?2 IS NULL OR source = ?2)"
	    " ORDER BY id LIMIT ?3");
	struct store_pending *p;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	bind_text(st, 2, source);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	sqlite3_bind_int(st, 4, with_body != 0);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		p = &(*out)[(*n)++];
		p->id = sqlite3_column_int64(st, 0);
		p->source = column_dup(st, 1);
		p->app = column_dup(st, 2);
		p->event_id = column_dup(st, 3);
		p->type = column_dup(st, 4);
		p->received_ms = sqlite3_column_int64(st, 5);
		if (with_body)
			p->body = column_blob_dup(st, 6, &p->body_len);
		p->grant_id = column_dup(st, 7);
		p->email = column_dup(st, 8);
		p->provider = column_dup(st, 9);
		p->code = column_opt_int(st, 10);
		p->reauth_flag = column_opt_int(st, 11);
		p->event_time = column_opt_int(st, 12);
	}
	sqlite_finish(s, st);
	return 0;
}

int
sqlite_mark_processed(void *db, int64_t id, const char *result)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "UPDATE events SET processed_at = ?1, result = ?2 WHERE id = ?3");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, util_now_ms());
	bind_text(st, 2, result);
	sqlite3_bind_int64(st, 3, id);
	return sqlite_run_done(s, st, "mark processed");
}

/*
 * One statement taken from the cache for the whole batch and stepped for
 * each event, and one time for all: the cache is searched by the SQL's text.
 */
int
sqlite_set_event_result(void *db, const char *source, const char *app, const char *event_id,
    const char *result)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "UPDATE events SET result = ?4"
	    " WHERE source = ?1 AND app = ?2 AND event_id = ?3");

	if (st == NULL)
		return -1;
	bind_text(st, 1, source);
	bind_text(st, 2, app);
	bind_text(st, 3, event_id);
	bind_text(st, 4, result);
	return sqlite_run_done(s, st, "set event result");
}

/*
 * Only the Nylas events other than grant.expired that wait for the
 * correlator hold the permit back (store.h says why), found in their own
 * partial index (schema 8).  INDEXED BY: the unique index on (source, app,
 * event_id) also fits the query, and scanning every event of the app in it
 * costs a storm's writer milliseconds a run.
 */
int
sqlite_storm_ready(void *db, const char *app, const char *incident_id)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT"
	    " EXISTS (SELECT 1 FROM incidents WHERE id = ?2 AND state = 'open')"
	    " AND NOT EXISTS (SELECT 1 FROM events INDEXED BY events_unprocessed_other"
	    "  WHERE processed_at IS NULL AND source = 'nylas' AND type <> 'grant.expired'"
	    "  AND app = ?1)"
	    " AND NOT EXISTS (SELECT 1 FROM (SELECT state, dry_run, published_at FROM rotations"
	    "  WHERE app = ?1 ORDER BY created_at DESC LIMIT 1)"
	    "  WHERE state = 'watching' AND dry_run = 0 AND published_at > 0)");
	int rc, ready = -1;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, incident_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ready = sqlite3_column_int(st, 0) != 0;
	else
		log_error("store: storm permit check: %s", sqlite3_errmsg(s->db));
	sqlite_finish(s, st);
	return ready;
}

int
sqlite_mark_processed_many(void *db, const int64_t *ids, const char *const *results, size_t n)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "UPDATE events SET processed_at = ?1, result = ?2"
	    " WHERE id = ?3");
	int64_t now = util_now_ms();
	int rc = SQLITE_DONE;
	size_t i;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	for (i = 0; i < n && rc == SQLITE_DONE; i++) {
		bind_text(st, 2, results[i]);
		sqlite3_bind_int64(st, 3, ids[i]);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite_finish(s, st);
	if (rc != SQLITE_DONE) {
		log_error("store: mark processed: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

int64_t
sqlite_count_results(void *db, const char *source, const char *result)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT count(*) FROM events WHERE processed_at IS NOT NULL"
	    " AND (?1 IS NULL OR source = ?1) AND (?2 IS NULL OR result = ?2)");

	if (st != NULL) {
		bind_text(st, 1, source);
		bind_text(st, 2, result);
	}
	return sqlite_run_count(s, st);
}
