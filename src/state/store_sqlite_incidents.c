/*
 * store_sqlite_incidents: the diagnosis's records: incidents, the grants
 * each one affected (incident_grants) and which of those recovered or are
 * still to be mailed.
 */
#include "lib/log.h"
#include "state/store_sqlite_int.h"

int
sqlite_put_incident(void *db, const struct store_incident *inc)
{
	struct sqlite_db *s = db;
	/*
	 * A resolved incident stays resolved: a late write of the correlator
	 * (a probe answering after an operator's rekey resolve) changes nothing.
	 */
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT INTO incidents (id, app, cause, state,"
	    " evidence, rotation_id, opened_at, updated_at, resolved_at, resolved_by)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE SET"
	    " app = excluded.app, cause = excluded.cause, state = excluded.state,"
	    " evidence = excluded.evidence, rotation_id = excluded.rotation_id,"
	    " opened_at = excluded.opened_at, updated_at = excluded.updated_at,"
	    " resolved_at = excluded.resolved_at, resolved_by = excluded.resolved_by"
	    " WHERE incidents.state = 'open'");

	if (st == NULL)
		return -1;
	bind_text(st, 1, inc->id);
	bind_text(st, 2, inc->app);
	bind_text(st, 3, inc->cause);
	bind_text(st, 4, inc->state);
	bind_text(st, 5, inc->evidence ? inc->evidence : "[]");
	bind_text(st, 6, inc->rotation_id);
	sqlite3_bind_int64(st, 7, inc->opened_at);
	sqlite3_bind_int64(st, 8, inc->updated_at);
	sqlite3_bind_int64(st, 9, inc->resolved_at);
	bind_text(st, 10, inc->resolved_by);
	return sqlite_run_done(s, st, "put incident");
}

#define INCIDENT_SELECT "SELECT i.id, i.app, i.cause, i.state, i.evidence, i.rotation_id," \
	" i.opened_at, i.updated_at, i.resolved_at," \
	" i.affected_grants, i.recovered_grants," \
	" i.resolved_by FROM incidents i "

static void
read_incident(sqlite3_stmt *st, struct store_incident *inc)
{
	inc->id = column_dup(st, 0);
	inc->app = column_dup(st, 1);
	inc->cause = column_dup(st, 2);
	inc->state = column_dup(st, 3);
	inc->evidence = column_dup(st, 4);
	inc->rotation_id = column_dup(st, 5);
	inc->opened_at = sqlite3_column_int64(st, 6);
	inc->updated_at = sqlite3_column_int64(st, 7);
	inc->resolved_at = sqlite3_column_int64(st, 8);
	inc->affected = sqlite3_column_int64(st, 9);
	inc->recovered = sqlite3_column_int64(st, 10);
	inc->resolved_by = column_dup(st, 11);
}

int
sqlite_get_incident(void *db, const char *id, struct store_incident *out)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, INCIDENT_SELECT "WHERE i.id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_incident(st, out);
	else if (rc != SQLITE_DONE)
		log_error("store: get incident: %s", sqlite3_errmsg(s->db));
	sqlite_finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
sqlite_list_incidents(void *db, const char *app, int open_only, size_t max,
    struct store_incident **out, size_t *n)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, INCIDENT_SELECT "WHERE (?1 IS NULL OR i.app = ?1)"
	    " AND (?2 = 0 OR i.state = 'open') ORDER BY i.opened_at DESC, i.id LIMIT ?3");
	int rc = SQLITE_DONE;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	sqlite3_bind_int(st, 2, open_only);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_incident(st, &(*out)[(*n)++]);
	sqlite_finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

enum store_result
sqlite_add_incident_grant(void *db, const char *incident_id, const char *grant_id,
    const char *email, int64_t seen_ms)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT INTO incident_grants (incident_id, grant_id, email,"
	    " seen_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (incident_id, grant_id) DO NOTHING");

	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, incident_id);
	bind_text(st, 2, grant_id);
	bind_text(st, 3, email);
	sqlite3_bind_int64(st, 4, seen_ms);
	if (sqlite_run_done(s, st, "add incident grant") == -1)
		return STORE_ERROR;
	return sqlite3_changes(s->db) > 0 ? STORE_STORED : STORE_DUPLICATE;
}

/* As sqlite_add_incident_grant, with one statement from the cache for all of g. */
int
sqlite_add_incident_grants(void *db, const struct store_incident_grant *g, size_t n,
    enum store_result *results)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT INTO incident_grants (incident_id, grant_id, email,"
	    " seen_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (incident_id, grant_id) DO NOTHING");
	int rc = SQLITE_DONE;
	size_t i;

	if (st == NULL)
		return -1;
	for (i = 0; i < n && rc == SQLITE_DONE; i++) {
		bind_text(st, 1, g[i].incident_id);
		bind_text(st, 2, g[i].grant_id);
		bind_text(st, 3, g[i].email);
		sqlite3_bind_int64(st, 4, g[i].seen_ms);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			results[i] = sqlite3_changes(s->db) > 0 ? STORE_STORED : STORE_DUPLICATE;
	}
	sqlite_finish(s, st);
	if (rc != SQLITE_DONE) {
		log_error("store: add incident grant: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

int64_t
sqlite_recover_grants(void *db, const char *app, const char *grant_id, const char *email,
    int64_t at_ms)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "UPDATE incident_grants SET recovered_ms = ?1"
	    " WHERE recovered_ms = 0 AND (grant_id = ?2 OR (?3 IS NOT NULL AND email = ?3 COLLATE NOCASE))"
	    " AND incident_id IN (SELECT id FROM incidents WHERE app = ?4 AND state = 'open')");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, at_ms);
	bind_text(st, 2, grant_id);
	bind_text(st, 3, email);
	bind_text(st, 4, app);
	if (sqlite_run_done(s, st, "recover grants") == -1)
		return -1;
	return sqlite3_changes(s->db);
}

int
sqlite_resolve_incident(void *db, const char *id, const char *by, int64_t at_ms)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "UPDATE incidents SET state = 'resolved', resolved_by = ?2,"
	    " resolved_at = ?3, updated_at = ?3 WHERE id = ?1 AND state = 'open'");

	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	bind_text(st, 2, by);
	sqlite3_bind_int64(st, 3, at_ms);
	if (sqlite_run_done(s, st, "resolve incident") == -1)
		return -1;
	return sqlite3_changes(s->db) > 0;
}

int
sqlite_unmailed_grants(void *db, const char *incident_id, const char *kind, size_t max,
    char ***emails, size_t *n)
{
	struct sqlite_db *s = db;
	/*
	 * No DISTINCT or ORDER BY: the scan stops at the limit instead of
	 * sorting every grant of a big incident; an address listed twice is
	 * refused by the outbox's unique key.
	 */
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT lower(g.email) FROM incident_grants g"
	    " WHERE g.incident_id = ?1 AND g.recovered_ms = 0 AND g.email IS NOT NULL"
	    " AND g.email != '' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.ref = ?1"
	    " AND o.kind = ?2 AND o.recipient = lower(g.email) AND o.channel = 'email')"
	    " LIMIT ?3");
	int rc = SQLITE_DONE;

	if (st == NULL)
		return -1;
	bind_text(st, 1, incident_id);
	bind_text(st, 2, kind);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	*emails = xcalloc(max > 0 ? max : 1, sizeof(**emails));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		(*emails)[(*n)++] = column_dup(st, 0);
	sqlite_finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
sqlite_incident_is_open(void *db, const char *id)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT count(*) FROM incidents WHERE id = ?1 AND state = 'open'");
	int64_t n;

	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	n = sqlite_run_count(s, st);
	return n < 0 ? -1 : n > 0;
}

/*
 * Counted per point by SQLite in one scan of the incident's rows (of the
 * primary key), grouped by the points a grant was seen and came back in,
 * then summed up here: the status page asks every few seconds, and a
 * storm's incident holds thousands of grants.
 */
int
sqlite_incident_progress(void *db, const char *id, int64_t since_ms, int64_t step_ms,
    size_t n, int64_t *affected, int64_t *recovered)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT min(?4 - 1, max(0, (seen_ms - ?2) / ?3)) AS a,"
	    " CASE WHEN recovered_ms > 0 THEN min(?4 - 1, max(0, (recovered_ms - ?2) / ?3))"
	    " ELSE -1 END AS r, count(*) FROM incident_grants WHERE incident_id = ?1 GROUP BY a, r");
	int64_t a, r, count;
	size_t i;
	int rc;

	if (st == NULL)
		return -1;
	memset(affected, 0, n * sizeof(*affected));
	memset(recovered, 0, n * sizeof(*recovered));
	bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, since_ms);
	sqlite3_bind_int64(st, 3, step_ms);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)n);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a = sqlite3_column_int64(st, 0);
		r = sqlite3_column_int64(st, 1);
		count = sqlite3_column_int64(st, 2);
		if (a >= 0 && (size_t)a < n)
			affected[a] += count;
		if (r >= 0 && (size_t)r < n)
			recovered[r] += count;
	}
	sqlite_finish(s, st);
	for (i = 1; i < n; i++) {
		affected[i] += affected[i - 1];
		recovered[i] += recovered[i - 1];
	}
	return rc == SQLITE_DONE ? 0 : -1;
}
