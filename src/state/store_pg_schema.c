/*
 * store_pg_schema: the PostgreSQL store's schema, as versioned migrations
 * applied in one transaction under an advisory lock, so that replicas that
 * start together do not race: the first creates or migrates, the others
 * wait for it and then find the schema current.
 *
 * The tables are the SQLite store's (store_sqlite.c), in PostgreSQL's types
 * (bigint for SQLite's INTEGER, bytea for BLOB), with two additions for
 * running several replicas on one database:
 *   - leadership: one row (id 1) with the current leader's epoch, which the
 *     leader (state/leader.c) bumps when it takes over;
 *   - rekey_fence(): a trigger on every table the engines write that
 *     refuses a write made with an epoch (rekey.epoch, set per connection by
 *     store_set_epoch) below the current one: a leader that was replaced
 *     while it stalled cannot overwrite what its successor wrote.  The row
 *     is read FOR SHARE, so a takeover (an UPDATE of that row) waits for the
 *     old leader's transaction in flight, and every later one sees the new
 *     epoch.  Connections that never set an epoch (the intake's) are never
 *     fenced, and inserting events is never fenced at all.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each entry moves the schema from version i to i+1; never edit a released one. */
static const char *const migrations[] = {
	/* 1: the tables of SQLite's schema 7, leadership and the fence. */
	"CREATE TABLE events ("
	" id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" source text NOT NULL, app text NOT NULL, event_id text NOT NULL,"
	" type text NOT NULL, received_ms bigint NOT NULL, remote_addr text,"
	" grant_id text, email text, provider text, integration_id text,"
	" code bigint, reauth_flag bigint, event_time bigint, grant_updated_at bigint,"
	" body bytea NOT NULL, processed_at bigint, result text,"
	" UNIQUE (source, app, event_id));"
	"CREATE INDEX events_unprocessed ON events (id) WHERE processed_at IS NULL;"
	"CREATE TABLE meta (key text PRIMARY KEY, value text);"
	"CREATE TABLE subscriptions ("
	" app text PRIMARY KEY, id text NOT NULL, resource text NOT NULL,"
	" notification_url text, expiration bigint NOT NULL, created_at bigint NOT NULL,"
	" renewed_at bigint NOT NULL DEFAULT 0, resync_at bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE graph_users ("
	" app text NOT NULL, user_id text NOT NULL, mail text, upn text,"
	" account_enabled integer, deleted integer NOT NULL DEFAULT 0,"
	" sessions_valid_from bigint NOT NULL DEFAULT 0,"
	" last_password_change bigint NOT NULL DEFAULT 0, updated_ms bigint NOT NULL,"
	" PRIMARY KEY (app, user_id));"
	"CREATE TABLE user_events ("
	" id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, app text NOT NULL,"
	" user_id text NOT NULL, email text, kind text NOT NULL, observed_ms bigint NOT NULL,"
	" changed_at bigint NOT NULL, source_event bigint, evidence text);"
	"CREATE INDEX user_events_email ON user_events (app, lower(email), observed_ms);"
	"CREATE TABLE rotations ("
	" id text PRIMARY KEY, app text NOT NULL, state text NOT NULL, reason text NOT NULL,"
	" incident_id text, dry_run integer NOT NULL DEFAULT 0, approved integer NOT NULL DEFAULT 0,"
	" old_key_id text, new_key_id text, new_hint text, new_end bigint NOT NULL DEFAULT 0,"
	" secret_ct bytea, lifetime bigint NOT NULL DEFAULT 0, attempts integer NOT NULL DEFAULT 0,"
	" next_at bigint NOT NULL DEFAULT 0, last_error text, created_at bigint NOT NULL,"
	" updated_at bigint NOT NULL, published_at bigint NOT NULL DEFAULT 0,"
	" retire_at bigint NOT NULL DEFAULT 0, test_ok integer NOT NULL DEFAULT 0,"
	" test_since bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX rotations_app ON rotations (app, created_at);"
	"CREATE TABLE incidents ("
	" id text PRIMARY KEY, app text NOT NULL, cause text NOT NULL, state text NOT NULL,"
	" evidence text NOT NULL DEFAULT '[]', rotation_id text, opened_at bigint NOT NULL,"
	" updated_at bigint NOT NULL, resolved_at bigint NOT NULL DEFAULT 0, resolved_by text,"
	" affected_grants bigint NOT NULL DEFAULT 0, recovered_grants bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX incidents_app ON incidents (app, state, opened_at);"
	"CREATE TABLE incident_grants ("
	" incident_id text NOT NULL, grant_id text NOT NULL, email text,"
	" seen_ms bigint NOT NULL, recovered_ms bigint NOT NULL DEFAULT 0,"
	" PRIMARY KEY (incident_id, grant_id));"
	"CREATE INDEX incident_grants_email ON incident_grants (lower(email));"
	"CREATE TABLE app_values ("
	" app text NOT NULL, key text NOT NULL, value text, updated_ms bigint NOT NULL,"
	" PRIMARY KEY (app, key));"
	"CREATE TABLE outbox ("
	" id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, app text NOT NULL,"
	" kind text NOT NULL, ref text NOT NULL, channel text NOT NULL, recipient text NOT NULL,"
	" msg_id text NOT NULL, subject text, payload bytea NOT NULL, state text NOT NULL,"
	" attempts integer NOT NULL DEFAULT 0, next_at bigint NOT NULL DEFAULT 0, last_error text,"
	" created_at bigint NOT NULL, sent_at bigint NOT NULL DEFAULT 0,"
	" priority integer NOT NULL DEFAULT 0, UNIQUE (ref, kind, recipient, channel));"
	"CREATE INDEX outbox_due ON outbox (priority, next_at) WHERE state IN ('pending', 'sending');"
	"CREATE INDEX outbox_app ON outbox (app, state);"
	"CREATE TABLE graph_tokens ("
	" digest text PRIMARY KEY, tokens bytea NOT NULL, created_ms bigint NOT NULL);"
	"CREATE INDEX graph_tokens_age ON graph_tokens (created_ms);"
	/*
	 * An incident's affected and recovered grants are counted as they
	 * change, as in SQLite's schema 5: counting at every read scanned
	 * every grant of a big incident.
	 */
	"CREATE FUNCTION rekey_count_grants() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  IF TG_OP = 'INSERT' THEN"
	"   UPDATE incidents SET affected_grants = affected_grants + 1,"
	"    recovered_grants = recovered_grants + (NEW.recovered_ms <> 0)::int"
	"    WHERE id = NEW.incident_id;"
	"  ELSIF TG_OP = 'UPDATE' THEN"
	"   IF (OLD.recovered_ms <> 0) <> (NEW.recovered_ms <> 0) THEN"
	"    UPDATE incidents SET recovered_grants = recovered_grants +"
	"     CASE WHEN NEW.recovered_ms <> 0 THEN 1 ELSE -1 END WHERE id = NEW.incident_id;"
	"   END IF;"
	"  ELSE"
	"   UPDATE incidents SET affected_grants = affected_grants - 1,"
	"    recovered_grants = recovered_grants - (OLD.recovered_ms <> 0)::int"
	"    WHERE id = OLD.incident_id;"
	"  END IF;"
	"  RETURN NULL;"
	" END $$;"
	"CREATE TRIGGER incident_grants_count AFTER INSERT OR UPDATE OF recovered_ms OR DELETE"
	" ON incident_grants FOR EACH ROW EXECUTE FUNCTION rekey_count_grants();"
	"CREATE TABLE leadership ("
	" id integer PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, node text, since_ms bigint);"
	"INSERT INTO leadership (id, epoch) VALUES (1, 0);"
	/* SQLSTATE RK001: "stale leader" (a class of rekey's own). */
	"CREATE FUNCTION rekey_fence() RETURNS trigger LANGUAGE plpgsql AS $$"
	" DECLARE"
	"  mine text := current_setting('rekey.epoch', true);"
	"  current_epoch bigint;"
	" BEGIN"
	"  IF mine IS NOT NULL AND mine <> '' THEN"
	"   SELECT epoch INTO current_epoch FROM leadership WHERE id = 1 FOR SHARE;"
	"   IF mine::bigint < current_epoch THEN"
	"    RAISE EXCEPTION 'stale leader: epoch % < %', mine, current_epoch"
	"     USING ERRCODE = 'RK001';"
	"   END IF;"
	"  END IF;"
	"  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;"
	"  RETURN NEW;"
	" END $$;"
	"CREATE TRIGGER fence BEFORE UPDATE OR DELETE ON events"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();"
	"CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON rotations"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();"
	"CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON incidents"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();"
	"CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON incident_grants"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();"
	"CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON outbox"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();"
	"CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON app_values"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();"
	"CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON subscriptions"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();"
	"CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON graph_users"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();"
	"CREATE TRIGGER fence BEFORE INSERT OR UPDATE OR DELETE ON user_events"
	" FOR EACH ROW EXECUTE FUNCTION rekey_fence();",
	/*
	 * graph_tokens is the intake's (a Graph batch's validationTokens,
	 * written before the 202 through the journal's writer, whose
	 * connection keeps a former leader's epoch): never fenced, as events'
	 * inserts are not.
	 */
	/*
	 * 2: every event is marked processed soon after it came (an UPDATE
	 * each), which leaves a dead entry in the partial index of the
	 * unprocessed until a vacuum; at autovacuum's default (a fifth of the
	 * table) a storm left tens of thousands, and the correlator's read of
	 * the queue from its start waded through them (18-32 ms a call against
	 * 0.4 ms after a VACUUM).  Vacuumed after every few thousand changes.
	 */
	"ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0,"
	" autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_insert_scale_factor = 0,"
	" autovacuum_vacuum_insert_threshold = 20000, autovacuum_analyze_scale_factor = 0.02);",
	/*
	 * 3: the counts kept once per statement, not per row.  The journal's
	 * writer lists a storm's grants 10-30 in one INSERT, and each row's
	 * UPDATE of the incident left one more dead version of that one row
	 * (and took the fence's share lock on leadership once more): a storm of
	 * 15,000 grants left 15,000 versions that every read of the incident,
	 * the writer's storm check among them, walked until a vacuum.
	 * Transition tables cannot serve several events in one trigger, hence
	 * three.  An UPDATE never changes a grant's key (incident_id, grant_id).
	 *
	 * And the Nylas events other than grant.expired that wait for the
	 * correlator, by app, for the writer's storm check (pg_storm_ready; as
	 * SQLite's schema 8): a backlog of grant.expired the correlator has yet
	 * to read no longer holds the permit back.  Through events_unprocessed
	 * the planner took a bitmap scan, which visits the heap page of every
	 * entry, dead ones included (2,000 after a warm-up the correlator worked
	 * off: 347 pages, 0.2-3.3 ms at every commit), and never marks them
	 * dead; an index scan of this one marks them at its first pass (then 2
	 * pages, 0.01 ms).
	 */
	"DROP TRIGGER incident_grants_count ON incident_grants;"
	"DROP FUNCTION rekey_count_grants();"
	"CREATE FUNCTION rekey_count_grants_added() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  UPDATE incidents i SET affected_grants = i.affected_grants + n.added,"
	"   recovered_grants = i.recovered_grants + n.recovered"
	"   FROM (SELECT incident_id, count(*) AS added,"
	"    count(*) FILTER (WHERE recovered_ms <> 0) AS recovered"
	"    FROM added_rows GROUP BY incident_id) n"
	"   WHERE i.id = n.incident_id;"
	"  RETURN NULL;"
	" END $$;"
	"CREATE TRIGGER incident_grants_added AFTER INSERT ON incident_grants"
	" REFERENCING NEW TABLE AS added_rows"
	" FOR EACH STATEMENT EXECUTE FUNCTION rekey_count_grants_added();"
	"CREATE FUNCTION rekey_count_grants_removed() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  UPDATE incidents i SET affected_grants = i.affected_grants - n.removed,"
	"   recovered_grants = i.recovered_grants - n.recovered"
	"   FROM (SELECT incident_id, count(*) AS removed,"
	"    count(*) FILTER (WHERE recovered_ms <> 0) AS recovered"
	"    FROM removed_rows GROUP BY incident_id) n"
	"   WHERE i.id = n.incident_id;"
	"  RETURN NULL;"
	" END $$;"
	"CREATE TRIGGER incident_grants_removed AFTER DELETE ON incident_grants"
	" REFERENCING OLD TABLE AS removed_rows"
	" FOR EACH STATEMENT EXECUTE FUNCTION rekey_count_grants_removed();"
	"CREATE FUNCTION rekey_count_grants_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  UPDATE incidents i SET recovered_grants = i.recovered_grants + n.delta"
	"   FROM (SELECT o.incident_id, sum((w.recovered_ms <> 0)::int"
	"    - (o.recovered_ms <> 0)::int) AS delta"
	"    FROM old_rows o JOIN new_rows w"
	"     ON w.incident_id = o.incident_id AND w.grant_id = o.grant_id"
	"    GROUP BY o.incident_id) n"
	"   WHERE i.id = n.incident_id AND n.delta <> 0;"
	"  RETURN NULL;"
	" END $$;"
	"CREATE TRIGGER incident_grants_changed AFTER UPDATE ON incident_grants"
	" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
	" FOR EACH STATEMENT EXECUTE FUNCTION rekey_count_grants_changed();"
	"CREATE INDEX events_unprocessed_other ON events (app)"
	" WHERE processed_at IS NULL AND source = 'nylas' AND type <> 'grant.expired';",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The version recorded in schema_version (0 for a new database), or -1. */
static int
schema_version(struct pg_db *s)
{
	PGresult *r;
	int v = -1;

	if (pg_exec(s, "create schema_version", "CREATE TABLE IF NOT EXISTS schema_version"
	    " (version integer NOT NULL)") == -1)
		return -1;
	r = pg_run(s, "read schema_version", "SELECT max(version) FROM schema_version", NULL);
	if (r != NULL) {
		v = (int)pg_get_int(r, 0, 0);
		PQclear(r);
	}
	return v;
}

/* Inside the migrations transaction: from have to the newest.  0 or -1 and *err. */
static int
apply_migrations(struct pg_db *s, int have, char **err)
{
	struct pg_params p;

	for (; have < N_MIGRATIONS; have++) {
		memset(&p, 0, sizeof(p));
		pg_int(&p, have + 1);
		if (pg_exec(s, "migration", migrations[have]) == -1 ||
		    pg_run_done(s, "record schema_version", "DELETE FROM schema_version", NULL,
		    NULL) == -1 ||
		    pg_run_done(s, "record schema_version", "INSERT INTO schema_version (version)"
		    " VALUES ($1::integer)", &p, NULL) == -1) {
			*err = xasprintf("store migration to version %d failed (see the log)",
			    have + 1);
			return -1;
		}
		log_info("store: migrated schema to version %d", have + 1);
	}
	return 0;
}

int
pg_migrate(struct pg_db *s, char **err)
{
	struct pg_params p;
	int have;

	memset(&p, 0, sizeof(p));
	pg_int(&p, PG_LOCK_MIGRATIONS);
	if (pg_exec(s, "begin migrations", "BEGIN") == -1)
		goto fail;
	if (pg_run_done(s, "lock for migrations", "SELECT pg_advisory_xact_lock($1::bigint)", &p,
	    NULL) == -1)
		goto fail;
	have = schema_version(s);
	if (have < 0)
		goto fail;
	if (have > N_MIGRATIONS) {
		*err = xasprintf("store schema version %d is unknown to this rekey (knows up to %d)",
		    have, N_MIGRATIONS);
		goto rollback;
	}
	if (apply_migrations(s, have, err) == -1)
		goto rollback;
	if (pg_exec(s, "commit migrations", "COMMIT") == -1)
		goto fail;
	return 0;
fail:
	*err = xasprintf("cannot set up the schema of store %s: %s", s->shown,
	    pg_error(s));
rollback:
	pg_exec(s, "rollback migrations", "ROLLBACK");
	return -1;
}
