/*
 * store_pg: the PostgreSQL store, for running rekey on a database that
 * outlives one machine (and, with state/leader.c, several replicas on it).
 * Every call is synchronous on one connection per struct store, as with
 * SQLite; a commit is a real COMMIT with synchronous_commit on (unless the
 * journal relaxed it for derived state), so an event is durable on the
 * server before its webhook is answered.
 *
 * This file is the connection: connecting with the configured password
 * (never in a logged URL), the session's settings, losing the connection
 * and connecting again on the next call (so a restart of PostgreSQL is
 * survived: the calls in between fail with -1, which the intake answers
 * with a 503), the statement cache, transactions; and the backend's table
 * of calls.  The schema is store_pg_schema.c's, the statements of the
 * tables store_pg_<table>.c's, and what they share store_pg_int.h's.
 *
 * The journal's writer pipelines its transactions (store_defer_writes):
 * every round trip to the server is a few hundred microseconds of the
 * batch's commit, in which the webhooks of the batch wait.  A write whose
 * answer nobody needs then goes without waiting for it; the BEGIN, the
 * session's settings, the batch's NOTIFY and the correlator's row writes
 * share the round trip of the next statement that waits (a read, or a
 * write whose count is needed), and the last ones the COMMIT's.
 */
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "state/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/*
 * Bounds on every wait for the server, so that no call hangs: connecting
 * (libpq's minimum is 2 s), a statement, a transaction left idle by a
 * stalled process (its locks would hold up the other replicas), and TCP
 * keepalives plus a user timeout for a peer that vanished without a word.
 */
#define CONNECT_TIMEOUT_S "2"
#define STATEMENT_TIMEOUT_MS 15000
#define IDLE_IN_TX_TIMEOUT_MS 30000
#define TCP_USER_TIMEOUT_MS "10000"
/* After a failed connect, calls fail at once for this long before the next try. */
#define RECONNECT_PAUSE_US 1000000
/* How long a writer waits for another's row lock by default (as SQLite's busy timeout). */
#define LOCK_TIMEOUT_MS 5000
/* How much less than asked a lock wait may be (pg_lock_wait), in ms. */
#define LOCK_WAIT_SLACK_MS 100

static const char pg_scheme[] = "postgresql://";

/* msg on one line, blanks folded (libpq's end in a newline and may span several), in buf. */
const char *
pg_trim(char *buf, size_t size, const char *msg)
{
	size_t i, n = 0;

	for (i = 0; msg[i] != '\0' && n + 1 < size; i++) {
		char c = msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t' ? ' ' : msg[i];

		if (c != ' ' || (n > 0 && buf[n - 1] != ' '))
			buf[n++] = c;
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}

const char *
pg_error(struct pg_db *s)
{
	return pg_trim(s->errbuf, sizeof(s->errbuf), s->conn != NULL ?
	    PQerrorMessage(s->conn) : "no connection");
}

/* ---- The connection ---- */

/* Forgets the connection and what was prepared on it; the next call connects again. */
void
pg_conn_lost(struct pg_db *s)
{
	size_t i;

	if (s->conn != NULL && !s->down_logged) {
		log_error("store: the connection to %s is lost (%s); the calls fail until it is"
		    " back, the next one connects again", s->shown,
		    pg_error(s));
		s->down_logged = 1;
	}
	PQfinish(s->conn);
	s->conn = NULL;
	for (i = 0; i < s->nstmts; i++)
		free(s->stmts[i].sql);
	s->nstmts = 0;
	s->in_pipe = 0;
	s->nsent = 0;
	/* A transaction in progress died with the connection: it must be rolled back, not committed. */
	if (s->in_tx)
		s->tx_lost = 1;
}

/* The session's settings, applied again after every connect.  0 or -1. */
static int
apply_session(struct pg_db *s)
{
	char sql[512], epoch[96] = "";
	PGresult *r;
	int ok;

	if (s->epoch >= 0)
		snprintf(epoch, sizeof(epoch), " SELECT set_config('rekey.epoch', '%lld', false);",
		    (long long)s->epoch);
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d; SET lock_timeout = %d;"
	    " SET idle_in_transaction_session_timeout = %d; SET synchronous_commit = %s;%s",
	    STATEMENT_TIMEOUT_MS, s->lock_timeout_ms, IDLE_IN_TX_TIMEOUT_MS,
	    s->sync_full ? "on" : "off", epoch);
	r = PQexec(s->conn, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	if (!ok)
		return -1;
	s->lock_timeout_set = s->lock_timeout_ms;
	s->sync_set = s->sync_full;
	return 0;
}

/* The server's notices (a table that exists already, ...) go to the debug log, not to stderr. */
static void
notice_cb(void *arg, const char *msg)
{
	char buf[512];

	(void)arg;
	log_debug("store: postgresql: %s", pg_trim(buf, sizeof(buf), msg));
}

/* Connects with the URL and the configured password.  0, or -1 and *err. */
static int
connect_now(struct pg_db *s, char **err)
{
	struct secret *pw = store_password_dup();
	const char *keys[12], *values[12];
	int n = 0;

	/* Ours first: what the URL says overrides them, and the password file overrides the URL's. */
	keys[n] = "connect_timeout", values[n++] = CONNECT_TIMEOUT_S;
	keys[n] = "keepalives", values[n++] = "1";
	keys[n] = "keepalives_idle", values[n++] = "10";
	keys[n] = "keepalives_interval", values[n++] = "5";
	keys[n] = "keepalives_count", values[n++] = "3";
	keys[n] = "tcp_user_timeout", values[n++] = TCP_USER_TIMEOUT_MS;
	keys[n] = "fallback_application_name", values[n++] = "rekey";
	keys[n] = "dbname", values[n++] = s->url;
	if (pw != NULL)
		keys[n] = "password", values[n++] = (const char *)pw->data;
	keys[n] = NULL, values[n] = NULL;
	s->conn = PQconnectdbParams(keys, values, 1);
	secret_free(pw);
	if (s->conn == NULL)
		fatal("out of memory");
	PQsetNoticeProcessor(s->conn, notice_cb, NULL);
	if (PQstatus(s->conn) != CONNECTION_OK || apply_session(s) == -1) {
		*err = xasprintf("cannot connect to the store %s (%s)", s->shown,
		    pg_error(s));
		PQfinish(s->conn);
		s->conn = NULL;
		return -1;
	}
	return 0;
}

/*
 * Makes sure there is a connection for the next statement: connects again
 * after a loss (at most once per RECONNECT_PAUSE_US while it fails, so that
 * the event loop's calls fail at once meanwhile).  Within a transaction
 * whose connection was lost nothing runs until it is rolled back: its
 * writes are gone, and running the rest on a new connection would commit
 * half of it.  0 or -1.
 */
static int
pg_usable(struct pg_db *s)
{
	char *err = NULL;
	int64_t now;

	if (s->tx_lost)
		return -1;
	if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	if (s->conn != NULL)
		pg_conn_lost(s);
	if (s->tx_lost)
		return -1;
	now = util_mono_us();
	if (now < s->retry_after_us)
		return -1;
	if (connect_now(s, &err) == -1) {
		s->retry_after_us = now + RECONNECT_PAUSE_US;
		if (!s->down_logged)
			log_error("store: %s", err);
		s->down_logged = 1;
		free(err);
		return -1;
	}
	if (s->down_logged)
		log_info("store: connected to %s again", s->shown);
	s->down_logged = 0;
	return 0;
}

/* After a failed statement: was it the connection? */
void
pg_check_conn(struct pg_db *s)
{
	if (s->conn != NULL && PQstatus(s->conn) != CONNECTION_OK)
		pg_conn_lost(s);
}

/* ---- Pipelines ---- */

/* The name of sql's prepared statement on this connection, preparing it; NULL: unnamed. */
static const char *
stmt_name(struct pg_db *s, const char *what, const char *sql, int nparams, int *failed)
{
	struct pg_stmt *c;
	PGresult *r;
	size_t i;

	*failed = 0;
	for (i = 0; i < s->nstmts; i++)
		if (strcmp(s->stmts[i].sql, sql) == 0)
			return s->stmts[i].name;
	if (s->nstmts == PG_STMT_CACHE_MAX)
		return NULL;
	c = &s->stmts[s->nstmts];
	snprintf(c->name, sizeof(c->name), "r%u", s->next_stmt++);
	if (s->in_pipe) {
		/* Its answer comes with the others'; a failure forgets it (sent_failed). */
		if (PQsendPrepare(s->conn, c->name, sql, nparams, NULL) != 1)
			goto fail;
		pg_pipe_sent(s, what, c->name);
	} else {
		r = PQprepare(s->conn, c->name, sql, nparams, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			PQclear(r);
			goto fail;
		}
		PQclear(r);
	}
	c->sql = xstrdup(sql);
	s->nstmts++;
	return c->name;
fail:
	log_error("store: %s: preparing: %s", what, pg_error(s));
	pg_check_conn(s);
	*failed = 1;
	return NULL;
}

/* Sends one statement into the pipeline, its answer read later: 0 or -1. */
static int
pipe_send(struct pg_db *s, const char *what, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats)
{
	const char *name;
	int failed, ok;

	/* Room for a Parse and the statement. */
	if (s->nsent + 2 > PG_PIPE_MAX && pg_pipe_wait(s, NULL) == -1)
		return -1;
	name = stmt_name(s, what, sql, n, &failed);
	if (failed) {
		s->pipe_failed = 1;
		return -1;
	}
	if (name != NULL)
		ok = PQsendQueryPrepared(s->conn, name, n, values, lengths, formats, 0);
	else
		ok = PQsendQueryParams(s->conn, sql, n, NULL, values, lengths, formats, 0);
	if (ok != 1) {
		log_error("store: %s: %s", what, pg_error(s));
		pg_check_conn(s);
		s->pipe_failed = 1;
		return -1;
	}
	pg_pipe_sent(s, what, NULL);
	return 0;
}

/* ---- Running statements ---- */

static int settings_apply(struct pg_db *s);

PGresult *
pg_run_array(struct pg_db *s, const char *what, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats)
{
	const char *name;
	PGresult *r = NULL;
	int failed;

	if (s->in_pipe) {
		/* After a failure the server runs nothing more of the transaction. */
		if (s->pipe_failed || pipe_send(s, what, sql, n, values, lengths, formats) == -1 ||
		    pg_pipe_wait(s, &r) == -1)
			return NULL;
		return r;
	}
	if (pg_usable(s) == -1 || (!s->in_tx && settings_apply(s) == -1))
		return NULL;
	name = stmt_name(s, what, sql, n, &failed);
	if (failed)
		return NULL;
	if (name != NULL)
		r = PQexecPrepared(s->conn, name, n, values, lengths, formats, 0);
	else
		r = PQexecParams(s->conn, sql, n, NULL, values, lengths, formats, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
		return r;
	log_error("store: %s: %s", what, pg_error(s));
	PQclear(r);
	pg_check_conn(s);
	return NULL;
}

PGresult *
pg_run(struct pg_db *s, const char *what, const char *sql, const struct pg_params *p)
{
	static const struct pg_params none;

	if (p == NULL)
		p = &none;
	return pg_run_array(s, what, sql, p->n, p->values, p->lengths, p->formats);
}

int
pg_run_done(struct pg_db *s, const char *what, const char *sql, const struct pg_params *p,
    int64_t *changed)
{
	static const struct pg_params none;
	PGresult *r;
	const char *tuples;

	if (p == NULL)
		p = &none;
	/* Nothing to wait for: its answer is read with the next statement's. */
	if (s->in_pipe && changed == NULL)
		return s->pipe_failed ? -1 : pipe_send(s, what, sql, p->n, p->values, p->lengths,
		    p->formats);
	r = pg_run(s, what, sql, p);
	if (r == NULL)
		return -1;
	if (changed != NULL) {
		tuples = PQcmdTuples(r);
		*changed = *tuples != '\0' ? strtoll(tuples, NULL, 10) : 0;
	}
	PQclear(r);
	return 0;
}

int64_t
pg_run_count(struct pg_db *s, const char *what, const char *sql, const struct pg_params *p)
{
	PGresult *r = pg_run(s, what, sql, p);
	int64_t n;

	if (r == NULL)
		return -1;
	n = PQntuples(r) > 0 ? pg_get_int(r, 0, 0) : 0;
	PQclear(r);
	return n;
}

int
pg_exec(struct pg_db *s, const char *what, const char *sql)
{
	PGresult *r;
	int ok;

	if (s->in_pipe) {
		r = pg_run_array(s, what, sql, 0, NULL, NULL, NULL);
		PQclear(r);
		return r != NULL ? 0 : -1;
	}
	if (pg_usable(s) == -1)
		return -1;
	r = PQexec(s->conn, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		log_error("store: %s: %s", what, pg_error(s));
	PQclear(r);
	if (!ok)
		pg_check_conn(s);
	return ok ? 0 : -1;
}

/* ---- Opening ---- */

static void pg_close(void *db);

/* The full URL from what follows the scheme (either spelling of it). */
static char *
full_url(const char *rest)
{
	return xasprintf("%s%s", pg_scheme, rest);
}

/*
 * Sessions named as this one is: every connection of rekey names itself
 * "rekey" (fallback_application_name) unless the URL, which the replicas
 * share, names it otherwise.  Sessions of another role show no
 * application_name to a role without pg_read_all_stats.
 */
static int64_t
pg_other_sessions(void *db)
{
	struct pg_db *s = db;
	PGresult *r = pg_run(s, "count rekey's other sessions", "SELECT count(*) FROM"
	    " pg_stat_activity WHERE datname = current_database() AND application_name ="
	    " current_setting('application_name') AND pid <> pg_backend_pid()", NULL);
	int64_t n;

	if (r == NULL)
		return -1;
	n = PQntuples(r) == 1 ? pg_get_int(r, 0, 0) : -1;
	PQclear(r);
	return n;
}

/* A store of url rest, not connected yet. */
static struct pg_db *
pg_db_new(const char *rest)
{
	struct pg_db *s = xcalloc(1, sizeof(*s));

	s->url = full_url(rest);
	s->shown = util_url_shown(s->url, 0);
	s->sync_full = 1;
	s->lock_timeout_ms = LOCK_TIMEOUT_MS;
	s->lock_timeout_set = s->sync_set = -1;
	s->epoch = -1;
	return s;
}

static void *
pg_open(const char *rest, char **err)
{
	struct pg_db *s = pg_db_new(rest);

	if (connect_now(s, err) == -1 || pg_migrate(s, err) == -1)
		goto fail;
	return s;
fail:
	pg_close(s);
	return NULL;
}

static void
pg_close(void *db)
{
	struct pg_db *s = db;
	size_t i;

	if (s == NULL)
		return;
	PQfinish(s->conn);
	for (i = 0; i < s->nstmts; i++)
		free(s->stmts[i].sql);
	if (s->url != NULL)
		OPENSSL_cleanse(s->url, strlen(s->url));
	free(s->url);
	free(s->shown);
	free(s);
}

/*
 * For the commands that only read (rekey status): 1 and *err when the
 * database is reachable but holds no rekey store (no events table on the
 * search path), so that they say so rather than have pg_open create the
 * schema in whatever database the URL names.  0 when it holds one, or
 * when it cannot be reached (pg_open then says why).
 */
static int
pg_missing(const char *rest, char **err)
{
	struct pg_db *s = pg_db_new(rest);
	char *ignored = NULL;
	PGresult *r;
	int missing = 0;

	if (connect_now(s, &ignored) == 0 &&
	    (r = pg_run(s, "look for the store", "SELECT to_regclass('events') IS NULL", NULL)) != NULL) {
		missing = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
	}
	if (missing)
		*err = xasprintf("no rekey store in %s (it has no events table): has the daemon "
		    "ever run with this config?", s->shown);
	free(ignored);
	pg_close(s);
	return missing;
}

/* rekey check: the URL parses (libpq's own parser), nothing is connected to. */
static int
pg_check(const char *rest, char **err)
{
	char *url = full_url(rest), *perr = NULL, *shown, buf[512];
	PQconninfoOption *opts = PQconninfoParse(url, &perr);
	int rc = 0;

	if (opts == NULL) {
		shown = util_url_shown(url, 0);
		*err = xasprintf("store url %s is not a PostgreSQL URL libpq accepts: %s", shown,
		    perr != NULL ? pg_trim(buf, sizeof(buf), perr) : "out of memory");
		free(shown);
		rc = -1;
	}
	PQconninfoFree(opts);
	PQfreemem(perr);
	OPENSSL_cleanse(url, strlen(url));
	free(url);
	return rc;
}

/* ---- Transactions and the session ---- */

/*
 * Gives the session the lock_timeout and synchronous_commit asked for when
 * it has others (or may have: after a rollback).  Inside a transaction a
 * rollback undoes them (tx_end then forgets them); inside a pipeline they
 * are only sent, in the same round trip as the transaction's first
 * statement that waits.  0 or -1.
 */
static int
settings_apply(struct pg_db *s)
{
	struct pg_params p;

	if (s->lock_timeout_set == s->lock_timeout_ms && s->sync_set == s->sync_full)
		return 0;
	memset(&p, 0, sizeof(p));
	pg_int(&p, s->lock_timeout_ms);
	pg_text(&p, s->sync_full ? "on" : "off");
	/* Noted first: running a statement outside a transaction calls this again. */
	s->lock_timeout_set = s->lock_timeout_ms;
	s->sync_set = s->sync_full;
	s->tx_settings |= s->in_tx;
	if (pg_run_done(s, "session settings", "SELECT set_config('lock_timeout', $1::text,"
	    " false), set_config('synchronous_commit', $2::text, false)", &p, NULL) == 0)
		return 0;
	s->lock_timeout_set = s->sync_set = -1;
	return -1;
}

/*
 * A transaction is over (committed or not), or a new one begins: whatever a
 * lost one held is given up (its caller moved on).  The settings an
 * uncommitted transaction changed were undone with it.
 */
static void
tx_end(struct pg_db *s, int committed)
{
	if (s->tx_settings && !committed)
		s->lock_timeout_set = s->sync_set = -1;
	s->tx_settings = 0;
	s->tx_lost = 0;
	s->in_tx = 0;
	s->notified = 0;
}

/* The COMMIT's answer r: 0 when it committed, else -1 (logged). */
static int
committed(const PGresult *r)
{
	/* A COMMIT of a transaction that failed part-way answers ROLLBACK, with no error. */
	if (strcmp(PQcmdStatus((PGresult *)r), "COMMIT") == 0)
		return 0;
	log_error("store: commit: the transaction had failed and was rolled back");
	return -1;
}

/*
 * Ends a pipelined transaction in one round trip: its COMMIT (commit) or
 * ROLLBACK, a sync point, every answer read, out of pipeline mode.  A
 * transaction still open after that (a statement failed, so the server
 * skipped the rest) is rolled back.  0 when it was committed (commit) or
 * rolled back, else -1.
 */
static int
pipe_end(struct pg_db *s, int commit)
{
	PGresult *r = NULL;
	int rc = -1, sent;

	sent = !s->pipe_failed && pipe_send(s, commit ? "commit" : "rollback",
	    commit ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, NULL) == 0;
	if (pg_pipe_sync(s, sent ? &r : NULL) == 0 && commit)
		rc = committed(r);
	PQclear(r);
	if (s->conn == NULL)
		return -1;
	if (!commit)
		rc = 0;
	if (PQtransactionStatus(s->conn) != PQTRANS_IDLE && pg_exec(s, "rollback", "ROLLBACK") == -1)
		rc = -1;
	return rc;
}

/* A pipelined write transaction: its BEGIN and the settings are only sent.  0 or -1. */
static int
pipe_begin(struct pg_db *s)
{
	if (pg_usable(s) == -1)
		return -1;
	if (PQenterPipelineMode(s->conn) != 1) {
		log_error("store: begin: %s", pg_error(s));
		return -1;
	}
	s->in_pipe = 1;
	s->pipe_failed = 0;
	s->nsent = 0;
	s->in_tx = 1;
	if (pipe_send(s, "begin", "BEGIN", 0, NULL, NULL, NULL) == 0 && settings_apply(s) == 0)
		return 0;
	if (s->in_pipe)
		pipe_end(s, 0);
	tx_end(s, 0);
	return -1;
}

static int
pg_begin(void *db)
{
	struct pg_db *s = db;

	/* A pipeline its caller never ended is rolled back first. */
	if (s->in_pipe)
		pipe_end(s, 0);
	tx_end(s, 0);
	if (s->pipelining)
		return pipe_begin(s);
	if (settings_apply(s) == -1 || pg_exec(s, "begin", "BEGIN") == -1)
		return -1;
	s->in_tx = 1;
	return 0;
}

static int
pg_begin_read(void *db)
{
	struct pg_db *s = db;

	if (s->in_pipe)
		pipe_end(s, 0);
	tx_end(s, 0);
	if (settings_apply(s) == -1 ||
	    pg_exec(s, "begin read", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") == -1)
		return -1;
	s->in_tx = 1;
	return 0;
}

static int
pg_commit(void *db)
{
	struct pg_db *s = db;
	PGresult *r;
	int ok;

	if (s->in_pipe) {
		ok = pipe_end(s, 1) == 0;
		if (!ok && s->tx_lost)
			log_error("store: commit: the connection was lost during the transaction;"
			    " nothing of it was committed");
		tx_end(s, ok);
		return ok ? 0 : -1;
	}
	/* Either way the transaction is over: a failed COMMIT leaves none open. */
	if (!s->in_tx || pg_usable(s) == -1) {
		if (s->tx_lost)
			log_error("store: commit: the connection was lost during the transaction;"
			    " nothing of it was committed");
		tx_end(s, 0);
		return -1;
	}
	r = PQexec(s->conn, "COMMIT");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK && committed(r) == 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_error("store: commit: %s", pg_error(s));
	PQclear(r);
	pg_check_conn(s);
	tx_end(s, ok);
	return ok ? 0 : -1;
}

static int
pg_rollback(void *db)
{
	struct pg_db *s = db;
	int rc = 0;

	if (s->in_pipe)
		rc = pipe_end(s, 0);
	else if (s->in_tx && !s->tx_lost && s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK)
		rc = pg_exec(s, "rollback", "ROLLBACK");
	tx_end(s, 0);
	return rc;
}

/* store_settle: the answers to what the pipeline sent so far.  0 or -1. */
static int
pg_settle(void *db)
{
	struct pg_db *s = db;

	if (!s->in_pipe)
		return s->tx_lost ? -1 : 0;
	return pg_pipe_wait(s, NULL);
}

static void
pg_defer_writes(void *db)
{
	struct pg_db *s = db;

	s->pipelining = 1;
}

/* readyz: the server answers and takes writes (not a standby, not read-only). */
static int
pg_ping(void *db)
{
	struct pg_db *s = db;
	PGresult *r;
	int ok;

	if (s->in_tx && !s->tx_lost)
		return 0;
	r = pg_run(s, "ping", "SELECT pg_is_in_recovery(),"
	    " current_setting('transaction_read_only') = 'on'", NULL);
	if (r == NULL)
		return -1;
	ok = PQntuples(r) == 1 && pg_get_int(r, 0, 0) == 0 && pg_get_int(r, 0, 1) == 0;
	PQclear(r);
	return ok ? 0 : -1;
}

/*
 * A pipelining connection sets it with its next transaction, in the same
 * round trip as the BEGIN; another at once (as before its next statement,
 * after a failure).  What was asked holds only once it is set: a failure
 * keeps the former value.
 */
static int
pg_set_durability(void *db, int full)
{
	struct pg_db *s = db;
	int was = s->sync_full;

	s->sync_full = full != 0;
	if (s->pipelining || settings_apply(s) == 0)
		return 0;
	s->sync_full = was;
	return -1;
}

/*
 * As pg_set_durability.  A lock_timeout already set is kept when it is at
 * most ms and at most LOCK_WAIT_SLACK_MS under it, so that the journal's
 * waits, a few ms shorter at each batch, change it once in a while, not at
 * every transaction; a new one is rounded down to the slack.
 */
static void
pg_lock_wait(void *db, int ms)
{
	struct pg_db *s = db;
	int was = s->lock_timeout_ms, want = ms > 0 ? ms : 1;

	if (was <= want && was >= want - LOCK_WAIT_SLACK_MS && s->lock_timeout_set == was)
		return;
	s->lock_timeout_ms = want > LOCK_WAIT_SLACK_MS ? want - want % LOCK_WAIT_SLACK_MS : want;
	if (!s->pipelining && settings_apply(s) == -1)
		s->lock_timeout_ms = was;
}

static int
pg_set_epoch(void *db, int64_t epoch)
{
	struct pg_db *s = db;
	struct pg_params p;

	memset(&p, 0, sizeof(p));
	pg_int(&p, epoch);
	if (pg_run_done(s, "set epoch", "SELECT set_config('rekey.epoch', $1::text, false)", &p,
	    NULL) == -1)
		return -1;
	s->epoch = epoch;
	return 0;
}

#define PG_BACKEND(name, prefix) \
const struct store_backend name = { \
	.scheme = prefix, \
	.open = pg_open, \
	.check = pg_check, \
	.missing = pg_missing, \
	.close = pg_close, \
	.begin = pg_begin, \
	.commit = pg_commit, \
	.rollback = pg_rollback, \
	.add_event = pg_add_event, \
	.add_events = pg_add_events, \
	.ping = pg_ping, \
	.other_sessions = pg_other_sessions, \
	.checkpoint = NULL, \
	.count_events = pg_count_events, \
	.unprocessed = pg_unprocessed, \
	.mark_processed = pg_mark_processed, \
	.mark_processed_many = pg_mark_processed_many, \
	.set_event_result = pg_set_event_result, \
	.storm_ready = pg_storm_ready, \
	.count_results = pg_count_results, \
	.get_subscription = pg_get_subscription, \
	.put_subscription = pg_put_subscription, \
	.delete_subscription = pg_delete_subscription, \
	.get_user = pg_get_user, \
	.put_user = pg_put_user, \
	.add_user_event = pg_add_user_event, \
	.put_graph_tokens = pg_put_graph_tokens, \
	.get_graph_tokens = pg_get_graph_tokens, \
	.count_user_events = pg_count_user_events, \
	.set_durability = pg_set_durability, \
	.begin_read = pg_begin_read, \
	.lock_wait = pg_lock_wait, \
	.set_epoch = pg_set_epoch, \
	.defer_writes = pg_defer_writes, \
	.settle = pg_settle, \
	.put_rotation = pg_put_rotation, \
	.get_rotation = pg_get_rotation, \
	.list_rotations = pg_list_rotations, \
	.put_incident = pg_put_incident, \
	.get_incident = pg_get_incident, \
	.list_incidents = pg_list_incidents, \
	.add_incident_grant = pg_add_incident_grant, \
	.add_incident_grants = pg_add_incident_grants, \
	.recover_grants = pg_recover_grants, \
	.get_value = pg_get_value, \
	.put_value = pg_put_value, \
	.recent_user_event = pg_recent_user_event, \
	.list_values = pg_list_values, \
	.add_outbox = pg_add_outbox, \
	.due_outbox = pg_due_outbox, \
	.update_outbox = pg_update_outbox, \
	.outbox_exists = pg_outbox_exists, \
	.outbox_unsent = pg_outbox_unsent, \
	.outbox_stats = pg_outbox_stats, \
	.unmailed_grants = pg_unmailed_grants, \
	.incident_is_open = pg_incident_is_open, \
	.incident_progress = pg_incident_progress, \
	.reclaim_outbox = pg_reclaim_outbox, \
	.resolve_incident = pg_resolve_incident, \
	.backup = NULL, \
	.expire_events = pg_expire_events, \
}

/* Both spellings of the scheme libpq accepts; rest is the same either way. */
PG_BACKEND(store_pg_backend, "postgresql://");
PG_BACKEND(store_pg_backend_short, "postgres://");
