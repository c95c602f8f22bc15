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
 * which writes nothing, or the digests of the waiting grants' keys, kept in
 * memory on the writer's connection (lib/keyset: 16 bytes a grant; a hit is
 * confirmed in grants_later, since digests can collide, and hits are rare: a
 * second grant.expired of one grant).  Tried before: a TEMP table of the keys
 * (its journal in a file cost three system calls an event; in memory, 6 MiB
 * more RSS), a set of the keys as strings (with 16,384 waiting, RSS after
 * 10^6 events 24.8 -> 29.9 MiB).  The digests follow the rows: a rollback
 * makes the next call load them again from grants_later.  The rows survive a
 * crash with the events that brought them, and are listed by the next
 * writer to look (sqlite_grants_waiting loads them).
 */
#include "lib/log.h"
#include "lib/keyset.h"
#include "lib/util.h"
#include "state/store_sqlite_int.h"

/* Waiting grants that a flush lists whatever their age, and the most it lists at once. */
#define LATER_MAX 4096
/* A flush for age lists what fits in this time, at least LATER_SLICE_MIN (next_slice). */
#define LATER_SLICE_US 10000
#define LATER_SLICE_MIN 64

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

static void
remember(struct sqlite_db *s, const char *incident_id, const char *grant_id)
{
	keyset_add(&s->later_keys, keyset_digest2(incident_id, grant_id));
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
	keyset_clear(&s->later_keys);
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
	if (s->later_slice == 0)
		s->later_slice = LATER_MAX;
	s->later_loaded = 1;
	return 0;
}

/* Whether incident_id lists grant_id or will: 1, 0, or -1 on error. */
static int
listed(struct sqlite_db *s, const struct store_incident_grant *g)
{
	sqlite3_stmt *st;
	int maybe = keyset_has(&s->later_keys, keyset_digest2(g->incident_id, g->grant_id));

	/* A digest's hit is confirmed by a scan of the waiting rows (no index: appends stay cheap). */
	st = sqlite_prepare(s, maybe ?
	    "SELECT EXISTS (SELECT 1 FROM incident_grants WHERE incident_id = ?1 AND grant_id = ?2)"
	    " OR EXISTS (SELECT 1 FROM grants_later WHERE incident_id = ?1 AND grant_id = ?2)" :
	    "SELECT EXISTS (SELECT 1 FROM incident_grants WHERE incident_id = ?1 AND grant_id = ?2)");
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
	return 0;
}

/*
 * The id of the last of the oldest `slice` waiting rows (all of them when
 * fewer wait), in rowid order: the slice to list.  -1 on error.
 */
static int64_t
slice_end(struct sqlite_db *s, int64_t slice)
{
	sqlite3_stmt *st = sqlite_prepare(s, "SELECT coalesce((SELECT id FROM grants_later"
	    " ORDER BY id LIMIT 1 OFFSET ?1 - 1), (SELECT max(id) FROM grants_later))");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, slice);
	return sqlite_run_count(s, st);
}

/*
 * Lists the waiting rows up to id `upto` in key order, in a savepoint: a
 * failure undoes the listing alone, not the caller's transaction.  How many
 * rows were listed; -1, or -2 when SQLite ended the transaction (I/O, full).
 * In key order, each leaf of the primary key is reached once, in turn.  A
 * grant listed meanwhile by another writer (the incident's Nylas listing, on
 * the main loop's connection) is left as it is.
 */
static int64_t
list_upto(struct sqlite_db *s, int64_t upto)
{
	sqlite3_stmt *ins, *del;
	int64_t n = -1;

	if (sqlite_exec_sql(s, "SAVEPOINT list_later") == -1)
		return sqlite3_get_autocommit(s->db) ? -2 : -1;
	ins = sqlite_prepare(s, "INSERT INTO incident_grants (incident_id, grant_id, email,"
	    " seen_ms) SELECT incident_id, grant_id, email, seen_ms FROM grants_later"
	    " WHERE id <= ?1 ORDER BY incident_id, grant_id"
	    " ON CONFLICT (incident_id, grant_id) DO NOTHING");
	if (ins != NULL) {
		sqlite3_bind_int64(ins, 1, upto);
		if (sqlite_run_done(s, ins, "list waiting grants") == 0 &&
		    (del = sqlite_prepare(s, "DELETE FROM grants_later WHERE id <= ?1")) != NULL) {
			sqlite3_bind_int64(del, 1, upto);
			if (sqlite_run_done(s, del, "list waiting grants") == 0)
				n = sqlite3_changes(s->db);
		}
	}
	if (n >= 0 && sqlite_exec_sql(s, "RELEASE list_later") == 0)
		return n;
	if (sqlite3_get_autocommit(s->db))
		return -2;
	sqlite_exec_sql(s, "ROLLBACK TO list_later; RELEASE list_later;");
	return -1;
}

/*
 * The next slice's size from the last one's time: as many as fit in
 * LATER_SLICE_US, between LATER_SLICE_MIN and LATER_MAX.  With an incident
 * of thousands of grants, 4,096 take ~10 ms and share their leaves; with
 * 10^6 listed, each grant's leaves are read and written apart and a grant
 * costs 20 us or more: smaller slices then keep each commit short.  Over the
 * benchmark's 10^6 events (BENCH_EVENTS=1000000), p99 was 30 ms listing each
 * grant at once, 101 ms listing 4,096 at a time; with slices of 4 ms 21 ms,
 * but the main run's writer wrote 15 KiB an event instead of 9-10 (slices too
 * small while the incident was small); 15 ms: 46 ms; 10 ms: 32 ms, and 10.3
 * KiB an event in the main run.
 */
static void
next_slice(struct sqlite_db *s, int64_t listed, int64_t took_us)
{
	int64_t fit = took_us > 0 ? listed * LATER_SLICE_US / took_us : LATER_MAX;

	/* A listing shorter than a slice, in time, says little: its fixed costs weigh most. */
	if (took_us <= LATER_SLICE_US && listed < s->later_slice)
		return;
	s->later_slice = fit < LATER_SLICE_MIN ? LATER_SLICE_MIN : fit > LATER_MAX ? LATER_MAX : fit;
}

int
sqlite_flush_incident_grants(void *db, int64_t older_than_ms)
{
	struct sqlite_db *s = db;
	int64_t upto, listed, total = 0, start;

	if (load(s) == -1)
		return -1;
	if (s->later_n == 0 || (older_than_ms > 0 && s->later_n < LATER_MAX &&
	    util_mono_us() - s->later_since_us < older_than_ms * 1000))
		return 0;
	do {
		start = util_mono_us();
		upto = slice_end(s, older_than_ms > 0 ? s->later_slice : s->later_n);
		listed = upto < 0 ? -1 : list_upto(s, upto);
		if (listed < 0) {
			log_error("store: cannot list %lld waiting grants in their incidents",
			    (long long)s->later_n);
			return listed == -2 ? -2 : -1;
		}
		next_slice(s, listed, util_mono_us() - start);
		s->later_n -= listed;
		total += listed;
	} while (older_than_ms == 0 && s->later_n > 0 && listed > 0);
	/*
	 * The oldest's age is unknown now: left as it was, so that the next
	 * commit lists the next slice, until none waits.  The digests of those
	 * listed stay until then (a hit is confirmed in the tables).
	 */
	if (s->later_n <= 0) {
		s->later_n = 0;
		keyset_clear(&s->later_keys);
	}
	return (int)(total > INT32_MAX ? INT32_MAX : total);
}

int64_t
sqlite_grants_waiting(void *db)
{
	struct sqlite_db *s = db;

	return load(s) == -1 ? -1 : s->later_n;
}
