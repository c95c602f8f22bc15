/*
 * store_sqlite_int: what the files of the SQLite backend share.  Private to
 * the backend: only src/state/store_sqlite*.c include it; everyone else goes
 * through store.h.  store_sqlite.c opens the connection (schema, migrations,
 * the statement cache, transactions, locks) and holds the table of calls;
 * each store_sqlite_<table>.c holds the statements of its tables, whose
 * contracts are store.h's.
 */
#ifndef REKEY_STATE_STORE_SQLITE_INT_H
#define REKEY_STATE_STORE_SQLITE_INT_H

#include "lib/util.h"
#include "state/store.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

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

/*
 * The VFS to open connections through (store_sqlite_vfs.c: the platform's,
 * a transaction's log frames in one write, a database's writeback started as
 * a checkpoint copies into it), or NULL for the default when it could not be
 * made (logged).
 */
const char *sqlite_vfs_name(void);
/* How many times that VFS has started a database file's writeback (for the tests). */
long sqlite_vfs_writebacks(void);

/*
 * Returns a statement for sql, from the connection's cache when it is there
 * and free; logs and returns NULL on failure.  Every statement returned goes
 * back through sqlite_finish().
 */
sqlite3_stmt *sqlite_prepare(struct sqlite_db *s, const char *sql);
/* Gives back a statement from sqlite_prepare(): reset for reuse when cached, else finalized. */
void sqlite_finish(struct sqlite_db *s, sqlite3_stmt *st);
/* Runs sql (any number of statements, no rows); logs the error.  0 or -1. */
int sqlite_exec_sql(struct sqlite_db *s, const char *sql);
/* Steps a statement that returns no rows, then finishes it.  0 or -1. */
int sqlite_run_done(struct sqlite_db *s, sqlite3_stmt *st, const char *what);
/* The single integer a counting query returns, then finishes it; -1 on error (st NULL too). */
int64_t sqlite_run_count(struct sqlite_db *s, sqlite3_stmt *st);

/*
 * Binding and reading columns; NULL text and negative optional integers are
 * SQL NULL, and read back so.  Copies are the caller's to free.
 */
static inline void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static inline void
bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

/* A copy of a BLOB column, NUL-terminated (it may hold text), and its length in *len. */
static inline char *
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
static inline int64_t
column_opt_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static inline char *
column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v == NULL ? NULL : xstrdup((const char *)v);
}

/*
 * The calls of store_sqlite_backend (store_sqlite.c) that live in the other
 * files, by file; db is a struct sqlite_db, the contracts are store.h's.
 */

/* store_sqlite_events.c: the event journal (events) */
enum store_result sqlite_add_event(void *db, const struct store_event *ev);
int64_t sqlite_count_events(void *db, const char *source);
int sqlite_unprocessed(void *db, const char *source, int64_t after, size_t max, int with_body,
    struct store_pending **out, size_t *n);
int sqlite_mark_processed(void *db, int64_t id, const char *result);
int sqlite_mark_processed_many(void *db, const int64_t *ids, const char *const *results, size_t n);
int sqlite_set_event_result(void *db, const char *source, const char *app, const char *event_id,
    const char *result);
int sqlite_storm_ready(void *db, const char *app, const char *incident_id);
int64_t sqlite_count_results(void *db, const char *source, const char *result);

/* store_sqlite_graph.c: the Graph side's state (subscriptions, graph_users, graph_tokens,
   user_events) */
int sqlite_get_subscription(void *db, const char *app, struct store_subscription *out);
int sqlite_put_subscription(void *db, const struct store_subscription *sub);
int sqlite_delete_subscription(void *db, const char *app);
int sqlite_get_user(void *db, const char *app, const char *user_id, struct store_user *out);
int sqlite_put_user(void *db, const struct store_user *u);
int sqlite_put_graph_tokens(void *db, const char *digest, const char *tokens, size_t len,
    int64_t now_ms, int64_t keep_ms);
int sqlite_get_graph_tokens(void *db, const char *digest, char **out, size_t *len);
int sqlite_add_user_event(void *db, const struct store_user_event *ev);
int64_t sqlite_count_user_events(void *db, const char *app, const char *kind);
int64_t sqlite_recent_user_event(void *db, const char *app, const char *email, int64_t since_ms,
    char **kind, char **evidence);

/* store_sqlite_incidents.c: incidents and their grants (incidents, incident_grants) */
int sqlite_put_incident(void *db, const struct store_incident *inc);
int sqlite_get_incident(void *db, const char *id, struct store_incident *out);
int sqlite_list_incidents(void *db, const char *app, int open_only, size_t max,
    struct store_incident **out, size_t *n);
enum store_result sqlite_add_incident_grant(void *db, const char *incident_id,
    const char *grant_id, const char *email, int64_t seen_ms);
int sqlite_add_incident_grants(void *db, const struct store_incident_grant *g, size_t n,
    enum store_result *results);
int64_t sqlite_recover_grants(void *db, const char *app, const char *grant_id, const char *email,
    int64_t at_ms);
int sqlite_resolve_incident(void *db, const char *id, const char *by, int64_t at_ms);
int sqlite_unmailed_grants(void *db, const char *incident_id, const char *kind, size_t max,
    char ***emails, size_t *n);
int sqlite_incident_is_open(void *db, const char *id);
int sqlite_incident_progress(void *db, const char *id, int64_t since_ms, int64_t step_ms,
    size_t n, int64_t *affected, int64_t *recovered);

/* store_sqlite_rotations.c: rotations */
int sqlite_put_rotation(void *db, const struct store_rotation *r);
int sqlite_get_rotation(void *db, const char *id, struct store_rotation *out);
int sqlite_list_rotations(void *db, const char *app, int unfinished, size_t max,
    struct store_rotation **out, size_t *n);

/* store_sqlite_outbox.c: the notices to send (outbox) */
enum store_result sqlite_add_outbox(void *db, const struct store_outbox *m);
int sqlite_due_outbox(void *db, int64_t now_ms, size_t max, struct store_outbox **out, size_t *n);
int sqlite_update_outbox(void *db, const struct store_outbox *m);
int sqlite_outbox_exists(void *db, const char *ref, const char *kind);
int64_t sqlite_outbox_unsent(void *db, const char *ref, const char *kind);
int sqlite_outbox_stats(void *db, const char *app, struct store_outbox_stats *out);
int sqlite_reclaim_outbox(void *db);

/* store_sqlite_values.c: per-app values (app_values) */
int sqlite_get_value(void *db, const char *app, const char *key, char **out);
int sqlite_put_value(void *db, const char *app, const char *key, const char *value);
int sqlite_list_values(void *db, const char *app, const char *prefix, size_t max,
    struct store_value **out, size_t *n);

/* store_sqlite_backup.c: rekey backup, and the retention sweep (events) */
int sqlite_backup(const char *path, const char *dest, int force, struct store_backup_info *info,
    char **err);
int64_t sqlite_expire_events(void *db, int64_t before_ms, size_t max, int64_t *cursor, int *more);

#endif
