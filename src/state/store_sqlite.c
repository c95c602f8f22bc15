/*
 * store_sqlite: the embedded default store.  WAL mode with synchronous=FULL,
 * so a committed transaction survives a crash of the process or the machine;
 * journal.c groups events so that a burst pays one fsync per batch.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
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
 * Statements prepared once per connection and reused: parsing the SQL was a
 * fifth of the correlator's time during a storm.  Keyed by the SQL text,
 * since some of it is built at run time.  A statement already in use (a
 * query run again while its rows are being read) gets a fresh, uncached one.
 */
#define STMT_CACHE_MAX 64

struct cached_stmt {
	char *sql;
	sqlite3_stmt *st;
	int busy;
};

struct sqlite_db {
	sqlite3 *db;
	sqlite3_stmt *insert_event;
	sqlite3_stmt *count_events;
	struct cached_stmt cache[STMT_CACHE_MAX];
	size_t ncache;
	int busy_timeout_ms;
	int64_t busy_since_us;	/* when the current wait for a lock began */
};

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
 * back through finish().
 */
static sqlite3_stmt *
prepare(struct sqlite_db *s, const char *sql)
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

/* Gives back a statement from prepare(): reset for reuse when cached, else finalized. */
static void
finish(struct sqlite_db *s, sqlite3_stmt *st)
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

static int
exec_sql(struct sqlite_db *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("store: %s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
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
		if (exec_sql(s, "BEGIN IMMEDIATE") == -1 ||
		    exec_sql(s, migrations[have]) == -1 || exec_sql(s, pragma) == -1 ||
		    exec_sql(s, "COMMIT") == -1) {
			exec_sql(s, "ROLLBACK");
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

static int
prepare_all(struct sqlite_db *s)
{
	static const char insert_sql[] =
	    "INSERT INTO events (source, app, event_id, type, received_ms, remote_addr,"
	    " grant_id, email, provider, integration_id, code, reauth_flag, event_time,"
	    " grant_updated_at, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
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
	static pthread_once_t configured = PTHREAD_ONCE_INIT;
	struct sqlite_db *s = xcalloc(1, sizeof(*s));

	pthread_once(&configured, configure_sqlite);

	if (*path == '\0') {
		*err = xstrdup("store url sqlite: needs a path (sqlite:var/rekey.db)");
		goto fail;
	}
	if (make_parent_dir(path, err) == -1)
		goto fail;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
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
	if (exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
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

static int
sqlite_begin(void *db)
{
	return exec_sql(db, "BEGIN IMMEDIATE");
}

static int
sqlite_begin_read(void *db)
{
	return exec_sql(db, "BEGIN DEFERRED");
}

static int
sqlite_commit(void *db)
{
	return exec_sql(db, "COMMIT");
}

static int
sqlite_rollback(void *db)
{
	struct sqlite_db *s = db;

	if (sqlite3_get_autocommit(s->db))
		return 0;
	return exec_sql(db, "ROLLBACK");
}

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static void
bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static enum store_result
sqlite_add_event(void *db, const struct store_event *ev)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = s->insert_event;
	int rc;

	bind_text(st, 1, ev->source);
	bind_text(st, 2, ev->app);
	bind_text(st, 3, ev->event_id);
	bind_text(st, 4, ev->type);
	sqlite3_bind_int64(st, 5, ev->received_ms);
	bind_text(st, 6, ev->remote_addr);
	bind_text(st, 7, ev->grant_id);
	bind_text(st, 8, ev->email);
	bind_text(st, 9, ev->provider);
	bind_text(st, 10, ev->integration_id);
	bind_opt_int(st, 11, ev->code);
	bind_opt_int(st, 12, ev->reauth_flag);
	bind_opt_int(st, 13, ev->event_time);
	bind_opt_int(st, 14, ev->grant_updated_at);
	sqlite3_bind_blob(st, 15, ev->body, (int)ev->body_len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_error("store: insert event: %s", sqlite3_errmsg(s->db));
		return STORE_ERROR;
	}
	return sqlite3_changes(s->db) > 0 ? STORE_STORED : STORE_DUPLICATE;
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
	rc = exec_sql(s, "BEGIN IMMEDIATE");
	if (rc == 0 && exec_sql(s, "INSERT INTO meta (key, value) VALUES ('ping', '')"
	    " ON CONFLICT (key) DO UPDATE SET value = ''") == -1)
		rc = -1;
	if (!sqlite3_get_autocommit(s->db) && exec_sql(s, "ROLLBACK") == -1)
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

static int64_t
sqlite_count_events(void *db, const char *source)
{
	struct sqlite_db *s = db;
	int64_t n = -1;

	bind_text(s->count_events, 1, source);
	if (sqlite3_step(s->count_events) == SQLITE_ROW)
		n = sqlite3_column_int64(s->count_events, 0);
	sqlite3_reset(s->count_events);
	return n;
}

/* ---- The worker's and the subscription manager's state: few rows, so plain statements. ---- */

/* Steps a statement that returns no rows, then finishes it.  0 or -1. */
static int
run_done(struct sqlite_db *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	finish(s, st);
	if (rc != SQLITE_DONE) {
		log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/* A copy of a BLOB column, NUL-terminated (it may hold text), and its length in *len. */
static char *
column_blob_dup(sqlite3_stmt *st, int i, size_t *len)
{
	const void *v = sqlite3_column_blob(st, i);
	char *out;

	*len = (size_t)sqlite3_column_bytes(st, i);
	out = xmalloc(*len + 1);
	if (*len > 0 && v != NULL)
		memcpy(out, v, *len);
	out[*len] = '\0';
	return out;
}

/* An integer column that may be NULL (then -1), as bind_opt_int stored it. */
static int64_t
column_opt_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static char *
column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v == NULL ? NULL : xstrdup((const char *)v);
}

static int
sqlite_unprocessed(void *db, const char *source, int64_t after, size_t max, int with_body,
    struct store_pending **out, size_t *n)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT id, source, app, event_id, type, received_ms,"
	    " CASE WHEN ?4 THEN body END, grant_id, email, provider, code, reauth_flag"
	    " FROM events WHERE processed_at IS NULL AND id > ?1 AND (?2 IS NULL OR source = ?2)"
	    " ORDER BY id LIMIT ?3");
	struct store_pending *p;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	bind_text(st, 2, source);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	sqlite3_bind_int(st, 4, with_body != 0);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		p = &(*out)[(*n)++];
		p->id = sqlite3_column_int64(st, 0);
		p->source = column_dup(st, 1);
		p->app = column_dup(st, 2);
		p->event_id = column_dup(st, 3);
		p->type = column_dup(st, 4);
		p->received_ms = sqlite3_column_int64(st, 5);
		if (with_body)
			p->body = column_blob_dup(st, 6, &p->body_len);
		p->grant_id = column_dup(st, 7);
		p->email = column_dup(st, 8);
		p->provider = column_dup(st, 9);
		p->code = column_opt_int(st, 10);
		p->reauth_flag = column_opt_int(st, 11);
	}
	finish(s, st);
	return 0;
}

static int
sqlite_mark_processed(void *db, int64_t id, const char *result)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "UPDATE events SET processed_at = ?1, result = ?2 WHERE id = ?3");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, util_now_ms());
	bind_text(st, 2, result);
	sqlite3_bind_int64(st, 3, id);
	return run_done(s, st, "mark processed");
}

/* The single integer a counting query returns; -1 on error. */
static int64_t
run_count(struct sqlite_db *s, sqlite3_stmt *st)
{
	int64_t n = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		log_error("store: count: %s", sqlite3_errmsg(s->db));
	finish(s, st);
	return n;
}

static int64_t
sqlite_count_results(void *db, const char *source, const char *result)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT count(*) FROM events WHERE processed_at IS NOT NULL"
	    " AND (?1 IS NULL OR source = ?1) AND (?2 IS NULL OR result = ?2)");

	if (st != NULL) {
		bind_text(st, 1, source);
		bind_text(st, 2, result);
	}
	return run_count(s, st);
}

static int
sqlite_get_subscription(void *db, const char *app, struct store_subscription *out)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT app, id, resource, notification_url, expiration,"
	    " created_at, renewed_at, resync_at FROM subscriptions WHERE app = ?1");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->app = column_dup(st, 0);
		out->id = column_dup(st, 1);
		out->resource = column_dup(st, 2);
		out->notification_url = column_dup(st, 3);
		out->expiration = sqlite3_column_int64(st, 4);
		out->created_at = sqlite3_column_int64(st, 5);
		out->renewed_at = sqlite3_column_int64(st, 6);
		out->resync_at = sqlite3_column_int64(st, 7);
	} else if (rc != SQLITE_DONE) {
		log_error("store: get subscription: %s", sqlite3_errmsg(s->db));
	}
	finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_put_subscription(void *db, const struct store_subscription *sub)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "INSERT OR REPLACE INTO subscriptions (app, id, resource,"
	    " notification_url, expiration, created_at, renewed_at, resync_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, sub->app);
	bind_text(st, 2, sub->id);
	bind_text(st, 3, sub->resource);
	bind_text(st, 4, sub->notification_url);
	sqlite3_bind_int64(st, 5, sub->expiration);
	sqlite3_bind_int64(st, 6, sub->created_at);
	sqlite3_bind_int64(st, 7, sub->renewed_at);
	sqlite3_bind_int64(st, 8, sub->resync_at);
	return run_done(s, st, "put subscription");
}

static int
sqlite_delete_subscription(void *db, const char *app)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "DELETE FROM subscriptions WHERE app = ?1");

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	return run_done(s, st, "delete subscription");
}

static int
sqlite_get_user(void *db, const char *app, const char *user_id, struct store_user *out)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT app, user_id, mail, upn, account_enabled, deleted,"
	    " sessions_valid_from, last_password_change, updated_ms FROM graph_users"
	    " WHERE app = ?1 AND user_id = ?2");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, user_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->app = column_dup(st, 0);
		out->user_id = column_dup(st, 1);
		out->mail = column_dup(st, 2);
		out->upn = column_dup(st, 3);
		out->account_enabled = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 :
		    sqlite3_column_int(st, 4);
		out->deleted = sqlite3_column_int(st, 5);
		out->sessions_valid_from = sqlite3_column_int64(st, 6);
		out->last_password_change = sqlite3_column_int64(st, 7);
		out->updated_ms = sqlite3_column_int64(st, 8);
	} else if (rc != SQLITE_DONE) {
		log_error("store: get user: %s", sqlite3_errmsg(s->db));
	}
	finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_put_user(void *db, const struct store_user *u)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "INSERT OR REPLACE INTO graph_users (app, user_id, mail, upn,"
	    " account_enabled, deleted, sessions_valid_from, last_password_change, updated_ms)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, u->app);
	bind_text(st, 2, u->user_id);
	bind_text(st, 3, u->mail);
	bind_text(st, 4, u->upn);
	bind_opt_int(st, 5, u->account_enabled);
	sqlite3_bind_int(st, 6, u->deleted);
	sqlite3_bind_int64(st, 7, u->sessions_valid_from);
	sqlite3_bind_int64(st, 8, u->last_password_change);
	sqlite3_bind_int64(st, 9, u->updated_ms);
	return run_done(s, st, "put user");
}

static int
sqlite_put_graph_tokens(void *db, const char *digest, const char *tokens, size_t len,
    int64_t now_ms, int64_t keep_ms)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "INSERT OR IGNORE INTO graph_tokens (digest, tokens,"
	    " created_ms) VALUES (?1, ?2, ?3)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, digest);
	sqlite3_bind_blob(st, 2, tokens, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	if (run_done(s, st, "put graph tokens") == -1)
		return -1;
	st = prepare(s, "DELETE FROM graph_tokens WHERE created_ms < ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms - keep_ms);
	return run_done(s, st, "prune graph tokens");
}

static int
sqlite_get_graph_tokens(void *db, const char *digest, char **out, size_t *len)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT tokens FROM graph_tokens WHERE digest = ?1");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, digest);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = column_blob_dup(st, 0, len);
	else if (rc != SQLITE_DONE)
		log_error("store: get graph tokens: %s", sqlite3_errmsg(s->db));
	finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_add_user_event(void *db, const struct store_user_event *ev)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "INSERT INTO user_events (app, user_id, email, kind,"
	    " observed_ms, changed_at, source_event, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, ev->app);
	bind_text(st, 2, ev->user_id);
	bind_text(st, 3, ev->email);
	bind_text(st, 4, ev->kind);
	sqlite3_bind_int64(st, 5, ev->observed_ms);
	sqlite3_bind_int64(st, 6, ev->changed_at);
	bind_opt_int(st, 7, ev->source_event);
	bind_text(st, 8, ev->evidence);
	return run_done(s, st, "add user event");
}

static int64_t
sqlite_count_user_events(void *db, const char *app, const char *kind)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT count(*) FROM user_events"
	    " WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR kind = ?2)");

	if (st != NULL) {
		bind_text(st, 1, app);
		bind_text(st, 2, kind);
	}
	return run_count(s, st);
}

static int
sqlite_set_durability(void *db, int full)
{
	/*
	 * In WAL mode, NORMAL syncs only at checkpoints; the log still orders
	 * every commit, so the next FULL commit's sync covers the earlier ones.
	 */
	return exec_sql(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
}

/* ---- Diagnosis and rotation ---- */

static const char rotation_columns[] = "id, app, state, reason, incident_id, dry_run, approved,"
    " old_key_id, new_key_id, new_hint, new_end, secret_ct, lifetime, attempts, next_at,"
    " last_error, created_at, updated_at, published_at, retire_at, test_ok, test_since";

static int
sqlite_put_rotation(void *db, const struct store_rotation *r)
{
	struct sqlite_db *s = db;
	char sql[512];
	sqlite3_stmt *st;

	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO rotations (%s) VALUES (?1, ?2, ?3, ?4,"
	    " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
	    rotation_columns);
	if ((st = prepare(s, sql)) == NULL)
		return -1;
	bind_text(st, 1, r->id);
	bind_text(st, 2, r->app);
	bind_text(st, 3, r->state);
	bind_text(st, 4, r->reason);
	bind_text(st, 5, r->incident_id);
	sqlite3_bind_int(st, 6, r->dry_run);
	sqlite3_bind_int(st, 7, r->approved);
	bind_text(st, 8, r->old_key_id);
	bind_text(st, 9, r->new_key_id);
	bind_text(st, 10, r->new_hint);
	sqlite3_bind_int64(st, 11, r->new_end);
	if (r->secret_ct != NULL)
		sqlite3_bind_blob(st, 12, r->secret_ct, (int)r->secret_ct_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_int64(st, 13, r->lifetime);
	sqlite3_bind_int(st, 14, r->attempts);
	sqlite3_bind_int64(st, 15, r->next_at);
	bind_text(st, 16, r->last_error);
	sqlite3_bind_int64(st, 17, r->created_at);
	sqlite3_bind_int64(st, 18, r->updated_at);
	sqlite3_bind_int64(st, 19, r->published_at);
	sqlite3_bind_int64(st, 20, r->retire_at);
	sqlite3_bind_int(st, 21, r->test_ok);
	sqlite3_bind_int64(st, 22, r->test_since);
	return run_done(s, st, "put rotation");
}

static void
read_rotation(sqlite3_stmt *st, struct store_rotation *r)
{
	const void *ct = sqlite3_column_blob(st, 11);

	r->id = column_dup(st, 0);
	r->app = column_dup(st, 1);
	r->state = column_dup(st, 2);
	r->reason = column_dup(st, 3);
	r->incident_id = column_dup(st, 4);
	r->dry_run = sqlite3_column_int(st, 5);
	r->approved = sqlite3_column_int(st, 6);
	r->old_key_id = column_dup(st, 7);
	r->new_key_id = column_dup(st, 8);
	r->new_hint = column_dup(st, 9);
	r->new_end = sqlite3_column_int64(st, 10);
	r->secret_ct_len = (size_t)sqlite3_column_bytes(st, 11);
	if (ct != NULL && r->secret_ct_len > 0) {
		r->secret_ct = xmalloc(r->secret_ct_len);
		memcpy(r->secret_ct, ct, r->secret_ct_len);
	} else {
		r->secret_ct_len = 0;
	}
	r->lifetime = sqlite3_column_int64(st, 12);
	r->attempts = sqlite3_column_int(st, 13);
	r->next_at = sqlite3_column_int64(st, 14);
	r->last_error = column_dup(st, 15);
	r->created_at = sqlite3_column_int64(st, 16);
	r->updated_at = sqlite3_column_int64(st, 17);
	r->published_at = sqlite3_column_int64(st, 18);
	r->retire_at = sqlite3_column_int64(st, 19);
	r->test_ok = sqlite3_column_int(st, 20);
	r->test_since = sqlite3_column_int64(st, 21);
}

static int
sqlite_get_rotation(void *db, const char *id, struct store_rotation *out)
{
	struct sqlite_db *s = db;
	char sql[512];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT %s FROM rotations WHERE id = ?1", rotation_columns);
	if ((st = prepare(s, sql)) == NULL)
		return -1;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_rotation(st, out);
	else if (rc != SQLITE_DONE)
		log_error("store: get rotation: %s", sqlite3_errmsg(s->db));
	finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_list_rotations(void *db, const char *app, int unfinished, size_t max,
    struct store_rotation **out, size_t *n)
{
	struct sqlite_db *s = db;
	char sql[640];
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	snprintf(sql, sizeof(sql), "SELECT %s FROM rotations WHERE (?1 IS NULL OR app = ?1)"
	    " AND (?2 = 0 OR state NOT IN ('done', 'failed')) ORDER BY created_at DESC, id"
	    " LIMIT ?3", rotation_columns);
	if ((st = prepare(s, sql)) == NULL)
		return -1;
	bind_text(st, 1, app);
	sqlite3_bind_int(st, 2, unfinished);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_rotation(st, &(*out)[(*n)++]);
	finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_put_incident(void *db, const struct store_incident *inc)
{
	struct sqlite_db *s = db;
	/*
	 * A resolved incident stays resolved: a late write of the correlator
	 * (a probe answering after an operator's rekey resolve) changes nothing.
	 */
	sqlite3_stmt *st = prepare(s, "INSERT INTO incidents (id, app, cause, state,"
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
	return run_done(s, st, "put incident");
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

static int
sqlite_get_incident(void *db, const char *id, struct store_incident *out)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, INCIDENT_SELECT "WHERE i.id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_incident(st, out);
	else if (rc != SQLITE_DONE)
		log_error("store: get incident: %s", sqlite3_errmsg(s->db));
	finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_list_incidents(void *db, const char *app, int open_only, size_t max,
    struct store_incident **out, size_t *n)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, INCIDENT_SELECT "WHERE (?1 IS NULL OR i.app = ?1)"
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
	finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static enum store_result
sqlite_add_incident_grant(void *db, const char *incident_id, const char *grant_id,
    const char *email, int64_t seen_ms)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "INSERT INTO incident_grants (incident_id, grant_id, email,"
	    " seen_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (incident_id, grant_id) DO NOTHING");

	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, incident_id);
	bind_text(st, 2, grant_id);
	bind_text(st, 3, email);
	sqlite3_bind_int64(st, 4, seen_ms);
	if (run_done(s, st, "add incident grant") == -1)
		return STORE_ERROR;
	return sqlite3_changes(s->db) > 0 ? STORE_STORED : STORE_DUPLICATE;
}

static int64_t
sqlite_recover_grants(void *db, const char *app, const char *grant_id, const char *email,
    int64_t at_ms)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "UPDATE incident_grants SET recovered_ms = ?1"
	    " WHERE recovered_ms = 0 AND (grant_id = ?2 OR (?3 IS NOT NULL AND email = ?3 COLLATE NOCASE))"
	    " AND incident_id IN (SELECT id FROM incidents WHERE app = ?4 AND state = 'open')");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, at_ms);
	bind_text(st, 2, grant_id);
	bind_text(st, 3, email);
	bind_text(st, 4, app);
	if (run_done(s, st, "recover grants") == -1)
		return -1;
	return sqlite3_changes(s->db);
}

static int
sqlite_get_value(void *db, const char *app, const char *key, char **out)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT value FROM app_values WHERE app = ?1 AND key = ?2");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = column_dup(st, 0);
	else if (rc != SQLITE_DONE)
		log_error("store: get value: %s", sqlite3_errmsg(s->db));
	finish(s, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_put_value(void *db, const char *app, const char *key, const char *value)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "INSERT OR REPLACE INTO app_values (app, key, value,"
	    " updated_ms) VALUES (?1, ?2, ?3, ?4)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, key);
	bind_text(st, 3, value);
	sqlite3_bind_int64(st, 4, util_now_ms());
	return run_done(s, st, "put value");
}

static int64_t
sqlite_recent_user_event(void *db, const char *app, const char *email, int64_t since_ms,
    char **kind, char **evidence)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT observed_ms, kind, evidence FROM user_events"
	    " WHERE app = ?1 AND email = ?2 COLLATE NOCASE AND observed_ms >= ?3"
	    " ORDER BY observed_ms DESC LIMIT 1");
	int64_t at = 0;
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, email);
	sqlite3_bind_int64(st, 3, since_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		at = sqlite3_column_int64(st, 0);
		*kind = column_dup(st, 1);
		*evidence = column_dup(st, 2);
	} else if (rc != SQLITE_DONE) {
		log_error("store: recent user event: %s", sqlite3_errmsg(s->db));
		at = -1;
	}
	finish(s, st);
	return at;
}

static int
sqlite_list_values(void *db, const char *app, const char *prefix, size_t max,
    struct store_value **out, size_t *n)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT key, value FROM app_values WHERE app = ?1"
	    " AND substr(key, 1, length(?2)) = ?2 ORDER BY updated_ms DESC, key LIMIT ?3");
	int rc = SQLITE_DONE;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	bind_text(st, 2, prefix);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		(*out)[*n].key = column_dup(st, 0);
		(*out)[(*n)++].value = column_dup(st, 1);
	}
	finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static const char outbox_columns[] = "id, app, kind, ref, channel, recipient, msg_id, subject,"
    " payload, state, attempts, next_at, last_error, created_at, sent_at, priority";

static enum store_result
sqlite_add_outbox(void *db, const struct store_outbox *m)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "INSERT INTO outbox (app, kind, ref, channel, recipient,"
	    " msg_id, subject, payload, state, attempts, next_at, created_at, priority, last_error)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, coalesce(?12, 'pending'), 0, ?9, ?10, ?11, ?13)"
	    " ON CONFLICT (ref, kind, recipient, channel) DO NOTHING");

	if (st == NULL)
		return STORE_ERROR;
	bind_text(st, 1, m->app);
	bind_text(st, 2, m->kind);
	bind_text(st, 3, m->ref);
	bind_text(st, 4, m->channel);
	bind_text(st, 5, m->recipient);
	bind_text(st, 6, m->msg_id);
	bind_text(st, 7, m->subject);
	sqlite3_bind_blob(st, 8, m->payload, (int)m->payload_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, m->next_at);
	sqlite3_bind_int64(st, 10, m->created_at);
	sqlite3_bind_int(st, 11, m->priority);
	bind_text(st, 12, m->state);
	bind_text(st, 13, m->last_error);
	if (run_done(s, st, "add outbox") == -1)
		return STORE_ERROR;
	return sqlite3_changes(s->db) > 0 ? STORE_STORED : STORE_DUPLICATE;
}

static void
read_outbox(sqlite3_stmt *st, struct store_outbox *m)
{
	m->id = sqlite3_column_int64(st, 0);
	m->app = column_dup(st, 1);
	m->kind = column_dup(st, 2);
	m->ref = column_dup(st, 3);
	m->channel = column_dup(st, 4);
	m->recipient = column_dup(st, 5);
	m->msg_id = column_dup(st, 6);
	m->subject = column_dup(st, 7);
	m->payload = column_blob_dup(st, 8, &m->payload_len);
	m->state = column_dup(st, 9);
	m->attempts = sqlite3_column_int(st, 10);
	m->next_at = sqlite3_column_int64(st, 11);
	m->last_error = column_dup(st, 12);
	m->created_at = sqlite3_column_int64(st, 13);
	m->sent_at = sqlite3_column_int64(st, 14);
	m->priority = sqlite3_column_int(st, 15);
}

static int
sqlite_due_outbox(void *db, int64_t now_ms, size_t max, struct store_outbox **out, size_t *n)
{
	struct sqlite_db *s = db;
	char sql[512];
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	snprintf(sql, sizeof(sql), "SELECT %s FROM outbox WHERE state IN ('pending', 'sending')"
	    " AND next_at <= ?1 ORDER BY priority, next_at, id LIMIT ?2", outbox_columns);
	if ((st = prepare(s, sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	*out = xcalloc(max > 0 ? max : 1, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_outbox(st, &(*out)[(*n)++]);
	finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_update_outbox(void *db, const struct store_outbox *m)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "UPDATE outbox SET state = ?2, attempts = ?3, next_at = ?4,"
	    " last_error = ?5, sent_at = ?6 WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	bind_text(st, 2, m->state);
	sqlite3_bind_int(st, 3, m->attempts);
	sqlite3_bind_int64(st, 4, m->next_at);
	bind_text(st, 5, m->last_error);
	sqlite3_bind_int64(st, 6, m->sent_at);
	return run_done(s, st, "update outbox");
}

static int
sqlite_outbox_exists(void *db, const char *ref, const char *kind)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT count(*) FROM (SELECT 1 FROM outbox"
	    " WHERE ref = ?1 AND kind = ?2 LIMIT 1)");
	int64_t count;

	if (st == NULL)
		return -1;
	bind_text(st, 1, ref);
	bind_text(st, 2, kind);
	count = run_count(s, st);
	return count < 0 ? -1 : count > 0;
}

static int64_t
sqlite_outbox_unsent(void *db, const char *ref, const char *kind)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT count(*) FROM outbox"
	    " WHERE ref = ?1 AND kind = ?2 AND state IN ('pending', 'sending')");

	if (st == NULL)
		return -1;
	bind_text(st, 1, ref);
	bind_text(st, 2, kind);
	return run_count(s, st);
}

static int
sqlite_outbox_stats(void *db, const char *app, struct store_outbox_stats *out)
{
	struct sqlite_db *s = db;
	/* Counted on the (app, state) index alone: payloads are never read. */
	sqlite3_stmt *st = prepare(s, "SELECT state, count(*) FROM outbox WHERE app = ?1 GROUP BY state");
	const char *state;
	int64_t k;
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 0);
		k = sqlite3_column_int64(st, 1);
		if (state != NULL && strcmp(state, "sent") == 0)
			out->sent += k;
		else if (state != NULL && strcmp(state, "failed") == 0)
			out->failed += k;
		else
			out->pending += k;
	}
	finish(s, st);
	if (rc != SQLITE_DONE)
		return -1;
	st = prepare(s, "SELECT last_error, next_at FROM outbox WHERE app = ?1 AND state != 'sent'"
	    " AND last_error IS NOT NULL ORDER BY next_at DESC LIMIT 1");
	if (st == NULL)
		return -1;
	bind_text(st, 1, app);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		out->last_error = column_dup(st, 0);
		out->last_error_at = sqlite3_column_int64(st, 1);
	}
	finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_resolve_incident(void *db, const char *id, const char *by, int64_t at_ms)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "UPDATE incidents SET state = 'resolved', resolved_by = ?2,"
	    " resolved_at = ?3, updated_at = ?3 WHERE id = ?1 AND state = 'open'");

	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	bind_text(st, 2, by);
	sqlite3_bind_int64(st, 3, at_ms);
	if (run_done(s, st, "resolve incident") == -1)
		return -1;
	return sqlite3_changes(s->db) > 0;
}

/* Rows a process left "sending" when it died: due at once (the lease is for the living). */
static int
sqlite_reclaim_outbox(void *db)
{
	struct sqlite_db *s = db;

	return exec_sql(s, "UPDATE outbox SET next_at = 0 WHERE state = 'sending'");
}

static int
sqlite_unmailed_grants(void *db, const char *incident_id, const char *kind, size_t max,
    char ***emails, size_t *n)
{
	struct sqlite_db *s = db;
	/*
	 * No DISTINCT or ORDER BY: the scan stops at the limit instead of
	 * sorting every grant of a big incident; an address listed twice is
	 * refused by the outbox's unique key.
	 */
	sqlite3_stmt *st = prepare(s, "SELECT lower(g.email) FROM incident_grants g"
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
	finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_incident_is_open(void *db, const char *id)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st = prepare(s, "SELECT count(*) FROM incidents WHERE id = ?1 AND state = 'open'");
	int64_t n;

	if (st == NULL)
		return -1;
	bind_text(st, 1, id);
	n = run_count(s, st);
	return n < 0 ? -1 : n > 0;
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
	.reclaim_outbox = sqlite_reclaim_outbox,
	.resolve_incident = sqlite_resolve_incident,
};
