/*
 * store_sqlite: the embedded default store.  WAL mode with synchronous=FULL,
 * so a committed transaction survives a crash of the process or the machine;
 * journal.c groups events so that a burst pays one fsync per batch.
 *
 * This file is the connection: opening it (the schema and its migrations),
 * the statement cache, the waits for another connection's lock,
 * transactions and checkpoints; and the backend's table of calls.  The
 * statements of the tables are in store_sqlite_<table>.c, and what the
 * files share in store_sqlite_int.h.
 */
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "state/store_sqlite_int.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

/* How long a writer waits for another connection's write lock before giving up (503). */
#define BUSY_TIMEOUT_MS 5000
/* How long readyz waits for it: the event loop is blocked meanwhile. */
#define PING_BUSY_MS 200
/* The waits between tries for a lock (busy_cb): the first, doubling up to the last. */
#define BUSY_FIRST_US 50
#define BUSY_MAX_US 1000
/*
 * A write transaction that begins while another connection of this process
 * was refused the lock within the last YIELD_RECENT_US first waits up to
 * YIELD_US (longer than BUSY_MAX_US, so the other's next try finds the lock
 * free) or until that connection has it.  See sqlite_begin.
 */
#define YIELD_RECENT_US 2000
#define YIELD_US 1500

/* The last connection of this process refused a lock, and when (busy_cb). */
static _Atomic(const struct sqlite_db *) busy_last_db;
static atomic_llong busy_last_us;

/* Each entry moves the schema from version i to i+1; never edit a released one. */
static const char *const migrations[] = {
	/* 1: the event journal. */
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" source TEXT NOT NULL, app TEXT NOT NULL, event_id TEXT NOT NULL,"
	" type TEXT NOT NULL, received_ms INTEGER NOT NULL, remote_addr TEXT,"
	" grant_id TEXT, email TEXT, provider TEXT, integration_id TEXT,"
	" code INTEGER, reauth_flag INTEGER, event_time INTEGER, grant_updated_at INTEGER,"
	" body BLOB NOT NULL,"
	" processed_at INTEGER,"
	" UNIQUE (source, app, event_id));"
	"CREATE INDEX events_unprocessed ON events (id) WHERE processed_at IS NULL;"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);",
	/* 2: the worker's results, Graph subscriptions, and user-side evidence. */
	"ALTER TABLE events ADD COLUMN result TEXT;"
	"CREATE TABLE subscriptions ("
	" app TEXT PRIMARY KEY, id TEXT NOT NULL, resource TEXT NOT NULL,"
	" notification_url TEXT, expiration INTEGER NOT NULL, created_at INTEGER NOT NULL,"
	" renewed_at INTEGER NOT NULL DEFAULT 0, resync_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE graph_users ("
	" app TEXT NOT NULL, user_id TEXT NOT NULL, mail TEXT, upn TEXT,"
	" account_enabled INTEGER, deleted INTEGER NOT NULL DEFAULT 0,"
	" sessions_valid_from INTEGER NOT NULL DEFAULT 0,"
	" last_password_change INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL,"
	" PRIMARY KEY (app, user_id));"
	"CREATE TABLE user_events ("
	" id INTEGER PRIMARY KEY, app TEXT NOT NULL, user_id TEXT NOT NULL, email TEXT,"
	" kind TEXT NOT NULL, observed_ms INTEGER NOT NULL, changed_at INTEGER NOT NULL,"
	" source_event INTEGER, evidence TEXT);"
	"CREATE INDEX user_events_email ON user_events (app, email COLLATE NOCASE, observed_ms);",
	/* 3: diagnosis and rotation. */
	"CREATE TABLE rotations ("
	" id TEXT PRIMARY KEY, app TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,"
	" incident_id TEXT, dry_run INTEGER NOT NULL DEFAULT 0, approved INTEGER NOT NULL DEFAULT 0,"
	" old_key_id TEXT, new_key_id TEXT, new_hint TEXT, new_end INTEGER NOT NULL DEFAULT 0,"
	" secret_ct BLOB, lifetime INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
	" next_at INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL, published_at INTEGER NOT NULL DEFAULT 0,"
	" retire_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX rotations_app ON rotations (app, created_at);"
	"CREATE TABLE incidents ("
	" id TEXT PRIMARY KEY, app TEXT NOT NULL, cause TEXT NOT NULL, state TEXT NOT NULL,"
	" evidence TEXT NOT NULL DEFAULT '[]', rotation_id TEXT, opened_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL, resolved_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX incidents_app ON incidents (app, state, opened_at);"
	"CREATE TABLE incident_grants ("
	" incident_id TEXT NOT NULL, grant_id TEXT NOT NULL, email TEXT,"
	" seen_ms INTEGER NOT NULL, recovered_ms INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (incident_id, grant_id));"
	"CREATE INDEX incident_grants_email ON incident_grants (email COLLATE NOCASE);"
	"CREATE TABLE app_values ("
	" app TEXT NOT NULL, key TEXT NOT NULL, value TEXT, updated_ms INTEGER NOT NULL,"
	" PRIMARY KEY (app, key));",
	/*
	 * 4: the notifier's outbox.  One row per message, unique per (ref,
	 * kind, recipient, channel): that is the dedup key across restarts.
	 */
	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY, app TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,"
	" channel TEXT NOT NULL, recipient TEXT NOT NULL, msg_id TEXT NOT NULL, subject TEXT,"
	" payload BLOB NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	" next_at INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at INTEGER NOT NULL,"
	" sent_at INTEGER NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (ref, kind, recipient, channel));"
	"CREATE INDEX outbox_due ON outbox (priority, next_at) WHERE state IN ('pending', 'sending');"
	"CREATE INDEX outbox_app ON outbox (app, state);"
	"ALTER TABLE incidents ADD COLUMN resolved_by TEXT;",
	/*
	 * 5: an incident's affected and recovered grants are counted as they
	 * change (triggers), not at every read.  Counting them read every
	 * grant's row: 266 ms for 100,000 grants, on the event loop, at every
	 * alerts sweep during a storm; an index still scanned them (110 ms for
	 * 1,000,000).
	 */
	"ALTER TABLE incidents ADD COLUMN affected_grants INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE incidents ADD COLUMN recovered_grants INTEGER NOT NULL DEFAULT 0;"
	"UPDATE incidents SET"
	" affected_grants = (SELECT count(*) FROM incident_grants g WHERE g.incident_id = incidents.id),"
	" recovered_grants = (SELECT count(*) FROM incident_grants g"
	" WHERE g.incident_id = incidents.id AND g.recovered_ms != 0);"
	"CREATE TRIGGER incident_grant_listed AFTER INSERT ON incident_grants BEGIN"
	" UPDATE incidents SET affected_grants = affected_grants + 1,"
	" recovered_grants = recovered_grants + (NEW.recovered_ms != 0) WHERE id = NEW.incident_id;"
	" END;"
	"CREATE TRIGGER incident_grant_recovered AFTER UPDATE OF recovered_ms ON incident_grants"
	" WHEN (OLD.recovered_ms != 0) != (NEW.recovered_ms != 0) BEGIN"
	" UPDATE incidents SET recovered_grants = recovered_grants +"
	" CASE WHEN NEW.recovered_ms != 0 THEN 1 ELSE -1 END WHERE id = NEW.incident_id;"
	" END;"
	"CREATE TRIGGER incident_grant_removed AFTER DELETE ON incident_grants BEGIN"
	" UPDATE incidents SET affected_grants = affected_grants - 1,"
	" recovered_grants = recovered_grants - (OLD.recovered_ms != 0) WHERE id = OLD.incident_id;"
	" END;",
	/*
	 * 6: testing counts consecutive acceptances of the new secret since
	 * test_since (Unix ms), so that a restart resumes the count and the
	 * propagation deadline instead of starting them over.
	 */
	"ALTER TABLE rotations ADD COLUMN test_ok INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE rotations ADD COLUMN test_since INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 7: a Graph batch's validationTokens, once per batch, which its items'
	 * journaled records name by digest (they held a copy each: 400 items of
	 * 16 tokens wrote 49 MB).  Records journaled before keep their copy.
	 */
	"CREATE TABLE graph_tokens ("
	" digest TEXT PRIMARY KEY, tokens BLOB NOT NULL, created_ms INTEGER NOT NULL);"
	"CREATE INDEX graph_tokens_age ON graph_tokens (created_ms);",
	/*
	 * 8: the Nylas events other than grant.expired that wait for the
	 * correlator, by app, for the writer's storm check at every commit
	 * (sqlite_storm_ready): a backlog of grant.expired the correlator has
	 * yet to read no longer holds the permit back, and may be thousands long.
	 */
	"CREATE INDEX events_unprocessed_other ON events (app)"
	" WHERE processed_at IS NULL AND source = 'nylas' AND type <> 'grant.expired';",
};

static sqlite3_stmt *
prepare_uncached(struct sqlite_db *s, const char *sql, unsigned flags)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v3(s->db, sql, -1, flags, &st, NULL) != SQLITE_OK) {
		log_error("store: %s", sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/*
 * Returns a statement for sql, from the connection's cache when it is there
 * and free; logs and returns NULL on failure.  Every statement returned goes
 * back through sqlite_finish().
 */
sqlite3_stmt *
sqlite_prepare(struct sqlite_db *s, const char *sql)
{
	struct cached_stmt *c;
	size_t i;

	for (i = 0; i < s->ncache; i++) {
		c = &s->cache[i];
		if (strcmp(c->sql, sql) != 0)
			continue;
		if (c->busy)
			return prepare_uncached(s, sql, 0);
		c->busy = 1;
		return c->st;
	}
	if (s->ncache == STMT_CACHE_MAX)
		return prepare_uncached(s, sql, 0);
	c = &s->cache[s->ncache];
	if ((c->st = prepare_uncached(s, sql, SQLITE_PREPARE_PERSISTENT)) == NULL)
		return NULL;
	c->sql = xstrdup(sql);
	c->busy = 1;
	s->ncache++;
	return c->st;
}

/* Gives back a statement from sqlite_prepare(): reset for reuse when cached, else finalized. */
void
sqlite_finish(struct sqlite_db *s, sqlite3_stmt *st)
{
	size_t i;

	for (i = 0; i < s->ncache; i++) {
		if (s->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->cache[i].busy = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

static void
finalize_cache(struct sqlite_db *s)
{
	size_t i;

	for (i = 0; i < s->ncache; i++) {
		sqlite3_finalize(s->cache[i].st);
		free(s->cache[i].sql);
	}
	s->ncache = 0;
}

#define LOCK_TIMEOUTS_HELP "Store statements that gave up waiting for SQLite's write lock " \
	"(held by another connection longer than the caller waits), by thread."

static void
count_lock_timeouts(const char *thread, double v)
{
	char labels[48];

	snprintf(labels, sizeof(labels), "thread=\"%s\"", thread);
	metrics_counter_add("rekey_store_lock_timeouts_total", LOCK_TIMEOUTS_HELP, labels, v);
}

/*
 * The threads that write, at 0 from the start (journal.c and
 * journal_checkpoint.c name theirs; the main loop's is the process's): an
 * alert on the counter then has a series before the first timeout.
 */
static void
lock_timeouts_register(void)
{
	static const char *const threads[] = { "rekey", "rk-journal", "rk-checkpoint" };
	size_t i;

	for (i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
		count_lock_timeouts(threads[i], 0);
}

int
sqlite_exec_sql(struct sqlite_db *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char thread[16] = "?";

		/* The statement's start and the thread: "database is locked" alone says not who waited. */
		pthread_getname_np(pthread_self(), thread, sizeof(thread));
		log_error("store: %s (%.40s, thread %s)", msg ? msg : sqlite3_errmsg(s->db), sql, thread);
		sqlite3_free(msg);
		/* Not only a log line: a write that gave up on the lock is counted, by thread. */
		if (sqlite3_errcode(s->db) == SQLITE_BUSY)
			count_lock_timeouts(thread, 1);
		return -1;
	}
	return 0;
}

static int
schema_version(struct sqlite_db *s)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int
migrate(struct sqlite_db *s, char **err)
{
	int have = schema_version(s), want = (int)(sizeof(migrations) / sizeof(migrations[0]));
	char pragma[64];

	if (have < 0 || have > want) {
		*err = xasprintf("store schema version %d is unknown to this rekey (knows up to %d)",
		    have, want);
		return -1;
	}
	for (; have < want; have++) {
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;", have + 1);
		if (sqlite_exec_sql(s, "BEGIN IMMEDIATE") == -1 ||
		    sqlite_exec_sql(s, migrations[have]) == -1 || sqlite_exec_sql(s, pragma) == -1 ||
		    sqlite_exec_sql(s, "COMMIT") == -1) {
			sqlite_exec_sql(s, "ROLLBACK");
			*err = xasprintf("store migration to version %d failed", have + 1);
			return -1;
		}
		log_info("store: migrated schema to version %d", have + 1);
	}
	return 0;
}

/* Creates the directory holding path, when missing, so a fresh install just works. */
static int
make_parent_dir(const char *path, char **err)
{
	char *copy = xstrdup(path), *dir = dirname(copy);
	int rc = 0;

	if (strcmp(dir, ".") != 0 && mkdir(dir, 0700) == -1 && errno != EEXIST) {
		*err = xasprintf("cannot create store directory %s: %s", dir, strerror(errno));
		rc = -1;
	}
	free(copy);
	return rc;
}

/*
 * Whether make_parent_dir could make dir: its own parent must be a
 * directory we may write.  0, or -1 and *err.
 */
static int
check_can_make_dir(const char *dir, char **err)
{
	char *copy = xstrdup(dir), *up = dirname(copy);
	struct stat st;
	int rc = 0;

	if (stat(up, &st) == -1 || !S_ISDIR(st.st_mode)) {
		*err = xasprintf("the store directory %s does not exist, nor does %s to make it in",
		    dir, up);
		rc = -1;
	} else if (access(up, W_OK | X_OK) == -1) {
		*err = xasprintf("the store directory %s does not exist and cannot be made in %s: %s",
		    dir, up, strerror(errno));
		rc = -1;
	}
	free(copy);
	return rc;
}

/* What sqlite_open needs of the file system, looked at without changing it. */
static int
sqlite_check(const char *path, char **err)
{
	char *copy, *dir;
	struct stat st;
	int rc = 0;

	if (*path == '\0') {
		*err = xstrdup("store url sqlite: needs a path (sqlite:var/rekey.db)");
		return -1;
	}
	copy = xstrdup(path);
	dir = dirname(copy);
	if (stat(dir, &st) == -1) {
		rc = check_can_make_dir(dir, err);
	} else if (!S_ISDIR(st.st_mode)) {
		*err = xasprintf("%s, which would hold the store, is not a directory", dir);
		rc = -1;
	} else if (access(dir, W_OK | X_OK) == -1 ||
	    (access(path, F_OK) == 0 && access(path, R_OK | W_OK) == -1)) {
		/* SQLite writes its -wal and -shm files beside the database. */
		*err = xasprintf("the store %s cannot be written: %s", path, strerror(errno));
		rc = -1;
	}
	free(copy);
	return rc;
}

/* No file at path (sqlite_open would create it): what the CLI's readers refuse. */
static int
sqlite_missing(const char *path, char **err)
{
	struct stat st;

	if (*path == '\0' || stat(path, &st) == 0 || errno != ENOENT)
		return 0;
	*err = xasprintf("no store at %s: has the daemon ever run with this config?", path);
	return 1;
}

static int
prepare_all(struct sqlite_db *s)
{
	static const char insert_sql[] =
	    "INSERT INTO events (source, app, event_id, type, received_ms, remote_addr,"
	    " grant_id, email, provider, integration_id, code, reauth_flag, event_time,"
	    " grant_updated_at, body, processed_at, result)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
	    " ON CONFLICT (source, app, event_id) DO NOTHING";

	if (sqlite3_prepare_v3(s->db, insert_sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &s->insert_event, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v3(s->db,
	    "SELECT count(*) FROM events WHERE ?1 IS NULL OR source = ?1", -1,
	    SQLITE_PREPARE_PERSISTENT, &s->count_events, NULL) != SQLITE_OK)
		return -1;
	return 0;
}

static void sqlite_close(void *db);

/*
 * Another connection holds the lock: try again soon, until the connection's
 * timeout.  SQLite's own handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10 ms
 * and more between tries, so a write lock held 1.5 ms by the journal's writer
 * cost a write from the event loop (readyz, the outbox, a rotation's plan)
 * 3 ms of blocked loop and one held 3.5 ms cost 8 ms; the writer waiting
 * behind such a write lost as much, and every ack waiting for it with it.
 * Here the waits start at 50 us and double up to 1 ms.
 */
static int
busy_cb(void *arg, int tries)
{
	struct sqlite_db *s = arg;
	int64_t now = util_mono_us(), wait_us;
	struct timespec ts;

	if (tries == 0)
		s->busy_since_us = now;
	if (now - s->busy_since_us >= (int64_t)s->busy_timeout_ms * 1000)
		return 0;
	atomic_store(&busy_last_db, s);
	atomic_store(&busy_last_us, now);
	wait_us = (int64_t)BUSY_FIRST_US << (tries < 8 ? tries : 8);
	if (wait_us > BUSY_MAX_US)
		wait_us = BUSY_MAX_US;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)wait_us * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

static void
set_busy_timeout(struct sqlite_db *s, int ms)
{
	s->busy_timeout_ms = ms;
	sqlite3_busy_handler(s->db, busy_cb, s);
}

/*
 * SQLite's memory statistics take one process-wide mutex around every malloc
 * and free it does: the loop's reads and the writer's commits queued on it
 * (a futex wait in both threads under load).  Nothing reads the statistics.
 * It has to be set before SQLite initializes, hence once, before any open.
 */
static void
configure_sqlite(void)
{
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
		log_warn("store: SQLite was initialized before rekey configured it:"
		    " its memory statistics stay on (slower under load)");
}

static void *
sqlite_open(const char *path, char **err)
{
	static pthread_once_t configured = PTHREAD_ONCE_INIT, registered = PTHREAD_ONCE_INIT;
	struct sqlite_db *s = xcalloc(1, sizeof(*s));

	pthread_once(&configured, configure_sqlite);
	pthread_once(&registered, lock_timeouts_register);

	if (*path == '\0') {
		*err = xstrdup("store url sqlite: needs a path (sqlite:var/rekey.db)");
		goto fail;
	}
	if (make_parent_dir(path, err) == -1)
		goto fail;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, sqlite_vfs_name()) != SQLITE_OK) {
		*err = xasprintf("cannot open store %s: %s", path,
		    s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	set_busy_timeout(s, BUSY_TIMEOUT_MS);
	/*
	 * No automatic checkpoints: one would run inside some commit and stall its
	 * acks for tens of milliseconds.  The journal's checkpointer thread runs
	 * them beside the writer instead (store_checkpoint).
	 */
	if (sqlite_exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    " PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0;") == -1) {
		*err = xasprintf("cannot set up store %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (migrate(s, err) == -1)
		goto fail;
	if (prepare_all(s) == -1) {
		*err = xasprintf("cannot prepare store statements: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
	return s;
fail:
	sqlite_close(s);
	return NULL;
}

static void
sqlite_close(void *db)
{
	struct sqlite_db *s = db;

	if (s == NULL)
		return;
	sqlite3_finalize(s->insert_event);
	sqlite3_finalize(s->count_events);
	finalize_cache(s);
	sqlite3_close(s->db);
	free(s);
}

/*
 * Whether another connection of this process was refused a lock just now,
 * and is likely still trying: it stops when it has the lock, or gives up.
 * Two atomic loads: the common case of sqlite_begin costs no more.
 */
static int
other_waiting(const struct sqlite_db *s, int64_t now_us)
{
	return atomic_load(&busy_last_db) != s &&
	    now_us - (int64_t)atomic_load(&busy_last_us) < YIELD_RECENT_US;
}

/*
 * SQLite's write lock has no queue: a waiting connection tries again after
 * a sleep, and a writer that commits and begins again at once takes it back
 * in between.  The journal's writer does exactly that during a storm, so a
 * write from the event loop (a condition, the outbox, a rotation step) waited
 * up to the 5 s busy timeout, blocking the loop all along, and then failed
 * ("database is locked", seen in the intake benchmark at 83% writer load).
 * So a write transaction gives way first to a connection that is waiting
 * for the lock, for at most YIELD_US: the cost, only then, is one pause.
 */
static void
give_way(const struct sqlite_db *s)
{
	int64_t start = util_mono_us(), now = start;
	struct timespec ts = { 0, 100 * 1000 };

	while (other_waiting(s, now) && now - start < YIELD_US) {
		nanosleep(&ts, NULL);
		now = util_mono_us();
	}
}

static int
sqlite_begin(void *db)
{
	struct sqlite_db *s = db;

	give_way(s);
	return sqlite_exec_sql(s, "BEGIN IMMEDIATE");
}

static int
sqlite_begin_read(void *db)
{
	return sqlite_exec_sql(db, "BEGIN DEFERRED");
}

static int
sqlite_commit(void *db)
{
	return sqlite_exec_sql(db, "COMMIT");
}

static int
sqlite_rollback(void *db)
{
	struct sqlite_db *s = db;

	if (sqlite3_get_autocommit(s->db))
		return 0;
	return sqlite_exec_sql(db, "ROLLBACK");
}

static int
sqlite_ping(void *db)
{
	struct sqlite_db *s = db;
	int rc;

	/* Inside a batch the store is taking writes right now. */
	if (!sqlite3_get_autocommit(s->db))
		return 0;
	/*
	 * The event loop calls this (readyz): wait for the journal's writer at
	 * most PING_BUSY_MS, not the usual busy timeout.  A write lock held that
	 * long means the store is not taking writes now.
	 */
	set_busy_timeout(s, PING_BUSY_MS);
	rc = sqlite_exec_sql(s, "BEGIN IMMEDIATE");
	if (rc == 0 && sqlite_exec_sql(s, "INSERT INTO meta (key, value) VALUES ('ping', '')"
	    " ON CONFLICT (key) DO UPDATE SET value = ''") == -1)
		rc = -1;
	if (!sqlite3_get_autocommit(s->db) && sqlite_exec_sql(s, "ROLLBACK") == -1)
		rc = -1;
	set_busy_timeout(s, BUSY_TIMEOUT_MS);
	return rc;
}

/*
 * Frames (4 KiB pages) the log may hold before a checkpoint makes writers wait
 * to rewind it.  The journal normally rewinds it long before (see journal.c);
 * this is the backstop for when that keeps failing.
 */
#define WAL_RESTART_FRAMES 16384

static int
sqlite_checkpoint(void *db, int may_block, int64_t *log, int64_t *left)
{
	struct sqlite_db *s = db;
	int log_frames = -1, done = -1;
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);

	/*
	 * Under a steady stream a passive checkpoint never catches up, and the
	 * log is only rewound once one has: past the limit, make the writer wait
	 * the moment it takes to finish and rewind (the rest is already copied).
	 */
	if (may_block && rc == SQLITE_OK && log_frames > WAL_RESTART_FRAMES)
		rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		log_error("store: checkpoint: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	*log = log_frames;
	*left = log_frames < 0 || done < 0 ? -1 : log_frames - done;
	return 0;
}

/* Steps a statement that returns no rows, then finishes it.  0 or -1. */
int
sqlite_run_done(struct sqlite_db *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite_finish(s, st);
	if (rc != SQLITE_DONE) {
		log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/* The single integer a counting query returns; -1 on error. */
int64_t
sqlite_run_count(struct sqlite_db *s, sqlite3_stmt *st)
{
	int64_t n = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		log_error("store: count: %s", sqlite3_errmsg(s->db));
	sqlite_finish(s, st);
	return n;
}

static int
sqlite_set_durability(void *db, int full)
{
	/*
	 * In WAL mode, NORMAL syncs only at checkpoints; the log still orders
	 * every commit, so the next FULL commit's sync covers the earlier ones.
	 */
	return sqlite_exec_sql(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

static void
sqlite_lock_wait(void *db, int ms)
{
	struct sqlite_db *s = db;

	set_busy_timeout(s, ms);
}

const struct store_backend store_sqlite_backend = {
	.scheme = "sqlite:",
	.open = sqlite_open,
	.check = sqlite_check,
	.missing = sqlite_missing,
	.close = sqlite_close,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.add_event = sqlite_add_event,
	.ping = sqlite_ping,
	.checkpoint = sqlite_checkpoint,
	.count_events = sqlite_count_events,
	.unprocessed = sqlite_unprocessed,
	.mark_processed = sqlite_mark_processed,
	.mark_processed_many = sqlite_mark_processed_many,
	.set_event_result = sqlite_set_event_result,
	.storm_ready = sqlite_storm_ready,
	.count_results = sqlite_count_results,
	.get_subscription = sqlite_get_subscription,
	.put_subscription = sqlite_put_subscription,
	.delete_subscription = sqlite_delete_subscription,
	.get_user = sqlite_get_user,
	.put_user = sqlite_put_user,
	.add_user_event = sqlite_add_user_event,
	.put_graph_tokens = sqlite_put_graph_tokens,
	.get_graph_tokens = sqlite_get_graph_tokens,
	.count_user_events = sqlite_count_user_events,
	.set_durability = sqlite_set_durability,
	.begin_read = sqlite_begin_read,
	.lock_wait = sqlite_lock_wait,
	.put_rotation = sqlite_put_rotation,
	.get_rotation = sqlite_get_rotation,
	.list_rotations = sqlite_list_rotations,
	.put_incident = sqlite_put_incident,
	.get_incident = sqlite_get_incident,
	.list_incidents = sqlite_list_incidents,
	.add_incident_grant = sqlite_add_incident_grant,
	.add_incident_grants = sqlite_add_incident_grants,
	.recover_grants = sqlite_recover_grants,
	.get_value = sqlite_get_value,
	.put_value = sqlite_put_value,
	.recent_user_event = sqlite_recent_user_event,
	.list_values = sqlite_list_values,
	.add_outbox = sqlite_add_outbox,
	.due_outbox = sqlite_due_outbox,
	.update_outbox = sqlite_update_outbox,
	.outbox_exists = sqlite_outbox_exists,
	.outbox_unsent = sqlite_outbox_unsent,
	.outbox_stats = sqlite_outbox_stats,
	.unmailed_grants = sqlite_unmailed_grants,
	.incident_is_open = sqlite_incident_is_open,
	.incident_progress = sqlite_incident_progress,
	.reclaim_outbox = sqlite_reclaim_outbox,
	.resolve_incident = sqlite_resolve_incident,
	.backup = sqlite_backup,
	.expire_events = sqlite_expire_events,
};
