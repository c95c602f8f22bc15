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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sources whose notification a transaction has sent (pg_db.notified). */
#define NOTIFIED_NYLAS 0x1
#define NOTIFIED_GRAPH 0x2

/*
 * Tells the leader (state/leader.c LISTENs on rekey_events), whichever
 * replica stored the event, that events of source came: inside the
 * transaction, so it is delivered at commit and never for a batch rolled
 * back.  Once per source and transaction: PostgreSQL would fold the
 * repeats.  Sent ahead of the INSERT, so that in the journal's pipeline it
 * costs no round trip of its own and a failure of it fails the events'
 * call, not the op after them (a batch of duplicates only wakes the leader
 * for nothing).
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

#define EVENT_COLUMNS "source, app, event_id, type, received_ms, remote_addr, grant_id," \
	" email, provider, integration_id, code, reauth_flag, event_time, grant_updated_at, body," \
	" processed_at, result"
#define EVENT_PARAMS 17
/* The types of the parameters of one row, in EVENT_COLUMNS' order. */
static const char *const event_types[EVENT_PARAMS] = {
	"text", "text", "text", "text", "bigint", "text", "text", "text", "text", "text",
	"bigint", "bigint", "bigint", "bigint", "bytea", "bigint", "text",
};

/* The parameters of one event, in EVENT_COLUMNS' order, into p. */
static void
event_params(struct pg_params *p, const struct store_event *ev)
{
	memset(p, 0, sizeof(*p));
	pg_text(p, ev->source);
	pg_text(p, ev->app);
	pg_text(p, ev->event_id);
	pg_text(p, ev->type);
	pg_int(p, ev->received_ms);
	pg_text(p, ev->remote_addr);
	pg_text(p, ev->grant_id);
	pg_text(p, ev->email);
	pg_text(p, ev->provider);
	pg_text(p, ev->integration_id);
	pg_opt_int(p, ev->code);
	pg_opt_int(p, ev->reauth_flag);
	pg_opt_int(p, ev->event_time);
	pg_opt_int(p, ev->grant_updated_at);
	pg_bytea(p, ev->body, ev->body_len);
	pg_opt_int(p, ev->result != NULL ? ev->processed_ms : -1);
	pg_text(p, ev->result);
}

/*
 * INSERT of n events (n * EVENT_PARAMS parameters) that returns the keys it
 * stored; caller frees.  Duplicates are told apart by the unique key alone,
 * never by reading first.  Prepared once per n (the journal's runs of events
 * are at most 32 long).
 */
static char *
insert_sql(size_t n)
{
	size_t size = 256 + n * EVENT_PARAMS * 16, off, i, k;
	char *sql = xmalloc(size);

	off = (size_t)snprintf(sql, size, "INSERT INTO events (" EVENT_COLUMNS ") VALUES ");
	for (i = 0; i < n; i++)
		for (k = 0; k < EVENT_PARAMS; k++)
			off += (size_t)snprintf(sql + off, size - off, "%s$%zu::%s%s",
			    k == 0 ? (i == 0 ? "(" : ", (") : ", ", i * EVENT_PARAMS + k + 1,
			    event_types[k], k == EVENT_PARAMS - 1 ? ")" : "");
	snprintf(sql + off, size - off, " ON CONFLICT (source, app, event_id) DO NOTHING"
	    " RETURNING source, app, event_id");
	return sql;
}

/* Whether row j of r (source, app, event_id) is ev's key. */
static int
same_key(const PGresult *r, int j, const struct store_event *ev)
{
	return strcmp(PQgetvalue(r, j, 0), ev->source) == 0 &&
	    strcmp(PQgetvalue(r, j, 1), ev->app) == 0 &&
	    strcmp(PQgetvalue(r, j, 2), ev->event_id) == 0;
}

/*
 * Each event is stored when a returned row has its key that no earlier
 * event of the call claimed: of repeats within the call, the first was
 * stored and the others are duplicates, as one by one.
 */
static void
match_results(const PGresult *r, const struct store_event *const *evs, size_t n,
    enum store_result *results)
{
	int rows = PQntuples(r), j;
	char *claimed = xcalloc(rows > 0 ? (size_t)rows : 1, 1);
	size_t i;

	for (i = 0; i < n; i++) {
		results[i] = STORE_DUPLICATE;
		for (j = 0; j < rows; j++) {
			if (!claimed[j] && same_key(r, j, evs[i])) {
				claimed[j] = 1;
				results[i] = STORE_STORED;
				break;
			}
		}
	}
	free(claimed);
}

int
pg_add_events(void *db, const struct store_event *const *evs, size_t n,
    enum store_result *results)
{
	struct pg_db *s = db;
	struct pg_params *p;
	const char **values;
	int *lengths, *formats, rc = 0;
	size_t i, k, m = n * EVENT_PARAMS;
	char *sql;
	PGresult *r;

	if (n == 0)
		return 0;
	p = xcalloc(n, sizeof(*p));
	values = xcalloc(m, sizeof(*values));
	lengths = xcalloc(m, sizeof(*lengths));
	formats = xcalloc(m, sizeof(*formats));
	for (i = 0; i < n; i++) {
		event_params(&p[i], evs[i]);
		for (k = 0; k < EVENT_PARAMS; k++) {
			values[i * EVENT_PARAMS + k] = p[i].values[k];
			lengths[i * EVENT_PARAMS + k] = p[i].lengths[k];
			formats[i * EVENT_PARAMS + k] = p[i].formats[k];
		}
	}
	sql = insert_sql(n);
	for (i = 0; i < n && rc == 0; i++)
		if (notify_source(s, evs[i]->source) == -1)
			rc = -1;
	r = rc == 0 ? pg_run_array(s, "insert events", sql, (int)m, values, lengths, formats) :
	    NULL;
	if (r == NULL) {
		rc = -1;
	} else {
		match_results(r, evs, n, results);
		PQclear(r);
	}
	free(sql);
	free(formats);
	free(lengths);
	free(values);
	free(p);
	return rc;
}

enum store_result
pg_add_event(void *db, const struct store_event *ev)
{
	const struct store_event *one[1] = { ev };
	enum store_result result = STORE_ERROR;

	return pg_add_events(db, one, 1, &result) == -1 ? STORE_ERROR : result;
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

/* ---- Array parameters: a batch's rows as one statement's few parameters ---- */

char *
pg_text_array(const char *const *v, size_t n)
{
	size_t size = 3, off = 0, i;
	const char *c;
	char *out;

	for (i = 0; i < n; i++)
		size += v[i] == NULL ? 5 : 2 * strlen(v[i]) + 3;
	out = xmalloc(size);
	out[off++] = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			out[off++] = ',';
		if (v[i] == NULL) {
			memcpy(out + off, "NULL", 4);
			off += 4;
			continue;
		}
		/* Quoted, so that commas, braces, spaces and the word NULL stay text. */
		out[off++] = '"';
		for (c = v[i]; *c != '\0'; c++) {
			if (*c == '"' || *c == '\\')
				out[off++] = '\\';
			out[off++] = *c;
		}
		out[off++] = '"';
	}
	out[off++] = '}';
	out[off] = '\0';
	return out;
}

char *
pg_int_array(const int64_t *v, size_t n)
{
	size_t size = 3 + n * 21, off = 1, i;
	char *out = xmalloc(size);

	out[0] = '{';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%lld", i > 0 ? "," : "",
		    (long long)v[i]);
	snprintf(out + off, size - off, "}");
	return out;
}

int
pg_set_event_result(void *db, const char *source, const char *app, const char *event_id,
    const char *result)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, source);
	pg_text(&p, app);
	pg_text(&p, event_id);
	pg_text(&p, result);
	return pg_run_done(db, "set event result", "UPDATE events SET result = $4::text"
	    " WHERE source = $1::text AND app = $2::text AND event_id = $3::text", &p, NULL);
}

/*
 * As sqlite_storm_ready.  The events that hold the permit back are looked up
 * in their own partial index, events_unprocessed_other (schema 3 says why).
 */
int
pg_storm_ready(void *db, const char *app, const char *incident_id)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_text(&p, incident_id);
	return (int)pg_run_count(db, "storm permit check", "SELECT CASE WHEN"
	    " EXISTS (SELECT 1 FROM incidents WHERE id = $2::text AND state = 'open')"
	    " AND NOT EXISTS (SELECT 1 FROM events WHERE processed_at IS NULL"
	    "  AND source = 'nylas' AND type <> 'grant.expired' AND app = $1::text)"
	    " AND NOT EXISTS (SELECT 1 FROM (SELECT state, dry_run, published_at FROM rotations"
	    "  WHERE app = $1::text ORDER BY created_at DESC LIMIT 1) r"
	    "  WHERE state = 'watching' AND dry_run = 0 AND published_at > 0)"
	    " THEN 1 ELSE 0 END", &p);
}

/*
 * One UPDATE for the whole batch: the ids and results as two arrays
 * (unnest), so the statement is the same whatever the batch's size and
 * costs one round trip, not one per event.
 */
int
pg_mark_processed_many(void *db, const int64_t *ids, const char *const *results, size_t n)
{
	struct pg_params p;
	char *id_list = pg_int_array(ids, n), *result_list = pg_text_array(results, n);
	int rc;

	memset(&p, 0, sizeof(p));
	pg_int(&p, util_now_ms());
	pg_text(&p, id_list);
	pg_text(&p, result_list);
	rc = pg_run_done(db, "mark processed", "UPDATE events e SET processed_at = $1::bigint,"
	    " result = v.result FROM unnest($2::bigint[], $3::text[]) AS v(id, result)"
	    " WHERE e.id = v.id", &p, NULL);
	free(result_list);
	free(id_list);
	return rc;
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
	/* A window of recent events only is passed over (see sqlite_expire_events). */
	old = pg_run_count(s, "expire events", "SELECT count(*) FROM events WHERE id > $1::bigint"
	    " AND id <= $2::bigint AND received_ms < $3::bigint", &p);
	if (old < 0)
		return -1;
	*cursor = hi;
	*more = 1;
	if (old == 0)
		return 0;
	if (pg_run_done(s, "expire events", "DELETE FROM events WHERE id > $1::bigint"
	    " AND id <= $2::bigint AND processed_at IS NOT NULL AND received_ms < $3::bigint", &p,
	    &deleted) == -1)
		return -1;
	return deleted;
}
