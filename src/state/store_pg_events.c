/*
 * store_pg_events: the event journal (the events table) on PostgreSQL: the
 * insert the journal's writer batches, the worker's queue, marking events
 * processed, counting, and the retention sweep.  Duplicates are told apart
 * by the unique key alone (INSERT ... ON CONFLICT DO NOTHING RETURNING id),
 * never by reading first, so two replicas that get the same delivery store
 * it once.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_pg_int.h"

#include <string.h>

/* The sources whose notification a transaction has sent (pg_db.notified). */
#define NOTIFIED_NYLAS 0x1
#define NOTIFIED_GRAPH 0x2

/*
 * Tells the leader (state/leader.c LISTENs on rekey_events), whichever
 * replica stored the event, that events of source came: inside the
 * transaction, so it is delivered at commit and never for a batch rolled
 * back.  Once per source and transaction: PostgreSQL would fold the
 * repeats, but each would still cost a round trip.
 */
static int
notify_source(struct pg_db *s, const char *source)
{
	int bit = strcmp(source, "nylas") == 0 ? NOTIFIED_NYLAS :
	    strcmp(source, "graph") == 0 ? NOTIFIED_GRAPH : 0;
	struct pg_params p;

	if (bit != 0 && (s->notified & bit))
		return 0;
	memset(&p, 0, sizeof(p));
	pg_text(&p, source);
	if (pg_run_done(s, "notify rekey_events", "SELECT pg_notify('rekey_events', $1::text)",
	    &p, NULL) == -1)
		return -1;
	s->notified |= bit;
	return 0;
}

enum store_result
pg_add_event(void *db, const struct store_event *ev)
{
	struct pg_db *s = db;
	struct pg_params p;
	PGresult *r;
	int stored;

	memset(&p, 0, sizeof(p));
	pg_text(&p, ev->source);
	pg_text(&p, ev->app);
	pg_text(&p, ev->event_id);
	pg_text(&p, ev->type);
	pg_int(&p, ev->received_ms);
	pg_text(&p, ev->remote_addr);
	pg_text(&p, ev->grant_id);
	pg_text(&p, ev->email);
	pg_text(&p, ev->provider);
	pg_text(&p, ev->integration_id);
	pg_opt_int(&p, ev->code);
	pg_opt_int(&p, ev->reauth_flag);
	pg_opt_int(&p, ev->event_time);
	pg_opt_int(&p, ev->grant_updated_at);
	pg_bytea(&p, ev->body, ev->body_len);
	r = pg_run(s, "insert event", "INSERT INTO events (source, app, event_id, type,"
	    " received_ms, remote_addr, grant_id, email, provider, integration_id, code,"
	    " reauth_flag, event_time, grant_updated_at, body) VALUES ($1::text, $2::text,"
	    " $3::text, $4::text, $5::bigint, $6::text, $7::text, $8::text, $9::text, $10::text,"
	    " $11::bigint, $12::bigint, $13::bigint, $14::bigint, $15::bytea)"
	    " ON CONFLICT (source, app, event_id) DO NOTHING RETURNING id", &p);
	if (r == NULL)
		return STORE_ERROR;
	stored = PQntuples(r) > 0;
	PQclear(r);
	if (stored && notify_source(s, ev->source) == -1)
		return STORE_ERROR;
	return stored ? STORE_STORED : STORE_DUPLICATE;
}

int64_t
pg_count_events(void *db, const char *source)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, source);
	return pg_run_count(db, "count events", "SELECT count(*) FROM events"
	    " WHERE $1::text IS NULL OR source = $1::text", &p);
}

static void
read_pending(const PGresult *r, int i, int with_body, struct store_pending *e)
{
	e->id = pg_get_int(r, i, 0);
	e->source = pg_get_dup(r, i, 1);
	e->app = pg_get_dup(r, i, 2);
	e->event_id = pg_get_dup(r, i, 3);
	e->type = pg_get_dup(r, i, 4);
	e->received_ms = pg_get_int(r, i, 5);
	if (with_body)
		e->body = pg_get_bytea(r, i, 6, &e->body_len);
	e->grant_id = pg_get_dup(r, i, 7);
	e->email = pg_get_dup(r, i, 8);
	e->provider = pg_get_dup(r, i, 9);
	e->code = pg_get_opt_int(r, i, 10);
	e->reauth_flag = pg_get_opt_int(r, i, 11);
	e->event_time = pg_get_opt_int(r, i, 12);
}

int
pg_unprocessed(void *db, const char *source, int64_t after, size_t max, int with_body,
    struct store_pending **out, size_t *n)
{
	struct pg_params p;
	PGresult *r;
	int i, rows;

	memset(&p, 0, sizeof(p));
	pg_int(&p, after);
	pg_text(&p, source);
	pg_int(&p, (int64_t)max);
	pg_text(&p, with_body ? "true" : "false");
	r = pg_run(db, "unprocessed events", "SELECT id, source, app, event_id, type, received_ms,"
	    " CASE WHEN $4::boolean THEN body END, grant_id, email, provider, code, reauth_flag,"
	    " event_time FROM events WHERE processed_at IS NULL AND id > $1::bigint"
	    " AND ($2::text IS NULL OR source = $2::text) ORDER BY id LIMIT $3::bigint", &p);
	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	for (i = 0; i < rows && *n < max; i++)
		read_pending(r, i, with_body, &(*out)[(*n)++]);
	PQclear(r);
	return 0;
}

int
pg_mark_processed(void *db, int64_t id, const char *result)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_int(&p, util_now_ms());
	pg_text(&p, result);
	pg_int(&p, id);
	return pg_run_done(db, "mark processed", "UPDATE events SET processed_at = $1::bigint,"
	    " result = $2::text WHERE id = $3::bigint", &p, NULL);
}

int64_t
pg_count_results(void *db, const char *source, const char *result)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, source);
	pg_text(&p, result);
	return pg_run_count(db, "count results", "SELECT count(*) FROM events"
	    " WHERE processed_at IS NOT NULL AND ($1::text IS NULL OR source = $1::text)"
	    " AND ($2::text IS NULL OR result = $2::text)", &p);
}

/* The retention sweep's batch, as the SQLite backend's (store.h store_expire_events). */
int64_t
pg_expire_events(void *db, int64_t before_ms, size_t max, int64_t *cursor, int *more)
{
	struct pg_db *s = db;
	struct pg_params p;
	int64_t hi, old, deleted = 0;

	*more = 0;
	memset(&p, 0, sizeof(p));
	pg_int(&p, *cursor);
	pg_int(&p, (int64_t)max);
	/* The window: the next max events by id, which is their order of arrival. */
	hi = pg_run_count(s, "expire events", "SELECT max(id) FROM (SELECT id FROM events"
	    " WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint) w", &p);
	if (hi <= 0)
		return hi < 0 ? -1 : 0;
	memset(&p, 0, sizeof(p));
	pg_int(&p, *cursor);
	pg_int(&p, hi);
	pg_int(&p, before_ms);
	/* A window of recent events only is the last (events arrive in id order). */
	old = pg_run_count(s, "expire events", "SELECT count(*) FROM events WHERE id > $1::bigint"
	    " AND id <= $2::bigint AND received_ms < $3::bigint", &p);
	if (old <= 0)
		return old;
	if (pg_run_done(s, "expire events", "DELETE FROM events WHERE id > $1::bigint"
	    " AND id <= $2::bigint AND processed_at IS NOT NULL AND received_ms < $3::bigint", &p,
	    &deleted) == -1)
		return -1;
	*cursor = hi;
	*more = 1;
	return deleted;
}
