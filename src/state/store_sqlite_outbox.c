/*
 * store_sqlite_outbox: the outbox, the notices waiting to be sent, being
 * sent, sent or given up, with their attempts and the last error.
 */
#include "state/store_sqlite_int.h"

#include <stdio.h>

static const char outbox_columns[] = "id, app, kind, ref, channel, recipient, msg_id, subject,"
    " payload, state, attempts, next_at, last_error, created_at, sent_at, priority";

enum store_result
sqlite_add_outbox(void *db, const struct store_outbox *m)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT INTO outbox (app, kind, ref, channel, recipient,"
	    " msg_id, subject, payload, state, attempts, next_at, created_at, priority, last_error)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, coalesce(?12, 'pending'), 0, ?9, ?10, ?11, ?13)"
	    " ON CONFLICT (ref, kind, recipient, channel) DO NOTHING");

	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, m->app);
	bind_text(st, 2, m->kind);
	bind_text(st, 3, m->ref);
	bind_text(st, 4, m->channel);
	bind_text(st, 5, m->recipient);
	bind_text(st, 6, m->msg_id);
	bind_text(st, 7, m->subject);
	sqlite3_bind_blob(st, 8, m->payload, (int)m->payload_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, m->next_at);
	sqlite3_bind_int64(st, 10, m->created_at);
	sqlite3_bind_int(st, 11, m->priority);
	bind_text(st, 12, m->state);
	bind_text(st, 13, m->last_error);
	if (sqlite_run_done(s, st, "add outbox") == -1)
		return STORE_ERROR;
	return sqlite3_changes(s->db) > 0 ? STORE_STORED : STORE_DUPLICATE;
}

static void
read_outbox(sqlite3_stmt *st, struct store_outbox *m)
{
	m->id = sqlite3_column_int64(st, 0);
	m->app = column_dup(st, 1);
	m->kind = column_dup(st, 2);
	m->ref = column_dup(st, 3);
	m->channel = column_dup(st, 4);
	m->recipient = column_dup(st, 5);
	m->msg_id = column_dup(st, 6);
	m->subject = column_dup(st, 7);
	m->payload = column_blob_dup(st, 8, &m->payload_len);
	m->state = column_dup(st, 9);
	m->attempts = sqlite3_column_int(st, 10);
	m->next_at = sqlite3_column_int64(st, 11);
	m->last_error = column_dup(st, 12);
	m->created_at = sqlite3_column_int64(st, 13);
	m->sent_at = sqlite3_column_int64(st, 14);
	m->priority = sqlite3_column_int(st, 15);
}

int
sqlite_due_outbox(void *db, int64_t now_ms, size_t max, struct store_outbox **out, size_t *n)
{
	struct sqlite_db *s = db;
	char sql[512];
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	snprintf(sql, sizeof(sql), "SELECT %s FROM outbox WHERE state IN ('pending', 'sending')"
	    " AND next_at <= ?1 ORDER BY priority, next_at, id LIMIT ?2", outbox_columns);
	if ((st = sqlite_prepare(s, sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_outbox(st, &(*out)[(*n)++]);
	sqlite_finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
sqlite_update_outbox(void *db, const struct store_outbox *m)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "UPDATE outbox SET state = ?2, attempts = ?3, next_at = ?4,"
	    " last_error = ?5, sent_at = ?6 WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	bind_text(st, 2, m->state);
	sqlite3_bind_int(st, 3, m->attempts);
	sqlite3_bind_int64(st, 4, m->next_at);
	bind_text(st, 5, m->last_error);
	sqlite3_bind_int64(st, 6, m->sent_at);
	return sqlite_run_done(s, st, "update outbox");
}

int
sqlite_outbox_exists(void *db, const char *ref, const char *kind)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT count(*) FROM (SELECT 1 FROM outbox"
	    " WHERE ref = ?1 AND kind = ?2 LIMIT 1)");
	int64_t count;

	if (st == NULL)
		return -1;
	bind_text(st, 1, ref);
	bind_text(st, 2, kind);
	count = sqlite_run_count(s, st);
	return count < 0 ? -1 : count > 0;
}

int64_t
sqlite_outbox_unsent(void *db, const char *ref, const char *kind)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT count(*) FROM outbox"
	    " WHERE ref = ?1 AND kind = ?2 AND state IN ('pending', 'sending')");

	if (st == NULL)
		return -1;
	bind_text(st, 1, ref);
	bind_text(st, 2, kind);
	return sqlite_run_count(s, st);
}

int
sqlite_outbox_stats(void *db, const char *app, struct store_outbox_stats *out)
{
	struct sqlite_db *s = db;
	/* Counted on the (app, state) index alone: payloads are never read. */
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT state, count(*) FROM outbox WHERE app = ?1 GROUP BY state");
	const char *state;
	int64_t k;
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 0);
		k = sqlite3_column_int64(st, 1);
		if (state != NULL && strcmp(state, "sent") == 0)
			out->sent += k;
		else if (state != NULL && strcmp(state, "failed") == 0)
			out->failed += k;
		else
			out->pending += k;
	}
	sqlite_finish(s, st);
	if (rc != SQLITE_DONE)
		return -1;
	st = sqlite_prepare(s, "SELECT last_error, next_at FROM outbox WHERE app = ?1 AND state != 'sent'"
	    " AND last_error IS NOT NULL ORDER BY next_at DESC LIMIT 1");
	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		out->last_error = column_dup(st, 0);
		out->last_error_at = sqlite3_column_int64(st, 1);
	}
	sqlite_finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Rows a process left "sending" when it died: due at once (the lease is for the living). */
int
sqlite_reclaim_outbox(void *db)
{
	struct sqlite_db *s = db;

	return sqlite_exec_sql(s, "UPDATE outbox SET next_at = 0 WHERE state = 'sending'");
}
