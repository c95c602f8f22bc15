/*
 * store_sqlite_later: a storm's grants listed in their incident in bulk.
 *
 * A storm's grant ids are random, so listing each grant as its event is
 * journaled changed a random leaf of incident_grants' primary key and one of
 * its email index at every commit: with ~14 events a commit, every event
 * wrote two more pages to the log (SQLite logs whole pages), most of the
 * writer's bytes and half its time.  Instead the writer appends the grant to
 * grants_later (schema 9: a rowid table, so appending touches its last page
 * only), in the transaction that journals the event, and lists the waiting
 * grants in one sorted INSERT ... SELECT once LATER_MAX wait, once the oldest
 * has waited the journal's bound, before any other write of the writer, and
 * when the writer goes idle (state/journal.c): each leaf is then written once
 * per flush, not once per grant.  Measured with tests/bench/intake.sh (ids
 * scrambled): the writer's KiB per event 19.2 -> 9.8, its CPU 40 -> 28 us.
 *
 * Whether a grant is listed already must still be answered at once (the
 * event's result, the correlator's burst rule): a read of the primary key,
 * which writes nothing, or the waiting grants' keys, kept in memory on the
 * writer's connection (a TEMP table of them cost more than the pages it
 * saved: its journal in a file, three system calls an event, or 6 MiB more
 * RSS in memory).  The keys follow the rows: a rollback makes the next call
 * load them again from grants_later.  The rows survive a crash with the
 * events that brought them, and are listed by the next writer to look
 * (sqlite_grants_waiting loads them).
 */
#include "lib/log.h"
#include "lib/strset.h"
#include "lib/util.h"
#include "state/store_sqlite_int.h"

#include <stdlib.h>

/* Waiting grants at which the writer lists them at once, inside its transaction. */
#define LATER_MAX 4096

static void
rolled_back(void *arg)
{
	struct sqlite_db *s = arg;

	s->later_loaded = 0;
}

void
sqlite_later_attach(struct sqlite_db *s)
{
	sqlite3_rollback_hook(s->db, rolled_back, s);
}

/* A waiting grant's key in later_keys: its incident, a NUL, its grant. */
static char *
key_of(const char *incident_id, const char *grant_id, size_t *n)
{
	size_t a = strlen(incident_id), b = strlen(grant_id);
	char *k = xmalloc(a + 1 + b);

	memcpy(k, incident_id, a);
	k[a] = '\0';
	memcpy(k + a + 1, grant_id, b);
	*n = a + 1 + b;
	return k;
}

static void
remember(struct sqlite_db *s, const char *incident_id, const char *grant_id)
{
	size_t n;
	char *k = key_of(incident_id, grant_id, &n);

	strset_add(&s->later_keys, k, n);
	free(k);
}

/* The waiting rows' keys and count on this connection, after a start or a rollback.  0 or -1. */
static int
load(struct sqlite_db *s)
{
	sqlite3_stmt *st;
	int rc;

	if (s->later_loaded)
		return 0;
	st = sqlite_prepare(s, "SELECT incident_id, grant_id FROM grants_later");
	if (st == NULL)
		return -1;
	strset_clear(&s->later_keys);
	s->later_n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		remember(s, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1));
		s->later_n++;
	}
	sqlite_finish(s, st);
	if (rc != SQLITE_DONE) {
		log_error("store: cannot read the grants waiting to be listed: %s",
		    sqlite3_errmsg(s->db));
		return -1;
	}
	/* Their age is unknown: counted from now, so a restart lists them within the bound. */
	s->later_since_us = util_mono_us();
	s->later_loaded = 1;
	return 0;
}

/* Whether incident_id lists grant_id or will: 1, 0, or -1 on error. */
static int
listed(struct sqlite_db *s, const struct store_incident_grant *g)
{
	sqlite3_stmt *st;
	size_t n;
	char *k = key_of(g->incident_id, g->grant_id, &n);
	int waiting = strset_has(&s->later_keys, k, n);

	free(k);
	if (waiting)
		return 1;
	st = sqlite_prepare(s, "SELECT EXISTS (SELECT 1 FROM incident_grants"
	    " WHERE incident_id = ?1 AND grant_id = ?2)");
	if (st == NULL)
		return -1;
	bind_text(st, 1, g->incident_id);
	bind_text(st, 2, g->grant_id);
	return (int)sqlite_run_count(s, st);
}

static int
append(struct sqlite_db *s, const struct store_incident_grant *g)
{
	sqlite3_stmt *st = sqlite_prepare(s, "INSERT INTO grants_later (incident_id, grant_id,"
	    " email, seen_ms) VALUES (?1, ?2, ?3, ?4)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, g->incident_id);
	bind_text(st, 2, g->grant_id);
	bind_text(st, 3, g->email);
	sqlite3_bind_int64(st, 4, g->seen_ms);
	if (sqlite_run_done(s, st, "list a grant later") == -1)
		return -1;
	remember(s, g->incident_id, g->grant_id);
	if (s->later_n++ == 0)
		s->later_since_us = util_mono_us();
	return 0;
}

int
sqlite_add_incident_grants_later(void *db, const struct store_incident_grant *g, size_t n,
    enum store_result *results)
{
	struct sqlite_db *s = db;
	size_t i;
	int was;

	if (load(s) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((was = listed(s, &g[i])) == -1)
			return -1;
		results[i] = was ? STORE_DUPLICATE : STORE_STORED;
		if (!was && append(s, &g[i]) == -1)
			return -1;
	}
	if (s->later_n >= LATER_MAX && sqlite_flush_incident_grants(s, 0) == -1)
		return -1;
	return 0;
}

int
sqlite_flush_incident_grants(void *db, int64_t older_than_ms)
{
	struct sqlite_db *s = db;
	int64_t n;

	if (load(s) == -1)
		return -1;
	n = s->later_n;
	if (n == 0 || util_mono_us() - s->later_since_us < older_than_ms * 1000)
		return 0;
	/*
	 * In key order: each leaf of the primary key is reached once, in turn.
	 * A grant listed meanwhile by another writer (the incident's Nylas
	 * listing, on the main loop's connection) is left as it is.
	 */
	if (sqlite_exec_sql(s, "INSERT INTO incident_grants (incident_id, grant_id, email,"
	    " seen_ms) SELECT incident_id, grant_id, email, seen_ms FROM grants_later"
	    " WHERE true ORDER BY incident_id, grant_id"
	    " ON CONFLICT (incident_id, grant_id) DO NOTHING;"
	    "DELETE FROM grants_later;") == -1) {
		log_error("store: cannot list %lld waiting grants in their incidents", (long long)n);
		return -1;
	}
	s->later_n = 0;
	strset_clear(&s->later_keys);
	return (int)(n > INT32_MAX ? INT32_MAX : n);
}

int64_t
sqlite_grants_waiting(void *db)
{
	struct sqlite_db *s = db;

	return load(s) == -1 ? -1 : s->later_n;
}
