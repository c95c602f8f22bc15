/*
 * store_pg_rotations: the rotations table on PostgreSQL, one row per
 * rotation of an app's secret, written whole at every step (an upsert).
 */
#include "lib/log.h"
#include "state/store_pg_int.h"

#include <stdlib.h>
#include <string.h>

#define ROTATION_COLUMNS "id, app, state, reason, incident_id, dry_run, approved," \
	" old_key_id, new_key_id, new_hint, new_end, secret_ct, lifetime, attempts, next_at," \
	" last_error, created_at, updated_at, published_at, retire_at, test_ok, test_since"

int
pg_put_rotation(void *db, const struct store_rotation *r)
{
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_text(&p, r->id);
	pg_text(&p, r->app);
	pg_text(&p, r->state);
	pg_text(&p, r->reason);
	pg_text(&p, r->incident_id);
	pg_int(&p, r->dry_run);
	pg_int(&p, r->approved);
	pg_text(&p, r->old_key_id);
	pg_text(&p, r->new_key_id);
	pg_text(&p, r->new_hint);
	pg_int(&p, r->new_end);
	if (r->secret_ct != NULL)
		pg_bytea(&p, r->secret_ct, r->secret_ct_len);
	else
		pg_text(&p, NULL);
	pg_int(&p, r->lifetime);
	pg_int(&p, r->attempts);
	pg_int(&p, r->next_at);
	pg_text(&p, r->last_error);
	pg_int(&p, r->created_at);
	pg_int(&p, r->updated_at);
	pg_int(&p, r->published_at);
	pg_int(&p, r->retire_at);
	pg_int(&p, r->test_ok);
	pg_int(&p, r->test_since);
	return pg_run_done(db, "put rotation", "INSERT INTO rotations (" ROTATION_COLUMNS ")"
	    " VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::integer, $7::integer,"
	    " $8::text, $9::text, $10::text, $11::bigint, $12::bytea, $13::bigint, $14::integer,"
	    " $15::bigint, $16::text, $17::bigint, $18::bigint, $19::bigint, $20::bigint,"
	    " $21::integer, $22::bigint) ON CONFLICT (id) DO UPDATE SET app = excluded.app,"
	    " state = excluded.state, reason = excluded.reason, incident_id = excluded.incident_id,"
	    " dry_run = excluded.dry_run, approved = excluded.approved,"
	    " old_key_id = excluded.old_key_id, new_key_id = excluded.new_key_id,"
	    " new_hint = excluded.new_hint, new_end = excluded.new_end,"
	    " secret_ct = excluded.secret_ct, lifetime = excluded.lifetime,"
	    " attempts = excluded.attempts, next_at = excluded.next_at,"
	    " last_error = excluded.last_error, created_at = excluded.created_at,"
	    " updated_at = excluded.updated_at, published_at = excluded.published_at,"
	    " retire_at = excluded.retire_at, test_ok = excluded.test_ok,"
	    " test_since = excluded.test_since", &p, NULL);
}

static void
read_rotation(const PGresult *res, int i, struct store_rotation *r)
{
	r->id = pg_get_dup(res, i, 0);
	r->app = pg_get_dup(res, i, 1);
	r->state = pg_get_dup(res, i, 2);
	r->reason = pg_get_dup(res, i, 3);
	r->incident_id = pg_get_dup(res, i, 4);
	r->dry_run = (int)pg_get_int(res, i, 5);
	r->approved = (int)pg_get_int(res, i, 6);
	r->old_key_id = pg_get_dup(res, i, 7);
	r->new_key_id = pg_get_dup(res, i, 8);
	r->new_hint = pg_get_dup(res, i, 9);
	r->new_end = pg_get_int(res, i, 10);
	r->secret_ct = (unsigned char *)pg_get_bytea(res, i, 11, &r->secret_ct_len);
	if (r->secret_ct != NULL && r->secret_ct_len == 0) {
		free(r->secret_ct);
		r->secret_ct = NULL;
	}
	r->lifetime = pg_get_int(res, i, 12);
	r->attempts = (int)pg_get_int(res, i, 13);
	r->next_at = pg_get_int(res, i, 14);
	r->last_error = pg_get_dup(res, i, 15);
	r->created_at = pg_get_int(res, i, 16);
	r->updated_at = pg_get_int(res, i, 17);
	r->published_at = pg_get_int(res, i, 18);
	r->retire_at = pg_get_int(res, i, 19);
	r->test_ok = (int)pg_get_int(res, i, 20);
	r->test_since = pg_get_int(res, i, 21);
}

int
pg_get_rotation(void *db, const char *id, struct store_rotation *out)
{
	struct pg_params p;
	PGresult *r;
	int found;

	memset(&p, 0, sizeof(p));
	pg_text(&p, id);
	r = pg_run(db, "get rotation", "SELECT " ROTATION_COLUMNS " FROM rotations"
	    " WHERE id = $1::text", &p);
	if (r == NULL)
		return -1;
	found = PQntuples(r) > 0;
	if (found)
		read_rotation(r, 0, out);
	PQclear(r);
	return found;
}

int
pg_list_rotations(void *db, const char *app, int unfinished, size_t max,
    struct store_rotation **out, size_t *n)
{
	struct pg_params p;
	PGresult *r;
	int i, rows;

	memset(&p, 0, sizeof(p));
	pg_text(&p, app);
	pg_int(&p, unfinished);
	pg_int(&p, (int64_t)max);
	r = pg_run(db, "list rotations", "SELECT " ROTATION_COLUMNS " FROM rotations"
	    " WHERE ($1::text IS NULL OR app = $1::text) AND ($2::integer = 0 OR"
	    " state NOT IN ('done', 'failed')) ORDER BY created_at DESC, id LIMIT $3::bigint", &p);
	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	for (i = 0; i < rows && *n < max; i++)
		read_rotation(r, i, &(*out)[(*n)++]);
	PQclear(r);
	return 0;
}
