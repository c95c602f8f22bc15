/*
 * store_pg_outbox: the outbox on PostgreSQL, the notices waiting to be
 * sent, being sent, sent or given up, with their attempts and the last
 * error.  (ref, kind, recipient, channel) is unique: a message queued by
 * two replicas is stored once.
 */
#include "lib/log.h"
#include "state/store_pg_int.h"

#include <string.h>

#define OUTBOX_COLUMNS "id, app, kind, ref, channel, recipient, msg_id, subject," \
	" payload, state, attempts, next_at, last_error, created_at, sent_at, priority"

enum store_result
pg_add_outbox(void *db, const struct store_outbox *m)
{
	struct pg_params p;
	int64_t changed = 0;

	memset(&p, 0, sizeof(p));
	pg_text(&p, m->app);
	pg_text(&p, m->kind);
	pg_text(&p, m->ref);
	pg_text(&p, m->channel);
	pg_text(&p, m->recipient);
	pg_text(&p, m->msg_id);
	pg_text(&p, m->subject);
	pg_bytea(&p, m->payload, m->payload_len);
	pg_int(&p, m->next_at);
	pg_int(&p, m->created_at);
	pg_int(&p, m->priority);
	pg_text(&p, m->state);
	pg_text(&p, m->last_error);
	if (pg_run_done(db, "add outbox", "INSERT INTO outbox (app, kind, ref, channel, recipient,"
	    " msg_id, subject, payload, state, attempts, next_at, created_at, priority, last_error)"
	    " VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text,"
	    " $8::bytea, coalesce($12::text, 'pending'), 0, $9::bigint, $10::bigint, $11::integer,"
	    " $13::text) ON CONFLICT (ref, kind, recipient, channel) DO NOTHING", &p,
	    &changed) == -1)
		return STORE_ERROR;
	return changed > 0 ? STORE_STORED : STORE_DUPLICATE;
}

static void
read_outbox(const PGresult *r, int i, struct store_outbox *m)
{
	m->id = pg_get_int(r, i, 0);
	m->app = pg_get_dup(r, i, 1);
	m->kind = pg_get_dup(r, i, 2);
	m->ref = pg_get_dup(r, i, 3);
	m->channel = pg_get_dup(r, i, 4);
	m->recipient = pg_get_dup(r, i, 5);
	m->msg_id = pg_get_dup(r, i, 6);
	m->subject = pg_get_dup(r, i, 7);
	m->payload = pg_get_bytea(r, i, 8, &m->payload_len);
	m->state = pg_get_dup(r, i, 9);
	m->attempts = (int)pg_get_int(r, i, 10);
	m->next_at = pg_get_int(r, i, 11);
	m->last_error = pg_get_dup(r, i, 12);
	m->created_at = pg_get_int(r, i, 13);
	m->sent_at = pg_get_int(r, i, 14);
	m->priority = (int)pg_get_int(r, i, 15);
}

int
pg_due_outbox(void *db, int64_t now_ms, size_t max, struct store_outbox **out, size_t *n)
{
	struct pg_params p;
	PGresult *r;
	int i, rows;

	memset(&p, 0, sizeof(p));
	pg_int(&p, now_ms);
	pg_int(&p, (int64_t)max);
	r = pg_run(db, "due outbox", "SELECT " OUTBOX_COLUMNS " FROM outbox"
	    " WHERE state IN ('pending', 'sending') AND next_at <= $1::bigint"
	    " ORDER BY priority, next_at, id LIMIT $2::bigint", &p);
	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	for (i = 0; i < rows && *n < max; i++)
		read_outbox(r, i, &(*out)[(*n)++]);
	PQclear(r);
	return 0;
}

int
pg_update_outbox(void *db, const struct store_outbox *m)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_int(&p, m->id);
	pg_text(&p, m->state);
	pg_int(&p, m->attempts);
	pg_int(&p, m->next_at);
	pg_text(&p, m->last_error);
	pg_int(&p, m->sent_at);
	return pg_run_done(db, "update outbox", "UPDATE outbox SET state = $2::text,"
	    " attempts = $3::integer, next_at = $4::bigint, last_error = $5::text,"
	    " sent_at = $6::bigint WHERE id = $1::bigint", &p, NULL);
}

int
pg_outbox_exists(void *db, const char *ref, const char *kind)
{
	struct pg_params p;
	int64_t n;

	memset(&p, 0, sizeof(p));
	pg_text(&p, ref);
	pg_text(&p, kind);
	n = pg_run_count(db, "outbox exists", "SELECT count(*) FROM (SELECT 1 FROM outbox"
	    " WHERE ref = $1::text AND kind = $2::text LIMIT 1) o", &p);
	return n < 0 ? -1 : n > 0;
}

int64_t
pg_outbox_unsent(void *db, const char *ref, const char *kind)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, ref);
	pg_text(&p, kind);
	return pg_run_count(db, "outbox unsent", "SELECT count(*) FROM outbox WHERE ref = $1::text"
	    " AND kind = $2::text AND state IN ('pending', 'sending')", &p);
}

int
pg_outbox_stats(void *db, const char *app, struct store_outbox_stats *out)
{
	struct pg_params p;
	const char *state;
	PGresult *r;
	int i;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	r = pg_run(db, "outbox stats", "SELECT state, count(*) FROM outbox WHERE app = $1::text"
	    " GROUP BY state", &p);
	if (r == NULL)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		state = PQgetvalue(r, i, 0);
		if (strcmp(state, "sent") == 0)
			out->sent += pg_get_int(r, i, 1);
		else if (strcmp(state, "failed") == 0)
			out->failed += pg_get_int(r, i, 1);
		else
			out->pending += pg_get_int(r, i, 1);
	}
	PQclear(r);
	r = pg_run(db, "outbox stats", "SELECT last_error, next_at FROM outbox WHERE app = $1::text"
	    " AND state <> 'sent' AND last_error IS NOT NULL ORDER BY next_at DESC LIMIT 1", &p);
	if (r == NULL)
		return -1;
	if (PQntuples(r) > 0) {
		out->last_error = pg_get_dup(r, 0, 0);
		out->last_error_at = pg_get_int(r, 0, 1);
	}
	PQclear(r);
	return 0;
}

/* Rows a process left "sending" when it died: due at once (the lease is for the living). */
int
pg_reclaim_outbox(void *db)
{
	return pg_run_done(db, "reclaim outbox", "UPDATE outbox SET next_at = 0"
	    " WHERE state = 'sending'", NULL, NULL);
}
