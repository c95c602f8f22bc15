/*
 * store_pg_int: what the files of the PostgreSQL backend share.  Private to
 * the backend: only src/state/store_pg*.c include it; everyone else goes
 * through store.h.  store_pg.c holds the connection (connecting and
 * reconnecting, the session's settings, transactions, the statement
 * cache, sending statements) and the backend's table of calls;
 * store_pg_pipe.c the answers of pipelined statements; store_pg_params.c
 * parameters and results; store_pg_schema.c the schema
 * and its migrations; each store_pg_<table>.c the statements of its
 * tables, whose contracts are store.h's, with the same meaning as the
 * SQLite backend's.
 */
#ifndef REKEY_STATE_STORE_PG_INT_H
#define REKEY_STATE_STORE_PG_INT_H

#include "lib/util.h"
#include "state/store.h"

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/*
 * The advisory lock keys (pg_advisory_xact_lock) that serialize rekey's own
 * work across replicas: schema migrations ("rekey" in ASCII, then 1).  The
 * leadership lock is state/leader.c's and uses another key.
 */
#define PG_LOCK_MIGRATIONS 0x72656b657901LL

/* Statements prepared once per connection; keyed by their SQL text. */
#define PG_STMT_CACHE_MAX 128

/* The most parameters a statement of the backend takes. */
#define PG_PARAMS_MAX 24

struct pg_stmt {
	char *sql;
	char name[16];
};

/*
 * The most statements a pipelined transaction sends ahead of their answers
 * (a Parse counts as one): then it waits for them, so that what the server
 * has to say about them stays within the sockets' buffers.
 */
#define PG_PIPE_MAX 64

/* A statement sent in a pipeline whose answer is not read yet. */
struct pg_sent {
	const char *what;		/* its name in messages (a string literal) */
	char prepared[16];		/* a Parse: the cached statement it makes, forgotten if it fails */
};

struct pg_db {
	PGconn *conn;
	char *url;			/* as configured: may hold secrets, never logged */
	char *shown;			/* the url without userinfo or options, for messages */
	struct pg_stmt stmts[PG_STMT_CACHE_MAX];
	size_t nstmts;
	unsigned next_stmt;		/* for statement names, unique per connection */
	int in_tx;			/* between begin and commit/rollback */
	/*
	 * The session's settings: what was asked (store_set_durability,
	 * store_lock_wait) and what the session has (-1: not known, after a
	 * transaction that set them was rolled back, which undid them).
	 */
	int sync_full;			/* synchronous_commit wanted: 1 on, 0 off */
	int lock_timeout_ms;
	int sync_set, lock_timeout_set;
	int tx_settings;		/* this transaction set them: a rollback undoes that */
	/*
	 * Pipelining (store_defer_writes): a write transaction is sent as a
	 * pipeline, each write without waiting for its answer; the answers are
	 * read at the next statement that needs its own, at store_settle and at
	 * the COMMIT, which is then one round trip for all of them.
	 */
	int pipelining;			/* this connection pipelines its write transactions */
	int in_pipe;			/* in pipeline mode now */
	int pipe_failed;		/* a statement of the pipeline failed: the transaction is lost */
	struct pg_sent sent[PG_PIPE_MAX];	/* sent, not yet answered, oldest first */
	size_t nsent;
	int64_t epoch;			/* rekey.epoch for this connection's writes; -1: none */
	int64_t retry_after_us;		/* monotonic: no reconnect before then */
	int down_logged;		/* the connection's loss was logged; quiet until it is back */
	int tx_lost;			/* the connection died inside a transaction: roll back first */
	int notified;			/* sources whose events this transaction has announced */
	char errbuf[512];		/* pg_error's */
};

/* Parameters of one statement, all as text except bytea (binary). */
struct pg_params {
	int n;
	const char *values[PG_PARAMS_MAX];
	int lengths[PG_PARAMS_MAX];
	int formats[PG_PARAMS_MAX];
	char numbers[PG_PARAMS_MAX][24];
};

void pg_text(struct pg_params *p, const char *v);
void pg_int(struct pg_params *p, int64_t v);
/* A negative value is SQL NULL (as the SQLite backend's bind_opt_int). */
void pg_opt_int(struct pg_params *p, int64_t v);
void pg_bytea(struct pg_params *p, const void *data, size_t len);

/*
 * Runs sql (prepared once per connection) with p; the result when its status
 * is PGRES_TUPLES_OK or PGRES_COMMAND_OK (caller PQclear()s), else NULL after
 * logging what failed and PQerrorMessage.  what names the statement.  A
 * lost connection is noted, and the next call connects again.
 */
PGresult *pg_run(struct pg_db *s, const char *what, const char *sql, const struct pg_params *p);
/* pg_run with n parameters given as arrays (libpq's), for statements built at run time. */
PGresult *pg_run_array(struct pg_db *s, const char *what, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats);
/*
 * pg_run for statements without rows: 0 or -1; *changed (may be NULL): rows
 * affected.  Without changed, inside a pipelined transaction, the statement
 * is only sent: 0 then means sent, and a failure shows at the next statement
 * that waits for its answer, at store_settle or at the COMMIT.
 */
int pg_run_done(struct pg_db *s, const char *what, const char *sql, const struct pg_params *p,
    int64_t *changed);
/* The single integer the query returns (0 when NULL), or -1. */
int64_t pg_run_count(struct pg_db *s, const char *what, const char *sql,
    const struct pg_params *p);
/* The connection's last error on one line (valid until the next call). */
const char *pg_error(struct pg_db *s);
/* msg on one line, blanks folded (libpq's end in a newline and may span several), in buf. */
const char *pg_trim(char *buf, size_t size, const char *msg);
/* Forgets the connection and what was prepared on it; the next call connects again. */
void pg_conn_lost(struct pg_db *s);
/* After a failed call: pg_conn_lost when it was the connection. */
void pg_check_conn(struct pg_db *s);

/*
 * store_pg_pipe.c: the answers of a pipeline.  pg_pipe_sent notes a
 * statement sent (prepared: the name of the cached statement a Parse makes,
 * else NULL); there is room for it (PG_PIPE_MAX).  pg_pipe_wait reads the
 * answers of all those sent and hands the last one's result to *last
 * (caller PQclear()s) when it succeeded and last is not NULL; pg_pipe_sync
 * does the same after a sync point, and leaves pipeline mode.  0, or -1
 * when a statement failed (logged once) or the connection was lost.
 */
void pg_pipe_sent(struct pg_db *s, const char *what, const char *prepared);
int pg_pipe_wait(struct pg_db *s, PGresult **last);
int pg_pipe_sync(struct pg_db *s, PGresult **last);
/*
 * Runs sql (no parameters, any number of statements; one only inside a
 * pipelined transaction) as is: 0 or -1, logged.
 */
int pg_exec(struct pg_db *s, const char *what, const char *sql);

/* Reading results: copies are the caller's to free; NULL fields read as NULL or -1. */
char *pg_get_dup(const PGresult *r, int row, int col);
int64_t pg_get_int(const PGresult *r, int row, int col);
int64_t pg_get_opt_int(const PGresult *r, int row, int col);
/* A bytea column, decoded, NUL-terminated (it may hold text); its length in *len. */
char *pg_get_bytea(const PGresult *r, int row, int col, size_t *len);

/* store_pg_schema.c: creates or migrates the schema under the migrations lock.  0 or -1. */
int pg_migrate(struct pg_db *s, char **err);

/*
 * The calls of store_pg_backend (store_pg.c) that live in the other files,
 * by file; db is a struct pg_db, the contracts are store.h's.
 */

/* store_pg_events.c: the event journal (events) and the retention sweep */
enum store_result pg_add_event(void *db, const struct store_event *ev);
int pg_add_events(void *db, const struct store_event *const *evs, size_t n,
    enum store_result *results);
int64_t pg_count_events(void *db, const char *source);
int pg_unprocessed(void *db, const char *source, int64_t after, size_t max, int with_body,
    struct store_pending **out, size_t *n);
int pg_mark_processed(void *db, int64_t id, const char *result);
int pg_mark_processed_many(void *db, const int64_t *ids, const char *const *results, size_t n);
int pg_set_event_result(void *db, const char *source, const char *app, const char *event_id,
    const char *result);
int pg_storm_ready(void *db, const char *app, const char *incident_id);
int64_t pg_count_results(void *db, const char *source, const char *result);
int64_t pg_expire_events(void *db, int64_t before_ms, size_t max, int64_t *cursor, int *more);

/*
 * store_pg_events.c also: array literals for a $n::text[] or $n::bigint[]
 * parameter (a batch's rows in one statement, with unnest); NULL elements
 * stay NULL, text is quoted and escaped.  Caller frees.
 */
char *pg_text_array(const char *const *v, size_t n);
char *pg_int_array(const int64_t *v, size_t n);

/* store_pg_graph.c: subscriptions, graph_users, graph_tokens, user_events */
int pg_get_subscription(void *db, const char *app, struct store_subscription *out);
int pg_put_subscription(void *db, const struct store_subscription *sub);
int pg_delete_subscription(void *db, const char *app);
int pg_get_user(void *db, const char *app, const char *user_id, struct store_user *out);
int pg_put_user(void *db, const struct store_user *u);
int pg_put_graph_tokens(void *db, const char *digest, const char *tokens, size_t len,
    int64_t now_ms, int64_t keep_ms);
int pg_get_graph_tokens(void *db, const char *digest, char **out, size_t *len);
int pg_add_user_event(void *db, const struct store_user_event *ev);
int64_t pg_count_user_events(void *db, const char *app, const char *kind);
int64_t pg_recent_user_event(void *db, const char *app, const char *email, int64_t since_ms,
    char **kind, char **evidence);

/* store_pg_incidents.c: incidents, incident_grants */
int pg_put_incident(void *db, const struct store_incident *inc);
int pg_get_incident(void *db, const char *id, struct store_incident *out);
int pg_list_incidents(void *db, const char *app, int open_only, size_t max,
    struct store_incident **out, size_t *n);
enum store_result pg_add_incident_grant(void *db, const char *incident_id,
    const char *grant_id, const char *email, int64_t seen_ms);
int pg_add_incident_grants(void *db, const struct store_incident_grant *g, size_t n,
    enum store_result *results);
int64_t pg_recover_grants(void *db, const char *app, const char *grant_id, const char *email,
    int64_t at_ms);
int pg_resolve_incident(void *db, const char *id, const char *by, int64_t at_ms);
int pg_unmailed_grants(void *db, const char *incident_id, const char *kind, size_t max,
    char ***emails, size_t *n);
int pg_incident_is_open(void *db, const char *id);
int pg_incident_progress(void *db, const char *id, int64_t since_ms, int64_t step_ms, size_t n,
    int64_t *affected, int64_t *recovered);

/* store_pg_rotations.c: rotations */
int pg_put_rotation(void *db, const struct store_rotation *r);
int pg_get_rotation(void *db, const char *id, struct store_rotation *out);
int pg_list_rotations(void *db, const char *app, int unfinished, size_t max,
    struct store_rotation **out, size_t *n);

/* store_pg_outbox.c: outbox */
enum store_result pg_add_outbox(void *db, const struct store_outbox *m);
int pg_due_outbox(void *db, int64_t now_ms, size_t max, struct store_outbox **out, size_t *n);
int pg_update_outbox(void *db, const struct store_outbox *m);
int pg_outbox_exists(void *db, const char *ref, const char *kind);
int64_t pg_outbox_unsent(void *db, const char *ref, const char *kind);
int pg_outbox_stats(void *db, const char *app, struct store_outbox_stats *out);
int pg_reclaim_outbox(void *db);

/* store_pg_values.c: app_values */
int pg_get_value(void *db, const char *app, const char *key, char **out);
int pg_put_value(void *db, const char *app, const char *key, const char *value);
int pg_list_values(void *db, const char *app, const char *prefix, size_t max,
    struct store_value **out, size_t *n);

#endif
