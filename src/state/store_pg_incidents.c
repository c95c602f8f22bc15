/*
 * store_pg_incidents: the diagnosis's records on PostgreSQL: incidents,
 * the grants each one affected (incident_grants; their counts are kept by
 * a trigger, store_pg_schema.c) and which of those recovered or are still
 * to be mailed.
 */
#include "lib/log.h"
#include "state/store_pg_int.h"

#include <stdlib.h>
#include <string.h>

int
pg_put_incident(void *db, const struct store_incident *inc)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, inc->id);
	pg_text(&p, inc->app);
	pg_text(&p, inc->cause);
	pg_text(&p, inc->state);
	pg_text(&p, inc->evidence ? inc->evidence : "[]");
	pg_text(&p, inc->rotation_id);
	pg_int(&p, inc->opened_at);
	pg_int(&p, inc->updated_at);
	pg_int(&p, inc->resolved_at);
	pg_text(&p, inc->resolved_by);
	/* A resolved incident stays resolved: a late write of the correlator changes nothing. */
	return pg_run_done(db, "put incident", "INSERT INTO incidents (id, app, cause, state,"
	    " evidence, rotation_id, opened_at, updated_at, resolved_at, resolved_by)"
	    " VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::bigint,"
	    " $8::bigint, $9::bigint, $10::text) ON CONFLICT (id) DO UPDATE SET"
	    " app = excluded.app, cause = excluded.cause, state = excluded.state,"
	    " evidence = excluded.evidence, rotation_id = excluded.rotation_id,"
	    " opened_at = excluded.opened_at, updated_at = excluded.updated_at,"
	    " resolved_at = excluded.resolved_at, resolved_by = excluded.resolved_by"
	    " WHERE incidents.state = 'open'", &p, NULL);
}

#define INCIDENT_SELECT "SELECT i.id, i.app, i.cause, i.state, i.evidence, i.rotation_id," \
	" i.opened_at, i.updated_at, i.resolved_at, i.affected_grants, i.recovered_grants," \
	" i.resolved_by FROM incidents i "

static void
read_incident(const PGresult *r, int i, struct store_incident *inc)
{
	inc->id = pg_get_dup(r, i, 0);
	inc->app = pg_get_dup(r, i, 1);
	inc->cause = pg_get_dup(r, i, 2);
	inc->state = pg_get_dup(r, i, 3);
	inc->evidence = pg_get_dup(r, i, 4);
	inc->rotation_id = pg_get_dup(r, i, 5);
	inc->opened_at = pg_get_int(r, i, 6);
	inc->updated_at = pg_get_int(r, i, 7);
	inc->resolved_at = pg_get_int(r, i, 8);
	inc->affected = pg_get_int(r, i, 9);
	inc->recovered = pg_get_int(r, i, 10);
	inc->resolved_by = pg_get_dup(r, i, 11);
}

int
pg_get_incident(void *db, const char *id, struct store_incident *out)
{
	struct pg_params p;
	PGresult *r;
	int found;

	memset(&p, 0, sizeof(p));
	pg_text(&p, id);
	r = pg_run(db, "get incident", INCIDENT_SELECT "WHERE i.id = $1::text", &p);
	if (r == NULL)
		return -1;
	found = PQntuples(r) > 0;
	if (found)
		read_incident(r, 0, out);
	PQclear(r);
	return found;
}

int
pg_list_incidents(void *db, const char *app, int open_only, size_t max,
    struct store_incident **out, size_t *n)
{
	struct pg_params p;
	PGresult *r;
	int i, rows;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_int(&p, open_only);
	pg_int(&p, (int64_t)max);
	r = pg_run(db, "list incidents", INCIDENT_SELECT "WHERE ($1::text IS NULL OR"
	    " i.app = $1::text) AND ($2::integer = 0 OR i.state = 'open')"
	    " ORDER BY i.opened_at DESC, i.id LIMIT $3::bigint", &p);
	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	for (i = 0; i < rows && *n < max; i++)
		read_incident(r, i, &(*out)[(*n)++]);
	PQclear(r);
	return 0;
}

enum store_result
pg_add_incident_grant(void *db, const char *incident_id, const char *grant_id,
    const char *email, int64_t seen_ms)
{
	struct pg_params p;
	int64_t changed = 0;

	memset(&p, 0, sizeof(p));
	pg_text(&p, incident_id);
	pg_text(&p, grant_id);
	pg_text(&p, email);
	pg_int(&p, seen_ms);
	if (pg_run_done(db, "add incident grant", "INSERT INTO incident_grants (incident_id,"
	    " grant_id, email, seen_ms) VALUES ($1::text, $2::text, $3::text, $4::bigint)"
	    " ON CONFLICT (incident_id, grant_id) DO NOTHING", &p, &changed) == -1)
		return STORE_ERROR;
	return changed > 0 ? STORE_STORED : STORE_DUPLICATE;
}

/*
 * Each grant is stored when a returned row has its key that no earlier
 * grant of the call claimed: of repeats within the call, the first was
 * stored and the others are duplicates, as one by one.
 */
static void
match_grants(const PGresult *r, const struct store_incident_grant *g, size_t n,
    enum store_result *results)
{
	int rows = PQntuples(r), j;
	char *claimed = xcalloc(rows > 0 ? (size_t)rows : 1, 1);
	size_t i;

	for (i = 0; i < n; i++) {
		results[i] = STORE_DUPLICATE;
		for (j = 0; j < rows; j++) {
			if (!claimed[j] && strcmp(PQgetvalue(r, j, 0), g[i].incident_id) == 0 &&
			    strcmp(PQgetvalue(r, j, 1), g[i].grant_id) == 0) {
				claimed[j] = 1;
				results[i] = STORE_STORED;
				break;
			}
		}
	}
	free(claimed);
}

/*
 * One INSERT for the whole batch, its rows as four arrays (unnest keeps
 * their order, and a row that meets one stored before it in the same
 * statement does nothing), returning the keys it stored.
 */
int
pg_add_incident_grants(void *db, const struct store_incident_grant *g, size_t n,
    enum store_result *results)
{
	const char **incidents = xcalloc(n + 1, sizeof(*incidents));
	const char **grants = xcalloc(n + 1, sizeof(*grants));
	const char **emails = xcalloc(n + 1, sizeof(*emails));
	int64_t *seen = xcalloc(n + 1, sizeof(*seen));
	char *lists[4];
	struct pg_params p;
	PGresult *r;
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		incidents[i] = g[i].incident_id;
		grants[i] = g[i].grant_id;
		emails[i] = g[i].email;
		seen[i] = g[i].seen_ms;
	}
	lists[0] = pg_text_array(incidents, n);
	lists[1] = pg_text_array(grants, n);
	lists[2] = pg_text_array(emails, n);
	lists[3] = pg_int_array(seen, n);
	memset(&p, 0, sizeof(p));
	for (i = 0; i < 4; i++)
		pg_text(&p, lists[i]);
	r = pg_run(db, "add incident grants", "INSERT INTO incident_grants (incident_id, grant_id,"
	    " email, seen_ms) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
	    " $4::bigint[]) ON CONFLICT (incident_id, grant_id) DO NOTHING"
	    " RETURNING incident_id, grant_id", &p);
	if (r != NULL) {
		match_grants(r, g, n, results);
		PQclear(r);
		rc = 0;
	}
	for (i = 0; i < 4; i++)
		free(lists[i]);
	free(seen);
	free(emails);
	free(grants);
	free(incidents);
	return rc;
}

int64_t
pg_recover_grants(void *db, const char *app, const char *grant_id, const char *email,
    int64_t at_ms)
{
	struct pg_params p;
	int64_t changed = 0;

	memset(&p, 0, sizeof(p));
	pg_int(&p, at_ms);
	pg_text(&p, grant_id);
	pg_text(&p, email);
	pg_text(&p, app);
	if (pg_run_done(db, "recover grants", "UPDATE incident_grants SET recovered_ms = $1::bigint"
	    " WHERE recovered_ms = 0 AND (grant_id = $2::text OR ($3::text IS NOT NULL AND"
	    " lower(email) = lower($3::text))) AND incident_id IN (SELECT id FROM incidents"
	    " WHERE app = $4::text AND state = 'open')", &p, &changed) == -1)
		return -1;
	return changed;
}

int
pg_resolve_incident(void *db, const char *id, const char *by, int64_t at_ms)
{
	struct pg_params p;
	int64_t changed = 0;

	memset(&p, 0, sizeof(p));
	pg_text(&p, id);
	pg_text(&p, by);
	pg_int(&p, at_ms);
	if (pg_run_done(db, "resolve incident", "UPDATE incidents SET state = 'resolved',"
	    " resolved_by = $2::text, resolved_at = $3::bigint, updated_at = $3::bigint"
	    " WHERE id = $1::text AND state = 'open'", &p, &changed) == -1)
		return -1;
	return changed > 0;
}

int
pg_unmailed_grants(void *db, const char *incident_id, const char *kind, size_t max,
    char ***emails, size_t *n)
{
	struct pg_params p;
	PGresult *r;
	int i, rows;

	memset(&p, 0, sizeof(p));
	pg_text(&p, incident_id);
	pg_text(&p, kind);
	pg_int(&p, (int64_t)max);
	/* No DISTINCT or ORDER BY, as in SQLite: the outbox's unique key refuses a repeat. */
	r = pg_run(db, "unmailed grants", "SELECT lower(g.email) FROM incident_grants g"
	    " WHERE g.incident_id = $1::text AND g.recovered_ms = 0 AND g.email IS NOT NULL"
	    " AND g.email <> '' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.ref = $1::text"
	    " AND o.kind = $2::text AND o.recipient = lower(g.email) AND o.channel = 'email')"
	    " LIMIT $3::bigint", &p);
	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	*emails = xcalloc(max > 0 ? max : 1, sizeof(**emails));
	for (i = 0; i < rows && *n < max; i++)
		(*emails)[(*n)++] = pg_get_dup(r, i, 0);
	PQclear(r);
	return 0;
}

int
pg_incident_is_open(void *db, const char *id)
{
	struct pg_params p;
	int64_t n;

	memset(&p, 0, sizeof(p));
	pg_text(&p, id);
	n = pg_run_count(db, "incident is open", "SELECT count(*) FROM incidents"
	    " WHERE id = $1::text AND state = 'open'", &p);
	return n < 0 ? -1 : n > 0;
}

/* As the SQLite backend's: one grouped scan of the incident's grants into n buckets of step_ms. */
int
pg_incident_progress(void *db, const char *id, int64_t since_ms, int64_t step_ms, size_t n,
    int64_t *affected, int64_t *recovered)
{
	struct pg_params p;
	PGresult *r;
	int64_t a, rec, count;
	int i, rows;
	size_t k;

	memset(affected, 0, n * sizeof(*affected));
	memset(recovered, 0, n * sizeof(*recovered));
	memset(&p, 0, sizeof(p));
	pg_text(&p, id);
	pg_int(&p, since_ms);
	pg_int(&p, step_ms);
	pg_int(&p, (int64_t)n);
	r = pg_run(db, "incident progress", "SELECT least($4::bigint - 1, greatest(0,"
	    " (seen_ms - $2::bigint) / $3::bigint)) AS a, CASE WHEN recovered_ms > 0 THEN"
	    " least($4::bigint - 1, greatest(0, (recovered_ms - $2::bigint) / $3::bigint))"
	    " ELSE -1 END AS r, count(*) FROM incident_grants WHERE incident_id = $1::text"
	    " GROUP BY 1, 2", &p);
	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	for (i = 0; i < rows; i++) {
		a = pg_get_int(r, i, 0);
		rec = pg_get_int(r, i, 1);
		count = pg_get_int(r, i, 2);
		if (a >= 0 && (size_t)a < n)
			affected[a] += count;
		if (rec >= 0 && (size_t)rec < n)
			recovered[rec] += count;
	}
	PQclear(r);
	for (k = 1; k < n; k++) {
		affected[k] += affected[k - 1];
		recovered[k] += recovered[k - 1];
	}
	return 0;
}
